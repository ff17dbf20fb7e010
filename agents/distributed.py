"""Rollout runners on Ray: meta-training past one process, or one machine.

The shape is the one RLlib and learned_optimization use. Each of ``num_runners`` Ray actors
owns a native vector env of ``K`` children (built on the actor from the env's keyword
arguments) on its own share of CPUs or GPUs, and plays chunks of ``K`` episodes; the learner
([`agents.reinforce.RecurrentReinforce`][], in the driver) hands out the chunks and learns
from what comes back::

    import gymnasium as gym

    from agents import RecurrentReinforce
    from agents.distributed import RayRunners

    env_kwargs = {"task": "digits", "horizon": 10}
    agent = RecurrentReinforce(gym.make_vec("HPTune-v1", num_envs=8, **env_kwargs), seed=0,
                               episodes_per_update=16)
    with RayRunners(env_kwargs, num_runners=2, num_envs=8) as runners:   # or address="ray://..."
        agent.learn(512, runners=runners)

Determinism: the learner draws every reset seed and one action-sampling seed per chunk
([`plan_update`][agents.reinforce.RecurrentReinforce.plan_update]); a chunk is always played by one
vector env of exactly ``K`` children, with the learner's current weights and a frozen copy of
its observation statistics; the learner folds the chunks in, in chunk order. So the same seed
gives the same history and weights for any number of runners, and a chunk re-run after its
runner died gives exactly what the dead runner would have.

Ray is an optional extra: ``pip install "hpenv[ray]"``.
"""

from __future__ import annotations

import math
import os
import warnings
from typing import Any

import gymnasium as gym
import torch

import hpenv
from agents.local_runners import LocalRunners
from agents.rollout import ChunkPlan, EpisodeChunk, PolicySnapshot
from hpenv.extras import import_extra

ray = import_extra("ray", by="agents.distributed (Ray runners)")
GetTimeoutError, RayError = ray.exceptions.GetTimeoutError, ray.exceptions.RayError

__all__ = ["RayRunners", "init_ray", "keep_ray_on_loopback"]


def init_ray(address: str | None = None, num_cpus: int = 1) -> bool:
    """Make sure this process is connected to Ray; return whether this call connected it.

    With Ray already initialised, use that (return False). Otherwise join the cluster at
    ``address`` (``ray.init(address=...)``), or with no address start a local one without a
    dashboard, declaring at least ``num_cpus`` CPUs (more when the machine has them). Whoever
    gets True shuts Ray down when done.
    """
    if ray.is_initialized():
        return False
    if address:
        ray.init(address=address)
    else:
        keep_ray_on_loopback()
        ray.init(num_cpus=max(os.cpu_count() or 1, num_cpus), include_dashboard=False)
    return True


def keep_ray_on_loopback() -> None:
    """Make a local Ray cluster bind and dial 127.0.0.1 only (call before ``ray.init``).

    Even on one machine Ray binds and connects to the host's network address, and
    ``_node_ip_address="127.0.0.1"`` does not change that for its control store. Its switch for
    loopback-only clusters (meant for macOS and Windows) is a constant read when Ray is imported,
    so set it both in this process and, through the environment, in the processes Ray starts.
    Not for a driver that joins a multi-node cluster: other nodes must reach it.
    """
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    ray._private.ray_constants.ENABLE_RAY_CLUSTER = False


class _Runner:
    """A Ray actor: [`agents.local_runners.LocalRunners`][] on the actor, playing one chunk per call."""

    def __init__(self, env_id: str, env_kwargs: dict[str, Any], num_envs: int, threads: int,
                 members: list[str] | None = None):
        # Ray sets OMP_NUM_THREADS to the actor's CPUs; torch's own pool must match, or a runner
        # would spin threads on cores that belong to the next runner.
        torch.set_num_threads(threads)
        self.local = LocalRunners(env_kwargs, num_envs, members=members, env_id=env_id)

    def spaces(self) -> tuple[gym.spaces.Box, gym.spaces.MultiDiscrete]:
        """The vector env's single observation and action spaces."""
        return self.local.single_observation_space, self.local.single_action_space

    def play(self, snapshot: PolicySnapshot, plan: ChunkPlan) -> EpisodeChunk:
        """Play one chunk of ``K`` episodes with the learner's weights and statistics."""
        return self.local.play(snapshot, [plan])[0]


_RemoteRunner = ray.remote(_Runner)


class RayRunners:
    """``num_runners`` Ray actors that each play chunks of ``num_envs`` episodes.

    Pass it to [`agents.reinforce.RecurrentReinforce.learn`][] as ``runners=``. Chunk ``i`` of
    an update goes to runner ``i % num_runners``; a runner that dies or raises is replaced by a
    fresh actor and its chunks are played again (up to ``max_chunk_retries`` times per chunk),
    which gives the same result as if nothing had happened.

    Args:
        env_kwargs: Keyword arguments of the env (``task``, ``horizon``, ``steps_per_action``,
            ``device``...); each runner builds
            ``gym.make_vec(env_id, num_envs=num_envs, **env_kwargs)`` itself. With
            ``gpus_per_runner > 0`` pass ``device="cuda"``: Ray gives each runner its GPU share as
            its ``cuda`` device.
        num_runners: Number of actors.
        num_envs: Children per runner's vector env, ``K``: the size of every chunk.
        address: Address of a running Ray cluster to join (``ray.init(address=...)``, e.g.
            ``"auto"`` or ``"ray://head:10001"``). None starts a local cluster, unless Ray is
            already initialised in this process, in which case that one is used.
        cpus_per_runner: CPUs Ray reserves for each runner (a fraction packs more runners than
            cores); its torch thread count is the whole part, at least 1.
        gpus_per_runner: GPUs Ray reserves for each runner (a fraction shares one GPU between
            runners).
        max_chunk_retries: How many times one chunk may be played again after its runner failed.
        start_timeout_s: How long to wait for the runners to start (a cluster without room for
            them never starts them).
        env_id: The registered env id.
        members: Suite members whose env arguments differ (a benchmark v3 split): each runner then holds a
            [`MemberGroupRunners`][agents.member_groups.MemberGroupRunners] over them, ``env_kwargs`` over each
            member's own arguments, and plays every chunk in the group its plan draws, so the run is the
            one ``MemberGroupRunners`` gives in process.

    Raises:
        ValueError: On a bad count, or when the runners cannot all start in time.
    """

    def __init__(
        self,
        env_kwargs: dict[str, Any],
        num_runners: int,
        num_envs: int = 8,
        *,
        address: str | None = None,
        cpus_per_runner: float = 1.0,
        gpus_per_runner: float = 0.0,
        max_chunk_retries: int = 3,
        start_timeout_s: float = 300.0,
        env_id: str = hpenv.ENV_ID,
        members: list[str] | None = None,
    ) -> None:
        for name, value in (("num_runners", num_runners), ("num_envs", num_envs)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if not cpus_per_runner > 0:
            raise ValueError(f"cpus_per_runner must be > 0, got {cpus_per_runner!r}")
        if not gpus_per_runner >= 0:
            raise ValueError(f"gpus_per_runner must be >= 0, got {gpus_per_runner!r}")
        if isinstance(max_chunk_retries, bool) or not isinstance(max_chunk_retries, int) \
                or max_chunk_retries < 0:
            raise ValueError(f"max_chunk_retries must be an integer >= 0, got {max_chunk_retries!r}")
        self.env_kwargs = dict(env_kwargs)
        self.members = list(members) if members else None
        self.num_runners = num_runners
        self.num_envs = num_envs
        self.max_chunk_retries = max_chunk_retries
        self._env_id = env_id
        self._options = {"num_cpus": cpus_per_runner, "num_gpus": gpus_per_runner}
        self._threads = max(1, int(cpus_per_runner))
        self.owns_ray = init_ray(address, num_cpus=math.ceil(num_runners * cpus_per_runner))
        self.runners: list[Any] = []
        try:
            self.runners = [self._start_runner() for _ in range(num_runners)]
            ready = [runner.spaces.remote() for runner in self.runners]
            try:
                spaces = ray.get(ready, timeout=start_timeout_s)
            except GetTimeoutError as err:
                raise ValueError(
                    f"{num_runners} runners of {cpus_per_runner} CPU(s) and {gpus_per_runner} "
                    f"GPU(s) each did not start within {start_timeout_s:.0f} s; the cluster has "
                    f"{ray.cluster_resources()}"
                ) from err
        except BaseException:
            self.close()
            raise
        self.single_observation_space, self.single_action_space = spaces[0]

    def _start_runner(self) -> Any:
        return _RemoteRunner.options(**self._options).remote(
            self._env_id, self.env_kwargs, self.num_envs, self._threads, self.members
        )

    def _replace_runner(self, slot: int, error: BaseException) -> None:
        """Swap runner ``slot`` for a fresh actor (killing the old one if it still lives)."""
        warnings.warn(
            f"runner {slot} failed ({type(error).__name__}); starting a new one and replaying "
            "its chunks",
            RuntimeWarning,
            stacklevel=3,
        )
        ray.kill(self.runners[slot], no_restart=True)
        self.runners[slot] = self._start_runner()

    def play(self, snapshot: PolicySnapshot, plans: list[ChunkPlan]) -> list[EpisodeChunk]:
        """Play every chunk of ``plans`` with ``snapshot``; return the chunks in plan order.

        Raises:
            RuntimeError: If a chunk failed more than ``max_chunk_retries`` times after its first
                try.
        """
        snapshot_ref = ray.put(snapshot)  # once per update, shared by every chunk
        # which actor each pending chunk went to: a chunk that fails on an actor that has
        # already been replaced (an earlier chunk of the same runner failed) is just resubmitted
        pending = []
        for i, plan in enumerate(plans):
            runner = self.runners[i % self.num_runners]
            pending.append((runner, runner.play.remote(snapshot_ref, plan)))
        chunks: list[EpisodeChunk] = []
        for i, plan in enumerate(plans):
            slot, failures = i % self.num_runners, 0
            while True:
                runner, ref = pending[i]
                try:
                    chunks.append(ray.get(ref))
                    break
                except RayError as err:
                    failures += 1
                    if failures > self.max_chunk_retries:
                        raise RuntimeError(
                            f"chunk {i} of this update failed {failures} times on runner {slot}; "
                            f"giving up (max_chunk_retries={self.max_chunk_retries})"
                        ) from err
                    if self.runners[slot] is runner:
                        self._replace_runner(slot, err)
                    runner = self.runners[slot]
                    pending[i] = (runner, runner.play.remote(snapshot_ref, plan))
        return chunks

    def close(self) -> None:
        """Stop the runners (and the local cluster, if this object started it)."""
        for runner in self.runners:
            ray.kill(runner, no_restart=True)
        self.runners = []
        if self.owns_ray and ray.is_initialized():
            ray.shutdown()

    def __enter__(self) -> RayRunners:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
