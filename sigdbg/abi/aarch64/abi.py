"""The AArch64 ABI value (arch/arm64); its layouts are :mod:`sigdbg.abi.aarch64`."""

from __future__ import annotations

from sigdbg.abi import aarch64
from sigdbg.abi.abis import Abi
from sigdbg.abi.arm import pages as arm_pages

#: AArch64 (arch/arm64).  What is not filled in yet is what tracing signals
#: on AArch64 needs and issue 14 adds next: the sigcontext keeps x0-x30 as
#: an array (``mcontext_regs`` empty until the frame decoder maps it), and
#: the DWARF numbering (x0-x30 = 0-30, sp = 31, the return address in x30,
#: not pc) does not fit ``dwarf_regs``' "last one is the return column" rule.
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
    mcontext_regs=(),
    fp="x29",
    e_machine=183,  # EM_AARCH64
    special_mappings=arm_pages.AARCH64_MAPPINGS,
    breakpoint_insn=b"",
    # arch/arm64/kernel/vdso/sigreturn.S __kernel_rt_sigreturn (the name, not
    # the bytes, says it is the vDSO's: see decode/restorer.py classify_restorer)
    restorer_patterns=(
        (bytes.fromhex("681180d2010000d4"), "rt_sigreturn", "mov x8, #0x8b; svc #0"),
    ),
)

#: the AArch64 ABIs, in registry order
ABIS: tuple[Abi, ...] = (AARCH64,)
