"""What every layer of the benchmark shares: the columns of its files, how they are written and read,
and how deployed children train. Nothing here knows a method, a protocol or a report."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Sequence

from agents.checkpoint import atomic_write

__all__ = ["DEPLOY_CHUNK", "CSV_COLUMNS", "HEADROOM_COLUMNS", "write_atomic", "write_csv", "read_rows"]

#: Children a method deploys on a test member train alone, one per vector env (``chunk=1``): batched
#: matrix products round differently for other batch sizes, and over an episode that can move a
#: child's accuracy by a test example. Alone, the same (member, seed, schedule) is the same child
#: bit for bit whichever method deploys it, so paired differences are exactly zero where methods agree.
DEPLOY_CHUNK = 1

CSV_COLUMNS = ["suite", "member", "seed", "method", "test_accuracy", "val_accuracy", "deployed_sgd_steps",
               "search_sgd_steps", "one_off_sgd_steps", "wall_time_s", "one_off_wall_time_s", "diverged",
               "input_scale", "label_noise", "source", "chosen"]
HEADROOM_COLUMNS = ["suite", "reference", "gain", "ci_low", "ci_high", "saturated", "n_pairs", "p_wilcoxon",
                    "oracle_mean", "reference_mean", "reference_choice"]


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically (:func:`agents.checkpoint.atomic_write`, the one writer)."""
    atomic_write(path, text)


def _csv_text(rows: Sequence[dict], columns: Sequence[str]) -> str:
    import io

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    return buf.getvalue()


def write_csv(rows: Sequence[dict], path: Path, columns: Sequence[str] = CSV_COLUMNS) -> None:
    write_atomic(path, _csv_text(rows, columns))


def read_rows(path: Path) -> list[dict]:
    """Rows of a results.csv with numbers as Python numbers."""
    if not Path(path).exists():
        return []
    with open(path) as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        for k in ("seed", "deployed_sgd_steps", "search_sgd_steps", "one_off_sgd_steps"):
            r[k] = int(float(r[k]))
        for k in ("test_accuracy", "val_accuracy", "wall_time_s", "one_off_wall_time_s", "input_scale",
                  "label_noise"):
            r[k] = float(r[k])
        r["diverged"] = str(r["diverged"]) == "True"
    return rows
