"""Denoising diffusion probabilistic models (DDPM), with a variational bound in nats of the discrete data.

Sohl-Dickstein et al. (2015), *Deep Unsupervised Learning using Nonequilibrium Thermodynamics*;
Ho, Jain & Abbeel (2020), *Denoising Diffusion Probabilistic Models*; Nichol & Dhariwal (2021),
*Improved Denoising Diffusion Probabilistic Models* (cosine schedule, importance-sampled bound);
Song, Meng & Ermon (2021) for DDIM sampling; Ho & Salimans (2022), *Classifier-Free Diffusion
Guidance*.

The forward process adds Gaussian noise in T steps, ``q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I)``
(:class:`~course_utils.samplers.diffusion.NoiseSchedule`); the model runs it backwards,
``p(x_{t-1} | x_t) = N(mu_theta(x_t, t), beta~_t I)`` with ``mu_theta`` the posterior mean
``q(x_{t-1} | x_t, x_0)`` at the network's estimate of ``x_0``. Two ways to produce that estimate:

- ``prediction="eps"``: the network predicts the noise (Ho et al. 2020), trained with the
  **simple loss** ``||eps - eps_theta(x_t, t)||^2``; its decoder at t = 0 is Ho's discretised
  Gaussian over the K levels.
- ``prediction="x0"``: the network outputs **logits over the K levels of every pixel of x_0**, added
  to ``log q(x_t | x_0 = v_k)`` (so that at small t, where x_t pins x_0 down, it starts right); the
  estimate is their mean, and the decoder at t = 0 is that categorical itself. Trained on the
  **variational bound** (``objective="vlb"``), one term per example at a t drawn with probability
  proportional to the root mean square of that term (Nichol & Dhariwal 2021).

``log_prob`` is the variational bound (``LOWER_BOUND``, in nats of the discrete images, ``support``
DISCRETE): ``-L_T - sum_{t>=1} L_{t-1} - L_0`` with every term (``terms=None``, T network calls) or
an unbiased stratified estimate (``terms=k``). Images are ``level / (K - 1)`` in [0, 1] outside and
``2 x - 1`` in [-1, 1] inside. Samples are the decoder's draw (x0 model) or the rounded clean
estimate (eps model), so they lie on the pixel grid.

| here (index t = 0..T-1)  | Ho et al. (step t = 1..T)                                  |
|--------------------------|------------------------------------------------------------|
| ``prior_term(x0)``       | L_T = KL(q(x_T \\| x_0) \\|\\| N(0, I))                        |
| ``vlb_term(x0, t)``, t>0 | L_t = KL(q(x_t \\| x_{t+1}, x_0) \\|\\| p(x_t \\| x_{t+1}))     |
| ``vlb_term(x0, 0)``      | L_0 = -log p(x_0 \\| x_1), the discrete decoder              |
| ``guidance`` = w         | eps~ = (1 + w) eps(x, y) - w eps(x, null)  (Ho & Salimans)  |
| ``cond_drop``            | probability of training with the null label                |
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..base import GenerativeModel, LogProbKind, check_images
from ..data import to_levels
from ..draws import categorical, normal, uniform
from ..nn.unet import ResidualMLP, UNet
from ..samplers.diffusion import DDIMScheduler, DDPMScheduler, NoiseSchedule

HISTORY = 10  # squared terms remembered per timestep by the importance sampler (Nichol & Dhariwal 2021)


# --------------------------------------------------------------------------- shared by the image diffusions
def build_denoiser(cfg: Any, out_per_pixel: int) -> nn.Module:
    """The network of a diffusion or flow on images: a residual MLP on the flattened image or a U-Net.

    ``out_per_pixel`` outputs per pixel and channel (1: noise or velocity; K: logits over K levels).
    """
    c, h, w = cfg.shape
    if cfg.network == "mlp":
        return ResidualMLP(c * h * w, c * h * w * out_per_pixel, cfg.width, cfg.depth, dropout=cfg.dropout, num_classes=cfg.num_classes)
    return UNet(c, c * out_per_pixel, tuple(cfg.channels), blocks=cfg.blocks, num_classes=cfg.num_classes, dropout=cfg.dropout)


def check_denoiser_config(cfg: Any) -> None:
    cfg.shape = tuple(int(s) for s in cfg.shape)  # a JSON round trip gives lists
    cfg.channels = tuple(int(c) for c in cfg.channels)
    if len(cfg.shape) != 3:
        raise ValueError(f"shape must be (C, H, W); got {cfg.shape}.")
    if cfg.num_levels < 2:
        raise ValueError(f"num_levels must be at least 2; got {cfg.num_levels}.")
    if cfg.network not in ("mlp", "unet"):
        raise ValueError(f"network must be 'mlp' or 'unet'; got {cfg.network!r}.")
    if cfg.num_classes < 0 or not 0 <= cfg.cond_drop < 1 or not 0 <= cfg.dropout < 1:
        raise ValueError("num_classes must be non-negative, cond_drop and dropout in [0, 1).")


class ImageDenoiser(GenerativeModel):
    """What DDPM and flow matching share: the pixel scale, the network call with time and labels,
    label dropout for classifier-free guidance, and quantising samples to the pixel grid."""

    def _call(self, x: Tensor, t: Tensor, y: Tensor | None, per_pixel: int = 1) -> Tensor:
        """The network on ``x`` (B, C, H, W) at continuous times ``t`` (B,) in [0, 1]: (B, C, H, W[, per_pixel])."""
        b = x.shape[0]
        inp = x.flatten(1) if self.cfg.network == "mlp" else x
        out = self.net(inp, t, y)
        if per_pixel == 1:
            return out.reshape(x.shape)
        c, h, w = self.cfg.shape
        if self.cfg.network == "mlp":
            return out.reshape(b, c, h, w, per_pixel)
        return out.reshape(b, per_pixel, c, h, w).permute(0, 2, 3, 4, 1)

    def train_labels(self, y: Tensor | None, n: int) -> Tensor | None:
        """Validated labels, each replaced by the null label with probability ``cond_drop`` (training only)."""
        y = self.labels(y, n)
        if y is None or not self.training or self.cfg.cond_drop == 0:
            return y
        drop = torch.rand(n, device=y.device) < self.cfg.cond_drop
        return torch.where(drop, torch.full_like(y, self.num_classes), y)

    def null_labels(self, y: Tensor) -> Tensor:
        return torch.full_like(y, self.num_classes)

    def guided(self, fn: Any, y: Tensor | None, guidance: float) -> Tensor:
        """``fn(y)`` with classifier-free guidance: ``(1 + w) fn(y) - w fn(null)`` (``fn`` is linear-combined
        in whatever it returns: noise, clean-image estimate, velocity or logits)."""
        if guidance == 0 or y is None:
            if guidance != 0:
                raise ValueError("guidance needs a class-conditional model and labels y.")
            return fn(y)
        return (1 + guidance) * fn(y) - guidance * fn(self.null_labels(y))

    def to_model_scale(self, x: Tensor) -> Tensor:
        """Images in [0, 1] -> [-1, 1], after checking shape, range and the pixel grid."""
        check_images(x, self.event_shape)
        levels = to_levels(x, self.cfg.num_levels)
        return levels.float() / (self.cfg.num_levels - 1) * 2 - 1

    def to_images(self, x: Tensor) -> Tensor:
        """[-1, 1] -> the nearest of the K levels, on the course's scale [0, 1]."""
        k = self.cfg.num_levels - 1
        return torch.round(((x.clamp(-1, 1) + 1) / 2) * k) / k


# --------------------------------------------------------------------------- DDPM
@dataclass
class DDPMConfig:
    """Configuration of :class:`DDPM`. Valid pairs: ``prediction="eps"`` with ``objective="simple"``,
    ``prediction="x0"`` with ``objective="vlb"``."""

    shape: tuple[int, int, int] = (1, 8, 8)
    num_levels: int = 17
    num_classes: int = 0  # > 0: class-conditional, with a null label for classifier-free guidance
    timesteps: int = 1000  # T
    schedule: str = "cosine"  # "linear" (Ho et al.) or "cosine" (Nichol & Dhariwal)
    prediction: str = "eps"  # "eps": the noise; "x0": logits over the num_levels levels of x0
    objective: str = "simple"  # "simple": Ho's noise regression; "vlb": the variational bound
    network: str = "mlp"  # "mlp" (flattened image) or "unet"
    width: int = 256  # mlp
    depth: int = 3  # mlp: residual blocks
    channels: tuple[int, ...] = (32, 64)  # unet: channels per resolution
    blocks: int = 1  # unet: residual blocks per resolution
    dropout: float = 0.0
    cond_drop: float = 0.1  # probability of the null label in training (conditional models)
    loss_terms: int = 32  # loss() of a vlb model: a stratified estimate of the bound with this many terms (at most T)

    def __post_init__(self) -> None:
        check_denoiser_config(self)
        if self.timesteps < 2:
            raise ValueError(f"timesteps must be at least 2; got {self.timesteps}.")
        if self.schedule not in ("linear", "cosine"):
            raise ValueError(f"schedule must be 'linear' or 'cosine'; got {self.schedule!r}.")
        if (self.prediction, self.objective) not in (("eps", "simple"), ("x0", "vlb")):
            raise ValueError(f"prediction={self.prediction!r} with objective={self.objective!r} is not supported: "
                             "use ('eps', 'simple') or ('x0', 'vlb').")
        if self.loss_terms < 1:
            raise ValueError(f"loss_terms must be positive; got {self.loss_terms}.")


def normal_kl(mean1: Tensor, logvar1: Tensor, mean2: Tensor, logvar2: Tensor) -> Tensor:
    """KL(N(mean1, e^logvar1) || N(mean2, e^logvar2)), elementwise."""
    return 0.5 * (logvar2 - logvar1 + torch.exp(logvar1 - logvar2) + (mean1 - mean2) ** 2 * torch.exp(-logvar2) - 1)


def discretized_gaussian_log_likelihood(x0: Tensor, mean: Tensor, log_scale: Tensor, num_levels: int) -> Tensor:
    """log P(x0) under N(mean, e^{2 log_scale}) integrated over x0's bin (Ho et al. 2020), elementwise.

    ``x0`` holds level centres on [-1, 1] (spacing 2 / (K - 1)); the outer bins reach to +-infinity.
    """
    half = 1.0 / (num_levels - 1)
    inv = torch.exp(-log_scale)
    lo = torch.where(x0 <= -1 + 1e-6, torch.full_like(x0, -math.inf), (x0 - half - mean) * inv)
    hi = torch.where(x0 >= 1 - 1e-6, torch.full_like(x0, math.inf), (x0 + half - mean) * inv)
    flip = lo > 0  # Phi(hi) - Phi(lo) = Phi(-lo) - Phi(-hi): keep both arguments where log_ndtr is accurate
    a, b = torch.where(flip, -hi, lo), torch.where(flip, -lo, hi)
    lb, la = torch.special.log_ndtr(b), torch.special.log_ndtr(a)
    return lb + torch.log(-torch.expm1((la - lb).clamp(max=-1e-12)))


class DDPM(ImageDenoiser):
    """A DDPM on images with K levels; see the module docstring."""

    family = "ddpm"
    log_prob_kind = LogProbKind.LOWER_BOUND

    def __init__(self, cfg: DDPMConfig) -> None:
        super().__init__(cfg)
        self.schedule = NoiseSchedule.named(cfg.schedule, cfg.timesteps)
        self.net = build_denoiser(cfg, cfg.num_levels if cfg.prediction == "x0" else 1)
        self.register_buffer("level_values", torch.linspace(-1, 1, cfg.num_levels))
        if cfg.objective == "vlb":  # the importance sampler's memory: last HISTORY squared terms of each t
            self.register_buffer("vlb_history", torch.zeros(cfg.timesteps, HISTORY))
            self.register_buffer("vlb_history_count", torch.zeros(cfg.timesteps, dtype=torch.long))

    @property
    def T(self) -> int:
        return self.cfg.timesteps

    # -- the network -----------------------------------------------------------------------------
    def network_output(self, x_t: Tensor, t: Tensor, y: Tensor | None = None) -> Tensor:
        """eps_theta (B, C, H, W), or logits over x0's levels (B, C, H, W, K); ``t`` (B,) indices.

        The x0 model's logits are ``log q(x_t | x0 = v_k) + f_theta(x_t, t)_k``: the network corrects
        the per-pixel posterior that the noise model alone gives, which is already sharp at small t.
        """
        tc = (t.float() + 1) / self.T
        out = self._call(x_t, tc, y, self.cfg.num_levels if self.cfg.prediction == "x0" else 1)
        if self.cfg.prediction == "eps":
            return out
        ab = self.schedule._at(self.schedule.alphas_cumprod, t, x_t).unsqueeze(-1)  # (B, 1, 1, 1, 1)
        return out - (x_t.unsqueeze(-1) - ab.sqrt() * self.level_values) ** 2 / (2 * (1 - ab))

    def x0_mean(self, logits: Tensor) -> Tensor:
        """E[x0] on [-1, 1] under the categorical with ``logits`` (..., K)."""
        return torch.softmax(logits, -1) @ self.level_values

    def model_output(self, x_t: Tensor, t: Tensor | int, y: Tensor | None = None, guidance: float = 0.0) -> Tensor:
        """What a scheduler steps with: the noise estimate (eps model) or the clean-image estimate E[x0]
        (x0 model), with classifier-free guidance of weight ``guidance``."""
        t = self.schedule.check_t(t, x_t.shape[0])

        def out(labels: Tensor | None) -> Tensor:
            o = self.network_output(x_t, t, labels)
            return o if self.cfg.prediction == "eps" else self.x0_mean(o)

        return self.guided(out, y, guidance)

    def pred_x0(self, x_t: Tensor, t: Tensor, y: Tensor | None = None, out: Tensor | None = None) -> Tensor:
        """The clean-image estimate on [-1, 1] (clipped, for the eps model) that the reverse step uses."""
        out = self.network_output(x_t, t, y) if out is None else out
        if self.cfg.prediction == "x0":
            return self.x0_mean(out)
        return self.schedule.predict_x0_from_eps(x_t, t, out).clamp(-1, 1)

    def scheduler(self, sampler: str = "ancestral", steps: int | None = None, eta: float = 0.0) -> DDPMScheduler | DDIMScheduler:
        """The scheduler this model samples with: ``"ancestral"`` (DDPM) or ``"ddim"``, on ``steps`` timesteps (default T)."""
        kind = "epsilon" if self.cfg.prediction == "eps" else "sample"
        if sampler == "ancestral":
            sch: DDPMScheduler | DDIMScheduler = DDPMScheduler(self.schedule, kind)
        elif sampler == "ddim":
            sch = DDIMScheduler(self.schedule, kind, eta=eta)
        else:
            raise ValueError(f"sampler must be 'ancestral' or 'ddim'; got {sampler!r}.")
        sch.set_timesteps(steps or self.T, self.device)
        return sch

    # -- the variational bound ---------------------------------------------------------------------
    def prior_term(self, x0: Tensor) -> Tensor:
        """L_T = KL(q(x_T | x_0) || N(0, I)), summed over pixels: (B,)."""
        ab = self.schedule.alphas_cumprod[-1]
        mean, logvar = ab.sqrt() * x0, torch.log(1 - ab).expand_as(x0)
        return normal_kl(mean, logvar, torch.zeros_like(x0), torch.zeros_like(x0)).flatten(1).sum(1)

    def vlb_term(self, x0: Tensor, t: Tensor, y: Tensor | None = None, noise: Tensor | None = None) -> Tensor:
        """One term of the bound per example at its timestep ``t`` (B,), with ``x_t`` drawn from q (nats, (B,)).

        t > 0: KL(q(x_{t-1} | x_t, x_0) || p(x_{t-1} | x_t)); t = 0: -log p(x_0 | x_1) of the discrete decoder.
        """
        noise = torch.randn_like(x0) if noise is None else noise
        x_t = self.schedule.q_sample(x0, t, noise)
        out = self.network_output(x_t, t, y)
        x0_hat = self.pred_x0(x_t, t, y, out)
        # q(x_{t-1} | x_t, x_0) and p(x_{t-1} | x_t) share the variance beta~_t and differ in the mean by
        # coef1 * (x0 - x0_hat) (the x_t parts cancel), so the KL is |mean difference|^2 / (2 beta~_t).
        coef1 = self.schedule._at(self.schedule.posterior_mean_coef1, t, x0)
        model_mean, _, model_logvar = self.schedule.q_posterior(x0_hat, x_t, t)
        kl = ((coef1 * (x0 - x0_hat)) ** 2 * torch.exp(-model_logvar) / 2).flatten(1).sum(1)
        if self.cfg.prediction == "x0":
            levels = torch.round((x0 + 1) / 2 * (self.cfg.num_levels - 1)).long()
            nll = -torch.log_softmax(out, -1).gather(-1, levels.unsqueeze(-1)).squeeze(-1).flatten(1).sum(1)
        else:
            nll = -discretized_gaussian_log_likelihood(x0, model_mean, 0.5 * model_logvar, self.cfg.num_levels).flatten(1).sum(1)
        return torch.where(t == 0, nll, kl)

    def log_prob(self, x: Tensor, y: Tensor | None = None, *, terms: int | None = None, generator: torch.Generator | None = None) -> Tensor:
        """The variational bound on log p(x [| y]) in nats, (B,).

        ``terms=None``: every one of the T terms (T network calls; each term with its own draw of
        x_t). ``terms=k``: an unbiased estimate from k strata of timesteps, one drawn in each
        (weighted by the stratum's size). The prior term is always exact.
        """
        x0 = self.to_model_scale(x)
        y = self.labels(y, x.shape[0])
        b, dev = x.shape[0], x0.device
        total = self.prior_term(x0)
        if terms is None:
            for t in range(self.T):
                total = total + self.vlb_term(x0, torch.full((b,), t, device=dev, dtype=torch.long), y, normal(tuple(x0.shape), generator, dev))
            return -total
        if not 1 <= terms <= self.T:
            raise ValueError(f"terms must lie in 1..{self.T} (or None for all); got {terms}.")
        edges = torch.linspace(0, self.T, terms + 1).round().long().tolist()
        for lo, hi in zip(edges[:-1], edges[1:]):
            t = lo + (uniform((b,), generator, dev) * (hi - lo)).long().clamp(max=hi - lo - 1)
            total = total + (hi - lo) * self.vlb_term(x0, t, y, normal(tuple(x0.shape), generator, dev))
        return -total

    @torch.no_grad()
    def bound_terms(self, x: Tensor, y: Tensor | None = None, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """The prior term (B,) and every other term (T, B): what ``log_prob(terms=None)`` sums, kept apart."""
        x0 = self.to_model_scale(x)
        y = self.labels(y, x.shape[0])
        b, dev = x.shape[0], x0.device
        rows = [self.vlb_term(x0, torch.full((b,), t, device=dev, dtype=torch.long), y, normal(tuple(x0.shape), generator, dev))
                for t in range(self.T)]
        return self.prior_term(x0), torch.stack(rows)

    # -- training ------------------------------------------------------------------------------------
    def importance_probabilities(self) -> Tensor:
        """p(t) of the importance sampler: uniform until every t has HISTORY terms, then proportional to
        sqrt(E[L_t^2]) (mixed with 0.1 % uniform)."""
        if self.cfg.objective != "vlb" or bool((self.vlb_history_count < HISTORY).any()):
            return torch.full((self.T,), 1.0 / self.T, device=self.device)
        w = self.vlb_history.pow(2).mean(1).sqrt()
        p = w / w.sum()
        return p * (1 - 1e-3) + 1e-3 / self.T

    @torch.no_grad()
    def _remember(self, t: Tensor, terms: Tensor) -> None:
        """Shift each drawn t's row left and append its new term (one of a timestep drawn twice is kept)."""
        self.vlb_history[t] = torch.cat([self.vlb_history[t, 1:], terms.to(self.vlb_history.dtype)[:, None]], 1)
        self.vlb_history_count[t] = (self.vlb_history_count[t] + 1).clamp(max=HISTORY)

    def _objective(self, x: Tensor, y: Tensor | None, train: bool) -> Tensor:
        x0 = self.to_model_scale(x)
        b = x0.shape[0]
        y = self.train_labels(y, b) if train else self.labels(y, b)
        if self.cfg.objective == "simple":
            t = torch.randint(0, self.T, (b,), device=x0.device)
            noise = torch.randn_like(x0)
            eps = self.network_output(self.schedule.q_sample(x0, t, noise), t, y)
            return F.mse_loss(eps, noise)
        if not train:  # the bound from loss_terms strata, with the same draws every call (validation compares epochs, not noise)
            fixed = torch.Generator(x0.device).manual_seed(0) if x0.device.type != "mps" else torch.Generator().manual_seed(0)
            return -self.log_prob(x, y=y, terms=min(self.cfg.loss_terms, self.T), generator=fixed).mean()
        p = self.importance_probabilities()
        t = torch.multinomial(p, b, replacement=True)
        terms = self.vlb_term(x0, t, y)
        self._remember(t, terms.detach())
        return (self.prior_term(x0) + terms / p[t]).mean()

    def loss(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """Simple loss (eps model) or the stratified estimate of the negative bound (x0 model), per example."""
        return self._objective(x, y, train=False)

    def training_loss(self, x: Tensor, y: Tensor | None = None, *, step: int) -> Tensor:
        """The loss ``fit`` steps on: random timesteps (importance-sampled for the bound), labels dropped."""
        return self._objective(x, y, train=True)

    # -- sampling -------------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, y: Tensor | int | None = None, *, sampler: str = "ancestral",
               steps: int | None = None, eta: float = 0.0, guidance: float = 0.0) -> Tensor:
        """``n`` images on the pixel grid: x_T ~ N(0, I), then the scheduler's steps (``"ancestral"`` or
        ``"ddim"`` with ``eta``, on ``steps`` timesteps), then the decoder (x0 model: a draw of the K-level
        categorical; eps model: the clean estimate rounded to the nearest level)."""
        y = self.labels(y, n)
        x = normal((n, *self.event_shape), generator, self.device)
        sch = self.scheduler(sampler, steps, eta)
        for t in sch.timesteps.tolist():
            if t == 0 and self.cfg.prediction == "x0":
                tt = torch.zeros(n, dtype=torch.long, device=self.device)
                logits = self.guided(lambda lab: self.network_output(x, tt, lab), y, guidance)
                return categorical(logits, generator).float() / (self.cfg.num_levels - 1)
            x = sch.step(self.model_output(x, t, y, guidance), t, x, generator=generator).prev_sample
        return self.to_images(x)

    @torch.no_grad()
    def ddim_encode(self, x: Tensor, steps: int, y: Tensor | None = None, t_max: int | None = None) -> Tensor:
        """DDIM inversion: images (B, C, H, W) in [0, 1] -> their noise at ``t_max`` (default T-1), deterministic,
        in ``steps`` steps. Stop short of T-1 where abar is tiny: decoding divides by sqrt(abar)."""
        y = self.labels(y, x.shape[0])
        sch = DDIMScheduler(self.schedule, "epsilon" if self.cfg.prediction == "eps" else "sample", clip_sample=False)
        sch.set_timesteps(steps, self.device, t_max=t_max)
        h = self.to_model_scale(x)
        for t in reversed(sch.timesteps.tolist()):
            t_model = max(sch.previous_timestep(t), 0)  # the model is evaluated where h is
            h = sch.invert_step(self.model_output(h, t_model, y), t, h)
        return h

    @torch.no_grad()
    def ddim_decode(self, x_T: Tensor, steps: int, y: Tensor | None = None, t_max: int | None = None) -> Tensor:
        """Deterministic DDIM (eta = 0, no clipping) from noise at ``t_max`` (default T-1): the continuous clean
        estimate in [0, 1] (not rounded to the grid, so that the encode-decode error is visible)."""
        y = self.labels(y, x_T.shape[0])
        sch = DDIMScheduler(self.schedule, "epsilon" if self.cfg.prediction == "eps" else "sample", clip_sample=False)
        sch.set_timesteps(steps, self.device, t_max=t_max)
        h = x_T
        for t in sch.timesteps.tolist():
            h = sch.step(self.model_output(h, t, y), t, h).prev_sample
        return (h + 1) / 2
