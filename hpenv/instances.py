"""Instance sets: named, versioned benchmark suites of task members (as DACBench and CARL have them).

A *suite* is a family of tasks whose members differ in hidden factors that move the best
hyper-parameters. Each member is a task id, usable anywhere a task name is::

    import gymnasium as gym, hpenv

    hpenv.instance_sets()                              # ['v1/breast_cancer-scaled', 'v1/digits-scaled', ...]
    ids = hpenv.instance_set("v1/digits-scaled", "train")   # ['v1/digits-scaled/0', ...]
    env = gym.make(hpenv.ENV_ID, task=ids[0], **hpenv.suite("v1/digits-scaled").env_kwargs)
    # a whole split as a task family: every episode (every reset seed) draws one of its members
    venv = gym.make_vec(hpenv.ENV_ID, num_envs=64, task="v1/digits-scaled/train", horizon=10, steps_per_action=20)

Factors of the v1 suites, drawn per member from a generator seeded by the suite name and the
member index (so a member is the same everywhere, forever):

* ``input_scale``: every input feature is multiplied by ``10 ** U(log10_scale_low,
  log10_scale_high)`` after the usual standardisation, and *not* re-standardised. Large inputs
  need a small learning rate and small inputs a large one (for a one-layer model the curvature
  grows with the square of the scale). The scale is visible in the observation at reset
  (the logits' spread grows with it).
* ``label_noise``: a fraction ``U(0, label_noise_high)`` of the *training* labels is replaced by
  a different class drawn uniformly; validation and test labels stay clean.

Data splits (train / validation / test examples) are fixed by the suite (``split_seed``), not by
the member or the episode seed. Members are split into disjoint ranges of indices:

* ``train``: for meta-training agents;
* ``selection``: for choosing any method's settings (an agent's hyper-parameters, a baseline's
  constants, a schedule, the best static tuple);
* ``test``: reported only. Nothing is chosen on these.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from hpenv.tasks import Task, TaskFamily

__all__ = ["Suite", "SUITES", "instance_sets", "instance_set", "suite", "member_task", "member_factors",
           "is_member_id", "split_family", "split_of_task"]

SPLITS = ("train", "selection", "test")


@dataclass(frozen=True)
class Suite:
    """A versioned instance set.

    Attributes:
        name: ``"v1/<base>-scaled"``; member ``i`` has the task id ``f"{name}/{i}"``.
        base: the underlying data set (a built-in task name: digits, wine, breast_cancer, mnist5k).
        child: the child family (``"mlp"`` or ``"cnn"``).
        n_train, n_selection, n_test: member counts; members ``0 .. n_train-1`` are train, the
            next ``n_selection`` selection, the next ``n_test`` test.
        log10_scale_low, log10_scale_high: the input scale is ``10 ** U(low, high)``.
        label_noise_high: training-label noise is ``U(0, label_noise_high)``.
        horizon, steps_per_action: the episode this suite is meant for (``env_kwargs``).
        split_seed: fixes the train / validation / test examples of every member.
        description: one line.
    """

    name: str
    base: str
    child: str = "mlp"
    n_train: int = 40
    n_selection: int = 10
    n_test: int = 12
    log10_scale_low: float = -2.0
    log10_scale_high: float = 1.0
    label_noise_high: float = 0.4
    horizon: int = 10
    steps_per_action: int = 20
    split_seed: int = 0
    description: str = ""
    extra_env_kwargs: dict = field(default_factory=dict)

    @property
    def env_kwargs(self) -> dict:
        """Episode settings of the suite: ``gym.make(hpenv.ENV_ID, task=member, **suite.env_kwargs)``."""
        return {"horizon": self.horizon, "steps_per_action": self.steps_per_action, **self.extra_env_kwargs}

    def members(self, split: str) -> list[str]:
        """Task ids of the members of one split (``"train"``, ``"selection"`` or ``"test"``)."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        start = {"train": 0, "selection": self.n_train, "test": self.n_train + self.n_selection}[split]
        count = {"train": self.n_train, "selection": self.n_selection, "test": self.n_test}[split]
        return [f"{self.name}/{i}" for i in range(start, start + count)]

    def split_of(self, index: int) -> str:
        if 0 <= index < self.n_train:
            return "train"
        if index < self.n_train + self.n_selection:
            return "selection"
        if index < self.n_train + self.n_selection + self.n_test:
            return "test"
        raise ValueError(f"member {index} is outside suite {self.name!r} "
                         f"({self.n_train + self.n_selection + self.n_test} members)")


_SUITE_LIST = [
    Suite("v1/digits-scaled", "digits",
          description="8x8 digits (10 classes), input scale 10^U(-2,1), train-label noise U(0,0.4); MLP, 10 x 20 steps"),
    Suite("v1/breast_cancer-scaled", "breast_cancer",
          description="breast cancer (2 classes), input scale 10^U(-2,1), train-label noise U(0,0.4); MLP, 10 x 20 steps"),
    Suite("v1/wine-scaled", "wine",
          description="wine (3 classes, 36 test examples), input scale 10^U(-2,1), train-label noise U(0,0.4); "
                      "MLP, 10 x 20 steps"),
    Suite("v1/mnist5k-scaled", "mnist5k", child="cnn", n_train=16, n_selection=6, n_test=10,
          horizon=20, steps_per_action=50,
          description="5,000 MNIST digits, residual CNN, input scale 10^U(-2,1), train-label noise U(0,0.4); "
                      "the paper's 20 x 50 steps (slow on CPU: run on its own)"),
]
#: The suites by name.
SUITES: dict[str, Suite] = {s.name: s for s in _SUITE_LIST}
#: Suites with an MLP child (the ones ``hptune bench`` runs by default).
MLP_SUITES = tuple(s.name for s in _SUITE_LIST if s.child == "mlp")


def instance_sets() -> list[str]:
    """Names of the instance sets (suites), sorted."""
    return sorted(SUITES)


def suite(name: str) -> Suite:
    """The :class:`Suite` called ``name``."""
    if name not in SUITES:
        raise ValueError(f"unknown instance set {name!r}; known: {instance_sets()}")
    return SUITES[name]


def instance_set(name: str, split: str) -> list[str]:
    """Task ids of the members of suite ``name`` in ``split`` (``"train"``, ``"selection"``, ``"test"``).

    Each id works as ``gym.make(hpenv.ENV_ID, task=task_id)`` and ``hpenv.make_task(task_id)``.
    """
    return suite(name).members(split)


def is_member_id(task: str) -> bool:
    """Whether ``task`` looks like a suite member id (``"v1/<base>-scaled/<index>"``)."""
    return (isinstance(task, str) and task.count("/") == 2 and task.split("/", 1)[0].startswith("v")
            and task.rpartition("/")[2] not in SPLITS)


def split_of_task(task) -> str | None:
    """The split (``"train"``, ``"selection"``, ``"test"``) a task id belongs to: a member's, or the
    split a split id names (``"v1/digits-scaled/test"``); None for anything that is not of a suite."""
    if not isinstance(task, str) or task.count("/") != 2:
        return None
    name, _, last = task.rpartition("/")
    if name not in SUITES:
        return None
    if last in SPLITS:
        return last
    return member_factors(task)["split"] if last.isdigit() else None


class _Members:
    """Builds member ``i`` of a list of member ids (a picklable TaskFamily factory: envs pickle)."""

    def __init__(self, members: list[str]):
        self.members = members

    def __call__(self, i: int) -> Task:
        return member_task(self.members[i])


def split_family(task_id: str) -> TaskFamily:
    """The members of one split of a suite as a :class:`~hpenv.tasks.TaskFamily`, for the task id
    ``"<suite>/<split>"`` (``"v1/digits-scaled/train"``): every episode draws one member with its
    reset seed, so episodes reset with the same seed get the same member and the same child."""
    name, _, split = task_id.rpartition("/")
    members = suite(name).members(split)
    return TaskFamily(task_id, _Members(members), range(len(members)))


def _parse(task_id: str) -> tuple[Suite, int]:
    name, _, index = task_id.rpartition("/")
    if name not in SUITES:
        raise ValueError(f"task {task_id!r}: unknown instance set {name!r}; known: {instance_sets()}")
    if not index.isdigit():
        raise ValueError(f"task {task_id!r}: the member after {name + '/'!r} must be a non-negative integer "
                         f"(a member) or one of {SPLITS} (a split, as a task family)")
    s = SUITES[name]
    s.split_of(int(index))  # range check
    return s, int(index)


def _rng(s: Suite, index: int) -> np.random.Generator:
    digest = hashlib.sha256(s.name.encode()).digest()
    return np.random.default_rng([int.from_bytes(digest[:8], "little"), int(index)])


def member_factors(task_id: str) -> dict:
    """The hidden factors of a member: ``input_scale``, ``label_noise`` and its ``split``.

    For analysis only: methods under test must not read them (they see the observation).
    """
    s, index = _parse(task_id)
    rng = _rng(s, index)
    log_scale = float(rng.uniform(s.log10_scale_low, s.log10_scale_high))
    noise = float(rng.uniform(0.0, s.label_noise_high))
    return {"input_scale": 10.0 ** log_scale, "label_noise": noise, "split": s.split_of(index),
            "noise_seed": int(rng.integers(2**31))}


@lru_cache(maxsize=4)
def _base(base: str, split_seed: int) -> Task:
    from hpenv.tasks import make_task

    return make_task(base, split_seed=split_seed)


def member_task(task_id: str) -> Task:
    """Build member ``task_id`` (e.g. ``"v1/digits-scaled/17"``) as a :class:`~hpenv.tasks.Task`."""
    import torch

    s, index = _parse(task_id)
    f = member_factors(task_id)
    base = _base(s.base, s.split_seed)
    scale = float(f["input_scale"])
    y_train = base.y_train.clone()
    n = len(y_train)
    rng = np.random.default_rng(f["noise_seed"])
    n_noisy = int(round(f["label_noise"] * n))
    if n_noisy:
        idx = rng.choice(n, size=n_noisy, replace=False)
        shift = rng.integers(1, base.num_classes, size=n_noisy)  # a different class, uniformly
        y_train[idx] = (y_train[idx] + torch.as_tensor(shift)) % base.num_classes
    return Task(
        name=task_id,
        x_train=base.x_train * scale, y_train=y_train,
        x_val=base.x_val * scale, y_val=base.y_val.clone(),
        x_test=base.x_test * scale, y_test=base.y_test.clone(),
        num_classes=base.num_classes, child=s.child,
        meta={"suite": s.name, "member": index, "split": f["split"], "input_scale": scale,
              "label_noise": n_noisy / n if n else 0.0},
    )
