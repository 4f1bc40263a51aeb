"""sigdbg's decoded siginfo against strace's ``--- SIGxxx {...} ---`` lines.

The same target runs twice: once under ``strace -f -qq -e trace=none`` and
once under sigdbg (the Python API).  For every delivery, strace's line and
sigdbg's siginfo must name the same signal and si_code and carry the same
union fields.  Both the delivery-stop siginfo (PTRACE_GETSIGINFO, the
tracer's 64-bit layout) and, when a handler ran with SA_SIGINFO, the copy
decoded from the signal frame (the compat layout for i386) are compared.

Values that differ between two runs are compared by what they *mean* in
each run: a pid is "the traced process itself" or "the child the target
reported", a fault address is "the faulting instruction / page the target
reported" -- each run's own SIGDBG-REPORT lines say which.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from dataclasses import dataclass

import pytest

from sigdbg.decode.siginfo import SigInfo
from sigdbg.engine import events as ev
from tests.conftest import parse_reports, target
from tests.integration.helpers_sig import Report, Run, run_target

# strace pads the pid column ("%-5u "), so 4-digit pids are followed by two spaces
_LINE = re.compile(r"^(\d+) +--- (\S+) \{(.*)\} ---$")
_KILLED = re.compile(r"^(\d+) +\+\+\+ killed by (\S+)(?: \(core dumped\))? \+\+\+$")

#: strace field -> sigdbg field (kernel names); si_int is si_value's low half
_FIELD = {
    "si_pid": "si_pid", "si_uid": "si_uid", "si_status": "si_status",
    "si_addr": "si_addr", "si_ptr": "si_value", "si_int": "si_value",
    "si_timerid": "si_tid", "si_overrun": "si_overrun",
}
#: differ run to run (CPU time of the child): not compared across runs
_VOLATILE = {"si_utime", "si_stime"}


@dataclass
class StraceRun:
    pid: int
    lines: list[tuple[str, dict[str, str]]]  #: (signal name, fields) of the traced pid
    killed_by: str | None
    reports: list[Report]
    returncode: int


def strace_run(name: str, *args: str, tmp: str) -> StraceRun:
    log = f"{tmp}/strace.log"
    with tempfile.TemporaryFile() as out:
        p = subprocess.run(["strace", "-f", "-qq", "-e", "trace=none", "-o", log,
                            target(name), *args],
                           stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.PIPE,
                           timeout=20)
        out.seek(0)
        reports = parse_reports(out.read().decode(errors="replace"))
    with open(log) as fh:
        text = fh.read()
    pids: list[int] = []
    parsed: list[tuple[int, str, dict[str, str]]] = []
    killed = None
    for line in text.splitlines():
        m = _LINE.match(line)
        if m:
            pid = int(m.group(1))
            fields = dict(kv.split("=", 1) for kv in m.group(3).split(", "))
            parsed.append((pid, m.group(2), fields))
            pids.append(pid)
            continue
        k = _KILLED.match(line)
        if k:
            killed = k.group(2)
            pids.append(int(k.group(1)))
    assert pids, f"strace saw no signal at all:\n{text}\n{p.stderr!r}"
    main = pids[0]  # none of these targets' children receives a signal
    assert all(pid == main for pid in pids), text
    return StraceRun(main, [(s, f) for _, s, f in parsed], killed, reports, p.returncode)


def meanings(pid: int, reports: list[Report]) -> dict[int, str]:
    """value -> what it is in this run (the traced pid, a child, an address)."""
    out = {pid: "self"}
    for r in reports:
        for key in ("child", "insn", "page", "resume"):
            v = r.get(key)
            if isinstance(v, int):
                out.setdefault(v, f"{r['tag']}.{key}")
    return out


def _int(text: str) -> int:
    return 0 if text == "NULL" else int(text, 0)


def _signed32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def _union_word(info: SigInfo, abi: str) -> int:
    """The first pointer-sized word of the siginfo union, whatever the layout."""
    off, size = (16, 8) if abi == "x86_64" else (12, 4)
    return int.from_bytes(info.raw[off : off + size], "little")


def compare(st_sig: str, st: dict[str, str], st_meaning: dict[int, str],
            info: SigInfo, abi: str, our_meaning: dict[int, str]) -> None:
    assert st_sig == info.signal
    assert st["si_signo"] == info.signal
    assert st["si_code"] == info.code_name, (st, info)
    for key, text in st.items():
        if key in ("si_signo", "si_code") or key in _VOLATILE:
            continue
        assert key in _FIELD, f"strace field {key} has no counterpart here: {st}"
        theirs = _int(text)
        name = _FIELD[key]
        if name in info.fields:
            ours = info.fields[name]
        else:
            # strace prints si_addr for every SIGTRAP; the kernel's rule
            # (kernel/signal.c siginfo_layout) makes SI_KERNEL a _kill
            # siginfo.  Both read the same union bytes.
            assert key == "si_addr" and info.layout == "kill", (key, st, info)
            ours = _union_word(info, abi)
        if key == "si_int":
            assert theirs == _signed32(ours), (key, theirs, ours)
            continue
        if abi == "i386" and key == "si_ptr":
            ours &= 0xFFFFFFFF
        mine = our_meaning.get(ours, ours)
        other = st_meaning.get(theirs, theirs)
        assert other == mine, (key, st, info.fields)


@dataclass(frozen=True)
class Spec:
    name: str
    args: tuple[str, ...] = ()

    def __str__(self) -> str:
        return "-".join((self.name, *self.args))


SPECS = [
    Spec("sig_basic"),
    Spec("sig_fault"),
    Spec("sig_fault", ("fatal_segv",)),
    Spec("sig_basic.i386"),
    Spec("fatal.i386"),
    Spec("sig_altstack"),
    Spec("sig_nested"),
    Spec("sig_restorer"),
    Spec("sig_xmm"),
]


@pytest.mark.parametrize("spec", SPECS, ids=str)
def test_siginfo_agrees_with_strace(spec: Spec, tmp_path: object) -> None:
    theirs = strace_run(spec.name, *spec.args, tmp=str(tmp_path))
    ours: Run = run_target(spec.name, *spec.args)
    abi = "i386" if spec.name.endswith(".i386") else "x86_64"

    deliveries = ours.deliveries()
    assert [(d.siginfo.signal, d.siginfo.code_name) for d in deliveries] == [
        (s, f["si_code"]) for s, f in theirs.lines]
    st_meaning = meanings(theirs.pid, theirs.reports)
    our_meaning = meanings(ours.pid, ours.reports)

    # the delivery-stop siginfo: the tracer's (64-bit) layout
    for d, (sig, fields) in zip(deliveries, theirs.lines):
        compare(sig, fields, st_meaning, d.siginfo, "x86_64", our_meaning)

    # the siginfo decoded from each frame (compat layout on i386)
    frames = {}
    index = -1
    for e in ours.events:
        if isinstance(e, ev.SignalDelivered):
            index += 1
        elif isinstance(e, ev.HandlerEntered):
            frames[index] = e.frame
    compared = 0
    for i, frame in frames.items():
        if frame.siginfo is None or not frame.siginfo_valid:
            continue  # no SA_SIGINFO: the frame has no siginfo to compare
        sig, fields = theirs.lines[i]
        compare(sig, fields, st_meaning, frame.siginfo, frame.abi, our_meaning)
        compared += 1
    assert compared >= 1 or not frames

    # how each run ended
    if theirs.killed_by is not None:
        (k,) = ours.of(ev.Killed)
        assert theirs.killed_by == "SIGSEGV" == deliveries[-1].siginfo.signal
        assert k.signal == deliveries[-1].siginfo.si_signo
        # strace ends the way its tracee did: killed by the same signal
        assert theirs.returncode in (-k.signal, 128 + k.signal)
    else:
        assert theirs.returncode == 0
        assert ours.of(ev.Exited)[-1].status == 0
    assert abi == ours.events[0].abi  # type: ignore[attr-defined]
