"""Running recurrent policies in environments: the plumbing an agent needs besides its algorithm.

[`run_steps`][agents.rollout.run_steps] is the one rollout loop. It resets an environment (a plain
``gymnasium.Env`` seen as one row, or a ``VectorEnv``, through [`EnvAdapter`][agents.rollout.EnvAdapter]) and
yields one [`Step`][agents.rollout.Step] per time-step until every row's episode has ended; the agent decides
how to act and what to do with the steps: [`agents.reinforce.RecurrentReinforce`][] gathers whole episodes
into an [`EpisodeChunk`][agents.rollout.EpisodeChunk] to learn from, and cuts one long episode into windows in
its online mode.

The rest is what travels between a learner and the runners that play its episodes elsewhere
([`ChunkPlan`][agents.rollout.ChunkPlan], [`PolicySnapshot`][agents.rollout.PolicySnapshot],
[`EpisodeChunk`][agents.rollout.EpisodeChunk] and the [`Runners`][agents.rollout.Runners] protocol, e.g.
[`agents.distributed.RayRunners`][]), the padded batch an update stacks the chunks into
([`PaddedBatch`][agents.rollout.PaddedBatch]), discounted returns-to-go, the observation normaliser
([`RunningMeanStd`][agents.rollout.RunningMeanStd]) and the checks of what environments an agent supports.

[`RecurrentRollouts`][agents.rollout.RecurrentRollouts] is how a recurrent agent plays: its episodes in
process, and both sides of the runner protocol (``plan_update`` and ``snapshot`` for the learner,
``play_chunk`` for a runner).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode, VectorEnv

from agents.policy import PREVIOUS_REWARD_IN_OBSERVATION
from agents.seeds import TRAINING_DRAW

__all__ = [
    "RunningMeanStd", "EnvAdapter", "Step", "Act", "run_steps",
    "EpisodeChunk", "ChunkPlan", "PolicySnapshot", "Runners", "PaddedBatch",
    "discounted_returns", "switch_charges", "spaces_of", "reward_mode_of", "RecurrentRollouts",
]


# --------------------------------------------------------------------------------------------
# What an agent supports
# --------------------------------------------------------------------------------------------


def spaces_of(
    env: Any, owner: str = "the agent"
) -> tuple[gym.spaces.Box, gym.spaces.MultiDiscrete]:
    """Check that ``env`` is supported and return its single observation and action spaces.

    Args:
        env: A ``gymnasium.Env``, a ``gymnasium.vector.VectorEnv``, or anything with a vector
            env's ``single_observation_space`` and ``single_action_space`` (e.g.
            [`Runners`][agents.rollout.Runners]).
        owner: Who asks, for the error messages.

    Returns:
        The observation space (a flat ``Box``) and the action space (a ``MultiDiscrete`` with a
            1-D ``nvec``) of one sub-environment.

    Raises:
        TypeError: If ``env`` or one of its spaces is of an unsupported kind.
        ValueError: If a space has an unsupported shape.
    """
    if isinstance(env, VectorEnv) or hasattr(env, "single_action_space"):
        obs_space, action_space = env.single_observation_space, env.single_action_space
    elif isinstance(env, gym.Env):
        obs_space, action_space = env.observation_space, env.action_space
    else:
        raise TypeError(
            f"env must be a gymnasium.Env or gymnasium.vector.VectorEnv, got {type(env).__name__}"
        )
    if not isinstance(action_space, gym.spaces.MultiDiscrete):
        raise TypeError(
            f"{owner} got action space {action_space!r}; only "
            "gymnasium.spaces.MultiDiscrete action spaces with a 1-D nvec are supported"
        )
    if action_space.nvec.ndim != 1:
        raise ValueError(
            f"{owner} got action space {action_space!r} with a {action_space.nvec.ndim}-D nvec; "
            "only a 1-D nvec is supported"
        )
    if not isinstance(obs_space, gym.spaces.Box):
        raise TypeError(
            f"{owner} got observation space {obs_space!r}; only a flat (1-D) "
            "gymnasium.spaces.Box observation space is supported"
        )
    if len(obs_space.shape) != 1:
        raise ValueError(
            f"{owner} got observation space {obs_space!r} of shape {obs_space.shape}; "
            "only a flat (1-D) Box observation space is supported (flatten it first)"
        )
    return obs_space, action_space


def reward_mode_of(env: Any) -> str | None:
    """Where a policy can recover the previous reward from ``env``'s observations, or None.

    [`agents.policy.PREVIOUS_REWARD_IN_OBSERVATION`][] for an env wrapped in
    [`agents.wrappers.PreviousReward`][] (its observation ends with the reward), else the
    HPTune ``reward`` argument (through wrappers), else None.
    """
    layer = env
    while layer is not None:
        if getattr(type(layer), "carries_previous_reward", False):
            return PREVIOUS_REWARD_IN_OBSERVATION
        layer = getattr(layer, "env", None)
    mode = getattr(getattr(env, "unwrapped", env), "reward_mode", None)
    return mode if isinstance(mode, str) else None


# --------------------------------------------------------------------------------------------
# Observation normaliser
# --------------------------------------------------------------------------------------------


class RunningMeanStd:
    """Running mean and variance of observations (Welford / Chan's parallel update).

    Args:
        shape: Shape of one observation.
        clip: Normalised values are clipped to ``[-clip, clip]``.
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
        """Restore statistics saved by [`state_dict`][agents.rollout.RunningMeanStd.state_dict]."""
        self.mean = state["mean"].double().cpu().numpy().copy()
        self.m2 = state["m2"].double().cpu().numpy().copy()
        self.count = int(state["count"])


# --------------------------------------------------------------------------------------------
# The rollout loop
# --------------------------------------------------------------------------------------------


class EnvAdapter:
    """Uniform batched view of a plain ``gymnasium.Env`` (as one row) or a ``VectorEnv``.

    Actions and observations always carry a leading ``num_envs`` dimension; actions are 0-based
    indices and the space's ``start`` offset is added here.

    Args:
        env: The environment.
        action_start: The ``start`` of its ``MultiDiscrete`` action space, ``(n_action_dims,)``.
    """

    def __init__(self, env: gym.Env | VectorEnv, action_start: np.ndarray) -> None:
        self.env = env
        self.is_vector = isinstance(env, VectorEnv)
        self.num_envs = int(env.num_envs) if self.is_vector else 1
        self.action_start = np.asarray(action_start, dtype=np.int64)
        self.autoreset_mode = (
            AutoresetMode(env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP))
            if self.is_vector
            else None
        )

    def reset(self, seeds: list[int]) -> np.ndarray:
        """Reset every sub-environment with the given seeds; return observations ``(n, d)``."""
        # np.array copies: a caller may keep these while the env reuses its buffers
        if self.is_vector:
            obs, _ = self.env.reset(seed=seeds)
            return np.array(obs, dtype=np.float64)
        obs, _ = self.env.reset(seed=seeds[0])
        return np.array(obs, dtype=np.float64)[None]

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
                np.array(obs, dtype=np.float64),
                np.array(reward, dtype=np.float64),
                np.array(terminated, dtype=bool),
                np.array(truncated, dtype=bool),
                info,
            )
        obs, reward, terminated, truncated, info = self.env.step(env_actions[0])
        return (
            np.array(obs, dtype=np.float64)[None],
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
class Step:
    """One time-step of every row, as [`run_steps`][agents.rollout.run_steps] yields it."""

    observation: np.ndarray
    """Raw observations the actions were chosen on, ``(n, obs_dim)``."""
    inputs: np.ndarray
    """What the policy was fed (returned by ``act``), ``(n, input_size)``."""
    action: np.ndarray
    """0-based action indices, ``(n, n_action_dims)``."""
    reward: np.ndarray
    """Rewards, ``(n,)`` (meaningless in rows that are not ``active``)."""
    active: np.ndarray
    """Rows whose episode was still running at this step, ``(n,)``."""
    done: np.ndarray
    """Rows whose episode ended at this step (terminated or truncated), ``(n,)``."""
    state: Any
    """The policy's recurrent state after this step (returned by ``act``)."""
    info: dict[str, Any]
    """The environment's info of this step (an env may reuse it: read it before the next)."""


Act = Callable[[np.ndarray, np.ndarray, np.ndarray, Any], tuple[np.ndarray, np.ndarray, Any]]
"""``act(obs, prev_action, prev_reward, state) -> (inputs, action, state)``: a recurrent policy's
step for ``n`` rows, given raw observations ``(n, obs_dim)``, the previous 0-based actions
``(n, n_action_dims)`` (-1 at the start of an episode) and rewards ``(n,)`` (0 at the start)."""


def run_steps(
    adapter: EnvAdapter,
    seeds: list[int],
    act: Act,
    state: Any,
    obs_rms: RunningMeanStd | None = None,
) -> Iterator[Step]:
    """Play one episode in every row of ``adapter`` at once, yielding each time-step.

    The rows are reset with ``seeds``; then every row is stepped until all have finished. A row
    that has finished keeps being stepped (its actions are arbitrary: ``act`` does not know) and
    its later steps have ``active`` False, so autoreset output never counts as the episode's.
    The consumer may act on each step before the next one is played (update the policy, stop).

    Args:
        adapter: The environment.
        seeds: One reset seed per row.
        act: The policy; see [`Act`][agents.rollout.Act].
        state: The policy's initial recurrent state for the ``n`` rows.
        obs_rms: If given, each step's observations of the running rows enter these statistics
            before ``act`` sees them.

    Yields:
        One per time-step, until every row's episode has ended.
    """
    n = adapter.num_envs
    obs = adapter.reset(seeds)
    prev_action = np.full((n, len(adapter.action_start)), -1, dtype=np.int64)
    prev_reward = np.zeros(n, dtype=np.float64)
    active = np.ones(n, dtype=bool)
    while active.any():
        if obs_rms is not None:
            obs_rms.update(obs[active])
        inputs, action, state = act(obs, prev_action, prev_reward, state)
        next_obs, reward, terminated, truncated, info = adapter.step(action)
        done = active & (terminated | truncated)
        yield Step(obs, inputs, action, reward, active, done, state, info)
        active = active & ~done
        if active.any():
            adapter.keep_steppable(done)
        obs, prev_action, prev_reward = next_obs, action, reward


# --------------------------------------------------------------------------------------------
# What learners and runners exchange
# --------------------------------------------------------------------------------------------


@dataclass
class EpisodeChunk:
    """Whole episodes (or one window of an episode) played side by side, one row per episode.

    What the rollout loop's steps are gathered into, locally or on a runner (numpy only, so it
    pickles small and fast), and what an agent learns from. ``T`` is the longest episode of the
    chunk; shorter ones are padded and masked out.
    """

    observations: np.ndarray
    """Raw (not normalised) observations each action was chosen on, ``(n, T, obs_dim)``, 0 on
    padding."""
    inputs: np.ndarray
    """The policy inputs that were fed, ``float32``, ``(n, T, input_size)``."""
    actions: np.ndarray
    """0-based action indices, ``int64``, ``(n, T, n_action_dims)``."""
    rewards: np.ndarray
    """Rewards, ``(n, T)``, 0 on padding."""
    mask: np.ndarray
    """True for real steps, False for padding, ``(n, T)``."""

    @classmethod
    def from_steps(cls, steps: Iterable[Step]) -> EpisodeChunk:
        """Gather the steps of [`run_steps`][agents.rollout.run_steps] along the time axis, zeroing inactive
        rows."""
        steps = list(steps)
        return cls(
            observations=np.stack(
                [np.where(s.active[:, None], s.observation, 0.0) for s in steps], axis=1
            ),
            inputs=np.stack([s.inputs for s in steps], axis=1),
            actions=np.stack([s.action for s in steps], axis=1),
            rewards=np.stack([np.where(s.active, s.reward, 0.0) for s in steps], axis=1),
            mask=np.stack([s.active for s in steps], axis=1),
        )

    @property
    def returns(self) -> np.ndarray:
        """Each episode's return, ``(n,)``."""
        return self.rewards.sum(axis=1)

    @property
    def lengths(self) -> np.ndarray:
        """Each episode's length in steps, ``(n,)``."""
        return self.mask.sum(axis=1)


@dataclass(frozen=True)
class ChunkPlan:
    """One chunk of an update: the reset seed of each of its ``K`` episodes and the seed of the
    generator that samples its actions. The learner draws these, so a chunk's episodes do not
    depend on which runner plays them."""

    seeds: list[int]
    action_seed: int


@dataclass(frozen=True)
class PolicySnapshot:
    """What a runner needs to act exactly as the learner would at this point of training: the
    agent's configuration, its policy weights and a frozen copy of its observation normaliser."""

    config: dict[str, Any]
    weights: dict[str, torch.Tensor]
    obs_rms: dict[str, Any]


class Runners(Protocol):
    """Plays chunks of episodes elsewhere (e.g. [`agents.distributed.RayRunners`][])."""

    num_envs: int
    """Episodes per chunk (``K``): every chunk is played by one vector env of exactly K children."""
    single_observation_space: gym.spaces.Box
    single_action_space: gym.spaces.MultiDiscrete
    """The spaces of the runners' envs, as a vector env has them."""

    def play(self, snapshot: PolicySnapshot, plans: list[ChunkPlan]) -> list[EpisodeChunk]:
        """Play every chunk of ``plans`` with ``snapshot``; return the chunks in plan order."""
        ...


# --------------------------------------------------------------------------------------------
# What an update learns from
# --------------------------------------------------------------------------------------------


@dataclass
class PaddedBatch:
    """Chunks stacked along the batch axis and padded to the longest one, on the update's device.

    Rows keep the chunks' order (chunk by chunk, row by row within a chunk).
    """

    inputs: torch.Tensor
    """Policy inputs, ``(batch, T, input_size)``."""
    actions: torch.Tensor
    """0-based action indices, ``(batch, T, n_action_dims)``."""
    rewards: np.ndarray
    """Rewards, ``(batch, T)``, 0 on padding."""
    mask: np.ndarray
    """True for real steps, False for padding, ``(batch, T)``."""

    @classmethod
    def from_chunks(cls, chunks: Sequence[EpisodeChunk], device: torch.device) -> PaddedBatch:
        """Stack ``chunks``, padding each to the longest one."""
        length = max(chunk.mask.shape[1] for chunk in chunks)

        def stack(name: str, value: float) -> np.ndarray:
            parts = []
            for chunk in chunks:
                array = getattr(chunk, name)
                missing = length - array.shape[1]
                filler = np.full((array.shape[0], missing, *array.shape[2:]), value, array.dtype)
                parts.append(np.concatenate([array, filler], axis=1))
            return np.concatenate(parts)

        return cls(
            inputs=torch.as_tensor(stack("inputs", 0.0), device=device),
            actions=torch.as_tensor(stack("actions", 0), device=device),
            rewards=stack("rewards", 0.0),
            mask=stack("mask", False),
        )


def discounted_returns(rewards: np.ndarray, mask: np.ndarray, gamma: float) -> np.ndarray:
    """Returns-to-go ``G_t = r_t + gamma * G_{t+1}`` per row, 0 on padding; ``(batch, T)``."""
    rewards = np.where(mask, rewards, 0.0)
    returns = np.zeros_like(rewards, dtype=np.float64)
    running = np.zeros(rewards.shape[0], dtype=np.float64)
    for t in reversed(range(rewards.shape[1])):
        running = rewards[:, t] + gamma * running
        returns[:, t] = running
    return np.where(mask, returns, 0.0)


def switch_charges(actions: np.ndarray, mask: np.ndarray, dimension: int, cost: float) -> np.ndarray:
    """``cost`` at each real step whose action in ``dimension`` differs from the step before, else 0;
    ``(batch, T)``. The first step of each row is free (there is no step before)."""
    chosen = actions[:, :, dimension]
    switched = np.zeros(mask.shape, dtype=bool)
    switched[:, 1:] = chosen[:, 1:] != chosen[:, :-1]
    return np.where(switched & mask, cost, 0.0)


# --------------------------------------------------------------------------------------------
# A recurrent agent's rollouts and the runner protocol
# --------------------------------------------------------------------------------------------


class RecurrentRollouts:
    """How a recurrent agent plays episodes: in process, and as a learner's runner.

    A base class of [`agents.reinforce.RecurrentReinforce`][]. The learner side of the runner
    protocol is [`plan_update`][agents.rollout.RecurrentRollouts.plan_update] (everything random about an
    update, drawn by the learner) and [`snapshot`][agents.rollout.RecurrentRollouts.snapshot] (what a runner
    acts with); the runner side is [`play_chunk`][agents.rollout.RecurrentRollouts.play_chunk]. The agent
    provides ``config``, ``policy``, ``obs_rms``, ``np_rng``, ``adapter``, ``check_groups_fit`` and the
    actor's ``policy_step``, ``select_actions`` and ``zero_state`` ([`agents.policy.RecurrentActor`][]).

    CONTRACT (results independent of the number of runners): a chunk's episodes depend only on
    the snapshot and the chunk's plan, never on the runner's own state or on earlier chunks.
    """

    def _steps(
        self,
        adapter: EnvAdapter,
        seeds: list[int],
        rng: np.random.Generator,
        fold_observations: bool = True,
    ) -> Iterator[Step]:
        """The agent in the one rollout loop ([`agents.rollout.run_steps`][]).

        Every row starts from a zero LSTM state; ``rng`` samples the actions. With
        ``fold_observations`` the observation statistics take in each step as it is played
        (learning in process); without, they stay frozen (a runner, whose learner folds the
        returned raw observations in afterwards).
        """

        def act(obs: np.ndarray, prev_action: np.ndarray, prev_reward: np.ndarray, state: Any):
            inputs, logits, state = self.policy_step(obs, prev_action, prev_reward, state)
            return inputs, self.select_actions(logits, deterministic=False, rng=rng), state

        fold = fold_observations and self.config.normalize_observations
        state = self.zero_state(adapter.num_envs)
        return run_steps(adapter, seeds, act, state, self.obs_rms if fold else None)

    def _draw_seeds(self, n: int, group_size: int = 1) -> list[int]:
        """``n`` reset seeds: ``n // group_size`` drawn ones, each repeated ``group_size`` times
        in a row (so ``n`` must be a multiple of ``group_size``)."""
        drawn = self.np_rng.integers(TRAINING_DRAW.start, TRAINING_DRAW.stop, size=n // group_size)
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

        Raises:
            ValueError: If ``num_envs`` is not a multiple of ``group_size``.
        """
        self.check_groups_fit(num_envs, "the runners'")
        chunks = math.ceil(self.config.episodes_per_update / num_envs)
        return [
            ChunkPlan(
                self._draw_seeds(num_envs, self.config.group_size),
                int(self.np_rng.integers(0, 2**63 - 1)),
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

    @classmethod
    def vessel(cls, env: VectorEnv, snapshot: PolicySnapshot, current: Any = None) -> Any:
        """An agent on ``env`` to [`play_chunk`][agents.rollout.RecurrentRollouts.play_chunk] with ``snapshot``:
        ``current`` when its configuration is the snapshot's, else a new one (a runner's vessel: it holds
        weights it is handed, never its own)."""
        if current is not None and dataclasses.asdict(current.config) == snapshot.config:
            return current
        return cls(env, **snapshot.config)

    def play_chunk(self, snapshot: PolicySnapshot, plan: ChunkPlan) -> EpisodeChunk:
        """Play one chunk of episodes in this agent's vector env as ``snapshot``'s learner would.

        This agent takes the snapshot's weights and observation statistics (it is a runner's
        vessel: its own are overwritten) and keeps the statistics frozen while it plays.

        Raises:
            ValueError: If ``plan`` does not hold one seed per sub-environment, or the agent has
                no env.
        """
        if self.adapter is None:
            raise ValueError("play_chunk needs an agent with an environment")
        if len(plan.seeds) != self.adapter.num_envs:
            raise ValueError(
                f"plan.seeds must hold one seed per sub-environment ({self.adapter.num_envs}), "
                f"got {len(plan.seeds)}"
            )
        self.policy.load_state_dict(snapshot.weights)
        self.obs_rms.load_state_dict(snapshot.obs_rms)
        rng = np.random.default_rng(plan.action_seed)
        return EpisodeChunk.from_steps(
            self._steps(self.adapter, plan.seeds, rng, fold_observations=False)
        )
