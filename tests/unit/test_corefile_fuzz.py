"""Malformed core files: only sigdbg's own errors escape, never a traceback.

Real cores (dumped by the kernel from targets/core_crash and
core_crash.i386) are mutated the ways a damaged or hostile file is: cut
short, header fields, program headers and note headers overwritten, random
bytes flipped.  Deterministic (fixed seed), so a failure reproduces.  Each
mutant goes through everything that reads a core: ``read_core``, the note
accessors, and the core target's reports (threads, siginfo, auxv, maps,
vDSO, the signal-frame walk).
"""

from __future__ import annotations

import random
import struct

import pytest

from sigdbg.api import open_core
from sigdbg.decode.corefile import CoreFile, read_core
from sigdbg.engine.coretarget import core_report
from sigdbg.errors import DecodeError, SigdbgError
from tests.conftest import target
from tests.coredump import kernel_core

SEED = 20261202


@pytest.fixture(scope="module")
def real_cores(tmp_path_factory: pytest.TempPathFactory) -> dict[int, bytes]:
    base = tmp_path_factory.mktemp("fuzzcores")
    out = {}
    for bits, prog in ((64, "core_crash"), (32, "core_crash.i386")):
        path, _ = kernel_core([target(prog), "nested"], base / prog)
        out[bits] = path.read_bytes()
    return out


def _layout(data: bytes) -> tuple[int, list[tuple[int, int]], list[int]]:
    """(bits, [(offset of each phdr, p_type)], [offset of each note header])."""
    bits = 64 if data[4] == 2 else 32
    if bits == 64:
        phoff, = struct.unpack_from("<Q", data, 32)
        phentsize, phnum = struct.unpack_from("<HH", data, 54)
    else:
        phoff, = struct.unpack_from("<I", data, 28)
        phentsize, phnum = struct.unpack_from("<HH", data, 42)
    phdrs, notes = [], []
    for i in range(phnum):
        at = phoff + i * phentsize
        p_type = struct.unpack_from("<I", data, at)[0]
        phdrs.append((at, p_type))
        if p_type == 4:  # p_offset and p_filesz
            if bits == 64:
                off, size = struct.unpack_from("<Q", data, at + 8)[0], \
                    struct.unpack_from("<Q", data, at + 32)[0]
            else:
                off, size = struct.unpack_from("<I", data, at + 4)[0], \
                    struct.unpack_from("<I", data, at + 16)[0]
            pos = 0
            while pos + 12 <= size:
                notes.append(off + pos)
                namesz, descsz = struct.unpack_from("<II", data, off + pos)
                pos += 12 + ((namesz + 3) & ~3) + ((descsz + 3) & ~3)
    return bits, phdrs, notes


_HUGE = (0, 1, 0x7FFFFFFF, 0xFFFFFFFF, 0x80000000, 0xFFFFFFFFFFFFFFF8, 1 << 40, 0x1000)


def mutate(data: bytes, rng: random.Random) -> bytes:
    bits, phdrs, notes = _layout(data)
    buf = bytearray(data)
    w = "<Q" if bits == 64 else "<I"
    mask = (1 << bits) - 1
    what = rng.randrange(11)
    if what == 0:  # cut short anywhere, mostly in the headers and notes
        end = notes[-1] + 64 if notes else 4096
        return bytes(buf[: rng.randrange(0, end if rng.random() < 0.8 else len(buf))])
    if what == 1:  # ELF header fields
        field = rng.choice([(4, "B"), (5, "B"), (16, "<H"), (18, "<H"),
                            (32 if bits == 64 else 28, w), (54 if bits == 64 else 42, "<H"),
                            (56 if bits == 64 else 44, "<H")])
        size = struct.calcsize(field[1])
        struct.pack_into(field[1], buf, field[0], rng.choice(_HUGE) & ((1 << 8 * size) - 1)
                         if rng.random() < 0.5 else rng.getrandbits(8 * size))
    elif what in (2, 3):  # a program header: offset, vaddr, filesz, memsz
        at, _ = rng.choice(phdrs)
        offs = (8, 16, 32, 40) if bits == 64 else (4, 8, 16, 20)
        value = rng.choice(_HUGE) if rng.random() < 0.6 else rng.getrandbits(bits)
        struct.pack_into(w, buf, at + rng.choice(offs), value & mask)
    elif what in (4, 5) and notes:  # a note header: namesz, descsz, type
        at = rng.choice(notes)
        value = rng.choice(_HUGE) if rng.random() < 0.6 else rng.getrandbits(32)
        struct.pack_into("<I", buf, at + rng.choice((0, 4, 8)), value & 0xFFFFFFFF)
    elif what == 6 and notes:  # a note's contents (prstatus, auxv, NT_FILE counts ...)
        at = rng.choice(notes)
        namesz, descsz = struct.unpack_from("<II", buf, at)
        desc = at + 12 + ((namesz + 3) & ~3)
        for _ in range(rng.randrange(1, 8)):
            pos = desc + rng.randrange(max(1, min(descsz, 4096)))
            if pos + 8 <= len(buf):
                struct.pack_into(w, buf, pos, rng.choice(_HUGE) & mask)
    elif what == 7:  # two PT_LOADs made to overlap
        loads = [at for at, t in phdrs if t == 1]
        a, b = rng.sample(loads, 2)
        buf[b:b + (56 if bits == 64 else 32)] = buf[a:a + (56 if bits == 64 else 32)]
    elif what == 8:  # random bytes in the first pages
        for _ in range(rng.randrange(1, 16)):
            buf[rng.randrange(min(len(buf), 3 * 4096))] = rng.getrandbits(8)
    else:  # memory: the stack (signal frames) or the vDSO image (ELF parser)
        core = read_core_bytes(data)
        segs = [s for s in core.segments if s.filesz]
        if what == 9:  # the highest user mapping: [stack] ([vsyscall] is above 1 << 47)
            seg = max(segs, key=lambda s: s.vaddr if s.vaddr < 1 << 47 else 0)
        else:
            seg = rng.choice(segs)
        for _ in range(rng.randrange(1, 64)):
            pos = seg.offset + rng.randrange(seg.filesz)
            buf[pos] = rng.getrandbits(8)
    return bytes(buf)


def read_core_bytes(data: bytes) -> CoreFile:
    import tempfile

    with tempfile.NamedTemporaryFile() as fh:
        fh.write(data)
        fh.flush()
        return read_core(fh.name)


def exercise(path: str) -> str:
    """Everything that reads a core; any error must be one of sigdbg's.
    Returns how far the mutant got: rejected, notes, or target."""
    try:
        core = read_core(path)
    except SigdbgError:
        return "rejected"
    for fn in (CoreFile.threads, CoreFile.files, CoreFile.psinfo, CoreFile.auxv_dict):
        try:
            fn(core)
        except SigdbgError:
            pass
    try:
        target_ = open_core(path)
    except SigdbgError:
        return "notes"
    with target_:
        for step in (lambda: core_report(target_), target_.auxv, target_.maps,
                     target_.vdso_report, target_.siginfo, target_.sigframe):
            try:
                step()
            except SigdbgError:
                pass
    return "target"


@pytest.mark.timeout(240)
def test_mutated_real_cores_raise_only_sigdbg_errors(real_cores, tmp_path):
    rng = random.Random(SEED)
    path = tmp_path / "mutant"
    reached: dict[str, int] = {}
    for n in range(1000):
        bits = (64, 32)[n % 2]
        data = mutate(real_cores[bits], rng)
        path.write_bytes(data)
        try:
            how = exercise(str(path))
            reached[how] = reached.get(how, 0) + 1
        except Exception as exc:  # pragma: no cover - the failure report
            keep = tmp_path / f"failing-{n}.core"
            keep.write_bytes(data)
            raise AssertionError(f"mutant {n} ({bits}-bit, seed {SEED}) raised "
                                 f"{type(exc).__name__}: {exc}; kept as {keep}") from exc
    # the mutants reach every layer: some are refused, many go through the whole target
    assert reached.get("rejected", 0) > 100 and reached.get("target", 0) > 250, reached


def _with(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    buf = bytearray(data)
    struct.pack_into(fmt, buf, offset, value)
    return bytes(buf)


def test_each_kind_of_damage_has_a_clear_message(real_cores, tmp_path):
    data = real_cores[64]
    bits, phdrs, notes = _layout(data)
    note_ph = next(at for at, t in phdrs if t == 4)
    cases = {
        "not an ELF file": b"\x00" * 200,
        "not a core file": _with(data, 16, "<H", 2),  # ET_EXEC
        "machine 40": _with(data, 18, "<H", 40),  # EM_ARM
        "truncated": data[:300],  # inside the notes
        "runs past its PT_NOTE segment": _with(data, notes[0] + 4, "<I", 0xFFFFFF00),
        "beyond its end": _with(data, note_ph + 8, "<Q", 0xFFFFFFFFFFFFFFF8),  # "negative"
        "impossible": _with(data, phdrs[1][0] + 16, "<Q", 0xFFFFFFFFFFFFF800),  # vaddr
    }
    for needle, bad in cases.items():
        p = tmp_path / "bad"
        p.write_bytes(bad)
        with pytest.raises(DecodeError) as exc:
            read_core(str(p))
        msg = str(exc.value)
        assert needle in msg and "\n" not in msg, (needle, msg)


def test_overlapping_loads_and_a_truncated_dump_still_read(real_cores, tmp_path):
    """Damage that leaves the notes intact is no reason to refuse the core."""
    data = real_cores[32]
    bits, phdrs, _ = _layout(data)
    loads = [at for at, t in phdrs if t == 1]
    buf = bytearray(data)
    buf[loads[3]:loads[3] + 32] = buf[loads[2]:loads[2] + 32]  # two PT_LOADs, one range
    p = tmp_path / "overlap"
    p.write_bytes(bytes(buf))
    with open_core(str(p)) as t:
        assert len(t.signal_frames()) == 2
    cut = tmp_path / "cut"
    cut.write_bytes(data[: len(data) // 2])  # RLIMIT_CORE stops the kernel the same way
    core = read_core(str(cut))
    assert core.truncated and core.threads()
    assert not read_core(str(p)).truncated


@pytest.mark.timeout(180)
def test_cli_on_mutated_cores_prints_at_most_one_error_line(real_cores, tmp_path):
    """The CLI end to end: a damaged core is output or one `sigdbg: error:` line, never
    an internal error or a traceback."""
    import subprocess
    import sys

    rng = random.Random(SEED + 1)
    for n in range(10):
        bits = (64, 32)[n % 2]
        path = tmp_path / f"mutant-{n}"
        path.write_bytes(mutate(real_cores[bits], rng))
        for cmd in ("report", "frame"):
            out = subprocess.run([sys.executable, "-m", "sigdbg", cmd, "--core", str(path)],
                                 capture_output=True, timeout=60)
            err = out.stderr.decode("utf-8", "replace")
            lines = err.strip().splitlines()
            if out.returncode == 0:
                assert not lines, err
            else:
                assert len(lines) == 1 and lines[0].startswith("sigdbg: error:"), err
                assert "internal error" not in lines[0]
