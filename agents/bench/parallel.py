"""Independent units of the benchmark (members, candidates, meta-training seeds) on every core.

[`run_units`][agents.bench.parallel.run_units] calls ``fn(unit)`` for each unit and yields ``(index, result)``
as units finish: on Ray (the project's way to scale out; a local cluster with one worker per core unless one
is running) when the ``ray`` extra is installed and ``workers > 1``, else one after another in this
process. The caller writes each result as it arrives, so a killed run keeps what finished. Every
unit's children train on one torch thread, as the benchmark's deployed children always do, so a
unit's result is the same on either path.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Iterator, Sequence

__all__ = ["default_workers", "run_units"]


def default_workers() -> int:
    """One worker per core of this machine (``HPENV_BENCH_WORKERS`` overrides)."""
    return int(os.environ.get("HPENV_BENCH_WORKERS", os.cpu_count() or 1))


def _one_thread_call(fn: Callable[[Any], Any], unit: Any) -> Any:
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return fn(unit)
    finally:
        torch.set_num_threads(threads)


def run_units(fn: Callable[[Any], Any], units: Sequence[Any], *, workers: int | None = None) -> Iterator[tuple[int, Any]]:
    """Yield ``(i, fn(units[i]))`` for every unit, in the order they finish.

    ``fn`` must be a module-level function and units picklable for the Ray path. With
    ``workers`` (default [`default_workers`][agents.bench.parallel.default_workers]) of 1, or without Ray,
    units run serially in order.
    """
    workers = default_workers() if workers is None else int(workers)
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    ray = None
    if workers > 1 and len(units) > 1:
        try:
            import ray  # the optional extra: without it, the serial path
        except ImportError:
            ray = None
    if ray is None:
        for i, unit in enumerate(units):
            yield i, _one_thread_call(fn, unit)
        return

    from agents.distributed import init_ray

    # Ray starts its workers at niceness 15 (background work beside a busy driver); here the
    # workers are the job and the driver waits, so they run at the driver's priority
    os.environ.setdefault("RAY_worker_niceness", "0")
    started = init_ray(num_cpus=workers)
    try:
        remote = ray.remote(num_cpus=1, max_retries=2)(_one_thread_call)
        fn_ref = ray.put(fn)
        pending = {remote.remote(fn_ref, unit): i for i, unit in enumerate(units)}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                yield pending.pop(ref), ray.get(ref)
    finally:
        if started:
            ray.shutdown()
