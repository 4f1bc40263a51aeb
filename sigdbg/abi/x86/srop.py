"""The x86 sigreturn rules the SROP guard (sigdbg/engine/srop.py) applies to
a frame a sigreturn is about to restore: what the kernel does with the saved
context, each with what it does when a rule is broken (``fatal``: the
sigreturn fails or the return to user space faults, and the task gets
SIGSEGV).

* ``restore_sigcontext`` (arch/x86/kernel/signal_64.c) /
  ``ia32_restore_sigcontext`` (signal_32.c) take cs and ss as they are, ORed
  with 3; a selector that is not a user code (cs) or data (ss) segment makes
  the IRET back to user space fault.  A 64-bit context without
  ``UC_STRICT_RESTORE_SS`` gets an unusable ss replaced by ``__USER_DS``
  (``force_valid_ss``).
* rip must be canonical and below the kernel half for 64-bit code.
* fpu/signal.c ``fpu__restore_sig``: a NULL fpstate resets the FPU; else the
  area must be user memory (``access_ok``); ``check_xstate_in_sigframe``
  falls back to the legacy FXSAVE part when ``magic1``, the sizes or
  ``MAGIC2`` at ``fxsave + xstate_size`` do not agree; a 64-bit frame is
  restored with XRSTOR (FXRSTOR when FXSAVE only) straight from user
  memory, which faults on a misaligned area (64 bytes for XRSTOR, 16 for
  FXRSTOR), xstate_bv bits outside the enabled features, non-zero header
  bytes 8..23 (xcomp_bv without bit 63, the first reserved word; the other
  reserved bytes are ignored, observed with targets/srop_self
  xreserved/xreserved2) or MXCSR reserved bits; an ia32 frame is copied and
  checked by ``validate_user_xstate_header`` (fpu/xstate.c: no unknown
  features, no compacted format, all 48 reserved bytes zero; observed with
  targets/srop_self.i386 xreserved2) and the MXCSR check.
* not rules, but never true of a frame the kernel builds: fpstate NULL or
  outside the frame, a 64-bit uc_flags without ``UC_SIGCONTEXT_SS``.

Pure functions over the frame's decoded values and a memory reader; the
guard wraps each ``(code, text, fatal)`` into its ``Reason``.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from sigdbg.abi.abis import ReadUpto, SigreturnChecks, SigreturnFrame, Violation

#: arch/x86/include/asm/segment.h: the GDT's user segments (RPL 3)
USER32_CS, USER_DS, USER_CS = 0x23, 0x2B, 0x33
_SEL_TI = 4  #: selector bit 2: an LDT selector (modify_ldt), not checked here
#: arch/x86/include/uapi/asm/ucontext.h
UC_FP_XSTATE, UC_SIGCONTEXT_SS, UC_STRICT_RESTORE_SS = 1, 2, 4
#: arch/x86/include/uapi/asm/sigcontext.h
FP_XSTATE_MAGIC1, FP_XSTATE_MAGIC2 = 0x46505853, 0x46505845
_FXSAVE_SIZE, _XSAVE_HDR_SIZE = 512, 64
_SW_BYTES = struct.Struct("<IIQI")  #: magic1, extended_size, xfeatures, xstate_size
_SW_OFFSET = 464
_HDR = struct.Struct("<QQ48s")  #: xstate_bv, xcomp_bv, reserved
_IA32_FSAVE_HEADER = 112  #: sizeof(struct fregs_state): the ia32 area starts with it


class MachineFacts(NamedTuple):
    """What the rules depend on, from the task's NT_X86_XSTATE regset."""

    user_xfeatures: int  #: XCR0's user bits (bytes 464..471 of the regset)
    user_size: int  #: the kernel's fpstate->user_size (the regset's size)
    mxcsr_mask: int
    va_bits: int  #: 48, or 57 with 5-level paging


def machine_facts(xstate: bytes | None) -> MachineFacts:
    """From an NT_X86_XSTATE regset (arch/x86/kernel/fpu/regset.c
    ``xstateregs_get``: the XSAVE image with XCR0 in the sw_reserved bytes)."""
    va = 57 if _cpu_flag("la57") else 48
    if not xstate or len(xstate) < _FXSAVE_SIZE + _XSAVE_HDR_SIZE:
        return MachineFacts(0x3, _FXSAVE_SIZE + _XSAVE_HDR_SIZE, 0xFFBF, va)
    mask = int.from_bytes(xstate[28:32], "little") or 0xFFBF  # 0: the FXSAVE default
    xcr0 = int.from_bytes(xstate[464:472], "little")
    return MachineFacts(xcr0, len(xstate), mask, va)


def _cpu_flag(name: str) -> bool:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return name in line.split()
    except OSError:
        pass
    return False


def context_violations(frame: SigreturnFrame, facts: MachineFacts, read_upto: ReadUpto,
                       delivered_fpstate: int | None = None) -> list[Violation]:
    """The saved context against the rules sigreturn applies (module docstring)."""
    out: list[Violation] = []
    mc = frame.mcontext
    is64 = frame.abi == "x86_64"
    cs = mc.get("cs", 0) | 3
    ss = mc.get("ss", 0) | 3
    code64 = cs == USER_CS
    if not cs & _SEL_TI and cs not in (USER_CS, USER32_CS):
        out.append(("cs", f"cs {mc.get('cs', 0):#x} is not a user code segment "
                          f"(__USER_CS {USER_CS:#x}, __USER32_CS {USER32_CS:#x}): the return "
                          "to user space faults", True))
    if not ss & _SEL_TI and ss != USER_DS:
        flags = frame.uc_flags or 0
        if is64 and code64 and not flags & UC_STRICT_RESTORE_SS:
            out.append(("ss", f"ss {mc.get('ss', 0):#x} is not __USER_DS: the kernel "
                              "replaces it (UC_STRICT_RESTORE_SS clear, force_valid_ss)",
                              False))
        else:
            out.append(("ss", f"ss {mc.get('ss', 0):#x} is not a user data segment "
                              f"(__USER_DS {USER_DS:#x}): the return to user space faults",
                              True))
    if is64 and code64:
        rip = mc.get("rip", 0)
        top = 1 << (facts.va_bits - 1)
        if top <= rip < (1 << 64) - top:
            out.append(("rip", f"rip {rip:#x} is not canonical ({facts.va_bits}-bit "
                              "addresses): the return faults", True))
        elif rip >= top:
            out.append(("rip", f"rip {rip:#x} is in the kernel half: the first "
                              "instruction fetch faults", True))
    if is64 and frame.uc_flags is not None and not frame.uc_flags & UC_SIGCONTEXT_SS:
        out.append(("uc_flags", f"uc_flags {frame.uc_flags:#x} lacks UC_SIGCONTEXT_SS, "
                          "which every 64-bit frame of this kernel carries", False))
    out.extend(fpstate_violations(frame, facts, read_upto, delivered_fpstate))
    return out


def fpstate_violations(frame: SigreturnFrame, facts: MachineFacts, read_upto: ReadUpto,
                       delivered_fpstate: int | None) -> list[Violation]:
    """fpu/signal.c ``fpu__restore_sig`` and ``__fpu_restore_sig`` applied to
    the frame's fpstate pointer and the area it points at."""
    out: list[Violation] = []
    fp = frame.mcontext.get("fpstate", 0)
    is64 = frame.abi == "x86_64"
    if delivered_fpstate is not None and fp != delivered_fpstate:
        out.append(("fpstate", f"fpstate {fp:#x} differs from the {delivered_fpstate:#x} "
                          "the kernel wrote at delivery", False))
    if not fp:
        if delivered_fpstate is None or delivered_fpstate:
            out.append(("fpstate", "fpstate is NULL (the kernel resets the FPU): "
                              "frames the kernel builds always carry one", False))
        return out
    lo = frame.address + frame.size
    if delivered_fpstate is None and not lo <= fp <= lo + 128:
        out.append(("fpstate", f"fpstate {fp:#x} points outside the frame "
                          f"(the kernel puts it just above, from {lo:#x})", False))
    fx = fp if is64 else fp + _IA32_FSAVE_HEADER
    area = read_upto(fx, _FXSAVE_SIZE + _XSAVE_HDR_SIZE)
    size = facts.user_size + 4 + (0 if is64 else _IA32_FSAVE_HEADER)
    if len(area) < _FXSAVE_SIZE + _XSAVE_HDR_SIZE or len(read_upto(fp, size)) < size:
        out.append(("fpstate", f"the FP area at {fp:#x} is not readable user memory "
                          f"({size} bytes): sigreturn fails", True))
        return out
    magic1, ext, xfeatures, xsize = _SW_BYTES.unpack_from(area, _SW_OFFSET)
    fx_only = "magic1 is not FP_XSTATE_MAGIC1" if magic1 != FP_XSTATE_MAGIC1 else \
        f"xstate_size {xsize} out of range" if not (
            _FXSAVE_SIZE + _XSAVE_HDR_SIZE <= xsize <= facts.user_size and xsize <= ext) \
        else ""
    if not fx_only:
        m2 = read_upto(fx + xsize, 4)
        if len(m2) < 4:
            out.append(("xsave", f"MAGIC2 at {fx + xsize:#x} is unreadable: "
                              "sigreturn fails", True))
            return out
        if int.from_bytes(m2, "little") != FP_XSTATE_MAGIC2:
            fx_only = "MAGIC2 is missing after xstate_size"
    if fx_only:
        out.append(("xsave", f"{fx_only}: the kernel restores only the legacy "
                          "FXSAVE part (check_xstate_in_sigframe)", False))
    if is64:
        align = 16 if fx_only else 64
        if fx % align:
            out.append(("fpstate", f"fpstate {fp:#x} is not {align}-byte aligned: "
                              f"{'FXRSTOR' if fx_only else 'XRSTOR'} faults, sigreturn "
                              "fails", True))
    mxcsr = int.from_bytes(area[24:28], "little")
    if mxcsr & ~facts.mxcsr_mask & 0xFFFFFFFF:
        out.append(("mxcsr", f"mxcsr {mxcsr:#x} sets reserved bits (mask "
                          f"{facts.mxcsr_mask:#x}): sigreturn fails", True))
    if fx_only:
        return out
    xstate_bv, xcomp_bv, reserved = _HDR.unpack_from(area, _FXSAVE_SIZE)
    extra = xstate_bv & ~facts.user_xfeatures
    if extra:
        out.append(("xsave", f"xstate_bv {xstate_bv:#x} has bits {extra:#x} outside "
                          f"the enabled features {facts.user_xfeatures:#x}: sigreturn fails",
                          True))
    if xfeatures & ~facts.user_xfeatures:
        out.append(("xsave", f"sw_reserved.xfeatures {xfeatures:#x} names features "
                          "this machine does not enable", False))
    if xcomp_bv:
        # XRSTOR: XCOMP_BV bit 63 selects the compacted form (then XRSTOR
        # judges it); without it bytes 8..23 of the header must be zero
        fatal = not is64 or not xcomp_bv >> 63
        out.append(("xsave", f"xcomp_bv {xcomp_bv:#x}: the kernel writes the standard "
                          "format only" + (": sigreturn fails" if fatal else ""), fatal))
    if any(reserved):
        # ia32: validate_user_xstate_header checks all 48 bytes; x86_64:
        # XRSTOR faults on bytes 16..23 only (observed: a set byte 40 is
        # ignored, a set byte 21 makes sigreturn fail)
        fatal = not is64 or any(reserved[:8])
        out.append(("xsave", "reserved bytes of the XSAVE header are not zero"
                          + (": sigreturn fails" if fatal else
                             " (beyond the bytes XRSTOR checks)"), fatal))
    return out


#: what the x86 ABIs carry (``Abi.sigreturn_checks``)
CHECKS = SigreturnChecks(machine_facts=machine_facts, context=context_violations)
