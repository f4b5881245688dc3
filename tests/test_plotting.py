import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from course_utils import plotting
from course_utils.train import History


def _gaussian_log_density(pts):
    return -0.5 * (pts**2).sum(1) - np.log(2 * np.pi)


def test_tile_images_layout_and_errors():
    grid = plotting.tile_images(torch.ones(5, 1, 2, 3), nrow=3, pad=1)
    assert grid.shape == (2 * 3 + 1, 3 * 4 + 1) and grid.max() == 1 and grid[0, 0] == 0
    with pytest.raises(ValueError, match="shaped"):
        plotting.tile_images(torch.ones(2, 3))
    with pytest.raises(ValueError, match="No images"):
        plotting.tile_images(torch.ones(0, 1, 2, 2))


def test_every_helper_returns_a_labelled_figure():
    x = torch.rand(12, 1, 8, 8)
    history = History(step=[1, 2, 3, 4], train_loss=[4.0, 3.0, 2.5, 2.0], epoch=[1, 2], epoch_step=[2, 4], val_loss=[3.5, 2.8])
    pts = torch.randn(100, 2)
    figures = {
        "grid": plotting.image_grid(x, nrow=6, title="t"),
        "rows": plotting.image_rows({"a": x, "b": x}, nrow=6),
        "curves": plotting.training_curves(history),
        "density": plotting.density_2d(_gaussian_log_density, data=pts, resolution=40, title="d"),
        "surface": plotting.surface_3d(_gaussian_log_density, resolution=20),
        "scatter": plotting.samples_over_data(pts, pts + 1),
    }
    for name, fig in figures.items():
        assert isinstance(fig, Figure), name
    assert figures["grid"].axes[0].images[0].get_clim() == (0.0, 1.0), "images share one [0, 1] scale"
    for name in ("curves", "density", "scatter"):
        ax = figures[name].axes[0]
        assert ax.get_xlabel() and ax.get_ylabel(), f"{name} has labelled axes"
    assert figures["surface"].axes[0].get_zlabel() == "density"
    plt.close("all")


def test_course_style_is_colour_blind_safe():
    plotting.use_course_style()
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    assert tuple(colours) == plotting.OKABE_ITO


def test_plane_is_a_square_labelled_view_without_grid():
    import matplotlib.pyplot as plt

    from course_utils.plotting import plane

    fig, (a, b) = plt.subplots(1, 2)
    plane(a, 3)
    plane(b, 2, names=None)
    assert a.get_xlim() == (-3, 3) and a.get_ylim() == (-3, 3) and a.get_aspect() == 1.0
    assert (a.get_xlabel(), a.get_ylabel()) == ("$x_1$", "$x_2$") and b.get_xlabel() == ""
    assert not any(line.get_visible() for line in a.get_xgridlines())
    plt.close(fig)
