"""The references: the fixed default, the best static tuple and the best fixed schedule (chosen on
the selection members), reduce on plateau, and [`PolicyMethod`][agents.bench.methods.references.PolicyMethod]
(a policy deployed greedily, built-in or a user's)."""

from __future__ import annotations

import dataclasses
import inspect
import time
from typing import Any

import gymnasium as gym
import numpy as np

import hpenv
from agents.baselines import DEFAULT_TUPLE, FixedPolicy, ReduceOnPlateauPolicy
from agents.bench.common import DEPLOY_CHUNK
from agents.bench.methods.base import Method, register_method
from agents.engine import evaluate_policy, schedule_episodes, static_episodes


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
