"""The one exception hierarchy of sigdbg.

Foreign exceptions (OSError from the kernel, python-ptrace's PtraceError,
pyelftools' ELFError, struct.error) are translated into these at the boundary
where they happen, so front ends can print ``str(err)`` as one line and show a
traceback only with ``--debug``.
"""

from __future__ import annotations


class SigdbgError(Exception):
    """Base class: its ``str()`` is a complete one-line message for the user."""


class UsageError(SigdbgError):
    """The user asked for something that cannot be done as asked."""


class TargetError(SigdbgError):
    """The program or process to debug cannot be started, found or attached."""


class ProcessGone(TargetError):
    """The tracee exited or was killed while we were working on it."""


class MemoryReadError(SigdbgError):
    """Target memory could not be read (unmapped, unreadable, or partial)."""

    def __init__(self, address: int, size: int, reason: str, got: int = 0) -> None:
        self.address = address
        self.size = size
        self.reason = reason
        self.got = got
        super().__init__(
            f"cannot read {size} bytes at {address:#x}: {reason}"
            + (f" (only {got} bytes readable)" if got else "")
        )


class DecodeError(SigdbgError):
    """Bytes did not have the shape a decoder expected."""


class FeatureUnavailable(SigdbgError):
    """An optional dependency (capstone, pyelftools, ...) is missing."""
