"""Benchmark v3's headline: a suite's test run, its transfer run and its oracles on test members, in one folder.

The registered runs write three things per suite (``docs/benchmark-v3.md``, "The freeze"): a test run folder
and a transfer run folder of ``hptune bench --v3`` (each a folder with ``run.json`` and ``v3_<suite>/``, checked
by ``hptune bench --verify``), and the per-member oracles on the first test members
(``benchmarks/v3/gates.py --split test``: ``<suite>/test-oracles/members.csv``).
[`assemble`][agents.bench.v3.headline.assemble] puts the headline beside the selection stage's files in
``benchmarks/results/v3/<suite>/``: ``results.csv`` (the test run's rows, byte for byte), ``paired.csv`` (the
primary analysis on test, then on transfer), ``oracles.csv`` (every method against the per-member oracles on
the members they were found on), ``results.md`` and the test run's plots.

Against the oracles ([`oracle_comparison`][agents.bench.v3.headline.oracle_comparison]) a method's children and
the oracles' are different children of the same members (the oracles are scored at the selection stage's
seeds B, the methods at the report seeds), so the numbers are means over members with intervals over members:
secondary statistics, not the registered analysis.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Sequence

import numpy as np

from agents.bench.common import read_typed, write_atomic, write_csv
from agents.bench.v3.analysis import MethodScores

__all__ = ["ORACLE_COLUMNS", "assemble", "oracle_comparison"]

ORACLE_COLUMNS = ["suite", "method", "n_members", "method_mean", "best_static_tuple_mean", "best_fixed_schedule_mean",
                  "static_oracle_mean", "dynamic_oracle_mean", "vs_static_oracle", "vs_static_oracle_low",
                  "vs_static_oracle_high", "static_gain_share", "static_gain_share_low", "static_gain_share_high",
                  "dynamic_gain_share", "dynamic_gain_share_low", "dynamic_gain_share_high"]


def _member_means(rows: Sequence[dict], method: str, members: Sequence[str]) -> np.ndarray:
    """``method``'s accuracy on each of ``members`` (meta-training and evaluation seeds averaged)."""
    scores = MethodScores.from_rows([r for r in rows if r["member"] in set(members)], method)
    by_member = dict(zip(scores.members, scores.member_accuracy()))
    return np.array([by_member[m] for m in members])


def oracle_comparison(rows: Sequence[dict], oracles: Sequence[dict], suite: str, *, resamples: int = 10000,
                      seed: int = 0, confidence: float = 0.95) -> list[dict]:
    """Every method of ``rows`` against the per-member oracles, on the members the oracles were found on.

    Per method: its mean test accuracy there; its difference from the static oracle; the share of the static
    oracle's gain over the best static tuple it reaches, ``(method - best static tuple) / (static oracle -
    best static tuple)``; and the share of the way from the best fixed schedule to the dynamic oracle,
    ``(method - best fixed schedule) / (dynamic oracle - best fixed schedule)`` (means over members; each with
    a percentile interval over ``resamples`` draws of the members). The two references are the deployed ones
    (their rows in ``rows``), not the selection stage's choice over these members.

    Args:
        rows: One split's result rows (``results.csv`` of a test run), every method on these members.
        oracles: The oracles' ``members.csv`` rows (``member``, ``test: static oracle``, ``test: dynamic oracle``).
        suite: The suite's name, for the rows.

    Raises:
        ValueError: An oracle member has no rows of a method, or the references are missing.
    """
    members = [o["member"] for o in oracles]
    static = np.array([float(o["test: static oracle"]) for o in oracles])
    dynamic = np.array([float(o["test: dynamic oracle"]) for o in oracles])
    methods = list(dict.fromkeys(r["method"] for r in rows))
    for ref in ("best static tuple", "best fixed schedule"):
        if ref not in methods:
            raise ValueError(f"rows: no {ref!r} rows; the oracles are compared through the deployed references")
    scored = {}
    for name in methods:
        have = {r["member"] for r in rows if r["method"] == name}
        if set(members) <= have:  # the searches at their second budget run on the first 50 test members only
            scored[name] = _member_means(rows, name, members)
    bst, bfs = scored["best static tuple"], scored["best fixed schedule"]
    draws = np.random.default_rng(seed).integers(0, len(members), size=(resamples, len(members)))
    tail = 100 * (1 - confidence) / 2

    def interval(numerator: np.ndarray, denominator: np.ndarray | None = None) -> tuple[float, float, float]:
        value = numerator.mean() / (denominator.mean() if denominator is not None else 1.0)
        boot = numerator[draws].mean(1) / (denominator[draws].mean(1) if denominator is not None else 1.0)
        low, high = np.percentile(boot[np.isfinite(boot)], [tail, 100 - tail])
        return float(value), float(low), float(high)

    out = []
    for name, acc in scored.items():
        vs, vs_lo, vs_hi = interval(acc - static)
        st, st_lo, st_hi = interval(acc - bst, static - bst)
        dy, dy_lo, dy_hi = interval(acc - bfs, dynamic - bfs)
        out.append({"suite": suite, "method": name, "n_members": len(members), "method_mean": float(acc.mean()),
                    "best_static_tuple_mean": float(bst.mean()), "best_fixed_schedule_mean": float(bfs.mean()),
                    "static_oracle_mean": float(static.mean()), "dynamic_oracle_mean": float(dynamic.mean()),
                    "vs_static_oracle": vs, "vs_static_oracle_low": vs_lo, "vs_static_oracle_high": vs_hi,
                    "static_gain_share": st, "static_gain_share_low": st_lo, "static_gain_share_high": st_hi,
                    "dynamic_gain_share": dy, "dynamic_gain_share_low": dy_lo, "dynamic_gain_share_high": dy_hi})
    return out


def _oracle_markdown(rows: Sequence[dict]) -> list[str]:
    if not rows:
        return []
    r0 = rows[0]
    lines = ["", f"## Against the per-member oracles ({r0['n_members']} test members)", "",
             f"Static oracle {100 * r0['static_oracle_mean']:.2f}, dynamic oracle {100 * r0['dynamic_oracle_mean']:.2f}; "
             f"best static tuple {100 * r0['best_static_tuple_mean']:.2f}, best fixed schedule "
             f"{100 * r0['best_fixed_schedule_mean']:.2f} (the deployed references, on these members). Means over "
             f"members, 95% intervals over members (secondary: the oracles' children are other children of the same "
             f"members).", "",
             "| method | mean | vs static oracle (points) | share of the static oracle's gain | "
             "share of the way from the best fixed schedule to the dynamic oracle |", "|---|---:|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['method']} | {100 * r['method_mean']:.2f} | {100 * r['vs_static_oracle']:+.2f} "
                     f"[{100 * r['vs_static_oracle_low']:+.2f}, {100 * r['vs_static_oracle_high']:+.2f}] | "
                     f"{r['static_gain_share']:.2f} [{r['static_gain_share_low']:.2f}, {r['static_gain_share_high']:.2f}]"
                     f" | {r['dynamic_gain_share']:.2f} [{r['dynamic_gain_share_low']:.2f}, "
                     f"{r['dynamic_gain_share_high']:.2f}] |")
    return lines


def assemble(root: str | Path, suite: str, *, resamples: int = 10000) -> dict:
    """Write ``suite``'s headline into ``root/<suite name>/`` from the runs under ``root``.

    Reads ``root/test/v3_<name>/`` (required), ``root/transfer/v3_<name>/`` and ``root/<name>/test-oracles/
    members.csv`` (each where present; what is absent is named in ``results.md``).

    Returns:
        ``{"paired": [...], "oracles": [...], "missing": [...]}``: the rows written and what was absent.

    Raises:
        FileNotFoundError: The test run's folder for ``suite`` does not exist.
    """
    from agents.bench.v3.runner import PAIRED_V3_COLUMNS, read_results

    root = Path(root)
    name = suite.split("/", 1)[1]
    runs = {split: root / split / suite.replace("/", "_") for split in ("test", "transfer")}
    if not (runs["test"] / "results.csv").is_file():
        raise FileNotFoundError(f"{runs['test'] / 'results.csv'} does not exist: run hptune bench --v3 --split test "
                                f"--suite {suite} --out {root / 'test'} first")
    out = root / name
    out.mkdir(parents=True, exist_ok=True)
    missing = []
    shutil.copyfile(runs["test"] / "results.csv", out / "results.csv")
    for plot in ("accuracy_vs_compute.png", "differences.png"):
        if (runs["test"] / plot).is_file():
            shutil.copyfile(runs["test"] / plot, out / plot)
    paired = []
    for split, folder in runs.items():
        if (folder / "paired.csv").is_file():
            paired += read_typed(folder / "paired.csv", (), (), ())
        else:
            missing.append(f"the {split} run's paired.csv")
    if paired:
        write_csv(paired, out / "paired.csv", PAIRED_V3_COLUMNS)
    oracles_csv = out / "test-oracles" / "members.csv"
    oracle_rows = []
    if oracles_csv.is_file():
        oracle_rows = oracle_comparison(read_results(runs["test"] / "results.csv"), read_typed(oracles_csv, (), (), ()),
                                        suite, resamples=resamples)
        write_csv(oracle_rows, out / "oracles.csv", ORACLE_COLUMNS)
    else:
        missing.append("the oracles on test members")
    text = [f"# Benchmark v3 headline: {suite}", "",
            "The primary analysis with 5 meta-training seeds: its simulated type-I rate per comparison is 1.2-1.5 "
            "times nominal (docs/benchmark-v3.md, \"The freeze\").", ""]
    if missing:
        text += [f"Not yet run: {', '.join(missing)}.", ""]
    for split, folder in runs.items():
        if (folder / "results.md").is_file():
            body = (folder / "results.md").read_text().splitlines()
            text += ["#" + body[0], *body[1:]] if body and body[0].startswith("# ") else body
    text += _oracle_markdown(oracle_rows)
    write_atomic(out / "results.md", "\n".join(text) + "\n")
    return {"paired": paired, "oracles": oracle_rows, "missing": missing}
