"""Methods of the benchmark, registered by name; a user's ``pkg.mod:Name`` resolves the same way.

A method has two phases:

* ``prepare(ctx)``, once per suite: anything chosen or learned before deployment (a constant
  chosen on selection members, meta-training on train members). It may only use
  ``ctx.selection`` (results on selection members) and the suite's train members; the SGD
  steps it runs are its ``one_off_sgd_steps``. What it may spend, and the seed of its
  learners, is ``ctx.budgets`` ([`MethodBudgets`][agents.bench.methods.budgets.MethodBudgets], under the
  registered protocol's names).
* ``run(ctx, member, seeds)``: deploy on one test member, one child per seed; returns one
  [`agents.engine.EpisodeRecord`][] per seed. The deployed child trains exactly one episode
  (``E = horizon * steps_per_action`` SGD steps); candidates a search tries besides it are its
  ``search_sgd_steps``.

Built-in methods are in `METHODS` (``register_method`` adds one); ``resolve_method(spec)``
takes a registered name or ``"package.module:Name"`` (a policy class taking the env, an object
with ``predict``, or a callable ``obs -> action``), so a user's policy is run exactly like
``fixed default``.

The methods live by kind: the registry in [`base`][agents.bench.methods.base] (and the budgets they
read in [`budgets`][agents.bench.methods.budgets]), the references in
[`references`][agents.bench.methods.references], the searches in [`searches`][agents.bench.methods.searches],
the learned methods in [`learned`][agents.bench.methods.learned] (and the wrappers they train through
in [`wrappers`][agents.bench.methods.wrappers]). Every name stays importable from here; importing the
package registers every built-in method, in table order.
"""

from __future__ import annotations

import inspect

from agents.bench.methods.base import METHODS, Method, load_agent, register_method
from agents.bench.methods.budgets import MethodBudgets
# Every class stays importable from here (``from agents.bench.methods import RRMeta``).
# isort: off  (importing registers: references, searches, learned methods, in table order)
from agents.bench.methods.references import BestSchedule, BestStatic, FixedDefault, PolicyMethod, ReduceOnPlateau
from agents.bench.methods.searches import PBT, TPE, PBTRayTune, RandomSearch, SuccessiveHalving
from agents.bench.methods.learned import (
    RR_SPACES,
    A2CMeta,
    NASMeta,
    PPOMeta,
    RecurrentPPOMeta,
    RRAbsolute,
    RRConstantEntropy,
    RRMeta,
    RRMetaOnline,
    RRMovingAverage,
    RROldDefaults,
    RRRelative,
    RRValue,
)
# isort: on
from agents.bench.methods.wrappers import CountingVectorEnv, EpisodeRecorder

__all__ = ["Method", "MethodBudgets", "PolicyMethod", "METHODS", "REFERENCES", "register_method", "resolve_method",
           "load_agent", "DEFAULT_METHODS"]

#: The references every method is compared with (paired), in table order.
REFERENCES = ("best static tuple", "best fixed schedule", "fixed default", "random search")
#: What ``hptune bench`` runs by default, in table order.
DEFAULT_METHODS = ("fixed default", "best static tuple", "best fixed schedule", "random search", "TPE",
                   "successive halving", "PBT", "RR meta (train members)", "RR meta + online")


def resolve_method(spec: str | Method, name: str | None = None) -> Method:
    """A [`Method`][agents.bench.methods.base.Method] from a registered name, ``"package.module:Name"`` or a
    Method instance."""
    if isinstance(spec, Method):
        return spec
    if spec in METHODS:
        return METHODS[spec]()
    if ":" in spec:
        obj = load_agent(spec)
        if inspect.isclass(obj) and issubclass(obj, Method):
            m = obj()
            m.name, m.source = name or getattr(obj, "name", "") or spec.rsplit(":", 1)[-1], "user"
            return m
        return PolicyMethod(name or spec.rsplit(":", 1)[-1].split(".")[-1], obj, source="user")
    raise ValueError(f"unknown methods [{spec!r}]; built-in methods: {list(METHODS)} "
                     f"(or package.module:Name for your own)")
