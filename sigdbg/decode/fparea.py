"""The FP/vector area a signal frame's saved context points at, decoded by
its architecture's walker.

The registry of such walkers: one line per arch package that has one.  Only
x86 keeps its FP area behind a pointer in the sigcontext (``fpstate``: the
FXSAVE/XSAVE image, sigdbg/abi/x86/xsave.py); AArch64 and ARM keep theirs in
records inside the frame, which their frame decoders walk.  The vector
registers the shell's ``regs --fp`` shows come from the same image
(sigdbg/abi/x86/vector_regs.py).  The walker is an
arch package's decode-layer module (it makes a model), hence this registry
here rather than a field of the ABI value (tests/unit/test_import_graph.py).
"""

from __future__ import annotations

from sigdbg.abi.x86 import vector_regs as _x86_vector
from sigdbg.abi.x86 import xsave as _x86

FpState = _x86.FpState
decode_fpstate_in = _x86.decode_fpstate_in
try_decode_fpstate = _x86.try_decode_fpstate
fp_changes = _x86.fp_changes
fp_value_json = _x86.fp_value_json
#: the C trace loop's template holes of a decoded area (engine/fastpath.py)
fpstate_value_fields = _x86.fpstate_value_fields
#: the vector registers ``regs --fp`` shows: from the regset or a frame's area
VectorRegisters = _x86_vector.VectorRegisters
vectors_from_regset = _x86_vector.from_regset
vectors_from_fpstate = _x86_vector.from_fpstate

__all__ = ["FpState", "VectorRegisters", "decode_fpstate_in", "fp_changes", "fp_value_json",
           "fpstate_value_fields", "try_decode_fpstate", "vectors_from_fpstate",
           "vectors_from_regset"]
