"""Benchmark v2's suites: declared splits, a held-out transfer base, factors that vary, members
that are deterministic, standardised on their own training split and trainable; v1 unchanged."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
import torch

import hpenv
from hpenv.instances import member_task, write_members_csv
from hpenv.suites_v2 import N_CLASSES, N_FEATURES, V2_SUITES

V2 = [s.name for s in V2_SUITES]
SHORT = "v2/mlp-short"
NUMERIC = ("train_fraction", "imbalance", "label_noise", "feature_noise", "input_scale", "n_train")


def _hash(task) -> str:
    h = hashlib.sha256()
    for attr in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        h.update(getattr(task, attr).numpy().tobytes())
    return h.hexdigest()[:16]


def test_v2_suites_are_listed_with_their_episode_budgets():
    assert {"v2/mlp-short", "v2/mlp-long"} <= set(hpenv.instance_sets())
    assert hpenv.suite("v2/mlp-short").env_kwargs == {"horizon": 10, "steps_per_action": 20}
    assert hpenv.suite("v2/mlp-long").env_kwargs == {"horizon": 20, "steps_per_action": 50}
    with pytest.raises(ValueError, match="split must be one of"):
        hpenv.instance_set(SHORT, "validation")
    with pytest.raises(ValueError, match="outside suite"):
        hpenv.make_task(f"{SHORT}/690")


@pytest.mark.parametrize("name", V2)
def test_splits_are_disjoint_of_the_declared_sizes_and_transfer_is_held_out(name):
    s = hpenv.suite(name)
    declared = {"train": s.n_train, "selection": s.n_selection, "test": s.n_test, "transfer": s.n_transfer}
    assert declared == ({"train": 200, "selection": 30, "test": 400, "transfer": 60} if name == SHORT else
                        {"train": 200, "selection": 60, "test": 120, "transfer": 60})
    rows = {split: hpenv.members_table(name, split) for split in s.splits}
    assert {split: len(r) for split, r in rows.items()} == declared
    ids = [r["task_id"] for split_rows in rows.values() for r in split_rows]
    assert len(set(ids)) == len(ids)
    assert all(r["split"] == split for split, split_rows in rows.items() for r in split_rows)
    assert {r["base"] for r in rows["transfer"]} == {"breast_cancer"}
    others = {r["base"] for split in ("train", "selection", "test") for r in rows[split]}
    assert "breast_cancer" not in others and len(others) >= 3
    assert all(r["n_train"] >= 64 for split_rows in rows.values() for r in split_rows)


def test_factors_vary_over_test_members():
    rows = hpenv.members_table(SHORT, "test")
    assert len(rows) >= 100
    spread = {k: np.percentile([r[k] for r in rows], [10, 90]) for k in NUMERIC}
    wide = [k for k, (lo, hi) in spread.items() if hi > lo * 1.5 + 0.05]
    assert len(wide) >= 5, spread
    assert len({r["base"] for r in rows}) >= 4 and len({r["classes"] for r in rows}) >= 5
    synthetic = [r for r in rows if r["base"] == "make_classification"]
    assert len({r["informative"] for r in synthetic}) >= 5
    assert all(0 <= r["label_noise"] <= 0.4 and 0 <= r["feature_noise"] <= 1 for r in rows)
    assert all(10 ** -0.5 - 1e-9 <= r["input_scale"] <= 10 ** 0.5 + 1e-9 for r in rows)


def test_members_are_deterministic_here_and_in_a_fresh_process():
    ids = [f"{SHORT}/{i}" for i in (0, 1, 2, 3, 380)]
    here = [_hash(member_task(i)) for i in ids]
    assert here == [_hash(hpenv.make_task(i)) for i in ids]
    code = ("import hashlib, hpenv\n"
            "for i in %r:\n"
            "    t = hpenv.make_task(i); h = hashlib.sha256()\n"
            "    for a in ('x_train', 'y_train', 'x_val', 'y_val', 'x_test', 'y_test'):\n"
            "        h.update(getattr(t, a).numpy().tobytes())\n"
            "    print(h.hexdigest()[:16])\n") % ids
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == here
    assert len(set(here)) == len(here)


def test_inputs_are_standardised_on_the_members_training_split():
    for i in range(12):
        t, f = member_task(f"{SHORT}/{i}"), hpenv.member_factors(f"{SHORT}/{i}")
        d = t.meta["n_features"]
        assert t.input_shape == (N_FEATURES,) and t.num_classes == N_CLASSES
        x = t.x_train[:, :d].double() / f["input_scale"]
        assert torch.allclose(x.mean(0), torch.zeros(d, dtype=torch.float64), atol=1e-4)
        used = x.std(0, unbiased=False) > 1e-3
        assert torch.allclose(x.std(0, unbiased=False)[used], torch.ones(int(used.sum()), dtype=torch.float64),
                              atol=1e-3)
        assert torch.count_nonzero(t.x_train[:, d:]) == 0 and torch.count_nonzero(t.x_test[:, d:]) == 0
        assert int(t.y_train.max()) < f["classes"] and len(t.y_train) == f["n_train"]


def test_label_noise_touches_training_labels_only():
    s = hpenv.suite(SHORT)
    clean = dataclasses.replace(s, label_noise=(0.0, 0.0))
    checked = 0
    for i in range(30):
        f = s.factors(i)
        if f["label_noise"] < 0.1:
            continue
        noisy, plain = s.build(i), clean.build(i)
        assert torch.equal(noisy.y_val, plain.y_val) and torch.equal(noisy.y_test, plain.y_test)
        flipped = float((noisy.y_train != plain.y_train).float().mean())
        assert abs(flipped - f["label_noise"]) <= 1.0 / len(plain.y_train) + 1e-9
        checked += 1
    assert checked >= 5


@pytest.mark.parametrize("name", V2)
def test_a_member_of_every_base_trains_one_env_step(name):
    s = hpenv.suite(name)
    first = {}
    for split in s.splits:
        for row in hpenv.members_table(name, split)[:40]:
            first.setdefault(row["base"], row["task_id"])
    assert set(first) == {"digits", "wine", "iris", "make_classification", "breast_cancer"}
    for task_id in first.values():
        env = gym.make(hpenv.ENV_ID, task=task_id, **{**s.env_kwargs, "steps_per_action": 2})
        env.reset(seed=0)
        _, reward, _, _, info = env.step(env.action_space.sample())
        assert np.isfinite(reward) and info["sgd_steps"] == 2
        env.close()


def test_a_split_is_a_family_of_bounded_memory():
    env = gym.make(hpenv.ENV_ID, task=f"{SHORT}/train", horizon=2, steps_per_action=2)
    names = set()
    for seed in range(3):
        env.reset(seed=seed)
        names.add(env.unwrapped.task.name)
        _, reward, _, _, _ = env.step(env.action_space.sample())
        assert np.isfinite(reward)
    assert len(names) > 1 and all(n.startswith(SHORT + "/") for n in names)
    env.close()
    family = hpenv.make_task(f"{SHORT}/train")
    first = family.get(0)
    assert family.get(0) is first
    for i in range(1, 70):  # more than the family keeps
        family.get(i)
    again = family.get(0)  # evicted and rebuilt: the same member, not a kept copy
    assert again is not first and torch.equal(again.x_train, first.x_train)


def test_members_csv_has_one_row_per_member_with_every_factor(tmp_path):
    path = write_members_csv(tmp_path / "members.csv", SHORT)
    with path.open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 690
    assert {"task_id", "split", "base", "classes", *NUMERIC} <= set(rows[0])
    real = next(r for r in rows if r["base"] != "make_classification")
    assert real["informative"] == ""


# computed on main (6e4809c) before the suites were reorganised
V1_HASHES = {
    "v1/digits-scaled/0": "2d73e718bf5a1522",
    "v1/digits-scaled/45": "3af7d32101f78422",
    "v1/wine-scaled/3": "6968b0e32ddeae66",
    "v1/breast_cancer-scaled/61": "ac2b6d3f16af5c22",
}


def test_v1_members_are_unchanged():
    assert {task_id: _hash(member_task(task_id)) for task_id in V1_HASHES} == V1_HASHES
