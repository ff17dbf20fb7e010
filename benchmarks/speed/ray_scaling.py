"""Meta-training on Ray: episodes per second for N runners against the plain single-process
learner, and the learner's update time as a share of an iteration.

Methods, each a RecurrentReinforce with the same seed and ``episodes_per_update`` (default:
the largest N times K, so every runner has a chunk of every update):

* ``in-process``: ``learn()`` on one native vector env of K children, in this process.
* ``Ray N=n``: ``learn(runners=RayRunners(n, K))``: n actors of one CPU (``--threads`` torch
  threads) each playing chunks of K episodes, the learner in this process.

Every measurement starts a fresh agent (so all play the same kind of episodes) and times
``--updates`` updates; methods run interleaved, ``--repeats`` rounds, so machine noise hits
them alike, and each method's median is kept. Actors are started and warmed up (one update)
before any timing. After each round, the machine's parallel headroom is measured: what
max(N) one-thread matmul loops do together against one alone (on a shared machine the other
tenants' load caps any scaling). Then, at ``--update-k`` children per runner and one update of that many
episodes per iteration, the learner's update time is timed against the runner's play time; and
the learner alone at ``--update-batches`` episodes per update (synthetic chunks), which is what
it would face with many runners.

    python benchmarks/speed/ray_scaling.py                           # digits, K=8, N = 1, 2
    python benchmarks/speed/ray_scaling.py --runners 1,2,4 --address auto   # join a running cluster
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time
from typing import Callable

import gymnasium as gym
import numpy as np
import torch

import hpenv
from agents import RecurrentReinforce
from agents.distributed import RayRunners, init_ray
from agents.rollout import EpisodeChunk
from hpenv.extras import import_extra

ray = import_extra("ray", by="benchmarks/speed/ray_scaling.py")


def make_agent(env_kwargs: dict, num_envs: int, episodes_per_update: int) -> RecurrentReinforce:
    env = gym.make_vec(hpenv.ENV_ID, num_envs=num_envs, **env_kwargs)
    return RecurrentReinforce(env, seed=0, episodes_per_update=episodes_per_update)


def ray_iteration(agent: RecurrentReinforce, runners: RayRunners) -> tuple[float, float, int]:
    """One update through the learner's public hooks (what ``learn(runners=...)`` does per
    update): returns the seconds spent playing, the seconds spent updating, and the episodes."""
    t0 = time.perf_counter()
    chunks = runners.play(agent.snapshot(), agent.plan_update(runners.num_envs))
    t1 = time.perf_counter()
    agent.update_from_chunks(chunks)
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1, sum(len(chunk.mask) for chunk in chunks)


def synthetic_chunks(agent: RecurrentReinforce, episodes: int, horizon: int) -> list[EpisodeChunk]:
    """Chunks of the right shapes and kinds of values, for timing the learner alone at batch
    sizes too large to play here (the update's cost does not depend on the values)."""
    rng = np.random.default_rng(0)
    input_size = agent.policy.input_size
    return [EpisodeChunk(
        observations=rng.normal(size=(episodes, horizon, agent.obs_shape[0])),
        inputs=rng.normal(size=(episodes, horizon, input_size)).astype(np.float32),
        actions=np.stack([rng.integers(0, n, size=(episodes, horizon)) for n in agent.nvec], axis=-1),
        rewards=rng.normal(scale=0.01, size=(episodes, horizon)),
        mask=np.ones((episodes, horizon), dtype=bool),
    )]


@ray.remote(num_cpus=0)  # runs beside the idle runners, which hold the cluster's logical CPUs
def _matmul_loop(seconds: float) -> int:
    torch.set_num_threads(1)
    a = torch.randn(256, 256)
    t0, n = time.perf_counter(), 0
    while time.perf_counter() - t0 < seconds:
        a @ a
        n += 1
    return n


def parallel_headroom(n: int, seconds: float = 2.0) -> float:
    """What n one-thread processes get done together, as a multiple of what one does alone,
    right now: the most that n runners could scale by on this machine at this moment."""
    alone = ray.get(_matmul_loop.remote(seconds))
    together = sum(ray.get([_matmul_loop.remote(seconds) for _ in range(n)]))
    return together / alone


def episodes_per_second(run_update: Callable[[], int], updates: int) -> float:
    t0 = time.perf_counter()
    episodes = sum(run_update() for _ in range(updates))
    return episodes / (time.perf_counter() - t0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", default="digits")
    p.add_argument("--horizon", type=int, default=10)
    p.add_argument("--steps-per-action", type=int, default=50)
    p.add_argument("--num-envs", type=int, default=8, help="K: children per runner (and in process)")
    p.add_argument("--runners", default="1,2", help="comma-separated runner counts")
    p.add_argument("--episodes-per-update", type=int, help="default: largest runner count * K")
    p.add_argument("--updates", type=int, default=3, help="updates timed per measurement")
    p.add_argument("--repeats", type=int, default=3, help="interleaved rounds")
    p.add_argument("--update-k", type=int, default=64, help="K of the update-share measurement (0: skip)")
    p.add_argument("--update-batches", default="64,256,1024",
                   help="episodes per update at which to time the learner alone, on synthetic chunks")
    p.add_argument("--threads", type=int, default=1, help="torch threads per runner and in this process")
    p.add_argument("--cpus-per-runner", type=float,
                   help="CPUs Ray reserves per runner (default: --threads; less packs runners onto a busy cluster)")
    p.add_argument("--address", help="a Ray cluster to join (default: a local one)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    cpus = args.cpus_per_runner or args.threads
    counts = [int(n) for n in args.runners.split(",")]
    K = args.num_envs
    per_update = args.episodes_per_update or max(counts) * K
    env_kwargs = {"task": args.task, "horizon": args.horizon, "steps_per_action": args.steps_per_action}
    print(f"{args.task}, horizon {args.horizon}, {args.steps_per_action} SGD steps per action, K={K}, "
          f"{per_update} episodes per update, {args.threads} torch thread(s) per process, "
          f"{os.cpu_count()} CPUs here, load average at start {os.getloadavg()[0]:.2f}")

    # Every runner set stays up for the whole run, idle while another is timed: the local
    # cluster declares one logical CPU per runner of all sets, more than the cores it has.
    owns_ray = init_ray(args.address, num_cpus=math.ceil(sum(counts) * cpus))
    sets = {n: RayRunners(env_kwargs, n, K, cpus_per_runner=cpus) for n in counts}
    for runners in sets.values():  # warm-up: actors build their agent, first-touch the data
        ray_iteration(make_agent(env_kwargs, K, per_update), runners)

    methods: dict[str, Callable[[], float]] = {}

    def in_process() -> float:
        agent = make_agent(env_kwargs, K, per_update)

        def update() -> int:
            before = agent.num_episodes
            agent.learn(per_update)  # exactly one update
            return agent.num_episodes - before

        return episodes_per_second(update, args.updates)

    methods["in-process"] = in_process
    for n, runners in sets.items():
        def on_ray(runners: RayRunners = runners) -> float:
            agent = make_agent(env_kwargs, K, per_update)
            return episodes_per_second(lambda: ray_iteration(agent, runners)[2], args.updates)

        methods[f"Ray N={n}"] = on_ray

    rates: dict[str, list[float]] = {name: [] for name in methods}
    headroom: list[float] = []
    for _ in range(args.repeats):
        for name, measure in methods.items():
            rates[name].append(measure())
        headroom.append(parallel_headroom(max(counts)))
    medians = {name: statistics.median(values) for name, values in rates.items()}
    base = f"Ray N={counts[0]}"
    print(f"\n{'method':<12} {'episodes/s (median)':>20}  {'runs':<24} {'vs in-process':>13} {'vs ' + base:>12}")
    for name, values in rates.items():
        runs = " ".join(f"{v:.2f}" for v in values)
        print(f"{name:<12} {medians[name]:>20.2f}  {runs:<24} {medians[name] / medians['in-process']:>12.2f}x "
              f"{medians[name] / medians[base]:>11.2f}x")
    print(f"parallel headroom of the machine meanwhile: {max(counts)} one-thread matmul processes together did "
          f"{statistics.median(headroom):.2f}x the work of one alone (median; runs "
          f"{' '.join(f'{h:.2f}' for h in headroom)})")
    for runners in sets.values():
        runners.close()

    if args.update_k:
        Kb = args.update_k
        with RayRunners(env_kwargs, 1, Kb, cpus_per_runner=cpus) as runners:
            agent = make_agent(env_kwargs, Kb, Kb)
            ray_iteration(agent, runners)  # warm-up
            timings = [ray_iteration(agent, runners) for _ in range(args.updates)]
        play = statistics.median(t[0] for t in timings)
        update = statistics.median(t[1] for t in timings)
        print(f"\nupdate share at K={Kb} (1 runner, {Kb} episodes per update, medians of {args.updates}): "
              f"play {play:.2f} s ({play / Kb * 1000:.0f} ms per episode), update {update * 1000:.0f} ms, "
              f"update share {update / (play + update):.1%} of an iteration")
    agent = make_agent(env_kwargs, K, K)
    for batch in (int(b) for b in args.update_batches.split(",") if b):
        chunks = synthetic_chunks(agent, batch, args.horizon)
        agent.update_from_chunks(chunks)  # warm-up
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            agent.update_from_chunks(chunks)
            times.append(time.perf_counter() - t0)
        update = statistics.median(times)
        print(f"learner alone, {batch} episodes of {args.horizon} steps per update: {update * 1000:.1f} ms "
              f"({update / batch * 1e6:.0f} us per episode; median of 5)")
    print(f"load average at end {os.getloadavg()[0]:.2f}")
    if owns_ray:
        ray.shutdown()


if __name__ == "__main__":
    main()
