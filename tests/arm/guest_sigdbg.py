"""Runs INSIDE the arm64 guest: sigdbg itself on AArch64 and AArch32 processes
(issue 14: auxv, maps, vdso), in one Python start.

    PYTHONPATH=/job python3 guest_sigdbg.py PROG...

For each PROG: sigdbg launches it stopped at exec (``launch_session``, the
path of ``sigdbg auxv -- PROG``) and runs the inspect commands through the
shared command layer, JSON and text.  While it is still stopped, this script
reads ``/proc/PID/auxv`` and ``/proc/PID/maps`` with plain file reads (the
independent truth for the same process).  Then sigdbg detaches and the
program runs to its end, printing its own view (getauxval, /proc/self/auxv
and maps, its handlers' lr, the kuser version word, the vDSO image) into a
file: the same process, so the same addresses.  Then the CLI's ``main`` runs
the commands as a user would (a fresh process each), including bad input.
Prints one JSON document.
"""

from __future__ import annotations

import time

T0 = time.monotonic()  # before sigdbg's imports: what this script costs the test session

import contextlib  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from typing import Any  # noqa: E402

from sigdbg.cli.main import main as cli_main  # noqa: E402
from sigdbg.commands.backend import launch_session  # noqa: E402
from sigdbg.commands.inspect import run_command  # noqa: E402
from sigdbg.render.text import PLAIN  # noqa: E402

IMPORT_S = time.monotonic() - T0

COMMANDS: tuple[tuple[str, list[str]], ...] = (
    ("auxv", ["--json"]),
    ("maps", ["--json"]),
    ("vdso", ["--json"]),
    ("auxv", []),
    ("maps", []),
    ("vdso", []),
    ("vsyscall", ["--json"]),
)


def _read(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


def one_target(prog: str) -> dict[str, Any]:
    out_path = f"/tmp/{os.path.basename(prog)}.sigdbg.out"
    fd = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    t0 = time.monotonic()
    s = launch_session([prog], stdout=fd)
    os.close(fd)
    pid = s.pid
    res: dict[str, Any] = {"pid": pid, "abi": s.task.process_abi.name,
                           "regs_abi": s.task.abi.name}
    res["proc_auxv"] = _read(f"/proc/{pid}/auxv").hex()
    res["proc_maps"] = _read(f"/proc/{pid}/maps").decode()
    cmds: dict[str, str] = {}
    for name, argv in COMMANDS:
        key = name + ("_json" if argv else "_text")
        try:
            cmds[key] = run_command(s, name, argv, PLAIN)
        except Exception as exc:  # reported, and the test fails on it
            cmds[key] = f"ERROR {type(exc).__name__}: {exc}"
    if res["abi"] == "aarch64":
        cmds["disas_json"] = run_command(s, "vdso", ["--json", "--disas",
                                                     "__kernel_rt_sigreturn"], PLAIN)
    dump = f"/tmp/{os.path.basename(prog)}.vdso.so"
    run_command(s, "vdso", ["--dump", dump], PLAIN)
    res["vdso_dump"] = _read(dump).hex()
    res["commands"] = cmds
    res["inspect_s"] = round(time.monotonic() - t0, 2)
    # let the program run its course untraced: its own view of the same process
    s.detach()
    s.tracer.close()
    _, status = os.waitpid(pid, 0)
    res["status"] = status
    res["program"] = _read(out_path).decode(errors="replace")
    return res


def cli(argv: list[str]) -> dict[str, Any]:
    """``sigdbg ARGV`` in this process: stdout and stderr captured."""
    o, e = io.StringIO(), io.StringIO()
    t0 = time.monotonic()
    with contextlib.redirect_stdout(o), contextlib.redirect_stderr(e):
        rc = cli_main(argv)
    return {"argv": argv, "rc": rc, "stdout": o.getvalue(), "stderr": e.getvalue(),
            "s": round(time.monotonic() - t0, 2)}


def cli_with_output(argv: list[str]) -> dict[str, Any]:
    """``cli(argv)`` with the traced program's stdout (fd 1) in a file,
    returned as ``program``: the target's own report from its handler."""
    path = "/tmp/sigdbg.frame.out"
    sys.stdout.flush()
    saved = os.dup(1)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.close(fd)
    try:
        res = cli(argv)
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    res["program"] = _read(path).decode(errors="replace")
    return res


def frame_commands(argv: list[str]) -> dict[str, Any]:
    """The ``frame`` command (the one the shell shares) at the first handler
    entry of ``argv``, at sp (the entry registers known: the restorer too)
    and at the frame's address (lr is not known there), beside the frame
    of the engine's HandlerEntered event; then the program is killed."""
    from sigdbg.engine import events as ev

    fd = os.open("/tmp/sigdbg.framecmd.out", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    s = launch_session(argv, stdout=fd)
    os.close(fd)
    out: dict[str, Any] = {}
    t0 = time.monotonic()
    try:
        for e in s.events():
            if isinstance(e, ev.HandlerEntered):
                out["event"] = e.frame.to_json()
                out["at_sp"] = json.loads(run_command(s, "frame", ["--json"], PLAIN))
                out["at_address"] = json.loads(run_command(
                    s, "frame", ["--json", hex(e.frame.address)], PLAIN))
                out["text"] = run_command(s, "frame", [], PLAIN)
                break
    finally:
        s.close()
    out["s"] = round(time.monotonic() - t0, 2)
    return out


def handler_edits(prog: str) -> dict[str, Any]:
    """The full run of ``prog`` under the engine up to the nested handler's
    entry (the 10th: nest_in); there the outer frame, which the outer handler
    has edited, is decoded again by the ``frame`` command at its address.
    Then the program is killed; its reports so far are in ``program``."""
    from sigdbg.engine import events as ev

    path = "/tmp/sigdbg.edits.out"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    s = launch_session([prog], stdout=fd)
    os.close(fd)
    out: dict[str, Any] = {"entered": []}
    try:
        for e in s.events():
            if isinstance(e, ev.HandlerEntered):
                out["entered"].append(e.frame.to_json())
                if len(out["entered"]) == 10:
                    outer = out["entered"][8]["address"]
                    out["outer_now"] = json.loads(run_command(
                        s, "frame", ["--json", hex(outer)], PLAIN))
                    break
    finally:
        s.close()
    out["program"] = _read(path).decode(errors="replace")
    return out


def trap_codes(prog: str) -> dict[str, Any]:
    """The SIGTRAPs the walk relies on, measured on ``prog``'s first handler
    (an AArch32 compat task): the NT_ARM_HW_BREAK breakpoint at lr, then two
    single steps (the restorer's ``mov r7`` and its ``svc``).  si_code,
    si_errno and pc of each stop; then the program is killed.  ``program``:
    its output (the handler's report of that frame and its lr)."""
    from sigdbg.engine import events as ev

    fd = os.open("/tmp/sigdbg.traps.out", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    s = launch_session([prog], stdout=fd)
    os.close(fd)
    out: dict[str, Any] = {"stops": []}
    try:
        for e in s.events():
            if isinstance(e, ev.HandlerEntered):
                tid = e.tid
                task = s.tracer.task(tid)
                out["lr"] = e.frame.pretcode
                task.arm_breakpoint(e.frame.pretcode)
                for step in (False, True, True):
                    st = s._resume_wait(tid, 0, step, tid)
                    if not step:
                        task.disarm_breakpoint()
                    raw = st.siginfo_raw or b"\0" * 12
                    out["stops"].append({"kind": st.kind, "sig": st.sig, "si_code": st.si_code,
                                         "si_errno": int.from_bytes(raw[4:8], "little",
                                                                    signed=True),
                                         "pc": task.pc()})
                break
    finally:
        s.close()
    out["program"] = _read("/tmp/sigdbg.traps.out").decode(errors="replace")
    return out


#: the shell session run on each target (tests/arm/test_shell_arm.py): to the
#: first handler entry, the data commands there, the sigreturn walk, the data
#: commands in the restored context, the refusals, then detach or kill
SHELL_LINES = (
    "stepi 1",  # at the exec stop: one instruction of _start
    "continue",
    "frame --json",
    "frame --no-picture",
    "siginfo --json",
    "siginfo",
    "regs --json",
    "regs",
    "regs --frame --json",
    "x/16xw $sp --json",
    "x/16xw $sp",
    "disassemble -n 4 --json",
    "disassemble -n 4",
    "x/2i $pc",
    "stepi",
    "regs --json",
    "step-sigreturn",
    "regs --json",
    "regs",
    "x/2i $pc",
    # what the shell cannot do on ARM yet, and bad input: one line each
    "regs --fp",
    "break $pc",
    "bt",
    "frame 0x10",
    "x/4xw 0",
)


def shell_session(argv: list[str], end: str) -> dict[str, Any]:
    """The shell's core (sigdbg/shell/core.py ``Shell``, no terminal) on
    ``argv``: ``file``, ``run``, then :data:`SHELL_LINES`, then ``end``
    (``detach``: the program runs to its end untraced; ``kill``).  Each
    command's output is kept; the program's own reports (its stdout) are in
    ``program``; ``left``: what /proc says of the pid afterwards."""
    from sigdbg.shell.core import Shell

    path = f"/tmp/sigdbg.shell.{os.path.basename(argv[0])}.out"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    out = io.StringIO()
    sh = Shell(out, style=PLAIN, tracee_stdio={"stdout": fd})  # fd: open until the end
    cmds: list[dict[str, str]] = []
    t0 = time.monotonic()

    def run(line: str) -> str:
        start = out.tell()
        sh.execute(line)
        out.seek(start)
        text = out.read()
        out.seek(0, io.SEEK_END)
        cmds.append({"line": line, "out": text})
        return text

    pid = 0
    status: int | None = None
    try:
        run(f"file {argv[0]}")
        run(" ".join(["run", *argv[1:]]))
        pid = sh.session.pid if sh.session is not None else 0
        for line in SHELL_LINES:
            run(line)
        run(end)
        if end == "detach" and pid:
            # the shell's reaper would reap it; here its exit status is the truth
            sh.reaper.forget(pid)
            # (it may have exited and been reaped by the reaper's thread
            # before the forget: the reaper keeps that status)
            status = sh.reaper.exit_status(pid)
            for _ in range(600 if status is None else 0):
                got, st = os.waitpid(pid, os.WNOHANG)
                if got:
                    status = st
                    break
                time.sleep(0.1)
            else:
                if status is None:
                    os.kill(pid, 9)
                    os.waitpid(pid, 0)
    finally:
        sh.close()
        os.close(fd)
    return {"argv": argv, "pid": pid, "commands": cmds, "status": status,
            "left": _state(pid) if pid else None,
            "program": _read(path).decode(errors="replace"),
            "s": round(time.monotonic() - t0, 2)}


def _state(pid: int) -> str | None:
    try:
        stat = _read(f"/proc/{pid}/stat")
    except OSError:
        return None
    return stat[stat.rindex(b")") + 2 :].split()[0].decode()


def stacks(prog: str) -> dict[str, Any]:
    """``sigdbg trace -k`` on ``prog`` (tests/arm/test_a64_stack.py): JSON and
    text, each with the program's own reports (its handlers walk their
    stacks themselves)."""
    return {"json": cli_with_output(["trace", "--json", "-k", "--", prog]),
            "text": cli_with_output(["trace", "-k", "--", prog])}


def main() -> None:
    progs = sys.argv[1:]
    stack = ""
    if "--stack" in progs:  # --stack PROG: the trace -k target (test_a64_stack.py)
        i = progs.index("--stack")
        stack = progs[i + 1]
        del progs[i : i + 2]
    step = ""
    if "--step" in progs:  # --step PROG: the --step-sigreturn target (test_a64_step.py)
        i = progs.index("--step")
        step = progs[i + 1]
        del progs[i : i + 2]
    step32: list[str] = []
    if "--step-a32" in progs:  # --step-a32 ARM THUMB: test_a32_step.py's targets
        i = progs.index("--step-a32")
        step32 = progs[i + 1 : i + 3]
        del progs[i : i + 3]
    doc: dict[str, Any] = {"targets": {}, "cli": [], "import_s": round(IMPORT_S, 2)}
    for prog in progs:
        doc["targets"][os.path.basename(prog)] = one_target(prog)
    # the CLI as a user runs it (each a fresh process; symbolizing AT_ENTRY in
    # a static binary costs seconds under emulation, so only a few)
    doc["cli"].append(cli(["auxv", "--json", "--", progs[0]]))
    doc["cli"].append(cli(["maps", "--json", "--", progs[1]]))
    doc["cli"].append(cli(["vdso", "--disas", "__kernel_rt_sigreturn", "--", progs[0]]))
    # --at entry: a static program is at its entry at exec already; a dynamic
    # one (the guest's python3) would need a breakpoint, which sigdbg does not
    # set on ARM yet: one line, and the stopped python3 is killed
    doc["cli"].append(cli(["auxv", "--json", "--at", "entry", "--", progs[1]]))
    doc["cli"].append(cli(["auxv", "--at", "entry", "--", "/usr/bin/python3"]))
    # sigdbg frame on AArch64: the first handler entry decoded; the program
    # runs on and reports the same frame from inside its handler (its stdout
    # goes to a file: tests/arm/test_a64_frame.py compares the two)
    doc["frames"] = {
        "usr1_json": cli_with_output(["frame", "--json", "--", progs[0]]),
        "segv_json": cli_with_output(["frame", "--json", "--", progs[0], "segv"]),
        "usr1_text": cli_with_output(["frame", "--", progs[0]]),
        # every scenario's handler entry, the engine's path for AArch64 frames
        "trace_json": cli_with_output(["trace", "--json", "--", progs[0]]),
        # AArch32 (tests/arm/test_a32_frame.py): ARM and Thumb builds, the
        # rt frame, the fault, the non-rt frame, text, every scenario traced
        "a32_usr1_json": cli_with_output(["frame", "--json", "--", progs[1]]),
        "a32_segv_json": cli_with_output(["frame", "--json", "--", progs[2], "segv"]),
        "a32_nosi_json": cli_with_output(["frame", "--json", "--", progs[2], "nosi"]),
        "a32_usr1_text": cli_with_output(["frame", "--", progs[2], "usr1"]),
        "a32_trace_arm": cli_with_output(["trace", "--json", "--", progs[1]]),
        "a32_trace_thumb": cli_with_output(["trace", "--json", "--", progs[2]]),
        # --step-sigreturn on the first handler of sig_frame.arm
        "a32_step": cli_with_output(["trace", "--json", "--step-sigreturn", "--", progs[1],
                                     "usr1"]),
    }
    # --step-sigreturn on AArch64 (tests/arm/test_a64_step.py): every handler
    # of sig_step.a64 followed through its restorer and rt_sigreturn; the
    # program reports each frame it leaves and what it got back after it
    if step:
        doc["steps"] = {
            "json": cli_with_output(["trace", "--json", "--step-sigreturn", "--", step]),
            "text": cli_with_output(["trace", "--step-sigreturn", "--", step]),
            # a handler that never returns (_exit in it): the walk ends, one
            # line says why, nothing is left stopped
            "exit": cli_with_output(["trace", "--json", "--step-sigreturn", "--", step, "exit"]),
            # bad input with --step-sigreturn: one line
            "clash": cli_with_output(["trace", "--no-frame", "--step-sigreturn", "--", step]),
        }
    # --step-sigreturn on AArch32 (tests/arm/test_a32_step.py): ARM and Thumb
    # builds of sig_step.a32, every handler followed through its restorer
    if step32:
        doc["steps_a32"] = {
            "arm": cli_with_output(["trace", "--json", "--step-sigreturn", "--", step32[0]]),
            "thumb": cli_with_output(["trace", "--json", "--step-sigreturn", "--", step32[1]]),
            "thumb_text": cli_with_output(["trace", "--step-sigreturn", "--", step32[1]]),
        }
        doc["traps_a32"] = {"arm": trap_codes(step32[0]), "thumb": trap_codes(step32[1])}
    if stack:
        doc["stacks"] = stacks(stack)
    doc["frame_commands"] = frame_commands([progs[2], "segv"])
    doc["handler_edits"] = handler_edits(progs[2])
    # the text trace of an AArch32 program (Thumb handlers)
    doc["cli"].append(cli_with_output(["trace", "--", progs[2]]))
    # bad input: one line, no traceback
    doc["cli"].append(cli(["auxv", "--", "/nonexistent"]))
    doc["cli"].append(cli(["vdso", "--disas", "no_such_symbol", "--", progs[0]]))
    # ... on AArch32 too: an unreadable frame address, another ABI's frame kind
    doc["cli"].append(cli(["frame", "--address", "0x10", "--", progs[1]]))
    doc["cli"].append(cli(["frame", "--kind", "rt_sigframe", "--address", "0x10", "--",
                           progs[2]]))
    # ... and -k, which has no unwinding rules for ARM yet (the program is stopped
    # at its first handler when that is found out: it must not be left behind)
    doc["cli"].append(cli_with_output(["trace", "-k", "--", progs[1]]))
    # the shell's core on AArch64 and on AArch32 Thumb (tests/arm/test_shell_arm.py):
    # the first SIGUSR1 of sig_frame.a64 (detached after the sigreturn: the
    # program runs to its end and reports every scenario), the SIGSEGV of
    # sig_frame.thumb (killed after the sigreturn)
    doc["shell"] = {"a64": shell_session([progs[0]], "detach"),
                    "thumb": shell_session([progs[2], "segv"], "kill")}
    # nothing of ours may be left behind
    doc["children_left"] = [p for p in os.listdir("/proc") if p.isdigit()
                            and _ppid(int(p)) == os.getpid()]
    doc["elapsed_s"] = round(time.monotonic() - T0, 2)
    json.dump(doc, sys.stdout)


def _ppid(pid: int) -> int:
    try:
        stat = _read(f"/proc/{pid}/stat")
    except OSError:
        return 0
    return int(stat[stat.rindex(b")") + 2 :].split()[1])


if __name__ == "__main__":
    main()
