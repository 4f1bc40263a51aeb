"""``sigdbg frame`` and ``sigdbg trace`` on AArch32 processes in the arm64 guest.

tests/arm/guest_sigdbg.py (the one python start in the guest) runs the CLI's
``main`` on targets/arm/sig_frame.arm (ARM code) and sig_frame.thumb (Thumb-2
code, Thumb handlers): ``frame --json`` on the first signal of a run (usr1:
an rt frame; ``segv``: a fault; ``nosi``: the non-rt compat_sigframe),
``frame`` as text, and ``trace --json`` over every scenario.  sigdbg
single-steps each delivery into the handler and decodes the frame at sp
with sigdbg/abi/arm/a32frame.py (registers from NT_PRSTATUS, the frame
through /proc/PID/mem); then the program runs on and its handler reports
the very same frame from inside (entry sp/lr/r0-r2 caught by an asm stub,
siginfo, ucontext, every sigcontext field, the uc_regspace walk, 16 bytes
at lr).  Every decoded value is compared with that report, in the same
run, and with what the program set up itself (register patterns, the
interrupted label, the fault address, its own restorer, its altstack).
The same decoder also runs on the host over the frames the program dumped.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from sigdbg.abi import arm
from sigdbg.abi.arm import frames as arm_frames
from sigdbg.abi.arm.a32frame import decode_a32_frame
from tests.arm.conftest import Report, parse
from tests.arm.guest import Batch, Result
from tests.arm.test_frames import DumpMemory, special_mappings
from tests.conftest import ROOT

pytestmark = pytest.mark.timeout(900)

SIGSEGV, SIGUSR1, SIGUSR2 = 11, 10, 12
FAULT_ADDR = 0xDEAD000
SI_USER, SI_QUEUE, SI_TKILL, SEGV_MAPERR = 0, -1, -6, 1
#: every scenario of a full run, in the order the handlers are entered
SCENARIOS = ("usr1", "segv", "nosi", "alt", "sigpage", "sigpage_nosi", "raise", "queue",
             "nest", "nest_in", "own")
SIG = {"usr1": SIGUSR1, "segv": SIGSEGV, "nosi": SIGUSR2, "alt": SIGUSR1, "sigpage": SIGUSR1,
       "sigpage_nosi": SIGUSR2, "raise": SIGUSR1, "queue": SIGUSR1, "nest": SIGUSR1,
       "nest_in": SIGUSR2, "own": SIGUSR1}
NON_RT = ("nosi", "sigpage_nosi")
#: the scenarios whose interrupted pc is the program's own svc (registers patterned)
BY_SVC = ("usr1", "nosi", "alt", "sigpage", "sigpage_nosi", "nest", "nest_in", "own")
#: (single-scenario CLI run) -> (build, scenario)
FRAME_RUNS = {"a32_usr1_json": ("arm", "usr1"), "a32_segv_json": ("thumb", "segv"),
              "a32_nosi_json": ("thumb", "nosi")}
#: compat [sigpage] entries (arch/arm64/kernel/sigreturn32.S) per (thumb, rt)
SIGPAGE_ENTRY = {(False, False): "sigreturn (ARM)", (True, False): "sigreturn (Thumb)",
                 (False, True): "rt_sigreturn (ARM)", (True, True): "rt_sigreturn (Thumb)"}

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


def check_frame(f: dict[str, Any], rep: Report, tag: str, build: str,
                maps: bool = True) -> None:
    """One decoded frame (JSON) against the handler's report of it
    (``maps``: the restorer was classified with the process's maps)."""
    head, mc, recs = rep[tag], rep[tag + ".mc"], rep[tag + ".rec"]
    rt = tag not in NON_RT
    thumb = build == "thumb"
    assert head["rt"] == rt, tag
    assert (f["abi"], f["kind"], f["size"]) == (
        ("arm", "compat_rt_sigframe", 880) if rt else ("arm", "compat_sigframe", 752)), tag
    # where the kernel put it, and where the handler returns
    assert (f["address"], f["pretcode"], f["sig"]) == (
        head["entry_sp"], head["entry_lr"], head["sig"]), tag
    assert f["sig"] == head["entry_r0"] == SIG[tag], tag
    assert f["handler_thumb"] is thumb and head["handler"] & 1 == thumb, tag
    # the whole sigcontext, field by field under the kernel's names
    assert f["mcontext"] == {k: mc[k] for k in (fld.name for fld in arm.SIGCONTEXT.fields)}, tag
    assert f["fault_address"] == mc["fault_address"], tag
    assert (f["uc_flags"], f["uc_link"], f["sigmask"]) == (
        mc["uc_flags"], mc["uc_link"], mc["mask"]), tag
    assert f["uc_stack"] == {"ss_sp": mc["ss_sp"], "ss_flags": mc["ss_flags"],
                             "ss_size": mc["ss_size"]}, tag
    assert f["thumb"] is bool(mc["arm_cpsr"] & arm_frames.CPSR_T), tag
    assert ("T" in f["cpsr_names"]) is f["thumb"], tag
    if tag in BY_SVC or tag == "segv":  # interrupted in the program's own code
        assert f["thumb"] is thumb, tag
    else:  # raise, sigqueue: interrupted in glibc, which armhf builds as Thumb-2
        assert f["thumb"] is True, tag
    assert f["cpsr_names"][-1] == "USR", tag
    # the uc_regspace walk, record by record, and the VFP record's values
    got = [(r["offset"], r["magic"], r["size"]) for r in f["records"]]
    want = [(recs[f"off{n}"], recs[f"magic{n}"], recs.get(f"size{n}", 0))
            for n in range(recs["nrec"])]
    assert got == want, tag
    assert [r["name"] for r in f["records"]] == ["vfp", "end"], tag
    vfp = f["records"][0]
    assert (vfp["dregs"][16], vfp["dregs"][31], vfp["fields"]["fpscr"],
            vfp["fields"]["fpexc"]) == (recs["d16"], recs["d31"], recs["fpscr"],
                                        recs["fpexc"]), tag
    # siginfo (rt frames only)
    if rt:
        si = f["siginfo"]
        assert f["siginfo_valid"] is True, tag
        assert (si["si_signo"], si["si_errno"], si["si_code"] & 0xFFFFFFFF) == (
            head["si_signo"], head["si_errno"], head["si_code"]), tag
        if tag == "segv":
            assert si["si_addr"] == head["si_addr"] == FAULT_ADDR
            assert si["si_code"] == SEGV_MAPERR
        else:
            assert (si["si_pid"], si["si_uid"]) == (head["si_pid"], head["si_uid"]), tag
            assert si["si_code"] == {"raise": SI_TKILL, "queue": SI_QUEUE}.get(tag, SI_USER)
        if tag == "queue":
            assert si["si_value"] == head["si_value"] == 0x5151
    else:
        assert (f["siginfo"], f["siginfo_valid"]) == (None, False)
        assert f["uc_flags"] == arm_frames.NON_RT_UC_FLAGS
        assert f["uc_flags_names"] == ["non-rt frame magic"]
    # ... and what the program set up itself
    if tag == "segv":
        assert mc["arm_pc"] == head["fault_insn"] and f["fault_address"] == FAULT_ADDR
    elif tag in BY_SVC:
        assert mc["arm_pc"] == head["after_svc"], tag
        assert [mc[f"arm_r{i}"] for i in (4, 5, 6, 7, 8, 9, 10)] == [
            0x04040404, 0x05050505, 0x06060606, 37, 0x08080808, 0x09090909, 0x10101010], tag
        assert vfp["dregs"][16] == int("16" * 8, 16) and vfp["fields"]["fpscr"] == 0x00C00010
    assert f["on_altstack"] == (tag == "alt"), tag
    if tag == "alt":
        alt = rep["alt.stack"]
        assert alt["ss_sp"] <= f["address"] < alt["ss_sp"] + alt["ss_size"]
    assert f["problems"] == [], (tag, f["problems"])
    if maps:
        check_restorer(f, rep, tag, build)


def check_restorer(f: dict[str, Any], rep: Report, tag: str, build: str) -> None:
    """The restorer lr points at, against the maps and the bytes the handler
    read there: glibc's Thumb-2 __default_(rt_)sa_restorer (glibc armhf
    always passes SA_RESTORER, also in the ARM build), the kernel's [sigpage]
    entry for the handler's mode, or the program's own restorer."""
    r, head = f["restorer"], rep[tag]
    rt = tag not in NON_RT
    lr = head["entry_lr"]
    assert r["address"] == lr and r["syscall"] == ("rt_sigreturn" if rt else "sigreturn"), tag
    assert bytes.fromhex(r["code"]) == rep.dump(tag + ".lrcode")[1], tag
    if tag.startswith("sigpage"):
        base, _, _ = special_mappings(rep)["[sigpage]"]
        thumb = build == "thumb"
        idx = arm_frames.sigpage_index(thumb, rt)
        assert lr == base + 4 * idx + thumb, tag
        assert (r["kind"], r["mapping"]) == ("sigpage", "[sigpage]"), tag
        assert r["symbol"] == "[sigpage] " + SIGPAGE_ENTRY[(thumb, rt)], tag
    elif tag == "own":
        assert lr == head["own_restorer"], tag
        assert (r["kind"], r["symbol"]) == ("program", "own_restorer"), tag
        assert r["pattern"] == ("movs r7, #173; svc #0 (Thumb)" if build == "thumb"
                                else "mov r7, #173; svc #0")
    else:
        assert lr & 1, tag  # Thumb-2 even in the ARM build
        assert r["kind"] == "program", tag  # a static program: glibc is in it
        assert r["symbol"] == ("__default_rt_sa_restorer" if rt else "__default_sa_restorer")
        assert r["pattern"] == ("mov.w r7, #173; svc #0 (Thumb)" if rt
                                else "mov.w r7, #119; svc #0 (Thumb)")


@pytest.mark.parametrize("key", FRAME_RUNS)
def test_frame_json_equals_handler_report(guest: Batch, key: str) -> None:
    """``sigdbg frame --json -- PROG [SCENARIO]``: the first handler entry."""
    build, tag = FRAME_RUNS[key]
    run, rep = _run(guest, key)
    check_frame(json.loads(run["stdout"]), rep, tag, build)
    if tag == "segv":  # the handler's pc skip took: the program went on
        assert "segv.resumed" in rep.lines


def test_frame_text_renders_the_same_model(guest: Batch) -> None:
    run, rep = _run(guest, "a32_usr1_text")
    text = run["stdout"]
    head, mc = rep["usr1"], rep["usr1.mc"]
    assert text.startswith(f"compat_rt_sigframe at {head['entry_sp']:#x} (arm, 880 bytes): "
                           "signal SIGUSR1 (10)")
    assert f"lr (restorer)  {head['entry_lr']:#x} -> program __default_rt_sa_restorer" in text
    assert "(Thumb handler)" in text
    for fld in arm.SIGCONTEXT.fields:
        assert f"{fld.name}={mc[fld.name]:#010x}" in text, fld.name
    assert f"interrupted Thumb code at {mc['arm_pc']:#x}" in text
    assert f"vfp       {head['entry_sp'] + 360:#x} (frame+360) magic=0x56465001 size=288 " \
           f"fpscr={rep['usr1.rec']['fpscr']:#x}" in text
    assert "d16 " + "16" * 8 in text and "d31 " + "31" * 8 in text
    assert "!" not in text  # no problems


@pytest.mark.parametrize("build", ["arm", "thumb"])
def test_trace_json_frames_equal_handler_reports(guest: Batch, build: str) -> None:
    """``sigdbg trace --json -- sig_frame.BUILD``: every handler entry of the
    run (rt and non-rt frames, fault, altstack, [sigpage], raise, sigqueue,
    nested, own restorer) decoded by the engine equals what that handler
    reported of its own frame."""
    run, rep = _run(guest, f"a32_trace_{build}")
    events = [json.loads(line) for line in run["stdout"].splitlines()]
    schema = json.loads((ROOT / "docs" / "trace-schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    for e in events:  # every line as docs/trace-schema.json says
        assert not list(validator.iter_errors(e)), e
    assert events[0]["event"] == "exec" and events[0]["abi"] == "arm"
    assert events[-1] == {**events[-1], "event": "exited", "status": 0}
    entered = [e for e in events if e["event"] == "handler_entered"]
    assert len(entered) == len(SCENARIOS)
    # the pc at each delivery stop is the interrupted pc the kernel saved
    delivered = [e for e in events if e["event"] == "signal_delivered"]
    assert [e["pc"] for e in delivered] == [e["frame"]["mcontext"]["arm_pc"] for e in entered]
    for tag, e in zip(SCENARIOS, entered):
        assert e["handler"] == rep[tag]["handler"], tag  # pc at entry, bit 0 for Thumb
        check_frame(e["frame"], rep, tag, build)
        assert (e["altstack"] is not None) == (tag == "alt"), tag
    # the nested frame lies below the outer handler's stack, SIGUSR1 blocked in it
    outer, inner = entered[SCENARIOS.index("nest")]["frame"], \
        entered[SCENARIOS.index("nest_in")]["frame"]
    assert inner["address"] + inner["size"] <= inner["mcontext"]["arm_sp"] < outer["address"]
    assert inner["sigmask"] & (1 << (SIGUSR1 - 1)) and not outer["sigmask"]


# -- the same decoder on the host, over every frame the program dumped ----------


@pytest.fixture(scope="module", params=["arm", "thumb"])
def a32(request: pytest.FixtureRequest, guest: Batch) -> tuple[str, Report]:
    rep = parse(guest.results[f"frame_{request.param}"])
    assert rep.done
    return request.param, rep


@pytest.mark.parametrize("tag", SCENARIOS)
def test_decode_a32_frame_on_dumps(a32: tuple[str, Report], tag: str) -> None:
    """sig_frame.BUILD run without sigdbg: the frames its handlers dumped,
    decoded with the same registers the entry stub saw."""
    build, rep = a32
    head = rep[tag]
    lr = head["entry_lr"]
    mem = DumpMemory(rep.dump(tag + ".frame"), rep.dump(tag + ".lrcode"))
    entry = {"r0": head["entry_r0"], "r1": head["entry_r1"], "r2": head["entry_r2"],
             "sp": head["entry_sp"], "lr": lr, "pc": head["handler"]}
    f = decode_a32_frame(mem, head["entry_sp"], entry_regs=entry, signo=SIG[tag]).to_json()
    check_frame(f, rep, tag, build, maps=False)
    # no maps here: the restorer is told by its bytes, in lr's instruction set
    r = f["restorer"]
    rt = tag not in NON_RT
    nr = 173 if rt else 119
    assert (r["kind"], r["address"]) == ("unknown", lr)
    assert r["syscall"] == ("rt_sigreturn" if rt else "sigreturn")
    if tag.startswith("sigpage"):  # the compat trampolines: svc #<nr>
        want = (f"movs r7, #{nr}; svc #{nr:#x} (Thumb)" if build == "thumb"
                else f"mov r7, #{nr}; svc #{nr:#x}")
    elif tag == "own":
        want = ("movs r7, #173; svc #0 (Thumb)" if build == "thumb"
                else "mov r7, #173; svc #0")
    else:
        want = f"mov.w r7, #{nr}; svc #0 (Thumb)"
    assert r["pattern"] == want, tag


def test_frame_command_at_sp_and_at_address(guest: Batch) -> None:
    """The ``frame`` command at a Thumb handler's entry (sig_frame.thumb segv):
    at sp it is the engine's frame, value for value (the entry registers give
    the restorer); at the frame's address the same frame, except what only
    the entry registers know (lr: the restorer, the handler's mode)."""
    res = guest.results["py_sigdbg"]
    if id(res) not in _DOC:
        _frames(guest)
    fc = _DOC[id(res)]["frame_commands"]
    event, at_sp, at_addr = fc["event"], fc["at_sp"], fc["at_address"]
    assert event["kind"] == "compat_rt_sigframe" and event["sig"] == SIGSEGV
    assert event["problems"] == [] and event["handler_thumb"] is True
    assert event["restorer"]["symbol"] == "__default_rt_sa_restorer"
    assert at_sp == event
    unknown = {"pretcode": 0, "handler_thumb": None,
               "restorer": {"address": 0, "kind": "unknown", "mapping": None, "symbol": None,
                            "pattern": None, "syscall": None, "code": ""}}
    assert at_addr == {**event, **unknown}
    assert fc["text"].startswith(f"compat_rt_sigframe at {event['address']:#x} (arm, 880 "
                                 "bytes): signal SIGSEGV (11)")
    assert f"si_addr={FAULT_ADDR:#x}" in fc["text"] and "!" not in fc["text"]


def test_step_sigreturn_walks_the_a32_handler(guest: Batch) -> None:
    """``trace --step-sigreturn`` on an AArch32 program: the handler entry is
    decoded, the walk runs it to glibc's Thumb-2 restorer (lr), steps it to
    rt_sigreturn and the restored registers equal the frame the handler
    reported; schema-valid events, and the program runs to its end.
    (tests/arm/test_a32_step.py covers every restorer and edit.)"""
    run, rep = _run(guest, "a32_step")
    events = [json.loads(line) for line in run["stdout"].splitlines()]
    schema = json.loads((ROOT / "docs" / "trace-schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    for e in events:
        assert not list(validator.iter_errors(e)), e
    entered = [e for e in events if e["event"] == "handler_entered"]
    assert len(entered) == 1
    check_frame(entered[0]["frame"], rep, "usr1", "arm")
    assert [e for e in events if e["event"] == "sigreturn_abandoned"] == []
    steps = [e["step"] for e in events if e["event"] == "sigreturn_step"]
    assert steps[0]["address"] == rep["usr1"]["entry_lr"] & ~1
    assert [s["syscall"] for s in steps] == [None] * (len(steps) - 1) + ["rt_sigreturn"]
    (sigret,) = [e for e in events if e["event"] == "sigreturn_entered"]
    assert sigret["frame"]["address"] == rep["usr1"]["entry_sp"]
    assert sigret["changes"]["changes"] == []
    (restored,) = [e for e in events if e["event"] == "context_restored"]
    assert restored["matches"] is True and restored["differences"] == []
    mc = rep["usr1.mc"]
    for reg, name in (("pc", "arm_pc"), ("sp", "arm_sp"), ("lr", "arm_lr"),
                      ("r4", "arm_r4"), ("r10", "arm_r10")):
        assert restored["registers"][reg] == mc[name], reg
    assert events[-1]["event"] == "exited" and events[-1]["status"] == 0


SIGWINCH = 28


def test_handler_edits_seen_in_the_outer_frame(guest: Batch) -> None:
    """The nest handler edits its own frame (arm_r5, SIGWINCH into
    uc_sigmask), then sends itself SIGUSR2.  Stopped at the nested handler's
    entry, the ``frame`` command at the outer frame's address shows exactly
    those edits against the frame decoded at the outer handler's entry, and
    the values equal what the handler reported it wrote."""
    res = guest.results["py_sigdbg"]
    if id(res) not in _DOC:
        _frames(guest)
    he = _DOC[id(res)]["handler_edits"]
    rep = parse(Result("edits", 0, he["program"].encode(), b""))
    edit = rep["nest.edit"]
    outer, now = he["entered"][8], he["outer_now"]
    assert outer["sig"] == SIGUSR1 and he["entered"][9]["sig"] == SIGUSR2
    assert outer["address"] == rep["nest"]["entry_sp"]
    assert now["mcontext"] == {**outer["mcontext"], "arm_r5": edit["arm_r5"]}
    assert edit["arm_r5"] == 0x55AA55AA != outer["mcontext"]["arm_r5"]
    assert now["sigmask"] == edit["mask"] == outer["sigmask"] | 1 << (SIGWINCH - 1)
    assert "SIGWINCH" in now["sigmask_names"] and "SIGWINCH" not in outer["sigmask_names"]
    same = {k: v for k, v in now.items() if k not in ("mcontext", "sigmask", "sigmask_names")}
    assert same == {**{k: outer[k] for k in same}, **{
        "pretcode": 0, "handler_thumb": None, "restorer": same["restorer"]}}
    assert same["restorer"]["kind"] == "unknown"  # lr is known only at the handler's entry


@pytest.mark.parametrize("build", ["arm", "thumb"])
def test_mask_edit_outlives_sigreturn(guest: Batch, build: str) -> None:
    """The SIGWINCH the nest handler put into its uc_sigmask is restored by
    sigreturn: every frame traced after it carries it, none before."""
    run, _ = _run(guest, f"a32_trace_{build}")
    entered = [json.loads(line) for line in run["stdout"].splitlines()]
    masks = [e["frame"]["sigmask"] for e in entered if e["event"] == "handler_entered"]
    bit = 1 << (SIGWINCH - 1)
    assert [bool(m & bit) for m in masks] == [t == "own" for t in SCENARIOS]
