"""The bottom toolbar: pid, ABI, running/stopped, the last stop reason."""

from __future__ import annotations

from collections.abc import Callable

from prompt_toolkit.formatted_text import StyleAndTextTuples
from prompt_toolkit.styles import Style as PtStyle

from sigdbg.shell.core import Shell, Status
from sigdbg.textsafe import safe

#: prompt_toolkit classes; NO_COLOR / --color never turn colours off via the colour depth
PT_STYLE = PtStyle.from_dict({
    "prompt": "ansicyan bold",
    "bottom-toolbar": "noreverse bg:#303030 #d0d0d0",
    "bottom-toolbar.key": "bold",
    "bottom-toolbar.stopped": "bg:#303030 ansiyellow bold",
    "bottom-toolbar.running": "bg:#303030 ansigreen bold",
    "bottom-toolbar.none": "bg:#303030 #909090",
})


def status_fragments(st: Status) -> StyleAndTextTuples:
    out: StyleAndTextTuples = [("class:bottom-toolbar.key", " sigdbg ")]
    if st.pid is None:
        why = f": {st.reason}" if st.reason else ""
        out.append(("class:bottom-toolbar.none", f" no process{why} "))
        out.append(("", "| file/run/attach PID to start "))
        return out
    out.append(("", f"| pid {st.pid} ({st.how}) | {st.abi or '?'} | "))
    state_class = "class:bottom-toolbar.running" if st.state == "running" else \
        "class:bottom-toolbar.stopped"
    out.append((state_class, st.state))
    if st.reason:
        out.append(("", f": {safe(st.reason)}"))
    out.append(("", f" | on exit: {st.on_exit} | Tab completes, Ctrl-D quits "))
    return out


def make_toolbar(shell: Shell) -> Callable[[], StyleAndTextTuples]:
    return lambda: status_fragments(shell.status())
