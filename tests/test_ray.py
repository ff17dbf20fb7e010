"""Meta-training and PBT on Ray: the same result for any number of runners, and after a fault.

One local cluster (2 CPUs, loopback, no dashboard) serves the whole module; every run is tiny
(wine, 4 SGD steps per action, 3 steps per episode) so the module fits in a few minutes on a
shared 2-core machine.
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

ray = pytest.importorskip("ray")
pytest.importorskip("ray.tune")  # the PBT test; Ray core alone is not the extra

import hpenv  # noqa: E402
from agents import RecurrentReinforce  # noqa: E402
from agents.bench.methods import resolve_method  # noqa: E402
from agents.bench.v1.protocol import Protocol, SuiteContext  # noqa: E402
from agents.checkpoint import load_checkpoint  # noqa: E402
from agents.cli import main as hptune  # noqa: E402
from agents.distributed import RayRunners, keep_ray_on_loopback  # noqa: E402
from agents.local_runners import LocalRunners  # noqa: E402
from agents.search import SearchResult  # noqa: E402
from tests.conftest import FAST, assert_same_agent  # noqa: E402

K = 2  # children per runner
AGENT = dict(seed=0, episodes_per_update=4, hidden_size=16)  # two chunks of K per update
EPISODES = 8  # two updates


@pytest.fixture(scope="module", autouse=True)
def cluster():
    keep_ray_on_loopback()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def make_agent(seed: int = 0) -> RecurrentReinforce:
    return RecurrentReinforce(gym.make_vec("HPTune-v1", num_envs=K, **FAST), **{**AGENT, "seed": seed})


# The runners live for the whole module (a runner's past chunks must not change its next ones),
# half a CPU each, so that the three of them fit in the two CPUs of the cluster.
@pytest.fixture(scope="module")
def runners1():
    with RayRunners(FAST, num_runners=1, num_envs=K, cpus_per_runner=0.5) as runners:
        yield runners


@pytest.fixture(scope="module")
def runners2():
    with RayRunners(FAST, num_runners=2, num_envs=K, cpus_per_runner=0.5) as runners:
        yield runners


@pytest.fixture(scope="module")
def one_runner(runners1) -> RecurrentReinforce:
    return make_agent().learn(EPISODES, runners=runners1)


def test_one_and_two_runners_give_identical_histories_and_weights(one_runner, runners1, runners2) -> None:
    assert len(one_runner.history) == 2 and one_runner.num_episodes == EPISODES
    # every step of every episode entered the observation statistics once
    assert one_runner.obs_rms.count == EPISODES * FAST["horizon"]
    assert_same_agent(one_runner, make_agent().learn(EPISODES, runners=runners2))
    with LocalRunners(FAST, num_envs=K) as local:  # and in this process, without Ray
        assert_same_agent(one_runner, make_agent().learn(EPISODES, runners=local))
    # the seed does reach the runners
    assert make_agent(seed=1).learn(4, runners=runners1).history[0] != one_runner.history[0]


def test_a_runner_plays_a_chunk_exactly_as_the_learner_would_in_process(runners1) -> None:
    agent = make_agent()
    agent.obs_rms.update(np.random.default_rng(0).normal(size=(5, *agent.obs_shape)))
    plan = agent.plan_update(K)[0]
    local = make_agent().play_chunk(agent.snapshot(), plan)
    (remote,) = runners1.play(agent.snapshot(), [plan])
    for name in ("observations", "inputs", "actions", "rewards", "mask"):
        assert np.array_equal(getattr(local, name), getattr(remote, name)), name
    assert local.mask.all() and local.mask.shape == (K, FAST["horizon"])


def test_grouped_leave_one_out_is_the_same_for_one_and_two_runners(runners1, runners2) -> None:
    def make_grouped() -> RecurrentReinforce:
        env = gym.make_vec("HPTune-v1", num_envs=K, **FAST)
        return RecurrentReinforce(env, **AGENT, group_size=K, baseline="leave_one_out")

    planner = make_grouped()
    (chunk,) = runners1.play(planner.snapshot(), planner.plan_update(K)[:1])
    assert np.array_equal(chunk.observations[0, 0], chunk.observations[1, 0])  # one start per group
    grouped = make_grouped().learn(EPISODES, runners=runners1)
    assert grouped.num_episodes == EPISODES and grouped.episode_baseline.values == []
    assert_same_agent(grouped, make_grouped().learn(EPISODES, runners=runners2))


def test_killed_runner_is_replaced_and_its_chunks_rerun_with_the_same_result(
    one_runner, runners2
) -> None:
    killed = []

    def kill_runner_zero(agent, metrics):
        if not killed:
            killed.append(runners2.runners[0])
            ray.kill(runners2.runners[0])

    agent = make_agent()
    with pytest.warns(RuntimeWarning, match="runner 0 failed"):
        agent.learn(EPISODES, runners=runners2, callback=kill_runner_zero)
    assert runners2.runners[0] is not killed[0]
    assert_same_agent(one_runner, agent)


def test_a_chunk_that_keeps_failing_raises_after_the_retries(runners1) -> None:
    agent = make_agent()
    bad_plan = agent.plan_update(K + 1)[0]  # one seed too many for a runner of K children
    runners1.max_chunk_retries = 1
    try:
        with pytest.warns(RuntimeWarning), pytest.raises(RuntimeError, match="failed 2 times"):
            runners1.play(agent.snapshot(), [bad_plan])
    finally:
        runners1.max_chunk_retries = 3


def test_runners_over_member_groups_give_the_run_that_member_groups_give_in_process() -> None:
    """hptune train on a v3 suite plays the same chunks in process or on any number of runners."""
    from agents.member_groups import MemberGroupRunners

    members = hpenv.instance_set("v3/mlp", "train")[:8]
    tiny = {"horizon": 2, "steps_per_action": 2}

    def train(runners) -> RecurrentReinforce:
        with runners:
            agent = RecurrentReinforce(MemberGroupRunners(members[:1], K, env_kwargs=tiny).env(0), **AGENT)
            return agent.learn(EPISODES, runners=runners)

    local = train(MemberGroupRunners(members, K, env_kwargs=tiny))
    assert len(local.history) == 2
    assert_same_agent(local, train(RayRunners(tiny, num_runners=2, num_envs=K, cpus_per_runner=0.25, members=members)))


def test_learn_refuses_runners_whose_env_has_other_spaces(runners1) -> None:
    other = gym.make_vec("HPTune-v1", num_envs=K, **FAST, hp_space={"learning_rate": [0.1, 0.01]})
    with pytest.raises(ValueError, match="environment spaces do not match"):
        RecurrentReinforce(other, seed=0).learn(4, runners=runners1)


def test_runners_reject_bad_arguments() -> None:
    with pytest.raises(ValueError, match="num_runners must be an integer >= 1, got 0"):
        RayRunners(FAST, num_runners=0)
    with pytest.raises(ValueError, match="gpus_per_runner must be >= 0"):
        RayRunners(FAST, num_runners=1, gpus_per_runner=-1)


def test_cli_same_metrics_and_checkpoint_on_zero_one_and_two_runners_and_across_a_resume(tmp_path: Path) -> None:
    # no --runner-envs: the default chunking must not follow --runners (two groups of 2 per update: 39b0bee
    # played them as one chunk of 4 on one runner and as two chunks of 2 on two, which gave another run)
    common = ["train", "--task", "wine", "--horizon", "3", "--steps-per-action", "4",
              "--num-envs", "4", "--group-size", "2", "--eval-episodes", "1", "--no-progress",
              "--cpus-per-runner", "0.25"]  # beside the module's runners in the 2 CPUs
    one, two, none = tmp_path / "n1", tmp_path / "n2", tmp_path / "n0"
    for n, path in ((1, one), (2, two), (0, none)):
        assert hptune([*common, "--episodes", "8", "--runners", str(n), "--out", str(path)]) == 0
    # in this process (--runners 0, what an install without the ray extra does) is the same run too
    assert (one / "metrics.csv").read_text() == (two / "metrics.csv").read_text() == (none / "metrics.csv").read_text()
    assert len(list(csv.DictReader(open(one / "metrics.csv")))) == 1
    # the driver resumes from its checkpoint, and the runner count may change on the way, to and from 0
    for n, path in ((2, one), (0, two), (1, none)):
        resume = ["train", "--resume", str(path), "--episodes", "16", "--runners", str(n), "--no-progress"]
        assert hptune(resume) == 0
    assert (one / "metrics.csv").read_text() == (two / "metrics.csv").read_text() == (none / "metrics.csv").read_text()
    a, b, c = (load_checkpoint(p / "checkpoints" / "last.pt") for p in (one, two, none))
    assert a["history"] == b["history"] == c["history"]
    assert a["counters"]["episodes"] == b["counters"]["episodes"] == c["counters"]["episodes"] == 16
    for key in a["policy"]:
        assert torch.equal(a["policy"][key], b["policy"][key]) and torch.equal(a["policy"][key], c["policy"][key])


def test_tune_pbt_is_a_benchmark_method_on_the_members_of_pbt_and_counts_its_steps(
    tmp_path, monkeypatch
) -> None:
    import agents.pbt_tune

    # a quarter CPU per trial: the module's runners hold most of the cluster's two CPUs
    monkeypatch.setattr(agents.pbt_tune, "CPUS_PER_MEMBER", 0.25)
    protocol = Protocol(suites=("v1/wine-scaled",), test_members=1, horizon=3, steps_per_action=4,
                        search_budget_episodes=3, pbt_interval=1)
    ctx = SuiteContext("v1/wine-scaled", protocol, tmp_path)
    member = ctx.suite.members("test")[0]
    seed = 2**31
    (result,) = resolve_method("PBT (Ray Tune)").run(ctx, member, [seed])
    (reference,) = resolve_method("PBT").run(ctx, member, [seed])
    assert isinstance(result, SearchResult) and result.seed == seed
    # every member of 4 trains every step, exploited or not (none diverges here): 4 x 3 x 4
    assert result.sgd_steps == reference.sgd_steps == 4 * 3 * 4
    assert result.deployed_sgd_steps == reference.deployed_sgd_steps == 3 * 4
    assert len(result.schedule) == 3 and result.val_accuracy == result.schedule[-1]["val_accuracy"]
    assert 0.0 <= result.test_accuracy <= 1.0 and not result.diverged
    # the chosen member's first tuple is one of the initial tuples agents.search.pbt draws
    space = hpenv.HPSpace.default()
    rng = np.random.default_rng([protocol.seed, seed, 0xB7])
    initial = [space.decode(a) for a in rng.integers(0, space.nvec, size=(4, len(space)))]
    assert {k: v for k, v in result.schedule[0].items() if k not in ("val_accuracy", "val_loss")} in initial


def test_scaling_benchmark_runs_on_the_cluster_and_prints_what_the_readme_quotes() -> None:
    address = ray.get_runtime_context().gcs_address  # join this module's cluster: no second one
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "speed" / "ray_scaling.py"
    res = subprocess.run(
        [sys.executable, str(script), "--task", "wine", "--horizon", "2", "--steps-per-action", "2",
         "--num-envs", "2", "--updates", "1", "--repeats", "1", "--update-k", "4",
         "--update-batches", "8", "--cpus-per-runner", "0.1", "--address", address],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(script.parents[2])},
    )
    assert res.returncode == 0, res.stderr[-3000:]
    rows = re.findall(r"^(in-process|Ray N=1|Ray N=2)\s+([\d.]+)\s", res.stdout, flags=re.M)
    assert [name for name, _ in rows] == ["in-process", "Ray N=1", "Ray N=2"]
    assert all(float(rate) > 0 for _, rate in rows)
    assert re.search(r"parallel headroom .* did [\d.]+x the work of one alone", res.stdout)
    assert re.search(r"update share at K=4 .* update share [\d.]+% of an iteration", res.stdout)
    assert re.search(r"learner alone, 8 episodes of 2 steps per update: [\d.]+ ms", res.stdout)


def test_chunk_speed_benchmark_times_both_rules_for_each_runner_count() -> None:
    address = ray.get_runtime_context().gcs_address  # join this module's cluster: no second one
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "speed" / "runner_chunks.py"
    res = subprocess.run(
        [sys.executable, str(script), "--task", "wine", "--horizon", "2", "--steps-per-action", "2",
         "--num-envs", "4", "--group-size", "2", "--runners", "1,2", "--updates", "1", "--repeats", "1", "--cpus-per-runner", "0.1",
         "--address", address],
        capture_output=True, text=True, timeout=300,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    rows = re.findall(r"^\s+(\d+)\s+(\d+)\s+([\d.]+)\s+(\d+)\s+([\d.]+)\s+([\d.]+)x;", res.stdout, flags=re.M)
    # 4 children per update: one chunk of 4 on any runner count, or 39b0bee's one chunk per runner
    assert [(int(n), int(fixed), int(old)) for n, fixed, _, old, _, _ in rows] == [(1, 4, 4), (2, 4, 2)]
    assert all(float(a) > 0 and float(b) > 0 and float(r) > 0 for _, _, a, _, b, r in rows)
