"""Counting, the three density estimators, distance concentration and the render functions of notebook 01."""

import math

import matplotlib.pyplot as plt
import pytest
import torch

from course_utils.lessons.curse import (chain_rule_table_sizes, distance_contrast, empty_cell_fraction,
                                        full_table_parameters, gaussian_log_prob, gmm_log_prob, histogram_cells,
                                        histogram_log_prob, kde_log_prob, line_plot, log10_full_table_parameters,
                                        render_crossing, render_estimators_1d, render_library, render_mixture_surface,
                                        scott_bandwidth)


def test_counting():
    assert full_table_parameters(3) == 7 and full_table_parameters(0) == 0
    assert len(str(full_table_parameters(784))) == 237
    assert log10_full_table_parameters(784) == pytest.approx(math.log10(2) * 784)
    assert log10_full_table_parameters(1) == pytest.approx(0.0, abs=1e-12)
    assert log10_full_table_parameters(10) == pytest.approx(math.log10(1023))
    for n in (1, 5, 40):
        assert sum(chain_rule_table_sizes(n)) == full_table_parameters(n)
    assert histogram_cells(10, 3) == 1000
    with pytest.raises(ValueError):
        full_table_parameters(-1)


def _integrate_1d(log_density, lo=-12.0, hi=12.0, n=24001):
    xs = torch.linspace(lo, hi, n, dtype=torch.float64).unsqueeze(1)
    return log_density(xs).exp().sum().item() * (hi - lo) / (n - 1)


def test_estimators_integrate_to_one_in_1d():
    train = torch.randn(50, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert _integrate_1d(lambda p: kde_log_prob(train, p, 0.3)) == pytest.approx(1.0, abs=1e-4)
    assert _integrate_1d(lambda p: gaussian_log_prob(train, p)) == pytest.approx(1.0, abs=1e-4)
    # the histogram lives on its box: integrate over [lo, hi] only
    assert _integrate_1d(lambda p: histogram_log_prob(train, p, 8, -4.0, 4.0), -4.0, 4.0 - 1e-9, 16001) == pytest.approx(1.0, abs=1e-3)


def test_histogram_closed_form_and_empty_cells():
    train = torch.tensor([[0.1, 0.1], [0.2, 0.3], [0.9, 0.9]])
    test = torch.tensor([[0.15, 0.15], [0.6, 0.1]])
    lp = histogram_log_prob(train, test, bins=2, lo=0.0, hi=1.0, alpha=0.5)
    # 4 cells of area 1/4: (2 + .5) / (3 + 2) and (0 + .5) / (3 + 2), divided by the area
    assert torch.allclose(lp, torch.log(torch.tensor([2.5 / 5 * 4, 0.5 / 5 * 4])))
    assert empty_cell_fraction(train, test, bins=2, lo=0.0, hi=1.0) == 0.5


def test_gaussian_and_kde_closed_forms():
    train = torch.tensor([[0.0], [2.0]])
    test = torch.tensor([[1.0]])
    # ML Gaussian: mean 1, variance 1
    assert gaussian_log_prob(train, test).item() == pytest.approx(-0.5 * math.log(2 * math.pi))
    h = 0.5
    expected = math.log(0.5 * 2 * math.exp(-0.5 * (1 / h) ** 2) / (h * math.sqrt(2 * math.pi)))
    assert kde_log_prob(train, test, h).item() == pytest.approx(expected, rel=1e-5)
    x = torch.randn(200, 3, generator=torch.Generator().manual_seed(1))
    assert scott_bandwidth(x) == pytest.approx(float(x.std(0).mean()) * 200 ** (-1 / 7))


def test_estimator_errors():
    with pytest.raises(ValueError, match="same dimension"):
        kde_log_prob(torch.zeros(5, 2), torch.zeros(3, 3))
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        gaussian_log_prob(torch.zeros(5), torch.zeros(3, 1))
    with pytest.raises(ValueError, match="bins"):
        histogram_log_prob(torch.zeros(5, 1), torch.zeros(3, 1), bins=0)
    with pytest.raises(ValueError, match="bandwidth"):
        kde_log_prob(torch.randn(5, 1), torch.zeros(3, 1), bandwidth=0.0)


def test_distance_contrast_falls_with_dimension_and_is_seeded():
    low = distance_contrast(300, 2, 20, torch.Generator().manual_seed(0))
    high = distance_contrast(300, 500, 20, torch.Generator().manual_seed(0))
    assert low.shape == (20,) and low.median() > 10 * high.median()
    assert torch.equal(high, distance_contrast(300, 500, 20, torch.Generator().manual_seed(0)))


def test_gmm_integrates_to_one():
    xs = torch.linspace(-8, 8, 321)
    grid = torch.stack(torch.meshgrid(xs, xs, indexing="xy"), -1).view(-1, 2)
    lp = gmm_log_prob(grid, torch.tensor([[0.0, 0.0], [2.0, 1.0]]), torch.tensor([0.5, 1.0]), torch.tensor([0.3, 0.7]))
    assert lp.exp().sum().item() * (xs[1] - xs[0]).item() ** 2 == pytest.approx(1.0, abs=1e-3)


def test_render_functions():
    for n in (1, 10, 63, 64, 784):
        fig = render_library(n)
        assert fig.axes[0].get_xlabel() == "pixel" and fig.axes[1].get_ylabel()
        plt.close(fig)
    with pytest.raises(ValueError):
        render_library(0)
    library = render_library(3).axes[0].images[0].get_array()
    assert library.shape == (8, 3) and len({tuple(row) for row in library.tolist()}) == 8, "every 3-pixel image, once"
    fig = render_mixture_surface(0.0, 0.0, 0.5, 0.5)
    assert len(fig.axes) >= 2
    plt.close(fig)
    with pytest.raises(ValueError):
        render_mixture_surface(weight2=1.5)
    train = torch.randn(30, 1)
    grid = torch.linspace(-3, 3, 50).unsqueeze(1)
    fig = render_estimators_1d(train, grid, torch.exp(-0.5 * grid.squeeze(1) ** 2) / math.sqrt(2 * math.pi))
    assert fig.axes[0].get_xlabel() == "x"
    plt.close(fig)
    fig = line_plot([1, 2], {"a": [1, 2]}, "x", "y", "t", logx=True, logy=True)
    assert fig.axes[0].get_title() == "t"


def test_render_estimators_1d_reports_held_out_log_density():
    train = torch.randn(30, 1, generator=torch.Generator().manual_seed(0))
    test = torch.randn(200, 1, generator=torch.Generator().manual_seed(1))
    grid = torch.linspace(-4, 4, 50).unsqueeze(1)
    fig = render_estimators_1d(train, grid, torch.exp(-0.5 * grid.squeeze(1) ** 2) / math.sqrt(2 * math.pi), bins=7, bandwidth=0.4, test=test)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    kde = kde_log_prob(train, test, 0.4).mean().item()
    assert any(label.startswith("kernel density, h = 0.40") and f"{kde:.3f}" in label for label in labels), labels
    assert any(label.startswith("histogram, 7 bins: held-out") for label in labels)
    plt.close(fig)


def test_render_crossing_ranks_the_models_at_the_chosen_size():
    sizes = [5, 50, 500]
    curves = {"few parents": [150.0, 130.0, 125.0], "many parents": [200.0, 128.0, 110.0]}
    for n, best in ((5, "few parents"), (50, "many parents"), (500, "many parents")):
        fig = render_crossing(n, sizes, curves)
        ax1, ax2 = fig.axes
        assert best in ax2.get_title() and f"n = {n:,}" in ax2.get_title()
        assert ax2.get_yticklabels()[-1].get_text() == best, "the best model is the top bar"
        assert ax1.get_xlabel() == "training images n" and ax2.get_xlabel()
        plt.close(fig)
    with pytest.raises(ValueError, match="one of the measured sizes"):
        render_crossing(7, sizes, curves)
