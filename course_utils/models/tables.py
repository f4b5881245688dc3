"""Structured models of binary images that are fitted by counting: causal tables and a mixture.

The chain rule writes any distribution over ``D`` binary pixels (in raster order) as

    p(x) = prod_i p(x_i | x_1, ..., x_{i-1}),

whose last conditional alone needs a table of ``2^(D-1)`` numbers. *Imposing structure* means
keeping only a few earlier pixels in each conditional, ``p(x_i | x_{N(i)})``, a Bayes net whose
tables are small enough to fit by counting (Koller & Friedman 2009, ch. 3 and 17):

| ``neighbours`` | conditioning set ``N(i)``                          | name            |
|----------------|----------------------------------------------------|-----------------|
| 0              | nothing                                            | ``independent`` |
| 1              | the previous pixel in raster order (row-wrapping)  | ``markov``      |
| 2              | left, up                                           | ``nbr2``        |
| 4              | left, up, up-left, up-right                        | ``nbr4``        |
| 8              | the 4 above and left-2, up-2, up-left-2, up-right-2 | ``nbr8``       |

(any ``k`` in 2..12 takes the first ``k`` offsets of :data:`CAUSAL_OFFSETS`). Every pixel
position has its own table (no sharing across positions); a neighbour outside the image reads as
0 (background). Each channel is modelled separately, with neighbours in the same channel.

The maximum-likelihood fit is closed form: with ``n_i(c, v)`` the number of training images in
which pixel ``i`` has context ``c`` and value ``v``, and additive smoothing ``alpha``,

    p(x_i = 1 | context c) = (n_i(c, 1) + alpha) / (n_i(c, 0) + n_i(c, 1) + 2 alpha).

:class:`MixtureOfBernoullis` is the first latent-variable model of the course: a hidden class
``k ~ Cat(pi)`` and independent pixels given it, ``p(x) = sum_k pi_k prod_i mu_ki^x_i (1 - mu_ki)^(1 - x_i)``,
fitted by expectation-maximisation (Dempster, Laird & Rubin 1977; Bishop 2006, section 9.3.3).

| here            | math                                                    |
|-----------------|---------------------------------------------------------|
| ``context``     | c = sum_j x_{N(i)_j} 2^j, the integer code of the neighbours |
| ``log_theta``   | log p(x_i = v | c), shape (D, 2^k, 2)                   |
| ``counts``      | n_i(c, v), shape (D, 2^k, 2)                            |
| ``logits_pi``   | log pi up to a constant, shape (K,)                     |
| ``logits_mu``   | logit mu_k, shape (K, C, H, W)                          |
| ``responsibilities`` | r_nk = p(k | x_n)                                |
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..base import GenerativeModel, LogProbKind, check_images
from ..draws import bernoulli, categorical, uniform

# causal offsets (d_row, d_col), nearest first: all lie above, or to the left on the same row
CAUSAL_OFFSETS: tuple[tuple[int, int], ...] = (
    (0, -1), (-1, 0), (-1, -1), (-1, 1),
    (0, -2), (-2, 0), (-1, -2), (-1, 2),
    (-2, -1), (-2, 1), (-2, -2), (-2, 2),
)
BASELINE_NAMES = {0: "independent", 1: "markov", 2: "nbr2", 4: "nbr4", 8: "nbr8"}


# --------------------------------------------------------------------------- causal tables
@dataclass
class TableConfig:
    shape: tuple[int, int, int] = (1, 28, 28)  # (C, H, W)
    neighbours: int = 4  # 0 = independent, 1 = Markov chain in raster order, 2..12 = causal neighbourhood
    alpha: float = 0.5  # additive smoothing of the counts (0.5: Jeffreys' prior)

    def __post_init__(self) -> None:
        self.shape = tuple(int(s) for s in self.shape)  # a JSON round trip gives a list
        if len(self.shape) != 3 or min(self.shape) < 1:
            raise ValueError(f"shape must be (C, H, W) with positive sizes; got {self.shape}.")
        if not 0 <= self.neighbours <= len(CAUSAL_OFFSETS):
            raise ValueError(f"neighbours must be between 0 and {len(CAUSAL_OFFSETS)}; got {self.neighbours}.")
        if self.alpha < 0:
            raise ValueError(f"alpha must be non-negative; got {self.alpha}.")


def neighbour_index(shape: tuple[int, int, int], neighbours: int) -> tuple[Tensor, Tensor]:
    """Flat indices of each pixel's conditioning pixels, and which of them lie inside the image.

    Returns ``(index, valid)``, both shaped ``(D, k)``: ``index[i, j]`` is the flat (C, H, W)
    raster index of the ``j``-th neighbour of pixel ``i``, or ``D`` (a padding slot that always
    reads 0) when it falls outside the image; ``valid`` is ``index < D``.
    """
    c, h, w = shape
    d = c * h * w
    if neighbours == 0:
        index = torch.empty(d, 0, dtype=torch.long)
    elif neighbours == 1:  # previous pixel in raster order; the first pixel of each channel has none
        index = (torch.arange(d) - 1).unsqueeze(1)
        index[torch.arange(0, d, h * w)] = d
    else:
        ch, row, col = torch.meshgrid(torch.arange(c), torch.arange(h), torch.arange(w), indexing="ij")
        cols = []
        for dr, dc in CAUSAL_OFFSETS[:neighbours]:
            r, q = row + dr, col + dc
            inside = (r >= 0) & (r < h) & (q >= 0) & (q < w)
            flat = ch * h * w + r.clamp(0, h - 1) * w + q.clamp(0, w - 1)
            cols.append(torch.where(inside, flat, torch.full_like(flat, d)).flatten())
        index = torch.stack(cols, dim=1)
    return index, index < d


class CausalTable(GenerativeModel):
    """A Bayes net over binary pixels with one conditional table per pixel position (see module)."""

    family = "table"
    log_prob_kind = LogProbKind.EXACT

    def __init__(self, cfg: TableConfig) -> None:
        super().__init__(cfg)
        index, valid = neighbour_index(cfg.shape, cfg.neighbours)
        d, k = index.shape
        self.num_dims, self.num_contexts = d, 2**k
        self.register_buffer("index", index, persistent=False)  # (D, k) neighbour flat indices
        self.register_buffer("powers", 2 ** torch.arange(k), persistent=False)  # (k,)
        self.register_buffer("counts", torch.zeros(d, 2**k, 2))  # n_i(c, v)
        self.register_buffer("log_theta", torch.full((d, 2**k, 2), -math.log(2.0)))  # uniform until fitted
        self.num_valid = valid.sum(1)  # (D,) neighbours inside the image: reachable contexts 2^num_valid

    # -- contexts ------------------------------------------------------------------------------
    def context(self, x: Tensor) -> Tensor:
        """The context code ``c_i = sum_j x_{N(i)_j} 2^j`` of every pixel, shape (B, D), int64.

        Computed by shifting the whole image once per neighbour (no per-pixel loop).
        """
        check_images(x, self.cfg.shape, binary=True)
        xi = x.long()  # (B, C, H, W)
        b, (c, h, w) = x.shape[0], self.cfg.shape
        if self.cfg.neighbours == 0:
            return xi.new_zeros(b, self.num_dims)
        if self.cfg.neighbours == 1:  # previous pixel in raster order, within each channel
            prev = F.pad(xi.flatten(2), (1, 0))[..., :-1]  # (B, C, H*W)
            return prev.flatten(1)
        xpad = F.pad(xi, (2, 2, 2, 0))  # 2 columns each side, 2 rows on top: outside reads 0
        ctx = xi.new_zeros(b, c, h, w)
        for j, (dr, dc) in enumerate(CAUSAL_OFFSETS[: self.cfg.neighbours]):
            ctx += xpad[:, :, 2 + dr : 2 + dr + h, 2 + dc : 2 + dc + w] << j
        return ctx.flatten(1)

    # -- fitting -------------------------------------------------------------------------------
    @torch.no_grad()
    def fit_counts(self, x: Tensor) -> "CausalTable":
        """Closed-form smoothed maximum likelihood from binary images ``x`` (N, C, H, W)."""
        x = x.to(self.counts.device)
        ctx = self.context(x)  # (N, D)
        value = x.flatten(1).long()  # (N, D)
        pixel = torch.arange(self.num_dims, device=x.device)
        cell = (pixel * self.num_contexts + ctx) * 2 + value  # flat index into (D, 2^k, 2)
        counts = torch.bincount(cell.flatten(), minlength=self.counts.numel()).view_as(self.counts)
        self.counts.copy_(counts.float())
        a = self.cfg.alpha
        self.log_theta.copy_(torch.log(self.counts + a) - torch.log(self.counts.sum(-1, keepdim=True) + 2 * a))
        return self

    # -- the interface ---------------------------------------------------------------------------
    def log_prob(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """Exact log p(x) in nats, shape (B,)."""
        self.labels(y, x.shape[0])
        ctx = self.context(x)  # (B, D)
        value = x.flatten(1).long()
        pixel = torch.arange(self.num_dims, device=x.device)
        cell = (pixel * self.num_contexts + ctx) * 2 + value  # (B, D)
        return self.log_theta.flatten()[cell].sum(1)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, y: Tensor | None = None) -> Tensor:
        """``n`` images (n, C, H, W) in {0, 1}, drawn pixel by pixel in raster order."""
        self.labels(y, n)
        if n < 1:
            raise ValueError(f"n must be positive; got {n}.")
        device = self.log_theta.device
        u = uniform((n, self.num_dims), generator, device)  # all the noise, drawn at once
        p_on = self.log_theta[..., 1].exp()  # (D, 2^k)
        if self.cfg.neighbours == 0:  # no parents: every pixel at once
            return (u < p_on[:, 0]).float().view(n, *self.cfg.shape)
        xp = torch.zeros(n, self.num_dims + 1, device=device, dtype=torch.long)
        for i in range(self.num_dims):
            ctx = (xp[:, self.index[i]] * self.powers).sum(-1)  # (n,)
            xp[:, i] = (u[:, i] < p_on[i, ctx]).long()
        return xp[:, :-1].float().view(n, *self.cfg.shape)

    def num_parameters(self) -> int:
        """Free parameters: one probability per *reachable* context of each pixel, sum_i 2^|N(i) inside|."""
        return int((2 ** self.num_valid).sum())

    def extra_repr(self) -> str:
        return f"neighbours={self.cfg.neighbours}, alpha={self.cfg.alpha}, parameters={self.num_parameters():,}"


def fit_baselines(train_x: Tensor, alpha: float = 0.5, neighbours: tuple[int, ...] = (0, 1, 2, 4, 8)) -> dict[str, CausalTable]:
    """Fit one :class:`CausalTable` per neighbourhood size on binary images ``train_x`` (N, C, H, W).

    Keys are ``independent``, ``markov``, ``nbr2``, ``nbr4``, ``nbr8`` (``nbr{k}`` for other k).
    """
    shape = tuple(train_x.shape[1:])
    return {
        BASELINE_NAMES.get(k, f"nbr{k}"): CausalTable(TableConfig(shape, k, alpha)).to(train_x.device).fit_counts(train_x)
        for k in neighbours
    }


# --------------------------------------------------------------------------- mixture of Bernoullis
@dataclass
class MixtureConfig:
    shape: tuple[int, int, int] = (1, 28, 28)  # (C, H, W)
    components: int = 20  # K
    alpha: float = 0.5  # pseudo-counts added to each pixel's on/off counts in every M-step (Beta prior)

    def __post_init__(self) -> None:
        self.shape = tuple(int(s) for s in self.shape)
        if self.components < 1:
            raise ValueError(f"components must be at least 1; got {self.components}.")
        if self.alpha < 0:
            raise ValueError(f"alpha must be non-negative; got {self.alpha}.")


class MixtureOfBernoullis(GenerativeModel):
    """``p(x) = sum_k pi_k prod_i Bernoulli(x_i | mu_ki)``; exact log-likelihood by log-sum-exp.

    The parameters are ``nn.Parameter`` logits, so the model can be fitted by EM
    (:meth:`fit_em`, closed-form updates) or by gradient descent on :meth:`loss` with ``fit``.
    """

    family = "mixture-bernoulli"
    log_prob_kind = LogProbKind.EXACT

    def __init__(self, cfg: MixtureConfig) -> None:
        super().__init__(cfg)
        self.logits_pi = nn.Parameter(torch.zeros(cfg.components))  # (K,)
        self.logits_mu = nn.Parameter(torch.zeros(cfg.components, *cfg.shape))  # (K, C, H, W)

    @property
    def pi(self) -> Tensor:
        """Mixing weights, shape (K,)."""
        return torch.softmax(self.logits_pi, 0)

    @property
    def mu(self) -> Tensor:
        """Pixel probabilities of each component, shape (K, C, H, W)."""
        return torch.sigmoid(self.logits_mu)

    def log_joint(self, x: Tensor) -> Tensor:
        """``log pi_k + log p(x | k)`` for every image and component, shape (B, K)."""
        check_images(x, self.cfg.shape, binary=True)
        xf = x.flatten(1)  # (B, D)
        lm = self.logits_mu.flatten(1)  # (K, D)
        # log Bernoulli(x | sigmoid(l)) = x * l - softplus(l)
        log_px_k = xf @ lm.T - F.softplus(lm).sum(1)  # (B, K)
        return torch.log_softmax(self.logits_pi, 0) + log_px_k

    def log_prob(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """Exact log p(x) in nats, shape (B,)."""
        self.labels(y, x.shape[0])
        return torch.logsumexp(self.log_joint(x), dim=1)

    def responsibilities(self, x: Tensor) -> Tensor:
        """Posterior ``p(k | x)`` of each component, shape (B, K); rows sum to 1."""
        return torch.softmax(self.log_joint(x), dim=1)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, y: Tensor | None = None) -> Tensor:
        """``n`` images (n, C, H, W) in {0, 1}: a component ``k ~ pi``, then independent pixels."""
        self.labels(y, n)
        if n < 1:
            raise ValueError(f"n must be positive; got {n}.")
        k = categorical(self.logits_pi.expand(n, -1), generator)  # (n,)
        return bernoulli(self.mu[k], generator)

    def num_parameters(self) -> int:
        """Free parameters: K - 1 mixing weights and K * D pixel probabilities."""
        k = self.cfg.components
        return k - 1 + k * math.prod(self.cfg.shape)

    @torch.no_grad()
    def m_step(self, x: Tensor, r: Tensor) -> None:
        """Closed-form M-step from responsibilities ``r`` (N, K): smoothed weighted frequencies."""
        a = self.cfg.alpha
        nk = r.sum(0)  # (K,) effective counts
        on = r.T @ x.flatten(1)  # (K, D) expected on-counts
        mu = (on + a) / (nk.unsqueeze(1) + 2 * a)
        pi = (nk + 1e-12) / (nk.sum() + 1e-12 * len(nk))
        self.logits_mu.copy_(torch.logit(mu.clamp(1e-6, 1 - 1e-6)).view_as(self.logits_mu))
        self.logits_pi.copy_(torch.log(pi))

    @torch.no_grad()
    def fit_em(self, x: Tensor, iters: int, generator: torch.Generator | None = None) -> "MixtureOfBernoullis":
        """Expectation-maximisation on binary images ``x`` (N, C, H, W), ``iters`` E+M steps.

        Initialisation: each component starts at a random training image blended half-and-half
        with the mean image (indices drawn with ``generator``). Records, before every step, the
        training NLL in ``self.em_history`` and the objective EM actually climbs in
        ``self.em_objective`` (both nats per image, see :meth:`smoothed_objective`). The objective
        never increases; the plain NLL never increases only when ``alpha = 0``.
        """
        check_images(x, self.cfg.shape, binary=True)
        if iters < 0:
            raise ValueError(f"iters must be non-negative; got {iters}.")
        x = x.to(self.logits_mu.device)
        k = self.cfg.components
        if k > x.shape[0]:
            raise ValueError(f"components ({k}) must not exceed the number of images ({x.shape[0]}).")
        pick = torch.argsort(uniform((x.shape[0],), generator, x.device))[:k]
        mu0 = 0.5 * x[pick] + 0.5 * x.mean(0, keepdim=True)
        self.logits_mu.copy_(torch.logit(mu0.clamp(0.01, 0.99)))
        self.logits_pi.zero_()
        self.em_history: list[float] = []
        self.em_objective: list[float] = []
        for _ in range(iters):
            log_joint = self.log_joint(x)  # E-step
            nll = -torch.logsumexp(log_joint, 1).mean().item()
            self.em_history.append(nll)
            self.em_objective.append(nll + self.log_prior_penalty(x.shape[0]))
            self.m_step(x, torch.softmax(log_joint, 1))  # M-step
        return self

    @torch.no_grad()
    def log_prior_penalty(self, n: int) -> float:
        """``-(alpha / n) sum_{k,i} [log mu_ki + log(1 - mu_ki)]``: what the pseudo-counts add, per image.

        The M-step's ``alpha`` pseudo-counts make it maximise the log-likelihood *plus*
        ``alpha sum_{k,i} [log mu_ki + log(1 - mu_ki)]`` (a Beta(alpha + 1, alpha + 1) prior on each
        ``mu_ki``), so EM never raises ``NLL + log_prior_penalty(n)`` (:meth:`smoothed_objective`).
        """
        lm = self.logits_mu.double()
        return (self.cfg.alpha / n) * (F.softplus(-lm) + F.softplus(lm)).sum().item()  # -log mu = softplus(-l)

    @torch.no_grad()
    def smoothed_objective(self, x: Tensor) -> float:
        """The objective EM minimises on binary images ``x``: mean NLL plus :meth:`log_prior_penalty`, nats per image."""
        return -self.log_prob(x).double().mean().item() + self.log_prior_penalty(x.shape[0])

    def extra_repr(self) -> str:
        return f"components={self.cfg.components}, parameters={self.num_parameters():,}"
