"""Every range of child seeds the project draws from, in one place, with a check that they are disjoint.

A result is honest only if the seeds it reports were never trained or chosen on. Each user
imports its range from here instead of writing the number: held-out evaluation (``hptune eval``
and the benchmark's test children), ``hptune train``'s report, the benchmark's selection
children (which also choose grid search's tuples), and the training draws of the learners.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

__all__ = ["SeedRange", "HELD_OUT", "REPORT", "SELECTION", "V2_SELECTION", "TRAINING_DRAW", "RANGES", "overlaps"]


@dataclass(frozen=True)
class SeedRange:
    """The seeds ``start <= s < stop``, named for the error messages and the docs."""

    name: str
    start: int
    stop: int

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.stop:
            raise ValueError(f"seed range {self.name!r}: need 0 <= start < stop, got [{self.start}, {self.stop})")

    def __contains__(self, seed: object) -> bool:
        return isinstance(seed, int) and self.start <= seed < self.stop

    def seeds(self, n: int, offset: int = 0) -> list[int]:
        """The ``n`` seeds ``start + offset + i``; a ValueError if they leave the range."""
        if n < 0 or offset < 0 or self.start + offset + n > self.stop:
            raise ValueError(f"{n} seeds from offset {offset} leave the {self.name} range "
                             f"[{self.start}, {self.stop})")
        return [self.start + offset + i for i in range(n)]

    def overlaps(self, other: "SeedRange") -> bool:
        return self.start < other.stop and other.start < self.stop


#: The benchmark's evaluation seeds of test children and ``hptune eval``'s default: ``2**31 + i``.
HELD_OUT = SeedRange("held-out evaluation", 2**31, 2**31 + 1_000_000)
#: The seeds ``hptune train`` reports on: held out from training and from the benchmark's evaluation.
REPORT = SeedRange("hptune train report", 2**31 + 1_000_000, 2**31 + 2_000_000)
#: Children trained on selection members to choose anything (the benchmark's references, RR's
#: action space, ``hptune train --task SUITE``'s references) and grid search's default stages.
SELECTION = SeedRange("selection", 1_000_000, 1_001_000)
#: Benchmark v2's selection children (its protocol file names them): unlike v1's `SELECTION`,
#: outside every other range, the training draws included.
V2_SELECTION = SeedRange("v2 selection", 2**31 + 2_000_000, 2**31 + 3_000_000)
#: What learners draw their training episodes' seeds from: the rollouts of [`agents.reinforce.RecurrentReinforce`][]
#: ([`agents.rollout`][]) and
#: [`agents.search.NASController`][]. It contains `SELECTION`: those draws run on
#: train members (or, for NAS, on its own training task), never on the members selection
#: scores, so a shared number is a different child; the values stay so results stay as they were.
TRAINING_DRAW = SeedRange("training draws", 0, 2**31 - 1)

#: Every range, for the disjointness check.
RANGES: tuple[SeedRange, ...] = (HELD_OUT, REPORT, SELECTION, V2_SELECTION, TRAINING_DRAW)
#: Overlaps that are known and harmless (see `TRAINING_DRAW`); any other is a bug.
ALLOWED_OVERLAPS = frozenset({frozenset({"selection", "training draws"})})


def overlaps(ranges: Iterable[SeedRange] = RANGES) -> list[tuple[str, str]]:
    """The pairs of ``ranges`` that share a seed, other than `ALLOWED_OVERLAPS`."""
    ranges = list(ranges)
    return [(a.name, b.name) for i, a in enumerate(ranges) for b in ranges[i + 1:]
            if a.overlaps(b) and frozenset({a.name, b.name}) not in ALLOWED_OVERLAPS]
