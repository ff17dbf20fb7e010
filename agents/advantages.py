"""What REINFORCE compares the returns with: the moving-average baseline and leave-one-out.

(The value baseline is a head of [`agents.policy.RecurrentPolicy`][].)
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["MovingAverageBaseline", "leave_one_out_advantages"]


class MovingAverageBaseline:
    """Per-time-step exponential moving average of returns, used as the REINFORCE baseline.

    ``value[t]`` estimates the return-to-go from time-step ``t``. A time-step seen for the first
    time starts at the current batch's mean return for that step.

    Args:
        decay: Weight kept by the old average at each update.
    """

    def __init__(self, decay: float = 0.9) -> None:
        self.decay = decay
        self.values: list[float] = []

    def compute_and_update(self, returns: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Return the baseline for each time-step of a batch, then fold the batch in.

        Args:
            returns: Returns-to-go, shape ``(batch, T)``.
            mask: Which entries are real steps (True) rather than padding, shape ``(batch, T)``.

        Returns:
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
        """Restore state saved by [`state_dict`][agents.advantages.MovingAverageBaseline.state_dict]."""
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

    Args:
        returns: Returns-to-go, ``(batch, T)``.
        mask: True for real steps, False for padding, ``(batch, T)``.
        group_size: Episodes per group (at least 2); ``batch`` must be a multiple of it.

    Returns:
        Advantages, ``(batch, T)``, 0 on padding.

    Raises:
        ValueError: If ``group_size < 2`` or the batch is not made of whole groups.
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

