"""One traced thread of the ptrace backend (:class:`PtraceTask`, a
:class:`~sigdbg.backends.base.TracedTask`): registers and regsets, siginfo,
masks, memory through /proc/PID/mem, execute breakpoints (perf_event or
debug registers), and the ptrace requests that resume it.

A task caches what it read while stopped: the general registers (until it
is resumed, waited for or written to) and the debug registers it wrote (a
write of the value already there is skipped; exec clears them all).
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import signal
import struct
from collections.abc import Callable
from typing import NoReturn

from sigdbg.abi import (
    Abi,
    abi_for_elf_header,
    abi_for_regset_size,
    by_name,
    native_abi,
)
from sigdbg.backends.base import TracerBackend
from sigdbg.backends.ptrace_sys import (
    _BIG_REGSET_MAX,
    _FAILED,
    _HW_BREAK_REGSET,
    _HW_BREAKPOINT,
    _HW_BREAKPOINT_X,
    _MAX_REGSET,
    _NR_PERF_EVENT_OPEN,
    _PC_USER_OFFSET,
    _PEEK_PC,
    _PERF_ATTR,
    _PERF_BP_FLAGS,
    _PERF_EVENT_IOC_DISABLE,
    _PERF_EVENT_IOC_ENABLE,
    _PERF_FLAG_FD_CLOEXEC,
    _PERF_TYPE_BREAKPOINT,
    _PREAD_LIMIT,
    _SIGINFO_SIZE,
    _SYSCALL_INFO,
    _TRAP_PERF,
    NT_PRSTATUS,
    PTRACE_CONT,
    PTRACE_DETACH,
    PTRACE_GET_SYSCALL_INFO,
    PTRACE_GETEVENTMSG,
    PTRACE_GETREGS,
    PTRACE_GETREGSET,
    PTRACE_GETSIGINFO,
    PTRACE_GETSIGMASK,
    PTRACE_INTERRUPT,
    PTRACE_LISTEN,
    PTRACE_PEEKSIGINFO,
    PTRACE_PEEKSIGINFO_SHARED,
    PTRACE_PEEKUSER,
    PTRACE_POKEUSER,
    PTRACE_SETREGSET,
    PTRACE_SINGLESTEP,
    PTRACE_SYSCALL,
    _get_errno,
    _hw_reg_offset,
    _Iovec,
    _libc,
    _mem_reason,
    _seek_high,
    _sys_ptrace,
    _word,
)
from sigdbg.backends.stopcodes import PERF_SIG_DATA
from sigdbg.errors import (
    FeatureUnavailable,
    MemoryReadError,
    ProcessGone,
    SigdbgError,
    TargetError,
    UsageError,
)

#: perf_event breakpoints allowed here (cleared at the first refusal)
_perf_usable = not os.environ.get("SIGDBG_NO_PERF_BREAKPOINT")


#: abi name -> reader of (pc, sp) from a raw user_regs_struct (derived from the tables)
_PC_SP: dict[str, Callable[[bytes], tuple[int, int]]] = {}


def _pc_sp_reader(abi: Abi) -> Callable[[bytes], tuple[int, int]]:
    regs = abi.user_regs
    pc, sp = regs[abi.pc], regs[abi.sp]
    code = {4: "I", 8: "Q"}[abi.word]
    first, second = sorted((pc, sp), key=lambda f: f.offset)
    st = struct.Struct(f"{abi.endian}{first.offset}x{code}"
                       f"{second.offset - first.end}x{code}")
    if first is pc:
        return st.unpack_from
    return lambda raw: st.unpack_from(raw)[::-1]


def _errno_of(exc: BaseException) -> int | None:
    return getattr(exc, "errno", None)


class _Regset:
    """A preallocated buffer + iovec for PTRACE_GETREGSET/SETREGSET."""

    def __init__(self, size: int) -> None:
        self.buf = ctypes.create_string_buffer(size)
        self.view = memoryview(self.buf).cast("B")
        self.iov = _Iovec(ctypes.addressof(self.buf), size)
        self.size = size
        self.iov_ptr = _word(ctypes.addressof(self.iov))

    def get(self, task: PtraceTask, note: int) -> bytes:
        """PTRACE_GETREGSET ``note`` into the buffer; the bytes the kernel wrote."""
        iov = self.iov
        iov.len = self.size
        if _sys_ptrace(PTRACE_GETREGSET, task._tid, note, self.iov_ptr) == _FAILED:
            task._fail(PTRACE_GETREGSET)
        return self.view[: iov.len].tobytes()


_PEEK_MAX = 16
_SIGNO = struct.Struct("<i")


class _PeekBuffers:
    """PTRACE_PEEKSIGINFO arguments (private queue, shared queue) and the
    buffer it fills, made once per task."""

    def __init__(self) -> None:
        # struct ptrace_peeksiginfo_args { u64 off; u32 flags; s32 nr; }
        self._args = [ctypes.create_string_buffer(struct.pack("<QIi", 0, flags, _PEEK_MAX), 16)
                      for flags in (0, PTRACE_PEEKSIGINFO_SHARED)]
        self.args = [_word(ctypes.addressof(a)) for a in self._args]
        self.out = ctypes.create_string_buffer(_SIGINFO_SIZE * _PEEK_MAX)
        self.out_ptr = _word(ctypes.addressof(self.out))


def _hw_break_slot(abi: Abi, address: int, ctrl: int) -> tuple[int, int]:
    """(address, control word) of an execute breakpoint slot for code at
    ``address`` of a tracee of ``abi``.  The control word's byte-address-select
    field (BAS, bits 12:5; arch/arm64/include/asm/hw_breakpoint.h) says which
    bytes of the aligned word: a Thumb instruction (``Abi.isa_bit`` set in
    the address, ``Abi.hw_break_sizes``) is 2 bytes, BAS 0x3 at a word, 0xc
    at a halfword.  The slot gets the word address: the kernel turns the BAS
    offset into the address (hw_breakpoint.c ``arch_bp_generic_fields``), and
    an address at +2 written first would be refused while the slot still has
    the length of an earlier 4-byte breakpoint (``ptrace_hbp_set_addr``
    checks it against the old length: EINVAL, measured on 6.1)."""
    isa = bool(address & abi.isa_bit) if abi.isa_bit else False
    code = address & ~abi.isa_bit if abi.isa_bit else address
    size = abi.hw_break_sizes[1 if isa else 0]
    word = code & ~3
    bas = ((1 << size) - 1) << (code - word)
    return word, (ctrl & ~(0xFF << 5)) | (bas & 0xFF) << 5


class PtraceTask:
    """One traced thread: registers, siginfo and memory through its tid."""

    def __init__(self, tracer: TracerBackend, tid: int, pid: int) -> None:
        self.tracer = tracer
        self._tid = tid
        self._pid = pid
        self._mem_fd: int | None = None
        #: the layout of the registers last read (see ``abi``)
        self._abi: Abi | None = None
        self._process_abi: Abi | None = None
        self._regset = _Regset(_MAX_REGSET)
        self._big_regset: _Regset | None = None
        self._siginfo_buf = ctypes.create_string_buffer(_SIGINFO_SIZE)
        self._siginfo_ptr = _word(ctypes.addressof(self._siginfo_buf))
        self._msg = ctypes.c_ulong(0)
        self._msg_ptr = _word(ctypes.addressof(self._msg))
        #: NT_PRSTATUS bytes and their decoding, valid while the task stays stopped
        self._raw_regs: bytes | None = None
        self._regs: dict[str, int] | None = None
        #: debug registers as last written by us (n -> value); empty = unknown
        self._dr: dict[int, int] = {}
        #: a debug-register write of ours failed: what they hold is unknown
        self._dr_unknown = False
        #: the perf_event execute breakpoint of arm_breakpoint, and its address
        self._perf_fd: int | None = None
        self._perf_address = 0
        #: slot 0 of the ptrace breakpoint regset (_HW_BREAK_REGSET) as we set
        #: it: None = untouched, 0 = cleared by us, else the address armed
        #: (-1: a write failed, what it holds is unknown)
        self._hw_break: int | None = None
        self._sp_read: tuple[int, int, int] | None = None
        self._peek: _PeekBuffers | None = None

    # -- identity --------------------------------------------------------
    @property
    def tid(self) -> int:
        return self._tid

    @property
    def pid(self) -> int:
        return self._pid

    @property
    def abi(self) -> Abi:
        """The ABI of the code the task is stopped in: the layout of its
        NT_PRSTATUS regset at this stop, which is what its registers are
        named after.

        The kernel picks the regset view from the cs of the stopped code, not
        from the task's ABI (arch/x86/kernel/ptrace.c
        ``task_user_regset_view``: ``user_64bit_mode(task_pt_regs(task))``):
        a 64-bit program running 32-bit code (cs 0x23) gives the 68-byte
        i386 view, a 32-bit program in 64-bit code (cs 0x33) the 216-byte
        one.  At a handler's entry it is the ABI of the handler and of its
        frame (the kernel sets cs to __USER32_CS for an ia32 frame,
        __USER_CS for an rt_sigframe: signal_32.c / signal_64.c).  While
        the task runs, the ABI of its last stop.  The program's own ABI
        (auxv, vDSO, maps) is :attr:`process_abi`.
        """
        raw = self._raw_regs
        if raw is None:
            try:
                raw = self.registers_raw()
            except SigdbgError:
                if self._abi is not None:
                    return self._abi  # running (or gone): as at its last stop
                raise
        abi = self._abi
        if abi is None or len(raw) != abi.user_regs.size:
            abi = self._abi = abi_for_regset_size(len(raw))
        return abi

    @property
    def process_abi(self) -> Abi:
        """The ABI of the program (the ELF class of the executable the task
        runs since its last exec; fs/binfmt_elf.c vs compat_binfmt_elf.c): the
        layout of its auxv, which vDSO it has, what a 32-bit far return
        cannot change.  Falls back to the registers' ABI if /proc/PID/exe
        cannot be read."""
        abi = self._process_abi
        if abi is None:
            try:
                with open(f"/proc/{self._pid}/exe", "rb") as fh:
                    abi = abi_for_elf_header(fh.read(20))
            except (OSError, UsageError):
                abi = self.abi
            self._process_abi = abi
        return abi

    def forget_abi(self) -> None:
        """After exec the ABI (and the address space) may have changed."""
        self._abi = self._process_abi = None
        self._ran()
        self._dr.clear()  # exec clears the debug registers (flush_ptrace_hw_breakpoint)
        self._dr_unknown = False
        self.close_mem()

    def _ran(self) -> None:
        """The task is (being) resumed, or was seen stopping again: forget its registers."""
        self._raw_regs = self._regs = None

    # -- requests ----------------------------------------------------------
    def _fail(self, request: int) -> NoReturn:
        """Raise for a failed request (the lean path's errno)."""
        code = _get_errno()
        if code == errno.ESRCH:
            raise ProcessGone(f"process {self._tid} is gone (or not stopped)")
        raise TargetError(
            f"ptrace request {request:#x} on {self._tid} failed: {os.strerror(code or 0)}"
        )

    def _req(self, request: int, arg1: int = 0, arg2: int = 0) -> int:
        result = _sys_ptrace(request, self._tid, _word(arg1), _word(arg2))
        if result == _FAILED:
            self._fail(request)
        return int(result)

    def registers_raw(self) -> bytes:
        raw = self._raw_regs
        if raw is None:
            raw = self._raw_regs = self._regset.get(self, NT_PRSTATUS)
        return raw

    def registers(self) -> dict[str, int]:
        """The general registers (a fresh dict: callers may modify it).

        Read from the kernel once per stop: the registers cannot change while
        the task stays stopped except through :meth:`set_registers`.
        """
        regs = self._regs
        if regs is None:
            raw = self.registers_raw()
            abi = self._abi
            if abi is None or len(raw) != abi.user_regs.size:  # (see ``abi``)
                abi = self._abi = abi_for_regset_size(len(raw))
            regs = self._regs = abi.user_regs.decode(raw)  # type: ignore[assignment]
            assert regs is not None
        return dict(regs)

    def registers_as(self, abi: Abi) -> dict[str, int]:
        """The general registers named as in ``abi``'s user_regs_struct, also
        when the stopped code is of the other ABI (mixed-mode code).

        The 64-bit names come from PTRACE_GETREGS, which always uses the
        tracer's (64-bit) view and so has r8-r15 and the upper halves the
        i386 view cannot show (arch/x86/kernel/ptrace.c ``arch_ptrace``).
        The i386 names are the low 32 bits of the 64-bit view, as the
        kernel's own i386 view computes them (``getreg32``).
        """
        own = self.abi
        if own is abi:
            return self.registers()
        if abi is native_abi():  # PTRACE_GETREGS: the tracer's own view
            buf = ctypes.create_string_buffer(abi.user_regs.size)
            self._req(PTRACE_GETREGS, 0, ctypes.addressof(buf))
            return dict(abi.user_regs.decode(buf.raw))  # type: ignore[arg-type]
        wide, pairs = abi.narrow_view
        if not wide:
            raise TargetError(f"no view of a {own} task's registers as {abi}'s")
        regs = self.registers_as(by_name(wide))
        names = dict(pairs)
        return {f.name: regs[names[f.name]] & abi.mask for f in abi.user_regs.fields}

    def pc_sp(self) -> tuple[int, int]:
        """The program counter and stack pointer only, without decoding the rest."""
        raw = self.registers_raw()
        abi = self.abi
        read = _PC_SP.get(abi.name)
        if read is None:
            read = _PC_SP[abi.name] = _pc_sp_reader(abi)
        return read(raw)

    def set_registers(self, regs: dict[str, int]) -> None:
        data = self.abi.user_regs.encode(dict(regs))
        buf = ctypes.create_string_buffer(data, len(data))
        iov = _Iovec(ctypes.addressof(buf), len(data))
        self._raw_regs = self._regs = None  # the kernel may adjust what it is given
        self._req(PTRACE_SETREGSET, NT_PRSTATUS, ctypes.addressof(iov))

    def fp_regs_raw(self) -> bytes | None:
        """Target.fp_regs_raw: the ABI's FP/vector regset (``Abi.fp_regset_notes``,
        the first: x86's extended state in standard XSAVE format), None if
        refused or the ABI names none."""
        notes = self.abi.fp_regset_notes
        return self.regset_raw(notes[0][0]) if notes else None

    def siginfo_raw(self) -> bytes | None:
        """PTRACE_GETSIGINFO; None when the kernel says EINVAL (a group-stop).

        The kernel returns the *tracer's* siginfo layout (64-bit here) even
        for a 32-bit tracee.
        """
        if _sys_ptrace(PTRACE_GETSIGINFO, self._tid, 0, self._siginfo_ptr) == _FAILED:
            code = _get_errno()
            if code == errno.EINVAL:
                return None
            if code == errno.ESRCH:
                raise ProcessGone(f"process {self._tid} is gone")
            raise TargetError(f"PTRACE_GETSIGINFO failed: {os.strerror(code or 0)}")
        return self._siginfo_buf.raw

    def delivery_signal(self) -> int:
        """The signal of the signal-delivery-stop the task is in, 0 for any
        other ptrace-stop: what PTRACE_DETACH or a restart must pass on for
        the program to get it (the kernel takes the signal from the resume
        request's data, kernel/ptrace.c ``ptrace_detach``/``ptrace_resume``;
        0 drops a signal already dequeued).

        Told from the siginfo: a PTRACE_EVENT, group-stop or INTERRUPT stop
        has ``si_code`` >= 0x100 (``ptrace_do_notify``: ``exit_code |
        event << 8``), a syscall-stop SIGTRAP|0x80.  A SIGTRAP with
        0 < si_code < 0x80 (single-step, hardware breakpoint, handler entry)
        is a tracer's trap and is not passed on (the session tells a
        program's own ones apart; see ``Session.detach``), unless it is a
        perf_event TRAP_PERF that is not ours.  Raises ProcessGone when the
        task is not in a ptrace-stop.
        """
        raw = self.siginfo_raw()
        if raw is None:
            return 0  # a group-stop of a non-SEIZEd tracee
        signo, code = struct.unpack_from("<i4xi", raw)
        if code >= 0x100 or code == (signal.SIGTRAP | 0x80) and signo == signal.SIGTRAP:
            return 0
        if signo == signal.SIGTRAP and 0 < code < 0x80 and not (
                code == _TRAP_PERF and struct.unpack_from("<24xQ", raw)[0] != PERF_SIG_DATA):
            return 0
        return int(signo)

    def sigmask(self) -> int:
        """The task's blocked-signal mask (PTRACE_GETSIGMASK; bit n-1 = signal n).

        The kernel takes ``addr`` = sizeof(sigset_t) = 8 (kernel/ptrace.c).
        """
        if _sys_ptrace(PTRACE_GETSIGMASK, self._tid, 8, self._msg_ptr) == _FAILED:
            self._fail(PTRACE_GETSIGMASK)
        return int(self._msg.value)

    def pending_signals(self) -> int:
        """The signals queued for the task, its own queue and its process's
        (PTRACE_PEEKSIGINFO of both; bit n-1 = signal n).  Blocked or not: the
        caller applies the mask.  Only the first 16 entries of each queue are
        looked at (a standard signal is queued once; an RT flood may hide a
        later one).
        """
        bufs = self._peek
        if bufs is None:
            bufs = self._peek = _PeekBuffers()
        bits = 0
        unpack = _SIGNO.unpack_from
        for args in bufs.args:
            got = _sys_ptrace(PTRACE_PEEKSIGINFO, self._tid, args, bufs.out_ptr)
            if got == _FAILED:
                self._fail(PTRACE_PEEKSIGINFO)
            raw = bufs.out.raw
            for i in range(int(got)):
                signo = unpack(raw, i * _SIGINFO_SIZE)[0]
                if 0 < signo <= 64:
                    bits |= 1 << (signo - 1)
        return bits

    def syscall_info(self) -> tuple[int, int, int, int] | None:
        """PTRACE_GET_SYSCALL_INFO at a syscall or seccomp stop: (op, arch,
        nr, sp); op 1 entry, 2 exit, 3 seccomp (include/uapi/linux/ptrace.h
        ``struct ptrace_syscall_info``).  None when the kernel has no answer."""
        buf = ctypes.create_string_buffer(_SYSCALL_INFO.size)
        try:
            got = self._req(PTRACE_GET_SYSCALL_INFO, _SYSCALL_INFO.size, ctypes.addressof(buf))
        except TargetError:
            return None
        if got < 24:
            return None
        op, arch, _ip, sp, nr = _SYSCALL_INFO.unpack_from(buf.raw)
        return op, arch, nr, sp

    def event_msg(self) -> int:
        if _sys_ptrace(PTRACE_GETEVENTMSG, self._tid, 0, self._msg_ptr) == _FAILED:
            self._fail(PTRACE_GETEVENTMSG)
        return int(self._msg.value)

    def pc(self) -> int:
        """The program counter with one PTRACE_PEEKUSER (cheaper than a regset).

        PEEKUSER offsets are those of the tracer's ``struct user``; for a
        64-bit tracer ``regs.rip`` is at 128 for 64- and 32-bit tracees alike.
        """
        if not _PEEK_PC:
            return self.pc_sp()[0]
        result = _sys_ptrace(PTRACE_PEEKUSER, self._tid, _PC_USER_OFFSET, 0)
        if result == _FAILED:
            code = _get_errno()
            if code:  # else the word really is all ones
                if code == errno.ESRCH:
                    raise ProcessGone(f"process {self._tid} is gone")
                # the text python-ptrace's PtraceError had
                raise TargetError(
                    f"PTRACE_PEEKUSER failed: ptrace(cmd={PTRACE_PEEKUSER}, pid={self._tid}, "
                    f"{_PC_USER_OFFSET!r}, 0) error #{code}: {os.strerror(code)}"
                )
        return int(result)

    def _set_hw_reg(self, n: int, value: int) -> None:
        """Write debug register n through PTRACE_POKEUSER (the tracer's ABI's
        ``hw_breakpoint``: x86 ``offsetof(struct user, u_debugreg)``).

        The offset is that of the *tracer's* struct user (64-bit here), also
        for a 32-bit tracee (arch/x86/kernel/ptrace.c ``ptrace_set_debugreg``).
        Writing the value DRn already holds (as last written here) is skipped:
        the kernel would change nothing.
        """
        dr = self._dr
        if dr.get(n) == value:
            return
        if _sys_ptrace(PTRACE_POKEUSER, self._tid, _hw_reg_offset(n),
                       _word(value)) == _FAILED:
            dr.clear()  # a refused DR7 write may have applied part of it
            self._dr_unknown = True
            self._fail(PTRACE_POKEUSER)
        dr[n] = value

    def arm_breakpoint(self, address: int) -> None:
        """An execute breakpoint at ``address`` for this thread only; its stop
        is a SIGTRAP with si_code TRAP_PERF or TRAP_HWBKPT.

        Preferably a perf_event hardware breakpoint with ``sigtrap``
        (perf_event_open(2), Linux >= 5.13): it belongs to our file
        descriptor, so it is gone when sigdbg is, even SIGKILLed.  A ptrace
        debug register (DR0 + DR7) outlives its tracer (the kernel flushes
        it only at exec and exit) and a program whose tracer died would get
        the SIGTRAP.  DR0/DR7 are used when perf_event_open is refused
        (perf_event_paranoid, a seccomp profile, an older kernel).
        """
        global _perf_usable
        if _HW_BREAK_REGSET:
            self._set_hw_break(address)
            return
        fd = self._perf_fd
        if fd is not None and self._perf_address != address:
            os.close(fd)
            fd = self._perf_fd = None
        if fd is not None:
            try:
                fcntl.ioctl(fd, _PERF_EVENT_IOC_ENABLE, 0)
                return
            except OSError:
                os.close(fd)
                self._perf_fd = None
        if _perf_usable and _NR_PERF_EVENT_OPEN:
            attr = ctypes.create_string_buffer(_PERF_ATTR.pack(
                _PERF_TYPE_BREAKPOINT, _PERF_ATTR.size, 0, 1, 0, 0, _PERF_BP_FLAGS, 0,
                _HW_BREAKPOINT_X, address, ctypes.sizeof(ctypes.c_long), PERF_SIG_DATA),
                _PERF_ATTR.size)
            got = _libc.syscall(_NR_PERF_EVENT_OPEN, attr, self._tid, -1, -1,
                                _PERF_FLAG_FD_CLOEXEC)
            if got >= 0:
                self._perf_fd, self._perf_address = got, address
                return
            if ctypes.get_errno() != errno.ESRCH:
                _perf_usable = False  # refused here: debug registers from now on
        hw = _HW_BREAKPOINT
        if hw is None:
            raise FeatureUnavailable("no execute breakpoint: perf_event_open was refused "
                                     "and this architecture has no debug registers here")
        self._set_hw_reg(hw.address_index, address)
        self._set_hw_reg(hw.control_index, hw.execute_enable)

    def _set_hw_break(self, address: int) -> None:
        """Slot 0 of the ptrace breakpoint regset (AArch64: NT_ARM_HW_BREAK,
        ``struct user_hwdebug_state``: dbg_info, pad, then {addr, ctrl, pad}
        per slot; arch/arm64/kernel/ptrace.c ``hw_break_set``).  0 clears it.
        Like x86's DR7 it outlives the tracer (``flush_ptrace_hw_breakpoint``
        runs only at exec and exit): :meth:`disarm_debugregs` clears it."""
        if self._hw_break == address:
            return
        note, ctrl = _HW_BREAK_REGSET
        slot, ctrl = _hw_break_slot(self.abi, address, ctrl)
        data = struct.pack("<8xQI4x", slot, ctrl if address else 0)
        buf = ctypes.create_string_buffer(data, len(data))
        iov = _Iovec(ctypes.addressof(buf), len(data))
        self._hw_break = -1  # unknown if the write fails
        self._req(PTRACE_SETREGSET, note, ctypes.addressof(iov))
        self._hw_break = address

    def regset_raw(self, note: int) -> bytes | None:
        """PTRACE_GETREGSET ``note`` (up to 16 KiB: AArch64 NT_ARM_SVE is 8768
        bytes at VL 256), None if refused."""
        rs = self._big_regset
        if rs is None:
            rs = self._big_regset = _Regset(_BIG_REGSET_MAX)
        try:
            return rs.get(self, note)
        except TargetError:
            return None

    def disarm_breakpoint(self) -> None:
        """Turn off the breakpoint of :meth:`arm_breakpoint` (also while the
        task runs, for a perf_event; DR7 needs it stopped)."""
        if self._hw_break:
            self._set_hw_break(0)
        if self._perf_fd is not None:
            try:
                fcntl.ioctl(self._perf_fd, _PERF_EVENT_IOC_DISABLE, 0)
            except OSError:
                pass
        hw = _HW_BREAKPOINT
        if hw is not None and (self._dr.get(hw.control_index) or self._dr_unknown):
            self._set_hw_reg(hw.control_index, 0)

    def _close_perf(self) -> None:
        if self._perf_fd is not None:
            os.close(self._perf_fd)
            self._perf_fd = None

    def disarm_debugregs(self) -> None:
        """Clear DR7 and every DR0-3 we set, and close our perf_event
        breakpoint, before the task leaves us.

        The kernel keeps a tracee's debug registers when its tracer detaches
        or dies (they are flushed only at exec and exit,
        ``flush_ptrace_hw_breakpoint``): a breakpoint left armed would
        deliver a SIGTRAP to the untraced program.  The task must be stopped.
        Errors are ignored (the task may be gone).
        """
        self._close_perf()  # (the perf_event breakpoint of arm_breakpoint)
        if self._hw_break:
            try:
                self._set_hw_break(0)
            except SigdbgError:
                pass  # not stopped (or gone)
        if not self._dr_unknown and not any(self._dr.values()):
            return
        hw = _HW_BREAKPOINT
        if hw is None:
            return
        if _sys_ptrace(PTRACE_POKEUSER, self._tid, _hw_reg_offset(hw.control_index),
                       _word(0)) == _FAILED:
            return  # not stopped (or gone): what we know is kept for a retry
        for n in hw.addresses:
            if self._dr_unknown or self._dr.get(n):
                _sys_ptrace(PTRACE_POKEUSER, self._tid, _hw_reg_offset(n), _word(0))
        self._dr.clear()
        self._dr_unknown = False

    def cont(self, sig: int = 0) -> None:
        self._raw_regs = self._regs = None  # _ran(), inlined: once or twice per signal
        if _sys_ptrace(PTRACE_CONT, self._tid, 0, sig) == _FAILED:
            self._fail(PTRACE_CONT)

    def step(self, sig: int = 0) -> None:
        self._raw_regs = self._regs = None  # _ran(), inlined
        if _sys_ptrace(PTRACE_SINGLESTEP, self._tid, 0, sig) == _FAILED:
            self._fail(PTRACE_SINGLESTEP)

    def syscall(self, sig: int = 0) -> None:
        self._ran()
        self._req(PTRACE_SYSCALL, 0, sig)

    def listen(self) -> None:
        self._ran()
        self._req(PTRACE_LISTEN)

    def interrupt(self) -> None:
        self._ran()
        self._req(PTRACE_INTERRUPT)

    def detach(self, sig: int = 0) -> None:
        self.close_mem()
        self._ran()
        self._req(PTRACE_DETACH, 0, sig)

    # -- memory ------------------------------------------------------------
    def _fd(self) -> int:
        if self._mem_fd is None:
            try:
                self._mem_fd = os.open(f"/proc/{self._tid}/mem", os.O_RDWR | os.O_CLOEXEC)
            except FileNotFoundError:
                raise ProcessGone(f"process {self._tid} is gone") from None
            except OSError as exc:
                raise TargetError(
                    f"cannot open memory of process {self._tid}: {exc.strerror}"
                ) from None
        return self._mem_fd

    def close_mem(self) -> None:
        """Close our descriptors of this task (its memory, its perf_event)."""
        self._ran()  # (also called when the task is gone)
        self._close_perf()
        self._sp_read = None  # (forget_abi comes here too)
        if self._mem_fd is not None:
            os.close(self._mem_fd)
            self._mem_fd = None

    def sp_read_args(self) -> tuple[int, int, int]:
        """(memory fd, offset and size of the stack pointer in the regset):
        what the C module needs to read at sp, kept until exec or close."""
        args = self._sp_read
        if args is None:
            # the program's own ABI: a handler of the other ABI gives a regset
            # this does not fit, and the C module then reads nothing
            abi = self.process_abi
            field = abi.user_regs[abi.sp]
            args = self._sp_read = (self._fd(), field.offset, field.size)
        return args

    def _read_once(self, address: int, size: int) -> bytes:
        fd = self._fd()
        if address < _PREAD_LIMIT:
            return os.pread(fd, size, address)
        _seek_high(fd, address)
        return os.read(fd, size)

    def read_upto(self, address: int, size: int) -> bytes:
        if size <= 0:
            return b""
        out = b""
        while len(out) < size:
            try:
                chunk = self._read_once(address + len(out), size - len(out))
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        return out

    def read(self, address: int, size: int) -> bytes:
        if size <= 0:
            return b""
        if address < 0 or address + size > 1 << 64:
            raise MemoryReadError(address, size, "address out of range")
        try:
            data = self._read_once(address, size)
        except OSError as exc:
            if exc.errno == errno.ESRCH:
                raise ProcessGone(f"process {self._tid} is gone") from None
            raise MemoryReadError(address, size, _mem_reason(exc)) from None
        if len(data) < size:
            data += self.read_upto(address + len(data), size - len(data))
            if len(data) < size:
                raise MemoryReadError(
                    address, size, "unmapped or unreadable memory", got=len(data)
                )
        return data

    def write(self, address: int, data: bytes) -> None:
        fd = self._fd()
        try:
            if address < _PREAD_LIMIT:
                n = os.pwrite(fd, data, address)
            else:
                _seek_high(fd, address)
                n = os.write(fd, data)
        except OSError as exc:
            raise SigdbgError(
                f"cannot write {len(data)} bytes at {address:#x}: {exc.strerror}"
            ) from None
        if n != len(data):
            raise SigdbgError(f"short write at {address:#x}")

    # -- /proc ---------------------------------------------------------------
    def _proc(self, name: str) -> bytes:
        try:
            with open(f"/proc/{self._pid}/{name}", "rb") as fh:
                return fh.read()
        except FileNotFoundError:
            raise ProcessGone(f"process {self._pid} is gone") from None
        except PermissionError:
            raise TargetError(f"permission denied reading /proc/{self._pid}/{name}") from None

    def maps_text(self) -> str:
        return self._proc("maps").decode("utf-8", "surrogateescape")

    def auxv_bytes(self) -> bytes | None:
        return self._proc("auxv")

    def start_stack(self) -> int:
        """``mm->start_stack`` (the address of argc) from /proc/PID/stat field 28."""
        stat = self._proc("stat")
        # the command name (field 2) may contain spaces and parentheses
        rest = stat[stat.rindex(b")") + 2 :].split()
        return int(rest[28 - 3])

    def exe_path(self) -> str:
        try:
            return os.readlink(f"/proc/{self._pid}/exe")
        except OSError:
            return ""
