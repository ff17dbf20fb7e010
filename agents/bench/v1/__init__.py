"""Benchmark v1, frozen: instance sets with headroom, equal deployment budgets, paired statistics.

From the command line::

    hptune bench --quick --out bench-quick/              # one suite, 20 pairs (~4.5 min on 2 CPU cores)
    hptune bench --out bench/                            # the three MLP suites, 36 pairs each (~14 min)
    hptune bench --suite v1/mnist5k-scaled --out cnn/    # the CNN suite, on its own (slow on CPU)
    hptune bench --quick --out b/ --agent mypkg.policies:MyPolicy   # your policy beside ours

From Python::

    import hpenv
    from agents.bench.v1 import benchmark

    def lr_decay(obs):                                   # a plain callable obs -> action ...
        progress = obs[hpenv.feature_index("progress")]       # t / horizon
        return [3, 0, 4 if progress < 0.5 else 3, 2]

    result = benchmark({"my decay": lr_decay}, out="bench-mine", quick=True)

Modules: [`protocol`][agents.bench.v1.protocol] (suites, selection, headroom gate, resumable runs),
[`report`][agents.bench.v1.report] (``paired.csv``, ``results.md``) and [`plots`][agents.bench.v1.plots];
shared with the later generations: [`methods`][agents.bench.methods] (methods registered by name;
``pkg.mod:Name`` the same way) and [`stats`][agents.bench.stats] (paired statistics). Outputs in
``out``: ``results.csv``, ``paired.csv``, ``headroom.csv``, ``results.md``,
``accuracy_vs_compute.png``, ``config.json`` and ``cache/`` (what a resumed run reuses).

v1's results are frozen: its code changes only where its results stay what they were.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

from agents.bench.methods import (DEFAULT_METHODS, METHODS, REFERENCES, Method, PolicyMethod, load_agent,
                                  register_method, resolve_method)
from agents.bench.v1.protocol import CSV_COLUMNS, HEADROOM_COLUMNS, PRESETS, Protocol, run_protocol
from agents.bench.v1.report import PAIRED_COLUMNS, write_reports

__all__ = ["benchmark", "Protocol", "PRESETS", "METHODS", "DEFAULT_METHODS", "REFERENCES", "Method",
           "PolicyMethod", "register_method", "resolve_method", "load_agent", "CSV_COLUMNS", "PAIRED_COLUMNS",
           "HEADROOM_COLUMNS", "run_and_report", "main"]


def benchmark(policies: Mapping[str, Any] | None = None, out: str | os.PathLike = "bench", *,
              suites: Sequence[str] | None = None, methods: Sequence[str] | None = None, quick: bool = False,
              protocol: Protocol | None = None, seeds: int | None = None, progress: bool = False,
              verbose: bool = True) -> dict:
    """Run the v1 protocol and write its files to ``out``; returns rows, headroom and notes.

    Args:
        policies: your policies, ``{"name": policy}`` (a class taking the env, an object with
            ``predict(obs, state=None, episode_start=True, deterministic=True)``, or a callable
            ``obs -> action``); deployed greedily on the same test children as every method.
        out: the run folder; running again with the same folder resumes.
        suites: instance sets (default: the preset's); ``hpenv.instance_sets()`` lists them.
        methods: names of `METHODS` or ``"pkg.mod:Name"`` (default: `DEFAULT_METHODS`);
            the two references of the headroom gate always run.
        quick: start from ``PRESETS["quick"]`` instead of ``PRESETS["full"]``.
        protocol: a [`Protocol`][agents.bench.v1.protocol.Protocol] (overrides ``quick``).
        seeds: evaluation seeds per test member.
    """
    p = dataclasses.replace(protocol or PRESETS["quick" if quick else "full"])
    if suites is not None:
        p.suites = tuple(suites)
    if seeds is not None:
        p.seeds = int(seeds)
    specs: list[Any] = list(methods if methods is not None else (p.methods or DEFAULT_METHODS))
    for name, pol in (policies or {}).items():
        if name in METHODS:
            raise ValueError(f"policy name {name!r} clashes with a built-in method; rename it")
        specs.append(PolicyMethod(name, pol))
    t0 = time.perf_counter()
    log = (lambda msg: print(f"[{time.perf_counter() - t0:6.0f}s] {msg}", flush=True)) if verbose else (lambda m: None)
    return run_and_report(p, out, specs, progress=progress, log=log)


def run_and_report(protocol: Protocol, out: str | os.PathLike, methods: Sequence[Any], *, progress: bool,
                   log, command: str | None = None) -> dict:
    """[`run_protocol`][agents.bench.v1.protocol.run_protocol], then the reports, written once from its rows
    (``results.md``, ``paired.csv``, the plot); what [`benchmark`][agents.bench.v1.benchmark] and
    ``hptune bench`` both run."""
    result = run_protocol(protocol, out, methods=methods, progress=progress, log=log)
    write_reports(Path(out), result["rows"], result["headroom"], notes=result["notes"], protocol=protocol,
                  wall_s=result["wall_s"], cpu_s=result["cpu_s"], command=command)
    return result


def main(args: argparse.Namespace) -> int:
    """``hptune bench --out DIR [--quick] [--suite NAME] [--agent pkg.mod:Name ...] [--methods a,b] [--seeds N]``."""
    p = dataclasses.replace(PRESETS["quick" if args.quick else "full"])
    if getattr(args, "suite", None):
        p.suites = tuple(s.strip() for s in args.suite.split(",") if s.strip())
    if getattr(args, "seeds", None):
        p.seeds = int(args.seeds)
    specs = list(getattr(args, "methods", None) or p.methods or DEFAULT_METHODS)
    specs += list(getattr(args, "agent", None) or [])
    t0 = time.perf_counter()
    command = "hptune " + " ".join(sys.argv[1:]) if sys.argv and "bench" in sys.argv else None
    result = run_and_report(p, args.out, specs, progress=not getattr(args, "no_progress", False),
                            log=lambda msg: print(f"[{time.perf_counter() - t0:6.0f}s] {msg}", file=sys.stderr,
                                                  flush=True), command=command)
    print((Path(args.out) / "results.md").read_text())
    print(f"wrote {len(result['rows'])} rows to {Path(args.out) / 'results.csv'} in {result['wall_s']:.0f} s "
          f"({result['cpu_s']:.0f} s CPU time)")
    return 0
