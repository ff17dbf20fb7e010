"""What benchmark v3's references search beyond v2's static grid and fixed schedules.

* [`window_schedules`][agents.bench.v3.candidates.window_schedules]: for each start tuple, the learning rate
  lowered by ``k`` grid positions (or raised) from each env step of a stream's change window on: the best a
  fixed schedule can do when the change comes at an unknown step of the window.
* [`is_freeze`][agents.bench.v3.candidates.is_freeze]: whether a schedule freezes the child from the window's
  start (the grid's smallest learning rate from there on). A gain that only freezing earns rewards an exploit
  (stop training before any change can hurt), not control, so such schedules are reported apart.
* [`rule_family`][agents.bench.v3.candidates.rule_family] and
  [`rule_episodes`][agents.bench.v3.candidates.rule_episodes]: closed-loop rules
  ([`agents.baselines.LossJumpPolicy`][]: keep the start tuple until the training loss jumps, then lower the
  rate, optionally after one step one position higher), every combination of the registered thresholds, drops
  and raise-first flags around each start tuple.
"""

from __future__ import annotations

import itertools
from typing import Sequence

import numpy as np

from agents.baselines import LossJumpPolicy
from agents.bench.candidates import ScheduleSet
from agents.engine import EpisodeRecord, play_episodes
from hpenv.spaces import HPSpace

__all__ = ["window_schedules", "is_freeze", "rule_family", "rule_name", "rule_episodes"]


def _lr_order(space: HPSpace) -> tuple[int, np.ndarray, np.ndarray]:
    j = space.names.index("learning_rate")
    by_value = np.argsort(np.asarray(space.params[j].values), kind="stable")
    return j, by_value, np.argsort(by_value, kind="stable")


def window_schedules(space: HPSpace, horizon: int, starts: np.ndarray, window: Sequence[int],
                     moves: Sequence[int]) -> tuple[np.ndarray, list[str]]:
    """Fixed schedules that move the learning rate ``m`` grid positions (``m < 0``: lower) from each
    env step of ``window = (first, last)`` on, around each start tuple: ``(schedules (n, horizon,
    n_hp), names)``; moves past the grid's ends are clipped, and a schedule equal to its start or
    to one already made is dropped."""
    space.require_absolute("window_schedules")
    j, by_value, rank = _lr_order(space)
    starts = np.asarray(starts, dtype=np.int64).reshape(-1, len(space.params))
    collected = ScheduleSet(space, horizon)
    for start in starts:
        label = collected.label(start)
        for step, move in itertools.product(range(int(window[0]), int(window[1]) + 1), moves):
            sched = np.repeat(start[None], horizon, 0)
            sched[step - 1:, j] = by_value[np.clip(rank[start[j]] + int(move), 0, len(by_value) - 1)]
            collected.add(sched, start, f"learning_rate {int(move):+d} from step {step} from ({label})")
    return collected.arrays()


def is_freeze(space: HPSpace, schedules: np.ndarray, window: Sequence[int]) -> np.ndarray:
    """Per schedule ``(n, horizon, n_hp)``: whether its learning rate is the grid's smallest from the
    window's first step on while it was larger before (a child frozen before any change can come)."""
    j, by_value, _ = _lr_order(space)
    lr = np.asarray(schedules)[:, :, j]
    first = int(window[0]) - 1
    return (lr[:, first:] == by_value[0]).all(1) & (lr[:, :first] != by_value[0]).any(1)


def rule_family(starts: np.ndarray, thresholds: Sequence[float], drops: Sequence[int],
                raise_first: Sequence[bool]) -> list[dict]:
    """Every closed-loop rule around each start tuple: dicts of ``start`` (action), ``threshold``,
    ``drop_steps``, ``raise_first``, in ``itertools.product`` order."""
    return [{"start": [int(v) for v in s], "threshold": float(t), "drop_steps": int(d), "raise_first": bool(r)}
            for s in np.asarray(starts, dtype=np.int64) for t, d, r in itertools.product(thresholds, drops,
                                                                                         raise_first)]


def rule_name(space: HPSpace, rule: dict) -> str:
    label = ", ".join(f"{k} {v:g}" for k, v in space.decode(np.asarray(rule["start"])).items())
    return (f"on a training-loss rise of {rule['threshold']:g}: learning_rate -{rule['drop_steps']}"
            f"{' after one step +1' if rule['raise_first'] else ''} from ({label})")


def rule_episodes(space: HPSpace, rules: Sequence[dict], seeds: Sequence[int], *, chunk: int = 16,
                  **env_kwargs) -> tuple[list[EpisodeRecord], int]:
    """Train one child per (rule, seed) pair, each following its rule (one
    [`LossJumpPolicy`][agents.baselines.LossJumpPolicy] over the batch, a rule per row)."""
    def make_actor(rows):
        batch = [rules[r] for r in rows]
        policy = LossJumpPolicy(space, np.array([r["start"] for r in batch]),
                                threshold=np.array([r["threshold"] for r in batch]),
                                drop_steps=np.array([r["drop_steps"] for r in batch]),
                                raise_first=np.array([r["raise_first"] for r in batch]))
        state = {"s": None}

        def act(obs, reward, starts, live):
            action, state["s"] = policy.predict(obs, state["s"], episode_start=starts)
            return action

        return act

    return play_episodes(seeds, make_actor, chunk=chunk, **env_kwargs)
