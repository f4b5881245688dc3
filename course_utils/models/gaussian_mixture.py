"""A mixture of diagonal Gaussians in R^d: the simplest density model of continuous data.

``p(x) = sum_k pi_k N(x; mu_k, diag(sigma_k^2))``, with an exact log-density by log-sum-exp. It is
the baseline of the 2-D toys (flows, energy-based and score models must beat it), and with
:func:`eight_gaussians_truth` it is the *true* density of the ``eight_gaussians`` toy set, so a
model's KL from the truth can be estimated there.

| here          | math                | shape  |
|---------------|---------------------|--------|
| ``logits``    | log pi + const      | (K,)   |
| ``means``     | mu_k                | (K, d) |
| ``log_scales``| log sigma_k         | (K, d) |
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..base import GenerativeModel, LogProbKind, Support, check_points
from ..draws import categorical, normal

LOG_2PI = math.log(2 * math.pi)


@dataclass
class GaussianMixtureConfig:
    dim: int = 2  # d
    components: int = 8  # K
    init_scale: float = 1.0  # spread of the initial means (drawn from N(0, init_scale^2) with seed)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.dim < 1 or self.components < 1:
            raise ValueError(f"dim and components must be positive; got {self.dim}, {self.components}.")


class GaussianMixture(GenerativeModel):
    """A trainable mixture of diagonal Gaussians; ``log_prob`` is a log-density (``Support.CONTINUOUS``)."""

    family = "gaussian-mixture"
    log_prob_kind = LogProbKind.EXACT
    support = Support.CONTINUOUS

    def __init__(self, cfg: GaussianMixtureConfig) -> None:
        super().__init__(cfg)
        g = torch.Generator().manual_seed(cfg.seed)
        self.logits = nn.Parameter(torch.zeros(cfg.components))
        self.means = nn.Parameter(cfg.init_scale * torch.randn(cfg.components, cfg.dim, generator=g))
        self.log_scales = nn.Parameter(torch.zeros(cfg.components, cfg.dim))

    def log_prob(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """Exact log-density, shape (B,)."""
        self.labels(y, x.shape[0])
        check_points(x, self.cfg.dim)
        z = (x.unsqueeze(1) - self.means) / self.log_scales.exp()  # (B, K, d)
        log_comp = -0.5 * (z**2).sum(-1) - self.log_scales.sum(-1) - 0.5 * self.cfg.dim * LOG_2PI  # (B, K)
        return torch.logsumexp(torch.log_softmax(self.logits, 0) + log_comp, dim=1)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, y: Tensor | None = None) -> Tensor:
        """``n`` points (n, d): a component ``k ~ pi``, then ``mu_k + sigma_k * eps``."""
        self.labels(y, n)
        k = categorical(self.logits.expand(n, -1), generator)
        return self.means[k] + self.log_scales[k].exp() * normal((n, self.cfg.dim), generator, self.device)


def eight_gaussians_truth(radius: float = 2.0, std: float = 0.15) -> GaussianMixture:
    """The exact density of ``toy_2d("eight_gaussians")``: 8 equal Gaussians on a circle."""
    model = GaussianMixture(GaussianMixtureConfig(dim=2, components=8))
    angles = torch.arange(8) * (2 * math.pi / 8)
    with torch.no_grad():
        model.means.copy_(radius * torch.stack([angles.cos(), angles.sin()], 1))
        model.log_scales.fill_(math.log(std))
        model.logits.zero_()
    return model.eval()
