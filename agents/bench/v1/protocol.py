"""The v1 protocol: suites, selection, the headroom gate, equal deployment budgets, resumable runs.

Per suite (an instance set of [`hpenv.instances`][]):

1. **Selection** (one-off, on selection members x selection seeds ``1_000_000 + i``): every
   candidate static tuple ([`candidate_tuples`][agents.bench.v1.protocol.candidate_tuples]) and every
   candidate fixed schedule ([`candidate_schedules`][agents.bench.v1.protocol.candidate_schedules]) trains one
   episode; the best of each by mean validation accuracy becomes the ``best static tuple`` and
   ``best fixed schedule`` references. Their SGD steps are those methods' one-off cost.
2. **Headroom gate** (before any controller is scored): on the test members x evaluation seeds
   (``2**31 + i``), every candidate tuple trains one episode. An oracle that picks, per test
   member, the tuple with the best mean validation accuracy (over that member's seeds) is
   compared, paired over (member, seed), with the best static tuple and the best fixed schedule
   chosen in step 1. A suite is *saturated* unless the gain is >= ``headroom_min_gain`` with a
   paired 95% interval that excludes 0.
3. **Methods** ([`agents.bench.methods`][]): every method deploys one child per (test member,
   seed) trained for exactly ``E = horizon * steps_per_action`` SGD steps; search compute and
   one-off costs are reported beside it.

Results are appended to ``results.csv`` (atomically) one (member, method) at a time, and the
selection and candidate-grid results are cached under ``cache/``, so a killed run continues
where it stopped when started again with the same ``--out``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

import hpenv
from agents.bench.common import DEPLOY_CHUNK, read_typed, write_atomic, write_csv
from agents.bench.methods import DEFAULT_METHODS, MethodBudgets, resolve_method
from agents.checkpoint import remove_stale_temporaries
from agents.engine import schedule_episodes, static_episodes
from agents.engine import EpisodeRecord
from agents.options import reinforce_settings
from agents.reinforce import RecurrentReinforceConfig
from agents.seeds import HELD_OUT, SELECTION
from hpenv.extras import require_all
from hpenv.instances import MLP_SUITES, Suite, instance_sets, member_factors, suite as get_suite
from hpenv.suites_v2 import SuiteV2
from hpenv.tasks import TASK_EXTRAS

__all__ = ["Protocol", "PRESETS", "DEPLOY_CHUNK", "SuiteContext", "candidate_tuples", "candidate_schedules", "run_protocol",
           "check_v1_suites",
           "CSV_COLUMNS", "HEADROOM_COLUMNS", "SELECTION_SEED", "write_atomic", "read_rows"]

#: The first seed of children trained on selection members (`agents.seeds.SELECTION` owns the range).
SELECTION_SEED = SELECTION.start

#: ``results.csv``: one row per (suite, test member, seed, method).
CSV_COLUMNS = ["suite", "member", "seed", "method", "test_accuracy", "val_accuracy", "deployed_sgd_steps",
               "search_sgd_steps", "one_off_sgd_steps", "wall_time_s", "one_off_wall_time_s", "diverged",
               "input_scale", "label_noise", "source", "chosen"]
#: ``headroom.csv``: the per-member oracle against each reference, per suite.
HEADROOM_COLUMNS = ["suite", "reference", "gain", "ci_low", "ci_high", "saturated", "n_pairs", "p_wilcoxon",
                    "oracle_mean", "reference_mean", "reference_choice"]


def read_rows(path: Path) -> list[dict]:
    """Rows of a (v1) results.csv with numbers as Python numbers."""
    return read_typed(path, ("seed", "deployed_sgd_steps", "search_sgd_steps", "one_off_sgd_steps"),
                      ("test_accuracy", "val_accuracy", "wall_time_s", "one_off_wall_time_s", "input_scale",
                       "label_noise"), ("diverged",))


@dataclass
class Protocol:
    """Settings of one benchmark run (``PRESETS["quick"]``, ``PRESETS["full"]``)."""

    suites: tuple[str, ...] = MLP_SUITES
    test_members: int | None = None
    """Test members per suite (the first ``n`` of the suite's test split; None: all)."""
    seeds: int = 2
    """Evaluation seeds per test member (``2**31 + i``): pairs = test members x seeds."""
    selection_members: int | None = None
    """Selection members used to choose references (None: all)."""
    selection_seeds: int | None = None
    """Seeds per selection member for choosing the references (``1_000_000 + i``). None: as many
    as make each reference's one-off compute (candidates x selection members x seeds episodes) at
    least RR meta's (``len(rr_spaces) x (rr_meta_episodes + rr_selection_seeds x selection
    members)`` episodes), so the constants are chosen with no less compute than the controller."""
    lrs: tuple[int, ...] = (0, 1, 2, 3, 4, 5)
    """Candidate tuples: learning-rate indices x momentum indices x depth indices (dropout 0)."""
    momenta: tuple[int, ...] = (0, 2)
    depths: tuple[int, ...] = (0, 3)
    schedule_kinds: tuple[str, ...] = ("cosine", "step")
    """Candidate schedules: these decays from every (start learning rate, depth) at momentum 0.9."""
    search_budget_episodes: int = 4
    """Search compute per test child, in episodes ``E``: random search / TPE / successive halving
    spend it on candidates before retraining the winner; PBT runs ``1 +`` this many children."""
    search_candidates: int = 16
    tpe_startup_trials: int = 5
    pbt_interval: int = 2
    rr_meta_episodes: int = 4096
    """RecurrentReinforce's meta-training episodes on the train members (its one-off cost)."""
    num_envs: int = 64
    """Children per batch of meta-training (one native vector env; also the episodes per update)."""
    rr: RecurrentReinforceConfig = dataclasses.field(default_factory=reinforce_settings)
    """RecurrentReinforce's settings ([`agents.options.reinforce_settings`][]: groups of 8 episodes
    that share a member and an initial child, a leave-one-out baseline, the entropy bonus decayed
    linearly to a tenth of it over meta-training); RR meta sets ``seed``, ``episodes_per_update``
    (``num_envs``) and the decay's length (``rr_meta_episodes``) from the protocol."""
    rr_spaces: tuple[str, ...] = ("absolute", "relative_lr")
    """Action spaces RR meta is meta-trained with, one agent each; the best on the selection members
    (``agents.bench.methods.RR_SPACES``) is deployed."""
    rr_selection_seeds: int = 4
    """Seeds per selection member on which RR meta's agents are compared."""
    rr_online_update_every: int = 5
    """``RR meta + online``: env steps between the agent's updates while a test child trains."""
    headroom_min_gain: float = 0.03
    methods: tuple[str, ...] = ()
    """Methods to run (empty: `agents.bench.methods.DEFAULT_METHODS`)."""
    horizon: int | None = None
    steps_per_action: int | None = None
    """Episode settings; None: the suite's own (``hpenv.suite(name).env_kwargs``)."""
    seed: int = 0
    """Seed of every learner and random draw (not of the evaluation children)."""
    rr_group_size: dataclasses.InitVar[int | None] = None
    rr_baseline: dataclasses.InitVar[str | None] = None
    rr_learning_rate: dataclasses.InitVar[float | None] = None
    rr_ent_coef: dataclasses.InitVar[float | None] = None
    """Deprecated: RecurrentReinforce's settings are ``rr`` (``rr_ent_coef`` sets ``ent_coef`` and
    ``ent_coef_final``, a tenth of it)."""

    def __post_init__(self, rr_group_size, rr_baseline, rr_learning_rate, rr_ent_coef) -> None:
        if isinstance(self.rr, dict):  # as a run's config.json holds it
            self.rr = RecurrentReinforceConfig(**self.rr)
        old = {"group_size": rr_group_size, "baseline": rr_baseline, "learning_rate": rr_learning_rate}
        if rr_ent_coef is not None:
            old.update(ent_coef=rr_ent_coef, ent_coef_final=rr_ent_coef / 10)
        old = {name: value for name, value in old.items() if value is not None}
        if old:
            warnings.warn("Protocol(rr_group_size=, rr_baseline=, rr_learning_rate=, rr_ent_coef=) is deprecated; "
                          "pass rr=dataclasses.replace(agents.options.reinforce_settings(), ...)",
                          DeprecationWarning, stacklevel=3)
            self.rr = dataclasses.replace(self.rr, **old)

    def method_budgets(self) -> MethodBudgets:
        """What the methods read of this run (``ctx.budgets``), under the registered protocol's names."""
        return MethodBudgets(meta_episodes=self.rr_meta_episodes, num_envs=self.num_envs,
                             search_budget_episodes=self.search_budget_episodes,
                             search_candidates=self.search_candidates, tpe_startup_trials=self.tpe_startup_trials,
                             pbt_interval=self.pbt_interval, seed=self.seed, rr=self.rr, rr_spaces=self.rr_spaces,
                             rr_selection_seeds=self.rr_selection_seeds,
                             rr_online_update_every=self.rr_online_update_every)


PRESETS: dict[str, Protocol] = {
    # a smoke test: one suite, 10 test members x 2 seeds = 20 pairs, RR meta-trained for 1,024 episodes.
    "quick": Protocol(suites=("v1/digits-scaled",), test_members=10, rr_meta_episodes=1024),
    # the three MLP suites, 12 test members x 3 seeds = 36 pairs each.
    "full": Protocol(seeds=3),
}


def candidate_tuples(space: hpenv.HPSpace, p: Protocol) -> np.ndarray:
    """The coarse grid of static tuples (action indices of the default space)."""
    return np.array([[d, 0, lr, m] for d in p.depths for lr in p.lrs for m in p.momenta], dtype=np.int64)


def candidate_schedules(space: hpenv.HPSpace, p: Protocol, horizon: int) -> tuple[np.ndarray, list[str]]:
    """Fixed schedules ``(n, horizon, n_hp)`` and their names: a learning-rate decay from each start."""
    from agents.baselines import SchedulePolicy

    out, names = [], []
    for kind in p.schedule_kinds:
        for d in p.depths:
            for top in p.lrs:
                start = space.decode([d, 0, top, 2])
                policy = SchedulePolicy(space, kind, start)  # the one implementation of the decays
                actions = []
                for t in range(horizon):
                    a = policy.base.copy()
                    a[policy.j] = policy.lr_index(t / horizon)
                    actions.append(a)
                out.append(actions)
                names.append(f"{kind} from lr {start['learning_rate']:g}, depth {start['depth']}, momentum 0.9")
    return np.array(out, dtype=np.int64), names


def _result_json(r: EpisodeRecord) -> dict:
    return {"seed": r.seed, "test_accuracy": r.test_accuracy, "val_accuracy": r.val_accuracy,
            "sgd_steps": r.sgd_steps, "wall_time_s": r.wall_time_s, "diverged": r.diverged,
            "val_loss": r.val_loss}


# ---------------------------------------------------------------------- one suite
class SuiteContext:
    """What methods see of a suite: its settings, the selection results and the cached test grid.

    ``protocol`` is the run's [`Protocol`][agents.bench.v1.protocol.Protocol]; methods read their budgets from
    [`budgets`][agents.bench.v1.protocol.SuiteContext.budgets].
    """

    def __init__(self, suite_name: str, protocol: Protocol, cache_dir: Path | None, env_kwargs: dict | None = None):
        """``env_kwargs``: every child's env arguments but its task (default: the suite's own, with the
        protocol's ``horizon`` and ``steps_per_action`` where it sets them)."""
        self.suite = get_suite(suite_name)
        self.protocol = protocol
        kw = dict(self.suite.env_kwargs) if env_kwargs is None else dict(env_kwargs)
        if env_kwargs is None and protocol.horizon is not None:
            kw["horizon"] = protocol.horizon
        if env_kwargs is None and protocol.steps_per_action is not None:
            kw["steps_per_action"] = protocol.steps_per_action
        self.env_kwargs = kw
        self.episode_steps = kw["horizon"] * kw["steps_per_action"]
        self.space = hpenv.HPSpace.default()
        self.candidates = candidate_tuples(self.space, protocol)
        self.schedules, self.schedule_names = candidate_schedules(self.space, protocol, kw["horizon"])
        self.cache_dir = Path(cache_dir) if cache_dir is not None else Path(
            os.environ.get("TMPDIR", "/tmp")) / f"hpenv-bench-{os.getpid()}" / suite_name.replace("/", "_")
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self.selection: dict = {}
        self._grids: dict[str, dict] = {}

    @property
    def budgets(self) -> MethodBudgets:
        """What the methods may spend, from `protocol`
        ([`Protocol.method_budgets`][agents.bench.v1.protocol.Protocol.method_budgets])."""
        return self.protocol.method_budgets()

    # selection members and seeds: choosing the references
    def selection_members(self) -> list[str]:
        m = self.suite.members("selection")
        return m[: self.protocol.selection_members] if self.protocol.selection_members else m

    def test_members(self) -> list[str]:
        m = self.suite.members("test")
        return m[: self.protocol.test_members] if self.protocol.test_members else m

    def selection_seeds(self) -> list[int]:
        """Seeds of the selection children: ``protocol.selection_seeds``, or (None) the fewest that
        give each reference at least RecurrentReinforce's meta-training episodes to be chosen with."""
        p = self.protocol
        n = p.selection_seeds
        if n is None:  # RR meta trains one agent per space, then compares them on selection members
            members = len(self.selection_members())
            rr_episodes = len(p.rr_spaces) * (p.rr_meta_episodes + p.rr_selection_seeds * members)
            n = max(1, math.ceil(rr_episodes / (min(len(self.candidates), len(self.schedules)) * members)))
        return SELECTION.seeds(n)

    def eval_seeds(self) -> list[int]:
        return HELD_OUT.seeds(self.protocol.seeds)

    def run_selection(self) -> dict:
        """Every candidate tuple and schedule on the selection members x selection seeds (cached)."""
        path = self.cache_dir / "selection.json"
        if path.exists():
            self.selection = json.loads(path.read_text())
            return self.selection
        seeds = self.selection_seeds()
        members = self.selection_members()
        # a static tuple is the constant schedule: both families train through the same engine
        families = {"static": (static_episodes, self.candidates), "schedule": (schedule_episodes, self.schedules)}
        val = {kind: np.zeros((len(members), len(c))) for kind, (_, c) in families.items()}
        steps, wall = dict.fromkeys(families, 0), dict.fromkeys(families, 0.0)
        for i, member in enumerate(members):
            for kind, (play, choices) in families.items():
                t0 = time.perf_counter()
                res, spent = play(np.repeat(choices, len(seeds), 0), seeds * len(choices), chunk=64,
                                  task=member, **self.env_kwargs)
                wall[kind] += time.perf_counter() - t0
                steps[kind] += spent
                val[kind][i] = np.array([r.val_accuracy for r in res]).reshape(len(choices), len(seeds)).mean(1)
        self.selection = {"members": members, "seeds": seeds}
        for kind in families:  # "static_val", "static_best", ..., "schedule_wall_time_s"
            self.selection.update({f"{kind}_val": val[kind].tolist(), f"{kind}_best": int(np.argmax(val[kind].mean(0))),
                                   f"{kind}_sgd_steps": steps[kind], f"{kind}_wall_time_s": wall[kind]})
        write_atomic(path, json.dumps(self.selection))
        return self.selection

    def test_grid(self, member: str, seeds: Sequence[int]) -> dict[tuple[int, int], EpisodeRecord]:
        """Every candidate tuple on one test member at ``seeds`` (cached): ``{(tuple index, seed): result}``."""
        if member not in self._grids:
            path = self.cache_dir / f"grid_{member.rsplit('/', 1)[-1]}.json"
            data = json.loads(path.read_text()) if path.exists() else {}
            missing = [s for s in seeds if str(s) not in data]
            if missing:
                nt = len(self.candidates)
                t0 = time.perf_counter()
                res, _ = static_episodes(np.repeat(self.candidates, len(missing), 0), missing * nt,
                                         chunk=DEPLOY_CHUNK, task=member, **self.env_kwargs)
                wall = (time.perf_counter() - t0) / len(res)
                for s in missing:
                    data[str(s)] = []
                for j, r in enumerate(res):
                    data[str(missing[j % len(missing)])].append({**_result_json(r), "wall_time_s": wall})
                write_atomic(path, json.dumps(data))
            self._grids[member] = data
        data = self._grids[member]
        out = {}
        for s in seeds:
            for i, d in enumerate(data[str(s)]):
                out[(i, int(s))] = EpisodeRecord(
                    seed=int(s), test_accuracy=d["test_accuracy"], val_accuracy=d["val_accuracy"],
                    sgd_steps=d["sgd_steps"], wall_time_s=d["wall_time_s"], diverged=d["diverged"],
                    chosen=self.space.decode(self.candidates[i]))
        return out


def headroom(ctx: SuiteContext, rows: Sequence[dict]) -> list[dict]:
    """The headroom gate of one suite: the per-member oracle against the two references.

    ``rows``: this suite's results rows of ``best static tuple`` and ``best fixed schedule``.
    """
    from agents.bench.stats import paired_comparison

    seeds = ctx.eval_seeds()
    oracle: dict[tuple[str, int], float] = {}
    for member in ctx.test_members():
        grid = ctx.test_grid(member, seeds)
        mean_val = [np.mean([grid[(i, s)].val_accuracy for s in seeds]) for i in range(len(ctx.candidates))]
        best = int(np.argmax(mean_val))
        for s in seeds:
            oracle[(member, s)] = grid[(best, s)].test_accuracy
    out = []
    for ref in ("best static tuple", "best fixed schedule"):
        ref_rows = {(r["member"], int(r["seed"])): float(r["test_accuracy"]) for r in rows if r["method"] == ref}
        keys = [k for k in oracle if k in ref_rows]
        if len(keys) < 2:
            continue
        c = paired_comparison([oracle[k] for k in keys], [ref_rows[k] for k in keys], seed=ctx.protocol.seed)
        saturated = not (c["mean_diff"] >= ctx.protocol.headroom_min_gain and c["ci_low"] > 0)
        ref_choice = (ctx.space.decode(ctx.candidates[ctx.selection["static_best"]]) if ref == "best static tuple"
                      else ctx.schedule_names[ctx.selection["schedule_best"]])
        out.append({"suite": ctx.suite.name, "reference": ref, "gain": c["mean_diff"], "ci_low": c["ci_low"],
                    "ci_high": c["ci_high"], "saturated": saturated, "n_pairs": c["n"], "p_wilcoxon": c["p"],
                    "oracle_mean": c["mean"], "reference_mean": c["ref_mean"], "reference_choice": str(ref_choice)})
    return out


def _rows_of(ctx: SuiteContext, method, member: str, results: list[EpisodeRecord]) -> list[dict]:
    f = member_factors(member)
    return [{
        "suite": ctx.suite.name, "member": member, "seed": r.seed, "method": method.name,
        "test_accuracy": r.test_accuracy, "val_accuracy": r.val_accuracy,
        "deployed_sgd_steps": r.deployed_sgd_steps, "search_sgd_steps": r.search_sgd_steps,
        "one_off_sgd_steps": method.one_off_sgd_steps, "wall_time_s": round(r.wall_time_s, 3),
        "one_off_wall_time_s": round(method.one_off_wall_time_s, 2), "diverged": r.diverged,
        "input_scale": f["input_scale"], "label_noise": f["label_noise"], "source": method.source,
        "chosen": json.dumps(r.chosen) if r.chosen else "",
    } for r in results]


def check_v1_suites(names: Sequence[str]) -> None:
    """Raise a ValueError naming the right command for any of ``names`` that is not a v1 suite.

    The v1 protocol reads what only v1 suites have (a base task, a scale factor); a v2 suite runs under
    its registered protocol, ``hptune bench --v2``.
    """
    v1 = [name for name in instance_sets() if isinstance(get_suite(name), Suite)]
    for name in names:
        suite = get_suite(name)  # names the known suites of an unknown name
        if isinstance(suite, Suite):
            continue
        if isinstance(suite, SuiteV2):
            raise ValueError(f"suite {name!r} belongs to benchmark v2, which the v1 benchmark does not run (its "
                             f"suites: {', '.join(v1)}); run it with `hptune bench --v2 --suite {name} --out DIR` "
                             f"(add --quick for a rehearsal on selection members)")
        raise ValueError(f"suite {name!r} is not a benchmark v1 suite; the v1 benchmark runs only those "
                         f"({', '.join(v1)})")


def run_protocol(protocol: Protocol, out: str | os.PathLike, *, methods: Sequence[Any] | None = None,
                 progress: bool = True, log=print) -> dict:
    """Run the protocol into ``out`` (resumable); returns ``{"rows", "headroom", "notes", "wall_s"}``.

    ``methods``: names, ``"pkg.mod:Name"`` specs or [`Method`][agents.bench.methods.Method] objects
    (default: the protocol's, else `DEFAULT_METHODS`). The references
    ``best static tuple`` and ``best fixed schedule`` always run (the headroom gate needs them).
    """

    torch.set_num_threads(1)
    specs = list(methods if methods is not None else (protocol.methods or DEFAULT_METHODS))
    for ref in ("best fixed schedule", "best static tuple"):
        if ref not in specs:
            specs.insert(0, ref)
    resolved = [resolve_method(m) for m in specs]
    names = [m.name for m in resolved]
    if len(set(names)) != len(names):
        raise ValueError(f"method names must be distinct, got {names}")
    check_v1_suites(protocol.suites)
    # every optional module the run will import, checked before anything is written or trained:
    # otherwise a missing one stops the run at the first row that needs it, long after the start
    bases = {name: get_suite(name).base for name in protocol.suites}
    require_all([*((f"method {m.name!r}", extra) for m in resolved for extra in m.extras),
                 *((f"suite {name!r}", TASK_EXTRAS[base]) for name, base in bases.items() if base in TASK_EXTRAS)])
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    config = {"protocol": dataclasses.asdict(protocol), "methods": names}
    cfg_path = out / "config.json"
    sessions: list[dict] = []
    if cfg_path.exists():
        old = json.loads(cfg_path.read_text())
        if old.get("protocol") != json.loads(json.dumps(config["protocol"])):
            raise ValueError(f"{out} holds a run with other protocol settings; use a new --out to start afresh")
        sessions = old.get("sessions", [])
    sessions.append({"started": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "wall_s": 0.0, "cpu_s": 0.0})
    t_start, cpu_start = time.perf_counter(), time.process_time()

    def save_session() -> None:
        """This session's time so far into config.json (a killed session keeps what it spent)."""
        sessions[-1].update(wall_s=round(time.perf_counter() - t_start, 1),
                            cpu_s=round(time.process_time() - cpu_start, 1))
        write_atomic(cfg_path, json.dumps({**config, "sessions": sessions, "started": sessions[0]["started"]},
                                          indent=1))

    save_session()

    for folder in [out, *(out / "cache").glob("*")]:  # what a killed atomic write left behind
        if folder.is_dir():
            remove_stale_temporaries(folder)
    results_path = out / "results.csv"
    rows = read_rows(results_path)
    done = {(r["suite"], r["member"], r["seed"], r["method"]) for r in rows}
    if rows:
        log(f"resuming: {len(rows)} rows already in {results_path}")
    headroom_rows: list[dict] = []
    notes: dict[str, list[str]] = {}
    contexts = [SuiteContext(name, protocol, out / "cache" / name.replace("/", "_")) for name in protocol.suites]
    units = [(ctx, member, m) for ctx in contexts for member in ctx.test_members() for m in resolved]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(units), desc="bench", unit="run", dynamic_ncols=True)
    for ctx in contexts:
        log(f"{ctx.suite.name}: selection ({len(ctx.selection_members())} members x "
            f"{len(ctx.selection_seeds())} seeds, {len(ctx.candidates)} tuples + {len(ctx.schedules)} schedules)")
        ctx.run_selection()
        suite_notes = notes.setdefault(ctx.suite.name, [])
        for m in resolved:
            m.prepare(ctx)
            if m.note:
                suite_notes.append(f"{m.name}: {m.note}")
        seeds = ctx.eval_seeds()
        for member in ctx.test_members():
            for m in resolved:
                todo = [s for s in seeds if (ctx.suite.name, member, s, m.name) not in done]
                if todo:
                    new = _rows_of(ctx, m, member, m.run(ctx, member, todo))
                    rows += new
                    done |= {(r["suite"], r["member"], r["seed"], r["method"]) for r in new}
                    write_csv(rows, results_path, CSV_COLUMNS)
                    save_session()
                if bar is not None:
                    bar.set_postfix_str(f"{ctx.suite.name.split('/')[-1]} {member.rsplit('/', 1)[-1]} {m.name}")
                    bar.update(1)
        suite_rows = [r for r in rows if r["suite"] == ctx.suite.name]
        headroom_rows += headroom(ctx, suite_rows)
        write_csv(headroom_rows, out / "headroom.csv", HEADROOM_COLUMNS)
        for h in headroom_rows:
            if h["suite"] == ctx.suite.name:
                log(f"{ctx.suite.name}: headroom over {h['reference']}: {100 * h['gain']:+.2f} points "
                    f"[{100 * h['ci_low']:+.2f}, {100 * h['ci_high']:+.2f}] ({h['n_pairs']} pairs) -> "
                    f"{'SATURATED' if h['saturated'] else 'has headroom'}")
    if bar is not None:
        bar.close()
    wall, cpu = time.perf_counter() - t_start, time.process_time() - cpu_start
    log(f"finished: {wall / 60:.1f} min wall, {cpu / 60:.1f} min CPU time in this session")
    save_session()  # every session of the run (a resumed run has several): the report states the whole cost
    wall, cpu = sum(x["wall_s"] for x in sessions), sum(x["cpu_s"] for x in sessions)
    keep = {(c.suite.name, mem) for c in contexts for mem in c.test_members()}
    report_rows = [r for r in rows if (r["suite"], r["member"]) in keep and r["method"] in names]
    return {"rows": report_rows, "headroom": headroom_rows, "notes": notes, "wall_s": wall, "cpu_s": cpu,
            "sessions": len(sessions)}
