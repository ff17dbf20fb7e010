"""The agents ``hptune train`` trains, each registered by name with its settings dataclass.

A trainer is built as ``trainer(cfg, checkpoint, resume, env)`` and builds its agent there, loading
the checkpoint when resuming, before the run folder exists, so that a bad option or checkpoint fails
with nothing written; ``learn(run, progress)`` trains, writing the checkpoint and ``metrics.csv``
after every update. Adding an agent is one [`agents.options.register_agent`][] call; importing [`agents.cli`][]
registers these.
"""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym

import hpenv
from agents.checkpoint import hp_space_of
from agents.cli.config import TrainConfig
from agents.cli.run_folder import RunFolder
from agents.options import SB3Settings, check_reinforce, derive_reinforce, register_agent, reinforce_settings
from agents.reinforce import RecurrentReinforceConfig
from agents.sb3 import POLICY_NAMES, SB3Policy, load_sb3, restore_sb3, save_sb3, sb3_model, train_sb3

__all__ = ["ReinforceTrainer", "SB3Trainer", "SB3_AGENTS", "ZIP_REFUSED"]

#: The Stable-Baselines3 algorithms ``--agent`` takes.
SB3_AGENTS = tuple(POLICY_NAMES)


class ReinforceTrainer:
    """RecurrentReinforce on the native vector env; checkpoints/last.pt after every update."""

    label = "RecurrentReinforce"

    def __init__(self, cfg: TrainConfig, ckpt: Path, resume: bool, env: gym.Env):
        from agents.reinforce import RecurrentReinforce

        self.cfg, self.ckpt = cfg, ckpt
        venv = gym.make_vec(hpenv.ENV_ID, num_envs=cfg.num_envs, **cfg.env_kwargs(), **cfg.action_kwargs())
        if resume and ckpt.exists():
            self.agent = RecurrentReinforce.load(ckpt, env=venv)
            print(f"resumed from {ckpt} at episode {self.agent.num_episodes}")
        else:
            self.agent = RecurrentReinforce(venv, config=cfg.settings)

    @property
    def episodes_done(self) -> int:
        return self.agent.num_episodes

    def learn(self, run: RunFolder, progress: bool):
        agent = self.agent

        def on_update(agent, metrics):
            agent.save(self.ckpt)  # atomic: a kill leaves the previous or the new checkpoint, never half of one
            run.write_metrics(agent.history)

        remaining = self.cfg.episodes - agent.num_episodes
        if remaining > 0:
            with self._runners() as runners:
                agent.learn(remaining, progress_bar=progress, callback=on_update, runners=runners)
        run.write_metrics(agent.history)
        return agent, agent.history

    def _runners(self):
        """Where the episodes are played: chunks on Ray runners, or the same chunks in this process
        ([`agents.local_runners.LocalRunners`][]; a v3 suite's in one vector env per group of its train members).
        So ``--runners 0`` gives the run that any count of runners gives, with or without the ray extra."""
        cfg = self.cfg
        members = hpenv.instance_set(cfg.task, "train") if cfg.is_v3 else None
        kwargs = {**(cfg.member_kwargs() if cfg.is_v3 else cfg.env_kwargs()), **cfg.action_kwargs()}
        if not cfg.runners:
            from agents.local_runners import LocalRunners

            return LocalRunners(kwargs, cfg.runner_envs, members=members)
        from agents.distributed import RayRunners

        # the children of a runner with a GPU share train on it; the learner stays on cfg.device
        kwargs = {**kwargs, "device": "cuda" if cfg.gpus_per_runner else cfg.device}
        return RayRunners(kwargs, cfg.runners, cfg.runner_envs, address=cfg.ray_address or None,
                          cpus_per_runner=cfg.cpus_per_runner, gpus_per_runner=cfg.gpus_per_runner, members=members)


class SB3Trainer:
    """A Stable-Baselines3 algorithm on the native vector env; checkpoints/last.pt after every update.

    The checkpoint is plain data (see [`agents.sb3.save_sb3`][]), never SB3's pickled .zip.
    """

    def __init__(self, cfg: TrainConfig, ckpt: Path, resume: bool, env: gym.Env):
        from stable_baselines3.common.vec_env import VecMonitor

        from hpenv.wrappers import SB3VecEnv

        self.cfg, self.ckpt, self.hp_space, self.label = cfg, ckpt, hp_space_of(env), cfg.agent
        if resume and not ckpt.exists() and (ckpt.parent / "last.zip").exists():
            raise ValueError(ZIP_REFUSED.format(ckpt.parent / "last.zip"))
        venv = VecMonitor(SB3VecEnv(num_envs=cfg.num_envs, **cfg.env_kwargs()))
        self.model = sb3_model(cfg.agent, venv, cfg.settings, horizon=cfg.horizon, seed=cfg.seed, device=cfg.device)
        self.history: list[dict] = []
        if resume and ckpt.exists():
            payload = load_sb3(ckpt, env)
            if payload["algorithm"] != cfg.agent:
                raise ValueError(f"{ckpt} holds a {payload['algorithm']} model, but the run's agent is {cfg.agent}")
            restore_sb3(self.model, payload, ckpt)
            self.history = payload["history"]
            # new seeds for the episodes after the resume, not the first rollout's over again
            self.model.set_random_seed(cfg.seed + self.model.num_timesteps)
            print(f"resumed from {ckpt} at step {self.model.num_timesteps}")

    @property
    def episodes_done(self) -> int:
        return self.model.num_timesteps // self.cfg.horizon

    def learn(self, run: RunFolder, progress: bool):
        def save(model, history) -> None:
            save_sb3(self.ckpt, model, self.cfg.agent, self.hp_space, history)
            run.write_metrics(history)

        history = train_sb3(self.model, self.cfg.episodes, self.cfg.horizon, history=self.history, on_update=save,
                            progress_bar=progress and _has_rich())
        run.write_metrics(history)
        return SB3Policy(self.model), history


ZIP_REFUSED = ("{}: a Stable-Baselines3 .zip unpickles Python objects, so loading it can run any code it "
                "carries, and hptune does not load it. Retrain with this version (it writes checkpoints/last.pt), "
                "or convert it in a session you trust: load it with stable_baselines3 and write it with "
                "agents.sb3.save_sb3")


# Adding an agent to hptune train is one registration: its trainer and its settings dataclass.
register_agent("reinforce", ReinforceTrainer, RecurrentReinforceConfig,
               defaults=reinforce_settings, check=check_reinforce, derive=derive_reinforce)
for _name in SB3_AGENTS:
    register_agent(_name, SB3Trainer, SB3Settings)
register_agent("random", None)  # the baselines: nothing to train
register_agent("fixed", None)


def _has_rich() -> bool:
    try:
        import rich  # noqa: F401
        import tqdm  # noqa: F401
    except ImportError:
        return False
    return True
