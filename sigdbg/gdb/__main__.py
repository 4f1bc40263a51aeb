"""``python -m sigdbg.gdb``: print the line that loads the extension, for ~/.gdbinit.

    python -m sigdbg.gdb >> ~/.gdbinit
"""

from __future__ import annotations

import sys

from sigdbg.gdb.locate import gdbinit_line


def main() -> int:
    if any(a in ("-h", "--help") for a in sys.argv[1:]):
        sys.stdout.write(__doc__.lstrip())
        return 0
    if sys.argv[1:]:
        sys.stderr.write(f"python -m sigdbg.gdb: takes no arguments (got {sys.argv[1]!r})\n")
        return 2
    sys.stdout.write(gdbinit_line() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
