"""Diffusion: the schedule and its closed forms, the schedulers (DDPM, DDIM, Euler), the bound of a tiny
chain against exact integration, masked diffusion's bound against enumeration, and clear errors."""

import itertools
import math

import pytest
import torch

from course_utils import NonFiniteLossError, TrainConfig, fit
from course_utils.lessons.diffusion_views import (GaussianData, elbo_by_sampling_the_chain, iterate_chain_moments, log_px_by_quadrature,
                                                  render_forward, render_guidance)
from course_utils.models.diffusion import DDPM, DDPMConfig, discretized_gaussian_log_likelihood
from course_utils.models.flow_matching import FlowMatching, FlowMatchingConfig
from course_utils.models.masked_diffusion import MaskedDiffusion, MaskedDiffusionConfig
from course_utils.nn.embeddings import LabelEmbedding, sinusoidal_embedding
from course_utils.nn.unet import ResidualMLP, UNet
from course_utils.samplers.diffusion import DDIMScheduler, DDPMScheduler, FlowMatchEulerScheduler, NoiseSchedule


def tiny_ddpm(**kw) -> DDPM:
    cfg = dict(shape=(1, 1, 2), num_levels=3, timesteps=6, width=8, depth=1)
    cfg.update(kw)
    torch.manual_seed(0)
    model = DDPM(DDPMConfig(**cfg))
    with torch.no_grad():
        for p in model.net.parameters():
            p.normal_(0, 0.2)
    return model.eval()


# --------------------------------------------------------------------------- the schedule
@pytest.mark.parametrize("name", ["linear", "cosine"])
def test_closed_form_matches_iterating_the_chain(name):
    sch = NoiseSchedule.named(name, 200)
    x0 = torch.tensor([-1.0, 0.3, 1.0])
    means, variances = iterate_chain_moments(sch, x0)
    m, v = sch.q_mean_variance(x0.expand(200, 3), torch.arange(200))
    assert torch.allclose(means.float(), m, atol=1e-5) and torch.allclose(variances.float(), v, atol=1e-5)
    # and by sampling: many chains, step by step, against q(x_t | x_0) at t = 120
    g = torch.Generator().manual_seed(0)
    x = x0.expand(20000, 3).clone()
    for a, b in zip(sch.alphas[:121], sch.betas[:121]):
        x = a.sqrt() * x + b.sqrt() * torch.randn(x.shape, generator=g)
    assert torch.allclose(x.mean(0), m[120], atol=0.03) and torch.allclose(x.var(0), v[120], atol=0.03)


def test_posterior_is_bayes_rule():
    """q(x_{t-1} | x_t, x_0) from conditioning the joint Gaussian of (x_{t-1}, x_t) given x_0."""
    sch = NoiseSchedule.cosine(50)
    x0, x_t, t = torch.tensor([[0.5]]), torch.tensor([[-0.2]]), 17
    ab_prev, a, ab = sch.alphas_cumprod[t - 1].double(), sch.alphas[t].double(), sch.alphas_cumprod[t].double()
    # x_{t-1} = sqrt(ab_prev) x0 + ..., x_t = sqrt(a) x_{t-1} + sqrt(1 - a) eps
    var_prev, cov, var_t = 1 - ab_prev, a.sqrt() * (1 - ab_prev), 1 - ab
    mean = ab_prev.sqrt() * 0.5 + cov / var_t * (-0.2 - ab.sqrt() * 0.5)
    var = var_prev - cov**2 / var_t
    m, v, _ = sch.q_posterior(x0, x_t, t)
    assert m.item() == pytest.approx(mean.item(), abs=1e-5) and v.item() == pytest.approx(var.item(), rel=1e-4)


def test_schedule_errors_are_clear():
    with pytest.raises(ValueError, match="decrease strictly"):
        NoiseSchedule(torch.tensor([0.9, 0.5, 0.6, 0.1]))
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        NoiseSchedule(torch.tensor([1.0, 0.5]))
    sch = NoiseSchedule.linear(10)
    with pytest.raises(ValueError, match=r"lie in 0..9"):
        sch.q_sample(torch.zeros(2, 1), torch.tensor([3, 10]), torch.zeros(2, 1))
    with pytest.raises(ValueError, match="integers"):
        sch.q_sample(torch.zeros(2, 1), torch.tensor([0.5, 1.0]), torch.zeros(2, 1))
    with pytest.raises(ValueError, match="Unknown schedule"):
        NoiseSchedule.named("quadratic", 10)


def test_schedule_buffers_move_with_the_module():
    sch = NoiseSchedule.cosine(10)
    names = {n for n, _ in sch.named_buffers()}
    assert {"alphas_cumprod", "betas", "posterior_variance"} <= names
    assert bool((sch.alphas_cumprod[1:] < sch.alphas_cumprod[:-1]).all())


# --------------------------------------------------------------------------- schedulers
def test_ddim_with_eta_one_on_every_step_is_ddpm():
    sch = NoiseSchedule.cosine(30)
    eps_fn = lambda x, t: torch.tanh(x) * 0.3 + 0.01 * t  # noqa: E731  any function will do
    outs = []
    for scheduler in (DDPMScheduler(sch), DDIMScheduler(sch, eta=1.0)):
        g = torch.Generator().manual_seed(0)
        x = torch.randn(4, 3, generator=g)
        for t in scheduler.timesteps.tolist():
            x = scheduler.step(eps_fn(x, t), t, x, generator=g).prev_sample
        outs.append(x)
    assert torch.allclose(outs[0], outs[1], atol=1e-5)


def test_ddim_eta_zero_is_deterministic_and_draws_nothing():
    sch = DDIMScheduler(NoiseSchedule.linear(100))
    sch.set_timesteps(10)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 5)
    state = g.get_state()
    for t in sch.timesteps.tolist():
        x = sch.step(0.1 * x, t, x, generator=g).prev_sample
    assert torch.equal(g.get_state(), state)
    assert sch.timesteps[0] == 99 and sch.timesteps[-1] == 0 and len(sch.timesteps) == 10


def test_ddim_inversion_round_trip_improves_with_steps_on_gaussian_data():
    """With the exact noise predictor of Gaussian data, encode-then-decode error falls with the steps."""
    sch = NoiseSchedule.cosine(1000)
    data = GaussianData(torch.tensor([0.3, -0.2]), torch.tensor([[0.2, 0.1], [0.1, 0.3]]))
    x0 = data.sample(64, torch.Generator().manual_seed(0))
    errors = []
    for steps in (5, 20, 100):
        ddim = DDIMScheduler(sch, clip_sample=False)
        ddim.set_timesteps(steps)
        eps = lambda x, t: data.posterior_mean_eps(x, sch, t).float()  # noqa: E731
        h = x0.clone()
        for t in reversed(ddim.timesteps.tolist()):
            h = ddim.invert_step(eps(h, max(ddim.previous_timestep(t), 0)), t, h)
        for t in ddim.timesteps.tolist():
            h = ddim.step(eps(h, t), t, h).prev_sample
        errors.append((h - x0).abs().mean().item())
    assert errors[0] > errors[1] > errors[2] and errors[2] < 0.02, errors


def test_eps_is_minus_sigma_times_the_score_on_gaussian_data():
    sch = NoiseSchedule.linear(100)
    data = GaussianData(torch.tensor([1.0, -1.0]), torch.tensor([[0.5, 0.2], [0.2, 0.4]]))
    x = torch.randn(7, 2, generator=torch.Generator().manual_seed(0))
    for t in (0, 30, 99):
        sigma = (1 - sch.alphas_cumprod[t].double()).sqrt()
        assert torch.allclose(data.posterior_mean_eps(x, sch, t), -sigma * data.score(x, sch, t), atol=1e-12)


def test_euler_on_straight_paths_is_exact_for_a_point_mass():
    """Rectified flow's selling point: for one data point the velocity field is straight, one Euler step suffices."""
    target = torch.tensor([[0.4, -0.7]])
    sch = FlowMatchEulerScheduler()
    sch.set_timesteps(1)
    x = torch.randn(1, 2)
    s = sch.timesteps[0]
    v = (x - target) / s  # E[eps - x0 | x_s] for a point mass at target
    assert torch.allclose(sch.step(v, s, x).prev_sample, target, atol=1e-6)
    with pytest.raises(ValueError, match="not one of this scheduler's timesteps"):
        sch.step(v, 0.37, x)


def test_scheduler_errors():
    sch = DDPMScheduler(NoiseSchedule.linear(10))
    with pytest.raises(ValueError, match="lie in 1..10"):
        sch.set_timesteps(11)
    sch.set_timesteps(5)
    with pytest.raises(ValueError, match="not one of this scheduler's timesteps"):
        sch.step(torch.zeros(1, 2), 3, torch.zeros(1, 2))
    with pytest.raises(ValueError, match=r"lie in 0..9"):
        sch.step(torch.zeros(1, 2), 12, torch.zeros(1, 2))
    with pytest.raises(ValueError, match="shaped like"):
        sch.step(torch.zeros(1, 3), 9, torch.zeros(1, 2))
    sch.set_timesteps(4, t_max=6)  # start below T - 1 (DDIM inversion stops where abar is not yet tiny)
    assert sch.timesteps.tolist() == [6, 4, 2, 0] and sch.previous_timestep(6) == 4
    with pytest.raises(ValueError, match="lie in 1..7"):
        sch.set_timesteps(8, t_max=6)
    with pytest.raises(ValueError, match=r"lie in 0..9"):
        sch.set_timesteps(2, t_max=10)


# --------------------------------------------------------------------------- the DDPM bound, exactly
def repeated_mean(values: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard error over ``n`` repeats of ``values`` laid out as (n * B,)."""
    v = values.double().reshape(n, -1)
    return v.mean(0), v.std(0) / math.sqrt(n)


@pytest.mark.parametrize("prediction", ["x0", "eps"])
def test_bound_of_a_one_pixel_chain_against_exact_integration(prediction):
    """T = 2, one pixel with 3 levels: p(x) by quadrature over (x_1, x_2) sums to 1; the closed-form terms
    of the bound agree with sampling whole chains; and the bound lies below log p(x)."""
    objective = "vlb" if prediction == "x0" else "simple"
    model = tiny_ddpm(shape=(1, 1, 1), timesteps=2, prediction=prediction, objective=objective, schedule="linear")
    x = torch.tensor([0.0, 0.5, 1.0]).reshape(3, 1, 1, 1)
    log_px = log_px_by_quadrature(model, x)
    assert log_px.exp().sum().item() == pytest.approx(1.0, abs=1e-3)
    n = 3000
    with torch.no_grad():
        closed, se_c = repeated_mean(model.log_prob(x.repeat(n, 1, 1, 1), generator=torch.Generator().manual_seed(0)), n)
    sampled, se_s = repeated_mean(elbo_by_sampling_the_chain(model, x.repeat(n, 1, 1, 1), draws=1, generator=torch.Generator().manual_seed(1)), n)
    assert bool(((closed - sampled).abs() < 4 * (se_c**2 + se_s**2).sqrt() + 1e-3).all()), (closed, sampled, se_c, se_s)
    assert bool((closed < log_px).all())


def test_bound_terms_sum_to_log_prob_and_strata_are_unbiased():
    model = tiny_ddpm(prediction="x0", objective="vlb", timesteps=12)
    x = torch.tensor([[0.0, 0.5], [1.0, 1.0]]).reshape(2, 1, 1, 2)
    prior, terms = model.bound_terms(x, generator=torch.Generator().manual_seed(0))
    full = model.log_prob(x, generator=torch.Generator().manual_seed(0))
    assert terms.shape == (12, 2) and torch.allclose(full, -(prior + terms.sum(0)), atol=1e-4)
    n = 2000
    with torch.no_grad():
        est, se_e = repeated_mean(model.log_prob(x.repeat(n, 1, 1, 1), terms=3, generator=torch.Generator().manual_seed(1)), n)
        exact, se_x = repeated_mean(model.log_prob(x.repeat(n // 4, 1, 1, 1), generator=torch.Generator().manual_seed(2)), n // 4)
    assert bool(((est - exact).abs() < 4 * (se_e**2 + se_x**2).sqrt()).all()), (est, exact)


def test_discretised_gaussian_sums_to_one_over_the_levels():
    levels = torch.linspace(-1, 1, 17)
    for mean, log_scale in ((0.1, -1.0), (0.97, -4.0), (-2.0, 0.5)):
        lp = discretized_gaussian_log_likelihood(levels, torch.tensor(mean), torch.tensor(log_scale), 17)
        assert lp.exp().sum().item() == pytest.approx(1.0, abs=1e-5)


def test_importance_sampler_starts_uniform_then_follows_the_terms():
    model = tiny_ddpm(prediction="x0", objective="vlb", timesteps=4).train()
    assert torch.allclose(model.importance_probabilities(), torch.full((4,), 0.25))
    x = torch.tensor([[0.0, 0.5]]).reshape(1, 1, 1, 2).expand(64, 1, 1, 2)
    for step in range(1, 13):  # every t drawn at least 10 times (a t drawn twice in a batch counts once)
        model.training_loss(x, step=step)
    assert bool((model.vlb_history_count == 10).all())
    p = model.importance_probabilities()
    rms = model.vlb_history.pow(2).mean(1).sqrt()
    assert torch.allclose(p, (rms / rms.sum()) * 0.999 + 0.001 / 4)


def test_sampling_paths_share_the_scheduler_and_lie_on_the_grid():
    model = tiny_ddpm(num_classes=3)
    y = torch.tensor([0, 1, 2, 1])
    a = model.sample(4, torch.Generator().manual_seed(0), y=y, sampler="ddim", steps=3, guidance=2.0)
    b = model.sample(4, torch.Generator().manual_seed(0), y=y, sampler="ddim", steps=3, guidance=2.0)
    assert torch.equal(a, b) and torch.allclose(a * 2, torch.round(a * 2))
    # the loop written out with the scheduler gives the same images
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 1, 1, 2, generator=g)
    sch = model.scheduler("ancestral")
    for t in sch.timesteps.tolist():
        x = sch.step(model.model_output(x, t, y, 1.5), t, x, generator=g).prev_sample
    assert torch.equal(model.to_images(x), model.sample(4, torch.Generator().manual_seed(0), y=y, guidance=1.5))
    with pytest.raises(ValueError, match=r"lie in 0..2"):
        model.sample(2, y=torch.tensor([0, 3]), guidance=1.0)
    with pytest.raises(ValueError, match="guidance needs a class-conditional"):
        tiny_ddpm().sample(2, guidance=1.0)


def test_a_nan_loss_names_the_step():
    model = tiny_ddpm().train()
    with torch.no_grad():
        model.net.out[-1].bias.fill_(float("nan"))
    x = torch.full((8, 1, 1, 2), 0.5)
    with pytest.raises(NonFiniteLossError, match="at step 1"):
        fit(model, [(x,)], None, TrainConfig(epochs=1, progress=False))


# --------------------------------------------------------------------------- masked diffusion
def tiny_masked(seed=0) -> MaskedDiffusion:
    torch.manual_seed(seed)
    model = MaskedDiffusion(MaskedDiffusionConfig(shape=(1, 1, 3), num_levels=2, channels=(4,)))
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.5)
    return model.eval()


def test_masked_bound_estimate_matches_enumeration_and_orders():
    """The stratified estimate averages to the exact sum over masks, which equals the average over orderings of
    an any-order autoregressive log-likelihood; exp of it sums to at most 1 and the mixture over orders to exactly 1."""
    model = tiny_masked()
    grid = torch.cartesian_prod(*[torch.tensor([0.0, 1.0])] * 3).reshape(8, 1, 1, 3)
    exact = model.elbo_by_enumeration(grid)
    n = 3000
    with torch.no_grad():
        est, se = repeated_mean(model.log_prob(grid.repeat(n, 1, 1, 1), draws=2, generator=torch.Generator().manual_seed(0)), n)
    assert bool(((est - exact).abs() < 4 * se + 1e-4).all()), (est, exact, se)
    with torch.no_grad():  # the same bound as an average over the 3! orders of an autoregressive model
        levels = grid.long()
        per_order = []
        for order in itertools.permutations(range(3)):
            total = torch.zeros(8)
            for k, i in enumerate(order):
                masked = torch.zeros(1, 1, 1, 3, dtype=torch.bool)
                masked[..., list(order[k:])] = True
                only_i = torch.zeros_like(masked)
                only_i[..., i] = True
                z = torch.where(masked, torch.full_like(levels, 2), levels)
                logp = torch.log_softmax(model.logits(z), -1).gather(-1, levels.unsqueeze(-1)).squeeze(-1)
                total += (logp * only_i).flatten(1).sum(1)
            per_order.append(total)
        per_order = torch.stack(per_order)  # (orders, images)
    assert torch.allclose(per_order.mean(0), exact, atol=1e-5)
    mixture = torch.logsumexp(per_order, 0) - math.log(6)
    assert mixture.exp().sum().item() == pytest.approx(1.0, abs=1e-5)
    assert exact.exp().sum().item() < 1.0 and bool((exact <= mixture + 1e-6).all())


def test_masked_sampling_and_errors():
    model = tiny_masked()
    s = model.sample(5, torch.Generator().manual_seed(0), steps=2)
    assert s.shape == (5, 1, 1, 3) and bool(((s == 0) | (s == 1)).all())
    assert torch.equal(s, model.sample(5, torch.Generator().manual_seed(0), steps=2))
    with pytest.raises(ValueError, match="draws must lie"):
        model.log_prob(torch.zeros(1, 1, 1, 3), draws=4)
    with pytest.raises(ValueError, match="too many"):
        MaskedDiffusion(MaskedDiffusionConfig(shape=(1, 4, 4))).elbo_by_enumeration(torch.zeros(1, 1, 4, 4))


# --------------------------------------------------------------------------- networks and widgets
def test_networks_shapes_and_conditioning():
    unet = UNet(3, 2, (8, 16), time=False)
    assert unet(torch.zeros(2, 3, 28, 28)).shape == (2, 2, 28, 28)
    with pytest.raises(ValueError, match="conditioned on nothing"):
        unet(torch.zeros(2, 3, 28, 28), torch.zeros(2))
    cond = UNet(1, 1, (8,), num_classes=4)
    assert cond(torch.zeros(2, 1, 8, 8), torch.rand(2), torch.tensor([0, 4])).shape == (2, 1, 8, 8)
    mlp = ResidualMLP(64, 64 * 17, 32, 2, num_classes=10)
    assert mlp(torch.zeros(3, 64), torch.rand(3), torch.tensor([0, 5, 10])).shape == (3, 64 * 17)
    with pytest.raises(ValueError, match=r"0..10"):
        mlp(torch.zeros(1, 64), torch.rand(1), torch.tensor([11]))
    with pytest.raises(ValueError, match="conditioned on labels"):
        mlp(torch.zeros(1, 64), torch.rand(1))
    emb = sinusoidal_embedding(torch.tensor([0.0, 0.5]), 8)
    assert emb.shape == (2, 8) and torch.allclose(emb[0], torch.tensor([0.0] * 4 + [1.0] * 4))
    assert LabelEmbedding(3, 4).null_label == 3


def test_flow_matching_guidance_and_steps():
    torch.manual_seed(0)
    model = FlowMatching(FlowMatchingConfig(shape=(1, 1, 2), num_levels=3, width=8, depth=1, num_classes=2)).eval()
    s = model.sample(3, torch.Generator().manual_seed(0), y=torch.tensor([0, 1, 1]), steps=4, guidance=1.0)
    assert s.shape == (3, 1, 1, 2) and torch.allclose(s * 2, torch.round(s * 2))
    with pytest.raises(ValueError, match="lie in 0..1"):
        model.sample(1, y=torch.tensor([2]))


def test_widget_render_functions():
    import matplotlib.pyplot as plt

    fig = render_forward(100, "linear", images=torch.rand(8, 1, 8, 8), timesteps=200)
    assert len(fig.axes) == 2
    plt.close(fig)
    model = tiny_ddpm(shape=(1, 2, 2), num_classes=10, timesteps=5)
    fig = render_guidance(model, 2.0, per_class=2, steps=2)
    assert fig.axes[0].get_title().startswith("guidance weight w = 2")
    plt.close(fig)


@pytest.mark.parametrize("name", ["ddpm-digits", "ddpm-eps-digits", "flow-matching-digits", "masked-diffusion-mnist"])
def test_presets_build_at_every_budget(name):
    from course_utils.base import GenerativeModel
    from course_utils.models.presets import PRESETS

    for budget in ("smoke", "laptop", "full"):
        assert isinstance(PRESETS[name].build(budget), GenerativeModel)
        assert PRESETS[name].train(budget).epochs >= 1


def test_the_28x28_unet_ddpm_trains_and_samples():
    """The path notebook 08 runs only at the full budget, at a tiny size."""
    torch.manual_seed(0)
    model = DDPM(DDPMConfig(shape=(1, 28, 28), num_levels=256, timesteps=100, network="unet", channels=(8, 16)))
    x = torch.randint(0, 256, (4, 1, 28, 28)).float() / 255
    fit(model, [(x,)], None, TrainConfig(epochs=1, progress=False))
    s = model.sample(2, torch.Generator().manual_seed(0), sampler="ddim", steps=3)
    assert s.shape == (2, 1, 28, 28) and torch.allclose(s * 255, torch.round(s * 255))
