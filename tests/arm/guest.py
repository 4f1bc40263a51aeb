"""The ARM guest: a real arm64 Linux kernel under qemu-system-aarch64.

Issue 14 item 1.  Builds a guest image from Debian packages only (the
``linux-image-arm64`` kernel, ``busybox-static``, and optionally python3 with
aarch64 wheels from PyPI), caches it outside the repo keyed by the package
versions, boots it once, runs a batch of shell commands in it, and brings
their exit status, stdout and stderr back over the serial console.

Why the serial console and not virtio-9p: the ``arm64`` kernel builds 9p and
virtio-pci as modules, so a share needs eight ``.ko`` files loaded in the
right order, while the console is built in.  The guest frames every result
as base64 between marker lines, so kernel messages or CR/LF translation on
the tty cannot corrupt it.

Inputs go into the initramfs: the kernel unpacks a concatenation of cpio
archives, so the cached base image (busybox + init) is followed by a small
per-run archive holding the job (cross-compiled targets, python sources
with host-built .pyc, one script per command).  Why initramfs and not a
disk: no filesystem driver or module is needed and nothing is written back.

Facts this relies on (verified, see ../shared/reference/arm-qemu.md):
``-cpu max,pauth-impdef=on`` (QARMA pointer auth under TCG triples the boot
time), ``-nic none`` (the default NIC wants an iPXE ROM), the generic
``arm64`` flavour.  qemu-user cannot be used: it refuses ptrace.

Command line (for humans)::

    python3 tests/arm/guest.py build [--python]   # fetch + build the cached image
    python3 tests/arm/guest.py run 'uname -a' 'cat /proc/cpuinfo'
    python3 tests/arm/guest.py run --put targets/build/arm/sig_frame.a64 ./sig_frame.a64
    python3 tests/arm/guest.py run --python 'python3 -c "import capstone"'

Every missing host tool raises :class:`GuestError` (a test failure), never a
skip: scripts/bootstrap-arm installs them.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import hashlib
import io
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

CACHE = Path(os.environ.get("SIGDBG_ARM_CACHE", Path.home() / ".cache" / "sigdbg-arm"))

KERNEL_META = "linux-image-arm64:arm64"
BUSYBOX = "busybox-static:arm64"
#: python3 for arm64 (only with python=True): extracted with mmdebstrap
#: --variant=extract, which resolves the dependencies and runs nothing.
PYTHON_PKGS = ("python3-minimal", "libpython3.11-stdlib")
#: aarch64 wheels of sigdbg's run-time dependencies (pure-Python ones too).
WHEELS = ("python-ptrace", "pyelftools", "capstone", "orjson", "prompt-toolkit", "wcwidth")
#: part of every cache key: bump it when the way an image is built changes
RECIPE = 3

QEMU = "qemu-system-aarch64"
QEMU_ARGS = (
    "-M", "virt", "-cpu", "max,pauth-impdef=on", "-smp", "2", "-m", "2048", "-nic", "none",
    "-display", "none", "-monitor", "none", "-no-reboot",
)
#: quiet + loglevel=0: nothing but the job on the console; panic=-1 and
#: -no-reboot: a panicking guest ends QEMU at once instead of hanging.
APPEND = "console=ttyAMA0 quiet loglevel=0 panic=-1 rdinit=/init"

MARK = "@@SIGDBG"

INIT = f"""#!/bin/busybox sh
# /init of the sigdbg ARM guest (tests/arm/guest.py).
/bin/busybox --install -s /bin
export PATH=/bin:/usr/bin:/usr/local/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
echo {MARK}-UP "$(cut -d' ' -f1 /proc/uptime)"
cd /job
for c in /job/cmd/*.sh; do
  name=$(basename "$c" .sh)
  timeout "$(cat /job/timeout)" sh "$c" >/tmp/out 2>/tmp/err </dev/null
  rc=$?
  echo "{MARK}-BEGIN $name $rc"
  base64 /tmp/out
  echo "{MARK}-STDERR $name"
  base64 /tmp/err
  echo "{MARK}-END $name"
done
echo {MARK}-DONE "$(cut -d' ' -f1 /proc/uptime)"
poweroff -f
"""


class GuestError(Exception):
    """The guest could not be built, booted, or did not finish its batch."""


@dataclass
class Result:
    """One command's outcome inside the guest."""

    name: str
    rc: int
    stdout: bytes
    stderr: bytes

    @property
    def text(self) -> str:
        return self.stdout.decode(errors="replace")


@dataclass
class Batch:
    """All results of one boot, with the timings the report needs."""

    results: dict[str, Result]
    boot_s: float  #: host seconds from QEMU start to the guest's first line
    total_s: float  #: host seconds for the whole boot-run-poweroff
    console: str  #: the raw console text, for failure messages
    timings: dict[str, float] = field(default_factory=dict)


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise GuestError(f"{tool} not found: run scripts/bootstrap-arm (as root)")
    return path


def _run(argv: Sequence[str], **kw: object) -> subprocess.CompletedProcess[bytes]:
    _need(argv[0])
    proc = subprocess.run(list(argv), capture_output=True, **kw)  # type: ignore[call-overload]
    if proc.returncode != 0:
        raise GuestError(f"{' '.join(argv)} failed ({proc.returncode}): "
                         f"{proc.stderr.decode(errors='replace').strip()[-2000:]}")
    return proc  # type: ignore[no-any-return]


def candidate(pkg: str) -> tuple[str, str]:
    """(package, version) apt would install for ``pkg`` (arch-qualified)."""
    out = _run(["apt-cache", "show", "--no-all-versions", pkg]).stdout.decode()
    fields = dict(re.findall(r"^([A-Za-z-]+): (.*)$", out, re.M))
    if "Version" not in fields:
        raise GuestError(f"apt-cache knows no {pkg}: run scripts/bootstrap-arm")
    return fields["Package"], fields["Version"]


def kernel_package() -> tuple[str, str]:
    """The concrete kernel image package the ``linux-image-arm64`` metapackage
    depends on (e.g. linux-image-6.1.0-57-arm64), and its version."""
    out = _run(["apt-cache", "show", "--no-all-versions", KERNEL_META]).stdout.decode()
    m = re.search(r"^Depends: .*?(linux-image-[0-9][^ ,]*-arm64)", out, re.M)
    if not m:
        raise GuestError(f"cannot find the kernel package behind {KERNEL_META}")
    return candidate(m.group(1) + ":arm64")


def resolve() -> dict[str, tuple[str, str]]:
    """The packages and versions the image is built from.  apt-cache costs
    1-2 s a call, so the answer is cached until the apt lists change (an
    ``apt-get update``)."""
    lists = sorted(Path("/var/lib/apt/lists").glob("*Packages*"))
    if not lists:
        raise GuestError("no apt package lists: run scripts/bootstrap-arm")
    sig = hashlib.sha256(repr([(p.name, p.stat().st_mtime_ns, p.stat().st_size)
                               for p in lists]).encode()).hexdigest()
    cached = CACHE / "resolved.json"
    try:
        data = json.loads(cached.read_text())
        if data["lists"] == sig:
            return {k: (v[0], v[1]) for k, v in data["packages"].items()}
    except (OSError, ValueError, KeyError):
        pass
    packages = {"kernel": kernel_package(), "busybox": candidate(BUSYBOX)}
    for p in PYTHON_PKGS:
        packages[p] = candidate(p + ":arm64")
    _write_layer(cached, json.dumps({"lists": sig, "packages": packages}, indent=1).encode())
    return packages


# -- cpio (newc) --------------------------------------------------------------

class Cpio:
    """A minimal writer of the "newc" cpio format the kernel unpacks.

    Written here so the per-run archive needs no tool and is deterministic
    (mtime 0, root-owned).
    """

    def __init__(self) -> None:
        self.buf = io.BytesIO()
        self.ino = 1
        self.dirs: set[str] = set()

    def _entry(self, name: str, mode: int, data: bytes = b"") -> None:
        name_b = name.encode() + b"\0"
        hdr = "070701" + "".join(
            f"{v:08x}" for v in (self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0,
                                 len(name_b), 0)
        )
        self.ino += 1
        self.buf.write(hdr.encode() + name_b)
        self.buf.write(b"\0" * (-(110 + len(name_b)) % 4))
        self.buf.write(data)
        self.buf.write(b"\0" * (-len(data) % 4))

    def mkdir(self, path: str) -> None:
        path = path.strip("/")
        parts = path.split("/")
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d and d not in self.dirs:
                self.dirs.add(d)
                self._entry(d, stat.S_IFDIR | 0o755)

    def add(self, path: str, data: bytes, mode: int = 0o644) -> None:
        path = path.strip("/")
        if "/" in path:
            self.mkdir(path.rsplit("/", 1)[0])
        self._entry(path, stat.S_IFREG | mode, data)

    def symlink(self, path: str, target: str) -> None:
        path = path.strip("/")
        if "/" in path:
            self.mkdir(path.rsplit("/", 1)[0])
        self._entry(path, stat.S_IFLNK | 0o777, target.encode())

    def add_tree(self, root: Path, prefix: str = "") -> None:
        """Every file, directory and symlink under ``root`` (sorted)."""
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            rel = os.path.relpath(dirpath, root)
            base = prefix.strip("/") + ("" if rel == "." else "/" + rel)
            if base.strip("/"):
                self.mkdir(base)
            for n in sorted(filenames) + [d for d in dirnames if os.path.islink(Path(dirpath, d))]:
                p = Path(dirpath, n)
                dest = f"{base}/{n}".strip("/")
                if p.is_symlink():
                    self.symlink(dest, os.readlink(p))
                elif p.is_file():
                    self.add(dest, p.read_bytes(), p.stat().st_mode & 0o777)

    def finish(self) -> bytes:
        self._entry("TRAILER!!!", 0)
        data = self.buf.getvalue()
        return data + b"\0" * (-len(data) % 512)


def _write_layer(path: Path, data: bytes) -> None:
    """Layers stay uncompressed: the emulated guest gunzips the 100 MB python
    layer in ~8 s, and copying it raw costs ~1 s (and an uncompressed archive
    followed by a compressed one was not unpacked by the 6.1 kernel)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    """One builder at a time (two test sessions, or xdist workers, may start
    together); the others wait and then find the image built."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# -- the cached image ---------------------------------------------------------

@dataclass
class Image:
    """A built guest: kernel Image and the initramfs layers to concatenate."""

    kernel: Path
    layers: list[Path]
    versions: dict[str, str]


def _download(pkgs: Iterable[str], dest: Path) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    _run(["apt-get", "download", *pkgs], cwd=dest)
    return sorted(dest.glob("*.deb"))


def build(python: bool = False, log: list[str] | None = None) -> Image:
    """Build (or reuse) the cached guest image.  Keyed by package versions:
    a new kernel or busybox in the archive gives a new cache entry."""
    with _locked():
        return _build(python, log if log is not None else [])


def _build(python: bool, log: list[str]) -> Image:
    resolved = resolve()
    kpkg, kver = resolved["kernel"]
    bpkg, bver = resolved["busybox"]
    versions = {kpkg: kver, bpkg: bver, "recipe": str(RECIPE)}
    key = hashlib.sha256(json.dumps(versions, sort_keys=True).encode()).hexdigest()[:16]
    base = CACHE / f"base-{key}"
    kernel, initrd = base / "Image", base / "base.cpio"
    if not (kernel.exists() and initrd.exists()):
        t0 = time.monotonic()
        CACHE.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
            work = Path(tmp)
            debs = _download([f"{kpkg}:arm64={kver}", f"{bpkg}:arm64={bver}"], work / "debs")
            kdeb = next(d for d in debs if d.name.startswith(kpkg + "_"))
            bdeb = next(d for d in debs if d.name.startswith(bpkg + "_"))
            # only the Image: the 350 MB of modules are not needed (no 9p)
            kname = kpkg.replace("linux-image-", "vmlinuz-")
            tar = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(kdeb)], capture_output=True,
                                 check=True).stdout
            _run(["tar", "-x", "-C", str(work), f"./boot/{kname}"], input=tar)
            _run(["dpkg-deb", "-x", str(bdeb), str(work / "bb")])
            cpio = Cpio()
            for d in ("bin", "sbin", "usr/bin", "usr/sbin", "proc", "sys", "dev", "tmp", "job"):
                cpio.mkdir(d)
            cpio.add("bin/busybox", (work / "bb/bin/busybox").read_bytes(), 0o755)
            cpio.symlink("bin/sh", "busybox")
            cpio.add("init", INIT.encode(), 0o755)
            base.mkdir(parents=True, exist_ok=True)
            _write_layer(initrd, cpio.finish())
            _write_layer(kernel, (work / "boot" / kname).read_bytes())
            (base / "versions.json").write_text(json.dumps(versions, indent=1))
        _prune("base-*", base)
        log.append(f"built base image {base.name} in {time.monotonic() - t0:.1f} s")
    layers = [initrd]
    if python:
        pylayer, pyversions = build_python(log, resolved)
        layers.append(pylayer)
        versions.update(pyversions)
    return Image(kernel, layers, versions)


def _prune(pattern: str, keep: Path) -> None:
    """Drop the cache entries a new one replaces (older package versions or
    recipes): each is 30-100 MB."""
    for old in CACHE.glob(pattern):
        if old != keep:
            if old.is_dir():
                shutil.rmtree(old, ignore_errors=True)
            else:
                old.unlink(missing_ok=True)


def _venv_versions() -> dict[str, str]:
    """Versions of the wheels to fetch: those of the host's .venv when it has
    them (the guest then runs what the host tests run), else the newest."""
    root = Path(__file__).resolve().parents[2]
    pip = root / ".venv" / "bin" / "pip"
    pins: dict[str, str] = {}
    if pip.exists():
        out = subprocess.run([str(pip), "freeze"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            name, sep, ver = line.partition("==")
            if sep and name.lower().replace("_", "-") in WHEELS:
                pins[name.lower().replace("_", "-")] = ver
    return pins


def build_python(log: list[str], resolved: dict[str, tuple[str, str]]
                 ) -> tuple[Path, dict[str, str]]:
    """The python3 layer: arm64 CPython from Debian and aarch64 wheels, with
    every module byte-compiled on the host (same CPython 3.11: .pyc files are
    portable; compiling in the guest costs 15-26 s per package)."""
    versions = dict(resolved[p] for p in PYTHON_PKGS)
    pins = _venv_versions()
    versions.update({f"wheel:{w}": pins.get(w, "latest") for w in WHEELS})
    versions["recipe"] = str(RECIPE)
    key = hashlib.sha256(json.dumps(versions, sort_keys=True).encode()).hexdigest()[:16]
    out = CACHE / f"python-{key}.cpio"
    if out.exists():
        return out, versions
    t0 = time.monotonic()
    _need("mmdebstrap")
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        work = Path(tmp)
        root = work / "root"
        sources = [str(p) for p in sorted(Path("/etc/apt/sources.list.d").glob("*.sources"))]
        if Path("/etc/apt/sources.list").exists():
            sources.append("/etc/apt/sources.list")
        _run(["mmdebstrap", "--quiet", "--variant=extract", "--architectures=arm64",
              "--include=" + ",".join(PYTHON_PKGS), "bookworm", str(root), *sources])
        wheels = work / "wheels"
        reqs = [f"{w}=={pins[w]}" if w in pins else w for w in WHEELS]
        _run([sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:",
              "--platform", "manylinux2014_aarch64", "--platform", "manylinux_2_17_aarch64",
              "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311",
              "-d", str(wheels), *reqs])
        site = root / "usr/lib/python3/dist-packages"
        site.mkdir(parents=True, exist_ok=True)
        for whl in sorted(wheels.glob("*.whl")):
            _run(["python3", "-m", "zipfile", "-e", str(whl), str(site)])
        for junk in ("usr/share/doc", "usr/share/man", "usr/share/locale", "var/cache",
                     "var/lib/apt", "usr/share/info", "usr/share/lintian"):
            shutil.rmtree(root / junk, ignore_errors=True)
        # .pyc next to the sources, with the paths the guest sees
        # unchecked-hash: the cpio has no mtimes, so timestamp-checked .pyc
        # files would all be recompiled in the guest
        _run(["python3", "-m", "compileall", "-q", "-j", "2", "-s", str(root), "-p", "/",
              "--invalidation-mode", "unchecked-hash",
              str(root / "usr/lib/python3.11"), str(site)])
        cpio = Cpio()
        cpio.add_tree(root)
        _write_layer(out, cpio.finish())
    _prune("python-*.cpio", out)
    log.append(f"built python layer {out.name} in {time.monotonic() - t0:.1f} s")
    return out, versions


def python_files(src: Path, dest: str) -> dict[str, Path | bytes]:
    """A python package or module for the job archive, with its .pyc built on
    the host (unchecked-hash: valid without mtimes), so the guest does not
    spend seconds compiling.  Without a host CPython 3.11 (the guest's) the
    guest compiles them itself."""
    import importlib.util
    import py_compile

    files: dict[str, Path | bytes] = {}
    paths = sorted(src.rglob("*.py")) if src.is_dir() else [src]
    for path in paths:
        rel = path.relative_to(src.parent)
        where = f"{dest}/{rel}".lstrip("/")
        files[where] = path
        if sys.version_info[:2] != (3, 11):
            continue
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp, "x.pyc")
            py_compile.compile(str(path), cfile=str(out), dfile=f"/job/{where}",
                               doraise=True,
                               invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
            cache = importlib.util.cache_from_source(str(rel))
            files[f"{dest}/{cache}".lstrip("/")] = out.read_bytes()
    return files


# -- running a batch ----------------------------------------------------------

def job_archive(commands: Sequence[tuple[str, str]], files: dict[str, Path | bytes],
                timeout: int) -> bytes:
    """The per-run cpio: /job/cmd/NNN-name.sh per command, and the files."""
    cpio = Cpio()
    cpio.mkdir("job/cmd")
    cpio.add("job/timeout", f"{timeout}\n".encode())
    for i, (name, script) in enumerate(commands):
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            raise GuestError(f"bad command name {name!r}")
        cpio.add(f"job/cmd/{i:03d}-{name}.sh", f"set -e\n{script}\n".encode())
    for dest, src in sorted(files.items()):
        data = src if isinstance(src, bytes) else src.read_bytes()
        mode = 0o755 if isinstance(src, Path) and os.access(src, os.X_OK) else 0o644
        cpio.add("job/" + dest.lstrip("/"), data, mode)
    return cpio.finish()


def parse_console(text: str) -> dict[str, Result]:
    """The framed results out of the console text (CR/LF normalised)."""
    results: dict[str, Result] = {}
    lines = text.replace("\r", "").split("\n")
    i = 0
    while i < len(lines):
        m = re.fullmatch(rf"{MARK}-BEGIN (\d+)-(\S+) (\d+)", lines[i])
        i += 1
        if not m:
            continue
        out: list[str] = []
        err: list[str] = []
        cur = out
        while i < len(lines) and lines[i] != f"{MARK}-END {m.group(1)}-{m.group(2)}":
            if lines[i] == f"{MARK}-STDERR {m.group(1)}-{m.group(2)}":
                cur = err
            else:
                cur.append(lines[i])
            i += 1
        if i >= len(lines):
            break  # truncated: the caller reports the missing result
        i += 1
        results[m.group(2)] = Result(m.group(2), int(m.group(3)),
                                     base64.b64decode("".join(out)), base64.b64decode("".join(err)))
    return results


def run_batch(commands: Sequence[tuple[str, str]], files: dict[str, Path | bytes] | None = None,
              *, python: bool = False, timeout: float = 900, cmd_timeout: int = 300,
              image: Image | None = None) -> Batch:
    """Boot the guest once, run ``commands`` (name, shell script) in order
    from /job, power off.  ``files`` maps paths under /job to host files or
    bytes.  Raises GuestError when QEMU fails or a result is missing."""
    _need(QEMU)
    timings: dict[str, float] = {}
    t0 = time.monotonic()
    image = image or build(python=python)
    timings["build"] = time.monotonic() - t0
    names = [n for n, _ in commands]
    if len(set(names)) != len(names):
        raise GuestError("command names must be unique")
    with tempfile.TemporaryDirectory(prefix="sigdbg-arm-") as tmp:
        initrd = Path(tmp, "initrd")
        with initrd.open("wb") as fh:
            for layer in image.layers:
                fh.write(layer.read_bytes())
            fh.write(job_archive(commands, files or {}, cmd_timeout))
        console = Path(tmp, "console")
        argv = [QEMU, *QEMU_ARGS, "-kernel", str(image.kernel), "-initrd", str(initrd),
                "-append", APPEND, "-serial", f"file:{console}"]
        t1 = time.monotonic()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        boot_s = -1.0
        try:
            while proc.poll() is None:
                if time.monotonic() - t1 > timeout:
                    raise GuestError(f"guest did not finish in {timeout} s:\n"
                                     + _tail(console))
                if boot_s < 0 and console.exists() and f"{MARK}-UP" in console.read_text(
                        errors="replace"):
                    boot_s = time.monotonic() - t1
                time.sleep(0.2)
        finally:
            if proc.poll() is None:
                proc.kill()
            qemu_out = proc.communicate()[0].decode(errors="replace")
        total = time.monotonic() - t1
        text = console.read_text(errors="replace") if console.exists() else ""
    if proc.returncode != 0:
        raise GuestError(f"qemu exited {proc.returncode}: {qemu_out.strip()}\n{text[-3000:]}")
    if f"{MARK}-DONE" not in text:
        raise GuestError("guest did not complete its batch:\n" + text[-3000:])
    results = parse_console(text)
    missing = [n for n in names if n not in results]
    if missing:
        raise GuestError(f"no result for {missing}:\n{text[-3000:]}")
    if boot_s < 0:
        boot_s = total
    return Batch(results, boot_s, total, text, timings)


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-3000:] if path.exists() else "(no console output)"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build or reuse the cached image")
    b.add_argument("--python", action="store_true")
    r = sub.add_parser("run", help="boot, run shell commands in /job, print results")
    r.add_argument("--python", action="store_true")
    r.add_argument("--put", action="append", default=[], help="host file copied to /job/")
    r.add_argument("script", nargs="+")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "build":
            log: list[str] = []
            t0 = time.monotonic()
            img = build(python=args.python, log=log)
            print("\n".join(log))
            print(f"image ready in {time.monotonic() - t0:.1f} s: {img.kernel} "
                  f"{' '.join(map(str, img.layers))}")
            return 0
        files: dict[str, Path | bytes] = {Path(p).name: Path(p) for p in args.put}
        batch = run_batch([(f"c{i}", s) for i, s in enumerate(args.script)], files,
                          python=args.python)
        for name, res in batch.results.items():
            print(f"--- {name} rc={res.rc}")
            sys.stdout.write(res.text)
            if res.stderr:
                sys.stdout.write("[stderr] " + res.stderr.decode(errors="replace"))
        print(f"--- boot {batch.boot_s:.1f} s, total {batch.total_s:.1f} s, "
              f"build {batch.timings['build']:.1f} s")
        return 0
    except GuestError as e:
        print(f"guest: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
