"""One record: every path that trains a child records it the same way, and the seed ranges never overlap."""

from __future__ import annotations

import dataclasses
import warnings

import gymnasium as gym
import numpy as np
import pytest

import hpenv
from agents import search, seeds
from agents.baselines import FixedPolicy
from agents.bench.methods import EpisodeRecorder, PolicyMethod
from agents.cli.compare import compare
from agents.engine import EpisodeRecord, play_episodes, schedule_episodes, static_episodes
from agents.evaluation import run_episodes

ENV = {"task": "wine", "horizon": 3, "steps_per_action": 4}
SEED = seeds.REPORT.start  # hptune train's comparison reports on its first seed: use that child everywhere
# what the child is, not what it cost to find it or how long the machine took
CHILD_FIELDS = ("seed", "test_accuracy", "val_accuracy", "episode_return", "diverged", "schedule",
                "deployed_sgd_steps", "val_loss")


def _child(record: EpisodeRecord) -> dict:
    assert type(record) is EpisodeRecord
    return {name: getattr(record, name) for name in CHILD_FIELDS}


def test_train_eval_bench_and_search_record_the_same_child_identically():
    # the search chooses the tuple (k=1: its one candidate) and deploys it from reset(seed=SEED)
    found = search.random_search(SEED, k=1, deploy=True, **ENV)
    space = hpenv.HPSpace.default()
    policy = FixedPolicy(space, found.chosen)
    (train,) = compare({"fixed": policy}, ENV, 1)["fixed"]               # hptune train's report
    (evaluated,) = run_episodes(gym.make(hpenv.ENV_ID, **ENV), policy, [SEED])  # hptune eval
    method = PolicyMethod("fixed", policy)
    ctx = type("Ctx", (), {"env_kwargs": {k: v for k, v in ENV.items() if k != "task"}})()
    method.prepare(ctx)
    (bench,) = method.run(ctx, ENV["task"], [SEED])                       # the benchmark's deployment
    recorder = EpisodeRecorder(gym.make(hpenv.ENV_ID, **ENV))             # the online learner's record
    recorder.reset(seed=SEED)
    for _ in range(ENV["horizon"]):
        recorder.step(policy.target)
    online = recorder.result(SEED, 0.0)

    reference = _child(train)
    assert reference["schedule"] and {*space.names, "val_accuracy", "val_loss"} <= set(reference["schedule"][0])
    assert [s["learning_rate"] for s in reference["schedule"]] == [found.chosen["learning_rate"]] * ENV["horizon"]
    for name, record in (("hptune eval", evaluated), ("bench", bench), ("search", found), ("online", online)):
        assert _child(record) == reference, name
    assert [f.name for f in dataclasses.fields(found)] == [f.name for f in dataclasses.fields(train)]
    assert found.search_sgd_steps > 0 and found.sgd_steps == found.search_sgd_steps + train.sgd_steps


def test_a_single_env_a_vector_env_and_env_kwargs_play_the_same_children():
    tuples = np.array([[3, 0, 4, 2], [1, 1, 2, 0], [2, 0, 3, 1]])
    kids = [11, 12, 13]
    from_kwargs, spent = static_episodes(tuples, kids, chunk=2, **ENV)
    make = lambda rows: (lambda obs, reward, starts, live: tuples[rows])  # noqa: E731
    from_single, spent_single = play_episodes(kids, make, env=gym.make(hpenv.ENV_ID, **ENV))
    from_vector, _ = play_episodes(kids, make, env=gym.make_vec(hpenv.ENV_ID, num_envs=2, **ENV))
    assert spent == spent_single == 3 * ENV["horizon"] * ENV["steps_per_action"]
    applied = lambda r: [{k: v for k, v in s.items() if k not in ("val_accuracy", "val_loss")} for s in r.schedule]  # noqa: E731
    for a, *others in zip(from_kwargs, from_single, from_vector):
        for b in others:  # the same child, up to float rounding of batched matrix products
            assert b.seed == a.seed and applied(b) == applied(a) and len(b.schedule) == ENV["horizon"]
            assert [s["val_loss"] for s in b.schedule] == pytest.approx([s["val_loss"] for s in a.schedule], rel=1e-4)
            assert b.test_accuracy == pytest.approx(a.test_accuracy, abs=1e-6)
    with pytest.raises(ValueError, match="not both"):
        play_episodes(kids, make, env=gym.make(hpenv.ENV_ID, **ENV), task="wine")


def test_a_constant_schedule_is_the_static_tuple():
    tuple_ = np.array([[3, 0, 4, 2]])
    (static,), _ = static_episodes(tuple_, [5], chunk=1, **ENV)
    (sched,), _ = schedule_episodes(np.repeat(tuple_[:, None], ENV["horizon"], 1), [5], chunk=1, **ENV)
    assert _child(static) == _child(sched)


def test_old_record_names_still_import():
    assert search.SearchResult is EpisodeRecord
    with pytest.warns(DeprecationWarning, match="agents.engine.EpisodeRecord"):
        from agents.evaluation import EpisodeResult
    assert EpisodeResult is EpisodeRecord
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from agents.evaluation import HELD_OUT_SEED, REPORT_SEED  # noqa: F401
    assert (HELD_OUT_SEED, REPORT_SEED) == (2**31, 2**31 + 1_000_000)  # the values main had


# ---------------------------------------------------------------------- seed ranges
def test_seed_ranges_are_disjoint_but_for_the_one_documented_overlap():
    assert seeds.overlaps() == []
    assert seeds.overlaps([seeds.HELD_OUT, seeds.REPORT, seeds.SELECTION]) == []
    # the check can fail: a range that reaches into the held-out seeds is reported
    leak = seeds.SeedRange("leak", 2**31 - 5, 2**31 + 5)
    assert seeds.overlaps([*seeds.RANGES, leak]) == [("held-out evaluation", "leak"), ("training draws", "leak")]
    # reported seeds are never a training draw
    assert not seeds.TRAINING_DRAW.overlaps(seeds.HELD_OUT) and not seeds.TRAINING_DRAW.overlaps(seeds.REPORT)


def test_every_user_draws_inside_its_range(tmp_path, monkeypatch):
    from agents.bench.v1.protocol import PRESETS, SuiteContext
    from agents.reinforce import RecurrentReinforce

    ctx = SuiteContext("v1/wine-scaled", PRESETS["quick"], tmp_path)
    assert all(s in seeds.HELD_OUT for s in ctx.eval_seeds())
    assert all(s in seeds.SELECTION for s in ctx.selection_seeds())
    assert all(s in seeds.REPORT for s in seeds.REPORT.seeds(10))
    defaults = search.grid_search.__kwdefaults__["confirm_seeds"] + search.grid_search.__defaults__[0]
    assert all(s in seeds.SELECTION for s in defaults)
    agent = RecurrentReinforce(gym.make(hpenv.ENV_ID, **ENV), seed=0)
    assert all(s in seeds.TRAINING_DRAW for s in agent._draw_seeds(64))
    drawn = []
    real = search.static_episodes
    monkeypatch.setattr(search, "static_episodes", lambda t, s, **kw: (drawn.extend(s), real(t, s, **kw))[1])
    search.NASController(seed=0, batch=2).train(2, **ENV)
    assert len(drawn) == 2 and all(s in seeds.TRAINING_DRAW for s in drawn)
    with pytest.raises(ValueError, match="leave the selection range"):
        seeds.SELECTION.seeds(2000)
