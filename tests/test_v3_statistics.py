"""The v3 protocol's registered analysis: ``[statistics]`` and ``[family]`` as the code reads them."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from agents.bench.v3.statistics import CORRECTIONS, load_family, load_statistics

ROOT = Path(__file__).resolve().parents[1]
PROTOCOL = ROOT / "benchmarks/v3/protocol.toml"


def _edited(tmp_path: Path, old: str, new: str) -> Path:
    text = PROTOCOL.read_text()
    assert old in text
    path = tmp_path / "protocol.toml"
    path.write_text(text.replace(old, new, 1))
    return path


def test_the_registered_tables_load_and_name_the_procedure_the_code_runs():
    stats = load_statistics(PROTOCOL)
    assert stats.p_adjustment in CORRECTIONS.values()
    assert stats.evaluation_seeds >= 3 and stats.meta_training_seeds >= 5
    assert 0 < stats.minimum_detectable_difference < 0.05 and 0 <= stats.equivalence_margin < 0.05
    family = load_family(PROTOCOL)
    mlp, stream = family.references_on("v3/mlp"), family.references_on("v3/stream")
    assert "best static tuple" in mlp and "closed-loop rule" not in mlp
    assert stream == mlp + ("closed-loop rule",)
    assert family.controller not in stream


@pytest.mark.parametrize("old, new, message", [
    ('correction = "max-|T| single-step"', 'correction = "holm"', r"correction = 'holm'; allowed: \['max-\|T\| "),
    ('test = "crossed bootstrap', 'test = "wilcoxon; crossed bootstrap', "test = 'wilcoxon.*is not the procedure"),
    ("evaluation_seeds = 3", "evaluation_seeds = 1", r"evaluation_seeds must be an integer >= 3, got 1"),
    ("meta_training_seeds = 5", "meta_training_seeds = 3", r"meta_training_seeds must be an integer >= 5, got 3"),
    ("equivalence_margin = 0.01", "equivalence_margin = 1.5", r"equivalence_margin must be an accuracy difference"),
    ("alpha = 0.05", "alpha = 5", r"alpha must be a number strictly between 0 and 1, got 5"),
    ("seed = 0\n", "sed = 0\n", r"unknown keys \['sed'\], missing keys \['seed'\]"),
])
def test_a_bad_statistics_table_is_refused_naming_the_key_and_what_is_allowed(tmp_path, old, new, message):
    with pytest.raises(ValueError, match=message):
        load_statistics(_edited(tmp_path, old, new))


def test_a_bad_family_is_refused(tmp_path):
    with pytest.raises(ValueError, match="distinct non-empty names"):
        load_family(_edited(tmp_path, 'stream_references = ["closed-loop rule"]',
                            'stream_references = ["best static tuple"]'))
    with pytest.raises(ValueError, match="must be a list of method names"):
        load_family(_edited(tmp_path, 'stream_references = ["closed-loop rule"]', 'stream_references = "rule"'))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_statistics(tmp_path / "missing.toml")


def test_the_power_script_sizes_a_suite_from_its_selection_members(tmp_path):
    folder = tmp_path / "mlp"
    folder.mkdir()
    with open(folder / "members.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["member", "test: best static tuple", "test: best fixed schedule"])
        for i in range(30):
            w.writerow([f"v3/mlp/{230 + i}", 0.8, 0.8 + 0.02 + 0.01 * ((i % 5) - 2)])
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks/v3/power.py"), "--suite", "v3/mlp", "--results",
                          str(tmp_path), "--simulations", "100", "--resamples", "300"],
                         capture_output=True, text=True, check=True).stdout
    assert "mean +2.00" in out and "family of 11" in out and "over 30 selection members" in out
    powers = [float(line.split("power ")[1].split()[0]) for line in out.splitlines() if line.startswith("  n=")]
    assert len(powers) == 8 and powers[-1] > 0.8
    assert not (folder / "power.csv").exists()  # power.csv holds the registered sizing: a learned pilot's


def test_the_power_script_sizes_a_suite_from_a_learned_controllers_dev_runs(tmp_path):
    import gzip
    import json

    import hpenv
    from agents.bench.v3.dev_runs import AGENT
    from hpenv.instances import member_task

    members = hpenv.instance_set("v3/mlp", "dev")
    n_test = [len(member_task(m).y_test) for m in members]
    eval_seeds = [11, 12, 13]

    def children(offset, step):
        return [{"seed": s, "test_accuracy": round((0.6 + offset + step * ((i % 3) - 1)) * n, 0) / n}
                for i, n in enumerate(n_test) for s in eval_seeds]

    runs = []
    for seed in (0, 1, 2):
        run = tmp_path / f"run{seed}"
        run.mkdir()
        results = {AGENT: children(0.02 + 0.005 * seed, 0.03), "fixed default": children(0.0, 0.0),
                   "best static tuple": children(0.0, 0.01), "best fixed schedule": children(0.01, 0.01)}
        summary = json.dumps({"config": {"task": "v3/mlp", "seed": seed}, "results": results})
        if seed == 2:  # a run kept in git keeps its summary gzipped
            (run / "summary.json.gz").write_bytes(gzip.compress(summary.encode()))
        else:
            (run / "summary.json").write_text(summary)
        runs.append(str(run))
    cmd = [sys.executable, str(ROOT / "benchmarks/v3/power.py"), "--results", str(tmp_path / "out"), "--simulations",
           "100", "--resamples", "300", "--pilot-runs", *runs]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    assert "v3/mlp: pilot RecurrentReinforce (3 dev runs) - best fixed schedule over 30 dev members" in out
    assert "sd 0.50 points)" in out  # the seed means 0.020, 0.025, 0.030 above the same children
    with open(tmp_path / "out" / "mlp" / "power.csv") as f:
        rows = list(csv.DictReader(f))
    assert {r["pilot"] for r in rows} == {"RecurrentReinforce (3 dev runs) - best fixed schedule"}
    assert float(rows[0]["pilot_mean"]) == pytest.approx(0.015, abs=0.003)
    # a what-if is printed, not filed
    (tmp_path / "out" / "mlp" / "power.csv").unlink()
    subprocess.run([*cmd, "--delta", "0.05"], capture_output=True, text=True, check=True)
    assert not (tmp_path / "out" / "mlp" / "power.csv").exists()
