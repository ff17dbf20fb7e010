"""The closed-loop gain as a function of the change window's width: ``python benchmarks/studies/v3_window_width.py``.

On the first ``--members`` dev members of ``v3/stream`` (development only: no reference is chosen
here), for each change window (a variant of the suite: the same members, the change step drawn from
another window, ``hpenv.instances.variant_name``):

1. the global candidates around the ``--starts`` best static tuples (by mean validation accuracy at
   the first seed A over these members, read from the static stage of a gate run on the same
   members and window (3, 8), ``--static-cache``): v2's fixed-schedule family and the learning rate
   moved -1, -2, -3 grid positions, to the smallest or +1 from every step of the window (schedules
   that freeze the child from the window's start left out), and the closed-loop rules of the
   ``[selection]`` table (thresholds, drops, raise-first);
2. every candidate on every member at the seeds A (``--seeds-a``); the best fixed schedule and the
   best rule are those with the best mean validation accuracy over members and seeds A;
3. both, and the best start tuple held constant, trained again at the ``[selection]`` table's
   seeds B and scored by test accuracy; per window, the member-level mean of rule minus schedule
   (the closed-loop gain) and schedule minus constant, with paired bootstrap intervals.

A fixed schedule knows when a change in a one-step window comes; a rule has to read it from the
training loss. The wider the window, the less a schedule can know, so the gain of reading the state
should grow with the width. Units are cached per window and member under ``--cache`` (resumable).

    python benchmarks/studies/v3_window_width.py --static-cache /path/to/v3_stream-dev-<key>/static
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

import hpenv
from agents.bench.candidates import schedule_family, static_grid
from agents.bench.common import cached_units, write_csv
from agents.bench.stats import paired_comparison
from agents.bench.v3.candidates import is_freeze, rule_family, rule_name, window_schedules
from agents.bench.v3.gates import load_gate_settings, scored_means, validation_means
from hpenv.instances import variant_name

ROOT = Path(__file__).resolve().parents[2]


def candidates(space, horizon: int, starts: np.ndarray, window: tuple[int, int], settings) -> tuple:
    """The window's global fixed schedules (none that freezes), their names, and the rules."""
    lowest = -len(space.params[space.names.index("learning_rate")].values)
    scheds, names = schedule_family(space, horizon, starts, settings.schedule_families)
    more, more_names = window_schedules(space, horizon, starts, window, (*settings.window_moves, lowest))
    scheds, names = np.concatenate([scheds, more]), names + more_names
    keep = ~is_freeze(space, scheds, window)
    rules = rule_family(starts, settings.rule_thresholds, settings.rule_drops, settings.rule_raise_first)
    return scheds[keep], [n for n, k in zip(names, keep) if k], rules


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protocol", default=str(ROOT / "benchmarks/v3/protocol.toml"))
    parser.add_argument("--members", type=int, default=12)
    parser.add_argument("--windows", nargs="+", default=["5,5", "4,6", "3,8"], help="FIRST,LAST env steps")
    parser.add_argument("--static-cache", required=True,
                        help="the static stage folder of a gate run on the same dev members (its <index>.json files)")
    parser.add_argument("--starts", type=int, default=2, help="candidates start from this many best static tuples")
    parser.add_argument("--seeds-a", type=int, default=2, help="the first N seeds A of the [selection] table choose")
    parser.add_argument("--cache", default=str(ROOT / "runs/v3-window-width"))
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/v3/stream/dev/window_width.csv"))
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()

    settings = load_gate_settings(args.protocol)
    space = hpenv.HPSpace.default()
    members = hpenv.instance_set("v3/stream", "dev")[:args.members]
    grid = static_grid(space, settings.static_candidates)
    static_val = np.array([json.loads((Path(args.static_cache) / f"{m.rsplit('/', 1)[1]}.json").read_text())["val"]
                           for m in members])
    if static_val.shape[1] != len(grid):
        raise SystemExit(f"{args.static_cache} holds {static_val.shape[1]} static tuples per member, the "
                         f"[selection] table's grid {len(grid)}: not a static stage of this protocol")
    starts = grid[np.argsort(-static_val.mean(0), kind="stable")[:args.starts]]
    horizon = hpenv.suite("v3/stream").horizon
    seeds_a, seeds_b = tuple(settings.seeds_a[:args.seeds_a]), tuple(settings.seeds_b)
    rows = []
    for text in args.windows:
        window = tuple(int(v) for v in text.split(","))
        suite = variant_name("v3/stream", {"window": list(window)})
        ids = [f"{suite}/{m.rsplit('/', 1)[1]}" for m in members]
        kws = [hpenv.member_env_kwargs(m) for m in ids]
        scheds, names, rules = candidates(space, horizon, starts, window, settings)
        folder = Path(args.cache) / f"window-{window[0]}-{window[1]}-starts{args.starts}-a{len(seeds_a)}"
        chosen = cached_units(validation_means, [(m, scheds, rules, seeds_a, kw) for m, kw in zip(ids, kws)],
                              folder / "validation", print, f"window {window}: {len(scheds)} schedules, {len(rules)} rules",
                              args.workers)
        best_s = int(np.argmax(np.mean([c["schedule_val"] for c in chosen], 0)))
        best_r = int(np.argmax(np.mean([c["rule_val"] for c in chosen], 0)))
        children = {"constant": np.repeat(starts[:1], horizon, 0).tolist(), "schedule": scheds[best_s].tolist()}
        scored = cached_units(scored_means, [(m, children, {"rule": rules[best_r]}, seeds_b, kw) for m, kw in zip(ids, kws)],
                              folder / f"test-{best_s}-{best_r}", print, f"window {window}: seeds B", args.workers)
        const, sched, rule = (np.array([s[k] for s in scored]) for k in ("constant", "schedule", "rule"))
        for method, reference, x, y in (("best closed-loop rule", "best fixed schedule", rule, sched),
                                        ("best fixed schedule", "best static tuple", sched, const)):
            c = paired_comparison(x, y, n_resamples=settings.bootstrap_resamples)
            rows.append({"window": f"{window[0]}..{window[1]}", "width": window[1] - window[0] + 1,
                         "method": method, "reference": reference, "n_members": len(ids), "gain": c["mean_diff"],
                         "ci_low": c["ci_low"], "ci_high": c["ci_high"], "method_mean": float(x.mean()),
                         "reference_mean": float(y.mean()),
                         "chosen": rule_name(space, rules[best_r]) if method.endswith("rule") else names[best_s]})
            r = rows[-1]
            print(f"window {r['window']} (width {r['width']}): {method} over {reference} {100 * r['gain']:+.2f} "
                  f"[{100 * r['ci_low']:+.2f}, {100 * r['ci_high']:+.2f}]  ({r['chosen']})")
    out = Path(args.out)
    write_csv(rows, out, list(rows[0]))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
