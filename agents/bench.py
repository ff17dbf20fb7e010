"""The comparison benchmark: every method, built-in or yours, under one honest protocol.

From the command line::

    hptune bench --quick --out bench-quick/            # reduced protocol, < 10 min on 2 CPU cores
    hptune bench --out bench/                           # the full protocol (about an hour on 2 cores)
    hptune bench --quick --out b/ --agent mypkg.policies:MyPolicy   # your policy beside ours

From Python, with your own policy::

    from agents.bench import benchmark

    def lr_decay(obs):                                   # a plain callable obs -> action ...
        progress = obs[hpenv.feature_index("progress")]  # t / horizon
        return [3, 0, 4 if progress < 0.5 else 3, 2]     # depth 4, no dropout, lr 0.1 then 0.03, mom. 0.9

    rows = benchmark({"my decay": lr_decay}, tasks=["digits"], seeds=5, out="bench-mine",
                     methods=["fixed default", "schedule (cosine)"])

A policy is anything with ``predict(obs, state=None, episode_start=True, deterministic=True) ->
(action, state)`` (Stable-Baselines3's shape; a ``reward=`` keyword, if ``predict`` takes one,
receives the previous reward), a plain callable ``obs -> action``, or a class whose constructor
takes the env (it is instantiated once per task with ``gym.make(hpenv.ENV_ID, task=...)``).

Protocol (see DESIGN.md, "Honest evaluation"):

* Evaluation seeds are ``2**31 + i`` (:data:`agents.evaluation.HELD_OUT_SEED`); every training episode
  (meta-training, NAS controller, PPO, grid selection) runs on seeds below ``2**31 - 1``, so
  test children are never trained on. Every method is evaluated on the *same* child seeds:
  child ``i`` starts from the same weights and sees the same batches (paired comparison).
* Reported: test accuracy of the final child, from the test split only (every method chooses
  by validation accuracy); ``sgd_steps`` = child SGD steps spent for that result;
  ``wall_time_s`` = its wall time (children that train together in one vector env share it);
  the one-off cost paid before deployment (meta-training, grid search on selection seeds,
  NAS-controller training) is in ``meta_train_sgd_steps`` / ``meta_train_wall_time_s``.
* Summary per task and method: mean, 95% percentile-bootstrap interval of the mean,
  interquartile mean. "Loses"/"beats" is claimed only when 95% intervals do not overlap.

Outputs in ``out``: ``results.csv`` (one row per task, method and seed), ``results.md`` (tables
and verdicts), ``accuracy_vs_compute.png``, ``schedules.png``, ``schedules.json`` (the schedule
of every method on the first evaluation seed of every task) and ``config.json``.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import importlib
import inspect
import io
import json
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import gymnasium as gym
import numpy as np
import torch

import hpenv
from agents import search
from agents.baselines import FixedPolicy, RandomStaticPolicy, SchedulePolicy
from agents.checkpoint import atomic_write
from agents.evaluation import HELD_OUT_SEED, bootstrap_ci, iqm
from agents.sb3 import POLICY_NAMES, SB3Policy, sb3_class
from hpenv.tasks import TaskFamily, make_task, synthetic_task

__all__ = ["benchmark", "BenchConfig", "PRESETS", "BUILTIN_METHODS", "load_agent", "write_outputs", "main"]

#: The built-in methods, in table order (``methods=`` takes any subset of these names).
BUILTIN_METHODS = (
    "fixed default",        # DEFAULT_TUPLE at every step
    "random static",        # one uniformly random tuple per episode
    "schedule (step)",      # lr 0.1, one grid notch down at 50% and 75% of the episode
    "schedule (cosine)",    # lr 0.1 with cosine decay along the grid
    "random search",        # best of k static tuples, budget split (agents.search.random_search)
    "TPE",                  # Optuna TPE, k trials, budget split (agents.search.tpe_search)
    "grid oracle",          # every static tuple on a selection seed, best deployed (grid_search)
    "PBT",                  # population-based training on the vector env (agents.search.pbt)
    "NAS controller",       # REINFORCE over static tuples, reward = final val acc
    "PPO",                  # Stable-Baselines3 PPO trained on the target task
    "RecurrentPPO",         # sb3-contrib RecurrentPPO trained on the target task
    "RR meta (synthetic)",  # RecurrentReinforce meta-trained on the synthetic family, deployed
    "RR meta (target)",     # RecurrentReinforce meta-trained on the target task (other seeds)
    "RR online",            # RecurrentReinforce in the paper's online mode, from scratch
)
RR_METHODS = ("RR meta (synthetic)", "RR meta (target)", "RR online")

#: Synthetic tasks for evaluation: members 1000-1099, never seen by meta-training on
#: ``task="synthetic"`` (members 0-999). Each evaluation seed draws its own member.
HELD_OUT_SYNTHETIC = range(1000, 1100)


def _heldout_synthetic() -> TaskFamily:
    return TaskFamily("synthetic_heldout", synthetic_task, HELD_OUT_SYNTHETIC)


#: Task names the benchmark knows besides those of ``hpenv.list_tasks()``.
BENCH_TASKS: dict[str, Callable[[], Any]] = {"synthetic_heldout": _heldout_synthetic}


@dataclass
class BenchConfig:
    """Settings of one benchmark run (``PRESETS["quick"]`` and ``PRESETS["full"]``)."""

    tasks: tuple[str, ...] = ("digits", "wine", "breast_cancer", "synthetic_heldout")
    seeds: int = 5
    """Evaluation seeds per task and method ..."""
    headline_task: str = "digits"
    headline_seeds: int = 10
    """... except the headline task, which gets this many (unless ``seeds=`` is given)."""
    horizon: int = 10
    steps_per_action: int = 20
    """Every episode: ``horizon`` env steps of ``steps_per_action`` child SGD steps (batch 32)."""
    search_k: int = 4
    """Candidates of random search / trials of TPE (each gets ``E // k`` SGD steps)."""
    grid_selection_seeds: int = 1
    """Selection seeds on which the grid oracle trains every tuple (each costs ``len(grid) * E``) ..."""
    grid_confirm_top: int = 16
    grid_confirm_seeds: int = 4
    """... then its ``grid_confirm_top`` best tuples run again on this many more selection seeds."""
    grid_chunk: int = 16
    """Tuples trained together in one vector env by the grid search."""
    pbt_population: int = 8
    pbt_interval: int = 2
    pbt_fraction: float = 0.25
    nas_episodes: int = 128
    """Training episodes of the NAS controller (on the target task)."""
    meta_episodes: int = 512
    """Meta-training episodes of RecurrentReinforce on the target task."""
    synthetic_meta_episodes: int = 512
    """Meta-training episodes of RecurrentReinforce on the synthetic family (once per run)."""
    sb3_episodes: int = 256
    """Training episodes of PPO and RecurrentPPO on the target task."""
    num_envs: int = 8
    """Children per batch while meta-training (RecurrentReinforce, PPO, NAS controller)."""
    rr_learning_rate: float = 1e-2
    """Adam learning rate of RecurrentReinforce."""
    rr_ent_coef: float = 0.05
    """Initial entropy bonus of RecurrentReinforce, decayed linearly to a tenth over meta-training."""
    online_update_every: int = 2
    """Window (env steps) between updates of RecurrentReinforce in online mode."""
    methods: tuple[str, ...] = BUILTIN_METHODS
    seed: int = 0
    """Seed of every learner and random draw (not of the evaluation children)."""


PRESETS: dict[str, BenchConfig] = {
    # ~5-7 minutes on 2 shared CPU cores: 2 tasks, 3 seeds, episodes of 5 x 10 SGD steps.
    "quick": BenchConfig(
        tasks=("digits", "wine"), seeds=3, headline_seeds=3, horizon=5, steps_per_action=10,
        pbt_interval=1, nas_episodes=32, meta_episodes=48, synthetic_meta_episodes=64, sb3_episodes=32,
        online_update_every=1,
    ),
    # ~60 minutes on 2 shared CPU cores (see README): 4 task groups, 5 seeds (10 on digits).
    "full": BenchConfig(),
}

CSV_COLUMNS = ["task", "method", "seed", "test_accuracy", "val_accuracy", "sgd_steps", "wall_time_s",
               "meta_train_sgd_steps", "meta_train_wall_time_s", "episode_return", "diverged", "source"]


# ---------------------------------------------------------------------- policies given by users
def load_agent(spec: str) -> Any:
    """Import ``"package.module:Name"`` and return ``Name`` (a class, an object or a callable).

    The current directory is put on ``sys.path`` first (as ``python -m`` does), so a module next
    to where you run ``hptune`` imports.
    """
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"--agent must look like package.module:Name, got {spec!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ImportError(f"--agent {spec}: cannot import module {module_name!r} ({err})") from err
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"--agent {spec}: module {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    return obj


def _instantiate(obj: Any, env_kwargs: dict) -> Any:
    """A class is built with the task's env; an object or callable is used as is."""
    if inspect.isclass(obj):
        return obj(gym.make(hpenv.ENV_ID, **env_kwargs))
    if not (callable(obj) or callable(getattr(obj, "predict", None))):
        raise TypeError(f"a policy must be a class taking the env, an object with predict(...), or a "
                        f"callable obs -> action; got {type(obj).__name__}")
    return obj


# ---------------------------------------------------------------------- the protocol
def _resolve_task(name: str):
    return BENCH_TASKS[name]() if name in BENCH_TASKS else make_task(name)


def _eval_seeds(n: int) -> list[int]:
    return [HELD_OUT_SEED + i for i in range(n)]


class _FixedSeed(gym.Wrapper):
    """Reset always with ``seed`` (pairs the online run with the evaluation child) and record the schedule."""

    def __init__(self, env: gym.Env, seed: int):
        super().__init__(env)
        self._seed, self.schedule, self.last_info, self.total = seed, [], {}, 0.0

    def reset(self, *, seed=None, options=None):
        self.schedule, self.total = [], 0.0
        return self.env.reset(seed=self._seed, options=options)

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.total += float(reward)
        self.schedule.append(dict(hpenv.hyperparameters_from_info(info), val_accuracy=info["val_accuracy"]))
        self.last_info = info
        return obs, reward, terminated, truncated, info


class _Runner:
    """Runs the methods for one task; each returns a list of :class:`agents.search.SearchResult`."""

    def __init__(self, cfg: BenchConfig, env_kwargs: dict, seeds: list[int], shared: dict):
        self.cfg, self.kw, self.seeds, self.shared = cfg, env_kwargs, seeds, shared
        self.space = gym.make(hpenv.ENV_ID, **env_kwargs).unwrapped.hp_space

    def policy(self, policy, meta_steps: int = 0, meta_wall: float = 0.0) -> list[search.SearchResult]:
        results = search.evaluate_policy(policy, self.seeds, **self.kw)
        return [search.SearchResult.from_episode(r, meta_train_sgd_steps=meta_steps,
                                                 meta_train_wall_time_s=meta_wall) for r in results]

    def run(self, method: str) -> list[search.SearchResult]:
        cfg, kw, space = self.cfg, self.kw, self.space
        if method == "fixed default":
            return self.policy(FixedPolicy(space))
        if method == "random static":
            return self.policy(RandomStaticPolicy(space, seed=cfg.seed))
        if method == "schedule (step)":
            return self.policy(SchedulePolicy(space, "step"))
        if method == "schedule (cosine)":
            return self.policy(SchedulePolicy(space, "cosine"))
        if method == "random search":
            return [search.random_search(s, cfg.search_k, rng_seed=cfg.seed, **kw) for s in self.seeds]
        if method == "TPE":
            return [search.tpe_search(s, cfg.search_k, sampler_seed=cfg.seed, **kw) for s in self.seeds]
        if method == "grid oracle":
            sel = [1_000_000 + i for i in range(cfg.grid_selection_seeds)]
            confirm = [1_000_100 + i for i in range(cfg.grid_confirm_seeds)]
            g = search.grid_search(sel, confirm_top=cfg.grid_confirm_top, confirm_seeds=confirm,
                                   chunk=cfg.grid_chunk, **kw)
            best_val = g.val_accuracy[[tuple(t) for t in g.tuples].index(tuple(g.best))]
            self.notes.append(f"grid oracle chose {g.best_values} (mean val acc {best_val:.4f} on the selection "
                              f"seeds; {len(g.tuples)} tuples, top {cfg.grid_confirm_top} confirmed)")
            return self.policy(FixedPolicy(space, g.best_values), g.sgd_steps, g.wall_time_s)
        if method == "PBT":
            return [search.pbt(s, cfg.pbt_population, interval=cfg.pbt_interval, fraction=cfg.pbt_fraction,
                               rng_seed=cfg.seed, **kw) for s in self.seeds]
        if method == "NAS controller":
            nas = search.NASController(space, batch=cfg.num_envs, seed=cfg.seed).train(cfg.nas_episodes, **kw)
            self.notes.append(f"NAS controller chose {nas.best_values()}")
            return self.policy(nas, nas.sgd_steps, nas.wall_time_s)
        if method in ("PPO", "RecurrentPPO"):
            policy, steps, wall = _train_sb3(method, cfg, kw)
            return self.policy(policy, steps, wall)
        if method == "RR meta (synthetic)":
            agent, steps, wall = self.shared["rr_synthetic"]
            return self.policy(agent, steps, wall)
        if method == "RR meta (target)":
            agent, steps, wall = _train_rr(cfg, kw, cfg.meta_episodes)
            return self.policy(agent, steps, wall)
        if method == "RR online":
            return [_rr_online(cfg, kw, s, i) for i, s in enumerate(self.seeds)]
        raise ValueError(f"unknown method {method!r}; built-in methods: {list(BUILTIN_METHODS)}")

    notes: list[str]


class _CountingVectorEnv(gym.vector.VectorWrapper):
    """Counts every child SGD step the wrapped HPTune vector env runs (``sgd_steps``)."""

    def __init__(self, env):
        super().__init__(env)
        self.sgd_steps = 0
        self._spa = env.unwrapped.steps_per_action
        self._ended = np.zeros(env.num_envs, dtype=bool)  # these rows autoreset at the next step

    def reset(self, **kwargs):
        self._ended[:] = False
        return self.env.reset(**kwargs)

    def step(self, actions):
        self.sgd_steps += int((~self._ended).sum()) * self._spa
        obs, reward, terminated, truncated, info = self.env.step(actions)
        self._ended = terminated | truncated
        return obs, reward, terminated, truncated, info


def _train_rr(cfg: BenchConfig, env_kwargs: dict, episodes: int):
    """Meta-train RecurrentReinforce on batches of ``num_envs`` episodes; (agent, SGD steps, wall)."""
    from agents.reinforce import RecurrentReinforce

    t0 = time.perf_counter()
    venv = _CountingVectorEnv(gym.make_vec(hpenv.ENV_ID, num_envs=cfg.num_envs, **env_kwargs))
    agent = RecurrentReinforce(venv, seed=cfg.seed, learning_rate=cfg.rr_learning_rate, ent_coef=cfg.rr_ent_coef,
                               ent_coef_final=cfg.rr_ent_coef / 10,  # exploration decays over meta-training
                               ent_decay_updates=max(episodes // cfg.num_envs, 1),
                               episodes_per_update=cfg.num_envs)
    agent.learn(episodes)
    return agent, venv.sgd_steps, time.perf_counter() - t0


def _rr_online(cfg: BenchConfig, env_kwargs: dict, seed: int, index: int) -> search.SearchResult:
    """The paper's online mode: a fresh agent learns inside the one run that trains the child."""
    from agents.reinforce import RecurrentReinforce

    t0 = time.perf_counter()
    env = _FixedSeed(gym.make(hpenv.ENV_ID, **env_kwargs), seed)
    agent = RecurrentReinforce(env, seed=cfg.seed + index, learning_rate=cfg.rr_learning_rate,
                               ent_coef=cfg.rr_ent_coef)
    horizon = env.unwrapped.horizon
    test = agent.learn_online(env, total_steps=horizon, update_every=cfg.online_update_every)
    info = env.last_info
    return search.SearchResult(
        seed=seed, test_accuracy=float(test), val_accuracy=float(info["val_accuracy"]),
        sgd_steps=int(info["sgd_steps"]), wall_time_s=time.perf_counter() - t0, episode_return=env.total,
        diverged=bool(info["diverged"]), schedule=env.schedule,
    )


def _train_sb3(method: str, cfg: BenchConfig, env_kwargs: dict):
    """PPO / RecurrentPPO trained on the target task with the native vector env; (policy, SGD steps, wall)."""
    from hpenv.wrappers import SB3VecEnv

    name = {"PPO": "ppo", "RecurrentPPO": "recurrent-ppo"}[method]
    cls, policy_name = sb3_class(name), POLICY_NAMES[name]
    t0 = time.perf_counter()
    venv = SB3VecEnv(num_envs=cfg.num_envs, **env_kwargs)
    horizon, spa = venv.venv.horizon, venv.venv.steps_per_action
    model = cls(policy_name, venv, n_steps=horizon, batch_size=horizon * cfg.num_envs, seed=cfg.seed,
                device="cpu", verbose=0)
    model.learn(cfg.sb3_episodes * horizon)
    torch.set_num_threads(1)  # SB3's set_random_seed leaves threads alone, but be sure
    return SB3Policy(model), int(model.num_timesteps) * spa, time.perf_counter() - t0


def _rows(task: str, method: str, results: list[search.SearchResult], source: str) -> list[dict]:
    return [{
        "task": task, "method": method, "seed": r.seed, "test_accuracy": r.test_accuracy,
        "val_accuracy": r.val_accuracy, "sgd_steps": r.sgd_steps, "wall_time_s": round(r.wall_time_s, 3),
        "meta_train_sgd_steps": r.meta_train_sgd_steps, "meta_train_wall_time_s": round(r.meta_train_wall_time_s, 2),
        "episode_return": r.episode_return, "diverged": r.diverged, "source": source,
    } for r in results]


def benchmark(
    policies: Mapping[str, Any] | None = None,
    tasks: Sequence[str] | None = None,
    seeds: int | Sequence[int] | None = None,
    out: str | os.PathLike | None = None,
    *,
    methods: Sequence[str] | None = None,
    quick: bool = False,
    config: BenchConfig | None = None,
    merge: bool = False,
    verbose: bool = True,
    **env_kwargs: Any,
) -> list[dict]:
    """Run the comparison protocol and return one row (a plain dict) per task, method and seed.

    Args:
        policies: your methods, ``{"name": policy}``; a policy is an object with
            ``predict(obs, state=None, episode_start=True, deterministic=True) -> (action, state)``,
            a callable ``obs -> action``, or a class taking the env (instantiated per task).
            They are evaluated greedily (``deterministic=True``) on the same children as the
            built-in methods and land in the same CSV, table and plots.
        tasks: task names (``hpenv.list_tasks()``, ``"synthetic:N"`` or ``"synthetic_heldout"``);
            default: the preset's.
        seeds: evaluation seeds per task: a count (seeds ``2**31 + i``) or explicit seeds (keep
            them >= 2**31 so that no method has trained on them); default: the preset's.
        out: folder for ``results.csv``, ``results.md``, the PNG plots and ``config.json``
            (None: write nothing).
        methods: built-in methods to run (names from :data:`BUILTIN_METHODS`); default: the
            preset's (all of them). ``[]`` runs only your policies.
        quick: start from ``PRESETS["quick"]`` instead of ``PRESETS["full"]``.
        config: a :class:`BenchConfig` (overrides ``quick``).
        merge: keep the rows already in ``out/results.csv`` (and their schedules and notes) except
            those of the (task, method) pairs run now, so that a new policy can join an earlier
            full run without re-running it. Use the same settings as that run.
        verbose: print progress.
        **env_kwargs: passed to every ``HPTune-v0`` (e.g. ``horizon=``, ``steps_per_action=``
            override the preset's episode length).

    Returns:
        rows with the keys of :data:`CSV_COLUMNS`.
    """
    torch.set_num_threads(1)  # tiny kernels: extra OpenMP threads only contend (see README)
    cfg = dataclasses.replace(config or PRESETS["quick" if quick else "full"])
    if "horizon" in env_kwargs:
        cfg.horizon = int(env_kwargs.pop("horizon"))
    if "steps_per_action" in env_kwargs:
        cfg.steps_per_action = int(env_kwargs.pop("steps_per_action"))
    if tasks is not None:
        cfg.tasks = tuple(tasks)
    if methods is not None:
        unknown = [m for m in methods if m not in BUILTIN_METHODS]
        if unknown:
            raise ValueError(f"unknown methods {unknown}; built-in methods: {list(BUILTIN_METHODS)}")
        cfg.methods = tuple(methods)
    policies = dict(policies or {})
    clash = [name for name in policies if name in BUILTIN_METHODS]
    if clash:
        raise ValueError(f"policy names {clash} clash with built-in methods; rename them")
    base_kw = {"horizon": cfg.horizon, "steps_per_action": cfg.steps_per_action, **env_kwargs}
    out_path = Path(out) if out is not None else None
    if out_path is not None:
        out_path.mkdir(parents=True, exist_ok=True)
        run_info = {"config": dataclasses.asdict(cfg), "env_kwargs": {k: str(v) for k, v in base_kw.items()},
                    "user_policies": list(policies), "seeds": seeds if not isinstance(seeds, range) else list(seeds),
                    "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "machine": machine_description()}
        config_file = out_path / "config.json"
        if merge and config_file.exists():  # keep the original run's record; list the merged runs
            record = json.loads(config_file.read_text())
            record.setdefault("merged_runs", []).append(run_info)
        else:
            record = run_info
        atomic_write(config_file, json.dumps(record, indent=2, default=str))
    t_start = time.perf_counter()

    def log(msg: str) -> None:
        if verbose:
            print(f"[{time.perf_counter() - t_start:6.0f}s] {msg}", flush=True)

    rows: list[dict] = []
    schedules: dict[str, dict[str, list[dict]]] = {}
    notes: dict[str, list[str]] = {}
    shared: dict = {}
    if merge and out_path is not None and (out_path / "results.csv").exists():
        rerun = set(cfg.methods) | set(policies)
        with open(out_path / "results.csv") as f:
            rows = [_typed(r) for r in csv.DictReader(f) if not (r["task"] in cfg.tasks and r["method"] in rerun)]
        old_sched = out_path / "schedules.json"
        if old_sched.exists():
            schedules = {t: {m: v for m, v in ms.items() if not (t in cfg.tasks and m in rerun)}
                         for t, ms in json.loads(old_sched.read_text()).items()}
        old_notes = out_path / "notes.json"
        if old_notes.exists():
            notes = {t: [n for n in ns if not (t in cfg.tasks and any(n.startswith(m) for m in rerun))]
                     for t, ns in json.loads(old_notes.read_text()).items()}
        log(f"merge: kept {len(rows)} rows of {out_path / 'results.csv'}")
    if "RR meta (synthetic)" in cfg.methods:
        log(f"meta-training RecurrentReinforce on the synthetic family ({cfg.synthetic_meta_episodes} episodes)")
        shared["rr_synthetic"] = _train_rr(cfg, {**base_kw, "task": "synthetic"}, cfg.synthetic_meta_episodes)
        log(f"  done: {shared['rr_synthetic'][1]} child SGD steps, {shared['rr_synthetic'][2]:.0f} s")

    for task_name in cfg.tasks:
        kw = {**base_kw, "task": _resolve_task(task_name)}
        if seeds is None:
            n = cfg.headline_seeds if task_name == cfg.headline_task else cfg.seeds
            task_seeds = _eval_seeds(n)
        elif isinstance(seeds, (int, np.integer)):
            task_seeds = _eval_seeds(int(seeds))
        else:
            task_seeds = [int(s) for s in seeds]
        runner = _Runner(cfg, kw, task_seeds, shared)
        runner.notes = notes.setdefault(task_name, [])
        schedules.setdefault(task_name, {})
        entries = [(m, None) for m in cfg.methods] + [(name, p) for name, p in policies.items()]
        for name, user in entries:
            t0 = time.perf_counter()
            try:
                if user is None:
                    results = runner.run(name)
                else:
                    results = runner.policy(_instantiate(user, kw))
            except ImportError as err:  # optional extras (optuna, sb3-contrib): skip, say so
                runner.notes.append(f"{name} skipped: {err}")
                log(f"{task_name}: {name} SKIPPED ({err})")
                continue
            rows += _rows(task_name, name, results, "built-in" if user is None else "user")
            schedules[task_name][name] = results[0].schedule
            acc = [r.test_accuracy for r in results]
            log(f"{task_name}: {name:<20} test acc {np.mean(acc):.4f} (n={len(acc)}), "
                f"{time.perf_counter() - t0:.0f} s")
            if out_path is not None:
                write_csv(rows, out_path / "results.csv")
        if out_path is not None:
            write_outputs(rows, out_path, schedules=schedules, notes=notes, cfg=cfg)
    log(f"benchmark finished in {time.perf_counter() - t_start:.0f} s")
    if out_path is not None:
        write_outputs(rows, out_path, schedules=schedules, notes=notes, cfg=cfg,
                      total_wall_s=time.perf_counter() - t_start)
    return rows


# ---------------------------------------------------------------------- outputs
def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} CPU cores, torch {torch.__version__} "
            f"({torch.get_num_threads()} thread), {platform.system()} {platform.release()}")


def _typed(row: dict) -> dict:
    """A row read back from results.csv with its numbers and flags as Python values."""
    out = dict(row)
    for key in ("seed", "sgd_steps", "meta_train_sgd_steps"):
        out[key] = int(float(row[key]))
    for key in ("test_accuracy", "val_accuracy", "wall_time_s", "meta_train_wall_time_s", "episode_return"):
        out[key] = float(row[key])
    out["diverged"] = str(row["diverged"]) == "True"
    return out


def write_csv(rows: list[dict], path: Path) -> None:
    text = io.StringIO()
    w = csv.DictWriter(text, fieldnames=CSV_COLUMNS)
    w.writeheader()
    for r in rows:
        w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    atomic_write(path, text.getvalue())


def summarize_rows(rows: list[dict]) -> dict[str, dict[str, dict]]:
    """``{task: {method: stats}}`` with mean, 95% bootstrap CI, IQM, n and mean costs, in row order."""
    out: dict[str, dict[str, dict]] = {}
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        groups.setdefault((r["task"], r["method"]), []).append(r)
    for (task, method), rs in groups.items():
        acc = np.array([float(r["test_accuracy"]) for r in rs])
        lo, hi = bootstrap_ci(acc)
        out.setdefault(task, {})[method] = {
            "mean": float(acc.mean()), "ci_low": lo, "ci_high": hi, "iqm": iqm(acc), "n": len(acc),
            "sgd_steps": float(np.mean([float(r["sgd_steps"]) for r in rs])),
            "wall_time_s": float(np.mean([float(r["wall_time_s"]) for r in rs])),
            "meta_train_sgd_steps": float(rs[0]["meta_train_sgd_steps"]),
            "meta_train_wall_time_s": float(rs[0]["meta_train_wall_time_s"]),
            "diverged": int(sum(str(r["diverged"]) == "True" for r in rs)),
            "source": rs[0].get("source", "built-in"),
        }
    return out


def verdicts(stats: dict[str, dict]) -> list[str]:
    """Where each RecurrentReinforce variant loses to / beats another method (non-overlapping 95% CIs)."""
    lines = []
    for rr in RR_METHODS:
        if rr not in stats or np.isnan(stats[rr]["ci_low"]):
            continue
        s = stats[rr]
        loses = [m for m, o in stats.items() if m != rr and o["ci_low"] > s["ci_high"]]
        beats = [m for m, o in stats.items() if m != rr and o["ci_high"] < s["ci_low"]]
        ties = len(stats) - 1 - len(loses) - len(beats)
        parts = []
        if loses:
            parts.append("**loses to** " + ", ".join(loses))
        if beats:
            parts.append("beats " + ", ".join(beats))
        parts.append(f"overlaps with {ties} other method(s)")
        lines.append(f"- {rr}: " + "; ".join(parts) + ".")
    return lines


def _fmt_steps(x: float) -> str:
    return f"{x:,.0f}" if x else "0"


def markdown(rows: list[dict], notes: dict[str, list[str]] | None = None, cfg: BenchConfig | None = None,
             total_wall_s: float | None = None) -> str:
    """The Markdown report: one table per task, and the verdicts on RecurrentReinforce."""
    stats = summarize_rows(rows)
    lines = ["# hpenv comparison benchmark", "",
             f"Date: {time.strftime('%Y-%m-%d')}. Machine: {machine_description()}."]
    if cfg is not None:
        lines += [f"Episodes: horizon {cfg.horizon} x {cfg.steps_per_action} SGD steps (batch 32) = "
                  f"{cfg.horizon * cfg.steps_per_action} child SGD steps per episode. "
                  f"Random search / TPE: k={cfg.search_k}, budget split; PBT: population {cfg.pbt_population}; "
                  f"meta-training: RR {cfg.meta_episodes} episodes on the target, {cfg.synthetic_meta_episodes} "
                  f"on the synthetic family; PPO / RecurrentPPO {cfg.sb3_episodes}; NAS controller "
                  f"{cfg.nas_episodes}; grid oracle: every tuple on {cfg.grid_selection_seeds} selection seed(s), "
                  f"its top {cfg.grid_confirm_top} on {cfg.grid_confirm_seeds} more."]
    if total_wall_s is not None:
        lines.append(f"Wall time of the run that wrote this file: {total_wall_s / 60:.1f} min.")
    lines += ["", "Test accuracy of the final child (test split only), mean with 95% bootstrap interval, "
              "interquartile mean (IQM); compute per evaluation seed (child SGD steps, wall time) and the "
              "one-off cost paid before deployment (meta-training / search on selection seeds). "
              "Sorted by mean. Paired: every method trains the same evaluation children (seeds 2^31 + i).", ""]
    for task, ms in stats.items():
        n = max(s["n"] for s in ms.values())
        lines += [f"## {task} ({n} seeds)", "",
                  "| method | test accuracy, mean [95% CI] | IQM | SGD steps / seed | wall s / seed | "
                  "one-off SGD steps | one-off wall s | diverged |",
                  "|---|---|---|---:|---:|---:|---:|---:|"]
        for m, s in sorted(ms.items(), key=lambda kv: -kv[1]["mean"]):
            label = f"{m} (user)" if s["source"] == "user" else m
            if m in RR_METHODS:
                label = f"**{label}**"
            lines.append(
                f"| {label} | {s['mean']:.4f} [{s['ci_low']:.4f}, {s['ci_high']:.4f}] | {s['iqm']:.4f} | "
                f"{_fmt_steps(s['sgd_steps'])} | {s['wall_time_s']:.2f} | {_fmt_steps(s['meta_train_sgd_steps'])} | "
                f"{s['meta_train_wall_time_s']:.0f} | {s['diverged']}/{s['n']} |")
        v = verdicts(ms)
        if v:
            caveat = "" if n >= 5 else f" With {n} seeds the intervals are unreliable: indicative only."
            lines += ["", f"RecurrentReinforce (non-overlapping 95% intervals only).{caveat}"] + v
        for note in (notes or {}).get(task, []):
            lines.append(f"- note: {note}")
        lines.append("")
    return "\n".join(lines) + "\n"


def write_outputs(rows: list[dict], out: Path, *, schedules: dict | None = None, notes: dict | None = None,
                  cfg: BenchConfig | None = None, total_wall_s: float | None = None) -> None:
    """Write results.csv, results.md, accuracy_vs_compute.png, schedules.png (and schedules.json)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_csv(rows, out / "results.csv")
    atomic_write(out / "results.md", markdown(rows, notes, cfg, total_wall_s))
    if schedules is not None:
        atomic_write(out / "schedules.json", json.dumps(schedules, default=float))
    if notes is not None:
        atomic_write(out / "notes.json", json.dumps(notes, indent=1))
    plot_accuracy_vs_compute(rows, out / "accuracy_vs_compute.png")
    plot_schedules(schedules or {}, out / "schedules.png")


def _colors(methods: list[str]) -> dict[str, Any]:
    import matplotlib

    cmap = matplotlib.colormaps["tab20"]
    return {m: cmap(i % 20) for i, m in enumerate(methods)}


def plot_accuracy_vs_compute(rows: list[dict], path: Path) -> None:
    """Mean test accuracy (95% CI bars) against total child SGD steps per result, one panel per task.

    A dot is deployment compute plus the one-off cost; a thin line runs left to the deployment
    compute alone, so meta-training and search costs are visible.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stats = summarize_rows(rows)
    if not stats:
        return
    methods = list(dict.fromkeys(r["method"] for r in rows))
    colors = _colors(methods)
    n = len(stats)
    cols = min(n, 2)
    nrows = (n + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(6.2 * cols, 4.2 * nrows), squeeze=False)
    for ax, (task, ms) in zip(axes.flat, stats.items()):
        for m, s in ms.items():
            deploy = max(s["sgd_steps"], 1.0)
            total = deploy + s["meta_train_sgd_steps"]
            err = np.array([[s["mean"] - s["ci_low"]], [s["ci_high"] - s["mean"]]])
            err = None if np.isnan(err).any() else np.clip(err, 0, None)
            marker = "*" if m in RR_METHODS else ("D" if s["source"] == "user" else "o")
            ax.errorbar(total, s["mean"], yerr=err, fmt=marker, color=colors[m], ms=8 if marker == "*" else 5,
                        capsize=2, label=m)
            if total > deploy:
                ax.plot([deploy, total], [s["mean"], s["mean"]], color=colors[m], lw=0.8, alpha=0.6)
        ax.set_xscale("log")
        ax.set_title(task)
        ax.set_xlabel("child SGD steps per result (incl. one-off cost; line: deployment only)")
        ax.set_ylabel("test accuracy")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    seen = dict(zip(labels, handles))
    for ax in list(axes.flat)[1:n]:
        h, lab = ax.get_legend_handles_labels()
        for k, v in zip(lab, h):
            seen.setdefault(k, v)
    fig.tight_layout()
    fig.legend(seen.values(), seen.keys(), loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8,
               title="* RecurrentReinforce, ◆ user", title_fontsize=8)
    fig.savefig(path, dpi=80, bbox_inches="tight")
    plt.close(fig)


def plot_schedules(schedules: dict[str, dict[str, list[dict]]], path: Path) -> None:
    """Hyper-parameters each method applied over its episode (first evaluation seed), per task."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = [t for t, ms in schedules.items() if ms]
    if not tasks:
        return
    names = [k for k in next(iter(next(iter(schedules[tasks[0]].values())) or [{}])) if k != "val_accuracy"]
    names = [n for n in ("learning_rate", "depth", "dropout", "momentum", "weight_decay", "batch_size") if n in names] \
        or names
    methods = list(dict.fromkeys(m for t in tasks for m in schedules[t]))
    colors = _colors(methods)
    fig, axes = plt.subplots(len(tasks), len(names) + 1, figsize=(3.1 * (len(names) + 1), 2.5 * len(tasks)),
                             squeeze=False)
    for row, task in zip(axes, tasks):
        for m, sched in schedules[task].items():
            if not sched:
                continue
            x = np.linspace(0, 1, len(sched) + 1)
            for ax, key in zip(row, names + ["val_accuracy"]):
                y = [s.get(key, np.nan) for s in sched]
                ax.step(x, y + [y[-1]], where="post", color=colors[m], lw=1.6 if m in RR_METHODS else 1.0,
                        label=m, alpha=0.9)
        for ax, key in zip(row, names + ["val_accuracy"]):
            ax.set_title(f"{task}: {key}", fontsize=9)
            if key == "learning_rate":
                ax.set_yscale("log")
            ax.tick_params(labelsize=7)
        row[0].set_xlabel("fraction of the episode", fontsize=8)
    seen: dict = {}
    for ax in axes[:, 0]:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(lab, h)
    fig.tight_layout()
    fig.legend(seen.values(), seen.keys(), loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7)
    fig.savefig(path, dpi=70, bbox_inches="tight")
    plt.close(fig)


# ---------------------------------------------------------------------- CLI
def main(args: argparse.Namespace) -> int:
    """``hptune bench``: ``--out DIR [--quick] [--agent module:Name ...] [--tasks a,b] [--seeds N]``."""
    cfg = dataclasses.replace(PRESETS["quick" if args.quick else "full"])
    policies = {}
    for spec in args.agent or []:
        name = spec.rsplit(":", 1)[-1].split(".")[-1]
        policies[name if name not in policies else spec] = load_agent(spec)
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()] if getattr(args, "tasks", None) else None
    methods = getattr(args, "methods", None)
    rows = benchmark(policies, tasks=tasks, seeds=getattr(args, "seeds", None), out=args.out, config=cfg,
                     methods=methods, merge=bool(getattr(args, "merge", False)))
    print()
    print((Path(args.out) / "results.md").read_text())
    print(f"wrote {len(rows)} rows to {Path(args.out) / 'results.csv'}")
    return 0
