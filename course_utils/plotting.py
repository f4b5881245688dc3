"""Figures of the course: one colour-blind-safe style, and helpers that each return the figure.

Colours are the Okabe-Ito palette (distinguishable with every common colour-vision deficiency);
continuous maps are ``viridis``, images ``gray_r`` on a fixed [0, 1] scale so that a grey means the
same in every grid.
"""

from __future__ import annotations

from typing import Callable, Sequence

import matplotlib

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor

OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
IMAGE_CMAP = "gray_r"  # ink is dark, as on paper
DENSITY_CMAP = "viridis"


def use_course_style() -> None:
    """Apply the course style to matplotlib (called by ``setup``)."""
    matplotlib.rcParams.update(
        {
            "axes.prop_cycle": matplotlib.cycler(color=OKABE_ITO),
            "image.cmap": DENSITY_CMAP,
            "figure.dpi": 90,
            "savefig.dpi": 110,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "font.size": 10,
            "axes.titlesize": 11,
            "figure.constrained_layout.use": True,
        }
    )


def _np(x: Tensor | np.ndarray) -> np.ndarray:
    if isinstance(x, Tensor):
        return x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=np.float32)


def tile_images(images: Tensor | np.ndarray, nrow: int | None = None, pad: int = 1, pad_value: float = 0.0) -> np.ndarray:
    """Tile images (N, H, W) or (N, C, H, W) into one (rows*H, cols*W[, C]) array."""
    arr = _np(images)
    if arr.ndim == 3:
        arr = arr[:, None]
    if arr.ndim != 4:
        raise ValueError(f"images must be shaped (N, H, W) or (N, C, H, W); got {arr.shape}.")
    n, c, h, w = arr.shape
    if n == 0:
        raise ValueError("No images to show.")
    ncol = nrow or int(np.ceil(np.sqrt(n)))
    nrows = int(np.ceil(n / ncol))
    out = np.full((c, nrows * (h + pad) + pad, ncol * (w + pad) + pad), pad_value, dtype=np.float32)
    for i in range(n):
        r, q = divmod(i, ncol)
        out[:, pad + r * (h + pad) : pad + r * (h + pad) + h, pad + q * (w + pad) : pad + q * (w + pad) + w] = arr[i]
    return out[0] if c == 1 else out.transpose(1, 2, 0)


def image_grid(
    images: Tensor | np.ndarray,
    nrow: int | None = None,
    title: str = "",
    *,
    vmin: float = 0.0,
    vmax: float = 1.0,
    ax: plt.Axes | None = None,
    size: float | None = None,
) -> Figure:
    """Show images in a grid on one fixed scale ``[vmin, vmax]`` (default [0, 1]); ``nrow`` images per row.

    ``size`` is the figure width in inches (default: 0.55 inch per image across, at least 3).
    """
    grid = tile_images(images, nrow)
    if ax is None:
        n = len(images)
        size = size or max(3.0, 0.55 * (nrow or int(np.ceil(np.sqrt(n)))))
        fig, ax = plt.subplots(figsize=(size, size * grid.shape[0] / grid.shape[1] + 0.4))
    else:
        fig = ax.figure
    ax.imshow(grid, cmap=IMAGE_CMAP, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_title(title)
    ax.set_axis_off()
    return fig


def image_rows(rows: dict[str, Tensor | np.ndarray], nrow: int = 10, title: str = "", size: float = 1.0) -> Figure:
    """One labelled row of images per entry of ``rows`` (e.g. data vs each model's samples)."""
    fig, axes = plt.subplots(len(rows), 1, figsize=(size * nrow, size * 1.15 * len(rows)), squeeze=False)
    for ax, (label, imgs) in zip(axes[:, 0], rows.items()):
        image_grid(_np(imgs)[:nrow], nrow=nrow, ax=ax)
        ax.set_axis_on()
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
        ax.set_ylabel(label, rotation=0, ha="right", va="center")
    if title:
        fig.suptitle(title)
    return fig


def training_curves(history, title: str = "Training", ylabel: str = "loss (nats per example)", ax: plt.Axes | None = None) -> Figure:
    """Training loss per step (smoothed) and validation loss per epoch, against steps."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 3.5))
    else:
        fig = ax.figure
    loss = np.asarray(history.train_loss, dtype=np.float64)
    if loss.size:
        k = max(1, loss.size // 50)
        smooth = np.convolve(loss, np.ones(k) / k, mode="valid")
        ax.plot(np.asarray(history.step[k - 1 :]), smooth, label="train (moving average)")
    if history.val_loss:
        ax.plot(history.epoch_step[: len(history.val_loss)], history.val_loss, "o-", label="validation")
    ax.set_xlabel("optimisation step")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend()
    return fig


def _device_of(fn: Callable) -> torch.device:
    """The device of the module a bound method belongs to (``model.log_prob``), else the CPU."""
    owner = getattr(fn, "__self__", None)
    if isinstance(owner, torch.nn.Module):
        for t in (*owner.parameters(), *owner.buffers()):
            return t.device
    return torch.device("cpu")


def density_on_grid(
    log_density: Callable[[Tensor], Tensor], xlim: tuple[float, float], ylim: tuple[float, float], resolution: int,
    device: torch.device | str | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``exp(log_density)`` on a ``resolution`` x ``resolution`` grid: returns (gx, gy, density).

    The grid is built on ``device`` (default: the device of the model whose method ``log_density``
    is, else the CPU), so a model on a GPU is evaluated there.
    """
    device = torch.device(device) if device is not None else _device_of(log_density)
    xs = torch.linspace(*xlim, resolution, device=device)
    ys = torch.linspace(*ylim, resolution, device=device)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    pts = torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)
    with torch.no_grad():
        dens = torch.exp(log_density(pts)).reshape(gx.shape)
    return _np(gx), _np(gy), _np(dens)


def density_2d(
    log_density: Callable[[Tensor], Tensor],
    xlim: tuple[float, float] = (-4, 4),
    ylim: tuple[float, float] = (-4, 4),
    *,
    resolution: int = 200,
    data: Tensor | np.ndarray | None = None,
    title: str = "",
    ax: plt.Axes | None = None,
    contours: bool = True,
    device: torch.device | str | None = None,
) -> Figure:
    """Heat map of ``exp(log_density)`` on a grid, with contours and optional data points on top.

    ``log_density`` maps (N, 2) float32 points to (N,) log-densities; see :func:`density_on_grid` for ``device``.
    """
    gx, gy, dens = density_on_grid(log_density, xlim, ylim, resolution, device)
    if ax is None:
        fig, ax = plt.subplots(figsize=(4.5, 4))
    else:
        fig = ax.figure
    mesh = ax.pcolormesh(gx, gy, dens, cmap=DENSITY_CMAP, shading="auto")
    fig.colorbar(mesh, ax=ax, label="density")
    if contours and np.ptp(dens) > 0:
        ax.contour(gx, gy, dens, levels=6, colors="white", linewidths=0.6, alpha=0.7)
    if data is not None:
        d = _np(data)
        ax.scatter(d[:, 0], d[:, 1], s=2, c=OKABE_ITO[1], alpha=0.5, label="data")
        ax.legend(loc="upper right", markerscale=4)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_title(title)
    ax.grid(False)
    return fig


def surface_3d(
    log_density: Callable[[Tensor], Tensor],
    xlim: tuple[float, float] = (-4, 4),
    ylim: tuple[float, float] = (-4, 4),
    *,
    resolution: int = 80,
    title: str = "",
    elev: float = 35,
    azim: float = -60,
    device: torch.device | str | None = None,
) -> Figure:
    """A 3-D surface of the density ``exp(log_density)`` over the plane."""
    gx, gy, dens = density_on_grid(log_density, xlim, ylim, resolution, device)
    fig = plt.figure(figsize=(5.5, 4.5))
    ax = fig.add_subplot(projection="3d")
    ax.plot_surface(gx, gy, dens, cmap=DENSITY_CMAP, linewidth=0, antialiased=True)
    ax.view_init(elev=elev, azim=azim)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_zlabel("density")
    ax.set_title(title)
    return fig


def plane(ax: plt.Axes, extent: float, names: tuple[str, str] | None = ("$x_1$", "$x_2$")) -> plt.Axes:
    """Make ``ax`` a square view of the plane, ``[-extent, extent]`` on both axes, labelled with
    ``names`` (``None``: no labels) and without grid lines over the points or the density."""
    ax.set_xlim(-extent, extent)
    ax.set_ylim(-extent, extent)
    ax.set_aspect("equal")
    if names is not None:
        ax.set_xlabel(names[0])
        ax.set_ylabel(names[1])
    ax.grid(False)
    return ax


def samples_over_data(
    data: Tensor | np.ndarray,
    samples: Tensor | np.ndarray,
    title: str = "",
    ax: plt.Axes | None = None,
    labels: Sequence[str] = ("data", "model samples"),
) -> Figure:
    """Scatter 2-D model samples over the data."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(4.5, 4))
    else:
        fig = ax.figure
    d, s = _np(data), _np(samples)
    ax.scatter(d[:, 0], d[:, 1], s=3, alpha=0.35, c=OKABE_ITO[0], label=labels[0])
    ax.scatter(s[:, 0], s[:, 1], s=3, alpha=0.5, c=OKABE_ITO[3], label=labels[1])
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_title(title)
    ax.set_aspect("equal", adjustable="datalim")
    ax.legend(markerscale=4)
    return fig
