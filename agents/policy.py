"""The actor: the recurrent policy network and acting with it, Stable-Baselines3's ``predict``.

At each time-step the LSTM input is the observation (normalised by the running statistics, unless
the agent is built with ``normalize_observations=False``), followed by the one-hot encoding of the
previous action (all action dimensions concatenated; all zeros at the start of an episode)
and, unless the policy is built without it (``reward_input=False``), the previous reward (0 at
the start of an episode).

``predict(obs, state, episode_start, deterministic)`` takes exactly Stable-Baselines3's
arguments. The previous reward it needs comes from the caller (``reward=``), or is recovered from
the observations it keeps in its state: on HPTune envs from the validation accuracy or loss, as
the reward mode has it ([`hpenv.reward_from_observations`][]), on any env wrapped in
[`agents.wrappers.PreviousReward`][] from the observation's last entry.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from hpenv.episodes import reward_from_observations

__all__ = ["RecurrentPolicy", "RecurrentActor", "RecurrentState", "PREVIOUS_REWARD_IN_OBSERVATION"]

RecurrentState = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
"""What [`RecurrentActor.predict`][agents.policy.RecurrentActor.predict] returns as ``state``: LSTM ``h`` and
``c`` (each of shape ``(n, hidden_size)``), the previous action indices (``(n, n_action_dims)``, -1 where
there is none yet) and the previous observations (``(n, obs_dim)``, from which the previous reward is
recovered). Treat it as opaque and pass it back on the next call."""

PREVIOUS_REWARD_IN_OBSERVATION = "previous_reward_in_observation"
"""The reward source of an env wrapped in [`agents.wrappers.PreviousReward`][]."""


class RecurrentPolicy(nn.Module):
    """LSTM with one categorical head per action dimension and an optional value head.

    Args:
        obs_dim: Length of the (flat) observation.
        nvec: Number of choices of each action dimension.
        hidden_size: LSTM width.
        value_head: Whether to add a linear value head on the LSTM output.
        reward_input: Whether the input ends with the previous reward.
    """

    def __init__(
        self, obs_dim: int, nvec: list[int], hidden_size: int, value_head: bool,
        reward_input: bool = True,
    ) -> None:
        super().__init__()
        self.nvec = list(nvec)
        self.hidden_size = hidden_size
        self.reward_input = reward_input
        self.input_size = obs_dim + sum(self.nvec) + int(reward_input)
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

        Args:
            obs: Normalised observations, shape ``(n, obs_dim)``.
            prev_action: Previous action indices, shape ``(n, n_action_dims)``; -1 means none
                (zero one-hot).
            prev_reward: Previous rewards, shape ``(n,)`` (unused without ``reward_input``).

        Returns:
            ``float32`` array of shape ``(n, input_size)``.
        """
        parts = [obs]
        for dim, n_choices in enumerate(self.nvec):
            index = prev_action[:, dim]
            one_hot = np.zeros((len(index), n_choices))
            has_action = index >= 0
            one_hot[has_action, index[has_action]] = 1.0
            parts.append(one_hot)
        if self.reward_input:
            parts.append(np.asarray(prev_reward, dtype=np.float64)[:, None])
        return np.concatenate(parts, axis=1).astype(np.float32)

    def forward(
        self, inputs: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]
    ) -> tuple[list[torch.Tensor], torch.Tensor | None, tuple[torch.Tensor, torch.Tensor]]:
        """Run the LSTM over a batch of sequences.

        Args:
            inputs: Shape ``(batch, T, input_size)``.
            state: Initial ``(h, c)``, each of shape ``(batch, hidden_size)``.

        Returns:
            logits: One tensor per action dimension, shape ``(batch, T, n_choices)``.
            values: Value estimates, shape ``(batch, T)``, or None without a value head.
            state: Final ``(h, c)``, each of shape ``(batch, hidden_size)``.
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



class RecurrentActor:
    """Acting with a [`RecurrentPolicy`][agents.policy.RecurrentPolicy]: one step, the choice of actions and
    ``predict``.

    A base class: the agent that derives from it provides ``config`` (``hidden_size``,
    ``normalize_observations``, ``reward_input``), ``policy``, ``obs_rms``, ``device``,
    ``obs_shape``, ``nvec``, ``action_start``, ``reward_mode`` (where the previous reward can be
    recovered from: an HPTune reward mode,
    [`PREVIOUS_REWARD_IN_OBSERVATION`][agents.policy.PREVIOUS_REWARD_IN_OBSERVATION] or None) and ``np_rng``
    (the generator that samples stochastic actions).
    """

    config: Any
    policy: RecurrentPolicy
    obs_rms: Any
    device: torch.device
    obs_shape: tuple[int, ...]
    nvec: list[int]
    action_start: np.ndarray
    reward_mode: str | None
    np_rng: np.random.Generator

    def policy_step(
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

    def select_actions(
        self,
        logits: list[torch.Tensor],
        deterministic: bool,
        rng: np.random.Generator | None = None,
    ) -> np.ndarray:
        """Argmax, or sample with ``rng`` (default: the agent's numpy generator), per dimension."""
        rng = self.np_rng if rng is None else rng
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

    def zero_state(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The LSTM state ``(h, c)`` every episode starts from, for ``n`` rows."""
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

    def _previous_rewards(
        self, reward: Any, starts: np.ndarray, prev_obs: np.ndarray, obs: np.ndarray
    ) -> np.ndarray:
        """The previous reward of each row: given, recovered from the observations, or 0."""
        n = len(starts)
        if reward is not None:
            return self._per_row(reward, n, "reward", float)
        if starts.all() or not self.config.reward_input:
            return np.zeros(n, dtype=np.float64)
        if self.reward_mode == PREVIOUS_REWARD_IN_OBSERVATION:
            return np.array(obs[:, -1], dtype=np.float64)
        if self.reward_mode is not None:
            return reward_from_observations(self.reward_mode, prev_obs, obs)
        raise ValueError(
            "predict needs reward= (the reward the environment returned for the previous "
            "action) for rows that are not at an episode start: this policy takes the previous "
            "reward as input and cannot recover it from this env's observations. Either pass "
            "reward=, wrap the env in agents.wrappers.PreviousReward (the observation then "
            "carries it) before building the agent, or build the agent with reward_input=False"
        )

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

        Args:
            observation: One observation of shape ``obs_shape`` or a batch of shape
                ``(n, *obs_shape)``.
            state: The state returned by the previous call, or None to start fresh episodes in
                all rows (then ``episode_start`` and ``reward`` are ignored).
            episode_start: Whether each row starts a new episode (a bool, or a bool array of
                shape ``(n,)``). Rows that start get a zero LSTM state and no previous action or
                reward.
            deterministic: Take the most likely choice per action dimension instead of sampling.
            reward: Optional: the reward the environment returned for the previous action (a
                float, or an array of shape ``(n,)``). Not needed by a policy built with
                ``reward_input=False``, nor on HPTune envs or envs wrapped in
                [`agents.wrappers.PreviousReward`][], where it is recovered from the
                observations.

        Returns:
            action: ``np.int64`` array of shape ``(n_action_dims,)`` for one observation or
                ``(n, n_action_dims)`` for a batch, ready for ``env.step``.
            state: The new recurrent state; pass it to the next call.

        Raises:
            ValueError: On a wrong observation / state / episode_start shape, or when the
                previous reward is needed, was not given and cannot be recovered (the message
                names the ways out).
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
            h, c = self.zero_state(n)
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
        rewards = self._previous_rewards(reward, starts, prev_obs, obs)

        start_rows = torch.as_tensor(starts, device=self.device)
        h[start_rows] = 0.0
        c[start_rows] = 0.0
        prev_action[starts] = -1
        rewards[starts] = 0.0

        _, logits, (h, c) = self.policy_step(obs, prev_action, rewards, (h, c))
        actions = self.select_actions(logits, deterministic)
        new_state = (h.cpu().numpy().copy(), c.cpu().numpy().copy(), actions.copy(), obs.copy())
        env_actions = actions + self.action_start
        return (env_actions[0] if single else env_actions), new_state
