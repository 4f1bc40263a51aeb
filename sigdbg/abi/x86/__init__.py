"""x86: the x86_64 and i386 ABIs.

Layouts (:mod:`.x86_64`, :mod:`.i386`, :mod:`.fp`) and the ``Abi`` values
with their frame kinds (:mod:`.abi`).  Everything x86-specific sigdbg knows
lives in this package (tests/unit/test_arch_boundary.py holds the rest of the
tree to that).
"""
