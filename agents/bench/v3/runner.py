"""Benchmark v3's runner (``hptune bench --v3``): every method of a suite's family on one split, each member
with its own env arguments, the registered primary analysis, and the ledger.

Per suite, in this order:

1. **References**: what the selection stage chose on the selection members (``benchmarks/v3/gates.py``, shipped
   as package data: [`agents.bench.v3.shipped.shipped_references`][]); no method chooses anything on the split
   it is scored on.
2. **Prepare** ([`agents.bench.v3.methods`][]): each method once, a learned one once per meta-training seed of
   ``[statistics]`` (in parallel units, [`agents.bench.parallel.run_units`][]); meta-trained agents are cached in
   the run folder by their settings, so a killed run reuses them.
3. **Deploy**: every prepared method on every member of the split at the registered evaluation seeds, one child
   each, alone (``DEPLOY_CHUNK``); ``results.csv`` is rewritten after each member, so a killed run resumes with
   the members it had not finished. The searches at their generous budget run on the first
   ``generous_search_members`` members only.
4. **Analysis**: the controller against every reference of the family by the registered primary analysis
   ([`agents.bench.v3.analysis.primary_analysis`][]), ``paired.csv`` and ``results.md``.

A run on ``test`` or ``transfer`` members needs a frozen protocol and is filed in the v3 ledger
([`agents.bench.v3.ledger.ledger_run`][]): a ``start`` row per method before the first member is scored, an
``end`` row when the split is done; an aborted run leaves its ``start`` rows. A run on ``dev`` members is
development (what ``hptune train`` compares on) and files nothing. ``quick`` cuts every budget down for a
rehearsal of the whole pipeline on a few dev members in minutes: not a result.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import pickle
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

import hpenv
from agents.bench.common import (V2_COLUMNS, Prepared, read_typed, rows_as_they_finish, schedule_json, without_seed,
                                 write_atomic, write_csv)
from agents.bench.parallel import run_units
from agents.bench.v3.budgets import load_budgets, protocol_identity
from agents.bench.v3.ledger import SPLITS, find_ledger, ledger_run, method_code_fingerprint
from agents.bench.v3.methods import GENEROUS_SEARCHES, V3_METHODS, MethodContext, resolve_v3_method
from agents.bench.v3.statistics import load_family, load_statistics
from agents.seeds import REPORT, SELECTION

__all__ = ["RESULTS_V3_COLUMNS", "PAIRED_V3_COLUMNS", "QUICK", "run_v3", "family_methods", "main_v3"]

#: ``results.csv`` of a v3 suite: v2's columns, then the child's correct test examples of its member's
#: ``n_test`` (the analysis counts on them) and, on a stream suite, the env step whose training first used
#: changed data.
RESULTS_V3_COLUMNS = [*V2_COLUMNS, "correct", "n_test", "change_step"]
#: ``paired.csv`` of a v3 suite: v2's columns (``p`` the comparison's own bootstrap p, ``p_holm`` the
#: registered adjustment's, ``verdict`` one of the four words), then the analysis's own.
PAIRED_V3_COLUMNS = ["suite", "split", "method", "method_version", "reference", "in_family", "n_members",
                     "n_training_seeds", "mean_diff", "ci_low", "ci_high", "p", "p_holm", "wins", "ties", "losses",
                     "prob_improvement", "method_mean", "reference_mean", "method_iqm", "reference_iqm",
                     "training_seed_min_diff", "training_seed_max_diff", "verdict", "p_adjustment", "p_wilcoxon",
                     "se", "critical_value", "seed_variance_share"]
#: ``quick``: a rehearsal on a few dev members (budgets cut down; files nothing; its hash says so).
QUICK = {"members": 4, "selection_members": 2, "evaluation_seeds": 1, "meta_training_seeds": 2,
         "budgets": {"meta_episodes": 64, "num_envs": 64, "runner_envs": 16, "search_candidates": 4,
                     "search_budget_episodes": 2, "generous_search_budget_episodes": 2,
                     "generous_search_members": 2},
         "env": {}}
#: Seeds of the children methods choose their settings on (validation accuracy), never scored.
SELECTION_SEEDS = 2


def family_methods(suite: str, family) -> list[str]:
    """The methods a suite's run deploys by default: the controller, the family's references on ``suite`` that
    have a v3 implementation, those reported beside them, and the searches at their generous budget."""
    names = [family.controller, *family.references_on(suite), *family.reported_beside, *GENEROUS_SEARCHES]
    return [n for n in dict.fromkeys(names) if n in V3_METHODS]


def _identity(method, training_seed: int, suite: str) -> tuple[str, str]:
    settings = {"suite": suite, **method.settings()}
    if training_seed >= 0:
        settings = without_seed(settings, training_seed)
    return str(method.version), method_code_fingerprint(method, settings)


def _prepare_unit(unit: tuple) -> Prepared:
    spec, training_seed, ctx = unit
    method = spec if not isinstance(spec, str) else resolve_v3_method(spec)
    method.prepare(ctx)
    return Prepared(method, training_seed, *_identity(method, training_seed, ctx.suite))


def _context(base: MethodContext, seed: int) -> MethodContext:
    """``base`` for meta-training seed ``seed`` (a copy: the methods share what it holds, never change it)."""
    ctx = copy.copy(base)
    ctx.seed = seed
    return ctx


def prepare_methods(specs: Sequence[str], ctx: MethodContext, seeds: int, *, workers: int | None, log=print
                    ) -> list[Prepared]:
    """Every method prepared, a learned one once per meta-training seed ``0 .. seeds-1``; the learned ones in
    parallel units, the rest here. In ``specs``' order, a method's copies by seed."""
    methods = {spec: resolve_v3_method(spec) for spec in specs}
    units = [(spec if m.learned else m, seed if m.learned else -1, _context(ctx, max(seed, 0)))
             for spec, m in methods.items() for seed in (range(seeds) if m.learned else (-1,))]
    out: list[Prepared | None] = [None] * len(units)
    t0 = time.perf_counter()
    learned = [i for i, u in enumerate(units) if u[1] >= 0]
    for j, prepared in run_units(_prepare_unit, [units[i] for i in learned], workers=workers):
        out[learned[j]] = prepared
        log(f"  prepared {prepared.method.name} (seed {prepared.training_seed}): "
            f"{prepared.method.one_off_sgd_steps:,} one-off SGD steps [{time.perf_counter() - t0:.0f} s]")
    for i, unit in enumerate(units):
        if unit[1] < 0:
            out[i] = _prepare_unit(unit)
            log(f"  prepared {out[i].method.name}: {out[i].method.note} [{time.perf_counter() - t0:.0f} s]")
    return out  # type: ignore[return-value]


def _deploy_unit(unit: tuple) -> list[dict]:
    """Every prepared method on one member at the evaluation seeds: ``results.csv`` rows."""
    from hpenv.instances import member_task

    member, split, prepared, ctx, seeds, done, protocol_hash = unit
    n_test = len(member_task(member).y_test)
    rows = []
    for p in prepared:
        todo = [s for s in seeds if (member, p.method.name, p.version, p.training_seed, s) not in done]
        if not todo:
            continue
        for r in p.method.run(_context(ctx, max(p.training_seed, 0)), member, todo):
            m = p.method
            rows.append({
                "suite": ctx.suite, "split": split, "member": member, "seed": r.seed, "method": m.name,
                "method_version": p.version, "method_fingerprint": p.fingerprint, "training_seed": p.training_seed,
                "test_accuracy": r.test_accuracy, "val_accuracy": r.val_accuracy,
                "deployed_sgd_steps": r.deployed_sgd_steps, "search_sgd_steps": r.search_sgd_steps,
                "one_off_sgd_steps": m.one_off_sgd_steps, "one_off_wall_time_s": round(m.one_off_wall_time_s, 2),
                "wall_time_s": round(r.wall_time_s, 3), "diverged": r.diverged, "protocol_hash": protocol_hash,
                "schedule": schedule_json(r, ctx.space.names), "replayable": bool(m.replayable), "source": m.source,
                "chosen": json.dumps(r.chosen) if r.chosen else "",
                "correct": int(round(r.test_accuracy * n_test)), "n_test": n_test,
                "change_step": r.change_step if r.change_step is not None else "",
            })
    return rows


def read_results(path: Path) -> list[dict]:
    """Rows of a v3 ``results.csv`` with numbers and flags as Python values."""
    return read_typed(path, ("seed", "training_seed", "deployed_sgd_steps", "search_sgd_steps", "one_off_sgd_steps",
                             "correct", "n_test"),
                      ("test_accuracy", "val_accuracy", "wall_time_s", "one_off_wall_time_s"), ("diverged", "replayable"))


def deploy_methods(prepared: list[Prepared], ctx: MethodContext, split: str, members: list[str], seeds: list[int],
                   results: Path, protocol_hash: str, *, generous_members: int, workers: int | None, log=print
                   ) -> list[dict]:
    """Every prepared method on ``members`` (the generous searches on the first ``generous_members``) at
    ``seeds``, into ``results`` (rewritten after each member; rows already there are kept and not re-run)."""
    rows = read_results(results)
    done = {(r["member"], r["method"], r["method_version"], int(r["training_seed"]), int(r["seed"])) for r in rows}
    try:  # a policy that cannot travel to a worker (a researcher's, say) deploys here
        pickle.dumps(prepared)
    except (pickle.PicklingError, TypeError, AttributeError):
        workers = 1
    units = []
    for i, m in enumerate(members):
        mine = [p for p in prepared if i < generous_members or p.method.name not in GENEROUS_SEARCHES]
        units.append((m, split, mine, ctx, seeds, done, protocol_hash))
    log(f"{ctx.suite}: deploying {len({p.method.name for p in prepared})} methods on {len(members)} {split} members "
        f"x {len(seeds)} seeds")
    return rows_as_they_finish(_deploy_unit, units, rows, results, RESULTS_V3_COLUMNS, log, workers)


def analyse(rows: list[dict], suite: str, split: str, controller: str, references: Sequence[str], stats,
            versions: dict[str, str]) -> list[dict]:
    """``paired.csv`` rows: the controller against each reference present in ``rows``, by the registered
    primary analysis over the members every one of them holds."""
    from agents.bench.v3.analysis import MethodScores, primary_analysis

    mine = [r for r in rows if r["split"] == split]
    present = {r["method"] for r in mine}
    refs = [r for r in references if r in present]
    if controller not in present or not refs:
        return []
    found = primary_analysis(MethodScores.from_rows(mine, controller), [MethodScores.from_rows(mine, r) for r in refs],
                             margin=stats.equivalence_margin, alpha=stats.alpha, resamples=stats.resamples,
                             seed=stats.seed, p_adjustment=stats.p_adjustment)
    return [{**row, "suite": suite, "split": split, "method_version": versions.get(controller, ""), "in_family": True,
             "n_training_seeds": row["n_train_seeds"], "p": row["p_unadjusted"]} for row in found]


def results_markdown(suite: str, split: str, rows: list[dict], paired: list[dict], notes: dict[str, str],
                     protocol, quick: bool, not_run: Sequence[str] = ()) -> str:
    """``results.md``: every method's mean test accuracy and cost, then the primary analysis's rows."""
    mine = [r for r in rows if r["split"] == split]
    lines = [f"# {suite}, {split} members" + (" (quick rehearsal: not a result)" if quick else ""), "",
             f"Protocol {protocol.version} ({'frozen' if protocol.frozen else 'draft'}), hash "
             f"`{protocol.hash[:12]}`." + (f" Not run: {', '.join(not_run)}." if not_run else ""), "",
             "| method | members | meta-training seeds | mean test accuracy | SGD steps per child (search) | "
             "wall per child | one-off SGD steps (all seeds) | one-off wall | note |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for name in dict.fromkeys(r["method"] for r in mine):
        rs = [r for r in mine if r["method"] == name]
        per_member: dict[str, list[float]] = {}
        for r in rs:
            per_member.setdefault(r["member"], []).append(r["correct"] / r["n_test"])
        seeds = sorted({r["training_seed"] for r in rs if r["training_seed"] >= 0})
        one_off = {r["training_seed"]: (r["one_off_sgd_steps"], r["one_off_wall_time_s"]) for r in rs}.values()
        child = np.mean([r["deployed_sgd_steps"] + r["search_sgd_steps"] for r in rs])
        search = np.mean([r["search_sgd_steps"] for r in rs])
        lines.append(f"| {name} | {len(per_member)} | {len(seeds) or '-'} | "
                     f"{100 * np.mean([np.mean(v) for v in per_member.values()]):.2f} | {child:,.0f} ({search:,.0f}) | "
                     f"{np.mean([r['wall_time_s'] for r in rs]):.2f} s | {sum(o[0] for o in one_off):,} | "
                     f"{sum(o[1] for o in one_off) / 60:.1f} min | {notes.get(name, '')} |")
    if paired:
        p0 = paired[0]
        lines += ["", f"Primary analysis: {p0['method']} minus each reference, points, {100 * (1 - p0['alpha']):.0f}% "
                      f"simultaneous (max-|T|) over the family, crossed bootstrap over members and meta-training seeds; "
                      f"margin +-{100 * p0['margin']:.1f} point.", "",
                  "| reference | members | difference | interval | p (adjusted) | verdict | wins/ties/losses |",
                  "|---|---:|---:|---|---:|---|---|"]
        for r in paired:
            lines.append(f"| {r['reference']} | {r['n_members']} | {100 * r['mean_diff']:+.2f} | "
                         f"[{100 * r['ci_low']:+.2f}, {100 * r['ci_high']:+.2f}] | {r['p_holm']:.3f} | {r['verdict']} | "
                         f"{r['wins']}/{r['ties']}/{r['losses']} |")
    return "\n".join(lines) + "\n"


def write_plots(folder: Path, suite: str, split: str, rows: list[dict], controller: str,
                references: Sequence[str]) -> None:
    """``members.csv`` of the split, ``accuracy_vs_compute.png`` (every method, a colour and marker each) and
    ``differences.png`` (the controller against each reference, member by member, a grid of panels, against the
    kind of change on a stream suite, the child's width otherwise)."""
    from agents.bench.plots import plot_member_accuracy_vs_compute, plot_member_differences
    from hpenv.instances import write_members_csv

    write_members_csv(folder / "members.csv", suite, [split])
    plot_member_accuracy_vs_compute(rows, folder / "accuracy_vs_compute.png", split)
    if references:
        plot_member_differences([r for r in rows if r["split"] == split], folder / "members.csv", controller,
                                references, "stream" if getattr(hpenv.suite(suite), "streams", None) else "width",
                                folder / "differences.png")


def run_v3(out: str | Path, *, suites: Sequence[str] | None = None, methods: Sequence[str] | None = None,
           agents: Sequence[str] = (), split: str = "dev", members: Sequence[str] | None = None,
           quick: bool | dict = False,
           protocol: str | Path | None = None, ledger: str | Path | None = None, workers: int | None = None,
           log=print) -> dict:
    """Run benchmark v3 into ``out`` (resumable) and write each suite's reports.

    Args:
        suites: the protocol's suites to run (default: all).
        methods: names of `agents.bench.v3.methods.V3_METHODS` or ``package.module:Name`` (default: the
            family, [`family_methods`][agents.bench.v3.runner.family_methods]).
        split: ``"dev"`` (development: nothing filed), ``"test"`` or ``"transfer"`` (a frozen protocol; filed
            in the ledger).
        members: score only these members of ``split`` (a subsample, in the split's order; default: all).
        quick: a rehearsal with `QUICK`'s budgets (a dict: overrides of its keys) on a few dev members.
        protocol: the v3 protocol file (default: the shipped copy of ``benchmarks/v3/protocol.toml``).
        ledger: the ledger a test or transfer run appends to (default: the checkout's,
            [`find_ledger`][agents.bench.v3.ledger.find_ledger], found before any work starts).
    """
    from agents.bench.v3.shipped import SHIPPED_PROTOCOL, shipped_references
    from hpenv.extras import require_all

    protocol = Path(protocol) if protocol is not None else SHIPPED_PROTOCOL
    identity = protocol_identity(protocol)
    budgets, stats, family = load_budgets(protocol), load_statistics(protocol), load_family(protocol)
    if split not in ("dev", *SPLITS):
        raise ValueError(f"split must be 'dev', 'test' or 'transfer', got {split!r}")
    q = {**QUICK, **(quick if isinstance(quick, dict) else {})} if quick else None
    if q is not None:
        if split != "dev":
            raise ValueError(f"--quick rehearses on dev members; it does not score {split} members")
        budgets = dataclasses.replace(budgets, **q["budgets"])
    filed = split in SPLITS
    if filed:
        if not identity.frozen:
            raise ValueError(f"protocol {identity.path} is a draft (status = 'draft'): a run that scores {split} "
                             f"members needs the frozen protocol; develop with --split dev")
        ledger = Path(ledger) if ledger is not None else find_ledger()
    registered = _protocol_suites(protocol)
    names = list(suites or registered)
    unknown = [s for s in names if s not in registered]
    if unknown:
        raise ValueError(f"suites {unknown} are not in protocol {identity.path}; it registers {registered}")
    agents = list(agents)
    specs = {suite: list(dict.fromkeys([*(methods or family_methods(suite, family)), *agents])) for suite in names}
    resolved = {spec: resolve_v3_method(spec) for suite_specs in specs.values() for spec in suite_specs}
    require_all([(f"method {m.name!r}", extra) for m in resolved.values() for extra in m.extras])
    headline = resolved.get(family.controller)
    if filed and headline is not None and str(headline.version) != family.controller_version:
        raise ValueError(f"{family.controller} is version {headline.version!r} here; protocol {identity.path} "
                         f"registers version {family.controller_version!r} for the headline: another version is "
                         f"scored beside it, under its own name (--agent)")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    protocol_hash = identity.hash if q is None else f"quick-{identity.hash[:12]}"
    seeds = REPORT.seeds(q["evaluation_seeds"] if q else stats.evaluation_seeds)
    meta_seeds = q["meta_training_seeds"] if q else stats.meta_training_seeds
    t0 = time.perf_counter()
    summary: dict[str, Any] = {"protocol": str(identity.path), "protocol_hash": protocol_hash, "split": split,
                               "quick": bool(q), "suites": {}}
    for suite in names:
        folder = out / suite.replace("/", "_")
        references, chosen = shipped_references(suite)
        visible = {"selection": hpenv.instance_set(suite, "selection")[: q["selection_members"]] if q else None}
        ctx = MethodContext(suite, budgets, references, seed=0, cache_dir=folder / "cache", members=visible,
                            selection_seeds=SELECTION.seeds(SELECTION_SEEDS),
                            env_overrides=q["env"] if q else {})
        log(f"{suite}: preparing {len(specs[suite])} methods ({meta_seeds} meta-training seeds each learned one)")
        prepared = prepare_methods(specs[suite], ctx, meta_seeds, workers=workers, log=log)
        targets = hpenv.instance_set(suite, split)
        if members is not None:
            absent = sorted(set(members) - set(targets))
            if absent:
                raise ValueError(f"members {absent[:3]} are not {split} members of {suite}")
            targets = [m for m in targets if m in set(members)]
        targets = targets[: q["members"]] if q else targets
        results = folder / "results.csv"
        deploy = dict(generous_members=budgets.generous_search_members, workers=workers, log=log)
        if filed:
            identities = list({p.method.name: (p.method.name, p.version, p.fingerprint) for p in prepared}.values())
            with ledger_run(ledger, protocol_hash=identity.hash, suite=suite, split=split, methods=identities,
                            results=results, n_seeds=len(seeds), n_members=len(targets)):
                rows = deploy_methods(prepared, ctx, split, targets, seeds, results, protocol_hash, **deploy)
        else:
            rows = deploy_methods(prepared, ctx, split, targets, seeds, results, protocol_hash, **deploy)
        versions = {p.method.name: p.version for p in prepared}
        # a researcher's policy is compared with the family's controller too
        controller = resolved[agents[0]].name if agents else family.controller
        refs = [family.controller, *family.references_on(suite)] if agents else list(family.references_on(suite))
        paired = analyse(rows, suite, split, controller, refs, stats, versions)
        write_csv(paired, folder / "paired.csv", PAIRED_V3_COLUMNS)
        notes = {p.method.name: p.method.note for p in prepared}
        not_run = [n for n in (family.controller, *family.references_on(suite)) if n not in versions]
        write_atomic(folder / "results.md",
                     results_markdown(suite, split, rows, paired, notes, identity, bool(q), not_run))
        write_plots(folder, suite, split, rows, controller, [p["reference"] for p in paired])
        summary["suites"][suite] = {"methods": list(versions), "rows": len(rows), "members": len(targets),
                                    "references": {k: v["name"] for k, v in chosen["references"].items()}}
    summary["wall_s"] = time.perf_counter() - t0
    write_atomic(out / "run.json", json.dumps(summary, indent=1))
    log(f"finished in {summary['wall_s'] / 60:.1f} min wall")
    return summary


def _protocol_suites(protocol: Path) -> list[str]:
    from agents.bench.v3.statistics import protocol_table

    return list(protocol_table(protocol, "protocol")[1]["suites"])


def main_v3(args) -> int:
    """``hptune bench --v3 --out DIR [--split dev|test|transfer] [--quick] [--suite A,B] [--methods A,B]
    [--agent pkg.mod:Name] [--workers N] [--protocol F] [--ledger F]``."""
    import sys

    suites = [s.strip() for s in args.suite.split(",") if s.strip()] if args.suite else None
    t0 = time.perf_counter()
    summary = run_v3(args.out, suites=suites, methods=args.methods, agents=args.agent, split=args.split, quick=args.quick,
                     protocol=args.protocol, ledger=args.ledger, workers=args.workers,
                     log=lambda msg: print(f"[{time.perf_counter() - t0:6.0f}s] {msg}", file=sys.stderr, flush=True))
    for name in summary["suites"]:
        print((Path(args.out) / name.replace("/", "_") / "results.md").read_text())
    print(f"{args.out}: {summary['wall_s'] / 60:.1f} min wall")
    return 0
