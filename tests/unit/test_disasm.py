"""sigdbg.decode.disasm: capstone output on kernel-fixed byte sequences and on
the live vDSO, checked against objdump on the dumped image."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sigdbg.decode import disasm
from sigdbg.decode.disasm import Disassembler, Instruction, get_disassembler
from sigdbg.errors import DecodeError, FeatureUnavailable

ROOT = Path(__file__).resolve().parents[2]

pytest.importorskip("capstone")


# --------------------------------------------------------------------------
# Dumping a child's [vdso]


from tests.vdso_dump import dump_vdso  # noqa: E402  (shared with test_elfimage)


@pytest.fixture(scope="module")
def vdso64(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    sleep = shutil.which("sleep")
    assert sleep is not None
    path = tmp_path_factory.mktemp("vdso64") / "vdso64.so"
    return path, dump_vdso([sleep, "30"], os.path.realpath(sleep), path)


@pytest.fixture(scope="module")
def vdso32(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    tmp = tmp_path_factory.mktemp("vdso32")
    src = tmp / "spin.c"
    src.write_text("void _start(void) { for (;;); }\n")
    exe = tmp / "spin32"
    built = subprocess.run(["gcc", "-m32", "-ffreestanding", "-nostdlib", "-static", "-O0",
                            "-o", str(exe), str(src)], capture_output=True, text=True)
    if built.returncode != 0:
        pytest.skip(f"cannot build an i386 program here: {built.stderr.strip()[:200]}")
    path = tmp / "vdso32.so"
    return path, dump_vdso([str(exe)], os.path.realpath(exe), path)


def readelf_symbol(path: Path, name: str) -> tuple[int, int]:
    """(value, size) of a dynamic symbol, from readelf (not from our ELF parser)."""
    if shutil.which("readelf") is None:
        pytest.skip("needs binutils readelf")
    out = subprocess.run(["readelf", "--dyn-syms", "-W", str(path)], capture_output=True,
                         text=True, check=True).stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 8 and parts[7].split("@")[0] == name:
            return int(parts[1], 16), int(parts[2], 0)
    raise AssertionError(f"{name} not in {path}")


def objdump(path: Path, start: int, stop: int, syntax: str) -> list[tuple[int, bytes, str]]:
    """(address, bytes, mnemonic) of each instruction objdump decodes in [start, stop)."""
    args = ["objdump", "-d", "--insn-width=16", f"--start-address={start:#x}",
            f"--stop-address={stop:#x}", str(path)]
    if syntax == "intel":
        args[1:1] = ["-M", "intel"]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    rows = []
    for m in re.finditer(r"^\s*([0-9a-f]+):\t((?:[0-9a-f]{2} )+)\s*\t(\S+)", out, re.M):
        rows.append((int(m[1], 16), bytes.fromhex(m[2]), m[3]))
    return rows


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    disasm.clear_cache()
    yield
    disasm.clear_cache()


# --------------------------------------------------------------------------
# Fixed byte sequences


RT_SIGRETURN_32 = bytes.fromhex("b8ad000000cd80")
SIGRETURN_32 = bytes.fromhex("58b877000000cd80")


@pytest.mark.parametrize(("syntax", "expected"), [
    ("att", [("movl", "$0xad, %eax"), ("int", "$0x80")]),
    ("intel", [("mov", "eax, 0xad"), ("int", "0x80")]),
])
def test_i386_vdso_rt_sigreturn(vdso32: tuple[Path, bytes], syntax: str,
                                expected: list[tuple[str, str]]) -> None:
    path, data = vdso32
    value, size = readelf_symbol(path, "__kernel_rt_sigreturn")
    code = data[value:value + size]
    assert code.startswith(RT_SIGRETURN_32)  # the kernel keeps these bytes fixed
    insns = Disassembler("i386", syntax).disassemble(code, 0xF7F00000 + value)
    assert [(i.mnemonic, i.op_str) for i in insns[:2]] == expected
    assert [i.is_syscall for i in insns[:2]] == [False, True]
    assert insns[0].address == 0xF7F00000 + value and insns[1].address == insns[0].address + 5
    assert insns[0].bytes == RT_SIGRETURN_32[:5] and insns[1].bytes == b"\xcd\x80"
    assert insns[1].text == ("int $0x80" if syntax == "att" else "int 0x80")


@pytest.mark.parametrize(("syntax", "expected"), [
    ("att", [("popl", "%eax"), ("movl", "$0x77, %eax"), ("int", "$0x80")]),
    ("intel", [("pop", "eax"), ("mov", "eax, 0x77"), ("int", "0x80")]),
])
def test_i386_vdso_sigreturn(vdso32: tuple[Path, bytes], syntax: str,
                             expected: list[tuple[str, str]]) -> None:
    path, data = vdso32
    value, size = readelf_symbol(path, "__kernel_sigreturn")
    code = data[value:value + size]
    assert code.startswith(SIGRETURN_32)
    insns = get_disassembler("i386", syntax).disassemble(code, value, count=3)
    assert [(i.mnemonic, i.op_str) for i in insns] == expected
    assert [i.is_syscall for i in insns] == [False, False, True]
    assert [i.size for i in insns] == [1, 5, 2]


def test_x86_64_rt_sigreturn_bytes() -> None:
    code = bytes.fromhex("48c7c00f0000000f05")
    att = Disassembler("x86_64").disassemble(code, 0x7F0000001000)
    assert [(i.mnemonic, i.op_str) for i in att] == [("movq", "$0xf, %rax"), ("syscall", "")]
    assert [i.is_syscall for i in att] == [False, True]
    assert [i.address for i in att] == [0x7F0000001000, 0x7F0000001007]
    assert att[0].bytes == code[:7] and att[1].bytes == b"\x0f\x05"
    assert att[1].text == "syscall" and att[0].text == "movq $0xf, %rax"
    intel = Disassembler("x86_64", syntax="intel").disassemble(code, 0)
    assert [i.text for i in intel] == ["mov rax, 0xf", "syscall"]


def test_one_count_and_invalid_bytes() -> None:
    dis = get_disassembler("x86_64")
    # shared: asking again configures no second capstone handle (counted, the
    # cache starts empty: fresh_cache)
    assert get_disassembler("x86_64").mode == dis.mode
    assert disasm._capstone_handle.cache_info().misses == 1
    code = bytes.fromhex("48c7c00f0000000f05")
    first = dis.one(code, 0x1000)
    assert first == Instruction(0x1000, 7, code[:7], "movq", "$0xf, %rax")
    assert len(dis.disassemble(code, 0x1000, count=1)) == 1
    assert dis.one(b"", 0) is None
    assert dis.one(b"\x0f", 0) is None  # incomplete
    assert dis.one(b"\x06", 0) is None  # push %es: invalid in 64-bit mode
    assert [i.mnemonic for i in get_disassembler("i386").disassemble(b"\x06", 0)] == ["pushl"]
    # Decoding stops at the first undecodable byte.
    assert [i.mnemonic for i in dis.disassemble(b"\x90\x90\x06\x90", 0)] == ["nop", "nop"]


def test_other_architectures() -> None:
    a64 = get_disassembler("aarch64").disassemble(bytes.fromhex("681180d2010000d4"), 0)
    assert [(i.mnemonic, i.op_str, i.is_syscall) for i in a64] == [
        ("mov", "x8, #0x8b", False), ("svc", "#0", True)]
    arm = get_disassembler("arm").disassemble(bytes.fromhex("ad70a0e3000000ef"), 0)
    assert [(i.mnemonic, i.op_str, i.is_syscall) for i in arm] == [
        ("mov", "r7, #0xad", False), ("svc", "#0", True)]
    thumb = get_disassembler("thumb").disassemble(bytes.fromhex("ad2700df"), 0)
    assert [(i.mnemonic, i.op_str, i.size) for i in thumb] == [
        ("movs", "r7, #0xad", 2), ("svc", "#0", 2)]
    # syntax only matters for x86; "intel" and "att" both work elsewhere.
    assert get_disassembler("arm", "intel").one(bytes.fromhex("000000ef"), 0) is not None


def test_is_syscall_x86_forms() -> None:
    def insn(mnemonic: str, op_str: str = "") -> Instruction:
        return Instruction(0, 2, b"\0\0", mnemonic, op_str)

    assert insn("syscall").is_syscall and insn("sysenter").is_syscall
    assert insn("int", "$0x80").is_syscall and insn("int", "0x80").is_syscall
    assert not insn("int", "$0x3").is_syscall and not insn("int3").is_syscall
    assert not insn("sysret").is_syscall and not insn("call", "*%gs:0x10").is_syscall
    # The i386 vDSO's fast-path bytes, decoded for real.
    vsys = get_disassembler("i386").disassemble(bytes.fromhex("0f34cd800f05"), 0)
    assert [(i.mnemonic, i.is_syscall) for i in vsys] == [
        ("sysenter", True), ("int", True), ("syscall", True)]


def test_unknown_mode_and_syntax() -> None:
    with pytest.raises(DecodeError, match="unknown disassembly mode 'mips'"):
        Disassembler("mips")
    with pytest.raises(DecodeError, match="unknown disassembly syntax 'masm'"):
        Disassembler("x86_64", "masm")
    with pytest.raises(DecodeError):
        get_disassembler("z80")
    assert Disassembler("amd64").mode == "x86_64"
    assert Disassembler("arm64").mode == "aarch64"


# --------------------------------------------------------------------------
# The live vDSO against objdump


@pytest.mark.skipif(shutil.which("objdump") is None, reason="needs binutils objdump")
@pytest.mark.parametrize("syntax", ["att", "intel"])
@pytest.mark.parametrize("which", ["vdso64", "vdso32"])
def test_vdso_getcpu_matches_objdump(request: pytest.FixtureRequest, which: str,
                                     syntax: str) -> None:
    path, data = request.getfixturevalue(which)
    value, size = readelf_symbol(path, "__vdso_getcpu")
    theirs = objdump(path, value, value + size, syntax)
    assert theirs and sum(len(b) for _, b, _ in theirs) == size
    mode = "x86_64" if which == "vdso64" else "i386"
    insns = Disassembler(mode, syntax).disassemble(data[value:value + size], value)
    assert [(i.address, i.bytes) for i in insns] == [(a, b) for a, b, _ in theirs]
    if syntax == "intel":
        # Intel mnemonics carry no size suffix: they must agree exactly.
        assert [i.mnemonic for i in insns] == [m for _, _, m in theirs]
    else:
        # capstone always spells the AT&T size suffix, objdump only when needed.
        for ours, (_, _, m) in zip(insns, theirs):
            assert ours.mnemonic == m or ours.mnemonic[:-1] == m, (ours, m)
    assert insns[-1].mnemonic.startswith("ret")


# --------------------------------------------------------------------------
# Without capstone


def test_capstone_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "capstone", None)
    disasm.clear_cache()
    for mode, syntax, cached in (("x86_64", "att", False), ("i386", "intel", True)):
        with pytest.raises(FeatureUnavailable) as info:
            get_disassembler(mode, syntax) if cached else Disassembler(mode, syntax)
        assert str(info.value) == "capstone is not installed: disassembly unavailable"
    # An unknown mode is still reported as such, without capstone too.
    with pytest.raises(DecodeError):
        Disassembler("sparc")


def test_capstone_missing_after_cache_was_warm(monkeypatch: pytest.MonkeyPatch) -> None:
    get_disassembler("x86_64")
    monkeypatch.setitem(sys.modules, "capstone", None)
    disasm.clear_cache()
    with pytest.raises(FeatureUnavailable):
        get_disassembler("x86_64")
    monkeypatch.undo()
    disasm.clear_cache()
    assert get_disassembler("x86_64").one(b"\x90", 0) is not None


def test_module_imports_without_capstone() -> None:
    code = (
        "import sys\n"
        "sys.modules['capstone'] = None\n"
        "sys.modules['elftools'] = None\n"
        "import sigdbg.decode.disasm as d\n"
        "from sigdbg.errors import FeatureUnavailable\n"
        "try:\n"
        "    d.Disassembler('x86_64')\n"
        "except FeatureUnavailable as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "capstone is not installed: disassembly unavailable"
