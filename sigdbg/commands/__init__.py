"""The command layer every front end shares (rank 6, docs/architecture.md).

Commands declare their arguments once, with argparse, and produce their
output through the renderers; the CLI (``sigdbg.cli``), the shell
(``sigdbg.shell``) and the GDB extension (``sigdbg.gdb``) only decide where
the text goes.  Nothing here knows which front end runs it.
"""
