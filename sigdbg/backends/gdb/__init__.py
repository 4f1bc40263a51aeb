"""The GDB backend: a Target and a Control over gdb's selected inferior.

It runs on GDB's own Python, which may have none of sigdbg's dependencies
(python-ptrace, pyelftools, capstone), so nothing here imports them; and, as
every backend, it does not import the engine (``tests/unit/test_import_graph.py``).
What runs the engine over it -- the inspector, ``step-sigreturn`` and
``catch`` -- is the GDB front end's (``sigdbg/gdb/``).

- ``task.py``: :class:`GdbTask`, the ``Target`` (memory, registers, maps,
  auxv, the initial stack) of gdb's selected thread, live or in a core;
  ``selected_task`` makes it;
- ``corefind.py``: the core file gdb has open (its notes hold the auxv);
- ``values.py``: what gdb's own tables give: symbols, a value's raw bytes
  (``$_siginfo``), its disassembler;
- ``control.py``: :class:`GdbControl`, the ``Control`` (resume, step, stops
  classified as ``Stop``, breakpoints, an execute breakpoint, interrupt,
  detach) over gdb's ``continue``/``stepi``;
- ``stops.py``: one execution command with its stop events collected, and
  the temporary catchpoints the control sets.

Where the data comes from:

- memory: ``gdb.selected_inferior().read_memory`` (live process or core);
- registers: ``gdb.selected_frame().read_register`` under the names of the
  ABI's ``user_regs_struct`` (so frame 1 gives the registers gdb unwound);
- the ABI: ``Frame.architecture().name()`` ("i386:x86-64" or "i386");
- maps, auxv, the initial stack: ``/proc/PID/{maps,auxv,stat}`` of a live
  inferior; for a core file the raw notes of the core (``NT_AUXV``,
  ``NT_FILE``, ``NT_PRSTATUS``) and its ``PT_LOAD`` headers, read by
  ``decode/corefile.py`` -- never gdb's ``info`` text;
- siginfo: the raw bytes of ``$_siginfo``, which gdb gives in the inferior's
  own layout (compat layout for an i386 inferior, also under a 64-bit gdb);
- symbols: gdb's own tables (``gdb.format_address``), which name the vDSO's
  and libc's restorers without pyelftools (gdb reads the vDSO's ELF image
  from target memory itself, as "system-supplied DSO").
"""
