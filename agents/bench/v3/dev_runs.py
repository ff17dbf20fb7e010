"""``hptune train --task v3/<suite>`` runs on a suite's dev members, read as one learned method's scores.

Each run folder's ``summary.json`` (a run kept in git: ``summary.json.gz``) holds every dev child of the
agent and of the references, in (member, evaluation seed) order; several runs at different ``--seed`` are
one controller whose meta-training seeds are the runs' seeds. Shared by the dev studies
(``benchmarks/studies/rr_dev_seeds.py``) and the power simulation's learned pilot
(``benchmarks/v3/power.py --pilot-runs``).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np

import hpenv
from agents.bench.v3.analysis import NOT_LEARNED, MethodScores
from hpenv.instances import member_task

AGENT = "RecurrentReinforce (greedy)"


def read_summary(folder: str | Path) -> dict:
    """A run folder's ``summary.json``, or the ``summary.json.gz`` a committed dev run keeps instead."""
    path, kept = Path(folder) / "summary.json", Path(folder) / "summary.json.gz"
    if not path.exists() and kept.exists():
        return json.loads(gzip.decompress(kept.read_bytes()))
    return json.loads(path.read_text())


def load_runs(folders: list[str]) -> tuple[str, list[int], list[dict]]:
    """The runs' task, seeds and summaries (one v3 suite across them)."""
    summaries = [read_summary(f) for f in folders]
    tasks = {s["config"]["task"] for s in summaries}
    if len(tasks) != 1 or not next(iter(tasks)).startswith("v3/"):
        raise ValueError(f"the runs must all be on one v3 suite, got {sorted(tasks)}")
    return tasks.pop(), [int(s["config"]["seed"]) for s in summaries], summaries


def run_scores(name: str, per_run: list[list[dict]], train_seeds: list[int], members: list[str],
               n_test: np.ndarray) -> MethodScores:
    """``name``'s scores from each run's children (in (member, seed) order), one meta-training seed per run."""
    eval_seeds = sorted({r["seed"] for r in per_run[0]})
    acc = np.array([[r["test_accuracy"] for r in run] for run in per_run])  # (runs, members * seeds)
    acc = acc.reshape(len(per_run), len(members), len(eval_seeds)).transpose(1, 0, 2)
    correct = np.rint(acc * n_test[:, None, None]).astype(np.int64)
    return MethodScores(name, correct, n_test, members, train_seeds, eval_seeds)


def dev_scores(folders: list[str], label: str = "RR") -> tuple[str, MethodScores, list[MethodScores]]:
    """The runs' suite, their agent as one learned method, and the references they were compared with.

    Raises:
        ValueError: The runs are on different suites, or a reference's children differ between them
            (they were not compared alike).
    """
    task, seeds, summaries = load_runs(folders)
    members = hpenv.instance_set(task, "dev")
    n_test = np.array([len(member_task(m).y_test) for m in members], dtype=np.int64)
    references = [n for n in summaries[0]["results"] if n not in (AGENT, "fixed default")]
    for s in summaries[1:]:
        for n in references:
            if [r["test_accuracy"] for r in s["results"][n]] != [r["test_accuracy"] for r in summaries[0]["results"][n]]:
                raise ValueError(f"reference {n!r} differs between the runs: they were not compared alike")
    controller = run_scores(label, [s["results"][AGENT] for s in summaries], seeds, members, n_test)
    refs = [run_scores(n, [summaries[0]["results"][n]], [NOT_LEARNED], members, n_test) for n in references]
    return task, controller, refs
