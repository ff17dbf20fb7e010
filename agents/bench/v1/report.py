"""Benchmark v1's tables: ``paired.csv`` and ``results.md`` (headroom first, verdicts from paired statistics only)."""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path
from typing import Sequence

import torch

from agents.bench.common import cpu_name, write_atomic, write_csv
from agents.bench.methods import REFERENCES
from agents.bench.stats import difference_text, holm, methods_of, paired_comparison, summary_table, verdict
from agents.bench.v1.plots import plot_accuracy_vs_compute

__all__ = ["paired_table", "markdown", "write_reports", "machine_description", "add_oracle_share", "PAIRED_COLUMNS"]

PAIRED_COLUMNS = ["suite", "method", "reference", "mean_diff", "ci_low", "ci_high", "p_holm", "wins", "ties",
                  "losses", "n_pairs", "p_wilcoxon", "prob_improvement", "iqm", "ref_iqm", "verdict", "oracle_share"]


def add_oracle_share(paired: list[dict], headroom: Sequence[dict]) -> None:
    """``oracle_share`` of each comparison with the best static tuple: the method's mean gain over it
    as a fraction of the per-member oracle's gain over it on the same pairs (1.0: as good as picking
    each test member's best tuple; the goal of a controller is >= 0.9). Empty for other references."""
    gain = {h["suite"]: float(h["gain"]) for h in headroom if h["reference"] == "best static tuple"}
    for p in paired:
        g = gain.get(p["suite"])
        p["oracle_share"] = (p["mean_diff"] / g if p["reference"] == "best static tuple" and g else "")


def machine_description() -> str:
    return (f"{cpu_name()}, {os.cpu_count()} CPU cores, torch {torch.__version__} "
            f"({torch.get_num_threads()} thread), {platform.system()} {platform.release()}")


def paired_table(rows: Sequence[dict], references: Sequence[str] | None = None, seed: int = 0) -> list[dict]:
    """Every method against every reference, paired over (member, seed), per suite; Holm over each suite's table."""
    references = list(references or REFERENCES)
    out: list[dict] = []
    for suite in dict.fromkeys(r["suite"] for r in rows):
        srows = [r for r in rows if r["suite"] == suite]
        acc = {}
        for r in srows:
            acc.setdefault(r["method"], {})[(r["member"], int(r["seed"]))] = float(r["test_accuracy"])
        table = []
        for m in methods_of(srows):
            for ref in references:
                if ref == m or ref not in acc:
                    continue
                if m in references and references.index(ref) < references.index(m):
                    continue  # two references are compared once (the other sign is the same test)
                keys = sorted(set(acc[m]) & set(acc[ref]))
                if len(keys) < 2:
                    continue
                c = paired_comparison([acc[m][k] for k in keys], [acc[ref][k] for k in keys], seed=seed)
                table.append({"suite": suite, "method": m, "reference": ref, "mean_diff": c["mean_diff"],
                              "ci_low": c["ci_low"], "ci_high": c["ci_high"], "wins": c["wins"], "ties": c["ties"],
                              "losses": c["losses"], "n_pairs": c["n"], "p_wilcoxon": c["p"],
                              "prob_improvement": c["prob_improvement"], "iqm": c["iqm"], "ref_iqm": c["ref_iqm"]})
        for t, p in zip(table, holm([t["p_wilcoxon"] for t in table])):
            t["p_holm"] = p
            t["verdict"] = verdict(t)
        out += table
    return out


def _pts(x: float) -> str:
    return f"{100 * x:+.2f}"


def markdown(rows: Sequence[dict], headroom: Sequence[dict], paired: Sequence[dict], *, notes=None,
             protocol=None, wall_s: float | None = None, cpu_s: float | None = None,
             command: str | None = None) -> str:
    lines = ["# hpenv benchmark v1", "",
             f"Date: {time.strftime('%Y-%m-%d')}. Machine: {machine_description()}."]
    if command:
        lines.append(f"Command: `{command}`.")
    if wall_s is not None:
        cpu = f", {cpu_s / 60:.1f} min CPU time" if cpu_s is not None else ""
        lines.append(f"Wall time of the run: {wall_s / 60:.1f} min{cpu} (summed over its sessions when it was "
                     f"resumed; config.json lists them).")
    if protocol is not None:
        lines.append(f"Protocol: {protocol.seeds} evaluation seeds per test member; references chosen on "
                     f"{protocol.selection_members or 'all'} selection members x "
                     f"{protocol.selection_seeds or 'enough'} seeds (enough: each reference chosen with at least "
                     f"the meta-training's episodes); "
                     f"search methods spend {protocol.search_budget_episodes} episodes of candidates per child "
                     f"({protocol.search_candidates} candidates; TPE {protocol.tpe_startup_trials} start-up trials) "
                     f"then retrain the winner; RR meta-trained for {protocol.rr_meta_episodes} episodes per action "
                     f"space ({', '.join(protocol.rr_spaces)}).")
    lines += ["", "## Headroom gate", "",
              "Oracle = the best candidate static tuple per test member (chosen on its validation split), paired "
              "over (test member, seed) with the references chosen on selection members. Saturated unless the "
              "gain is >= 3 points with the paired 95% bootstrap interval excluding 0.", "",
              "| suite | reference (its choice) | gain, points [95% CI] | pairs | Wilcoxon p | verdict |",
              "|---|---|---|---:|---:|---|"]
    for h in headroom:
        lines.append(f"| {h['suite']} | {h['reference']} ({h['reference_choice']}) | {_pts(h['gain'])} "
                     f"[{_pts(h['ci_low'])}, {_pts(h['ci_high'])}] | {h['n_pairs']} | {h['p_wilcoxon']:.2g} | "
                     f"{'**saturated**' if str(h['saturated']) == 'True' else 'headroom'} |")
    suites = list(dict.fromkeys(h["suite"] for h in headroom))
    if suites:
        lines.append("")
    for suite in suites:
        failed = [h["reference"] for h in headroom if h["suite"] == suite and str(h["saturated"]) == "True"]
        lines.append(f"- {suite}: " + (f"**saturated** against {', '.join(failed)} (no headline)" if failed
                                       else "has headroom against both references"))
    stats = summary_table(rows)
    for suite, ms in stats.items():
        n = max(s["n"] for s in ms.values())
        lines += ["", f"## {suite} ({n} pairs: test members x seeds)", "",
                  "Test accuracy of the deployed child (every one trained the same number of SGD steps); mean, IQM, "
                  "std over pairs, and the range of the per-seed means (each over the test members); compute per "
                  "result (deployed child, extra search) and one-off (selection, meta-training).", "",
                  "| method | mean | IQM | std | seed means | deployed SGD | search SGD | one-off SGD | one-off s | "
                  "wall s/child | diverged |",
                  "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|"]
        for m, s in sorted(ms.items(), key=lambda kv: -kv[1]["mean"]):
            label = f"{m} (user)" if s["source"] == "user" else m
            lines.append(f"| {label} | {s['mean']:.4f} | {s['iqm']:.4f} | {s['std']:.4f} | "
                         f"{s['seed_min']:.4f}-{s['seed_max']:.4f} | {s['deployed']:,.0f} | "
                         f"{s['search']:,.0f} | {s['one_off']:,.0f} | {s['one_off_wall']:.0f} | {s['wall']:.2f} | "
                         f"{s['diverged']}/{s['n']} |")
        ptab = [p for p in paired if p["suite"] == suite]
        if ptab:
            lines += ["", "Paired against the references (difference in points, method minus reference; Holm over "
                      "this table; verdict only where Holm p < 0.05 and the interval excludes 0):", "",
                      "| method | reference | diff [95% CI] | W/T/L | P(improve) | p Holm | verdict | "
                      "share of the oracle's gain |",
                      "|---|---|---|---|---:|---:|---|---:|"]
            for p in ptab:
                share = p.get("oracle_share", "")
                lines.append(f"| {p['method']} | {p['reference']} | {difference_text(p)} | "
                             f"{p['wins']}/{p['ties']}/{p['losses']} | "
                             f"{p['prob_improvement']:.2f} | {p['p_holm']:.2g} | {p['verdict']} | "
                             f"{'' if share == '' else f'{100 * float(share):.0f}%'} |")
            better = [p for p in ptab if p["verdict"] == "better"]
            worse = [p for p in ptab if p["verdict"] == "worse"]
            lines += ["", "Verdicts: " + ("; ".join(f"{p['method']} beats {p['reference']}" for p in better)
                                          or "no method is shown better than any reference") + ". "
                      + ("; ".join(f"{p['method']} loses to {p['reference']}" for p in worse) or "None shown worse")
                      + "."]
        for note in (notes or {}).get(suite, []):
            lines.append(f"- {note}")
    return "\n".join(lines) + "\n"


def write_reports(out: Path, rows: Sequence[dict], headroom: Sequence[dict], *, notes=None, protocol=None,
                  wall_s: float | None = None, cpu_s: float | None = None, command: str | None = None) -> list[dict]:
    """Write paired.csv, results.md, the plot; returns the paired table."""

    out = Path(out)
    paired = paired_table(rows, seed=getattr(protocol, "seed", 0))
    add_oracle_share(paired, headroom)
    write_csv(paired, out / "paired.csv", PAIRED_COLUMNS)
    write_atomic(out / "results.md", markdown(rows, headroom, paired, notes=notes, protocol=protocol, wall_s=wall_s,
                                              cpu_s=cpu_s, command=command))
    plot_accuracy_vs_compute(rows, out / "accuracy_vs_compute.png")
    return paired
