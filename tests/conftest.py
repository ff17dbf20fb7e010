"""Shared fixtures and helpers for the hpenv tests.

Tests keep every environment tiny (wine or iris, a few SGD steps, short horizons) so that the
whole suite runs in a few minutes on a shared 2-core machine.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

# Every Ray cluster a test starts stays on 127.0.0.1 (see agents.distributed.keep_ray_on_loopback);
# set before anything imports Ray, and inherited by the processes Ray and the tests start.
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"

import gymnasium as gym
import numpy as np
import pytest
import torch

# One intra-op thread in the test process: on a small, shared machine OpenMP workers that spin
# while another process holds the cores make each tiny SGD step orders of magnitude slower.
# Tests that need multi-threaded torch maths (the fork handler) run in subprocesses.
torch.set_num_threads(1)

import hpenv  # noqa: E402, F401  (registers HPTune-v1)

#: The smallest useful episode: wine (106 train / 36 val / 36 test), 4 SGD steps per action.
FAST = {"task": "wine", "steps_per_action": 4, "horizon": 3}

#: Actions of the default space [depth, dropout, learning_rate, momentum] with learning rates
#: <= 0.1, so that no child diverges.
SAFE_ACTIONS = [[3, 0, 3, 2], [0, 1, 2, 1], [2, 2, 4, 0], [1, 0, 1, 3], [3, 4, 0, 2]]


@pytest.fixture
def make_env():
    """``make_env(**kwargs)``: ``gym.make("HPTune-v1", **FAST | kwargs)``, closed after the test."""
    envs = []

    def _make(**kwargs):
        env = gym.make("HPTune-v1", **{**FAST, **kwargs})
        envs.append(env)
        return env

    yield _make
    for env in envs:
        env.close()


@pytest.fixture
def make_vec():
    """``make_vec(num_envs, **kwargs)``: the native vector env with FAST settings, closed after the test."""
    envs = []

    def _make(num_envs=2, **kwargs):
        env = gym.make_vec("HPTune-v1", num_envs=num_envs, **{**FAST, **kwargs})
        envs.append(env)
        return env

    yield _make
    for env in envs:
        env.close()


def rollout(env, actions, seed=None):
    """Reset ``env`` (with ``seed``) and apply ``actions``; return (obs array, rewards, infos, reset info)."""
    obs, info0 = env.reset(seed=seed)
    all_obs, rewards, infos = [obs], [], []
    for a in actions:
        obs, r, terminated, truncated, info = env.step(a)
        all_obs.append(obs)
        rewards.append(r)
        infos.append(info)
        if terminated or truncated:
            break
    return np.stack(all_obs), np.array(rewards), infos, info0


def run_python(code: str, timeout: float) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter; on timeout kill its whole process group and fail.

    A deadlocked forked worker must fail the test, not hang the suite or outlive it.
    """
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True, env=env,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"subprocess did not finish in {timeout}s (deadlock?)\nstdout:\n{out}\nstderr:\n{err[-3000:]}")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def assert_same_agent(a, b) -> None:
    """Two RecurrentReinforce agents learned the same: history, weights, observation statistics, baseline."""
    assert a.history == b.history
    for key, value in a.policy.state_dict().items():
        assert torch.equal(value, b.policy.state_dict()[key]), key
    assert np.array_equal(a.obs_rms.mean, b.obs_rms.mean) and a.obs_rms.count == b.obs_rms.count
    assert a.episode_baseline.values == b.episode_baseline.values


def obs_in_bounds(space, obs) -> bool:
    obs = np.asarray(obs)
    return bool(obs.dtype == np.float32 and np.all(np.isfinite(obs))
                and np.all(obs >= space.low) and np.all(obs <= space.high))


def v3_protocol_copy(tmp_path, status: str = "frozen", **changes):
    """A copy of the shipped v3 protocol with ``status`` and other ``key = "value"`` lines changed."""
    import re

    from agents.bench.v3.shipped import SHIPPED_PROTOCOL

    text = re.sub(r'status = "\w+"', f'status = "{status}"', SHIPPED_PROTOCOL.read_text())
    for key, value in changes.items():
        text = re.sub(rf'^{key} = .*$', f'{key} = "{value}"', text, flags=re.M)
    path = tmp_path / f"protocol-{status}.toml"
    path.write_text(text)
    return path
