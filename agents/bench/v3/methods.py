"""The methods benchmark v3 runs, each on members whose env arguments differ.

A v3 member is meant for its own env arguments (``hpenv.member_env_kwargs``: its child's width, its
batch size, its SGD steps per action), so a v3 method builds every env through
[`MethodContext.env_kwargs`][agents.bench.v3.methods.MethodContext.env_kwargs] and meta-trains on the
train members through [`agents.member_groups.MemberGroupRunners`][] (one vector env per group of members that
share those arguments). The interface is v2's ([`agents.bench.methods.Method`][]): ``prepare(ctx)`` once per
suite and meta-training seed, on train, dev and selection members only; ``run(ctx, member, seeds)`` one child
per seed on a member, one [`agents.engine.EpisodeRecord`][] each. v2's method classes are not reused: the v2
ledger's fingerprints hash their code, which must stay as it was scored.

Every method lists the modules its behaviour lives in (``code_modules``), which the ledger's fingerprint
hashes ([`agents.bench.v3.ledger.method_code_fingerprint`][]) with its settings; the environment's code is
the ledger's ``env_fingerprint``.

`V3_METHODS` maps the protocol's ``[family]`` names to their classes;
[`resolve_v3_method`][agents.bench.v3.methods.resolve_v3_method] also takes a researcher's
``"package.module:Name"`` (a policy class taking the env, an object with ``predict`` or a callable
``obs -> action``), deployed greedily like the fixed default.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import gymnasium as gym
import numpy as np

import hpenv
from agents import search
from agents.baselines import DEFAULT_TUPLE, FixedPolicy, ReduceOnPlateauPolicy
from agents.bench.common import DEPLOY_CHUNK, write_atomic
from agents.bench.methods.base import Method, load_agent
from agents.bench.v3.budgets import Budgets
from agents.engine import EpisodeRecord, evaluate_policy, schedule_episodes

__all__ = ["MethodContext", "V3_METHODS", "resolve_v3_method", "ScheduleReference", "RuleReference", "GENEROUS",
           "GENEROUS_SEARCHES", "FixedDefault", "ReduceOnPlateau", "RandomSearch", "TPE", "SuccessiveHalving", "PBT",
           "RecurrentReinforceMethod", "RecurrentReinforceV2", "RecurrentReinforceOnline", "PPO", "A2C",
           "RecurrentPPO", "NASController", "UserPolicy"]

#: The one episode loop every deployed child runs through (the method's own module is always hashed).
_ENGINE = ("agents.engine",)


class MethodContext:
    """What a v3 method sees of its run.

    Args:
        suite: The suite's name.
        budgets: The protocol's ``[budgets]``.
        references: What the selection stage chose (``{name: schedule or rule}``,
            [`agents.bench.v3.gates.load_references`][]).
        seed: The meta-training seed (0 for a method that learns nothing).
        cache_dir: Where meta-trained agents are kept (by their settings, so a killed run reuses them).
        selection_seeds: Seeds of the children a method chooses its settings on (validation accuracy).
        env_overrides: Env arguments over every member's own (the device; a shorter episode in a rehearsal).
        members: The train, dev and selection members a method may use (default: the suite's).
    """

    ALLOWED = ("train", "dev", "selection")

    def __init__(self, suite: str, budgets: Budgets, references: dict, *, seed: int, cache_dir: str | Path,
                 selection_seeds: Sequence[int], env_overrides: dict | None = None,
                 members: dict[str, list[str]] | None = None):
        self.suite, self.budgets, self.references, self.seed = suite, budgets, references, int(seed)
        self.cache_dir = Path(cache_dir)
        self.selection_seeds = [int(s) for s in selection_seeds]
        self.env_overrides = dict(env_overrides or {})
        members = members or {}
        self._members = {split: list(members.get(split) or hpenv.instance_set(suite, split)) for split in self.ALLOWED}
        self.space = hpenv.HPSpace.default()

    def members(self, split: str) -> list[str]:
        """The members of ``split``; test and transfer members raise: nothing is chosen or learned on the
        members a benchmark reports."""
        if split not in self.ALLOWED:
            raise ValueError(f"a method's prepare sees the {list(self.ALLOWED)} members of {self.suite} only, not "
                             f"{split!r}: nothing is chosen or learned on the members a benchmark reports")
        return list(self._members[split])

    def env_kwargs(self, member: str) -> dict:
        """The env arguments ``member`` trains with in this run: its own, under ``env_overrides``."""
        return {**hpenv.member_env_kwargs(member), **self.env_overrides}

    def episode_steps(self, member: str) -> int:
        """SGD steps of one whole episode of ``member``."""
        kw = self.env_kwargs(member)
        return int(kw["horizon"]) * int(kw["steps_per_action"])

    def cached(self, stem: str, settings: Any) -> Path:
        """``cache_dir/<stem>_<digest of settings>``, without a suffix: where an agent with ``settings`` lives."""
        key = hashlib.sha256(json.dumps([stem, settings], sort_keys=True, default=str).encode()).hexdigest()[:12]
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        return self.cache_dir / f"{stem}_{key}"


# ---------------------------------------------------------------------- what the selection stage chose
class ScheduleReference(Method):
    """A schedule the selection stage chose on the selection members (a static tuple is a schedule that
    never changes), applied step by step on every member. Its one-off cost is the selection stage's
    (``headroom.csv`` of the gate run), not counted again here."""

    code_modules = _ENGINE
    key = ""
    """The reference's name in the selection stage's ``references.json``."""

    def prepare(self, ctx):
        self.schedule = np.asarray(ctx.references[self.key], dtype=np.int64)
        self.note = f"chosen by the selection stage on the selection members ({self.key})"

    def settings(self) -> dict:
        return {"schedule": self.schedule.tolist()}

    def run(self, ctx, member, seeds):
        rows = np.repeat(self.schedule[None], len(seeds), 0)
        return schedule_episodes(rows, seeds, chunk=DEPLOY_CHUNK, task=member, **ctx.env_kwargs(member))[0]


class BestStatic(ScheduleReference):
    key = "best static tuple"


class BestSchedule(ScheduleReference):
    key = "best fixed schedule"


class RuleReference(Method):
    """The closed-loop rule the selection stage chose on a stream suite's selection members
    ([`agents.baselines.LossJumpPolicy`][]: lower the learning rate when the training loss jumps)."""

    code_modules = (*_ENGINE, "agents.bench.v3.candidates", "agents.baselines")
    key = "best closed-loop rule"

    def prepare(self, ctx):
        if self.key not in ctx.references:
            raise ValueError(f"the closed-loop rule runs on a stream suite; {ctx.suite}'s selection stage chose "
                             f"{sorted(ctx.references)}")
        self.rule = dict(ctx.references[self.key])
        self.note = "chosen by the selection stage on the selection members"

    def settings(self) -> dict:
        return {"rule": self.rule}

    def run(self, ctx, member, seeds):
        from agents.bench.v3.candidates import rule_episodes

        return rule_episodes(ctx.space, [self.rule] * len(seeds), seeds, chunk=DEPLOY_CHUNK, task=member,
                             **ctx.env_kwargs(member))[0]


class _PolicyDeployed(Method):
    """A policy deployed greedily on every child (``self.policy``, set by ``prepare``)."""

    code_modules = (*_ENGINE, "agents.baselines")

    def run(self, ctx, member, seeds):
        return evaluate_policy(self.policy, seeds, chunk=DEPLOY_CHUNK, task=member, **ctx.env_kwargs(member))


class FixedDefault(_PolicyDeployed):
    """`agents.baselines.DEFAULT_TUPLE` at every step: what a user gets without tuning."""

    def prepare(self, ctx):
        self.policy = FixedPolicy(ctx.space, DEFAULT_TUPLE)

    def settings(self) -> dict:
        return {"tuple": DEFAULT_TUPLE}


class ReduceOnPlateau(_PolicyDeployed):
    """From the best static tuple, lower the learning rate when validation accuracy stops improving
    ([`agents.baselines.ReduceOnPlateauPolicy`][]); its patience and step are chosen among `PATIENCE` x
    `FACTOR_STEPS` (the first on ties) by mean validation accuracy on the selection members at the
    selection seeds. That choice is its one-off cost."""

    PATIENCE = (1, 2, 3)
    FACTOR_STEPS = (1, 2)

    def prepare(self, ctx):
        start = np.asarray(ctx.references["best static tuple"], dtype=np.int64)[0]
        choices = [(p, f) for p in self.PATIENCE for f in self.FACTOR_STEPS]
        policies = [ReduceOnPlateauPolicy(ctx.space, start, patience=p, factor_steps=f) for p, f in choices]
        t0, val = time.perf_counter(), np.zeros(len(policies))
        for member in ctx.members("selection"):
            for k, policy in enumerate(policies):
                results = evaluate_policy(policy, ctx.selection_seeds, chunk=len(ctx.selection_seeds), task=member,
                                          **ctx.env_kwargs(member))
                val[k] += np.mean([r.val_accuracy for r in results])
                self.one_off_sgd_steps += sum(r.sgd_steps for r in results)
        self.one_off_wall_time_s = time.perf_counter() - t0
        best = int(np.argmax(val))
        self.policy, self.choice = policies[best], {"start": start.tolist(), "patience": choices[best][0],
                                                    "factor_steps": choices[best][1]}
        self.note = (f"patience {choices[best][0]}, factor_steps {choices[best][1]} chosen on the selection members "
                     f"by validation accuracy")

    def settings(self) -> dict:
        return {"choices": [list(self.PATIENCE), list(self.FACTOR_STEPS)], "chosen": self.choice}


# ---------------------------------------------------------------------- searches at every child
class _Search(Method):
    """A search at every deployed child, with ``budget_episodes`` episodes of the member's compute for its
    candidates (the run's budgets); the winner is retrained for one episode (the deployed child). On a stream
    the candidates train on the data the child has before its data change (a candidate's short run never
    reaches it: a search before training sees what exists then)."""

    code_modules = (*_ENGINE, "agents.search")
    budget_field = "search_budget_episodes"

    def prepare(self, ctx):
        b = ctx.budgets
        self.budget = {"budget_episodes": getattr(b, self.budget_field), "candidates": b.search_candidates,
                       "tpe_startup_trials": b.tpe_startup_trials, "pbt_interval": b.pbt_interval}

    def settings(self) -> dict:
        return dict(self.budget)

    def run(self, ctx, member, seeds):
        from hpenv.instances import member_task
        from hpenv.streams import StreamTask

        budget = self.budget["budget_episodes"] * ctx.episode_steps(member)
        kw = {**ctx.env_kwargs(member), "task": member}
        task = member_task(member)
        if isinstance(task, StreamTask) and not isinstance(self, PBT):  # PBT trains whole episodes
            kw["candidate_task"] = task.phase_task(0)
        return [self.search(s, budget, kw) for s in seeds]

    def search(self, seed: int, budget: int, kw: dict) -> EpisodeRecord:
        raise NotImplementedError


class RandomSearch(_Search):
    def search(self, seed, budget, kw):
        return search.random_search(seed, self.budget["candidates"], budget=budget, deploy=True, **kw)


class TPE(_Search):
    extras = ("optuna",)

    def search(self, seed, budget, kw):
        return search.tpe_search(seed, self.budget["candidates"], n_startup_trials=self.budget["tpe_startup_trials"],
                                 budget=budget, deploy=True, **kw)


class SuccessiveHalving(_Search):
    def search(self, seed, budget, kw):
        return search.successive_halving(seed, self.budget["candidates"], eta=2, budget=budget, deploy=True, **kw)


class PBT(_Search):
    """Population-based training: ``1 + budget_episodes`` children side by side, the best lineage deployed
    (its weights came from other children, so its schedule alone does not replay it)."""

    replayable = False

    def search(self, seed, budget, kw):
        return search.pbt(seed, 1 + self.budget["budget_episodes"], interval=self.budget["pbt_interval"], **kw)


# ---------------------------------------------------------------------- meta-trained on train members
class RecurrentReinforceMethod(_PolicyDeployed):
    """RecurrentReinforce meta-trained on the suite's train members (one vector env per group of members that
    share their env arguments, [`agents.member_groups.MemberGroupRunners`][]), deployed greedily: what
    ``hptune train --task <suite> --seed S`` trains, with the budgets' episodes and batch. The agent is cached
    by its settings; its meta-training is its one-off cost."""

    learned = True
    code_modules = (*_ENGINE, "agents.reinforce", "agents.reinforce_config", "agents.rollout", "agents.policy",
                    "agents.advantages", "agents.online", "agents.member_groups", "agents.options")

    #: Fields of [`agents.reinforce_config.RecurrentReinforceConfig`][] this version sets beyond ``hptune train``'s.
    config_changes: dict = {}

    def agent_settings(self, ctx) -> dict:
        from agents.options import reinforce_settings, with_entropy_decay

        b = ctx.budgets
        config = dataclasses.replace(reinforce_settings(), seed=ctx.seed, episodes_per_update=b.num_envs,
                                     **self.config_changes)
        return {"episodes": b.meta_episodes, "runner_envs": b.runner_envs,
                "agent": dataclasses.asdict(with_entropy_decay(config, b.meta_episodes))}

    def prepare(self, ctx):
        from agents.member_groups import MemberGroupRunners
        from agents.reinforce import RecurrentReinforce
        from agents.reinforce_config import RecurrentReinforceConfig

        settings = self.agent_settings(ctx)
        stem = ctx.cached("recurrent_reinforce", [settings, ctx.env_overrides, ctx.members("train")])
        self.path, info_file = stem.with_suffix(".pt"), stem.with_suffix(".json")
        if not (self.path.exists() and info_file.exists()):
            t0 = time.perf_counter()
            with MemberGroupRunners(ctx.members("train"), settings["runner_envs"],
                                    env_kwargs=ctx.env_overrides) as runners:
                agent = RecurrentReinforce(runners.env(0), config=RecurrentReinforceConfig(**settings["agent"]))
                agent.learn(settings["episodes"], runners=runners)
                agent.save(self.path)
            write_atomic(info_file, json.dumps({"sgd_steps": runners.sgd_steps,
                                                "wall_time_s": time.perf_counter() - t0,
                                                "episodes": agent.num_episodes}))
        info = json.loads(info_file.read_text())
        self.one_off_sgd_steps, self.one_off_wall_time_s = int(info["sgd_steps"]), float(info["wall_time_s"])
        self._settings, self.policy = settings, None
        self.note = f"meta-trained on {len(ctx.members('train'))} train members for {info['episodes']} episodes"

    def settings(self) -> dict:
        return self._settings

    def __getstate__(self) -> dict:  # the agent stays behind; run reloads it from path
        return {**self.__dict__, "policy": None}

    def run(self, ctx, member, seeds):
        from agents.reinforce import RecurrentReinforce

        if self.policy is None:
            self.policy = RecurrentReinforce.load(self.path)
        return super().run(ctx, member, seeds)


class RecurrentReinforceV2(RecurrentReinforceMethod):
    """RecurrentReinforce's version 2, chosen on `v3/stream`'s dev members (issue 29; the results page, "Four
    clipped epochs at 4,096 episodes"): four clipped epochs per batch (``update_epochs=4``) at the protocol's
    meta-training budget, what ``hptune train --task <suite> --seed S --episodes 4096 --update-epochs 4`` trains.
    Scored beside version 1 (``--agent agents.bench.v3.methods:RecurrentReinforceV2``), never in its place:
    version 1 is the protocol's headline controller."""

    name = "RecurrentReinforce v2"
    version = "2"
    config_changes = {"update_epochs": 4}


class RecurrentReinforceOnline(RecurrentReinforceMethod):
    """The paper's online mode from the meta-trained agent: on every child a fresh copy of it samples its
    actions and takes a REINFORCE step every `UPDATE_EVERY` env steps while the child trains."""

    UPDATE_EVERY = 5

    def settings(self) -> dict:
        return {**self._settings, "online_update_every": self.UPDATE_EVERY}

    def run(self, ctx, member, seeds):
        from agents.bench.methods.wrappers import EpisodeRecorder
        from agents.reinforce import RecurrentReinforce

        out = []
        for seed in seeds:
            agent = RecurrentReinforce.load(self.path)
            env = EpisodeRecorder(gym.make(hpenv.ENV_ID, task=member, **ctx.env_kwargs(member)))
            t0 = time.perf_counter()
            agent.learn_online(env, total_steps=env.unwrapped.horizon, update_every=self.UPDATE_EVERY, seed=seed)
            out.append(env.result(seed, time.perf_counter() - t0))
        return out


class _SB3Method(_PolicyDeployed):
    """A Stable-Baselines3 algorithm meta-trained on the suite's train members through
    [`agents.member_groups.MemberGroupsVecEnv`][] (the budgets' ``num_envs`` children split among the member
    groups), deployed greedily. As in ``hptune train --agent``: one whole episode per child per rollout, PPO's
    minibatch the whole rollout, the library's learning rate ([`agents.sb3.sb3_model`][]), seeded by the
    meta-training seed; one setting, so no choice among settings. Its meta-training is its one-off cost; the
    model is a plain-data checkpoint cached by its settings."""

    learned = True
    algorithm = ""
    code_modules = (*_ENGINE, "agents.sb3", "agents.member_groups", "agents.options")

    def prepare(self, ctx):
        from agents.options import SB3Settings
        from stable_baselines3.common.vec_env import VecMonitor

        from agents.checkpoint import hp_space_of
        from agents.member_groups import MemberGroupsVecEnv
        from agents.sb3 import SGDStepCounter, global_rng_kept, save_sb3, sb3_model, train_sb3

        b = ctx.budgets
        self._settings = {"algorithm": self.algorithm, "episodes": b.meta_episodes, "num_envs": b.num_envs,
                          "sb3": dataclasses.asdict(SB3Settings()), "seed": ctx.seed, "deployed": "greedy"}
        stem = ctx.cached(f"{self.algorithm}", [self._settings, ctx.env_overrides, ctx.members("train")])
        self.path, info_file = stem.with_suffix(".pt"), stem.with_suffix(".json")
        if not (self.path.exists() and info_file.exists()):
            t0 = time.perf_counter()
            children = MemberGroupsVecEnv(ctx.members("train"), b.num_envs, env_kwargs=ctx.env_overrides)
            venv = SGDStepCounter(children)
            horizon = int(children.venvs[0].venv.horizon)
            with global_rng_kept():  # SB3 seeds and draws from the global generators
                model = sb3_model(self.algorithm, VecMonitor(venv), horizon=horizon, seed=ctx.seed)
                history = train_sb3(model, b.meta_episodes, horizon)
            save_sb3(self.path, model, self.algorithm, hp_space_of(children.venvs[0].venv), history)
            write_atomic(info_file, json.dumps({"sgd_steps": venv.sgd_steps, "wall_time_s": time.perf_counter() - t0,
                                                "episodes": model.num_timesteps // horizon}))
            children.close()
        info = json.loads(info_file.read_text())
        self.one_off_sgd_steps, self.one_off_wall_time_s = int(info["sgd_steps"]), float(info["wall_time_s"])
        self.policy = None
        self.note = f"meta-trained on {len(ctx.members('train'))} train members for {info['episodes']} episodes"

    def settings(self) -> dict:
        return self._settings

    def __getstate__(self) -> dict:  # a live torch module stays out of the pickle; run rebuilds it
        return {**self.__dict__, "policy": None}

    def run(self, ctx, member, seeds):
        from agents.sb3 import SB3Policy, load_sb3, sb3_policy

        if self.policy is None:
            env = gym.make(hpenv.ENV_ID, task=member, **ctx.env_kwargs(member))
            self.policy = SB3Policy(sb3_policy(load_sb3(self.path, env), env, self.path))
        return super().run(ctx, member, seeds)


class PPO(_SB3Method):
    algorithm = "ppo"


class A2C(_SB3Method):
    algorithm = "a2c"


class RecurrentPPO(_SB3Method):
    algorithm = "recurrent-ppo"
    extras = ("contrib",)


class NASController(_PolicyDeployed):
    """[`agents.search.NASController`][] (REINFORCE over static tuples, reward the final validation accuracy)
    trained for the budgets' meta-training episodes on the train members, deployed as its greedy tuple. Each
    batch of its episodes plays in one group of members that share their env arguments, drawn from the
    meta-training seed and the batch's index with probability proportional to the group's members."""

    learned = True
    code_modules = (*_ENGINE, "agents.search", "agents.member_groups")

    def prepare(self, ctx):
        from agents.member_groups import group_family, group_members

        defaults = inspect.signature(search.NASController).parameters
        self._settings = {"episodes": ctx.budgets.meta_episodes,
                          **{k: defaults[k].default for k in ("learning_rate", "batch", "baseline_decay")}}
        stem = ctx.cached("nas", [self._settings, ctx.seed, ctx.env_overrides, ctx.members("train")])
        path = stem.with_suffix(".json")
        if not path.exists():
            groups = group_members(ctx.members("train"), ctx.env_overrides)
            share = np.array([len(ms) for _, ms in groups], dtype=np.float64)
            nas = search.NASController(ctx.space, seed=ctx.seed, **{k: v for k, v in self._settings.items()
                                                                       if k != "episodes"})
            batch = 0
            while nas.episodes < self._settings["episodes"]:
                g = int(np.random.default_rng([ctx.seed, batch, 0x4A6]).choice(len(groups), p=share / share.sum()))
                kwargs, members = groups[g]
                nas.train(nas.batch, **{**kwargs, "task": group_family(g, members)})
                batch += 1
            write_atomic(path, json.dumps({"tuple": nas.best().tolist(), "sgd_steps": nas.sgd_steps,
                                           "wall_time_s": nas.wall_time_s, "episodes": nas.episodes}))
        info = json.loads(path.read_text())
        self.tuple = np.asarray(info["tuple"], dtype=np.int64)
        self.policy = FixedPolicy(ctx.space, ctx.space.decode(self.tuple))
        self.one_off_sgd_steps, self.one_off_wall_time_s = int(info["sgd_steps"]), float(info["wall_time_s"])
        self.note = f"searched {info['episodes']} episodes of the train members; deployed {ctx.space.decode(self.tuple)}"

    def settings(self) -> dict:
        return self._settings


# ---------------------------------------------------------------------- a researcher's policy
class UserPolicy(_PolicyDeployed):
    """A researcher's policy (``--agent package.module:Name``), deployed greedily on every child: a class
    taking the env (built once, on the first dev member), an object with ``predict(obs, state,
    episode_start, deterministic)`` or a callable ``obs -> action``. It may learn in its own constructor or
    ahead of the run, on train, dev and selection members only (``docs/benchmark-v3.md``)."""

    source = "user"

    def __init__(self, name: str, policy: Any, spec: str):
        super().__init__()
        self.name, self.spec, self.policy_obj = name, spec, policy
        self.code_modules = (*_ENGINE, spec.partition(":")[0])

    def prepare(self, ctx):
        obj = self.policy_obj
        if inspect.isclass(obj):
            member = ctx.members("dev")[0]
            obj = obj(gym.make(hpenv.ENV_ID, task=member, **ctx.env_kwargs(member)))
        elif not (callable(obj) or callable(getattr(obj, "predict", None))):
            raise TypeError(f"--agent {self.spec}: a policy must be a class taking the env, an object with "
                            f"predict(...), or a callable obs -> action; got {type(obj).__name__}")
        self.policy = obj

    def settings(self) -> dict:
        return {"agent": self.spec}


class _Generous:
    """The searches' second budget, outside the family: half an episode per candidate."""

    budget_field = "generous_search_budget_episodes"


class RandomSearchGenerous(_Generous, RandomSearch):
    pass


class TPEGenerous(_Generous, TPE):
    pass


class SuccessiveHalvingGenerous(_Generous, SuccessiveHalving):
    pass


class PBTGenerous(_Generous, PBT):
    pass


#: The protocol's ``[family]`` names (and the searches at their second budget) -> their v3 classes.
V3_METHODS: dict[str, Callable[[], Method]] = {
    "best static tuple": BestStatic, "best fixed schedule": BestSchedule, "closed-loop rule": RuleReference,
    "fixed default": FixedDefault, "reduce on plateau": ReduceOnPlateau,
    "random search": RandomSearch, "TPE": TPE, "successive halving": SuccessiveHalving, "PBT": PBT,
    "RecurrentReinforce": RecurrentReinforceMethod, "RecurrentReinforce online": RecurrentReinforceOnline,
    "NAS-style controller": NASController, "PPO": PPO, "A2C": A2C, "RecurrentPPO": RecurrentPPO,
}
#: Suffix of a search's name at the generous budget.
GENEROUS = " (half an episode per candidate)"
#: The searches at the generous budget, run on the budgets' ``generous_search_members`` test members.
GENEROUS_SEARCHES = {name + GENEROUS: cls for name, cls in (
    ("random search", RandomSearchGenerous), ("TPE", TPEGenerous), ("successive halving", SuccessiveHalvingGenerous),
    ("PBT", PBTGenerous))}
V3_METHODS.update(GENEROUS_SEARCHES)


def _method_of_its_own(cls: type[Method], spec: str) -> Method:
    """A `Method` subclass given as ``--agent``, built with no arguments; it keeps its own ``name``, which must not
    be a family method's: its rows are scored beside theirs."""
    method = cls()
    method.name = method.name or cls.__name__
    if method.name in V3_METHODS:
        raise ValueError(f"--agent {spec}: its name {method.name!r} is a family method's; another version of a "
                         f"method is scored beside it under a name of its own (the class's name attribute)")
    return method


def resolve_v3_method(spec: str) -> Method:
    """A v3 method from its name in `V3_METHODS` or ``"package.module:Name"``: a researcher's policy (see
    `UserPolicy`), or a subclass of [`agents.bench.methods.Method`][] (``prepare`` and ``run`` of its own, e.g.
    another version of a family method, meta-trained as the family's are) under its own ``name``."""
    if spec in V3_METHODS:
        method = V3_METHODS[spec]()
        method.name = spec
        return method
    if ":" in spec:
        obj = load_agent(spec)
        if inspect.isclass(obj) and issubclass(obj, Method):
            return _method_of_its_own(obj, spec)
        return UserPolicy(spec.rsplit(":", 1)[-1].split(".")[-1], obj, spec)
    raise ValueError(f"unknown v3 method {spec!r}; v3 methods: {list(V3_METHODS)} (or package.module:Name for your "
                     f"own policy)")
