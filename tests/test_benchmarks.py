"""The speed scripts under benchmarks/ run end to end and print what the README quotes."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def _run(script: str, *args: str) -> str:
    res = subprocess.run([sys.executable, str(BENCH / script), *args, "--threads", "1"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    return res.stdout


def test_env_throughput_reports_every_method_and_memory():
    out = _run("env_throughput.py", "--sizes", "1,2", "--rounds", "2", "--steps-per-action", "2")
    rows = re.findall(r"^\s+(\d+) (PyTorch loop|single loop|SyncVectorEnv|native vector)\s+(\d+)\s+[\d.]+\s+[\d.]+%\s+([\d.]+)x$",
                      out, flags=re.M)
    assert {(int(k), m) for k, m, *_ in rows} == {(k, m) for k in (1, 2) for m in
                                                  ("PyTorch loop", "single loop", "SyncVectorEnv", "native vector")}
    assert all(int(sps) > 0 for _, _, sps, _ in rows)
    assert all(float(r) == 1.0 for _, m, _, r in rows if m == "SyncVectorEnv")
    assert re.search(r"native vector env at K=2: rss_peak_mb=\d+, rss_after_imports_mb=\d+", out)


def test_env_overhead_reports_the_ratio():
    out = _run("env_overhead.py", "--task", "wine", "--rounds", "3", "--steps-per-action", "2")
    assert re.search(r"ratio env/reference: median \d+\.\d+ \(IQR \d+\.\d+-\d+\.\d+\)", out)
