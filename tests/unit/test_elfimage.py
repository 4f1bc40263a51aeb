"""sigdbg.decode.elfimage against readelf on real images.

The images: this machine's live 64-bit and 32-bit vDSOs, each read out of a
child process started here (through /proc/PID/mem), glibc's libc.so.6, and a
small shared library built here with symbol versions and a .symtab.  readelf
(binutils) is the independent truth for every symbol, version, note and size.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from sigdbg.decode.elfimage import (
    ElfImage,
    ElfSymbol,
    image_size_from_headers,
    parse_elf_image,
)
from sigdbg.errors import DecodeError, FeatureUnavailable

ROOT = Path(__file__).resolve().parents[2]
LIBC = Path("/lib/x86_64-linux-gnu/libc.so.6")

pytestmark = pytest.mark.skipif(shutil.which("readelf") is None, reason="needs binutils readelf")


# --------------------------------------------------------------------------
# Dumping a child's [vdso]


from tests.vdso_dump import dump_vdso as _dump_vdso  # noqa: E402


@dataclass(frozen=True)
class Dump:
    path: Path  # the dumped mapping, for readelf
    data: bytes  # the whole [vdso] mapping
    mapping_size: int


def dump_vdso(argv: list[str], exe: str, out: Path) -> Dump:
    """Start ``argv``, wait until it has exec'd ``exe`` and has a [vdso], read it."""
    data = _dump_vdso(argv, exe, out)
    return Dump(out, data, len(data))  # the whole mapping was read


@pytest.fixture(scope="module")
def vdso64(tmp_path_factory: pytest.TempPathFactory) -> Dump:
    sleep = shutil.which("sleep")
    assert sleep is not None
    return dump_vdso([sleep, "30"], os.path.realpath(sleep),
                     tmp_path_factory.mktemp("vdso64") / "vdso64.so")


@pytest.fixture(scope="module")
def vdso32(tmp_path_factory: pytest.TempPathFactory) -> Dump:
    tmp = tmp_path_factory.mktemp("vdso32")
    src = tmp / "spin.c"
    src.write_text("void _start(void) { for (;;); }\n")
    exe = tmp / "spin32"
    built = subprocess.run(["gcc", "-m32", "-ffreestanding", "-nostdlib", "-static", "-O0",
                            "-o", str(exe), str(src)], capture_output=True, text=True)
    if built.returncode != 0:
        pytest.skip(f"cannot build an i386 program here: {built.stderr.strip()[:200]}")
    return dump_vdso([str(exe)], os.path.realpath(exe), tmp / "vdso32.so")


@pytest.fixture(params=["vdso64", "vdso32"])
def vdso(request: pytest.FixtureRequest) -> Dump:
    dump: Dump = request.getfixturevalue(request.param)
    return dump


@pytest.fixture(scope="module")
def libt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A shared library with a hidden and a default version of ``foo``, a
    versioned import (puts@GLIBC_...) and a LOCAL ``helper`` only in .symtab."""
    tmp = tmp_path_factory.mktemp("libt")
    (tmp / "t.c").write_text(
        "__attribute__((noinline, used)) static int helper(int x) { return x + 1; }\n"
        "int foo_v1(int x) { return helper(x); }\n"
        "int foo_v2(int x) { return helper(x) * 2; }\n"
        '__asm__(".symver foo_v1,foo@VERS_1");\n'
        '__asm__(".symver foo_v2,foo@@VERS_2");\n'
        "int bar(void) { return 0; }\n"
        "int counter = 3;\n"
        "extern int puts(const char *);\n"
        'int hello(void) { return puts("hi"); }\n'
    )
    (tmp / "t.map").write_text(
        "VERS_1 { global: foo; bar; counter; hello; local: *; };\n"
        "VERS_2 { global: foo; } VERS_1;\n"
    )
    out = tmp / "libt.so"
    built = subprocess.run(["gcc", "-shared", "-fPIC", "-O1", f"-Wl,--version-script={tmp}/t.map",
                            "-Wl,-soname,libt.so.1", "-o", str(out), str(tmp / "t.c")],
                           capture_output=True, text=True)
    if built.returncode != 0:
        pytest.skip(f"cannot build a shared library here: {built.stderr.strip()[:200]}")
    return out


# --------------------------------------------------------------------------
# readelf, parsed


def readelf(*args: str | Path) -> str:
    return subprocess.run(["readelf", "-W", *map(str, args)], capture_output=True, text=True,
                          check=True).stdout


SYM_RE = re.compile(r"^\s*(\d+):\s+([0-9a-f]+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)(?: (.*))?$")


def readelf_symbols(path: Path, table: str) -> list[tuple[str, int, int, str, str, str]]:
    """(name as printed, value, size, type, bind, Ndx) of ``table`` without entry 0.

    readelf's " (n)" after an undefined symbol's version (the vna_other
    index) is dropped: it is not part of the name.
    """
    flag = "--dyn-syms" if table == ".dynsym" else "--syms"
    rows = []
    inside = False
    for line in readelf(flag, path).splitlines():
        if line.startswith("Symbol table '"):
            inside = line.startswith(f"Symbol table '{table}'")
            continue
        m = SYM_RE.match(line)
        if not inside or not m or int(m[1]) == 0:
            continue
        name = re.sub(r" \(\d+\)$", "", m[8] or "")
        rows.append((name, int(m[2], 16), int(m[3], 0), m[4], m[5], m[7]))
    return rows


def ours(img: ElfImage, table: str) -> list[tuple[str, int, int, str, str, str]]:
    return [(s.versioned_name, s.value, s.size, s.type, s.bind, str(s.section))
            for s in img.symbols if s.table == table]


def readelf_version_definitions(path: Path) -> list[str]:
    return [m[2] for m in re.finditer(r"Flags: (\S+)\s+Index: \d+\s+Cnt: \d+\s+Name: (\S+)",
                                      readelf("-V", path)) if m[1] != "BASE"]


def readelf_header_field(path: Path, field: str) -> str:
    m = re.search(rf"^\s*{re.escape(field)}:\s+(\S+)", readelf("-h", path), re.M)
    assert m, field
    return m[1]


def readelf_extent(path: Path) -> int:
    """max(p_offset + p_filesz, e_shoff + e_shnum * e_shentsize), from readelf."""
    text = readelf("-h", "-l", path)
    shoff = int(re.search(r"Start of section headers:\s+(\d+)", text)[1])  # type: ignore[index]
    shnum = int(re.search(r"Number of section headers:\s+(\d+)", text)[1])  # type: ignore[index]
    shent = int(re.search(r"Size of section headers:\s+(\d+)", text)[1])  # type: ignore[index]
    ends = [int(m[1], 16) + int(m[2], 16) for m in re.finditer(
        r"^\s+[A-Z][A-Z_+0-9x]*\s+0x([0-9a-f]+)\s+0x[0-9a-f]+\s+0x[0-9a-f]+\s+0x([0-9a-f]+)\s",
        text, re.M)]
    assert ends
    return max(max(ends), shoff + shnum * shent)


def readelf_notes(path: Path) -> list[tuple[str, int]]:
    """(owner, data size) of every note readelf -n lists."""
    return [(m[1], int(m[2], 16)) for m in re.finditer(
        r"^\s{2}(\S+)\s+0x([0-9a-f]{8})\s", readelf("-n", path), re.M)]


# --------------------------------------------------------------------------
# The live vDSOs


def test_vdso_dynamic_symbols_equal_readelf(vdso: Dump) -> None:
    img = parse_elf_image(vdso.data)
    theirs = readelf_symbols(vdso.path, ".dynsym")
    assert theirs and ours(img, "dynsym") == theirs
    assert list(img.version_definitions) == readelf_version_definitions(vdso.path)
    # Every versioned symbol: version kept apart from the name, default version.
    for sym in img.symbols:
        if sym.section != "ABS":
            assert sym.version is not None and sym.versioned_name == f"{sym.name}@@{sym.version}"
            assert not sym.version_hidden


def test_vdso_header_facts_equal_readelf(vdso: Dump) -> None:
    img = parse_elf_image(vdso.data)
    assert img.entry == int(readelf_header_field(vdso.path, "Entry point address"), 16)
    assert img.elfclass == int(readelf_header_field(vdso.path, "Class").removeprefix("ELF"))
    soname = re.search(r"\(SONAME\)\s+Library soname: \[(.*)\]", readelf("-d", vdso.path))
    assert soname and img.soname == soname[1]
    assert img.load_bias_hint == 0  # the vDSO is linked at 0


def test_vdso_notes_equal_readelf(vdso: Dump) -> None:
    img = parse_elf_image(vdso.data)
    assert [(n.owner, len(n.desc)) for n in img.notes] == readelf_notes(vdso.path)
    text = readelf("-n", vdso.path)
    build_id = re.search(r"Build ID: ([0-9a-f]+)", text)
    assert build_id and img.build_id == build_id[1]
    # The kernel's version note: readelf does not know it and dumps its bytes.
    raw = re.search(r"Unknown note type: \(0x00000000\)\s+description data: ((?:[0-9a-f]{2} )+)",
                    text)
    assert raw
    code = int.from_bytes(bytes.fromhex(raw[1]), "little")
    assert img.linux_version == code and code > 0
    assert img.linux_version_tuple == (code >> 16, (code >> 8) & 0xFF, code & 0xFF)
    names = {(n.owner, n.type): n.type_name for n in img.notes}
    assert names[("GNU", 3)] == "NT_GNU_BUILD_ID"
    assert names[("Linux", 0)] == "LINUX_VERSION_CODE"


def test_vdso_image_size_from_first_page(vdso: Dump) -> None:
    size = image_size_from_headers(vdso.data[:4096])
    assert size == readelf_extent(vdso.path)
    assert size <= vdso.mapping_size
    assert image_size_from_headers(vdso.data) == size
    whole = parse_elf_image(vdso.data)
    exact = parse_elf_image(vdso.data[:size])
    assert exact == whole and exact.size == size
    with pytest.raises(DecodeError, match="truncated"):
        parse_elf_image(vdso.data[:size - 1])


def test_i386_vdso_facts(vdso32: Dump) -> None:
    img = parse_elf_image(vdso32.data)
    assert (img.elfclass, img.machine, img.soname) == (32, "EM_386", "linux-gate.so.1")
    assert {"LINUX_2.5", "LINUX_2.6"} <= set(img.version_definitions)
    for name in ("__kernel_rt_sigreturn", "__kernel_sigreturn", "__kernel_vsyscall"):
        sym = img.lookup(name)
        assert sym is not None and (sym.type, sym.bind) == ("FUNC", "GLOBAL")
        assert sym.version == "LINUX_2.5" and sym.versioned_name == f"{name}@@LINUX_2.5"
    vsyscall = img.lookup("__kernel_vsyscall")
    assert vsyscall is not None and img.entry == vsyscall.value
    assert img.symbol_at(img.entry) == (vsyscall, 0)
    assert img.lookup("__kernel_rt_sigreturn@@LINUX_2.5") == img.lookup("__kernel_rt_sigreturn")
    assert img.lookup("__kernel_rt_sigreturn@LINUX_2.6") is None


def test_x86_64_vdso_facts(vdso64: Dump) -> None:
    img = parse_elf_image(vdso64.data)
    assert (img.elfclass, img.machine, img.soname) == (64, "EM_X86_64", "linux-vdso.so.1")
    cg = img.lookup("__vdso_clock_gettime")
    assert cg is not None and cg.version == "LINUX_2.6"
    assert cg.versioned_name == "__vdso_clock_gettime@@LINUX_2.6"
    assert img.lookup("__kernel_rt_sigreturn") is None  # no trampoline in the 64-bit vDSO
    assert img.lookup("no_such_symbol") is None


def test_vdso_symbol_at_prefers_kernel_names_over_weak_aliases(vdso64: Dump) -> None:
    img = parse_elf_image(vdso64.data)
    cg = img.lookup("__vdso_clock_gettime")
    alias = img.lookup("clock_gettime")
    assert cg is not None and alias is not None
    assert (alias.bind, cg.bind) == ("WEAK", "GLOBAL") and alias.value == cg.value
    assert img.symbol_at(cg.value) == (cg, 0)
    assert img.symbol_at(cg.value + 5) == (cg, 5)
    assert img.symbol_at(cg.value + cg.size - 1) == (cg, cg.size - 1)
    after = img.symbol_at(cg.value + cg.size)
    assert after is None or after[0].value >= cg.value + cg.size
    # Offset 0 is the ELF header: the ABS version markers must not claim it.
    assert img.symbol_at(0) is None
    # Every __vdso_ function is found at each of its bytes, never its alias.
    for sym in img.symbols:
        if sym.name.startswith("__vdso_"):
            for off in (0, sym.size // 2, sym.size - 1):
                assert img.symbol_at(sym.value + off) == (sym, off)


def test_symbol_at_ranking_rules() -> None:
    """The tie-breaks, on a hand-made image: sized over zero-sized, GLOBAL over
    WEAK over LOCAL, kernel prefixes, then fewer leading underscores."""

    def sym(name: str, value: int, size: int, bind: str = "GLOBAL") -> ElfSymbol:
        return ElfSymbol(name, value, size, "FUNC", bind, "LINUX_2.6", False, 12)

    def image(*syms: ElfSymbol) -> ElfImage:
        return ElfImage(64, "EM_X86_64", 0, None, syms, (), (), None, None, 0, 0x2000)

    t, vt = sym("time", 0x100, 0x20), sym("__vdso_time", 0x100, 0x20)
    assert image(t, vt).symbol_at(0x104) == (vt, 4)
    assert image(vt, t).symbol_at(0x104) == (vt, 4)
    weak = sym("__vdso_x", 0x100, 0x20, "WEAK")
    assert image(weak, t).symbol_at(0x101) == (t, 1)
    local = sym("__kernel_y", 0x100, 0x20, "LOCAL")
    assert image(local, weak).symbol_at(0x101) == (weak, 1)
    marker = sym("mark", 0x100, 0)
    assert image(marker, local).symbol_at(0x100) == (local, 0)
    assert image(marker).symbol_at(0x100) == (marker, 0)
    assert image(marker).symbol_at(0x101) is None
    assert image(sym("_IO_puts", 0x100, 8), sym("puts", 0x100, 8)).symbol_at(0x100) == (
        sym("puts", 0x100, 8), 0)
    # A big function far below still contains an address past a small one.
    big, small = sym("big", 0x0, 0x1000), sym("small", 0x10, 0x10)
    assert image(big, small).symbol_at(0x800) == (big, 0x800)
    assert image(big, small).symbol_at(0x1000) is None


# --------------------------------------------------------------------------
# Shared libraries


@pytest.mark.skipif(not LIBC.exists(), reason="no x86_64 glibc at the Debian path")
def test_libc_dynamic_symbols_equal_readelf() -> None:
    img = parse_elf_image(LIBC.read_bytes())
    theirs = readelf_symbols(LIBC, ".dynsym")
    assert len(theirs) > 1000 and ours(img, "dynsym") == theirs
    assert list(img.version_definitions) == readelf_version_definitions(LIBC)
    assert img.soname == "libc.so.6" and img.machine == "EM_X86_64"
    build_id = re.search(r"Build ID: ([0-9a-f]+)", readelf("-n", LIBC))
    assert build_id and img.build_id == build_id[1]
    assert img.size == LIBC.stat().st_size == image_size_from_headers(LIBC.read_bytes()[:4096])
    # Default and hidden versions of one name, and lookups by version.
    defaults = [row for row in theirs if "@@" in row[0]]
    hidden = [row for row in theirs if "@" in row[0] and "@@" not in row[0] and row[5] != "UND"]
    assert defaults and hidden
    for row in defaults[:50]:
        name, version = row[0].split("@@")
        sym = img.lookup(name)
        assert sym is not None and (sym.version, sym.value) == (version, row[1])
    for row in hidden[:50]:
        sym = img.lookup(row[0])
        assert sym is not None and sym.version_hidden and sym.versioned_name == row[0]
    printf = img.lookup("printf")
    assert printf is not None and printf.type == "FUNC"
    assert img.symbol_at(printf.value + 1) == (printf, 1)  # not its alias _IO_printf


@pytest.mark.skipif(not LIBC.exists(), reason="no x86_64 glibc at the Debian path")
def test_libc_symtab_only_when_present() -> None:
    img = parse_elf_image(LIBC.read_bytes(), include_symtab=True)
    theirs = readelf_symbols(LIBC, ".symtab")
    assert ours(img, "symtab") == theirs  # empty on a stripped (Debian) libc


def test_versioned_library_dynsym_and_symtab(libt: Path) -> None:
    plain = parse_elf_image(libt.read_bytes())
    img = parse_elf_image(libt.read_bytes(), include_symtab=True)
    assert ours(img, "dynsym") == readelf_symbols(libt, ".dynsym") == ours(plain, "dynsym")
    assert ours(img, "symtab") == readelf_symbols(libt, ".symtab")
    assert ours(plain, "symtab") == []
    assert img.soname == "libt.so.1"
    assert img.version_definitions == ("VERS_1", "VERS_2")

    default, old = img.lookup("foo"), img.lookup("foo@VERS_1")
    assert default is not None and old is not None
    assert (default.version, default.version_hidden) == ("VERS_2", False)
    assert (old.version, old.version_hidden, old.versioned_name) == ("VERS_1", True, "foo@VERS_1")
    assert default.value != old.value
    puts = img.lookup("puts")
    assert puts is not None and puts.section == "UND" and puts.version
    assert puts.versioned_name == f"puts@{puts.version}"
    assert img.lookup("counter") is not None and img.lookup("counter").type == "OBJECT"  # type: ignore[union-attr]

    # helper is LOCAL and lives only in .symtab.
    helper = img.lookup("helper")
    assert helper is not None and (helper.bind, helper.table) == ("LOCAL", "symtab")
    assert plain.lookup("helper") is None
    assert img.symbol_at(helper.value + 1) == (helper, 1)
    assert plain.symbol_at(helper.value + 1) is None
    # foo@VERS_1 and the LOCAL foo_v1 share an address: the exported name wins.
    hit = img.symbol_at(old.value)
    assert hit == (old, 0)


# --------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize("data", [
    b"",
    b"\x7fEL",
    b"\x7fELF",
    b"\x7fELF" + bytes(range(60)),
    b"\x7fELF\x02\x01\x01" + bytes(9) + b"\xff" * 48,
    b"\x7fELF\x01\x01\x01" + bytes(9) + b"\x5a" * 200,
    b"MZ\x90\x00" + bytes(200),
    random.Random(1).randbytes(4096),
    b"\x7fELF\x02\x01" + random.Random(2).randbytes(4090),
    b"\x7fELF\x01\x01" + random.Random(3).randbytes(8000),
], ids=lambda d: f"{len(d)}b")
def test_bad_input_is_decode_error(data: bytes) -> None:
    with pytest.raises(DecodeError) as info:
        parse_elf_image(data)
    assert "\n" not in str(info.value)
    try:
        image_size_from_headers(data)
    except DecodeError as err:
        assert "\n" not in str(err)


def test_not_elf_message() -> None:
    with pytest.raises(DecodeError, match=r"^not an ELF image: "):
        parse_elf_image(b"MZ" + bytes(100))
    with pytest.raises(DecodeError, match=r"^not an ELF image: "):
        image_size_from_headers(b"")


def test_truncated_header_of_real_image(vdso64: Dump) -> None:
    for n in (20, 40, 63):
        with pytest.raises(DecodeError):
            parse_elf_image(vdso64.data[:n])
    # Program headers cut off: the size cannot be known.
    with pytest.raises(DecodeError):
        image_size_from_headers(vdso64.data[:70])


def test_corrupted_images_never_leak_foreign_exceptions(vdso: Dump) -> None:
    """Random byte damage anywhere: the result is an image or a DecodeError."""
    rnd = random.Random(0x5D)
    size = image_size_from_headers(vdso.data)
    parsed = errors = 0
    for _ in range(250):
        buf = bytearray(vdso.data[:size])
        for _ in range(rnd.choice((1, 2, 4, 16))):
            buf[rnd.randrange(len(buf) if rnd.random() < 0.5 else 0x600)] = rnd.randrange(256)
        try:
            img = parse_elf_image(bytes(buf))
        except DecodeError as err:
            assert "\n" not in str(err)
            errors += 1
            continue
        parsed += 1
        for sym in img.symbols:
            assert isinstance(sym.versioned_name, str)
        img.symbol_at(0x700)
        img.lookup("__vdso_time")
    assert parsed and errors  # both paths were exercised


# --------------------------------------------------------------------------
# Without pyelftools


def test_without_pyelftools(monkeypatch: pytest.MonkeyPatch, vdso64: Dump) -> None:
    for name in [m for m in sys.modules if m == "elftools" or m.startswith("elftools.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "elftools", None)
    with pytest.raises(FeatureUnavailable, match=r"^pyelftools is not installed: ") as info:
        parse_elf_image(vdso64.data)
    assert "\n" not in str(info.value)
    # Header arithmetic needs only struct.
    assert image_size_from_headers(vdso64.data[:4096]) == readelf_extent(vdso64.path)


def test_module_imports_without_pyelftools() -> None:
    code = (
        "import sys\n"
        "sys.modules['elftools'] = None\n"
        "sys.modules['capstone'] = None\n"
        "import sigdbg.decode.elfimage as m\n"
        "assert 'elftools' not in [k for k in sys.modules if sys.modules[k] is not None]\n"
        "print(m.parse_elf_image.__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "parse_elf_image"
