"""Benchmark v3's primary analysis (agents.bench.v3.analysis): known answers on constructed scores.

Small bootstraps (a few hundred replicates) and small simulations keep the file fast on a shared
2-core machine; the thresholds leave room for their Monte Carlo error.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as st

from agents.bench.v3.analysis import VERDICTS, MethodScores, iqm, normalised_scores, primary_analysis
from agents.bench.v3.power import power_simulation, smallest_n
from agents.evaluation import iqm as evaluation_iqm


def scores(name, correct, n_test, *, train_seeds=None, eval_seeds=None, members=None) -> MethodScores:
    """MethodScores from ``correct`` (members, train seeds, eval seeds), or (members,) for one cell each."""
    correct = np.asarray(correct, dtype=np.int64)
    if correct.ndim == 1:
        correct = correct[:, None, None]
    m, s, e = correct.shape
    n_test = np.broadcast_to(np.asarray(n_test, dtype=np.int64), (m,)).copy()
    return MethodScores(name, correct, n_test, tuple(members or (f"m{i}" for i in range(m))),
                        tuple(train_seeds or ((-1,) if s == 1 else range(s))), tuple(eval_seeds or range(e)))


def simulate(name, rng, accuracy, n_test, *, train_seeds=1, eval_seeds=3, seed_sd=0.0):
    """Binomial counts at ``accuracy`` per member, plus one offset per meta-training seed (shared by members)."""
    acc = np.asarray(accuracy)[:, None] + rng.normal(0, seed_sd, train_seeds)[None, :]
    p = np.clip(acc, 0, 1)[:, :, None]
    return scores(name, rng.binomial(n_test, p, size=(len(acc), train_seeds, eval_seeds)), n_test)


def rows_of(method: MethodScores):
    return [{"member": m, "method": method.name, "training_seed": t, "seed": s,
             "correct": int(method.correct[i, a, b]), "n_test": int(method.n_test[i])}
            for i, m in enumerate(method.members) for a, t in enumerate(method.train_seeds)
            for b, s in enumerate(method.eval_seeds)]


def null_family(rng, members=20, references=3, seeds=5, seed_sd=0.005, n_test=300):
    """The controller (learned) and ``references`` (not learned), all of one accuracy per member."""
    base = rng.uniform(0.6, 0.9, members)
    controller = simulate("RR", rng, base, n_test, train_seeds=seeds, seed_sd=seed_sd)
    return controller, [simulate(f"ref{j}", rng, base, n_test) for j in range(references)]


# ---------------------------------------------------------------------- data model
def test_from_rows_reads_csv_strings_in_any_order_and_averages_seeds_exactly():
    rng = np.random.default_rng(0)
    method = scores("RR", rng.integers(0, 301, (4, 3, 2)), 300, train_seeds=(7, 2, 5))
    rows = [{k: str(v) for k, v in r.items()} for r in rows_of(method)]  # as csv.DictReader gives them
    rng.shuffle(rows)
    other = [{**r, "method": "static", "training_seed": "-1"} for r in rows if r["training_seed"] == "2"]
    back = MethodScores.from_rows(rows + other, "RR")
    assert back.train_seeds == (2, 5, 7) and back.eval_seeds == (0, 1) and back.learned
    assert sorted(back.members) == sorted(method.members)
    order = [method.members.index(m) for m in back.members]
    # train seeds come back sorted: (2, 5, 7) is (index 1, 2, 0) of the original (7, 2, 5)
    assert np.array_equal(back.correct, method.correct[order][:, [1, 2, 0]])
    assert np.allclose(back.member_accuracy(), method.correct[order].sum(axis=(1, 2)) / (6 * 300))
    static = MethodScores.from_rows(rows + other, "static")
    assert static.train_seeds == (-1,) and not static.learned


def test_from_rows_refuses_missing_duplicate_and_bad_cells():
    method = scores("RR", np.full((3, 2, 3), 10), 20)
    rows = rows_of(method)
    with pytest.raises(ValueError, match=r"'RR' on member 'm0' lacks 1 cell\(s\).*\(0, 0\)"):
        MethodScores.from_rows(rows[1:], "RR")
    with pytest.raises(ValueError, match="two results of method .RR. on member .m0. at training seed 0, evaluation"):
        MethodScores.from_rows(rows + rows[:1], "RR")
    with pytest.raises(ValueError, match=r"method 'PPO' has no rows; the rows hold \['RR'\]"):
        MethodScores.from_rows(rows, "PPO")
    with pytest.raises(ValueError, match=r"row 0 lacks the keys \['n_test'\]"):
        MethodScores.from_rows([{k: v for k, v in rows[0].items() if k != "n_test"}], "RR")
    with pytest.raises(ValueError, match="correct must be an integer, got 10.5"):
        MethodScores.from_rows([{**rows[0], "correct": 10.5}] + rows[1:], "RR")
    with pytest.raises(ValueError, match="n_test 20 and 21 on different rows"):
        MethodScores.from_rows(rows[:1] + [{**r, "n_test": 21} for r in rows[1:]], "RR")
    with pytest.raises(ValueError, match=r"must lie in \[0, n_test\].*member 'm0' has n_test 20"):
        MethodScores.from_rows([{**rows[0], "correct": 21}] + rows[1:], "RR")
    with pytest.raises(ValueError, match="mixes -1"):
        MethodScores.from_rows(rows + [{**r, "training_seed": -1} for r in rows if r["training_seed"] == 0], "RR")


def test_bad_arguments_are_refused_with_the_value_and_what_is_allowed():
    a = scores("RR", [5, 6, 7], 10, members=("a", "b", "c"))
    b = scores("static", [5, 6, 7], 10, members=("x", "y", "z"))
    with pytest.raises(ValueError, match=r"share 0 member\(s\).*at least 2 members common to every method"):
        primary_analysis(a, [b], margin=0.01, resamples=100)
    c = scores("static", [5, 6, 7], 10)
    d = scores("RR", [5, 6, 7], 10)
    with pytest.raises(ValueError, match=r"margin must be >= 0 .*got -0.01"):
        primary_analysis(d, [c], margin=-0.01, resamples=100)
    with pytest.raises(ValueError, match="margin must be a finite number, got nan"):
        primary_analysis(d, [c], margin=float("nan"), resamples=100)
    for alpha in (0, 1, 1.5, -0.1):
        with pytest.raises(ValueError, match=rf"alpha must be a number strictly between 0 and 1, got {alpha}"):
            primary_analysis(d, [c], margin=0.01, alpha=alpha, resamples=100)
    with pytest.raises(ValueError, match="resamples must be at least 1 / alpha = 20 .*got 10"):
        primary_analysis(d, [c], margin=0.01, resamples=10)
    with pytest.raises(ValueError, match=r"distinct names, got \['RR', 'static', 'static'\]"):
        primary_analysis(d, [c, c], margin=0.01, resamples=100)
    with pytest.raises(ValueError, match="references must be a non-empty sequence"):
        primary_analysis(d, [], margin=0.01, resamples=100)
    with pytest.raises(ValueError, match="member 'm0' has n_test 10 for 'RR' and 12 for 'static'"):
        primary_analysis(d, [scores("static", [5, 6, 7], 12)], margin=0.01, resamples=100)
    with pytest.raises(ValueError, match="p_adjustment must be 'step-down' or 'single-step', got 'holm'"):
        primary_analysis(d, [c], margin=0.01, resamples=100, p_adjustment="holm")
    with pytest.raises(ValueError, match="fixed_default and static_oracle must be given together"):
        primary_analysis(d, [c], margin=0.01, resamples=100, fixed_default=c)


def test_members_outside_the_common_set_are_left_out():
    a = scores("RR", [9, 8, 7, 6], 10, members=("a", "b", "c", "extra"))
    b = scores("static", [9, 8, 7], 10, members=("c", "b", "a"))  # another order, one member fewer
    (row,) = primary_analysis(a, [b], margin=0.01, resamples=200)
    assert row["n_members"] == 3
    assert row["mean_diff"] == pytest.approx((0.2 + 0.0 - 0.2) / 3, abs=1e-15)
    assert (row["wins"], row["ties"], row["losses"]) == (1, 1, 1)


# ---------------------------------------------------------------------- (a) exact ties
def test_ties_are_counted_exactly_on_integer_counts_not_on_floats():
    # Member 0: the controller scores 1, 2, 3 of 10 over three evaluation seeds, the reference 2 of 10
    # at its one evaluation seed. Both average 0.2, but the float means differ.
    ctrl = scores("RR", [[[1, 2, 3]], [[5, 5, 5]]], 10)
    ref = scores("static", [[[2]], [[4]]], 10)
    naive = (ctrl.correct / 10).mean(axis=(1, 2)) - (ref.correct / 10).mean(axis=(1, 2))
    assert naive[0] > 0  # 0.6000000000000001 / 3 against 0.2: a float comparison calls it a win
    (row,) = primary_analysis(ctrl, [ref], margin=0.01, resamples=100)
    assert (row["wins"], row["ties"], row["losses"]) == (1, 1, 0)
    assert row["prob_improvement"] == 0.75
    # Different cells per member (2 seeds x 3 vs 1 x 2): sums 6 of 6 cells vs 2 of 2 cells tie exactly.
    ctrl = scores("RR", [[[1, 1, 1], [1, 1, 1]], [[2, 2, 2], [3, 3, 3]]], 3)
    ref = scores("static", [[[1, 1]], [[3, 3]]], 3, eval_seeds=(0, 1))
    (row,) = primary_analysis(ctrl, [ref], margin=0.01, resamples=100)
    assert (row["wins"], row["ties"], row["losses"]) == (0, 1, 1)


# ---------------------------------------------------------------------- (b) a known difference
def test_a_large_positive_difference_is_better_with_a_small_adjusted_p():
    rng = np.random.default_rng(1)
    base = rng.uniform(0.6, 0.85, 40)
    ctrl = simulate("RR", rng, base + 0.05, 400, train_seeds=5, seed_sd=0.005)
    refs = [simulate("static", rng, base, 400), simulate("schedule", rng, base + 0.01, 400)]
    rows = primary_analysis(ctrl, refs, margin=0.01, resamples=1000, seed=3)
    exact = ctrl.member_accuracy() - refs[0].member_accuracy()
    assert rows[0]["mean_diff"] == pytest.approx(exact.mean(), abs=1e-12)
    assert rows[0]["verdict"] == "better" and rows[0]["ci_low"] > 0 and rows[0]["p_holm"] < 0.05
    assert rows[0]["ci_low"] < 0.05 < rows[0]["ci_high"]
    assert rows[1]["verdict"] == "better"
    assert rows[0]["n_train_seeds"] == 5 and rows[0]["reference_train_seeds"] == 1
    assert rows[0]["method_mean"] == pytest.approx(ctrl.member_accuracy().mean())
    assert rows[0]["p_wilcoxon"] == pytest.approx(st.wilcoxon(exact[exact != 0]).pvalue)
    assert rows == primary_analysis(ctrl, refs, margin=0.01, resamples=1000, seed=3)  # seeded: reproducible


def test_adjusted_p_agrees_with_the_interval_over_random_families():
    rng = np.random.default_rng(2)
    checked = 0
    for k in range(12):
        base = rng.uniform(0.6, 0.9, 25)
        effects = rng.choice([-0.03, -0.01, 0.0, 0.005, 0.01, 0.02, 0.04], size=4)
        ctrl = simulate("RR", rng, base, 300, train_seeds=5, seed_sd=0.01)
        refs = [simulate(f"r{j}", rng, base - e, 300) for j, e in enumerate(effects)]
        rows = primary_analysis(ctrl, refs, margin=0.01, resamples=400, seed=k)
        top = max(rows, key=lambda r: abs(r["t"]))
        for r in rows:
            shown = r["verdict"] in ("better", "worse")
            assert shown == (r["ci_low"] > 0 or r["ci_high"] < 0)
            assert shown == (r["p_single_step"] < 0.05)  # one procedure: exact agreement
            if shown:  # the step-down p is never above the single-step p
                assert r["p_holm"] < 0.05 and r["verdict"] == ("better" if r["mean_diff"] > 0 else "worse")
            checked += shown
        assert (top["p_holm"] < 0.05) == (top["verdict"] in ("better", "worse"))  # the first step is single-step
    assert checked >= 10


def test_step_down_can_reject_where_the_simultaneous_interval_does_not():
    # One reference far below (rejected at the first step, so later steps drop it) and three close
    # to the controller: the step-down p of some falls below alpha while the interval holds 0. With
    # p_adjustment="single-step", p_holm and the verdict agree exactly.
    m, n = 30, 1000
    rng = np.random.default_rng(2)
    base = rng.integers(600, 800, m)
    ctrl = scores("RR", base, n)
    refs = [scores("random search", base - 100 + rng.integers(-5, 5, m), n)]
    refs += [scores(f"r{j}", np.clip(base - np.round(7.5 + rng.normal(0, 15, m)), 0, n), n) for j in range(3)]
    rows = primary_analysis(ctrl, refs, margin=0.001, resamples=2000, seed=0)
    assert any(r["p_holm"] < 0.05 and r["verdict"] == "inconclusive" for r in rows)
    single = primary_analysis(ctrl, refs, margin=0.001, resamples=2000, seed=0, p_adjustment="single-step")
    assert all((r["p_holm"] < 0.05) == (r["verdict"] in ("better", "worse")) for r in single)
    assert [r["ci_low"] for r in single] == [r["ci_low"] for r in rows]


# ---------------------------------------------------------------------- (c) identical methods
def test_identical_methods_are_equivalent_never_better_or_worse():
    rng = np.random.default_rng(3)
    base = rng.uniform(0.6, 0.9, 30)
    static = simulate("static", rng, base, 500)
    twin = scores("static twin", static.correct, static.n_test)
    (row,) = primary_analysis(twin, [static], margin=0.005, resamples=200)
    assert row["verdict"] == "equivalent" and row["ci_low"] == row["ci_high"] == row["mean_diff"] == 0
    assert row["se"] == 0 and row["p_holm"] == 1 and row["p_wilcoxon"] == 1
    assert (row["wins"], row["ties"], row["losses"]) == (0, 30, 0)
    # Two learned methods with the same counts: their seeds are drawn apart, so the interval has width,
    # centred on 0; inside a margin it is "equivalent", and a margin of 0 makes it "inconclusive".
    rr = simulate("RR", rng, base, 500, train_seeds=5, seed_sd=0.002)
    rr2 = scores("RR copy", rr.correct, rr.n_test)
    (row,) = primary_analysis(rr, [rr2], margin=0.01, resamples=300)
    assert row["se"] > 0 and row["mean_diff"] == 0 and row["verdict"] == "equivalent"
    (row,) = primary_analysis(rr, [rr2], margin=0.0, resamples=300)
    assert row["verdict"] == "inconclusive"
    assert set(VERDICTS) == {"better", "worse", "equivalent", "inconclusive"}


def test_a_difference_every_replicate_reproduces_has_a_point_interval_and_p_zero():
    ctrl = scores("RR", [60, 70, 80, 90], 100)
    ref = scores("static", [50, 60, 70, 80], 100)
    (row,) = primary_analysis(ctrl, [ref], margin=0.01, resamples=100)
    assert row["se"] == 0 and row["ci_low"] == row["ci_high"] == pytest.approx(0.1)
    assert row["verdict"] == "better" and row["p_holm"] == 0 and row["t"] == np.inf
    (row,) = primary_analysis(ref, [ctrl], margin=0.01, resamples=100)
    assert row["verdict"] == "worse" and row["t"] == -np.inf


# ---------------------------------------------------------------------- (d) the seed level
def test_meta_training_seeds_that_disagree_widen_the_interval():
    rng = np.random.default_rng(4)
    members, n = 30, 400
    base = rng.integers(240, 340, members)
    ref = scores("static", base[:, None, None] - rng.integers(0, 8, (members, 1, 3)), n)
    agree = np.repeat(base[:, None, None], 5, axis=1).repeat(3, axis=2)
    spread = agree + np.array([-40, -20, 0, 20, 40])[None, :, None]  # same member means, seeds far apart
    rows_agree = primary_analysis(scores("RR", agree, n), [ref], margin=0.01, resamples=600, seed=1)
    rows_spread = primary_analysis(scores("RR", spread, n), [ref], margin=0.01, resamples=600, seed=1)
    assert rows_agree[0]["mean_diff"] == rows_spread[0]["mean_diff"]
    width = [r[0]["ci_high"] - r[0]["ci_low"] for r in (rows_agree, rows_spread)]
    assert width[1] > 2 * width[0]
    # One seed draw per replicate shared by all members: the seed level's standard error is that of a
    # mean of 5 seeds (sd 0.079 / sqrt 5), not 30 times smaller as per-member draws would give.
    assert rows_spread[0]["se"] == pytest.approx(np.std([-0.1, -0.05, 0, 0.05, 0.1], ddof=1) / np.sqrt(5), rel=0.05)
    assert rows_spread[0]["seed_variance_share"] > 0.9 > rows_agree[0]["seed_variance_share"]
    assert rows_spread[0]["training_seed_min_diff"] < 0 < rows_spread[0]["training_seed_max_diff"]


# ---------------------------------------------------------------------- (e) simultaneous intervals
def test_a_family_widens_the_intervals_beyond_one_comparison():
    rng = np.random.default_rng(5)
    base = rng.uniform(0.6, 0.9, 40)
    ctrl = simulate("RR", rng, base, 300, train_seeds=5, seed_sd=0.002)
    refs = [simulate(f"r{j}", rng, base + rng.normal(0, 0.02, 40), 300) for j in range(6)]
    family = primary_analysis(ctrl, refs, margin=0.01, resamples=2000, seed=0)
    alone = primary_analysis(ctrl, refs[:1], margin=0.01, resamples=2000, seed=0)
    assert 1.8 < alone[0]["critical_value"] < 2.2
    assert family[0]["critical_value"] > alone[0]["critical_value"] + 0.3
    assert family[0]["ci_high"] - family[0]["ci_low"] > alone[0]["ci_high"] - alone[0]["ci_low"]
    for r in family:  # one critical value, and the interval is mean +- c se
        assert r["critical_value"] == family[0]["critical_value"]
        assert r["ci_high"] - r["mean_diff"] == pytest.approx(r["critical_value"] * r["se"])


def test_one_member_draw_serves_the_whole_family():
    # A reference entered twice under two names is one comparison: every replicate gives both the
    # same difference, so the family's max-|T| and critical value are those of one comparison.
    rng = np.random.default_rng(10)
    base = rng.uniform(0.6, 0.9, 30)
    ctrl = simulate("RR", rng, base + 0.01, 300, train_seeds=5, seed_sd=0.005)
    ref = simulate("static", rng, base, 300)
    twice = primary_analysis(ctrl, [ref, scores("static again", ref.correct, ref.n_test)], margin=0.01,
                             resamples=500, seed=4)
    once = primary_analysis(ctrl, [ref], margin=0.01, resamples=500, seed=4)
    assert twice[0]["critical_value"] == pytest.approx(once[0]["critical_value"], rel=1e-12)
    for row in twice:
        assert row["ci_low"] == pytest.approx(once[0]["ci_low"], rel=1e-12)
        assert row["p_holm"] == pytest.approx(once[0]["p_holm"], abs=2 / 500)  # a tie may fall either side


# ---------------------------------------------------------------------- (f) step-down p-values
def test_step_down_p_values_are_monotone_and_between_unadjusted_and_single_step():
    rng = np.random.default_rng(6)
    base = rng.uniform(0.6, 0.9, 25)
    ctrl = simulate("RR", rng, base, 300, train_seeds=5, seed_sd=0.005)
    refs = [simulate(f"r{j}", rng, base - e, 300) for j, e in enumerate([0.0, 0.005, 0.01, 0.015, 0.03, -0.01])]
    rows = primary_analysis(ctrl, refs, margin=0.01, resamples=800, seed=2)
    ranked = sorted(rows, key=lambda r: -abs(r["t"]))
    assert [r["p_holm"] for r in ranked] == sorted(r["p_holm"] for r in ranked)  # monotone in |t|'s order
    for r in rows:
        assert r["p_unadjusted"] <= r["p_step_down"] <= r["p_single_step"]
        assert r["p_holm"] == r["p_step_down"]
    assert ranked[0]["p_step_down"] == ranked[0]["p_single_step"]
    assert any(r["p_unadjusted"] < r["p_holm"] for r in rows)


def test_step_down_p_is_lifted_to_a_higher_ranked_comparisons_p():
    # Two references whose member-level differences are the same numbers on other members: nearly
    # equal |t|. The second's own tail share (its last step) is below the first's adjusted p, and the
    # step-down p takes the larger, so a comparison ranked lower is never more significant.
    rng = np.random.default_rng(11)
    m, n = 30, 1000
    base = rng.integers(600, 800, m)
    d = np.round(rng.normal(8, 20, m)).astype(int)
    refs = [scores("a", base - d, n), scores("b", base - rng.permutation(d), n)]
    rows = primary_analysis(scores("RR", base, n), refs, margin=0.001, resamples=1000, seed=0)
    first, second = sorted(rows, key=lambda r: -abs(r["t"]))
    assert abs(second["t"]) < abs(first["t"]) < abs(second["t"]) * 1.2
    assert second["p_unadjusted"] < first["p_step_down"] == second["p_step_down"] == first["p_single_step"]


# ---------------------------------------------------------------------- (g) family-wise error
def test_family_wise_error_of_verdicts_under_a_null_family():
    rng = np.random.default_rng(7)
    errors = 0
    for k in range(200):
        ctrl, refs = null_family(rng)
        rows = primary_analysis(ctrl, refs, margin=0.01, resamples=200, seed=k)
        errors += any(r["verdict"] in ("better", "worse") for r in rows)
    assert errors / 200 <= 0.1


def test_few_meta_training_seeds_that_dominate_keep_the_family_wise_error_near_alpha():
    # A learned controller whose 5 seeds move its mean by far more than its members do: a bootstrap over
    # 5 units, studentised by one fixed se, rejected a true null family 2-3 times as often as alpha
    # (measured: about 0.13 at 0.05 here). The bootstrap-t (each replicate studentised by its own se, the
    # seed level's spread unbiased) keeps it near alpha.
    rng = np.random.default_rng(11)
    errors, runs = 0, 500
    for k in range(runs):
        ctrl, refs = null_family(rng, members=40, references=2, seeds=5, seed_sd=0.03, n_test=500)
        rows = primary_analysis(ctrl, refs, margin=0.001, resamples=400, seed=k)
        errors += any(r["verdict"] in ("better", "worse") for r in rows)
        assert rows[0]["seed_variance_share"] > 0.5 or k  # the seed level dominates (checked once)
    assert errors / runs < 0.085


# ---------------------------------------------------------------------- secondary statistics
def test_normalised_scores_drop_members_without_oracle_gain():
    default = scores("default", [50, 60, 70, 80], 100)
    oracle = scores("static oracle", [70, 60, 90, 70], 100)
    method = scores("RR", [60, 65, 90, 75], 100)
    ns = normalised_scores(method, default, oracle)
    assert ns.members == ("m0", "m2", "m3") and ns.dropped == ("m1",) and ns.oracle_below_default == ("m3",)
    assert np.allclose(ns.scores, [0.5, 1.0, 0.5]) and ns.mean == pytest.approx(2 / 3)
    ref = scores("static", [50, 60, 80, 80], 100)
    (row,) = primary_analysis(method, [ref], margin=0.01, resamples=100, fixed_default=default, static_oracle=oracle)
    assert row["method_normalised"] == pytest.approx(2 / 3) and row["reference_normalised"] == pytest.approx(1 / 6)
    assert row["n_normalised"] == 3


def test_secondary_statistics_match_their_definitions():
    ctrl = scores("RR", [90, 80, 70, 60, 50, 40, 30, 20], 100)
    ref = scores("static", [85, 80, 75, 50, 40, 45, 10, 20], 100)
    (row,) = primary_analysis(ctrl, [ref], margin=0.01, resamples=200)
    d = (ctrl.correct - ref.correct).ravel() / 100
    assert (row["wins"], row["ties"], row["losses"]) == (4, 2, 2)
    assert row["prob_improvement"] == pytest.approx(5 / 8)
    assert row["p_wilcoxon"] == pytest.approx(st.wilcoxon(d[d != 0]).pvalue)
    assert row["method_iqm"] == pytest.approx(np.mean([0.4, 0.5, 0.6, 0.7]))
    assert row["reference_iqm"] == pytest.approx(np.mean([0.4, 0.45, 0.5, 0.75]))
    assert np.isnan(row["training_seed_min_diff"])  # neither side learned
    x = np.random.default_rng(12).random(13)
    assert iqm(x) == evaluation_iqm(x)  # the module's copy is the one implementation's


# ---------------------------------------------------------------------- (h) power
def test_power_counts_only_rejections_in_the_true_direction():
    # Most members a little below 0, a few far above: with few members most samples miss the big
    # ones and the interval lies below 0 although the true mean is above it. That is no power.
    rng = np.random.default_rng(8)
    pilot = np.r_[-0.01 + rng.normal(0, 0.001, 95), np.full(5, 0.19)]
    rows = power_simulation(pilot, delta=0.005, n_members=[10], family_size=1, simulations=300, resamples=200)
    (r,) = rows
    assert r["wrong_direction_rate"] > 0.4 and r["power"] < 0.05
    assert r["false_positive_rate_at_zero"] > 0.4  # the type-I check flags the skew
    assert r["power"] + r["wrong_direction_rate"] <= 1


def test_power_is_small_at_zero_and_grows_with_members():
    rng = np.random.default_rng(9)
    pilot = rng.normal(0, 0.04, 60)
    at_zero = power_simulation(pilot, delta=0.0, n_members=[40], family_size=3, simulations=400, resamples=300)
    # One-sided at delta = 0: about half the two-sided type-I rate (level 0.05 / 3; the bootstrap's
    # tails run a little light at 40 members, so the bounds leave room).
    assert at_zero[0]["power"] <= at_zero[0]["false_positive_rate_at_zero"] <= 0.06 and at_zero[0]["power"] <= 0.04
    rows = power_simulation(pilot, delta=0.02, n_members=[80, 10, 30], family_size=3, simulations=300,
                            resamples=300, seed=1)
    assert [r["n_members"] for r in rows] == [10, 30, 80]
    assert rows[0]["power"] < rows[1]["power"] < rows[2]["power"] and rows[2]["power"] > 0.8
    assert all(r["wrong_direction_rate"] <= 0.01 and r["family_size"] == 3 for r in rows)
    assert smallest_n(rows, 0.8) == 80 and smallest_n(rows, 0.999) is None
    down = power_simulation(-pilot, delta=-0.02, n_members=[80], family_size=3, simulations=300, resamples=300,
                            seed=1)
    assert down[0]["power"] == pytest.approx(rows[2]["power"], abs=0.08)


def test_smallest_n_needs_every_larger_size_to_reach_the_target():
    rows = [{"n_members": n, "power": p, "delta": 0.02, "family_size": 12, "alpha": 0.05}
            for n, p in [(20, 0.81), (40, 0.78), (60, 0.85), (80, 0.9)]]
    assert smallest_n(rows) == 60
    with pytest.raises(ValueError, match="several delta"):
        smallest_n(rows + [{**rows[0], "delta": 0.01}])
    with pytest.raises(ValueError, match="target must be a number strictly between 0 and 1, got 80"):
        smallest_n(rows, 80)


def test_power_simulation_refuses_bad_arguments():
    pilot = [0.01, -0.02, 0.03]
    kw = {"delta": 0.02, "n_members": [10], "family_size": 3, "simulations": 10, "resamples": 100}
    with pytest.raises(ValueError, match="no spread"):
        power_simulation([0.01, 0.01], **kw)
    with pytest.raises(ValueError, match="at least 2 finite"):
        power_simulation([0.01, float("nan")], **kw)
    with pytest.raises(ValueError, match=r"resamples must be at least 1 / \(alpha / family_size\) = 60 .*got 50"):
        power_simulation(pilot, **{**kw, "resamples": 50})
    with pytest.raises(ValueError, match="n_members entries must be an integer >= 2, got 1"):
        power_simulation(pilot, **{**kw, "n_members": [1, 10]})
    with pytest.raises(ValueError, match="family_size must be an integer >= 1, got 0"):
        power_simulation(pilot, **{**kw, "family_size": 0})
    with pytest.raises(ValueError, match="alpha must be a number strictly between 0 and 1, got 5"):
        power_simulation(pilot, **kw, alpha=5)


def test_a_seed_level_caps_power_that_more_members_cannot_buy():
    # A meta-training seed shifts every member alike: with its spread as large as the difference,
    # power stays far from 1 however many members are drawn, and more seeds restore it.
    rng = np.random.default_rng(10)
    pilot = rng.normal(0, 0.02, 80)
    kw = {"delta": 0.01, "family_size": 3, "simulations": 300, "resamples": 300, "seed": 2}
    without = power_simulation(pilot, n_members=[400], **kw)[0]
    few = power_simulation(pilot, n_members=[400], seed_sd=0.01, train_seeds=3, **kw)[0]
    many = power_simulation(pilot, n_members=[400], seed_sd=0.01, train_seeds=40, **kw)[0]
    assert without["power"] > 0.95 and (without["seed_sd"], without["train_seeds"]) == (0.0, 1)
    assert few["power"] < 0.6 < many["power"]
    assert (few["seed_sd"], few["train_seeds"]) == (0.01, 3)
    with pytest.raises(ValueError, match="train_seeds must be an integer >= 2, got 1"):
        power_simulation(pilot, n_members=[10], seed_sd=0.01, **kw)
    with pytest.raises(ValueError, match="seed_sd must be >= 0"):
        power_simulation(pilot, n_members=[10], seed_sd=-0.01, train_seeds=5, **kw)
    with pytest.raises(ValueError, match="several seed_sd"):
        smallest_n([without, few])
