"""The 32-bit ARM ABI value; its layouts are :mod:`sigdbg.abi.arm`, its special
pages :mod:`sigdbg.abi.arm.pages`."""

from __future__ import annotations

from sigdbg.abi import arm
from sigdbg.abi.abis import Abi, SigreturnRules
from sigdbg.abi.arm import frames as arm_frames
from sigdbg.abi.arm import names as arm_names
from sigdbg.abi.arm import pages as arm_pages
from sigdbg.abi.arm import sigreturn as arm_sigreturn

#: 32-bit ARM EABI, as a compat task on an arm64 kernel runs it (the layouts
#: are those of a native ARM kernel too; the [sigpage] contents differ, see
#: sigdbg/abi/arm/pages.py).  The frame pointer is r11 in ARM code (r7 in
#: Thumb code, which this one name cannot say).
ARM = Abi(
    name="arm",
    arch="arm",
    bits=32,
    word=4,
    endian="<",
    elf_class=32,
    elf_machine="EM_ARM",
    user_regs=arm.REGISTERS,
    pc="pc",
    sp="sp",
    # EABI: the syscall number in r7 (arch/arm/kernel/entry-common.S); orig_r0
    # is the first argument kept for restarts, not the number
    syscall_nr="r7",
    orig_syscall_nr="r7",
    flags="cpsr",
    siginfo_header=arm.SIGINFO_HEADER,
    siginfo_members=arm.SIGINFO_MEMBERS,
    siginfo_size=arm.SIGINFO_SIZE,
    rt_sigreturn_nr=arm.RT_SIGRETURN_NR,
    sigreturn_nr=arm.SIGRETURN_NR,
    disasm_mode="arm",
    capstone_modes=(("arm", ("CS_ARCH_ARM",), "CS_MODE_ARM"),
                    ("thumb", ("CS_ARCH_ARM",), "CS_MODE_THUMB")),
    syscall_mnemonics=("svc", "swi"),  # swi: the old spelling
    audit_arch=0x40000028,  # AUDIT_ARCH_ARM: EM_ARM | LE
    mcontext_regs=tuple((f"arm_r{i}", f"r{i}") for i in range(11)) + (
        ("arm_fp", "r11"), ("arm_ip", "r12"), ("arm_sp", "sp"), ("arm_lr", "lr"),
        ("arm_pc", "pc"), ("arm_cpsr", "cpsr"),
    ),
    fp="r11",
    e_machine=40,  # EM_ARM
    special_mappings=arm_pages.ARM_COMPAT_MAPPINGS,
    names=arm_names.NAME_TABLES,
    special_pages=arm_pages.ARM_COMPAT_PAGES,
    breakpoint_insn=b"",
    # the compat frames (arch/arm64/kernel/signal32.c), rt first; each row
    # says where compat_sys_{rt_,}sigreturn reads it (compat_sp itself)
    frame_kinds=tuple(k.row for k in arm_frames.FRAME_KINDS),
    isa_bit=arm_frames.THUMB_BIT,
    restorer_patterns=arm_frames.ARM_RESTORER_PATTERNS,
    isa_restorer_patterns=arm_frames.THUMB_RESTORER_PATTERNS,
    libc_restorer_names=arm_frames.LIBC_RESTORER_NAMES,
    # --step-sigreturn: single steps report TRAP_TRACE; a stepped svc the
    # generic user_single_step_report's SI_USER (0), as for AArch64
    step_trap_codes=(2, 1, 0),
    syscall_step_trap_code=0,
    # cpsr by named rules (sigdbg/abi/arm/sigreturn.py A32_CPSR_RULES), the
    # VFP record against NT_ARM_VFP
    sigreturn_rules=SigreturnRules(flags_restore=arm_sigreturn.a32_restored_cpsr,
                                   flags_rules=arm_sigreturn.A32_CPSR_RULES,
                                   fp_restore=arm_sigreturn.FP_RESTORE),
    # arm64 report_syscall clobbers ip (r12) of a compat task at a syscall-stop
    syscall_stop_scratch="r12",
    isa_flag=arm_frames.CPSR_T,
    isa_disasm_mode="thumb",
    # svc #imm24 (cond AL) / svc #imm8: EABI takes the number from r7 and
    # ignores the immediate (the [sigpage] entries use #119 and #173)
    syscall_insn_words=((4, 0xFF00_0000, 0xEF00_0000, "svc"),),
    isa_syscall_insn_words=((2, 0xFF00, 0xDF00, "svc"),),
    # an execute breakpoint covers 4 bytes of ARM code, 2 of Thumb code
    hw_break_sizes=(4, 2),
    flag_names=arm_frames.cpsr_names,
)

#: the 32-bit ARM ABIs, in registry order
ABIS: tuple[Abi, ...] = (ARM,)
