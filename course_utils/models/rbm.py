"""A Bernoulli restricted Boltzmann machine (RBM), trained by contrastive divergence, with an exact
log-likelihood when it has few hidden units.

Smolensky (1986); contrastive divergence CD-k: Hinton (2002), *Training products of experts by
minimizing contrastive divergence*; persistent CD: Tieleman (2008); annealed importance sampling
(AIS): Neal (2001), for RBMs Salakhutdinov & Murray (2008).

Binary visible units ``v`` (the D pixels of a binarised image) and H binary hidden units ``h``:

    E(v, h) = -b.v - c.h - h.W v,            p(v, h) = exp(-E(v, h)) / Z.

Summing out the hidden units gives the **free energy**, ``p(v) = exp(-F(v)) / Z`` with

    F(v) = -b.v - sum_j softplus(c_j + W_j . v)

and both conditionals factorise: ``p(h_j = 1 | v) = sigmoid(c_j + W_j . v)``,
``p(v_i = 1 | h) = sigmoid(b_i + (W^T h)_i)`` (one step of block Gibbs sampling).

**The exact log Z.** Summing out the *visible* units instead gives
``log Z = logsumexp_h [ c.h + sum_i softplus(b_i + (W^T h)_i) ]``: 2^H terms of D softplus each.
With H <= :data:`MAX_EXACT_HIDDEN` this is done exactly (for H = 20, 2^20 x 784 terms, a few seconds
on one CPU thread); :meth:`RBM.log_prob` is then an exact log-probability in nats of the binary
images (``log_prob_kind`` exact), and :meth:`RBM.sample` draws exact samples (h from its exact
marginal, then v given h). The vector of the 2^H hidden log-marginals is cached until a parameter
changes (every optimiser step or ``load_state_dict`` writes into the parameters in place).

**Training** (``loss``) is CD-k: a surrogate whose gradient is the CD estimate of the likelihood
gradient, ``F(data).mean() - F(negatives).mean()`` with negatives from k Gibbs steps started at the
data (CD) or at persistent chains kept between updates (PCD, ``persistent=True``). Its value is
not an NLL.

| here        | math                          | shape    |
|-------------|-------------------------------|----------|
| ``W``       | W, weights                    | (H, D)   |
| ``b``       | b, visible biases             | (D,)     |
| ``c``       | c, hidden biases              | (H,)     |
| ``chains``  | PCD's persistent fantasy particles | (chains, D) |
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..base import GenerativeModel, LogProbKind, check_images
from ..draws import bernoulli, uniform

MAX_EXACT_HIDDEN = 24  # 2^24 hidden states: the largest sum the exact log Z does
_DIRECT_LIMIT = 2**23  # 2^H * D terms up to which log Z is one vectorised (and differentiable) expression
LN2 = math.log(2.0)


@dataclass
class RBMConfig:
    shape: tuple[int, int, int] = (1, 28, 28)  # (C, H, W) of the binary images
    hidden: int = 20  # H, at most MAX_EXACT_HIDDEN
    k: int = 1  # Gibbs steps per update (CD-k / PCD-k)
    persistent: bool = True  # PCD (Tieleman 2008): negatives from chains kept between updates
    chains: int = 100  # number of persistent chains
    init_std: float = 0.01  # W ~ N(0, init_std^2)
    seed: int = 0

    def __post_init__(self) -> None:
        self.shape = tuple(int(s) for s in self.shape)
        if not 1 <= self.hidden <= MAX_EXACT_HIDDEN:
            raise ValueError(
                f"hidden must lie in 1..{MAX_EXACT_HIDDEN}: the exact log Z sums over 2^hidden states; got {self.hidden}."
            )
        if self.k < 1 or self.chains < 1:
            raise ValueError(f"k and chains must be positive; got {self.k}, {self.chains}.")


def hidden_states(num: int, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> Tensor:
    """All 2^num binary vectors, shape (2^num, num), row i = the bits of i (first unit most significant)."""
    codes = torch.arange(2**num, device=device).unsqueeze(1)
    return ((codes >> torch.arange(num - 1, -1, -1, device=device)) & 1).to(dtype)


def _softplus_sum_into(acc: Tensor, tmp: Tensor, stable: bool) -> None:
    """``acc += softplus(tmp)`` (tmp is overwritten). ``log(1 + exp(t))`` in place is four times faster
    than ``F.softplus`` on a CPU; ``stable`` when some t may exceed ~80 (exp would overflow)."""
    if stable:
        acc.add_(F.softplus(tmp))
    else:
        acc.add_(tmp.exp_().add_(1.0).log_())


@dataclass
class AISResult:
    """An AIS estimate of log Z: ``log_z`` = ``log_z_base`` + log mean exp(``log_weights``)."""

    log_z: float
    log_z_base: float
    log_weights: Tensor  # (chains,)

    @property
    def std_error(self) -> float:
        """Delta-method standard error of ``log_z`` from the spread of the importance weights."""
        w = torch.exp(self.log_weights.double() - self.log_weights.double().max())
        return (w.std() / (w.mean() * math.sqrt(w.numel()))).item()


class RBM(GenerativeModel):
    """A Bernoulli RBM on binary images ``(B, *shape)``; exact ``log_prob`` and exact ``sample`` (see the module)."""

    family = "rbm"
    log_prob_kind = LogProbKind.EXACT

    def __init__(self, cfg: RBMConfig) -> None:
        super().__init__(cfg)
        g = torch.Generator().manual_seed(cfg.seed)
        d = math.prod(cfg.shape)
        self.W = nn.Parameter(cfg.init_std * torch.randn(cfg.hidden, d, generator=g))
        self.b = nn.Parameter(torch.zeros(d))
        self.c = nn.Parameter(torch.zeros(cfg.hidden))
        self.register_buffer("chains", (torch.rand(cfg.chains, d, generator=g) < 0.5).float())
        self._cache: tuple[tuple, Tensor] | None = None

    @property
    def num_visible(self) -> int:
        return self.W.shape[1]

    # -- energies and conditionals ---------------------------------------------------------
    def energy(self, v: Tensor, h: Tensor) -> Tensor:
        """E(v, h) = -b.v - c.h - h.W v for flat v (B, D) and h (B, H); shape (B,)."""
        return -(v @ self.b) - (h @ self.c) - ((h @ self.W) * v).sum(1)

    def free_energy(self, v: Tensor) -> Tensor:
        """F(v) = -b.v - sum_j softplus(c_j + W_j . v), for flat v (B, D) or images; shape (B,)."""
        v = v.flatten(1)
        return -(v @ self.b) - F.softplus(v @ self.W.T + self.c).sum(1)

    def p_h_given_v(self, v: Tensor) -> Tensor:
        """sigmoid(c + W v): (B, H)."""
        return torch.sigmoid(v @ self.W.T + self.c)

    def p_v_given_h(self, h: Tensor) -> Tensor:
        """sigmoid(b + W^T h): (B, D)."""
        return torch.sigmoid(h @ self.W + self.b)

    @torch.no_grad()
    def gibbs_step(self, v: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One block Gibbs step from flat v (B, D): h ~ p(h | v), then v' ~ p(v | h); returns v'."""
        h = bernoulli(self.p_h_given_v(v), generator)
        return bernoulli(self.p_v_given_h(h), generator)

    @torch.no_grad()
    def gibbs_chain(self, v: Tensor, steps: int, generator: torch.Generator | None = None) -> Tensor:
        """``steps`` Gibbs steps from flat v (B, D)."""
        for _ in range(steps):
            v = self.gibbs_step(v, generator)
        return v

    # -- the partition function ------------------------------------------------------------
    def _key(self) -> tuple:
        return tuple((id(p), p._version, p.device, p.dtype) for p in (self.W, self.b, self.c))

    def _hidden_log_marginal_direct(self) -> Tensor:
        """c.h + sum_i softplus(b_i + (W^T h)_i) for every h, as one expression (differentiable)."""
        hs = hidden_states(self.cfg.hidden, self.W.device, self.W.dtype)
        return (hs @ self.c + F.softplus(hs @ self.W + self.b).sum(1)).double()

    @torch.no_grad()
    def _hidden_log_marginal_chunked(self, block: int = 2**18) -> Tensor:
        """The same vector by splitting h into two halves: (W^T h)_i = A_i(h_a) + B_i(h_b), so only the
        2^H x D softplus terms remain, accumulated one visible unit at a time in cache-sized blocks.
        On a CPU this runs on one thread: thousands of small element-wise steps gain little from a
        second thread and lose many times over when the cores are shared."""
        if self.W.device.type != "cpu":
            return self._chunked(block)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return self._chunked(block)
        finally:
            torch.set_num_threads(threads)

    def _chunked(self, block: int) -> Tensor:
        n_a = self.cfg.hidden // 2
        n_b = self.cfg.hidden - n_a
        dev, dt = self.W.device, self.W.dtype
        ha, hb = hidden_states(n_a, dev, dt), hidden_states(n_b, dev, dt)
        A = (ha @ self.W[:n_a] + self.b).T.contiguous()  # (D, 2^a)
        B = (hb @ self.W[n_a:]).T.contiguous()  # (D, 2^b)
        stable = bool((A.max(1).values + B.max(1).values).max() > 80.0)  # exp(t) overflows float32 near 88
        ca, cb = ha @ self.c[:n_a], hb @ self.c[n_a:]
        rows = max(1, block // B.shape[1])
        out = []
        for i in range(0, A.shape[1], rows):
            acc = torch.zeros(min(rows, A.shape[1] - i), B.shape[1], device=dev, dtype=dt)
            tmp = torch.empty_like(acc)
            for d in range(A.shape[0]):
                torch.add(A[d, i : i + rows, None], B[d, None, :], out=tmp)
                _softplus_sum_into(acc, tmp, stable)
            out.append((acc + ca[i : i + rows, None] + cb[None, :]).double().flatten())
        return torch.cat(out)

    def hidden_log_marginal(self) -> Tensor:
        """log p*(h) = c.h + sum_i softplus(b_i + (W^T h)_i) for all 2^H hidden vectors (float64, (2^H,),
        row order of :func:`hidden_states`); ``logsumexp`` of it is log Z. Cached until a parameter changes;
        differentiable (and not cached) when gradients are on and the sum is small."""
        needs_grad = torch.is_grad_enabled() and any(p.requires_grad for p in (self.W, self.b, self.c))
        if needs_grad:
            if 2**self.cfg.hidden * self.num_visible > _DIRECT_LIMIT:
                raise ValueError(
                    f"the exact log Z of an RBM with {self.cfg.hidden} hidden units is computed without gradients: "
                    "call log_prob under torch.no_grad() (the RBM trains by contrastive divergence, with loss())."
                )
            return self._hidden_log_marginal_direct()
        key = self._key()
        if self._cache is None or self._cache[0] != key:
            with torch.no_grad():
                if 2**self.cfg.hidden * self.num_visible <= _DIRECT_LIMIT:
                    value = self._hidden_log_marginal_direct()
                else:
                    value = self._hidden_log_marginal_chunked()
            self._cache = (key, value)
        return self._cache[1]

    def log_partition(self) -> Tensor:
        """The exact log Z (a float64 scalar), by summing over all 2^H hidden vectors."""
        return torch.logsumexp(self.hidden_log_marginal(), 0)

    @torch.no_grad()
    def ais_log_partition(self, num_betas: int = 10_000, chains: int = 100, base_bias: Tensor | None = None,
                          generator: torch.Generator | None = None) -> AISResult:
        """Estimate log Z by annealed importance sampling (Neal 2001; Salakhutdinov & Murray 2008).

        The path runs from a base model with visible biases ``base_bias`` (default: zeros) and no
        weights, ``log Z_0 = H ln 2 + sum_i softplus(base_i)``, to the RBM through
        ``log p*_beta(v) = (1 - beta) base.v + beta b.v + sum_j softplus(beta (c_j + W_j . v))``,
        with ``num_betas`` equally spaced temperatures and one Gibbs step per temperature. The mean
        of the weights is unbiased for Z / Z_0, so ``log_z`` is, in expectation, slightly low.
        """
        if num_betas < 1 or chains < 1:
            raise ValueError(f"num_betas and chains must be positive; got {num_betas}, {chains}.")
        base = torch.zeros_like(self.b) if base_bias is None else base_bias.to(self.b).flatten()
        if base.shape != self.b.shape:
            raise ValueError(f"base_bias must hold one value per visible unit ({self.num_visible}); got {tuple(base_bias.shape)}.")

        # log p*_beta(v) = base.v + beta (b - base).v + sum_j softplus(beta a_j), with a = W v + c; the
        # difference between two temperatures is written out, so that one product W v serves both
        # the weight and the Gibbs step; a step's cost is then mostly its chains x D uniform draws
        bias_gap = self.b - base
        v = bernoulli(torch.sigmoid(base).expand(chains, -1).contiguous(), generator)  # exact draws from the base model
        log_w = torch.zeros(chains, dtype=torch.float64, device=self.b.device)
        betas = torch.linspace(0.0, 1.0, num_betas + 1).tolist()
        for beta_prev, beta in zip(betas[:-1], betas[1:]):
            a = torch.addmm(self.c, v, self.W.T)  # (chains, H): W v + c
            log_w += ((beta - beta_prev) * (v @ bias_gap) + (F.softplus(beta * a) - F.softplus(beta_prev * a)).sum(1)).double()
            h = bernoulli(torch.sigmoid(beta * a), generator)  # a Gibbs step that leaves p_beta invariant
            v = bernoulli(torch.sigmoid(torch.addmm(base + beta * bias_gap, h, self.W, alpha=beta)), generator)  # base + beta (W^T h + b - base)
        log_z0 = self.cfg.hidden * LN2 + F.softplus(base).sum().item()
        log_z = log_z0 + (torch.logsumexp(log_w, 0) - math.log(chains)).item()
        return AISResult(log_z, log_z0, log_w.cpu())

    # -- the interface -----------------------------------------------------------------------
    def log_prob(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """Exact log p(x) = -F(x) - log Z in nats of the binary images, shape (B,)."""
        self.labels(y, x.shape[0])
        check_images(x, self.cfg.shape, binary=True)
        return (-self.free_energy(x).double() - self.log_partition()).float()

    def loss(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """CD-k (or PCD-k) surrogate ``F(x).mean() - F(negatives).mean()``; its gradient is the CD
        estimate of the NLL's gradient. In training mode PCD advances its persistent chains; in
        evaluation mode nothing is changed (the negatives start at the data)."""
        self.labels(y, x.shape[0])
        check_images(x, self.cfg.shape, binary=True)
        v = x.flatten(1)
        persistent = self.cfg.persistent and self.training
        neg = self.gibbs_chain(self.chains if persistent else v, self.cfg.k)
        if persistent:
            self.chains.copy_(neg)
        return self.free_energy(v).mean() - self.free_energy(neg).mean()

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, y: Tensor | None = None) -> Tensor:
        """``n`` exact samples: h from its exact marginal p(h) (2^H categories), then v ~ p(v | h)."""
        self.labels(y, n)
        log_m = self.hidden_log_marginal()
        cdf = torch.cumsum(torch.exp(log_m - log_m.max()), 0)
        u = uniform((n,), generator, cdf.device).double() * cdf[-1]
        idx = torch.searchsorted(cdf, u).clamp_(max=cdf.numel() - 1)
        h = ((idx.unsqueeze(1) >> torch.arange(self.cfg.hidden - 1, -1, -1, device=idx.device)) & 1).to(self.W.dtype)
        return bernoulli(self.p_v_given_h(h), generator).view(n, *self.cfg.shape)

    @torch.no_grad()
    def init_from_marginals(self, x: Tensor, alpha: float = 0.5) -> "RBM":
        """Visible biases at the smoothed log-odds of each pixel in ``x`` (Hinton's practical guide):
        with W = 0 the RBM starts as the independent-pixel model."""
        check_images(x, self.cfg.shape, binary=True)
        p = (x.flatten(1).sum(0) + alpha) / (x.shape[0] + 2 * alpha)
        self.b.copy_(torch.log(p) - torch.log1p(-p))
        return self
