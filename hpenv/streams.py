"""Streams: tasks whose training data change during the episode.

A [`StreamTask`][hpenv.streams.StreamTask] is a [`Task`][hpenv.tasks.Task] (its validation and test splits,
classes and child family) whose training data come in *phases*. Phase 0 is the task's own training split;
phase ``p >= 1`` replaces it from an env step drawn, every episode, uniformly from the phase's
window ``(first, last)`` by the episode's seed mixed with the stream's data (so members scored at one seed
change at different steps). A fixed schedule cannot know that step; a
controller that reads the child's state (its training loss jumps when the data change) can.

The observation does not name the phase: ``info["phase"]`` does, for analysis only (-1 for a task
without phases). Methods under test must not read it.

Kinds (`STREAM_KINDS`; [`make_stream`][hpenv.streams.make_stream] builds any of them from a task, and
[`StreamTask.from_phases`][hpenv.streams.StreamTask.from_phases] makes any user data a stream):

| kind | phase 1's training data |
|---|---|
| `label_noise_onset` | the same examples with a `fraction` of the labels replaced by a different one of the classes the task's splits hold (validation and test labels stay clean) |
| `class_incremental` | the classes phase 0 never saw, plus a `replay` share of phase 0's examples; phase 0 trains on `first_classes` (the first half by default); validation and test hold every class |
| `input_drift` | the inputs multiplied by `scale`; validation and test hold both domains (each example as it was and as it becomes) |
| `new_data` | the whole training split; phase 0 trains on a `first_fraction` of it |

Every kind draws what it changes (which labels, which replayed examples) from its own ``seed``, so
a stream is the same in every episode; only the change step differs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from hpenv.tasks import Task, _check_labels_below, replace_labels

__all__ = ["StreamTask", "STREAM_KINDS", "make_stream", "label_noise_onset", "class_incremental", "input_drift",
           "new_data"]


#: How a stream's change steps are drawn (part of its digest, so results cached under another rule are never
#: served): from the episode's seed mixed with the stream's data (until 2026-12-07 from the seed alone, so every
#: stream changed at the same step for one episode seed).
CHANGE_DRAW = "episode seed x stream digest"


@dataclass(frozen=True, eq=False)
class StreamTask(Task):
    """A task whose training data change at env steps drawn from each episode's seed and its own data.

    Attributes:
        phases: the training data ``(x, y)`` of phases 1, 2, ... (phase 0 is ``x_train``, ``y_train``).
        windows: per phase ``p >= 1``, ``(first, last)``: the 1-based env step from which phase ``p``
            trains is drawn uniformly from ``first .. last`` (and after phase ``p - 1``'s step).
            ``first >= 2``, so that phase 0 always trains; ``last`` at most the env's horizon.
        kind: a key of `STREAM_KINDS`, or ``"custom"``.
    """

    phases: tuple = ()
    windows: tuple = ()
    kind: str = "custom"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.phases:
            raise ValueError(f"stream {self.name!r} needs at least one phase after phase 0, got none")
        if len(self.windows) != len(self.phases):
            raise ValueError(f"stream {self.name!r}: windows must give one (first, last) per phase after phase 0 "
                             f"({len(self.phases)}), got {len(self.windows)}")
        for p, (x, y) in enumerate(self.phases, 1):
            if len(y) == 0:
                raise ValueError(f"stream {self.name!r}: phase {p} has no training examples; every phase needs some")
            if tuple(x.shape[1:]) != self.input_shape or len(x) != len(y):
                raise ValueError(f"stream {self.name!r}: phase {p}'s inputs {tuple(x.shape)} and labels "
                                 f"{tuple(y.shape)} must be n examples of shape {self.input_shape}")
            _check_labels_below(y, self.num_classes, f"phase {p} y")
        previous = (1, 1)
        for p, window in enumerate(self.windows, 1):
            if (len(window) != 2 or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in window)
                    or not 2 <= window[0] <= window[1]):
                raise ValueError(f"stream {self.name!r}: phase {p}'s window must be integers (first, last) with "
                                 f"2 <= first <= last (env steps; phase 0 trains at step 1), got {window!r}")
            if window[0] <= previous[0] or window[1] <= previous[1]:
                raise ValueError(f"stream {self.name!r}: phase {p}'s window {tuple(window)} must start and end after "
                                 f"phase {p - 1}'s {previous} (each phase starts after the one before)")
            previous = tuple(int(v) for v in window)
        # plain ints, however given (numpy's), so that messages and pickles show them as written
        object.__setattr__(self, "windows", tuple(tuple(int(v) for v in w) for w in self.windows))
        object.__setattr__(self, "_phase_tasks", {})
        object.__setattr__(self, "_change", None)

    @property
    def num_phases(self) -> int:
        return len(self.phases) + 1

    @property
    def last_change(self) -> int:
        """The latest env step at which a phase may start."""
        return self.windows[-1][1]

    def check_horizon(self, horizon: int) -> None:
        """A ValueError if a phase could start after an episode of ``horizon`` env steps ends."""
        if self.last_change > horizon:
            raise ValueError(f"task {self.name!r} starts its last phase in env steps {tuple(self.windows[-1])}, past "
                             f"the horizon {horizon}: that phase would never train; use horizon >= "
                             f"{self.last_change} or an earlier window")

    def _change_key(self) -> int:
        """The stream's part of its change steps' draw: 64 bits of its digest (computed once)."""
        if self._change is None:  # type: ignore[attr-defined]
            object.__setattr__(self, "_change", int(self.digest()[:16], 16))
        return self._change  # type: ignore[attr-defined]

    def _digest_facts(self) -> tuple:  # Task.digest covers the phases, their windows and how steps are drawn
        return (*super()._digest_facts(), self.kind, self.windows, CHANGE_DRAW)

    def _digest_tensors(self) -> tuple:
        return (*super()._digest_tensors(), *(t for phase in self.phases for t in phase))

    def phase_sizes(self) -> list[int]:
        """Training examples of each phase."""
        return [len(self.y_train), *(len(y) for _, y in self.phases)]

    def draw_changes(self, rng: np.random.Generator) -> np.ndarray:
        """The env step from which each phase ``p >= 1`` trains, drawn from ``rng`` (an episode's) mixed with
        the stream's own [`digest`][hpenv.tasks.Task.digest]: streams with other data change at other steps
        for the same episode seed, so members evaluated at shared seeds do not all change at one step (where
        a fixed schedule chosen on one seed would know every member's step)."""
        own = np.random.default_rng([int(rng.integers(2**63 - 1)), self._change_key()])
        steps, after = [], 1
        for first, last in self.windows:
            step = int(own.integers(max(first, after + 1), last + 1))
            steps.append(step)
            after = step
        return np.asarray(steps, dtype=np.int64)

    def phase_task(self, phase: int) -> Task:
        """Phase ``phase``'s data as a plain task: its training split, and this stream's validation
        and test tensors themselves (so children in different phases still evaluate in one batch)."""
        if phase == 0:
            x, y = self.x_train, self.y_train
        elif 1 <= phase < self.num_phases:
            x, y = self.phases[phase - 1]
        else:
            raise ValueError(f"phase must be in 0 .. {self.num_phases - 1} for stream {self.name!r}, got {phase!r}")
        cache = self._phase_tasks  # type: ignore[attr-defined]
        if phase not in cache:
            cache[phase] = Task(name=f"{self.name}#{phase}", x_train=x, y_train=y, x_val=self.x_val, y_val=self.y_val,
                                x_test=self.x_test, y_test=self.y_test, num_classes=self.num_classes,
                                child=self.child, meta=self.meta)
        return cache[phase]

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_phase_tasks"] = {}
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)

    def __repr__(self) -> str:
        return (f"StreamTask({self.name!r}, kind={self.kind!r}, phases={self.phase_sizes()}, "
                f"windows={[tuple(w) for w in self.windows]}, classes={self.num_classes})")

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_phases(cls, task: Task, phases: Sequence[tuple], windows: Sequence[tuple], *, kind: str = "custom",
                    name: str | None = None, val: tuple | None = None, test: tuple | None = None,
                    meta: dict | None = None) -> "StreamTask":
        """Any task made a stream: ``phases`` are the ``(x, y)`` training data of phases 1, 2, ...
        (arrays or tensors, shaped as ``task``'s inputs, labels below ``task.num_classes``), each
        starting at a step drawn from its window. ``val`` / ``test`` replace the task's splits."""
        def tensors(x, y, what: str) -> tuple[torch.Tensor, torch.Tensor]:
            x = torch.as_tensor(np.asarray(x.cpu() if isinstance(x, torch.Tensor) else x, dtype=np.float32))
            y = torch.as_tensor(np.asarray(y.cpu() if isinstance(y, torch.Tensor) else y, dtype=np.int64))
            if y.dim() != 1:
                raise ValueError(f"{what}: labels must be 1-D, got shape {tuple(y.shape)}")
            return x, y

        if not isinstance(task, Task):
            raise ValueError(f"task must be a Task, got {type(task).__name__}")
        x_val, y_val = tensors(*val, "val") if val is not None else (task.x_val, task.y_val)
        x_test, y_test = tensors(*test, "test") if test is not None else (task.x_test, task.y_test)
        return cls(name=name or f"{task.name}~{kind}", x_train=task.x_train, y_train=task.y_train,
                   x_val=x_val, y_val=y_val, x_test=x_test, y_test=y_test, num_classes=task.num_classes,
                   child=task.child, meta={**task.meta, **(meta or {})},
                   phases=tuple(tensors(x, y, f"phase {p}") for p, (x, y) in enumerate(phases, 1)),
                   windows=tuple(tuple(w) for w in windows), kind=kind)


def _check_fraction(name: str, value: float, low: float = 0.0, high: float = 1.0, *, closed_high: bool = False) -> float:
    ok = isinstance(value, (int, float, np.floating)) and not isinstance(value, bool) and low < value and (
        value <= high if closed_high else value < high)
    if not ok:
        raise ValueError(f"{name} must be a number in ({low}, {high}{']' if closed_high else ')'}, got {value!r}")
    return float(value)


def label_noise_onset(task: Task, window: tuple[int, int], *, fraction: float = 0.5, seed: int = 0) -> StreamTask:
    """From a step in ``window`` on, a ``fraction`` of the training labels are wrong (each replaced
    by a different one of the task's classes, uniformly); validation and test labels stay clean.

    The task's classes are the labels its splits hold, not the child's outputs: a task padded to
    more outputs than it has classes (every v3 member has 10) gets wrong labels it is tested on,
    not labels of outputs no test example has, which the child could learn without losing accuracy.
    """
    fraction = _check_fraction("fraction", fraction, closed_high=True)
    classes = np.unique(np.concatenate([t.numpy() for t in (task.y_train, task.y_val, task.y_test)]))
    if len(classes) < 2:
        raise ValueError(f"label_noise_onset needs a task with at least 2 classes, {task.name!r} has {classes.tolist()}")
    index = replace_labels(np.searchsorted(classes, task.y_train.numpy()), int(round(fraction * len(task.y_train))),
                           len(classes), np.random.default_rng([int(seed), 1]))
    y = classes[index]
    return StreamTask.from_phases(task, [(task.x_train, y)], [window], kind="label_noise_onset",
                                  meta={"stream_fraction": fraction})


def class_incremental(task: Task, window: tuple[int, int], *, first_classes: Sequence[int] | None = None,
                      replay: float = 0.0, seed: int = 0) -> StreamTask:
    """Phase 0 trains on ``first_classes`` (default: the lower half of the classes present), phase 1
    on the other classes plus a ``replay`` share (of phase 1's size) of phase 0's examples;
    validation and test hold every class."""
    y = task.y_train.numpy()
    present = np.unique(y)
    if len(present) < 2:
        raise ValueError(f"class_incremental needs a task with at least 2 classes in its training split, "
                         f"{task.name!r} has {present.tolist()}")
    first = present[: len(present) // 2] if first_classes is None else np.unique(np.asarray(first_classes))
    if not set(first.tolist()) < set(present.tolist()) or len(first) == 0:
        raise ValueError(f"first_classes must be a non-empty proper subset of the training classes "
                         f"{present.tolist()}, got {np.asarray(first_classes).tolist()}")
    if not (isinstance(replay, (int, float)) and not isinstance(replay, bool) and 0.0 <= replay <= 1.0):
        raise ValueError(f"replay must be a number in [0, 1], got {replay!r}")
    old = np.flatnonzero(np.isin(y, first))
    new = np.flatnonzero(~np.isin(y, first))
    rng = np.random.default_rng([int(seed), 2])
    kept = rng.choice(old, size=min(len(old), int(round(replay * len(new)))), replace=False)
    phase1 = np.sort(np.concatenate([new, kept]))
    base = Task(name=task.name, x_train=task.x_train[old], y_train=task.y_train[old], x_val=task.x_val,
                y_val=task.y_val, x_test=task.x_test, y_test=task.y_test, num_classes=task.num_classes,
                child=task.child, meta=task.meta)
    return StreamTask.from_phases(base, [(task.x_train[phase1], task.y_train[phase1])], [window],
                                  kind="class_incremental", name=f"{task.name}~class_incremental",
                                  meta={"stream_first_classes": first.tolist(), "stream_replay": float(replay)})


def input_drift(task: Task, window: tuple[int, int], *, scale: float = 8.0, seed: int = 0) -> StreamTask:
    """From a step in ``window`` on, every input is multiplied by ``scale``; validation and test hold
    each of their examples twice, as it was and scaled (the child is to work in both domains)."""
    if not (isinstance(scale, (int, float)) and not isinstance(scale, bool) and scale > 0 and scale != 1):
        raise ValueError(f"scale must be a positive number other than 1, got {scale!r}")
    both = lambda x, y: (torch.cat([x, x * scale]), torch.cat([y, y]))  # noqa: E731
    return StreamTask.from_phases(task, [(task.x_train * scale, task.y_train)], [window], kind="input_drift",
                                  val=both(task.x_val, task.y_val), test=both(task.x_test, task.y_test),
                                  meta={"stream_scale": float(scale)})


def new_data(task: Task, window: tuple[int, int], *, first_fraction: float = 0.2, seed: int = 0) -> StreamTask:
    """Phase 0 trains on a ``first_fraction`` of the training split, drawn by ``seed``; phase 1 on
    all of it (new data arrive)."""
    first_fraction = _check_fraction("first_fraction", first_fraction)
    rng = np.random.default_rng([int(seed), 4])
    n = len(task.y_train)
    first = np.sort(rng.choice(n, size=max(1, int(round(first_fraction * n))), replace=False))
    base = Task(name=task.name, x_train=task.x_train[first], y_train=task.y_train[first], x_val=task.x_val,
                y_val=task.y_val, x_test=task.x_test, y_test=task.y_test, num_classes=task.num_classes,
                child=task.child, meta=task.meta)
    return StreamTask.from_phases(base, [(task.x_train, task.y_train)], [window], kind="new_data",
                                  name=f"{task.name}~new_data", meta={"stream_first_fraction": first_fraction})


#: Every stream kind [`make_stream`][hpenv.streams.make_stream] builds, with its builder.
STREAM_KINDS: dict[str, Callable[..., StreamTask]] = {
    "label_noise_onset": label_noise_onset,
    "class_incremental": class_incremental,
    "input_drift": input_drift,
    "new_data": new_data,
}


def make_stream(task: Task, kind: str, window: tuple[int, int], **kwargs) -> StreamTask:
    """``task`` made a stream of ``kind`` (a key of `STREAM_KINDS`) changing in ``window``;
    keyword arguments go to that kind's builder."""
    if kind not in STREAM_KINDS:
        raise ValueError(f"kind must be one of {sorted(STREAM_KINDS)}, got {kind!r}")
    if not isinstance(task, Task) or isinstance(task, StreamTask):
        raise ValueError(f"task must be a Task that is not a stream already, got {type(task).__name__}")
    try:
        return STREAM_KINDS[kind](task, window, **kwargs)
    except TypeError as err:
        raise ValueError(f"stream kind {kind!r} does not take the arguments {sorted(kwargs)}: {err}") from err
