"""Reduce-on-plateau: the rule of ReduceOnPlateauPolicy, step by step and batched, and the
benchmark method that chooses its patience on selection members."""

from __future__ import annotations

import json
import math
import pickle

import numpy as np
import pytest

import hpenv
from agents import ReduceOnPlateauPolicy
from agents.baselines import DECAY_START, PlateauState
from agents.bench.v1 import Protocol
from agents.bench import methods as bench_methods
from agents.bench.v1.protocol import SuiteContext
from hpenv.observe import feature_table

SPACE = hpenv.HPSpace.default()  # learning rates (0.001, 0.003, 0.01, 0.03, 0.1, 0.3)
LR = SPACE.names.index("learning_rate")
ACC = hpenv.feature_index("val_accuracy")
OBS_DIM = len(feature_table(SPACE))


def observations(accuracies) -> np.ndarray:
    """Observations (one per accuracy, on the last axis) that show only these validation accuracies."""
    acc = np.asarray(accuracies, dtype=np.float32)
    obs = np.full(acc.shape + (OBS_DIM,), 0.5, dtype=np.float32)
    obs[..., ACC] = acc
    return obs


def lr_positions(policy, accuracies) -> list[int]:
    """The learning-rate position of each action, the first at the reset observation."""
    out, state = [], None
    for t, obs in enumerate(observations(accuracies)):
        action, state = policy.predict(obs, state, episode_start=t == 0)
        out.append(int(action[LR]))
    return out


@pytest.mark.parametrize("kwargs, accuracies, expected", [
    # one bad step is a plateau: every non-improvement drops one notch
    ({}, [0.1, 0.2, 0.2, 0.3, 0.3, 0.3], [4, 4, 3, 3, 2, 1]),
    # patience 2: two bad steps in a row; an improvement in between starts the count again
    ({"patience": 2}, [0.1, 0.2, 0.2, 0.3, 0.3, 0.3, 0.3, 0.3], [4, 4, 4, 4, 4, 3, 3, 2]),
    # an accuracy below the best is a bad step too (the best is kept, not the last value)
    ({"patience": 2}, [0.1, 0.5, 0.4, 0.45, 0.6], [4, 4, 4, 3, 3]),
    # two notches a drop, never below the smallest learning rate
    ({"factor_steps": 2}, [0.1, 0.1, 0.1, 0.1], [4, 2, 0, 0]),
    # rising by min_delta or less is no improvement; by more than it is
    ({"min_delta": 0.05}, [0.1, 0.14, 0.21, 0.25], [4, 3, 3, 2]),
])
def test_lr_drops_exactly_when_the_rule_says(kwargs, accuracies, expected):
    policy = ReduceOnPlateauPolicy(SPACE, {**DECAY_START, "dropout": 0.1}, **kwargs)
    assert lr_positions(policy, accuracies) == expected
    # the other hyper-parameters stay at the start tuple
    action, _ = policy.predict(observations(0.5))
    assert SPACE.decode(action) == {**DECAY_START, "dropout": 0.1}


def test_start_may_be_an_action_and_defaults_to_the_decay_start():
    assert SPACE.decode(ReduceOnPlateauPolicy(SPACE).start) == DECAY_START
    policy = ReduceOnPlateauPolicy(SPACE, np.array([0, 0, 2, 1]))
    assert lr_positions(policy, [0.1, 0.1, 0.1, 0.1]) == [2, 1, 0, 0]


def test_drops_follow_learning_rate_values_on_an_unsorted_grid():
    space = hpenv.HPSpace([hpenv.HyperParameter("learning_rate", (0.01, 0.3, 0.001, 0.1))])
    policy = ReduceOnPlateauPolicy(space, {"learning_rate": 0.3})
    obs = np.full((4, len(feature_table(space))), 0.2, dtype=np.float32)
    lrs, state = [], None
    for t, o in enumerate(obs):
        action, state = policy.predict(o, state, episode_start=t == 0)
        lrs.append(space.decode(action)["learning_rate"])
    assert lrs == [0.3, 0.1, 0.01, 0.001]


def test_state_restarts_at_episode_start():
    policy = ReduceOnPlateauPolicy(SPACE, DECAY_START, patience=2)
    state = None
    for t, acc in enumerate([0.5, 0.5, 0.5, 0.5, 0.5]):  # two drops: 0.1 -> 0.03 -> 0.01
        action, state = policy.predict(observations(acc), state, episode_start=t == 0)
    assert int(action[LR]) == 2 and float(state.best) == pytest.approx(0.5)
    # a new episode with a lower accuracy: back to the start, and its first accuracy is the best
    action, state = policy.predict(observations(0.1), state, episode_start=True)
    assert int(action[LR]) == 4 and float(state.best) == pytest.approx(0.1) and int(state.bad_steps) == 0
    action, state = policy.predict(observations(0.2), state, episode_start=False)
    assert int(action[LR]) == 4 and int(state.bad_steps) == 0


def test_batched_rows_are_independent_and_match_single_rows():
    policy = ReduceOnPlateauPolicy(SPACE, DECAY_START, patience=2)
    seqs = np.array([[0.1, 0.2, 0.2, 0.2, 0.2, 0.2],
                     [0.1, 0.1, 0.1, 0.1, 0.1, 0.1],
                     [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]])
    state, batched = None, []
    for t in range(seqs.shape[1]):
        actions, state = policy.predict(observations(seqs[:, t]), state, episode_start=np.full(3, t == 0))
        assert actions.shape == (3, len(SPACE)) and isinstance(state, PlateauState)
        batched.append(actions[:, LR].tolist())
    assert np.array(batched).T.tolist() == [lr_positions(policy, s) for s in seqs]
    # episode_start restarts only the rows it marks
    actions, after = policy.predict(observations([0.2, 0.05, 0.6]), state, episode_start=np.array([False, True, False]))
    assert actions[:, LR].tolist() == [2, 4, 4]
    assert after.best.tolist() == pytest.approx([0.2, 0.05, 0.6])


def test_no_state_means_a_new_episode_even_without_episode_start():
    policy = ReduceOnPlateauPolicy(SPACE, DECAY_START)
    actions, state = policy.predict(observations([0.3, 0.3]), None, episode_start=False)
    assert actions[:, LR].tolist() == [4, 4] and state.bad_steps.tolist() == [0, 0]


@pytest.mark.parametrize("kwargs, match", [
    ({"patience": 0}, "patience must be an integer >= 1, got 0"),
    ({"patience": 1.5}, "patience must be an integer >= 1, got 1.5"),
    ({"patience": True}, "patience must be an integer >= 1, got True"),
    ({"factor_steps": -1}, "factor_steps must be an integer >= 1, got -1"),
    ({"min_delta": -0.1}, r"min_delta must be a finite number >= 0, got -0.1"),
    ({"min_delta": math.nan}, r"min_delta must be a finite number >= 0, got nan"),
    ({"start": {"learning_rate": 0.5}}, r"learning_rate=0.5 is not a candidate value"),
    ({"start": {"lr": 0.1}}, r"start names hyper-parameters \['lr'\] that the space does not have"),
    ({"start": [0, 0, 9, 0]}, r"start\[2\] = 9 is outside the action space"),
    ({"start": [0, 0]}, r"start must be 4 integer indices"),
])
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ReduceOnPlateauPolicy(SPACE, **kwargs)


def test_relative_spaces_and_spaces_without_a_learning_rate_are_refused():
    relative = hpenv.HPSpace(SPACE.params, relative_actions={"learning_rate": 1},
                             relative_start={"learning_rate": 0.03})
    with pytest.raises(ValueError, match=r"ReduceOnPlateauPolicy takes absolute actions.*relative_actions"):
        ReduceOnPlateauPolicy(relative)
    with pytest.raises(ValueError, match="needs a space with a learning_rate"):
        ReduceOnPlateauPolicy(hpenv.HPSpace([hpenv.HyperParameter("dropout", (0.0, 0.1))]))
    with pytest.raises(ValueError, match="expected an HPTune env or an HPSpace"):
        ReduceOnPlateauPolicy(object())


TINY = Protocol(suites=("v1/wine-scaled",), test_members=1, seeds=2, selection_members=2, selection_seeds=2,
                horizon=6, steps_per_action=3, lrs=(3, 5), momenta=(2,), depths=(3,), schedule_kinds=("step",))


def test_method_chooses_on_selection_and_deploys_a_non_increasing_learning_rate(tmp_path):
    ctx = SuiteContext("v1/wine-scaled", TINY, tmp_path)
    ctx.run_selection()
    method = bench_methods.resolve_method("reduce on plateau")
    assert isinstance(method, bench_methods.ReduceOnPlateau) and method.version == "1"
    assert json.loads(json.dumps(method.settings())) == method.settings()
    method.prepare(ctx)
    start = ctx.candidates[ctx.selection["static_best"]]
    assert (method.policy.start == start).all()
    assert (method.policy.patience, method.policy.factor_steps) in [
        (p, f) for p in method.PATIENCE for f in method.FACTOR_STEPS]
    # its own choice (6 settings x members x seeds, one episode each) on top of the static selection
    own = 6 * len(ctx.selection_members()) * len(ctx.selection_seeds()) * ctx.episode_steps
    assert method.one_off_sgd_steps == ctx.selection["static_sgd_steps"] + own
    assert method.one_off_wall_time_s > ctx.selection["static_wall_time_s"]
    assert "chosen on the selection members" in method.note

    member, seeds = ctx.test_members()[0], ctx.eval_seeds()
    records = method.run(ctx, member, seeds)
    assert [r.seed for r in records] == seeds
    for r in records:
        assert r.deployed_sgd_steps == r.sgd_steps == ctx.episode_steps
        lrs = [step["learning_rate"] for step in r.schedule]
        assert len(lrs) == TINY.horizon and lrs[0] == ctx.space.decode(start)["learning_rate"]
        assert all(later <= earlier for earlier, later in zip(lrs, lrs[1:]))
        others = {k: v for k, v in ctx.space.decode(start).items() if k != "learning_rate"}
        assert all({k: step[k] for k in others} == others for step in r.schedule)
    assert any(len({step["learning_rate"] for step in r.schedule}) > 1 for r in records)  # the rule acted
    # shipped to a worker, it deploys the same children
    again = pickle.loads(pickle.dumps(method)).run(ctx, member, seeds)
    assert [r.schedule for r in again] == [r.schedule for r in records]
