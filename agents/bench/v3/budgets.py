"""The ``[budgets]`` and ``[protocol]`` tables of benchmark v3's protocol: what every method may spend, and
whether the protocol is frozen.

[`load_budgets`][agents.bench.v3.budgets.load_budgets] reads ``[budgets]`` (every key required, every value
checked); [`protocol_identity`][agents.bench.v3.budgets.protocol_identity] gives the file's hash (SHA-256 of its
bytes: the ``protocol_hash`` of every results row and ledger row) and its ``status``. A run that scores test or
transfer members needs ``status = "frozen"``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields
from pathlib import Path

from agents.bench.v3.bootstrap import check_count
from agents.bench.v3.statistics import protocol_table

__all__ = ["Budgets", "ProtocolIdentity", "load_budgets", "protocol_identity"]


@dataclass(frozen=True)
class Budgets:
    """The protocol's ``[budgets]`` table.

    Attributes:
        meta_episodes: Meta-training episodes of every learned method.
        num_envs: Children per meta-training update.
        runner_envs: Children per chunk of an update; a chunk is played in one group of members that
            share their env arguments ([`agents.member_groups.MemberGroupRunners`][]).
        search_candidates: Candidates of random search, TPE and successive halving.
        search_budget_episodes: Their compute per deployed child in the family, in episodes of the
            member (then the winner trains one episode); PBT runs ``1 +`` this many children.
        tpe_startup_trials: TPE's random trials before its model.
        pbt_interval: Env steps between PBT's exploit steps.
        generous_search_budget_episodes: The searches' second budget, outside the family.
        generous_search_members: Test members the searches run at that budget (the first of the split).
        oracle_test_members: Test members the per-member oracles are found on (the first of the split;
            the selection stage's procedure, ``benchmarks/v3/gates.py --split test``).
    """

    meta_episodes: int
    num_envs: int
    runner_envs: int
    search_candidates: int
    search_budget_episodes: int
    tpe_startup_trials: int
    pbt_interval: int
    generous_search_budget_episodes: int
    generous_search_members: int
    oracle_test_members: int

    def __post_init__(self) -> None:
        if self.num_envs % self.runner_envs:
            raise ValueError(f"[budgets] runner_envs must divide num_envs {self.num_envs} (an update is whole "
                             f"chunks), got {self.runner_envs}")


def load_budgets(path: str | Path) -> Budgets:
    """The ``[budgets]`` table of a v3 protocol file, checked.

    Raises:
        FileNotFoundError: when ``path`` does not exist.
        ValueError: on a missing table, a missing or unknown key, or a value that is not an integer >= 1.
    """
    path, table = protocol_table(path, "budgets")
    keys = [f.name for f in fields(Budgets)]
    unknown, missing = sorted(set(table) - set(keys)), [k for k in keys if k not in table]
    if unknown or missing:
        raise ValueError(f"{path} [budgets]: unknown keys {unknown}, missing keys {missing}; the keys: {keys}")
    return Budgets(**{k: check_count(f"[budgets] {k}", table[k]) for k in keys})


@dataclass(frozen=True)
class ProtocolIdentity:
    """A v3 protocol file as results and the ledger name it.

    Attributes:
        path: The file.
        hash: SHA-256 (hex) of its bytes.
        version: ``[protocol] version``.
        frozen: ``[protocol] status == "frozen"``.
    """

    path: Path
    hash: str
    version: str
    frozen: bool


def protocol_identity(path: str | Path) -> ProtocolIdentity:
    """The hash, version and status of the v3 protocol file at ``path``."""
    path, table = protocol_table(path, "protocol")
    status = table.get("status")
    if status not in ("draft", "frozen"):
        raise ValueError(f"{path} [protocol] status = {status!r}; allowed: 'draft' or 'frozen'")
    return ProtocolIdentity(path=path, hash=hashlib.sha256(path.read_bytes()).hexdigest(),
                            version=str(table.get("version", "")), frozen=status == "frozen")
