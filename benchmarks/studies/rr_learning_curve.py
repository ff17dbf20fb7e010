"""RecurrentReinforce's learning curve on a suite's selection members (never its test members).

    python benchmarks/studies/rr_learning_curve.py --suite v1/digits-scaled --out runs/curve-digits
    python benchmarks/studies/rr_learning_curve.py --suite v1/wine-scaled --space relative_lr --out runs/curve-wine
    python benchmarks/studies/rr_learning_curve.py --group-size 1 --baseline moving_average --out runs/curve-ma

Meta-trains with the benchmark's settings (``agents.bench.v1.Protocol.rr``: batches of
64 children from the train members, in groups of 8 that share a member and an initial child, a
leave-one-out baseline, the entropy bonus decayed from 0.05 to 0.005 over ``--episodes``) and
every ``--eval-every`` episodes deploys the greedy policy on every selection member x
``--seeds`` seeds (``1_000_000 + i``, the protocol's selection seeds). Prints one JSON line per
evaluation: the mean final validation accuracy over those children, beside the best static tuple's,
the best fixed schedule's and the per-member oracle's (chosen on the same children from the
protocol's 24 + 24 candidates, so the references are optimistic), and writes ``curve.json``.

Reads: no results folder (it trains and evaluates on the suite's members itself). Its committed curve
on ``v1/digits-scaled``: ``benchmarks/results/digits/rr_learning_curve.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

import hpenv
from agents.bench.methods import RR_SPACES, RRMeta
from agents.bench.v1.protocol import PRESETS, SELECTION_SEED, SuiteContext
from agents.engine import evaluate_policy
from agents.reinforce import RecurrentReinforce


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", default="v1/digits-scaled")
    parser.add_argument("--space", default="absolute", choices=sorted(RR_SPACES))
    parser.add_argument("--episodes", type=int, default=4096)
    parser.add_argument("--eval-every", type=int, default=512)
    parser.add_argument("--seeds", type=int, default=2, help="seeds per selection member")
    parser.add_argument("--group-size", type=int, help="default: the protocol's (8)")
    parser.add_argument("--baseline", help="default: the protocol's (leave_one_out)")
    parser.add_argument("--seed", type=int, default=0, help="the agent's seed")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    protocol = dataclasses.replace(PRESETS["full"], suites=(args.suite,), rr_meta_episodes=args.episodes,
                                   selection_seeds=args.seeds, seed=args.seed)
    given = {"group_size": args.group_size, "baseline": args.baseline}
    protocol.rr = dataclasses.replace(protocol.rr, **{k: v for k, v in given.items() if v is not None})
    ctx = SuiteContext(args.suite, protocol, args.out / "cache")
    selection = ctx.run_selection()  # the references on the same selection children
    static_val, schedule_val = np.array(selection["static_val"]), np.array(selection["schedule_val"])
    references = {"best_static": float(static_val.mean(0).max()), "best_schedule": float(schedule_val.mean(0).max()),
                  "oracle_static": float(static_val.max(1).mean())}

    settings = RRMeta().settings(protocol)
    env_kwargs = {**ctx.env_kwargs, **RR_SPACES[args.space]}
    venv = gym.make_vec(hpenv.ENV_ID, num_envs=settings["num_envs"], task=f"{args.suite}/train", **env_kwargs)
    agent = RecurrentReinforce(venv, **settings["agent"])
    seeds = [SELECTION_SEED + i for i in range(args.seeds)]
    curve, t0 = [], time.perf_counter()
    while agent.num_episodes < args.episodes:
        agent.learn(args.eval_every)
        val = [np.mean([r.val_accuracy for r in evaluate_policy(agent, seeds, chunk=len(seeds), task=m,
                                                               **env_kwargs)])
               for m in ctx.selection_members()]
        recent = agent.history[-max(1, args.eval_every // settings["num_envs"]):]
        point = {"episodes": agent.num_episodes, "selection_val_accuracy": float(np.mean(val)),
                 "train_return": float(np.mean([h["rollout/ep_return_mean"] for h in recent])),
                 "entropy": float(agent.history[-1]["train/entropy"]), "wall_s": round(time.perf_counter() - t0, 1)}
        curve.append(point)
        print(json.dumps(point), flush=True)
        (args.out / "curve.json").write_text(json.dumps(
            {"suite": args.suite, "space": args.space, "settings": settings, "selection_seeds": seeds,
             "references": references, "curve": curve}, indent=1))
    print(json.dumps({"references (on the same selection children)": references}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
