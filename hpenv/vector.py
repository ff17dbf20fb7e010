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
from hpenv.episodes import EpisodeBatch
from hpenv.spaces import HPSpace


class HPTuneVectorEnv(VectorEnv):
    """``num_envs`` copies of :class:`hpenv.HPTuneEnv`, batched natively.

    ``gym.make_vec("HPTune-v0", num_envs=K)`` returns this class. Every child has its own
    hyper-parameters (depth and dropout included), initial weights, batches and dropout masks,
    all drawn from its own generator; the K children's SGD steps run as one batched computation
    (see :mod:`hpenv.training`). Child ``i`` after ``reset(seed=s)`` gives the same observations
    and rewards as ``HPTuneEnv`` after ``reset(seed=s + i)`` for the same actions, up to float32
    rounding between batched and single matrix products.

    Autoreset: by default ``AutoresetMode.NEXT_STEP``, as Gymnasium's own vector envs: the step
    after a child's episode ends resets that child (its action is ignored, reward 0). With
    ``autoreset_mode=AutoresetMode.SAME_STEP`` a child that ends is reset in the same step, its
    last observation in ``info["final_obs"]`` (what Stable-Baselines3 expects). Info is a dict of
    arrays with ``_key`` masks; ``hyperparameters`` is a dict of arrays, one per name.

    Arguments: ``num_envs``, ``autoreset_mode`` and every keyword argument of
    :class:`hpenv.HPTuneEnv` except ``render_mode`` (render a single env to watch an episode).
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
            autoreset_mode = AutoresetMode(autoreset_mode)
        except ValueError as err:
            raise ValueError(f"autoreset_mode must be NEXT_STEP or SAME_STEP, got {autoreset_mode!r}") from err
        if autoreset_mode not in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP):
            raise ValueError(f"autoreset_mode must be NEXT_STEP or SAME_STEP, got {autoreset_mode!r}")
        self.metadata = {**self.metadata, "autoreset_mode": autoreset_mode}
        if render_mode is not None:
            raise ValueError(f"HPTuneVectorEnv does not render (got render_mode={render_mode!r}); render a single HPTuneEnv")
        self._episodes = EpisodeBatch(num_envs, **env_kwargs)
        self.num_envs = num_envs
        self.render_mode = None
        self.hp_space: HPSpace = self._episodes.hp_space
        self.single_action_space = self.hp_space.action_space
        self.single_observation_space = spaces.Box(self._episodes.obs_low, self._episodes.obs_high, dtype=np.float32)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.feature_names = [f[0] for f in observe.feature_table(self.hp_space)]
        self._rngs: list[np.random.Generator | None] = [None] * num_envs
        self._autoreset = np.zeros(num_envs, dtype=bool)
        self._started = False

    @property
    def np_random(self) -> list[np.random.Generator | None]:
        """Each child's generator (Gymnasium's ``np_random``), the source of all its randomness."""
        return list(self._rngs)

    def child(self, index: int) -> torch.nn.Module:
        """A copy of child ``index`` as an ``nn.Module`` at its current depth."""
        return self._episodes.child_module(index)

    def copy_child(self, src: int, dst: int) -> None:
        """Child ``dst`` continues as an exact copy of child ``src``'s current state.

        Weights, momentum buffers, active depth, episode progress, last validation accuracy and
        loss and the hyper-parameters applied are copied; ``dst`` keeps its own random generator
        (batch order, dropout masks). This is the *exploit* step of population-based training
        (see :func:`agents.search.pbt`). A ``dst`` whose episode had ended (e.g. it diverged)
        resumes ``src``'s episode instead of being reset at the next step.
        """
        if not self._started:
            raise RuntimeError("call reset() before copy_child()")
        for name, k in (("src", src), ("dst", dst)):
            if not 0 <= int(k) < self.num_envs:
                raise ValueError(f"{name} must be a child index in [0, {self.num_envs}), got {k!r}")
        self._episodes.copy_child(int(src), int(dst))
        self._autoreset[dst] = self._autoreset[src]

    def reset(self, *, seed: int | Sequence[int | None] | None = None, options: dict[str, Any] | None = None):
        if seed is None:
            seeds = [None] * self.num_envs
        elif isinstance(seed, (int, np.integer)):
            seeds = [int(seed) + i for i in range(self.num_envs)]
        else:
            seeds = list(seed)
            if len(seeds) != self.num_envs:
                raise ValueError(f"seed must be an int, None or a list of {self.num_envs} seeds, got {len(seeds)} seeds")
        for i, s in enumerate(seeds):
            if s is not None or self._rngs[i] is None:
                self._rngs[i], _ = seeding.np_random(s)
        obs, info = self._episodes.reset(range(self.num_envs), self._rngs)
        self._autoreset[:] = False
        self._started = True
        return obs, self._with_masks(info, {})

    def step(self, actions):
        if not self._started:
            raise RuntimeError("call reset() before step()")
        actions = self.hp_space.check_action(actions, "actions", num_envs=self.num_envs)
        resetting = self._autoreset.copy()
        active = ~resetting
        K = self.num_envs
        rewards = np.zeros(K)
        terminated = np.zeros(K, dtype=bool)
        info: dict = {}
        if active.any():
            obs, rewards, terminated, info = self._episodes.step(actions, active)
        masks = {"train_loss": active, "diverged": active, "hyperparameters": active,
                 "test_accuracy": terminated}
        if self.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP and terminated.any():
            info["final_obs"] = obs.copy()
            masks["final_obs"] = terminated
            resetting = terminated
        if resetting.any():
            children = np.flatnonzero(resetting).tolist()
            reset_obs, reset_info = self._episodes.reset(children, [self._rngs[k] for k in children])
            obs = np.where(resetting[:, None], reset_obs, obs) if active.any() else reset_obs
            if self.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP:
                info.update(reset_info)
        if self.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP:
            self._autoreset = terminated.copy()
        return obs, rewards.astype(np.float64), terminated, np.zeros(K, dtype=bool), self._with_masks(info, masks)

    def _with_masks(self, info: dict, masks: dict[str, np.ndarray]) -> dict:
        """Gymnasium's vector info layout: every key beside a ``_key`` boolean mask."""
        full = np.ones(self.num_envs, dtype=bool)
        out: dict = {}
        for key, value in info.items():
            mask = masks.get(key, full)
            if key == "hyperparameters":
                names = list(self._episodes.defaults)
                value = {name: np.array([hp.get(name, 0) for hp in value]) for name in names}
                value.update({f"_{name}": mask for name in names})
            out[key], out[f"_{key}"] = value, mask
        return out
