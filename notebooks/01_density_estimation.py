# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 · Density estimation and the curse of dimensionality
#
# A generative model is a probability distribution we can fit to data. Before any neural network,
# this notebook makes you *feel* why that is hard, and what "imposing structure" buys, with
# numbers you can check.
#
# In this notebook you will learn
# - the task: an unknown $p_\text{data}$, samples from it, a model $p_\theta$, and the two things
#   we want from it (evaluate $\log p_\theta(x)$, draw $x \sim p_\theta$);
# - to **count** what a distribution over images costs: $2^{784}-1$ numbers, and why the chain
#   rule alone does not help;
# - to fit **structured** models by counting (independent pixels, a Markov chain, causal
#   neighbourhoods) and a **mixture** by EM, and to score them in nats and bits/dim;
# - why independence is exact for noise and disastrous for digits, measured;
# - the curse in continuous space: histograms, kernels and Gaussians as the dimension grows, and
#   distances that stop discriminating;
# - **inductive bias**: a stronger assumption needs less data but has a lower ceiling.
#
# *Cost: about half a minute on a laptop CPU at the `smoke` budget, a couple of minutes at `laptop`.*

# %% [markdown]
# ## Setup

# %%
import copy
import math

import matplotlib.pyplot as plt
import numpy as np
import torch

from course_utils import Stopwatch, load_mnist5k, present, setup, toy_2d
from course_utils.lessons.curse import (chain_rule_table_sizes, distance_contrast, empty_cell_fraction,
                                        full_table_parameters, gaussian_log_prob, gmm_log_prob, histogram_cells,
                                        histogram_log_prob, kde_log_prob, line_plot, log10_full_table_parameters,
                                        render_estimators_1d, render_library, render_mixture_surface, scott_bandwidth)
from course_utils.evaluation.likelihood import nats_to_bpd, uniform_nll
from course_utils.plotting import density_2d, image_grid, image_rows
from course_utils.models.tables import CausalTable, MixtureConfig, MixtureOfBernoullis, TableConfig, fit_baselines

rt = setup("01_density_estimation")
mnist = load_mnist5k(binarized=True)  # 4000 / 500 / 500 binary 28x28 digits, static binarisation
x_train, x_val, x_test = (s.x.to(rt.device) for _, s in mnist.splits())
D = 28 * 28

# %% [markdown]
# ## 1. The task
# Nature draws images from an unknown distribution $p_\text{data}(x)$. We never see
# $p_\text{data}$, only $N$ samples $x^{(1)}, \dots, x^{(N)}$. We choose a family
# $p_\theta$ and fit $\theta$ by **maximum likelihood**,
# $$\hat\theta = \arg\max_\theta \frac1N \sum_{n=1}^N \log p_\theta(x^{(n)}),$$
# which minimises $\mathrm{KL}(\hat p_\text{data} \,\|\, p_\theta)$ to the empirical
# distribution. We judge the fit on **held-out** images by the test negative log-likelihood (NLL,
# nats per image; lower is better). Two things we want from a model:
#
# | want | question | families of the course that give it |
# |---|---|---|
# | **evaluate** $\log p_\theta(x)$ | how typical is this image? (compression, anomaly detection, model comparison) | autoregressive (03) and flows (05) exactly; VAEs (04) and diffusion (08) a lower bound; EBMs (07) up to a constant; GANs (06) not at all |
# | **sample** $x \sim p_\theta$ | show me a new image | all of them: GANs and diffusion are best at it, EBMs need MCMC |
#
# Why not just use the empirical distribution, $\frac1N\sum_n \delta(x = x^{(n)})$? It puts all
# its mass on the training images, so every *new* image gets probability 0: it memorises, it does
# not generalise. The cell below checks that not one test digit appears in the training set.

# %%
train_codes = {tuple(row) for row in x_train.flatten(1).bool().cpu().numpy().tolist()}
test_seen = sum(tuple(row) in train_codes for row in x_test.flatten(1).bool().cpu().numpy().tolist())
print(f"distinct training images: {len(train_codes)} of {len(x_train)}; test images seen in training: {test_seen} of {len(x_test)}")
assert test_seen == 0, "the empirical distribution gives every test image probability 0"

# %% [markdown]
# ## 2. Counting: the library that doubles
# A distribution over $n$ binary pixels is a table of $2^n$ probabilities that sum to one: $2^n - 1$
# free numbers. Each extra pixel doubles the *library* of possible images, and so the table. For a
# 28x28 image that is $2^{784} - 1 \approx 10^{236}$ numbers, against about $10^{80} \approx 2^{266}$
# atoms in the observable universe. Move the slider: at $n = 10$ the library still fits on the
# screen; by $n = 266$ it has more entries than there are atoms.

# %%
n_full = full_table_parameters(D)
print(f"2^784 - 1 has {len(str(n_full))} digits: about 10^{log10_full_table_parameters(D):.1f}")
print(f"10^80 atoms is about 2^{80 / math.log10(2):.1f}")
assert len(str(n_full)) == 237 and round(log10_full_table_parameters(D)) == 236
assert round(80 / math.log10(2)) == 266 and log10_full_table_parameters(266) > 80 > log10_full_table_parameters(265)

# %%
panel = present(render_library, n=(1, 784))

# %%
for n in (1, 784):
    plt.close(render_library(n))  # the ends of the slider render without a front end

# %% [markdown]
# ### The chain rule moves the exponential, it does not remove it
# Every distribution factorises exactly, in any order, as
# $$p(x_1, \dots, x_n) = \prod_{i=1}^n p(x_i \mid x_1, \dots, x_{i-1}).$$
# The $i$-th conditional is a table with one Bernoulli probability per configuration of its
# $i-1$ parents: $2^{i-1}$ numbers. Summed, $\sum_{i=1}^n 2^{i-1} = 2^n - 1$: exactly the count we
# started with. All the cost has moved into the last conditionals. Structure means *cutting the
# parents*: let pixel $i$ see only a few earlier pixels $N(i)$, so its table has $2^{|N(i)|}$ entries.

# %%
sizes = chain_rule_table_sizes(D)
assert sum(sizes) == full_table_parameters(D), "the chain rule's tables add up to 2^n - 1"
structured = {k: CausalTable(TableConfig((1, 28, 28), neighbours=k)) for k in (0, 1, 2, 4, 8)}
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.6))
ax1.plot(range(1, D + 1), [math.log2(s) for s in sizes], label="full chain rule: $2^{i-1}$")
ax1.plot(range(1, D + 1), structured[8].num_valid.float().numpy(), label="8 parents")
ax1.set(xlabel="pixel i in raster order", ylabel="$\\log_2$ (table size of $p(x_i \\mid$ parents$)$)",
        title="The chain rule's last table needs $2^{783}$ numbers")
ax1.legend()
for k, model in structured.items():
    ax2.plot(range(1, D + 1), model.num_valid.float().numpy(), label=f"{k} parents: total {model.num_parameters():,}")
ax2.set(xlabel="pixel i in raster order", ylabel="$\\log_2$ (table size)", title="Cutting the parents: at most $2^8$ numbers per pixel")
ax2.legend(fontsize=8)
rt.save_figure(fig, "table_sizes")

# %% [markdown]
# ## 3. Imposing structure, fitted by counting
# We fit five structured models of binary digits, each a *Bayes net* in raster order,
# $p_\theta(x) = \prod_i p_\theta(x_i \mid x_{N(i)})$, with one table per pixel position:
#
# | model | parents $N(i)$ | free parameters |
# |---|---|---|
# | independent | none | $D = 784$ |
# | Markov chain | the previous pixel in raster order | $2D - 1$ |
# | 2 neighbours | left, up | $\le 4D$ |
# | 4 neighbours | left, up, up-left, up-right | $\le 16D$ |
# | 8 neighbours | the 4 above and the pixels two steps left, up, up-left-left, up-right-right | $\le 256D$ |
#
# (A neighbour outside the image reads as 0, so border pixels have fewer reachable contexts.)
#
# **Maximum likelihood by counting.** The log-likelihood splits into one term per pixel and
# context $c$: $\sum_{i,c} [n_i(c,1)\log\theta_{ic} + n_i(c,0)\log(1-\theta_{ic})]$, where
# $n_i(c,v)$ counts training images in which pixel $i$ has context $c$ and value $v$. Setting the
# derivative to zero gives $\hat\theta_{ic} = n_i(c,1) / (n_i(c,0) + n_i(c,1))$. A context never
# seen in training would get $0/0$, and a value never seen would get probability 0 (an infinite
# test NLL), so we add $\alpha = \tfrac12$ pseudo-counts (Jeffreys' prior):
# $$\hat\theta_{ic} = \frac{n_i(c,1) + \alpha}{n_i(c,0) + n_i(c,1) + 2\alpha}.$$
#
# **Re-derive, then verify**: the table of the centre pixel of the 2-neighbour model, in a few
# lines, against the package (context code $c = x_\text{left} + 2\,x_\text{up}$).

# %%
with Stopwatch() as sw_tables:
    tables = fit_baselines(x_train, alpha=0.5)
r, c, alpha = 14, 14, 0.5
x_i, left, up = x_train[:, 0, r, c], x_train[:, 0, r, c - 1], x_train[:, 0, r - 1, c]
context = (left + 2 * up).long()
mine = torch.stack([(x_i[context == k].sum() + alpha) / ((context == k).sum() + 2 * alpha) for k in range(4)])
package = tables["nbr2"].log_theta[r * 28 + c, :, 1].exp()
print("p(x_centre = 1 | left, up) for (0,0), (1,0), (0,1), (1,1):", mine.cpu().numpy().round(3))
assert torch.allclose(mine, package, atol=1e-6)

# %% [markdown]
# ### A latent-variable model: the mixture of Bernoullis, fitted by EM
# Instead of local structure, a *global* one: a hidden class $k \in \{1..K\}$ ("which kind of
# digit") with $p(k) = \pi_k$, and independent pixels given the class,
# $$p_\theta(x) = \sum_{k=1}^K \pi_k \prod_i \mu_{ki}^{x_i}(1-\mu_{ki})^{1-x_i}.$$
# The sum inside the log has no closed-form maximiser, but **expectation-maximisation** alternates
# two closed forms (Dempster et al. 1977):
# - **E-step**: responsibilities $r_{nk} = p(k \mid x^{(n)}) = \pi_k p(x^{(n)}\mid k) / \sum_j \pi_j p(x^{(n)}\mid j)$;
# - **M-step**: weighted counts, $\pi_k = \frac1N\sum_n r_{nk}$ and
#   $\mu_{ki} = \frac{\sum_n r_{nk} x^{(n)}_i + \alpha}{\sum_n r_{nk} + 2\alpha}$.
#
# Each step never lowers the (smoothed) likelihood. This is the first latent-variable model of the
# course; notebook 04 replaces the discrete $k$ by a continuous $z$ and the E-step by an encoder.

# %%
K, em_iters = rt.pick(smoke=20, laptop=50, full=100), rt.pick(smoke=25, laptop=50, full=100)
with Stopwatch() as sw_em:
    mixture = MixtureOfBernoullis(MixtureConfig((1, 28, 28), components=K)).to(rt.device)
    mixture.fit_em(x_train, iters=em_iters, generator=torch.Generator().manual_seed(rt.seed))
hist = torch.tensor(mixture.em_history)
print(f"EM, K = {K}: training NLL {hist[0]:.1f} -> {hist[-1]:.1f} nats in {em_iters} steps ({sw_em.seconds:.1f} s)")
assert hist[-1] < hist[1] - 5 and torch.all(hist[2:] <= hist[1:-1] + 0.05), "EM steadily lowers the training NLL"

# %% [markdown]
# Re-derive one EM step from the formulas above and compare with the package's M-step:

# %%
x_flat, mu, pi = x_train.flatten(1), mixture.mu.flatten(1), mixture.pi
log_px_k = x_flat @ mu.log().T + (1 - x_flat) @ (1 - mu).log().T  # (N, K): log p(x | k)
resp = torch.softmax(pi.log() + log_px_k, dim=1)  # E-step
mu_mine = (resp.T @ x_flat + 0.5) / (resp.sum(0)[:, None] + 1.0)  # M-step
stepped = copy.deepcopy(mixture)
stepped.m_step(x_train, stepped.responsibilities(x_train))
assert torch.allclose(resp, mixture.responsibilities(x_train), atol=1e-4)
assert torch.allclose(mu_mine, stepped.mu.flatten(1), atol=1e-4)

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.4), gridspec_kw={"width_ratios": [1, 1.3]})
ax1.plot(range(1, len(hist) + 1), hist.numpy(), "o-", ms=3)
ax1.set(xlabel="EM step", ylabel="training NLL (nats per image)", title="EM: every step lowers the NLL")
order = mixture.pi.argsort(descending=True)
image_grid(mixture.mu[order].detach(), nrow=10, ax=ax2, title=f"the {K} component means $\\mu_k$, largest $\\pi_k$ first")
rt.save_figure(fig, "mixture_em")

# %% [markdown]
# ### Scores: test NLL in nats and bits per dimension
# Bits/dim divide the NLL by $D \ln 2$; a binary pixel carries at most 1 bit, so the uniform
# model scores exactly 1 bit/dim.

# %%
models = {**tables, f"mixture K={K}": mixture}
scores = {}
print(f"{'model':>16} {'parameters':>11} {'test NLL (nats)':>16} {'bits/dim':>9}")
for name, model in models.items():
    nll = -model.log_prob(x_test).mean().item()
    scores[name] = nll
    print(f"{name:>16} {model.num_parameters():>11,} {nll:>16.2f} {nats_to_bpd(nll, D):>9.4f}")
    rt.record(f"test_nll_{name.split()[0]}", nll, "nats")
print(f"{'uniform':>16} {0:>11} {uniform_nll(D, 2):>16.2f} {1:>9.4f}")
with Stopwatch() as sw_nbr4:
    CausalTable(TableConfig(neighbours=4)).to(rt.device).fit_counts(x_train)
print(f"fitting the 4-neighbour table took {1000 * sw_nbr4.seconds:.0f} ms, all five {sw_tables.seconds:.2f} s; EM {sw_em.seconds:.2f} s")
rt.record("fit_seconds_nbr4", sw_nbr4.seconds, "s")
rt.record("fit_seconds_tables", sw_tables.seconds, "s")
rt.record("fit_seconds_em", sw_em.seconds, "s")
rt.record("test_bpd_nbr4", nats_to_bpd(scores["nbr4"], D), "bits/dim")
rt.record("test_nll_nbr4_laptop", scores["nbr4"], "nats", at_most=108.0, budget="laptop")

# %% [markdown]
# The structures predict an ordering: each table conditions on a superset of the previous one's
# parents (the Markov chain's "previous pixel" is the left neighbour except at the start of a
# row), so with enough data each can only do better; the mixture captures the global shape of a
# digit but not the local continuity of strokes, so it sits between independence and the local
# models. A 4-neighbour table, fitted by counting in a fraction of a second, scores about 107 nats:
# the **baseline any neural model of notebook 03 must beat**.

# %%
s = scores
assert s["independent"] > s[f"mixture K={K}"] > s["markov"] > s["nbr2"] > s["nbr4"] > s["nbr8"]
assert s["independent"] - s["nbr4"] > 80, "local structure is worth about 100 nats per image"
assert 100 < s["nbr4"] < 110 and sw_nbr4.seconds < 5

# %% [markdown]
# ### Every model is a normalised distribution
# "Exact log-likelihood" is a claim we can check where the space is small: on 4x4 crops of the
# digits there are $2^{16} = 65{,}536$ images, and each model's probabilities must sum to 1.

# %%
crops = x_train[:, :, 12:16, 12:16]  # the centre 4x4 of every training digit
every_crop = torch.tensor(np.array(np.unravel_index(np.arange(2**16), (2,) * 16)).T, dtype=torch.float32)
every_crop = every_crop.view(-1, 1, 4, 4).to(rt.device)
crop_models = fit_baselines(crops)
crop_models["mixture"] = MixtureOfBernoullis(MixtureConfig((1, 4, 4), 5)).to(rt.device).fit_em(crops, 10)
for name, model in crop_models.items():
    total = model.log_prob(every_crop).double().logsumexp(0).exp().item()
    print(f"{name:>12}: sum over all 65,536 crops of p(x) = {total:.6f}")
    assert abs(total - 1) < 1e-4, name

# %% [markdown]
# ### Samples, side by side
# Each model draws pixel by pixel (the mixture: a class, then its pixels). What the structure
# cannot express shows up at once.

# %%
g = torch.Generator().manual_seed(1)
samples = {name: model.sample(10, generator=g) for name, model in models.items()}
fig = image_rows({"data": x_test[:10], **samples}, nrow=10,
                 title="Independent: static. Markov: horizontal streaks. Neighbourhoods: blobs and stroke pieces. Mixture: noisy prototypes")
rt.save_figure(fig, "samples")

# %% [markdown]
# The Markov chain's streaks are measurable: along a row its samples keep a pixel's value far more
# often than independent pixels do, but *vertically* they are no more coherent than static,
# because the chain only ever looks left.

# %%
def agreement(x, dim):
    """Among neighbouring pixel pairs (along dim) with at least one pixel on, the fraction with both on."""
    a, b = x.narrow(dim, 0, x.shape[dim] - 1), x.narrow(dim, 1, x.shape[dim] - 1)
    return ((a * b).sum() / ((a + b).clamp(max=1)).sum()).item()

big = {name: tables[name].sample(200, generator=torch.Generator().manual_seed(2)) for name in ("independent", "markov", "nbr4")}
for name, xs in {"data": x_test, **big}.items():
    print(f"{name:>12}: horizontal {agreement(xs, 3):.2f}   vertical {agreement(xs, 2):.2f}")
assert agreement(big["markov"], 3) > agreement(big["independent"], 3) + 0.2, "along a row the chain keeps a pixel's value"
assert agreement(big["markov"], 2) < agreement(big["independent"], 2) + 0.05, "vertically it is no better than static"
assert agreement(big["nbr4"], 2) > agreement(big["markov"], 2) + 0.1, "the up-neighbours restore vertical strokes"

# %% [markdown]
# ## 4. Independence: exact for noise, disastrous for digits
# The independent model says $p(x) = \prod_i p(x_i)$: knowing one pixel tells you nothing about
# another. For static (pixels drawn independently) that is the truth; for digits it is badly
# false: a pixel on a stroke makes its neighbours likely to be on. The correlation of the centre
# pixel with every other pixel shows it.

# %%
noise_train = tables["independent"].sample(len(x_train), generator=torch.Generator().manual_seed(3))
noise_test = tables["independent"].sample(len(x_test), generator=torch.Generator().manual_seed(4))


def correlation_with(x, r, c):
    """Pearson correlation (28, 28) of pixel (r, c) with every pixel over the images x (N, 1, 28, 28)."""
    z = x.flatten(1) - x.flatten(1).mean(0)
    z = z / z.norm(dim=0).clamp(min=1e-8)
    return (z.T @ z[:, r * 28 + c]).view(28, 28)


corr = {"digits": correlation_with(x_train, 14, 14), "static (independent samples)": correlation_with(noise_train, 14, 14)}
fig, axes = plt.subplots(1, 2, figsize=(8, 3.8))
for ax, (name, cm) in zip(axes, corr.items()):
    im = ax.imshow(cm.cpu(), cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set(title=name, xlabel="column", ylabel="row")
    ax.grid(False)
fig.colorbar(im, ax=axes, label="correlation with the centre pixel (14, 14)")
fig.suptitle("Digits: a pixel predicts its neighbours along the stroke. Static: it predicts nothing")
rt.save_figure(fig, "correlation_maps")

# %%
off_centre = lambda cm: torch.cat([cm.flatten()[: 14 * 28 + 14], cm.flatten()[14 * 28 + 15 :]])  # noqa: E731
print({name: round(off_centre(cm).abs().max().item(), 3) for name, cm in corr.items()}, "(largest |correlation| off the centre)")
assert corr["digits"][14, 13] > 0.4 and corr["digits"][13, 14] > 0.4, "digits: neighbours strongly correlated"
assert off_centre(corr["static (independent samples)"]).abs().max() < 0.1, "static: no pixel predicts another"

# %% [markdown]
# Now the likelihoods. Fit the independent and the 4-neighbour table to each kind of data and score
# held-out images. On static the extra parameters of the 4-neighbour table buy nothing (they can
# only overfit); on digits they are worth about 100 nats per image, a factor $e^{100}$ in
# probability.

# %%
gap = {}
for name, (tr, te) in {"static": (noise_train, noise_test), "digits": (x_train, x_test)}.items():
    ind, nb4 = fit_baselines(tr, neighbours=(0, 4)).values()
    nll_ind, nll_nb4 = -ind.log_prob(te).mean().item(), -nb4.log_prob(te).mean().item()
    gap[name] = nll_ind - nll_nb4
    print(f"{name:>7}: independent {nll_ind:6.1f}, 4 neighbours {nll_nb4:6.1f} nats -> structure buys {gap[name]:6.1f} nats")
assert gap["static"] < 1.0 and gap["digits"] > 80

# %% [markdown]
# ## 5. The curse in continuous space
# For real-valued data the classic non-parametric estimators are the **histogram** (count points in
# cells of width $w$) and the **kernel density estimate** (a Gaussian bump of width $h$ on every
# training point, $\hat p(x) = \frac1N \sum_n \mathcal N(x \mid x^{(n)}, h^2 I)$); the simplest
# parametric one is a single **Gaussian** fitted by maximum likelihood. In one dimension, on a
# two-bump density with 60 points:

# %%
def true_pdf_1d(x):
    return 0.6 * torch.exp(-0.5 * ((x + 1.2) / 0.5) ** 2) / (0.5 * math.sqrt(2 * math.pi)) + \
           0.4 * torch.exp(-0.5 * ((x - 1.5) / 0.7) ** 2) / (0.7 * math.sqrt(2 * math.pi))


def sample_1d(n, seed):
    gen = torch.Generator().manual_seed(seed)
    first = torch.rand(n, generator=gen) < 0.6
    return torch.where(first, -1.2 + 0.5 * torch.randn(n, generator=gen), 1.5 + 0.7 * torch.randn(n, generator=gen)).unsqueeze(1)


train_1d, test_1d, grid_1d = sample_1d(60, 0), sample_1d(2000, 1), torch.linspace(-4, 4, 400).unsqueeze(1)
fig = render_estimators_1d(train_1d, grid_1d, true_pdf_1d(grid_1d.squeeze(1)), bins=12)
fig.axes[0].set_title("60 points: the Gaussian misses a bump; histogram and kernel find both")
rt.save_figure(fig, "estimators_1d")
ll_1d = {"histogram": histogram_log_prob(train_1d, test_1d, 12).mean().item(), "kernel": kde_log_prob(train_1d, test_1d).mean().item(),
         "Gaussian": gaussian_log_prob(train_1d, test_1d).mean().item(), "truth": true_pdf_1d(test_1d).log().mean().item()}
print({k: round(v, 3) for k, v in ll_1d.items()}, "(held-out mean log-density)")
assert ll_1d["truth"] > ll_1d["kernel"] > ll_1d["Gaussian"] and ll_1d["histogram"] > ll_1d["Gaussian"]

# %% [markdown]
# **Re-derive, then verify** the kernel estimate at one point, straight from its formula:

# %%
h, x0 = scott_bandwidth(train_1d), torch.tensor([[0.3]])
mine = (torch.exp(-0.5 * ((x0 - train_1d) / h) ** 2) / (h * math.sqrt(2 * math.pi))).mean()
assert torch.allclose(mine.log(), kde_log_prob(train_1d, x0), atol=1e-5)

# %% [markdown]
# In two dimensions (two noisy spirals, 400 points) the same three estimators. The kernel width $h$
# and the number of cells $b$ are **hyperparameters**: we pick each by the log-likelihood of a
# separate validation sample. (Scott's rule of thumb assumes one bump and smooths the spirals
# away; try `kde_log_prob(spiral_train, spiral_test)`.)

# %%
spiral_train, spiral_val, spiral_test = (toy_2d("spirals", n, seed=s) for n, s in ((400, 0), (1000, 1), (2000, 2)))
h_best = max([0.05, 0.1, 0.15, 0.2, 0.3], key=lambda h: kde_log_prob(spiral_train, spiral_val, h).mean().item())
b_best = max([8, 12, 16, 20, 30], key=lambda b: histogram_log_prob(spiral_train, spiral_val, b).mean().item())
estimators = {f"histogram, {b_best}x{b_best} cells": lambda p: histogram_log_prob(spiral_train, p, b_best),
              f"kernel density, h = {h_best}": lambda p: kde_log_prob(spiral_train, p, h_best),
              "one Gaussian": lambda p: gaussian_log_prob(spiral_train, p)}
fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
ll_2d = {}
for ax, (name, fn) in zip(axes, estimators.items()):
    ll_2d[name] = fn(spiral_test).mean().item()
    density_2d(fn, resolution=80, ax=ax, title=f"{name}\nheld-out log-density {ll_2d[name]:.2f}")
fig.suptitle("Two spirals, 400 points: the kernel follows the arms, the histogram is blocky, the Gaussian smears everything")
rt.save_figure(fig, "estimators_2d")
hist_ll, kde_ll, gauss_ll = ll_2d.values()
scott_ll = kde_log_prob(spiral_train, spiral_test).mean().item()
print(f"kernel with Scott's h = {scott_bandwidth(spiral_train):.2f}: {scott_ll:.2f}; with h = {h_best} chosen on validation: {kde_ll:.2f}")
assert kde_ll > hist_ll > gauss_ll and scott_ll < kde_ll - 0.3

# %% [markdown]
# ### As the dimension grows
# A histogram with $b$ cells per axis has $b^D$ cells. With $N$ points, once $b^D \gg N$ almost
# every cell is empty, and almost every *new* point lands in an empty cell: the histogram knows
# nothing there. We draw $N$ points from a standard Gaussian in $D$ dimensions (so the truth is
# known: $-\tfrac12\log(2\pi e) = -1.419$ nats per dimension) and score each estimator on held-out
# points, per dimension. The Gaussian fit is the *right* assumption here, and it shows what a
# correct structural assumption is worth.

# %%
dims = rt.pick(smoke=[1, 2, 3, 4, 6, 8, 10], laptop=[1, 2, 3, 4, 5, 6, 8, 10, 12, 15], full=[1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20])
n_points, bins = rt.pick(smoke=1000, laptop=2000, full=4000), 10
per_dim = {"histogram": [], "kernel density": [], "one Gaussian": []}
empty = []
gen = torch.Generator().manual_seed(rt.seed)
for d in dims:
    tr, te = torch.randn(n_points, d, generator=gen), torch.randn(n_points, d, generator=gen)
    per_dim["histogram"].append(histogram_log_prob(tr, te, bins).mean().item() / d)
    per_dim["kernel density"].append(kde_log_prob(tr, te).mean().item() / d)
    per_dim["one Gaussian"].append(gaussian_log_prob(tr, te).mean().item() / d)
    empty.append(empty_cell_fraction(tr, te, bins))
print(" D:", dims, "\ncells:", [f"{histogram_cells(bins, d):.0e}" for d in dims], "\nempty:", [round(e, 3) for e in empty])

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.8))
line_plot(dims, per_dim, "dimension D", "held-out log-likelihood per dimension (nats)",
          "The histogram sinks to the uniform box; the kernel degrades slowly", ax=ax1)
ax1.axhline(-0.5 * math.log(2 * math.pi * math.e), color="k", ls="--", lw=1, label="truth")
ax1.axhline(-math.log(8), color="grey", ls=":", lw=1, label="uniform on $[-4, 4]^D$")
ax1.legend(fontsize=8)
line_plot(dims, {f"{bins}^D cells": [histogram_cells(bins, d) for d in dims], f"N = {n_points} points": [n_points] * len(dims)},
          "dimension D", "count", "Cells outnumber points from D = 4 on", logy=True, ax=ax2)
ax2b = ax2.twinx()
ax2b.plot(dims, empty, "s--", color="k", ms=3, label="test points in an empty cell (right axis)")
ax2b.set_ylabel("fraction of test points in an empty cell")
ax2b.spines["right"].set_visible(True)
ax2b.grid(False)
ax2b.legend(loc="lower right", fontsize=8)
rt.save_figure(fig, "curse_histogram")

# %%
i2, i8 = dims.index(2), dims.index(8)
assert empty[i2] < 0.05 and empty[i8] > 0.95, "from 2 to 8 dimensions the cells go from full to empty"
assert per_dim["histogram"][i8] < -math.log(8) + 0.01, "at D = 8 the histogram is no better than a uniform box"
assert abs(per_dim["one Gaussian"][-1] + 0.5 * math.log(2 * math.pi * math.e)) < 0.05, "the right assumption stays near the truth"
assert per_dim["one Gaussian"][-1] > per_dim["kernel density"][-1] > per_dim["histogram"][-1]

# %% [markdown]
# ### Distances concentrate
# Kernels and nearest neighbours rely on "nearby" meaning something. Draw 1,000 points uniformly in
# the cube $[0,1]^D$ and measure, for a query point, the relative contrast
# $(d_\text{max} - d_\text{min}) / d_\text{min}$ of its distances to them (Beyer et al. 1999). As
# $D$ grows the nearest and the farthest point become almost equally far.

# %%
nn_dims = [1, 2, 5, 10, 30, 100, 300, 1000]
contrast = [distance_contrast(1000, d, 100, torch.Generator().manual_seed(d)).median().item() for d in nn_dims]
fig = line_plot(nn_dims, {"median over 100 queries": contrast}, "dimension D", "$(d_{max} - d_{min}) / d_{min}$",
                "In high dimension the nearest neighbour is hardly nearer than the farthest", logx=True, logy=True)
rt.save_figure(fig, "distance_concentration")
print({d: round(cv, 3) for d, cv in zip(nn_dims, contrast)})
assert all(a > b for a, b in zip(contrast, contrast[1:])), "the contrast falls with every step in D"
assert contrast[1] > 10 and contrast[-1] < 0.2, "in 2-D the nearest point is 10x nearer; in 1000-D 1.2x"

# %% [markdown]
# ## 6. A density you can see: a 2-D mixture as a surface
# A density over the plane is a landscape whose volume is 1. Move component 2: its mountain moves,
# and because the total volume is fixed, raising one peak (its weight) lowers the others.

# %%
fig = render_mixture_surface()
rt.save_figure(fig, "mixture_surface")
plt.close(fig)
panel_surface = present(render_mixture_surface, x2=(-3.0, 3.0, 0.25), y2=(-3.0, 3.0, 0.25), weight2=(0.05, 0.9, 0.05),
                        std2=(0.2, 1.5, 0.1), elev=(10.0, 80.0, 5.0))

# %%
xs = torch.linspace(-6, 6, 241)
grid = torch.stack(torch.meshgrid(xs, xs, indexing="xy"), -1).view(-1, 2)
for x2, w2, s2 in ((1.5, 0.4, 0.7), (-2.0, 0.8, 0.3), (0.0, 0.1, 1.2)):
    dens = gmm_log_prob(grid, torch.tensor([[-1.5, -1.0], [x2, 0.0], [1.5, -1.5]]), torch.tensor([0.6, s2, 0.5]),
                        torch.tensor([(1 - w2) / 2, w2, (1 - w2) / 2])).exp()
    volume = dens.sum().item() * (xs[1] - xs[0]).item() ** 2
    assert abs(volume - 1) < 1e-3, "wherever the components go, the volume stays 1"

# %% [markdown]
# ## 7. Inductive bias: stronger assumptions need less data, and stop sooner
# A model with fewer parents has fewer numbers to estimate, so it is accurate with few images; a
# model with more parents can represent more, so it keeps improving with more data. Plotting the
# test NLL against the training-set size, the curves **cross**. (Smoothing sets where: with
# $\alpha = \tfrac12$ an unseen context gets $p = \tfrac12$, a full bit of cost.)

# %%
sizes_n = rt.pick(smoke=[5, 10, 20, 30, 100, 300, 1000, 2000, 4000],
                  laptop=[5, 10, 15, 20, 30, 50, 100, 200, 500, 1000, 1500, 2000, 3000, 4000],
                  full=[5, 10, 15, 20, 30, 50, 100, 200, 500, 1000, 1500, 2000, 3000, 4000])
curve_seeds = rt.pick(smoke=[0], laptop=[0, 1, 2], full=[0, 1, 2, 3, 4])
curve_names = ["independent", "markov", "nbr2", "nbr4", "nbr8"]
curves = torch.zeros(len(curve_seeds), len(curve_names), len(sizes_n))
with Stopwatch() as sw_curves:
    for a, seed in enumerate(curve_seeds):
        perm = torch.randperm(len(x_train), generator=torch.Generator().manual_seed(seed)).to(rt.device)
        for b, n in enumerate(sizes_n):
            for m, model in enumerate(fit_baselines(x_train[perm[:n]]).values()):
                curves[a, m, b] = -model.log_prob(x_test).mean().item()
mean_curve = {name: curves[:, m].mean(0) for m, name in enumerate(curve_names)}
print(f"{len(curve_seeds) * len(sizes_n) * 5} fits in {sw_curves.seconds:.1f} s")

# %%
def crossing(a, b):
    """Interpolated training size where curve b first drops below curve a (log-n interpolation)."""
    diff = (mean_curve[b] - mean_curve[a]).numpy()
    j = int(np.argmax(diff < 0))
    t = diff[j - 1] / (diff[j - 1] - diff[j])
    return float(np.exp(np.log(sizes_n[j - 1]) + t * (np.log(sizes_n[j]) - np.log(sizes_n[j - 1]))))


cross_24, cross_48 = crossing("nbr2", "nbr4"), crossing("nbr4", "nbr8")
fig = line_plot(sizes_n, {name: mean_curve[name].numpy() for name in curve_names}, "training images n",
                "test NLL (nats per image)", f"Curves cross: 2 vs 4 neighbours near n = {cross_24:.0f}, 4 vs 8 near n = {cross_48:.0f}",
                logx=True)
fig.axes[0].set_ylim(95, 240)
for xc in (cross_24, cross_48):
    fig.axes[0].axvline(xc, color="grey", ls=":", lw=1)
rt.save_figure(fig, "learning_curves")
rt.record("crossing_nbr2_nbr4", cross_24, "images")
rt.record("crossing_nbr4_nbr8", cross_48, "images")

# %% [markdown]
# The crossings we show, checked on every seed of the run:

# %%
at = {n: sizes_n.index(n) for n in (5, 30, 1000, 4000)}
nb = {name: curves[:, m] for m, name in enumerate(curve_names)}
assert torch.all(nb["nbr2"][:, at[5]] < nb["nbr4"][:, at[5]]) and torch.all(nb["nbr4"][:, at[30]] < nb["nbr2"][:, at[30]]), \
    "2 neighbours win with 5 images, 4 neighbours with 30"
assert torch.all(nb["nbr4"][:, at[1000]] < nb["nbr8"][:, at[1000]]) and torch.all(nb["nbr8"][:, at[4000]] < nb["nbr4"][:, at[4000]]), \
    "4 neighbours win with 1,000 images, 8 neighbours with 4,000"
assert torch.all(nb["markov"] < nb["independent"]), "the previous pixel helps at every size"
print(f"2 vs 4 neighbours cross near n = {cross_24:.0f}; 4 vs 8 near n = {cross_48:.0f}")

# %% [markdown]
# ## Exercises
# 1. **Smoothing.** Refit the 8-neighbour table on 100 training images with $\alpha \in \{0.05, 0.5, 2\}$.
#    Which scores best on the *validation* split, and why does a small $\alpha$ hurt so much when
#    most contexts are unseen?
# 2. **More parents.** Fit a 12-neighbour table (`TableConfig(neighbours=12)`) on all 4,000 images.
#    Is it better or worse than 8 neighbours on the validation split? How many free parameters does
#    it have, compared with training pixels ($4000 \times 784$)?
# 3. **Order matters.** Fit the Markov chain in *column* order (transpose the images, fit, sample,
#    transpose back). Which way do the streaks run now, and is the test NLL better or worse than
#    in row order?
# 4. **Pen and paper.** How many pixels $n$ does it take for a full table over $n$ binary pixels to
#    have more free parameters than there are atoms in the universe? Check with `log10_full_table_parameters`.
#
# Solutions are in the hidden cells below; they run as part of the tests.

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution 1: with few images most of the 256 contexts per pixel are unseen or seen once;
# a tiny alpha trusts those counts, so one surprise costs -log(alpha / (1 + 2 alpha)) nats.
small = x_train[:100]
val_by_alpha = {a: -CausalTable(TableConfig(neighbours=8, alpha=a)).to(rt.device).fit_counts(small).log_prob(x_val).mean().item()
                for a in (0.05, 0.5, 2.0)}
print({a: round(v, 1) for a, v in val_by_alpha.items()})
assert val_by_alpha[0.05] > val_by_alpha[0.5] + 10, "too little smoothing overfits badly at n = 100"

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution 2: 12 parents = up to 4,096 contexts per pixel, about 2.5 million free numbers for
# 3.1 million training pixels: most contexts are seen a handful of times.
t12 = CausalTable(TableConfig(neighbours=12)).to(rt.device).fit_counts(x_train)
val12, val8 = -t12.log_prob(x_val).mean().item(), -tables["nbr8"].log_prob(x_val).mean().item()
print(f"12 neighbours: {t12.num_parameters():,} parameters, val {val12:.1f}; 8 neighbours: val {val8:.1f} nats")
assert val12 > val8, "at 4,000 images 12 neighbours are past the sweet spot"

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution 3: transposing swaps rows and columns, so "the previous pixel" is now the one above.
column_chain = CausalTable(TableConfig(neighbours=1)).to(rt.device).fit_counts(x_train.transpose(2, 3).contiguous())
column_samples = column_chain.sample(200, generator=torch.Generator().manual_seed(5)).transpose(2, 3)
nll_columns = -column_chain.log_prob(x_test.transpose(2, 3).contiguous()).mean().item()
print(f"column-order chain: test NLL {nll_columns:.1f} nats (row order: {scores['markov']:.1f}); "
      f"agreement horizontal {agreement(column_samples, 3):.2f}, vertical {agreement(column_samples, 2):.2f}")
assert agreement(column_samples, 2) > agreement(column_samples, 3) + 0.15, "column order: vertical streaks"

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution 4: n log10(2) > 80  <=>  n > 80 / 0.30103 = 265.8, so n = 266.
n_atoms = next(n for n in range(1, 785) if log10_full_table_parameters(n) > 80)
print(n_atoms, "pixels: a 17x16 patch")
assert n_atoms == 266

# %% [markdown]
# The numbers the summary quotes, checked:

# %%
quoted = {"independent": 207, "markov": 146, "nbr2": 120, "nbr4": 107, "nbr8": 103}
assert all(abs(scores[name] - v) < 1.0 for name, v in quoted.items()), scores
assert 145 < scores[f"mixture K={K}"] < 165 and gap["digits"] > 95 and empty[dims.index(8)] > 0.95

# %% [markdown]
# ## Summary
# - A distribution over $n$ binary pixels needs $2^n - 1$ numbers; for 28x28 about $10^{236}$. The
#   chain rule is exact but moves the whole cost into its last conditionals.
# - **Structure** cuts the parents of each conditional. Fitted by counting in under a second, the
#   tables score (test NLL, offline 5k MNIST): independent ≈ 207, Markov ≈ 146, 2 neighbours ≈ 120,
#   4 neighbours ≈ 107, 8 neighbours ≈ 103 nats; a mixture of 20–50 Bernoullis by EM ≈ 160–150.
#   Every one is exactly normalised (checked on 4x4 crops).
# - Independence is exact for static and costs about 100 nats per digit: the pixels of an image
#   are strongly dependent, and that dependence is what a generative model must capture.
# - In continuous space the histogram's $b^D$ cells empty out by $D \approx 8$, kernels degrade, and
#   distances concentrate; the right parametric assumption does not suffer.
# - **Inductive bias**: fewer parents win with little data, more parents with more; the curves cross.
#   Neural models (notebook 03) try to have both, by sharing parameters across positions and contexts.
#
# ## References
# - R. Bellman. *Adaptive Control Processes: A Guided Tour*, 1961 (the "curse of dimensionality").
# - K. Beyer, J. Goldstein, R. Ramakrishnan, U. Shaft. *When is "nearest neighbor" meaningful?*, ICDT 1999.
# - A. Dempster, N. Laird, D. Rubin. *Maximum likelihood from incomplete data via the EM algorithm*, JRSS B 1977.
# - C. Bishop. *Pattern Recognition and Machine Learning*, 2006, §2.5 (non-parametric estimation) and §9.3.3 (mixtures of Bernoullis).
# - D. Koller, N. Friedman. *Probabilistic Graphical Models*, 2009, ch. 3 and 17 (Bayes nets, learning by counting).
# - E. Parzen. *On estimation of a probability density function and mode*, Ann. Math. Stat. 1962; D. Scott, *Multivariate Density Estimation*, 1992.
# - H. Larochelle, I. Murray. *The Neural Autoregressive Distribution Estimator*, AISTATS 2011 (mixture of Bernoullis and FVSBN on binarised MNIST).
# - J. L. Borges. *The Library of Babel*, 1941.
