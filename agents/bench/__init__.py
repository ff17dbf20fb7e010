"""hpenv's benchmarks, one generation per room.

* [`agents.bench.v1`][]: benchmark v1, frozen (``hptune bench``; [`agents.bench.v1.benchmark`][] from
  Python), with its protocol, report and plot.
* [`agents.bench.v2`][]: benchmark v2, the registered protocol (``hptune bench --v2``), with
  [`preregistration`][agents.bench.preregistration] (the protocol file and its suite plans),
  [`registered`][agents.bench.registered] (what its registered run chose), [`ledger`][agents.bench.ledger],
  [`verify`][agents.bench.verify], [`member_stats`][agents.bench.member_stats] and
  [`report_v2`][agents.bench.report_v2].
* [`agents.bench.v3`][]: benchmark v3's gates, analysis and ledger (its protocol is a draft).
* Shared by the generations: [`methods`][agents.bench.methods] (the methods, by kind, and the budgets
  they read), [`candidates`][agents.bench.candidates], [`stats`][agents.bench.stats],
  [`plots`][agents.bench.plots], [`parallel`][agents.bench.parallel] and [`common`][agents.bench.common].

Importing this package imports none of them, so a generation's code runs none of another's. The
names it exported while it was v1's facade (``from agents.bench import benchmark``, ``Method``, ...)
still resolve, on first use and with a DeprecationWarning that names the module they now live in.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

#: The names this package exported before 0.2.0, and the module that holds each now.
MOVED = {
    **dict.fromkeys(("benchmark", "run_and_report", "main", "Protocol", "PRESETS", "CSV_COLUMNS", "PAIRED_COLUMNS",
                     "HEADROOM_COLUMNS"), "agents.bench.v1"),
    **dict.fromkeys(("METHODS", "DEFAULT_METHODS", "REFERENCES", "Method", "PolicyMethod", "register_method",
                     "resolve_method", "load_agent"), "agents.bench.methods"),
}


def __getattr__(name: str) -> Any:
    """A name of `MOVED`, imported from its module on first use (PEP 562) and kept here, so that it
    warns once."""
    module = MOVED.get(name)
    if module is None:  # also how ``from agents.bench import v2`` falls through to importing the submodule
        raise AttributeError(f"module 'agents.bench' has no attribute {name!r}")
    warnings.warn(f"agents.bench.{name} is deprecated; import it from {module}", DeprecationWarning, stacklevel=2)
    value = globals()[name] = getattr(importlib.import_module(module), name)
    return value
