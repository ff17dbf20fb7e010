"""Instance sets: named suites, disjoint splits, deterministic members, hidden factors that matter."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import hpenv
from hpenv.instances import member_factors, member_task

SUITE = "v1/wine-scaled"  # the smallest data set keeps these tests fast


def test_suites_are_listed_and_versioned():
    names = hpenv.instance_sets()
    assert names == sorted(names)
    assert {"v1/digits-scaled", "v1/breast_cancer-scaled", "v1/wine-scaled", "v1/mnist5k-scaled"} <= set(names)
    assert all(n.split("/")[0] in ("v1", "v2", "v3") for n in names)
    with pytest.raises(ValueError, match="unknown instance set"):
        hpenv.instance_set("v1/nope", "train")
    with pytest.raises(ValueError, match="split must be one of"):
        hpenv.instance_set(SUITE, "validation")


@pytest.mark.parametrize("name", ["v1/digits-scaled", "v1/breast_cancer-scaled", "v1/wine-scaled",
                                  "v1/mnist5k-scaled"])
def test_splits_are_disjoint_and_nonempty(name):
    splits = {s: hpenv.instance_set(name, s) for s in ("train", "selection", "test")}
    assert all(len(v) >= 5 for v in splits.values())
    all_ids = [i for v in splits.values() for i in v]
    assert len(set(all_ids)) == len(all_ids)
    for split, ids in splits.items():
        assert all(member_factors(i)["split"] == split for i in ids)
    assert all(isinstance(i, str) and i.startswith(name + "/") for i in all_ids)


def test_members_are_deterministic_and_differ():
    a, b = hpenv.instance_set(SUITE, "selection")[:2]
    t1, t2 = member_task(a), hpenv.make_task(a)
    for attr in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        assert torch.equal(getattr(t1, attr), getattr(t2, attr)), attr
    assert member_factors(a) == member_factors(a)
    assert member_factors(a)["input_scale"] != member_factors(b)["input_scale"]


def test_hidden_factors_change_the_data_but_not_the_splits():
    ids = hpenv.instance_set(SUITE, "train")
    base = hpenv.make_task("wine")
    scales, noises = [], []
    for i in ids[:8]:
        t, f = member_task(i), member_factors(i)
        # inputs are the base task's standardised inputs times the scale, not re-standardised
        assert torch.allclose(t.x_train, base.x_train * f["input_scale"], rtol=1e-5, atol=1e-6)
        assert torch.allclose(t.x_test, base.x_test * f["input_scale"], rtol=1e-5, atol=1e-6)
        # noise touches training labels only, and about the drawn fraction of them
        assert torch.equal(t.y_val, base.y_val) and torch.equal(t.y_test, base.y_test)
        flipped = float((t.y_train != base.y_train).float().mean())
        assert abs(flipped - f["label_noise"]) <= 1.0 / len(base.y_train) + 1e-9
        scales.append(f["input_scale"])
        noises.append(f["label_noise"])
        assert t.meta["split"] == "train" and t.sizes == base.sizes
    # the factors really spread: scale over more than a decade, noise over more than 10 points
    assert max(scales) / min(scales) > 10 and max(noises) - min(noises) > 0.1
    assert all(0.01 <= s <= 10 for s in scales) and all(0 <= n <= 0.4 for n in noises)


def test_member_ids_make_envs_and_the_scale_is_visible_at_reset():
    ids = hpenv.instance_set(SUITE, "train")
    by_scale = sorted(ids, key=lambda i: member_factors(i)["input_scale"])
    small, large = by_scale[0], by_scale[-1]
    std = [f[0] for f in hpenv.feature_table(hpenv.HPSpace.default())].index("val_logit_std")
    for task_id in (small, large):
        env = gym.make(hpenv.ENV_ID, task=task_id, horizon=2, steps_per_action=2)
        obs, _ = env.reset(seed=0)
        assert env.unwrapped.task.name == task_id
        obs, r, term, trunc, info = env.step(np.array([3, 0, 2, 2]))
        assert np.isfinite(r) and info["sgd_steps"] == 2
        env.close()
    # same initial weights, inputs 10x+ larger: the logits' spread at reset grows with the scale
    env = gym.make(hpenv.ENV_ID, task=small, horizon=1, steps_per_action=1)
    o_small, _ = env.reset(seed=0)
    env = gym.make(hpenv.ENV_ID, task=large, horizon=1, steps_per_action=1)
    o_large, _ = env.reset(seed=0)
    assert o_large[std] > 3 * o_small[std]


def test_bad_member_ids_are_refused():
    with pytest.raises(ValueError, match="outside suite"):
        hpenv.make_task(SUITE + "/100000")
    with pytest.raises(ValueError, match="non-negative integer"):
        hpenv.make_task(SUITE + "/x")
    with pytest.raises(ValueError, match="unknown instance set"):
        hpenv.make_task("v1/nothing/0")
    with pytest.raises(ValueError, match="takes no task_kwargs"):
        hpenv.make_task(SUITE + "/0", split_seed=3)


def test_a_split_is_a_task_family_whose_members_follow_the_reset_seed():
    import pickle

    family = hpenv.make_task(SUITE + "/selection")
    assert isinstance(family, hpenv.TaskFamily) and family.name == SUITE + "/selection"
    members = {family.get(i).name for i in family.ids}
    assert members == set(hpenv.instance_set(SUITE, "selection"))
    with pytest.raises(ValueError, match="a split, as a task family"):
        hpenv.make_task(SUITE + "/validation")
    venv = gym.make_vec(hpenv.ENV_ID, num_envs=4, task=SUITE + "/train", horizon=1, steps_per_action=1)
    obs, _ = venv.reset(seed=[7, 7, 8, 9])
    np.testing.assert_array_equal(obs[0], obs[1])  # the same seed: the same member and child
    assert len({tuple(o) for o in obs}) == 3
    again, _ = pickle.loads(pickle.dumps(venv)).reset(seed=[7, 7, 8, 9])  # envs ship to Ray and subprocesses
    np.testing.assert_array_equal(again, obs)
    venv.close()
