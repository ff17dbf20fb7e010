"""Action-space views and the Stable-Baselines3 vector adapter."""

from __future__ import annotations

import itertools

import gymnasium as gym
import numpy as np
import pytest

import hpenv
from gymnasium import spaces
from gymnasium.vector import AutoresetMode

from conftest import FAST
from hpenv.vector import HPTuneVectorEnv
from hpenv.wrappers import ContinuousActions, FlatDiscreteActions, SB3VecEnv

NVEC = [4, 5, 6, 4]


def _bin_centre(index, n):
    return -1.0 + (2 * index + 1) / n


def test_continuous_actions_mapping(make_env):
    env = ContinuousActions(make_env())
    assert isinstance(env.action_space, spaces.Box)
    assert env.action_space.shape == (4,) and env.action_space.dtype == np.float32
    assert np.all(env.action_space.low == -1) and np.all(env.action_space.high == 1)
    assert env.action(-np.ones(4)).tolist() == [0, 0, 0, 0]
    assert env.action(np.ones(4)).tolist() == [n - 1 for n in NVEC]
    assert env.action(np.full(4, 1.0 + 1e-7)).tolist() == [n - 1 for n in NVEC]  # float rounding is clipped
    # every index is reached from the centre of its bin, and the map is monotone
    for action in itertools.product(*(range(n) for n in NVEC)):
        x = np.array([_bin_centre(i, n) for i, n in zip(action, NVEC)], dtype=np.float32)
        assert env.action(x).tolist() == list(action)
    for j, n in enumerate(NVEC):
        xs = np.linspace(-1, 1, 101)
        idx = [env.action(np.where(np.arange(4) == j, x, 0.0))[j] for x in xs]
        assert idx == sorted(idx) and set(idx) == set(range(n))


def test_continuous_actions_step_round_trip(make_env):
    env = ContinuousActions(make_env())
    env.reset(seed=0)
    target = [2, 1, 3, 2]
    x = np.array([_bin_centre(i, n) for i, n in zip(target, NVEC)], dtype=np.float32)
    assert env.action_space.contains(x)
    _, _, _, _, info = env.step(x)
    decoded = env.unwrapped.hp_space.decode(target)
    assert {k: info[f"hp_{k}"] for k in decoded} == decoded
    for bad in (np.zeros(3), np.array([np.nan, 0, 0, 0])):
        with pytest.raises(ValueError, match="finite numbers"):
            env.step(bad)
    _, _, _, _, info = env.step(-np.ones(4, dtype=np.float32))
    assert info["hp_learning_rate"] == 0.001


def test_flat_discrete_covers_every_tuple_once(make_env):
    env = FlatDiscreteActions(make_env())
    n = int(np.prod(NVEC))
    assert isinstance(env.action_space, spaces.Discrete) and env.action_space.n == n
    tuples = [tuple(env.action(i).tolist()) for i in range(n)]
    assert len(set(tuples)) == n
    assert set(tuples) == set(itertools.product(*(range(k) for k in NVEC)))
    assert tuples[7] == tuple(np.unravel_index(7, NVEC))
    assert env.action(np.int64(n - 1)).tolist() == [k - 1 for k in NVEC]


def test_flat_discrete_step_and_errors(make_env):
    env = FlatDiscreteActions(make_env())
    env.reset(seed=0)
    flat = int(np.ravel_multi_index([2, 1, 3, 2], NVEC))
    _, _, _, _, info = env.step(flat)
    assert info["hp_depth"] == 3 and info["hp_learning_rate"] == 0.03
    for bad in (-1, env.action_space.n, 1.5, [1, 2]):
        with pytest.raises(ValueError, match="integer in"):
            env.step(bad)
    _, _, terminated, _, info = env.step(0)
    assert info["sgd_steps"] == 2 * FAST["steps_per_action"]


def test_wrappers_need_multidiscrete():
    env = gym.make("CartPole-v1")
    for wrapper in (ContinuousActions, FlatDiscreteActions):
        with pytest.raises(ValueError, match="MultiDiscrete"):
            wrapper(env)
    env.close()


# ---------------------------------------------------------------- SB3VecEnv
def test_sb3_vec_env_shapes_and_terminal_observation():
    venv = SB3VecEnv(num_envs=2, **FAST | {"horizon": 2})
    assert venv.num_envs == 2
    assert venv.observation_space.shape == (17,) and venv.action_space.nvec.tolist() == NVEC
    obs = venv.reset()
    assert obs.shape == (2, 17) and obs.dtype == np.float32
    actions = np.array([[3, 0, 3, 2], [1, 1, 2, 1]])
    obs, rewards, dones, infos = venv.step(actions)
    assert obs.shape == (2, 17) and rewards.shape == (2,) and rewards.dtype == np.float32
    assert dones.dtype == bool and not dones.any()
    assert isinstance(infos, list) and len(infos) == 2
    for info in infos:
        assert "terminal_observation" not in info
        assert isinstance(info["val_accuracy"], float) and isinstance(info["diverged"], bool)
        assert info["hp_batch_size"] == 32 and not any(key.startswith("_") for key in info)
    obs, rewards, dones, infos = venv.step(actions)
    assert dones.tolist() == [True, True]
    for k, info in enumerate(infos):
        term = info["terminal_observation"]
        assert term.shape == (17,) and term[12] == 1.0  # progress of the ended episode
        assert obs[k, 12] == 0.0  # obs is already the next episode's first
        assert info["TimeLimit.truncated"] is False
        assert 0.0 <= info["test_accuracy"] <= 1.0  # the ended episode's info, not the reset's
        assert info["sgd_steps"] == 2 * FAST["steps_per_action"]
    obs, rewards, dones, infos = venv.step(actions)
    assert not dones.any() and all(info["sgd_steps"] == FAST["steps_per_action"] for info in infos)
    venv.close()


def test_sb3_vec_env_seeding_and_arguments():
    a, b = SB3VecEnv(num_envs=2, **FAST), SB3VecEnv(num_envs=2, **FAST)
    a.seed(3)
    b.seed(3)
    obs_a, obs_b = a.reset(), b.reset()
    assert np.array_equal(obs_a, obs_b)
    ref = HPTuneVectorEnv(num_envs=2, autoreset_mode=AutoresetMode.SAME_STEP, **FAST)
    assert np.array_equal(ref.reset(seed=[3, 4])[0], obs_a)
    assert a.get_attr("num_envs") == [2, 2]
    with pytest.raises(ValueError, match="SAME_STEP"):
        SB3VecEnv(HPTuneVectorEnv(num_envs=2, **FAST))
    with pytest.raises(ValueError, match="not both"):
        SB3VecEnv(ref, horizon=3)


@pytest.mark.parametrize("wrapper", [ContinuousActions, FlatDiscreteActions])
def test_wrappers_record_their_arguments(make_env, wrapper):
    """v0: gym.make(wrapped.spec) and check_env's render check failed on these wrappers."""
    from gymnasium.utils.env_checker import check_env

    env = wrapper(gym.make(hpenv.ENV_ID, **FAST))
    assert env.spec.additional_wrappers[-1].name == wrapper.__name__
    remade = gym.make(env.spec)
    assert isinstance(remade, wrapper) and remade.action_space == env.action_space
    check_env(env.unwrapped)
    check_env(env)


def test_sb3_vec_env_indices_and_action_masks():
    venv = SB3VecEnv(num_envs=3, **FAST)
    venv.seed(0)
    venv.reset()
    masks = venv.env_method("action_masks", indices=[0, 2])
    assert len(masks) == 2 and masks[0].shape == (sum(NVEC),) and masks[0].all()
    assert venv.action_masks().shape == (3, sum(NVEC))
    generators = venv.get_attr("np_random", indices=[2, 0])
    assert generators[0] is venv.venv.np_random[2] and generators[1] is venv.venv.np_random[0]
    assert len(venv.get_attr("horizon", indices=[1])) == 1
    assert [type(m).__name__ for m in venv.env_method("child", indices=[1])] == ["ResidualMLP"]
    with pytest.raises(ValueError, match="indices"):
        venv.set_attr("render_mode", None, indices=[0])
    venv.set_attr("render_mode", None)


def test_maskable_ppo_trains_on_the_vector_env():
    from sb3_contrib import MaskablePPO

    venv = SB3VecEnv(num_envs=2, **FAST | {"horizon": 2})
    MaskablePPO("MlpPolicy", venv, n_steps=2, batch_size=4, n_epochs=1, seed=0).learn(4)


def _onset_stream():
    from hpenv.streams import make_stream

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 8)) * 2
    y = np.arange(400) % 4
    task = hpenv.Task.from_arrays(centres[y] + rng.normal(size=(400, 8)), y, name="blobs", split_seed=0)
    return make_stream(task, "label_noise_onset", (3, 4), fraction=1.0, seed=0)  # every label wrong from then


def test_change_features_show_a_jump_of_the_training_loss_at_the_change_and_keep_the_envs_columns():
    from hpenv import CHANGE_FEATURES
    from hpenv.wrappers import ChangeFeatures

    stream, kw, action = _onset_stream(), dict(steps_per_action=20, horizon=6), np.array([1, 0, 4, 2])
    plain, env = gym.make(hpenv.ENV_ID, task=stream, **kw), ChangeFeatures(gym.make(hpenv.ENV_ID, task=stream, **kw))
    assert env.observation_space.shape == (plain.observation_space.shape[0] + len(CHANGE_FEATURES),)
    obs, _ = env.reset(seed=3)
    base, _ = plain.reset(seed=3)
    assert np.array_equal(obs[:-2], base) and np.array_equal(obs[-2:], [0.0, 0.0])
    loss, val_loss = hpenv.feature_index("train_loss_mean"), hpenv.feature_index("val_loss")
    jumps, previous = {}, base[loss]
    for _ in range(kw["horizon"]):
        obs, _, _, _, info = env.step(action)
        base = plain.step(action)[0]
        assert np.array_equal(obs[:-2], base) and env.observation_space.contains(obs)
        assert obs[-2] == pytest.approx(min(base[loss] / previous - 1, 10.0), rel=1e-5, abs=1e-6)
        assert obs[-1] == pytest.approx(base[val_loss] - base[loss], abs=1e-6)
        jumps[int(info["phase"])] = jumps.get(int(info["phase"]), []) + [float(obs[-2])]
        previous = base[loss]
    # the first step of phase 1 (every label wrong) is the largest rise of the episode, by far
    assert jumps[1][0] > 1.0 and max(jumps[0] + jumps[1][1:]) < 0.5
    obs, _ = env.reset(seed=4)
    assert np.array_equal(obs[-2:], [0.0, 0.0])  # a new episode has no jump


def test_change_features_of_the_vector_env_match_single_envs_and_restart_at_a_reset():
    from hpenv.wrappers import ChangeFeatures, ChangeFeaturesVector

    stream, kw = _onset_stream(), dict(steps_per_action=20, horizon=6)
    venv = ChangeFeaturesVector(gym.make_vec(hpenv.ENV_ID, num_envs=3, task=stream, **kw))
    assert venv.single_observation_space.shape == (19,) and venv.observation_space.shape == (3, 19)
    singles = [ChangeFeatures(gym.make(hpenv.ENV_ID, task=stream, **kw)) for _ in range(3)]
    obs, _ = venv.reset(seed=10)
    rows = [e.reset(seed=10 + i)[0] for i, e in enumerate(singles)]
    actions = np.array([[1, 0, 4, 2], [0, 1, 3, 1], [2, 0, 2, 2]])
    for _ in range(kw["horizon"]):
        assert np.allclose(obs, np.stack(rows), rtol=1e-4, atol=1e-5)
        obs = venv.step(actions)[0]
        rows = [e.step(a)[0] for e, a in zip(singles, actions)]
    assert np.allclose(obs, np.stack(rows), rtol=1e-4, atol=1e-5)
    obs = venv.step(actions)[0]  # NEXT_STEP autoreset: every child starts again, with no jump
    assert np.array_equal(obs[:, -2], np.zeros(3))
    with pytest.raises(ValueError, match="ChangeFeatures wraps an HPTune env"):
        ChangeFeatures(gym.make("CartPole-v1"))


def test_the_env_argument_change_features_gives_the_wrappers_observation_in_every_env_and_vector_env():
    from hpenv.wrappers import ChangeFeatures, ChangeFeaturesVector

    stream, kw = _onset_stream(), dict(steps_per_action=20, horizon=6)
    env = gym.make(hpenv.ENV_ID, task=stream, change_features=True, **kw)
    wrapped = ChangeFeatures(gym.make(hpenv.ENV_ID, task=stream, **kw))
    assert env.observation_space == wrapped.observation_space
    assert env.unwrapped.feature_names[-2:] == [f[0] for f in hpenv.CHANGE_FEATURES]
    assert np.array_equal(env.reset(seed=5)[0], wrapped.reset(seed=5)[0])
    for a in ([1, 0, 4, 2], [0, 1, 3, 1], [2, 0, 2, 2], [1, 0, 4, 2], [0, 1, 3, 1], [2, 0, 2, 2]):
        assert np.array_equal(env.step(np.array(a))[0], wrapped.step(np.array(a))[0])
    # the vector env through its autoreset, against the vector wrapper
    venv = gym.make_vec(hpenv.ENV_ID, num_envs=3, task=stream, change_features=True, **kw)
    vwrapped = ChangeFeaturesVector(gym.make_vec(hpenv.ENV_ID, num_envs=3, task=stream, **kw))
    assert np.array_equal(venv.reset(seed=2)[0], vwrapped.reset(seed=2)[0])
    actions = np.array([[1, 0, 4, 2], [0, 1, 3, 1], [2, 0, 2, 2]])
    for _ in range(2 * kw["horizon"] + 1):
        assert np.array_equal(venv.step(actions)[0], vwrapped.step(actions)[0])
    # off by default: the observation is the one every result so far was measured on
    plain = gym.make(hpenv.ENV_ID, task=stream, **kw)
    assert plain.observation_space.shape[0] == env.observation_space.shape[0] - 2
    with pytest.raises(ValueError, match="change_features must be True or False"):
        gym.make(hpenv.ENV_ID, task=stream, change_features="yes", **kw)


def test_a_copied_or_restored_child_keeps_the_loss_its_next_jump_is_measured_from():
    stream, kw = _onset_stream(), dict(steps_per_action=20, horizon=6, change_features=True)
    venv = gym.make_vec(hpenv.ENV_ID, num_envs=2, task=stream, **kw)
    venv.reset(seed=[1, 2])
    actions = np.array([[1, 0, 4, 2], [0, 1, 3, 1]])
    before = venv.step(actions)[0]
    venv.unwrapped.copy_child(0, 1)
    obs = venv.step(np.array([[1, 0, 4, 2], [1, 0, 4, 2]]))[0]
    loss = hpenv.feature_index("train_loss_mean")
    # the copy's next jump is measured from its source's loss (its own mini-batches differ from there on)
    assert obs[1, -2] == pytest.approx(obs[1, loss] / before[0, loss] - 1, rel=1e-5)
    assert obs[1, -2] != pytest.approx(obs[1, loss] / before[1, loss] - 1, rel=1e-5)
    single = gym.make(hpenv.ENV_ID, task=stream, **kw)
    single.reset(seed=1)
    single.step(actions[0])
    state = single.unwrapped.child_state()
    after = single.step(actions[0])[0]
    restored = gym.make(hpenv.ENV_ID, task=stream, **kw)
    restored.reset(seed=9)
    restored.unwrapped.load_child_state(state)
    assert np.array_equal(restored.step(actions[0])[0], after)
