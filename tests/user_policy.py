"""A hand-written policy, as a researcher would write one, for the benchmark tests.

``hptune bench --agent tests.user_policy:StepDecay`` instantiates the class with the env;
``tests.user_policy:always_default`` is a plain callable used as is; ``tests.user_policy:DefaultAgain`` is a
method of its own (a subclass of a benchmark method).
"""

import numpy as np

import hpenv
from agents.bench.v3.methods import FixedDefault


class StepDecay:
    """Full depth, no dropout, momentum 0.9; learning rate 0.1 for the first half, then 0.01."""

    def __init__(self, env):
        space = env.unwrapped.hp_space
        self.high = space.encode({"depth": 4, "dropout": 0.0, "learning_rate": 0.1, "momentum": 0.9})
        self.low = space.encode({"depth": 4, "dropout": 0.0, "learning_rate": 0.01, "momentum": 0.9})

    def predict(self, obs, state=None, episode_start=True, deterministic=True):
        progress = float(obs[hpenv.feature_index("progress")])  # t / horizon
        return (self.high if progress < 0.5 else self.low).copy(), state


def always_default(obs):
    """A plain callable: depth 4, dropout 0, learning rate 0.03, momentum 0.9 at every step."""
    return np.array([3, 0, 3, 2])


class DefaultAgain(FixedDefault):
    """A method of its own (a subclass of ``agents.bench.methods.Method``): the fixed default under another name
    and version, as a new version of a family method is scored beside the old one."""

    name = "fixed default, again"
    version = "2"


class ClaimsAFamilyName(FixedDefault):
    """A method of its own under a family method's name: refused."""

    name = "fixed default"
