"""Compatibility shim: ``source plugins/gdb/sigdbg.py`` loads the extension
that ships inside the package, ``sigdbg/gdb/plugin.py`` (``sigdbg gdb-init``
prints the line to use instead).

Next to a checkout it runs ``../../sigdbg/gdb/plugin.py``; a copy elsewhere
runs the plugin of whatever sigdbg GDB's Python can import.
"""


def _sigdbg_shim(file: str) -> None:
    import os
    import runpy
    import sys

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(file))))
    plugin = os.path.join(root, "sigdbg", "gdb", "plugin.py")
    if not os.path.isfile(plugin):
        try:
            import sigdbg.gdb.locate
        except ImportError as exc:
            sys.stderr.write(f"sigdbg: cannot import the sigdbg package ({exc}); put its "
                             f"directory in PYTHONPATH or install it for gdb's Python "
                             f"({sys.executable})\n")
            return
        plugin = sigdbg.gdb.locate.plugin_path()
    runpy.run_path(plugin)


_sigdbg_shim(__file__)
del _sigdbg_shim
