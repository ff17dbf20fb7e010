"""Checks that need a GPU: the env and the native vector env on CUDA agree with themselves and each other.

    python benchmarks/gpu_check.py [cuda|cpu]     # prints the GPU, then PASS/FAIL lines; exit 1 on a failure
"""

from __future__ import annotations

import sys

import gymnasium as gym
import numpy as np
import torch

import hpenv  # noqa: F401


def main() -> int:
    device = sys.argv[1] if len(sys.argv) > 1 else "cuda"
    if device == "cuda" and not torch.cuda.is_available():
        print("no CUDA device: nothing to check")
        return 0
    print(f"device: {torch.cuda.get_device_name() if device == 'cuda' else device}, torch {torch.__version__}")
    failures = 0
    kw = dict(device=device, steps_per_action=20, horizon=3)
    rng = np.random.default_rng(0)
    K = 8
    actions = [np.stack([rng.integers(0, n, K) for n in (4, 5, 5, 3)], 1) for _ in range(3)]  # lr <= 0.1, mom <= 0.9

    venv = gym.make_vec("HPTune-v1", num_envs=K, **kw)
    obs_v, _ = venv.reset(seed=100)
    traj_v = [obs_v]
    rew_v = []
    for a in actions:
        o, r, *_ = venv.step(a)
        traj_v.append(o); rew_v.append(r)
    worst_obs, worst_rew = 0.0, 0.0
    for i in range(K):
        env = gym.make("HPTune-v1", **kw)
        o, _ = env.reset(seed=100 + i)
        worst_obs = max(worst_obs, float(np.abs(o - traj_v[0][i]).max()))
        for t, a in enumerate(actions):
            o, r, *_ = env.step(a[i])
            worst_obs = max(worst_obs, float(np.abs(o - traj_v[t + 1][i]).max()))
            worst_rew = max(worst_rew, abs(r - rew_v[t][i]))
    ok = worst_obs < 1e-3 and worst_rew <= 2 / 360
    failures += not ok
    print(f"{'PASS' if ok else 'FAIL'} vector child i == single env seed s+i: "
          f"max |obs diff| {worst_obs:.2e}, max |reward diff| {worst_rew:.2e}")

    runs = []
    for _ in range(2):
        env = gym.make("HPTune-v1", **kw)
        o, _ = env.reset(seed=7)
        seq = [o] + [env.step(a[0])[0] for a in actions]
        runs.append(np.stack(seq))
    same = np.array_equal(runs[0], runs[1])
    failures += not same
    print(f"{'PASS' if same else 'FAIL'} same seed, same actions -> identical observations")

    env = gym.make("HPTune-v1", device=device, hp_space={"learning_rate": [10.0], "momentum": [0.99]},
                   steps_per_action=50, horizon=5)
    env.reset(seed=0)
    *_, term, _, info = env.step(np.array([0, 0]))
    ok = bool(term and info["diverged"])
    failures += not ok
    print(f"{'PASS' if ok else 'FAIL'} divergence ends the episode (diverged={info['diverged']})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
