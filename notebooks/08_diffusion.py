# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 08 · Diffusion: DDPM, DDIM, the score, guidance, flow matching, masked diffusion
#
# A diffusion model learns to undo noise. A fixed **forward process** destroys an image in many
# small steps of Gaussian noise until nothing is left but noise; a network learns each **reverse**
# step; sampling runs the reverse chain from pure noise. The model is a VAE with a thousand layers
# of latents whose encoder is fixed, its network is a denoiser that also estimates the *score* of
# notebook 07, and its deterministic sampler is an ODE, like a flow.
#
# In this notebook you will
# - write the **forward process** and check its closed form $q(x_t \mid x_0)$ against running the chain;
# - train a **DDPM** (ε-prediction, the simple loss) with the training loss and the ancestral
#   sampling loop written here and checked against the package; compare **linear and cosine schedules**;
# - give diffusion a **likelihood**: the variational bound in **nats of the discrete 8x8 digits**,
#   with a discrete decoder at $t = 0$, so that it sits in the same table as the VAE (04) and the
#   autoregressive models (03); see that the simple loss gives good samples but a poor bound, and
#   that a network trained on the bound memorises its 1,000 training images if you let it;
# - sample with **DDIM** in 50 steps instead of 1,000, deterministically, and invert it;
# - check **ε = −σ ∇ log p** on Gaussian data, where the score is known in closed form;
# - steer samples with **classifier-free guidance** and measure its trade-off;
# - train the same network with **flow matching** and sample with Euler steps;
# - model binarised MNIST with **masked (absorbing-state) diffusion**, a discrete diffusion whose
#   bound is an order-agnostic autoregressive model's.
#
# *Cost: under a minute at the smoke budget; about 8 minutes on a laptop CPU at `laptop`, most of it training
# seven small models once (a second run loads their checkpoints).*

# %% [markdown]
# ## Setup

# %%
import itertools
import math
from dataclasses import replace
from functools import partial

import matplotlib.pyplot as plt
import torch

from course_utils import NonFiniteLossError, TrainConfig, fit, load_digits8x8, load_mnist5k, load_model, present, setup
from course_utils.evaluation.features import class_probabilities, load_feature_net
from course_utils.evaluation.likelihood import mean_nll
from course_utils.evaluation.protocol import fd_with_floor
from course_utils.evaluation.sample_quality import nearest_neighbour_distance
from course_utils.exercises import check
from course_utils.lessons.diffusion_views import (GaussianData, elbo_by_sampling_the_chain, guided_grid, log_px_by_quadrature,
                                                  render_forward, render_guidance)
from course_utils.models.diffusion import DDPM, DDPMConfig
from course_utils.models.independent import IndependentConfig, IndependentPixels
from course_utils.models.masked_diffusion import MaskedDiffusion, MaskedDiffusionConfig
from course_utils.models.presets import PRESETS
from course_utils.nn.unet import ResidualMLP
from course_utils.plotting import image_grid, image_rows, training_curves
from course_utils.runtime import Stopwatch
from course_utils.samplers.diffusion import DDIMScheduler, DDPMScheduler, FlowMatchEulerScheduler, NoiseSchedule

rt = setup("08_diffusion")
dev = rt.device  # models live here; the data stay on the CPU and move where a model needs them
digits = load_digits8x8()  # 1000 / 350 / 447 images of 8x8 pixels with 17 grey levels
T_DEMO = 1000  # the schedules of section 1; the trained models use T = 1000 too (100 at the smoke budget)
N_FD = 350  # the FD protocol of the 8x8 digits compares exactly 350 samples (the size of the validation split)
digit_net = load_feature_net("digits8", dev)  # the course's digit classifier (features for FD; class probabilities)


def fd(samples):
    """FD (course features) of 350 samples of 8x8 digits against the test split, with its real-vs-real floor."""
    return fd_with_floor(samples.to(dev), "digits8x8")


# %% [markdown]
# ## 1. The forward process
#
# Scale the images to $[-1, 1]$ and add a little Gaussian noise at each of $T$ steps, shrinking the
# signal so that the variance stays 1:
# $$q(x_t \mid x_{t-1}) = \mathcal N\big(\sqrt{\alpha_t}\,x_{t-1},\ \beta_t I\big),\qquad \alpha_t = 1 - \beta_t .$$
# Composing Gaussians gives a closed form for any $t$, with $\bar\alpha_t = \prod_{s\le t}\alpha_s$:
# $$q(x_t \mid x_0) = \mathcal N\big(\sqrt{\bar\alpha_t}\,x_0,\ (1-\bar\alpha_t) I\big),\qquad
# x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon,\ \varepsilon\sim\mathcal N(0, I).$$
# (Induction: the mean picks up a factor $\sqrt{\alpha_t}$ per step; the variance goes from
# $1-\bar\alpha_{t-1}$ to $\alpha_t(1-\bar\alpha_{t-1}) + \beta_t = 1 - \bar\alpha_t$.) So training never
# runs the chain: it jumps straight to any $t$. Two **schedules** are common: Ho et al. (2020) let
# $\beta_t$ rise linearly from $10^{-4}$ to $0.02$; Nichol & Dhariwal (2021) define
# $\bar\alpha_t = \cos^2\!\big(\tfrac{t/T + s}{1 + s}\tfrac\pi2\big)$ (normalised, $s = 0.008$), which
# destroys information more evenly. The package stores every derived quantity as a buffer of a
# `NoiseSchedule`, with time as an index $t = 0, \dots, T-1$ (the paper's step $t+1$).
#
# First the claim: run the chain one step at a time, tracking the mean and variance of every pixel,
# and compare with the closed form at every $t$; then by sampling 2,000 chains.

# %%
schedules = {"linear": NoiseSchedule.linear(T_DEMO), "cosine": NoiseSchedule.cosine(T_DEMO)}
x0 = digits.test.x[:4] * 2 - 1  # four digits on [-1, 1], shape (4, 1, 8, 8)
for name, sch in schedules.items():
    mean, var = x0.double(), torch.zeros_like(x0, dtype=torch.float64)  # x_0 is known: variance 0
    worst = 0.0
    for t in range(T_DEMO):
        a, b = sch.alphas[t].double(), sch.betas[t].double()
        mean, var = a.sqrt() * mean, a * var + b  # one step of the chain
        closed_mean, closed_var = sch.q_mean_variance(x0, t)
        worst = max(worst, (mean - closed_mean).abs().max().item(), (var - closed_var).abs().max().item())
    print(f"{name:6s}: largest difference between the chain's moments and the closed form over all t: {worst:.1e}")
    assert worst < 1e-5

# %%
sch, t_check, n_chains = schedules["cosine"], 300, 2000
g = torch.Generator().manual_seed(0)
x = x0[:1].expand(n_chains, 1, 8, 8).clone()
for t in range(t_check + 1):  # 2000 chains, step by step, with noise
    x = sch.alphas[t].sqrt() * x + sch.betas[t].sqrt() * torch.randn(x.shape, generator=g)
m_closed, v_closed = sch.q_mean_variance(x0[:1], t_check)
z_mean = (x.mean(0) - m_closed[0]) / (v_closed[0] / n_chains).sqrt()  # per pixel, in standard errors
z_var = (x.var(0) / v_closed[0] - 1) / math.sqrt(2 / (n_chains - 1))
print(f"t = {t_check}: sampled means within {z_mean.abs().max():.1f} standard errors, variances within {z_var.abs().max():.1f}")
assert z_mean.abs().max() < 5 and z_var.abs().max() < 5

# %% [markdown]
# The linear schedule was designed for 32x32 images; on our tiny 8x8 digits it wipes the signal out
# early and then spends hundreds of steps adding noise to noise. The signal-to-noise ratio
# $\bar\alpha_t / (1 - \bar\alpha_t)$ shows it.

# %%
fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
for name, sch in schedules.items():
    axes[0].plot(sch.alphas_cumprod, label=name)
    axes[1].plot(torch.log(sch.alphas_cumprod / (1 - sch.alphas_cumprod)), label=name)
axes[0].set(xlabel="timestep t", ylabel=r"$\bar\alpha_t$ (signal variance)", title="How much signal is left")
axes[1].set(xlabel="timestep t", ylabel="log SNR", title="log signal-to-noise ratio")
axes[1].set_ylim(-12, 12)
axes[0].legend()
rt.save_figure(fig, "schedules")
nearly_noise = {name: int((sch.alphas_cumprod < 1e-3).sum()) for name, sch in schedules.items()}
print(f"steps with less than 0.1 % of the signal variance left: {nearly_noise}")
assert nearly_noise["linear"] > 2 * nearly_noise["cosine"]

# %% [markdown]
# **Exercise (implement and check).** Write the draw from $q(x_t \mid x_0)$: for a batch of images
# `x0` on $[-1, 1]$, integer timesteps `t` (one per image) and noise `noise`, return
# $\sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon$.

# %% tags=["exercise"]
def my_q_sample(x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor, alphas_cumprod: torch.Tensor) -> torch.Tensor:
    """x0, noise: (B, C, H, W); t: (B,) int64 in 0..T-1; alphas_cumprod: (T,). Returns x_t, (B, C, H, W)."""
    raise NotImplementedError("your code here")


# %% jupyter={"source_hidden": true} tags=["solution"]
def my_q_sample(x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor, alphas_cumprod: torch.Tensor) -> torch.Tensor:
    ab = alphas_cumprod[t].view(-1, 1, 1, 1)  # one abar per image, broadcast over its pixels
    return ab.sqrt() * x0 + (1 - ab).sqrt() * noise


# %%
g = torch.Generator().manual_seed(1)
cases = [(x0, torch.tensor([0, 10, 500, 999]), torch.randn(x0.shape, generator=g), sch.alphas_cumprod) for sch in schedules.values()]
check("q_sample", my_q_sample, lambda x, t, noise, ab: NoiseSchedule(ab).q_sample(x, t, noise), cases)

# %% [markdown]
# **Widget: the forward process.** Pick a schedule and a timestep: the digits at that noise level,
# and the histogram of their pixels against $\mathcal N(0, 1)$, the distribution every chain ends in.
# Where does each schedule make the digits unreadable? When does the histogram stop showing the
# two spikes of black and white pixels?

# %%
present(partial(render_forward, images=digits.test.x[:8]), t=(0, T_DEMO - 1), schedule=["cosine", "linear"]);

# %%
steps_shown = [0, 50, 100, 200, 300, 400, 500, 700, 999]
g = torch.Generator().manual_seed(5)  # a noise draw that happens to look like no digit (some draws do, by chance)
noise = torch.randn((1, 1, 8, 8), generator=g).expand(len(steps_shown), 1, 8, 8)
rows = {name: (sch.q_sample(x0[:1].expand(len(steps_shown), 1, 8, 8), torch.tensor(steps_shown), noise).clamp(-2.5, 2.5) + 2.5) / 5
        for name, sch in schedules.items()}  # values in [-2.5, 2.5] shown on [0, 1]: the digit's -1 and 1 are light and dark grey
gone = {name: int((sch.alphas_cumprod > 0.05).sum()) for name, sch in schedules.items()}  # first t with under 5 % of the signal variance
fig = image_rows(rows, nrow=len(steps_shown), title=f"One digit, the same noise, at t = {steps_shown}: under 5 % of the signal "
                 f"variance is left from t = {gone['linear']} (linear), t = {gone['cosine']} (cosine)")
rt.save_figure(fig, "forward_process")

# %% [markdown]
# ## 2. DDPM: learning to run the chain backwards
#
# The reverse of one small Gaussian step is close to Gaussian, and given $x_0$ it is exactly
# Gaussian (Bayes' rule on two Gaussians):
# $$q(x_{t-1}\mid x_t, x_0) = \mathcal N\big(\tilde\mu_t(x_t, x_0),\ \tilde\beta_t I\big),\quad
# \tilde\mu_t = \frac{\sqrt{\bar\alpha_{t-1}}\,\beta_t}{1-\bar\alpha_t}\,x_0 + \frac{\sqrt{\alpha_t}(1-\bar\alpha_{t-1})}{1-\bar\alpha_t}\,x_t,\quad
# \tilde\beta_t = \frac{1-\bar\alpha_{t-1}}{1-\bar\alpha_t}\,\beta_t .$$
# The model does not know $x_0$, so it guesses it: $p_\theta(x_{t-1}\mid x_t) = \mathcal N(\tilde\mu_t(x_t, \hat x_0), \tilde\beta_t I)$.
# Ho et al. (2020) let the network predict the noise instead, $\varepsilon_\theta(x_t, t)$, which implies
# $\hat x_0 = (x_t - \sqrt{1-\bar\alpha_t}\,\varepsilon_\theta)/\sqrt{\bar\alpha_t}$, and train it with the
# **simple loss**
# $$L_\text{simple} = \mathbb E_{t, x_0, \varepsilon}\big\|\varepsilon - \varepsilon_\theta(\sqrt{\bar\alpha_t}x_0 + \sqrt{1-\bar\alpha_t}\varepsilon,\ t)\big\|^2 .$$
# Our network is a residual MLP on the 64 pixels (three blocks of 256 units, each told $t$ through a
# sinusoidal embedding): on images this small there is little for convolutions to share, and an MLP
# is cheap on a CPU (larger images need a U-Net; see the end of section 7). It trains with a cosine learning-rate decay and an **exponential moving average** (EMA) of its
# weights, $\bar\theta \leftarrow d\,\bar\theta + (1-d)\,\theta$, which is what samples (as in Ho et al.
# 2020): diffusion losses are noisy (a random $t$ and $\varepsilon$ per image), and the average of the last
# few hundred steps smooths that noise out of the weights. First the loss, written from the formula and checked
# against the package on the same $t$ and $\varepsilon$:

# %%
with Stopwatch() as sw_eps:
    eps_model, hist_eps = load_model("ddpm-eps-digits", rt)  # cosine schedule, eps-prediction, simple loss, EMA
T = eps_model.T


def my_simple_loss(model, x, t, noise):
    x0 = x * 2 - 1  # images in [0, 1] -> [-1, 1]
    ab = model.schedule.alphas_cumprod[t].view(-1, 1, 1, 1)
    x_t = ab.sqrt() * x0 + (1 - ab).sqrt() * noise
    return ((model.network_output(x_t, t) - noise) ** 2).mean()


xb = digits.train.x[:64].to(dev)
torch.manual_seed(1)
t_b = torch.randint(0, T, (64,), device=dev)
noise_b = torch.randn_like(xb)
torch.manual_seed(1)  # the package draws t, then the noise, the same way
assert torch.allclose(my_simple_loss(eps_model, xb, t_b, noise_b), eps_model.loss(xb))
print(f"trained in {sw_eps.seconds:.0f} s; validation simple loss {hist_eps.val_loss[-1]:.4f} (predicting 0 scores 1)")

# %% [markdown]
# **The sampling loop.** Start from $x_T \sim \mathcal N(0, I)$; at each $t$ compute $\hat x_0$ (clipped to
# $[-1, 1]$, the data's range), the posterior mean $\tilde\mu_t(x_t, \hat x_0)$, and add noise of variance
# $\tilde\beta_t$, except at the last step. Written out from the formulas:

# %%
@torch.no_grad()
def my_ddpm_sample(model, n, generator):
    ab = model.schedule.alphas_cumprod
    ab_prev = torch.cat([ab.new_ones(1), ab[:-1]])
    beta = 1 - ab / ab_prev
    x = torch.randn((n, 1, 8, 8), generator=generator).to(dev)  # x_T
    for t in reversed(range(T)):
        x0_hat = ((x - (1 - ab[t]).sqrt() * model.model_output(x, t)) / ab[t].sqrt()).clamp(-1, 1)
        mean = ab_prev[t].sqrt() * beta[t] / (1 - ab[t]) * x0_hat + (1 - beta[t]).sqrt() * (1 - ab_prev[t]) / (1 - ab[t]) * x
        if t > 0:
            x = mean + ((1 - ab_prev[t]) / (1 - ab[t]) * beta[t]).sqrt() * torch.randn(x.shape, generator=generator).to(dev)
        else:
            x = mean  # the last step returns the clean estimate
    return x


# %% [markdown]
# The same loop with the package's scheduler (the vocabulary of the `diffusers` library: `timesteps`,
# `step(...).prev_sample`), and with `model.sample`, from the same noise:

# %%
scheduler = DDPMScheduler(eps_model.schedule)  # all T steps
g = torch.Generator().manual_seed(3)
x = torch.randn((16, 1, 8, 8), generator=g).to(dev)
for t in scheduler.timesteps.tolist():
    x = scheduler.step(eps_model.model_output(x, t), t, x, generator=g).prev_sample
mine = my_ddpm_sample(eps_model, 16, torch.Generator().manual_seed(3))
print(f"largest difference between the loop above and the scheduler's: {(mine - x).abs().max():.1e}")
assert torch.allclose(mine, x, atol=1e-4)
assert torch.equal(eps_model.to_images(x), eps_model.sample(16, torch.Generator().manual_seed(3)))  # + rounding to the 17 levels

# %%
with Stopwatch() as sw_anc:
    samples_anc = eps_model.sample(N_FD, torch.Generator().manual_seed(0))
fd_anc = fd(samples_anc)
print(f"{T}-step ancestral sampling of {N_FD} digits: {sw_anc.seconds:.1f} s")
print(fd_anc)
indep = IndependentPixels(IndependentConfig(shape=(1, 8, 8), num_levels=17)).fit_closed_form(digits.train.x)
fd_indep = fd(indep.sample(N_FD, torch.Generator().manual_seed(0)))
print(f"baseline, independent pixels: FD {fd_indep.fd:.2f} (floor {fd_indep.floor:.2f})")
fig = image_rows({"real (test)": digits.test.x[:16], "DDPM samples": samples_anc[:16], "independent pixels": indep.sample(16)}, nrow=16,
                 title=f"DDPM (ε-prediction, simple loss, cosine schedule, EMA): {T} reverse steps")
rt.save_figure(fig, "ddpm_samples")
assert samples_anc.shape == (N_FD, 1, 8, 8) and torch.allclose(samples_anc * 16, torch.round(samples_anc * 16)), "digits on the 17 levels"
rt.record("fd_ddpm_eps_ancestral", fd_anc.fd, "FD (course features)")
rt.record("fd_ratio_ddpm_over_independent_pixels", fd_anc.fd / fd_indep.fd, "x", at_most=0.5, budget="laptop")
rt.record("fd_floor_digits", fd_anc.floor, "FD (course features)")

# %% [markdown]
# FD (course features) is the Fréchet distance between the features of a
# small digit classifier on the samples and on the test split (notebook 00); it is printed with
# its **floor**, the FD of the 350 real validation digits: no model can be expected to beat that.
#
# ## 3. A likelihood: the variational bound in nats of the discrete data
#
# The forward process is an encoder $q(x_{1:T}\mid x_0)$ with no parameters, and $x_{1:T}$ are latents:
# the ELBO of notebook 04 applies. Grouping its terms (Sohl-Dickstein et al. 2015; Ho et al. 2020):
# $$\begin{aligned}-\log p(x_0) \le{} & \underbrace{\mathrm{KL}\big(q(x_T\mid x_0)\,\|\,\mathcal N(0,I)\big)}_{L_T} \\
# & + \sum_{t=2}^{T} \underbrace{\mathbb E_q\,\mathrm{KL}\big(q(x_{t-1}\mid x_t, x_0)\,\|\,p_\theta(x_{t-1}\mid x_t)\big)}_{L_{t-1}} \\
# & \underbrace{-\ \mathbb E_q \log p_\theta(x_0\mid x_1)}_{L_0} .\end{aligned}$$
# Every KL is between Gaussians with the same variance $\tilde\beta_t$, so it is a squared distance of
# means, $\|\tilde\mu_t(x_t, x_0) - \tilde\mu_t(x_t, \hat x_0)\|^2 / 2\tilde\beta_t$. The last term needs a
# **discrete decoder**: our images have 17 grey levels, and $p_\theta(x_0\mid x_1)$ must be a
# probability over them for the bound to be in nats of the discrete data, comparable with the VAE
# and the autoregressive models (a Gaussian density there would give a number in another unit).
#
# In terms of the noise, the KL at step $t$ is $w_t\,\|\varepsilon - \varepsilon_\theta\|^2$ with
# $w_t = \beta_t^2 / (2\tilde\beta_t\alpha_t(1-\bar\alpha_t))$, largest at small $t$. There the noise is far
# smaller than the gap between two grey levels, and predicting it means knowing that grid exactly.
# $L_\text{simple}$ sets every $w_t$ to 1, so the ε-network never learns that and pays for it in the
# bound (Ho et al. 2020; Nichol & Dhariwal 2021). A network trained **on the bound** does better. Ours outputs, for every pixel, **logits over the 17 levels of $x_0$**:
# $\hat x_0$ is their mean, and the decoder at $t = 0$ is that categorical itself. The logits are
# added to $\log q(x_t\mid x_0 = v_k)$, the per-pixel posterior the noise alone implies, so that at
# small $t$, where $x_t$ pins $x_0$ down, the network starts right. Training draws one term per image,
# at a $t$ chosen with probability proportional to the root mean square of that term over the recent
# past (importance sampling, Nichol & Dhariwal 2021), and divides by that probability.
#
# Written out for $t \ge 1$ and checked against the package's term, on the same noise:

# %%
ddpm, hist_ddpm = load_model("ddpm-digits", rt)  # x0-logits over 17 levels, trained on the bound with importance-sampled t


def my_kl_term(model, x0, t, noise):
    """L_{t-1} for t >= 1 (index), one draw of x_t per image: (B,) nats."""
    ab = model.schedule.alphas_cumprod[t].view(-1, 1, 1, 1)
    ab_prev = model.schedule.alphas_cumprod[t - 1].view(-1, 1, 1, 1)
    beta = model.schedule.betas[t].view(-1, 1, 1, 1)  # not 1 - ab / ab_prev: in float32 that ratio of two numbers near 1 loses digits
    x_t = ab.sqrt() * x0 + (1 - ab).sqrt() * noise
    x0_hat = model.x0_mean(model.network_output(x_t, t))  # the mean of the predicted categorical
    coef_x0 = ab_prev.sqrt() * beta / (1 - ab)  # how the posterior mean depends on x0
    var = (1 - ab_prev) / (1 - ab) * beta
    return ((coef_x0 * (x0 - x0_hat)) ** 2 / (2 * var)).flatten(1).sum(1)


x0_b = digits.test.x[:32].to(dev) * 2 - 1
t_b = torch.randint(1, T, (32,), generator=torch.Generator().manual_seed(0)).to(dev)
noise_b = torch.randn(x0_b.shape, generator=torch.Generator().manual_seed(1)).to(dev)
with torch.no_grad():
    assert torch.allclose(my_kl_term(ddpm, x0_b, t_b, noise_b), ddpm.vlb_term(x0_b, t_b, noise=noise_b), rtol=1e-4, atol=1e-5)

# %% [markdown]
# **Do the terms add up?** On a chain we can integrate exactly, one pixel with 3 levels and $T = 2$,
# three checks (with random weights: they hold for any network): $p(x_0)$ by numerical integration
# over $(x_1, x_2)$ sums to 1 over the 3 levels (the model is normalised); the closed-form terms of
# the bound agree with $\mathbb E_q[\log p(x_{0:T}) - \log q(x_{1:T}\mid x_0)]$ estimated by sampling
# whole chains; and the bound lies below $\log p(x_0)$.

# %%
torch.manual_seed(0)
tiny = DDPM(DDPMConfig(shape=(1, 1, 1), num_levels=3, timesteps=2, schedule="linear", prediction="x0", objective="vlb", width=8, depth=1))
with torch.no_grad():
    for p in tiny.net.parameters():
        p.normal_(0, 0.2)
tiny.eval()
x_tiny = torch.tensor([0.0, 0.5, 1.0]).view(3, 1, 1, 1)
log_px_tiny = log_px_by_quadrature(tiny, x_tiny)
n_rep = 3000
with torch.no_grad():
    closed = tiny.log_prob(x_tiny.repeat(n_rep, 1, 1, 1), generator=torch.Generator().manual_seed(0)).double().view(n_rep, 3)
chains = elbo_by_sampling_the_chain(tiny, x_tiny.repeat(n_rep, 1, 1, 1), draws=1, generator=torch.Generator().manual_seed(1)).double().view(n_rep, 3)
se = (closed.var(0) / n_rep + chains.var(0) / n_rep).sqrt()
print(f"sum of p(x) over the 3 levels: {log_px_tiny.exp().sum():.5f}")
print(f"bound, closed-form terms: {closed.mean(0).numpy().round(3)}; by sampling chains: {chains.mean(0).numpy().round(3)} (± {se.numpy().round(3)})")
print(f"log p(x) exactly:         {log_px_tiny.numpy().round(3)}")
assert abs(log_px_tiny.exp().sum().item() - 1) < 1e-3
assert bool(((closed.mean(0) - chains.mean(0)).abs() < 4 * se + 1e-3).all()) and bool((closed.mean(0) < log_px_tiny).all())

# %% [markdown]
# Now the trained bound model on the 447 test digits, with **every one of the 1,000 terms**
# evaluated (one draw of $x_t$ each), and where along $t$ the nats are spent:

# %%
print(f"bound model: trained {len(hist_ddpm.epoch)} epochs, best validation bound {hist_ddpm.best_val_loss:.2f} nats at epoch {hist_ddpm.best_epoch}")
n_test = rt.pick(smoke=50, laptop=447, full=447)  # the whole test split but at smoke
g = torch.Generator().manual_seed(0)
with Stopwatch() as sw_bound:
    prior_term, terms = ddpm.bound_terms(digits.test.x[:n_test].to(dev), generator=g)  # (n_test,), (T, n_test)
nll_ddpm = (prior_term + terms.sum(0)).mean().item()
print(f"test bound: {nll_ddpm:.2f} nats per image (L_T {prior_term.mean():.3f}, L_0 {terms[0].mean():.2f}); "
      f"{T} terms x {n_test} images in {sw_bound.seconds:.0f} s")
assert terms.shape == (T, n_test) and bool((terms[1:] >= -1e-4).all()), "KL terms are non-negative"
rt.record("test_bound_ddpm_digits", nll_ddpm, "nats", at_most=97.0, budget="laptop")

# %%
fig, ax = plt.subplots(figsize=(6.5, 3.3))
per_t = terms.mean(1).cpu()
ax.plot(torch.arange(T), per_t.cumsum(0))
ax.set(xscale="symlog", xlabel="timestep t (index)", ylabel="nats (cumulative over t)", title="Where the bound's nats are spent")
rt.save_figure(fig, "bound_per_t")

# %% [markdown]
# **Linear or cosine?** The same bound model, trained the same way with the linear schedule instead.
# Section 1 showed that the linear schedule spends its last few hundred steps on noise; the bound
# (validation split, the 32-term estimate that early stopping uses) says what that costs.

# %%
lin_model = DDPM(replace(ddpm.cfg, schedule="linear")).to(dev)
hist_lin = rt.fit_or_load(lin_model, digits.train.loader(100, seed=rt.seed), digits.val.loader(350, shuffle=False),
                          PRESETS["ddpm-digits"].train(rt.budget), name="linear-schedule")
print(f"best validation bound: cosine {hist_ddpm.best_val_loss:.2f} nats, linear {hist_lin.best_val_loss:.2f} nats")
rt.record("val_bound_cosine_schedule", hist_ddpm.best_val_loss, "nats")
rt.record("val_bound_linear_schedule", hist_lin.best_val_loss, "nats")
rt.record("val_bound_linear_minus_cosine", hist_lin.best_val_loss - hist_ddpm.best_val_loss, "nats", at_least=1.0, budget="laptop")

# %% [markdown]
# **How does it compare?** On the same split, in the same unit (nats of the 17-level test digits):
#
# | model | nats | what it is |
# |---|---|---|
# | uniform over 17 levels | 181.3 | $64 \ln 17$ |
# | independent pixels | computed below | exact |
# | VAE, notebook 04 (laptop budget) | 95.97 | −ELBO; 94.35 importance-weighted ($k$ = 1000) |
# | DDPM trained on the bound (here) | printed above | bound over all 1,000 terms |
# | an autoregressive model (Tomczak's intro_dgm ARM) | 86.3 | exact NLL |
# | Tomczak's intro_dgm diffusion example | 160.4 | a continuous −ELBO on data scaled to [−1, 1]: **not** a bound on the discrete data, so not comparable |
#
# A bound is an upper bound on the NLL: the model's true NLL is lower by an unknown gap, so a bound
# above another model's exact NLL does not prove it the worse model.

# %%
nll_indep = mean_nll(indep, digits.test.loader(447, shuffle=False))
g = torch.Generator().manual_seed(0)
n_eps = rt.pick(smoke=20, laptop=100, full=447)
prior_eps, terms_eps = eps_model.bound_terms(digits.test.x[:n_eps].to(dev), generator=g)
nll_eps = (prior_eps + terms_eps.sum(0)).mean().item()
print(f"independent pixels {nll_indep:.2f} | DDPM on the bound {nll_ddpm:.2f} | DDPM with the simple loss {nll_eps:.1f} "
      f"(first {n_eps} test digits; {terms_eps[:10].sum(0).mean():.1f} of it from t < 10)")
assert max(nll_ddpm, nll_indep) < 64 * math.log(17), "both beat the uniform distribution over the 17 levels"
assert nll_ddpm < nll_eps, "trained on the bound, the bound is better"
rt.record("test_bound_ddpm_eps_simple_loss", nll_eps, "nats")

# %% [markdown]
# **Samples of the two objectives.** The bound model samples with the same chain (its last step draws
# from the categorical decoder). Its bound is far better; are its samples? On CIFAR-10, Ho et al.
# (2020) found that the simple loss gave the better samples and the bound the better likelihood.
# On our tiny digits, at the laptop budget, the two FDs come out close (the bound model's a little
# lower): what the bound buys shows in nats, not in pictures.

# %%
samples_vlb = ddpm.sample(N_FD, torch.Generator().manual_seed(0))
fd_vlb = fd(samples_vlb)
print(f"simple loss: FD {fd_anc.fd:.2f} | trained on the bound: FD {fd_vlb.fd:.2f} (real-vs-real floor {fd_vlb.floor:.2f})")
fig = image_rows({"simple loss": samples_anc[:16], "bound": samples_vlb[:16]}, nrow=16, title="Same chain, two objectives")
rt.save_figure(fig, "objectives_samples")
rt.record("fd_ddpm_vlb_ancestral", fd_vlb.fd, "FD (course features)")

# %% [markdown]
# **Likelihood against samples.** The bound model above stopped at its best validation bound. Train
# the very same network (same seed, same batches) on the bound for longer, without stopping: with
# 1,000 training images it starts to **memorise** them. We follow the validation bound, the FD of the
# samples at the end, and how close each sample is to its nearest training image, against the same
# distance for real test digits.

# %%
long_model = DDPM(replace(ddpm.cfg, loss_terms=8)).to(dev)  # the same network; a cheaper validation estimate (this run is about the trend)
long_cfg = replace(PRESETS["ddpm-digits"].train(rt.budget), patience=None, epochs=rt.pick(smoke=4, laptop=200, full=600))
with Stopwatch() as sw_long:
    hist_long = rt.fit_or_load(long_model, digits.train.loader(100, seed=rt.seed), digits.val.loader(350, shuffle=False), long_cfg, name="memorise")
samples_long = long_model.sample(N_FD, torch.Generator().manual_seed(0))
fd_long = fd(samples_long)
nn_dist = {name: nearest_neighbour_distance(s.flatten(1).to(dev), digits.train.x.flatten(1).to(dev))[0].mean().item()
           for name, s in (("real test digits", digits.test.x[:N_FD]), ("early-stopped", samples_vlb), ("trained on", samples_long))}
print(f"{len(hist_long.epoch)} epochs in {sw_long.seconds:.0f} s: last validation bound {hist_long.val_loss[-1]:.1f} nats, "
      f"FD {fd_long.fd:.2f} (floor {fd_long.floor:.2f})")
print("mean distance to the nearest training image: " + ", ".join(f"{k} {v:.2f}" for k, v in nn_dist.items()))

# %%
fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.4), gridspec_kw={"width_ratios": [1.6, 1]})
a1.plot(hist_long.epoch, hist_long.val_loss, label="trained on (no early stopping)")
a1.axvline(hist_ddpm.best_epoch, c="k", ls="--", lw=0.8, label="early stopping (the bound model)")
a1.set(xlabel="epoch", ylabel="validation bound (nats)", title=f"Validation bound; FD {fd_vlb.fd:.1f} early-stopped, {fd_long.fd:.1f} trained on")
a1.legend(fontsize=8)
image_grid(samples_long[:36], nrow=6, ax=a2, title="samples after training on")
rt.save_figure(fig, "likelihood_vs_samples")
rt.record("val_bound_memorising_run_end", hist_long.val_loss[-1], "nats")
rt.record("fd_memorising_run_end", fd_long.fd, "FD (course features)")
rt.record("val_bound_rise_when_memorising", hist_long.val_loss[-1] - min(hist_long.val_loss), "nats", at_least=5.0, budget="laptop")
rt.record("fd_drop_when_memorising", fd_vlb.fd - fd_long.fd, "FD (course features)", at_least=0.0, budget="laptop")
rt.record("nn_distance_trained_on_minus_early_stopped", nn_dist["trained on"] - nn_dist["early-stopped"], "", at_most=0.0, budget="laptop")

# %% [markdown]
# The validation bound turns up once the network fits its 1,000 training images better than new
# ones, and keeps rising; the samples meanwhile move closer to the training images and score a better
# FD. They are still not copies (compare their distance to the nearest training image with that of
# real test digits, which the model never saw): the bound notices overfitting long before the
# samples show it. Which model is "better" depends on what you measure: notebook 09 in miniature.

# %% [markdown]
# ## 4. DDIM: fewer steps, no noise
#
# Song, Meng & Ermon (2021) noticed that the simple loss only ever sees the marginals
# $q(x_t\mid x_0)$, so any process with the same marginals can use the same network. Their family of
# reverse steps, from $t$ to an earlier $t'$ (not necessarily $t-1$), is
# $$x_{t'} = \sqrt{\bar\alpha_{t'}}\,\hat x_0 + \sqrt{1-\bar\alpha_{t'}-\sigma^2}\;\hat\varepsilon + \sigma z,\qquad
# \sigma = \eta\sqrt{\tfrac{1-\bar\alpha_{t'}}{1-\bar\alpha_t}}\sqrt{1-\tfrac{\bar\alpha_t}{\bar\alpha_{t'}}} .$$
# With $\eta = 1$ and every step this is exactly DDPM's ancestral step; with $\eta = 0$ it is
# **deterministic**: the noise $x_T$ alone decides the image, and the steps can be large.
# In the variables $\bar x = x/\sqrt{\bar\alpha}$ and $\sigma_t = \sqrt{(1-\bar\alpha_t)/\bar\alpha_t}$,
# the $\eta = 0$ step is exactly an Euler step of the ODE $d\bar x/d\sigma = \varepsilon_\theta$: the
# **probability-flow ODE** of Song et al. (2021, score SDE), whose solutions carry $\mathcal N(0, I)$ to
# the data distribution, like a continuous normalising flow (notebook 05). Running it backwards
# **encodes** an image into its noise.
#
# **Exercise (implement and check).** One deterministic DDIM step ($\eta = 0$), from the noise estimate.

# %% tags=["exercise"]
def my_ddim_step(eps: torch.Tensor, x_t: torch.Tensor, ab_t: float, ab_prev: float) -> torch.Tensor:
    """x_t and eps: (B, C, H, W); ab_t = abar at t, ab_prev = abar at the earlier t' (larger). Returns x_{t'}."""
    raise NotImplementedError("your code here")


# %% jupyter={"source_hidden": true} tags=["solution"]
def my_ddim_step(eps: torch.Tensor, x_t: torch.Tensor, ab_t: float, ab_prev: float) -> torch.Tensor:
    x0_hat = (x_t - math.sqrt(1 - ab_t) * eps) / math.sqrt(ab_t)
    return math.sqrt(ab_prev) * x0_hat + math.sqrt(1 - ab_prev) * eps


# %%
def package_ddim_step(eps, x_t, ab_t, ab_prev):  # the package's scheduler on a two-step schedule with these abars
    ddim = DDIMScheduler(NoiseSchedule(torch.tensor([ab_prev, ab_t])), clip_sample=False)
    return ddim.step(eps, 1, x_t).prev_sample


g = torch.Generator().manual_seed(2)
cases = [(torch.randn(3, 1, 8, 8, generator=g), torch.randn(3, 1, 8, 8, generator=g), a, b) for a, b in ((0.3, 0.5), (0.01, 0.9), (0.7, 0.72))]
check("one DDIM step", my_ddim_step, package_ddim_step, cases)

# %% [markdown]
# Three exact checks on the trained ε-model: with $\eta = 0$ the same noise gives the same image
# and the sampler draws no random numbers after $x_T$; with $\eta = 1$ on every one of the $T$ steps DDIM *is*
# the ancestral sampler (same noise, same images); and encoding test digits into noise and decoding
# them back recovers them better the more steps the ODE solver takes. (We encode up to the last
# timestep with 0.1 % of the signal variance left. Beyond it the cosine schedule's $\bar\alpha_t$ falls
# to about $10^{-9}$, and decoding computes $\hat x_0$ by dividing by $\sqrt{\bar\alpha_t}$: any error in
# $\varepsilon_\theta$ is multiplied by tens of thousands. The sampler survives this by clipping $\hat x_0$
# to $[-1, 1]$, which an exact inverse cannot do.)

# %%
a = eps_model.sample(8, torch.Generator().manual_seed(5), sampler="ddim", steps=50)
b = eps_model.sample(8, torch.Generator().manual_seed(5), sampler="ddim", steps=50)
c = eps_model.sample(8, torch.Generator().manual_seed(6), sampler="ddim", steps=50)
g_used, g_noise_only = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
eps_model.sample(8, g_used, sampler="ddim", steps=50)
torch.randn((8, 1, 8, 8), generator=g_noise_only)  # what drawing x_T alone consumes
assert torch.equal(a, b) and not torch.equal(a, c), "eta = 0: the noise alone decides the image"
assert torch.equal(g_used.get_state(), g_noise_only.get_state()), "DDIM with eta = 0 draws nothing after x_T"
ddim1 = eps_model.sample(8, torch.Generator().manual_seed(7), sampler="ddim", eta=1.0)
anc = eps_model.sample(8, torch.Generator().manual_seed(7), sampler="ancestral")
print(f"eta = 1, all steps vs ancestral: {int((ddim1 != anc).sum())} of {anc.numel()} pixels differ")
assert (ddim1 != anc).float().mean() < 0.01  # equal up to float rounding at a level boundary

# %%
x_test = digits.test.x[:50].to(dev)
t_top = int((eps_model.schedule.alphas_cumprod >= 1e-3).sum()) - 1  # the last timestep with 0.1 % of the signal variance
step_counts = rt.pick(smoke=[5, 20, 50], laptop=[5, 10, 20, 50, 100, 200], full=[5, 10, 20, 50, 100, 200, 500])
recon = {s: eps_model.ddim_decode(eps_model.ddim_encode(x_test, s, t_max=t_top), s, t_max=t_top) for s in step_counts}
recon_err = {s: (r - x_test).abs().mean().item() for s, r in recon.items()}
print(f"encoded to t = {t_top}; mean |decode(encode(x)) - x| per pixel: " + ", ".join(f"{s} steps {e:.4f}" for s, e in recon_err.items()))
fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3), gridspec_kw={"width_ratios": [1, 1.6]})
a1.loglog(list(recon_err), list(recon_err.values()), "o-")
a1.set(xlabel="DDIM steps (each way)", ylabel="reconstruction error", title="Encode, then decode")
image_grid(torch.cat([x_test[:8]] + [recon[s][:8].clamp(0, 1) for s in step_counts]).cpu(), nrow=8, ax=a2,
           title=f"top: test digits; then decoded after {step_counts} steps")
rt.save_figure(fig, "ddim_inversion")
errs = list(recon_err.values())
assert errs[-1] < errs[0] / 2 and all(e2 < e1 * 1.1 for e1, e2 in zip(errs, errs[1:])), "the error falls with the number of steps"

# %% [markdown]
# **Steps, quality and time.** FD (course features) at $N = 350$ against the number of steps, for
# DDIM ($\eta = 0$) and for the ancestral sampler on the same respaced timesteps, with the seconds each took.

# %%
ddim_steps = rt.pick(smoke=[5, 20, 50], laptop=[5, 10, 20, 50, 100, 250], full=[5, 10, 20, 50, 100, 250, 1000])
curve = {}
for sampler in ("ddim", "ancestral"):
    for s in ddim_steps:
        with Stopwatch() as sw:
            out = eps_model.sample(N_FD, torch.Generator().manual_seed(0), sampler=sampler, steps=s)
        curve[sampler, s] = (fd(out).fd, sw.seconds)
curve["ancestral", T] = (fd_anc.fd, sw_anc.seconds)
print(f"FD (course features) at N = {N_FD}; real-vs-real floor {fd_anc.floor:.2f}")
for (sampler, s), (f, sec) in sorted(curve.items()):
    print(f"{sampler:9s} {s:5d} steps: FD {f:6.2f} in {sec:5.2f} s")
ratio50 = curve["ddim", 50][0] / fd_anc.fd
print(f"DDIM with 50 steps / ancestral with {T}: FD ratio {ratio50:.2f} (floor {fd_anc.floor:.2f})")
rt.record("fd_ratio_ddim50_over_ancestral1000", ratio50, "x", at_most=1.5, budget="laptop")

# %%
fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.3))
for sampler in ("ddim", "ancestral"):
    pts = sorted((s, f, sec) for (sm, s), (f, sec) in curve.items() if sm == sampler)
    a1.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=sampler)
    a2.plot([p[2] for p in pts], [p[1] for p in pts], "o-", label=sampler)
for ax in (a1, a2):
    ax.axhline(fd_anc.floor, c="k", ls=":", lw=0.8, label="real-vs-real floor")
    ax.set_xscale("log")
    ax.set_ylabel("FD (course features), N = 350")
a1.set(xlabel="sampling steps", title="DDIM needs far fewer steps")
a2.set(xlabel="seconds for 350 samples", title="... and so far less time")
a1.legend()
rt.save_figure(fig, "ddim_steps")

# %% [markdown]
# ## 5. The noise is the score
#
# Tweedie's formula: for $x_t = \sqrt{\bar\alpha_t}x_0 + \sigma_t\varepsilon$ with $\sigma_t = \sqrt{1-\bar\alpha_t}$,
# the best prediction of the noise (the minimiser of $L_\text{simple}$ at each $t$) is
# $$\mathbb E[\varepsilon \mid x_t] = -\sigma_t\,\nabla_{x_t}\log p_t(x_t),$$
# where $p_t$ is the distribution of $x_t$ (Vincent 2011; Song et al. 2021). So a trained
# $\varepsilon_\theta$ **is** a score model, $s_\theta(x, t) = -\varepsilon_\theta(x, t)/\sigma_t$, at every noise
# level at once: the noise-conditional score network of notebook 07, and Langevin dynamics with it
# is another sampler. On Gaussian data $x_0 \sim \mathcal N(\mu, \Sigma)$ everything is exact:
# $p_t = \mathcal N(\sqrt{\bar\alpha_t}\mu,\ \bar\alpha_t\Sigma + \sigma_t^2 I)$, and $\mathbb E[\varepsilon\mid x_t]$ follows
# from the joint Gaussian of $(\varepsilon, x_t)$. First the identity, in closed form, with a check by
# sampling that this closed form really is the conditional mean (the best predictor leaves a residual
# $\varepsilon - \mathbb E[\varepsilon\mid x_t]$ uncorrelated with $x_t$); then a network trained with the
# simple loss against it.

# %%
gauss = GaussianData(torch.tensor([1.0, -0.5]), torch.tensor([[0.30, 0.18], [0.18, 0.20]]))
sch = schedules["cosine"]  # T_DEMO = 1000 steps
x_probe = gauss.sample(500, torch.Generator().manual_seed(0))
for t in (0, 100, 400, 900):
    sigma = (1 - sch.alphas_cumprod[t].double()).sqrt()
    x_t = sch.q_sample(x_probe, t, torch.randn(x_probe.shape, generator=torch.Generator().manual_seed(t)))
    assert torch.allclose(gauss.posterior_mean_eps(x_t, sch, t), -sigma * gauss.score(x_t, sch, t), atol=1e-10)
print("E[eps | x_t] = -sigma_t * grad log p_t(x_t): exact at t = 0, 100, 400, 900")
g, n_mc, t = torch.Generator().manual_seed(7), 200_000, 400
ab = sch.alphas_cumprod[t].double()
x0_mc = gauss.sample(n_mc, g).double()
eps_mc = torch.randn(x0_mc.shape, generator=g, dtype=torch.float64)
x_t = ab.sqrt() * x0_mc + (1 - ab).sqrt() * eps_mc  # 200,000 draws of (eps, x_t)
resid, centred = eps_mc - gauss.posterior_mean_eps(x_t, sch, t), x_t - x_t.mean(0)
cross = resid.T @ centred / n_mc  # E[residual x_t^T]: 0 for the conditional mean
se = ((resid**2).T @ centred**2 / n_mc).sqrt() / math.sqrt(n_mc)
print(f"t = {t}: E[(eps - E[eps | x_t]) x_t^T] by sampling, in standard errors: {(cross / se).abs().max():.1f} at most")
assert bool(((cross / se).abs() < 5).all())

# %%
torch.manual_seed(0)
score_net = ResidualMLP(2, 2, width=64, depth=2).to(dev)
sch_dev = NoiseSchedule.cosine(T_DEMO).to(dev)
n_steps = rt.pick(smoke=400, laptop=2000, full=4000)
opt = torch.optim.Adam(score_net.parameters(), lr=2e-3)
decay = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1 - s / n_steps)  # the learning rate falls linearly to 0
g = torch.Generator().manual_seed(1)
for step in range(n_steps):  # the simple loss on Gaussian data, written out
    x0_g = gauss.sample(256, g).to(dev)
    t_g = torch.randint(0, T_DEMO, (256,), generator=g).to(dev)
    noise_g = torch.randn(x0_g.shape, generator=g).to(dev)
    loss = ((score_net(sch_dev.q_sample(x0_g, t_g, noise_g), (t_g + 1) / T_DEMO) - noise_g) ** 2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    decay.step()
rel_err = {}
with torch.no_grad():
    for t in (50, 200, 500, 900):
        x_t = sch.q_sample(x_probe, t, torch.randn(x_probe.shape, generator=torch.Generator().manual_seed(t))).to(dev)
        eps_true = gauss.posterior_mean_eps(x_t.cpu(), sch, t).float()
        eps_net = score_net(x_t, torch.full((500,), (t + 1) / T_DEMO, device=dev)).cpu()
        rel_err[t] = ((eps_net - eps_true).norm() / eps_true.norm()).item()
print("relative error of the trained eps against -sigma_t * score: " + ", ".join(f"t={t}: {e:.3f}" for t, e in rel_err.items()))
assert max(rel_err.values()) < 0.5, "the trained noise predictor points along the score (predicting 0 would score 1)"
rt.record("score_rel_error_max", max(rel_err.values()), "", at_most=0.15, budget="laptop")

# %% [markdown]
# ## 6. Classifier-free guidance
#
# To draw a chosen digit, give the label $y$ to the network: $\varepsilon_\theta(x_t, t, y)$. Ho & Salimans
# (2022) train one network for both $p(x\mid y)$ and $p(x)$ by replacing the label with a **null label**
# $\varnothing$ 10 % of the time, and sample with
# $$\tilde\varepsilon = (1 + w)\,\varepsilon_\theta(x_t, t, y) - w\,\varepsilon_\theta(x_t, t, \varnothing).$$
# By section 5 this is the score of $p_t(x\mid y)\,p_t(y\mid x)^{w}$: $w > 0$ pushes samples towards
# images the implicit classifier finds typical of $y$, and away from variety. We measure both sides:
# the **hit rate** (how often the course's digit classifier reads the requested digit) and the FD of
# the 350 samples, 35 of each digit, against the test split. Ho & Salimans report the same shape on
# ImageNet: a little guidance improves the FID, more trades it for class fidelity.

# %%
cfg_model = DDPM(replace(eps_model.cfg, num_classes=10, cond_drop=0.1)).to(dev)  # the same network, told the label
with Stopwatch() as sw_cfg:
    rt.fit_or_load(cfg_model, digits.train.loader(100, seed=rt.seed, labels=True), digits.val.loader(350, shuffle=False, labels=True),
                   PRESETS["ddpm-eps-digits"].train(rt.budget), name="guidance")
weights = rt.pick(smoke=[0.0, 1.0, 3.0], laptop=[0.0, 0.5, 1.0, 2.0, 3.0, 5.0], full=[0.0, 0.5, 1.0, 2.0, 3.0, 5.0, 8.0])
wanted = torch.arange(10).repeat(N_FD // 10)  # 35 of each digit
sweep = {}
for w in weights:
    s = cfg_model.sample(N_FD, torch.Generator().manual_seed(0), y=wanted.to(dev), sampler="ddim", steps=50, guidance=w)
    hit = (class_probabilities(digit_net, s).argmax(1).cpu() == wanted).float().mean().item()
    sweep[w] = (hit, fd(s).fd)
real_hit = (class_probabilities(digit_net, digits.test.x.to(dev)).argmax(1).cpu() == digits.test.y).float().mean().item()
print(f"FD (course features) at N = {N_FD}; real-vs-real floor {fd_anc.floor:.2f}")
for w, (hit, f) in sweep.items():
    print(f"w = {w:3.1f}: hit rate {hit:.1%}, FD {f:6.2f}")
print(f"(trained in {sw_cfg.seconds:.0f} s; the classifier reads {real_hit:.1%} of the real test digits correctly)")

# %%
fig, a1 = plt.subplots(figsize=(6, 3.4))
a1.plot(list(sweep), [h for h, _ in sweep.values()], "o-", c="C0", label="hit rate")
a1.axhline(real_hit, c="C0", ls=":", lw=0.8, label="hit rate on real digits")
a1.set(xlabel="guidance weight w", ylabel="hit rate", title="Guidance: the hit rate rises; the FD has a best weight")
a2 = a1.twinx()
a2.plot(list(sweep), [f for _, f in sweep.values()], "s--", c="C1", label="FD")
a2.axhline(fd_anc.floor, c="C1", ls=":", lw=0.8)  # the FD's real-vs-real floor
a2.set_ylabel("FD (course features), N = 350", color="C1")
a2.grid(False)
a1.legend(loc="center right", fontsize=8)
rt.save_figure(fig, "guidance_tradeoff")
reached = [w for w, (h, _) in sweep.items() if h >= 0.95]
best_w = reached[0] if reached else max(sweep, key=lambda w: sweep[w][0])
print(f"{'first weight with a hit rate of at least 95 %' if reached else 'no weight reaches 95 %; the best'}: w = {best_w} "
      f"(hit rate {sweep[best_w][0]:.1%}, FD {sweep[best_w][1]:.2f} against {sweep[0.0][1]:.2f} unguided)")
assert max(h for h, _ in sweep.values()) > sweep[0.0][0] - 0.02, "guidance does not lower the hit rate"
rt.record("guidance_best_hit_rate", max(h for h, _ in sweep.values()), "fraction", at_least=0.95, budget="laptop")
rt.record("guidance_fd_at_best_weight", sweep[best_w][1], "FD (course features)")
rt.record("guidance_fd_unguided", sweep[0.0][1], "FD (course features)")
rt.record("guidance_fd_largest_weight", sweep[weights[-1]][1], "FD (course features)")
rt.record("guidance_fd_best", min(f for _, f in sweep.values()), "FD (course features)")
rt.record("guidance_fd_best_minus_unguided", min(f for _, f in sweep.values()) - sweep[0.0][1], "FD (course features)", at_most=0.0, budget="laptop")
rt.record("guidance_fd_largest_weight_minus_best", sweep[weights[-1]][1] - min(f for _, f in sweep.values()), "FD (course features)",
          at_least=2.0, budget="laptop")

# %% [markdown]
# **Widget: the guidance weight.** Each column is a requested digit; slide $w$ from 0 (plain
# conditional samples) to large values. What happens to the variety within a column? The noise is
# the same at every weight, so you see the same "seeds" pushed towards their class.

# %%
present(partial(render_guidance, cfg_model, classifier=digit_net), weight=(0.0, 8.0, 0.5));

# %%
fig = image_rows({f"w = {w:g}": guided_grid(cfg_model, w, per_class=1) for w in weights}, nrow=10,
                 title="One sample per digit 0-9 (columns) from the same noise, at each guidance weight")
rt.save_figure(fig, "guidance_grid")

# %% [markdown]
# ## 7. Flow matching and rectified flow
#
# Skip the Markov chain altogether: connect each data point to a noise sample by a straight line,
# $x_s = (1-s)\,x_0 + s\,\varepsilon$ for $s \in [0, 1]$, whose velocity is $dx_s/ds = \varepsilon - x_0$. Regress it:
# $$L_\text{FM} = \mathbb E_{s, x_0, \varepsilon}\big\|v_\theta(x_s, s) - (\varepsilon - x_0)\big\|^2 .$$
# The minimiser is $v^*(x, s) = \mathbb E[\varepsilon - x_0\mid x_s = x]$, a velocity field whose ODE
# $dx/ds = v^*$ moves $\mathcal N(0, I)$ at $s = 1$ exactly onto the data at $s = 0$ (Lipman et al.
# 2023; Liu et al. 2023, who call it rectified flow). Sampling integrates the ODE backwards with
# Euler steps, $x_{s'} = x_s + (s' - s)\,v_\theta(x_s, s)$. It is a continuous normalising flow (05)
# trained without ever solving its ODE, and, like DDIM, a deterministic map from noise to data.
# Same network, same training budget as the ε-model; the loss, written out and checked:

# %%
fm, hist_fm = load_model("flow-matching-digits", rt)


def my_fm_loss(model, x, s, noise):
    x0 = x * 2 - 1
    x_s = (1 - s.view(-1, 1, 1, 1)) * x0 + s.view(-1, 1, 1, 1) * noise
    return ((model.velocity(x_s, s) - (noise - x0)) ** 2).mean()


torch.manual_seed(2)
s_b = torch.rand(64, device=dev)
noise_b = torch.randn_like(xb)
torch.manual_seed(2)
assert torch.allclose(my_fm_loss(fm, xb, s_b, noise_b), fm.loss(xb))


@torch.no_grad()
def my_euler_sample(model, n, steps, generator):
    x = torch.randn((n, 1, 8, 8), generator=generator).to(dev)
    s = torch.linspace(1, 0, steps + 1).tolist()  # flow time, from noise (1) to data (0)
    for k in range(steps):
        x = x + (s[k + 1] - s[k]) * model.velocity(x, s[k])
    return model.to_images(x)


assert torch.equal(my_euler_sample(fm, 16, 10, torch.Generator().manual_seed(4)), fm.sample(16, torch.Generator().manual_seed(4), steps=10))

# %%
fm_curve = {}
for s in ddim_steps:
    with Stopwatch() as sw:
        out = fm.sample(N_FD, torch.Generator().manual_seed(0), steps=s)
    fm_curve[s] = (fd(out).fd, sw.seconds)
fig, ax = plt.subplots(figsize=(6, 3.4))
ax.plot(ddim_steps, [curve["ddim", s][0] for s in ddim_steps], "o-", label="DDPM ε-model, DDIM (η = 0)")
ax.plot(ddim_steps, [fm_curve[s][0] for s in ddim_steps], "s-", label="flow matching, Euler")
ax.axhline(fd_anc.floor, c="k", ls=":", lw=0.8, label="real-vs-real floor")
ax.set(xscale="log", xlabel="steps (network calls)", ylabel="FD (course features), N = 350", title="Two deterministic samplers, same network and budget")
ax.legend(fontsize=8)
rt.save_figure(fig, "flow_matching_vs_ddim")
print(f"FD (course features) at N = {N_FD}; real-vs-real floor {fd_anc.floor:.2f}")
for s in ddim_steps:
    print(f"{s:4d} steps: DDIM FD {curve['ddim', s][0]:6.2f} | flow matching (Euler) FD {fm_curve[s][0]:6.2f}")
fig = image_rows({"flow matching, 50 Euler steps": fm.sample(16, torch.Generator().manual_seed(0), steps=50),
                  "DDPM ε, 50 DDIM steps": eps_model.sample(16, torch.Generator().manual_seed(0), sampler="ddim", steps=50)}, nrow=16)
rt.save_figure(fig, "flow_matching_samples")
rt.record("fd_flow_matching_euler50", fm_curve[50][0], "FD (course features)")
rt.record("fd_ddim50", curve["ddim", 50][0], "FD (course features)")
rt.record("fd_flow_matching_minus_ddim_50_steps", fm_curve[50][0] - curve["ddim", 50][0], "FD (course features)", at_most=0.0, budget="laptop")

# %% [markdown]
# Compare the two curves at few steps (how well each ODE survives coarse steps) and at many (how good
# each trained network is once discretisation no longer matters). Where the gap stays open at 250
# steps, it is in the networks, not in the samplers: one difference is that an ε-network must be
# divided by $\sqrt{\bar\alpha_t}$ to give $\hat x_0$, which amplifies its errors at high noise, while the
# velocity $\varepsilon - x_0$ stays of order one everywhere.

# %% [markdown]
# **Larger images.** Everything above carries over to 28x28 digits with a U-Net in place of the MLP
# (`course_utils.nn.unet`), but on a CPU one epoch of such a network over a few thousand images takes
# minutes and sampling 1,000 steps more still, so this part runs at the `full` budget (a GPU) only.

# %%
if rt.budget == "full":  # eps-prediction, a U-Net, the 256 grey levels of MNIST-5k
    big = DDPM(DDPMConfig(shape=(1, 28, 28), num_levels=256, schedule="cosine", network="unet", channels=(64, 128, 256), blocks=2, dropout=0.1)).to(dev)
    grey = load_mnist5k(binarized=False)
    rt.fit_or_load(big, grey.train.loader(128, seed=rt.seed), grey.val.loader(500, shuffle=False),
                   TrainConfig(epochs=200, lr=5e-4, warmup_steps=1000, schedule="cosine", ema_decay=0.9995, progress=False), name="ddpm-mnist28")
    big_samples = big.sample(500, torch.Generator().manual_seed(0), sampler="ddim", steps=100)
    big_fd = fd_with_floor(big_samples, "mnist5k")
    print(big_fd)
    rt.save_figure(image_grid(big_samples[:64].cpu(), nrow=16, title="DDPM on 28x28 MNIST (full budget), 100 DDIM steps"), "ddpm_mnist28")
    rt.record("fd_ddpm_mnist28_ddim100", big_fd.fd, "FD (course features)")
else:
    print(f"the 28x28 DDPM trains at the full budget only (this run: {rt.budget})")

# %% [markdown]
# ## 8. Discrete diffusion: masking pixels
#
# For discrete data, noise need not be Gaussian. In **masked** (absorbing-state) diffusion (Austin et
# al. 2021), each pixel of a binary image is replaced, independently, by a special **[MASK]** state:
# at time $t \in [0, 1]$ it is still itself with probability $\alpha_t = 1 - t$. At $t = 1$ everything is
# masked. The reverse process unmasks: the network sees a partly masked image $z_t$ and gives, for
# every masked pixel, a distribution $p_\theta(x_i\mid z_t)$ over its values; unmasked pixels are kept as
# they are. Going from $t$ to $s < t$, each masked pixel is revealed with probability $(t - s)/t$ and
# drawn from the network. Sahoo et al. (2024) derive the continuous-time bound
# $$\log p(x) \ge \mathbb E_{t\sim U(0,1)}\,\mathbb E_{z_t}\Big[\frac1t\sum_{i\ \text{masked}}\log p_\theta(x_i\mid z_t)\Big].$$
# Given that $m$ of the $D$ pixels are masked, $t$ integrates out,
# $\int_0^1 \tfrac1t\,t^m(1-t)^{D-m}dt = \tfrac{(m-1)!\,(D-m)!}{D!}$, and the bound becomes
# $$\text{ELBO}(x) = \sum_{m=1}^{D}\frac1m\,\mathbb E_{|M| = m}\Big[\sum_{i\in M}\log p_\theta(x_i\mid x_{\setminus M})\Big],$$
# the bound of an **order-agnostic autoregressive model** (notebook 03's MADE, trained over random
# orders): mask $m$ random pixels, predict them from the rest. Checked on a 3-pixel image, summing
# over all 7 masks from the formula, against the package's enumeration and its unbiased estimate:

# %%
torch.manual_seed(0)
tiny_md = MaskedDiffusion(MaskedDiffusionConfig(shape=(1, 1, 3), num_levels=2, channels=(4,)))
with torch.no_grad():
    for p in tiny_md.parameters():
        p.normal_(0, 0.5)
tiny_md.eval()
grid3 = torch.tensor(list(itertools.product([0.0, 1.0], repeat=3))).view(8, 1, 1, 3)


@torch.no_grad()
def my_masked_elbo(model, x):
    levels, D, total = x.long(), 3, torch.zeros(x.shape[0])
    for bits in itertools.product([False, True], repeat=D):
        m = sum(bits)
        if m == 0:
            continue
        mask = torch.tensor(bits).view(1, 1, 1, D)
        z = torch.where(mask, torch.full_like(levels, 2), levels)  # 2 = [MASK]
        logp = torch.log_softmax(model.logits(z), -1).gather(-1, levels.unsqueeze(-1)).squeeze(-1)
        total += math.factorial(m - 1) * math.factorial(D - m) / math.factorial(D) * (logp * mask).flatten(1).sum(1)
    return total


exact_md = my_masked_elbo(tiny_md, grid3)
with torch.no_grad():
    est_md = tiny_md.log_prob(grid3.repeat(4000, 1, 1, 1), draws=2, generator=torch.Generator().manual_seed(0)).view(4000, 8)
print(f"sum over the 8 images of exp(ELBO): {exact_md.exp().sum():.4f} (at most 1)")
assert torch.allclose(exact_md, tiny_md.elbo_by_enumeration(grid3), atol=1e-5)
assert bool(((est_md.mean(0) - exact_md).abs() < 4 * est_md.std(0) / math.sqrt(4000) + 1e-4).all()) and exact_md.exp().sum() < 1

# %% [markdown]
# The model for binarised MNIST (4,000 training images, 28x28): a small U-Net with three resolutions
# and no time input (the fraction of masked pixels tells it how far along the process is; Sahoo et
# al. 2024), trained on the bound with one number of masked pixels per image, spread evenly over the
# batch. We evaluate the bound on the 500 test images with several draws of $m$ per image.

# %%
mnist = load_mnist5k()  # statically binarised, 4000 / 500 / 500
with Stopwatch() as sw_md:
    md, hist_md = load_model("masked-diffusion-mnist", rt)
draws = rt.pick(smoke=2, laptop=16, full=64)
with Stopwatch() as sw_md_eval:
    nll_md = mean_nll(md, mnist.test.loader(500, shuffle=False), draws=draws, generator=torch.Generator().manual_seed(0))
nll_indep_m = mean_nll(IndependentPixels(IndependentConfig()).fit_closed_form(mnist.train.x), mnist.test.loader(500, shuffle=False))
print(f"masked diffusion: test -ELBO {nll_md:.2f} nats ({draws} draws per image, {sw_md_eval.seconds:.0f} s); trained in {sw_md.seconds:.0f} s")
print(f"independent pixels (exact): {nll_indep_m:.2f} nats; one fair coin per pixel: {784 * math.log(2):.1f} nats")
fig = training_curves(hist_md, title="Masked diffusion on binarised MNIST: the negative bound", ylabel="-ELBO (nats)")
rt.save_figure(fig, "masked_training")
assert nll_md < 784 * math.log(2), "better than a coin flip per pixel"
rt.record("masked_diffusion_minus_independent_pixels", nll_md - nll_indep_m, "nats", at_most=-100.0, budget="laptop")
rt.record("test_neg_elbo_masked_diffusion_mnist5k", nll_md, "nats", at_most=95.0, budget="laptop")

# %% [markdown]
# | binarised MNIST-5k, test, nats per image | |
# |---|---|
# | independent pixels | printed above (exact) |
# | MADE, one order / 8-mask ensemble (notebook 03, laptop) | 118.4 / 110.3 |
# | PixelCNN (notebook 03, laptop) | 97.5 |
# | masked diffusion (here) | printed above: a bound, so the true NLL is lower still |
#
# **Sampling in fewer steps.** With $S$ steps, about $D/S$ pixels are revealed at once, each drawn from
# its own conditional, independently of the others revealed in the same step: with one step the image
# is a draw of independent pixels; with many steps, about one pixel at a time, it is the
# autoregressive model in a random order, whose log-likelihood the bound bounds. Quality against the number of steps (FD at $N = 500$ against the binarised test
# split):

# %%
md_steps = rt.pick(smoke=[1, 4], laptop=[1, 4, 16, 64], full=[1, 4, 16, 64, 256, 784])
md_curve, md_rows = {}, {}
print(f"FD (course features, mnist28) at N = 500 against the binarised test split")
for s in md_steps:
    with Stopwatch() as sw:
        out = md.sample(500, torch.Generator().manual_seed(0), steps=s)
    md_curve[s] = (fd_with_floor(out, "mnist5k-binarized"), sw.seconds)
    md_rows[f"{s} step{'s' if s > 1 else ''}"] = out[:12]
    print(f"{s:4d} steps: FD {md_curve[s][0].fd:7.2f} (floor {md_curve[s][0].floor:.2f}) in {sw.seconds:5.1f} s")
fig = image_rows({"real (test)": mnist.test.x[:12], **md_rows}, nrow=12, title="Masked diffusion: more unmasking steps, more coherent digits")
rt.save_figure(fig, "masked_samples")
fds_md = [md_curve[s][0].fd for s in md_steps]
assert fds_md[-1] < fds_md[0], "more steps, better samples"
rt.record("fd_masked_diffusion_most_steps", fds_md[-1], "FD (course features)")
rt.record("fd_masked_diffusion_one_step", fds_md[0], "FD (course features)")
rt.record("fd_floor_mnist5k_binarized", md_curve[md_steps[-1]][0].floor, "FD (course features)")

# %% [markdown]
# Look at the rows: with many steps the samples are pen strokes in the shapes of digits, many of
# them readable, yet their FD stays far above the floor, while the bound already beats PixelCNN's
# exact NLL. A good likelihood does not make good samples: the theme of notebook 09.

# %% [markdown]
# ## Bad input and failure
# Mistakes get a sentence that says what to fix.

# %%
mistakes = {
    "a timestep out of range": lambda: eps_model.schedule.q_sample(xb, torch.full((64,), T, device=dev), xb),
    "a schedule whose abar rises": lambda: NoiseSchedule(torch.tensor([0.9, 0.5, 0.6, 0.1])),
    "a guidance label out of range": lambda: cfg_model.sample(2, y=torch.tensor([3, 10]), guidance=2.0),
    "a step the scheduler does not have": lambda: eps_model.scheduler("ddim", steps=10).step(xb, 3, xb),
}
for what, call in mistakes.items():
    try:
        call()
    except ValueError as err:
        print(f"{what}: ValueError: {err}")
    else:
        raise AssertionError(f"{what} was accepted")
torch.manual_seed(0)
unstable = DDPM(DDPMConfig(prediction="x0", objective="vlb", width=32, depth=1)).to(dev)
try:  # a learning rate far too large: the bound's terms blow up
    fit(unstable, digits.train.loader(100, seed=0), None, TrainConfig(epochs=2, lr=1e4, clip_grad_norm=None, progress=False))
except NonFiniteLossError as err:
    print(f"NonFiniteLossError: {err}")
else:
    raise AssertionError("a learning rate of 10^4 trained without a NaN")

# %% [markdown]
# ## Exercises
# 1. Evaluate the linear-schedule bound model on the test split with every term (`bound_terms`) and
#    plot its cumulative terms next to the cosine model's. Where along $t$ does it lose nats?
# 2. DDIM with $\eta = 0$ is deterministic. Sample 350 digits with $\eta \in \{0, 0.5, 1\}$ at 50 steps:
#    which gives the best FD? Why might a little noise help with few steps?
# 3. Guidance weight $w = -1$ samples from the unconditional model (the null label) with the same
#    network. Check that its hit rate is near 10 %.

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution 2 (the other two follow the same pattern): FD at 50 steps for three values of eta.
for eta in (0.0, 0.5, 1.0):
    out = eps_model.sample(N_FD, torch.Generator().manual_seed(0), sampler="ddim", steps=50, eta=eta)
    print(f"eta = {eta}: FD {fd(out).fd:.2f} (floor {fd_anc.floor:.2f})")
# Noise at each step corrects errors made by earlier large steps (it "forgets" them), at the price of
# needing more steps to average the noise out; which effect wins depends on the number of steps.
out_uncond = cfg_model.sample(N_FD, torch.Generator().manual_seed(0), y=wanted.to(dev), sampler="ddim", steps=50, guidance=-1.0)
hit_uncond = (class_probabilities(digit_net, out_uncond).argmax(1).cpu() == wanted).float().mean().item()
print(f"w = -1 (the null label only): hit rate {hit_uncond:.1%}")
assert hit_uncond < 0.35

# %% [markdown]
# ## Summary
# - The forward process has a closed form, $x_t = \sqrt{\bar\alpha_t}x_0 + \sqrt{1-\bar\alpha_t}\varepsilon$
#   (checked against the chain); on small images the cosine schedule keeps information longer than
#   the linear one, and the bound shows it.
# - **DDPM** is a hierarchical VAE (04) with $T$ layers of latents and a fixed encoder; its ELBO splits
#   into KLs between Gaussians plus a **discrete decoder**, which puts it in nats of the data next to
#   the VAE and the autoregressive models. The simple ε loss gives a poor bound (about 200 nats on the
#   8x8 digits at the laptop budget); a network trained on the bound (logits over x0's levels) gives
#   one on a par with the VAE's (about 95 nats), and, trained on past its best validation point, fits
#   its 1,000 training images: a worse bound, *better-looking* samples.
# - **DDIM** reuses the same network with a deterministic sampler: 50 steps instead of 1,000, and an
#   encoder for free. It is an Euler discretisation of the **probability-flow ODE**: a diffusion model
#   is also a continuous flow (05).
# - The noise predictor is the **score**: $\varepsilon_\theta = -\sigma_t\nabla\log p_t$, exact on Gaussian data,
#   which ties diffusion to score models and Langevin sampling (07).
# - **Classifier-free guidance** steers one network between $p(x)$ and $p(x\mid y)$: the hit rate rises
#   with the weight, the FD is best at a small one and worsens beyond it, as variety is traded for fidelity.
# - **Flow matching** regresses the velocity of straight paths and samples with Euler steps: same
#   network and budget as the ε-model, no noise schedule, and here the better samples.
# - **Masked diffusion** replaces Gaussian noise by a [MASK] state; its bound is an order-agnostic
#   autoregressive model's, and sampling trades steps for coherence.
#
# ## References
# - J. Sohl-Dickstein, E. Weiss, N. Maheswaranathan, S. Ganguli. *Deep Unsupervised Learning using Nonequilibrium Thermodynamics*, ICML 2015.
# - J. Ho, A. Jain, P. Abbeel. *Denoising Diffusion Probabilistic Models*, NeurIPS 2020.
# - J. Song, C. Meng, S. Ermon. *Denoising Diffusion Implicit Models*, ICLR 2021.
# - Y. Song, J. Sohl-Dickstein, D. P. Kingma, A. Kumar, S. Ermon, B. Poole. *Score-Based Generative Modeling through Stochastic Differential Equations*, ICLR 2021.
# - A. Nichol, P. Dhariwal. *Improved Denoising Diffusion Probabilistic Models*, ICML 2021.
# - J. Ho, T. Salimans. *Classifier-Free Diffusion Guidance*, NeurIPS 2021 Workshop, arXiv 2022.
# - Y. Lipman, R. T. Q. Chen, H. Ben-Hamu, M. Nickel, M. Le. *Flow Matching for Generative Modeling*, ICLR 2023.
# - X. Liu, C. Gong, Q. Liu. *Flow Straight and Fast: Learning to Generate and Transfer Data with Rectified Flow*, ICLR 2023.
# - J. Austin, D. D. Johnson, J. Ho, D. Tarlow, R. van den Berg. *Structured Denoising Diffusion Models in Discrete State-Spaces*, NeurIPS 2021.
# - S. S. Sahoo, M. Arriola, Y. Schiff, A. Gokaslan, E. Marroquin, J. T. Chiu, A. Rush, V. Kuleshov. *Simple and Effective Masked Diffusion Language Models*, NeurIPS 2024.
# - P. Vincent. *A Connection Between Score Matching and Denoising Autoencoders*, Neural Computation 2011.
# - B. Uria, I. Murray, H. Larochelle. *A Deep and Tractable Density Estimator*, ICML 2014 (order-agnostic training).
