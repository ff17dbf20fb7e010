"""The dev-run readers that the issue-29 studies use: schedules aligned on a stream's change."""

from __future__ import annotations

import pytest

from agents.bench.v3.dev_runs import around_the_change, response_to_the_change


def _child(change: int, rates: list[float]) -> dict:
    return {"schedule": [{"learning_rate": r, "phase": int(t >= change)} for t, r in enumerate(rates)]}


def _clock(change: int) -> dict:
    """Drops the rate at env step 4, wherever the change comes."""
    return _child(change, [0.1] * 4 + [0.01] * 4)


def _responder(change: int) -> dict:
    """Drops the rate one step after the first step on changed data."""
    return _child(change, [0.1] * (change + 1) + [0.01] * (7 - change))


@pytest.mark.parametrize("change", [2, 3, 5])
def test_steps_are_aligned_on_the_first_step_on_changed_data(change):
    cells = around_the_change([_responder(change)], ["learning_rate"])
    assert cells[0]["learning_rate"]["values"] == [0.1]
    assert cells[1]["learning_rate"] == {"values": [0.01], "changed": [True]}
    assert cells[-change]["learning_rate"]["changed"] == []   # the first step has no step before it
    assert set(cells) == set(range(-change, 8 - change))


def test_a_child_whose_data_never_change_is_skipped():
    assert around_the_change([_child(99, [0.1, 0.01])], ["learning_rate"]) == {}


def test_a_policy_that_follows_the_change_is_told_from_one_that_follows_the_clock():
    changes = [2, 3, 4, 5]
    assert response_to_the_change([_responder(c) for c in changes], "learning_rate") == (1.0, 0.0)
    at_one, same_step = response_to_the_change([_clock(c) for c in changes], "learning_rate")
    assert at_one == same_step                # the drop at step 4 counts for every child alike
    assert 0 < at_one < 1
