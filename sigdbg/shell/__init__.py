"""The interactive debugger (``sigdbg shell``).

The pieces are injected, ptpython style: :class:`~sigdbg.shell.core.Shell`
holds the session and an output stream and runs one command line at a time
(testable without a terminal); :mod:`~sigdbg.shell.app` wires it to a
prompt_toolkit ``PromptSession`` with the completer (:mod:`.completer`), key
bindings (:mod:`.keys`) and bottom toolbar (:mod:`.toolbar`).  Only this
package imports prompt_toolkit, and only ``app``, ``completer``, ``keys`` and
``toolbar`` do.
"""
