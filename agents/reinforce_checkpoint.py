"""What [`agents.reinforce.RecurrentReinforce`][] writes to a checkpoint, listed once.

Each [`CheckpointField`][agents.reinforce_checkpoint.CheckpointField] names one piece of the agent's state:
where it lies in the payload, how to read it as checkpoint-safe values and how to put it back. ``save`` walks
`CHECKPOINT_FIELDS` to build the payload, ``load`` walks it to restore an agent just built
from the configuration and the spaces. The module knows the agent only by its attributes, so it
imports nothing of [`agents.reinforce`][].
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Agent = Any
"""An [`agents.reinforce.RecurrentReinforce`][] (named loosely: this module sits below it)."""

_REQUIRED = object()


@dataclass(frozen=True)
class CheckpointField:
    """One piece of the agent's state in a checkpoint: where it lies in the payload, how to read
    it as checkpoint-safe values and how to put it back (on an agent just built by ``_build``)."""

    path: tuple[str, ...]
    read: Callable[[Agent], Any]
    restore: Callable[[Agent, Any], None]
    default: Any = _REQUIRED
    """The value of a checkpoint written before this field existed."""

    def find(self, payload: dict[str, Any]) -> Any:
        """The field's value in ``payload`` (``KeyError`` if missing and without a default)."""
        try:
            return functools.reduce(operator.getitem, self.path, payload)
        except KeyError:
            if self.default is _REQUIRED:
                raise
            return self.default


def _set(name: str, kind: Callable[[Any], Any]) -> Callable[[Agent, Any], None]:
    return lambda agent, value: setattr(agent, name, kind(value))


#: Everything [`agents.reinforce.RecurrentReinforce.save`][] writes beyond the configuration and the spaces (which
#: ``load`` needs first, to build the agent), listed once; the layout is the one main has written.
CHECKPOINT_FIELDS = (
    CheckpointField(
        ("policy",),
        lambda a: {k: v.detach().cpu() for k, v in a.policy.state_dict().items()},
        lambda a, v: a.policy.load_state_dict(v),
    ),
    CheckpointField(
        ("optimizer",), lambda a: a.optimizer.state_dict(), lambda a, v: a.optimizer.load_state_dict(v)
    ),
    CheckpointField(
        ("obs_rms",), lambda a: a.obs_rms.state_dict(), lambda a, v: a.obs_rms.load_state_dict(v)
    ),
    CheckpointField(
        ("baselines", "episode"),
        lambda a: a.episode_baseline.state_dict(),
        lambda a, v: a.episode_baseline.load_state_dict(v),
    ),
    CheckpointField(
        ("baselines", "online"),
        lambda a: a.online_baseline.state_dict(),
        lambda a, v: a.online_baseline.load_state_dict(v),
    ),
    CheckpointField(("counters", "episodes"), lambda a: a.num_episodes, _set("num_episodes", int)),
    CheckpointField(("counters", "updates"), lambda a: a.num_updates, _set("num_updates", int)),
    CheckpointField(
        ("counters", "online_steps"), lambda a: a.num_online_steps, _set("num_online_steps", int)
    ),
    CheckpointField(
        ("rng", "torch"), lambda a: a._torch_rng.get_state(), lambda a, v: a._torch_rng.set_state(v)
    ),
    CheckpointField(
        ("rng", "numpy"),
        lambda a: a._np_rng.bit_generator.state,
        lambda a, v: setattr(a._np_rng.bit_generator, "state", v),
    ),
    CheckpointField(
        ("history",),
        lambda a: [dict(entry) for entry in a.history],
        _set("history", lambda entries: [dict(entry) for entry in entries]),
    ),
    CheckpointField(("reward_mode",), lambda a: a.reward_mode, _set("reward_mode", lambda v: v),
                     default=None),
)

