"""Pre-registration: the protocol file, the ledger and ``verify`` (coverage, hash, seeds, replayed accuracies)."""

import csv
import dataclasses
import hashlib
import json
import subprocess
from pathlib import Path

import gymnasium as gym
import pytest

import hpenv
from agents.bench import ledger as ledger_mod
from agents.bench.ledger import LedgerEntry, append_entry, method_fingerprint, new_entry, read_ledger, scored_versions
from agents.bench.preregistration import (REGISTERED_PROTOCOL, ProtocolError, load_protocol, registry_problems,
                                          seed_range_problems)
from agents.bench.verify import REQUIRED_COLUMNS, verify, verify_command

SUITE = "v1/wine-scaled"
PROTOCOL = f"""
version = "test-1"
status = "frozen"
frozen = 2026-12-01
[evaluation_seeds]
first = 2147483648
count = 2
[selection_seeds]
first = 1000000
count = 1
[candidates]
static = "full_grid"
schedule_families = ["step_decay"]
[statistics]
interval = "member_cluster_bootstrap"
bootstrap_resamples = 10000
confidence = 0.95
test = "wilcoxon_members"
correction = "holm"
alpha = 0.05
minimum_detectable_difference = 0.02
power = 0.8
[[suites]]
name = "{SUITE}"
train = 40
selection = 10
test = 12
horizon = 2
steps_per_action = 3
controller = "A"
references = ["B"]
"""
# Grid positions (depth, dropout, learning rate, momentum) each method applies at each of the 2 steps.
ACTIONS = {"A": [[3, 0, 4, 2], [3, 0, 4, 2]], "B": [[1, 1, 5, 1], [3, 0, 2, 2]]}


@pytest.fixture(scope="module")
def protocol(tmp_path_factory):
    path = tmp_path_factory.mktemp("protocol") / "protocol.toml"
    path.write_text(PROTOCOL)
    return load_protocol(path)


@pytest.fixture(scope="module")
def results(protocol, tmp_path_factory):
    """A results folder: every test member x seed x method, trained here, with the applied schedules."""
    plan = protocol.suite(SUITE)
    rows = []
    for member in plan.members("test"):
        env = gym.make(hpenv.ENV_ID, task=member, **plan.env_kwargs)
        names = [p.name for p in env.unwrapped.hp_space.params]
        for seed in protocol.evaluation_seeds:
            for method, actions in ACTIONS.items():
                env.reset(seed=seed)
                schedule = []
                for action in actions:
                    _, _, _, _, info = env.step(action)
                    schedule.append({n: float(info[f"hp_{n}"]) for n in names})
                rows.append({"suite": SUITE, "member": member, "seed": seed, "method": method, "method_version": "1",
                             "test_accuracy": f"{info['test_accuracy']:.6f}",
                             "val_accuracy": f"{info['val_accuracy']:.6f}",
                             "deployed_sgd_steps": info["sgd_steps"], "protocol_hash": protocol.hash,
                             "schedule": json.dumps(schedule)})
        env.close()
    folder = tmp_path_factory.mktemp("results")
    _write(folder, rows)
    return folder


def _write(folder, rows):
    with open(folder / "results.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(REQUIRED_COLUMNS))
        writer.writeheader()
        writer.writerows(rows)


def _variant(results, tmp_path, edit):
    """A copy of the results folder with ``edit(rows)`` applied."""
    with open(results / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    _write(tmp_path, edit(rows))
    return tmp_path


def test_the_registered_protocol_is_frozen_and_every_ledger_row_ran_under_a_committed_copy():
    p = load_protocol()
    assert p.status == "frozen" and p.is_frozen and p.frozen is not None
    p.require_frozen()
    assert p.hash == hashlib.sha256(REGISTERED_PROTOCOL.read_bytes()).hexdigest()
    assert p.evaluation_seeds == (2**31,)
    assert all(plan.test >= 100 and plan.references for plan in p.suites)
    from agents.bench.ledger import LEDGER_PATH, read_ledger

    repo = Path(__file__).resolve().parents[1]
    for entry in read_ledger(repo / LEDGER_PATH):
        if entry.commit == "unknown" or not (repo / ".git").exists():
            continue
        # the protocol file as committed at the run's commit is the one whose hash the row records (it was
        # benchmarks/v2/protocol.toml until it became package data)
        for where in ("agents/bench/data/v2/protocol.toml", "benchmarks/v2/protocol.toml"):
            shown = subprocess.run(["git", "show", f"{entry.commit}:{where}"], cwd=repo, capture_output=True,
                                   check=False)
            if not shown.returncode:
                break
        if shown.returncode:  # a shallow clone without that commit
            continue
        assert hashlib.sha256(shown.stdout).hexdigest() == entry.protocol_hash, entry


def test_the_hash_is_of_the_raw_bytes(protocol, tmp_path):
    path = tmp_path / "p.toml"
    path.write_text(PROTOCOL + "\n# a comment\n")
    assert load_protocol(path).hash != protocol.hash
    protocol.require_frozen()  # frozen with a date: no error


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace('version = "test-1"\n', ""), "missing key 'version'"),
    (lambda t: t.replace("count = 2", "count = 0"), "evaluation_seeds.count must be an integer >= 1, got 0"),
    (lambda t: t.replace("test = 12", 'test = "12"'), "suites\\[0\\].test must be int, got '12'"),
    (lambda t: t.replace('correction = "holm"', 'correction = "bonferroni"'), "statistics.correction must be one of"),
    (lambda t: t.replace("frozen = 2026-12-01\n", ""), "a frozen protocol needs frozen = <date>"),
    (lambda t: t.replace('static = "full_grid"', 'static = "all"'), "candidates.static must be"),
    (lambda t: t.replace("first = 1000000", "first = 2147483649"), "evaluation_seeds and selection_seeds must not overlap"),
])
def test_bad_protocol_files_name_the_key(tmp_path, edit, message):
    path = tmp_path / "p.toml"
    path.write_text(edit(PROTOCOL))
    with pytest.raises(ProtocolError, match=message):
        load_protocol(path)


def test_a_complete_folder_passes_and_its_replays_match_exactly(protocol, results):
    outcome = verify(results, protocol, replays=3)
    assert outcome.problems == () and outcome.exit_code == 0
    assert outcome.rows == 12 * 2 * 2 and outcome.replayed == 3
    lines = []
    assert verify_command(results, protocol.path, replays=0, echo=lines.append) == 0
    assert lines == [f"{results}: 48 rows follow the protocol; 0 replayed rows match"]


def test_a_missing_member_is_one_clear_line(protocol, results, tmp_path):
    folder = _variant(results, tmp_path,
                      lambda rows: [r for r in rows if not (r["member"] == f"{SUITE}/55" and r["method"] == "A")])
    outcome = verify(folder, protocol, replays=0)
    assert outcome.problems == (f"missing test member {SUITE}/55 for method A (1)", "method A (1): 11 of 12 test members")
    assert outcome.exit_code == 1


def test_other_seeds_are_one_clear_line(protocol, results, tmp_path):
    def reseed(rows):
        for r in rows:
            if r["member"] == f"{SUITE}/50" and r["seed"] == str(2**31 + 1):
                r["seed"] = "5"
        return rows
    problems = verify(_variant(results, tmp_path, reseed), protocol, replays=0).problems
    assert problems[0] == "seed 5 is not one of the protocol's evaluation seeds [2147483648, 2147483649]"
    assert f"{SUITE}/50, method A (1): missing seeds [2147483649]" in problems


def test_another_protocol_hash_is_one_clear_line(protocol, results, tmp_path):
    def rehash(rows):
        rows[0]["protocol_hash"] = "abc123"
        return rows
    problems = verify(_variant(results, tmp_path, rehash), protocol, replays=0).problems
    assert problems == (f"protocol hash abc123 differs from the registered {protocol.hash} (1 rows)",)


def test_results_under_a_draft_protocol_do_not_pass(protocol, results, tmp_path):
    path = tmp_path / "p.toml"
    path.write_text(PROTOCOL.replace('status = "frozen"', 'status = "draft"'))
    draft = load_protocol(path)
    assert verify(results, draft, replays=0).problems == (
        "protocol test-1 is a draft: results under it are not test results",
        f"protocol hash {protocol.hash} differs from the registered {draft.hash} (48 rows)")


def test_a_missing_family_method_and_a_wrong_budget_are_reported(protocol, results, tmp_path):
    def drop_b(rows):
        rows = [r for r in rows if r["method"] != "B"]
        rows[0]["deployed_sgd_steps"] = "5"
        return rows
    problems = verify(_variant(results, tmp_path, drop_b), protocol, replays=0).problems
    assert problems == (f"{SUITE}/50 seed 2147483648 method A: deployed 5 SGD steps, the suite's budget is 6",
                        f"suite {SUITE}: method B of the comparison family has no results")


def test_a_recorded_accuracy_its_schedule_does_not_give_is_caught_by_the_replay(protocol, results, tmp_path):
    one_example = 1 / 36  # wine has 36 test examples

    def inflate(rows):
        for r in rows:
            r["test_accuracy"] = f"{float(r['test_accuracy']) + one_example:.6f}"
        return rows
    folder = _variant(results, tmp_path, inflate)
    problems = verify(folder, protocol, replays=2, seed=1).problems
    assert len(problems) == 2 and all("test_accuracy" in p and "replayed" in p and "tolerance 0.0" in p
                                      for p in problems)
    assert verify(folder, protocol, replays=2, seed=1, tolerance=1.5 * one_example).problems == ()


def test_member_counts_that_differ_from_the_registered_suite_are_reported(tmp_path):
    path = tmp_path / "p.toml"
    second_suite = PROTOCOL[PROTOCOL.index("[[suites]]"):].replace(SUITE, "v1/no-such-suite")
    path.write_text(PROTOCOL.replace("test = 12", "test = 11") + second_suite)
    assert registry_problems(load_protocol(path)) == [
        f"suite {SUITE}: the protocol's test members (11) differ from the registered suite's (12)",
        "suite v1/no-such-suite of the protocol is not registered in hpenv.instances"]


def test_a_row_without_a_schedule_cannot_claim_its_accuracy(protocol, results, tmp_path):
    def unschedule(rows):
        for r in rows:
            r["schedule"] = "[]"
        return rows
    problems = verify(_variant(results, tmp_path, unschedule), protocol, replays=1).problems
    assert len(problems) == 1 and problems[0].endswith(
        "cannot replay: the schedule is not a non-empty JSON list of hyper-parameter dicts")

    def shorten(rows):
        for r in rows:
            r["schedule"] = json.dumps(json.loads(r["schedule"])[:1])
        return rows
    problems = verify(_variant(results, tmp_path, shorten), protocol, replays=1).problems
    assert len(problems) == 1 and problems[0].endswith("cannot replay: the schedule has 1 steps but the episode goes on")


def test_a_folder_without_results_or_columns_says_so(protocol, tmp_path):
    assert verify(tmp_path, protocol).problems == (f"{tmp_path / 'results.csv'} does not exist",)
    (tmp_path / "results.csv").write_text("suite,member\n")
    assert "lacks the columns" in verify(tmp_path, protocol).problems[0]


def _entry(**changes):
    entry = LedgerEntry(date="2026-12-01T23:00:00Z", commit="c0ffee", dirty=False, protocol_hash="p" * 64,
                        suite=SUITE, method="A", method_version="1", method_fingerprint="f1", n_members=12, n_seeds=2,
                        mean_test_accuracy=0.9, reference="B", difference_vs_reference=0.0125, results_sha256="r")
    return dataclasses.replace(entry, **changes)


def test_the_ledger_only_appends_and_lists_every_version(tmp_path):
    path = tmp_path / "v2" / "ledger.csv"
    first = _entry()
    append_entry(first, path)
    before = path.read_bytes()
    second = _entry(method_version="2", method_fingerprint="f2", mean_test_accuracy=0.8, dirty=True)
    append_entry(second, path)
    assert path.read_bytes().startswith(before)
    append_entry(_entry(date="2026-12-02T00:00:00Z"), path)
    assert read_ledger(path)[:2] == [first, second]
    versions = scored_versions(path)
    assert [(v["method_version"], v["method_fingerprint"], v["runs"]) for v in versions] == [("1", "f1", 2), ("2", "f2", 1)]
    with pytest.raises(ValueError, match="version '1' was scored.*needs a new version label"):
        append_entry(_entry(method_fingerprint="f3", suite="v2/another"), path)
    assert len(read_ledger(path)) == 3


def test_a_new_entry_records_the_checkout_and_the_results_file(results):
    entry = new_entry(results=results / "results.csv", protocol_hash="p", suite=SUITE, method="A", method_version="1",
                      method_fingerprint="f1", n_members=12, n_seeds=2, mean_test_accuracy=0.9, reference="B",
                      difference_vs_reference=0.01)
    assert entry.results_sha256 == hashlib.sha256((results / "results.csv").read_bytes()).hexdigest()
    assert len(entry.commit) == 40 and entry.date.endswith("Z")


def test_the_method_fingerprint_follows_settings_and_code():
    base = method_fingerprint("A", "1", {"lr": 0.1, "episodes": 4}, [ledger_mod.LedgerEntry, "agents.bench.verify"])
    assert base == method_fingerprint("A", "1", {"episodes": 4, "lr": 0.1}, [LedgerEntry, "agents.bench.verify"])
    assert len(base) == 12
    assert base != method_fingerprint("A", "1", {"lr": 0.2, "episodes": 4}, [LedgerEntry, "agents.bench.verify"])
    assert base != method_fingerprint("A", "1", {"lr": 0.1, "episodes": 4}, [LedgerEntry])
    assert base != method_fingerprint("A", "2", {"lr": 0.1, "episodes": 4}, [LedgerEntry, "agents.bench.verify"])
    with pytest.raises(TypeError, match="settings of 'A' must be JSON-serialisable"):
        method_fingerprint("A", "1", {"space": object()})


def test_the_ledger_is_found_in_the_checkout_holding_the_current_folder_and_nowhere_else(tmp_path, monkeypatch):
    repo = Path(__file__).resolve().parents[1]
    monkeypatch.chdir(repo / "docs")  # a folder below the checkout's root
    assert ledger_mod.find_ledger() == repo / ledger_mod.LEDGER_PATH
    assert ledger_mod.read_ledger() == ledger_mod.read_ledger(repo / ledger_mod.LEDGER_PATH) != []
    monkeypatch.chdir(tmp_path)  # outside any checkout (an installed wheel run from the user's folder)
    with pytest.raises(ValueError, match=r"no v2 ledger \(benchmarks/results/v2/ledger.csv\) in .*--ledger FILE"):
        ledger_mod.find_ledger()


def test_a_full_v2_run_outside_a_checkout_without_a_ledger_refuses_before_any_work(tmp_path, monkeypatch, capsys):
    from agents.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["bench", "--v2", "--out", str(tmp_path / "run")]) == 2
    assert "error: no v2 ledger" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_git_state_names_this_checkout_and_unknown_elsewhere(tmp_path):
    commit, dirty = ledger_mod.git_state()
    assert len(commit) == 40 and isinstance(dirty, bool)
    assert ledger_mod.git_state(tmp_path) == ("unknown", False)


def test_the_registered_protocol_matches_the_v2_suites_and_the_reserved_seed_ranges():
    """Member counts and seeds, and the episode too: the protocol's plan and hpenv's suite both name it, and
    ``hptune train`` plays the suite's episode against references the protocol's run chose at its own."""
    registered = load_protocol(REGISTERED_PROTOCOL)
    assert registry_problems(registered) == [] and seed_range_problems(registered) == []
    assert {p.name for p in registered.suites} <= set(hpenv.instance_sets())
    assert all(plan.env_kwargs == hpenv.suite(plan.name).env_kwargs for plan in registered.suites)


def test_selection_seeds_outside_the_reserved_range_are_reported(tmp_path):
    path = tmp_path / "p.toml"
    text = REGISTERED_PROTOCOL.read_text()
    path.write_text(text.replace("first = 2149483648", "first = 1000000"))
    assert seed_range_problems(load_protocol(path)) == [
        "selection seeds 1000000..1000001 leave the v2 selection range [2149483648, 2150483648)"]


def test_hptune_bench_verify_prints_one_line_per_problem_and_exits_nonzero(protocol, results, tmp_path, capsys):
    from agents.cli import main

    assert main(["bench", "--verify", str(results), "--protocol", str(protocol.path), "--replays", "1"]) == 0
    assert "rows follow the protocol" in capsys.readouterr().out

    def drop_member(rows):
        gone = rows[0]["member"]
        return [r for r in rows if r["member"] != gone]
    folder = _variant(results, tmp_path, drop_member)
    assert main(["bench", "--verify", str(folder), "--protocol", str(protocol.path), "--replays", "0"]) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines and all("missing test member" in line or "test members" in line for line in lines)
    assert main(["bench", "--verify", str(folder), "--replays", "-1"]) == 2
    assert "--replays must be an integer >= 0" in capsys.readouterr().err
