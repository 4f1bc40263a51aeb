"""sigdbg: a debugger for the boundary between the Linux kernel and user space.

The auxiliary vector, the special mappings ([vdso], [vvar], [vsyscall]),
signal delivery, the signal frame the kernel writes on the user stack, and the
sigreturn trampoline that undoes it.

This package root imports nothing heavy: ``sigdbg.decode`` and ``sigdbg.abi``
must import inside GDB's own Python, which lacks python-ptrace.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "launch", "attach", "open_core"]


def __getattr__(name: str) -> object:
    # The scripting API lives in sigdbg.api and pulls in the ptrace backend;
    # load it lazily so that `import sigdbg.decode` stays dependency-free.
    if name in ("launch", "attach", "open_core"):
        from sigdbg import api

        return getattr(api, name)
    raise AttributeError(f"module 'sigdbg' has no attribute {name!r}")
