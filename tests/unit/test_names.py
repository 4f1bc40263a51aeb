"""Tests for sigdbg.names, checked against independent truth on this machine.

Truth used (each test skips only when its source is absent):

* Python's ``signal`` module (glibc's numbers and ``strsignal``) and the
  kernel uapi headers under /usr/include (signals, si_codes, AT_*, syscalls,
  AUDIT_ARCH, EFLAGS, uc_flags, ss_flags, HWCAP2, PTRACE_EVENT_*), parsed here;
* strace's own signal names, read from its output;
* the running kernel: default signal actions observed on real processes,
  ``siginfo_layout`` observed through signalfd, the live auxiliary vector
  against glibc's ``LD_SHOW_AUXV`` and /proc/self/maps, AT_HWCAP against
  /proc/cpuinfo, XSAVE feature names against the boot log;
* GDB's EFLAGS decoding, and GDB's Python importing the package.

Values that exist only in the reference notes (arm/arm64 hwcaps, trap vectors,
observed fault codes) are spot-checked against those notes.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import os
import platform
import re
import resource
import shutil
import signal
import struct
import subprocess
import sys
import textwrap
import time
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

import pytest

import sigdbg.names as names
from sigdbg.abi.x86 import names as x86
from sigdbg.abi.x86 import syscall_tables as raw_tables
from sigdbg.names import auxv, hwcap, sicodes, signals, syscalls

ROOT = Path(__file__).resolve().parents[2]
INCLUDE = Path("/usr/include")
ARCH_INCLUDE = INCLUDE / "x86_64-linux-gnu"
IS_X86_64_LINUX = sys.platform == "linux" and platform.machine() == "x86_64"
needs_x86_64 = pytest.mark.skipif(not IS_X86_64_LINUX, reason="needs an x86_64 Linux host")

# ---------------------------------------------------------------------------
# Helpers: a small C #define reader and integer-expression evaluator.
# ---------------------------------------------------------------------------

_DEFINE = re.compile(r"^\s*#\s*define\s+([A-Za-z_]\w*)[ \t]+(.+?)\s*$")


def _strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", " ", text)


def read_defines(path: Path) -> dict[str, str]:
    """Object-like ``#define NAME VALUE`` lines of a header (continuations joined)."""
    if not path.exists():
        pytest.skip(f"{path} is not installed")
    text = _strip_comments(path.read_text()).replace("\\\n", " ")
    out: dict[str, str] = {}
    for line in text.splitlines():
        match = _DEFINE.match(line)
        if match and "(" not in match.group(1):
            out[match.group(1)] = match.group(2).strip()
    return out


def c_int(expr: str, env: Mapping[str, str]) -> int | None:
    """Evaluate a C integer constant expression, or None if it is not one."""
    expr = re.sub(r"_BITUL\(([^)]*)\)", r"(1 << (\1))", expr)
    expr = re.sub(r"_AC\(([^,]*),\s*\w+\)", r"(\1)", expr)
    expr = re.sub(r"\b(0[xX][0-9a-fA-F]+|\d+)[uUlL]+\b", r"\1", expr)
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError:
        return None

    def ev(node: ast.AST, depth: int = 0) -> int:
        if depth > 20:
            raise ValueError("too deep")
        if isinstance(node, ast.Expression):
            return ev(node.body, depth)
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.Name):
            if node.id not in env:
                raise ValueError(node.id)
            inner = c_int(env[node.id], env)
            if inner is None:
                raise ValueError(node.id)
            return inner
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -ev(node.operand, depth + 1)
        if isinstance(node, ast.BinOp):
            left, right = ev(node.left, depth + 1), ev(node.right, depth + 1)
            ops = {ast.BitOr: int.__or__, ast.LShift: int.__lshift__, ast.Add: int.__add__}
            for op_type, fn in ops.items():
                if isinstance(node.op, op_type):
                    return fn(left, right)
        raise ValueError(ast.dump(node))

    try:
        return ev(tree)
    except (ValueError, RecursionError):
        return None


def int_defines(path: Path, pattern: str) -> dict[str, int]:
    """``NAME → value`` for the defines of ``path`` whose name matches ``pattern``."""
    env = read_defines(path)
    out = {}
    for name, expr in env.items():
        if re.fullmatch(pattern, name):
            value = c_int(expr, env)
            if value is not None:
                out[name] = value
    return out


def run(cmd: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False, env=env)


# ---------------------------------------------------------------------------
# Immutability and package shape
# ---------------------------------------------------------------------------


def test_tables_are_immutable() -> None:
    tables: list[object] = [
        signals.SIGNAL_NAMES,
        signals.DEFAULT_ACTIONS,
        signals.SIGNAL_DESCRIPTIONS,
        signals.SIGNAL_ALIASES,
        sicodes.SI_CODES_GENERIC,
        sicodes.SI_CODES_BY_SIGNAL,
        sicodes.SI_CODE_LIMITS,
        sicodes.PTRACE_EVENTS,
        auxv.AUXV_TYPES,
        auxv.AT_FLAGS_BITS,
        hwcap.HWCAP_TABLES,
        x86.XFEATURES,
        x86.XFEATURE_NAMES,
        x86.UC_FLAGS,
        x86.SS_FLAGS,
        x86.EFLAGS_BITS,
        x86.TRAPNO_NAMES,
        x86.PAGE_FAULT_ERR_BITS,
        syscalls.SYSCALL_TABLES,
        syscalls.AUDIT_ARCH_NAMES,
    ]
    tables += list(sicodes.SI_CODES_BY_SIGNAL.values())
    tables += list(auxv.AUXV_TYPES.values())
    tables += list(hwcap.HWCAP_TABLES.values())
    tables += list(syscalls.SYSCALL_TABLES.values())
    for table in tables:
        assert isinstance(table, MappingProxyType), table
    with pytest.raises(TypeError):
        signals.SIGNAL_NAMES[99] = "SIGX"  # type: ignore[index]
    assert isinstance(signals.STOP_SIGNALS, tuple)
    entry = names.auxv_type(3, "x86")
    assert entry is not None
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry.name = "AT_X"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        x86.XFEATURES[0].short = "y"  # type: ignore[misc]


def test_package_reexports_everything_it_lists() -> None:
    for name in names.__all__:
        assert hasattr(names, name), name


def test_unknown_name_error_is_value_error_and_usage_error() -> None:
    from sigdbg.errors import UsageError

    with pytest.raises(ValueError):
        names.signal_number("SIGNOPE")
    with pytest.raises(UsageError):
        names.signal_number("SIGNOPE")


@pytest.mark.skipif(shutil.which("gdb") is None, reason="gdb is not installed")
def test_imports_inside_gdb_python() -> None:
    script = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r}); import sigdbg.names as n; "
        "print(n.signal_name(10), n.syscall_name('x86_64', 15), n.auxv_name(33, 'x86'))"
    )
    result = run(["gdb", "-nx", "-batch", "-ex", f"python {script}"])
    assert result.stdout.split() == ["SIGUSR1", "rt_sigreturn", "AT_SYSINFO_EHDR"], result.stderr


# ---------------------------------------------------------------------------
# Signals
# ---------------------------------------------------------------------------


def test_signal_names_match_python_signal_module() -> None:
    for name, sig in signal.Signals.__members__.items():
        value = int(sig)
        if 1 <= value <= 31:
            assert names.signal_number(name) == value, name
            assert names.signal_name(value) == signal.Signals(value).name
    assert {names.signal_name(n) for n in range(1, 32)} == {
        signal.Signals(n).name for n in range(1, 32)
    }


def test_signal_descriptions_match_strsignal() -> None:
    for n in [*range(1, 32), *range(signal.SIGRTMIN, signal.SIGRTMAX + 1)]:
        assert names.signal_description(n) == signal.strsignal(n), n
    assert names.signal_description(65) == "Unknown signal 65"


def test_rt_signal_numbering_is_the_kernels() -> None:
    # glibc's SIGRTMIN (Python's) is the kernel's SIGRTMIN + 2.
    assert names.signal_number("SIGRTMIN+2") == signal.SIGRTMIN
    assert names.signal_number("SIGRTMAX") == signal.SIGRTMAX
    assert names.signal_number("SIGRTMAX-30") == signal.SIGRTMIN
    assert names.signal_name(signal.SIGRTMIN) == "SIGRT_2"


def test_signal_numbers_match_uapi_header() -> None:
    defines = int_defines(ARCH_INCLUDE / "asm" / "signal.h", r"SIG[A-Z0-9]+")
    checked = 0
    for name, value in defines.items():
        if name in ("SIGSTKSZ", "MINSIGSTKSZ") or not 1 <= value <= 64:
            continue
        assert names.signal_number(name) == value, name
        checked += 1
    assert defines["SIGRTMIN"] == signals.SIGRTMIN == names.signal_number("SIGRTMIN")
    assert checked >= 33


@pytest.mark.skipif(
    shutil.which("strace") is None or not IS_X86_64_LINUX, reason="needs strace on x86_64"
)
def test_signal_names_match_strace(tmp_path: Path) -> None:
    # The child blocks every signal with the raw syscall (glibc's sigprocmask
    # refuses 32 and 33), then kill()s itself with each one; strace prints the
    # name it gives each number.
    child = textwrap.dedent(
        """
        import ctypes, os
        libc = ctypes.CDLL(None, use_errno=True)
        mask = ctypes.c_uint64(0xFFFFFFFFFFFFFFFF)
        assert libc.syscall(14, 0, ctypes.byref(mask), None, 8) == 0  # rt_sigprocmask
        for n in range(1, 65):
            if n not in (9, 19):
                os.kill(os.getpid(), n)
        """
    )
    out = tmp_path / "strace.out"
    result = run(
        ["strace", "-qq", "-e", "trace=kill", "-e", "signal=none", "-o", str(out), sys.executable]
        + ["-c", child]
    )
    if result.returncode != 0 and "ptrace" in result.stderr:
        pytest.skip(f"strace cannot trace here: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    seen = re.findall(r"^kill\(\d+, (\w+)\)\s+= 0", out.read_text(), flags=re.M)
    expected = [n for n in range(1, 65) if n not in (9, 19)]
    assert seen == [names.signal_name(n) for n in expected]


def test_signal_number_accepts_every_documented_form() -> None:
    for text in ("USR1", "SIGUSR1", "sigusr1", " usr1 ", "10", "SIG10"):
        assert names.signal_number(text) == 10, text
    assert names.signal_number("SIGRTMIN") == 32
    assert names.signal_number("rtmin+2") == 34
    assert names.signal_number("SIGRT_5") == 37
    assert names.signal_number("RT_32") == 64
    assert names.signal_number("SIGIOT") == 6
    assert names.signal_number("SIGPOLL") == 29
    assert names.signal_number("SIGCLD") == 17
    for bad in ("", "SIGFOO", "0", "65", "SIGRTMIN+33", "SIGRTMAX-33", "SIGRTMIN+x", "-1"):
        with pytest.raises(ValueError, match="signal"):
            names.signal_number(bad)


def test_every_name_round_trips() -> None:
    all_names = names.all_signal_names()
    assert len(all_names) == 64 and len(set(all_names)) == 64
    for n, name in enumerate(all_names, start=1):
        assert names.signal_name(n) == name
        assert names.signal_number(name) == n
    assert all_names[31:34] == ("SIGRTMIN", "SIGRT_1", "SIGRT_2")
    assert names.signal_name(0) == "SIG0" and names.signal_name(65) == "SIG65"
    assert names.is_realtime(32) and names.is_realtime(64) and not names.is_realtime(31)


def test_sigset_names() -> None:
    assert names.sigset_names(0) == ()
    assert names.sigset_names(1 << 9) == ("SIGUSR1",)
    assert names.sigset_names((1 << 0) | (1 << 33) | (1 << 63)) == ("SIGHUP", "SIGRT_2", "SIGRT_32")
    assert names.sigset_names(0xFFFFFFFF, nsig=32)[-1] == "SIGRTMIN"
    assert len(names.sigset_names((1 << 64) - 1)) == 64
    with pytest.raises(ValueError):
        names.sigset_names(1 << 32, nsig=32)
    with pytest.raises(ValueError):
        names.sigset_names(-1)


def _spawn_sleeper(workdir: Path, dump_core: bool) -> int:
    """A /bin/sleep child with every signal at SIG_DFL and unblocked, in ``workdir``."""
    read_end, write_end = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            os.close(read_end)
            # its own process group, whose parent (us) is in another group of the
            # same session: not orphaned, so SIGTSTP/SIGTTIN/SIGTTOU do stop it
            # (the kernel discards them for orphaned groups, as under CI or make)
            os.setpgid(0, 0)
            for n in range(1, 65):
                if n not in (signal.SIGKILL, signal.SIGSTOP):
                    try:
                        signal.signal(n, signal.SIG_DFL)
                    except (OSError, ValueError):
                        pass
            signal.pthread_sigmask(signal.SIG_SETMASK, [])
            os.chdir(workdir)
            limit = resource.RLIM_INFINITY if dump_core else 0
            resource.setrlimit(resource.RLIMIT_CORE, (limit, limit))
            os.execv("/bin/sleep", ["sleep", "30"])
        finally:
            os._exit(127)
    os.close(write_end)
    os.read(read_end, 1)  # EOF once exec has closed the CLOEXEC write end
    os.close(read_end)
    return pid


def _wait_status(pid: int, seconds: float) -> int | None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        got, status = os.waitpid(pid, os.WNOHANG | os.WUNTRACED | os.WCONTINUED)
        if got:
            return status
        time.sleep(0.01)
    return None


def _reap(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    while True:
        try:
            _, status = os.waitpid(pid, 0)
        except ChildProcessError:
            return
        if os.WIFEXITED(status) or os.WIFSIGNALED(status):
            return


@pytest.mark.skipif(not Path("/bin/sleep").exists() or sys.platform != "linux", reason="Linux")
def test_default_actions_match_the_running_kernel(tmp_path: Path) -> None:
    # Core dumps are only switched on when they land in tmp_path (a relative
    # core_pattern); otherwise "core" and "term" are both just "killed".
    core_pattern = Path("/proc/sys/kernel/core_pattern").read_text().strip()
    cores_visible = not core_pattern.startswith("|") and "/" not in core_pattern
    for n in range(1, 65):
        if n in (32, 33):
            # glibc reserves these (SIGCANCEL, SIGSETXID) and installs handlers for
            # them while /bin/sleep starts up: the kernel default is not observable
            # there without a race against that start-up
            continue
        action = names.default_action(n)
        pid = _spawn_sleeper(tmp_path, cores_visible)
        try:
            os.kill(pid, n)
            status = _wait_status(pid, 0.3 if action in ("ign", "cont") else 10)
            if action in ("term", "core"):
                assert status is not None and os.WIFSIGNALED(status), (n, action, status)
                assert os.WTERMSIG(status) == n
                if action == "term" or cores_visible:
                    assert os.WCOREDUMP(status) == (action == "core"), (n, action)
            elif action == "stop":
                assert status is not None and os.WIFSTOPPED(status), (n, status)
                assert os.WSTOPSIG(status) == n
            else:
                assert status is None, (n, action, status)  # still running: ignored
                if action == "cont":
                    os.kill(pid, signal.SIGSTOP)
                    stopped = _wait_status(pid, 10)
                    assert stopped is not None and os.WIFSTOPPED(stopped)
                    os.kill(pid, n)
                    resumed = _wait_status(pid, 10)
                    assert resumed is not None and os.WIFCONTINUED(resumed), n
        finally:
            _reap(pid)
    assert names.STOP_SIGNALS == tuple(n for n in range(1, 65) if names.default_action(n) == "stop")
    with pytest.raises(ValueError):
        names.default_action(0)
    with pytest.raises(ValueError):
        names.default_action(65)


# ---------------------------------------------------------------------------
# si_code
# ---------------------------------------------------------------------------

_SIGINFO_H = INCLUDE / "asm-generic" / "siginfo.h"
_CODE_PREFIX_SIGNAL = {
    "ILL_": 4,
    "__ILL_": 4,
    "FPE_": 8,
    "__FPE_": 8,
    "SEGV_": 11,
    "BUS_": 7,
    "TRAP_": 5,
    "CLD_": 17,
    "POLL_": 29,
    "SYS_": 31,
}


def test_si_codes_match_uapi_header() -> None:
    defines = int_defines(_SIGINFO_H, r"(SI|__ILL|ILL|__FPE|FPE|SEGV|BUS|TRAP|CLD|POLL|SYS)_\w+")
    generic = {k: v for k, v in defines.items() if k.startswith("SI_") and k != "SI_MAX_SIZE"}
    assert len(generic) == 10
    for name, value in generic.items():
        assert names.si_code_name(10, value) == name
        assert sicodes.SI_CODES_GENERIC[value] == name
    checked = 0
    for name, value in defines.items():
        prefix = next((p for p in _CODE_PREFIX_SIGNAL if name.startswith(p)), None)
        if prefix is None or name == "TRAP_PERF_FLAG_ASYNC":
            continue
        signo = _CODE_PREFIX_SIGNAL[prefix]
        assert names.si_code_name(signo, value) == name, (signo, value)
        checked += 1
    assert checked >= 60
    limits = int_defines(_SIGINFO_H, r"NSIG(ILL|FPE|SEGV|BUS|TRAP|CHLD|POLL|SYS)")
    for key, signo in {"ILL": 4, "FPE": 8, "SEGV": 11, "BUS": 7, "TRAP": 5}.items():
        # the installed header may be older than the table, never newer
        assert sicodes.SI_CODE_LIMITS[signo] >= limits["NSIG" + key]
    assert sicodes.SI_CODE_LIMITS[17] == limits["NSIGCHLD"]
    assert sicodes.SI_CODE_LIMITS[29] == limits["NSIGPOLL"]
    assert sicodes.SI_CODE_LIMITS[31] == limits["NSIGSYS"]


def test_si_code_limits_are_the_kernels() -> None:
    # NSIGILL 11, NSIGFPE 15, NSIGSEGV 10 (SEGV_CPERR), NSIGBUS 5, NSIGTRAP 6,
    # NSIGCHLD 6, NSIGPOLL 6, NSIGSYS 2 (include/uapi/asm-generic/siginfo.h).
    assert dict(sicodes.SI_CODE_LIMITS) == {4: 11, 8: 15, 11: 10, 7: 5, 5: 6, 17: 6, 29: 6, 31: 2}
    for signo, table in sicodes.SI_CODES_BY_SIGNAL.items():
        assert sorted(table) == list(range(1, sicodes.SI_CODE_LIMITS[signo] + 1))


def test_si_code_name_and_description() -> None:
    assert names.si_code_name(11, 1) == "SEGV_MAPERR"
    assert names.si_code_name(11, 10) == "SEGV_CPERR"
    assert names.si_code_name(4, 2) == "ILL_ILLOPN"
    assert names.si_code_name(5, 0x80) == "SI_KERNEL"
    assert names.si_code_name(10, -6) == "SI_TKILL"
    assert names.si_code_name(10, 1) == "POLL_IN"  # F_SETSIG delivery
    assert names.si_code_name(7, 6) == "6"  # SIGBUS has no code 6
    assert names.si_code_name(10, 7) == "7"
    assert names.si_code_name(10, -8) == "-8"
    assert names.si_code_name(5, 0x85) == "133"
    assert names.si_code_name(5, 0x85, ptrace=True) == "SIGTRAP|0x80"
    assert names.si_code_name(5, 5, ptrace=True) == "TRAP_UNK"
    assert names.si_code_description(11, 2) == "invalid permissions for mapped object"
    assert names.si_code_description(10, 0) == "sent by kill, sigsend, raise"
    assert names.si_code_description(7, 9) == "unknown si_code 9 for SIGBUS"
    assert "group-stop" in names.si_code_description(19, 0x8013, ptrace=True)


_SIGNALFD_PROBE = textwrap.dedent(
    """
    # Queue crafted siginfos at our own thread and read them back through a
    # signalfd: fs/signalfd.c copies the fields of the union member that the
    # kernel's siginfo_layout() picks, so the non-zero fields reveal it.
    import ctypes, json, os, signal, struct, sys, threading
    libc = ctypes.CDLL(None, use_errno=True)
    cases = json.loads(sys.argv[1])
    sigs = sorted({s for s, _ in cases})
    signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
    mask = ctypes.c_uint64(sum(1 << (s - 1) for s in sigs))
    fd = libc.signalfd(-1, ctypes.byref(mask), os.O_CLOEXEC)
    assert fd >= 0, ctypes.get_errno()
    union = bytes(range(0x11, 0x11 + 32))
    tgid, tid = os.getpid(), threading.get_native_id()
    out = []
    for sig, code in cases:
        info = struct.pack("<iii4x", sig, 0, code) + union + bytes(128 - 48)
        buf = ctypes.create_string_buffer(info, 128)
        rc = libc.syscall(297, tgid, tid, sig, buf)  # rt_tgsigqueueinfo
        assert rc == 0, (sig, code, ctypes.get_errno())
        data = os.read(fd, 128)
        (signo, _, scode, pid, uid, sfd, stid, band, overrun, trapno, status, sint,
         ptr, utime, stime, addr, addr_lsb, _, syscall, call_addr, arch) = struct.unpack(
            "<IiiIIiIIIIiiQQQQHHiQI", data[:100])
        assert (signo, scode) == (sig, code)
        if call_addr or syscall or arch:
            kind = "sigsys"
        elif addr:
            kind = "sigfault" + ("+addr_lsb" if addr_lsb else "")
        elif band or sfd:
            kind = "sigpoll"
        elif stid or overrun:
            kind = "timer"
        elif status or utime or stime:
            kind = "sigchld"
        elif ptr or sint:
            kind = "rt"
        else:
            kind = "kill"
        out.append(kind)
    print(json.dumps(out))
    """
)


@needs_x86_64
def test_siginfo_layout_matches_the_running_kernel() -> None:
    sigs = [4, 5, 7, 8, 10, 11, 17, 29, 31, 34, 64]
    codes = [-60, -59, -8, -7, -6, -5, -4, -3, -2, -1, 0, *range(1, 17), 0x7F, 0x80, 0x81, 0x85]
    codes += [0x105, 0x8005, 0x8013]
    cases = [(s, c) for s in sigs for c in codes]
    result = run([sys.executable, "-c", _SIGNALFD_PROBE, json.dumps(cases)])
    assert result.returncode == 0, result.stderr
    observed = json.loads(result.stdout)
    for (sig, code), kind in zip(cases, observed, strict=True):
        layout = names.siginfo_layout(sig, code)
        extra = names.sigfault_extra(sig, code)
        ours = layout + ("+addr_lsb" if extra == "addr_lsb" else "")
        # signalfd reports _addr_bnd/_addr_pkey/_perf as plain _sigfault
        assert ours == kind, (sig, code, ours, kind)


def test_siginfo_layout_rule_from_reference() -> None:
    layout = names.siginfo_layout
    assert layout(11, 1) == "sigfault"
    assert layout(11, 10) == "sigfault"  # SEGV_CPERR is within NSIGSEGV
    assert layout(11, 11) == "kill"  # beyond NSIGSEGV and NSIGPOLL
    assert layout(7, 6) == "sigpoll"  # beyond NSIGBUS but within NSIGPOLL
    assert layout(17, 1) == "sigchld"
    assert layout(31, 1) == "sigsys"
    assert layout(31, 3) == "sigpoll"
    assert layout(29, 6) == "sigpoll"
    assert layout(10, 3) == "sigpoll"  # F_SETSIG
    assert layout(10, 7) == "kill"
    assert layout(5, 0x80) == "kill"
    assert layout(5, 0x85) == "kill"
    assert layout(10, 0) == "kill"
    assert layout(10, -2) == "timer"
    assert layout(10, -5) == "sigpoll"
    assert layout(10, -6) == "rt"
    assert layout(10, -60) == "rt"
    assert set(sicodes.LAYOUTS) == {layout(s, c) for s in range(1, 65) for c in range(-70, 0x90)}


def test_sigfault_extra() -> None:
    assert names.sigfault_extra(7, 4) == "addr_lsb"
    assert names.sigfault_extra(7, 5) == "addr_lsb"
    assert names.sigfault_extra(11, 3) == "addr_bnd"
    assert names.sigfault_extra(11, 4) == "addr_pkey"
    assert names.sigfault_extra(5, 6) == "perf"
    assert names.sigfault_extra(11, 1) is None
    assert names.sigfault_extra(10, 4) is None  # not a fault layout
    assert names.sigfault_extra(11, 0x80) is None


def test_ptrace_trap_codes() -> None:
    events = int_defines(INCLUDE / "linux" / "ptrace.h", r"PTRACE_EVENT_[A-Z_]+")
    assert events, "no PTRACE_EVENT_* in linux/ptrace.h"
    for name, event in events.items():
        assert sicodes.PTRACE_EVENTS[event] == name
        assert names.ptrace_trap_code_name(signal.SIGTRAP | (event << 8)) == name
    assert names.ptrace_trap_code_name(0x85) == "SIGTRAP|0x80"
    assert names.ptrace_trap_code_name(0x105) == "PTRACE_EVENT_FORK"
    assert names.ptrace_trap_code_name(0x705) == "PTRACE_EVENT_SECCOMP"
    assert names.ptrace_trap_code_name(0x8005) == "PTRACE_EVENT_STOP"
    assert names.ptrace_trap_code_name(0x8013) == "PTRACE_EVENT_STOP|SIGSTOP"
    assert names.ptrace_trap_code_name(0x8014) == "PTRACE_EVENT_STOP|SIGTSTP"
    for not_ptrace in (5, 0, -6, 0x80, 0x805, 0x106, 0x18005, 0x8000):
        assert names.ptrace_trap_code_name(not_ptrace) is None, hex(not_ptrace)
    assert names.ptrace_trap_code_description(0x85) == "syscall-stop (PTRACE_O_TRACESYSGOOD)"
    assert names.ptrace_trap_code_description(5) is None


# ---------------------------------------------------------------------------
# auxv
# ---------------------------------------------------------------------------


def test_auxv_numbers_match_glibc_elf_header() -> None:
    defines = int_defines(ARCH_INCLUDE / "bits" / "auxv.h", r"AT_\w+")
    assert len(defines) >= 40
    for name, value in defines.items():
        entry = names.auxv_type(value, "generic")
        assert entry is not None and entry.name == name, (name, value)
        assert names.auxv_number(name, "generic") == value


def test_auxv_numbers_match_kernel_uapi_headers() -> None:
    defines = int_defines(INCLUDE / "linux" / "auxvec.h", r"AT_\w+")
    defines |= int_defines(ARCH_INCLUDE / "asm" / "auxvec.h", r"AT_\w+")
    defines = {k: v for k, v in defines.items() if "VECTOR_SIZE" not in k}
    assert {"AT_SYSINFO", "AT_SYSINFO_EHDR", "AT_MINSIGSTKSZ", "AT_EXECFN"} <= set(defines)
    for name, value in defines.items():
        assert names.auxv_name(value, "x86") == name
        assert names.auxv_number(name, "x86_64") == value


def _live_auxv_and_maps() -> tuple[list[str], list[tuple[int, int]], list[tuple[int, int, str]]]:
    """glibc's LD_SHOW_AUXV lines, the raw vector and the maps of one python process."""
    child = (
        "import json, sys; a = open('/proc/self/auxv', 'rb').read().hex();"
        " m = open('/proc/self/maps').read();"
        " sys.stdout.write('@@' + json.dumps([a, m]))"
    )
    env = dict(os.environ, LD_SHOW_AUXV="1")
    result = run([sys.executable, "-c", child], env=env)
    assert result.returncode == 0, result.stderr
    shown, _, payload = result.stdout.partition("@@")
    raw_hex, maps_text = json.loads(payload)
    raw = bytes.fromhex(raw_hex)
    pairs: list[tuple[int, int]] = []
    for a_type, a_val in struct.iter_unpack("<QQ", raw):
        if a_type == 0:
            break
        pairs.append((a_type, a_val))
    maps = []
    for line in maps_text.splitlines():
        span, *rest = line.split()
        lo, hi = (int(x, 16) for x in span.split("-"))
        maps.append((lo, hi, rest[4] if len(rest) > 4 else ""))
    return [line for line in shown.splitlines() if line.startswith("AT_")], pairs, maps


@needs_x86_64
def test_live_auxv_names_match_ld_show_auxv() -> None:
    shown, pairs, _ = _live_auxv_and_maps()
    assert len(shown) == len(pairs)
    for line, (a_type, _) in zip(shown, pairs, strict=True):
        glibc_name = line.split(":")[0].split()[0]
        assert names.auxv_type(a_type, "x86") is not None, a_type  # every live entry is known
        if glibc_name == "AT_???":
            assert f"({a_type:#x})" in line
        else:
            assert names.auxv_name(a_type, "x86") == glibc_name


@needs_x86_64
def test_live_auxv_values_fit_their_kinds() -> None:
    _, pairs, maps = _live_auxv_and_maps()

    def mapping_of(address: int) -> str | None:
        return next((path for lo, hi, path in maps if lo <= address < hi), None)

    kinds_seen = set()
    for a_type, a_val in pairs:
        entry = names.auxv_type(a_type, "x86")
        assert entry is not None
        kinds_seen.add(entry.kind)
        if entry.kind in ("addr", "str", "bytes16"):
            assert mapping_of(a_val) is not None, (entry.name, hex(a_val))
        elif entry.kind == "uid":
            assert a_val in (os.getuid(), os.geteuid(), os.getgid(), os.getegid())
        elif entry.kind == "bool":
            assert a_val in (0, 1)
        elif entry.kind == "hwcap":
            assert a_val != 0
    values = dict(pairs)
    assert mapping_of(values[33]) == "[vdso]"  # AT_SYSINFO_EHDR
    assert mapping_of(values[25]) == "[stack]"  # AT_RANDOM
    assert values[6] == os.sysconf("SC_PAGE_SIZE")  # AT_PAGESZ
    assert values[17] == os.sysconf("SC_CLK_TCK")  # AT_CLKTCK
    assert {"addr", "str", "bytes16", "uid", "bool", "hwcap", "hwcap2", "int"} <= kinds_seen


def test_auxv_tables_per_arch() -> None:
    assert names.auxv_name(32, "x86") == "AT_SYSINFO"
    assert names.auxv_type(32, "arm") is None and names.auxv_type(32, "arm64") is None
    for arch in names.ARCH_FAMILIES:
        assert names.auxv_name(33, arch) == "AT_SYSINFO_EHDR"
        assert names.auxv_name(51, arch) == "AT_MINSIGSTKSZ"
        assert names.auxv_number("rseq_align", arch) == 28
        assert names.all_auxv_names(arch)[0] == "AT_NULL"
        values = [names.auxv_number(n, arch) for n in names.all_auxv_names(arch)]
        assert values == sorted(values)
        for value in values:
            entry = names.auxv_type(value, arch)
            assert entry is not None and entry.kind in auxv.AUXV_KINDS
    for arch in ("x86", "arm", "arm64"):
        for value in (18, 19, 20, 21, 22, 34, 35, 36, 37):
            assert names.auxv_type(value, arch) is None
    assert names.auxv_name(18, "generic") == "AT_FPUCW"
    assert names.auxv_name(22, "generic") == "AT_IGNOREPPC"
    assert names.auxv_name(37, "generic") == "AT_L3_CACHESHAPE"
    assert names.auxv_name(38, "generic") == "AT_38"
    kinds = {v: t.kind for v, t in auxv.AUXV_TYPES["generic"].items()}
    assert kinds[0] == "end" and kinds[1] == "ignore" and kinds[2] == "fd"
    assert kinds[8] == "flags" and kinds[25] == "bytes16" and kinds[41] == "cachegeom"
    assert [kinds[v] for v in (16, 26, 29, 30)] == ["hwcap", "hwcap2", "hwcap3", "hwcap4"]
    assert [kinds[v] for v in (11, 12, 13, 14)] == ["uid"] * 4
    assert kinds[15] == kinds[24] == kinds[31] == "str"
    assert names.auxv_type(3, "aarch64") == names.auxv_type(3, "arm64")
    assert names.auxv_number("33", "x86") == 33
    assert names.at_flags_names(1) == ("AT_FLAGS_PRESERVE_ARGV0",)
    assert names.at_flags_names(5) == ("AT_FLAGS_PRESERVE_ARGV0", "bit2")
    with pytest.raises(ValueError):
        names.auxv_number("AT_SYSINFO", "arm")
    with pytest.raises(ValueError):
        names.auxv_type(3, "mips")


# ---------------------------------------------------------------------------
# hwcap
# ---------------------------------------------------------------------------


def _cpuinfo_flags() -> set[str]:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    pytest.skip("no flags line in /proc/cpuinfo")


def _own_auxv() -> dict[int, int]:
    raw = Path("/proc/self/auxv").read_bytes()
    return {t: v for t, v in struct.iter_unpack("<QQ", raw) if t}


@needs_x86_64
def test_x86_hwcap_matches_cpuinfo() -> None:
    flags = _cpuinfo_flags()
    vector = _own_auxv()
    hwcap1, hwcap2 = vector[16], vector.get(26, 0)
    for bit, name in hwcap.hwcap_table("x86", 1).items():
        assert (name in flags) == bool(hwcap1 >> bit & 1), (bit, name)
    for bit, name in hwcap.hwcap_table("x86", 2).items():
        assert (name in flags) == bool(hwcap2 >> bit & 1), (bit, name)
    decoded = names.hwcap_names(hwcap1, "x86_64", 1)
    assert set(decoded) <= flags | {"bit10", "bit20"}
    assert len(decoded) == bin(hwcap1).count("1")


def test_x86_hwcap2_matches_uapi_header() -> None:
    defines = int_defines(ARCH_INCLUDE / "asm" / "hwcap2.h", r"HWCAP2_\w+")
    assert defines
    for name, mask in defines.items():
        bit = mask.bit_length() - 1
        assert names.hwcap_names(mask, "x86", 2) == (name.removeprefix("HWCAP2_").lower(),)
        assert names.hwcap_bit(name.removeprefix("HWCAP2_"), "x86", 2) == bit


def test_x86_hwcap_table_is_cpuid_1_edx() -> None:
    # auxv.md §4.1 (cpufeatures.h word 0, /proc/cpuinfo spelling).  The live
    # cpuinfo test above can only vouch for the bits this CPU has.
    reference = {0: "fpu", 1: "vme", 2: "de", 3: "pse", 4: "tsc", 5: "msr", 6: "pae", 7: "mce"}
    reference |= {8: "cx8", 9: "apic", 11: "sep", 12: "mtrr", 13: "pge", 14: "mca", 15: "cmov"}
    reference |= {16: "pat", 17: "pse36", 18: "pn", 19: "clflush", 21: "dts", 22: "acpi"}
    reference |= {23: "mmx", 24: "fxsr", 25: "sse", 26: "sse2", 27: "ss", 28: "ht", 29: "tm"}
    reference |= {30: "ia64", 31: "pbe"}
    assert dict(hwcap.hwcap_table("x86", 1)) == reference


def test_x86_hwcap_names_and_reserved_bits() -> None:
    # auxv.md §4.1: the host's 0x178bfbff.
    assert names.hwcap_names(0x178BFBFF, "x86", 1) == tuple(
        "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush "
        "mmx fxsr sse sse2 ht".split()
    )
    assert names.hwcap_names(1 << 10 | 1 << 20 | 1 << 21, "x86", 1) == ("bit10", "bit20", "dts")
    assert names.hwcap_names(1 << 31 | 1 << 32, "x86", 1) == ("pbe", "bit32")
    assert names.hwcap_names(0x3, "i386", 2) == ("ring3mwait", "fsgsbase")
    assert names.hwcap_names(0x5, "x86", 3) == ("bit0", "bit2")


def test_arm_and_arm64_hwcaps_from_reference() -> None:
    assert names.hwcap_names(0b11111, "arm", 1) == ("swp", "half", "thumb", "26bit", "fast_mult")
    assert names.hwcap_bit("VFPD32", "arm", 1) == 19
    assert names.hwcap_bit("i8mm", "arm", 1) == 27
    assert names.hwcap_names(1 << 6, "arm", 2) == ("ssbs",)
    assert names.hwcap_bit("pacg", "arm64", 1) == 31
    assert names.hwcap_bit("gcs", "arm64", 1) == 32
    assert names.hwcap_bit("SME_SMOP4", "arm64", 1) == 47
    assert names.hwcap_names(1 << 62 | 1 << 63, "aarch64", 1) == ("bit62", "bit63")
    assert names.hwcap_bit("sme", "arm64", 2) == 23
    assert names.hwcap_bit("wfxt", "arm64", 2) == 31
    assert names.hwcap_bit("lse128", "arm64", 2) == 47
    assert names.hwcap_bit("poe", "arm64", 2) == 63
    assert names.hwcap_bit("mte_far", "arm64", 3) == 0
    assert names.hwcap_bit("sve_lut6", "arm64", 3) == 11
    assert len(hwcap.hwcap_table("arm64", 1)) == 48 and len(hwcap.hwcap_table("arm64", 2)) == 64
    assert len(hwcap.hwcap_table("arm", 1)) == 28 and len(hwcap.hwcap_table("arm", 2)) == 7
    assert names.hwcap_names(0b101, "generic", 1) == ("bit0", "bit2")
    for (arch, which), table in hwcap.HWCAP_TABLES.items():
        assert len(set(table.values())) == len(table), (arch, which)
    with pytest.raises(ValueError):
        names.hwcap_names(1, "x86", 5)
    with pytest.raises(ValueError):
        names.hwcap_names(-1, "x86", 1)
    with pytest.raises(ValueError):
        names.hwcap_bit("avx512", "x86", 1)


# ---------------------------------------------------------------------------
# x86 bits
# ---------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("dmesg") is None, reason="dmesg is not installed")
def _boot_log_xfeatures() -> list[tuple[str, str]]:
    """The kernel's own "Supporting XSAVE feature" lines, from wherever they survive.

    dmesg's ring buffer wraps on a long-running host (test segfault lines fill it),
    so the journal and the syslog files are asked too.
    """
    pattern = r"Supporting XSAVE feature (0x[0-9a-f]+): '([^']+)'"
    sources: list[list[str]] = [["dmesg"], ["journalctl", "-k", "-b", "0", "--no-pager", "-q"]]
    for argv in sources:
        if shutil.which(argv[0]) is None:
            continue
        try:
            result = subprocess.run(
                argv, capture_output=True, text=True, timeout=20, errors="replace"
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        found = re.findall(pattern, result.stdout)
        if found:
            return found
    for name in ("/var/log/kern.log", "/var/log/dmesg", "/var/log/messages"):
        try:
            found = re.findall(pattern, Path(name).read_text(errors="replace"))
        except OSError:
            continue
        if found:
            return found
    return []


def _kernel_source_xfeatures() -> list[tuple[int, str]]:
    rows = []
    table = Path(__file__).parent.parent / "data" / "kernel_xfeature_names.txt"
    for line in table.read_text().splitlines():
        if line and not line.startswith("#"):
            bit, name = line.split("\t")
            rows.append((int(bit), name))
    return rows


def test_xfeature_names_match_kernel_source() -> None:
    # The kernel's xfeature_names[] (arch/x86/kernel/fpu/xstate.c), transcribed:
    # these are the strings the kernel prints at boot, so ours must equal them.
    rows = _kernel_source_xfeatures()
    assert len(rows) >= 14
    for bit, long_name in rows:
        assert x86.XFEATURE_NAMES[bit] == long_name


def test_xfeature_names_match_boot_log() -> None:
    # The running kernel is the stronger truth; when its boot lines are gone
    # (wrapped ring buffer, no journal) the features this CPU has are still
    # checked against the kernel source table above, never skipped.
    found = _boot_log_xfeatures()
    if found:
        for mask, long_name in found:
            bit = int(mask, 16).bit_length() - 1
            assert x86.XFEATURE_NAMES[bit] == long_name
        return
    xcr0_bits = _xcr0_user_bits()
    table = dict(_kernel_source_xfeatures())
    checked = [bit for bit in xcr0_bits if bit in table]
    assert 0 in checked and 1 in checked
    for bit in checked:
        assert x86.XFEATURE_NAMES[bit] == table[bit]


def _xcr0_user_bits() -> list[int]:
    """Bits of the xstate the kernel puts in signal frames on this CPU (CPUID leaf 0xD)."""
    from sigdbg.abi.x86 import xstate_layout

    offsets = xstate_layout.xstate_offsets()
    assert offsets is not None, "CPUID leaf 0xD could not be asked on this x86_64 host"
    return sorted(offsets)


def test_xfeature_short_names() -> None:
    # sigframe-x86.md §7: 0xe7 observed in a frame after AVX-512 use.
    assert names.xfeature_names(0xE7) == ("x87", "sse", "ymm", "opmask", "zmm_hi256", "hi16_zmm")
    assert names.xfeature_names(0x203) == ("x87", "sse", "pkru")
    assert names.xfeature_names(1 << 11 | 1 << 13 | 1 << 19) == ("cet_user", "bit13", "apx")
    assert names.xfeature_names(3 << 17) == ("xtile_cfg", "xtile_data")
    assert x86.XFEATURES[7] == x86.XFeature(7, "hi16_zmm", "AVX-512 ZMM_Hi256")


def test_uc_flags_match_uapi_header() -> None:
    defines = int_defines(ARCH_INCLUDE / "asm" / "ucontext.h", r"UC_\w+")
    assert len(defines) == 3
    for name, value in defines.items():
        assert x86.UC_FLAGS[value] == name
        assert names.uc_flags_names(value) == (name,)
    assert names.uc_flags_names(0x7) == ("UC_FP_XSTATE", "UC_SIGCONTEXT_SS", "UC_STRICT_RESTORE_SS")
    assert names.uc_flags_names(0x9) == ("UC_FP_XSTATE", "bit3")


def test_ss_flags_match_uapi_header() -> None:
    defines = int_defines(INCLUDE / "linux" / "signal.h", r"SS_(ONSTACK|DISABLE|AUTODISARM)")
    assert len(defines) == 3
    for name, value in defines.items():
        assert x86.SS_FLAGS[value] == name
        assert names.ss_flags_names(value) == (name,)
    assert names.ss_flags_names(-(1 << 31)) == ("SS_AUTODISARM",)  # read as a signed int
    assert names.ss_flags_names(0) == ()


def test_eflags_bits_match_uapi_header() -> None:
    defines = int_defines(ARCH_INCLUDE / "asm" / "processor-flags.h", r"X86_EFLAGS_\w+_BIT")
    assert len(defines) >= 17
    for name, bit in defines.items():
        flag = name.removeprefix("X86_EFLAGS_").removesuffix("_BIT")
        if flag == "FIXED":
            assert names.eflags_names(1 << bit) == ()
        elif flag == "IOPL":
            assert names.eflags_names(3 << bit) == ("IOPL=3",)
        else:
            assert x86.EFLAGS_BITS[bit] == flag
            assert names.eflags_names(1 << bit) == (flag,)
    assert names.eflags_names(0x3246) == ("PF", "ZF", "IF", "IOPL=3")
    assert names.eflags_names(0x10202) == ("IF", "RF")
    assert names.eflags_names(1 << 22 | 1 << 3) == ("bit3", "bit22")


@pytest.mark.skipif(shutil.which("gdb") is None or not IS_X86_64_LINUX, reason="gdb on x86_64")
def test_eflags_names_match_gdb() -> None:
    result = run(
        ["gdb", "-nx", "-batch", "-ex", "starti", "-ex", "set $eflags = 0x44ed5"]
        + ["-ex", "p $eflags", "-ex", "p/x $eflags", "/bin/true"]
    )
    shown = re.search(r"^\$1 = \[ ([A-Z ]+) \]$", result.stdout, flags=re.M)
    value = re.search(r"^\$2 = (0x[0-9a-f]+)$", result.stdout, flags=re.M)
    if shown is None or value is None:
        pytest.skip(f"gdb could not run /bin/true: {result.stderr.strip()[:200]}")
    ours = [n for n in names.eflags_names(int(value.group(1), 16)) if not n.startswith("IOPL")]
    assert ours == shown.group(1).split()
    assert len(ours) >= 8


def test_trap_vectors() -> None:
    # arch/x86/include/asm/trapnr.h and siginfo.md §6 (observed trapno values)
    expected = {0: "#DE", 1: "#DB", 2: "NMI", 3: "#BP", 4: "#OF", 5: "#BR", 6: "#UD", 7: "#NM"}
    expected |= {8: "#DF", 10: "#TS", 11: "#NP", 12: "#SS", 13: "#GP", 14: "#PF", 16: "#MF"}
    expected |= {17: "#AC", 18: "#MC", 19: "#XM", 20: "#VE", 21: "#CP", 29: "#VC"}
    for vector, mnemonic in expected.items():
        assert names.trapno_name(vector) == mnemonic
    assert names.trapno_description(0) == "divide error"
    assert names.trapno_description(14) == "page fault"
    assert names.trapno_description(13) == "general protection fault"
    assert names.trapno_name(22) == "vector 22"
    assert names.trapno_description(99) == "unknown vector 99"


def test_page_fault_error_codes() -> None:
    # siginfo.md §6: load from unmapped 0x10 → err 4, store → 6, store to PROT_READ → 6/7
    assert names.page_fault_err_names(4) == ("not-present", "read", "user")
    assert names.page_fault_err_names(6) == ("not-present", "write", "user")
    assert names.page_fault_err_names(7) == ("prot", "write", "user")
    assert names.page_fault_err_names(0x15) == ("prot", "fetch", "user")
    assert names.page_fault_err_names(0x25) == ("prot", "read", "user", "pkey")
    assert names.page_fault_err_names(0x0) == ("not-present", "read", "kernel")
    assert names.page_fault_err_names(0x8047) == ("prot", "write", "user", "shstk", "sgx")
    assert names.page_fault_err_names(0x108) == ("not-present", "read", "kernel", "rsvd", "bit8")
    with pytest.raises(ValueError):
        names.page_fault_err_names(-1)


# ---------------------------------------------------------------------------
# syscalls and AUDIT_ARCH
# ---------------------------------------------------------------------------


def _check_against_unistd(abi: str, header: Path) -> None:
    defines = int_defines(header, r"__NR_\w+")
    assert len(defines) > 300
    table = syscalls.SYSCALL_TABLES[abi]
    for macro, nr in defines.items():
        name = macro.removeprefix("__NR_")
        assert names.syscall_name(abi, nr) == name, (abi, nr)
        assert names.syscall_number(abi, name) == nr
    # nothing in our table that the header should have had: below its newest
    # number, only calls known to be newer than the header may be extra
    newest = max(defines.values())
    extra = {table[nr] for nr in table if nr <= newest} - {n[5:] for n in defines}
    assert extra <= {"uretprobe", "uprobe"}, extra


def test_x86_64_syscalls_match_unistd_64() -> None:
    _check_against_unistd("x86_64", ARCH_INCLUDE / "asm" / "unistd_64.h")


def test_i386_syscalls_match_unistd_32() -> None:
    _check_against_unistd("i386", ARCH_INCLUDE / "asm" / "unistd_32.h")


def test_syscall_tables_shape() -> None:
    # syscall_64.tbl: 0..336 then 424..; syscall_32.tbl: gaps at 222, 223, 251,
    # 285, 387-392 and 415.
    x64, i386 = syscalls.SYSCALL_TABLES["x86_64"], syscalls.SYSCALL_TABLES["i386"]
    assert set(x64) == set(range(0, 337)) | set(range(424, 472))
    holes = {222, 223, 251, 285, 415, *range(387, 393)}
    assert set(i386) == set(range(0, 472)) - holes
    for table in (x64, i386):
        assert len(set(table.values())) == len(table)
    newest = {
        451: "cachestat",
        453: "map_shadow_stack",
        462: "mseal",
        463: "setxattrat",
        467: "open_tree_attr",
        468: "file_getattr",
        469: "file_setattr",
        470: "listns",
        471: "rseq_slice_yield",
    }
    for nr, name in newest.items():
        assert x64[nr] == name and i386[nr] == name
    assert x64[335] == "uretprobe" and x64[336] == "uprobe"
    assert x64[15] == "rt_sigreturn" and i386[173] == "rt_sigreturn" and i386[119] == "sigreturn"
    assert "512 x32" not in raw_tables.X86_64_TABLE


def test_syscall_lookups() -> None:
    assert names.syscall_name("x86_64", 1000) == "syscall_1000"
    assert names.syscall_name("i386", 222) == "syscall_222"
    assert names.syscall_name("amd64", 60) == "exit"
    assert names.syscall_number("x86_64", "__NR_tgkill") == 234
    assert names.syscall_number("x86_64", "sys_rt_sigreturn") == 15
    assert names.syscall_number("ia32", "SYS_exit") == 1
    assert names.syscall_number("i386", "syscall_222") == 222
    assert names.all_syscall_names("x86_64")[:3] == ("read", "write", "open")
    with pytest.raises(ValueError):
        names.syscall_number("x86_64", "nosuchcall")
    with pytest.raises(ValueError):
        names.syscall_name("x32", 0)


def test_audit_arch_matches_uapi_header() -> None:
    env = read_defines(INCLUDE / "linux" / "audit.h")
    env |= read_defines(INCLUDE / "linux" / "elf-em.h")
    header = {}
    for name in env:
        if name.startswith("AUDIT_ARCH_"):
            value = c_int(env[name], env)
            assert value is not None, name
            header[value] = name.removeprefix("AUDIT_ARCH_").lower()
    assert len(header) >= 50
    assert dict(syscalls.AUDIT_ARCH_NAMES) == header
    for value, name in header.items():
        assert names.audit_arch_name(value) == name
        assert names.audit_arch_value(name) == value
        assert names.audit_arch_value("AUDIT_ARCH_" + name.upper()) == value


def test_audit_arch_reference_values() -> None:
    # siginfo.md §2
    assert names.audit_arch_name(0xC000003E) == "x86_64"
    assert names.audit_arch_name(0x40000003) == "i386"
    assert names.audit_arch_name(0x40000028) == "arm"
    assert names.audit_arch_name(0xC00000B7) == "aarch64"
    assert names.audit_arch_name(0x12345678) == "0x12345678"
    assert names.audit_arch_abi(0xC000003E) == "x86_64"
    assert names.audit_arch_abi(0x40000003) == "i386"
    assert names.audit_arch_abi(0xC00000B7) is None
    with pytest.raises(ValueError):
        names.audit_arch_value("vax")


def test_every_module_cites_kernel_sources() -> None:
    for module in (signals, sicodes, auxv, hwcap, x86, syscalls, raw_tables):
        doc = getattr(module, "__doc__", "") or ""
        assert re.search(r"(include|arch|kernel|fs)/\S+\.(h|c|tbl)", doc), module
