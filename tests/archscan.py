"""The token scanner behind the architecture-boundary test (issue 13).

Two word lists, one per arch family: :data:`X86` (facts that live in
``sigdbg/abi/x86/``) and :data:`ARM` (ARM and AArch64 facts, which live in
``sigdbg/abi/aarch64/`` and ``sigdbg/abi/arm/``); every function takes the
list (x86 by default) and the machinery is the same.  What follows
describes the x86 list; the ARM one is documented where it is defined.

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


@dataclass(frozen=True)
class WordList:
    """One architecture family's facts, as the scanner looks for them."""

    name: str
    #: the packages these facts live in (their modules are the only ones that may name them)
    packages: tuple[tuple[str, ...], ...]
    pattern: re.Pattern[str]
    #: regex group name -> key, for the facts spelled other than as one word
    group_keys: dict[str, str]
    #: byte sequences found in evaluated bytes literals, however they are escaped
    byte_seqs: tuple[tuple[bytes, str], ...]
    #: numbers that are facts by value, in any spelling
    number_values: dict[int, str]
    #: numbers that are facts only in hex spelling (as decimals they are common)
    number_hex: dict[int, str]
    #: whole string literals that are facts (``mc["cs"]``)
    whole_strings: frozenset[str] = frozenset()
    #: bare names that are facts (``cs``)
    whole_names: frozenset[str] = frozenset()
    #: word regex -> key, for words with a numbered family (``xmm0`` -> ``xmm``)
    prefix_keys: tuple[tuple[str, str], ...] = ()


def _words_pattern(words: tuple[str, ...], extra: str) -> re.Pattern[str]:
    return re.compile("(?i)" + "|".join(f"{_B}(?P<w{i}>{w}){_E}" for i, w in enumerate(words))
                      + extra)


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

X86 = WordList(
    name="x86",
    packages=(("sigdbg", "abi", "x86"),),
    pattern=_words_pattern(_WORDS, (
        r"|(?P<int3>\\xcc)"
        r"|(?P<syscall>\\x0f\\x05|\b0f\s?05\b)"
        r"|(?P<int80>\\xcd\\x80|\bcd\s?80\b|\bint\s*\$?0x80\b)"
        r"|(?P<sysenter>\\x0f\\x34|\b0f\s?34\b)"
        r"|(?P<red_zone>red.?zone)")),
    group_keys={"int3": "int3", "syscall": "0f05", "int80": "int80", "sysenter": "0f34",
                "red_zone": "red_zone"},
    byte_seqs=((b"\xcc", "int3"), (b"\x0f\x05", "0f05"), (b"\xcd\x80", "int80"),
               (b"\x0f\x34", "0f34")),
    number_values={0xCC: "int3", 848: "848", 312: "312", 298: "298"},
    number_hex={0x100: "0x100", 0x23: "0x23", 0x33: "0x33", 0x2B: "0x2b"},
    # segment registers: only a whole string literal (``mc["cs"]``) or the bare
    # names ``cs``/``ss`` count (``fs``/``gs`` also name file systems and more)
    whole_strings=frozenset({"cs", "ss", "ds", "es", "fs", "gs"}),
    whole_names=frozenset({"cs", "ss"}),
    prefix_keys=(("xmm", "xmm"), ("ymm", "ymm")),
)

#: the ARM/AArch64-only words, longest spellings first where one contains
#: another (``fpsimd_magic`` before ``fpsimd``).  One family: an AArch64
#: kernel runs ARM tasks through its compat layer, so the two packages may name
#: each other's facts
_ARM_WORDS = (
    # arch names (``arm`` also as a word of identifiers: ``arm_cpsr``, ``abi.ARM``)
    "aarch64", "aarch32", "arm64", "armhf", "armel", "armv[0-9a-z]*", "arm", "thumb2?",
    # extension state and its records (arch/arm64/include/uapi/asm/sigcontext.h)
    "esr_context", "sve_context", "za_context", "zt_context", "extra_context",
    "fpsimd_context", "tpidr2_context", "fpmr_context", "poe_context", "gcs_context",
    "fpsimd_magic", "esr_magic", "sve_magic", "za_magic", "zt_magic", "extra_magic",
    "tpidr2_magic", "fpmr_magic", "poe_magic", "gcs_magic", "vfp_magic", "iwmmxt_magic",
    "sve", "sme", "vfp", "iwmmxt", "neon",
    # registers that only ARM has: flags/state, the link register as x30, the
    # FP control and status, the exception syndrome, the TLS register
    "pstate", "cpsr", "spsr", "x30", "fpsimd", "fpsr", "fpcr", "fpscr", "fpexc",
    "esr", "tpidr2?", "tpidrro",
    # the regsets' note types and the ARM fixed pages
    "nt_arm_[a-z0-9_]+", "sigpage", "kuser", "vectors_page",
    # the system call and breakpoint instructions as mnemonics
    "svc",
)

ARM = WordList(
    name="arm",
    packages=(("sigdbg", "abi", "aarch64"), ("sigdbg", "abi", "arm")),
    pattern=_words_pattern(_ARM_WORDS, (
        r"|(?P<brk>\bbrk\s+#)"
        r"|(?P<bkpt>\bbkpt\b|\budf\s+#)")),
    group_keys={"brk": "brk", "bkpt": "bkpt"},
    # the instructions' little-endian bytes: AArch64 brk #0 and svc #0, ARM
    # svc #0 (EABI), Thumb svc #0, the kernel's ARM and Thumb breakpoints
    # (arch/arm/kernel/ptrace.c: 0xe7f001f0, 0xde01)
    byte_seqs=((b"\x00\x00\x20\xd4", "brk"), (b"\x01\x00\x00\xd4", "svc"),
               (b"\x00\x00\x00\xef", "svc"), (b"\x00\xdf", "svc"),
               (b"\xf0\x01\xf0\xe7", "bkpt"), (b"\x01\xde", "bkpt")),
    number_values={
        0xD4200000: "brk", 0xD4000001: "svc", 0xEF000000: "svc", 0xE7F001F0: "bkpt",
        # the records' magics (arch/arm64/include/uapi/asm/sigcontext.h,
        # arch/arm/include/asm/ucontext.h)
        0x46508001: "fpsimd_magic", 0x45535201: "esr_magic", 0x45585401: "extra_magic",
        0x53564501: "sve_magic", 0x54366345: "za_magic", 0x5A544E01: "zt_magic",
        0x54504902: "tpidr2_magic", 0x46504D52: "fpmr_magic", 0x56465001: "vfp_magic",
        0x12EF842A: "iwmmxt_magic",
    },
    number_hex={0xDF00: "svc", 0xDE01: "bkpt"},
)

WORD_LISTS = (X86, ARM)


@dataclass(frozen=True, order=True)
class Hit:
    line: int
    key: str
    token: str  #: the token's text, cut to 40 characters


def _key_of(m: re.Match[str], words: WordList) -> str:
    group = m.lastgroup or ""
    if group in words.group_keys:
        return words.group_keys[group]
    word = m.group(0).lower()
    for prefix, key in words.prefix_keys:
        if word.startswith(prefix):
            return key
    return word


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


def _string_keys(text: str, words: WordList) -> Iterator[str]:
    for m in words.pattern.finditer(text):
        yield _key_of(m, words)
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):  # an f-string: its text was matched above
        return
    if isinstance(value, bytes):
        for seq, key in words.byte_seqs:
            if seq in value:
                yield key
    elif isinstance(value, str) and value in words.whole_strings:
        yield value


def _number_key(text: str, words: WordList) -> str | None:
    try:
        value = int(text.replace("_", ""), 0)
    except ValueError:  # a float, an imaginary, a legacy octal
        return None
    if value in words.number_values:
        return words.number_values[value]
    if text.lower().startswith("0x") and value in words.number_hex:
        return words.number_hex[value]
    return None


def scan_source(src: str, words: WordList = X86) -> list[Hit]:
    """Every hit of one word list in the code of one module's source, sorted."""
    spans = _doc_spans(src)
    hits: set[Hit] = set()
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        keys: Iterable[str] = ()
        if tok.type == tokenize.NAME:
            keys = [_key_of(m, words) for m in words.pattern.finditer(tok.string)]
            if tok.string in words.whole_names:
                keys = [*keys, tok.string]
        elif tok.type == tokenize.STRING:
            if any(a <= tok.start and tok.end <= b for a, b in spans):
                continue
            keys = list(_string_keys(tok.string, words))
        elif tok.type == tokenize.NUMBER:
            key = _number_key(tok.string, words)
            keys = [key] if key else []
        for key in keys:
            hits.add(Hit(tok.start[0], key, tok.string[:40]))
    return sorted(hits)


#: the package x86 facts live in (kept for callers of the x86-only scan)
ARCH_PACKAGE = X86.packages[0]


def in_scope(rel: Path, words: WordList = X86) -> bool:
    """The modules the boundary holds for: all of sigdbg/ and plugins/ but the
    word list's own packages (sigdbg/abi/x86/; sigdbg/abi/aarch64/ and
    sigdbg/abi/arm/), the rest of sigdbg/abi/ included: the registry, the
    value types, the other arches' packages."""
    return rel.suffix == ".py" and rel.parts[0] in ("sigdbg", "plugins") \
        and rel.parts[:3] not in words.packages


def scan_tree(root: Path = ROOT, words: WordList = X86) -> dict[str, list[Hit]]:
    """Relative path -> hits of one word list, for every module in scope that has any."""
    out: dict[str, list[Hit]] = {}
    for path in sorted([*(root / "sigdbg").rglob("*.py"), *(root / "plugins").rglob("*.py")]):
        rel = path.relative_to(root)
        if not in_scope(rel, words):
            continue
        hits = scan_source(path.read_text(), words)
        if hits:
            out[rel.as_posix()] = hits
    return out


def keys_by_file(tree: dict[str, list[Hit]]) -> dict[str, frozenset[str]]:
    return {rel: frozenset(h.key for h in hits) for rel, hits in tree.items()}
