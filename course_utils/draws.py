"""Random draws that honour an optional ``torch.Generator`` on any device.

A generator lives on one device and can only fill tensors there. The rule of the course: draw
the noise where the generator lives, then move it to where the model is. With no generator the
global RNG of the target device is used.
"""

from __future__ import annotations

import torch
from torch import Tensor


def _draw(fn, shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device | str) -> Tensor:
    if generator is None:
        return fn(shape, device=device)
    return fn(shape, generator=generator, device=generator.device).to(device)


def uniform(shape: tuple[int, ...], generator: torch.Generator | None = None, device: torch.device | str = "cpu") -> Tensor:
    """U[0, 1) noise of ``shape`` on ``device``."""
    return _draw(torch.rand, tuple(shape), generator, device)


def normal(shape: tuple[int, ...], generator: torch.Generator | None = None, device: torch.device | str = "cpu") -> Tensor:
    """Standard normal noise of ``shape`` on ``device``."""
    return _draw(torch.randn, tuple(shape), generator, device)


def categorical(logits: Tensor, generator: torch.Generator | None = None, dim: int = -1) -> Tensor:
    """One draw from ``Categorical(logits=logits)`` along ``dim``, by inverting the CDF.

    Returns int64 indices with ``dim`` removed, on ``logits.device``.
    """
    probs = torch.softmax(logits.float(), dim=dim)
    cdf = probs.cumsum(dim)
    u = uniform(cdf.select(dim, 0).shape, generator, logits.device).unsqueeze(dim)
    idx = (cdf < u * cdf.narrow(dim, -1, 1)).sum(dim)  # count of categories whose cdf lies below u
    return idx.clamp_(max=logits.shape[dim] - 1)


def bernoulli(probs: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """A float tensor of 0/1 draws with success probabilities ``probs``."""
    return (uniform(probs.shape, generator, probs.device) < probs).to(probs.dtype)
