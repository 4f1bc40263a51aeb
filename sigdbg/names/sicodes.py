"""``si_code`` names, the kernel's siginfo union-member rule, and ptrace SIGTRAP stop codes.

Sources: ``include/uapi/asm-generic/siginfo.h`` (every code and the ``NSIG*``
limits; x86, arm and arm64 use it unchanged), ``kernel/signal.c``
(``siginfo_layout``, ``ptrace_do_notify``, ``do_jobctl_trap``) and
``include/uapi/linux/ptrace.h`` (``PTRACE_EVENT_*``).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from sigdbg.names.signals import signal_name

_SIGILL, _SIGTRAP, _SIGBUS, _SIGFPE, _SIGSEGV = 4, 5, 7, 8, 11
_SIGCHLD, _SIGIO, _SIGSYS = 17, 29, 31

# Generic codes (any signal). --------------------------------------------------
SI_USER = 0
SI_KERNEL = 0x80
SI_QUEUE = -1
SI_TIMER = -2
SI_MESGQ = -3
SI_ASYNCIO = -4
SI_SIGIO = -5
SI_TKILL = -6
SI_DETHREAD = -7
SI_ASYNCNL = -60

_GENERIC: tuple[tuple[int, str, str], ...] = (
    (SI_USER, "SI_USER", "sent by kill, sigsend, raise"),
    (SI_KERNEL, "SI_KERNEL", "sent by the kernel from somewhere"),
    (SI_QUEUE, "SI_QUEUE", "sent by sigqueue"),
    (SI_TIMER, "SI_TIMER", "sent by timer expiration"),
    (SI_MESGQ, "SI_MESGQ", "sent by real time mesq state change"),
    (SI_ASYNCIO, "SI_ASYNCIO", "sent by AIO completion"),
    (SI_SIGIO, "SI_SIGIO", "sent by queued SIGIO"),
    (SI_TKILL, "SI_TKILL", "sent by tkill system call"),
    (SI_DETHREAD, "SI_DETHREAD", "sent by execve() killing subsidiary threads"),
    (SI_ASYNCNL, "SI_ASYNCNL", "sent by glibc async name lookup completion"),
)

# Signal-specific codes (1 <= code < SI_KERNEL). -------------------------------
_SPECIFIC: Mapping[int, tuple[tuple[int, str, str], ...]] = MappingProxyType(
    {
        _SIGILL: (
            (1, "ILL_ILLOPC", "illegal opcode"),
            (2, "ILL_ILLOPN", "illegal operand"),
            (3, "ILL_ILLADR", "illegal addressing mode"),
            (4, "ILL_ILLTRP", "illegal trap"),
            (5, "ILL_PRVOPC", "privileged opcode"),
            (6, "ILL_PRVREG", "privileged register"),
            (7, "ILL_COPROC", "coprocessor error"),
            (8, "ILL_BADSTK", "internal stack error"),
            (9, "ILL_BADIADDR", "unimplemented instruction address"),
            (10, "__ILL_BREAK", "illegal break"),
            (11, "__ILL_BNDMOD", "bundle-update (modification) in progress"),
        ),
        _SIGFPE: (
            (1, "FPE_INTDIV", "integer divide by zero"),
            (2, "FPE_INTOVF", "integer overflow"),
            (3, "FPE_FLTDIV", "floating point divide by zero"),
            (4, "FPE_FLTOVF", "floating point overflow"),
            (5, "FPE_FLTUND", "floating point underflow"),
            (6, "FPE_FLTRES", "floating point inexact result"),
            (7, "FPE_FLTINV", "floating point invalid operation"),
            (8, "FPE_FLTSUB", "subscript out of range"),
            (9, "__FPE_DECOVF", "decimal overflow"),
            (10, "__FPE_DECDIV", "decimal division by zero"),
            (11, "__FPE_DECERR", "packed decimal error"),
            (12, "__FPE_INVASC", "invalid ASCII digit"),
            (13, "__FPE_INVDEC", "invalid decimal digit"),
            (14, "FPE_FLTUNK", "undiagnosed floating-point exception"),
            (15, "FPE_CONDTRAP", "trap on condition"),
        ),
        _SIGSEGV: (
            (1, "SEGV_MAPERR", "address not mapped to object"),
            (2, "SEGV_ACCERR", "invalid permissions for mapped object"),
            (3, "SEGV_BNDERR", "failed address bound checks"),
            (4, "SEGV_PKUERR", "failed protection key checks"),
            (5, "SEGV_ACCADI", "ADI not enabled for mapped object"),
            (6, "SEGV_ADIDERR", "disrupting MCD error"),
            (7, "SEGV_ADIPERR", "precise MCD exception"),
            (8, "SEGV_MTEAERR", "asynchronous ARM MTE error"),
            (9, "SEGV_MTESERR", "synchronous ARM MTE exception"),
            (10, "SEGV_CPERR", "control protection fault"),
        ),
        _SIGBUS: (
            (1, "BUS_ADRALN", "invalid address alignment"),
            (2, "BUS_ADRERR", "non-existent physical address"),
            (3, "BUS_OBJERR", "object specific hardware error"),
            (4, "BUS_MCEERR_AR", "hardware memory error consumed: action required"),
            (5, "BUS_MCEERR_AO", "hardware memory error detected: action optional"),
        ),
        _SIGTRAP: (
            (1, "TRAP_BRKPT", "process breakpoint"),
            (2, "TRAP_TRACE", "process trace trap"),
            (3, "TRAP_BRANCH", "process taken branch trap"),
            (4, "TRAP_HWBKPT", "hardware breakpoint/watchpoint"),
            (5, "TRAP_UNK", "undiagnosed trap"),
            (6, "TRAP_PERF", "perf event with sigtrap=1"),
        ),
        _SIGCHLD: (
            (1, "CLD_EXITED", "child has exited"),
            (2, "CLD_KILLED", "child was killed"),
            (3, "CLD_DUMPED", "child terminated abnormally"),
            (4, "CLD_TRAPPED", "traced child has trapped"),
            (5, "CLD_STOPPED", "child has stopped"),
            (6, "CLD_CONTINUED", "stopped child has continued"),
        ),
        _SIGIO: (
            (1, "POLL_IN", "data input available"),
            (2, "POLL_OUT", "output buffers available"),
            (3, "POLL_MSG", "input message available"),
            (4, "POLL_ERR", "i/o error"),
            (5, "POLL_PRI", "high priority input available"),
            (6, "POLL_HUP", "device disconnected"),
        ),
        _SIGSYS: (
            (1, "SYS_SECCOMP", "seccomp triggered"),
            (2, "SYS_USER_DISPATCH", "syscall user dispatch triggered"),
        ),
    }
)

#: Generic ``si_code`` → name (SI_USER, SI_KERNEL, SI_QUEUE, ...).
SI_CODES_GENERIC: Mapping[int, str] = MappingProxyType({c: n for c, n, _ in _GENERIC})

#: signal number → (``si_code`` → name) for the signals with their own codes.
SI_CODES_BY_SIGNAL: Mapping[int, Mapping[int, str]] = MappingProxyType(
    {sig: MappingProxyType({c: n for c, n, _ in rows}) for sig, rows in _SPECIFIC.items()}
)

#: The kernel's ``NSIG*`` limits: the highest signal-specific code per signal
#: (NSIGILL 11, NSIGFPE 15, NSIGSEGV 10, NSIGBUS 5, NSIGTRAP 6, NSIGCHLD 6,
#: NSIGPOLL 6, NSIGSYS 2), indexed by signal number as ``sig_sicodes[]`` is.
SI_CODE_LIMITS: Mapping[int, int] = MappingProxyType(
    {sig: max(codes) for sig, codes in SI_CODES_BY_SIGNAL.items()}
)
_NSIGPOLL = 6

_GENERIC_TEXT: Mapping[int, str] = MappingProxyType({c: t for c, _, t in _GENERIC})
_SPECIFIC_TEXT: Mapping[int, Mapping[int, str]] = MappingProxyType(
    {sig: MappingProxyType({c: t for c, _, t in rows}) for sig, rows in _SPECIFIC.items()}
)

#: The union members of ``siginfo_t`` that :func:`siginfo_layout` can return.
LAYOUTS: tuple[str, ...] = ("kill", "timer", "rt", "sigchld", "sigfault", "sigpoll", "sigsys")

_LAYOUT_OF: Mapping[int, str] = MappingProxyType(
    {
        _SIGILL: "sigfault",
        _SIGFPE: "sigfault",
        _SIGSEGV: "sigfault",
        _SIGBUS: "sigfault",
        _SIGTRAP: "sigfault",
        _SIGCHLD: "sigchld",
        _SIGIO: "sigpoll",
        _SIGSYS: "sigsys",
    }
)


def _code_signal(signo: int, code: int) -> int | None:
    """The signal whose code table names (signo, code), if any.

    Only 0 < code < SI_KERNEL has signal-specific meaning.  A signal without
    codes of its own that arrives with a small positive code is an F_SETSIG
    delivery, which the kernel treats as ``_sigpoll`` (``siginfo_layout``), so
    it is named with the POLL_* codes.
    """
    if not SI_USER < code < SI_KERNEL:
        return None
    if signo in SI_CODES_BY_SIGNAL:
        return signo if code in SI_CODES_BY_SIGNAL[signo] else None
    return _SIGIO if code <= _NSIGPOLL else None


def si_code_name(signo: int, code: int, *, ptrace: bool = False) -> str:
    """Name of ``si_code`` ``code`` for signal ``signo``; unknown → the decimal number.

    Signal-specific names are used only for the signal they belong to
    (``si_code_name(SIGSEGV, 1)`` is ``"SEGV_MAPERR"``; for SIGUSR1 it is the
    F_SETSIG name ``"POLL_IN"``).  With ``ptrace=True`` (a siginfo read with
    PTRACE_GETSIGINFO) the ptrace stop codes of :func:`ptrace_trap_code_name`
    are named too.
    """
    if ptrace:
        stop = ptrace_trap_code_name(code)
        if stop is not None:
            return stop
    generic = SI_CODES_GENERIC.get(code)
    if generic is not None:
        return generic
    owner = _code_signal(signo, code)
    if owner is not None:
        return SI_CODES_BY_SIGNAL[owner][code]
    return str(code)


def si_code_description(signo: int, code: int, *, ptrace: bool = False) -> str:
    """One-line description of ``si_code`` ``code`` for ``signo`` (the uapi header's comment)."""
    if ptrace:
        stop = ptrace_trap_code_description(code)
        if stop is not None:
            return stop
    generic = _GENERIC_TEXT.get(code)
    if generic is not None:
        return generic
    owner = _code_signal(signo, code)
    if owner is not None:
        return _SPECIFIC_TEXT[owner][code]
    return f"unknown si_code {code} for {signal_name(signo)}"


def siginfo_layout(signo: int, code: int) -> str:
    """Which ``siginfo_t`` union member is valid: the kernel's ``siginfo_layout``.

    Returns one of :data:`LAYOUTS`.  The ``_sigfault`` variants (addr_lsb,
    addr_bnd, addr_pkey, perf) are all reported as ``"sigfault"``; ask
    :func:`sigfault_extra` which extra fields apply.  The SPARC/Alpha
    ``SIL_FAULT_TRAPNO`` case does not exist on x86/arm/arm64.
    """
    if SI_USER < code < SI_KERNEL:
        limit = SI_CODE_LIMITS.get(signo, 0)
        if code <= limit:
            return _LAYOUT_OF[signo]
        if code <= _NSIGPOLL:
            return "sigpoll"
        return "kill"
    if code == SI_TIMER:
        return "timer"
    if code == SI_SIGIO:
        return "sigpoll"
    if code < 0:
        return "rt"
    return "kill"


def sigfault_extra(signo: int, code: int) -> str | None:
    """The extra ``_sigfault`` fields for (signo, code), or None.

    "addr_lsb" (SIGBUS BUS_MCEERR_AR/AO), "addr_bnd" (SIGSEGV SEGV_BNDERR),
    "addr_pkey" (SIGSEGV SEGV_PKUERR) or "perf" (SIGTRAP TRAP_PERF) — the
    kernel's SIL_FAULT_MCEERR / _BNDERR / _PKUERR / _PERF_EVENT.
    """
    if siginfo_layout(signo, code) != "sigfault":
        return None
    if signo == _SIGBUS and code in (4, 5):
        return "addr_lsb"
    if signo == _SIGSEGV and code == 3:
        return "addr_bnd"
    if signo == _SIGSEGV and code == 4:
        return "addr_pkey"
    if signo == _SIGTRAP and code == 6:
        return "perf"
    return None


# ptrace stops reported as SIGTRAP. --------------------------------------------
#: ``PTRACE_EVENT_*`` numbers (include/uapi/linux/ptrace.h).
PTRACE_EVENTS: Mapping[int, str] = MappingProxyType(
    {
        1: "PTRACE_EVENT_FORK",
        2: "PTRACE_EVENT_VFORK",
        3: "PTRACE_EVENT_CLONE",
        4: "PTRACE_EVENT_EXEC",
        5: "PTRACE_EVENT_VFORK_DONE",
        6: "PTRACE_EVENT_EXIT",
        7: "PTRACE_EVENT_SECCOMP",
        128: "PTRACE_EVENT_STOP",
    }
)
_PTRACE_EVENT_STOP = 128
_EVENT_TEXT: Mapping[int, str] = MappingProxyType(
    {
        1: "fork event stop",
        2: "vfork event stop",
        3: "clone event stop",
        4: "exec event stop",
        5: "vfork-done event stop",
        6: "exit event stop",
        7: "seccomp event stop (SECCOMP_RET_TRACE)",
    }
)


def _ptrace_stop(code: int) -> tuple[str, str] | None:
    if code == _SIGTRAP | 0x80:
        return "SIGTRAP|0x80", "syscall-stop (PTRACE_O_TRACESYSGOOD)"
    if code < 0 or code >> 16:
        return None
    event, sig = code >> 8, code & 0xFF
    if event == _PTRACE_EVENT_STOP and sig == _SIGTRAP:
        return (
            "PTRACE_EVENT_STOP",
            "event stop: PTRACE_INTERRUPT, new-thread auto-attach or PTRACE_LISTEN wake-up",
        )
    if event == _PTRACE_EVENT_STOP and 1 <= sig <= 64:
        name = signal_name(sig)
        return f"PTRACE_EVENT_STOP|{name}", f"group-stop ({name}) of a PTRACE_SEIZE tracee"
    if sig == _SIGTRAP and event in _EVENT_TEXT:
        return PTRACE_EVENTS[event], _EVENT_TEXT[event]
    return None


def ptrace_trap_code_name(code: int) -> str | None:
    """Name of a ptrace-generated ``si_code``, or None if ``code`` is not one.

    ``0x85`` → ``"SIGTRAP|0x80"`` (syscall-stop with TRACESYSGOOD),
    ``SIGTRAP | event << 8`` → ``"PTRACE_EVENT_FORK"`` ..., ``0x8005`` →
    ``"PTRACE_EVENT_STOP"``, ``sig | 0x8000`` → ``"PTRACE_EVENT_STOP|SIGSTOP"``
    (group-stop of a SEIZEd tracee).  A plain ``5`` is None: it is also
    TRAP_UNK and only the stop context tells them apart.
    """
    stop = _ptrace_stop(code)
    return None if stop is None else stop[0]


def ptrace_trap_code_description(code: int) -> str | None:
    """One-line description of a ptrace-generated ``si_code``, or None."""
    stop = _ptrace_stop(code)
    return None if stop is None else stop[1]
