# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 04 · Variational autoencoders: ELBO, reparameterisation, KL, posterior collapse
#
# A latent-variable model explains an image $x$ by an unobserved cause $z$:
# $p_\theta(x) = \int p_\theta(x \mid z)\, p(z)\, dz$. It is normalised by construction and easy to
# sample, but its likelihood is an integral we cannot compute. The variational autoencoder (VAE)
# trains it anyway, by maximising a lower bound, the ELBO, with a second network $q_\phi(z \mid x)$
# that guesses the cause of each image.
#
# In this notebook you will
# - see why $p(x)$ is normalised by construction, from a discrete $z$ (a mixture) to a continuous one;
# - derive the **ELBO** and check, on a model where everything is exact (probabilistic PCA), that
#   $\log p(x) - \text{ELBO} = \mathrm{KL}(q(z\mid x)\,\|\,p(z\mid x))$ to $10^{-8}$;
# - measure why the **reparameterisation trick** beats the score-function (REINFORCE) gradient;
# - write a VAE's encoder, its reparameterised sample, its ELBO and the **importance-weighted bound**,
#   check them against the package, and implement the ELBO of a Bernoulli decoder yourself;
# - train a VAE on the 8x8 digits (categorical decoder over 17 grey levels) and compare its bounds
#   with exact likelihoods: independent pixels and notebook 03's PixelCNN;
# - compute $\log p(x)$ exactly in a 2-D latent space, explore that space (widget), see why samples
#   are **blurry**, trade rate against distortion with **β** (widget), watch **posterior collapse**
#   and cure it.
#
# **How to read it.** Part I (sections 1–7) is the lesson, about an hour. Part II (sections 8–10) is
# optional: an autoencoder compared with a VAE as a generator, a conditional VAE that draws the digit
# you ask for, and a Bernoulli VAE on binarised MNIST.
#
# *Cost: about 35 seconds at the `smoke` budget, about 4 minutes on a laptop CPU at `laptop`.*

# %% [markdown]
# ## Setup

# %%
import math
from functools import partial

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from course_utils import TrainConfig, load_digits8x8, load_mnist5k, load_model, present, setup
from course_utils.base import eval_mode
from course_utils.evaluation.likelihood import all_images, mean_nll
from course_utils.exercises import check
from course_utils.lessons.linear_gaussian import LinearGaussian
from course_utils.models.independent import IndependentConfig, IndependentPixels
from course_utils.plotting import image_grid, image_rows, training_curves
from course_utils.runtime import Stopwatch
from course_utils.models.tables import MixtureConfig, MixtureOfBernoullis
from course_utils.models.vae import VAE, Autoencoder, VAEConfig, gaussian_kl_standard
from course_utils.lessons.vae_views import (active_units, evaluate_bounds, interpolate, mean_kl_per_dim, render_beta,
                                            render_conditional, render_latent_explorer)

rt = setup("04_vae")
dev = rt.device  # models live here; the data stay on the CPU and are moved where a model needs them
digits = load_digits8x8()
D8 = digits.num_dims


def train(model, data, epochs, name, labels=False, lr=1e-3, weight_decay=0.0, batch_size=100, patience=None):
    """Train ``model`` on ``data`` (or load the checkpoint of the same run); returns the history."""
    cfg = TrainConfig(epochs=epochs, lr=lr, weight_decay=weight_decay, patience=patience, progress=False)
    return rt.fit_or_load(model.to(rt.device), data.train.loader(batch_size, seed=rt.seed, labels=labels),
                          data.val.loader(500, shuffle=False, labels=labels), cfg, name=name)


# %% [markdown]
# # Part I: the lesson
#
# ## 1. A latent variable makes $p(x)$ normalised by construction
#
# Notebook 01 fitted a **mixture of Bernoullis**: pick a bucket $z \in \{1, \dots, K\}$ with
# probability $\pi_z$, then switch every pixel on independently with probability $\mu_{z,i}$:
# $$p(x) = \sum_{z=1}^{K} \pi_z \prod_i \mu_{z,i}^{x_i}(1-\mu_{z,i})^{1-x_i}.$$
# Summing over all $x$ first gives $\sum_x p(x) = \sum_z \pi_z \cdot 1 = 1$: each bucket is a
# normalised distribution and the weights sum to one, so **no normalising constant is ever needed**.
# The posterior over the bucket, $p(z \mid x) = \pi_z p(x\mid z) / p(x)$, is a sum of $K$ terms,
# which is why EM's E-step is exact. The check below sums $p(x)$ over all $2^4$ images of a 4-pixel
# mixture.

# %%
mix = MixtureOfBernoullis(MixtureConfig(shape=(1, 1, 4), components=3))
with torch.no_grad():
    mix.logits_pi.copy_(torch.tensor([0.3, -1.0, 0.5]))
    mix.logits_mu.copy_(torch.randn(3, 1, 1, 4, generator=torch.Generator().manual_seed(0)))
all_x = torch.cartesian_prod(*[torch.tensor([0.0, 1.0])] * 4).reshape(16, 1, 1, 4)
with torch.no_grad():  # re-derive: sum_z pi_z prod_i Bernoulli(x_i | mu_zi)
    mu = torch.sigmoid(mix.logits_mu.flatten(1))
    p_x = (torch.softmax(mix.logits_pi, 0) * torch.prod(torch.where(all_x.flatten(1)[:, None] == 1, mu, 1 - mu), -1)).sum(1)
    print(f"sum over all 16 images of p(x) = {p_x.sum():.6f}")
    assert torch.allclose(p_x.log(), mix.log_prob(all_x), atol=1e-6) and abs(p_x.sum().item() - 1) < 1e-6

# %% [markdown]
# A VAE replaces the $K$ buckets by a continuum, $z \sim \mathcal N(0, I_d)$, and the table
# $\mu_{z,i}$ by a neural network, the **decoder** $p_\theta(x \mid z)$:
# $$p_\theta(x) = \int p_\theta(x\mid z)\,p(z)\,dz .$$
# It is still normalised by construction (every $p_\theta(\cdot\mid z)$ is), and sampling is two
# draws. But the integral is now intractable: with a grid of $G$ points per latent dimension it costs
# $G^d$ decoder calls per image ($100^{16} = 10^{32}$ for $d = 16$), and the posterior $p(z\mid x)$,
# needed by EM, is just as hard. Section 5 does the integral by brute force in $d = 2$, the one case
# where a grid works.
#
# ## 2. The evidence lower bound (ELBO)
# For any distribution $q(z \mid x)$ with the right support,
# $$\log p(x) = \log \mathbb E_{q(z\mid x)}\!\left[\frac{p(x, z)}{q(z\mid x)}\right]
# \;\ge\; \mathbb E_{q(z\mid x)}\!\left[\log \frac{p(x, z)}{q(z\mid x)}\right] =: \text{ELBO}(q)$$
# by Jensen's inequality. Writing $p(x, z) = p(z \mid x)\,p(x)$ shows what the gap is:
# $$\text{ELBO}(q) = \log p(x) - \mathrm{KL}\big(q(z\mid x)\,\|\,p(z\mid x)\big),$$
# so the bound is tight exactly when $q$ is the true posterior. Writing instead
# $p(x, z) = p(x\mid z)\,p(z)$ gives the form a VAE trains:
# $$\text{ELBO} = \underbrace{\mathbb E_q[\log p(x\mid z)]}_{\text{reconstruction}} -
# \underbrace{\mathrm{KL}\big(q(z\mid x)\,\|\,p(z)\big)}_{\text{rate}} .$$
#
# **Checking it exactly.** In probabilistic PCA (Tipping & Bishop 1999),
# $p(z) = \mathcal N(0, I)$ and $p(x\mid z) = \mathcal N(Wz + b, \sigma^2 I)$, everything is Gaussian:
# $\log p(x) = \log\mathcal N(x; b, WW^\top + \sigma^2 I)$, the posterior is
# $\mathcal N(M^{-1}W^\top(x-b),\ \sigma^2 M^{-1})$ with $M = W^\top W + \sigma^2 I$, and for
# $q = \mathcal N(m, S)$
# $$\text{ELBO} = -\tfrac D2\log(2\pi\sigma^2) - \frac{\|x - Wm - b\|^2 + \operatorname{tr}(W S W^\top)}{2\sigma^2} -
# \tfrac12\big(\operatorname{tr}S + \|m\|^2 - d - \log\det S\big).$$
# We fit it in closed form to the 8x8 digits (as continuous vectors in $[0,1]^{64}$), in float64.

# %%
ppca = LinearGaussian.fit(digits.train.x.flatten(1).double(), latent_dim=4)
# The ML solution is only defined up to a rotation R of the latent space, (W R)(W R)^T = W R R^T W^T = W W^T:
# the fit returns orthogonal columns, whose posterior happens to be diagonal. Rotate, to see a correlated one.
R = torch.linalg.qr(torch.randn(4, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64))[0]
rotated = LinearGaussian(ppca.cfg, ppca.W @ R, ppca.b, float(ppca.sigma2))
assert torch.allclose(rotated.marginal_cov(), ppca.marginal_cov(), atol=1e-12), "the same p(x) after the rotation"
ppca = rotated
x_lg = digits.test.x[:50].flatten(1).double()
post_mean, post_cov = ppca.posterior(x_lg)
W, b, s2 = ppca.W, ppca.b, ppca.sigma2


# %%
def my_elbo(x, m, S):  # re-derive the closed form above, line by line
    rec = -0.5 * 64 * torch.log(2 * math.pi * s2) - (((x - m @ W.T - b) ** 2).sum(-1) + torch.einsum("ij,...jk,ik->...", W, S, W)) / (2 * s2)
    kl = 0.5 * (S.diagonal(dim1=-2, dim2=-1).sum(-1) + (m**2).sum(-1) - 4 - torch.logdet(S))
    return rec - kl


# three guesses for q: the exact posterior, a mean-field (diagonal) one, and a shifted, wider one
qs = {"exact posterior": (post_mean, post_cov), "mean-field": (post_mean, torch.diag_embed(1 / torch.linalg.inv(post_cov).diagonal())),
      "shifted and wider": (post_mean + 0.3, 2.0 * post_cov)}
log_px = ppca.log_prob(x_lg)
for name, (m, S) in qs.items():
    elbo, kl = ppca.elbo(x_lg, m, S), ppca.kl_to_posterior(x_lg, m, S.expand(len(x_lg), 4, 4))
    gap_err = (log_px - elbo - kl).abs().max().item()
    print(f"{name:17s} log p(x) - ELBO = {(log_px - elbo).mean():8.4f} nats | KL(q || posterior) = {kl.mean():8.4f} | max |gap - KL| = {gap_err:.1e}")
    assert torch.allclose(my_elbo(x_lg, m, S), elbo, atol=1e-9, rtol=0), "the re-derived ELBO matches the package"
    assert (elbo <= log_px + 1e-10).all() and gap_err < 1e-8
    assert name == "exact posterior" or (kl > 1e-3).all(), "any other q pays a gap"

# %% [markdown]
# The gap is exactly the KL to the true posterior, zero for the exact posterior. Note the mean-field
# $q$: a diagonal Gaussian (what a VAE's encoder outputs) cannot match a correlated posterior, so it
# pays a gap even with the right mean. The figure slides $q$'s mean along the posterior's widest
# direction $v$ (the eigenvector of its covariance with the largest eigenvalue $\sigma_v^2$), in steps of
# $\sigma_v$; for this Gaussian the gap is then exactly $t^2/2$ nats.

# %%
shifts = torch.linspace(-3, 3, 61, dtype=torch.float64)
x0, m0, S0 = x_lg[:1], post_mean[:1], post_cov
evals, evecs = torch.linalg.eigh(post_cov)
direction, sd = evecs[:, -1], evals[-1].sqrt()  # the posterior's widest direction, and its standard deviation along it
elbos = torch.stack([ppca.elbo(x0, m0 + t * sd * direction, S0) for t in shifts])[:, 0]
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.axhline(log_px[0].item(), c="k", ls="--", label=r"$\log p(x)$ (exact)")
ax.plot(shifts, elbos, label="ELBO of $q = \\mathcal{N}(m + t\\,\\sigma_v v, S_{post})$")
ax.fill_between(shifts, elbos, log_px[0].item(), alpha=0.2, label=r"gap $= \mathrm{KL}(q\,\|\,p(z|x))$")
ax.set_xlabel("shift $t$ of q's mean (posterior standard deviations $\\sigma_v$ along $v$)")
ax.set_ylabel("nats (continuous density)")
ax.set_title("The ELBO touches log p(x) only at the true posterior")
ax.legend(fontsize=8)
rt.save_figure(fig, "elbo_gap_ppca")
assert torch.allclose(log_px[0] - elbos, shifts**2 / 2, atol=1e-8), "KL between Gaussians of equal covariance: t^2 / 2"

# %% [markdown]
# ## 3. Two gradients of the same objective: reparameterisation vs score function
#
# Training needs $\nabla_\phi \mathbb E_{q_\phi(z)}[f(z)]$, where the distribution itself depends on
# $\phi$. Two unbiased estimators from samples:
# - **score function** (REINFORCE): $\nabla_\phi \mathbb E_q[f] = \mathbb E_q[f(z)\,\nabla_\phi \log q_\phi(z)]$;
#   it needs only values of $f$, but multiplies them by a noisy score;
# - **reparameterisation**: write $z = m + \sigma \odot \varepsilon$ with $\varepsilon \sim \mathcal N(0, I)$;
#   then $\nabla_\phi \mathbb E_q[f] = \mathbb E_\varepsilon[\nabla_\phi f(m + \sigma\odot\varepsilon)]$, which uses $f$'s gradient.
#
# On the PPCA model with $f(z) = \log p(x\mid z) + \log p(z)$ (the part of the ELBO that needs
# samples) we know the exact gradient with respect to $q$'s mean $m$ by differentiating the closed
# form. Both estimators should average to it; their variances differ by orders of magnitude.

# %%
n_est, sigma_q = 4000, post_cov.diagonal().sqrt()
m = post_mean[:1].clone().requires_grad_(True)
exact = torch.autograd.grad(ppca.elbo(x0, m, torch.diag(sigma_q**2)).sum(), m)[0][0]  # the entropy term does not depend on m


def f(z):  # log p(x | z) + log p(z), for z of shape (n, 4)
    return (torch.distributions.Normal(z @ W.T + b, s2.sqrt()).log_prob(x0).sum(-1) + torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1))


eps = torch.randn(n_est, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
m_rep = m.detach().expand(n_est, 4).clone().requires_grad_(True)
g_reparam = torch.autograd.grad(f(m_rep + sigma_q * eps).sum(), m_rep)[0]  # (n, 4): one estimate per row
z = (m.detach() + sigma_q * eps)
f_z = f(z)
g_score = f_z[:, None] * (z - m.detach()) / sigma_q**2  # f(z) * d/dm log q(z)
baseline = f(m.detach() + sigma_q * torch.randn(n_est, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)).mean()
g_baseline = (f_z - baseline)[:, None] * (z - m.detach()) / sigma_q**2  # independent draws for the baseline keep it unbiased
print(f"f(z) = {f_z.mean():.1f} nats on average (standard deviation {f_z.std():.1f}) over the {n_est} draws")
for name, g in (("reparameterisation", g_reparam), ("score function", g_score), ("score - baseline", g_baseline)):
    print(f"{name:19s} mean {g.mean(0).numpy().round(2)}  total variance {g.var(0).sum():.3g}")
print(f"{'exact':19s} mean {exact.numpy().round(2)}")
var_ratio = (g_score.var(0).sum() / g_reparam.var(0).sum()).item()
print(f"the score-function estimate has {var_ratio:.0f}x the variance")

# %%
se = lambda g: g.std(0) / math.sqrt(n_est)  # noqa: E731
assert ((g_reparam.mean(0) - exact).abs() < 5 * se(g_reparam) + 1e-9).all(), "reparameterised estimate is unbiased"
assert ((g_score.mean(0) - exact).abs() < 5 * se(g_score)).all(), "score-function estimate is unbiased"
assert var_ratio > 50, "the reparameterised gradient has far lower variance"
assert ((g_baseline.mean(0) - exact).abs() < 5 * se(g_baseline)).all(), "the baseline keeps it unbiased"
assert f_z.abs().mean() > 5 * f_z.std(), "f(z) is large compared with how much it varies"
assert g_reparam.var(0).sum() < g_baseline.var(0).sum() < g_score.var(0).sum() / 10, "a baseline helps a lot, but does not close the gap"
rt.record("grad_variance_ratio_score_over_reparam", var_ratio, "x")

# %% [markdown]
# The score-function estimator multiplies $f(z)$, whose size (printed above) is many times its spread
# between draws, by a zero-mean score: its noise scales with $|f|$. Subtracting a **baseline**,
# here the mean of $f$ over independent draws, removes most of that noise without adding bias, but
# the reparameterised estimate stays less noisy still: it only sees how $f$ *changes* near $z$. That is why VAEs use Gaussian encoders
# with $z = \mu_\phi(x) + \sigma_\phi(x)\odot\varepsilon$, and why discrete latents (which cannot be
# reparameterised this way) are harder to train.
#
# ## 4. A VAE on the 8x8 digits
# Encoder $q_\phi(z\mid x) = \mathcal N(\mu_\phi(x), \operatorname{diag}\sigma^2_\phi(x))$, prior
# $p(z) = \mathcal N(0, I)$, and a decoder that outputs, for each of the 64 pixels, a **categorical
# over the 17 grey levels**: $\log p_\theta(x\mid z)$ is then a log-probability of the discrete data,
# in the same nats as every other model of the course. With a diagonal Gaussian $q$ and a standard
# normal prior, the rate has a closed form per dimension,
# $$\mathrm{KL}\big(\mathcal N(\mu, \sigma^2)\,\|\,\mathcal N(0, 1)\big) = \tfrac12\left(\mu^2 + \sigma^2 - 1 - \log\sigma^2\right),$$
# and the reconstruction term is estimated with one reparameterised sample. The ELBO is only a
# bound; the **importance-weighted bound** (Burda et al. 2016),
# $$\mathcal L_k = \mathbb E\left[\log \frac1k\sum_{i=1}^k \frac{p(x, z_i)}{q(z_i\mid x)}\right],\quad z_i \sim q(z\mid x),$$
# equals the ELBO at $k=1$, never decreases with $k$, and tends to $\log p(x)$ as $k\to\infty$.

# %%
mu_t, lv_t = torch.randn(3, 5), torch.randn(3, 5)
mine = 0.5 * (mu_t**2 + lv_t.exp() - 1 - lv_t)  # re-derive the closed-form KL per dimension
ref = torch.distributions.kl_divergence(torch.distributions.Normal(mu_t, (0.5 * lv_t).exp()), torch.distributions.Normal(0.0, 1.0))
assert torch.allclose(mine, gaussian_kl_standard(mu_t, lv_t)) and torch.allclose(mine, ref, atol=1e-5)

# %% [markdown]
# The main model: 16 latents, two hidden layers of 256 units in each network. With only 1,000
# training images the decoder overfits within a few dozen epochs (the validation −ELBO of a plain
# VAE climbs from ≈ 101 to over 130 nats if left to train), so we regularise it with dropout
# (20 % of the hidden units, training only) and weight decay, and keep the weights with the best
# validation ELBO (early stopping). The dropout is what takes this model below the −ELBO of a
# reference VAE on the same split (96.7 nats, compared below); a learned mixture prior and KL
# warm-up did not help here (we measured both).

# %%
with Stopwatch() as sw_main:
    vae, hist_main = load_model("vae-digits", rt)  # the preset: 16 latents, 2 x 256 hidden, dropout 0.2, weight decay 1e-3
MAIN = dict(latent_dim=vae.cfg.latent_dim, hidden=vae.cfg.hidden, depth=vae.cfg.depth, dropout=vae.cfg.dropout)
print(f"trained for {len(hist_main.epoch)} epochs in {sw_main.seconds:.1f} s; best validation -ELBO {hist_main.best_val_loss:.2f} nats")
fig = training_curves(hist_main, title="VAE on the 8x8 digits: training and validation -ELBO", ylabel="-ELBO (nats)")
rt.save_figure(fig, "digits_training")

# %% [markdown]
# **The VAE, written out.** Before we measure the trained model, write its defining lines from the
# math, with its weights, and check them against the package on 20 test digits:
# 1. the **encoder**: an MLP (SiLU between its linear layers) from the centred pixels $2x - 1$ to the
#    $2d$ numbers $(\mu, \log\sigma^2)$;
# 2. the **reparameterised sample** $z = \mu + \sigma \odot \varepsilon$, $\varepsilon \sim \mathcal N(0, I)$,
#    drawn from the same generator as the package;
# 3. the **ELBO** $= \log p(x \mid z) - \mathrm{KL}$, where $\log p(x \mid z)$ sums over the 64 pixels the
#    log-softmax of the decoder's 17 logits at the pixel's grey level.
#
# Negated and averaged over a batch, this one-sample ELBO is the VAE's **loss**, what `fit` minimises
# (`vae.loss(x)`); its gradient flows to the encoder through $z = \mu + \sigma \odot \varepsilon$.

# %%
x_few = digits.test.x[:20].to(dev)
with torch.no_grad(), eval_mode(vae):  # dropout off, as in evaluation
    linears = [layer for layer in vae.encoder.net if isinstance(layer, torch.nn.Linear)]
    h = 2 * x_few.flatten(1) - 1  # (B, 64), centred pixels
    for layer in linears[:-1]:
        h = F.silu(layer(h))
    mu, log_var = linears[-1](h).chunk(2, dim=-1)  # (B, d) each
    log_var = log_var.clamp(-12, 8)  # keeps exp(log_var) finite while training starts
    eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(0)).to(dev)
    z = mu + torch.exp(0.5 * log_var) * eps  # the reparameterised sample
    levels = torch.round(x_few.flatten(1) * 16).long()  # (B, 64) grey levels 0..16
    log_lik = torch.log_softmax(vae.decoder.logits(z), -1).gather(-1, levels[..., None])[..., 0].sum(-1)  # log p(x | z), (B,)
    kl = (0.5 * (mu**2 + log_var.exp() - 1 - log_var)).sum(-1)  # closed form, summed over the d dimensions
    elbo_mine = log_lik - kl
    parts = vae.elbo(x_few, generator=torch.Generator().manual_seed(0))
assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip((mu, log_var), vae.encode(x_few))), "the encoder"
assert torch.allclose(log_lik, parts.rec, atol=1e-3) and torch.allclose(kl, parts.kl, atol=1e-4), "both terms"
assert torch.allclose(elbo_mine, parts.elbo, atol=1e-3), "the ELBO"
print(f"ELBO of the first three test digits: {elbo_mine[:3].tolist()} (package: {parts.elbo[:3].tolist()})")

# %% [markdown]
# **The importance-weighted bound, written out.** Draw $k$ samples $z_i$ from $q(z \mid x)$, weigh each
# by $w_i = p(x, z_i) / q(z_i \mid x)$ and average the *weights* before taking the log. The weights are
# probabilities of whole images, tiny numbers (their logs, printed below, lie tens of nats below zero)
# that underflow or lose their precision in floating point, so the average is taken in log space:
# $\log \frac1k \sum_i e^{\log w_i} = m + \log \frac1k \sum_i e^{\log w_i - m}$ with $m = \max_i \log w_i$,
# which is what `torch.logsumexp` computes.

# %%
k = 10
with torch.no_grad(), eval_mode(vae):
    sigma = torch.exp(0.5 * log_var)
    z_k = mu + sigma * torch.randn(k, *mu.shape, generator=torch.Generator().manual_seed(1)).to(dev)  # (k, B, d)
    log_lik_k = torch.log_softmax(vae.decoder.logits(z_k), -1).gather(-1, levels.expand(k, -1, -1)[..., None])[..., 0].sum(-1)  # (k, B)
    log_prior = torch.distributions.Normal(0.0, 1.0).log_prob(z_k).sum(-1)  # log p(z_i)
    log_q = torch.distributions.Normal(mu, sigma).log_prob(z_k).sum(-1)  # log q(z_i | x)
    log_w = log_lik_k + log_prior - log_q  # (k, B)
    iw_mine = torch.logsumexp(log_w, 0) - math.log(k)
    iw_package = vae.iw_bound(x_few, k, generator=torch.Generator().manual_seed(1))
assert torch.allclose(iw_mine, iw_package, atol=1e-3), "the same bound as the package"
assert log_w.max() < -20, "weights of whole images are tiny"
print(f"log w ranges over [{log_w.min():.0f}, {log_w.max():.0f}]; L_{k} - ELBO on these 20 digits: {(iw_mine - elbo_mine).mean():+.2f} nats")

# %% [markdown]
# ### Exercise: the ELBO of a Bernoulli decoder
# For binary images (section 10 trains one on MNIST) the decoder gives one logit $\ell_i$ per pixel and
# $p(x_i = 1 \mid z) = \sigma(\ell_i)$, so
# $$\log p(x \mid z) = \sum_i \big[x_i \log \sigma(\ell_i) + (1 - x_i) \log(1 - \sigma(\ell_i))\big].$$
# Write the one-sample ELBO of a Bernoulli VAE: encode with `model.encode(x)`, draw $\varepsilon$ with
# `torch.randn(mu.shape, generator=torch.Generator().manual_seed(seed))` as above, get the logits with
# `model.decoder.logits(z)`. (Hint: $\log\sigma(\ell)$ is `F.logsigmoid(l)` and $\log(1 - \sigma(\ell)) = \log\sigma(-\ell)$,
# both stable for large $|\ell|$.) The checker compares your ELBO with the package's on binarised digits.

# %% tags=["exercise"]
def bernoulli_elbo(model: VAE, x: torch.Tensor, seed: int) -> torch.Tensor:
    """One-sample ELBO of each binary image x (B, 1, H, W) under the Bernoulli VAE ``model``: shape (B,)."""
    raise NotImplementedError("your code here")


# %% jupyter={"source_hidden": true} tags=["solution"]
def bernoulli_elbo(model: VAE, x: torch.Tensor, seed: int) -> torch.Tensor:
    mu, log_var = model.encode(x)
    z = mu + torch.exp(0.5 * log_var) * torch.randn(mu.shape, generator=torch.Generator().manual_seed(seed)).to(mu.device)
    logits, x_flat = model.decoder.logits(z), x.flatten(1)
    log_lik = (x_flat * F.logsigmoid(logits) + (1 - x_flat) * F.logsigmoid(-logits)).sum(-1)
    return log_lik - (0.5 * (mu**2 + log_var.exp() - 1 - log_var)).sum(-1)


# %%
bernoulli_vae = VAE(VAEConfig(shape=(1, 8, 8), num_levels=2, latent_dim=4, hidden=32, depth=1)).to(dev).eval()  # untrained: any weights do
x_binary = (digits.test.x[:10] > 0.5).float().to(dev)
check("ELBO of a Bernoulli VAE", bernoulli_elbo, lambda model, x, seed: model.elbo(x, generator=torch.Generator().manual_seed(seed)).elbo,
      cases=[(bernoulli_vae, x_binary, 0), (bernoulli_vae, x_binary, 1)], atol=1e-4)

# %% [markdown]
# Now the trained model's bounds on all 447 test digits, for growing $k$.

# %%
ks = rt.pick(smoke=(1, 10, 100), laptop=(1, 10, 100, 1000), full=(1, 10, 100, 1000))  # k = 1000 costs ~10 s on a CPU
with Stopwatch() as sw_eval:
    bounds = evaluate_bounds(vae, digits.test.x, ks=ks, seed=0)
indep = IndependentPixels(IndependentConfig(shape=(1, 8, 8), num_levels=17)).fit_closed_form(digits.train.x)
nll_indep = mean_nll(indep, digits.test.loader(447, shuffle=False))
for k in ks:
    print(f"test -L_{k:<4d} = {-bounds[k].mean():6.2f} nats   (k = 1 is the -ELBO)")
print(f"independent pixels (exact NLL): {nll_indep:.2f} nats | bounds over all {len(digits.test)} test digits in {sw_eval.seconds:.1f} s")

# %% [markdown]
# The bounds rise with $k$. "Beyond Monte-Carlo error" is checked on the per-image differences
# $\mathcal L_{k'} - \mathcal L_k$ (the same images, so most of the noise cancels): their mean must not
# be significantly negative.

# %%
for k_lo, k_hi in zip(ks[:-1], ks[1:]):
    diff = bounds[k_hi] - bounds[k_lo]
    z_score = diff.mean() / (diff.std() / math.sqrt(len(diff)))
    print(f"L_{k_hi} - L_{k_lo} = {diff.mean():+.3f} nats (z = {z_score:.1f})")
    assert z_score > -3, f"the IW bound fell from k={k_lo} to k={k_hi} beyond Monte-Carlo error"
assert -bounds[1].mean() < nll_indep, "the VAE's -ELBO beats independent pixels"
neg_elbo = -bounds[1].mean().item()
rt.record("test_neg_elbo_digits", neg_elbo, "nats", at_most=96.4, budget="laptop")
rt.record(f"test_neg_iw{ks[-1]}_digits", -bounds[ks[-1]].mean().item(), "nats")
rt.record("train_seconds_digits_main", sw_main.seconds, "s")

# %% [markdown]
# **How does it compare?** Compare −ELBO with −ELBO: J. Tomczak's VAE of `intro_dgm` (the same 16
# latents and 17-level decoder), run unchanged on this split, reaches a test −ELBO of 96.7 nats. The
# importance-weighted number is a tighter bound on the *same* model, not a better model. And compare
# bounds with exact likelihoods: independent pixels (above), and the PixelCNN that notebook 03 trains
# on these digits, an autoregressive model whose NLL is exact (loaded here, or trained if notebook 03
# has not run).

# %%
pcnn_digits, _ = load_model("pixelcnn-digits", rt)
nll_pcnn_digits = mean_nll(pcnn_digits, digits.test.loader(447, shuffle=False))
print(f"8x8 digits, test: independent pixels {nll_indep:.1f} (exact) | VAE -ELBO {neg_elbo:.1f}, -L_{ks[-1]} {-bounds[ks[-1]].mean():.1f} "
      f"(upper bounds on its NLL) | PixelCNN {nll_pcnn_digits:.1f} (exact)")
rt.record("pixelcnn_digits_minus_vae_neg_iw", nll_pcnn_digits + bounds[ks[-1]].mean().item(), "nats", at_most=0.0, budget="laptop")

# %% [markdown]
# At the `laptop` budget the autoregressive model is several nats better than even the VAE's tightest
# bound. Part of that gap may be the bound's (the true $-\log p(x)$ of the VAE lies somewhere below
# $-\mathcal L_{1000}$), but the bound moved by only a couple of nats from $k = 1$ to $k = 1000$:
# a decoder that makes pixels independent given $z$ is a weaker model of these images than one
# that conditions every pixel on the pixels before it (section 6 shows what that independence costs).

# %% [markdown]
# ## 5. A 2-D latent space: the exact integral, normalisation, an explorer
# With $d = 2$ the integral $p(x) = \int p(x\mid z)p(z)\,dz$ *can* be done on a grid, which lets us
# see the three numbers side by side: ELBO $\le \mathcal L_{100} \le \log p(x)$. (A grid of
# $G$ points per axis costs $G^2$ decoder calls; the same grid in 16 dimensions would need $G^{16}$.)
# The categorical log-likelihood of every test image at every grid point is one matrix product of
# one-hot images with the decoder's log-probabilities.

# %%
vae2 = VAE(VAEConfig(shape=(1, 8, 8), num_levels=17, latent_dim=2, hidden=rt.pick(smoke=64, laptop=256, full=256), depth=2,
                     free_bits=1.0))  # free bits (section 7) stop one of the two dimensions collapsing early on
train(vae2, digits, epochs=rt.pick(smoke=14, laptop=300, full=300), name="digits-2d", batch_size=50, lr=3e-3, weight_decay=1e-3,
      patience=rt.pick(smoke=None, laptop=30, full=30))


@torch.no_grad()
def log_px_by_grid(model, x, G=300, span=5.0):
    """log p(x) = log sum_g p(x | z_g) p(z_g) Delta^2 over a G x G grid of [-span, span]^2; categorical decoder; shape (N,)."""
    ticks = torch.linspace(-span, span, G, device=model.device)
    z = torch.cartesian_prod(ticks, ticks)  # (G*G, 2)
    K = model.cfg.num_levels
    onehot = F.one_hot(model.decoder.targets(x.to(model.device).flatten(1)), K).flatten(1).float()  # (N, D*K)
    out = []
    for zc in z.split(20000):
        logp = torch.log_softmax(model.decoder.logits(zc), -1).flatten(1)  # (n, D*K)
        out.append(onehot @ logp.T + model.prior.log_prob(zc))  # (N, n): log p(x|z) + log p(z)
    return (torch.logsumexp(torch.cat(out, 1), 1) + 2 * math.log(ticks[1] - ticks[0])).double().cpu()


exact_2d = log_px_by_grid(vae2, digits.test.x, G=rt.pick(smoke=120, laptop=300, full=400))
b2 = evaluate_bounds(vae2, digits.test.x, ks=(1, 100))
print(f"2-D latent VAE, test set: -ELBO {-b2[1].mean():.2f} | -L_100 {-b2[100].mean():.2f} | exact -log p(x) by grid {-exact_2d.mean():.2f} nats")
assert b2[1].mean() < b2[100].mean() <= exact_2d.mean() + 0.05, "ELBO <= IW bound <= log p(x)"
rt.record("test_nll_digits_2d_exact_grid", -exact_2d.mean().item(), "nats")

# %% [markdown]
# **Normalised by construction, checked.** On the grid, $p(x) = \sum_g w_g\, p(x \mid z_g)$ with weights
# $w_g = p(z_g)\,\Delta^2$, and every $p(\cdot \mid z_g)$ is a product of normalised categoricals, so
# $\sum_x p(x) = \sum_g w_g$: the prior mass the grid holds, 1 up to the tails beyond $\pm 5$. The
# $17^{64}$ digit images cannot be listed, but two things can. (a) Any two pixels of the trained model:
# summing the other 62 out of $p(x)$ leaves $p(x_i, x_j) = \sum_g w_g\, p(x_i \mid z_g)\, p(x_j \mid z_g)$,
# whose $17^2$ values must sum to the same mass. (b) A VAE of the same kind over images of just two
# pixels, untrained (any weights will do): the same grid function, summed over all $17^2$ images.

# %%
G_check = rt.pick(smoke=120, laptop=300, full=400)
with torch.no_grad():
    ticks = torch.linspace(-5, 5, G_check, device=dev)
    z_grid = torch.cartesian_prod(ticks, ticks)
    log_w_grid = vae2.prior.log_prob(z_grid) + 2 * math.log(ticks[1] - ticks[0])  # log w_g, (G^2,)
    lp_ij = torch.log_softmax(vae2.decoder.logits(z_grid)[:, [27, 36]], -1)  # (G^2, 2, 17): two pixels near the centre
    log_pair = torch.logsumexp(log_w_grid[:, None, None] + lp_ij[:, 0, :, None] + lp_ij[:, 1, None, :], 0)  # (17, 17)
grid_mass, pair_mass = torch.logsumexp(log_w_grid, 0).exp().item(), torch.logsumexp(log_pair.flatten(), 0).exp().item()
tiny_vae = VAE(VAEConfig(shape=(1, 1, 2), num_levels=17, latent_dim=2, hidden=16, depth=1)).to(dev)
tiny_mass = torch.logsumexp(log_px_by_grid(tiny_vae, all_images((1, 1, 2), 17), G=G_check), 0).exp().item()
print(f"prior mass on the grid {grid_mass:.6f} | trained model, sum over the 289 values of two pixels {pair_mass:.6f} | "
      f"two-pixel VAE, sum of p(x) over all 289 images {tiny_mass:.6f}")
assert abs(grid_mass - 1) < 1e-4 and abs(pair_mass - grid_mass) < 1e-4 and abs(tiny_mass - 1) < 1e-3

# %% [markdown]
# **Widget: the latent-space explorer.** Left, the decoder mean at every point of a grid over the
# latent plane, with the encoder means of the test digits on top, coloured by class; right, the image
# decoded at the point you choose. Move the sliders to walk between digit classes.

# %%
codes2 = vae2.encode(digits.test.x.to(dev))[0].detach().cpu()
present(partial(render_latent_explorer, vae2, codes=codes2, labels=digits.test.y), z1=(-2.5, 2.5, 0.1), z2=(-2.5, 2.5, 0.1));

# %%
fig = render_latent_explorer(vae2, 1.0, -0.5, codes=codes2, labels=digits.test.y)
rt.save_figure(fig, "latent_explorer")
assert len(fig.axes) >= 2
plt.close(fig)

# %% [markdown]
# ## 6. Why VAE samples are blurry
# The decoder makes pixels **independent given $z$**. A sample is $z \sim p(z)$, then every pixel
# drawn on its own, so the strokes come out speckled; the decoder **mean** $\mathbb E[x\mid z]$ is
# smooth but averages over everything $z$ does not pin down, which is what "blurry" means. Papers
# usually show the mean. We measure both with the average absolute difference between neighbouring
# pixels: noisy images have large jumps, blurry ones small.

# %%
def roughness(images):
    return ((images[..., 1:, :] - images[..., :-1, :]).abs().mean() + (images[..., :, 1:] - images[..., :, :-1]).abs().mean()).item() / 2


gen = torch.Generator().manual_seed(2)
z = vae.prior.sample(200, gen)
means, sampled = vae.decode(z).cpu(), vae.decode(z, mean=False, generator=gen).cpu()
rough = {"real": roughness(digits.test.x), "decoder mean": roughness(means), "sampled pixels": roughness(sampled)}
print({k: round(v, 3) for k, v in rough.items()})
fig = image_rows({"real": digits.test.x[:12], "decoder mean": means[:12], "sampled pixels": sampled[:12]}, nrow=12,
                 title="Same latents: the mean is smooth (blurry), independent pixel draws are speckled")
rt.save_figure(fig, "mean_vs_sampled")
assert rough["decoder mean"] < rough["real"] < rough["sampled pixels"]

# %% [markdown]
# A **stronger decoder** fixes the speckle by making pixels depend on each other given $z$: an
# autoregressive decoder (PixelVAE, Gulrajani et al. 2017) draws pixel $i$ given $z$ *and* the pixels
# before it, like notebook 03's models. The price is posterior collapse (section 7): a decoder that
# can model the image alone may stop using $z$.

# %% [markdown]
# ## 7. β, rate and distortion; posterior collapse
# Weighting the KL, $\;\mathcal L_\beta = \mathbb E_q[\log p(x\mid z)] - \beta\,\mathrm{KL}(q\,\|\,p(z))$
# (Higgins et al. 2017), trades **rate** $R = \mathrm{KL}$ (nats the code carries about $x$) against
# **distortion** $D = -\mathbb E_q[\log p(x\mid z)]$ (Alemi et al. 2018). Whatever $\beta$ a model was
# trained with, $-(D + R)$ measured on it is its ELBO, a lower bound on $\log p(x)$: the −ELBO column
# below compares all the models on that one bound. What $\beta$ decides is whether the *training
# objective* $-(D + \beta R)$ is that bound, which it is only at $\beta = 1$; any other $\beta$ aims at
# another point on the rate–distortion curve.

# %%
betas = rt.pick(smoke=[0.5, 1.0, 2.0], laptop=[0.25, 0.5, 1.0, 2.0, 4.0], full=[0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0])
SWEEP = dict(shape=(1, 8, 8), num_levels=17, latent_dim=16, hidden=rt.pick(smoke=64, laptop=128, full=256), depth=2)
ep_s = rt.pick(smoke=14, laptop=60, full=200)  # batches of 50: 20 steps per epoch


def train_and_measure(name, **extra):
    """Train a VAE with these options; rate, distortion, KL per dimension, active units on the training set."""
    model = VAE(VAEConfig(**SWEEP, **extra))
    train(model, digits, epochs=ep_s, name=name, batch_size=50, lr=3e-3, weight_decay=1e-4)
    x = digits.train.x.to(dev)  # the trade-off each objective strikes on the data it optimises (section 4 showed the overfitting)
    with torch.no_grad():
        parts = model.elbo(x, generator=torch.Generator().manual_seed(0))
    return model, parts.kl.mean().item(), -parts.rec.mean().item(), mean_kl_per_dim(model, x).cpu(), active_units(model, x)[0]


beta_models, rd = {}, {}
for beta in betas:
    beta_models[beta], *rd[beta] = train_and_measure(f"beta{beta}", beta=beta)
for beta, (rate, dist, _, n_act) in rd.items():
    print(f"beta {beta:4}: rate {rate:6.2f} nats, distortion {dist:6.2f} nats, -ELBO {rate + dist:6.2f}, active units {n_act}")

# %%
fig, ax = plt.subplots(figsize=(5.5, 3.8))
R, Dist = [v[0] for v in rd.values()], [v[1] for v in rd.values()]
ax.plot(R, Dist, "o-")
for beta, (r, d_, *_) in rd.items():
    ax.annotate(f"β={beta}", (r, d_), textcoords="offset points", xytext=(5, 5))
ax.set_xlabel("rate R = KL(q(z|x) || p(z)) (nats)")
ax.set_ylabel("distortion D = -E log p(x|z) (nats)")
ax.set_title("Larger β: fewer nats in the code, worse reconstructions (training set)")
rt.save_figure(fig, "rate_distortion")
assert all(r1 > r2 for r1, r2 in zip(R, R[1:])), "the rate falls as beta grows"
assert all(d1 < d2 for d1, d2 in zip(Dist, Dist[1:])), "the distortion rises as beta grows"
neg_elbos = {beta: rate + dist for beta, (rate, dist, *_) in rd.items()}
best_beta = min(neg_elbos, key=neg_elbos.get)
assert best_beta < 1.0, "a smaller beta ends with a better ELBO than beta = 1 itself"
rt.record("active_units_best_beta_minus_beta1", rd[best_beta][3] - rd[1.0][3], "units", at_least=1, budget="laptop")  # "... with more active units"

# %% [markdown]
# Look at the −ELBO column: β = 1 does *not* end with the best ELBO, although it is the only one
# trained on it; a smaller β does, with more active units. Optimising a bound directly does not
# promise its best value: at β = 1 the KL's pull collapses latent dimensions early in training (the
# "active units" column, and posterior collapse below), a poor optimum that a lighter KL weight
# avoids. KL annealing, below, tries to exploit this.

# %% [markdown]
# **Widget: what if β were larger, or smaller?** Each trained model's reconstructions of the same
# test digits and its samples (decoder means of $z \sim p(z)$), with its point on the curve. Which β
# keeps the details of each digit in its reconstruction, and what happens to the samples as β grows?

# %%
render_beta_here = partial(render_beta, beta_models, digits.test.x, rd={b: (v[0], v[1]) for b, v in rd.items()})
present(render_beta_here, beta=list(betas));

# %%
fig = render_beta_here(beta=betas[-1])
rt.save_figure(fig, "beta_widget_largest")
plt.close(fig)

# %% [markdown]
# **Posterior collapse.** Many latent dimensions end up carrying no information:
# $q(z_u\mid x) = p(z_u)$ for every $x$, so the dimension's KL is 0 and the decoder ignores it. We
# call a dimension **collapsed** when its average KL is below 0.05 nats, and also count the **active
# units** of Burda et al. (2016), those whose posterior mean moves with the data,
# $\operatorname{Var}_x \mathbb E_q[z_u] > 0.01$. Collapse sets in early in training, when the KL's
# pull wins before the decoder has learnt to use $z$, and a collapsed dimension gets little gradient
# to come back. Two cures, each at β = 1: **KL annealing** (Bowman et al. 2016), a KL weight that
# ramps from 0 to 1 over the first part of training, and **free bits** (Kingma et al. 2016), which
# stops pushing a dimension's KL down once it is below $\lambda$ nats: the rate term becomes
# $\sum_u \max(\lambda, \mathbb E_x \mathrm{KL}_u)$.

# %%
collapse = {"plain (β = 1)": rd[1.0][2:],
            "KL annealing": train_and_measure("anneal", kl_warmup_steps=ep_s * 20 // 2)[3:],
            "free bits λ = 0.5": train_and_measure("freebits", free_bits=0.5)[3:]}
n_collapsed = {name: int((kl_dims < 0.05).sum()) for name, (kl_dims, _) in collapse.items()}
for name, (kl_dims, n_act) in collapse.items():
    print(f"{name:18s}: {n_collapsed[name]:2d} of 16 dimensions collapsed (KL < 0.05 nats), {n_act:2d} active units, total KL {kl_dims.sum():.1f} nats")

# %%
fig, ax = plt.subplots(figsize=(8, 3.5))
for i, (name, (kl_dims, n_act)) in enumerate(collapse.items()):
    ax.bar(torch.arange(16) + (i - 1) * 0.28, kl_dims.sort(descending=True).values, width=0.28, label=f"{name}: {n_collapsed[name]} collapsed")
ax.axhline(0.05, c="k", lw=0.8, ls="--")
ax.set_xlabel("latent dimension (sorted by KL)")
ax.set_ylabel("mean KL per dimension (nats)")
ax.set_title("Collapsed dimensions carry (almost) zero KL; free bits keeps every one in use")
ax.legend()
rt.save_figure(fig, "posterior_collapse")
assert n_collapsed["plain (β = 1)"] >= 1, "some dimensions collapse in the plain model"
assert n_collapsed["free bits λ = 0.5"] == 0, "free bits keeps every dimension in use"
rt.record("collapsed_dims_plain", n_collapsed["plain (β = 1)"], "of 16")
rt.record("collapsed_dims_annealing", n_collapsed["KL annealing"], "of 16")

# %% [markdown]
# Free bits works by construction: below $\lambda$ a dimension's KL costs nothing, so the encoder is
# free to use it. KL annealing helps less reliably (compare its counts with the plain model's across
# seeds and budgets): once the weight reaches 1 the pull towards the prior returns. Note that free
# bits also raises the rate, and a dimension "in use" need not carry much (look at the bars).

# %% [markdown]
# # Part II (optional): autoencoders, conditional VAEs, binarised MNIST
#
# ## 8. An autoencoder is not a generative model
# A plain autoencoder has the same encoder and decoder but a deterministic code $z = \mu(x)$ and no
# KL term. It reconstructs well, yet nothing makes its codes fill a known region, so "decode a random
# latent point" has no meaning of its own. We decode codes drawn from $\mathcal N(0, I)$ (the VAE's
# prior) and, to give it a fair chance, from a diagonal Gaussian matched to its training codes' mean
# and spread. We measure the decoded images two ways: a small classifier's
# **predictive entropy** (high: the image is no clear digit; raw confidence is over-confident on
# garbage, entropy less so) and the **distance to the nearest real training digit**.

# %%
ae = Autoencoder(VAEConfig(shape=(1, 8, 8), num_levels=17, **MAIN))
train(ae, digits, epochs=rt.pick(smoke=12, laptop=100, full=300), name="digits-ae", batch_size=50, lr=rt.pick(smoke=2e-3, laptop=1e-3, full=1e-3),
      weight_decay=1e-3, patience=rt.pick(smoke=None, laptop=20, full=30))
ae.fit_code_distribution(digits.train.x)
clf = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
opt = torch.optim.Adam(clf.parameters(), lr=3e-3, weight_decay=1e-3)
for _ in range(rt.pick(smoke=300, laptop=500, full=500)):  # full-batch training, a second or two
    opt.zero_grad()
    F.cross_entropy(clf(digits.train.x), digits.train.y).backward()
    opt.step()
clf_acc = (clf(digits.test.x).argmax(1) == digits.test.y).float().mean().item()
print(f"classifier test accuracy: {clf_acc:.3f}")


# %%
@torch.no_grad()
def realism(images):
    """Mean predictive entropy (nats) of the classifier and mean L2 distance to the nearest training digit."""
    probs = torch.softmax(clf(images.cpu()), 1)
    entropy = -(probs * probs.clamp_min(1e-12).log()).sum(1).mean().item()
    nearest = torch.cdist(images.cpu().flatten(1), digits.train.x.flatten(1)).min(1).values.mean().item()
    return entropy, nearest


gen = torch.Generator().manual_seed(1)
decoded = {"real test digits": digits.test.x[:200], "VAE: z ~ p(z)": vae.sample(200, gen, mean=True),
           "AE: z ~ N(0, I)": ae.decode(torch.randn(200, MAIN["latent_dim"], generator=gen).to(dev)),
           "AE: z ~ matched Gaussian": ae.sample(200, gen, mean=True)}
scores = {name: realism(imgs) for name, imgs in decoded.items()}
for name, (ent, dist) in scores.items():
    print(f"{name:26s} entropy {ent:.3f} nats | distance to nearest training digit {dist:.2f}")

# %%
fig = image_rows({name: imgs[:12] for name, imgs in decoded.items()}, nrow=12,
                 title="Decoded random latents: the VAE's prior gives digits; the autoencoder has no prior to sample")
rt.save_figure(fig, "ae_vs_vae")
assert clf_acc > 0.85
(e_real, d_real), (e_vae, d_vae), (e_ae, d_ae), (e_aem, d_aem) = scores.values()
assert d_vae < d_ae - 0.3 and e_ae > e_real + 0.5, "decoded N(0, I) codes of the autoencoder are far from every real digit, and unclassifiable"
rt.record("entropy_gap_ae_std_minus_vae", e_ae - e_vae, "nats", at_least=0.2, budget="laptop")  # a trained VAE is needed
closed = {"entropy": (e_ae - e_aem) / (e_ae - e_real), "distance": (d_ae - d_aem) / (d_ae - d_real)}
print("fitting a Gaussian to the codes closes " + ", ".join(f"{v:.0%} of the {k} gap to real digits" for k, v in closed.items()))
assert min(closed.values()) > 1 / 3, "a Gaussian fitted to its codes does much better: it closes over a third of each gap"
assert e_real < min(e_vae, e_aem) and d_real < min(d_vae, d_aem), "neither generator matches real digits"
rt.record("entropy_vae_samples", e_vae, "nats")
rt.record("entropy_ae_matched_samples", e_aem, "nats")

# %% [markdown]
# Decoding $\mathcal N(0, I)$ through the autoencoder gives shapes no classifier recognises and
# nothing near a real digit: its codes live on a scale (and in a region) of their own. Fitting a
# Gaussian to its training codes closes a large part of the gap to real digits on these small images
# (printed above: over a third on both measures): the autoencoder
# *can* be turned into a generator after the fact, but only by fitting a density to its codes,
# which is what the VAE's KL term does during training, with a likelihood bound to show for it.

# %% [markdown]
# **Interpolation.** Encode two test digits, walk the straight line between their means, decode each
# point. With a well-trained VAE the path stays among digit-like images, because the KL term packs
# the codes around the prior with few holes, while a cross-fade of the pixels passes through two
# superimposed digits. We measure the distance of the middle images to the nearest real training
# digit; the claim, checked at the `laptop` budget (it needs a trained VAE), is that the latent path
# is at least 10 % closer.

# %%
rows, d_latent, d_pixel = {}, [], []
t = torch.linspace(0, 1, 10)[:, None, None, None]
for i, j in [(0, 1), (2, 3), (5, 9), (4, 7)]:
    xa, xb = digits.test.x[digits.test.y == i][:1], digits.test.x[digits.test.y == j][:1]
    rows[f"{i} -> {j} (latent)"] = interpolate(vae, xa.to(dev), xb.to(dev), steps=10).cpu()
    rows[f"{i} -> {j} (pixels)"] = (1 - t) * xa + t * xb  # a cross-fade, for comparison
    d_latent.append(realism(rows[f"{i} -> {j} (latent)"][3:7])[1])
    d_pixel.append(realism(rows[f"{i} -> {j} (pixels)"][3:7])[1])
fig = image_rows(dict(list(rows.items())[:6]), nrow=10, title="Walking in latent space (VAE) vs cross-fading pixels")
rt.save_figure(fig, "interpolation")
print(f"mid-path distance to the nearest training digit: latent path {sum(d_latent) / 4:.2f}, pixel cross-fade {sum(d_pixel) / 4:.2f}")
path, ends = rows["0 -> 1 (latent)"], rows["0 -> 1 (pixels)"][[0, -1]]
dist_to_ends = torch.cdist(path[[0, -1]].flatten(1), ends.flatten(1))  # (start, end) x (digit a, digit b)
assert dist_to_ends[0, 0] < dist_to_ends[0, 1] and dist_to_ends[1, 1] < dist_to_ends[1, 0], "the path runs from one digit to the other"
rt.record("interp_mid_distance_ratio_latent_over_pixel", sum(d_latent) / sum(d_pixel), "x", at_most=0.9, budget="laptop")  # a trained VAE is needed

# %% [markdown]
# ## 9. A conditional VAE: choose the digit
# Give the class $y$ to both networks, $q(z\mid x, y)$ and $p(x\mid z, y)$, keep $p(z) = \mathcal N(0, I)$
# (Sohn et al. 2015). The ELBO is now a bound on $\log p(x\mid y)$, and $z$ is free to code *style*
# (slant, thickness) since the class is given. To draw a chosen digit: $z\sim p(z)$, then decode with
# that $y$. Later notebooks reuse this conditional generator.

# %%
cvae = VAE(VAEConfig(shape=(1, 8, 8), num_levels=17, num_classes=10, latent_dim=8, hidden=rt.pick(smoke=128, laptop=256, full=256), depth=2))
train(cvae, digits, epochs=rt.pick(smoke=12, laptop=300, full=300), name="digits-cvae", labels=True, batch_size=50, lr=2e-3, weight_decay=1e-3,
      patience=rt.pick(smoke=None, laptop=30, full=30))
b_c = evaluate_bounds(cvae, digits.test.x, ks=(1,), y=digits.test.y)
print(f"conditional VAE: test -ELBO of log p(x | y) {-b_c[1].mean():.2f} nats (unconditional -ELBO {neg_elbo:.2f})")

# %%
present(partial(render_conditional, cvae), digit=(0, 9), mean=True);

# %%
gen = torch.Generator().manual_seed(3)
wanted = torch.arange(10).repeat_interleave(20)
samples_c = cvae.sample(200, gen, y=wanted, mean=True).cpu()
hit_rate = (clf(samples_c).argmax(1) == wanted).float().mean().item()
print(f"the classifier reads the requested digit in {hit_rate:.0%} of 200 conditional samples")
fig = image_grid(samples_c.reshape(10, 20, 1, 8, 8)[:, :10].reshape(100, 1, 8, 8), nrow=10, title="Conditional VAE: row = requested class 0-9")
rt.save_figure(fig, "cvae_samples")
assert hit_rate > 0.8, "the conditional VAE draws the class it is asked for"
rt.record("cvae_class_hit_rate", hit_rate, "fraction")

# %% [markdown]
# ## 10. A Bernoulli VAE on binarised MNIST
# The same model with a **Bernoulli** decoder on the 28x28 binarised images (the offline 5k split).
# Compare with independent pixels (≈ 205–210 nats) and, with care, the literature: a one-layer VAE
# reaches 86.8 nats with $k = 5000$ on the full 60k MNIST with dynamic binarisation (Burda et al.
# 2016); with 4,000 training images and static binarisation we are far from that regime.

# %%
mnist = load_mnist5k()
with Stopwatch() as sw_m:
    vae_m, _ = load_model("vae-mnist", rt)  # Bernoulli decoder; 32 latents, 2 x 400 hidden at laptop
b_m = evaluate_bounds(vae_m, mnist.test.x, ks=rt.pick(smoke=(1, 10), laptop=(1, 10, 100), full=(1, 10, 100, 1000)))
nll_ind_m = mean_nll(IndependentPixels(IndependentConfig()).fit_closed_form(mnist.train.x), mnist.test.loader(500, shuffle=False))
print("binarised MNIST test: " + ", ".join(f"-L_{k} {-v.mean():.1f}" for k, v in b_m.items()) + " nats")
print(f"independent pixels {nll_ind_m:.1f} nats; VAE trained in {sw_m.seconds:.0f} s")
fig = image_rows({"test": mnist.test.x[:10], "reconstruction (mean)": vae_m.reconstruct(mnist.test.x[:10].to(dev)),
                  "sample (mean)": vae_m.sample(10, torch.Generator().manual_seed(0), mean=True)}, nrow=10,
                 title="Bernoulli VAE on binarised MNIST")
rt.save_figure(fig, "mnist_vae")
ks_m = list(b_m)
assert -b_m[1].mean() < nll_ind_m - 20 and b_m[ks_m[-1]].mean() > b_m[1].mean()
rt.record("test_neg_elbo_mnist5k", -b_m[1].mean().item(), "nats", at_most=125.0, budget="laptop")
rt.record(f"test_neg_iw{ks_m[-1]}_mnist5k", -b_m[ks_m[-1]].mean().item(), "nats")

# %% [markdown]
# ## Exercises
# 1. Show that $\mathcal L_1$, the one-sample importance-weighted estimate, is an unbiased estimate
#    of the closed-form-KL ELBO: average `log_weights(x, k)` over many draws and compare.
# 2. In the PPCA model the best **mean-field** $q$ has precision equal to the diagonal of the
#    posterior precision (the choice above). Check numerically that scaling its variances by 0.8 or
#    1.25 only lowers the ELBO.
# 3. Decode the 2-D VAE's latent grid and find the region where the decoded images are least
#    digit-like (highest classifier entropy). Is it where few test codes lie?

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution 1: the mean of single-sample log-weights equals the ELBO up to Monte-Carlo error.
with torch.no_grad():
    lw = torch.cat([vae.log_weights(digits.test.x[:100].to(dev), 50, generator=torch.Generator().manual_seed(s)) for s in range(4)])  # (200, 100)
    x100 = digits.test.x[:100].to(dev)
    elbo_cf = torch.stack([vae.elbo(x100, generator=torch.Generator().manual_seed(100 + s)).elbo for s in range(200)])  # (200, 100)
diff = lw.mean() - elbo_cf.mean()
se = math.sqrt((lw.var(0).mean() + elbo_cf.var(0).mean()).item() / lw.numel())  # independent draws for every image
print(f"mean single-sample log weight - ELBO: {diff:+.3f} nats (Monte-Carlo s.e. about {se:.3f})")
assert abs(diff) < 0.3, "equal up to Monte-Carlo error"

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution 2: the mean-field optimum (for a Gaussian posterior) is the diagonal of the precision.
m_mf, S_mf = qs["mean-field"]
best = ppca.elbo(x_lg, m_mf, S_mf)
for scale in (0.8, 1.25):
    other = ppca.elbo(x_lg, m_mf, S_mf * scale)
    print(f"variances x{scale}: ELBO lower by {(best - other).mean():.4f} nats")
    assert (other < best).all()

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution 3: classifier entropy over the 2-D grid vs where the test codes lie.
from course_utils.lessons.vae_views import latent_grid

with torch.no_grad():
    grid_imgs = latent_grid(vae2, n=15, span=2.5).cpu()
    probs = torch.softmax(clf(grid_imgs), 1)
    ent = -(probs * probs.clamp_min(1e-12).log()).sum(1).reshape(15, 15)
ticks = torch.linspace(-2.5, 2.5, 15)
z2g, z1g = torch.meshgrid(ticks.flip(0), ticks, indexing="ij")
near = torch.cdist(torch.stack([z1g.flatten(), z2g.flatten()], 1), codes2).min(1).values.reshape(15, 15)
top, bottom = ent.flatten().argsort()[-20:], ent.flatten().argsort()[:20]
print(f"distance to nearest test code: {near.flatten()[top].mean():.2f} at the 20 most uncertain grid points, "
      f"{near.flatten()[bottom].mean():.2f} at the 20 most certain")
# No: the least digit-like decodings are no farther from the test codes than the most confident ones
# (within half a grid step): they sit *among* the codes, where classes meet and the decoder blends them.
step = (ticks[1] - ticks[0]).item()
assert ent.shape == (15, 15) and near.flatten()[top].mean() < near.flatten()[bottom].mean() + step / 2

# %% [markdown]
# ## Summary
# - A latent-variable model is normalised by construction; its likelihood is an integral, exact for a
#   discrete $z$ (a mixture), intractable for a continuous one beyond a couple of dimensions. In 2-D a
#   grid gives both the exact $\log p(x)$ and a check of the normalisation.
# - ELBO $= \log p(x) - \mathrm{KL}(q\,\|\,p(z\mid x))$: checked to $10^{-8}$ on probabilistic PCA;
#   a diagonal $q$ pays a gap even with the right mean.
# - The reparameterisation trick gives gradients with orders of magnitude less variance than the
#   score function; a baseline narrows the gap but does not close it.
# - A VAE is an encoder $(\mu, \log\sigma^2)$, a reparameterised sample $z = \mu + \sigma\odot\varepsilon$
#   and a decoder; its loss is $-(\log p(x\mid z) - \mathrm{KL})$. The importance-weighted bound
#   averages $k$ weights in log space (log-sum-exp) and rises towards $\log p(x)$; report the −ELBO and
#   the bound side by side, never one for the other.
# - With 1,000 training images the decoder overfits: dropout, weight decay and early stopping keep it
#   in check. An autoregressive model of the same digits (notebook 03's PixelCNN) has a better exact
#   NLL than the VAE's tightest bound.
# - Samples are blurry because pixels are independent given $z$. β trades rate for distortion, and
#   only β = 1 trains on the ELBO; unused latent dimensions collapse to the prior, and free bits (or,
#   less reliably, KL annealing) keep them in use.
# - Part II: an autoencoder reconstructs but does not generate (the KL term is what makes the codes
#   fill the prior); a conditional VAE generates the class you ask for.
#
# ## References
# - D. P. Kingma, M. Welling. *Auto-Encoding Variational Bayes*, ICLR 2014.
# - D. J. Rezende, S. Mohamed, D. Wierstra. *Stochastic Backpropagation and Approximate Inference in Deep Generative Models*, ICML 2014.
# - M. E. Tipping, C. M. Bishop. *Probabilistic Principal Component Analysis*, JRSS B 1999.
# - R. J. Williams. *Simple statistical gradient-following algorithms for connectionist reinforcement learning*, 1992 (REINFORCE).
# - Y. Burda, R. Grosse, R. Salakhutdinov. *Importance Weighted Autoencoders*, ICLR 2016.
# - S. R. Bowman et al. *Generating Sentences from a Continuous Space*, CoNLL 2016 (KL annealing).
# - D. P. Kingma et al. *Improved Variational Inference with Inverse Autoregressive Flow*, NeurIPS 2016 (free bits).
# - I. Higgins et al. *β-VAE*, ICLR 2017; A. Alemi et al. *Fixing a Broken ELBO*, ICML 2018 (rate–distortion).
# - K. Sohn, H. Lee, X. Yan. *Learning Structured Output Representation using Deep Conditional Generative Models*, NeurIPS 2015.
# - I. Gulrajani et al. *PixelVAE*, ICLR 2017; J. Tomczak, M. Welling. *VAE with a VampPrior*, AISTATS 2018.
# - J. M. Tomczak. *Deep Generative Modeling*, Springer 2022, and its notebooks `intro_dgm` (the VAE on the 8x8 digits).

