"""Benchmark v3's headline per suite: ``python benchmarks/v3/headline.py`` (after the registered runs).

Assembles ``benchmarks/results/v3/<suite>/`` from the test run (``benchmarks/results/v3/test``), the transfer
run (``benchmarks/results/v3/transfer``) and the oracles on test members (``<suite>/test-oracles``) with
[`agents.bench.v3.headline.assemble`][]: ``results.csv``, ``paired.csv``, ``oracles.csv``, ``results.md`` and
the test run's plots. Prints the primary analysis on test for the README.

    python benchmarks/v3/headline.py                      # every suite of the protocol
    python benchmarks/v3/headline.py --suite v3/stream
"""

from __future__ import annotations

import argparse
from pathlib import Path

from agents.bench.v3.headline import assemble
from agents.bench.v3.statistics import protocol_table

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default=str(ROOT / "benchmarks/results/v3"))
    parser.add_argument("--protocol", default=str(ROOT / "benchmarks/v3/protocol.toml"))
    parser.add_argument("--suite", action="append", help="a v3 suite (repeatable; default: every suite of the protocol)")
    args = parser.parse_args()
    for suite in args.suite or protocol_table(args.protocol, "protocol")[1]["suites"]:
        found = assemble(args.results, suite)
        print(f"{suite}: -> {Path(args.results) / suite.split('/', 1)[1]}"
              + (f" (not yet run: {', '.join(found['missing'])})" if found["missing"] else ""))
        print("| reference | split | difference (points) | 95% simultaneous | verdict |")
        print("|---|---|---:|---|---|")
        for r in found["paired"]:
            print(f"| {r['reference']} | {r['split']} | {100 * float(r['mean_diff']):+.2f} | "
                  f"[{100 * float(r['ci_low']):+.2f}, {100 * float(r['ci_high']):+.2f}] | {r['verdict']} |")


if __name__ == "__main__":
    main()
