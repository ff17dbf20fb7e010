"""Benchmark v3's selection stage: the closed-loop rule, the stream schedules, the gates and their cache."""

import csv
import dataclasses

import gymnasium as gym
import numpy as np
import pytest
import torch

import hpenv
import agents.bench.v3.gates as gates_module
from agents.baselines import LossJumpPolicy
from agents.bench.v3.candidates import is_freeze, rule_episodes, rule_family, window_schedules
from agents.bench.v3.gates import HEADROOM_COLUMNS, cache_key, load_gate_settings, load_references, run_gates
from agents.engine import schedule_episodes

SPACE = hpenv.HPSpace.default()
LOSS = hpenv.feature_index("train_loss_mean")
START = {"depth": 2, "dropout": 0.0, "learning_rate": 0.1, "momentum": 0.9}


def obs_with_loss(losses):
    obs = np.zeros((len(losses), 17), dtype=np.float32)
    obs[:, LOSS] = losses
    return obs


def lr_values(policy, losses, **kw):
    state, out = None, []
    for t, loss in enumerate(losses):
        action, state = policy.predict(obs_with_loss([loss])[0], state, episode_start=t == 0)
        out.append(SPACE.decode(action)["learning_rate"])
    return out


def test_the_rule_keeps_the_start_until_the_loss_jumps_then_drops_once():
    policy = LossJumpPolicy(SPACE, START, threshold=0.25, drop_steps=2)
    # reset (its loss feature is the initial validation loss, never a jump), falling, a jump, more jumps
    assert lr_values(policy, [2.3, 1.0, 0.8, 0.7, 1.5, 1.4, 3.0]) == [0.1, 0.1, 0.1, 0.1, 0.01, 0.01, 0.01]
    assert lr_values(policy, [0.1, 1.0, 0.9]) == [0.1, 0.1, 0.1]  # the reset observation is not a step
    raising = LossJumpPolicy(SPACE, START, threshold=0.25, drop_steps=5, raise_first=True)
    assert lr_values(raising, [2.3, 1.0, 2.0, 1.9, 1.8]) == [0.1, 0.1, 0.3, 0.001, 0.001]
    small = LossJumpPolicy(SPACE, START, threshold=1.0, drop_steps=1)
    assert lr_values(small, [2.3, 1.0, 1.9, 4.0]) == [0.1, 0.1, 0.1, 0.03]  # +90% is below threshold 1, +110% is not


def test_the_rule_runs_a_batch_with_one_rule_per_row_and_restarts_rows():
    rules = LossJumpPolicy(SPACE, np.array([SPACE.encode(START)] * 2), threshold=np.array([0.25, 2.0]),
                           drop_steps=np.array([1, 3]))
    action, state = rules.predict(obs_with_loss([2.3, 2.3]), None)
    action, state = rules.predict(obs_with_loss([1.0, 1.0]), state, episode_start=np.array([False, False]))
    action, state = rules.predict(obs_with_loss([2.0, 2.0]), state, episode_start=np.array([False, False]))
    assert [SPACE.decode(a)["learning_rate"] for a in action] == [0.03, 0.1]
    action, _ = rules.predict(obs_with_loss([2.0, 2.0]), state, episode_start=np.array([True, False]))
    assert [SPACE.decode(a)["learning_rate"] for a in action] == [0.1, 0.1]


@pytest.mark.parametrize("kwargs, message", [
    ({"threshold": 0.0}, "threshold must be > 0"),
    ({"drop_steps": 0}, "drop_steps must be integers >= 1"),
    ({"drop_steps": 1.5}, "drop_steps must be integers >= 1"),
])
def test_bad_rule_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LossJumpPolicy(SPACE, START, **kwargs)
    with pytest.raises(ValueError, match="absolute"):
        LossJumpPolicy(hpenv.EnvConfig(relative_actions={"learning_rate": 1}).resolve_space())


def test_the_rule_reacts_to_a_label_noise_onset_in_the_env():
    member = next(m for m in hpenv.instance_set("v3/stream", "dev")
                  if hpenv.member_factors(m)["stream"] == "label_noise_onset")
    env = gym.make(hpenv.ENV_ID, task=member, **hpenv.member_env_kwargs(member))
    start = {**START, "learning_rate": 0.01}  # a rate whose training loss falls smoothly before the change
    policy = LossJumpPolicy(env, start, threshold=0.5, drop_steps=2)
    for seed in range(3):
        obs, info = env.reset(seed=seed)
        state, first, phases, lrs = None, True, [], []
        for _ in range(env.unwrapped.config.horizon):
            action, state = policy.predict(obs, state, episode_start=first)
            first = False
            obs, _, _, _, info = env.step(action)
            phases.append(info["phase"])
            lrs.append(info["hp_learning_rate"])
        change = phases.index(1)  # the rule drops at the step after the one that trained on the new data
        assert lrs[:change + 1] == [0.01] * (change + 1) and lrs[change + 1:] == [0.001] * (len(lrs) - change - 1)


def test_window_schedules_move_the_rate_from_each_step_and_freezing_is_told_apart():
    start = np.array([SPACE.encode(START)])
    scheds, names = window_schedules(SPACE, 10, start, (3, 5), (-1, -6))
    lr = np.asarray(SPACE.params[2].values)[scheds[:, :, 2]]
    assert len(scheds) == 6 and names[0].startswith("learning_rate -1 from step 3")
    assert np.allclose(lr[0], [0.1, 0.1] + [0.03] * 8) and np.allclose(lr[1], [0.1, 0.1] + [0.001] * 8)
    assert is_freeze(SPACE, scheds, (3, 5)).tolist() == [False, True, False, False, False, False]
    assert len(rule_family(np.concatenate([start, start]), (0.1, 0.5), (1, 2, 3), (False, True))) == 24


def tiny_settings(**changes):
    s = load_gate_settings("benchmarks/v3/protocol.toml")
    tiny = dict(static_candidates={"depth": [2], "dropout": [0.0], "momentum": [0.9]}, schedule_starts=2,
                seeds_a=(5, 6), seeds_b=(7,), shortlist=2,
                oracle_schedule_starts=1, rule_starts=1, rule_thresholds=(0.25,), rule_drops=(2,),
                rule_raise_first=(False,), schedule_families=("step_decay",), window_moves=(-1,),
                bootstrap_resamples=200)
    tiny.update(changes)
    return dataclasses.replace(s, **tiny, table={**s.table, **tiny})


def test_the_gates_of_a_stream_suite_end_to_end_and_their_cache(tmp_path):
    settings = tiny_settings()
    members = hpenv.instance_set("v3/stream", "dev")[:2]
    log = []
    rows = run_gates("v3/stream", settings, tmp_path / "out", tmp_path / "cache", split="dev", members=members,
                     workers=1, log=log.append)
    with open(tmp_path / "out" / "headroom.csv") as f:
        table = list(csv.DictReader(f))
    assert list(table[0]) == HEADROOM_COLUMNS and len(table) == len(rows) == 7
    assert {r["gate"] for r in table} == {"static", "dynamic", "closed_loop"}
    static = next(r for r in rows if r["method"] == "static oracle")
    assert static["n_members"] == 2 and static["gain"] >= 0  # one tuple per member: the oracle is the best tuple
    with open(tmp_path / "out" / "members.csv") as f:
        per_member = list(csv.DictReader(f))
    assert [r["member"] for r in per_member] == members and per_member[0]["closed-loop oracle"].startswith("on a")
    assert any("members to train" in line for line in log)
    # references.json deploys the global references: the same children as the gate's seed-B scores
    refs = load_references(tmp_path / "out" / "references.json")
    assert set(refs) == {"best static tuple", "best fixed schedule", "best closed-loop rule"}
    assert (refs["best static tuple"] == refs["best static tuple"][0]).all()  # one tuple, every step
    kw = hpenv.member_env_kwargs(members[0])
    res, _ = schedule_episodes(np.stack([refs["best static tuple"], refs["best fixed schedule"]]), [7, 7],
                               task=members[0], **kw)
    rule, _ = rule_episodes(SPACE, [refs["best closed-loop rule"]], [7], task=members[0], **kw)
    for method, r in zip(("best static tuple", "best fixed schedule", "best closed-loop rule"), [*res, *rule]):
        assert r.test_accuracy == pytest.approx(float(per_member[0][f"test: {method}"]), abs=1e-6), method
    assert any("shortlists at the other seeds A" in line for line in log)
    log.clear()
    again = run_gates("v3/stream", settings, tmp_path / "out2", tmp_path / "cache", split="dev", members=members,
                      workers=1, log=log.append)
    assert again == rows and not any("members to train" in line for line in log)  # every unit cached
    # the cache is keyed by the [selection] table (not the rest of the protocol), the suite and its members
    assert cache_key(settings, "v3/stream", members) != cache_key(tiny_settings(seeds_a=(1, 2)), "v3/stream", members)
    assert cache_key(settings, "v3/stream", members) != cache_key(settings, "v3/stream", members[:1])


def test_the_cache_key_changes_when_a_members_data_do(monkeypatch):
    # factors and env arguments equal, the data built differently (a fixed bug in how a stream's
    # wrong labels are drawn, say): the cached units must not be served
    settings, members = tiny_settings(), hpenv.instance_set("v3/stream", "dev")[:2]
    before = cache_key(settings, "v3/stream", members)
    built = gates_module.member_task

    def rebuilt(member):
        task = built(member)
        x, y = task.phases[0]
        return dataclasses.replace(task, phases=((x, torch.roll(y, 1)),))

    monkeypatch.setattr(gates_module, "member_task", rebuilt)
    assert cache_key(settings, "v3/stream", members) != before


def test_references_that_are_not_on_the_grid_are_refused(tmp_path):
    import json

    path = tmp_path / "references.json"
    good = {"horizon": 2, "hyper_parameters": list(SPACE.names),
            "references": {"best static tuple": {"schedule": [[1, 0, 2, 2]] * 2, "name": "x"}}}
    path.write_text(json.dumps(good))
    assert load_references(path)["best static tuple"].shape == (2, 4)
    bad = dict(good, references={"best static tuple": {"schedule": [[1, 0, 9, 2]] * 2, "name": "x"}})
    path.write_text(json.dumps(bad))
    with pytest.raises(ValueError, match="must be 2 steps of 4 grid positions"):
        load_references(path)
    path.write_text(json.dumps(dict(good, hyper_parameters=["learning_rate"])))
    with pytest.raises(ValueError, match="not of the default space's"):
        load_references(path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_references(tmp_path / "missing.json")


def test_a_stationary_suite_has_no_closed_loop_gate(tmp_path):
    rows = run_gates("v3/mlp", tiny_settings(), tmp_path, tmp_path / "cache", split="dev",
                     members=hpenv.instance_set("v3/mlp", "dev")[:2], workers=1, log=lambda *_: None)
    assert {r["gate"] for r in rows} == {"static", "dynamic"}


def test_protocol_settings_are_checked(tmp_path):
    bad = tmp_path / "p.toml"
    bad.write_text("[selection]\nseeds_a = [1]\nseeds = [2]\n")
    with pytest.raises(ValueError, match=r"unknown keys \['seeds'\]"):
        load_gate_settings(bad)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_gate_settings(tmp_path / "missing.toml")


@pytest.mark.parametrize("suite", ["v3/mlp", "v3/stream"])
def test_the_package_ships_the_references_the_registered_selection_stage_chose(suite):
    """hptune train compares with the shipped references: copies of the gate run's, chosen under the protocol's
    [selection] table on the suite's selection members as they are built now."""
    from pathlib import Path

    from agents.bench.v3.shipped import shipped_problems, shipped_references, shipped_statistics

    root = Path(__file__).resolve().parents[1]
    assert shipped_problems(root) == [], "run agents.bench.v3.shipped.sync_shipped('.') after a gate run"
    references, data = shipped_references(suite)
    settings = load_gate_settings(root / "benchmarks" / "v3" / "protocol.toml")
    members = hpenv.instance_set(suite, "selection")
    assert data["split"] == "selection"
    assert data["cache"] == f"{suite.replace('/', '_')}-selection-{cache_key(settings, suite, members)}"
    assert {"best static tuple", "best fixed schedule"} <= set(references)
    assert ("best closed-loop rule" in references) == (suite == "v3/stream")
    assert shipped_statistics().evaluation_seeds >= 3
    with pytest.raises(ValueError, match="no references of 'v3/image' ship with hpenv"):
        shipped_references("v3/image")


def test_the_oracles_on_test_members_need_the_frozen_protocol_and_are_filed_in_the_ledger(tmp_path, monkeypatch):
    from agents.bench.v3 import budgets, gates
    from agents.bench.v3.ledger import read_ledger
    from conftest import v3_protocol_copy

    draft, frozen = v3_protocol_copy(tmp_path, "draft"), v3_protocol_copy(tmp_path)
    ledger = tmp_path / "ledger.csv"
    with pytest.raises(ValueError, match="is a draft"):
        gates.oracles_on_test("v3/mlp", draft, tmp_path / "out", tmp_path / "cache", ledger=ledger)
    assert not ledger.exists()
    monkeypatch.setattr(gates, "load_gate_settings", lambda path: tiny_settings())
    real = budgets.load_budgets
    monkeypatch.setattr(budgets, "load_budgets", lambda path: dataclasses.replace(real(path), oracle_test_members=1))
    gates.oracles_on_test("v3/mlp", frozen, tmp_path / "out", tmp_path / "cache", ledger=ledger, workers=1,
                          log=lambda m: None)
    with open(tmp_path / "out" / "members.csv") as f:
        per_member = list(csv.DictReader(f))
    assert [r["member"] for r in per_member] == hpenv.instance_set("v3/mlp", "test")[:1]
    rows = read_ledger(ledger)
    assert [(r.event, r.method) for r in rows] == [("start", "static oracle"), ("start", "dynamic oracle"),
                                                    ("end", "static oracle"), ("end", "dynamic oracle")]
    assert all(r.split == "test" and r.n_members == 1 and r.n_seeds == 1 for r in rows)
    for r in rows[2:]:
        assert r.mean_test_accuracy == pytest.approx(float(per_member[0][f"test: {r.method}"]))
    # the fingerprint follows the [selection] table: another design is another oracle
    assert (gates.oracle_identities("v3/mlp", tiny_settings())
            != gates.oracle_identities("v3/mlp", tiny_settings(seeds_a=(1, 2))))
