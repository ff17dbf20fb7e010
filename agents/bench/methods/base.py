"""The registry of benchmark methods: [`Method`][agents.bench.methods.base.Method], `METHODS`,
[`register_method`][agents.bench.methods.base.register_method] and
[`load_agent`][agents.bench.methods.base.load_agent] (a user's ``"package.module:Name"``). Every module of
[`agents.bench.methods`][] registers into it; [`agents.bench.methods.resolve_method`][] builds from it."""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any, Callable

from agents.engine import EpisodeRecord

class Method:
    """Base class: a name, a one-off cost, ``prepare`` and ``run``."""

    name: str = ""
    source: str = "built-in"
    extras: tuple[str, ...] = ()
    """Optional extras (`hpenv.extras.EXTRAS`) the method imports; the benchmark checks them
    for every method before it trains any child."""
    version: str = "1"
    """The label the v2 ledger files the method under; a change after a test result is a new label."""
    learned: bool = False
    """Meta-trained: benchmark v2 prepares (and reports) it once per meta-training seed."""
    replayable: bool = True
    """Each deployed child is reproduced by its member, seed and applied schedule alone (``hptune
    bench --verify`` replays it); False where the child's weights came from other children (PBT)."""

    def __init__(self) -> None:
        self.one_off_sgd_steps = 0
        self.one_off_wall_time_s = 0.0
        self.note = ""

    def settings(self) -> dict:
        """Everything that changes what the method does (JSON), for the ledger's fingerprint."""
        return {}

    def prepare(self, ctx) -> None:  # noqa: B027  (optional hook)
        """Choose or learn anything needed before deployment (train / selection members only)."""

    def run(self, ctx, member: str, seeds: list[int]) -> list[EpisodeRecord]:
        raise NotImplementedError


METHODS: dict[str, Callable[[], Method]] = {}


def register_method(name: str) -> Callable:
    """Class decorator: ``@register_method("my method")`` makes ``resolve_method("my method")`` build it."""

    def deco(cls):
        cls.name = name
        METHODS[name] = cls
        return cls

    return deco


# ---------------------------------------------------------------------- policies (built-in and users')
def load_agent(spec: str) -> Any:
    """Import ``"package.module:Name"`` and return ``Name`` (a class, an object or a callable).

    The current directory is put on ``sys.path`` first (as ``python -m`` does).
    """
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"--agent must look like package.module:Name, got {spec!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ImportError(f"--agent {spec}: cannot import module {module_name!r} ({err})") from err
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"--agent {spec}: module {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    return obj
