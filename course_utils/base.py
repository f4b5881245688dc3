"""The one interface every generative model of the course shares.

A model is an ``nn.Module`` subclass of :class:`GenerativeModel` with

- ``cfg``: its configuration, a dataclass (stored in checkpoints as a plain dict);
- ``family``: a short name (``"made"``, ``"vae"``) that keys checkpoints;
- ``log_prob_kind``: what ``log_prob`` returns, a :class:`LogProbKind`;
- ``loss(x, *cond)``: a scalar to minimise, for one batch;
- ``sample(n, generator=None)``: ``n`` samples shaped and ranged like the data, no gradient;
- ``log_prob(x, **options)``: one value per example, in nats of the discrete data (options
  such as ``k`` importance samples are keyword arguments, never hidden state);
- ``device``: where its parameters (or buffers) live.

Training goes through :func:`course_utils.train.fit`, which calls ``train_step``; models that need
several optimisers (GANs) override ``configure_optimizers`` and ``train_step``.
"""

from __future__ import annotations

import enum
from dataclasses import is_dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor, nn


class LogProbKind(str, enum.Enum):
    """What a model's ``log_prob`` means."""

    EXACT = "exact"  # log p(x), normalised (autoregressive models, flows, discrete tables)
    LOWER_BOUND = "lower bound"  # a bound below log p(x) (VAE ELBO, importance-weighted bound)
    UNNORMALISED = "unnormalised"  # -E(x) up to an unknown constant (energy-based models)
    NONE = "none"  # no likelihood at all (GANs)


class GenerativeModel(nn.Module):
    """Base class of every model in the course; see the module docstring for the contract."""

    family: ClassVar[str] = "model"
    log_prob_kind: ClassVar[LogProbKind] = LogProbKind.NONE

    def __init__(self, cfg: Any) -> None:
        super().__init__()
        if not is_dataclass(cfg) or isinstance(cfg, type):
            raise TypeError(f"{type(self).__name__} needs a dataclass instance as cfg; got {type(cfg).__name__}.")
        self.cfg = cfg

    # -- the interface -------------------------------------------------------------------
    def loss(self, x: Tensor, *cond: Tensor) -> Tensor:
        """A scalar to minimise for the batch ``x`` (and conditioning ``cond``, if any).

        By default, for a model with a likelihood (exact or a lower bound): the mean NLL in nats
        per example, ``-log_prob(x).mean()``. Models with another objective override it.
        """
        if self.log_prob_kind in (LogProbKind.EXACT, LogProbKind.LOWER_BOUND) and not cond:
            return -self.log_prob(x).mean()
        raise NotImplementedError(f"{type(self).__name__} must define loss(x{', *cond' if cond else ''}).")

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` samples, shaped and ranged like the data, on ``self.device``."""
        raise NotImplementedError

    def log_prob(self, x: Tensor, **options: Any) -> Tensor:
        """Per-example log-likelihood in nats, shape ``(B,)``; its meaning is ``log_prob_kind``."""
        raise NotImplementedError(f"{type(self).__name__} has no log_prob (kind: {self.log_prob_kind.value}).")

    @property
    def device(self) -> torch.device:
        for t in self.parameters():
            return t.device
        for t in self.buffers():
            return t.device
        return torch.device("cpu")

    # -- training hooks used by fit ------------------------------------------------------
    def configure_optimizers(self, lr: float, weight_decay: float = 0.0) -> list[torch.optim.Optimizer]:
        """The optimisers ``fit`` steps; one Adam by default."""
        return [torch.optim.Adam(self.parameters(), lr=lr, weight_decay=weight_decay)]

    def train_step(self, batch: tuple[Tensor, ...], optimizers: list[torch.optim.Optimizer], clip_grad_norm: float | None) -> dict[str, Tensor]:
        """One optimisation step on ``batch``; returns named scalars (``"loss"`` first).

        ``fit`` checks every returned value for NaN/Inf. Override (as GANs do) when one loss
        and one optimiser do not describe the step.
        """
        (opt,) = optimizers
        opt.zero_grad(set_to_none=True)
        loss = self.loss(*batch)
        loss.backward()
        out = {"loss": loss.detach()}
        if clip_grad_norm is not None:
            out["grad_norm"] = nn.utils.clip_grad_norm_(self.parameters(), clip_grad_norm)
        opt.step()
        return out

    def extra_repr(self) -> str:
        return f"family={self.family!r}, log_prob={self.log_prob_kind.value!r}"


def check_images(x: Tensor, shape: tuple[int, ...], name: str = "x", *, binary: bool = False) -> None:
    """Raise a clear ``ValueError`` unless ``x`` is a float batch of ``shape`` in [0, 1] (or {0, 1})."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor; got {type(x).__name__}.")
    if not x.is_floating_point():
        raise ValueError(f"{name} must be a float tensor with values in [0, 1]; got dtype {x.dtype}.")
    if tuple(x.shape[1:]) != tuple(shape):
        raise ValueError(f"{name} must have shape (B, {', '.join(map(str, shape))}); got {tuple(x.shape)}.")
    if x.numel() and (x.min() < 0 or x.max() > 1):
        raise ValueError(f"{name} must lie in [0, 1]; got values in [{x.min().item():.3g}, {x.max().item():.3g}].")
    if binary and x.numel() and not torch.all((x == 0) | (x == 1)):
        raise ValueError(f"{name} must be binary (0 or 1); binarise it first, e.g. with load_mnist5k(binarized=True).")
