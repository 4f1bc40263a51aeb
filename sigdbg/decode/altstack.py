"""How much of the alternate signal stack a delivery used, and whether the
stack is as large as the kernel says a frame can be.

A handler installed with SA_ONSTACK runs on the stack registered with
sigaltstack(2).  The kernel (``get_sigframe`` in arch/x86/kernel/signal.c)
puts the frame at the top of that stack, ``ss_sp + ss_size``, and builds it
downwards; what is left below the frame start is all the handler (and any
signal nested on the same stack) has.  The frame's ``uc_stack`` holds the
registered stack (``unsafe_save_altstack``, include/linux/signal.h), so the
numbers come from the frame the kernel wrote, not from asking the task.

The kernel accepts any ``ss_size >= MINSIGSTKSZ`` (2048 on x86,
``do_sigaltstack`` in kernel/signal.c), which is smaller than the largest
frame it may build.  Since Linux 5.14 it tells user space the real minimum
in the auxv: ``AT_MINSIGSTKSZ`` = the largest frame for this CPU's XSAVE
features (``init_sigframe_size`` in arch/x86/kernel/signal.c).  A stack
below that may work today and overflow on a machine with more state (AVX-512,
AMX), or when a second signal nests on it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sigdbg.decode.model import Model

#: the uapi MINSIGSTKSZ for x86 (arch/x86/include/uapi/asm/signal.h)
MINSIGSTKSZ = 2048


@dataclass(frozen=True)
class AltstackUse(Model):
    """One delivery on an alternate signal stack."""

    ss_sp: int  #: the registered stack's base (uc_stack.ss_sp)
    ss_size: int  #: its size (uc_stack.ss_size)
    frame: int  #: the frame's start (sp at handler entry)
    headroom: int  #: bytes left below the frame: frame - ss_sp
    used: int  #: bytes from the frame to the top of the stack: ss_sp + ss_size - frame
    at_minsigstksz: int | None  #: the auxv's AT_MINSIGSTKSZ (None: the kernel gave none)
    too_small: bool  #: ss_size < AT_MINSIGSTKSZ

    @property
    def problem(self) -> str | None:
        """One line when the stack is smaller than the kernel's minimum."""
        if not self.too_small:
            return None
        return (f"alternate stack of {self.ss_size} bytes is smaller than the kernel's "
                f"AT_MINSIGSTKSZ {self.at_minsigstksz}")


def altstack_use(ss_sp: int, ss_size: int, frame: int,
                 at_minsigstksz: int | None) -> AltstackUse:
    """The headroom of a frame at ``frame`` on the stack ``[ss_sp, ss_sp + ss_size)``."""
    return AltstackUse(ss_sp, ss_size, frame, frame - ss_sp, ss_sp + ss_size - frame,
                       at_minsigstksz,
                       at_minsigstksz is not None and ss_size < at_minsigstksz)
