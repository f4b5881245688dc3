"""Sample-quality metrics against closed forms: Fréchet distance, KID, IS, precision/recall, density/coverage,
nearest-neighbour distances and the classifier two-sample test."""

import math

import numpy as np
import pytest
import scipy.linalg
import torch

from course_utils.evaluation.sample_quality import (
    classifier_two_sample_test,
    density_coverage,
    frechet_distance,
    gaussian_frechet_distance,
    inception_score,
    kid,
    mean_and_cov,
    nearest_neighbour_distance,
    precision_recall,
)


def gaussian(n, mu, cov, seed):
    g = torch.Generator().manual_seed(seed)
    mu, cov = torch.as_tensor(mu, dtype=torch.float64), torch.as_tensor(cov, dtype=torch.float64)
    return mu + torch.randn(n, len(mu), generator=g, dtype=torch.float64) @ torch.linalg.cholesky(cov).T


def random_cov(d, seed):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(d, d, generator=g, dtype=torch.float64)
    return a @ a.T + 0.1 * torch.eye(d, dtype=torch.float64)


# --------------------------------------------------------------------------- Fréchet distance
def test_fd_of_a_set_with_itself_is_zero():
    x = torch.randn(300, 64) * 5 + 3  # float32, as features come
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-8)
    assert frechet_distance(x[:40], x[:40]) == pytest.approx(0.0, abs=1e-8)  # fewer samples than dimensions: singular covariance


def test_fd_of_1d_gaussians_is_mean_gap_plus_std_gap():
    """N(0, 1) vs N(0.5, 1.2^2): (0 - 0.5)^2 + (1 - 1.2)^2 = 0.25 + 0.04 = 0.29."""
    assert gaussian_frechet_distance([0.0], [[1.0]], [0.5], [[1.44]]) == pytest.approx(0.29, abs=1e-12)
    a, b = gaussian(200_000, [0.0], [[1.0]], 1), gaussian(200_000, [0.5], [[1.44]], 2)
    assert frechet_distance(a, b) == pytest.approx(0.29, abs=0.01)


def test_fd_of_5d_gaussians_matches_the_closed_form_and_the_sample_estimate_converges():
    mu1, mu2 = torch.zeros(5, dtype=torch.float64), torch.linspace(-1, 1, 5, dtype=torch.float64)
    cov1, cov2 = random_cov(5, 0), random_cov(5, 1)
    exact = gaussian_frechet_distance(mu1, cov1, mu2, cov2)
    # the same formula through scipy's sqrtm of the non-symmetric product (SciPy >= 1.13 is accurate here)
    s1, s2 = cov1.numpy(), cov2.numpy()
    reference = ((mu1 - mu2) ** 2).sum().item() + np.trace(s1) + np.trace(s2) - 2 * np.trace(scipy.linalg.sqrtm(s1 @ s2)).real
    assert exact == pytest.approx(reference, rel=1e-9)
    # commuting (diagonal) covariances: sum (sqrt(a_i) - sqrt(b_i))^2
    a, b = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0]), torch.tensor([2.0, 2.0, 1.0, 0.5, 9.0])
    assert gaussian_frechet_distance(mu1, torch.diag(a), mu1, torch.diag(b)) == pytest.approx(((a.sqrt() - b.sqrt()) ** 2).sum().item())
    errors = [abs(frechet_distance(gaussian(n, mu1, cov1, 10), gaussian(n, mu2, cov2, 11)) - exact) for n in (1000, 100_000)]
    assert errors[1] < 0.02 * exact and errors[1] < errors[0], (exact, errors)


def test_fd_is_symmetric_and_unchanged_by_a_rotation_of_the_features():
    a, b = gaussian(500, torch.zeros(6), random_cov(6, 2), 3), gaussian(400, torch.ones(6), random_cov(6, 3), 4)
    q, _ = torch.linalg.qr(torch.randn(6, 6, dtype=torch.float64))
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a), rel=1e-9)
    assert frechet_distance(a @ q, b @ q) == pytest.approx(frechet_distance(a, b), rel=1e-9)
    mu, cov = mean_and_cov(a)
    assert torch.allclose(cov, torch.from_numpy(np.cov(a.numpy(), rowvar=False)))


def test_fd_rejects_bad_input():
    x = torch.randn(10, 4)
    with pytest.raises(ValueError, match="same feature dimension"):
        frechet_distance(x, torch.randn(10, 5))
    with pytest.raises(ValueError, match="NaN"):
        frechet_distance(x, torch.full((10, 4), float("nan")))
    with pytest.raises(ValueError, match=r"\(N, d\)"):
        frechet_distance(torch.rand(10, 1, 28, 28), x)
    with pytest.raises(ValueError, match="at least 2"):
        frechet_distance(x[:1], x)
    with pytest.raises(TypeError, match="Tensor or numpy"):
        frechet_distance("features", x)
    with pytest.raises(ValueError, match="not symmetric"):
        gaussian_frechet_distance([0.0, 0.0], [[1.0, 0.5], [0.0, 1.0]], [0.0, 0.0], torch.eye(2))
    with pytest.raises(ValueError, match="negative eigenvalue"):
        gaussian_frechet_distance([0.0], [[-1.0]], [0.0], [[1.0]])


# --------------------------------------------------------------------------- KID
def test_kid_matches_the_formula_written_out():
    a, b = torch.randn(7, 3, dtype=torch.float64), torch.randn(5, 3, dtype=torch.float64) + 0.3

    def k(x, y):
        return (x @ y / 3 + 1) ** 3

    aa = sum(k(a[i], a[j]) for i in range(7) for j in range(7) if i != j) / (7 * 6)
    bb = sum(k(b[i], b[j]) for i in range(5) for j in range(5) if i != j) / (5 * 4)
    ab = sum(k(a[i], b[j]) for i in range(7) for j in range(5)) / 35
    assert kid(a, b) == pytest.approx((aa + bb - 2 * ab).item(), rel=1e-10)


def test_kid_is_unbiased_for_two_samples_of_one_distribution():
    values = np.array([kid(gaussian(100, torch.zeros(8), torch.eye(8), 2 * s), gaussian(100, torch.zeros(8), torch.eye(8), 2 * s + 1)) for s in range(20)])
    standard_error = values.std(ddof=1) / math.sqrt(len(values))
    assert abs(values.mean()) < 2 * standard_error, (values.mean(), standard_error)
    assert (values < 0).any()  # an unbiased estimate of 0 must go below it sometimes


def test_kid_in_1d_converges_to_the_closed_form():
    """d = 1: (xy + 1)^3 = x^3 y^3 + 3 x^2 y^2 + 3 x y + 1, so MMD^2 = (m3 - m3')^2 + 3 (m2 - m2')^2 + 3 (m1 - m1')^2.
    N(0, 1) vs N(0.5, 1): m1 0 vs 0.5, m2 1 vs 1.25, m3 0 vs 0.5^3 + 3 * 0.5 = 1.625: MMD^2 = 3.578125."""
    exact = 1.625**2 + 3 * 0.25**2 + 3 * 0.5**2
    estimates = np.array([kid(gaussian(500, [0.0], [[1.0]], 1000 + s), gaussian(500, [0.5], [[1.0]], 2000 + s)) for s in range(100)])
    standard_error = estimates.std(ddof=1) / 10  # the cubic kernel has heavy tails: one estimate is noisy, 100 pin the mean
    assert standard_error < 0.05 * exact and abs(estimates.mean() - exact) < 3 * standard_error, (estimates.mean(), standard_error)


# --------------------------------------------------------------------------- Inception-style score
def test_inception_score_closed_forms():
    c = 10
    assert inception_score(torch.full((50, c), 1 / c)) == pytest.approx(1.0)  # no information
    assert inception_score(torch.eye(c).repeat(5, 1)) == pytest.approx(float(c))  # certain and balanced
    assert inception_score(torch.eye(c)[[3] * 20]) == pytest.approx(1.0)  # certain but one class
    eps = 0.3  # p(y|x) = (1 - eps) onehot + eps / C, balanced: IS = C exp(-H(row))
    rows = (1 - eps) * torch.eye(c, dtype=torch.float64) + eps / c
    entropy = -(rows[0] * rows[0].log()).sum().item()
    assert inception_score(rows) == pytest.approx(c * math.exp(-entropy), rel=1e-10)


def test_inception_score_rejects_logits():
    with pytest.raises(ValueError, match="non-negative"):
        inception_score(torch.randn(5, 10))
    with pytest.raises(ValueError, match="sum to 1"):
        inception_score(torch.rand(5, 10))


# --------------------------------------------------------------------------- k-NN manifolds
def two_clusters(n, seed, only_first=False):
    g = torch.Generator().manual_seed(seed)
    centres = torch.tensor([[-10.0, 0.0], [10.0, 0.0]], dtype=torch.float64)
    which = torch.zeros(n, dtype=torch.long) if only_first else torch.arange(n) % 2
    return centres[which] + torch.randn(n, 2, generator=g, dtype=torch.float64)


def test_dropping_one_of_two_clusters_keeps_precision_and_halves_recall():
    real, fake = two_clusters(1000, 0), two_clusters(1000, 1, only_first=True)
    precision, recall = precision_recall(real, fake, k=3)
    assert precision > 0.97 and recall == pytest.approx(0.5, abs=0.03), (precision, recall)
    assert precision_recall(real, real) == (1.0, 1.0)
    density, coverage = density_coverage(real, fake, k=5)
    assert coverage == pytest.approx(0.5, abs=0.03) and density > 0.8, (density, coverage)


def test_density_and_coverage_of_one_distribution_match_their_expectations():
    """Naeem et al. 2020: E[density] = 1; E[coverage] = 1 - prod_{i=1..k} (N - i) / (N + M - i)."""
    n, k = 400, 5
    pairs = [density_coverage(gaussian(n, torch.zeros(4), torch.eye(4), 2 * s), gaussian(n, torch.zeros(4), torch.eye(4), 2 * s + 1), k=k) for s in range(10)]
    density, coverage = np.mean(pairs, axis=0)
    expected = 1 - math.prod((n - i) / (2 * n - i) for i in range(1, k + 1))
    assert density == pytest.approx(1.0, abs=0.05) and coverage == pytest.approx(expected, abs=0.01), (density, coverage, expected)


def test_knn_metrics_need_more_samples_than_k():
    x = torch.randn(3, 2)
    with pytest.raises(ValueError, match="at least k \\+ 1 = 4"):
        precision_recall(x, torch.randn(10, 2), k=3)
    with pytest.raises(ValueError, match="fake has 3 samples"):
        precision_recall(torch.randn(10, 2), x, k=3)
    with pytest.raises(ValueError, match="k must be a positive integer"):
        density_coverage(torch.randn(10, 2), x, k=0)


# --------------------------------------------------------------------------- memorisation
def test_nearest_neighbour_finds_copies_and_matches_brute_force():
    train = torch.rand(50, 1, 8, 8)
    samples = torch.cat([train[[7, 3]], torch.rand(4, 1, 8, 8)])
    dist, idx = nearest_neighbour_distance(samples, train)
    assert idx[:2].tolist() == [7, 3] and dist[:2].tolist() == [0.0, 0.0]
    brute = torch.cdist(samples.flatten(1).double(), train.flatten(1).double())
    assert torch.allclose(dist, brute.min(1).values) and torch.equal(idx, brute.argmin(1))
    with pytest.raises(ValueError, match="same feature dimension"):
        nearest_neighbour_distance(samples, torch.rand(5, 1, 28, 28))


# --------------------------------------------------------------------------- classifier two-sample test
def test_c2st_detects_a_shift_and_keeps_its_level_under_the_null():
    shifted = classifier_two_sample_test(gaussian(300, torch.zeros(5), torch.eye(5), 0), gaussian(300, [1.0, 0, 0, 0, 0], torch.eye(5), 1))
    assert shifted.accuracy > 0.6 and shifted.p_value < 1e-3 and shifted.n_test == 300, shifted
    null_p = [classifier_two_sample_test(gaussian(200, torch.zeros(5), torch.eye(5), 2 * s), gaussian(200, torch.zeros(5), torch.eye(5), 2 * s + 1), seed=s).p_value for s in range(20)]
    assert sum(p < 0.05 for p in null_p) <= 3, null_p  # about 1 of 20 expected at level 0.05
    assert "C2ST accuracy" in str(shifted)
