"""The fully factorised baseline: every pixel an independent categorical over K grey levels.

p(x) = prod_i Cat(level_i | softmax(theta_i)). With K = 2 it is the independent Bernoulli model
of binarised images. It is the simplest model with the course's interface, the baseline every
later model must beat, and it has a closed-form maximum-likelihood fit (smoothed counts), so a
trained one can be checked against the formula.

| here            | math                                  |
|-----------------|---------------------------------------|
| ``logits``      | theta, shape (K, C, H, W)             |
| ``to_levels``   | integer grey level of each pixel, 0..K-1 |
| ``alpha``       | additive (Laplace / Jeffreys) smoothing of the counts |
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..base import GenerativeModel, LogProbKind, check_images
from ..data import from_levels, to_levels
from ..draws import categorical


@dataclass
class IndependentConfig:
    shape: tuple[int, int, int] = (1, 28, 28)  # (C, H, W)
    num_levels: int = 2  # K: 2 for binarised images, 17 for the 8x8 digits

    def __post_init__(self) -> None:
        self.shape = tuple(int(s) for s in self.shape)  # a JSON round trip gives a list
        if self.num_levels < 2:
            raise ValueError(f"num_levels must be at least 2; got {self.num_levels}.")


class IndependentPixels(GenerativeModel):
    """Independent categorical pixels of images ``x`` on the course's scale, ``level / (K - 1)``."""

    family = "independent"
    log_prob_kind = LogProbKind.EXACT

    def __init__(self, cfg: IndependentConfig) -> None:
        super().__init__(cfg)
        self.logits = nn.Parameter(torch.zeros(cfg.num_levels, *cfg.shape))

    def log_prob(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """Exact log p(x) in nats, shape (B,)."""
        self.labels(y, x.shape[0])
        check_images(x, self.cfg.shape)
        lv = to_levels(x, self.cfg.num_levels)
        log_p = F.log_softmax(self.logits, dim=0)  # (K, C, H, W)
        picked = log_p.unsqueeze(0).expand(lv.shape[0], *log_p.shape).gather(1, lv.unsqueeze(1)).squeeze(1)
        return picked.flatten(1).sum(1)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, y: Tensor | None = None) -> Tensor:
        self.labels(y, n)
        logits = self.logits.movedim(0, -1).expand(n, *self.cfg.shape, self.cfg.num_levels)
        return from_levels(categorical(logits, generator), self.cfg.num_levels)

    @torch.no_grad()
    def fit_closed_form(self, x: Tensor, alpha: float = 0.5) -> "IndependentPixels":
        """Set the logits to the smoothed maximum-likelihood estimate from images ``x``.

        ``p_i(k) = (count_i(k) + alpha) / (N + K alpha)``; ``alpha = 0.5`` is Jeffreys' prior.
        """
        if alpha < 0:
            raise ValueError(f"alpha must be non-negative; got {alpha}.")
        check_images(x, self.cfg.shape)
        lv = to_levels(x.to(self.device), self.cfg.num_levels).flatten(1)  # (N, D)
        k = self.cfg.num_levels
        counts = torch.zeros(k, lv.shape[1], device=self.device).scatter_add_(0, lv, torch.ones_like(lv, dtype=torch.float32))  # (K, D), no one-hot
        self.logits.copy_((torch.log(counts + alpha) - math.log(x.shape[0] + k * alpha)).view_as(self.logits))
        return self
