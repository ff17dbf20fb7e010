"""Benchmark v3's one primary analysis, registered before any test member runs (issue 27).

The unit is the member. A method's score on a member is its **member-level accuracy**: the mean,
over its meta-training seeds and evaluation seeds, of ``correct / n_test``. The estimand of a
comparison of the controller with reference ``j`` is

    Delta_j = mean over members of (controller's member accuracy - reference j's member accuracy),

over the members common to every method of the family. One procedure gives the intervals, the
adjusted p-values and the verdicts of the whole family
([`primary_analysis`][agents.bench.v3.analysis.primary_analysis]):

* **A crossed two-level bootstrap.** Each replicate draws the members with replacement, one draw
  shared by every comparison of the family (the comparisons share the controller and the members,
  and their dependence is what the max-|T| critical value is for), and, for each learned method
  (more than one meta-training seed), its meta-training seeds with replacement: one draw per method
  per replicate, shared by every member, because one meta-training seed is one trained agent
  deployed on every member. A resampled seed's deviation from the method's seed mean is stretched by
  ``sqrt(S / (S - 1))``, so the seed level's bootstrap variance is the unbiased ``s^2 / S`` (a plain
  bootstrap of ``S`` units gives ``(S - 1) / S`` of it). Evaluation seeds are averaged inside a
  member and not redrawn: their noise is independent across members, so redrawing members carries it.
* **A bootstrap-t, max-|T|.** ``se_j^2 = s_d^2 / n + sum over learned sides of s_seed^2 / S``: the
  member-level differences' variance over ``n`` members plus, per learned side, the variance over its
  ``S`` meta-training seeds of a seed's mean. Each replicate computes the same from its own draw
  (``se*_j``), ``T*_j = (Delta*_j - Delta_j) / se*_j``, and the critical value ``c`` is the ``1 -
  alpha`` quantile of ``max_j |T*_j|``; the simultaneous intervals are ``Delta_j +- c se_j``. Each
  replicate's own ``se*`` carries how unsure a handful of seeds leave the standard error itself: with
  one fixed ``se`` (the replicates' standard deviation) the family-wise error of a null family whose
  5 meta-training seeds dominate was 0.15 at a nominal 0.05 (0.028 with this procedure;
  ``tests/test_v3_analysis.py``), and in the power simulation at the registered level 0.0045 (8,000
  splits of 200 members, `v3/mlp`'s pilot, seed sd 0.38 points) with 5 seeds 0.0138 (3.0x nominal)
  against 0.0068 (1.5x); with 10 seeds 0.0079 against 0.0049.
* **Step-down adjusted p-values** (Romano and Wolf, 2005): comparisons ordered by
  ``|t_j| = |Delta_j| / se_j``, largest first; the ``k``-th one's p is the largest, over ``l <= k``,
  of the share of replicates whose max of ``|T*|`` over the comparisons ranked ``l..m`` reaches
  ``|t_(l)|``. By default these go in ``paired.csv``'s ``p_holm`` column (the column's name is pinned
  by the file format; the adjustment is this one, not Holm's). The single-step p (the share of
  replicates whose max over *all* comparisons reaches ``|t_j|``) is returned beside it, and
  ``p_adjustment="single-step"`` puts it in ``p_holm`` instead.
* **Verdicts** from the simultaneous interval: ``better`` (low > 0), ``worse`` (high < 0),
  ``equivalent`` (inside ``[-margin, +margin]``), else ``inconclusive``.

The interval and the single-step p agree exactly (``p_single_step < alpha`` if and only if the
interval excludes 0, by the choice of the empirical quantile in
[`critical_count`][agents.bench.v3.bootstrap.critical_count]). The step-down p is never above the single-step
p, so an interval that excludes 0 always has ``p_holm < alpha``; the converse holds for the comparison ranked
first, but the step-down can reject a later comparison whose simultaneous interval still holds 0 (it drops the
comparisons already rejected before it computes that comparison's critical value; no interval matches that).
Such a row keeps the interval's verdict, and it is common where the controller beats some references by
far and others narrowly; ``p_adjustment="single-step"`` makes ``p_holm`` and the verdict agree.

The seed level is still a bootstrap over a handful of units: where their spread dominates
(``seed_variance_share`` near 1) the bootstrap-t is near its level but not exact (above), and with 3
seeds far from it (about 2.6x nominal at that level). Register enough meta-training seeds for the
spread measured on selection members.

Secondary statistics (never override the verdict), per comparison in the same rows: wins / ties /
losses over members, counted exactly on integer counts of correct examples; the Wilcoxon
signed-rank p over members; both sides' IQMs; the probability of improvement; with a fixed default
and a static oracle, the mean normalised score
([`normalised_scores`][agents.bench.v3.analysis.normalised_scores]).

[`agents.bench.v3.power.power_simulation`][] sizes the test split for a registered minimum
detectable difference of the *mean*, counting only rejections in the true direction.

Numpy (scipy for the Wilcoxon p; [`agents.evaluation.iqm`][], the project's one IQM); every random draw comes from a seeded
``numpy.random.Generator``.
"""

from __future__ import annotations

import numbers
import warnings
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np

from agents.bench.v3.bootstrap import (SE_ZERO, check_count, check_finite, check_probability, check_resamples,
                                       critical_value, member_weights, seed_inflation)
from agents.evaluation import iqm  # the one implementation (rliable's interquartile mean)

__all__ = ["NOT_LEARNED", "VERDICTS", "MethodScores", "NormalisedScores", "primary_analysis", "normalised_scores",
           "iqm"]

#: ``training_seed`` of a method that learns nothing (its single "meta-training seed").
NOT_LEARNED = -1

#: The four verdicts of the primary analysis.
VERDICTS = ("better", "worse", "equivalent", "inconclusive")



def _as_int(name: str, value, where: str) -> int:
    """An integer from a row's value: an int, an integral float or a string of one (rows read from CSV)."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an integer, got {value!r} ({where})")
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real) and float(value).is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise ValueError(f"{name} must be an integer, got {value!r} ({where})")


# ---------------------------------------------------------------------- data model
@dataclass(frozen=True, eq=False)
class MethodScores:
    """One method's scores on one suite's split: integer counts of correct test examples.

    Attributes:
        name: The method's name.
        correct: ``int64`` array ``(members, train_seeds, eval_seeds)``: correct test examples of the
            child deployed on a member with one meta-training seed's agent at one evaluation seed.
        n_test: ``int64`` array ``(members,)``: each member's number of test examples.
        members: The members' ids, in ``correct``'s order.
        train_seeds: The meta-training seeds, ascending; ``(-1,)`` for a method that learns nothing.
        eval_seeds: The evaluation seeds, ascending.
    """

    name: str
    correct: np.ndarray
    n_test: np.ndarray
    members: tuple[str, ...]
    train_seeds: tuple[int, ...]
    eval_seeds: tuple[int, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name must be a non-empty string, got {self.name!r}")
        correct = np.asarray(self.correct)
        n_test = np.asarray(self.n_test)
        members, train_seeds, eval_seeds = tuple(self.members), tuple(self.train_seeds), tuple(self.eval_seeds)
        if correct.ndim != 3 or not np.issubdtype(correct.dtype, np.integer):
            raise ValueError(f"correct of {self.name!r} must be an integer array (members, train_seeds, eval_seeds), "
                             f"got dtype {correct.dtype} and shape {correct.shape}")
        shape = (len(members), len(train_seeds), len(eval_seeds))
        if correct.shape != shape or 0 in shape:
            raise ValueError(f"correct of {self.name!r} has shape {correct.shape}, but members, train_seeds and "
                             f"eval_seeds give {shape} (none may be empty)")
        if n_test.shape != (len(members),) or not np.issubdtype(n_test.dtype, np.integer):
            raise ValueError(f"n_test of {self.name!r} must be an integer array of shape ({len(members)},), "
                             f"got dtype {n_test.dtype} and shape {n_test.shape}")
        if len(set(members)) != len(members):
            raise ValueError(f"members of {self.name!r} must be distinct, got duplicates "
                             f"{sorted({m for m in members if members.count(m) > 1})[:3]}")
        for label, seeds in (("train_seeds", train_seeds), ("eval_seeds", eval_seeds)):
            if len(set(seeds)) != len(seeds):
                raise ValueError(f"{label} of {self.name!r} must be distinct, got {seeds}")
        if NOT_LEARNED in train_seeds and len(train_seeds) > 1:
            raise ValueError(f"train_seeds of {self.name!r} mixes {NOT_LEARNED} (a method that learns nothing) with "
                             f"meta-training seeds: {train_seeds}")
        if (n_test < 1).any():
            bad = members[int(np.argmax(n_test < 1))]
            raise ValueError(f"n_test of {self.name!r} must be >= 1 on every member, got {int(n_test.min())} "
                             f"(member {bad!r})")
        if (correct < 0).any() or (correct > n_test[:, None, None]).any():
            m = int(np.argwhere((correct < 0) | (correct > n_test[:, None, None]))[0, 0])
            raise ValueError(f"correct of {self.name!r} must lie in [0, n_test] on every cell; member {members[m]!r} "
                             f"has n_test {int(n_test[m])} and counts {correct[m].ravel().tolist()[:6]}")
        object.__setattr__(self, "correct", correct.astype(np.int64))
        object.__setattr__(self, "n_test", n_test.astype(np.int64))
        object.__setattr__(self, "members", tuple(str(m) for m in members))
        object.__setattr__(self, "train_seeds", tuple(int(s) for s in train_seeds))
        object.__setattr__(self, "eval_seeds", tuple(int(s) for s in eval_seeds))

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping], method: str) -> "MethodScores":
        """``method``'s scores from result rows (``results.csv``'s, as dicts; values may be strings).

        Each row needs ``member``, ``method``, ``training_seed`` (``-1`` for a method that learns
        nothing), ``seed`` (the evaluation seed), ``correct`` and ``n_test``; rows of other methods are
        skipped. Every member x meta-training seed x evaluation seed must be present exactly once, and a
        member's ``n_test`` must be the same on all its rows: pass one suite's split and one version.

        Raises:
            ValueError: when ``method`` has no rows, a key is missing, a cell is duplicated or missing,
                or a count is not an integer in ``[0, n_test]``.
        """
        cells: dict[str, dict[tuple[int, int], int]] = {}
        n_test: dict[str, int] = {}
        methods_seen: list[str] = []
        for i, r in enumerate(rows):
            missing = [k for k in ("member", "method", "training_seed", "seed", "correct", "n_test") if k not in r]
            if missing:
                raise ValueError(f"row {i} lacks the keys {missing}; a row needs member, method, training_seed, seed, "
                                 f"correct and n_test")
            if r["method"] != method:
                if r["method"] not in methods_seen:
                    methods_seen.append(r["method"])
                continue
            member = str(r["member"])
            where = f"method {method!r}, member {member!r}, row {i}"
            key = (_as_int("training_seed", r["training_seed"], where), _as_int("seed", r["seed"], where))
            n = _as_int("n_test", r["n_test"], where)
            if n_test.setdefault(member, n) != n:
                raise ValueError(f"member {member!r} of method {method!r} has n_test {n_test[member]} and {n} on "
                                 f"different rows; a member has one test set")
            cell = cells.setdefault(member, {})
            if key in cell:
                raise ValueError(f"rows hold two results of method {method!r} on member {member!r} at training seed "
                                 f"{key[0]}, evaluation seed {key[1]}: pass one suite, one split and one method "
                                 f"version")
            cell[key] = _as_int("correct", r["correct"], where)
        if not cells:
            raise ValueError(f"method {method!r} has no rows; the rows hold {methods_seen}")
        train_seeds = sorted({t for cell in cells.values() for t, _ in cell})
        eval_seeds = sorted({s for cell in cells.values() for _, s in cell})
        members = list(cells)
        for member in members:
            absent = [(t, s) for t in train_seeds for s in eval_seeds if (t, s) not in cells[member]]
            if absent:
                raise ValueError(f"method {method!r} on member {member!r} lacks {len(absent)} cell(s) (training seed, "
                                 f"evaluation seed), e.g. {absent[:3]}: every member must hold every training seed "
                                 f"{train_seeds} at every evaluation seed {eval_seeds}")
        correct = np.array([[[cells[m][t, s] for s in eval_seeds] for t in train_seeds] for m in members],
                           dtype=np.int64)
        return cls(name=method, correct=correct, n_test=np.array([n_test[m] for m in members], dtype=np.int64),
                   members=tuple(members), train_seeds=tuple(train_seeds), eval_seeds=tuple(eval_seeds))

    @property
    def learned(self) -> bool:
        """Whether the bootstrap redraws this method's meta-training seeds (it has more than one)."""
        return len(self.train_seeds) > 1

    @property
    def cells(self) -> int:
        """Results per member: meta-training seeds x evaluation seeds."""
        return len(self.train_seeds) * len(self.eval_seeds)

    def member_accuracy(self) -> np.ndarray:
        """``(members,)``: the mean over meta-training and evaluation seeds of ``correct / n_test``."""
        return self.correct.sum(axis=(1, 2)) / (self.cells * self.n_test)

    def seed_accuracy(self) -> np.ndarray:
        """``(members, train_seeds)``: each meta-training seed's mean over the evaluation seeds."""
        return self.correct.sum(axis=2) / (len(self.eval_seeds) * self.n_test[:, None])

    def subset(self, members: Sequence[str]) -> "MethodScores":
        """The same scores on ``members`` (in that order); each must be one of this method's."""
        index = {m: i for i, m in enumerate(self.members)}
        absent = [m for m in members if m not in index]
        if absent:
            raise ValueError(f"method {self.name!r} has no scores on members {absent[:3]}")
        rows = [index[m] for m in members]
        return MethodScores(self.name, self.correct[rows], self.n_test[rows], tuple(members), self.train_seeds,
                            self.eval_seeds)


def _common_members(methods: Sequence[MethodScores]) -> list[str]:
    """The members every method holds, in the first method's order, with one ``n_test`` across methods."""
    shared = set(methods[0].members)
    for m in methods[1:]:
        shared &= set(m.members)
    members = [m for m in methods[0].members if m in shared]
    if len(members) < 2:
        raise ValueError(f"the methods {[m.name for m in methods]} share {len(members)} member(s) "
                         f"({members}); the analysis needs at least 2 members common to every method")
    n_of = {}
    for method in methods:
        for member, n in zip(method.members, method.n_test.tolist()):
            if member in shared and n_of.setdefault(member, (n, method.name))[0] != n:
                raise ValueError(f"member {member!r} has n_test {n_of[member][0]} for {n_of[member][1]!r} and {n} for "
                                 f"{method.name!r}: methods must be scored on the same test set")
    return members


# ---------------------------------------------------------------------- exact comparisons
def _exact_differences(x: MethodScores, y: MethodScores) -> tuple[np.ndarray, np.ndarray]:
    """Member-level ``x - y`` on their (aligned, common) members: the exact sign and the float value.

    Accuracy of ``x`` on a member is ``sum_x / (cells_x n)``; with ``n`` shared, ``x`` beats ``y`` exactly
    when ``sum_x cells_y > sum_y cells_x``. Python integers: no tolerance, no overflow. The float is the
    exact rational ``num / (cells_x cells_y n)`` rounded once, so equal rationals give equal floats (the
    Wilcoxon ranks see the same ties as the signs).
    """
    sx, sy = x.correct.sum(axis=(1, 2)).tolist(), y.correct.sum(axis=(1, 2)).tolist()
    num = [a * y.cells - b * x.cells for a, b in zip(sx, sy)]
    sign = np.array([(v > 0) - (v < 0) for v in num], dtype=np.int64)
    diff = np.array([v / (x.cells * y.cells * n) for v, n in zip(num, x.n_test.tolist())], dtype=np.float64)
    return sign, diff


def _signed_rank_p(differences: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p of the nonzero differences (exact zeros dropped); 1.0 when none is."""
    from scipy import stats

    d = differences[differences != 0]
    if d.size == 0:
        return 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (RuntimeWarning, UserWarning))
        return float(stats.wilcoxon(d).pvalue)


# ---------------------------------------------------------------------- normalised scores
@dataclass(frozen=True, eq=False)
class NormalisedScores:
    """The result of [`normalised_scores`][agents.bench.v3.analysis.normalised_scores].

    Attributes:
        members: The members scored (common to the three methods, without the dropped ones).
        scores: ``(method - default) / (oracle - default)`` per member, in ``members``' order.
        mean: Mean of ``scores`` (NaN when every member was dropped).
        iqm: Interquartile mean of ``scores`` (robust to members with a small denominator).
        dropped: Members where the oracle's accuracy equals the default's exactly (no gain to share).
        oracle_below_default: Members kept whose oracle is below the default on test (the oracle is
            chosen on validation): their denominator is negative, so a method above the default scores
            below 0 there.
    """

    members: tuple[str, ...]
    scores: np.ndarray
    mean: float
    iqm: float
    dropped: tuple[str, ...]
    oracle_below_default: tuple[str, ...]


def normalised_scores(method: MethodScores, fixed_default: MethodScores,
                      static_oracle: MethodScores) -> NormalisedScores:
    """Per-member score on the scale fixed default = 0, static oracle = 1: ``(method - default) / (oracle - default)``.

    Member-level accuracies on the members the three hold. Members where the oracle's accuracy equals
    the default's (compared exactly on integer counts) have no gain to share and are dropped (listed in
    ``dropped``); the mean is over the rest.

    Raises:
        ValueError: when the three share fewer than 2 members or a member's ``n_test`` differs.
    """
    members = _common_members([method, fixed_default, static_oracle])
    x, d, o = (m.subset(members) for m in (method, fixed_default, static_oracle))
    sign_od, gain = _exact_differences(o, d)
    _, above = _exact_differences(x, d)
    keep = sign_od != 0
    scores = above[keep] / gain[keep]
    kept = tuple(m for m, k in zip(members, keep) if k)
    return NormalisedScores(
        members=kept, scores=scores, mean=float(scores.mean()) if scores.size else float("nan"), iqm=iqm(scores),
        dropped=tuple(m for m, k in zip(members, keep) if not k),
        oracle_below_default=tuple(m for m, s in zip(members, sign_od) if s < 0))


# ---------------------------------------------------------------------- the bootstrap
def _bootstrap_family(controller: MethodScores, references: Sequence[MethodScores], diffs: Sequence[np.ndarray],
                      resamples: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``(Delta*, se*)``, each ``(resamples, m)``: every comparison's difference under one crossed draw per
    replicate, and the standard error that replicate's own draw estimates (the bootstrap-t's denominator).

    One member draw ``w`` (weights ``(resamples, members)``) serves the whole family. A learned method's
    value in a replicate is ``c + lambda (sum_s v[s] B[s] - c)``: ``B = w @ A`` its per-seed means over
    the drawn members, ``v`` its own seed draw (shared by the members), ``c`` the mean of ``B`` over its
    seeds and ``lambda`` [`seed_inflation`][agents.bench.v3.bootstrap.seed_inflation]. ``se*^2`` is the
    drawn members' variance of the member-level difference over ``n``, plus each learned side's drawn
    seeds' variance (stretched alike) over ``S``: the plug-in that gives the observed ``se``.
    """
    n = len(controller.members)
    w = member_weights(rng, n, resamples)

    def replicate(method: MethodScores) -> tuple[np.ndarray, np.ndarray | float]:
        a = method.seed_accuracy()
        if not method.learned:
            return w @ a[:, 0], 0.0
        s = a.shape[1]
        v = member_weights(rng, s, resamples)
        b = w @ a
        centre, drawn, stretch = b.mean(axis=1), (b * v).sum(axis=1), seed_inflation(s)
        spread = (v * (b - drawn[:, None]) ** 2).sum(axis=1) * s / (s - 1)
        return centre + stretch * (drawn - centre), stretch ** 2 * spread / s

    mine, mine_var = replicate(controller)
    deltas, ses = [], []
    for ref, d in zip(references, diffs):
        theirs, their_var = replicate(ref)
        member_mean = w @ d
        member_var = np.maximum(w @ (d * d) - member_mean ** 2, 0.0) * n / (n - 1) / n
        deltas.append(mine - theirs)
        ses.append(np.sqrt(member_var + mine_var + their_var))
    return np.stack(deltas, axis=1), np.stack(ses, axis=1)


def _variance_parts(ctrl: MethodScores, ref: MethodScores, diff: np.ndarray) -> tuple[float, float]:
    """The observed ``se^2``'s two parts: the member level's ``s_d^2 / n`` and the learned sides'
    ``s_seed^2 / S`` (the variance over meta-training seeds of a seed's mean over members)."""
    member = float(np.var(diff, ddof=1)) / len(diff)
    seed = sum(float(np.var(side.seed_accuracy().mean(axis=0), ddof=1)) / len(side.train_seeds)
               for side in (ctrl, ref) if side.learned)
    return member, seed


def _studentised(delta: np.ndarray, se: np.ndarray, replicates: np.ndarray,
                 se_star: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Observed ``|t|`` (m,) and the bootstrap-t's ``|T*| = |Delta* - Delta| / se*`` (resamples, m).

    A zero observed ``se`` gives ``|T*| = 0`` and ``|t| = inf`` (a nonzero difference every replicate
    reproduces) or 0; a replicate whose own ``se*`` is zero (its draw holds one value) gives ``|T*| =
    inf`` unless it reproduces ``Delta`` (a draw that cannot say how far off it is counts as far).
    """
    zero = se <= SE_ZERO
    abs_t = np.where(zero, np.where(np.abs(delta) > SE_ZERO, np.inf, 0.0), np.abs(delta) / np.where(zero, 1.0, se))
    gap = np.abs(replicates - delta)
    flat = se_star <= SE_ZERO
    with np.errstate(divide="ignore", invalid="ignore"):
        abs_t_star = np.where(flat, np.where(gap > SE_ZERO, np.inf, 0.0), gap / np.where(flat, 1.0, se_star))
    return abs_t, np.where(zero[None, :], 0.0, abs_t_star)


def _step_down(abs_t: np.ndarray, abs_t_star: np.ndarray) -> np.ndarray:
    """Romano-Wolf step-down adjusted p-values (in the comparisons' order)."""
    order = np.argsort(-abs_t, kind="stable")
    ranked = abs_t_star[:, order]
    # Column l: max of |T*| over the comparisons ranked l..m, those not rejected before step l.
    tail_max = np.maximum.accumulate(ranked[:, ::-1], axis=1)[:, ::-1]
    share = (tail_max >= abs_t[order]).mean(axis=0)
    adjusted = np.empty_like(share)
    adjusted[order] = np.maximum.accumulate(share)  # monotone: never below a higher-ranked comparison's p
    return adjusted


def _verdict(low: float, high: float, margin: float) -> str:
    if low > 0:
        return "better"
    if high < 0:
        return "worse"
    if -margin <= low and high <= margin:
        return "equivalent"
    return "inconclusive"


def primary_analysis(controller: MethodScores, references: Sequence[MethodScores], *, margin: float,
                     alpha: float = 0.05, resamples: int = 10000, seed: int = 0, p_adjustment: str = "step-down",
                     fixed_default: MethodScores | None = None,
                     static_oracle: MethodScores | None = None) -> list[dict]:
    """The registered primary analysis of a suite's family: the controller against each reference.

    See the module's docstring for the procedure. Every statistic is over the members common to the
    controller and every reference (in the controller's order), so all comparisons of the family share
    one set of members and one bootstrap.

    Args:
        controller: The controller's scores.
        references: The family's references, one comparison each (distinct names, none the controller's).
        margin: The registered equivalence margin (accuracy, e.g. 0.01 for one point), >= 0.
        alpha: Family-wise level of the simultaneous intervals and the adjusted p-values.
        resamples: Bootstrap replicates (at least ``1 / alpha``).
        seed: Seed of the ``numpy.random.Generator`` every draw comes from.
        p_adjustment: Which adjusted p goes in ``p_holm``: ``"step-down"`` (Romano-Wolf) or
            ``"single-step"`` (the one that agrees exactly with the intervals); both are returned.
        fixed_default: With ``static_oracle``, adds each side's mean normalised score
            ([`normalised_scores`][agents.bench.v3.analysis.normalised_scores], fixed default 0, static oracle
            1).
        static_oracle: See ``fixed_default``.

    Returns:
        One dict per reference, in ``references``' order: ``reference``, ``method``, ``n_members``,
            ``mean_diff``, ``ci_low`` / ``ci_high`` (simultaneous), ``p_holm`` (the ``p_adjustment`` one),
            ``p_step_down``, ``p_single_step``, ``p_unadjusted`` (this comparison's own studentised
            bootstrap p), ``p_adjustment``, ``verdict``, ``se``, ``t``, ``critical_value``, ``margin``,
            ``alpha``, ``resamples``, ``method_mean`` / ``reference_mean``, ``n_train_seeds`` /
            ``reference_train_seeds``, and the secondary ``wins`` / ``ties`` / ``losses``, ``p_wilcoxon``,
            ``method_iqm`` / ``reference_iqm``, ``prob_improvement``, ``training_seed_min_diff`` /
            ``training_seed_max_diff`` (the mean difference of each pair of meta-training seeds; NaN when
            neither side is learned), ``seed_variance_share`` (the meta-training seed level's share of the
            bootstrap variance: near 1 with 5 seeds, the interval is a bootstrap over 5 units and too
            narrow) and, with a default and an oracle, ``method_normalised`` / ``reference_normalised`` /
            ``n_normalised``.

    Raises:
        ValueError: on a bad argument, names that repeat, fewer than 2 common members, or a member
            whose ``n_test`` differs between methods.
    """
    if not isinstance(controller, MethodScores):
        raise ValueError(f"controller must be a MethodScores, got {type(controller).__name__}")
    references = list(references)
    if not references or not all(isinstance(r, MethodScores) for r in references):
        raise ValueError(f"references must be a non-empty sequence of MethodScores, got "
                         f"{[type(r).__name__ for r in references]}")
    names = [controller.name] + [r.name for r in references]
    if len(set(names)) != len(names):
        raise ValueError(f"the controller and the references must have distinct names, got {names}")
    margin = check_finite("margin", margin)
    if margin < 0:
        raise ValueError(f"margin must be >= 0 (the equivalence region is [-margin, +margin]), got {margin!r}")
    alpha = check_probability("alpha", alpha)
    resamples = check_resamples(resamples, alpha, "alpha")
    seed = check_count("seed", seed, 0)
    if p_adjustment not in ("step-down", "single-step"):
        raise ValueError(f"p_adjustment must be 'step-down' or 'single-step', got {p_adjustment!r}")
    if (fixed_default is None) != (static_oracle is None):
        raise ValueError("fixed_default and static_oracle must be given together (the normalised score needs both)")

    members = _common_members([controller, *references])
    ctrl = controller.subset(members)
    refs = [r.subset(members) for r in references]
    exact = [_exact_differences(ctrl, r) for r in refs]
    delta = np.array([d.mean() for _, d in exact])

    parts = [_variance_parts(ctrl, r, d) for r, (_, d) in zip(refs, exact)]
    se = np.sqrt([member + seed_level for member, seed_level in parts])
    se = np.where(se <= SE_ZERO, 0.0, se)
    replicates, se_star = _bootstrap_family(ctrl, refs, [d for _, d in exact], resamples,
                                            np.random.default_rng(seed))
    abs_t, abs_t_star = _studentised(delta, se, replicates, se_star)
    max_abs_t = abs_t_star.max(axis=1)
    c = critical_value(max_abs_t, alpha)
    p_step_down = _step_down(abs_t, abs_t_star)
    p_single = (max_abs_t[:, None] >= abs_t).mean(axis=0)
    p_own = (abs_t_star >= abs_t).mean(axis=0)

    if fixed_default is not None:
        normalised = {m.name: normalised_scores(m, fixed_default, static_oracle) for m in (ctrl, *refs)}

    acc_c = ctrl.member_accuracy()
    out = []
    for j, (ref, (sign, diff)) in enumerate(zip(refs, exact)):
        half = c * se[j] if se[j] > 0 else 0.0  # a zero se: the point (c may be inf from another column)
        low, high = float(delta[j] - half), float(delta[j] + half)
        acc_r = ref.member_accuracy()
        per_seed = ctrl.seed_accuracy().mean(axis=0)[:, None] - ref.seed_accuracy().mean(axis=0)[None, :]
        learned = ctrl.learned or ref.learned
        member_var, seed_var = parts[j]
        wins, ties, losses = int((sign > 0).sum()), int((sign == 0).sum()), int((sign < 0).sum())
        row = {
            "reference": ref.name, "method": ctrl.name, "n_members": len(members),
            "mean_diff": float(delta[j]), "ci_low": low, "ci_high": high,
            "p_holm": float(p_step_down[j] if p_adjustment == "step-down" else p_single[j]),
            "p_step_down": float(p_step_down[j]), "p_single_step": float(p_single[j]), "p_unadjusted": float(p_own[j]),
            "p_adjustment": p_adjustment,
            "verdict": _verdict(low, high, margin), "se": float(se[j]),
            "t": float(np.sign(delta[j]) * abs_t[j]), "critical_value": c, "margin": margin, "alpha": alpha,
            "resamples": resamples, "method_mean": float(acc_c.mean()), "reference_mean": float(acc_r.mean()),
            "n_train_seeds": len(ctrl.train_seeds), "reference_train_seeds": len(ref.train_seeds),
            "wins": wins, "ties": ties, "losses": losses, "p_wilcoxon": _signed_rank_p(diff),
            "method_iqm": iqm(acc_c), "reference_iqm": iqm(acc_r),
            # Paired by member: the share of members the controller wins, a tie counting half.
            "prob_improvement": (wins + 0.5 * ties) / len(members),
            "training_seed_min_diff": float(per_seed.min()) if learned else float("nan"),
            "training_seed_max_diff": float(per_seed.max()) if learned else float("nan"),
            "seed_variance_share": seed_var / (seed_var + member_var) if seed_var + member_var > 0 else float("nan"),
        }
        if fixed_default is not None:
            row.update(method_normalised=normalised[ctrl.name].mean, reference_normalised=normalised[ref.name].mean,
                       n_normalised=len(normalised[ctrl.name].members))
        out.append(row)
    return out


# ---------------------------------------------------------------------- power
