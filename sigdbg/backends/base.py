"""The small Protocols every backend implements.

Decoders only ever see a :class:`Memory` (and an :class:`~sigdbg.abi.abis.Abi`
value); the engine additionally uses :class:`Task` for registers.  The ptrace
backend (live processes), the GDB backend (inside gdb) and the fake backend
of the unit tests implement them; nothing above this layer imports a backend
module directly except the code that chooses one.
"""

from __future__ import annotations

from typing import Protocol

from sigdbg.abi import Abi


class Memory(Protocol):
    """Target memory.

    ``read`` returns exactly ``size`` bytes or raises
    :class:`~sigdbg.errors.MemoryReadError` (never a short result);
    ``read_upto`` returns the readable prefix, possibly empty, and never
    raises for unreadable memory.
    """

    def read(self, address: int, size: int) -> bytes: ...

    def read_upto(self, address: int, size: int) -> bytes: ...


class Task(Memory, Protocol):
    """One thread of a target, as seen while it is stopped."""

    @property
    def tid(self) -> int: ...

    @property
    def pid(self) -> int: ...

    @property
    def abi(self) -> Abi:
        """The ABI of the code the task is stopped in (its registers' layout)."""
        ...

    @property
    def process_abi(self) -> Abi:
        """The ABI of the program (auxv, vDSO); differs from ``abi`` only
        while a task runs code of the other ABI (a far jump to cs 0x23/0x33)."""
        ...

    def registers(self) -> dict[str, int]:
        """The general registers, named as in the ABI's ``user_regs_struct``.

        Raises :class:`~sigdbg.errors.ProcessGone` if the task vanished.
        """
        ...

    def maps_text(self) -> str:
        """``/proc/PID/maps`` of the target (or the backend's equivalent)."""
        ...

    def start_stack(self) -> int:
        """Address of argc on the initial stack (0 when unknown)."""
        ...

    def auxv_bytes(self) -> bytes | None:
        """The raw auxv as the kernel keeps it, or None when not available."""
        ...
