"""Episode bookkeeping for K children: seeding, rewards, divergence, observations and info.

Both [`hpenv.env.HPTuneEnv`][] (K=1) and [`hpenv.vector.HPTuneVectorEnv`][] (K=num_envs)
delegate here, so that an episode means exactly the same thing in both.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from hpenv import observe
from hpenv.children import make_family
from hpenv.config import REWARD_MODES, EnvConfig, check_int
from hpenv.spaces import KNOWN_HYPERPARAMETERS
from hpenv.streams import StreamTask
from hpenv.tasks import Task, TaskFamily, make_task
from hpenv.training import ChildKernel

#: What an info value that is not defined yet holds (no NaN: clients compare infos with ==).
UNSET = -1.0

#: Info keys besides the ``hp_<name>`` ones, with what each holds (the same keys at every step).
INFO_KEYS = {
    "val_accuracy": "validation accuracy now (0 for a diverged child)",
    "val_loss": "validation cross-entropy now (inf for a diverged child)",
    "train_loss": "mean training loss over the step's SGD steps (-1 at reset, inf when diverged)",
    "sgd_steps": "child SGD steps so far in the episode",
    "diverged": "whether the child's loss became non-finite at this step",
    "test_accuracy": "test accuracy of the final child at the episode's last step (1 / num_classes "
                     "if it diverged); -1 before",
    "phase": "the phase of a stream task whose training data the step trained on (0 at reset); -1 for a "
             "task without phases. For analysis only: a method under test must not read it",
}
#: Every hyper-parameter the kernel applies; each is reported as ``info["hp_<name>"]``: the value
#: applied at the step (for a relative action, the value it moved to), -1 at reset.
HP_INFO_NAMES = tuple(KNOWN_HYPERPARAMETERS)

VAL_ACCURACY, VAL_LOSS, TRAIN_LOSS_MEAN = (observe.feature_index(n) for n in ("val_accuracy", "val_loss", "train_loss_mean"))


def info_keys() -> list[str]:
    """Every key of the env's ``info``, in order: the same at reset and at every step."""
    return [*INFO_KEYS, *(f"hp_{name}" for name in HP_INFO_NAMES)]


def hyperparameters_from_info(info: Mapping[str, Any], index: int | None = None) -> dict[str, float]:
    """The hyper-parameters applied at a step as a plain dict, from a single env's ``info`` (or
    row ``index`` of a vector env's info); empty at reset."""
    values = {name: info[f"hp_{name}"] if index is None else info[f"hp_{name}"][index] for name in HP_INFO_NAMES}
    if float(values["learning_rate"]) == UNSET:
        return {}
    return {name: (int(v) if name in ("depth", "batch_size") else float(v)) for name, v in values.items()}


def reward_from_observations(reward_mode: str, previous: np.ndarray, current: np.ndarray) -> np.ndarray:
    """The reward of the step from observation ``previous`` to ``current`` (rows of a batch too).

    Every reward mode is a function of the observation's ``val_accuracy`` and ``val_loss``
    columns, so a recurrent policy that keeps its last observation can recompute the previous
    reward itself (Stable-Baselines3's ``predict`` passes none); equal to the env's reward up
    to float32 rounding.
    """
    previous, current = np.asarray(previous, dtype=np.float64), np.asarray(current, dtype=np.float64)
    if reward_mode == "delta_accuracy":
        return current[..., VAL_ACCURACY] - previous[..., VAL_ACCURACY]
    if reward_mode == "accuracy":
        return current[..., VAL_ACCURACY]
    if reward_mode == "delta_loss":  # the loss column is loss / log(C), capped where delta_loss caps it
        return previous[..., VAL_LOSS] - current[..., VAL_LOSS]
    raise ValueError(f"reward_mode must be one of {sorted(REWARD_MODES)}, got {reward_mode!r}")


class EpisodeBatch:
    """K episodes run side by side on one [`ChildKernel`][hpenv.training.ChildKernel].

    Args:
        num_children: K.
        config: the environment's arguments (see [`hpenv.HPTuneEnv`][]).
    """

    def __init__(self, num_children: int, config: EnvConfig):
        self.K = check_int("num_envs", num_children)
        self.config = config
        self.steps_per_action, self.horizon = config.steps_per_action, config.horizon
        self.reward_mode = config.reward
        try:
            self.device = torch.device(config.device)
        except (RuntimeError, TypeError) as err:
            raise ValueError(f"device must name a torch device ('cpu', 'cuda', 'cuda:1'), got {config.device!r}") from err
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device={config.device!r} was asked for but torch sees no CUDA device")

        self.task = make_task(config.task, **dict(config.task_kwargs or {}))
        proto = self.task.prototype if isinstance(self.task, TaskFamily) else self.task
        self.num_classes = proto.num_classes
        self.chance = 1.0 / self.num_classes
        self.log_c = math.log(self.num_classes)
        # delta_loss caps each loss where the observation's bound does, so that a diverged child
        # (loss at the cap) is never paid more than a child that did not diverge
        self.loss_cap = observe.VAL_LOSS_CAP * self.log_c
        self.family = make_family(config.child or proto.child, proto.input_shape, proto.num_classes,
                                  config.width, config.max_depth)
        self.hp_space = config.resolve_space()
        # A batch larger than the training split would train on repeats of the same examples
        # (or fail to allocate at the first step), so it is refused before anything is built.
        n_train = min(proto.phase_sizes()) if isinstance(proto, StreamTask) else proto.sizes[0]
        if isinstance(proto, StreamTask):
            proto.check_horizon(config.horizon)
        if config.batch_size > n_train:
            raise ValueError(f"batch_size={config.batch_size} is larger than the task's {n_train} training examples; "
                             f"use at most {n_train}")
        if "batch_size" in self.hp_space:
            too_large = [v for v in self.hp_space.params[self.hp_space.names.index("batch_size")].values
                         if v > n_train]
            if too_large:
                raise ValueError(f"hp_space batch_size values {too_large} are larger than the task's {n_train} "
                                 f"training examples; use values of at most {n_train}")
        #: values used for hyper-parameters the space does not set
        self.defaults = config.fixed_values
        #: what a child has before its first action: the fixed values, a relative hyper-parameter's start
        start = self.hp_space.values_at(self.hp_space.start_positions())
        self.start_values = {**self.defaults, **{name: float(start[name]) for name, relative
                                                 in zip(self.hp_space.names, self.hp_space.relative) if relative}}
        self.change_features = bool(config.change_features)
        self.obs_low, self.obs_high = observe.bounds(self.hp_space, self.change_features)
        self._assembled_bounds = observe.bounds(self.hp_space)  # the columns before the change features

        self.kernel = ChildKernel(self.family, self.K, self.device)
        K = self.K
        self.tasks: list[Task | None] = [None] * K
        # a stream's phase per child, and the env step from which each of its later phases trains
        self.phase = np.full(K, -1, dtype=np.int64)
        self.changes: list[np.ndarray | None] = [None] * K
        if isinstance(self.task, Task):
            self.tasks = [self.task] * K
            self.phase[:] = 0 if isinstance(self.task, StreamTask) else -1
            self._put_tasks()
        self.t = np.zeros(K, dtype=np.int64)
        self.hp_norm = np.zeros((K, len(self.hp_space)), dtype=np.float32)
        # each child's train_loss_mean feature at its previous step: what train_loss_jump compares with
        self.previous_loss = np.zeros(K)
        # every child's current grid position per hyper-parameter: where a relative action moves from
        self.position = np.tile(self.hp_space.start_positions(), (K, 1))
        self._depth_col = self.hp_space.names.index("depth") if "depth" in self.hp_space else None
        # the info of every child, kept up to date: the vector env and the single env read rows of it
        self.info: dict[str, np.ndarray] = {
            "val_accuracy": np.zeros(K), "val_loss": np.zeros(K), "train_loss": np.full(K, UNSET),
            "sgd_steps": np.zeros(K, dtype=np.int64), "diverged": np.zeros(K, dtype=bool),
            "test_accuracy": np.full(K, UNSET), "phase": self.phase.copy(),
            **{f"hp_{name}": np.full(K, UNSET) for name in HP_INFO_NAMES},
        }

    # ------------------------------------------------------------------ reset
    def reset(self, children: Sequence[int], rngs: Sequence[np.random.Generator]) -> np.ndarray:
        """Start a fresh episode for ``children``; all randomness is drawn from ``rngs``.

        Returns the observations of all K children; `info` holds the reset info of ``children``.
        """
        seeds, phases_before = [], self.phase.copy()
        for k, rng in zip(children, rngs):
            if isinstance(self.task, TaskFamily):
                self.tasks[k] = self.task.sample(rng)
            seeds.append(int(rng.integers(2**63 - 1)))
            stream = self.tasks[k]
            if isinstance(stream, StreamTask):  # drawn after the seed: a plain task's draws stay as they were
                stream.check_horizon(self.horizon)  # a family's members may differ from its prototype
                self.changes[k], self.phase[k] = stream.draw_changes(rng), 0
            else:
                self.changes[k], self.phase[k] = None, -1
        if isinstance(self.task, TaskFamily) or not np.array_equal(phases_before, self.phase):
            self._put_tasks()
        self.kernel.reset_children(list(children), seeds)
        idx = np.asarray(children, dtype=np.int64)
        self.t[idx] = 0
        space = self.hp_space
        self.position[idx] = space.start_positions()
        # a relative hyper-parameter is somewhere from the start, and the agent must see where;
        # an absolute one has no value until the first action, and reads 0
        self.hp_norm[idx] = np.where(space.relative, space.normalized(space.start_positions()), 0.0)
        if self._depth_col is not None and space.relative[self._depth_col]:
            # the reset child is evaluated at the depth it starts from, not with every block on
            depth = space.params[self._depth_col].values[space.start_positions()[self._depth_col]]
            self.kernel.depth[idx] = depth
        val = self.kernel.evaluate("val")
        host = observe.device_features(val, observe.training_stats(None, None, val, self.log_c), self.log_c)
        host = host.cpu().numpy().astype(np.float64)
        info = self.info
        info["val_accuracy"][idx] = host[idx, VAL_ACCURACY]
        info["val_loss"][idx] = host[idx, VAL_LOSS] * self.log_c
        info["sgd_steps"][idx] = 0
        info["diverged"][idx] = False
        info["phase"][idx] = self.phase[idx]
        for key in ("train_loss", "test_accuracy", *(f"hp_{name}" for name in HP_INFO_NAMES)):
            info[key][idx] = UNSET
        return self._observe(host, idx)

    # ------------------------------------------------------------------ step
    def step(self, actions: np.ndarray, active: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Apply ``actions`` ``(K, n_hp)`` to the ``active`` children and train them.

        Returns observations, rewards and terminations ``(K,)``; `info` holds the step's
        info. Rows of inactive children are to be ignored (their weights did not change).
        """
        if not active.any():
            raise RuntimeError("step() called with no active child")
        positions = self.hp_space.apply(actions, self.position)
        hp = {name: np.full(self.K, v) for name, v in self.defaults.items()}
        hp.update(self.hp_space.values_of(positions))
        self._advance_phases(active)
        losses, grad_norm = self.kernel.train(hp, self.steps_per_action, active)
        val = self.kernel.evaluate("val")
        feats = observe.device_features(val, observe.training_stats(losses, grad_norm, val, self.log_c), self.log_c)
        finite = torch.isfinite(losses).all(0) & torch.isfinite(val.loss)
        host = torch.cat([feats, finite.unsqueeze(1).to(feats.dtype)], dim=1).cpu().numpy().astype(np.float64)

        diverged = active & (host[:, -1] < 0.5)
        # A diverged child's statistics mean nothing (NaN reads as the features' upper bounds);
        # its accuracy counts as 0, so that diverging never pays more than any other step could.
        host[diverged, :VAL_ACCURACY] = np.nan
        host[diverged, VAL_ACCURACY] = 0.0
        host[diverged, VAL_LOSS:VAL_LOSS + 2] = np.nan
        acc = host[:, VAL_ACCURACY]
        loss = host[:, VAL_LOSS] * self.log_c
        info = self.info
        if self.reward_mode == "delta_accuracy":
            reward = acc - info["val_accuracy"]
        elif self.reward_mode == "accuracy":
            reward = acc.copy()
        else:
            capped = np.where(diverged, self.loss_cap, np.minimum(loss, self.loss_cap))
            reward = (np.minimum(info["val_loss"], self.loss_cap) - capped) / self.log_c
        reward = np.where(active, reward, 0.0)

        self.t += active
        self.position[active] = positions[active]
        self.hp_norm[active] = self.hp_space.normalized(positions[active])
        terminated = active & ((self.t >= self.horizon) | diverged)
        rows = np.flatnonzero(active)
        info["val_accuracy"][rows] = acc[rows]
        info["val_loss"][rows] = np.where(diverged[rows], np.inf, loss[rows])
        info["train_loss"][rows] = np.where(diverged[rows], np.inf, host[rows, TRAIN_LOSS_MEAN] * self.log_c)
        info["sgd_steps"][rows] += self.steps_per_action
        info["diverged"][rows] = diverged[rows]
        info["phase"][rows] = self.phase[rows]
        for name in HP_INFO_NAMES:
            info[f"hp_{name}"][rows] = hp[name][rows]
        if terminated.any():
            test_acc = self.kernel.evaluate("test").accuracy.cpu().numpy().astype(np.float64)
            ended = np.flatnonzero(terminated)
            # NaN logits still argmax to some class: a diverged child is scored as a constant guess
            info["test_accuracy"][ended] = np.where(diverged[ended], self.chance, test_acc[ended])

        obs = self._observe(host[:, :-1], rows)
        return obs, reward, terminated

    def _put_tasks(self) -> None:
        """Hand the kernel each child's training data: a stream child's current phase, else its task."""
        self.kernel.set_tasks([t.phase_task(int(p)) if isinstance(t, StreamTask) else t
                               for t, p in zip(self.tasks, self.phase)])

    def _advance_phases(self, active: np.ndarray) -> None:
        """Move the active stream children into the phase that the coming env step (``t + 1``) trains in."""
        moved = False
        for k in np.flatnonzero(active):
            if self.changes[k] is not None:
                phase = int(np.sum(self.changes[k] <= self.t[k] + 1))
                moved |= phase != self.phase[k]
                self.phase[k] = phase
        if moved:
            self._put_tasks()

    def info_rows(self, rows: np.ndarray | slice | int) -> dict[str, np.ndarray]:
        """A copy of the info of ``rows``."""
        return {key: value[rows].copy() for key, value in self.info.items()}

    def copy_child(self, src: int, dst: int) -> None:
        """Child ``dst`` continues as a copy of child ``src`` (for population-based training).

        Copies the weights and momentum (see
        [`ChildKernel.copy_child`][hpenv.training.ChildKernel.copy_child]), the episode's progress and info
        (so the next reward is measured from the copied child) and the task. ``dst``'s own random stream is
        kept.
        """
        if src == dst:
            return
        self.kernel.copy_child(src, dst)
        moved = self.tasks[dst] is not self.tasks[src] or self.phase[dst] != self.phase[src]
        self.tasks[dst] = self.tasks[src]
        self.changes[dst] = None if self.changes[src] is None else self.changes[src].copy()
        for arr in (self.t, self.hp_norm, self.position, self.phase, self.previous_loss, *self.info.values()):
            arr[dst] = arr[src]
        if moved:
            self._put_tasks()

    def child_state(self, k: int) -> dict[str, torch.Tensor]:
        """Child ``k`` and its episode (progress, info) as CPU tensors; see
        [`load_child_state`][hpenv.episodes.EpisodeBatch.load_child_state]."""
        if isinstance(self.task, TaskFamily):
            raise ValueError("child_state does not cover a task family's sampled task; use a single task")
        episode = {"t": torch.tensor(int(self.t[k])), "hp_norm": torch.from_numpy(self.hp_norm[k].copy()),
                   "previous_loss": torch.tensor(float(self.previous_loss[k]), dtype=torch.float64),
                   "position": torch.from_numpy(self.position[k].copy()), "phase": torch.tensor(int(self.phase[k])),
                   "changes": torch.as_tensor(self.changes[k] if self.changes[k] is not None else [],
                                              dtype=torch.int64)}
        info = {f"info/{key}": torch.tensor(value[k]) for key, value in self.info.items()}
        return {**{f"kernel/{key}": v for key, v in self.kernel.child_state(k).items()}, **episode, **info}

    def load_child_state(self, k: int, state: dict[str, torch.Tensor]) -> None:
        """Child ``k`` continues exactly from a [`child_state`][hpenv.episodes.EpisodeBatch.child_state] of an
        env with the same arguments."""
        if isinstance(self.tasks[k], StreamTask):  # its phase's data first: a change of data restarts the epoch
            if len(state.get("changes", ())) != len(self.tasks[k].phases):
                raise ValueError(f"state holds no change steps for stream {self.tasks[k].name!r}; it was saved "
                                 "from an env with another task")
            self.changes[k] = state["changes"].numpy().astype(np.int64)
            self.phase[k] = int(state["phase"])
            self._put_tasks()
        self.kernel.load_child_state(k, {key[len("kernel/"):]: v for key, v in state.items() if key.startswith("kernel/")})
        self.t[k] = int(state["t"])
        self.hp_norm[k] = state["hp_norm"].numpy()
        self.previous_loss[k] = float(state["previous_loss"]) if "previous_loss" in state else 0.0
        if "position" in state:
            self.position[k] = state["position"].numpy()
        else:  # a state saved before positions were kept: the observation's hp_ features hold them
            self.position[k] = np.rint(self.hp_norm[k] * np.maximum(self.hp_space.sizes - 1, 1))
        for key, value in self.info.items():
            if f"info/{key}" in state:  # a state saved before streams has no "phase"
                value[k] = state[f"info/{key}"].item()

    def _observe(self, host: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Every child's observation; ``rows`` (the children just reset or stepped) remember their training
        loss for the next step's ``train_loss_jump``."""
        progress = (self.t / self.horizon).astype(np.float32)
        obs = observe.assemble(host, progress, self.hp_norm, *self._assembled_bounds)
        if not self.change_features:
            return obs
        out = observe.with_change(obs, self.previous_loss)
        self.previous_loss[rows] = observe.train_loss(obs[rows])
        return out

    def child_module(self, k: int) -> torch.nn.Module:
        """A copy of child ``k`` as an ordinary ``nn.Module`` at its current depth."""
        depth = int(self.kernel.depth[k])
        dropout = float(self.info["hp_dropout"][k])
        if dropout == UNSET:  # before the first step: the dropout the child starts from, not the marker
            dropout = float(self.start_values["dropout"])
        return self.family.to_module(self.kernel.params, k, depth, dropout)
