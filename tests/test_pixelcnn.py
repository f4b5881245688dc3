"""PixelCNN: the autoregressive property through input gradients, the blind spot, normalisation, interface."""

import itertools

import pytest
import torch

from conftest import DEVICES
from course_utils.base import LogProbKind
from course_utils.models.pixelcnn import PixelCNN, PixelCNNConfig
from course_utils.lessons.autoregressive_views import input_gradient


@pytest.mark.parametrize("two_stack", [False, True])
def test_each_pixel_depends_only_on_earlier_pixels(two_stack):
    torch.manual_seed(0)
    model = PixelCNN(PixelCNNConfig(shape=(1, 5, 5), channels=6, num_layers=3, kernel_size=3, two_stack=two_stack))
    x = torch.rand(2, 1, 5, 5)
    x.requires_grad_(True)
    logits = model.logits(x)
    for i, j in itertools.product(range(5), range(5)):
        (g,) = torch.autograd.grad(logits[:, :, i, j].sum(), x, retain_graph=True)
        flat = g.abs().sum((0, 1)).flatten()
        assert torch.all(flat[i * 5 + j :] == 0), f"pixel {(i, j)} sees itself or a later pixel"


def test_blind_spot_and_its_fix():
    torch.manual_seed(0)
    cfg = dict(shape=(1, 9, 9), channels=16, num_layers=4, kernel_size=3)
    masked, stacked = PixelCNN(PixelCNNConfig(**cfg)), PixelCNN(PixelCNNConfig(**cfg, two_stack=True))
    x = torch.rand(1, 1, 9, 9)
    g_masked, g_stacked = input_gradient(masked, (6, 4), x), input_gradient(stacked, (6, 4), x)
    assert g_masked[5, 7] == 0 and g_masked[4, 8] == 0, "the masked stack misses the upper right"
    assert g_masked[5, 5] != 0
    assert g_stacked[5, 7] != 0 and g_stacked[4, 8] != 0, "two stacks see every pixel above within reach"
    assert torch.all(g_stacked.flatten()[6 * 9 + 4 :] == 0)
    with pytest.raises(ValueError, match="pixel"):
        input_gradient(masked, (9, 0))


@pytest.mark.parametrize("levels", [2, 3])
def test_log_prob_normalised_on_a_tiny_space(levels):
    torch.manual_seed(0)
    model = PixelCNN(PixelCNNConfig(shape=(1, 2, 2), num_levels=levels, channels=4, num_layers=2, kernel_size=3)).eval()
    grid = torch.tensor(list(itertools.product(range(levels), repeat=4)), dtype=torch.float32).view(-1, 1, 2, 2) / (levels - 1)
    assert torch.logsumexp(model.log_prob(grid), 0).item() == pytest.approx(0.0, abs=1e-5)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("two_stack", [False, True])
def test_interface(device, two_stack):
    model = PixelCNN(PixelCNNConfig(shape=(1, 5, 5), num_levels=3, channels=4, num_layers=2, two_stack=two_stack)).to(device)
    assert model.log_prob_kind is LogProbKind.EXACT and model.device.type == device
    x = torch.randint(0, 3, (4, 1, 5, 5), device=device).float() / 2
    loss = model.loss(x)
    assert loss.shape == () and torch.isfinite(loss) and loss.requires_grad
    assert model.log_prob(x).shape == (4,)
    s1 = model.sample(3, generator=torch.Generator().manual_seed(0))
    s2 = model.sample(3, generator=torch.Generator().manual_seed(0))
    assert s1.shape == (3, 1, 5, 5) and s1.device.type == device and torch.equal(s1, s2)
    assert set(s1.unique().tolist()) <= {0.0, 0.5, 1.0} and not s1.requires_grad


def test_complete_keeps_the_known_rows():
    model = PixelCNN(PixelCNNConfig(shape=(1, 4, 4), channels=4, num_layers=2))
    x = (torch.rand(2, 1, 4, 4) < 0.5).float()
    known = torch.zeros(1, 4, 4, dtype=torch.bool)
    known[:, :2] = True
    out = model.complete(x, known, torch.Generator().manual_seed(0))
    assert torch.equal(out[:, :, :2], x[:, :, :2])
    with pytest.raises(ValueError, match="raster order"):
        model.complete(x, ~known)


def test_bad_config():
    with pytest.raises(ValueError, match="one-channel"):
        PixelCNNConfig(shape=(3, 8, 8))
    with pytest.raises(ValueError, match="odd"):
        PixelCNNConfig(kernel_size=4)


@pytest.mark.parametrize("two_stack", [False, True])
def test_sampling_on_cropped_rows_is_exact(two_stack):
    """complete() runs the network only on the rows a pixel can see; the logits must not change."""
    torch.manual_seed(0)
    model = PixelCNN(PixelCNNConfig(shape=(1, 12, 5), channels=4, num_layers=3, kernel_size=5, two_stack=two_stack)).eval()
    x = torch.rand(2, 1, 12, 5)
    full = model.logits(x)
    r = model.rows_above()
    for i in range(12):
        top = max(0, i - r)
        assert torch.allclose(model.logits(x[:, :, top : i + 1])[:, :, -1], full[:, :, i], atol=1e-5)


def test_receptive_field_widget_counts_what_it_draws():
    import matplotlib.pyplot as plt

    from course_utils.lessons.autoregressive_views import render_receptive_field

    state = torch.random.get_rng_state()
    fig = render_receptive_field(row=7, col=5, num_layers=4, two_stack=False)
    assert torch.equal(torch.random.get_rng_state(), state), "the widget leaves the caller's random stream alone"
    assert "34 earlier pixels seen, 48 not" in fig.axes[0].get_title()  # 7 * 11 + 5 = 82 earlier pixels in all
    plt.close(fig)
    fig = render_receptive_field(row=7, col=5, num_layers=4, two_stack=True)
    seen = int(fig.axes[0].get_title().split(":")[1].split()[0])
    assert seen > 34, "two stacks see the blind spot too"
    plt.close(fig)
    with pytest.raises(ValueError, match="pixel"):
        render_receptive_field(row=11)
