"""Benchmark v3's suites: members with resolution and variety, a stream suite, and an image suite (issue 26).

| suite | members | child | episode | runs on |
|---|---|---|---|---|
| `v3/mlp` | tables of 13 base families, stationary | MLP (width 32, 64, 128) | 10 x 10, 20 or 50 SGD steps | CPU |
| `v3/stream` | the same bases; the training data change at a step drawn from 3..8 | MLP (width 32, 64, 128) | 10 x 50 | CPU |
| `v3/image` | MNIST digits; transfer: scikit-learn's digits at 28x28 | the paper's CNN (width 8, 16, 32) | 20 x 50 | a GPU, where one is lent (``accelerator = "gpu"``) |

Every member is drawn from one documented distribution by a generator seeded by the suite's name
and the member's index ([`hpenv.instances.member_rng`][]), so a member is the same everywhere,
forever. ``hpenv.member_factors(task_id)`` returns every factor (``base`` included);
``hpenv.member_env_kwargs(task_id)`` the env arguments the member is meant for (its horizon, SGD
steps per action, batch size and child width): ``gym.make(hpenv.ENV_ID, task=member,
**hpenv.member_env_kwargs(member))``.

Base families ([`hpenv.sources`][]) of the MLP suites: thirteen, six of them real data. Train, dev,
selection and test members draw theirs from ``bases``; transfer members from ``transfer_bases``,
which no other split uses (``segment``, real, and ``teacher``, a generator; for `v3/image`,
``mnist28`` and ``digits28``). Members of a real base share its
fixed validation and test examples (so do members of one generator with the same ``data_seed``,
which they never do); every member's validation and test splits hold at least 300 examples.

Factors, drawn per member (every draw is made for every member, so adding a factor to one kind of
member never moves another's):

| factor | distribution |
|---|---|
| `base` | `bases` (see `BASES`), or `transfer_bases` in the transfer split |
| `classes` | the base's own; generators: uniform in 2 .. 10 (Gaussian quantiles: at most 6; Hastie, moons, circles: 2) |
| `features` | generators: make_classification's informative features, uniform in max(2, ceil(log2 classes)) .. 20; blobs, moons, circles: 2 .. 20; quantiles: 2 .. 10; Hastie 10, teacher 20 |
| `param` | generators: class_sep U(0.5, 2), cluster_std U(1, 4), moons' noise U(0.1, 0.4), circles' U(0.05, 0.2), teacher's inverse temperature U(2, 8) |
| `data_seed` | generators: their `random_state` |
| `n_train` | log-uniform in `train_size` (300 .. 3,000), at most the base's pool |
| `label_noise` | U(`label_noise`) of the training labels replaced by a different class |
| `feature_noise` | Gaussian noise of std U(`feature_noise`) on the standardised inputs of every split (the measurements are noisier) |
| `input_scale` | 10 ** U(-0.3, 0.3), after standardising with the member's own training split |
| `batch_size` | uniform over 16, 32, 64, 128 (at most the smallest phase's examples) |
| `width` | uniform over 32, 64, 128 (the child's units per block; depth stays an action); `v3/image`: 8, 16, 32 channels |
| `stream` | stream suite: the kind of change (`streams`: label-noise onset 0.7, classes arriving 0.3); a class-incremental draw on a member with fewer than 4 classes becomes a label-noise onset |
| `stream_param` | label-noise onset: the noise rate η, U(`onset_noise`): each training label is replaced, with probability η, by a class drawn uniformly from the member's k, so a fraction η (k - 1) / k of them are wrong and the true class keeps its plurality (a binary member's labels are never inverted); class-incremental: replay U(0, 0.2); input drift: the scale 10 ** U(0.5, 1); new data: phase 0's share of the training split U(0.1, 0.3), at least one batch |
| `window` | stream suite: the env steps from which the change may come (the suite's) |

Inputs are padded with zero features to 64 (images keep their shape, 1x28x28, standardised per
channel) and every member has 10 outputs (labels use the first ``classes``), so that members of one
width train in one batch. The env's "chance" (the divergence
penalty) is 1/10 for every member.

Splits, in member-index order: ``train`` (meta-training), ``dev`` (development: an agent's levers,
``hptune train``'s comparison; no reference is ever chosen on them), ``selection`` (choosing any
method's settings and the references; the gates), ``test`` (reported only) and ``transfer``.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np
import torch

from hpenv.instances import SuiteLayout, member_rng, register_suite, standardised_padded
from hpenv.sources import FIXED_CLASSES, GENERATORS, IMAGE_SOURCES, REAL_SOURCES, source_task
from hpenv.streams import make_stream
from hpenv.tasks import Task, replace_labels

__all__ = ["SuiteV3", "V3_SUITES", "BASES", "TRANSFER_BASES", "N_FEATURES", "N_CLASSES"]

N_FEATURES = 64
N_CLASSES = 10
#: The base families of train, dev, selection and test members, with their probabilities.
BASES = {"digits": 0.12, "mnist7": 0.12, "banana": 0.08, "shuttle": 0.08, "phishing": 0.08,
         "make_classification": 0.12, "make_blobs": 0.08, "make_gaussian_quantiles": 0.08,
         "make_hastie_10_2": 0.06, "moons": 0.09, "circles": 0.09}
#: The base families of transfer members only.
TRANSFER_BASES = {"segment": 0.5, "teacher": 0.5}
#: The stream suite's kinds of change and their probabilities (dev members: the onset and classes
#: arriving are where a change of hyper-parameters pays). The order is part of the draw: this is the
#: sorted order in which the dev trial (a variant, whose JSON sorts keys) drew them.
STREAM_KINDS_V3 = {"class_incremental": 0.3, "label_noise_onset": 0.7}


def _choice(rng: np.random.Generator, probabilities: dict) -> str:
    names = list(probabilities)
    p = np.asarray([probabilities[n] for n in names], dtype=float)
    return names[int(rng.choice(len(names), p=p / p.sum()))]


@dataclass(frozen=True)
class SuiteV3(SuiteLayout):
    """A v3 instance set (the module docstring lists the factors and how a member is built).

    Attributes:
        name: ``"v3/<suite>"``; member ``i`` has the task id ``f"{name}/{i}"``.
        horizon: env steps of the episode every member is meant for.
        steps_per_action: SGD steps per env step of that episode.
        n_train: train members (the first indices).
        n_dev: dev members (the indices after the train members).
        n_selection: selection members (the indices after the dev members).
        n_test: test members (the indices after the selection members).
        n_transfer: transfer members (the last indices).
        bases: ``{base: probability}`` of the train, dev, selection and test members.
        transfer_bases: ``{base: probability}`` of the transfer members.
        train_size: ``(low, high)`` of the log-uniform training-set size.
        label_noise: ``(low, high)`` of the uniform draw of ``label_noise``.
        feature_noise: ``(low, high)`` of the uniform draw of ``feature_noise``.
        input_scale_log10: ``(low, high)`` of the uniform draw of log10 of ``input_scale``.
        batch_sizes: the batch sizes drawn uniformly.
        widths: the child widths drawn uniformly.
        steps_choices: SGD steps per action drawn uniformly per member (the member's training budget);
            empty: every member trains ``steps_per_action``.
        streams: ``{kind: probability}`` of a stream suite; empty for a stationary one.
        window: a stream's change window ``(first, last)`` (env steps).
        onset_noise: ``(low, high)`` of the uniform draw of a label-noise onset's noise rate.
        child: the child family of every member, ``"mlp"`` (tables of features, padded to `N_FEATURES`)
            or ``"cnn"`` (images of the `IMAGE_SOURCES`, standardised per channel, not padded).
        accelerator: ``"cpu"``, or ``"gpu"`` for a suite whose protocol runs only where a GPU is lent
            (its members build, and train, on any device).
        description: one line.
        draw_name: the name whose generator draws the members (default: ``name``): a variant of a
            suite (another episode, say) drawn under the original's name has the same members.
    """

    name: str
    horizon: int
    steps_per_action: int
    n_train: int = 200
    n_dev: int = 30
    n_selection: int = 30
    n_test: int = 200
    n_transfer: int = 60
    bases: dict = field(default_factory=lambda: dict(BASES))
    transfer_bases: dict = field(default_factory=lambda: dict(TRANSFER_BASES))
    train_size: tuple = (300, 3000)
    label_noise: tuple = (0.0, 0.3)
    feature_noise: tuple = (0.0, 0.5)
    input_scale_log10: tuple = (-0.3, 0.3)
    batch_sizes: tuple = (16, 32, 64, 128)
    widths: tuple = (32, 64, 128)
    steps_choices: tuple = ()
    streams: dict = field(default_factory=dict)
    window: tuple = (3, 8)
    onset_noise: tuple = (0.5, 0.9)
    child: str = "mlp"
    accelerator: str = "cpu"
    description: str = ""
    extra_env_kwargs: dict = field(default_factory=dict)
    draw_name: str = ""
    _drawn: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        images = {b in IMAGE_SOURCES for b in (*self.bases, *self.transfer_bases)}
        if images != {self.child == "cnn"}:
            raise ValueError(f"child={self.child!r} needs bases that are all "
                             f"{'images (' + ', '.join(IMAGE_SOURCES) + ')' if self.child == 'cnn' else 'tables'}, "
                             f"got {sorted({*self.bases, *self.transfer_bases})}")
        if self.accelerator not in ("cpu", "gpu"):
            raise ValueError(f"accelerator must be 'cpu' or 'gpu', got {self.accelerator!r}")
        shared = set(self.bases) & set(self.transfer_bases)
        if shared:
            raise ValueError(f"transfer_bases must be bases no other split uses; both have {sorted(shared)}")
        if self.streams and not 2 <= self.window[0] <= self.window[1] <= self.horizon:
            raise ValueError(f"window must satisfy 2 <= first <= last <= horizon ({self.horizon}), got {self.window}")

    @property
    def split_sizes(self) -> dict[str, int]:
        return {"train": self.n_train, "dev": self.n_dev, "selection": self.n_selection, "test": self.n_test,
                "transfer": self.n_transfer}

    def factors(self, index: int) -> dict:
        """Every factor of member ``index`` (the columns of ``members.csv`` after ``task_id``)."""
        if index not in self._drawn:  # a draw builds the member's data (its pool and phase sizes): once per process
            self._drawn[index] = self._draw(index)
        return copy.deepcopy(self._drawn[index])

    def _draw(self, index: int) -> dict:
        split = self.split_of(index)
        rng = member_rng(self.draw_name or self.name, index)
        drawn, drawn_transfer = _choice(rng, self.bases), _choice(rng, self.transfer_bases)
        base = drawn_transfer if split == "transfer" else drawn
        classes = int(rng.integers(2, N_CLASSES + 1))
        features = {"make_classification": int(rng.integers(max(2, math.ceil(math.log2(classes))), 21)),
                    "make_blobs": int(rng.integers(2, 21)), "moons": int(rng.integers(2, 21)),
                    "circles": int(rng.integers(2, 21)), "make_gaussian_quantiles": int(rng.integers(2, 11)),
                    "make_hastie_10_2": 10, "teacher": 20}
        params = {"make_classification": float(rng.uniform(0.5, 2.0)), "make_blobs": float(rng.uniform(1.0, 4.0)),
                  "moons": float(rng.uniform(0.1, 0.4)), "circles": float(rng.uniform(0.05, 0.2)),
                  "teacher": float(rng.uniform(2.0, 8.0))}
        data_seed = int(rng.integers(2**31))
        size_u = float(rng.uniform())
        f = {"split": split, "base": base}
        if base in GENERATORS:
            f.update(classes=FIXED_CLASSES.get(base, min(classes, 6) if base == "make_gaussian_quantiles" else classes),
                     features=features[base], param=params.get(base, 0.0), data_seed=data_seed)
        else:
            f.update(classes=FIXED_CLASSES[base], features=None, param=None, data_seed=None)
        pool = _source(f).sizes[0]
        low, high = self.train_size[0], min(self.train_size[1], pool)
        f["n_train"] = int(round(low * (high / low) ** size_u)) if high > low else int(high)
        f.update(label_noise=float(rng.uniform(*self.label_noise)), feature_noise=float(rng.uniform(*self.feature_noise)),
                 input_scale=10.0 ** float(rng.uniform(*self.input_scale_log10)),
                 batch_size=int(self.batch_sizes[int(rng.integers(len(self.batch_sizes)))]),
                 width=int(self.widths[int(rng.integers(len(self.widths)))]))
        kind = _choice(rng, self.streams or {"none": 1.0})
        stream_params = {"label_noise_onset": float(rng.uniform(*self.onset_noise)), "class_incremental": float(rng.uniform(0.0, 0.2)),
                         "input_drift": 10.0 ** float(rng.uniform(0.5, 1.0)), "new_data": float(rng.uniform(0.1, 0.3))}
        f["noise_seed"] = int(rng.integers(2**31))
        steps = int(self.steps_choices[int(rng.integers(len(self.steps_choices)))]) if self.steps_choices else None
        f["steps_per_action"] = steps or self.steps_per_action
        if self.streams:
            if kind == "class_incremental" and f["classes"] < 4:
                kind = "label_noise_onset"
            param = stream_params[kind]
            if kind == "new_data":  # phase 0 holds at least one batch
                param = max(param, f["batch_size"] / f["n_train"])
            f.update(stream=kind, stream_param=param, window=list(self.window))
        else:
            f.update(stream=None, stream_param=None, window=None)
        smallest = min(self._phase_sizes(f))
        if f["batch_size"] > smallest:
            f["batch_size"] = int(max([b for b in self.batch_sizes if b <= smallest], default=min(self.batch_sizes)))
        return f

    def member_env_kwargs(self, index: int) -> dict:
        """The env arguments member ``index`` is meant for: the suite's episode, its batch size and width."""
        f = self.factors(index)
        return {**self.env_kwargs, "steps_per_action": f["steps_per_action"], "batch_size": f["batch_size"],
                "width": f["width"]}

    def _phase_sizes(self, f: dict) -> list[int]:
        if not f["stream"]:
            return [f["n_train"]]
        return list(self._stream(self._stationary(f), f).phase_sizes())

    def _stationary(self, f: dict, name: str = "member") -> Task:
        base = _source(f)
        rng = np.random.default_rng([f["noise_seed"], 0])
        keep = np.sort(rng.choice(base.sizes[0], size=min(f["n_train"], base.sizes[0]), replace=False))
        x_tr, y_tr = base.x_train.numpy()[keep], base.y_train.numpy()[keep].copy()
        n_noisy = int(round(f["label_noise"] * len(y_tr)))
        y_tr = replace_labels(y_tr, n_noisy, base.num_classes, np.random.default_rng([f["noise_seed"], 1]))
        rng = np.random.default_rng([f["noise_seed"], 2])
        xs = [x + rng.normal(0.0, f["feature_noise"], size=x.shape)
              for x in (x_tr, base.x_val.numpy(), base.x_test.numpy())]
        if self.child == "cnn":  # images keep their shape: standardised per channel, as Task.from_splits does
            mean, std = xs[0].mean(axis=(0, 2, 3), keepdims=True), xs[0].std(axis=(0, 2, 3), keepdims=True)
            std = np.where(std > 1e-8, std, 1.0)
            xs = [((x - mean) / std * f["input_scale"]).astype(np.float32) for x in xs]
            n_features = int(np.prod(xs[0].shape[1:]))
        else:
            n_features = xs[0].shape[1]
            xs = standardised_padded(xs, f["input_scale"], N_FEATURES)
        x_tr, x_va, x_te = (torch.from_numpy(x) for x in xs)
        return Task(name=name, x_train=x_tr, y_train=torch.from_numpy(y_tr), x_val=x_va, y_val=base.y_val.clone(),
                    x_test=x_te, y_test=base.y_test.clone(), num_classes=N_CLASSES, child=self.child,
                    meta={"n_features": n_features, "label_noise_realised": n_noisy / len(y_tr)})

    def _stream(self, task: Task, f: dict):
        key = {"label_noise_onset": "fraction", "class_incremental": "replay", "input_drift": "scale",
               "new_data": "first_fraction"}[f["stream"]]
        param = f["stream_param"]
        if f["stream"] == "label_noise_onset":  # the noise rate as the fraction of labels it makes wrong
            param *= (f["classes"] - 1) / f["classes"]
        return make_stream(task, f["stream"], tuple(self.window), seed=f["noise_seed"], **{key: param})

    def build(self, index: int) -> Task:
        """Member ``index`` as a [`Task`][hpenv.tasks.Task] (a [`StreamTask`][hpenv.streams.StreamTask] in a
        stream suite); see the module docstring."""
        f = self.factors(index)
        name = f"{self.name}/{index}"
        task = self._stationary(f, name)
        meta = {"suite": self.name, "member": index, **f, **task.meta}
        if f["stream"]:
            stream = self._stream(task, f)
            return dataclasses.replace(stream, name=name, meta={**stream.meta, **meta})
        return dataclasses.replace(task, meta=meta)


def _source(f: dict) -> Task:
    if f["base"] in REAL_SOURCES:
        return source_task(f["base"])
    return source_task(f["base"], f["classes"], f["features"], f["param"], f["data_seed"])


V3_SUITES = (
    SuiteV3("v3/mlp", horizon=10, steps_per_action=20, input_scale_log10=(-0.5, 0.5), label_noise=(0.0, 0.6),
            steps_choices=(10, 20, 50),
            description="13 base families (6 real), members varied in training size, batch size, width, SGD steps per "
                        "action (10, 20, 50), label and feature noise, input scale; transfer: segment and teacher; "
                        "MLP, 10 env steps"),
    SuiteV3("v3/stream", horizon=10, steps_per_action=50, label_noise=(0.0, 0.1), streams=dict(STREAM_KINDS_V3),
            window=(3, 8),
            description="members whose training data change at a step drawn from 3..8 of 10 (label-noise onset or "
                        "classes arriving); MLP, 10 x 50 SGD steps"),
    SuiteV3("v3/image", horizon=20, steps_per_action=50, bases={"mnist28": 1.0}, transfer_bases={"digits28": 1.0},
            label_noise=(0.0, 0.4), feature_noise=(0.0, 0.3), batch_sizes=(32, 64, 128), widths=(8, 16, 32),
            child="cnn", accelerator="gpu",
            description="MNIST digits (transfer: scikit-learn's digits at 28x28) varied in training size, batch size, "
                        "the CNN's width, label and pixel noise, input scale; the paper's CNN child, 20 x 50 SGD "
                        "steps; run only where a GPU is lent"),
)
for _s in V3_SUITES:
    register_suite(_s)
