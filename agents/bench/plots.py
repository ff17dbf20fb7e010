"""Benchmark v2's plots (accuracy against compute per member, per-member differences against the references)
and the pieces every benchmark's plots share; v1's pair plot is [`agents.bench.v1.plots`][]."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from agents.bench.member_stats import member_differences, member_factor, member_matrix, method_summary, read_members

__all__ = ["pyplot", "method_colors", "save_with_one_legend", "plot_member_accuracy_vs_compute",
           "plot_member_differences"]


def pyplot():
    """matplotlib and its pyplot on the Agg backend (files only: runs have no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return matplotlib, plt


def method_colors(matplotlib, methods: Sequence[str]) -> dict:
    """One colour per method, in the order given (tab10, cycled)."""
    cmap = matplotlib.colormaps["tab10"]
    return {m: cmap(i % 10) for i, m in enumerate(methods)}


def save_with_one_legend(plt, fig, axes, path: Path) -> None:
    """One legend right of the panels, each method once, then the PNG."""
    seen: dict = {}
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(lab, h)
    fig.tight_layout()
    fig.legend(seen.values(), seen.keys(), loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    fig.savefig(path, dpi=80, bbox_inches="tight")
    plt.close(fig)


def plot_member_accuracy_vs_compute(rows: Sequence[dict], path: Path, split: str = "test") -> None:
    """Benchmark v2, one panel per suite: each method at its member-level mean test accuracy on ``split``
    against its total compute per deployed child (deployed + search SGD steps + its one-off cost over
    the children it deployed), log x. A learned method's bar spans its per-training-seed means; a
    thin line from deployed + search to the marker shows the one-off share."""
    matplotlib, plt = pyplot()
    suites = list(dict.fromkeys(r["suite"] for r in rows if r["split"] == split))
    if not suites:
        return
    colors = method_colors(matplotlib, list(dict.fromkeys(r["method"] for r in rows)))
    fig, axes = plt.subplots(1, len(suites), figsize=(5.5 * len(suites), 4.2), squeeze=False)
    for ax, suite in zip(axes.flat, suites):
        for m, s in method_summary(rows, suite, split).items():
            marker = "D" if s["source"] == "user" else ("*" if s["learned"] else "o")
            yerr = [[s["mean"] - s["seed_min"]], [s["seed_max"] - s["mean"]]]
            ax.errorbar(max(s["compute"], 1.0), s["mean"], yerr=yerr, fmt=marker, color=colors[m], capsize=2,
                        label=m, ms=9 if marker == "*" else 6)
            if s["one_off"] > 0:
                ax.plot([max(s["deployed"] + s["search"], 1.0), s["compute"]], [s["mean"]] * 2, color=colors[m],
                        lw=0.8, alpha=0.6)
        ax.set_xscale("log")
        ax.set_title(f"{suite} ({split})")
        ax.set_xlabel("child SGD steps per deployed child (deployed + search + one-off share)")
        ax.set_ylabel("member-level mean test accuracy")
        ax.text(0.01, 0.01, "bars: range over meta-training seeds", transform=ax.transAxes, fontsize=7, alpha=0.7)
        ax.grid(alpha=0.3)
    save_with_one_legend(plt, fig, axes, path)


def plot_member_differences(rows: Sequence[dict], members: Sequence[dict] | Path | str, method: str,
                            references: Sequence[str], factor: str, path: Path) -> None:
    """A panel per reference: ``method``'s member-level difference against it on each member (seeds
    averaged), against one ``factor`` of ``members.csv`` (its rows, or its path); a categorical factor's
    members are grouped by value. A zero line marks no difference."""
    matplotlib, plt = pyplot()
    if not references:
        raise ValueError(f"references must name at least one method, got {references!r}")
    if isinstance(members, (str, Path)):
        members = read_members(Path(members))
    values = member_factor(members, factor)
    x = member_matrix(rows, method)
    fig, axes = plt.subplots(1, len(references), figsize=(4.5 * len(references), 3.6), squeeze=False, sharey=True)
    for ax, ref in zip(axes.flat, references):
        diffs = member_differences(x, member_matrix(rows, ref))
        ordered = sorted((values[m], d) for m, d in diffs.items() if m in values)
        if ordered and isinstance(ordered[0][0], str):
            labels = list(dict.fromkeys(v for v, _ in ordered))
            ax.set_xticks(range(len(labels)), labels, rotation=30, fontsize=8)
            ax.set_xlim(-0.5, len(labels) - 0.5)
            xs = [labels.index(v) for v, _ in ordered]
        else:
            xs = [v for v, _ in ordered]
        ax.scatter(xs, [100 * d for _, d in ordered], s=12, alpha=0.7)
        ax.axhline(0.0, color="black", lw=0.8)
        ax.set_title(f"{method} - {ref}", fontsize=9)
        ax.set_xlabel(factor)
        ax.grid(alpha=0.3)
    axes.flat[0].set_ylabel("member-level difference, points")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
