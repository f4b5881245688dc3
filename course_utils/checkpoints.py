"""Checkpoints that are safe to load and never half-written.

A **finished** checkpoint is a plain dict, loadable with ``torch.load(..., weights_only=True)``::

    {"family": str, "config": dict, "state_dict": {...}, "version": int, "history": dict, "train_config": dict}

A **partial** checkpoint (``kind: "partial"``) is what a run writes as it goes: the same, plus the
optimiser and schedule states, the weight average, the step and epoch, the best weights so far and
every random state (the data order's included), so that :func:`course_utils.train.fit` resumes a
killed run and reaches the same weights as an uninterrupted one.

Every file is written atomically (to a temporary file in the same folder, flushed, then renamed),
so a run killed mid-write never leaves a half file under the real name. Loading checks the family
and configuration and says in one sentence what to do when the file is missing, corrupt, from
another version or for another model.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any, BinaryIO, Callable

import torch

from .base import GenerativeModel

CHECKPOINT_VERSION = 2


class CheckpointError(RuntimeError):
    """A checkpoint file is missing or corrupt, or does not belong to the model it is loaded into."""


def plain(obj: Any) -> Any:
    """A dataclass (or anything JSON can say) as plain Python: what ``weights_only=True`` can load."""
    if is_dataclass(obj) and not isinstance(obj, type):
        obj = asdict(obj)
    return json.loads(json.dumps(obj, default=str))


def config_hash(*configs: Any) -> str:
    """A short, stable hash of plain-dict versions of ``configs``."""
    text = json.dumps([plain(c) for c in configs], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> Path:
    """Call ``write(file)`` on a temporary file beside ``path``, flush it to disk, then rename it to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_save(payload: dict[str, Any], path: str | os.PathLike) -> Path:
    """``torch.save(payload)`` to ``path`` through a temporary file and a rename."""
    return atomic_write(path, lambda f: torch.save(payload, f))


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """The payload of a course checkpoint, loaded with ``weights_only=True``; clear errors otherwise."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"No checkpoint at {path}: train the model first (fit_or_load does both).")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # unpickling errors come in many types
        raise CheckpointError(f"{path} is corrupt or not a course checkpoint ({type(err).__name__}); delete it and train again.") from err
    if not isinstance(payload, dict) or not {"family", "config", "state_dict", "version"} <= payload.keys():
        raise CheckpointError(f"{path} is not a course checkpoint (keys family, config, state_dict, version); delete it and train again.")
    if payload["version"] != CHECKPOINT_VERSION:
        raise CheckpointError(f"{path} has checkpoint version {payload['version']}, this course writes {CHECKPOINT_VERSION}; delete it and train again.")
    return payload


def model_payload(model: GenerativeModel) -> dict[str, Any]:
    """The part of every checkpoint that identifies and restores the model."""
    return {
        "family": model.family,
        "config": plain(model.cfg),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "version": CHECKPOINT_VERSION,
    }


def restore_model(payload: dict[str, Any], model: GenerativeModel, path: str | os.PathLike) -> None:
    """Load ``payload``'s weights into ``model`` after checking family and configuration."""
    if payload["family"] != model.family:
        raise CheckpointError(f"{path} holds a {payload['family']!r} model, not a {model.family!r}; load it into the right model.")
    if payload["config"] != plain(model.cfg):
        raise CheckpointError(f"{path} was trained with another configuration ({payload['config']}); build the model with that config or train again.")
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as err:
        raise CheckpointError(f"{path} does not match the model's parameters; delete it and train again. ({err})") from err


def save_checkpoint(path: str | os.PathLike, model: GenerativeModel, history: Any = None, train_cfg: Any = None) -> Path:
    """Write ``model`` (family, config, weights), its history and training config atomically to ``path``."""
    payload = model_payload(model)
    payload["history"] = history.as_dict() if history is not None else None
    payload["train_config"] = plain(train_cfg) if train_cfg is not None else None
    return atomic_save(payload, path)


def load_checkpoint(path: str | os.PathLike, model: GenerativeModel) -> Any:
    """Load a finished checkpoint written by :func:`save_checkpoint` into ``model``; return its
    :class:`~course_utils.train.History` (or None)."""
    from .train import History

    payload = read_checkpoint(path)
    if payload.get("kind") == "partial":
        raise CheckpointError(f"{path} is an unfinished run; resume it with fit_or_load (or fit(..., state_path=...)).")
    restore_model(payload, model, path)
    history = payload.get("history")
    return History.from_dict(history) if history else None
