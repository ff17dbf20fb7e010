"""HyperParameter and HPSpace: validation, encode/decode, normalisation, custom spaces in the env."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from hpenv import HPSpace, HyperParameter
from hpenv.spaces import KNOWN_HYPERPARAMETERS


def test_unknown_name():
    with pytest.raises(ValueError, match="unknown hyper-parameter name 'lr'") as err:
        HyperParameter("lr", (0.1,))
    assert "learning_rate" in str(err.value)  # says what is allowed


@pytest.mark.parametrize(
    "name, value",
    [
        ("dropout", 1.0), ("dropout", -0.1), ("momentum", 1.0), ("momentum", -0.5),
        ("learning_rate", 0.0), ("learning_rate", -0.01), ("learning_rate", math.nan),
        ("learning_rate", math.inf), ("learning_rate", "fast"), ("learning_rate", None),
        ("depth", 0), ("depth", -1), ("depth", 1.5), ("batch_size", 0), ("batch_size", 2.5),
        ("weight_decay", -1e-4),
    ],
)
def test_bad_values(name, value):
    with pytest.raises(ValueError, match=f"'{name}' got value") as err:
        HyperParameter(name, (KNOWN_DEFAULT[name], value))
    assert repr(value) in str(err.value)


KNOWN_DEFAULT = {"dropout": 0.0, "momentum": 0.9, "learning_rate": 0.1, "depth": 1, "batch_size": 8,
                 "weight_decay": 0.0}


def test_no_values():
    with pytest.raises(ValueError, match="at least one value"):
        HyperParameter("dropout", ())


def test_values_are_cast():
    assert HyperParameter("depth", (1.0, 2, np.int64(3))).values == (1, 2, 3)
    assert all(type(v) is int for v in HyperParameter("batch_size", [8.0, 16]).values)
    hp = HyperParameter("learning_rate", [np.float32(0.5), 1])
    assert hp.values == (0.5, 1.0) and all(type(v) is float for v in hp.values)
    assert len(hp) == 2
    assert set(KNOWN_HYPERPARAMETERS) == {"depth", "dropout", "learning_rate", "momentum",
                                          "weight_decay", "batch_size"}


def test_space_validation():
    with pytest.raises(ValueError, match="at least one"):
        HPSpace([])
    with pytest.raises(ValueError, match="distinct"):
        HPSpace([HyperParameter("dropout", (0.0,)), HyperParameter("dropout", (0.1,))])


def test_default_space():
    space = HPSpace.default()
    assert space.names == ("depth", "dropout", "learning_rate", "momentum")
    assert space.nvec.tolist() == [4, 5, 6, 4]
    assert space.action_space.nvec.tolist() == [4, 5, 6, 4]
    assert space.decode([2, 1, 3, 2]) == {"depth": 3, "dropout": 0.1, "learning_rate": 0.03, "momentum": 0.9}
    assert HPSpace.default(max_depth=6).params[0].values == (1, 2, 3, 4, 5, 6)
    assert "learning_rate" in space and "batch_size" not in space
    assert space == HPSpace.default() and space != HPSpace.default(3)


def test_encode_decode_round_trip():
    space = HPSpace.default()
    count = 0
    for action in itertools.product(*(range(n) for n in space.nvec)):
        values = space.decode(action)
        assert all(type(v) in (int, float) for v in values.values())
        assert space.encode(values).tolist() == list(action)
        count += 1
    assert count == 4 * 5 * 6 * 4
    assert space.encode({"depth": 2, "dropout": 0.5, "learning_rate": 0.001, "momentum": 0.99,
                         "extra": 1}).tolist() == [1, 4, 0, 3]


def test_encode_errors():
    space = HPSpace.default()
    with pytest.raises(ValueError, match="missing hyper-parameters \\['momentum'\\]"):
        space.encode({"depth": 1, "dropout": 0.0, "learning_rate": 0.01})
    with pytest.raises(ValueError, match="learning_rate=0.02 is not a candidate"):
        space.encode({"depth": 1, "dropout": 0.0, "learning_rate": 0.02, "momentum": 0.0})


@pytest.mark.parametrize("action", [[4, 0, 0, 0], [0, 0, 6, 0], [-1, 0, 0, 0], [0, 0, 0], [0.5, 0, 0, 0]])
def test_decode_rejects_bad_actions(action):
    with pytest.raises(ValueError, match="action"):
        HPSpace.default().decode(action)


def test_normalized():
    space = HPSpace.default()
    all_actions = np.array(list(itertools.product(*(range(n) for n in space.nvec))))
    norm = space.normalized(all_actions)
    assert norm.shape == all_actions.shape and norm.dtype == np.float32
    assert norm.min() == 0.0 and norm.max() == 1.0
    assert np.all((norm >= 0) & (norm <= 1))
    assert space.normalized([0, 0, 0, 0]).tolist() == [0, 0, 0, 0]
    assert space.normalized(space.nvec - 1).tolist() == [1, 1, 1, 1]
    assert space.normalized([1, 2, 3, 1]) == pytest.approx([1 / 3, 2 / 4, 3 / 5, 1 / 3])
    single = HPSpace.from_dict({"learning_rate": [0.1]})
    assert single.normalized([0]).tolist() == [0.0]  # one choice: no division by zero


def test_from_dict_and_values_of():
    space = HPSpace.from_dict({"learning_rate": [0.1, 0.01], "batch_size": [16, 32, 64], "weight_decay": [0, 1e-4]})
    assert space.names == ("learning_rate", "batch_size", "weight_decay")
    assert space.nvec.tolist() == [2, 3, 2]
    assert space.decode([1, 2, 1]) == {"learning_rate": 0.01, "batch_size": 64, "weight_decay": 1e-4}
    vals = space.values_of(np.array([[0, 0, 0], [1, 2, 1]]))
    assert vals["learning_rate"].tolist() == [0.1, 0.01]
    assert vals["batch_size"].tolist() == [16, 64]
    assert "batch_size=[16, 32, 64]" in repr(space)
    with pytest.raises(ValueError, match="unknown hyper-parameter name 'width'"):
        HPSpace.from_dict({"width": [16]})


def test_log_grid():
    assert HyperParameter.log_grid("learning_rate", 1e-3, 1e-1, 3).values == (0.001, 0.01, 0.1)
    grid = HyperParameter.log_grid("learning_rate", 1e-4, 1.0, 7).values
    assert len(grid) == 7 and grid[0] == pytest.approx(1e-4) and grid[-1] == pytest.approx(1.0)
    ratios = np.array(grid[1:]) / np.array(grid[:-1])
    assert np.all(ratios > 1) and ratios == pytest.approx(np.full(6, 10 ** (4 / 6)), rel=1e-3)
    with pytest.raises(ValueError):
        HyperParameter.log_grid("learning_rate", 0.0, 1.0, 3)  # a grid cannot start at 0


# ---------------------------------------------------------------- custom spaces in the env
def _weight_norm(env):
    return torch.cat([p.detach().flatten() for p in env.unwrapped.child.parameters()]).norm().item()


def test_custom_space_applies_batch_size_and_weight_decay(make_env):
    space = {"batch_size": [8, 16], "weight_decay": [0.0, 0.5], "learning_rate": [0.05]}
    spa = 4
    env = make_env(hp_space=space, steps_per_action=spa, horizon=3)
    assert env.action_space.nvec.tolist() == [2, 2, 1]
    assert env.observation_space.shape == (13 + 3,)
    env.reset(seed=0)
    kernel = env.unwrapped._episodes.kernel
    _, _, _, _, info = env.step([0, 1, 0])
    assert info["hp_batch_size"] == 8 and info["hp_weight_decay"] == 0.5
    assert kernel._epoch_pos[0] == spa * 8  # examples drawn: steps x batch size
    _, _, _, _, info = env.step([1, 0, 0])
    assert info["hp_batch_size"] == 16 and info["hp_weight_decay"] == 0.0
    assert kernel._epoch_pos[0] == spa * 8 + spa * 16
    assert math.isfinite(info["train_loss"]) and not info["diverged"]

    # weight decay shrinks the weights against the same run without it
    norms = []
    for wd_index in (0, 1):
        e = make_env(hp_space=space, steps_per_action=spa, horizon=3)
        e.reset(seed=0)
        for _ in range(3):
            e.step([1, wd_index, 0])
        norms.append(_weight_norm(e))
    assert norms[1] < 0.97 * norms[0]


def test_batch_size_space_trains(make_env):
    env = make_env(task="iris", hp_space={"batch_size": [4, 64], "learning_rate": [0.1]}, steps_per_action=5,
                   horizon=4)
    _, info0 = env.reset(seed=0)
    for a in ([0, 0], [1, 0], [0, 0], [1, 0]):
        obs, r, terminated, _, info = env.step(a)
        assert np.all(np.isfinite(obs)) and not info["diverged"]
    assert terminated
    assert info["val_accuracy"] > info0["val_accuracy"]
