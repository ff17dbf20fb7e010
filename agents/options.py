"""Settings of ``hptune train``'s agents: one dataclass per agent, registered by name.

An agent is one [`register_agent`][agents.options.register_agent] call: its name, the class that trains it and
the dataclass of its settings. ``hptune train``'s config nests the chosen agent's settings, and its
command line is generated from those dataclasses: every field with ``field(metadata={"help": ...})``
becomes an option ``--field-name``. Fields without help are set by hptune itself (``derive``).

The one rule of the entropy bonus, shared by ``hptune train`` and the benchmark, is
[`with_entropy_decay`][agents.options.with_entropy_decay].
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agents.reinforce import RecurrentReinforceConfig

__all__ = ["AgentSpec", "TRAINERS", "register_agent", "unregister_agent", "agent_options", "option_name",
           "checked_kind", "entropy_decay_updates", "with_entropy_decay", "reinforce_settings",
           "check_reinforce", "derive_reinforce", "SB3Settings"]


def option_name(name: str) -> str:
    """``"group_size"`` -> ``"--group-size"``."""
    return "--" + name.replace("_", "-")


def entropy_decay_updates(ent_coef_final: float | None, episodes: int, episodes_per_update: int) -> int | None:
    """The rule of the entropy bonus: it decays to ``ent_coef_final`` over the updates of the whole
    run (``episodes`` training episodes), or stays constant (None) when ``ent_coef_final`` is None."""
    return None if ent_coef_final is None else max(episodes // episodes_per_update, 1)


def with_entropy_decay(config: RecurrentReinforceConfig, episodes: int) -> RecurrentReinforceConfig:
    """``config`` with [`entropy_decay_updates`][agents.options.entropy_decay_updates] over ``episodes``
    training episodes."""
    updates = entropy_decay_updates(config.ent_coef_final, episodes, config.episodes_per_update)
    return dataclasses.replace(config, ent_decay_updates=updates)


@dataclass(frozen=True)
class AgentSpec:
    """One agent of ``hptune train`` (see [`register_agent`][agents.options.register_agent])."""

    name: str
    trainer: Callable | None
    """Called as ``trainer(cfg, checkpoint, resume, env)``; None: nothing to train (a baseline)."""
    settings: type | None = None
    """The dataclass of the agent's settings (``TrainConfig.settings`` holds one)."""
    defaults: Callable[[], Any] | None = None
    """The settings hptune starts from (None: ``settings()``)."""
    check: Callable[[Any, dict], None] | None = None
    """``check(cfg, values)``: raise a ValueError naming the option before the settings are built."""
    derive: Callable[[Any, dict], dict] | None = None
    """``derive(cfg, values)``: the fields hptune sets itself from the rest of the config."""

    def option_help(self) -> dict[str, str]:
        """Field name -> help, for the fields that are command-line options."""
        if self.settings is None:
            return {}
        return {f.name: f.metadata["help"] for f in dataclasses.fields(self.settings) if "help" in f.metadata}

    def default_settings(self) -> Any:
        return self.defaults() if self.defaults else self.settings()

    def build(self, cfg: Any, given: Mapping[str, Any]) -> Any:
        """The settings of ``cfg``'s run: the defaults, then ``given`` values, then what hptune derives.

        A bad value raises a ValueError naming its option.
        """
        helps = self.option_help()
        defaults = dataclasses.asdict(self.default_settings())
        unknown = sorted(set(given) - set(defaults))
        if unknown:
            raise ValueError(f"unknown settings {unknown} for --agent {self.name}; it takes {sorted(defaults)}")
        values = {**defaults, **given}
        for name in helps:
            values[name] = checked_kind(name, values[name], defaults[name])
        if self.check:
            self.check(cfg, values)
        values.update(self.derive(cfg, values) if self.derive else {})
        try:
            return self.settings(**values)
        except ValueError as err:  # the settings' own checks speak of fields; the user gave options
            if not helps:
                raise
            names = "|".join(sorted(helps, key=len, reverse=True))
            raise ValueError(re.sub(rf"\b({names})\b", lambda m: option_name(m[1]), str(err))) from None


_KIND = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}


def checked_kind(name: str, value: Any, default: Any) -> Any:
    """``value`` as the kind of ``default`` (JSON writes 1.0 as 1), or a ValueError naming the option."""
    kind = type(default)
    if default is None or (value is None and kind is float):  # an optional number left unset
        return value
    if kind is float and type(value) is int:
        value = float(value)
    if type(value) is not kind:
        raise ValueError(f"{option_name(name)} must be {_KIND.get(kind, kind.__name__)}, got {value!r}")
    return value


#: The agents of ``hptune train`` by name, in ``--help`` order.
TRAINERS: dict[str, AgentSpec] = {}


def register_agent(name: str, trainer: Callable | None, settings: type | None = None, **spec: Any) -> AgentSpec:
    """Make ``hptune train --agent NAME`` train with ``trainer`` and the settings dataclass ``settings``.

    The settings' options appear in ``hptune train --help`` and their values in ``TrainConfig.settings``
    (and ``config.json``). Two agents may share an option only with the same kind of value.
    """
    new = AgentSpec(name, trainer, settings, **spec)
    kinds = {opt: type(value) for other in TRAINERS.values() if other.name != name
             for opt, value in _option_defaults(other).items()}
    for opt, value in _option_defaults(new).items():
        if opt in kinds and kinds[opt] is not type(value):
            raise ValueError(f"agent {name!r}: option {option_name(opt)} is already another agent's option "
                             f"of another kind ({kinds[opt].__name__})")
    TRAINERS[name] = new
    return new


def unregister_agent(name: str) -> None:
    """Remove an agent added by [`register_agent`][agents.options.register_agent]."""
    del TRAINERS[name]


def _option_defaults(spec: AgentSpec) -> dict[str, Any]:
    if spec.settings is None:
        return {}
    defaults = dataclasses.asdict(spec.default_settings())
    return {name: defaults[name] for name in spec.option_help()}


def agent_options() -> dict[str, tuple[str, Any]]:
    """Every registered agent's options: field name -> (help, default), the first agent's where shared."""
    first: dict[str, tuple[str, Any]] = {}
    users: dict[str, list[str]] = {}
    for spec in TRAINERS.values():
        helps, defaults = spec.option_help(), _option_defaults(spec)
        for name in helps:
            first.setdefault(name, (helps[name], defaults[name]))
            users.setdefault(name, []).append(spec.name)
    return {name: (f"{doc} [--agent {', '.join(users[name])}]", default) for name, (doc, default) in first.items()}


# ---------------------------------------------------------------------- the built-in agents' settings
def reinforce_settings() -> RecurrentReinforceConfig:
    """RecurrentReinforce as ``hptune train`` and the benchmark start it: groups of 8 episodes that
    share a reset seed, a leave-one-out baseline, an entropy bonus decaying to a tenth of itself."""
    # ent_decay_updates=1 stands until the run's length is known (with_entropy_decay, derive_reinforce)
    return RecurrentReinforceConfig(group_size=8, baseline="leave_one_out", ent_coef=0.05, ent_coef_final=0.005,
                                    ent_decay_updates=1)


def check_reinforce(cfg: Any, values: dict) -> None:
    """What RecurrentReinforceConfig does not check itself, or checks in terms hptune derives."""
    if not (math.isfinite(values["learning_rate"]) and values["learning_rate"] > 0):
        raise ValueError(f"--learning-rate must be a number > 0, got {values['learning_rate']}")
    for name in ("ent_coef", "ent_coef_final"):
        if values[name] is not None and not (math.isfinite(values[name]) and values[name] >= 0):
            raise ValueError(f"{option_name(name)} must be a number >= 0, got {values[name]}")
    if values["group_size"] < 1:
        raise ValueError(f"--group-size must be an integer >= 1, got {values['group_size']}")
    if cfg.num_envs % values["group_size"]:
        raise ValueError(f"--group-size must divide --num-envs {cfg.num_envs} (a group shares one batch), "
                         f"got {values['group_size']}")


def derive_reinforce(cfg: Any, values: dict) -> dict:
    """One update per batch of at least 8 whole episodes (whole groups); the entropy decays over the run."""
    per_update = cfg.num_envs * math.ceil(8 / cfg.num_envs)
    return {"seed": cfg.seed, "device": cfg.device, "episodes_per_update": per_update,
            "ent_decay_updates": entropy_decay_updates(values["ent_coef_final"], cfg.episodes, per_update)}


@dataclass
class SB3Settings:
    """What ``hptune train`` sets for a Stable-Baselines3 algorithm; everything else keeps the library's default
    (its learning rate and entropy defaults: ours are tuned for RecurrentReinforce)."""

    n_steps: int = field(default=0, metadata={"help": "SB3 rollout length per env (0: the episode's horizon)."})
    batch_size: int = field(default=0, metadata={
        "help": "SB3 minibatch size (0: a whole rollout, horizon x num_envs; a2c has none)."})

    def __post_init__(self) -> None:
        for name in ("n_steps", "batch_size"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be an integer >= 1 (or 0: the default), got {getattr(self, name)}")
