"""Linux signal numbers and names (x86, arm, arm64 and asm-generic numbering).

Sources: ``arch/x86/include/uapi/asm/signal.h`` (identical numbering in
``arch/arm/include/uapi/asm/signal.h`` and ``include/uapi/asm-generic/signal.h``,
which arm64 uses); default actions from ``include/linux/signal.h``
(``SIG_KERNEL_*_MASK``) as documented in signal(7).  Alpha, MIPS, SPARC and
PA-RISC number signals differently and are not covered.

Real-time signals are named the way strace prints them, relative to the
*kernel's* ``SIGRTMIN`` (32): 32 is ``SIGRTMIN``, 33..64 are ``SIGRT_1`` ..
``SIGRT_32`` (strace 6.1: ``kill(pid, 34)`` prints ``SIGRT_2``).  glibc
reserves 32 and 33 for itself (SIGCANCEL, SIGSETXID) and its ``SIGRTMIN``
macro is 34, so ``SIGRTMIN+2`` here is glibc's ``SIGRTMIN``.  Descriptions of
34..64 are glibc's ``strsignal`` text ("Real-time signal 0" for 34).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from sigdbg.names._common import UnknownNameError

#: The kernel's first real-time signal (``SIGRTMIN`` in the uapi header).
SIGRTMIN = 32
#: The kernel's last signal (``_NSIG``, ``SIGRTMAX``).
SIGRTMAX = 64
#: glibc's ``SIGRTMIN`` (32 and 33 are reserved for glibc's own use).
GLIBC_SIGRTMIN = 34
#: Number of signals in the kernel's ``sigset_t`` on x86/arm/arm64.
NSIG = 64

#: Classic signals 1..31: (number, name, default action per signal(7), strsignal text).
_CLASSIC: tuple[tuple[int, str, str, str], ...] = (
    (1, "SIGHUP", "term", "Hangup"),
    (2, "SIGINT", "term", "Interrupt"),
    (3, "SIGQUIT", "core", "Quit"),
    (4, "SIGILL", "core", "Illegal instruction"),
    (5, "SIGTRAP", "core", "Trace/breakpoint trap"),
    (6, "SIGABRT", "core", "Aborted"),
    (7, "SIGBUS", "core", "Bus error"),
    (8, "SIGFPE", "core", "Floating point exception"),
    (9, "SIGKILL", "term", "Killed"),
    (10, "SIGUSR1", "term", "User defined signal 1"),
    (11, "SIGSEGV", "core", "Segmentation fault"),
    (12, "SIGUSR2", "term", "User defined signal 2"),
    (13, "SIGPIPE", "term", "Broken pipe"),
    (14, "SIGALRM", "term", "Alarm clock"),
    (15, "SIGTERM", "term", "Terminated"),
    (16, "SIGSTKFLT", "term", "Stack fault"),
    (17, "SIGCHLD", "ign", "Child exited"),
    (18, "SIGCONT", "cont", "Continued"),
    (19, "SIGSTOP", "stop", "Stopped (signal)"),
    (20, "SIGTSTP", "stop", "Stopped"),
    (21, "SIGTTIN", "stop", "Stopped (tty input)"),
    (22, "SIGTTOU", "stop", "Stopped (tty output)"),
    (23, "SIGURG", "ign", "Urgent I/O condition"),
    (24, "SIGXCPU", "core", "CPU time limit exceeded"),
    (25, "SIGXFSZ", "core", "File size limit exceeded"),
    (26, "SIGVTALRM", "term", "Virtual timer expired"),
    (27, "SIGPROF", "term", "Profiling timer expired"),
    (28, "SIGWINCH", "ign", "Window changed"),
    (29, "SIGIO", "term", "I/O possible"),
    (30, "SIGPWR", "term", "Power failure"),
    (31, "SIGSYS", "core", "Bad system call"),
)


def _rt_name(n: int) -> str:
    return "SIGRTMIN" if n == SIGRTMIN else f"SIGRT_{n - SIGRTMIN}"


def _rt_description(n: int) -> str:
    if n == SIGRTMIN:
        return "Real-time signal (reserved by glibc: SIGCANCEL)"
    if n == SIGRTMIN + 1:
        return "Real-time signal (reserved by glibc: SIGSETXID)"
    return f"Real-time signal {n - GLIBC_SIGRTMIN}"


#: Signal number → canonical name, 1..64 (strace spelling).
SIGNAL_NAMES: Mapping[int, str] = MappingProxyType(
    {n: name for n, name, _, _ in _CLASSIC}
    | {n: _rt_name(n) for n in range(SIGRTMIN, SIGRTMAX + 1)}
)

#: Other spellings of the same numbers (uapi ``asm/signal.h`` and glibc).
SIGNAL_ALIASES: Mapping[str, int] = MappingProxyType(
    {"SIGIOT": 6, "SIGCLD": 17, "SIGPOLL": 29, "SIGUNUSED": 31, "SIGRTMAX": SIGRTMAX}
)

#: Default disposition per signal(7): "term", "core", "ign", "stop" or "cont".
#: Real-time signals terminate.
DEFAULT_ACTIONS: Mapping[int, str] = MappingProxyType(
    {n: action for n, _, action, _ in _CLASSIC} | {n: "term" for n in range(SIGRTMIN, SIGRTMAX + 1)}
)

#: One-line descriptions, glibc ``strsignal`` text where glibc has one.
SIGNAL_DESCRIPTIONS: Mapping[int, str] = MappingProxyType(
    {n: text for n, _, _, text in _CLASSIC}
    | {n: _rt_description(n) for n in range(SIGRTMIN, SIGRTMAX + 1)}
)

#: The job-control stop signals: SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU.
STOP_SIGNALS: tuple[int, ...] = (19, 20, 21, 22)

_BY_NAME: Mapping[str, int] = MappingProxyType(
    {name: n for n, name in SIGNAL_NAMES.items()} | dict(SIGNAL_ALIASES)
)


def signal_name(n: int) -> str:
    """Canonical name of signal ``n`` ("SIGUSR1", "SIGRTMIN", "SIGRT_2"); unknown → ``"SIG%d"``."""
    return SIGNAL_NAMES.get(n, f"SIG{n}")


def glibc_signal_name(n: int) -> str:
    """Signal ``n`` named in glibc's numbering, as bash's ``kill -l`` and
    C code spell real-time signals: glibc's ``SIGRTMIN`` is 34 (it keeps 32
    and 33 for itself, SIGCANCEL and SIGSETXID), so 35 is ``SIGRTMIN+1`` and
    64 is ``SIGRTMAX``; 32 and 33 are ``SIG32``/``SIG33`` (gdb's spelling).
    Classic signals keep their names."""
    if n < GLIBC_SIGRTMIN or n > SIGRTMAX:
        return f"SIG{n}" if SIGRTMIN <= n < GLIBC_SIGRTMIN else signal_name(n)
    if n == SIGRTMAX:
        return "SIGRTMAX"
    return "SIGRTMIN" if n == GLIBC_SIGRTMIN else f"SIGRTMIN+{n - GLIBC_SIGRTMIN}"


def glibc_signal_number(name: str) -> int:
    """:func:`signal_number`, but ``SIGRTMIN[+n]``/``SIGRTMAX[-n]`` in glibc's
    numbering (``SIGRTMIN`` = 34), the inverse of :func:`glibc_signal_name`."""
    text = name.strip().upper().replace(" ", "")
    if not text.startswith("SIG"):
        text = "SIG" + text
    if text == "SIGRTMIN":
        return GLIBC_SIGRTMIN
    if text.startswith("SIGRTMIN+"):
        n = GLIBC_SIGRTMIN + _parse_offset(text[9:], name)
        if n > SIGRTMAX:
            raise UnknownNameError(
                f"real-time signal {name!r} is out of range: glibc's SIGRTMIN..SIGRTMAX is "
                f"{GLIBC_SIGRTMIN}..{SIGRTMAX}")
        return n
    if text.startswith("SIGRTMAX-"):
        n = SIGRTMAX - _parse_offset(text[9:], name)
        if n < GLIBC_SIGRTMIN:
            raise UnknownNameError(
                f"real-time signal {name!r} is out of range: glibc's SIGRTMIN..SIGRTMAX is "
                f"{GLIBC_SIGRTMIN}..{SIGRTMAX}")
        return n
    return signal_number(name)


def _parse_offset(text: str, name: str) -> int:
    if not text.isdigit():
        raise UnknownNameError(f"bad real-time signal offset in {name!r}: expected a number")
    return int(text)


def _realtime(number: int, name: str) -> int:
    if not SIGRTMIN <= number <= SIGRTMAX:
        raise UnknownNameError(
            f"real-time signal {name!r} is out of range: SIGRTMIN..SIGRTMAX is "
            f"{SIGRTMIN}..{SIGRTMAX}"
        )
    return number


def signal_number(name: str) -> int:
    """Number of the signal called ``name``.

    Accepts ``"SIGUSR1"``, ``"USR1"``, ``"sigusr1"``, ``"10"``, the aliases
    (``SIGIOT``, ``SIGCLD``, ``SIGPOLL``), ``"SIGRTMIN"``, ``"SIGRTMIN+n"``,
    ``"SIGRTMAX"``, ``"SIGRTMAX-n"``, ``"SIGRT_n"`` and ``"SIGn"``.  ``SIGRTMIN``
    is the kernel's (32), as strace prints it — glibc's ``SIGRTMIN`` is
    ``SIGRTMIN+2`` here.  Raises ``ValueError`` (:class:`UnknownNameError`)
    for anything that is not a signal 1..64.
    """
    text = name.strip().upper().replace(" ", "")
    if not text:
        raise UnknownNameError("empty signal name")
    if not text.startswith("SIG"):
        text = "SIG" + text
    number: int | None = _BY_NAME.get(text)
    if number is None:
        rest = text[3:]
        if rest.isdigit():
            number = int(rest)
        elif rest.startswith("RTMIN+"):
            number = _realtime(SIGRTMIN + _parse_offset(rest[6:], name), name)
        elif rest.startswith("RTMAX-"):
            number = _realtime(SIGRTMAX - _parse_offset(rest[6:], name), name)
        elif rest.startswith("RT_"):
            number = _realtime(SIGRTMIN + _parse_offset(rest[3:], name), name)
    if number is None:
        raise UnknownNameError(
            f"unknown signal {name!r}: expected a name such as SIGUSR1 or USR1, "
            "SIGRTMIN+n, SIGRTMAX-n, SIGRT_n, or a number 1..64"
        )
    if not 1 <= number <= SIGRTMAX:
        raise UnknownNameError(f"signal {name!r} is out of range: signals are 1..{SIGRTMAX}")
    return number


def all_signal_names() -> tuple[str, ...]:
    """Canonical names of signals 1..64 in numeric order."""
    return tuple(SIGNAL_NAMES[n] for n in range(1, SIGRTMAX + 1))


def is_realtime(n: int) -> bool:
    """True for the kernel's real-time signals 32..64."""
    return SIGRTMIN <= n <= SIGRTMAX


def sigset_names(mask: int, nsig: int = NSIG) -> tuple[str, ...]:
    """Names of the signals in a kernel signal set (bit n-1 = signal n), lowest first.

    ``nsig`` is the number of signals the set holds (64 for ``sigset_t``, 32
    for an i386 ``oldmask`` word).  Raises ``ValueError`` for a negative mask or
    one with bits at or above ``nsig``.
    """
    if nsig < 1:
        raise ValueError(f"nsig must be positive, got {nsig}")
    if mask < 0:
        raise ValueError(f"signal mask must be non-negative, got {mask}")
    if mask >> nsig:
        raise ValueError(f"signal mask {mask:#x} has bits beyond signal {nsig}")
    return tuple(signal_name(bit + 1) for bit in range(nsig) if (mask >> bit) & 1)


def default_action(n: int) -> str:
    """Default disposition of signal ``n``: "term", "core", "ign", "stop" or "cont".

    Raises ``ValueError`` for a number outside 1..64.
    """
    try:
        return DEFAULT_ACTIONS[n]
    except KeyError:
        raise UnknownNameError(f"no signal {n}: signals are 1..{SIGRTMAX}") from None


def signal_description(n: int) -> str:
    """strsignal-like one-line description; unknown → ``"Unknown signal %d"``."""
    return SIGNAL_DESCRIPTIONS.get(n, f"Unknown signal {n}")
