"""The benchmark's meta-learning baselines: PPO, A2C and RecurrentPPO meta-trained on train members
(their learning rate chosen on selection members) and the NAS-style controller."""

from __future__ import annotations

import dataclasses
import json
import pickle

import numpy as np
import pytest

import hpenv.wrappers
from agents import search
from agents.bench import methods as bench_methods
from agents.bench.v1.protocol import Protocol, SuiteContext
from agents.sb3 import SGDStepCounter

SUITE = "v2/mlp-short"
TINY = Protocol(suites=(SUITE,), horizon=3, steps_per_action=5, selection_members=2, selection_seeds=1,
                rr_meta_episodes=16, num_envs=8)
E = TINY.horizon * TINY.steps_per_action
SEEDS = [2**31, 2**31 + 1]
SB3_METHODS = ["PPO meta (train members)", "A2C meta (train members)", "RecurrentPPO meta (train members)"]


def _without_wall_time(records):
    return [dataclasses.replace(r, wall_time_s=0.0) for r in records]


class _TrainAndSelectionOnly:
    """A suite whose test and transfer members cannot be listed."""

    def __init__(self, suite):
        self._suite = suite

    def __getattr__(self, name):
        return getattr(self._suite, name)

    def members(self, split):
        if split not in ("train", "selection"):
            raise AssertionError(f"prepare touched the {split} members")
        return self._suite.members(split)


def _selection_only(ctx, monkeypatch):
    """Make every way to a test or transfer member fail, and record the tasks children train on."""
    monkeypatch.setattr(ctx, "suite", _TrainAndSelectionOnly(ctx.suite))
    monkeypatch.setattr(ctx, "test_members", lambda: pytest.fail("prepare listed the test members"))
    monkeypatch.setattr(ctx, "test_grid", lambda *a: pytest.fail("prepare read the test grid"))
    tasks = {"meta_train": [], "evaluated": []}
    sb3_vec_env, evaluate, static = hpenv.wrappers.SB3VecEnv, bench_methods.learned.evaluate_policy, search.static_episodes

    def spy_vec_env(*args, **kwargs):
        tasks["meta_train"].append(kwargs["task"])
        return sb3_vec_env(*args, **kwargs)

    def spy_evaluate(*args, **kwargs):
        tasks["evaluated"].append(kwargs["task"])
        return evaluate(*args, **kwargs)

    def spy_static(*args, **kwargs):
        tasks["meta_train"].append(kwargs["task"])
        return static(*args, **kwargs)

    monkeypatch.setattr(hpenv.wrappers, "SB3VecEnv", spy_vec_env)
    monkeypatch.setattr(bench_methods.learned, "evaluate_policy", spy_evaluate)
    monkeypatch.setattr(search, "static_episodes", spy_static)
    return tasks


@pytest.fixture(scope="module")
def selection_file(tmp_path_factory):
    """The selection run's results, shared: each test copies them into its own cache."""
    ctx = SuiteContext(SUITE, TINY, tmp_path_factory.mktemp("selection"))
    ctx.run_selection()
    return ctx.cache_dir / "selection.json"


def _context(tmp_path, selection_file):
    (tmp_path / "selection.json").write_text(selection_file.read_text())
    ctx = SuiteContext(SUITE, TINY, tmp_path)
    ctx.run_selection()
    return ctx


@pytest.mark.parametrize("name", SB3_METHODS + ["NAS-style controller"])
def test_learned_method_meta_trains_on_train_members_pickles_and_resumes_from_its_cache(
        name, tmp_path, selection_file, monkeypatch):
    if name.startswith("RecurrentPPO"):
        pytest.importorskip("sb3_contrib")
    ctx = _context(tmp_path, selection_file)
    member = ctx.suite.members("test")[0]
    method = bench_methods.resolve_method(name)
    assert method.learned and method.version == "1"
    assert json.loads(json.dumps(method.settings())) == method.settings()

    with monkeypatch.context() as patch:
        tasks = _selection_only(ctx, patch)
        method.prepare(ctx)
    # meta-training sees the train members only; the setting choice, the selection members only
    assert set(tasks["meta_train"]) == {f"{SUITE}/train"}
    assert set(tasks["evaluated"]) <= set(ctx.selection_members())

    records = method.run(ctx, member, SEEDS)
    assert [r.seed for r in records] == SEEDS
    assert all(r.sgd_steps == ctx.episode_steps for r in records)

    # the one-off cost is every meta-training plus every selection child, as recorded when they ran
    if name in SB3_METHODS:
        trained = [json.loads(p.read_text()) for p in tmp_path.glob("*_meta_*[0-9a-f].json")]
        scores = [json.loads(p.read_text()) for p in tmp_path.glob("*_meta_*.selection.json")]
        assert len(trained) == len(scores) == len(method.learning_rates)
        assert all(s["sgd_steps"] == len(ctx.selection_members()) * len(ctx.selection_seeds()) * E for s in scores)
        assert all(t["episodes"] == TINY.rr_meta_episodes for t in trained)
        meta = sum(t["sgd_steps"] for t in trained)
        assert method.one_off_sgd_steps == meta + sum(s["sgd_steps"] for s in scores)
        assert "chosen on the selection members" in method.note
    else:
        (trained,) = [json.loads(p.read_text()) for p in tmp_path.glob("nas_meta_*.json")]
        meta = method.one_off_sgd_steps
        assert meta == trained["sgd_steps"] and trained["episodes"] == TINY.rr_meta_episodes
    assert 0 < meta <= len(getattr(method, "learning_rates", [0])) * TINY.rr_meta_episodes * E

    # shipped to a worker: the copy holds no live model and deploys the same children
    copy = pickle.loads(pickle.dumps(method))
    assert getattr(copy, "_policy", None) is None
    assert _without_wall_time(copy.run(ctx, member, SEEDS)) == _without_wall_time(records)

    # a resumed run finds its agents in the cache and trains nothing
    monkeypatch.setattr("agents.sb3.train_sb3", lambda *a, **k: pytest.fail("retrained an SB3 agent"))
    monkeypatch.setattr(search.NASController, "train", lambda *a, **k: pytest.fail("retrained the controller"))
    again = bench_methods.resolve_method(name)
    again.prepare(ctx)
    assert (again.one_off_sgd_steps, again.note) == (method.one_off_sgd_steps, method.note)
    assert _without_wall_time(again.run(ctx, member, SEEDS)) == _without_wall_time(records)


def test_sgd_step_counter_counts_every_child_step_across_episode_ends():
    venv = SGDStepCounter(hpenv.wrappers.SB3VecEnv(num_envs=2, task="wine", horizon=2, steps_per_action=3))
    venv.reset()
    action = np.zeros((2, len(venv.action_space.nvec)), dtype=np.int64)  # lr 0.001: no child diverges
    for _ in range(5):  # episodes end after steps 2 and 4; the next ones start from 0
        _, _, dones, infos = venv.step(action)
    assert venv.sgd_steps == 5 * 2 * 3
    assert [info["sgd_steps"] for info in infos] == [3, 3]


def test_sb3_meta_training_leaves_the_global_generators_as_they_were(tmp_path, selection_file):
    import random

    import torch

    ctx = _context(tmp_path, selection_file)
    states = random.getstate(), np.random.get_state()[1].copy(), torch.get_rng_state()
    bench_methods.A2CMeta().meta_train(ctx, 7e-4)
    assert random.getstate() == states[0]
    assert (np.random.get_state()[1] == states[1]).all()
    assert torch.equal(torch.get_rng_state(), states[2])
