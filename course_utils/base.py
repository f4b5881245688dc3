"""The one interface every generative model of the course shares.

A model is an ``nn.Module`` subclass of :class:`GenerativeModel` with

- ``cfg``: its configuration, a dataclass (stored in checkpoints as a plain dict);
- ``family``: a short name (``"made"``, ``"vae"``) that keys checkpoints and the registry;
- ``log_prob_kind``: what ``log_prob`` returns, a :class:`LogProbKind`;
- ``support`` and ``event_shape``: what one example is. ``Support.DISCRETE`` models (every image
  model) give ``log_prob`` in **nats of the discrete data**, so ``exp(log_prob)`` sums to 1 over the
  data space; ``Support.CONTINUOUS`` models (the 2-D toys of flows, energy-based and score models)
  give a **log-density**, so ``exp(log_prob)`` integrates to 1. ``event_shape`` is ``(C, H, W)`` or
  ``(2,)``, as in ``torch.distributions``;
- ``loss(x, y=None)``: a scalar to minimise, for one batch;
- ``sample(n, generator=None, y=None)``: ``n`` samples shaped and ranged like the data, no gradient;
- ``log_prob(x, y=None, **options)``: one value per example (options such as ``k`` importance
  samples are keyword arguments, never hidden state);
- ``device``: where its parameters (or buffers) live.

**Conditioning** is one keyword, ``y=``: class labels, int64 of shape ``(B,)`` in
``0..num_classes-1`` (``num_classes`` comes from the config; 0 means unconditional). An
unconditional model given labels, a conditional one given none, or a label out of range raises a
``ValueError`` (:meth:`GenerativeModel.labels`). ``fit``, the validation loss and ``mean_nll``
pass the labels of an ``(x, y)`` loader through.

**Training** goes through :func:`course_utils.train.fit`, which calls ``train_step`` with the global
step. By default that is one step of the optimisers from ``configure_optimizers`` on
``training_loss(x, y, step=step)`` (which is ``loss`` unless the model's training objective
changes with the step: MADE's mask schedule, the VAE's KL warm-up). GANs override ``train_step``.

**Modes.** :func:`eval_mode` and :func:`frozen` switch a model to evaluation (and, for ``frozen``,
turn off its parameters' gradients) and restore exactly what was there, also on error.
"""

from __future__ import annotations

import enum
from contextlib import contextmanager
from dataclasses import is_dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Iterator

import torch
from torch import Tensor, nn

if TYPE_CHECKING:  # pragma: no cover
    from .train import TrainConfig


class LogProbKind(str, enum.Enum):
    """What a model's ``log_prob`` means."""

    EXACT = "exact"  # log p(x), normalised (autoregressive models, flows, discrete tables)
    LOWER_BOUND = "lower bound"  # a bound below log p(x) (VAE ELBO, importance-weighted bound)
    UNNORMALISED = "unnormalised"  # -E(x) up to an unknown constant (energy-based models)
    NONE = "none"  # no likelihood at all (GANs)


class Support(str, enum.Enum):
    """What ``log_prob`` is a log of: a probability of discrete data, or a density of real vectors."""

    DISCRETE = "discrete"  # nats of the discrete data: exp(log_prob) sums to 1 (images with K levels)
    CONTINUOUS = "continuous"  # a log-density: exp(log_prob) integrates to 1 (points in R^d)


class GenerativeModel(nn.Module):
    """Base class of every model in the course; see the module docstring for the contract."""

    family: ClassVar[str] = "model"
    log_prob_kind: ClassVar[LogProbKind] = LogProbKind.NONE
    support: ClassVar[Support] = Support.DISCRETE

    def __init__(self, cfg: Any) -> None:
        super().__init__()
        if not is_dataclass(cfg) or isinstance(cfg, type):
            raise TypeError(f"{type(self).__name__} needs a dataclass instance as cfg; got {type(cfg).__name__}.")
        self.cfg = cfg

    # -- what one example is -------------------------------------------------------------
    @property
    def event_shape(self) -> tuple[int, ...]:
        """Shape of one example: ``cfg.shape`` for images, ``(cfg.dim,)`` for points."""
        if hasattr(self.cfg, "shape"):
            return tuple(self.cfg.shape)
        if hasattr(self.cfg, "dim"):
            return (int(self.cfg.dim),)
        raise NotImplementedError(f"{type(self).__name__} must define event_shape.")

    @property
    def num_classes(self) -> int:
        """Number of classes a conditional model takes as ``y``; 0 for an unconditional model."""
        return int(getattr(self.cfg, "num_classes", 0))

    def labels(self, y: Tensor | int | None, n: int) -> Tensor | None:
        """Validate the conditioning ``y`` for a batch of ``n``: ``None``, or int64 ``(n,)`` on ``self.device``.

        A single int is repeated ``n`` times. Raises a ``ValueError`` that says what to pass.
        """
        if self.num_classes == 0:
            if y is not None:
                raise ValueError(f"{type(self).__name__} is unconditional: call it without y (or use a loader without labels).")
            return None
        if y is None:
            raise ValueError(f"{type(self).__name__} is conditional: pass y=, labels in 0..{self.num_classes - 1} (one per example).")
        y = torch.as_tensor(y, device=self.device)
        if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
            raise ValueError(f"y must hold integer class labels; got dtype {y.dtype}.")
        y = y.long().reshape(-1)
        if y.numel() == 1 and n != 1:
            y = y.expand(n)
        if y.shape[0] != n:
            raise ValueError(f"y must hold {n} labels, one per example; got shape {tuple(y.shape)}.")
        if y.numel() and (int(y.min()) < 0 or int(y.max()) >= self.num_classes):
            raise ValueError(f"labels must lie in 0..{self.num_classes - 1}; got values in {int(y.min())}..{int(y.max())}.")
        return y

    # -- the interface -------------------------------------------------------------------
    def loss(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """A scalar to minimise for the batch ``x`` (with labels ``y`` for a conditional model).

        By default, for a model with a likelihood (exact or a lower bound): the mean NLL per
        example, ``-log_prob(x, y=y).mean()``. Models with another objective override it.
        """
        if self.log_prob_kind in (LogProbKind.EXACT, LogProbKind.LOWER_BOUND):
            return -self.log_prob(x, y=y).mean()
        raise NotImplementedError(f"{type(self).__name__} must define loss(x, y=None).")

    def sample(self, n: int, generator: torch.Generator | None = None, y: Tensor | int | None = None) -> Tensor:
        """``n`` samples, shaped and ranged like the data, on ``self.device``."""
        raise NotImplementedError

    def log_prob(self, x: Tensor, y: Tensor | None = None, **options: Any) -> Tensor:
        """Per-example log-likelihood, shape ``(B,)``; its meaning is ``log_prob_kind`` and ``support``."""
        raise NotImplementedError(f"{type(self).__name__} has no log_prob (kind: {self.log_prob_kind.value}).")

    @property
    def device(self) -> torch.device:
        for t in self.parameters():
            return t.device
        for t in self.buffers():
            return t.device
        return torch.device("cpu")

    # -- training hooks used by fit ------------------------------------------------------
    def training_loss(self, x: Tensor, y: Tensor | None = None, *, step: int) -> Tensor:
        """The objective of training step ``step`` (1, 2, ...); ``loss`` unless it changes with the step."""
        return self.loss(x, y=y)

    def configure_optimizers(self, cfg: "TrainConfig") -> list[torch.optim.Optimizer]:
        """The optimisers ``fit`` steps: one Adam, weight decay only on weight matrices (not biases or norms)."""
        return [torch.optim.Adam(parameter_groups(self, cfg.weight_decay), lr=cfg.lr, betas=cfg.betas)]

    def train_step(self, x: Tensor, y: Tensor | None, optimizers: list[torch.optim.Optimizer], *, step: int,
                   clip_grad_norm: float | None) -> dict[str, Tensor]:
        """One optimisation step on the batch; returns named scalars (``"loss"`` first).

        ``fit`` checks every returned value for NaN/Inf and names the step. Override (as GANs
        do) when one loss and one optimiser do not describe the step.
        """
        (opt,) = optimizers
        opt.zero_grad(set_to_none=True)
        loss = self.training_loss(x, y, step=step)
        loss.backward()
        out = {"loss": loss.detach()}
        if clip_grad_norm is not None:
            out["grad_norm"] = nn.utils.clip_grad_norm_(self.parameters(), clip_grad_norm)
        opt.step()
        return out

    def extra_repr(self) -> str:
        return f"family={self.family!r}, log_prob={self.log_prob_kind.value!r}, support={self.support.value!r}"


def parameter_groups(module: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Adam parameter groups: ``weight_decay`` on tensors of 2 or more dimensions (weight matrices,
    convolution kernels, embeddings), none on biases, norm scales and other vectors."""
    params = [p for p in module.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim >= 2]
    rest = [p for p in params if p.ndim < 2]
    return [g for g in ({"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}) if g["params"]]


# --------------------------------------------------------------------------- modes
@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """``with eval_mode(model):`` evaluation mode inside, the previous train/eval mode restored after."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


@contextmanager
def frozen(model: nn.Module) -> Iterator[nn.Module]:
    """Evaluation mode and no parameter gradients inside (for gradients with respect to the *input*:
    Langevin dynamics, score fields, gradient penalties); mode and every ``requires_grad`` restored."""
    flags = [(p, p.requires_grad) for p in model.parameters()]
    with eval_mode(model):
        for p, _ in flags:
            p.requires_grad_(False)
        try:
            yield model
        finally:
            for p, flag in flags:
                p.requires_grad_(flag)


# --------------------------------------------------------------------------- input checks
def _check_tensor(x: Tensor, name: str) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor; got {type(x).__name__}.")
    if not x.is_floating_point():
        raise ValueError(f"{name} must be a float tensor; got dtype {x.dtype}.")
    if x.numel() and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} holds NaN or infinite values; check the data (or the sampler that made it).")


def check_images(x: Tensor, shape: tuple[int, ...], name: str = "x", *, binary: bool = False) -> None:
    """Raise a clear error unless ``x`` is a finite float batch of ``shape`` in [0, 1] (or {0, 1})."""
    _check_tensor(x, name)
    if tuple(x.shape[1:]) != tuple(shape) or x.ndim != len(shape) + 1:
        raise ValueError(f"{name} must have shape (B, {', '.join(map(str, shape))}); got {tuple(x.shape)}.")
    if x.numel() and (x.min() < 0 or x.max() > 1):
        raise ValueError(f"{name} must lie in [0, 1]; got values in [{x.min().item():.3g}, {x.max().item():.3g}].")
    if binary and x.numel() and not torch.all((x == 0) | (x == 1)):
        raise ValueError(f"{name} must be binary (0 or 1); binarise it first, e.g. with load_mnist5k(binarized=True).")


def check_points(x: Tensor, dim: int, name: str = "x") -> None:
    """Raise a clear error unless ``x`` is a finite float batch of points, shape ``(B, dim)``."""
    _check_tensor(x, name)
    if x.ndim != 2 or x.shape[1] != dim:
        raise ValueError(f"{name} must have shape (B, {dim}); got {tuple(x.shape)}.")
