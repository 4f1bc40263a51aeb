"""Reports over a stopped target, independent of the backend.

:class:`Inspector` needs only a task (memory, registers, /proc-like data),
so the ptrace Session and the GDB extension share every report here.
"""

from __future__ import annotations

from sigdbg.abi import Abi
from sigdbg.backends.base import Task
from sigdbg.decode.auxv import (
    AT_SYSINFO,
    AT_SYSINFO_EHDR,
    AuxvReport,
    decode_auxv,
    parse_auxv_bytes,
)
from sigdbg.decode.frames import AnyFrame, decode_frame, own_model
from sigdbg.decode.memmap import Mapping, MemoryMap, parse_maps, special_table
from sigdbg.decode.restorer import Restorer, SymbolRef
from sigdbg.decode.sigframe import SigFrame, decode_sigframe
from sigdbg.decode.specialpages import SpecialPage, decode_special_pages
from sigdbg.decode.vdso import (
    FixedPageEntry,
    FixedPageReport,
    VdsoReport,
    fixed_page,
    fixed_page_mode,
    vdso_report,
)
from sigdbg.engine.symbols import MapsSource, Symbolizer, VdsoImage
from sigdbg.errors import FeatureUnavailable, MemoryReadError, SigdbgError, UsageError


class Inspector(MapsSource):
    """Decoders bound to one target (a subclass supplies ``current_task``)."""

    #: where the kernel's own copy of the auxv comes from (a core file's NT_AUXV...)
    auxv_source = "/proc/PID/auxv"
    #: :meth:`lookup` is cheap for libc too (gdb's loaded tables), so libc's
    #: restorer is named by it rather than only by its bytes
    lookup_names_libc = False

    def __init__(self) -> None:
        self._maps: MemoryMap | None = None
        self.symbols = Symbolizer(_TaskMemory(self), self)

    # supplied by subclasses -------------------------------------------------
    def current_task(self) -> Task:  # pragma: no cover - abstract
        raise NotImplementedError

    def exe_path(self) -> str:
        return ""

    # shared -----------------------------------------------------------------
    @property
    def abi(self) -> Abi:
        return self.current_task().abi

    def maps(self) -> MemoryMap:
        if self._maps is None:
            task = self.current_task()
            text = task.maps_text()
            try:
                specials = special_table(task.process_abi.special_mappings)
            except SigdbgError:
                specials = None  # the program's ABI is unknown: the default explanation
            self._maps = parse_maps(text, specials)
        return self._maps

    def special_pages(self) -> tuple[SpecialPage, ...]:
        """What the kernel put in the process's special pages that its ABI
        describes (ARM: the kuser helpers in [vectors], the sigreturn
        trampolines in [sigpage]); empty for x86."""
        task = self.current_task()
        rules = task.process_abi.special_pages
        if not rules:
            return ()

        def dis(code: bytes, address: int, mode: str) -> list[str]:
            try:
                return self.disassemble(code, address, mode=mode)
            except FeatureUnavailable:
                return []  # no capstone: the bytes are still shown

        return decode_special_pages(task, self.maps(), rules, dis)

    def invalidate(self) -> None:
        """Forget cached maps and symbols (after exec, or when mmaps changed)."""
        self._maps = None
        self.symbols.invalidate()

    def mapped_file(self, m: Mapping) -> tuple[str, int | None] | None:
        """The file holding the bytes of the file mapping ``m`` -- for what is
        never loaded (``.debug_frame``) -- and the inode it must still have
        (None: already checked); None when there is no such file."""
        return (m.path, m.inode) if m.path.startswith("/") else None

    def lookup(self, address: int) -> SymbolRef | None:
        if self._maps is not None and self._maps.find(address) is None:
            self._maps = None  # the map changed since we cached it
            self.symbols.invalidate()
        return self.symbols.lookup(address)

    def _sym(self, address: int) -> str | None:
        ref = self.lookup(address)
        return str(ref) if ref is not None else None

    def auxv(self) -> AuxvReport:
        task = self.current_task()
        return decode_auxv(task, task.process_abi, task.pid, task.start_stack(), task.auxv_bytes(),
                           self.maps(), self._sym, self.auxv_source)

    def auxv_value(self, a_type: int) -> int | None:
        task = self.current_task()
        raw = task.auxv_bytes()
        if raw is None:
            return None
        return dict(parse_auxv_bytes(raw, task.process_abi)).get(a_type)

    def vdso_image(self) -> VdsoImage:
        return self.symbols.vdso()

    def vdso_report(self) -> VdsoReport:
        v = self.vdso_image()
        return vdso_report(self.current_task().process_abi.name, v.mapping, v.image,
                           len(v.data), self.maps(), self.auxv_value(AT_SYSINFO_EHDR),
                           self.auxv_value(AT_SYSINFO))

    def fixed_page_report(self, name: str) -> FixedPageReport:
        """The fixed page called ``name`` (``Abi.fixed_pages``): is it mapped,
        in which mode, and its entries disassembled when it can be read."""
        task = self.current_task()
        page = fixed_page(name)
        m = self.maps().by_name(page.mapping)
        try:
            with open("/proc/cmdline") as fh:
                cmdline = fh.read()
        except OSError:
            cmdline = ""
        mode, evidence = fixed_page_mode(page, task.process_abi, m.perms if m else None, cmdline)
        readable = False
        error = None
        entries = []
        if m is not None:
            try:
                data = task.read(page.address, page.size)
                readable = True
            except MemoryReadError as exc:
                data = None
                error = exc.reason
            for entry, off in page.entries:
                code = data[off : off + 16] if data is not None else None
                dis: tuple[str, ...] = ()
                if code is not None:
                    dis = tuple(self.disassemble(code, page.address + off, count=3,
                                                 mode=task.process_abi.disasm_mode))
                entries.append(FixedPageEntry(entry, page.address + off, code, dis))
        return FixedPageReport(task.process_abi.name, m is not None, m.perms if m else None,
                               mode, evidence, readable, error, tuple(entries), page=page.name)

    def disassemble(self, code: bytes, address: int, count: int = 0,
                    mode: str | None = None) -> list[str]:
        from sigdbg.decode.disasm import get_disassembler

        dis = get_disassembler(mode or self.abi.disasm_mode, "att")
        out = []
        for insn in dis.disassemble(code, address, count):
            out.append(f"{insn.address:#x}: {insn.bytes.hex():<20} {insn.text}")
        return out

    def disassemble_symbol(self, name: str) -> list[str]:
        """Disassemble a vDSO symbol (the `vdso --disas SYM` command)."""
        v = self.vdso_image()
        sym = v.image.lookup(name)
        if sym is None:
            raise UsageError(f"no symbol {name!r} in the vDSO")
        off = sym.value - v.image.load_bias_hint
        code = v.data[off : off + max(sym.size, 1)]
        try:
            return self.disassemble(code, v.mapping.start + off,
                                    mode=self.current_task().process_abi.disasm_mode)
        except FeatureUnavailable:
            raise
        except SigdbgError as exc:
            raise UsageError(str(exc)) from None

    def frame_at(self, address: int | None = None, *, signo: int | None = None,
                 kind: str | None = None) -> AnyFrame:
        """:meth:`sigframe`, or the ABI's own frame model where it has one
        (AArch64: sigdbg/abi/aarch64/a64frame.py, AArch32: sigdbg/abi/arm/a32frame.py,
        both through sigdbg/decode/frames.py).  Without ``address`` the frame
        is at sp and the registers are the handler's entry registers (x30/lr:
        the restorer); at an explicit address the restorer is not known."""
        task = self.current_task()
        if not own_model(task.abi):
            return self.sigframe(address, signo=signo, kind=kind)
        regs = task.registers() if address is None else None
        at = regs[task.abi.sp] if regs is not None else address
        assert at is not None
        return decode_frame(task, task.abi, at, entry_regs=regs, signo=signo, kind=kind,
                            view=_RestorerView(self))

    def sigframe(self, address: int | None = None, *, signo: int | None = None,
                 kind: str | None = None) -> SigFrame:
        """Decode the frame at ``address`` (default: the stack pointer, i.e.
        the frame when stopped at handler entry)."""
        task = self.current_task()
        if address is None:
            address = task.registers()[task.abi.sp]
        return decode_sigframe(task, task.abi, address, maps=self.maps(), lookup=self.lookup,
                               exe_path=self.exe_path(), kind=kind, signo=signo,
                               name_libc=self.lookup_names_libc)


class _RestorerView:
    """An inspector as the restorer classifier's context, with its own cache."""

    def __init__(self, owner: Inspector) -> None:
        self.restorers: dict[int, Restorer] = {}
        self.maps = owner.maps
        self.lookup = owner.lookup
        self.exe_path = owner.exe_path


#: auxv type of the kernel's minimum signal stack size (include/uapi/linux/auxvec.h)
AT_MINSIGSTKSZ = 51


class TaskView(Inspector):
    """An Inspector bound to one (stopped) task of one address space.

    The engine keeps one per traced process, so the maps, symbol and restorer
    caches of a forked child never mix with its parent's.
    """

    def __init__(self, task: Task, exe: str = "") -> None:
        super().__init__()
        self.task = task
        self._exe = exe
        #: pretcode -> Restorer, valid until the address space changes
        self.restorers: dict[int, Restorer] = {}
        #: AT_MINSIGSTKSZ once asked for (a list: read at most once per image)
        self._minsigstksz: list[int | None] = []

    def at_minsigstksz(self) -> int | None:
        """The auxv's AT_MINSIGSTKSZ (51), read once per address space."""
        if not self._minsigstksz:
            try:
                value = self.auxv_value(AT_MINSIGSTKSZ)
            except SigdbgError:
                value = None
            self._minsigstksz.append(value)
        return self._minsigstksz[0]

    def current_task(self) -> Task:
        return self.task

    def exe_path(self) -> str:
        return self._exe

    def invalidate(self) -> None:
        super().invalidate()
        self.restorers.clear()


class _TaskMemory:
    """Memory view that always follows the inspector's current task."""

    def __init__(self, owner: Inspector) -> None:
        self.owner = owner

    def read(self, address: int, size: int) -> bytes:
        return self.owner.current_task().read(address, size)

    def read_upto(self, address: int, size: int) -> bytes:
        return self.owner.current_task().read_upto(address, size)
