"""Loading the GDB extension as a user would: the ``sigdbg gdb-init`` line in a
fresh ``gdb -nx -batch``, ``sigdbg gdb -- PROG``, another venv, another Python.

Independent truths: the test interpreter (the venv sigdbg is installed in)
says where pyelftools and capstone are and which Python it is; gdb's own
Python says where it imported them from; the target's SIGDBG-REPORT lines
from inside its handler; the ptrace backend's decode of the same scenario.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, target
from tests.integration.test_gdb import GDB, PLUGIN, TIMEOUT, Gdb, cli_frame, mark

pytestmark = pytest.mark.skipif(GDB is None, reason="gdb is not installed")

SHIM = ROOT / "plugins" / "gdb" / "sigdbg.py"
DEPS_PRINT = ('python import elftools, capstone; print("DEPS", elftools.__file__, '
              'capstone.__file__)')


def run(cmd: list[str], *, cwd: Path | None = None,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, cwd=cwd,
                          env=dict(base, LC_ALL="C", TERM="dumb", **(env or {})),
                          stdin=subprocess.DEVNULL)


def gdb_batch(args: list[str], *, cwd: Path) -> Gdb:
    """A fresh gdb reading no init file, outside the checkout, without PYTHONPATH."""
    return Gdb(run([str(GDB), "-nx", "-batch", "-iex", "set debuginfod enabled off", *args],
                   cwd=cwd))


def ex(*commands: str) -> list[str]:
    return [a for c in commands for a in ("-ex", c)]


def gdb_python() -> tuple[int, int]:
    out = run([str(GDB), "-nx", "-batch", "-ex",
               "python import sys; print('PYVER', *sys.version_info[:2])"], cwd=ROOT).stdout
    m = re.search(r"^PYVER (\d+) (\d+)$", out, re.M)
    assert m, out
    return int(m.group(1)), int(m.group(2))


def module_file(name: str) -> str:
    mod = __import__(name)
    assert mod.__file__ is not None
    return str(mod.__file__)


# -- sigdbg gdb-init -------------------------------------------------------------------------
def test_gdb_init_line_loads_the_extension_and_its_dependencies(tmp_path: Path) -> None:
    line = run([sys.executable, "-m", "sigdbg", "gdb-init"], cwd=tmp_path)
    assert line.returncode == 0 and line.stderr == ""
    assert run([sys.executable, "-m", "sigdbg.gdb"], cwd=tmp_path).stdout == line.stdout
    # a checkout installed in its .venv: the plugin finds the site-packages by itself
    assert line.stdout == f"source {PLUGIN}\n"
    init = tmp_path / "gdbinit"
    init.write_text(line.stdout)
    same_python = gdb_python() == sys.version_info[:2]
    g = gdb_batch([
        "-x", str(init), "-x", str(init), "-ex", f"source {SHIM}",  # loading again: no-op
        *ex(DEPS_PRINT, mark("help"), "help sigdbg",
            "handle SIGUSR1 nostop noprint pass", "break *h_rt", "run",
            mark("frame"), "sigdbg frame --json", mark("vdso"), "sigdbg vdso --json",
            "continue"),
        "--args", target("sig_basic.i386"), "rt"], cwd=tmp_path)
    g.no_traceback()
    assert g.section("help").count("sigdbg frame, sigdbg sigframe -- ") == 1
    if not same_python:  # another machine's gdb: the one-line message, then no dependencies
        assert re.search(r"^sigdbg: gdb's Python is \d+\.\d+ .* is for Python "
                         rf"{sys.version_info[0]}\.{sys.version_info[1]}: ", g.stderr, re.M)
        return
    # gdb's Python imported them from the same files as the venv's Python
    assert f"DEPS {module_file('elftools')} {module_file('capstone')}" in g.stdout
    assert "sigdbg:" not in g.stderr
    frame = g.json("frame")
    rep = g.reports()[0]
    assert (frame["pinfo"], frame["puc"]) == (rep["infop"], rep["ucp"])
    # pyelftools in gdb: the vDSO report and versioned names, as the command line gives
    assert frame["restorer"]["symbol"] == cli_frame(target("sig_basic.i386"), "rt")["restorer"][
        "symbol"]
    assert frame["restorer"]["symbol"].startswith("__kernel_rt_sigreturn@")
    vdso = g.json("vdso")
    assert any(s["name"] == "__kernel_rt_sigreturn" and s["address"] == frame["pretcode"]
               for s in vdso["symbols"])


def test_gdb_init_names_a_venv_the_plugin_cannot_find(tmp_path: Path) -> None:
    """sigdbg (this checkout) imported by a venv elsewhere that has its own
    pyelftools and capstone: the line hands the plugin that venv's site-packages."""
    venv = tmp_path / "venv"
    made = run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    assert made.returncode == 0, made.stderr
    py = venv / "bin" / "python"
    purelib = run([str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"])
    site = Path(purelib.stdout.strip())
    assert site.is_dir() and site.is_relative_to(venv), purelib
    (site / "sigdbg_checkout.pth").write_text(f"{ROOT}\n")  # as an editable install does
    for name in ("elftools", "capstone"):
        (site / name).symlink_to(Path(module_file(name)).parent)
    line = run([str(py), "-m", "sigdbg.gdb"], cwd=tmp_path)
    assert line.returncode == 0, line.stderr
    assert line.stdout.startswith("python import runpy; runpy.run_path(")
    assert repr(str(PLUGIN)) in line.stdout and repr(str(site)) in line.stdout
    init = tmp_path / "gdbinit"
    init.write_text(line.stdout)
    g = gdb_batch(["-x", str(init), *ex(
        'python import sys, elftools, capstone; print("DEPS", elftools.__file__, '
        'capstone.__file__); print("PATHS", [p for p in sys.path if "site-packages" in p])',
        "help sigdbg frame")], cwd=tmp_path)
    g.no_traceback()
    assert "usage: sigdbg frame" in g.stdout
    if gdb_python() != sys.version_info[:2]:
        assert "sigdbg: gdb's Python is" in g.stderr
        return
    deps = re.search(r"^DEPS (\S+) (\S+)$", g.stdout, re.M)
    assert deps, g.all
    assert all(f.startswith(f"{site}/") for f in deps.groups()), deps.groups()
    # the checkout's own .venv is not taken as well
    paths = re.search(r"^PATHS (.*)$", g.stdout, re.M)
    assert paths and str(ROOT / ".venv") not in paths.group(1)


def test_installed_package_finds_its_own_site_packages(tmp_path: Path) -> None:
    """sigdbg installed (not editable) in a venv: its files in that venv's
    site-packages, as a wheel puts them, beside pyelftools and capstone.
    The plain source line suffices, and `sigdbg gdb` of that venv uses it;
    another installation's plugin sourced after it says it is not loaded."""
    venv = tmp_path / "venv"
    made = run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    assert made.returncode == 0, made.stderr
    py = venv / "bin" / "python"
    site = Path(run([str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"])
                .stdout.strip())
    assert site.is_dir() and site.is_relative_to(venv)
    shutil.copytree(ROOT / "sigdbg", site / "sigdbg",
                    ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    for name in ("elftools", "capstone"):
        (site / name).symlink_to(Path(module_file(name)).parent)
    line = run([str(py), "-m", "sigdbg", "gdb-init"], cwd=tmp_path)
    assert line.stdout == f"source {site}/sigdbg/gdb/plugin.py\n", line.stderr
    g = Gdb(run([str(py), "-m", "sigdbg", "gdb", "-nx", "-batch", *ex(
        'python import sigdbg, elftools, capstone; print("FROM", sigdbg.__file__, '
        'elftools.__file__, capstone.__file__)', "starti", mark("auxv"), "sigdbg auxv --json",
        f"source {PLUGIN}"),  # another installation's plugin, as from a ~/.gdbinit
        "--", target("hello")], cwd=tmp_path))
    g.no_traceback()
    assert g.json("auxv")["argv"] == [target("hello")]
    ours = [ln for ln in g.stderr.splitlines() if ln.startswith("sigdbg")]
    assert ours[-1] == f"sigdbg: another sigdbg is already loaded in gdb (from {site}/sigdbg): " \
        f"not loading {ROOT}/sigdbg"
    if gdb_python() != sys.version_info[:2]:
        assert "sigdbg: gdb's Python is" in ours[0]
        return
    assert len(ours) == 1, g.stderr
    where = re.search(r"^FROM (\S+) (\S+) (\S+)$", g.stdout, re.M)
    assert where, g.all
    assert all(f.startswith(f"{site}/") for f in where.groups()), where.groups()


def test_python_version_mismatch_is_one_line(tmp_path: Path) -> None:
    """sigdbg installed in a venv of another Python minor version (its
    package copied into lib/python3.N/site-packages, beside a pyelftools that
    says when it is imported and a .pth that says when it runs): gdb says so
    in one line, takes nothing from that site-packages, and the extension
    still works, with gdb's own symbols."""
    ours = gdb_python()
    other = (3, 8) if ours != (3, 8) else (3, 9)
    venv = tmp_path / "venv"
    site = venv / "lib" / f"python{other[0]}.{other[1]}" / "site-packages"
    site.mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text(f"home = /usr/bin\ninclude-system-site-packages = false\n"
                                     f"version = {other[0]}.{other[1]}.18\n")
    shutil.copytree(ROOT / "sigdbg", site / "sigdbg",
                    ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    (site / "elftools").mkdir()
    (site / "elftools" / "__init__.py").write_text('print("WRONG-ELFTOOLS-IMPORTED")\n')
    (site / "zz_marker.pth").write_text('import sys; sys.stdout.write("WRONG-PTH-RAN\\n")\n')
    plugin = site / "sigdbg" / "gdb" / "plugin.py"
    g = gdb_batch([*ex(
        f"source {plugin}",
        'python import sys, sigdbg; print("PKG", sigdbg.__path__[0]); '
        f'print("INPATH", any("{site}" in p for p in sys.path))',
        "handle SIGUSR1 nostop noprint pass", "break *h_rt", "run",
        mark("frame"), "sigdbg frame --json", "sigdbg vdso", "continue"),
        "--args", target("sig_basic.i386"), "rt"], cwd=tmp_path)
    g.no_traceback()
    lines = [ln for ln in g.stderr.splitlines() if ln.startswith("sigdbg: ")]
    assert len(lines) == 1, g.stderr
    assert lines[0].startswith(f"sigdbg: gdb's Python is {ours[0]}.{ours[1]} ")
    assert f"sigdbg's site-packages {site} is for Python {other[0]}.{other[1]}: running " \
        "without pyelftools and capstone" in lines[0]
    assert "WRONG-" not in g.all
    assert f"PKG {site / 'sigdbg'}" in g.stdout and "INPATH False" in g.stdout
    assert "sigdbg vdso: pyelftools is not installed" in g.stderr
    frame = g.json("frame")
    assert frame["restorer"]["symbol"] == "__kernel_rt_sigreturn"
    assert frame["pretcode"] == g.reports()[0]["pretcode"]


def test_copies_of_the_plugin_and_the_shim_outside_the_package(tmp_path: Path) -> None:
    """A copy of plugin.py or of the old plugins/gdb/sigdbg.py finds an
    installed package through gdb's sys.path, or says in one line that it can't."""
    for name, src in (("plugin.py", PLUGIN), ("sigdbg.py", SHIM)):
        copy = tmp_path / name
        copy.write_text(src.read_text())
        cmd = [str(GDB), "-nx", "-batch", "-ex", f"source {copy}", "-ex", "help sigdbg auxv"]
        bad = run(cmd, cwd=tmp_path)
        assert "sigdbg: cannot import the sigdbg package" in bad.stderr, (name, bad.stderr)
        ours = [ln for ln in bad.stderr.splitlines() if ln.startswith("sigdbg")]
        assert len(ours) == 1 and "Traceback" not in bad.stderr, bad.stderr
        good = run(cmd, cwd=tmp_path, env={"PYTHONPATH": str(ROOT)})
        assert "usage: sigdbg auxv" in good.stdout, (name, good.stderr)
        assert "Traceback" not in good.stderr


# -- sigdbg gdb -- PROG ----------------------------------------------------------------------
def test_sigdbg_gdb_starts_gdb_with_the_extension(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "sigdbg", "gdb", "-nx", "-batch",
         "-iex", "set debuginfod enabled off",
         *ex('python import os; print("GDBPID", os.getpid())',
             "handle SIGUSR1 nostop noprint pass", "break *h_rt", "run",
             mark("frame"), "sigdbg frame --json", "continue"),
         "--", target("sig_basic.i386"), "rt"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
        cwd=tmp_path, env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    g = Gdb(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    g.no_traceback()
    assert proc.returncode == 0, g.all
    # exec'd, as pwndbg's launcher: gdb is the process we started
    assert f"GDBPID {proc.pid}\n" in out
    frame = g.json("frame")
    rep = g.reports()[0]
    assert rep["tag"] == "rt"  # the program's argument after "--"
    assert frame["kind"] == "rt_sigframe_ia32" and frame["pretcode"] == rep["pretcode"]
    assert (frame["pinfo"], frame["puc"]) == (rep["infop"], rep["ucp"])
    assert frame["restorer"]["symbol"].startswith("__kernel_rt_sigreturn")
    assert "SIGDBG-DONE" in out


def test_sigdbg_gdb_errors_and_help(tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    missing = run([sys.executable, "-m", "sigdbg", "gdb", "--", target("hello")],
                  env={"PATH": str(empty)})
    assert missing.returncode == 2 and missing.stdout == ""
    assert missing.stderr == "sigdbg: error: gdb is not installed (no gdb in PATH); install " \
        "it (apt install gdb) or put it in PATH\n"
    nothing = run([sys.executable, "-m", "sigdbg", "gdb", "-q", "--"])
    assert nothing.returncode == 2
    assert nothing.stderr == "sigdbg: error: nothing after '--': give -- PROG [ARGS...]\n"
    helped = run([sys.executable, "-m", "sigdbg", "gdb", "--help"])
    assert helped.returncode == 0 and helped.stdout.startswith("usage: sigdbg gdb [GDB OPTIONS]")
    assert "sigdbg gdb -q -ex 'handle SIGUSR1 nostop noprint'" in helped.stdout
    top = run([sys.executable, "-m", "sigdbg", "--help"])
    assert re.search(r"^\s+gdb-init\s", top.stdout, re.M)
    assert re.search(r"^\s+gdb\s+start gdb with the extension loaded", top.stdout, re.M)
