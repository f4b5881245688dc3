"""Sample-quality metrics on feature sets: Fréchet distance, KID, an Inception-style score,
precision / recall, density / coverage, nearest-training-image distances, and a classifier
two-sample test.

Every metric takes feature matrices, ``(N, d)`` tensors or arrays (from
:func:`course_utils.evaluation.features.extract_features`), and computes in float64 on the CPU.
In this course the features are those of a small digit classifier, so the Fréchet distance is
"FD (course features)", not FID: same formula, different network, different scale.

| metric | paper | what it measures | identical distributions give |
|---|---|---|---|
| :func:`frechet_distance` | Heusel et al. 2017 | distance between Gaussians fitted to the two feature sets | 0 in expectation only: biased upwards at finite N |
| :func:`kid` | Bińkowski et al. 2018 | unbiased MMD² with kernel ``(x·y/d + 1)^3`` | 0 in expectation (can be negative) |
| :func:`inception_score` | Salimans et al. 2016 | ``exp E_x KL(p(y|x) || p(y))``: confident and diverse classes | between 1 and the number of classes |
| :func:`precision_recall` | Kynkäänniemi et al. 2019 (k = 3) | fraction of fakes on the real manifold / of reals on the fake one | less than 1 |
| :func:`density_coverage` | Naeem et al. 2020 (k = 5) | how many real k-NN balls hold each fake / fraction of real balls hit | density 1, coverage ≈ 1 - 2^-k |
| :func:`nearest_neighbour_distance` | — | distance of each sample to its nearest training image (memorisation) | — |
| :func:`classifier_two_sample_test` | Lopez-Paz & Oquab 2017 | held-out accuracy of a classifier telling real from fake, with a p-value | accuracy 0.5 |

Notation: real features ``x_i`` (``real``, N of them), generated ``y_j`` (``fake``, M of them),
``NND_k(x_i)`` the distance from ``x_i`` to its k-th nearest neighbour among the other reals.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

ArrayLike = Any  # a torch.Tensor, a numpy array or a nested list of numbers


# --------------------------------------------------------------------------- input checks
def as_features(x: ArrayLike, what: str = "features", *, min_n: int = 1, ndim: int = 2) -> Tensor:
    """``x`` as a float64 CPU tensor of ``ndim`` dimensions, at least ``min_n`` rows, all finite.

    Raises ``TypeError``/``ValueError`` with a sentence naming what to pass instead.
    """
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    elif isinstance(x, (list, tuple)):
        try:
            x = torch.as_tensor(x, dtype=torch.float64)
        except (TypeError, ValueError) as err:
            raise TypeError(f"{what} must be numbers in a torch.Tensor, numpy array or nested list; got {err}.") from err
    if not isinstance(x, Tensor):
        raise TypeError(f"{what} must be a torch.Tensor or numpy array; got {type(x).__name__}.")
    if x.is_complex() or x.dtype == torch.bool:
        raise TypeError(f"{what} must hold real numbers; got dtype {x.dtype}.")
    if x.ndim != ndim:
        shape = "(N, d)" if ndim == 2 else ("(d,)" if ndim == 1 else f"{ndim} dimensions")
        hint = " (flatten images with x.flatten(1), or pass features from extract_features)" if ndim == 2 else ""
        raise ValueError(f"{what} must be shaped {shape}; got {tuple(x.shape)}{hint}.")
    if ndim == 2 and x.shape[0] < min_n:
        raise ValueError(f"{what} needs at least {min_n} rows (samples); got {x.shape[0]}.")
    if ndim == 2 and x.shape[1] < 1:
        raise ValueError(f"{what} has no feature columns; got shape {tuple(x.shape)}.")
    x = x.detach().to("cpu", torch.float64)
    if not torch.isfinite(x).all():
        raise ValueError(f"{what} contain NaN or infinite values.")
    return x


def _pair(real: ArrayLike, fake: ArrayLike, min_n: int, names: tuple[str, str] = ("real", "fake")) -> tuple[Tensor, Tensor]:
    a = as_features(real, names[0], min_n=min_n)
    b = as_features(fake, names[1], min_n=min_n)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"{names[0]} and {names[1]} must have the same feature dimension; got {a.shape[1]} and {b.shape[1]}.")
    return a, b


# --------------------------------------------------------------------------- Fréchet distance
def _psd_sqrt(cov: Tensor) -> Tensor:
    """Symmetric square root of a symmetric positive semi-definite matrix (negative round-off eigenvalues -> 0)."""
    evals, evecs = torch.linalg.eigh(cov)
    return (evecs * evals.clamp(min=0).sqrt()) @ evecs.T


def trace_sqrt_product(cov1: Tensor, cov2: Tensor) -> float:
    """``tr sqrt(S1 S2)`` = sum of the square roots of the eigenvalues of ``S1 S2``.

    ``S1 S2`` is not symmetric, but it has the eigenvalues of ``sqrt(S1) S2 sqrt(S1)``, which is
    symmetric positive semi-definite: a symmetric eigen-decomposition gives them real and (up to
    round-off, clipped) non-negative, with no ``scipy.linalg.sqrtm`` and no imaginary parts.
    """
    root1 = _psd_sqrt(cov1)
    middle = root1 @ cov2 @ root1
    middle = (middle + middle.T) / 2
    return torch.linalg.eigvalsh(middle).clamp(min=0).sqrt().sum().item()


def gaussian_frechet_distance(mu1: ArrayLike, cov1: ArrayLike, mu2: ArrayLike, cov2: ArrayLike) -> float:
    """Fréchet (2-Wasserstein squared) distance between N(mu1, cov1) and N(mu2, cov2), closed form:

    ``||mu1 - mu2||² + tr(cov1) + tr(cov2) - 2 tr sqrt(cov1 cov2)``.
    ``mu``: (d,); ``cov``: (d, d), symmetric positive semi-definite.
    """
    mu1, mu2 = as_features(mu1, "mu1", ndim=1), as_features(mu2, "mu2", ndim=1)
    cov1, cov2 = as_features(cov1, "cov1"), as_features(cov2, "cov2")
    d = mu1.shape[0]
    for name, mu, cov in (("1", mu1, cov1), ("2", mu2, cov2)):
        if mu.shape != (d,) or cov.shape != (d, d):
            raise ValueError(f"mu{name} must be ({d},) and cov{name} ({d}, {d}); got {tuple(mu.shape)} and {tuple(cov.shape)}.")
        scale = cov.abs().max().item() + 1e-300
        if (cov - cov.T).abs().max().item() > 1e-8 * scale:
            raise ValueError(f"cov{name} is not symmetric: pass a covariance matrix.")
        if torch.linalg.eigvalsh(cov).min().item() < -1e-8 * scale:
            raise ValueError(f"cov{name} has a negative eigenvalue: pass a positive semi-definite covariance matrix.")
    value = ((mu1 - mu2) ** 2).sum().item() + cov1.trace().item() + cov2.trace().item() - 2 * trace_sqrt_product(cov1, cov2)
    return max(value, 0.0)  # FD >= 0; a tiny negative value is round-off


def mean_and_cov(features: ArrayLike) -> tuple[Tensor, Tensor]:
    """Sample mean (d,) and unbiased covariance (d, d) of (N, d) features, in float64."""
    x = as_features(features, "features", min_n=2)
    return x.mean(0), torch.atleast_2d(torch.cov(x.T))


def frechet_distance(real: ArrayLike, fake: ArrayLike) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (N, d) and (M, d).

    With the course's features this is "FD (course features)". It is biased upwards at finite N
    (two samples of one distribution score above 0), so compare numbers only at one N and print
    the real-vs-real floor beside them (:mod:`course_utils.evaluation.protocol`). Fewer samples than
    dimensions make the covariances singular; the eigenvalue form still works.
    """
    a, b = _pair(real, fake, min_n=2)
    (mu1, cov1), (mu2, cov2) = mean_and_cov(a), mean_and_cov(b)
    value = ((mu1 - mu2) ** 2).sum().item() + cov1.trace().item() + cov2.trace().item() - 2 * trace_sqrt_product(cov1, cov2)
    return max(value, 0.0)


# --------------------------------------------------------------------------- KID
def _kernel_sum(a: Tensor, b: Tensor, block: int = 2048) -> float:
    """Sum over all pairs of the cubic polynomial kernel ``(a_i·b_j / d + 1)^3``, in row blocks."""
    d = a.shape[1]
    return sum(((a[i : i + block] @ b.T / d + 1) ** 3).sum().item() for i in range(0, a.shape[0], block))


def _kernel_diag_sum(a: Tensor) -> float:
    return (((a * a).sum(1) / a.shape[1] + 1) ** 3).sum().item()


def kid(real: ArrayLike, fake: ArrayLike) -> float:
    """Kernel distance: the unbiased estimate of MMD² with kernel ``k(x, y) = (x·y / d + 1)^3``.

    ``sum_{i!=i'} k(x_i, x_i') / (N(N-1)) + sum_{j!=j'} k(y_j, y_j') / (M(M-1)) - 2 sum_{i,j} k(x_i, y_j) / (NM)``.
    Unbiased: its mean over repeated samples of one distribution is 0, so single values can be
    negative. (Papers often average it over subsets of 1,000; on the full sets it is one estimate.)
    """
    a, b = _pair(real, fake, min_n=2)
    n, m = a.shape[0], b.shape[0]
    k_aa = (_kernel_sum(a, a) - _kernel_diag_sum(a)) / (n * (n - 1))
    k_bb = (_kernel_sum(b, b) - _kernel_diag_sum(b)) / (m * (m - 1))
    k_ab = _kernel_sum(a, b) / (n * m)
    return k_aa + k_bb - 2 * k_ab


# --------------------------------------------------------------------------- Inception-style score
def inception_score(probs: ArrayLike) -> float:
    """``exp( E_x KL(p(y|x) || p(y)) )`` with ``p(y)`` the mean of the rows; ``probs``: (N, C), rows summing to 1.

    In the course, ``probs = class_probabilities(net, samples)`` with a course classifier, not
    Inception: call it "IS (course classifier)". It is 1 when every sample gets the same class
    distribution and C when each is classified with certainty and the classes are equally used.
    """
    p = as_features(probs, "probs")
    if (p < 0).any():
        raise ValueError("probs must be non-negative: pass class probabilities (softmax of logits), not logits.")
    sums = p.sum(1)
    if not torch.allclose(sums, torch.ones_like(sums), atol=1e-4):
        raise ValueError(f"each row of probs must sum to 1 (softmax over classes); got row sums in [{sums.min():.4g}, {sums.max():.4g}].")
    marginal = p.mean(0, keepdim=True)
    kl = (torch.xlogy(p, p) - torch.xlogy(p, marginal)).sum(1)  # 0 log 0 = 0
    return math.exp(kl.mean().item())


# --------------------------------------------------------------------------- k-NN manifolds
def _sq_dists(a: Tensor, b: Tensor) -> Tensor:
    """Squared Euclidean distances (len(a), len(b)), clipped at 0."""
    return ((a * a).sum(1, keepdim=True) - 2 * a @ b.T + (b * b).sum(1)).clamp_(min=0)


def _kth_neighbour_radius(x: Tensor, k: int, block: int = 1024) -> Tensor:
    """Distance from each row of x to its k-th nearest *other* row: (N,)."""
    out = []
    for i in range(0, x.shape[0], block):
        d2 = _sq_dists(x[i : i + block], x)
        d2[torch.arange(d2.shape[0]), torch.arange(i, i + d2.shape[0])] = float("inf")  # not itself
        out.append(d2.kthvalue(k, dim=1).values.sqrt())
    return torch.cat(out)


def _ball_counts(centres: Tensor, radii: Tensor, points: Tensor, block: int = 1024) -> Tensor:
    """For each point, how many balls B(centre_i, radius_i) (closed) contain it: (len(points),)."""
    counts = torch.zeros(points.shape[0], dtype=torch.float64)
    r2 = radii**2
    for i in range(0, centres.shape[0], block):
        inside = _sq_dists(centres[i : i + block], points) <= r2[i : i + block, None]
        counts += inside.sum(0)
    return counts


def _check_k(k: int, n: int, what: str) -> None:
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer; got {k!r}.")
    if n <= k:
        raise ValueError(f"{what} has {n} samples, but a {k}-NN radius needs at least k + 1 = {k + 1}: pass more samples or a smaller k.")


def precision_recall(real: ArrayLike, fake: ArrayLike, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019) with k-NN manifolds.

    The real manifold is the union of balls ``B(x_i, NND_k(x_i))``; precision is the fraction of
    fakes inside it. Recall swaps the roles: the fraction of reals inside the fake manifold.
    """
    a, b = _pair(real, fake, min_n=1)
    _check_k(k, a.shape[0], "real")
    _check_k(k, b.shape[0], "fake")
    precision = (_ball_counts(a, _kth_neighbour_radius(a, k), b) > 0).double().mean().item()
    recall = (_ball_counts(b, _kth_neighbour_radius(b, k), a) > 0).double().mean().item()
    return precision, recall


def density_coverage(real: ArrayLike, fake: ArrayLike, k: int = 5) -> tuple[float, float]:
    """Density and coverage (Naeem et al. 2020), from k-NN balls around the *real* samples only.

    density = ``1/(kM) sum_j #{i : y_j in B(x_i, NND_k(x_i))}`` (expected value 1 when fake and real
    come from one distribution; above 1 when fakes crowd dense regions);
    coverage = fraction of real balls that hold at least one fake (expected ``1 - 2^-k`` for
    identical distributions with N = M, large N).
    """
    a, b = _pair(real, fake, min_n=1)
    _check_k(k, a.shape[0], "real")
    radii = _kth_neighbour_radius(a, k)
    density = (_ball_counts(a, radii, b).sum() / (k * b.shape[0])).item()
    hits = torch.zeros(a.shape[0], dtype=torch.bool)
    r2 = radii**2
    for j in range(0, b.shape[0], 1024):
        hits |= (_sq_dists(a, b[j : j + 1024]) <= r2[:, None]).any(1)
    return density, hits.double().mean().item()


# --------------------------------------------------------------------------- memorisation
def nearest_neighbour_distance(samples: ArrayLike, reference: ArrayLike, *, block: int = 1024) -> tuple[Tensor, Tensor]:
    """Euclidean distance from each sample to its nearest reference row, and that row's index.

    Pass images (flattened to pixel space, any trailing shape) or features. For a memorisation
    check, ``reference`` is the training set; compare with the same distances of held-out real
    images (test split), which were not trained on: samples much closer than those are copies.
    Returns ``(distances (N,) float64, indices (N,) int64)``.
    """
    s, r = samples, reference
    if isinstance(s, (Tensor, np.ndarray)) and s.ndim > 2:
        s = s.reshape(s.shape[0], -1)
    if isinstance(r, (Tensor, np.ndarray)) and r.ndim > 2:
        r = r.reshape(r.shape[0], -1)
    a, b = _pair(s, r, min_n=1, names=("samples", "reference"))
    idx = torch.cat([_sq_dists(a[i : i + block], b).argmin(1) for i in range(0, a.shape[0], block)])
    return (a - b[idx]).norm(dim=1), idx  # the distance recomputed directly: exactly 0 for a copy


# --------------------------------------------------------------------------- classifier two-sample test
@dataclass(frozen=True)
class TwoSampleResult:
    """Held-out accuracy of a real-vs-fake classifier, the one-sided binomial p-value against 0.5, and the test size."""

    accuracy: float
    p_value: float
    n_test: int

    def __str__(self) -> str:
        return f"C2ST accuracy {self.accuracy:.3f} on {self.n_test} held-out points (p = {self.p_value:.3g} against chance 0.5)"


def classifier_two_sample_test(real: ArrayLike, fake: ArrayLike, *, seed: int = 0, C: float = 1.0) -> TwoSampleResult:
    """Classifier two-sample test (Lopez-Paz & Oquab 2017) with logistic regression on standardised features.

    Both sets are cut to the smaller size (a random subset, by ``seed``) so chance is 0.5; half of
    each trains the classifier, the other half tests it. Under H0 (one distribution) the number of
    correct test predictions is Binomial(n_test, 0.5); the p-value is ``P(X >= correct)``. An
    accuracy well above 0.5 says the classifier can tell the samples from real data; 0.5 says only
    that *this* classifier cannot.
    """
    from scipy.stats import binomtest
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    a, b = _pair(real, fake, min_n=4)
    rng = np.random.default_rng(seed)
    m = min(a.shape[0], b.shape[0])
    a = a[torch.from_numpy(rng.permutation(a.shape[0])[:m])].numpy()
    b = b[torch.from_numpy(rng.permutation(b.shape[0])[:m])].numpy()
    half = m // 2
    x_train = np.concatenate([a[:half], b[:half]])
    y_train = np.r_[np.zeros(half), np.ones(half)]
    x_test = np.concatenate([a[half:], b[half:]])
    y_test = np.r_[np.zeros(m - half), np.ones(m - half)]
    scaler = StandardScaler().fit(x_train)
    clf = LogisticRegression(C=C, max_iter=5000).fit(scaler.transform(x_train), y_train)
    correct = int((clf.predict(scaler.transform(x_test)) == y_test).sum())
    n_test = len(y_test)
    p_value = binomtest(correct, n_test, 0.5, alternative="greater").pvalue
    return TwoSampleResult(correct / n_test, float(p_value), n_test)
