"""Benchmark v3's ledger (agents.bench.v3.ledger): start/end rows that cannot miss a run, and fingerprints
of code with docstrings and comments stripped."""

from __future__ import annotations

import csv
import importlib.util
import re
import sys
import textwrap

import pytest

from agents.bench.ledger import LEDGER_COLUMNS as V2_COLUMNS
from agents.bench.v3 import ledger as L

PROTOCOL = "p" * 64
METHODS = [("RR meta", "1", "a" * 64), ("best static tuple", "1", "b" * 64)]


def _results(path, rows=()):
    """A results file with v2/v3's columns that matter to the ledger."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["suite", "split", "member", "seed", "method", "method_version", "test_accuracy"])
        w.writerows(rows)
    return path


def _run(tmp_path, **kw):
    args = dict(protocol_hash=PROTOCOL, suite="v3/mlp", split="test", methods=METHODS,
                results=tmp_path / "results.csv", n_seeds=3, n_members=2, reference="best static tuple")
    args.update(kw)
    return L.ledger_run(tmp_path / "ledger.csv", **args)


# ---------------------------------------------------------------------- columns
def test_columns_extend_v2s():
    assert L.LEDGER_COLUMNS[:len(V2_COLUMNS)] == V2_COLUMNS
    assert L.LEDGER_COLUMNS[len(V2_COLUMNS):] == ["split", "event", "run_id", "env_fingerprint", "hpenv_version",
                                                   "torch_version", "cpu"]


# ---------------------------------------------------------------------- start and end rows
def test_aborted_run_leaves_its_start_rows_and_no_end(tmp_path):
    ledger = tmp_path / "ledger.csv"
    with pytest.raises(RuntimeError, match="killed mid-run"):
        with _run(tmp_path) as run:
            # the start rows are on disk before any member is scored
            assert [r.event for r in L.read_ledger(ledger)] == ["start", "start"]
            raise RuntimeError("killed mid-run")
    rows = L.read_ledger(ledger)
    assert [(r.event, r.method) for r in rows] == [("start", "RR meta"), ("start", "best static tuple")]
    assert {r.run_id for r in rows} == {run.run_id}
    assert L.unfinished_runs(ledger) == [run.run_id]
    r = rows[0]
    assert (r.protocol_hash, r.suite, r.split, r.method_version, r.method_fingerprint) == (
        PROTOCOL, "v3/mlp", "test", "1", "a" * 64)
    assert (r.n_members, r.n_seeds, r.mean_test_accuracy, r.difference_vs_reference) == (2, 3, None, None)
    assert r.results_sha256 == ""  # there was no results file when the run began
    assert re.fullmatch(r"[0-9a-f]{64}", r.env_fingerprint)
    assert r.hpenv_version and r.torch_version and r.cpu
    assert r.commit == "unknown" and r.dirty is False  # tmp_path is not a git checkout


def test_keyboard_interrupt_is_not_filed_as_an_end(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with _run(tmp_path):
            raise KeyboardInterrupt
    assert {r.event for r in L.read_ledger(tmp_path / "ledger.csv")} == {"start"}


def test_normal_exit_files_end_rows_sharing_the_run_id(tmp_path):
    results = tmp_path / "results.csv"
    with _run(tmp_path) as run:
        _results(results, [("v3/mlp", "test", "m0", 1, "RR meta", "1", 0.5),
                           ("v3/mlp", "test", "m0", 2, "RR meta", "1", 0.7),
                           ("v3/mlp", "test", "m1", 1, "RR meta", "1", 0.9),
                           ("v3/mlp", "transfer", "t0", 1, "RR meta", "1", 0.0),   # other split
                           ("v3/mlp", "test", "m0", 1, "best static tuple", "1", 0.6)])
        run.record("best static tuple", mean_test_accuracy=0.25, difference_vs_reference=0.0)
        run.record("RR meta", difference_vs_reference=0.125)
    rows = L.read_ledger(tmp_path / "ledger.csv")
    assert [r.event for r in rows] == ["start", "start", "end", "end"]
    assert {r.run_id for r in rows} == {run.run_id}
    assert rows == run.rows
    end = {r.method: r for r in rows if r.event == "end"}
    assert all(r.results_sha256 == L.file_sha256(results) for r in end.values())
    # RR: read from the results (members m0, m1; seeds averaged inside a member), difference as recorded
    assert end["RR meta"].n_members == 2
    assert end["RR meta"].mean_test_accuracy == pytest.approx((0.6 + 0.9) / 2)
    assert end["RR meta"].difference_vs_reference == 0.125
    # the recorded mean wins over the results file; the member count still comes from it
    assert (end["best static tuple"].n_members, end["best static tuple"].mean_test_accuracy) == (1, 0.25)
    assert L.unfinished_runs(tmp_path / "ledger.csv") == []


def test_resumed_run_gets_a_new_run_id_and_only_the_aborted_one_is_unfinished(tmp_path):
    ledger, results = tmp_path / "ledger.csv", tmp_path / "results.csv"
    with pytest.raises(ValueError, match="boom"):
        with _run(tmp_path) as aborted:
            _results(results, [("v3/mlp", "test", "m0", 1, "RR meta", "1", 0.5)])
            raise ValueError("boom")
    with _run(tmp_path) as resumed:
        _results(results, [("v3/mlp", "test", "m0", 1, "RR meta", "1", 0.5),
                           ("v3/mlp", "test", "m1", 1, "RR meta", "1", 0.7)])
    with _run(tmp_path, split="transfer", methods=METHODS[:1]) as transfer:
        pass
    assert len({aborted.run_id, resumed.run_id, transfer.run_id}) == 3
    assert L.unfinished_runs(ledger) == [aborted.run_id]
    rows = L.read_ledger(ledger)
    starts = [r for r in rows if r.run_id == resumed.run_id and r.event == "start"]
    # the resumed run's start rows record the results file as it found it (the aborted run's rows)
    assert starts and all(r.results_sha256 and r.results_sha256 != rows[-1].results_sha256 for r in starts)
    assert [(r.split, r.event) for r in rows if r.run_id == transfer.run_id] == [("transfer", "start"),
                                                                                  ("transfer", "end")]


def test_missing_results_at_the_end_leaves_the_run_unfinished(tmp_path):
    with pytest.raises(ValueError, match="results"):
        with _run(tmp_path) as run:
            pass
    assert L.unfinished_runs(tmp_path / "ledger.csv") == [run.run_id]


# ---------------------------------------------------------------------- append-only file
def test_appends_keep_old_bytes_and_write_the_header_once(tmp_path):
    ledger = tmp_path / "ledger.csv"
    _results(tmp_path / "results.csv")
    with _run(tmp_path):
        pass
    before = ledger.read_bytes()
    with _run(tmp_path):
        pass
    after = ledger.read_bytes()
    assert after.startswith(before) and len(after) > len(before)
    lines = after.decode().splitlines()
    assert lines[0] == ",".join(L.LEDGER_COLUMNS)
    assert sum(line == lines[0] for line in lines) == 1
    assert len(lines) == 1 + 8


def test_a_file_with_other_columns_is_refused_and_left_alone(tmp_path):
    ledger = tmp_path / "ledger.csv"
    ledger.write_text(",".join(V2_COLUMNS) + "\n")  # a v2 ledger
    with pytest.raises(ValueError, match="expected the v3 ledger's"):
        L.read_ledger(ledger)
    with pytest.raises(ValueError, match="columns"):
        with _run(tmp_path):
            pass
    assert ledger.read_text() == ",".join(V2_COLUMNS) + "\n"  # nothing appended to it
    # the same columns in another order are refused too
    ledger.write_text(",".join(reversed(L.LEDGER_COLUMNS)) + "\n")
    with pytest.raises(ValueError, match="another order"):
        L.read_ledger(ledger)


def test_a_torn_row_is_reported_with_its_line(tmp_path):
    ledger = tmp_path / "ledger.csv"
    ledger.write_text(",".join(L.LEDGER_COLUMNS) + "\n2027-01-20T14:03:11Z,abc\n")
    with pytest.raises(ValueError, match="line 2"):
        L.read_ledger(ledger)


def test_a_changed_method_needs_a_new_version_label(tmp_path):
    _results(tmp_path / "results.csv")
    with _run(tmp_path):
        pass
    size = (tmp_path / "ledger.csv").stat().st_size
    with pytest.raises(ValueError, match="new version label"):
        with _run(tmp_path, methods=[("RR meta", "1", "c" * 64)]):
            pytest.fail("entered a run with a reused version label")
    assert (tmp_path / "ledger.csv").stat().st_size == size
    with _run(tmp_path, methods=[("RR meta", "2", "c" * 64)]):
        pass


@pytest.mark.parametrize("kw, match", [
    (dict(split="selection"), "split: got 'selection'; allowed"),
    (dict(methods=[]), "methods: got none"),
    (dict(methods=[("RR meta", "1")]), "methods: got item"),
    (dict(methods=[("RR meta", "1", "a"), ("RR meta", "2", "a")]), "one \\(version, fingerprint\\)"),
    (dict(protocol_hash=""), "protocol_hash"),
    (dict(n_seeds=-1), "n_seeds"),
])
def test_bad_arguments_are_named(tmp_path, kw, match):
    with pytest.raises(ValueError, match=match):
        _run(tmp_path, **kw)
    assert not (tmp_path / "ledger.csv").exists()


def test_record_refuses_an_unknown_method(tmp_path):
    _results(tmp_path / "results.csv")
    with pytest.raises(ValueError, match="allowed: this run's methods"):
        with _run(tmp_path) as run:
            run.record("PPO", mean_test_accuracy=0.5)


def test_find_ledger(tmp_path):
    (tmp_path / "benchmarks" / "v3").mkdir(parents=True)
    (tmp_path / "benchmarks" / "v3" / "protocol.toml").write_text("")
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    assert L.find_ledger(deep) == tmp_path / L.LEDGER_PATH  # the checkout's, created by its first run
    with pytest.raises(ValueError, match="--ledger"):
        L.find_ledger(tmp_path.parent)


# ---------------------------------------------------------------------- fingerprints
CODE = '''\
"""Module docstring{doc}."""
import math  # a comment{doc}


class Method:
    """A method{doc}."""

    rate: float = 0.1
    """The rate{doc}."""
    code_modules = {code_modules}

    def settings(self):
        """Its settings{doc}."""
        # why{doc}
        return {{"rate": self.rate}}

    def act(self, x):
        return math.sqrt(x) * {factor}{spaces}


def helper():
    """Only a docstring{doc}."""
'''


def _module(tmp_path, folder, name="fp_mod", doc="", factor="2", spaces="", code_modules="()", monkeypatch=None):
    """Write and import a module named ``name`` from ``tmp_path/folder`` (same name, another file);
    with ``monkeypatch``, it is ``sys.modules[name]`` until the test ends, as a method's module is."""
    path = tmp_path / folder / f"{name}.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(CODE.format(doc=doc, factor=factor, spaces=spaces, code_modules=code_modules))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if monkeypatch is not None:
        monkeypatch.setitem(sys.modules, name, module)
    return module


def test_code_fingerprint_ignores_docstrings_comments_and_layout(tmp_path, monkeypatch):
    a = _module(tmp_path, "a", monkeypatch=monkeypatch)
    fa, ma = L.code_fingerprint([a]), L.method_code_fingerprint(a.Method(), {"x": 1})
    b = _module(tmp_path, "b", doc=" (edited, with more words)", spaces="   ", monkeypatch=monkeypatch)
    assert a.__file__ != b.__file__ and a.__doc__ != b.__doc__
    assert re.fullmatch(r"[0-9a-f]{64}", fa)
    assert L.code_fingerprint([b]) == fa
    assert L.code_fingerprint(b) == fa  # one module alone
    assert L.method_code_fingerprint(b.Method(), {"x": 1}) == ma


def test_code_fingerprint_sees_a_code_change(tmp_path, monkeypatch):
    a = _module(tmp_path, "a", monkeypatch=monkeypatch)
    fa, ma = L.code_fingerprint([a]), L.method_code_fingerprint(a.Method(), {})
    c = _module(tmp_path, "c", factor="3", monkeypatch=monkeypatch)
    assert L.code_fingerprint([c]) != fa
    assert L.method_code_fingerprint(c.Method(), {}) != ma


def test_code_fingerprint_by_name_and_order(tmp_path, monkeypatch):
    a = _module(tmp_path, "lib", name="fp_one")
    _module(tmp_path, "lib", name="fp_two", factor="5")
    monkeypatch.syspath_prepend(str(tmp_path / "lib"))
    assert L.code_fingerprint(["fp_one"]) == L.code_fingerprint([a])
    both = L.code_fingerprint(["fp_one", "fp_two"])
    assert L.code_fingerprint(["fp_two", "fp_one", "fp_one"]) == both != L.code_fingerprint(["fp_one"])
    assert "fp_two" not in sys.modules  # found by name and read, not run


def test_method_code_fingerprint_settings_and_code_modules(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path / "lib"))
    _module(tmp_path, "lib", name="fp_dep")
    m = _module(tmp_path, "a", code_modules='("fp_dep",)', monkeypatch=monkeypatch).Method()
    f = L.method_code_fingerprint(m, {"a": 1, "b": [1, 2]})
    assert L.method_code_fingerprint(m, {"b": [1, 2], "a": 1}) == f  # key order does not count
    assert L.method_code_fingerprint(m, {"a": 2, "b": [1, 2]}) != f
    # an edit to a listed module's code changes the method's fingerprint; to its docstrings, not
    (tmp_path / "lib" / "fp_dep.py").write_text(CODE.format(doc=" new", factor="2", spaces="", code_modules="()"))
    assert L.method_code_fingerprint(m, {"a": 1, "b": [1, 2]}) == f
    (tmp_path / "lib" / "fp_dep.py").write_text(CODE.format(doc="", factor="4", spaces="", code_modules="()"))
    assert L.method_code_fingerprint(m, {"a": 1, "b": [1, 2]}) != f


def test_fingerprint_errors_are_clear(tmp_path, monkeypatch):
    m = _module(tmp_path, "a", monkeypatch=monkeypatch).Method()
    with pytest.raises(ValueError, match="JSON-serialisable"):
        L.method_code_fingerprint(m, {"f": object()})
    with pytest.raises(ValueError, match="no module named 'no_such_module_xyz'"):
        L.code_fingerprint(["no_such_module_xyz"])
    with pytest.raises(ValueError, match="allowed: module objects or dotted module names"):
        L.code_fingerprint([3])
    with pytest.raises(ValueError, match="got no modules"):
        L.code_fingerprint([])
    with pytest.raises(ValueError, match="no Python source"):
        L.code_fingerprint([sys])


def test_env_fingerprint_is_stable_hex_over_every_hpenv_module():
    f = L.env_fingerprint()
    assert re.fullmatch(r"[0-9a-f]{64}", f)
    assert L.env_fingerprint() == f
    import pkgutil

    import hpenv
    names = ["hpenv", *(f"hpenv.{m.name}" for m in pkgutil.iter_modules(hpenv.__path__))]
    assert "hpenv.env" in names and L.code_fingerprint(names) == f
    with pytest.raises(ValueError, match="not an importable package"):
        L.env_fingerprint("no_such_package_xyz")


def test_first_run_in_a_checkout_files_its_commit(tmp_path):
    import subprocess

    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "code.py").write_text("x = 1\n")
    subprocess.run([*git, "-C", str(tmp_path), "add", "code.py"], check=True)
    subprocess.run([*git, "-C", str(tmp_path), "commit", "-q", "-m", "c"], check=True)
    head = subprocess.run(["git", "-C", str(tmp_path), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    ledger = tmp_path / L.LEDGER_PATH  # its folder does not exist yet
    results = _results(tmp_path / "results.csv")
    with L.ledger_run(ledger, protocol_hash=PROTOCOL, suite="v3/mlp", split="test", methods=METHODS[:1],
                      results=results):
        (tmp_path / "code.py").write_text("x = 2\n")  # the end row describes the code that began the run
    rows = L.read_ledger(ledger)
    assert [(r.event, r.commit, r.dirty) for r in rows] == [("start", head, False), ("end", head, False)]
