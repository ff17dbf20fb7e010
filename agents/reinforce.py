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
    agent.learn(512, runners=RayRunners(env_kwargs, num_runners=4))  # agents.distributed

The file reads top to bottom: the configuration, the baselines, the policy network, then the
agent (acting, the rollout, the REINFORCE update, persistence). Running policies in environments
(the one rollout loop, the chunks of episodes it produces and runners exchange, the observation
normaliser) lives in :mod:`agents.rollout`, which other agents can use too.

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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from numbers import Integral
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import VectorEnv
from torch import nn
from tqdm.auto import tqdm

from agents.checkpoint import check_hp_space, hp_space_of, load_checkpoint, save_checkpoint
from agents.rollout import (
    ChunkPlan,
    EnvAdapter,
    EpisodeChunk,
    PaddedBatch,
    PolicySnapshot,
    Runners,
    RunningMeanStd,
    Step,
    discounted_returns,
    reward_mode_of,
    run_steps,
    spaces_of,
)
from hpenv.episodes import reward_from_observations

# EpisodeChunk, ChunkPlan, PolicySnapshot and Runners live in agents.rollout; they stay importable
# from here, where user code and pickled chunks (Ray) have always found them.
__all__ = [
    "RecurrentReinforce", "RecurrentReinforceConfig", "RecurrentState",
    "MovingAverageBaseline", "leave_one_out_advantages", "RecurrentPolicy",
    "EpisodeChunk", "ChunkPlan", "PolicySnapshot", "Runners",
]

RecurrentState = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
"""What :meth:`RecurrentReinforce.predict` returns as ``state``: LSTM ``h`` and ``c`` (each of
shape ``(n, hidden_size)``), the previous action indices (``(n, n_action_dims)``, -1 where there
is none yet) and the previous observations (``(n, obs_dim)``, from which the previous reward is
recomputed). Treat it as opaque and pass it back on the next call."""

Callback = Callable[["RecurrentReinforce", dict[str, Any]], Any]
"""``callback(agent, metrics)`` called after every update; returning ``False`` stops learning."""

BASELINES = ("moving_average", "value", "leave_one_out")
"""The values :attr:`RecurrentReinforceConfig.baseline` takes."""


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------


@dataclass
class RecurrentReinforceConfig:
    """Hyper-parameters of :class:`RecurrentReinforce` (pass them as keyword arguments).

    Raises
    ------
    ValueError
        On a value out of range or a combination that cannot work (see each field).
    """

    hidden_size: int = 64
    """Number of units of the single-layer LSTM."""
    learning_rate: float = 1e-2
    """Adam step size (tuned on HPTune digits: 3e-3 left the policy far from converged after
    512 episodes)."""
    gamma: float = 1.0
    """Discount factor of the returns-to-go within an episode (1.0: undiscounted)."""
    ent_coef: float = 0.05
    """Weight of the entropy bonus (entropy summed over action dimensions)."""
    ent_coef_final: float | None = None
    """If set, ``ent_coef`` decays linearly to this value over ``ent_decay_updates`` updates."""
    ent_decay_updates: int | None = None
    """Length of that decay in updates, counted over the agent's life (resuming continues it)."""
    baseline: str = "moving_average"
    """What the returns are compared with: ``"moving_average"`` (a per-time-step moving average
    of returns), ``"value"`` (a value head on the LSTM) or ``"leave_one_out"`` (the mean return
    of the other episodes of the same group at the same time-step; needs ``group_size >= 2``,
    see :func:`leave_one_out_advantages`). :meth:`RecurrentReinforce.learn_online` plays one
    long episode, which has no group: there ``"leave_one_out"`` falls back to the online
    moving average."""
    baseline_decay: float = 0.9
    """Weight the moving-average baseline keeps on its old value at each update."""
    vf_coef: float = 0.5
    """Weight of the value head's squared-error loss (``baseline="value"`` only)."""
    max_grad_norm: float = 1.0
    """Gradients are clipped to this global L2 norm before each Adam step."""
    episodes_per_update: int = 8
    """Whole episodes per update (rounded up to a multiple of ``num_envs`` for a VectorEnv);
    a multiple of ``group_size``."""
    group_size: int = 1
    """The episodes of an update come in groups of this many consecutive episodes that share one
    reset seed (on HPTune: the same task member and the same initial child) while their actions
    are sampled independently, so that comparing them (``baseline="leave_one_out"``) isolates
    the effect of the actions. A VectorEnv's ``num_envs`` (and the runners') must be a multiple
    of it, so a group never spans two chunks; a plain Env plays a group's episodes one after
    another."""
    normalize_observations: bool = True
    """Normalise observations by a running mean/std, updated while learning, frozen in predict."""
    obs_clip: float = 10.0
    """Normalised observations are clipped to ``[-obs_clip, obs_clip]``."""
    normalize_advantages: bool = True
    """Standardise the advantages of each batch to zero mean and unit variance (leave-one-out
    advantages, already centred, are only divided by their root mean square)."""
    seed: int | None = None
    """Seed of the agent's own random generators (None: fresh entropy from the OS)."""
    device: str = "cpu"
    """Torch device of the network."""

    def __post_init__(self) -> None:
        if self.baseline not in BASELINES:
            raise ValueError(f"baseline must be one of {BASELINES}, got {self.baseline!r}")
        if self.hidden_size < 1 or self.episodes_per_update < 1:
            raise ValueError("hidden_size and episodes_per_update must be positive")
        if isinstance(self.group_size, bool) or not isinstance(self.group_size, Integral) \
                or self.group_size < 1:
            raise ValueError(f"group_size must be an integer >= 1, got {self.group_size!r}")
        if self.episodes_per_update % self.group_size:
            raise ValueError(
                f"episodes_per_update={self.episodes_per_update} must be a multiple of "
                f"group_size={self.group_size}: every update plays whole groups"
            )
        if self.baseline == "leave_one_out" and self.group_size < 2:
            raise ValueError(
                f"baseline='leave_one_out' needs group_size >= 2 (each episode is compared with "
                f"the others of its group), got group_size={self.group_size}"
            )
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
# Baselines
# --------------------------------------------------------------------------------------------


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


def leave_one_out_advantages(
    returns: np.ndarray, mask: np.ndarray, group_size: int
) -> np.ndarray:
    """Advantages against the other episodes of each group (leave-one-out baseline).

    Rows ``[k * group_size, (k + 1) * group_size)`` form group ``k``. The advantage of step ``t``
    of episode ``i`` is its return-to-go minus the mean return-to-go at ``t`` of the other
    episodes of its group that are still running at ``t``; that baseline never depends on the
    episode's own actions, so it adds no bias. A step at which no other episode of its group is
    still running (they ended earlier, e.g. diverged) has nothing to be compared with and gets
    advantage 0: its raw return would be an uncentred term, the very noise that grouping exists
    to remove. The price: such late steps weigh in the gradient by the chance that another
    episode of the group is still running (1 when episodes cannot end early).

    Parameters
    ----------
    returns
        Returns-to-go, ``(batch, T)``.
    mask
        True for real steps, False for padding, ``(batch, T)``.
    group_size
        Episodes per group (at least 2); ``batch`` must be a multiple of it.

    Returns
    -------
    numpy.ndarray
        Advantages, ``(batch, T)``, 0 on padding.

    Raises
    ------
    ValueError
        If ``group_size < 2`` or the batch is not made of whole groups.
    """
    batch, steps = returns.shape
    if group_size < 2 or batch % group_size:
        raise ValueError(
            f"leave-one-out advantages need group_size >= 2 and a batch of whole groups; got "
            f"group_size={group_size} and {batch} episodes"
        )
    shape = (batch // group_size, group_size, steps)
    running = mask.reshape(shape)
    own = np.where(running, returns.reshape(shape), 0.0)
    others = running.sum(axis=1, keepdims=True) - running  # other episodes running at t
    others_mean = (own.sum(axis=1, keepdims=True) - own) / np.maximum(others, 1)
    return np.where(running & (others > 0), own - others_mean, 0.0).reshape(batch, steps)


# --------------------------------------------------------------------------------------------
# Policy network
# --------------------------------------------------------------------------------------------


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

    def evaluate_actions(
        self,
        inputs: torch.Tensor,
        state: tuple[torch.Tensor, torch.Tensor],
        actions: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Log-probability and entropy of ``actions`` (both summed over action dimensions) and
        the values, each ``(batch, T)``, replaying ``inputs`` from ``state`` with gradients.

        ``actions`` holds 0-based indices, ``(batch, T, n_action_dims)``.
        """
        logits, values, _ = self(inputs, state)
        log_prob = torch.zeros(actions.shape[:2], device=inputs.device)
        entropy = torch.zeros_like(log_prob)
        for dim, head_logits in enumerate(logits):
            log_probs_all = torch.log_softmax(head_logits, dim=-1)
            log_prob = log_prob + log_probs_all.gather(-1, actions[..., dim, None]).squeeze(-1)
            entropy = entropy - (log_probs_all.exp() * log_probs_all).sum(dim=-1)
        return log_prob, entropy, values


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
        If a space has an unsupported shape, a configuration value is invalid, or a VectorEnv's
        ``num_envs`` is not a multiple of ``group_size``.
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
        obs_space, action_space = spaces_of(env, type(self).__name__)
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
        self._adapter: EnvAdapter | None = None
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

    def _check_spaces(self, env: gym.Env | VectorEnv | Runners) -> None:
        """Raise ``ValueError`` unless ``env``'s spaces match the ones this agent was built for."""
        obs_space, action_space = spaces_of(env, type(self).__name__)
        got = (tuple(obs_space.shape), [int(n) for n in action_space.nvec])
        expected = (self.obs_shape, self.nvec)
        same_start = np.array_equal(np.asarray(action_space.start), self.action_start)
        if got != expected or not same_start:
            raise ValueError(
                f"environment spaces do not match the agent's: the agent expects observations of "
                f"shape {self.obs_shape} and MultiDiscrete(nvec={self.nvec}, "
                f"start={self.action_start.tolist()}), got {obs_space!r} and {action_space!r}"
            )

    def _check_groups_fit(self, num_envs: int, whose: str) -> None:
        """Raise ``ValueError`` unless chunks of ``num_envs`` episodes hold whole groups."""
        group_size = self.config.group_size
        if num_envs % group_size:
            raise ValueError(
                f"{whose} num_envs={num_envs} must be a multiple of group_size={group_size}: the "
                f"episodes of a group share a reset seed and are played side by side in one chunk "
                f"of num_envs episodes (use num_envs in {{{group_size}, {2 * group_size}, ...}}, "
                f"or a group_size that divides {num_envs})"
            )

    def _attach_env(self, env: gym.Env | VectorEnv) -> None:
        self._check_spaces(env)
        self._adapter = EnvAdapter(env, self.action_start)
        if self._adapter.is_vector:
            self._check_groups_fit(self._adapter.num_envs, "the VectorEnv's")
        self.env = env
        self.reward_mode = reward_mode_of(env) or self.reward_mode

    # ---------------------------------------------------------------------------- acting

    def _policy_step(
        self,
        obs: np.ndarray,
        prev_action: np.ndarray,
        prev_reward: np.ndarray,
        state: tuple[torch.Tensor, torch.Tensor],
    ) -> tuple[np.ndarray, list[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
        """One LSTM step for ``n`` rows without gradients.

        Returns the LSTM input that was used (numpy, to replay it during the update), the logits
        of each action dimension (each ``(n, n_choices)``) and the new ``(h, c)``.
        """
        if self.config.normalize_observations:
            obs = self.obs_rms.normalize(obs)
        inputs = self.policy.make_input(obs, prev_action, prev_reward)
        with torch.no_grad():
            logits, _, state = self.policy(
                torch.as_tensor(inputs, device=self.device).unsqueeze(1), state
            )
        return inputs, [lg.squeeze(1) for lg in logits], state

    def _select_actions(
        self,
        logits: list[torch.Tensor],
        deterministic: bool,
        rng: np.random.Generator | None = None,
    ) -> np.ndarray:
        """Argmax, or sample with ``rng`` (default: the agent's numpy generator), per dimension."""
        rng = self._np_rng if rng is None else rng
        columns = []
        for head_logits in logits:
            if deterministic:
                columns.append(head_logits.argmax(dim=-1).cpu().numpy())
                continue
            probs = torch.softmax(head_logits.double(), dim=-1).cpu().numpy()
            uniform = rng.random((probs.shape[0], 1))
            choice = (np.cumsum(probs, axis=-1) < uniform).sum(axis=-1)  # inverse-CDF sampling
            columns.append(np.minimum(choice, probs.shape[-1] - 1))
        return np.stack(columns, axis=-1).astype(np.int64)

    def _zero_state(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        zeros = torch.zeros(n, self.config.hidden_size, device=self.device)
        return zeros, zeros.clone()

    @staticmethod
    def _per_row(value: Any, n: int, name: str, kind: type) -> np.ndarray:
        """``value``, a scalar or an array of shape ``(n,)``, as a fresh array of shape ``(n,)``."""
        try:
            return np.broadcast_to(np.asarray(value, dtype=kind), (n,)).copy()
        except ValueError as err:
            raise ValueError(
                f"{name} must be a {kind.__name__} or an array of shape ({n},), got shape "
                f"{np.shape(value)}"
            ) from err

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
            starts = self._per_row(episode_start, n, "episode_start", bool)
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
            rewards = self._per_row(reward, n, "reward", float)
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

    # ---------------------------------------------------------------------------- rollout

    def _steps(
        self,
        adapter: EnvAdapter,
        seeds: list[int],
        rng: np.random.Generator,
        fold_observations: bool = True,
    ) -> Iterator[Step]:
        """The agent in the one rollout loop (:func:`agents.rollout.run_steps`).

        Every row starts from a zero LSTM state; ``rng`` samples the actions. With
        ``fold_observations`` the observation statistics take in each step as it is played
        (learning in process); without, they stay frozen (a runner, whose learner folds the
        returned raw observations in afterwards).
        """

        def act(obs: np.ndarray, prev_action: np.ndarray, prev_reward: np.ndarray, state: Any):
            inputs, logits, state = self._policy_step(obs, prev_action, prev_reward, state)
            return inputs, self._select_actions(logits, deterministic=False, rng=rng), state

        fold = fold_observations and self.config.normalize_observations
        state = self._zero_state(adapter.num_envs)
        return run_steps(adapter, seeds, act, state, self.obs_rms if fold else None)

    def _draw_seeds(self, n: int, group_size: int = 1) -> list[int]:
        """``n`` reset seeds: ``n // group_size`` drawn ones, each repeated ``group_size`` times
        in a row (so ``n`` must be a multiple of ``group_size``)."""
        drawn = self._np_rng.integers(0, 2**31 - 1, size=n // group_size)
        return [int(s) for s in np.repeat(drawn, group_size)]

    def _round_seeds(self, num_envs: int) -> Iterator[list[int]]:
        """The reset seeds of each round of ``num_envs`` episodes of an in-process update.

        Drawn lazily, as each round starts: the rounds' actions are sampled from the same
        generator in between. A plain Env (one episode per round) takes a group's seeds over
        ``group_size`` rounds.
        """
        group_size = self.config.group_size
        pending: list[int] = []
        for _ in range(math.ceil(self.config.episodes_per_update / num_envs)):
            if not pending:
                pending = self._draw_seeds(max(num_envs, group_size), group_size)
            seeds, pending = pending[:num_envs], pending[num_envs:]
            yield seeds

    def plan_update(self, num_envs: int) -> list[ChunkPlan]:
        """Draw the chunks of the next update: ``ceil(episodes_per_update / num_envs)`` chunks of
        ``num_envs`` episodes, each with its reset seeds (grouped by ``group_size``) and
        action-sampling seed.

        Everything random about an update's episodes is drawn here, by the learner, so the
        update does not depend on how many runners play it or which runner plays which chunk.

        Raises
        ------
        ValueError
            If ``num_envs`` is not a multiple of ``group_size``.
        """
        self._check_groups_fit(num_envs, "the runners'")
        chunks = math.ceil(self.config.episodes_per_update / num_envs)
        return [
            ChunkPlan(
                self._draw_seeds(num_envs, self.config.group_size),
                int(self._np_rng.integers(0, 2**63 - 1)),
            )
            for _ in range(chunks)
        ]

    def snapshot(self) -> PolicySnapshot:
        """The configuration, policy weights and observation statistics, for runners to act with."""
        return PolicySnapshot(
            config=dataclasses.asdict(self.config),
            weights={k: v.detach().cpu().clone() for k, v in self.policy.state_dict().items()},
            obs_rms=self.obs_rms.state_dict(),
        )

    def play_chunk(self, snapshot: PolicySnapshot, plan: ChunkPlan) -> EpisodeChunk:
        """Play one chunk of episodes in this agent's vector env as ``snapshot``'s learner would.

        This agent takes the snapshot's weights and observation statistics (it is a runner's
        vessel: its own are overwritten) and keeps the statistics frozen while it plays.

        Raises
        ------
        ValueError
            If ``plan`` does not hold one seed per sub-environment, or the agent has no env.
        """
        if self._adapter is None:
            raise ValueError("play_chunk needs an agent with an environment")
        if len(plan.seeds) != self._adapter.num_envs:
            raise ValueError(
                f"plan.seeds must hold one seed per sub-environment ({self._adapter.num_envs}), "
                f"got {len(plan.seeds)}"
            )
        self.policy.load_state_dict(snapshot.weights)
        self.obs_rms.load_state_dict(snapshot.obs_rms)
        rng = np.random.default_rng(plan.action_seed)
        return EpisodeChunk.from_steps(
            self._steps(self._adapter, plan.seeds, rng, fold_observations=False)
        )

    # ---------------------------------------------------------------------------- learning

    def learn(
        self,
        total_episodes: int,
        progress_bar: bool = False,
        callback: Callback | None = None,
        runners: Runners | None = None,
    ) -> RecurrentReinforce:
        """Train on whole episodes of the agent's environment, or of ``runners``.

        Each update uses ``episodes_per_update`` episodes (in chunks of ``num_envs`` parallel
        episodes, so the batch is rounded up to a multiple of ``num_envs``). Updates continue
        until at least ``total_episodes`` episodes were played in this call; calling ``learn(a)``
        then ``learn(b)`` (also across save/load) equals ``learn(a + b)`` when ``a`` is a
        multiple of the batch size.

        In process (no ``runners``) the observation statistics take in each step as it is played.
        With ``runners`` (e.g. :class:`agents.distributed.RayRunners`) the runners play the
        update's chunks (:meth:`plan_update`) with a frozen :meth:`snapshot` and this agent
        learns from them (:meth:`update_from_chunks`): the result is the same for any number of
        runners, though not the same as in process.

        Parameters
        ----------
        total_episodes
            Number of episodes to play in this call.
        progress_bar
            Show a tqdm progress bar over episodes.
        callback
            ``callback(agent, metrics)`` after each update; returning ``False`` stops learning.
        runners
            Where to play the episodes (default: this agent's own environment).

        Returns
        -------
        RecurrentReinforce
            ``self``.

        Raises
        ------
        ValueError
            If the agent has no environment and no ``runners`` are given, or the runners' spaces
            do not match the agent's or their ``num_envs`` is not a multiple of ``group_size``.
        """
        if runners is None and self._adapter is None:
            raise ValueError(
                "this agent has no environment; pass env= to RecurrentReinforce.load(...)"
            )
        if runners is not None:
            self._check_spaces(runners)
            self._check_groups_fit(runners.num_envs, "the runners'")
        played = 0
        with tqdm(
            total=total_episodes, disable=not progress_bar, desc="episodes", unit="ep"
        ) as bar:
            while played < total_episodes:
                if runners is None:
                    adapter = self._adapter
                    assert adapter is not None
                    chunks = [
                        EpisodeChunk.from_steps(self._steps(adapter, seeds, self._np_rng))
                        for seeds in self._round_seeds(adapter.num_envs)
                    ]
                    # the statistics took in each step as it was played: no second fold
                    metrics = self.update_from_chunks(chunks, fold_observations=False)
                else:
                    chunks = runners.play(self.snapshot(), self.plan_update(runners.num_envs))
                    metrics = self.update_from_chunks(chunks)
                episodes = sum(len(chunk.mask) for chunk in chunks)
                played += episodes
                bar.update(episodes)
                if callback is not None and callback(self, metrics) is False:
                    break
        return self

    def learn_online(
        self, env: gym.Env, total_steps: int, update_every: int = 5, seed: int | None = None
    ) -> float | None:
        """Learn while acting in one long episode (the paper's online mode).

        The environment is reset once and played by the same rollout loop as :meth:`learn`, cut
        into windows: every ``update_every`` steps (and at the end) a REINFORCE update is made on
        the window of the last steps, with returns-to-go computed inside the window and
        truncated backpropagation through time (the LSTM state carried into the next window is
        detached). The baseline is the online moving average (or the value head with
        ``baseline="value"``): one episode has no group to compare with, so
        ``baseline="leave_one_out"`` uses the moving average here. Stops after ``total_steps``
        steps or when the episode ends, so build the environment with a horizon of at least
        ``total_steps``.

        Parameters
        ----------
        env
            A single (non-vector) ``gymnasium.Env`` with the spaces the agent was built for.
        total_steps
            Maximum number of environment steps.
        update_every
            Window length, in steps, between updates.
        seed
            Reset seed of the episode (default: drawn from the agent's generator), e.g. to train
            the same child as another method does.

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

        window: list[Step] = []
        window_start = self._zero_state(1)
        info: dict[str, Any] = {}
        seeds = self._draw_seeds(1) if seed is None else [int(seed)]
        steps = self._steps(EnvAdapter(env, self.action_start), seeds, self._np_rng)
        for count, step in enumerate(steps, start=1):
            self.num_online_steps += 1
            window.append(step)
            info = step.info
            last = count == total_steps or bool(step.done[0])
            if len(window) == update_every or last:
                chunk = EpisodeChunk.from_steps(window)
                batch = PaddedBatch.from_chunks([chunk], self.device)
                metrics: dict[str, Any] = {
                    "rollout/window_reward_mean": float(chunk.rewards.mean()),
                    "rollout/window_len": len(window),
                    **self._reinforce_update(batch, window_start, online=True),
                }
                if info.get("test_accuracy") is not None:
                    metrics["rollout/test_accuracy"] = float(info["test_accuracy"])
                metrics["time/online_steps"] = self.num_online_steps
                self._record(metrics)
                # the next window starts from the state the loop carried, which was computed
                # without gradients: truncated backpropagation through time
                window, window_start = [], step.state
            if last:
                break

        test_accuracy = info.get("test_accuracy")
        return None if test_accuracy is None else float(test_accuracy)

    def update_from_chunks(
        self, chunks: list[EpisodeChunk], fold_observations: bool = True
    ) -> dict[str, Any]:
        """One REINFORCE update on gathered chunks; records the metrics in :attr:`history`.

        With ``fold_observations`` the chunks' raw observations first enter the observation
        statistics, chunk by chunk and step by step (the order :meth:`learn` takes them in
        locally), so the result depends only on the chunks and their order. The batch's rows
        follow the chunks' order, so the groups of ``group_size`` episodes stay together.

        Returns
        -------
        dict
            The update's metrics (also appended to :attr:`history`).
        """
        if fold_observations and self.config.normalize_observations:
            for chunk in chunks:
                for t in range(chunk.mask.shape[1]):
                    self.obs_rms.update(chunk.observations[:, t][chunk.mask[:, t]])
        batch = PaddedBatch.from_chunks(chunks, self.device)
        ep_returns = np.concatenate([chunk.returns for chunk in chunks])
        ep_lengths = np.concatenate([chunk.lengths for chunk in chunks])
        initial_state = self._zero_state(batch.mask.shape[0])
        metrics = {
            "rollout/ep_return_mean": float(ep_returns.mean()),
            "rollout/ep_return_std": float(ep_returns.std()),
            "rollout/ep_len_mean": float(ep_lengths.mean()),
            **self._reinforce_update(batch, initial_state, online=False),
        }
        self.num_episodes += len(ep_returns)
        self._record(metrics)
        return metrics

    def _record(self, metrics: dict[str, Any]) -> None:
        """Stamp ``metrics`` with the life-long counters and append them to :attr:`history`."""
        metrics["time/episodes"] = self.num_episodes
        metrics["time/updates"] = self.num_updates
        self.history.append(metrics)

    # ---------------------------------------------------------------------------- the update

    def _reinforce_update(
        self,
        batch: PaddedBatch,
        initial_state: tuple[torch.Tensor, torch.Tensor],
        online: bool,
    ) -> dict[str, float]:
        """One REINFORCE gradient step on a padded batch; returns the training metrics.

        The recorded inputs are replayed through the LSTM with gradients from ``initial_state``
        (detached), which gives the same log-probabilities as during collection because the
        policy has not changed since. ``online`` marks a window of the online mode (its own
        moving-average baseline, also in place of leave-one-out).
        """
        cfg = self.config
        returns = discounted_returns(batch.rewards, batch.mask, cfg.gamma)
        mask = torch.as_tensor(batch.mask, dtype=torch.float32, device=self.device)
        returns_t = torch.as_tensor(returns, dtype=torch.float32, device=self.device)
        n_steps = mask.sum().clamp(min=1.0)
        h0, c0 = (s.detach() for s in initial_state)
        log_prob, entropy, values = self.policy.evaluate_actions(
            batch.inputs, (h0, c0), batch.actions
        )
        advantages = self._advantages(returns, batch.mask, values, online)

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

    def _advantages(
        self,
        returns: np.ndarray,
        real: np.ndarray,
        values: torch.Tensor | None,
        online: bool,
    ) -> torch.Tensor:
        """Advantages of a batch, ``(batch, T)``, 0 on padding, normalised if configured.

        ``returns`` are the returns-to-go and ``real`` marks the real steps (both ``(batch, T)``);
        ``values`` are the value head's estimates, if it has one. The online mode's windows use
        the online moving average in place of leave-one-out (one episode has no group).
        """
        cfg = self.config
        mask = torch.as_tensor(real, dtype=torch.float32, device=self.device)
        returns_t = torch.as_tensor(returns, dtype=torch.float32, device=self.device)
        n_steps = mask.sum().clamp(min=1.0)
        leave_one_out = cfg.baseline == "leave_one_out" and not online
        if cfg.baseline == "value":
            assert values is not None
            advantages = returns_t - values.detach()
        elif leave_one_out:
            loo = leave_one_out_advantages(returns, real, cfg.group_size)
            advantages = torch.as_tensor(loo, dtype=torch.float32, device=self.device)
        else:
            moving_average = self.online_baseline if online else self.episode_baseline
            per_step = moving_average.compute_and_update(returns, real)  # shape (T,)
            advantages = returns_t - torch.as_tensor(
                per_step, dtype=torch.float32, device=self.device
            )
        advantages = advantages * mask
        if not cfg.normalize_advantages or n_steps <= 1:
            return advantages
        if leave_one_out:
            # already centred within each group: subtracting the batch mean would only couple
            # the groups again, so only the scale is normalised
            return advantages / (torch.sqrt((advantages**2).sum() / n_steps) + 1e-8)
        mean = advantages.sum() / n_steps
        std = torch.sqrt((((advantages - mean) * mask) ** 2).sum() / (n_steps - 1))
        return (advantages - mean) / (std + 1e-8) * mask

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
