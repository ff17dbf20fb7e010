"""Budgeted hyper-parameter search methods, measured the way the benchmark measures policies.

Every method here trains real children in HPTune episodes and returns an
[`EpisodeRecord`][agents.engine.EpisodeRecord] per evaluation seed: the **test accuracy of the one child it
finally chose** (chosen by validation accuracy only; the test split is read for nothing else), the child SGD
steps it actually spent, its wall time, and, separately, any one-off cost paid before deployment
(meta-training, or a search on selection seeds).

The methods, and how their budget compares with one episode of ``E = horizon * steps_per_action``
SGD steps (what a policy such as the fixed default tuple spends):

* [`random_search`][agents.search.random_search] -- ``k`` random static tuples, *equal budget*: each candidate
  child is trained for ``E // k`` SGD steps (one env step of ``E // k`` mini-batches), the one with the
  best validation accuracy is kept and its test accuracy reported. No retraining of the winner
  (that would spend a second budget).
* [`tpe_search`][agents.search.tpe_search] -- Optuna's TPE over the static tuples with the same split as
  random search (``k`` trials of ``E // k`` steps). Optuna is an optional extra, imported lazily.
* [`grid_search`][agents.search.grid_search] -- every static tuple of the space (480 for the default space),
  each trained for a whole episode on a *selection* seed (never an evaluation seed), the best 16
  confirmed on 4 more selection seeds; the tuple with the best mean validation accuracy is then
  deployed like a fixed policy. Its full cost (``(480 + 16 * 4) * E`` SGD steps) is reported as
  the one-off cost: this is the accuracy ceiling for static tuples that a practitioner could
  actually find.
* [`pbt`][agents.search.pbt] -- population-based training on the native vector env: ``population`` children
  train side by side; every ``interval`` env steps the bottom ``fraction`` (by validation
  accuracy) copy the weights and momentum of a random top child
  ([`hpenv.vector.HPTuneVectorEnv.copy_child`][]) and perturb its tuple to a neighbouring
  index. Cost: ``population * E``.
* [`NASController`][agents.search.NASController] -- a NAS-style controller (Zoph & Le, 2017): REINFORCE over
  static tuples, one tuple per episode, reward = final validation accuracy. Its training is the
  one-off cost; it then deploys its greedy (most likely) tuple.

Child seeds: a method run "at seed ``s``" starts every child it trains from ``reset(seed=s)``
(the same initial weights and batch order as any other method evaluated at ``s``), so results
are paired across methods.

All of them are built on the one evaluation engine, [`agents.engine`][] (K children in one
vector env, each with its own seed and actions), which the benchmark's policy evaluation uses too.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from agents.engine import Actor, EpisodeRecord, evaluate_policy, run_batch, static_episodes  # noqa: F401  (re-exported)
from agents.seeds import SELECTION, TRAINING_DRAW
from hpenv.config import EnvConfig
from hpenv.extras import import_extra
from hpenv.spaces import HPSpace
from hpenv.vector import HPTuneVectorEnv

__all__ = [
    "SearchResult", "run_batch", "evaluate_policy", "static_episodes", "random_search",
    "tpe_search", "successive_halving", "grid_search", "GridResult", "pbt", "perturb_tuple", "NASController",
    "episode_budget",
]

def episode_budget(**env_kwargs) -> int:
    """``E``: the child SGD steps of one episode, ``horizon * steps_per_action``."""
    return EnvConfig.from_kwargs(env_kwargs).sgd_steps_per_episode


def _space(env_kwargs: dict, what: str | None = None) -> HPSpace:
    """The env's space; with ``what`` (a search over static tuples), refused if its actions are relative."""
    space = EnvConfig.from_kwargs(env_kwargs).resolve_space()
    if what is not None:
        space.require_absolute(what)
    return space


#: The name the searches' record had; it is [`agents.engine.EpisodeRecord`][], the one record.
SearchResult = EpisodeRecord


# ---------------------------------------------------------------------- search methods
def _split_kwargs(env_kwargs: dict, k: int, budget: int | None = None, candidate_task=None) -> tuple[dict, int]:
    """Env kwargs for one of ``k`` candidates sharing ``budget`` SGD steps (default: one episode's,
    ``E``): one env step of ``budget // k``, on ``candidate_task`` where given."""
    budget = episode_budget(**env_kwargs) if budget is None else int(budget)
    per = budget // k
    if per < 1:
        raise ValueError(f"a budget of {budget} SGD steps cannot be split among k={k} candidates")
    task = {} if candidate_task is None else {"task": candidate_task}
    return {**env_kwargs, "horizon": 1, "steps_per_action": per, **task}, per


def _best(results: Sequence[EpisodeRecord]) -> int:
    """Index of the best result by final validation accuracy, ties broken by lower validation loss."""
    keys = [(r.val_accuracy, -r.val_loss) for r in results]
    return max(range(len(keys)), key=lambda i: keys[i])


def _values(space: HPSpace, action) -> dict:
    return space.decode(np.asarray(action, dtype=np.int64))


def _deploy(space: HPSpace, seed: int, action, search: EpisodeRecord, env_kwargs: dict) -> EpisodeRecord:
    """Retrain the chosen tuple from ``reset(seed=seed)`` for the full episode: the deployed child.

    The search's own children count as ``search_sgd_steps``; the deployed child trains exactly
    ``E`` steps, the same child a fixed policy with that tuple trains at ``seed``.
    """
    t0 = time.perf_counter()
    (r,), spent = static_episodes(np.asarray(action)[None], [seed], chunk=1, **env_kwargs)
    return EpisodeRecord.from_episode(r, sgd_steps=search.sgd_steps + spent, search_sgd_steps=search.sgd_steps,
                                     wall_time_s=search.wall_time_s + time.perf_counter() - t0,
                                     chosen=search.chosen)


def random_search(seed: int, k: int = 4, *, rng_seed: int = 0, budget: int | None = None, deploy: bool = False,
                  candidate_task=None, **env_kwargs) -> EpisodeRecord:
    """Best of ``k`` random static tuples at the budget of one episode.

    Each candidate is a child started from ``reset(seed=seed)`` and trained for ``E // k`` SGD
    steps (``E = horizon * steps_per_action``); all ``k`` train together in one vector env. The
    candidate with the highest validation accuracy is kept (ties: lowest validation loss); its test accuracy is
    reported. ``sgd_steps`` is what the ``k`` candidates spent (``k * (E // k) <= E``).

    Args:
        seed: evaluation seed (child seed of every candidate).
        k: number of candidates.
        rng_seed: seeds the draw of the tuples (with ``seed``).
        budget: SGD steps shared by the candidates (default ``E``): each gets ``budget // k``.
        deploy: retrain the winner from ``reset(seed=seed)`` for a whole episode (``E`` steps) and
            report that child; the candidates' steps become ``search_sgd_steps``.
        candidate_task: the task the candidates train on (default: ``task``): on a stream, the data a
            child has before its data change (``StreamTask.phase_task(0)``), since a candidate's short run
            never reaches the change; the deployed child trains on ``task``.
        **env_kwargs: keyword arguments of ``HPTune-v1`` (``task``, ``horizon``, ...).
    """
    space = _space(env_kwargs, "random_search")
    rng = np.random.default_rng([int(rng_seed), int(seed) % 2**63, 0x25])
    tuples = rng.integers(0, space.nvec, size=(k, len(space)))
    split, _ = _split_kwargs(env_kwargs, k, budget, candidate_task)
    t0 = time.perf_counter()
    results, _ = static_episodes(tuples, [seed] * k, chunk=k, **split)
    wall = time.perf_counter() - t0
    best = _best(results)
    spent = sum(r.sgd_steps for r in results)
    found = EpisodeRecord.from_episode(results[best], sgd_steps=spent, wall_time_s=wall,
                                      chosen=_values(space, tuples[best]))
    return _deploy(space, seed, tuples[best], found, env_kwargs) if deploy else found


def tpe_search(seed: int, k: int = 4, *, n_startup_trials: int | None = None, sampler_seed: int = 0,
               budget: int | None = None, deploy: bool = False, candidate_task=None, **env_kwargs) -> EpisodeRecord:
    """Optuna's TPE over static tuples at the budget of one episode (``k`` trials of ``E // k`` steps).

    Every trial trains a child from ``reset(seed=seed)`` with the suggested tuple for ``E // k``
    SGD steps; its validation accuracy is the objective (maximised). The best trial's child is
    kept and its test accuracy reported. The sampler is seeded (``sampler_seed`` with ``seed``).
    ``budget``, ``deploy`` and ``candidate_task`` as in [`random_search`][agents.search.random_search]. TPE only models once
    ``n_startup_trials`` random trials are in (default ``k // 2``): with ``k`` at or below that,
    it is random search.

    Raises:
        hpenv.extras.MissingExtraError: optuna is not installed (``pip install "hpenv[optuna]"``).
    """
    optuna = import_extra("optuna", by="tpe_search")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = _space(env_kwargs, "tpe_search")
    split, _ = _split_kwargs(env_kwargs, k, budget, candidate_task)
    startup = n_startup_trials if n_startup_trials is not None else max(1, k // 2)
    sampler = optuna.samplers.TPESampler(seed=int((sampler_seed * 1_000_003 + seed) % 2**32),
                                         n_startup_trials=startup)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    t0 = time.perf_counter()
    episodes: list[EpisodeRecord] = []
    tuples = []
    for _ in range(k):
        trial = study.ask()
        action = np.array([trial.suggest_int(p.name, 0, len(p) - 1) for p in space.params], dtype=np.int64)
        results, _ = static_episodes(action[None], [seed], chunk=1, **split)
        episodes.append(results[0])
        tuples.append(action)
        study.tell(trial, results[0].val_accuracy)
    wall = time.perf_counter() - t0
    best = _best(episodes)
    found = EpisodeRecord.from_episode(episodes[best], sgd_steps=sum(r.sgd_steps for r in episodes),
                                      wall_time_s=wall, chosen=_values(space, tuples[best]))
    return _deploy(space, seed, tuples[best], found, env_kwargs) if deploy else found


def successive_halving(seed: int, n: int = 16, *, eta: int = 2, budget: int | None = None, rng_seed: int = 0,
                       deploy: bool = True, candidate_task=None, **env_kwargs) -> EpisodeRecord:
    """Successive halving (Jamieson & Talwalkar, 2016) over ``n`` random static tuples.

    Rung ``r`` trains its candidates from ``reset(seed=seed)`` for ``b * eta**r`` SGD steps and
    keeps the best ``1 / eta`` by validation accuracy, until one is left. Every rung spends the
    same ``budget / rungs`` (default budget ``E``). With ``deploy`` the winner is retrained for a
    whole episode (``E`` steps) and that child is reported; ``candidate_task`` as in
    [`random_search`][agents.search.random_search].
    """
    if n < 2 or eta < 2:
        raise ValueError(f"successive halving needs n >= 2 and eta >= 2, got n={n}, eta={eta}")
    space = _space(env_kwargs, "successive_halving")
    rng = np.random.default_rng([int(rng_seed), int(seed) % 2**63, 0x5A])
    tuples = rng.integers(0, space.nvec, size=(n, len(space)))
    rungs = int(np.ceil(np.log(n) / np.log(eta)))
    per_rung = (episode_budget(**env_kwargs) if budget is None else int(budget)) // rungs
    alive = np.arange(n)
    t0 = time.perf_counter()
    spent = 0
    results: list[EpisodeRecord] = []
    while True:
        split, _ = _split_kwargs(env_kwargs, len(alive), per_rung, candidate_task)
        results, trained = static_episodes(tuples[alive], [seed] * len(alive), chunk=len(alive), **split)
        spent += trained
        if len(alive) <= eta:
            alive = alive[[_best(results)]]
            results = [results[_best(results)]]
            break
        keep = max(1, len(alive) // eta)
        order = sorted(range(len(alive)), key=lambda i: (-results[i].val_accuracy, results[i].val_loss))
        alive = alive[sorted(order[:keep])]
    found = EpisodeRecord.from_episode(results[0], sgd_steps=spent, wall_time_s=time.perf_counter() - t0,
                                      chosen=_values(space, tuples[alive[0]]))
    return _deploy(space, seed, tuples[alive[0]], found, env_kwargs) if deploy else found


@dataclass
class GridResult:
    """What [`grid_search`][agents.search.grid_search] found, and what it cost.

    Attributes:
        best: the winning tuple (action indices).
        best_values: its hyper-parameter values.
        val_accuracy: mean validation accuracy of every tuple over the selection seeds ``(G,)``.
        tuples: every tuple tried ``(G, n_hp)``.
        sgd_steps: child SGD steps spent (every tuple, every selection seed).
        wall_time_s: wall time of the search.
    """

    best: np.ndarray
    best_values: dict
    val_accuracy: np.ndarray
    tuples: np.ndarray
    sgd_steps: int
    wall_time_s: float


def grid_search(selection_seeds: Sequence[int] = tuple(SELECTION.seeds(1)), *, confirm_top: int = 16,
                confirm_seeds: Sequence[int] = tuple(SELECTION.seeds(4, offset=101)), chunk: int = 16,
                **env_kwargs) -> GridResult:
    """Train every static tuple of the space for a whole episode and pick the best by validation.

    Stage 1: every tuple trains on each of ``selection_seeds``. Stage 2 (guards against the
    winner's curse of picking 1 of 480 on one small validation split): the ``confirm_top`` best
    tuples train again on each of ``confirm_seeds``. The winner has the highest mean final
    validation accuracy over all the seeds it ran on (ties: lowest mean validation loss); a
    diverged run counts at chance accuracy. Selection seeds must differ from evaluation seeds:
    deploy ``result.best`` on those (e.g. with [`agents.baselines.FixedPolicy`][]) and report
    ``result.sgd_steps`` (both stages, every SGD step run) as the search's one-off cost.
    ``chunk`` tuples train together in one vector env. ``confirm_top=0`` skips stage 2.
    """
    space = _space(env_kwargs, "grid_search")
    tuples = np.array(list(itertools.product(*[range(n) for n in space.nvec])), dtype=np.int64)
    t0 = time.perf_counter()
    val_sum, loss_sum, runs = np.zeros(len(tuples)), np.zeros(len(tuples)), np.zeros(len(tuples))
    spent = 0

    def run(idx: np.ndarray, seed: int) -> None:
        nonlocal spent
        results, trained = static_episodes(tuples[idx], [int(seed)] * len(idx), chunk=chunk, **env_kwargs)
        val_sum[idx] += [r.val_accuracy for r in results]
        loss_sum[idx] += [r.val_loss for r in results]
        runs[idx] += 1
        spent += trained  # every SGD step run, including children restarted after an early divergence

    everything = np.arange(len(tuples))
    for s in selection_seeds:
        run(everything, s)

    def ranking(idx):
        return sorted(idx, key=lambda i: (-val_sum[i] / runs[i], loss_sum[i] / runs[i]))

    if confirm_top > 0 and len(confirm_seeds):
        top = np.array(ranking(everything)[:confirm_top], dtype=np.int64)
        for s in confirm_seeds:
            run(top, s)
        best_index = ranking(top)[0]
    else:
        best_index = ranking(everything)[0]
    best = tuples[best_index]
    return GridResult(best=best, best_values=_values(space, best), val_accuracy=val_sum / runs, tuples=tuples,
                      sgd_steps=spent, wall_time_s=time.perf_counter() - t0)


def perturb_tuple(action: np.ndarray, nvec: np.ndarray, rng: np.random.Generator, prob: float) -> np.ndarray:
    """PBT's explore step: move each index one notch up or down with probability ``prob`` (at least one moves)."""
    new = action.copy()
    move = rng.random(len(nvec)) < prob
    if not move.any():
        move[rng.integers(len(nvec))] = True
    for j in np.flatnonzero(move):
        if nvec[j] < 2:
            continue
        step = rng.choice([-1, 1])
        if not 0 <= new[j] + step < nvec[j]:
            step = -step
        new[j] += step
    return new


def pbt(seed: int, population: int = 8, *, interval: int = 2, fraction: float = 0.25,
        perturb_prob: float = 0.5, rng_seed: int = 0, **env_kwargs) -> EpisodeRecord:
    """Population-based training (Jaderberg et al., 2017) on the native vector env.

    ``population`` children start from ``reset(seed=seed)`` (the same initial weights) with
    random tuples and train side by side for one episode. After every ``interval`` env steps
    (except the last) the bottom ``fraction`` of the population by validation accuracy *exploit*:
    each copies the weights and momentum buffers of a random member of the top ``fraction``
    ([`copy_child`][hpenv.vector.HPTuneVectorEnv.copy_child]), then *explores*: its tuple becomes the
    source's tuple with each index moved to a neighbour with probability ``perturb_prob``. A
    child that diverges is replaced the same way at once. At the end the child with the best
    validation accuracy is chosen (ties: lowest validation loss) and its test accuracy reported; a child
    that diverged with no donor left is out of the population, its record as it diverged (the deployed
    child when every child diverged). ``sgd_steps`` counts the whole
    population (``population * E``); ``schedule`` is the chosen child's lineage.
    """
    _space(env_kwargs, "pbt")  # its tuples are grid positions, perturbed one notch at a time
    venv = HPTuneVectorEnv(num_envs=population, **env_kwargs)
    space = venv.hp_space
    horizon, spa = venv.horizon, venv.steps_per_action
    rng = np.random.default_rng([int(rng_seed), int(seed) % 2**63, 0xB7])
    n_swap = max(1, int(round(population * fraction)))
    t0 = time.perf_counter()
    _, info = venv.reset(seed=[int(seed)] * population)
    init_val = info["val_accuracy"].copy()
    actions = rng.integers(0, space.nvec, size=(population, len(space)))
    lineage: list[list[dict]] = [[] for _ in range(population)]
    spent = 0
    ended = np.zeros(population, dtype=bool)  # diverged this step: the next step resets them unless replaced
    # diverged with no donor to copy: out of the population for good (the env restarts the slot's
    # episode, which is no longer this child's); its final record is kept as it diverged
    dead: dict[int, tuple[float, float, float]] = {}
    for t in range(horizon):
        spent += int((~ended).sum()) * spa
        _, _, ended, _, info = venv.step(actions)
        val = info["val_accuracy"]
        for k in range(population):
            if k not in dead:
                lineage[k].append({**space.decode(actions[k]), "val_accuracy": float(val[k]),
                                   "val_loss": float(info["val_loss"][k])})
        if t == horizon - 1:
            break
        alive = np.array([k for k in range(population) if k not in dead], dtype=np.int64)
        order = alive[np.argsort(val[alive], kind="stable")]
        top = order[-n_swap:]
        if (t + 1) % interval == 0:
            losers = [k for k in order[:n_swap] if k not in top]
        else:
            losers = []
        losers += [k for k in alive if info["diverged"][k] and k not in losers]
        donors = [k for k in top if not info["diverged"][k]]
        for dst in losers:
            if not donors:
                break
            src = int(rng.choice(donors))
            venv.copy_child(src, int(dst))
            ended[dst] = False
            actions[dst] = perturb_tuple(actions[src], space.nvec, rng, perturb_prob)
            lineage[dst] = [dict(s) for s in lineage[src]]
        for k in alive:
            if info["diverged"][k] and ended[k]:
                dead[int(k)] = (float(info["test_accuracy"][k]), float(val[k]), float(info["val_loss"][k]))
    wall = time.perf_counter() - t0
    venv.close()
    final = {k: (float(info["test_accuracy"][k]), float(info["val_accuracy"][k]), float(info["val_loss"][k]))
             for k in range(population) if k not in dead}
    diverged = {k: bool(info["diverged"][k]) for k in final}
    if not final:  # every child diverged: the deployed child is a diverged one
        final, diverged = dead, dict.fromkeys(dead, True)
    best = max(final, key=lambda k: (final[k][1], -final[k][2]))
    test, val_best, _ = final[best]
    return EpisodeRecord(
        seed=int(seed), test_accuracy=test, val_accuracy=val_best,
        sgd_steps=spent, wall_time_s=wall, episode_return=float(val_best - init_val[best]),
        diverged=diverged[best], schedule=lineage[best],
        search_sgd_steps=spent - min(spent, horizon * spa),  # the chosen lineage is one episode's training
    )


class NASController:
    """A NAS-style controller: REINFORCE over static tuples (one tuple per episode).

    The policy is one independent softmax per hyper-parameter (``logits[j]`` over its choices).
    Each training episode samples a tuple, trains a child with it for a whole episode and
    receives the final *validation* accuracy as reward; the update is REINFORCE with a
    moving-average baseline and batch-normalised advantages (plain gradient ascent,
    ``learning_rate``). Episodes run ``batch`` at a time in one vector env, on seeds drawn from
    `agents.seeds.TRAINING_DRAW` (disjoint from the benchmark's evaluation seeds).

    Deployed greedily it is a static tuple, so it has the policy interface: ``predict`` returns
    the most likely tuple.

    Example:
        >>> nas = NASController(seed=0).train(episodes=64, task="wine", horizon=5, steps_per_action=10)
        >>> nas.best_values()
        {'depth': ..., 'dropout': ..., 'learning_rate': ..., 'momentum': ...}
    """

    def __init__(self, hp_space: HPSpace | None = None, *, learning_rate: float = 0.5, batch: int = 8,
                 baseline_decay: float = 0.8, seed: int = 0):
        self.space = hp_space or HPSpace.default()
        self.space.require_absolute("NASController")  # it learns one static tuple per episode
        self.logits = [np.zeros(n) for n in self.space.nvec]
        self.learning_rate, self.batch, self.baseline_decay = learning_rate, batch, baseline_decay
        self.rng = np.random.default_rng([int(seed), 0x4A5])
        self.baseline: float | None = None
        self.sgd_steps = 0
        self.wall_time_s = 0.0
        self.episodes = 0
        self.history: list[dict] = []

    def probs(self) -> list[np.ndarray]:
        out = []
        for lg in self.logits:
            e = np.exp(lg - lg.max())
            out.append(e / e.sum())
        return out

    def train(self, episodes: int, **env_kwargs) -> "NASController":
        """Play ``episodes`` training episodes (rounded up to batches) and update after each batch.

        ``sgd_steps`` / ``wall_time_s`` accumulate the cost (every child SGD step actually run).
        """
        if "hp_space" in env_kwargs and _space(env_kwargs) != self.space:
            raise ValueError("the controller's hp_space differs from the env's")
        t0 = time.perf_counter()
        played = 0
        while played < episodes:
            probs = self.probs()
            tuples = np.stack([[self.rng.choice(len(p), p=p) for p in probs] for _ in range(self.batch)])
            seeds = self.rng.integers(TRAINING_DRAW.start, TRAINING_DRAW.stop, size=self.batch).tolist()
            results, spent = static_episodes(tuples, seeds, chunk=self.batch, **env_kwargs)
            rewards = np.array([r.val_accuracy for r in results])
            self.sgd_steps += spent
            if self.baseline is None:
                self.baseline = float(rewards.mean())
            adv = rewards - self.baseline
            if adv.std() > 1e-8:
                adv = adv / adv.std()
            self.baseline = self.baseline_decay * self.baseline + (1 - self.baseline_decay) * float(rewards.mean())
            for j, p in enumerate(probs):
                grad = np.zeros_like(p)
                for a, A in zip(tuples[:, j], adv):
                    onehot = np.zeros_like(p)
                    onehot[a] = 1.0
                    grad += A * (onehot - p)
                self.logits[j] = self.logits[j] + self.learning_rate * grad / len(adv)
            played += len(results)
            self.episodes += len(results)
            self.history.append({"episodes": self.episodes, "reward_mean": float(rewards.mean())})
        self.wall_time_s += time.perf_counter() - t0
        return self

    def best(self) -> np.ndarray:
        """The greedy tuple (most likely index of each hyper-parameter)."""
        return np.array([int(np.argmax(lg)) for lg in self.logits], dtype=np.int64)

    def best_values(self) -> dict:
        return self.space.decode(self.best())

    def predict(self, observation, state=None, episode_start=True, deterministic=True):
        if deterministic:
            return self.best(), state
        if episode_start or state is None:
            state = np.array([self.rng.choice(len(p), p=p) for p in self.probs()], dtype=np.int64)
        return state.copy(), state
