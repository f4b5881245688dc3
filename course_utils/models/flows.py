"""Normalising flows: an invertible network ``x = f(z)`` pushes a standard normal ``z`` to the data,
and the change of variables gives the exact density

    log p(x) = log N(f^{-1}(x); 0, I) - log |det df/dz|  at z = f^{-1}(x).

Papers: Dinh, Sohl-Dickstein & Bengio (2017), *Density estimation using Real NVP*; Kingma &
Dhariwal (2018), *Glow*; Papamakarios, Pavlakou & Murray (2017), *Masked Autoregressive Flow*;
Kingma et al. (2016), *Improved Variational Inference with Inverse Autoregressive Flow*;
Papamakarios et al. (2021), *Normalizing Flows for Probabilistic Modeling and Inference* (the
review); Ho et al. (2019), *Flow++* (variational dequantisation). The layers are in
:mod:`course_utils.nn.invertible` (direction and vocabulary of ``torch.distributions``).

Two families:

- ``flow`` (:class:`Flow`): points in R^d (the 2-D toys). ``log_prob`` is the exact
  **log-density** (``Support.CONTINUOUS``): ``exp(log_prob)`` integrates to 1.
- ``image-flow`` (:class:`ImageFlow`): images with ``K`` grey levels. The flow is a density ``p``
  on *dequantised* images ``v = (level + u) / K`` in [0, 1)^D (``course_utils.data.dequantize``,
  the course's one pixel scale), and ``log_prob(x)`` is a **stochastic lower bound on log P(x)**,
  the probability of the discrete image (``Support.DISCRETE``, ``LogProbKind.LOWER_BOUND``):

      log P(x) = log E_{u ~ q}[ p((level + u) / K) / q(u | x) ] - D ln K
               >= E_{u ~ q}[ log p((level + u) / K) - log q(u | x) ] - D ln K        (Jensen).

  With uniform dequantisation ``q = 1`` on [0, 1)^D, the bound is ``E_u[log p(dequantize(x))] - D ln K``.
  ``log_prob(x, k=1, draws=1, generator=None)`` returns, per image, the mean over ``draws``
  independent estimates of ``log (1/k) sum_{i<=k} p(v_i) / q(u_i | x) - D ln K``: with ``k = 1`` an
  unbiased estimate of the bound above, with ``k > 1`` of the tighter importance-weighted bound
  (Burda et al. 2016), which rises towards log P(x) as ``k`` grows. Each *estimate* is random and
  may exceed log P(x); its *expectation* cannot. The noise comes from ``generator`` when given
  (else from the global random state of the model's device). The offset ``D ln K`` is
  :func:`course_utils.evaluation.likelihood.dequantization_offset`.
  ``dequantization="variational"`` learns ``q(u | x)``, a conditional flow squashed into the unit
  cube (Ho et al. 2019), trained jointly on the same bound.

Training stops with :class:`~course_utils.train.NonFiniteLossError` naming the step and the layer
when a layer's log-det becomes NaN or infinite; nothing is clipped to hide it.

| here              | math                                  | shape     |
|-------------------|---------------------------------------|-----------|
| ``z``             | base sample, N(0, I)                  | (B, D)    |
| ``x``             | data point (``flow``) / image on the pixel grid (``image-flow``) | (B, D) / (B, C, H, W) |
| ``v``             | dequantised image, (level + u) / K    | (B, D)    |
| ``u``             | dequantisation noise in [0, 1)^D      | (B, D)    |
| ``log_det``       | log \\|det df/dz\\|                   | (B,)      |
| ``log_q``         | log q(u \\| x) (0 for uniform noise)  | (B,)      |
| ``k``, ``draws``  | importance samples, independent estimates averaged | int |
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..base import GenerativeModel, LogProbKind, Support, check_images, check_points
from ..data import dequantize, to_levels
from ..draws import normal
from ..evaluation.likelihood import dequantization_offset
from ..nn.invertible import (ActNorm, AffineCoupling, Bijection, FlowSequence, LULinear, MaskedAffineAutoregressive, Permutation,
                             Sigmoid, checkerboard_mask, standard_normal_log_prob)
from ..train import NonFiniteLossError

TRANSFORMS = ("realnvp", "glow", "maf", "iaf")


def build_flow(dim: int, transform: str, num_layers: int, hidden: tuple[int, ...], *, masks: list[Tensor] | None = None,
               actnorm: bool = True, dropout: float = 0.0, seed: int = 0) -> FlowSequence:
    """``num_layers`` blocks, listed from the noise side: each is a coupling (``realnvp``), a coupling
    and an LU linear map (``glow``), or a MAF / IAF layer and a reversal of the order (``maf`` / ``iaf``),
    followed by an ActNorm (if ``actnorm``), so that the data side starts with a normalisation.
    ``masks`` (coupling layers) are used in turn; by default the two halves of the coordinates alternate."""
    if transform not in TRANSFORMS:
        raise ValueError(f"transform must be one of {', '.join(TRANSFORMS)}; got {transform!r}.")
    if masks is None:
        half = (torch.arange(dim) < dim // 2).float()
        masks = [half, 1 - half]
    layers: list[Bijection] = []
    for i in range(num_layers):
        if transform in ("realnvp", "glow"):
            layers.append(AffineCoupling(dim, masks[i % len(masks)], hidden, dropout=dropout))
            if transform == "glow":
                layers.append(LULinear(dim, seed=1000 * seed + i))
        else:
            maf = MaskedAffineAutoregressive(dim, hidden, seed=1000 * seed + i)
            layers += [maf if transform == "maf" else maf.inv, Permutation.reverse(dim)]
        if actnorm:
            layers.append(ActNorm(dim))
    return FlowSequence(layers)


def checked_log_density(flow: FlowSequence, v: Tensor, context: Tensor | None = None, *, step: int | None = None, family: str = "flow") -> Tensor:
    """``log N(f^{-1}(v)) - log_det``, shape (B,). With ``step`` (training), a non-finite log-det of
    any layer raises :class:`NonFiniteLossError` naming the step and the layer."""
    values, log_dets = flow.inverse_steps(v, context)
    if step is not None:
        for i, ld in enumerate(log_dets):
            if not bool(torch.isfinite(ld).all()):
                index = len(flow.layers) - 1 - i
                raise NonFiniteLossError(
                    f"the log-det of layer {index} ({type(flow.layers[index]).__name__}) of {family} became non-finite at step {step}: "
                    "lower the learning rate or check the data; nothing is clipped."
                )
    return standard_normal_log_prob(values[-1]) - torch.stack(log_dets).sum(0)


# --------------------------------------------------------------------------- points
@dataclass
class FlowConfig:
    dim: int = 2  # d
    transform: str = "realnvp"  # "realnvp" | "glow" | "maf" | "iaf"
    num_layers: int = 8
    hidden: tuple[int, ...] = (64, 64)  # hidden sizes of each layer's network
    actnorm: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        self.hidden = tuple(int(h) for h in self.hidden)
        if self.dim < 2:
            raise ValueError(f"dim must be at least 2 (a coupling needs two groups of coordinates); got {self.dim}.")
        if self.transform not in TRANSFORMS:
            raise ValueError(f"transform must be one of {', '.join(TRANSFORMS)}; got {self.transform!r}.")
        if self.num_layers < 1 or any(h < 1 for h in self.hidden):
            raise ValueError(f"num_layers and hidden sizes must be positive; got {self.num_layers}, {self.hidden}.")


class Flow(GenerativeModel):
    """A flow on points in R^d; ``log_prob`` is the exact log-density (``Support.CONTINUOUS``)."""

    family = "flow"
    log_prob_kind = LogProbKind.EXACT
    support = Support.CONTINUOUS

    def __init__(self, cfg: FlowConfig) -> None:
        super().__init__(cfg)
        self.flow = build_flow(cfg.dim, cfg.transform, cfg.num_layers, cfg.hidden, actnorm=cfg.actnorm, seed=cfg.seed)

    def log_prob(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """Exact log-density, shape (B,): one inverse pass (D passes for ``iaf``)."""
        self.labels(y, x.shape[0])
        check_points(x, self.cfg.dim)
        return checked_log_density(self.flow, x)

    def training_loss(self, x: Tensor, y: Tensor | None = None, *, step: int) -> Tensor:
        """Mean NLL of the batch; the first batch initialises the ActNorms (Glow's data-dependent init)."""
        self.labels(y, x.shape[0])
        check_points(x, self.cfg.dim)
        if self.flow.needs_initialization:
            self.flow.initialize(x)
        return -checked_log_density(self.flow, x, step=step, family=self.family).mean()

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, y: Tensor | None = None) -> Tensor:
        """``n`` points (n, d): ``z ~ N(0, I)``, then ``x = f(z)`` (one pass; D passes for ``maf``)."""
        self.labels(y, n)
        return self.flow(normal((n, self.cfg.dim), generator, self.device))

    @torch.no_grad()
    def unwarp(self, x: Tensor) -> list[Tensor]:
        """The data pushed back towards the noise, one layer at a time: ``[x, ..., z]`` (for figures)."""
        check_points(x, self.cfg.dim)
        return self.flow.inverse_steps(x)[0]

    def extra_repr(self) -> str:
        return super().extra_repr() + f", transform={self.cfg.transform!r}, num_layers={self.cfg.num_layers}"


# --------------------------------------------------------------------------- images
@dataclass
class ImageFlowConfig:
    shape: tuple[int, int, int] = (1, 8, 8)  # (C, H, W)
    num_levels: int = 17  # K
    transform: str = "realnvp"  # "realnvp" (checkerboard couplings) | "glow" (couplings and LU linear maps)
    num_layers: int = 10
    hidden: tuple[int, ...] = (256, 256)
    dropout: float = 0.0  # in the coupling networks, training only
    logit_alpha: float | None = 0.05  # the data side's logit pre-processing; None: none
    dequantization: str = "uniform"  # "uniform" | "variational" (Ho et al. 2019)
    deq_layers: int = 4  # couplings of the variational dequantiser q(u | x)
    deq_hidden: tuple[int, ...] = (128,)
    seed: int = 0

    def __post_init__(self) -> None:
        self.shape = tuple(int(s) for s in self.shape)
        self.hidden = tuple(int(h) for h in self.hidden)
        self.deq_hidden = tuple(int(h) for h in self.deq_hidden)
        if len(self.shape) != 3 or min(self.shape) < 1 or math.prod(self.shape) < 2:
            raise ValueError(f"shape must be (C, H, W) with at least 2 pixels; got {self.shape}.")
        if self.num_levels < 2:
            raise ValueError(f"num_levels must be at least 2; got {self.num_levels}.")
        if self.transform not in ("realnvp", "glow"):
            raise ValueError(f"an image flow's transform is 'realnvp' or 'glow'; got {self.transform!r}.")
        if self.dequantization not in ("uniform", "variational"):
            raise ValueError(f"dequantization must be 'uniform' or 'variational'; got {self.dequantization!r}.")
        if self.logit_alpha is not None and not 0 < self.logit_alpha < 0.5:
            raise ValueError(f"logit_alpha must be in (0, 0.5) or None; got {self.logit_alpha}.")
        if self.num_layers < 1 or self.deq_layers < 1:
            raise ValueError(f"num_layers and deq_layers must be positive; got {self.num_layers}, {self.deq_layers}.")

    @property
    def num_dims(self) -> int:
        return math.prod(self.shape)


def _checkerboards(shape: tuple[int, int, int]) -> list[Tensor]:
    c, h, w = shape
    board = checkerboard_mask(h, w).repeat(c)
    return [board, 1 - board]


class VariationalDequantizer(nn.Module):
    """``q(u | x)``: ``u = sigmoid(g(eps; x))``, ``eps ~ N(0, I)``, ``g`` a flow of couplings whose
    networks also see the image (Ho et al. 2019). ``log q(u | x) = log N(eps) - log |det du/deps|``."""

    def __init__(self, cfg: ImageFlowConfig) -> None:
        super().__init__()
        d = cfg.num_dims
        masks = _checkerboards(cfg.shape)
        couplings: list[Bijection] = [AffineCoupling(d, masks[i % 2], cfg.deq_hidden, context_dim=d) for i in range(cfg.deq_layers)]
        self.flow = FlowSequence(couplings + [Sigmoid()])

    def forward(self, x_flat: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """``(u, log_q)`` for images ``x_flat`` (B, D) in [0, 1]: u (B, D) in (0, 1), log q(u | x) (B,)."""
        eps = normal(tuple(x_flat.shape), generator, x_flat.device)
        u, log_det = self.flow.forward_and_log_det(eps, context=2 * x_flat - 1)
        return u, standard_normal_log_prob(eps) - log_det


class ImageFlow(GenerativeModel):
    """A RealNVP / Glow flow on dequantised images; ``log_prob`` is a stochastic lower bound on the
    log-probability of the discrete image (see the module docstring for exactly which)."""

    family = "image-flow"
    log_prob_kind = LogProbKind.LOWER_BOUND
    support = Support.DISCRETE

    def __init__(self, cfg: ImageFlowConfig) -> None:
        super().__init__(cfg)
        d = cfg.num_dims
        flow = build_flow(d, cfg.transform, cfg.num_layers, cfg.hidden, masks=_checkerboards(cfg.shape), dropout=cfg.dropout, seed=cfg.seed)
        if cfg.logit_alpha is not None:
            flow = FlowSequence([*flow.layers, Sigmoid(cfg.logit_alpha)])
        self.flow = flow
        self.dequantizer = VariationalDequantizer(cfg) if cfg.dequantization == "variational" else None

    @property
    def offset(self) -> float:
        """``D ln K``: nats between a density on [0, 1)^D and probabilities of the K-level images."""
        return dequantization_offset(self.cfg.num_dims, self.cfg.num_levels)

    def dequantize(self, x: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """``(v, log_q)``: dequantised images (B, D) in [0, 1) and log q(u | x) (B,) (0 for uniform noise)."""
        if self.dequantizer is None:
            v = dequantize(x, self.cfg.num_levels, generator).flatten(1)
            return v, v.new_zeros(v.shape[0])
        levels = to_levels(x, self.cfg.num_levels).flatten(1)
        u, log_q = self.dequantizer(x.flatten(1), generator)
        return (levels + u) / self.cfg.num_levels, log_q

    def log_weights(self, x: Tensor, n: int = 1, generator: torch.Generator | None = None, step: int | None = None) -> Tensor:
        """``log p(v_i) - log q(u_i | x) - D ln K`` for ``n`` dequantisation draws per image: (n, B)."""
        check_images(x, self.cfg.shape)
        to_levels(x, self.cfg.num_levels)  # a clear error for images off the pixel grid
        b = x.shape[0]
        v, log_q = self.dequantize(x.repeat(n, 1, 1, 1), generator)
        if step is not None and self.flow.needs_initialization:
            self.flow.initialize(v)
        log_p = checked_log_density(self.flow, v, step=step, family=self.family)
        return (log_p - log_q).view(n, b) - self.offset

    def log_prob(self, x: Tensor, y: Tensor | None = None, *, k: int = 1, draws: int = 1, generator: torch.Generator | None = None) -> Tensor:
        """A stochastic lower bound on log P(x) in nats, shape (B,): the mean over ``draws`` estimates,
        each ``log (1/k) sum_i p(v_i) / q(u_i | x) - D ln K`` over ``k`` dequantisation draws."""
        self.labels(y, x.shape[0])
        if k < 1 or draws < 1:
            raise ValueError(f"k and draws must be at least 1; got k={k}, draws={draws}.")
        w = self.log_weights(x, draws * k, generator).view(draws, k, x.shape[0])
        return (torch.logsumexp(w, 1) - math.log(k)).mean(0)

    def training_loss(self, x: Tensor, y: Tensor | None = None, *, step: int) -> Tensor:
        """The mean negative bound (k = 1) on one dequantisation draw; the first batch initialises the ActNorms."""
        self.labels(y, x.shape[0])
        return -self.log_weights(x, 1, step=step).mean()

    @torch.no_grad()
    def sample_continuous(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``v = f(z)``, ``z ~ N(0, I)``: samples of the density on dequantised images, (n, C, H, W)."""
        return self.flow(normal((n, self.cfg.num_dims), generator, self.device)).view(n, *self.cfg.shape)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, y: Tensor | None = None) -> Tensor:
        """``n`` images on the pixel grid, one pass: ``level = floor(K v)``, clamped to 0..K-1 (the
        logit pre-processing lets ``v`` leave [0, 1) slightly, a little mass the bound never counts)."""
        self.labels(y, n)
        k = self.cfg.num_levels
        levels = torch.floor(self.sample_continuous(n, generator) * k).clamp_(0, k - 1)
        return levels / (k - 1)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", transform={self.cfg.transform!r}, dequantization={self.cfg.dequantization!r}"
