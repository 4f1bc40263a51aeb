"""Runs INSIDE the arm64 guest: a minimal ctypes ptrace tracer, the path
sigdbg's ARM backend will take (issue 14 item 2), on a real kernel.

    python3 guest_ptrace.py PROG OUTFILE

Starts PROG traced (stdout to OUTFILE), and at the first SIGUSR1
signal-delivery-stop resumes with PTRACE_SINGLESTEP and the signal, which
stops on the handler's first instruction.  There it reads NT_PRSTATUS with
PTRACE_GETREGSET (272 bytes for an AArch64 tracee, 72 for an AArch32 one)
and the frame bytes at sp through /proc/PID/mem.  Every other signal is
delivered unchanged, so the traced run behaves as an untraced one.  Prints
one JSON line.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys

PTRACE_TRACEME = 0
PTRACE_CONT = 7
PTRACE_SINGLESTEP = 9
PTRACE_SETOPTIONS = 0x4200
PTRACE_GETREGSET = 0x4204
PTRACE_O_EXITKILL = 0x100000
NT_PRSTATUS = 1

libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
libc.ptrace.restype = ctypes.c_long


class IoVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


def ptrace(req: int, pid: int, addr: int | None = None, data: int | None = None) -> int:
    r = libc.ptrace(req, pid, addr, data)
    if r == -1:
        e = ctypes.get_errno()
        raise OSError(e, f"ptrace({req}): {os.strerror(e)}")
    return int(r)


def main() -> None:
    prog, outfile = sys.argv[1], sys.argv[2]
    pid = os.fork()
    if pid == 0:
        fd = os.open(outfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(fd, 1)
        ptrace(PTRACE_TRACEME, 0)
        os.kill(os.getpid(), signal.SIGSTOP)
        os.execv(prog, [prog])
    _, status = os.waitpid(pid, 0)
    assert os.WIFSTOPPED(status) and os.WSTOPSIG(status) == signal.SIGSTOP
    ptrace(PTRACE_SETOPTIONS, pid, None, PTRACE_O_EXITKILL)
    ptrace(PTRACE_CONT, pid, None, 0)
    out: dict[str, object] = {"stops": []}
    stops: list[int] = []
    done = False
    while True:
        _, status = os.waitpid(pid, 0)
        if os.WIFEXITED(status) or os.WIFSIGNALED(status):
            out["exit"] = os.waitstatus_to_exitcode(status)
            break
        sig = os.WSTOPSIG(status)
        stops.append(sig)
        if sig == signal.SIGUSR1 and not done:
            done = True
            ptrace(PTRACE_SINGLESTEP, pid, None, sig)
            _, status = os.waitpid(pid, 0)
            out["step_stop"] = os.WSTOPSIG(status) if os.WIFSTOPPED(status) else -1
            buf = ctypes.create_string_buffer(512)
            iov = IoVec(ctypes.cast(buf, ctypes.c_void_p), 512)
            ptrace(PTRACE_GETREGSET, pid, NT_PRSTATUS, ctypes.addressof(iov))
            regs = buf.raw[: iov.len]
            out["regset"] = regs.hex()
            word = 8 if iov.len == 272 else 4
            sp = int.from_bytes(regs[248:256] if word == 8 else regs[52:56], "little")
            with open(f"/proc/{pid}/mem", "rb") as mem:
                mem.seek(sp)
                out["frame_at"] = sp
                out["frame"] = mem.read(4704 if word == 8 else 880).hex()
            ptrace(PTRACE_CONT, pid, None, 0)
            continue
        # the SIGTRAP after execve is ours; everything else goes to the tracee
        ptrace(PTRACE_CONT, pid, None, 0 if sig == signal.SIGTRAP and len(stops) == 1 else sig)
    out["stops"] = stops
    print(json.dumps(out))


if __name__ == "__main__":
    main()
