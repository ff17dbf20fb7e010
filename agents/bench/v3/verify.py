"""``hptune bench --verify DIR`` on a v3 run folder: does it hold what the registered v3 protocol asks for?

[`verify_v3`][agents.bench.v3.verify.verify_v3] reads each suite's ``results.csv`` under ``DIR`` (``v3_mlp/``,
``v3_stream/``, as ``hptune bench --v3`` writes them) and reports one line per problem: a draft protocol,
another protocol hash (a ``--quick`` rehearsal's included), rows of another split than test or transfer, a
member outside the split, a method of the suite's family without results, a member, meta-training seed or
evaluation seed missing or recorded twice, a deployed budget other than the member's own, a count of correct
examples that disagrees with the accuracy or a test split of another size than the member's. Then it re-trains
a seeded sample of replayable rows from their member (with its own env arguments), seed and recorded
schedule, and checks the recorded accuracies, as v2's [`agents.bench.verify`][] does.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import hpenv
from agents.bench.verify import CSV_ROUNDING, Verification, replay

__all__ = ["verify_v3", "is_v3_folder"]


def is_v3_folder(folder: str | Path) -> bool:
    """Whether ``folder`` is a run folder of ``hptune bench --v3`` (its ``run.json`` names a v3 protocol)."""
    run = Path(folder) / "run.json"
    if not run.is_file():
        return False
    try:
        return "split" in json.loads(run.read_text())
    except ValueError:
        return False


def verify_v3(folder: str | Path, protocol: str | Path | None = None, *, replays: int = 8, tolerance: float = 0.0,
              seed: int = 0) -> Verification:
    """Check every suite of the v3 run folder ``folder`` against ``protocol`` (default: the shipped one).

    Args:
        replays: rows re-trained from their recorded schedules, drawn with ``numpy`` seeded by ``seed``.
        tolerance: allowed absolute accuracy difference of a replay, beyond the CSV's rounding.
    """
    import numpy as np

    from agents.bench.v3.budgets import load_budgets, protocol_identity
    from agents.bench.v3.methods import GENEROUS_SEARCHES, resolve_v3_method
    from agents.bench.v3.runner import family_methods, read_results
    from agents.bench.v3.shipped import SHIPPED_PROTOCOL
    from agents.bench.v3.statistics import load_family, load_statistics
    from agents.seeds import REPORT
    from hpenv.instances import member_task

    if replays < 0 or tolerance < 0:
        raise ValueError(f"replays and tolerance must be >= 0, got replays={replays!r}, tolerance={tolerance!r}")
    protocol = Path(protocol) if protocol is not None else SHIPPED_PROTOCOL
    identity, stats = protocol_identity(protocol), load_statistics(protocol)
    family, budgets = load_family(protocol), load_budgets(protocol)
    folders = sorted(p for p in Path(folder).glob("v3_*") if (p / "results.csv").is_file())
    if not folders:
        return Verification((f"{folder} holds no v3 suite folder with a results.csv (v3_mlp/, v3_stream/)",), 0, 0)
    problems = [] if identity.frozen else [
        f"protocol {identity.version} is a draft: results under it are not test results"]
    seeds = REPORT.seeds(stats.evaluation_seeds)
    all_rows, n_test = [], {}
    for path in folders:
        rows = read_results(path / "results.csv")
        all_rows += rows
        for h in sorted({r["protocol_hash"] for r in rows} - {identity.hash}):
            problems.append(f"{path.name}: protocol hash {h} differs from the registered {identity.hash[:12]}"
                            + (" (a --quick rehearsal)" if h.startswith("quick-") else ""))
        for split in sorted({r["split"] for r in rows} - {"test", "transfer"}):
            problems.append(f"{path.name}: rows of the {split} split are development, not test results")
        suites = {r["suite"] for r in rows}
        for suite in suites:
            mine = [r for r in rows if r["suite"] == suite]
            for split in sorted({r["split"] for r in mine} & {"test", "transfer"}):
                members = hpenv.instance_set(suite, split)
                cells: dict[tuple, list[int]] = defaultdict(list)
                for r in (r for r in mine if r["split"] == split):
                    cells[(r["method"], r["training_seed"], r["member"])].append(r["seed"])
                methods, registered = {m for m, _, _ in cells}, family_methods(suite, family)
                for name in registered:
                    if name not in methods:
                        problems.append(f"{suite} {split}: method {name} of the family has no results")
                for name in sorted(methods):
                    learned = name in registered and resolve_v3_method(name).learned
                    expected_seeds = range(stats.meta_training_seeds) if learned else (-1,)
                    wanted = members[: budgets.generous_search_members] if name in GENEROUS_SEARCHES else members
                    for t in expected_seeds:
                        label = f"{suite} {split}, {name}" + (f" (meta-training seed {t})" if t >= 0 else "")
                        absent = [m for m in wanted if not cells.get((name, t, m))]
                        if absent:
                            problems.append(f"{label}: {len(absent)} of {len(wanted)} members missing, e.g. "
                                            f"{absent[:3]}")
                        for m in wanted:
                            got = cells.get((name, t, m), [])
                            if got and sorted(got) != sorted(seeds):
                                problems.append(f"{label}, {m}: evaluation seeds {sorted(got)}, the protocol's "
                                                f"are {seeds}")
                    outside = sorted({m for (n, _, m) in cells if n == name} - set(members))
                    if outside:
                        problems.append(f"{suite} {split}, {name}: {outside[:3]} are not {split} members")
        for r in rows:
            where = f"{r['member']} seed {r['seed']} method {r['method']}"
            kw = hpenv.member_env_kwargs(r["member"])
            budget = kw["horizon"] * kw["steps_per_action"]
            if not (r["deployed_sgd_steps"] == budget or (r["diverged"] and 0 <= r["deployed_sgd_steps"] < budget)):
                problems.append(f"{where}: deployed {r['deployed_sgd_steps']} SGD steps, the member's budget is "
                                f"{budget}")
            if r["member"] not in n_test:
                n_test[r["member"]] = len(member_task(r["member"]).y_test)
            if r["n_test"] != n_test[r["member"]] or r["correct"] != round(r["test_accuracy"] * r["n_test"]):
                problems.append(f"{where}: {r['correct']} correct of {r['n_test']} disagrees with test accuracy "
                                f"{r['test_accuracy']} on the member's {n_test[r['member']]} test examples")
    replayable = [r for r in all_rows if r["replayable"]]
    picks = (range(len(replayable)) if replays >= len(replayable)
             else sorted(np.random.default_rng(seed).choice(len(replayable), size=replays, replace=False)))
    for i in picks:
        r = replayable[i]
        where = f"replay of {r['member']} seed {r['seed']} method {r['method']} ({r['method_version']})"
        try:
            got = replay(r["member"], r["seed"], json.loads(r["schedule"]), hpenv.member_env_kwargs(r["member"]))
        except ValueError as e:
            problems.append(f"{where}: cannot replay: {e}")
            continue
        for name, value in zip(("val_accuracy", "test_accuracy"), got):
            if abs(value - r[name]) > tolerance + CSV_ROUNDING:
                problems.append(f"{where}: {name} {value:.6f} replayed, {r[name]:.6f} recorded (tolerance {tolerance})")
    return Verification(tuple(problems), len(all_rows), len(picks))
