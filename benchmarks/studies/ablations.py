"""The ablation table of RR meta: every RR variant of a benchmark run, paired with one base variant.

    cp -r runs/v1-digits runs/v1-digits-ablations    # a run's report covers its last invocation's methods
    hptune bench --suite v1/digits-scaled --out runs/v1-digits-ablations --methods "best static tuple,\
best fixed schedule,RR meta (train members),RR ablation: absolute actions only,..."   # the variants
    python benchmarks/studies/ablations.py runs/v1-digits-ablations runs/v1-wine-ablations > ablations.md

Each ``RR ablation: ...`` method of ``agents.bench.methods`` changes one setting of "RR ablation:
absolute actions only" (the grouped leave-one-out agent with absolute actions, 4,096 episodes);
this prints each variant's mean test accuracy, its share of the oracle's gain over the best static
tuple, and its paired difference from that base (95% bootstrap interval, wins/ties/losses,
Wilcoxon p with Holm over the suite's table), on the same 36 (member, seed) pairs.

Reads: the ``results.csv`` of each run folder given (v1 benchmark runs with the ablation methods: the
committed ones are ``benchmarks/results/digits`` and ``benchmarks/results/wine``). Its committed table:
``benchmarks/results/ablations.md``.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from agents.bench.stats import difference_text, holm, paired_comparison
from agents.bench.v1.protocol import read_rows

BASE = "RR ablation: absolute actions only"


def table(folder: Path) -> list[str]:
    rows = read_rows(folder / "results.csv")
    acc: dict[str, dict] = {}
    for r in rows:
        acc.setdefault(r["method"], {})[(r["member"], int(r["seed"]))] = float(r["test_accuracy"])
    with open(folder / "headroom.csv") as f:
        headroom = {r["reference"]: r for r in csv.DictReader(f)}
    suite = rows[0]["suite"]
    static, oracle = float(headroom["best static tuple"]["reference_mean"]), float(headroom["best static tuple"]["oracle_mean"])
    variants = [m for m in acc if m.startswith("RR")]
    keys = sorted(acc[BASE])
    out = []
    for m in variants:
        mean = sum(acc[m][k] for k in keys) / len(keys)
        c = paired_comparison([acc[m][k] for k in keys], [acc[BASE][k] for k in keys]) if m != BASE else None
        out.append((m, mean, (mean - static) / (oracle - static), c))
    p_holm = iter(holm([c["p"] for _, _, _, c in out if c is not None]))
    lines = []
    for m, mean, share, c in out:
        diff = ("(the base)" if c is None else
                f"{difference_text(c)}, "
                f"{c['wins']}/{c['ties']}/{c['losses']}, p {next(p_holm):.2g}")
        lines.append(f"| {suite} | {m} | {mean:.4f} | {100 * share:.0f}% | {diff} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, help="folders of single-suite `hptune bench` runs")
    folders = parser.parse_args(argv).runs
    print("| suite | variant | mean test acc | share of the oracle's gain | vs absolute actions only |")
    print("|---|---|---:|---:|---|")
    for folder in folders:
        print("\n".join(table(folder)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
