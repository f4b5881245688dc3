"""The pieces of the contract that are not one family's: the pixel scale, presets and the registry,
the shared Langevin sampler, modes, devices of helper tensors, and the commands without `resource`."""

import builtins
import importlib
import math
import sys

import pytest
import torch

from conftest import DEVICES
from course_utils import eval_mode, frozen
from course_utils.data import dequantize, from_levels, load_digits8x8, to_levels
from course_utils.evaluation.likelihood import discrete_nll_bound, total_probability
from course_utils.models.gaussian_mixture import GaussianMixture, GaussianMixtureConfig, eight_gaussians_truth
from course_utils.models.presets import PRESETS, load_model
from course_utils.runtime import setup
from course_utils.samplers.langevin import langevin


# --------------------------------------------------------------------------- the pixel scale
def test_levels_round_trip_and_reject_what_is_off_the_grid():
    digits = load_digits8x8()
    assert torch.equal(to_levels(digits.test.x, 17), digits.test.levels.long())
    assert torch.equal(from_levels(digits.test.levels, 17), digits.test.x)
    with pytest.raises(ValueError, match="off the pixel grid of 17 levels"):
        to_levels(dequantize(digits.test.x[:5], 17, torch.Generator().manual_seed(0)), 17)
    with pytest.raises(ValueError, match="NaN"):
        to_levels(torch.full((2, 1, 2, 2), float("nan")), 2)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        to_levels(torch.full((2, 1, 2, 2), 2.0), 2)


def test_dequantized_pixels_fill_their_bins_and_the_offset_matches():
    x = torch.tensor([0.0, 0.5, 1.0]).view(1, 1, 1, 3).expand(4000, 1, 1, 3).contiguous()
    u = dequantize(x, 3, torch.Generator().manual_seed(0))
    level = torch.tensor([0, 1, 2]).view(1, 1, 1, 3)
    assert bool(((u >= level / 3) & (u < (level + 1) / 3)).all()), "level l fills [l/K, (l+1)/K)"
    assert torch.allclose(u.mean(0), (level + 0.5).float() / 3, atol=0.01)
    # the uniform density on [0, 1)^D has -log p = 0, and its discrete bound is the uniform NLL D ln K
    assert discrete_nll_bound(0.0, 3, 3) == pytest.approx(3 * math.log(3))


# --------------------------------------------------------------------------- continuous models
def test_eight_gaussians_truth_is_a_normalised_density_of_the_toy_set():
    from course_utils.data import toy_2d

    truth = eight_gaussians_truth()
    assert total_probability(truth, extent=4.0, resolution=600) == pytest.approx(1.0, abs=1e-3)
    pts = toy_2d("eight_gaussians", 4000, seed=0)
    fitted = GaussianMixture(GaussianMixtureConfig(components=8))
    assert truth.log_prob(pts).mean() > fitted.log_prob(pts).mean() + 1.0, "the truth explains its own data best"


# --------------------------------------------------------------------------- presets and the registry
def test_a_preset_trains_once_and_any_notebook_loads_it(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_BUDGET", "smoke")
    monkeypatch.setenv("COURSE_RUN_DIR", str(tmp_path))
    rt = setup("03_autoregressive", quiet=True)
    assert {"made", "pixelcnn", "vae-digits", "vae-mnist"} <= set(PRESETS)
    first, h1 = load_model("fvsbn", rt, quiet=True)
    rt09 = setup("09_evaluation", quiet=True)
    second, h2 = load_model("fvsbn", rt09, quiet=True)
    assert not h1.from_checkpoint and h2.from_checkpoint
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values()))
    with pytest.raises(ValueError, match="No preset 'nope'"):
        load_model("nope", rt)


# --------------------------------------------------------------------------- Langevin
@pytest.mark.parametrize("device", DEVICES)
def test_langevin_matches_the_update_and_restores_the_model(device):
    model = GaussianMixture(GaussianMixtureConfig(components=3)).to(device).train()
    x0 = torch.randn(5, 2, device=device)
    eps = 0.1
    with torch.no_grad():  # the caller's no_grad must not stop the sampler
        out = langevin(x0, step_size=eps, steps=1, log_prob=model.log_prob, generator=torch.Generator().manual_seed(0), model=model).x
    xi = torch.randn(5, 2, generator=torch.Generator().manual_seed(0)).to(device)
    x = x0.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(model.log_prob(x).sum(), x)
    assert torch.allclose(out, x0 + eps / 2 * grad + math.sqrt(eps) * xi, atol=1e-6)
    assert model.training and all(p.requires_grad for p in model.parameters()), "mode and gradients restored"


def test_langevin_and_mala_sample_a_gaussian_and_report_divergence():
    target = lambda x: -0.5 * (x**2).sum(1)  # noqa: E731  N(0, I) up to its constant
    start = torch.full((4000, 2), 3.0)
    ula = langevin(start, step_size=0.5, steps=200, log_prob=target, generator=torch.Generator().manual_seed(0))
    mala = langevin(start, step_size=0.5, steps=200, log_prob=target, metropolis=True, generator=torch.Generator().manual_seed(0))
    # ULA's stationary variance here is 1 / (1 - eps/4) = 1.143: the step-size bias MALA removes
    assert ula.x.var(0).mean().item() == pytest.approx(1 / (1 - 0.5 / 4), abs=0.06)
    assert mala.x.var(0).mean().item() == pytest.approx(1.0, abs=0.06) and 0.5 < mala.acceptance < 1.0
    modes = langevin(start, step_size=0.5, steps=200, log_prob=target, noise=False).x
    assert modes.abs().max() < 1e-6, "without noise Langevin is gradient ascent to the mode"
    with pytest.raises(FloatingPointError, match="diverged .* step_size=5"):
        langevin(start, step_size=5.0, steps=400, log_prob=target)
    with pytest.raises(ValueError, match="exactly one"):
        langevin(start, step_size=0.1, steps=1)


# --------------------------------------------------------------------------- modes and devices
def test_eval_mode_and_frozen_restore_exactly_what_was_there():
    model = GaussianMixture(GaussianMixtureConfig()).train()
    model.means.requires_grad_(False)
    with pytest.raises(RuntimeError):
        with frozen(model):
            assert not model.training and not any(p.requires_grad for p in model.parameters())
            raise RuntimeError("boom")
    assert model.training and not model.means.requires_grad and model.logits.requires_grad
    with eval_mode(model):
        assert not model.training
    assert model.training


@pytest.mark.parametrize("device", DEVICES)
def test_density_grid_is_built_on_the_models_device(device):
    from course_utils.plotting import density_on_grid

    model = eight_gaussians_truth().to(device)
    seen = []
    fn = model.log_prob

    class Spy:
        __self__ = model

        def __call__(self, pts):
            seen.append(pts.device.type)
            return fn(pts)

    gx, gy, dens = density_on_grid(Spy(), (-3, 3), (-3, 3), 50)
    assert seen == [device] and dens.shape == (50, 50) and abs(dens.sum() * (6 / 49) ** 2 - 1) < 0.02


# --------------------------------------------------------------------------- commands without `resource`
def test_course_commands_start_without_the_resource_module(monkeypatch):
    """Windows has no `resource`: the benchmark and course.py must still import."""
    real_import = builtins.__import__

    def no_resource(name, *args, **kwargs):
        if name == "resource":
            raise ImportError("No module named 'resource'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_resource)
    monkeypatch.delitem(sys.modules, "resource", raising=False)
    monkeypatch.delitem(sys.modules, "course_utils.tooling.bench", raising=False)
    bench = importlib.import_module("course_utils.tooling.bench")
    assert math.isnan(bench.children_peak_mib())
    spec = importlib.util.spec_from_file_location("course_script", bench.NOTEBOOK_DIR.parent / "course.py")
    course = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(course)
    assert course.main(["help"]) == 0


def test_presets_do_not_depend_on_who_trains_them_or_disturb_the_caller(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_BUDGET", "smoke")
    monkeypatch.setenv("COURSE_RUN_DIR", str(tmp_path / "a"))
    rt = setup("03_autoregressive", quiet=True)
    torch.manual_seed(1)
    trained, _ = load_model("fvsbn", rt, quiet=True)
    after_training = torch.rand(3)
    torch.manual_seed(1)
    load_model("fvsbn", rt, quiet=True)  # loads the checkpoint this time
    assert torch.equal(torch.rand(3), after_training), "the caller's random state is the same whether the model was trained or loaded"
    monkeypatch.setenv("COURSE_RUN_DIR", str(tmp_path / "b"))
    torch.manual_seed(12345)  # another notebook, another random state before the call
    again, _ = load_model("fvsbn", setup("09_evaluation", quiet=True), quiet=True)
    assert all(torch.equal(a, b) for a, b in zip(trained.state_dict().values(), again.state_dict().values()))
