"""Benchmark v3's runner (agents.bench.v3.runner, ``hptune bench --v3``): every method on members with their
own env arguments, rows the primary analysis reads, resumption, and the ledger's start and end rows."""

import csv

import numpy as np
import pytest

import hpenv
from agents.bench.v3.ledger import read_ledger, unfinished_runs
from agents.bench.v3.methods import V3_METHODS, MethodContext
from agents.bench.v3.runner import read_results, run_v3
from agents.bench.v3.shipped import SHIPPED_PROTOCOL
from agents.cli import main
from agents.member_groups import MemberGroupsVecEnv, allocate_children
from conftest import v3_protocol_copy
from hpenv.instances import member_task

#: A rehearsal small enough for a test: 2 dev members, tiny meta-training and searches, each member's own
#: width, batch size and SGD steps per action.
TINY = {"members": 2, "selection_members": 1, "evaluation_seeds": 1, "meta_training_seeds": 2,
        "budgets": {"meta_episodes": 16, "num_envs": 16, "runner_envs": 16, "search_candidates": 2,
                    "search_budget_episodes": 1, "generous_search_budget_episodes": 1, "generous_search_members": 1},
        "env": {}}


def test_every_family_name_of_the_protocol_has_a_v3_method():
    from agents.bench.v3.statistics import load_family

    family = load_family(SHIPPED_PROTOCOL)
    for name in (family.controller, *family.references, *family.stream_references, *family.reported_beside):
        assert name in V3_METHODS, name


def test_a_rehearsal_deploys_each_method_on_members_with_their_own_env_arguments(tmp_path):
    methods = ["RecurrentReinforce", "best static tuple", "closed-loop rule", "random search", "PPO"]
    agent = "tests.user_policy:StepDecay"
    summary = run_v3(tmp_path, suites=["v3/stream"], methods=methods, agents=[agent], quick=TINY, workers=1,
                     log=lambda m: None)
    folder = tmp_path / "v3_stream"
    rows = read_results(folder / "results.csv")
    members = hpenv.instance_set("v3/stream", "dev")[:2]
    assert sorted({r["member"] for r in rows}) == sorted(members)
    cells = {(r["member"], r["method"], r["training_seed"]) for r in rows}
    for m in members:
        for name in ("best static tuple", "closed-loop rule", "random search", "StepDecay"):
            assert (m, name, -1) in cells
        for name in ("RecurrentReinforce", "PPO"):  # a learned method: one agent per meta-training seed
            assert {(m, name, 0), (m, name, 1)} <= cells
    for r in rows:
        kw = hpenv.member_env_kwargs(r["member"])
        assert r["deployed_sgd_steps"] == kw["horizon"] * kw["steps_per_action"] or r["diverged"]
        assert r["n_test"] == len(member_task(r["member"]).y_test)
        assert r["correct"] == round(r["test_accuracy"] * r["n_test"])
        assert r["protocol_hash"].startswith("quick-")
    # a stream member's children record when their data changed: one step per member, the same for every
    # method; only a child that diverged before it never met the change
    changes = {m: {r["change_step"] for r in rows if r["member"] == m and r["change_step"] != ""} for m in members}
    assert all(len(steps) == 1 for steps in changes.values()), changes
    for r in rows:
        if r["change_step"] == "":
            kw = hpenv.member_env_kwargs(r["member"])
            (change,) = changes[r["member"]]
            assert r["diverged"] and r["deployed_sgd_steps"] <= (int(change) - 1) * kw["steps_per_action"]
    search = [r for r in rows if r["method"] == "random search"]
    assert all(r["search_sgd_steps"] > 0 for r in search)
    # the researcher's policy takes the controller's place in the analysis, against the family's references
    paired = list(csv.DictReader(open(folder / "paired.csv")))
    assert {p["method"] for p in paired} == {"StepDecay"}
    assert [p["reference"] for p in paired] == ["RecurrentReinforce", "best static tuple", "random search", "PPO",
                                                "closed-loop rule"]
    assert all(p["verdict"] in ("better", "worse", "equivalent", "inconclusive") for p in paired)
    assert "quick rehearsal: not a result" in (folder / "results.md").read_text()
    for name in ("members.csv", "accuracy_vs_compute.png", "differences.png"):
        assert (folder / name).stat().st_size > 0
    assert summary["suites"]["v3/stream"]["members"] == 2

    # a killed run resumes: rows already there are kept and nothing is trained again
    before = (folder / "results.csv").read_text()
    run_v3(tmp_path, suites=["v3/stream"], methods=methods, agents=[agent], quick=TINY, workers=1, log=lambda m: None)
    assert (folder / "results.csv").read_text() == before


def test_method_context_hides_the_members_a_benchmark_reports():
    from agents.bench.v3.budgets import load_budgets

    ctx = MethodContext("v3/mlp", load_budgets(SHIPPED_PROTOCOL), {}, seed=0, cache_dir="unused",
                        selection_seeds=[1])
    assert ctx.members("dev") == hpenv.instance_set("v3/mlp", "dev")
    for split in ("test", "transfer"):
        with pytest.raises(ValueError, match="nothing is chosen or learned"):
            ctx.members(split)
    member = hpenv.instance_set("v3/mlp", "test")[0]
    assert ctx.env_kwargs(member) == hpenv.member_env_kwargs(member)


def test_a_test_run_needs_the_frozen_protocol_and_files_a_start_and_an_end_row(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="draft"):
        run_v3(tmp_path / "draft", split="test", methods=["fixed default"],
               protocol=v3_protocol_copy(tmp_path, "draft"), ledger=tmp_path / "ledger.csv")
    with pytest.raises(ValueError, match="rehearses on dev members"):
        run_v3(tmp_path / "q", split="test", quick=True)
    protocol, ledger = v3_protocol_copy(tmp_path), tmp_path / "ledger.csv"
    members = hpenv.instance_set("v3/mlp", "test")[:2]
    kw = dict(suites=["v3/mlp"], methods=["best static tuple", "fixed default"], split="test", members=members,
              protocol=protocol, ledger=ledger, workers=1, log=lambda m: None)

    # a run that dies while it scores leaves its start rows: the ledger cannot miss it
    from agents.bench.v3 import runner

    def die(*args, **kwargs):
        raise RuntimeError("killed")

    monkeypatch.setattr(runner, "_deploy_unit", die)
    with pytest.raises(RuntimeError, match="killed"):
        run_v3(tmp_path / "run", **kw)
    rows = read_ledger(ledger)
    assert [r.event for r in rows] == ["start", "start"] and len(unfinished_runs(ledger)) == 1
    monkeypatch.undo()

    run_v3(tmp_path / "run", **kw)  # resumed: a new run, a new start, then its end
    rows = read_ledger(ledger)
    assert [r.event for r in rows] == ["start", "start", "start", "start", "end", "end"]
    assert len({r.run_id for r in rows}) == 2 and len(unfinished_runs(ledger)) == 1
    ends = [r for r in rows if r.event == "end"]
    assert {r.method for r in ends} == {"best static tuple", "fixed default"}
    assert all(r.n_members == 2 and r.n_seeds == 3 and r.split == "test" for r in ends)
    results = read_results(tmp_path / "run" / "v3_mlp" / "results.csv")
    assert len(results) == 2 * 2 * 3 and {r["split"] for r in results} == {"test"}
    for r in ends:
        mine = [x["correct"] / x["n_test"] for x in results if x["method"] == r.method]
        assert r.mean_test_accuracy == pytest.approx(np.mean(mine), abs=1e-6)


def test_a_test_run_deploys_the_controller_version_the_protocol_names_for_the_headline(tmp_path):
    protocol = v3_protocol_copy(tmp_path, controller_version="2")
    with pytest.raises(ValueError, match="registers version '2' for the headline"):
        run_v3(tmp_path / "run", suites=["v3/mlp"], methods=["RecurrentReinforce"], split="test", protocol=protocol,
               ledger=tmp_path / "ledger.csv", log=lambda m: None)
    assert not (tmp_path / "ledger.csv").exists()


def test_hptune_bench_v3_refuses_a_test_run_on_the_draft_protocol(tmp_path, capsys):
    assert main(["bench", "--v3", "--split", "test", "--out", str(tmp_path / "x"), "--ledger",
                 str(tmp_path / "l.csv"), "--protocol", str(v3_protocol_copy(tmp_path, "draft"))]) != 0
    assert "is a draft" in capsys.readouterr().err and not (tmp_path / "l.csv").exists()
    assert main(["bench", "--v3", "--v2", "--out", str(tmp_path / "y")]) != 0
    assert "give one" in capsys.readouterr().err


def test_an_sb3_vector_env_splits_its_children_among_member_groups_in_proportion():
    assert allocate_children([5, 3, 2], 13) == [6, 4, 3]
    assert sum(allocate_children([7, 1, 1, 1], 10)) == 10
    with pytest.raises(ValueError, match="at least the number of member groups"):
        allocate_children([1, 1, 1], 2)
    train = hpenv.instance_set("v3/mlp", "train")[:30]
    venv = MemberGroupsVecEnv(train, 24, env_kwargs={"horizon": 2, "steps_per_action": 2})
    assert venv.offsets[-1] == 24 and len(venv.venvs) == len(venv.groups)
    for (kwargs, ms), child in zip(venv.groups, venv.venvs):
        assert child.venv.config.batch_size == kwargs["batch_size"] and child.venv.config.width == kwargs["width"]
    venv.seed(3)
    obs = venv.reset()
    assert obs.shape == (24, *venv.observation_space.shape)
    venv.step_async(np.zeros((24, len(venv.action_space.nvec)), dtype=np.int64))
    obs, rewards, dones, infos = venv.step_wait()
    assert obs.shape[0] == rewards.shape[0] == dones.shape[0] == len(infos) == 24
    venv.close()


def test_verify_reads_a_v3_run_folder_and_finds_what_it_lacks_and_what_its_schedules_do_not_do(tmp_path):
    from agents.bench.v3.verify import is_v3_folder, verify_v3

    protocol, ledger = v3_protocol_copy(tmp_path), tmp_path / "ledger.csv"
    members = hpenv.instance_set("v3/mlp", "test")[:2]
    run_v3(tmp_path / "run", suites=["v3/mlp"], methods=["best fixed schedule"], split="test", members=members,
           protocol=protocol, ledger=ledger, workers=1, log=lambda m: None)
    assert is_v3_folder(tmp_path / "run") and not is_v3_folder(tmp_path)
    found = verify_v3(tmp_path / "run", protocol, replays=2)
    assert found.replayed == 2 and found.exit_code == 1
    text = "\n".join(found.problems)
    assert "method RecurrentReinforce of the family has no results" in text
    assert "198 of 200 members missing" in text
    assert "replay" not in text and "disagrees" not in text and "hash" not in text

    # a row whose accuracy its schedule does not give
    results = tmp_path / "run" / "v3_mlp" / "results.csv"
    rows = list(csv.DictReader(open(results)))
    rows[0]["test_accuracy"] = f"{float(rows[0]['test_accuracy']) + 0.1:.6f}"
    with open(results, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    text = "\n".join(verify_v3(tmp_path / "run", protocol, replays=len(rows)).problems)
    assert "replayed" in text and "disagrees with test accuracy" in text
    # and through the command line
    assert main(["bench", "--verify", str(tmp_path / "run"), "--protocol", str(protocol), "--replays", "0"]) == 1


@pytest.mark.parametrize("method_class, train_args", [
    ("RecurrentReinforceMethod", ["--episodes", "16"]),
    ("RecurrentReinforceV2", ["--episodes", "16", "--update-epochs", "4"]),
])
def test_the_runners_recurrent_reinforce_is_the_agent_hptune_train_trains_at_that_seed(tmp_path, method_class,
                                                                                       train_args):
    import dataclasses

    import torch

    from agents import RecurrentReinforce
    from agents.bench.v3 import methods
    from agents.bench.v3.budgets import load_budgets
    from agents.bench.v3.shipped import shipped_references

    assert main(["train", "--task", "v3/stream", *train_args, "--num-envs", "8", "--runner-envs", "8",
                 "--steps-per-action", "2", "--runners", "0", "--seed", "3", "--eval-episodes", "1", "--out",
                 str(tmp_path / "train"), "--no-progress"]) == 0
    # a stream: the run shows what the controller does around the data's change
    assert (tmp_path / "train" / "around_change.png").stat().st_size > 0
    response = (tmp_path / "train" / "summary.md").read_text().split("response to the data's change")[1]
    assert "| RecurrentReinforce (greedy) |" in response and "| best closed-loop rule |" in response
    budgets = dataclasses.replace(load_budgets(SHIPPED_PROTOCOL), meta_episodes=16, num_envs=8, runner_envs=8)
    ctx = MethodContext("v3/stream", budgets, shipped_references("v3/stream")[0], seed=3, cache_dir=tmp_path / "b",
                        selection_seeds=[1], env_overrides={"steps_per_action": 2})
    method = getattr(methods, method_class)()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the runner's workers and hptune train (--threads 1) train
    try:
        method.prepare(ctx)
    finally:
        torch.set_num_threads(threads)
    ours = RecurrentReinforce.load(method.path).policy.state_dict()
    theirs = RecurrentReinforce.load(tmp_path / "train" / "checkpoints" / "last.pt").policy.state_dict()
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)


def test_the_headline_assembles_a_suites_runs_and_compares_with_the_oracles_on_their_members(tmp_path):
    from agents.bench.v3.headline import assemble, oracle_comparison

    protocol = v3_protocol_copy(tmp_path)
    root = tmp_path / "results"
    members = hpenv.instance_set("v3/mlp", "test")[:2]
    kw = dict(suites=["v3/mlp"], methods=["best static tuple", "best fixed schedule", "fixed default"],
              protocol=protocol, ledger=tmp_path / "ledger.csv", workers=1, log=lambda m: None)
    run_v3(root / "test", split="test", members=members, **kw)
    with pytest.raises(FileNotFoundError, match="--split test"):
        assemble(root, "v3/stream")
    found = assemble(root, "v3/mlp", resamples=200)  # no transfer run, no oracles yet: said so
    assert set(found["missing"]) == {"the transfer run's paired.csv", "the oracles on test members"}
    assert "Not yet run" in (root / "mlp" / "results.md").read_text()
    assert (root / "mlp" / "results.csv").read_bytes() == (root / "test" / "v3_mlp" / "results.csv").read_bytes()

    # oracles a point and two points above the best static tuple on each member, by hand
    rows = read_results(root / "test" / "v3_mlp" / "results.csv")

    def mean(method, m):
        return np.mean([r["correct"] / r["n_test"] for r in rows if r["method"] == method and r["member"] == m])

    oracles = [{"member": m, "test: static oracle": mean("best static tuple", m) + 0.01,
                "test: dynamic oracle": mean("best fixed schedule", m) + 0.02} for m in members]
    (root / "mlp" / "test-oracles").mkdir()
    with open(root / "mlp" / "test-oracles" / "members.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(oracles[0]))
        w.writeheader()
        w.writerows(oracles)
    found = assemble(root, "v3/mlp", resamples=200)
    by = {r["method"]: r for r in found["oracles"]}
    assert set(by) == {"best static tuple", "best fixed schedule", "fixed default"}
    assert by["best static tuple"]["vs_static_oracle"] == pytest.approx(-0.01)
    assert by["best static tuple"]["static_gain_share"] == pytest.approx(0.0, abs=1e-12)
    assert by["best fixed schedule"]["dynamic_gain_share"] == pytest.approx(0.0, abs=1e-12)
    d = np.mean([mean("fixed default", m) - mean("best static tuple", m) for m in members])
    assert by["fixed default"]["static_gain_share"] == pytest.approx(d / 0.01)
    assert by["fixed default"]["static_gain_share_low"] <= by["fixed default"]["static_gain_share_high"]
    text = (root / "mlp" / "results.md").read_text()
    assert "Against the per-member oracles (2 test members)" in text and "the oracles on test" not in text
    with pytest.raises(ValueError, match="deployed references"):
        oracle_comparison([r for r in rows if r["method"] != "best fixed schedule"], oracles, "v3/mlp")


def test_a_method_subclass_given_as_agent_is_scored_beside_the_family_under_its_own_name_and_version(tmp_path):
    from agents.bench.v3.methods import resolve_v3_method

    with pytest.raises(ValueError, match="'fixed default' is a family method's"):
        resolve_v3_method("tests.user_policy:ClaimsAFamilyName")
    run_v3(tmp_path, suites=["v3/stream"], methods=["fixed default"], agents=["tests.user_policy:DefaultAgain"],
           quick=TINY, workers=1, log=lambda m: None)
    rows = read_results(tmp_path / "v3_stream" / "results.csv")
    ours = {(r["member"], r["seed"]): r for r in rows if r["method"] == "fixed default, again"}
    theirs = {(r["member"], r["seed"]): r for r in rows if r["method"] == "fixed default"}
    assert ours.keys() == theirs.keys() and len(ours) == 2
    assert {r["method_version"] for r in ours.values()} == {"2"}
    assert {r["method_version"] for r in theirs.values()} == {"1"}
    # the same policy on the same children: the same correct counts, and different fingerprints (code, name)
    assert all(ours[k]["correct"] == theirs[k]["correct"] for k in ours)
    assert {r["method_fingerprint"] for r in ours.values()} != {r["method_fingerprint"] for r in theirs.values()}
