"""No import cycles among the modules of hpenv and agents.

Every ``import`` / ``from ... import`` counts as an edge, at module level and inside functions
alike: a function-level import only defers a cycle to the first call, the two modules still
know each other. Relative imports are resolved against the importing module's package.
"""

from __future__ import annotations

import ast
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
