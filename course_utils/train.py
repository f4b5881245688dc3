"""One training loop for every model of the course, and checkpoints that are safe to load.

``fit(model, train_loader, val_loader, TrainConfig(...))`` trains any :class:`GenerativeModel`:
progress bar, validation loss after every epoch, history for plots, gradient clipping, early
stopping (restoring the best weights), and a clear error naming the step where the loss became
NaN or infinite.

A checkpoint is a plain dict, loadable with ``torch.load(..., weights_only=True)``::

    {"family": str, "config": dict, "state_dict": {...}, "version": int, "history": dict, "train_config": dict}

It is written atomically (to a temporary file in the same folder, then renamed), so a run killed
mid-write never leaves a half file under the real name. ``fit_or_load`` reuses a finished
checkpoint keyed by family, budget and a hash of both configs.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Iterable

import torch
from torch import Tensor

from .base import GenerativeModel

CHECKPOINT_VERSION = 1


class NonFiniteLossError(FloatingPointError):
    """The loss (or another training scalar) became NaN or infinite."""


class CheckpointError(RuntimeError):
    """A checkpoint file is corrupt, or does not belong to the model it is loaded into."""


# --------------------------------------------------------------------------- configuration and history
@dataclass
class TrainConfig:
    """How ``fit`` trains. ``epochs`` bounds the run; ``max_steps`` and ``max_seconds`` may stop it
    sooner (``max_seconds`` makes results depend on the machine: use it for demos, not tests)."""

    epochs: int = 10
    lr: float = 1e-3
    weight_decay: float = 0.0
    clip_grad_norm: float | None = 10.0
    max_steps: int | None = None
    max_seconds: float | None = None
    patience: int | None = None  # epochs without a better val loss before stopping early
    progress: bool = True

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"epochs must be at least 1; got {self.epochs}.")
        if self.lr <= 0:
            raise ValueError(f"lr must be positive; got {self.lr}.")


@dataclass
class History:
    """What happened during ``fit``: per-step training scalars and per-epoch validation loss."""

    step: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    epoch: list[int] = field(default_factory=list)
    epoch_step: list[int] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    seconds: float = 0.0
    best_epoch: int | None = None
    stopped_early: bool = False
    extra: dict[str, list[float]] = field(default_factory=dict)

    @property
    def best_val_loss(self) -> float:
        return min(self.val_loss) if self.val_loss else float("nan")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "History":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


# --------------------------------------------------------------------------- the loop
def _as_batch(batch: Any, device: torch.device) -> tuple[Tensor, ...]:
    if isinstance(batch, Tensor):
        batch = (batch,)
    if not isinstance(batch, (tuple, list)) or not batch or not all(isinstance(t, Tensor) for t in batch):
        raise TypeError("A training batch must be a tensor or a tuple of tensors (x, *conditioning).")
    return tuple(t.to(device, non_blocking=True) for t in batch)


@torch.no_grad()
def evaluate_loss(model: GenerativeModel, loader: Iterable) -> float:
    """Mean of ``model.loss`` over ``loader``, weighted by batch size, in eval mode."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    try:
        for batch in loader:
            batch = _as_batch(batch, model.device)
            total += model.loss(*batch).item() * batch[0].shape[0]
            count += batch[0].shape[0]
    finally:
        model.train(was_training)
    if count == 0:
        raise ValueError("The validation loader is empty.")
    return total / count


def _progress(iterable: Iterable, enabled: bool, desc: str, total: int | None) -> Iterable:
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, total=total, leave=False, mininterval=0.5)


def fit(
    model: GenerativeModel,
    train_loader: Iterable,
    val_loader: Iterable | None = None,
    cfg: TrainConfig | None = None,
) -> History:
    """Train ``model`` in place and return its :class:`History`.

    Each step calls ``model.train_step`` (one Adam step on ``model.loss`` by default). After each
    epoch the validation loss is computed; with ``cfg.patience`` the run stops once it has not
    improved for that many epochs, and the best weights are restored. A NaN or infinite loss
    raises :class:`NonFiniteLossError` naming the step.
    """
    cfg = cfg or TrainConfig()
    if not isinstance(model, GenerativeModel):
        raise TypeError(f"fit trains a GenerativeModel; got {type(model).__name__}.")
    optimizers = model.configure_optimizers(cfg.lr, cfg.weight_decay)
    history = History()
    best_state: dict[str, Tensor] | None = None
    bad_epochs, step, start = 0, 0, time.perf_counter()
    model.train()
    try:
        for epoch in range(1, cfg.epochs + 1):
            total = len(train_loader) if hasattr(train_loader, "__len__") else None  # type: ignore[arg-type]
            for batch in _progress(train_loader, cfg.progress, f"epoch {epoch}/{cfg.epochs}", total):
                step += 1
                out = model.train_step(_as_batch(batch, model.device), optimizers, cfg.clip_grad_norm)
                values = {k: float(v) for k, v in out.items()}
                for name, value in values.items():
                    if not math.isfinite(value):
                        raise NonFiniteLossError(
                            f"{name} became {value} at step {step} (epoch {epoch}) of {model.family}: "
                            f"lower the learning rate (now {cfg.lr:g}) or check the data for NaNs."
                        )
                history.step.append(step)
                history.train_loss.append(values.pop("loss"))
                for name, value in values.items():
                    history.extra.setdefault(name, []).append(value)
                if cfg.max_steps is not None and step >= cfg.max_steps:
                    break
                if cfg.max_seconds is not None and time.perf_counter() - start >= cfg.max_seconds:
                    break
            history.epoch.append(epoch)
            history.epoch_step.append(step)
            if val_loader is not None:
                val = evaluate_loss(model, val_loader)
                if not math.isfinite(val):
                    raise NonFiniteLossError(f"validation loss became {val} after epoch {epoch} (step {step}) of {model.family}.")
                history.val_loss.append(val)
                if history.best_epoch is None or val < history.val_loss[history.best_epoch - 1]:
                    history.best_epoch, bad_epochs = epoch, 0
                    if cfg.patience is not None:
                        best_state = copy.deepcopy(model.state_dict())
                else:
                    bad_epochs += 1
                    if cfg.patience is not None and bad_epochs >= cfg.patience:
                        history.stopped_early = True
                        break
            if cfg.max_steps is not None and step >= cfg.max_steps:
                break
            if cfg.max_seconds is not None and time.perf_counter() - start >= cfg.max_seconds:
                break
    finally:
        history.seconds = time.perf_counter() - start
        model.eval()
    if best_state is not None:
        model.load_state_dict(best_state)
    return history


# --------------------------------------------------------------------------- checkpoints
def _plain(obj: Any) -> Any:
    """A dataclass (or anything JSON can say) as plain Python: what weights_only=True can load."""
    if is_dataclass(obj) and not isinstance(obj, type):
        obj = asdict(obj)
    return json.loads(json.dumps(obj, default=str))


def save_checkpoint(path: str | os.PathLike, model: GenerativeModel, history: History | None = None, train_cfg: TrainConfig | None = None) -> Path:
    """Write ``model`` (family, config, weights) and its history atomically to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "family": model.family,
        "config": _plain(model.cfg),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "version": CHECKPOINT_VERSION,
        "history": history.as_dict() if history is not None else None,
        "train_config": _plain(train_cfg) if train_cfg is not None else None,
    }
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | os.PathLike, model: GenerativeModel) -> History | None:
    """Load a checkpoint written by :func:`save_checkpoint` into ``model``; return its history.

    Raises :class:`CheckpointError` with a sentence saying what to do when the file is missing,
    corrupt, from another version, or for another family or configuration.
    """
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
    if payload["family"] != model.family:
        raise CheckpointError(f"{path} holds a {payload['family']!r} model, not a {model.family!r}; load it into the right model.")
    if payload["config"] != _plain(model.cfg):
        raise CheckpointError(f"{path} was trained with another configuration ({payload['config']}); build the model with that config or train again.")
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as err:
        raise CheckpointError(f"{path} does not match the model's parameters; delete it and train again. ({err})") from err
    history = payload.get("history")
    return History.from_dict(history) if history else None


def config_hash(*configs: Any) -> str:
    """A short, stable hash of plain-dict versions of ``configs``."""
    text = json.dumps([_plain(c) for c in configs], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def fit_or_load(
    model: GenerativeModel,
    train_loader: Iterable,
    val_loader: Iterable | None,
    cfg: TrainConfig,
    *,
    checkpoint_dir: str | os.PathLike,
    budget: str,
    name: str = "",
) -> History:
    """Load a finished checkpoint for this family, budget and configuration, else train and save one.

    The file is ``<checkpoint_dir>/<family>[-name]-<budget>-<hash>.pt``; the hash covers the model
    and training configs. A checkpoint appears only once training finished, so a half-trained run
    is never reused.
    """
    stem = "-".join(p for p in (model.family, name, budget, config_hash(model.cfg, cfg)) if p)
    path = Path(checkpoint_dir) / f"{stem}.pt"
    if path.is_file():
        history = load_checkpoint(path, model)
        model.eval()
        if history is not None:
            return history
    history = fit(model, train_loader, val_loader, cfg)
    save_checkpoint(path, model, history, cfg)
    return history
