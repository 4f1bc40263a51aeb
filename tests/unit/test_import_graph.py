"""The import graph of sigdbg, read from the source with :mod:`ast` (nothing is imported).

Every ``import`` counts: at module level, inside a function (a deferred
import is still a dependency) and under ``if TYPE_CHECKING:`` (a type is a
dependency too; issue 13's cycles session<->sigreturn and shell
core<->commands were half made of those).  ``importlib.import_module("x")``
and ``__import__("x")`` with a constant name count as well.  The implicit
import of a parent package's ``__init__`` does not: those are empty except
the root's, whose only import is the lazy ``sigdbg.api`` of ``__getattr__``.

What is proved (docs/architecture.md explains the picture):

1. no import cycle between modules (the cycle is printed with file:line of
   each edge when there is one);
2. only ``sigdbg/backends/*`` imports ``ptrace`` (python-ptrace); only the GDB
   side (the backend ``sigdbg/backends/gdb/``, the front end's modules that
   run in gdb -- ``sigdbg/gdb/extension.py``, ``inspector.py``,
   ``runner.py`` -- and ``plugins/``) imports ``gdb``; only ``sigdbg/shell``
   imports ``prompt_toolkit``;
3. every module has a layer in :data:`LAYERS` (a new package fails until it
   is placed there), and a module imports only from lower layers or its own;
   layers of equal rank do not import each other (the engine and the
   concrete backends; the front ends);
4. what GDB's own Python loads (abi, names, decode, the GDB backend and
   front end) reaches none of ``ptrace`` and ``prompt_toolkit``.

The checker is itself tested on small trees written to a temporary
directory, so that "no violation" on the real tree means something.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: (layer, rank, module patterns).  A pattern is a module name, or ``name.*``
#: for a package and everything in it; the longest matching pattern wins.  A
#: module may import modules of lower rank and of its own layer; two
#: different layers of the same rank may not import each other.
LAYERS: tuple[tuple[str, int, tuple[str, ...]], ...] = (
    # leaf helpers every layer may use
    ("foundation", 0, ("sigdbg.errors", "sigdbg.textsafe")),
    # arch facts as data, and number -> name tables
    ("abi", 1, ("sigdbg.abi.*",)),
    # (names asks the ABI registry for the per-arch tables: one rank up)
    ("names", 2, ("sigdbg.names.*",)),
    # the Protocols backends implement, and the kernel numbers stops are told by
    ("protocols", 2, ("sigdbg.backends", "sigdbg.backends.base", "sigdbg.backends.stopcodes",
                   "sigdbg.backends.tracercontrol")),
    # bytes -> frozen models, from a Memory and an Abi; an arch package's
    # decoders (they make models) are of this layer too, listed one by one
    ("decode", 3, ("sigdbg.decode.*", "sigdbg.abi.x86.xsave", "sigdbg.abi.x86.vector_regs",
                   "sigdbg.abi.aarch64.a64frame", "sigdbg.abi.aarch64.records",
                   "sigdbg.abi.arm.a32frame", "sigdbg.abi.arm.regspace",
                   "sigdbg.abi.arm.specialpages")),
    # concrete backends (each listed: a new backend module must be placed)
    ("backends", 4, ("sigdbg.backends.ptrace", "sigdbg.backends.ptrace_sys",
                     "sigdbg.backends.ptrace_task", "sigdbg.backends._fastptrace",
                     "sigdbg.backends.core", "sigdbg.backends.gdb.*")),
    # stops, deliveries, the sigreturn walk, inspectors
    ("engine", 4, ("sigdbg.engine.*",)),
    # models -> text
    ("render", 5, ("sigdbg.render.*",)),
    # the command definitions every front end shares (sigdbg/commands/)
    ("commands", 6, ("sigdbg.commands.*",)),
    # front ends
    ("cli", 7, ("sigdbg.cli.*",)),
    ("shell", 7, ("sigdbg.shell.*",)),
    ("gdb", 7, ("sigdbg.gdb.*",)),
    ("api", 7, ("sigdbg.api",)),
    # entry points: the package root (sigdbg.launch...), `python -m sigdbg`,
    # the `sigdbg` command, the GDB extension file
    ("entry", 8, ("sigdbg", "sigdbg.__main__", "sigdbg.cli.main", "plugins.*")),
)

#: third-party modules and the modules allowed to import them (same patterns)
THIRD_PARTY_OWNERS: dict[str, tuple[str, ...]] = {
    "ptrace": ("sigdbg.backends.*",),
    # (not the rest of sigdbg/gdb/: plugin.py, locate.py, launch.py run on any Python)
    "gdb": ("sigdbg.backends.gdb.*", "sigdbg.gdb.extension", "sigdbg.gdb.inspector",
            "sigdbg.gdb.runner", "plugins.*"),
    "prompt_toolkit": ("sigdbg.shell.*",),
}

#: layers whose modules GDB's own Python imports (it has none of our dependencies)
GDB_PYTHON_LAYERS = ("foundation", "abi", "names", "protocols", "decode")
#: and the modules of other layers it imports: the GDB backend (of the backends
#: layer) and the GDB front end (the extension and what it runs)
GDB_PYTHON_MODULES = ("sigdbg.backends.gdb.*", "sigdbg.gdb.*")

#: layer violations that exist and are scheduled to go, each with its reason.
#: Exact: a new violation fails, and so does an entry that no longer occurs
#: (delete it).  Cycles have no such list.
KNOWN_LAYER_DEBT: dict[tuple[str, str], str] = {
}


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    path: str  #: of the importing file, relative to the root
    line: int
    how: str  #: "top", "deferred" (inside a function) or "typing" (TYPE_CHECKING)

    def where(self) -> str:
        return f"{self.path}:{self.line} ({self.how})"


@dataclass
class Graph:
    modules: dict[str, Path] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)  #: between our modules
    external: list[Edge] = field(default_factory=list)  #: target = top-level foreign name


def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    parts[-1] = parts[-1].split(".")[0]  # an extension module: name.cpython-311-....so
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.Module) -> list[tuple[ast.AST, str]]:
    """Every import node with how it is reached (top, deferred, typing)."""
    out: list[tuple[ast.AST, str]] = []

    def visit(node: ast.AST, how: str) -> None:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            out.append((node, how))
            return
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            f = node.func
            if (f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")) in (
                    "import_module", "__import__"):
                out.append((node, how))
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for n in node.body:
                visit(n, "typing")
            for n in node.orelse:
                visit(n, how)
            return
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) and how == "top":
            how = "deferred"
        for child in ast.iter_child_nodes(node):
            visit(child, how)

    visit(tree, "top")
    return out


def build_graph(root: Path, packages: tuple[str, ...] = ("sigdbg", "plugins")) -> Graph:
    g = Graph()
    files: list[Path] = []
    for pkg in packages:
        base = root / pkg
        if not base.exists():
            continue
        files.extend(sorted(base.rglob("*.py")))
        # C extension modules are importable too (their source: a built .so
        # may be missing from a fresh checkout)
        for ext in sorted(base.rglob("*.c")):
            g.modules.setdefault(_module_name(root, ext), ext)
    for f in files:
        g.modules[_module_name(root, f)] = f
    known = set(g.modules)

    def is_package(name: str) -> bool:
        p = g.modules.get(name)
        return p is not None and p.name == "__init__.py"

    def resolve(src: str, node: ast.AST) -> list[str]:
        if isinstance(node, ast.Import):
            return [a.name for a in node.names]
        if isinstance(node, ast.Call):
            arg = node.args[0]
            assert isinstance(arg, ast.Constant)
            return [str(arg.value)]
        assert isinstance(node, ast.ImportFrom)
        if node.level:
            base = src.split(".")
            if not is_package(src):
                base = base[:-1]
            base = base[:len(base) - (node.level - 1)]
            prefix = ".".join(base + ([node.module] if node.module else []))
        else:
            prefix = node.module or ""
        out = []
        for a in node.names:
            sub = f"{prefix}.{a.name}"
            out.append(sub if sub in known else prefix)  # a submodule, else a name in prefix
        return out

    for name, path in g.modules.items():
        if path.suffix != ".py":
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        rel = str(path.relative_to(root))
        for node, how in _imports(tree):
            for target in resolve(name, node):
                line = getattr(node, "lineno", 0)
                top = target.split(".")[0]
                if target in known or top in packages:
                    # an import of ours; a name we do not have is still ours (a typo
                    # would fail at import time; the layer check wants a known module)
                    while target not in known and "." in target:
                        target = target.rsplit(".", 1)[0]
                    if target != name:
                        g.edges.append(Edge(name, target, rel, line, how))
                else:
                    g.external.append(Edge(name, top, rel, line, how))
    return g


def _matches(module: str, pattern: str) -> int:
    """Length of the match of ``pattern`` against ``module``, 0 for none."""
    if pattern.endswith(".*"):
        base = pattern[:-2]
        return len(base) if module == base or module.startswith(base + ".") else 0
    return len(pattern) + 1 if module == pattern else 0  # an exact name beats a prefix


def layer_of(module: str, layers: tuple[tuple[str, int, tuple[str, ...]], ...] = LAYERS
             ) -> tuple[str, int] | None:
    best: tuple[int, str, int] | None = None
    for name, rank, patterns in layers:
        for p in patterns:
            n = _matches(module, p)
            if n and (best is None or n > best[0]):
                best = (n, name, rank)
    return None if best is None else (best[1], best[2])


def owned_by(module: str, patterns: tuple[str, ...]) -> bool:
    return any(_matches(module, p) for p in patterns)


def find_cycles(g: Graph) -> list[tuple[list[str], list[Edge]]]:
    """Per strongly connected component (Tarjan): its modules, and one shortest
    cycle through the first of them (as its edges)."""
    succ: dict[str, dict[str, Edge]] = {m: {} for m in g.modules}
    for e in g.edges:
        succ.setdefault(e.source, {}).setdefault(e.target, e)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    sccs: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:  # iterative enough for this graph's depth
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(succ.get(v, {})):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(sorted(comp))

    for v in sorted(succ):
        if v not in index:
            strong(v)
    cycles = []
    for comp in sccs:
        members = set(comp)
        start = comp[0]
        # breadth-first back to start inside the component: a shortest cycle
        prev: dict[str, Edge] = {}
        frontier = [start]
        found: Edge | None = None
        while frontier and found is None:
            nxt = []
            for v in frontier:
                for w, e in sorted(succ.get(v, {}).items()):
                    if w == start:
                        found = e
                        break
                    if w in members and w not in prev:
                        prev[w] = e
                        nxt.append(w)
                if found:
                    break
            frontier = nxt
        assert found is not None
        path = [found]
        while path[0].source != start:
            path.insert(0, prev[path[0].source])
        cycles.append((comp, path))
    return cycles


def layer_violations(g: Graph, layers: tuple[tuple[str, int, tuple[str, ...]], ...] = LAYERS
                     ) -> tuple[list[str], dict[tuple[str, str], Edge]]:
    """(modules without a layer, {(source, target): first edge} of forbidden imports)."""
    unplaced = sorted(m for m in g.modules if layer_of(m, layers) is None)
    bad: dict[tuple[str, str], Edge] = {}
    for e in g.edges:
        a, b = layer_of(e.source, layers), layer_of(e.target, layers)
        if a is None or b is None:
            continue
        if a[0] != b[0] and a[1] <= b[1]:
            bad.setdefault((e.source, e.target), e)
    return unplaced, bad


def foreign_violations(g: Graph, owners: dict[str, tuple[str, ...]] = THIRD_PARTY_OWNERS
                       ) -> list[Edge]:
    return [e for e in g.external if e.target in owners
            and not owned_by(e.source, owners[e.target])]


def reachable_foreign(g: Graph, start: str) -> dict[str, list[str]]:
    """Foreign names in ``owners`` reachable from ``start``, with the module chain."""
    succ: dict[str, list[str]] = {}
    for e in g.edges:
        succ.setdefault(e.source, []).append(e.target)
    ext: dict[str, set[str]] = {}
    for e in g.external:
        ext.setdefault(e.source, set()).add(e.target)
    chain = {start: [start]}
    todo = [start]
    out: dict[str, list[str]] = {}
    while todo:
        v = todo.pop()
        for name in ext.get(v, ()):
            if name in THIRD_PARTY_OWNERS and name not in out:
                out[name] = chain[v]
        for w in succ.get(v, ()):
            if w not in chain:
                chain[w] = chain[v] + [w]
                todo.append(w)
    return out


def _show_cycle(found: tuple[list[str], list[Edge]]) -> str:
    members, cycle = found
    return (f"{len(members)} modules import each other: {', '.join(members)}; e.g.\n    "
            + " -> ".join([cycle[0].source] + [e.target for e in cycle]) + "\n"
            + "\n".join(f"    {e.source} -> {e.target} at {e.where()}" for e in cycle))


# -- the real tree -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def graph() -> Graph:
    return build_graph(ROOT)


def test_the_graph_is_read(graph: Graph) -> None:
    # the checker sees the modules and the imports we know are there
    assert {"sigdbg.engine.session", "sigdbg.backends.ptrace", "sigdbg.shell.app",
            "sigdbg.backends._fastptrace", "plugins.gdb.sigdbg"} <= set(graph.modules)
    pairs = {(e.source, e.target) for e in graph.edges}
    assert ("sigdbg.engine.fastrun", "sigdbg.engine.sigreturn") in pairs  # a deferred import
    assert ("sigdbg.shell.commands", "sigdbg.shell.context") in pairs  # under TYPE_CHECKING
    assert ("sigdbg.backends.ptrace_sys", "sigdbg.backends._fastptrace") in pairs
    assert ("sigdbg.backends.ptrace", "ptrace") in {(e.source, e.target) for e in graph.external}


def test_no_import_cycles(graph: Graph) -> None:
    cycles = find_cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(_show_cycle(c) for c in cycles)


def test_third_party_debugger_libraries_stay_in_their_layer(graph: Graph) -> None:
    bad = foreign_violations(graph)
    assert not bad, "\n".join(f"{e.source} imports {e.target} at {e.where()}; only "
                              f"{', '.join(THIRD_PARTY_OWNERS[e.target])} may" for e in bad)


def test_every_module_has_a_layer(graph: Graph) -> None:
    unplaced, _ = layer_violations(graph)
    assert not unplaced, (f"modules without a layer (add their package to LAYERS in "
                          f"{Path(__file__).name} and to docs/architecture.md): {unplaced}")


def test_imports_point_down_the_layers(graph: Graph) -> None:
    _, bad = layer_violations(graph)
    new = {k: e for k, e in bad.items() if k not in KNOWN_LAYER_DEBT}
    gone = sorted(k for k in KNOWN_LAYER_DEBT if k not in bad)

    def show(e: Edge) -> str:
        a, b = layer_of(e.source), layer_of(e.target)
        return f"{e.source} ({a}) imports {e.target} ({b}) at {e.where()}"

    assert not new, "imports against the layers:\n" + "\n".join(show(e) for e in new.values())
    assert not gone, f"KNOWN_LAYER_DEBT entries that no longer occur (delete them): {gone}"


def test_what_gdbs_python_loads_needs_no_ptrace_or_prompt_toolkit(graph: Graph) -> None:
    problems = []
    for m in sorted(graph.modules):
        placed = layer_of(m)
        if placed is None or placed[0] not in GDB_PYTHON_LAYERS:
            continue
        for name, chain in reachable_foreign(graph, m).items():
            problems.append(f"{m} reaches {name} via {' -> '.join(chain)}")
    assert not problems, "\n".join(problems)


def test_the_gdb_side_needs_no_ptrace_or_prompt_toolkit(graph: Graph) -> None:
    mods = [m for m in sorted(graph.modules) if owned_by(m, GDB_PYTHON_MODULES)]
    assert {"sigdbg.backends.gdb.control", "sigdbg.gdb.extension"} <= set(mods)
    problems = [f"{m} reaches {name} via {' -> '.join(chain)}" for m in mods
                for name, chain in reachable_foreign(graph, m).items()
                if name in ("ptrace", "prompt_toolkit")]
    assert not problems, "\n".join(problems)


def test_layer_table_ranks_are_consistent() -> None:
    # each layer appears once, and a pattern belongs to one layer only
    names = [x[0] for x in LAYERS]
    assert len(names) == len(set(names))
    patterns = [p for _, _, ps in LAYERS for p in ps]
    assert len(patterns) == len(set(patterns))
    assert set(GDB_PYTHON_LAYERS) <= set(names)


# -- the checker, on small trees -----------------------------------------------------------
def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return tmp_path


_TOY_LAYERS: tuple[tuple[str, int, tuple[str, ...]], ...] = (
    ("low", 0, ("pkg.low.*",)),
    ("mid", 1, ("pkg.mid.*",)),
    ("side", 1, ("pkg.side",)),
    ("top", 2, ("pkg", "pkg.top.*")),
)


def test_checker_reports_a_cycle_through_deferred_and_typing_imports(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/mid/__init__.py": "",
        "pkg/mid/a.py": "def f():\n    from pkg.mid import b\n",
        "pkg/mid/b.py": ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                         "    from pkg.mid.c import C\n"),
        "pkg/mid/c.py": "from . import a\n",
        "pkg/mid/d.py": "import pkg.mid.a\n",  # into the cycle, not part of it
    })
    g = build_graph(root, ("pkg",))
    cycles = find_cycles(g)
    assert len(cycles) == 1
    members, cyc = cycles[0]
    assert members == ["pkg.mid.a", "pkg.mid.b", "pkg.mid.c"]
    assert [e.source for e in cyc] == ["pkg.mid.a", "pkg.mid.b", "pkg.mid.c"]
    assert [e.target for e in cyc] == ["pkg.mid.b", "pkg.mid.c", "pkg.mid.a"]
    assert [(e.line, e.how) for e in cyc] == [(2, "deferred"), (3, "typing"), (1, "top")]
    assert "pkg/mid/a.py:2 (deferred)" in _show_cycle(cycles[0])


def test_checker_reports_layer_breaks_and_unplaced_packages(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/low/__init__.py": "",
        "pkg/low/x.py": "from pkg.mid.y import Y\n",  # up: forbidden
        "pkg/mid/__init__.py": "",
        "pkg/mid/y.py": "import pkg.low.x\nfrom pkg import side\n",  # down: fine; sideways: not
        "pkg/side.py": "",
        "pkg/top/__init__.py": "import importlib\nimportlib.import_module('pkg.mid.y')\n",
        "pkg/new/__init__.py": "",
    })
    g = build_graph(root, ("pkg",))
    unplaced, bad = layer_violations(g, _TOY_LAYERS)
    assert unplaced == ["pkg.new"]
    assert set(bad) == {("pkg.low.x", "pkg.mid.y"), ("pkg.mid.y", "pkg.side")}
    assert ("pkg.top", "pkg.mid.y") in {(e.source, e.target) for e in g.edges}  # import_module


def test_checker_reports_foreign_imports_and_reach(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "sigdbg/__init__.py": "",
        "sigdbg/decode/__init__.py": "",
        "sigdbg/decode/a.py": "def f():\n    from sigdbg.shell import b\n",
        "sigdbg/shell/__init__.py": "",
        "sigdbg/shell/b.py": "import prompt_toolkit.completion\nimport gdb\n",
        "sigdbg/backends/__init__.py": "",
        "sigdbg/backends/ptrace.py": "from ptrace.binding import func\n",
    })
    g = build_graph(root, ("sigdbg",))
    bad = foreign_violations(g)
    assert [(e.source, e.target) for e in bad] == [("sigdbg.shell.b", "gdb")]
    reach = reachable_foreign(g, "sigdbg.decode.a")
    assert reach["prompt_toolkit"] == ["sigdbg.decode.a", "sigdbg.shell.b"]
    assert set(reach) == {"prompt_toolkit", "gdb"}
