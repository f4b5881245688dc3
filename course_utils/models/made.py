"""MADE: Masked Autoencoder for Distribution Estimation (Germain, Gregor, Murray & Larochelle, ICML 2015).

An autoencoder whose connections are masked so that output ``d`` depends only on the inputs that
come before ``d`` in an ordering. Its outputs are then the logits of the conditionals of the chain
rule, and one pass gives the exact log-likelihood of binary data:

    log p(x) = sum_d log Bernoulli(x_d | sigmoid(logit_d(x_{<d}))).

Each unit gets a *degree* ``m``: the inputs' degrees are their positions in the ordering
(0..D-1); a hidden unit's degree is drawn from ``[min degree of the layer below, D-2]``. A hidden
unit may see a unit of the layer below with a smaller or equal degree; an output may see a
hidden unit of strictly smaller degree. With no hidden layer MADE is the fully visible sigmoid
belief net (FVSBN): logistic regression of each pixel on the pixels before it.

Order- and connectivity-agnostic training cycles through ``num_masks`` mask sets, one per
minibatch (each with a new random ordering when ``order_agnostic``). At test time an *ensemble*
over those masks is a mixture of autoregressive models, combined by averaging **likelihoods**:
``log p(x) = logsumexp_k log p_k(x) - log K``. Averaging the *logits* across orderings
(:func:`logit_average_log_prob`) is a mistake seen in public code: the result is not a
normalised distribution.

| here          | paper                                   |
|---------------|-----------------------------------------|
| ``degrees``   | m^l(k), the connectivity of unit k of layer l |
| ``order``     | the input ordering, m^0                 |
| ``masks``     | M^{W^l}, M^V                            |
| ``num_masks`` | number of masks cycled in training ("connectivity-agnostic") |
| ``ensemble``  | number of masks averaged at test time   |
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..base import GenerativeModel, LogProbKind, check_images, eval_mode
from ..nn.masked import MaskedLinear, made_degrees, made_masks
from ..draws import uniform


@dataclass
class MADEConfig:
    shape: tuple[int, int, int] = (1, 28, 28)  # (C, H, W) of the binary images
    hidden: tuple[int, ...] = (500,)  # hidden layer sizes; () is the FVSBN (logistic conditionals)
    num_masks: int = 1  # mask sets cycled during training (1: one fixed mask)
    order_agnostic: bool = False  # each mask set with its own random ordering (else raster order)
    dropout: float = 0.0  # dropout on the hidden units (a regulariser for small data sets)
    seed: int = 0  # the masks are drawn from this seed, so they are part of the configuration

    def __post_init__(self) -> None:
        self.shape = tuple(int(s) for s in self.shape)  # a JSON round trip gives lists
        self.hidden = tuple(int(h) for h in self.hidden)
        if len(self.shape) != 3 or min(self.shape) < 1:
            raise ValueError(f"shape must be (C, H, W) with positive sizes; got {self.shape}.")
        if self.num_masks < 1:
            raise ValueError(f"num_masks must be at least 1; got {self.num_masks}.")
        if any(h < 1 for h in self.hidden):
            raise ValueError(f"hidden sizes must be positive; got {self.hidden}.")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1); got {self.dropout}.")

    @property
    def num_dims(self) -> int:
        return math.prod(self.shape)


class MADE(GenerativeModel):
    """MADE for binary images ``x`` of shape ``(B, C, H, W)`` with values in {0, 1}."""

    family = "made"
    log_prob_kind = LogProbKind.EXACT

    def __init__(self, cfg: MADEConfig) -> None:
        super().__init__(cfg)
        sizes = [cfg.num_dims, *cfg.hidden, cfg.num_dims]
        self.layers = nn.ModuleList(MaskedLinear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.register_buffer("order", torch.arange(cfg.num_dims), persistent=False)  # m^0: position of each input
        self.mask_index = -1
        self.set_mask(0)

    # -- masks ----------------------------------------------------------------------------
    def set_mask(self, k: int) -> None:
        """Switch to mask set ``k`` (0..num_masks-1); each is drawn from ``(cfg.seed, k)``."""
        if not 0 <= k < self.cfg.num_masks:
            raise ValueError(f"mask index must be in 0..{self.cfg.num_masks - 1} (cfg.num_masks); got {k}.")
        if k == self.mask_index:
            return
        g = torch.Generator().manual_seed(1_000_003 * self.cfg.seed + k)
        degrees = made_degrees(self.cfg.num_dims, self.cfg.hidden, g, self.cfg.order_agnostic)
        for layer, mask in zip(self.layers, made_masks(degrees)):
            layer.set_mask(mask)
        self.order.copy_(degrees[0])
        self.mask_index = k

    @torch.no_grad()
    def init_from_marginals(self, x: Tensor, alpha: float = 0.5) -> "MADE":
        """Set the output biases to the log-odds of each pixel's smoothed frequency in ``x``.

        The untrained network then starts near the independent-pixel model instead of p = 1/2
        everywhere, which saves the first epochs of training. Returns ``self``.
        """
        check_images(x, self.cfg.shape, binary=True)
        p = (x.flatten(1).sum(0) + alpha) / (x.shape[0] + 2 * alpha)
        self.layers[-1].bias.copy_(torch.log(p) - torch.log1p(-p))
        return self

    @property
    def sampling_order(self) -> Tensor:
        """The dimensions in the order they are generated, shape (D,)."""
        return torch.argsort(self.order)

    # -- the network ----------------------------------------------------------------------
    def logits(self, x: Tensor) -> Tensor:
        """Logits of p(x_d = 1 | x_<d) for every d: ``(B, C, H, W) -> (B, D)``."""
        h = x.flatten(1)
        for i, layer in enumerate(self.layers):
            h = layer(h)
            if i < len(self.layers) - 1:
                h = F.dropout(F.relu(h), self.cfg.dropout, self.training)
        return h

    def _log_prob_current(self, x: Tensor) -> Tensor:
        return -F.binary_cross_entropy_with_logits(self.logits(x), x.flatten(1), reduction="none").sum(1)

    def per_mask(self, fn, x: Tensor, ensemble: int) -> Tensor:
        """``fn(x)`` under mask sets 0..ensemble-1, stacked on a new first axis; the mask in use is restored."""
        previous = max(self.mask_index, 0)
        try:
            parts = []
            for k in range(ensemble):
                self.set_mask(k)
                parts.append(fn(x))
        finally:
            self.set_mask(previous)
        return torch.stack(parts)

    def log_prob(self, x: Tensor, y: Tensor | None = None, ensemble: int = 1) -> Tensor:
        """Exact log p(x) in nats, shape (B,). ``ensemble=K`` averages the likelihoods of masks 0..K-1."""
        self.labels(y, x.shape[0])
        check_images(x, self.cfg.shape, binary=True)
        if not 1 <= ensemble <= self.cfg.num_masks:
            raise ValueError(f"ensemble must be in 1..{self.cfg.num_masks} (the masks the model was trained with); got {ensemble}.")
        parts = self.per_mask(self._log_prob_current, x, ensemble)  # (K, B)
        return torch.logsumexp(parts, 0) - math.log(ensemble)  # log of the mean likelihood

    def training_loss(self, x: Tensor, y: Tensor | None = None, *, step: int) -> Tensor:
        """Mean NLL (nats per image) under mask set ``(step - 1) mod num_masks``: order-agnostic
        training cycles through the mask sets, one per minibatch."""
        if self.cfg.num_masks == 1:
            return self.loss(x, y)
        self.labels(y, x.shape[0])
        check_images(x, self.cfg.shape, binary=True)
        self.set_mask((step - 1) % self.cfg.num_masks)
        return -self._log_prob_current(x).mean()

    # -- sampling -------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, y: Tensor | None = None, mask_index: int = 0) -> Tensor:
        """``n`` binary images ``(n, C, H, W)``, one network pass per pixel, in mask ``mask_index``'s order."""
        self.labels(y, n)
        x = torch.zeros(n, *self.cfg.shape, device=self.device)
        return self.complete(x, torch.zeros(self.cfg.shape, dtype=torch.bool), generator, mask_index=mask_index)

    @torch.no_grad()
    def complete(self, x: Tensor, known: Tensor, generator: torch.Generator | None = None, mask_index: int = 0) -> Tensor:
        """Sample the pixels where ``known`` (bool, shape (C, H, W)) is False, given the others.

        Exact conditioning needs every known pixel to come before every unknown one in the
        ordering (e.g. the top half in raster order); otherwise a ``ValueError`` says so.
        """
        check_images(x, self.cfg.shape, binary=True)
        if tuple(known.shape) != self.cfg.shape:
            raise ValueError(f"known must be a bool mask of shape {self.cfg.shape}; got {tuple(known.shape)}.")
        previous = max(self.mask_index, 0)
        self.set_mask(mask_index)
        try:
            with eval_mode(self):
                order = self.sampling_order.cpu()
                known_in_order = known.flatten().cpu()[order]
                n_known = int(known_in_order.sum())
                if not bool(known_in_order[:n_known].all()):
                    raise ValueError("complete() conditions exactly only when the known pixels come first in the model's ordering.")
                out = x.flatten(1).clone()
                u = uniform((x.shape[0], self.cfg.num_dims), generator, x.device)  # all the randomness, drawn up front
                for d in order[n_known:].tolist():  # one pass of the network per generated pixel
                    p = torch.sigmoid(self.logits(out.view_as(x))[:, d])
                    out[:, d] = (u[:, d] < p).float()
        finally:
            self.set_mask(previous)
        return out.view_as(x)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", hidden={self.cfg.hidden}, num_masks={self.cfg.num_masks}"
