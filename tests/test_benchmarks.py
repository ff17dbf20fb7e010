"""The speed scripts under benchmarks/speed/ run end to end and print the ratios the docs quote."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "speed"


def _run(script: str, *args: str) -> str:
    res = subprocess.run([sys.executable, str(BENCH / script), *args, "--threads", "1"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    return res.stdout


def test_env_throughput_reports_every_method_and_memory_for_both_families():
    out = _run("env_throughput.py", "--family", "both", "--sizes", "1,2", "--rounds", "2", "--steps-per-action", "2")
    assert re.search(r"^mlp children on digits.*peak: 2048\^2 matmul", out, flags=re.M)
    assert re.search(r"^cnn children on mnist5k.*peak: conv ", out, flags=re.M)
    peaks = re.findall(r"^(mlp|cnn)\s+(\d+) peak\s+([\d.]+)$", out, flags=re.M)
    assert {(f, int(k)) for f, k, _ in peaks} == {(f, k) for f in ("mlp", "cnn") for k in (1, 2)}
    assert all(float(rate) > 0 for *_, rate in peaks)
    rows = re.findall(r"^(mlp|cnn)\s+(\d+) (PyTorch loop|SyncVectorEnv|native vector)\s+(\d+)\s+([\d.]+)\s+[\d.]+%"
                      r"\s+([\d.]+)x\s+([\d.]+)x$", out, flags=re.M)
    methods = ("PyTorch loop", "SyncVectorEnv", "native vector")
    assert {(f, int(k), m) for f, k, m, *_ in rows} == {(f, k, m) for f in ("mlp", "cnn") for k in (1, 2) for m in methods}
    assert all(int(sps) > 0 and float(gflops) > 0 for *_, sps, gflops, _, _ in rows)
    assert all(float(vs_sync) == 1.0 for _, _, m, _, _, vs_sync, _ in rows if m == "SyncVectorEnv")
    assert all(float(vs_loop) == 1.0 for _, _, m, _, _, _, vs_loop in rows if m == "PyTorch loop")
    for family in ("mlp", "cnn"):
        assert re.search(fr"^{family}: native vector env at K=2: rss_peak_mb=\d+, rss_after_imports_mb=\d+", out, flags=re.M)


def test_env_overhead_reports_the_ratio():
    out = _run("env_overhead.py", "--task", "wine", "--rounds", "3", "--steps-per-action", "2")
    assert re.search(r"ratio env/reference: median \d+\.\d+ \(IQR \d+\.\d+-\d+\.\d+\)", out)
