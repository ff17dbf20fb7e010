"""What each policy does around a stream's change, per hyper-parameter, on a v3 stream suite's dev members.

    python benchmarks/studies/rr_around_change.py RUN [RUN ...] [--out around_change.png]

Each RUN is an ``hptune train --task v3/stream --seed S --out RUN`` folder; its ``summary.json`` holds every
dev child of the agent and of the references, each step's applied hyper-parameters and whether that step
trained on changed data. The agent's children of all runs are pooled (the references' are the same in every
run, counted once). Steps are aligned on the change: relative step 0 is the first step that trains on
changed data, +1 the first action chosen after a step on changed data, the first at which a policy that
reads the state can respond. A fixed schedule changes at fixed env steps, whatever the change's step; the
closed-loop rule changes after the jump of the training loss (the positive control).

Prints, per hyper-parameter and policy, the share of children that change it at each relative step (from the
step before), then [`agents.evaluation.response_to_the_change`][] (at +1 beside the same env step among
children whose change came at another step: a policy that follows the clock has the two alike); writes
the mean value per relative step (``hptune train``'s ``around_change.png``, over all the runs) to ``--out``.
"""

from __future__ import annotations

import argparse

import numpy as np

from agents.bench.v3.dev_runs import AGENT, load_runs
from agents.cli.summary import AROUND_THE_CHANGE, plot_around_change
from agents.engine import EpisodeRecord
from agents.evaluation import around_the_change, response_to_the_change

#: Per-step entries of a schedule that are not hyper-parameters.
NOT_HYPERPARAMETERS = {"val_accuracy", "val_loss", "phase"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--out", default="around_change.png", help="the plot's path")
    args = ap.parse_args()
    task, seeds, summaries = load_runs(args.runs)
    results = {p: [EpisodeRecord(**c) for s in (summaries if p == AGENT else summaries[:1]) for c in s["results"][p]]
               for p in summaries[0]["results"]}
    schedules = [r.schedule for records in results.values() for r in records]
    # the hyper-parameters some policy moves within a child (a member's fixed batch size is no panel)
    names = [n for n in schedules[0][0] if n not in NOT_HYPERPARAMETERS
             and any(len({step[n] for step in steps}) > 1 for steps in schedules)]
    aligned = {p: around_the_change(records, names) for p, records in results.items()}
    print(f"{task} dev members, runs at seeds {seeds}: share of children whose hyper-parameter changes at each "
          f"step relative to the change (0: first step on changed data; +1: the first action after it)\n")
    for n in names:
        print(f"**{n}**\n")
        steps = " | ".join(f"{k:+d}" for k in AROUND_THE_CHANGE)
        print(f"| policy | {steps} | at +1 / same env step, other change |")
        print("|---|" + "---:|" * (len(AROUND_THE_CHANGE) + 1))
        for p, records in results.items():
            cells = aligned[p]
            shares = [np.mean(cells[k][n]["changed"]) if cells[k][n]["changed"] else np.nan for k in AROUND_THE_CHANGE]
            at_one, same_step = response_to_the_change(records, n)
            print(f"| {p} | " + " | ".join(f"{x:.2f}" for x in shares) + f" | {at_one:.2f} / {same_step:.2f} |")
        print()
    plot_around_change(args.out, results, names, f"{task}, dev members: mean hyper-parameters around the change")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
