"""The AArch64 ABI value (arch/arm64); its layouts are :mod:`sigdbg.abi.aarch64`."""

from __future__ import annotations

from sigdbg.abi import aarch64
from sigdbg.abi.aarch64 import names as aarch64_names
from sigdbg.abi.aarch64 import sigreturn as aarch64_sigreturn
from sigdbg.abi.abis import Abi, FrameKind, HwBreakpoint, SigreturnRules
from sigdbg.abi.arm import pages as arm_pages

#: struct rt_sigframe { info, uc } (arch/arm64/kernel/signal.c); the
#: records in uc_mcontext.__reserved are decoded by sigdbg/abi/aarch64/a64frame.py
#: (which names x0-x30 like the registers).  The handler returns through x30
#: with sp back at the frame, and ``sys_rt_sigreturn`` reads it at sp itself.
RT_SIGFRAME = FrameKind(
    name="rt_sigframe", layout=aarch64.RT_SIGFRAME, mcontext="uc.uc_mcontext", uc="uc",
    info="info", pc="pc", sp="sp", signal_slot=None, arg_slots=(), retcode=None,
    extramask=None, sigreturn="rt_sigreturn", sigreturn_nr=aarch64.RT_SIGRETURN_NR,
    sp_at_sigreturn=0, sp_at_restorer=0,
    # get_sigframe: sp = round_down(sp - size, 16)
    address_mod=(16, 0),
)

#: a ptrace execute breakpoint, slot 0 of NT_ARM_HW_BREAK (0x402, include/
#: uapi/linux/elf.h).  Control word (arch/arm64/include/asm/hw_breakpoint.h):
#: enable (bit 0), EL0 (privilege 2 << 1), execute (type 0), 4 bytes (BAS
#: 0xf << 5).  perf_event breakpoints are not tried first: for a perf_event
#: the arm64 kernel steps over the breakpoint itself (hw_breakpoint.c
#: breakpoint_handler, default overflow handler) and that step swallows the
#: tracer's next PTRACE_SINGLESTEP (measured on 6.1: the task ran on to its
#: next signal).  A ptrace breakpoint is not stepped over by the kernel: its
#: SIGTRAP is TRAP_HWBKPT at the address.
HW_BREAK = HwBreakpoint(regset_note=0x402, execute_enable=0x1E5, perf_first=False)

#: AArch64 (arch/arm64).
AARCH64 = Abi(
    name="aarch64",
    arch="arm64",
    bits=64,
    word=8,
    endian="<",
    elf_class=64,
    elf_machine="EM_AARCH64",
    user_regs=aarch64.REGISTERS,
    pc="pc",
    sp="sp",
    # the syscall number is in x8 (arch/arm64/kernel/syscall.c el0_svc_common);
    # the kernel keeps the original in pt_regs->syscallno, which NT_PRSTATUS
    # does not carry (NT_ARM_SYSTEM_CALL does): x8 is what user space set
    syscall_nr="x8",
    orig_syscall_nr="x8",
    flags="pstate",
    siginfo_header=aarch64.SIGINFO_HEADER,
    siginfo_members=aarch64.SIGINFO_MEMBERS,
    siginfo_size=aarch64.SIGINFO_SIZE,
    rt_sigreturn_nr=aarch64.RT_SIGRETURN_NR,
    sigreturn_nr=None,
    disasm_mode="aarch64",
    # capstone 5 calls it ARM64, capstone 6 AARCH64
    capstone_modes=(("aarch64", ("CS_ARCH_ARM64", "CS_ARCH_AARCH64"), "CS_MODE_ARM"),),
    aliases=("arm64",),
    syscall_mnemonics=("svc",),
    audit_arch=0xC00000B7,  # AUDIT_ARCH_AARCH64: EM_AARCH64 | 64BIT | LE
    # restore_sigframe (arch/arm64/kernel/signal.c): regs[], sp, pc, pstate
    mcontext_regs=tuple((f"x{i}", f"x{i}") for i in range(31))
    + (("sp", "sp"), ("pc", "pc"), ("pstate", "pstate")),
    # the frame record {x29, x30} (AAPCS64 6.4.6 "The Frame Pointer"): x29
    # points at the caller's x29, the return address one word above it --
    # the same shape as x86's [rbp], [rbp + 8], so one frame-pointer fallback
    fp="x29",
    # DWARF for the Arm 64-bit Architecture (AADWARF64) 4.1: x0-x30 = 0-30,
    # sp = 31, pc = 32 (added in the 2020 edition; LLDB's arm64_dwarf::pc).  No
    # CFI uses 32: every CIE names x30 as its return-address column, and a
    # signal frame's pc comes from its sigcontext, not from a column
    dwarf_regs=tuple(f"x{i}" for i in range(31)) + ("sp", "pc"),
    # bl/blr leave the return address in x30 (the link register); a function
    # saves it (with x29) in its prologue, so before that -- and in a leaf that
    # never saves it -- the CFI has no rule for 30 and x30 still holds it
    link_register="x30",
    e_machine=183,  # EM_AARCH64
    special_mappings=arm_pages.AARCH64_MAPPINGS,
    names=aarch64_names.NAME_TABLES,
    # sigdbg writes no software breakpoint into AArch64 code yet (the
    # session's pc rule is x86's); brk #0 would be d4200000, reported at its
    # own address (measured on 6.1: SIGTRAP TRAP_BRKPT, pc = the brk)
    breakpoint_insn=b"",
    frame_kinds=(RT_SIGFRAME,),
    syscall_insns=((aarch64.SVC_0, "svc #0"),),
    # pstate by named rules (sigdbg/abi/aarch64/sigreturn.py A64_PSTATE_RULES),
    # the fpsimd and sve records against NT_PRFPREG and NT_ARM_SVE
    sigreturn_rules=SigreturnRules(flags_restore=aarch64_sigreturn.a64_restored_pstate,
                                   flags_rules=aarch64_sigreturn.A64_PSTATE_RULES,
                                   fp_restore=aarch64_sigreturn.FP_RESTORE),
    step_trap_codes=(2, 1, 0),
    syscall_step_trap_code=0,
    hw_breakpoint=HW_BREAK,
    syscall_stop_scratch="x7",  # arch/arm64/kernel/ptrace.c report_syscall
    # the fpsimd record's V0-V31 in the 128-bit hex form of x86's xmm, the sve
    # record's Z/P registers (up to 2048 bits) as plain hex
    wide_change_formats=(("fpsimd.v", "#034x"), ("sve.", "#x")),
    # arch/arm64/kernel/vdso/sigreturn.S __kernel_rt_sigreturn (the name, not
    # the bytes, says it is the vDSO's: see decode/restorer.py classify_restorer)
    restorer_patterns=(
        (bytes.fromhex("681180d2010000d4"), "rt_sigreturn", "mov x8, #0x8b; svc #0"),
    ),
    # glibc's aarch64 sigaction sets no SA_RESTORER: no restorer of its own
    libc_restorer_names=(),
    flag_names=aarch64.pstate_names,
)

#: the AArch64 ABIs, in registry order
ABIS: tuple[Abi, ...] = (AARCH64,)
