"""Decoded signal frames of real processes against the targets' own reports.

Every target handler writes, from inside the handler, what it received
(targets/README.md, "The report convention"): siginfo, the interrupted
registers, uc_stack, the saved mask, the addresses of its siginfo and
ucontext.  sigdbg decodes the same frame from the outside at handler entry;
each test compares the two field by field.  Other independent truths used
here: the ELF symbol tables of the targets (read with pyelftools directly)
and the live stack memory of the stopped tracee.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import tempfile
from typing import Any

import pytest

import sigdbg
from sigdbg.abi import X86_64
from sigdbg.abi.x86 import xsave
from sigdbg.abi.x86.fp import XSAVE_EXTENDED_OFFSET
from sigdbg.decode.sigframe import SigFrame, decode_sigframe, kind_row
from sigdbg.engine import events as ev
from sigdbg.engine.session import Session
from sigdbg.errors import MemoryReadError, SigdbgError
from tests.conftest import parse_reports, target
from tests.integration.helpers_sig import (
    U32,
    Report,
    Run,
    abs_symbols,
    check_frame_against_report,
    run_target,
)

SIGRTMIN_GLIBC = 34  # glibc reserves 32 and 33 for itself
SI_USER, SI_KERNEL, SI_QUEUE, SI_TIMER, SI_TKILL = 0, 0x80, -1, -2, -6
RT_SIGRETURN_64 = bytes.fromhex("48c7c00f0000000f05")  # glibc __restore_rt


def handled(run: Run) -> list[tuple[ev.SignalDelivered, SigFrame]]:
    """(delivery, frame) for every delivery that entered a handler."""
    out = []
    pending: dict[int, ev.SignalDelivered] = {}
    for e in run.events:
        if isinstance(e, ev.SignalDelivered) and e.disposition == "handler":
            pending[e.tid] = e
        elif isinstance(e, ev.HandlerEntered):
            d = pending.pop(e.tid)
            assert d.siginfo.si_signo == e.frame.sig
            out.append((d, e.frame))
    assert not pending, f"deliveries without a handler entry: {pending}"
    return out


def only_one(run: Run) -> tuple[ev.SignalDelivered, SigFrame]:
    pairs = handled(run)
    assert len(pairs) == 1, [f.sig for _, f in pairs]
    return pairs[0]


def assert_same_siginfo(delivered: ev.SignalDelivered, frame: SigFrame) -> None:
    """PTRACE_GETSIGINFO at the delivery-stop and the frame's own copy agree."""
    a, b = delivered.siginfo, frame.siginfo
    assert b is not None
    assert (a.si_signo, a.si_errno, a.si_code, a.layout) == (
        b.si_signo, b.si_errno, b.si_code, b.layout)
    for k, v in b.fields.items():
        if frame.abi == "i386" and k == "si_value":
            continue  # compat 32-bit sigval vs the tracer's 64-bit view; checked elsewhere
        assert a.fields.get(k) == v, (k, a.fields, b.fields)


def assert_entered_at_handler(run: Run, frame: SigFrame, rep: Report) -> None:
    """The handler-entry stop is at the handler the program installed (its own
    report of its address) with sp at the frame the handler's info points into."""
    (entered,) = [e for e in run.of(ev.HandlerEntered) if e.frame is frame]
    assert entered.handler == rep["handler"]
    assert frame.address + kind_row(frame.abi, frame.kind).layout["info"].offset == rep["infop"]


def assert_libc_restorer(frame: SigFrame) -> None:
    r = frame.restorer
    assert r.kind == "libc", r
    assert r.symbol == "__restore_rt"
    assert r.mapping is not None and r.mapping.rsplit("/", 1)[-1].startswith("libc")
    assert r.syscall == "rt_sigreturn"
    assert r.code.startswith(RT_SIGRETURN_64)
    assert r.address == frame.pretcode


def assert_clean_x86_64(run: Run, delivered: ev.SignalDelivered, frame: SigFrame) -> None:
    assert frame.kind == "rt_sigframe" and frame.abi == "x86_64" and frame.size == 440
    assert frame.problems == ()
    assert frame.siginfo_valid
    assert frame.pinfo is None and frame.puc is None and frame.retcode is None
    # handler-entry state (sigframe-x86.md: rsp = frame, (rsp + 8) % 16 == 0)
    assert (frame.address + 8) % 16 == 0
    assert frame.mcontext["cs"] == 0x33
    assert frame.uc_link == 0
    assert frame.mcontext["oldmask"] == frame.sigmask
    assert_libc_restorer(frame)
    assert_same_siginfo(delivered, frame)
    assert delivered.pid == run.pid


# --------------------------------------------------------------------------
# sig_basic: one ordinary delivery per sender


BASIC = {
    # scenario: (signal, si_code, code name, union member)
    "raise": (signal.SIGUSR1, SI_TKILL, "SI_TKILL", "rt"),
    "kill": (signal.SIGUSR2, SI_USER, "SI_USER", "kill"),
    "tgkill": (signal.SIGUSR1, SI_TKILL, "SI_TKILL", "rt"),
    "sigqueue": (SIGRTMIN_GLIBC + 1, SI_QUEUE, "SI_QUEUE", "rt"),
    "timer": (signal.SIGALRM, SI_TIMER, "SI_TIMER", "timer"),
    "chld": (signal.SIGCHLD, 1, "CLD_EXITED", "sigchld"),
    "mask": (signal.SIGUSR1, SI_TKILL, "SI_TKILL", "rt"),
}


@pytest.mark.parametrize("scenario", list(BASIC))
def test_basic_delivery(scenario: str) -> None:
    run = run_target("sig_basic", scenario)
    delivered, frame = only_one(run)
    rep = run.report(scenario)
    sig, code, code_name, layout = BASIC[scenario]
    check_frame_against_report(frame, rep)
    assert_entered_at_handler(run, frame, rep)
    assert_clean_x86_64(run, delivered, frame)
    info = frame.siginfo
    assert info is not None
    assert (info.si_signo, info.si_code, info.code_name, info.layout) == (
        sig, code, code_name, layout)
    assert delivered.disposition == "handler"
    if code in (SI_USER, SI_TKILL, SI_QUEUE):
        assert info.fields["si_pid"] == run.pid  # sent to itself
    if scenario == "sigqueue":
        assert info.fields["si_value"] == rep["value"] == 0x1234ABCD
    elif scenario == "timer":
        assert info.fields["si_value"] == rep["value"] == 0xFEEDBEEF
        assert info.fields["si_tid"] == rep["timerid"] == run.report("timer_id")["ktimer"]
        assert info.fields["si_overrun"] == rep["overrun"]
        # the kernel saved the pre-sigsuspend mask (SIGALRM blocked)
        assert frame.sigmask == 1 << (signal.SIGALRM - 1)
    elif scenario == "chld":
        parent = run.report("chld_parent")
        assert info.fields["si_pid"] == parent["child"] != run.pid
        assert info.fields["si_status"] == 7 and parent["wstatus"] == 0x700
        assert frame.sigmask == 1 << (signal.SIGCHLD - 1)
        assert not run.of(ev.NewTask)  # follow=False: the child was not traced
    elif scenario == "mask":
        # interrupted mask {SIGUSR2, SIGRTMIN}; not the in-handler mask (curmask)
        assert frame.sigmask == rep["mask"] == (1 << 11) | (1 << (SIGRTMIN_GLIBC - 1))
        assert frame.sigmask != rep["curmask"]
        assert "SIGUSR2" in frame.sigmask_names
    else:
        assert frame.sigmask == 0
    assert run.of(ev.Exited)[-1].status == 0


def test_handler_without_siginfo_has_stale_info() -> None:
    """x86_64 handler without SA_SIGINFO: the frame's info bytes are not written
    (the target reports only sig); sigdbg must not present them as valid."""
    run = run_target("sig_basic", "nosiginfo")
    delivered, frame = only_one(run)
    rep = run.report("nosiginfo")
    assert frame.sig == rep["sig"] == signal.SIGUSR1
    assert not frame.siginfo_valid
    assert any("SA_SIGINFO" in p for p in frame.problems), frame.problems
    assert delivered.siginfo.si_signo == signal.SIGUSR1
    assert_libc_restorer(frame)
    assert set(rep) == {"tag", "sig"}


@pytest.mark.parametrize("scenario,sig", [("ignored", signal.SIGUSR2),
                                          ("default_nonfatal", signal.SIGWINCH)])
def test_ignored_signal_has_no_frame(scenario: str, sig: int) -> None:
    run = run_target("sig_basic", scenario)
    (d,) = run.deliveries()
    assert d.siginfo.si_signo == sig and d.siginfo.si_code == SI_TKILL
    assert d.disposition == "ignored"
    assert not run.of(ev.HandlerEntered)
    assert run.reports == [] and "SIGDBG-DONE" in run.stdout
    assert run.of(ev.Exited)[-1].status == 0


# --------------------------------------------------------------------------
# sig_fault: hardware faults


FAULTS = {
    # scenario: (signal, si_code, code name, trapno, err or None)
    "maperr_read": (signal.SIGSEGV, 1, "SEGV_MAPERR", 14, 4),
    "maperr_write": (signal.SIGSEGV, 1, "SEGV_MAPERR", 14, 6),
    "accerr": (signal.SIGSEGV, 2, "SEGV_ACCERR", 14, 6),
    "fpe": (signal.SIGFPE, 1, "FPE_INTDIV", 0, 0),
    "ill": (signal.SIGILL, 2, "ILL_ILLOPN", 6, 0),
    "trap": (signal.SIGTRAP, SI_KERNEL, "SI_KERNEL", 3, 0),
}


@pytest.mark.parametrize("scenario", list(FAULTS))
def test_fault(scenario: str) -> None:
    run = run_target("sig_fault", scenario)
    delivered, frame = only_one(run)
    rep = run.report(scenario)
    sig, code, code_name, trapno, err = FAULTS[scenario]
    check_frame_against_report(frame, rep)
    assert_clean_x86_64(run, delivered, frame)
    info = frame.siginfo
    assert info is not None
    assert (info.si_signo, info.si_code, info.code_name) == (sig, code, code_name)
    mc = frame.mcontext
    assert mc["trapno"] == trapno and mc["err"] == err
    assert delivered.pc == rep["pc"]  # the delivery-stop pc is the interrupted pc
    if scenario == "trap":
        assert info.layout == "kill" and info.fields == {"si_pid": 0, "si_uid": 0}
        assert rep["pc"] == rep["insn"] + 1  # past the int3
    else:
        assert info.layout == "sigfault"
        assert mc["rip"] == rep["insn"]  # the faulting instruction itself
    if scenario.startswith("maperr"):
        assert info.fields["si_addr"] == mc["cr2"] == 0x10
    elif scenario == "accerr":
        page = run.report("accerr_page")["page"]
        assert info.fields["si_addr"] == mc["cr2"] == page
    elif scenario in ("fpe", "ill"):
        assert info.fields["si_addr"] == rep["insn"]
    assert run.of(ev.Exited)[-1].status == 0


def test_fatal_segv_x86_64() -> None:
    run = run_target("sig_fault", "fatal_segv")
    (d,) = run.deliveries()
    assert d.disposition == "fatal"
    assert d.siginfo.si_signo == signal.SIGSEGV and d.siginfo.code_name == "SEGV_MAPERR"
    assert d.siginfo.fields["si_addr"] == 0x10
    assert not run.of(ev.HandlerEntered)
    (k,) = run.of(ev.Killed)
    assert k.signal == signal.SIGSEGV and k.pid == run.pid
    assert run.reports == [] and "SIGDBG-DONE" not in run.stdout


def test_fatal_segv_i386() -> None:
    run = run_target("fatal.i386")
    rep = run.report("fatal")
    (d,) = run.deliveries()
    assert d.disposition == "fatal"
    assert d.siginfo.si_signo == signal.SIGSEGV and d.siginfo.code_name == "SEGV_MAPERR"
    assert d.siginfo.fields["si_addr"] == rep["addr"] == 0x10
    assert d.pc == rep["pc"]
    assert not run.of(ev.HandlerEntered)
    (k,) = run.of(ev.Killed)
    assert k.signal == signal.SIGSEGV


# --------------------------------------------------------------------------
# sigaltstack, nesting, restorers


@pytest.mark.parametrize("scenario,flags", [("onstack", 0), ("autodisarm", 0x80000000)])
def test_altstack(scenario: str, flags: int) -> None:
    run = run_target("sig_altstack", scenario)
    delivered, frame = only_one(run)
    rep = run.report(scenario)
    check_frame_against_report(frame, rep)
    assert_clean_x86_64(run, delivered, frame)
    base, size = rep["altbase"], rep["altsize"]
    assert isinstance(base, int) and isinstance(size, int)
    assert rep["onstack"] == 1
    assert frame.on_altstack
    assert frame.uc_stack is not None
    assert (frame.uc_stack["ss_sp"], frame.uc_stack["ss_flags"] & U32,
            frame.uc_stack["ss_size"]) == (base, flags, size)
    assert base <= frame.address < frame.address + 440 <= base + size
    # the frame is at the top of the altstack, not below the interrupted rsp
    assert not frame.address < frame.sp < frame.address + 0x10000
    fp = frame.fpstate
    assert fp is not None and fp.address + fp.size <= base + size


def test_nested_signal() -> None:
    """SIGUSR2 raised inside the SIGUSR1 handler: two frames on one stack, the
    inner one below the outer one, its interrupted context inside the outer
    handler's execution."""
    syms = abs_symbols(target("sig_nested"))
    scan: dict[str, object] = {}
    s_entered: list[ev.HandlerEntered] = []

    def on_event(s: Session, e: ev.Event) -> bool:
        if isinstance(e, ev.HandlerEntered) and e.frame.sig == signal.SIGUSR2:
            outer = [x for x in s_entered if x.frame.sig == signal.SIGUSR1][0]
            lo, hi = e.frame.sp, outer.frame.address
            words = s.task.read(lo, hi - lo)
            scan["words"] = [int.from_bytes(words[i:i + 8], "little")
                             for i in range(0, len(words) - 7, 8)]
        if isinstance(e, ev.HandlerEntered):
            s_entered.append(e)
        return False

    run = run_target("sig_nested", on_event=on_event)
    pairs = handled(run)
    assert [f.sig for _, f in pairs] == [signal.SIGUSR1, signal.SIGUSR2]
    (d_out, outer), (d_in, inner) = pairs
    rep_out, rep_in = run.report("outer"), run.report("inner")
    check_frame_against_report(outer, rep_out)
    check_frame_against_report(inner, rep_in)
    assert_clean_x86_64(run, d_out, outer)
    assert_clean_x86_64(run, d_in, inner)
    assert rep_out["depth"] == 1 and rep_in["depth"] == 2
    # inner frame below the outer frame, built on the stack the outer handler ran on
    assert inner.address + 440 < outer.address
    assert inner.address < inner.sp < outer.address
    # SIGUSR1 is blocked while its handler runs: the inner frame saved that mask
    assert inner.sigmask == rep_in["mask"] == 1 << (signal.SIGUSR1 - 1)
    assert outer.sigmask == 0
    # handlers are the target's own functions (ELF symbols, one load bias)
    entered = run.of(ev.HandlerEntered)
    bias = entered[0].handler - syms["outer"][0]
    assert entered[1].handler == bias + syms["inner"][0]
    # The inner signal interrupted raise() (libc) called *from* the outer
    # handler: between the inner interrupted sp and the outer frame the stack
    # holds a return address inside `outer`.
    start, size = bias + syms["outer"][0], syms["outer"][1]
    words = scan["words"]
    assert isinstance(words, list)
    assert any(start < w < start + size for w in words), "no return address into outer()"


def test_program_restorer_x86_64() -> None:
    run = run_target("sig_restorer")
    delivered, frame = only_one(run)
    rep = run.report("restorer")
    check_frame_against_report(frame, rep)
    assert frame.problems == () and frame.siginfo_valid
    assert frame.pretcode == rep["restorer"] == rep["retaddr"]
    r = frame.restorer
    assert r.kind == "program" and r.symbol == "my_restorer"
    assert r.mapping == run.exe
    assert r.syscall == "rt_sigreturn" and r.pattern == "mov $15,%eax; syscall"
    assert r.code.startswith(bytes.fromhex("b80f0000000f05"))
    assert_same_siginfo(delivered, frame)


# --------------------------------------------------------------------------
# i386 (ia32 compat) frames


I386_RT = ["rt", "restorer", "sigqueue", "altstack"]


@pytest.mark.parametrize("scenario", I386_RT)
def test_i386_rt_frame(scenario: str) -> None:
    run = run_target("sig_basic.i386", scenario)
    delivered, frame = only_one(run)
    rep = run.report(scenario)
    check_frame_against_report(frame, rep)
    assert_entered_at_handler(run, frame, rep)
    assert frame.kind == "rt_sigframe_ia32" and frame.abi == "i386" and frame.size == 268
    assert frame.problems == ()
    assert frame.pinfo == rep["infop"] == frame.address + 16
    assert frame.puc == rep["ucp"] == frame.address + 144
    assert frame.retcode_ok is True and frame.retcode == bytes.fromhex("b8ad000000cd8000")
    assert (frame.address + 4) % 16 == 0
    assert frame.mcontext["cs"] == 0x23
    # every scenario blocks SIGUSR2 (12) and signal 40: both mask words
    assert frame.sigmask == rep["mask"] == (1 << 11) | (1 << 39)
    info = frame.siginfo
    assert info is not None and frame.siginfo_valid
    assert info.fields["si_pid"] == run.pid
    assert_same_siginfo(delivered, frame)
    fp = frame.fpstate
    assert fp is not None and fp.fxsave_address == fp.address + 112
    assert fp.address % 64 == 16
    r = frame.restorer
    if scenario == "restorer":
        assert frame.pretcode == rep["restorer"]
        assert r.kind == "program" and r.symbol == "my_restorer" and r.mapping == run.exe
        assert r.syscall == "rt_sigreturn"
    else:
        assert r.kind == "vdso" and r.mapping == "[vdso]"
        assert r.symbol is not None and r.symbol.startswith("__kernel_rt_sigreturn")
        assert r.syscall == "rt_sigreturn"
        vdso = rep["vdso"]
        assert isinstance(vdso, int) and vdso < frame.pretcode < vdso + 0x2000
    if scenario == "sigqueue":
        assert info.si_code == SI_QUEUE and info.fields["si_value"] == rep["value"] == 0x1234ABCD
    else:
        assert info.si_code == SI_TKILL
    if scenario == "altstack":
        assert frame.on_altstack
        assert frame.uc_stack == {"ss_sp": rep["altbase"], "ss_flags": 0,
                                  "ss_size": rep["altsize"]}
        base = rep["altbase"]
        assert isinstance(base, int)
        assert base <= frame.address < base + 0x10000
    else:
        assert not frame.on_altstack
        assert frame.uc_stack == {"ss_sp": 0, "ss_flags": 0, "ss_size": 0}


def test_i386_segv() -> None:
    run = run_target("sig_basic.i386", "segv")
    delivered, frame = only_one(run)
    rep = run.report("segv")
    check_frame_against_report(frame, rep)
    assert frame.kind == "rt_sigframe_ia32" and frame.problems == ()
    info = frame.siginfo
    assert info is not None
    assert (info.si_signo, info.code_name, info.fields["si_addr"]) == (
        signal.SIGSEGV, "SEGV_MAPERR", rep["addr"])
    assert rep["addr"] == 0x10 and frame.mcontext["cr2"] == 0x10
    assert frame.mcontext["trapno"] == 14 and frame.mcontext["err"] == 6
    assert delivered.pc == rep["pc"]
    syms = abs_symbols(target("sig_basic.i386"))  # static, non-PIE: no bias
    assert frame.pc == syms["sig32_segv_store"][0]  # == the label sig32_segv_fault
    assert_same_siginfo(delivered, frame)


@pytest.mark.parametrize("scenario", ["nonrt", "nonrt_old"])
def test_i386_sigframe_without_siginfo(scenario: str) -> None:
    run = run_target("sig_basic.i386", scenario)
    _, frame = only_one(run)
    rep = run.report(scenario)
    assert frame.kind == "sigframe_ia32" and frame.size == 732
    assert frame.problems == ()
    assert frame.address == rep["scp"] - 8 and frame.mcontext_address == rep["scp"]
    assert frame.sig == rep["sig"] == signal.SIGUSR1
    assert frame.siginfo is None and frame.pinfo is None and frame.puc is None
    assert frame.uc_stack is None
    assert frame.mcontext["ip"] == rep["pc"] and frame.mcontext["sp"] == rep["sp"]
    assert frame.sigmask == rep["mask"] == (1 << 11) | (1 << 39)
    assert frame.mcontext["oldmask"] == rep["mask"] & U32
    assert frame.pretcode == rep["pretcode"]
    assert frame.retcode_ok is True and frame.retcode == bytes.fromhex("58b877000000cd80")
    r = frame.restorer
    assert r.kind == "vdso" and r.mapping == "[vdso]"
    assert r.symbol is not None and r.symbol.startswith("__kernel_sigreturn")
    assert r.syscall == "sigreturn"
    vdso = rep["vdso"]
    assert isinstance(vdso, int) and vdso < frame.pretcode < vdso + 0x2000
    fp = frame.fpstate
    assert fp is not None and fp.address == frame.address + 740


# --------------------------------------------------------------------------
# vector registers in the XSAVE area


def xmm_pattern(n: int) -> int:
    return int.from_bytes(bytes((n << 4) | i for i in range(16)), "little")


def ymm_hi_pattern(n: int) -> int:
    return int.from_bytes(bytes(0xFF ^ ((n << 4) | i) for i in range(16)), "little")


@pytest.mark.parametrize("args", [(), ("sse",)], ids=["auto", "sse"])
def test_xmm_ymm_pattern(args: tuple[str, ...]) -> None:
    run = run_target("sig_xmm", *args)
    delivered, frame = only_one(run)
    rep = run.report("xmm")
    assert rep["match"] == 1  # the target itself found its pattern in the frame
    check_frame_against_report(frame, rep)
    assert_clean_x86_64(run, delivered, frame)
    fp = frame.fpstate
    assert fp is not None
    lo64 = (1 << 64) - 1
    assert fp.mxcsr == rep["mxcsr"] == 0x9F80
    assert (fp.xmm[0] & lo64, fp.xmm[0] >> 64) == (rep["xmm0lo"], rep["xmm0hi"])
    assert (fp.xmm[15] & lo64, fp.xmm[15] >> 64) == (rep["xmm15lo"], rep["xmm15hi"])
    assert list(fp.xmm) == [xmm_pattern(n) for n in range(16)]
    if args == ("sse",):
        assert rep["avx"] == 0
    if rep["avx"]:
        assert fp.format == "xsave"
        assert fp.magic1 == 0x46505853 and fp.magic2 == 0x46505845
        assert fp.xstate_bv == rep["xstate_bv"] and fp.xstate_bv is not None
        assert fp.xstate_bv & 4
        # where sigdbg reads YMM_Hi128 is where this CPU keeps it: the
        # target's own CPUID.(0xD,2).EBX
        assert xsave.ymm_offset() == rep["ymmoff"]
        assert fp.ymm_hi is not None and fp.ymm is not None
        assert (fp.ymm_hi[0] & lo64, fp.ymm_hi[0] >> 64) == (rep["ymm0uplo"], rep["ymm0uphi"])
        assert (fp.ymm_hi[15] & lo64, fp.ymm_hi[15] >> 64) == (
            rep["ymm15uplo"], rep["ymm15uphi"])
        assert list(fp.ymm_hi) == [ymm_hi_pattern(n) for n in range(16)]
        assert list(fp.ymm) == [xmm_pattern(n) | ymm_hi_pattern(n) << 128 for n in range(16)]


def _cpuinfo_flags() -> set[str]:
    for line in open("/proc/cpuinfo"):
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    raise AssertionError("no flags line in /proc/cpuinfo")


def test_xsave_layout_agrees_with_the_kernel() -> None:
    """The XSAVE offsets sigdbg uses (CPUID leaf 0xD) against the kernel: the
    frame's xstate_size is the end of the last component the kernel enabled
    for user space (arch/x86/kernel/fpu/xstate.c), and the components are
    those /proc/cpuinfo announces.  Holds on Intel and AMD, with or without
    AVX-512 and PKU: nothing here is a vendor's constant."""
    from sigdbg.abi.x86.xstate_layout import xstate_offsets

    run = run_target("sig_basic", "raise")
    _, frame = only_one(run)
    fp = frame.fpstate
    assert fp is not None and fp.format == "xsave"
    offsets = xstate_offsets()
    assert offsets is not None
    # every user component the kernel put in the frame's xfeatures is known,
    # and together they end where the kernel says the image ends
    enabled = [i for i in range(64) if fp.xfeatures >> i & 1]
    assert set(enabled) <= set(offsets)
    assert max(offsets[i][0] + offsets[i][1] for i in enabled) == fp.xstate_size
    # (one way only: a kernel may hide a feature the CPU has, e.g. nopku)
    flags = _cpuinfo_flags()
    assert "avx" not in flags or 2 in offsets
    assert "avx512f" not in flags or {5, 6, 7} <= set(offsets)
    assert "pku" not in flags or 9 in offsets


def test_fp_states_at_one_address_decode_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    """FP states are decoded once per byte image: with ASLR off and argv and
    environment of one length, AVX, SSE-only and AVX deliveries put their
    XSAVE areas at the same address.  Each must decode to what that run's own
    handler reported -- never to another run's area --, runs with equal
    registers decode to equal values, and the number of decodes is the number
    of distinct byte images (read from the stopped tracee).

    The images are not a function of the registers alone: XSAVE leaves
    components in their init state unwritten (arch/x86/kernel/fpu/xstate.h
    ``xsave_to_user_sigframe``; which ones depends on the CPU: AVX-512, PKU),
    so those bytes are stale stack.  The last run puts other stale bytes
    there (SIGDBG_XMM_STALE, targets/sig_xmm.c) with the same registers."""
    setarch = shutil.which("setarch")
    assert setarch is not None, "setarch (util-linux) is needed to turn ASLR off"
    decodes: list[int] = []
    real_decode = xsave._decode

    def counting(mem: Any, abi: Any, fpstate: int) -> xsave.FpState:
        decodes.append(fpstate)
        return real_decode(mem, abi, fpstate)

    monkeypatch.setattr(xsave, "_decode", counting)
    monkeypatch.setattr(xsave, "_LAST_AREA", {})
    xsave._decode_blob.cache_clear()
    states = []
    images: list[bytes] = []
    for arg, stale in (("avx", "11"), ("sse", "11"), ("avx", "11"), ("avx", "22")):
        env = {**os.environ, "SIGDBG_XMM_STALE": stale}
        argv = [setarch, os.uname().machine, "-R", target("sig_xmm"), arg]
        with tempfile.TemporaryFile() as out:
            with sigdbg.launch(argv, env=env, stdout=out.fileno()) as s:
                frames = []
                for e in s.events():
                    if isinstance(e, ev.HandlerEntered):
                        fp = e.frame.fpstate
                        assert fp is not None
                        task = s.tracer.task(e.tid)
                        head = task.read(fp.address, 112 + XSAVE_EXTENDED_OFFSET)
                        images.append(task.read(fp.address,
                                                xsave.fpstate_extent(X86_64, head)))
                        frames.append(e.frame)
            out.seek(0)
            reports = parse_reports(out.read().decode())
        (frame,) = frames
        (rep,) = reports
        fp = frame.fpstate
        assert rep["match"] == 1 and fp is not None
        assert list(fp.xmm) == [xmm_pattern(n) for n in range(16)]
        assert fp.mxcsr == rep["mxcsr"]
        if rep["avx"]:
            assert fp.xstate_bv == rep["xstate_bv"]
            assert list(fp.ymm_hi or ()) == [ymm_hi_pattern(n) for n in range(16)]
        else:  # YMM in its init state: architecturally zero, not the AVX run's
            assert fp.xstate_bv is not None and not fp.xstate_bv & 4
            assert not any(fp.ymm_hi or ())
        states.append((rep["avx"], fp))
    (avx1, a), (sse, b), (avx2, c), (avx3, d) = states
    assert a.address == b.address == c.address == d.address  # the memo saw one address
    assert len(decodes) == len(set(images))  # one decode per distinct byte image
    if avx1 == avx2 == avx3:
        assert a == c == d  # the same registers: the same values, whatever the stale bytes
    if avx1 and not sse:
        assert b != a and b.ymm_hi != a.ymm_hi


# --------------------------------------------------------------------------
# unreadable and scribbled frames on a live, stopped process


def _stop_at_first_handler(check):  # type: ignore[no-untyped-def]
    """on_event that runs ``check(session, event)`` at the first handler entry
    and then ends the run (the session is closed: the tracee is killed)."""
    def on_event(s: Session, e: ev.Event) -> bool:
        if isinstance(e, ev.HandlerEntered):
            check(s, e)
            return True
        return False
    return on_event


def _redecode(s: Session, e: ev.HandlerEntered, **kw: object) -> SigFrame:
    return decode_sigframe(s.task, s.abi, e.frame.address, maps=s.maps(), lookup=s.lookup,
                           exe_path=s.exe_path(), signo=e.frame.sig, **kw)  # type: ignore[arg-type]


def test_unmapped_frame_address_live() -> None:
    seen: dict[str, BaseException] = {}

    def check(s: Session, e: ev.HandlerEntered) -> None:
        # clean re-decode first: the live decode path itself is sound
        # (no `assert a == b` on whole frames: pytest's diff of two large
        # reprs can take minutes)
        again = _redecode(s, e)
        differ = [f.name for f in dataclasses.fields(again)
                  if getattr(again, f.name) != getattr(e.frame, f.name)]
        assert not differ, f"decoding the same stopped frame twice differs in {differ}"
        with pytest.raises(MemoryReadError) as err:
            decode_sigframe(s.task, s.abi, 0x10)
        seen["zero"] = err.value
        # a frame whose bytes run off the end of a mapping into a hole
        maps = s.maps().mappings
        starts = {m.start for m in maps}
        edge = next(m for m in maps if m.readable and m.end not in starts
                    and m.path not in ("[vvar]", "[vvar_vclock]", "[vsyscall]"))
        addr = edge.end - 100
        with pytest.raises(MemoryReadError) as err2:
            decode_sigframe(s.task, s.abi, addr)
        seen["edge"] = err2.value
        assert err2.value.address == addr

    run = run_target("sig_basic", "raise", on_event=_stop_at_first_handler(check))
    assert set(seen) == {"zero", "edge"}
    for exc in seen.values():
        assert isinstance(exc, SigdbgError)
        assert "\n" not in str(exc) and str(exc)
    assert "0x10" in str(seen["zero"])
    assert not run.of(ev.Exited)  # the run was ended at the handler, not resumed


def _u64(v: int) -> bytes:
    return v.to_bytes(8, "little")


def _u32(v: int) -> bytes:
    return v.to_bytes(4, "little")


# name: (offset from the frame or "fp+N", bytes, expected problem substring)
SCRIBBLES_64 = {
    "pretcode": (0, _u64(0x10), "pretcode 0x10 does not point at a known sigreturn"),
    "si_signo": (312, _u32(12), "info.si_signo does not match"),
    "fpstate_unmapped": (232, _u64(0x10), "fpstate at 0x10 could not be decoded"),
    "fpstate_inside": (232, "frame+0x40", "points inside or below the frame"),
    "rsp_below_frame": (168, "frame-0x100", "is not above the frame"),
    "magic1": ("fp+464", _u32(0xDEADBEEF), "magic1 is 0xdeadbeef"),
    "magic2": ("fp+xsize", _u32(0x12345678), "magic2 is 0x12345678"),
    "xcomp_bv": ("fp+520", _u64(1 << 63), "compacted format"),
}


@pytest.mark.parametrize("name", list(SCRIBBLES_64))
def test_scribbled_frame_x86_64(name: str) -> None:
    """The handler's frame overwritten in place (as a buggy handler would) and
    decoded again: the damage shows up as a problem line, never as a crash."""
    where, data, expect = SCRIBBLES_64[name]
    out: dict[str, SigFrame] = {}

    def check(s: Session, e: ev.HandlerEntered) -> None:
        f = e.frame
        assert f.problems == () and f.fpstate is not None
        fp = f.fpstate.address
        if isinstance(where, int):
            addr = f.address + where
        elif where == "fp+xsize":
            addr = fp + f.fpstate.xstate_size
        else:
            addr = fp + int(where[3:])
        payload = data
        if isinstance(data, str):
            delta = int(data[6:], 16) * (1 if data[5] == "+" else -1)
            payload = _u64(f.address + delta)
        assert isinstance(payload, bytes)
        s.task.write(addr, payload)
        out["frame"] = _redecode(s, e)

    run_target("sig_basic", "raise", on_event=_stop_at_first_handler(check))
    frame = out["frame"]
    assert any(expect in p for p in frame.problems), frame.problems
    assert all("\n" not in p for p in frame.problems)
    frame.to_json()  # still renderable
    frame.regions  # noqa: B018
    if name == "pretcode":
        assert frame.restorer.kind == "unknown" and frame.restorer.syscall is None
    if name == "si_signo":
        assert not frame.siginfo_valid and frame.sig == signal.SIGUSR1
    if name == "fpstate_unmapped":
        assert frame.fpstate is None
    if name == "magic1":
        assert frame.fpstate is not None and frame.fpstate.format == "fxsave"
        assert frame.fpstate.ymm_hi is None


SCRIBBLES_32 = {
    "retcode": (260, bytes(8), None, "retcode bytes 0000000000000000 differ"),
    "pinfo_forced": (8, _u32(0), "rt_sigframe_ia32", "pinfo 0x0 does not point"),
    "puc_forced": (12, _u32(0), "rt_sigframe_ia32", "puc 0x0 does not point"),
    "fsave_magic": ("fp+110", (5).to_bytes(2, "little"), None, "_fpstate_32.magic is 0x5"),
    "sig_slot": (4, _u32(12), None, "frame says signal 12"),
}


@pytest.mark.parametrize("name", list(SCRIBBLES_32))
def test_scribbled_frame_i386(name: str) -> None:
    where, data, kind, expect = SCRIBBLES_32[name]
    out: dict[str, SigFrame] = {}

    def check(s: Session, e: ev.HandlerEntered) -> None:
        f = e.frame
        assert f.kind == "rt_sigframe_ia32" and f.problems == () and f.fpstate is not None
        addr = f.address + where if isinstance(where, int) else f.fpstate.address + int(
            where[3:])
        s.task.write(addr, data)
        kw = {"kind": kind} if kind else {}
        out["frame"] = _redecode(s, e, **kw)

    run_target("sig_basic.i386", "rt", on_event=_stop_at_first_handler(check))
    frame = out["frame"]
    assert any(expect in p for p in frame.problems), frame.problems
    frame.to_json()
    frame.regions  # noqa: B018
    if name == "retcode":
        assert frame.retcode_ok is False


def test_i386_rt_frame_with_clobbered_argument_slots() -> None:
    """pinfo and puc are the handler's 2nd and 3rd cdecl stack arguments: the
    callee owns them and a C handler may reuse them as scratch (the kernel's
    rt_sigreturn never reads them; it finds the frame from esp).  The frame is
    still the rt_sigframe_ia32 the target reported from inside its handler, so
    a decode of it (shell/GDB ``frame`` mid-handler, kind not known) must say
    so -- the rt retcode at +260 and the pretcode's __kernel_rt_sigreturn
    both identify it -- and must give the reported mask and registers."""
    out: dict[str, SigFrame] = {}

    def check(s: Session, e: ev.HandlerEntered) -> None:
        assert e.frame.kind == "rt_sigframe_ia32" and e.frame.problems == ()
        out["entry"] = e.frame
        s.task.write(e.frame.address + 8, _u32(0) + _u32(0))  # pinfo, puc
        out["frame"] = _redecode(s, e)

    run_target("sig_basic.i386", "rt", on_event=_stop_at_first_handler(check))
    # the run ends at handler entry (the handler would dereference the zeroed
    # pinfo); truth is the intact entry decode, which test_i386_rt_frame
    # checks against this scenario's report, and the mask every
    # sig_basic.i386 scenario blocks (SIGUSR2 and signal 40)
    entry, frame = out["entry"], out["frame"]
    assert frame.kind == "rt_sigframe_ia32", (frame.kind, frame.problems)
    assert frame.sigmask == entry.sigmask == (1 << 11) | (1 << 39)
    assert frame.mcontext == entry.mcontext
