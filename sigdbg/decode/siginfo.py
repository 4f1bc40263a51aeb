"""siginfo_t decoded per signal and si_code.

Which union member is valid follows the kernel's own rule
(kernel/signal.c ``siginfo_layout``); the member layouts per ABI are in
:mod:`sigdbg.abi.x86_64` / :mod:`sigdbg.abi.i386`
(include/uapi/asm-generic/siginfo.h).

Note: PTRACE_GETSIGINFO returns the *tracer's* layout (64-bit) even for a
32-bit tracee, while the siginfo in a 32-bit signal frame has the compat
layout -- callers pass the ABI of the bytes, not of the task.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sigdbg.abi import Abi
from sigdbg.decode.model import SharedModel, internal, one_store_init
from sigdbg.errors import DecodeError
from sigdbg.names import si_code_name, sigfault_extra, siginfo_layout, signal_name

SI_USER = 0
SI_KERNEL = 0x80
SI_QUEUE = -1
SI_TIMER = -2
SI_TKILL = -6


@one_store_init
@dataclass(frozen=True)
class SigInfo(SharedModel):
    si_signo: int
    si_errno: int
    si_code: int
    layout: str  #: union member: kill, rt, timer, sigchld, sigfault, sigpoll, sigsys
    fields: dict[str, int]  #: the valid union fields, kernel names (si_pid, si_addr, ...)
    raw: bytes = internal(b"")

    @property
    def signal(self) -> str:
        return signal_name(self.si_signo)

    @property
    def code_name(self) -> str:
        return si_code_name(self.si_signo, self.si_code)

    def get(self, name: str) -> int | None:
        return self.fields.get(name)

    @property
    def from_user(self) -> bool:
        """si_code <= 0 means sent from user space (kill, sigqueue, tgkill)."""
        return self.si_code <= 0

    def _build_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "si_signo": self.si_signo,
            "signal": self.signal,
            "si_errno": self.si_errno,
            "si_code": self.si_code,
            "si_code_name": self.code_name,
            "layout": self.layout,
        }
        out.update(self.fields)
        return out


def decode_siginfo(data: bytes, abi: Abi, offset: int = 0) -> SigInfo:
    """Decode a 128-byte siginfo_t laid out for ``abi``."""
    size = abi.siginfo_size
    if len(data) == size and offset == 0 and type(data) is bytes:
        return _decode_siginfo(data, abi)  # e.g. PTRACE_GETSIGINFO's bytes: no copy
    if len(data) < offset + size:
        raise DecodeError(f"siginfo needs {size} bytes, have {len(data) - offset}")
    return _decode_siginfo(bytes(data[offset : offset + size]), abi)


@lru_cache(maxsize=128)
def _decode_siginfo(data: bytes, abi: Abi) -> SigInfo:
    # a pure function of 128 bytes that often repeat (the same sender, the
    # same fault): decoded once per distinct image, the SigInfo is immutable
    offset = 0
    head = abi.siginfo_header.decode(data, offset)
    signo = int(head["si_signo"])  # type: ignore[arg-type]
    code = int(head["si_code"])  # type: ignore[arg-type]
    layout = siginfo_layout(signo, code)
    member = layout
    if layout == "sigfault":
        member = sigfault_extra(signo, code) or "sigfault"
    fields_: dict[str, int] = {
        k: v for k, v in abi.siginfo_members[member].decode(data, offset).items()
        if isinstance(v, int)
    }
    return SigInfo(
        si_signo=signo,
        si_errno=int(head["si_errno"]),  # type: ignore[arg-type]
        si_code=code,
        layout=layout,
        fields=fields_,
        raw=data,
    )
