"""Invertible layers for normalising flows, in the direction and vocabulary of ``torch.distributions``.

**Direction.** Every layer maps noise to data, ``x = f(z)``: ``forward`` (the module's call) is the
*generative* direction, ``inverse`` the *normalising* one (data to noise), as for a
``torch.distributions.Transform``. ``log_det`` always means ``log |det df/dz|`` of the *forward*
map, wherever it is evaluated, so a density is always

    log p_x(x) = log p_z(z) - log_det,    z = f^{-1}(x).

| method                         | returns                                                   |
|--------------------------------|-----------------------------------------------------------|
| ``forward(z)`` / ``layer(z)``  | ``x = f(z)``                                              |
| ``inverse(x)``                 | ``z = f^{-1}(x)``                                         |
| ``log_abs_det_jacobian(z, x)`` | ``log |det df/dz|`` at ``z`` (``x = f(z)``), shape ``(B,)`` (``torch.distributions``' name and argument order) |
| ``forward_and_log_det(z)``     | ``(x, log_det)`` in one pass                              |
| ``inverse_and_log_det(x)``     | ``(z, log_det)`` in one pass; still the *forward* log-det |
| ``inv``                        | the inverse layer (``f^{-1}`` as a layer; its log-det is ``-log_det``) |

Every method takes an optional ``context`` (a conditioning tensor, ``(B, C)``): only the coupling
layers use it (the variational dequantiser of a flow conditions on the image). Inputs are flat
vectors ``(B, D)``; image flows flatten ``(B, 1, H, W)`` to ``(B, H W)``.

| layer                           | x = f(z)                                                 | log_det                       | paper |
|---------------------------------|----------------------------------------------------------|-------------------------------|-------|
| ``AffineCoupling``              | ``x_a = z_a``, ``x_b = z_b * exp(s(z_a)) + t(z_a)``       | ``sum_b s``                   | Dinh et al. 2017 (RealNVP) |
| ``ActNorm``                     | ``x = z * exp(log_scale) + bias``, initialised from data  | ``sum log_scale``             | Kingma & Dhariwal 2018 (Glow) |
| ``Permutation``                 | ``x = z[:, perm]``                                        | 0                             | Dinh et al. 2017 |
| ``LULinear``                    | ``x = W z``, ``W = P L (U + diag(sign exp(log_s)))``      | ``sum log_s``                 | Glow (the invertible 1x1 convolution, LU form) |
| ``Sigmoid``                     | ``x = (sigmoid(z) - alpha) / (1 - 2 alpha)``              | ``sum log sigma'(z) - D log(1 - 2 alpha)`` | RealNVP's logit pre-processing, read backwards |
| ``MaskedAffineAutoregressive``  | ``x_d = z_d exp(a_d(x_<d)) + m_d(x_<d)``: MAF, D passes to sample, one to evaluate | ``sum a_d`` | Papamakarios et al. 2017 |
| ``....inv`` of the above        | IAF: one pass to sample, D passes to evaluate             | ``-(sum a_d)``                | Kingma et al. 2016 |

| here          | RealNVP / Glow / MAF paper          |
|---------------|-------------------------------------|
| ``mask``      | b (1: passed through, conditions the rest) |
| ``s``, ``t``  | s, t (log-scale and shift)          |
| ``log_scale``, ``bias`` | log s, b of ActNorm       |
| ``mu``, ``alpha`` | mu_i, alpha_i of MAF            |

The log-scales of the coupling and autoregressive layers are ``scale * tanh(raw)``, bounded by a
learnt ``scale`` (RealNVP's choice): part of the model, counted exactly in ``log_det``. Nothing here
clips a value that went wrong: a non-finite log-det reaches the model, which stops training and
says at which step (:mod:`course_utils.models.flows`).

**ActNorm's data-dependent initialisation** is explicit: ``FlowSequence.initialize(x)`` runs the
inverse pass on a batch of data and sets every ActNorm it meets (not yet initialised) so that its
output has zero mean and unit variance per feature. The flow models call it on their first
training batch; until then an ActNorm is the identity (or whatever its parameters say).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .blocks import mlp
from .masked import MaskedLinear, made_degrees, made_masks

__all__ = [
    "ActNorm", "AffineCoupling", "Bijection", "FlowSequence", "InverseBijection", "LULinear", "MaskedAffineAutoregressive", "Permutation",
    "Sigmoid", "checkerboard_mask", "standard_normal_log_prob",
]

LOG_2PI = math.log(2 * math.pi)


def standard_normal_log_prob(z: Tensor) -> Tensor:
    """``log N(z; 0, I)`` summed over the last dimension: ``(B, D) -> (B,)``."""
    return -0.5 * (z**2).sum(-1) - 0.5 * z.shape[-1] * LOG_2PI


def checkerboard_mask(height: int, width: int, parity: int = 0) -> Tensor:
    """The flattened (H W,) checkerboard of RealNVP: 1 where ``(row + col) % 2 == parity``."""
    rows, cols = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    return ((rows + cols) % 2 == parity).float().flatten()


class Bijection(nn.Module):
    """An invertible layer ``x = f(z)`` with a tractable ``log |det df/dz|`` (see the module docstring).

    Subclasses implement ``forward_and_log_det`` and ``inverse_and_log_det``; the other methods follow.
    """

    def forward_and_log_det(self, z: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def inverse_and_log_det(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def forward(self, z: Tensor, context: Tensor | None = None) -> Tensor:
        """``x = f(z)``, shape (B, D)."""
        return self.forward_and_log_det(z, context)[0]

    def inverse(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """``z = f^{-1}(x)``, shape (B, D)."""
        return self.inverse_and_log_det(x, context)[0]

    def log_abs_det_jacobian(self, z: Tensor, x: Tensor, context: Tensor | None = None) -> Tensor:
        """``log |det df/dz|`` at ``z``, where ``x = f(z)``: shape (B,). Layers that can read it off
        ``x`` alone (MAF) or ``z`` alone (couplings) override this to save a pass."""
        return self.forward_and_log_det(z, context)[1]

    @property
    def inv(self) -> "InverseBijection":
        """This layer run backwards: ``layer.inv(x) == layer.inverse(x)``."""
        return InverseBijection(self)


class InverseBijection(Bijection):
    """``f^{-1}`` as a layer: forward and inverse swapped, log-det negated."""

    def __init__(self, base: Bijection) -> None:
        super().__init__()
        self.base = base

    def forward_and_log_det(self, z: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        x, log_det_base = self.base.inverse_and_log_det(z, context)
        return x, -log_det_base

    def inverse_and_log_det(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        z, log_det_base = self.base.forward_and_log_det(x, context)
        return z, -log_det_base

    def log_abs_det_jacobian(self, z: Tensor, x: Tensor, context: Tensor | None = None) -> Tensor:
        return -self.base.log_abs_det_jacobian(x, z, context)

    @property
    def inv(self) -> Bijection:
        return self.base


# --------------------------------------------------------------------------- coupling
class AffineCoupling(Bijection):
    """RealNVP's affine coupling layer on (B, D) vectors.

    The coordinates where ``mask == 1`` pass through and condition the others:
    ``x = mask * z + (1 - mask) * (z * exp(s) + t)`` with ``(s, t) = net(mask * z [, context])``,
    ``s = scale * tanh(raw)``. ``log_det = sum((1 - mask) * s)``. The last layer of ``net`` starts
    at zero, so a new layer is the identity.
    """

    def __init__(self, dim: int, mask: Tensor, hidden: tuple[int, ...] = (64, 64), context_dim: int = 0, dropout: float = 0.0) -> None:
        super().__init__()
        mask = torch.as_tensor(mask, dtype=torch.float32).flatten()
        if mask.numel() != dim or not bool(((mask == 0) | (mask == 1)).all()):
            raise ValueError(f"mask must hold {dim} zeros and ones; got shape {tuple(mask.shape)}.")
        if mask.sum() == 0 or mask.sum() == dim:
            raise ValueError("mask must pass some coordinates through and transform the others (neither all 0 nor all 1).")
        self.dim, self.context_dim = dim, context_dim
        self.register_buffer("mask", mask)
        self.net = mlp([dim + context_dim, *hidden, 2 * dim], dropout=dropout)
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)
        self.scale = nn.Parameter(torch.ones(dim))

    def scale_and_shift(self, z: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(s, t)``, each (B, D), computed from the pass-through part ``mask * z`` (and the context)."""
        h = z * self.mask
        if self.context_dim:
            if context is None or context.shape != (z.shape[0], self.context_dim):
                raise ValueError(f"this coupling layer is conditional: pass context of shape ({z.shape[0]}, {self.context_dim}).")
            h = torch.cat([h, context], -1)
        raw_s, t = self.net(h).chunk(2, dim=-1)
        return self.scale * torch.tanh(raw_s), t

    def forward_and_log_det(self, z: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        s, t = self.scale_and_shift(z, context)
        keep = 1 - self.mask
        x = self.mask * z + keep * (z * torch.exp(s) + t)
        return x, (keep * s).sum(-1)

    def inverse_and_log_det(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        s, t = self.scale_and_shift(x, context)  # x_a = z_a: the same conditioner input
        keep = 1 - self.mask
        z = self.mask * x + keep * (x - t) * torch.exp(-s)
        return z, (keep * s).sum(-1)

    def log_abs_det_jacobian(self, z: Tensor, x: Tensor, context: Tensor | None = None) -> Tensor:
        s, _ = self.scale_and_shift(z, context)
        return ((1 - self.mask) * s).sum(-1)


# --------------------------------------------------------------------------- ActNorm, permutations, LU
class ActNorm(Bijection):
    """Glow's activation normalisation: ``x = z * exp(log_scale) + bias``, one scale and bias per feature.

    ``initialize(x)`` (data side) sets ``bias = mean(x)`` and ``log_scale = log(std(x) + 1e-6)``
    over the batch, so that ``inverse(x)`` has zero mean and unit variance per feature.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(dim))
        self.log_scale = nn.Parameter(torch.zeros(dim))
        self.register_buffer("initialized", torch.tensor(False))

    @torch.no_grad()
    def initialize(self, x: Tensor) -> None:
        """Data-dependent initialisation from a batch ``x`` (B, D) of this layer's outputs."""
        if x.ndim != 2 or x.shape[0] < 2:
            raise ValueError(f"ActNorm initialises from a batch of at least 2 vectors, shape (B, D); got {tuple(x.shape)}.")
        self.bias.copy_(x.mean(0))
        self.log_scale.copy_(torch.log(x.std(0, unbiased=False) + 1e-6))
        self.initialized.fill_(True)

    def forward_and_log_det(self, z: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return z * torch.exp(self.log_scale) + self.bias, self.log_scale.sum().expand(z.shape[0])

    def inverse_and_log_det(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return (x - self.bias) * torch.exp(-self.log_scale), self.log_scale.sum().expand(x.shape[0])


class Permutation(Bijection):
    """``x = z[:, perm]``: a fixed reordering of the coordinates (volume preserving: log_det = 0)."""

    def __init__(self, perm: Tensor) -> None:
        super().__init__()
        perm = torch.as_tensor(perm, dtype=torch.long)
        if not torch.equal(perm.sort().values, torch.arange(perm.numel())):
            raise ValueError("perm must be a permutation of 0..D-1.")
        self.register_buffer("perm", perm)
        self.register_buffer("inverse_perm", torch.argsort(perm))

    @classmethod
    def reverse(cls, dim: int) -> "Permutation":
        return cls(torch.arange(dim - 1, -1, -1))

    def forward_and_log_det(self, z: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return z[:, self.perm], z.new_zeros(z.shape[0])

    def inverse_and_log_det(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return x[:, self.inverse_perm], x.new_zeros(x.shape[0])


class LULinear(Bijection):
    """Glow's invertible 1x1 convolution in LU form, on (B, D) vectors: ``x = W z`` with
    ``W = P L (U + diag(sign * exp(log_s)))`` (P a fixed permutation, L unit lower triangular, U
    strictly upper triangular). ``log |det W| = sum(log_s)`` costs O(D), the inverse two triangular
    solves, and W can never become singular. Starts at a random rotation drawn from ``seed``.
    """

    def __init__(self, dim: int, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        w0 = torch.linalg.qr(torch.randn(dim, dim, generator=g))[0]
        P, L, U = torch.linalg.lu(w0)
        diag = U.diagonal()
        self.register_buffer("P", P)
        self.register_buffer("sign_s", torch.sign(diag))
        self.register_buffer("lower_mask", torch.tril(torch.ones(dim, dim), -1))
        self.register_buffer("eye", torch.eye(dim))
        self.lower = nn.Parameter(L * self.lower_mask)
        self.upper = nn.Parameter(torch.triu(U, 1))
        self.log_s = nn.Parameter(diag.abs().log())

    def _factors(self) -> tuple[Tensor, Tensor]:
        L = self.lower * self.lower_mask + self.eye
        U = self.upper * self.lower_mask.T + torch.diag(self.sign_s * torch.exp(self.log_s))
        return L, U

    def weight(self) -> Tensor:
        """The D x D matrix W."""
        L, U = self._factors()
        return self.P @ L @ U

    def forward_and_log_det(self, z: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return z @ self.weight().T, self.log_s.sum().expand(z.shape[0])

    def inverse_and_log_det(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        L, U = self._factors()
        y = (x @ self.P).T  # P^T x, as columns (D, B)
        y = torch.linalg.solve_triangular(L, y, upper=False, unitriangular=True)
        z = torch.linalg.solve_triangular(U, y, upper=True)
        return z.T, self.log_s.sum().expand(x.shape[0])


class Sigmoid(Bijection):
    """``x = (sigmoid(z) - alpha) / (1 - 2 alpha)``: from R^D into a box around [0, 1]^D.

    Read backwards, ``z = logit(alpha + (1 - 2 alpha) x)`` is RealNVP's logit pre-processing of
    images in [0, 1]; ``alpha = 0`` gives the plain sigmoid (the open cube (0, 1)^D).
    """

    def __init__(self, alpha: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= alpha < 0.5:
            raise ValueError(f"alpha must be in [0, 0.5); got {alpha}.")
        self.alpha = float(alpha)

    def _log_det(self, z: Tensor) -> Tensor:
        return (-F.softplus(-z) - F.softplus(z)).sum(-1) - z.shape[-1] * math.log1p(-2 * self.alpha)

    def forward_and_log_det(self, z: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return (torch.sigmoid(z) - self.alpha) / (1 - 2 * self.alpha), self._log_det(z)

    def inverse_and_log_det(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        p = self.alpha + (1 - 2 * self.alpha) * x
        z = torch.log(p) - torch.log1p(-p)
        return z, self._log_det(z)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


# --------------------------------------------------------------------------- autoregressive (MAF / IAF)
class MaskedAffineAutoregressive(Bijection):
    """The MAF layer: ``x_d = z_d * exp(alpha_d) + mu_d`` with ``(mu, alpha)`` computed from ``x_<d``
    by one MADE network (the masks of :mod:`course_utils.nn.masked`, order 0..D-1).

    - ``inverse`` (density) is **one pass**: every ``x_<d`` is known, so
      ``z = (x - mu(x)) * exp(-alpha(x))`` for all d at once.
    - ``forward`` (sampling) takes **D passes**: ``x_d`` needs ``x_<d`` first. Each pass recomputes
      ``x = z * exp(alpha(x)) + mu(x)``; after pass ``k`` the first ``k`` coordinates are exact.

    ``.inv`` is the IAF layer (Kingma et al. 2016): sampling in one pass, density in D passes.
    ``alpha = scale * tanh(raw)``; the output layer starts at zero (the identity).
    """

    def __init__(self, dim: int, hidden: tuple[int, ...] = (64,), seed: int = 0) -> None:
        super().__init__()
        if dim < 2:
            raise ValueError(f"an autoregressive layer needs at least 2 dimensions; got {dim}.")
        self.dim = dim
        degrees = made_degrees(dim, tuple(hidden), torch.Generator().manual_seed(seed), order_agnostic=False)
        masks = made_masks(degrees)
        masks[-1] = torch.cat([masks[-1], masks[-1]], 0)  # two outputs per coordinate: mu_d and alpha_d
        sizes = [dim, *hidden, 2 * dim]
        self.layers = nn.ModuleList(MaskedLinear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        for layer, mask in zip(self.layers, masks):
            layer.set_mask(mask)
        nn.init.zeros_(self.layers[-1].weight)
        nn.init.zeros_(self.layers[-1].bias)
        self.scale = nn.Parameter(torch.ones(dim))

    def mu_and_alpha(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(mu, alpha)``, each (B, D); entry d depends on ``x_<d`` only."""
        h = x
        for i, layer in enumerate(self.layers):
            h = layer(h)
            if i < len(self.layers) - 1:
                h = F.silu(h)
        mu, raw = h.chunk(2, dim=-1)
        return mu, self.scale * torch.tanh(raw)

    def forward_and_log_det(self, z: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        x = torch.zeros_like(z)
        for _ in range(self.dim):  # D passes, one more coordinate exact after each
            mu, alpha = self.mu_and_alpha(x)
            x = z * torch.exp(alpha) + mu
        return x, alpha.sum(-1)  # the last pass saw the exact x_<d for every d

    def inverse_and_log_det(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        mu, alpha = self.mu_and_alpha(x)  # one pass
        return (x - mu) * torch.exp(-alpha), alpha.sum(-1)

    def log_abs_det_jacobian(self, z: Tensor, x: Tensor, context: Tensor | None = None) -> Tensor:
        return self.mu_and_alpha(x)[1].sum(-1)


# --------------------------------------------------------------------------- composition
class FlowSequence(Bijection):
    """Layers applied in order on the way z -> x (and in reverse order on the way back); log-dets add."""

    def __init__(self, layers: list[Bijection]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def __len__(self) -> int:
        return len(self.layers)

    def forward_and_log_det(self, z: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        log_det = z.new_zeros(z.shape[0])
        for layer in self.layers:
            z, ld = layer.forward_and_log_det(z, context)
            log_det = log_det + ld
        return z, log_det

    def inverse_and_log_det(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        z, log_dets = self.inverse_steps(x, context)
        return z[-1], torch.stack(log_dets).sum(0) if log_dets else x.new_zeros(x.shape[0])

    def inverse_steps(self, x: Tensor, context: Tensor | None = None) -> tuple[list[Tensor], list[Tensor]]:
        """The inverse pass, layer by layer, from the data side: ``([x, h_L-1, ..., z], [log_det of each layer])``,
        the log-dets listed in the order the layers are undone (last layer first)."""
        values, log_dets = [x], []
        for layer in reversed(self.layers):
            x, ld = layer.inverse_and_log_det(x, context)
            values.append(x)
            log_dets.append(ld)
        return values, log_dets

    @property
    def needs_initialization(self) -> bool:
        """True while some ActNorm has not yet seen data."""
        return any(isinstance(m, ActNorm) and not bool(m.initialized) for m in self.modules())

    @torch.no_grad()
    def initialize(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """Glow's data-dependent initialisation: run the inverse pass on the batch ``x`` and set each
        ActNorm not yet initialised from the values that reach it. Returns ``z``."""
        for layer in reversed(self.layers):
            if isinstance(layer, ActNorm) and not bool(layer.initialized):
                layer.initialize(x)
            if isinstance(layer, FlowSequence):
                x = layer.initialize(x, context)
            else:
                x = layer.inverse(x, context)
        return x
