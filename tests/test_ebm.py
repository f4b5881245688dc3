"""Energy-based and score models, the Langevin sampler's options, and the MMD two-sample test."""

import math

import pytest
import torch

from course_utils.evaluation.likelihood import mean_nll
from course_utils.evaluation.mmd import mmd2_unbiased, mmd_permutation_test
from course_utils.models.ebm import EBM, EBMConfig, ImageEBM, ImageEBMConfig
from course_utils.models.score import ScoreConfig, ScoreModel
from course_utils.samplers.langevin import langevin


# --------------------------------------------------------------------------- energy-based models
def test_ebm_log_prob_is_minus_the_energy_and_gives_no_nll():
    model = EBM(EBMConfig(hidden=8, depth=1, temperature=0.5))
    x = torch.randn(5, 2)
    with torch.no_grad():
        assert torch.allclose(model.log_prob(x), -model.f(x) / 0.5)
    with pytest.raises(ValueError, match="unnormalised.*an energy is known only up to log Z"):
        mean_nll(model, [(x,)])


def test_cd_loss_and_the_replay_buffer():
    model = ImageEBM(ImageEBMConfig(shape=(1, 2, 2), hidden=8, depth=1, steps=3, buffer_size=32, temperature=0.1, alpha=0.5))
    x = torch.rand(6, 1, 2, 2)
    neg = torch.rand(6, 1, 2, 2)
    f_pos, f_neg = model.f(x), model.f(neg)
    want = (f_pos.mean() - f_neg.mean()) / 0.1 + 0.5 * (f_pos**2 + f_neg**2).mean()
    assert torch.allclose(model.cd_loss(x, neg), want)
    before = model.buffer.clone()
    model.eval().loss(x)
    assert torch.equal(model.buffer, before), "evaluation leaves the buffer alone"
    torch.manual_seed(0)
    model.train().loss(x)
    changed = (model.buffer != before).flatten(1).any(1)
    assert 1 <= int(changed.sum()) <= 6, "training writes the negatives back into their buffer slots"
    assert model.buffer.min() >= 0 and model.buffer.max() <= 1, "image chains stay in [0, 1]"
    s = model.sample(5, torch.Generator().manual_seed(0), start="buffer", steps=2)
    assert torch.allclose(s * 16, torch.round(s * 16)), "samples are put on the grid of 17 levels"
    with pytest.raises(ValueError, match="start must be"):
        model.sample(2, start="nowhere")


def test_point_ebm_chains_stay_in_its_box():
    model = EBM(EBMConfig(hidden=8, depth=1, box=1.0, step_size=0.5))
    out = model.sample(50, torch.Generator().manual_seed(0), steps=20)
    assert out.abs().max() <= 1.0


# --------------------------------------------------------------------------- the sampler's options
def test_langevin_clamp_and_callback():
    seen = []
    out = langevin(torch.zeros(100, 2), step_size=1.0, steps=5, log_prob=lambda x: -(x**2).sum(1), clamp=(-0.25, 0.25),
                   callback=lambda t, x: seen.append((t, x.abs().max().item())), generator=torch.Generator().manual_seed(0))
    assert out.x.abs().max() <= 0.25 and [t for t, _ in seen] == [1, 2, 3, 4, 5] and max(m for _, m in seen) <= 0.25
    with pytest.raises(ValueError, match="cannot be combined with MALA"):
        langevin(torch.zeros(3, 2), step_size=0.1, steps=1, log_prob=lambda x: -(x**2).sum(1), clamp=(0, 1), metropolis=True)


def test_a_nan_energy_stops_the_chain_naming_the_step_size():
    with pytest.raises(FloatingPointError, match="step_size=0.01"):
        langevin(torch.ones(4, 2), step_size=0.01, steps=3, log_prob=lambda x: torch.log(x[:, 0] - 1.0))  # grad 1/0


# --------------------------------------------------------------------------- score model
def test_dsm_loss_at_the_true_score_of_a_gaussian():
    """Data N(0, s^2 I) in d dims, noise sigma: the noised score is -x / (s^2 + sigma^2), and its DSM
    loss 1/2 E|sigma s(x~) + z|^2 is d s^2 / (2 (s^2 + sigma^2)), the constant DSM adds to the Fisher divergence."""
    d, s = 3, 0.7
    model = ScoreModel(ScoreConfig(dim=d, hidden=4, depth=1, sigma_max=2.0, sigma_min=0.5, num_scales=2))
    model.score = lambda x, sigma: -x / (s**2 + torch.as_tensor(sigma).reshape(-1, 1) ** 2)  # the true score
    g = torch.Generator().manual_seed(0)
    n = 200_000
    x, z = s * torch.randn(n, d, generator=g), torch.randn(n, d, generator=g)
    for i, sigma in enumerate(model.sigmas.tolist()):
        got = model.dsm_loss(x, torch.full((n,), i), z).item()
        assert got == pytest.approx(d * s**2 / (2 * (s**2 + sigma**2)), rel=0.01)


def test_score_model_sigmas_and_sampling():
    model = ScoreModel(ScoreConfig(hidden=8, depth=1, sigma_max=4.0, sigma_min=0.04, num_scales=3, steps_per_scale=2))
    assert torch.allclose(model.sigmas, torch.tensor([4.0, 0.4, 0.04]))
    a = model.sample(6, torch.Generator().manual_seed(0))
    assert a.shape == (6, 2) and torch.equal(a, model.sample(6, torch.Generator().manual_seed(0)))
    with pytest.raises(ValueError, match="sigma_min <= sigma_max"):
        ScoreConfig(sigma_min=2.0, sigma_max=1.0)


# --------------------------------------------------------------------------- MMD
def test_unbiased_mmd_matches_the_formula_and_the_test_reads_it():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(7, 2, generator=g, dtype=torch.float64), torch.randn(9, 2, generator=g, dtype=torch.float64) + 0.5
    h = 0.8
    k = lambda a, b: math.exp(-((a - b) ** 2).sum().item() / (2 * h * h))  # noqa: E731
    want = (sum(k(x[i], x[j]) for i in range(7) for j in range(7) if i != j) / 42
            + sum(k(y[i], y[j]) for i in range(9) for j in range(9) if i != j) / 72
            - 2 * sum(k(a, b) for a in x for b in y) / 63)
    assert mmd2_unbiased(x, y, bandwidth=h) == pytest.approx(want, abs=1e-12)
    test = mmd_permutation_test(x, y, bandwidth=h, permutations=50, generator=g)
    assert test.mmd2 == pytest.approx(want, abs=1e-5) and 1 / 51 <= test.p_value <= 1


def test_permutation_test_holds_its_level_and_has_power():
    g = torch.Generator().manual_seed(1)
    rejections = sum(mmd_permutation_test(torch.randn(60, 2, generator=g), torch.randn(60, 2, generator=g), permutations=99,
                                          generator=g).rejects() for _ in range(60))
    assert rejections <= 9, "about 5 % false rejections (60 tests: at most 9 is a 1-in-100 event)"
    shifted = mmd_permutation_test(torch.randn(200, 2, generator=g), 0.5 + torch.randn(200, 2, generator=g), permutations=199, generator=g)
    assert shifted.rejects(0.01)
    with pytest.raises(ValueError, match="NaN"):
        mmd_permutation_test(torch.full((3, 2), float("nan")), torch.zeros(3, 2))


# --------------------------------------------------------------------------- the lesson's banana and widget
def test_banana_samples_match_its_moments_and_the_widget_renders():
    from course_utils.lessons.energy_views import BANANA, banana_sample, render_langevin

    x = banana_sample(100_000, torch.Generator().manual_seed(0))
    a, b, s = BANANA["a"], BANANA["b"], BANANA["s"]
    assert x[:, 0].pow(2).mean().item() == pytest.approx(a * a, rel=0.02)
    assert x[:, 1].mean().item() == pytest.approx(0.0, abs=0.02)  # E[x2] = b (E[x1^2] - a^2) = 0
    assert x[:, 1].var().item() == pytest.approx(2 * b * b * a**4 + s * s, rel=0.03)
    fig = render_langevin(0.05, 20, n=200)
    assert "MMD test" in fig.axes[0].get_title()
    fig = render_langevin(1.0, 20, n=200)
    assert "diverged" in fig.axes[0].get_title()
