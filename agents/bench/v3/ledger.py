"""Benchmark v3's ledger: a row when a run that scores test or transfer members begins, another when it ends.

``benchmarks/results/v3/ledger.csv`` of a checkout (`LEDGER_PATH`, found by
[`find_ledger`][agents.bench.v3.ledger.find_ledger]) is append-only. v2's ledger ([`agents.bench.ledger`][])
wrote a row only when a run completed, so an aborted test run left no trace (issue 27). Here
[`ledger_run`][agents.bench.v3.ledger.ledger_run] wraps the scoring of one suite's split (``test`` or
``transfer``):

* on entry, before any member is scored, one ``start`` row per method, all with one new ``run_id``;
* on a normal exit, one ``end`` row per method with the same ``run_id``, the SHA-256 of the results
  file, the number of members scored and the mean test accuracy;
* on an exception, nothing more: the ``start`` rows stay
  ([`unfinished_runs`][agents.bench.v3.ledger.unfinished_runs] lists the run) and the exception propagates. A
  resumed run is a new run: a new ``start`` and a new ``run_id``.

Every row records the code that ran (the commit, whether the tree was dirty, the method's
[`method_code_fingerprint`][agents.bench.v3.ledger.method_code_fingerprint] and the environment's
[`env_fingerprint`][agents.bench.v3.ledger.env_fingerprint], both over source with docstrings and comments
stripped) and the machine (hpenv and torch versions, the CPU).

Rows are appended with one write of whole lines, flushed and fsync'ed; the file is never rewritten,
and a file whose header is not `LEDGER_COLUMNS` is refused rather than appended to.
"""

from __future__ import annotations

import ast
import csv
import dataclasses
import hashlib
import importlib
import importlib.util
import io
import json
import os
import pkgutil
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Iterable, Sequence

from agents.bench.common import cpu_name
from agents.bench.ledger import LEDGER_COLUMNS as V2_LEDGER_COLUMNS
from agents.bench.ledger import file_sha256, git_state, utc_now

__all__ = ["LEDGER_PATH", "LEDGER_COLUMNS", "EVENTS", "SPLITS", "LedgerRow", "LedgerRun", "find_ledger",
           "ledger_run", "read_ledger", "unfinished_runs", "code_fingerprint", "method_code_fingerprint",
           "env_fingerprint", "machine_identity"]

#: Where a checkout keeps the v3 ledger, relative to its root (the repository's record, not package data).
LEDGER_PATH = Path("benchmarks", "results", "v3", "ledger.csv")
#: A file that marks a checkout with benchmark v3, where the ledger is created by its first run.
PROTOCOL_PATH = Path("benchmarks", "v3", "protocol.toml")
#: The ``event`` column's values.
EVENTS = ("start", "end")
#: The splits whose scoring is filed: every run that scores test or transfer members.
SPLITS = ("test", "transfer")


@dataclass(frozen=True)
class LedgerRow:
    """One row of the v3 ledger: v2's columns (same names, same order), then v3's.

    Numbers a ``start`` row cannot know yet (the mean accuracy, the difference) are ``None``, written
    as empty cells.
    """

    date: str
    """UTC, ISO 8601 (``2027-01-20T14:03:11Z``): when the row was written."""
    commit: str
    """``git rev-parse HEAD`` of the ledger's checkout when the run began, or ``"unknown"``."""
    dirty: bool
    """Tracked files outside ``benchmarks/results`` had uncommitted changes when the run began."""
    protocol_hash: str
    suite: str
    method: str
    method_version: str
    method_fingerprint: str
    n_members: int | None
    """``start``: the members the run means to score (if the caller said); ``end``: the members scored."""
    n_seeds: int | None
    mean_test_accuracy: float | None
    reference: str
    difference_vs_reference: float | None
    results_sha256: str
    """``end``: SHA-256 of the results file the run wrote; ``start``: of the file as the run found it
    (a resumed run's earlier rows), empty if there was none."""
    split: str
    """``test`` or ``transfer`` (`SPLITS`)."""
    event: str
    """``start`` or ``end`` (`EVENTS`)."""
    run_id: str
    """One id per run session, shared by its ``start`` and ``end`` rows."""
    env_fingerprint: str
    """[`env_fingerprint`][agents.bench.v3.ledger.env_fingerprint] when the run began."""
    hpenv_version: str
    torch_version: str
    cpu: str
    """The CPU's model name (``/proc/cpuinfo``), else what `platform` says."""


#: The ledger's header: v2's columns, then ``split``, ``event``, ``run_id`` and the machine's identity.
LEDGER_COLUMNS = [f.name for f in dataclasses.fields(LedgerRow)]
# v2 tools (and readers of both ledgers) rely on v2's columns being a prefix of v3's
assert LEDGER_COLUMNS[:len(V2_LEDGER_COLUMNS)] == V2_LEDGER_COLUMNS, "v3 ledger columns must extend v2's"
_HEADER = ",".join(LEDGER_COLUMNS)


def find_ledger(start: str | Path | None = None) -> Path:
    """The v3 ledger of the checkout holding ``start`` (default: the current folder).

    The first folder, from ``start`` upwards, that has `LEDGER_PATH`; failing that, the first
    that has the v3 protocol (`PROTOCOL_PATH`), whose ledger the first run creates.

    Raises:
        ValueError: neither is found, naming where it looked and what to pass instead.
    """
    start = Path(start if start is not None else Path.cwd()).resolve()
    folders = (start, *start.parents)
    for folder in folders:
        if (folder / LEDGER_PATH).is_file():
            return folder / LEDGER_PATH
    for folder in folders:
        if (folder / PROTOCOL_PATH).is_file():
            return folder / LEDGER_PATH
    raise ValueError(f"no v3 ledger ({LEDGER_PATH}) or v3 protocol ({PROTOCOL_PATH}) in {start} or a folder above "
                     f"it: a run that scores test or transfer members is filed in the ledger of a checkout of "
                     f"hpenv; run it from a checkout, or give the ledger file to append to (--ledger FILE)")


# ---------------------------------------------------------------------- fingerprints
def _strip_docstrings(tree: ast.AST) -> ast.AST:
    """Drop every statement that is a bare string literal (docstrings of modules, classes and
    functions, and the attribute docstrings this code base writes under fields): none of them
    changes what the code does, and editing them must not make a new method version."""
    for node in ast.walk(tree):
        for name in ("body", "orelse", "finalbody"):
            stmts = getattr(node, name, None)
            if not isinstance(stmts, list) or not stmts or not isinstance(stmts[0], ast.stmt):
                continue
            kept = [s for s in stmts if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant)
                                             and isinstance(s.value.value, str))]
            if not kept and name == "body":  # a body of docstrings only still needs a statement
                kept = [ast.Pass()]
            setattr(node, name, kept)
    return tree


def _module_name_and_file(module: ModuleType | str) -> tuple[str, Path]:
    if isinstance(module, ModuleType):
        name, origin = module.__name__, getattr(module, "__file__", None)
        spec = getattr(module, "__spec__", None)
        if origin is None and spec is not None:
            origin = spec.origin
    elif isinstance(module, str) and isinstance(sys.modules.get(module), ModuleType):
        return _module_name_and_file(sys.modules[module])  # the file the running code came from
    elif isinstance(module, str):
        name = module
        try:
            # find_spec reads where the module lives without running it (only its parent packages)
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError) as e:
            raise ValueError(f"modules: cannot find module {module!r} ({e})") from None
        if spec is None:
            raise ValueError(f"modules: no module named {module!r} is importable")
        origin = spec.origin
    else:
        raise ValueError(f"modules: got {module!r} of type {type(module).__name__}; allowed: module objects "
                         f"or dotted module names (str)")
    if not origin or not str(origin).endswith(".py") or not Path(origin).is_file():
        raise ValueError(f"modules: module {name!r} has no Python source file (origin {origin!r}); only modules "
                         f"with .py source can be fingerprinted")
    return name, Path(origin)


def _normalised_source(name: str, file: Path) -> str:
    try:
        tree = ast.parse(file.read_text(encoding="utf-8"), filename=str(file))
    except SyntaxError as e:
        raise ValueError(f"modules: the source of {name!r} ({file}) does not parse ({e})") from None
    return ast.unparse(_strip_docstrings(tree))


def code_fingerprint(modules: Iterable[ModuleType | str] | ModuleType | str) -> str:
    """SHA-256 (hex) of the code of ``modules``, docstrings and comments stripped.

    Each module's source file is parsed, its docstrings dropped and the tree written back with
    `ast.unparse`, so comments, docstrings and formatting do not count and code does. The
    modules are hashed by name in sorted order (a module given twice counts once); a module's name
    is part of what is hashed. The source is read from disk now: fingerprint before the run, from the
    tree the run imported. `ast.unparse`'s layout can differ between Python versions, so compare
    fingerprints made under one Python minor version.

    Args:
        modules: module objects or dotted names (``"agents.reinforce"``); one module alone is accepted.

    Raises:
        ValueError: ``modules`` is empty, or one of them is not a module or name, cannot be found, or
            has no ``.py`` source.
    """
    if isinstance(modules, (ModuleType, str)):
        modules = [modules]
    located = dict(_module_name_and_file(m) for m in modules)
    if not located:
        raise ValueError("modules: got no modules; give at least one module object or dotted name")
    digest = hashlib.sha256()
    for name in sorted(located):
        for part in (name, _normalised_source(name, located[name])):
            digest.update(part.encode())
            digest.update(b"\0")  # so that ("ab", "c") and ("a", "bc") differ
    return digest.hexdigest()


def method_code_fingerprint(method_obj: Any, settings: Any) -> str:
    """SHA-256 (hex) of a method's code and settings: what the ledger's ``method_fingerprint`` holds.

    The code is the module that defines the method's class plus the modules its optional
    ``code_modules`` attribute lists (module objects or dotted names): a method whose behaviour lives
    elsewhere (a base class in another module, the agent it trains) lists those modules there. The
    class's qualified name is hashed too, so two methods of one module differ.

    Args:
        method_obj: the method object (its class is what is looked up).
        settings: everything else that changes what the method does, JSON-serialisable; hashed with
            sorted keys, so a dict's order does not matter. Mask what must not count (the meta-training
            seed, so every seed's copy of a learned method shares one fingerprint) before passing it.

    Raises:
        ValueError: ``settings`` is not JSON-serialisable, or ``code_modules`` is not a sequence of
            modules or names (or one of them has no source).
    """
    cls = type(method_obj)
    extra = getattr(method_obj, "code_modules", ())
    if isinstance(extra, (str, ModuleType)):
        extra = (extra,)
    if not isinstance(extra, (list, tuple)):
        raise ValueError(f"code_modules of {cls.__qualname__}: got {extra!r}; allowed: a list or tuple of module "
                         f"objects or dotted module names")
    try:
        settings_json = json.dumps(settings, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError) as e:
        raise ValueError(f"settings of {cls.__qualname__}: must be JSON-serialisable ({e})") from None
    code = code_fingerprint([cls.__module__, *extra])
    digest = hashlib.sha256()
    for part in (code, f"{cls.__module__}:{cls.__qualname__}", settings_json):
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def env_fingerprint(package: str = "hpenv") -> str:
    """[`code_fingerprint`][agents.bench.v3.ledger.code_fingerprint] of every module of the ``hpenv`` package
    (its ``__init__`` included), found by walking the package with `pkgutil`.

    Args:
        package: the package to walk (a parameter for tests and for other packages; the ledger's
            column is always hpenv's).

    Raises:
        ValueError: ``package`` is not an importable package.
    """
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(f"package: {package!r} is not an importable package (a folder with __init__.py)")
    names = [package]
    # walk_packages imports subpackages (only) to look inside them; modules are read, never run
    for info in pkgutil.walk_packages(list(spec.submodule_search_locations), prefix=f"{package}."):
        names.append(info.name)
    return code_fingerprint(names)


def machine_identity() -> dict[str, str]:
    """``hpenv_version``, ``torch_version``, ``cpu`` and ``env_fingerprint`` of this process, as
    [`ledger_run`][agents.bench.v3.ledger.ledger_run] files them."""
    import torch

    import hpenv

    return {"env_fingerprint": env_fingerprint(), "hpenv_version": str(hpenv.__version__),
            "torch_version": str(torch.__version__), "cpu": cpu_name()}


# ---------------------------------------------------------------------- reading and appending
def _check_header(line: str, path: Path) -> None:
    columns = next(csv.reader([line])) if line.strip() else []
    if columns != LEDGER_COLUMNS:
        missing = [c for c in LEDGER_COLUMNS if c not in columns]
        extra = [c for c in columns if c not in LEDGER_COLUMNS]
        raise ValueError(f"ledger {path} has columns {columns}; expected the v3 ledger's {LEDGER_COLUMNS} "
                         f"(missing {missing}, unexpected {extra}, or another order): it is not a v3 ledger, or "
                         f"another version wrote it; give the v3 ledger's path (a v2 ledger is "
                         f"agents.bench.ledger's)")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return repr(value) if isinstance(value, float) else str(value)


def _append(path: Path, rows: Sequence[LedgerRow]) -> None:
    """Append ``rows`` to ``path`` in one write of whole lines, then flush and fsync.

    A new file gets the header in the same write (created with ``"x"``, so two runs racing to create
    it cannot both write one); an existing file's header is checked first, and nothing is ever
    written over what is there.
    """
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([[_cell(getattr(r, c)) for c in LEDGER_COLUMNS]
                                                       for r in rows])
    body = buffer.getvalue()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(path, "xb", buffering=0) as f:
            _write_all(f, (_HEADER + "\n" + body).encode())
        return
    except FileExistsError:
        pass
    with open(path, "rb") as f:
        first = f.readline()
        f.seek(0, os.SEEK_END)
        size = f.tell()
        if size:
            f.seek(size - 1)
            last = f.read(1)
    if not size:  # an empty file (a creation interrupted before its write): the header goes first
        data = _HEADER + "\n" + body
    else:
        _check_header(first.decode("utf-8", errors="replace"), path)
        # a torn last line (a crash mid-write) is left as it is, for a person to see; ours start afresh
        data = ("" if last == b"\n" else "\n") + body
    with open(path, "ab", buffering=0) as f:
        _write_all(f, data.encode())


def _write_all(f, data: bytes) -> None:
    view = memoryview(data)
    while view:  # one write in practice; a short write goes on from where it stopped
        view = view[f.write(view):]
    f.flush()
    os.fsync(f.fileno())


def read_ledger(path: str | Path) -> list[LedgerRow]:
    """Every row of the v3 ledger at ``path``, oldest first (an empty list if there is no file yet).

    Raises:
        ValueError: the header is not `LEDGER_COLUMNS`, or a row has the wrong number of cells
            or a value that does not parse (naming the line).
    """
    path = Path(path)
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    if not text:
        return []
    _check_header(text.split("\n", 1)[0], path)
    types = {f.name: f.type for f in dataclasses.fields(LedgerRow)}
    parse = {"bool": lambda v: {"True": True, "False": False}[v], "int | None": lambda v: int(v) if v else None,
             "float | None": lambda v: float(v) if v else None, "str": str}
    rows = []
    reader = csv.reader(io.StringIO(text))
    next(reader)
    for values in reader:
        line = reader.line_num
        if len(values) != len(LEDGER_COLUMNS):
            raise ValueError(f"ledger {path} line {line}: {len(values)} cells, expected {len(LEDGER_COLUMNS)} "
                             f"(a torn or edited row?)")
        try:
            rows.append(LedgerRow(**{c: parse[types[c]](v) for c, v in zip(LEDGER_COLUMNS, values)}))
        except (KeyError, ValueError) as e:
            raise ValueError(f"ledger {path} line {line}: a value does not parse ({e!r})") from None
    return rows


def unfinished_runs(path: str | Path) -> list[str]:
    """The ``run_id`` of every run in the ledger at ``path`` with a ``start`` row and no ``end`` row
    (aborted, or still going), in the order they began."""
    started: dict[str, None] = {}
    ended = set()
    for row in read_ledger(path):
        if row.event == "start":
            started.setdefault(row.run_id)
        elif row.event == "end":
            ended.add(row.run_id)
    return [r for r in started if r not in ended]


# ---------------------------------------------------------------------- one run
def _results_summary(results: Path, split: str, method: str, version: str) -> tuple[int | None, float | None]:
    """Members and mean test accuracy (over members, each the mean of its rows) of one method on one
    split of a results file with v2/v3's columns; ``(None, None)`` where it lacks them."""
    with open(results, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if not {"split", "member", "method", "test_accuracy"} <= set(reader.fieldnames or ()):
            return None, None
        per_member: dict[str, list[float]] = {}
        for row in reader:
            if (row["split"], row["method"]) == (split, method) and row.get("method_version", version) == version:
                try:
                    per_member.setdefault(row["member"], []).append(float(row["test_accuracy"]))
                except ValueError:
                    raise ValueError(f"results: {results} line {reader.line_num}: test_accuracy "
                                     f"{row['test_accuracy']!r} is not a number") from None
    if not per_member:
        return 0, None
    return len(per_member), sum(sum(v) / len(v) for v in per_member.values()) / len(per_member)


class LedgerRun:
    """The context manager [`ledger_run`][agents.bench.v3.ledger.ledger_run] returns; ``with`` gives it back
    as the run's handle.

    Attributes:
        path: the ledger file.
        run_id: this run's id (set by ``__enter__``).
        rows: the rows this run appended so far.
    """

    def __init__(self, path: str | Path, *, protocol_hash: str, suite: str, split: str,
                 methods: Sequence[tuple[str, str, str]], results: str | Path, n_seeds: int | None = None,
                 n_members: int | None = None, reference: str = "", repo: str | Path | None = None) -> None:
        for arg, value in (("protocol_hash", protocol_hash), ("suite", suite)):
            if not isinstance(value, str) or not value:
                raise ValueError(f"{arg}: got {value!r}; allowed: a non-empty string")
        if split not in SPLITS:
            raise ValueError(f"split: got {split!r}; allowed: {list(SPLITS)} (only runs that score test or transfer "
                             f"members are filed)")
        for arg, value in (("n_seeds", n_seeds), ("n_members", n_members)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise ValueError(f"{arg}: got {value!r}; allowed: None or an integer >= 0")
        self.methods: dict[str, tuple[str, str]] = {}
        for m in methods:
            if (not isinstance(m, (tuple, list)) or len(m) != 3
                    or not all(isinstance(x, str) and x for x in m)):
                raise ValueError(f"methods: got item {m!r}; allowed: (name, version, fingerprint), three non-empty "
                                 f"strings")
            name, version, fingerprint = m
            if self.methods.get(name, (version, fingerprint)) != (version, fingerprint):
                raise ValueError(f"methods: {name!r} is given as {self.methods[name]} and as {(version, fingerprint)}; "
                                 f"allowed: one (version, fingerprint) per method in a run")
            self.methods[name] = (version, fingerprint)
        if not self.methods:
            raise ValueError("methods: got none; allowed: a non-empty list of (name, version, fingerprint)")
        self.path, self.results = Path(path), Path(results)
        self.protocol_hash, self.suite, self.split = protocol_hash, suite, split
        self.n_seeds, self.n_members, self.reference = n_seeds, n_members, reference
        # git runs in the ledger's checkout, not wherever this module happens to be installed; the
        # ledger's folder may not exist before the first run, so from its nearest existing folder
        self.repo = Path(repo) if repo is not None else next(
            f for f in self.path.resolve().parents if f.is_dir())
        self.run_id = ""
        self.rows: list[LedgerRow] = []
        self._recorded: dict[str, dict] = {}
        self._identity: dict = {}

    def record(self, method: str, *, n_members: int | None = None, mean_test_accuracy: float | None = None,
               difference_vs_reference: float | None = None) -> None:
        """Give the numbers of ``method``'s ``end`` row; those not given are read from the results file
        (members and mean test accuracy of the method's rows on this split) where it has the columns.

        Raises:
            ValueError: ``method`` is not one of this run's methods.
        """
        if method not in self.methods:
            raise ValueError(f"method: got {method!r}; allowed: this run's methods {list(self.methods)}")
        given = {"n_members": n_members, "mean_test_accuracy": mean_test_accuracy,
                 "difference_vs_reference": difference_vs_reference}
        self._recorded.setdefault(method, {}).update({k: v for k, v in given.items() if v is not None})

    def _row(self, event: str, name: str, **numbers) -> LedgerRow:
        version, fingerprint = self.methods[name]
        return LedgerRow(date=utc_now(), commit=self._identity["commit"], dirty=self._identity["dirty"],
                         protocol_hash=self.protocol_hash, suite=self.suite, method=name, method_version=version,
                         method_fingerprint=fingerprint, n_seeds=self.n_seeds, reference=self.reference,
                         split=self.split, event=event, run_id=self.run_id,
                         env_fingerprint=self._identity["env_fingerprint"],
                         hpenv_version=self._identity["hpenv_version"],
                         torch_version=self._identity["torch_version"], cpu=self._identity["cpu"], **numbers)

    def __enter__(self) -> LedgerRun:
        if self.run_id:
            raise RuntimeError(f"ledger run {self.run_id} was entered already; a resumed run is a new ledger_run")
        # a method changed after its test result was seen gets a new fingerprint, which must carry a new
        # version label (v2's rule); checked before anything is written
        for row in read_ledger(self.path):
            version, fingerprint = self.methods.get(row.method, (None, None))
            if row.method_version == version and row.method_fingerprint != fingerprint:
                raise ValueError(f"methods: {row.method!r} version {version!r} was filed (run {row.run_id}, "
                                 f"{row.suite} {row.split}, {row.date}) with fingerprint {row.method_fingerprint}; "
                                 f"this run's is {fingerprint}: a changed method needs a new version label")
        commit, dirty = git_state(self.repo)
        # the identity is taken once: the end rows describe the code that began the run, even if
        # someone commits while it goes on
        self._identity = {"commit": commit, "dirty": dirty, **machine_identity()}
        self.run_id = f"{utc_now().replace('-', '').replace(':', '')}-{uuid.uuid4().hex[:12]}"
        before = file_sha256(self.results) if self.results.is_file() else ""
        rows = [self._row("start", name, n_members=self.n_members, mean_test_accuracy=None,
                          difference_vs_reference=None, results_sha256=before) for name in self.methods]
        _append(self.path, rows)
        self.rows.extend(rows)
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is not None:
            return False  # the start rows stay as the trace of an aborted run; the exception goes on
        if not self.results.is_file():
            raise ValueError(f"results: {self.results} does not exist at the end of run {self.run_id}; its start "
                             f"rows stay in {self.path} and it is listed as unfinished")
        sha = file_sha256(self.results)
        rows = []
        for name, (version, _) in self.methods.items():
            given = self._recorded.get(name, {})
            n, mean = (None, None)
            if "n_members" not in given or "mean_test_accuracy" not in given:
                n, mean = _results_summary(self.results, self.split, name, version)
            rows.append(self._row("end", name, n_members=given.get("n_members", n),
                                  mean_test_accuracy=given.get("mean_test_accuracy", mean),
                                  difference_vs_reference=given.get("difference_vs_reference"), results_sha256=sha))
        _append(self.path, rows)
        self.rows.extend(rows)
        return False


def ledger_run(path: str | Path, *, protocol_hash: str, suite: str, split: str,
               methods: Sequence[tuple[str, str, str]], results: str | Path, n_seeds: int | None = None,
               n_members: int | None = None, reference: str = "", repo: str | Path | None = None) -> LedgerRun:
    """File one run that scores a suite's test or transfer members: ``with ledger_run(...) as run:``.

    Entering appends one ``start`` row per method (a new ``run_id``); leaving normally appends one
    ``end`` row per method (SHA-256 of ``results``, members, mean test accuracy, and what
    [`LedgerRun.record`][agents.bench.v3.ledger.LedgerRun.record] gave). Leaving by an exception appends
    nothing and lets it propagate: the run stays in
    [`unfinished_runs`][agents.bench.v3.ledger.unfinished_runs]. Enter it before the first member is scored; a
    resumed run enters a new one.

    Args:
        path: the ledger file ([`find_ledger`][agents.bench.v3.ledger.find_ledger] finds a checkout's);
            created with its header if missing.
        protocol_hash: the registered protocol's hash.
        suite: the suite's name.
        split: ``"test"`` or ``"transfer"``.
        methods: ``(name, version, fingerprint)`` of every method the run scores (fingerprint:
            [`method_code_fingerprint`][agents.bench.v3.ledger.method_code_fingerprint]); a name given twice
            must agree.
        results: the results file the run writes; hashed at the start (if it exists) and at the end.
        n_seeds: evaluation seeds per member.
        n_members: members the run means to score (the ``start`` rows).
        reference: the reference that ``difference_vs_reference`` is taken against.
        repo: the checkout whose commit is filed (default: the ledger's folder).

    Raises:
        ValueError: an argument is not allowed (naming it), or a (method, version) was filed before with
            another fingerprint; on entry, before any row is written.
    """
    return LedgerRun(path, protocol_hash=protocol_hash, suite=suite, split=split, methods=methods, results=results,
                     n_seeds=n_seeds, n_members=n_members, reference=reference, repo=repo)
