"""The linear-Gaussian model: exact log p(x), exact posterior, and the ELBO gap identity."""

import pytest
import torch

from course_utils.lessons.linear_gaussian import LinearGaussian, LinearGaussianConfig, gaussian_kl


@pytest.fixture
def model() -> LinearGaussian:
    return LinearGaussian(LinearGaussianConfig(data_dim=6, latent_dim=2), sigma2=0.3)


def test_log_prob_matches_numerical_integral_in_1d():
    W = torch.tensor([[1.5]], dtype=torch.float64)
    lg = LinearGaussian(LinearGaussianConfig(1, 1), W, torch.tensor([0.2], dtype=torch.float64), sigma2=0.5)
    x = torch.tensor([[0.7]], dtype=torch.float64)
    z = torch.linspace(-10, 10, 20001, dtype=torch.float64)
    integrand = torch.exp(torch.distributions.Normal(0.0, 1.0).log_prob(z) + torch.distributions.Normal(0.2 + 1.5 * z, 0.5**0.5).log_prob(x[0, 0]))
    assert torch.allclose(lg.log_prob(x), torch.log(torch.trapezoid(integrand, z)), atol=1e-8)


def test_elbo_below_log_prob_and_gap_is_kl(model):
    x = model.sample(20, torch.Generator().manual_seed(1))
    g = torch.Generator().manual_seed(2)
    m = torch.randn(20, 2, generator=g, dtype=torch.float64)
    A = torch.randn(20, 2, 2, generator=g, dtype=torch.float64)
    S = A @ A.transpose(-1, -2) + 0.1 * torch.eye(2, dtype=torch.float64)
    elbo, logp = model.elbo(x, m, S), model.log_prob(x)
    assert (elbo <= logp).all()
    assert torch.allclose(logp - elbo, model.kl_to_posterior(x, m, S), atol=1e-8, rtol=0)


def test_exact_posterior_closes_the_gap(model):
    x = model.sample(10, torch.Generator().manual_seed(3))
    mean, cov = model.posterior(x)
    assert torch.allclose(model.elbo(x, mean, cov), model.log_prob(x), atol=1e-10, rtol=0)


def test_posterior_is_bayes_rule(model):
    """p(z | x) p(x) = p(z) p(x | z) at a few random points."""
    x = model.sample(4, torch.Generator().manual_seed(4))
    z = torch.randn(4, 2, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    mean, cov = model.posterior(x)
    lhs = torch.distributions.MultivariateNormal(mean, cov).log_prob(z) + model.log_prob(x)
    lik = torch.distributions.Normal(z @ model.W.T + model.b, model.sigma2.sqrt()).log_prob(x).sum(-1)
    rhs = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1).double() + lik
    assert torch.allclose(lhs, rhs, atol=1e-10)


def test_gaussian_kl_matches_torch():
    g = torch.Generator().manual_seed(0)
    A, B = torch.randn(3, 3, generator=g, dtype=torch.float64), torch.randn(3, 3, generator=g, dtype=torch.float64)
    S1, S2 = A @ A.T + 0.5 * torch.eye(3, dtype=torch.float64), B @ B.T + 0.5 * torch.eye(3, dtype=torch.float64)
    m1, m2 = torch.randn(3, generator=g, dtype=torch.float64), torch.randn(3, generator=g, dtype=torch.float64)
    ref = torch.distributions.kl_divergence(torch.distributions.MultivariateNormal(m1, S1), torch.distributions.MultivariateNormal(m2, S2))
    assert torch.allclose(gaussian_kl(m1, S1, m2, S2), ref, atol=1e-10)


def test_fit_recovers_covariance():
    true = LinearGaussian(LinearGaussianConfig(5, 2), sigma2=0.2)
    x = true.sample(20000, torch.Generator().manual_seed(6))
    fitted = LinearGaussian.fit(x, 2)
    assert torch.allclose(fitted.marginal_cov(), true.marginal_cov(), atol=0.15)
    assert fitted.log_prob(x).mean() >= true.log_prob(x).mean() - 1e-6  # ML beats the truth on its own data


def test_bad_input(model):
    with pytest.raises(ValueError):
        model.log_prob(torch.zeros(3, 5, dtype=torch.float64))
    with pytest.raises(ValueError):
        LinearGaussian(LinearGaussianConfig(3, 2), sigma2=0.0)
    with pytest.raises(ValueError):
        LinearGaussian.fit(torch.zeros(10, 3), 3)
