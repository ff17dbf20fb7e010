"""HPTuneVectorEnv: K HPTune episodes whose children train together in one batched pass."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from gymnasium import spaces
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from hpenv import observe
from hpenv.config import ConfigViews, EnvConfig
from hpenv.episodes import EpisodeBatch
from hpenv.spaces import HPSpace


class HPTuneVectorEnv(ConfigViews, VectorEnv):
    """``num_envs`` copies of [`hpenv.HPTuneEnv`][], batched natively.

    ``gym.make_vec("HPTune-v1", num_envs=K)`` returns this class. Every child has its own
    hyper-parameters (depth and dropout included), initial weights, batches and dropout masks,
    all drawn from its own generator; the K children's SGD steps run as one batched computation
    (see [`hpenv.training`][]). Child ``i`` after ``reset(seed=s)`` gives the same observations
    and rewards as ``HPTuneEnv`` after ``reset(seed=s + i)`` for the same actions, up to float32
    rounding between batched and single matrix products.

    Autoreset, as Gymnasium's own vector envs (``autoreset_mode``, also in ``metadata``):

    * ``NEXT_STEP`` (default): the step after a child's episode ends resets that child (its
      action is ignored, reward 0, info the reset info).
    * ``SAME_STEP``: a child that ends is reset in the same step; its last observation and info
      are in ``info["final_obs"]`` and ``info["final_info"]`` (what Stable-Baselines3 expects).
    * ``DISABLED``: ended children are reset by ``reset(options={"reset_mask": mask})``;
      stepping one before that is an error.

    ``reset(options={"reset_mask": mask})`` resets only the children where ``mask`` is True (in
    every mode); the others keep their episode and their last observation.

    Info: Gymnasium's dict of arrays, every key of ``hpenv.info_keys()`` (the single env's flat
    keys) beside a ``_key`` boolean mask, which is True for every child: each row always holds
    that child's current info (after an autoreset, its reset info).

    With ``relative_actions`` each child moves from its own current grid positions; every reset
    of a child (``reset``, an autoreset, ``reset_mask``) puts it back at ``relative_start``.

    Arguments: ``num_envs``, ``autoreset_mode`` and every keyword argument of
    [`hpenv.HPTuneEnv`][] except ``render_mode`` (render a single env to watch an episode).
    """

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": []}

    def __init__(
        self,
        num_envs: int = 1,
        *,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        render_mode: str | None = None,
        **env_kwargs: Any,
    ):
        try:
            self.autoreset_mode = AutoresetMode(autoreset_mode)
        except ValueError as err:
            raise ValueError(f"autoreset_mode must be one of {[m.value for m in AutoresetMode]}, "
                             f"got {autoreset_mode!r}") from err
        self.metadata = {**self.metadata, "autoreset_mode": self.autoreset_mode}
        if render_mode is not None:
            raise ValueError(f"HPTuneVectorEnv does not render (got render_mode={render_mode!r}); render a single HPTuneEnv")
        self.config = EnvConfig.from_kwargs(env_kwargs)
        self._episodes = EpisodeBatch(num_envs, self.config)
        self.num_envs = num_envs
        self.render_mode = None
        self.hp_space: HPSpace = self._episodes.hp_space
        self.single_action_space = self.hp_space.action_space
        self.single_observation_space = spaces.Box(self._episodes.obs_low, self._episodes.obs_high, dtype=np.float32)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.feature_names = [f[0] for f in observe.feature_table(self.hp_space, self.config.change_features)]
        self._rngs: list[np.random.Generator | None] = [None] * num_envs
        self._ended = np.zeros(num_envs, dtype=bool)  # episodes that ended and await a reset
        self._obs: np.ndarray | None = None  # every child's last observation
        self._all = np.ones(num_envs, dtype=bool)

    @property
    def np_random(self) -> list[np.random.Generator | None]:
        """Each child's generator (Gymnasium's ``np_random``), the source of all its randomness."""
        return list(self._rngs)

    def action_masks(self) -> np.ndarray:
        """Allowed action indices per child, ``(num_envs, sum(nvec))`` (sb3-contrib's MaskablePPO layout)."""
        return np.tile(self.hp_space.action_mask(), (self.num_envs, 1))

    @property
    def family(self):
        """The child family (architecture) all children share."""
        return self._episodes.family

    @property
    def tasks(self) -> list:
        """The task of each child's current episode."""
        return [t or self._episodes.task for t in self._episodes.tasks]

    def child(self, index: int) -> torch.nn.Module:
        """A copy of child ``index`` as an ``nn.Module`` at its current depth."""
        return self._episodes.child_module(index)

    def copy_child(self, src: int, dst: int) -> None:
        """Child ``dst`` continues as an exact copy of child ``src``'s current state.

        Weights, momentum buffers, active depth, episode progress, info and last observation
        are copied; ``dst`` keeps its own random generator (batch order, dropout masks). This is
        the *exploit* step of population-based training (see [`agents.search.pbt`][]). A
        ``dst`` whose episode had ended (e.g. it diverged) resumes ``src``'s episode instead of
        being reset.
        """
        if self._obs is None:
            raise RuntimeError("call reset() before copy_child()")
        for name, k in (("src", src), ("dst", dst)):
            if not 0 <= int(k) < self.num_envs:
                raise ValueError(f"{name} must be a child index in [0, {self.num_envs}), got {k!r}")
        self._episodes.copy_child(int(src), int(dst))
        self._ended[dst] = self._ended[src]
        self._obs[dst] = self._obs[src]

    def reset(self, *, seed: int | Sequence[int | None] | None = None, options: dict[str, Any] | None = None):
        mask = self._reset_mask(options)
        if seed is None:
            seeds = [None] * self.num_envs
        elif isinstance(seed, (int, np.integer)):
            seeds = [int(seed) + i for i in range(self.num_envs)]
        else:
            seeds = list(seed)
            if len(seeds) != self.num_envs:
                raise ValueError(f"seed must be an int, None or a list of {self.num_envs} seeds, got {len(seeds)} seeds")
        if self._obs is None and not mask.all():
            raise RuntimeError("the first reset() must reset every child (no reset_mask)")
        children = np.flatnonzero(mask).tolist()
        for i in children:
            if seeds[i] is not None or self._rngs[i] is None:
                self._rngs[i], _ = seeding.np_random(seeds[i])
        obs = self._episodes.reset(children, [self._rngs[k] for k in children])
        self._obs = obs if self._obs is None else np.where(mask[:, None], obs, self._obs)
        self._ended[mask] = False
        return self._obs.copy(), self._with_masks(self._episodes.info_rows(slice(None)), mask)

    def step(self, actions):
        if self._obs is None:
            raise RuntimeError("call reset() before step()")
        actions = self.hp_space.check_action(actions, "actions", num_envs=self.num_envs)
        K = self.num_envs
        if self.autoreset_mode == AutoresetMode.DISABLED and self._ended.any():
            raise RuntimeError(
                f"children {np.flatnonzero(self._ended).tolist()} have ended their episodes; with "
                "autoreset_mode=DISABLED reset them first: reset(options={'reset_mask': mask})")
        resetting = self._ended.copy() if self.autoreset_mode == AutoresetMode.NEXT_STEP else np.zeros(K, bool)
        active = ~resetting
        rewards, terminated = np.zeros(K), np.zeros(K, dtype=bool)
        if active.any():
            obs, rewards, terminated = self._episodes.step(actions, active)
            self._obs = np.where(active[:, None], obs, self._obs)
        info = {}
        if self.autoreset_mode == AutoresetMode.SAME_STEP and terminated.any():
            info["final_obs"] = np.where(terminated[:, None], self._obs, 0.0).astype(np.float32)
            info["_final_obs"] = terminated.copy()
            info["final_info"] = self._with_masks(self._episodes.info_rows(slice(None)), terminated)
            info["_final_info"] = terminated.copy()
            resetting = terminated
        if resetting.any():
            children = np.flatnonzero(resetting).tolist()
            obs = self._episodes.reset(children, [self._rngs[k] for k in children])
            self._obs = np.where(resetting[:, None], obs, self._obs)
        self._ended = terminated & (self.autoreset_mode != AutoresetMode.SAME_STEP)
        info.update(self._with_masks(self._episodes.info_rows(slice(None)), self._all))
        return self._obs.copy(), rewards.astype(np.float64), terminated, np.zeros(K, dtype=bool), info

    def _reset_mask(self, options: dict[str, Any] | None) -> np.ndarray:
        """``options["reset_mask"]``, checked as Gymnasium's vector envs check it, or all True."""
        if not options or "reset_mask" not in options:
            return self._all.copy()
        mask = options["reset_mask"]
        if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_ or mask.shape != (self.num_envs,):
            raise ValueError(f"options['reset_mask'] must be a numpy bool array of shape ({self.num_envs},), "
                             f"got {mask!r}")
        if not mask.any():
            raise ValueError(f"options['reset_mask'] must have at least one True value, got {mask!r}")
        return mask.copy()

    @staticmethod
    def _with_masks(info: dict[str, np.ndarray], mask: np.ndarray) -> dict:
        """Gymnasium's vector info layout: every key beside a ``_key`` boolean mask."""
        out: dict = {}
        for key, value in info.items():
            out[key], out[f"_{key}"] = value, mask.copy()
        return out
