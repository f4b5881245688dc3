"""Views of a trained VAE for notebook 04: active units, KL per dimension, bounds over k, latent maps.

Burda, Grosse & Salakhutdinov (2016) for active units and the importance-weighted bounds.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import torch
from torch import Tensor

from ..base import eval_mode
from ..models.vae import VAE, gaussian_kl_standard


# --------------------------------------------------------------------------- analysis helpers
@torch.no_grad()
def active_units(model: VAE, x: Tensor, threshold: float = 0.01, y: Tensor | None = None) -> tuple[int, Tensor]:
    """Burda et al. (2016): dimension u is active if Var_x(E_q[z_u | x]) > ``threshold``.

    Returns (count, per-dimension variance (d,)).
    """
    mu, _ = model.encode(x.to(model.device), y)
    var = mu.var(0)
    return int((var > threshold).sum()), var


@torch.no_grad()
def mean_kl_per_dim(model: VAE, x: Tensor, y: Tensor | None = None) -> Tensor:
    """Average closed-form KL(q(z_u | x) || N(0, 1)) per latent dimension over ``x``: shape (d,)."""
    mu, log_var = model.encode(x.to(model.device), y)
    return gaussian_kl_standard(mu, log_var).mean(0)


@torch.no_grad()
def evaluate_bounds(model: VAE, x: Tensor, ks: tuple[int, ...] = (1, 10, 100, 1000), y: Tensor | None = None,
                    seed: int = 0, batch: int = 500) -> dict[int, Tensor]:
    """Per-example bounds (N,) for every k over all of ``x`` (k = 1: the closed-form-KL ELBO)."""
    gen = torch.Generator(device=model.device).manual_seed(seed)
    out: dict[int, Tensor] = {}
    with eval_mode(model):
        for k in ks:
            parts = []
            for s in range(0, x.shape[0], batch):
                yb = None if y is None else y[s : s + batch]
                parts.append(model.log_prob(x[s : s + batch].to(model.device), k=k, y=yb, generator=gen).double().cpu())
            out[k] = torch.cat(parts)
    return out


@torch.no_grad()
def interpolate(model: VAE, x_a: Tensor, x_b: Tensor, steps: int = 10) -> Tensor:
    """Decoder means along the straight line between the encoder means of ``x_a`` and ``x_b``
    (each (1, C, H, W)): shape (steps, C, H, W)."""
    mu_a, _ = model.encode(x_a)
    mu_b, _ = model.encode(x_b)
    t = torch.linspace(0, 1, steps, device=mu_a.device).unsqueeze(1)
    return model.decode((1 - t) * mu_a + t * mu_b)


@torch.no_grad()
def latent_grid(model: VAE, n: int = 15, span: float = 2.5, y: Tensor | None = None) -> Tensor:
    """Decoder means over an n x n grid of a 2-D latent space, [-span, span]^2: (n*n, C, H, W),
    rows from z2 = +span (top) to -span, columns from z1 = -span to +span."""
    if model.cfg.latent_dim != 2:
        raise ValueError(f"latent_grid needs a 2-D latent space; this model has latent_dim={model.cfg.latent_dim}.")
    ticks = torch.linspace(-span, span, n, device=model.device)
    z2, z1 = torch.meshgrid(ticks.flip(0), ticks, indexing="ij")
    z = torch.stack([z1.reshape(-1), z2.reshape(-1)], 1)
    yy = None if y is None else torch.as_tensor(y, device=model.device).reshape(-1).expand(n * n)
    return model.decode(z, yy)


def render_latent_explorer(model: VAE, z1: float = 0.0, z2: float = 0.0, n: int = 15, span: float = 2.5,
                           codes: Tensor | None = None, labels: Tensor | None = None) -> plt.Figure:
    """Left: the map of decoded digits over a 2-D latent grid with the chosen point marked (and the
    encoder means of ``codes``, coloured by ``labels``); right: the image decoded at (z1, z2)."""
    from ..plotting import tile_images

    grid = tile_images(latent_grid(model, n, span), nrow=n, pad=1)  # white lines between the tiles
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 4.3), gridspec_kw={"width_ratios": [1.4, 1]})
    ax1.imshow(grid, cmap="gray_r", vmin=0, vmax=1, extent=(-span, span, -span, span), interpolation="nearest")
    if codes is not None:
        c = codes.detach().cpu().numpy()
        sc = ax1.scatter(c[:, 0], c[:, 1], c=None if labels is None else labels.cpu().numpy(), cmap="tab10", s=4, alpha=0.35)
        if labels is not None:
            fig.colorbar(sc, ax=ax1, label="digit class")
    ax1.plot([z1], [z2], "o", ms=12, mfc="none", mec="#D55E00", mew=2.5)
    ax1.set_xlim(-span, span)
    ax1.set_ylim(-span, span)
    ax1.set_xlabel("$z_1$")
    ax1.set_ylabel("$z_2$")
    ax1.set_title("Decoded digits over the latent plane")
    ax1.grid(False)
    img = model.decode(torch.tensor([[z1, z2]], dtype=torch.float32, device=model.device))[0, 0]
    ax2.imshow(img.cpu().numpy(), cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    ax2.set_title(f"decoder mean at z = ({z1:.2f}, {z2:.2f})")
    ax2.set_axis_off()
    return fig


def render_conditional(model: VAE, digit: int = 0, n: int = 16, seed: int = 0, mean: bool = True) -> plt.Figure:
    """``n`` samples of the conditional VAE for class ``digit`` (decoder means or sampled pixels)."""
    from ..plotting import image_grid

    if not model.cfg.num_classes:
        raise ValueError("render_conditional needs a conditional VAE (num_classes > 0).")
    gen = torch.Generator(device=model.device).manual_seed(seed)
    imgs = model.sample(n, gen, y=torch.full((n,), int(digit), device=model.device), mean=mean)
    what = "decoder means" if mean else "sampled pixels"
    return image_grid(imgs, nrow=int(math.ceil(math.sqrt(n))), title=f"p(x | y = {digit}): {n} samples ({what})")


def render_beta(models: dict[float, VAE], x: Tensor, beta: float | str = 1.0, rd: dict[float, tuple[float, float]] | None = None,
                n: int = 10, seed: int = 0) -> plt.Figure:
    """What the VAE trained with ``beta`` does: ``n`` test images ``x``, their reconstructions (decoder
    mean at the encoder mean) and ``n`` samples (decoder means of z ~ p(z)); with ``rd``
    ({beta: (rate, distortion)}), the rate-distortion curve with this beta marked."""
    from ..plotting import tile_images

    beta = float(beta)
    if beta not in models:
        raise ValueError(f"no model was trained with beta={beta}; the betas are {sorted(models)}.")
    model = models[beta]
    with eval_mode(model):
        shown = x[:n].to(model.device)
        recon = model.reconstruct(shown)
        samples = model.sample(n, torch.Generator(device=model.device).manual_seed(seed), mean=True)
    tiles = tile_images(torch.cat([shown, recon, samples]).cpu(), nrow=n, pad=1)
    fig, axes = plt.subplots(1, 2 if rd else 1, figsize=(11 if rd else 7, 3.2), gridspec_kw={"width_ratios": [2.2, 1]} if rd else None,
                             squeeze=False, layout="constrained")
    ax = axes[0, 0]
    ax.imshow(tiles, cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    ax.set_yticks([tiles.shape[0] / 6 * (2 * i + 1) for i in range(3)], ["test", "reconstruction", "sample"])
    ax.set_xticks([])
    ax.set_title(f"β = {beta:g}")
    ax.grid(False)
    if rd:
        ax2 = axes[0, 1]
        betas = sorted(rd)
        ax2.plot([rd[b][0] for b in betas], [rd[b][1] for b in betas], "o-", c="0.6")
        ax2.plot(*rd[beta], "o", ms=11, mfc="none", mec="#D55E00", mew=2.5)
        ax2.set(xlabel="rate R (nats)", ylabel="distortion D (nats)", title=f"training set: R = {rd[beta][0]:.1f}, D = {rd[beta][1]:.1f}")
    return fig
