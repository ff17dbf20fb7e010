"""``hptune bench --verify DIR``: does a results folder hold what the registered protocol asks for?

[`verify`][agents.bench.verify.verify] reads ``DIR/results.csv`` (one row per suite, member, seed, method and
method version) and reports one line per problem: another protocol hash, a seed that is not one of the
protocol's evaluation seeds, a draft protocol, a missing test member or seed, a member that is not a test member,
a deployed budget other than the suite's, a comparison-family method without results. Then, as
CompilerGym's ``validate`` does, it re-trains a seeded sample of rows from their member, seed and
recorded ``schedule`` (the JSON list of the hyper-parameter dicts applied at each env step) and
checks the recorded validation and test accuracies, so a table cannot claim what its schedules do
not do. ``method_version`` is the label the ledger files the method under; a ``method_fingerprint``
column ([`agents.bench.ledger.method_fingerprint`][]) beside it is recommended, not required.

Tolerance: results are bit-identical on one machine, so the default ``tolerance=0.0`` asks for
the recorded value up to the CSV's rounding (`CSV_ROUNDING`). On another CPU, children can
differ by a few test examples; pass e.g. ``tolerance=1 / n_test_examples`` (one example: 0.028 on
wine's 36 test examples, 0.0028 on digits' 360) and read the replayed spread.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from agents.bench.preregistration import REGISTERED_PROTOCOL, RegisteredProtocol, load_protocol, registry_problems

__all__ = ["REQUIRED_COLUMNS", "CSV_ROUNDING", "Verification", "verify", "replay", "verify_command", "report"]

REQUIRED_COLUMNS = ("suite", "member", "seed", "method", "method_version", "test_accuracy", "val_accuracy",
                    "deployed_sgd_steps", "protocol_hash", "schedule")
#: Accuracies in results.csv carry six decimals: a replay within one unit of the last one matches.
CSV_ROUNDING = 1e-6


@dataclass(frozen=True)
class Verification:
    """What [`verify`][agents.bench.verify.verify] found: one line per problem (none: the folder passes)."""

    problems: tuple[str, ...]
    rows: int
    replayed: int

    @property
    def exit_code(self) -> int:
        return 1 if self.problems else 0


def verify(folder: str | Path, protocol: RegisteredProtocol | None = None, *, replays: int = 8,
           tolerance: float = 0.0, seed: int = 0, check_registry: bool = True) -> Verification:
    """Check ``folder/results.csv`` against ``protocol`` (default: the registered one).

    Args:
        replays: rows re-trained from their recorded schedule, drawn with ``numpy`` seeded by ``seed``
            (0: none; more than the rows: all of them).
        tolerance: allowed absolute accuracy difference of a replay, beyond the CSV's rounding.
        check_registry: also check that the protocol's suites match [`hpenv.instances`][]'s.
    """
    if replays < 0 or tolerance < 0:
        raise ValueError(f"replays and tolerance must be >= 0, got replays={replays!r}, tolerance={tolerance!r}")
    protocol = protocol if protocol is not None else load_protocol(REGISTERED_PROTOCOL)
    path = Path(folder) / "results.csv"
    if not path.is_file():
        return Verification((f"{path} does not exist",), 0, 0)
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
        missing_columns = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or ())]
    if missing_columns:
        return Verification((f"{path} lacks the columns {missing_columns}",), len(rows), 0)
    problems = [] if protocol.is_frozen else [
        f"protocol {protocol.version} is a {protocol.status}: results under it are not test results"]
    problems += registry_problems(protocol) if check_registry else []
    problems += _coverage_problems(rows, protocol)
    # a PBT child's weights came from other children: its schedule alone cannot reproduce it
    sample = _sample([r for r in rows if r.get("replayable", "True") != "False"], replays, seed)
    for row in sample:
        problems += _replay_problems(row, protocol, tolerance)
    return Verification(tuple(problems), len(rows), len(sample))


def replay(member: str, seed: int, schedule: list[dict], env_kwargs: dict) -> tuple[float, float]:
    """Re-train one child: ``reset(seed=seed)``, then each recorded hyper-parameter dict as an
    absolute action. Returns the final ``(val_accuracy, test_accuracy)``.

    The child trains on one torch thread, as the protocol runner's do: other thread counts may
    sum in another order and move an accuracy by a test example.
    """
    import numpy as np
    import torch

    from agents.bench.common import DEPLOY_CHUNK
    from agents.engine import schedule_episodes
    from hpenv.config import EnvConfig

    if not (isinstance(schedule, list) and schedule and all(isinstance(v, dict) for v in schedule)):
        raise ValueError("the schedule is not a non-empty JSON list of hyper-parameter dicts")
    space = EnvConfig.from_kwargs({"task": member, **env_kwargs}).resolve_space()
    actions = np.array([[space.encode(values) for values in schedule]], dtype=np.int64)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:  # the one episode loop, as the benchmark deploys its children (alone, DEPLOY_CHUNK)
        (record,), _ = schedule_episodes(actions, [seed], chunk=DEPLOY_CHUNK, task=member, **env_kwargs)
    finally:
        torch.set_num_threads(threads)
    played = len(record.schedule)  # a schedule shorter than the episode repeats its last step
    if played != len(schedule):
        raise ValueError(f"the schedule has {len(schedule)} steps but the episode "
                         + (f"ended after {played}" if played < len(schedule) else "goes on"))
    return record.val_accuracy, record.test_accuracy


def verify_command(folder: str | Path, protocol_path: str | Path = REGISTERED_PROTOCOL, *, replays: int = 8,
                   tolerance: float = 0.0, seed: int = 0, echo: Callable[[str], None] = print) -> int:
    """What ``hptune bench --verify DIR`` runs: print one line per problem, or that the folder passed;
    return the exit code (0: passed)."""
    return report(verify(folder, load_protocol(protocol_path), replays=replays, tolerance=tolerance, seed=seed),
                  folder, echo)


def report(result: Verification, folder: str | Path, echo: Callable[[str], None] = print) -> int:
    """Print one line per problem of ``result``, or that ``folder`` passed; return the exit code (0: passed)."""
    for line in result.problems:
        echo(line)
    if not result.problems:
        echo(f"{folder}: {result.rows} rows follow the protocol; {result.replayed} replayed rows match")
    return result.exit_code


def _coverage_problems(rows: list[dict], protocol: RegisteredProtocol) -> list[str]:
    problems = []
    hashes = defaultdict(int)
    for row in rows:
        hashes[row["protocol_hash"]] += 1
    for h, n in hashes.items():
        if h != protocol.hash:
            problems.append(f"protocol hash {h} differs from the registered {protocol.hash} ({n} rows)")
    seeds = set(protocol.evaluation_seeds)
    for s in sorted({row["seed"] for row in rows}):
        if not (s.lstrip("-").isdigit() and int(s) in seeds):
            problems.append(f"seed {s} is not one of the protocol's evaluation seeds {list(protocol.evaluation_seeds)}")
    names = {plan.name for plan in protocol.suites}
    for name in sorted({row["suite"] for row in rows} - names):
        problems.append(f"suite {name} is not in the protocol")

    # (suite, method, version, meta-training seed) -> member -> seeds recorded; a meta-trained
    # method is deployed once per meta-training seed, each copy on every member and seed
    seen: dict[tuple, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        key = (row["suite"], row["method"], row["method_version"], row.get("training_seed", "-1"))
        seen[key][row["member"]].append(row["seed"])
    for plan in protocol.suites:
        test_members = plan.members("test") + plan.members("transfer")  # transfer is reported apart, as required
        test_set = set(test_members)
        budget = str(plan.deployed_sgd_steps)
        for row in rows:  # a child that diverged ends its episode early, never late
            steps = int(row["deployed_sgd_steps"]) if row["deployed_sgd_steps"].isdigit() else -1
            if row["suite"] == plan.name and not (steps == int(budget) or (
                    row.get("diverged") == "True" and 0 <= steps < int(budget))):
                problems.append(f"{row['member']} seed {row['seed']} method {row['method']}: deployed "
                                f"{row['deployed_sgd_steps']} SGD steps, the suite's budget is {budget}")
        versions = [key for key in seen if key[0] == plan.name]
        for method in plan.methods:
            if not any(key[1] == method for key in versions):
                problems.append(f"suite {plan.name}: method {method} of the comparison family has no results")
        for key in versions:
            _, method, version, training_seed = key
            label = f"method {method} ({version})" + (
                f" meta-trained with seed {training_seed}" if training_seed not in ("", "-1") else "")
            members = seen[key]
            for m in sorted(set(members) - test_set):
                problems.append(f"{m} is not a test or transfer member of {plan.name} ({label})")
            present = [m for m in test_members if m in members]
            for m in test_members:
                if m not in members:
                    problems.append(f"missing test member {m} for {label}")
                    continue
                recorded = members[m]
                lacking = [s for s in protocol.evaluation_seeds if str(s) not in recorded]
                if lacking:
                    problems.append(f"{m}, {label}: missing seeds {lacking}")
                if len(recorded) != len(set(recorded)):
                    problems.append(f"{m}, {label}: a seed is recorded more than once")
            if len(present) < len(test_members):
                problems.append(f"{label}: {len(present)} of {len(test_members)} test members")
    return problems


def _sample(rows: list[dict], k: int, seed: int) -> list[dict]:
    if k >= len(rows):
        return rows
    picks = np.random.default_rng(seed).choice(len(rows), size=k, replace=False)
    return [rows[i] for i in sorted(picks)]


def _replay_problems(row: dict, protocol: RegisteredProtocol, tolerance: float) -> list[str]:
    where = f"replay of {row['member']} seed {row['seed']} method {row['method']} ({row['method_version']})"
    try:
        plan = protocol.suite(row["suite"])
        recorded = {name: float(row[name]) for name in ("val_accuracy", "test_accuracy")}
        schedule = json.loads(row["schedule"])
        replayed = dict(zip(recorded, replay(row["member"], int(row["seed"]), schedule, plan.env_kwargs)))
    except (KeyError, ValueError) as e:
        return [f"{where}: cannot replay: {e}"]
    problems = []
    for name, got in replayed.items():
        if abs(got - recorded[name]) > tolerance + CSV_ROUNDING:
            problems.append(f"{where}: {name} {got:.6f} replayed, {recorded[name]:.6f} recorded (tolerance {tolerance})")
    return problems
