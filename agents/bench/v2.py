"""Benchmark v2: the registered protocol run on its suites (``hptune bench --v2``).

Per suite of the protocol ([`agents.bench.preregistration`][]), in this order:

1. **Selection** ([`selection_stage`][agents.bench.v2.selection_stage], selection members only, on the
   protocol's two selection seeds A and B). On seed A every static tuple of the grid trains one child per
   member; the best tuple by mean validation accuracy is the ``best static tuple`` reference, and
   the family of fixed schedules ([`agents.bench.candidates.schedule_family`][]) is built around
   the best ``schedule_starts`` tuples and trained on seed A too: its best is the ``best fixed
   schedule``. Per member, the static oracle is the member's best tuple on seed A and the dynamic
   oracle its best schedule on seed A (over the global family and a family around the member's own
   best ``oracle_schedule_starts`` tuples). Seed B re-trains each member's chosen children, so
   every gate is scored on children its choice never saw (test accuracy of seed B's children):
   no winner's curse.
2. **Gates** (``headroom.csv``): static headroom (per-member static oracle over the best static
   tuple and over the best fixed schedule) and dynamic headroom (per-member best fixed schedule
   over the per-member best static tuple), paired at member level.
3. **Power** (``power.csv``): [`agents.bench.member_stats.power_analysis`][] on the selection
   members' differences, for the protocol's minimum detectable difference at the Holm worst case.
4. **Methods**: each method of the suite's comparison family is prepared with a
   [`PrepareContext`][agents.bench.v2.PrepareContext], which holds the train and selection members and nothing
   else; a meta-trained method (``learned = True``) once per meta-training seed. Then every method
   deploys one child per (test or transfer member, evaluation seed), written to ``results.csv``
   with the protocol's hash, the method's version and fingerprint and the applied schedule.

Units that are independent (members, meta-training seeds) run on every core
([`agents.bench.parallel.run_units`][]); every stage is cached in the run folder, so a killed
run continues where it stopped.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

import hpenv
from agents.bench.candidates import schedule_family, static_grid
from agents.bench.common import (Prepared, cached_units, rows_as_they_finish, schedule_json, without_seed,
                                 write_atomic, write_csv)
from agents.bench.methods.budgets import MethodBudgets
from agents.bench.parallel import run_units
from agents.bench.preregistration import ProtocolError, RegisteredProtocol, SuitePlan
from agents.engine import schedule_episodes, static_episodes
from hpenv.instances import Suite

__all__ = ["HEADROOM_V2_COLUMNS", "SelectionView", "PrepareContext", "method_budgets", "selection_stage", "gate_rows",
           "plan_of"]

HEADROOM_V2_COLUMNS = ["suite", "gate", "method", "reference", "n_members", "gain", "ci_low", "ci_high",
                       "p_wilcoxon", "method_mean", "reference_mean", "threshold", "passes"]

#: Children trained side by side in one vector env during selection (their numbers do not enter any
#: report row: only seed B's re-trained children, alone, do).
SELECTION_CHUNK = 120


# ---------------------------------------------------------------------- what prepare may see
class SelectionView:
    """A suite as a method's ``prepare`` sees it: its name and its train and selection members.

    ``members("test")`` and ``members("transfer")`` raise: the rule that nothing is chosen on test
    members is this class, not prose.
    """

    ALLOWED = ("train", "selection")

    def __init__(self, plan: SuitePlan):
        self.name = plan.name
        self._members = {split: plan.members(split) for split in self.ALLOWED}

    def members(self, split: str) -> list[str]:
        if split not in self.ALLOWED:
            raise ProtocolError(f"a method's prepare sees the {list(self.ALLOWED)} members of {self.name} only, "
                                f"not {split!r}: nothing is chosen or learned on the members a benchmark reports")
        return list(self._members[split])


# ---------------------------------------------------------------------- stage 1: selection
def _grid_unit(unit: tuple) -> dict:
    """Every static tuple on one selection member at seed A: validation and test accuracy."""
    member, grid, seed, env_kwargs = unit
    t0 = time.perf_counter()
    res, spent = static_episodes(grid, [seed] * len(grid), chunk=SELECTION_CHUNK, task=member, **env_kwargs)
    return {"member": member, "val": [r.val_accuracy for r in res], "test": [r.test_accuracy for r in res],
            "sgd_steps": spent, "wall_time_s": time.perf_counter() - t0}


def _schedule_unit(unit: tuple) -> dict:
    """The global schedule family and the member's own family on one selection member at seed A."""
    member, schedules, seed, env_kwargs = unit
    t0 = time.perf_counter()
    res, spent = schedule_episodes(schedules, [seed] * len(schedules), chunk=SELECTION_CHUNK, task=member,
                                   **env_kwargs)
    return {"member": member, "val": [r.val_accuracy for r in res], "sgd_steps": spent,
            "wall_time_s": time.perf_counter() - t0}


def _top(values: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest values, best first (ties: the lower index, for repeatability)."""
    return np.argsort(-values, kind="stable")[:k]


def selection_stage(plan: SuitePlan, protocol: RegisteredProtocol, cache: Path, *, workers: int | None = None,
                    log=print) -> dict:
    """Stage 1 of one suite (cached under ``cache``): the references' choices, the oracles, seed B.

    Returns a dict with the static grid and schedule family, the ``selection`` dict methods read
    (``static_best``, ``schedule_best``, ``static_val`` ... as v1's), and per member the seed-B
    test accuracies of the children the gates compare.
    """
    cache = Path(cache)
    done = cache / "selection.json"
    if done.exists():
        return _loaded(json.loads(done.read_text()))
    space = hpenv.HPSpace.default()
    kw = plan.env_kwargs
    b = protocol.budgets
    members = plan.members("selection")
    seed_a, seed_b = protocol.selection_seeds[:2]
    grid = static_grid(space, protocol.candidates.static)
    log(f"{plan.name}: selection on {len(members)} selection members: {len(grid)} static tuples at seed {seed_a}")
    g = cached_units(_grid_unit, [(m, grid, seed_a, kw) for m in members], cache / "grid", log, "static grid",
                      workers)
    static_val = np.array([r["val"] for r in g])
    static_best = int(np.argmax(static_val.mean(0)))
    starts = grid[_top(static_val.mean(0), b.schedule_starts)]
    family, family_names = schedule_family(space, kw["horizon"], starts, protocol.candidates.schedule_families)
    own = []  # each member's own schedule family, around its best tuples on seed A
    for i in range(len(members)):
        sched, names = schedule_family(space, kw["horizon"], grid[_top(static_val[i], b.oracle_schedule_starts)],
                                       protocol.candidates.schedule_families)
        own.append((sched, names))
    log(f"{plan.name}: {len(family)} fixed schedules around the best {b.schedule_starts} tuples, and per member "
        f"~{int(np.mean([len(o[0]) for o in own]))} around its best {b.oracle_schedule_starts}")
    s = cached_units(_schedule_unit, [(m, np.concatenate([family, own[i][0]]), seed_a, kw)
                                       for i, m in enumerate(members)], cache / "schedules", log,
                      "fixed schedules", workers)
    schedule_val = np.array([r["val"][: len(family)] for r in s])
    schedule_best = int(np.argmax(schedule_val.mean(0)))

    # seed B: the children each gate compares, per member, trained again on a seed no choice saw
    def constant(t):  # a static tuple as the schedule that never changes
        return np.repeat(np.asarray(t)[None], kw["horizon"], 0)

    rows, labels = [], ("best static tuple", "best fixed schedule", "static oracle", "dynamic oracle")
    oracle_static, oracle_schedule = [], []
    for i, m in enumerate(members):
        own_sched, own_names = own[i]
        all_sched, all_names = np.concatenate([family, own_sched]), family_names + own_names
        j_static = int(np.argmax(static_val[i]))
        j_sched = int(np.argmax(s[i]["val"]))
        oracle_static.append(space.decode(grid[j_static]))
        oracle_schedule.append(all_names[j_sched])
        rows += [constant(grid[static_best]), family[schedule_best], constant(grid[j_static]), all_sched[j_sched]]
    t0 = time.perf_counter()
    res, spent_b = _per_member_b(members, rows, labels, seed_b, kw)
    seed_b_test = {label: [res[i * len(labels) + k].test_accuracy for i in range(len(members))]
                   for k, label in enumerate(labels)}
    selection = {
        "members": members, "seeds": [seed_a, seed_b],
        "static_val": static_val.tolist(), "static_best": static_best,
        "static_sgd_steps": int(sum(r["sgd_steps"] for r in g)),
        "static_wall_time_s": float(sum(r["wall_time_s"] for r in g)),
        "schedule_val": schedule_val.tolist(), "schedule_best": schedule_best,
        "schedule_sgd_steps": int(sum(r["sgd_steps"] for r in s)),
        "schedule_wall_time_s": float(sum(r["wall_time_s"] for r in s)),
    }
    data = {"grid": grid.tolist(), "family": family.tolist(), "family_names": family_names,
            "selection": selection, "seed_b_test": seed_b_test, "oracle_static": oracle_static,
            "oracle_schedule": oracle_schedule, "seed_b_sgd_steps": spent_b,
            "seed_b_wall_time_s": time.perf_counter() - t0}
    write_atomic(done, json.dumps(data))
    return _loaded(data)


def _per_member_b(members, rows, labels, seed, kw):
    """Seed B's children, member by member (a member is a task; its children train in one batch)."""
    out, spent = [], 0
    n = len(labels)
    for i, m in enumerate(members):
        res, sp = schedule_episodes(np.array(rows[i * n:(i + 1) * n]), [seed] * n, chunk=n, task=m, **kw)
        out += res
        spent += sp
    return out, spent


def _loaded(data: dict) -> dict:
    data = dict(data)
    data["grid"] = np.asarray(data["grid"], dtype=np.int64)
    data["family"] = np.asarray(data["family"], dtype=np.int64)
    return data


# ---------------------------------------------------------------------- stage 2: gates
def gate_rows(plan: SuitePlan, protocol: RegisteredProtocol, sel: dict) -> list[dict]:
    """``headroom.csv`` rows of one suite: both gates, member level, on seed B's children."""
    from agents.bench.stats import paired_comparison

    t = sel["seed_b_test"]
    threshold = protocol.budgets.dynamic_headroom_min_gain
    out = []
    for gate, method, ref in (("static", "static oracle", "best static tuple"),
                              ("static", "static oracle", "best fixed schedule"),
                              ("dynamic", "dynamic oracle", "static oracle")):
        c = paired_comparison(t[method], t[ref], n_resamples=protocol.statistics.bootstrap_resamples,
                              confidence=protocol.statistics.confidence)
        out.append({"suite": plan.name, "gate": gate, "method": method, "reference": ref, "n_members": c["n"],
                    "gain": c["mean_diff"], "ci_low": c["ci_low"], "ci_high": c["ci_high"], "p_wilcoxon": c["p"],
                    "method_mean": c["mean"], "reference_mean": c["ref_mean"], "threshold": threshold,
                    "passes": bool(c["mean_diff"] >= threshold and c["ci_low"] > 0)})
    return out


# ---------------------------------------------------------------------- stage 3: methods
def method_budgets(protocol: RegisteredProtocol, seed: int = 0) -> MethodBudgets:
    """The protocol's budgets as a method reads them, seeded with the meta-training seed ``seed`` (0 for
    methods that learn nothing); RR meta is meta-trained with absolute actions only."""
    b = protocol.budgets
    return MethodBudgets(meta_episodes=b.meta_episodes, num_envs=b.num_envs,
                         search_budget_episodes=b.search_budget_episodes, search_candidates=b.search_candidates,
                         tpe_startup_trials=b.tpe_startup_trials, pbt_interval=b.pbt_interval, seed=int(seed),
                         rr_spaces=("absolute",))


class PrepareContext:
    """What a method receives in v2 (``prepare(ctx)``, ``run(ctx, member, seeds)``): the suite seen
    through [`SelectionView`][agents.bench.v2.SelectionView], the selection stage's choices and no test grid,
    so no code path reaches a test member; ``budgets`` is [`method_budgets`][agents.bench.v2.method_budgets]
    for the meta-training seed ``seed``.
    """

    def __init__(self, plan: SuitePlan, protocol: RegisteredProtocol, sel: dict, cache_dir: Path, seed: int = 0):
        self.suite = SelectionView(plan)
        self.budgets = method_budgets(protocol, seed)
        # The methods the v2 ledger scored read their budgets as ``ctx.protocol``, and their fingerprints
        # hash that code (method_identity): the budgets answer to that name too, so it stays as scored.
        self.protocol = self.budgets
        self.env_kwargs = plan.env_kwargs
        self.episode_steps = plan.deployed_sgd_steps
        self.space = hpenv.HPSpace.default()
        self.candidates = sel["grid"]
        self.schedules, self.schedule_names = sel["family"], list(sel["family_names"])
        self.selection = sel["selection"]
        self._selection_seeds = list(protocol.selection_seeds)
        self.cache_dir = Path(cache_dir)
        self.cache_dir.mkdir(parents=True, exist_ok=True)

    def selection_members(self) -> list[str]:
        return self.suite.members("selection")

    def selection_seeds(self) -> list[int]:
        return list(self._selection_seeds)


def method_identity(method, plan: SuitePlan, training_seed: int = -1) -> tuple[str, str]:
    """``(version, fingerprint)``: the class's ``version`` label and a digest of its settings (the
    meta-training seed masked, so every seed's copy of a method shares one) and its class's code."""
    from agents.bench.ledger import method_fingerprint
    from agents.reinforce_config import settings_as_filed

    settings = {"suite": plan.name, **method.settings()}
    if isinstance(settings.get("agent"), dict):  # RecurrentReinforce's config, as the v2 ledger filed it
        settings = {**settings, "agent": settings_as_filed(settings["agent"])}
    if training_seed >= 0:
        settings = without_seed(settings, training_seed)
    return method.version, method_fingerprint(method.name, method.version, settings, code=(type(method),))


def _prepare_unit(unit: tuple) -> Prepared:
    spec, seed, plan, protocol, sel, cache_dir = unit
    from agents.bench.methods import resolve_method

    method = resolve_method(spec)
    method.prepare(PrepareContext(plan, protocol, sel, cache_dir, seed=max(seed, 0)))
    version, fingerprint = method_identity(method, plan, seed)
    return Prepared(method, seed, version, fingerprint)


def _deploy_unit(unit: tuple) -> list[dict]:
    """Every prepared method on one member at the evaluation seeds: results rows."""
    member, split, prepared, plan, protocol, sel, cache_dir, seeds, done = unit
    space = hpenv.HPSpace.default()
    rows = []
    contexts: dict[int, PrepareContext] = {}  # one per meta-training seed, shared by the methods
    for p in prepared:
        todo = [s for s in seeds if (member, p.method.name, p.version, p.training_seed, s) not in done]
        if not todo:
            continue
        seed = max(p.training_seed, 0)
        if seed not in contexts:
            contexts[seed] = PrepareContext(plan, protocol, sel, cache_dir, seed=seed)
        for r in p.method.run(contexts[seed], member, todo):
            rows.append({
                "suite": plan.name, "split": split, "member": member, "seed": r.seed, "method": p.method.name,
                "method_version": p.version, "method_fingerprint": p.fingerprint, "training_seed": p.training_seed,
                "test_accuracy": r.test_accuracy, "val_accuracy": r.val_accuracy,
                "deployed_sgd_steps": r.deployed_sgd_steps, "search_sgd_steps": r.search_sgd_steps,
                "one_off_sgd_steps": p.method.one_off_sgd_steps,
                "one_off_wall_time_s": round(p.method.one_off_wall_time_s, 2),
                "wall_time_s": round(r.wall_time_s, 3), "diverged": r.diverged, "protocol_hash": protocol.hash,
                "schedule": schedule_json(r, space.names), "replayable": bool(getattr(p.method, "replayable", True)),
                "source": p.method.source, "chosen": json.dumps(r.chosen) if r.chosen else "",
            })
    return rows


def family_methods(plan: SuitePlan) -> list[str]:
    """The methods a suite's run deploys: its comparison family, then those reported beside it."""
    return list(dict.fromkeys([*plan.methods, *plan.reported]))


def prepare_stage(plan: SuitePlan, protocol: RegisteredProtocol, sel: dict, cache: Path, methods: Sequence[str], *,
                  workers: int | None = None, log=print) -> list[Prepared]:
    """Every method prepared (a learned one once per meta-training seed), in parallel units; returned
    in the order of ``methods``, each method's copies by seed."""
    from agents.bench.methods import resolve_method

    units = []
    for spec in methods:
        learned = resolve_method(spec).learned
        for seed in (range(protocol.budgets.meta_training_seeds) if learned else (-1,)):
            units.append((spec, seed, plan, protocol, sel, cache / "methods"))
    # the long meta-trainings start first, so the short preparations fill the workers at the end
    # (and "RR meta + online" then finds RR meta's agents in the cache)
    schedule = sorted(range(len(units)), key=lambda i: units[i][1] < 0)
    log(f"{plan.name}: preparing {len(methods)} methods ({len(units)} preparations, meta-trained ones once per seed)")
    out: list[Prepared | None] = [None] * len(units)
    t0 = time.perf_counter()
    for j, prepared in run_units(_prepare_unit, [units[i] for i in schedule], workers=workers):
        out[schedule[j]] = prepared
        m = prepared.method
        log(f"  prepared {m.name}" + (f" (seed {prepared.training_seed})" if prepared.training_seed >= 0 else "")
            + f": {m.one_off_sgd_steps:,} one-off SGD steps, {m.one_off_wall_time_s:.0f} s"
            + f" [{time.perf_counter() - t0:.0f} s]")
    return out  # type: ignore[return-value]


def deploy_stage(plan: SuitePlan, protocol: RegisteredProtocol, sel: dict, cache: Path, prepared: list[Prepared],
                 results: Path, splits: Sequence[str], *, members: dict[str, list[str]] | None = None,
                 workers: int | None = None, log=print) -> list[dict]:
    """Every prepared method on every member of ``splits`` at the evaluation seeds, into ``results``
    (rewritten atomically after each member, so a killed run keeps every finished member)."""
    from agents.bench.common import V2_COLUMNS, read_v2_rows

    rows = read_v2_rows(results)
    done = {(r["member"], r["method"], r["method_version"], int(r["training_seed"]), int(r["seed"])) for r in rows}
    seeds = list(protocol.evaluation_seeds)
    targets = [(m, split) for split in splits for m in (members or {}).get(split, plan.members(split))]
    units = [(m, split, prepared, plan, protocol, sel, cache / "methods", seeds, done) for m, split in targets]
    log(f"{plan.name}: deploying {len(prepared)} prepared methods on {len(targets)} members x {len(seeds)} seeds")
    return rows_as_they_finish(_deploy_unit, units, rows, results, V2_COLUMNS, log, workers)


# ---------------------------------------------------------------------- the run
#: ``--quick``: the whole pipeline in minutes, deployed on selection members (a rehearsal that
#: touches no test member and files nothing in the ledger; its hash says it is not the protocol).
QUICK = {"selection": 8, "members": 8, "seeds": 1,
         "budgets": {"meta_training_seeds": 2, "meta_episodes": 128, "num_envs": 16, "search_budget_episodes": 2,
                     "search_candidates": 4, "schedule_starts": 2, "oracle_schedule_starts": 1},
         "static": {"dropout": [0.0], "depth": [1, 4]}}


def quick_settings(overrides: dict | None = None) -> dict:
    """`QUICK` updated with ``overrides`` (their ``budgets`` merged into QUICK's)."""
    overrides = overrides or {}
    return {**QUICK, **overrides, "budgets": {**QUICK["budgets"], **overrides.get("budgets", {})}}


def quick_protocol(protocol: RegisteredProtocol, overrides: dict | None = None) -> RegisteredProtocol:
    """The protocol cut down to [`quick_settings`][agents.bench.v2.quick_settings] (hash ``quick-<hash>``,
    which ``--verify`` refuses)."""
    q = quick_settings(overrides)
    return dataclasses.replace(
        protocol, hash=f"quick-{protocol.hash[:12]}", evaluation_seeds=protocol.evaluation_seeds[: q["seeds"]],
        budgets=dataclasses.replace(protocol.budgets, **q["budgets"]),
        candidates=dataclasses.replace(protocol.candidates, static=q["static"]),
        suites=tuple(dataclasses.replace(plan, selection=min(plan.selection, q["selection"])) for plan in protocol.suites))


def plan_of(protocol: RegisteredProtocol, suite: str) -> SuitePlan:
    """The protocol's plan of ``suite``; a ValueError naming the right command for a v1 suite or a suite the
    protocol does not register."""
    registered = [plan.name for plan in protocol.suites]
    if suite in registered:
        return protocol.suite(suite)
    if suite in hpenv.instance_sets() and isinstance(hpenv.suite(suite), Suite):
        raise ValueError(f"suite {suite!r} belongs to benchmark v1, which `hptune bench --v2` does not run; run it "
                         f"with `hptune bench --suite {suite} --out DIR` (without --v2)")
    raise ValueError(f"suite {suite!r} is not in protocol {protocol.version} ({protocol.path}); it registers "
                     f"{', '.join(registered)}")


def run_v2(protocol: RegisteredProtocol, out: str | Path, *, suites: Sequence[str] | None = None,
           methods: Sequence[str] | None = None, quick: bool | dict = False, workers: int | None = None,
           ledger: Path | None = None, check_registry: bool = True, log=print) -> dict:
    """Run the registered protocol into ``out`` (resumable) and write its reports.

    Args:
        suites: names of the protocol's suites (default: all).
        methods: override the suites' methods (default: each suite's family and ``reported``).
        quick: [`quick_protocol`][agents.bench.v2.quick_protocol] (a dict: with those overrides of `QUICK`),
            deployed on selection members: a rehearsal, not a result.
        ledger: the ledger file a full run appends to (default: the committed one of the checkout holding
            the current folder, [`agents.bench.ledger.find_ledger`][]; found before any work starts).
        check_registry: refuse a protocol whose suites' member counts differ from the registered
            suites' ([`registry_problems`][agents.bench.preregistration.registry_problems]); off only for test
            protocols.

    A full run scores test members, so the protocol must be frozen, and every (method, version)
    it scores is appended to the ledger.
    """
    from agents.bench.common import V2_COLUMNS
    from agents.bench.methods import resolve_method
    from agents.bench.report_v2 import write_suite_report
    from hpenv.extras import require_all
    from hpenv.instances import write_members_csv

    if protocol.budgets is None:
        raise ProtocolError(f"protocol {protocol.path} has no [budgets] table: v2 runs need the methods' budgets")
    if quick:
        rehearsal = quick_settings(quick if isinstance(quick, dict) else None)
        protocol = quick_protocol(protocol, rehearsal)
    else:
        from agents.bench.ledger import find_ledger
        from agents.bench.preregistration import registry_problems

        protocol.require_frozen()
        problems = registry_problems(protocol) if check_registry else []
        if problems:
            raise ProtocolError("; ".join(problems))
        ledger = Path(ledger) if ledger is not None else find_ledger()
    plans = [plan_of(protocol, name) for name in (suites or [p.name for p in protocol.suites])]
    per_suite = {plan.name: list(methods or family_methods(plan)) for plan in plans}
    resolved = {spec: resolve_method(spec) for specs in per_suite.values() for spec in specs}
    require_all([(f"method {m.name!r}", extra) for m in resolved.values() for extra in m.extras])
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0, cpu0 = time.perf_counter(), time.process_time()
    summary: dict[str, Any] = {"started": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "protocol": str(protocol.path),
                               "protocol_hash": protocol.hash,
                               "version": protocol.version, "quick": bool(quick), "suites": {}}
    all_rows: list[dict] = []
    for plan in plans:
        folder = out / plan.name.replace("/", "_")
        cache = folder / "cache"
        sel = selection_stage(plan, protocol, cache, workers=workers, log=log)
        gates = gate_rows(plan, protocol, sel)
        write_csv(gates, folder / "headroom.csv", HEADROOM_V2_COLUMNS)
        for g in gates:
            log(f"{plan.name}: {g['gate']} headroom, {g['method']} over {g['reference']}: {100 * g['gain']:+.2f} "
                f"points [{100 * g['ci_low']:+.2f}, {100 * g['ci_high']:+.2f}] ({g['n_members']} members)")
        power = power_rows(plan, protocol, sel)
        write_csv(power, folder / "power.csv", POWER_COLUMNS)
        write_members_csv(folder / "members.csv", plan.name)
        prepared = prepare_stage(plan, protocol, sel, cache, per_suite[plan.name], workers=workers, log=log)
        if quick:
            splits, members = ("selection",), {"selection": plan.members("selection")[: rehearsal["members"]]}
        else:
            splits, members = ("test", "transfer") if plan.transfer else ("test",), None
        rows = deploy_stage(plan, protocol, sel, cache, prepared, folder / "results.csv", splits, members=members,
                            workers=workers, log=log)
        summary["suites"][plan.name] = {"rows": len(rows), "methods": [p.method.name for p in prepared]}
        write_suite_report(folder, plan, protocol, sel, gates, power, prepared, rows, quick=bool(quick))
        all_rows += rows
        write_csv(all_rows, out / "results.csv", V2_COLUMNS)  # every suite's rows: what --verify reads
        if not quick:
            file_in_ledger(out / "results.csv", plan, protocol, prepared, rows, ledger)
    summary["wall_s"], summary["cpu_s"] = time.perf_counter() - t0, time.process_time() - cpu0
    write_atomic(out / "run.json", json.dumps(summary, indent=1))
    write_atomic(out / "sessions.json", json.dumps([*run_sessions(out), summary], indent=1))
    log(f"finished in {summary['wall_s'] / 60:.1f} min wall")
    return summary


def run_sessions(out: Path) -> list[dict]:
    """The summaries of every [`run_v2`][agents.bench.v2.run_v2] call that finished in ``out`` (a resumed run
    has several)."""
    path = Path(out) / "sessions.json"
    return json.loads(path.read_text()) if path.exists() else []


# ---------------------------------------------------------------------- power and the ledger
POWER_COLUMNS = ["suite", "proxy", "n_selection_members", "sd", "delta", "level", "family_size", "required_n",
                 "normal_n", "registered_test_members", "power_at_registered"]

#: Member-level differences on selection members (seed B) standing in for "a method minus a
#: reference": how much members disagree about two reasonable choices.
POWER_PROXIES = (("best fixed schedule", "best static tuple"), ("static oracle", "best static tuple"),
                 ("dynamic oracle", "static oracle"))


def power_rows(plan: SuitePlan, protocol: RegisteredProtocol, sel: dict) -> list[dict]:
    """The power analysis of one suite (``power.csv``): for each proxy, the test members needed for
    the protocol's power to detect its minimum difference at the Holm worst case over the family."""
    from agents.bench.member_stats import power_analysis

    st = protocol.statistics
    family = len(plan.references)
    grid = sorted({*range(20, 301, 10), plan.test})
    out = []
    for a, b in POWER_PROXIES:
        d = np.subtract(sel["seed_b_test"][a], sel["seed_b_test"][b])
        if np.ptp(d) == 0:
            continue
        pa = power_analysis(d, delta=st.minimum_detectable_difference, alpha=st.alpha, family_size=family,
                            power=st.power, n_grid=grid, seed=0)
        at = next(t["power"] for t in pa.table if t["n"] == plan.test)
        out.append({"suite": plan.name, "proxy": f"{a} - {b}", "n_selection_members": pa.n_measured, "sd": pa.sd,
                    "delta": pa.delta, "level": pa.level, "family_size": family,
                    "required_n": pa.required_n if pa.required_n is not None else f">{grid[-1]}",
                    "normal_n": round(pa.normal_n, 1), "registered_test_members": plan.test,
                    "power_at_registered": at})
    return out


def file_in_ledger(results: Path, plan: SuitePlan, protocol: RegisteredProtocol, prepared: Sequence[Prepared],
                   rows: Sequence[dict], ledger: Path | None = None) -> None:
    """Append one ledger row per (method, version) this run scored on the suite's test members; a
    resumed run files only the versions not yet filed under this protocol and suite."""
    from agents.bench.ledger import append_entry, find_ledger, new_entry, read_ledger
    from agents.bench.member_stats import member_differences, member_matrix

    ledger = Path(ledger) if ledger is not None else find_ledger()
    test = [r for r in rows if r["split"] == "test"]
    reference = plan.references[0]
    ref = member_matrix(test, reference)
    seen = {(e.method, e.method_version, e.method_fingerprint) for e in read_ledger(ledger)
            if (e.protocol_hash, e.suite) == (protocol.hash, plan.name)}
    for p in prepared:
        key = (p.method.name, p.version, p.fingerprint)
        if key in seen:
            continue
        seen.add(key)
        mine = member_matrix(test, p.method.name)
        difference = float(np.mean(list(member_differences(mine, ref).values())))
        append_entry(new_entry(results=results, protocol_hash=protocol.hash, suite=plan.name, method=p.method.name,
                               method_version=p.version, method_fingerprint=p.fingerprint, n_members=len(mine),
                               n_seeds=len(protocol.evaluation_seeds),
                               mean_test_accuracy=float(np.mean([v.mean() for v in mine.values()])),
                               reference=reference, difference_vs_reference=difference), ledger)


def main_v2(args) -> int:
    """``hptune bench --v2 --out DIR [--quick] [--suite A,B] [--methods A,B] [--workers N] [--protocol/--ledger F]``."""
    import sys

    from agents.bench.preregistration import REGISTERED_PROTOCOL, load_protocol

    protocol = load_protocol(args.protocol or REGISTERED_PROTOCOL)
    suites = [s.strip() for s in args.suite.split(",") if s.strip()] if args.suite else None
    t0 = time.perf_counter()
    summary = run_v2(protocol, args.out, suites=suites, methods=args.methods, quick=args.quick, workers=args.workers,
                     ledger=args.ledger,
                     log=lambda msg: print(f"[{time.perf_counter() - t0:6.0f}s] {msg}", file=sys.stderr, flush=True))
    for name in summary["suites"]:
        print((Path(args.out) / name.replace("/", "_") / "results.md").read_text())
    print(f"{args.out}: {summary['wall_s'] / 60:.1f} min wall, {summary['cpu_s'] / 60:.1f} min CPU time in this process")
    return 0
