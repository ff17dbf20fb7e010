"""Benchmark v1's plot: accuracy against compute, one marker per method over the (test member, seed) pairs."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from agents.bench.plots import method_colors, pyplot, save_with_one_legend
from agents.bench.stats import summary_table

__all__ = ["plot_accuracy_vs_compute"]


def plot_accuracy_vs_compute(rows: Sequence[dict], path: Path) -> None:
    """One panel per suite: mean test accuracy against child SGD steps per result.

    A marker sits at the per-result compute (deployed child + search), nudged sideways per method
    so that equal costs stay readable; its bar spans the per-seed means (each over the test
    members). A thin line runs right to the total with the whole one-off cost added (selection,
    meta-training), so every cost shows. (Benchmark v2 draws its members with
    [`agents.bench.plots.plot_member_accuracy_vs_compute`][].)
    """
    matplotlib, plt = pyplot()
    stats = summary_table(rows)
    if not stats:
        return
    methods = list(dict.fromkeys(r["method"] for r in rows))
    colors = method_colors(matplotlib, methods)
    n = len(stats)
    fig, axes = plt.subplots(1, n, figsize=(5.5 * n, 4.2), squeeze=False)
    for ax, (suite, ms) in zip(axes.flat, stats.items()):
        for m, s in ms.items():
            nudge = 1.0 + 0.04 * (methods.index(m) - (len(methods) - 1) / 2)
            per_result = max(s["deployed"] + s["search"], 1.0) * nudge
            total = per_result + s["one_off"]
            marker = "D" if s["source"] == "user" else ("*" if m.startswith("RR") else "o")
            yerr = [[s["mean"] - s["seed_min"]], [s["seed_max"] - s["mean"]]]
            ax.errorbar(per_result, s["mean"], yerr=yerr, fmt=marker, color=colors[m], capsize=2, label=m,
                        ms=9 if marker == "*" else 6)
            if total > per_result:
                ax.plot([per_result, total], [s["mean"], s["mean"]], color=colors[m], lw=0.8, alpha=0.6)
                ax.plot([total], [s["mean"]], "|", color=colors[m], ms=8)
        ax.set_xscale("log")
        ax.set_title(suite)
        ax.set_xlabel("child SGD steps per result (marker); + one-off cost (line end)")
        ax.text(0.01, 0.01, "bars: range of per-seed means", transform=ax.transAxes, fontsize=7, alpha=0.7)
        ax.set_ylabel("test accuracy")
        ax.grid(alpha=0.3)
    save_with_one_legend(plt, fig, axes, path)
