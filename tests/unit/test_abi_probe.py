"""Every layout table against offsetof/sizeof from the C probe, per ABI.

targets/abi.probe.c is built natively (x86_64, uapi headers) and as a
freestanding i386 program (the kernel's compat structs); its output is the
independent truth for sigdbg/abi/*.py.
"""

from __future__ import annotations

import subprocess

import pytest

from sigdbg.abi.layout import Layout
from sigdbg.abi.x86 import i386, x86_64
from sigdbg.abi.x86.fp import FPSTATE_64, FPX_SW_BYTES, XSTATE_HEADER
from tests.conftest import target


def probe(name: str) -> tuple[dict[str, int], dict[tuple[str, str], tuple[int, int]]]:
    out = subprocess.run([target(name)], capture_output=True, text=True, check=True).stdout
    sizes: dict[str, int] = {}
    offsets: dict[tuple[str, str], tuple[int, int]] = {}
    for line in out.splitlines():
        parts = line.split()
        if parts[0] == "SIZEOF":
            sizes[parts[1]] = int(parts[2])
        elif parts[0] == "OFFSET":
            offsets[(parts[1], parts[2])] = (int(parts[3]), int(parts[4]))
    assert sizes and offsets
    return sizes, offsets


def check(layout: Layout, struct: str, sizes: dict[str, int],
          offsets: dict[tuple[str, str], tuple[int, int]], size_slack: int = 0) -> None:
    assert struct in sizes, f"probe has no {struct}"
    assert layout.size in (sizes[struct], sizes[struct] - size_slack), struct
    for f in layout.fields:
        assert (struct, f.name) in offsets, f"probe has no {struct}.{f.name}"
        assert offsets[(struct, f.name)] == (f.offset, f.size), f"{struct}.{f.name}"
    probed = {fld for (s, fld) in offsets if s == struct}
    missing = probed - set(layout.by_name) - {"padding2"}
    assert not missing, f"{struct}: fields in the probe but not in the table: {missing}"


X86_64_TABLES = [
    (x86_64.RT_SIGFRAME, "rt_sigframe"),
    (x86_64.UCONTEXT, "ucontext"),
    (x86_64.STACK_T, "stack_t"),
    (x86_64.SIGCONTEXT, "sigcontext"),
    (x86_64.USER_REGS, "user_regs_struct"),
    (FPSTATE_64, "_fpstate_64"),
    (FPX_SW_BYTES, "_fpx_sw_bytes"),
    (XSTATE_HEADER, "_header"),
]
I386_TABLES = [
    (i386.RT_SIGFRAME, "rt_sigframe_ia32"),
    (i386.SIGFRAME, "sigframe_ia32"),
    (i386.UCONTEXT, "ucontext_ia32"),
    (i386.STACK_T, "stack_ia32_t"),
    (i386.SIGCONTEXT, "sigcontext_32"),
    (i386.USER_REGS, "user_regs_struct"),
]


@pytest.mark.parametrize("layout,struct", X86_64_TABLES, ids=[s for _, s in X86_64_TABLES])
def test_x86_64_tables(layout: Layout, struct: str) -> None:
    sizes, offsets = probe("abi.probe")
    check(layout, struct, sizes, offsets)


@pytest.mark.parametrize("layout,struct", I386_TABLES, ids=[s for _, s in I386_TABLES])
def test_i386_tables(layout: Layout, struct: str) -> None:
    sizes, offsets = probe("abi.probe.i386")
    check(layout, struct, sizes, offsets)


def test_i386_fpstate_header() -> None:
    """The FSAVE header part of _fpstate_32 and where the FXSAVE image starts."""
    sizes, offsets = probe("abi.probe.i386")
    for f in i386.FPSTATE_32_HEADER.fields:
        assert offsets[("_fpstate_32", f.name)] == (f.offset, f.size), f.name
    assert offsets[("_fpstate_32", "_fxsr_env")][0] == i386.FXSAVE_OFFSET
    # the FXSAVE part has the same layout as _fpstate_64: mxcsr at +24, xmm at +160
    assert offsets[("_fpstate_32", "mxcsr")][0] - i386.FXSAVE_OFFSET == FPSTATE_64["mxcsr"].offset
    xmm_off = offsets[("_fpstate_32", "_xmm")][0] - i386.FXSAVE_OFFSET
    assert xmm_off == FPSTATE_64["xmm_space"].offset
    assert offsets[("_fpstate_32", "sw_reserved")][0] - i386.FXSAVE_OFFSET == 464


@pytest.mark.parametrize("probe_name,members", [("abi.probe", x86_64.SIGINFO_MEMBERS),
                                                ("abi.probe.i386", i386.SIGINFO_MEMBERS)])
def test_siginfo_members(probe_name: str, members: dict[str, Layout]) -> None:
    sizes, offsets = probe(probe_name)
    assert sizes["siginfo"] == 128
    seen = set()
    for layout in members.values():
        for f in layout.fields:
            if ("siginfo", f.name) not in offsets:
                continue  # perf fields / si_sys_private are not in the probe
            assert offsets[("siginfo", f.name)] == (f.offset, f.size), f.name
            seen.add(f.name)
    for name in ("si_signo", "si_errno", "si_code"):
        hdr = (x86_64.SIGINFO_HEADER if probe_name == "abi.probe" else i386.SIGINFO_HEADER)[name]
        assert offsets[("siginfo", name)] == (hdr.offset, hdr.size)
    probed = {f for (s, f) in offsets if s == "siginfo"} - {"si_signo", "si_errno", "si_code"}
    assert probed <= seen, probed - seen
