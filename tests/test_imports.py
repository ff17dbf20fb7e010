"""The layering of hpenv and agents, read from their imports: no cycles, the task registry at the
bottom, the command above the library, and benchmark v1 in its own room.

Every ``import`` / ``from ... import`` counts as an edge, at module level and inside functions
alike: a function-level import only defers a cycle to the first call, the two modules still
know each other. Relative imports are resolved against the importing module's package.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("hpenv", "agents")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, module: str, modules: set[str]) -> set[str]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # "from pkg import mod" imports the submodule pkg.mod when there is one
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        for name in names:
            while name and name not in modules:  # "hpenv.tasks.Task" -> "hpenv.tasks"
                name = name.rpartition(".")[0]
            if name and name != module:
                found.add(name)
    return found


def import_graph() -> dict[str, set[str]]:
    paths = {_module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}
    modules = set(paths)
    return {m: _imports(p, m, modules) for m, p in paths.items()}


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm: the components of the graph, each sorted."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
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
            out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _describe(comp: list[str], graph: dict[str, set[str]]) -> str:
    inside = set(comp)
    return "; ".join(f"{m} -> {', '.join(sorted(graph[m] & inside))}" for m in comp)


def test_the_graph_sees_real_imports():
    graph = import_graph()
    assert {"hpenv.tasks", "hpenv.instances", "agents.cli"} <= set(graph)
    assert "hpenv.tasks" in graph["hpenv.instances"]
    assert "hpenv.tasks" in graph["hpenv.config"]


def test_the_cycle_finder_finds_cycles():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert sorted(map(sorted, strongly_connected(graph))) == [["a", "b", "c"], ["d"]]


def test_no_import_cycles():
    graph = import_graph()
    cycles = [c for c in strongly_connected(graph) if len(c) > 1]
    assert not cycles, "import cycles:\n" + "\n".join(_describe(c, graph) for c in cycles)


def test_tasks_imports_nothing_above_it():
    """The task registry sits at the bottom: it may use leaf modules (which import nothing of the
    package, such as hpenv.extras) but never the suites that register into it."""
    graph = import_graph()
    assert all(graph[m] == set() for m in graph["hpenv.tasks"]), graph["hpenv.tasks"]
    assert "hpenv.instances" not in graph["hpenv.tasks"]


def test_the_library_never_imports_the_command():
    """agents.cli is the hptune command on top of the library: nothing of hpenv or the rest of agents
    may need it (a library user would otherwise import a command line, and its registrations)."""
    graph = import_graph()
    cli = {m for m in graph if m == "agents.cli" or m.startswith("agents.cli.")}
    assert {"agents.cli", "agents.cli.config", "agents.cli.parser"} <= cli
    offenders = {m: sorted(graph[m] & cli) for m in graph if m not in cli and graph[m] & cli}
    assert not offenders, offenders


#: Benchmark v1, frozen in its own room: the package agents.bench.v1 and its modules.
V1_BENCHMARK = {"agents.bench.v1", "agents.bench.v1.protocol", "agents.bench.v1.report", "agents.bench.v1.plots"}

#: The one named exception: v2's PrepareContext rebuilds a v1 Protocol (the budgets the methods read
#: as ``ctx.protocol``). These are exactly v2's imports of v1, ``(module, name)``, so it cannot grow.
V2_IMPORTS_OF_V1 = {("agents.bench.v1.protocol", "Protocol")}


def _reachable(graph: dict[str, set[str]], start: str, skip: set[str] = frozenset()) -> set[str]:
    """The modules ``start`` imports, directly or through others, leaving out its edges to ``skip``."""
    seen, todo = set(), [w for w in graph[start] if w not in skip]
    while todo:
        v = todo.pop()
        if v not in seen:
            seen.add(v)
            todo.extend(graph[v])
    return seen


def _v1_imports(path: Path) -> set[tuple[str, str]]:
    """``(module, name)`` for every ``from module import name`` of a v1 module in ``path``
    (``import module``: name "")."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module in V1_BENCHMARK:
            found |= {(node.module, alias.name) for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {(alias.name, "") for alias in node.names if alias.name in V1_BENCHMARK}
    return found


def test_benchmark_v3_never_imports_v1():
    """v3 stands on its own: no module of agents.bench.v3 reaches v1, directly or through another."""
    graph = import_graph()
    assert V1_BENCHMARK <= set(graph), V1_BENCHMARK - set(graph)
    v3 = sorted(m for m in graph if m == "agents.bench.v3" or m.startswith("agents.bench.v3."))
    assert {"agents.bench.v3", "agents.bench.v3.gates", "agents.bench.v3.analysis"} <= set(v3)
    offenders = {m: sorted(_reachable(graph, m) & V1_BENCHMARK) for m in v3 if _reachable(graph, m) & V1_BENCHMARK}
    assert not offenders, offenders


def test_benchmark_v2_imports_v1_only_where_named():
    """v2 imports v1 only as :data:`V2_IMPORTS_OF_V1` lists (remove an entry when v2 stops needing
    it), and nothing else it imports reaches v1."""
    graph = import_graph()
    assert _v1_imports(ROOT / "agents" / "bench" / "v2.py") == V2_IMPORTS_OF_V1
    excepted = {module for module, _ in V2_IMPORTS_OF_V1}
    assert not _reachable(graph, "agents.bench.v2", skip=excepted) & V1_BENCHMARK


def test_importing_v3_runs_no_v1_code():
    """Importing a submodule runs its packages' ``__init__`` first, which the import graph does not show:
    agents.bench's must not import v1."""
    code = ("import sys, agents.bench.v3.gates, agents.bench.v3.analysis, agents.bench.v3.ledger; "
            "print(sorted(m for m in sys.modules if m.startswith('agents.bench.v1')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert out.strip() == "[]"
