"""Recurrent REINFORCE meta-learner for hyper-parameter tuning.

This follows Ali, Budka and Gabrys, "Meta-learning with recurrent policies for hyper-parameter
tuning" (PRICAI 2019): an LSTM controller takes one step per time-step of an episode and picks a
tuple of hyper-parameter indices, one categorical choice per hyper-parameter. It is trained with
REINFORCE (Williams, 1992) using a baseline and an entropy bonus.

The public API mirrors Stable-Baselines3::

    from agents import RecurrentReinforce

    agent = RecurrentReinforce(env, seed=0)   # a gymnasium.Env or gymnasium.vector.VectorEnv
    agent.learn(total_episodes=200)
    action, state = agent.predict(obs)                                # first step of an episode
    action, state = agent.predict(obs, state, episode_start=False)    # later steps (SB3's shape)
    agent.save("runs/x/agent.pt")
    agent = RecurrentReinforce.load("runs/x/agent.pt", env=env)
    final_test_accuracy = agent.learn_online(long_env, total_steps=100, update_every=5)

The file reads top to bottom: configuration, the small helpers (observation normaliser,
moving-average baseline, policy network, environment adapter), then the agent.

At each time-step the LSTM input is the normalised observation, followed by the one-hot encoding
of the previous action (all action dimensions concatenated; all zeros at the start of an episode)
and the previous reward (0 at the start of an episode). On HPTune envs ``predict`` recomputes the
previous reward from the previous observation it keeps in its state
(:func:`hpenv.reward_from_observations`), so it takes exactly Stable-Baselines3's arguments.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode, VectorEnv
from torch import nn
from tqdm.auto import tqdm

from agents.checkpoint import check_hp_space, hp_space_of, load_checkpoint, save_checkpoint
from hpenv.episodes import reward_from_observations

__all__ = ["RecurrentReinforce", "RecurrentReinforceConfig", "RecurrentState"]

RecurrentState = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
"""What :meth:`RecurrentReinforce.predict` returns as ``state``: LSTM ``h`` and ``c`` (each of
shape ``(n, hidden_size)``), the previous action indices (``(n, n_action_dims)``, -1 where there
is none yet) and the previous observations (``(n, obs_dim)``, from which the previous reward is
recomputed). Treat it as opaque and pass it back on the next call."""

Callback = Callable[["RecurrentReinforce", dict[str, Any]], Any]
"""``callback(agent, metrics)`` called after every update; returning ``False`` stops learning."""

_BASELINES = ("moving_average", "value")


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------


@dataclass
class RecurrentReinforceConfig:
    """Hyper-parameters of :class:`RecurrentReinforce` (pass them as keyword arguments)."""

    hidden_size: int = 64
    """Number of units of the single-layer LSTM."""
    learning_rate: float = 1e-2
    """Adam step size (tuned on HPTune digits: 3e-3 left the policy far from converged after 512 episodes)."""
    gamma: float = 1.0
    """Discount factor of the returns-to-go within an episode (1.0: undiscounted)."""
    ent_coef: float = 0.05
    """Weight of the entropy bonus (entropy summed over action dimensions)."""
    ent_coef_final: float | None = None
    """If set, ``ent_coef`` decays linearly to this value over ``ent_decay_updates`` updates."""
    ent_decay_updates: int | None = None
    """Length of that decay in updates, counted over the agent's life (resuming continues it)."""
    baseline: str = "moving_average"
    """``"moving_average"`` (per-time-step average of returns) or ``"value"`` (value head)."""
    baseline_decay: float = 0.9
    """Weight the moving-average baseline keeps on its old value at each update."""
    vf_coef: float = 0.5
    """Weight of the value head's squared-error loss (``baseline="value"`` only)."""
    max_grad_norm: float = 1.0
    """Gradients are clipped to this global L2 norm before each Adam step."""
    episodes_per_update: int = 8
    """Whole episodes per update (rounded up to a multiple of ``num_envs`` for a VectorEnv)."""
    normalize_observations: bool = True
    """Normalise observations by a running mean/std, updated while learning, frozen in predict."""
    obs_clip: float = 10.0
    """Normalised observations are clipped to ``[-obs_clip, obs_clip]``."""
    normalize_advantages: bool = True
    """Standardise the advantages of each batch to zero mean and unit variance."""
    seed: int | None = None
    """Seed of the agent's own random generators (None: fresh entropy from the OS)."""
    device: str = "cpu"
    """Torch device of the network."""

    def __post_init__(self) -> None:
        if self.baseline not in _BASELINES:
            raise ValueError(f"baseline must be one of {_BASELINES}, got {self.baseline!r}")
        if self.hidden_size < 1 or self.episodes_per_update < 1:
            raise ValueError("hidden_size and episodes_per_update must be positive")
        if not 0.0 <= self.gamma <= 1.0:
            raise ValueError(f"gamma must lie in [0, 1], got {self.gamma}")
        if not 0.0 <= self.baseline_decay < 1.0:
            raise ValueError(f"baseline_decay must lie in [0, 1), got {self.baseline_decay}")
        if (self.ent_coef_final is None) != (self.ent_decay_updates is None):
            raise ValueError("set both ent_coef_final and ent_decay_updates, or neither")
        if self.ent_decay_updates is not None and self.ent_decay_updates < 1:
            raise ValueError("ent_decay_updates must be positive")

    def ent_coef_at(self, num_updates: int) -> float:
        """Entropy weight to use for the update that follows ``num_updates`` earlier updates."""
        if self.ent_coef_final is None or self.ent_decay_updates is None:
            return self.ent_coef
        progress = min(1.0, num_updates / self.ent_decay_updates)
        return self.ent_coef + progress * (self.ent_coef_final - self.ent_coef)


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


class RunningMeanStd:
    """Running mean and variance of observations (Welford / Chan's parallel update).

    Parameters
    ----------
    shape
        Shape of one observation.
    clip
        Normalised values are clipped to ``[-clip, clip]``.
    """

    def __init__(self, shape: tuple[int, ...], clip: float = 10.0) -> None:
        self.mean = np.zeros(shape, dtype=np.float64)
        self.m2 = np.zeros(shape, dtype=np.float64)  # sum of squared deviations from the mean
        self.count = 0
        self.clip = clip

    @property
    def var(self) -> np.ndarray:
        """Population variance (1 before any data, so normalising starts as the identity)."""
        return self.m2 / self.count if self.count > 0 else np.ones_like(self.m2)

    def update(self, batch: np.ndarray) -> None:
        """Fold a batch of observations, shape ``(n, *shape)``, into the statistics."""
        batch = np.asarray(batch, dtype=np.float64)
        if batch.shape[0] == 0:
            return
        batch_count = batch.shape[0]
        batch_mean = batch.mean(axis=0)
        batch_m2 = ((batch - batch_mean) ** 2).sum(axis=0)
        total = self.count + batch_count
        delta = batch_mean - self.mean
        self.mean = self.mean + delta * batch_count / total
        self.m2 = self.m2 + batch_m2 + delta**2 * self.count * batch_count / total
        self.count = total

    def normalize(self, batch: np.ndarray) -> np.ndarray:
        """Return ``(batch - mean) / std`` clipped to ``[-clip, clip]``."""
        normalized = (np.asarray(batch, dtype=np.float64) - self.mean) / np.sqrt(self.var + 1e-8)
        return np.clip(normalized, -self.clip, self.clip)

    def state_dict(self) -> dict[str, Any]:
        """Statistics as checkpoint-safe values."""
        return {
            "mean": torch.from_numpy(self.mean.copy()),
            "m2": torch.from_numpy(self.m2.copy()),
            "count": int(self.count),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore statistics saved by :meth:`state_dict`."""
        self.mean = state["mean"].double().cpu().numpy().copy()
        self.m2 = state["m2"].double().cpu().numpy().copy()
        self.count = int(state["count"])


class MovingAverageBaseline:
    """Per-time-step exponential moving average of returns, used as the REINFORCE baseline.

    ``value[t]`` estimates the return-to-go from time-step ``t``. A time-step seen for the first
    time starts at the current batch's mean return for that step.

    Parameters
    ----------
    decay
        Weight kept by the old average at each update.
    """

    def __init__(self, decay: float = 0.9) -> None:
        self.decay = decay
        self.values: list[float] = []

    def compute_and_update(self, returns: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Return the baseline for each time-step of a batch, then fold the batch in.

        Parameters
        ----------
        returns
            Returns-to-go, shape ``(batch, T)``.
        mask
            Which entries are real steps (True) rather than padding, shape ``(batch, T)``.

        Returns
        -------
        numpy.ndarray
            Baseline per time-step, shape ``(T,)``, as it was before this batch was folded in
            (except for first-seen time-steps, see the class docstring).
        """
        steps = returns.shape[1]
        counts = mask.sum(axis=0)
        batch_means = np.where(mask, returns, 0.0).sum(axis=0) / np.maximum(counts, 1)
        self.values.extend(float(batch_means[t]) for t in range(len(self.values), steps))
        baseline = np.array(self.values[:steps], dtype=np.float64)
        for t in range(steps):
            if counts[t] > 0:
                self.values[t] = self.decay * self.values[t] + (1 - self.decay) * batch_means[t]
        return baseline

    def state_dict(self) -> dict[str, Any]:
        """State as checkpoint-safe values."""
        return {"decay": float(self.decay), "values": [float(v) for v in self.values]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore state saved by :meth:`state_dict`."""
        self.decay = float(state["decay"])
        self.values = [float(v) for v in state["values"]]


class RecurrentPolicy(nn.Module):
    """LSTM with one categorical head per action dimension and an optional value head.

    Parameters
    ----------
    obs_dim
        Length of the (flat) observation.
    nvec
        Number of choices of each action dimension.
    hidden_size
        LSTM width.
    value_head
        Whether to add a linear value head on the LSTM output.
    """

    def __init__(self, obs_dim: int, nvec: list[int], hidden_size: int, value_head: bool) -> None:
        super().__init__()
        self.nvec = list(nvec)
        self.hidden_size = hidden_size
        self.input_size = obs_dim + sum(self.nvec) + 1
        self.lstm = nn.LSTM(self.input_size, hidden_size, batch_first=True)
        self.action_heads = nn.ModuleList(nn.Linear(hidden_size, n) for n in self.nvec)
        self.value_head = nn.Linear(hidden_size, 1) if value_head else None

    def reset_parameters(self, generator: torch.Generator) -> None:
        """Initialise all weights from ``generator`` (the global torch RNG is not used).

        LSTM weights follow PyTorch's default ``U(-1/sqrt(h), 1/sqrt(h))``; the action heads are
        orthogonal with gain 0.01 (a near-uniform initial policy), the value head with gain 1.
        """
        bound = 1.0 / math.sqrt(self.hidden_size)
        with torch.no_grad():
            for parameter in self.lstm.parameters():
                nn.init.uniform_(parameter, -bound, bound, generator=generator)
            for head in self.action_heads:
                nn.init.orthogonal_(head.weight, gain=0.01, generator=generator)
                nn.init.zeros_(head.bias)
            if self.value_head is not None:
                nn.init.orthogonal_(self.value_head.weight, gain=1.0, generator=generator)
                nn.init.zeros_(self.value_head.bias)

    def make_input(
        self, obs: np.ndarray, prev_action: np.ndarray, prev_reward: np.ndarray
    ) -> np.ndarray:
        """Build one time-step of LSTM input for ``n`` rows (in numpy: this runs every env step).

        Parameters
        ----------
        obs
            Normalised observations, shape ``(n, obs_dim)``.
        prev_action
            Previous action indices, shape ``(n, n_action_dims)``; -1 means none (zero one-hot).
        prev_reward
            Previous rewards, shape ``(n,)``.

        Returns
        -------
        numpy.ndarray
            ``float32`` array of shape ``(n, input_size)``.
        """
        parts = [obs]
        for dim, n_choices in enumerate(self.nvec):
            index = prev_action[:, dim]
            one_hot = np.zeros((len(index), n_choices))
            has_action = index >= 0
            one_hot[has_action, index[has_action]] = 1.0
            parts.append(one_hot)
        parts.append(np.asarray(prev_reward, dtype=np.float64)[:, None])
        return np.concatenate(parts, axis=1).astype(np.float32)

    def forward(
        self, inputs: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]
    ) -> tuple[list[torch.Tensor], torch.Tensor | None, tuple[torch.Tensor, torch.Tensor]]:
        """Run the LSTM over a batch of sequences.

        Parameters
        ----------
        inputs
            Shape ``(batch, T, input_size)``.
        state
            Initial ``(h, c)``, each of shape ``(batch, hidden_size)``.

        Returns
        -------
        logits
            One tensor per action dimension, shape ``(batch, T, n_choices)``.
        values
            Value estimates, shape ``(batch, T)``, or None without a value head.
        state
            Final ``(h, c)``, each of shape ``(batch, hidden_size)``.
        """
        h0, c0 = state
        output, (h, c) = self.lstm(inputs, (h0.unsqueeze(0), c0.unsqueeze(0)))
        logits = [head(output) for head in self.action_heads]
        values = self.value_head(output).squeeze(-1) if self.value_head is not None else None
        return logits, values, (h.squeeze(0), c.squeeze(0))


class _EnvAdapter:
    """Uniform batched view of a plain ``gymnasium.Env`` (as one row) or a ``VectorEnv``.

    Actions and observations always carry a leading ``num_envs`` dimension; actions are 0-based
    indices and the space's ``start`` offset is added here.
    """

    def __init__(self, env: gym.Env | VectorEnv, action_start: np.ndarray) -> None:
        self.env = env
        self.is_vector = isinstance(env, VectorEnv)
        self.num_envs = int(env.num_envs) if self.is_vector else 1
        self.action_start = action_start
        self.autoreset_mode = (
            AutoresetMode(env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP))
            if self.is_vector
            else None
        )

    def reset(self, seeds: list[int]) -> np.ndarray:
        """Reset every sub-environment with the given seeds; return observations ``(n, d)``."""
        if self.is_vector:
            obs, _ = self.env.reset(seed=seeds)
            return np.asarray(obs, dtype=np.float64)
        obs, _ = self.env.reset(seed=seeds[0])
        return np.asarray(obs, dtype=np.float64)[None]

    def step(
        self, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Step with 0-based action indices ``(n, n_action_dims)``.

        Returns observations ``(n, d)``, rewards, terminated and truncated flags (each ``(n,)``)
        and the info dict (the vector env's, or the plain env's).
        """
        env_actions = actions + self.action_start
        if self.is_vector:
            obs, reward, terminated, truncated, info = self.env.step(env_actions)
            return (
                np.asarray(obs, dtype=np.float64),
                np.asarray(reward, dtype=np.float64),
                np.asarray(terminated, dtype=bool),
                np.asarray(truncated, dtype=bool),
                info,
            )
        obs, reward, terminated, truncated, info = self.env.step(env_actions[0])
        return (
            np.asarray(obs, dtype=np.float64)[None],
            np.array([reward], dtype=np.float64),
            np.array([terminated], dtype=bool),
            np.array([truncated], dtype=bool),
            info,
        )

    def keep_steppable(self, just_finished: np.ndarray) -> None:
        """Let finished sub-envs be stepped again while others are still running.

        Gymnasium's default next-step autoreset (and same-step autoreset) handle this themselves:
        the finished sub-env restarts and we ignore its output. With autoreset disabled, stepping a
        finished sub-env is an error, so we reset it (its new episode is ignored as well).
        """
        if self.autoreset_mode == AutoresetMode.DISABLED and just_finished.any():
            self.env.reset(options={"reset_mask": just_finished.copy()})


@dataclass
class _Rollout:
    """Padded batch of episodes (or one online window), ready for a REINFORCE update."""

    inputs: torch.Tensor
    """LSTM inputs, ``(batch, T, input_size)``."""
    actions: torch.Tensor
    """0-based action indices, ``(batch, T, n_action_dims)``."""
    rewards: np.ndarray
    """Rewards, ``(batch, T)``, 0 on padding."""
    mask: np.ndarray
    """True for real steps, False for padding, ``(batch, T)``."""

    @staticmethod
    def concatenate(parts: list[_Rollout]) -> _Rollout:
        """Stack rollouts along the batch axis, padding them to the longest one."""
        length = max(part.mask.shape[1] for part in parts)

        def pad(array: Any, value: float) -> Any:
            missing = length - array.shape[1]
            if missing == 0:
                return array
            if isinstance(array, torch.Tensor):
                filler = array.new_full((array.shape[0], missing, *array.shape[2:]), value)
                return torch.cat([array, filler], dim=1)
            filler = np.full((array.shape[0], missing, *array.shape[2:]), value, array.dtype)
            return np.concatenate([array, filler], axis=1)

        return _Rollout(
            inputs=torch.cat([pad(p.inputs, 0.0) for p in parts]),
            actions=torch.cat([pad(p.actions, 0) for p in parts]),
            rewards=np.concatenate([pad(p.rewards, 0.0) for p in parts]),
            mask=np.concatenate([pad(p.mask, False) for p in parts]),
        )


def _discounted_returns(rewards: np.ndarray, mask: np.ndarray, gamma: float) -> np.ndarray:
    """Returns-to-go ``G_t = r_t + gamma * G_{t+1}`` per row, 0 on padding; ``(batch, T)``."""
    rewards = np.where(mask, rewards, 0.0)
    returns = np.zeros_like(rewards, dtype=np.float64)
    running = np.zeros(rewards.shape[0], dtype=np.float64)
    for t in reversed(range(rewards.shape[1])):
        running = rewards[:, t] + gamma * running
        returns[:, t] = running
    return np.where(mask, returns, 0.0)


def _reward_mode_of(env: Any) -> str | None:
    """The HPTune ``reward`` argument of ``env`` (through wrappers), or None for another env."""
    mode = getattr(getattr(env, "unwrapped", env), "reward_mode", None)
    return mode if isinstance(mode, str) else None


def _spaces_of(env: Any) -> tuple[gym.spaces.Box, gym.spaces.MultiDiscrete]:
    """Check that ``env`` is supported and return its (single) observation and action spaces."""
    if isinstance(env, VectorEnv):
        obs_space, action_space = env.single_observation_space, env.single_action_space
    elif isinstance(env, gym.Env):
        obs_space, action_space = env.observation_space, env.action_space
    else:
        raise TypeError(
            f"env must be a gymnasium.Env or gymnasium.vector.VectorEnv, got {type(env).__name__}"
        )
    if not isinstance(action_space, gym.spaces.MultiDiscrete):
        raise TypeError(
            f"RecurrentReinforce got action space {action_space!r}; only "
            "gymnasium.spaces.MultiDiscrete action spaces with a 1-D nvec are supported"
        )
    if action_space.nvec.ndim != 1:
        raise ValueError(
            f"RecurrentReinforce got action space {action_space!r} with a "
            f"{action_space.nvec.ndim}-D nvec; only a 1-D nvec is supported"
        )
    if not isinstance(obs_space, gym.spaces.Box):
        raise TypeError(
            f"RecurrentReinforce got observation space {obs_space!r}; only a flat (1-D) "
            "gymnasium.spaces.Box observation space is supported"
        )
    if len(obs_space.shape) != 1:
        raise ValueError(
            f"RecurrentReinforce got observation space {obs_space!r} of shape {obs_space.shape}; "
            "only a flat (1-D) Box observation space is supported (flatten it first)"
        )
    return obs_space, action_space


# --------------------------------------------------------------------------------------------
# The agent
# --------------------------------------------------------------------------------------------


class RecurrentReinforce:
    """LSTM policy trained with REINFORCE for MultiDiscrete hyper-parameter choices.

    Parameters
    ----------
    env
        A ``gymnasium.Env`` or ``gymnasium.vector.VectorEnv`` with a ``MultiDiscrete`` action space
        (1-D ``nvec``) and a flat ``Box`` observation space. Episodes must end (``terminated`` or
        ``truncated``); truncation is treated like the end of the task (no bootstrapping).
    config
        A full configuration; keyword arguments override its fields.
    **kwargs
        Any field of :class:`RecurrentReinforceConfig`, e.g. ``seed=0``, ``hidden_size=32``.

    Attributes
    ----------
    config : RecurrentReinforceConfig
        The hyper-parameters.
    policy : RecurrentPolicy
        The network.
    history : list of dict
        One dict of metrics per update (keys such as ``"rollout/ep_return_mean"``,
        ``"train/policy_loss"``, ``"time/episodes"``).
    num_episodes, num_updates, num_online_steps : int
        Counters over the agent's whole life (they survive save/load).

    Raises
    ------
    TypeError
        If ``env`` or its action/observation space is of an unsupported kind.
    ValueError
        If a space has an unsupported shape, or a configuration value is invalid.
    """

    def __init__(
        self,
        env: gym.Env | VectorEnv,
        config: RecurrentReinforceConfig | None = None,
        **kwargs: Any,
    ) -> None:
        config = config if config is not None else RecurrentReinforceConfig()
        valid = {field.name for field in dataclasses.fields(RecurrentReinforceConfig)}
        unknown = sorted(set(kwargs) - valid)
        if unknown:
            raise TypeError(
                f"unknown RecurrentReinforce option(s) {unknown}; valid options: {sorted(valid)}"
            )
        config = dataclasses.replace(config, **kwargs)
        obs_space, action_space = _spaces_of(env)
        self._build(
            obs_shape=tuple(int(d) for d in obs_space.shape),
            nvec=[int(n) for n in action_space.nvec],
            action_start=[int(s) for s in action_space.start],
            config=config,
        )
        self._attach_env(env)

    def _build(
        self,
        obs_shape: tuple[int, ...],
        nvec: list[int],
        action_start: list[int],
        config: RecurrentReinforceConfig,
    ) -> None:
        """Create generators, network, optimiser and statistics (shared with :meth:`load`)."""
        self.config = config
        self.obs_shape = obs_shape
        self.nvec = nvec
        self.action_start = np.asarray(action_start, dtype=np.int64)
        self.device = torch.device(config.device)
        self.env: gym.Env | VectorEnv | None = None
        self._adapter: _EnvAdapter | None = None
        #: the HPTune reward mode of the env (None for other envs): lets predict recompute rewards
        self.reward_mode: str | None = None

        # All randomness comes from these two generators; the global RNGs are never touched.
        # The torch generator initialises the weights; the numpy generator samples actions and
        # draws the seeds of environment resets.
        seed_sequence = np.random.SeedSequence(config.seed)
        numpy_seed, torch_seed = seed_sequence.spawn(2)
        self._np_rng = np.random.default_rng(numpy_seed)
        self._torch_rng = torch.Generator(device="cpu")
        self._torch_rng.manual_seed(int(torch_seed.generate_state(1, np.uint64)[0] >> 1))

        # nn.LSTM's constructor initialises weights from the global RNG; fork_rng restores it,
        # and reset_parameters then draws the actual weights from the agent's generator.
        with torch.random.fork_rng(devices=[]):
            policy = RecurrentPolicy(
                obs_shape[0], nvec, config.hidden_size, value_head=config.baseline == "value"
            )
        policy.reset_parameters(self._torch_rng)
        self.policy = policy.to(self.device)
        self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=config.learning_rate)

        self.obs_rms = RunningMeanStd(obs_shape, clip=config.obs_clip)
        self.episode_baseline = MovingAverageBaseline(config.baseline_decay)
        self.online_baseline = MovingAverageBaseline(config.baseline_decay)
        self.num_episodes = 0
        self.num_updates = 0
        self.num_online_steps = 0
        self.history: list[dict[str, Any]] = []

    def _check_spaces(self, env: gym.Env | VectorEnv) -> None:
        """Raise ``ValueError`` unless ``env``'s spaces match the ones this agent was built for."""
        obs_space, action_space = _spaces_of(env)
        got = (tuple(obs_space.shape), [int(n) for n in action_space.nvec])
        expected = (self.obs_shape, self.nvec)
        same_start = np.array_equal(np.asarray(action_space.start), self.action_start)
        if got != expected or not same_start:
            raise ValueError(
                f"environment spaces do not match the agent's: the agent expects observations of "
                f"shape {self.obs_shape} and MultiDiscrete(nvec={self.nvec}, "
                f"start={self.action_start.tolist()}), got {obs_space!r} and {action_space!r}"
            )

    def _attach_env(self, env: gym.Env | VectorEnv) -> None:
        self._check_spaces(env)
        self.env = env
        self.reward_mode = _reward_mode_of(env) or self.reward_mode
        self._adapter = _EnvAdapter(env, self.action_start)

    # ---------------------------------------------------------------------------- acting

    def _normalize(self, obs: np.ndarray) -> np.ndarray:
        return self.obs_rms.normalize(obs) if self.config.normalize_observations else obs

    def _policy_step(
        self,
        obs: np.ndarray,
        prev_action: np.ndarray,
        prev_reward: np.ndarray,
        state: tuple[torch.Tensor, torch.Tensor],
    ) -> tuple[torch.Tensor, list[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
        """One LSTM step for ``n`` rows without gradients.

        Returns the LSTM input that was used (to replay it during the update), the logits of each
        action dimension (each ``(n, n_choices)``) and the new ``(h, c)``.
        """
        inputs = torch.as_tensor(
            self.policy.make_input(self._normalize(obs), prev_action, prev_reward),
            device=self.device,
        )
        with torch.no_grad():
            logits, _, state = self.policy(inputs.unsqueeze(1), state)
        return inputs, [lg.squeeze(1) for lg in logits], state

    def _select_actions(self, logits: list[torch.Tensor], deterministic: bool) -> np.ndarray:
        """Argmax, or sample with the agent's numpy generator, per action dimension."""
        columns = []
        for head_logits in logits:
            if deterministic:
                columns.append(head_logits.argmax(dim=-1).cpu().numpy())
                continue
            probs = torch.softmax(head_logits.double(), dim=-1).cpu().numpy()
            uniform = self._np_rng.random((probs.shape[0], 1))
            choice = (np.cumsum(probs, axis=-1) < uniform).sum(axis=-1)  # inverse-CDF sampling
            columns.append(np.minimum(choice, probs.shape[-1] - 1))
        return np.stack(columns, axis=-1).astype(np.int64)

    def _zero_state(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        zeros = torch.zeros(n, self.config.hidden_size, device=self.device)
        return zeros, zeros.clone()

    def predict(
        self,
        observation: np.ndarray,
        state: RecurrentState | None = None,
        episode_start: bool | np.ndarray = True,
        deterministic: bool = True,
        reward: float | np.ndarray | None = None,
    ) -> tuple[np.ndarray, RecurrentState]:
        """Choose the action(s) for one step, with Stable-Baselines3's arguments.

        The observation normaliser is used but not updated. Stochastic actions
        (``deterministic=False``) are drawn from the agent's own generator.

        Parameters
        ----------
        observation
            One observation of shape ``obs_shape`` or a batch of shape ``(n, *obs_shape)``.
        state
            The state returned by the previous call, or None to start fresh episodes in all rows
            (then ``episode_start`` and ``reward`` are ignored).
        episode_start
            Whether each row starts a new episode (a bool, or a bool array of shape ``(n,)``).
            Rows that start get a zero LSTM state and no previous action or reward.
        deterministic
            Take the most likely choice per action dimension instead of sampling.
        reward
            Optional: the reward the environment returned for the previous action (a float, or
            an array of shape ``(n,)``). On HPTune envs it is recomputed from the previous
            observation kept in ``state`` when not given; other envs need it.

        Returns
        -------
        action
            ``np.int64`` array of shape ``(n_action_dims,)`` for one observation or
            ``(n, n_action_dims)`` for a batch, ready for ``env.step``.
        state
            The new recurrent state; pass it to the next call.

        Raises
        ------
        ValueError
            On a wrong observation / state / episode_start shape, or when the previous reward
            is needed, was not given and cannot be recomputed (an env that is not HPTune).
        """
        obs = np.asarray(observation, dtype=np.float64)
        single = obs.shape == self.obs_shape
        if single:
            obs = obs[None]
        elif obs.shape[1:] != self.obs_shape:
            raise ValueError(
                f"observation must have shape {self.obs_shape} or (n, {self.obs_shape[0]}), "
                f"got {obs.shape}"
            )
        n = obs.shape[0]

        if state is None:
            starts = np.ones(n, dtype=bool)
            h, c = self._zero_state(n)
            prev_action = np.full((n, len(self.nvec)), -1, dtype=np.int64)
            prev_obs = obs
        else:
            try:
                starts = np.broadcast_to(np.asarray(episode_start, dtype=bool), (n,)).copy()
            except ValueError as err:
                raise ValueError(
                    f"episode_start must be a bool or an array of shape ({n},), "
                    f"got shape {np.shape(episode_start)}"
                ) from err
            hidden = self.config.hidden_size
            expected_shapes = [(n, hidden), (n, hidden), (n, len(self.nvec)), (n, *self.obs_shape)]
            if len(state) != 4 or [np.shape(part) for part in state] != expected_shapes:
                raise ValueError(
                    f"state does not fit a batch of {n} observation(s); pass the state returned "
                    "by the previous predict call for the same batch (or state=None)"
                )
            h_saved, c_saved, prev_saved, prev_obs = state
            h = torch.as_tensor(np.array(h_saved), dtype=torch.float32, device=self.device)
            c = torch.as_tensor(np.array(c_saved), dtype=torch.float32, device=self.device)
            prev_action = np.array(prev_saved, dtype=np.int64)

        if reward is not None:
            try:
                rewards = np.broadcast_to(np.asarray(reward, dtype=np.float64), (n,)).copy()
            except ValueError as err:
                raise ValueError(
                    f"reward must be a float or an array of shape ({n},), got shape "
                    f"{np.shape(reward)}"
                ) from err
        elif starts.all():
            rewards = np.zeros(n, dtype=np.float64)
        elif self.reward_mode is not None:
            rewards = reward_from_observations(self.reward_mode, prev_obs, obs)
        else:
            raise ValueError(
                "predict needs reward= (the reward the environment returned for the previous "
                "action) for rows that are not at an episode start: this agent was not built on "
                "an HPTune env, so it cannot recompute the reward from its observations"
            )

        start_rows = torch.as_tensor(starts, device=self.device)
        h[start_rows] = 0.0
        c[start_rows] = 0.0
        prev_action[starts] = -1
        rewards[starts] = 0.0

        _, logits, (h, c) = self._policy_step(obs, prev_action, rewards, (h, c))
        actions = self._select_actions(logits, deterministic)
        new_state = (h.cpu().numpy().copy(), c.cpu().numpy().copy(), actions.copy(), obs.copy())
        env_actions = actions + self.action_start
        return (env_actions[0] if single else env_actions), new_state

    # ---------------------------------------------------------------------------- learning

    def _collect_round(self) -> tuple[_Rollout, np.ndarray, np.ndarray]:
        """Run one episode in every sub-environment at once.

        Returns the padded rollout and each episode's return and length. A sub-env that has
        finished keeps being stepped (its actions are arbitrary) until all have finished; those
        later steps are masked out, so autoreset output never enters the batch.
        """
        assert self._adapter is not None
        adapter = self._adapter
        n = adapter.num_envs
        seeds = [int(s) for s in self._np_rng.integers(0, 2**31 - 1, size=n)]
        obs = adapter.reset(seeds)
        state = self._zero_state(n)
        prev_action = np.full((n, len(self.nvec)), -1, dtype=np.int64)
        prev_reward = np.zeros(n, dtype=np.float64)
        active = np.ones(n, dtype=bool)
        inputs, actions, rewards, masks = [], [], [], []

        while active.any():
            if self.config.normalize_observations:
                self.obs_rms.update(obs[active])
            step_inputs, logits, state = self._policy_step(obs, prev_action, prev_reward, state)
            action = self._select_actions(logits, deterministic=False)
            obs, reward, terminated, truncated, _ = adapter.step(action)
            inputs.append(step_inputs)
            actions.append(torch.as_tensor(action))
            rewards.append(np.where(active, reward, 0.0))
            masks.append(active.copy())
            just_finished = active & (terminated | truncated)
            active = active & ~just_finished
            if active.any():
                adapter.keep_steppable(just_finished)
            prev_action, prev_reward = action, reward

        rollout = _Rollout(
            inputs=torch.stack(inputs, dim=1),
            actions=torch.stack(actions, dim=1).to(self.device),
            rewards=np.stack(rewards, axis=1),
            mask=np.stack(masks, axis=1),
        )
        return rollout, rollout.rewards.sum(axis=1), rollout.mask.sum(axis=1)

    def _reinforce_update(
        self,
        rollout: _Rollout,
        initial_state: tuple[torch.Tensor, torch.Tensor],
        baseline: MovingAverageBaseline,
    ) -> dict[str, float]:
        """One REINFORCE gradient step on a padded batch; returns the training metrics.

        The recorded inputs are replayed through the LSTM with gradients from ``initial_state``
        (detached), which gives the same log-probabilities as during collection because the
        policy has not changed since.
        """
        cfg = self.config
        returns = _discounted_returns(rollout.rewards, rollout.mask, cfg.gamma)
        mask = torch.as_tensor(rollout.mask, dtype=torch.float32, device=self.device)
        returns_t = torch.as_tensor(returns, dtype=torch.float32, device=self.device)
        n_steps = mask.sum().clamp(min=1.0)

        h0, c0 = (s.detach() for s in initial_state)
        logits, values, _ = self.policy(rollout.inputs, (h0, c0))
        log_prob = torch.zeros_like(mask)
        entropy = torch.zeros_like(mask)
        for dim, head_logits in enumerate(logits):
            log_probs_all = torch.log_softmax(head_logits, dim=-1)
            chosen = rollout.actions[..., dim].unsqueeze(-1)
            log_prob = log_prob + log_probs_all.gather(-1, chosen).squeeze(-1)
            entropy = entropy - (log_probs_all.exp() * log_probs_all).sum(dim=-1)

        if cfg.baseline == "value":
            assert values is not None
            advantages = returns_t - values.detach()
        else:
            per_step = baseline.compute_and_update(returns, rollout.mask)  # shape (T,)
            advantages = returns_t - torch.as_tensor(
                per_step, dtype=torch.float32, device=self.device
            )
        advantages = advantages * mask
        if cfg.normalize_advantages and n_steps > 1:
            mean = advantages.sum() / n_steps
            std = torch.sqrt((((advantages - mean) * mask) ** 2).sum() / (n_steps - 1))
            advantages = (advantages - mean) / (std + 1e-8) * mask

        ent_coef = cfg.ent_coef_at(self.num_updates)
        policy_loss = -(log_prob * advantages * mask).sum() / n_steps
        mean_entropy = (entropy * mask).sum() / n_steps
        loss = policy_loss - ent_coef * mean_entropy
        metrics: dict[str, float] = {}
        if values is not None:
            value_loss = (((values - returns_t) * mask) ** 2).sum() / n_steps
            loss = loss + cfg.vf_coef * value_loss
            metrics["train/value_loss"] = float(value_loss.item())

        self.optimizer.zero_grad()
        loss.backward()
        grad_norm = nn.utils.clip_grad_norm_(self.policy.parameters(), cfg.max_grad_norm)
        self.optimizer.step()
        self.num_updates += 1

        metrics.update(
            {
                "train/policy_loss": float(policy_loss.item()),
                "train/entropy": float(mean_entropy.item()),
                "train/loss": float(loss.item()),
                "train/grad_norm": float(grad_norm.item()),
                "train/ent_coef": float(ent_coef),
            }
        )
        return metrics

    def learn(
        self,
        total_episodes: int,
        progress_bar: bool = False,
        callback: Callback | None = None,
    ) -> RecurrentReinforce:
        """Train on whole episodes of the agent's environment.

        Each update uses ``episodes_per_update`` episodes (with a vector env, rounds of
        ``num_envs`` parallel episodes, so the batch is rounded up to a multiple of ``num_envs``).
        Updates continue until at least ``total_episodes`` episodes were played in this call;
        calling ``learn(a)`` then ``learn(b)`` (also across save/load) equals ``learn(a + b)``
        when ``a`` is a multiple of the batch size.

        Parameters
        ----------
        total_episodes
            Number of episodes to play in this call.
        progress_bar
            Show a tqdm progress bar over episodes.
        callback
            ``callback(agent, metrics)`` after each update; returning ``False`` stops learning.

        Returns
        -------
        RecurrentReinforce
            ``self``.
        """
        if self._adapter is None:
            raise ValueError(
                "this agent has no environment; pass env= to RecurrentReinforce.load(...)"
            )
        rounds_per_update = math.ceil(self.config.episodes_per_update / self._adapter.num_envs)
        played = 0
        with tqdm(
            total=total_episodes, disable=not progress_bar, desc="episodes", unit="ep"
        ) as bar:
            while played < total_episodes:
                rounds = [self._collect_round() for _ in range(rounds_per_update)]
                rollout = _Rollout.concatenate([r[0] for r in rounds])
                ep_returns = np.concatenate([r[1] for r in rounds])
                ep_lengths = np.concatenate([r[2] for r in rounds])
                initial_state = self._zero_state(rollout.mask.shape[0])
                metrics = {
                    "rollout/ep_return_mean": float(ep_returns.mean()),
                    "rollout/ep_return_std": float(ep_returns.std()),
                    "rollout/ep_len_mean": float(ep_lengths.mean()),
                    **self._reinforce_update(rollout, initial_state, self.episode_baseline),
                }
                self.num_episodes += len(ep_returns)
                played += len(ep_returns)
                metrics["time/episodes"] = self.num_episodes
                metrics["time/updates"] = self.num_updates
                self.history.append(metrics)
                bar.update(len(ep_returns))
                if callback is not None and callback(self, metrics) is False:
                    break
        return self

    def learn_online(
        self, env: gym.Env, total_steps: int, update_every: int = 5
    ) -> float | None:
        """Learn while acting in one long episode (the paper's online mode).

        The environment is reset once. Every ``update_every`` steps (and at the end) a REINFORCE
        update is made on the window of the last steps, with returns-to-go computed inside the
        window and truncated backpropagation through time: the LSTM state carried into the next
        window is detached. Stops after ``total_steps`` steps or when the episode ends, so build
        the environment with a horizon of at least ``total_steps``.

        Parameters
        ----------
        env
            A single (non-vector) ``gymnasium.Env`` with the spaces the agent was built for.
        total_steps
            Maximum number of environment steps.
        update_every
            Window length, in steps, between updates.

        Returns
        -------
        float or None
            ``info.get("test_accuracy")`` of the last step (None if the environment gives none).

        Raises
        ------
        TypeError
            If ``env`` is a vector environment.
        ValueError
            If the spaces do not match or the step counts are not positive.
        """
        if isinstance(env, VectorEnv):
            raise TypeError("learn_online needs a single gymnasium.Env, not a VectorEnv")
        if total_steps < 1 or update_every < 1:
            raise ValueError("total_steps and update_every must be positive")
        self._check_spaces(env)
        adapter = _EnvAdapter(env, self.action_start)

        obs = adapter.reset([int(self._np_rng.integers(0, 2**31 - 1))])
        state = self._zero_state(1)
        window_start_state = state
        prev_action = np.full((1, len(self.nvec)), -1, dtype=np.int64)
        prev_reward = np.zeros(1, dtype=np.float64)
        inputs: list[torch.Tensor] = []
        actions: list[torch.Tensor] = []
        rewards: list[np.ndarray] = []
        info: dict[str, Any] = {}

        for step in range(1, total_steps + 1):
            if self.config.normalize_observations:
                self.obs_rms.update(obs)
            step_inputs, logits, state = self._policy_step(obs, prev_action, prev_reward, state)
            action = self._select_actions(logits, deterministic=False)
            obs, reward, terminated, truncated, info = adapter.step(action)
            self.num_online_steps += 1
            inputs.append(step_inputs)
            actions.append(torch.as_tensor(action))
            rewards.append(reward)
            prev_action, prev_reward = action, reward
            done = bool(terminated[0] or truncated[0])

            if len(inputs) == update_every or done or step == total_steps:
                window = _Rollout(
                    inputs=torch.stack(inputs, dim=1),
                    actions=torch.stack(actions, dim=1).to(self.device),
                    rewards=np.stack(rewards, axis=1),
                    mask=np.ones((1, len(inputs)), dtype=bool),
                )
                metrics: dict[str, Any] = {
                    "rollout/window_reward_mean": float(window.rewards.mean()),
                    "rollout/window_len": len(inputs),
                    **self._reinforce_update(window, window_start_state, self.online_baseline),
                }
                if info.get("test_accuracy") is not None:
                    metrics["rollout/test_accuracy"] = float(info["test_accuracy"])
                metrics["time/online_steps"] = self.num_online_steps
                metrics["time/episodes"] = self.num_episodes
                metrics["time/updates"] = self.num_updates
                self.history.append(metrics)
                window_start_state = state  # computed without gradients: truncated BPTT
                inputs, actions, rewards = [], [], []
            if done:
                break

        test_accuracy = info.get("test_accuracy")
        return None if test_accuracy is None else float(test_accuracy)

    # ---------------------------------------------------------------------------- persistence

    @property
    def hp_space(self) -> dict[str, list] | None:
        """The hyper-parameters the actions choose, ``{name: [values]}`` in action order.

        The attached env's space, else the one in the checkpoint the agent was loaded from; None
        when neither knows it (an env without an ``hp_space``, an older checkpoint).
        """
        if self.env is not None:
            return hp_space_of(self.env)
        return getattr(self, "_checkpoint_hp_space", None)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write everything needed to resume training to ``path`` (atomically).

        The checkpoint holds the configuration, the hyper-parameter space (names and values),
        network and optimiser state, observation statistics, baselines, counters, history and the
        states of the agent's random generators, so ``load(...).learn(n)`` continues exactly where
        training stopped.

        Parameters
        ----------
        path
            Destination file; parent folders are created.
        """
        payload = {
            "agent": type(self).__name__,
            "config": dataclasses.asdict(self.config),
            "spaces": {
                "observation_shape": list(self.obs_shape),
                "action_nvec": list(self.nvec),
                "action_start": self.action_start.tolist(),
            },
            "hp_space": self.hp_space,
            "policy": {k: v.detach().cpu() for k, v in self.policy.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "obs_rms": self.obs_rms.state_dict(),
            "baselines": {
                "episode": self.episode_baseline.state_dict(),
                "online": self.online_baseline.state_dict(),
            },
            "counters": {
                "episodes": self.num_episodes,
                "updates": self.num_updates,
                "online_steps": self.num_online_steps,
            },
            "rng": {
                "torch": self._torch_rng.get_state(),
                "numpy": self._np_rng.bit_generator.state,
            },
            "history": [dict(entry) for entry in self.history],
            "reward_mode": self.reward_mode,
        }
        save_checkpoint(path, payload)

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        env: gym.Env | VectorEnv | None = None,
        device: str | None = None,
    ) -> RecurrentReinforce:
        """Restore an agent written by :meth:`save`.

        Parameters
        ----------
        path
            The checkpoint file.
        env
            Environment to continue learning in (needed for :meth:`learn`, not for
            :meth:`predict`). Its spaces must match the saved ones, the hyper-parameter space
            (names and values, not only its shape) included.
        device
            Torch device to load onto (default: the saved configuration's device).

        Returns
        -------
        RecurrentReinforce
            The restored agent.

        Raises
        ------
        ValueError
            If the file is missing or not a RecurrentReinforce checkpoint of this package, or if
            ``env``'s spaces or hyper-parameter space differ from the saved ones.
        """
        payload = load_checkpoint(path)
        if payload.get("agent") != cls.__name__:
            raise ValueError(
                f"{path} holds a {payload.get('agent')!r} checkpoint, not a {cls.__name__} one"
            )
        agent = cls.__new__(cls)
        try:
            config_values = dict(payload["config"])
            if device is not None:
                config_values["device"] = device
            spaces = payload["spaces"]
            agent._build(
                obs_shape=tuple(int(d) for d in spaces["observation_shape"]),
                nvec=[int(n) for n in spaces["action_nvec"]],
                action_start=[int(s) for s in spaces["action_start"]],
                config=RecurrentReinforceConfig(**config_values),
            )
            agent.policy.load_state_dict(payload["policy"])
            agent.optimizer.load_state_dict(payload["optimizer"])
            agent.obs_rms.load_state_dict(payload["obs_rms"])
            agent.episode_baseline.load_state_dict(payload["baselines"]["episode"])
            agent.online_baseline.load_state_dict(payload["baselines"]["online"])
            counters = payload["counters"]
            agent.num_episodes = int(counters["episodes"])
            agent.num_updates = int(counters["updates"])
            agent.num_online_steps = int(counters["online_steps"])
            agent._torch_rng.set_state(payload["rng"]["torch"])
            agent._np_rng.bit_generator.state = payload["rng"]["numpy"]
            agent.history = [dict(entry) for entry in payload["history"]]
            agent._checkpoint_hp_space = payload.get("hp_space")
            agent.reward_mode = payload.get("reward_mode")
        except (KeyError, TypeError, RuntimeError, ValueError) as err:
            raise ValueError(
                f"{path} is not a valid {cls.__name__} checkpoint ({type(err).__name__}: {err})"
            ) from err
        if env is not None:
            check_hp_space(agent._checkpoint_hp_space, hp_space_of(env), str(path))
            agent._attach_env(env)
        return agent
