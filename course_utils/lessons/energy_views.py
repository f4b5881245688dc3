"""Demonstrations of notebook 07 (energy-based models): the banana density, Langevin convergence
measured by a two-sample test, the Langevin widget, the Ising model's states, score-field pictures.

The **banana** (a sheared Gaussian, Haario et al. 1999) has the energy

    E(x) = x1^2 / (2 a^2) + (x2 - b (x1^2 - a^2))^2 / (2 s^2).

The shear ``(x1, x2) -> (x1, x2 - b (x1^2 - a^2))`` has Jacobian 1, so ``Z = 2 pi a s`` exactly, and
exact samples are ``x1 = a z1``, ``x2 = b (x1^2 - a^2) + s z2``: a curved, non-Gaussian target
whose normalising constant and samples we know, to test quadrature and samplers against.

| here          | math                              |
|---------------|-----------------------------------|
| ``a, b, s``   | spread along x1, curvature, width across the ridge |
| ``spins``     | s in {-1, +1}^n (Ising)           |
"""

from __future__ import annotations

import math
from typing import Callable

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor

from ..draws import normal
from ..evaluation.mmd import MMDTest, mmd_permutation_test
from ..plotting import DENSITY_CMAP, OKABE_ITO, plane
from ..samplers.langevin import langevin

BANANA = {"a": 1.5, "b": 0.5, "s": 0.5}
START_MEAN, START_STD = (2.5, -2.5), 0.5  # the chains' starting distribution in the Langevin experiments


# --------------------------------------------------------------------------- the banana
def banana_energy(x: Tensor, a: float = BANANA["a"], b: float = BANANA["b"], s: float = BANANA["s"]) -> Tensor:
    """E(x) for points (N, 2); shape (N,)."""
    return x[:, 0] ** 2 / (2 * a * a) + (x[:, 1] - b * (x[:, 0] ** 2 - a * a)) ** 2 / (2 * s * s)


def banana_log_z(a: float = BANANA["a"], s: float = BANANA["s"]) -> float:
    """log Z = log(2 pi a s) (the shear has Jacobian 1)."""
    return math.log(2 * math.pi * a * s)


def banana_sample(n: int, generator: torch.Generator | None = None, a: float = BANANA["a"], b: float = BANANA["b"],
                  s: float = BANANA["s"]) -> Tensor:
    """``n`` exact samples (n, 2)."""
    z = normal((n, 2), generator)
    x1 = a * z[:, 0]
    return torch.stack([x1, b * (x1**2 - a * a) + s * z[:, 1]], 1)


def start_sample(n: int, generator: torch.Generator | None = None) -> Tensor:
    """The chains' starting distribution: N(START_MEAN, START_STD^2 I), far from the banana."""
    return torch.tensor(START_MEAN) + START_STD * normal((n, 2), generator)


def banana_log_prob(x: Tensor) -> Tensor:
    """The banana's normalised log-density (N,)."""
    return -banana_energy(x) - banana_log_z()


# --------------------------------------------------------------------------- Langevin, measured
def mmd_along_chain(start: Tensor, reference: Tensor, *, step_size: float, checkpoints: tuple[int, ...],
                    log_prob: Callable[[Tensor], Tensor] = banana_log_prob, metropolis: bool = False, permutations: int = 200,
                    seed: int = 0) -> dict[int, MMDTest]:
    """Run Langevin chains from ``start`` and test them against ``reference`` (exact samples) at each
    step count in ``checkpoints`` (0 = the start itself): {steps: MMDTest}."""
    states = {0: start.clone()}

    def keep(t: int, x: Tensor) -> None:
        if t in checkpoints:
            states[t] = x.clone()

    langevin(start, step_size=step_size, steps=max(checkpoints), log_prob=log_prob, metropolis=metropolis,
             generator=torch.Generator().manual_seed(seed), callback=keep)
    return {t: mmd_permutation_test(states[t], reference, permutations=permutations, generator=torch.Generator().manual_seed(seed + 1))
            for t in sorted(states) if t in checkpoints}


def _density_background(ax: plt.Axes, lim: tuple[float, float, float, float] = (-4.5, 4.5, -2.5, 5.5), res: int = 200) -> None:
    xs, ys = np.linspace(lim[0], lim[1], res), np.linspace(lim[2], lim[3], res)
    gx, gy = np.meshgrid(xs, ys)
    pts = torch.tensor(np.stack([gx.ravel(), gy.ravel()], 1), dtype=torch.float32)
    dens = banana_log_prob(pts).exp().reshape(res, res).numpy()
    ax.pcolormesh(gx, gy, dens, cmap=DENSITY_CMAP, shading="auto")
    ax.set_xlim(lim[0], lim[1])
    ax.set_ylim(lim[2], lim[3])
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.grid(False)


def render_langevin(step_size: float = 0.05, steps: int = 300, noise: bool = True, mala: bool = False, n: int = 1000,
                    seed: int = 0) -> Figure:
    """Widget: ``n`` Langevin chains on the banana from the start distribution; the end states, five
    trajectories, and the MMD permutation test against ``n`` exact samples (or where the chain diverged)."""
    g = torch.Generator().manual_seed(seed)
    start, reference = start_sample(n, g), banana_sample(n, g)
    paths: list[Tensor] = [start[:5].clone()]
    fig, ax = plt.subplots(figsize=(5.2, 4.6))
    _density_background(ax)
    try:
        out = langevin(start, step_size=step_size, steps=steps, log_prob=banana_log_prob, noise=noise, metropolis=mala and noise,
                       generator=torch.Generator().manual_seed(seed + 1), callback=lambda t, x: paths.append(x[:5].clone()))
        x = out.x
        test = mmd_permutation_test(x, reference, permutations=100, generator=torch.Generator().manual_seed(seed + 2))
        verdict = "rejects" if test.rejects() else "does not reject"
        title = f"eps = {step_size:g}, {steps} steps: MMD test {verdict} (p = {test.p_value:.2f})"
        if mala and noise:
            title += f"\nMALA acceptance {out.acceptance:.0%}"
    except FloatingPointError as err:
        x = paths[-1]
        title = f"eps = {step_size:g}: {str(err).split(':')[0]}"
    x = x[torch.isfinite(x).all(1)]
    ax.scatter(x[:, 0], x[:, 1], s=3, c=OKABE_ITO[1], alpha=0.5, label=f"chains after {len(paths) - 1} steps")
    traj = torch.stack(paths)  # (steps + 1, 5, 2)
    for i in range(traj.shape[1]):
        ax.plot(traj[:, i, 0], traj[:, i, 1], lw=0.8, c=OKABE_ITO[2 + i % 5], alpha=0.9)
    ax.scatter(start[:, 0], start[:, 1], s=2, c="0.6", alpha=0.3, label="start")
    ax.legend(loc="upper left", fontsize=7, markerscale=3)
    ax.set_title(title + ("" if noise else "\n(noise off: gradient ascent to the mode)"), fontsize=9)
    return fig


# --------------------------------------------------------------------------- the Ising model
def all_spins(n: int) -> Tensor:
    """All 2^n configurations in {-1, +1}^n, shape (2^n, n), float32."""
    codes = torch.arange(2**n).unsqueeze(1)
    return (((codes >> torch.arange(n - 1, -1, -1)) & 1) * 2 - 1).float()


def grid_edges(side: int) -> Tensor:
    """Nearest-neighbour pairs (i, j) of a ``side`` x ``side`` grid with free boundaries, shape (E, 2)."""
    idx = torch.arange(side * side).view(side, side)
    right = torch.stack([idx[:, :-1].flatten(), idx[:, 1:].flatten()], 1)
    down = torch.stack([idx[:-1, :].flatten(), idx[1:, :].flatten()], 1)
    return torch.cat([right, down])


# --------------------------------------------------------------------------- score fields
def score_field_figure(fields: dict[str, Callable[[Tensor], Tensor]], lim: float, n: int = 21, title: str = "",
                       background: Callable[[Tensor], Tensor] | None = None) -> Figure:
    """Quiver plots of 2-D vector fields (``points (N, 2) -> vectors (N, 2)``), one panel each, on the
    same grid: arrows of equal length show the direction, their colour the size (log10 |v|), over an
    optional log-density ``background``; with two fields, a third panel maps the relative error
    |first - second| / |second|."""
    ticks = torch.linspace(-lim, lim, n)
    gy, gx = torch.meshgrid(ticks, ticks, indexing="ij")
    pts = torch.stack([gx.flatten(), gy.flatten()], 1)
    vecs = {name: f(pts).detach().cpu() for name, f in fields.items()}  # (fields may need input gradients inside)
    norms = {name: v.norm(dim=1).clamp_min(1e-12) for name, v in vecs.items()}
    logs = torch.cat([m.log10() for m in norms.values()])
    lo, hi = torch.quantile(logs, 0.05).item(), logs.max().item()  # colour scale: near-zero vectors (at modes) clipped
    panels = len(fields) + (1 if len(fields) == 2 else 0)
    fig, axes = plt.subplots(1, panels, figsize=(4.3 * panels, 4.2), squeeze=False)
    for ax, (name, v) in zip(axes[0], vecs.items()):
        if background is not None:
            fine = torch.linspace(-lim, lim, 150)
            fy, fx = torch.meshgrid(fine, fine, indexing="ij")
            with torch.no_grad():
                dens = background(torch.stack([fx.flatten(), fy.flatten()], 1)).exp().reshape(150, 150)
            ax.pcolormesh(fx, fy, dens, cmap="Greys", shading="auto", alpha=0.5)
        u = v / norms[name][:, None]
        q = ax.quiver(pts[:, 0], pts[:, 1], u[:, 0], u[:, 1], norms[name].log10(), cmap="viridis", clim=(lo, hi), angles="xy",
                      scale_units="xy", scale=(n - 1) / (1.6 * lim), width=0.005)  # arrows 0.8 grid cells long
        ax.set_title(name, fontsize=10)
    fig.colorbar(q, ax=list(axes[0, : len(fields)]), label="log10 |vector|", shrink=0.85)
    if len(fields) == 2:
        (va, vb), ax = vecs.values(), axes[0, 2]
        err = ((va - vb).norm(dim=1) / norms[list(vecs)[1]]).reshape(n, n)
        mesh = ax.pcolormesh(gx, gy, err.clamp(max=1.0), cmap="magma", shading="auto", vmin=0, vmax=1)
        fig.colorbar(mesh, ax=ax, label="relative error (clipped at 1)")
        ax.set_title("|learned - true| / |true|", fontsize=10)
    axes[0, 0].set_ylabel("$x_2$")
    for ax in axes[0]:
        plane(ax, lim * 1.05, names=("$x_1$", ax.get_ylabel()))
    if title:
        fig.suptitle(title)
    return fig
