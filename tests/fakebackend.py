"""The fake backend: bytes + scripted stops, for unit tests of the engine
without processes.

:class:`FakeTarget` and :class:`FakeControl` implement
:class:`~sigdbg.backends.base.Target` and :class:`~sigdbg.backends.base.Control`
by replaying a *tape*: a recording of what a real process showed the engine
(``tests/walkrec.py`` makes them from the ``targets/`` programs under the
ptrace backend; they are stored in ``tests/data/walk/``).  A tape is cut in
epochs by the resumes: epoch 0 is what the thread looked like before the
first resume, epoch k what it looked like after the k-th.  Each epoch holds
what was read then (memory chunks, registers, the signal masks), and each
resume the request the engine made and the stop the kernel answered with.

Replaying, every read is served from what was read at the same point of the
real run (memory as the latest bytes recorded for each address; anything
never recorded is unreadable), and each ``resume_wait`` must ask exactly
what the real run asked -- otherwise :class:`Divergence` is raised, so a
change of the engine's behaviour shows as a failed unit test.

Lives in ``tests/`` (not ``sigdbg/backends/``): nothing in sigdbg chooses it,
and its data is test data.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from pathlib import Path
from typing import Any

from sigdbg.abi import Abi, abi_by_name
from sigdbg.backends.base import Control, How, Target
from sigdbg.backends.stopcodes import Stop
from sigdbg.decode.memmap import MemoryMap, parse_maps
from sigdbg.decode.restorer import Restorer, SymbolRef
from sigdbg.errors import FeatureUnavailable, MemoryReadError, ProcessGone, TargetError

DATA = Path(__file__).resolve().parent / "data" / "walk"


class Divergence(AssertionError):
    """The engine asked the fake backend something the real run did not."""


def load_tape(name: str) -> dict[str, Any]:
    doc = json.loads((DATA / f"{name}.json").read_text())
    assert isinstance(doc, dict)
    return doc


def stop_from_json(d: dict[str, Any]) -> Stop:
    raw = d.get("siginfo_raw")
    return Stop(d["tid"], d["kind"], d["pid"], d["sig"], d["event"], d["status"],
                bytes.fromhex(raw) if raw is not None else None, d.get("siginfo_abi", ""))


def stop_to_json(stop: Stop) -> dict[str, Any]:
    d = stop._asdict()
    d["siginfo_raw"] = stop.siginfo_raw.hex() if stop.siginfo_raw is not None else None
    return d


class StubView:
    """A RestorerContext from the recorded maps text alone (no symbol files:
    what is classified does not depend on the machine the test runs on)."""

    def __init__(self, maps_text: str) -> None:
        self.maps_text = maps_text
        self.restorers: dict[int, Restorer] = {}
        self._maps = parse_maps(maps_text)

    def maps(self) -> MemoryMap:
        return self._maps

    def lookup(self, address: int) -> SymbolRef | None:
        return None

    def exe_path(self) -> str:
        return ""


class _Tape:
    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.abi = abi_by_name(doc["abi"])
        self.epochs: list[dict[str, Any]] = doc["epochs"]
        self.steps: list[dict[str, Any]] = doc["steps"]
        self.epoch = 0
        self.memory: dict[int, int] = {}
        self._apply(0)
        #: the engine's requests that are not resumes, in order (watch, unwatch)
        self.calls: list[tuple[Any, ...]] = []

    def _apply(self, k: int) -> None:
        for address, data in self.epochs[k]["memory"]:
            for i, b in enumerate(bytes.fromhex(data)):
                self.memory[address + i] = b

    def advance(self) -> None:
        self.epoch += 1
        self._apply(self.epoch)

    def now(self, key: str) -> Any:
        value = self.epochs[self.epoch].get(key)
        if value is None:
            raise Divergence(f"{key} was not read at this point of the real run "
                             f"(epoch {self.epoch})")
        return value


class FakeTarget:
    """The recorded thread as a :class:`~sigdbg.backends.base.Target`."""

    def __init__(self, tape: _Tape) -> None:
        self._t = tape
        self._tid = int(tape.doc["tid"])
        self._pid = int(tape.doc["pid"])

    @property
    def tid(self) -> int:
        return self._tid

    @property
    def pid(self) -> int:
        return self._pid

    @property
    def abi(self) -> Abi:
        return self._t.abi

    @property
    def process_abi(self) -> Abi:
        return self._t.abi

    def read_upto(self, address: int, size: int) -> bytes:
        out = bytearray()
        mem = self._t.memory
        for a in range(address, address + max(size, 0)):
            b = mem.get(a)
            if b is None:
                break
            out.append(b)
        return bytes(out)

    def read(self, address: int, size: int) -> bytes:
        got = self.read_upto(address, size)
        if len(got) < size:
            raise MemoryReadError(address, size, "not in the recording", len(got))
        return got

    def registers(self) -> dict[str, int]:
        return dict(self._t.now("regs"))

    def registers_as(self, abi: Abi) -> dict[str, int]:
        if abi is not self._t.abi:
            raise TargetError(f"the recording has no {abi} registers")
        return self.registers()

    def pc(self) -> int:
        return self.registers()[self._t.abi.pc]

    def pc_sp(self) -> tuple[int, int]:
        regs = self.registers()
        return regs[self._t.abi.pc], regs[self._t.abi.sp]

    def maps_text(self) -> str:
        return str(self._t.doc["maps"])

    def start_stack(self) -> int:
        return 0

    def auxv_bytes(self) -> bytes | None:
        return None

    def exe_path(self) -> str:
        return ""

    def fp_regs_raw(self) -> bytes | None:
        return None  # not recorded: the walk compares general registers

    def regset_raw(self, note: int) -> bytes | None:
        return None  # not recorded: the tapes are of x86 frames (no FP/SIMD records)


class FakeControl:
    """The recorded stops as a :class:`~sigdbg.backends.base.Control`."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.tape = _Tape(doc)
        self.target = FakeTarget(self.tape)
        self.resumes = 0
        #: the software breakpoints inserted (the real run's, from the tape's start)
        self.breakpoints: set[int] = {int(a) for a, _ in doc.get("breakpoints", ())}

    @property
    def calls(self) -> list[tuple[Any, ...]]:
        return self.tape.calls

    def finished(self) -> bool:
        """Every recorded resume was replayed."""
        return self.resumes == len(self.tape.steps)

    def task(self, tid: int) -> Target:
        if tid != self.target.tid:
            raise ProcessGone(f"thread {tid} is not in the recording")
        return self.target

    def resume_wait(self, tid: int, sig: int = 0, how: How = "cont",
                    wait_tid: int = -1) -> Stop:
        if self.resumes >= len(self.tape.steps):
            raise Divergence(f"resume {[tid, sig, how, wait_tid]} after the end of the "
                             "recording")
        step = self.tape.steps[self.resumes]
        if step["request"] != [tid, sig, how, wait_tid]:
            raise Divergence(f"resume {self.resumes}: the engine asked "
                             f"{[tid, sig, how, wait_tid]}, the real run {step['request']}")
        self.resumes += 1
        self.tape.advance()
        return stop_from_json(step["stop"])

    def resume(self, tid: int, sig: int = 0, how: How = "cont") -> None:
        raise FeatureUnavailable("the recordings hold resume_wait calls only")

    def wait(self, tid: int = -1) -> Stop:
        raise FeatureUnavailable("the recordings hold resume_wait calls only")

    def insert_breakpoint(self, address: int) -> None:
        self.tape.calls.append(("insert_breakpoint", address))
        self.breakpoints.add(address)

    def remove_breakpoint(self, address: int) -> None:
        self.tape.calls.append(("remove_breakpoint", address))
        self.breakpoints.discard(address)

    def breakpoint_addresses(self) -> Collection[int]:
        return frozenset(self.breakpoints)

    def breakpoint_hit(self, stop: Stop) -> int | None:
        """The real run's answer at this point (the pc it rewound is in the
        registers recorded after it); one of ours, or the replay diverged."""
        self.tape.calls.append(("breakpoint_hit", stop.tid))
        answers = self.tape.now("hits")
        if not answers:
            raise Divergence(f"breakpoint_hit asked once more than in the real run "
                             f"(epoch {self.tape.epoch})")
        got = answers.pop(0)
        if got is not None and got not in self.breakpoints:
            raise Divergence(f"the real run hit {got:#x}, not a breakpoint here")
        return None if got is None else int(got)

    def send_signal(self, tid: int, sig: int) -> None:
        self.tape.calls.append(("send_signal", tid, sig))

    def watch_execute(self, tid: int, address: int) -> None:
        self.tape.calls.append(("watch_execute", tid, address))

    def unwatch(self, tid: int) -> None:
        self.tape.calls.append(("unwatch", tid))

    def interrupt(self, tid: int) -> None:
        self.tape.calls.append(("interrupt", tid))

    def sigmask(self, tid: int) -> int:
        return int(self.tape.now("sigmask"))

    def pending_signals(self, tid: int) -> int:
        return int(self.tape.now("pending"))

    def event_msg(self, tid: int) -> int:
        return int(self.tape.now("event_msg"))

    def detach(self) -> None:
        self.tape.calls.append(("detach",))


def _typecheck(c: FakeControl) -> tuple[Control, Target]:
    return c, c.target  # mypy: the fake implements both Protocols
