"""The selection stage of a v3 suite and its gates (``headroom.csv``).

On the members of one split (the registered design: ``selection``; designs are tried on ``dev``):

1. **Seeds A choose** (validation accuracy). At the first seed A, one child per candidate and
   member: every static tuple of the grid, whose best by mean over members is the ``best static
   tuple``; fixed
   schedules (v2's family, [`agents.bench.candidates.schedule_family`][], and on a stream suite
   the rate moved from every step of the change window,
   [`window_schedules`][agents.bench.v3.candidates.window_schedules]) around the best ``schedule_starts``
   tuples and, per member, its own best ``oracle_schedule_starts``; on a stream suite also closed-loop rules
   ([`rule_family`][agents.bench.v3.candidates.rule_family]) around the same starts. Per member: the
   static oracle (its best tuple), the dynamic oracle (its best fixed schedule that does not
   freeze the child from the window's start), the closed-loop oracle (its best rule), the freeze
   oracle (its best freezing schedule, reported apart) and the better of the dynamic and closed-loop
   oracles. A member's choices are made on the mean validation accuracy over *every* seed A, among
   its ``shortlist`` best candidates of each kind at the first: on a stream the change comes at
   another step in every episode, and a schedule chosen on one episode is tuned to that episode's
   step (measured on dev members: a per-member best schedule chosen on one seed lost 3.2 points to
   the static oracle at other seeds). The global references are chosen at the first seed over all
   members, whose change steps differ (a stream's step is drawn from the seed and its data).
2. **Seeds B score**: each member's chosen children are trained again at the ``seeds_b`` (never
   used to choose) and scored by test accuracy, averaged over those seeds, so no gate has a
   winner's curse.
3. **Gates**, paired at member level ([`agents.bench.stats.paired_comparison`][]): static (static
   oracle over the best static tuple), dynamic (dynamic oracle over the static oracle) and, on a
   stream suite, closed-loop (closed-loop oracle over the dynamic oracle; the better of the two over
   the static oracle); the freeze oracle and the global references beside them.

Every unit (one member, one stage) is cached under a folder named by a hash of the settings the
stage reads (the protocol's ``[selection]`` table), the suite, the members' factors and env
arguments: editing another section of the protocol (or freezing it) re-runs nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Sequence

import numpy as np

import hpenv
from hpenv.instances import member_task
from agents.bench.candidates import SCHEDULE_FAMILIES, schedule_family, static_grid
from agents.bench.common import cached_units, read_typed, write_atomic, write_csv
from agents.bench.stats import paired_comparison
from agents.bench.v3.candidates import is_freeze, rule_episodes, rule_family, rule_name, window_schedules
from agents.bench.v3.statistics import is_stream_suite, protocol_table
from agents.engine import schedule_episodes, static_episodes

__all__ = ["GateSettings", "HEADROOM_COLUMNS", "load_gate_settings", "run_gates", "gate_rows", "load_references",
           "validation_means", "scored_means"]

#: ``headroom.csv``'s columns (v2's; ``gate`` is ``static``, ``dynamic`` or ``closed_loop``).
HEADROOM_COLUMNS = ["suite", "gate", "method", "reference", "n_members", "gain", "ci_low", "ci_high",
                    "p_wilcoxon", "method_mean", "reference_mean", "threshold", "passes"]
#: Children of one member trained side by side in one vector env.
CHUNK = 120


@dataclass(frozen=True)
class GateSettings:
    """The protocol's ``[selection]`` table: what the selection stage and its gates read.

    Attributes:
        seeds_a: the seeds whose children choose (validation accuracy); the first runs every
            candidate, the others a member's ``shortlist`` best of each kind.
        shortlist: candidates of each kind (static tuples, schedules, rules, freezing schedules)
            per member that the other seeds A re-train.
        seeds_b: the seeds whose children score the choices (test accuracy); never used to choose.
        static_candidates: v2's rule for the static grid (``"full_grid"`` or ``{name: [values]}``).
        schedule_families: names of `agents.bench.candidates.SCHEDULE_FAMILIES`.
        schedule_starts: best static tuples (mean over members) the global schedules start from.
        oracle_schedule_starts: a member's own best tuples its own schedules and rules start from.
        window_moves: learning-rate moves (grid positions) from each step of a stream's window.
        rule_starts: best static tuples the global rules start from.
        rule_thresholds: the closed-loop rules' thresholds (relative rises of the training loss);
            every combination of a threshold, a drop and a raise-first flag is a rule.
        rule_drops: the closed-loop rules' drops (grid positions below the start).
        rule_raise_first: the closed-loop rules' raise-first flags.
        static_min_gain: the static gate's target (accuracy as a fraction).
        stream_min_gain: a stream suite's closed-loop gate's target (accuracy as a fraction).
        bootstrap_resamples: bootstrap replicates of the member-level intervals.
        confidence: confidence level of the member-level intervals.
    """

    seeds_a: tuple = (7_300_000, 7_300_001, 7_300_002, 7_300_003, 7_300_004)
    shortlist: int = 16
    seeds_b: tuple = (7_300_010, 7_300_011, 7_300_012, 7_300_013)
    static_candidates: str | dict = "full_grid"
    schedule_families: tuple = tuple(SCHEDULE_FAMILIES)
    schedule_starts: int = 8
    oracle_schedule_starts: int = 4
    window_moves: tuple = (-1, -2, -3, 1)
    rule_starts: int = 4
    rule_thresholds: tuple = (0.1, 0.25, 0.5)
    rule_drops: tuple = (1, 2, 3, 5)
    rule_raise_first: tuple = (False, True)
    static_min_gain: float = 0.04
    stream_min_gain: float = 0.03
    bootstrap_resamples: int = 10000
    confidence: float = 0.95
    table: dict = field(default_factory=dict, compare=False, repr=False)


def load_gate_settings(path: str | Path) -> GateSettings:
    """The ``[selection]`` table of a v3 protocol file as [`GateSettings`][agents.bench.v3.gates.GateSettings]
    (a clear error names an unknown key)."""
    path, table = protocol_table(path, "selection")
    known = {f.name for f in fields(GateSettings)} - {"table"}
    unknown = sorted(set(table) - known)
    if unknown:
        raise ValueError(f"{path} [selection] has unknown keys {unknown}; known: {sorted(known)}")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in table.items()}
    return GateSettings(**values, table=table)


def load_references(path: str | Path) -> dict:
    """The global references a gate run chose, from its ``references.json``, ready to deploy:
    ``{name: schedule}`` with a schedule an ``int64`` array ``(horizon, n_hp)`` of the default space's
    grid positions (for [`agents.engine.schedule_episodes`][]; a static tuple repeats one row), and a
    closed-loop rule as the dict [`rule_episodes`][agents.bench.v3.candidates.rule_episodes] takes.

    Raises:
        FileNotFoundError: when ``path`` does not exist.
        ValueError: when a schedule is not ``(horizon, n_hp)`` positions on the default space's grid, or
            the file names other hyper-parameters than the default space's.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"references file {str(path)!r} does not exist (benchmarks/v3/gates.py writes it)")
    data = json.loads(path.read_text())
    space = hpenv.HPSpace.default()
    if data.get("hyper_parameters") != list(space.names):
        raise ValueError(f"{path} holds positions of {data.get('hyper_parameters')}, not of the default space's "
                         f"{list(space.names)}")
    out = {}
    for name, ref in data["references"].items():
        if "rule" in ref:
            out[name] = ref["rule"]
            continue
        sched = np.asarray(ref["schedule"], dtype=np.int64)
        if sched.shape != (data["horizon"], len(space)) or (sched < 0).any() or (sched >= space.sizes).any():
            raise ValueError(f"{path}: {name!r} must be {data['horizon']} steps of {len(space)} grid positions on the "
                             f"default space, got shape {sched.shape}")
        out[name] = sched
    return out


# ---------------------------------------------------------------------- units (one member each)
def _static_unit(unit: tuple) -> dict:
    member, grid, seed, kw = unit
    res, spent = static_episodes(grid, [seed] * len(grid), chunk=CHUNK, task=member, **kw)
    return {"val": [r.val_accuracy for r in res], "sgd_steps": spent}


def _dynamic_unit(unit: tuple) -> dict:
    member, schedules, rules, seed, kw = unit
    space = hpenv.HPSpace.default()
    res, spent = schedule_episodes(schedules, [seed] * len(schedules), chunk=CHUNK, task=member, **kw)
    out = {"schedule_val": [r.val_accuracy for r in res], "rule_val": [], "sgd_steps": spent}
    if rules:
        res, spent = rule_episodes(space, rules, [seed] * len(rules), chunk=CHUNK, task=member, **kw)
        out["rule_val"], out["sgd_steps"] = [r.val_accuracy for r in res], out["sgd_steps"] + spent
    return out


def validation_means(unit: tuple) -> dict:
    """``(member, schedules, rules, seeds, env_kwargs)``: each schedule's and rule's validation accuracy on
    ``member``, averaged over ``seeds`` (``schedule_val``, ``rule_val``; a shortlist at the other seeds A)."""
    member, schedules, rules, seeds, kw = unit
    space = hpenv.HPSpace.default()
    n = len(seeds)
    out = {"schedule_val": [], "rule_val": []}
    if len(schedules):
        res, _ = schedule_episodes(np.repeat(schedules, n, 0), list(seeds) * len(schedules), chunk=CHUNK,
                                   task=member, **kw)
        out["schedule_val"] = [float(np.mean([r.val_accuracy for r in res[i * n:(i + 1) * n]]))
                               for i in range(len(schedules))]
    if rules:
        res, _ = rule_episodes(space, [r for r in rules for _ in seeds], list(seeds) * len(rules), chunk=CHUNK,
                               task=member, **kw)
        out["rule_val"] = [float(np.mean([r.val_accuracy for r in res[i * n:(i + 1) * n]])) for i in range(len(rules))]
    return out


def scored_means(unit: tuple) -> dict:
    """``(member, {name: schedule}, {name: rule}, seeds, env_kwargs)``: each named child's test accuracy on
    ``member``, averaged over ``seeds`` (the seeds B)."""
    member, schedules, rules, seeds, kw = unit
    space = hpenv.HPSpace.default()
    n = len(seeds)
    out = {}
    if schedules:
        names = list(schedules)
        rows = np.repeat(np.array([schedules[k] for k in names]), n, 0)
        res, _ = schedule_episodes(rows, list(seeds) * len(names), chunk=CHUNK, task=member, **kw)
        for i, k in enumerate(names):
            out[k] = float(np.mean([r.test_accuracy for r in res[i * n:(i + 1) * n]]))
    if rules:
        names = list(rules)
        res, _ = rule_episodes(space, [rules[k] for k in names for _ in seeds], list(seeds) * len(names),
                               chunk=CHUNK, task=member, **kw)
        for i, k in enumerate(names):
            out[k] = float(np.mean([r.test_accuracy for r in res[i * n:(i + 1) * n]]))
    return out


def _top(values: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest values, best first (ties: the lower index)."""
    return np.argsort(-np.asarray(values), kind="stable")[:k]


def cache_key(settings: GateSettings, suite: str, members: Sequence[str]) -> str:
    """A digest of everything the stage reads: the ``[selection]`` table, the suite, each member's
    factors, env arguments and data ([`Task.digest`][hpenv.tasks.Task.digest]: a change in how a
    member is built re-runs its units)."""
    blob = json.dumps({"selection": settings.table or repr(settings), "suite": suite,
                       "members": [[m, hpenv.member_factors(m), hpenv.member_env_kwargs(m),
                                    member_task(m).digest()] for m in members]},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


# ---------------------------------------------------------------------- the stage
def run_gates(suite: str, settings: GateSettings, out: str | Path, cache: str | Path, *, split: str = "selection",
              members: Sequence[str] | None = None, workers: int | None = None, log=print) -> list[dict]:
    """The selection stage and gates of ``suite`` on the members of ``split`` (or ``members``).

    Writes ``headroom.csv`` and ``members.csv`` (one row per member: its factors, its choices and
    the seed-B test accuracy of every chosen child) into ``out``; returns the headroom rows.
    """
    t_start = time.perf_counter()
    members = list(members) if members is not None else hpenv.instance_set(suite, split)
    space = hpenv.HPSpace.default()
    cache = Path(cache) / f"{suite.replace('/', '_')}-{split}-{cache_key(settings, suite, members)}"
    factors = [hpenv.member_factors(m) for m in members]
    kws = [hpenv.member_env_kwargs(m) for m in members]
    horizon = kws[0]["horizon"]
    stream = bool(factors[0].get("stream"))
    log(f"{suite} ({split}, {len(members)} members): selection stage, cache {cache}")

    grid = static_grid(space, settings.static_candidates)
    seed_a, other_a = settings.seeds_a[0], tuple(settings.seeds_a[1:])
    static = cached_units(_static_unit, [(m, grid, seed_a, kw) for m, kw in zip(members, kws)],
                     cache / "static", log, f"{len(grid)} static tuples", workers)
    static_val = np.array([r["val"] for r in static])
    static_best = int(np.argmax(static_val.mean(0)))
    starts = grid[_top(static_val.mean(0), settings.schedule_starts)]
    rule_starts = grid[_top(static_val.mean(0), settings.rule_starts)]

    # the global candidates (the same for every member) first, then the member's own around its best tuples
    window = factors[0]["window"]
    lowest = -len(space.params[space.names.index("learning_rate")].values)  # a move to the grid's smallest rate

    def schedules_around(group: np.ndarray) -> tuple[np.ndarray, list[str]]:
        scheds, names = schedule_family(space, horizon, group, settings.schedule_families)
        if stream:
            more, more_names = window_schedules(space, horizon, group, window, (*settings.window_moves, lowest))
            scheds, names = np.concatenate([scheds, more]), names + more_names
        return scheds, names

    def rules_around(group: np.ndarray) -> list[dict]:
        return rule_family(group, settings.rule_thresholds, settings.rule_drops, settings.rule_raise_first)

    global_family, global_names = schedules_around(starts)
    global_rules = rules_around(rule_starts) if stream else []
    cand = []  # per member: (schedules, their names, rules)
    for i in range(len(members)):
        own = grid[_top(static_val[i], settings.oracle_schedule_starts)]
        scheds, names = schedules_around(own)
        cand.append((np.concatenate([global_family, scheds]), global_names + names,
                     global_rules + rules_around(own) if stream else []))
    dynamic = cached_units(_dynamic_unit, [(m, c[0], c[2], seed_a, kw) for m, c, kw in zip(members, cand, kws)],
                           cache / "dynamic", log, f"~{int(np.mean([len(c[0]) + len(c[2]) for c in cand]))} schedules "
                           "and rules", workers)

    n_global = len(global_family)
    global_freeze = is_freeze(space, global_family, window) if stream else np.zeros(n_global, dtype=bool)
    global_val = np.array([d["schedule_val"][:n_global] for d in dynamic]).mean(0)
    schedule_best = int(np.argmax(np.where(global_freeze, -np.inf, global_val)))
    if stream:
        rule_best = int(np.argmax(np.array([d["rule_val"][:len(global_rules)] for d in dynamic]).mean(0)))

    def constant(t):
        return np.repeat(np.asarray(t)[None], horizon, 0)

    # each member's shortlists at the first seed A, then the mean over every seed A chooses among them
    shortlists, first_vals = [], []
    for i in range(len(members)):
        scheds, rules = cand[i][0], cand[i][2]
        val, rval = np.asarray(dynamic[i]["schedule_val"]), np.asarray(dynamic[i]["rule_val"])
        freeze = is_freeze(space, scheds, window) if stream else np.zeros(len(scheds), dtype=bool)
        k = settings.shortlist
        shortlists.append({"static": _top(static_val[i], k),
                           "dynamic": _top(np.where(freeze, -np.inf, val), min(k, int((~freeze).sum()))),
                           "freeze": _top(np.where(freeze, val, -np.inf), min(k, int(freeze.sum()))),
                           "rule": _top(rval, min(k, len(rules)))})
        first_vals.append({"static": static_val[i], "dynamic": val, "freeze": val, "rule": rval})
    confirm_units = []
    for i, m in enumerate(members):
        lists, scheds, rules = shortlists[i], cand[i][0], cand[i][2]
        rows = np.concatenate([np.repeat(grid[lists["static"]][:, None], horizon, 1), scheds[lists["dynamic"]],
                               scheds[lists["freeze"]]])
        confirm_units.append((m, rows, [rules[j] for j in lists["rule"]], other_a, kws[i]))
    confirmed = (cached_units(validation_means, confirm_units, cache / "confirm", log, "shortlists at the other seeds A",
                              workers) if other_a else [None] * len(members))

    score_units, choices = [], []
    for i, m in enumerate(members):
        scheds, names, rules = cand[i]
        lists = shortlists[i]
        # the other seeds' mean validation accuracy of each shortlist, in the order the confirm unit trained them
        later = {}
        if confirmed[i] is not None:
            rows = np.split(np.asarray(confirmed[i]["schedule_val"]),
                            np.cumsum([len(lists["static"]), len(lists["dynamic"])]))
            later = dict(zip(("static", "dynamic", "freeze"), rows), rule=np.asarray(confirmed[i]["rule_val"]))

        def best(kind: str) -> tuple[int, float]:
            """The shortlisted candidate of ``kind`` with the best mean validation accuracy over every seed A."""
            v = first_vals[i][kind][lists[kind]]
            if kind in later:
                v = (v + later[kind] * len(other_a)) / (1 + len(other_a))
            j = int(np.argmax(v))
            return int(lists[kind][j]), float(v[j])

        j_static, v_static = best("static")
        j_dyn, v_dyn = best("dynamic")
        chosen_s = {"best static tuple": constant(grid[static_best]), "best fixed schedule": global_family[schedule_best],
                    "static oracle": constant(grid[j_static]), "dynamic oracle": scheds[j_dyn]}
        choice = {"static oracle": json.dumps(space.decode(grid[j_static])), "dynamic oracle": names[j_dyn],
                  "seeds A: static oracle": v_static, "seeds A: dynamic oracle": v_dyn}
        chosen_r = {}
        if stream:
            j_rule, v_rule = best("rule")
            j_freeze, v_freeze = best("freeze")
            chosen_s["freeze oracle"] = scheds[j_freeze]
            chosen_r = {"best closed-loop rule": rules[rule_best], "closed-loop oracle": rules[j_rule]}
            choice.update({"closed-loop oracle": rule_name(space, rules[j_rule]), "freeze oracle": names[j_freeze],
                           "seeds A: closed-loop oracle": v_rule, "seeds A: freeze oracle": v_freeze,
                           "better of dynamic and closed-loop": ("closed-loop oracle" if v_rule > v_dyn
                                                                 else "dynamic oracle")})
        choices.append(choice)
        score_units.append((m, {k: v.tolist() for k, v in chosen_s.items()}, chosen_r, tuple(settings.seeds_b), kws[i]))
    scores = cached_units(scored_means, score_units, cache / "scores", log, "seed-B children", workers, reports=5)
    for c, s in zip(choices, scores):
        if stream:
            s["dynamic or closed-loop oracle"] = s[c["better of dynamic and closed-loop"]]

    rows = gate_rows(suite, settings, scores, stream)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_csv(rows, out / "headroom.csv", HEADROOM_COLUMNS)
    member_rows = []
    for m, f, kw, c, s in zip(members, factors, kws, choices, scores):
        member_rows.append({"member": m, **{k: f.get(k) for k in ("base", "stream", "stream_param", "n_train",
                                                                   "label_noise", "batch_size", "width")},
                            **{f"test: {k}": v for k, v in s.items()}, **c})
    write_csv(member_rows, out / "members.csv", list(member_rows[0]))
    references = {"best static tuple": space.decode(grid[static_best]),
                  "best fixed schedule": global_names[schedule_best]}
    deployable = {"best static tuple": {"schedule": constant(grid[static_best]).tolist(),
                                        "name": json.dumps(space.decode(grid[static_best]))},
                  "best fixed schedule": {"schedule": global_family[schedule_best].tolist(),
                                          "name": global_names[schedule_best]}}
    if stream:
        references["best closed-loop rule"] = rule_name(space, global_rules[rule_best])
        deployable["best closed-loop rule"] = {"rule": global_rules[rule_best], "name": references["best closed-loop rule"]}
    text = json.dumps({"suite": suite, "split": split, "cache": cache.name, "horizon": horizon,
                       "hyper_parameters": list(space.names), "references": deployable}, indent=1)
    # one line per step of a schedule: [1, 2, 3, 2], not a line per grid position
    write_atomic(out / "references.json", re.sub(r"\[\s+([-\d,\s]+?)\s+\]", lambda m: "[" + " ".join(m.group(1).split()) + "]",
                                                 text))
    spent = sum(r["sgd_steps"] for r in static) + sum(d["sgd_steps"] for d in dynamic)
    summary = {"suite": suite, "split": split, "members": len(members), "references": references,
               "seeds_a": list(settings.seeds_a), "shortlist": settings.shortlist, "seeds_b": list(settings.seeds_b),
               "static_tuples": len(grid),
               "schedules_per_member": float(np.mean([len(c[0]) for c in cand])),
               "rules_per_member": float(np.mean([len(c[2]) for c in cand])), "first_seed_a_sgd_steps": int(spent),
               "wall_time_s": round(time.perf_counter() - t_start, 1), "cache": cache.name}
    write_atomic(out / "selection.json", json.dumps(summary, indent=1, default=str))
    log(f"{suite}: {json.dumps(references, default=str)}")
    return rows


def gate_rows(suite: str, settings: GateSettings, scores: Sequence[dict], stream: bool) -> list[dict]:
    """``headroom.csv`` rows from each member's seed-B test accuracies, member level."""
    pairs = [("static", "static oracle", "best static tuple", settings.static_min_gain),
             ("dynamic", "dynamic oracle", "static oracle", 0.0),
             ("dynamic", "best fixed schedule", "best static tuple", 0.0)]
    if stream:
        pairs += [("closed_loop", "dynamic or closed-loop oracle", "static oracle", settings.stream_min_gain),
                  ("closed_loop", "closed-loop oracle", "dynamic oracle", 0.0),
                  ("closed_loop", "best closed-loop rule", "best fixed schedule", 0.0),
                  ("dynamic", "freeze oracle", "static oracle", 0.0)]
    rows = []
    for gate, method, ref, threshold in pairs:
        c = paired_comparison([s[method] for s in scores], [s[ref] for s in scores],
                              n_resamples=settings.bootstrap_resamples, confidence=settings.confidence)
        rows.append({"suite": suite, "gate": gate, "method": method, "reference": ref, "n_members": c["n"],
                     "gain": c["mean_diff"], "ci_low": c["ci_low"], "ci_high": c["ci_high"], "p_wilcoxon": c["p"],
                     "method_mean": c["mean"], "reference_mean": c["ref_mean"], "threshold": threshold,
                     "passes": bool(c["mean_diff"] >= threshold and c["ci_low"] > 0)})
    return rows


# ---------------------------------------------------------------------- the oracles on test members
ORACLES = ("static oracle", "dynamic oracle")
STREAM_ORACLES = ("closed-loop oracle", "dynamic or closed-loop oracle", "freeze oracle")
#: The oracles' version in the ledger: the selection stage's procedure, run on test members.
ORACLE_VERSION = "1"


def oracle_identities(suite: str, settings: GateSettings) -> list[tuple[str, str, str]]:
    """``(name, version, fingerprint)`` of each per-member oracle of ``suite``, as the ledger files them: the
    fingerprint hashes the selection stage's code (docstrings and comments stripped), its ``[selection]``
    table, the suite and the oracle's name."""
    from agents.bench.v3.ledger import code_fingerprint

    code = code_fingerprint([__name__, "agents.bench.v3.candidates", "agents.bench.candidates", "agents.engine"])
    table = json.dumps(settings.table, sort_keys=True, separators=(",", ":"), default=list)
    out = []
    for name in ORACLES + (STREAM_ORACLES if is_stream_suite(suite) else ()):
        digest = hashlib.sha256("\0".join((code, table, suite, name)).encode()).hexdigest()
        out.append((name, ORACLE_VERSION, digest))
    return out


def oracles_on_test(suite: str, protocol: str | Path, out: str | Path, cache: str | Path, *,
                    ledger: str | Path | None = None, workers: int | None = None, log=print) -> list[dict]:
    """The per-member oracles on the first ``[budgets] oracle_test_members`` test members, filed in the ledger.

    The selection stage ([`run_gates`][agents.bench.v3.gates.run_gates]) with the frozen protocol's
    ``[selection]`` table on those members: each member's oracles are chosen at seeds A and scored at seeds
    B, so the share of an oracle's gain a method reaches is reported on test members. The ``best static
    tuple`` and ``best fixed schedule`` it writes beside them are chosen on these test members (an oracle
    over the split, not the references the family deploys). One ledger ``start`` row per oracle before the
    first member trains, ``end`` rows with each oracle's mean test accuracy from ``members.csv``.

    Raises:
        ValueError: the protocol is a draft, or no ledger is found.
    """
    from agents.bench.v3.budgets import load_budgets, protocol_identity
    from agents.bench.v3.ledger import find_ledger, ledger_run

    identity = protocol_identity(protocol)
    if not identity.frozen:
        raise ValueError(f"protocol {identity.path} is a draft (status = 'draft'): the oracles on test members need "
                         f"the frozen protocol; try designs with --split dev")
    settings = load_gate_settings(protocol)
    members = hpenv.instance_set(suite, "test")[: load_budgets(protocol).oracle_test_members]
    ledger = Path(ledger) if ledger is not None else find_ledger()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results = out / "members.csv"
    with ledger_run(ledger, protocol_hash=identity.hash, suite=suite, split="test",
                    methods=oracle_identities(suite, settings), results=results, n_seeds=len(settings.seeds_b),
                    n_members=len(members)) as run:
        rows = run_gates(suite, settings, out, cache, split="test", members=members, workers=workers, log=log)
        per_member = read_typed(results, (), [f"test: {name}" for name in run.methods], ())
        for name in run.methods:
            run.record(name, n_members=len(per_member),
                       mean_test_accuracy=float(np.mean([r[f"test: {name}"] for r in per_member])))
    return rows
