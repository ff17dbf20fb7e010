"""Transfer: RecurrentReinforce meta-trained on one suite, deployed on another suite's test members.

    python benchmarks/studies/transfer.py runs/v1-digits runs/v1-wine     # two finished `hptune bench` runs

Each run folder holds one suite's benchmark (``hptune bench --suite NAME --out DIR``) with the
``RR meta (train members)`` method. For every ordered pair (source, target) this deploys the
source's RR meta agent (the one it chose on the source's selection members; loaded from the
source's cache) greedily on the target's test members x evaluation seeds, the same children as
the target's run, and compares it, paired, with the target's best static tuple, best fixed
schedule and its own RR meta. Nothing is chosen here. Writes ``transfer.csv`` (the rows) and
``transfer.md`` (the paired table) into the target's folder and prints the table.

Reads: the two run folders given (the committed ones are ``benchmarks/results/digits`` and
``benchmarks/results/wine``: their ``config.json``, ``results.csv`` and RR meta's cache). Its committed
results: ``benchmarks/results/transfer.md`` and ``benchmarks/results/transfer_from_v1_*.csv``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from agents.bench.common import DEPLOY_CHUNK, write_atomic, write_csv
from agents.bench.methods import RRMeta
from agents.bench.stats import difference_text, holm, paired_comparison
from agents.bench.v1.protocol import Protocol, SuiteContext, read_rows
from agents.engine import evaluate_policy

REFERENCES = ("best static tuple", "best fixed schedule", "RR meta (train members)")


def load_run(folder: Path) -> tuple[SuiteContext, list[dict]]:
    """The suite context (with its cache) and result rows of one single-suite benchmark run."""
    config = json.loads((folder / "config.json").read_text())
    protocol = Protocol(**{k: tuple(v) if isinstance(v, list) else v for k, v in config["protocol"].items()})
    if len(protocol.suites) != 1:
        raise ValueError(f"{folder} ran {len(protocol.suites)} suites; give runs of one suite each (--suite NAME)")
    name = protocol.suites[0]
    ctx = SuiteContext(name, protocol, folder / "cache" / name.replace("/", "_"))
    ctx.run_selection()  # cached
    return ctx, read_rows(folder / "results.csv")


def transfer(source: Path, target: Path) -> list[dict]:
    src, _ = load_run(source)
    dst, dst_rows = load_run(target)
    if not list(src.cache_dir.glob("rr_meta_*.pt")):
        raise ValueError(f"{source} holds no meta-trained RR agent ({src.cache_dir}/rr_meta_*.pt); run "
                         f"`hptune bench --suite {src.suite.name} --out {source}` with RR meta first")
    method = RRMeta()
    method.name = "RR meta (train members)"
    method.prepare(src)  # loads the source's cached agents and repeats its choice on its selection members
    label = f"RR meta transferred from {src.suite.name}"
    rows = []
    for member in dst.test_members():
        results = evaluate_policy(method.agent, dst.eval_seeds(), chunk=DEPLOY_CHUNK, task=member,
                                  **method.env_kwargs(dst))
        rows += [{"suite": dst.suite.name, "member": member, "seed": r.seed, "method": label,
                  "test_accuracy": r.test_accuracy, "val_accuracy": r.val_accuracy, "source_space": method.space}
                 for r in results]
    write_csv(rows, target / f"transfer_from_{src.suite.name.replace('/', '_')}.csv", list(rows[0]))
    acc = {(r["member"], int(r["seed"])): float(r["test_accuracy"]) for r in rows}
    table = []
    for ref in REFERENCES:
        ref_acc = {(r["member"], int(r["seed"])): float(r["test_accuracy"]) for r in dst_rows if r["method"] == ref}
        keys = sorted(set(acc) & set(ref_acc))
        c = paired_comparison([acc[k] for k in keys], [ref_acc[k] for k in keys])
        table.append({"source": src.suite.name, "target": dst.suite.name, "reference": ref,
                      **c})
    for t, p in zip(table, holm([t["p"] for t in table])):
        t["p_holm"] = p
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, help="folders of single-suite `hptune bench` runs")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    lines = ["| trained on | deployed on | mean test acc | reference | diff, points [paired 95% CI] | W/T/L | p Holm |",
             "|---|---|---:|---|---|---|---:|"]
    for source in args.runs:
        for target in args.runs:
            if source == target:
                continue
            for t in transfer(source, target):
                lines.append(f"| {t['source']} | {t['target']} | {t['mean']:.4f} | {t['reference']} | "
                             f"{difference_text(t)} | "
                             f"{t['wins']}/{t['ties']}/{t['losses']} | {t['p_holm']:.2g} |")
    text = "\n".join(lines) + "\n"
    for target in args.runs:
        write_atomic(target / "transfer.md", text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
