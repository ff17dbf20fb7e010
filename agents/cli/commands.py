"""The subcommands of ``hptune``: ``train``, ``eval``, ``tasks`` and ``bench``, each a function of its parsed
arguments."""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import math
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import gymnasium as gym

import hpenv
from agents.baselines import FixedPolicy, RandomPolicy
from agents.checkpoint import atomic_write, load_checkpoint
from agents.cli.compare import final_comparison, members_by_factor
from agents.cli.config import RESUME_OPTIONS, TrainConfig, train_options
from agents.cli.run_folder import RunFolder
from agents.cli.summary import (analysis_text, first_name, paired_text, plot_around_change, plot_run, response_text,
                                schedule_text, summary_table)
from agents.cli.trainers import ZIP_REFUSED
from agents.evaluation import format_summary, run_episodes, summarize
from agents.options import TRAINERS, option_name
from agents.sb3 import SB3_CHECKPOINT, SB3Policy, load_sb3, sb3_policy
from hpenv.extras import require_all

__all__ = ["train_config", "cmd_train", "cmd_eval", "cmd_tasks", "cmd_bench"]


def train_config(args: argparse.Namespace) -> tuple[TrainConfig, Path]:
    """The run's validated config and folder; nothing is written."""
    given = {name: getattr(args, name) for name in train_options() if getattr(args, name) is not None}
    if args.resume:
        path = Path(args.resume)
        if not (path / "config.json").is_file():
            raise ValueError(f"--resume {path}: no config.json there; is it a run folder of hptune train?")
        fixed = [option_name(name) for name in given if name not in RESUME_OPTIONS]
        if fixed:
            raise ValueError(f"--resume continues a run with the options in its config.json; only "
                             f"{', '.join(map(option_name, RESUME_OPTIONS))} may change, got {', '.join(fixed)}")
        # a larger --episodes trains on up to the new total; the run's config.json records it
        saved = TrainConfig.from_json(path / "config.json")
        return dataclasses.replace(saved, **given), path
    cfg = TrainConfig.from_options(**given)
    cfg.out = cfg.out or f"runs/{cfg.task.replace('/', '_')}-{cfg.agent}-{time.strftime('%Y%m%d-%H%M%S')}"
    path = Path(cfg.out)
    if path.exists() and not path.is_dir():
        raise ValueError(f"--out {path} is a file; give a folder for the run")
    if path.is_dir() and any(path.iterdir()):
        raise ValueError(f"--out {path} already holds files; give a new or empty folder, or continue that run "
                         f"with --resume {path}")
    return cfg, path


def cmd_train(args: argparse.Namespace) -> int:
    cfg, path = train_config(args)
    # Everything that can fail on bad input (the task, its data, a missing extra, the checkpoint)
    # runs before the run folder is created or touched.
    env = gym.make(hpenv.ENV_ID, **cfg.env_kwargs())
    # the baselines the trained policy is compared with; a suite's references are chosen constants instead
    # of the random one
    baselines: dict[str, Any] = {}
    if cfg.agent == "random" or not cfg.is_suite:
        baselines["random"] = RandomPolicy(env, seed=cfg.seed)
    baselines["fixed default"] = FixedPolicy(env)
    if cfg.agent in ("random", "fixed"):  # nothing to train: the run is that baseline
        baselines = {k: v for k, v in baselines.items() if k.startswith(cfg.agent)}
    require_all(cfg.extras)
    names = env.unwrapped.hp_space.names
    make_trainer = TRAINERS[cfg.agent].trainer
    checkpoint = path / "checkpoints" / "last.pt"
    trainer = make_trainer(cfg, checkpoint, bool(args.resume), env) if make_trainer else None
    if trainer is not None and trainer.episodes_done > cfg.episodes:
        raise ValueError(f"--episodes {cfg.episodes} is below the {trainer.episodes_done} episodes the run has "
                         f"trained already; give a total of at least {trainer.episodes_done}")
    run = RunFolder(path)
    run.write_json("config.json", asdict(cfg))
    print(f"run folder: {path}")
    t0 = time.perf_counter()
    policies: dict[str, Any] = {}
    history: list[dict] = []
    if trainer is not None:
        policy, history = trainer.learn(run, not args.no_progress)
        policies[f"{trainer.label} (greedy)"] = policy
    train_time = time.perf_counter() - t0
    policies.update(baselines)
    comparison = final_comparison(policies, cfg, run.path, checkpoint if checkpoint.exists() else None)
    results, where = comparison.results, comparison.where
    table = summary_table(results)
    if comparison.analysis:
        table += "\n\n" + analysis_text(comparison.analysis, comparison.described,
                                        cfg.seed if trainer is not None else None)
    elif comparison.references:
        table += "\n\n" + paired_text(results, comparison.references, comparison.members)
    first = first_name(results)
    shown = members_by_factor(results[first], comparison.members) if comparison.members else None
    plot_run(run, history, shown or results[first][0], names, results, env.unwrapped.hp_space)
    if results[first][0].change_step is not None:  # a stream: does the controller time anything by the change?
        table += "\n\n" + response_text(results, names)
        title = f"mean hyper-parameters around the data's change ({cfg.task}, {len(results[first])} children each)"
        plot_around_change(run.path / "around_change.png", results, names, title)
    summary = {
        "config": asdict(cfg), "train_wall_time_s": train_time,
        "train_sgd_steps": cfg.episodes * cfg.horizon * cfg.steps_per_action if trainer is not None else 0,
        "compared_on": where, "primary_analysis": comparison.analysis,
        "results": {k: [asdict(r) for r in v] for k, v in results.items()},
    }
    run.write_json("summary.json", summary)
    atomic_write(run.path / "summary.md", table + "\n")
    print(f"\ntest accuracy on {where}, horizon {cfg.horizon} x {cfg.steps_per_action} SGD steps; "
          f"training took {train_time:.0f} s:")
    print(table)
    for label, child in (shown or {f"its first child (seed {results[first][0].seed})": results[first][0]}).items():
        print(f"\nschedule chosen by {first} on {label}:")
        print(schedule_text(child, names))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from agents.reinforce import RecurrentReinforce

    ckpt = Path(args.checkpoint)
    if ckpt.suffix == ".zip":
        raise ValueError("--checkpoint " + ZIP_REFUSED.format(ckpt))
    if ckpt.suffix != ".pt":
        raise ValueError(f"--checkpoint {ckpt}: expected a .pt checkpoint written by hptune train "
                         f"(RUN/checkpoints/last.pt)")
    run_cfg = ckpt.parent.parent / "config.json"
    cfg = TrainConfig.from_json(run_cfg) if run_cfg.exists() else TrainConfig()
    overrides = {name: getattr(args, name) for name in ("task", "horizon", "steps_per_action", "data_root")
                 if getattr(args, name) is not None}
    cfg = dataclasses.replace(cfg, **overrides)
    # a suite's run trained on its train members: evaluate on its selection members (v3: its dev members, each
    # with its own env arguments, one per seed in turn)
    env_kwargs = {**cfg.env_kwargs(f"{cfg.task}/{'dev' if cfg.is_v3 else 'selection'}" if cfg.is_suite else None),
                  **cfg.action_kwargs()}  # the agent's own envs: the dimensions it moves
    env = gym.make(hpenv.ENV_ID, **env_kwargs)
    if load_checkpoint(ckpt).get("agent") == SB3_CHECKPOINT:
        policy = SB3Policy(sb3_policy(load_sb3(ckpt, env), env, ckpt, cfg.device))
    else:
        policy = RecurrentReinforce.load(ckpt, env=env)  # refuses another space, shape or hyper-parameters
    seeds = [args.seed + i for i in range(args.episodes)]
    if cfg.is_v3:
        members = hpenv.instance_set(cfg.task, "dev")
        results = [run_episodes(gym.make(hpenv.ENV_ID, **cfg.member_env_kwargs(m), **cfg.action_kwargs(), task=m),
                                policy, [seed],
                                deterministic=not args.stochastic)[0]
                   for seed, m in zip(seeds, itertools.cycle(members))]
    else:
        results = run_episodes(env, policy, seeds, deterministic=not args.stochastic)
    names = env.unwrapped.hp_space.names
    for r in results:
        print(f"seed {r.seed}: test_accuracy={r.test_accuracy:.4f} return={r.episode_return:+.4f} "
              f"diverged={r.diverged}")
        print(schedule_text(r, names))
    s = summarize([r.test_accuracy for r in results])
    print(f"test accuracy over {len(results)} episodes on {env_kwargs['task']}: {format_summary(s)}")
    return 0


def cmd_tasks(args: argparse.Namespace) -> int:
    for name, desc in hpenv.list_tasks().items():
        print(f"{name:<15} {desc}")
    print("\nbenchmark suites (--task NAME meta-trains on NAME/train; members NAME/i, splits NAME/train, NAME/selection):")
    for name in hpenv.instance_sets():
        print(f"  {name:<25} {hpenv.suite(name).description}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    if args.verify:
        from agents.bench.preregistration import REGISTERED_PROTOCOL
        from agents.bench.v3.verify import is_v3_folder, verify_v3
        from agents.bench.verify import report, verify_command

        if args.replays < 0 or not math.isfinite(args.tolerance) or args.tolerance < 0:
            raise ValueError(f"--replays must be an integer >= 0 and --tolerance a number >= 0, got "
                             f"{args.replays} and {args.tolerance}")
        if is_v3_folder(args.verify):
            return report(verify_v3(args.verify, args.protocol, replays=args.replays, tolerance=args.tolerance),
                          args.verify)
        return verify_command(args.verify, args.protocol or REGISTERED_PROTOCOL, replays=args.replays,
                              tolerance=args.tolerance)
    if args.v2 and args.v3:
        raise ValueError("--v2 and --v3 run different benchmarks; give one")
    if args.v2:
        from agents.bench.v2 import main_v2

        return main_v2(args)
    if args.v3:
        from agents.bench.v3.runner import main_v3

        return main_v3(args)
    from agents.bench.v1 import main as bench_main

    return bench_main(args)
