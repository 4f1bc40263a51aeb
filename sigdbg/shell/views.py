"""Text for the shell-only results the core renderers do not cover.

Model data the core knows (auxv, maps, vDSO, frames, siginfo, events) goes
through :mod:`sigdbg.render.text` / :mod:`sigdbg.render.events`; this module
formats what only the shell produces: register dumps, memory rows, the
backtrace, the signal table, breakpoints, the stop location.  (Candidates for
``sigdbg.render.text`` once a second front end needs them.)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sigdbg.decode.fparea import VectorRegisters
from sigdbg.engine.session import SignalPolicy
from sigdbg.engine.unwind import StackFrame
from sigdbg.names import signal_description, signal_name
from sigdbg.render.text import PLAIN, Style
from sigdbg.shell.expr import MemoryRows
from sigdbg.textsafe import safe


def location(line: str, symbol: str | None, st: Style = PLAIN) -> str:
    """``=> 0x401000: 4889e7   movq %rsp, %rdi   <main+4>`` (line from Inspector.disassemble)."""
    sym = f"   <{safe(symbol)}>" if symbol else ""
    return f"=> {line}{st.dim(sym)}"


def _no_names(value: int) -> tuple[str, ...]:
    return ()


def registers(regs: dict[str, int], pc_name: str, flags_name: str, width: int,
              symbol: str | None = None, st: Style = PLAIN,
              flag_names: Callable[[int], tuple[str, ...]] = _no_names) -> str:
    """One register a line; the flags register (``Abi.flags``) with the names
    of its set bits (``Abi.flag_names``)."""
    out = []
    digits = width // 4
    for name, value in regs.items():
        extra = ""
        if name == pc_name and symbol:
            extra = f"<{safe(symbol)}>"
        elif name == flags_name:
            extra = "[ " + " ".join(flag_names(value)) + " ]"
        signed = value - (1 << width) if value >> (width - 1) else value
        out.append(f"{st.name(f'{name:<9}')} {st.addr(f'{value:#0{digits + 2}x}')}  "
                   f"{signed:<20} {extra}".rstrip())
    return "\n".join(out)


def vectors(v: VectorRegisters, st: Style = PLAIN) -> str:
    """``regs --fp``: the FP/vector registers as their decoder's view lists
    them (sigdbg/abi/fpview.py), every register of every group."""
    view = v.fp_view()
    out = [st.head(f"vector registers from {v.source}") + view.words_text()]
    for g in view.groups:
        for n, value in enumerate(g.values):
            out.append(f"  {st.name(f'{g.label(n):<{len(g.name) + 3}}')} {g.text(value)}")
    return "\n".join(out)


def memory(rows: MemoryRows, st: Style = PLAIN) -> str:
    if rows.letter == "s":
        return "\n".join(f"{st.addr(f'{a:#x}')}: \"{s}\"" for a, s in rows.strings)
    if rows.letter == "i":
        return "\n".join(rows.instructions)
    per_row = {1: 8, 2: 8, 4: 4, 8: 2}[rows.size]
    bits = rows.size * 8
    out = []
    for i in range(0, len(rows.values), per_row):
        cells = []
        for v in rows.values[i:i + per_row]:
            cells.append(_unit(v, rows.letter, rows.size, bits, rows.symbols))
        out.append(f"{st.addr(f'{rows.address + i * rows.size:#x}')}:  " + "  ".join(cells))
    return "\n".join(out)


def _unit(v: int, letter: str, size: int, bits: int, symbols: dict[int, str] | None) -> str:
    if letter == "x":
        return f"0x{v:0{size * 2}x}"
    if letter == "d":
        return str(v - (1 << bits) if v >> (bits - 1) else v)
    if letter == "u":
        return str(v)
    if letter == "o":
        return f"0{v:o}" if v else "0"
    if letter == "t":
        return f"{v:0{bits}b}"
    if letter == "c":
        ch = chr(v) if 0x20 <= v < 0x7F else safe(chr(v)) if v < 0x80 else f"\\x{v:02x}"
        return f"{v:<3} '{ch}'"
    if letter == "a":
        sym = (symbols or {}).get(v)
        return f"{v:#x}" + (f" <{safe(sym)}>" if sym else "")
    return f"{v:#x}"


def bt_json(level: int, f: StackFrame) -> dict[str, object]:
    """A ``bt --json`` row: the engine's frame with gdb's level and kind."""
    return {"level": level, "kind": "sigframe" if f.how == "sigframe" else "frame",
            **f.to_json()}


def backtrace(frames: Sequence[StackFrame], bits: int = 64, st: Style = PLAIN) -> str:
    out = []
    width = bits // 4 + 2
    for level, f in enumerate(frames):
        if f.how == "sigframe":
            sig = f" ({signal_name(f.signal)})" if f.signal else ""
            out.append(f"#{level:<3} {st.warn('<signal handler called>')}{sig}  "
                       f"frame at {st.addr(hex(f.sigframe or 0))}")
            continue
        sym = f" in {st.name(safe(f.symbol))}" if f.symbol else ""
        out.append(f"#{level:<3} {st.addr(f'{f.pc:#0{width}x}')}{sym}")
    return "\n".join(out)


def signal_table(policy: SignalPolicy, signals: list[int], st: Style = PLAIN) -> str:
    out = [st.head(f"{'Signal':<12} {'Stop':<5} {'Print':<6} {'Pass':<5} Description")]
    for n in signals:
        yn = ("Yes" if policy.stops(n) else "No", "Yes" if policy.prints(n) else "No",
              "Yes" if policy.passes(n) else "No")
        out.append(f"{signal_name(n):<12} {yn[0]:<5} {yn[1]:<6} {yn[2]:<5} "
                   f"{signal_description(n)}")
    return "\n".join(out)


def signal_rows(policy: SignalPolicy, signals: list[int]) -> list[dict[str, object]]:
    return [{"signal": signal_name(n), "number": n, "stop": policy.stops(n),
             "print": policy.prints(n), "pass": policy.passes(n),
             "description": signal_description(n)} for n in signals]


def breakpoints(table: dict[int, int], symbols: dict[int, str | None],
                st: Style = PLAIN) -> str:
    if not table:
        return "no breakpoints"
    out = [st.head(f"{'Num':<5} {'Address':<18} What")]
    for num, addr in sorted(table.items()):
        sym = symbols.get(addr)
        out.append(f"{num:<5} {st.addr(f'{addr:#018x}')} {safe(sym) if sym else ''}".rstrip())
    return "\n".join(out)
