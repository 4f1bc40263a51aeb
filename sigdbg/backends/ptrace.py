"""The live backend: ptrace over python-ptrace, memory over /proc/PID/mem.

Four modules: ``ptrace_sys.py`` (the system-call layer: request numbers,
the lean ctypes/C path, perf and seccomp constants), ``ptrace_task.py``
(:class:`PtraceTask`, one thread), this one (:class:`Tracer`: launch,
attach, waits, the resume-and-wait hot path, the wrapper of the C trace
loop, cleanup) and ``tracercontrol.py`` (the ``Control``, over the
Protocols only).  Starting a tracee
(SEIZE) and reaping go through python-ptrace's ``ptrace()`` binding;
the requests of a stopped task (CONT, SINGLESTEP, GETREGSET, GETSIGINFO,
PEEKUSER, POKEUSER, GETEVENTMSG, ...) are made on the trace hot path, several
per signal, and take a lean path instead: one ctypes function for libc's
``ptrace`` with its argument types set once, and preallocated buffers (about
0.4 us less Python work per request than the binding).  Both report failures
the same way (-1 and errno); errors are translated here into
:mod:`sigdbg.errors`.

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
import os
import signal
import struct
from typing import TYPE_CHECKING, NamedTuple

from ptrace import PtraceError
from ptrace.binding.func import ptrace as _ptrace

from sigdbg.backends.base import (
    Control,
    ResumeResult,
    SessionBackend,
    WaitResult,
)
from sigdbg.backends.ptrace_sys import (
    _FAILED,
    _HW_BREAK_REGSET,
    _HW_BREAKPOINT,
    _MAX_REGSET,
    _NATIVE,
    _PC_USER_OFFSET,
    _PEEK_PC,
    _SYSCALL_TRAP,
    _WALL,
    _WIFSTOPPED,
    BASE_OPTIONS,
    FOLLOW_OPTIONS,
    PTRACE_CONT,
    PTRACE_O_EXITKILL,
    PTRACE_O_TRACESECCOMP,
    PTRACE_SEIZE,
    PTRACE_SINGLESTEP,
    PTRACE_SYSCALL,
    _libc,
    _seccomp_mode,
    _status_field,
    _sys_ptrace,
    _tgkill,
    _word,
    install_sigreturn_filter,
)

# (re-exported: the names this module had before the split, which tests and
# tools reach as sigdbg.backends.ptrace.X)
from sigdbg.backends.ptrace_sys import PTRACE_GETSIGINFO as PTRACE_GETSIGINFO
from sigdbg.backends.ptrace_sys import _ctypes_ptrace as _ctypes_ptrace
from sigdbg.backends.ptrace_sys import native_in_use as native_in_use
from sigdbg.backends.ptrace_sys import sigreturn_filter as sigreturn_filter
from sigdbg.backends.ptrace_task import (
    PtraceTask,
    _errno_of,
)
from sigdbg.backends.ptrace_task import _hw_break_slot as _hw_break_slot
from sigdbg.backends.stopcodes import PTRACE_EVENT_EXEC
from sigdbg.backends.tracercontrol import TracerControl
from sigdbg.errors import (
    ProcessGone,
    SigdbgError,
    TargetError,
)


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

    def release(self, tid: int) -> None:
        t = self.tasks.pop(tid, None)
        if t is not None:
            t.close_mem()

    def release_all(self) -> None:
        for tid in list(self.tasks):
            self.release(tid)
        self.attached.clear()
        self.launched.clear()

    def tgkill(self, pid: int, tid: int, sig: int) -> None:
        if _tgkill(pid, tid, sig) != 0:
            err = ctypes.get_errno()
            if err == errno.ESRCH:
                raise ProcessGone(f"thread {tid} is gone")
            raise TargetError(os.strerror(err))

    def trace_loop_available(self) -> bool:
        return trace_loop_available()

    def new_template_store(self) -> TemplateStore:
        return TemplateStore()

    # -- /proc facts about threads (fs/proc/array.c ``task_sig``, ``task_state``)
    def threads_of(self, pid: int) -> list[int]:
        try:
            return sorted(int(t) for t in os.listdir(f"/proc/{pid}/task"))
        except OSError:
            return []

    def tgid_of(self, tid: int) -> int:
        return _status_field(tid, "Tgid")

    def ppid_of(self, tid: int) -> int:
        return _status_field(tid, "PPid")

    def is_thread(self, tid: int, pid: int) -> bool:
        return os.path.exists(f"/proc/{pid}/task/{tid}")

    def sigtrap_pending(self, tid: int) -> bool:
        bit = 1 << (int(signal.SIGTRAP) - 1)
        masks: dict[str, int] = {}
        try:
            with open(f"/proc/{tid}/status") as fh:
                for line in fh:
                    key, _, value = line.partition(":")
                    if key in ("SigPnd", "SigBlk"):
                        masks[key] = int(value, 16)
        except (OSError, ValueError):
            return False
        return bool(masks.get("SigPnd", 0) & bit) and not masks.get("SigBlk", 0) & bit

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


#: the Control of a traced process (the name the ptrace backend had for it)
PtraceControl = TracerControl


if TYPE_CHECKING:
    _CONTROL: type[Control] = PtraceControl  # mypy --strict proves the Protocol
    _BACKEND: type[SessionBackend] = Tracer  # ... and the session's

from sigdbg.backends import base as _base  # noqa: E402

# the loop's outcome kinds are defined twice (here, beside the C module's
# wrapper, and in base.py for the engine): they must agree
assert (LOOP_STOP, LOOP_MISS, LOOP_OTHER, LOOP_FULL, LOOP_INTR, LOOP_PASS_MISS, LOOP_WALK) == (
    _base.LOOP_STOP, _base.LOOP_MISS, _base.LOOP_OTHER, _base.LOOP_FULL, _base.LOOP_INTR,
    _base.LOOP_PASS_MISS, _base.LOOP_WALK)
