"""The environment's arguments: one dataclass, the single source of their names and defaults.

``HPTuneEnv(**kwargs)``, ``gym.make(ENV_ID, **kwargs)`` and ``gym.make_vec(ENV_ID, num_envs=K,
**kwargs)`` all build an [`EnvConfig`][hpenv.config.EnvConfig] from their keyword arguments, so a default is
written once, here, and a misspelt argument fails the same way everywhere.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from hpenv.spaces import HPSpace
from hpenv.tasks import Task, TaskFamily

#: Ways to score a step (``reward=``), with what each pays.
REWARD_MODES = {
    "delta_accuracy": "val_accuracy[t] - val_accuracy[t-1]; an episode's return is final minus initial accuracy",
    "accuracy": "val_accuracy[t] (the authors' code used this)",
    "delta_loss": "(val_loss[t-1] - val_loss[t]) / log(num_classes), each loss capped at 10 log(num_classes)",
}


def check_int(name: str, value: Any, minimum: int = 1) -> int:
    """``value`` as an int, or a ValueError naming the argument, the value and the bound."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class EnvConfig:
    """Everything that defines an HPTune environment (see [`hpenv.HPTuneEnv`][]'s Arguments)."""

    task: str | Task | TaskFamily = "digits"
    """A name from ``hpenv.list_tasks()`` or an instance-set member id, a ``Task`` or a ``TaskFamily``."""
    child: str | None = None
    """``"mlp"`` or ``"cnn"``; None takes the task's own (CNN for images)."""
    steps_per_action: int = 50
    """Child SGD steps per env step (the paper: 50 mini-batches)."""
    horizon: int = 20
    """Env steps per episode."""
    hp_space: HPSpace | Mapping[str, Sequence] | None = None
    """An ``HPSpace`` or ``{"learning_rate": [...], ...}``; None is the paper's tuple."""
    batch_size: int = 32
    """Mini-batch size when the space does not set it (the paper: 32)."""
    device: str | torch.device = "cpu"
    """Where data and weights live (``"cpu"``, ``"cuda"``, ``"cuda:1"``)."""
    reward: str = "delta_accuracy"
    """A key of `REWARD_MODES`."""
    max_depth: int = 4
    """Residual blocks built per child; the depth hyper-parameter switches them on and off."""
    width: int | None = None
    """Units (MLP, default 64) or channels (CNN, default 16) per block."""
    task_kwargs: Mapping | None = None
    """Passed to the task's builder, e.g. ``{"root": "~/data"}`` for ``"mnist"``."""
    relative_actions: Mapping[str, int] | None = None
    """``{name: k}``: that hyper-parameter's action moves it ``-k..+k`` grid positions from its
    current value (``2k + 1`` choices, index ``k`` keeps it; clipped at the grid's ends) instead of
    choosing a grid position. With the default learning-rate grid, ``{"learning_rate": 1}`` gives
    x1/3, x1, x3. ``1 <= k < len(grid)``. None: every action is absolute."""
    relative_start: Mapping[str, float] | None = None
    """``{name: value}``: where a relative hyper-parameter starts every episode (a value on its
    grid). Relative hyper-parameters it leaves out start at their
    [`fixed_values`][hpenv.config.EnvConfig.fixed_values] entry (the grid value nearest to it; ties: the first
    in grid order): learning rate 0.03, momentum 0.9, dropout 0, depth ``max_depth``, weight decay 0, batch
    size ``batch_size``."""
    change_features: bool = False
    """Append ``train_loss_jump`` and ``train_val_gap`` (``hpenv.CHANGE_FEATURES``) to the observation:
    the rise of the training loss since the previous step and the validation-training loss gap, which make
    a change of the training data (a stream) visible at once. Computed from the other features only;
    off by default, so the observation is the same as without the argument."""

    def __post_init__(self) -> None:
        for name in ("steps_per_action", "horizon", "batch_size", "max_depth"):
            object.__setattr__(self, name, check_int(name, getattr(self, name)))
        if self.width is not None:
            object.__setattr__(self, "width", check_int("width", self.width))
        if self.reward not in REWARD_MODES:
            raise ValueError(f"reward must be one of {sorted(REWARD_MODES)}, got {self.reward!r}")
        if self.child not in (None, "mlp", "cnn"):
            raise ValueError(f"child must be None, 'mlp' or 'cnn', got {self.child!r}")
        if not isinstance(self.change_features, (bool, np.bool_)):
            raise ValueError(f"change_features must be True or False, got {self.change_features!r}")
        if self.task_kwargs is not None and not isinstance(self.task_kwargs, Mapping):
            raise ValueError(f"task_kwargs must be a dict or None, got {self.task_kwargs!r}")
        # their names and values are checked against the space when it is resolved (HPSpace's checks)
        for name in ("relative_actions", "relative_start"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Mapping):
                raise ValueError(f"{name} must be a dict of hyper-parameter name -> "
                                 f"{'k (an integer)' if name == 'relative_actions' else 'start value'} or None, "
                                 f"got {value!r}")
        if self.relative_start is not None and self.relative_actions is None \
                and not (isinstance(self.hp_space, HPSpace) and self.hp_space.is_relative):
            raise ValueError(f"relative_start={dict(self.relative_start)!r} needs relative_actions: it sets "
                             f"where relative hyper-parameters start, and no hyper-parameter is relative")

    @classmethod
    def from_kwargs(cls, kwargs: Mapping[str, Any]) -> "EnvConfig":
        """Build from keyword arguments, naming any that the environment does not take."""
        unknown = sorted(set(kwargs) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"unknown env arguments {unknown}; HPTune takes {cls.argument_names()}")
        return cls(**kwargs)

    @classmethod
    def argument_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @property
    def sgd_steps_per_episode(self) -> int:
        """Child SGD steps of a whole episode that does not diverge."""
        return self.horizon * self.steps_per_action

    @property
    def fixed_values(self) -> dict[str, float]:
        """The value of every hyper-parameter the space leaves out (the paper's defaults); a relative
        hyper-parameter starts from it unless ``relative_start`` says otherwise."""
        return {"depth": self.max_depth, "dropout": 0.0, "learning_rate": 0.03, "momentum": 0.9,
                "weight_decay": 0.0, "batch_size": self.batch_size}

    def resolve_space(self) -> HPSpace:
        """The hyper-parameter space these arguments describe, with ``relative_actions`` applied."""
        space = self.hp_space
        if space is None:
            space = HPSpace.default(self.max_depth)
        elif isinstance(space, Mapping):
            space = HPSpace.from_dict(space)
        elif not isinstance(space, HPSpace):
            raise ValueError(f"hp_space must be an HPSpace or a dict of name -> values, got {type(space).__name__}")
        if "depth" in space and max(space.params[space.names.index("depth")].values) > self.max_depth:
            raise ValueError(f"hp_space depth values go above max_depth={self.max_depth}")
        if self.relative_actions is None and self.relative_start is None:
            return space  # an HPSpace built with relative_actions keeps them
        if self.relative_actions is not None and space.is_relative:
            raise ValueError(f"hp_space already has relative_actions={space.relative_actions}; give "
                             f"relative_actions={dict(self.relative_actions)} either there or as an env argument, "
                             f"not both")
        moves = space.relative_actions if self.relative_actions is None else dict(self.relative_actions)
        start = {name: space.relative_start.get(name, self._default_start(space, name))
                 for name in moves if name in space}  # HPSpace names any other name as unknown
        start.update(self.relative_start or {})
        return HPSpace(space.params, relative_actions=moves, relative_start=start)

    def _default_start(self, space: HPSpace, name: str) -> float:
        """The grid value of ``name`` nearest to its fixed value (ties: the first in grid order)."""
        grid = np.asarray(space.params[space.names.index(name)].values, dtype=np.float64)
        return float(grid[np.argmin(np.abs(grid - self.fixed_values[name]))])


class ConfigViews:
    """The env's configuration as properties, shared by the single and the vector env."""

    config: EnvConfig

    @property
    def horizon(self) -> int:
        """Env steps per episode."""
        return self.config.horizon

    @property
    def steps_per_action(self) -> int:
        """Child SGD steps per env step."""
        return self.config.steps_per_action

    @property
    def sgd_steps_per_episode(self) -> int:
        """Child SGD steps of a whole episode that does not diverge."""
        return self.config.sgd_steps_per_episode

    @property
    def reward_mode(self) -> str:
        """The ``reward`` argument: a key of ``hpenv.REWARD_MODES``."""
        return self.config.reward
