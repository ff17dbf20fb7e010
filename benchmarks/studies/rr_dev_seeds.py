"""RecurrentReinforce on a v3 suite's dev members over several meta-training seeds, by the registered analysis.

    python benchmarks/studies/rr_dev_seeds.py RUN [RUN ...]                    # the seeds against the references
    python benchmarks/studies/rr_dev_seeds.py RUN [RUN ...] --versus RUN [RUN ...]   # a lever against a baseline

Each RUN is an ``hptune train --task v3/<suite> --seed S --out RUN`` folder (its ``summary.json`` holds every
dev child of the agent and of the references). The agent's children of all runs are one controller whose
meta-training seeds are the runs' seeds; the references' children must be the same in every run (checked).
The registered primary analysis ([`agents.bench.v3.analysis.primary_analysis`][], the shipped protocol's
``[statistics]``) compares it with each reference, the seed level inside every interval; with ``--versus``,
with the other runs' agent as one more (learned) reference, so a lever is measured against its baseline at
equal seeds. Counts of correct test examples are exact (each member's ``n_test``). Prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

import hpenv
from agents.bench.v3.analysis import NOT_LEARNED, MethodScores, primary_analysis
from agents.bench.v3.shipped import shipped_statistics
from hpenv.instances import member_task

AGENT = "RecurrentReinforce (greedy)"


def load_runs(folders: list[str]) -> tuple[str, list[int], list[dict]]:
    """The runs' task, seeds and summaries (one task and one set of dev seeds across them)."""
    summaries = [json.loads((Path(f) / "summary.json").read_text()) for f in folders]
    tasks = {s["config"]["task"] for s in summaries}
    if len(tasks) != 1 or not next(iter(tasks)).startswith("v3/"):
        raise ValueError(f"the runs must all be on one v3 suite, got {sorted(tasks)}")
    return tasks.pop(), [int(s["config"]["seed"]) for s in summaries], summaries


def scores(name: str, per_run: list[list[dict]], train_seeds: list[int], members: list[str],
           n_test: np.ndarray) -> MethodScores:
    """``name``'s scores from each run's children (in (member, seed) order), one meta-training seed per run."""
    eval_seeds = sorted({r["seed"] for r in per_run[0]})
    acc = np.array([[r["test_accuracy"] for r in run] for run in per_run])  # (runs, members * seeds)
    acc = acc.reshape(len(per_run), len(members), len(eval_seeds)).transpose(1, 0, 2)
    correct = np.rint(acc * n_test[:, None, None]).astype(np.int64)
    return MethodScores(name, correct, n_test, members, train_seeds, eval_seeds)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--versus", nargs="*", default=[], help="the baseline's runs (the same suite)")
    ap.add_argument("--label", default="RR", help="the runs' name in the table")
    ap.add_argument("--versus-label", default="baseline")
    args = ap.parse_args()
    task, seeds, summaries = load_runs(args.runs)
    members = hpenv.instance_set(task, "dev")
    n_test = np.array([len(member_task(m).y_test) for m in members], dtype=np.int64)
    references = [n for n in summaries[0]["results"] if n not in (AGENT, "fixed default")]
    for s in summaries[1:]:
        for n in references:
            if [r["test_accuracy"] for r in s["results"][n]] != [r["test_accuracy"] for r in summaries[0]["results"][n]]:
                raise ValueError(f"reference {n!r} differs between the runs: they were not compared alike")
    controller = scores(args.label, [s["results"][AGENT] for s in summaries], seeds, members, n_test)
    refs = [scores(n, [summaries[0]["results"][n]], [NOT_LEARNED], members, n_test) for n in references]
    if args.versus:
        task_b, seeds_b, summaries_b = load_runs(args.versus)
        if task_b != task:
            raise ValueError(f"--versus runs are on {task_b}, the runs on {task}")
        refs.insert(0, scores(args.versus_label, [s["results"][AGENT] for s in summaries_b], seeds_b, members, n_test))
    st = shipped_statistics()
    rows = primary_analysis(controller, refs, margin=st.equivalence_margin, alpha=st.alpha, resamples=st.resamples,
                            seed=st.seed, p_adjustment=st.p_adjustment)
    print(f"{task}, {len(members)} dev members x {len(controller.eval_seeds)} seeds; {args.label}: seeds {seeds}, "
          f"mean {100 * controller.member_accuracy().mean():.2f}")
    print("| reference | mean | difference | 95% simultaneous | verdict | wins/ties/losses | seed share |")
    print("|---|---:|---:|---|---|---|---:|")
    for r in rows:
        print(f"| {r['reference']} | {100 * r['reference_mean']:.2f} | {100 * r['mean_diff']:+.2f} | "
              f"[{100 * r['ci_low']:+.2f}, {100 * r['ci_high']:+.2f}] | {r['verdict']} | "
              f"{r['wins']}/{r['ties']}/{r['losses']} | {r['seed_variance_share']:.2f} |")


if __name__ == "__main__":
    main()
