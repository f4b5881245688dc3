"""Notebook 05 (normalising flows): the "clay" map and its widget, the unwarping figure.

**The clay.** A standard normal in the plane, warped by an invertible map ``x = T_s(z)`` whose
strength ``s`` the widget controls (``s = 0`` is the identity). Three steps, from the noise side:

1. a shear that bends the plane into a banana: ``(z1, z2 + s (z1^2 - 1) / 2)`` (log-det 0);
2. a coupling that stretches the first coordinate by ``exp(0.6 s tanh(h2))`` (log-det ``0.6 s tanh(h2)``);
3. a swirl that turns each circle of radius r by ``s exp(-r^2 / 4)`` radians (log-det 0: it slides
   every circle along itself).

The density of ``x`` is ``N(T_s^{-1}(x)) exp(-log_det)``: the clay changes shape, never mass.
"""

from __future__ import annotations

from typing import Callable

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor

from ..nn.invertible import standard_normal_log_prob
from ..plotting import DENSITY_CMAP, OKABE_ITO


# --------------------------------------------------------------------------- the clay map
def _swirl(p: Tensor, s: float, sign: float) -> Tensor:
    angle = sign * s * torch.exp(-(p**2).sum(-1) / 4)  # depends on the radius only, which a rotation keeps
    c, si = torch.cos(angle), torch.sin(angle)
    return torch.stack([c * p[:, 0] - si * p[:, 1], si * p[:, 0] + c * p[:, 1]], -1)


def clay_forward(z: Tensor, strength: float) -> tuple[Tensor, Tensor]:
    """``(x, log_det)`` of the clay map ``x = T_s(z)``; z (B, 2)."""
    s = float(strength)
    h = torch.stack([z[:, 0], z[:, 1] + 0.5 * s * (z[:, 0] ** 2 - 1)], -1)
    log_det = 0.6 * s * torch.tanh(h[:, 1])
    g = torch.stack([h[:, 0] * torch.exp(log_det), h[:, 1]], -1)
    return _swirl(g, s, +1.0), log_det


def clay_inverse(x: Tensor, strength: float) -> tuple[Tensor, Tensor]:
    """``(z, log_det)``: ``z = T_s^{-1}(x)`` and the forward log-det at that z."""
    s = float(strength)
    g = _swirl(x, s, -1.0)
    log_det = 0.6 * s * torch.tanh(g[:, 1])
    h = torch.stack([g[:, 0] * torch.exp(-log_det), g[:, 1]], -1)
    return torch.stack([h[:, 0], h[:, 1] - 0.5 * s * (h[:, 0] ** 2 - 1)], -1), log_det


def clay_log_density(x: Tensor, strength: float) -> Tensor:
    """``log p_x(x) = log N(T_s^{-1}(x); 0, I) - log_det``, shape (B,)."""
    z, log_det = clay_inverse(x, strength)
    return standard_normal_log_prob(z) - log_det


def grid_mass(log_density: Callable[[Tensor], Tensor], extent: float = 14.0, resolution: int = 1000) -> float:
    """The integral of ``exp(log_density)`` over ``[-extent, extent]^2`` by the midpoint rule (float64)."""
    cell = 2 * extent / resolution
    ticks = -extent + cell * (torch.arange(resolution, dtype=torch.float64) + 0.5)
    gx, gy = torch.meshgrid(ticks, ticks, indexing="xy")
    pts = torch.stack([gx.reshape(-1), gy.reshape(-1)], 1)
    return (torch.exp(log_density(pts)).sum() * cell**2).item()


def render_clay(strength: float = 1.0, extent: float = 4.0, resolution: int = 250) -> Figure:
    """Left: the base Gaussian with a square grid drawn on it. Right: the warped density with the same
    grid lines carried along by ``T_s``; the title gives the grid integral of the warped density."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.2), layout="constrained")
    ticks = torch.linspace(-extent, extent, resolution, dtype=torch.float64)
    gx, gy = torch.meshgrid(ticks, ticks, indexing="xy")
    pts = torch.stack([gx.reshape(-1), gy.reshape(-1)], 1)
    mass = grid_mass(lambda p: clay_log_density(p, strength))
    for ax, logp, title in ((axes[0], standard_normal_log_prob(pts), "the clay: z ~ N(0, I)"),
                            (axes[1], clay_log_density(pts, strength), f"x = T(z), strength {strength:.1f}: ∫p = {mass:.3f}")):
        ax.pcolormesh(gx.numpy(), gy.numpy(), logp.exp().reshape(resolution, resolution).numpy(), cmap=DENSITY_CMAP, shading="auto")
        ax.set_title(title)
        ax.set_xlabel("$x_1$" if ax is axes[1] else "$z_1$")
        ax.set_ylabel("$x_2$" if ax is axes[1] else "$z_2$")
        ax.set_xlim(-extent, extent)
        ax.set_ylim(-extent, extent)
        ax.set_aspect("equal")
        ax.grid(False)
    line = torch.linspace(-2.5, 2.5, 200, dtype=torch.float64)
    for c in np.linspace(-2, 2, 9):
        for pts_line in (torch.stack([line, torch.full_like(line, c)], 1), torch.stack([torch.full_like(line, c), line], 1)):
            axes[0].plot(pts_line[:, 0], pts_line[:, 1], c="white", lw=0.5, alpha=0.6)
            warped = clay_forward(pts_line, strength)[0]
            axes[1].plot(warped[:, 0], warped[:, 1], c="white", lw=0.5, alpha=0.6)
    fig.suptitle("A flow moves probability like clay: the shape changes, the mass stays 1")
    return fig


# --------------------------------------------------------------------------- unwarping, layer by layer
def render_unwarp(stages: dict[str, list[Tensor]], columns: list[int], column_titles: list[str], colour_by: dict[str, Tensor]) -> Figure:
    """One row per data set: its points after the layers in ``columns`` (indices into each list of
    ``stages``, from the data to the noise), coloured by ``colour_by`` so each point can be followed."""
    rows = len(stages)
    fig, axes = plt.subplots(rows, len(columns), figsize=(2.3 * len(columns), 2.3 * rows), squeeze=False, layout="constrained")
    for r, (name, values) in enumerate(stages.items()):
        for c, (idx, title) in enumerate(zip(columns, column_titles)):
            ax = axes[r, c]
            pts = values[idx].detach().cpu().numpy()
            ax.scatter(pts[:, 0], pts[:, 1], s=1.5, c=colour_by[name].cpu().numpy(), cmap="twilight", alpha=0.7)
            if c == len(columns) - 1:  # the noise side, on the standard normal's scale
                ax.add_patch(plt.Circle((0, 0), 2.0, fill=False, ls="--", lw=0.8, color=OKABE_ITO[0]))
                ax.set_xlim(-4, 4)
                ax.set_ylim(-4, 4)
                ax.set_aspect("equal", adjustable="box")
            else:
                ax.set_aspect("equal", adjustable="datalim")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(title, fontsize=9)
            if c == 0:
                ax.set_ylabel(name)
    fig.suptitle("Undoing the flow layer by layer: data (left) to the base Gaussian (right; dashed: radius 2)")
    return fig


def one_d_density_check(samples: Tensor, density: Callable[[Tensor], Tensor], bins: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Histogram of ``samples`` in ``bins`` as a density, the formula's average over each bin (midpoint
    rule on 20 sub-points), and the binomial standard error of the histogram: three (nbins,) tensors."""
    counts = torch.histc(samples, bins=len(bins) - 1, min=float(bins[0]), max=float(bins[-1]))
    width = bins[1:] - bins[:-1]
    n = samples.numel()
    hist = counts / (n * width)
    sub = bins[:-1, None] + width[:, None] * (torch.arange(20, dtype=bins.dtype) + 0.5) / 20
    formula = density(sub.reshape(-1)).reshape(sub.shape).mean(1)
    p_bin = (formula * width).clamp(1e-12, 1)
    se = torch.sqrt(p_bin * (1 - p_bin) / n) / width
    return hist, formula, se


__all__ = ["clay_forward", "clay_inverse", "clay_log_density", "grid_mass", "one_d_density_check", "render_clay",
           "render_unwarp"]
