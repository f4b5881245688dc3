"""Likelihood units: nats per example, bits per dimension, and the dequantisation offset.

Conventions of the course:

- A negative log-likelihood (NLL) is reported in **nats per example** of the *discrete* data
  (a binarised image, a 17-level 8x8 digit, an 8-bit image).
- **Bits per dimension** divide by the number of dimensions D and by ln 2:
  ``bpd = nats / (D ln 2)``. A binary image has at most 1 bit per pixel and an 8-bit one 8, so
  bits/dim on binarised MNIST and on 8-bit MNIST measure different things: never compare them.
- A **continuous** density p on images scaled to [0, 1] with K levels (a pixel's bin has width
  1/K) bounds the discrete NLL once the data are dequantised, ``x = (level + u) / K`` with
  ``u ~ U[0, 1)``: ``-log P(level) <= E_u[-log p(x)] - D ln K``. The continuous NLL alone can be
  negative; :func:`discrete_nll_bound` adds the offset. (On the [0, K) scale the offset is 0.)
"""

from __future__ import annotations

import math
from typing import Any, Iterable

import torch

from ..base import GenerativeModel, LogProbKind

LN2 = math.log(2.0)


def nats_to_bpd(nats: float | torch.Tensor, num_dims: int) -> float | torch.Tensor:
    """Nats per example -> bits per dimension."""
    if num_dims < 1:
        raise ValueError(f"num_dims must be positive; got {num_dims}.")
    return nats / (num_dims * LN2)


def bpd_to_nats(bpd: float | torch.Tensor, num_dims: int) -> float | torch.Tensor:
    """Bits per dimension -> nats per example."""
    if num_dims < 1:
        raise ValueError(f"num_dims must be positive; got {num_dims}.")
    return bpd * num_dims * LN2


def dequantization_offset(num_dims: int, num_levels: int) -> float:
    """``D ln K``: nats that relate a density on [0, 1]^D to probabilities of K-level data."""
    if num_levels < 2:
        raise ValueError(f"num_levels must be at least 2; got {num_levels}.")
    return num_dims * math.log(num_levels)


def discrete_nll_bound(continuous_nll: float | torch.Tensor, num_dims: int, num_levels: int) -> float | torch.Tensor:
    """Upper bound on the discrete NLL (nats) from a dequantised density's NLL on [0, 1] data.

    ``continuous_nll`` is ``E_u[-log p((level + u) / K)]``; the result is that plus ``D ln K``.
    """
    return continuous_nll + dequantization_offset(num_dims, num_levels)


def uniform_nll(num_dims: int, num_levels: int) -> float:
    """NLL (nats) of the uniform model over K levels per dimension: the worst sensible score."""
    return dequantization_offset(num_dims, num_levels)


@torch.no_grad()
def mean_nll(model: GenerativeModel, loader: Iterable, **options: Any) -> float:
    """Average ``-model.log_prob(x, **options)`` over every example of ``loader``, in nats.

    For a lower-bound model this is an *upper* bound on the NLL. Unnormalised and
    likelihood-free models raise ``ValueError``: their numbers are not NLLs.
    """
    if model.log_prob_kind not in (LogProbKind.EXACT, LogProbKind.LOWER_BOUND):
        raise ValueError(f"{model.family} has a log_prob of kind {model.log_prob_kind.value!r}: it gives no NLL.")
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    try:
        for batch in loader:
            batch = (batch,) if isinstance(batch, torch.Tensor) else tuple(batch)
            x = batch[0].to(model.device)
            lp = model.log_prob(x, **options)
            if lp.shape != (x.shape[0],):
                raise ValueError(f"{model.family}.log_prob must return one value per example, shape ({x.shape[0]},); got {tuple(lp.shape)}.")
            total += -lp.double().sum().item()
            count += x.shape[0]
    finally:
        model.train(was_training)
    if count == 0:
        raise ValueError("The loader is empty.")
    return total / count
