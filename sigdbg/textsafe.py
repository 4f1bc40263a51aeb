"""The one sanitiser for text that reaches a terminal.

Every string a target or a user controls (program and mapping paths, argv,
symbol names, ``-o`` paths, the paths inside error messages) goes through
:func:`safe` before sigdbg prints it as text, so no byte of it can drive the
terminal (CSI/OSC sequences, BEL, backspace, a carriage return that overwrites
the line) and the line stays one line.

Paths come from the kernel as bytes; sigdbg holds them as ``str`` decoded with
``surrogateescape`` (PEP 383), as ``os.readlink`` and ``os.fsdecode`` do: a
byte that is not part of valid UTF-8 becomes the lone surrogate
U+DC80 + byte.  :func:`safe` shows such a byte as ``\\xNN``.  The JSON form
keeps the surrogate (a ``\\udcNN`` escape, see docs/trace.md), which is
lossless.

No imports: the GDB extension and every front end use it.
"""

from __future__ import annotations

import re

# C0 controls, DEL, C1 controls, the line/paragraph separators, the bidi
# embedding/override/isolate controls (they reorder what follows on screen),
# and every surrogate (only ever a surrogateescape'd byte, or garbage)
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _escape(m: re.Match[str]) -> str:
    ch = m.group()
    named = _NAMED.get(ch)
    if named is not None:
        return named
    code = ord(ch)
    if code < 0x80:
        return f"\\x{code:02x}"
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not valid UTF-8
        return f"\\x{code - 0xDC00:02x}"
    return f"\\u{code:04x}"


def safe(text: str) -> str:
    """``text`` with every control character, invalid byte and line break
    escaped: printable, on one line, inert in a terminal."""
    if _UNSAFE.search(text) is None:  # the common case: nothing to do
        return text
    return _UNSAFE.sub(_escape, text)


def safe_error(message: object) -> str:
    """An error message as one safe line (for stderr and the shell)."""
    return safe(" ".join(str(message).split("\n")).strip())


__all__ = ["safe", "safe_error"]
