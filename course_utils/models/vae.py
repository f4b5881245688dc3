"""Variational autoencoders: the ELBO, the importance-weighted bound, priors, and a plain autoencoder.

Kingma & Welling (2014), *Auto-Encoding Variational Bayes*; Rezende, Mohamed & Wierstra (2014);
Burda, Grosse & Salakhutdinov (2016), *Importance Weighted Autoencoders*; Kingma et al. (2016) for
free bits; Bowman et al. (2016) for KL annealing; Sohn, Lee & Yan (2015) for the conditional VAE.

The model is ``p(x, z) = p(z) p(x | z)`` with an encoder ``q(z | x)``; each of the three is a small
module whose ``dist(...)`` builds a ``torch.distributions`` object *inside the call* from the
module's tensors (so ``.to(device)`` moves everything), and which exposes ``log_prob`` / ``sample``.

- ``log_prob(x, k=1)`` is a **lower bound** on log p(x) (``log_prob_kind = LOWER_BOUND``):
  ``k = 1`` the ELBO (with the KL in closed form when the prior is a standard normal), ``k > 1`` the
  importance-weighted bound ``log (1/k) sum_i p(x, z_i) / q(z_i | x)``, ``z_i ~ q(z | x)``, which
  rises towards log p(x) as ``k`` grows. ``k`` is an argument, never hidden state.
- ``elbo(x)`` returns its parts (:class:`ElboParts`): reconstruction term, KL, KL per latent dimension.
- Decoders: Bernoulli for binarised images (``num_levels = 2``) and a categorical over ``K`` grey
  levels otherwise (17 for the 8x8 digits), so NLLs are in nats of the discrete data.

| here          | math                         | shape          |
|---------------|------------------------------|----------------|
| ``mu``, ``log_var`` | mean, log-variance of q(z \\| x) | (B, d) |
| ``z``         | latent                       | (B, d) or (k, B, d) |
| ``rec``       | E_q[log p(x \\| z)] (one sample) | (B,)         |
| ``kl``        | KL(q(z \\| x) \\|\\| p(z))   | (B,)           |
| ``beta``      | weight of the KL (beta-VAE)  | scalar         |
| ``free_bits`` | lambda, KL floor per dimension (nats) | scalar |
| ``k``         | number of importance samples | int            |
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.distributions import Bernoulli, Categorical, Independent, MixtureSameFamily, Normal

from ..base import GenerativeModel, LogProbKind, check_images
from ..draws import categorical, normal, uniform
from ..nn.blocks import mlp


# --------------------------------------------------------------------------- configuration
@dataclass
class VAEConfig:
    """Configuration of :class:`VAE` (and, through its shared fields, :class:`Autoencoder`)."""

    shape: tuple[int, int, int] = (1, 8, 8)  # (C, H, W)
    num_levels: int = 17  # 2: Bernoulli decoder; K > 2: categorical over K grey levels
    latent_dim: int = 16  # d
    hidden: int = 256
    depth: int = 2  # hidden layers in the encoder and in the decoder
    prior: str = "normal"  # "normal": N(0, I); "mog": a learned mixture of Gaussians
    prior_components: int = 16
    num_classes: int = 0  # > 0: a conditional VAE p(x | y), q(z | x, y)
    beta: float = 1.0  # weight of the KL term in training
    kl_warmup_steps: int = 0  # KL weight grows linearly from 0 to beta over these steps
    free_bits: float = 0.0  # lambda: nats per latent dimension below which the KL is not pushed down
    train_k: int = 1  # importance samples in the training objective (1: ELBO, > 1: IWAE)
    dropout: float = 0.0  # dropout after each hidden layer (training only): a regulariser for small data

    def __post_init__(self) -> None:
        self.shape = tuple(int(s) for s in self.shape)  # a JSON round trip gives a list
        if len(self.shape) != 3:
            raise ValueError(f"shape must be (C, H, W); got {self.shape}.")
        if self.num_levels < 2:
            raise ValueError(f"num_levels must be at least 2; got {self.num_levels}.")
        if self.latent_dim < 1 or self.hidden < 1 or self.depth < 1:
            raise ValueError("latent_dim, hidden and depth must be positive.")
        if self.prior not in ("normal", "mog"):
            raise ValueError(f"prior must be 'normal' or 'mog'; got {self.prior!r}.")
        if self.beta < 0 or self.free_bits < 0 or self.kl_warmup_steps < 0:
            raise ValueError("beta, free_bits and kl_warmup_steps must be non-negative.")
        if self.train_k < 1:
            raise ValueError(f"train_k must be at least 1; got {self.train_k}.")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1); got {self.dropout}.")

    @property
    def num_dims(self) -> int:
        c, h, w = self.shape
        return c * h * w


# --------------------------------------------------------------------------- the three parts
class Encoder(nn.Module):
    """q(z | x[, y]) = N(mu(x), diag(exp(log_var(x)))), a diagonal Gaussian."""

    def __init__(self, cfg: VAEConfig) -> None:
        super().__init__()
        self.net = mlp([cfg.num_dims + cfg.num_classes] + [cfg.hidden] * cfg.depth + [2 * cfg.latent_dim], cfg.dropout)

    def forward(self, x_flat: Tensor, y_onehot: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``x_flat``: (B, D) in [0, 1] -> ``mu``, ``log_var``: (B, d) each."""
        h = 2 * x_flat - 1
        if y_onehot is not None:
            h = torch.cat([h, y_onehot], -1)
        mu, log_var = self.net(h).chunk(2, dim=-1)
        return mu, log_var.clamp(-12, 8)

    def dist(self, x_flat: Tensor, y_onehot: Tensor | None = None) -> Independent:
        mu, log_var = self(x_flat, y_onehot)
        return Independent(Normal(mu, torch.exp(0.5 * log_var)), 1)


class Decoder(nn.Module):
    """p(x | z[, y]): independent Bernoulli pixels (K = 2) or categoricals over K grey levels."""

    def __init__(self, cfg: VAEConfig) -> None:
        super().__init__()
        self.cfg = cfg
        out = cfg.num_dims if cfg.num_levels == 2 else cfg.num_dims * cfg.num_levels
        self.net = mlp([cfg.latent_dim + cfg.num_classes] + [cfg.hidden] * cfg.depth + [out], cfg.dropout)

    def logits(self, z: Tensor, y_onehot: Tensor | None = None) -> Tensor:
        """``z``: (..., d) -> logits (..., D) (Bernoulli) or (..., D, K) (categorical)."""
        h = z
        if y_onehot is not None:
            h = torch.cat([z, y_onehot.expand(*z.shape[:-1], y_onehot.shape[-1])], -1)
        out = self.net(h)
        if self.cfg.num_levels == 2:
            return out
        return out.unflatten(-1, (self.cfg.num_dims, self.cfg.num_levels))

    def dist(self, z: Tensor, y_onehot: Tensor | None = None) -> Independent:
        """The distribution over the D pixels (event shape (D,): flat 0/1 values or integer levels)."""
        logits = self.logits(z, y_onehot)
        if self.cfg.num_levels == 2:
            return Independent(Bernoulli(logits=logits), 1)
        return Independent(Categorical(logits=logits), 1)

    def targets(self, x_flat: Tensor) -> Tensor:
        """What ``dist(z).log_prob`` scores: 0/1 floats (Bernoulli) or integer levels (categorical)."""
        if self.cfg.num_levels == 2:
            return x_flat
        return torch.round(x_flat * (self.cfg.num_levels - 1)).long()

    def log_prob(self, x_flat: Tensor, z: Tensor, y_onehot: Tensor | None = None) -> Tensor:
        """log p(x | z), summed over pixels; ``z`` (..., B, d), ``x_flat`` (B, D) -> (..., B)."""
        logits = self.logits(z, y_onehot)
        t = self.targets(x_flat)
        if self.cfg.num_levels == 2:
            logits, t = torch.broadcast_tensors(logits, t)
            return -F.binary_cross_entropy_with_logits(logits, t, reduction="none").sum(-1)
        shape = torch.broadcast_shapes(logits.shape[:-1], t.shape)
        logp = torch.log_softmax(logits, -1).expand(*shape, self.cfg.num_levels)
        return logp.gather(-1, t.expand(shape).unsqueeze(-1)).squeeze(-1).sum(-1)

    def mean(self, z: Tensor, y_onehot: Tensor | None = None) -> Tensor:
        """E[x | z] in [0, 1], shape (..., D): the "decoder mean" image."""
        logits = self.logits(z, y_onehot)
        if self.cfg.num_levels == 2:
            return torch.sigmoid(logits)
        grid = torch.arange(self.cfg.num_levels, device=z.device, dtype=logits.dtype) / (self.cfg.num_levels - 1)
        return (torch.softmax(logits, -1) * grid).sum(-1)

    def sample(self, z: Tensor, y_onehot: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        """One draw of every pixel given ``z``, in [0, 1], shape (..., D)."""
        logits = self.logits(z, y_onehot)
        if self.cfg.num_levels == 2:
            return (uniform(tuple(logits.shape), generator, z.device) < torch.sigmoid(logits)).float()
        return categorical(logits, generator).float() / (self.cfg.num_levels - 1)


class Prior(nn.Module):
    """p(z): a standard normal, or a learned mixture of ``prior_components`` diagonal Gaussians."""

    def __init__(self, cfg: VAEConfig) -> None:
        super().__init__()
        self.kind = cfg.prior
        d = cfg.latent_dim
        self.register_buffer("anchor", torch.zeros(d))  # carries device and dtype for the normal prior
        if self.kind == "mog":
            M = cfg.prior_components
            self.means = nn.Parameter(torch.randn(M, d, generator=torch.Generator().manual_seed(0)))
            self.log_scales = nn.Parameter(torch.zeros(M, d))
            self.mix_logits = nn.Parameter(torch.zeros(M))

    def dist(self) -> torch.distributions.Distribution:
        if self.kind == "normal":
            return Independent(Normal(self.anchor, torch.ones_like(self.anchor)), 1)
        comp = Independent(Normal(self.means, torch.exp(self.log_scales)), 1)
        return MixtureSameFamily(Categorical(logits=self.mix_logits), comp)

    def log_prob(self, z: Tensor) -> Tensor:
        """log p(z), shape ``z.shape[:-1]``."""
        return self.dist().log_prob(z)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` draws, shape (n, d), on the prior's device."""
        d, dev = self.anchor.shape[0], self.anchor.device
        eps = normal((n, d), generator, dev)
        if self.kind == "normal":
            return eps
        idx = categorical(self.mix_logits.expand(n, -1), generator)
        return self.means[idx] + torch.exp(self.log_scales[idx]) * eps


# --------------------------------------------------------------------------- the VAE
@dataclass
class ElboParts:
    """Per-example parts of the ELBO, each shaped (B,) (``kl_per_dim``: (B, d) or None)."""

    elbo: Tensor
    rec: Tensor  # one-sample estimate of E_q[log p(x | z)]
    kl: Tensor  # KL(q(z | x) || p(z)): closed form for the normal prior, one-sample otherwise
    kl_per_dim: Tensor | None  # closed-form KL per latent dimension (normal prior only)


def gaussian_kl_standard(mu: Tensor, log_var: Tensor) -> Tensor:
    """KL(N(mu, exp(log_var)) || N(0, 1)) per dimension: ``(mu^2 + e^{log_var} - 1 - log_var) / 2``."""
    return 0.5 * (mu**2 + log_var.exp() - 1 - log_var)


class VAE(GenerativeModel):
    """A VAE with MLP encoder and decoder; see the module docstring."""

    family = "vae"
    log_prob_kind = LogProbKind.LOWER_BOUND

    def __init__(self, cfg: VAEConfig) -> None:
        super().__init__(cfg)
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)
        self.prior = Prior(cfg)

    # -- input handling ------------------------------------------------------------------
    def _inputs(self, x: Tensor, y: Tensor | None) -> tuple[Tensor, Tensor | None]:
        check_images(x, self.cfg.shape, binary=self.cfg.num_levels == 2)
        return x.flatten(1), self._onehot(y, x.shape[0])

    def _onehot(self, y: Tensor | int | None, n: int) -> Tensor | None:
        """Validated labels (see ``GenerativeModel.labels``) as one-hot rows (n, num_classes), or None."""
        y = self.labels(y, n)
        return None if y is None else F.one_hot(y, self.num_classes).float()

    # -- the bound -----------------------------------------------------------------------
    def encode(self, x: Tensor, y: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``mu``, ``log_var`` of q(z | x), each (B, d)."""
        return self.encoder(*self._inputs(x, y))

    def elbo(self, x: Tensor, y: Tensor | None = None, generator: torch.Generator | None = None) -> ElboParts:
        """The ELBO and its parts, one reparameterised sample z = mu + sigma * eps per example."""
        x_flat, y1 = self._inputs(x, y)
        mu, log_var = self.encoder(x_flat, y1)
        z = mu + torch.exp(0.5 * log_var) * normal(tuple(mu.shape), generator, mu.device)
        rec = self.decoder.log_prob(x_flat, z, y1)
        if self.cfg.prior == "normal":
            kl_per_dim = gaussian_kl_standard(mu, log_var)
            kl = kl_per_dim.sum(-1)
        else:  # no closed form for a mixture prior: the one-sample estimate log q(z|x) - log p(z)
            kl_per_dim = None
            kl = Independent(Normal(mu, torch.exp(0.5 * log_var)), 1).log_prob(z) - self.prior.log_prob(z)
        return ElboParts(rec - kl, rec, kl, kl_per_dim)

    def log_weights(self, x: Tensor, k: int, y: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        """``log p(x, z_i) - log q(z_i | x)`` for ``k`` draws ``z_i ~ q(z | x)``: shape (k, B)."""
        x_flat, y1 = self._inputs(x, y)
        mu, log_var = self.encoder(x_flat, y1)
        q = Independent(Normal(mu, torch.exp(0.5 * log_var)), 1)
        z = mu + torch.exp(0.5 * log_var) * normal((k, *mu.shape), generator, mu.device)  # (k, B, d)
        return self.decoder.log_prob(x_flat, z, y1) + self.prior.log_prob(z) - q.log_prob(z)

    def iw_bound(self, x: Tensor, k: int, y: Tensor | None = None, generator: torch.Generator | None = None, chunk: int = 400_000) -> Tensor:
        """The importance-weighted bound ``log mean_i exp(log_weights_i)``, shape (B,).

        Draws are taken ``max(1, chunk // (B * K))`` at a time, so k = 1000 fits in memory.
        """
        if k < 1:
            raise ValueError(f"k must be at least 1; got {k}.")
        per = max(1, chunk // max(1, x.shape[0] * (self.cfg.num_levels if self.cfg.num_levels > 2 else 1)))
        parts = [self.log_weights(x, min(per, k - s), y, generator) for s in range(0, k, per)]
        return torch.logsumexp(torch.cat(parts, 0), 0) - math.log(k)

    def log_prob(self, x: Tensor, y: Tensor | None = None, k: int = 1, generator: torch.Generator | None = None) -> Tensor:
        """A lower bound on log p(x), shape (B,): the ELBO for ``k = 1``, the IW bound for ``k > 1``."""
        if k == 1:
            return self.elbo(x, y, generator).elbo
        return self.iw_bound(x, k, y, generator)

    # -- training ------------------------------------------------------------------------
    def kl_weight(self, step: int) -> float:
        """The KL weight at training step ``step`` (1, 2, ...): ``beta``, ramped up linearly from 0
        over the first ``kl_warmup_steps`` steps."""
        if self.cfg.kl_warmup_steps == 0:
            return self.cfg.beta
        return self.cfg.beta * min(1.0, (step - 1) / self.cfg.kl_warmup_steps)

    def loss(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """The mean -ELBO (nats per example): the validation loss, comparable across training settings."""
        return -self.elbo(x, y).elbo.mean()

    def training_loss(self, x: Tensor, y: Tensor | None = None, *, step: int) -> Tensor:
        """The configured objective: -(rec - beta_step KL), with free bits if set, or -IWAE with ``train_k``."""
        if self.cfg.train_k > 1:
            return -self.iw_bound(x, self.cfg.train_k, y).mean()
        parts = self.elbo(x, y)
        if self.cfg.free_bits > 0:
            if parts.kl_per_dim is not None:  # Kingma et al. 2016: floor each dimension's batch-mean KL
                kl_term = parts.kl_per_dim.mean(0).clamp_min(self.cfg.free_bits).sum()
            else:
                kl_term = parts.kl.mean().clamp_min(self.cfg.free_bits * self.cfg.latent_dim)
        else:
            kl_term = parts.kl.mean()
        return -parts.rec.mean() + self.kl_weight(step) * kl_term

    # -- generation ----------------------------------------------------------------------
    @torch.no_grad()
    def decode(self, z: Tensor, y: Tensor | None = None, *, mean: bool = True, generator: torch.Generator | None = None) -> Tensor:
        """Images (n, C, H, W) from latents ``z`` (n, d): the decoder mean, or one sampled image."""
        y1 = self._onehot(y, z.shape[0])
        flat = self.decoder.mean(z, y1) if mean else self.decoder.sample(z, y1, generator)
        return flat.unflatten(-1, self.cfg.shape)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, y: Tensor | int | None = None, mean: bool = False) -> Tensor:
        """``n`` images (n, C, H, W) in [0, 1]: z ~ p(z), then x ~ p(x | z [, y]) (or its mean)."""
        self.labels(y, n)
        z = self.prior.sample(n, generator)
        return self.decode(z, y, mean=mean, generator=generator)

    @torch.no_grad()
    def reconstruct(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """Decoder mean at the encoder mean: (B, C, H, W)."""
        mu, _ = self.encode(x, y)
        return self.decode(mu, y)


# --------------------------------------------------------------------------- the plain autoencoder
class Autoencoder(GenerativeModel):
    """A deterministic autoencoder with the VAE's networks: z = mu(x), trained on -log p(x | z) only.

    It has no prior, so it is no generative model: ``sample`` decodes latents drawn from a diagonal
    Gaussian matched to the training codes (``fit_code_distribution``), the fairest guess there is.
    """

    family = "autoencoder"
    log_prob_kind = LogProbKind.NONE

    def __init__(self, cfg: VAEConfig) -> None:
        super().__init__(cfg)
        if cfg.num_classes:
            raise ValueError("The autoencoder is unconditional: use num_classes=0.")
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)
        self.register_buffer("code_mean", torch.zeros(cfg.latent_dim))
        self.register_buffer("code_std", torch.ones(cfg.latent_dim))

    def encode(self, x: Tensor) -> Tensor:
        """The code z = mu(x), shape (B, d)."""
        check_images(x, self.cfg.shape, binary=self.cfg.num_levels == 2)
        return self.encoder(x.flatten(1))[0]

    def loss(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """Mean reconstruction NLL -log p(x | z = mu(x)) (nats)."""
        self.labels(y, x.shape[0])
        return -self.decoder.log_prob(x.flatten(1), self.encode(x)).mean()

    @torch.no_grad()
    def fit_code_distribution(self, x: Tensor) -> "Autoencoder":
        """Set ``code_mean``, ``code_std`` to the per-dimension mean and std of the codes of ``x``."""
        z = self.encode(x.to(self.device))
        self.code_mean.copy_(z.mean(0))
        self.code_std.copy_(z.std(0))
        return self

    @torch.no_grad()
    def decode(self, z: Tensor) -> Tensor:
        return self.decoder.mean(z).unflatten(-1, self.cfg.shape)

    @torch.no_grad()
    def reconstruct(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x))

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, y: Tensor | None = None, mean: bool = False) -> Tensor:
        """``n`` images (n, C, H, W) decoded at random codes from the matched Gaussian: sampled pixels,
        or the decoder means with ``mean=True``."""
        self.labels(y, n)
        z = self.code_mean + self.code_std * normal((n, self.cfg.latent_dim), generator, self.device)
        flat = self.decoder.mean(z) if mean else self.decoder.sample(z, None, generator)
        return flat.unflatten(-1, self.cfg.shape)
