"""What benchmark v3 costs on this machine, so part 2 can size its protocol.

    python benchmarks/speed/v3_cost.py           # one episode of 64 children per member kind, and the gates' wall time
    python benchmarks/speed/v3_cost.py --protocol --suite v3/stream   # the full protocol's wall time, projected

``--protocol`` measures what each method of the family costs with the runner's own code
([`agents.bench.v3.methods`][]): its meta-training per episode (64 episodes, one update, timed), one deployed
child (with its search) on each of the first dev members, and reduce-on-plateau's choice on the selection
members; then projects the registered protocol (its budgets, meta-training seeds, evaluation seeds, the test
and transfer members, the searches' second budget) on this machine's cores, and what-ifs of the split's size and
the seeds. One torch thread per unit, as the runner's workers. A projection, not a run: it assumes the cores stay
busy and that the first dev members' children cost what the split's do.

Per suite: the wall time of one episode of 64 children (one member, its own width and batch size,
random static tuples, one torch thread, median of interleaved repeats) for members of each width,
against the same episode of a ``v2/mlp-short`` member (batch 32, width 64); the wall time and SGD
steps of each suite's selection stage, read from ``benchmarks/results/v3/<suite>/selection.json``.
Prints the CPU and the core count.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import tempfile
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


def method_costs(suite: str, members: int = 6, meta_episodes: int = 64) -> dict:
    """Seconds, measured here: each learned method's meta-training per episode, each method's deployed child
    (search included) per member and evaluation seed, and reduce-on-plateau's one-off choice."""
    from agents.bench.v3.budgets import load_budgets
    from agents.bench.v3.methods import MethodContext, resolve_v3_method
    from agents.bench.v3.runner import family_methods
    from agents.bench.v3.shipped import SHIPPED_PROTOCOL, shipped_references
    from agents.bench.v3.statistics import load_family
    from agents.seeds import REPORT, SELECTION

    budgets = dataclasses.replace(load_budgets(SHIPPED_PROTOCOL), meta_episodes=meta_episodes)
    dev = hpenv.instance_set(suite, "dev")[:members]
    seed = REPORT.seeds(1)[0]
    out = {"per_episode": {}, "child": {}, "one_off": {}}
    with tempfile.TemporaryDirectory() as cache:
        ctx = MethodContext(suite, budgets, shipped_references(suite)[0], seed=0, cache_dir=cache,
                            selection_seeds=SELECTION.seeds(2))
        for name in family_methods(suite, load_family(SHIPPED_PROTOCOL)):
            method = resolve_v3_method(name)
            method.name = name
            t0 = time.perf_counter()
            method.prepare(ctx)
            prepared = time.perf_counter() - t0
            if method.learned and name != "RecurrentReinforce online":  # the online mode reuses RR's agent
                out["per_episode"][name] = prepared / meta_episodes
            elif not method.learned and prepared > 1.0:
                out["one_off"][name] = prepared
            times = []
            for m in dev:
                t0 = time.perf_counter()
                method.run(ctx, m, [seed])
                times.append(time.perf_counter() - t0)
            out["child"][name] = float(np.mean(times))
            print(f"  {name}: child {out['child'][name]:.2f} s" + (
                f", meta-training {out['per_episode'][name]:.2f} s per episode" if name in out["per_episode"] else "")
                + (f", one-off {out['one_off'][name]:.0f} s" if name in out["one_off"] else ""), flush=True)
    return out


def projected_hours(costs: dict, suite: str, *, test_members: int | None = None, meta_seeds: int | None = None,
                    cores: int | None = None) -> dict:
    """The registered protocol's wall time on ``cores`` from [`method_costs`][]'s seconds: meta-training, the
    one-off choices, deploying on every test and transfer member at every evaluation seed (a learned method
    once per meta-training seed; the generous searches on their members only)."""
    from agents.bench.v3.budgets import load_budgets
    from agents.bench.v3.methods import GENEROUS_SEARCHES, resolve_v3_method
    from agents.bench.v3.shipped import SHIPPED_PROTOCOL
    from agents.bench.v3.statistics import load_statistics

    b, st = load_budgets(SHIPPED_PROTOCOL), load_statistics(SHIPPED_PROTOCOL)
    seeds = meta_seeds or st.meta_training_seeds
    cores = cores or os.cpu_count() or 1
    sizes = hpenv.suite(suite).split_sizes
    members = (test_members or sizes["test"]) + sizes.get("transfer", 0)
    meta = sum(t * b.meta_episodes * seeds for t in costs["per_episode"].values())
    per_member = sum(t * (seeds if resolve_v3_method(n).learned else 1) for n, t in costs["child"].items()
                     if n not in GENEROUS_SEARCHES)
    generous = sum(t for n, t in costs["child"].items() if n in GENEROUS_SEARCHES)
    deploy = st.evaluation_seeds * (members * per_member + min(b.generous_search_members, members) * generous)
    one_off = sum(costs["one_off"].values())
    # the oracles on test run the selection stage's procedure: its measured wall time per member (both cores)
    sel = json.loads((RESULTS / suite.split("/", 1)[1] / "selection.json").read_text())
    oracles = sel["wall_time_s"] / sel["members"] * b.oracle_test_members / 3600
    return {"meta": meta / cores / 3600, "deploy": deploy / cores / 3600, "one_off": one_off / cores / 3600,
            "oracles": oracles, "total": (meta + deploy + one_off) / cores / 3600 + oracles, "members": members,
            "seeds": seeds, "cores": cores}


def protocol_cost(suites) -> None:
    torch.set_num_threads(1)
    print(f"CPU: {machine_identity()['cpu']}, {os.cpu_count()} cores, torch {torch.__version__}, one torch thread per unit")
    for suite in suites:
        print(f"{suite}: measuring each method (64 meta-training episodes; one child on each of the first 6 dev "
              f"members)", flush=True)
        costs = method_costs(suite)
        for kw in ({}, {"test_members": 400}, {"meta_seeds": 10}, {"test_members": 100}):
            p = projected_hours(costs, suite, **kw)
            label = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in kw.items()) or "as registered"
            print(f"  projected ({label}; {p['members']} test and transfer members, {p['seeds']} meta-training "
                  f"seeds, {p['cores']} cores): meta-training {p['meta']:.2f} h + choices {p['one_off']:.2f} h + "
                  f"deployment {p['deploy']:.2f} h + oracles on test {p['oracles']:.2f} h = {p['total']:.2f} h "
                  f"(target 2.5 h: "
                  f"{'meets' if p['total'] <= 2.5 else 'MISSES'})")


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
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--protocol", action="store_true", help="project the full protocol's wall time per suite")
    ap.add_argument("--suite", default="v3/mlp,v3/stream", help="with --protocol: comma-separated suites")
    args = ap.parse_args()
    if args.protocol:
        protocol_cost([s.strip() for s in args.suite.split(",") if s.strip()])
    else:
        main()
