"""Step records: one executed instruction and the registers it changed."""

from __future__ import annotations

from dataclasses import dataclass

from sigdbg.decode.model import Model


@dataclass(frozen=True)
class StepRecord(Model):
    address: int
    bytes: bytes
    text: str  #: disassembly (AT&T), or "(bytes)" when capstone is missing
    changed: dict[str, tuple[int, int]]  #: register -> (before, after)
    syscall: str | None = None  #: name of the system call this instruction entered
