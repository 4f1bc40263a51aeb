#!/usr/bin/env python3
"""List the x86-specific names and opcodes in code outside ``sigdbg/abi/``.

The raw material of the inventory in docs/architecture.md (section 5), and the
starting point of the architecture-boundary test issue 13 asks for.  Tokens of
code only: comments and docstrings are skipped, names and string literals are
matched against x86 register names, opcodes, frame kinds and x86 constants.
It is a starting point, not the truth: it flags some non-x86 uses (a note type
0x100 in elfimage.py) and misses knowledge that has no x86 token (the one-byte
int3 in shell/core.py ``read_code``, the stack adjustment of the i386 non-rt
restorer in shell/unwind.py).  The document's list is this output plus a
reading of the code.

    .venv/bin/python scripts/arch_inventory.py [--summary]
"""

from __future__ import annotations

import ast
import io
import re
import sys
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_X86 = re.compile(
    r"""(?ix)
    \b(rip|eip|rsp|esp|rbp|ebp|rax|eax|orig_rax|orig_eax|eflags|rflags|fs_base|gs_base
       |rdi|rsi|rdx|rcx|rbx|edi|esi|edx|ecx|ebx|r(?:8|9|1[0-5])|xds|xes|xfs|xgs|xcs|xss)\b
    |int3|\\xcc|0f05|cd80|0f34|\\x0f\\x05|\\xcd\\x80|sysenter|red.?zone|debugreg|\bdr[0-7]\b
    |x86|i386|ia32|amd64|xmm|ymm|mxcsr|xsave|fxsave|xstate|xcr0|cpuid|vsyscall|\blcall\b
    |rt_sigframe|sigframe_ia32
    """)
#: numbers that are x86 facts where they occur in this code base
_NUMBERS = frozenset({"312", "848", "298", "0x100", "0xcc", "0xCC", "0x23", "0x33"})


def _docstring_lines(tree: ast.Module) -> set[int]:
    lines: set[int] = set()
    for n in ast.walk(tree):
        if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = n.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                lines.update(range(body[0].lineno, (body[0].end_lineno or body[0].lineno) + 1))
    return lines


def scan(path: Path) -> dict[int, list[str]]:
    """Line -> the matching tokens of code on it."""
    src = path.read_text()
    skip = _docstring_lines(ast.parse(src))
    hits: dict[int, list[str]] = {}
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        line = tok.start[0]
        if line in skip:
            continue
        if tok.type in (tokenize.NAME, tokenize.STRING) and _X86.search(tok.string):
            hits.setdefault(line, []).append(tok.string[:40])
        elif tok.type == tokenize.NUMBER and tok.string in _NUMBERS:
            hits.setdefault(line, []).append(tok.string)
    return hits


def main(argv: list[str]) -> int:
    files = sorted([*(ROOT / "sigdbg").rglob("*.py"), *(ROOT / "plugins").rglob("*.py")])
    total = 0
    for path in files:
        rel = path.relative_to(ROOT)
        if rel.parts[:2] == ("sigdbg", "abi"):
            continue
        hits = scan(path)
        if not hits:
            continue
        total += 1
        if "--summary" in argv:
            print(f"{len(hits):4d}  {rel}")
            continue
        lines = path.read_text().splitlines()
        for n in sorted(hits):
            print(f"{rel}:{n}: {' '.join(hits[n])}  | {lines[n - 1].strip()[:100]}")
    print(f"{total} modules outside sigdbg/abi/", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
