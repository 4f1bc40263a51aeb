"""sigdbg inside GDB: the file to source (``sigdbg gdb-init`` prints the line).

    (gdb) source /path/to/site-packages/sigdbg/gdb/plugin.py

GDB runs this on its own Python before the sigdbg package is importable
there, so it uses the standard library only: it loads ``locate.py`` from
this directory by path and lets it find the installation's site-packages
(pyelftools, capstone), check that they are for GDB's Python version (one
line otherwise), import sigdbg from this file's package and register the
commands (``extension.py``).  Sourcing it again changes nothing.

A ``SIGDBG_SITE`` list in the globals it runs with (the ``python
runpy.run_path(...)`` form of the gdbinit line) names the site-packages
directories explicitly.
"""


def _sigdbg_load_plugin(file: str, given: object) -> None:
    # one function, deleted below: GDB runs sourced files in __main__'s
    # namespace, shared with the user's own scripts
    import importlib.util
    import os
    import sys

    here = os.path.dirname(os.path.realpath(file))
    path = os.path.join(here, "locate.py")
    try:
        if os.path.isfile(path):
            spec = importlib.util.spec_from_file_location("_sigdbg_locate", path)
            assert spec is not None and spec.loader is not None
            locate = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(locate)
        else:  # a copy of this file elsewhere: the package must be on sys.path
            import sigdbg.gdb.locate as locate
    except Exception as exc:
        sys.stderr.write(f"sigdbg: cannot import the sigdbg package ({exc}); put its directory "
                         f"in PYTHONPATH or install it for gdb's Python ({sys.executable})\n")
        return
    sites = given if isinstance(given, list) else None
    for line in locate.load_plugin(sites):
        sys.stderr.write(line + "\n")


_sigdbg_load_plugin(__file__, globals().get("SIGDBG_SITE"))
del _sigdbg_load_plugin
