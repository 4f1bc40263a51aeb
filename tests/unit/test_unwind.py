"""The engine's unwinder (sigdbg/engine/unwind.py) over a fake UnwindSource.

No process: memory is bytes laid out by hand -- the CFI image of
tests/unit/test_cfi.py (``push %rbp; mov %rsp,%rbp; ... leave; ret`` described
by one FDE), a page holding the kernel's x86_64 restorer sequence
(``mov $15,%rax; syscall``, arch/x86/entry/vdso and glibc's __restore_rt), an
anonymous code page without CFI, and a stack.  The expected frames follow
from the layout: every value asserted is one the test wrote into memory.
The same walk on real processes is compared with gdb in
tests/integration/test_unwind.py.
"""

from __future__ import annotations

import struct

from sigdbg.abi import I386, X86_64, Abi
from sigdbg.decode.memmap import Mapping, MemoryMap, parse_maps
from sigdbg.decode.restorer import SymbolRef
from sigdbg.engine.unwind import SigframeContext, StackFrame, Unwinder
from sigdbg.errors import TargetError
from tests.unit.test_cfi import BASE, FUNC, _image

RESTORER = 0x20000
ANON = 0x30000  #: code without CFI: the frame-pointer chain
STACK = 0x7000_0000
RT_SIGRETURN_64 = bytes.fromhex("48c7c00f0000000f05")
SIGRETURN_32 = bytes.fromhex("58b877000000cd80")  # pop %eax; mov $119,%eax; int $0x80


class FakeSource:
    """Memory regions, fixed registers, decoded frames by address."""

    def __init__(self, abi: Abi, regs: dict[str, int], frames: dict[int, SigframeContext]
                 ) -> None:
        self._abi = abi
        self.regs = regs
        self.frames = frames
        self.mem: dict[int, bytearray] = {
            BASE: _image(), RESTORER: bytearray(RT_SIGRETURN_64 + bytes(0x1000 - 9)),
            ANON: bytearray(0x1000), STACK: bytearray(0x2000)}
        self.asked: list[int] = []  #: sigframe addresses asked for

    @property
    def abi(self) -> Abi:
        return self._abi

    def registers(self) -> dict[str, int]:
        return dict(self.regs)

    def _region(self, address: int, size: int) -> tuple[bytearray, int]:
        for start, data in self.mem.items():
            if start <= address and address + size <= start + len(data):
                return data, address - start
        raise TargetError(f"cannot read {size} bytes at {address:#x}")

    def read(self, address: int, size: int) -> bytes:
        data, off = self._region(address, size)
        return bytes(data[off:off + size])

    def code(self, address: int, size: int) -> bytes:
        for start, data in self.mem.items():
            if start <= address < start + len(data):
                return bytes(data[address - start:address - start + size])
        raise TargetError(f"nothing mapped at {address:#x}")

    def put(self, address: int, *words: int) -> None:
        w = self._abi.word
        data, off = self._region(address, w * len(words))
        for i, v in enumerate(words):
            struct.pack_into(self._abi.word_fmt, data, off + i * w, v)

    def maps(self) -> MemoryMap:
        return parse_maps(
            f"{BASE:x}-{BASE + 0x1000:x} r-xp 00000000 08:01 77 /fake/libfunc.so\n"
            f"{RESTORER:x}-{RESTORER + 0x1000:x} r-xp 00000000 00:00 0 \n"
            f"{ANON:x}-{ANON + 0x1000:x} r-xp 00000000 00:00 0 \n"
            f"{STACK:x}-{STACK + 0x2000:x} rw-p 00000000 00:00 0 [stack]\n")

    def symbol(self, address: int) -> SymbolRef | None:
        if FUNC <= address < FUNC + 0x20:
            return SymbolRef("func", address - FUNC, "/fake/libfunc.so")
        if ANON + 0x100 <= address < ANON + 0x110:  # an asm function without CFI
            return SymbolRef("leaf", address - ANON - 0x100, "")
        return None

    def sigframe(self, address: int) -> SigframeContext | None:
        self.asked.append(address)
        return self.frames.get(address)

    def mapped_file(self, m: Mapping) -> tuple[str, int | None] | None:
        return None  # (the image has .eh_frame_hdr: no file is needed)


def _walk(src: FakeSource, **kw: object) -> list[tuple[int, int, str]]:
    return [(f.pc, f.sp, f.how) for f in Unwinder(src).unwind(**kw)]  # type: ignore[arg-type]


def test_cfi_then_the_signal_frame_then_frame_pointers() -> None:
    """A handler (func, past its prologue: CFA = rbp + 16, rbp saved at CFA - 16)
    returns to the restorer; the frame starts one word below the CFA (the
    popped pretcode); its saved context is code without CFI, walked by rbp."""
    s = STACK + 0x100
    outer_fp = STACK + 0x1000
    src = FakeSource(X86_64, {"rip": FUNC + 4, "rsp": s, "rbp": s},
                     {s + 8: SigframeContext(10, {"rip": ANON + 0x10, "rsp": STACK + 0xF00,
                                                  "rbp": outer_fp})})
    src.put(s, 0x1234, RESTORER)  # saved rbp, return address
    src.put(outer_fp, 0, ANON + 0x40)  # the outer chain: last fp, return address
    frames = Unwinder(src).unwind()
    assert [(f.pc, f.sp, f.how) for f in frames] == [
        (FUNC + 4, s, "context"),
        (RESTORER, s + 16, "sigframe"),
        (ANON + 0x10, STACK + 0xF00, "context"),
        (ANON + 0x40, outer_fp + 16, "fp"),
    ]
    marker = frames[1]
    assert (marker.sigframe, marker.signal) == (s + 8, 10)
    assert all(f.sigframe is None and f.signal is None for f in frames if f is not marker)
    assert frames[0] == StackFrame(FUNC + 4, s, "func+0x4", "/fake/libfunc.so", FUNC + 4 - BASE,
                                   "context")
    assert frames[1].mapping is None and frames[1].offset == 0  # anonymous: no path


def test_first_instruction_without_cfi_returns_to_sp() -> None:
    """A handler stopped at its first instruction in code without CFI: the
    return address is at [sp] (gdb's heuristic too), and since it is a
    restorer the signal frame follows."""
    s = STACK + 0x200
    src = FakeSource(X86_64, {"rip": ANON, "rsp": s, "rbp": 0},
                     {s: SigframeContext(12, {"rip": FUNC, "rsp": STACK + 0x800})})
    src.put(s, RESTORER)
    src.put(STACK + 0x800, 0)  # func's return address: 0 ends the walk
    assert _walk(src) == [(ANON, s, "context"), (RESTORER, s + 8, "sigframe"),
                          (FUNC, STACK + 0x800, "context")]
    assert src.asked == [s]


def test_a_function_entered_without_cfi_returns_to_sp() -> None:
    """Stopped on the first byte of a symbol with no CFI (an asm leaf): the
    return address is at [sp]; one byte further in, the same guess is not
    made (the frame-pointer chain decides, and here there is none)."""
    s = STACK + 0x600
    src = FakeSource(X86_64, {"rip": ANON + 0x100, "rsp": s, "rbp": 0}, {})
    src.put(s, ANON + 0x20)
    assert _walk(src) == [(ANON + 0x100, s, "context"), (ANON + 0x20, s + 8, "entry")]
    src.regs["rip"] = ANON + 0x101
    assert _walk(src) == [(ANON + 0x101, s, "context")]
    src.put(s, STACK)  # not code: no frame made up
    src.regs["rip"] = ANON + 0x100
    assert _walk(src) == [(ANON + 0x100, s, "context")]


def test_known_restorer_and_a_frame_that_does_not_decode() -> None:
    """A pretcode the caller knows is a restorer even without the kernel's
    bytes; when nothing decodes there the walk ends at the marker's pc
    instead of making frames up."""
    s = STACK + 0x300
    own = ANON + 0x80  # a program's own restorer: zeros, no known pattern
    src = FakeSource(X86_64, {"rip": FUNC + 0x14, "rsp": s, "rbp": 0}, {})
    src.put(s, own)
    # unknown, it is just code returned to (no CFI, no frame pointer: the end)
    assert _walk(src) == [(FUNC + 0x14, s, "context"), (own, s + 8, "cfi")]
    assert src.asked == []
    frames = _walk(src, restorers=frozenset({own}))
    assert frames == [(FUNC + 0x14, s, "context")] and src.asked == [s]


def test_a_stack_that_does_not_unwind_outwards_ends_the_walk() -> None:
    """An fp chain pointing back down the stack (corrupt or hostile) stops,
    and ``limit`` bounds any walk."""
    fp = STACK + 0x400
    src = FakeSource(X86_64, {"rip": ANON, "rsp": fp - 0x20, "rbp": fp}, {})
    src.put(fp, fp - 0x10, ANON + 4)  # caller's fp is *below* this one
    src.put(fp - 0x10, fp, ANON + 8)
    frames = _walk(src, limit=50)
    assert frames == [(ANON, fp - 0x20, "context"), (ANON + 4, fp + 16, "fp")]
    assert len(_walk(src, limit=1)) == 1


def test_i386_inside_the_nonrt_restorer_after_its_pop() -> None:
    """Stepping through the i386 non-rt restorer: past ``pop %eax`` the frame
    (sigframe_ia32, pretcode first) is two words below sp."""
    s = STACK + 0x500
    src = FakeSource(I386, {"eip": RESTORER + 1, "esp": s, "ebp": 0},
                     {s - 8: SigframeContext(10, {"eip": ANON + 0x20, "esp": STACK + 0x900,
                                                  "ebp": 0})})
    src.mem[RESTORER][:len(SIGRETURN_32)] = SIGRETURN_32
    assert _walk(src) == [(RESTORER + 1, s, "sigframe"), (ANON + 0x20, STACK + 0x900, "context")]
    assert src.asked == [s - 8]


def test_a64_entry_returns_to_x30_then_the_frame_at_sp() -> None:
    """AArch64: a handler at its first instruction without CFI returns to x30
    (bl left it there; sp unchanged), the restorer; the rt_sigframe is at that
    sp itself (``sp_at_restorer`` 0: no pretcode was popped); its context
    goes on by the {x29, x30} frame records."""
    from sigdbg.abi import AARCH64

    s = STACK + 0x200
    outer_fp = STACK + 0x1000
    src = FakeSource(AARCH64, {"pc": ANON + 0x100, "sp": s, "x29": 0, "x30": RESTORER},
                     {s: SigframeContext(10, {"pc": ANON + 0x10, "sp": STACK + 0xF00,
                                              "x29": outer_fp, "x30": 0})})
    src.put(outer_fp, 0, ANON + 0x40)  # the outer record: last fp, return address
    assert _walk(src, restorers=frozenset({RESTORER})) == [
        (ANON + 0x100, s, "context"), (RESTORER, s, "sigframe"),
        (ANON + 0x10, STACK + 0xF00, "context"), (ANON + 0x40, outer_fp + 16, "fp")]
    assert src.asked == [s]
