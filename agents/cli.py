"""The ``hptune`` command: train a meta-learner, evaluate a checkpoint, list tasks, run benchmarks.

    hptune train                          # RecurrentReinforce on digits, < 10 min on 2 CPU cores
    hptune train --agent ppo --task wine
    hptune train --resume runs/digits-reinforce-20261127-101500
    hptune eval --checkpoint runs/.../checkpoints/last.pt --task wine --episodes 5
    hptune tasks
    hptune bench --quick --out bench/
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

import hpenv
from agents.baselines import FixedPolicy, RandomPolicy
from agents.evaluation import HELD_OUT_SEED, REPORT_SEED, EpisodeResult, format_summary, run_episodes, summarize
from agents.sb3 import POLICY_NAMES, SB3Policy, sb3_class

SB3_AGENTS = tuple(POLICY_NAMES)
AGENTS = ("reinforce", *SB3_AGENTS, "random", "fixed")


@dataclass
class TrainConfig:
    """Everything that defines a ``hptune train`` run (written to ``config.json``)."""

    task: str = "digits"
    """Task name (``hptune tasks``); ``synthetic`` meta-trains across the synthetic family."""
    agent: str = "reinforce"
    """reinforce | ppo | a2c | recurrent-ppo | random | fixed."""
    episodes: int = 512
    """Training episodes (meta-training budget)."""
    num_envs: int = 8
    """Children trained in one batch by the native vector env."""
    horizon: int = 10
    """Env steps per episode."""
    steps_per_action: int = 50
    """Child SGD steps per env step."""
    seed: int = 0
    """Seed of the agent (and through it, of every training episode)."""
    eval_episodes: int = 5
    """Held-out seeds for the final comparison against the random policy and the fixed tuple."""
    device: str = "cpu"
    """Where children and agent run."""
    learning_rate: float = 1e-2
    """Adam learning rate of RecurrentReinforce (SB3 agents keep their library defaults)."""
    ent_coef: float = 0.05
    """Entropy bonus weight at the start (RecurrentReinforce decays it linearly to ent_coef_final)."""
    ent_coef_final: float = 0.005
    """Entropy bonus weight at the end of training (RecurrentReinforce)."""
    out: str = ""
    """Run folder (default runs/<task>-<agent>-<time>)."""

    def env_kwargs(self) -> dict[str, Any]:
        return {"task": self.task, "horizon": self.horizon, "steps_per_action": self.steps_per_action,
                "device": self.device}


# ---------------------------------------------------------------------- run folder
class RunFolder:
    """config.json, metrics.csv (+ TensorBoard when installed), checkpoints/, plots, summary."""

    def __init__(self, path: Path):
        self.path = path
        self.ckpt_dir = path / "checkpoints"
        self.ckpt_dir.mkdir(parents=True, exist_ok=True)
        self._tb = None
        try:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(path / "tensorboard"))
        except ImportError:  # tensorboard is an optional extra
            pass

    def write_json(self, name: str, data: dict) -> None:
        tmp = self.path / f".{name}.tmp"
        tmp.write_text(json.dumps(data, indent=2, default=str))
        os.replace(tmp, self.path / name)

    def write_metrics(self, history: list[dict]) -> None:
        """Rewrite metrics.csv from the whole history (kept in the checkpoint, so resume stays consistent)."""
        if not history:
            return
        keys = sorted({k for row in history for k in row})
        tmp = self.path / ".metrics.csv.tmp"
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=keys)
            writer.writeheader()
            writer.writerows(history)
        os.replace(tmp, self.path / "metrics.csv")
        if self._tb is not None:
            row = history[-1]
            for k, v in row.items():
                if isinstance(v, (int, float)):
                    self._tb.add_scalar(k, v, int(row.get("time/episodes", len(history))))
            self._tb.flush()


# ---------------------------------------------------------------------- agents
def _train_reinforce(cfg: TrainConfig, run: RunFolder, resume: bool, progress: bool):
    from agents.reinforce import RecurrentReinforce

    venv = gym.make_vec(hpenv.ENV_ID, num_envs=cfg.num_envs, **cfg.env_kwargs())
    ckpt = run.ckpt_dir / "last.pt"
    if resume and ckpt.exists():
        agent = RecurrentReinforce.load(ckpt, env=venv)
        print(f"resumed from {ckpt} at episode {agent.num_episodes}")
    else:
        per_update = max(cfg.num_envs, 8)
        agent = RecurrentReinforce(venv, seed=cfg.seed, learning_rate=cfg.learning_rate, device=cfg.device,
                                   ent_coef=cfg.ent_coef, ent_coef_final=cfg.ent_coef_final,
                                   ent_decay_updates=max(cfg.episodes // per_update, 1),
                                   episodes_per_update=per_update)

    def on_update(agent, metrics):
        agent.save(ckpt)  # atomic: a kill leaves the previous or the new checkpoint, never half of one
        run.write_metrics(agent.history)

    remaining = cfg.episodes - agent.num_episodes
    if remaining > 0:
        agent.learn(remaining, progress_bar=progress, callback=on_update)
    run.write_metrics(agent.history)
    return agent, ckpt


def _train_sb3(cfg: TrainConfig, run: RunFolder, resume: bool, progress: bool):
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.vec_env import VecMonitor

    from hpenv.wrappers import SB3VecEnv

    cls = sb3_class(cfg.agent)
    venv = VecMonitor(SB3VecEnv(num_envs=cfg.num_envs, **cfg.env_kwargs()))
    ckpt = run.ckpt_dir / "last.zip"
    history_file = run.path / ".history.json"
    history: list[dict] = json.loads(history_file.read_text()) if resume and history_file.exists() else []
    if resume and ckpt.exists():
        model = cls.load(ckpt, env=venv, device=cfg.device)
        print(f"resumed from {ckpt} at step {model.num_timesteps}")
    else:
        # the library's own learning rate and entropy defaults: ours are tuned for RecurrentReinforce
        kwargs = dict(n_steps=cfg.horizon, seed=cfg.seed, device=cfg.device, verbose=0)
        if cfg.agent != "a2c":
            kwargs["batch_size"] = cfg.horizon * cfg.num_envs
        model = cls(POLICY_NAMES[cfg.agent], venv, **kwargs)

    class Checkpoint(BaseCallback):
        def _on_rollout_end(self) -> None:
            buf = list(self.model.ep_info_buffer)
            history.append({"time/episodes": self.model.num_timesteps // cfg.horizon,
                            "time/timesteps": self.model.num_timesteps,
                            "rollout/ep_return_mean": float(np.mean([e["r"] for e in buf])) if buf else float("nan")})
            tmp = run.ckpt_dir / ".last.tmp.zip"
            self.model.save(tmp)
            os.replace(tmp, ckpt)
            history_file.write_text(json.dumps(history))
            run.write_metrics(history)

        def _on_step(self) -> bool:
            return True

    remaining = cfg.episodes * cfg.horizon - model.num_timesteps
    if remaining > 0:
        model.learn(remaining, callback=Checkpoint(), progress_bar=progress and _has_rich(),
                    reset_num_timesteps=not resume)
    return SB3Policy(model), ckpt


def _has_rich() -> bool:
    try:
        import rich  # noqa: F401
        import tqdm  # noqa: F401
    except ImportError:
        return False
    return True


# ---------------------------------------------------------------------- evaluation and plots
def compare(policies: dict[str, Any], env_kwargs: dict, episodes: int) -> dict[str, list[EpisodeResult]]:
    """Each policy on the same held-out seeds (same children, same batches).

    The seeds are ``REPORT_SEED + i``, never the benchmark's evaluation seeds, and a benchmark
    suite's test member is refused: ``hptune train`` reports on selection members or seeds only.
    """
    from hpenv.instances import is_member_id, member_factors

    task = env_kwargs.get("task")
    if isinstance(task, str) and is_member_id(task) and member_factors(task)["split"] == "test":
        raise ValueError(f"task {task!r} is a test member of a benchmark suite, reported only by `hptune bench`; "
                         f"train and report on its train or selection members (hpenv.instance_set(name, split))")
    env = gym.make(hpenv.ENV_ID, **env_kwargs)
    seeds = [REPORT_SEED + i for i in range(episodes)]
    return {name: run_episodes(env, policy, seeds) for name, policy in policies.items()}


def summary_table(results: dict[str, list[EpisodeResult]]) -> str:
    lines = ["| policy | test accuracy, mean [95% CI] | return, mean [95% CI] | diverged | SGD steps |",
             "|---|---|---|---|---|"]
    for name, res in results.items():
        acc = summarize([r.test_accuracy for r in res])
        ret = summarize([r.episode_return for r in res])
        lines.append(f"| {name} | {format_summary(acc)} | {format_summary(ret)} | "
                     f"{sum(r.diverged for r in res)}/{len(res)} | {res[0].sgd_steps if res else 0} |")
    return "\n".join(lines)


def schedule_text(result: EpisodeResult, names) -> str:
    return "\n".join(
        f"  t={t + 1:2d} " + " ".join(f"{n}={s[n]:g}" for n in names) + f"  val_acc={s['val_accuracy']:.4f}"
        for t, s in enumerate(result.schedule)
    )


def plot_run(run: RunFolder, history: list[dict], result: EpisodeResult | None, names) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if history:
        x = [h.get("time/episodes", i) for i, h in enumerate(history)]
        y = [h.get("rollout/ep_return_mean", np.nan) for h in history]
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.plot(x, y, marker=".")
        ax.set_xlabel("training episodes")
        ax.set_ylabel("mean episode return\n(final - initial val acc)")
        ax.set_title("learning curve")
        fig.tight_layout()
        fig.savefig(run.path / "learning_curve.png", dpi=100)
        plt.close(fig)
    if result is not None:
        fig, axes = plt.subplots(len(names) + 1, 1, figsize=(6, 1.5 * (len(names) + 1)), sharex=True)
        t = np.arange(1, len(result.schedule) + 1)
        axes[0].plot(t, [s["val_accuracy"] for s in result.schedule], marker="o")
        axes[0].set_ylabel("val acc")
        for ax, n in zip(axes[1:], names):
            ax.step(t, [s[n] for s in result.schedule], where="mid")
            ax.set_ylabel(n, fontsize=8)
            if n == "learning_rate":
                ax.set_yscale("log")
        axes[-1].set_xlabel("env step")
        axes[0].set_title("hyper-parameters chosen by the greedy policy (held-out seed)")
        fig.tight_layout()
        fig.savefig(run.path / "schedule.png", dpi=100)
        plt.close(fig)


# ---------------------------------------------------------------------- commands
def cmd_train(args: argparse.Namespace) -> int:
    if args.resume:
        path = Path(args.resume)
        if not (path / "config.json").exists():
            raise SystemExit(f"error: --resume {path}: no config.json there; is it a run folder of hptune train?")
        cfg = TrainConfig(**json.loads((path / "config.json").read_text()))
    else:
        cfg = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)})
        if cfg.agent not in AGENTS:
            raise SystemExit(f"error: --agent must be one of {AGENTS}, got {cfg.agent!r}")
        cfg.out = cfg.out or f"runs/{cfg.task}-{cfg.agent}-{time.strftime('%Y%m%d-%H%M%S')}"
        path = Path(cfg.out)
    run = RunFolder(path)
    run.write_json("config.json", asdict(cfg))
    print(f"run folder: {path}")
    t0 = time.perf_counter()
    env = gym.make(hpenv.ENV_ID, **cfg.env_kwargs())
    names = env.unwrapped.hp_space.names
    policies: dict[str, Any] = {}
    history: list[dict] = []
    if cfg.agent == "reinforce":
        agent, _ = _train_reinforce(cfg, run, bool(args.resume), not args.no_progress)
        policies["RecurrentReinforce (greedy)"] = agent
        history = agent.history
    elif cfg.agent in SB3_AGENTS:
        policy, _ = _train_sb3(cfg, run, bool(args.resume), not args.no_progress)
        policies[f"{cfg.agent} (greedy)"] = policy
        history_file = run.path / ".history.json"
        history = json.loads(history_file.read_text()) if history_file.exists() else []
    train_time = time.perf_counter() - t0
    policies["random"] = RandomPolicy(env, seed=cfg.seed)
    policies["fixed default"] = FixedPolicy(env)
    if cfg.agent in ("random", "fixed"):  # nothing to train: these are the baselines themselves
        policies = {k: v for k, v in policies.items() if k.startswith(cfg.agent)}
    results = compare(policies, cfg.env_kwargs(), cfg.eval_episodes)
    first = next(iter(results))
    plot_run(run, history, results[first][0], names)
    table = summary_table(results)
    summary = {
        "config": asdict(cfg), "train_wall_time_s": train_time,
        "train_sgd_steps": cfg.episodes * cfg.horizon * cfg.steps_per_action if cfg.agent in ("reinforce", *SB3_AGENTS) else 0,
        "eval_seeds": [REPORT_SEED + i for i in range(cfg.eval_episodes)],
        "results": {k: [asdict(r) for r in v] for k, v in results.items()},
    }
    run.write_json("summary.json", summary)
    (run.path / "summary.md").write_text(table + "\n")
    print(f"\ntest accuracy on {cfg.eval_episodes} held-out seeds ({cfg.task}, horizon {cfg.horizon}, "
          f"{cfg.steps_per_action} SGD steps/step), training took {train_time:.0f} s:")
    print(table)
    print(f"\nschedule chosen by {first} on seed {REPORT_SEED}:")
    print(schedule_text(results[first][0], names))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from agents.reinforce import RecurrentReinforce

    ckpt = Path(args.checkpoint)
    run_cfg = ckpt.parent.parent / "config.json"
    cfg = TrainConfig(**json.loads(run_cfg.read_text())) if run_cfg.exists() else TrainConfig()
    env_kwargs = {**cfg.env_kwargs(), **{k: v for k, v in (("task", args.task), ("horizon", args.horizon),
                                                            ("steps_per_action", args.steps_per_action)) if v}}
    env = gym.make(hpenv.ENV_ID, **env_kwargs)
    if ckpt.suffix == ".zip":
        policy = SB3Policy(sb3_class(cfg.agent if cfg.agent in SB3_AGENTS else "ppo").load(ckpt, device=cfg.device))
    else:
        policy = RecurrentReinforce.load(ckpt)
    seeds = [args.seed + i for i in range(args.episodes)]
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
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from agents.bench import main as bench_main

    return bench_main(args)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hptune", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (default 1: small children run fastest on one thread, and extra "
                        "OpenMP threads slow them down badly on a busy machine; raise it for CNN tasks)")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="meta-train an agent and compare it with baselines on held-out seeds")
    for f in fields(TrainConfig):
        t.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default), default=f.default,
                       help=(f.metadata.get("help") or _field_doc(f.name)) + f" (default: {f.default!r})")
    t.add_argument("--resume", metavar="RUN_DIR", help="continue a run folder from its last checkpoint")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("eval", help="evaluate a checkpoint on held-out episodes")
    e.add_argument("--checkpoint", required=True, help="a checkpoints/last.pt (or last.zip) of a run")
    e.add_argument("--task", help="task to evaluate on (default: the run's)")
    e.add_argument("--episodes", type=int, default=5)
    e.add_argument("--horizon", type=int)
    e.add_argument("--steps-per-action", type=int)
    e.add_argument("--seed", type=int, default=HELD_OUT_SEED, help="first evaluation seed")
    e.add_argument("--stochastic", action="store_true", help="sample actions instead of greedy")
    e.set_defaults(func=cmd_eval)

    sub.add_parser("tasks", help="list the built-in tasks").set_defaults(func=cmd_tasks)

    b = sub.add_parser("bench", help="the v1 benchmark: instance sets, headroom gate, paired statistics")
    b.add_argument("--out", required=True, help="run folder (results.csv, paired.csv, headroom.csv, results.md, "
                                                "plot); the same folder again resumes a killed run")
    b.add_argument("--quick", action="store_true", help="reduced protocol (one suite, 20 pairs), under 10 minutes")
    b.add_argument("--suite", help="comma-separated instance sets (hpenv.instance_sets()); default: the preset's")
    b.add_argument("--agent", action="append", default=[], metavar="MODULE:NAME",
                   help="also benchmark your policy (a class taking env, or an object/callable) or Method")
    b.add_argument("--seeds", type=int, help="evaluation seeds per test member")
    b.add_argument("--methods", type=lambda text: [t.strip() for t in text.split(",") if t.strip()],
                   help="comma-separated methods (names of agents.bench.METHODS or module:Name)")
    b.add_argument("--no-progress", action="store_true", help="no progress bar")
    b.set_defaults(func=cmd_bench)
    return p


_FIELD_DOCS: dict[str, str] = {}


def _field_doc(name: str) -> str:
    """The docstring under a TrainConfig field (read once from the source)."""
    if not _FIELD_DOCS:
        import ast
        import inspect

        body = ast.parse(inspect.getsource(TrainConfig)).body[0].body
        for node, nxt in zip(body, body[1:]):
            if isinstance(node, ast.AnnAssign) and isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant):
                _FIELD_DOCS[node.target.id] = str(nxt.value.value)
    return _FIELD_DOCS.get(name, "")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, ImportError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
