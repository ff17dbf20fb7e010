"""Benchmark v2's cost targets on this machine: ``--quick`` in at most 5 minutes of wall time, the
full protocol of one MLP suite (every method) in at most 90, on all cores.

    python benchmarks/speed/v2_cost.py                          # times --quick now
    python benchmarks/speed/v2_cost.py --full-run RUN_DIR       # and reads a full run's cost from its folder
    python benchmarks/speed/v2_cost.py --full --out RUN_DIR     # runs the full protocol too (frozen protocol)
    python benchmarks/speed/v2_cost.py --episode-cost           # one episode of 64 children per v2 MLP suite

A full run's folder may have been resumed: its cost is the sum of its sessions (``run.json`` of
each, kept in ``sessions.json``). Prints the CPU, the core count, each wall time and its ratio to
the target.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from agents.bench.common import cpu_name
from agents.bench.preregistration import REGISTERED_PROTOCOL, load_protocol
from agents.bench.v2 import run_v2, run_sessions

TARGET_QUICK_S = 5 * 60
TARGET_FULL_S = 90 * 60


def line(what: str, wall_s: float, target_s: float, suites: int = 1) -> str:
    per_suite = wall_s / max(suites, 1)
    verdict = "meets" if per_suite <= target_s else "MISSES"
    return (f"{what:<34} {per_suite / 60:6.1f} min per suite  target {target_s / 60:4.0f} min  "
            f"ratio {per_suite / target_s:4.2f}  {verdict}")


def episode_cost(repeats: int = 3, num_envs: int = 64) -> dict[str, float]:
    """Median wall time of one episode of ``num_envs`` children with random static tuples, per v2 MLP
    suite at its own horizon (one torch thread): what makes one suite's protocol dearer than another's."""
    import gymnasium as gym
    import numpy as np
    import torch

    import hpenv
    from hpenv.suites_v2 import V2_SUITES

    torch.set_num_threads(1)
    out = {}
    for suite in V2_SUITES:
        if suite.child != "mlp":
            continue
        env = gym.make_vec(hpenv.ENV_ID, num_envs=num_envs, task=f"{suite.name}/train", **suite.env_kwargs)
        rng, times = np.random.default_rng(0), []
        for rep in range(repeats):
            env.reset(seed=rep)
            actions = rng.integers(0, env.single_action_space.nvec, size=(num_envs, len(env.single_action_space.nvec)))
            t0 = time.perf_counter()
            for _ in range(suite.horizon):
                env.step(actions)
            times.append(time.perf_counter() - t0)
        out[suite.name] = float(np.median(times))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--protocol", default=str(REGISTERED_PROTOCOL))
    ap.add_argument("--full-run", help="a finished full run's folder: report its cost")
    ap.add_argument("--full", action="store_true", help="run the full protocol (into --out) and time it")
    ap.add_argument("--out", help="with --full: the run folder")
    ap.add_argument("--suite", help="one suite of the protocol (default: its first)")
    ap.add_argument("--episode-cost", action="store_true",
                    help="only time one episode of 64 children per v2 MLP suite, and each one's ratio to the first")
    args = ap.parse_args(argv)
    if args.episode_cost:
        costs = episode_cost()
        first = next(iter(costs.values()))
        print(f"CPU: {cpu_name()}, {os.cpu_count()} cores; one episode of 64 children, random static tuples, "
              f"median of 3, one thread")
        for name, wall in costs.items():
            print(f"{name:<14} {wall:6.2f} s  ratio {wall / first:4.2f}")
        return 0
    protocol = load_protocol(args.protocol)
    suite = args.suite or protocol.suites[0].name
    print(f"CPU: {cpu_name()}, {os.cpu_count()} cores; protocol {protocol.version} ({protocol.hash[:12]}); {suite}")
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        run_v2(protocol, Path(tmp) / "quick", suites=[suite], quick=True, log=lambda m: None)
        print(line("--quick (fresh folder)", time.perf_counter() - t0, TARGET_QUICK_S))
    if args.full:
        if not args.out:
            ap.error("--full needs --out")
        run_v2(protocol, args.out, suites=[suite], log=lambda m: print(m, file=sys.stderr, flush=True))
        args.full_run = args.out
    if args.full_run:
        sessions = run_sessions(Path(args.full_run))
        wall = sum(s["wall_s"] for s in sessions)
        n_suites = len(sessions[-1]["suites"])
        print(line(f"prepare + deploy ({len(sessions)} session(s))", wall, TARGET_FULL_S, n_suites))
        # a selection stage run before the protocol was frozen (its gates size the test split) is in
        # no session: its units' own wall times, spread over the workers, estimate it
        units = [json.loads(f.read_text())["wall_time_s"] for stage in ("grid", "schedules")
                 for f in Path(args.full_run).glob(f"*/cache/{stage}/*.json")]
        selection = sum(units) / max(1, min(os.cpu_count() or 1, len(units)))
        print(line("selection stage (from its units)", selection, TARGET_FULL_S, n_suites))
        print(line("full protocol", wall + selection, TARGET_FULL_S, n_suites))
        print(json.dumps([{k: s[k] for k in ("started", "wall_s", "cpu_s")} for s in sessions]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
