"""Benchmark v2's suites: members that differ the way real tasks differ (issue 18).

Every member of a v2 MLP suite is drawn from one documented distribution, by a generator seeded
by the suite's name and the member's index ([`hpenv.instances.member_rng`][]), so a member is
the same everywhere, forever. ``hpenv.member_factors(task_id)`` returns every factor of a member;
``hpenv.instances.write_members_csv(path, suite)`` writes them as ``members.csv``.

Factors, drawn independently per member:

| factor | distribution |
|---|---|
| `base` | train / selection / test: `digits` 0.3, `wine` 0.15, `iris` 0.15, `make_classification` 0.4; transfer: always `breast_cancer`, which no other split uses |
| `classes` | the base's (digits 10, wine 3, iris 3, breast cancer 2); make_classification: uniform integer in 2 .. 10 |
| `informative` | make_classification only: uniform integer in max(2, ceil(log2 classes)) .. 20 of its 20 features (no redundant features, one cluster per class) |
| `class_sep` | make_classification only: U(0.5, 2.0) |
| `data_seed` | make_classification only: its `random_state` |
| `train_fraction` | 10 ** U(-1, 0) of the base's training split (10% to 100%, log-uniform) |
| `imbalance` | training classes subsampled to a geometric prior whose largest / smallest class probability is `10 ** U(0, log10 20)` (1 to 20), the classes in a random order; at least 5 examples per class and 64 in all (the most probable classes topped up) |
| `label_noise` | U(0, 0.4) of the training labels replaced by a different class, uniformly |
| `feature_noise` | Gaussian noise of std U(0, 1) added to the base's standardised inputs (train, validation and test: the measurements of the task are noisier) |
| `input_scale` | 10 ** U(-0.5, 0.5), applied after standardising (a mild factor) |

Built from them, in this order: the base's fixed 60/20/20 split (make_classification: 1,500
examples), the training subsample (size, then class prior), label noise on the training labels,
feature noise, standardisation with the *member's own* training split's mean and std, the input
scale. Validation and test labels stay clean and the validation and test splits have a fixed size
per base (digits 360 / 360, wine 36 / 36, iris 30 / 30, breast cancer 114 / 114,
make_classification 300 / 300).

One shape per suite: every member has 64 input features (a base with fewer is padded with zero
features, which carry no signal and no gradient) and 10 outputs (labels use the first
``classes``), so that a split trains as one batched family (``task="v2/mlp-short/train"`` in a
vector env). Accuracy is as the member's labels make it; the env's "chance" (the divergence
penalty) is 1/10 for every member.

The child's width and batch size are not member factors: they are env arguments, one per env, and
a split's children train in one batch of one width. A suite could still vary them by member
group later; v2 keeps the default width (64) and batch size (32).

Splits: ``train`` (meta-training), ``selection`` (choosing any method's settings), ``test``
(reported only) and ``transfer`` (members of a base data set no other split uses, reported apart).
``v2/mlp-short``'s counts are benchmark v2.0's (train 200, selection 30, test 400, transfer 60):
its test split was sized by the power analysis on its selection members (80% power for a 2-point
member-level difference after Holm; ``benchmarks/v2/protocol.toml``). ``v2/mlp-long`` keeps the
starting counts (200, 60, 120, 60) until a protocol registers it. Members exist for any index,
and a member's factors depend on its index only, so a count is only a field.

Suites (differing in the episode budget only):

* ``v2/mlp-short``: horizon 10 x 20 SGD steps, training short of convergence (where the design
  brief measured dynamic headroom);
* ``v2/mlp-long``: horizon 20 x 50 SGD steps, the paper's setting.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import torch

from hpenv.instances import SuiteLayout, member_rng, register_suite, standardised_padded
from hpenv.tasks import Task, make_task, replace_labels

__all__ = ["SuiteV2", "V2_SUITES", "N_FEATURES", "N_CLASSES"]

#: Input features and outputs of every v2 MLP member.
N_FEATURES = 64
N_CLASSES = 10
SYNTHETIC = "make_classification"
#: The fewest training examples a class keeps after subsampling.
MIN_PER_CLASS = 5
#: The fewest training examples a member keeps (twice the default batch size of 32), or the whole
#: training split of a smaller base.
MIN_TRAIN = 64


@dataclass(frozen=True)
class SuiteV2(SuiteLayout):
    """A v2 instance set (see the module docstring for the factors and how a member is built).

    Attributes:
        name: ``"v2/<suite>"``; member ``i`` has the task id ``f"{name}/{i}"``.
        n_train: train members (the first indices).
        n_selection: selection members (the indices after the train members).
        n_test: test members (the indices after the selection members).
        n_transfer: transfer members (the last indices).
        bases: ``{base: probability}`` for the train, selection and test members.
        transfer_base: the base of every transfer member; in no other split.
        horizon: env steps of the episode this suite is meant for (``env_kwargs``).
        steps_per_action: SGD steps per env step of that episode (``env_kwargs``).
        train_fraction_log10: ``(low, high)`` of the uniform draw of log10 of ``train_fraction``.
        imbalance_log10: ``(low, high)`` of the uniform draw of log10 of ``imbalance``.
        label_noise: ``(low, high)`` of the uniform draw of ``label_noise``.
        feature_noise: ``(low, high)`` of the uniform draw of ``feature_noise``.
        input_scale_log10: ``(low, high)`` of the uniform draw of log10 of ``input_scale``.
        description: one line.
    """

    name: str
    horizon: int
    steps_per_action: int
    n_train: int = 200
    n_selection: int = 60
    n_test: int = 120
    n_transfer: int = 60
    bases: dict = field(default_factory=lambda: {"digits": 0.3, "wine": 0.15, "iris": 0.15, SYNTHETIC: 0.4})
    transfer_base: str = "breast_cancer"
    train_fraction_log10: tuple = (-1.0, 0.0)
    imbalance_log10: tuple = (0.0, math.log10(20.0))
    label_noise: tuple = (0.0, 0.4)
    feature_noise: tuple = (0.0, 1.0)
    input_scale_log10: tuple = (-0.5, 0.5)
    child: str = "mlp"
    description: str = ""
    extra_env_kwargs: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.transfer_base in self.bases:
            raise ValueError(f"transfer_base {self.transfer_base!r} must be a base no other split uses, "
                             f"but bases has it: {sorted(self.bases)}")

    @property
    def split_sizes(self) -> dict[str, int]:
        return {"train": self.n_train, "selection": self.n_selection, "test": self.n_test,
                "transfer": self.n_transfer}

    def factors(self, index: int) -> dict:
        """Every factor of member ``index`` (the columns of ``members.csv`` after ``task_id``)."""
        split = self.split_of(index)
        rng = member_rng(self.name, index)
        names = list(self.bases)
        drawn = names[int(rng.choice(len(names), p=np.asarray([self.bases[b] for b in names], dtype=float)))]
        base = self.transfer_base if split == "transfer" else drawn  # one draw either way: stable streams
        classes = int(rng.integers(2, N_CLASSES + 1))
        informative = int(rng.integers(max(2, math.ceil(math.log2(classes))), 21))
        synthetic = {"informative": informative, "class_sep": float(rng.uniform(0.5, 2.0)),
                     "data_seed": int(rng.integers(2**31))}
        f = {
            "split": split, "base": base,
            "train_fraction": 10.0 ** float(rng.uniform(*self.train_fraction_log10)),
            "imbalance": 10.0 ** float(rng.uniform(*self.imbalance_log10)),
            "label_noise": float(rng.uniform(*self.label_noise)),
            "feature_noise": float(rng.uniform(*self.feature_noise)),
            "input_scale": 10.0 ** float(rng.uniform(*self.input_scale_log10)),
            "noise_seed": int(rng.integers(2**31)),
        }
        if base == SYNTHETIC:
            f.update(classes=classes, **synthetic)
        else:
            f.update(classes=_base_task(base).num_classes, informative=None, class_sep=None, data_seed=None)
        counts = _train_counts(_pool(f), f["train_fraction"], f["imbalance"], np.random.default_rng(f["noise_seed"]))
        f["n_train"] = int(counts.sum())
        return f

    def build(self, index: int) -> Task:
        """Member ``index`` as a [`Task`][hpenv.tasks.Task] (see the module docstring)."""
        f = self.factors(index)
        base = _base_of(f)
        rng = np.random.default_rng(f["noise_seed"])
        y_pool = base.y_train.numpy()
        counts = _train_counts(_pool(f), f["train_fraction"], f["imbalance"], rng)
        keep = np.sort(np.concatenate([rng.choice(np.flatnonzero(y_pool == k), size=int(n), replace=False)
                                       for k, n in enumerate(counts)]))
        x_tr, y_tr = base.x_train.numpy()[keep], y_pool[keep].copy()
        n_noisy = int(round(f["label_noise"] * len(y_tr)))
        y_tr = replace_labels(y_tr, n_noisy, f["classes"], rng)
        xs = [x + rng.normal(0.0, f["feature_noise"], size=x.shape)
              for x in (x_tr, base.x_val.numpy(), base.x_test.numpy())]
        x_tr, x_va, x_te = standardised_padded(xs, f["input_scale"], N_FEATURES)
        pad = N_FEATURES - xs[0].shape[1]
        return Task(
            name=f"{self.name}/{index}",
            x_train=torch.from_numpy(x_tr), y_train=torch.from_numpy(y_tr),
            x_val=torch.from_numpy(x_va), y_val=base.y_val.clone(),
            x_test=torch.from_numpy(x_te), y_test=base.y_test.clone(),
            num_classes=N_CLASSES, child=self.child,
            meta={"suite": self.name, "member": index, **f, "n_features": N_FEATURES - pad,
                  "label_noise_realised": n_noisy / len(y_tr)},
        )


def _train_counts(pool: np.ndarray, fraction: float, imbalance: float, rng: np.random.Generator) -> np.ndarray:
    """Training examples kept per class: ``fraction`` of the pool, split by a geometric prior whose
    largest / smallest ratio is ``imbalance`` over a random order of the classes, at least
    `MIN_PER_CLASS` (or the whole pool of a smaller class) and at most the class's pool; topped
    up, most probable class first, to `MIN_TRAIN` in all."""
    c = len(pool)
    prior = imbalance ** (-rng.permutation(c) / max(c - 1, 1))
    prior /= prior.sum()
    target = np.round(fraction * pool.sum() * prior).astype(np.int64)
    counts = np.minimum(pool, np.maximum(target, MIN_PER_CLASS))
    for k in np.argsort(-prior, kind="stable"):
        counts[k] += min(pool[k] - counts[k], max(0, min(MIN_TRAIN, pool.sum()) - counts.sum()))
    return counts


def _pool(f: dict) -> np.ndarray:
    return np.bincount(_base_of(f).y_train.numpy(), minlength=f["classes"])


def _base_of(f: dict) -> Task:
    if f["base"] == SYNTHETIC:
        return _synthetic_base(f["classes"], f["informative"], f["class_sep"], f["data_seed"])
    return _base_task(f["base"])


@lru_cache(maxsize=8)
def _base_task(name: str) -> Task:
    return make_task(name, split_seed=0)


@lru_cache(maxsize=8)
def _synthetic_base(classes: int, informative: int, class_sep: float, data_seed: int) -> Task:
    from sklearn.datasets import make_classification

    x, y = make_classification(n_samples=1500, n_features=20, n_informative=informative, n_redundant=0,
                               n_repeated=0, n_classes=classes, n_clusters_per_class=1, class_sep=class_sep,
                               flip_y=0.0, random_state=data_seed)
    return Task.from_arrays(x, y, name=f"{SYNTHETIC}:{data_seed}", split_seed=0)


V2_SUITES = (
    SuiteV2("v2/mlp-short", horizon=10, steps_per_action=20, n_selection=30, n_test=400,
            description="digits / wine / iris / make_classification members varied in training size, class "
                        "imbalance, label and feature noise, input scale; transfer: breast cancer; MLP, 10 x 20 "
                        "steps (short of convergence)"),
    SuiteV2("v2/mlp-long", horizon=20, steps_per_action=50,
            description="the members of v2/mlp-short's distribution (drawn anew) at the paper's 20 x 50 steps; "
                        "transfer: breast cancer"),
)
for _s in V2_SUITES:
    register_suite(_s)
