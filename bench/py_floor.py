#!/usr/bin/env python3
"""py_floor - targets/bench_floor.c's minimal per-delivery work, in plain Python.

    python3 bench/py_floor.py PROG [ARGS...]

The least a Python tracer can cost per signal: for every signal-delivery-stop
PTRACE_GETSIGINFO, PTRACE_SINGLESTEP with the signal into the handler,
PTRACE_GETREGS and one 4 KiB pread of /proc/PID/mem at the stack pointer,
then PTRACE_CONT -- the same stops and reads as ``sigdbg trace`` in frame
mode, with no decoding and no output.  It is a reference row of the
benchmark: the gap between it and the C floor is the interpreter's, the gap
between it and sigdbg is decoding, models and JSON.  x86_64 tracees only.
"""

from __future__ import annotations

import ctypes
import os
import struct
import sys

PTRACE_TRACEME, PTRACE_CONT, PTRACE_SINGLESTEP, PTRACE_GETREGS = 0, 7, 9, 12
PTRACE_SETOPTIONS, PTRACE_GETSIGINFO = 0x4200, 0x4202
PTRACE_O_TRACEEXEC, PTRACE_O_EXITKILL = 0x10, 0x100000
RSP = 19 * 8  # offsetof(struct user_regs_struct, rsp)
TRAP_HANDLER_ENTRY = 5  # si_code of the SIGTRAP that ends a signal-delivering step


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: py_floor.py PROG [ARGS...]", file=sys.stderr)
        return 2
    libc = ctypes.CDLL(None, use_errno=True)
    ptrace = libc.ptrace
    ptrace.argtypes = (ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p)
    ptrace.restype = ctypes.c_long
    pid = os.fork()
    if pid == 0:
        ptrace(PTRACE_TRACEME, 0, None, None)
        try:
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)
    os.waitpid(pid, 0)  # the post-exec SIGTRAP
    ptrace(PTRACE_SETOPTIONS, pid, None, PTRACE_O_EXITKILL | PTRACE_O_TRACEEXEC)
    regs = ctypes.create_string_buffer(27 * 8)
    info = ctypes.create_string_buffer(128)
    mem = os.open(f"/proc/{pid}/mem", os.O_RDONLY)
    waitpid, pread, unpack = os.waitpid, os.pread, struct.unpack_from
    signals = 0
    ptrace(PTRACE_CONT, pid, None, None)
    while True:
        _, status = waitpid(pid, 0)
        if not os.WIFSTOPPED(status):
            break
        sig = os.WSTOPSIG(status)
        if status >> 16 or ptrace(PTRACE_GETSIGINFO, pid, None, info) != 0:
            ptrace(PTRACE_CONT, pid, None, None)  # an event or group-stop: not a delivery
            continue
        signals += 1
        ptrace(PTRACE_SINGLESTEP, pid, None, sig)
        _, status = waitpid(pid, 0)
        if not os.WIFSTOPPED(status):
            break  # the signal killed it
        ptrace(PTRACE_GETSIGINFO, pid, None, info)
        if unpack("<i", info, 8)[0] == TRAP_HANDLER_ENTRY:
            ptrace(PTRACE_GETREGS, pid, None, regs)
            pread(mem, 4096, unpack("<Q", regs, RSP)[0])
        ptrace(PTRACE_CONT, pid, None, None)
    print(f"py_floor: {signals} signals", file=sys.stderr)
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    return 128 + os.WTERMSIG(status)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
