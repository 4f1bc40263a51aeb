"""sigdbg.gdb.locate: which site-packages a sigdbg installation has, for which Python.

Truths: real virtual environments made by ``python -m venv`` (their
``pyvenv.cfg`` and ``sysconfig`` paths, asked of their own interpreter) and
the running interpreter's version.  The loading itself, inside gdb, is
tests/integration/test_gdb_install.py.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

from sigdbg.gdb import locate
from tests.conftest import ROOT


def make_venv(path: Path) -> Path:
    """A real venv; returns its purelib as its own interpreter reports it."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True,
                   timeout=60, capture_output=True)
    out = subprocess.run([str(path / "bin" / "python"), "-c",
                          "import sysconfig; print(sysconfig.get_path('purelib'))"],
                         check=True, timeout=60, capture_output=True, text=True).stdout
    return Path(out.strip())


def test_site_version_of_real_site_packages(tmp_path: Path) -> None:
    assert locate.site_version(sysconfig.get_path("purelib")) == sys.version_info[:2]
    purelib = make_venv(tmp_path / "v")
    assert locate.site_version(str(purelib)) == sys.version_info[:2]
    # a directory of that venv without pythonX.Y in its path: its pyvenv.cfg says
    odd = tmp_path / "v" / "lib" / "site-packages"
    odd.mkdir(parents=True)
    assert locate.site_version(str(odd)) == sys.version_info[:2]
    assert locate.site_version("/work/x/lib/python3.13t/site-packages") == (3, 13)
    # Debian's site-packages of every python3 (no pyvenv.cfg above it): unknown
    assert locate.site_version(str(tmp_path / "usr" / "lib" / "python3" / "dist-packages")) \
        is None


def test_from_package_installed_and_checkout(tmp_path: Path) -> None:
    purelib = make_venv(tmp_path / "v")
    installed = purelib / "sigdbg"
    assert locate.from_package(str(installed)).sites == (str(purelib),)
    checkout = tmp_path / "checkout"
    (checkout / "sigdbg").mkdir(parents=True)
    venv_site = make_venv(checkout / ".venv")
    found = locate.from_package(str(checkout / "sigdbg"))
    assert found.sites == (str(venv_site),) and found.how == "the checkout's .venv"
    # a checkout without a .venv: nothing to add
    bare = tmp_path / "bare"
    (bare / "sigdbg").mkdir(parents=True)
    assert locate.from_package(str(bare / "sigdbg")).sites == ()


def test_choose_sites_prefers_this_python_and_says_when_none_fits(tmp_path: Path) -> None:
    ours = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    other = "python3.8" if sys.version_info[:2] != (3, 8) else "python3.9"
    sites = []
    for ver in (other, ours):
        d = tmp_path / ".venv" / "lib" / ver / "site-packages"
        d.mkdir(parents=True)
        sites.append(str(d))
    inst = locate.Installation(str(tmp_path / "sigdbg"), tuple(sites), "test")
    assert locate.choose_sites(inst) == ([sites[1]], None)
    use, message = locate.choose_sites(inst._replace(sites=(sites[0],)))
    assert use == [] and message is not None and "\n" not in message
    assert message.startswith(f"sigdbg: gdb's Python is {sys.version_info[0]}."
                              f"{sys.version_info[1]} ")
    assert f"{sites[0]} is for Python {other[6:]}: running without pyelftools" in message


def test_gdbinit_line_in_this_checkout() -> None:
    """Run from the checkout's .venv (make bootstrap), the plain source line;
    from any other environment, the line naming that environment's packages."""
    line = locate.gdbinit_line()
    plugin = ROOT / "sigdbg" / "gdb" / "plugin.py"
    if Path(sys.prefix).resolve() == (ROOT / ".venv").resolve():
        assert line == f"source {plugin}"
    else:
        assert line.startswith(f"python import runpy; runpy.run_path({str(plugin)!r}, ")
