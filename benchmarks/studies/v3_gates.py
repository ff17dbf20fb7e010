"""What a v3 gate run found, member by member: ``python benchmarks/studies/v3_gates.py [FOLDER ...]``.

Reads: ``members.csv`` of each folder given (default: ``benchmarks/results/v3/mlp`` and
``.../stream``, the selection members, as ``benchmarks/v3/gates.py`` writes them). Prints, per stream kind (or for the whole stationary suite), the mean
seed-B test accuracy of each chosen child and each oracle's gain over the static oracle, then what
the oracles chose: how often the per-member best fixed schedule lowers the learning rate inside the
change window (and from which step), and the thresholds and drops of the closed-loop oracles.
"""

from __future__ import annotations

import collections
import csv
import re
import sys
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "v3"
METHODS = ("best static tuple", "static oracle", "best fixed schedule", "dynamic oracle", "best closed-loop rule",
           "closed-loop oracle", "dynamic or closed-loop oracle", "freeze oracle")


def summarise(folder: Path) -> None:
    rows = list(csv.DictReader(open(folder / "members.csv")))
    print(f"{folder} ({len(rows)} members)")
    groups = collections.defaultdict(list)
    for r in rows:
        groups[r["stream"] or "stationary"].append(r)
    if len(groups) > 1:
        groups["all"] = rows
    methods = [m for m in METHODS if f"test: {m}" in rows[0]]
    print(f"  {'kind':<18} {'n':>3} " + " ".join(f"{m[:14]:>14}" for m in methods))
    for kind, members in groups.items():
        acc = {m: np.array([float(r[f"test: {m}"]) for r in members]) for m in methods}
        print(f"  {kind:<18} {len(members):>3} " + " ".join(f"{100 * acc[m].mean():14.2f}" for m in methods))
        print(f"  {'  gain over static':<22}" + " ".join(
            f"{100 * (acc[m] - acc['static oracle']).mean():+14.2f}" for m in methods))
    drops = collections.Counter()
    for r in rows:
        name = r["dynamic oracle"]
        found = re.match(r"learning_rate ([+-]\d+) from step (\d+)", name)
        drops[f"lr {found.group(1)} from step {found.group(2)}" if found else name.split(" from (")[0]] += 1
    print("  per-member best fixed schedules: " + "; ".join(f"{k} x{v}" for k, v in drops.most_common(8)))
    if "closed-loop oracle" in rows[0]:
        rules = collections.Counter(re.sub(r" from \(.*", "", r["closed-loop oracle"]) for r in rows)
        print("  per-member closed-loop rules: " + "; ".join(f"{k} x{v}" for k, v in rules.most_common(6)))


def main() -> None:
    folders = [Path(a) for a in sys.argv[1:]] or [RESULTS / "mlp", RESULTS / "stream"]
    for folder in folders:
        if (folder / "members.csv").is_file():
            summarise(folder)


if __name__ == "__main__":
    main()
