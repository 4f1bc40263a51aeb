"""The program's own traps, and handlers that never return: traced as untraced.

Independent truth: the same program run untraced (its stdout, written from
inside its handlers, and its exit status), and the registers the kernel
restored at sigreturn.

- sig_traps / sig_traps.i386: a program that sets EFLAGS.TF itself (popf),
  int3 and ud2 with handlers, a handler that sets TF in its saved context,
  a handler whose sa_mask blocks SIGTRAP (fillmask).
  Untraced, each counts its own SIGTRAPs / SIGILLs; under sigdbg it must get
  exactly the same ones: sigdbg may not take the program's TRAP_TRACE for its
  own step, nor make the kernel reset a blocked SIGTRAP to SIG_DFL by
  trapping inside a SIGTRAP handler (force_sig_fault), nor clear the
  program's TF when it steps the sigreturn that restores it.
- sig_noreturn: siglongjmp out of thousands of handlers in a row, a 5 kHz
  timer under --step-sigreturn, a signal arriving at the sigreturn call.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile

import pytest

import sigdbg
from sigdbg.engine import events as ev
from sigdbg.engine.session import Session
from tests.conftest import parse_reports, target
from tests.integration.helpers_sig import run_target

TIMEOUT = 50

TRAP_CASES = [(prog, mode) for prog in ("sig_traps", "sig_traps.i386")
              for mode in ("tf", "int3", "ud2", "tf_ctx")] + [("sig_traps", "fillmask")]
COMMANDS = {"trace": ["trace"], "step": ["trace", "--step-sigreturn"], "frame": ["frame"]}


def untraced(argv: list[str]) -> tuple[str, int]:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT)
    rc = proc.returncode
    return proc.stdout, 128 - rc if rc < 0 else rc  # shell-style, as sigdbg reports it


def under_sigdbg(command: list[str], argv: list[str]) -> tuple[str, int]:
    """The program's own lines of stdout and sigdbg's exit status (the
    program's: sigdbg exits with it).  The trace goes to a file; `frame`
    writes its decode to the stdout the program shares, so only the
    program's SIGDBG- lines are kept."""
    with tempfile.TemporaryDirectory() as tmp:
        extra = ["-o", os.path.join(tmp, "trace")] if command[0] == "trace" else []
        proc = subprocess.run([sys.executable, "-m", "sigdbg", *command, *extra, "--", *argv],
                              capture_output=True, text=True, timeout=TIMEOUT)
    assert "error" not in proc.stderr, proc.stderr
    lines = [ln for ln in proc.stdout.splitlines(keepends=True) if ln.startswith("SIGDBG-")]
    return "".join(lines), proc.returncode


@pytest.mark.parametrize("how", sorted(COMMANDS))
@pytest.mark.parametrize("prog,mode", TRAP_CASES)
def test_own_traps_as_untraced(prog: str, mode: str, how: str) -> None:
    argv = [target(prog), mode]
    want_out, want_rc = untraced(argv)
    assert want_rc == 0 and want_out.count("SIGDBG-REPORT") > 8  # the program's own check
    got_out, got_rc = under_sigdbg(COMMANDS[how], argv)
    assert (got_out, got_rc) == (want_out, want_rc)


@pytest.mark.parametrize("prog", ["sig_traps", "sig_traps.i386"])
def test_program_tf_traps_are_delivered_not_swallowed(prog: str) -> None:
    """Every TRAP_TRACE of the program's own TF is a delivery to its handler
    (not a 'stepped' event of sigdbg's), at the address it reports."""
    want, _ = untraced([target(prog), "tf"])
    run = run_target(prog, "tf")
    delivered = [e for e in run.deliveries() if e.siginfo.si_signo == signal.SIGTRAP]
    reports = [r for r in run.reports if r["tag"] == "tf"]
    assert reports == [r for r in parse_reports(want) if r["tag"] == "tf"]
    # (how many traps a round gives is the CPU's business: the untraced run says)
    assert len(reports) >= 3 * 8 and len(delivered) == len(reports)
    assert all(e.disposition == "handler" for e in delivered)
    assert not run.of(ev.Stepped)
    addrs = [e.siginfo.fields["si_addr"] for e in delivered]
    base = addrs[0] - int(reports[0]["off"])
    assert [a - base for a in addrs] == [r["off"] for r in reports]


def trace_steps(argv: list[str], on_event=None) -> tuple[list[ev.Event], str, int]:  # type: ignore[no-untyped-def]
    with tempfile.TemporaryFile() as out:
        with sigdbg.launch(argv, stdout=out.fileno()) as s:
            events = []
            for e in s.events(step_sigreturn=True):
                events.append(e)
                if on_event is not None:
                    on_event(s, e)
            status = s.exit_status
        out.seek(0)
        return events, out.read().decode(), status if status is not None else -1


@pytest.mark.parametrize("prog", ["sig_traps", "sig_traps.i386"])
def test_tf_restored_by_stepped_sigreturn_survives(prog: str) -> None:
    """The SIGUSR1 handler sets TF in its saved context: sigdbg steps that
    sigreturn and the registers show TF restored (compared with the frame,
    no difference), and the program then traps on its own."""
    events, out, status = trace_steps([target(prog), "tf_ctx"])
    assert status == 0
    entered = [e for e in events if isinstance(e, ev.SigreturnEntered)]
    restored = [e for e in events if isinstance(e, ev.ContextRestored)]
    assert restored and all(r.matches for r in restored), [r.differences for r in restored]
    flags = "eflags"
    usr1 = [i for i, e in enumerate(entered) if e.frame.sig == signal.SIGUSR1]
    assert len(usr1) == 2
    for i in usr1:
        name = "eflags" if "eflags" in entered[i].frame.mcontext else "flags"
        assert entered[i].frame.mcontext[name] & 0x100  # the handler set it
        changes = {c[0]: c for c in entered[i].changes.changes}
        assert f"mcontext.{name}" in changes
        assert restored[i].registers[flags] & 0x100  # and sigreturn restored it
    assert [r["tag"] for r in parse_reports(out)].count("tf_ctx") == 8


def test_siglongjmp_storm_is_followed_iteratively() -> None:
    """3000 handlers left by siglongjmp in a row: no recursion limit, each
    walk ends for the right reason, the program's outcome is untouched."""
    argv = [target("sig_noreturn"), "longjmp", "3000"]
    want_out, want_rc = untraced(argv)
    events, out, status = trace_steps(argv)
    assert (out, status) == (want_out, want_rc)
    entered = [e for e in events if isinstance(e, ev.HandlerEntered)]
    abandoned = [e for e in events if isinstance(e, ev.SigreturnAbandoned)]
    assert len(entered) == 3000 and len(abandoned) == 3000
    assert all("siglongjmp" in a.reason for a in abandoned[:-1])
    last = abandoned[-1].reason
    assert "left without sigreturn" in last and "exit status 0" in last
    assert abandoned[-1].pc != 0
    assert not any("_exit in the handler" in a.reason for a in abandoned)
    assert not [e for e in events if isinstance(e, ev.ContextRestored)]


def test_siglongjmp_with_nested_handler_as_untraced() -> None:
    """Each SIGUSR1 handler raises SIGUSR2 (followed to its own sigreturn)
    and then leaves by siglongjmp, 1000 times."""
    argv = [target("sig_noreturn"), "nested", "1000"]
    want_out, want_rc = untraced(argv)
    events, out, status = trace_steps(argv)
    assert (out, status) == (want_out, want_rc)
    restored = [e for e in events if isinstance(e, ev.ContextRestored)]
    assert len(restored) == 1000 and all(r.matches for r in restored)


def test_exit_in_handler_reason() -> None:
    events, _, status = trace_steps([target("sig_sigreturn"), "exit_in_handler"])
    assert status == 3
    (abandoned,) = [e for e in events if isinstance(e, ev.SigreturnAbandoned)]
    assert "inside the handler" in abandoned.reason and "exit status 3" in abandoned.reason
    assert abandoned.pc != 0


def test_signal_at_the_sigreturn_call_is_not_a_difference() -> None:
    """SIGUSR2 arrives while the tracee stands at SIGUSR1's rt_sigreturn
    syscall: it is delivered before the call runs (its frame's pc is that
    instruction); both sigreturns then restore exactly their frames."""
    sent: list[int] = []

    def on_event(s: Session, e: ev.Event) -> None:
        if isinstance(e, ev.SigreturnEntered) and not sent:
            os.kill(s.pid, signal.SIGUSR2)
            sent.append(e.frame.address)

    events, out, status = trace_steps([target("sig_noreturn"), "pending"], on_event)
    assert status == 0 and sent
    restored = [e for e in events if isinstance(e, ev.ContextRestored)]
    assert len(restored) == 2 and all(r.matches for r in restored), \
        [r.differences for r in restored]
    reports = {r["tag"]: r for r in parse_reports(out)}
    steps = [e for e in events if isinstance(e, ev.SigreturnStep)]
    syscall_at = [st.step.address for st in steps if st.step.syscall == "rt_sigreturn"]
    # SIGUSR2 interrupted the restorer at its syscall instruction
    assert reports["usr2"]["pc"] == syscall_at[-1]
    frames = [e.frame for e in events if isinstance(e, ev.HandlerEntered)]
    assert [f.sig for f in frames] == [signal.SIGUSR1, signal.SIGUSR2]
    assert frames[1].pc == reports["usr2"]["pc"]
    # the outer sigreturn restored the context SIGUSR1 interrupted
    assert restored[-1].registers["rip"] == reports["usr1"]["pc"]


@pytest.mark.parametrize("mode", ["timer", "posix_timer"])
def test_5khz_timer_under_step_sigreturn_progresses(mode: str) -> None:
    """A 5 kHz timer whose handler sigdbg steps slower than it fires: the
    program still does its work and exits as untraced."""
    argv = [target("sig_noreturn"), mode, "200"]
    want = untraced(argv)
    assert under_sigdbg(["trace", "--step-sigreturn"], argv) == want
