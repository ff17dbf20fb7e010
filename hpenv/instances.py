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

This module is also the catalogue of every suite: [`register_suite`][hpenv.instances.register_suite] adds one
(the v1 suites below, the v2 suites of [`hpenv.suites_v2`][]) and registers its namespace (``"v1"``) with
[`hpenv.tasks.register_namespace`][], so ``make_task("v1/...")`` resolves here while
[`hpenv.tasks`][] imports nothing of the suites.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from hpenv.tasks import Task, TaskFamily, make_task, register_namespace, replace_labels

__all__ = ["Suite", "SuiteLayout", "SUITES", "instance_sets", "instance_set", "suite", "register_suite",
           "member_task", "members_family", "member_factors", "member_env_kwargs", "members_table",
           "write_members_csv", "is_member_id", "split_family", "split_of_task"]

#: The splits of a v1 suite, in member-index order.
SPLITS = ("train", "selection", "test")
#: Every split name a suite may have (v2 suites add ``"transfer"``, v3 suites ``"dev"`` too).
SPLIT_NAMES = SPLITS + ("transfer", "dev")


class SuiteLayout:
    """Member ids and splits of a suite whose splits are consecutive ranges of member indices.

    A subclass names its splits and their sizes in `split_sizes` (in index order), its
    episode in ``horizon``, ``steps_per_action`` and ``extra_env_kwargs``, and draws and builds a
    member in [`factors`][hpenv.instances.SuiteLayout.factors] and
    [`build`][hpenv.instances.SuiteLayout.build].
    """

    name: str
    horizon: int
    steps_per_action: int
    extra_env_kwargs: dict

    @property
    def split_sizes(self) -> dict[str, int]:
        raise NotImplementedError

    def factors(self, index: int) -> dict:
        """Every factor of member ``index``, and its ``split``."""
        raise NotImplementedError

    def build(self, index: int) -> Task:
        """Member ``index`` as a [`Task`][hpenv.tasks.Task]."""
        raise NotImplementedError

    @property
    def splits(self) -> tuple[str, ...]:
        return tuple(self.split_sizes)

    @property
    def env_kwargs(self) -> dict:
        """Episode settings of the suite: ``gym.make(hpenv.ENV_ID, task=member, **suite.env_kwargs)``."""
        return {"horizon": self.horizon, "steps_per_action": self.steps_per_action, **self.extra_env_kwargs}

    def member_env_kwargs(self, index: int) -> dict:
        """The env arguments member ``index`` is meant for (v1, v2: the suite's
        [`env_kwargs`][hpenv.instances.SuiteLayout.env_kwargs]; v3 members add their own batch size and child
        width)."""
        self.split_of(index)  # range check
        return self.env_kwargs

    def _start(self, split: str) -> int:
        if split not in self.split_sizes:
            raise ValueError(f"split must be one of {self.splits}, got {split!r}")
        return sum(list(self.split_sizes.values())[:self.splits.index(split)])

    def members(self, split: str) -> list[str]:
        """Task ids of the members of one split (one of `splits`)."""
        start = self._start(split)
        return [f"{self.name}/{i}" for i in range(start, start + self.split_sizes[split])]

    def split_of(self, index: int) -> str:
        """The split member ``index`` belongs to; a ValueError outside the suite."""
        end = 0
        for split, n in self.split_sizes.items():
            end += n
            if 0 <= index < end:
                return split
        raise ValueError(f"member {index} is outside suite {self.name!r} ({end} members)")


@dataclass(frozen=True)
class Suite(SuiteLayout):
    """A v1 instance set: one base data set, members that differ in input scale and label noise.

    Attributes:
        name: ``"v1/<base>-scaled"``; member ``i`` has the task id ``f"{name}/{i}"``.
        base: the underlying data set (a built-in task name: digits, wine, breast_cancer, mnist5k).
        child: the child family (``"mlp"`` or ``"cnn"``).
        n_train: train members: members ``0 .. n_train-1``.
        n_selection: selection members: the next ``n_selection`` after the train members.
        n_test: test members: the next ``n_test`` after the selection members.
        log10_scale_low: the low end of the input scale ``10 ** U(low, high)``.
        log10_scale_high: the high end of the input scale ``10 ** U(low, high)``.
        label_noise_high: training-label noise is ``U(0, label_noise_high)``.
        horizon: env steps of the episode this suite is meant for (``env_kwargs``).
        steps_per_action: SGD steps per env step of that episode (``env_kwargs``).
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
    def split_sizes(self) -> dict[str, int]:
        return {"train": self.n_train, "selection": self.n_selection, "test": self.n_test}

    def factors(self, index: int) -> dict:
        """The hidden factors of member ``index``: ``input_scale``, ``label_noise``, its ``split``."""
        rng = member_rng(self.name, index)
        log_scale = float(rng.uniform(self.log10_scale_low, self.log10_scale_high))
        noise = float(rng.uniform(0.0, self.label_noise_high))
        return {"input_scale": 10.0 ** log_scale, "label_noise": noise, "split": self.split_of(index),
                "noise_seed": int(rng.integers(2**31))}

    def build(self, index: int) -> Task:
        """Member ``index`` as a [`Task`][hpenv.tasks.Task]."""
        import torch

        f = self.factors(index)
        base = _base(self.base, self.split_seed)
        scale = float(f["input_scale"])
        n = len(base.y_train)
        n_noisy = int(round(f["label_noise"] * n))
        y_train = torch.from_numpy(replace_labels(base.y_train.numpy(), n_noisy, base.num_classes,
                                                  np.random.default_rng(f["noise_seed"])))
        return Task(
            name=f"{self.name}/{index}",
            x_train=base.x_train * scale, y_train=y_train,
            x_val=base.x_val * scale, y_val=base.y_val.clone(),
            x_test=base.x_test * scale, y_test=base.y_test.clone(),
            num_classes=base.num_classes, child=self.child,
            meta={"suite": self.name, "member": index, "split": f["split"], "input_scale": scale,
                  "label_noise": n_noisy / n if n else 0.0},
        )


#: The suites by name (v1 here; other modules add theirs with
#: [`register_suite`][hpenv.instances.register_suite]).
SUITES: dict[str, SuiteLayout] = {}


def register_suite(s: SuiteLayout) -> None:
    """Add suite ``s`` to the catalogue and make its member and split ids resolve in ``make_task``.

    ``s`` needs ``factors(index) -> dict`` and ``build(index) -> Task`` besides
    [`SuiteLayout`][hpenv.instances.SuiteLayout]'s members; its name is ``"<namespace>/<suite>"``.
    """
    if not isinstance(s.name, str) or s.name.count("/") != 1:
        raise ValueError(f"a suite's name must be '<namespace>/<suite>', got {s.name!r}")
    SUITES[s.name] = s
    register_namespace(s.name.split("/", 1)[0], resolve_task_id)


_V1_SUITES = [
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
#: v1 suites with an MLP child (the ones ``hptune bench`` runs by default).
MLP_SUITES = tuple(s.name for s in _V1_SUITES if s.child == "mlp")


def instance_sets() -> list[str]:
    """Names of the instance sets (suites), sorted."""
    return sorted(SUITES)


def suite(name: str) -> SuiteLayout:
    """The suite called ``name`` (a [`Suite`][hpenv.instances.Suite] for v1, a [`hpenv.suites_v2.SuiteV2`][]
    for v2, a [`hpenv.suites_v3.SuiteV3`][] for v3), or a variant of one
    ([`variant_name`][hpenv.instances.variant_name])."""
    if not _known(name):
        raise ValueError(f"unknown instance set {name!r}; known: {instance_sets()}")
    return SUITES[name]


def variant_name(name: str, changes: dict) -> str:
    """The name of suite ``name`` with the fields ``changes`` replaced: ``"v3/stream~{...}"`` (the
    changes as compact JSON). A variant draws the same members as the suite (only what the changes
    touch differs), so designs can be tried on the same dev members; its name resolves in every
    process (Ray workers included), and ``make_task(f"{variant}/17")`` works as for any suite. The
    JSON sorts the keys of dict-valued changes too: a draw that walks a dict's order (a suite's
    ``bases`` or ``streams``) walks them sorted."""
    import json

    return f"{name}~{json.dumps(changes, sort_keys=True, separators=(',', ':'))}"


def _known(name: str) -> bool:
    """Whether ``name`` is a suite, registering a variant ([`variant_name`][hpenv.instances.variant_name]) on
    first use."""
    if name in SUITES or not isinstance(name, str) or "~" not in name:
        return name in SUITES
    import dataclasses
    import json

    base_name, _, spec = name.partition("~")
    base = SUITES.get(base_name)
    if base is None or not dataclasses.is_dataclass(base) or "draw_name" not in {f.name for f in dataclasses.fields(base)}:
        return False
    try:
        changes = {k: tuple(v) if isinstance(v, list) else v for k, v in json.loads(spec).items()}
    except (ValueError, AttributeError):
        return False
    register_suite(dataclasses.replace(base, name=name, draw_name=base.draw_name or base.name, **changes))
    return True


def instance_set(name: str, split: str) -> list[str]:
    """Task ids of the members of suite ``name`` in ``split`` (``"train"``, ``"selection"``, ``"test"``;
    v2 suites also ``"transfer"``).

    Each id works as ``gym.make(hpenv.ENV_ID, task=task_id)`` and ``hpenv.make_task(task_id)``.
    """
    return suite(name).members(split)


def is_member_id(task: str) -> bool:
    """Whether ``task`` looks like a suite member id (``"v1/<base>-scaled/<index>"``)."""
    return (isinstance(task, str) and task.count("/") == 2 and task.split("/", 1)[0].startswith("v")
            and task.rpartition("/")[2] not in SPLIT_NAMES)


def split_of_task(task) -> str | None:
    """The split (``"train"``, ``"selection"``, ``"test"``, ``"transfer"``) a task id belongs to: a
    member's, or the split a split id names (``"v1/digits-scaled/test"``); None for anything that is
    not of a suite."""
    if not isinstance(task, str) or task.count("/") != 2:
        return None
    name, _, last = task.rpartition("/")
    if not _known(name):
        return None
    if last in SUITES[name].splits:
        return last
    return member_factors(task)["split"] if last.isdigit() else None


class _Members:
    """Builds member ``i`` of a list of member ids (a picklable TaskFamily factory: envs pickle)."""

    def __init__(self, members: list[str]):
        self.members = members

    def __call__(self, i: int) -> Task:
        return member_task(self.members[i])


#: Members a split family keeps built: enough for the children of a large vector env, far fewer
#: than a split's members (a rebuilt member is identical, and costs milliseconds).
SPLIT_FAMILY_CACHE = 64


def members_family(name: str, members: list[str]) -> TaskFamily:
    """Suite members (task ids) as a [`TaskFamily`][hpenv.tasks.TaskFamily] called ``name``: every
    episode draws one of them with its reset seed, so episodes reset with the same seed get the same
    member and the same child."""
    members = list(members)
    for m in members:
        _parse(m)  # a clear error for an id that is not a member
    return TaskFamily(name, _Members(members), range(len(members)), max_cached=SPLIT_FAMILY_CACHE)


def split_family(task_id: str) -> TaskFamily:
    """The members of one split of a suite as a [`TaskFamily`][hpenv.tasks.TaskFamily], for the task id
    ``"<suite>/<split>"`` (``"v1/digits-scaled/train"``; see
    [`members_family`][hpenv.instances.members_family])."""
    name, _, split = task_id.rpartition("/")
    return members_family(task_id, suite(name).members(split))


def resolve_task_id(task_id: str) -> Task | TaskFamily:
    """A member id as its Task, a split id (``"<suite>/<split>"``) as its family: what
    ``make_task`` returns for a suite's namespace."""
    name, _, last = task_id.rpartition("/")
    if _known(name) and last in SUITES[name].splits:
        return split_family(task_id)
    return member_task(task_id)


def _parse(task_id: str) -> tuple[SuiteLayout, int]:
    name, _, index = task_id.rpartition("/")
    if not _known(name):
        raise ValueError(f"task {task_id!r}: unknown instance set {name!r}; known: {instance_sets()}")
    s = SUITES[name]
    if not index.isdigit():
        raise ValueError(f"task {task_id!r}: the member after {name + '/'!r} must be a non-negative integer "
                         f"(a member) or one of {s.splits} (a split, as a task family)")
    s.split_of(int(index))  # range check
    return s, int(index)


def standardised_padded(xs, scale: float, n_features: int) -> list[np.ndarray]:
    """Each array of ``xs`` (a member's training, validation and test inputs) standardised with the
    first's mean and std (a constant feature keeps std 1), times ``scale``, and padded with zero
    features to ``n_features`` (which carry no signal and no gradient), as float32: how every v2 and v3
    member shares one input shape."""
    mean, std = xs[0].mean(axis=0), xs[0].std(axis=0)
    std = np.where(std > 1e-8, std, 1.0)
    pad = n_features - xs[0].shape[1]
    return [np.pad((x - mean) / std * scale, ((0, 0), (0, pad))).astype(np.float32) for x in xs]


def member_rng(suite_name: str, index: int) -> np.random.Generator:
    """The generator that draws member ``index``'s factors: seeded by the suite's name and the index
    only, so a member is the same everywhere, forever."""
    digest = hashlib.sha256(suite_name.encode()).digest()
    return np.random.default_rng([int.from_bytes(digest[:8], "little"), int(index)])


def member_factors(task_id: str) -> dict:
    """The hidden factors of a member and its ``split`` (v1: ``input_scale``, ``label_noise``; v2:
    see [`hpenv.suites_v2`][]).

    For analysis only: methods under test must not read them (they see the observation).
    """
    s, index = _parse(task_id)
    return s.factors(index)


def member_env_kwargs(task_id: str) -> dict:
    """The env arguments member ``task_id`` is meant for:
    ``gym.make(hpenv.ENV_ID, task=task_id, **hpenv.member_env_kwargs(task_id))``."""
    s, index = _parse(task_id)
    return s.member_env_kwargs(index)


def member_task(task_id: str) -> Task:
    """Build member ``task_id`` (e.g. ``"v1/digits-scaled/17"``) as a [`Task`][hpenv.tasks.Task]."""
    s, index = _parse(task_id)
    return s.build(index)


def members_table(name: str, split: str) -> list[dict]:
    """One row per member of ``split`` of suite ``name``: ``task_id`` then every factor of
    [`member_factors`][hpenv.instances.member_factors] (the columns of ``members.csv``)."""
    return [{"task_id": task_id, **member_factors(task_id)} for task_id in instance_set(name, split)]


def write_members_csv(path, name: str, splits=None) -> Path:
    """Write ``members.csv`` for suite ``name``: the rows of [`members_table`][hpenv.instances.members_table]
    for each of ``splits`` (default: all of the suite's); a factor a member does not have is left empty."""
    rows = [row for split in (splits or suite(name).splits) for row in members_table(name, split)]
    columns = list(dict.fromkeys(key for row in rows for key in row))
    path = Path(path)
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)
    return path


@lru_cache(maxsize=4)
def _base(base: str, split_seed: int) -> Task:
    return make_task(base, split_seed=split_seed)


for _s in _V1_SUITES:
    register_suite(_s)
