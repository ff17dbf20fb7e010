"""The ``hptune`` command: train a meta-learner, evaluate a checkpoint, list tasks, run benchmarks.

    hptune train                          # RecurrentReinforce meta-trained on v1/digits-scaled, < 5 min
    hptune train --task digits            # on one task (compared with the fixed default on held-out seeds)
    hptune train --agent ppo --task wine
    hptune train --resume runs/digits-reinforce-20261127-101500 [--episodes 1024]
    hptune train --task mnist --data-root ~/data
    hptune train --runners 2              # episodes played by 2 Ray actors (pip install "hpenv[ray]")
    hptune eval --checkpoint runs/.../checkpoints/last.pt --task wine --episodes 5
    hptune tasks
    hptune bench --quick --out bench/
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

import hpenv
from agents.baselines import FixedPolicy, RandomPolicy
from agents.checkpoint import atomic_write, hp_space_of, load_checkpoint, remove_stale_temporaries
from agents.engine import EpisodeRecord
from agents.evaluation import HELD_OUT_SEED, format_summary, run_episodes, summarize
from agents.options import (TRAINERS, SB3Settings, agent_options, check_reinforce, checked_kind,
                            derive_reinforce, option_name, register_agent, reinforce_settings)
from agents.reinforce import RecurrentReinforceConfig
from agents.seeds import REPORT
from agents.sb3 import (POLICY_NAMES, SB3_CHECKPOINT, SB3Policy, load_sb3, restore_sb3, save_sb3, sb3_model,
                        sb3_policy, train_sb3)
from hpenv.extras import installed, require_all

SB3_AGENTS = tuple(POLICY_NAMES)
#: The names ``--agent`` takes (a live view of :data:`agents.options.TRAINERS`: a registered agent joins it).
AGENTS = TRAINERS.keys()


def _doc(text: str) -> dict:
    return {"help": text}


@dataclass
class TrainConfig:
    """Everything that defines a ``hptune train`` run (written to ``config.json``).

    The options shared by every agent are fields here; the chosen agent's own settings are one
    dataclass in ``settings`` (:class:`~agents.reinforce.RecurrentReinforceConfig` for reinforce),
    given as that dataclass, a dict of its fields, or None (the agent's defaults).
    :meth:`from_options` takes the command line's flat option names. Every value is checked on
    construction; a bad one raises a ValueError naming its option, the value and what is allowed.
    """

    task: str = field(default="v2/mlp-short", metadata=_doc(
        "A benchmark suite (``hpenv.instance_sets()``): meta-train on its train members, then compare "
        "on its selection members with the best static tuple and the best fixed schedule chosen there (v2: "
        "chosen by the registered benchmark run, compared at member level). "
        "Or a task name (``hptune tasks``; ``synthetic`` meta-trains across the synthetic family): train "
        "on it, then compare on held-out seeds with a random policy and the fixed default tuple."))
    agent: str = field(default="reinforce", metadata=_doc("The agent: a name of AGENTS."))
    episodes: int = field(default=2048, metadata=_doc("Training episodes (meta-training budget)."))
    num_envs: int = field(default=64, metadata=_doc(
        "Children trained in one batch by the native vector env (RecurrentReinforce: one update)."))
    horizon: int = field(default=0, metadata=_doc("Env steps per episode (0: the suite's own, or 10 for a task)."))
    steps_per_action: int = field(default=0, metadata=_doc(
        "Child SGD steps per env step (0: the suite's own, or 50 for a task)."))
    seed: int = field(default=0, metadata=_doc("Seed of the agent (and through it, of every training episode)."))
    eval_episodes: int = field(default=0, metadata=_doc(
        "Seeds of the final comparison (0: 2 per selection member of a suite, 5 held-out seeds of a task)."))
    device: str = field(default="cpu", metadata=_doc("Where children and agent run."))
    data_root: str = field(default="", metadata=_doc(
        "Folder holding the data of the tasks read from disk (mnist, fashion_mnist, cifar10)."))
    out: str = field(default="", metadata=_doc(
        "Run folder (default runs/<task>-<agent>-<time>); must not exist yet or be empty."))
    runners: int = field(default=-1, metadata=_doc(
        "Ray runners playing the episodes (reinforce only; 0: in this process; -1: one per CPU core when the ray "
        "extra is installed and the run has at least 256 episodes, else 0). Any number >= 1 gives the same run."))
    runner_envs: int = field(default=0, metadata=_doc(
        "Children of each Ray runner's vector env, the size of each chunk of an update (0: at most 32 whole "
        "groups that divide --num-envs, whatever --runners is: the chunks make the run, so the same seed gives "
        "the same run on any number of runners; fixed when the run starts)."))
    ray_address: str = field(default="", metadata=_doc("Ray cluster to join with --runners (default: start a local one)."))
    cpus_per_runner: float = field(default=1.0, metadata=_doc(
        "CPU share of each Ray runner (its torch threads: the whole part, at least 1)."))
    gpus_per_runner: float = field(default=0.0, metadata=_doc(
        "GPU share of each Ray runner; its children then train on its cuda device."))
    settings: Any = None
    """The chosen agent's settings (its registered dataclass; None for an agent without settings)."""

    def __post_init__(self) -> None:
        from hpenv.instances import split_of_task

        for f in _shared_fields():
            setattr(self, f.name, checked_kind(f.name, getattr(self, f.name), f.default))
        if self.agent not in AGENTS:
            raise ValueError(f"--agent must be one of {', '.join(AGENTS)}, got {self.agent!r}")
        if split_of_task(self.task) == "test":
            raise ValueError(f"--task {self.task!r} holds test members of a benchmark suite, reported only by "
                             f"`hptune bench`; train on the suite (--task "
                             f"{self.task.rpartition('/')[0]}) or on its train or selection members")
        for name in ("horizon", "steps_per_action", "eval_episodes"):  # 0: the task's own
            if getattr(self, name) < 0:
                raise ValueError(f"{_option(name)} must be an integer >= 1 (or 0: the default), got {getattr(self, name)}")
        suite = hpenv.suite(self.task) if self.is_suite else None
        self.horizon = self.horizon or (suite.horizon if suite else 10)
        self.steps_per_action = self.steps_per_action or (suite.steps_per_action if suite else 50)
        self.eval_episodes = self.eval_episodes or ((4 if self.is_v2 else 2) if suite else 5)
        for name in ("episodes", "num_envs"):
            if getattr(self, name) < 1:
                raise ValueError(f"{_option(name)} must be an integer >= 1, got {getattr(self, name)}")
        if self.seed < 0:
            raise ValueError(f"--seed must be an integer >= 0, got {self.seed}")
        if self.runners == AUTO_RUNNERS:
            self.runners = auto_runners(self.agent, self.episodes)
        if self.runners < 0 or (self.runners and self.agent != "reinforce"):
            raise ValueError(f"--runners must be 0, -1 (automatic), or an integer >= 1 with --agent reinforce, got "
                             f"{self.runners} with --agent {self.agent}")
        if self.runner_envs < 0:
            raise ValueError(f"--runner-envs must be an integer >= 1 (or 0: chunks of at most {RUNNER_ENVS}), got "
                             f"{self.runner_envs}")
        if not (math.isfinite(self.cpus_per_runner) and self.cpus_per_runner > 0):
            raise ValueError(f"--cpus-per-runner must be a number > 0, got {self.cpus_per_runner}")
        if not (math.isfinite(self.gpus_per_runner) and self.gpus_per_runner >= 0):
            raise ValueError(f"--gpus-per-runner must be a number >= 0, got {self.gpus_per_runner}")
        self.settings = self._agent_settings()
        if self.runners and not self.runner_envs:
            self.runner_envs = default_runner_envs(self.num_envs, getattr(self.settings, "group_size", 1))

    def _agent_settings(self) -> Any:
        spec = TRAINERS[self.agent]
        if spec.settings is None:
            if self.settings:
                raise ValueError(f"--agent {self.agent} takes no settings, got {self.settings!r}")
            return None
        given = self.settings
        if dataclasses.is_dataclass(given) and not isinstance(given, type):
            given = asdict(given)
        if not isinstance(given, (dict, type(None))):
            raise ValueError(f"settings of --agent {self.agent} must be a {spec.settings.__name__} or a dict, "
                             f"got {type(given).__name__}")
        return spec.build(self, given or {})

    @classmethod
    def from_options(cls, **options: Any) -> "TrainConfig":
        """A config from flat option names (``group_size=2``, as on the command line); the options of
        agents other than the chosen one are ignored, as the command line ignores them."""
        shared = {f.name for f in _shared_fields()}
        unknown = sorted(set(options) - shared - set(agent_options()))
        if unknown:
            raise ValueError(f"unknown hptune train options {unknown}")
        agent = options.get("agent", cls.agent)
        own = TRAINERS[agent].option_help() if agent in TRAINERS else {}
        return cls(**{k: v for k, v in options.items() if k in shared},
                   settings={k: v for k, v in options.items() if k in own})

    def options(self) -> dict[str, Any]:
        """The flat option names and values of this config (the inverse of :meth:`from_options`)."""
        values = {f.name: getattr(self, f.name) for f in _shared_fields()}
        own = TRAINERS[self.agent].option_help()
        values.update({name: getattr(self.settings, name) for name in own})
        return values

    @classmethod
    def from_json(cls, path: Path) -> "TrainConfig":
        """The config a run folder's ``config.json`` holds; a ValueError naming the file if it is not one.

        Reads both layouts: the agent's settings nested under ``settings`` (this version), or
        flat option names beside the shared ones (runs written before settings were nested).
        """
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ValueError(f"{path} is not a readable config.json ({err})") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path} must hold a JSON object of hptune train options, got {type(data).__name__}")
        # runs from before --runner-envs played chunks of --num-envs children on every runner
        data.setdefault("runner_envs", data.get("num_envs", cls.num_envs))
        try:
            if "settings" in data:
                names = [f.name for f in fields(cls)]
                unknown = sorted(set(data) - set(names))
                if unknown:
                    raise ValueError(f"unknown keys {unknown}; a run's config.json holds only {names}")
                return cls(**data)
            # runs from before grouped episodes trained without them: resume them as they were
            if data.get("agent", cls.agent) == "reinforce":
                data.setdefault("group_size", 1)
                data.setdefault("baseline", "moving_average")
            return cls.from_options(**data)
        except ValueError as err:
            raise ValueError(f"{path}: {err}") from None

    @property
    def extras(self) -> list[tuple[str, str]]:
        """``(option, optional extra)`` of every extra this run imports (checked before any work)."""
        needs = [(f"--agent {self.agent}", "contrib")] if self.agent == "recurrent-ppo" else []
        if self.runners:
            needs.append((f"--runners {self.runners}", "ray"))
        return needs

    @property
    def is_suite(self) -> bool:
        """Whether ``task`` names a benchmark suite (then the agent trains on its train members)."""
        return self.task in hpenv.instance_sets()

    @property
    def is_v2(self) -> bool:
        """Whether ``task`` names a benchmark v2 suite (compared with the references its registered run chose)."""
        return self.is_suite and self.task.startswith("v2/")

    def env_kwargs(self) -> dict[str, Any]:
        """The training env's arguments (a suite's train members as one task family)."""
        task = f"{self.task}/train" if self.is_suite else self.task
        kwargs = {"task": task, "horizon": self.horizon, "steps_per_action": self.steps_per_action,
                  "device": self.device}
        if self.data_root:
            kwargs["task_kwargs"] = {"root": self.data_root}
        return kwargs


#: ``--runners`` default: decided by :func:`auto_runners`.
AUTO_RUNNERS = -1
#: The fewest episodes for which :func:`auto_runners` starts Ray (a local cluster takes seconds to start).
AUTO_RUNNERS_MIN_EPISODES = 256


def auto_runners(agent: str, episodes: int) -> int:
    """``--runners -1``: one runner per CPU core for RecurrentReinforce when the ray extra is installed and
    the run is long enough to pay for starting Ray; else 0 (in this process)."""
    if agent != "reinforce" or episodes < AUTO_RUNNERS_MIN_EPISODES or not installed("ray"):
        return 0
    return os.cpu_count() or 1


#: The most children in one chunk of an update on Ray runners when ``--runner-envs`` is not given. The
#: chunks, not the runners, decide what an update plays (:mod:`agents.distributed`), so the default
#: must not follow ``--runners``: then the same seed gives the same run on any number of runners, and
#: on machines with another core count. 32 is what the main job (64 children per update) played on
#: the two runners of a 2-core machine before this default was fixed, so that run is unchanged.
RUNNER_ENVS = 32


def default_runner_envs(num_envs: int, group_size: int = 1) -> int:
    """``--runner-envs 0``: the largest chunk of at most :data:`RUNNER_ENVS` children that holds whole
    groups and divides ``num_envs`` (so an update is whole chunks); ``group_size`` when a group alone is larger.

    Depends on neither the runner count nor the machine."""
    fits = [k for k in range(group_size, min(num_envs, RUNNER_ENVS) + 1, group_size) if num_envs % k == 0]
    return max(fits, default=group_size)


def _shared_fields() -> list[dataclasses.Field]:
    """The TrainConfig fields every agent shares (its options; the agent's own are in ``settings``)."""
    return [f for f in fields(TrainConfig) if "help" in f.metadata]


#: What ``--resume`` lets the command line change; everything else comes from the run's config.json.
#: Where the Ray runners run may change too: any number of runners gives the same run (not 0, though:
#: in process is another run).
RESUME_OPTIONS = ("episodes", "eval_episodes", "runners", "ray_address", "cpus_per_runner", "gpus_per_runner")
_option = option_name


def _positive_int(text: str) -> int:
    """argparse type of the options that count something."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}")
    return value


# ---------------------------------------------------------------------- run folder
class RunFolder:
    """config.json, metrics.csv (+ TensorBoard when installed), checkpoints/, plots, summary."""

    def __init__(self, path: Path):
        self.path = path
        self.ckpt_dir = path / "checkpoints"
        self.ckpt_dir.mkdir(parents=True, exist_ok=True)
        for folder in (self.path, self.ckpt_dir):  # what a run killed mid-write left behind
            remove_stale_temporaries(folder)
        self._tb = None
        # TensorBoard is optional by design, and silent: without the extra, metrics.csv holds everything
        if installed("tensorboard"):
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(path / "tensorboard"))

    def write_json(self, name: str, data: dict) -> None:
        atomic_write(self.path / name, json.dumps(data, indent=2, default=str))

    def write_metrics(self, history: list[dict]) -> None:
        """Rewrite metrics.csv from the whole history (kept in the checkpoint, so resume stays consistent)."""
        if not history:
            return
        keys = sorted({k for row in history for k in row})
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=keys)
        writer.writeheader()
        writer.writerows(history)
        atomic_write(self.path / "metrics.csv", text.getvalue())
        if self._tb is not None:
            row = history[-1]
            for k, v in row.items():
                if isinstance(v, (int, float)):
                    self._tb.add_scalar(k, v, int(row.get("time/episodes", len(history))))
            self._tb.flush()


# ---------------------------------------------------------------------- agents
# A trainer builds its agent (loading the checkpoint when resuming) in __init__, before the run
# folder exists, so that a bad option or checkpoint fails with nothing written; learn() trains.
class _ReinforceTrainer:
    """RecurrentReinforce on the native vector env; checkpoints/last.pt after every update."""

    label = "RecurrentReinforce"

    def __init__(self, cfg: TrainConfig, ckpt: Path, resume: bool, env: gym.Env):
        from agents.reinforce import RecurrentReinforce

        self.cfg, self.ckpt = cfg, ckpt
        venv = gym.make_vec(hpenv.ENV_ID, num_envs=cfg.num_envs, **cfg.env_kwargs())
        if resume and ckpt.exists():
            self.agent = RecurrentReinforce.load(ckpt, env=venv)
            print(f"resumed from {ckpt} at episode {self.agent.num_episodes}")
        else:
            self.agent = RecurrentReinforce(venv, config=cfg.settings)

    @property
    def episodes_done(self) -> int:
        return self.agent.num_episodes

    def learn(self, run: RunFolder, progress: bool):
        agent = self.agent

        def on_update(agent, metrics):
            agent.save(self.ckpt)  # atomic: a kill leaves the previous or the new checkpoint, never half of one
            run.write_metrics(agent.history)

        cfg, remaining = self.cfg, self.cfg.episodes - agent.num_episodes
        if remaining > 0 and cfg.runners:
            from agents.distributed import RayRunners

            # the children of a runner with a GPU share train on it; the learner stays on cfg.device
            runner_kwargs = {**cfg.env_kwargs(), "device": "cuda" if cfg.gpus_per_runner else cfg.device}
            with RayRunners(runner_kwargs, cfg.runners, cfg.runner_envs, address=cfg.ray_address or None,
                            cpus_per_runner=cfg.cpus_per_runner, gpus_per_runner=cfg.gpus_per_runner) as runners:
                agent.learn(remaining, progress_bar=progress, callback=on_update, runners=runners)
        elif remaining > 0:
            agent.learn(remaining, progress_bar=progress, callback=on_update)
        run.write_metrics(agent.history)
        return agent, agent.history


class _SB3Trainer:
    """A Stable-Baselines3 algorithm on the native vector env; checkpoints/last.pt after every update.

    The checkpoint is plain data (see :func:`agents.sb3.save_sb3`), never SB3's pickled .zip.
    """

    def __init__(self, cfg: TrainConfig, ckpt: Path, resume: bool, env: gym.Env):
        from stable_baselines3.common.vec_env import VecMonitor

        from hpenv.wrappers import SB3VecEnv

        self.cfg, self.ckpt, self.hp_space, self.label = cfg, ckpt, hp_space_of(env), cfg.agent
        if resume and not ckpt.exists() and (ckpt.parent / "last.zip").exists():
            raise ValueError(_ZIP_REFUSED.format(ckpt.parent / "last.zip"))
        venv = VecMonitor(SB3VecEnv(num_envs=cfg.num_envs, **cfg.env_kwargs()))
        self.model = sb3_model(cfg.agent, venv, cfg.settings, horizon=cfg.horizon, seed=cfg.seed, device=cfg.device)
        self.history: list[dict] = []
        if resume and ckpt.exists():
            payload = load_sb3(ckpt, env)
            if payload["algorithm"] != cfg.agent:
                raise ValueError(f"{ckpt} holds a {payload['algorithm']} model, but the run's agent is {cfg.agent}")
            restore_sb3(self.model, payload, ckpt)
            self.history = payload["history"]
            # new seeds for the episodes after the resume, not the first rollout's over again
            self.model.set_random_seed(cfg.seed + self.model.num_timesteps)
            print(f"resumed from {ckpt} at step {self.model.num_timesteps}")

    @property
    def episodes_done(self) -> int:
        return self.model.num_timesteps // self.cfg.horizon

    def learn(self, run: RunFolder, progress: bool):
        def save(model, history) -> None:
            save_sb3(self.ckpt, model, self.cfg.agent, self.hp_space, history)
            run.write_metrics(history)

        history = train_sb3(self.model, self.cfg.episodes, self.cfg.horizon, history=self.history, on_update=save,
                            progress_bar=progress and _has_rich())
        run.write_metrics(history)
        return SB3Policy(self.model), history


_ZIP_REFUSED = ("{}: a Stable-Baselines3 .zip unpickles Python objects, so loading it can run any code it "
                "carries, and hptune does not load it. Retrain with this version (it writes checkpoints/last.pt), "
                "or convert it in a session you trust: load it with stable_baselines3 and write it with "
                "agents.sb3.save_sb3")


# Adding an agent to hptune train is one registration: its trainer and its settings dataclass.
register_agent("reinforce", _ReinforceTrainer, RecurrentReinforceConfig,
               defaults=reinforce_settings, check=check_reinforce, derive=derive_reinforce)
for _name in SB3_AGENTS:
    register_agent(_name, _SB3Trainer, SB3Settings)
register_agent("random", None)  # the baselines: nothing to train
register_agent("fixed", None)


def _has_rich() -> bool:
    try:
        import rich  # noqa: F401
        import tqdm  # noqa: F401
    except ImportError:
        return False
    return True


# ---------------------------------------------------------------------- evaluation and plots
def compare(policies: dict[str, Any], env_kwargs: dict, episodes: int) -> dict[str, list[EpisodeRecord]]:
    """Each policy on the same held-out seeds (same children, same batches).

    The seeds are :data:`agents.seeds.REPORT`'s, never the benchmark's evaluation seeds (and
    :class:`TrainConfig` refuses a suite's test members).
    """
    env = gym.make(hpenv.ENV_ID, **env_kwargs)
    seeds = REPORT.seeds(episodes)
    return {name: run_episodes(env, policy, seeds) for name, policy in policies.items()}


def first_name(results: dict[str, list]) -> str:
    return next(iter(results))


def compare_on_selection(policies: dict[str, Any], cfg: TrainConfig, cache: Path
                         ) -> tuple[dict[str, list[EpisodeRecord]], list[str]]:
    """Each policy, the best static tuple and the best fixed schedule on a suite's selection members.

    The references are chosen as ``hptune bench`` chooses them (best mean validation accuracy over
    the selection members x ``cfg.eval_episodes`` seeds ``1_000_000 + i``), then every method
    trains one child per (selection member, seed) alone, so the results pair exactly. The
    references are chosen on these very children: the comparison favours them. Test members are
    never used. Returns the results by method name (in (member, seed) order) and the names of the
    two references.
    """
    from agents.bench.protocol import Protocol, SuiteContext
    from agents.engine import evaluate_policy, schedule_episodes, static_episodes

    protocol = Protocol(suites=(cfg.task,), selection_seeds=cfg.eval_episodes, horizon=cfg.horizon,
                        steps_per_action=cfg.steps_per_action, seed=cfg.seed)
    # one cache per seed count: a resumed run with another --eval-episodes chooses its references anew
    ctx = SuiteContext(cfg.task, protocol, cache / f"{cfg.eval_episodes}-seeds")
    print(f"choosing the references on {len(ctx.selection_members())} selection members x {cfg.eval_episodes} "
          f"seeds ({len(ctx.candidates)} static tuples, {len(ctx.schedules)} fixed schedules)")
    selection = ctx.run_selection()
    seeds = selection["seeds"]
    static = ctx.candidates[selection["static_best"]]
    schedule = ctx.schedules[selection["schedule_best"]]
    references = [f"best static tuple ({_tuple_text(ctx.space.decode(static))})",
                  f"best fixed schedule ({ctx.schedule_names[selection['schedule_best']]})"]
    kw = {"device": cfg.device, **ctx.env_kwargs}
    results: dict[str, list[EpisodeRecord]] = {name: [] for name in [*policies, *references]}
    for member in ctx.selection_members():
        for name, policy in policies.items():
            results[name] += evaluate_policy(policy, seeds, chunk=1, task=member, **kw)
        results[references[0]] += static_episodes(np.repeat(static[None], len(seeds), 0), seeds, chunk=1,
                                                  task=member, **kw)[0]
        results[references[1]] += schedule_episodes(np.repeat(schedule[None], len(seeds), 0), seeds, chunk=1,
                                                    task=member, **kw)[0]
    return results, references


@dataclass(frozen=True)
class _Checkpoint:
    """A trained RecurrentReinforce as a worker process rebuilds it (the agent itself holds its envs)."""

    path: str


def _v2_member_unit(unit: tuple) -> dict[str, list[EpisodeRecord]]:
    """One selection member's children: every policy and both references, one child per seed each."""
    from agents.engine import evaluate_policy, schedule_episodes
    from agents.reinforce import RecurrentReinforce

    member, seeds, kw, policies, schedules = unit
    out = {}
    for name, policy in policies.items():
        if isinstance(policy, _Checkpoint):
            policy = RecurrentReinforce.load(policy.path)
        out[name] = evaluate_policy(policy, seeds, chunk=len(seeds), task=member, **kw)
    for name, schedule in schedules.items():
        out[name] = schedule_episodes(np.repeat(schedule[None], len(seeds), 0), seeds, chunk=len(seeds),
                                      task=member, **kw)[0]
    return out


def compare_on_v2_selection(policies: dict[str, Any], cfg: TrainConfig, checkpoint: Path | None = None
                            ) -> tuple[dict[str, list[EpisodeRecord]], list[str], list[str]]:
    """Each policy and the benchmark's two references on a v2 suite's selection members, on every core.

    The references are those the registered ``hptune bench --v2`` run chose on these members and
    reports against (:func:`agents.bench.v2.registered_references`: the best static tuple over the
    whole grid, the best fixed schedule of the protocol's family). Every method trains one child per
    (selection member, seed) on the same seeds, ``cfg.eval_episodes`` seeds of the v2 selection range
    after the protocol's own (so no child here chose anything; the members did choose the
    references, which favours them). Members run in parallel (:func:`agents.bench.parallel.run_units`);
    a RecurrentReinforce policy travels to the workers as its ``checkpoint`` (a policy that cannot be
    pickled keeps the evaluation in this process). Returns the results by method (in (member, seed)
    order), the references' names and the members.
    """
    import pickle

    from agents.bench.parallel import default_workers, run_units
    from agents.bench.preregistration import load_protocol
    from agents.bench.v2 import registered_references
    from agents.reinforce import RecurrentReinforce
    from agents.seeds import V2_SELECTION
    from hpenv.config import EnvConfig

    space = EnvConfig.from_kwargs(cfg.env_kwargs()).resolve_space()  # the env's space, without building one
    chosen = registered_references(cfg.task)
    schedules = {f"{name} ({_schedule_title(steps)})": np.stack([space.encode(values) for values in steps])
                 for name, steps in chosen.items()}
    seeds = V2_SELECTION.seeds(cfg.eval_episodes, offset=len(load_protocol().selection_seeds))
    portable = {name: _Checkpoint(str(checkpoint)) if isinstance(policy, RecurrentReinforce) and checkpoint
                else policy for name, policy in policies.items()}
    try:
        pickle.dumps(portable)
        workers = default_workers()
    except (pickle.PicklingError, TypeError, AttributeError):  # it cannot travel: evaluate here, member by member
        workers = 1
    members = hpenv.instance_set(cfg.task, "selection")
    kw = {"horizon": cfg.horizon, "steps_per_action": cfg.steps_per_action, "device": cfg.device}
    units = [(m, seeds, kw, portable, schedules) for m in members]
    print(f"comparing on {len(members)} selection members x {len(seeds)} seeds with the benchmark's references "
          f"({', '.join(schedules)}), {workers} worker(s)")
    by_member = dict(run_units(_v2_member_unit, units, workers=workers))
    names = [*policies, *schedules]
    results = {name: [r for i in range(len(members)) for r in by_member[i][name]] for name in names}
    return results, list(schedules), members


def members_by_factor(records: list[EpisodeRecord], members: list[str]) -> dict[str, EpisodeRecord]:
    """First-seed children of up to four members that differ most in their factors (the fewest and most
    training examples, the least and most label noise), labelled by those factors, for ``schedule.png``."""
    per = len(records) // len(members)
    factors = {m: hpenv.member_factors(m) for m in members}
    picks = []
    for key in ("n_train", "label_noise"):
        for m in (min(members, key=lambda m: factors[m][key]), max(members, key=lambda m: factors[m][key])):
            if m not in picks:
                picks.append(m)
    return {f"{m.rsplit('/', 1)[1]}: {factors[m]['base']}, {factors[m]['n_train']} examples, "
            f"label noise {factors[m]['label_noise']:.0%}": records[members.index(m) * per] for m in picks}


def _schedule_title(steps: list[dict]) -> str:
    """A schedule of applied values as text: the start tuple, then each change and the env step it happens at."""
    parts = [_tuple_text(steps[0])]
    for t in range(1, len(steps)):
        changed = {k: v for k, v in steps[t].items() if v != steps[t - 1][k]}
        if changed:
            parts.append(f"{_tuple_text(changed)} from step {t + 1}")
    return "; ".join(parts)


def _tuple_text(values: dict) -> str:
    return ", ".join(f"{name} {value:g}" for name, value in values.items())


def paired_text(results: dict[str, list[EpisodeRecord]], references: list[str],
                members: list[str] | None = None) -> str:
    """Every other method against each reference on test accuracy: paired child by child, or with
    ``members`` (results in (member, seed) order) at member level, as ``hptune bench --v2`` reports a
    suite (seeds averaged within a member, members resampled, Wilcoxon over members)."""
    from agents.bench.member_stats import member_comparison
    from agents.bench.report import difference_text
    from agents.bench.stats import paired_comparison

    def compare(x: list[EpisodeRecord], y: list[EpisodeRecord]) -> dict:
        if members is None:
            return paired_comparison([r.test_accuracy for r in x], [r.test_accuracy for r in y])
        per = len(x) // len(members)
        return member_comparison(*({m: np.array([[r.test_accuracy for r in res[i * per:(i + 1) * per]]])
                                    for i, m in enumerate(members)} for res in (x, y)))

    ci, counts = ("paired 95% CI", "wins/ties/losses") if members is None else ("member-level 95% CI", "members W/T/L")
    lines = [f"| method | reference | difference, points [{ci}] | {counts} | Wilcoxon p |", "|---|---|---|---|---|"]
    for name, res in results.items():
        if name in references:
            continue
        for ref in references:
            c = compare(res, results[ref])
            lines.append(f"| {name} | {ref.split(' (')[0]} | {difference_text(c)} | "
                         f"{c['wins']}/{c['ties']}/{c['losses']} | {c['p']:.2g} |")
    return "\n".join(lines)


def summary_table(results: dict[str, list[EpisodeRecord]]) -> str:
    lines = ["| policy | test accuracy, mean [95% CI] | return, mean [95% CI] | diverged | SGD steps |",
             "|---|---|---|---|---|"]
    for name, res in results.items():
        acc = summarize([r.test_accuracy for r in res])
        ret = summarize([r.episode_return for r in res])
        lines.append(f"| {name} | {format_summary(acc)} | {format_summary(ret)} | "
                     f"{sum(r.diverged for r in res)}/{len(res)} | {res[0].sgd_steps if res else 0} |")
    return "\n".join(lines)


def schedule_text(result: EpisodeRecord, names) -> str:
    return "\n".join(
        f"  t={t + 1:2d} " + " ".join(f"{n}={s[n]:g}" for n in names) + f"  val_acc={s['val_accuracy']:.4f}"
        for t, s in enumerate(result.schedule)
    )


def _moving_mean_std(values, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Centred moving mean and standard deviation of ``values`` (the window shrinks at the ends)."""
    y = np.asarray(values, dtype=np.float64)
    half = window // 2
    parts = [y[max(0, i - half): i + half + 1] for i in range(len(y))]
    return np.array([p.mean() for p in parts]), np.array([p.std() for p in parts])


def plot_run(run: RunFolder, history: list[dict], result: EpisodeRecord | dict[str, EpisodeRecord] | None, names,
             results: dict[str, list[EpisodeRecord]] | None = None, space: hpenv.HPSpace | None = None) -> None:
    """``learning_curve.png`` (training return per update, smoothed, and the final comparison's
    returns) and ``schedule.png`` (``result``'s hyper-parameters and validation accuracy per step).

    ``result``: one child, or several by label (one line each: children of members that differ).
    ``results``: the final comparison by policy, first the trained one (as ``cmd_train`` builds it).
    ``space``: the hyper-parameter space; each schedule panel then spans its grid.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    points = [(h.get("time/episodes", i), h.get("rollout/ep_return_mean", np.nan)) for i, h in enumerate(history)]
    points = [(x, y) for x, y in points if np.isfinite(y)]
    if points:
        x, y = (np.array(v, dtype=np.float64) for v in zip(*points))
        # one update's mean return swings by tens of points from the next: the trend is the smoothed line
        window = max(3, len(y) // 5) | 1
        mean, std = _moving_mean_std(y, window)
        fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
        ax.plot(x, y, ".", color="C0", alpha=0.3, markersize=4, label="training, each update (its episodes' mean)")
        ax.plot(x, mean, "-", color="C0", linewidth=2, label=f"training, moving mean over {window} updates")
        ax.fill_between(x, mean - std, mean + std, color="C0", alpha=0.2, linewidth=0, label="\u00b1 1 s.d.")
        if results:  # the final comparison: the trained policy at the end of training, the others as levels
            first, *others = results
            s = summarize([r.episode_return for r in results[first]])
            ax.errorbar([x[-1]], [s["mean"]], yerr=[[s["mean"] - s["ci_low"]], [s["ci_high"] - s["mean"]]],
                        fmt="o", color="C3", capsize=4, label=f"{first} on the compared children (95% CI)")
            for k, name in enumerate(others):
                level = float(np.mean([r.episode_return for r in results[name]]))
                ax.axhline(level, color=f"C{k + 4}", linestyle="--", linewidth=1, label=name.split(" (")[0])
        ax.set_xlabel("training episodes")
        ax.set_ylabel("mean episode return\n(final - initial val acc)")
        ax.set_title("learning curve")
        fig.legend(fontsize=7, loc="outside lower center", ncols=2)
        fig.savefig(run.path / "learning_curve.png", dpi=100)
        plt.close(fig)
    if result is not None:
        children = result if isinstance(result, dict) else {None: result}
        fig, axes = plt.subplots(len(names) + 1, 1, figsize=(7, 1.4 * (len(names) + 1) + 0.5 + 0.2 * len(children)),
                                 sharex=True, layout="constrained")
        for k, (label, child) in enumerate(children.items()):
            t = np.arange(1, len(child.schedule) + 1)
            axes[0].plot(t, [s["val_accuracy"] for s in child.schedule], marker="o", color=f"C{k}", label=label)
            for ax, n in zip(axes[1:], names):  # nudged apart a little, so that equal choices stay visible
                offset = (k - (len(children) - 1) / 2) * 0.06
                ax.step(t + offset, [s[n] for s in child.schedule], where="mid", marker=".", color=f"C{k}")
        axes[0].set_ylabel("val acc", fontsize=8)
        for ax, n in zip(axes[1:], names):
            ax.set_ylabel(n.replace("_", " "), fontsize=8)
            if n == "learning_rate":
                ax.set_yscale("log")
            if space is not None and n in space:  # the whole grid, so that a constant shows where it sits
                grid = np.asarray(space.params[space.names.index(n)].values, dtype=np.float64)
                ax.set_yticks(grid, [f"{v:g}" for v in grid], fontsize=7)
                ax.minorticks_off()
                lo, hi = grid.min(), grid.max()
                pad = (hi - lo) * 0.1 or 0.5
                ax.set_ylim(*((lo / 1.6, hi * 1.6) if n == "learning_rate" else (lo - pad, hi + pad)))
        axes[-1].set_xlabel("env step")
        axes[-1].xaxis.set_major_locator(MaxNLocator(integer=True))
        who = first_name(results) if results else "the policy"
        if isinstance(result, dict):
            fig.suptitle(f"hyper-parameters chosen by {who}\non members that differ (first seed each)", fontsize=10)
            fig.legend(fontsize=7, loc="outside lower center", ncols=2)
        else:
            fig.suptitle(f"hyper-parameters chosen by {who}\non its first compared child (seed {result.seed})",
                         fontsize=10)
        fig.savefig(run.path / "schedule.png", dpi=100)
        plt.close(fig)


# ---------------------------------------------------------------------- commands
def _train_config(args: argparse.Namespace) -> tuple[TrainConfig, Path]:
    """The run's validated config and folder; nothing is written."""
    given = {name: getattr(args, name) for name in train_options() if getattr(args, name) is not None}
    if args.resume:
        path = Path(args.resume)
        if not (path / "config.json").is_file():
            raise ValueError(f"--resume {path}: no config.json there; is it a run folder of hptune train?")
        fixed = [_option(name) for name in given if name not in RESUME_OPTIONS]
        if fixed:
            raise ValueError(f"--resume continues a run with the options in its config.json; only "
                             f"{', '.join(map(_option, RESUME_OPTIONS))} may change, got {', '.join(fixed)}")
        # a larger --episodes trains on up to the new total; the run's config.json records it
        saved = TrainConfig.from_json(path / "config.json")
        if "runners" in given and (given["runners"] > 0) != (saved.runners > 0):
            raise ValueError(f"--resume: the run used --runners {saved.runners}; it may change to any count "
                             f"of 1 or more when it was 1 or more, not to or from 0 (got {given['runners']})")
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
    cfg, path = _train_config(args)
    # Everything that can fail on bad input (a missing extra, the task, its data, the checkpoint)
    # runs before the run folder is created or touched.
    require_all(cfg.extras)
    env = gym.make(hpenv.ENV_ID, **cfg.env_kwargs())
    names = env.unwrapped.hp_space.names
    make_trainer = TRAINERS[cfg.agent].trainer
    trainer = make_trainer(cfg, path / "checkpoints" / "last.pt", bool(args.resume), env) if make_trainer else None
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
    if cfg.agent == "random" or not cfg.is_suite:  # a suite's references are chosen constants instead
        policies["random"] = RandomPolicy(env, seed=cfg.seed)
    policies["fixed default"] = FixedPolicy(env)
    if cfg.agent in ("random", "fixed"):  # nothing to train: these are the baselines themselves
        policies = {k: v for k, v in policies.items() if k.startswith(cfg.agent)}
    shown = None
    if cfg.is_v2:
        ckpt = path / "checkpoints" / "last.pt"
        results, references, members = compare_on_v2_selection(policies, cfg, ckpt if ckpt.exists() else None)
        table = summary_table(results) + "\n\n" + paired_text(results, references, members)
        where = (f"{len(members)} selection members of {cfg.task} x {cfg.eval_episodes} seeds, member level (the "
                 f"benchmark's references were chosen on these members, at other seeds)")
        shown = members_by_factor(results[first_name(results)], members)
    elif cfg.is_suite:
        results, references = compare_on_selection(policies, cfg, run.path / "selection")
        table = summary_table(results) + "\n\n" + paired_text(results, references)
        where = (f"{len(hpenv.instance_set(cfg.task, 'selection'))} selection members of {cfg.task} x "
                 f"{cfg.eval_episodes} seeds (the references were chosen on these very children)")
    else:
        results = compare(policies, cfg.env_kwargs(), cfg.eval_episodes)
        table = summary_table(results)
        where = f"{cfg.eval_episodes} held-out seeds ({cfg.task})"
    first = first_name(results)
    plot_run(run, history, shown or results[first][0], names, results, env.unwrapped.hp_space)
    summary = {
        "config": asdict(cfg), "train_wall_time_s": train_time,
        "train_sgd_steps": cfg.episodes * cfg.horizon * cfg.steps_per_action if trainer is not None else 0,
        "compared_on": where,
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
        raise ValueError("--checkpoint " + _ZIP_REFUSED.format(ckpt))
    if ckpt.suffix != ".pt":
        raise ValueError(f"--checkpoint {ckpt}: expected a .pt checkpoint written by hptune train "
                         f"(RUN/checkpoints/last.pt)")
    run_cfg = ckpt.parent.parent / "config.json"
    cfg = TrainConfig.from_json(run_cfg) if run_cfg.exists() else TrainConfig()
    overrides = {name: getattr(args, name) for name in ("task", "horizon", "steps_per_action", "data_root")
                 if getattr(args, name) is not None}
    cfg = dataclasses.replace(cfg, **overrides)
    env_kwargs = cfg.env_kwargs()
    if cfg.is_suite:  # a suite's run trained on its train members: evaluate on its selection members
        env_kwargs["task"] = f"{cfg.task}/selection"
    env = gym.make(hpenv.ENV_ID, **env_kwargs)
    if load_checkpoint(ckpt).get("agent") == SB3_CHECKPOINT:
        policy = SB3Policy(sb3_policy(load_sb3(ckpt, env), env, ckpt, cfg.device))
    else:
        policy = RecurrentReinforce.load(ckpt, env=env)  # refuses another space, shape or hyper-parameters
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
    print("\nbenchmark suites (--task NAME meta-trains on NAME/train; members NAME/i, splits NAME/train, NAME/selection):")
    for name in hpenv.instance_sets():
        print(f"  {name:<25} {hpenv.suite(name).description}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    if args.verify:
        from agents.bench.preregistration import REGISTERED_PROTOCOL
        from agents.bench.verify import verify_command

        if args.replays < 0 or not math.isfinite(args.tolerance) or args.tolerance < 0:
            raise ValueError(f"--replays must be an integer >= 0 and --tolerance a number >= 0, got "
                             f"{args.replays} and {args.tolerance}")
        return verify_command(args.verify, args.protocol or REGISTERED_PROTOCOL, replays=args.replays,
                              tolerance=args.tolerance)
    if args.v2:
        from agents.bench.v2 import main_v2

        return main_v2(args)
    from agents.bench import main as bench_main

    return bench_main(args)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hptune", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=_positive_int, default=1,
                   help="torch threads (default 1: small children run fastest on one thread, and extra "
                        "OpenMP threads slow them down badly on a busy machine; raise it for CNN tasks)")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="meta-train an agent and compare it with baselines (a suite's selection members, or held-out seeds)")
    for name, (doc, default) in train_options().items():  # default None: --resume tells the given ones
        kind = {"action": argparse.BooleanOptionalAction} if type(default) is bool else {"type": type(default)}
        t.add_argument(_option(name), **kind, default=None, help=f"{doc} (default: {default!r})")
    t.add_argument("--resume", metavar="RUN_DIR",
                   help="continue a run folder from its last checkpoint, with the options in its config.json; "
                        "--episodes N trains on up to N episodes in all, --eval-episodes N changes the evaluation")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("eval", help="evaluate a checkpoint on held-out episodes")
    e.add_argument("--checkpoint", required=True, help="a checkpoints/last.pt of a run")
    e.add_argument("--task", help="task to evaluate on (default: the run's)")
    e.add_argument("--data-root", help="folder of the task's data on disk (default: the run's)")
    e.add_argument("--episodes", type=_positive_int, default=5)
    e.add_argument("--horizon", type=_positive_int)
    e.add_argument("--steps-per-action", type=_positive_int)
    e.add_argument("--seed", type=int, default=HELD_OUT_SEED, help="first evaluation seed")
    e.add_argument("--stochastic", action="store_true", help="sample actions instead of greedy")
    e.set_defaults(func=cmd_eval)

    sub.add_parser("tasks", help="list the built-in tasks").set_defaults(func=cmd_tasks)

    b = sub.add_parser("bench", help="the v1 benchmark: instance sets, headroom gate, paired statistics")
    what = b.add_mutually_exclusive_group(required=True)
    what.add_argument("--out", help="run folder (results.csv, paired.csv, headroom.csv, results.md, "
                                    "plot); the same folder again resumes a killed run")
    what.add_argument("--verify", metavar="DIR",
                      help="check a v2 results folder against the registered protocol (its hash, every test member, "
                           "the protocol's seeds) and re-train a sample of its rows from their recorded schedules; "
                           "one line per problem, exit 1 on any")
    b.add_argument("--v2", action="store_true",
                   help="benchmark v2: the registered protocol (--protocol) on its suites; with --quick a rehearsal "
                        "on selection members in minutes")
    b.add_argument("--workers", type=_positive_int,
                   help="with --v2: parallel workers (Ray; default: one per core; 1: serial, no Ray)")
    b.add_argument("--protocol", help="with --verify or --v2: the protocol file (default: the registered v2 protocol, "
                                      "agents/bench/data/v2/protocol.toml)")
    b.add_argument("--ledger", help="with --v2, a full run: the ledger its scored method versions are appended to "
                                    "(default: benchmarks/results/v2/ledger.csv of the checkout holding the current "
                                    "folder)")
    b.add_argument("--replays", type=int, default=8, help="with --verify: rows re-trained from their schedules")
    b.add_argument("--tolerance", type=float, default=0.0,
                   help="with --verify: accuracy tolerance of a replay (0: exact, the same machine; about one test "
                        "example across CPUs)")
    b.add_argument("--quick", action="store_true", help="reduced protocol (one suite, 20 pairs): a smoke test, not a result")
    b.add_argument("--suite", help="comma-separated instance sets (hpenv.instance_sets()); default: the preset's")
    b.add_argument("--agent", action="append", default=[], metavar="MODULE:NAME",
                   help="also benchmark your policy (a class taking env, or an object/callable) or Method")
    b.add_argument("--seeds", type=int, help="evaluation seeds per test member")
    b.add_argument("--methods", type=lambda text: [t.strip() for t in text.split(",") if t.strip()],
                   help="comma-separated methods (names of agents.bench.METHODS or module:Name)")
    b.add_argument("--no-progress", action="store_true", help="no progress bar")
    b.set_defaults(func=cmd_bench)
    return p


def train_options() -> dict[str, tuple[str, Any]]:
    """``hptune train``'s options: name -> (help, default), the shared ones then every agent's own."""
    shared = {f.name: (f.metadata["help"], f.default) for f in _shared_fields()}
    shared["agent"] = (" | ".join(AGENTS) + ".", TrainConfig.agent)  # the registered ones, as they are now
    return {**shared, **agent_options()}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    try:
        return args.func(args)
    except (ValueError, OSError, ImportError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
