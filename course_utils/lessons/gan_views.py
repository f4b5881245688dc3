"""Views of GANs for notebook 06: Gaussian mixtures on a ring and a grid, mode coverage, and the
renderings of training snapshots (samples over the data density, D's decision surface, image grids).

Mode coverage as in the mode-collapse literature (e.g. VEEGAN, Srivastava et al. 2017): a sample is
**high quality** when it lies within three standard deviations of the nearest mode's centre. A mode
is **covered** here when at least ``min_share`` of the samples (1 % by default, an eighth of a fair
share on the ring of 8) are high-quality samples of that mode; papers differ on this threshold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import Tensor

from ..models.gan import MLPGAN
from ..plotting import DENSITY_CMAP, OKABE_ITO, image_rows, plane

RING_RADIUS, RING_STD = 2.0, 0.15  # toy_2d("eight_gaussians")
GRID_SPACING, GRID_STD = 2.0, 0.05  # the 5x5 grid of the same papers: centres in {-4, -2, 0, 2, 4}^2


def ring_centres(n_modes: int = 8, radius: float = RING_RADIUS) -> Tensor:
    """Centres of ``n_modes`` Gaussians evenly spaced on a circle, (n_modes, 2): what ``toy_2d("eight_gaussians")`` uses."""
    angles = torch.arange(n_modes, dtype=torch.float32) * (2 * math.pi / n_modes)
    return radius * torch.stack([angles.cos(), angles.sin()], 1)


def grid_centres(side: int = 5, spacing: float = GRID_SPACING) -> Tensor:
    """Centres of a ``side`` x ``side`` grid of Gaussians centred on the origin, (side^2, 2)."""
    ticks = (torch.arange(side, dtype=torch.float32) - (side - 1) / 2) * spacing
    gx, gy = torch.meshgrid(ticks, ticks, indexing="ij")
    return torch.stack([gx.reshape(-1), gy.reshape(-1)], 1)


def gaussian_grid_2d(n: int, seed: int = 0, side: int = 5, spacing: float = GRID_SPACING, std: float = GRID_STD) -> Tensor:
    """``n`` points (float32, (n, 2)) from an equal mixture of Gaussians on a ``side`` x ``side`` grid."""
    if n < 1:
        raise ValueError(f"n must be positive; got {n}.")
    g = torch.Generator().manual_seed(seed)
    centres = grid_centres(side, spacing)
    idx = torch.randint(0, len(centres), (n,), generator=g)
    return centres[idx] + std * torch.randn(n, 2, generator=g)


def mixture_density(points: Tensor, centres: Tensor, std: float) -> Tensor:
    """Density of the equal mixture of isotropic Gaussians N(centre, std^2 I) at ``points`` (N, 2) -> (N,)."""
    sq = torch.cdist(points.double(), centres.double()) ** 2
    log_comp = -sq / (2 * std**2) - math.log(2 * math.pi * std**2)
    return torch.logsumexp(log_comp, 1).sub(math.log(len(centres))).exp()


@dataclass(frozen=True)
class ModeCoverage:
    """What :func:`mode_coverage` measures on one set of samples."""

    covered: int  # modes with at least min_share of the samples as high-quality samples
    n_modes: int
    high_quality: float  # fraction of samples within 3 std of their nearest centre
    counts: tuple[int, ...]  # high-quality samples per mode

    def __str__(self) -> str:
        return f"{self.covered} of {self.n_modes} modes covered, {100 * self.high_quality:.1f} % high-quality samples"


def mode_coverage(samples: Tensor, centres: Tensor, std: float, *, min_share: float = 0.01) -> ModeCoverage:
    """Modes covered and the fraction of high-quality samples (module docstring); ``samples`` (N, 2)."""
    if samples.ndim != 2 or samples.shape[1] != centres.shape[1]:
        raise ValueError(f"samples must have shape (N, {centres.shape[1]}); got {tuple(samples.shape)}.")
    dist, nearest = torch.cdist(samples.detach().float().cpu(), centres.float()).min(1)
    good = dist < 3 * std
    counts = torch.bincount(nearest[good], minlength=len(centres))
    return ModeCoverage(int((counts >= min_share * len(samples)).sum()), len(centres), good.float().mean().item(),
                        tuple(int(c) for c in counts))


# --------------------------------------------------------------------------- renderings
def render_ring_snapshot(model: MLPGAN, index: int = -1, *, centres: Tensor | None = None, std: float = RING_STD,
                         title: str = "") -> plt.Figure:
    """Snapshot ``index`` of a 2-D GAN's training: left, its samples over the data density; right,
    D's decision surface (``D(x)``, or the critic ``f(x)``) with the same samples.

    ``centres``/``std`` describe the data (default: the ring of 8); ``title`` names the model (default:
    its loss). Uses the snapshots the model recorded while training (``snapshot_steps``).
    """
    steps, samples = model.snapshots()
    grid, surfaces = model.decision_surfaces()
    if not steps:
        raise ValueError("This model recorded no snapshots: train it with snapshot_steps and snapshot_size in its config.")
    index = index % len(steps)
    centres = ring_centres() if centres is None else centres
    r, e = model.cfg.snapshot_resolution, model.cfg.snapshot_extent
    ticks = np.linspace(-e, e, r)  # the grid D was recorded on
    fine = torch.linspace(-e, e, 200)
    fy, fx = torch.meshgrid(fine, fine, indexing="ij")
    dens = mixture_density(torch.stack([fx.reshape(-1), fy.reshape(-1)], 1), centres, std).reshape(200, 200).numpy()
    s = samples[index].cpu().numpy()
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(9.5, 4.2))
    ax0.pcolormesh(fine.numpy(), fine.numpy(), dens, cmap=DENSITY_CMAP, shading="auto")
    ax0.scatter(s[:, 0], s[:, 1], s=3, c=OKABE_ITO[3], alpha=0.6, label="G's samples")
    ax0.set_title("samples over the data density")
    wasserstein = model.cfg.loss == "wasserstein"
    surf = surfaces[index].cpu().numpy()
    mesh = ax1.pcolormesh(ticks, ticks, surf, cmap="RdBu_r", shading="auto", **({} if wasserstein else {"vmin": 0, "vmax": 1}))
    fig.colorbar(mesh, ax=ax1, label="critic f(x)" if wasserstein else "D(x) = P(real)")
    ax1.contour(fine.numpy(), fine.numpy(), dens, levels=[dens.max() * 0.05], colors="k", linewidths=0.7)
    ax1.scatter(s[:, 0], s[:, 1], s=2, c="k", alpha=0.4)
    ax1.set_title("D's decision surface (black: data modes, dots: samples)")
    for ax in (ax0, ax1):
        plane(ax, e)
    name = title or f"{model.cfg.loss} loss{' + spectral norm' if model.cfg.spectral_norm else ''}"
    fig.suptitle(f"{name}: snapshot {index + 1} of {len(steps)}, step {steps[index]}")
    return fig


def render_image_snapshots(model, n: int = 12, title: str = "") -> plt.Figure:
    """One row of images per snapshot of an image GAN (the same fixed latents in every row)."""
    steps, samples = model.snapshots()
    if not steps:
        raise ValueError("This model recorded no snapshots: train it with snapshot_steps and snapshot_size in its config.")
    return image_rows({f"step {s}": x[:n] for s, x in zip(steps, samples)}, nrow=n, title=title)


__all__ = [
    "GRID_STD", "ModeCoverage", "RING_STD", "gaussian_grid_2d", "grid_centres", "mixture_density", "mode_coverage",
    "render_image_snapshots", "render_ring_snapshot", "ring_centres",
]
