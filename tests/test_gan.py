"""GANs: the losses against their formulas, the gradient penalty in closed form, spectral norm, the
two optimisers and the critic schedule, snapshots, and the errors a student meets."""

import math
import warnings

import pytest
import torch

from course_utils import TrainConfig, fit
from course_utils.checkpoints import load_checkpoint, save_checkpoint
from course_utils.models.gan import (DCGAN, MLPGAN, DCGANConfig, DiscriminatorWonWarning, MLPGANConfig, discriminator_loss,
                                     generator_loss, gradient_penalty, training_report)
from course_utils.train import NonFiniteLossError


def _logits():
    g = torch.Generator().manual_seed(0)
    return (3 * torch.randn(7, generator=g, dtype=torch.float64), 3 * torch.randn(7, generator=g, dtype=torch.float64))


def test_losses_are_the_formulas():
    r, f = _logits()
    D_r, D_f = torch.sigmoid(r), torch.sigmoid(f)
    assert torch.allclose(discriminator_loss(r, f, "minimax"), -(D_r.log().mean() + (1 - D_f).log().mean()))
    assert torch.allclose(discriminator_loss(r, f, "non-saturating"), discriminator_loss(r, f, "minimax"))
    assert torch.allclose(generator_loss(f, "minimax"), (1 - D_f).log().mean())
    assert torch.allclose(generator_loss(f, "non-saturating"), -D_f.log().mean())
    assert torch.allclose(discriminator_loss(r, f, "wasserstein"), f.mean() - r.mean())
    assert torch.allclose(generator_loss(f, "wasserstein"), -f.mean())
    with pytest.raises(ValueError, match="loss must be one of"):
        generator_loss(f, "hinge")


def test_saturating_gradient_is_D_and_non_saturating_is_one_minus_D():
    _, f = _logits()
    for loss, factor in (("minimax", torch.sigmoid(f)), ("non-saturating", 1 - torch.sigmoid(f))):
        l = f.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(generator_loss(l, loss), l)
        assert torch.allclose(g, -factor / len(f))


def test_gradient_penalty_of_a_linear_critic_is_closed_form():
    """f(x) = <w, x> + b has gradient w everywhere: GP = (||w|| - 1)^2, d GP / dw = 2 (||w|| - 1) w / ||w||."""
    torch.manual_seed(0)
    w = torch.randn(1, 1, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    critic = lambda x: (x * w).flatten(1).sum(1) + 0.3  # noqa: E731
    real, fake = torch.rand(5, 1, 2, 3, 3, dtype=torch.float64), torch.rand(5, 1, 2, 3, 3, dtype=torch.float64)
    gp = gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(0))
    norm = w.norm()
    assert torch.allclose(gp, (norm - 1) ** 2)
    (grad_w,) = torch.autograd.grad(gp, w)
    assert torch.allclose(grad_w, 2 * (norm - 1) * w / norm)
    with torch.no_grad():  # also inside no_grad (validation)
        assert torch.allclose(gradient_penalty(critic, real, fake, torch.full((5,), 0.5, dtype=torch.float64)), (norm - 1) ** 2)
    with pytest.raises(ValueError, match="one shape"):
        gradient_penalty(critic, real, fake[:2])


def test_gradient_penalty_is_taken_at_the_interpolates():
    """A critic f(x) = ||x||^2 / 2 has gradient x: the penalty is (||eps real + (1 - eps) fake|| - 1)^2."""
    real, fake, eps = torch.randn(4, 3), torch.randn(4, 3), torch.rand(4)
    x_hat = eps[:, None] * real + (1 - eps[:, None]) * fake
    gp = gradient_penalty(lambda x: 0.5 * (x**2).sum(1), real, fake, eps)
    assert torch.allclose(gp, ((x_hat.norm(dim=1) - 1) ** 2).mean())


def test_spectral_norm_keeps_every_layer_at_unit_norm():
    torch.manual_seed(0)
    model = DCGAN(DCGANConfig(shape=(1, 8, 8), channels=4, latent_dim=3, spectral_norm=True, num_classes=2))
    x, y = torch.rand(6, 1, 8, 8), torch.tensor([0, 1] * 3)
    for _ in range(30):  # each training-mode forward pass runs one power iteration
        model.discriminate(x, y)
    layers = [m for m in model.discriminator.modules() if hasattr(m, "parametrizations")]
    assert len(layers) == 4  # two convolutions, the head, the label embedding
    for layer in layers:
        w = layer.weight.detach()
        assert abs(torch.linalg.matrix_norm(w.flatten(1), ord=2).item() - 1) < 1e-3


def _points(n=256, seed=0):
    return torch.randn(n, 2, generator=torch.Generator().manual_seed(seed))


def test_two_optimisers_and_the_critic_schedule():
    torch.manual_seed(0)
    model = MLPGAN(MLPGANConfig(hidden=8, depth=1, loss="wasserstein", gp_weight=1.0, n_critic=3, lr_d=1e-3, betas_d=(0.0, 0.9)))
    opt_d, opt_g = model.configure_optimizers(TrainConfig(lr=2e-4, betas=(0.5, 0.99)))
    assert opt_d.param_groups[0]["lr"] == 1e-3 and opt_d.param_groups[0]["betas"] == (0.0, 0.9)
    assert opt_g.param_groups[0]["lr"] == 2e-4 and opt_g.param_groups[0]["betas"] == (0.5, 0.99)
    assert {id(p) for p in opt_d.param_groups[0]["params"]} == {id(p) for p in model.discriminator.parameters()}
    updated = []
    for step in range(1, 8):
        g_before = [p.detach().clone() for p in model.generator.parameters()]
        d_before = [p.detach().clone() for p in model.discriminator.parameters()]
        out = model.train_step(_points(32, step), None, [opt_d, opt_g], step=step, clip_grad_norm=None)
        assert list(out)[0] == "loss" and {"loss_d", "loss_g", "gp", "d_real", "d_fake", "d_wins"} <= set(out)
        assert any(not torch.equal(a, b) for a, b in zip(d_before, model.discriminator.parameters())), "D steps every step"
        if any(not torch.equal(a, b) for a, b in zip(g_before, model.generator.parameters())):
            updated.append(step)
    assert updated == [1, 4, 7], "G steps on 1, 1 + n_critic, ..."


def test_bad_configurations_are_refused():
    with pytest.raises(ValueError, match="Lipschitz"):
        MLPGANConfig(loss="wasserstein")
    with pytest.raises(ValueError, match="n_critic"):
        MLPGANConfig(n_critic=0)
    with pytest.raises(ValueError, match="multiples of 4"):
        DCGANConfig(shape=(1, 6, 6))
    with pytest.raises(ValueError, match="snapshot_size"):
        MLPGANConfig(snapshot_steps=(5,))
    model = MLPGAN(MLPGANConfig(hidden=4, depth=1, snapshot_steps=(1,), snapshot_size=3))
    with pytest.raises(ValueError, match="patience"):
        model.configure_optimizers(TrainConfig(patience=3))
    with pytest.raises(ValueError, match="ema_decay"):
        model.configure_optimizers(TrainConfig(ema_decay=0.99))
    DCGAN(DCGANConfig(shape=(1, 4, 4), channels=2, snapshot_steps=(1,), snapshot_size=3)).configure_optimizers(TrainConfig(ema_decay=0.99))


def test_a_nan_names_the_step_and_the_network():
    torch.manual_seed(0)
    model = MLPGAN(MLPGANConfig(hidden=8, depth=1))
    opts = model.configure_optimizers(TrainConfig())
    with torch.no_grad():
        model.generator.net[0].weight[0, 0] = float("nan")
    with pytest.raises(NonFiniteLossError, match=r"loss_d, the loss of the discriminator \(D\), became nan at step 3 .*G \(generator\)"):
        model.train_step(_points(), None, opts, step=3, clip_grad_norm=None)
    with pytest.raises(ValueError, match="NaN"):  # NaN data is refused before any step
        model.train_step(torch.full((4, 2), float("nan")), None, opts, step=1, clip_grad_norm=None)


def test_an_outright_win_of_the_discriminator_is_reported():
    """G far from the data and a fast D: D's loss falls below d_win_loss, in the history and in a warning."""
    torch.manual_seed(0)
    model = MLPGAN(MLPGANConfig(dim=1, latent_dim=1, hidden=16, depth=1, loss="minimax", lr_d=2e-2, lr_g=1e-5))
    with torch.no_grad():
        model.generator.net[-1].bias += 8.0
    data = torch.randn(64 * 100, 1, generator=torch.Generator().manual_seed(0)).split(64)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = fit(model, data, None, TrainConfig(epochs=1, clip_grad_norm=None, progress=False))
    wins = history.extra["d_wins"]
    assert wins[-model.cfg.d_win_steps:] == [1.0] * model.cfg.d_win_steps, "D's loss stays below the line"
    assert sum(issubclass(w.category, DiscriminatorWonWarning) for w in caught) == 1, "warned once"
    assert "WON OUTRIGHT" in training_report(history, model)
    history.extra["d_wins"] = [float(i % 2) for i in range(len(wins))]  # below the line on alternate steps: no outright win
    assert "never won outright" in training_report(history, model)


def test_snapshots_are_recorded_and_survive_a_checkpoint(tmp_path):
    torch.manual_seed(0)
    cfg = DCGANConfig(shape=(1, 4, 4), channels=2, latent_dim=3, num_levels=17, snapshot_steps=(2, 3), snapshot_size=5, num_classes=2)
    model = DCGAN(cfg)
    data = [(torch.randint(0, 17, (8, 1, 4, 4)).float() / 16, torch.arange(8) % 2) for _ in range(3)]
    history = fit(model, data, None, TrainConfig(epochs=1, progress=False))
    steps, images = model.snapshots()
    assert steps == [2, 3] and images.shape == (2, 5, 1, 4, 4)
    assert torch.equal(images * 16, torch.round(images * 16)), "snapshots lie on the data's grid"
    with torch.no_grad():
        last = model.eval().generate(model.snapshot_z, model.snapshot_y)
    assert (images[-1] - last).abs().max() <= 0.5 / 16 + 1e-6, "the last snapshot is G's output on the fixed latents, rounded"
    path = save_checkpoint(tmp_path / "dcgan.pt", model, history)
    again = DCGAN(cfg)
    load_checkpoint(path, again)
    assert again.snapshots()[0] == [2, 3] and torch.equal(again.snapshots()[1], images)


def test_points_snapshots_keep_the_decision_surface():
    torch.manual_seed(0)
    model = MLPGAN(MLPGANConfig(hidden=8, depth=1, snapshot_steps=(2, 3), snapshot_size=10, snapshot_resolution=6))
    fit(model, [_points(16, i) for i in range(3)], None, TrainConfig(epochs=1, progress=False))
    grid, surfaces = model.decision_surfaces()
    assert grid.shape == (36, 2) and surfaces.shape == (2, 6, 6) and model.snapshots()[1].shape == (2, 10, 2)
    with torch.no_grad():  # the last snapshot was taken after the last step: it is D(x) of the trained model
        assert torch.allclose(surfaces[-1].flatten(), torch.sigmoid(model.eval().discriminate(grid)), atol=1e-6)
        assert torch.allclose(model.snapshots()[1][-1], model.generate(model.snapshot_z), atol=1e-6)
    assert not torch.equal(surfaces[0], surfaces[1]), "D moved between the snapshots"


def test_samples_are_the_generator_rounded_to_the_grid():
    torch.manual_seed(0)
    model = DCGAN(DCGANConfig(shape=(1, 8, 8), channels=4, latent_dim=3)).eval()
    s = model.sample(6, torch.Generator().manual_seed(1))
    with torch.no_grad():
        x = model.generate(model.latent(6, torch.Generator().manual_seed(1)))
    assert (s - x).abs().max() <= 0.5 / 255 + 1e-6 and torch.equal(s * 255, torch.round(s * 255))


def test_conditional_sampling_needs_valid_labels():
    model = DCGAN(DCGANConfig(shape=(1, 4, 4), channels=2, latent_dim=3, num_classes=10))
    with pytest.raises(ValueError, match="conditional: pass y="):
        model.sample(3)
    with pytest.raises(ValueError, match=r"lie in 0..9"):
        model.sample(3, y=10)
    a = model.sample(4, torch.Generator().manual_seed(0), y=torch.tensor([0, 1, 2, 3]))
    b = model.sample(4, torch.Generator().manual_seed(0), y=torch.tensor([3, 2, 1, 0]))
    assert not torch.equal(a, b), "the label changes the sample"
    with pytest.raises(NotImplementedError, match="no log_prob"):
        model.log_prob(a, y=0)
    assert math.isfinite(model.loss(a, y=torch.tensor([0, 1, 2, 3])).item())


def test_losses_are_consistent_with_the_networks():
    """model.losses evaluates both players on one batch with one D; loss() is D's side of the same game."""
    torch.manual_seed(0)
    model = MLPGAN(MLPGANConfig(hidden=8, depth=1, loss="wasserstein", gp_weight=10.0))
    x, z, eps = _points(16), torch.randn(16, 2), torch.rand(16)
    out = model.losses(x, z=z, eps=eps)
    fake = model.generate(z)
    d_real, d_fake = model.discriminate(x), model.discriminate(fake)
    gp = gradient_penalty(model.discriminate, x, fake, eps)
    assert torch.allclose(out["loss_d"], d_fake.mean() - d_real.mean() + 10 * gp)
    assert torch.allclose(out["loss_g"], -d_fake.mean())
