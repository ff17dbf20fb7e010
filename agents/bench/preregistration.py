"""The pre-registered benchmark protocol: one committed, versioned TOML file fixed before any test run.

The file (``agents/bench/data/v2/protocol.toml`` is v2's, `REGISTERED_PROTOCOL`) declares
everything a reported number depends on: the suites with their member counts per split and episode (``horizon x steps_per_action``),
the evaluation and selection seeds (by rule: ``first``, ``count``), the candidate sets the
references choose from, the comparison family per suite (the controller against each reference)
and the statistics (member-level cluster bootstrap, Wilcoxon over members, Holm over the family,
alpha, the minimum detectable difference and its power). Every result records the protocol's
[`hash`][agents.bench.preregistration.RegisteredProtocol.hash].

The hash is the SHA-256 of the file's raw bytes. Any edit, a comment or a space included, makes
another protocol: that is stricter than hashing a canonical form, and it is what a reader can check
with ``sha256sum``. A ``status = "draft"`` protocol may be loaded, inspected and run on train and
selection members, but
[`RegisteredProtocol.require_frozen`][agents.bench.preregistration.RegisteredProtocol.require_frozen] refuses
to score test members under it::

    protocol = load_protocol()                     # the registered v2 file
    protocol.require_frozen()                      # before the first test member runs
    protocol.evaluation_seeds                      # (2147483648, 2147483649, 2147483650)
    protocol.suite("v2/...").members("test")       # the test member ids
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Callable

__all__ = ["REGISTERED_DATA", "REGISTERED_PROTOCOL", "ProtocolError", "SeedRule", "SuitePlan", "Statistics",
           "Candidates", "Budgets", "RegisteredProtocol", "load_protocol", "registry_problems", "seed_range_problems"]

#: The registered protocols and what their registered runs chose, shipped as package data of
#: ``agents.bench`` (pyproject.toml declares the files): an installed wheel has no checkout to read.
REGISTERED_DATA = Path(str(resources.files("agents.bench").joinpath("data")))
#: The v2 protocol, frozen as v2.0: every v2 result records the SHA-256 of this file's bytes.
REGISTERED_PROTOCOL = REGISTERED_DATA / "v2" / "protocol.toml"

STATUSES = ("draft", "frozen")
SPLITS = ("train", "selection", "test", "transfer")
INTERVALS = ("member_cluster_bootstrap",)
TESTS = ("wilcoxon_members",)
CORRECTIONS = ("holm",)
FULL_GRID = "full_grid"


class ProtocolError(ValueError):
    """A protocol file that is malformed, or a draft used where a frozen protocol is required."""


@dataclass(frozen=True)
class SeedRule:
    """Seeds ``first, first + 1, ..., first + count - 1``."""

    first: int
    count: int

    @property
    def seeds(self) -> tuple[int, ...]:
        return tuple(range(self.first, self.first + self.count))


@dataclass(frozen=True)
class SuitePlan:
    """One suite of the protocol and its comparison family.

    Members follow [`hpenv.instances.SuiteLayout`][]: ``f"{name}/{i}"`` with indices
    ``0 .. train-1`` train, the next ``selection`` selection, the next ``test`` test, the next
    ``transfer`` transfer (members of a base data set no train member uses; reported apart).
    """

    name: str
    train: int
    selection: int
    test: int
    horizon: int
    steps_per_action: int
    controller: str
    references: tuple[str, ...]
    extra_env_kwargs: dict = field(default_factory=dict)
    transfer: int = 0
    reported: tuple[str, ...] = ()
    """Methods run and reported beside the comparison family, outside its correction (the fixed
    default, the paper's online mode, ablations)."""

    @property
    def env_kwargs(self) -> dict:
        """``gym.make(hpenv.ENV_ID, task=member, **plan.env_kwargs)`` deploys one child of this suite."""
        return {"horizon": self.horizon, "steps_per_action": self.steps_per_action, **self.extra_env_kwargs}

    @property
    def deployed_sgd_steps(self) -> int:
        """The equal deployment budget: every method's deployed child trains exactly this many SGD steps."""
        return self.horizon * self.steps_per_action

    @property
    def methods(self) -> tuple[str, ...]:
        """The comparison family's methods: the controller, then the references."""
        return (self.controller, *self.references)

    def members(self, split: str) -> list[str]:
        """Task ids of one split (``"train"``, ``"selection"``, ``"test"`` or ``"transfer"``)."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        start = {"train": 0, "selection": self.train, "test": self.train + self.selection,
                 "transfer": self.train + self.selection + self.test}[split]
        return [f"{self.name}/{i}" for i in range(start, start + getattr(self, split))]


@dataclass(frozen=True)
class Statistics:
    """How every comparison is tested and sized."""

    interval: str
    bootstrap_resamples: int
    confidence: float
    test: str
    correction: str
    alpha: float
    minimum_detectable_difference: float
    """In accuracy (0.02 is 2 points), member level, after correction."""
    power: float


@dataclass(frozen=True)
class Candidates:
    """What the references search: static tuples (the full grid, or a sub-grid of values per
    hyper-parameter) and the families of fixed schedules."""

    static: str | dict
    schedule_families: tuple[str, ...]


@dataclass(frozen=True)
class Budgets:
    """What every method may spend, fixed before any test member runs."""

    meta_training_seeds: int
    """Seeds ``0 .. n-1`` of every meta-trained method: each is meta-trained and deployed once per seed."""
    meta_episodes: int
    """Meta-training episodes of every learned method (RecurrentReinforce, the SB3 learners, the NAS controller)."""
    num_envs: int
    """Children per meta-training batch (one native vector env)."""
    search_budget_episodes: int
    """Search compute per deployed child, in episodes: random search, TPE and successive halving spend
    it on candidates before retraining the winner; PBT runs ``1 +`` this many children."""
    search_candidates: int
    tpe_startup_trials: int
    pbt_interval: int
    schedule_starts: int
    """The fixed-schedule family is built around this many best static tuples (seed A, all selection members)."""
    oracle_schedule_starts: int
    """The per-member dynamic oracle adds a family around this many of the member's own best tuples."""
    dynamic_headroom_min_gain: float
    """The dynamic-headroom gate passes at this member-level gain with its interval above 0."""


@dataclass(frozen=True)
class RegisteredProtocol:
    """A loaded protocol file; build it with [`load_protocol`][agents.bench.preregistration.load_protocol]."""

    path: Path
    hash: str
    """SHA-256 (hex) of the file's raw bytes."""
    version: str
    status: str
    frozen: datetime.date | None
    description: str
    evaluation_seeds: tuple[int, ...]
    selection_seeds: tuple[int, ...]
    candidates: Candidates
    statistics: Statistics
    suites: tuple[SuitePlan, ...]
    budgets: Budgets | None = None
    """None only in a protocol file without a ``[budgets]`` table (one that names no methods' costs)."""

    @property
    def is_frozen(self) -> bool:
        return self.status == "frozen"

    def require_frozen(self) -> None:
        """Raise unless the protocol is frozen: test members are scored only under a frozen protocol."""
        if not self.is_frozen:
            raise ProtocolError(f"protocol {self.path} (version {self.version!r}) has status {self.status!r}: "
                                "test members are scored only under a frozen protocol (set status = \"frozen\" "
                                "and frozen = <date>, and commit it, before the first test run)")

    def suite(self, name: str) -> SuitePlan:
        """The plan of one suite, by name."""
        for plan in self.suites:
            if plan.name == name:
                return plan
        raise KeyError(f"suite {name!r} is not in protocol {self.version!r}; it has {[s.name for s in self.suites]}")


def load_protocol(path: str | Path = REGISTERED_PROTOCOL) -> RegisteredProtocol:
    """Read and validate a protocol file; errors name the key, the value and what is allowed."""
    path = Path(path)
    if not path.is_file():
        shipped = "; it ships with hpenv as package data: reinstall it" if path == REGISTERED_PROTOCOL else ""
        raise ProtocolError(f"protocol file {str(path)!r} does not exist{shipped}")
    raw = path.read_bytes()
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ProtocolError(f"{path}: not valid TOML: {e}") from None
    read = _Reader(str(path.name))
    status = read(doc, "status", str, choices=STATUSES)
    frozen = doc.get("frozen")
    if status == "frozen" and not isinstance(frozen, datetime.date):
        raise ProtocolError(f"{path.name}: a frozen protocol needs frozen = <date> (e.g. 2027-01-15), got {frozen!r}")
    if frozen is not None and not isinstance(frozen, datetime.date):
        raise ProtocolError(f"{path.name}: frozen must be a TOML date (e.g. 2027-01-15), got {frozen!r}")
    suites = read(doc, "suites", list, check=bool, allowed="a non-empty array of [[suites]] tables")
    plans = tuple(_suite_plan(read, s, f"suites[{i}]") for i, s in enumerate(suites))
    names = [p.name for p in plans]
    if len(set(names)) != len(names):
        raise ProtocolError(f"{path.name}: suites[].name must be unique, got {names}")
    evaluation_seeds, selection_seeds = (_seed_rule(read, doc, k).seeds for k in ("evaluation_seeds", "selection_seeds"))
    if set(evaluation_seeds) & set(selection_seeds):
        raise ProtocolError(f"{path.name}: evaluation_seeds and selection_seeds must not overlap (nothing is chosen "
                            f"on the seeds a benchmark reports), got {evaluation_seeds} and {selection_seeds}")
    stats, cand = read(doc, "statistics", dict), read(doc, "candidates", dict)
    return RegisteredProtocol(
        path=path, hash=hashlib.sha256(raw).hexdigest(),
        version=read(doc, "version", str, check=bool, allowed="a non-empty string"),
        status=status, frozen=frozen, description=read(doc, "description", str, default=""),
        evaluation_seeds=evaluation_seeds, selection_seeds=selection_seeds,
        candidates=Candidates(
            static=_static_candidates(read, cand),
            schedule_families=tuple(read(cand, "schedule_families", list, where="candidates", check=bool,
                                         allowed="a non-empty list of family names"))),
        statistics=Statistics(
            interval=read(stats, "interval", str, where="statistics", choices=INTERVALS),
            bootstrap_resamples=read(stats, "bootstrap_resamples", int, where="statistics", check=lambda v: v >= 1000,
                                     allowed="an integer >= 1000"),
            confidence=read(stats, "confidence", float, where="statistics", check=lambda v: 0 < v < 1,
                            allowed="a number in (0, 1)"),
            test=read(stats, "test", str, where="statistics", choices=TESTS),
            correction=read(stats, "correction", str, where="statistics", choices=CORRECTIONS),
            alpha=read(stats, "alpha", float, where="statistics", check=lambda v: 0 < v < 1,
                       allowed="a number in (0, 1)"),
            minimum_detectable_difference=read(stats, "minimum_detectable_difference", float, where="statistics",
                                               check=lambda v: 0 < v < 1, allowed="an accuracy difference in (0, 1)"),
            power=read(stats, "power", float, where="statistics", check=lambda v: 0 < v < 1,
                       allowed="a number in (0, 1)")),
        suites=plans, budgets=_budgets(read, doc["budgets"]) if "budgets" in doc else None)


def _budgets(read: _Reader, table: Any) -> Budgets:
    if not isinstance(table, dict):
        raise ProtocolError(f"{read.filename}: budgets must be a table, got {table!r}")
    positive = {"where": "budgets", "check": lambda v: v >= 1, "allowed": "an integer >= 1"}
    ints = {f.name: read(table, f.name, int, **positive) for f in dataclasses.fields(Budgets)
            if f.type in ("int", int)}
    gain = read(table, "dynamic_headroom_min_gain", float, where="budgets", check=lambda v: 0 <= v < 1,
                allowed="an accuracy difference in [0, 1)")
    return Budgets(**ints, dynamic_headroom_min_gain=gain)


def registry_problems(protocol: RegisteredProtocol) -> list[str]:
    """Where the protocol's suites disagree with the suites registered in [`hpenv.instances`][].

    The protocol fixes the member counts; a suite whose registered definition has other counts
    would give other member ids, so results under it could not be compared.
    """
    from hpenv.instances import SUITES  # here, not at the top: reading a protocol needs no torch

    problems = []
    for plan in protocol.suites:
        registered = SUITES.get(plan.name)
        if registered is None:
            problems.append(f"suite {plan.name} of the protocol is not registered in hpenv.instances")
            continue
        for split in SPLITS:
            if split not in registered.splits and not getattr(plan, split):
                continue  # a v1 suite has no transfer split, and the protocol declares none
            if split not in registered.splits or registered.members(split) != plan.members(split):
                problems.append(f"suite {plan.name}: the protocol's {split} members ({getattr(plan, split)}) differ "
                                f"from the registered suite's ({len(registered.members(split)) if split in registered.splits else 0})")
    return problems


def seed_range_problems(protocol: RegisteredProtocol) -> list[str]:
    """Where the protocol's seeds leave the ranges `agents.seeds` reserves for them: evaluation
    seeds in `HELD_OUT`, selection seeds in `V2_SELECTION`
    (disjoint from every other range, so no seed a result reports was trained or chosen on)."""
    from agents.seeds import HELD_OUT, V2_SELECTION

    return [f"{kind} seeds {seeds[0]}..{seeds[-1]} leave the {where.name} range [{where.start}, {where.stop})"
            for kind, seeds, where in (("evaluation", protocol.evaluation_seeds, HELD_OUT),
                                       ("selection", protocol.selection_seeds, V2_SELECTION))
            if not all(s in where for s in seeds)]


class _Reader:
    """Typed, validated reads from TOML tables, with errors that name the file and the key."""

    def __init__(self, filename: str):
        self.filename = filename

    def __call__(self, table: dict, key: str, kind: type, *, where: str = "", choices: tuple = (),
                 check: Callable[[Any], bool] | None = None, allowed: str = "", default: Any = ...) -> Any:
        name = f"{where}.{key}" if where else key
        if key not in table:
            if default is not ...:
                return default
            raise ProtocolError(f"{self.filename}: missing key {name!r}")
        value = table[key]
        # TOML integers are valid floats; bools are not numbers here.
        ok_type = (isinstance(value, kind) or (kind is float and isinstance(value, int))) and not (
            isinstance(value, bool) and kind is not bool)
        if not ok_type:
            raise ProtocolError(f"{self.filename}: {name} must be {kind.__name__}, got {value!r}")
        if choices and value not in choices:
            raise ProtocolError(f"{self.filename}: {name} must be one of {list(choices)}, got {value!r}")
        if check is not None and not check(value):
            raise ProtocolError(f"{self.filename}: {name} must be {allowed}, got {value!r}")
        return float(value) if kind is float else value


def _seed_rule(read: _Reader, doc: dict, key: str) -> SeedRule:
    table = read(doc, key, dict)
    return SeedRule(first=read(table, "first", int, where=key, check=lambda v: v >= 0, allowed="an integer >= 0"),
                    count=read(table, "count", int, where=key, check=lambda v: v >= 1, allowed="an integer >= 1"))


def _static_candidates(read: _Reader, cand: dict) -> str | dict:
    static = cand.get("static")
    if static == FULL_GRID:
        return static
    if isinstance(static, dict) and static and all(isinstance(v, list) and v for v in static.values()):
        return static
    raise ProtocolError(f"{read.filename}: candidates.static must be {FULL_GRID!r} or a table of non-empty value "
                        f"lists per hyper-parameter (a documented sub-grid), got {static!r}")


def _suite_plan(read: _Reader, table: Any, where: str) -> SuitePlan:
    if not isinstance(table, dict):
        raise ProtocolError(f"{read.filename}: {where} must be a table, got {table!r}")
    positive = {"check": lambda v: v >= 1, "allowed": "an integer >= 1"}
    references = read(table, "references", list, where=where, check=lambda v: v and all(isinstance(r, str) for r in v),
                      allowed="a non-empty list of method names")
    return SuitePlan(
        name=read(table, "name", str, where=where, check=lambda v: v.count("/") == 1,
                  allowed="a suite name like 'v2/digits-mixed'"),
        train=read(table, "train", int, where=where, check=lambda v: v >= 0, allowed="an integer >= 0"),
        selection=read(table, "selection", int, where=where, **positive),
        test=read(table, "test", int, where=where, **positive),
        horizon=read(table, "horizon", int, where=where, **positive),
        steps_per_action=read(table, "steps_per_action", int, where=where, **positive),
        controller=read(table, "controller", str, where=where, check=bool, allowed="a method name"),
        references=tuple(references),
        extra_env_kwargs=read(table, "env_kwargs", dict, where=where, default={}),
        transfer=read(table, "transfer", int, where=where, check=lambda v: v >= 0, allowed="an integer >= 0",
                      default=0),
        reported=tuple(read(table, "reported", list, where=where, default=[],
                            check=lambda v: all(isinstance(r, str) for r in v), allowed="a list of method names")))
