"""Methods of the benchmark, registered by name; a user's ``pkg.mod:Name`` resolves the same way.

A method has two phases:

* ``prepare(ctx)``, once per suite: anything chosen or learned before deployment (a constant
  chosen on selection members, meta-training on train members). It may only use
  ``ctx.selection`` (results on selection members) and the suite's train members; the SGD
  steps it runs are its ``one_off_sgd_steps``.
* ``run(ctx, member, seeds)``: deploy on one test member, one child per seed; returns one
  :class:`agents.engine.EpisodeRecord` per seed. The deployed child trains exactly one episode
  (``E = horizon * steps_per_action`` SGD steps); candidates a search tries besides it are its
  ``search_sgd_steps``.

Built-in methods are in :data:`METHODS` (``register_method`` adds one); ``resolve_method(spec)``
takes a registered name or ``"package.module:Name"`` (a policy class taking the env, an object
with ``predict``, or a callable ``obs -> action``), so a user's policy is run exactly like
``fixed default``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib
import inspect
import json
import os
import sys
import time
from typing import Any, Callable

import gymnasium as gym
import numpy as np

import hpenv
from agents import search
from agents.baselines import DEFAULT_TUPLE, FixedPolicy, ReduceOnPlateauPolicy
from agents.engine import EpisodeLog, EpisodeRecord, evaluate_policy, schedule_episodes, static_episodes
from agents.options import with_entropy_decay
from agents.bench.common import DEPLOY_CHUNK, write_atomic
from agents.seeds import SELECTION

__all__ = ["Method", "PolicyMethod", "METHODS", "REFERENCES", "register_method", "resolve_method",
           "load_agent", "DEFAULT_METHODS"]


class Method:
    """Base class: a name, a one-off cost, ``prepare`` and ``run``."""

    name: str = ""
    source: str = "built-in"
    extras: tuple[str, ...] = ()
    """Optional extras (:data:`hpenv.extras.EXTRAS`) the method imports; the benchmark checks them
    for every method before it trains any child."""
    version: str = "1"
    """The label the v2 ledger files the method under; a change after a test result is a new label."""
    learned: bool = False
    """Meta-trained: benchmark v2 prepares (and reports) it once per meta-training seed."""
    replayable: bool = True
    """Each deployed child is reproduced by its member, seed and applied schedule alone (``hptune
    bench --verify`` replays it); False where the child's weights came from other children (PBT)."""

    def __init__(self) -> None:
        self.one_off_sgd_steps = 0
        self.one_off_wall_time_s = 0.0
        self.note = ""

    def settings(self) -> dict:
        """Everything that changes what the method does (JSON), for the ledger's fingerprint."""
        return {}

    def prepare(self, ctx) -> None:  # noqa: B027  (optional hook)
        """Choose or learn anything needed before deployment (train / selection members only)."""

    def run(self, ctx, member: str, seeds: list[int]) -> list[EpisodeRecord]:
        raise NotImplementedError


METHODS: dict[str, Callable[[], Method]] = {}


def register_method(name: str) -> Callable:
    """Class decorator: ``@register_method("my method")`` makes ``resolve_method("my method")`` build it."""

    def deco(cls):
        cls.name = name
        METHODS[name] = cls
        return cls

    return deco


# ---------------------------------------------------------------------- policies (built-in and users')
def load_agent(spec: str) -> Any:
    """Import ``"package.module:Name"`` and return ``Name`` (a class, an object or a callable).

    The current directory is put on ``sys.path`` first (as ``python -m`` does).
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


class PolicyMethod(Method):
    """A policy deployed greedily on every test child.

    ``policy``: a class taking the env (built once per suite with ``gym.make(hpenv.ENV_ID, ...)``),
    an object with ``predict(obs, state=None, episode_start=True, deterministic=True)``, or a
    callable ``obs -> action``.
    """

    def __init__(self, name: str, policy: Any, source: str = "user"):
        super().__init__()
        self.name, self.policy, self.source = name, policy, source
        self._built = None

    def prepare(self, ctx) -> None:
        obj = self.policy
        if inspect.isclass(obj):
            obj = obj(gym.make(hpenv.ENV_ID, task=ctx.suite.members("selection")[0], **ctx.env_kwargs))
        elif not (callable(obj) or callable(getattr(obj, "predict", None))):
            raise TypeError(f"a policy must be a class taking the env, an object with predict(...), or a "
                            f"callable obs -> action; got {type(obj).__name__}")
        self._built = obj

    def run(self, ctx, member, seeds):
        results = evaluate_policy(self._built, seeds, chunk=DEPLOY_CHUNK, task=member, **ctx.env_kwargs)
        return results


@register_method("fixed default")
class FixedDefault(PolicyMethod):
    """:data:`agents.baselines.DEFAULT_TUPLE` at every step (depth 4, no dropout, lr 0.03, Nesterov 0.9)."""

    def __init__(self):
        super().__init__("fixed default", None, source="built-in")

    def prepare(self, ctx):
        self._built = FixedPolicy(ctx.space, DEFAULT_TUPLE)


class _ChosenOnSelection(Method):
    """A candidate of one family (``kind``: "static" or "schedule") chosen by the selection run;
    that run is its one-off cost."""

    kind = ""

    def prepare(self, ctx):
        sel = ctx.selection
        self.index = int(sel[f"{self.kind}_best"])
        self.one_off_sgd_steps = int(sel[f"{self.kind}_sgd_steps"])
        self.one_off_wall_time_s = float(sel[f"{self.kind}_wall_time_s"])
        self.note = f"chose {self.describe(ctx)} on the selection members"

    def describe(self, ctx) -> str:
        raise NotImplementedError


@register_method("best static tuple")
class BestStatic(_ChosenOnSelection):
    """The candidate tuple with the best mean validation accuracy over the selection members.

    Its test-member results are the candidate grid's children for that tuple (the headroom
    gate trains them anyway), so this reference and the per-member oracle pair exactly.
    """

    kind = "static"

    def describe(self, ctx) -> str:
        return str(ctx.space.decode(ctx.candidates[self.index]))

    def settings(self) -> dict:
        return {"tuple": self.tuple.tolist()}

    def prepare(self, ctx):
        super().prepare(ctx)
        self.tuple = np.asarray(ctx.candidates[self.index], dtype=np.int64)

    def run(self, ctx, member, seeds):
        # alone (DEPLOY_CHUNK), as the v1 test grid trains it: the same child as the oracle's bit for bit
        results, _ = static_episodes(np.repeat(self.tuple[None], len(seeds), 0), seeds, chunk=DEPLOY_CHUNK,
                                     task=member, **ctx.env_kwargs)
        return [dataclasses.replace(r, chosen=ctx.space.decode(self.tuple)) for r in results]


@register_method("best fixed schedule")
class BestSchedule(_ChosenOnSelection):
    """The candidate learning-rate schedule (cosine or step decay from a start tuple) with the best
    mean validation accuracy over the selection members."""

    kind = "schedule"

    def describe(self, ctx) -> str:
        return ctx.schedule_names[self.index]

    def settings(self) -> dict:
        return {"schedule": self.schedule.tolist()}

    def prepare(self, ctx):
        super().prepare(ctx)
        self.schedule = np.asarray(ctx.schedules[self.index], dtype=np.int64)

    def run(self, ctx, member, seeds):
        sched = self.schedule
        results, _ = schedule_episodes(np.repeat(sched[None], len(seeds), 0), seeds, chunk=DEPLOY_CHUNK,
                                       task=member, **ctx.env_kwargs)
        return results


@register_method("reduce on plateau")
class ReduceOnPlateau(Method):
    """The classic state-dependent rule (:class:`agents.baselines.ReduceOnPlateauPolicy`): from the
    best static tuple, lower the learning rate when validation accuracy stops improving; a
    controller that reads the state must beat it.

    ``patience`` and ``factor_steps`` are chosen among :attr:`PATIENCE` x :attr:`FACTOR_STEPS`
    (the first in that order on ties) by mean validation accuracy on the selection members x
    selection seeds. Its one-off cost is that choice plus the static-tuple selection it starts from.
    """

    version = "1"
    PATIENCE = (1, 2, 3)
    FACTOR_STEPS = (1, 2)
    MIN_DELTA = 0.0

    def settings(self) -> dict:
        return {"start": "best static tuple", "patience": list(self.PATIENCE),
                "factor_steps": list(self.FACTOR_STEPS), "min_delta": self.MIN_DELTA}

    def prepare(self, ctx):
        start = ctx.candidates[ctx.selection["static_best"]]
        settings = [(p, f) for p in self.PATIENCE for f in self.FACTOR_STEPS]
        policies = [ReduceOnPlateauPolicy(ctx.space, start, patience=p, factor_steps=f, min_delta=self.MIN_DELTA)
                    for p, f in settings]
        seeds = ctx.selection_seeds()
        val = np.zeros((len(ctx.selection_members()), len(policies)))
        self.one_off_sgd_steps = int(ctx.selection["static_sgd_steps"])
        t0 = time.perf_counter()
        for i, member in enumerate(ctx.selection_members()):
            venv = gym.make_vec(hpenv.ENV_ID, num_envs=len(seeds), vectorization_mode="vector_entry_point",
                                task=member, **ctx.env_kwargs)
            for k, policy in enumerate(policies):
                results = evaluate_policy(policy, seeds, env=venv)
                val[i, k] = np.mean([r.val_accuracy for r in results])
                self.one_off_sgd_steps += sum(r.sgd_steps for r in results)
            venv.close()
        self.one_off_wall_time_s = float(ctx.selection["static_wall_time_s"]) + time.perf_counter() - t0
        best = int(np.argmax(val.mean(0)))
        self.policy = policies[best]
        self.note = (f"from {ctx.space.decode(start)}: patience {settings[best][0]}, factor_steps {settings[best][1]} "
                     f"chosen on the selection members by validation accuracy (patience/factor_steps "
                     + ", ".join(f"{p}/{f} {v:.4f}" for (p, f), v in zip(settings, val.mean(0))) + ")")

    def run(self, ctx, member, seeds):
        return evaluate_policy(self.policy, seeds, chunk=DEPLOY_CHUNK, task=member, **ctx.env_kwargs)


class _BudgetedSearch(Method):
    """A search whose compute per deployed child is the protocol's (``search_*`` budgets)."""

    def prepare(self, ctx):
        p = ctx.protocol
        self.budget = {"search_budget_episodes": p.search_budget_episodes, "search_candidates": p.search_candidates,
                       "tpe_startup_trials": p.tpe_startup_trials, "pbt_interval": p.pbt_interval, "seed": p.seed}

    def settings(self) -> dict:
        return dict(self.budget)


class _PerMemberSearch(_BudgetedSearch):
    """A search at every test child: its candidates cost ``search_budget_episodes * E`` SGD steps,
    then the winner is retrained for one episode (the deployed child)."""

    def run(self, ctx, member, seeds):
        budget = ctx.protocol.search_budget_episodes * ctx.episode_steps
        return [self.search(ctx, s, budget, {**ctx.env_kwargs, "task": member}) for s in seeds]


@register_method("random search")
class RandomSearch(_PerMemberSearch):
    def search(self, ctx, seed, budget, kw):
        return search.random_search(seed, ctx.protocol.search_candidates, rng_seed=ctx.protocol.seed,
                                    budget=budget, deploy=True, **kw)


@register_method("TPE")
class TPE(_PerMemberSearch):
    extras = ("optuna",)

    def search(self, ctx, seed, budget, kw):
        p = ctx.protocol
        return search.tpe_search(seed, p.search_candidates, n_startup_trials=p.tpe_startup_trials,
                                 sampler_seed=p.seed, budget=budget, deploy=True, **kw)


@register_method("successive halving")
class SuccessiveHalving(_PerMemberSearch):
    def search(self, ctx, seed, budget, kw):
        return search.successive_halving(seed, ctx.protocol.search_candidates, eta=2, budget=budget,
                                         rng_seed=ctx.protocol.seed, deploy=True, **kw)


@register_method("PBT")
class PBT(_BudgetedSearch):
    """Population-based training: ``1 + search_budget_episodes`` children side by side (the same
    total compute as the other searches); the best lineage is the deployed child. Its weights were
    copied from other children at exploit steps, so the schedule alone does not replay it."""

    replayable = False

    def run(self, ctx, member, seeds):
        p = ctx.protocol
        return [search.pbt(s, 1 + p.search_budget_episodes, interval=p.pbt_interval, rng_seed=p.seed,
                           task=member, **ctx.env_kwargs) for s in seeds]


@register_method("PBT (Ray Tune)")
class PBTRayTune(_BudgetedSearch):
    """:class:`PBT` with every member a Ray Tune trial (:func:`agents.pbt_tune.pbt_tune`): the
    same members, seeds and compute, each SGD step counted as it runs. Not a default method:
    on one machine Tune's trial scheduling and checkpoints cost far more than the training."""

    extras = ("ray",)
    replayable = False

    def run(self, ctx, member, seeds):
        from agents.pbt_tune import pbt_tune  # imported here: Ray is slow to import

        p = ctx.protocol
        return [pbt_tune(s, 1 + p.search_budget_episodes, interval=p.pbt_interval, rng_seed=p.seed,
                         task=member, **ctx.env_kwargs) for s in seeds]


class EpisodeRecorder(gym.Wrapper):
    """Records the last episode of an HPTune env that someone else drives (the online learner) as
    an :class:`~agents.engine.EpisodeRecord`, the way :func:`agents.engine.play_episodes` records."""

    def reset(self, **kwargs):
        self.log = EpisodeLog()
        return self.env.reset(**kwargs)

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.log.add(reward, info)
        return obs, reward, terminated, truncated, info

    def result(self, seed: int, wall_time_s: float) -> EpisodeRecord:
        return self.log.record(seed, wall_time_s)


class CountingVectorEnv(gym.vector.VectorWrapper):
    """Counts the child SGD steps an HPTune vector env actually runs (from ``info["sgd_steps"]``,
    each child's count within its episode: a rise is training, a reset starts again from 0)."""

    def __init__(self, env):
        super().__init__(env)
        self.sgd_steps = 0
        self._last = np.zeros(env.num_envs, dtype=np.int64)

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        self._last[:] = 0
        return obs, info

    def step(self, actions):
        obs, reward, terminated, truncated, info = self.env.step(actions)
        now = np.asarray(info["sgd_steps"], dtype=np.int64)
        self.sgd_steps += int(np.maximum(now - self._last, 0).sum())
        self._last = now.copy()
        return obs, reward, terminated, truncated, info


#: The action spaces RecurrentReinforce can be meta-trained with (env arguments beside the suite's).
RR_SPACES: dict[str, dict] = {
    "absolute": {},
    "relative_lr": {"relative_actions": {"learning_rate": 1}},  # learning rate x1/3, x1, x3 of the current one
}


@register_method("RR meta (train members)")
class RRMeta(Method):
    """RecurrentReinforce meta-trained on the suite's train members, deployed greedily.

    One agent is meta-trained per action space of ``Protocol.rr_spaces`` (absolute tuples; the
    learning rate as relative moves) with the protocol's settings (``Protocol.rr``: batches of
    64 children in groups of 8 that share a member and an initial child, a leave-one-out
    baseline); the one whose greedy children reach the best mean validation accuracy on the
    selection members x ``rr_selection_seeds`` seeds is deployed. Every meta-training and that
    selection are its one-off cost. Agents are cached in the run folder by their settings, so
    methods that deploy the same agent share it. Subclasses change one setting (``overrides``,
    ``spaces``) for the README's ablations.
    """

    learned = True
    overrides: dict = {}
    """RecurrentReinforce options that differ from the protocol's (``num_envs``, ``episodes`` too)."""
    spaces: tuple[str, ...] | None = None
    """The action spaces (keys of :data:`RR_SPACES`) to choose among; None: ``Protocol.rr_spaces``."""

    def agent_settings(self, p) -> dict:
        """``{"episodes", "num_envs", "agent"}``: the agent's :class:`RecurrentReinforceConfig` fields
        (``Protocol.rr`` with the protocol's seed and batch, then ``overrides``)."""
        episodes = self.overrides.get("episodes", p.rr_meta_episodes)
        num_envs = self.overrides.get("num_envs", p.num_envs)
        own = {k: v for k, v in self.overrides.items() if k not in ("episodes", "num_envs")}
        agent = with_entropy_decay(dataclasses.replace(p.rr, seed=p.seed, episodes_per_update=num_envs, **own),
                                   episodes)
        return {"episodes": episodes, "num_envs": num_envs, "agent": dataclasses.asdict(agent)}

    def env_kwargs(self, ctx) -> dict:
        return {**ctx.env_kwargs, **RR_SPACES[self.space]}

    def prepare(self, ctx):
        p = ctx.protocol
        spaces = self.spaces or p.rr_spaces
        trained = {space: self.meta_train(ctx, space) for space in spaces}
        self.one_off_sgd_steps = sum(t["sgd_steps"] for t in trained.values())
        self.one_off_wall_time_s = sum(t["wall_time_s"] for t in trained.values())
        choice = ""
        if len(spaces) == 1:
            self.space = spaces[0]
        else:  # chosen on selection members, by validation accuracy; that evaluation is one-off cost too
            seeds = SELECTION.seeds(p.rr_selection_seeds)
            scores = {}
            for space, t in trained.items():
                self.space = space
                t0 = time.perf_counter()
                results = [r for m in ctx.selection_members()
                           for r in evaluate_policy(t["agent"], seeds, chunk=len(seeds), task=m,
                                                    **self.env_kwargs(ctx))]
                scores[space] = float(np.mean([r.val_accuracy for r in results]))
                self.one_off_sgd_steps += sum(r.sgd_steps for r in results)
                self.one_off_wall_time_s += time.perf_counter() - t0
            self.space = max(spaces, key=lambda space: scores[space])
            choice = ("action space chosen on the selection members by validation accuracy: "
                      + ", ".join(f"{space} {score:.4f}" for space, score in scores.items()) + "; ")
        chosen = trained[self.space]
        self.agent, self.path = chosen["agent"], chosen["path"]
        self._settings = {"space": self.space, **chosen["settings"]}
        self.note = (f"{choice}deployed: {self.space} actions, meta-trained on {chosen['members']} train members "
                     f"for {chosen['episodes']} episodes")

    def meta_train(self, ctx, space: str) -> dict:
        """Meta-train one agent with ``space`` on the train members (or load it from the cache)."""
        from agents.reinforce import RecurrentReinforce

        settings = self.agent_settings(ctx.protocol)
        key = hashlib.sha256(json.dumps([settings, RR_SPACES[space]], sort_keys=True).encode()).hexdigest()[:12]
        path, meta_file = ctx.cache_dir / f"rr_meta_{key}.pt", ctx.cache_dir / f"rr_meta_{key}.json"
        if path.exists() and meta_file.exists():
            return {**json.loads(meta_file.read_text()), "agent": RecurrentReinforce.load(path), "path": path}
        train = ctx.suite.members("train")
        t0 = time.perf_counter()
        # the train members as one task family: every episode draws one with its reset seed
        venv = CountingVectorEnv(gym.make_vec(hpenv.ENV_ID, num_envs=settings["num_envs"],
                                              task=f"{ctx.suite.name}/train", **ctx.env_kwargs, **RR_SPACES[space]))
        agent = RecurrentReinforce(venv, **settings["agent"])
        agent.learn(settings["episodes"])
        info = {"sgd_steps": venv.sgd_steps, "wall_time_s": time.perf_counter() - t0, "members": len(train),
                "episodes": agent.num_episodes, "space": space, "settings": settings}
        agent.save(path)
        write_atomic(meta_file, json.dumps(info))
        return {**info, "agent": agent, "path": path}

    def settings(self) -> dict:
        return dict(self._settings)

    def __getstate__(self) -> dict:  # the agent (with its envs) stays behind; run reloads it from path
        return {**self.__dict__, "agent": None}

    def run(self, ctx, member, seeds):
        from agents.reinforce import RecurrentReinforce

        if self.agent is None:
            self.agent = RecurrentReinforce.load(self.path)
        results = evaluate_policy(self.agent, seeds, chunk=DEPLOY_CHUNK, task=member, **self.env_kwargs(ctx))
        return results


@register_method("RR meta + online")
class RRMetaOnline(RRMeta):
    """The paper's online mode started from the meta-trained agent (the one ``RR meta`` deploys):
    on every test child a fresh copy of it samples its actions and takes a REINFORCE step every
    ``rr_online_update_every`` env steps while the child trains (truncated backpropagation
    through time). Same child, seed and SGD steps as the greedy deployment; the agent's updates
    cost no child SGD steps."""

    def run(self, ctx, member, seeds):
        from agents.reinforce import RecurrentReinforce

        out = []
        for seed in seeds:
            agent = RecurrentReinforce.load(self.path)
            env = EpisodeRecorder(gym.make(hpenv.ENV_ID, task=member, **self.env_kwargs(ctx)))
            t0 = time.perf_counter()
            agent.learn_online(env, total_steps=env.unwrapped.horizon,
                               update_every=ctx.protocol.rr_online_update_every, seed=seed)
            out.append(env.result(seed, time.perf_counter() - t0))
        return out


# Ablations of RR meta: each changes one setting of "absolute actions only" (README, "what each lever adds").
@register_method("RR ablation: absolute actions only")
class RRAbsolute(RRMeta):
    spaces = ("absolute",)


@register_method("RR ablation: relative learning rate only")
class RRRelative(RRMeta):
    spaces = ("relative_lr",)


@register_method("RR ablation: old defaults (512 episodes in batches of 8; moving average)")
class RROldDefaults(RRMeta):
    spaces = ("absolute",)
    overrides = {"episodes": 512, "num_envs": 8, "group_size": 1, "baseline": "moving_average"}


@register_method("RR ablation: no groups + moving-average baseline")
class RRMovingAverage(RRMeta):
    spaces = ("absolute",)
    overrides = {"group_size": 1, "baseline": "moving_average"}


@register_method("RR ablation: no groups + learned value baseline")
class RRValue(RRMeta):
    spaces = ("absolute",)
    overrides = {"group_size": 1, "baseline": "value"}


@register_method("RR ablation: constant entropy bonus")
class RRConstantEntropy(RRMeta):
    spaces = ("absolute",)
    overrides = {"ent_coef_final": None, "ent_decay_updates": None}


# ---------------------------------------------------------------------- the mission's meta-learning baselines
@contextlib.contextmanager
def _global_rng_kept():
    """Python's, NumPy's and torch's global generators as they were, afterwards: SB3 seeds and draws
    from them, and every method of a run shares the process."""
    import random

    import torch

    python_state, numpy_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        try:
            yield
        finally:
            random.setstate(python_state)
            np.random.set_state(numpy_state)


def _cache_key(*parts) -> str:
    """A short name for everything that identifies one meta-trained agent."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:12]


class _SB3Meta(Method):
    """A Stable-Baselines3 algorithm meta-trained on the suite's train members, deployed greedily.

    Like ``RR meta``: every episode draws a train member (``f"{suite}/train"``) with its reset
    seed; ``Protocol.rr_meta_episodes`` episodes per agent, ``Protocol.num_envs`` children per
    rollout, one whole episode per child per rollout (``n_steps = horizon``), so PPO and A2C
    update once per batch of episodes as RecurrentReinforce does; PPO's minibatch is the whole
    rollout (:func:`agents.sb3.sb3_model`'s defaults, those of ``hptune train``). The model's
    seed is ``Protocol.seed``. One agent is meta-trained per learning rate of
    ``learning_rates``; the one whose greedy children reach the best mean validation accuracy
    on the selection members x selection seeds is deployed (deterministic actions). Every
    meta-training and that selection are its one-off cost. Agents are plain-data checkpoints
    (:func:`agents.sb3.save_sb3`) cached in ``ctx.cache_dir`` by their settings.
    """

    learned = True
    version = "1"
    algorithm = ""
    """A key of :data:`agents.sb3.POLICY_NAMES`."""
    learning_rates: tuple[float, ...] = ()
    """The candidates, chosen among on selection members: the library's default and about 3x it."""

    def settings(self) -> dict:
        from agents.options import SB3Settings

        return {"algorithm": self.algorithm, "learning_rates": list(self.learning_rates),
                "sb3": dataclasses.asdict(SB3Settings()), "deployed": "greedy"}

    def prepare(self, ctx):
        trained = [self.meta_train(ctx, lr) for lr in self.learning_rates]
        scores = [self.selection_score(ctx, t) for t in trained]
        self.one_off_sgd_steps = sum(t["sgd_steps"] + sc["sgd_steps"] for t, sc in zip(trained, scores))
        self.one_off_wall_time_s = sum(t["wall_time_s"] + sc["wall_time_s"] for t, sc in zip(trained, scores))
        best = int(np.argmax([sc["val_accuracy"] for sc in scores]))
        chosen = trained[best]
        self.path, self._policy = chosen["path"], None
        self.note = ("learning rate chosen on the selection members by validation accuracy: "
                     + ", ".join(f"{t['learning_rate']:g} {sc['val_accuracy']:.4f}" for t, sc in zip(trained, scores))
                     + f"; deployed: {chosen['learning_rate']:g}, meta-trained on {chosen['members']} train members "
                       f"for {chosen['episodes']} episodes")

    def meta_train(self, ctx, learning_rate: float) -> dict:
        """Meta-train one model with ``learning_rate`` on the train members (or find it in the cache)."""
        from agents.checkpoint import hp_space_of
        from agents.sb3 import SGDStepCounter, save_sb3, sb3_model, train_sb3
        from hpenv.wrappers import SB3VecEnv
        from stable_baselines3.common.vec_env import VecMonitor

        p = ctx.protocol
        run = {"episodes": p.rr_meta_episodes, "num_envs": p.num_envs, "seed": p.seed,
               "learning_rate": learning_rate, "env": ctx.env_kwargs}
        key = _cache_key(self.settings(), run)
        stem = ctx.cache_dir / f"{self.algorithm}_meta_{key}"
        path, meta_file = stem.with_suffix(".pt"), stem.with_suffix(".json")
        if path.exists() and meta_file.exists():
            return {**json.loads(meta_file.read_text()), "path": path}
        t0 = time.perf_counter()
        children = SB3VecEnv(num_envs=p.num_envs, task=f"{ctx.suite.name}/train", **ctx.env_kwargs)
        venv = SGDStepCounter(children)
        horizon = ctx.env_kwargs["horizon"]
        with _global_rng_kept():  # SB3 seeds and draws from the global generators
            model = sb3_model(self.algorithm, VecMonitor(venv), horizon=horizon, seed=p.seed,
                              learning_rate=learning_rate)
            history = train_sb3(model, p.rr_meta_episodes, horizon)
        info = {"sgd_steps": venv.sgd_steps, "wall_time_s": time.perf_counter() - t0,
                "members": len(ctx.suite.members("train")), "episodes": model.num_timesteps // horizon,
                "learning_rate": learning_rate, "run": run}
        save_sb3(path, model, self.algorithm, hp_space_of(children.venv), history)
        write_atomic(meta_file, json.dumps(info))
        return {**info, "path": path}

    def selection_score(self, ctx, trained: dict) -> dict:
        """Mean validation accuracy of ``trained``'s greedy children on the selection members x seeds (cached)."""
        members, seeds = ctx.selection_members(), ctx.selection_seeds()
        score_file = trained["path"].with_suffix(".selection.json")
        if score_file.exists():
            score = json.loads(score_file.read_text())
            if score["members"] == members and score["seeds"] == seeds:
                return score
        policy = self._load(trained["path"], ctx, members[0])
        t0 = time.perf_counter()
        results = [r for m in members
                   for r in evaluate_policy(policy, seeds, chunk=len(seeds), task=m, **ctx.env_kwargs)]
        score = {"members": members, "seeds": seeds, "val_accuracy": float(np.mean([r.val_accuracy for r in results])),
                 "sgd_steps": sum(r.sgd_steps for r in results), "wall_time_s": time.perf_counter() - t0}
        write_atomic(score_file, json.dumps(score))
        return score

    @staticmethod
    def _load(path, ctx, member: str):
        """The greedy policy of the checkpoint at ``path``, checked against an env of ``member``."""
        from agents.sb3 import SB3Policy, load_sb3, sb3_policy

        env = gym.make(hpenv.ENV_ID, task=member, **ctx.env_kwargs)
        return SB3Policy(sb3_policy(load_sb3(path, env), env, path))

    def run(self, ctx, member, seeds):
        if self._policy is None:  # after unpickling: the weights come back from the checkpoint
            self._policy = self._load(self.path, ctx, member)
        return evaluate_policy(self._policy, seeds, chunk=DEPLOY_CHUNK, task=member, **ctx.env_kwargs)

    def __getstate__(self):
        return {**self.__dict__, "_policy": None}  # a live torch module stays out of the pickle


@register_method("PPO meta (train members)")
class PPOMeta(_SB3Meta):
    algorithm = "ppo"
    learning_rates = (3e-4, 1e-3)


@register_method("A2C meta (train members)")
class A2CMeta(_SB3Meta):
    algorithm = "a2c"
    learning_rates = (7e-4, 2e-3)


@register_method("RecurrentPPO meta (train members)")
class RecurrentPPOMeta(_SB3Meta):
    algorithm = "recurrent-ppo"
    learning_rates = (3e-4, 1e-3)
    extras = ("contrib",)


@register_method("NAS-style controller")
class NASMeta(Method):
    """:class:`agents.search.NASController` (REINFORCE over static tuples, reward = final validation
    accuracy) trained on the suite's train members, deployed as its greedy static tuple.

    Its search budget is RecurrentReinforce's: ``Protocol.rr_meta_episodes`` whole episodes of
    the train members (``E`` SGD steps each), in the controller's own batches of 8 with its
    default learning rate, seeded by ``Protocol.seed``; that search is its one-off cost. The
    controller (its logits) is cached in ``ctx.cache_dir`` as JSON by its settings.
    """

    learned = True
    version = "1"

    def settings(self) -> dict:
        defaults = inspect.signature(search.NASController).parameters
        return {name: defaults[name].default for name in ("learning_rate", "batch", "baseline_decay")}

    def prepare(self, ctx):
        p = ctx.protocol
        key = _cache_key(self.settings(), {"episodes": p.rr_meta_episodes, "seed": p.seed, "env": ctx.env_kwargs})
        path = ctx.cache_dir / f"nas_meta_{key}.json"
        if path.exists():
            info = json.loads(path.read_text())
        else:
            nas = search.NASController(ctx.space, seed=p.seed, **self.settings())
            nas.train(p.rr_meta_episodes, task=f"{ctx.suite.name}/train", **ctx.env_kwargs)
            info = {"tuple": nas.best().tolist(), "sgd_steps": nas.sgd_steps, "wall_time_s": nas.wall_time_s,
                    "episodes": nas.episodes, "logits": [lg.tolist() for lg in nas.logits]}
            write_atomic(path, json.dumps(info))
        self.tuple = np.asarray(info["tuple"], dtype=np.int64)
        self.one_off_sgd_steps, self.one_off_wall_time_s = int(info["sgd_steps"]), float(info["wall_time_s"])
        self.note = (f"searched {info['episodes']} episodes of the train members; deployed "
                     f"{ctx.space.decode(self.tuple)}")

    def run(self, ctx, member, seeds):
        policy = FixedPolicy(ctx.space, ctx.space.decode(self.tuple))
        return evaluate_policy(policy, seeds, chunk=DEPLOY_CHUNK, task=member, **ctx.env_kwargs)


#: The references every method is compared with (paired), in table order.
REFERENCES = ("best static tuple", "best fixed schedule", "fixed default", "random search")
#: What ``hptune bench`` runs by default, in table order.
DEFAULT_METHODS = ("fixed default", "best static tuple", "best fixed schedule", "random search", "TPE",
                   "successive halving", "PBT", "RR meta (train members)", "RR meta + online")


def resolve_method(spec: str | Method, name: str | None = None) -> Method:
    """A :class:`Method` from a registered name, ``"package.module:Name"`` or a Method instance."""
    if isinstance(spec, Method):
        return spec
    if spec in METHODS:
        return METHODS[spec]()
    if ":" in spec:
        obj = load_agent(spec)
        if inspect.isclass(obj) and issubclass(obj, Method):
            m = obj()
            m.name, m.source = name or getattr(obj, "name", "") or spec.rsplit(":", 1)[-1], "user"
            return m
        return PolicyMethod(name or spec.rsplit(":", 1)[-1].split(".")[-1], obj, source="user")
    raise ValueError(f"unknown methods [{spec!r}]; built-in methods: {list(METHODS)} "
                     f"(or package.module:Name for your own)")
