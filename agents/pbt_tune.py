"""Population-based training on Ray Tune, as a benchmark method beside [`agents.search.pbt`][].

Each member of the population is a Tune trial: a function trainable that trains one child in an
[`hpenv.HPTuneEnv`][] one env step per Tune iteration and checkpoints the child after every
step ([`hpenv.HPTuneEnv.child_state`][]: plain tensors, read back with
``torch.load(..., weights_only=True)``, and a JSON file; nothing is unpickled). Tune's
`PopulationBasedTraining` scheduler, in synchronous mode, makes the
bottom ``fraction`` of the population restart from the checkpoint of a top member every
``interval`` steps, and explores with the same neighbour move as [`agents.search.pbt`][].

Same members and seeds as [`agents.search.pbt`][]: every child starts from
``reset(seed=seed)``, with the initial tuples drawn from the same generator. Differences, all
from how Tune works: an exploiting member takes over its donor's whole child, random stream
included (a Tune trial restarts from the donor's checkpoint; in [`agents.search.pbt`][] it
keeps its own stream); a member that diverges waits, untrained, for the next perturbation
instead of being replaced at once; Tune's quantiles round up (``ceil(population * fraction)``
members exploit, where [`agents.search.pbt`][] rounds); and Tune picks donors with Python's
``random`` module, so runs are not bit-identical.

Compute: ``sgd_steps`` is every child SGD step actually run by any trial, counted as the results
arrive in the driver, including the steps of members that were later overwritten.

Ray is an optional extra: ``pip install "hpenv[ray]"``.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agents.distributed import init_ray
from agents.engine import EpisodeRecord
from agents.search import perturb_tuple
from hpenv.config import EnvConfig
from hpenv.env import HPTuneEnv
from hpenv.extras import import_extra

ray = import_extra("ray", by="agents.pbt_tune (PBT on Ray Tune)")
tune = import_extra("ray", by="agents.pbt_tune (PBT on Ray Tune)", module="ray.tune")  # core Ray lacks Tune

__all__ = ["pbt_tune", "CPUS_PER_MEMBER"]

#: CPUs Ray reserves for each trial unless ``pbt_tune`` is told otherwise (the benchmark's
#: "PBT (Ray Tune)" method uses it): one child trains on one thread.
CPUS_PER_MEMBER = 1.0


def _member(config: dict[str, Any], *, env_kwargs: dict[str, Any], seed: int) -> None:
    """One member of the population: trains its child one env step per Tune iteration."""
    torch.set_num_threads(1)  # one child is far too small for more; the trial holds one CPU
    env = HPTuneEnv(**env_kwargs)
    space = env.hp_space
    _, info = env.reset(seed=seed)
    lineage: list[dict[str, Any]] = []
    ended = False  # the episode ended (diverged, or the last step): no child to continue
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:  # a restart: from this member's last step, or a donor's
        with checkpoint.as_directory() as folder:
            meta = json.loads((Path(folder) / "member.json").read_text())
            state = torch.load(Path(folder) / "child.pt", weights_only=True)
        lineage, ended, info = meta["lineage"], meta["ended"], meta["info"]
        if not ended:
            env.load_child_state(state)
    while len(lineage) < env.horizon:
        action = np.array([int(config[name]) for name in space.names])
        ran = 0
        if not ended:
            _, _, ended, _, step_info = env.step(action)
            info = {key: float(step_info[key]) for key in
                    ("val_accuracy", "val_loss", "test_accuracy", "diverged")}
            ran = env.steps_per_action
        lineage.append({**space.decode(action), "val_accuracy": info["val_accuracy"], "val_loss": info["val_loss"]})
        with tempfile.TemporaryDirectory() as folder:
            torch.save({} if ended else env.child_state(), Path(folder) / "child.pt")
            (Path(folder) / "member.json").write_text(
                json.dumps({"lineage": lineage, "ended": bool(ended), "info": info}))
            tune.report({**info, "sgd_steps_run": ran, "step": len(lineage)},
                        checkpoint=tune.Checkpoint.from_directory(folder))


class _CountSteps(tune.Callback):
    """Adds up the child SGD steps of every result of every trial, as they arrive."""

    def __init__(self) -> None:
        self.sgd_steps = 0

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info):
        self.sgd_steps += int(result["sgd_steps_run"])


def pbt_tune(seed: int, population: int = 8, *, interval: int = 2, fraction: float = 0.25,
             perturb_prob: float = 0.5, rng_seed: int = 0, address: str | None = None,
             cpus_per_member: float | None = None, **env_kwargs: Any) -> EpisodeRecord:
    """Population-based training with Ray Tune; the arguments of [`agents.search.pbt`][].

    Args:
        seed: evaluation seed: every member's child starts from ``reset(seed=seed)``.
        population: number of members (Tune trials).
        interval: env steps between perturbations.
        fraction: share of the population that exploits (bottom) and donates (top); at most 0.5.
        perturb_prob: probability that each index of an exploiting member's tuple moves to a
            neighbour (at least one moves).
        rng_seed: seeds the initial tuples and the exploration (with ``seed``).
        address: a Ray cluster to join; None uses the running one or starts a local one (and
            shuts it down afterwards).
        cpus_per_member: CPUs Ray reserves for each trial (a fraction runs more trials at once;
            default `CPUS_PER_MEMBER`).
        **env_kwargs: keyword arguments of ``HPTune-v1`` (``task``, ``horizon``, ...); a single
            task, not a task family.

    Returns:
        The [`EpisodeRecord`][agents.engine.EpisodeRecord] of the member with the best final validation
            accuracy (ties: lowest validation loss); ``sgd_steps`` counts every trial's steps.
    """
    if not 0 < fraction <= 0.5:
        raise ValueError(f"fraction must lie in (0, 0.5] (Tune's quantile_fraction), got {fraction!r}")
    config = EnvConfig.from_kwargs(env_kwargs)
    space, horizon, spa = config.resolve_space(), config.horizon, config.steps_per_action
    space.require_absolute("pbt_tune")  # its members' configs are grid positions, perturbed one notch at a time
    names = list(space.names)
    # the same draws as agents.search.pbt: the initial tuples first, then the exploration
    rng = np.random.default_rng([int(rng_seed), int(seed) % 2**63, 0xB7])
    initial = rng.integers(0, space.nvec, size=(population, len(space)))

    def explore(config: dict[str, Any]) -> dict[str, Any]:
        moved = perturb_tuple(np.array([config[name] for name in names]), space.nvec, rng, perturb_prob)
        return {**config, **{name: int(v) for name, v in zip(names, moved)}}

    param_space: dict[str, Any] = {"member": tune.grid_search(list(range(population)))}
    for j, name in enumerate(names):
        param_space[name] = tune.sample_from(lambda config, j=j: int(initial[config["member"], j]))
    scheduler = tune.schedulers.PopulationBasedTraining(
        time_attr="training_iteration", perturbation_interval=interval, quantile_fraction=fraction,
        custom_explore_fn=explore, synch=True,
    )
    counter = _CountSteps()
    owns_ray = init_ray(address)
    t0 = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory() as storage:
            trainable = tune.with_resources(
                tune.with_parameters(_member, env_kwargs=dict(env_kwargs), seed=int(seed)),
                {"cpu": CPUS_PER_MEMBER if cpus_per_member is None else cpus_per_member})
            tuner = tune.Tuner(
                trainable, param_space=param_space,
                tune_config=tune.TuneConfig(scheduler=scheduler, metric="val_accuracy", mode="max"),
                run_config=tune.RunConfig(storage_path=storage, name="pbt", verbose=0,
                                          stop={"training_iteration": horizon}, callbacks=[counter]),
            )
            grid = tuner.fit()
            results = [grid[i] for i in range(len(grid))]
            errors = [r.error for r in results if r.error is not None]
            if errors:
                raise RuntimeError(f"{len(errors)} PBT trial(s) failed; the first: {errors[0]}") from errors[0]
            best = max(results, key=lambda r: (r.metrics["val_accuracy"], -r.metrics["val_loss"]))
            with best.checkpoint.as_directory() as folder:
                lineage = json.loads((Path(folder) / "member.json").read_text())["lineage"]
    finally:
        if owns_ray:
            ray.shutdown()
    wall = time.perf_counter() - t0
    first = HPTuneEnv(**env_kwargs)
    _, reset_info = first.reset(seed=int(seed))
    metrics = best.metrics
    return EpisodeRecord(
        seed=int(seed), test_accuracy=float(metrics["test_accuracy"]),
        val_accuracy=float(metrics["val_accuracy"]), sgd_steps=counter.sgd_steps, wall_time_s=wall,
        episode_return=float(metrics["val_accuracy"] - reset_info["val_accuracy"]),
        diverged=bool(metrics["diverged"]), schedule=lineage,
        # as agents.search.pbt: the chosen lineage is one episode's training, the rest is search
        search_sgd_steps=counter.sgd_steps - min(counter.sgd_steps, horizon * spa),
    )
