#!/usr/bin/env python3
"""List the x86-specific names and opcodes in code outside ``sigdbg/abi/x86/``.

The raw material of the inventory in docs/architecture.md (section 5).  The
scanner is ``tests/archscan.py``, the same one the architecture-boundary test
(``tests/unit/test_arch_boundary.py``) holds the code to; this script only
prints what it finds: every hit with its line (default), hits per module
(``--summary``), or the module -> keys table in the form of the test's
``KNOWN_X86_DEBT`` (``--debt``).  The scan is a floor, not the truth: it
misses knowledge that has no x86 token (the one-byte int3 in shell/core.py
``read_code``, the stack adjustment of the i386 non-rt restorer in
shell/unwind.py); the document's list is this output plus a reading of the code.

    .venv/bin/python scripts/arch_inventory.py [--arm] [--summary | --debt]

``--arm`` scans for the ARM/AArch64 words instead (outside sigdbg/abi/aarch64/
and sigdbg/abi/arm/; the test's ``KNOWN_ARM_DEBT``).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.archscan import ARM, X86, keys_by_file, scan_tree  # noqa: E402


def main(argv: list[str]) -> int:
    words = ARM if "--arm" in argv else X86
    tree = scan_tree(ROOT, words)
    if "--debt" in argv:
        for rel, keys in keys_by_file(tree).items():
            print(f"    {rel!r}: {{{', '.join(repr(k) for k in sorted(keys))}}},")
    elif "--summary" in argv:
        for rel, hits in tree.items():
            n_lines, n_keys = len({h.line for h in hits}), len({h.key for h in hits})
            print(f"{n_lines:4d} lines {n_keys:3d} keys  {rel}")
    else:
        for rel, hits in tree.items():
            lines = (ROOT / rel).read_text().splitlines()
            by_line: dict[int, list[str]] = {}
            for h in hits:
                by_line.setdefault(h.line, []).append(h.key)
            for n, keys in sorted(by_line.items()):
                print(f"{rel}:{n}: {' '.join(sorted(set(keys)))}  | {lines[n - 1].strip()[:100]}")
    home = " and ".join("/".join(p) + "/" for p in words.packages)
    print(f"{len(tree)} modules outside {home}, "
          f"{sum(len(k) for k in keys_by_file(tree).values())} (module, key) pairs",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
