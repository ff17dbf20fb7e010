"""The ``hptune`` command line: its parser and `main`, which runs a subcommand of [`agents.cli.commands`][]."""

from __future__ import annotations

import argparse
import sys

import torch

from agents.cli.commands import cmd_bench, cmd_eval, cmd_tasks, cmd_train
from agents.cli.config import train_options
from agents.evaluation import HELD_OUT_SEED
from agents.options import option_name

__all__ = ["USAGE", "build_parser", "main", "positive_int"]

#: ``hptune --help``'s description.
USAGE = """Train a meta-learner, evaluate a checkpoint, list tasks, run benchmarks.

    hptune train                          # RecurrentReinforce on v2/mlp-short, compared on its selection members
    hptune train --task digits            # on one task (compared with the fixed default on held-out seeds)
    hptune train --agent ppo --task wine
    hptune train --resume runs/digits-reinforce-20261127-101500 [--episodes 1024]
    hptune train --task mnist --data-root ~/data
    hptune train --runners 2              # episodes played by 2 Ray actors (pip install "hpenv[ray]")
    hptune eval --checkpoint runs/.../checkpoints/last.pt --task wine --episodes 5
    hptune tasks
    hptune bench --v2 --quick --out v2-quick
    hptune bench --quick --out bench/     # benchmark v1
"""


def positive_int(text: str) -> int:
    """argparse type of the options that count something."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hptune", description=USAGE, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=positive_int, default=1,
                   help="torch threads (default 1: small children run fastest on one thread, and extra "
                        "OpenMP threads slow them down badly on a busy machine; raise it for CNN tasks)")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="meta-train an agent and compare it with baselines (a suite's selection members, or held-out seeds)")
    for name, (doc, default) in train_options().items():  # default None: --resume tells the given ones
        kind = {"action": argparse.BooleanOptionalAction} if type(default) is bool else {"type": type(default)}
        t.add_argument(option_name(name), **kind, default=None, help=f"{doc} (default: {default!r})")
    t.add_argument("--resume", metavar="RUN_DIR",
                   help="continue a run folder from its last checkpoint, with the options in its config.json; "
                        "--episodes N trains on up to N episodes in all, --eval-episodes N changes the evaluation")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("eval", help="evaluate a checkpoint on held-out episodes")
    e.add_argument("--checkpoint", required=True, help="a checkpoints/last.pt of a run")
    e.add_argument("--task", help="task to evaluate on (default: the run's)")
    e.add_argument("--data-root", help="folder of the task's data on disk (default: the run's)")
    e.add_argument("--episodes", type=positive_int, default=5)
    e.add_argument("--horizon", type=positive_int)
    e.add_argument("--steps-per-action", type=positive_int)
    e.add_argument("--seed", type=int, default=HELD_OUT_SEED, help="first evaluation seed")
    e.add_argument("--stochastic", action="store_true", help="sample actions instead of greedy")
    e.set_defaults(func=cmd_eval)

    sub.add_parser("tasks", help="list the built-in tasks").set_defaults(func=cmd_tasks)

    b = sub.add_parser("bench", help="run a benchmark (v1, frozen; --v2: the registered protocol) or verify a v2 "
                                     "results folder (--verify)")
    what = b.add_mutually_exclusive_group(required=True)
    what.add_argument("--out", help="run folder (results.csv, paired.csv, headroom.csv, results.md, "
                                    "plot); the same folder again resumes a killed run")
    what.add_argument("--verify", metavar="DIR",
                      help="check a v2 or v3 results folder against its registered protocol (its hash, every test "
                           "member, the protocol's seeds) and re-train a sample of its rows from their recorded "
                           "schedules; one line per problem, exit 1 on any")
    b.add_argument("--v2", action="store_true",
                   help="benchmark v2: the registered protocol (--protocol) on its suites; with --quick a rehearsal "
                        "on selection members in minutes")
    b.add_argument("--v3", action="store_true",
                   help="benchmark v3: every method of each suite's family (agents/bench/data/v3/protocol.toml) on one "
                        "split (--split), each member with its own env arguments, by the registered primary analysis; "
                        "with --quick a rehearsal on a few dev members in minutes")
    b.add_argument("--split", choices=("dev", "test", "transfer"), default="dev",
                   help="with --v3: the members scored (dev: development, nothing filed; test, transfer: a frozen "
                        "protocol, filed in benchmarks/results/v3/ledger.csv)")
    b.add_argument("--workers", type=positive_int,
                   help="with --v2 or --v3: parallel workers (Ray; default: one per core; 1: serial, no Ray)")
    b.add_argument("--protocol", help="with --verify, --v2 or --v3: the protocol file (default: the registered v2 protocol, "
                                      "agents/bench/data/v2/protocol.toml)")
    b.add_argument("--ledger", help="with --v2 or --v3, a run that scores test members: the ledger its scored method versions are appended to "
                                    "(default: benchmarks/results/v2/ledger.csv of the checkout holding the current "
                                    "folder)")
    b.add_argument("--replays", type=int, default=8, help="with --verify: rows re-trained from their schedules")
    b.add_argument("--tolerance", type=float, default=0.0,
                   help="with --verify: accuracy tolerance of a replay (0: exact, the same machine; about one test "
                        "example across CPUs)")
    b.add_argument("--quick", action="store_true", help="reduced protocol (one suite, 20 pairs): a smoke test, not a result")
    b.add_argument("--suite", help="comma-separated instance sets (hpenv.instance_sets()); default: the preset's")
    b.add_argument("--agent", action="append", default=[], metavar="MODULE:NAME",
                   help="also benchmark your policy (a class taking env, or an object/callable) or Method; with --v3 the "
                        "first is compared with the family's references by the primary analysis")
    b.add_argument("--seeds", type=int, help="evaluation seeds per test member")
    b.add_argument("--methods", type=lambda text: [t.strip() for t in text.split(",") if t.strip()],
                   help="comma-separated methods (names of agents.bench.methods.METHODS, with --v3 of "
                        "agents.bench.v3.methods.V3_METHODS, or module:Name)")
    b.add_argument("--no-progress", action="store_true", help="no progress bar")
    b.set_defaults(func=cmd_bench)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    try:
        return args.func(args)
    except (ValueError, OSError, ImportError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
