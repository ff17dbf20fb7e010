"""What benchmark v3's selection stage chose, with its protocol, shipped with the package: what
``hptune train --task v3/...`` compares with.

A suite's gate run (``benchmarks/v3/gates.py``) writes the global references it chose on the
selection members to ``benchmarks/results/v3/<suite>/references.json``, in the repository; the
main job needs them, and the protocol's ``[statistics]``, in an installed wheel too. `SHIPPED_V3`
holds copies of both (package data); [`shipped_problems`][agents.bench.v3.shipped.shipped_problems]
lists every copy that differs from the repository's file (a test asserts there is none), and
[`sync_shipped`][agents.bench.v3.shipped.sync_shipped] makes them equal after a new gate run or a
protocol edit.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from agents.bench.preregistration import REGISTERED_DATA
from agents.bench.v3.gates import load_references
from agents.bench.v3.statistics import StatisticsSettings, load_statistics

__all__ = ["SHIPPED_V3", "SHIPPED_PROTOCOL", "shipped_pairs", "shipped_problems", "sync_shipped",
           "shipped_references", "shipped_statistics"]

#: The package data folder of benchmark v3.
SHIPPED_V3 = REGISTERED_DATA / "v3"
#: The copy of ``benchmarks/v3/protocol.toml``.
SHIPPED_PROTOCOL = SHIPPED_V3 / "protocol.toml"
#: Suites whose selection stage ran and chose references (the image suite has not: no GPU was lent).
SUITES = ("v3/mlp", "v3/stream")


def _references_file(suite: str) -> Path:
    return SHIPPED_V3 / f"{suite.split('/', 1)[1]}-references.json"


def shipped_pairs(root: str | Path) -> dict[Path, Path]:
    """``{shipped copy: the file it copies}`` for the checkout at ``root``."""
    root = Path(root)
    pairs = {SHIPPED_PROTOCOL: root / "benchmarks" / "v3" / "protocol.toml"}
    for suite in SUITES:
        pairs[_references_file(suite)] = root / "benchmarks" / "results" / suite / "references.json"
    return pairs


def shipped_problems(root: str | Path) -> list[str]:
    """Every shipped copy that is missing or differs from the checkout's file at ``root``, in words."""
    problems = []
    for copy, source in shipped_pairs(root).items():
        if not copy.is_file() or copy.read_bytes() != source.read_bytes():
            problems.append(f"{copy} is not a copy of {source}")
    return problems


def sync_shipped(root: str | Path) -> None:
    """Copy the checkout's protocol and references into the package data (after a gate run or a protocol edit)."""
    for copy, source in shipped_pairs(root).items():
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, copy)


def shipped_references(suite: str) -> tuple[dict, dict]:
    """The global references the selection stage of ``suite`` chose, ready to deploy
    ([`load_references`][agents.bench.v3.gates.load_references]: ``{name: schedule or rule}``), and the
    file's own fields (``split``, ``cache``: the stage's cache key, ``horizon``).

    Raises:
        ValueError: when no shipped references exist for ``suite`` (its gate has not run).
    """
    path = _references_file(suite)
    if suite not in SUITES or not path.is_file():
        raise ValueError(f"no references of {suite!r} ship with hpenv: its selection stage has not run (suites with "
                         f"references: {', '.join(SUITES)})")
    return load_references(path), json.loads(path.read_text())


def shipped_statistics() -> StatisticsSettings:
    """The ``[statistics]`` table of the shipped protocol (the registered primary analysis)."""
    return load_statistics(SHIPPED_PROTOCOL)
