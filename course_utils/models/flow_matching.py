"""Flow matching / rectified flow on images: regress the velocity of a straight path from data to noise.

Lipman, Chen, Ben-Hamu, Nickel & Le (2023), *Flow Matching for Generative Modeling*; Liu, Gong & Liu
(2023), *Flow Straight and Fast: Learning to Generate and Transfer Data with Rectified Flow*.

Along ``x_s = (1 - s) x_0 + s eps`` (``s`` in [0, 1], data at 0, noise at 1) the velocity is
``dx/ds = eps - x_0``. A network ``v_theta(x_s, s)`` regresses it (``||v_theta - (eps - x_0)||^2`` at
``s ~ U[0, 1]``); its minimiser is ``E[eps - x_0 | x_s]``, the velocity field whose ODE carries the
noise distribution to the data distribution. Sampling integrates that ODE from s = 1 to 0 with Euler
steps (:class:`~course_utils.samplers.diffusion.FlowMatchEulerScheduler`), then rounds to the pixel
grid. The model has no likelihood here (``log_prob_kind = NONE``): an exact density would need the
divergence of ``v_theta`` integrated along the ODE, and a dequantised one to be a bound on discrete data.

| here          | Lipman et al. (2023)           | Liu et al. (2023) |
|---------------|--------------------------------|-------------------|
| ``s`` (sigma) | 1 - t (their t: noise 0 -> data 1) | 1 - t         |
| ``v_theta``   | -v_t                           | -v                |
| ``guidance``  | classifier-free guidance weight on the velocity (Ho & Salimans 2022) |  |
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from ..base import LogProbKind
from ..draws import normal
from ..samplers.diffusion import FlowMatchEulerScheduler
from .diffusion import ImageDenoiser, build_denoiser, check_denoiser_config


@dataclass
class FlowMatchingConfig:
    """Configuration of :class:`FlowMatching` (the network fields are DDPM's)."""

    shape: tuple[int, int, int] = (1, 8, 8)
    num_levels: int = 17
    num_classes: int = 0
    network: str = "mlp"
    width: int = 256
    depth: int = 3
    channels: tuple[int, ...] = (32, 64)
    blocks: int = 1
    dropout: float = 0.0
    cond_drop: float = 0.1

    def __post_init__(self) -> None:
        check_denoiser_config(self)


class FlowMatching(ImageDenoiser):
    """Conditional flow matching with straight paths (rectified flow); Euler sampling."""

    family = "flow-matching"
    log_prob_kind = LogProbKind.NONE

    def __init__(self, cfg: FlowMatchingConfig) -> None:
        super().__init__(cfg)
        self.net = build_denoiser(cfg, 1)

    def velocity(self, x: Tensor, s: Tensor | float, y: Tensor | None = None, guidance: float = 0.0) -> Tensor:
        """v_theta(x, s) (B, C, H, W) at flow times ``s`` ((B,) or a float in [0, 1]), with guidance."""
        s = torch.as_tensor(s, dtype=torch.float32, device=x.device)
        s = s.expand(x.shape[0]) if s.ndim == 0 else s
        return self.guided(lambda lab: self._call(x, s, lab), y, guidance)

    def _objective(self, x: Tensor, y: Tensor | None, train: bool) -> Tensor:
        x0 = self.to_model_scale(x)
        y = self.train_labels(y, x0.shape[0]) if train else self.labels(y, x0.shape[0])
        s = torch.rand(x0.shape[0], device=x0.device)
        noise = torch.randn_like(x0)
        x_s = FlowMatchEulerScheduler.add_noise(x0, noise, s)
        return F.mse_loss(self._call(x_s, s, y), noise - x0)

    def loss(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """The flow-matching regression loss at random flow times (labels kept)."""
        return self._objective(x, y, train=False)

    def training_loss(self, x: Tensor, y: Tensor | None = None, *, step: int) -> Tensor:
        return self._objective(x, y, train=True)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, y: Tensor | int | None = None, *, steps: int = 50,
               guidance: float = 0.0) -> Tensor:
        """``n`` images: eps ~ N(0, I), ``steps`` Euler steps of the ODE from s = 1 to 0, rounded to the grid."""
        y = self.labels(y, n)
        sch = FlowMatchEulerScheduler()
        sch.set_timesteps(steps, self.device)
        x = normal((n, *self.event_shape), generator, self.device)
        for s in sch.timesteps:
            x = sch.step(self.velocity(x, s.expand(n), y, guidance), s, x).prev_sample
        return self.to_images(x)
