"""Ragged batches: children whose tasks differ in split sizes train in one batched pass.

Benchmark v2's members differ in training-set size and their bases in validation and test size;
the kernel pads each split to the batch's largest and keeps every child's own sizes.
"""

from __future__ import annotations

import dataclasses
import hashlib

import gymnasium as gym
import numpy as np
import pytest
import torch

import hpenv
from hpenv.children import make_family
from hpenv.tasks import make_task
from hpenv.training import ChildKernel

SPLIT = "v2/mlp-short/train"
KW = {**hpenv.suite("v2/mlp-short").env_kwargs, "horizon": 2, "steps_per_action": 3}
K, SEED = 8, 3


def _actions(nvec, K: int, steps: int) -> np.ndarray:
    acts = np.random.default_rng(0).integers(0, nvec, size=(steps, K, len(nvec)))
    acts[..., 2] = np.minimum(acts[..., 2], 4)  # learning rate <= 0.1: no child diverges
    return acts


def _trace(env, acts, seed):
    """Observations (reset and every step), rewards and the final info of one rollout."""
    obs, _ = env.reset(seed=seed)
    trace, rewards = [obs], []
    for a in acts:
        obs, reward, terminated, _, info = env.step(a)
        trace.append(obs)
        rewards.append(reward)
    return np.stack(trace), np.stack(rewards), terminated, info


@pytest.fixture(scope="module")
def ragged_run():
    venv = gym.make_vec(hpenv.ENV_ID, num_envs=K, task=SPLIT, **KW)
    acts = _actions(venv.single_action_space.nvec, K, KW["horizon"])
    obs, rewards, terminated, info = _trace(venv, acts, SEED)
    tasks = list(venv.tasks)
    venv.close()
    return tasks, acts, obs, rewards, terminated, info


def test_a_vector_env_over_a_v2_split_resets_and_steps(ragged_run):
    tasks, _, obs, rewards, terminated, info = ragged_run
    # the batch really is ragged, in training and in validation size
    assert len({len(t.x_train) for t in tasks}) > 1 and len({len(t.x_val) for t in tasks}) > 1
    assert obs.shape[:2] == (KW["horizon"] + 1, K) and obs.dtype == np.float32
    assert np.isfinite(obs).all() and np.isfinite(rewards).all() and terminated.all()
    assert ((info["test_accuracy"] >= 0) & (info["test_accuracy"] <= 1)).all()
    assert (info["sgd_steps"] == KW["horizon"] * KW["steps_per_action"]).all()
    # accuracy is a count over the child's own rows: a multiple of 1 / its validation size
    n_val = np.array([len(t.x_val) for t in tasks])
    counts = info["val_accuracy"] * n_val
    np.testing.assert_allclose(counts, np.round(counts), atol=1e-3)


def test_child_k_equals_a_single_env_on_its_member(ragged_run):
    tasks, acts, v_obs, v_rew, _, _ = ragged_run
    for k, task in enumerate(tasks):
        env = gym.make(hpenv.ENV_ID, task=SPLIT, **KW)
        s_obs, s_rew, _, _ = _trace(env, acts[:, k], SEED + k)
        assert env.unwrapped.task.name == task.name  # the same member, drawn from the same seed
        env.close()
        np.testing.assert_allclose(v_obs[:, k], s_obs, atol=1e-5, err_msg=f"child {k}")
        np.testing.assert_allclose(v_rew[:, k], s_rew, atol=1 / len(task.x_val) + 1e-6, err_msg=f"child {k}")


def test_masked_evaluation_equals_an_unpadded_evaluation_per_child():
    tasks = [hpenv.make_task(f"v2/mlp-short/{i}") for i in (0, 1, 2, 3, 4, 5)]
    assert len({len(t.x_val) for t in tasks}) > 1 and len({len(t.x_test) for t in tasks}) > 1
    family = make_family("mlp", tasks[0].input_shape, tasks[0].num_classes, width=32, max_depth=3)
    batch = ChildKernel(family, len(tasks), "cpu")
    batch.set_tasks(tasks)
    batch.reset_children(list(range(len(tasks))), list(range(100, 100 + len(tasks))))
    batch.depth[:] = [3, 1, 0, 2, 3, 1]  # blocks some children skip
    for split in ("val", "test"):
        got = batch.evaluate(split)
        for k, task in enumerate(tasks):
            alone = ChildKernel(family, 1, "cpu")
            alone.set_tasks([task])
            alone.load_child_state(0, batch.child_state(k))
            want = alone.evaluate(split)
            assert float(got.accuracy[k]) == float(want.accuracy[0]), (split, k)
            for field in ("loss", "logit_mean", "logit_std", "max_prob", "entropy"):
                torch.testing.assert_close(getattr(got, field)[k], getattr(want, field)[0], atol=1e-6, rtol=1e-5,
                                           msg=lambda m: f"{split}, child {k}, {field}: {m}")


def _digest(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


# Recorded on main (544237a, before ragged batches) on CPU with one torch thread (conftest), the
# same actions: equal sizes take exactly the code path they took there. Bit-identical on one machine,
# not across CPUs: each entry holds what 544237a gives on each CPU it was run on (the lone child of
# v2/mlp-short/5 rounds differently on the AMD EPYC of 2026-12-02, where 544237a itself gives the
# second digest).
EQUAL_SIZE_BASELINE = {
    ("v1/wine-scaled/train", 3): {"292e28946b632a7f"},
    ("wine", 3): {"22c4d25e09cdd9b8"},
    ("v2/mlp-short/5", 1): {"4af07dba624751af", "7898c3e8d7cb6e5b"},
}


@pytest.mark.parametrize("task,num_envs", list(EQUAL_SIZE_BASELINE))
def test_equal_sizes_are_bit_identical_to_the_recorded_baseline(task, num_envs):
    venv = gym.make_vec(hpenv.ENV_ID, num_envs=num_envs, task=task, **KW)
    obs, rewards, _, info = _trace(venv, _actions(venv.single_action_space.nvec, num_envs, KW["horizon"]), SEED)
    venv.close()
    assert _digest(obs, rewards, info["test_accuracy"]) in EQUAL_SIZE_BASELINE[(task, num_envs)]


def test_a_different_input_shape_or_class_count_in_one_batch_is_refused():
    wine, iris = make_task("wine"), make_task("iris")
    family = make_family("mlp", wine.input_shape, wine.num_classes, width=16, max_depth=1)
    kernel = ChildKernel(family, 2, "cpu")
    with pytest.raises(ValueError, match=r"one input shape to train in one batch, but they have \[\(4,\), \(13,\)\]"):
        kernel.set_tasks([wine, iris])
    wider = dataclasses.replace(wine, name="wine-4", num_classes=4)
    with pytest.raises(ValueError, match=r"one number of classes to train in one batch, but they have \[3, 4\]"):
        kernel.set_tasks([wine, wider])
