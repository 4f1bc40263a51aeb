"""The data commands: registers, memory, disassembly, backtrace, frames, siginfo.

Each takes ``--json``.  The ones the CLI also has (auxv, maps, vdso,
vsyscall, frame) run the shared :data:`sigdbg.commands.inspect.INSPECT_COMMANDS`.
"""

from __future__ import annotations

import argparse
import struct
from typing import TYPE_CHECKING

from sigdbg.commands.inspect import INSPECT_COMMANDS
from sigdbg.commands.parser import Command, dump_json
from sigdbg.decode.sigframe import SigFrame
from sigdbg.errors import SigdbgError, UsageError
from sigdbg.render.text import render_frame, siginfo_text
from sigdbg.shell import views
from sigdbg.shell.expr import MemoryRows, decode_cstring, parse_format
from sigdbg.textsafe import safe

if TYPE_CHECKING:
    from sigdbg.shell.context import ShellContext as Shell


# -- commands -----------------------------------------------------------------------------------
def inspect(sh: Shell, a: argparse.Namespace) -> None:
    cmd = next(c for c in INSPECT_COMMANDS if c.name == a.command_name)
    if sh.core is not None and (sh.session is None or not sh.session.alive):
        sh.write(cmd.run(sh.core, a, sh.style))  # no process: the loaded core file
        return
    if cmd.name == "frame":
        sh.write(_frame(sh, a, cmd))
        return
    s = sh.require_stopped()
    sh.write(cmd.run(s, a, sh.style))


def _frame(sh: Shell, a: argparse.Namespace, cmd: Command) -> str:
    """``frame``: the frame of the handler we are in (not whatever is at sp now).

    Outside a handler there is no signal frame to show: decoding the stack
    pointer's bytes as one would print garbage with the look of a frame.  An
    explicit ADDRESS is decoded on request.  The signal is the one the frame
    was delivered for (the kernel writes the siginfo only for SA_SIGINFO
    handlers, arch/x86/kernel/signal_64.c x64_setup_rt_frame, so the info's
    own si_signo cannot be trusted to say it).
    """
    s = sh.require_stopped()
    h = sh.active_handler()
    if a.address is None:
        if h is None:
            raise UsageError("not in a signal handler: no signal frame here "
                             "(continue to a handler entry, or give the frame's ADDRESS)")
        if not isinstance(h.frame, SigFrame):
            # the ABI's own model (AArch64, AArch32): read again now (the handler
            # may have edited it), keeping what only the entry registers told:
            # the restorer in x30/lr and the frame record (decode/frames.py)
            from sigdbg.decode.frames import decode_frame

            task = s.tracer.task(h.tid)
            f = decode_frame(task, task.abi, h.frame.address, view=s.view(task),
                             signo=h.frame.sig, kind=a.kind, previous=h.frame)
            return dump_json(f.to_json()) if a.json else render_frame(
                f, sh.style, picture=not a.no_picture)
        a.address = h.frame.address
    signo = sh.signal_of_frame(a.address)
    if signo is None:
        return cmd.run(s, a, sh.style)
    f = s.frame_at(a.address, kind=a.kind, signo=signo)
    if a.json:
        return dump_json(f.to_json())
    return render_frame(f, sh.style, picture=not a.no_picture)


def regs(sh: Shell, a: argparse.Namespace) -> None:
    from sigdbg.decode.fparea import VectorRegisters
    from sigdbg.decode.fparea import vectors_from_fpstate as from_fpstate
    from sigdbg.decode.fparea import vectors_from_regset as from_regset

    if sh.core is not None and (sh.session is None or not sh.session.alive):
        from sigdbg.shell import corecmd

        corecmd.regs(sh, a)  # no process: the loaded core file
        return
    s = sh.require_stopped()
    abi = s.abi
    if a.fp:
        if not abi.fp_regset_name:  # (the vector view reads the ABI's FP regset)
            raise UsageError(f"regs --fp: the FP/SIMD registers of {abi.name} processes are "
                             "not shown yet (no FP regset view for this ABI)")
        vec: VectorRegisters | None = None
        h = sh.active_handler() if a.frame else None
        if a.frame:
            if h is None or not isinstance(h.frame, SigFrame) or h.frame.fpstate is None:
                raise UsageError("no signal frame with an fpstate to show")
            vec = from_fpstate(h.frame.fpstate)
        else:
            raw = s.current_task().fp_regs_raw()
            if raw is not None:
                vec = from_regset(raw, abi)
            else:
                h = sh.active_handler()
                if h is None or not isinstance(h.frame, SigFrame) or h.frame.fpstate is None:
                    raise SigdbgError(f"the kernel refused {abi.fp_regset_name} and there "
                                      "is no frame")
                vec = from_fpstate(h.frame.fpstate)
        sh.write(dump_json(vec.to_json()) if a.json else views.vectors(vec, sh.style))
        return
    if a.frame:
        h = sh.active_handler()
        if h is None:
            raise UsageError("not in a signal handler: no saved context to show")
        regs = {reg: h.frame.mcontext[mc] for mc, reg in abi.mcontext_regs
                if mc in h.frame.mcontext}
    else:
        regs = s.registers()
    if a.json:
        sh.write(dump_json(regs))
        return
    sh.write(views.registers(regs, abi.pc, abi.flags, abi.bits, sh.symbol_at(regs[abi.pc]),
                             sh.style, abi.flag_names))


def examine(sh: Shell, a: argparse.Namespace) -> None:
    s = sh.require_stopped()
    res = sh.require_resolver()
    fmt = parse_format(a.suffix or "", s.abi.word, sh.last_format)
    sh.last_format = fmt
    addr = res.evaluate(" ".join(a.address))
    task = s.current_task()
    if fmt.letter == "s":
        strings, at = [], addr
        for _ in range(fmt.count):
            data = task.read_upto(at, 4096)
            if not data:
                task.read(at, 1)  # raises the one-line read error
            text = decode_cstring(data)
            strings.append((at, text))
            at += data.find(b"\0") + 1 if b"\0" in data else len(data)
        rows = MemoryRows(addr, "s", 1, strings=tuple(strings))
        nxt = at
    elif fmt.letter == "i":
        task.read(addr, 1)
        marked = []
        pc = sh.pc_here()
        nxt = addr
        for line in sh.disassemble(addr, 16 * fmt.count, count=fmt.count):
            where, _, rest = line.partition(":")
            marked.append(("=> " if int(where, 16) == pc else "   ") + line)
            nxt = int(where, 16) + len(bytes.fromhex(rest.split()[0]))  # its end
        rows = MemoryRows(addr, "i", 0, instructions=tuple(marked))
    else:
        data = task.read(addr, fmt.count * fmt.size)
        for a_, orig in s.breakpoints.items():
            if addr <= a_ < addr + len(data):
                data = data[:a_ - addr] + orig + data[a_ - addr + 1:]
        unit = {1: "B", 2: "H", 4: "I", 8: "Q"}[fmt.size]
        values = struct.unpack(f"<{fmt.count}{unit}", data)
        syms = None
        if fmt.letter == "a":
            syms = {v: n for v in values if (n := sh.symbol_at(v)) is not None}
        rows = MemoryRows(addr, fmt.letter, fmt.size, values=values, symbols=syms)
        nxt = addr + len(data)
    sh.write(dump_json(rows.to_json()) if a.json else views.memory(rows, sh.style))
    if nxt > addr:  # gdb: an empty line examines the memory right after this
        sh.set_repeat(f"x/{a.suffix or ''} {nxt:#x}" + (" --json" if a.json else ""))


def disas(sh: Shell, a: argparse.Namespace) -> None:
    s = sh.require_stopped()
    res = sh.require_resolver()
    pc = sh.pc_here()
    where = " ".join(a.where)
    size = 0
    if not where:
        addr = s.registers()[s.abi.pc]  # (with ARM's ISA bit: a Thumb symbol's value has it)
    else:
        hit = res.symbol(where) if where.isidentifier() or "@" in where else None
        addr, size = hit if hit is not None else (res.evaluate(where), 0)
    count = a.count if a.count else (0 if size else 12)
    s.current_task().read(addr, 1)
    lines = sh.disassemble(addr, size if size and not a.count else 16 * count, count=count)
    sym = sh.symbol_at(addr)  # (a Thumb symbol's value has the ISA bit)
    addr = sh.code_at(addr)[0]
    if a.json:
        sh.write(dump_json({"address": addr, "symbol": sym, "instructions": lines}))
        return
    out = []
    if sym:
        out.append(sh.style.head(f"{addr:#x} <{safe(sym)}>:"))
    for line in lines:
        mark = "=> " if int(line.split(":")[0], 16) == pc else "   "
        out.append(mark + line)
    sh.write("\n".join(out))


def bt(sh: Shell, a: argparse.Namespace) -> None:
    from sigdbg.engine.unwind import InspectorSource, Unwinder

    core = sh.core
    if core is not None and (sh.session is None or not sh.session.alive):
        # no process: the loaded core's thread, its frames' restorers known from the walk
        try:
            restorers = frozenset(f.pretcode for f in core.signal_frames())
        except SigdbgError:
            restorers = frozenset()
        source, bits = InspectorSource(core), core.abi.bits
    else:
        s = sh.require_stopped()
        if s.abi.pc not in s.abi.dwarf_regs or s.abi.sp not in s.abi.dwarf_regs:
            # the unwinder reads .eh_frame by DWARF register numbers (none for ARM yet)
            raise UsageError(f"bt: no stack unwinding rules for {s.abi.name} processes yet")
        restorers = (frozenset({sh.handler.frame.pretcode}) if sh.handler is not None
                     else frozenset())
        source, bits = InspectorSource(s, sh.signal_of_frame, s.breakpoints), s.abi.bits
    frames = Unwinder(source).unwind(limit=a.limit, restorers=restorers)
    if a.json:
        sh.write(dump_json([views.bt_json(n, f) for n, f in enumerate(frames)]))
    else:
        sh.write(views.backtrace(frames, bits, sh.style))


def siginfo(sh: Shell, a: argparse.Namespace) -> None:
    info = sh.last_siginfo
    if sh.core is not None and (sh.session is None or not sh.session.alive):
        info = sh.core.siginfo()  # no process: the core's NT_SIGINFO
    if info is None:
        raise UsageError("no signal has been delivered yet")
    sh.write(dump_json(info.to_json()) if a.json else siginfo_text(info))


def info_breaks(sh: Shell, a: argparse.Namespace) -> None:
    if a.json:
        sh.write(dump_json([{"number": n, "address": addr, "symbol": sh.symbol_at(addr)}
                            for n, addr in sorted(sh.breakpoints.items())]))
        return
    syms = {addr: sh.symbol_at(addr) for addr in sh.breakpoints.values()}
    sh.write(views.breakpoints(sh.breakpoints, syms, sh.style))


def frame_argv(sh: Shell, argv: list[str]) -> list[str]:
    """``frame $sp+8`` -> ``frame 0x7ffc...``: evaluate the ADDRESS positional."""
    out, skip = [], False
    for w in argv:
        if skip or w.startswith("-"):
            out.append(w)
            skip = w == "--kind"
            continue
        try:
            int(w, 0)
            out.append(w)
        except ValueError:
            out.append(hex(sh.require_resolver().evaluate(w)))
    return out
