"""Record RecurrentReinforce's exact results on every path, to check a refactor against.

Run from the repository root on the code to be recorded (it was first run on main 6e4809c):

    PYTHONPATH=. python tests/data/make_rr_golden.py          # writes tests/data/rr_golden.json
    PYTHONPATH=. python tests/data/make_rr_golden.py --check  # compares exactly, hashes included

Each case trains a small agent on a tiny HPTune config (wine, horizon 3, 2 SGD steps per action,
K=4) and records its full history, counters, statistics, a few greedy and sampled predictions,
and per tensor of the final weights a SHA-256 of the bytes, the sum and the first values.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

import hpenv  # noqa: F401  (registers HPTune-v1)
from agents.reinforce import RecurrentReinforce
from tests.test_reinforce_groups import LocalRunners  # the Runners protocol, in process

GOLDEN = Path(__file__).with_name("rr_golden.json")
TINY = {"task": "wine", "horizon": 3, "steps_per_action": 2}
K = 4
SMALL = {"hidden_size": 8, "episodes_per_update": 4}


def single(**kwargs) -> gym.Env:
    return gym.make("HPTune-v1", **{**TINY, **kwargs})


def vector(**kwargs) -> gym.vector.VectorEnv:
    return gym.make_vec("HPTune-v1", num_envs=K, **{**TINY, **kwargs})


def predictions(agent: RecurrentReinforce) -> list[list[int]]:
    """Greedy then sampled actions over one episode played with predict (reward recovered)."""
    env = single()
    out = []
    for deterministic in (True, False):
        obs, _ = env.reset(seed=7)
        state, done = None, False
        while not done:
            action, state = agent.predict(obs, state, episode_start=state is None,
                                          deterministic=deterministic)
            out.append([int(a) for a in action])
            obs, _, terminated, truncated, _ = env.step(action)
            done = terminated or truncated
    return out


def summary(agent: RecurrentReinforce) -> dict:
    weights = {}
    for name, tensor in agent.policy.state_dict().items():
        array = tensor.detach().cpu().numpy()
        weights[name] = {
            "sha256": hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest(),
            "sum": float(array.astype(np.float64).sum()),
            "first": [float(v) for v in array.ravel()[:3]],
        }
    return {
        "history": agent.history,
        "counters": [agent.num_episodes, agent.num_updates, agent.num_online_steps],
        "obs_rms": {"count": int(agent.obs_rms.count),
                    "mean_sum": float(agent.obs_rms.mean.sum()),
                    "m2_sum": float(agent.obs_rms.m2.sum())},
        "baselines": [agent.episode_baseline.values, agent.online_baseline.values],
        "predict": predictions(agent),
        "weights": weights,
    }


def case_plain_moving_average():
    return RecurrentReinforce(single(), seed=0, **SMALL).learn(8)


def case_vector_value_entropy_decay():
    return RecurrentReinforce(vector(), seed=1, baseline="value", ent_coef_final=0.0,
                              ent_decay_updates=2, gamma=0.9, **SMALL).learn(12)


def case_vector_leave_one_out():
    return RecurrentReinforce(vector(), seed=2, baseline="leave_one_out", group_size=2,
                              hidden_size=8, episodes_per_update=8).learn(16)


def case_plain_groups_unnormalised():
    return RecurrentReinforce(single(), seed=3, group_size=2, normalize_observations=False,
                              normalize_advantages=False, **SMALL).learn(8)


def case_online(baseline: str, **extra):
    def run():
        agent = RecurrentReinforce(single(horizon=7), seed=4, baseline=baseline, **extra, **SMALL)
        agent.learn(4)
        agent.learn_online(single(horizon=7), total_steps=7, update_every=3)
        agent.learn_online(single(horizon=7), total_steps=4, update_every=2, seed=11)
        return agent
    return run


def case_save_load_resume():
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "agent.pt"
        agent = RecurrentReinforce(vector(), seed=5, baseline="value", **SMALL).learn(4)
        agent.learn_online(single(horizon=5), total_steps=4, update_every=2)
        agent.save(path)
        agent = RecurrentReinforce.load(path, env=vector())
        return agent.learn(8)


def case_runners(**extra):
    def run():
        runners = LocalRunners(vector())
        agent = RecurrentReinforce(vector(), seed=6, **{**SMALL, **extra})
        agent.learn(8, runners=runners)
        # the same hooks as learn(runners=...) uses, called by hand
        chunks = runners.play(agent.snapshot(), agent.plan_update(runners.num_envs))
        agent.update_from_chunks(chunks)
        return agent
    return run


CASES = {
    "plain_moving_average": case_plain_moving_average,
    "vector_value_entropy_decay": case_vector_value_entropy_decay,
    "vector_leave_one_out": case_vector_leave_one_out,
    "plain_groups_unnormalised": case_plain_groups_unnormalised,
    "online_moving_average": case_online("moving_average"),
    "online_value": case_online("value"),
    "online_leave_one_out": case_online("leave_one_out", group_size=2),
    "save_load_resume": case_save_load_resume,
    "runners_moving_average": case_runners(),
    "runners_leave_one_out": case_runners(baseline="leave_one_out", group_size=2),
}


def record() -> dict:
    torch.set_num_threads(1)
    return {name: json.loads(json.dumps(summary(make()))) for name, make in CASES.items()}


if __name__ == "__main__":
    results = record()
    if "--check" in sys.argv:
        golden = json.loads(GOLDEN.read_text())
        bad = [name for name in CASES if golden[name] != results[name]]
        print("exact match" if not bad else f"DIFFERENT: {bad}")
        sys.exit(1 if bad else 0)
    GOLDEN.write_text(json.dumps(results, indent=None, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN} ({GOLDEN.stat().st_size} bytes)")
