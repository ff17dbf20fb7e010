"""Member-level statistics for benchmark v2: the member is the unit of analysis.

A member's evaluation seeds are averaged, and so are a learned method's meta-training seeds, before
anything is compared: a method's result on a suite is one number per member. Comparisons are paired
over members (every method deploys on the same members and seeds):

* [`member_matrix`][agents.bench.member_stats.member_matrix] -- one method's results as
  ``{member: array (training seeds, evaluation seeds)}``.
* [`member_comparison`][agents.bench.member_stats.member_comparison] -- mean member-level difference, a
  two-level cluster-bootstrap interval (members resampled, and a learned side's training seeds resampled once
  per replicate for all members, since one trained agent is deployed on every member), Wilcoxon signed-rank p
  over members, wins / ties / losses, probability of improvement, means and IQMs, the per-training-seed
  spread.
* [`family_table`][agents.bench.member_stats.family_table] /
  [`paired_rows`][agents.bench.member_stats.paired_rows] -- the pre-declared family (the controller against
  each reference), Holm over that family only; ``paired.csv`` rows (`PAIRED_COLUMNS`).
* [`power_analysis`][agents.bench.member_stats.power_analysis] -- the Wilcoxon test's power to detect a
  member-level difference, simulated from differences measured on selection members, and the number of members
  it needs.
* [`method_summary`][agents.bench.member_stats.method_summary] -- each method's member-level mean and compute
  per deployed child (the accuracy-vs-compute plot's numbers).

Pure numpy / scipy; every random draw comes from a seeded ``numpy.random.Generator``.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from agents.bench.stats import holm, iqm, methods_of, probability_of_improvement, signed_rank_p, verdict, win_tie_loss

__all__ = ["PAIRED_COLUMNS", "NOT_LEARNED", "member_matrix", "member_differences", "member_comparison",
           "family_table", "paired_rows", "PowerAnalysis", "power_analysis", "method_summary", "read_members",
           "member_factor"]

#: ``training_seed`` of a row whose method is not meta-trained.
NOT_LEARNED = -1

PAIRED_COLUMNS = ["suite", "split", "method", "method_version", "reference", "in_family", "n_members",
                  "n_training_seeds", "mean_diff", "ci_low", "ci_high", "p", "p_holm", "wins", "ties", "losses",
                  "prob_improvement", "method_mean", "reference_mean", "method_iqm", "reference_iqm",
                  "training_seed_min_diff", "training_seed_max_diff", "verdict"]

#: Asymptotic relative efficiency of the signed-rank test against the t-test on normal data (3 / pi).
WILCOXON_ARE = 0.955

MemberMatrix = dict  # {member: np.ndarray of shape (n_training_seeds, n_eval_seeds)}


def _check_unit_interval(name: str, value: float) -> float:
    if not (isinstance(value, (int, float)) and 0 < value < 1):
        raise ValueError(f"{name} must be a number strictly between 0 and 1, got {value!r}")
    return float(value)


def _check_count(name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


# ---------------------------------------------------------------------- one method's results
def member_matrix(rows: Sequence[dict], method: str, value: str = "test_accuracy") -> MemberMatrix:
    """``{member: array (n_training_seeds, n_eval_seeds)}`` of ``value`` for ``method``'s rows.

    Rows are sorted by training seed, columns by evaluation seed; a method that is not meta-trained
    (``training_seed == -1``) has one row. Every member must hold every training seed on every one
    of its evaluation seeds, and each cell once: pass the rows of one suite, split and method version.
    """
    cells: dict[str, dict[tuple[int, int], float]] = {}
    for r in rows:
        if r["method"] != method:
            continue
        key = (int(r["training_seed"]), int(r["seed"]))
        cell = cells.setdefault(r["member"], {})
        if key in cell:
            raise ValueError(f"rows hold two results of method {method!r} on member {r['member']!r} at training "
                             f"seed {key[0]}, evaluation seed {key[1]}: pass the rows of one suite, one split "
                             f"and one method version")
        cell[key] = float(r[value])
    if not cells:
        raise ValueError(f"method {method!r} has no rows; the rows hold {methods_of(rows)}")
    training_seeds = sorted({t for cell in cells.values() for t, _ in cell})
    out = {}
    for member, cell in cells.items():
        eval_seeds = sorted({s for _, s in cell})
        missing = [k for k in ((t, s) for t in training_seeds for s in eval_seeds) if k not in cell]
        if missing:
            raise ValueError(f"method {method!r} on member {member!r} lacks (training seed, evaluation seed) "
                             f"{missing[:3]}: every training seed {training_seeds} must be deployed on every "
                             f"evaluation seed of every member")
        out[member] = np.array([[cell[t, s] for s in eval_seeds] for t in training_seeds], dtype=np.float64)
    return out


def _common_members(x: MemberMatrix, y: MemberMatrix) -> list[str]:
    return [m for m in x if m in y]


def _seed_means(matrix: MemberMatrix, members: Sequence[str]) -> np.ndarray:
    """(n_members, n_training_seeds): each training seed's mean over a member's evaluation seeds."""
    return np.stack([matrix[m].mean(axis=1) for m in members])


def member_differences(x: MemberMatrix, y: MemberMatrix) -> dict[str, float]:
    """Member-level difference ``x - y`` (each side's seeds averaged) on the members both hold."""
    return {m: float(x[m].mean(axis=1).mean() - y[m].mean(axis=1).mean()) for m in _common_members(x, y)}


# ---------------------------------------------------------------------- the cluster bootstrap
def _resample_weights(rng: np.random.Generator, k: int, resamples: int) -> np.ndarray:
    """(resamples, k): how often each of ``k`` units is drawn in ``k`` draws with replacement, over ``k``."""
    draws = rng.integers(0, k, size=(resamples, k)) + k * np.arange(resamples)[:, None]
    return np.bincount(draws.ravel(), minlength=resamples * k).reshape(resamples, k) / k


def _replicate_member_values(seed_means: np.ndarray, rng: np.random.Generator, resamples: int) -> np.ndarray:
    """(resamples, n_members): member values under one shared draw of training seeds per replicate."""
    if seed_means.shape[1] == 1:
        return seed_means[:, 0][None, :]
    return _resample_weights(rng, seed_means.shape[1], resamples) @ seed_means.T


def _cluster_interval(sx: np.ndarray, sy: np.ndarray, resamples: int, confidence: float,
                      rng: np.random.Generator) -> tuple[float, float]:
    members = _resample_weights(rng, sx.shape[0], resamples)
    diffs = _replicate_member_values(sx, rng, resamples) - _replicate_member_values(sy, rng, resamples)
    replicates = (members * diffs).sum(axis=1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(replicates, [tail, 1 - tail])
    return float(low), float(high)


def member_comparison(x: MemberMatrix, y: MemberMatrix, *, resamples: int = 10000, confidence: float = 0.95,
                      seed: int = 0) -> dict:
    """Compare a method (``x``) with a reference (``y``), two
    [`member_matrix`][agents.bench.member_stats.member_matrix] results on the same members.

    Returns ``n_members``, ``n_training_seeds`` / ``reference_training_seeds``, ``mean_diff`` (mean over
    members of the member-level difference), ``ci_low`` / ``ci_high`` (percentile interval of a
    two-level bootstrap: members with replacement and, for a learned side, its training seeds with
    replacement, one draw per replicate shared by every member), ``p`` (two-sided Wilcoxon signed-rank
    over the member-level differences, zeros dropped; 1.0 when all are zero), ``wins`` / ``ties`` /
    ``losses`` over members, ``prob_improvement``, ``method_mean`` / ``reference_mean``, ``method_iqm`` /
    ``reference_iqm`` (over member-level values) and ``training_seed_min_diff`` / ``training_seed_max_diff``
    (the mean difference of each pair of training seeds; NaN when neither side is meta-trained).
    """
    resamples = _check_count("resamples", resamples)
    confidence = _check_unit_interval("confidence", confidence)
    if set(x) != set(y):
        raise ValueError(f"x and y must hold the same members: {len(set(x) - set(y))} only in x, "
                         f"{len(set(y) - set(x))} only in y (e.g. {sorted(set(x) ^ set(y))[:3]})")
    members = list(x)
    sx, sy = _seed_means(x, members), _seed_means(y, members)
    mx, my = sx.mean(axis=1), sy.mean(axis=1)
    d = mx - my
    wins, ties, losses = win_tie_loss(d)
    ci_low, ci_high = _cluster_interval(sx, sy, resamples, confidence, np.random.default_rng(seed))
    learned = sx.shape[1] > 1 or sy.shape[1] > 1
    per_seed = sx.mean(axis=0)[:, None] - sy.mean(axis=0)[None, :]
    return {
        "n_members": len(members), "n_training_seeds": sx.shape[1], "reference_training_seeds": sy.shape[1],
        "mean_diff": float(d.mean()), "ci_low": ci_low, "ci_high": ci_high, "p": signed_rank_p(d),
        "wins": wins, "ties": ties, "losses": losses, "prob_improvement": probability_of_improvement(mx, my),
        "method_mean": float(mx.mean()), "reference_mean": float(my.mean()),
        "method_iqm": iqm(mx), "reference_iqm": iqm(my),
        "training_seed_min_diff": float(per_seed.min()) if learned else float("nan"),
        "training_seed_max_diff": float(per_seed.max()) if learned else float("nan"),
    }


# ---------------------------------------------------------------------- tables
def _rows_of(rows: Sequence[dict], suite: str, split: str) -> list[dict]:
    return [r for r in rows if r["suite"] == suite and r["split"] == split]


def _version(rows: Sequence[dict], method: str) -> str:
    return ",".join(dict.fromkeys(str(r.get("method_version", "")) for r in rows if r["method"] == method))


def _compare_rows(srows: Sequence[dict], matrices: dict, method: str, reference: str, **kw) -> dict:
    x, y = matrices[method], matrices[reference]
    members = _common_members(x, y)
    if not members:
        raise ValueError(f"methods {method!r} and {reference!r} share no member")
    c = member_comparison({m: x[m] for m in members}, {m: y[m] for m in members}, **kw)
    return {"suite": srows[0]["suite"], "split": srows[0]["split"], "method": method,
            "method_version": _version(srows, method), "reference": reference, **c}


def family_table(rows: Sequence[dict], suite: str, controller: str, references: Sequence[str], *,
                 split: str = "test", alpha: float = 0.05, resamples: int = 10000, confidence: float = 0.95,
                 seed: int = 0) -> list[dict]:
    """The controller against each reference of the pre-declared family on ``suite``'s ``split``, one dict
    per reference ([`member_comparison`][agents.bench.member_stats.member_comparison]'s keys, plus ``suite``,
    ``split``, ``method``, ``method_version``, ``reference``, ``in_family`` True, ``p_holm``, Holm-adjusted
    over this family only, and ``verdict``, [`agents.bench.stats.verdict`][] at ``alpha``)."""
    alpha = _check_unit_interval("alpha", alpha)
    if not references:
        raise ValueError(f"references must name at least one method of the family, got {references!r}")
    srows = _rows_of(rows, suite, split)
    if not srows:
        raise ValueError(f"no rows for suite {suite!r}, split {split!r}")
    matrices = {m: member_matrix(srows, m) for m in (controller, *references)}
    table = [{**_compare_rows(srows, matrices, controller, ref, resamples=resamples, confidence=confidence,
                              seed=seed), "in_family": True} for ref in references]
    for t, p in zip(table, holm([t["p"] for t in table])):
        t["p_holm"] = p
        t["verdict"] = verdict(t, alpha)
    return table


def paired_rows(rows: Sequence[dict], families: Mapping[str, tuple[str, Sequence[str]]], *, alpha: float = 0.05,
                resamples: int = 10000, confidence: float = 0.95, seed: int = 0) -> list[dict]:
    """``paired.csv`` rows (`PAIRED_COLUMNS`): per suite and split, every method against every
    reference of its suite's family ``families[suite] = (controller, references)``.

    The controller's rows are [`family_table`][agents.bench.member_stats.family_table]'s (Holm over the
    family, a verdict). Every other comparison is descriptive: ``p_holm`` is empty and ``verdict`` is
    ``"exploratory"``. Two references are compared once, in the family's order. Empty training-seed columns:
    neither side is meta-trained.
    """
    out: list[dict] = []
    for suite, split in dict.fromkeys((r["suite"], r["split"]) for r in rows):
        if suite not in families:
            raise ValueError(f"families has no entry for suite {suite!r}; it has {sorted(families)}")
        controller, references = families[suite][0], list(families[suite][1])
        kw = {"resamples": resamples, "confidence": confidence, "seed": seed}
        out += family_table(rows, suite, controller, references, split=split, alpha=alpha, **kw)
        srows = _rows_of(rows, suite, split)
        methods = methods_of(srows)
        matrices = {m: member_matrix(srows, m) for m in methods}
        for m in methods:
            for ref in references:
                if m in (ref, controller) or ref not in matrices:
                    continue
                if m in references and references.index(ref) < references.index(m):
                    continue  # the same test as ref against m, with the sign flipped
                out.append({**_compare_rows(srows, matrices, m, ref, **kw), "in_family": False, "p_holm": "",
                            "verdict": "exploratory"})
    for r in out:
        for k in ("training_seed_min_diff", "training_seed_max_diff"):
            if isinstance(r[k], float) and math.isnan(r[k]):
                r[k] = ""
    return out


# ---------------------------------------------------------------------- power
@dataclass(frozen=True)
class PowerAnalysis:
    """The result of [`power_analysis`][agents.bench.member_stats.power_analysis]; ``table`` is
    ``[{"n": members, "power": ...}, ...]``."""

    delta: float
    level: float
    """The Holm worst-case level the test runs at: ``alpha / family_size``."""
    target_power: float
    sd: float
    """Standard deviation of the measured member-level differences."""
    n_measured: int
    table: tuple
    required_n: int | None
    """The smallest ``n`` of the grid whose simulated power reaches ``target_power``; None if none does."""
    normal_n: float
    """Cross-check: ``((z_{1-level/2} + z_power) * sd / delta) ** 2 / 0.955``."""


def power_analysis(differences: Sequence[float], *, delta: float = 0.02, alpha: float = 0.05, family_size: int,
                   power: float = 0.8, n_grid: Sequence[int] = (10, 20, 30, 40, 50, 60, 80, 100, 120, 150, 200, 300),
                   simulations: int = 2000, seed: int = 0) -> PowerAnalysis:
    """Power of the two-sided Wilcoxon signed-rank test over ``n`` members to detect a member-level mean
    difference of ``delta``, at the Holm worst case ``alpha / family_size``.

    ``differences`` are member-level differences measured on selection members, a proxy for a method
    minus a reference (e.g. best fixed schedule minus best static tuple, per member). For each ``n``
    of ``n_grid``, ``simulations`` samples of ``n`` are drawn with replacement from the centred
    differences, ``delta`` is added and the test (its normal approximation) is run; power is the share
    rejected.
    """
    from scipy import stats

    d = np.asarray(differences, dtype=np.float64)
    if d.ndim != 1 or d.size < 2 or not np.isfinite(d).all():
        raise ValueError(f"differences must be at least 2 finite member-level differences, got shape {d.shape}")
    sd = float(d.std(ddof=1))
    if sd == 0:
        raise ValueError("differences have no spread (every one equal): their distribution cannot be resampled")
    if not (isinstance(delta, (int, float)) and math.isfinite(delta)):
        raise ValueError(f"delta must be a finite number, got {delta!r}")
    level = _check_unit_interval("alpha", alpha) / _check_count("family_size", family_size)
    power = _check_unit_interval("power", power)
    simulations = _check_count("simulations", simulations)
    grid = [_check_count("n_grid entries", n, 2) for n in n_grid]
    if not grid:
        raise ValueError("n_grid must hold at least one number of members, got an empty grid")
    rng = np.random.default_rng(seed)
    centred = d - d.mean()
    table = []
    for n in sorted(grid):
        sample = rng.choice(centred, size=(simulations, n)) + delta
        # The normal approximation: scipy's exact small-sample path on resampled (tied) data runs for minutes.
        p = stats.wilcoxon(sample, axis=1, method="asymptotic").pvalue
        table.append({"n": n, "power": float(np.mean(np.nan_to_num(p, nan=1.0) < level))})
    required = next((t["n"] for t in table if t["power"] >= power), None)
    z = stats.norm.ppf(1 - level / 2) + stats.norm.ppf(power)
    normal_n = float((z * sd / delta) ** 2 / WILCOXON_ARE) if delta else math.inf
    return PowerAnalysis(delta=float(delta), level=level, target_power=power, sd=sd, n_measured=int(d.size),
                         table=tuple(table), required_n=required, normal_n=normal_n)


# ---------------------------------------------------------------------- for plots
def method_summary(rows: Sequence[dict], suite: str, split: str = "test") -> dict[str, dict]:
    """``{method: {...}}`` on ``suite``'s ``split``: member-level ``mean`` and ``iqm``, ``n_members``,
    ``n_training_seeds``, ``seed_min`` / ``seed_max`` (the range of per-training-seed means), ``source``,
    and compute per deployed child: ``deployed`` + ``search`` SGD steps and ``one_off`` (each
    prepared copy's one-off cost over the children it deployed, on every split), summed in ``compute``."""
    out = {}
    srows = _rows_of(rows, suite, split)
    for m in methods_of(srows):
        matrix = member_matrix(srows, m)
        seed_means = _seed_means(matrix, list(matrix))
        mine = [r for r in rows if r["suite"] == suite and r["method"] == m]
        children: dict[int, int] = {}
        for r in mine:
            children[int(r["training_seed"])] = children.get(int(r["training_seed"]), 0) + 1
        one_off = float(np.mean([float(r["one_off_sgd_steps"]) / children[int(r["training_seed"])] for r in mine]))
        deployed = float(np.mean([float(r["deployed_sgd_steps"]) for r in mine]))
        search = float(np.mean([float(r["search_sgd_steps"]) for r in mine]))
        values = seed_means.mean(axis=1)
        out[m] = {"mean": float(values.mean()), "iqm": iqm(values), "n_members": len(values),
                  "n_training_seeds": seed_means.shape[1], "seed_min": float(seed_means.mean(axis=0).min()),
                  "seed_max": float(seed_means.mean(axis=0).max()), "deployed": deployed, "search": search,
                  "one_off": one_off, "compute": deployed + search + one_off,
                  "learned": any(int(r["training_seed"]) != NOT_LEARNED for r in mine),
                  "source": mine[0].get("source", "built-in")}
    return out


def read_members(path: Path) -> list[dict]:
    """Rows of a ``members.csv`` ([`hpenv.instances.write_members_csv`][]), values as written."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def member_factor(members: Sequence[dict], factor: str) -> dict[str, float | str]:
    """``{task_id: value}`` of one factor (a number where every member's value parses as one); members
    without the factor are left out."""
    if members and factor not in members[0]:
        raise ValueError(f"factor must be a column of members.csv, got {factor!r}; columns: {list(members[0])[1:]}")
    values = {r["task_id"]: r[factor] for r in members if r[factor] not in ("", None)}
    try:
        return {k: float(v) for k, v in values.items()}
    except ValueError:
        return {k: str(v) for k, v in values.items()}
