"""The ``hptune`` command, a package apart from the library it runs.

Modules, one job each: [`parser`][agents.cli.parser] (the command line and `main`),
[`commands`][agents.cli.commands] (the subcommands), [`config`][agents.cli.config] (a train run's config, its
defaults and old runs' ``config.json``), [`trainers`][agents.cli.trainers] (the agents ``hptune train``
trains, registered by name), [`run_folder`][agents.cli.run_folder] (a run's files),
[`compare`][agents.cli.compare] (the final comparisons) and [`summary`][agents.cli.summary] (tables and
plots). ``python -m agents.cli`` is ``hptune``.
"""

from agents.cli import trainers  # noqa: F401  (registers the built-in agents before any config names one)
from agents.cli.parser import main

__all__ = ["main"]
