"""RecurrentReinforce on a v3 suite's dev members over several meta-training seeds, by the registered analysis.

    python benchmarks/studies/rr_dev_seeds.py RUN [RUN ...]                    # the seeds against the references
    python benchmarks/studies/rr_dev_seeds.py RUN [RUN ...] --versus RUN [RUN ...]   # a lever against a baseline
    python benchmarks/studies/rr_dev_seeds.py RUN [RUN ...] --by-kind         # and per kind of change (a stream)

Each RUN is an ``hptune train --task v3/<suite> --seed S --out RUN`` folder (its ``summary.json`` holds every
dev child of the agent and of the references). The agent's children of all runs are one controller whose
meta-training seeds are the runs' seeds; the references' children must be the same in every run (checked).
The registered primary analysis ([`agents.bench.v3.analysis.primary_analysis`][], the shipped protocol's
``[statistics]``) compares it with each reference, the seed level inside every interval; with ``--versus``,
with the other runs' agent as one more (learned) reference, so a lever is measured against its baseline at
equal seeds. Counts of correct test examples are exact (each member's ``n_test``). Prints a markdown table;
``--by-kind`` adds, on a stream suite, the mean member-level difference per kind of change (descriptive: the
registered analysis is the suite's).
"""

from __future__ import annotations

import argparse

import numpy as np

from agents.bench.v3.analysis import primary_analysis
from agents.bench.v3.dev_runs import AGENT, dev_scores, load_runs, run_scores
from agents.bench.v3.shipped import shipped_statistics
from hpenv.instances import member_task


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--versus", nargs="*", default=[], help="the baseline's runs (the same suite)")
    ap.add_argument("--label", default="RR", help="the runs' name in the table")
    ap.add_argument("--versus-label", default="baseline")
    ap.add_argument("--by-kind", action="store_true", help="also the mean difference per kind of change")
    args = ap.parse_args()
    task, controller, refs = dev_scores(args.runs, args.label)
    if args.versus:
        task_b, seeds_b, summaries_b = load_runs(args.versus)
        if task_b != task:
            raise ValueError(f"--versus runs are on {task_b}, the runs on {task}")
        refs.insert(0, run_scores(args.versus_label, [s["results"][AGENT] for s in summaries_b], seeds_b,
                                  controller.members, controller.n_test))
    st = shipped_statistics()
    rows = primary_analysis(controller, refs, margin=st.equivalence_margin, alpha=st.alpha, resamples=st.resamples,
                            seed=st.seed, p_adjustment=st.p_adjustment)
    print(f"{task}, {len(controller.members)} dev members x {len(controller.eval_seeds)} seeds; {args.label}: "
          f"seeds {list(controller.train_seeds)}, "
          f"mean {100 * controller.member_accuracy().mean():.2f}")
    print("| reference | mean | difference | 95% simultaneous | verdict | wins/ties/losses | seed share |")
    print("|---|---:|---:|---|---|---|---:|")
    for r in rows:
        print(f"| {r['reference']} | {100 * r['reference_mean']:.2f} | {100 * r['mean_diff']:+.2f} | "
              f"[{100 * r['ci_low']:+.2f}, {100 * r['ci_high']:+.2f}] | {r['verdict']} | "
              f"{r['wins']}/{r['ties']}/{r['losses']} | {r['seed_variance_share']:.2f} |")
    if args.by_kind:
        print_by_kind(controller, refs)


def print_by_kind(controller, refs) -> None:
    """The mean over each kind's members of the member-level difference, per reference (a stream suite)."""
    kinds = [getattr(member_task(m), "kind", None) for m in controller.members]
    if None in kinds:
        raise ValueError("--by-kind needs a stream suite (its members have a kind of change)")
    ours = controller.member_accuracy()
    print("\n| kind of change | members | " + " | ".join(r.name for r in refs) + " |")
    print("|---|---:|" + "---:|" * len(refs))
    for kind in sorted(set(kinds)):
        rows = [i for i, k in enumerate(kinds) if k == kind]
        diffs = [100 * np.mean(ours[rows] - r.member_accuracy()[rows]) for r in refs]
        print(f"| {kind} | {len(rows)} | " + " | ".join(f"{d:+.2f}" for d in diffs) + " |")


if __name__ == "__main__":
    main()
