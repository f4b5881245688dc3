"""Embeddings of the noise level (time) and of class labels, for denoising networks.

The sinusoidal embedding is the Transformer's position encoding (Vaswani et al. 2017) applied to
the time of a diffusion (Ho et al. 2020): ``t`` is mapped to ``sin`` and ``cos`` of ``t`` at
geometrically spaced frequencies, then a small MLP turns that into a vector every block adds to
its features. Labels get a learned vector each, plus one extra **null label** (index
``num_classes``) that stands for "no label": classifier-free guidance (Ho & Salimans 2022) trains
one network for both ``p(x | y)`` and ``p(x)`` by replacing some labels with it.

| here      | meaning                                                        | shape      |
|-----------|----------------------------------------------------------------|------------|
| ``t``     | continuous time in [0, 1] (diffusion step / T, or flow time)     | (B,)       |
| ``scale`` | ``t`` is multiplied by it before the sines (1000: DDPM's step index) | scalar |
| ``y``     | labels in 0..num_classes (num_classes = the null label)        | (B,) int64 |
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def sinusoidal_embedding(t: Tensor, dim: int, *, scale: float = 1000.0, max_period: float = 10000.0) -> Tensor:
    """``[sin(scale t w_k), cos(scale t w_k)]`` for ``w_k = max_period^(-k / (dim/2))``: (B,) -> (B, dim).

    ``dim`` must be even. The frequencies run from 1 down to ``1 / max_period``, so both the step
    index and its fine differences are visible to the network.
    """
    if dim % 2:
        raise ValueError(f"dim must be even; got {dim}.")
    if t.ndim != 1:
        raise ValueError(f"t must have shape (B,); got {tuple(t.shape)}.")
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    angles = scale * t.float()[:, None] * freqs[None]  # (B, half)
    return torch.cat([angles.sin(), angles.cos()], dim=1)


class TimeEmbedding(nn.Module):
    """``t`` (B,) in [0, 1] -> (B, dim): sinusoids, then Linear-SiLU-Linear."""

    def __init__(self, dim: int, scale: float = 1000.0) -> None:
        super().__init__()
        self.dim, self.scale = dim, scale
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: Tensor) -> Tensor:
        return self.mlp(sinusoidal_embedding(t, self.dim, scale=self.scale))


class LabelEmbedding(nn.Module):
    """A learned vector per class and one for the null label (index ``num_classes``): (B,) -> (B, dim)."""

    def __init__(self, num_classes: int, dim: int) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be at least 1; got {num_classes}.")
        self.num_classes = num_classes
        self.table = nn.Embedding(num_classes + 1, dim)

    @property
    def null_label(self) -> int:
        return self.num_classes

    def forward(self, y: Tensor) -> Tensor:
        if y.dtype != torch.long or y.ndim != 1:
            raise ValueError(f"labels must be int64 of shape (B,); got {y.dtype} {tuple(y.shape)}.")
        if y.numel() and (int(y.min()) < 0 or int(y.max()) > self.num_classes):
            raise ValueError(f"labels must lie in 0..{self.num_classes} ({self.num_classes} is the null label); "
                             f"got values in {int(y.min())}..{int(y.max())}.")
        return self.table(y)


class ConditionEmbedding(nn.Module):
    """The vector every block of a denoiser receives: time embedding, plus a label embedding if any.

    ``forward(t, y=None)``: ``t`` (B,) -> (B, dim). With ``num_classes > 0``, ``y`` is required
    (use :attr:`null_label` for "no label").
    """

    def __init__(self, dim: int, num_classes: int = 0, *, time: bool = True, scale: float = 1000.0) -> None:
        super().__init__()
        if not time and num_classes == 0:
            raise ValueError("A condition embedding needs time, labels or both.")
        self.dim = dim
        self.time = TimeEmbedding(dim, scale) if time else None
        self.label = LabelEmbedding(num_classes, dim) if num_classes else None

    @property
    def null_label(self) -> int:
        if self.label is None:
            raise ValueError("This embedding takes no labels.")
        return self.label.null_label

    def forward(self, t: Tensor | None, y: Tensor | None = None) -> Tensor:
        parts = []
        if self.time is not None:
            if t is None:
                raise ValueError("This network is conditioned on time: pass t, shape (B,).")
            parts.append(self.time(t))
        if self.label is not None:
            if y is None:
                raise ValueError(f"This network is conditioned on labels: pass y (use {self.null_label} for no label).")
            parts.append(self.label(y))
        elif y is not None:
            raise ValueError("This network takes no labels; call it without y.")
        return parts[0] if len(parts) == 1 else parts[0] + parts[1]
