"""Where a sigdbg installation keeps its packages, for GDB's embedded Python.

GDB runs its own Python (usually the system's ``/usr/bin/python3``), whose
``sys.path`` knows nothing of the virtual environment sigdbg was installed
into.  The extension needs that environment's site-packages for sigdbg's
optional dependencies (pyelftools, capstone), and it can use them only when
they were installed for the same Python *minor* version: compiled modules
(capstone's) carry the ``cpython-3XY`` ABI tag and packages are installed per
``lib/python3.Y/site-packages`` (see ``site.getsitepackages`` and PEP 3149).

Two sides use this module:

- GDB's side: ``plugin.py`` loads it by file path (before the sigdbg package
  is importable) and calls :func:`load_plugin`;
- the command line: ``sigdbg gdb-init`` / ``python -m sigdbg.gdb`` print
  :func:`gdbinit_line`, and ``sigdbg gdb`` puts that line in ``-iex``.

Only the standard library is imported, and the code avoids syntax newer than
Python 3.7 so that an older GDB Python still gets the one-line message
instead of a SyntaxError.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import re
import site
import sys
from typing import NamedTuple

#: names of the directories pip installs into (Debian's python3 uses dist-packages)
SITE_NAMES = ("site-packages", "dist-packages")
#: the modules the extension takes from the installation (sigdbg's optional dependencies)
DEPENDENCIES = ("elftools", "capstone")


class Installation(NamedTuple):
    """The site-packages directories of one sigdbg installation."""

    package: str  #: the sigdbg package directory
    sites: tuple[str, ...]  #: where its dependencies are
    how: str  #: how they were found (for messages)


def package_dir() -> str:
    """This sigdbg package's directory (.../sigdbg)."""
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def plugin_path(package: str | None = None) -> str:
    """The file GDB sources."""
    return os.path.join(package or package_dir(), "gdb", "plugin.py")


def site_version(site_dir: str) -> tuple[int, int] | None:
    """The Python (major, minor) a site-packages directory belongs to.

    From the ``pythonX.Y`` component pip and venv put in the path
    (``lib/python3.11/site-packages``), else from the ``version`` line of the
    ``pyvenv.cfg`` of the venv holding it; None when neither says (Debian's
    ``/usr/lib/python3/dist-packages`` serves every python3).
    """
    for part in reversed(os.path.normpath(site_dir).split(os.sep)):
        m = re.fullmatch(r"python(\d+)\.(\d+)t?", part)
        if m:
            return int(m.group(1)), int(m.group(2))
    d = site_dir
    for _ in range(4):
        d = os.path.dirname(d)
        cfg = os.path.join(d, "pyvenv.cfg")
        if os.path.isfile(cfg):
            return _cfg_version(cfg)
    return None


def _cfg_version(path: str) -> tuple[int, int] | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    except OSError:
        return None
    m = re.search(r"^\s*version(?:_info)?\s*=\s*(\d+)\.(\d+)", text, re.M)
    return (int(m.group(1)), int(m.group(2))) if m else None


def from_package(package: str) -> Installation:
    """The installation a sigdbg package directory belongs to, by its place.

    - installed (``pip install`` into a venv, ``--user``, the system): the
      directory holding the package is the site-packages;
    - a checkout (``pip install -e``, ``make bootstrap``): the checkout's
      ``.venv``, one site-packages per Python version it has.
    """
    parent = os.path.dirname(package)
    if os.path.basename(parent) in SITE_NAMES:
        return Installation(package, (parent,), "the site-packages sigdbg is installed in")
    sites = sorted(glob.glob(os.path.join(glob.escape(parent), ".venv", "lib", "python*",
                                          "site-packages")))
    return Installation(package, tuple(sites), "the checkout's .venv")


def sys_path_entry(filename: str) -> str | None:
    """The (longest) sys.path entry a module file was imported from.  Paths
    as imported, not resolved: a package symlinked into a site-packages
    belongs to that site-packages."""
    best = None
    path = os.path.abspath(filename)
    for entry in sys.path:
        root = os.path.abspath(entry or os.curdir)
        if path.startswith(root.rstrip(os.sep) + os.sep) and (best is None or
                                                              len(root) > len(best)):
            best = root
    return best


def running_installation() -> Installation:
    """The site-packages this Python took sigdbg's package and its
    dependencies from (the command line's side: what GDB should use)."""
    package = package_dir()
    sites: list[str] = []
    parent = os.path.dirname(package)
    if os.path.basename(parent) in SITE_NAMES:
        sites.append(parent)
    for name in DEPENDENCIES:
        spec = importlib.util.find_spec(name)
        origin = spec.origin if spec is not None else None
        entry = sys_path_entry(origin) if origin else None
        if entry is not None and entry not in sites:
            sites.append(entry)
    return Installation(package, tuple(sites), "this Python's site-packages")


def gdbinit_line() -> str:
    """The line for ~/.gdbinit that loads this installation's extension.

    ``source PLUGIN`` when the plugin finds the same site-packages by itself
    (:func:`from_package`); otherwise a Python line that hands it the
    directories (``SIGDBG_SITE``), e.g. for a checkout installed into a venv
    that is not its ``.venv``.
    """
    mine = running_installation()
    found = from_package(mine.package)
    plugin = plugin_path(mine.package)
    same = {os.path.realpath(s) for s in mine.sites} <= \
        {os.path.realpath(s) for s in found.sites}
    plain = plugin.isprintable() and plugin == plugin.strip() and "#" not in plugin
    if same and plain:
        return f"source {plugin}"
    return (f"python import runpy; runpy.run_path({plugin!r}, "
            f"{{'SIGDBG_SITE': {list(mine.sites)!r}}})")


# -- GDB's side ------------------------------------------------------------------------------
def _python() -> str:
    v = sys.version_info
    return f"{v[0]}.{v[1]}"


def add_site_dirs(sites: list[str]) -> None:
    """Add site-packages directories the way ``site`` does (their ``.pth``
    files run: an editable install's import hook), placed before GDB
    Python's own site-packages so that a system pyelftools does not shadow
    the one sigdbg was installed with."""
    before = list(sys.path)
    for d in sites:
        site.addsitedir(d)
    added = [p for p in sys.path if p not in before]
    if not added:
        return
    rest = [p for p in sys.path if p not in added]
    at = next((i for i, p in enumerate(rest) if os.path.basename(p.rstrip(os.sep)) in SITE_NAMES),
              len(rest))
    sys.path[:] = rest[:at] + added + rest[at:]


def choose_sites(inst: Installation) -> tuple[list[str], str | None]:
    """The directories usable by this (GDB's) Python, and the one-line
    message when the installation is for another Python version."""
    mine = (sys.version_info[0], sys.version_info[1])
    ok: list[str] = []
    other: list[tuple[str, tuple[int, int]]] = []
    for d in inst.sites:
        if not os.path.isdir(d):
            continue
        v = site_version(d)
        if v is None or v == mine:
            ok.append(d)
        else:
            other.append((d, v))
    if ok or not other:
        return ok, None
    d, v = other[0]
    return [], (f"sigdbg: gdb's Python is {_python()} ({sys.executable or 'embedded'}), "
                f"sigdbg's site-packages {d} is for Python {v[0]}.{v[1]}: running without "
                f"pyelftools and capstone (install sigdbg with Python {_python()} for gdb)")


def _import_sigdbg(package: str) -> str | None:
    """Import the sigdbg package this plugin belongs to (by its directory,
    so that no other installation's sigdbg is taken, and without putting a
    checkout's root on sys.path); None, or the one-line error."""
    loaded = sys.modules.get("sigdbg")
    if loaded is not None:
        paths = [os.path.realpath(p) for p in getattr(loaded, "__path__", [])]
        if os.path.realpath(package) not in paths:
            return (f"sigdbg: another sigdbg is already loaded in gdb (from "
                    f"{', '.join(paths)}): not loading {package}")
        return None
    try:
        spec = importlib.util.spec_from_file_location(
            "sigdbg", os.path.join(package, "__init__.py"),
            submodule_search_locations=[package])
        if spec is None or spec.loader is None:
            raise ImportError(f"no package in {package}")
        module = importlib.util.module_from_spec(spec)
        sys.modules["sigdbg"] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules["sigdbg"]
            raise
    except Exception as exc:  # SyntaxError on a too old Python, too
        return (f"sigdbg: cannot import the sigdbg package ({package}) with gdb's Python "
                f"{_python()} ({sys.executable}): {type(exc).__name__}: {exc}")
    return None


def load_plugin(given: list[str] | None = None) -> list[str]:
    """Everything ``plugin.py`` does, from GDB's Python: find the
    installation of the package this module belongs to (``given`` site
    directories, else by the package's place), add its site-packages when
    they fit GDB's Python, import sigdbg and register the commands (once:
    sourcing again changes nothing).  Returns the lines to show (nothing on
    success)."""
    package = package_dir()
    lines = []
    if given:
        inst = Installation(package, tuple(given), "given by SIGDBG_SITE")
    else:
        inst = from_package(package)
    if "sigdbg.gdb.extension" not in sys.modules:
        sites, message = choose_sites(inst)
        if message:
            lines.append(message)
        add_site_dirs(sites)
    error = _import_sigdbg(package)
    if error:
        return lines + [error]
    try:
        import sigdbg.gdb.extension  # noqa: F401  (registers the commands when first imported)
    except Exception as exc:
        lines.append(f"sigdbg: cannot load the gdb extension: {type(exc).__name__}: {exc}")
    return lines
