"""Benchmark v2's plots (accuracy against compute per member, per-member differences against the references)
and the pieces every benchmark's plots share; v1's pair plot is [`agents.bench.v1.plots`][]."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

from agents.bench.member_stats import member_differences, member_factor, member_matrix, method_summary, read_members

__all__ = ["pyplot", "method_colors", "method_styles", "panel_grid", "save_with_one_legend",
           "plot_member_accuracy_vs_compute", "plot_member_differences"]

#: Markers of `method_styles`, in order (ten shapes told apart at a glance).
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h")


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


def method_styles(matplotlib, methods: Sequence[str]) -> dict[str, tuple]:
    """``{method: (colour, marker)}``, in the order given: tab20's colours (its ten hues first, then
    their light shades) and `MARKERS`, so up to 20 methods each have a colour of their own and
    methods next to each other in the order also differ in marker."""
    cmap = matplotlib.colormaps["tab20"]
    order = [*range(0, 20, 2), *range(1, 20, 2)]
    return {m: (cmap(order[i % 20]), MARKERS[i % len(MARKERS)]) for i, m in enumerate(methods)}


def panel_grid(plt, n: int, *, columns: int = 4, width: float = 3.6, height: float = 3.0, **kwargs):
    """``(fig, axes)``: ``n`` panels in rows of at most ``columns`` (a grid a reader takes in at a
    glance, not a strip), each ``width`` x ``height`` inches; the unused cells of the last row hidden."""
    if n < 1:
        raise ValueError(f"n must be at least 1 panel, got {n!r}")
    cols = min(columns, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False, **kwargs)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes


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
    from matplotlib.ticker import LogLocator, NullFormatter

    styles = method_styles(matplotlib, list(dict.fromkeys(r["method"] for r in rows)))
    fig, axes = panel_grid(plt, len(suites), columns=2, width=5.5, height=4.2)
    for ax, suite in zip(axes.flat, suites):
        for m, s in method_summary(rows, suite, split).items():
            color, marker = styles[m]
            yerr = [[s["mean"] - s["seed_min"]], [s["seed_max"] - s["mean"]]]
            ax.errorbar(max(s["compute"], 1.0), s["mean"], yerr=yerr, fmt=marker, color=color, capsize=2, label=m,
                        ms=7, mec="black" if s["source"] == "user" else color)
            if s["one_off"] > 0:
                ax.plot([max(s["deployed"] + s["search"], 1.0), s["compute"]], [s["mean"]] * 2, color=color,
                        lw=0.8, alpha=0.6)
        ax.set_xscale("log")
        # decades only: the minor ticks' own labels (2x10^3, 3x10^3, ...) collide on a short axis
        ax.xaxis.set_major_locator(LogLocator(base=10))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_title(f"{suite} ({split})")
        ax.set_xlabel("child SGD steps per deployed child\n(deployed + search + one-off share)")
        ax.set_ylabel("member-level mean test accuracy")
        ax.text(0.01, 0.01, "bars: range over meta-training seeds; black edge: a user's method",
                transform=ax.transAxes, fontsize=7, alpha=0.7)
        ax.grid(alpha=0.3)
    save_with_one_legend(plt, fig, axes, path)


def plot_member_differences(rows: Sequence[dict], members: Sequence[dict] | Path | str, method: str,
                            references: Sequence[str], factor: str, path: Path) -> None:
    """A panel per reference, in rows of four: ``method``'s member-level difference against it on each
    member (seeds averaged), against one ``factor`` of ``members.csv`` (its rows, or its path); a
    categorical factor's members are grouped by value. A zero line marks no difference."""
    matplotlib, plt = pyplot()
    if not references:
        raise ValueError(f"references must name at least one method, got {references!r}")
    if isinstance(members, (str, Path)):
        members = read_members(Path(members))
    values = member_factor(members, factor)
    x = member_matrix(rows, method)
    fig, axes = panel_grid(plt, len(references), sharey=True)
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
    for row in axes:
        row[0].set_ylabel("member-level difference, points")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
