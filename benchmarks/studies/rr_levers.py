"""RecurrentReinforce's levers on benchmark v2's selection members (issue 19): which setting earns its keep.

Each variant changes one setting of RR meta version 1 (``agents.options.reinforce_settings``:
2,048 episodes in batches of 64 children, groups of 8 with a leave-one-out baseline, absolute
actions), is meta-trained on the 200 train members of ``v2/mlp-short`` once per training seed, and
deployed greedily on its 30 selection members x ``--eval-seeds`` seeds of the v2 selection range
(offset 100: none of the protocol's own selection seeds, none of ``hptune train``'s). Each is
compared at member level (seeds averaged per member; members and training seeds resampled;
Wilcoxon over members) with the registered run's best static tuple on the same children, and with
version 1. Test members are never touched: a variant that wins here becomes a new version, scored
once through the ledger. The best static tuple was chosen on these members (at another seed),
which favours it.

    python benchmarks/studies/rr_levers.py --out runs/rr-levers                     # every variant x 2 seeds
    python benchmarks/studies/rr_levers.py --out runs/rr-levers --variants "v1,hidden 128" --seeds 3

Agents are cached in ``--out`` (``<variant>_s<seed>.pt``), so a killed run continues. About 140 s
of one core per 2,048-episode meta-training.

Reads: the registered run's best static tuple (``benchmarks/results/v2``, as shipped with the package:
:func:`agents.bench.registered.registered_references`). Its results are quoted in ``docs/results.md``
(the runs are not committed).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

import hpenv
from agents.bench.member_stats import member_comparison
from agents.bench.registered import registered_references
from agents.bench.stats import difference_text
from agents.engine import evaluate_policy, static_episodes
from agents.options import reinforce_settings, with_entropy_decay
from agents.reinforce import RecurrentReinforce
from agents.seeds import V2_SELECTION

SUITE = "v2/mlp-short"
ENV = {"horizon": 10, "steps_per_action": 20}
NUM_ENVS = 64
#: name -> (meta-training episodes, RecurrentReinforceConfig fields that differ from version 1; ``num_envs``:
#: children per batch, one update each)
VARIANTS: dict[str, tuple[int, dict]] = {
    "v1": (2048, {}),
    "hidden 128": (2048, {"hidden_size": 128}),
    "entropy 0.01 -> 0.001": (2048, {"ent_coef": 0.01, "ent_coef_final": 0.001}),
    "4096 episodes": (4096, {}),
    "batches of 32 (64 updates)": (2048, {"num_envs": 32}),
    "Adam 3e-2": (2048, {"learning_rate": 3e-2}),
}
#: Files of the agents: the variant's name without spaces and punctuation.
FILE_NAMES = {"v1": "base", "hidden 128": "h128", "entropy 0.01 -> 0.001": "entlow", "4096 episodes": "e4096",
              "batches of 32 (64 updates)": "k32", "Adam 3e-2": "lr3e-2"}


def meta_trained(out: Path, variant: str, seed: int) -> RecurrentReinforce:
    path = out / f"{FILE_NAMES[variant]}_s{seed}.pt"
    if path.exists():
        return RecurrentReinforce.load(path)
    episodes, overrides = VARIANTS[variant]
    overrides = dict(overrides)
    num_envs = overrides.pop("num_envs", NUM_ENVS)  # one update per batch of children
    config = with_entropy_decay(dataclasses.replace(reinforce_settings(), seed=seed, episodes_per_update=num_envs,
                                                    **overrides), episodes)
    venv = gym.make_vec(hpenv.ENV_ID, num_envs=num_envs, task=f"{SUITE}/train", **ENV)
    agent = RecurrentReinforce(venv, **dataclasses.asdict(config))
    t0 = time.perf_counter()
    agent.learn(episodes)
    print(f"{variant}, seed {seed}: meta-trained in {time.perf_counter() - t0:.0f} s", flush=True)
    agent.save(path)
    return agent


def text(c: dict) -> str:
    """A member-level comparison as one table cell."""
    return f"{difference_text(c)}, {c['wins']}/{c['ties']}/{c['losses']}, p {c['p']:.2g}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="folder of the cached agents and results")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated names of VARIANTS")
    parser.add_argument("--seeds", type=int, default=2, help="meta-training seeds per variant (0, 1, ...)")
    parser.add_argument("--eval-seeds", type=int, default=4, help="child seeds per selection member")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        parser.error(f"--variants: unknown {unknown}; known: {list(VARIANTS)}")
    args.out.mkdir(parents=True, exist_ok=True)
    members = hpenv.instance_set(SUITE, "selection")
    seeds = V2_SELECTION.seeds(args.eval_seeds, offset=100)
    space = gym.make(hpenv.ENV_ID, **ENV).unwrapped.hp_space
    static = space.encode(registered_references(SUITE)["best static tuple"][0])
    cache = args.out / f"static_{args.eval_seeds}.json"
    if not cache.exists():
        cache.write_text(json.dumps({m: [r.test_accuracy for r in static_episodes(
            np.repeat(static[None], len(seeds), 0), seeds, chunk=len(seeds), task=m, **ENV)[0]] for m in members}))
    ref = {m: np.array([acc]) for m, acc in json.loads(cache.read_text()).items()}
    matrices = {}
    for variant in variants:
        per_seed = []
        for seed in range(args.seeds):
            scores = args.out / f"{FILE_NAMES[variant]}_s{seed}.pt.sel{args.eval_seeds}.json"
            if not scores.exists():
                agent = meta_trained(args.out, variant, seed)
                scores.write_text(json.dumps({m: [r.test_accuracy for r in evaluate_policy(
                    agent, seeds, chunk=len(seeds), task=m, **ENV)] for m in members}))
            per_seed.append(json.loads(scores.read_text()))
        matrices[variant] = {m: np.array([s[m] for s in per_seed]) for m in members}
    print(f"\n{SUITE}: {len(members)} selection members x {len(seeds)} seeds, {args.seeds} meta-training seeds; "
          f"member-level differences in points [95% interval], members W/T/L, Wilcoxon p\n")
    print("| variant | mean test accuracy | vs best static tuple | training seeds | vs v1 |")
    print("|---|---:|---|---|---|")
    for variant, x in matrices.items():
        c = member_comparison(x, ref)
        seed_diffs = ", ".join(f"{100 * np.mean([x[m][i].mean() - ref[m].mean() for m in members]):+.2f}"
                               for i in range(args.seeds))
        vs_v1 = text(member_comparison(x, matrices["v1"])) if variant != "v1" and "v1" in matrices else ""
        print(f"| {variant} | {100 * c['method_mean']:.2f} | {text(c)} | {seed_diffs} | {vs_v1} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
