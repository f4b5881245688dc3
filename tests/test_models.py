"""The common interface, checked on every model family the package has (conformance test)."""

import itertools

import pytest
import torch

from conftest import DEVICES
from course_utils.base import GenerativeModel, LogProbKind, check_images
from course_utils.models.independent import IndependentConfig, IndependentPixels
from course_utils.draws import categorical


def _families():
    """(name, factory, data shape, levels) for every image model to check through the interface."""
    from course_utils.models.made import MADE, MADEConfig
    from course_utils.models.pixelcnn import PixelCNN, PixelCNNConfig
    from course_utils.models.vae import VAE, VAEConfig
    from course_utils.models.tables import CausalTable, MixtureConfig, MixtureOfBernoullis, TableConfig

    yield "independent-binary", lambda: IndependentPixels(IndependentConfig((1, 3, 3), 2)), (1, 3, 3), 2
    yield "independent-17", lambda: IndependentPixels(IndependentConfig((1, 1, 2), 17)), (1, 1, 2), 17
    yield "table-nbr4", lambda: CausalTable(TableConfig((1, 3, 3), neighbours=4)), (1, 3, 3), 2
    yield "mixture", lambda: MixtureOfBernoullis(MixtureConfig((1, 3, 3), components=3)), (1, 3, 3), 2
    yield "made", lambda: MADE(MADEConfig((1, 3, 3), hidden=(16,), num_masks=2, order_agnostic=True)), (1, 3, 3), 2
    yield "vae-bernoulli", lambda: VAE(VAEConfig((1, 3, 3), num_levels=2, latent_dim=2, hidden=8)), (1, 3, 3), 2
    yield "vae-17-mog-prior", lambda: VAE(VAEConfig((1, 2, 2), num_levels=17, latent_dim=2, hidden=8, prior="mog", prior_components=3)), (1, 2, 2), 17
    yield "pixelcnn", lambda: PixelCNN(PixelCNNConfig((1, 3, 3), channels=4, num_layers=2, kernel_size=3)), (1, 3, 3), 2


FAMILIES = list(_families())
EXACT_FAMILIES = [f for f in FAMILIES if f[1]().log_prob_kind is LogProbKind.EXACT]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name,factory,shape,levels", FAMILIES, ids=[f[0] for f in FAMILIES])
def test_interface(name, factory, shape, levels, device):
    model = factory().to(device)
    assert isinstance(model, GenerativeModel) and model.device.type == device
    x = torch.randint(0, levels, (5, *shape), device=device).float() / (levels - 1)
    loss = model.loss(x)
    trainable = any(p.requires_grad for p in model.parameters())
    assert loss.shape == () and torch.isfinite(loss) and loss.requires_grad == trainable, "fit can train it if it has parameters"
    lp = model.log_prob(x)
    assert lp.shape == (5,) and lp.dtype == torch.float32 and lp.device.type == device
    s1 = model.sample(4, generator=torch.Generator().manual_seed(0))
    s2 = model.sample(4, generator=torch.Generator().manual_seed(0))
    assert s1.shape == (4, *shape) and s1.device.type == device and torch.equal(s1, s2)
    assert 0 <= s1.min() and s1.max() <= 1 and not s1.requires_grad


def test_exact_log_prob_sums_to_one_on_a_tiny_space():
    torch.manual_seed(0)
    model = IndependentPixels(IndependentConfig((1, 2, 2), 3))
    with torch.no_grad():
        model.logits.normal_()
    assert model.log_prob_kind is LogProbKind.EXACT
    grid = torch.tensor(list(itertools.product(range(3), repeat=4)), dtype=torch.float32).view(-1, 1, 2, 2) / 2
    assert torch.logsumexp(model.log_prob(grid), 0).item() == pytest.approx(0.0, abs=1e-5)


def test_closed_form_is_the_smoothed_frequency():
    x = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]).view(3, 1, 1, 2)
    model = IndependentPixels(IndependentConfig((1, 1, 2), 2)).fit_closed_form(x, alpha=0.5)
    p_on = torch.softmax(model.logits, 0)[1].flatten()
    assert torch.allclose(p_on, torch.tensor([2.5 / 4, 1.5 / 4]))


def test_bad_inputs_are_clear_errors():
    model = IndependentPixels(IndependentConfig((1, 2, 2), 2))
    with pytest.raises(ValueError, match=r"shape \(B, 1, 2, 2\)"):
        model.log_prob(torch.zeros(3, 1, 3, 3))
    with pytest.raises(ValueError, match="float tensor"):
        model.log_prob(torch.zeros(3, 1, 2, 2, dtype=torch.long))
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        model.log_prob(torch.full((3, 1, 2, 2), 255.0))
    with pytest.raises(ValueError, match="binary"):
        check_images(torch.full((1, 1, 2, 2), 0.5), (1, 2, 2), binary=True)
    with pytest.raises(TypeError, match="dataclass instance"):
        IndependentPixels(IndependentConfig)


@pytest.mark.parametrize("device", DEVICES)
def test_categorical_sampler_frequencies_and_generator(device):
    logits = torch.log(torch.tensor([0.6285, 0.2312, 0.1403], device=device)).expand(20000, 3)
    draws = categorical(logits, torch.Generator().manual_seed(1))
    freq = torch.bincount(draws.cpu(), minlength=3).float() / 20000
    assert torch.allclose(freq, torch.tensor([0.6285, 0.2312, 0.1403]), atol=0.015)
    assert draws.device.type == device
    assert torch.equal(draws, categorical(logits, torch.Generator().manual_seed(1)))


@pytest.mark.parametrize("name,factory,shape,levels", EXACT_FAMILIES, ids=[f[0] for f in EXACT_FAMILIES])
def test_every_exact_family_is_normalised(name, factory, shape, levels):
    """Random weights: exp(log_prob) summed over every image of the tiny space is 1."""
    torch.manual_seed(1)
    model = factory().eval()
    dims = int(torch.tensor(shape).prod())
    assert levels**dims <= 5000, "keep the tiny space enumerable"
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.5)
    grid = torch.tensor(list(itertools.product(range(levels), repeat=dims)), dtype=torch.float32)
    grid = grid.view(-1, *shape) / (levels - 1)
    with torch.no_grad():
        total = torch.logsumexp(model.log_prob(grid).double(), 0).item()
    assert total == pytest.approx(0.0, abs=1e-4)


BOUND_FAMILIES = [f for f in FAMILIES if f[1]().log_prob_kind is LogProbKind.LOWER_BOUND]


@pytest.mark.parametrize("name,factory,shape,levels", BOUND_FAMILIES, ids=[f[0] for f in BOUND_FAMILIES])
def test_every_lower_bound_family_stays_below_one(name, factory, shape, levels):
    """A lower bound on log p(x): exp(bound) summed over every image of the tiny space is at most 1."""
    torch.manual_seed(2)
    model = factory().eval()
    dims = int(torch.tensor(shape).prod())
    grid = torch.tensor(list(itertools.product(range(levels), repeat=dims)), dtype=torch.float32).view(-1, *shape) / (levels - 1)
    with torch.no_grad():
        total = torch.logsumexp(model.log_prob(grid).double(), 0).item()
    assert total < 1e-6, f"the bounds sum to exp({total:.3g}) > 1"
