"""Normalising flows: every layer is invertible and its log-det is the log of the Jacobian's determinant
(checked with torch.autograd.functional.jacobian + slogdet), MAF/IAF are autoregressive in the stated
direction, the image bound is what it says, and bad inputs and non-finite log-dets are clear errors."""

import math

import pytest
import torch
from torch.autograd.functional import jacobian

from course_utils import NonFiniteLossError, TrainConfig, fit
from course_utils.data import dequantize
from course_utils.evaluation.likelihood import dequantization_offset
from course_utils.models.flows import Flow, FlowConfig, ImageFlow, ImageFlowConfig, build_flow
from course_utils.nn.invertible import (ActNorm, AffineCoupling, FlowSequence, LULinear, MaskedAffineAutoregressive, Permutation, Sigmoid,
                                        checkerboard_mask, standard_normal_log_prob)

D = 4


def _randomise(module, seed=0, std=0.3):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * std)
    return module.eval()


def _layers():
    half = torch.tensor([1.0, 1.0, 0.0, 0.0])
    return {
        "coupling": AffineCoupling(D, half, (8, 8)),
        "coupling-context": AffineCoupling(D, 1 - half, (8,), context_dim=3),
        "actnorm": ActNorm(D),
        "permutation": Permutation(torch.tensor([2, 0, 3, 1])),
        "lu-linear": LULinear(D, seed=1),
        "sigmoid": Sigmoid(0.05),
        "maf": MaskedAffineAutoregressive(D, (8,), seed=2),
        "iaf": MaskedAffineAutoregressive(D, (8,), seed=3).inv,
        "sequence": build_flow(D, "glow", 2, (8,)),
    }


def _context(name, b):
    return torch.randn(b, 3, generator=torch.Generator().manual_seed(9)) if name == "coupling-context" else None


@pytest.mark.parametrize("name", list(_layers()))
def test_inverse_of_forward_is_the_identity_in_float32(name):
    layer = _randomise(_layers()[name])
    z = torch.randn(16, D, generator=torch.Generator().manual_seed(1))
    c = _context(name, 16)
    with torch.no_grad():
        x, ld = layer.forward_and_log_det(z, c)
        z_back, ld_back = layer.inverse_and_log_det(x, c)
        assert torch.allclose(layer.inverse(layer(z, c), c), z, atol=1e-5, rtol=0)
        assert torch.allclose(layer.inv(x, c), z, atol=1e-5, rtol=0), ".inv runs the layer backwards"
    assert x.dtype == torch.float32 and torch.allclose(z_back, z, atol=1e-5, rtol=0)
    assert torch.allclose(ld_back, ld, atol=1e-5), "inverse_and_log_det returns the forward log-det at z"
    assert torch.allclose(layer.log_abs_det_jacobian(z, x, c), ld, atol=1e-5)


@pytest.mark.parametrize("name", list(_layers()))
def test_log_det_is_log_abs_det_of_the_jacobian(name):
    layer = _randomise(_layers()[name]).double()
    z = torch.randn(3, D, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    c = _context(name, 1)
    for i in range(3):
        zi = z[i : i + 1]
        ci = c.double() if c is not None else None
        J = jacobian(lambda t: layer(t, ci), zi).reshape(D, D)
        sign, logabsdet = torch.linalg.slogdet(J)
        assert sign != 0
        ld = layer.forward_and_log_det(zi, ci)[1]
        assert torch.allclose(ld, logabsdet.reshape(1), atol=1e-8), f"{name}: log_det {ld.item()} vs slogdet {logabsdet.item()}"
        J_inv = jacobian(lambda t: layer.inverse(t, ci), layer(zi, ci)).reshape(D, D)
        assert torch.allclose(torch.linalg.slogdet(J_inv)[1], -logabsdet, atol=1e-8), "the inverse's log-det is the negative"


def test_maf_is_autoregressive_in_the_density_direction_and_iaf_in_the_sampling_direction():
    maf = _randomise(MaskedAffineAutoregressive(D, (16,), seed=0)).double()
    x = torch.randn(1, D, dtype=torch.float64)
    J = jacobian(lambda t: maf.inverse(t), x).reshape(D, D)  # dz/dx: z_d depends on x_<=d only
    assert torch.equal(J.abs() > 0, torch.tril(J.abs() > 0)) and bool((J.diagonal() != 0).all())
    iaf = maf.inv
    J = jacobian(lambda t: iaf(t), x).reshape(D, D)  # IAF forward = MAF inverse: lower triangular too
    assert torch.equal(J.abs() > 0, torch.tril(J.abs() > 0))


def test_actnorm_data_dependent_initialisation():
    flow = FlowSequence([AffineCoupling(D, torch.tensor([1.0, 0, 1, 0]), (8,)), ActNorm(D)])
    x = torch.randn(500, D) * torch.tensor([0.1, 2.0, 5.0, 1.0]) + torch.tensor([3.0, -1.0, 0.0, 7.0])
    assert flow.needs_initialization
    z = flow.initialize(x)
    assert not flow.needs_initialization
    assert torch.allclose(z.mean(0), torch.zeros(D), atol=1e-4) and torch.allclose(z.std(0, unbiased=False), torch.ones(D), atol=1e-4)
    before = flow.layers[1].log_scale.clone()
    flow.initialize(x * 3)  # initialised layers are left alone
    assert torch.equal(flow.layers[1].log_scale, before)
    with pytest.raises(ValueError, match="at least 2"):
        ActNorm(D).initialize(x[:1])


def test_checkerboard_and_mask_errors():
    assert checkerboard_mask(2, 3).tolist() == [1, 0, 1, 0, 1, 0]
    with pytest.raises(ValueError, match="neither all 0 nor all 1"):
        AffineCoupling(2, torch.ones(2))
    with pytest.raises(ValueError, match="zeros and ones"):
        AffineCoupling(3, torch.tensor([1.0, 0.0]))
    with pytest.raises(ValueError, match="permutation"):
        Permutation(torch.tensor([0, 0, 1]))
    with pytest.raises(ValueError, match="context"):
        AffineCoupling(2, torch.tensor([1.0, 0.0]), context_dim=2)(torch.zeros(3, 2))


@pytest.mark.parametrize("transform", ["realnvp", "glow", "maf", "iaf"])
def test_point_flow_density_is_the_change_of_variables_and_samples_invert(transform):
    model = _randomise(Flow(FlowConfig(dim=2, transform=transform, num_layers=3, hidden=(8,))), std=0.2)
    g = torch.Generator().manual_seed(0)
    x = model.sample(64, g)
    z = model.flow.inverse(x)
    log_det = model.flow.log_abs_det_jacobian(z, x)
    assert torch.allclose(model.log_prob(x), standard_normal_log_prob(z) - log_det, atol=1e-5)
    assert torch.allclose(z, torch.randn(64, 2, generator=torch.Generator().manual_seed(0)), atol=1e-4), "x = f(z) for the z the generator drew"
    assert len(model.unwarp(x)) == len(model.flow) + 1


def test_image_bound_is_uniform_dequantisation_with_the_offset():
    model = _randomise(ImageFlow(ImageFlowConfig(shape=(1, 2, 2), num_levels=3, num_layers=2, hidden=(8,))), std=0.2)
    x = torch.tensor([[0, 1, 2, 1], [2, 2, 0, 0]], dtype=torch.float32).view(2, 1, 2, 2) / 2
    v = dequantize(x, 3, torch.Generator().manual_seed(5)).flatten(1)
    expected = model.flow.inverse_and_log_det(v)
    expected = standard_normal_log_prob(expected[0]) - expected[1] - dequantization_offset(4, 3)
    got = model.log_prob(x, generator=torch.Generator().manual_seed(5))
    assert torch.allclose(got, expected, atol=1e-5), "log_prob = log p(dequantize(x)) - D ln K, the noise from the generator"
    assert torch.equal(got, model.log_prob(x, generator=torch.Generator().manual_seed(5)))
    many = model.log_prob(x, draws=4000, generator=torch.Generator().manual_seed(6))
    iw = model.log_prob(x, k=64, draws=50, generator=torch.Generator().manual_seed(7))
    assert bool((iw > many).all()), "the importance-weighted bound is tighter"


def test_image_flow_bad_inputs_are_clear_errors():
    model = ImageFlow(ImageFlowConfig(shape=(1, 2, 2), num_levels=3, num_layers=1, hidden=(4,)))
    with pytest.raises(ValueError, match="off the pixel grid"):
        model.log_prob(torch.full((2, 1, 2, 2), 0.3))
    with pytest.raises(ValueError, match="shape"):
        model.log_prob(torch.zeros(2, 1, 3, 3))
    bad = torch.zeros(2, 1, 2, 2)
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        model.loss(bad)
    with pytest.raises(ValueError, match="at least 1"):
        model.log_prob(torch.zeros(2, 1, 2, 2), k=0)
    with pytest.raises(ValueError, match="dequantization"):
        ImageFlowConfig(dequantization="gaussian")
    with pytest.raises(ValueError, match="logit_alpha"):
        ImageFlowConfig(logit_alpha=0.0)
    with pytest.raises(ValueError, match="transform"):
        FlowConfig(transform="nice")


def test_a_non_finite_log_det_stops_training_naming_the_step():
    model = Flow(FlowConfig(dim=2, num_layers=2, hidden=(4,)))
    data = torch.randn(40, 2)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(data), batch_size=10)
    model.flow.initialize(data)
    with torch.no_grad():
        model.flow.layers[-1].log_scale[0] = float("inf")  # the data-side ActNorm
    with pytest.raises(NonFiniteLossError, match=r"layer 3 \(ActNorm\).*non-finite at step 1"):
        fit(model, loader, None, TrainConfig(epochs=1, progress=False))

    image_model = ImageFlow(ImageFlowConfig(shape=(1, 2, 2), num_levels=3, num_layers=1, hidden=(4,)))
    images = torch.randint(0, 3, (20, 1, 2, 2), generator=torch.Generator().manual_seed(0)).float() / 2
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(images), batch_size=10)
    honest, steps = image_model.training_loss, []

    def training_loss(x, y=None, *, step):  # the first step is fine; before the second, a scale becomes infinite
        steps.append(step)
        if step == 2:
            with torch.no_grad():
                image_model.flow.layers[0].scale.fill_(float("inf"))
        return honest(x, y, step=step)

    image_model.training_loss = training_loss
    with pytest.raises(NonFiniteLossError, match=r"layer 0 \(AffineCoupling\).*at step 2"):
        fit(image_model, loader, None, TrainConfig(epochs=1, progress=False))
    assert steps == [1, 2]


def test_flows_train_on_the_device_of_their_parameters():
    model = Flow(FlowConfig(dim=2, num_layers=2, hidden=(8,)))
    data = torch.randn(200, 2) * 0.5 + 1.0
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(data), batch_size=50, shuffle=True,
                                         generator=torch.Generator().manual_seed(0))
    before = -model.log_prob(data).mean().item()
    history = fit(model, loader, None, TrainConfig(epochs=5, lr=1e-2, progress=False))
    after = -model.log_prob(data).mean().item()
    assert after < before and math.isfinite(after) and len(history.step) == 20

