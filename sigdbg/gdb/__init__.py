"""sigdbg's GDB extension, shipped inside the package.

- ``plugin.py``: the file GDB sources (``sigdbg gdb-init`` or ``python -m
  sigdbg.gdb`` print the ``~/.gdbinit`` line); standard library only;
- ``locate.py``: finds the installation's site-packages for GDB's Python;
- ``extension.py``: the ``sigdbg`` commands inside GDB (imports :mod:`gdb`);
- ``inspector.py``, ``runner.py``: the engine's inspector, sigreturn walk
  and ``catch`` over the GDB backend (``sigdbg/backends/gdb/``);
- ``launch.py``: ``sigdbg gdb [GDB OPTIONS] -- PROG ARGS`` (GDB with the
  extension loaded).

Only ``extension.py``, ``inspector.py``, ``runner.py`` (and the backend,
``sigdbg.backends.gdb``) import :mod:`gdb`: this package imports on any Python.
"""
