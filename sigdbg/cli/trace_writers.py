"""The writers of ``sigdbg trace``: one event in, its JSON line or text out.

Chosen once before the loop (``trace_cli._writer``), each does only the work
its options ask for.  The JSON Lines writer owns its encoding tricks (orjson
bytes straight to the binary buffer, the repeating parts of an event spliced
in as fragments, ASCII ``json`` for strings that are not UTF-8); both writers
carry the encoders the C trace loop takes its templates from (``pair`` for a
delivery and its handler entry, ``passed`` for a delivery passed on,
``walk`` for a sigreturn walk's events), each writing exactly what the
writer itself writes for those events.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any

from sigdbg.render.text import Style

if TYPE_CHECKING:
    from sigdbg.cli.trace_extras import Clock, Stacks
    from sigdbg.engine.events import Event

SCHEMA_VERSION = 1

# -- JSON ---------------------------------------------------------------------------------------
Extra = Callable[["Event", dict[str, Any]], None]


def json_writer(out: IO[str], extra: Extra | None = None) -> Callable[[Event], object]:
    """Write one JSON line per event: orjson bytes straight to the binary
    buffer when there is one (no str round trip), else json text.

    With orjson the event's parts that repeat from signal to signal (siginfo,
    FP state, restorer) are serialized once and spliced in as fragments.
    ``extra`` adds keys (timestamps, stack) to the event's dict; without it
    the writer does nothing more than the event's own JSON.
    """
    def plain(e: Event) -> dict[str, Any]:
        d = e.json_view()  # consumed at once by the encoder
        d["schema"] = SCHEMA_VERSION
        if extra is not None:
            d = dict(d)
            extra(e, d)
        return d

    def escaped(e: Event) -> str:
        # ASCII JSON: a string holding bytes that are not UTF-8 (a path, held
        # surrogateescape'd) keeps them as "\udcNN" escapes, which orjson
        # refuses to write; docs/trace.md says how to get the bytes back
        return json.dumps(plain(e), separators=(",", ":")) + "\n"

    try:
        import orjson
    except ImportError:
        return lambda e: out.write(escaped(e))
    dumps = orjson.dumps
    opt = orjson.OPT_APPEND_NEWLINE
    binary = getattr(out, "buffer", None)
    if binary is None:  # e.g. a StringIO standing in for stdout
        def write_text(e: Event) -> object:
            try:
                return out.write(dumps(plain(e), option=opt).decode())
            except orjson.JSONEncodeError:
                return out.write(escaped(e))

        return write_text
    out.flush()
    bwrite = binary.write
    fragment = getattr(orjson, "Fragment", None)  # orjson >= 3.10

    if fragment is None:
        def write_plain(e: Event) -> object:
            try:
                return bwrite(dumps(plain(e), option=opt))
            except orjson.JSONEncodeError:
                return bwrite(escaped(e).encode("ascii"))

        return write_plain

    def encode(value: Any) -> Any:
        return fragment(dumps(value))

    def line_of(e: Event) -> bytes:
        try:
            d = e.json_wire(encode)
            d["schema"] = SCHEMA_VERSION
            line: bytes = dumps(d, option=opt)
        except orjson.JSONEncodeError:  # rare: a string that is not UTF-8
            line = escaped(e).encode("ascii")
        return line

    rendered = _rendered_class()

    def write(e: Event) -> object:
        if e.__class__ is rendered:  # deliveries the C loop wrote with pair()
            return bwrite(e.data)  # type: ignore[attr-defined]
        return bwrite(line_of(e))

    if extra is None:
        def pair(d: Event, h: Event) -> bytes:
            return line_of(d) + line_of(h)

        def walk(events: list[Event]) -> bytes:
            # what write() writes for a sigreturn walk's events, in order
            return b"".join(line_of(e) for e in events)

        write.pair = pair  # type: ignore[attr-defined]
        write.passed = line_of  # type: ignore[attr-defined]
        write.walk = walk  # type: ignore[attr-defined]
        return write

    def write_extra(e: Event) -> object:
        try:
            d = e.json_wire(encode)
            d["schema"] = SCHEMA_VERSION
            extra(e, d)
            line = dumps(d, option=opt)
        except orjson.JSONEncodeError:  # rare: a string that is not UTF-8
            line = escaped(e).encode("ascii")
        return bwrite(line)

    return write_extra


def _rendered_class() -> type:
    from sigdbg.engine.events import Rendered

    return Rendered


# -- text ---------------------------------------------------------------------------------------
def text_writer(out: IO[str], st: Style, *, verbose: bool, quiet_exits: bool,
                clock: Clock | None, stacks: Stacks | None) -> Callable[[Event], object]:
    """strace's lines: one per delivery and its handler entry (the whole
    frame with ``verbose``), ``clock``'s timestamp in front, ``stacks``'
    stack after; no exit lines with ``quiet_exits`` (-qq)."""
    from sigdbg.engine import events as ev
    from sigdbg.render.events import render_compact, render_event, render_stack

    w = out.write
    pending: dict[int, ev.SignalDelivered] = {}

    rendered = ev.Rendered

    def text(e: Event) -> object:
        if e.__class__ is rendered:  # deliveries the C loop wrote with pair()
            return w(e.data.decode("utf-8", "surrogateescape"))
        if e.__class__ is ev.SigreturnChecked and not verbose \
                and not e.verdict.alert:
            return None  # an honest sigreturn: only -v shows it
        if verbose:
            line = render_event(e, st, frames=True)
        elif e.__class__ is ev.SignalDelivered and e.disposition == "handler":
            pending[e.tid] = e
            return None  # one line with its handler entry, which comes next
        else:
            line = render_compact(e, pending.pop(e.tid, None)
                                  if e.__class__ is ev.HandlerEntered else None, st)
        if quiet_exits and isinstance(e, (ev.Exited, ev.Killed)):
            return None
        if clock is not None:
            line = clock.text(*clock.now()) + " " + line
        if stacks is not None:
            frames = stacks.of(e)
            if frames is not None:
                line += "\n" + render_stack(frames, st)
        w(line)
        return w("\n")

    if not verbose and clock is None and stacks is None:
        def pair(d: Event, h: Event) -> bytes:
            # what text() writes for a delivery and its handler's entry
            line = render_compact(h, d, st)  # type: ignore[arg-type]
            return (line + "\n").encode("utf-8", "surrogateescape")

        def passed(d: Event) -> bytes:
            # what text() writes for a delivery passed on (--no-frame)
            return (render_compact(d, None, st) + "\n").encode("utf-8", "surrogateescape")

        walk_kinds = (ev.SigreturnStep, ev.SigreturnEntered, ev.ContextRestored,
                      ev.SigreturnAbandoned)

        def walk(events: list[Event]) -> bytes | None:
            # what text() writes for a sigreturn walk's events (each one
            # line of its own; None when one is of another kind)
            if any(e.__class__ not in walk_kinds for e in events):
                return None
            return "".join(render_compact(e, None, st) + "\n"
                           for e in events).encode("utf-8", "surrogateescape")

        text.pair = pair  # type: ignore[attr-defined]
        text.passed = passed  # type: ignore[attr-defined]
        text.walk = walk  # type: ignore[attr-defined]
    return text
