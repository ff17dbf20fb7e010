"""Benchmark v2's reports: ``paired.csv``, ``results.md`` and the plots of one suite, written once
from its rows ([`write_suite_report`][agents.bench.report_v2.write_suite_report]). Pure analysis on top of
[`agents.bench.member_stats`][]."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from agents.bench.common import write_atomic, write_csv
from agents.bench.member_stats import PAIRED_COLUMNS, method_summary, paired_rows, read_members
from agents.bench.plots import plot_member_accuracy_vs_compute, plot_member_differences

__all__ = ["write_suite_report", "ledger_table_md", "FACTORS_PLOTTED"]

#: Factors of members.csv the per-member difference plots order members by.
FACTORS_PLOTTED = ("label_noise", "train_fraction", "imbalance", "feature_noise")


def _pts(x) -> str:
    return f"{100 * float(x):+.2f}"


def _p(x) -> str:
    return "" if x in ("", None) else f"{float(x):.2g}"


def _gates_md(gates: Sequence[dict]) -> list[str]:
    """The static gate asks for an interval above 0; the dynamic one also for its minimum gain."""
    out = ["| gate | method | over | gain (points) | 95% interval | p (Wilcoxon) | members | passes |",
           "|---|---|---|---:|---|---:|---:|---|"]
    for g in gates:
        rule = f"gain >= {_pts(g['threshold'])}, interval above 0" if g["gate"] == "dynamic" else "interval above 0"
        passes = g["passes"] if g["gate"] == "dynamic" else g["ci_low"] > 0
        out.append(f"| {g['gate']} | {g['method']} | {g['reference']} | {_pts(g['gain'])} | "
                   f"[{_pts(g['ci_low'])}, {_pts(g['ci_high'])}] | {_p(g['p_wilcoxon'])} | {g['n_members']} | "
                   f"{'yes' if passes else 'no'} ({rule}) |")
    return out


def _power_md(power: Sequence[dict]) -> list[str]:
    out = ["| proxy (selection members, seed B) | sd (points) | members needed | normal approximation | "
           "power at the registered test members |", "|---|---:|---:|---:|---:|"]
    for p in power:
        out.append(f"| {p['proxy']} | {100 * p['sd']:.2f} | {p['required_n']} | {float(p['normal_n']):.0f} | "
                   f"{float(p['power_at_registered']):.2f} at {p['registered_test_members']} |")
    return out


def _family_md(rows: Sequence[dict]) -> list[str]:
    out = ["| method | reference | members | difference (points) | 95% interval | training-seed range | "
           "W / T / L | p | p (Holm) | verdict |", "|---|---|---:|---:|---|---|---|---:|---:|---|"]
    for r in rows:
        seeds = (f"[{_pts(r['training_seed_min_diff'])}, {_pts(r['training_seed_max_diff'])}]"
                 if r["training_seed_min_diff"] != "" else "")
        out.append(f"| {r['method']} | {r['reference']} | {r['n_members']} | {_pts(r['mean_diff'])} | "
                   f"[{_pts(r['ci_low'])}, {_pts(r['ci_high'])}] | {seeds} | {r['wins']} / {r['ties']} / "
                   f"{r['losses']} | {_p(r['p'])} | {_p(r['p_holm'])} | {r['verdict']} |")
    return out


def _methods_md(summary: dict[str, dict], notes: dict[str, str]) -> list[str]:
    out = ["| method | test accuracy (member mean) | IQM | training seeds (range of means) | SGD steps per "
           "deployed child: deployed + search + one-off share | note |", "|---|---:|---:|---|---|---|"]
    for m, s in sorted(summary.items(), key=lambda kv: -kv[1]["mean"]):
        seeds = (f"{s['n_training_seeds']} ({100 * s['seed_min']:.2f}-{100 * s['seed_max']:.2f})"
                 if s["learned"] else "")
        out.append(f"| {m} | {100 * s['mean']:.2f} | {100 * s['iqm']:.2f} | {seeds} | "
                   f"{s['deployed']:,.0f} + {s['search']:,.0f} + {s['one_off']:,.0f} | {notes.get(m, '')} |")
    return out


def write_suite_report(folder: Path, plan, protocol, sel: dict, gates: Sequence[dict], power: Sequence[dict],
                       prepared: Sequence, rows: Sequence[dict], *, quick: bool = False) -> None:
    """``paired.csv``, ``results.md`` and the plots of one suite's run folder."""
    folder = Path(folder)
    families = {plan.name: (plan.controller, list(plan.references))}
    present = {r["method"] for r in rows}
    missing = [m for m in plan.methods if m not in present]
    if missing:  # a run over a subset of the family (--methods): compare what is there
        families = {plan.name: (plan.controller if plan.controller in present else sorted(present)[0],
                                [m for m in plan.references if m in present])}
    paired = paired_rows(rows, families, alpha=protocol.statistics.alpha,
                         resamples=protocol.statistics.bootstrap_resamples,
                         confidence=protocol.statistics.confidence) if families[plan.name][1] else []
    write_csv(paired, folder / "paired.csv", PAIRED_COLUMNS)
    notes: dict[str, str] = {}
    for p in prepared:
        if p.method.note and p.method.name not in notes:
            notes[p.method.name] = p.method.note.replace("|", "/")
    splits = list(dict.fromkeys(r["split"] for r in rows))
    lines = [f"# Benchmark v2: {plan.name}", ""]
    if quick:
        lines += ["**Quick rehearsal** (`--quick`): small budgets, deployed on selection members. Not a result; "
                  "its rows carry the hash `" + protocol.hash + "`, which `hptune bench --verify` refuses.", ""]
    lines += [f"Protocol {protocol.version} (`{protocol.path.name}`, sha256 `{protocol.hash}`), status "
              f"{protocol.status}. Episode: {plan.horizon} x {plan.steps_per_action} SGD steps. Evaluation seeds "
              f"{list(protocol.evaluation_seeds)}; meta-trained methods x {protocol.budgets.meta_training_seeds} "
              "seeds. The unit is the member (seeds averaged); intervals: member-level cluster bootstrap that "
              "also resamples meta-training seeds; tests: Wilcoxon over members; Holm over the family only.", "",
              "## Gates (selection members only, measured before any test member ran)", "", *_gates_md(gates), "",
              f"Static tuples: {len(sel['grid'])} (seed A); fixed schedules: {len(sel['family'])} around the best "
              f"{protocol.budgets.schedule_starts} tuples, plus per member a family around its own best "
              f"{protocol.budgets.oracle_schedule_starts}. Oracles chosen on seed A's validation accuracy, scored "
              "on seed B's children (test split).", "",
              "## Power (selection members)", "", *_power_md(power), ""]
    for split in splits:
        fam = [r for r in paired if r["split"] == split and r["in_family"]]
        if fam:
            lines += [f"## The comparison family on {split} members", "", *_family_md(fam), ""]
        lines += [f"## Every method on {split} members", "",
                  *_methods_md(method_summary(rows, plan.name, split), notes), ""]
    write_atomic(folder / "results.md", "\n".join(lines) + "\n")
    test_rows = [r for r in rows if r["split"] == splits[0]]
    plot_member_accuracy_vs_compute(test_rows, folder / "accuracy_vs_compute.png")
    members = read_members(folder / "members.csv")
    controller, references = families[plan.name]
    if references:
        for factor in FACTORS_PLOTTED:
            plot_member_differences(test_rows, members, controller, references, factor,
                                    folder / f"differences_by_{factor}.png")


def ledger_table_md(ledger: Path | None = None) -> str:
    """Every version of every method ever scored on v2 test members, from the ledger (default:
    [`agents.bench.ledger.find_ledger`][]; the README's table)."""
    from agents.bench.ledger import scored_versions

    out = ["| suite | method | version | fingerprint | first scored | runs | test accuracy (members) |",
           "|---|---|---|---|---|---:|---:|"]
    for v in scored_versions(ledger):
        e = v["last"]
        out.append(f"| {v['suite']} | {v['method']} | {v['method_version']} | `{v['method_fingerprint']}` | "
                   f"{v['first_date'][:10]} | {v['runs']} | {100 * e.mean_test_accuracy:.2f} ({e.n_members}) |")
    return "\n".join(out)
