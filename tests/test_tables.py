"""Causal tables and the mixture of Bernoullis: normalisation, closed forms, sampling, errors."""

import pytest
import torch

from conftest import DEVICES
from course_utils.base import GenerativeModel, LogProbKind
from course_utils.evaluation.likelihood import all_images
from course_utils.models.tables import (CausalTable, MixtureConfig, MixtureOfBernoullis, TableConfig, fit_baselines,
                                        neighbour_index)

NEIGHBOURS = (0, 1, 2, 4, 8, 12)


def random_binary(n, shape, p=0.3, seed=0):
    return (torch.rand(n, *shape, generator=torch.Generator().manual_seed(seed)) < p).float()


@pytest.mark.parametrize("neighbours", NEIGHBOURS)
def test_table_probabilities_sum_to_one_on_4x4(neighbours):
    shape = (1, 4, 4)
    model = CausalTable(TableConfig(shape, neighbours, alpha=0.5)).fit_counts(random_binary(200, shape))
    grid = all_images(shape)  # 65,536 images
    assert torch.logsumexp(model.log_prob(grid).double(), 0).item() == pytest.approx(0.0, abs=1e-4)


def test_mixture_probabilities_sum_to_one_on_4x4():
    shape = (1, 4, 4)
    model = MixtureOfBernoullis(MixtureConfig(shape, components=5)).fit_em(random_binary(200, shape), 10, torch.Generator().manual_seed(0))
    grid = all_images(shape)
    assert torch.logsumexp(model.log_prob(grid).double(), 0).item() == pytest.approx(0.0, abs=1e-4)
    r = model.responsibilities(grid[:7])
    assert r.shape == (7, 5) and torch.allclose(r.sum(1), torch.ones(7))


@pytest.mark.parametrize("neighbours", NEIGHBOURS)
def test_context_by_shifts_matches_the_neighbour_index(neighbours):
    """The fast context (image shifts) and the sampler's (flat indices) must be the same function."""
    shape = (2, 5, 6)
    x = random_binary(9, shape, p=0.5)
    model = CausalTable(TableConfig(shape, neighbours))
    index, _ = neighbour_index(shape, neighbours)
    xp = torch.cat([x.flatten(1).long(), torch.zeros(9, 1, dtype=torch.long)], 1)
    expected = (xp[:, index] * 2 ** torch.arange(index.shape[1])).sum(-1)
    assert torch.equal(model.context(x), expected)
    # causal: every neighbour comes earlier in raster order
    d = torch.arange(index.shape[0]).unsqueeze(1)
    assert torch.all((index < d) | (index == index.shape[0]))


def test_markov_chain_conditions_on_the_previous_pixel_across_rows():
    index, valid = neighbour_index((1, 3, 3), 1)
    assert index[:, 0].tolist() == [9, 0, 1, 2, 3, 4, 5, 6, 7] and valid.sum() == 8


def test_closed_form_is_the_smoothed_conditional_frequency():
    # 1x1x3 images, Markov chain: p(x_2 = 1 | x_1 = 1) from counts
    x = torch.tensor([[1, 1, 0], [1, 0, 0], [1, 1, 1], [0, 1, 1]], dtype=torch.float32).view(4, 1, 1, 3)
    model = CausalTable(TableConfig((1, 1, 3), neighbours=1, alpha=0.5)).fit_counts(x)
    p = model.log_theta.exp()
    assert p[1, 1, 1].item() == pytest.approx((2 + 0.5) / (3 + 1))  # x_1 = 1 in 3 images, then x_2 = 1 in 2
    assert p[0, 0, 1].item() == pytest.approx((3 + 0.5) / (4 + 1))  # first pixel: no context
    assert model.counts.sum().item() == 12


def test_independent_table_matches_the_independent_model():
    from course_utils.models.independent import IndependentConfig, IndependentPixels

    x = random_binary(100, (1, 3, 3))
    table = CausalTable(TableConfig((1, 3, 3), neighbours=0)).fit_counts(x)
    indep = IndependentPixels(IndependentConfig((1, 3, 3), 2)).fit_closed_form(x, alpha=0.5)
    assert torch.allclose(table.log_prob(x), indep.log_prob(x), atol=1e-5)


def test_parameter_counts():
    assert CausalTable(TableConfig((1, 28, 28), 0)).num_parameters() == 784
    assert CausalTable(TableConfig((1, 28, 28), 1)).num_parameters() == 2 * 784 - 1
    # 2 neighbours (left, up): corner 1, first row/column 2 each, interior 4
    assert CausalTable(TableConfig((1, 3, 3), 2)).num_parameters() == 1 + 2 * 2 + 2 * 2 + 4 * 4
    assert MixtureOfBernoullis(MixtureConfig((1, 28, 28), 20)).num_parameters() == 19 + 20 * 784


@pytest.mark.parametrize("neighbours", (1, 4))
def test_samples_follow_the_model(neighbours):
    """On a 2x2 image the sample frequencies match exp(log_prob) of all 16 configurations."""
    shape = (1, 2, 2)
    model = CausalTable(TableConfig(shape, neighbours)).fit_counts(random_binary(50, shape, p=0.5, seed=3))
    s = model.sample(20000, generator=torch.Generator().manual_seed(0))
    code = (s.flatten(1).long() * torch.tensor([8, 4, 2, 1])).sum(1)
    freq = torch.bincount(code, minlength=16).float() / len(code)
    probs = model.log_prob(all_images(shape)).exp()
    assert torch.allclose(freq, probs, atol=0.015)


def test_em_never_lowers_the_penalised_likelihood_and_beats_one_component():
    x = random_binary(300, (1, 4, 4), p=0.3)
    x[:150, :, :2] = 1.0  # two clusters
    mix = MixtureOfBernoullis(MixtureConfig((1, 4, 4), components=2, alpha=0.0)).fit_em(x, 15, torch.Generator().manual_seed(0))
    hist = torch.tensor(mix.em_history)
    assert torch.all(hist[1:] <= hist[:-1] + 1e-4), "with alpha = 0, EM never raises the training NLL"
    one = CausalTable(TableConfig((1, 4, 4), 0)).fit_counts(x)
    assert mix.loss(x) < one.loss(x) - 1.0


def test_fit_baselines_keys_and_ordering():
    x = random_binary(500, (1, 6, 6), p=0.5)
    x = torch.maximum(x, x.roll(1, dims=3))  # neighbours correlated
    models = fit_baselines(x)
    assert list(models) == ["independent", "markov", "nbr2", "nbr4", "nbr8"]
    assert all(m.log_prob_kind is LogProbKind.EXACT for m in models.values())
    assert models["markov"].loss(x) < models["independent"].loss(x)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("factory", [
    lambda: CausalTable(TableConfig((1, 3, 4), 4)),
    lambda: MixtureOfBernoullis(MixtureConfig((1, 3, 4), 3)),
], ids=["table", "mixture"])
def test_interface(factory, device):
    model = factory().to(device)
    x = random_binary(6, (1, 3, 4)).to(device)
    if isinstance(model, CausalTable):
        model.fit_counts(x)
        assert model.log_theta.device.type == device  # buffers move with .to()
    else:
        model.fit_em(x, 3, torch.Generator().manual_seed(0))
    assert isinstance(model, GenerativeModel) and model.device.type == device
    lp = model.log_prob(x)
    assert lp.shape == (6,) and lp.dtype == torch.float32 and lp.device.type == device and torch.all(lp <= 0)
    assert model.loss(x).shape == () and torch.isfinite(model.loss(x))
    s1 = model.sample(5, generator=torch.Generator().manual_seed(0))
    s2 = model.sample(5, generator=torch.Generator().manual_seed(0))
    assert s1.shape == (5, 1, 3, 4) and s1.device.type == device and torch.equal(s1, s2)
    assert set(s1.unique().tolist()) <= {0.0, 1.0}
    state = model.state_dict()
    clone = factory()
    clone.load_state_dict(state)
    assert torch.allclose(clone.log_prob(x.cpu()), lp.cpu())


def test_bad_inputs_are_clear_errors():
    table = CausalTable(TableConfig((1, 2, 2), 2))
    with pytest.raises(ValueError, match="binary"):
        table.fit_counts(torch.full((3, 1, 2, 2), 0.5))
    with pytest.raises(ValueError, match="binary"):
        table.log_prob(torch.full((3, 1, 2, 2), 0.5))
    with pytest.raises(ValueError, match=r"shape \(B, 1, 2, 2\)"):
        table.log_prob(torch.zeros(3, 1, 3, 3))
    with pytest.raises(ValueError, match="neighbours"):
        TableConfig((1, 2, 2), neighbours=13)
    with pytest.raises(ValueError, match="alpha"):
        TableConfig((1, 2, 2), alpha=-1)
    mix = MixtureOfBernoullis(MixtureConfig((1, 2, 2), 2))
    with pytest.raises(ValueError, match="binary"):
        mix.fit_em(torch.full((3, 1, 2, 2), 0.5), 2)
    with pytest.raises(ValueError, match="components"):
        mix.fit_em(torch.zeros(1, 1, 2, 2), 2)
    with pytest.raises(ValueError, match="components"):
        MixtureConfig((1, 2, 2), components=0)


def test_em_never_raises_the_smoothed_objective_and_the_plain_nll_may_rise():
    """With pseudo-counts EM climbs the log-likelihood *plus* a Beta prior's log-density, not the likelihood alone."""
    from dataclasses import replace

    x = random_binary(300, (1, 4, 4), p=0.3)
    x[:150, :, :2] = 1.0
    mix = MixtureOfBernoullis(MixtureConfig((1, 4, 4), components=3, alpha=1.0)).fit_em(x, 20, torch.Generator().manual_seed(0))
    objective = torch.tensor(mix.em_objective, dtype=torch.float64)
    assert len(objective) == len(mix.em_history) == 20
    assert torch.all(objective[1:] <= objective[:-1] + 1e-5)
    # the objective is the mean NLL plus -(alpha / N) sum log mu (1 - mu), written out here from mu itself
    mu = mix.mu.double()
    penalty = -(1.0 / 300) * (mu.log() + (1 - mu).log()).sum().item()
    assert mix.smoothed_objective(x) == pytest.approx(-mix.log_prob(x).double().mean().item() + penalty, rel=1e-6)
    # started from the plain maximum-likelihood fit, one step with pseudo-counts raises the NLL and lowers the objective
    ml = MixtureOfBernoullis(MixtureConfig((1, 4, 4), components=3, alpha=0.0)).fit_em(x, 30, torch.Generator().manual_seed(0))
    ml.cfg = replace(ml.cfg, alpha=1.0)
    nll0, obj0 = -ml.log_prob(x).mean().item(), ml.smoothed_objective(x)
    ml.m_step(x, ml.responsibilities(x))
    assert -ml.log_prob(x).mean().item() > nll0 and ml.smoothed_objective(x) < obj0
