"""One training loop for every model of the course, resumable, with checkpoints that are safe to load.

``fit(model, train_loader, val_loader, TrainConfig(...))`` trains any :class:`GenerativeModel`:
progress bar, validation loss after every epoch, history for plots, gradient clipping, a
learning-rate warm-up and schedule, an exponential moving average of the weights, early stopping
(restoring the best weights), and a clear error naming the step where a loss became NaN or
infinite. Each step calls ``model.train_step(x, y, optimizers, step=..., clip_grad_norm=...)`` with
the global step (1, 2, ...); an ``(x, y)`` loader passes its labels as ``y``.

**Resuming.** With ``state_path`` (``fit_or_load`` always gives one) the run writes a partial
checkpoint every ``checkpoint_seconds`` (at the end of an epoch or within one) and at its end: weights,
optimiser and schedule states, the weight average, the step, the best weights so far and every
random state, the data order's included. Run again after a crash, it resumes there and reaches the
same weights as a run that was never interrupted (on the CPU, where kernels are deterministic).

**Reusing.** ``fit_or_load`` keys a finished checkpoint by family, name, budget and a hash of the
model config, the training config (without cosmetic fields such as ``progress``) and the data (a
fingerprint of the loaders' tensors, batch size and shuffling seed), so a model trained in one
notebook is found by another that builds it the same way (:func:`course_utils.models.load_model`).

| schedule     | learning rate at step s of S (after ``warmup_steps`` linear warm-up) |
|--------------|---------------------------------------------------------------------|
| ``constant`` | ``lr``                                                              |
| ``cosine``   | ``lr * (1 + cos(pi * s / S)) / 2``                                   |
"""

from __future__ import annotations

import copy
import hashlib
import math
import os
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import torch
from torch import Tensor
from torch.utils.data import DataLoader, TensorDataset

from .base import GenerativeModel, eval_mode
from .checkpoints import (CheckpointError, atomic_save, config_hash, load_checkpoint, model_payload, plain, read_checkpoint,
                          restore_model, save_checkpoint)

__all__ = [
    "EMA", "CheckpointError", "History", "NonFiniteLossError", "TrainConfig", "average_over", "evaluate_loss", "fit",
    "fit_or_load", "load_checkpoint", "loader_fingerprint", "save_checkpoint",
]


class NonFiniteLossError(FloatingPointError):
    """The loss (or another training scalar) became NaN or infinite."""


# --------------------------------------------------------------------------- configuration and history
@dataclass
class TrainConfig:
    """How ``fit`` trains. ``epochs`` bounds the run; ``max_steps`` and ``max_seconds`` may stop it
    sooner (``max_seconds`` makes results depend on the machine: use it for demos, not tests).

    ``betas`` and ``weight_decay`` go to the model's optimisers (``configure_optimizers``; weight decay
    only on weight matrices). ``ema_decay`` keeps an exponential moving average of the weights, used
    for validation and loaded into the model at the end. ``progress`` and ``checkpoint_seconds`` are
    cosmetic: they change nothing that is computed, so they are not part of a checkpoint's key.
    """

    epochs: int = 10
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    clip_grad_norm: float | None = 10.0
    max_steps: int | None = None
    max_seconds: float | None = None
    patience: int | None = None  # epochs without a better val loss before stopping early
    warmup_steps: int = 0  # linear learning-rate warm-up from 0
    schedule: str = "constant"  # "constant" or "cosine" decay to 0 over the run
    ema_decay: float | None = None  # e.g. 0.999; None: no weight average
    progress: bool = True
    checkpoint_seconds: float = 60.0  # how often a run with a state_path saves its state (0: after every step)

    COSMETIC = ("progress", "checkpoint_seconds")

    def __post_init__(self) -> None:
        self.betas = tuple(float(b) for b in self.betas)  # a JSON round trip gives a list
        if self.epochs < 1:
            raise ValueError(f"epochs must be at least 1; got {self.epochs}.")
        if self.lr <= 0:
            raise ValueError(f"lr must be positive; got {self.lr}.")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"betas must be two numbers in [0, 1); got {self.betas}.")
        if self.schedule not in ("constant", "cosine"):
            raise ValueError(f"schedule must be 'constant' or 'cosine'; got {self.schedule!r}.")
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps must be non-negative; got {self.warmup_steps}.")
        if self.ema_decay is not None and not 0 < self.ema_decay < 1:
            raise ValueError(f"ema_decay must be in (0, 1) or None; got {self.ema_decay}.")

    def key(self) -> dict[str, Any]:
        """The fields that change what training computes (everything but the cosmetic ones)."""
        return {k: v for k, v in asdict(self).items() if k not in self.COSMETIC}


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
    resumed_at_step: int | None = None
    from_checkpoint: bool = False  # set by fit_or_load when it loaded a finished run instead of training
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


# --------------------------------------------------------------------------- the weight average
class EMA:
    """Exponential moving average of a model's parameters (not its buffers: a replay buffer, a
    persistent chain or a noise schedule is state, not a weight to average).

    After step ``s`` each average moves towards the weights by ``1 - d_s`` with
    ``d_s = min(decay, (1 + s) / (10 + s))``: the early, fast-moving weights are forgotten quickly.
    """

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        self.decay = decay
        self.shadow = {k: v.detach().clone() for k, v in model.named_parameters() if v.is_floating_point()}

    @torch.no_grad()
    def update(self, model: torch.nn.Module, step: int) -> None:
        d = min(self.decay, (1 + step) / (10 + step))
        for k, v in model.named_parameters():
            if k in self.shadow:
                self.shadow[k].lerp_(v.detach(), 1 - d)

    @contextmanager
    def applied(self, model: torch.nn.Module) -> Iterator[None]:
        """The averaged weights inside the block, the model's own weights restored after."""
        backup = {k: v.detach().clone() for k, v in model.state_dict().items() if k in self.shadow}
        model.load_state_dict(self.shadow, strict=False)
        try:
            yield
        finally:
            model.load_state_dict(backup, strict=False)

    def state_dict(self) -> dict[str, Tensor]:
        return {k: v.detach().cpu() for k, v in self.shadow.items()}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        for k, v in state.items():
            self.shadow[k].copy_(v)


def lr_factor(cfg: TrainConfig, total_steps: int) -> Callable[[int], float]:
    """The multiplier of ``cfg.lr`` after ``s`` optimiser steps (``LambdaLR``'s convention)."""

    def factor(s: int) -> float:
        if cfg.warmup_steps and s < cfg.warmup_steps:
            return (s + 1) / cfg.warmup_steps
        if cfg.schedule == "cosine":
            progress = min(1.0, (s - cfg.warmup_steps) / max(1, total_steps - cfg.warmup_steps))
            return 0.5 * (1 + math.cos(math.pi * progress))
        return 1.0

    return factor


# --------------------------------------------------------------------------- evaluation
def _as_batch(batch: Any, device: torch.device) -> tuple[Tensor, Tensor | None]:
    """``(x, y)`` on ``device`` from a batch that is ``x``, ``(x,)`` or ``(x, y)``."""
    if isinstance(batch, Tensor):
        batch = (batch,)
    if not isinstance(batch, (tuple, list)) or not 1 <= len(batch) <= 2 or not all(isinstance(t, Tensor) for t in batch):
        raise TypeError("A batch must be a tensor x or a tuple (x,) or (x, y) of tensors, y holding class labels.")
    x = batch[0].to(device, non_blocking=True)
    y = batch[1].to(device, non_blocking=True) if len(batch) == 2 else None
    return x, y


@torch.no_grad()
def average_over(model: GenerativeModel, loader: Iterable, fn: Callable[[Tensor, Tensor | None], Tensor]) -> float:
    """The mean over every example of ``loader`` of ``fn(x, y)``, in eval mode without gradients.

    ``fn`` returns one value per example (shape ``(B,)``) or a batch mean (a scalar, weighted by
    the batch size). Models that need input gradients inside (Langevin sampling) enable them there.
    """
    total, count = 0.0, 0
    with eval_mode(model):
        for batch in loader:
            x, y = _as_batch(batch, model.device)
            value = fn(x, y)
            if value.ndim == 0:
                total += value.item() * x.shape[0]
            elif tuple(value.shape) == (x.shape[0],):
                total += value.double().sum().item()
            else:
                raise ValueError(f"{model.family}: expected one value per example, shape ({x.shape[0]},), or a scalar; got {tuple(value.shape)}.")
            count += x.shape[0]
    if count == 0:
        raise ValueError("The loader is empty.")
    return total / count


def evaluate_loss(model: GenerativeModel, loader: Iterable) -> float:
    """Mean of ``model.loss`` over ``loader``, weighted by batch size, in eval mode."""
    return average_over(model, loader, lambda x, y: model.loss(x, y=y))


def _progress(iterable: Iterable, enabled: bool, desc: str, total: int | None) -> Iterable:
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, total=total, leave=False, mininterval=0.5)


# --------------------------------------------------------------------------- the loop
def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@dataclass
class _Run:
    """Everything a partial checkpoint holds beyond the model's weights."""

    step: int = 0
    epoch: int = 0  # epochs finished
    step_in_epoch: int = 0  # batches of the current epoch already done
    bad_epochs: int = 0
    seconds: float = 0.0
    best_state: dict[str, Tensor] | None = None
    epoch_rng: dict[str, Any] | None = None  # global and data-order random states when this epoch began
    done: bool = False


def fit(
    model: GenerativeModel,
    train_loader: Iterable,
    val_loader: Iterable | None = None,
    cfg: TrainConfig | None = None,
    *,
    state_path: str | os.PathLike | None = None,
) -> History:
    """Train ``model`` in place and return its :class:`History`.

    Each step calls ``model.train_step`` (one Adam step on ``model.training_loss`` by default) and
    then the learning-rate schedule and the weight average. After each epoch the validation loss is
    computed (with the averaged weights, if any); with ``cfg.patience`` the run stops once it has
    not improved for that many epochs and the best weights are restored. A NaN or infinite value
    raises :class:`NonFiniteLossError` naming the step. With ``state_path`` the run is resumable
    (see the module docstring); the partial file stays until the caller removes it.
    """
    cfg = cfg or TrainConfig()
    if not isinstance(model, GenerativeModel):
        raise TypeError(f"fit trains a GenerativeModel; got {type(model).__name__}.")
    per_epoch = len(train_loader) if hasattr(train_loader, "__len__") else None  # type: ignore[arg-type]
    total_steps = cfg.max_steps or (cfg.epochs * per_epoch if per_epoch else 10**9)
    optimizers = model.configure_optimizers(cfg)
    schedulers = [torch.optim.lr_scheduler.LambdaLR(opt, lr_factor(cfg, total_steps)) for opt in optimizers]
    ema = EMA(model, cfg.ema_decay) if cfg.ema_decay else None
    data_gen: torch.Generator | None = getattr(train_loader, "generator", None)
    history, run = History(), _Run()
    if state_path is not None and Path(state_path).is_file():
        history, run = _resume(Path(state_path), model, optimizers, schedulers, ema, cfg)

    def save_state() -> None:
        if state_path is None:
            return
        payload = model_payload(model)
        payload.update(
            kind="partial", train_config=plain(cfg.key()), history=history.as_dict(), step=run.step, epoch=run.epoch,
            step_in_epoch=run.step_in_epoch, bad_epochs=run.bad_epochs, seconds=run.seconds + time.perf_counter() - start,
            best_state=run.best_state, epoch_rng=run.epoch_rng, rng=_rng_state(), done=run.done,
            optimizers=[o.state_dict() for o in optimizers], schedulers=[s.state_dict() for s in schedulers],
            ema=ema.state_dict() if ema is not None else None,
        )
        atomic_save(payload, state_path)

    def out_of_time() -> bool:
        return cfg.max_seconds is not None and run.seconds + time.perf_counter() - start >= cfg.max_seconds

    start = time.perf_counter()
    last_save = start
    model.train()
    try:
        while not run.done and run.epoch < cfg.epochs:
            epoch = run.epoch + 1
            resuming_mid_epoch = run.step_in_epoch > 0 and run.epoch_rng is not None
            if resuming_mid_epoch:  # replay this epoch's data order, then skip the batches already done
                rng_now = _rng_state()
                _set_rng_state(run.epoch_rng)
                if data_gen is not None and run.epoch_rng.get("data") is not None:
                    data_gen.set_state(run.epoch_rng["data"])
            else:
                run.epoch_rng = dict(_rng_state(), data=data_gen.get_state() if data_gen is not None else None)
            batches = iter(train_loader)
            for _ in range(run.step_in_epoch):
                next(batches)
            if resuming_mid_epoch:
                _set_rng_state(rng_now)
            for batch in _progress(batches, cfg.progress, f"epoch {epoch}/{cfg.epochs}", per_epoch):
                run.step += 1
                run.step_in_epoch += 1
                x, y = _as_batch(batch, model.device)
                out = model.train_step(x, y, optimizers, step=run.step, clip_grad_norm=cfg.clip_grad_norm)
                for sched in schedulers:
                    sched.step()
                if ema is not None:
                    ema.update(model, run.step)
                values = {k: float(v) for k, v in out.items()}
                for name, value in values.items():
                    if not math.isfinite(value):
                        raise NonFiniteLossError(
                            f"{name} became {value} at step {run.step} (epoch {epoch}) of {model.family}: "
                            f"lower the learning rate (now {cfg.lr:g}) or check the data for NaNs."
                        )
                history.step.append(run.step)
                history.train_loss.append(values.pop("loss"))
                for name, value in values.items():
                    history.extra.setdefault(name, []).append(value)
                if (cfg.max_steps is not None and run.step >= cfg.max_steps) or out_of_time():
                    run.done = True
                    break
                if state_path is not None and time.perf_counter() - last_save >= cfg.checkpoint_seconds:
                    save_state()
                    last_save = time.perf_counter()
            run.epoch, run.step_in_epoch, run.epoch_rng = epoch, 0, None
            history.epoch.append(epoch)
            history.epoch_step.append(run.step)
            if val_loader is not None:
                _validate(model, val_loader, ema, history, run, cfg, epoch)
            if out_of_time():
                run.done = True
            if run.done or epoch == cfg.epochs or time.perf_counter() - last_save >= cfg.checkpoint_seconds:
                save_state()  # short epochs (1,000 digits) would otherwise write a checkpoint every few steps
                last_save = time.perf_counter()
    finally:
        history.seconds = run.seconds + time.perf_counter() - start
        model.eval()
    if ema is not None:
        model.load_state_dict(ema.shadow, strict=False)
    if run.best_state is not None:
        model.load_state_dict(run.best_state)
    return history


def _validate(model: GenerativeModel, val_loader: Iterable, ema: EMA | None, history: History, run: _Run, cfg: TrainConfig, epoch: int) -> None:
    if ema is not None:
        with ema.applied(model):
            val = evaluate_loss(model, val_loader)
    else:
        val = evaluate_loss(model, val_loader)
    if not math.isfinite(val):
        raise NonFiniteLossError(f"validation loss became {val} after epoch {epoch} (step {run.step}) of {model.family}.")
    history.val_loss.append(val)
    if history.best_epoch is None or val < history.val_loss[history.best_epoch - 1]:
        history.best_epoch, run.bad_epochs = epoch, 0
        if cfg.patience is not None:
            if ema is not None:
                with ema.applied(model):
                    run.best_state = copy.deepcopy(model.state_dict())
            else:
                run.best_state = copy.deepcopy(model.state_dict())
    else:
        run.bad_epochs += 1
        if cfg.patience is not None and run.bad_epochs >= cfg.patience:
            history.stopped_early = True
            run.done = True


def _resume(path: Path, model: GenerativeModel, optimizers: list, schedulers: list, ema: EMA | None, cfg: TrainConfig) -> tuple[History, _Run]:
    payload = read_checkpoint(path)
    if payload.get("kind") != "partial":
        raise CheckpointError(f"{path} is not a partial checkpoint; fit resumes only from the file it writes itself.")
    if payload["train_config"] != plain(cfg.key()):
        raise CheckpointError(f"{path} was written by a run with another training configuration; delete it to start afresh.")
    restore_model(payload, model, path)
    for opt, state in zip(optimizers, payload["optimizers"], strict=True):
        opt.load_state_dict(state)
    for sched, state in zip(schedulers, payload["schedulers"], strict=True):
        sched.load_state_dict(state)
    if ema is not None and payload["ema"] is not None:
        ema.load_state_dict(payload["ema"])
    _set_rng_state(payload["rng"])
    history = History.from_dict(payload["history"])
    history.resumed_at_step = payload["step"]
    run = _Run(step=payload["step"], epoch=payload["epoch"], step_in_epoch=payload["step_in_epoch"], bad_epochs=payload["bad_epochs"],
               seconds=payload["seconds"], best_state=payload["best_state"], epoch_rng=payload["epoch_rng"], done=payload["done"])
    return history, run


# --------------------------------------------------------------------------- train once, reuse after
def loader_fingerprint(loader: Any) -> str:
    """A short hash of what a loader feeds: its tensors, batch size, last-batch rule and shuffling seed.

    Works for a ``DataLoader`` over a ``TensorDataset`` (what ``Split.loader`` builds); for other
    loaders give ``fit_or_load`` a ``data_key`` instead.
    """
    if not isinstance(loader, DataLoader) or not isinstance(loader.dataset, TensorDataset):
        raise TypeError("fit_or_load fingerprints DataLoaders over a TensorDataset; for another loader pass data_key='a name for its data'.")
    h = hashlib.sha256()
    for t in loader.dataset.tensors:
        t = t.detach().cpu().contiguous()
        h.update(f"{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.float().numpy().tobytes())
    gen = loader.generator
    h.update(f"{loader.batch_size}|{loader.drop_last}|{type(loader.sampler).__name__}|{gen.initial_seed() if gen is not None else None}".encode())
    return h.hexdigest()[:12]


def checkpoint_path(model: GenerativeModel, cfg: TrainConfig, *, checkpoint_dir: str | os.PathLike, budget: str, name: str = "",
                    data_key: str) -> Path:
    """``<checkpoint_dir>/<family>[-name]-<budget>-<hash>.pt``; the hash covers model config, training config and data."""
    stem = "-".join(p for p in (model.family, name, budget, config_hash(model.cfg, cfg.key(), data_key)) if p)
    return Path(checkpoint_dir) / f"{stem}.pt"


def fit_or_load(
    model: GenerativeModel,
    train_loader: Iterable,
    val_loader: Iterable | None,
    cfg: TrainConfig,
    *,
    checkpoint_dir: str | os.PathLike,
    budget: str,
    name: str = "",
    data_key: str | None = None,
) -> History:
    """Load the finished checkpoint of this model, training run and data, else train (resuming an
    interrupted run if one left its partial checkpoint) and save one.

    The key is explained in the module docstring. A finished checkpoint appears only once
    training finished, so a half-trained run is never mistaken for a finished one. Training runs
    in a fork of the random state, so the caller's random draws after this call are the same
    whether the model was trained or loaded.
    """
    if data_key is None:
        data_key = loader_fingerprint(train_loader) + (("+" + loader_fingerprint(val_loader)) if val_loader is not None else "")
    path = checkpoint_path(model, cfg, checkpoint_dir=checkpoint_dir, budget=budget, name=name, data_key=data_key)
    if path.is_file():
        history = load_checkpoint(path, model)
        model.eval()
        if history is not None:
            history.from_checkpoint = True
            return history
    partial = path.with_suffix(".partial.pt")
    with torch.random.fork_rng(devices=[model.device] if model.device.type == "cuda" else []):  # trained or loaded, the
        history = fit(model, train_loader, val_loader, cfg, state_path=partial)  # caller's random state after is the same
    save_checkpoint(path, model, history, cfg)
    partial.unlink(missing_ok=True)
    return history
