"""Stable-Baselines3 / sb3-contrib algorithms by name, and their models seen as policies."""

from __future__ import annotations

from typing import Any

import numpy as np

from agents.checkpoint import check_hp_space, hp_space_of, load_checkpoint, save_checkpoint
from hpenv.extras import import_extra

#: Names accepted by ``hptune train --agent`` and the benchmark, with each algorithm's policy.
POLICY_NAMES = {"ppo": "MlpPolicy", "a2c": "MlpPolicy", "recurrent-ppo": "MlpLstmPolicy"}


def sb3_class(name: str):
    """The algorithm class for ``name`` (a key of :data:`POLICY_NAMES`)."""
    if name == "recurrent-ppo":
        return import_extra("contrib", by="recurrent-ppo").RecurrentPPO
    from stable_baselines3 import A2C, PPO

    if name not in ("ppo", "a2c"):
        raise ValueError(f"unknown Stable-Baselines3 agent {name!r}; known: {sorted(POLICY_NAMES)}")
    return {"ppo": PPO, "a2c": A2C}[name]


class SB3Policy:
    """A Stable-Baselines3 model (or its policy network) seen through the evaluation protocol's ``predict``."""

    def __init__(self, model):
        self.model = model

    def predict(self, observation, state=None, episode_start=True, deterministic=True):
        return self.model.predict(observation, state=state, episode_start=np.array([episode_start]),
                                  deterministic=deterministic)


# ---------------------------------------------------------------------- checkpoints
# SB3's own save/load pickles Python objects into a .zip, and loading one runs whatever code it
# carries. These checkpoints hold plain data (state dicts, numbers, names) written with
# save_checkpoint and read back with torch.load(weights_only=True); the model is rebuilt from the
# algorithm's name and the spaces.
SB3_CHECKPOINT = "stable-baselines3"
"""The ``"agent"`` of an SB3 checkpoint written by :func:`save_sb3`."""


def save_sb3(path, model, name: str, hp_space: dict[str, Any] | None, history: list[dict]) -> None:
    """Write ``model`` (algorithm ``name``, a key of :data:`POLICY_NAMES`) to ``path`` atomically.

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
    """Put a :func:`load_sb3` payload's weights, optimiser state and counters into ``model`` (to resume)."""
    try:
        model.policy.load_state_dict(payload["policy"])
        model.policy.optimizer.load_state_dict(payload["optimizer"])
        model.num_timesteps = int(payload["counters"]["timesteps"])
        model._n_updates = int(payload["counters"]["updates"])
    except (KeyError, RuntimeError, ValueError) as err:
        raise ValueError(f"{path} does not fit this {payload['algorithm']} model ({type(err).__name__}: {err})") from err


def sb3_policy(payload: dict, env, path, device: str = "cpu"):
    """The policy network of a :func:`load_sb3` payload, rebuilt for ``env``'s spaces (for evaluation)."""
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
