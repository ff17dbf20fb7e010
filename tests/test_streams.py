"""Streams: tasks whose training data change during the episode (hpenv.streams, issue 26)."""

import dataclasses
import pickle
import random

import gymnasium as gym
import numpy as np
import pytest
import torch

import hpenv
from hpenv.streams import StreamTask, make_stream

STEP = dict(steps_per_action=4, horizon=6)
ACTION = np.array([1, 0, 3, 2])  # depth 2, no dropout, lr 0.03, momentum 0.9


def small_task(seed: int = 0, n: int = 400, classes: int = 4) -> hpenv.Task:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, 8)) * 2
    y = np.arange(n) % classes
    x = centres[y] + rng.normal(size=(n, 8))
    return hpenv.Task.from_arrays(x, y, name="blobs", split_seed=0)


def run(env, seed, steps=None):
    obs, info = env.reset(seed=seed)
    out = [(obs, 0.0, info)]
    for _ in range(steps or env.unwrapped.config.horizon):
        obs, r, term, _, info = env.step(ACTION)
        out.append((obs, r, info))
        if term:
            break
    return out


@pytest.mark.parametrize("kind", sorted(hpenv.STREAM_KINDS))
def test_every_kind_changes_at_a_drawn_step_that_the_seed_fixes(kind):
    stream = make_stream(small_task(), kind, (2, 5))
    env = gym.make(hpenv.ENV_ID, task=stream, **STEP)
    first, again = run(env, 3), run(env, 3)
    phases = [info["phase"] for _, _, info in first]
    assert phases[0] == 0 and phases[-1] == 1 and phases == sorted(phases)
    change = phases.index(1)  # the env step whose training data are phase 1's
    assert 2 <= change <= 5
    for (o1, r1, i1), (o2, r2, i2) in zip(first, again):  # reset(seed=...) makes it repeatable, bit for bit
        assert np.array_equal(o1, o2) and r1 == r2 and i1 == i2
    changes = {[i["phase"] for _, _, i in run(env, s)].index(1) for s in range(40)}
    assert changes == {2, 3, 4, 5}  # every step of the window comes, from the episode's seed


def test_streams_with_other_data_change_at_other_steps_for_one_episode_seed():
    """Members scored at shared seeds must not all change at one step: a fixed schedule chosen on one seed
    would know every member's step (it did before, and chose to drop the rate at exactly that step)."""
    seeds = range(12)

    def steps(task) -> list[int]:
        env = gym.make(hpenv.ENV_ID, task=task, steps_per_action=1, horizon=6)
        return [[i["phase"] for _, _, i in run(env, s)].index(1) for s in seeds]

    streams = [make_stream(small_task(seed), "label_noise_onset", (2, 5), seed=seed) for seed in range(3)]
    drawn = [steps(stream) for stream in streams]
    assert drawn[0] == steps(streams[0])  # a stream and a seed fix the step
    # at most seeds the three streams do not all change at one step (drawn from the seed alone: at none)
    assert sum(len({d[i] for d in drawn}) > 1 for i in range(len(seeds))) >= 8
    # the same data built again (another object, a pickle) change where the original does
    assert steps(pickle.loads(pickle.dumps(streams[1]))) == drawn[1]


def test_the_child_trains_on_the_new_data_from_the_change():
    task = small_task()
    # phase 1 labels every training example class 0: the training loss jumps at the change, and the
    # child is pulled toward always answering 0
    stream = StreamTask.from_phases(task, [(task.x_train, np.zeros(len(task.y_train)))], [(3, 3)])
    env = gym.make(hpenv.ENV_ID, task=stream, steps_per_action=20, horizon=6)
    steps = run(env, 0)
    loss = [info["train_loss"] for _, _, info in steps]
    assert [info["phase"] for _, _, info in steps] == [0, 0, 0, 1, 1, 1, 1]
    assert loss[3] > 2 * loss[2]  # the jump a controller can read
    assert loss[6] < loss[3]  # then it learns the new labels
    plain = run(gym.make(hpenv.ENV_ID, task=task, steps_per_action=20, horizon=6), 0)
    assert steps[2][2]["val_accuracy"] == plain[2][2]["val_accuracy"]  # identical before the change
    assert steps[-1][2]["val_accuracy"] < plain[-1][2]["val_accuracy"] - 0.2


def test_a_task_without_phases_reports_phase_minus_one():
    steps = run(gym.make(hpenv.ENV_ID, task=small_task(), **STEP), 0)
    assert [info["phase"] for _, _, info in steps] == [-1] * 7
    assert "phase" in hpenv.info_keys()


def test_vector_env_children_equal_single_envs():
    """As for a plain task (tests/test_vector.py): equal up to float32 rounding of batched products."""
    stream = make_stream(small_task(), "label_noise_onset", (2, 5), fraction=0.5)
    K, seed = 5, 11
    venv = gym.make_vec(hpenv.ENV_ID, num_envs=K, task=stream, **STEP)
    obs, info = venv.reset(seed=seed)
    rows = [[(obs[k], 0.0, info["phase"][k])] for k in range(K)]
    for _ in range(STEP["horizon"]):
        obs, r, _, _, info = venv.step(np.tile(ACTION, (K, 1)))
        for k in range(K):
            rows[k].append((obs[k], r[k], info["phase"][k]))
    assert len({tuple(p for _, _, p in row).index(1) for row in rows}) > 1  # children change at different steps
    env = gym.make(hpenv.ENV_ID, task=stream, **STEP)
    one_example = 1 / len(stream.y_val)
    for k in range(K):
        single = run(env, seed + k)
        for (o1, r1, p1), (o2, r2, i2) in zip(rows[k], single):
            np.testing.assert_allclose(o1, o2, atol=1e-5)
            assert abs(r1 - r2) <= one_example + 1e-6 and p1 == i2["phase"]
    again = gym.make_vec(hpenv.ENV_ID, num_envs=K, task=stream, **STEP)  # and a vector env repeats itself exactly
    obs2, _ = again.reset(seed=seed)
    assert np.array_equal(obs2, np.stack([row[0][0] for row in rows]))
    for t in range(1, STEP["horizon"] + 1):
        obs2, *_ = again.step(np.tile(ACTION, (K, 1)))
        assert np.array_equal(obs2, np.stack([row[t][0] for row in rows]))


def test_pickled_and_restored_streams_continue_exactly():
    stream = make_stream(small_task(), "class_incremental", (2, 4), replay=0.2)
    env = gym.make(hpenv.ENV_ID, task=stream, **STEP)
    env.reset(seed=5)
    env.step(ACTION)
    copy = pickle.loads(pickle.dumps(env))
    state = env.unwrapped.child_state()
    other = gym.make(hpenv.ENV_ID, task=stream, **STEP)
    other.reset(seed=99)  # another change step: the state brings the saved one
    other.unwrapped.load_child_state(state)
    for _ in range(STEP["horizon"] - 1):
        outs = [e.step(ACTION) for e in (env, copy, other)]
        for o, r, _, _, info in outs[1:]:
            assert np.array_equal(o, outs[0][0]) and r == outs[0][1] and info == outs[0][4]


def test_streams_never_touch_global_rng():
    torch.manual_seed(1), np.random.seed(1), random.seed(1)
    expected = (torch.rand(2), np.random.random(2), random.random())
    torch.manual_seed(1), np.random.seed(1), random.seed(1)
    for kind in hpenv.STREAM_KINDS:
        run(gym.make(hpenv.ENV_ID, task=make_stream(small_task(), kind, (2, 3)), **STEP), 0)
    got = (torch.rand(2), np.random.random(2), random.random())
    assert torch.equal(got[0], expected[0]) and np.array_equal(got[1], expected[1]) and got[2] == expected[2]


def test_a_label_noise_onset_draws_wrong_labels_among_the_classes_the_task_has():
    # a task padded to more outputs than it has classes (every v3 member: 10 outputs) must get wrong
    # labels it is tested on; labels of outputs no example has would cost the child nothing
    binary = small_task(classes=2)
    padded = hpenv.Task(name="padded", x_train=binary.x_train, y_train=binary.y_train, x_val=binary.x_val,
                        y_val=binary.y_val, x_test=binary.x_test, y_test=binary.y_test, num_classes=10)
    noisy = make_stream(padded, "label_noise_onset", (2, 3), fraction=0.4, seed=3)
    y, clean = noisy.phases[0][1].numpy(), binary.y_train.numpy()
    assert set(y.tolist()) == {0, 1}
    assert np.mean(y != clean) == pytest.approx(0.4, abs=0.005)
    ten = make_stream(small_task(classes=10), "label_noise_onset", (2, 3), fraction=0.4, seed=3)
    assert set(ten.phases[0][1].tolist()) == set(range(10))  # all ten classes are the task's own
    with pytest.raises(ValueError, match="at least 2 classes"):
        one = hpenv.Task(name="one", x_train=binary.x_train, y_train=torch.zeros_like(binary.y_train),
                         x_val=binary.x_val, y_val=torch.zeros_like(binary.y_val), x_test=binary.x_test,
                         y_test=torch.zeros_like(binary.y_test), num_classes=2)
        make_stream(one, "label_noise_onset", (2, 3))


def test_a_streams_digest_follows_its_data_not_its_name():
    stream = make_stream(small_task(), "label_noise_onset", (2, 5), fraction=0.5)
    again = make_stream(small_task(), "label_noise_onset", (2, 5), fraction=0.5)
    assert stream.digest() == again.digest() == dataclasses.replace(again, name="other").digest()
    x, y = stream.phases[0]
    assert dataclasses.replace(stream, phases=((x, torch.roll(y, 1)),)).digest() != stream.digest()
    assert dataclasses.replace(stream, windows=((2, 4),)).digest() != stream.digest()
    assert make_stream(small_task(), "label_noise_onset", (2, 5), fraction=0.4).digest() != stream.digest()
    assert small_task().digest() != stream.digest()  # phase 0 alone is another task


def test_kinds_do_what_they_say():
    task = small_task()
    noisy = make_stream(task, "label_noise_onset", (2, 3), fraction=0.5)
    assert np.mean(noisy.phases[0][1].numpy() != task.y_train.numpy()) == pytest.approx(0.5, abs=0.01)
    assert torch.equal(noisy.y_val, task.y_val)  # validation and test labels stay clean
    inc = make_stream(task, "class_incremental", (2, 3), replay=0.25)
    assert set(inc.y_train.tolist()) == {0, 1} and set(inc.y_val.tolist()) == {0, 1, 2, 3}
    new_classes = (inc.phases[0][1] >= 2).sum().item()
    assert (inc.phases[0][1] < 2).sum().item() == round(0.25 * new_classes)
    drift = make_stream(task, "input_drift", (2, 3), scale=8.0)
    assert torch.allclose(drift.phases[0][0], task.x_train * 8) and len(drift.y_val) == 2 * len(task.y_val)
    new = make_stream(task, "new_data", (2, 3), first_fraction=0.25)
    assert new.phase_sizes() == [round(0.25 * len(task.y_train)), len(task.y_train)]


@pytest.mark.parametrize("make, message", [
    (lambda t: make_stream(t, "label_noise_onset", (3, 9)), "past the horizon 6"),
    (lambda t: StreamTask.from_phases(t, [(t.x_train[:0], t.y_train[:0])], [(2, 3)]), "phase 1 has no training"),
    (lambda t: StreamTask.from_phases(t, [(t.x_train, t.y_train)], [(1, 3)]), "2 <= first <= last"),
    (lambda t: StreamTask.from_phases(t, [(t.x_train, t.y_train)] * 2, [(2, 4), (3, 4)]), "must start and end after"),
    (lambda t: StreamTask.from_phases(t, [(t.x_train[:, :3], t.y_train)], [(2, 3)]), "must be n examples of shape"),
    (lambda t: StreamTask.from_phases(t, [(t.x_train, t.y_train + 7)], [(2, 3)]), "phase 1 y holds label"),
    (lambda t: StreamTask.from_phases(t, [], []), "at least one phase"),
    (lambda t: make_stream(t, "earthquake", (2, 3)), "kind must be one of"),
    (lambda t: make_stream(t, "label_noise_onset", (2, 3), fraction=1.5), "fraction must be a number in"),
    (lambda t: make_stream(t, "input_drift", (2, 3), scale=1), "scale must be a positive number other than 1"),
    (lambda t: make_stream(t, "new_data", (2, 3), replay=0.1), "does not take the arguments"),
])
def test_bad_streams_are_refused_with_a_clear_error(make, message):
    with pytest.raises(ValueError, match=message):
        gym.make(hpenv.ENV_ID, task=make(small_task()), **STEP)


def test_a_phase_smaller_than_the_batch_is_refused():
    stream = make_stream(small_task(), "new_data", (2, 3), first_fraction=0.1)
    with pytest.raises(ValueError, match="batch_size=32 is larger than the task's 24 training examples"):
        gym.make(hpenv.ENV_ID, task=stream, **STEP)


def test_the_response_to_the_change_tells_a_rule_that_reads_the_loss_from_a_schedule_that_follows_the_clock():
    """What ``hptune train`` reports on a stream task (``around_change.png``, the response table)."""
    from agents.baselines import LossJumpPolicy, SchedulePolicy
    from agents.evaluation import around_the_change, response_to_the_change, run_episodes

    env = gym.make(hpenv.ENV_ID, task=make_stream(small_task(), "label_noise_onset", (2, 5)), steps_per_action=8,
                   horizon=7)
    rule = run_episodes(env, LossJumpPolicy(env, threshold=0.1, drop_steps=2), range(8))
    clock = run_episodes(env, SchedulePolicy(env, "step"), range(8))
    assert len({r.change_step for r in rule}) >= 3  # changes at several steps: the clock and the change differ
    assert response_to_the_change(rule, "learning_rate") == (1.0, 0.0)  # drops after the jump, never elsewhere
    at_one, same_step = response_to_the_change(clock, "learning_rate")
    assert at_one == same_step > 0  # the step schedule drops at fixed env steps, changes or not
    assert response_to_the_change(rule, "depth") == (0.0, 0.0)
    cells = around_the_change(rule, ["learning_rate"])
    start = cells[0]["learning_rate"]["values"][0]
    assert set(cells[0]["learning_rate"]["values"]) == {start}  # relative step 0: the first step on changed data
    assert max(cells[1]["learning_rate"]["values"]) < start and all(cells[1]["learning_rate"]["changed"])
    still = run_episodes(gym.make(hpenv.ENV_ID, task=small_task(), **STEP), SchedulePolicy(env, "step"), range(2))
    assert around_the_change(still, ["learning_rate"]) == {}  # data that never change: nothing to align on
    assert np.isnan(response_to_the_change(still, "learning_rate")).all()
