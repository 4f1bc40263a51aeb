"""The GDB backend: a Target and a Control over gdb's selected inferior (see each module)."""
