"""The ``hptune`` command, a package apart from the library it runs.

Modules, one job each: :mod:`~agents.cli.parser` (the command line and :func:`main`),
:mod:`~agents.cli.commands` (the subcommands), :mod:`~agents.cli.config` (a train run's config, its
defaults and old runs' ``config.json``), :mod:`~agents.cli.trainers` (the agents ``hptune train``
trains, registered by name), :mod:`~agents.cli.run_folder` (a run's files),
:mod:`~agents.cli.compare` (the final comparisons) and :mod:`~agents.cli.summary` (tables and plots).
``python -m agents.cli`` is ``hptune``.
"""

from agents.cli import trainers  # noqa: F401  (registers the built-in agents before any config names one)
from agents.cli.parser import main

__all__ = ["main"]
