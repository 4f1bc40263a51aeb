"""The one sanitiser: what a target or user controls, made inert for a terminal."""

from __future__ import annotations

import os

from sigdbg.textsafe import safe, safe_error


def test_controls_and_invalid_bytes_are_escaped() -> None:
    raw = b"a\x1b[31m\x07\x08\r\n\t\x7f\xc2\x9b2J\xff\xfe/\xe2\x80\xaeevil"
    text = os.fsdecode(raw)  # how paths reach sigdbg: surrogateescape
    assert safe(text) == "a\\x1b[31m\\x07\\x08\\r\\n\\t\\x7f\\u009b2J\\xff\\xfe/\\u202eevil"
    out = safe(text).encode("utf-8")  # strict: nothing left that is not UTF-8
    assert not any(b < 0x20 or b == 0x7F for b in out)


def test_printable_text_is_untouched() -> None:
    for s in ("/usr/lib/x86_64-linux-gnu/libc.so.6", "café", "日本語", "[vdso]", ""):
        assert safe(s) is s or safe(s) == s


def test_error_lines_are_one_line() -> None:
    assert safe_error("cannot open\n/tmp/x\x1b]0;t\x07") == "cannot open /tmp/x\\x1b]0;t\\x07"
