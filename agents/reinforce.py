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

This module holds the learner: building the agent, [`learn`][agents.reinforce.RecurrentReinforce.learn], the
REINFORCE update (`_update`, readable top to bottom; what the runners'
determinism relies on is marked CONTRACT) and persistence. The other roles live where a reader
expects them, and the agent takes them in as base classes:

- the settings: [`agents.reinforce_config`][]
  ([`RecurrentReinforceConfig`][agents.reinforce_config.RecurrentReinforceConfig]);
- what a checkpoint holds (one list of fields): [`agents.reinforce_checkpoint`][];
- the actor, the policy network and ``predict``: [`agents.policy`][];
- the rollouts and the runner protocol (``plan_update``, ``snapshot``, ``play_chunk``):
  [`agents.rollout`][], beside the one rollout loop and what learners and runners exchange;
- the paper's online mode (``learn_online``): [`agents.online`][];
- the baselines (moving average, leave-one-out): [`agents.advantages`][].

``predict`` takes exactly Stable-Baselines3's arguments. A policy that takes the previous reward
(the default) recovers it on HPTune envs and on envs wrapped in
[`agents.wrappers.PreviousReward`][]; on other envs pass ``reward=`` or build the agent with
``reward_input=False``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import VectorEnv
from torch import nn
from tqdm.auto import tqdm

from agents.advantages import MovingAverageBaseline, leave_one_out_advantages
from agents.checkpoint import check_hp_space, hp_space_of, load_checkpoint, save_checkpoint
from agents.online import OnlineLearning
from agents.policy import RecurrentActor, RecurrentPolicy, RecurrentState
from agents.reinforce_checkpoint import CHECKPOINT_FIELDS as _CHECKPOINT_FIELDS
from agents.reinforce_config import BASELINES, RecurrentReinforceConfig
from agents.rollout import (
    ChunkPlan,
    EnvAdapter,
    EpisodeChunk,
    PaddedBatch,
    PolicySnapshot,
    RecurrentRollouts,
    Runners,
    RunningMeanStd,
    discounted_returns,
    reward_mode_of,
    spaces_of,
    switch_charges,
)

# The names below that live in other modules (the configuration, the baselines, the policy, what
# runners exchange) stay importable from here, where user code and pickled chunks (Ray) have
# always found them.
__all__ = [
    "RecurrentReinforce", "RecurrentReinforceConfig", "RecurrentState", "BASELINES",
    "MovingAverageBaseline", "leave_one_out_advantages", "RecurrentPolicy",
    "EpisodeChunk", "ChunkPlan", "PolicySnapshot", "Runners",
]

Callback = Callable[["RecurrentReinforce", dict[str, Any]], Any]
"""``callback(agent, metrics)`` called after every update; returning ``False`` stops learning."""


# --------------------------------------------------------------------------------------------
# The agent
# --------------------------------------------------------------------------------------------


class RecurrentReinforce(RecurrentActor, RecurrentRollouts, OnlineLearning):
    """LSTM policy trained with REINFORCE for MultiDiscrete hyper-parameter choices.

    Args:
        env: A ``gymnasium.Env`` or ``gymnasium.vector.VectorEnv`` with a ``MultiDiscrete`` action
            space (1-D ``nvec``) and a flat ``Box`` observation space. Episodes must end
            (``terminated`` or ``truncated``); truncation is treated like the end of the task (no
            bootstrapping).
        config: A full configuration; keyword arguments override its fields.
        **kwargs: Any field of [`RecurrentReinforceConfig`][agents.reinforce_config.RecurrentReinforceConfig],
            e.g. ``seed=0``, ``hidden_size=32``.

    Attributes:
        config (RecurrentReinforceConfig): The hyper-parameters.
        policy (RecurrentPolicy): The network.
        history (list[dict[str, Any]]): One dict of metrics per update (keys such as
            ``"rollout/ep_return_mean"``, ``"train/policy_loss"``, ``"time/episodes"``).
        num_episodes (int): Episodes learned from, counted over the agent's whole life (survives
            save/load).
        num_updates (int): Updates made, counted over the agent's whole life (survives
            save/load).
        num_online_steps (int): Steps played in the online mode, counted over the agent's whole
            life (survives save/load).

    Raises:
        TypeError: If ``env`` or its action/observation space is of an unsupported kind, or a
            keyword argument is not a field of
            [`RecurrentReinforceConfig`][agents.reinforce_config.RecurrentReinforceConfig].
        ValueError: If a space has an unsupported shape, a configuration value is invalid, or a
            VectorEnv's ``num_envs`` is not a multiple of ``group_size``.
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
        """Create generators, network, optimiser and statistics (shared with
        [`load`][agents.reinforce.RecurrentReinforce.load])."""
        self.config = config
        self.obs_shape = obs_shape
        self.nvec = nvec
        self.action_start = np.asarray(action_start, dtype=np.int64)
        self.device = torch.device(config.device)
        self.env: gym.Env | VectorEnv | None = None
        self._adapter: EnvAdapter | None = None
        #: where predict recovers the previous reward from (see agents.rollout.reward_mode_of)
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
                obs_shape[0], nvec, config.hidden_size, value_head=config.baseline == "value",
                reward_input=config.reward_input,
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

    @property
    def np_rng(self) -> np.random.Generator:
        """The agent's numpy generator: it samples stochastic actions and draws reset seeds."""
        return self._np_rng

    @property
    def adapter(self) -> EnvAdapter | None:
        """The attached environment as the rollout loop drives it (None before an env is attached)."""
        return self._adapter

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

    def check_groups_fit(self, num_envs: int, whose: str) -> None:
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
            self.check_groups_fit(self._adapter.num_envs, "the VectorEnv's")
        self.env = env
        self.reward_mode = reward_mode_of(env) or self.reward_mode

    def charged_dimension(self) -> int | None:
        """The action dimension whose changes ``switch_cost`` charges; None when the cost is 0.

        Raises:
            ValueError: If the cost is set and the env's (or the checkpoint's) ``hp_space`` does not hold
                ``switch_cost_on`` as an absolute dimension.
        """
        cfg = self.config
        if cfg.switch_cost == 0.0:
            return None
        space = self.hp_space
        if space is None:
            raise ValueError(
                f"switch_cost={cfg.switch_cost} needs to know which action dimension is "
                f"switch_cost_on={cfg.switch_cost_on!r}: build the agent on an hpenv env (one with an hp_space)"
            )
        names = [name for name in space if name != "relative_actions"]
        if cfg.switch_cost_on not in names:
            raise ValueError(f"switch_cost_on={cfg.switch_cost_on!r} is not a hyper-parameter of the env; "
                             f"it has {names}")
        if cfg.switch_cost_on in space.get("relative_actions", {}):
            raise ValueError(f"switch_cost_on={cfg.switch_cost_on!r} has a relative action here (a move): "
                             f"switch_cost charges changes of an absolute one")
        return names.index(cfg.switch_cost_on)

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
        With ``runners`` (e.g. [`agents.distributed.RayRunners`][]) the runners play the
        update's chunks ([`plan_update`][agents.rollout.RecurrentRollouts.plan_update]) with a frozen
        [`snapshot`][agents.rollout.RecurrentRollouts.snapshot] and this agent learns from them
        ([`update_from_chunks`][agents.reinforce.RecurrentReinforce.update_from_chunks]): the result is the
        same for any number of runners, and for [`agents.local_runners.LocalRunners`][], which plays the chunks
        in this process; not the same as without ``runners``.

        Args:
            total_episodes: Number of episodes to play in this call.
            progress_bar: Show a tqdm progress bar over episodes.
            callback: ``callback(agent, metrics)`` after each update; returning ``False`` stops
                learning.
            runners: Where to play the episodes (default: this agent's own environment).

        Returns:
            ``self``.

        Raises:
            ValueError: If the agent has no environment and no ``runners`` are given, the
                runners' spaces do not match the agent's or their ``num_envs`` is not a multiple
                of ``group_size``, or ``switch_cost`` names no absolute dimension (see
                [`charged_dimension`][agents.reinforce.RecurrentReinforce.charged_dimension]).
        """
        if runners is None and self._adapter is None:
            raise ValueError(
                "this agent has no environment; pass env= to RecurrentReinforce.load(...)"
            )
        self.charged_dimension()
        if runners is not None:
            self._check_spaces(runners)
            self.check_groups_fit(runners.num_envs, "the runners'")
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

    def update_from_chunks(
        self, chunks: list[EpisodeChunk], fold_observations: bool = True
    ) -> dict[str, Any]:
        """One REINFORCE update on gathered chunks; records the metrics in `history`.

        With ``fold_observations`` the chunks' raw observations first enter the observation
        statistics, chunk by chunk and step by step (the order
        [`learn`][agents.reinforce.RecurrentReinforce.learn] takes them in locally), so the result depends
        only on the chunks and their order. The batch's rows follow the chunks' order, so the groups of
        ``group_size`` episodes stay together.

        Returns:
            The update's metrics (also appended to `history`).
        """
        if fold_observations and self.config.normalize_observations:
            for chunk in chunks:
                for t in range(chunk.mask.shape[1]):
                    self.obs_rms.update(chunk.observations[:, t][chunk.mask[:, t]])
        batch = PaddedBatch.from_chunks(chunks, self.device)
        ep_returns = np.concatenate([chunk.returns for chunk in chunks])
        ep_lengths = np.concatenate([chunk.lengths for chunk in chunks])
        initial_state = self.zero_state(batch.mask.shape[0])
        metrics = {
            "rollout/ep_return_mean": float(ep_returns.mean()),
            "rollout/ep_return_std": float(ep_returns.std()),
            "rollout/ep_len_mean": float(ep_lengths.mean()),
            **self._update(batch, initial_state, self.config.baseline, self.episode_baseline),
        }
        self.num_episodes += len(ep_returns)
        self._record(metrics)
        return metrics

    def _record(self, metrics: dict[str, Any]) -> None:
        """Stamp ``metrics`` with the life-long counters and append them to `history`."""
        metrics["time/episodes"] = self.num_episodes
        metrics["time/updates"] = self.num_updates
        self.history.append(metrics)

    # ---------------------------------------------------------------------------- the update

    def _update(
        self,
        batch: PaddedBatch,
        initial_state: tuple[torch.Tensor, torch.Tensor],
        baseline: str,
        moving_average: MovingAverageBaseline,
    ) -> dict[str, float]:
        """The update on a padded batch (one REINFORCE step, or ``update_epochs`` clipped steps); returns the
        training metrics.

        ``baseline`` is what the returns are compared with (one of
        [`BASELINES`][agents.reinforce_config.BASELINES]; the online mode passes its own choice) and
        ``moving_average`` the one that ``"moving_average"`` reads and updates (the episodes' or the online
        mode's).

        CONTRACT (results independent of the number of runners): everything here depends only
        on ``batch``, whose rows follow the chunks' order, on the agent's state before the call,
        and on nothing random. Never draw from a generator here, never depend on how the batch
        was split into chunks or on which runner played a chunk.
        """
        cfg = self.config
        metrics: dict[str, float] = {}
        # 1. returns-to-go of the rewards (less the switching charges) and the real steps (padding counts
        # nowhere)
        rewards = batch.rewards
        dimension = self.charged_dimension()
        if dimension is not None:
            charges = switch_charges(batch.actions.cpu().numpy(), batch.mask, dimension, cfg.switch_cost)
            rewards = rewards - charges
            metrics["train/switch_charge"] = float(charges.sum() / batch.mask.shape[0])
        returns = discounted_returns(rewards, batch.mask, cfg.gamma)
        mask = torch.as_tensor(batch.mask, dtype=torch.float32, device=self.device)
        returns_t = torch.as_tensor(returns, dtype=torch.float32, device=self.device)
        n_steps = mask.sum().clamp(min=1.0)

        # 2. replay the recorded inputs with gradients. CONTRACT: from the detached initial
        # state, with the policy unchanged since collection, this gives the log-probabilities
        # the actions were sampled with (on-policy REINFORCE).
        h0, c0 = (s.detach() for s in initial_state)
        log_prob, entropy, values = self.policy.evaluate_actions(
            batch.inputs, (h0, c0), batch.actions
        )
        sampled_log_prob = log_prob.detach()

        # 3. advantages: returns minus the baseline, 0 on padding (once per batch)
        if baseline == "value":
            assert values is not None
            advantages = returns_t - values.detach()
        elif baseline == "leave_one_out":
            loo = leave_one_out_advantages(returns, batch.mask, cfg.group_size)
            advantages = torch.as_tensor(loo, dtype=torch.float32, device=self.device)
        else:
            per_step = moving_average.compute_and_update(returns, batch.mask)  # shape (T,)
            advantages = returns_t - torch.as_tensor(
                per_step, dtype=torch.float32, device=self.device
            )
        advantages = advantages * mask
        if cfg.normalize_advantages and n_steps > 1:
            if baseline == "leave_one_out":
                # already centred within each group: subtracting the batch mean would only
                # couple the groups again, so only the scale is normalised
                advantages = advantages / (torch.sqrt((advantages**2).sum() / n_steps) + 1e-8)
            else:
                mean = advantages.sum() / n_steps
                std = torch.sqrt((((advantages - mean) * mask) ** 2).sum() / (n_steps - 1))
                advantages = (advantages - mean) / (std + 1e-8) * mask

        ent_coef = cfg.ent_coef_at(self.num_updates)
        for epoch in range(cfg.update_epochs):
            if epoch:  # the policy moved: replay the batch again
                log_prob, entropy, values = self.policy.evaluate_actions(
                    batch.inputs, (h0, c0), batch.actions
                )
            # 4. the loss: policy gradient (REINFORCE's, or PPO's clipped surrogate when the batch is
            # reused), entropy bonus (on its schedule), value regression
            if cfg.update_epochs == 1:
                policy_term = log_prob * advantages
            else:
                log_ratio = log_prob - sampled_log_prob
                ratio = log_ratio.exp()
                clipped = ratio.clamp(1.0 - cfg.clip_range, 1.0 + cfg.clip_range)
                policy_term = torch.minimum(ratio * advantages, clipped * advantages)
                moved = ((ratio - 1.0).abs() > cfg.clip_range).float()
                metrics["train/clip_fraction"] = float(((moved * mask).sum() / n_steps).item())
                metrics["train/approx_kl"] = float((((ratio - 1.0) - log_ratio).detach() * mask).sum() / n_steps)
            policy_loss = -(policy_term * mask).sum() / n_steps
            mean_entropy = (entropy * mask).sum() / n_steps
            loss = policy_loss - ent_coef * mean_entropy
            if values is not None:
                value_loss = (((values - returns_t) * mask) ** 2).sum() / n_steps
                loss = loss + cfg.vf_coef * value_loss
                metrics["train/value_loss"] = float(value_loss.item())

            # 5. one clipped Adam step
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

        Args:
            path: Destination file; parent folders are created.
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
        }
        for field in _CHECKPOINT_FIELDS:
            section = payload
            for key in field.path[:-1]:
                section = section.setdefault(key, {})
            section[field.path[-1]] = field.read(self)
        save_checkpoint(path, payload)

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        env: gym.Env | VectorEnv | None = None,
        device: str | None = None,
    ) -> RecurrentReinforce:
        """Restore an agent written by [`save`][agents.reinforce.RecurrentReinforce.save].

        Args:
            path: The checkpoint file.
            env: Environment to continue learning in (needed for
                [`learn`][agents.reinforce.RecurrentReinforce.learn], not for
                [`predict`][agents.policy.RecurrentActor.predict]). Its spaces must match the saved ones, the
                hyper-parameter space (names and values, not only its shape) included.
            device: Torch device to load onto (default: the saved configuration's device).

        Returns:
            The restored agent.

        Raises:
            ValueError: If the file is missing or not a RecurrentReinforce checkpoint of this
                package, or if ``env``'s spaces or hyper-parameter space differ from the saved
                ones.
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
            for field in _CHECKPOINT_FIELDS:
                field.restore(agent, field.find(payload))
            agent._checkpoint_hp_space = payload.get("hp_space")
        except (KeyError, TypeError, RuntimeError, ValueError) as err:
            raise ValueError(
                f"{path} is not a valid {cls.__name__} checkpoint ({type(err).__name__}: {err})"
            ) from err
        if env is not None:
            check_hp_space(agent._checkpoint_hp_space, hp_space_of(env), str(path))
            agent._attach_env(env)
        return agent
