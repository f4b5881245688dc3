"""Energy-based models trained by contrastive divergence with short-run Langevin dynamics and a replay buffer.

LeCun et al. (2006) for the energy view; Hinton (2002) for contrastive divergence; the recipe here
(Langevin negatives, a replay buffer of past chains, an energy-magnitude penalty) is Du & Mordatch
(2019), *Implicit generation and modeling with energy-based models*.

A network ``f_theta`` defines the energy ``E(x) = f_theta(x) / T`` and the model

    p(x) = exp(-E(x)) / Z,   Z = integral of exp(-E(x)) dx  (unknown).

``log_prob`` is ``-E(x)``, known only up to ``log Z``: its kind is *unnormalised*, so it ranks
inputs but is no likelihood, and ``mean_nll`` refuses it.

**Training.** The gradient of the mean NLL is ``E_data[grad E] - E_model[grad E]``: push the energy
of data down and the energy of the model's own samples up. ``loss`` estimates the second term with
negatives from ``steps`` Langevin updates (:mod:`course_utils.samplers.langevin`,
``x <- x - (eps/2) grad E(x) + sqrt(eps) xi``) started, for each example, from a replay buffer of
earlier negatives (a fresh uniform start with probability ``reinit``); the end states go back into
the buffer, so chains effectively run for many updates. ``alpha`` penalises ``f(x)^2`` on both sides,
which keeps the network's outputs of order one. Du & Mordatch write the sampler with a gradient step
``lambda`` and a noise ``sigma`` chosen apart: that is Langevin for ``exp(-f/T)`` with ``eps = sigma^2`` and
``T = sigma^2 / (2 lambda)``, which is why the energy has a temperature ``T``.

Two classes: :class:`EBM` for points in the cube [-box, box]^d (``Support.CONTINUOUS``; the 2-D toys;
restricting the model to a box makes Z finite whatever the network does far away) and
:class:`ImageEBM` for images on the course's pixel scale (an energy over the cube [0, 1]^D, Langevin
clamped to it; ``sample`` returns images on the grid of ``num_levels`` levels).

| here          | math / paper                                  |
|---------------|-----------------------------------------------|
| ``net``       | f_theta                                       |
| ``energy``    | E(x) = f_theta(x) / T                         |
| ``temperature`` | T = sigma^2 / (2 lambda) in Du & Mordatch   |
| ``step_size`` | eps = sigma^2 (Langevin step; noise sqrt(eps))  |
| ``buffer``    | the replay buffer B                           |
| ``alpha``     | weight of the penalty on f^2                  |
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from ..base import GenerativeModel, LogProbKind, Support, check_images, check_points
from ..draws import uniform
from ..nn.blocks import mlp
from ..samplers.langevin import langevin


@dataclass
class EBMConfig:
    """An energy MLP on points in R^dim."""

    dim: int = 2
    hidden: int = 128
    depth: int = 3  # hidden layers
    temperature: float = 1.0  # T: E = f / T
    step_size: float = 0.01  # eps of the Langevin negatives
    steps: int = 20  # Langevin steps per update
    sample_steps: int = 200  # Langevin steps of sample()
    buffer_size: int = 8192
    reinit: float = 0.05  # fraction of chains restarted from uniform noise at each update
    alpha: float = 0.1  # penalty on f(x)^2 (data and negatives)
    box: float = 4.0  # the model lives on the cube [-box, box]^dim: uniform starts there, Langevin clamped to it
    seed: int = 0

    def __post_init__(self) -> None:
        if self.dim < 1 or self.hidden < 1 or self.depth < 1:
            raise ValueError(f"dim, hidden and depth must be positive; got {self.dim}, {self.hidden}, {self.depth}.")
        _check_common(self)


@dataclass
class ImageEBMConfig:
    """An energy MLP on images with ``num_levels`` grey levels, on the course's scale [0, 1]."""

    shape: tuple[int, int, int] = (1, 8, 8)
    num_levels: int = 17
    hidden: int = 256
    depth: int = 2
    temperature: float = 1e-3
    step_size: float = 1e-4  # noise std 0.01 per pixel and step
    steps: int = 40
    sample_steps: int = 200
    buffer_size: int = 5000
    reinit: float = 0.05
    alpha: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        self.shape = tuple(int(s) for s in self.shape)
        if self.num_levels < 2 or self.hidden < 1 or self.depth < 1:
            raise ValueError(f"num_levels must be >= 2 and hidden, depth positive; got {self.num_levels}, {self.hidden}, {self.depth}.")
        _check_common(self)


def _check_common(cfg: EBMConfig | ImageEBMConfig) -> None:
    if not (cfg.temperature > 0 and cfg.step_size > 0):
        raise ValueError(f"temperature and step_size must be positive; got {cfg.temperature}, {cfg.step_size}.")
    if cfg.steps < 1 or cfg.sample_steps < 0 or cfg.buffer_size < 1:
        raise ValueError(f"steps and buffer_size must be positive, sample_steps >= 0; got {cfg.steps}, {cfg.sample_steps}, {cfg.buffer_size}.")
    if not 0 <= cfg.reinit <= 1 or cfg.alpha < 0:
        raise ValueError(f"reinit must lie in [0, 1] and alpha be >= 0; got {cfg.reinit}, {cfg.alpha}.")


class _EnergyModel(GenerativeModel):
    """What both energy models share: the energy, the Langevin negatives, the replay buffer, the CD loss."""

    log_prob_kind = LogProbKind.UNNORMALISED
    _clamp: tuple[float, float] | None = None

    def __init__(self, cfg: EBMConfig | ImageEBMConfig, in_features: int) -> None:
        super().__init__(cfg)
        self.net = mlp([in_features] + [cfg.hidden] * cfg.depth + [1])
        g = torch.Generator().manual_seed(cfg.seed)
        self.register_buffer("buffer", self._noise(cfg.buffer_size, g, torch.device("cpu")))

    # -- the energy ---------------------------------------------------------------------------
    def f(self, x: Tensor) -> Tensor:
        """The network's output f_theta(x), shape (B,); no input checks (used inside the sampler)."""
        return self.net(x.flatten(1)).squeeze(1)

    def energy(self, x: Tensor) -> Tensor:
        """E(x) = f_theta(x) / T, shape (B,)."""
        return self.f(x) / self.cfg.temperature

    def _check(self, x: Tensor) -> None:
        raise NotImplementedError

    def _noise(self, n: int, generator: torch.Generator | None, device: torch.device) -> Tensor:
        raise NotImplementedError

    def log_prob(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """Unnormalised: -E(x), shape (B,); log p(x) = -E(x) - log Z with log Z unknown."""
        self.labels(y, x.shape[0])
        self._check(x)
        return -self.energy(x)

    # -- the sampler -------------------------------------------------------------------------
    def langevin(self, x: Tensor, steps: int, generator: torch.Generator | None = None, **options) -> Tensor:
        """``steps`` Langevin updates of ``x`` at this model's step size (clamped to the data range for images)."""
        return langevin(x, step_size=self.cfg.step_size, steps=steps, log_prob=lambda z: -self.energy(z), generator=generator,
                        model=self, clamp=self._clamp, **options).x

    def negatives(self, n: int, generator: torch.Generator | None = None, *, update: bool = True) -> Tensor:
        """Short-run negatives: ``n`` chains from the replay buffer (or fresh noise with probability
        ``reinit``), ``steps`` Langevin updates each; with ``update`` they replace their buffer entries."""
        dev = self.buffer.device
        idx = (uniform((n,), generator, dev) * self.cfg.buffer_size).long().clamp_(max=self.cfg.buffer_size - 1)
        start = self.buffer[idx]
        fresh = uniform((n,), generator, dev) < self.cfg.reinit
        start = torch.where(fresh.view(-1, *[1] * (start.ndim - 1)), self._noise(n, generator, dev), start)
        x = self.langevin(start, self.cfg.steps, generator)
        if update:
            self.buffer[idx] = x
        return x

    def cd_loss(self, x_pos: Tensor, x_neg: Tensor) -> Tensor:
        """E(data).mean() - E(negatives).mean() + alpha * (f(data)^2 + f(negatives)^2).mean()."""
        f_pos, f_neg = self.f(x_pos), self.f(x_neg)
        T = self.cfg.temperature
        return (f_pos.mean() - f_neg.mean()) / T + self.cfg.alpha * (f_pos**2 + f_neg**2).mean()

    def loss(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """The contrastive-divergence loss. In training mode the negatives are fresh short-run chains,
        written back into the replay buffer; in evaluation mode (a validation loss) they are the
        buffer's first entries as they are: no sampling, nothing changed. Its value is not an NLL."""
        self.labels(y, x.shape[0])
        self._check(x)
        if self.training:
            x_neg = self.negatives(x.shape[0])
        else:
            x_neg = self.buffer[torch.arange(x.shape[0], device=self.buffer.device) % self.cfg.buffer_size]
        return self.cd_loss(x, x_neg)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, y: Tensor | None = None, *, steps: int | None = None,
               start: str = "noise") -> Tensor:
        """``n`` samples: ``steps`` (default ``sample_steps``) Langevin updates from uniform noise
        (``start="noise"``) or from random entries of the replay buffer (``start="buffer"``)."""
        self.labels(y, n)
        dev = self.buffer.device
        if start == "noise":
            x = self._noise(n, generator, dev)
        elif start == "buffer":
            idx = (uniform((n,), generator, dev) * self.cfg.buffer_size).long().clamp_(max=self.cfg.buffer_size - 1)
            x = self.buffer[idx]
        else:
            raise ValueError(f"start must be 'noise' or 'buffer'; got {start!r}.")
        return self._finish(self.langevin(x, self.cfg.sample_steps if steps is None else steps, generator))

    def _finish(self, x: Tensor) -> Tensor:
        return x


class EBM(_EnergyModel):
    """An energy-based model of points in R^d (``Support.CONTINUOUS``)."""

    family = "ebm"
    support = Support.CONTINUOUS

    def __init__(self, cfg: EBMConfig) -> None:
        super().__init__(cfg, cfg.dim)
        self._clamp = (-cfg.box, cfg.box)

    def _check(self, x: Tensor) -> None:
        check_points(x, self.cfg.dim)

    def _noise(self, n: int, generator: torch.Generator | None, device: torch.device) -> Tensor:
        return (uniform((n, self.cfg.dim), generator, device) * 2 - 1) * self.cfg.box


class ImageEBM(_EnergyModel):
    """An energy-based model of images on the course's scale; samples are put on the pixel grid."""

    family = "ebm-image"
    _clamp = (0.0, 1.0)

    def __init__(self, cfg: ImageEBMConfig) -> None:
        super().__init__(cfg, math.prod(cfg.shape))

    def _check(self, x: Tensor) -> None:
        check_images(x, self.cfg.shape)

    def _noise(self, n: int, generator: torch.Generator | None, device: torch.device) -> Tensor:
        return uniform((n, *self.cfg.shape), generator, device)

    def _finish(self, x: Tensor) -> Tensor:
        k = self.cfg.num_levels - 1
        return torch.round(x.clamp(0, 1) * k) / k
