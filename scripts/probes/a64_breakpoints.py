"""Probe (runs in the arm64 guest): which execute breakpoint lets a tracer
run an AArch64 handler to its restorer and then single-step the restorer.

    python3 tests/arm/guest.py run --python --put scripts/probes/a64_breakpoints.py \\
        --put targets/build/arm/sig_frame.a64 \\
        'python3 /job/a64_breakpoints.py /job/sig_frame.a64 perf hwbreak brk'

For each mechanism: launch the program traced, step its first SIGUSR1
delivery into the handler, set the breakpoint on x30 (the vDSO restorer),
continue, remove the breakpoint, then PTRACE_SINGLESTEP three times.  Prints
one JSON line per mechanism: each stop's signal, pc, pstate and siginfo
(signo, si_code, si_addr).
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import signal
import struct
import sys
from typing import Any

PTRACE_TRACEME, PTRACE_CONT, PTRACE_SINGLESTEP = 0, 7, 9
PTRACE_SETOPTIONS, PTRACE_GETSIGINFO = 0x4200, 0x4202
PTRACE_GETREGSET, PTRACE_SETREGSET = 0x4204, 0x4205
PTRACE_O_EXITKILL = 0x100000
NT_PRSTATUS, NT_ARM_HW_BREAK = 1, 0x402
NR_PERF_EVENT_OPEN = 241  # arm64 (asm-generic unistd)
PERF_ATTR = struct.Struct("<IIQQQQQIIQQ48xQ")
BRK_0 = bytes.fromhex("000020d4")

libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
libc.ptrace.restype = ctypes.c_long
libc.syscall.restype = ctypes.c_long


class IoVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


def ptrace(req: int, pid: int, addr: int | None = None, data: int | None = None) -> int:
    r = libc.ptrace(req, pid, addr, data)
    if r == -1:
        e = ctypes.get_errno()
        raise OSError(e, f"ptrace({req}): {os.strerror(e)}")
    return int(r)


def regset(pid: int, note: int, data: bytes | None = None, size: int = 4096) -> bytes:
    buf = (ctypes.create_string_buffer(data, len(data)) if data
           else ctypes.create_string_buffer(size))
    iov = IoVec(ctypes.cast(buf, ctypes.c_void_p), len(buf))
    ptrace(PTRACE_SETREGSET if data else PTRACE_GETREGSET, pid, note, ctypes.addressof(iov))
    return buf.raw[: iov.len]


def stop(pid: int) -> dict[str, Any]:
    _, st = os.waitpid(pid, 0)
    if not os.WIFSTOPPED(st):
        return {"exit": st}
    v = struct.unpack("<34Q", regset(pid, NT_PRSTATUS))
    out: dict[str, Any] = {"sig": os.WSTOPSIG(st), "pc": hex(v[32]), "pstate": hex(v[33]),
                           "x30": hex(v[30])}
    info = ctypes.create_string_buffer(128)
    ptrace(PTRACE_GETSIGINFO, pid, 0, ctypes.addressof(info))
    signo, _, code = struct.unpack_from("<iii", info.raw)
    out["siginfo"] = [signo, code, hex(struct.unpack_from("<Q", info.raw, 16)[0])]
    return out


def at_handler(prog: str) -> tuple[int, dict[str, Any]]:
    pid = os.fork()
    if pid == 0:
        os.dup2(os.open("/dev/null", os.O_WRONLY), 1)
        ptrace(PTRACE_TRACEME, 0)
        os.kill(os.getpid(), signal.SIGSTOP)
        os.execv(prog, [prog])
    os.waitpid(pid, 0)
    ptrace(PTRACE_SETOPTIONS, pid, None, PTRACE_O_EXITKILL)
    ptrace(PTRACE_CONT, pid, None, 0)
    while True:
        st = stop(pid)
        if st.get("sig") == signal.SIGUSR1:
            break
        ptrace(PTRACE_CONT, pid, None, 0 if st.get("sig") == signal.SIGTRAP else st.get("sig", 0))
    ptrace(PTRACE_SINGLESTEP, pid, None, signal.SIGUSR1)
    return pid, stop(pid)


def probe(prog: str, mech: str) -> dict[str, Any]:
    pid, entry = at_handler(prog)
    res: dict[str, Any] = {"mechanism": mech, "entry": entry}
    lr = int(entry["x30"], 16)
    try:
        undo: Any
        if mech == "perf":
            attr = PERF_ATTR.pack(5, PERF_ATTR.size, 0, 1, 0, 0,
                                  (1 << 5) | (1 << 6) | (1 << 36) | (1 << 37), 0, 4, lr, 8, 1)
            fd = libc.syscall(NR_PERF_EVENT_OPEN, ctypes.create_string_buffer(attr, len(attr)),
                              pid, -1, -1, 8)
            res["perf_fd"] = [fd, ctypes.get_errno()]

            def undo() -> None:
                if fd >= 0:
                    fcntl.ioctl(fd, 0x2401, 0)  # PERF_EVENT_IOC_DISABLE
        elif mech == "hwbreak":
            res["dbg_info"] = regset(pid, NT_ARM_HW_BREAK)[:4].hex()
            # slot 0: enable, EL0 (2 << 1), execute, 4 bytes (BAS 0xf << 5)
            regset(pid, NT_ARM_HW_BREAK, struct.pack("<8xQI4x", lr, 0x1E5))

            def undo() -> None:
                regset(pid, NT_ARM_HW_BREAK, struct.pack("<8xQI4x", 0, 0))
        else:
            mem = os.open(f"/proc/{pid}/mem", os.O_RDWR)
            orig = os.pread(mem, 4, lr)
            os.pwrite(mem, BRK_0, lr)

            def undo() -> None:
                os.pwrite(mem, orig, lr)
        ptrace(PTRACE_CONT, pid, None, 0)
        res["breakpoint_stop"] = stop(pid)
        undo()
        res["steps"] = []
        for _ in range(3):
            ptrace(PTRACE_SINGLESTEP, pid, None, 0)
            res["steps"].append(stop(pid))
    except OSError as exc:
        res["error"] = str(exc)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return res


def main() -> None:
    signal.alarm(60)  # a mechanism that loses the task must not hang the guest
    for mech in sys.argv[2:]:
        print(json.dumps(probe(sys.argv[1], mech)), flush=True)


if __name__ == "__main__":
    main()
