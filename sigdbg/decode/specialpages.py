"""What the kernel put in a process's special pages, read from target memory.

The registry of such decoders: one line per arch package that has one.  Only
ARM has special pages with contents to decode (the kuser helpers in
``[vectors]`` and the sigreturn trampolines in ``[sigpage]``,
sigdbg/abi/arm/specialpages.py), driven by the ABI's ``special_pages`` rules
(sigdbg/abi/arm/pages.py).  The decoder is an arch package's decode-layer
module (it makes models), hence this registry here rather than a field of
the ABI value, as for sigdbg/decode/fparea.py.
"""

from __future__ import annotations

from sigdbg.abi.arm import specialpages as _arm

SpecialPage = _arm.SpecialPage
Disassemble = _arm.Disassemble
decode_special_pages = _arm.decode_special_pages

__all__ = ["Disassemble", "SpecialPage", "decode_special_pages"]
