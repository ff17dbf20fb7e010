"""What benchmark v2's references search: the static grid and the family of fixed schedules.

Both are pure functions of the action space (and, for schedules, of the start tuples and the
horizon), so a protocol names them by rule and every run builds the same candidates.

* [`static_grid`][agents.bench.candidates.static_grid]: every tuple of the space (``"full_grid"``, what the
  controller acts in), or a documented sub-grid ``{hyper-parameter: [values]}`` whose unnamed hyper-parameters
  keep every value.
* [`schedule_family`][agents.bench.candidates.schedule_family]: for each start tuple, the variants of
  `SCHEDULE_FAMILIES`, each a change of one hyper-parameter over the episode. Together they change every
  hyper-parameter of the default space over time: the learning rate (step decay, cosine, warm-up), dropout
  (switched on or off late), momentum (off or on late) and the active depth (grown or shrunk late).

Variants that equal the constant start tuple (a decay from the smallest learning rate, say) are
dropped, and so are duplicates, so every schedule in the family changes something.
"""

from __future__ import annotations

import itertools
import math
from typing import Callable, Mapping, Sequence

import numpy as np

from hpenv.spaces import HPSpace

__all__ = ["SCHEDULE_FAMILIES", "ScheduleSet", "static_grid", "schedule_family"]

#: Where late-stage changes happen, as fractions of the episode.
LATE = (0.5, 0.8)


def static_grid(space: HPSpace, rule: str | Mapping[str, Sequence[float]] = "full_grid") -> np.ndarray:
    """Static tuples as action indices, ``(n, n_hp)`` int64, in ``itertools.product`` order.

    Args:
        rule: ``"full_grid"`` (every tuple of ``space``) or ``{name: [values]}``: those values of
            the named hyper-parameters (each must be on its grid), every value of the others.
    """
    space.require_absolute("static_grid")
    if rule == "full_grid":
        rule = {}
    elif not isinstance(rule, Mapping):
        raise ValueError(f"rule must be 'full_grid' or a mapping of hyper-parameter values, got {rule!r}")
    unknown = sorted(set(rule) - set(space.names))
    if unknown:
        raise ValueError(f"rule names hyper-parameters {unknown} that the space lacks; it has {space.names}")
    axes = []
    for hp in space.params:
        if hp.name not in rule:
            axes.append(range(len(hp.values)))
            continue
        idx = []
        for v in rule[hp.name]:
            hits = [i for i, g in enumerate(hp.values) if math.isclose(float(g), float(v), rel_tol=1e-9)]
            if not hits:
                raise ValueError(f"rule[{hp.name!r}] value {v!r} is not on the grid {list(hp.values)}")
            idx.append(hits[0])
        axes.append(idx)
    return np.array(list(itertools.product(*axes)), dtype=np.int64).reshape(-1, len(space.params))


def _steps(horizon: int) -> np.ndarray:
    """Progress ``t / horizon`` at each env step, as the env's observation reports it."""
    return np.arange(horizon) / horizon


def _step_decay(space, start, horizon, j):  # one or two grid notches (x1/3, x1/10 on the default grid)
    top, progress = int(start[j]), _steps(horizon)
    return {f"step decay -{notches} at {at:.0%}": np.where(progress >= at, max(top - notches, 0), top)
            for at in LATE for notches in (1, 2)}


def _cosine(space, start, horizon, j):  # on the log grid, from the start down three notches
    top, progress = int(start[j]), _steps(horizon)
    lowest = max(top - 3, 0)
    return {"cosine": np.rint(lowest + 0.5 * (top - lowest) * (1 + np.cos(np.pi * progress))).astype(np.int64)}


def _warmup(space, start, horizon, j):  # two notches lower, rising linearly to the start by 30%
    top, progress = int(start[j]), _steps(horizon)
    warm = max(top - 2, 0)
    return {"warm-up": np.rint(np.minimum(warm + (top - warm) * progress / 0.3, top)).astype(np.int64)}


def _late_increase(space, start, horizon, j):  # one notch up from halfway, where the grid has one
    top = int(start[j])
    if top + 1 >= space.sizes[j]:
        return {}
    return {"late increase +1 at 50%": np.where(_steps(horizon) >= 0.5, top + 1, top)}


def _switch_variants(values: Sequence[float], start: int, targets: Sequence[int], horizon: int) -> dict[str, np.ndarray]:
    """The hyper-parameter moves from grid index ``start`` to each target index at each late point."""
    progress = _steps(horizon)
    return {f"-> {values[to]:g} at {at:.0%}": np.where(progress >= at, to, start)
            for to in targets if 0 <= to < len(values) and to != start for at in LATE}


def _dropout_variants(space, start, horizon, j):  # off late if on; else on late (moderate, and the most)
    s, values = int(start[j]), space.params[j].values
    return _switch_variants(values, s, (0,) if s else (2, len(values) - 1), horizon)


def _momentum_variants(space, start, horizon, j):  # off late if on; else on late (0.9 on the default grid)
    s, values = int(start[j]), space.params[j].values
    return _switch_variants(values, s, (0,) if s else (len(values) - 2,), horizon)


def _depth_variants(space, start, horizon, j):
    s, n = int(start[j]), space.sizes[j]
    progress = _steps(horizon)
    out = {}
    if s > 0:  # grown late: one block first, the start's depth from halfway
        out["grown from 1 block at 50%"] = np.where(progress >= 0.5, s, 0)
    if s + 1 < n:
        out["+1 block at 50%"] = np.where(progress >= 0.5, s + 1, s)
    if s > 0:
        out["-1 block at 80%"] = np.where(progress >= 0.8, s - 1, s)
    return out


#: family name -> (hyper-parameter it changes, its variants). Names are the protocol's.
SCHEDULE_FAMILIES: dict[str, tuple[str, Callable]] = {
    "step_decay": ("learning_rate", _step_decay),
    "cosine": ("learning_rate", _cosine),
    "warmup": ("learning_rate", _warmup),
    "late_lr_increase": ("learning_rate", _late_increase),
    "late_dropout": ("dropout", _dropout_variants),
    "late_momentum": ("momentum", _momentum_variants),
    "late_depth": ("depth", _depth_variants),
}


class ScheduleSet:
    """Fixed schedules collected once each, in the order they are first made.

    A schedule that keeps its start tuple at every step, or repeats one already collected, is
    dropped: a family's variants of different starts can coincide, and a repeated candidate would
    only spend children.
    """

    def __init__(self, space: HPSpace, horizon: int):
        self.space, self.horizon = space, horizon
        self._schedules: list[np.ndarray] = []
        self._names: list[str] = []
        self._seen: set[bytes] = set()

    def label(self, start: np.ndarray) -> str:
        """A start tuple as text (``depth 2, dropout 0, ...``), for the schedules' names."""
        return ", ".join(f"{k} {v:g}" for k, v in self.space.decode(start).items())

    def add(self, schedule: np.ndarray, start: np.ndarray, name: str) -> None:
        """Collect ``schedule`` (``(horizon, n_hp)``) unless it equals ``start`` throughout or a schedule already in."""
        key = schedule.tobytes()
        if (schedule == start).all() or key in self._seen:
            return
        self._seen.add(key)
        self._schedules.append(schedule)
        self._names.append(name)

    def arrays(self) -> tuple[np.ndarray, list[str]]:
        """``(schedules (n, horizon, n_hp) int64, names)``."""
        shape = (-1, self.horizon, len(self.space.params))
        return np.array(self._schedules, dtype=np.int64).reshape(shape), list(self._names)


def schedule_family(space: HPSpace, horizon: int, starts: np.ndarray,
                    families: Sequence[str] = tuple(SCHEDULE_FAMILIES)) -> tuple[np.ndarray, list[str]]:
    """Fixed schedules around each start tuple: ``(schedules (n, horizon, n_hp) int64, names)``.

    Args:
        starts: start tuples as action indices, ``(k, n_hp)``; each variant changes one
            hyper-parameter of its start over the episode and keeps the others.
        families: names of `SCHEDULE_FAMILIES`; a family whose hyper-parameter the space
            lacks contributes nothing.
    """
    space.require_absolute("schedule_family")
    unknown = [f for f in families if f not in SCHEDULE_FAMILIES]
    if unknown:
        raise ValueError(f"families {unknown} are not schedule families; known: {list(SCHEDULE_FAMILIES)}")
    if horizon < 2:
        raise ValueError(f"horizon must be >= 2 for a schedule to change anything, got {horizon}")
    starts = np.asarray(starts, dtype=np.int64).reshape(-1, len(space.params))
    collected = ScheduleSet(space, horizon)
    for start in starts:
        label = collected.label(start)
        for family in families:
            hp, variants = SCHEDULE_FAMILIES[family]
            if hp not in space.names:
                continue
            j = space.names.index(hp)
            for what, column in variants(space, start, horizon, j).items():
                sched = np.repeat(start[None], horizon, 0)
                sched[:, j] = column
                collected.add(sched, start, f"{hp} {what} from ({label})")
    return collected.arrays()
