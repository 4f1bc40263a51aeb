"""The ptrace backend's system-call layer: request numbers and options
(include/uapi/linux/ptrace.h), the lean ctypes path to libc's ``ptrace`` or
the C module's (``_fastptrace.c``), perf_event and debug-register constants,
the sigreturn seccomp filter, and small /proc and /proc/PID/mem helpers.
Parse-level only: no state, no decisions (``ptrace_task.py``, ``ptrace.py``).
"""

from __future__ import annotations

import ctypes
import errno
import os
import signal
import struct
from collections.abc import Callable
from typing import Any

from sigdbg.abi import (
    native_abi,
    sigreturn_calls,
)
from sigdbg.errors import (
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


def _status_field(tid: int, key: str) -> int:
    """A numeric field of /proc/TID/status (0 when unknown)."""
    try:
        with open(f"/proc/{tid}/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
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
