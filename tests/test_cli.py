"""The hptune command: run folders, resume after a real kill, evaluation, tasks, errors."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

TINY = ["--task", "wine", "--horizon", "3", "--steps-per-action", "4", "--num-envs", "4",
        "--eval-episodes", "2", "--no-progress"]


def hptune(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "agents.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def test_tasks_lists_builtin_tasks():
    res = hptune("tasks")
    assert res.returncode == 0, res.stderr
    for name in ("digits", "wine", "breast_cancer", "iris", "synthetic", "mnist5k"):
        assert name in res.stdout


def test_train_writes_run_folder_and_summary(tmp_path):
    out = tmp_path / "run"
    res = hptune("train", *TINY, "--episodes", "16", "--out", str(out))
    assert res.returncode == 0, res.stderr
    for name in ("config.json", "metrics.csv", "summary.json", "summary.md", "learning_curve.png",
                 "schedule.png", "checkpoints/last.pt"):
        assert (out / name).exists(), name
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    assert [int(float(r["time/episodes"])) for r in rows] == [8, 16]
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["results"]) == {"RecurrentReinforce (greedy)", "random", "fixed default"}
    for results in summary["results"].values():
        assert len(results) == 2 and all(0.0 <= r["test_accuracy"] <= 1.0 for r in results)
    assert "RecurrentReinforce (greedy)" in res.stdout and "learning_rate=" in res.stdout


def test_killed_run_resumes_from_last_checkpoint(tmp_path):
    out = tmp_path / "run"
    args = [sys.executable, "-m", "agents.cli", "train", *TINY, "--episodes", "400", "--out", str(out)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    ckpt = out / "checkpoints" / "last.pt"
    deadline = time.time() + 240
    while time.time() < deadline and not (ckpt.exists() and len(_episodes(out)) >= 2):
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)  # a real kill: no chance to clean up
    proc.wait()
    done_before = _episodes(out)
    assert done_before and done_before[-1] < 400, "the run must be killed mid-way"

    # shorten the remaining work, then resume
    cfg = json.loads((out / "config.json").read_text())
    cfg["episodes"] = done_before[-1] + 16
    (out / "config.json").write_text(json.dumps(cfg))
    res = hptune("train", "--resume", str(out), "--no-progress")
    assert res.returncode == 0, res.stderr
    assert "resumed from" in res.stdout
    after = _episodes(out)
    assert after[-1] == cfg["episodes"]
    assert after == sorted(set(after)), "no episode counted twice after resuming"
    assert after[:len(done_before)] == done_before


def _episodes(out: Path) -> list[int]:
    try:
        return [int(float(r["time/episodes"])) for r in csv.DictReader(open(out / "metrics.csv"))]
    except (FileNotFoundError, KeyError):
        return []


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("trained") / "run"
    res = hptune("train", *TINY, "--episodes", "8", "--out", str(out))
    assert res.returncode == 0, res.stderr
    return out


def test_eval_prints_per_episode_accuracy_and_tuples(trained_run):
    res = hptune("eval", "--checkpoint", str(trained_run / "checkpoints" / "last.pt"), "--task", "iris",
                 "--episodes", "3")
    assert res.returncode == 0, res.stderr
    assert res.stdout.count("test_accuracy=") == 3
    assert res.stdout.count("learning_rate=") == 3 * 3  # three episodes of horizon 3
    assert "on iris" in res.stdout


def test_eval_rejects_a_file_that_is_not_a_checkpoint(tmp_path):
    bogus = tmp_path / "notes.pt"
    bogus.write_text("not a checkpoint")
    res = hptune("eval", "--checkpoint", str(bogus))
    assert res.returncode == 2
    assert str(bogus) in res.stderr and "error:" in res.stderr


def test_fixed_and_random_agents_need_no_training(tmp_path):
    res = hptune("train", *TINY, "--agent", "fixed", "--out", str(tmp_path / "fixed"))
    assert res.returncode == 0, res.stderr
    summary = json.loads((tmp_path / "fixed" / "summary.json").read_text())
    assert list(summary["results"]) == ["fixed default"]
    assert summary["train_sgd_steps"] == 0


def test_sb3_agent_trains_and_checkpoints(tmp_path):
    out = tmp_path / "ppo"
    res = hptune("train", *TINY, "--agent", "ppo", "--episodes", "16", "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert (out / "checkpoints" / "last.zip").exists()
    assert "ppo (greedy)" in res.stdout
