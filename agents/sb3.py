"""Stable-Baselines3 / sb3-contrib algorithms by name, and their models seen as policies."""

from __future__ import annotations

import contextlib
from typing import Any, Callable

import numpy as np
from stable_baselines3.common.vec_env import VecEnvWrapper

from agents.checkpoint import check_hp_space, hp_space_of, load_checkpoint, save_checkpoint
from agents.options import SB3Settings
from hpenv.extras import import_extra

#: Names accepted by ``hptune train --agent`` and the benchmark, with each algorithm's policy.
POLICY_NAMES = {"ppo": "MlpPolicy", "a2c": "MlpPolicy", "recurrent-ppo": "MlpLstmPolicy"}


def sb3_class(name: str):
    """The algorithm class for ``name`` (a key of `POLICY_NAMES`)."""
    if name == "recurrent-ppo":
        return import_extra("contrib", by="recurrent-ppo").RecurrentPPO
    from stable_baselines3 import A2C, PPO

    if name not in ("ppo", "a2c"):
        raise ValueError(f"unknown Stable-Baselines3 agent {name!r}; known: {sorted(POLICY_NAMES)}")
    return {"ppo": PPO, "a2c": A2C}[name]


@contextlib.contextmanager
def global_rng_kept():
    """Python's, NumPy's and torch's global generators as they were, afterwards: SB3 seeds and draws
    from them, and the environment's rule is that nothing touches them."""
    import random

    import torch

    python_state, numpy_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        try:
            yield
        finally:
            random.setstate(python_state)
            np.random.set_state(numpy_state)


class SB3Policy:
    """A Stable-Baselines3 model (or its policy network) seen through the evaluation protocol's ``predict``."""

    def __init__(self, model):
        self.model = model

    def predict(self, observation, state=None, episode_start=True, deterministic=True):
        return self.model.predict(observation, state=state, episode_start=np.array([episode_start]),
                                  deterministic=deterministic)


# ---------------------------------------------------------------------- training
# The one SB3 training loop: ``hptune train --agent ppo|a2c|recurrent-ppo`` and the benchmark's SB3
# meta-learners both build their model with sb3_model and train it with train_sb3.
def sb3_model(name: str, venv, settings=None, *, horizon: int, seed: int, device: str = "cpu", **algo_kwargs):
    """A fresh ``name`` model (a key of `POLICY_NAMES`) over SB3's vector env ``venv``.

    ``settings`` ([`agents.options.SB3Settings`][]; None: its defaults) sizes the rollout:
    ``n_steps`` steps of every child (0: ``horizon``, so each update sees one whole episode per
    child) and, for PPO and RecurrentPPO, minibatches of ``batch_size`` (0: the whole rollout).
    Everything else keeps the library's defaults unless ``algo_kwargs`` (``learning_rate=...``)
    sets it.
    """
    settings = settings or SB3Settings()
    kwargs = dict(n_steps=settings.n_steps or horizon, seed=seed, device=device, verbose=0)
    if name != "a2c":
        kwargs["batch_size"] = settings.batch_size or kwargs["n_steps"] * venv.num_envs
    return sb3_class(name)(POLICY_NAMES[name], venv, **kwargs, **algo_kwargs)


def train_sb3(model, episodes: int, horizon: int, *, history: list[dict] | None = None,
              on_update: Callable[[Any, list[dict]], None] | None = None,
              progress_bar: bool = False) -> list[dict]:
    """Train ``model`` until it has played ``episodes`` episodes of ``horizon`` steps in all.

    SB3 trains whole rollouts, so the last one may take it past ``episodes``; a model that has
    played them already is left as it is. ``history`` (the rows of a resumed run) gets one row per
    rollout: ``time/episodes``, ``time/timesteps`` and ``rollout/ep_return_mean`` (the episodes
    ``VecMonitor`` saw end). ``on_update(model, history)`` runs after every update, at the first
    moment at which weights, optimiser and counters agree (where ``hptune`` checkpoints), and
    once when training ends. Returns the history.
    """
    from stable_baselines3.common.callbacks import BaseCallback

    history = [] if history is None else history
    saved_at = [model.num_timesteps]

    def updated() -> None:
        if on_update is not None:
            on_update(model, history)
        saved_at[0] = model.num_timesteps

    class Rollouts(BaseCallback):
        def _on_rollout_end(self) -> None:
            buf = list(model.ep_info_buffer)
            history.append({"time/episodes": model.num_timesteps // horizon,
                            "time/timesteps": model.num_timesteps,
                            "rollout/ep_return_mean": float(np.mean([e["r"] for e in buf])) if buf else float("nan")})

        def _on_rollout_start(self) -> None:
            # SB3 updates the policy after a rollout ends: the next rollout's start is the
            # first moment at which the weights, the optimiser and the counters agree.
            if model.num_timesteps > saved_at[0]:
                updated()

        def _on_step(self) -> bool:
            return True

    remaining = episodes * horizon - model.num_timesteps
    if remaining > 0:
        model.learn(remaining, callback=Rollouts(), progress_bar=progress_bar,
                    reset_num_timesteps=model.num_timesteps == 0)
        updated()
    return history


class SGDStepCounter(VecEnvWrapper):
    """Counts the child SGD steps that SB3's vector env over HPTune children runs, in ``sgd_steps``.

    Reads ``info["sgd_steps"]`` (each child's count within its episode); an ended episode's info is
    its last step's, as [`hpenv.wrappers.SB3VecEnv`][] gives it, and the next one starts from 0.
    """

    def __init__(self, venv):
        super().__init__(venv)
        self.sgd_steps = 0
        self._last = np.zeros(venv.num_envs, dtype=np.int64)

    def reset(self):
        self._last[:] = 0
        return self.venv.reset()

    def step_wait(self):
        obs, rewards, dones, infos = self.venv.step_wait()
        now = np.array([info["sgd_steps"] for info in infos], dtype=np.int64)
        self.sgd_steps += int(np.maximum(now - self._last, 0).sum())
        self._last = np.where(dones, 0, now)
        return obs, rewards, dones, infos


# ---------------------------------------------------------------------- checkpoints
# SB3's own save/load pickles Python objects into a .zip, and loading one runs whatever code it
# carries. These checkpoints hold plain data (state dicts, numbers, names) written with
# save_checkpoint and read back with torch.load(weights_only=True); the model is rebuilt from the
# algorithm's name and the spaces.
SB3_CHECKPOINT = "stable-baselines3"
"""The ``"agent"`` of an SB3 checkpoint written by [`save_sb3`][agents.sb3.save_sb3]."""


def save_sb3(path, model, name: str, hp_space: dict[str, Any] | None, history: list[dict]) -> None:
    """Write ``model`` (algorithm ``name``, a key of `POLICY_NAMES`) to ``path`` atomically.

    Holds what evaluation needs to rebuild the policy (algorithm, policy kwargs, spaces, the
    hyper-parameter space) and what resuming needs besides (optimiser state, counters, the
    training history written to ``metrics.csv``).
    """
    save_checkpoint(path, {
        "agent": SB3_CHECKPOINT,
        "algorithm": name,
        # the optimiser is the algorithm's own choice (A2C: RMSprop, a class, not data): its
        # constructor makes it again when resuming, and evaluation never steps one
        "policy_kwargs": {k: v for k, v in model.policy_kwargs.items()
                          if k not in ("optimizer_class", "optimizer_kwargs")},
        "spaces": {"observation_shape": list(model.observation_space.shape),
                   "action_nvec": model.action_space.nvec.tolist()},
        "hp_space": hp_space,
        "policy": {k: v.detach().cpu() for k, v in model.policy.state_dict().items()},
        "optimizer": model.policy.optimizer.state_dict(),
        "counters": {"timesteps": int(model.num_timesteps), "updates": int(model._n_updates)},
        "history": [dict(row) for row in history],
    })


def load_sb3(path, env) -> dict:
    """The payload of an SB3 checkpoint, after checking that it was trained for ``env``.

    ``env`` (a single env, or SB3's vector env) must have the saved observation shape, action
    ``nvec`` and hyper-parameter space. Raises ValueError naming the file otherwise.
    """
    payload = load_checkpoint(path)
    if payload.get("agent") != SB3_CHECKPOINT:
        raise ValueError(f"{path} holds a {payload.get('agent')!r} checkpoint, not a Stable-Baselines3 one")
    try:
        sb3_class(payload["algorithm"])
        saved = (tuple(payload["spaces"]["observation_shape"]), list(payload["spaces"]["action_nvec"]))
        check_hp_space(payload["hp_space"], hp_space_of(env), str(path))
    except KeyError as err:
        raise ValueError(f"{path} is not a valid Stable-Baselines3 checkpoint (missing {err})") from err
    got = (tuple(env.observation_space.shape), np.asarray(env.action_space.nvec).tolist())
    if saved != got:
        raise ValueError(f"{path} was trained with observations of shape {saved[0]} and action nvec {saved[1]}; "
                         f"the environment has {got[0]} and {got[1]}")
    return payload


def restore_sb3(model, payload: dict, path) -> None:
    """Put a [`load_sb3`][agents.sb3.load_sb3] payload's weights, optimiser state and counters into ``model``
    (to resume)."""
    try:
        model.policy.load_state_dict(payload["policy"])
        model.policy.optimizer.load_state_dict(payload["optimizer"])
        model.num_timesteps = int(payload["counters"]["timesteps"])
        model._n_updates = int(payload["counters"]["updates"])
    except (KeyError, RuntimeError, ValueError) as err:
        raise ValueError(f"{path} does not fit this {payload['algorithm']} model ({type(err).__name__}: {err})") from err


def sb3_policy(payload: dict, env, path, device: str = "cpu"):
    """The policy network of a [`load_sb3`][agents.sb3.load_sb3] payload, rebuilt for ``env``'s spaces (for
    evaluation)."""
    name = payload["algorithm"]
    policy_class = sb3_class(name).policy_aliases[POLICY_NAMES[name]]
    # lr_schedule only sizes the optimiser, which evaluation never steps
    policy = policy_class(env.observation_space, env.action_space, lambda _: 0.0, **payload["policy_kwargs"])
    try:
        policy.load_state_dict(payload["policy"])
    except RuntimeError as err:
        raise ValueError(f"{path} does not fit a {name} policy ({err})") from err
    policy.set_training_mode(False)
    return policy.to(device)
