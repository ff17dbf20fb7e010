"""Bad input to tasks, spaces, envs and wrappers fails early with a message naming what is wrong."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import hpenv
from hpenv import HPSpace, HyperParameter, Task
from hpenv.wrappers import ContinuousActions

from conftest import FAST


# ---------------------------------------------------------------------- task labels and features
def _arrays(labels, n_per_class=10, features=3):
    rng = np.random.default_rng(0)
    y = np.repeat(np.asarray(labels), n_per_class)
    return rng.normal(size=(len(y), features)), y


def test_from_arrays_re_encodes_labels_and_keeps_the_original_classes():
    x, y = _arrays([3, 7])
    task = Task.from_arrays(x, y)
    assert task.num_classes == 2
    assert task.meta["classes"] == [3, 7]
    for labels in (task.y_train, task.y_val, task.y_test):
        assert set(labels.tolist()) <= {0, 1}
    # the mapping is the same in every split: class 7 is always 1
    assert (task.y_train == 1).sum() + (task.y_val == 1).sum() + (task.y_test == 1).sum() == 10


def test_from_arrays_with_huge_label_values_does_not_allocate_per_label():
    x, y = _arrays([0, 10**9])
    task = Task.from_arrays(x, y)  # used to try to allocate 7.45 GiB
    assert task.num_classes == 2 and task.meta["classes"] == [0, 10**9]


def test_from_splits_refuses_a_label_outside_explicit_num_classes():
    x, y = _arrays([0, 1])
    y_test = y.copy()
    y_test[0] = 2
    with pytest.raises(ValueError, match=r"test y.*label 2.*num_classes=2.*0 \.\. 1"):
        Task.from_splits((x, y), (x, y), (x, y_test), num_classes=2)


def test_task_refuses_inputs_without_features():
    x, y = _arrays([0, 1], features=0)
    with pytest.raises(ValueError, match="no input features"):
        Task.from_arrays(x, y)


# ---------------------------------------------------------------------- batch size vs the training split
def test_env_refuses_a_batch_size_larger_than_the_training_split():
    with pytest.raises(ValueError, match=r"batch_size=2048.*106 training examples"):
        gym.make(hpenv.ENV_ID, **FAST, batch_size=2048)


def test_env_refuses_a_batch_size_value_in_the_space_larger_than_the_training_split():
    with pytest.raises(ValueError, match=r"batch_size.*1099511627776.*106 training examples"):
        gym.make(hpenv.ENV_ID, **FAST, hp_space={"learning_rate": [0.1], "batch_size": [16, 2**40]})


# ---------------------------------------------------------------------- hyper-parameter values
@pytest.mark.parametrize("values", [0.1, "0.1", {0.1, 0.2}])
def test_hyperparameter_values_must_be_a_sequence(values):
    with pytest.raises(ValueError, match=r"learning_rate.*sequence"):
        HPSpace.from_dict({"learning_rate": values})


def test_hyperparameter_accepts_ranges_and_arrays():
    assert HyperParameter("depth", range(1, 3)).values == (1, 2)
    assert HyperParameter("learning_rate", np.array([0.1, 0.3])).values == (0.1, 0.3)


# ---------------------------------------------------------------------- actions
def test_single_env_names_non_finite_action_values(make_env):
    env = make_env()
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"action\[2\] = inf is non-finite"):
        env.step(np.array([0, 0, np.inf, 0]))


def test_vector_env_names_the_nan_in_an_action_batch(make_vec):
    env = make_vec(2)
    env.reset(seed=0)
    actions = np.zeros((2, 4))
    actions[1, 2] = np.nan
    with pytest.raises(ValueError, match=r"actions\[1, 2\] = nan.*non-finite") as err:
        env.step(actions)
    assert "shape (2, 4)" not in str(err.value)


def test_vector_env_shows_infinite_and_fractional_actions_as_they_are(make_vec):
    env = make_vec(2)
    env.reset(seed=0)
    actions = np.zeros((2, 4))
    actions[0, 1] = np.inf
    with pytest.raises(ValueError, match=r"actions\[0, 1\] = inf") as err:
        env.step(actions)
    assert "-9223372036854775808" not in str(err.value)
    actions[0, 1] = 1.5
    with pytest.raises(ValueError, match=r"actions\[0, 1\] = 1\.5.*not an integer"):
        env.step(actions)


def test_vector_env_names_the_out_of_range_index(make_vec):
    env = make_vec(2)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"actions\[1, 3\] = 9.*momentum.*\[0, 4\)"):
        env.step(np.array([[0, 0, 0, 0], [0, 0, 0, 9]]))


def test_continuous_actions_refuses_values_outside_the_box(make_env):
    env = ContinuousActions(make_env())
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"\[-1, 1\].*5\.0"):
        env.step(np.array([5.0, 0.0, 0.0, 0.0], dtype=np.float32))
    # float rounding at the edges is not an error
    env.step(np.array([1.0 + 1e-7, -1.0 - 1e-7, 0.0, 0.0]))
