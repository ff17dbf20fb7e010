"""The observation: every feature's name, bounds and meaning in one table, and how to compute it.

Losses are divided by ``log(num_classes)`` (the loss of a uniform guess), so 1.0 means "chance"
on every task and features have the same scale whether a task has 2 classes or 10.
"""

from __future__ import annotations


import numpy as np
import torch
from torch import Tensor

from hpenv.spaces import HPSpace
from hpenv.training import Evaluation

#: Upper bound of the loss features: 10 x the loss of a uniform guess.
VAL_LOSS_CAP = 10.0

#: (name, low, high, meaning) of the task-independent features, in observation order.
FEATURES: list[tuple[str, float, float, str]] = [
    ("val_logit_mean", -50.0, 50.0, "mean of the final layer's outputs (logits) on the validation split"),
    ("val_logit_std", 0.0, 50.0, "mean over examples of the std of the logits across classes"),
    ("val_max_prob", 0.0, 1.0, "mean max softmax probability (confidence) on the validation split"),
    ("val_entropy", 0.0, 1.0, "mean softmax entropy / log(num_classes)"),
    ("train_loss_mean", 0.0, 10.0, "mean training loss over the last steps_per_action steps / log(C)"),
    ("train_loss_std", 0.0, 10.0, "std of those training losses / log(C)"),
    ("train_loss_first", 0.0, 10.0, "training loss of the first of those steps / log(C)"),
    ("train_loss_last", 0.0, 10.0, "training loss of the last of those steps / log(C)"),
    ("train_loss_slope", -10.0, 10.0, "least-squares change of the training loss over those steps / log(C)"),
    ("val_accuracy", 0.0, 1.0, "accuracy on the validation split"),
    ("val_loss", 0.0, VAL_LOSS_CAP, "cross-entropy on the validation split / log(C)"),
    ("grad_norm", 0.0, 10.0, "log10(1 + gradient norm) at the last SGD step"),
    ("progress", 0.0, 1.0, "t / horizon"),
]


#: (name, low, high, meaning) of the opt-in features ``change_features=True`` appends after the
#: hyper-parameters' (and [`hpenv.wrappers.ChangeFeatures`][] appends to an env's observation), in order.
CHANGE_FEATURES: list[tuple[str, float, float, str]] = [
    ("train_loss_jump", -1.0, 10.0, "train_loss_mean / the previous step's train_loss_mean - 1 (0 at reset): the rise "
                                    "a change of the training data makes"),
    ("train_val_gap", -10.0, 10.0, "val_loss - train_loss_mean (both / log C): how far the child's validation loss "
                                   "is from its training loss"),
]


def feature_table(hp_space: HPSpace, change_features: bool = False) -> list[tuple[str, float, float, str]]:
    """All features: the fixed ones, then one per hyper-parameter (its grid position scaled to [0, 1]), then
    with ``change_features`` the `CHANGE_FEATURES`.

    An absolute hyper-parameter's feature is the grid position last applied, 0 at reset (no value
    is applied before the first action). A relative one's (``relative_actions``) is its current
    grid position, from reset on: at reset it shows ``relative_start``, which a policy needs to
    know where its moves go from.
    """
    return FEATURES + [
        (f"hp_{name}", 0.0, 1.0,
         f"grid position of the current {name} / (grid size - 1), its relative_start at reset" if relative
         else f"grid position of the {name} last applied / (grid size - 1); 0 at reset")
        for name, relative in zip(hp_space.names, hp_space.relative)
    ] + (CHANGE_FEATURES if change_features else [])


def feature_index(name: str, hp_space: HPSpace | None = None) -> int:
    """The observation column of feature ``name`` (``"progress"``, ``"val_accuracy"``, ``"hp_learning_rate"``...).

    The fixed features come first, so their columns do not depend on the space; ``hp_<name>``
    columns need the env's ``hp_space`` (default: the paper's tuple).
    """
    names = [f[0] for f in feature_table(hp_space or HPSpace.default())]
    if name not in names:
        raise ValueError(f"unknown observation feature {name!r}; features: {names}")
    return names.index(name)


def hp_positions(observation: np.ndarray, hp_space: HPSpace) -> np.ndarray:
    """The grid positions that the ``hp_<name>`` features of ``observation`` (one row or a batch) show.

    For a relative hyper-parameter this is its current position, which is where its next action
    moves from (see [`HPSpace.action_toward`][hpenv.spaces.HPSpace.action_toward]); for an absolute one, the
    last position applied (0 at reset).
    """
    obs = np.asarray(observation, dtype=np.float64)
    start = len(FEATURES)
    return np.rint(obs[..., start:start + len(hp_space)] * np.maximum(hp_space.sizes - 1, 1)).astype(np.int64)


def bounds(hp_space: HPSpace, change_features: bool = False) -> tuple[np.ndarray, np.ndarray]:
    table = feature_table(hp_space, change_features)
    low = np.array([f[1] for f in table], dtype=np.float32)
    high = np.array([f[2] for f in table], dtype=np.float32)
    return low, high


def training_stats(losses: Tensor | None, grad_norm: Tensor | None, val: Evaluation,
                   log_c: float) -> Tensor:
    """The loss / gradient features ``(K, 6)``: mean, std, first, last, slope, grad norm.

    At reset (no training yet, ``losses`` None) the loss features take the initial validation loss.
    """
    if losses is None:
        v = val.loss / log_c
        zero = torch.zeros_like(v)
        return torch.stack([v, zero, v, v, zero, zero], dim=1)
    n = losses.shape[0]
    l = losses / log_c
    t = torch.arange(n, dtype=l.dtype, device=l.device) - (n - 1) / 2
    denom = float((t * t).sum()) or 1.0
    slope = (t.unsqueeze(1) * l).sum(0) / denom * max(n - 1, 1)
    std = l.std(0) if n > 1 else torch.zeros_like(l[0])
    return torch.stack([l.mean(0), std, l[0], l[-1], slope, torch.log10(1 + grad_norm)], dim=1)


def device_features(val: Evaluation, train: Tensor, log_c: float) -> Tensor:
    """The features computed on the device, ``(K, 12)``, in table order (progress and hps follow)."""
    return torch.stack(
        [val.logit_mean, val.logit_std, val.max_prob, val.entropy / log_c,
         train[:, 0], train[:, 1], train[:, 2], train[:, 3], train[:, 4],
         val.accuracy, val.loss / log_c, train[:, 5]], dim=1,
    )


def assemble(device_part: np.ndarray, progress: np.ndarray, hp_norm: np.ndarray,
             low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Add progress and hyper-parameters; clip to the bounds (float32).

    A non-finite value (a diverged child) reads as its feature's upper bound: the worst loss,
    the largest gradient norm.
    """
    obs = np.concatenate(
        [device_part, progress.reshape(-1, 1), hp_norm], axis=1, dtype=np.float32
    )
    obs = np.where(np.isfinite(obs), obs, high)
    return np.clip(obs, low, high)


_LOSS, _VAL_LOSS, _PROGRESS = (feature_index(n) for n in ("train_loss_mean", "val_loss", "progress"))


def with_change(obs: np.ndarray, previous_loss: np.ndarray) -> np.ndarray:
    """``obs`` (rows of observations) with the `CHANGE_FEATURES` appended, given each row's
    ``train_loss_mean`` at the previous step (0: none); a row at progress 0 (a reset) has no jump."""
    obs = np.asarray(obs, dtype=np.float32)
    loss = obs[..., _LOSS].astype(np.float64)
    jump = np.where((obs[..., _PROGRESS] > 0) & (previous_loss > 0), loss / np.maximum(previous_loss, 1e-12) - 1.0, 0.0)
    gap = obs[..., _VAL_LOSS].astype(np.float64) - loss
    extra = np.stack([np.clip(jump, CHANGE_FEATURES[0][1], CHANGE_FEATURES[0][2]),
                      np.clip(gap, CHANGE_FEATURES[1][1], CHANGE_FEATURES[1][2])], axis=-1)
    return np.concatenate([obs, extra.astype(np.float32)], axis=-1)


def train_loss(obs: np.ndarray) -> np.ndarray:
    """The ``train_loss_mean`` column of observations (what `with_change` compares the next step with)."""
    return np.asarray(obs[..., _LOSS], dtype=np.float64)
