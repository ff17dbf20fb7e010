"""Meta-learners that tune hyper-parameters through the ``hpenv`` Gymnasium environments."""

from agents.baselines import FixedPolicy, RandomPolicy, RandomStaticPolicy, ReduceOnPlateauPolicy, SchedulePolicy
from agents.evaluation import as_policy, run_episode, run_episodes, summarize
from agents.reinforce import RecurrentReinforce, RecurrentReinforceConfig

__all__ = [
    "RecurrentReinforce", "RecurrentReinforceConfig",
    "FixedPolicy", "RandomPolicy", "RandomStaticPolicy", "SchedulePolicy", "ReduceOnPlateauPolicy",
    "as_policy", "run_episode", "run_episodes", "summarize",
]
