"""What each policy does around a stream's change, per hyper-parameter, on a v3 stream suite's dev members.

    python benchmarks/studies/rr_around_change.py RUN [RUN ...] [--out around_change.png]

Each RUN is an ``hptune train --task v3/stream --seed S --out RUN`` folder; its ``summary.json`` holds every
dev child of the agent and of the references, each step's applied hyper-parameters and whether that step
trained on changed data. Steps are aligned on the change: relative step 0 is the first step that trains on
changed data, so +1 is the first step whose action was chosen after a step on changed data, the first
at which a policy that reads the state can respond. A fixed schedule changes at fixed env steps, whatever
the change's step; a closed-loop rule changes after the jump of the training loss (the positive control).

Prints, per policy, the share of children that change each hyper-parameter at each relative step (from the
step before), and the share at +1 beside the share at the same env step among children whose change came at
another step (a policy that follows the clock, not the change, has the two alike); writes the mean value per relative step (a panel per
hyper-parameter, the learning rate's geometric mean) to ``--out``.
"""

from __future__ import annotations

import argparse
import numpy as np

from agents.bench.v3.dev_runs import around_the_change, load_runs, response_to_the_change

RELATIVE = range(-3, 5)
NOT_HYPERPARAMETERS = {"val_accuracy", "val_loss", "phase"}



def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--out", default="around_change.png", help="the plot's path")
    args = ap.parse_args()
    task, seeds, summaries = load_runs(args.runs)
    policies = list(summaries[0]["results"])
    children = [c["schedule"] for s in summaries for p in policies for c in s["results"][p]]
    # the hyper-parameters some policy moves within a child (a member's fixed batch size is no panel)
    names = [n for n in children[0][0] if n not in NOT_HYPERPARAMETERS
             and any(len({step[n] for step in steps}) > 1 for steps in children)]
    per_policy = {}
    for p in policies:
        # the references' children are the same in every run: count them once
        children = [c for s in (summaries if p.startswith("RecurrentReinforce") else summaries[:1])
                    for c in s["results"][p]]
        per_policy[p] = around_the_change(children, names), {n: response_to_the_change(children, n) for n in names}
    print(f"{task} dev members, runs at seeds {seeds}: share of children whose hyper-parameter changes at each "
          f"step relative to the change (0: first step on changed data; +1: the first action after it)\n")
    for n in names:
        print(f"**{n}**\n")
        print("| policy | " + " | ".join(f"{k:+d}" for k in RELATIVE) + " | at +1 / same env step, other change |")
        print("|---|" + "---:|" * (len(RELATIVE) + 1))
        for p, (cells, responses) in per_policy.items():
            shares = {k: np.mean(cells[k][n]["changed"]) if cells[k][n]["changed"] else np.nan for k in cells}
            at_one, same_step = responses[n]
            print(f"| {p} | " + " | ".join(f"{shares.get(k, np.nan):.2f}" for k in RELATIVE)
                  + f" | {at_one:.2f} / {same_step:.2f} |")
        print()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(names), 1, figsize=(7, 1.6 * len(names) + 0.8), sharex=True, layout="constrained")
    for j, (p, (cells, _)) in enumerate(per_policy.items()):
        ks = [k for k in RELATIVE if k in cells]
        for ax, n in zip(axes, names):
            v = [np.asarray(cells[k][n]["values"]) for k in ks]
            mean = [np.exp(np.log(x).mean()) if n == "learning_rate" else x.mean() for x in v]
            ax.plot(ks, mean, marker="os^vD<>"[j % 7], color=f"C{j}", label=p if n == names[0] else None)
    for ax, n in zip(axes, names):
        ax.axvline(-0.5, color="grey", linestyle=":", linewidth=1)
        ax.set_ylabel(n.replace("_", " "), fontsize=8)
        if n == "learning_rate":
            ax.set_yscale("log")
    axes[-1].set_xlabel("env step relative to the change (0: first step on changed data)")
    fig.suptitle(f"{task}, dev members: mean hyper-parameter around the change", fontsize=10)
    fig.legend(fontsize=7, loc="outside lower center", ncols=2)
    fig.savefig(args.out, dpi=100)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
