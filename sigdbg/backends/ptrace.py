"""The live backend: ptrace over python-ptrace, memory over /proc/PID/mem.

This is the only module that imports :mod:`ptrace`.  Starting a tracee
(SEIZE) and reaping go through python-ptrace's ``ptrace()`` binding;
the requests of a stopped task (CONT, SINGLESTEP, GETREGSET, GETSIGINFO,
PEEKUSER, POKEUSER, GETEVENTMSG, ...) are made on the trace hot path, several
per signal, and take a lean path instead: one ctypes function for libc's
``ptrace`` with its argument types set once, and preallocated buffers (about
0.4 us less Python work per request than the binding).  Both report failures
the same way (-1 and errno); errors are translated here into
:mod:`sigdbg.errors`.

A task caches what it read while stopped: the general registers (until it
is resumed, waited for or written to) and the debug registers it wrote (a
write of the value already there is skipped; exec clears them all).

All tracees must be driven from the thread that attached them (a kernel
rule); a :class:`Tracer` is therefore used from one thread only.

Memory is read with one ``pread`` of ``/proc/PID/mem`` per request: a whole
signal frame in one system call.  (``process_vm_readv`` honours page
protections and fails on PROT_NONE pages; ``/proc/PID/mem`` does not, which is
what a debugger wants.)  Kernel-half addresses (the x86_64 vsyscall page) are
read with lseek+read because ``pread`` rejects offsets >= 2**63.

Sources: include/uapi/linux/ptrace.h, include/uapi/linux/elf.h (NT_*),
kernel/ptrace.c, fs/proc/base.c (``mem_rw``).
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import signal
import struct
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn

from ptrace import PtraceError
from ptrace.binding.func import ptrace as _ptrace

from sigdbg.abi import (
    Abi,
    abi_for_elf_header,
    abi_for_regset_size,
    by_name,
    native_abi,
    sigreturn_calls,
)
from sigdbg.backends.base import Control, How, Target
from sigdbg.backends.stopcodes import PERF_SIG_DATA, PTRACE_EVENT_EXEC, Stop, classify
from sigdbg.errors import (
    FeatureUnavailable,
    MemoryReadError,
    ProcessGone,
    SigdbgError,
    TargetError,
    UsageError,
)
from sigdbg.names.syscalls import syscall_number

PTRACE_TRACEME = 0
PTRACE_PEEKDATA = 2
PTRACE_PEEKUSER = 3
PTRACE_POKEDATA = 5
PTRACE_POKEUSER = 6
PTRACE_CONT = 7
PTRACE_KILL = 8
PTRACE_SINGLESTEP = 9
PTRACE_GETREGS = 12
PTRACE_DETACH = 17
PTRACE_SYSCALL = 24
PTRACE_SETOPTIONS = 0x4200
PTRACE_GETEVENTMSG = 0x4201
PTRACE_GETSIGINFO = 0x4202
PTRACE_SETSIGINFO = 0x4203
PTRACE_GETREGSET = 0x4204
PTRACE_SETREGSET = 0x4205
PTRACE_SEIZE = 0x4206
PTRACE_INTERRUPT = 0x4207
PTRACE_LISTEN = 0x4208
PTRACE_PEEKSIGINFO = 0x4209
PTRACE_GETSIGMASK = 0x420A
#: struct ptrace_peeksiginfo_args.flags: read the process-wide (shared) queue
PTRACE_PEEKSIGINFO_SHARED = 1
PTRACE_GET_SYSCALL_INFO = 0x420E

PTRACE_O_TRACESYSGOOD = 0x1
PTRACE_O_TRACEFORK = 0x2
PTRACE_O_TRACEVFORK = 0x4
PTRACE_O_TRACECLONE = 0x8
PTRACE_O_TRACEEXEC = 0x10
PTRACE_O_TRACEEXIT = 0x40
PTRACE_O_TRACESECCOMP = 0x80
PTRACE_O_EXITKILL = 0x100000


NT_PRSTATUS = 1

_WALL = 0x40000000
#: WSTOPSIG of a syscall-stop with PTRACE_O_TRACESYSGOOD
_SYSCALL_TRAP = signal.SIGTRAP | 0x80
_WIFSTOPPED = os.WIFSTOPPED
#: the pc's offset in the tracer's struct user (its ABI's ``user_area_pc``)
#: for PTRACE_PEEKUSER; an arm64 kernel has no PTRACE_PEEKUSR at all
#: (arch/arm64/kernel/ptrace.c arch_ptrace: regsets only): read the regset there
_PEEK_PC = native_abi().user_area_pc is not None
_PC_USER_OFFSET = native_abi().user_area_pc or 0

#: Options always set: a dying tracer must never leave a stopped tracee.
#: TRACEEXIT gives a stop before a task dies, so a fatal signal is reported
#: while the process still exists.
BASE_OPTIONS = (PTRACE_O_EXITKILL | PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACEEXEC
                | PTRACE_O_TRACEEXIT)
FOLLOW_OPTIONS = PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | PTRACE_O_TRACECLONE



def _perf_event_open_nr() -> int:
    """perf_event_open's number in the tracer's own system-call table; 0 where
    the tracer's ABI prefers its ptrace breakpoint or has no table."""
    abi = native_abi()
    if abi.hw_breakpoint is not None and not abi.hw_breakpoint.perf_first:
        return 0
    try:
        return syscall_number(abi.name, "perf_event_open")
    except UsageError:
        return 0


#: perf_event_open(2) for an execute breakpoint that dies with our file
#: descriptor (include/uapi/linux/perf_event.h, hw_breakpoint.h), by the
#: tracer's own system call table; 0: not used (the tracer's ABI prefers its
#: ptrace breakpoint, ``HwBreakpoint.perf_first``, or has no table)
_NR_PERF_EVENT_OPEN = _perf_event_open_nr()
#: the tracer's ptrace execute breakpoint (also for a tracee of another ABI):
#: debug registers poked through its own struct user, or slot 0 of a regset
_HW_ANY = native_abi().hw_breakpoint
#: the debug-register form of it (None: none)
_HW_BREAKPOINT = _HW_ANY if _HW_ANY is not None and not _HW_ANY.regset_note else None
#: (regset note, control word) of the regset form of it (empty: none)
_HW_BREAK_REGSET: tuple[int, ...] = (
    (_HW_ANY.regset_note, _HW_ANY.execute_enable) if _HW_ANY is not None and _HW_ANY.regset_note
    else ())


def _hw_reg_offset(n: int) -> int:
    """PTRACE_POKEUSER offset of debug register ``n`` in the tracer's struct user."""
    assert _HW_BREAKPOINT is not None
    return _HW_BREAKPOINT.offset + native_abi().word * n
_PERF_TYPE_BREAKPOINT = 5
_HW_BREAKPOINT_X = 4
_PERF_FLAG_FD_CLOEXEC = 8
_PERF_EVENT_IOC_ENABLE = 0x2400
_PERF_EVENT_IOC_DISABLE = 0x2401
#: perf_event_attr (PERF_ATTR_SIZE_VER7, with sig_data): type, size, config,
#: sample_period, sample_type, read_format, flag bits, wakeup_events, bp_type,
#: bp_addr, bp_len, then zeros up to sig_data
_PERF_ATTR = struct.Struct("<IIQQQQQIIQQ48xQ")
#: exclude_kernel (bit 5), exclude_hv (6), remove_on_exec (36), sigtrap (37)
_PERF_BP_FLAGS = (1 << 5) | (1 << 6) | (1 << 36) | (1 << 37)
#: perf_event breakpoints allowed here (cleared at the first refusal)
_perf_usable = not os.environ.get("SIGDBG_NO_PERF_BREAKPOINT")

#: si_code of a perf_event SIGTRAP (include/uapi/asm-generic/siginfo.h)
_TRAP_PERF = 6
_SIGINFO_SIZE = 128
#: struct ptrace_syscall_info up to entry.nr / seccomp.nr: op, (reserved,
#: flags), arch, instruction_pointer, stack_pointer, nr
_SYSCALL_INFO = struct.Struct("<B3xIQQQ")
_MAX_REGSET = 4096
_BIG_REGSET_MAX = 16384
_PREAD_LIMIT = 1 << 63


class _Iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.lseek64.restype = ctypes.c_int64
_libc.lseek64.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int)
#: tgkill(2): a signal to one thread, named by its thread group too (glibc >= 2.30)
_tgkill = _libc["tgkill"]
_tgkill.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_int)

#: The lean path: libc's ptrace(request, pid, addr, data), a private function
#: object (``_libc[...]`` makes a new one).  The result is unsigned like
#: python-ptrace's, so a peeked word is never negative; -1 (all ones) with
#: errno set is a failure.  glibc sets errno to 0 when a PEEK request
#: succeeds, so errno after a -1 tells a peeked -1 from an error.
#:
#: No argtypes: converting arguments through them costs about 0.35 us more
#: per call, and the trace path makes 6 to 17 calls per signal.  Untyped,
#: ctypes passes a Python int as a C int (sign-extended into the register,
#: which is what the variadic ptrace reads) but truncates one that does not
#: fit, so only small values (requests, tids, signals, user-area offsets,
#: regset notes) are passed as ints; addresses and arbitrary words always go
#: through ``_word`` (a ctypes object here; a plain int for the C module).
_ctypes_ptrace = _libc["ptrace"]
_ctypes_ptrace.restype = ctypes.c_ulong
_FAILED = (1 << (8 * ctypes.sizeof(ctypes.c_ulong))) - 1


def _native_module() -> Any:
    """sigdbg.backends._fastptrace (the same calls in C, see its source), or
    None when it is not built or SIGDBG_NO_NATIVE is set (the tests run both)."""
    if os.environ.get("SIGDBG_NO_NATIVE"):
        return None
    try:
        from sigdbg.backends import _fastptrace  # type: ignore[attr-defined]
    except ImportError:
        return None
    return _fastptrace


_NATIVE = _native_module()
#: ptrace(request, pid, addr, data) -> unsigned word, and errno after it
_sys_ptrace: Callable[[int, int, Any, Any], int]
_get_errno: Callable[[], int]
#: how an address or arbitrary word is passed to _sys_ptrace (see above)
_word: Callable[[int], Any]
if _NATIVE is not None:  # it converts plain ints to unsigned words itself
    _sys_ptrace, _get_errno, _word = _NATIVE.ptrace, _NATIVE.last_errno, int
else:
    _sys_ptrace, _get_errno, _word = _ctypes_ptrace, ctypes.get_errno, ctypes.c_ulong


def native_in_use() -> bool:
    """Whether the C module makes the hot calls (for the tests and --debug)."""
    return _NATIVE is not None


def trace_loop_available() -> bool:
    """Whether the C module's trace loop (``Tracer.trace_loop``) can run: it
    reads the pc at a delivery with PEEKUSER, as on x86-64 hosts only."""
    return _NATIVE is not None and hasattr(_NATIVE, "trace_loop") and _PEEK_PC


#: Tracer.trace_loop outcomes (_fastptrace.c ``trace_loop``)
LOOP_STOP, LOOP_MISS, LOOP_OTHER, LOOP_FULL, LOOP_INTR, LOOP_PASS_MISS, LOOP_WALK = range(7)
#: the ops of a walk plan (_fastptrace.c OP_*; engine/faststep.py)
(OP_SIGMASK, OP_ENABLE, OP_CONT, OP_STEP, OP_REGS, OP_READ, OP_PENDING,
 OP_DISABLE) = range(8)
#: a walk op's result for OP_CONT / OP_STEP: rerr werr got status has_info ierr, siginfo
WALK_STOP = struct.Struct("<6i")


class LoopResult(NamedTuple):
    """What ``Tracer.trace_loop`` returned (see _fastptrace.c ``trace_loop``)."""

    kind: int  #: LOOP_*
    out: bytes  #: the deliveries written with templates, in order
    served: int  #: how many
    stid: int  #: the task stepped into a handler last (LOOP_MISS/OTHER/FULL)
    dinfo: bytes | None  #: that delivery's siginfo (LOOP_MISS/OTHER)
    dpc: int | None  #: its pc before the step
    rerr: int  #: errno of a failed resume (0: none)
    werr: int  #: errno of a failed wait (0: none)
    got: int  #: the task that stopped
    status: int
    info: bytes | None  #: its siginfo
    ierr: int
    regs: bytes | None  #: its registers (SIGTRAP stops)
    data: bytes | None  #: bytes read at its sp (handler entry)
    exc: BaseException | None  #: LOOP_INTR: raise it once ``out`` is written
    #: LOOP_WALK: (delivery template index, [(op, address, size, result)])
    walk: tuple[int, list[tuple[int, int, int, bytes]]] | None = None


class TemplateStore:
    """Delivery templates of the C trace loop: each one delivery's output as
    literal bytes and holes (engine/fastpath.py makes them), with the key
    bytes under which it applies.  ``key``: [(source, offset, bytes)];
    ``ops``: [bytes | (source, offset, size, format)]."""

    def __init__(self) -> None:
        self._store = _NATIVE.store_new()
        self.size = 0

    def add(self, tid: int, regs_len: int, frame_len: int, key: list[tuple[int, int, bytes]],
            ops: list[bytes | tuple[int, int, int, int]]) -> bool:
        ok = bool(_NATIVE.store_add(self._store, tid, regs_len, frame_len, key, ops))
        self.size += ok
        return ok

    def clear(self) -> None:
        _NATIVE.store_clear(self._store)
        self.size = 0

    def render(self, index: int, frame: bytes, regs: bytes, pc: int, info: bytes) -> bytes | None:
        """Template ``index`` applied to these bytes (None: its key does not match)."""
        out: bytes | None = _NATIVE.render(self._store, index, frame, regs, pc, info)
        return out

    def add_walk(self, tid: int, dt: int, plan: list[tuple[int, int, int]], lens: list[int],
                 key: list[tuple[int, int, bytes]], members: list[tuple[int, int, int, int]],
                 out: list[bytes | tuple[int, int, int, int]]) -> bool:
        """A walk template (engine/faststep.py) after delivery template ``dt``."""
        return bool(_NATIVE.store_add_walk(self._store, tid, dt, plan, lens, key, members, out))

    def walk_render(self, index: int, sources: list[bytes]) -> bytes | None:
        """Walk template ``index`` applied to these sources (None: no match)."""
        out: bytes | None = _NATIVE.walk_render(self._store, index, sources)
        return out


def _perf_args(t: PtraceTask) -> tuple[int, int]:
    """(fd, address) of ``t``'s perf_event restorer breakpoint when the C
    walk may enable and disable it as ``arm_breakpoint`` and
    ``disarm_breakpoint`` would (an fd open, no debug register of ours
    set); (-1, 0) otherwise."""
    hw = _HW_BREAKPOINT
    if _HW_BREAK_REGSET or t._hw_break or t._perf_fd is None or t._dr_unknown \
            or (hw is not None and t._dr.get(hw.control_index)):
        return -1, 0
    return t._perf_fd, t._perf_address


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




#: seccomp (include/uapi/linux/seccomp.h, filter.h, bpf_common.h, audit.h)
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2
_SECCOMP_RET_ALLOW = 0x7FFF0000
_SECCOMP_RET_TRACE = 0x7FF00000
_BPF_LD_W_ABS = 0x20  #: BPF_LD | BPF_W | BPF_ABS
_BPF_JEQ_K = 0x15  #: BPF_JMP | BPF_JEQ | BPF_K
_BPF_RET_K = 0x06  #: BPF_RET | BPF_K
#: (audit arch, syscall nr, ret data of SECCOMP_RET_TRACE) per sigreturn
#: (the ret data says which: sigdbg.abi.sigreturn_calls, engine/srop.py)
SIGRETURN_FILTER_CALLS = tuple((abi.audit_arch, kind.sigreturn_nr, i)
                               for i, (abi, kind) in enumerate(sigreturn_calls(), 1))


def sigreturn_filter() -> bytes:
    """A classic-BPF seccomp program: SECCOMP_RET_TRACE for rt_sigreturn
    (x86_64 15, i386 173) and sigreturn (i386 119), matched on
    ``seccomp_data.arch`` (offset 4) and ``.nr`` (offset 0), the call's
    number in the ret data; every other system call is allowed.  An int
    $0x80 from 64-bit code reports AUDIT_ARCH_I386 (``syscall_get_arch``),
    so it is caught with its ia32 meaning."""
    ins: list[tuple[int, int, int, int]] = []
    for arch, nr, data in SIGRETURN_FILTER_CALLS:
        ins += [(_BPF_LD_W_ABS, 0, 0, 4),
                (_BPF_JEQ_K, 0, 3, arch),  # other arch: skip to the next pair
                (_BPF_LD_W_ABS, 0, 0, 0),
                (_BPF_JEQ_K, 0, 1, nr),
                (_BPF_RET_K, 0, 0, _SECCOMP_RET_TRACE | data)]
    ins.append((_BPF_RET_K, 0, 0, _SECCOMP_RET_ALLOW))
    return b"".join(struct.pack("<HBBI", *i) for i in ins)


def install_sigreturn_filter() -> int:
    """Install :func:`sigreturn_filter` on the calling thread (the child
    between fork and exec); 0 or an errno.  PR_SET_NO_NEW_PRIVS first, as
    an unprivileged filter requires (kernel/seccomp.c
    ``seccomp_prepare_filter``).  Only call it once the tracer has set
    PTRACE_O_TRACESECCOMP: without a tracer that asked for the events, a
    SECCOMP_RET_TRACE call fails with ENOSYS (``__seccomp_filter``)."""
    prog = sigreturn_filter()
    buf = ctypes.create_string_buffer(prog, len(prog))
    fprog = struct.pack("<H6xQ", len(prog) // 8, ctypes.addressof(buf))
    fbuf = ctypes.create_string_buffer(fprog, len(fprog))
    prctl = _libc.prctl
    if prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return ctypes.get_errno() or errno.EPERM
    if prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.c_void_p(ctypes.addressof(fbuf)),
             0, 0) != 0:
        return ctypes.get_errno() or errno.EPERM
    return 0


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


class ResumeResult(NamedTuple):
    """What ``Tracer.resume_wait`` saw: the wait, and what was read at it."""

    wait: WaitResult
    siginfo: bytes | None
    pc: int | None  #: the resumed task's pc before resuming (peek_pc)
    read: tuple[int, bytes] | None  #: (sp, bytes read there) at the stop (read_at_sp)


class WaitResult(NamedTuple):
    """One ``waitpid`` result, before classification (a NamedTuple: two are
    made per traced signal, and a frozen dataclass costs several times more)."""

    tid: int
    status: int
    pid: int = 0  #: thread-group id of the task, when known

    @property
    def stopped(self) -> bool:
        return os.WIFSTOPPED(self.status)

    @property
    def exited(self) -> bool:
        return os.WIFEXITED(self.status)

    @property
    def signaled(self) -> bool:
        return os.WIFSIGNALED(self.status)

    @property
    def stopsig(self) -> int:
        return os.WSTOPSIG(self.status)

    @property
    def event(self) -> int:
        return (self.status >> 16) & 0xFF

    @property
    def exit_code(self) -> int:
        return os.WEXITSTATUS(self.status)

    @property
    def termsig(self) -> int:
        return os.WTERMSIG(self.status)

    @property
    def core_dumped(self) -> bool:
        return os.WCOREDUMP(self.status)


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
    thumb = bool(address & abi.isa_bit) if abi.isa_bit else False
    code = address & ~abi.isa_bit if abi.isa_bit else address
    size = abi.hw_break_sizes[1 if thumb else 0]
    word = code & ~3
    bas = ((1 << size) - 1) << (code - word)
    return word, (ctrl & ~(0xFF << 5)) | (bas & 0xFF) << 5


class PtraceTask:
    """One traced thread: registers, siginfo and memory through its tid."""

    def __init__(self, tracer: Tracer, tid: int, pid: int) -> None:
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


def _seccomp_mode(pid: int) -> int:
    """The ``Seccomp:`` line of /proc/PID/status (2: a filter is installed)."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("Seccomp:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _seek_high(fd: int, address: int) -> None:
    """lseek to a kernel-half address: the result is a negative off_t, which
    os.lseek would take for an error (fs/proc/base.c mem_lseek allows it)."""
    ctypes.set_errno(0)
    _libc.lseek64(fd, address - (1 << 64), os.SEEK_SET)
    err = ctypes.get_errno()
    if err:
        raise OSError(err, os.strerror(err))


def _mem_reason(exc: OSError) -> str:
    if exc.errno == errno.EIO:
        return "unmapped or unreadable memory (EIO)"
    if exc.errno == errno.EINVAL:
        return "address not accessible (EINVAL)"
    return exc.strerror or str(exc)


class Tracer:
    """Owns every task this process traces; one per tracer thread.

    It starts or attaches targets, waits for stops of any of them, and
    guarantees cleanup: :meth:`close` kills launched tracees and detaches
    attached ones, and PTRACE_O_EXITKILL makes the kernel kill them if this
    process dies first.
    """

    def __init__(self) -> None:
        self.tasks: dict[int, PtraceTask] = {}
        self.launched: set[int] = set()  #: pids we started (killed on close)
        self.attached: set[int] = set()  #: pids we attached (detached on close)
        self.options = BASE_OPTIONS
        self.spawned_any = False  #: this tracer launched (rather than attached) its target
        #: the launched program runs under sigreturn_filter (spawn)
        self.seccomp_filtered = False

    # -- starting ------------------------------------------------------------
    def spawn(
        self,
        argv: list[str],
        env: dict[str, str] | None = None,
        follow: bool = False,
        stdin: int | None = None,
        stdout: int | None = None,
        stderr: int | None = None,
        sigreturn_filter: bool = False,
    ) -> PtraceTask:
        """Fork and exec ``argv`` as a tracee; return it stopped at exec.

        ``sigreturn_filter``: the child installs :func:`sigreturn_filter`
        after the tracer seized it with PTRACE_O_TRACESECCOMP and before
        exec, so every rt_sigreturn/sigreturn of the program and of its
        descendants stops with PTRACE_EVENT_SECCOMP (``seccomp_filtered``
        says whether it worked).  The filter outlives the tracer, and a
        task with it that nobody traces with PTRACE_O_TRACESECCOMP gets
        ENOSYS from sigreturn: only for tracees whose every task stays
        traced until it dies (launched with ``follow``).

        The tracee is PTRACE_SEIZEd, like an attached one (so job control
        works: a group-stop can be kept with PTRACE_LISTEN, which a
        TRACEME tracee refuses, kernel/ptrace.c ``ptrace_request``).  The
        child waits on a pipe until the parent has seized it with the
        options (EXITKILL, TRACEEXEC) in force, then execs: the first stop
        we hand back is the PTRACE_EVENT_EXEC stop, before the new program
        ran a single instruction.  The child never stops itself, so no
        group-stop or SIGCONT is left behind.  If the parent dies before
        the go byte, the child reads EOF and exits without exec.

        SIGPIPE and SIGXFSZ are reset to SIG_DFL before exec, as
        subprocess does (``restore_signals``): Python ignores them, and an
        ignored disposition survives execve, so the program would otherwise
        run with SIGPIPE ignored where it does not untraced.
        """
        path = argv[0]
        rfd, wfd = os.pipe2(os.O_CLOEXEC)  # exec error: errno from the child
        go_r, go_w = os.pipe2(os.O_CLOEXEC)  # the parent's go-ahead
        envb = os.environ.copy() if env is None else env
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            try:
                os.close(rfd)
                os.close(go_w)
                for fd, target in ((stdin, 0), (stdout, 1), (stderr, 2)):
                    if fd is not None:
                        os.dup2(fd, target)
                for sig in (signal.SIGPIPE, signal.SIGXFSZ):
                    _libc.signal(int(sig), None)  # SIG_DFL (a NULL handler)
                if os.read(go_r, 1) == b"x":
                    if sigreturn_filter:
                        install_sigreturn_filter()  # (failure: seen in /proc, below)
                    os.execve(path, argv, envb)
            except OSError as exc:
                os.write(wfd, str(exc.errno or 0).encode())
            except BaseException:
                os.write(wfd, b"0")
            os._exit(127)
        os.close(wfd)
        os.close(go_r)
        self.spawned_any = True
        task = PtraceTask(self, pid, pid)
        self.tasks[pid] = task
        self.launched.add(pid)
        try:
            self.options = BASE_OPTIONS | (FOLLOW_OPTIONS if follow else 0) \
                | (PTRACE_O_TRACESECCOMP if sigreturn_filter else 0)
            try:
                _ptrace(PTRACE_SEIZE, pid, 0, self.options)
            except PtraceError as exc:
                raise TargetError(f"{path}: cannot trace the new process: "
                                  f"{os.strerror(_errno_of(exc) or 0)}") from None
            os.write(go_w, b"x")
            os.close(go_w)
            go_w = -1
            res = self.wait(pid)
            execed = res.stopped and res.stopsig == signal.SIGTRAP \
                and res.event == PTRACE_EVENT_EXEC
            if not execed and res.stopped:
                # execve failed (e.g. a #! interpreter that does not exist) and
                # the child stopped on its way out (PTRACE_EVENT_EXIT of its
                # _exit): let it go.  SIGKILL does not end that stop, and the
                # reaping below would wait for a stop already reported.
                try:
                    task.cont(0)
                except SigdbgError:
                    pass
            err = b"" if execed else os.read(rfd, 32)
            os.close(rfd)
            rfd = -1
            if execed:
                self.seccomp_filtered = sigreturn_filter and _seccomp_mode(pid) == 2
                return task
            if err:
                code = int(err or b"0")
                raise TargetError(f"{path}: cannot execute: {os.strerror(code)}")
            raise TargetError(f"{path}: did not reach exec (status {res.status:#x})")
        except BaseException:
            for fd in (go_w, rfd):
                if fd >= 0:
                    os.close(fd)
            self._kill_reap(pid)
            raise

    def attach(self, pid: int, follow: bool = False) -> PtraceTask:
        """PTRACE_SEIZE a running process and stop it with PTRACE_INTERRUPT."""
        if pid <= 1:
            raise TargetError(f"refusing to attach to pid {pid}")
        if not os.path.exists(f"/proc/{pid}"):
            raise TargetError(f"no process with pid {pid}")
        # No EXITKILL here: if sigdbg dies, the kernel detaches and restarts an
        # attached process (kernel/ptrace.c exit_ptrace) -- it was not ours to kill.
        self.options = (BASE_OPTIONS & ~PTRACE_O_EXITKILL) | (FOLLOW_OPTIONS if follow else 0)
        task = PtraceTask(self, pid, pid)
        try:
            _ptrace(PTRACE_SEIZE, pid, 0, self.options)
        except PtraceError as exc:
            code = _errno_of(exc)
            if code == errno.EPERM:
                raise TargetError(
                    f"cannot attach to pid {pid}: operation not permitted "
                    "(already traced, or ptrace forbidden)"
                ) from None
            if code == errno.ESRCH:
                raise TargetError(f"no process with pid {pid}") from None
            raise TargetError(f"cannot attach to pid {pid}: {os.strerror(code or 0)}") from None
        self.tasks[pid] = task
        self.attached.add(pid)
        task.interrupt()
        return task

    # -- waiting ---------------------------------------------------------------
    def wait(self, tid: int = -1, nohang: bool = False) -> WaitResult:
        """waitpid(tid, __WALL); raises ProcessGone when there is nothing to wait for."""
        try:
            got, status = os.waitpid(tid, _WALL | (os.WNOHANG if nohang else 0))
        except ChildProcessError:
            raise ProcessGone("no traced process left") from None
        if got == 0:
            return WaitResult(0, 0)
        return self._waited(got, status)

    def _waited(self, got: int, status: int) -> WaitResult:
        """The tracer's bookkeeping once ``got`` has reported ``status``."""
        task = self.tasks.get(got)
        if task is None:
            pid = got
        else:
            pid = task._pid
            task._raw_regs = task._regs = None  # it ran since we last looked
            if (status >> 16) == PTRACE_EVENT_EXEC:
                task._dr.clear()  # exec cleared its debug registers
        if not _WIFSTOPPED(status):
            self.tasks.pop(got, None)
            if task is not None:
                task.close_mem()
            self.launched.discard(got)
            self.attached.discard(got)
        return WaitResult(got, status, pid)

    def resume_wait(self, task: PtraceTask, sig: int, step: bool, wait_tid: int = -1,
                    peek_pc: bool = False, read_at_sp: int = 0,
                    syscall: bool = False) -> ResumeResult:
        """Resume ``task`` (PTRACE_SINGLESTEP if ``step``, else PTRACE_CONT,
        with ``sig``), wait for the next stop of ``wait_tid`` (-1: any task),
        and read that task's siginfo when its status says it has one (not a
        PTRACE_EVENT stop, not a syscall-stop; None for a group-stop or a
        task already gone): what the session does after every resume, as one
        call of the C module when it is built.

        ``peek_pc`` reads the task's pc first (None if it cannot be).
        ``read_at_sp`` > 0 asks for that many bytes of memory at the stack
        pointer when the task itself stops at a SIGTRAP (the signal frame, at
        a handler's entry); the C module does that read in the same call and
        returns it with the sp it was read at, else it is None.

        ``syscall`` resumes with PTRACE_SYSCALL instead (the next stop is at
        most the task's next syscall-stop; no trap flag is involved).

        A task that is gone before it could be resumed is waited for all the
        same (its exit is what the wait reports).
        """
        task._raw_regs = task._regs = None  # _ran(), inlined
        request = PTRACE_SYSCALL if syscall else PTRACE_SINGLESTEP if step else PTRACE_CONT
        if _NATIVE is not None:
            # a step's stop is normally a handler entry, whose registers and
            # frame are read next: they come back with the same call
            if read_at_sp > 0:
                try:
                    fd, sp_offset, sp_size = task.sp_read_args()
                except SigdbgError:
                    fd = sp_offset = sp_size = -1
            else:
                fd = sp_offset = sp_size = -1
            rerr, werr, got, status, info, ierr, pc, regs, data = _NATIVE.resume_wait(
                task._tid, request, sig, wait_tid, _PC_USER_OFFSET if peek_pc and _PEEK_PC else -1,
                _MAX_REGSET if step else 0, fd, sp_offset, sp_size, read_at_sp)
            if rerr or werr:
                if rerr and rerr != errno.ESRCH:
                    raise TargetError(f"ptrace request {request:#x} on {task._tid} failed: "
                                      f"{os.strerror(rerr)}")
                if werr == errno.ECHILD:
                    raise ProcessGone("no traced process left")
                if werr:
                    raise TargetError(f"waitpid failed: {os.strerror(werr)}")
                return ResumeResult(*self.wait_siginfo(wait_tid), pc, None)  # ESRCH
            if info is None and ierr not in (0, errno.EINVAL, errno.ESRCH):
                raise TargetError(f"PTRACE_GETSIGINFO failed: {os.strerror(ierr)}")
            res = self._waited(got, status)
            if regs is None:
                return ResumeResult(res, info, pc, None)
            stopped = self.tasks.get(got)
            if stopped is not None:
                stopped._raw_regs = regs  # valid until it runs again
            if data is None:
                return ResumeResult(res, info, pc, None)
            sp = int.from_bytes(regs[sp_offset : sp_offset + sp_size], "little")
            return ResumeResult(res, info, pc, (sp, data))
        pc = None
        if peek_pc:
            try:
                pc = task.pc()
            except SigdbgError:
                pc = None
        try:
            if _sys_ptrace(request, task._tid, 0, sig) == _FAILED:
                task._fail(request)
        except ProcessGone:
            pass
        return ResumeResult(*self.wait_siginfo(wait_tid), pc, None)

    def trace_loop(self, store: TemplateStore, task: PtraceTask, sig: int, served: int,
                   handler_code: int, read_size: int, max_count: int,
                   max_bytes: int, step: bool = False) -> LoopResult:
        """Resume ``task`` and serve plain deliveries in C until something
        else happens (see _fastptrace.c ``trace_loop``): a signal in
        ``served`` (bit n-1 = signal n) delivered to a task with a handler is
        stepped into it, its frame read, and written with the first template
        of ``store`` whose key matches (``handler_code`` < 0: passed on with
        its signal instead, written with a template of its siginfo and pc).
        The tasks' memory fds are opened first.  Nothing is raised for a
        failed resume or wait: the caller writes ``out`` first
        (:meth:`loop_stop`).  ``step``: the walks of --step-sigreturn too,
        by the store's walk templates (LOOP_WALK when none serves one)."""
        fds: dict[int, tuple[int, ...]] = {}
        for tid, t in self.tasks.items():
            try:
                fds[tid] = t.sp_read_args() + _perf_args(t) if step else t.sp_read_args()
            except SigdbgError:
                pass
        task._raw_regs = task._regs = None
        r = LoopResult(*_NATIVE.trace_loop(store._store, task._tid, sig, fds, served,
                                           handler_code, _PC_USER_OFFSET, _MAX_REGSET, read_size,
                                           max_count, max_bytes, int(step)))
        if r.kind == LOOP_FULL:
            stopped = self.tasks.get(r.stid)
            if stopped is not None:
                stopped._raw_regs = stopped._regs = None
                stopped._raw_regs = r.regs
        return r

    def perf_args(self, task: PtraceTask) -> tuple[int, int]:
        """(fd, address) of the task's restorer breakpoint the C walk may
        enable and disable, or (-1, 0) (see ``_perf_args``)."""
        return _perf_args(task)

    def loop_stop(self, r: LoopResult) -> tuple[WaitResult, bytes | None]:
        """The stop a trace loop ended on, as ``resume_wait`` reports one:
        the tracer's bookkeeping done, errors raised."""
        if r.rerr or r.werr:
            if r.rerr and r.rerr != errno.ESRCH:
                raise TargetError(f"ptrace resume of a traced task failed: {os.strerror(r.rerr)}")
            if r.werr == errno.ECHILD:
                raise ProcessGone("no traced process left")
            if r.werr:
                raise TargetError(f"waitpid failed: {os.strerror(r.werr)}")
            return self.wait_siginfo(-1)  # ESRCH: its exit is what the wait reports
        if r.info is None and r.ierr not in (0, errno.EINVAL, errno.ESRCH):
            raise TargetError(f"PTRACE_GETSIGINFO failed: {os.strerror(r.ierr)}")
        res = self._waited(r.got, r.status)
        if r.regs is not None:
            stopped = self.tasks.get(r.got)
            if stopped is not None:
                stopped._raw_regs = r.regs  # valid until it runs again
        return res, r.info

    def wait_siginfo(self, wait_tid: int = -1) -> tuple[WaitResult, bytes | None]:
        """``wait``, then the siginfo of a stop that has one (see resume_wait)."""
        res = self.wait(wait_tid)
        status = res.status
        if not _WIFSTOPPED(status) or status >> 16 or (status >> 8) & 0xFF == _SYSCALL_TRAP:
            return res, None
        task = self.tasks.get(res.tid) or PtraceTask(self, res.tid, res.pid)
        try:
            return res, task.siginfo_raw()
        except ProcessGone:
            return res, None

    def seize_thread(self, tid: int, pid: int) -> PtraceTask:
        """SEIZE one more thread of an attached process and stop it
        (PTRACE_INTERRUPT).  Its first stop is the caller's to wait for: it
        may be a signal's delivery-stop rather than the interrupt's, as for
        the process (``attach``)."""
        try:
            _ptrace(PTRACE_SEIZE, tid, 0, self.options)
        except PtraceError as exc:
            raise TargetError(f"cannot attach to thread {tid}: {exc}") from None
        t = self.task(tid, pid)
        t.interrupt()
        return t

    def task(self, tid: int, pid: int | None = None) -> PtraceTask:
        t = self.tasks.get(tid)
        if t is None:
            t = PtraceTask(self, tid, pid if pid is not None else tid)
            self.tasks[tid] = t
        return t

    # -- cleanup -------------------------------------------------------------------
    def _reap(self, tid: int) -> None:
        """Wait for a SIGKILLed task to be gone, letting ptrace-stops on its
        way out (PTRACE_EVENT_EXIT, a pending stop) continue."""
        for _ in range(1000):
            try:
                got, status = os.waitpid(tid, _WALL)
            except ChildProcessError:
                break
            if not os.WIFSTOPPED(status):
                break
            try:
                _ptrace(PTRACE_CONT, got, 0, 0)
            except PtraceError:
                pass
        t = self.tasks.pop(tid, None)
        if t is not None:
            t.close_mem()

    def _kill_reap(self, pid: int) -> None:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        # A task held in a ptrace-stop after its process began to exit (the
        # PTRACE_EVENT_EXIT stop of a fatal signal, where the shell stops) does
        # not wake for that SIGKILL: prepare_signal() drops every signal once
        # SIGNAL_GROUP_EXIT is set (kernel/signal.c).  Its stop was already
        # reported, so waiting for it would block forever: resume it (ESRCH for
        # a task that is not stopped; a stop not yet reported is continued in
        # _reap).
        for tid, t in list(self.tasks.items()):
            if t.pid == pid:
                _sys_ptrace(PTRACE_CONT, tid, _word(0), _word(0))
        # The leader's death is reported only after its traced threads are
        # reaped, and each of them may sit in an exit stop: reap them first.
        for tid, t in list(self.tasks.items()):
            if t.pid == pid and tid != pid:
                self._reap(tid)
        self._reap(pid)
        self.launched.discard(pid)

    def kill(self, pid: int) -> None:
        """Kill a tracee and reap it (and its threads)."""
        self._kill_reap(pid)

    def detach_all(self, pid: int) -> None:
        """Detach every task of ``pid`` and leave the process running.

        A task must be in a ptrace-stop to be detached; running ones are
        interrupted first (we only ever SEIZE, so PTRACE_INTERRUPT works).
        A task in a signal-delivery-stop is detached with its signal
        (``delivery_signal``): the first stop after attaching may be the
        delivery of a signal already in flight, and PTRACE_DETACH with 0
        would drop it.  (``Session.detach`` is the thorough path, which also
        knows our breakpoints; this one runs when no session was made, e.g.
        Ctrl-C in the middle of attaching.)
        """
        for tid, t in list(self.tasks.items()):
            if t.pid != pid:
                continue
            for _ in range(2):
                try:
                    sig = t.delivery_signal()
                except ProcessGone:
                    # running, not stopped: stop it and try again
                    try:
                        t.interrupt()
                        if self.wait(tid).stopped:
                            continue
                    except SigdbgError:
                        pass
                    break
                except SigdbgError:
                    sig = 0
                t.disarm_debugregs()
                try:
                    t.detach(sig)
                except SigdbgError:
                    pass
                break
            t.close_mem()
            self.tasks.pop(tid, None)
        self.attached.discard(pid)

    def close(self) -> None:
        """Kill what we launched (and the children it made, which we followed),
        detach what we attached."""
        for pid in list(self.launched):
            self.kill(pid)
        for pid in list(self.attached):
            self.detach_all(pid)
        for pid in {t.pid for t in self.tasks.values()}:
            # followed children (-f): killed if our launched program made them,
            # detached (left running) if they belong to an attached process
            if self.spawned_any:
                self.kill(pid)
            else:
                self.detach_all(pid)
        for t in self.tasks.values():
            t.close_mem()
        self.tasks.clear()


class PtraceControl:
    """:class:`~sigdbg.backends.base.Control` over a :class:`Tracer` and one
    traced process: an adapter, the stops classified as the session
    classifies them (every tracee is SEIZEd).  ``Session`` drives the
    tracer's hot path itself and hands this to the engine's sigreturn walk
    for what the walk does to a thread (watch the restorer, read masks)."""

    def __init__(self, tracer: Tracer, pid: int) -> None:
        self.tracer = tracer
        self.pid = pid
        #: software breakpoints: address -> the original bytes
        self.breakpoints: dict[int, bytes] = {}

    def _task(self, tid: int) -> PtraceTask:
        t = self.tracer.tasks.get(tid)
        if t is None:
            raise ProcessGone(f"thread {tid} is not traced")
        return t

    def task(self, tid: int) -> Target:
        return self._task(tid)

    def resume(self, tid: int, sig: int = 0, how: How = "cont") -> None:
        t = self._task(tid)
        if how == "step":
            t.step(sig)
        elif how == "syscall":
            t.syscall(sig)
        else:
            t.cont(sig)

    def wait(self, tid: int = -1) -> Stop:
        res, raw = self.tracer.wait_siginfo(tid)
        return classify(res.tid, res.status, raw, True, res.pid)

    def resume_wait(self, tid: int, sig: int = 0, how: How = "cont",
                    wait_tid: int = -1) -> Stop:
        r = self.tracer.resume_wait(self._task(tid), sig, how == "step", wait_tid,
                                    syscall=how == "syscall")
        return classify(r.wait.tid, r.wait.status, r.siginfo, True, r.wait.pid)

    def insert_breakpoint(self, address: int) -> None:
        if address in self.breakpoints:
            return
        t = self._task(self.pid)
        code = t.abi.breakpoint_insn
        if not code:
            raise FeatureUnavailable(f"no software breakpoint instruction for {t.abi}")
        orig = t.read(address, len(code))
        t.write(address, code)
        self.breakpoints[address] = orig

    def remove_breakpoint(self, address: int) -> None:
        orig = self.breakpoints.pop(address, None)
        if orig is not None:
            self._task(self.pid).write(address, orig)

    def breakpoint_addresses(self) -> Collection[int]:
        return self.breakpoints.keys()

    def breakpoint_hit(self, stop: Stop) -> int | None:
        if stop.kind != "signal" or stop.sig != signal.SIGTRAP or not self.breakpoints:
            return None
        t = self.tracer.tasks.get(stop.tid)
        if t is None:
            return None
        abi = t.abi
        if not abi.breakpoint_insn or stop.si_code != abi.breakpoint_si_code:
            return None
        regs = t.registers()
        address = regs[abi.pc] - abi.breakpoint_pc_adjust
        if address not in self.breakpoints:
            return None  # the program's own breakpoint instruction
        if abi.breakpoint_pc_adjust:
            regs[abi.pc] = address
            t.set_registers(regs)
        return address

    def send_signal(self, tid: int, sig: int) -> None:
        if _tgkill(self.pid, tid, sig) != 0:
            err = ctypes.get_errno()
            if err == errno.ESRCH:
                raise ProcessGone(f"thread {tid} is gone")
            raise TargetError(os.strerror(err))

    def watch_execute(self, tid: int, address: int) -> None:
        self._task(tid).arm_breakpoint(address)

    def unwatch(self, tid: int) -> None:
        self._task(tid).disarm_breakpoint()

    def interrupt(self, tid: int) -> None:
        self._task(tid).interrupt()

    def sigmask(self, tid: int) -> int:
        return self._task(tid).sigmask()

    def pending_signals(self, tid: int) -> int:
        return self._task(tid).pending_signals()

    def event_msg(self, tid: int) -> int:
        return self._task(tid).event_msg()

    def detach(self) -> None:
        for address in list(self.breakpoints):
            try:
                self.remove_breakpoint(address)
            except SigdbgError:
                pass
        self.tracer.detach_all(self.pid)


if TYPE_CHECKING:
    _CONTROL: type[Control] = PtraceControl  # mypy --strict proves the Protocol

