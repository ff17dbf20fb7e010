"""The hptune command: run folders, resume after a real kill, evaluation, tasks, errors."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import gymnasium as gym
import pytest

import hpenv

TINY = ["--task", "wine", "--horizon", "3", "--steps-per-action", "4", "--num-envs", "4", "--group-size", "2",
        "--eval-episodes", "2", "--runners", "0", "--no-progress"]


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


@pytest.mark.parametrize("agent", ["ppo", "a2c", "recurrent-ppo"])
def test_sb3_agent_trains_and_checkpoints(tmp_path, agent):
    out = tmp_path / agent
    res = hptune("train", *TINY, "--agent", agent, "--episodes", "8", "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["last.pt"]  # no pickled .zip
    assert f"{agent} (greedy)" in res.stdout
    res = hptune("eval", "--checkpoint", str(out / "checkpoints" / "last.pt"), "--episodes", "1")
    assert res.returncode == 0, res.stderr
    assert res.stdout.count("test_accuracy=") == 1


# ---------------------------------------------------------------------- checkpoints that cannot run code
def _error_line(res: subprocess.CompletedProcess) -> str:
    """The one line a refused command prints (and no traceback)."""
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert "Traceback" not in res.stderr, res.stderr
    lines = res.stderr.strip().splitlines()
    assert "error:" in lines[-1], res.stderr
    assert all(line.startswith(("usage:", " ")) for line in lines[:-1]), res.stderr  # argparse's usage
    return lines[-1]


def test_eval_refuses_a_stable_baselines3_zip_without_running_it(tmp_path):
    import base64
    import pickle
    import zipfile

    marker = tmp_path / "owned"

    class Payload:  # unpickling this creates the marker file: any code could run instead
        def __reduce__(self):
            return open, (str(marker), "w")

    evil = tmp_path / "checkpoints" / "last.zip"
    evil.parent.mkdir()
    data = {"policy_class": {":type:": "<class 'type'>",
                             ":serialized:": base64.b64encode(pickle.dumps(Payload())).decode()}}
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("data", json.dumps(data))
        z.writestr("_stable_baselines3_version", "2.9.2")
    res = hptune("eval", "--checkpoint", str(evil), "--task", "wine")
    line = _error_line(res)
    assert str(evil) in line and "run any code" in line and "retrain" in line.lower()
    assert not marker.exists()


def test_resume_refuses_an_old_run_with_a_zip_checkpoint(tmp_path):
    run = tmp_path / "old"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"task": "wine", "agent": "ppo", "out": str(run)}))
    (run / "checkpoints" / "last.zip").write_bytes(b"PK")
    before = _snapshot(run)
    line = _error_line(hptune("train", "--resume", str(run), "--no-progress"))
    assert "last.zip" in line and "run any code" in line
    assert _snapshot(run) == before


def test_ppo_run_resumes_from_its_safe_checkpoint_after_a_torn_write(tmp_path):
    from agents.checkpoint import load_checkpoint
    from agents.sb3 import load_sb3

    out = tmp_path / "ppo"
    res = hptune("train", *TINY, "--agent", "ppo", "--episodes", "8", "--out", str(out))  # 2 rollouts of 4 episodes
    assert res.returncode == 0, res.stderr
    ckpt = out / "checkpoints" / "last.pt"
    first = load_checkpoint(ckpt)  # torch.load(weights_only=True): nothing is unpickled
    assert first["algorithm"] == "ppo" and first["counters"] == {"timesteps": 24, "updates": 20}
    assert first["hp_space"]["learning_rate"] == [0.001, 0.003, 0.01, 0.03, 0.1, 0.3]
    assert [row["time/episodes"] for row in first["history"]] == [4, 8]

    # a run killed mid-write: a torn history file of older versions, an empty metrics.csv and the
    # temporary files of interrupted writes
    (out / ".history.json").write_text("")
    (out / "metrics.csv").write_text("")
    (out / ".metrics.csv.x1y2.tmp").write_text("rollout/ep_ret")
    (out / "checkpoints" / ".last.pt.a1b2.tmp").write_bytes(ckpt.read_bytes()[:100])

    res = hptune("train", "--resume", str(out), "--episodes", "12", "--no-progress")  # one more rollout
    assert res.returncode == 0, res.stderr
    assert "resumed from" in res.stdout and "at step 24" in res.stdout
    after = load_checkpoint(ckpt)
    assert after["counters"] == {"timesteps": 36, "updates": 30}
    assert after["history"][:2] == first["history"]
    assert [row["time/episodes"] for row in after["history"]] == [4, 8, 12]
    assert _episodes(out) == [4, 8, 12]
    # the optimiser continued (Adam's step count goes on from 20), the weights moved on
    assert {float(s["step"]) for s in after["optimizer"]["state"].values()} == {30.0}
    assert any(not (after["policy"][k] == first["policy"][k]).all() for k in first["policy"])
    assert json.loads((out / "config.json").read_text())["episodes"] == 12
    assert not list(out.glob(".*.tmp")) and not list((out / "checkpoints").glob(".*.tmp"))

    res = hptune("eval", "--checkpoint", str(ckpt), "--episodes", "1")
    assert res.returncode == 0, res.stderr
    assert res.stdout.count("test_accuracy=") == 1
    with pytest.raises(ValueError, match="momentum.*weight_decay"):
        load_sb3(ckpt, gym.make(hpenv.ENV_ID, task="wine", hp_space=SAME_SHAPE_OTHER_SPACE))


#: The default space's shape (nvec [4, 5, 6, 4]) with weight decay instead of momentum.
SAME_SHAPE_OTHER_SPACE = {"depth": [1, 2, 3, 4], "dropout": [0.0, 0.1, 0.2, 0.3, 0.5],
                          "learning_rate": [0.001, 0.003, 0.01, 0.03, 0.1, 0.3],
                          "weight_decay": [0.0, 1e-5, 1e-4, 1e-3]}


def test_eval_refuses_a_policy_trained_on_another_space_of_the_same_shape(tmp_path):
    from agents.reinforce import RecurrentReinforce

    other = SAME_SHAPE_OTHER_SPACE
    env = gym.make(hpenv.ENV_ID, task="wine", horizon=3, steps_per_action=4, hp_space=other)
    ckpt = tmp_path / "checkpoints" / "last.pt"
    RecurrentReinforce(env, seed=0).save(ckpt)
    line = _error_line(hptune("eval", "--checkpoint", str(ckpt), "--task", "wine"))
    assert "weight_decay" in line and "momentum" in line and str(ckpt) in line
    assert RecurrentReinforce.load(ckpt).hp_space == other


# ---------------------------------------------------------------------- bad options
def _snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("args, words", [
    (["train", "--episodes", "0"], ["--episodes", "0", ">= 1"]),
    (["train", "--episodes", "-5"], ["--episodes", "-5", ">= 1"]),
    (["train", "--eval-episodes", "-1"], ["--eval-episodes", "-1", ">= 1"]),
    (["train", "--group-size", "3"], ["--group-size", "3", "divide", "--num-envs 64"]),
    (["train", "--group-size", "1"], ["leave_one_out", "--group-size >= 2", "1"]),
    (["train", "--baseline", "critic"], ["--baseline", "critic", "leave_one_out"]),
    (["train", "--task", "v1/digits-scaled/test"], ["v1/digits-scaled/test", "test members", "--task v1/digits-scaled"]),
    (["train", "--task", "v1/wine-scaled/55"], ["v1/wine-scaled/55", "test members"]),
    (["train", "--num-envs", "0"], ["--num-envs", "0", ">= 1"]),
    (["train", "--learning-rate", "nan"], ["--learning-rate", "nan", "> 0"]),
    (["train", "--agent", "dqn"], ["--agent", "dqn", "reinforce"]),
    (["train", "--task", "nosuchtask"], ["nosuchtask", "digits"]),
    (["train", "--task", "digits", "--data-root", "/data"], ["digits", "root"]),
    (["--threads", "0", "tasks"], ["--threads", "0", ">= 1"]),
    (["eval", "--checkpoint", "x.pt", "--episodes", "0"], ["--episodes", "0", ">= 1"]),
    (["eval", "--checkpoint", "x.ckpt"], ["--checkpoint", "x.ckpt", ".pt"]),
])
def test_bad_option_is_one_error_line_and_leaves_no_run_folder(tmp_path, args, words):
    out = tmp_path / "run"
    extra = ["--out", str(out), "--no-progress"] if args[0] == "train" else []
    line = _error_line(hptune(*args, *extra))
    for word in words:
        assert word in line, line
    assert not out.exists()


def test_out_naming_a_file_or_a_used_folder_is_refused(tmp_path):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("keep me")
    line = _error_line(hptune("train", *TINY, "--out", str(a_file)))
    assert str(a_file) in line and "file" in line
    assert a_file.read_text() == "keep me"
    used = tmp_path / "used"
    used.mkdir()
    (used / "results.csv").write_text("keep me")
    line = _error_line(hptune("train", *TINY, "--out", str(used)))
    assert "--resume" in line and _snapshot(used) == {"results.csv": b"keep me"}


def test_mnist_data_root_reaches_the_task(tmp_path):
    out = tmp_path / "run"
    res = hptune("train", *TINY[2:], "--task", "mnist", "--data-root", str(tmp_path / "data"), "--out", str(out))
    line = _error_line(res)
    assert "unrecognized" not in line and "pass root=PATH" not in line  # the folder got through to the task
    assert "needs the optional extra vision (module torchvision)" in line or "not found under root" in line
    assert not out.exists()


@pytest.fixture
def copied_run(trained_run, tmp_path):
    import shutil

    return Path(shutil.copytree(trained_run, tmp_path / "run"))


@pytest.mark.parametrize("damage, words", [
    ("extra_key", ["config.json", "unknown keys", "'colour'"]),
    ("bad_value", ["config.json", "--horizon", "-1"]),
    ("truncated_checkpoint", ["last.pt", "truncated"]),
    ("other_option", ["--resume", "--task"]),
    ("fewer_episodes", ["--episodes 4", "8 episodes"]),
])
def test_resume_refuses_a_damaged_run_and_leaves_it_as_it_was(copied_run, damage, words):
    config = json.loads((copied_run / "config.json").read_text())
    args = []
    if damage == "extra_key":
        (copied_run / "config.json").write_text(json.dumps({**config, "colour": "blue"}))
    elif damage == "bad_value":
        (copied_run / "config.json").write_text(json.dumps({**config, "horizon": -1}))
    elif damage == "truncated_checkpoint":
        ckpt = copied_run / "checkpoints" / "last.pt"
        ckpt.write_bytes(ckpt.read_bytes()[:1000])
    elif damage == "other_option":
        args = ["--task", "iris"]
    else:
        args = ["--episodes", "4"]
    before = _snapshot(copied_run)
    line = _error_line(hptune("train", "--resume", str(copied_run), *args, "--no-progress"))
    for word in words:
        assert word in line, line
    assert _snapshot(copied_run) == before


def test_resume_with_more_episodes_trains_up_to_the_new_total(copied_run):
    assert _episodes(copied_run) == [8]
    res = hptune("train", "--resume", str(copied_run), "--episodes", "16", "--no-progress")
    assert res.returncode == 0, res.stderr
    assert _episodes(copied_run) == [8, 16]
    assert json.loads((copied_run / "config.json").read_text())["episodes"] == 16


def test_eval_of_a_truncated_checkpoint_is_one_error_line(copied_run):
    ckpt = copied_run / "checkpoints" / "last.pt"
    ckpt.write_bytes(ckpt.read_bytes()[:1000])
    line = _error_line(hptune("eval", "--checkpoint", str(ckpt)))
    assert str(ckpt) in line and "truncated" in line


def test_train_on_a_suite_meta_trains_on_train_members_and_compares_on_selection_members(tmp_path):
    out = tmp_path / "suite"
    res = hptune("train", "--task", "v1/wine-scaled", "--horizon", "2", "--steps-per-action", "3", "--num-envs", "4",
                 "--group-size", "2", "--episodes", "8", "--eval-episodes", "1", "--no-progress", "--out", str(out))
    assert res.returncode == 0, res.stderr
    summary = json.loads((out / "summary.json").read_text())
    names = list(summary["results"])
    assert names[0] == "RecurrentReinforce (greedy)" and "random" not in names
    static = [n for n in names if n.startswith("best static tuple")]
    schedule = [n for n in names if n.startswith("best fixed schedule")]
    assert len(static) == len(schedule) == 1
    selection = hpenv.instance_set("v1/wine-scaled", "selection")
    for results in summary["results"].values():  # one child per selection member and seed, the same children
        assert [r["seed"] for r in results] == [1_000_000] * len(selection)
    table = (out / "summary.md").read_text()
    assert "wins/ties/losses" in table and "| RecurrentReinforce (greedy) | best static tuple |" in table
    assert "selection members of v1/wine-scaled" in res.stdout
    assert json.loads((out / "config.json").read_text())["horizon"] == 2


def test_train_defaults_follow_the_task():
    from agents.cli.config import TASK_HORIZON, TASK_STEPS_PER_ACTION, TrainConfig
    from hpenv.config import EnvConfig

    suite, v1, task = TrainConfig(), TrainConfig(task="v1/digits-scaled"), TrainConfig(task="digits")
    assert suite.task == "v2/mlp-short" and suite.env_kwargs()["task"] == "v2/mlp-short/train"
    assert (suite.horizon, suite.steps_per_action, suite.eval_episodes) == (10, 20, 4)  # the suite's episode
    assert (v1.horizon, v1.steps_per_action, v1.eval_episodes) == (10, 20, 2)
    assert (task.horizon, task.steps_per_action, task.eval_episodes) == (10, 50, 5)
    # a plain task's episode: the env's SGD steps per action, half its horizon (one named constant each)
    assert (TASK_HORIZON, TASK_STEPS_PER_ACTION) == (10, EnvConfig.steps_per_action) and EnvConfig.horizon == 20
    assert TrainConfig(task="digits", horizon=3).horizon == 3
    assert TrainConfig(agent="ppo", num_envs=4).num_envs == 4  # groups are RecurrentReinforce's alone


def test_a_run_from_before_grouped_episodes_resumes_with_its_own_settings(tmp_path):
    from agents.cli.config import TrainConfig

    old = {"task": "digits", "agent": "reinforce", "episodes": 16, "num_envs": 4, "horizon": 3, "steps_per_action": 4}
    (tmp_path / "config.json").write_text(json.dumps(old))
    cfg = TrainConfig.from_json(tmp_path / "config.json")
    assert (cfg.settings.group_size, cfg.settings.baseline, cfg.num_envs) == (1, "moving_average", 4)
    assert cfg.runner_envs == 4  # runners then played chunks of --num-envs children


def test_runners_default_to_every_core_for_a_long_reinforce_run(monkeypatch):
    from agents.cli import config as cli
    from agents.cli.config import TrainConfig

    monkeypatch.setattr(cli.os, "cpu_count", lambda: 6)
    monkeypatch.setattr(cli, "installed", lambda extra: extra == "ray")
    assert TrainConfig().runners == 6  # the main job: 2,048 episodes
    assert TrainConfig(episodes=cli.AUTO_RUNNERS_MIN_EPISODES - 1).runners == 0  # Ray would cost more than it saves
    assert TrainConfig(agent="ppo").runners == 0 and TrainConfig(runners=0).runners == 0
    assert TrainConfig(runners=3).runners == 3
    assert TrainConfig(runners=2, runner_envs=16).runner_envs == 16
    monkeypatch.setattr(cli, "installed", lambda extra: False)
    assert TrainConfig().runners == 0  # without the ray extra: in this process
    with pytest.raises(ValueError, match="--runners must be 0, -1"):
        TrainConfig(runners=-2)


@pytest.mark.parametrize("cores", [1, 2, 6, 64])
def test_the_default_chunk_is_the_same_on_any_number_of_runners_and_cores(monkeypatch, cores):
    """The chunks make the run: the default may not follow --runners or the machine (39b0bee split each update
    into one chunk per runner, so 1 and 2 runners gave different runs)."""
    from agents.cli import config as cli
    from agents.cli.config import RUNNER_ENVS, TrainConfig

    monkeypatch.setattr(cli.os, "cpu_count", lambda: cores)
    monkeypatch.setattr(cli, "installed", lambda extra: extra == "ray")
    assert TrainConfig().runners == cores
    # the main job's 64 children per update: chunks of 32, what it played on the 2 runners of a 2-core machine
    assert TrainConfig().runner_envs == RUNNER_ENVS == 32
    assert {TrainConfig(runners=n).runner_envs for n in (0, 1, 2, 3, 16)} == {32}
    assert {TrainConfig(runners=n, num_envs=48).runner_envs for n in (1, 2, 5)} == {24}  # whole groups of 8 dividing 48
    assert TrainConfig.from_options(runners=1, num_envs=4, group_size=2).runner_envs == 4  # fewer children than a chunk
    assert TrainConfig(runners=0).runner_envs == 32  # in this process: the same chunks, so the same run


@pytest.mark.parametrize("num_envs, group_size, chunk", [(64, 1, 32), (64, 8, 32), (48, 8, 24), (40, 8, 8),
                                                         (16, 4, 16), (96, 48, 48), (6, 3, 6)])
def test_default_runner_envs_holds_whole_groups_and_divides_the_update(num_envs, group_size, chunk):
    from agents.cli.config import RUNNER_ENVS, default_runner_envs

    got = default_runner_envs(num_envs, group_size)
    assert got == chunk and num_envs % got == 0 and got % group_size == 0
    assert got <= max(RUNNER_ENVS, group_size)


def test_a_run_started_with_one_chunk_per_runner_resumes_with_its_own_chunks(tmp_path):
    """39b0bee wrote the chunk it chose (--num-envs / --runners) into config.json: a resume keeps it."""
    from agents.cli.config import TrainConfig

    old = {"task": "digits", "agent": "reinforce", "episodes": 16, "num_envs": 64, "horizon": 3,
           "steps_per_action": 4, "runners": 1, "runner_envs": 64, "settings": {"group_size": 8}}
    (tmp_path / "config.json").write_text(json.dumps(old))
    cfg = TrainConfig.from_json(tmp_path / "config.json")
    assert (cfg.runners, cfg.runner_envs) == (1, 64)
    assert json.loads(json.dumps(dataclasses.asdict(cfg)))["runner_envs"] == 64  # written back as it was


V2_TINY = ["--task", "v2/mlp-short", "--horizon", "2", "--steps-per-action", "2", "--num-envs", "4", "--group-size",
           "2", "--episodes", "8", "--eval-episodes", "1", "--runners", "0", "--no-progress"]


def test_train_on_a_v2_suite_compares_at_member_level_with_the_benchmarks_references(tmp_path):
    from agents.bench.registered import registered_references

    out = tmp_path / "v2"
    res = hptune("train", *V2_TINY, "--out", str(out))
    assert res.returncode == 0, res.stderr
    summary = json.loads((out / "summary.json").read_text())
    names = list(summary["results"])
    chosen = registered_references("v2/mlp-short")
    static = next(n for n in names if n.startswith("best static tuple"))
    schedule = next(n for n in names if n.startswith("best fixed schedule"))
    assert names[0] == "RecurrentReinforce (greedy)" and "random" not in names
    selection = hpenv.instance_set("v2/mlp-short", "selection")
    for name, results in summary["results"].items():  # one child per selection member, the same seed for all
        assert len(results) == len(selection) and len({r["seed"] for r in results}) == 1
    # the references are the registered run's, applied as it recorded them (a horizon of 2: their first 2 steps)
    assert [s["learning_rate"] for s in summary["results"][static][0]["schedule"]] == \
        [s["learning_rate"] for s in chosen["best static tuple"][:2]]
    assert "depth 1, dropout 0.2, learning_rate 0.01, momentum 0.9" in static and "from step" in schedule
    table = (out / "summary.md").read_text()
    assert "member-level 95% CI" in table and "| RecurrentReinforce (greedy) | best static tuple |" in table
    assert "30 selection members of v2/mlp-short" in res.stdout and "label noise" in res.stdout
    assert (out / "schedule.png").stat().st_size > 0


def test_the_v2_comparison_is_the_same_on_one_worker_or_on_ray(tmp_path, monkeypatch):
    """The main job's members run on every core; the children are those one process trains."""
    from agents.cli.compare import compare_on_v2_selection
    from agents.cli.config import TrainConfig
    from agents.reinforce import RecurrentReinforce

    cfg = TrainConfig.from_options(task="v2/mlp-short", horizon=2, steps_per_action=2, num_envs=4, group_size=2,
                                   episodes=8, eval_episodes=1, runners=0)
    agent = RecurrentReinforce(gym.make_vec(hpenv.ENV_ID, num_envs=4, **cfg.env_kwargs()), config=cfg.settings)
    agent.learn(8)
    agent.save(tmp_path / "last.pt")
    runs = []
    for workers in ("1", "2"):
        monkeypatch.setenv("HPENV_BENCH_WORKERS", workers)
        results, references, members = compare_on_v2_selection({"rr": agent}, cfg, tmp_path / "last.pt")
        runs.append({name: [(r.seed, r.test_accuracy) for r in res] for name, res in results.items()})
    assert runs[0] == runs[1] and len(runs[0]["rr"]) == len(members) == 30 and len(references) == 2


V3_TINY = ["--task", "v3/stream", "--steps-per-action", "2", "--num-envs", "4", "--group-size", "2", "--episodes", "8",
           "--eval-episodes", "1", "--runners", "0", "--no-progress"]


def test_train_on_a_v3_suite_meta_trains_on_member_groups_and_compares_on_dev_members_by_the_primary_analysis(
        tmp_path):
    from agents.bench.v3.shipped import shipped_references

    out = tmp_path / "v3"
    res = hptune("train", *V3_TINY, "--out", str(out))
    assert res.returncode == 0, res.stderr
    summary = json.loads((out / "summary.json").read_text())
    references, chosen = shipped_references("v3/stream")
    assert list(summary["results"]) == ["RecurrentReinforce (greedy)", "fixed default", *references]
    dev = hpenv.instance_set("v3/stream", "dev")
    for results in summary["results"].values():  # one child per dev member, each with its own width and batch
        assert len(results) == len(dev) and len({r["seed"] for r in results}) == 1
    # the best fixed schedule is the one the selection stage chose, step by step
    space = hpenv.HPSpace.default()
    applied = [[s[n] for n in space.names] for s in summary["results"]["best fixed schedule"][0]["schedule"]]
    assert applied == [list(space.decode(row).values()) for row in references["best fixed schedule"]]
    rows = summary["primary_analysis"]
    assert [r["reference"] for r in rows] == list(references)
    assert all(r["n_members"] == len(dev) and r["verdict"] in ("better", "worse", "equivalent", "inconclusive")
               and r["ci_low"] <= r["mean_diff"] <= r["ci_high"] and r["n_train_seeds"] == 1 for r in rows)
    table = (out / "summary.md").read_text()
    assert "primary analysis over 30 members at one meta-training seed (0)" in table
    assert "| RecurrentReinforce (greedy) | best closed-loop rule |" in table
    assert chosen["references"]["best fixed schedule"]["name"] in table
    # the schedule plot shows children whose data change at different steps
    assert "change at step" in res.stdout and (out / "schedule.png").stat().st_size > 0
    # hptune eval plays the trained agent on dev members, each with its own env arguments
    ev = hptune("eval", "--checkpoint", str(out / "checkpoints" / "last.pt"), "--episodes", "2")
    assert ev.returncode == 0, ev.stderr
    assert "over 2 episodes on v3/stream/dev" in ev.stdout


def test_relative_actions_are_the_agents_own_from_training_to_the_comparison_and_eval(tmp_path):
    """--relative-actions depth=1: the agent moves its depth by one grid position at most, in training, in
    the comparison on dev members (where the references still set theirs) and in hptune eval."""
    from agents.cli.config import TrainConfig
    from agents.engine import evaluate_policy
    from agents.reinforce import RecurrentReinforce
    from hpenv.config import EnvConfig

    out = tmp_path / "relative"
    res = hptune("train", *V3_TINY, "--relative-actions", "depth=1", "--out", str(out))
    assert res.returncode == 0, res.stderr
    cfg = TrainConfig.from_json(out / "config.json")
    assert cfg.action_kwargs() == {"relative_actions": {"depth": 1}}
    ckpt = out / "checkpoints" / "last.pt"
    agent = RecurrentReinforce.load(ckpt)
    assert agent.nvec[0] == 3  # down, stay, up
    summary = json.loads((out / "summary.json").read_text())
    children = summary["results"]["RecurrentReinforce (greedy)"]
    space = EnvConfig.from_kwargs(cfg.action_kwargs()).resolve_space()
    grid = list(space.params[space.names.index("depth")].values)
    start = grid.index(space.relative_start["depth"])
    for child in children:
        depths = [grid.index(step["depth"]) for step in child["schedule"]]
        assert all(abs(b - a) <= 1 for a, b in zip([start, *depths], depths))
    # the comparison's children are those the agent plays in its own envs (not read as absolute positions)
    member = hpenv.instance_set("v3/stream", "dev")[0]
    (own,) = evaluate_policy(agent, [children[0]["seed"]], chunk=1, task=member, **cfg.member_env_kwargs(member),
                             **cfg.action_kwargs())
    assert [s["depth"] for s in own.schedule] == [s["depth"] for s in children[0]["schedule"]]
    assert own.test_accuracy == pytest.approx(children[0]["test_accuracy"])
    ev = hptune("eval", "--checkpoint", str(ckpt), "--episodes", "1")
    assert ev.returncode == 0, ev.stderr


@pytest.mark.parametrize("value, words", [
    ("depth", "allowed: NAME=K[,NAME=K...]"), ("depth=0", "K an integer >= 1"), ("width=1", "one of ('depth'"),
    ("depth=1,depth=2", "each NAME once"), ("depth=9", "depth has 4 grid values, so k must be an integer from 1 to 3"),
])
def test_bad_relative_actions_are_refused_naming_the_option(tmp_path, value, words):
    res = hptune("train", "--task", "wine", "--relative-actions", value, "--out", str(tmp_path / "x"))
    assert res.returncode == 2 and f"--relative-actions {value}" in res.stderr.replace("'", "")
    assert words in res.stderr and not (tmp_path / "x").exists()
    res = hptune("train", "--task", "wine", "--agent", "ppo", "--relative-actions", "depth=1", "--out", str(tmp_path / "x"))
    assert res.returncode == 2 and "--relative-actions is for --agent reinforce" in res.stderr


@pytest.mark.parametrize("args, words", [
    (["--agent", "ppo"], "only reinforce, random, fixed meta-train across such members"),
    (["--horizon", "5"], "references are schedules of its own horizon 10; give 0 or 10"),
])
def test_a_v3_suite_refuses_what_its_members_and_references_cannot_take(tmp_path, args, words):
    res = hptune("train", "--task", "v3/stream", *args, "--out", str(tmp_path / "x"))
    assert res.returncode == 2 and words in res.stderr and not (tmp_path / "x").exists()
