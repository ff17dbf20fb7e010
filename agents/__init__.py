"""Meta-learners that tune hyper-parameters through the ``hpenv`` Gymnasium environments."""

from agents.reinforce import RecurrentReinforce

__all__ = ["RecurrentReinforce"]
