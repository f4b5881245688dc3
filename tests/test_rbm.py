"""The RBM: free energy by summing out h, the exact log Z two ways, exact sampling, AIS, CD's gradient."""

import math

import pytest
import torch

from course_utils.draws import bernoulli
from course_utils.evaluation.likelihood import all_images
from course_utils.models.rbm import RBM, RBMConfig, hidden_states


def _rbm(shape=(1, 2, 3), hidden=4, seed=0, scale=1.0, **kw):
    torch.manual_seed(seed)
    model = RBM(RBMConfig(shape=shape, hidden=hidden, **kw))
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, scale)
    return model


def test_free_energy_sums_out_the_hidden_units():
    model = _rbm()
    v = all_images((1, 2, 3)).flatten(1)  # (64, 6)
    hs = hidden_states(4)  # (16, 4)
    with torch.no_grad():
        energies = torch.stack([model.energy(v, h.expand(64, -1)) for h in hs], 1)  # (64, 16)
        assert torch.allclose(model.free_energy(v), -torch.logsumexp(-energies, 1), atol=1e-5)
        # log Z both ways: over (v, h) jointly and over h alone
        assert torch.allclose(model.log_partition().float(), torch.logsumexp(-energies.flatten(), 0), atol=1e-5)


def test_chunked_log_marginal_matches_the_direct_one_and_is_cached():
    model = _rbm(shape=(1, 5, 7), hidden=9, scale=0.7)
    with torch.no_grad():
        direct = model._hidden_log_marginal_direct()
        chunked = model._hidden_log_marginal_chunked(block=64)  # many blocks
        assert torch.allclose(chunked, direct, atol=1e-4, rtol=0)
        model.W[0, 0] += 30.0  # forces the overflow-safe softplus for one unit
        assert torch.allclose(model._hidden_log_marginal_chunked(block=64), model._hidden_log_marginal_direct(), atol=1e-4, rtol=0)
        first = model.hidden_log_marginal()
        assert model.hidden_log_marginal() is first, "cached while the parameters stay the same"
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    model.loss(bernoulli(torch.full((8, 1, 5, 7), 0.5))).backward()
    opt.step()
    with torch.no_grad():
        assert model.hidden_log_marginal() is not first, "an optimiser step invalidates the cache"
        model.load_state_dict(_rbm(shape=(1, 5, 7), hidden=9, seed=3).state_dict())
        assert torch.allclose(model.log_partition(), _rbm(shape=(1, 5, 7), hidden=9, seed=3).log_partition())


def test_exact_samples_follow_the_exact_probabilities():
    model = _rbm(shape=(1, 1, 3), hidden=3, scale=1.5)
    grid = all_images((1, 1, 3))
    with torch.no_grad():
        p = model.log_prob(grid).double().exp()
    assert p.sum().item() == pytest.approx(1.0, abs=1e-6)
    s = model.sample(40_000, torch.Generator().manual_seed(0)).flatten(1)
    codes = (s * torch.tensor([4.0, 2.0, 1.0])).sum(1).long()
    freq = torch.bincount(codes, minlength=8).double() / 40_000
    assert (freq - p).abs().max() < 4 * math.sqrt(0.25 / 40_000), "frequencies within 4 standard errors"


def test_ais_estimate_is_close_to_the_exact_log_partition():
    model = _rbm(shape=(1, 4, 4), hidden=6, scale=0.8)
    with torch.no_grad():
        exact = model.log_partition().item()
        ais = model.ais_log_partition(num_betas=2000, chains=200, generator=torch.Generator().manual_seed(0))
    assert abs(ais.log_z - exact) < 0.1 and ais.std_error < 0.1
    with pytest.raises(ValueError, match="one value per visible unit"):
        model.ais_log_partition(base_bias=torch.zeros(3))


def test_ais_weights_are_the_ratios_of_the_unnormalised_densities_along_the_path():
    """The package writes the ratio p*_beta(v) / p*_beta'(v) out to share one product W v; the weights
    equal those of the plain formula, step by step, with the same draws."""
    model = _rbm(shape=(1, 3, 4), hidden=5, scale=0.7)
    base = torch.linspace(-1.0, 1.0, 12)

    def log_p_star(v, beta):
        return (1 - beta) * (v @ base) + beta * (v @ model.b) + torch.nn.functional.softplus(beta * (v @ model.W.T + model.c)).sum(1)

    g = torch.Generator().manual_seed(3)
    v = bernoulli(torch.sigmoid(base).expand(50, -1).contiguous(), g)
    log_w = torch.zeros(50, dtype=torch.float64)
    betas = torch.linspace(0.0, 1.0, 31).tolist()
    with torch.no_grad():
        for beta_prev, beta in zip(betas[:-1], betas[1:]):
            log_w += (log_p_star(v, beta) - log_p_star(v, beta_prev)).double()
            h = bernoulli(torch.sigmoid(beta * (v @ model.W.T + model.c)), g)
            v = bernoulli(torch.sigmoid((1 - beta) * base + beta * (h @ model.W + model.b)), g)
        ais = model.ais_log_partition(num_betas=30, chains=50, base_bias=base, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(ais.log_weights, log_w, atol=1e-4)


def test_cd_gradient_is_positive_minus_negative_statistics():
    model = _rbm(hidden=4, scale=0.5, k=1, persistent=False).eval()
    v = bernoulli(torch.full((7, 1, 2, 3), 0.5), torch.Generator().manual_seed(1))
    torch.manual_seed(5)
    model.loss(v).backward()
    torch.manual_seed(5)  # the same negatives
    neg = model.gibbs_chain(v.flatten(1), 1)
    with torch.no_grad():
        pos_stat = model.p_h_given_v(v.flatten(1)).T @ v.flatten(1) / 7
        neg_stat = model.p_h_given_v(neg).T @ neg / 7
    assert torch.allclose(model.W.grad, -(pos_stat - neg_stat), atol=1e-6), "descending the surrogate ascends the CD estimate"


def test_gibbs_step_is_the_two_conditionals():
    model = _rbm(scale=0.7)
    v = bernoulli(torch.full((5, 6), 0.5), torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(3)
    out = model.gibbs_step(v, torch.Generator().manual_seed(3))
    with torch.no_grad():
        h = (torch.rand(5, 4, generator=g) < torch.sigmoid(v @ model.W.T + model.c)).float()
        v2 = (torch.rand(5, 6, generator=g) < torch.sigmoid(h @ model.W + model.b)).float()
    assert torch.equal(out, v2)


def test_persistent_chains_move_only_in_training_mode():
    model = _rbm(chains=6)
    x = bernoulli(torch.full((4, 1, 2, 3), 0.5))
    before = model.chains.clone()
    model.eval().loss(x)
    assert torch.equal(model.chains, before)
    torch.manual_seed(0)
    model.train().loss(x)
    assert not torch.equal(model.chains, before)


def test_marginal_init_and_clear_errors():
    x = bernoulli(torch.full((50, 1, 2, 3), 0.3), torch.Generator().manual_seed(0))
    model = RBM(RBMConfig(shape=(1, 2, 3), hidden=2, init_std=0.0)).init_from_marginals(x, alpha=0.0)
    with torch.no_grad():
        assert torch.allclose(torch.sigmoid(model.b), x.flatten(1).mean(0), atol=1e-6)
    with pytest.raises(ValueError, match="hidden must lie in 1..24"):
        RBMConfig(hidden=30)
    with pytest.raises(ValueError, match="binary"):
        model.log_prob(torch.full((2, 1, 2, 3), 0.5))
    big = RBM(RBMConfig(hidden=20))
    with pytest.raises(ValueError, match="without gradients"):
        big.log_prob(torch.zeros(1, 1, 28, 28))
