"""A noise-conditional score network (NCSN) trained by denoising score matching, sampled by annealed Langevin dynamics.

Hyvärinen (2005) for score matching; Vincent (2011) for its denoising form; Song & Ermon (2019),
*Generative modeling by estimating gradients of the data distribution*, for the noise levels and
annealed Langevin dynamics (with the output scaled by 1/sigma, as in Song & Ermon 2020).

A score model learns ``s_theta(x, sigma) ~ grad_x log q_sigma(x)``, the score of the data blurred by
Gaussian noise of scale ``sigma``, ``q_sigma = p_data * N(0, sigma^2 I)``. It never needs a
normalising constant, and it has no likelihood: ``log_prob_kind`` is *none*.

**Denoising score matching.** For ``x~ = x + sigma z``, ``z ~ N(0, I)``, the score of the noising
kernel is ``-(x~ - x) / sigma^2 = -z / sigma``, and

    E || s(x~) + z / sigma ||^2  =  E || s(x~) - grad log q_sigma(x~) ||^2  +  a constant,

so regressing onto ``-z / sigma`` learns the score of ``q_sigma`` (Vincent 2011). Weighted by
``sigma^2`` and averaged over the noise levels, the loss is
``1/2 E_sigma E || sigma s(x~, sigma) + z ||^2``.

**Annealed Langevin dynamics** (Song & Ermon 2019, Algorithm 1): start from noise and run
``steps_per_scale`` Langevin steps at each level, from the largest sigma to the smallest, with step
``alpha_i = eps * sigma_i^2 / sigma_L^2``; large noise levels move samples between modes, small
ones sharpen them. ``denoise`` adds Tweedie's final step ``x + sigma_L^2 s(x, sigma_L)``.

| here              | paper (Song & Ermon 2019)                 |
|-------------------|-------------------------------------------|
| ``sigmas``        | {sigma_i}, i = 1..L, geometric, decreasing |
| ``score(x, s)``   | s_theta(x, sigma)                         |
| ``step_lr``       | epsilon                                   |
| ``steps_per_scale`` | T                                       |
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from ..base import GenerativeModel, LogProbKind, Support, check_points
from ..draws import normal
from ..nn.blocks import mlp
from ..samplers.langevin import langevin


@dataclass
class ScoreConfig:
    dim: int = 2
    hidden: int = 128
    depth: int = 3  # hidden layers
    sigma_max: float = 3.0  # sigma_1: about the largest distance between data points
    sigma_min: float = 0.05  # sigma_L: below the scale of the data's finest detail
    num_scales: int = 10  # L
    steps_per_scale: int = 100  # T
    step_lr: float = 2.5e-4  # epsilon: the Langevin step at sigma_min
    denoise: bool = True

    def __post_init__(self) -> None:
        if self.dim < 1 or self.hidden < 1 or self.depth < 1:
            raise ValueError(f"dim, hidden and depth must be positive; got {self.dim}, {self.hidden}, {self.depth}.")
        if not 0 < self.sigma_min <= self.sigma_max or self.num_scales < 1:
            raise ValueError(f"need 0 < sigma_min <= sigma_max and num_scales >= 1; got {self.sigma_min}, {self.sigma_max}, {self.num_scales}.")
        if self.steps_per_scale < 0 or not self.step_lr > 0:
            raise ValueError(f"steps_per_scale must be >= 0 and step_lr positive; got {self.steps_per_scale}, {self.step_lr}.")


class ScoreModel(GenerativeModel):
    """NCSN on points in R^d: ``score(x, sigma)``, the DSM ``loss``, annealed Langevin ``sample``; no likelihood."""

    family = "score"
    log_prob_kind = LogProbKind.NONE
    support = Support.CONTINUOUS

    def __init__(self, cfg: ScoreConfig) -> None:
        super().__init__(cfg)
        self.net = mlp([cfg.dim + 1] + [cfg.hidden] * cfg.depth + [cfg.dim])
        sigmas = torch.exp(torch.linspace(math.log(cfg.sigma_max), math.log(cfg.sigma_min), cfg.num_scales))
        self.register_buffer("sigmas", sigmas if cfg.num_scales > 1 else torch.tensor([cfg.sigma_min]))

    def score(self, x: Tensor, sigma: Tensor | float) -> Tensor:
        """s_theta(x, sigma) = net(x, log sigma) / sigma: (B, d); ``sigma`` a number or (B,)."""
        sigma = torch.as_tensor(sigma, dtype=x.dtype, device=x.device).expand(x.shape[0]).unsqueeze(1)  # (B, 1)
        return self.net(torch.cat([x, sigma.log()], 1)) / sigma

    def dsm_loss(self, x: Tensor, idx: Tensor, z: Tensor) -> Tensor:
        """1/2 mean over the batch of || sigma s(x + sigma z, sigma) + z ||^2, with sigma = sigmas[idx]."""
        sigma = self.sigmas[idx].unsqueeze(1)  # (B, 1)
        x_noisy = x + sigma * z
        return 0.5 * ((sigma * self.score(x_noisy, sigma.squeeze(1)) + z) ** 2).sum(1).mean()

    def loss(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """Denoising score matching with a random noise level per example (global random state)."""
        self.labels(y, x.shape[0])
        check_points(x, self.cfg.dim)
        idx = torch.randint(0, self.cfg.num_scales, (x.shape[0],), device=x.device)
        return self.dsm_loss(x, idx, torch.randn_like(x))

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, y: Tensor | None = None, *,
               steps_per_scale: int | None = None) -> Tensor:
        """Annealed Langevin dynamics from N(0, sigma_1^2 I), then Tweedie's denoising step (if ``denoise``)."""
        self.labels(y, n)
        steps = self.cfg.steps_per_scale if steps_per_scale is None else steps_per_scale
        x = self.sigmas[0] * normal((n, self.cfg.dim), generator, self.sigmas.device)
        for sigma in self.sigmas.tolist():
            alpha = self.cfg.step_lr * sigma**2 / self.cfg.sigma_min**2
            if steps:
                x = langevin(x, step_size=alpha, steps=steps, score=lambda z, s=sigma: self.score(z, s), generator=generator, model=self).x
        if self.cfg.denoise:
            x = x + self.cfg.sigma_min**2 * self.score(x, self.cfg.sigma_min)
        return x

