"""Other views of the action space, features a controller may add to the observation, and the adapter that
lets Stable-Baselines3 train on the vector env."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from stable_baselines3.common.vec_env import VecEnv

from hpenv.observe import CHANGE_FEATURES, feature_index, train_loss, with_change
from hpenv.vector import HPTuneVectorEnv

_PROGRESS = feature_index("progress")


def _multidiscrete_nvec(space: gym.Space, wrapper: str) -> np.ndarray:
    if not isinstance(space, spaces.MultiDiscrete) or np.ndim(space.nvec) != 1:
        raise ValueError(f"{wrapper} wraps an env with a 1-D MultiDiscrete action space, got {space}")
    return np.asarray(space.nvec, dtype=np.int64)


class ContinuousActions(gym.ActionWrapper, gym.utils.RecordConstructorArgs):
    """A ``Box(-1, 1, (n,))`` view: each coordinate is split into equal bins, one per choice.

    For algorithms that need continuous actions (SAC, TD3, DDPG). ``-1`` selects the first
    value of a hyper-parameter, ``+1`` the last; for a relative one (``relative_actions``) ``-1``
    is the largest move down, ``0`` keeps the value and ``+1`` is the largest move up. Values outside [-1, 1] (beyond float rounding,
    `TOLERANCE`) are refused rather than clipped: they mean the agent and the space disagree.
    """

    TOLERANCE = 1e-6

    def __init__(self, env: gym.Env):
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.ActionWrapper.__init__(self, env)
        self.nvec = _multidiscrete_nvec(env.action_space, "ContinuousActions")
        self.action_space = spaces.Box(-1.0, 1.0, shape=(len(self.nvec),), dtype=np.float32)

    def action(self, action) -> np.ndarray:
        a = np.asarray(action, dtype=np.float64)
        if a.shape != self.action_space.shape or not np.all(np.abs(a) <= 1.0 + self.TOLERANCE):
            raise ValueError(f"action must be {len(self.nvec)} finite numbers in [-1, 1], got {a.tolist()}")
        unit = (np.clip(a, -1.0, 1.0) + 1.0) / 2.0
        return np.minimum((unit * self.nvec).astype(np.int64), self.nvec - 1)


class FlatDiscreteActions(gym.ActionWrapper, gym.utils.RecordConstructorArgs):
    """A ``Discrete(prod(nvec))`` view: one index per whole tuple, for DQN and other discrete-only agents."""

    def __init__(self, env: gym.Env):
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.ActionWrapper.__init__(self, env)
        self.nvec = _multidiscrete_nvec(env.action_space, "FlatDiscreteActions")
        self.action_space = spaces.Discrete(int(np.prod(self.nvec)))

    def action(self, action) -> np.ndarray:
        a = np.asarray(action)
        if a.size != 1 or a != np.round(a) or not 0 <= int(a) < self.action_space.n:
            raise ValueError(f"action must be an integer in [0, {self.action_space.n}), got {action!r}")
        return np.array(np.unravel_index(int(a), tuple(self.nvec)), dtype=np.int64)


def _change_space(space: gym.Space, wrapper: str) -> spaces.Box:
    """``space`` (one observation) with the `CHANGE_FEATURES` columns appended."""
    if not isinstance(space, spaces.Box) or len(space.shape) != 1 or space.shape[0] <= _PROGRESS:
        raise ValueError(f"{wrapper} wraps an HPTune env (a 1-D Box observation with its features), got {space}")
    low = np.concatenate([space.low, [f[1] for f in CHANGE_FEATURES]]).astype(np.float32)
    high = np.concatenate([space.high, [f[2] for f in CHANGE_FEATURES]]).astype(np.float32)
    return spaces.Box(low, high, dtype=np.float32)


class ChangeFeatures(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """Opt-in features that make a change of the training data and the child's state visible early.

    Appends the `CHANGE_FEATURES` columns to [`hpenv.HPTuneEnv`][]'s observation (the env's own
    columns keep their places): the relative jump of the mean training loss since the previous step,
    and the gap between the validation and the training loss. Both are computed from the
    observations alone, so they add no information a recurrent policy could not derive, only a
    shorter path to it; they never read a stream's ``info["phase"]``. For the vector env, use
    [`ChangeFeaturesVector`][hpenv.wrappers.ChangeFeaturesVector]: child ``i`` of it equals this
    wrapper over a single env seeded ``s + i``.

    Example:
        >>> env = ChangeFeatures(gym.make("HPTune-v1", task="v3/stream/200", **hpenv.member_env_kwargs("v3/stream/200")))
    """

    def __init__(self, env: gym.Env):
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.ObservationWrapper.__init__(self, env)
        self.observation_space = _change_space(env.observation_space, "ChangeFeatures")
        self._previous = np.zeros(())

    def reset(self, **kwargs):
        self._previous = np.zeros(())
        return super().reset(**kwargs)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        out = with_change(observation, self._previous)
        self._previous = train_loss(observation)
        return out


class ChangeFeaturesVector(gym.vector.VectorObservationWrapper):
    """[`ChangeFeatures`][hpenv.wrappers.ChangeFeatures] for a vector env (any autoreset mode: a child
    whose observation shows progress 0 has just been reset, and has no jump)."""

    def __init__(self, env: gym.vector.VectorEnv):
        super().__init__(env)
        self.single_observation_space = _change_space(env.single_observation_space, "ChangeFeaturesVector")
        self.observation_space = gym.vector.utils.batch_space(self.single_observation_space, env.num_envs)
        self._previous = np.zeros(env.num_envs)

    def reset(self, **kwargs):
        self._previous = np.zeros(self.num_envs)
        return super().reset(**kwargs)

    def observations(self, observations: np.ndarray) -> np.ndarray:
        out = with_change(observations, self._previous)
        self._previous = train_loss(observations)
        return out


class SB3VecEnv(VecEnv):
    """Stable-Baselines3's ``VecEnv`` interface over [`HPTuneVectorEnv`][hpenv.vector.HPTuneVectorEnv].

    SB3 takes no Gymnasium ``VectorEnv``; this adapter gives PPO / A2C / RecurrentPPO all K
    children in one batched pass. Ended episodes restart in the same step, with
    ``info["terminal_observation"]`` holding their last observation, as SB3 expects.

    Example:
        >>> venv = SB3VecEnv(num_envs=8, horizon=10)
        >>> PPO("MlpPolicy", venv, n_steps=10).learn(800)
    """

    def __init__(self, venv: HPTuneVectorEnv | None = None, **kwargs: Any):
        if venv is None:
            venv = HPTuneVectorEnv(autoreset_mode=gym.vector.AutoresetMode.SAME_STEP, **kwargs)
        elif kwargs:
            raise ValueError(f"pass either a vector env or keyword arguments for one, not both (got {sorted(kwargs)})")
        if venv.metadata["autoreset_mode"] != gym.vector.AutoresetMode.SAME_STEP:
            raise ValueError("SB3VecEnv needs a vector env made with autoreset_mode=AutoresetMode.SAME_STEP")
        self.venv = venv
        super().__init__(venv.num_envs, venv.single_observation_space, venv.single_action_space)
        self._actions: np.ndarray | None = None

    def reset(self) -> np.ndarray:
        seeds = self._seeds if any(s is not None for s in self._seeds) else None
        obs, _ = self.venv.reset(seed=seeds)
        self._reset_seeds()
        self._reset_options()
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions)

    def step_wait(self):
        obs, rewards, terminated, truncated, info = self.venv.step(self._actions)
        dones = terminated | truncated
        infos = [self._info_of(info, k) for k in range(self.num_envs)]
        for k in np.flatnonzero(dones):
            infos[k] = self._info_of(info["final_info"], k)  # the ended episode's, not the reset's
            infos[k]["terminal_observation"] = info["final_obs"][k]
            infos[k]["TimeLimit.truncated"] = bool(truncated[k] and not terminated[k])
        return obs, rewards.astype(np.float32), dones, infos

    @staticmethod
    def _info_of(info: dict, k: int) -> dict:
        return {key: value[k].item() for key, value in info.items()
                if not key.startswith("_") and key not in ("final_obs", "final_info")}

    def close(self) -> None:
        self.venv.close()

    def action_masks(self) -> np.ndarray:
        """Valid action indices per child, ``(num_envs, sum(nvec))`` (sb3-contrib's MaskablePPO layout)."""
        return np.stack(self.env_method("action_masks"))

    def _indices_of(self, indices, name: str, shared: bool) -> list[int]:
        idx = list(self._get_indices(indices))
        if shared and sorted(idx) != list(range(self.num_envs)):
            raise ValueError(f"{name} applies to the whole vector env (its children share one object); "
                             f"call it for all {self.num_envs} children (indices=None), got indices={indices!r}")
        return idx

    def get_attr(self, attr_name: str, indices=None) -> list[Any]:
        if attr_name == "np_random":  # the one attribute each child has on its own
            generators = self.venv.np_random
            return [generators[i] for i in self._indices_of(indices, attr_name, shared=False)]
        value = getattr(self.venv, attr_name)
        return [value] * len(self._indices_of(indices, attr_name, shared=False))

    def set_attr(self, attr_name: str, value: Any, indices=None) -> None:
        self._indices_of(indices, f"set_attr({attr_name!r})", shared=True)
        setattr(self.venv, attr_name, value)

    def env_method(self, method_name: str, *method_args, indices=None, **method_kwargs) -> list[Any]:
        if method_name == "action_masks":
            masks = self.venv.action_masks()
            return [masks[i] for i in self._indices_of(indices, method_name, shared=False)]
        if method_name == "child":  # one child's network
            return [self.venv.child(i) for i in self._indices_of(indices, method_name, shared=False)]
        idx = self._indices_of(indices, f"env_method({method_name!r})", shared=True)
        result = getattr(self.venv, method_name)(*method_args, **method_kwargs)
        return [result] * len(idx)

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices=None) -> list[bool]:
        return [False] * len(self._get_indices(indices))
