"""The AArch64 rules (sigdbg/abi/aarch64/sigreturn.py, applied by
sigdbg/decode/sigreturn_rules.py) on literal values.

The same rules run against the real 6.1 kernel in tests/arm/test_a64_step.py;
here each one is checked on its own, including the cases the guest run does
not produce (an invalid pstate, a register that was not restored), so that a
rule that always answered "equal" would fail.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from sigdbg.abi import AARCH64, ABIS, ARM, aarch64
from sigdbg.abi.aarch64.sigreturn import PSTATE_SS, a64_restored_pstate
from sigdbg.decode.sigreturn_rules import (
    compare_restored,
    compare_restored_fp,
    compare_restored_mask,
    frame_at_sigreturn,
    restored_fp_regsets,
)
from sigdbg.errors import DecodeError

NZCV_C = 0x2000_0000
SSBS = 1 << 12
PAN = 1 << 22  # RES0 for EL0 (SPSR_EL1_AARCH64_RES0_BITS)
BTYPE_C = 2 << 10
D_BIT = 1 << 9


def test_frame_at_sigreturn_per_abi() -> None:
    sp = 0x7FFF_0000
    want = {("x86_64", "rt_sigframe"): sp - 8, ("i386", "rt_sigframe_ia32"): sp - 4,
            ("i386", "sigframe_ia32"): sp - 8, ("aarch64", "rt_sigframe"): sp,
            # compat_sys_{rt_,}sigreturn read the frame at compat_sp itself
            ("arm", "compat_rt_sigframe"): sp, ("arm", "compat_sigframe"): sp}
    for (abi, kind), addr in want.items():
        assert frame_at_sigreturn(abi, kind, sp) == addr
    with pytest.raises(DecodeError):
        frame_at_sigreturn("aarch64", "sigframe_ia32", sp)
    # every ABI with frame kinds says where each is read (its own rows, each
    # found by name)
    for abi in ABIS:
        for kind in abi.frame_kinds:
            assert abi.frame_kind(kind.name) is kind
            assert frame_at_sigreturn(abi.name, kind.name, sp) == sp - kind.sp_at_sigreturn
    assert {k.name for k in ARM.frame_kinds} == {"compat_rt_sigframe", "compat_sigframe"}


@pytest.mark.parametrize(("saved", "step", "want", "known_ss"), [
    (NZCV_C | SSBS, True, NZCV_C | SSBS | PSTATE_SS, True),          # SS from the tracer's step
    (NZCV_C | SSBS | PSTATE_SS, False, NZCV_C | SSBS, True),         # ... also when clear
    (NZCV_C | PSTATE_SS, None, NZCV_C | PSTATE_SS, False),           # unknown: not compared
    (NZCV_C | PAN | BTYPE_C, True, NZCV_C | BTYPE_C | PSTATE_SS, True),  # RES0 dropped, BTYPE kept
    (NZCV_C | SSBS | D_BIT, True, NZCV_C, True),                     # invalid: NZCV only
    (NZCV_C | 0x5, False, NZCV_C, True),                             # EL1h: invalid too
])
def test_pstate_rules(saved: int, step: bool | None, want: int, known_ss: bool) -> None:
    got, known = a64_restored_pstate(saved, step)
    assert got & known == want & known
    assert bool(known & PSTATE_SS) == known_ss


def _regs(pstate: int) -> dict[str, int]:
    regs = {f"x{i}": 0x1000 + i for i in range(31)}
    regs.update(sp=0xFFFF_F000, pc=0x400100, pstate=pstate)
    return regs


def test_compare_restored_names_the_pstate_rules() -> None:
    frame: Any = SimpleNamespace(mcontext=_regs(NZCV_C | PSTATE_SS))
    diffs, not_compared = compare_restored(AARCH64, frame, _regs(NZCV_C | PSTATE_SS),
                                           single_step=True)
    assert diffs == ()
    assert [n.split(":")[0] for n in not_compared] == [
        "pstate.RES0", "pstate.BTYPE", "pstate.EL0t", "pstate.SS"]
    # SS clear after a stepped sigreturn is a difference; so is any other register
    got = _regs(NZCV_C)
    got["x7"] = 0
    diffs, _ = compare_restored(AARCH64, frame, got, single_step=True)
    assert len(diffs) == 2 and diffs[0].startswith("x7: frame 0x1007 restored 0x0")
    assert diffs[1].startswith("pstate: frame 0x20200000 restored 0x20000000")


def test_compare_restored_mask() -> None:
    usr2 = 1 << 11
    assert compare_restored_mask(usr2, usr2) == ()
    # SIGKILL (bit 8) and SIGSTOP (bit 18) in the frame are never blocked
    assert compare_restored_mask(usr2 | 1 << 8 | 1 << 18, usr2) == ()
    assert compare_restored_mask(usr2, 0) == ("sigmask: frame 0x800 restored 0x0",)


def _fp_frame(vl: int = 0) -> Any:
    vq = vl // 16
    fpsimd = SimpleNamespace(vregs=tuple(f"{n * 0x11:#034x}" for n in range(32)),
                             fields={"fpsr": 0x10, "fpcr": 0xC00000})
    records = {"fpsimd": fpsimd}
    if vl:
        records["sve"] = SimpleNamespace(
            fields={"vl": vl},
            zregs=tuple(f"{int('5a' * 16 * vq, 16):#x}" for _ in range(32)),
            pregs=tuple(f"{int('0f' * 2 * vq, 16):#x}" for _ in range(17)))
    return SimpleNamespace(record=records.get)


def _prfpreg(frame: Any) -> bytes:
    rec = frame.record("fpsimd")
    out = b"".join(int(v, 16).to_bytes(16, "little") for v in rec.vregs)
    return out + rec.fields["fpsr"].to_bytes(4, "little") + rec.fields["fpcr"].to_bytes(
        4, "little") + bytes(8)


def _sve_regset(frame: Any, vl: int, low_from_fpsimd: bool = True) -> bytes:
    vq = vl // 16
    sve, fp = frame.record("sve"), frame.record("fpsimd")
    body = bytearray(aarch64.sve_sig_context_size(vq))
    for n, z in enumerate(sve.zregs):
        val = int(z, 16)
        if low_from_fpsimd:
            val = val & ~((1 << 128) - 1) | int(fp.vregs[n], 16)
        off = aarch64.sve_zreg_offset(vq, n)
        body[off : off + 16 * vq] = val.to_bytes(16 * vq, "little")
    for n, p in enumerate(sve.pregs):
        off = aarch64.sve_preg_offset(vq, n)
        body[off : off + 2 * vq] = int(p, 16).to_bytes(2 * vq, "little")
    head = aarch64.SVE_PT_HEADER.encode({"size": len(body), "max_size": 8768, "vl": vl,
                                         "max_vl": 256, "flags": aarch64.SVE_PT_REGS_SVE,
                                         "__reserved": 0})
    return head + bytes(body[16:])


def test_compare_restored_fpsimd() -> None:
    frame = _fp_frame()
    assert restored_fp_regsets(frame) == (aarch64.NT_PRFPREG,)
    raw = _prfpreg(frame)
    assert compare_restored_fp(frame, {aarch64.NT_PRFPREG: raw}) == ()
    bad = bytearray(raw)
    bad[16 * 3] ^= 1          # v3
    bad[516] = 0              # fpcr's low byte
    bad[518] = 0              # fpcr 0xc00000 -> 0
    assert compare_restored_fp(frame, {aarch64.NT_PRFPREG: bytes(bad)}) == (
        f"v3: frame {0x33:#034x} restored {0x32:#034x}", "fpcr: frame 0xc00000 restored 0x0")
    # frames without an fpsimd record (x86) ask for nothing
    assert restored_fp_regsets(SimpleNamespace()) == ()


def test_compare_restored_sve_by_the_low_bits_rule() -> None:
    vl = 64
    frame = _fp_frame(vl)
    assert restored_fp_regsets(frame) == (aarch64.NT_PRFPREG, aarch64.NT_ARM_SVE)
    regsets = {aarch64.NT_PRFPREG: _prfpreg(frame), aarch64.NT_ARM_SVE: _sve_regset(frame, vl)}
    assert compare_restored_fp(frame, regsets) == ()
    # a kernel that took bits 127:0 from the sve record instead: every Z differs
    regsets[aarch64.NT_ARM_SVE] = _sve_regset(frame, vl, low_from_fpsimd=False)
    diffs = compare_restored_fp(frame, regsets)
    assert len(diffs) == 32 and all(d.startswith(f"z{n}: ") for n, d in enumerate(diffs))
    # SVE state not live after the sigreturn: one line saying so
    head_only = aarch64.SVE_PT_HEADER.encode({"size": 544, "max_size": 8768, "vl": vl,
                                              "max_vl": 256, "flags": 0, "__reserved": 0})
    regsets[aarch64.NT_ARM_SVE] = head_only
    (line,) = compare_restored_fp(frame, regsets)
    assert "SVE registers not live" in line


def test_syscall_stop_scratch_register_named_not_compared() -> None:
    """Read at rt_sigreturn's syscall-exit stop, x7 holds 1 (arm64
    report_syscall); anywhere else a different x7 is a difference."""
    frame: Any = SimpleNamespace(mcontext=_regs(NZCV_C))
    got = _regs(NZCV_C)
    got["x7"] = 1
    diffs, not_compared = compare_restored(AARCH64, frame, got, single_step=False,
                                           syscall_stop=True)
    assert diffs == () and not_compared[-1].startswith("x7: read at the syscall-exit stop")
    assert "pstate.SS: clear under the tracer's PTRACE_SYSCALL" in not_compared
    diffs, _ = compare_restored(AARCH64, frame, got, single_step=False)
    assert diffs == ("x7: frame 0x1007 restored 0x1",)
