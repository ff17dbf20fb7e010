"""The native vector env: layout, equivalence with single envs, autoreset, and the training kernel."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import torch
import torch.nn.functional as F
from gymnasium.vector import AutoresetMode

from conftest import FAST, obs_in_bounds, rollout
import hpenv
from hpenv.children import ResidualMLP, make_family
from hpenv.env import HPTuneEnv
from hpenv.tasks import Task, make_task
from hpenv.training import ChildKernel
from hpenv.vector import HPTuneVectorEnv

N_VAL_WINE = 36


def test_make_vec_returns_native_env(make_vec):
    venv = make_vec(3)
    assert isinstance(venv, HPTuneVectorEnv)
    assert venv.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    assert venv.num_envs == 3
    assert venv.action_space.shape == (3, 4) and venv.single_action_space.nvec.tolist() == [4, 5, 6, 4]
    assert venv.observation_space.shape == (3, 17) and venv.single_observation_space.dtype == np.float32
    obs, info = venv.reset(seed=0)
    assert obs.shape == (3, 17) and obs.dtype == np.float32
    assert info["val_accuracy"].shape == (3,) and info["_val_accuracy"].all()


def _random_actions(rng, K, steps, nvec, max_lr_index=None):
    acts = rng.integers(0, nvec, size=(steps, K, len(nvec)))
    if max_lr_index is not None:
        acts[..., 2] = np.minimum(acts[..., 2], max_lr_index)  # learning rate <= 0.1
    return acts


def test_sync_and_async_modes_match_native():
    kw = {**FAST, "horizon": 2}
    acts = np.array([[[3, 1, 3, 2], [0, 2, 4, 1]], [[1, 0, 2, 3], [2, 3, 1, 0]]])
    results = {}
    for mode in ("sync", "async", None):
        extra = {"vector_kwargs": {"context": "fork"}} if mode == "async" else {}
        venv = gym.make_vec("HPTune-v1", num_envs=2, vectorization_mode=mode, **kw, **extra)
        obs, _ = venv.reset(seed=4)
        trace, rewards = [obs], []
        for a in acts:
            obs, r, terminated, truncated, info = venv.step(a)
            trace.append(obs)
            rewards.append(r)
        assert terminated.all() and not truncated.any()
        assert info["test_accuracy"].shape == (2,)
        venv.close()
        results[mode] = (np.stack(trace), np.stack(rewards))
    assert np.array_equal(results["sync"][0], results["async"][0])
    assert np.array_equal(results["sync"][1], results["async"][1])
    np.testing.assert_allclose(results[None][0], results["sync"][0], atol=1e-5)
    np.testing.assert_allclose(results[None][1], results["sync"][1], atol=1 / N_VAL_WINE + 1e-6)


@pytest.mark.parametrize(
    "kw",
    [{}, {"hp_space": {"depth": [1, 2, 4], "dropout": [0.0, 0.2], "batch_size": [8, 16],
                       "weight_decay": [0.0, 0.01], "learning_rate": [0.01, 0.1]}},
     # relative moves from per-child positions; from 0.003 three moves up reach 0.1 at most
     {"relative_actions": {"learning_rate": 1, "depth": 2}, "relative_start": {"learning_rate": 0.003, "depth": 2}}],
    ids=["default", "batch_size+weight_decay", "relative"],
)
def test_child_i_equals_single_env(make_env, kw):
    K, seed, horizon = 3, 11, 3
    absolute_lr = not kw  # the default space's learning-rate index could pick 0.3 and diverge
    kw = {**kw, "horizon": horizon}
    venv = HPTuneVectorEnv(num_envs=K, **FAST | kw)
    nvec = venv.single_action_space.nvec
    acts = _random_actions(np.random.default_rng(0), K, horizon, nvec, max_lr_index=4 if absolute_lr else None)
    obs, info0 = venv.reset(seed=seed)
    v_obs, v_rew = [obs], []
    for a in acts:
        obs, r, *_ = venv.step(a)
        v_obs.append(obs)
        v_rew.append(r)
    v_obs, v_rew = np.stack(v_obs), np.stack(v_rew)
    for i in range(K):
        s_obs, s_rew, infos, s_info0 = rollout(make_env(**kw), acts[:, i], seed=seed + i)
        assert s_info0["val_accuracy"] == pytest.approx(info0["val_accuracy"][i], abs=1e-6)
        np.testing.assert_allclose(v_obs[:, i], s_obs, atol=1e-5, err_msg=f"child {i}")
        np.testing.assert_allclose(v_rew[:, i], s_rew, atol=1 / N_VAL_WINE + 1e-6, err_msg=f"child {i}")
    assert not np.allclose(v_obs[:, 0], v_obs[:, 1])  # the children really differ


def test_list_of_seeds(make_env):
    venv = HPTuneVectorEnv(num_envs=2, **FAST)
    obs, _ = venv.reset(seed=[7, 9])
    a = np.array([[3, 1, 3, 2], [1, 0, 4, 1]])
    obs1, *_ = venv.step(a)
    for i, s in enumerate([7, 9]):
        s_obs, *_ = rollout(make_env(), [a[i]], seed=s)
        np.testing.assert_allclose(obs[i], s_obs[0], atol=1e-6)
        np.testing.assert_allclose(obs1[i], s_obs[1], atol=1e-5)
    with pytest.raises(ValueError, match="2 seeds"):
        venv.reset(seed=[1, 2, 3])


def test_next_step_autoreset(make_env):
    kw = {**FAST, "horizon": 2}
    a = np.array([[3, 0, 3, 2], [1, 1, 2, 1]])
    traces = []
    for ignored in ([0, 0, 0, 0], [3, 4, 5, 3]):
        venv = HPTuneVectorEnv(num_envs=2, **kw)
        venv.reset(seed=5)
        venv.step(a)
        _, _, terminated, _, info = venv.step(a)
        assert terminated.all() and np.all(info["test_accuracy"] >= 0)
        obs, r, terminated, truncated, info = venv.step(np.array([ignored, ignored]))
        assert r.tolist() == [0.0, 0.0] and not terminated.any() and not truncated.any()
        assert info["sgd_steps"].tolist() == [0, 0]
        assert np.all(obs[:, 12] == 0) and np.all(obs[:, 13:] == 0)  # progress and hyper-parameters
        assert info["train_loss"].tolist() == [-1, -1] and info["test_accuracy"].tolist() == [-1, -1]
        obs2, r2, *_ = venv.step(a)
        traces.append((obs, obs2, r2))
    assert np.array_equal(traces[0][0], traces[1][0])  # the action at the reset step is ignored
    assert np.array_equal(traces[0][1], traces[1][1]) and np.array_equal(traces[0][2], traces[1][2])
    # child 0's new episode is the single env's next (unseeded) episode
    env = make_env(**kw)
    rollout(env, [a[0], a[0]], seed=5)
    obs_single, _ = env.reset()
    np.testing.assert_allclose(traces[0][0][0], obs_single, atol=1e-5)


def test_diverging_child_terminates_alone():
    venv = HPTuneVectorEnv(num_envs=2, task="wine", steps_per_action=5, horizon=3,
                           hp_space={"learning_rate": [0.01, 10.0], "momentum": [0.99]})
    _, info0 = venv.reset(seed=0)
    obs, r, terminated, _, info = venv.step(np.array([[1, 0], [0, 0]]))
    assert terminated.tolist() == [True, False]
    assert info["diverged"].tolist() == [True, False]
    assert info["val_accuracy"][0] == 0.0
    assert r[0] == pytest.approx(-info0["val_accuracy"][0])
    assert info["test_accuracy"][0] == pytest.approx(1 / 3) and info["test_accuracy"][1] == -1
    assert np.isinf(info["train_loss"][0]) and np.isfinite(info["train_loss"][1])
    assert obs_in_bounds(venv.single_observation_space, obs)
    obs, r, terminated, _, info = venv.step(np.array([[0, 0], [0, 0]]))
    assert r[0] == 0.0 and info["sgd_steps"].tolist() == [0, 10]  # child 0 reset, child 1 goes on
    assert info["diverged"].tolist() == [False, False] and info["train_loss"][0] == -1
    assert obs_in_bounds(venv.single_observation_space, obs)
    obs, r, terminated, _, info = venv.step(np.array([[0, 0], [0, 0]]))
    assert info["sgd_steps"].tolist() == [5, 15] and not info["diverged"].any()
    assert terminated.tolist() == [False, True]


def test_same_step_autoreset_final_obs():
    venv = HPTuneVectorEnv(num_envs=2, autoreset_mode=AutoresetMode.SAME_STEP, **FAST | {"horizon": 2})
    assert venv.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    venv.reset(seed=0)
    a = np.array([[3, 0, 3, 2], [1, 1, 2, 1]])
    obs, _, terminated, _, info = venv.step(a)
    assert not terminated.any() and "final_obs" not in info
    obs, r, terminated, _, info = venv.step(a)
    assert terminated.all()
    assert info["final_obs"].shape == (2, 17) and info["_final_obs"].tolist() == [True, True]
    assert np.all(info["final_obs"][:, 12] == 1.0)  # the last observation of the ended episode
    assert np.all(obs[:, 12] == 0.0)  # already the new episode
    final = info["final_info"]
    assert info["_final_info"].all() and np.all(final["test_accuracy"] >= 0)  # the ended episode's info
    assert final["sgd_steps"].tolist() == [2 * FAST["steps_per_action"]] * 2
    assert info["sgd_steps"].tolist() == [0, 0] and info["test_accuracy"].tolist() == [-1, -1]  # the new one's
    obs, r, terminated, _, info = venv.step(a)
    assert info["sgd_steps"].tolist() == [FAST["steps_per_action"]] * 2
    with pytest.raises(ValueError, match="autoreset_mode"):
        HPTuneVectorEnv(num_envs=2, autoreset_mode="bogus", **FAST)


def test_info_layout(make_vec):
    venv = make_vec(3)
    _, info = venv.reset(seed=0)
    a = np.array([[3, 0, 3, 2], [1, 1, 2, 1], [0, 4, 0, 3]])
    _, _, _, _, info = venv.step(a)
    keys = [k for k in info if not k.startswith("_")]
    assert keys == hpenv.info_keys()  # flat: the single env's keys, no nested dicts
    for k in keys:
        mask = info[f"_{k}"]
        assert mask.dtype == bool and mask.shape == (3,) and mask.all()
        assert isinstance(info[k], np.ndarray) and info[k].shape == (3,)
    decoded = [venv.hp_space.decode(row) for row in a]
    for n in venv.hp_space.names:
        assert info[f"hp_{n}"].tolist() == [d[n] for d in decoded]
    assert info["hp_batch_size"].tolist() == [32] * 3 and info["hp_weight_decay"].tolist() == [0.0] * 3
    assert hpenv.hyperparameters_from_info(info, 1) == {**decoded[1], "weight_decay": 0.0, "batch_size": 32}


@pytest.mark.parametrize(
    "actions, message",
    [
        (np.zeros((3, 4), dtype=int), "shape"),
        (np.zeros((2, 3), dtype=int), "shape"),
        (np.zeros(4, dtype=int), "shape"),
        (np.array([[0, 0, 0, 0], [0, 0, 6, 0]]), "outside the action space"),
        (np.array([[0, 0, 0, 0], [-1, 0, 0, 0]]), "outside the action space"),
        (np.array([[0.5, 0, 0, 0], [0, 0, 0, 0]]), "integer"),
    ],
)
def test_bad_actions(make_vec, actions, message):
    venv = make_vec(2)
    venv.reset(seed=0)
    with pytest.raises(ValueError, match=message):
        venv.step(actions)
    _, _, _, _, info = venv.step(np.zeros((2, 4), dtype=int))
    assert info["sgd_steps"].tolist() == [FAST["steps_per_action"]] * 2


def test_step_before_reset_and_render():
    venv = HPTuneVectorEnv(num_envs=2, **FAST)
    with pytest.raises(RuntimeError, match="reset"):
        venv.step(np.zeros((2, 4), dtype=int))
    with pytest.raises(ValueError, match="render"):
        HPTuneVectorEnv(num_envs=2, render_mode="ansi", **FAST)
    with pytest.raises(ValueError, match="num_envs"):
        HPTuneVectorEnv(num_envs=0, **FAST)


# ---------------------------------------------------------------- the kernel against plain PyTorch
def _index_stream(generator, n, total):
    """What ChildKernel draws: shuffled epochs of the training set, one after another."""
    out = []
    while sum(len(o) for o in out) < total:
        out.append(torch.randperm(n, generator=generator))
    return torch.cat(out)[:total]


def test_kernel_matches_plain_torch_loop():
    task = make_task("wine")
    family = make_family("mlp", task.input_shape, task.num_classes, width=32, max_depth=3)
    kernel = ChildKernel(family, 1, "cpu")
    kernel.set_tasks([task])
    kernel.reset_children([0], [1234])
    ref_gen = torch.Generator()
    ref_gen.set_state(kernel.generators[0].get_state())
    model = family.to_module(kernel.params, 0, depth=3)
    assert isinstance(model, ResidualMLP)

    # (depth, lr, momentum, weight decay, batch size, SGD steps): blocks go off, then on again
    phases = [(3, 0.05, 0.9, 1e-3, 16, 5), (1, 0.1, 0.5, 1e-3, 8, 4), (3, 0.02, 0.9, 0.0, 32, 5)]
    total = sum(b * s for *_, b, s in phases)
    stream = _index_stream(ref_gen, task.sizes[0], total)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    pos = 0
    for depth, lr, mu, wd, b, steps in phases:
        hp = {"depth": np.array([depth]), "dropout": np.array([0.0]), "learning_rate": np.array([lr]),
              "momentum": np.array([mu]), "weight_decay": np.array([wd]), "batch_size": np.array([b])}
        losses, grad_norm = kernel.train(hp, steps, np.array([True]))

        model.depth = depth
        for g in opt.param_groups:
            g.update(lr=lr, momentum=mu, weight_decay=wd)
        ref_losses = []
        for s in range(steps):
            idx = stream[pos:pos + b]
            pos += b
            opt.zero_grad(set_to_none=True)  # switched-off blocks get no gradient: SGD skips them
            loss = F.cross_entropy(model(task.x_train[idx]), task.y_train[idx])
            loss.backward()
            opt.step()
            ref_losses.append(loss.item())
        np.testing.assert_allclose(losses[:, 0].numpy(), ref_losses, rtol=1e-5, atol=1e-6)

        got = family.to_module(kernel.params, 0, depth=depth).state_dict()
        for name, ref in model.state_dict().items():
            torch.testing.assert_close(got[name], ref, atol=1e-5, rtol=1e-5, msg=lambda m: f"{name}: {m}")
        # the observation's grad_norm: the gradient of the last SGD step (not the momentum update)
        last_grad = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]).norm()
        assert grad_norm[0].item() == pytest.approx(last_grad.item(), rel=1e-4)


# ---------------------------------------------------------------- the hand-written backward pass
class _Recorder:
    """Stands in for the optimiser: keeps every gradient a trainer hands over."""

    def __init__(self):
        self.grads = {}

    def out(self, name):
        return None

    def __call__(self, name, grad):
        self.grads[name] = grad.clone()


def _full_batch_arguments(counts, drops, K):
    """The forward pass's ``blocks`` and per-child dropout masks (ones for children that skip a block)."""
    blocks = [None if m == K else torch.arange(m) for m in counts]
    full_drops = None if drops is None else [torch.cat([d, d.new_ones(K - len(d), *d.shape[1:])]) for d in drops]
    return blocks, full_drops


def _autograd_reference(family, params, x, y, drops, weights, counts):
    """Autograd through ``family.forward``: the leaves (their ``.grad`` filled), the logits and the losses."""
    K, B = y.shape
    leaves = {k: v.clone().requires_grad_() for k, v in params.items()}
    logits = family.forward(leaves, x, *_full_batch_arguments(counts, drops, K))
    nll = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none").view(K, B)
    ref_loss = nll.mean(1) if weights is None else (nll * weights).sum(1)
    ref_loss.sum().backward()
    return leaves, logits.detach(), ref_loss.detach()


def _assert_gradients_match(recorder, loss, leaves, ref_loss, counts, block_prefix):
    """The trainer's loss and every gradient it handed over equal autograd's; returns each
    parameter's number of rows (children that used it)."""
    torch.testing.assert_close(loss, ref_loss)
    assert set(recorder.grads) == set(leaves)
    K, rows_of = len(loss), {}
    for name, grad in recorder.grads.items():
        rows = K if block_prefix not in name else counts[int(name.split(".")[1])]
        assert grad.shape[0] == rows, name
        torch.testing.assert_close(grad, leaves[name].grad[:rows], atol=1e-5, rtol=1e-4, msg=name)
        rows_of[name] = rows
    return rows_of


@pytest.mark.parametrize("with_dropout", [False, True])
@pytest.mark.parametrize("with_weights", [False, True])
def test_mlp_trainer_gradients_equal_autograd(with_dropout, with_weights):
    K, B, counts = 5, 6, [5, 3, 1]  # children 0-4 of depths 3, 3, 2, 1, 1 (deepest first)
    family = make_family("mlp", (7,), 4, width=8, max_depth=3)
    gen = torch.Generator().manual_seed(0)
    params = {s.name: torch.randn(K, *s.shape, generator=gen) * 0.5 for s in family.param_specs}
    x, y = torch.randn(K, B, 7, generator=gen), torch.randint(0, 4, (K, B), generator=gen)
    drops = [(torch.rand(m, B, 8, generator=gen) > 0.3).float() / 0.7 for m in counts] if with_dropout else None
    weights = torch.rand(K, B, generator=gen) if with_weights else None

    recorder = _Recorder()
    loss = family.trainer(params, counts, K, recorder)(x, y, drops, weights)

    leaves, _, ref_loss = _autograd_reference(family, params, x, y, drops, weights, counts)
    for name, rows in _assert_gradients_match(recorder, loss, leaves, ref_loss, counts, "fc").items():
        if rows < K:  # the children that skipped the block get no gradient from it
            assert leaves[name].grad[rows:].abs().max() == 0, name


def test_flat_and_per_region_updates_agree():
    """Children with one shared tuple take the three-operation update; a mix takes the per-group one."""
    kw = dict(task="wine", steps_per_action=4, horizon=5)
    same = HPTuneVectorEnv(num_envs=3, **kw)
    mixed = HPTuneVectorEnv(num_envs=4, **kw)
    same.reset(seed=[1, 2, 3])
    mixed.reset(seed=[1, 2, 3, 9])
    shared, other = [3, 1, 3, 2], [1, 0, 2, 1]  # child 3 of `mixed` makes the update per group
    for _ in range(3):
        obs_same, *_ = same.step(np.array([shared] * 3))
        obs_mixed, *_ = mixed.step(np.array([shared] * 3 + [other]))
    np.testing.assert_allclose(obs_mixed[:3], obs_same, atol=1e-5)
    for name, p in same._episodes.kernel.params.items():
        torch.testing.assert_close(mixed._episodes.kernel.params[name][:3], p, atol=1e-6, rtol=1e-5)


def test_skipped_blocks_keep_weights_and_momentum():
    """While other children train a block, a child that skips it keeps its weights and momentum there."""
    venv = HPTuneVectorEnv(num_envs=3, task="wine", steps_per_action=3, horizon=5)
    venv.reset(seed=0)
    venv.step(np.array([[3, 0, 3, 2]] * 3))  # depth 4, momentum 0.9: every block builds momentum
    kernel = venv._episodes.kernel
    before = {name: (w.clone(), kernel._bufs[name].clone()) for name, w in kernel.params.items()}
    depths = [1, 4, 2]  # child 0 sorts last, child 1 first: the slot order is not the identity
    venv.step(np.array([[d - 1, 0, 3, 2] for d in depths]))
    for name, (w, buf) in before.items():
        for k, depth in enumerate(depths):
            trained = not name.startswith(("fc1", "fc2")) or int(name.split(".")[1]) < depth
            assert torch.equal(kernel.params[name][k], w[k]) != trained, (name, k)
            assert torch.equal(kernel._bufs[name][k], buf[k]) != trained, (name, k)


def test_cnn_children_equal_single_envs(make_env):
    """Child i of the vector env trains as a single env seeded s + i: CNN children with mixed depths,
    dropouts and learning rates, two of them with the same depth (a swap of their gradients would show)."""
    rng = np.random.default_rng(0)
    y = np.arange(48) % 3
    x = rng.normal(size=(48, 1, 6, 6)).astype(np.float32) + y[:, None, None, None]
    task = Task.from_arrays(x, y, name="tiny_images")
    kw = dict(task=task, steps_per_action=3, horizon=3, batch_size=8)
    # [depth, dropout, learning rate, momentum] indices, per step and child
    acts = np.array([[[3, 1, 3, 2], [0, 2, 2, 1], [1, 0, 3, 3], [3, 3, 4, 2]],
                     [[1, 0, 2, 2], [3, 3, 1, 0], [2, 1, 3, 1], [1, 2, 3, 2]],
                     [[2, 2, 4, 1], [2, 0, 3, 2], [0, 1, 2, 3], [3, 0, 1, 0]]])
    K = acts.shape[1]
    venv = HPTuneVectorEnv(num_envs=K, **kw)
    venv.reset(seed=20)
    v_obs = np.stack([venv.step(a)[0] for a in acts])
    for i in range(K):
        env = make_env(**kw)
        s_obs, *_ = rollout(env, acts[:, i], seed=20 + i)
        np.testing.assert_allclose(v_obs[:, i], s_obs[1:], atol=1e-5, err_msg=f"child {i}")
        single = env.unwrapped._episodes.child_module(0).state_dict()
        for name, w in venv.child(i).state_dict().items():
            torch.testing.assert_close(w, single[name], atol=1e-5, rtol=1e-5, msg=lambda m: f"child {i}, {name}: {m}")


@pytest.mark.parametrize("grouped", [False, True])
@pytest.mark.parametrize("with_dropout", [False, True])
@pytest.mark.parametrize("with_weights", [False, True])
def test_cnn_trainer_gradients_equal_autograd(grouped, with_dropout, with_weights):
    """Both CNN formulations (per child with a hand-written backward, grouped with autograd) give
    autograd's gradients of the grouped forward pass, and the two forward passes agree."""
    K, B, counts = 5, 6, [5, 3, 1]  # children 0-4 of depths 3, 3, 2, 1, 1 (deepest first)
    family = make_family("cnn", (2, 7, 7), 4, width=8, max_depth=3)
    gen = torch.Generator().manual_seed(0)
    params = {s.name: torch.randn(K, *s.shape, generator=gen) * 0.3 for s in family.param_specs}
    x, y = torch.randn(K, B, 2, 7, 7, generator=gen), torch.randint(0, 4, (K, B), generator=gen)
    drops = [(torch.rand(m, B, 8, generator=gen) > 0.3).float() / 0.7 for m in counts] if with_dropout else None
    weights = torch.rand(K, B, generator=gen) if with_weights else None

    family.grouped = grouped
    recorder = _Recorder()
    loss = family.trainer(params, counts, K, recorder)(x, y, drops, weights)

    family.grouped = True  # the reference: autograd through one grouped convolution per layer
    leaves, logits, ref_loss = _autograd_reference(family, params, x, y, drops, weights, counts)
    family.grouped = False
    blocks, full_drops = _full_batch_arguments(counts, drops, K)
    torch.testing.assert_close(family.forward(params, x, blocks, full_drops), logits, atol=1e-5, rtol=1e-5)
    _assert_gradients_match(recorder, loss, leaves, ref_loss, counts, "conv")


# ---------------------------------------------------------------- autoreset modes, partial reset, pickling
def test_partial_reset_touches_only_masked_children(make_vec):
    venv = make_vec(3)
    obs0, _ = venv.reset(seed=0)
    a = np.array([[3, 0, 3, 2], [1, 1, 2, 1], [0, 4, 0, 3]])
    obs1, *_ = venv.step(a)
    mask = np.array([False, True, False])
    obs2, info = venv.reset(seed=10, options={"reset_mask": mask})
    assert info["_sgd_steps"].tolist() == [False, True, False]
    assert np.array_equal(obs2[[0, 2]], obs1[[0, 2]])  # untouched children keep their episode
    assert info["sgd_steps"][1] == 0 and info["sgd_steps"][0] > 0
    single = HPTuneEnv(**FAST)
    assert np.array_equal(obs2[1], single.reset(seed=11)[0])  # seed + index, as a full reset
    obs3, *_ = venv.step(a)
    assert obs3[0, 12] == pytest.approx(2 / FAST["horizon"]) and obs3[1, 12] == pytest.approx(1 / FAST["horizon"])
    with pytest.raises(ValueError, match="reset_mask"):
        venv.reset(options={"reset_mask": np.zeros(3, dtype=bool)})
    with pytest.raises(ValueError, match="reset_mask"):
        venv.reset(options={"reset_mask": [True, False, True]})


def test_autoreset_disabled_needs_an_explicit_reset():
    venv = HPTuneVectorEnv(num_envs=2, autoreset_mode="Disabled", **FAST | {"horizon": 1})
    assert venv.autoreset_mode == AutoresetMode.DISABLED == venv.metadata["autoreset_mode"]
    venv.reset(seed=0)
    a = np.array([[3, 0, 3, 2], [1, 1, 2, 1]])
    _, _, terminated, _, _ = venv.step(a)
    assert terminated.all()
    with pytest.raises(RuntimeError, match="reset_mask"):
        venv.step(a)
    obs, info = venv.reset(options={"reset_mask": np.array([True, True])})
    assert info["sgd_steps"].tolist() == [0, 0]
    _, _, terminated, _, info = venv.step(a)
    assert terminated.all() and info["sgd_steps"].tolist() == [FAST["steps_per_action"]] * 2


@pytest.mark.parametrize("mode", list(AutoresetMode))
def test_autoreset_mode_attribute(mode):
    venv = HPTuneVectorEnv(num_envs=2, autoreset_mode=mode, **FAST)
    assert venv.autoreset_mode is mode and venv.metadata["autoreset_mode"] is mode


def test_vector_env_pickles_exactly(make_vec):
    import pickle

    venv = make_vec(3)
    venv.reset(seed=4)
    a = np.array([[3, 0, 3, 2], [1, 1, 2, 1], [0, 4, 0, 3]])
    venv.step(a)
    copy = pickle.loads(pickle.dumps(venv))
    for _ in range(2):
        o1, r1, *_ = venv.step(a)
        o2, r2, *_ = copy.step(a)
        assert np.array_equal(o1, o2) and np.array_equal(r1, r2)
    assert np.any(r2 != 0)
