"""The ledger: one committed CSV row for every run that scored test members, never rewritten.

``benchmarks/results/v2/ledger.csv`` of the repository (`LEDGER_PATH`) is append-only. Each
row says when (UTC), from which commit (and whether the tree was dirty), under which protocol hash, which method at which version (a
human label plus a [`method_fingerprint`][agents.bench.ledger.method_fingerprint] of its settings and code),
on how many members and seeds, and what it scored. The README's v2 tables list
[`scored_versions`][agents.bench.ledger.scored_versions]: every version of every method ever scored, not the
best one. A method changed after its test result was seen gets a new fingerprint;
[`append_entry`][agents.bench.ledger.append_entry] refuses to file it under a version label already used for
another fingerprint, so the change is a new version, never a replacement.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import hashlib
import importlib
import inspect
import io
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Mapping, Sequence

from agents.checkpoint import atomic_write

__all__ = ["LEDGER_PATH", "find_ledger", "LedgerEntry", "LEDGER_COLUMNS", "method_fingerprint", "git_state",
           "file_sha256", "utc_now", "new_entry", "append_entry", "read_ledger", "scored_versions"]

#: Where a checkout of the repository keeps the committed v2 ledger, relative to its root. The ledger is
#: the repository's record, not package data: runs that score test members are filed in a checkout.
LEDGER_PATH = Path("benchmarks", "results", "v2", "ledger.csv")


def find_ledger(start: str | Path | None = None) -> Path:
    """The committed v2 ledger of the checkout holding ``start`` (default: the current folder): the first
    `LEDGER_PATH` found in ``start`` or a folder above it.

    Raises:
        ValueError: there is none, naming where it looked and what to pass instead.
    """
    start = Path(start if start is not None else Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if (folder / LEDGER_PATH).is_file():
            return folder / LEDGER_PATH
    raise ValueError(f"no v2 ledger ({LEDGER_PATH}) in {start} or a folder above it: a run that scores test "
                     f"members files every method version it scored in the ledger committed with hpenv; run it "
                     f"from a checkout of hpenv, or give the ledger file to append to (--ledger FILE)")

FINGERPRINT_HEX = 12


@dataclass(frozen=True)
class LedgerEntry:
    """One run that scored test members of one suite with one method version."""

    date: str
    """UTC, ISO 8601 (``2027-01-20T14:03:11Z``)."""
    commit: str
    """``git rev-parse HEAD``, or ``"unknown"`` outside a git checkout."""
    dirty: bool
    """The working tree had uncommitted changes to tracked files."""
    protocol_hash: str
    suite: str
    method: str
    method_version: str
    method_fingerprint: str
    n_members: int
    n_seeds: int
    mean_test_accuracy: float
    reference: str
    """The suite's first reference, which ``difference_vs_reference`` is taken against."""
    difference_vs_reference: float
    """Member-level mean difference in test accuracy (method minus reference), as the caller computed it."""
    results_sha256: str
    """SHA-256 of the ``results.csv`` the summary was computed from."""


LEDGER_COLUMNS = [f.name for f in dataclasses.fields(LedgerEntry)]


def method_fingerprint(name: str, version: str, settings: Mapping[str, Any],
                       code: Sequence[type | ModuleType | str] = ()) -> str:
    """A short hex digest of a method's identity: name, version label, settings and source code.

    Args:
        name: the registered method name.
        version: a human label (``"1"``, ``"2-lower-entropy"``).
        settings: every setting that changes what the method does, JSON-serialisable; hashed with
            sorted keys, so the order of a dict does not matter.
        code: the classes and modules (objects, or importable module names such as
            ``"agents.reinforce"``) whose source decides the method's behaviour. An edit to any of
            them, a comment included, changes the fingerprint.
    """
    try:
        settings_json = json.dumps(settings, sort_keys=True, separators=(",", ":"))
    except TypeError as e:
        raise TypeError(f"method_fingerprint: settings of {name!r} must be JSON-serialisable ({e})") from None
    digest = hashlib.sha256()
    for part in (name, version, settings_json, *(_source(obj) for obj in code)):
        digest.update(part.encode())
        digest.update(b"\0")  # so that ("ab", "c") and ("a", "bc") differ
    return digest.hexdigest()[:FINGERPRINT_HEX]


def git_state(repo: str | Path | None = None) -> tuple[str, bool]:
    """``(commit, dirty)`` of the checkout at ``repo`` (default: this package's); ``("unknown", False)`` without git.

    ``dirty``: a tracked file outside ``benchmarks/results`` has uncommitted changes."""
    cwd = Path(repo) if repo is not None else Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True,
                                check=True).stdout.strip()
        # results and the ledger itself change as a run files them; the code is what must be clean
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ":/",
                                 ":(exclude,top)benchmarks/results"], cwd=cwd, capture_output=True, text=True,
                                check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown", False
    return commit, bool(status.strip())


def file_sha256(path: str | Path) -> str:
    """SHA-256 (hex) of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def utc_now() -> str:
    """The current UTC time as the ledger writes it (``2027-01-20T14:03:11Z``)."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_entry(*, results: str | Path, protocol_hash: str, suite: str, method: str, method_version: str,
              method_fingerprint: str, n_members: int, n_seeds: int, mean_test_accuracy: float, reference: str,
              difference_vs_reference: float, repo: str | Path | None = None) -> LedgerEntry:
    """A ledger entry for a run whose rows are in the file ``results``, stamped now with the checkout's commit."""
    commit, dirty = git_state(repo)
    return LedgerEntry(date=utc_now(), commit=commit, dirty=dirty, protocol_hash=protocol_hash, suite=suite,
                       method=method, method_version=method_version, method_fingerprint=method_fingerprint,
                       n_members=n_members, n_seeds=n_seeds, mean_test_accuracy=float(mean_test_accuracy),
                       reference=reference, difference_vs_reference=float(difference_vs_reference),
                       results_sha256=file_sha256(results))


def append_entry(entry: LedgerEntry, path: str | Path | None = None) -> Path:
    """Append one row to the ledger at ``path`` (default: [`find_ledger`][agents.bench.ledger.find_ledger];
    created with its header if missing), atomically.

    Old rows are copied byte for byte; the new file replaces the old in one rename, so a kill
    leaves the old ledger or the new one. Raises if ``entry``'s (method, method_version) was scored
    before, on any suite, with another fingerprint: a changed method needs a new version label.
    """
    path = Path(path) if path is not None else find_ledger()
    old = path.read_bytes() if path.exists() else b""
    for row in _rows(old, path):
        if ((row["method"], row["method_version"]) == (entry.method, entry.method_version)
                and row["method_fingerprint"] != entry.method_fingerprint):
            raise ValueError(f"method {entry.method!r} version {entry.method_version!r} was scored on {row['suite']} "
                             f"with fingerprint {row['method_fingerprint']} on {row['date']}; this run's fingerprint is "
                             f"{entry.method_fingerprint}: a changed method needs a new version label")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if not old:
        writer.writerow(LEDGER_COLUMNS)
    elif not old.endswith(b"\n"):
        buffer.write("\n")
    writer.writerow([_cell(getattr(entry, c)) for c in LEDGER_COLUMNS])
    return atomic_write(path, old + buffer.getvalue().encode())


def read_ledger(path: str | Path | None = None) -> list[LedgerEntry]:
    """Every row of the ledger at ``path`` (default: [`find_ledger`][agents.bench.ledger.find_ledger]), oldest
    first (an empty list if there is no ledger yet)."""
    path = Path(path) if path is not None else find_ledger()
    if not path.exists():
        return []
    types = {f.name: f.type for f in dataclasses.fields(LedgerEntry)}
    parse = {"bool": lambda v: v == "True", "int": int, "float": float, "str": str}
    return [LedgerEntry(**{k: parse[types[k]](v) for k, v in row.items()}) for row in _rows(path.read_bytes(), path)]


def scored_versions(path: str | Path | None = None) -> list[dict]:
    """Every (suite, method, version, fingerprint) ever scored in the ledger at ``path`` (default:
    [`find_ledger`][agents.bench.ledger.find_ledger]), in order of first scoring: the README's rows.

    Each dict has those four keys plus ``first_date``, ``runs`` and ``last`` (the latest entry).
    """
    versions: dict[tuple, dict] = {}
    for e in read_ledger(path):
        key = (e.suite, e.method, e.method_version, e.method_fingerprint)
        v = versions.setdefault(key, {"suite": e.suite, "method": e.method, "method_version": e.method_version,
                                      "method_fingerprint": e.method_fingerprint, "first_date": e.date, "runs": 0})
        v["runs"] += 1
        v["last"] = e
    return list(versions.values())


def _rows(data: bytes, path: Path) -> list[dict]:
    if not data:
        return []
    reader = csv.DictReader(io.StringIO(data.decode()))
    if reader.fieldnames != LEDGER_COLUMNS:
        raise ValueError(f"ledger {path} has columns {reader.fieldnames}; expected {LEDGER_COLUMNS}")
    return list(reader)


def _cell(value: Any) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def _source(obj: type | ModuleType | str) -> str:
    if isinstance(obj, str):
        obj = importlib.import_module(obj)
    try:
        return inspect.getsource(obj)
    except (OSError, TypeError) as e:
        raise ValueError(f"method_fingerprint: no source for {obj!r} ({e})") from None
