"""The final comparisons of ``hptune train``: the trained policy beside baselines and references, on the same children.

[`final_comparison`][agents.cli.compare.final_comparison] picks one by the run's task:
[`compare`][agents.cli.compare.compare] on a task's held-out seeds,
[`compare_on_selection`][agents.cli.compare.compare_on_selection] on a v1 suite's selection members
(references chosen there), [`compare_on_v2_selection`][agents.cli.compare.compare_on_v2_selection] on a v2
suite's selection members with the references the registered benchmark run chose,
[`compare_on_v3_dev`][agents.cli.compare.compare_on_v3_dev] on a v3 suite's dev members with the references its
selection stage chose and the registered primary analysis. Test members are never used.
Every child plays the run's episode ([`episode_kwargs`][agents.cli.config.TrainConfig.episode_kwargs]).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import hpenv
from agents.cli.config import TrainConfig
from agents.engine import EpisodeRecord
from agents.evaluation import run_episodes
from agents.seeds import REPORT

__all__ = ["Comparison", "final_comparison", "compare", "compare_on_selection", "compare_on_v2_selection",
           "compare_on_v3_dev", "members_by_factor"]


@dataclass(frozen=True)
class Comparison:
    """The comparison a run of ``hptune train`` ends with.

    Attributes:
        results: every method's children by name (the trained policy first), in (member, seed) order.
        references: the methods every other one is paired against (none on a plain task).
        members: a suite's selection (v2) or dev (v3) members, compared at member level; None: children paired
            one by one.
        where: which children these are, in words.
        analysis: a v3 suite's: the registered primary analysis' rows, the controller against each reference.
        described: a v3 suite's: what each reference does, by name.
    """

    results: dict[str, list[EpisodeRecord]]
    references: list[str]
    members: list[str] | None
    where: str
    analysis: list[dict] | None = None
    described: dict[str, str] | None = None


def final_comparison(policies: dict[str, Any], cfg: TrainConfig, folder: Path, checkpoint: Path | None = None
                     ) -> Comparison:
    """The comparison for ``cfg.task``: a task's ([`compare`][agents.cli.compare.compare]), a v3 suite's
    ([`compare_on_v3_dev`][agents.cli.compare.compare_on_v3_dev]), a v2 suite's
    ([`compare_on_v2_selection`][agents.cli.compare.compare_on_v2_selection], ``checkpoint`` the trained
    RecurrentReinforce's) or a v1 suite's ([`compare_on_selection`][agents.cli.compare.compare_on_selection],
    its references' selection cached in ``folder / "selection"``). The first policy, the trained agent, plays
    its own envs (``cfg.action_kwargs()`` over the run's: the dimensions it moves); every other policy and
    reference plays the run's."""
    if not cfg.is_suite:
        return Comparison(compare(policies, cfg.env_kwargs(), cfg.eval_episodes, cfg.action_kwargs()), [], None,
                          f"{cfg.eval_episodes} held-out seeds ({cfg.task})")
    if cfg.is_v3:
        results, described, members, rows = compare_on_v3_dev(policies, cfg, checkpoint)
        return Comparison(results, list(described), members,
                          f"{len(members)} dev members of {cfg.task} x {cfg.eval_episodes} seeds, member level (the "
                          f"references were chosen on the selection members, the agent trained on the train members)",
                          rows, described)
    if cfg.is_v2:
        results, references, members = compare_on_v2_selection(policies, cfg, checkpoint)
        return Comparison(results, references, members,
                          f"{len(members)} selection members of {cfg.task} x {cfg.eval_episodes} seeds, member level "
                          f"(the benchmark's references were chosen on these members, at other seeds)")
    results, references = compare_on_selection(policies, cfg, folder / "selection")
    return Comparison(results, references, None,
                      f"{len(hpenv.instance_set(cfg.task, 'selection'))} selection members of {cfg.task} x "
                      f"{cfg.eval_episodes} seeds (the references were chosen on these very children)")


def compare(policies: dict[str, Any], env_kwargs: dict, episodes: int, own: dict | None = None
            ) -> dict[str, list[EpisodeRecord]]:
    """Each policy on the same held-out seeds (same children, same batches); the first in ``env_kwargs``
    updated with ``own`` (the trained agent's action arguments).

    The seeds are `agents.seeds.REPORT`'s, never the benchmark's evaluation seeds (and
    [`TrainConfig`][agents.cli.config.TrainConfig] refuses a suite's test members).
    """
    env = gym.make(hpenv.ENV_ID, **env_kwargs)
    first = gym.make(hpenv.ENV_ID, **env_kwargs, **own) if own else env
    seeds = REPORT.seeds(episodes)
    return {name: run_episodes(first if i == 0 else env, policy, seeds)
            for i, (name, policy) in enumerate(policies.items())}


def compare_on_selection(policies: dict[str, Any], cfg: TrainConfig, cache: Path
                         ) -> tuple[dict[str, list[EpisodeRecord]], list[str]]:
    """Each policy, the best static tuple and the best fixed schedule on a suite's selection members.

    The references are chosen as ``hptune bench`` chooses them (best mean validation accuracy over
    the selection members x ``cfg.eval_episodes`` seeds ``1_000_000 + i``), then every method
    trains one child per (selection member, seed) alone, so the results pair exactly. The
    references are chosen on these very children: the comparison favours them. Test members are
    never used. Returns the results by method name (in (member, seed) order) and the names of the
    two references.
    """
    from agents.bench.v1.protocol import Protocol, SuiteContext
    from agents.engine import evaluate_policy, schedule_episodes, static_episodes

    # v1's candidates and selection seeds choose the references; every child plays the run's episode
    episode = cfg.episode_kwargs()
    protocol = Protocol(suites=(cfg.task,), selection_seeds=cfg.eval_episodes, seed=cfg.seed)
    # one cache per seed count: a resumed run with another --eval-episodes chooses its references anew
    ctx = SuiteContext(cfg.task, protocol, cache / f"{cfg.eval_episodes}-seeds", env_kwargs=episode)
    print(f"choosing the references on {len(ctx.selection_members())} selection members x {cfg.eval_episodes} "
          f"seeds ({len(ctx.candidates)} static tuples, {len(ctx.schedules)} fixed schedules)")
    selection = ctx.run_selection()
    seeds = selection["seeds"]
    static = ctx.candidates[selection["static_best"]]
    schedule = ctx.schedules[selection["schedule_best"]]
    references = [f"best static tuple ({_tuple_text(ctx.space.decode(static))})",
                  f"best fixed schedule ({ctx.schedule_names[selection['schedule_best']]})"]
    kw = ctx.env_kwargs
    results: dict[str, list[EpisodeRecord]] = {name: [] for name in [*policies, *references]}
    for member in ctx.selection_members():
        for i, (name, policy) in enumerate(policies.items()):
            own = cfg.action_kwargs() if i == 0 else {}
            results[name] += evaluate_policy(policy, seeds, chunk=1, task=member, **kw, **own)
        results[references[0]] += static_episodes(np.repeat(static[None], len(seeds), 0), seeds, chunk=1,
                                                  task=member, **kw)[0]
        results[references[1]] += schedule_episodes(np.repeat(schedule[None], len(seeds), 0), seeds, chunk=1,
                                                    task=member, **kw)[0]
    return results, references


@dataclass(frozen=True)
class _Checkpoint:
    """A trained RecurrentReinforce as a worker process rebuilds it (the agent itself holds its envs)."""

    path: str


def _member_unit(unit: tuple) -> dict[str, list[EpisodeRecord]]:
    """One member's children: every policy and every reference (a schedule, or a v3 closed-loop rule), one
    child per seed each; the first policy in its own envs (``own`` over ``kw``)."""
    from agents.bench.v3.candidates import rule_episodes
    from agents.engine import evaluate_policy, schedule_episodes
    from agents.reinforce import RecurrentReinforce

    member, seeds, kw, policies, references, own = unit
    out = {}
    for i, (name, policy) in enumerate(policies.items()):
        if isinstance(policy, _Checkpoint):
            policy = RecurrentReinforce.load(policy.path)
        out[name] = evaluate_policy(policy, seeds, chunk=len(seeds), task=member, **kw, **(own if i == 0 else {}))
    for name, ref in references.items():
        if isinstance(ref, dict):  # a closed-loop rule
            out[name] = rule_episodes(hpenv.HPSpace.default(), [ref] * len(seeds), seeds, chunk=len(seeds),
                                      task=member, **kw)[0]
        else:
            out[name] = schedule_episodes(np.repeat(ref[None], len(seeds), 0), seeds, chunk=len(seeds),
                                          task=member, **kw)[0]
    return out


def _portable(policies: dict[str, Any], checkpoint: Path | None) -> tuple[dict[str, Any], int]:
    """The policies as worker processes get them (a RecurrentReinforce as its ``checkpoint``) and how many
    workers may run them: every core, or 1 when a policy cannot be pickled (evaluated here, member by member)."""
    import pickle

    from agents.bench.parallel import default_workers
    from agents.reinforce import RecurrentReinforce

    portable = {name: _Checkpoint(str(checkpoint)) if isinstance(policy, RecurrentReinforce) and checkpoint
                else policy for name, policy in policies.items()}
    try:
        pickle.dumps(portable)
    except (pickle.PicklingError, TypeError, AttributeError):
        return portable, 1
    return portable, default_workers()


def _member_results(units: list[tuple], names: list[str], workers: int) -> dict[str, list[EpisodeRecord]]:
    """Every method's children over the units' members, in (member, seed) order
    ([`agents.bench.parallel.run_units`][] over `_member_unit`)."""
    from agents.bench.parallel import run_units

    by_member = dict(run_units(_member_unit, units, workers=workers))
    return {name: [r for i in range(len(units)) for r in by_member[i][name]] for name in names}


def compare_on_v2_selection(policies: dict[str, Any], cfg: TrainConfig, checkpoint: Path | None = None
                            ) -> tuple[dict[str, list[EpisodeRecord]], list[str], list[str]]:
    """Each policy and the benchmark's two references on a v2 suite's selection members, on every core.

    The references are those the registered ``hptune bench --v2`` run chose on these members and
    reports against ([`agents.bench.registered.registered_references`][]: the best static tuple over the
    whole grid, the best fixed schedule of the protocol's family). Every method trains one child per
    (selection member, seed) on the same seeds, ``cfg.eval_episodes`` seeds of the v2 selection range
    after the protocol's own (so no child here chose anything; the members did choose the
    references, which favours them). Members run in parallel ([`agents.bench.parallel.run_units`][]);
    a RecurrentReinforce policy travels to the workers as its ``checkpoint`` (a policy that cannot be
    pickled keeps the evaluation in this process). Returns the results by method (in (member, seed)
    order), the references' names and the members.
    """
    from agents.bench.preregistration import load_protocol
    from agents.bench.registered import registered_references
    from agents.seeds import V2_SELECTION
    from hpenv.config import EnvConfig

    kw = cfg.episode_kwargs()
    space = EnvConfig.from_kwargs(cfg.env_kwargs()).resolve_space()  # the env's space, without building one
    chosen = registered_references(cfg.task)
    schedules = {f"{name} ({_schedule_title(steps)})": np.stack([space.encode(values) for values in steps])
                 for name, steps in chosen.items()}
    seeds = V2_SELECTION.seeds(cfg.eval_episodes, offset=len(load_protocol().selection_seeds))
    portable, workers = _portable(policies, checkpoint)
    members = hpenv.instance_set(cfg.task, "selection")
    print(f"comparing on {len(members)} selection members x {len(seeds)} seeds with the benchmark's references "
          f"({', '.join(schedules)}), {workers} worker(s)")
    results = _member_results([(m, seeds, kw, portable, schedules, cfg.action_kwargs()) for m in members],
                              [*policies, *schedules], workers)
    return results, list(schedules), members


def compare_on_v3_dev(policies: dict[str, Any], cfg: TrainConfig, checkpoint: Path | None = None
                      ) -> tuple[dict[str, list[EpisodeRecord]], dict[str, str], list[str], list[dict]]:
    """Each policy and the references a v3 suite's selection stage chose, on the suite's dev members, on every core.

    The references ([`agents.bench.v3.shipped.shipped_references`][]: the best static tuple, the best fixed
    schedule and, on a stream suite, the best closed-loop rule) were chosen on the selection members; no
    reference was chosen on the dev members, and the agent trained on the train members. Every method trains
    one child per (dev member, seed) on ``cfg.eval_episodes`` seeds of `agents.seeds.REPORT`, each member
    with its own env arguments. The controller (the first policy) is compared with the references by the
    registered primary analysis ([`agents.bench.v3.analysis.primary_analysis`][], the shipped protocol's
    ``[statistics]``), at the run's one meta-training seed: the spread between meta-training seeds is not in
    these intervals. Returns the results by method (in (member, seed) order), ``{reference: what it does}``,
    the members and the analysis' rows (one per reference).
    """
    from agents.bench.v3.analysis import NOT_LEARNED, MethodScores, primary_analysis
    from agents.bench.v3.shipped import shipped_references, shipped_statistics
    from hpenv.instances import member_task

    references, chosen = shipped_references(cfg.task)
    stats = shipped_statistics()
    seeds = REPORT.seeds(cfg.eval_episodes)
    portable, workers = _portable(policies, checkpoint)
    members = hpenv.instance_set(cfg.task, "dev")
    print(f"comparing on {len(members)} dev members x {len(seeds)} seeds with the references the selection stage "
          f"chose on the selection members ({', '.join(references)}), {workers} worker(s)")
    units = [(m, seeds, cfg.member_env_kwargs(m), portable, references, cfg.action_kwargs()) for m in members]
    results = _member_results(units, [*policies, *references], workers)
    n_test = np.array([len(member_task(m).y_test) for m in members], dtype=np.int64)

    def scores(name: str, learned: bool) -> MethodScores:
        acc = np.array([r.test_accuracy for r in results[name]], dtype=np.float64).reshape(len(members), 1, len(seeds))
        return MethodScores(name, np.rint(acc * n_test[:, None, None]).astype(np.int64), n_test, members,
                            (cfg.seed,) if learned else (NOT_LEARNED,), seeds)

    controller = next(iter(policies))
    rows = primary_analysis(scores(controller, cfg.agent == "reinforce"), [scores(r, False) for r in references],
                            margin=stats.equivalence_margin, alpha=stats.alpha, resamples=stats.resamples,
                            seed=stats.seed)
    described = {name: ref["name"] for name, ref in chosen["references"].items()}
    return results, described, members, rows


def members_by_factor(records: list[EpisodeRecord], members: list[str]) -> dict[str, EpisodeRecord]:
    """First-seed children of up to four members that differ most in their factors (the fewest and most
    training examples, the least and most label noise), labelled by those factors, for ``schedule.png``."""
    per = len(records) // len(members)
    factors = {m: hpenv.member_factors(m) for m in members}
    if factors[members[0]].get("stream"):
        return _children_around_the_change(records, members, factors)
    picks = []
    for key in ("n_train", "label_noise"):
        for m in (min(members, key=lambda m: factors[m][key]), max(members, key=lambda m: factors[m][key])):
            if m not in picks:
                picks.append(m)
    return {f"{m.rsplit('/', 1)[1]}: {factors[m]['base']}, {factors[m]['n_train']} examples, "
            f"label noise {factors[m]['label_noise']:.0%}": records[members.index(m) * per] for m in picks}


def _children_around_the_change(records: list[EpisodeRecord], members: list[str], factors: dict
                                ) -> dict[str, EpisodeRecord]:
    """Stream members: per kind of change, the children whose data change earliest and latest (their first
    such child), labelled by the member, the kind and the step, for ``schedule.png``."""
    per = len(records) // len(members)
    picks: dict[str, EpisodeRecord] = {}
    for kind in dict.fromkeys(factors[m]["stream"] for m in members):
        own = [(r.change_step, i) for i, r in enumerate(records)
               if factors[members[i // per]]["stream"] == kind and r.change_step is not None]
        for step, i in dict.fromkeys((min(own), max(own))) if own else ():
            m = members[i // per]
            picks[f"{m.rsplit('/', 1)[1]}: {factors[m]['base']}, {kind.replace('_', ' ')} "
                  f"({factors[m]['stream_param']:.2f}), change at step {step}"] = records[i]
    return picks


def _schedule_title(steps: list[dict]) -> str:
    """A schedule of applied values as text: the start tuple, then each change and the env step it happens at."""
    parts = [_tuple_text(steps[0])]
    for t in range(1, len(steps)):
        changed = {k: v for k, v in steps[t].items() if v != steps[t - 1][k]}
        if changed:
            parts.append(f"{_tuple_text(changed)} from step {t + 1}")
    return "; ".join(parts)


def _tuple_text(values: dict) -> str:
    return ", ".join(f"{name} {value:g}" for name, value in values.items())
