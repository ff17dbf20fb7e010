"""Benchmark v2's runner: prepare cannot reach test members, the run writes what the protocol asks
for (hash, versions, schedules, both gates, power, members), files the ledger, and --verify accepts
its folder and rejects a tampered one; --quick touches no test member."""

from __future__ import annotations

import csv
import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from agents.bench.candidates import SCHEDULE_FAMILIES, schedule_family, static_grid
from agents.bench.ledger import read_ledger
from agents.bench.preregistration import ProtocolError, load_protocol
from agents.bench.report_v2 import ledger_table_md
from agents.bench.v2 import PrepareContext, SelectionView, run_v2, selection_stage
from agents.bench.verify import verify
import hpenv

SUITE = "v2/mlp-short"
#: The registered run's committed results (in the repository, not in the package).
REGISTERED_RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "v2"
METHODS = ["RR meta (train members)", "best static tuple", "best fixed schedule", "reduce on plateau",
           "random search", "PBT"]

TINY = f"""
version = "v2-test"
status = "frozen"
frozen = 2026-12-01
[evaluation_seeds]
first = 2147483648
count = 1
[selection_seeds]
first = 2149483648
count = 2
[candidates]
static = {{ learning_rate = [0.01, 0.1], momentum = [0.0, 0.9], dropout = [0.0], depth = [1] }}
schedule_families = ["step_decay", "late_dropout", "late_depth"]
[budgets]
meta_training_seeds = 2
meta_episodes = 16
num_envs = 8
search_budget_episodes = 1
search_candidates = 2
tpe_startup_trials = 1
pbt_interval = 1
schedule_starts = 1
oracle_schedule_starts = 1
dynamic_headroom_min_gain = 0.02
[statistics]
interval = "member_cluster_bootstrap"
bootstrap_resamples = 1000
confidence = 0.95
test = "wilcoxon_members"
correction = "holm"
alpha = 0.05
minimum_detectable_difference = 0.02
power = 0.8
[[suites]]
name = "{SUITE}"
train = 200
selection = 3
test = 2
transfer = 0
horizon = 3
steps_per_action = 4
controller = "RR meta (train members)"
references = ["best static tuple", "best fixed schedule", "reduce on plateau", "random search", "PBT"]
"""


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("v2")
    (root / "protocol.toml").write_text(TINY)
    protocol = load_protocol(root / "protocol.toml")
    ledger = root / "ledger.csv"
    summary = run_v2(protocol, root / "run", workers=1, ledger=ledger, check_registry=False, log=lambda m: None)
    return protocol, root, ledger, summary


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_prepare_sees_train_and_selection_members_only():
    protocol = load_protocol()
    view = SelectionView(protocol.suite(SUITE))
    assert view.members("train")[0] == f"{SUITE}/0" and len(view.members("selection")) == protocol.suite(SUITE).selection
    for split in ("test", "transfer"):
        with pytest.raises(ProtocolError, match="prepare sees"):
            view.members(split)


def test_the_schedule_family_changes_every_hyper_parameter_and_never_is_a_constant():
    space = hpenv.HPSpace.default()
    grid = static_grid(space)
    assert len(grid) == int(np.prod(space.nvec)) and len({tuple(t) for t in grid}) == len(grid)
    schedules, names = schedule_family(space, 10, grid[[37, 400]])
    assert len(schedules) == len(names) == len({s.tobytes() for s in schedules})
    changed = {space.names[j] for s in schedules for j in range(len(space.names)) if len(set(s[:, j])) > 1}
    assert changed == set(space.names)
    assert all(len({tuple(step) for step in s}) > 1 for s in schedules)
    assert {hp for hp, _ in SCHEDULE_FAMILIES.values()} == set(space.names)
    with pytest.raises(ValueError, match="not on the grid"):
        static_grid(space, {"learning_rate": [0.5]})


def test_a_full_run_writes_what_the_protocol_asks_for(tiny_run):
    protocol, root, ledger, summary = tiny_run
    folder = root / "run" / SUITE.replace("/", "_")
    rows = _rows(root / "run" / "results.csv")
    plan = protocol.suite(SUITE)
    assert {r["member"] for r in rows} == set(plan.members("test"))
    assert {r["protocol_hash"] for r in rows} == {protocol.hash}
    rr = [r for r in rows if r["method"] == "RR meta (train members)"]
    assert sorted({r["training_seed"] for r in rr}) == ["0", "1"]  # one copy per meta-training seed
    assert {r["training_seed"] for r in rows if r["method"] == "best static tuple"} == {"-1"}
    assert len({r["method_fingerprint"] for r in rr}) == 1  # the copies are one method version
    assert all(int(r["deployed_sgd_steps"]) == plan.deployed_sgd_steps for r in rows)
    assert {r["replayable"] for r in rows if r["method"] == "PBT"} == {"False"}
    schedule = json.loads(rr[0]["schedule"])
    assert len(schedule) == plan.horizon and set(schedule[0]) == set(hpenv.HPSpace.default().names)
    gates = _rows(folder / "headroom.csv")
    assert [(g["gate"], g["reference"]) for g in gates] == [
        ("static", "best static tuple"), ("static", "best fixed schedule"), ("dynamic", "static oracle")]
    assert _rows(folder / "power.csv") and (folder / "members.csv").exists()
    paired = _rows(folder / "paired.csv")
    family = [p for p in paired if p["in_family"] == "True"]
    assert [p["reference"] for p in family] == list(plan.references) and all(p["p_holm"] for p in family)
    assert "The comparison family on test members" in (folder / "results.md").read_text()
    # the ledger: one row per method version scored, with the protocol's hash
    entries = read_ledger(ledger)
    assert sorted(e.method for e in entries) == sorted(plan.methods)
    assert {e.protocol_hash for e in entries} == {protocol.hash}
    table = ledger_table_md(ledger)
    assert all(f"`{e.method_fingerprint}`" in table for e in entries)


def test_verify_accepts_the_run_and_replays_its_rows_exactly(tiny_run):
    protocol, root, _, _ = tiny_run
    outcome = verify(root / "run", protocol, replays=4, check_registry=False)
    assert outcome.problems == () and outcome.replayed == 4


def test_a_resumed_run_trains_nothing_new(tiny_run, monkeypatch):
    protocol, root, ledger, _ = tiny_run
    import agents.engine

    def refuse(*args, **kwargs):
        raise AssertionError("a resumed run trained a child")

    monkeypatch.setattr(agents.engine, "play_episodes", refuse)
    before = _rows(root / "run" / "results.csv")
    sel = selection_stage(protocol.suite(SUITE), protocol, root / "run" / SUITE.replace("/", "_") / "cache")
    assert sel["selection"]["static_best"] >= 0
    assert _rows(root / "run" / "results.csv") == before


def test_prepared_methods_pickle_and_deploy_the_same_children(tiny_run):
    protocol, root, _, _ = tiny_run
    from agents.bench.methods import resolve_method

    plan = protocol.suite(SUITE)
    cache = root / "run" / SUITE.replace("/", "_") / "cache"
    sel = selection_stage(plan, protocol, cache)
    ctx = PrepareContext(plan, protocol, sel, cache / "methods", seed=0)
    assert not hasattr(ctx, "test_grid")
    method = resolve_method("RR meta (train members)")
    method.prepare(ctx)  # from the run's cache: no training
    copy = pickle.loads(pickle.dumps(method))
    member = plan.members("test")[0]
    a, b = method.run(ctx, member, [2147483648]), copy.run(ctx, member, [2147483648])
    assert [r.test_accuracy for r in a] == [r.test_accuracy for r in b]


def test_quick_rehearses_on_selection_members_and_files_nothing(tmp_path):
    (tmp_path / "protocol.toml").write_text(TINY.replace('status = "frozen"', 'status = "draft"'))
    draft = load_protocol(tmp_path / "protocol.toml")
    with pytest.raises(ProtocolError, match="frozen"):
        run_v2(draft, tmp_path / "full", workers=1, ledger=tmp_path / "ledger.csv", log=lambda m: None)
    quick = {"members": 1, "budgets": {"meta_training_seeds": 1, "meta_episodes": 8, "num_envs": 8}}
    run_v2(draft, tmp_path / "quick", methods=["best static tuple", "reduce on plateau"], quick=quick, workers=1,
           ledger=tmp_path / "ledger.csv", log=lambda m: None)
    rows = _rows(tmp_path / "quick" / "results.csv")
    assert {r["split"] for r in rows} == {"selection"}
    assert {r["member"] for r in rows} <= set(draft.suite(SUITE).members("selection"))
    assert not (tmp_path / "ledger.csv").exists()
    assert all(r["protocol_hash"].startswith("quick-") for r in rows)
    assert verify(tmp_path / "quick", draft, replays=0, check_registry=False).problems  # not a result


def test_parallel_units_give_the_serial_results_on_ray():
    pytest.importorskip("ray")
    from agents.bench.parallel import run_units
    from agents.bench.v2 import _grid_unit

    grid = static_grid(hpenv.HPSpace.default(), {"learning_rate": [0.01, 0.1], "momentum": [0.9], "dropout": [0.0],
                                                 "depth": [1]})
    units = [(f"{SUITE}/{i}", grid, 2149483648, {"horizon": 2, "steps_per_action": 3}) for i in (200, 201, 202)]
    serial = dict(run_units(_grid_unit, units, workers=1))
    parallel = dict(run_units(_grid_unit, units, workers=2))
    assert sorted(parallel) == [0, 1, 2]
    for i in serial:
        assert (serial[i]["member"], serial[i]["val"], serial[i]["test"]) == (
            parallel[i]["member"], parallel[i]["val"], parallel[i]["test"])
    with pytest.raises(ValueError, match="workers must be >= 1"):
        list(run_units(_grid_unit, units, workers=0))


def test_the_readme_lists_every_method_version_the_ledger_ever_scored():
    from agents.bench.ledger import LEDGER_PATH, scored_versions

    repo = Path(__file__).resolve().parents[1]
    readme = (repo / "README.md").read_text()
    missing = [(v["method"], v["method_version"]) for v in scored_versions(repo / LEDGER_PATH)
               if f"`{v['method_fingerprint']}`" not in readme]
    assert not missing, f"README.md's v2 table lacks scored versions {missing}"


def test_the_registered_references_are_the_committed_runs_and_nothing_else(tmp_path):
    from agents.bench.common import read_v2_rows
    from agents.bench.registered import references_in_results, registered_references

    chosen = registered_references("v2/mlp-short")
    rows = {r["method"]: r for r in read_v2_rows(REGISTERED_RESULTS / "results.csv")
            if r["method"] in chosen and r["split"] == "test"}
    static = chosen["best static tuple"]
    assert all(step == json.loads(rows["best static tuple"]["chosen"]) for step in static)  # a constant
    assert chosen["best fixed schedule"] == json.loads(rows["best fixed schedule"]["schedule"])
    assert len({json.dumps(step) for step in chosen["best fixed schedule"]}) > 1  # it does change
    assert references_in_results(REGISTERED_RESULTS, "v2/mlp-short") == chosen
    # rows of another protocol are not the registered run's references
    with open(REGISTERED_RESULTS / "results.csv") as f:
        header, *lines = [line for line in f if line.startswith("suite,") or ",best static tuple," in line
                          or ",best fixed schedule," in line][:200]
    (tmp_path / "results.csv").write_text(header + "".join(lines))
    assert references_in_results(tmp_path, "v2/mlp-short") == chosen
    (tmp_path / "results.csv").write_text(header + "".join(line.replace(load_protocol().hash, "0" * 64)
                                                           for line in lines))
    with pytest.raises(ValueError, match="no best static tuple or best fixed schedule of suite 'v2/mlp-short'"):
        references_in_results(tmp_path, "v2/mlp-short")
    with pytest.raises(ValueError, match="v2/mlp-long"):
        registered_references("v2/mlp-long")


def test_the_shipped_references_file_is_what_the_registered_results_hold():
    """The main job reads the registered choices from package data (the 12 MB results.csv stays in the
    repository); the file must be exactly what registered_references_json makes of the committed results."""
    from agents.bench.preregistration import REGISTERED_DATA
    from agents.bench.registered import REGISTERED_REFERENCES, registered_references_json

    assert REGISTERED_REFERENCES.parent == REGISTERED_DATA / "v2" and REGISTERED_REFERENCES.is_file()
    assert REGISTERED_REFERENCES.read_text() == registered_references_json(REGISTERED_RESULTS)


def test_a_references_file_of_another_protocol_or_none_at_all_is_a_clear_error(tmp_path):
    from agents.bench.registered import REGISTERED_REFERENCES, registered_references

    other = tmp_path / "references.json"
    other.write_text(REGISTERED_REFERENCES.read_text().replace(load_protocol().hash, "0" * 64))
    with pytest.raises(ValueError, match="chosen under protocol 000000000000"):
        registered_references("v2/mlp-short", references=other)
    with pytest.raises(ValueError, match="references file .*missing.json' does not exist"):
        registered_references("v2/mlp-short", references=tmp_path / "missing.json")

def _choices(static: np.ndarray, schedule: np.ndarray) -> dict:
    """A selection stage's output that chose ``static`` and ``schedule`` (what methods read of it)."""
    return {"grid": static[None], "family": schedule[None], "family_names": ["the chosen schedule"],
            "selection": {"static_best": 0, "schedule_best": 0, "static_sgd_steps": 0, "static_wall_time_s": 0.0,
                          "schedule_sgd_steps": 0, "schedule_wall_time_s": 0.0}}


def test_methods_read_the_registered_budgets_under_their_names(tmp_path):
    protocol = load_protocol()
    space = hpenv.HPSpace.default()
    sel = _choices(np.zeros(len(space.names), dtype=np.int64), np.zeros((3, len(space.names)), dtype=np.int64))
    ctx = PrepareContext(protocol.suite(SUITE), protocol, sel, tmp_path, seed=2)
    b = protocol.budgets
    assert (ctx.budgets.meta_episodes, ctx.budgets.num_envs, ctx.budgets.search_budget_episodes,
            ctx.budgets.search_candidates, ctx.budgets.tpe_startup_trials, ctx.budgets.pbt_interval) == (
        b.meta_episodes, b.num_envs, b.search_budget_episodes, b.search_candidates, b.tpe_startup_trials,
        b.pbt_interval)
    assert ctx.budgets.seed == 2 and ctx.budgets.rr_spaces == ("absolute",)
    assert ctx.protocol is ctx.budgets and ctx.protocol.rr_meta_episodes == b.meta_episodes  # the ledgered code's name


def test_the_code_keeps_the_fingerprints_the_v2_ledger_filed(tmp_path, monkeypatch):
    """A method's fingerprint hashes its class's code, so an edit there (a refactor too) is another version
    of the method, which the ledger refuses under the old label. Every method of v2/mlp-short's family,
    set up as the registered run set it up, has the fingerprint the ledger filed for its version."""
    from agents.bench.ledger import find_ledger
    from agents.bench.methods import PBT, TPE, BestSchedule, BestStatic, RandomSearch, RRMeta, SuccessiveHalving
    from agents.bench.methods import resolve_method
    from agents.bench.registered import registered_references
    from agents.bench.v2 import family_methods, method_identity

    protocol = load_protocol()
    plan = protocol.suite(SUITE)
    space = hpenv.HPSpace.default()
    chosen = registered_references(SUITE)
    sel = _choices(space.encode(chosen["best static tuple"][0]),
                   np.stack([space.encode(step) for step in chosen["best fixed schedule"]]))
    filed = {(e.method, e.method_version): e.method_fingerprint for e in read_ledger(find_ledger(REGISTERED_RESULTS))}
    checked = []
    for spec in family_methods(plan):
        method = resolve_method(spec)
        seed = 0 if method.learned else -1
        if isinstance(method, RRMeta):  # its meta-training stood in for: the fingerprint reads the settings it records
            monkeypatch.setattr(method, "meta_train", lambda ctx, space, m=method: {
                "settings": m.agent_settings(ctx.protocol), "agent": None, "path": None, "sgd_steps": 0,
                "wall_time_s": 0.0, "members": 0, "episodes": 0})
        if isinstance(method, (RRMeta, BestStatic, BestSchedule, RandomSearch, TPE, SuccessiveHalving, PBT)):
            method.prepare(PrepareContext(plan, protocol, sel, tmp_path, seed=max(seed, 0)))  # what settings() reads
        version, fingerprint = method_identity(method, plan, seed)
        if (method.name, version) in filed:
            assert fingerprint == filed[(method.name, version)], method.name
            checked.append(method.name)
    assert len(checked) == len(family_methods(plan)) == 14
