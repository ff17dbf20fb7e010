"""What every layer of the benchmark shares: the columns of its files, how they are written and read,
and how deployed children train. Nothing here knows a method, a protocol or a report."""

from __future__ import annotations

import csv
import dataclasses
import json
import platform
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from agents.checkpoint import atomic_write

__all__ = ["cpu_name", "cached_units", "rows_as_they_finish", "DEPLOY_CHUNK", "V2_COLUMNS", "Prepared", "without_seed",
           "schedule_json", "write_atomic", "write_csv", "read_typed", "read_v2_rows"]

#: Children a method deploys on a test member train alone, one per vector env (``chunk=1``): batched
#: matrix products round differently for other batch sizes, and over an episode that can move a
#: child's accuracy by a test example. Alone, the same (member, seed, schedule) is the same child
#: bit for bit whichever method deploys it, so paired differences are exactly zero where methods agree.
DEPLOY_CHUNK = 1

#: Benchmark v2's results.csv: one row per (member, evaluation seed, method, training seed). ``training_seed``
#: is the meta-training seed of a learned method's copy and -1 for a method that is not meta-trained;
#: ``schedule`` is the deployed child's applied hyper-parameters as JSON.
V2_COLUMNS = ["suite", "split", "member", "seed", "method", "method_version", "method_fingerprint", "training_seed",
              "test_accuracy", "val_accuracy", "deployed_sgd_steps", "search_sgd_steps", "one_off_sgd_steps",
              "one_off_wall_time_s", "wall_time_s", "diverged", "protocol_hash", "schedule", "replayable", "source",
              "chosen"]


@dataclasses.dataclass(frozen=True)
class Prepared:
    """One prepared method: the object that deploys, its meta-training seed (-1: learns nothing),
    and its ledger identity."""

    method: Any
    training_seed: int
    version: str
    fingerprint: str


def without_seed(value: Any, seed: int) -> Any:
    """``value`` with every ``"seed": seed`` entry masked: the copies of one method differ only there, and
    share one fingerprint."""
    if isinstance(value, dict):
        return {k: ("<meta-training seed>" if k == "seed" and v == seed else without_seed(v, seed))
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [without_seed(v, seed) for v in value]
    return value


def schedule_json(record, names: Sequence[str]) -> str:
    """The hyper-parameters ``names`` applied at each env step of an
    [`EpisodeRecord`][agents.engine.EpisodeRecord], as JSON (what ``hptune bench --verify`` replays)."""
    return json.dumps([{name: step[name] for name in names} for step in record.schedule])


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically ([`agents.checkpoint.atomic_write`][], the one writer)."""
    atomic_write(path, text)


def _csv_text(rows: Sequence[dict], columns: Sequence[str]) -> str:
    import io

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    return buf.getvalue()


def write_csv(rows: Sequence[dict], path: Path, columns: Sequence[str]) -> None:
    """``rows`` as a CSV file of ``columns`` (others left out; floats to six significant digits), atomically."""
    write_atomic(path, _csv_text(rows, columns))


def read_typed(path: Path, ints: Sequence[str], floats: Sequence[str], flags: Sequence[str]) -> list[dict]:
    """Rows of the CSV file at ``path`` (none if it does not exist), the named columns as ints, floats and
    flags (``"True"``); the rest stay text."""
    if not Path(path).exists():
        return []
    with open(path) as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        for k in ints:
            r[k] = int(float(r[k]))
        for k in floats:
            r[k] = float(r[k])
        for k in flags:
            r[k] = str(r[k]) == "True"
    return rows


def read_v2_rows(path: Path) -> list[dict]:
    """Rows of a v2 results.csv (`V2_COLUMNS`) with numbers and flags as Python values; ``schedule``
    stays the JSON text it was written as."""
    return read_typed(path, ("seed", "training_seed", "deployed_sgd_steps", "search_sgd_steps", "one_off_sgd_steps"),
                      ("test_accuracy", "val_accuracy", "wall_time_s", "one_off_wall_time_s"),
                      ("diverged", "replayable"))


def cached_units(fn: Callable[[tuple], Any], units: list[tuple], folder: Path, log, what: str,
                 workers: int | None, reports: int = 10) -> list:
    """``fn`` over units whose first item is a member id, each result cached as ``folder/<index>.json``
    (the member's index), in parallel ([`agents.bench.parallel.run_units`][]): a killed stage
    resumes with the members it had not finished. Logs progress about ``reports`` times."""
    from agents.bench.parallel import run_units

    folder.mkdir(parents=True, exist_ok=True)
    path = {u[0]: folder / f"{u[0].rsplit('/', 1)[-1]}.json" for u in units}
    out = {m: json.loads(p.read_text()) for m, p in path.items() if p.exists()}
    todo = [u for u in units if u[0] not in out]
    if todo:
        log(f"  {what}: {len(todo)} of {len(units)} members to train")
        t0 = time.perf_counter()
        for k, (i, result) in enumerate(run_units(fn, todo, workers=workers), 1):
            write_atomic(path[todo[i][0]], json.dumps(result))
            out[todo[i][0]] = result
            if k % max(1, len(todo) // reports) == 0 or k == len(todo):
                log(f"  {what}: {k}/{len(todo)} members, {time.perf_counter() - t0:.0f} s")
    return [out[u[0]] for u in units]


def rows_as_they_finish(fn: Callable[[tuple], list[dict]], units: list[tuple], rows: list[dict], path: Path,
                        columns: Sequence[str], log, workers: int | None) -> list[dict]:
    """``rows`` with every unit's rows (``fn(unit)``, one member each, in parallel: [`agents.bench.parallel.run_units`][])
    added as the unit finishes; ``path`` (a results file of ``columns``) rewritten atomically after each one, so a
    killed run keeps every finished member. Logs progress about ten times."""
    from agents.bench.parallel import run_units

    t0 = time.perf_counter()
    for k, (_, new) in enumerate(run_units(fn, units, workers=workers), 1):
        rows += new
        write_csv(rows, path, columns)
        if k % max(1, len(units) // 10) == 0 or k == len(units):
            log(f"  deployed {k}/{len(units)} members [{time.perf_counter() - t0:.0f} s]")
    return rows


def cpu_name() -> str:
    """This machine's CPU model (``/proc/cpuinfo``'s model name, else what ``platform`` knows): what
    every result, ledger row and cost printout records, since results are bit-identical on one CPU only."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, sep, value = line.partition(":")
                if sep and key.strip() == "model name" and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"
