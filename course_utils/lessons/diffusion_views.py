"""Demonstrations and widgets of notebook 08 (diffusion): the forward process, exact checks on tiny
chains and Gaussian data, guidance sweeps.

Ho et al. (2020) for the chain and its bound; Song et al. (2021, score SDE) and Vincent (2011) for
``eps = -sigma_t * score``; Ho & Salimans (2022) for guidance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor

from ..base import eval_mode
from ..draws import normal
from ..models.diffusion import DDPM, discretized_gaussian_log_likelihood
from ..plotting import IMAGE_CMAP, tile_images
from ..samplers.diffusion import NoiseSchedule


# --------------------------------------------------------------------------- the forward process
def iterate_chain_moments(schedule: NoiseSchedule, x0: Tensor) -> tuple[Tensor, Tensor]:
    """Mean and variance of x_t for every t by running the chain one step at a time:
    ``mean_t = sqrt(alpha_t) mean_{t-1}``, ``var_t = alpha_t var_{t-1} + beta_t``. Returns (T, *x0.shape) each, float64."""
    mean, var = x0.double(), torch.zeros_like(x0, dtype=torch.float64)
    means, variances = [], []
    for a, b in zip(schedule.alphas.double(), schedule.betas.double()):
        mean, var = a.sqrt() * mean, a * var + b
        means.append(mean)
        variances.append(var)
    return torch.stack(means), torch.stack(variances)


def render_forward(t: int = 250, schedule: str = "cosine", *, images: Tensor | None = None, timesteps: int = 1000, seed: int = 0) -> Figure:
    """Widget: eight digits at noise level ``t`` of the ``schedule``, and the histogram of their pixels
    against N(0, 1) (what x_T should look like)."""
    if images is None:
        from ..data import load_digits8x8

        images = load_digits8x8().test.x[:8]
    sch = NoiseSchedule.named(schedule, timesteps)
    x0 = images * 2 - 1
    x_t = sch.q_sample(x0, int(t), normal(tuple(x0.shape), torch.Generator().manual_seed(seed)))
    ab = sch.alphas_cumprod[int(t)].item()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 2.8), gridspec_kw={"width_ratios": [2.2, 1]})
    a1.imshow(tile_images((x_t.clamp(-3, 3) + 3) / 6, nrow=8), cmap=IMAGE_CMAP, vmin=0, vmax=1, interpolation="nearest")
    a1.set_axis_off()
    a1.set_title(f"{schedule} schedule, t = {int(t)}: abar = {ab:.3f}, signal sqrt(abar) = {math.sqrt(ab):.2f}")
    grid = np.linspace(-3.5, 3.5, 200)
    a2.hist(x_t.flatten().numpy(), bins=40, range=(-3.5, 3.5), density=True, alpha=0.7, label="pixels of x_t")
    a2.plot(grid, np.exp(-grid**2 / 2) / math.sqrt(2 * math.pi), "k--", label="N(0, 1)")
    a2.set_xlabel("pixel value (data on [-1, 1])")
    a2.set_ylabel("density")
    a2.set_ylim(0, 2.5)
    a2.legend(fontsize=8)
    return fig


# --------------------------------------------------------------------------- the bound on a tiny chain
def reverse_log_density(model: DDPM, x_prev: Tensor, x_t: Tensor, t: int, y: Tensor | None = None) -> Tensor:
    """log p_theta(x_{t-1} | x_t) (t >= 1), the model's Gaussian N(mu_theta, beta~_t), summed over pixels: (B,)."""
    tt = torch.full((x_t.shape[0],), t, dtype=torch.long, device=x_t.device)
    mean, _, logvar = model.schedule.q_posterior(model.pred_x0(x_t, tt, y), x_t, tt)
    return (-0.5 * (math.log(2 * math.pi) + logvar + (x_prev - mean) ** 2 / logvar.exp())).flatten(1).sum(1)


def decoder_log_prob(model: DDPM, x0: Tensor, x_1: Tensor, y: Tensor | None = None) -> Tensor:
    """log p_theta(x_0 | x_1) of the discrete decoder (x0 on [-1, 1] level centres): (B,)."""
    tt = torch.zeros(x_1.shape[0], dtype=torch.long, device=x_1.device)
    out = model.network_output(x_1, tt, y)
    if model.cfg.prediction == "x0":
        levels = torch.round((x0 + 1) / 2 * (model.cfg.num_levels - 1)).long()
        return torch.log_softmax(out, -1).gather(-1, levels.unsqueeze(-1)).squeeze(-1).flatten(1).sum(1)
    mean, _, logvar = model.schedule.q_posterior(model.pred_x0(x_1, tt, y, out), x_1, tt)
    return discretized_gaussian_log_likelihood(x0, mean, 0.5 * logvar, model.cfg.num_levels).flatten(1).sum(1)


@torch.no_grad()
def elbo_by_sampling_the_chain(model: DDPM, x: Tensor, draws: int, generator: torch.Generator | None = None) -> Tensor:
    """The ELBO from its definition, ``E_q[log p(x_{0:T}) - log q(x_{1:T} | x_0)]``, by sampling whole
    forward chains (no KL in closed form): (B,) nats, averaged over ``draws`` chains."""
    with eval_mode(model):
        x0 = model.to_model_scale(x)
        sch, total = model.schedule, torch.zeros(x0.shape[0], dtype=torch.float64, device=x0.device)
        for _ in range(draws):
            xs, prev = [], x0
            log_q = torch.zeros_like(total)
            for t in range(model.T):  # x_t ~ q(x_t | x_{t-1}) = N(sqrt(alpha_t) x_{t-1}, beta_t)
                a, b = sch.alphas[t], sch.betas[t]
                cur = a.sqrt() * prev + b.sqrt() * normal(tuple(x0.shape), generator, x0.device)
                log_q += (-0.5 * (math.log(2 * math.pi) + b.log() + (cur - a.sqrt() * prev) ** 2 / b)).flatten(1).sum(1).double()
                xs.append(cur)
                prev = cur
            log_p = (-0.5 * (math.log(2 * math.pi) + xs[-1] ** 2)).flatten(1).sum(1).double()  # p(x_T) = N(0, I)
            for t in range(model.T - 1, 0, -1):
                log_p += reverse_log_density(model, xs[t - 1], xs[t], t).double()
            log_p += decoder_log_prob(model, x0, xs[0]).double()
            total += log_p - log_q
    return (total / draws).float()


@torch.no_grad()
def log_px_by_quadrature(model: DDPM, x: Tensor, points: int = 801, span: float = 6.0) -> Tensor:
    """Exact log p(x) of a one-pixel DDPM with T = 2 by integrating the chain on a grid:
    ``p(x_0) = int int N(x_2; 0, 1) p(x_1 | x_2) p(x_0 | x_1) dx_1 dx_2``. (B,) float64."""
    if model.T != 2 or model.event_shape != (1, 1, 1) or model.num_classes:
        raise ValueError("The quadrature is for an unconditional one-pixel DDPM with timesteps = 2.")
    with eval_mode(model):
        g = torch.linspace(-span, span, points, device=model.device)
        dx = (g[1] - g[0]).item()
        x2 = g.reshape(-1, 1, 1, 1)
        # log p(x_1 | x_2) for every pair on the grid: (points for x_2, points for x_1)
        log_p1 = torch.stack([reverse_log_density(model, torch.full_like(x2, v.item()), x2, 1) for v in g], 1).double()
        log_p2 = (-0.5 * (math.log(2 * math.pi) + g**2)).double()
        x0 = model.to_model_scale(x)
        dec = torch.stack([decoder_log_prob(model, x0, torch.full_like(x0, v.item())) for v in g], 1).double()  # (B, x_1)
        log_x1 = torch.logsumexp(log_p2[:, None] + log_p1, 0) + math.log(dx)  # marginal of x_1 on the grid
        return torch.logsumexp(log_x1[None] + dec, 1) + math.log(dx)


# --------------------------------------------------------------------------- eps and the score, on Gaussian data
@dataclass
class GaussianData:
    """x_0 ~ N(mean, cov) in d dimensions: p_t is Gaussian too, so its score is known exactly."""

    mean: Tensor  # (d,)
    cov: Tensor  # (d, d)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        chol = torch.linalg.cholesky(self.cov)
        return self.mean + normal((n, self.mean.shape[0]), generator) @ chol.T

    def marginal(self, schedule: NoiseSchedule, t: int) -> tuple[Tensor, Tensor]:
        """Mean and covariance of p_t: ``sqrt(abar) mean``, ``abar cov + (1 - abar) I``."""
        ab = schedule.alphas_cumprod[t].double()
        d = self.mean.shape[0]
        return ab.sqrt() * self.mean.double(), ab * self.cov.double() + (1 - ab) * torch.eye(d, dtype=torch.float64)

    def score(self, x_t: Tensor, schedule: NoiseSchedule, t: int) -> Tensor:
        """grad_x log p_t(x) = -cov_t^{-1} (x - mean_t), (B, d) float64."""
        m, c = self.marginal(schedule, t)
        return -torch.linalg.solve(c, (x_t.double() - m).T).T

    def posterior_mean_eps(self, x_t: Tensor, schedule: NoiseSchedule, t: int) -> Tensor:
        """E[eps | x_t] from the joint Gaussian of (eps, x_t): ``Cov(eps, x_t) Cov(x_t)^{-1} (x_t - mean_t)``,
        with ``Cov(eps, x_t) = sqrt(1 - abar) I``: the best possible noise prediction, (B, d) float64."""
        m, c = self.marginal(schedule, t)
        s = (1 - schedule.alphas_cumprod[t].double()).sqrt()
        return s * torch.linalg.solve(c, (x_t.double() - m).T).T


# --------------------------------------------------------------------------- guidance
@torch.no_grad()
def guided_grid(model: DDPM, weight: float, per_class: int = 6, steps: int = 50, seed: int = 0) -> Tensor:
    """``per_class`` samples of every class (rows 0..9) at guidance ``weight``, DDIM with ``steps`` steps."""
    y = torch.arange(model.num_classes, device=model.device).repeat_interleave(per_class)
    return model.sample(len(y), torch.Generator().manual_seed(seed), y=y, sampler="ddim", steps=steps, guidance=weight)


def render_guidance(model: DDPM, weight: float = 1.0, *, classifier=None, per_class: int = 6, steps: int = 50) -> Figure:
    """Widget: one row per requested digit at guidance ``weight``, and the classifier's hit rate if given."""
    images = guided_grid(model, weight, per_class, steps).cpu()
    title = f"guidance weight w = {weight:g}"
    if classifier is not None:
        from ..evaluation.features import class_probabilities

        wanted = torch.arange(model.num_classes).repeat_interleave(per_class)
        hit = (class_probabilities(classifier, images).argmax(1).cpu() == wanted).float().mean().item()
        title += f": the classifier reads the requested digit in {hit:.0%}"
    grid = images.reshape(model.num_classes, per_class, *images.shape[1:]).transpose(0, 1).reshape(-1, *images.shape[1:])
    fig, ax = plt.subplots(figsize=(6, 0.65 * per_class + 0.5))
    ax.imshow(tile_images(grid, nrow=model.num_classes), cmap=IMAGE_CMAP, vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    ax.set_title(title + "\n(column = requested digit 0-9)", fontsize=10)
    return fig
