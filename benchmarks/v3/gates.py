"""Benchmark v3's gates on one split of each suite: ``python benchmarks/v3/gates.py``.

Runs the selection stage of :mod:`agents.bench.v3.gates` with the ``[selection]`` table of
``benchmarks/v3/protocol.toml`` and writes ``headroom.csv``, ``members.csv`` and ``selection.json``
into ``benchmarks/results/v3/<suite>/`` (``--split dev`` writes ``.../<suite>/dev/``: designs are
tried there; the registered design is gated once, on selection members). Every member's units are
cached under ``--cache`` (resumable: a killed run continues).

    python benchmarks/v3/gates.py                                 # both suites, selection members
    python benchmarks/v3/gates.py --suite v3/stream --split dev --members 12 --out /tmp/dev
    # a design tried on dev members: the same members, another episode or window
    python benchmarks/v3/gates.py --suite v3/stream --split dev --variant steps_per_action=50 --variant 'window=[2,9]'
    # cheaper settings for trying designs (any key of the [selection] table)
    python benchmarks/v3/gates.py --split dev --set 'static_candidates={"dropout": [0.0, 0.2]}'
    # the per-member oracles on the frozen protocol's first [budgets] oracle_test_members test members,
    # filed in the ledger; written to benchmarks/results/v3/<suite>/test-oracles/
    python benchmarks/v3/gates.py --split test --suite v3/stream
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import hpenv
from agents.bench.v3.gates import load_gate_settings, oracles_on_test, run_gates
from agents.bench.v3.statistics import protocol_table
from hpenv.instances import variant_name

ROOT = Path(__file__).resolve().parents[2]


def _assignments(pairs: list[str]) -> dict:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"expected KEY=VALUE (VALUE in JSON), got {pair!r}")
        value = json.loads(value)
        out[key] = tuple(value) if isinstance(value, list) else value
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protocol", default=str(ROOT / "benchmarks/v3/protocol.toml"))
    parser.add_argument("--suite", action="append", help="a v3 suite (repeatable; default: every suite of the protocol)")
    parser.add_argument("--split", default="selection", choices=["dev", "selection", "test"])
    parser.add_argument("--members", type=int, default=0, help="only the first N members of the split (0: all)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/v3"))
    parser.add_argument("--cache", default=str(ROOT / "runs/v3-selection-cache"))
    parser.add_argument("--workers", type=int, default=None, help="parallel units (default: one per core)")
    parser.add_argument("--variant", action="append", default=[], help="KEY=JSON: a design to try (a suite field)")
    parser.add_argument("--set", action="append", default=[], help="KEY=JSON: a [selection] setting to override")
    args = parser.parse_args()
    settings = load_gate_settings(args.protocol)
    overrides = _assignments(args.set)
    if overrides:
        settings = dataclasses.replace(settings, **overrides, table={**settings.table, **overrides})
    if (args.variant or overrides) and args.split != "dev":
        raise SystemExit("designs and settings are tried on dev members (--split dev); the registered design is "
                         "gated once, on selection members, and its oracles found once on test members")
    if args.split == "test" and args.members:
        raise SystemExit("--members: the oracles on test run on the protocol's [budgets] oracle_test_members")

    suites = args.suite or protocol_table(args.protocol, "protocol")[1]["suites"]
    for suite in suites:
        changes = _assignments(args.variant)
        suite = variant_name(suite, changes) if changes else suite
        members = hpenv.instance_set(suite, args.split)
        members = members[:args.members] if args.members else members
        out = Path(args.out) / suite.split("/", 1)[1] / {"selection": "", "test": "test-oracles"}.get(args.split,
                                                                                                   args.split)
        if overrides:
            out = out / ",".join(f"{k}={json.dumps(v)}" for k, v in overrides.items()).replace(" ", "")
        if args.split == "test":
            rows = oracles_on_test(suite, args.protocol, out, args.cache, workers=args.workers)
        else:
            rows = run_gates(suite, settings, out, args.cache, split=args.split, members=members,
                             workers=args.workers)
        for r in rows:
            print(f"  {r['gate']:<12} {r['method']:<31} vs {r['reference']:<20} {100 * r['gain']:+6.2f} "
                  f"[{100 * r['ci_low']:+.2f}, {100 * r['ci_high']:+.2f}] (n={r['n_members']}, threshold "
                  f"{100 * r['threshold']:.0f}) {'passes' if r['passes'] else ''}")


if __name__ == "__main__":
    main()
