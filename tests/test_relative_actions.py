"""Relative actions (``relative_actions={name: k}``): moves of -k..+k grid positions from the current value."""

from __future__ import annotations

import inspect
import io
import pickle
import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode

from conftest import FAST, rollout
import hpenv
from hpenv.vector import HPTuneVectorEnv
from hpenv.wrappers import ContinuousActions, FlatDiscreteActions, SB3VecEnv

LR = {"relative_actions": {"learning_rate": 1}}
LR_GRID = [0.001, 0.003, 0.01, 0.03, 0.1, 0.3]
#: depth 4, dropout 0, keep the learning rate, momentum 0.9
KEEP = [3, 0, 1, 2]
UP, DOWN = [3, 0, 2, 2], [3, 0, 0, 2]
HP_LR = hpenv.feature_index("hp_learning_rate")


def _lr_feature(obs) -> float:
    return float(np.asarray(obs)[..., HP_LR])


# ---------------------------------------------------------------- the action space
def test_action_space_has_2k_plus_1_choices_for_relative_dimensions(make_env, make_vec):
    env = make_env(**LR)
    assert isinstance(env.action_space, spaces.MultiDiscrete)
    assert env.action_space.nvec.tolist() == [4, 5, 3, 4]  # only learning_rate changed
    assert env.unwrapped.action_masks().shape == (16,) and env.unwrapped.action_masks().all()
    two = make_env(relative_actions={"learning_rate": 2, "depth": 1})
    assert two.action_space.nvec.tolist() == [3, 5, 5, 4]
    space = two.unwrapped.hp_space
    assert space.is_relative and space.relative_actions == {"depth": 1, "learning_rate": 2}  # space order
    assert space.sizes.tolist() == [4, 5, 6, 4]
    venv = make_vec(3, **LR)
    assert venv.single_action_space.nvec.tolist() == [4, 5, 3, 4] and venv.action_space.shape == (3, 4)
    assert venv.action_masks().shape == (3, 16)
    sb3 = SB3VecEnv(num_envs=2, **FAST, **LR)
    assert sb3.action_space.nvec.tolist() == [4, 5, 3, 4] and sb3.action_masks().shape == (2, 16)
    # one source: EnvConfig's fields are the env's arguments, gym.make's and make_vec's
    assert {"relative_actions", "relative_start"} <= set(hpenv.EnvConfig.argument_names())
    params = inspect.signature(hpenv.HPTuneEnv).parameters
    assert params["relative_actions"].default is None and params["relative_start"].default is None
    assert env.unwrapped.config.relative_actions == {"learning_rate": 1}


def test_an_out_of_range_move_is_refused_with_its_range(make_env):
    env = make_env(**LR)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"learning_rate must be in \[0, 3\) \(a move of -1..\+1"):
        env.step([3, 0, 3, 2])


# ---------------------------------------------------------------- moves
def test_moves_multiply_the_learning_rate_and_clip_at_the_grid_ends(make_env):
    env = make_env(**LR, relative_start={"learning_rate": 0.003}, horizon=6, steps_per_action=2)
    obs, info = env.reset(seed=0)
    assert info["hp_learning_rate"] == -1  # nothing applied yet
    assert _lr_feature(obs) == pytest.approx(1 / 5)  # but the agent sees where it starts
    applied = []
    for action in (UP, UP, KEEP, DOWN, DOWN, DOWN):
        obs, _, _, _, info = env.step(action)
        applied.append(info["hp_learning_rate"])
        assert _lr_feature(obs) == pytest.approx(LR_GRID.index(applied[-1]) / 5)
        assert info["hp_depth"] == 4 and info["hp_momentum"] == 0.9  # the other dimensions stay absolute
        assert hpenv.hyperparameters_from_info(info)["learning_rate"] == applied[-1]
    #          x3     x3    x1    x1/3   x1/3   clipped
    assert applied == [0.01, 0.03, 0.03, 0.01, 0.003, 0.001]


def test_clipping_at_the_top_and_several_relative_dimensions(make_env):
    env = make_env(relative_actions={"momentum": 1, "depth": 3}, relative_start={"depth": 2}, horizon=4)
    obs, _ = env.reset(seed=1)
    assert env.unwrapped.child.depth == 2  # the reset child is evaluated at its start depth
    hp = [hpenv.feature_index(f"hp_{n}") for n in ("depth", "momentum")]
    assert obs[hp].tolist() == pytest.approx([1 / 3, 2 / 3])
    seen = []
    for depth_move, momentum_move in ((6, 2), (0, 2), (3, 0)):  # +3, -3 and keep; up, up, down
        _, _, _, _, info = env.step([depth_move, 1, 3, momentum_move])
        seen.append((info["hp_depth"], info["hp_momentum"], info["hp_learning_rate"]))
    assert seen == [(4, 0.99, 0.03), (1, 0.99, 0.03), (1, 0.9, 0.03)]  # 2+3 and 0.99+1 clipped


# ---------------------------------------------------------------- the start
def test_default_start_is_the_fixed_value(make_env):
    env = make_env(relative_actions={"depth": 1, "dropout": 1, "learning_rate": 1, "momentum": 1}, max_depth=3,
                   hp_space={"depth": [1, 2, 3], "dropout": [0.0, 0.1], "learning_rate": LR_GRID,
                             "momentum": [0.0, 0.5, 0.9, 0.99]})
    space = env.unwrapped.hp_space
    assert space.relative_start == {"depth": 3, "dropout": 0.0, "learning_rate": 0.03, "momentum": 0.9}
    assert space.relative_start == {k: v for k, v in env.unwrapped.config.fixed_values.items() if k in space}
    obs, _ = env.reset(seed=0)
    _, _, _, _, info = env.step([1, 1, 1, 1])  # keep everything
    assert hpenv.hyperparameters_from_info(info) == {**env.unwrapped.config.fixed_values, "depth": 3}
    # a fixed value off the grid starts from the nearest grid value
    off = make_env(hp_space={"learning_rate": [0.001, 0.02, 0.1], "batch_size": [8, 16, 64]},
                   relative_actions={"learning_rate": 1, "batch_size": 1}, batch_size=20)
    assert off.unwrapped.hp_space.relative_start == {"learning_rate": 0.02, "batch_size": 16}


def test_start_override(make_env):
    env = make_env(**LR, relative_start={"learning_rate": 0.1})
    obs, _ = env.reset(seed=0)
    assert _lr_feature(obs) == pytest.approx(4 / 5)
    _, _, _, _, info = env.step(KEEP)
    assert info["hp_learning_rate"] == 0.1
    assert env.unwrapped.hp_space.relative_start == {"learning_rate": 0.1}


def test_reset_restores_the_start(make_env):
    env = make_env(**LR, horizon=5)
    first, _, _, _ = rollout(env, [DOWN, DOWN, DOWN, DOWN], seed=3)
    assert _lr_feature(first[-1]) == 0.0  # 0.03 / 3 / 3 / 3 / 3, clipped at 0.001
    for seed in (3, None):
        obs, info = env.reset(seed=seed)
        assert _lr_feature(obs) == pytest.approx(3 / 5) and info["hp_learning_rate"] == -1
        _, _, _, _, info = env.step(KEEP)
        assert info["hp_learning_rate"] == 0.03
    again, _, _, _ = rollout(env, [DOWN, DOWN, DOWN, DOWN], seed=3)
    assert np.array_equal(first, again)  # the same seed and moves: the same episode, bit for bit


# ---------------------------------------------------------------- the vector env
#: at most three moves up from 0.003: no child reaches a learning rate that could diverge
VEC = {**FAST, "relative_actions": {"learning_rate": 1, "dropout": 2}, "relative_start": {"learning_rate": 0.003}}


def _moves(rng, K, steps, nvec):
    return rng.integers(0, nvec, size=(steps, K, len(nvec)))


def test_vector_children_equal_single_envs(make_env):
    K, seed = 3, 21
    venv = HPTuneVectorEnv(num_envs=K, **VEC)
    acts = _moves(np.random.default_rng(1), K, FAST["horizon"], venv.single_action_space.nvec)
    obs, info0 = venv.reset(seed=seed)
    v_obs, v_rew, v_lr = [obs], [], []
    for a in acts:
        obs, r, _, _, info = venv.step(a)
        v_obs.append(obs)
        v_rew.append(r)
        v_lr.append(info["hp_learning_rate"].copy())
    v_obs, v_rew, v_lr = np.stack(v_obs), np.stack(v_rew), np.stack(v_lr)
    for i in range(K):
        kw = {k: v for k, v in VEC.items() if k not in FAST}
        s_obs, s_rew, infos, s_info0 = rollout(make_env(**kw), acts[:, i], seed=seed + i)
        assert s_info0["val_accuracy"] == pytest.approx(info0["val_accuracy"][i], abs=1e-6)
        np.testing.assert_allclose(v_obs[:, i], s_obs, atol=1e-5, err_msg=f"child {i}")
        np.testing.assert_allclose(v_rew[:, i], s_rew, atol=1 / 36 + 1e-6, err_msg=f"child {i}")
        assert v_lr[:, i].tolist() == [info["hp_learning_rate"] for info in infos]  # the same moves applied
    assert len(set(map(tuple, v_lr.T))) > 1  # the children moved differently


def test_vector_autoreset_and_reset_mask_restore_the_start(make_env):
    kw = {**VEC, "horizon": 2}
    up = np.array([[3, 2, 2, 2], [1, 2, 2, 0]])
    for mode in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP):
        venv = HPTuneVectorEnv(num_envs=2, autoreset_mode=mode, **kw)
        venv.reset(seed=5)
        venv.step(up)
        obs, _, terminated, _, info = venv.step(up)
        assert terminated.all()
        if mode == AutoresetMode.NEXT_STEP:
            assert np.allclose(obs[:, HP_LR], 3 / 5)  # 0.003 x3 x3: the ended episode's last observation
            obs, _, _, _, info = venv.step(up)  # the reset step: the action is ignored
        else:
            assert np.allclose(info["final_obs"][:, HP_LR], 3 / 5)
        assert np.allclose(obs[:, HP_LR], 1 / 5) and info["hp_learning_rate"].tolist() == [-1, -1]
        _, _, _, _, info = venv.step(up)
        assert info["hp_learning_rate"].tolist() == [0.01, 0.01]  # from the start again
    # the next episode after an autoreset is the single env's next (unseeded) episode
    venv = HPTuneVectorEnv(num_envs=2, **kw)
    venv.reset(seed=5)
    for _ in range(3):
        venv.step(up)
    obs, *_ = venv.step(up)
    env = make_env(**{k: v for k, v in kw.items() if k not in FAST}, horizon=2)
    rollout(env, [up[0], up[0]], seed=5)
    env.reset()
    single, *_ = env.step(up[0])
    np.testing.assert_allclose(obs[0], single, atol=1e-5)
    # reset_mask: only the masked child goes back to its start
    venv = HPTuneVectorEnv(num_envs=2, autoreset_mode=AutoresetMode.DISABLED, **{**VEC, "horizon": 4})
    venv.reset(seed=0)
    venv.step(up)
    obs, _ = venv.reset(options={"reset_mask": np.array([True, False])})
    assert _lr_feature(obs[0]) == pytest.approx(1 / 5) and _lr_feature(obs[1]) == pytest.approx(2 / 5)
    _, _, _, _, info = venv.step(up)
    assert info["hp_learning_rate"].tolist() == [0.01, 0.03]


def test_envs_pickle_copy_and_save_the_current_position(make_env, make_vec):
    env = make_env(**LR, horizon=5)
    env.reset(seed=2)
    env.step(DOWN)
    copy = pickle.loads(pickle.dumps(env))
    for action in (DOWN, KEEP):
        a, b = env.step(action), copy.step(action)
        assert np.array_equal(a[0], b[0]) and a[1:] == b[1:]
    assert b[4]["hp_learning_rate"] == 0.003
    venv = make_vec(2, **LR, horizon=5)
    venv.reset(seed=2)
    venv.step(np.array([DOWN, UP]))
    vcopy = pickle.loads(pickle.dumps(venv))
    for moves in ([KEEP, DOWN], [KEEP, UP]):
        a, b = venv.step(np.array(moves)), vcopy.step(np.array(moves))
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
        assert a[4]["hp_learning_rate"].tolist() == b[4]["hp_learning_rate"].tolist()
    assert b[4]["hp_learning_rate"].tolist() == [0.01, 0.1]
    venv.copy_child(0, 1)  # population-based training: the copy moves from the source's position
    _, _, _, _, info = venv.step(np.array([KEEP, KEEP]))
    assert info["hp_learning_rate"].tolist() == [0.01, 0.01]
    # a saved child state carries the position too
    env.reset(seed=4)
    env.step(UP)
    buffer = io.BytesIO()
    torch.save(env.unwrapped.child_state(), buffer)
    buffer.seek(0)
    other = make_env(**LR, horizon=5)
    other.reset(seed=9)
    other.unwrapped.load_child_state(torch.load(buffer, weights_only=True))
    assert other.step(KEEP)[4]["hp_learning_rate"] == env.step(KEEP)[4]["hp_learning_rate"] == 0.1


# ---------------------------------------------------------------- bad arguments
@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"relative_actions": {"lr": 1}}, r"relative_actions names 'lr', which is not in the space; its "
                                          r"hyper-parameters are \['depth', 'dropout', 'learning_rate', 'momentum'\]"),
        ({"relative_actions": {"weight_decay": 1}}, "relative_actions names 'weight_decay'"),
        ({"relative_actions": {"learning_rate": 0}}, r"relative_actions\['learning_rate'\] = 0 .*from 1 to 5"),
        ({"relative_actions": {"learning_rate": -1}}, r"relative_actions\['learning_rate'\] = -1"),
        ({"relative_actions": {"learning_rate": 6}}, r"relative_actions\['learning_rate'\] = 6 .*6 grid values"),
        ({"relative_actions": {"learning_rate": 1.0}}, r"relative_actions\['learning_rate'\] = 1.0"),
        ({"relative_actions": {"learning_rate": True}}, r"relative_actions\['learning_rate'\] = True"),
        ({"relative_actions": {"learning_rate": 1}, "hp_space": {"learning_rate": [0.1]}}, "cannot move"),
        ({"relative_actions": [("learning_rate", 1)]}, "relative_actions must be a dict"),
        ({"relative_actions": {"learning_rate": 1}, "relative_start": 0.01}, "relative_start must be a dict"),
        ({"relative_actions": {"learning_rate": 1}, "relative_start": {"learning_rate": 0.05}},
         r"relative_start\['learning_rate'\] = 0.05 is not on learning_rate's grid; allowed: \[0.001, 0.003"),
        ({"relative_actions": {"learning_rate": 1}, "relative_start": {"learning_rate": "fast"}},
         r"relative_start\['learning_rate'\] = 'fast'"),
        ({"relative_actions": {"learning_rate": 1}, "relative_start": {"momentum": 0.9}},
         r"relative_start names \['momentum'\], which relative_actions does not make relative"),
        ({"relative_start": {"learning_rate": 0.01}}, "relative_start=.* needs relative_actions"),
        ({"relative_actions": {"learning_rate": 1},
          "hp_space": hpenv.HPSpace(hpenv.HPSpace.default().params, relative_actions={"momentum": 1},
                                    relative_start={"momentum": 0.9})}, "not both"),
    ],
)
def test_bad_arguments_raise_naming_them(kwargs, message):
    with pytest.raises(ValueError, match=message):
        gym.make(hpenv.ENV_ID, **kwargs)
    with pytest.raises(ValueError, match=message):
        HPTuneVectorEnv(num_envs=2, **kwargs)


def test_a_relative_hpspace_is_an_hp_space_argument_too(make_env):
    space = hpenv.HPSpace(hpenv.HPSpace.default().params, relative_actions={"learning_rate": 1},
                          relative_start={"learning_rate": 0.01})
    env = make_env(hp_space=space)
    assert env.unwrapped.hp_space == space and env.action_space.nvec.tolist() == [4, 5, 3, 4]
    moved = make_env(hp_space=space, relative_start={"learning_rate": 0.1})  # only the start changes
    assert moved.unwrapped.hp_space.relative_start == {"learning_rate": 0.1}
    with pytest.raises(ValueError, match="relative_start needs a start value for"):
        hpenv.HPSpace(space.params, relative_actions={"learning_rate": 1})
    with pytest.raises(ValueError, match="decode takes absolute actions"):
        space.decode([0, 0, 1, 0])
    with pytest.raises(ValueError, match="encode takes absolute actions"):
        space.encode({"depth": 1, "dropout": 0.0, "learning_rate": 0.1, "momentum": 0.0})


# ---------------------------------------------------------------- clients
def test_env_checkers_pass_with_relative_actions(make_env):
    from gymnasium.utils.env_checker import check_env
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    env = make_env(relative_actions={"learning_rate": 1, "depth": 2}, steps_per_action=2, horizon=3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped)
        sb3_check_env(env.unwrapped)
    assert [str(w.message) for w in caught] == []


def test_action_wrappers_follow_the_relative_space(make_env):
    env = ContinuousActions(make_env(**LR))
    assert env.action(np.array([1, -1, 0, 1])).tolist() == [3, 0, 1, 3]  # 0 keeps the learning rate
    assert env.action(np.array([1, -1, -1, 1])).tolist() == [3, 0, 0, 3]
    env.reset(seed=0)
    _, _, _, _, info = env.step(np.array([1, -1, 1, 0.3], dtype=np.float32))
    assert info["hp_learning_rate"] == 0.1
    flat = FlatDiscreteActions(make_env(**LR))
    assert flat.action_space.n == 4 * 5 * 3 * 4
    assert flat.action(int(np.ravel_multi_index((3, 0, 2, 2), (4, 5, 3, 4)))).tolist() == [3, 0, 2, 2]


def test_baselines_reach_their_tuple_by_moves_and_static_helpers_refuse(make_env):
    from agents import search
    from agents.baselines import FixedPolicy, RandomPolicy, RandomStaticPolicy, SchedulePolicy
    from agents.checkpoint import check_hp_space, hp_space_of
    from agents.engine import evaluate_policy, schedule_episodes, static_episodes

    kw = {**FAST, **LR, "horizon": 4}
    env = make_env(**kw)
    policy = FixedPolicy(env, {"depth": 2, "dropout": 0.1, "learning_rate": 0.001, "momentum": 0.5})
    (result,) = evaluate_policy(policy, [7], **kw)
    assert [s["learning_rate"] for s in result.schedule] == [0.01, 0.003, 0.001, 0.001]  # one x1/3 per step
    assert {s["depth"] for s in result.schedule} == {2} and {s["momentum"] for s in result.schedule} == {0.5}
    (default,) = evaluate_policy(FixedPolicy(env), [7], **kw)
    assert {s["learning_rate"] for s in default.schedule} == {0.03}  # the default tuple is the default start
    schedule = SchedulePolicy(env, kind="step")
    (decay,) = evaluate_policy(schedule, [7], **kw)
    assert [s["learning_rate"] for s in decay.schedule] == [0.1, 0.1, 0.03, 0.01]
    for p in (RandomPolicy(env, seed=0), RandomStaticPolicy(env, seed=0)):
        a, _ = p.predict(env.reset(seed=0)[0], episode_start=True)
        assert env.action_space.contains(np.asarray(a, dtype=np.int64))
    for call in (lambda: static_episodes(np.zeros((1, 4)), [0], **kw),
                 lambda: schedule_episodes(np.zeros((1, 4, 4)), [0], **kw),
                 lambda: search.random_search(0, 2, **kw),
                 lambda: search.grid_search(**kw),
                 lambda: search.pbt(0, 2, **kw)):
        with pytest.raises(ValueError, match=r"takes absolute actions .*relative_actions=\{'learning_rate': 1\}"):
            call()
    # a checkpoint records the moves: the same nvec with absolute actions is another space
    saved = hp_space_of(make_env(relative_actions={"dropout": 2}))
    assert saved["relative_actions"] == {"dropout": 2}
    assert hp_space_of(make_env()) == hpenv.HPSpace.default().to_dict()  # absolute spaces as before
    with pytest.raises(ValueError, match="relative_actions"):
        check_hp_space(saved, hp_space_of(make_env()), "run.pt")
