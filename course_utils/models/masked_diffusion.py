"""Masked (absorbing-state) discrete diffusion: noise is a [MASK] token, denoising fills pixels back in.

Austin, Johnson, Ho, Tarlow & van den Berg (2021), *Structured Denoising Diffusion Models in Discrete
State-Spaces* (D3PM, the absorbing state); Sahoo et al. (2024), *Simple and Effective Masked Diffusion
Language Models* (MDLM: the continuous-time bound, no time input, unmasked tokens carried over).

Each pixel takes one of K levels or the extra state [MASK] (index K). The forward process masks every
pixel independently: at time ``t`` in [0, 1] a pixel is still itself with probability ``alpha_t = 1 - t``.
The network sees the partly masked image and outputs, for every pixel, a distribution over its K
levels, ``p_theta(x_i | z)``; pixels that are not masked are copied, never changed. The continuous-time
bound (Sahoo et al. 2024, eq. 10 with ``alpha_t = 1 - t``) is

    log p(x) >= E_{t ~ U(0,1)} E_{z ~ q(z_t | x)} [ (1/t) sum_{i masked} log p_theta(x_i | z) ].

Given ``m`` masked pixels, ``t`` integrates out: ``int (1/t) t^m (1 - t)^(D-m) dt = (m-1)! (D-m)! / D!``,
so the bound is, exactly,

    ELBO(x) = sum_{m=1}^{D} (1/m) E_{M: |M| = m} [ sum_{i in M} log p_theta(x_i | x outside M) ]
            = E_{m ~ U{1..D}} [ (D/m) E_M [ ... ] ],

the bound of an order-agnostic autoregressive model (Uria et al. 2014; Hoogeboom et al. 2022): mask
``m`` pixels chosen at random, score them given the rest. ``log_prob`` estimates it without bias from
``draws`` strata of ``m`` per image (finite variance, unlike the 1/t form); :meth:`elbo_by_enumeration`
computes it exactly on tiny images. Sampling runs the reverse process: from all-masked, ``steps``
times, reveal each masked pixel with probability ``(t - s) / t`` and draw its level from the network.

| here           | Sahoo et al. (2024)                        |
|----------------|--------------------------------------------|
| ``MASK`` = K   | m, the mask token                          |
| ``z``          | z_t, the partly masked image (int levels, K = masked) |
| ``t``          | t; ``alpha_t = 1 - t``                     |
| ``logits(z)``  | x_theta(z_t), without its mask entry      |
| ``m``, ``D``   | number of masked pixels, number of pixels  |
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from ..base import GenerativeModel, LogProbKind, check_images
from ..data import to_levels
from ..draws import categorical, uniform
from ..nn.unet import UNet


@dataclass
class MaskedDiffusionConfig:
    """Configuration of :class:`MaskedDiffusion`: images of ``shape`` with ``num_levels`` levels, a time-free U-Net."""

    shape: tuple[int, int, int] = (1, 28, 28)
    num_levels: int = 2
    channels: tuple[int, ...] = (32, 64)
    blocks: int = 1
    dropout: float = 0.0

    def __post_init__(self) -> None:
        self.shape = tuple(int(s) for s in self.shape)
        self.channels = tuple(int(c) for c in self.channels)
        if len(self.shape) != 3:
            raise ValueError(f"shape must be (C, H, W); got {self.shape}.")
        if self.num_levels < 2:
            raise ValueError(f"num_levels must be at least 2; got {self.num_levels}.")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1); got {self.dropout}.")

    @property
    def num_dims(self) -> int:
        return math.prod(self.shape)


class MaskedDiffusion(GenerativeModel):
    """Absorbing-state diffusion on images with K levels; see the module docstring."""

    family = "masked-diffusion"
    log_prob_kind = LogProbKind.LOWER_BOUND

    def __init__(self, cfg: MaskedDiffusionConfig) -> None:
        super().__init__(cfg)
        c, k = cfg.shape[0], cfg.num_levels
        self.net = UNet(c * (k + 1), c * k, cfg.channels, blocks=cfg.blocks, time=False, dropout=cfg.dropout)

    @property
    def MASK(self) -> int:
        return self.cfg.num_levels

    @property
    def D(self) -> int:
        return self.cfg.num_dims

    # -- the network -----------------------------------------------------------------------------
    def logits(self, z: Tensor) -> Tensor:
        """``z`` (B, C, H, W) int64 in 0..K (K = masked) -> logits (B, C, H, W, K) over each pixel's levels."""
        b, (c, h, w), k = z.shape[0], self.cfg.shape, self.cfg.num_levels
        onehot = F.one_hot(z, k + 1).permute(0, 1, 4, 2, 3).reshape(b, c * (k + 1), h, w).float()
        return self.net(onehot).reshape(b, k, c, h, w).permute(0, 2, 3, 4, 1)

    def levels_of(self, x: Tensor) -> Tensor:
        check_images(x, self.event_shape)
        return to_levels(x, self.cfg.num_levels)

    def mask_exactly(self, levels: Tensor, m: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Mask ``m[b]`` pixels of image ``b``, chosen uniformly at random: a bool mask (B, C, H, W)."""
        b = levels.shape[0]
        ranks = uniform((b, self.D), generator, levels.device).argsort(1).argsort(1)  # a random permutation per row
        return (ranks < m[:, None]).reshape(levels.shape)

    def masked_term(self, levels: Tensor, masked: Tensor) -> Tensor:
        """``sum_{i masked} log p_theta(x_i | x outside the mask)`` per example, (B,)."""
        z = torch.where(masked, torch.full_like(levels, self.MASK), levels)
        logp = torch.log_softmax(self.logits(z), -1).gather(-1, levels.unsqueeze(-1)).squeeze(-1)
        return (logp * masked).flatten(1).sum(1)

    # -- the bound -------------------------------------------------------------------------------------
    def log_prob(self, x: Tensor, y: Tensor | None = None, *, draws: int = 1, generator: torch.Generator | None = None) -> Tensor:
        """An unbiased estimate of the ELBO on log p(x) in nats, (B,): ``draws`` strata of the number of
        masked pixels m in 1..D, one m in each, ``(stratum size / m) * sum_{masked} log p``."""
        self.labels(y, x.shape[0])
        levels = self.levels_of(x)
        if not 1 <= draws <= self.D:
            raise ValueError(f"draws must lie in 1..{self.D}; got {draws}.")
        b, dev = levels.shape[0], levels.device
        edges = torch.linspace(1, self.D + 1, draws + 1).round().long().tolist()
        total = torch.zeros(b, device=dev)
        for lo, hi in zip(edges[:-1], edges[1:]):
            m = lo + (uniform((b,), generator, dev) * (hi - lo)).long().clamp(max=hi - lo - 1)
            total = total + (hi - lo) / m.float() * self.masked_term(levels, self.mask_exactly(levels, m, generator))
        return total

    @torch.no_grad()
    def elbo_by_enumeration(self, x: Tensor) -> Tensor:
        """The bound exactly, by summing over every mask: ``sum_M (m-1)!(D-m)!/D! sum_{i in M} log p`` (D <= 12)."""
        if self.D > 12:
            raise ValueError(f"Enumerating 2^{self.D} masks is too many; this is for tiny images (D <= 12).")
        levels = self.levels_of(x)
        total = torch.zeros(levels.shape[0], device=levels.device, dtype=torch.float64)
        for bits in itertools.product([False, True], repeat=self.D):
            m = sum(bits)
            if m == 0:
                continue
            masked = torch.tensor(bits, device=levels.device).reshape(1, *self.event_shape).expand_as(levels)
            weight = math.factorial(m - 1) * math.factorial(self.D - m) / math.factorial(self.D)
            total += weight * self.masked_term(levels, masked).double()
        return total.float()

    def _objective(self, x: Tensor, y: Tensor | None) -> Tensor:
        """Negative bound per image, one stratified m per example across the batch (low discrepancy)."""
        self.labels(y, x.shape[0])
        levels = self.levels_of(x)
        b, dev = levels.shape[0], levels.device
        u = (torch.rand((), device=dev) + torch.arange(b, device=dev)) / b  # one uniform, spread over the batch
        m = (u[torch.randperm(b, device=dev)] * self.D).long().clamp(0, self.D - 1) + 1
        return -(self.D / m.float() * self.masked_term(levels, self.mask_exactly(levels, m))).mean()

    def loss(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """The negative ELBO per image, estimated with one number of masked pixels per image."""
        return self._objective(x, y)

    # -- sampling --------------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, y: Tensor | int | None = None, *, steps: int = 64) -> Tensor:
        """``n`` images by the reverse process in ``steps`` steps: from all-masked, at each step from t = k/S
        to s = (k-1)/S reveal every masked pixel with probability (t - s)/t = 1/k and draw its level."""
        self.labels(y, n)
        if steps < 1:
            raise ValueError(f"steps must be positive; got {steps}.")
        z = torch.full((n, *self.event_shape), self.MASK, dtype=torch.long, device=self.device)
        for k in range(steps, 0, -1):
            masked = z == self.MASK
            reveal = masked & (uniform(tuple(z.shape), generator, self.device) < 1.0 / k)
            if bool(reveal.any()):
                draw = categorical(self.logits(z), generator)
                z = torch.where(reveal, draw, z)
        return z.float() / (self.cfg.num_levels - 1)
