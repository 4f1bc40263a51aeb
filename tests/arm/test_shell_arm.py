"""The interactive shell's core on AArch64 and AArch32 (Thumb) processes, in the arm64 guest.

tests/arm/guest_sigdbg.py (``shell_session``, in the guest's one python start)
drives a :class:`sigdbg.shell.core.Shell` without a terminal, as
tests/integration/test_shell.py does on x86: ``file``, ``run``, ``continue``
to the first handler entry, then ``frame``, ``siginfo``, ``regs`` (live and
``--frame``), ``x`` at sp, ``disassemble`` and ``x/i`` at pc, ``stepi``,
``step-sigreturn``, ``regs`` in the restored context, the commands the shell
cannot do on ARM yet, bad input, and ``detach`` (sig_frame.a64: the program
then runs to its end untraced) or ``kill`` (sig_frame.thumb segv).

Every value is compared with the target's own report from inside its
handler in the same run (entry sp/x29/x30/lr and x0-x2/r0-r2, the siginfo,
the whole sigcontext, the frame's bytes dumped at sp) and with the program
file itself (its code at the handler and at the fault, disassembled on the
host with capstone in the instruction set the program was built for).
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

import capstone
import pytest
from elftools.elf.elffile import ELFFile

from tests.arm.conftest import ARM_BUILD, Report, parse
from tests.arm.guest import Batch, Result

pytestmark = pytest.mark.timeout(900)

#: session key -> (program, the scenario tag of its first handler entry)
SESSIONS = {"a64": ("sig_frame.a64", "usr1"), "thumb": ("sig_frame.thumb", "segv")}

_DOC: dict[int, dict[str, Any]] = {}


def _session(guest: Batch, key: str) -> dict[str, Any]:
    res = guest.results["py_sigdbg"]
    if id(res) not in _DOC:
        assert res.rc == 0, res.stderr.decode(errors="replace")[-3000:]
        _DOC[id(res)] = json.loads(res.text)
    sess: dict[str, Any] = _DOC[id(res)]["shell"][key]
    return sess


def _report(sess: dict[str, Any]) -> Report:
    return parse(Result("shell", 0, sess["program"].encode(), b""))


def _outputs(sess: dict[str, Any], line: str) -> list[str]:
    return [c["out"] for c in sess["commands"] if c["line"] == line]


def _one(sess: dict[str, Any], line: str, n: int = 0) -> str:
    outs = _outputs(sess, line)
    assert len(outs) > n, f"{line!r} not run"
    return outs[n]


def _json(sess: dict[str, Any], line: str, n: int = 0) -> Any:
    out = _one(sess, line, n)
    assert "error:" not in out, out
    return json.loads(out)


# -- the program file: its code, disassembled on the host ---------------------------------
@cache
def _elf(prog: str) -> bytes:
    return (ARM_BUILD / prog).read_bytes()


def _code(prog: str, address: int, size: int) -> bytes:
    """``size`` bytes of the program's loaded image at ``address`` (a static
    program: its PT_LOAD segments at their vaddr)."""
    import io

    elf = ELFFile(io.BytesIO(_elf(prog)))
    for seg in elf.iter_segments():
        h = seg.header
        if h.p_type == "PT_LOAD" and h.p_vaddr <= address < h.p_vaddr + h.p_filesz:
            off = h.p_offset + address - h.p_vaddr
            return _elf(prog)[off : off + size]
    raise AssertionError(f"{address:#x} not in {prog}")


def _host_disasm(prog: str, address: int, count: int) -> list[tuple[int, bytes, str]]:
    """(address, bytes, mnemonic) of ``count`` instructions, capstone on the
    host: AArch64, or Thumb for the Thumb build (the ISA bit cleared)."""
    if prog.endswith(".a64"):
        md = capstone.Cs(capstone.CS_ARCH_ARM64, capstone.CS_MODE_ARM)
    else:
        md = capstone.Cs(capstone.CS_ARCH_ARM, capstone.CS_MODE_THUMB)
        address &= ~1
    out = []
    for insn in md.disasm(_code(prog, address, 16 * count), address):
        out.append((insn.address, bytes(insn.bytes), insn.mnemonic))
        if len(out) == count:
            break
    return out


_LINE = re.compile(r"^(?:=> |   )?(0x[0-9a-f]+): ([0-9a-f]+)\s+(\S+)")


def _parse_disas(lines: list[str]) -> list[tuple[int, bytes, str]]:
    out = []
    for line in lines:
        m = _LINE.match(line)
        assert m, line
        out.append((int(m.group(1), 16), bytes.fromhex(m.group(2)), m.group(3)))
    return out


# -- per ABI: the report's names for the registers ------------------------------------------
def _entry_regs(key: str, head: dict[str, int]) -> dict[str, int]:
    """Registers at the handler's first instruction, as the handler's entry stub saw them."""
    if key == "a64":
        return {"sp": head["entry_sp"], "x29": head["entry_fp"], "x30": head["entry_lr"],
                "x0": head["entry_x0"], "x1": head["entry_x1"], "x2": head["entry_x2"],
                "pc": head["handler"]}
    return {"sp": head["entry_sp"], "lr": head["entry_lr"], "r0": head["entry_r0"],
            "r1": head["entry_r1"], "r2": head["entry_r2"], "pc": head["handler"]}


def _saved_regs(key: str, mc: dict[str, int]) -> dict[str, int]:
    """The interrupted registers the kernel saved in the frame (the handler's
    report of its sigcontext), under the user_regs names."""
    if key == "a64":
        regs = {f"x{i}": mc[f"x{i}"] for i in range(31)}
        regs.update(sp=mc["sp"], pc=mc["pc"], pstate=mc["pstate"])
        return regs
    regs = {f"r{i}": mc[f"arm_r{i}"] for i in range(11)}
    regs.update(r11=mc["arm_fp"], r12=mc["arm_ip"], sp=mc["arm_sp"], lr=mc["arm_lr"],
                pc=mc["arm_pc"], cpsr=mc["arm_cpsr"])
    return regs


def _names(key: str) -> list[str]:
    if key == "a64":
        return [f"x{i}" for i in range(31)] + ["sp", "pc", "pstate"]
    return [f"r{i}" for i in range(13)] + ["sp", "lr", "pc", "cpsr", "orig_r0"]


# -- the tests --------------------------------------------------------------------------------
@pytest.mark.parametrize("key", SESSIONS)
def test_first_stepi_after_run_executes_one_instruction(guest: Batch, key: str) -> None:
    """At the exec stop the task is inside execve: the kernel reports the
    first step at the syscall's exit (arm64: SI_USER), before any
    instruction ran; the shell steps once more (Abi.syscall_step_trap_code)."""
    import io

    sess = _session(guest, key)
    prog, _ = SESSIONS[key]
    entry = ELFFile(io.BytesIO(_elf(prog))).header.e_entry
    first, second = _host_disasm(prog, entry, 2)
    run = sess["commands"][1]
    assert run["line"].startswith("run") and f"\n=> {first[0]:#x}: {first[1].hex()}" in run["out"]
    out = _one(sess, "stepi 1")
    assert out.startswith(f"=> {second[0]:#x}: {second[1].hex()}"), out


@pytest.mark.parametrize("key", SESSIONS)
def test_continue_stops_at_the_handler_entry(guest: Batch, key: str) -> None:
    sess = _session(guest, key)
    prog, tag = SESSIONS[key]
    head = _report(sess)[tag]
    out = _one(sess, "continue")
    assert "error:" not in out, out
    m = re.search(r"handler (0x[0-9a-f]+) entered for (SIG\w+), frame (0x[0-9a-f]+)", out)
    assert m, out
    assert int(m.group(1), 16) == head["handler"]
    assert int(m.group(3), 16) == head["entry_sp"]
    assert m.group(2) == ("SIGUSR1" if tag == "usr1" else "SIGSEGV")
    # the live registers there are the entry registers the handler's stub caught
    regs = _json(sess, "regs --json")
    assert list(regs) == _names(key)
    for name, value in _entry_regs(key, head).items():
        assert regs[name] == value, name
    # the text form: the same values, the flags register named for the ABI
    text = _one(sess, "regs")
    rows = {ln.split()[0]: int(ln.split()[1], 16) for ln in text.strip().splitlines()}
    assert rows == regs
    flags = "pstate" if key == "a64" else "cpsr"
    fl = next(ln for ln in text.splitlines() if ln.startswith(flags))
    named = fl[fl.index("[") + 1 : fl.index("]")].split()
    # PSTATE.SS / CPSR bit 21 of the tracer's single step into the handler
    assert bool(regs[flags] & (1 << 21)) == ("SS" in named)
    assert "SS" in named
    if key == "a64":
        assert "EL0t" in named and "IF" not in named  # not x86's EFLAGS names
    else:
        assert "USR" in named and ("T" in named) == bool(head["handler"] & 1)


@pytest.mark.parametrize("key", SESSIONS)
def test_frame_equals_the_handlers_report(guest: Batch, key: str) -> None:
    sess = _session(guest, key)
    _, tag = SESSIONS[key]
    rep = _report(sess)
    head, mc = rep[tag], rep[tag + ".mc"]
    f = _json(sess, "frame --json")
    assert f["address"] == head["entry_sp"]
    assert f["sig"] == head["sig"]
    # the restorer: x30 / lr at entry, which only the entry registers tell
    assert f["pretcode"] == head["entry_lr"] and f["restorer"]["kind"] != "unknown"
    if key == "a64":
        assert f["frame_record_address"] == head["entry_fp"]
        assert f["frame_record"] == {"fp": head["rec_fp"], "lr": head["rec_lr"]}
    si = f["siginfo"]
    assert (si["si_signo"], si["si_errno"], si["si_code"]) == (
        head["si_signo"], head["si_errno"], head["si_code"])
    for k, v in f["mcontext"].items():
        assert v == mc[k], k
    assert f["sigmask"] == mc["mask"] and f["uc_flags"] == mc["uc_flags"]
    assert f["problems"] == []
    # the text form names the same frame
    text = _one(sess, "frame --no-picture")
    assert f"at {head['entry_sp']:#x}" in text and "error:" not in text
    assert f"{head['entry_lr']:#x}" in text


@pytest.mark.parametrize("key", SESSIONS)
def test_siginfo_equals_the_handlers_report(guest: Batch, key: str) -> None:
    sess = _session(guest, key)
    _, tag = SESSIONS[key]
    head = _report(sess)[tag]
    si = _json(sess, "siginfo --json")
    assert (si["si_signo"], si["si_errno"], si["si_code"]) == (
        head["si_signo"], head["si_errno"], head["si_code"])
    text = _one(sess, "siginfo")
    if tag == "segv":
        assert si["si_addr"] == head["si_addr"]
        assert f"si_addr={head['si_addr']:#x}" in text
    else:
        assert (si["si_pid"], si["si_uid"]) == (head["si_pid"], head["si_uid"])
        assert f"si_pid={head['si_pid']}" in text


@pytest.mark.parametrize("key", SESSIONS)
def test_regs_frame_is_the_saved_context(guest: Batch, key: str) -> None:
    sess = _session(guest, key)
    _, tag = SESSIONS[key]
    mc = _report(sess)[tag + ".mc"]
    assert _json(sess, "regs --frame --json") == _saved_regs(key, mc)


@pytest.mark.parametrize("key", SESSIONS)
def test_x_at_sp_is_the_frame_the_handler_dumped(guest: Batch, key: str) -> None:
    sess = _session(guest, key)
    _, tag = SESSIONS[key]
    rep = _report(sess)
    start, data = rep.dump(tag + ".frame")
    assert start == rep[tag]["entry_sp"]
    rows = _json(sess, "x/16xw $sp --json")
    assert rows["address"] == start and rows["size"] == 4
    want = [int.from_bytes(data[i : i + 4], "little") for i in range(0, 64, 4)]
    assert rows["values"] == want
    text = _one(sess, "x/16xw $sp")
    assert text.startswith(f"{start:#x}:") and f"0x{want[0]:08x}" in text


@pytest.mark.parametrize("key", SESSIONS)
def test_disassemble_at_pc_is_the_programs_code(guest: Batch, key: str) -> None:
    sess = _session(guest, key)
    prog, tag = SESSIONS[key]
    handler = _report(sess)[tag]["handler"]
    want = _host_disasm(prog, handler, 4)
    d = _json(sess, "disassemble -n 4 --json")
    assert d["address"] == want[0][0] == handler & ~1
    assert d["symbol"] == "handler_entry"
    assert _parse_disas(d["instructions"]) == want
    text = _one(sess, "disassemble -n 4").splitlines()
    assert text[0] == f"{want[0][0]:#x} <handler_entry>:"
    assert text[1].startswith(f"=> {want[0][0]:#x}:")  # the pc
    assert _parse_disas(text[1:]) == want
    xi = _one(sess, "x/2i $pc").splitlines()
    assert xi[0].startswith("=> ") and _parse_disas(xi) == want[:2]


@pytest.mark.parametrize("key", SESSIONS)
def test_stepi_executes_the_handlers_first_instruction(guest: Batch, key: str) -> None:
    sess = _session(guest, key)
    prog, tag = SESSIONS[key]
    head = _report(sess)[tag]
    first, second = _host_disasm(prog, head["handler"], 2)
    out = _one(sess, "stepi")
    assert out.startswith(f"=> {second[0]:#x}: {second[1].hex()}"), out
    after = _json(sess, "regs --json", 1)
    assert after["pc"] == first[0] + len(first[1]) == second[0]
    assert after["sp"] == head["entry_sp"]


@pytest.mark.parametrize("key", SESSIONS)
def test_step_sigreturn_restores_the_saved_context(guest: Batch, key: str) -> None:
    sess = _session(guest, key)
    prog, tag = SESSIONS[key]
    mc = _report(sess)[tag + ".mc"]
    out = _one(sess, "step-sigreturn")
    assert "error:" not in out, out
    assert "context restored: every register equals the frame's" in out
    assert "rt_sigreturn" in out
    saved = _saved_regs(key, mc)
    now = _json(sess, "regs --json", 2)
    flags = "pstate" if key == "a64" else "cpsr"
    if tag == "segv":
        # the handler skipped the faulting load: pc += its length (the
        # program's code at the fault, disassembled on the host)
        fault = _host_disasm(prog, saved["pc"], 1)[0]
        assert fault[0] == saved["pc"]
        assert "handler changed mcontext.arm_pc" in out
        saved["pc"] += len(fault[1])
    for name, value in saved.items():
        if name != flags:  # the flags rules are the walk's (test_a64_step / test_a32_step)
            assert now[name] == value, name
    assert "\n=> " in out and f"{saved['pc']:#x}" in out
    xi = _one(sess, "x/2i $pc").splitlines() if len(_outputs(sess, "x/2i $pc")) < 2 \
        else _outputs(sess, "x/2i $pc")[1].splitlines()
    assert _parse_disas(xi) == _host_disasm(prog, saved["pc"], 2)


@pytest.mark.parametrize("key, line, needles", [
    (k, line, needles) for k in SESSIONS for line, needles in (
        ("regs --fp", ("regs --fp", "not shown yet")),
        ("break $pc", ("breakpoints are not supported",)),
        ("bt", ("bt: no stack unwinding rules",)),
        ("frame 0x10", ("0x10", "not readable")),
        ("x/4xw 0", ("cannot read",)),
    ) if not (k == "a64" and line == "bt")])  # AArch64 unwinds (test_a64_stack.py)
def test_what_the_shell_cannot_do_on_arm_is_one_line(guest: Batch, key: str, line: str,
                                                     needles: tuple[str, ...]) -> None:
    sess = _session(guest, key)
    out = _one(sess, line)
    lines = out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), out
    assert "Traceback" not in out and "internal error" not in out
    abi = "aarch64" if key == "a64" else "arm"
    if line in ("regs --fp", "break $pc", "bt"):
        assert f"{abi} processes" in lines[0], lines[0]
    for n in needles:
        assert n in lines[0], lines[0]


def test_bt_on_aarch64_starts_at_the_restored_context(guest: Batch) -> None:
    """``bt`` after ``step-sigreturn`` on AArch64 (the unwinder of ``trace -k``,
    tests/arm/test_a64_stack.py): its innermost frame is the interrupted pc the
    handler reported, and the walk goes on to callers."""
    sess = _session(guest, "a64")
    prog, tag = SESSIONS["a64"]
    saved = _saved_regs("a64", _report(sess)[tag + ".mc"])
    out = _one(sess, "bt")
    lines = out.strip().splitlines()
    assert "error" not in out and "Traceback" not in out, out
    assert len(lines) >= 2, out
    assert lines[0].startswith("#0") and int(lines[0].split()[1], 16) == saved["pc"], out


def test_detach_lets_the_program_run_to_its_end(guest: Batch) -> None:
    sess = _session(guest, "a64")
    assert _one(sess, "detach").strip() == f"detached from process {sess['pid']}"
    rep = _report(sess)
    # exit status 0 (a SIGTRAP of the tracer's last single step, passed on at
    # the detach, killed it once: Session._signal_owed and SI_USER step traps)
    assert sess["status"] == 0, sess["status"]
    assert rep.done, "the program did not run to its end after detach"
    # every later scenario ran untraced after the shell let it go
    for tag in ("segv", "nosi", "alt", "nest", "nest_in", "sve"):
        assert tag in rep.lines, tag
    assert sess["left"] is None  # reaped


def test_kill_leaves_nothing_behind(guest: Batch) -> None:
    sess = _session(guest, "thumb")
    assert _one(sess, "kill").strip() == f"killed process {sess['pid']}"
    rep = _report(sess)
    assert not rep.done and "segv.resumed" not in rep.lines
    assert sess["left"] is None
    doc = _DOC[id(guest.results["py_sigdbg"])]
    assert doc["children_left"] == []
