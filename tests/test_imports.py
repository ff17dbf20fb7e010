"""The layering of hpenv and agents, read from their imports: no cycles, the task registry at the
bottom, the command above the library, and benchmark v1 in a room no later benchmark imports.

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


def _benchmark_v1(graph: dict[str, set[str]]) -> set[str]:
    """Benchmark v1, frozen in its own room: the package agents.bench.v1 and its modules."""
    return {m for m in graph if m == "agents.bench.v1" or m.startswith("agents.bench.v1.")}


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    """The modules ``start`` imports, directly or through others."""
    seen, todo = set(), list(graph[start])
    while todo:
        v = todo.pop()
        if v not in seen:
            seen.add(v)
            todo.extend(graph[v])
    return seen


def test_the_later_benchmarks_never_import_v1():
    """No module of agents.bench outside v1 (v2, v3 and what the generations share) reaches v1, directly
    or through another: only the command (agents.cli) runs v1."""
    graph = import_graph()
    v1 = _benchmark_v1(graph)
    assert {"agents.bench.v1", "agents.bench.v1.protocol", "agents.bench.v1.report", "agents.bench.v1.plots"} <= v1
    later = {m for m in graph if m.startswith("agents.bench") and m not in v1}
    assert {"agents.bench", "agents.bench.v2", "agents.bench.report_v2", "agents.bench.preregistration",
            "agents.bench.v3.gates", "agents.bench.v3.analysis", "agents.bench.methods.learned"} <= later
    offenders = {m: sorted(_reachable(graph, m) & v1) for m in sorted(later) if _reachable(graph, m) & v1}
    assert not offenders, offenders


def test_the_reach_check_sees_an_import_of_v1():
    graph = {"agents.bench.v2": {"agents.bench.common"}, "agents.bench.common": {"agents.bench.v1.protocol"},
             "agents.bench.v1.protocol": set()}
    assert _reachable(graph, "agents.bench.v2") & _benchmark_v1(graph) == {"agents.bench.v1.protocol"}


def test_importing_v2_or_v3_runs_no_v1_code():
    """Importing a submodule runs its packages' ``__init__`` first, which the import graph does not show:
    agents.bench's must not import v1 either."""
    code = ("import sys, agents.bench.v2, agents.bench.verify, agents.bench.v3.gates, agents.bench.v3.analysis, "
            "agents.bench.v3.ledger; print(sorted(m for m in sys.modules if m.startswith('agents.bench.v1')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert out.strip() == "[]"
