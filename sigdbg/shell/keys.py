"""Key bindings, as loader functions returning ``KeyBindings`` (ptpython's
``key_bindings.py`` shape).

F5 continue, F10 nexti, F11 stepi (the IDE keys), Alt-S step-sigreturn:
each replaces the line with the command and accepts it, so it lands in the
history like typed input.  Everything else is prompt_toolkit's Emacs mode
(Tab completes, Ctrl-R searches the history, Ctrl-D on an empty line quits).
"""

from __future__ import annotations

from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent

#: key -> command line it runs
RUN_KEYS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("f5",), "continue"),
    (("f10",), "nexti"),
    (("f11",), "stepi"),
    (("escape", "s"), "step-sigreturn"),
)


def load_run_bindings() -> KeyBindings:
    kb = KeyBindings()
    for keys, line in RUN_KEYS:
        def run(event: KeyPressEvent, line: str = line) -> None:
            buf = event.current_buffer
            buf.text = line
            buf.validate_and_handle()

        kb.add(*keys)(run)
    return kb
