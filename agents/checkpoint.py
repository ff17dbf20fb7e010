"""Atomic, weights-only-safe checkpoint files for the agents in this package.

A checkpoint is a ``torch.save`` file holding one dictionary. Besides the caller's payload it
carries two marker keys, ``"format": "hpenv-agent"`` and ``"version": 1``, so that
[`load_checkpoint`][agents.checkpoint.load_checkpoint] can tell our files from any other pickle or torch file.

Files are written atomically by [`atomic_write`][agents.checkpoint.atomic_write], the one writer of every file
a resumed run reads (checkpoints, ``config.json``, ``metrics.csv``, the benchmark's results): the data goes to
a temporary file in the destination folder, is flushed and fsync'ed, and only then renamed over the
destination with `os.replace`. A run killed while saving therefore leaves either the old
file or the new one, never a torn one; the temporary file it may leave behind is removed by
[`remove_stale_temporaries`][agents.checkpoint.remove_stale_temporaries] when the run resumes.

Files are read with ``torch.load(..., weights_only=True)``, which refuses arbitrary pickled
objects. Payloads must therefore consist only of tensors, dicts, lists, tuples, str, int, float,
bool and None; [`save_checkpoint`][agents.checkpoint.save_checkpoint] checks this before writing, so an unsafe
payload fails when saving rather than when someone later tries to resume from it.
"""

from __future__ import annotations

import io
import os
import tempfile
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch

CHECKPOINT_FORMAT = "hpenv-agent"
"""Value of the ``"format"`` marker key in every checkpoint written by this package."""

CHECKPOINT_VERSION = 1
"""Version of the checkpoint layout written by [`save_checkpoint`][agents.checkpoint.save_checkpoint]."""

_RESERVED_KEYS = ("format", "version")
_TMP_SUFFIX = ".tmp"
_SCALAR_TYPES = (str, int, float, bool, type(None))
_MAPPING_TYPES = (dict, OrderedDict)
_SEQUENCE_TYPES = (list, tuple)


def save_checkpoint(path: str | os.PathLike[str], payload: dict[str, Any]) -> Path:
    """Write ``payload`` to ``path`` atomically with `torch.save`.

    Args:
        path: Destination file. Missing parent folders are created. An existing file is replaced.
        payload: The data to store. Only tensors, dicts (str keys), lists, tuples, str, int,
            float, bool and None are allowed, nested arbitrarily; numpy arrays and numpy scalars
            are not (convert them with ``torch.from_numpy`` / ``float``). The keys ``"format"``
            and ``"version"`` are reserved for the checkpoint markers.

    Returns:
        The path written.

    Raises:
        TypeError: If the payload contains a value that ``torch.load(weights_only=True)`` could
            not read.
        ValueError: If the payload uses a reserved key.
    """
    path = Path(path)
    if not isinstance(payload, dict):
        raise TypeError(f"checkpoint payload must be a dict, got {type(payload).__name__}")
    for key in _RESERVED_KEYS:
        if key in payload:
            raise ValueError(f"checkpoint payload must not use the reserved key {key!r}")
    _check_weights_only_safe(payload, where="payload")

    data = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **payload}
    buffer = io.BytesIO()
    torch.save(data, buffer)
    return atomic_write(path, buffer.getvalue())


def atomic_write(path: str | os.PathLike[str], data: bytes | str) -> Path:
    """Replace ``path`` with ``data`` (str is written as UTF-8) so that a kill leaves the old or the new file.

    The data goes to a temporary ``.<name>.<random>.tmp`` file beside ``path``, is fsync'ed, then
    renamed over ``path``. Missing parent folders are created. Returns the path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=_TMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data.encode() if isinstance(data, str) else data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
        raise
    _fsync_directory(path.parent)
    return path


def remove_stale_temporaries(folder: str | os.PathLike[str]) -> list[Path]:
    """Delete the temporary files that a killed [`atomic_write`][agents.checkpoint.atomic_write] left in
    ``folder``; return them."""
    stale = sorted(Path(folder).glob(f".*{_TMP_SUFFIX}"))
    for tmp in stale:
        tmp.unlink()
    return stale


def check_hp_space(saved: dict[str, Any] | None, current: dict[str, Any] | None, source: str) -> None:
    """Refuse to act in ``current`` with a policy trained on another hyper-parameter space.

    Both are ``{name: [values]}`` in action order (``HPSpace.to_dict()``), with a
    ``"relative_actions"`` entry for a space that has them (see
    [`hp_space_of`][agents.checkpoint.hp_space_of]); two spaces of the same shape but other names, values,
    order or relative moves would give every action another meaning. ``None`` means unknown: an env without an
    ``hp_space`` has nothing to compare; a checkpoint written before spaces were recorded is accepted with a
    warning (its actions are read in ``current``).
    """
    if current is None:
        return
    if saved is None:
        warnings.warn(f"{source} does not record the hyper-parameter space it was trained on (written by an "
                      f"older version); its actions are read in the environment's space {current}", stacklevel=3)
        return
    if list(saved.items()) != list(current.items()):
        raise ValueError(
            f"{source} was trained on the hyper-parameter space {saved}, but the environment's space "
            f"is {current}; its actions would mean other values there: use the space it was trained on"
        )


def hp_space_of(env: Any) -> dict[str, Any] | None:
    """``{name: [values]}`` of an hpenv env's hyper-parameter space, or None for other envs.

    A space with relative actions adds ``"relative_actions": {name: k}``: the same action index is
    a move there and a grid position in an absolute space (even where ``nvec`` agrees: ``k=2`` on
    a grid of 5). The start values are left out: a move means the same from any start. An
    absolute space's entry is unchanged, so older checkpoints still match.
    """
    space = getattr(getattr(env, "unwrapped", env), "hp_space", None)
    if space is None:
        return None
    out: dict[str, Any] = space.to_dict()
    if space.is_relative:
        out["relative_actions"] = dict(space.relative_actions)
    return out


def load_checkpoint(
    path: str | os.PathLike[str], map_location: str | torch.device = "cpu"
) -> dict[str, Any]:
    """Read a checkpoint written by [`save_checkpoint`][agents.checkpoint.save_checkpoint].

    Args:
        path: The checkpoint file.
        map_location: Device the stored tensors are loaded onto (passed to `torch.load`).

    Returns:
        The payload that was saved (without the ``"format"`` / ``"version"`` markers).

    Raises:
        ValueError: If the file is missing, is not a readable torch file, is not a checkpoint of
            this package, or has a layout version other than the one this code reads
            ([`CHECKPOINT_VERSION`][agents.checkpoint.CHECKPOINT_VERSION]; e.g. a newer one). The message
            names the path.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"checkpoint file not found: {path}")
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises several types for corrupt / foreign files
        first_line = str(err).strip().split("\n")[0].split(". ")[0]
        raise ValueError(
            f"{path} is not a readable checkpoint file: truncated, corrupt or not written by torch.save "
            f"({type(err).__name__}: {first_line})"
        ) from err
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(
            f"{path} is not an agent checkpoint of this package "
            f"(expected a dict with 'format': {CHECKPOINT_FORMAT!r})"
        )
    version = data.get("version")
    if version != CHECKPOINT_VERSION:
        raise ValueError(
            f"{path} has checkpoint version {version!r}; this code reads version "
            f"{CHECKPOINT_VERSION}"
        )
    return {key: value for key, value in data.items() if key not in _RESERVED_KEYS}


def _check_weights_only_safe(value: Any, where: str) -> None:
    """Raise ``TypeError`` naming the location of the first value unsafe for weights_only."""
    if isinstance(value, torch.Tensor) or type(value) in _SCALAR_TYPES:
        return
    if type(value) in _MAPPING_TYPES:
        for key, item in value.items():
            if type(key) not in _SCALAR_TYPES:
                raise TypeError(f"checkpoint {where} has a key of unsupported type {type(key)!r}")
            _check_weights_only_safe(item, f"{where}[{key!r}]")
        return
    if type(value) in _SEQUENCE_TYPES:
        for index, item in enumerate(value):
            _check_weights_only_safe(item, f"{where}[{index}]")
        return
    raise TypeError(
        f"checkpoint {where} has a value of type {type(value).__module__}.{type(value).__name__}, "
        "which torch.load(weights_only=True) cannot read; use tensors, dicts, lists, tuples, "
        "str, int, float, bool or None"
    )


def _fsync_directory(folder: Path) -> None:
    """Make the rename durable on POSIX file systems (a no-op where unsupported)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
