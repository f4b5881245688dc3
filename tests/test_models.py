"""The one contract, checked on every family of the registry (conformance test).

Every family in ``course_utils.models.FAMILIES`` must have a tiny configuration below; a family
added to the registry without one fails ``test_every_registered_family_is_checked``.
"""

import itertools
import math

import pytest
import torch

from conftest import DEVICES
from course_utils.base import GenerativeModel, LogProbKind, Support, check_images
from course_utils.draws import categorical
from course_utils.evaluation.likelihood import all_images, mean_nll, total_probability
from course_utils.models import FAMILIES, build_model
from course_utils.models.independent import IndependentConfig, IndependentPixels

# family -> (tiny config as a plain dict, number of levels of its images or None for points/ids)
TINY = {
    "independent": ({"shape": (1, 2, 3), "num_levels": 3}, 3),
    "table": ({"shape": (1, 3, 3), "neighbours": 4}, 2),
    "mixture-bernoulli": ({"shape": (1, 3, 3), "components": 3}, 2),
    "made": ({"shape": (1, 3, 3), "hidden": (16,), "num_masks": 2, "order_agnostic": True}, 2),
    "pixelcnn": ({"shape": (1, 3, 3), "channels": 4, "num_layers": 2, "kernel_size": 3}, 2),
    "char_transformer": ({"vocab_size": 3, "block_size": 4, "n_layer": 1, "n_head": 2, "n_embd": 8}, None),
    "vae": ({"shape": (1, 2, 2), "num_levels": 2, "latent_dim": 2, "hidden": 8}, 2),
    "autoencoder": ({"shape": (1, 2, 2), "num_levels": 17, "latent_dim": 2, "hidden": 8}, 17),
    "gaussian-mixture": ({"dim": 2, "components": 3}, None),
    "flow": ({"dim": 2, "transform": "realnvp", "num_layers": 2, "hidden": (8,)}, None),
    "image-flow": ({"shape": (1, 2, 2), "num_levels": 3, "num_layers": 2, "hidden": (8,)}, 3),
    "rbm": ({"shape": (1, 3, 3), "hidden": 3, "chains": 4}, 2),
    "ebm": ({"dim": 2, "hidden": 8, "depth": 1, "steps": 2, "sample_steps": 3, "buffer_size": 16}, None),
    "ebm-image": ({"shape": (1, 2, 2), "num_levels": 17, "hidden": 8, "depth": 1, "steps": 2, "sample_steps": 3, "buffer_size": 16}, 17),
    "score": ({"dim": 2, "hidden": 8, "depth": 1, "num_scales": 3, "steps_per_scale": 2}, None),
    "gan": ({"dim": 2, "latent_dim": 2, "hidden": 8, "depth": 1}, None),
    "dcgan": ({"shape": (1, 4, 4), "latent_dim": 3, "channels": 2}, 256),
    "ddpm": ({"shape": (1, 2, 2), "num_levels": 2, "timesteps": 10, "prediction": "x0", "objective": "vlb", "width": 8, "depth": 1,
              "loss_terms": 4}, 2),
    "flow-matching": ({"shape": (1, 2, 2), "num_levels": 3, "width": 8, "depth": 1}, 3),
    "masked-diffusion": ({"shape": (1, 2, 2), "num_levels": 2, "channels": (4,)}, 2),
}
# extra variants worth their own check: a 17-level VAE with a mixture prior, a conditional VAE, a MAF, a
# variationally dequantised Glow-style image flow
VARIANTS = {
    **{name: (name, cfg, k) for name, (cfg, k) in TINY.items()},
    "vae-17-mog": ("vae", {"shape": (1, 1, 2), "num_levels": 17, "latent_dim": 2, "hidden": 8, "prior": "mog", "prior_components": 3}, 17),
    "vae-conditional": ("vae", {"shape": (1, 2, 2), "num_levels": 2, "latent_dim": 2, "hidden": 8, "num_classes": 3}, 2),
    "flow-maf": ("flow", {"dim": 2, "transform": "maf", "num_layers": 2, "hidden": (8,)}, None),
    "image-flow-variational": ("image-flow", {"shape": (1, 1, 2), "num_levels": 17, "num_layers": 2, "hidden": (8,), "transform": "glow",
                                              "dequantization": "variational", "deq_layers": 2, "deq_hidden": (8,)}, 17),
    "dcgan-conditional-wgan-gp": ("dcgan", {"shape": (1, 4, 4), "latent_dim": 3, "channels": 2, "num_classes": 3, "loss": "wasserstein",
                                            "gp_weight": 10.0, "spectral_norm": True}, 256),
    "gan-conditional": ("gan", {"dim": 2, "latent_dim": 2, "hidden": 8, "depth": 1, "num_classes": 3}, None),
    "ddpm-eps-unet": ("ddpm", {"shape": (1, 2, 2), "num_levels": 3, "timesteps": 3, "network": "unet", "channels": (4,)}, 3),
    "ddpm-conditional": ("ddpm", {"shape": (1, 1, 2), "num_levels": 3, "timesteps": 4, "width": 8, "depth": 1, "num_classes": 3}, 3),
}


def _tiny(name, seed=0):
    family, cfg, levels = VARIANTS[name]
    torch.manual_seed(seed)
    model = build_model(family, cfg)
    with torch.no_grad():  # random weights, so that a wrong normaliser cannot hide behind a zero init
        for p in model.parameters():
            p.normal_(0, 0.5)
    return model, levels


def _data(model, levels, n, device, seed=0):
    """``n`` examples of the model's data: images on the course's scale, points, or ids."""
    g = torch.Generator().manual_seed(seed)
    if model.support is Support.CONTINUOUS:
        return torch.randn(n, *model.event_shape, generator=g).to(device)
    if levels is None:  # id sequences
        return torch.randint(0, model.cfg.vocab_size, (n, model.cfg.block_size), generator=g).to(device)
    return (torch.randint(0, levels, (n, *model.event_shape), generator=g).float() / (levels - 1)).to(device)


def _labels(model, n):
    return torch.arange(n) % model.num_classes if model.num_classes else None


def test_every_registered_family_is_checked():
    assert set(FAMILIES) == set(TINY), f"add a tiny config for {set(FAMILIES) ^ set(TINY)} to TINY"


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", list(VARIANTS))
def test_interface(name, device):
    model, levels = _tiny(name)
    model = model.to(device)
    assert isinstance(model, GenerativeModel) and model.device.type == device
    x = _data(model, levels, 5, device)
    y = _labels(model, 5)
    y = y.to(device) if y is not None else None
    loss = model.loss(x, y=y)
    trainable = any(p.requires_grad for p in model.parameters())
    assert loss.shape == () and torch.isfinite(loss) and loss.requires_grad == trainable, "fit can train it"
    if model.log_prob_kind is not LogProbKind.NONE:
        lp = model.log_prob(x, y=y)
        assert lp.shape == (5,) and lp.dtype == torch.float32 and lp.device.type == device
    else:  # likelihood-free (GANs, the autoencoder): no number pretends to be a log-likelihood
        with pytest.raises(NotImplementedError, match="no log_prob"):
            model.log_prob(x, y=y)
    s1 = model.sample(4, generator=torch.Generator().manual_seed(0), y=_labels(model, 4))
    s2 = model.sample(4, generator=torch.Generator().manual_seed(0), y=_labels(model, 4))
    assert s1.device.type == device and torch.equal(s1, s2) and not s1.requires_grad
    if levels is None and model.support is Support.DISCRETE:  # ids
        assert s1.dtype == torch.long and s1.shape[0] == 4
    else:
        assert s1.shape == (4, *model.event_shape)
    if model.support is Support.DISCRETE and levels is not None:
        assert 0 <= s1.min() and s1.max() <= 1
        assert torch.allclose(s1 * (levels - 1), torch.round(s1 * (levels - 1)), atol=1e-5), "samples lie on the pixel grid"


@pytest.mark.parametrize("name", list(VARIANTS))
def test_conditioning_is_one_checked_keyword(name):
    model, levels = _tiny(name)
    x = _data(model, levels, 3, "cpu")
    if model.num_classes == 0:
        with pytest.raises(ValueError, match="unconditional"):
            model.loss(x, y=torch.zeros(3, dtype=torch.long))
        with pytest.raises(ValueError, match="unconditional"):
            model.sample(2, y=torch.zeros(2, dtype=torch.long))
    else:
        with pytest.raises(ValueError, match="conditional: pass y="):
            model.sample(2)
        scored = model.log_prob if model.log_prob_kind is not LogProbKind.NONE else model.loss  # likelihood-free: its loss checks y
        with pytest.raises(ValueError, match="lie in 0..2"):
            scored(x, y=torch.tensor([0, 1, 3]))
        with pytest.raises(ValueError, match="integer class labels"):
            model.loss(x, y=torch.zeros(3))


@pytest.mark.parametrize("name", [n for n in VARIANTS if VARIANTS[n][2] is not None or VARIANTS[n][0] in ("gaussian-mixture", "flow", "gan")])
def test_nan_and_wrong_shape_inputs_are_clear_errors(name):
    model, levels = _tiny(name)
    x = _data(model, levels, 3, "cpu")
    y = _labels(model, 3)
    bad = x.clone()
    bad.view(-1)[1] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        model.loss(bad, y=y)
    with pytest.raises(ValueError, match="shape"):
        model.loss(x[..., :1], y=y)


@pytest.mark.parametrize("name", [n for n in VARIANTS if n != "char_transformer"])
def test_every_likelihood_adds_up(name):
    """exact discrete: sums to 1 over the tiny space; exact continuous: integrates to 1 on a fine grid;
    a lower bound: the expected ELBO stays below 1 while the importance-weighted estimate (unbiased
    for p(x)) sums to 1; none / unnormalised: mean_nll refuses."""
    model, levels = _tiny(name, seed=1)
    kind = model.log_prob_kind
    y = 1 if model.num_classes else None
    if kind is LogProbKind.EXACT and model.support is Support.DISCRETE:
        assert total_probability(model, levels, y=y) == pytest.approx(1.0, abs=1e-4)
    elif kind is LogProbKind.EXACT:
        assert total_probability(model, extent=8.0, resolution=500) == pytest.approx(1.0, abs=1e-3)
    elif kind is LogProbKind.LOWER_BOUND:
        torch.manual_seed(0)
        grid = all_images(model.event_shape, levels)
        labels = model.labels(y, grid.shape[0])
        one_draw = {"k": 1} if model.family == "vae" else {}  # the VAE's ELBO is its k = 1 bound
        with torch.no_grad():
            elbo = torch.stack([model.log_prob(grid, y=labels, **one_draw) for _ in range(200)]).double().mean(0)  # E_q[ELBO] per image
        assert torch.logsumexp(elbo, 0).exp().item() < 1.0, "exp(E[ELBO]) <= p(x), summed: below 1"
        if model.family == "vae":  # a 2-D latent: log p(x) itself by quadrature over z
            log_px = _vae_log_px_by_quadrature(model, grid, labels)
            assert torch.logsumexp(log_px, 0).exp().item() == pytest.approx(1.0, abs=2e-3), "the decoder and prior are normalised"
            assert bool((elbo <= log_px + 0.05).all()), "the expected ELBO lies below log p(x) for every image"
            with torch.no_grad():
                iw = model.log_prob(grid, y=labels, k=2000, generator=torch.Generator().manual_seed(0)).double()
            assert (iw - log_px).abs().mean() < (elbo - log_px).abs().mean(), "k = 2000 closes most of the gap"
    else:
        with pytest.raises(ValueError, match="gives no NLL"):
            mean_nll(model, [(_data(model, levels, 2, "cpu"),)])


def _vae_log_px_by_quadrature(model, x, y, span=7.0, G=300):
    """log p(x [| y]) = log of the sum over a G x G grid of z of p(z) p(x | z [, y]) times the cell area."""
    ticks = torch.linspace(-span, span, G, dtype=torch.float64)
    z = torch.stack(torch.meshgrid(ticks, ticks, indexing="ij"), -1).reshape(-1, 1, 2).float()  # (G^2, 1, 2)
    y1 = model._onehot(y, x.shape[0])
    if y1 is not None:
        z = z.expand(-1, x.shape[0], -1)  # the decoder pairs each z with each image's label
    with torch.no_grad():
        log_joint = model.prior.log_prob(z).double() + model.decoder.log_prob(x.flatten(1), z, y1).double()  # (G^2, N)
    return torch.logsumexp(log_joint, 0) + 2 * math.log(ticks[1] - ticks[0])


def test_char_transformer_is_normalised_over_all_sequences():
    model, _ = _tiny("char_transformer", seed=1)
    seqs = torch.tensor(list(itertools.product(range(3), repeat=4)))  # every sequence of 4 ids
    with torch.no_grad():
        assert torch.logsumexp(model.eval().log_prob(seqs).double(), 0).exp().item() == pytest.approx(1.0, abs=1e-5)


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
    with pytest.raises(ValueError, match="off the pixel grid"):
        model.log_prob(torch.full((3, 1, 2, 2), 0.3))
    with pytest.raises(ValueError, match="binary"):
        check_images(torch.full((1, 1, 2, 2), 0.5), (1, 2, 2), binary=True)
    with pytest.raises(TypeError, match="dataclass instance"):
        IndependentPixels(IndependentConfig)
    with pytest.raises(ValueError, match="Unknown family"):
        build_model("nope", {})
    with pytest.raises(ValueError, match="no field"):
        build_model("made", {"hiden": (3,)})


@pytest.mark.parametrize("device", DEVICES)
def test_categorical_sampler_frequencies_and_generator(device):
    logits = torch.log(torch.tensor([0.6285, 0.2312, 0.1403], device=device)).expand(20000, 3)
    draws = categorical(logits, torch.Generator().manual_seed(1))
    freq = torch.bincount(draws.cpu(), minlength=3).float() / 20000
    assert torch.allclose(freq, torch.tensor([0.6285, 0.2312, 0.1403]), atol=0.015)
    assert draws.device.type == device
    assert torch.equal(draws, categorical(logits, torch.Generator().manual_seed(1)))
