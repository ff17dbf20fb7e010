"""hpenv: hyper-parameter tuning as a Gymnasium environment.

``import hpenv`` registers ``HPTune-v1`` (`ENV_ID`); ``gym.make("hpenv:HPTune-v1")`` imports
and registers in one go (what subprocess vector envs rely on). ``HPTune-v0`` is no longer
registered: Gymnasium refuses it with a message that names v1 (see the env's Version History).
"""

from __future__ import annotations

import os

import gymnasium as gym
import torch

from hpenv.config import REWARD_MODES, EnvConfig
from hpenv.env import HPTuneEnv
from hpenv.episodes import hyperparameters_from_info, info_keys, reward_from_observations
from hpenv.observe import CHANGE_FEATURES, feature_index, feature_table
from hpenv.spaces import HPSpace, HyperParameter
from hpenv.instances import Suite, instance_set, instance_sets, member_env_kwargs, member_factors, members_table, suite
from hpenv.suites_v2 import SuiteV2  # registers the v2 suites
from hpenv.suites_v3 import SuiteV3  # registers the v3 suites
from hpenv.streams import STREAM_KINDS, StreamTask, make_stream
from hpenv.tasks import Task, TaskFamily, list_tasks, make_task, register_namespace, register_task

__version__ = "0.2.0"
__all__ = [
    "ENV_ID", "HPTuneEnv", "EnvConfig", "HPSpace", "HyperParameter", "Task", "TaskFamily", "REWARD_MODES",
    "CHANGE_FEATURES", "feature_index", "feature_table", "info_keys", "hyperparameters_from_info",
    "reward_from_observations",
    "list_tasks", "make_task", "register_task", "register_namespace", "StreamTask", "make_stream", "STREAM_KINDS",
    "Suite", "SuiteV2", "SuiteV3", "instance_set", "instance_sets", "suite", "member_factors", "member_env_kwargs",
    "members_table",
]

#: The id to pass to ``gym.make`` / ``gym.make_vec``.
ENV_ID = "HPTune-v1"


def _register() -> None:
    if ENV_ID in gym.registry:  # idempotent: importing twice, or via "hpenv:HPTune-v1"
        return
    gym.register(
        id=ENV_ID,
        entry_point="hpenv.env:HPTuneEnv",
        vector_entry_point="hpenv.vector:HPTuneVectorEnv",
    )


def _single_thread_after_fork() -> None:
    # A process forked after torch has used its OpenMP pool can deadlock in its first parallel
    # kernel (gymnasium's AsyncVectorEnv forks by default on Linux). With one thread, torch
    # runs kernels inline and never touches the inherited pool; one worker per core is also
    # the right shape for subprocess envs.
    torch.set_num_threads(1)


_register()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_single_thread_after_fork)
