"""The x86 token scanner behind the architecture-boundary test (issue 13).

Shared by ``tests/unit/test_arch_boundary.py`` (the ratchet) and
``scripts/arch_inventory.py`` (which prints every hit with its line, the raw
material of docs/architecture.md section 5).  Nothing is imported from the
scanned modules: each file is read with :mod:`tokenize`, and :mod:`ast` tells
which string tokens are docstrings.

What counts is code: identifiers (``regs.rip``, ``_RIP_OFFSET``, ``X86_64``),
string and bytes literals (``"rsp"``, ``b"\\xcc"`` in any escape spelling,
``bytes.fromhex("0f 05")``, the text of f-strings including their
expressions) and numbers whose value is an x86 fact (``0xcc`` also written
``204``; the ``struct user`` debug-register offset ``848``).  Comments do not
count, nor do docstrings or other bare string statements (attribute
docstrings): they document, they do not decide anything.

Each hit is reduced to a *key*, one per fact, so that spellings of the same
fact agree: ``int3`` for the breakpoint instruction however written,
``0f05`` for the ``syscall`` opcode, ``int80`` for ``int $0x80``, ``0f34`` for
``sysenter``'s opcode, ``red_zone``, and register names lowercased.

Word boundaries are letters and digits only, so ``_RIP_OFFSET`` and
``mcontext_rsp`` hit while ``strip``, ``response`` and ``syntax`` do not.
Deliberately not matched: ``r8``..``r15`` (ARM has them too), bare ``128``
(the red zone's size, but also every siginfo size) and ``0x80`` (a common bit).
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_B = r"(?<![a-z0-9])"  # a word starts: not after a letter or digit (``_`` is a boundary)
_E = r"(?![a-z0-9])"   # a word ends

#: the x86-only words, longest spellings first where one contains another
_WORDS = (
    # registers: general, pc, sp, frame pointer, flags, syscall number, bases
    "orig_rax", "orig_eax", "rip", "eip", "rsp", "esp", "rbp", "ebp", "rax", "eax",
    "rbx", "ebx", "rcx", "ecx", "rdx", "edx", "rsi", "esi", "rdi", "edi",
    "eflags", "rflags", "fs_base", "gs_base",
    # i386 user_regs_struct spellings of the segment registers
    "xds", "xes", "xfs", "xgs", "xcs", "xss",
    # instructions and their mechanisms
    "int3", "sysenter", "lcall", "debugreg", "dr[0-7]",
    # arch and extended-state names
    "x86_64", "x86", "i386", "ia32", "amd64", "xmm[0-9]*", "ymm[0-9]*", "mxcsr", "fxsave",
    "xsave", "xstate", "xcr0", "cpuid", "vsyscall",
    # the x86 frame kinds
    "rt_sigframe_ia32", "sigframe_ia32", "rt_sigframe",
)
_PATTERN = re.compile(
    "(?i)"
    + "|".join(f"{_B}(?P<w{i}>{w}){_E}" for i, w in enumerate(_WORDS))
    + r"|(?P<int3>\\xcc)"
    + r"|(?P<syscall>\\x0f\\x05|\b0f\s?05\b)"
    + r"|(?P<int80>\\xcd\\x80|\bcd\s?80\b|\bint\s*\$?0x80\b)"
    + r"|(?P<sysenter>\\x0f\\x34|\b0f\s?34\b)"
    + r"|(?P<red_zone>red.?zone)"
)
_GROUP_KEYS = {"int3": "int3", "syscall": "0f05", "int80": "int80", "sysenter": "0f34",
               "red_zone": "red_zone"}

#: byte sequences found in evaluated bytes literals, however they are escaped
_BYTES = ((b"\xcc", "int3"), (b"\x0f\x05", "0f05"), (b"\xcd\x80", "int80"),
          (b"\x0f\x34", "0f34"))

#: numbers that are x86 facts by value, wherever they occur outside abi/
_NUMBER_VALUES = {0xCC: "int3", 848: "848", 312: "312", 298: "298"}
#: numbers that are x86 facts only in hex spelling (as decimals they are common)
_NUMBER_HEX = {0x100: "0x100", 0x23: "0x23", 0x33: "0x33", 0x2B: "0x2b"}

#: segment registers: only a whole string literal (``mc["cs"]``) or the bare
#: names ``cs``/``ss`` count (``fs``/``gs`` also name file systems and more)
_SEGMENT_STRINGS = frozenset({"cs", "ss", "ds", "es", "fs", "gs"})
_SEGMENT_NAMES = frozenset({"cs", "ss"})


@dataclass(frozen=True, order=True)
class Hit:
    line: int
    key: str
    token: str  #: the token's text, cut to 40 characters


def _key_of(m: re.Match[str]) -> str:
    group = m.lastgroup or ""
    if group in _GROUP_KEYS:
        return _GROUP_KEYS[group]
    word = m.group(0).lower()
    return "xmm" if word.startswith("xmm") else "ymm" if word.startswith("ymm") else word


def _doc_spans(src: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """(start, end) of every bare string statement, in tokenize's (row, char col)."""
    lines = src.splitlines(keepends=True)

    def char_col(row: int, byte_col: int) -> int:
        return len(lines[row - 1].encode()[:byte_col].decode(errors="replace"))

    spans = []
    for n in ast.walk(ast.parse(src)):
        if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant) \
                and isinstance(n.value.value, str):
            end_row = n.end_lineno or n.lineno
            spans.append(((n.lineno, char_col(n.lineno, n.col_offset)),
                          (end_row, char_col(end_row, n.end_col_offset or 0))))
    return spans


def _string_keys(text: str) -> Iterator[str]:
    for m in _PATTERN.finditer(text):
        yield _key_of(m)
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):  # an f-string: its text was matched above
        return
    if isinstance(value, bytes):
        for seq, key in _BYTES:
            if seq in value:
                yield key
    elif isinstance(value, str) and value in _SEGMENT_STRINGS:
        yield value


def _number_key(text: str) -> str | None:
    try:
        value = int(text.replace("_", ""), 0)
    except ValueError:  # a float, an imaginary, a legacy octal
        return None
    if value in _NUMBER_VALUES:
        return _NUMBER_VALUES[value]
    if text.lower().startswith("0x") and value in _NUMBER_HEX:
        return _NUMBER_HEX[value]
    return None


def scan_source(src: str) -> list[Hit]:
    """Every x86 hit in the code of one module's source, sorted."""
    spans = _doc_spans(src)
    hits: set[Hit] = set()
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        keys: Iterable[str] = ()
        if tok.type == tokenize.NAME:
            keys = [_key_of(m) for m in _PATTERN.finditer(tok.string)]
            if tok.string in _SEGMENT_NAMES:
                keys = [*keys, tok.string]
        elif tok.type == tokenize.STRING:
            if any(a <= tok.start and tok.end <= b for a, b in spans):
                continue
            keys = list(_string_keys(tok.string))
        elif tok.type == tokenize.NUMBER:
            key = _number_key(tok.string)
            keys = [key] if key else []
        for key in keys:
            hits.add(Hit(tok.start[0], key, tok.string[:40]))
    return sorted(hits)


#: the package x86 facts live in (its modules are the only ones that may name them)
ARCH_PACKAGE = ("sigdbg", "abi", "x86")


def in_scope(rel: Path) -> bool:
    """The modules the boundary holds for: all of sigdbg/ and plugins/ but the
    x86 package sigdbg/abi/x86/ (the rest of sigdbg/abi/ included: the
    registry, the value types, the other arches' packages)."""
    return rel.suffix == ".py" and rel.parts[0] in ("sigdbg", "plugins") \
        and rel.parts[:3] != ARCH_PACKAGE


def scan_tree(root: Path = ROOT) -> dict[str, list[Hit]]:
    """Relative path -> hits, for every module in scope that has any."""
    out: dict[str, list[Hit]] = {}
    for path in sorted([*(root / "sigdbg").rglob("*.py"), *(root / "plugins").rglob("*.py")]):
        rel = path.relative_to(root)
        if not in_scope(rel):
            continue
        hits = scan_source(path.read_text())
        if hits:
            out[rel.as_posix()] = hits
    return out


def keys_by_file(tree: dict[str, list[Hit]]) -> dict[str, frozenset[str]]:
    return {rel: frozenset(h.key for h in hits) for rel, hits in tree.items()}
