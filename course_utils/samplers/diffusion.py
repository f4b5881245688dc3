"""The noise schedule of a diffusion and the small schedulers that step its reverse process.

Sohl-Dickstein et al. (2015); Ho, Jain & Abbeel (2020), *Denoising Diffusion Probabilistic Models*
(DDPM); Song, Meng & Ermon (2021), *Denoising Diffusion Implicit Models* (DDIM); Nichol & Dhariwal
(2021) for the cosine schedule and respacing; Lipman et al. (2023) and Liu et al. (2023) for flow
matching's Euler steps. The vocabulary is diffusers': a scheduler has ``set_timesteps(n, device)``,
``timesteps`` (descending), ``step(model_output, t, x_t, generator=...) -> SchedulerOutput`` with
``prev_sample``, and ``add_noise``; the caller writes the loop::

    scheduler.set_timesteps(50)
    x = torch.randn(...)
    for t in scheduler.timesteps:
        x = scheduler.step(model(x, t), t, x, generator=g).prev_sample

Time is an **index** ``t = 0 .. T-1`` (diffusers' convention): index ``t`` is the paper's step
``t + 1``, so ``x_t`` has had ``t + 1`` rounds of noise and the last reverse step (``t = 0``) returns
the clean estimate. Data live on ``[-1, 1]`` inside a diffusion (images ``x`` in [0, 1] map to
``2x - 1``).

| here                      | paper (Ho et al. 2020)                       |
|---------------------------|----------------------------------------------|
| ``betas[t]``              | beta_{t+1}                                   |
| ``alphas[t]``             | alpha_{t+1} = 1 - beta_{t+1}                 |
| ``alphas_cumprod[t]``     | alpha-bar_{t+1} = prod_{s <= t+1} alpha_s    |
| ``alphas_cumprod_prev[t]``| alpha-bar_t (1 at t = 0)                     |
| ``posterior_variance[t]`` | beta-tilde_{t+1} = (1 - abar_t) / (1 - abar_{t+1}) beta_{t+1} |
| ``q_sample(x0, t, eps)``  | sqrt(abar) x0 + sqrt(1 - abar) eps, a draw of q(x_t \\| x_0) |
| ``q_posterior(x0, x_t, t)`` | mean and variance of q(x_{t-1} \\| x_t, x_0) |
| ``eta``                   | DDIM's eta: 0 deterministic, 1 the DDPM variance |
| ``sigma`` (flow)          | flow time in [0, 1]: x = (1 - sigma) x0 + sigma eps |
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..draws import normal


# --------------------------------------------------------------------------- the schedule
class NoiseSchedule(nn.Module):
    """A variance-preserving noise schedule, every derived quantity a float32 buffer (so ``.to(device)`` moves it).

    Built from ``alphas_cumprod`` (shape (T,)), which must lie in (0, 1) and decrease strictly: each
    step adds noise. :meth:`linear` (Ho et al. 2020) and :meth:`cosine` (Nichol & Dhariwal 2021)
    build the usual ones.
    """

    def __init__(self, alphas_cumprod: Tensor) -> None:
        super().__init__()
        ab = torch.as_tensor(alphas_cumprod, dtype=torch.float64).detach().cpu()
        if ab.ndim != 1 or ab.numel() < 1:
            raise ValueError(f"alphas_cumprod must be a 1-D tensor with one value per step; got shape {tuple(ab.shape)}.")
        if not bool(torch.isfinite(ab).all()) or ab.min() <= 0 or ab.max() >= 1:
            raise ValueError(f"alphas_cumprod must lie strictly between 0 and 1; got values in [{ab.min().item():.3g}, {ab.max().item():.3g}].")
        rises = torch.nonzero(ab[1:] >= ab[:-1])
        if rises.numel():
            t = int(rises[0])
            raise ValueError(f"alphas_cumprod must decrease strictly (every step adds noise); it does not from t = {t} to {t + 1} "
                             f"({ab[t].item():.6g} -> {ab[t + 1].item():.6g}).")
        prev = torch.cat([torch.ones(1, dtype=torch.float64), ab[:-1]])
        betas = 1 - ab / prev
        post_var = betas * (1 - prev) / (1 - ab)
        buffers = {
            "betas": betas,
            "alphas": 1 - betas,
            "alphas_cumprod": ab,
            "alphas_cumprod_prev": prev,
            "sqrt_alphas_cumprod": ab.sqrt(),
            "sqrt_one_minus_alphas_cumprod": (1 - ab).sqrt(),
            "posterior_variance": post_var,
            # the variance at t = 0 is 0; Ho et al. clip its log at the next value
            "posterior_log_variance_clipped": torch.log(torch.cat([post_var[1:2] if len(ab) > 1 else betas[:1], post_var[1:]])),
            "posterior_mean_coef1": betas * prev.sqrt() / (1 - ab),
            "posterior_mean_coef2": (1 - prev) * (1 - betas).sqrt() / (1 - ab),
        }
        for name, value in buffers.items():
            self.register_buffer(name, value.float())

    # -- constructors -----------------------------------------------------------------------
    @classmethod
    def linear(cls, timesteps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> "NoiseSchedule":
        """Betas rising linearly (Ho et al. 2020), scaled by 1000 / T so that any T adds the same total noise."""
        if timesteps < 1:
            raise ValueError(f"timesteps must be positive; got {timesteps}.")
        scale = 1000 / timesteps
        betas = torch.linspace(scale * beta_start, min(scale * beta_end, 0.999), timesteps, dtype=torch.float64)
        return cls(torch.cumprod(1 - betas, 0))

    @classmethod
    def cosine(cls, timesteps: int = 1000, s: float = 0.008, max_beta: float = 0.999) -> "NoiseSchedule":
        """abar(t) = f(t) / f(0), f(t) = cos^2((t/T + s) / (1 + s) * pi/2) (Nichol & Dhariwal 2021), betas clipped at ``max_beta``."""
        if timesteps < 1:
            raise ValueError(f"timesteps must be positive; got {timesteps}.")
        steps = torch.arange(timesteps + 1, dtype=torch.float64) / timesteps
        f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
        betas = (1 - f[1:] / f[:-1]).clamp(max=max_beta)
        return cls(torch.cumprod(1 - betas, 0))

    @classmethod
    def named(cls, name: str, timesteps: int) -> "NoiseSchedule":
        """``"linear"`` or ``"cosine"``."""
        if name == "linear":
            return cls.linear(timesteps)
        if name == "cosine":
            return cls.cosine(timesteps)
        raise ValueError(f"Unknown schedule {name!r}; choose 'linear' or 'cosine'.")

    # -- helpers ------------------------------------------------------------------------------
    @property
    def num_timesteps(self) -> int:
        return int(self.alphas_cumprod.shape[0])

    def check_t(self, t: Tensor | int, batch: int | None = None) -> Tensor:
        """``t`` as an int64 tensor on the schedule's device, (B,) (a scalar is repeated ``batch`` times);
        a clear error if it is not an integer in ``0..T-1``."""
        t = torch.as_tensor(t, device=self.betas.device)
        if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
            raise ValueError(f"timesteps must be integers (indices 0..{self.num_timesteps - 1}); got dtype {t.dtype}.")
        t = t.long()
        if t.ndim == 0 and batch is not None:
            t = t.expand(batch)
        if t.numel() and (int(t.min()) < 0 or int(t.max()) >= self.num_timesteps):
            raise ValueError(f"timesteps must lie in 0..{self.num_timesteps - 1} (T = {self.num_timesteps}); "
                             f"got values in {int(t.min())}..{int(t.max())}.")
        return t

    def _at(self, buffer: Tensor, t: Tensor, like: Tensor) -> Tensor:
        """``buffer[t]`` shaped to broadcast against ``like`` (B, ...)."""
        return buffer[t].reshape(-1, *([1] * (like.ndim - 1))).to(like.dtype)

    # -- the forward process ----------------------------------------------------------------------
    def q_sample(self, x0: Tensor, t: Tensor | int, noise: Tensor) -> Tensor:
        """A draw of q(x_t | x_0): ``sqrt(abar_t) x0 + sqrt(1 - abar_t) noise`` (x0 on [-1, 1], t (B,) or an int)."""
        t = self.check_t(t, x0.shape[0])
        return self._at(self.sqrt_alphas_cumprod, t, x0) * x0 + self._at(self.sqrt_one_minus_alphas_cumprod, t, x0) * noise

    def q_mean_variance(self, x0: Tensor, t: Tensor | int) -> tuple[Tensor, Tensor]:
        """Mean and variance of q(x_t | x_0)."""
        t = self.check_t(t, x0.shape[0])
        return self._at(self.sqrt_alphas_cumprod, t, x0) * x0, self._at(1 - self.alphas_cumprod, t, x0).expand_as(x0)

    def q_posterior(self, x0: Tensor, x_t: Tensor, t: Tensor | int) -> tuple[Tensor, Tensor, Tensor]:
        """Mean, variance and clipped log-variance of q(x_{t-1} | x_t, x_0) (at t = 0: the point x_0, variance 0)."""
        t = self.check_t(t, x_t.shape[0])
        mean = self._at(self.posterior_mean_coef1, t, x_t) * x0 + self._at(self.posterior_mean_coef2, t, x_t) * x_t
        return mean, self._at(self.posterior_variance, t, x_t).expand_as(x_t), self._at(self.posterior_log_variance_clipped, t, x_t).expand_as(x_t)

    def predict_x0_from_eps(self, x_t: Tensor, t: Tensor | int, eps: Tensor) -> Tensor:
        """x0 = (x_t - sqrt(1 - abar) eps) / sqrt(abar): the clean image the noise estimate implies."""
        t = self.check_t(t, x_t.shape[0])
        return (x_t - self._at(self.sqrt_one_minus_alphas_cumprod, t, x_t) * eps) / self._at(self.sqrt_alphas_cumprod, t, x_t)

    def predict_eps_from_x0(self, x_t: Tensor, t: Tensor | int, x0: Tensor) -> Tensor:
        """eps = (x_t - sqrt(abar) x0) / sqrt(1 - abar)."""
        t = self.check_t(t, x_t.shape[0])
        return (x_t - self._at(self.sqrt_alphas_cumprod, t, x_t) * x0) / self._at(self.sqrt_one_minus_alphas_cumprod, t, x_t)

    def snr(self, t: Tensor | int) -> Tensor:
        """Signal-to-noise ratio abar / (1 - abar)."""
        t = self.check_t(t)
        return self.alphas_cumprod[t] / (1 - self.alphas_cumprod[t])


# --------------------------------------------------------------------------- schedulers
@dataclass
class SchedulerOutput:
    """What one reverse step returns: the next (less noisy) sample and the clean image it predicted."""

    prev_sample: Tensor
    pred_original_sample: Tensor


PREDICTION_TYPES = ("epsilon", "sample")  # the network predicts the noise, or the clean image x0


class _Scheduler:
    """What DDPM and DDIM share: a schedule, a prediction type, the sub-sequence of timesteps."""

    def __init__(self, schedule: NoiseSchedule, prediction_type: str = "epsilon", clip_sample: bool = True) -> None:
        if not isinstance(schedule, NoiseSchedule):
            raise TypeError(f"schedule must be a NoiseSchedule; got {type(schedule).__name__}.")
        if prediction_type not in PREDICTION_TYPES:
            raise ValueError(f"prediction_type must be one of {PREDICTION_TYPES}; got {prediction_type!r}.")
        self.schedule, self.prediction_type, self.clip_sample = schedule, prediction_type, clip_sample
        self.set_timesteps(schedule.num_timesteps)

    def set_timesteps(self, num_inference_steps: int, device: torch.device | str | None = None, *, t_max: int | None = None) -> None:
        """Use ``num_inference_steps`` evenly spaced timesteps from ``t_max`` (default T-1) down to 0 (all T: every step)."""
        T = self.schedule.num_timesteps
        t_max = T - 1 if t_max is None else int(self.schedule.check_t(t_max))
        if not 1 <= num_inference_steps <= t_max + 1:
            raise ValueError(f"num_inference_steps must lie in 1..{t_max + 1} (timesteps {t_max}..0); got {num_inference_steps}.")
        ts = torch.linspace(t_max, 0, num_inference_steps, dtype=torch.float64).round().long() if num_inference_steps > 1 else torch.tensor([t_max])
        self.timesteps = ts.to(device if device is not None else self.schedule.betas.device)
        self._prev = {int(a): int(b) for a, b in zip(ts, torch.cat([ts[1:], torch.tensor([-1])]))}
        self.num_inference_steps = num_inference_steps

    def previous_timestep(self, t: int | Tensor) -> int:
        """The timestep the step from ``t`` lands on (-1: the clean image)."""
        t = int(t)
        if t not in self._prev:
            raise ValueError(f"t = {t} is not one of this scheduler's timesteps; call set_timesteps and loop over scheduler.timesteps.")
        return self._prev[t]

    def _abar(self, t: int, like: Tensor) -> Tensor:
        ab = self.schedule.alphas_cumprod
        return ab[t].to(like.dtype) if t >= 0 else torch.ones((), dtype=like.dtype, device=like.device)

    def pred_x0_and_eps(self, model_output: Tensor, t: int, x_t: Tensor) -> tuple[Tensor, Tensor]:
        """The clean image and the noise the model output implies at ``t`` (x0 clipped to [-1, 1] if
        ``clip_sample``; the noise then recomputed from the clipped x0)."""
        if model_output.shape != x_t.shape:
            raise ValueError(f"model_output must be shaped like x_t {tuple(x_t.shape)}; got {tuple(model_output.shape)}.")
        ab = self._abar(t, x_t)
        if self.prediction_type == "epsilon":
            x0 = (x_t - (1 - ab).sqrt() * model_output) / ab.sqrt()
        else:
            x0 = model_output
        if self.clip_sample:
            x0 = x0.clamp(-1, 1)
        eps = (x_t - ab.sqrt() * x0) / (1 - ab).sqrt()
        return x0, eps

    def add_noise(self, original_samples: Tensor, noise: Tensor, timesteps: Tensor | int) -> Tensor:
        """q(x_t | x_0) for a batch: the forward process (``NoiseSchedule.q_sample``)."""
        return self.schedule.q_sample(original_samples, timesteps, noise)

    def _check_t(self, t: int | Tensor) -> int:
        t = self.schedule.check_t(t)
        if t.numel() != 1:
            raise ValueError("step takes one timestep for the whole batch (an int or a 0-d tensor).")
        return int(t)


class DDPMScheduler(_Scheduler):
    """Ancestral sampling (Ho et al. 2020): x_{t'} ~ N(mu~(x0_hat, x_t), beta~) at each timestep.

    With fewer than T timesteps the chain is *respaced* (Nichol & Dhariwal 2021): the step from t
    to t' uses beta' = 1 - abar_t / abar_{t'}, so it is again a DDPM, on a shorter chain. The
    variance is the posterior's (``beta~``, "fixed small"); no noise at the last step.
    """

    def variance(self, t: int, like: Tensor) -> Tensor:
        """beta~ of the (possibly respaced) step from ``t``."""
        prev = self.previous_timestep(t)
        ab, ab_prev = self._abar(t, like), self._abar(prev, like)
        beta = 1 - ab / ab_prev
        return (1 - ab_prev) / (1 - ab) * beta

    def step(self, model_output: Tensor, t: int | Tensor, x_t: Tensor, generator: torch.Generator | None = None) -> SchedulerOutput:
        """One ancestral step from ``t``: the posterior mean at the predicted x0, plus noise (none at the last step)."""
        t = self._check_t(t)
        prev = self.previous_timestep(t)
        x0, _ = self.pred_x0_and_eps(model_output, t, x_t)
        ab, ab_prev = self._abar(t, x_t), self._abar(prev, x_t)
        beta = 1 - ab / ab_prev
        mean = ab_prev.sqrt() * beta / (1 - ab) * x0 + (1 - beta).sqrt() * (1 - ab_prev) / (1 - ab) * x_t
        if prev < 0:
            return SchedulerOutput(mean, x0)
        noise = normal(tuple(x_t.shape), generator, x_t.device).to(x_t.dtype)
        return SchedulerOutput(mean + self.variance(t, x_t).sqrt() * noise, x0)


class DDIMScheduler(_Scheduler):
    """DDIM (Song, Meng & Ermon 2021): x_{t'} = sqrt(abar') x0_hat + sqrt(1 - abar' - s^2) eps_hat + s z,
    ``s = eta * sqrt((1 - abar') / (1 - abar)) * sqrt(1 - abar / abar')``.

    ``eta = 0``: deterministic (an Euler-like step of the probability-flow ODE); ``eta = 1`` with
    every timestep: exactly the DDPM ancestral step. :meth:`invert_step` runs the deterministic
    map the other way (DDIM inversion: an image to its noise).
    """

    def __init__(self, schedule: NoiseSchedule, prediction_type: str = "epsilon", clip_sample: bool = True, eta: float = 0.0) -> None:
        if eta < 0:
            raise ValueError(f"eta must be non-negative; got {eta}.")
        self.eta = float(eta)
        super().__init__(schedule, prediction_type, clip_sample)

    def step(self, model_output: Tensor, t: int | Tensor, x_t: Tensor, generator: torch.Generator | None = None) -> SchedulerOutput:
        """One DDIM step from ``t`` to the previous timestep of ``timesteps``; draws noise only if ``eta > 0``."""
        t = self._check_t(t)
        prev = self.previous_timestep(t)
        x0, eps = self.pred_x0_and_eps(model_output, t, x_t)
        ab, ab_prev = self._abar(t, x_t), self._abar(prev, x_t)
        sigma = self.eta * ((1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev)).sqrt()
        x_prev = ab_prev.sqrt() * x0 + (1 - ab_prev - sigma**2).clamp(min=0).sqrt() * eps
        if self.eta > 0 and prev >= 0:
            x_prev = x_prev + sigma * normal(tuple(x_t.shape), generator, x_t.device).to(x_t.dtype)
        return SchedulerOutput(x_prev, x0)

    def invert_step(self, model_output: Tensor, t: int | Tensor, x: Tensor) -> Tensor:
        """The deterministic DDIM map backwards: from ``x`` at the timestep before ``t`` (the clean image
        if ``t`` is the last) to ``x_t``, with the model evaluated at the less noisy point (DDIM inversion)."""
        t = self._check_t(t)
        prev = self.previous_timestep(t)
        ab, ab_prev = self._abar(t, x), self._abar(prev, x)
        if self.prediction_type == "epsilon":
            eps = model_output
            x0 = (x - (1 - ab_prev).sqrt() * eps) / ab_prev.sqrt() if prev >= 0 else x
        else:
            x0 = model_output
            eps = (x - ab_prev.sqrt() * x0) / (1 - ab_prev).sqrt() if prev >= 0 else torch.zeros_like(x)
        return ab.sqrt() * x0 + (1 - ab).sqrt() * eps


class FlowMatchEulerScheduler:
    """Euler steps of a flow-matching ODE (Lipman et al. 2023; Liu et al. 2023): x_{s'} = x_s + (s' - s) v(x_s, s).

    Flow time ``sigma`` runs from 1 (noise) to 0 (data) along x = (1 - sigma) x0 + sigma eps, whose
    velocity is ``v = dx/dsigma = eps - x0``. ``timesteps`` are the sigmas where the model is evaluated.
    """

    def __init__(self) -> None:
        self.set_timesteps(50)

    def set_timesteps(self, num_inference_steps: int, device: torch.device | str | None = None) -> None:
        if num_inference_steps < 1:
            raise ValueError(f"num_inference_steps must be positive; got {num_inference_steps}.")
        self.sigmas = torch.linspace(1, 0, num_inference_steps + 1, device=device)
        self.timesteps = self.sigmas[:-1]
        self.num_inference_steps = num_inference_steps

    def step(self, model_output: Tensor, t: float | Tensor, x_t: Tensor, generator: torch.Generator | None = None) -> SchedulerOutput:
        """One Euler step from flow time ``t`` (one of ``timesteps``) to the next; ``model_output`` is the velocity."""
        if model_output.shape != x_t.shape:
            raise ValueError(f"model_output must be shaped like x_t {tuple(x_t.shape)}; got {tuple(model_output.shape)}.")
        t = float(t)
        idx = torch.nonzero((self.timesteps.cpu() - t).abs() < 1e-7)
        if idx.numel() == 0:
            raise ValueError(f"t = {t} is not one of this scheduler's timesteps; call set_timesteps and loop over scheduler.timesteps.")
        s_next = float(self.sigmas[int(idx[0]) + 1])
        x_prev = x_t + (s_next - t) * model_output
        return SchedulerOutput(x_prev, x_t - t * model_output)

    @staticmethod
    def add_noise(original_samples: Tensor, noise: Tensor, sigma: Tensor) -> Tensor:
        """x_sigma = (1 - sigma) x0 + sigma eps, ``sigma`` (B,) in [0, 1]."""
        if sigma.is_floating_point() is False or sigma.numel() and (sigma.min() < 0 or sigma.max() > 1):
            raise ValueError("flow times sigma must be floats in [0, 1].")
        s = sigma.reshape(-1, *([1] * (original_samples.ndim - 1))).to(original_samples.dtype)
        return (1 - s) * original_samples + s * noise
