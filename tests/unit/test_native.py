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
        got = _fastptrace.resume_wait(child.pid, backend.PTRACE_CONT, 0, child.pid, 128, 4096)
        assert got == (errno.ESRCH, 0, 0, 0, None, 0, None, None)
    finally:
        child.kill()
        child.wait()
