"""sigdbg/abi/aarch64.py and arm.py against offsetof/sizeof from the probe.

targets/arm/abi.probe.c is cross-compiled per ABI and run in the guest on the
real arm64 kernel; its output is the independent truth for the tables (the
structs the uapi headers lack are replicated from the kernel source and the
probe says which: SOURCE lines).
"""

from __future__ import annotations

import pytest

from sigdbg.abi import aarch64, arm
from sigdbg.abi.arm import frames as arm_frames
from sigdbg.abi.layout import Layout
from tests.arm.guest import Batch

pytestmark = pytest.mark.timeout(900)

#: sizes, offsets (struct, field) -> (offset, size), sources, magics
Probe = tuple[
    dict[str, int], dict[tuple[str, str], tuple[int, int]], dict[str, str], dict[str, int]
]


def probe(guest: Batch, name: str, abi: str) -> Probe:
    res = guest.results[name]
    assert res.rc == 0, res.stderr
    sizes: dict[str, int] = {}
    offsets: dict[tuple[str, str], tuple[int, int]] = {}
    sources: dict[str, str] = {}
    magics: dict[str, int] = {}
    lines = res.text.splitlines()
    assert lines[0] == f"ABI {abi}"
    for line in lines[1:]:
        parts = line.split()
        if parts[0] == "SIZEOF":
            sizes[parts[1]] = int(parts[2])
        elif parts[0] == "OFFSET":
            offsets[(parts[1], parts[2])] = (int(parts[3]), int(parts[4]))
        elif parts[0] == "SOURCE":
            sources[parts[1]] = parts[2]
        elif parts[0] == "MAGIC":
            magics[parts[1]] = int(parts[2])
    assert sizes and offsets
    return sizes, offsets, sources, magics


def check(layout: Layout, struct: str, p: Probe) -> None:
    sizes, offsets, _, _ = p
    assert struct in sizes, f"probe has no {struct}"
    assert layout.size == sizes[struct], struct
    for f in layout.fields:
        assert (struct, f.name) in offsets, f"probe has no {struct}.{f.name}"
        assert offsets[(struct, f.name)] == (f.offset, f.size), f"{struct}.{f.name}"
    probed = {fld for (s, fld) in offsets if s == struct}
    missing = probed - set(layout.by_name)
    assert not missing, f"{struct}: fields in the probe but not in the table: {missing}"


A64_TABLES = [
    (aarch64.RT_SIGFRAME, "rt_sigframe"),
    (aarch64.FRAME_RECORD, "frame_record"),
    (aarch64.UCONTEXT, "ucontext"),
    (aarch64.SIGCONTEXT, "sigcontext"),
    (aarch64.STACK_T, "stack_t"),
    (aarch64.USER_REGS, "user_pt_regs"),
    (aarch64.CTX_HEADER, "_aarch64_ctx"),
    *((layout, layout.name) for layout in aarch64.RECORDS.values()),
]
A32_TABLES = [
    (arm.SIGCONTEXT, "sigcontext"),
    (arm.UCONTEXT, "ucontext"),
    (arm.STACK_T, "stack_t"),
    (arm.VFP_SIGFRAME, "vfp_sigframe"),
    (arm.USER_VFP, "user_vfp"),
    (arm.USER_VFP_EXC, "user_vfp_exc"),
    (arm.SIGFRAME, "sigframe"),
    (arm.RT_SIGFRAME, "rt_sigframe"),
    (arm.COMPAT_SIGFRAME, "compat_sigframe"),
    (arm.COMPAT_RT_SIGFRAME, "compat_rt_sigframe"),
    (arm.PT_REGS, "pt_regs"),
    # the arm64 kernel's own compat definitions: the same tables
    (arm.SIGCONTEXT, "compat_sigcontext"),
    (arm.UCONTEXT, "compat_ucontext"),
    (arm.VFP_SIGFRAME, "compat_vfp_sigframe"),
    (arm.COMPAT_AUX_SIGFRAME, "compat_aux_sigframe"),
]


@pytest.mark.parametrize("layout,struct", A64_TABLES, ids=[s for _, s in A64_TABLES])
def test_aarch64_tables(guest: Batch, layout: Layout, struct: str) -> None:
    check(layout, struct, probe(guest, "probe_a64", "aarch64"))


@pytest.mark.parametrize("layout,struct", A32_TABLES, ids=[s for _, s in A32_TABLES])
def test_arm_tables(guest: Batch, layout: Layout, struct: str) -> None:
    check(layout, struct, probe(guest, "probe_a32", "arm"))


def test_aarch64_record_magics(guest: Batch) -> None:
    """Every record magic in the table is the kernel's (uapi or replica)."""
    _, _, sources, magics = probe(guest, "probe_a64", "aarch64")
    table = {name: getattr(aarch64, name) for name in magics}
    assert magics == table
    assert set(aarch64.RECORDS) == set(magics.values())
    # the 6.1 toolchain headers have these five; the rest are replicas
    assert {s for s, how in sources.items() if how == "uapi" and s.endswith("_context")} >= {
        "fpsimd_context", "esr_context", "extra_context", "sve_context", "za_context"}


def test_aarch64_reserved_offset(guest: Batch) -> None:
    """__reserved sits at frame+592: rt_sigframe.uc + ucontext.uc_mcontext + __reserved."""
    _, offsets, _, _ = probe(guest, "probe_a64", "aarch64")
    at = (offsets[("rt_sigframe", "uc")][0] + offsets[("ucontext", "uc_mcontext")][0]
          + offsets[("sigcontext", "__reserved")][0])
    assert aarch64.RESERVED_OFFSET == at == 592


@pytest.mark.parametrize("name,abi,header,members", [
    ("probe_a64", "aarch64", aarch64.SIGINFO_HEADER, aarch64.SIGINFO_MEMBERS),
    ("probe_a32", "arm", arm.SIGINFO_HEADER, arm.SIGINFO_MEMBERS),
])
def test_siginfo(guest: Batch, name: str, abi: str, header: Layout,
                 members: dict[str, Layout]) -> None:
    """The siginfo tables (shared with x86_64 / i386: asm-generic) match the ARM ABIs."""
    sizes, offsets, _, _ = probe(guest, name, abi)
    assert sizes["siginfo"] == aarch64.SIGINFO_SIZE == arm.SIGINFO_SIZE
    seen = 0
    for layout in (header, *members.values()):
        for f in layout.fields:
            if ("siginfo", f.name) in offsets:
                assert offsets[("siginfo", f.name)] == (f.offset, f.size), f.name
                seen += 1
    probed = {fld for (s, fld) in offsets if s == "siginfo"}
    named = {f.name for layout in (header, *members.values()) for f in layout.fields}
    assert probed <= named
    assert seen >= len(probed)


def test_arm_frame_kinds_paths(guest: Batch) -> None:
    """Where sigdbg/abi/arm/frames.py finds each part of the two compat frames
    (the decoder's offsets) equals offsetof of the member path in the probe."""
    res = guest.results["probe_a32"]
    paths = {(p[1], p[2]): (int(p[3]), int(p[4])) for p in
             (line.split() for line in res.text.splitlines()) if p[0] == "PATH"}
    assert len(paths) == 10
    for kind in arm_frames.FRAME_KINDS:
        uc = kind.uc_path
        base = uc.rsplit(".", 1)[0] + "." if "." in uc else ""
        want = {
            uc: (kind.uc_offset, arm.UCONTEXT.size),
            uc + ".uc_mcontext": (kind.mcontext_offset, arm.SIGCONTEXT.size),
            uc + ".uc_sigmask": (kind.uc_offset + arm.UCONTEXT.offset_of("uc_sigmask"), 8),
            uc + ".uc_regspace": (kind.regspace_offset, arm.REGSPACE_SIZE),
            base + "retcode": (kind.retcode_offset, 8),
        }
        got = {path: v for (s, path), v in paths.items() if s == kind.name}
        assert got == want, kind.name
    assert arm_frames.COMPAT_RT_SIGFRAME.info_offset == 0
