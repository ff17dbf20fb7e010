"""The searches at every test child (random search, TPE, successive halving) and population-based
training (ours and Ray Tune's), each with the run's ``search_*`` budgets.

The classes the v2 ledger scored read them as ``ctx.protocol``: their fingerprints hash their code
([`agents.bench.v2.method_identity`][]), so it stays as it was scored; the rest read ``ctx.budgets``
([`MethodBudgets`][agents.bench.methods.budgets.MethodBudgets]), which carries the same names."""

from __future__ import annotations

from agents import search
from agents.bench.methods.base import Method, register_method


class _BudgetedSearch(Method):
    """A search whose compute per deployed child is the run's (``ctx.budgets``' ``search_*`` fields)."""

    def prepare(self, ctx):
        b = ctx.budgets
        self.budget = {"search_budget_episodes": b.search_budget_episodes, "search_candidates": b.search_candidates,
                       "tpe_startup_trials": b.tpe_startup_trials, "pbt_interval": b.pbt_interval, "seed": b.seed}

    def settings(self) -> dict:
        return dict(self.budget)


class _PerMemberSearch(_BudgetedSearch):
    """A search at every test child: its candidates cost ``search_budget_episodes * E`` SGD steps,
    then the winner is retrained for one episode (the deployed child)."""

    def run(self, ctx, member, seeds):
        budget = ctx.budgets.search_budget_episodes * ctx.episode_steps
        return [self.search(ctx, s, budget, {**ctx.env_kwargs, "task": member}) for s in seeds]


@register_method("random search")
class RandomSearch(_PerMemberSearch):
    def search(self, ctx, seed, budget, kw):
        return search.random_search(seed, ctx.protocol.search_candidates, rng_seed=ctx.protocol.seed,
                                    budget=budget, deploy=True, **kw)


@register_method("TPE")
class TPE(_PerMemberSearch):
    extras = ("optuna",)

    def search(self, ctx, seed, budget, kw):
        p = ctx.protocol
        return search.tpe_search(seed, p.search_candidates, n_startup_trials=p.tpe_startup_trials,
                                 sampler_seed=p.seed, budget=budget, deploy=True, **kw)


@register_method("successive halving")
class SuccessiveHalving(_PerMemberSearch):
    def search(self, ctx, seed, budget, kw):
        return search.successive_halving(seed, ctx.protocol.search_candidates, eta=2, budget=budget,
                                         rng_seed=ctx.protocol.seed, deploy=True, **kw)


@register_method("PBT")
class PBT(_BudgetedSearch):
    """Population-based training: ``1 + search_budget_episodes`` children side by side (the same
    total compute as the other searches); the best lineage is the deployed child. Its weights were
    copied from other children at exploit steps, so the schedule alone does not replay it."""

    replayable = False

    def run(self, ctx, member, seeds):
        p = ctx.protocol
        return [search.pbt(s, 1 + p.search_budget_episodes, interval=p.pbt_interval, rng_seed=p.seed,
                           task=member, **ctx.env_kwargs) for s in seeds]


@register_method("PBT (Ray Tune)")
class PBTRayTune(_BudgetedSearch):
    """[`PBT`][agents.bench.methods.searches.PBT] with every member a Ray Tune trial
    ([`agents.pbt_tune.pbt_tune`][]): the same members, seeds and compute, each SGD step counted as it runs.
    Not a default method: on one machine Tune's trial scheduling and checkpoints cost far more than the
    training."""

    extras = ("ray",)
    replayable = False

    def run(self, ctx, member, seeds):
        from agents.pbt_tune import pbt_tune  # imported here: Ray is slow to import

        b = ctx.budgets
        return [pbt_tune(s, 1 + b.search_budget_episodes, interval=b.pbt_interval, rng_seed=b.seed,
                         task=member, **ctx.env_kwargs) for s in seeds]
