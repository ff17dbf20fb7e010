"""The learned methods, meta-trained on the suite's train members: RecurrentReinforce (``RR meta``
and its ablations), Stable-Baselines3's PPO, A2C and RecurrentPPO, and a NAS-style controller.

Their budgets are ``ctx.budgets`` ([`MethodBudgets`][agents.bench.methods.budgets.MethodBudgets]).
``RR meta``, ``RR meta + online`` and the NAS-style controller read them as ``ctx.protocol`` under v1's names
(``rr_meta_episodes``): the v2 ledger's fingerprints hash those classes' code
([`agents.bench.v2.method_identity`][]), so it stays as it was scored."""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import time

import gymnasium as gym
import numpy as np

import hpenv
from agents import search
from agents.baselines import FixedPolicy
from agents.bench.common import DEPLOY_CHUNK, write_atomic
from agents.bench.methods.base import Method, register_method
from agents.bench.methods.wrappers import CountingVectorEnv, EpisodeRecorder
from agents.engine import evaluate_policy
from agents.options import with_entropy_decay
from agents.sb3 import global_rng_kept
from agents.seeds import SELECTION


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
#: The v2 classes' code calls it by this name (their fingerprints hash that code).
_global_rng_kept = global_rng_kept


def _cache_key(*parts) -> str:
    """A short name for everything that identifies one meta-trained agent."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:12]


class _SB3Meta(Method):
    """A Stable-Baselines3 algorithm meta-trained on the suite's train members, deployed greedily.

    Like ``RR meta``: every episode draws a train member (``f"{suite}/train"``) with its reset
    seed; ``ctx.budgets.meta_episodes`` episodes per agent, ``ctx.budgets.num_envs`` children per
    rollout, one whole episode per child per rollout (``n_steps = horizon``), so PPO and A2C
    update once per batch of episodes as RecurrentReinforce does; PPO's minibatch is the whole
    rollout ([`agents.sb3.sb3_model`][]'s defaults, those of ``hptune train``). The model's
    seed is ``ctx.budgets.seed``. One agent is meta-trained per learning rate of
    ``learning_rates``; the one whose greedy children reach the best mean validation accuracy
    on the selection members x selection seeds is deployed (deterministic actions). Every
    meta-training and that selection are its one-off cost. Agents are plain-data checkpoints
    ([`agents.sb3.save_sb3`][]) cached in ``ctx.cache_dir`` by their settings.
    """

    learned = True
    version = "1"
    algorithm = ""
    """A key of `agents.sb3.POLICY_NAMES`."""
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

        b = ctx.budgets
        run = {"episodes": b.meta_episodes, "num_envs": b.num_envs, "seed": b.seed,
               "learning_rate": learning_rate, "env": ctx.env_kwargs}
        key = _cache_key(self.settings(), run)
        stem = ctx.cache_dir / f"{self.algorithm}_meta_{key}"
        path, meta_file = stem.with_suffix(".pt"), stem.with_suffix(".json")
        if path.exists() and meta_file.exists():
            return {**json.loads(meta_file.read_text()), "path": path}
        t0 = time.perf_counter()
        children = SB3VecEnv(num_envs=b.num_envs, task=f"{ctx.suite.name}/train", **ctx.env_kwargs)
        venv = SGDStepCounter(children)
        horizon = ctx.env_kwargs["horizon"]
        with _global_rng_kept():  # SB3 seeds and draws from the global generators
            model = sb3_model(self.algorithm, VecMonitor(venv), horizon=horizon, seed=b.seed,
                              learning_rate=learning_rate)
            history = train_sb3(model, b.meta_episodes, horizon)
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

