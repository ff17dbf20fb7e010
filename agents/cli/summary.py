"""What ``hptune train`` reports of a run: the tables of its comparison, its schedules as text, and its plots."""

from __future__ import annotations

import numpy as np

import hpenv
from agents.cli.run_folder import RunFolder
from agents.engine import EpisodeRecord
from agents.evaluation import around_the_change, format_summary, response_to_the_change, summarize

__all__ = ["first_name", "summary_table", "paired_text", "analysis_text", "schedule_text", "plot_run",
           "response_text", "plot_around_change"]

#: Steps around a stream's change that ``around_change.png`` shows (0: the first step on changed data).
AROUND_THE_CHANGE = range(-3, 5)


def first_name(results: dict[str, list]) -> str:
    return next(iter(results))


def paired_text(results: dict[str, list[EpisodeRecord]], references: list[str],
                members: list[str] | None = None) -> str:
    """Every other method against each reference on test accuracy: paired child by child, or with
    ``members`` (results in (member, seed) order) at member level, as ``hptune bench --v2`` reports a
    suite (seeds averaged within a member, members resampled, Wilcoxon over members)."""
    from agents.bench.member_stats import member_comparison
    from agents.bench.stats import difference_text, paired_comparison

    def compare(x: list[EpisodeRecord], y: list[EpisodeRecord]) -> dict:
        if members is None:
            return paired_comparison([r.test_accuracy for r in x], [r.test_accuracy for r in y])
        per = len(x) // len(members)
        return member_comparison(*({m: np.array([[r.test_accuracy for r in res[i * per:(i + 1) * per]]])
                                    for i, m in enumerate(members)} for res in (x, y)))

    ci, counts = ("paired 95% CI", "wins/ties/losses") if members is None else ("member-level 95% CI", "members W/T/L")
    lines = [f"| method | reference | difference, points [{ci}] | {counts} | Wilcoxon p |", "|---|---|---|---|---|"]
    for name, res in results.items():
        if name in references:
            continue
        for ref in references:
            c = compare(res, results[ref])
            lines.append(f"| {name} | {ref.split(' (')[0]} | {difference_text(c)} | "
                         f"{c['wins']}/{c['ties']}/{c['losses']} | {c['p']:.2g} |")
    return "\n".join(lines)


def analysis_text(rows: list[dict], described: dict[str, str], training_seed: int | None) -> str:
    """A v3 comparison: the registered primary analysis' rows (simultaneous intervals, verdicts), and what each
    reference does. ``training_seed``: the controller's one meta-training seed (None: it learned nothing)."""
    seeds = (f"at one meta-training seed ({training_seed}): the spread between meta-training seeds is not in these "
             f"intervals" if training_seed is not None else "(the controller learned nothing)")
    first = rows[0]
    lines = [f"primary analysis over {first['n_members']} members {seeds}; {1 - first['alpha']:.0%} simultaneous "
             f"intervals over the {len(rows)} references (max-|T| bootstrap-t, {first['resamples']} replicates), "
             f"equivalence margin {100 * first['margin']:g} point", "",
             "| method | reference | difference, points [simultaneous CI] | verdict | members W/T/L | p (adjusted) |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['method']} | {r['reference']} | {100 * r['mean_diff']:+.2f} [{100 * r['ci_low']:+.2f}, "
                     f"{100 * r['ci_high']:+.2f}] | {r['verdict']} | {r['wins']}/{r['ties']}/{r['losses']} | "
                     f"{r['p_holm']:.2g} |")
    lines += ["", *(f"- {name}: {what}" for name, what in described.items())]
    return "\n".join(lines)


def summary_table(results: dict[str, list[EpisodeRecord]]) -> str:
    lines = ["| policy | test accuracy, mean [95% CI] | return, mean [95% CI] | diverged | SGD steps |",
             "|---|---|---|---|---|"]
    for name, res in results.items():
        acc = summarize([r.test_accuracy for r in res])
        ret = summarize([r.episode_return for r in res])
        lines.append(f"| {name} | {format_summary(acc)} | {format_summary(ret)} | "
                     f"{sum(r.diverged for r in res)}/{len(res)} | {res[0].sgd_steps if res else 0} |")
    return "\n".join(lines)


def schedule_text(result: EpisodeRecord, names) -> str:
    return "\n".join(
        f"  t={t + 1:2d} " + " ".join(f"{n}={s[n]:g}" for n in names) + f"  val_acc={s['val_accuracy']:.4f}"
        for t, s in enumerate(result.schedule)
    )


def _moving_mean_std(values, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Centred moving mean and standard deviation of ``values`` (the window shrinks at the ends)."""
    y = np.asarray(values, dtype=np.float64)
    half = window // 2
    parts = [y[max(0, i - half): i + half + 1] for i in range(len(y))]
    return np.array([p.mean() for p in parts]), np.array([p.std() for p in parts])


def plot_run(run: RunFolder, history: list[dict], result: EpisodeRecord | dict[str, EpisodeRecord] | None, names,
             results: dict[str, list[EpisodeRecord]] | None = None, space: hpenv.HPSpace | None = None) -> None:
    """``learning_curve.png`` (training return per update, smoothed, and the final comparison's
    returns) and ``schedule.png`` (``result``'s hyper-parameters and validation accuracy per step).

    ``result``: one child, or several by label (one line each: children of members that differ).
    ``results``: the final comparison by policy, first the trained one (as ``cmd_train`` builds it).
    ``space``: the hyper-parameter space; each schedule panel then spans its grid.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    points = [(h.get("time/episodes", i), h.get("rollout/ep_return_mean", np.nan)) for i, h in enumerate(history)]
    points = [(x, y) for x, y in points if np.isfinite(y)]
    if points:
        x, y = (np.array(v, dtype=np.float64) for v in zip(*points))
        # one update's mean return swings by tens of points from the next: the trend is the smoothed line
        window = max(3, len(y) // 5) | 1
        mean, std = _moving_mean_std(y, window)
        fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
        ax.plot(x, y, ".", color="C0", alpha=0.3, markersize=4, label="training, each update (its episodes' mean)")
        ax.plot(x, mean, "-", color="C0", linewidth=2, label=f"training, moving mean over {window} updates")
        ax.fill_between(x, mean - std, mean + std, color="C0", alpha=0.2, linewidth=0, label="\u00b1 1 s.d.")
        if results:  # the final comparison: the trained policy at the end of training, the others as levels
            first, *others = results
            s = summarize([r.episode_return for r in results[first]])
            ax.errorbar([x[-1]], [s["mean"]], yerr=[[s["mean"] - s["ci_low"]], [s["ci_high"] - s["mean"]]],
                        fmt="o", color="C3", capsize=4, label=f"{first} on the compared children (95% CI)")
            for k, name in enumerate(others):
                level = float(np.mean([r.episode_return for r in results[name]]))
                ax.axhline(level, color=f"C{k + 4}", linestyle="--", linewidth=1, label=name.split(" (")[0])
        ax.set_xlabel("training episodes")
        ax.set_ylabel("mean episode return\n(final - initial val acc)")
        ax.set_title("learning curve")
        fig.legend(fontsize=7, loc="outside lower center", ncols=2)
        fig.savefig(run.path / "learning_curve.png", dpi=100)
        plt.close(fig)
    if result is not None:
        children = result if isinstance(result, dict) else {None: result}
        fig, axes = plt.subplots(len(names) + 1, 1, figsize=(7, 1.4 * (len(names) + 1) + 0.5 + 0.2 * len(children)),
                                 sharex=True, layout="constrained")
        for k, (label, child) in enumerate(children.items()):
            t = np.arange(1, len(child.schedule) + 1)
            axes[0].plot(t, [s["val_accuracy"] for s in child.schedule], marker="o", color=f"C{k}", label=label)
            if child.change_step is not None:  # a stream's change: between the last step on old data and the first on new
                for ax in axes:
                    ax.axvline(child.change_step - 0.5, color=f"C{k}", linestyle=":", linewidth=1)
            for ax, n in zip(axes[1:], names):  # nudged apart a little, so that equal choices stay visible
                offset = (k - (len(children) - 1) / 2) * 0.06
                ax.step(t + offset, [s[n] for s in child.schedule], where="mid", marker=".", color=f"C{k}")
        axes[0].set_ylabel("val acc", fontsize=8)
        for ax, n in zip(axes[1:], names):
            ax.set_ylabel(n.replace("_", " "), fontsize=8)
            if n == "learning_rate":
                ax.set_yscale("log")
            if space is not None and n in space:  # the whole grid, so that a constant shows where it sits
                grid = np.asarray(space.params[space.names.index(n)].values, dtype=np.float64)
                ax.set_yticks(grid, [f"{v:g}" for v in grid], fontsize=7)
                ax.minorticks_off()
                lo, hi = grid.min(), grid.max()
                pad = (hi - lo) * 0.1 or 0.5
                ax.set_ylim(*((lo / 1.6, hi * 1.6) if n == "learning_rate" else (lo - pad, hi + pad)))
        axes[-1].set_xlabel("env step")
        axes[-1].xaxis.set_major_locator(MaxNLocator(integer=True))
        who = first_name(results) if results else "the policy"
        if isinstance(result, dict):
            fig.suptitle(f"hyper-parameters chosen by {who}\non members that differ (first seed each)", fontsize=10)
            fig.legend(fontsize=7, loc="outside lower center", ncols=2)
        else:
            fig.suptitle(f"hyper-parameters chosen by {who}\non its first compared child (seed {result.seed})",
                         fontsize=10)
        fig.savefig(run.path / "schedule.png", dpi=100)
        plt.close(fig)


def response_text(results: dict[str, list[EpisodeRecord]], names) -> str:
    """On a stream task, each policy's response to the data's change as a markdown table: per
    hyper-parameter, the share of children that change it at the first action after a step on changed data,
    and at the same env step among children whose change came at another step
    ([`agents.evaluation.response_to_the_change`][]); a policy that follows the clock has the two alike."""
    lines = ["response to the data's change: share of children that change each hyper-parameter at the first "
             "action after a step on changed data / at the same env step where the change came at another step",
             "", "| policy | " + " | ".join(n.replace("_", " ") for n in names) + " |",
             "|---|" + "---|" * len(names)]
    for policy, records in results.items():
        cells = [response_to_the_change(records, n) for n in names]
        lines.append(f"| {policy} | " + " | ".join(f"{a:.2f} / {b:.2f}" for a, b in cells) + " |")
    return "\n".join(lines)


def plot_around_change(path, results: dict[str, list[EpisodeRecord]], names, title: str) -> None:
    """Each policy's mean hyper-parameters at the steps around its children's data change (a panel per
    hyper-parameter, the learning rate's geometric mean), written to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(names), 1, figsize=(7, 1.6 * len(names) + 0.8), sharex=True, layout="constrained",
                             squeeze=False)
    for j, (policy, records) in enumerate(results.items()):
        cells = around_the_change(records, names)
        ks = [k for k in AROUND_THE_CHANGE if k in cells]
        for ax, n in zip(axes[:, 0], names):
            v = [np.asarray(cells[k][n]["values"]) for k in ks]
            mean = [np.exp(np.log(x).mean()) if n == "learning_rate" else x.mean() for x in v]
            ax.plot(ks, mean, marker="os^vD<>"[j % 7], color=f"C{j}", label=policy if n == names[0] else None)
    for ax, n in zip(axes[:, 0], names):
        ax.axvline(-0.5, color="grey", linestyle=":", linewidth=1)
        ax.set_ylabel(n.replace("_", " "), fontsize=8)
        if n == "learning_rate":
            ax.set_yscale("log")
    axes[-1, 0].set_xlabel("env step relative to the change (0: first step on changed data)")
    fig.suptitle(title, fontsize=10)
    fig.legend(fontsize=7, loc="outside lower center", ncols=2)
    fig.savefig(path, dpi=100)
    plt.close(fig)
