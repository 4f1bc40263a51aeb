"""The ptrace backend's C module: built here, and the same answers as ctypes.

scripts/bootstrap installs a C compiler, so the module must be built in the
test environment; ``make test`` also runs the tracing tests with
SIGDBG_NO_NATIVE=1, i.e. through ctypes.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys

from sigdbg.backends import ptrace as backend


def test_the_c_module_is_built_and_used() -> None:
    if os.environ.get("SIGDBG_NO_NATIVE"):
        assert not backend.native_in_use()
        return
    assert backend.native_in_use(), "sigdbg/backends/_fastptrace was not built"


def test_native_and_ctypes_report_the_same_failure() -> None:
    """ptrace on a process we do not trace: -1 (all ones) and ESRCH, both ways."""
    from sigdbg.backends import _fastptrace  # type: ignore[attr-defined]

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        got = _fastptrace.ptrace(backend.PTRACE_GETSIGINFO, child.pid, 0, 0)
        assert (got, _fastptrace.last_errno()) == (backend._FAILED, errno.ESRCH)
        got = backend._ctypes_ptrace(backend.PTRACE_GETSIGINFO, child.pid, None, None)
        assert (got, __import__("ctypes").get_errno()) == (backend._FAILED, errno.ESRCH)
        # resume_wait refuses to resume a task we do not trace, and waits for nothing
        got = _fastptrace.resume_wait(child.pid, backend.PTRACE_CONT, 0, child.pid, 128, 4096,
                                      -1, -1, -1, 0)
        assert got == (errno.ESRCH, 0, 0, 0, None, 0, None, None, None)
    finally:
        child.kill()
        child.wait()


def test_the_frame_read_with_the_step_is_the_frame_in_memory(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The C module reads the frame at the handler-entry stop in the same call
    as the step; the decoder must get exactly what a separate read returns."""
    import sigdbg
    from sigdbg.engine import session as session_mod
    from tests.conftest import target

    seen: list[tuple[int, bytes | None, bytes]] = []
    real = session_mod.decode_sigframe

    def spy(mem, abi, frame, **kw):  # type: ignore[no-untyped-def]
        seen.append((frame, kw.get("data"), mem.read_upto(frame, session_mod.BULK_READ)))
        return real(mem, abi, frame, **kw)

    monkeypatch.setattr(session_mod, "decode_sigframe", spy)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        with sigdbg.launch([target("sig_storm"), "3"], stdout=devnull) as s:
            frames = [e.frame for e in s.events() if e.name == "handler_entered"]
    finally:
        os.close(devnull)
    assert len(frames) == len(seen) == 3
    for (address, data, memory), frame in zip(seen, frames):
        assert address == frame.address
        if backend.native_in_use():
            assert data == memory and len(data) == session_mod.BULK_READ
        else:
            assert data is None  # the ctypes path reads it in the decoder
