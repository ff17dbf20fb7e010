"""Sizing benchmark v3's test split: ``python benchmarks/v3/power.py`` writes each suite's ``power.csv``.

Reads the protocol's ``[statistics]`` (the minimum detectable difference, the power, the pilot, the
seed level) and ``[family]`` (the family's size), and the selection stage's per-member results
(``benchmarks/results/v3/<suite>/members.csv``, written by ``benchmarks/v3/gates.py``). The pilot is
the member-level difference ``test: <pilot_method> - test: <pilot_reference>`` on selection members
(seeds B): two references a controller is compared with, the closest measured stand-in for a
controller's differences before any controller has run there. The simulation
(:func:`agents.bench.v3.power.power_simulation`) re-centres it, draws test splits of each size,
adds the registered meta-training seed level and counts rejections in the true direction only.

    python benchmarks/v3/power.py                     # every suite of the protocol with a members.csv
    python benchmarks/v3/power.py --suite v3/stream --simulations 500
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

from agents.bench.common import write_csv
from agents.bench.v3.power import power_simulation, smallest_n
from agents.bench.v3.statistics import load_family, load_statistics, protocol_table

ROOT = Path(__file__).resolve().parents[2]
SIZES = (30, 50, 75, 100, 150, 200, 300, 400)


def pilot_differences(members_csv: Path, method: str, reference: str) -> np.ndarray:
    """``test: method - test: reference`` per member of a selection stage's ``members.csv``."""
    with open(members_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    columns = [f"test: {method}", f"test: {reference}"]
    missing = [c for c in columns if rows and c not in rows[0]]
    if not rows or missing:
        raise SystemExit(f"{members_csv} has no members or lacks the pilot's columns {missing}; "
                         f"its columns: {list(rows[0]) if rows else []}")
    return np.array([float(r[columns[0]]) - float(r[columns[1]]) for r in rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protocol", default=str(ROOT / "benchmarks/v3/protocol.toml"))
    parser.add_argument("--results", default=str(ROOT / "benchmarks/results/v3"))
    parser.add_argument("--suite", action="append", help="a v3 suite (repeatable; default: every suite of the protocol)")
    parser.add_argument("--simulations", type=int, default=2000)
    parser.add_argument("--resamples", type=int, default=2000)
    args = parser.parse_args()
    stats, family = load_statistics(args.protocol), load_family(args.protocol)
    suites = args.suite or protocol_table(args.protocol, "protocol")[1]["suites"]
    for suite in suites:
        folder = Path(args.results) / suite.split("/", 1)[1]
        if not (folder / "members.csv").is_file():
            print(f"{suite}: no {folder / 'members.csv'} (run benchmarks/v3/gates.py first); skipped")
            continue
        pilot = pilot_differences(folder / "members.csv", stats.pilot_method, stats.pilot_reference)
        family_size = len(family.references_on(suite))
        rows = power_simulation(pilot, delta=stats.minimum_detectable_difference, n_members=SIZES,
                                family_size=family_size, alpha=stats.alpha, simulations=args.simulations,
                                resamples=args.resamples, seed=stats.seed, seed_sd=stats.pilot_seed_sd,
                                train_seeds=stats.meta_training_seeds)
        pilot_text = f"{stats.pilot_method} - {stats.pilot_reference}"
        rows = [{"suite": suite, "pilot": pilot_text, "pilot_members": len(pilot), "pilot_mean": float(pilot.mean()),
                 "pilot_sd": float(pilot.std(ddof=1)), **r} for r in rows]
        write_csv(rows, folder / "power.csv", list(rows[0]))
        need = smallest_n(rows, stats.power)
        print(f"{suite}: pilot {pilot_text} over {len(pilot)} selection members, mean {100 * pilot.mean():+.2f}, "
              f"sd {100 * pilot.std(ddof=1):.2f} points; family of {family_size}, {stats.meta_training_seeds} "
              f"meta-training seeds (sd {100 * stats.pilot_seed_sd:.2f} points)")
        for r in rows:
            print(f"  n={r['n_members']:>3}  power {r['power']:.3f}  wrong direction {r['wrong_direction_rate']:.3f}  "
                  f"false positives at 0 {r['false_positive_rate_at_zero']:.3f}")
        print(f"  smallest test split with power >= {stats.power} at "
              f"{100 * stats.minimum_detectable_difference:.1f} points: {need or f'more than {SIZES[-1]}'}")
        print(f"  -> {folder / 'power.csv'}")


if __name__ == "__main__":
    main()
