"""The ``[statistics]`` and ``[family]`` tables of benchmark v3's protocol: the one primary analysis, registered.

``[statistics]`` names the analysis in words a reader checks (``estimand``, ``test``, ``interval``,
``correction``) and in the values the code runs with (the margin, the level, the replicates, the
seeds, the sizing). [`load_statistics`][agents.bench.v3.statistics.load_statistics] reads it and refuses a
table that names another procedure than the one [`agents.bench.v3.analysis.primary_analysis`][] implements, so
the words and the code cannot drift apart. ``[family]`` names the controller and the references it is
compared with on each suite ([`load_family`][agents.bench.v3.statistics.load_family]): the family over which
the intervals are simultaneous and the power simulation's Bonferroni level is set.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

from agents.bench.v3.bootstrap import check_count, check_finite, check_probability, check_resamples

__all__ = ["ESTIMAND", "TEST", "INTERVAL", "CORRECTIONS", "StatisticsSettings", "Family", "protocol_table",
           "load_statistics", "load_family"]

#: The registered words, exactly as ``[statistics]`` must spell them.
ESTIMAND = "mean over members of the member-level accuracy difference (meta-training and evaluation seeds averaged)"
TEST = "crossed bootstrap-t over members and meta-training seeds, each replicate studentised by its own standard error"
INTERVAL = "max-|T| simultaneous over the suite's family"
#: ``correction`` -> [`primary_analysis`][agents.bench.v3.analysis.primary_analysis]'s ``p_adjustment``.
CORRECTIONS = {"max-|T| single-step": "single-step", "max-|T| step-down": "step-down"}


@dataclass(frozen=True)
class StatisticsSettings:
    """The protocol's ``[statistics]`` table.

    Attributes:
        estimand: The registered estimand in words (must equal `ESTIMAND`).
        test: The registered test in words (must equal `TEST`).
        interval: The registered interval in words (must equal `INTERVAL`).
        correction: A key of `CORRECTIONS`: which adjusted p goes in ``paired.csv``'s ``p_holm``.
        equivalence_margin: The verdict ``equivalent`` needs the simultaneous interval inside
            ``[-margin, +margin]`` (accuracy as a fraction).
        alpha: The family-wise level.
        resamples: Bootstrap replicates.
        seed: Seed of the analysis's ``numpy.random.Generator``.
        evaluation_seeds: Children per (test member, method, meta-training seed), averaged.
        meta_training_seeds: Meta-training seeds of every learned method, all inside every interval.
        minimum_detectable_difference: The difference of the mean the test split is sized to show.
        stream_minimum_detectable_difference: The same on a stream suite (its member-level spread is
            several times a stationary suite's); [`mdd_on`][agents.bench.v3.statistics.StatisticsSettings.mdd_on].
        power: The power the test split must reach at that difference (true-direction rejections only).
        pilot_method: The selection stage's reference (a column ``test: <name>`` of a suite's
            ``members.csv``) that plays the method in the power simulation's pilot difference.
        pilot_reference: The selection stage's reference that plays the reference in that pilot
            difference (``pilot_method`` minus ``pilot_reference``, member by member).
        pilot_seed_sd: The standard deviation of a meta-training seed's effect on a learned method's
            mean accuracy, which the pilot (no learned method) lacks; the simulation adds it.
    """

    estimand: str
    test: str
    interval: str
    correction: str
    equivalence_margin: float
    alpha: float
    resamples: int
    seed: int
    evaluation_seeds: int
    meta_training_seeds: int
    minimum_detectable_difference: float
    stream_minimum_detectable_difference: float
    power: float
    pilot_method: str
    pilot_reference: str
    pilot_seed_sd: float
    table: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def p_adjustment(self) -> str:
        """The ``p_adjustment`` argument of
        [`primary_analysis`][agents.bench.v3.analysis.primary_analysis]."""
        return CORRECTIONS[self.correction]

    def mdd_on(self, suite: str) -> float:
        """The minimum detectable difference registered for ``suite``."""
        return self.stream_minimum_detectable_difference if is_stream_suite(suite) else self.minimum_detectable_difference


@dataclass(frozen=True)
class Family:
    """The protocol's ``[family]`` table.

    Attributes:
        controller: The method every comparison of the family is about.
        controller_version: The controller's version that makes the headline (a method's ``version``):
            a run that scores test or transfer members deploys this one.
        references: The references of every suite's family.
        stream_references: The references a stream suite's family adds (its closed-loop rule).
        reported_beside: Methods reported in rows of their own, outside the family (no verdict).
    """

    controller: str
    controller_version: str
    references: tuple
    stream_references: tuple
    reported_beside: tuple

    def references_on(self, suite: str) -> tuple:
        """The references of ``suite``'s family (a stream suite's adds `stream_references`)."""
        return self.references + (self.stream_references if is_stream_suite(suite) else ())


def is_stream_suite(suite: str) -> bool:
    """Whether ``suite``'s members' data change during training (a stream suite)."""
    import hpenv

    return bool(getattr(hpenv.instances.suite(suite), "streams", None))


def protocol_table(path: str | Path, name: str) -> tuple[Path, dict]:
    """``(path, table)``: the ``[name]`` table of a v3 protocol file (``FileNotFoundError`` when the file is
    missing, ``ValueError`` when the table is)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"protocol file {str(path)!r} does not exist")
    table = tomllib.loads(path.read_text()).get(name)
    if not isinstance(table, dict):
        raise ValueError(f"{path} has no [{name}] table")
    return path, table


def _check_keys(path: Path, name: str, table: dict, keys: list[str]) -> None:
    unknown, missing = sorted(set(table) - set(keys)), [k for k in keys if k not in table]
    if unknown or missing:
        raise ValueError(f"{path} [{name}]: unknown keys {unknown}, missing keys {missing}; the keys: {keys}")


def load_family(path: str | Path) -> Family:
    """The ``[family]`` table of a v3 protocol file, checked (names are distinct and non-empty).

    Raises:
        FileNotFoundError: when ``path`` does not exist.
        ValueError: on a missing table, a missing or unknown key, or names that are empty or repeat.
    """
    path, table = protocol_table(path, "family")
    _check_keys(path, "family", table, [f.name for f in fields(Family)])
    lists = {k: table[k] for k in ("references", "stream_references", "reported_beside")}
    for key, value in lists.items():
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ValueError(f"{path} [family] {key} must be a list of method names, got {value!r}")
    names = [table["controller"], *lists["references"], *lists["stream_references"], *lists["reported_beside"]]
    if not isinstance(table["controller"], str) or not table["controller"] or len(set(names)) != len(names):
        raise ValueError(f"{path} [family]: the controller and every reference must be distinct non-empty names, "
                         f"got {names}")
    if not isinstance(table["controller_version"], str) or not table["controller_version"]:
        raise ValueError(f"{path} [family] controller_version must be a non-empty string (a method's version), got "
                         f"{table['controller_version']!r}")
    return Family(controller=table["controller"], controller_version=str(table["controller_version"]),
                  **{k: tuple(v) for k, v in lists.items()})


def load_statistics(path: str | Path) -> StatisticsSettings:
    """The ``[statistics]`` table of a v3 protocol file, checked.

    Raises:
        FileNotFoundError: when ``path`` does not exist.
        ValueError: on a missing table, a missing or unknown key, words that name another procedure,
            or a value out of range (the message names the key, the value and what is allowed).
    """
    path, table = protocol_table(path, "statistics")
    _check_keys(path, "statistics", table, [f.name for f in fields(StatisticsSettings) if f.name != "table"])
    for key, registered in (("estimand", ESTIMAND), ("test", TEST), ("interval", INTERVAL)):
        if table[key] != registered:
            raise ValueError(f"{path} [statistics] {key} = {table[key]!r} is not the procedure the code runs; "
                             f"allowed: {registered!r}")
    if table["correction"] not in CORRECTIONS:
        raise ValueError(f"{path} [statistics] correction = {table['correction']!r}; allowed: {sorted(CORRECTIONS)}")
    margin = check_finite("[statistics] equivalence_margin", table["equivalence_margin"])
    mdd = check_finite("[statistics] minimum_detectable_difference", table["minimum_detectable_difference"])
    stream_mdd = check_finite("[statistics] stream_minimum_detectable_difference",
                              table["stream_minimum_detectable_difference"])
    seed_sd = check_finite("[statistics] pilot_seed_sd", table["pilot_seed_sd"])
    for key, value in (("equivalence_margin", margin), ("minimum_detectable_difference", mdd),
                       ("stream_minimum_detectable_difference", stream_mdd), ("pilot_seed_sd", seed_sd)):
        if not 0 <= value < 1:
            raise ValueError(f"{path} [statistics] {key} must be an accuracy difference in [0, 1), got {value!r}")
    alpha = check_probability("[statistics] alpha", table["alpha"])
    return StatisticsSettings(
        estimand=table["estimand"], test=table["test"], interval=table["interval"], correction=table["correction"],
        equivalence_margin=margin, alpha=alpha, resamples=check_resamples(table["resamples"], alpha, "alpha"),
        seed=check_count("[statistics] seed", table["seed"], 0),
        evaluation_seeds=check_count("[statistics] evaluation_seeds", table["evaluation_seeds"], 3),
        meta_training_seeds=check_count("[statistics] meta_training_seeds", table["meta_training_seeds"], 5),
        minimum_detectable_difference=mdd, stream_minimum_detectable_difference=stream_mdd, power=check_probability("[statistics] power", table["power"]),
        pilot_method=str(table["pilot_method"]), pilot_reference=str(table["pilot_reference"]),
        pilot_seed_sd=seed_sd, table=table)
