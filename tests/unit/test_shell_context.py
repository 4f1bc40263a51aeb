"""ShellContext (sigdbg/shell/context.py) stays the shell the commands use.

The command modules and the run control are typed against the Protocol, not
against ``Shell``, so that they do not import ``shell.core`` back (no import
cycle: tests/unit/test_import_graph.py).  The Protocol is only worth that if
it is complete in both directions: every attribute those modules use of the
shell is declared in it (read from their source with ast), and the real
``Shell`` has every member it declares (checked on a constructed one).
"""

from __future__ import annotations

import ast
import io
from pathlib import Path

from sigdbg.shell import context
from sigdbg.shell.core import Shell
from sigdbg.shell.run import RunControl

SHELL_DIR = Path(context.__file__).parent
#: modules that take the shell typed as ShellContext
USERS = ("commands.py", "corecmd.py", "data.py", "run.py")


def _declared(proto: type) -> set[str]:
    tree = ast.parse(Path(context.__file__).read_text())
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == proto.__name__:
            out = set()
            for item in node.body:
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    out.add(item.target.id)
                elif isinstance(item, ast.FunctionDef):
                    out.add(item.name)
            return out
    raise AssertionError(f"{proto.__name__} not found")


def _used_of_shell(path: Path) -> set[str]:
    """Attributes read or set on a parameter annotated ``Shell``, or on ``self.shell``."""
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.arg) and node.annotation is not None \
                and "Shell" in ast.unparse(node.annotation):
            names.add(node.arg)
    used = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            base = ast.unparse(node.value)
            if base in names or base == "self.shell":
                used.add(node.attr)
    return used


def test_the_users_are_typed_against_the_protocol() -> None:
    for name in USERS:
        text = (SHELL_DIR / name).read_text()
        assert "from sigdbg.shell.context import ShellContext as Shell" in text, name
        assert "from sigdbg.shell.core import" not in text, name


def test_every_attribute_the_commands_use_is_declared() -> None:
    declared = _declared(context.ShellContext)
    seen = set()
    for name in USERS:
        used = _used_of_shell(SHELL_DIR / name)
        seen |= used
        missing = sorted(used - declared)
        assert not missing, f"{name} uses {missing} of the shell: declare them in ShellContext"
    # the scan found the uses (a scan that sees nothing would pass vacuously)
    assert {"write", "require_stopped", "session", "policy", "run", "core"} <= seen


def test_every_run_control_method_the_commands_use_is_declared() -> None:
    declared = _declared(context.ShellRunner)
    tree = ast.parse((SHELL_DIR / "commands.py").read_text())
    used = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)
            and ast.unparse(n.value) == "sh.run"}
    assert used and used <= declared, sorted(used - declared)


def test_shell_has_every_declared_member() -> None:
    sh = Shell(io.StringIO())
    for proto, obj in ((context.ShellContext, sh), (context.ShellRunner, sh.run)):
        for member in sorted(_declared(proto)):
            assert hasattr(obj, member), f"{type(obj).__name__} lacks {proto.__name__}.{member}"
            attr = getattr(obj, member)
            fn = getattr(proto, member, None)
            if callable(fn) and not isinstance(getattr(proto, member), property):
                assert callable(attr), f"{type(obj).__name__}.{member} should be a method"
    assert isinstance(sh.run, RunControl)
