"""Meta-training speed of ``hptune train``'s default chunking on Ray runners, before and after it was fixed.

The chunks an update is split into decide the run (:mod:`agents.distributed`). The first default of
``--runner-envs`` (39b0bee) split each update into one chunk per runner (``--num-envs / --runners``
in whole groups), so the same seed gave another run on another runner count; now it plays chunks of
a fixed size
(:func:`agents.cli.config.default_runner_envs`: 32 of the main job's 64 children). This times both
rules with the main job's agent and episodes (``v2/mlp-short``'s train members, 10 x 20 SGD steps,
64 children per update in groups of 8), for each runner count, methods interleaved so that machine
noise hits them alike, and prints episodes per second and the ratio fixed / per-runner (median of
the rounds' ratios). On a 2-core machine the main job runs on 2 runners, where both rules give
chunks of 32: its speed is unchanged by construction; on 1 runner the fixed rule plays two chunks
of 32 one after the other instead of one of 64.

    python benchmarks/speed/runner_chunks.py                          # 1 runner and one per core, ~3 min on 2 cores
    python benchmarks/speed/runner_chunks.py --runners 1,2,4 --updates 3 --repeats 5
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time

import gymnasium as gym
import torch

import hpenv
from agents.cli.config import TrainConfig, default_runner_envs
from agents.distributed import RayRunners, init_ray
from agents.reinforce import RecurrentReinforce
from hpenv.extras import import_extra

ray = import_extra("ray", by="benchmarks/speed/runner_chunks.py")


def per_runner_chunk(num_envs: int, runners: int, group_size: int) -> int:
    """The first default of ``--runner-envs`` (39b0bee): one chunk per runner, whole groups each."""
    return max(group_size, num_envs // runners // group_size * group_size)


def episodes_per_second(cfg: TrainConfig, runners: RayRunners, updates: int) -> float:
    """A fresh agent (the same seed every time) learns one update to warm up, then ``updates`` timed ones."""
    agent = RecurrentReinforce(gym.make_vec(hpenv.ENV_ID, num_envs=cfg.num_envs, **cfg.env_kwargs()),
                               config=cfg.settings)
    per_update = cfg.settings.episodes_per_update
    agent.learn(per_update, runners=runners)
    t0 = time.perf_counter()
    agent.learn(updates * per_update, runners=runners)
    return updates * per_update / (time.perf_counter() - t0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", default=TrainConfig.task, help="a suite (its train members) or a task")
    p.add_argument("--horizon", type=int, default=0, help="0: the task's own (as hptune train)")
    p.add_argument("--steps-per-action", type=int, default=0, help="0: the task's own (as hptune train)")
    p.add_argument("--num-envs", type=int, default=TrainConfig.num_envs, help="children per update")
    p.add_argument("--group-size", type=int, default=0, help="episodes per group (0: hptune train's)")
    p.add_argument("--runners", default=f"1,{os.cpu_count() or 1}", help="comma-separated runner counts")
    p.add_argument("--updates", type=int, default=2, help="updates timed per measurement")
    p.add_argument("--repeats", type=int, default=3, help="interleaved rounds")
    p.add_argument("--threads", type=int, default=1, help="torch threads per runner and in this process")
    p.add_argument("--cpus-per-runner", type=float, default=1.0, help="CPUs Ray reserves per runner")
    p.add_argument("--address", help="a Ray cluster to join (default: a local one)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    grouping = {"group_size": args.group_size} if args.group_size else {}
    cfg = TrainConfig.from_options(task=args.task, horizon=args.horizon, steps_per_action=args.steps_per_action,
                                   num_envs=args.num_envs, runners=0, **grouping)
    group = cfg.settings.group_size
    counts = sorted({int(n) for n in args.runners.split(",")})
    fixed = default_runner_envs(cfg.num_envs, group)
    print(f"{cfg.task}, horizon {cfg.horizon} x {cfg.steps_per_action} SGD steps, {cfg.num_envs} children per "
          f"update in groups of {group}; {os.cpu_count()} CPUs here, load average at start {os.getloadavg()[0]:.2f}")
    owns_ray = init_ray(args.address, num_cpus=math.ceil(max(counts) * args.cpus_per_runner))
    try:
        print(f"\n{'runners':>7}  {'fixed chunk':>11} {'episodes/s':>10}  {'per-runner chunk':>16} {'episodes/s':>10}  "
              f"{'ratio fixed / per-runner (median; runs)'}")
        for n in counts:
            chunks = {"fixed": fixed, "per-runner": per_runner_chunk(cfg.num_envs, n, group)}
            rates: dict[str, list[float]] = {rule: [] for rule in chunks}
            for _ in range(args.repeats):
                for rule, chunk in chunks.items():
                    with RayRunners(cfg.env_kwargs(), n, chunk, cpus_per_runner=args.cpus_per_runner) as runners:
                        rates[rule].append(episodes_per_second(cfg, runners, args.updates))
            ratios = [f / r for f, r in zip(rates["fixed"], rates["per-runner"])]
            print(f"{n:>7}  {chunks['fixed']:>11} {statistics.median(rates['fixed']):>10.2f}  "
                  f"{chunks['per-runner']:>16} {statistics.median(rates['per-runner']):>10.2f}  "
                  f"{statistics.median(ratios):.2f}x; {' '.join(f'{r:.2f}' for r in ratios)}")
    finally:  # a failed measurement must not leave a local cluster behind
        if owns_ray:
            ray.shutdown()
    print(f"load average at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
