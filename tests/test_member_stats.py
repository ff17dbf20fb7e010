"""Benchmark v2's member-level statistics: known answers on constructed results."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from scipy import stats as st

from agents.bench.common import V2_COLUMNS, read_v2_rows, write_csv
from agents.bench.member_stats import (PAIRED_COLUMNS, family_table, member_comparison, member_matrix, paired_rows,
                                       power_analysis)
from agents.bench.plots import (method_styles, panel_grid, plot_member_accuracy_vs_compute,
                                plot_member_differences, pyplot)
from agents.bench.stats import holm


def make_rows(method, accuracy, *, training_seeds=(-1,), suite="v2/s", split="test", one_off=0, search=0):
    """Rows of ``method``: ``accuracy[member, training seed index, eval seed]``."""
    rows = []
    for i, per_member in enumerate(np.asarray(accuracy)):
        for t, per_seed in zip(training_seeds, per_member):
            for s, a in enumerate(per_seed):
                rows.append({"suite": suite, "split": split, "member": f"{suite}/{i}", "seed": s, "method": method,
                             "method_version": "1", "training_seed": t, "test_accuracy": float(a),
                             "val_accuracy": float(a), "deployed_sgd_steps": 100, "search_sgd_steps": search,
                             "one_off_sgd_steps": one_off, "one_off_wall_time_s": 1.0, "wall_time_s": 0.1,
                             "diverged": False, "source": "built-in"})
    return rows


def test_member_matrix_shapes_and_errors():
    rng = np.random.default_rng(0)
    rows = make_rows("RR", rng.random((4, 3, 2)), training_seeds=(0, 1, 2)) + make_rows("static", rng.random((4, 1, 2)))
    m = member_matrix(rows, "RR")
    assert len(m) == 4 and all(a.shape == (3, 2) for a in m.values())
    assert member_matrix(rows, "static")["v2/s/0"].shape == (1, 2)
    with pytest.raises(ValueError, match="'nope' has no rows"):
        member_matrix(rows, "nope")
    with pytest.raises(ValueError, match="two results"):
        member_matrix(rows + rows[:1], "RR")
    with pytest.raises(ValueError, match="lacks"):
        member_matrix(rows[1:], "RR")


def test_known_difference_recovered_and_wilcoxon_matches_scipy():
    rng = np.random.default_rng(1)
    base = rng.uniform(0.6, 0.9, (60, 1, 1))
    ref = base + rng.normal(0, 0.01, (60, 1, 3))
    method = base + 0.03 + rng.normal(0, 0.02, (60, 3, 3))  # 3 training seeds x 3 evaluation seeds
    x = member_matrix(make_rows("RR", method, training_seeds=(0, 1, 2)), "RR")
    y = member_matrix(make_rows("static", ref), "static")
    c = member_comparison(x, y, resamples=4000)
    d = method.mean(axis=(1, 2)) - ref.mean(axis=(1, 2))
    assert c["mean_diff"] == pytest.approx(d.mean())
    assert c["ci_low"] < 0.03 < c["ci_high"] and c["ci_low"] > 0
    assert c["p"] == pytest.approx(st.wilcoxon(d).pvalue)
    assert (c["wins"], c["ties"], c["losses"]) == (int((d > 0).sum()), 0, int((d < 0).sum()))
    assert c["prob_improvement"] == pytest.approx((d > 0).mean())
    assert c["method_mean"] == pytest.approx(method.mean()) and c["reference_mean"] == pytest.approx(ref.mean())
    assert c["training_seed_min_diff"] <= c["mean_diff"] <= c["training_seed_max_diff"]
    assert member_comparison(y, y)["p"] == 1.0 and member_comparison(y, y)["ties"] == 60
    assert member_comparison(x, y, resamples=4000) == c  # seeded
    with pytest.raises(ValueError, match="same members"):
        member_comparison(x, {k: y[k] for k in list(y)[1:]})
    with pytest.raises(ValueError, match="confidence must be"):
        member_comparison(x, y, confidence=95)


def test_interval_includes_training_seed_spread():
    # three meta-training seeds that disagree by +-4 points on every member, members that agree closely
    rng = np.random.default_rng(2)
    offsets = np.array([-0.04, 0.0, 0.04])[None, :, None]
    method = 0.8 + offsets + rng.normal(0, 0.005, (80, 3, 2))
    ref = 0.8 + rng.normal(0, 0.005, (80, 1, 2))
    y = member_matrix(make_rows("static", ref), "static")
    learned = member_comparison(member_matrix(make_rows("RR", method, training_seeds=(0, 1, 2)), "RR"), y)
    # the same numbers with the training seeds' spread ignored: the seed-mean as if one deployed agent
    pooled = member_comparison(member_matrix(make_rows("RR", method.mean(axis=1, keepdims=True)), "RR"), y)
    assert learned["mean_diff"] == pytest.approx(pooled["mean_diff"])
    width_learned = learned["ci_high"] - learned["ci_low"]
    width_pooled = pooled["ci_high"] - pooled["ci_low"]
    assert width_learned > 5 * width_pooled
    # a mean of 3 seeds drawn from {-4, 0, +4} points, shared by every member: about +-3.7 points
    assert width_learned > 0.05
    assert learned["training_seed_min_diff"] == pytest.approx(-0.04, abs=0.003)
    assert learned["training_seed_max_diff"] == pytest.approx(0.04, abs=0.003)
    assert np.isnan(pooled["training_seed_min_diff"])


def suite_rows(rng, split="test"):
    base = rng.uniform(0.6, 0.9, (30, 1, 2))
    return (make_rows("RR", base + 0.05 + rng.normal(0, 0.01, (30, 3, 2)), training_seeds=(0, 1, 2), one_off=30000,
                      split=split)
            + make_rows("static", base, split=split, one_off=5000)
            + make_rows("schedule", base + 0.002 + rng.normal(0, 0.01, (30, 1, 2)), split=split, one_off=8000)
            + make_rows("random search", base - 0.01 + rng.normal(0, 0.01, (30, 1, 2)), split=split, search=800)
            + make_rows("default", base - 0.1, split=split))


def test_holm_over_the_family_only():
    rng = np.random.default_rng(3)
    rows = suite_rows(rng) + suite_rows(rng, "transfer")
    family = family_table(rows, "v2/s", "RR", ["static", "schedule"], resamples=2000)
    assert [t["reference"] for t in family] == ["static", "schedule"]
    assert [t["p_holm"] for t in family] == pytest.approx(holm([t["p"] for t in family]))
    assert all(t["verdict"] == "better" for t in family)
    out = paired_rows(rows, {"v2/s": ("RR", ("static", "schedule"))}, resamples=2000)
    assert {(r["split"], r["method"], r["reference"]) for r in out} == {
        (split, m, ref) for split in ("test", "transfer")
        for m, ref in [("RR", "static"), ("RR", "schedule"), ("static", "schedule"), ("random search", "static"),
                       ("random search", "schedule"), ("default", "static"), ("default", "schedule")]}
    test_family = [r for r in out if r["split"] == "test" and r["in_family"]]
    assert [r["p_holm"] for r in test_family] == [t["p_holm"] for t in family]  # adding methods changes nothing
    outside = [r for r in out if not r["in_family"]]
    assert all(r["p_holm"] == "" and r["verdict"] == "exploratory" for r in outside)
    assert all(set(PAIRED_COLUMNS) <= set(r) for r in out)
    assert all(r["training_seed_min_diff"] == "" for r in outside)  # no side is meta-trained
    with pytest.raises(ValueError, match="no entry for suite"):
        paired_rows(rows, {"v2/other": ("RR", ("static",))})


def test_power_analysis_level_growth_and_normal_formula():
    rng = np.random.default_rng(4)
    d = rng.normal(0.01, 0.05, 400)
    null = power_analysis(d, delta=0.0, family_size=1, n_grid=(30, 100), simulations=4000)
    assert all(abs(t["power"] - 0.05) < 0.015 for t in null.table)  # the level, when there is nothing to find
    pa = power_analysis(d, delta=0.02, family_size=4, n_grid=tuple(range(20, 141, 5)), simulations=2000)
    assert pa.level == pytest.approx(0.0125) and pa.sd == pytest.approx(d.std(ddof=1))
    powers = [t["power"] for t in pa.table]
    assert powers[0] < 0.4 < 0.95 < powers[-1]
    assert all(b >= a - 0.03 for a, b in zip(powers, powers[1:]))  # rising with n, up to simulation noise
    assert pa.required_n is not None and abs(pa.required_n - pa.normal_n) <= 0.15 * pa.normal_n
    assert power_analysis(d, family_size=4, n_grid=(50,)) == power_analysis(d, family_size=4, n_grid=(50,))
    with pytest.raises(ValueError, match="family_size must be an integer >= 1, got 0"):
        power_analysis(d, family_size=0)


def test_plots_write_pngs_and_v2_rows_round_trip(tmp_path):
    rng = np.random.default_rng(5)
    rows = suite_rows(rng)
    write_csv(rows, tmp_path / "results.csv", V2_COLUMNS)
    read = read_v2_rows(tmp_path / "results.csv")
    assert len(read) == len(rows) and read[0]["training_seed"] == 0 and read[0]["diverged"] is False
    assert member_matrix(read, "RR")["v2/s/0"] == pytest.approx(member_matrix(rows, "RR")["v2/s/0"], abs=1e-6)
    plot_member_accuracy_vs_compute(read, tmp_path / "acc.png")
    with open(tmp_path / "members.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["task_id", "train_fraction", "base"])
        w.writeheader()
        w.writerows({"task_id": f"v2/s/{i}", "train_fraction": rng.random(), "base": ["digits", "wine"][i % 2]}
                    for i in range(30))
    plot_member_differences(read, tmp_path / "members.csv", "RR", ["static", "schedule"], "train_fraction",
                            tmp_path / "numeric.png")
    plot_member_differences(read, tmp_path / "members.csv", "RR", ["static"], "base", tmp_path / "category.png")
    for name in ("acc.png", "numeric.png", "category.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and (tmp_path / name).stat().st_size > 5000
    with pytest.raises(ValueError, match="factor must be a column"):
        plot_member_differences(read, tmp_path / "members.csv", "RR", ["static"], "width", tmp_path / "x.png")


def test_plots_are_read_at_a_glance_a_grid_of_panels_and_a_colour_and_marker_per_method(tmp_path):
    matplotlib, plt = pyplot()
    methods = [f"method {i}" for i in range(14)]  # a v3 family and the methods beside it
    styles = method_styles(matplotlib, methods)
    assert len({styles[m][0] for m in methods}) == 14  # no two methods share a colour
    assert all(styles[a][1] != styles[b][1] for a, b in zip(methods, methods[1:]))
    fig, axes = panel_grid(plt, 11)
    assert axes.shape == (3, 4) and [ax.get_visible() for ax in axes.flat].count(True) == 11
    plt.close(fig)
    with pytest.raises(ValueError, match="n must be at least 1 panel, got 0"):
        panel_grid(plt, 0)

    # eleven references: rows of four panels, not v2.0's strip of 3,960 x 288 pixels
    rng = np.random.default_rng(6)
    base = rng.uniform(0.6, 0.9, (30, 1, 2))
    rows = make_rows("RR", base + 0.01) + [r for k in range(11) for r in make_rows(f"ref {k}", base + 0.001 * k)]
    with open(tmp_path / "members.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["task_id", "train_fraction"])
        w.writeheader()
        w.writerows({"task_id": f"v2/s/{i}", "train_fraction": rng.random()} for i in range(30))
    plot_member_differences(rows, tmp_path / "members.csv", "RR", [f"ref {k}" for k in range(11)], "train_fraction",
                            tmp_path / "grid.png")
    height, width = matplotlib.image.imread(tmp_path / "grid.png").shape[:2]
    assert width < 1300 and height > 600  # four panels wide, three high

    # accuracy against compute: each method in its own colour and marker, decade tick labels only
    import agents.bench.plots as plots

    drawn = []
    real = plots.save_with_one_legend
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(plots, "save_with_one_legend", lambda plt, fig, axes, path: (drawn.append(fig),
                                                                                 real(plt, fig, axes, path)))
        plot_member_accuracy_vs_compute(suite_rows(rng), tmp_path / "acc.png")
    ax = drawn[0].axes[0]
    points = {c.get_label(): (tuple(c.lines[0].get_color()), c.lines[0].get_marker()) for c in ax.containers}
    assert list(points) == ["RR", "static", "schedule", "random search", "default"]
    assert len({colour for colour, _ in points.values()}) == len({marker for _, marker in points.values()}) == 5
    assert not [t.get_text() for t in ax.xaxis.get_minorticklabels() if t.get_text()]
