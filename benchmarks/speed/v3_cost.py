"""What benchmark v3 costs on this machine, so part 2 can size its protocol.

    python benchmarks/speed/v3_cost.py           # one episode of 64 children per member kind, and the gates' wall time

Per suite: the wall time of one episode of 64 children (one member, its own width and batch size,
random static tuples, one torch thread, median of interleaved repeats) for members of each width,
against the same episode of a ``v2/mlp-short`` member (batch 32, width 64); the wall time and SGD
steps of each suite's selection stage, read from ``benchmarks/results/v3/<suite>/selection.json``.
Prints the CPU and the core count.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

import hpenv
from agents.bench.v3.ledger import machine_identity

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "v3"


def episode_seconds(member: str, num_envs: int = 64, **kw) -> float:
    """One episode of ``num_envs`` children of ``member`` with random static tuples."""
    env = gym.make_vec(hpenv.ENV_ID, num_envs=num_envs, vectorization_mode="vector_entry_point", task=member, **kw)
    actions = np.random.default_rng(0).integers(0, env.single_action_space.nvec, size=(num_envs, 4))
    env.reset(seed=0)
    t0 = time.perf_counter()
    for _ in range(env.unwrapped.config.horizon):
        env.step(actions)
    env.close()
    return time.perf_counter() - t0


def main() -> None:
    torch.set_num_threads(1)
    print(f"CPU: {machine_identity()['cpu']}, {os.cpu_count()} cores, torch {torch.__version__}, one torch thread per episode")
    reference = ("v2/mlp-short/230", hpenv.suite("v2/mlp-short").env_kwargs)
    for suite in ("v3/mlp", "v3/stream"):
        members = hpenv.instance_set(suite, "dev")
        picks = {}
        for m in members:  # the first dev member of each width, at the batch size it was drawn with
            picks.setdefault(hpenv.member_env_kwargs(m)["width"], m)
        times = {w: [] for w in picks}
        ref = []
        for _ in range(3):  # interleaved, so a slow moment of the machine falls on every kind alike
            ref.append(episode_seconds(reference[0], **reference[1]))
            for w, m in picks.items():
                times[w].append(episode_seconds(m, **hpenv.member_env_kwargs(m)))
        r = statistics.median(ref)
        print(f"{suite}: one episode of 64 children ({hpenv.suite(suite).horizon} env steps); "
              f"v2/mlp-short's (10 x 20 SGD steps, batch 32, width 64): {r:.2f} s")
        for w in sorted(times):
            kw = hpenv.member_env_kwargs(picks[w])
            t = statistics.median(times[w])
            print(f"  width {w:>3}, batch {kw['batch_size']:>3}, {kw['steps_per_action']} SGD steps per action "
                  f"({picks[w]}): {t:.2f} s, {t / r:.2f}x v2/mlp-short's")
        sel = RESULTS / suite.split("/", 1)[1] / "selection.json"
        if sel.is_file():
            s = json.loads(sel.read_text())
            print(f"  selection stage ({s['members']} {s['split']} members, {s['static_tuples']} static tuples, "
                  f"~{s['schedules_per_member']:.0f} schedules and ~{s['rules_per_member']:.0f} rules per member): "
                  f"{s['wall_time_s'] / 60:.1f} min wall, {s['first_seed_a_sgd_steps']:,} child SGD steps at the first seed A")


if __name__ == "__main__":
    main()
