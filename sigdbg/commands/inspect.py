"""The inspect commands (auxv, maps, vdso, one per fixed page of the registered
ABIs -- ``Abi.fixed_pages`` --, frame): shared by the CLI, the shell and the GDB
extension.

Each command declares its arguments once (argparse) and produces its output
through the same renderers; front ends only decide where the text goes.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from sigdbg.commands.parser import (
    Command,
    OutputError,
    add_frame_kind_arg,
    add_picture_arg,
    dump_json,
    parse_int,
)
from sigdbg.decode.vdso import fixed_pages
from sigdbg.engine.inspect import Inspector
from sigdbg.errors import SigdbgError, UsageError
from sigdbg.render import text as rt


# -- the commands ---------------------------------------------------------------------
def _auxv(ctx: Inspector, a: argparse.Namespace, st: rt.Style) -> str:
    r = ctx.auxv()
    return dump_json(r.to_json()) if a.json else rt.render_auxv(r, st)


def _maps(ctx: Inspector, a: argparse.Namespace, st: rt.Style) -> str:
    m = ctx.maps()
    pages = ctx.special_pages()
    if a.json:
        out: dict[str, Any] = {"mappings": [x.to_json() for x in m.mappings]}
        if pages:  # ARM: [vectors], [sigpage] decoded (x86 has none: its JSON is unchanged)
            out["pages"] = [p.to_json() for p in pages]
        return dump_json(out)
    text = rt.render_maps(m, st)
    if pages:
        text += "\n\n" + rt.render_special_pages(pages, st)
    return text


def _vdso_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dump", metavar="FILE", help="write the vDSO image to FILE")
    p.add_argument("--disas", metavar="SYMBOL", help="disassemble one vDSO symbol")


def _vdso(ctx: Inspector, a: argparse.Namespace, st: rt.Style) -> str:
    parts = []
    if a.dump:
        data = ctx.vdso_image().data
        try:
            with open(a.dump, "wb") as fh:
                fh.write(data)
        except OSError as exc:
            raise OutputError.of(a.dump, exc) from None
    if a.disas:
        lines = ctx.disassemble_symbol(a.disas)
        if a.json:
            return dump_json({"symbol": a.disas, "instructions": lines})
        return f"{a.disas}:\n" + "\n".join("  " + line for line in lines)
    r = ctx.vdso_report()
    if a.json:
        return dump_json(r.to_json())
    parts.append(rt.render_vdso(r, st))
    if a.dump:
        parts.append(f"wrote {len(ctx.vdso_image().data)} bytes to {a.dump}")
    return "\n".join(parts)


def _fixed_page(name: str) -> Callable[[Inspector, argparse.Namespace, rt.Style], str]:
    """The command of the fixed page called ``name``."""
    def run(ctx: Inspector, a: argparse.Namespace, st: rt.Style) -> str:
        r = ctx.fixed_page_report(name)
        return dump_json(r.to_json()) if a.json else rt.render_fixed_page(r, st)
    return run


def _frame_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("address", nargs="?", type=parse_int,
                   help="frame address (default: the frame of the handler we are stopped in)")
    add_frame_kind_arg(p)
    add_picture_arg(p)


def _frame(ctx: Inspector, a: argparse.Namespace, st: rt.Style) -> str:
    f = ctx.frame_at(a.address, kind=a.kind)
    if a.json:
        return dump_json(f.to_json())
    return rt.render_frame(f, st, picture=not a.no_picture)


def _none(p: argparse.ArgumentParser) -> None:
    return None


INSPECT_COMMANDS: tuple[Command, ...] = (
    Command("auxv", "the auxiliary vector, from the initial stack, checked against /proc",
            _none, _auxv),
    Command("maps", "the memory map with the kernel's special mappings explained", _none, _maps),
    Command("vdso", "the vDSO read from target memory: symbols, versions, disassembly",
            _vdso_args, _vdso),
    *(Command(p.name, p.help, _none, _fixed_page(p.name)) for p in fixed_pages()),
    Command("frame", "decode the signal frame at the stack pointer (or ADDRESS)",
            _frame_args, _frame, aliases=("sigframe",)),
)


def find_command(name: str) -> Command:
    for c in INSPECT_COMMANDS:
        if name == c.name or name in c.aliases:
            return c
    raise UsageError(f"unknown command {name!r}")


def run_command(ctx: Inspector, name: str, argv: list[str], st: rt.Style) -> str:
    cmd = find_command(name)
    args = cmd.parser().parse_args(argv)
    try:
        return cmd.run(ctx, args, st)
    except SigdbgError:
        raise


__all__ = ["INSPECT_COMMANDS", "find_command", "run_command"]
