"""The kernel two-sample test: maximum mean discrepancy (MMD) with a Gaussian kernel and a permutation test.

Gretton, Borgwardt, Rasch, Schölkopf & Smola (2012), *A kernel two-sample test*. For samples
``x_1..x_n ~ P`` and ``y_1..y_m ~ Q`` and the kernel ``k(a, b) = exp(-|a - b|^2 / (2 h^2))``,

    MMD^2_u = 1/(n(n-1)) sum_{i!=j} k(x_i, x_j) + 1/(m(m-1)) sum_{i!=j} k(y_i, y_j) - 2/(nm) sum_{i,j} k(x_i, y_j)

is an unbiased estimate of ``MMD^2(P, Q)``, which is 0 exactly when P = Q (the Gaussian kernel is
characteristic). Under the null hypothesis P = Q the labels "x" and "y" are exchangeable, so the
statistic recomputed after random relabellings of the pooled sample gives its null distribution:
the p-value is ``(1 + #{permuted >= observed}) / (1 + permutations)``. The bandwidth ``h`` is the
median pairwise distance of the pooled sample (the median heuristic), which does not change under
relabelling, so the test stays exact. One kernel matrix serves every permutation: with ``L`` the
indicator matrix of the permuted "x" sets, the within-"x" sums are ``diag(L^T K L)``.

(:func:`course_utils.evaluation.sample_quality.kid` is the same unbiased MMD^2 with a polynomial
kernel on feature vectors.)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..draws import uniform


@dataclass(frozen=True)
class MMDTest:
    """Unbiased MMD^2, its permutation p-value, the 95 % quantile of the permuted statistics (the
    test's critical value at the 5 % level), the bandwidth and the sample sizes."""

    mmd2: float
    p_value: float
    critical_value: float
    bandwidth: float
    n: int
    m: int
    permutations: int

    def rejects(self, level: float = 0.05) -> bool:
        """True when the test rejects P = Q at ``level``."""
        return self.p_value <= level

    def __str__(self) -> str:
        return f"MMD^2 = {self.mmd2:.2e} (n = {self.n}, m = {self.m}, bandwidth {self.bandwidth:.3g}), permutation p = {self.p_value:.3f}"


def _as_points(a: Tensor, name: str) -> Tensor:
    if not isinstance(a, Tensor) or not a.is_floating_point():
        raise TypeError(f"{name} must be a float tensor of points (N, d); got {getattr(a, 'dtype', type(a).__name__)}.")
    a = a.detach().reshape(a.shape[0], -1).double().cpu()
    if a.shape[0] < 2:
        raise ValueError(f"{name} needs at least 2 points; got {a.shape[0]}.")
    if not bool(torch.isfinite(a).all()):
        raise ValueError(f"{name} holds NaN or infinite values.")
    return a


def median_bandwidth(pooled: Tensor, max_points: int = 2000) -> float:
    """The median pairwise distance of (the first ``max_points`` of) ``pooled``."""
    p = pooled[:max_points]
    d = torch.cdist(p, p)
    return d[torch.triu(torch.ones_like(d, dtype=torch.bool), diagonal=1)].median().item()


def _kernel(a: Tensor, b: Tensor, h: float) -> Tensor:
    return torch.exp(-torch.cdist(a, b).pow(2) / (2 * h * h))


def mmd2_unbiased(x: Tensor, y: Tensor, bandwidth: float | None = None) -> float:
    """The unbiased MMD^2 between samples ``x`` (n, d) and ``y`` (m, d), Gaussian kernel (median bandwidth by default)."""
    x, y = _as_points(x, "x"), _as_points(y, "y")
    h = bandwidth or median_bandwidth(torch.cat([x, y]))
    n, m = x.shape[0], y.shape[0]
    kxx, kyy, kxy = _kernel(x, x, h), _kernel(y, y, h), _kernel(x, y, h)
    return ((kxx.sum() - kxx.diagonal().sum()) / (n * (n - 1)) + (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
            - 2 * kxy.mean()).item()


def mmd_permutation_test(x: Tensor, y: Tensor, *, permutations: int = 500, bandwidth: float | None = None,
                         generator: torch.Generator | None = None) -> MMDTest:
    """Permutation test of P = Q with the unbiased Gaussian-kernel MMD^2 (see the module docstring)."""
    if permutations < 1:
        raise ValueError(f"permutations must be positive; got {permutations}.")
    x, y = _as_points(x, "x"), _as_points(y, "y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must have the same dimension; got {x.shape[1]} and {y.shape[1]}.")
    n, m = x.shape[0], y.shape[0]
    pooled = torch.cat([x, y])
    h = bandwidth or median_bandwidth(pooled)
    K = _kernel(pooled, pooled, h)
    K.fill_diagonal_(0.0)  # the unbiased statistic leaves out i = j
    total, rows = K.sum(), K.sum(1)
    # column 0: the observed split; then random relabellings (argsort of uniforms = a uniform permutation)
    order = torch.argsort(uniform((permutations, n + m), generator), dim=1)
    L = torch.zeros(n + m, permutations + 1, dtype=K.dtype)
    L[:n, 0] = 1.0
    L[order[:, :n].T, torch.arange(1, permutations + 1).expand(n, -1)] = 1.0
    s_xx = (L * (K @ L)).sum(0)  # sum over i != j, both in "x"
    s_xy = L.T @ rows - s_xx  # sum over i in "x", j in "y"
    s_yy = total - 2 * s_xy - s_xx
    stats = s_xx / (n * (n - 1)) + s_yy / (m * (m - 1)) - 2 * s_xy / (n * m)
    observed = stats[0]
    p = (1 + (stats[1:] >= observed - 1e-12).sum().item()) / (1 + permutations)
    return MMDTest(observed.item(), p, torch.quantile(stats[1:], 0.95).item(), h, n, m, permutations)
