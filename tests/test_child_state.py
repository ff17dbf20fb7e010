"""An env's child state saved as plain tensors continues the episode exactly (PBT checkpoints)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from tests.conftest import SAFE_ACTIONS


def test_child_state_round_trip_through_a_file_continues_the_episode_exactly(make_env) -> None:
    source, target = make_env(horizon=5), make_env(horizon=5)
    source.reset(seed=3)
    target.reset(seed=99)  # other initial weights and batches: everything must come from the state
    source.unwrapped.step(SAFE_ACTIONS[0])
    source.unwrapped.step(SAFE_ACTIONS[2])  # depth 2 and dropout: the state must carry both
    buffer = io.BytesIO()
    torch.save(source.unwrapped.child_state(), buffer)
    buffer.seek(0)
    target.unwrapped.load_child_state(torch.load(buffer, weights_only=True))
    for action in SAFE_ACTIONS[1:4]:
        a, b = source.unwrapped.step(action), target.unwrapped.step(action)
        assert np.array_equal(a[0], b[0]) and a[1:4] == b[1:4] and a[4] == b[4]
    assert b[2] and b[4]["test_accuracy"] == a[4]["test_accuracy"]  # the episode ended in both


def test_child_state_needs_a_running_episode_and_a_matching_family(make_env) -> None:
    env = make_env()
    with pytest.raises(RuntimeError, match="reset"):
        env.unwrapped.child_state()
    env.reset(seed=0)
    state = env.unwrapped.child_state()
    other = make_env(width=8)
    other.reset(seed=0)
    with pytest.raises(ValueError, match="this child family has"):
        other.unwrapped.load_child_state(state)
