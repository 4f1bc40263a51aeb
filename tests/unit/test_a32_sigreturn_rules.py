"""The AArch32 (compat) rules (sigdbg/abi/arm/sigreturn.py, applied by
sigdbg/decode/sigreturn_rules.py) and the ARM Abi facts of the walk, on
literal values.

The same rules run against the real 6.1 arm64 kernel in
tests/arm/test_a32_step.py (where every cpsr has bit 21 from the stepped
delivery and stays in user mode); here each rule is checked on its own,
including the cases the guest run does not produce (an invalid mode, A/I/F
set, RES0 bits, J at bit 24, a differing d register or fpscr), so that a
rule that always answered "equal" would fail.
"""

from __future__ import annotations

import struct
from types import SimpleNamespace
from typing import Any

from sigdbg.abi import AARCH64, ARM, X86_64, arm
from sigdbg.abi.arm.sigreturn import VFP_FPSCR_KEPT, a32_restored_cpsr
from sigdbg.backends.ptrace import _hw_break_slot
from sigdbg.decode.sigreturn_rules import (
    compare_restored,
    compare_restored_fp,
    frame_at_sigreturn,
    restored_fp_regsets,
)

USR, USR_T = 0x10, 0x30
SS = 1 << 21
N_Z_C = 0xE000_0000
SSBS = 1 << 23  # AArch32 PSR.SSBS: the program's, kept


def test_frame_read_at_sp_for_both_kinds() -> None:
    # compat_sys_sigreturn / compat_sys_rt_sigreturn: frame = compat_sp
    assert frame_at_sigreturn("arm", "compat_rt_sigframe", 0xFFDD9F48) == 0xFFDD9F48
    assert frame_at_sigreturn("arm", "compat_sigframe", 0xFFDD9FC8) == 0xFFDD9FC8


def test_cpsr_stepped_and_not() -> None:
    # the guest's values: frame 0xa70010 (SS from the stepped delivery, SSBS),
    # restored under a single step: unchanged
    assert a32_restored_cpsr(0x00A7_0010, True) == (0x00A7_0010, 0xFFFF_FFFF)
    # frame without bit 21, stepped: SS set by user_regs_reset_single_step
    assert a32_restored_cpsr(0x6087_0010, True)[0] == 0x60A7_0010
    # not stepped: no SS; the frame's bit 21 still comes back (DIT, bit 24)
    assert a32_restored_cpsr(0x6087_0010, False)[0] == 0x6087_0010
    assert a32_restored_cpsr(0x60A7_0010, False)[0] == 0x60A7_0010
    # unknown stepping: bit 21 not compared
    assert a32_restored_cpsr(0x6087_0010, None) == (0x6087_0010, 0xFFFF_FFFF & ~SS)


def test_cpsr_thumb_it_and_res0() -> None:
    it = 0x0600_0C00  # IT state bits kept as saved
    assert a32_restored_cpsr(N_Z_C | it | USR_T, True)[0] == N_Z_C | it | USR_T | SS
    # bits 22 and 20 are RES0: cleared
    assert a32_restored_cpsr(USR | 1 << 22 | 1 << 20, False)[0] == USR
    # J (bit 24) goes through PSTATE bit 24 = DIT and reads back at bit 21
    assert a32_restored_cpsr(USR | 1 << 24, False)[0] == USR | SS
    # E set in the frame: not compared (depends on mixed-endian EL0)
    assert not a32_restored_cpsr(USR | 1 << 9, True)[1] & 1 << 9


def test_cpsr_invalid_mode_or_aif_forced() -> None:
    # IRQ mode, or I set: forced to NZCVQ/IT/GE/E/T + USR (the sigreturn fails)
    assert a32_restored_cpsr(N_Z_C | SSBS | 0x12, False)[0] == N_Z_C | USR
    assert a32_restored_cpsr(N_Z_C | 0x80 | USR_T, False)[0] == N_Z_C | USR_T
    assert a32_restored_cpsr(0x000F_0000 | 0x40 | USR, True)[0] == 0x000F_0000 | USR


def _frame(mc: dict[str, int], dregs: tuple[int, ...] = (), fpscr: int = 0) -> Any:
    rec = SimpleNamespace(dregs=dregs, fields={"fpscr": fpscr}) if dregs else None
    return SimpleNamespace(mcontext=mc, record=lambda name: rec if name == "vfp" else None)


_MC = {**{f"arm_r{i}": i for i in range(11)}, "arm_fp": 11, "arm_ip": 12,
       "arm_sp": 0xFFDDA2BC, "arm_lr": 0x10EE8, "arm_pc": 0x1048C, "arm_cpsr": 0x00A7_0010}
_REGS = {**{f"r{i}": i for i in range(13)}, "sp": 0xFFDDA2BC, "lr": 0x10EE8,
         "pc": 0x1048C, "cpsr": 0x00A7_0010, "orig_r0": 78}


def test_compare_restored_registers() -> None:
    diffs, not_compared = compare_restored(ARM, _frame(_MC), _REGS, single_step=True)
    assert diffs == ()
    assert "cpsr.SS: set under the tracer's single step" in not_compared
    assert {n.split(":")[0] for n in not_compared} >= {"cpsr.DIT", "cpsr.RES0", "cpsr.E",
                                                       "cpsr.USR", "cpsr.SS"}
    # a register that was not restored, and a cpsr off the rules
    diffs, _ = compare_restored(ARM, _frame(_MC), {**_REGS, "r5": 55, "cpsr": 0x00870010},
                                single_step=True)
    assert diffs[0] == "r5: frame 0x5 restored 0x37"
    assert diffs[1].startswith("cpsr: frame 0xa70010 restored 0x870010") \
        and "differs in 0x200000" in diffs[1]
    # r12 at a syscall-exit stop is the stop's direction (report_syscall)
    diffs, not_compared = compare_restored(ARM, _frame(_MC), {**_REGS, "r12": 1},
                                           single_step=False, syscall_stop=True)
    assert diffs == () and any(n.startswith("r12: read at the syscall-exit stop")
                               for n in not_compared)


def _vfp_raw(dregs: tuple[int, ...], fpscr: int) -> bytes:
    return struct.pack("<32QI", *dregs, fpscr)


def test_compare_restored_vfp() -> None:
    d = tuple(0x1616161616161616 * (n + 1) & (1 << 64) - 1 for n in range(32))
    frame = _frame(_MC, d, 0x03000000)
    assert restored_fp_regsets(frame) == (arm.NT_ARM_VFP,) == (0x400,)
    assert compare_restored_fp(frame, {0x400: _vfp_raw(d, 0x03000000)}) == ()
    # fpscr bits outside FPSR/FPCR's masks are not kept by the kernel
    assert VFP_FPSCR_KEPT == 0xFFF7_9F9F
    frame = _frame(_MC, d, 0x0008_0060 | 0x00C0_0010)
    assert compare_restored_fp(frame, {0x400: _vfp_raw(d, 0x00C0_0010)}) == ()
    bad = list(d)
    bad[16] = 0x5A5A5A5A5A5A5A5A
    diffs = compare_restored_fp(_frame(_MC, d, 0), {0x400: _vfp_raw(tuple(bad), 0x10)})
    assert diffs[0] == f"d16: frame {d[16]:#x} restored 0x5a5a5a5a5a5a5a5a"
    assert diffs[1].startswith("fpscr: frame 0x0 restored 0x10")
    assert compare_restored_fp(_frame(_MC, d, 0), {0x400: None}) == (
        "vfp: NT_ARM_VFP unreadable after sigreturn",)


def test_svc_recognised_per_instruction_set() -> None:
    # [sigpage] (compat): ARM mov r7,#119; svc #119 and Thumb movs r7,#173; svc #173
    assert ARM.syscall_insn(bytes.fromhex("770000ef")) == (4, "svc #0x77")
    assert ARM.syscall_insn(bytes.fromhex("addf"), True) == (2, "svc #0xad")
    assert ARM.syscall_insn(bytes.fromhex("00df"), True) == (2, "svc #0x0")
    # not a svc: mov r7, #173 (ARM), movs r7, #173 (Thumb); and a Thumb svc
    # read as ARM code is no svc either
    assert ARM.syscall_insn(bytes.fromhex("ad70a0e3")) is None
    assert ARM.syscall_insn(bytes.fromhex("ad27"), True) is None
    assert ARM.syscall_insn(bytes.fromhex("00df00bf")) is None
    # a conditional svc (cond != AL) is not taken for one
    assert ARM.syscall_insn(bytes.fromhex("0000000f")) is None
    assert ARM.in_isa(0x30) and not ARM.in_isa(0x10) and not X86_64.in_isa(0x30)


def test_hw_break_control_word_per_instruction_set() -> None:
    hw = AARCH64.hw_breakpoint
    assert hw is not None and hw.regset_note == 0x402  # NT_ARM_HW_BREAK
    ctrl = hw.execute_enable
    assert ctrl == 0x1E5  # enable, EL0, execute, BAS 0xf
    # ARM code: the word, 4 bytes
    assert _hw_break_slot(ARM, 0xF7FAA00C, ctrl) == (0xF7FAA00C, 0x1E5)
    # Thumb (bit 0 set): 2 bytes, BAS 0x3 at a word, 0xc at a halfword
    assert _hw_break_slot(ARM, 0xF7E33015, ctrl) == (0xF7E33014, 0x65)
    assert _hw_break_slot(ARM, 0x104D3, ctrl) == (0x104D0, 0x185)
    # AArch64 (no instruction-set bit): unchanged
    assert _hw_break_slot(AARCH64, 0xFFFF_8000_07BC, ctrl) == (0xFFFF_8000_07BC, 0x1E5)
