"""HPTune-v0: train one child network per episode, choosing its hyper-parameters as you go."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from hpenv import observe
from hpenv.episodes import EpisodeBatch
from hpenv.render import Renderer
from hpenv.spaces import HPSpace
from hpenv.tasks import Task, TaskFamily


class HPTuneEnv(gym.Env):
    """Hyper-parameter control as a reinforcement-learning problem.

    ## Description
    One episode trains one freshly initialised child network on a task. Each step applies a tuple
    of hyper-parameters to the child, trains it for ``steps_per_action`` SGD steps (mini-batches),
    and returns statistics of its state and the change in validation accuracy. The child keeps its
    weights from step to step while the tuple changes, so parameters and hyper-parameters are
    optimised together (Ali, Budka & Gabrys, PRICAI 2019). ``env.unwrapped.child`` is a copy of
    the current child as an ``nn.Module``.

    ## Action Space
    ``MultiDiscrete(hp_space.nvec)``: one index per hyper-parameter. The default space is the
    paper's tuple; ``env.unwrapped.hp_space.decode(action)`` gives the values:

    | index | hyper-parameter | values |
    |-------|-----------------|--------|
    | 0 | ``depth`` (active residual blocks) | 1, 2, 3, 4 |
    | 1 | ``dropout`` | 0, 0.1, 0.2, 0.3, 0.5 |
    | 2 | ``learning_rate`` (log grid) | 0.001, 0.003, 0.01, 0.03, 0.1, 0.3 |
    | 3 | ``momentum`` (Nesterov) | 0, 0.5, 0.9, 0.99 |

    Hyper-parameters a space leaves out take fixed values: depth = ``max_depth``, dropout 0,
    learning rate 0.03, momentum 0.9, weight decay 0, batch size = ``batch_size``.

    ## Observation Space
    ``Box(low, high, (13 + len(hp_space),), float32)`` with finite bounds; values are clipped to
    them. Losses are divided by ``log(num_classes)``, so 1.0 is a uniform guess on every task.

    | index | feature | bounds | meaning |
    |-------|---------|--------|---------|
    | 0 | val_logit_mean | [-50, 50] | mean logit on the validation split |
    | 1 | val_logit_std | [0, 50] | mean std of the logits across classes |
    | 2 | val_max_prob | [0, 1] | mean max softmax probability |
    | 3 | val_entropy | [0, 1] | mean softmax entropy / log(C) |
    | 4 | train_loss_mean | [0, 10] | training loss over the step's SGD steps / log(C) |
    | 5 | train_loss_std | [0, 10] | its std |
    | 6 | train_loss_first | [0, 10] | loss of the first SGD step |
    | 7 | train_loss_last | [0, 10] | loss of the last SGD step |
    | 8 | train_loss_slope | [-10, 10] | least-squares change over the step |
    | 9 | val_accuracy | [0, 1] | validation accuracy |
    | 10 | val_loss | [0, 10] | validation cross-entropy / log(C) |
    | 11 | grad_norm | [0, 10] | log10(1 + gradient norm), last SGD step |
    | 12 | progress | [0, 1] | t / horizon |
    | 13.. | hp_<name> | [0, 1] | index of each hyper-parameter last applied / (choices - 1) |

    ``hpenv.feature_table(hp_space)`` lists the same table in code. At reset the training-loss
    features hold the initial validation loss and the hyper-parameter features are 0.

    ## Rewards
    ``reward="delta_accuracy"`` (default): ``val_accuracy[t] - val_accuracy[t-1]``, so an
    episode's return is final minus initial validation accuracy. Also ``"accuracy"`` and
    ``"delta_loss"`` (see ``hpenv.REWARD_MODES``).

    ## Starting State
    A child initialised from the episode's seed (PyTorch's default uniform initialisation), all
    blocks active, momentum buffers at zero.

    ## Episode End
    Terminated after ``horizon`` steps (the time left is part of the observation), or at once
    when the child diverges (a non-finite loss): then ``info["diverged"]`` is True and the
    reward takes validation accuracy down to chance (``1 / num_classes``). No truncation.

    ## Info
    At every step: ``val_accuracy``, ``val_loss``, ``train_loss`` (mean over the step),
    ``hyperparameters`` (a plain dict of every value applied), ``sgd_steps`` (cumulative in the
    episode), ``diverged``. At the last step also ``test_accuracy``; the test split is used for
    nothing else.

    ## Arguments
    ```python
    gym.make("HPTune-v0", task="digits", child=None, steps_per_action=50, horizon=20,
             hp_space=None, batch_size=32, device="cpu", render_mode=None,
             reward="delta_accuracy", max_depth=4, width=None, task_kwargs=None)
    ```
    * ``task``: a name from ``hpenv.list_tasks()`` (``"synthetic"`` draws a new member of the
      synthetic family every episode; ``"synthetic:N"`` is member N), a ``Task`` or a ``TaskFamily``.
    * ``child``: ``"mlp"`` or ``"cnn"``; by default the task's (CNN for 28x28 / 32x32 images).
    * ``steps_per_action``: SGD steps per env step (the paper: 50 mini-batches).
    * ``horizon``: env steps per episode.
    * ``hp_space``: an ``HPSpace`` or ``{"learning_rate": [...], "batch_size": [...]}``.
    * ``batch_size``: mini-batch size when the space does not set it (the paper: 32).
    * ``device``: ``"cpu"``, ``"cuda"``...; data and weights live there.
    * ``render_mode``: ``"ansi"`` (one line per step) or ``"rgb_array"`` (plot of the episode).
    * ``reward``: a key of ``hpenv.REWARD_MODES``.
    * ``max_depth``, ``width``: residual blocks built and their width (MLP 64, CNN 16 channels).
    * ``task_kwargs``: passed to the task's builder (e.g. ``{"root": "~/data"}`` for ``"mnist"``).
    """

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}

    def __init__(
        self,
        task: str | Task | TaskFamily = "digits",
        child: str | None = None,
        steps_per_action: int = 50,
        horizon: int = 20,
        hp_space: HPSpace | Mapping[str, Sequence] | None = None,
        batch_size: int = 32,
        device: str | torch.device = "cpu",
        render_mode: str | None = None,
        reward: str = "delta_accuracy",
        max_depth: int = 4,
        width: int | None = None,
        task_kwargs: Mapping | None = None,
    ):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or one of {self.metadata['render_modes']}, got {render_mode!r}")
        self.render_mode = render_mode
        self._episodes = EpisodeBatch(
            1, task=task, child=child, steps_per_action=steps_per_action, horizon=horizon,
            hp_space=hp_space, batch_size=batch_size, device=device, reward=reward,
            max_depth=max_depth, width=width, task_kwargs=task_kwargs,
        )
        self.hp_space: HPSpace = self._episodes.hp_space
        self.action_space = self.hp_space.action_space
        low, high = self._episodes.obs_low, self._episodes.obs_high
        self.observation_space = spaces.Box(low, high, dtype=np.float32)
        self.feature_names = [f[0] for f in observe.feature_table(self.hp_space)]
        self._renderer = Renderer(self.hp_space)
        self._needs_reset = True

    @property
    def task(self) -> Task:
        """The task of the current episode."""
        return self._episodes.tasks[0] or self._episodes.task

    @property
    def child(self) -> torch.nn.Module:
        """A copy of the child being trained, as an ``nn.Module`` at its current depth."""
        return self._episodes.child_module(0)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        obs, info = self._episodes.reset([0], [self.np_random])
        self._needs_reset = False
        info = {key: value[0].item() for key, value in info.items()}
        self._renderer.start(info)
        return obs[0], info

    def step(self, action):
        if self._needs_reset:
            raise RuntimeError("call reset() before step(): the episode has ended or not started")
        action = self.hp_space.check_action(action)
        obs, reward, terminated, info = self._episodes.step(action[None], np.ones(1, dtype=bool))
        info = {key: (value[0] if key == "hyperparameters" else value[0].item()) for key, value in info.items()}
        self._needs_reset = bool(terminated[0])
        self._renderer.record(float(reward[0]), info)
        return obs[0], float(reward[0]), bool(terminated[0]), False, info

    def render(self):
        if self.render_mode == "ansi":
            return self._renderer.ansi()
        if self.render_mode == "rgb_array":
            return self._renderer.rgb_array()
        return None
