"""Sizing benchmark v3's test split: ``python benchmarks/v3/power.py --pilot-runs RUN ...`` writes ``power.csv``.

Reads the protocol's ``[statistics]`` (the minimum detectable difference per suite, the power, the seed
level) and ``[family]`` (the family's size). The pilot is a learned controller's differences:
``--pilot-runs`` takes ``hptune train --task v3/<suite> --seed S --episodes 4096`` runs on the suite's dev
members (one run per meta-training seed), the controller's seed-averaged member accuracy minus
``--pilot-reference``'s, and the seed level's spread from the runs' seed means; that sized protocol 3.0's test
splits and is what ``power.csv`` holds. Without it the pilot is the one from before any controller ran:
``test: <pilot_method> - test: <pilot_reference>`` on the selection members (the selection stage's
``benchmarks/results/v3/<suite>/members.csv``, seeds B) with the registered seed level, printed only. The
simulation ([`agents.bench.v3.power.power_simulation`][]) re-centres the pilot, draws test splits of each
size, adds the seed level and counts rejections in the true direction only.

    python benchmarks/v3/power.py --pilot-runs RUN [RUN ...]        # the registered sizing -> power.csv
    python benchmarks/v3/power.py --pilot-runs RUN ... --delta 0.03 --seeds 10 --sizes 100 200   # what-ifs, printed
    python benchmarks/v3/power.py --suite v3/stream                # the selection members' pilot, printed
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

from agents.bench.common import write_csv
from agents.bench.v3.dev_runs import dev_scores
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


def learned_pilot(runs: list[str], reference: str) -> tuple[str, np.ndarray, float, str]:
    """A controller's dev runs as the pilot: their suite, its seed-averaged member accuracy minus
    ``reference``'s, the standard deviation of its seed means (the seed level), and the pilot's name."""
    task, controller, refs = dev_scores(runs)
    by_name = {r.name: r for r in refs}
    if reference not in by_name:
        raise SystemExit(f"--pilot-reference {reference!r} is not among the runs' references {sorted(by_name)}")
    if len(controller.train_seeds) < 2:
        raise SystemExit(f"--pilot-runs needs at least 2 runs (meta-training seeds), got {len(runs)}")
    pilot = controller.member_accuracy() - by_name[reference].member_accuracy()
    seed_sd = float(controller.seed_accuracy().mean(axis=0).std(ddof=1))
    return task, pilot, seed_sd, f"RecurrentReinforce ({len(runs)} dev runs) - {reference}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protocol", default=str(ROOT / "benchmarks/v3/protocol.toml"))
    parser.add_argument("--results", default=str(ROOT / "benchmarks/results/v3"))
    parser.add_argument("--suite", action="append", help="a v3 suite (repeatable; default: every suite of the protocol)")
    parser.add_argument("--simulations", type=int, default=2000)
    parser.add_argument("--resamples", type=int, default=2000)
    parser.add_argument("--pilot-runs", nargs="+", metavar="RUN",
                        help="hptune train runs on the suite's dev members, one per meta-training seed")
    parser.add_argument("--pilot-reference", default="best fixed schedule",
                        help="with --pilot-runs: the reference the controller's differences are taken against")
    parser.add_argument("--delta", type=float, help="what-if: the minimum detectable difference (accuracy units)")
    parser.add_argument("--seeds", type=int, help="what-if: meta-training seeds")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), help="test split sizes to simulate")
    args = parser.parse_args()
    learned = learned_pilot(args.pilot_runs, args.pilot_reference) if args.pilot_runs else None
    if learned and args.suite and args.suite != [learned[0]]:
        raise SystemExit(f"--pilot-runs are on {learned[0]}, not {args.suite}")
    stats, family = load_statistics(args.protocol), load_family(args.protocol)
    suites = [learned[0]] if learned else args.suite or protocol_table(args.protocol, "protocol")[1]["suites"]
    for suite in suites:
        folder = Path(args.results) / suite.split("/", 1)[1]
        if learned:
            _, pilot, seed_sd, pilot_text = learned
            where = "dev members"
        elif not (folder / "members.csv").is_file():
            print(f"{suite}: no {folder / 'members.csv'} (run benchmarks/v3/gates.py first); skipped")
            continue
        else:
            pilot = pilot_differences(folder / "members.csv", stats.pilot_method, stats.pilot_reference)
            seed_sd, pilot_text = stats.pilot_seed_sd, f"{stats.pilot_method} - {stats.pilot_reference}"
            where = "selection members"
        family_size = len(family.references_on(suite))
        delta = args.delta or stats.mdd_on(suite)
        seeds = args.seeds or stats.meta_training_seeds
        rows = power_simulation(pilot, delta=delta, n_members=args.sizes, family_size=family_size, alpha=stats.alpha,
                                simulations=args.simulations, resamples=args.resamples, seed=stats.seed,
                                seed_sd=seed_sd, train_seeds=seeds)
        rows = [{"suite": suite, "pilot": pilot_text, "pilot_members": len(pilot), "pilot_mean": float(pilot.mean()),
                 "pilot_sd": float(pilot.std(ddof=1)), **r} for r in rows]
        # power.csv holds the sizing protocol 3.0 registered (a learned pilot at the registered difference);
        # the selection members' pilot and the what-ifs are printed
        if args.pilot_runs and not (args.delta or args.seeds or args.sizes != list(SIZES)):
            folder.mkdir(parents=True, exist_ok=True)
            write_csv(rows, folder / "power.csv", list(rows[0]))
        need = smallest_n(rows, stats.power)
        print(f"{suite}: pilot {pilot_text} over {len(pilot)} {where}, mean {100 * pilot.mean():+.2f}, "
              f"sd {100 * pilot.std(ddof=1):.2f} points; family of {family_size}, {seeds} "
              f"meta-training seeds (sd {100 * seed_sd:.2f} points)")
        for r in rows:
            print(f"  n={r['n_members']:>3}  power {r['power']:.3f}  wrong direction {r['wrong_direction_rate']:.3f}  "
                  f"false positives at 0 {r['false_positive_rate_at_zero']:.3f}")
        print(f"  smallest test split with power >= {stats.power} at {100 * delta:.1f} points: "
              f"{need or f'more than {args.sizes[-1]}'}")


if __name__ == "__main__":
    main()
