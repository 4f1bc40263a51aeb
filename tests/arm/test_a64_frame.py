"""``sigdbg frame -- PROG`` on an AArch64 process in the arm64 guest.

tests/arm/guest_sigdbg.py (the one python start in the guest) runs the CLI's
``main`` on targets/arm/sig_frame.a64 (first signal SIGUSR1 by an inline
svc) and ``sig_frame.a64 segv`` (first signal a SIGSEGV at 0xdead000): sigdbg
launches it, single-steps the delivery into the handler, decodes the frame at
sp with sigdbg/abi/aarch64/a64frame.py (registers from NT_PRSTATUS, the frame
read through /proc/PID/mem) and prints it; then the program runs on untraced
and its handler reports the very same frame from inside (entry sp/x29/x30
caught by an asm stub, siginfo, ucontext, sigcontext, every record, the
vDSO image).  Every decoded value is compared with that report, with what
the program set up itself (register patterns, the interrupted label, the
fault address) and with the vDSO's symbol table (pyelftools on the dump).
"""

from __future__ import annotations

import io
import json
from typing import Any

import jsonschema
import pytest
from elftools.elf.elffile import ELFFile

from sigdbg.abi.aarch64.a64frame import decode_a64_frame
from tests.arm.conftest import Report, parse
from tests.arm.guest import Batch, Result
from tests.arm.test_frames import A64_SCENARIOS, SIG, DumpMemory
from tests.conftest import ROOT

pytestmark = pytest.mark.timeout(900)

SIGSEGV, SIGUSR1 = 11, 10
FAULT_ADDR = 0xDEAD000
RUNS = {"usr1": "usr1_json", "segv": "segv_json"}

_DOC: dict[int, dict[str, Any]] = {}


def _frames(guest: Batch) -> dict[str, Any]:
    res = guest.results["py_sigdbg"]
    if id(res) not in _DOC:
        assert res.rc == 0, res.stderr.decode(errors="replace")[-3000:]
        _DOC[id(res)] = json.loads(res.text)
    frames: dict[str, Any] = _DOC[id(res)]["frames"]
    return frames


def _run(guest: Batch, key: str) -> tuple[dict[str, Any], Report]:
    run = _frames(guest)[key]
    assert run["rc"] == 0 and run["stderr"] == "", run
    rep = parse(Result(key, 0, run["program"].encode(), b""))
    assert rep.done, "the program did not run to its end after sigdbg decoded the frame"
    return run, rep


@pytest.mark.parametrize("tag", RUNS)
def test_frame_json_equals_handler_report(guest: Batch, tag: str) -> None:
    run, rep = _run(guest, RUNS[tag])
    f = json.loads(run["stdout"])
    head, mc = rep[tag], rep[tag + ".mc"]
    assert (f["abi"], f["kind"], f["size"]) == ("aarch64", "rt_sigframe", 4688)
    # where the kernel put it: sp, x29 (the frame record), x30 at handler entry
    assert f["address"] == head["entry_sp"]
    assert f["frame_record_address"] == head["entry_fp"]
    assert f["pretcode"] == head["entry_lr"]
    assert f["frame_record"] == {"fp": head["rec_fp"], "lr": head["rec_lr"]}
    assert f["sig"] == head["sig"] == (SIGUSR1 if tag == "usr1" else SIGSEGV)
    # siginfo
    si = f["siginfo"]
    assert f["siginfo_valid"] is True
    assert (si["si_signo"], si["si_errno"], si["si_code"]) == (
        head["si_signo"], head["si_errno"], head["si_code"])
    fields = si  # the union members sit beside the header fields
    if tag == "segv":
        assert fields["si_addr"] == head["si_addr"] == FAULT_ADDR
    else:
        assert (fields["si_pid"], fields["si_uid"]) == (head["si_pid"], head["si_uid"])
    # ucontext
    assert f["uc_flags"] == mc["uc_flags"] and f["uc_link"] == mc["uc_link"]
    assert f["uc_stack"] == {"ss_sp": mc["ss_sp"], "ss_flags": mc["ss_flags"],
                             "ss_size": mc["ss_size"]}
    assert f["sigmask"] == mc["mask"]
    # sigcontext: x0-x30, sp, pc, pstate, fault_address
    regs = f["mcontext"]
    assert list(regs) == [f"x{i}" for i in range(31)] + ["sp", "pc", "pstate"]
    for i in range(31):
        assert regs[f"x{i}"] == mc[f"x{i}"], f"x{i}"
    assert (regs["sp"], regs["pc"], regs["pstate"]) == (mc["sp"], mc["pc"], mc["pstate"])
    assert f["fault_address"] == mc["fault_address"]
    # ... and what the program set up itself
    if tag == "usr1":
        assert regs["pc"] == head["after_svc"]
        for n in range(19, 29):
            assert regs[f"x{n}"] == int(f"{n:02d}" * 8, 16)
    else:
        assert regs["pc"] == head["fault_insn"]
        assert f["fault_address"] == FAULT_ADDR
    assert (regs["x29"], regs["x30"]) == (head["rec_fp"], head["rec_lr"])
    # the single step into the handler is the tracer's: the saved PSTATE.SS
    # says so, and sigdbg names it
    assert "SS" in f["pstate_names"] and regs["pstate"] & (1 << 21)
    assert f["problems"] == []


@pytest.mark.parametrize("tag", RUNS)
def test_frame_records_equal_handler_walk(guest: Batch, tag: str) -> None:
    run, rep = _run(guest, RUNS[tag])
    f = json.loads(run["stdout"])
    rec = rep[tag + ".rec"]
    want = [(rec[f"off{i}"], rec[f"magic{i}"], rec[f"size{i}"]) for i in range(rec["nrec"])]
    got = [(r["offset"], r["magic"], r["size"]) for r in f["records"]]
    assert got == want
    names = [r["name"] for r in f["records"]]
    # the CPU has SVE: after a syscall 6.1 keeps only the sve record's header
    assert names == (["fpsimd", "sve", "end"] if tag == "usr1"
                     else ["fpsimd", "esr", "sve", "end"])
    sve = f["records"][-2]
    assert (sve["size"], sve["fields"]["vl"], sve["fields"]["flags"]) == (
        16, rec["sve_vl"], rec["sve_flags"])
    fp = f["records"][0]
    assert (fp["fields"]["fpsr"], fp["fields"]["fpcr"]) == (rec["fpsr"], rec["fpcr"])
    for n in (16, 31):
        assert int(fp["vregs"][n], 16) == rec[f"v{n}_hi"] << 64 | rec[f"v{n}_lo"]
    if tag == "usr1":  # the program's own patterns: FPCR RZ, FPSR IXC, movi v16.16b, #0x16
        assert (rec["fpsr"], rec["fpcr"]) == (0x10, 0xC00000)
        assert fp["vregs"][16] == "0x" + "16" * 16
    else:
        esr = f["records"][1]
        assert esr["fields"]["esr"] == rec["esr"]
        assert esr["fields"]["esr"] >> 26 == 0x24  # EC: data abort from a lower EL


def test_frame_restorer_is_vdso_symbol(guest: Batch) -> None:
    """x30 at entry is the vDSO's __kernel_rt_sigreturn: sigdbg names it by
    symbol; the address is checked against the vDSO image the program dumped."""
    run, rep = _run(guest, "usr1_json")
    f = json.loads(run["stdout"])
    base, image = rep.dump("vdso")
    symtab = ELFFile(io.BytesIO(image)).get_section_by_name(".dynsym")
    assert symtab is not None
    syms = {s.name: s["st_value"] for s in symtab.iter_symbols()}
    r = f["restorer"]
    assert r["address"] == f["pretcode"] == base + syms["__kernel_rt_sigreturn"]
    assert (r["kind"], r["mapping"], r["syscall"]) == ("vdso", "[vdso]", "rt_sigreturn")
    assert r["symbol"].split("@")[0] == "__kernel_rt_sigreturn"
    assert bytes.fromhex(r["code"]).startswith(rep.dump("usr1.lrcode")[1])


def test_frame_text_renders_the_same_model(guest: Batch) -> None:
    run, rep = _run(guest, "usr1_text")
    text = run["stdout"]
    head, mc = rep["usr1"], rep["usr1.mc"]
    assert text.startswith(f"rt_sigframe at {head['entry_sp']:#x} (aarch64, 4688 bytes): "
                           "signal SIGUSR1 (10)")
    assert "__kernel_rt_sigreturn" in text and "vdso" in text
    for key in [f"x{i}" for i in range(31)] + ["sp", "pc", "pstate"]:
        assert f"{key}={mc[key]:#018x}" in text, key
    assert f"fp={head['rec_fp']:#x} lr={head['rec_lr']:#x}" in text
    assert "fpsimd" in text and "fpsr=0x10 fpcr=0xc00000" in text
    assert "v16 " + "16" * 16 in text
    assert "!" not in text  # no problems


# -- the same decoder on every frame the program dumped itself -----------------
# (the CLI stops at the first signal only; these frames cover the rest:
# no SA_SIGINFO, the altstack, a nested frame, live SVE in the extra space)


@pytest.fixture(scope="module")
def a64(guest: Batch) -> Report:
    rep = parse(guest.results["frame_a64"])
    assert rep.done
    return rep


@pytest.mark.parametrize("tag", A64_SCENARIOS)
def test_decode_a64_frame_on_dumps(a64: Report, tag: str) -> None:
    head, mc, rec = a64[tag], a64[tag + ".mc"], a64[tag + ".rec"]
    sp = head["entry_sp"]
    dumps = [a64.dump(tag + ".frame"), a64.dump("vdso")]
    if tag + ".extra" in a64.dumps:
        dumps.append(a64.dump(tag + ".extra"))
    entry = {"x0": head["entry_x0"], "x1": head["entry_x1"], "x2": head["entry_x2"],
             "x29": head["entry_fp"], "x30": head["entry_lr"]}
    f = decode_a64_frame(DumpMemory(*dumps), sp, entry_regs=entry, signo=SIG[tag]).to_json()
    assert (f["address"], f["frame_record_address"], f["pretcode"]) == (
        sp, head["entry_fp"], head["entry_lr"])
    assert f["frame_record"] == {"fp": head["rec_fp"], "lr": head["rec_lr"]}
    assert f["mcontext"] == {**{f"x{i}": mc[f"x{i}"] for i in range(31)},
                             "sp": mc["sp"], "pc": mc["pc"], "pstate": mc["pstate"]}
    assert (f["fault_address"], f["uc_flags"], f["uc_link"], f["sigmask"]) == (
        mc["fault_address"], mc["uc_flags"], mc["uc_link"], mc["mask"])
    assert f["uc_stack"] == {"ss_sp": mc["ss_sp"], "ss_flags": mc["ss_flags"],
                             "ss_size": mc["ss_size"]}
    assert f["on_altstack"] == (tag == "alt")
    got = [(r["offset"], r["magic"], r["size"]) for r in f["records"]]
    assert got == [(rec[f"off{i}"], rec[f"magic{i}"], rec[f"size{i}"])
                   for i in range(rec["nrec"])]
    assert f["restorer"]["pattern"] == "mov x8, #0x8b; svc #0"
    if tag == "sve":  # Z/P/FFR at VL 256 moved behind extra_context into the extra space
        names = [(r["name"], r["in_extra"]) for r in f["records"]]
        assert names == [("fpsimd", False), ("esr", False), ("extra", False), ("end", False),
                         ("sve", True), ("end", True)]
        sve = f["records"][4]
        assert (sve["fields"]["vl"], sve["fields"]["flags"]) == (rec["sve_vl"], rec["sve_flags"])
        assert sve["payload_size"] == sve["size"] - 16 > 8000
        check_sve_regs(sve, rec)
    if tag == "nosi":
        assert f["siginfo_valid"] is False and len(f["problems"]) == 1
        assert "SA_SIGINFO" in f["problems"][0]
    else:
        assert f["siginfo_valid"] is True and f["problems"] == []
        assert f["siginfo"]["si_signo"] == head["si_signo"] == SIG[tag]
        assert f["siginfo"]["si_code"] == head["si_code"]


def test_trace_json_frames_equal_handler_reports(guest: Batch) -> None:
    """``sigdbg trace --json -- sig_frame.a64``: every handler entry of the
    run (SA_SIGINFO or not, fault, altstack, nested, live SVE) decoded by the
    engine equals what that handler reported of its own frame."""
    run, rep = _run(guest, "trace_json")
    events = [json.loads(line) for line in run["stdout"].splitlines()]
    schema = json.loads((ROOT / "docs" / "trace-schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    for e in events:  # every line as docs/trace-schema.json says
        assert not list(validator.iter_errors(e)), e
    assert events[0]["event"] == "exec" and events[0]["abi"] == "aarch64"
    assert events[-1] == {**events[-1], "event": "exited", "status": 0}
    entered = [e for e in events if e["event"] == "handler_entered"]
    assert len(entered) == len(A64_SCENARIOS)
    # the pc at each delivery stop (read from NT_PRSTATUS: arm64 has no
    # PEEKUSR) is the interrupted pc the kernel saved in that frame
    delivered = [e for e in events if e["event"] == "signal_delivered"]
    assert [e["pc"] for e in delivered] == [e["frame"]["mcontext"]["pc"] for e in entered]
    for tag, e in zip(A64_SCENARIOS, entered):
        f = e["frame"]
        head, mc, rec = rep[tag], rep[tag + ".mc"], rep[tag + ".rec"]
        assert e["handler"] == head["handler"], tag
        assert (f["sig"], f["address"], f["frame_record_address"], f["pretcode"]) == (
            SIG[tag], head["entry_sp"], head["entry_fp"], head["entry_lr"]), tag
        assert f["frame_record"] == {"fp": head["rec_fp"], "lr": head["rec_lr"]}, tag
        assert f["mcontext"] == {**{f"x{i}": mc[f"x{i}"] for i in range(31)},
                                 "sp": mc["sp"], "pc": mc["pc"], "pstate": mc["pstate"]}, tag
        assert (f["fault_address"], f["sigmask"]) == (mc["fault_address"], mc["mask"]), tag
        assert f["uc_stack"] == {"ss_sp": mc["ss_sp"], "ss_flags": mc["ss_flags"],
                                 "ss_size": mc["ss_size"]}, tag
        assert [(r["offset"], r["magic"], r["size"]) for r in f["records"]] == [
            (rec[f"off{i}"], rec[f"magic{i}"], rec[f"size{i}"]) for i in range(rec["nrec"])], tag
        assert f["restorer"]["kind"] == "vdso", tag
        if tag == "sve":
            check_sve_regs(next(r for r in f["records"] if r["name"] == "sve"), rec)
        assert f["restorer"]["symbol"].split("@")[0] == "__kernel_rt_sigreturn", tag
        assert f["on_altstack"] == (tag == "alt") and (e["altstack"] is not None) == (tag == "alt")
        assert f["problems"] == ([] if tag != "nosi" else [
            "info.si_signo does not match the signal: handler installed without SA_SIGINFO "
            "(the kernel leaves these 128 bytes unwritten)"]), tag
    # the nested frame lies below the outer handler's stack, SIGUSR1 blocked in it
    outer, inner = entered[4]["frame"], entered[5]["frame"]
    assert inner["address"] < outer["address"] and inner["sigmask"] & (1 << (SIGUSR1 - 1))


def check_sve_regs(sve: dict[str, Any], rec: dict[str, int]) -> None:
    """The sve record's registers: the handler's view (the first 8 bytes of
    Z16 and P3) and what trigger_sve_fault set (dup z16.b, #0x16; dup
    z31.b, #0x31; ptrue p3.b) at the vector length the program chose."""
    vl = sve["fields"]["vl"]
    assert vl == rec["sve_vl"] == 256
    z, p = sve["zregs"], sve["pregs"]
    assert (len(z), len(p)) == (32, 17)
    assert int(z[16], 16) & (2**64 - 1) == rec["sve_z16"]
    assert int(p[3], 16) & (2**64 - 1) == rec["sve_p3"]
    assert z[16] == "0x" + "16" * vl and z[31] == "0x" + "31" * vl
    assert p[3] == "0x" + "ff" * (vl // 8)
