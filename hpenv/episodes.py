"""Episode bookkeeping for K children: seeding, rewards, divergence, observations and info.

Both :class:`hpenv.env.HPTuneEnv` (K=1) and :class:`hpenv.vector.HPTuneVectorEnv` (K=num_envs)
delegate here, so that an episode means exactly the same thing in both.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
import torch

from hpenv import observe
from hpenv.children import make_family
from hpenv.spaces import HPSpace
from hpenv.tasks import Task, TaskFamily, make_task
from hpenv.training import ChildKernel

REWARD_MODES = {
    "delta_accuracy": "val_accuracy[t] - val_accuracy[t-1]; an episode's return is final minus initial accuracy",
    "accuracy": "val_accuracy[t] (the authors' code used this)",
    "delta_loss": "(val_loss[t-1] - val_loss[t]) / log(num_classes)",
}


def _check_int(name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


class EpisodeBatch:
    """K episodes run side by side on one :class:`~hpenv.training.ChildKernel`.

    Takes the env's keyword arguments (see :class:`hpenv.env.HPTuneEnv`) and ``num_children``.
    """

    def __init__(
        self,
        num_children: int,
        task: str | Task | TaskFamily = "digits",
        child: str | None = None,
        steps_per_action: int = 50,
        horizon: int = 20,
        hp_space: HPSpace | Mapping[str, Sequence] | None = None,
        batch_size: int = 32,
        device: str | torch.device = "cpu",
        reward: str = "delta_accuracy",
        max_depth: int = 4,
        width: int | None = None,
        task_kwargs: Mapping | None = None,
    ):
        self.K = _check_int("num_envs", num_children)
        self.steps_per_action = _check_int("steps_per_action", steps_per_action)
        self.horizon = _check_int("horizon", horizon)
        self.batch_size = _check_int("batch_size", batch_size)
        max_depth = _check_int("max_depth", max_depth)
        if width is not None:
            width = _check_int("width", width)
        if reward not in REWARD_MODES:
            raise ValueError(f"reward must be one of {sorted(REWARD_MODES)}, got {reward!r}")
        self.reward_mode = reward
        try:
            self.device = torch.device(device)
        except (RuntimeError, TypeError) as err:
            raise ValueError(f"device must name a torch device ('cpu', 'cuda', 'cuda:1'), got {device!r}") from err
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device={device!r} was asked for but torch sees no CUDA device")

        self.task = make_task(task, **dict(task_kwargs or {}))
        proto = self.task.prototype if isinstance(self.task, TaskFamily) else self.task
        self.num_classes = proto.num_classes
        self.chance = 1.0 / self.num_classes
        self.log_c = math.log(self.num_classes)
        self.family = make_family(child or proto.child, proto.input_shape, proto.num_classes, width, max_depth)

        if hp_space is None:
            hp_space = HPSpace.default(max_depth)
        elif isinstance(hp_space, Mapping):
            hp_space = HPSpace.from_dict(hp_space)
        elif not isinstance(hp_space, HPSpace):
            raise ValueError(f"hp_space must be an HPSpace or a dict of name -> values, got {type(hp_space).__name__}")
        if "depth" in hp_space and max(hp_space.params[hp_space.names.index("depth")].values) > max_depth:
            raise ValueError(f"hp_space depth values go above max_depth={max_depth}")
        # A batch larger than the training split would train on repeats of the same examples
        # (or fail to allocate at the first step), so it is refused before anything is built.
        n_train = proto.sizes[0]
        if self.batch_size > n_train:
            raise ValueError(f"batch_size={self.batch_size} is larger than the task's {n_train} training examples; "
                             f"use at most {n_train}")
        if "batch_size" in hp_space:
            too_large = [v for v in hp_space.params[hp_space.names.index("batch_size")].values if v > n_train]
            if too_large:
                raise ValueError(f"hp_space batch_size values {too_large} are larger than the task's {n_train} "
                                 f"training examples; use values of at most {n_train}")
        self.hp_space = hp_space
        #: values used for hyper-parameters the space does not set
        self.defaults = {"depth": max_depth, "dropout": 0.0, "learning_rate": 0.03, "momentum": 0.9,
                         "weight_decay": 0.0, "batch_size": self.batch_size}
        self.obs_low, self.obs_high = observe.bounds(hp_space)

        self.kernel = ChildKernel(self.family, self.K, self.device)
        self.rngs: list[np.random.Generator | None] = [None] * self.K
        self.tasks: list[Task | None] = [None] * self.K
        if isinstance(self.task, Task):
            self.tasks = [self.task] * self.K
            self.kernel.set_tasks(self.tasks)
        self.t = np.zeros(self.K, dtype=np.int64)
        self.sgd_steps = np.zeros(self.K, dtype=np.int64)
        self.val_accuracy = np.zeros(self.K)
        self.val_loss = np.zeros(self.K)
        self.hp_norm = np.zeros((self.K, len(hp_space)), dtype=np.float32)
        self.applied: list[dict] = [{} for _ in range(self.K)]

    # ------------------------------------------------------------------ reset
    def reset(self, children: Sequence[int], rngs: Sequence[np.random.Generator]) -> tuple[np.ndarray, dict]:
        """Start a fresh episode for ``children``; all randomness is drawn from ``rngs``.

        Returns the observations of all K children and the reset info arrays.
        """
        seeds = []
        for k, rng in zip(children, rngs):
            self.rngs[k] = rng
            if isinstance(self.task, TaskFamily):
                self.tasks[k] = self.task.sample(rng)
            seeds.append(int(rng.integers(2**63 - 1)))
        if isinstance(self.task, TaskFamily):
            self.kernel.set_tasks(self.tasks)
        self.kernel.reset_children(list(children), seeds)
        idx = np.asarray(children, dtype=np.int64)
        self.t[idx] = 0
        self.sgd_steps[idx] = 0
        self.hp_norm[idx] = 0.0
        for k in children:
            self.applied[k] = {}
        val = self.kernel.evaluate("val")
        host = observe.device_features(val, observe.training_stats(None, None, val, self.log_c), self.log_c)
        host = host.cpu().numpy().astype(np.float64)
        self.val_accuracy[idx] = host[idx, 9]
        self.val_loss[idx] = host[idx, 10] * self.log_c
        obs = self._observe(host)
        info = {"val_accuracy": self.val_accuracy.copy(), "val_loss": self.val_loss.copy(),
                "sgd_steps": self.sgd_steps.copy()}
        return obs, info

    # ------------------------------------------------------------------ step
    def step(self, actions: np.ndarray, active: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
        """Apply ``actions`` ``(K, n_hp)`` to the ``active`` children and train them.

        Returns observations, rewards and terminations ``(K,)`` and the info arrays; rows of
        inactive children are to be ignored (their weights did not change).
        """
        if not active.any():
            raise RuntimeError("step() called with no active child")
        hp = {name: np.full(self.K, v) for name, v in self.defaults.items()}
        hp.update(self.hp_space.values_of(actions))
        losses, grad_norm = self.kernel.train(hp, self.steps_per_action, active)
        val = self.kernel.evaluate("val")
        feats = observe.device_features(val, observe.training_stats(losses, grad_norm, val, self.log_c), self.log_c)
        finite = torch.isfinite(losses).all(0) & torch.isfinite(val.loss)
        host = torch.cat([feats, finite.unsqueeze(1).to(feats.dtype)], dim=1).cpu().numpy().astype(np.float64)

        diverged = active & (host[:, -1] < 0.5)
        host[diverged, 9] = self.chance  # NaN logits still argmax to something; report chance
        host[diverged, :9] = np.nan  # their statistics mean nothing: read as the upper bounds
        host[diverged, 10:12] = np.nan
        acc = host[:, 9]
        loss = np.where(diverged, self.log_c, host[:, 10] * self.log_c)
        if self.reward_mode == "delta_accuracy":
            reward = acc - self.val_accuracy
        elif self.reward_mode == "accuracy":
            reward = acc.copy()
        else:
            reward = (self.val_loss - loss) / self.log_c
        reward = np.where(active, reward, 0.0)

        self.t += active
        self.sgd_steps += active * self.steps_per_action
        self.val_accuracy = np.where(active, acc, self.val_accuracy)
        self.val_loss = np.where(active, loss, self.val_loss)
        self.hp_norm[active] = self.hp_space.normalized(actions[active])
        for k in np.flatnonzero(active):
            self.applied[k] = {name: hp[name][k].item() for name in self.defaults}
        terminated = active & ((self.t >= self.horizon) | diverged)

        obs = self._observe(host[:, :-1])
        info = {
            "val_accuracy": self.val_accuracy.copy(),
            "val_loss": self.val_loss.copy(),
            "train_loss": np.where(diverged, np.nan, host[:, 4] * self.log_c),
            "sgd_steps": self.sgd_steps.copy(),
            "diverged": diverged,
            "hyperparameters": [dict(a) for a in self.applied],
        }
        if terminated.any():
            test_acc = self.kernel.evaluate("test").accuracy.cpu().numpy().astype(np.float64)
            info["test_accuracy"] = np.where(diverged, self.chance, test_acc)
        return obs, reward, terminated, info

    def copy_child(self, src: int, dst: int) -> None:
        """Child ``dst`` continues as a copy of child ``src`` (for population-based training).

        Copies the weights and momentum (see :meth:`ChildKernel.copy_child`), the episode's
        progress and last accuracies (so the next reward is measured from the copied child), the
        hyper-parameters applied and the task. ``dst``'s own random stream is kept.
        """
        if src == dst:
            return
        self.kernel.copy_child(src, dst)
        if self.tasks[dst] is not self.tasks[src]:
            self.tasks[dst] = self.tasks[src]
            self.kernel.set_tasks(self.tasks)
        for arr in (self.t, self.sgd_steps, self.val_accuracy, self.val_loss, self.hp_norm):
            arr[dst] = arr[src]
        self.applied[dst] = dict(self.applied[src])

    def _observe(self, host: np.ndarray) -> np.ndarray:
        progress = (self.t / self.horizon).astype(np.float32)
        return observe.assemble(host, progress, self.hp_norm, self.obs_low, self.obs_high)

    def child_module(self, k: int) -> torch.nn.Module:
        """A copy of child ``k`` as an ordinary ``nn.Module`` at its current depth."""
        depth = int(self.kernel.depth[k])
        dropout = float(self.applied[k].get("dropout", 0.0))
        return self.family.to_module(self.kernel.params, k, depth, dropout)
