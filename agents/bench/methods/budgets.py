"""What a benchmark method may spend, and the seed of its learners:
[`MethodBudgets`][agents.bench.methods.budgets.MethodBudgets], under the names of the registered protocol's
``[budgets]`` table. Every benchmark generation hands its methods one as ``ctx.budgets``."""

from __future__ import annotations

from dataclasses import dataclass, field

from agents.options import reinforce_settings
from agents.reinforce_config import RecurrentReinforceConfig

__all__ = ["MethodBudgets"]


@dataclass(frozen=True)
class MethodBudgets:
    """What every method of a suite reads of its run.

    The first six fields are the registered protocol's budgets of the same names
    ([`agents.bench.preregistration.Budgets`][]); the ``rr`` fields are RecurrentReinforce's
    settings, which no protocol registers.

    Attributes:
        meta_episodes: meta-training episodes of every learned method (RecurrentReinforce, the
            Stable-Baselines3 learners, the NAS-style controller).
        num_envs: children per meta-training batch (one native vector env; the episodes per update).
        search_budget_episodes: search compute per deployed child, in episodes: random search, TPE
            and successive halving spend it on candidates before retraining the winner; PBT runs
            ``1 +`` this many children.
        search_candidates: candidates of random search, TPE and successive halving.
        tpe_startup_trials: TPE's random trials before its model.
        pbt_interval: env steps between PBT's exploit steps.
        seed: the seed of every learner and random draw of the method (a learned method's
            meta-training seed); not of the evaluation children.
        rr: RecurrentReinforce's settings; RR meta sets their seed, batch (``num_envs``) and the
            entropy decay's length (``meta_episodes``) from the fields above.
        rr_spaces: the action spaces RR meta is meta-trained with, one agent each; the best on the
            selection members (``agents.bench.methods.RR_SPACES``) is deployed.
        rr_selection_seeds: seeds per selection member on which RR meta's agents are compared.
        rr_online_update_every: ``RR meta + online``: env steps between the agent's updates while a
            test child trains.
    """

    meta_episodes: int
    num_envs: int
    search_budget_episodes: int
    search_candidates: int
    tpe_startup_trials: int
    pbt_interval: int
    seed: int = 0
    rr: RecurrentReinforceConfig = field(default_factory=reinforce_settings)
    rr_spaces: tuple[str, ...] = ("absolute",)
    rr_selection_seeds: int = 4
    rr_online_update_every: int = 5

    @property
    def rr_meta_episodes(self) -> int:
        """`meta_episodes` under v1's name. The code of ``RR meta`` and of the NAS-style controller
        reads it so (as ``ctx.protocol.rr_meta_episodes``), and the v2 ledger's fingerprints hash that
        code: it stays as it was scored, and a new name there would be a new method version."""
        return self.meta_episodes
