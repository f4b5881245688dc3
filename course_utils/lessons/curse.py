"""The curse of dimensionality, measured: counting, density estimators in D dimensions, distances.

Helpers of notebook 01, each small enough to read alone:

- counting: the number of free parameters of a full table over ``n`` binary pixels, ``2^n - 1``,
  and the table sizes of the chain-rule conditionals (Bellman 1961 named the curse);
- three density estimators in ``D`` dimensions with one signature, ``(train, test) -> log p(test)``:
  a regular histogram, a Gaussian kernel density estimate (Parzen 1962, bandwidth by Scott's
  rule), and a single Gaussian fitted by maximum likelihood;
- distance concentration: as ``D`` grows, the nearest and the farthest neighbour of a query become
  almost equally far (Beyer et al. 1999);
- a 2-D mixture of Gaussians and the render functions of the notebook's widgets (a density as a
  surface, the three estimators with their bins and bandwidth, the crossing learning curves).

| here          | math                                                      |
|---------------|-----------------------------------------------------------|
| ``bins``      | b, bins per dimension; b^D cells in all                   |
| ``bandwidth`` | h, the kernel's standard deviation                        |
| ``contrast``  | (d_max - d_min) / d_min of one query's distances           |
"""

from __future__ import annotations

import math
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor

from ..plotting import DENSITY_CMAP, IMAGE_CMAP, OKABE_ITO
from ..draws import uniform

LOG10_ATOMS = 80.0  # about 10^80 atoms in the observable universe


# --------------------------------------------------------------------------- counting
def full_table_parameters(n: int) -> int:
    """Free parameters of an arbitrary distribution over ``n`` binary variables: ``2^n - 1`` (exact int)."""
    if n < 0:
        raise ValueError(f"n must be non-negative; got {n}.")
    return 2**n - 1


def log10_full_table_parameters(n: int) -> float:
    """``log10(2^n - 1)`` without overflow (``n >= 1``)."""
    if n < 1:
        raise ValueError(f"n must be at least 1; got {n}.")
    return n * math.log10(2) + math.log10(1 - 2.0**-n)


def chain_rule_table_sizes(n: int) -> list[int]:
    """Free parameters of each conditional ``p(x_i | x_1..x_{i-1})`` of the chain rule: ``2^(i-1)``.

    They sum to ``2^n - 1``: the chain rule changes nothing in the count, it only moves it.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1; got {n}.")
    return [2 ** (i - 1) for i in range(1, n + 1)]


def render_library(n: int = 8) -> Figure:
    """The "library" of every image of ``n`` binary pixels, and how its size grows with ``n``.

    Left: all ``2^n`` images of a strip of ``n`` pixels (the first 1,024 when there are more).
    Right: ``log10(2^n - 1)`` against ``n`` up to 784 (a 28x28 image), with the number of atoms in
    the observable universe for scale.
    """
    if not 1 <= n <= 784:
        raise ValueError(f"n must be between 1 and 784; got {n}.")
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8), gridspec_kw={"width_ratios": [1, 1.6]})
    shown = min(2**n, 1024)
    codes = torch.arange(shown).unsqueeze(1)
    library = ((codes >> torch.arange(min(n, 62) - 1, -1, -1)) & 1).numpy()  # (shown, n): one image per row
    if n > 62:
        library = np.concatenate([np.zeros((shown, n - 62), dtype=library.dtype), library], axis=1)
    ax1.imshow(library, cmap=IMAGE_CMAP, vmin=0, vmax=1, aspect="auto", interpolation="nearest")
    count = f"{2**n:,}" if n <= 30 else f"$2^{{{n}}}$"
    ax1.set_title(f"the library: all {count} images of {n} pixels" + ("" if shown == 2**n else f"\n(first {shown:,} rows: only the last 10 pixels change)"))
    ax1.set_xlabel("pixel")
    ax1.set_ylabel("image")
    ax1.grid(False)
    ns = np.arange(1, 785)
    ax2.plot(ns, ns * math.log10(2), label="$\\log_{10}(2^n - 1)$ free parameters")
    ax2.axhline(LOG10_ATOMS, color=OKABE_ITO[3], ls="--", label="atoms in the universe, $10^{80}$")
    ax2.plot([n], [log10_full_table_parameters(n)], "o", color="k", label=f"n = {n}: $10^{{{log10_full_table_parameters(n):.1f}}}$")
    ax2.set_xlabel("number of binary pixels n")
    ax2.set_ylabel("$\\log_{10}$ (number of parameters)")
    ax2.set_title("each pixel doubles it; 28x28 needs $10^{236}$ numbers")
    ax2.legend(loc="upper left")
    return fig


# --------------------------------------------------------------------------- density estimators
def _check_points(train: Tensor, test: Tensor) -> None:
    for name, t in (("train", train), ("test", test)):
        if not isinstance(t, Tensor) or t.ndim != 2 or not t.is_floating_point():
            raise ValueError(f"{name} must be a float tensor shaped (N, D); got {getattr(t, 'shape', type(t))}.")
    if train.shape[1] != test.shape[1]:
        raise ValueError(f"train and test must have the same dimension; got {train.shape[1]} and {test.shape[1]}.")
    if train.shape[0] < 2:
        raise ValueError("train needs at least 2 points.")


def histogram_log_prob(train: Tensor, test: Tensor, bins: int = 10, lo: float = -4.0, hi: float = 4.0, alpha: float = 0.5) -> Tensor:
    """Log-density (N_test,) of ``test`` under a regular histogram of ``train`` (N, D) on [lo, hi]^D.

    ``b^D`` cells of width ``w = (hi - lo) / b``; a cell's probability is its smoothed count
    ``(c + alpha) / (N + alpha b^D)`` and its density that divided by ``w^D``. Points outside the
    box are clamped into the edge cells. Only occupied cells are stored, so ``b^D`` may be huge.
    """
    _check_points(train, test)
    if bins < 1 or hi <= lo or alpha <= 0:
        raise ValueError(f"need bins >= 1, hi > lo and alpha > 0; got bins={bins}, lo={lo}, hi={hi}, alpha={alpha}.")
    n, d = train.shape
    width = (hi - lo) / bins

    def cell(p: Tensor) -> Tensor:
        return ((p - lo) / width).floor().clamp(0, bins - 1).long()  # (N, D)

    cells, counts = torch.unique(cell(train), dim=0, return_counts=True)
    lookup = {tuple(c): int(k) for c, k in zip(cells.tolist(), counts.tolist())}
    c_test = torch.tensor([lookup.get(tuple(c), 0) for c in cell(test).tolist()], dtype=torch.float64)
    log_cells = d * math.log(bins)
    log_norm = torch.logaddexp(torch.tensor(math.log(n), dtype=torch.float64), torch.tensor(math.log(alpha) + log_cells, dtype=torch.float64))
    return (torch.log(c_test + alpha) - log_norm - d * math.log(width)).to(test.dtype)


def histogram_cells(bins: int, dims: int) -> int:
    """Number of cells of a regular histogram, ``bins ** dims`` (exact int)."""
    return bins**dims


def empty_cell_fraction(train: Tensor, test: Tensor, bins: int = 10, lo: float = -4.0, hi: float = 4.0) -> float:
    """Fraction of ``test`` points that fall in a histogram cell holding no ``train`` point."""
    _check_points(train, test)
    width = (hi - lo) / bins
    to_cell = lambda p: ((p - lo) / width).floor().clamp(0, bins - 1).long()  # noqa: E731
    occupied = {tuple(c) for c in to_cell(train).tolist()}
    return float(np.mean([tuple(c) not in occupied for c in to_cell(test).tolist()]))


def scott_bandwidth(train: Tensor) -> float:
    """Scott's rule for a Gaussian kernel: ``h = sigma n^(-1/(D+4))``, sigma the mean per-axis std."""
    n, d = train.shape
    return float(train.std(0).mean()) * n ** (-1.0 / (d + 4))


def kde_log_prob(train: Tensor, test: Tensor, bandwidth: float | None = None) -> Tensor:
    """Log-density (N_test,) of a Gaussian kernel density estimate on ``train`` (N, D).

    ``p(x) = (1/N) sum_n N(x | x_n, h^2 I)``, computed with log-sum-exp; ``h`` by Scott's rule
    unless given.
    """
    _check_points(train, test)
    h = scott_bandwidth(train) if bandwidth is None else float(bandwidth)
    if h <= 0:
        raise ValueError(f"bandwidth must be positive; got {h}.")
    n, d = train.shape
    sq = torch.cdist(test.double(), train.double()) ** 2  # (N_test, N)
    log_k = -0.5 * sq / h**2 - 0.5 * d * math.log(2 * math.pi * h**2)
    return (torch.logsumexp(log_k, dim=1) - math.log(n)).to(test.dtype)


def gaussian_log_prob(train: Tensor, test: Tensor) -> Tensor:
    """Log-density (N_test,) of one Gaussian fitted by maximum likelihood to ``train`` (N, D)."""
    _check_points(train, test)
    mu = train.double().mean(0)
    cov = torch.atleast_2d(torch.cov(train.double().T, correction=0))
    dist = torch.distributions.MultivariateNormal(mu, covariance_matrix=cov + 1e-9 * torch.eye(len(mu), dtype=mu.dtype))
    return dist.log_prob(test.double()).to(test.dtype)


# --------------------------------------------------------------------------- distances
def distance_contrast(num_points: int, dims: int, num_queries: int = 100, generator: torch.Generator | None = None) -> Tensor:
    """Relative contrast ``(d_max - d_min) / d_min`` of each query's distances to uniform points.

    ``num_points`` and ``num_queries`` points uniform in [0, 1]^dims; returns (num_queries,).
    """
    if num_points < 2 or dims < 1 or num_queries < 1:
        raise ValueError("need num_points >= 2, dims >= 1 and num_queries >= 1.")
    pts = uniform((num_points, dims), generator)
    queries = uniform((num_queries, dims), generator)
    dist = torch.cdist(queries.double(), pts.double())  # (Q, N)
    d_min, d_max = dist.min(1).values, dist.max(1).values
    return (d_max - d_min) / d_min


# --------------------------------------------------------------------------- a 2-D mixture
def gmm_log_prob(points: Tensor, means: Tensor, stds: Tensor, weights: Tensor) -> Tensor:
    """Log-density (N,) of an isotropic 2-D Gaussian mixture at ``points`` (N, 2).

    ``means`` (K, 2), ``stds`` (K,), ``weights`` (K,) summing to 1.
    """
    sq = torch.cdist(points.double(), means.double()) ** 2  # (N, K)
    s2 = stds.double() ** 2
    log_comp = -0.5 * sq / s2 - torch.log(2 * math.pi * s2)
    return torch.logsumexp(torch.log(weights.double()) + log_comp, dim=1).to(points.dtype)


def render_mixture_surface(x2: float = 1.5, y2: float = 1.0, weight2: float = 0.4, std2: float = 0.7, elev: float = 35.0) -> Figure:
    """A 3-D surface and a contour map of a 2-D mixture of three Gaussians; component 2 moves.

    Component 1 sits at (-1.5, -1), component 3 at (1.5, -1.5); the controls place component 2 at
    ``(x2, y2)`` with weight ``weight2`` and standard deviation ``std2``.
    """
    if not 0 < weight2 < 1 or std2 <= 0:
        raise ValueError(f"need 0 < weight2 < 1 and std2 > 0; got {weight2}, {std2}.")
    means = torch.tensor([[-1.5, -1.0], [x2, y2], [1.5, -1.5]])
    stds = torch.tensor([0.6, std2, 0.5])
    rest = (1 - weight2) / 2
    weights = torch.tensor([rest, weight2, rest])
    xs = np.linspace(-4, 4, 61, dtype=np.float32)
    gx, gy = np.meshgrid(xs, xs)
    pts = torch.from_numpy(np.stack([gx.ravel(), gy.ravel()], axis=1))
    dens = gmm_log_prob(pts, means, stds, weights).exp().numpy().reshape(gx.shape)
    fig = plt.figure(figsize=(10, 4.2))
    ax = fig.add_subplot(1, 2, 1, projection="3d")
    ax.plot_surface(gx, gy, dens, cmap=DENSITY_CMAP, linewidth=0, antialiased=True)
    ax.view_init(elev=elev, azim=-60)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_zlabel("density")
    ax.set_title("p(x): a mountain range with total volume 1")
    ax2 = fig.add_subplot(1, 2, 2)
    mesh = ax2.contourf(gx, gy, dens, levels=12, cmap=DENSITY_CMAP)
    fig.colorbar(mesh, ax=ax2, label="density")
    ax2.scatter(means[:, 0], means[:, 1], c="w", marker="x", s=40, label="component means")
    ax2.set_xlabel("$x_1$")
    ax2.set_ylabel("$x_2$")
    ax2.set_aspect("equal")
    ax2.set_title(f"moving component 2 to ({x2:.1f}, {y2:.1f}) reshapes the whole density")
    ax2.legend(loc="upper left")
    ax2.grid(False)
    return fig


def render_estimators_1d(train: Tensor, test_grid: Tensor, true_density: Tensor, bins: int = 15, bandwidth: float | None = None,
                         test: Tensor | None = None) -> Figure:
    """Histogram, kernel density and Gaussian fit of 1-D ``train`` (N, 1), over the true density.

    ``test_grid`` (G, 1) is where the curves are drawn (its range is the histogram's box). With
    ``test`` (M, 1), held-out points, each label also gives the estimator's mean held-out
    log-density, so the effect of ``bins`` and ``bandwidth`` on generalisation can be read off.
    """
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    g = test_grid.squeeze(1).numpy()
    lo, hi = float(g.min()), float(g.max())
    h = scott_bandwidth(train) if bandwidth is None else float(bandwidth)
    estimators = {f"histogram, {bins} bins": lambda p: histogram_log_prob(train, p, bins, lo, hi),
                  f"kernel density, h = {h:.2f}": lambda p: kde_log_prob(train, p, h),
                  "one Gaussian (ML)": lambda p: gaussian_log_prob(train, p)}
    ax.plot(g, true_density.numpy(), color="k", lw=2, label="true density")
    for label, log_density in estimators.items():
        if test is not None:
            label += f": held-out {log_density(test).mean().item():.3f}"
        ax.plot(g, log_density(test_grid).exp().numpy(), drawstyle="steps-mid" if label.startswith("histogram") else "default",
                label=label)
    ax.plot(train.squeeze(1).numpy(), np.zeros(len(train)), "|", color=OKABE_ITO[3], ms=12, label=f"{len(train)} training points")
    ax.set_xlabel("x")
    ax.set_ylabel("density")
    if test is not None:
        ax.set_title(f"held-out mean log-density of {len(test):,} new points (higher is better)", fontsize=9)
    ax.legend(fontsize=8)
    return fig


def render_crossing(n: int, sizes: Sequence[int], curves: dict[str, Sequence[float]], ylim: tuple[float, float] | None = None) -> Figure:
    """Learning curves (test NLL against training-set size) with the size ``n`` marked, and the
    models' test NLL at ``n`` side by side, best first: which assumption wins with ``n`` images.

    ``sizes`` (S,) are the training-set sizes the curves were measured at and ``n`` must be one of
    them; ``curves[name]`` holds S test NLLs (nats per image). ``ylim`` fixes the left panel's
    vertical range (default: automatic).
    """
    sizes = [int(m) for m in sizes]
    if n not in sizes:
        raise ValueError(f"n must be one of the measured sizes {sizes}; got {n}.")
    j = sizes.index(n)
    at_n = {name: float(np.asarray(c, dtype=float)[j]) for name, c in curves.items()}
    best = min(at_n, key=at_n.get)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.6), gridspec_kw={"width_ratios": [1.5, 1]})
    colours = {name: OKABE_ITO[i % len(OKABE_ITO)] for i, name in enumerate(curves)}
    for name, c in curves.items():
        ax1.plot(sizes, c, "o-", ms=3, color=colours[name], label=name, lw=2.5 if name == best else 1.2)
    ax1.axvline(n, color="k", ls=":", lw=1)
    ax1.set_xscale("log")
    if ylim is not None:
        ax1.set_ylim(*ylim)
    ax1.set_xlabel("training images n")
    ax1.set_ylabel("test NLL (nats per image)")
    ax1.set_title("the curves cross: the best model depends on n")
    ax1.legend(fontsize=8, loc="upper right")
    order = sorted(at_n, key=at_n.get)[::-1]  # best at the top
    extra = [at_n[m] - at_n[best] for m in order]
    bars = ax2.barh(order, extra, color=[colours[m] for m in order])
    ax2.bar_label(bars, labels=[f"{at_n[m]:.1f} nats (+{e:.1f})" for m, e in zip(order, extra)], padding=2, fontsize=8)
    ax2.set_xlim(0, max(max(extra), 1.0) * 1.6)
    ax2.set_xlabel(f"test NLL minus the best model's ({at_n[best]:.1f}), nats")
    ax2.set_title(f"with n = {n:,} training images, {best} fits best", fontsize=10)
    return fig


def line_plot(xs: Sequence[float], curves: dict[str, Sequence[float]], xlabel: str, ylabel: str, title: str, *, logx: bool = False, logy: bool = False, ax: plt.Axes | None = None) -> Figure:
    """One line per entry of ``curves`` against ``xs``, with markers; returns the figure."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 3.6))
    else:
        fig = ax.figure
    for label, ys in curves.items():
        ax.plot(xs, ys, "o-", ms=3.5, label=label)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    return fig
