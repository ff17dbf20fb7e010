"""The comparison benchmark: the protocol end to end (tiny), user policies, and the search methods' budgets."""

from __future__ import annotations

import csv
import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import torch

import agents.bench as bench
from agents import search
from agents.baselines import FixedPolicy
from agents.evaluation import run_episode
from hpenv.spaces import HPSpace
from hpenv.training import ChildKernel
from hpenv.vector import HPTuneVectorEnv

import gymnasium as gym

REPO = Path(__file__).resolve().parent.parent
TINY_ENV = {"task": "wine", "horizon": 2, "steps_per_action": 3}
TINY = bench.BenchConfig(
    tasks=("wine",), seeds=2, headline_seeds=2, horizon=2, steps_per_action=3, search_k=2, grid_chunk=120,
    pbt_population=4, pbt_interval=1, nas_episodes=8, meta_episodes=8, synthetic_meta_episodes=4,
    sb3_episodes=8, num_envs=4, online_update_every=1,
)
REQUIRED = ["task", "method", "seed", "test_accuracy", "sgd_steps", "wall_time_s", "meta_train_sgd_steps",
            "meta_train_wall_time_s", "episode_return"]


class Lr01:
    """A researcher's policy object: lr 0.1 at every step."""

    def predict(self, obs, state=None, episode_start=True, deterministic=True):
        return np.array([3, 0, 4, 2]), state


def _read(out: Path) -> list[dict]:
    with open(out / "results.csv") as f:
        return list(csv.DictReader(f))


def _check_outputs(out: Path, methods: set[str], seeds: int, tasks=("wine",)) -> list[dict]:
    rows = _read(out)
    assert set(REQUIRED) <= set(rows[0])
    assert {r["method"] for r in rows} == methods
    assert len(rows) == len(methods) * seeds * len(tasks)
    for task in tasks:
        for m in methods:
            assert len({r["seed"] for r in rows if r["method"] == m and r["task"] == task}) == seeds
    for r in rows:
        acc = float(r["test_accuracy"])
        assert math.isfinite(acc) and 0.0 <= acc <= 1.0, r
        assert int(r["sgd_steps"]) > 0 and float(r["wall_time_s"]) >= 0.0
        assert int(r["seed"]) >= 2**31  # evaluation seeds are held out from every training seed
    for name in ("results.md", "accuracy_vs_compute.png", "schedules.png"):
        assert (out / name).stat().st_size > 0, name
    return rows


def test_benchmark_function_runs_every_method_and_a_user_policy(tmp_path):
    out = tmp_path / "bench"
    rows = bench.benchmark({"lr 0.1 object": Lr01(), "lambda": lambda obs: [3, 0, 3, 2]},
                           out=out, config=TINY, verbose=False)
    methods = set(bench.BUILTIN_METHODS) | {"lr 0.1 object", "lambda"}
    csv_rows = _check_outputs(out, methods, seeds=2)
    assert len(rows) == len(csv_rows)
    by = {(r["method"], r["seed"]): r for r in csv_rows}
    E = TINY.horizon * TINY.steps_per_action
    for s in (2**31, 2**31 + 1):
        assert int(by[("fixed default", str(s))]["sgd_steps"]) == E
        assert int(by[("PBT", str(s))]["sgd_steps"]) == TINY.pbt_population * E
        assert int(by[("random search", str(s))]["sgd_steps"]) == TINY.search_k * (E // TINY.search_k)
        assert 0 < int(by[("grid oracle", str(s))]["meta_train_sgd_steps"]) <= (480 + 16 * 4) * E
        assert by[("lambda", str(s))]["source"] == "user"
    # the same child under the same tuple gives the same result: the lambda is the fixed default
    for s in (2**31, 2**31 + 1):
        assert by[("lambda", str(s))]["test_accuracy"] == by[("fixed default", str(s))]["test_accuracy"]
    md = (out / "results.md").read_text()
    assert "lr 0.1 object (user)" in md and "RR meta (target)" in md and "95% CI" in md


def test_cli_agent_path_lands_beside_builtin_methods(tmp_path, monkeypatch):
    from agents.cli import main

    tiny = dataclasses.replace(TINY, methods=("fixed default", "schedule (cosine)", "random search"))
    monkeypatch.setitem(bench.PRESETS, "quick", tiny)
    monkeypatch.chdir(REPO)
    out = tmp_path / "cli"
    code = main(["bench", "--quick", "--out", str(out), "--tasks", "wine", "--seeds", "3",
                 "--agent", "tests.user_policy:StepDecay", "--agent", "tests.user_policy:always_default"])
    assert code == 0
    _check_outputs(out, {"fixed default", "schedule (cosine)", "random search", "StepDecay", "always_default"},
                   seeds=3)
    rows = _read(out)
    fixed = {r["seed"]: r["test_accuracy"] for r in rows if r["method"] == "fixed default"}
    same = {r["seed"]: r["test_accuracy"] for r in rows if r["method"] == "always_default"}
    assert fixed == same  # paired: identical children, identical tuple, identical result


def test_merge_adds_a_policy_to_an_earlier_run(tmp_path):
    out = tmp_path / "merge"
    bench.benchmark(methods=["fixed default", "schedule (step)"], out=out, config=TINY, verbose=False)
    before = {(r["method"], r["seed"]): r["test_accuracy"] for r in _read(out)}
    rows = bench.benchmark({"mine": Lr01()}, methods=["schedule (step)"], out=out, config=TINY, merge=True,
                           verbose=False)
    assert len(rows) == 6 and all(isinstance(r["seed"], int) for r in rows)
    after = _check_outputs(out, {"fixed default", "schedule (step)", "mine"}, seeds=2)
    for r in after:
        if r["method"] != "mine":
            assert before[(r["method"], r["seed"])] == r["test_accuracy"]


def test_cli_agent_errors_are_clear(tmp_path, monkeypatch):
    from agents.cli import main

    monkeypatch.chdir(REPO)
    assert main(["bench", "--quick", "--out", str(tmp_path), "--agent", "no_colon"]) == 2
    assert main(["bench", "--quick", "--out", str(tmp_path), "--agent", "tests.user_policy:Missing"]) == 2
    with pytest.raises(ValueError, match="unknown methods"):
        bench.benchmark(methods=["nope"], config=TINY)


def test_evaluate_policy_equals_single_env_episodes():
    """The batched evaluation gives each seed the child a single env gives it (paired comparison)."""
    env = gym.make("HPTune-v1", **TINY_ENV)
    policy = FixedPolicy(env)
    seeds = [2**31, 2**31 + 1, 2**31 + 2]
    batched = search.evaluate_policy(policy, seeds, **TINY_ENV)
    for s, b in zip(seeds, batched):
        single = run_episode(env, policy, s)
        assert b.sgd_steps == single.sgd_steps == 6
        assert abs(b.val_accuracy - single.val_accuracy) <= 1 / 36 + 1e-9
        assert abs(b.test_accuracy - single.test_accuracy) <= 1 / 36 + 1e-9


# ---------------------------------------------------------------------- budgets
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


def test_random_search_spends_what_it_claims(kernel_steps):
    r = search.random_search(2**31, k=3, **TINY_ENV)  # E = 6: three candidates of 2 steps
    assert r.sgd_steps == kernel_steps["steps"] == 6
    assert len(r.schedule) == 1 and r.chosen is not None and 0 <= r.test_accuracy <= 1


def test_tpe_spends_what_it_claims(kernel_steps):
    pytest.importorskip("optuna")
    r = search.tpe_search(2**31, k=2, **TINY_ENV)
    assert r.sgd_steps == kernel_steps["steps"] == 6


def test_grid_search_counts_every_tuple(kernel_steps):
    kw = {**TINY_ENV, "hp_space": {"learning_rate": [0.01, 0.1], "momentum": [0.0, 0.9]}}
    g = search.grid_search([1_000_000, 1_000_001], confirm_top=0, chunk=3, **kw)
    assert len(g.tuples) == 4
    assert g.sgd_steps == kernel_steps["steps"] == 2 * 4 * 6
    assert g.val_accuracy[list(map(tuple, g.tuples)).index(tuple(g.best))] == g.val_accuracy.max()
    kernel_steps["steps"] = 0
    g = search.grid_search([1_000_000], confirm_top=2, confirm_seeds=[1_000_100, 1_000_101, 1_000_102],
                           chunk=3, **kw)
    assert g.sgd_steps == kernel_steps["steps"] == (4 + 2 * 3) * 6  # the top 2 confirmed on 3 more seeds


def test_nas_controller_counts_its_training(kernel_steps):
    nas = search.NASController(HPSpace.default(), batch=4, seed=0).train(8, **TINY_ENV)
    assert nas.episodes == 8 and nas.sgd_steps == kernel_steps["steps"]
    assert nas.sgd_steps >= 8 * 2 * 3 - 8 * 3 * 2  # divergent tuples may end episodes early
    action, _ = nas.predict(None)
    assert np.array_equal(action, nas.best())


def test_pbt_spends_population_times_episode(kernel_steps):
    r = search.pbt(2**31, population=4, interval=1, **{**TINY_ENV, "horizon": 4})
    assert r.sgd_steps == kernel_steps["steps"] == 4 * 4 * 3
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
    assert venv._episodes.info["val_accuracy"][2] == venv._episodes.info["val_accuracy"][0]
    assert venv._episodes.kernel.depth[2] == venv._episodes.kernel.depth[0]
    # with the same tuple, the copy evaluates exactly like its source
    venv.step(np.array([[3, 0, 0, 0]] * 3))
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
