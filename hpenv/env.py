"""HPTune-v1: train one child network per episode, choosing its hyper-parameters as you go."""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.envs.registration import EnvSpec

from hpenv import observe
from hpenv.config import ConfigViews, EnvConfig
from hpenv.episodes import EpisodeBatch
from hpenv.render import Renderer
from hpenv.spaces import HPSpace
from hpenv.tasks import Task


class HPTuneEnv(ConfigViews, gym.Env):
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
    learning rate 0.03, momentum 0.9, weight decay 0, batch size = ``batch_size``
    (``env.unwrapped.config.fixed_values``).

    Relative actions: ``relative_actions={"learning_rate": 1}`` makes that dimension a move of
    ``-k..+k`` grid positions from the current value instead of a grid index: ``2k + 1`` choices,
    index ``k`` keeps the value, moves past the ends of the grid are clipped. With the default
    learning-rate grid (ratio ~3 per position) ``k=1`` gives x1/3, x1 and x3; the action space
    becomes ``MultiDiscrete([4, 5, 3, 4])``. Every episode starts a relative hyper-parameter from
    its fixed value above (the nearest grid value), or from ``relative_start={"learning_rate":
    0.01}``. Its ``hp_<name>`` observation feature shows the current grid position from reset on,
    and ``info["hp_<name>"]`` the value applied. ``env.unwrapped.hp_space`` carries the option
    (``relative_actions``, ``relative_start``, ``apply``); ``decode`` reads absolute actions only.

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
    | 13.. | hp_<name> | [0, 1] | grid position of each hyper-parameter last applied / (grid size - 1); a relative one's current position |
    | then | train_loss_jump | [-1, 10] | with ``change_features=True`` only: train_loss_mean / the previous step's - 1 (0 at reset) |
    | then | train_val_gap | [-10, 10] | with ``change_features=True`` only: val_loss - train_loss_mean |

    ``hpenv.feature_table(hp_space)`` lists the same table in code and ``hpenv.feature_index(name)``
    gives a column by name (``obs[hpenv.feature_index("progress")]``). At reset the training-loss
    features hold the initial validation loss and the hyper-parameter features are 0, except
    those of relative hyper-parameters, which show their start position.

    ## Rewards
    ``reward="delta_accuracy"`` (default): ``val_accuracy[t] - val_accuracy[t-1]``, so an
    episode's return is final minus initial validation accuracy. Also ``"accuracy"`` and
    ``"delta_loss"`` (see ``hpenv.REWARD_MODES``). A diverged step is scored as validation
    accuracy 0 and the capped maximum loss, so diverging never pays more than any other step could.

    ## Starting State
    A child initialised from the episode's seed (PyTorch's default uniform initialisation), all
    blocks active (with a relative depth: its start depth), momentum buffers at zero.

    ## Streams
    A [`hpenv.StreamTask`][] trains on phase 0's data, then on phase 1's from an env step drawn
    uniformly from its window by the episode's seed mixed with the stream's data (after the seed of the
    child's weights, so a plain task's episodes are unchanged; two streams change at different steps for one
    seed), and so on. Kinds: label-noise onset, classes arriving
    with or without replay, drift of the inputs' scale, new data arriving (``hpenv.STREAM_KINDS``).
    The observation stays as it is: a controller reads the change from the child's state (the
    training loss jumps); ``info["phase"]`` names the phase for analysis. A window that ends after
    the horizon, or a phase without examples, is refused.

    ## Episode End
    Terminated after ``horizon`` steps (the time left is part of the observation), or at once
    when the child diverges (a non-finite loss): then ``info["diverged"]`` is True. No
    truncation. ``spec.max_episode_steps`` is ``horizon``, for wrappers that read it
    (``TimeAwareObservation``); a ``TimeLimit`` that ``gym.make(env.spec)`` adds fires on the
    same step as the termination.

    ## Info
    Flat, and the same keys at reset and at every step (``hpenv.info_keys()``):

    | key | meaning |
    |-----|---------|
    | ``val_accuracy`` | validation accuracy (0 for a diverged child) |
    | ``val_loss`` | validation cross-entropy (inf for a diverged child) |
    | ``train_loss`` | mean training loss over the step (-1 at reset, inf when diverged) |
    | ``sgd_steps`` | child SGD steps so far in the episode |
    | ``diverged`` | the loss became non-finite at this step |
    | ``test_accuracy`` | test accuracy of the final child at the last step (1 / num_classes if it diverged); -1 before. The test split is used for nothing else. |
    | ``phase`` | for a stream task, the phase whose training data the step trained on (0 at reset); -1 for a task without phases. For analysis only: the observation does not name the phase, and a method under test must not read it |
    | ``hp_<name>`` | each hyper-parameter's value applied at this step (``hp_depth``, ``hp_dropout``, ``hp_learning_rate``, ``hp_momentum``, ``hp_weight_decay``, ``hp_batch_size``; for a relative action, the value it moved to), -1 at reset; ``hpenv.hyperparameters_from_info(info)`` gives them as a dict |

    Values not defined yet are -1, never NaN, so that infos compare with ``==`` (Gymnasium's
    determinism checks do).

    ## Arguments
    ```python
    gym.make("HPTune-v1", task="digits", child=None, steps_per_action=50, horizon=20,
             hp_space=None, batch_size=32, device="cpu", render_mode=None,
             reward="delta_accuracy", max_depth=4, width=None, task_kwargs=None,
             relative_actions=None, relative_start=None, change_features=False)
    ```
    Every argument but ``render_mode`` is a field of [`hpenv.EnvConfig`][] (the one source of
    their defaults), readable afterwards as ``env.unwrapped.config``:

    * ``task``: a name from ``hpenv.list_tasks()`` (``"synthetic"`` draws a new member of the
      synthetic family every episode; ``"synthetic:N"`` is member N), a ``Task``, a ``TaskFamily``
      or a stream (``hpenv.StreamTask``, ``hpenv.make_stream(task, kind, window)``): a task whose
      training data change from an env step drawn from each episode's seed and the stream's data (see Streams).
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
    * ``relative_actions``: ``{name: k}``, relative moves of ``-k..+k`` grid positions for those
      hyper-parameters (``1 <= k < len(grid)``); see Action Space.
    * ``relative_start``: ``{name: value}``, the grid value a relative hyper-parameter starts
      each episode from (default: its fixed value, or the grid value nearest to it).
    * ``change_features``: append ``train_loss_jump`` and ``train_val_gap`` to the observation (see the
      table): a change of the training data shows at once. Off by default: the observation stays as it was.

    ## Version History
    * v1, since hpenv 0.2.0: the info key ``phase`` (-1 for a task without phases), stream tasks
      (``hpenv.StreamTask``) and the opt-in ``change_features``; every other task's episodes and every
      observation without ``change_features`` are unchanged.
    * v1: flat info with the same keys at every step (``hp_<name>`` instead of a nested
      ``hyperparameters`` dict; ``test_accuracy`` -1 before the last step); a diverged step
      counts as accuracy 0 (was chance) and, with ``delta_loss``, as the capped maximum loss (v0
      paid divergence); ``spec.max_episode_steps = horizon``; envs pickle exactly.
    * v0: initial release.
    """

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}

    def __init__(self, *, render_mode: str | None = None, **kwargs: Any):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or one of {self.metadata['render_modes']}, got {render_mode!r}")
        self.render_mode = render_mode
        self.config = EnvConfig.from_kwargs(kwargs)
        self._episodes = EpisodeBatch(1, self.config)
        self.hp_space: HPSpace = self._episodes.hp_space
        self.action_space = self.hp_space.action_space
        self.observation_space = spaces.Box(self._episodes.obs_low, self._episodes.obs_high, dtype=np.float32)
        self.feature_names = [f[0] for f in observe.feature_table(self.hp_space, self.config.change_features)]
        self._renderer = Renderer(self.hp_space)
        self._needs_reset = True
        self._spec: EnvSpec | None = None

    @property
    def spec(self) -> EnvSpec | None:
        """The spec ``gym.make`` set, with ``max_episode_steps = horizon`` (the horizon is an argument)."""
        return self._spec

    @spec.setter
    def spec(self, value: EnvSpec | None) -> None:
        if value is not None and value.max_episode_steps != self.config.horizon:
            value = dataclasses.replace(value, max_episode_steps=self.config.horizon)
        self._spec = value

    @property
    def task(self) -> Task:
        """The task of the current episode."""
        return self._episodes.tasks[0] or self._episodes.task

    @property
    def family(self):
        """The child family (architecture): [`hpenv.children.MLPFamily`][] or ``CNNFamily``."""
        return self._episodes.family

    @property
    def child(self) -> torch.nn.Module:
        """A copy of the child being trained, as an ``nn.Module`` at its current depth."""
        return self._episodes.child_module(0)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        obs = self._episodes.reset([0], [self.np_random])
        self._needs_reset = False
        info = self._info()
        self._renderer.start(info)
        return obs[0], info

    def step(self, action):
        if self._needs_reset:
            raise RuntimeError("call reset() before step(): the episode has ended or not started")
        action = self.hp_space.check_action(action)
        obs, reward, terminated = self._episodes.step(action[None], np.ones(1, dtype=bool))
        info = self._info()
        self._needs_reset = bool(terminated[0])
        self._renderer.record(float(reward[0]), info)
        return obs[0], float(reward[0]), bool(terminated[0]), False, info

    def child_state(self) -> dict[str, torch.Tensor]:
        """The child and its episode as a dict of CPU tensors: weights, momentum buffers, depth,
        random generator, place in its epoch, progress and info. Save it with ``torch.save`` and
        read it with ``torch.load(..., weights_only=True)`` (no pickled objects), e.g. as a
        population-based-training checkpoint."""
        if self._needs_reset:
            raise RuntimeError("call reset() before child_state(): the episode has ended or not started")
        return self._episodes.child_state(0)

    def load_child_state(self, state: dict[str, torch.Tensor]) -> None:
        """Continue the episode exactly from a [`child_state`][hpenv.env.HPTuneEnv.child_state] of an env with
        the same arguments: the same actions then give the same observations, rewards and info."""
        if self._needs_reset:
            raise RuntimeError("call reset() before load_child_state(): it sets up the task and data")
        self._episodes.load_child_state(0, state)

    def action_masks(self) -> np.ndarray:
        """Allowed action indices, flat over the hyper-parameters (for sb3-contrib's MaskablePPO).

        ``sum(action_space.nvec)`` entries, all True: a relative move past the end of the grid is
        clipped, not refused."""
        return self.hp_space.action_mask()

    def _info(self) -> dict[str, Any]:
        return {key: value[0].item() for key, value in self._episodes.info.items()}

    def render(self):
        if self.render_mode == "ansi":
            return self._renderer.ansi()
        if self.render_mode == "rgb_array":
            return self._renderer.rgb_array()
        return None


# The arguments come from EnvConfig; give __init__ their real signature for help() and IDEs.
HPTuneEnv.__init__.__signature__ = inspect.Signature([
    inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD),
    inspect.Parameter("render_mode", inspect.Parameter.KEYWORD_ONLY, default=None),
    *(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default)
      for f in dataclasses.fields(EnvConfig)),
])
