"""MADE and the masked layers: the autoregressive property through gradients, normalisation, interface."""

import pytest
import torch

from conftest import DEVICES
from course_utils.base import LogProbKind
from course_utils.nn.masked import MaskedConv2d, MaskedLinear, conv_mask
from course_utils.evaluation.likelihood import all_images
from course_utils.models.made import MADE, MADEConfig
from course_utils.lessons.autoregressive_views import logit_average_log_prob
from course_utils.nn.masked import made_degrees, made_masks


def dependence(model: MADE, x: torch.Tensor) -> torch.Tensor:
    """(D, D) 0/1 matrix: entry [d, i] = 1 if output d's logit has a nonzero gradient wrt input i."""
    d = model.cfg.num_dims
    x = x.clone().requires_grad_(True)
    rows = []
    for j in range(d):
        (g,) = torch.autograd.grad(model.logits(x)[:, j].sum(), x)
        rows.append((g.flatten(1).abs().sum(0) > 0).float())
    return torch.stack(rows)


@pytest.mark.parametrize("hidden", [(), (16,), (12, 12)])
@pytest.mark.parametrize("order_agnostic", [False, True])
def test_autoregressive_property_through_gradients(hidden, order_agnostic):
    model = MADE(MADEConfig(shape=(1, 3, 3), hidden=hidden, num_masks=3, order_agnostic=order_agnostic, seed=1)).eval()
    x = torch.rand(4, 1, 3, 3)  # gradients do not need binary inputs
    for k in range(3):
        model.set_mask(k)
        dep = dependence(model, x)
        order = model.order  # position of each input in the ordering
        allowed = (order.unsqueeze(0) < order.unsqueeze(1)).float()  # [d, i]: i comes before d
        assert torch.all(dep <= allowed), "an output depends on itself or on a later input"
        if hidden == ():  # FVSBN: every earlier input is connected
            assert torch.equal(dep, allowed)


def test_random_orderings_differ_and_are_permutations():
    model = MADE(MADEConfig(shape=(1, 4, 4), hidden=(32,), num_masks=4, order_agnostic=True))
    orders = []
    for k in range(4):
        model.set_mask(k)
        assert torch.equal(torch.sort(model.order).values, torch.arange(16))
        orders.append(model.order.clone())
    assert len({tuple(o.tolist()) for o in orders}) == 4


def test_masks_are_buffers_multiplied_in_not_written_into_weights():
    layer = MaskedLinear(3, 2)
    w = layer.weight.detach().clone()
    layer.set_mask(torch.tensor([[1.0, 0, 0], [1, 1, 0]]))
    assert torch.equal(layer.weight, w)
    assert "mask" in dict(layer.named_buffers())
    x = torch.randn(5, 3)
    assert torch.allclose(layer(x), x @ (layer.mask * w).T + layer.bias)
    with pytest.raises(ValueError, match="weight's shape"):
        layer.set_mask(torch.ones(3, 3))


def test_made_masks_shapes():
    degrees = made_degrees(5, (7, 6), torch.Generator().manual_seed(0), order_agnostic=True)
    masks = made_masks(degrees)
    assert [tuple(m.shape) for m in masks] == [(7, 5), (6, 7), (5, 6)]


@pytest.mark.parametrize("order_agnostic", [False, True])
def test_log_prob_normalised_on_a_tiny_space(order_agnostic):
    torch.manual_seed(0)
    model = MADE(MADEConfig(shape=(1, 2, 2), hidden=(10,), num_masks=3, order_agnostic=order_agnostic)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(4)  # sharper conditionals make the check meaningful
    grid = all_images((1, 2, 2))
    assert grid.shape == (16, 1, 2, 2)
    for k in range(3):
        model.set_mask(k)
        assert torch.logsumexp(model.log_prob(grid), 0).item() == pytest.approx(0.0, abs=1e-5)
    assert torch.logsumexp(model.log_prob(grid, ensemble=3), 0).item() == pytest.approx(0.0, abs=1e-5)
    if order_agnostic:  # averaging logits of different orderings is not a distribution
        total = torch.logsumexp(logit_average_log_prob(model, grid, 3), 0).exp().item()
        assert abs(total - 1.0) > 1e-3


@pytest.mark.parametrize("device", DEVICES)
def test_interface(device):
    model = MADE(MADEConfig(shape=(1, 3, 3), hidden=(8,), num_masks=2, order_agnostic=True)).to(device)
    assert model.log_prob_kind is LogProbKind.EXACT and model.device.type == device
    x = (torch.rand(5, 1, 3, 3) < 0.5).float().to(device)
    model.train()
    loss = model.loss(x)
    assert loss.shape == () and torch.isfinite(loss) and loss.requires_grad
    lp = model.log_prob(x)
    assert lp.shape == (5,) and lp.device.type == device
    s1 = model.sample(4, generator=torch.Generator().manual_seed(0))
    s2 = model.sample(4, generator=torch.Generator().manual_seed(0))
    assert s1.shape == (4, 1, 3, 3) and s1.device.type == device and torch.equal(s1, s2)
    assert set(s1.unique().tolist()) <= {0.0, 1.0} and not s1.requires_grad
    assert model.training, "sampling restores the training mode"


def test_complete_keeps_known_pixels_and_checks_the_order():
    model = MADE(MADEConfig(shape=(1, 4, 4), hidden=(16,)))
    x = (torch.rand(3, 1, 4, 4) < 0.5).float()
    known = torch.zeros(1, 4, 4, dtype=torch.bool)
    known[:, :2] = True
    out = model.complete(x, known, torch.Generator().manual_seed(0))
    assert torch.equal(out[:, :, :2], x[:, :, :2])
    with pytest.raises(ValueError, match="come first"):
        model.complete(x, ~known)


def test_bad_inputs():
    with pytest.raises(ValueError, match="num_masks"):
        MADEConfig(num_masks=0)
    model = MADE(MADEConfig(shape=(1, 2, 2), hidden=(4,)))
    with pytest.raises(ValueError, match="binary"):
        model.log_prob(torch.full((2, 1, 2, 2), 0.5))
    with pytest.raises(ValueError, match="ensemble"):
        model.log_prob(torch.zeros(2, 1, 2, 2), ensemble=2)
    with pytest.raises(ValueError, match="mask_type"):
        MaskedConv2d(1, 1, 3, "C")


@pytest.mark.parametrize("mask_type", ["A", "B"])
def test_masked_conv_sees_only_the_past(mask_type):
    torch.manual_seed(0)
    conv = MaskedConv2d(1, 2, 5, mask_type)
    x = torch.randn(1, 1, 7, 7, requires_grad=True)
    (g,) = torch.autograd.grad(conv(x)[0, :, 3, 3].sum(), x)
    flat = g[0, 0].flatten()
    centre = 3 * 7 + 3
    assert torch.all(flat[centre + 1 :] == 0), "a later pixel leaks into the output"
    assert (flat[centre] != 0) == (mask_type == "B")
    assert torch.all(flat[:centre].reshape(-1)[[2 * 7 + 3, 3 * 7 + 2]] != 0)
    assert conv_mask(3, "A").tolist() == [[1, 1, 1], [1, 0, 0], [0, 0, 0]]


def test_init_from_marginals_is_the_independent_model_when_weights_are_zero():
    x = (torch.rand(50, 1, 2, 3) < 0.3).float()
    model = MADE(MADEConfig(shape=(1, 2, 3), hidden=(5,))).init_from_marginals(x)
    with torch.no_grad():
        model.layers[-1].weight.zero_()
    p = (x.flatten(1).sum(0) + 0.5) / 51
    expected = (x.flatten(1) * p.log() + (1 - x.flatten(1)) * (1 - p).log()).sum(1)
    assert torch.allclose(model.log_prob(x), expected, atol=1e-5)


def test_epoch_means_average_each_epochs_steps():
    from course_utils.lessons.autoregressive_views import epoch_means
    from course_utils.train import History

    h = History(step=[1, 2, 3, 4, 5], train_loss=[4.0, 2.0, 3.0, 1.0, 2.0], epoch=[1, 2], epoch_step=[2, 5], val_loss=[3.0, 2.5])
    assert epoch_means(h) == pytest.approx([3.0, 2.0])
    with pytest.raises(ValueError, match="no finished epoch"):
        epoch_means(History())
