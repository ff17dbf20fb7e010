"""The settings of [`agents.reinforce.RecurrentReinforce`][]: one dataclass, checked once.

The command line and the benchmark build their options from it; checkpoints store it as a dict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from numbers import Integral

__all__ = ["RecurrentReinforceConfig", "BASELINES", "LATER_FIELDS", "settings_as_filed"]

BASELINES = ("moving_average", "value", "leave_one_out")
"""The values [`RecurrentReinforceConfig.baseline`][agents.reinforce_config.RecurrentReinforceConfig.baseline]
takes."""


LATER_FIELDS = {"update_epochs": 1, "clip_range": 0.2, "switch_cost": 0.0, "switch_cost_on": "depth"}
"""Fields added after benchmark v2 filed RecurrentReinforce's settings (2026-12-02), each with the value that
leaves the agent as it was then (one REINFORCE step per batch, no cost on switching)."""


def settings_as_filed(settings: dict) -> dict:
    """A config's dict (``dataclasses.asdict``) without the `LATER_FIELDS` that hold their old-behaviour
    values: what a method's identity filed before they existed hashes (benchmark v2's ledger)."""
    return {k: v for k, v in settings.items() if not (k in LATER_FIELDS and v == LATER_FIELDS[k])}


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------


@dataclass
class RecurrentReinforceConfig:
    """Hyper-parameters of [`RecurrentReinforce`][agents.reinforce.RecurrentReinforce] (pass them as keyword
    arguments).

    The fields with a ``help`` in their metadata are ``hptune train``'s options for this agent
    ([`agents.options`][] generates them).

    Raises:
        ValueError: On a value out of range or a combination that cannot work (see each field).
    """

    hidden_size: int = 64
    """Number of units of the single-layer LSTM."""
    learning_rate: float = field(default=1e-2, metadata={
        "help": "Adam learning rate of RecurrentReinforce (SB3 agents keep their library defaults)."})
    """Adam step size (tuned on HPTune digits: 3e-3 left the policy far from converged after
    512 episodes)."""
    gamma: float = 1.0
    """Discount factor of the returns-to-go within an episode (1.0: undiscounted)."""
    ent_coef: float = field(default=0.05, metadata={
        "help": "Entropy bonus weight at the start (decayed linearly to ent_coef_final over the run's updates)."})
    """Weight of the entropy bonus (entropy summed over action dimensions)."""
    ent_coef_final: float | None = field(default=None, metadata={
        "help": "Entropy bonus weight at the end of training."})
    """If set, ``ent_coef`` decays linearly to this value over ``ent_decay_updates`` updates."""
    ent_decay_updates: int | None = None
    """Length of that decay in updates, counted over the agent's life (resuming continues it)."""
    baseline: str = field(default="moving_average", metadata={
        "help": "leave_one_out (the other episodes of the group), moving_average or value."})
    """What the returns are compared with: ``"moving_average"`` (a per-time-step moving average
    of returns), ``"value"`` (a value head on the LSTM) or ``"leave_one_out"`` (the mean return
    of the other episodes of the same group at the same time-step; needs ``group_size >= 2``,
    see [`leave_one_out_advantages`][agents.advantages.leave_one_out_advantages]).
    [`RecurrentReinforce.learn_online`][agents.online.OnlineLearning.learn_online] plays one long episode,
    which has no group: there ``"leave_one_out"`` falls back to the online moving average."""
    baseline_decay: float = 0.9
    """Weight the moving-average baseline keeps on its old value at each update."""
    vf_coef: float = 0.5
    """Weight of the value head's squared-error loss (``baseline="value"`` only)."""
    max_grad_norm: float = 1.0
    """Gradients are clipped to this global L2 norm before each Adam step."""
    update_epochs: int = field(default=1, metadata={
        "help": "Adam steps on each batch of episodes: 1 is REINFORCE; more reuse it with PPO's clipped ratio."})
    """Gradient steps taken on each batch of episodes. 1 (the default) is REINFORCE: one step on episodes
    the current policy played. More reuse the batch with PPO's clipped surrogate (Schulman et al., 2017):
    each step's policy term is ``min(r A, clip(r, 1 - clip_range, 1 + clip_range) A)`` with ``r`` the ratio of
    the action's probability under the current policy to the one it was sampled with, so later steps on the
    same episodes stop pushing an action once its probability moved ``clip_range`` away. The advantages are
    computed once per batch."""
    clip_range: float = field(default=0.2, metadata={
        "help": "With --update-epochs > 1: PPO's clipping of the probability ratio."})
    """How far the probability ratio may move before a step's policy term stops pushing it
    (``update_epochs > 1`` only)."""
    switch_cost: float = field(default=0.0, metadata={
        "help": "Reward taken off each step whose action changes --switch-cost-on from the step before."})
    """Reward shaping against pointless switching: each step whose action picks another value of
    ``switch_cost_on`` than the step before loses this much reward while learning (0, the default: none). The
    env's reward and every reported accuracy are untouched; the first action of an episode (in the online mode:
    of each window) is free. In the units of the env's reward (HPTune: validation accuracy as a fraction, so
    0.01 is one point)."""
    switch_cost_on: str = field(default="depth", metadata={
        "help": "With --switch-cost: the hyper-parameter whose changes it charges."})
    """The hyper-parameter ``switch_cost`` charges: a name of the env's ``hp_space`` with an absolute action
    (a relative one's action is already a move)."""
    episodes_per_update: int = 8
    """Whole episodes per update (rounded up to a multiple of ``num_envs`` for a VectorEnv);
    a multiple of ``group_size``."""
    group_size: int = field(default=1, metadata={
        "help": "Episodes of an update that share a reset seed (member and initial child)."})
    """The episodes of an update come in groups of this many consecutive episodes that share one
    reset seed (on HPTune: the same task member and the same initial child) while their actions
    are sampled independently, so that comparing them (``baseline="leave_one_out"``) isolates
    the effect of the actions. A VectorEnv's ``num_envs`` (and the runners') must be a multiple
    of it, so a group never spans two chunks; a plain Env plays a group's episodes one after
    another."""
    normalize_observations: bool = True
    """Normalise observations by a running mean/std, updated while learning, frozen in predict."""
    obs_clip: float = 10.0
    """Normalised observations are clipped to ``[-obs_clip, obs_clip]``."""
    normalize_advantages: bool = True
    """Standardise the advantages of each batch to zero mean and unit variance (leave-one-out
    advantages, already centred, are only divided by their root mean square)."""
    reward_input: bool = True
    """Feed the previous reward to the LSTM (the paper's design). Without it the policy needs no
    reward to act, so [`RecurrentReinforce.predict`][agents.policy.RecurrentActor.predict] works on any env
    with exactly Stable-Baselines3's arguments (another way: [`agents.wrappers.PreviousReward`][])."""
    seed: int | None = None
    """Seed of the agent's own random generators (None: fresh entropy from the OS)."""
    device: str = "cpu"
    """Torch device of the network."""

    def __post_init__(self) -> None:
        if self.baseline not in BASELINES:
            raise ValueError(f"baseline must be one of {BASELINES}, got {self.baseline!r}")
        if self.hidden_size < 1 or self.episodes_per_update < 1:
            raise ValueError("hidden_size and episodes_per_update must be positive")
        if isinstance(self.group_size, bool) or not isinstance(self.group_size, Integral) \
                or self.group_size < 1:
            raise ValueError(f"group_size must be an integer >= 1, got {self.group_size!r}")
        if self.episodes_per_update % self.group_size:
            raise ValueError(
                f"episodes_per_update={self.episodes_per_update} must be a multiple of "
                f"group_size={self.group_size}: every update plays whole groups"
            )
        if self.baseline == "leave_one_out" and self.group_size < 2:
            raise ValueError(
                f"baseline='leave_one_out' needs group_size >= 2 (each episode is compared with "
                f"the others of its group), got group_size={self.group_size}"
            )
        if not isinstance(self.reward_input, bool):
            raise ValueError(f"reward_input must be True or False, got {self.reward_input!r}")
        if not 0.0 <= self.gamma <= 1.0:
            raise ValueError(f"gamma must lie in [0, 1], got {self.gamma}")
        if not 0.0 <= self.baseline_decay < 1.0:
            raise ValueError(f"baseline_decay must lie in [0, 1), got {self.baseline_decay}")
        if (self.ent_coef_final is None) != (self.ent_decay_updates is None):
            raise ValueError("set both ent_coef_final and ent_decay_updates, or neither")
        if self.ent_decay_updates is not None and self.ent_decay_updates < 1:
            raise ValueError("ent_decay_updates must be positive")
        if isinstance(self.update_epochs, bool) or not isinstance(self.update_epochs, Integral) \
                or self.update_epochs < 1:
            raise ValueError(f"update_epochs must be an integer >= 1 (1: REINFORCE), got {self.update_epochs!r}")
        if not 0.0 < self.clip_range < 1.0:
            raise ValueError(f"clip_range must lie in (0, 1), got {self.clip_range!r}")
        if not 0.0 <= self.switch_cost < float("inf"):
            raise ValueError(f"switch_cost must be a finite number >= 0 (0: no cost), got {self.switch_cost!r}")
        if not isinstance(self.switch_cost_on, str) or not self.switch_cost_on:
            raise ValueError(f"switch_cost_on must name a hyper-parameter, got {self.switch_cost_on!r}")

    def ent_coef_at(self, num_updates: int) -> float:
        """Entropy weight to use for the update that follows ``num_updates`` earlier updates."""
        if self.ent_coef_final is None or self.ent_decay_updates is None:
            return self.ent_coef
        progress = min(1.0, num_updates / self.ent_decay_updates)
        return self.ent_coef + progress * (self.ent_coef_final - self.ent_coef)

