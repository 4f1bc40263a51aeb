"""Unwinding a stopped task's stack: ``.eh_frame`` call-frame information
(pyelftools), frame pointers where there is none, and signal frames.

Used by ``trace -k`` (the stack of the interrupted context at each delivery)
and shared with the shell's ``bt``.  Each step finds the code's mapping and,
in that ELF file (or the vDSO image), the FDE covering the pc through the
``.eh_frame_hdr`` binary-search table -- only that one FDE is parsed, so a
libc with thousands of FDEs costs one small parse per distinct function.
The CFI row gives the CFA (canonical frame address: the caller's sp) and
where the return address and the callee-saved registers were saved.

Without CFI for a pc the walk follows the frame-pointer chain
(``[fp]`` = caller's fp, ``[fp + word]`` = return address).  A return
address that is a sigreturn restorer (:func:`match_pattern`) means the
function was a signal handler called by the kernel: the frame the kernel
built starts one word below the CFA (the handler's ``ret`` pops pretcode),
and the walk continues from the interrupted registers in its
``uc_mcontext`` (glibc's ``__restore_rt`` describes the same with DWARF
expressions, which this walker does not evaluate).

DWARF register numbers: the x86-64 psABI (3.6.2: 0 rax, 1 rdx, 2 rcx, 3 rbx,
4 rsi, 5 rdi, 6 rbp, 7 rsp, 8-15 r8-r15, 16 return address) and the i386
SysV ABI (0 eax, 1 ecx, 2 edx, 3 ebx, 4 esp, 5 ebp, 6 esi, 7 edi, 8 eip).
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sigdbg.abi.abis import Abi
from sigdbg.decode.memmap import MemoryMap
from sigdbg.decode.model import Model
from sigdbg.decode.restorer import SymbolLookup, match_pattern
from sigdbg.errors import SigdbgError

#: DWARF number -> (x86_64 user_regs / sigcontext name, i386 user_regs, i386 sigcontext)
_X86_64 = ("rax", "rdx", "rcx", "rbx", "rsi", "rdi", "rbp", "rsp",
           "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rip")
_I386_USER = ("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "eip")
_I386_SC = ("ax", "cx", "dx", "bx", "sp", "bp", "si", "di", "ip")


@dataclass(frozen=True)
class StackFrame(Model):
    """One frame of an unwound stack, innermost first."""

    pc: int  #: the frame's pc (a return address for callers)
    sp: int  #: its stack pointer (the CFA of the frame it returned from)
    symbol: str | None  #: name+offset, when a symbol table covers pc
    mapping: str | None  #: path of the mapping holding pc
    offset: int | None  #: pc as an offset in that file (strace -k's ``[0x...]``)
    how: str  #: context (the given registers), cfi, fp (frame pointer), sigframe


def dwarf_regs(abi: Abi, regs: dict[str, int]) -> dict[int, int]:
    """user_regs or sigcontext registers by DWARF number."""
    if abi.bits == 64:
        names: tuple[str, ...] = _X86_64
    else:
        names = _I386_USER if "eip" in regs else _I386_SC
    return {n: regs[name] for n, name in enumerate(names) if name in regs}


class _Cfi:
    """The ``.eh_frame`` of one ELF image, searched through ``.eh_frame_hdr``."""

    def __init__(self, data: Any, bias: int) -> None:
        from elftools.dwarf.callframe import CallFrameInfo
        from elftools.elf.elffile import ELFFile

        self.bias = bias  #: runtime address - file vaddr
        elf = ELFFile(data)
        self.elf = elf
        hdr = elf.get_section_by_name(".eh_frame_hdr")
        eh = elf.get_section_by_name(".eh_frame")
        self.table: list[tuple[int, int]] = []
        self.cfi: Any = None
        if hdr is None or eh is None:
            return
        raw = hdr.data()
        version, _ptr_enc, count_enc, table_enc = raw[:4]
        if version != 1 or count_enc != 0x03 or table_enc != 0x3B:
            return  # (udata4 count, datarel|sdata4 table: what every linker writes)
        (count,) = struct.unpack_from("<I", raw, 8)
        base = hdr["sh_addr"]
        pairs = struct.unpack_from(f"<{2 * count}i", raw, 12)
        self.table = [(base + pairs[2 * i], base + pairs[2 * i + 1]) for i in range(count)]
        dwarf = elf.get_dwarf_info()
        self.eh_addr = eh["sh_addr"]
        self.cfi = CallFrameInfo(stream=io.BytesIO(eh.data()), size=eh["sh_size"],
                                 address=eh["sh_addr"], base_structs=dwarf.structs,
                                 for_eh_frame=True)
        self.rows: dict[int, Any] = {}  # fde vaddr -> decoded table (or None)

    def row(self, vaddr: int) -> dict[Any, Any] | None:
        """The CFI row in effect at file address ``vaddr``, if an FDE covers it."""
        import bisect

        if not self.table:
            return None
        i = bisect.bisect_right(self.table, (vaddr, 1 << 64)) - 1
        if i < 0:
            return None
        fde_addr = self.table[i][1]
        decoded = self.rows.get(fde_addr, False)
        if decoded is False:
            try:
                fde = self.cfi._parse_entry_at(fde_addr - self.eh_addr)
                start = fde.header["initial_location"]
                end = start + fde.header["address_range"]
                decoded = (start, end, fde.get_decoded().table)
            except Exception:  # noqa: BLE001 - CFI pyelftools cannot decode: no CFI
                decoded = None
            self.rows[fde_addr] = decoded
        if decoded is None:
            return None
        start, end, table = decoded
        if not start <= vaddr < end:
            return None
        found = None
        for r in table:
            if r["pc"] > vaddr:
                break
            found = r
        return found


class Unwinder:
    """Stack walks over one address space (caches the CFI of its files).

    ``sigframe_regs(address)`` decodes the signal frame at ``address`` and
    returns its interrupted registers (sigcontext names), or None.
    ``vdso()`` returns the vDSO image bytes (its CFI covers the vDSO's code).
    """

    def __init__(self, mem: Any, abi: Abi, maps: Callable[[], MemoryMap],
                 lookup: SymbolLookup,
                 sigframe_regs: Callable[[int], dict[str, int] | None] | None = None,
                 vdso: Callable[[], bytes | None] | None = None,
                 restorers: frozenset[int] = frozenset()) -> None:
        self.mem = mem
        self.abi = abi
        self.maps = maps
        self.lookup = lookup
        self.sigframe_regs = sigframe_regs
        self.vdso = vdso
        #: restorer addresses known from decoded frames (a program's own restorer
        #: need not look like the kernel's or libc's)
        self.restorers = restorers
        self._cfi: dict[tuple[str, int], _Cfi | None] = {}

    def _cfi_for(self, pc: int) -> _Cfi | None:
        m = self.maps().find(pc)
        if m is None or not m.executable:
            return None
        key = (m.path, m.start - m.offset)
        if key in self._cfi:
            return self._cfi[key]
        cfi: _Cfi | None = None
        try:
            if m.path == "[vdso]" and self.vdso is not None:
                data = self.vdso()
                if data:
                    cfi = _Cfi(io.BytesIO(data), m.start - _first_load(data))
            elif m.path.startswith("/"):
                with open(m.path, "rb") as fh:
                    data = fh.read()
                lowest = min((x.start for x in self.maps().mappings
                              if x.path == m.path and x.offset == 0), default=m.start)
                cfi = _Cfi(io.BytesIO(data), lowest - (_first_load(data) & ~0xFFF))
        except (OSError, SigdbgError, ValueError, struct.error):
            cfi = None
        except Exception:  # noqa: BLE001 - a malformed ELF: no CFI for it
            cfi = None
        self._cfi[key] = cfi
        return cfi

    def _word(self, address: int) -> int | None:
        w = self.abi.word
        try:
            return int(struct.unpack(self.abi.word_fmt, self.mem.read(address, w))[0])
        except (SigdbgError, struct.error, OSError):
            return None

    def _frame(self, pc: int, sp: int, how: str) -> StackFrame:
        try:
            ref = self.lookup(pc)
        except SigdbgError:
            ref = None
        m = self.maps().find(pc)
        return StackFrame(pc, sp, str(ref) if ref is not None else None,
                          m.path if m is not None and m.path else None,
                          pc - m.start + m.offset if m is not None else None, how)

    def unwind(self, regs: dict[str, int], limit: int = 64) -> tuple[StackFrame, ...]:
        """The stack from the context ``regs`` (user_regs or sigcontext names)."""
        abi = self.abi
        w = abi.word
        ra_reg, sp_reg = (16, 7) if abi.bits == 64 else (8, 4)
        r = dwarf_regs(abi, regs)
        if ra_reg not in r or sp_reg not in r:
            return ()
        out = [self._frame(r[ra_reg], r[sp_reg], "context")]
        exact = True  # the pc is where execution stopped, not a return address
        while len(out) < limit:
            pc, sp = r[ra_reg], r[sp_reg]
            nxt = self._step_cfi(r, pc if exact else pc - 1)
            how = "cfi"
            if nxt is None:
                nxt = self._step_fp(r)
                how = "fp"
            if nxt is None:
                break
            npc, nsp = nxt[ra_reg], nxt[sp_reg]
            if npc == 0 or (nsp <= sp and how == "fp"):
                break
            code = self.maps().find(npc)
            if code is None or not code.executable:
                break  # not a return address: a guess (fp) gone wrong, or the end
            if self.sigframe_regs is not None and self.is_restorer(npc):
                sregs = self.sigframe_regs(nsp - w)
                if sregs is None:
                    break
                out.append(self._frame(npc, nsp, "sigframe"))
                r = dwarf_regs(abi, sregs)
                if ra_reg not in r or sp_reg not in r:
                    break
                out.append(self._frame(r[ra_reg], r[sp_reg], "context"))
                exact = True
                continue
            if nsp < sp:
                break  # the stack grows down: callers live above
            out.append(self._frame(npc, nsp, how))
            r = nxt
            exact = False
        return tuple(out[:limit])

    def is_restorer(self, pc: int) -> bool:
        """Is ``pc`` a sigreturn restorer (the return address of a handler)?"""
        if pc in self.restorers:
            return True
        try:
            return match_pattern(self.abi, self.mem.read_upto(pc, 16)) is not None
        except (SigdbgError, AttributeError):
            return False

    def _step_cfi(self, r: dict[int, int], pc: int) -> dict[int, int] | None:
        cfi = self._cfi_for(pc)
        if cfi is None:
            return None
        row = cfi.row(pc - cfi.bias)
        if row is None:
            return None
        cfa_rule = row["cfa"]
        if cfa_rule.expr is not None or cfa_rule.reg not in r:
            return None
        cfa = (r[cfa_rule.reg] + cfa_rule.offset) & ((1 << self.abi.bits) - 1)
        ra_reg, sp_reg = (16, 7) if self.abi.bits == 64 else (8, 4)
        nxt: dict[int, int] = {}
        for reg, value in r.items():
            if reg in (ra_reg, sp_reg):
                continue
            rule = row.get(reg)
            if rule is None or rule.type == "SAME_VALUE":
                nxt[reg] = value
            elif rule.type == "OFFSET":
                v = self._word(cfa + rule.arg)
                if v is not None:
                    nxt[reg] = v
            elif rule.type == "VAL_OFFSET":
                nxt[reg] = cfa + rule.arg
            # UNDEFINED, REGISTER, expressions: not known in the caller
        ra_rule = row.get(ra_reg)
        if ra_rule is None or ra_rule.type == "UNDEFINED":
            return None  # the outermost frame (_start, clone's child)
        if ra_rule.type != "OFFSET":
            return None
        ra = self._word(cfa + ra_rule.arg)
        if ra is None:
            return None
        nxt[ra_reg] = ra
        nxt[sp_reg] = cfa
        return nxt

    def _step_fp(self, r: dict[int, int]) -> dict[int, int] | None:
        w = self.abi.word
        ra_reg, sp_reg, fp_reg = (16, 7, 6) if self.abi.bits == 64 else (8, 4, 5)
        fp = r.get(fp_reg)
        if not fp or fp < r[sp_reg]:
            return None
        saved_fp, ra = self._word(fp), self._word(fp + w)
        if saved_fp is None or ra is None:
            return None
        nxt = dict(r)
        nxt[fp_reg] = saved_fp
        nxt[ra_reg] = ra
        nxt[sp_reg] = fp + 2 * w
        return nxt


def _first_load(data: bytes) -> int:
    """p_vaddr of the first PT_LOAD of an ELF image."""
    from elftools.elf.elffile import ELFFile

    for seg in ELFFile(io.BytesIO(data)).iter_segments():
        if seg["p_type"] == "PT_LOAD":
            return int(seg["p_vaddr"])
    return 0
