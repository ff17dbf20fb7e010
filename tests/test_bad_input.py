"""Bad input to tasks, spaces, envs and wrappers fails early with a message naming what is wrong."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import hpenv
from hpenv import Task

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
