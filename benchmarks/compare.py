"""The v1 benchmark, as a script: the same as ``hptune bench`` (same arguments).

    python benchmarks/compare.py --quick --out /tmp/bench-quick      # a smoke test
    python benchmarks/compare.py --suite v1/digits-scaled --out runs/v1-digits   # one suite, 36 pairs
    python benchmarks/compare.py --suite v1/mnist5k-scaled --out cnn # the CNN suite, on its own
    python benchmarks/compare.py --quick --out b --agent mypkg.mod:MyPolicy

See the package ``agents.bench`` for the protocol and ``agents.bench.benchmark`` for the Python API.
"""

from __future__ import annotations

import sys

from agents.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
