"""The paper's online mode: learning while acting in one long episode (one child's training).

Ali, Budka and Gabrys update the controller within a single run while the child trains. Here that
is [`OnlineLearning.learn_online`][agents.online.OnlineLearning.learn_online]: the rollout loop of
meta-training, cut into windows, each window one REINFORCE update of the agent. What differs from
meta-training is only what a window's returns are compared with (see `OnlineLearning._online_baseline_kind`).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
from gymnasium.vector import VectorEnv

from agents.rollout import EnvAdapter, EpisodeChunk, PaddedBatch, Step

__all__ = ["OnlineLearning"]


class OnlineLearning:
    """The online mode of [`agents.reinforce.RecurrentReinforce`][] (a base class of it).

    It uses the learner's space check (``_check_spaces``), its switching cost (``charged_dimension``), its
    rollout (``_steps``, ``_draw_seeds``, ``zero_state``, ``action_start``, ``np_rng``), its update (``_update``,
    on ``device``), its record (``_record``), its own moving average ``online_baseline`` and the counter
    ``num_online_steps``.
    """

    def _online_baseline_kind(self) -> str:
        """One episode has no group to compare with: leave-one-out falls back to the (online)
        moving average; the value head and the moving average stay what they are."""
        baseline = self.config.baseline  # type: ignore[attr-defined]
        return "moving_average" if baseline == "leave_one_out" else baseline

    def learn_online(
        self, env: gym.Env, total_steps: int, update_every: int = 5, seed: int | None = None
    ) -> float | None:
        """Learn while acting in one long episode (the paper's online mode).

        The environment is reset once and played by the same rollout loop as
        [`learn`][agents.reinforce.RecurrentReinforce.learn], cut into windows: every ``update_every`` steps
        (and at the end) a REINFORCE update is made on the window of the last steps, with returns-to-go
        computed inside the window and truncated backpropagation through time (the LSTM state carried into the
        next window is detached). The baseline is the online moving average (or the value head with
        ``baseline="value"``): one episode has no group to compare with, so
        ``baseline="leave_one_out"`` uses the moving average here. Stops after ``total_steps``
        steps or when the episode ends, so build the environment with a horizon of at least
        ``total_steps``.

        Args:
            env: A single (non-vector) ``gymnasium.Env`` with the spaces the agent was built for.
            total_steps: Maximum number of environment steps.
            update_every: Window length, in steps, between updates.
            seed: Reset seed of the episode (default: drawn from the agent's generator), e.g. to
                train the same child as another method does.

        Returns:
            ``info.get("test_accuracy")`` of the last step (None if the environment gives none).

        Raises:
            TypeError: If ``env`` is a vector environment.
            ValueError: If the spaces do not match, the step counts are not positive, or ``switch_cost`` names
                no absolute dimension.
        """
        if isinstance(env, VectorEnv):
            raise TypeError("learn_online needs a single gymnasium.Env, not a VectorEnv")
        if total_steps < 1 or update_every < 1:
            raise ValueError("total_steps and update_every must be positive")
        self._check_spaces(env)
        self.charged_dimension()

        window: list[Step] = []
        window_start = self.zero_state(1)
        info: dict[str, Any] = {}
        seeds = self._draw_seeds(1) if seed is None else [int(seed)]
        steps = self._steps(EnvAdapter(env, self.action_start), seeds, self.np_rng)
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
                    **self._update(batch, window_start, self._online_baseline_kind(), self.online_baseline),
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
