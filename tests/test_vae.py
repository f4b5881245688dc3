"""VAE: the bounds (ELBO <= IW bound <= log p), closed-form KL, decoders, interface, devices."""

import math

import matplotlib
import pytest
import torch

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from course_utils import TrainConfig, fit, load_checkpoint, save_checkpoint  # noqa: E402
from course_utils.base import LogProbKind  # noqa: E402
from course_utils.lessons.vae_views import (active_units, evaluate_bounds, interpolate, latent_grid,  # noqa: E402
                                            mean_kl_per_dim, render_beta, render_conditional, render_latent_explorer)
from course_utils.models.vae import VAE, Autoencoder, VAEConfig, gaussian_kl_standard  # noqa: E402

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def small(**kw) -> VAEConfig:
    base = dict(shape=(1, 4, 4), num_levels=17, latent_dim=3, hidden=32, depth=1)
    base.update(kw)
    return VAEConfig(**base)


def images(n: int, levels: int, shape=(1, 4, 4), seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, levels, (n, *shape), generator=g).float() / (levels - 1)


def quadrature_log_prob(model: VAE, x: torch.Tensor, n: int = 4001, lim: float = 8.0) -> torch.Tensor:
    """log p(x) = log int p(z) p(x|z) dz on a 1-D grid (latent_dim = 1)."""
    z = torch.linspace(-lim, lim, n).unsqueeze(1)  # (n, 1)
    with torch.no_grad():
        lp = model.prior.log_prob(z).unsqueeze(1) + model.decoder.log_prob(x.flatten(1), z.unsqueeze(1))  # (n, B)
    return torch.logsumexp(lp, 0) + math.log(2 * lim / (n - 1))


@pytest.mark.parametrize("levels", [2, 3])
def test_exact_likelihood_normalises_and_bounds_hold(levels):
    """On a 2-pixel space the true p(x) (by quadrature) sums to 1; ELBO <= log p(x) ~ IW(1000)."""
    torch.manual_seed(0)
    model = VAE(VAEConfig(shape=(1, 1, 2), num_levels=levels, latent_dim=1, hidden=16, depth=1)).eval()
    grid = torch.cartesian_prod(*[torch.arange(levels)] * 2).float().reshape(-1, 1, 1, 2) / (levels - 1)
    logp = quadrature_log_prob(model, grid)
    assert torch.isclose(logp.exp().sum(), torch.tensor(1.0), atol=1e-4)
    # the ELBO by quadrature too: int q(z) [log p(x|z) + log p(z) - log q(z)] dz
    z = torch.linspace(-8, 8, 4001).unsqueeze(1)
    with torch.no_grad():
        mu, log_var = model.encode(grid)
        q = torch.distributions.Normal(mu.T, (0.5 * log_var.T).exp())  # (1, B)
        log_w = model.prior.log_prob(z).unsqueeze(1) + model.decoder.log_prob(grid.flatten(1), z.unsqueeze(1)) - q.log_prob(z)
        elbo_exact = torch.trapezoid(q.log_prob(z).exp() * log_w, z[:, 0], dim=0)
        elbo_mc = torch.stack([model.elbo(grid, generator=torch.Generator().manual_seed(s)).elbo for s in range(300)]).mean(0)
    b = evaluate_bounds(model, grid, ks=(1000,))
    assert (elbo_exact < logp).all()  # Jensen: strictly below unless q is the posterior
    assert (elbo_mc - elbo_exact).abs().max() < 0.03  # the package's ELBO estimates that integral
    assert (b[1000].float() - logp).abs().max() < 0.05  # k = 1000 all but closes the gap
    assert (b[1000].float() > elbo_exact).all()


def test_kl_closed_form_equals_monte_carlo():
    torch.manual_seed(1)
    mu, log_var = torch.randn(4, 3, dtype=torch.float64), 0.7 * torch.randn(4, 3, dtype=torch.float64)
    q = torch.distributions.Normal(mu, (0.5 * log_var).exp())
    z = q.sample((400_000,))
    mc = (q.log_prob(z) - torch.distributions.Normal(0.0, 1.0).log_prob(z)).mean(0)
    assert torch.allclose(gaussian_kl_standard(mu, log_var), mc, rtol=0.02, atol=0.01)
    ref = torch.distributions.kl_divergence(q, torch.distributions.Normal(0.0, 1.0))
    assert torch.allclose(gaussian_kl_standard(mu, log_var), ref, atol=1e-5)


def test_iw_bound_non_decreasing_in_k():
    torch.manual_seed(2)
    model = VAE(small()).eval()
    x = images(200, 17)
    means = {k: torch.stack([evaluate_bounds(model, x, ks=(k,), seed=s)[k].mean() for s in range(3)]).mean() for k in (1, 10, 100)}
    assert means[1] < means[10] < means[100]


def test_mog_prior_is_normalised_its_samples_follow_it_and_its_kl_estimate_is_unbiased():
    torch.manual_seed(3)
    model = VAE(small(latent_dim=2, prior="mog", prior_components=4)).eval()
    with torch.no_grad():  # spread the components out, so that a wrong mixture would show
        model.prior.means.mul_(1.5)
        model.prior.log_scales.uniform_(-0.7, 0.3)
        model.prior.mix_logits.copy_(torch.tensor([0.5, -1.0, 0.0, 1.0]))
    ticks = torch.linspace(-9, 9, 601)
    zg = torch.cartesian_prod(ticks, ticks)
    with torch.no_grad():
        mass = (model.prior.log_prob(zg).double().exp().sum() * (ticks[1] - ticks[0]) ** 2).item()
        pi = torch.softmax(model.prior.mix_logits, 0)
        mean = (pi[:, None] * model.prior.means).sum(0)
    assert mass == pytest.approx(1.0, abs=1e-4), "the mixture prior integrates to 1"
    z = model.prior.sample(200_000, torch.Generator().manual_seed(0))
    assert z.shape == (200_000, 2) and torch.allclose(z.mean(0), mean, atol=0.02), "samples have the mixture's mean"
    with torch.no_grad():  # the density at the samples' histogram: samples follow log_prob, not another mixture
        hist = torch.histogramdd(z, bins=[torch.linspace(-4, 4, 9)] * 2).hist / 200_000
        centres = torch.cartesian_prod(*[torch.linspace(-3.5, 3.5, 8)] * 2)
        fine = torch.stack(torch.meshgrid(*[torch.linspace(-0.45, 0.45, 10)] * 2, indexing="ij"), -1).reshape(-1, 2)  # sub-points of each bin
        expected = model.prior.log_prob(centres[:, None] + fine[None]).exp().mean(1).reshape(8, 8)  # density averaged over the bin, times area 1
    assert (hist - expected).abs().max() < 0.01
    # the ELBO's one-sample KL, log q(z|x) - log p(z), averages to KL(q || p) computed by quadrature over z
    x = images(3, 17)
    with torch.no_grad():
        model.encoder.net[-1].bias[2:] -= 1.5  # narrow posteriors (variance about 0.2), unlike the prior's components
        kls = model.elbo(x.repeat(4000, 1, 1, 1), generator=torch.Generator().manual_seed(0)).kl.view(4000, 3).double().mean(0)
        mu, log_var = model.encode(x)
        q = torch.distributions.Independent(torch.distributions.Normal(mu[:, None], (0.5 * log_var[:, None]).exp()), 1)
        log_q = q.log_prob(zg[None])  # (3, G^2)
        kl_exact = (log_q.exp() * (log_q - model.prior.log_prob(zg)[None])).double().sum(1) * (ticks[1] - ticks[0]) ** 2
    assert model.elbo(x).kl_per_dim is None
    assert torch.allclose(kls, kl_exact, atol=0.05)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("levels", [2, 17])
def test_interface_shapes_ranges_device(device, levels):
    torch.manual_seed(4)
    model = VAE(small(num_levels=levels)).to(device)
    assert model.log_prob_kind is LogProbKind.LOWER_BOUND
    x = images(5, levels).to(device)
    loss = model.loss(x)
    assert loss.ndim == 0 and torch.isfinite(loss) and loss.device.type == device
    for k in (1, 7):
        lp = model.log_prob(x, k=k)
        assert lp.shape == (5,) and lp.device.type == device and (lp < 0).all()
    s = model.sample(6, generator=torch.Generator(device=device).manual_seed(0))
    assert s.shape == (6, 1, 4, 4) and s.device.type == device
    assert torch.allclose(s * (levels - 1), torch.round(s * (levels - 1)))  # on the grey-level grid
    m = model.sample(6, mean=True)
    assert 0 <= m.min() and m.max() <= 1
    parts = model.elbo(x, generator=torch.Generator(device=device).manual_seed(1))
    # recompute both terms with torch.distributions, from the same noise: rec is log p(x | z) at that z, kl is closed form
    mu, log_var = model.encode(x)
    z = mu + (0.5 * log_var).exp() * torch.randn(mu.shape, generator=torch.Generator(device=device).manual_seed(1), device=device)
    logits = model.decoder.logits(z)
    if levels == 2:
        rec = torch.distributions.Bernoulli(logits=logits).log_prob(x.flatten(1)).sum(-1)
    else:
        rec = torch.distributions.Categorical(logits=logits).log_prob(torch.round(x.flatten(1) * (levels - 1)).long()).sum(-1)
    kl = torch.distributions.kl_divergence(torch.distributions.Normal(mu, (0.5 * log_var).exp()), torch.distributions.Normal(0.0, 1.0))
    assert torch.allclose(parts.rec, rec, atol=1e-4) and torch.allclose(parts.kl_per_dim, kl, atol=1e-5)
    assert torch.allclose(parts.elbo, rec - kl.sum(-1), atol=1e-4) and (parts.kl >= 0).all()


def test_sampling_is_reproducible_with_generator():
    model = VAE(small())
    a = model.sample(4, generator=torch.Generator().manual_seed(7))
    b = model.sample(4, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, b)


def test_training_objectives():
    torch.manual_seed(5)
    x = images(32, 17)
    plain = VAE(small()).train()
    torch.manual_seed(6)
    fb = VAE(small(free_bits=5.0)).train()
    fb.load_state_dict(plain.state_dict())
    torch.manual_seed(0)
    l_plain = plain.training_loss(x, step=1)
    torch.manual_seed(0)
    l_fb = fb.training_loss(x, step=1)
    assert l_fb >= l_plain - 1e-5  # a floor on the KL can only raise the loss
    warm = VAE(small(kl_warmup_steps=10))
    assert warm.kl_weight(step=1) == 0.0 and warm.kl_weight(step=6) == pytest.approx(0.5) and warm.kl_weight(step=500) == 1.0
    torch.manual_seed(2)
    parts = warm.elbo(x)
    torch.manual_seed(2)
    assert torch.allclose(warm.training_loss(x, step=6), -parts.rec.mean() + 0.5 * parts.kl.mean()), "the warm-up weighs the KL by step"
    iwae = VAE(small(train_k=5)).train()
    assert torch.isfinite(iwae.training_loss(x, step=1))
    torch.manual_seed(1)
    a = plain.loss(x)
    torch.manual_seed(1)
    assert torch.allclose(a, -plain.elbo(x).elbo.mean())  # the loss (validation) is the plain -ELBO


def test_training_lowers_loss_and_checkpoint_roundtrip(tmp_path):
    torch.manual_seed(7)
    x = images(64, 17)
    model = VAE(small())
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x), batch_size=16)
    h = fit(model, loader, loader, TrainConfig(epochs=8, lr=3e-3, progress=False))
    assert h.val_loss[-1] < h.val_loss[0] and h.step[-1] == 32
    path = save_checkpoint(tmp_path / "v.pt", model, h)
    other = VAE(small())
    load_checkpoint(path, other)
    assert torch.allclose(other.encode(x)[0], model.encode(x)[0])


def test_conditional_vae():
    torch.manual_seed(8)
    model = VAE(small(num_classes=10))
    x, y = images(6, 17), torch.arange(6)
    assert torch.isfinite(model.loss(x, y))
    assert model.log_prob(x, k=3, y=y).shape == (6,)
    assert model.sample(4, y=torch.tensor([1, 1, 2, 2])).shape == (4, 1, 4, 4)
    assert model.sample(4, y=3).shape == (4, 1, 4, 4)
    with pytest.raises(ValueError, match="conditional: pass y="):
        model.sample(4)
    with pytest.raises(ValueError, match="conditional"):
        model.loss(x)
    with pytest.raises(ValueError):
        model.log_prob(x, y=torch.full((6,), 10))
    fig = render_conditional(model, digit=3, n=4)
    assert fig.axes
    plt.close(fig)


def test_bad_input():
    model = VAE(small(num_levels=2))
    with pytest.raises(ValueError, match="binary"):
        model.loss(images(3, 17))
    with pytest.raises(ValueError, match="shape"):
        model.loss(torch.zeros(3, 1, 8, 8))
    with pytest.raises(ValueError, match="unconditional"):
        model.loss(images(3, 2), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError):
        VAEConfig(prior="flow")
    with pytest.raises(ValueError):
        model.log_prob(images(3, 2), k=0)


def test_autoencoder_and_analysis_helpers():
    torch.manual_seed(9)
    ae = Autoencoder(small())
    x = images(20, 17)
    assert ae.log_prob_kind is LogProbKind.NONE and torch.isfinite(ae.loss(x))
    ae.fit_code_distribution(x)
    s = ae.sample(5, torch.Generator().manual_seed(0))
    assert s.shape == (5, 1, 4, 4) and torch.equal(s * 16, torch.round(s * 16)), "sampled pixels lie on the 17-level grid"
    m = ae.sample(5, torch.Generator().manual_seed(0), mean=True)
    assert 0 <= m.min() and m.max() <= 1
    vae = VAE(small(latent_dim=4)).eval()
    last = vae.encoder.net[-1]  # outputs (mu_1..4, log_var_1..4)
    with torch.no_grad():  # dimension 0 follows the data strongly, 1 weakly (0.02 times 0), 2 and 3 not at all (a constant mean)
        last.weight[0].mul_(20)
        last.weight[1] = 0.02 * last.weight[0]
        last.weight[2:4].zero_()
        last.bias[2:4] = torch.tensor([1.5, 0.0])
        last.weight[4:].zero_()
        last.bias[4:] = torch.tensor([0.0, 0.0, 0.0, math.log(0.25)])  # log_var: 1, 1, 1, 0.25
    n, var = active_units(vae, x)
    assert n == 1 and var[0] > 0.01 > var[1] > 0 and torch.all(var[2:] == 0), "only dimension 0 moves with the data"
    assert var[1] == pytest.approx(0.02**2 * var[0].item(), rel=1e-3), "the variance over the data of the posterior mean"
    mu = vae.encode(x)[0]
    kl = mean_kl_per_dim(vae, x)
    assert kl[3] == pytest.approx(0.5 * (0.25 - 1 - math.log(0.25)), abs=1e-6), "a constant mean 0, variance 1/4: closed-form KL"
    assert kl[2] == pytest.approx(0.5 * 1.5**2, abs=1e-6) and kl[0] == pytest.approx(0.5 * (mu[:, 0] ** 2).mean().item(), rel=1e-4)
    path = interpolate(vae, x[:1], x[1:2], steps=5)
    assert path.shape == (5, 1, 4, 4)
    assert torch.allclose(path[0], vae.decode(mu[:1])[0]) and torch.allclose(path[-1], vae.decode(mu[1:2])[0]), "from one code to the other"


def test_latent_explorer_renders():
    vae = VAE(small(latent_dim=2))
    assert latent_grid(vae, n=5).shape == (25, 1, 4, 4)
    fig = render_latent_explorer(vae, 0.5, -1.0, n=5, codes=torch.randn(10, 2), labels=torch.arange(10))
    assert len(fig.axes) >= 2
    plt.close(fig)
    with pytest.raises(ValueError, match="2-D"):
        latent_grid(VAE(small()))


def test_beta_widget_shows_the_chosen_model():
    models = {0.5: VAE(small()).eval(), 2.0: VAE(small()).eval()}
    x = images(6, 17)
    fig = render_beta(models, x, beta="2.0", rd={0.5: (5.0, 90.0), 2.0: (1.0, 100.0)}, n=6)
    assert len(fig.axes) == 2 and "β = 2" in fig.axes[0].get_title() and "R = 1.0" in fig.axes[1].get_title()
    plt.close(fig)
    with pytest.raises(ValueError, match="no model was trained with beta=1.0"):
        render_beta(models, x, beta=1.0)
