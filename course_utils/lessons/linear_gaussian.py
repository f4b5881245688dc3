"""A linear-Gaussian latent model (probabilistic PCA) where every quantity of a VAE is exact.

Tipping & Bishop (1999), *Probabilistic principal component analysis*:

    p(z) = N(0, I_d),    p(x | z) = N(W z + b, sigma^2 I_D).

Everything a VAE can only bound or estimate has a closed form here, in float64:

- the marginal likelihood ``log p(x) = log N(x; b, W W^T + sigma^2 I)``;
- the exact posterior ``p(z | x) = N(M^{-1} W^T (x - b), sigma^2 M^{-1})`` with ``M = W^T W + sigma^2 I``;
- the ELBO of any Gaussian ``q(z | x) = N(m, S)``, and ``KL(q || p(z | x))``, so that the identity
  ``log p(x) - ELBO(q) = KL(q || p(z | x))`` can be checked to rounding error.

| here       | math                 | shape        |
|------------|----------------------|--------------|
| ``W``      | W, loading matrix    | (D, d)       |
| ``b``      | b, data mean         | (D,)         |
| ``sigma2`` | sigma^2, noise       | scalar       |
| ``m, S``   | mean, covariance of q | (B, d), (B, d, d) or (d, d) |
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

LOG_2PI = math.log(2 * math.pi)


@dataclass
class LinearGaussianConfig:
    data_dim: int = 64  # D
    latent_dim: int = 2  # d

    def __post_init__(self) -> None:
        if self.data_dim < 1 or self.latent_dim < 1:
            raise ValueError(f"data_dim and latent_dim must be positive; got {self.data_dim}, {self.latent_dim}.")


def gaussian_kl(m1: Tensor, S1: Tensor, m2: Tensor, S2: Tensor) -> Tensor:
    """KL(N(m1, S1) || N(m2, S2)) for full covariances; batch shapes broadcast.

    ``m``: (..., d); ``S``: (..., d, d). Returns shape (...).
    ``KL = 1/2 [tr(S2^{-1} S1) + (m2 - m1)^T S2^{-1} (m2 - m1) - d + log det S2 - log det S1]``.
    """
    d = m1.shape[-1]
    S1, S2 = torch.broadcast_tensors(S1, S2)
    L2 = torch.linalg.cholesky(S2)
    diff = (m2 - m1).unsqueeze(-1)  # (..., d, 1)
    L2b = L2.expand(*diff.shape[:-2], d, d) if L2.ndim < diff.ndim else L2
    trace = torch.cholesky_solve(S1, L2).diagonal(dim1=-2, dim2=-1).sum(-1)
    maha = (diff * torch.cholesky_solve(diff, L2b)).sum((-2, -1))
    logdet2 = 2 * torch.log(torch.diagonal(L2, dim1=-2, dim2=-1)).sum(-1)
    logdet1 = torch.logdet(S1)
    return 0.5 * (trace + maha - d + logdet2 - logdet1)


class LinearGaussian(torch.nn.Module):
    """Probabilistic PCA with parameters as float64 buffers (move with ``.to``)."""

    def __init__(self, cfg: LinearGaussianConfig, W: Tensor | None = None, b: Tensor | None = None, sigma2: float = 0.1) -> None:
        super().__init__()
        self.cfg = cfg
        D, d = cfg.data_dim, cfg.latent_dim
        W = torch.randn(D, d, generator=torch.Generator().manual_seed(0), dtype=torch.float64) if W is None else W
        b = torch.zeros(D, dtype=torch.float64) if b is None else b
        if tuple(W.shape) != (D, d) or tuple(b.shape) != (D,):
            raise ValueError(f"W must be ({D}, {d}) and b ({D},); got {tuple(W.shape)} and {tuple(b.shape)}.")
        if not sigma2 > 0:
            raise ValueError(f"sigma2 must be positive; got {sigma2}.")
        self.register_buffer("W", W.double().clone())
        self.register_buffer("b", b.double().clone())
        self.register_buffer("sigma2", torch.tensor(float(sigma2), dtype=torch.float64))

    # ------------------------------------------------------------------ fitting
    @classmethod
    def fit(cls, x: Tensor, latent_dim: int) -> "LinearGaussian":
        """Maximum-likelihood PPCA in closed form (Tipping & Bishop 1999, eqs. 7-8).

        ``x``: (N, D). ``sigma^2`` is the mean of the discarded eigenvalues of the sample covariance;
        ``W = U_d (Lambda_d - sigma^2 I)^{1/2}``.
        """
        if x.ndim != 2:
            raise ValueError(f"x must be shaped (N, D); got {tuple(x.shape)}.")
        N, D = x.shape
        if not 1 <= latent_dim < D:
            raise ValueError(f"latent_dim must be in 1..{D - 1}; got {latent_dim}.")
        x = x.double()
        b = x.mean(0)
        cov = (x - b).T @ (x - b) / N
        evals, evecs = torch.linalg.eigh(cov)  # ascending
        evals, evecs = evals.flip(0), evecs.flip(1)
        sigma2 = evals[latent_dim:].mean().clamp_min(1e-6)
        W = evecs[:, :latent_dim] * torch.sqrt((evals[:latent_dim] - sigma2).clamp_min(0))
        return cls(LinearGaussianConfig(D, latent_dim), W, b, float(sigma2))

    # ------------------------------------------------------------------ exact quantities
    def _x(self, x: Tensor) -> Tensor:
        if x.ndim != 2 or x.shape[1] != self.cfg.data_dim:
            raise ValueError(f"x must be shaped (B, {self.cfg.data_dim}); got {tuple(x.shape)}.")
        return x.to(self.W)

    def marginal_cov(self) -> Tensor:
        """C = W W^T + sigma^2 I, shape (D, D)."""
        return self.W @ self.W.T + self.sigma2 * torch.eye(self.cfg.data_dim, dtype=self.W.dtype, device=self.W.device)

    def log_prob(self, x: Tensor) -> Tensor:
        """Exact log p(x) = log N(x; b, W W^T + sigma^2 I), shape (B,)."""
        x = self._x(x)
        return torch.distributions.MultivariateNormal(self.b, covariance_matrix=self.marginal_cov()).log_prob(x)

    def posterior(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Exact p(z | x) = N(mean, cov): mean (B, d), cov (d, d) (the same for every x)."""
        x = self._x(x)
        d = self.cfg.latent_dim
        M = self.W.T @ self.W + self.sigma2 * torch.eye(d, dtype=self.W.dtype, device=self.W.device)
        mean = torch.linalg.solve(M, self.W.T @ (x - self.b).T).T
        return mean, self.sigma2 * torch.linalg.inv(M)

    def expected_log_lik(self, x: Tensor, m: Tensor, S: Tensor) -> Tensor:
        """E_{N(z; m, S)}[log p(x | z)], shape (B,):
        ``-D/2 log(2 pi sigma^2) - (||x - W m - b||^2 + tr(W S W^T)) / (2 sigma^2)``."""
        x = self._x(x)
        D = self.cfg.data_dim
        resid = ((x - m @ self.W.T - self.b) ** 2).sum(-1)
        trace = (self.W @ S @ self.W.T).diagonal(dim1=-2, dim2=-1).sum(-1)
        return -0.5 * D * (LOG_2PI + torch.log(self.sigma2)) - (resid + trace) / (2 * self.sigma2)

    def kl_to_prior(self, m: Tensor, S: Tensor) -> Tensor:
        """KL(N(m, S) || N(0, I)) = 1/2 (tr S + ||m||^2 - d - log det S), shape (B,)."""
        d = self.cfg.latent_dim
        return 0.5 * (S.diagonal(dim1=-2, dim2=-1).sum(-1) + (m**2).sum(-1) - d - torch.logdet(S))

    def elbo(self, x: Tensor, m: Tensor, S: Tensor) -> Tensor:
        """Closed-form ELBO of q(z | x) = N(m, S): ``E_q[log p(x|z)] - KL(q || p(z))``, shape (B,)."""
        m, S = m.to(self.W), S.to(self.W)
        return self.expected_log_lik(x, m, S) - self.kl_to_prior(m, S)

    def kl_to_posterior(self, x: Tensor, m: Tensor, S: Tensor) -> Tensor:
        """KL(N(m, S) || p(z | x)), shape (B,): the gap log p(x) - ELBO."""
        mean, cov = self.posterior(x)
        return gaussian_kl(m.to(self.W), S.to(self.W), mean, cov)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` draws of x, shape (n, D), float64."""
        dev = generator.device if generator is not None else self.W.device
        z = torch.randn(n, self.cfg.latent_dim, generator=generator, device=dev, dtype=torch.float64).to(self.W.device)
        eps = torch.randn(n, self.cfg.data_dim, generator=generator, device=dev, dtype=torch.float64).to(self.W.device)
        return z @ self.W.T + self.b + torch.sqrt(self.sigma2) * eps
