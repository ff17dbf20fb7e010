"""The v1 benchmark: files and columns, equal deployment budgets, resumption, user policies, search budgets."""

from __future__ import annotations

import csv
import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

import agents.bench.v1 as bench
import hpenv
from agents import search
from agents.baselines import FixedPolicy
from agents.bench import methods as bench_methods
from agents.bench.v1.protocol import SuiteContext, headroom
from agents.engine import evaluate_policy, schedule_episodes, static_episodes
from agents.options import reinforce_settings
from hpenv.training import ChildKernel
from hpenv.vector import HPTuneVectorEnv

REPO = Path(__file__).resolve().parent.parent
SUITE = "v1/wine-scaled"
TINY = bench.Protocol(
    suites=(SUITE,), test_members=3, seeds=2, selection_members=2, selection_seeds=1, horizon=2, steps_per_action=4,
    lrs=(1, 3, 5), momenta=(2,), depths=(0, 3), search_budget_episodes=2, search_candidates=4, tpe_startup_trials=2,
    pbt_interval=1, rr_meta_episodes=8, num_envs=4, rr=dataclasses.replace(reinforce_settings(), group_size=2),
)
E = TINY.horizon * TINY.steps_per_action
TINY_ENV = {"task": "wine", "horizon": 2, "steps_per_action": 3}


def _read(path: Path) -> list[dict]:
    with open(path) as f:
        return list(csv.DictReader(f))


def _check_outputs(out: Path, methods: set[str]) -> list[dict]:
    rows = _read(out / "results.csv")
    assert set(bench.CSV_COLUMNS) <= set(rows[0])
    assert {r["method"] for r in rows} == methods
    pairs = TINY.test_members * TINY.seeds
    assert len(rows) == len(methods) * pairs
    test_members = set(hpenv.instance_set(SUITE, "test"))
    for r in rows:
        acc = float(r["test_accuracy"])
        assert math.isfinite(acc) and 0.0 <= acc <= 1.0, r
        assert r["member"] in test_members and int(r["seed"]) >= 2**31  # reported only on test members
        # equal deployment budget for every method (a diverged child stops where it diverged)
        assert int(r["deployed_sgd_steps"]) == E or (r["diverged"] == "True" and int(r["deployed_sgd_steps"]) < E), r
        assert int(r["search_sgd_steps"]) >= 0 and int(r["one_off_sgd_steps"]) >= 0
    paired = _read(out / "paired.csv")
    assert set(bench.PAIRED_COLUMNS) <= set(paired[0])
    assert all(int(p["wins"]) + int(p["ties"]) + int(p["losses"]) == pairs for p in paired)
    head = _read(out / "headroom.csv")
    assert {h["reference"] for h in head} == {"best static tuple", "best fixed schedule"}
    assert set(bench.HEADROOM_COLUMNS) <= set(head[0])
    for name in ("results.md", "accuracy_vs_compute.png", "config.json"):
        assert (out / name).stat().st_size > 0, name
    md = (out / "results.md").read_text()
    assert md.index("Headroom gate") < md.index("Paired against the references")
    return rows


def test_cli_runs_every_method_with_equal_budgets_and_user_agents(tmp_path, monkeypatch):
    from agents.cli import main

    monkeypatch.setitem(bench.PRESETS, "quick", TINY)
    monkeypatch.chdir(REPO)
    out = tmp_path / "cli"
    code = main(["bench", "--quick", "--out", str(out), "--no-progress",
                 "--agent", "tests.user_policy:StepDecay", "--agent", "tests.user_policy:always_default"])
    assert code == 0
    methods = set(bench.DEFAULT_METHODS) | {"StepDecay", "always_default"}
    rows = _check_outputs(out, methods)
    by = {(r["method"], r["member"], r["seed"]): r for r in rows}
    budget = TINY.search_budget_episodes * E
    for r in rows:
        if r["method"] in ("random search", "TPE", "PBT"):
            assert int(r["search_sgd_steps"]) == budget, r
        elif r["method"] == "successive halving":
            assert 0 < int(r["search_sgd_steps"]) <= budget
        else:
            assert int(r["search_sgd_steps"]) == 0
        if r["method"] in ("best static tuple", "best fixed schedule", "RR meta (train members)"):
            assert int(r["one_off_sgd_steps"]) > 0
        # paired: the same child under the same tuple gives the same result
        if r["method"] == "always_default":
            assert r["test_accuracy"] == by[("fixed default", r["member"], r["seed"])]["test_accuracy"]
    sel = json.loads((out / "cache" / "v1_wine-scaled" / "selection.json").read_text())
    assert set(sel["members"]) <= set(hpenv.instance_set(SUITE, "selection"))
    assert all(s < 2**31 - 1 for s in sel["seeds"])  # references are chosen on selection seeds too
    static_rows = [r for r in rows if r["method"] == "best static tuple"]
    assert int(static_rows[0]["one_off_sgd_steps"]) == len(sel["members"]) * 6 * E  # 6 candidate tuples


def test_a_killed_run_resumes_where_it_stopped(tmp_path, monkeypatch):
    p = dataclasses.replace(TINY, methods=("fixed default", "random search"))
    out = tmp_path / "resume"
    bench.benchmark(out=out, protocol=p, verbose=False)
    full = _read(out / "results.csv")
    # simulate a run killed after its first rows: keep 5 of them
    with open(out / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(full[0]))
        w.writeheader()
        w.writerows(full[:5])
    calls = []
    original = bench_methods.RandomSearch.run

    def spy(self, ctx, member, seeds):
        calls.append((member, tuple(seeds)))
        return original(self, ctx, member, seeds)

    monkeypatch.setattr(bench_methods.RandomSearch, "run", spy)
    bench.benchmark(out=out, protocol=p, verbose=False)
    again = _read(out / "results.csv")
    key = lambda r: (r["member"], r["seed"], r["method"])  # noqa: E731
    assert sorted(map(key, again)) == sorted(map(key, full))
    assert {key(r): r["test_accuracy"] for r in again} == {key(r): r["test_accuracy"] for r in full}
    done = {(r["member"], int(r["seed"])) for r in full[:5] if r["method"] == "random search"}
    assert not any((m, s) in done for m, seeds in calls for s in seeds)  # finished rows are not re-run
    sessions = json.loads((out / "config.json").read_text())["sessions"]
    assert len(sessions) == 2 and all(x["wall_s"] >= 0 for x in sessions)  # the report sums both
    with pytest.raises(ValueError, match="other protocol settings"):
        bench.benchmark(out=out, protocol=dataclasses.replace(p, seeds=3), verbose=False)


def test_headroom_is_oracle_minus_reference(tmp_path):
    ctx = SuiteContext(SUITE, TINY, tmp_path)
    ctx.run_selection()
    m = bench_methods.BestStatic()
    m.prepare(ctx)
    rows = []
    for member in ctx.test_members():
        for r in m.run(ctx, member, ctx.eval_seeds()):
            rows.append({"member": member, "seed": r.seed, "method": m.name, "test_accuracy": r.test_accuracy})
    (h,) = [x for x in headroom(ctx, rows) if x["reference"] == "best static tuple"]
    oracle = []
    for member in ctx.test_members():
        grid = ctx.test_grid(member, ctx.eval_seeds())
        best = max(range(len(ctx.candidates)),
                   key=lambda i: np.mean([grid[(i, s)].val_accuracy for s in ctx.eval_seeds()]))
        oracle += [grid[(best, s)].test_accuracy for s in ctx.eval_seeds()]
    assert h["gain"] == pytest.approx(np.mean(oracle) - np.mean([r["test_accuracy"] for r in rows]))
    assert h["gain"] >= 0  # the oracle may pick the same tuple, never a worse one on validation
    assert h["saturated"] == (not (h["gain"] >= 0.03 and h["ci_low"] > 0))
    assert h["n_pairs"] == TINY.test_members * TINY.seeds
    # exact pairing: the grid's child for the default tuple is the fixed default's child, bit for bit
    default = [i for i, t in enumerate(ctx.candidates) if list(t) == [3, 0, 3, 2]][0]
    fixed = bench_methods.FixedDefault()
    fixed.prepare(ctx)
    member = ctx.test_members()[0]
    grid = ctx.test_grid(member, ctx.eval_seeds())
    for r in fixed.run(ctx, member, ctx.eval_seeds()):
        assert r.test_accuracy == grid[(default, r.seed)].test_accuracy
        assert r.val_accuracy == grid[(default, r.seed)].val_accuracy


def test_methods_resolve_by_name_or_module_path(monkeypatch):
    monkeypatch.chdir(REPO)
    assert isinstance(bench.resolve_method("TPE"), bench_methods.TPE)
    user = bench.resolve_method("tests.user_policy:StepDecay")
    assert isinstance(user, bench.PolicyMethod) and user.name == "StepDecay" and user.source == "user"
    with pytest.raises(ValueError, match="unknown methods"):
        bench.resolve_method("nope")
    with pytest.raises(ValueError, match="package.module:Name"):
        bench.load_agent("no_colon")
    with pytest.raises(ValueError, match="has no attribute"):
        bench.load_agent("tests.user_policy:Missing")


def test_the_names_agents_bench_exported_as_v1s_facade_resolve_with_a_warning(monkeypatch):
    import agents.bench as face

    for name in ("benchmark", "resolve_method"):
        monkeypatch.delitem(vars(face), name, raising=False)  # resolved by an earlier test: resolve it again
    with pytest.warns(DeprecationWarning, match="agents.bench.benchmark is deprecated; import it from agents.bench.v1"):
        assert face.benchmark is bench.benchmark
    with pytest.warns(DeprecationWarning, match="import it from agents.bench.methods"):
        assert face.resolve_method is bench_methods.resolve_method
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        face.no_such_name


def test_cli_agent_errors_are_clear(tmp_path, monkeypatch):
    from agents.cli import main

    monkeypatch.chdir(REPO)
    monkeypatch.setitem(bench.PRESETS, "quick", TINY)
    assert main(["bench", "--quick", "--out", str(tmp_path), "--agent", "no_colon", "--no-progress"]) == 2
    assert main(["bench", "--quick", "--out", str(tmp_path / "b"), "--agent", "tests.user_policy:Missing",
                 "--no-progress"]) == 2


@pytest.mark.parametrize("task", [hpenv.instance_set(SUITE, "test")[0], f"{SUITE}/test"])
def test_train_refuses_a_test_member_or_the_test_split(task):
    from agents.cli.config import TrainConfig

    with pytest.raises(ValueError, match="test members"):
        TrainConfig(task=task)
    TrainConfig(task=hpenv.instance_set(SUITE, "selection")[0])  # selection members are fine
    TrainConfig(task=f"{SUITE}/train")


def test_schedule_episodes_follow_the_schedule():
    sched = np.array([[[3, 0, 4, 2], [3, 0, 1, 2]]])
    (r,), spent = schedule_episodes(sched, [5], **TINY_ENV)
    assert [s["learning_rate"] for s in r.schedule] == [0.1, 0.003] and spent == 6
    (s,), _ = static_episodes(np.array([[3, 0, 4, 2]]), [5], **{**TINY_ENV, "horizon": 1})
    assert s.schedule[0]["val_accuracy"] == r.schedule[0]["val_accuracy"]  # same child, same first step


# ---------------------------------------------------------------------- search budgets
@pytest.fixture
def kernel_steps(monkeypatch):
    """Counts every child SGD step the training kernel actually runs."""
    counter = {"steps": 0}
    original = ChildKernel.train

    def train(self, hp, steps, active):
        counter["steps"] += steps * int(np.asarray(active).sum())
        return original(self, hp, steps, active)

    monkeypatch.setattr(ChildKernel, "train", train)
    return counter


def test_random_search_spends_what_it_claims_and_deploys_a_full_child(kernel_steps):
    r = search.random_search(2**31, k=3, **TINY_ENV)  # E = 6: three candidates of 2 steps
    assert r.sgd_steps == kernel_steps["steps"] == 6
    assert len(r.schedule) == 1 and r.chosen is not None and 0 <= r.test_accuracy <= 1
    kernel_steps["steps"] = 0
    r = search.random_search(2**31, k=3, budget=12, deploy=True, **TINY_ENV)
    assert r.search_sgd_steps == 12 and r.deployed_sgd_steps == 6 and kernel_steps["steps"] == 18
    # the deployed child is the one a fixed policy with the chosen tuple trains at that seed
    fixed = evaluate_policy(FixedPolicy(hpenv.HPSpace.default(), r.chosen), [2**31],
                            chunk=1, **TINY_ENV)[0]
    assert fixed.test_accuracy == r.test_accuracy and len(r.schedule) == 2


def test_tpe_spends_what_it_claims(kernel_steps):
    pytest.importorskip("optuna")
    r = search.tpe_search(2**31, k=4, n_startup_trials=2, budget=8, deploy=True, **TINY_ENV)
    assert r.search_sgd_steps == 8 and r.sgd_steps == kernel_steps["steps"] == 8 + 6


def test_successive_halving_spends_what_it_claims(kernel_steps):
    r = search.successive_halving(2**31, 8, budget=48, **TINY_ENV)  # 3 rungs of 16: 8x2, 4x4, 2x8
    assert r.search_sgd_steps == 48 and r.deployed_sgd_steps == 6 and kernel_steps["steps"] == 54


def test_grid_search_counts_every_tuple(kernel_steps):
    kw = {**TINY_ENV, "hp_space": {"learning_rate": [0.01, 0.1], "momentum": [0.0, 0.9]}}
    g = search.grid_search([1_000_000, 1_000_001], confirm_top=0, chunk=3, **kw)
    assert len(g.tuples) == 4
    assert g.sgd_steps == kernel_steps["steps"] == 2 * 4 * 6


def test_pbt_spends_population_times_episode(kernel_steps):
    r = search.pbt(2**31, population=4, interval=1, **{**TINY_ENV, "horizon": 4})
    assert r.sgd_steps == kernel_steps["steps"] == 4 * 4 * 3
    assert r.deployed_sgd_steps == 4 * 3 and r.search_sgd_steps == 3 * 4 * 3
    assert len(r.schedule) == 4


# ---------------------------------------------------------------------- PBT's exploit step
def _child_state(venv: HPTuneVectorEnv, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    kernel = venv._episodes.kernel
    weights = torch.cat([p.detach()[k].reshape(-1) for p in kernel.params.values()])
    return weights, kernel.child_momentum(k)


def test_copy_child_copies_weights_and_momentum():
    venv = HPTuneVectorEnv(num_envs=3, **TINY_ENV)
    venv.reset(seed=[7, 8, 9])
    venv.step(np.array([[3, 0, 4, 2], [1, 1, 2, 3], [0, 2, 3, 1]]))
    w0, m0 = _child_state(venv, 0)
    w1, m1 = _child_state(venv, 1)
    w2, m2 = _child_state(venv, 2)
    assert not torch.equal(w0, w2) and m0.abs().sum() > 0
    venv.copy_child(0, 2)
    w2b, m2b = _child_state(venv, 2)
    assert torch.equal(w2b, w0) and torch.equal(m2b, m0)
    w1b, m1b = _child_state(venv, 1)
    assert torch.equal(w1b, w1) and torch.equal(m1b, m1)  # others untouched
    assert torch.equal(_child_state(venv, 0)[0], w0)  # the source too
    with pytest.raises(ValueError, match="child index"):
        venv.copy_child(0, 3)


def test_pbt_exploit_really_copies_weights(monkeypatch):
    calls = []
    original = HPTuneVectorEnv.copy_child

    def spy(self, src, dst):
        original(self, src, dst)
        ws, ms = _child_state(self, src)
        wd, md = _child_state(self, dst)
        calls.append((src, dst, torch.equal(ws, wd) and torch.equal(ms, md)))

    monkeypatch.setattr(HPTuneVectorEnv, "copy_child", spy)
    search.pbt(2**31, population=4, interval=1, fraction=0.25, **{**TINY_ENV, "horizon": 4})
    assert calls, "PBT never exploited"
    assert all(ok and src != dst for src, dst, ok in calls)


def test_rr_meta_chooses_its_action_space_on_selection_members_and_references_get_at_least_its_compute(tmp_path):
    p = dataclasses.replace(TINY, selection_seeds=None, rr_selection_seeds=1)
    ctx = SuiteContext(SUITE, p, tmp_path)
    ctx.run_selection()
    rr = bench_methods.RRMeta()
    rr.prepare(ctx)
    assert rr.space in p.rr_spaces and "chosen on the selection members" in rr.note
    trained = sorted(tmp_path.glob("rr_meta_*.json"))
    assert len(trained) == len(p.rr_spaces)  # one agent per space, each counted
    meta = [json.loads(f.read_text()) for f in trained]
    assert {m["space"] for m in meta} == set(p.rr_spaces)
    selection_steps = len(p.rr_spaces) * len(ctx.selection_members()) * E  # one seed per member and space
    assert rr.one_off_sgd_steps == sum(m["sgd_steps"] for m in meta) + selection_steps
    for ref in (bench_methods.BestStatic(), bench_methods.BestSchedule()):
        ref.prepare(ctx)
        assert ref.one_off_sgd_steps >= rr.one_off_sgd_steps
    only = bench_methods.RRRelative()
    only.prepare(ctx)  # the cached agent: no second meta-training
    assert only.space == "relative_lr" and len(list(tmp_path.glob("rr_meta_*.json"))) == len(p.rr_spaces)
    online = bench_methods.RRMetaOnline()
    online.prepare(ctx)
    before = online.path.read_bytes()
    member, seeds = ctx.test_members()[0], ctx.eval_seeds()
    results = online.run(ctx, member, seeds)
    assert [r.seed for r in results] == seeds and all(r.sgd_steps == E for r in results)
    assert online.path.read_bytes() == before  # every child starts from the meta-trained agent
    assert all(len(r.schedule) == TINY.horizon for r in results)


def test_oracle_share_is_the_fraction_of_the_oracles_gain_over_the_best_static_tuple():
    from agents.bench.v1.report import add_oracle_share

    paired = [{"suite": "s", "reference": "best static tuple", "mean_diff": 0.045},
              {"suite": "s", "reference": "best fixed schedule", "mean_diff": 0.02}]
    add_oracle_share(paired, [{"suite": "s", "reference": "best static tuple", "gain": 0.05},
                              {"suite": "s", "reference": "best fixed schedule", "gain": 0.04}])
    assert paired[0]["oracle_share"] == pytest.approx(0.9) and paired[1]["oracle_share"] == ""
