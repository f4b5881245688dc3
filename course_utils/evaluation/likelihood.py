"""Likelihood units: nats per example, bits per dimension, the dequantisation offset, and checks
that a model's probabilities add up.

Conventions of the course:

- A negative log-likelihood (NLL) is reported in **nats per example** of the *discrete* data
  (a binarised image, a 17-level 8x8 digit, an 8-bit image).
- **Bits per dimension** divide by the number of dimensions D and by ln 2:
  ``bpd = nats / (D ln 2)``. A binary image has at most 1 bit per pixel and an 8-bit one 8, so
  bits/dim on binarised MNIST and on 8-bit MNIST measure different things: never compare them.
- A **continuous** density p on dequantised images ``x = (level + u) / K``, ``u ~ U[0, 1)^D``
  (:func:`course_utils.data.dequantize`, bins of width 1/K), bounds the discrete NLL: by Jensen,
  ``log P(level) = log E_u[p(x)] - D ln K >= E_u[log p(x)] - D ln K``, so

      -log P(level) <= E_u[-log p(x)] + D ln K.

  The continuous NLL alone can be negative; :func:`discrete_nll_bound` adds the offset ``D ln K``.
- Models of continuous data (``Support.CONTINUOUS``, the 2-D toys) report a log-density; their
  numbers are not NLLs of discrete data and get no offset.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Iterable

import torch
from torch import Tensor

from ..base import GenerativeModel, LogProbKind, Support, eval_mode
from ..train import average_over

LN2 = math.log(2.0)


def nats_to_bpd(nats: float | Tensor, num_dims: int) -> float | Tensor:
    """Nats per example -> bits per dimension."""
    if num_dims < 1:
        raise ValueError(f"num_dims must be positive; got {num_dims}.")
    return nats / (num_dims * LN2)


def bpd_to_nats(bpd: float | Tensor, num_dims: int) -> float | Tensor:
    """Bits per dimension -> nats per example."""
    if num_dims < 1:
        raise ValueError(f"num_dims must be positive; got {num_dims}.")
    return bpd * num_dims * LN2


def dequantization_offset(num_dims: int, num_levels: int) -> float:
    """``D ln K``: nats that relate a density on dequantised data ``(level + u) / K`` to probabilities
    of the K-level data (each bin has volume ``K^-D``)."""
    if num_levels < 2:
        raise ValueError(f"num_levels must be at least 2; got {num_levels}.")
    return num_dims * math.log(num_levels)


def discrete_nll_bound(continuous_nll: float | Tensor, num_dims: int, num_levels: int) -> float | Tensor:
    """Upper bound on the discrete NLL (nats) from a dequantised density's NLL.

    ``continuous_nll`` is ``E_u[-log p((level + u) / K)]``, with the same noise model as in
    training; the result is that plus ``D ln K``.
    """
    return continuous_nll + dequantization_offset(num_dims, num_levels)


def uniform_nll(num_dims: int, num_levels: int) -> float:
    """NLL (nats) of the uniform model over K levels per dimension: the worst sensible score."""
    return dequantization_offset(num_dims, num_levels)


def mean_nll(model: GenerativeModel, loader: Iterable, **options: Any) -> float:
    """Average ``-model.log_prob(x, y=y, **options)`` over every example of ``loader``, in eval mode.

    For a discrete model this is in nats of the data; for a lower-bound model it is an *upper*
    bound on the NLL; for a continuous one it is the mean negative log-density. An ``(x, y)``
    loader passes its labels through. Unnormalised and likelihood-free models raise
    ``ValueError``: their numbers are not NLLs.
    """
    if model.log_prob_kind not in (LogProbKind.EXACT, LogProbKind.LOWER_BOUND):
        raise ValueError(
            f"{model.family} has a log_prob of kind {model.log_prob_kind.value!r}: it gives no NLL "
            "(an energy is known only up to log Z; a GAN has no density). Compare it with sample-quality metrics instead: "
            "pass its samples, e.g. fd_with_floor(model.sample(N), dataset) or precision_recall(real_features, sample_features)."
        )
    return average_over(model, loader, lambda x, y: -model.log_prob(x, y=y, **options).double())


# --------------------------------------------------------------------------- does it add up?
def all_images(shape: tuple[int, ...], num_levels: int = 2) -> Tensor:
    """Every image of ``shape`` with ``num_levels`` levels (at most 2^16 of them), on the course's scale,
    shape ``(K^D, *shape)``, in raster order (the first pixel varies slowest)."""
    d = math.prod(shape)
    if num_levels < 2:
        raise ValueError(f"num_levels must be at least 2; got {num_levels}.")
    if num_levels**d > 2**16:
        raise ValueError(f"{num_levels}^{d} images is too many to enumerate; use at most 2^16.")
    codes = torch.arange(num_levels**d).unsqueeze(1)
    digits = (codes // num_levels ** torch.arange(d - 1, -1, -1)) % num_levels  # most significant digit = first pixel
    return (digits.float() / (num_levels - 1)).view(-1, *shape)


@torch.no_grad()
def total_probability(model: GenerativeModel, num_levels: int | None = None, *, extent: float = 6.0, resolution: int = 400,
                      y: Tensor | int | None = None, **options: Any) -> float:
    """``sum_x exp(log_prob(x))`` over every image of a tiny discrete model, or the integral of
    ``exp(log_prob)`` over ``[-extent, extent]^2`` on a ``resolution``-square grid for a 2-D
    continuous one: 1 for a normalised model (a bound gives less).
    """
    if model.support is Support.DISCRETE:
        k = num_levels or getattr(model.cfg, "num_levels", 2)
        x = all_images(model.event_shape, k).to(model.device)
        lp = _log_prob(model, x, y, options)
        return torch.logsumexp(lp.double(), 0).exp().item()
    if model.event_shape != (2,):
        raise ValueError(f"total_probability integrates 2-D densities on a grid; this model's event_shape is {model.event_shape}.")
    ticks = torch.linspace(-extent, extent, resolution, dtype=torch.float64)
    cell = (ticks[1] - ticks[0]).item() ** 2
    gx, gy = torch.meshgrid(ticks, ticks, indexing="xy")
    pts = torch.stack([gx.reshape(-1), gy.reshape(-1)], 1).float().to(model.device)
    lp = torch.cat([_log_prob(model, chunk, y, options) for chunk in pts.split(20_000)])
    return (torch.logsumexp(lp.double(), 0).exp() * cell).item()


def _log_prob(model: GenerativeModel, x: Tensor, y: Tensor | int | None, options: dict[str, Any]) -> Tensor:
    with eval_mode(model):
        return model.log_prob(x, y=model.labels(y, x.shape[0]), **options)


def log_density_fn(model: GenerativeModel, **options: Any) -> Callable[[Tensor], Tensor]:
    """``points -> log_prob(points)`` of a 2-D continuous model in eval mode, for the density plots."""

    def f(points: Tensor) -> Tensor:
        return _log_prob(model, points.to(model.device), None, options)

    return f
