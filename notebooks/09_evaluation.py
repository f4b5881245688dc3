# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 09 · Evaluating generative models: one leaderboard, and what each number can and cannot tell
#
# Notebooks 01–08 each trained a family of generative models and measured it in its own way. This
# notebook puts them on **one table per data set**, with the same test split, the same units and the
# same sample-quality protocol, and then takes the numbers apart: when do likelihood and sample
# quality disagree, how noisy is a Fréchet distance, what does precision/recall see that FD does not,
# and which metric notices that a "model" only copies its training set?
#
# In this notebook you will
# - build the **leaderboard**: NLL (exact or a bound, in nats and bits/dim), FD (course features) with
#   its real-vs-real floor, precision/recall, density/coverage, sampling time, size, training time;
# - see **likelihood and samples disagree** both ways (Theis et al. 2016);
# - compute the **Fréchet distance** step by step: a 1-D example by hand, its bias with N, its
#   dependence on the feature network, and why we do not call it FID;
# - use an **Inception-style score** with the course classifier, and see what it is blind to;
# - rebuild the lecture notes' **mode-dropping** table with two digit classes, and correct its
#   likelihood column;
# - catch a **copycat** that returns training images;
# - run a **classifier two-sample test** on every model;
# - move a slider that corrupts real images and watch the metrics move **together or apart**.
#
# *Cost: about 1 minute at the `smoke` budget (one thread, training the smoke presets it does not find);
# a few minutes on a laptop CPU at `laptop` once notebooks 03–08 have left their checkpoints (it trains
# any that are missing and says how long that took).*

# %% [markdown]
# ## Setup

# %%
import math
import time
from functools import partial

import matplotlib.pyplot as plt
import numpy as np
import torch

from course_utils import load_digits8x8, load_mnist5k, present, setup
from course_utils.evaluation.features import class_probabilities, extract_features, load_feature_net
from course_utils.evaluation.leaderboard import BOARDS, board_presets, format_table, leaderboard, model_nll
from course_utils.evaluation.likelihood import mean_nll, nats_to_bpd
from course_utils.evaluation.protocol import fd_bias_curve, fd_with_floor, reference_features
from course_utils.evaluation.sample_quality import (classifier_two_sample_test, density_coverage, frechet_distance,
                                                    gaussian_frechet_distance, inception_score, nearest_neighbour_distance,
                                                    precision_recall)
from course_utils.exercises import check
from course_utils.lessons.evaluation_views import (CORRUPTIONS, QUOTED_INTRO_DGM, Copycat, CopycatConfig, CorruptionLab,
                                                   MixtureOfTwoConfig, TwoModelMixture, UniformConfig, UniformImages, corrupt,
                                                   random_feature_net, spearman)
from course_utils.models.independent import IndependentConfig, IndependentPixels
from course_utils.models.tables import CausalTable, MixtureConfig, MixtureOfBernoullis, TableConfig
from course_utils.models.vae import Autoencoder, VAEConfig
from course_utils.plotting import image_rows
from course_utils.runtime import Stopwatch

rt = setup("09_evaluation")
dev = rt.device
mnist, grey, digits = load_mnist5k(), load_mnist5k(binarized=False), load_digits8x8()
net28, net8 = load_feature_net("mnist28", dev), load_feature_net("digits8", dev)

# %% [markdown]
# ## 1. One leaderboard per data set
#
# Every model of the course keeps one contract (`course_utils.base`): `sample(n)` gives images on the
# data's scale, and `log_prob(x)` gives nats of the *discrete* data together with its **kind**:
# exact, a lower bound, unnormalised or none. That is all a leaderboard needs. The boards are the
# course's fixed splits: the **8x8 digits** (17 grey levels, 1000 / 350 / 447), the **binarised MNIST-5k**
# (4000 / 500 / 500, one static binarisation) and, when some notebook trained a model of grey images,
# the **grey MNIST-5k**.
#
# Which models? Every *preset* (the headline model each notebook registered in
# `course_utils/models/presets.py`) whose data set belongs to the board, loaded from the checkpoint its
# notebook wrote, or trained now at this budget if that checkpoint is missing. To these we add the
# closed-form baselines of notebook 01, fitted here in seconds by counting: independent pixels, causal
# tables (each pixel given 4 or 8 earlier neighbours), and a mixture of Bernoullis fitted by EM.

# %%
def timed(fit):
    """(model, seconds) of a closed-form fit."""
    with Stopwatch() as sw:
        model = fit()
    return model, sw.seconds


x_bin = mnist.train.x.to(dev)
K, em_iters = rt.pick(smoke=20, laptop=50, full=100), rt.pick(smoke=20, laptop=40, full=100)
baselines = {
    "mnist5k-binarized": {
        "independent pixels": timed(lambda: CausalTable(TableConfig(neighbours=0)).to(dev).fit_counts(x_bin)),
        "causal table, 4 neighbours": timed(lambda: CausalTable(TableConfig(neighbours=4)).to(dev).fit_counts(x_bin)),
        "causal table, 8 neighbours": timed(lambda: CausalTable(TableConfig(neighbours=8)).to(dev).fit_counts(x_bin)),
        f"mixture of {K} Bernoullis": timed(lambda: MixtureOfBernoullis(MixtureConfig(components=K)).to(dev).fit_em(
            x_bin, em_iters, torch.Generator().manual_seed(rt.seed))),
    },
    "digits8x8": {"independent pixels": timed(lambda: IndependentPixels(IndependentConfig((1, 8, 8), 17)).to(dev)
                                              .fit_closed_form(digits.train.x))},
}
shown = [b for b in BOARDS if b != "mnist5k" or board_presets(b, rt.budget)]  # grey MNIST only when a notebook trained a model of it
if "mnist5k" in shown:
    baselines["mnist5k"] = {"independent pixels": timed(lambda: IndependentPixels(IndependentConfig((1, 28, 28), 256)).to(dev)
                                                      .fit_closed_form(grey.train.x))}
for b in shown:
    print(f"{BOARDS[b].title}: presets {', '.join(board_presets(b, rt.budget)) or '(none yet)'}")

# %% [markdown]
# Now the boards. For each model: the test NLL (for a bound, the importance-weighted bound with the
# number of draws given in the last column; for a model without a normalised likelihood, "—" and
# the reason), then $N$ samples scored against the test split in the features of the course's digit
# classifier: FD with its **real-vs-real floor at the same $N$** (held-out validation images against the
# same test split: what a perfect model would score), precision and recall ($k = 3$), density and
# coverage ($k = 5$). The first row scores those held-out real images as if they were samples.

# %%
with Stopwatch() as sw_boards:
    boards = {b: leaderboard(rt, b, extra=baselines[b]) for b in shown}
for b, rows in boards.items():
    print(f"\n== {BOARDS[b].title}\n{format_table(rows)}")
print(f"\nall boards in {sw_boards.seconds:.0f} s")

# %% [markdown]
# **A reference row, quoted, not run here.** Tomczak's `intro_dgm` notebooks are a widely used
# laptop-scale course on the same 8x8 digits. Run unchanged on *this* split (see
# `shared/REFERENCES.md` of the course; none of their code is used here), they report the numbers
# below. Read the last column: only some of them are NLLs of the discrete digits.

# %%
print(f"{'intro_dgm notebook (quoted)':<26} {'test value':>10} {'bits/dim':>8} {'train s':>8}  what the number is")
for name, value, discrete, seconds, what in QUOTED_INTRO_DGM:
    bpd = f"{nats_to_bpd(value, 64):8.4f}" if discrete else f"{'—':>8}"
    print(f"{name:<26} {value if value is not None else '—':>10} {bpd} {seconds:>8}  {what}")

# %% [markdown]
# What the boards show, row by row, is for you to read (the numbers depend on the budget). Some things
# hold at every budget, and we check them: the held-out row scores the floor (it *is* the floor's
# sample), every model scores above it, a model without a normalised likelihood has no number, and
# every bound is labelled as one.

# %%
for b, rows in boards.items():
    held, models = rows[0], rows[1:]
    assert held.fd <= held.floor + 3 * held.floor_std + 1e-6 and held.floor_std >= 0
    assert all(r.fd > held.floor for r in models), f"{b}: every model scores above the real-vs-real floor"
    assert all((r.nll is None) == (r.kind == "none") for r in models), "a number exactly when there is a likelihood"
    assert all("bound" in r.nll_note for r in models if r.kind == "bound")
    for r in models:
        rt.record(f"{b}/{r.name}/fd", r.fd)
        if r.nll is not None:
            rt.record(f"{b}/{r.name}/nll", r.nll, "nats")

# %% [markdown]
# Samples of every model, 16 each, in the order of the table (the first row is real held-out data):

# %%
for b, rows in boards.items():
    fig = image_rows({r.name[:22]: r.samples[:16] for r in rows}, nrow=16, title=f"{BOARDS[b].title}: samples of every model")
    rt.save_figure(fig, f"samples_{b}")

# %% [markdown]
# ## 2. Likelihood and sample quality can disagree (Theis, van den Oord & Bethge 2016)
#
# **Good likelihood, terrible samples.** Take a good model $p$ and mix it with noise $q$:
# $p_{mix} = 0.01\,p + 0.99\,q$. Since $q \ge 0$,
# $$\log p_{mix}(x) \;\ge\; \log 0.01 + \log p(x), \qquad\text{so}\qquad \mathrm{NLL}_{mix} \le \mathrm{NLL}_p + \ln 100 = \mathrm{NLL}_p + 4.61 \text{ nats},$$
# a change of at most 4.6 nats on a number near 100 per image, **while 99 % of the samples are pure
# noise**. For binarised MNIST the noise $q$ is uniform over all $2^{784}$ images, $\log q(x) = -784\ln 2 = -543$ nats.
# First the mixture's log-likelihood from the formula, checked against the package's model:

# %%
good = baselines["mnist5k-binarized"]["causal table, 8 neighbours"][0]
noise = UniformImages(UniformConfig((1, 28, 28), 2)).to(dev)
mixed = TwoModelMixture(MixtureOfTwoConfig(weight=0.01), good, noise)
x_test = mnist.test.x.to(dev)
with torch.no_grad():
    lp_good, lp_noise = good.log_prob(x_test), noise.log_prob(x_test)
    my_lp_mix = torch.logaddexp(math.log(0.01) + lp_good, math.log(0.99) + lp_noise)  # log(0.01 p + 0.99 q)
    assert torch.allclose(my_lp_mix, mixed.log_prob(x_test)) and bool((lp_noise == -784 * math.log(2)).all())

# %%
nll_good, nll_mix = -lp_good.mean().item(), -my_lp_mix.mean().item()
samples_mix = mixed.sample(500, torch.Generator().manual_seed(rt.seed)).cpu()
noise_share = 1 - mixed.last_from_a.double().mean().item()  # which part each of the 500 samples came from
fd_good, fd_mix, fd_noise = (fd_with_floor(m.sample(500, torch.Generator().manual_seed(rt.seed)).cpu(), "mnist5k-binarized").fd
                              for m in (good, mixed, noise))
print(f"test NLL: good model {nll_good:.2f} nats, 1 % good + 99 % noise {nll_mix:.2f} nats (+{nll_mix - nll_good:.3f}; bound ln 100 = {math.log(100):.3f})")
print(f"samples that are noise: {noise_share:.1%}; FD (course features): good {fd_good:.1f}, mixture {fd_mix:.1f}, pure noise {fd_noise:.1f}")
assert 0 <= nll_mix - nll_good <= math.log(100) + 1e-4, "the NLL moves by at most ln 100"
assert 0.97 <= noise_share <= 1.0, "about 99 % of the samples are noise (binomial, 500 draws)"
assert fd_mix > 2 * fd_good and fd_mix > 0.8 * fd_noise, "the samples are almost as bad as pure noise"
rt.record("theis_nll_increase", nll_mix - nll_good, "nats")

# %%
fig = image_rows({"good model": good.sample(16, torch.Generator().manual_seed(1)).cpu(), "1 % good + 99 % noise": samples_mix[:16]},
                 nrow=16, title=f"NLL {nll_good:.1f} vs {nll_mix:.1f} nats: nearly the same likelihood, useless samples")
rt.save_figure(fig, "theis_mixture")

# %% [markdown]
# The test NLL is dominated by how well the model explains *real* images; whatever else it does with
# its remaining mass (here: noise) costs at most $\ln(1/w)$. Conversely, a model can put mass on
# real-looking images and explain the test set badly. **Good samples, poor or absent likelihood**:
# from the boards, every pair of models that the two rankings order oppositely, and the models that
# have samples but no likelihood at all.

# %%
def discordant_pairs(rows):
    """Pairs (a, b) with a better NLL but a worse FD than b."""
    scored = [r for r in rows[1:] if r.nll is not None]
    return [(a, b) for a in scored for b in scored if a.nll < b.nll and a.fd > b.fd]


for b, rows in boards.items():
    pairs = discordant_pairs(rows)
    print(f"{b}: {len(pairs)} pairs ranked oppositely by NLL and FD" + (", for example" if pairs else ""))
    for a, c in sorted(pairs, key=lambda p: p[1].nll - p[0].nll, reverse=True)[:3]:
        print(f"   {a.name}: NLL {a.nll:.1f}, FD {a.fd:.0f}   vs   {c.name}: NLL {c.nll:.1f}, FD {c.fd:.0f}")
    for r in rows[1:]:
        if r.nll is None:
            print(f"   {r.name}: FD {r.fd:.1f}, no likelihood ({r.nll_note})")
assert discordant_pairs(boards["mnist5k-binarized"]), "likelihood and FD rank some models oppositely"

# %%
fig, axes = plt.subplots(1, len(boards), figsize=(5.5 * len(boards), 4))
for ax, (b, rows) in zip(np.atleast_1d(axes), boards.items()):
    for r in rows[1:]:
        if r.nll is not None:
            ax.scatter(r.nll, r.fd, marker="o" if r.kind == "exact" else "^")
            ax.annotate(r.name[:18], (r.nll, r.fd), fontsize=7, textcoords="offset points", xytext=(3, 3))
    ax.axhline(rows[0].floor, ls="--", c="k", lw=0.8, label="real-vs-real floor")
    ax.set_yscale("log")
    ax.set_xlabel("test NLL (nats per image; ^ = a bound)")
    ax.set_ylabel(f"FD (course features), N = {rows[0].n}")
    ax.set_title(f"{b}: better likelihood is not better samples")
    ax.legend(fontsize=7)
rt.save_figure(fig, "nll_vs_fd")

# %% [markdown]
# Why do the rankings cross? Most of an image's bits are *local*: which pixel continues a stroke, where
# an edge stops. Models that capture local statistics well (causal tables, a PixelCNN with a small
# receptive field) earn a good likelihood from them even when their samples do not add up to digits.
# The classifier features behind FD care about the *global* shape, which a mixture of whole-image
# templates, a VAE's decoder or a MADE with a hidden layer that sees every earlier pixel can get right
# with a worse likelihood.

# %% [markdown]
# ## 3. The Fréchet distance, step by step
#
# Fit a Gaussian to each set of features, $\mathcal N(\mu_r, \Sigma_r)$ for the real images and
# $\mathcal N(\mu_g, \Sigma_g)$ for the generated ones, and take the squared 2-Wasserstein distance between them:
# $$\mathrm{FD} = \lVert\mu_r - \mu_g\rVert^2 + \operatorname{tr}\!\left(\Sigma_r + \Sigma_g - 2\,(\Sigma_r\Sigma_g)^{1/2}\right).$$
# In one dimension $(\Sigma_r\Sigma_g)^{1/2} = \sigma_r\sigma_g$, so
# $\mathrm{FD} = (\mu_r - \mu_g)^2 + (\sigma_r - \sigma_g)^2$. The lecture notes' example: real $\mathcal N(0, 1)$, generated
# $\mathcal N(0.5, 1.2^2)$: $0.25$ from the means plus $(1 - 1.2)^2 = 0.04$ from the spreads, $0.29$.

# %%
fd_1d = gaussian_frechet_distance([0.0], [[1.0]], [0.5], [[1.44]])
g = torch.Generator().manual_seed(0)
a_1d, b_1d = torch.randn(200_000, 1, generator=g, dtype=torch.float64), 0.5 + 1.2 * torch.randn(200_000, 1, generator=g, dtype=torch.float64)
means_only, spreads_only = gaussian_frechet_distance([0.0], [[1.0]], [0.5], [[1.0]]), gaussian_frechet_distance([0.0], [[1.0]], [0.0], [[1.44]])
print(f"closed form {fd_1d:.4f} = {means_only:.4f} (means) + {spreads_only:.4f} (spreads); from 200,000 samples of each: {frechet_distance(a_1d, b_1d):.4f}")
assert abs(fd_1d - 0.29) < 1e-12 and abs(means_only - 0.25) < 1e-12 and abs(spreads_only - 0.04) < 1e-12
assert abs(frechet_distance(a_1d, b_1d) - 0.29) < 0.01

# %% [markdown]
# **Exercise (implement and check).** Write the Fréchet distance between two Gaussians in $d$
# dimensions, from the formula above. For the matrix square root, use that $\Sigma_r\Sigma_g$ has the
# same eigenvalues as the symmetric matrix $\Sigma_r^{1/2}\Sigma_g\Sigma_r^{1/2}$, so
# $\operatorname{tr}(\Sigma_r\Sigma_g)^{1/2} = \sum_i \sqrt{\lambda_i}$ (use `torch.linalg.eigh`).

# %% tags=["exercise"]
def my_gaussian_fd(mu1: torch.Tensor, cov1: torch.Tensor, mu2: torch.Tensor, cov2: torch.Tensor) -> float:
    """FD between N(mu1, cov1) and N(mu2, cov2); mu: (d,), cov: (d, d) symmetric positive semi-definite, float64."""
    raise NotImplementedError("your code here")


# %% jupyter={"source_hidden": true} tags=["solution"]
def my_gaussian_fd(mu1: torch.Tensor, cov1: torch.Tensor, mu2: torch.Tensor, cov2: torch.Tensor) -> float:
    evals, evecs = torch.linalg.eigh(cov1)
    root1 = (evecs * evals.clamp(min=0).sqrt()) @ evecs.T  # Sigma_1^(1/2)
    lam = torch.linalg.eigvalsh(root1 @ cov2 @ root1).clamp(min=0)
    return ((mu1 - mu2) ** 2).sum().item() + cov1.trace().item() + cov2.trace().item() - 2 * lam.sqrt().sum().item()


# %%
def random_spd(d, seed):
    a = torch.randn(d, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return a @ a.T + 0.1 * torch.eye(d, dtype=torch.float64)


cases = [(torch.zeros(1, dtype=torch.float64), torch.eye(1, dtype=torch.float64), torch.full((1,), 0.5, dtype=torch.float64), torch.full((1, 1), 1.44, dtype=torch.float64)),
         (torch.zeros(5, dtype=torch.float64), random_spd(5, 0), torch.linspace(-1, 1, 5, dtype=torch.float64), random_spd(5, 1)),
         (torch.ones(8, dtype=torch.float64), random_spd(8, 2), torch.ones(8, dtype=torch.float64), random_spd(8, 2))]
check("Fréchet distance of two Gaussians", my_gaussian_fd, gaussian_frechet_distance, cases=cases, atol=1e-6)

# %% [markdown]
# **FD of a set with itself is 0**, and of two independent samples of the *same* distribution it is
# not: the estimate is biased upwards, more so the smaller $N$ (the sample covariances wobble, and
# the trace term cannot go negative). So an FD means nothing without the **real-vs-real floor at the
# same $N$**: real held-out images against the same test split. Below: the floor against $N$ (random
# validation subsets against random test subsets, five draws each), with each model's FD at its $N$.

# %%
feats = {b: reference_features(BOARDS[b].fd_dataset, str(dev)) for b in ("mnist5k-binarized", "digits8x8")}
assert frechet_distance(feats["digits8x8"]["test"], feats["digits8x8"]["test"]) < 1e-8
ns = {"mnist5k-binarized": (25, 50, 100, 200, 350, 500), "digits8x8": (25, 50, 100, 200, 350)}
curves = {b: fd_bias_curve(BOARDS[b].fd_dataset, ns[b], seeds=rt.pick(smoke=3, laptop=5, full=10), device=dev) for b in ns}
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
for ax, (b, curve) in zip(axes, curves.items()):
    ax.errorbar([p.n for p in curve], [p.mean for p in curve], yerr=[p.std for p in curve], fmt="o-", capsize=3, label="real vs real (mean ± std)")
    for r in boards[b][1:]:
        ax.plot([r.n], [r.fd], "x", ms=5)
    ax.set_xscale("log"), ax.set_yscale("log")
    ax.set_xticks(ns[b], [str(n) for n in ns[b]]), ax.minorticks_off()
    ax.set_xlabel("N (images per set)"), ax.set_ylabel("FD (course features)")
    ax.set_title(f"{b}: the floor falls like 1/N; crosses = models")
    ax.legend(fontsize=8)
rt.save_figure(fig, "fd_floor_vs_n")
for b, curve in curves.items():
    means = [p.mean for p in curve]
    assert all(m1 > m2 for m1, m2 in zip(means, means[1:])), f"{b}: the real-vs-real FD falls with N"
    print(f"{b}: floor {' | '.join(f'N={p.n}: {p.mean:.1f}±{p.std:.1f}' for p in curve)}")

# %% [markdown]
# At $N = 500$ on MNIST the floor uses the whole validation split, so it has **no spread of its
# own**: there is only one such set. But a *model's* FD does have one: its samples are random. Draw
# five sets of 500 from one model (the mixture of Bernoullis, which samples instantly) and see how much
# its score moves: differences between two models smaller than this are noise.

# %%
mix_model = baselines["mnist5k-binarized"][f"mixture of {K} Bernoullis"][0]
repeats = [fd_with_floor(mix_model.sample(500, torch.Generator().manual_seed(s)).cpu(), "mnist5k-binarized").fd for s in range(5)]
print(f"the same model, five sample sets of 500: FD {np.mean(repeats):.1f} ± {np.std(repeats, ddof=1):.1f} (range {min(repeats):.1f}–{max(repeats):.1f})")
assert np.std(repeats) > 0
rt.record("fd_spread_same_model_n500", float(np.std(repeats, ddof=1)))

# %% [markdown]
# **Which features?** FD measures distance *in a feature space*, so it inherits that space's notion of
# similarity. Heusel et al. (2017) use Inception-v3, trained on ImageNet photographs; we use a small
# classifier trained on the digits' training split, because it is offline, fast and sees digits the way
# a digit classifier does. Do two feature maps agree? Score every model on the binarised board again
# with a second map, the **same architecture with random, untrained weights** (random convolutional
# features are a classic baseline), and compare the rankings with Spearman's $\rho$.

# %%
rand28 = random_feature_net("mnist28", seed=1, device=dev)
test_rand = extract_features(rand28, mnist.test.x)
rows = boards["mnist5k-binarized"]
fd_course = [r.fd for r in rows]
fd_random = [frechet_distance(test_rand, extract_features(rand28, r.samples)) for r in rows]
rho = spearman(fd_course, fd_random)
for r, f_c, f_r in zip(rows, fd_course, fd_random):
    print(f"{r.name:28s} course features {f_c:9.1f}   random features {f_r:9.3f}")
swapped = sum((a - b) * (c - d) < 0 for i, (a, c) in enumerate(zip(fd_course, fd_random)) for b, d in zip(fd_course[i + 1:], fd_random[i + 1:]))
print(f"Spearman rank correlation of the two rankings: {rho:.2f} over {len(rows)} rows; {swapped} of {len(rows) * (len(rows) - 1) // 2} pairs swap")
assert np.argmin(fd_course) == 0 and np.argmin(fd_random) == 0, "both feature maps put real held-out images first"
rt.record("fd_rank_correlation_course_vs_random_features", rho)

# %% [markdown]
# $\rho = 1$ would be the same ranking. Both maps put the real images first, but they order the models
# differently in places, and their *scales* have nothing in common: a ranking by FD is a ranking in
# one feature space, and a small difference between two models can flip with the network. That is the
# reason for the name: **"FD (course features)"**, never "FID". An FID is a Fréchet distance in the pool features of one particular
# Inception-v3 network at 299x299 pixels; its values (MNIST GANs ≈ 5–10, Lucic et al. 2018) are on
# another scale and cannot be compared with ours, nor ours across feature networks. Fix the network,
# the split, $N$ and the preprocessing, and print the floor beside every number.
#
# ## 4. An Inception-style score with the course classifier
#
# The Inception Score (Salimans et al. 2016) asks a classifier $p(y\mid x)$ about each sample: samples
# should be **confidently** classified (low entropy of $p(y\mid x)$) and the classes **evenly** used
# (high entropy of $p(y) = \mathbb E_x\,p(y\mid x)$):
# $\mathrm{IS} = \exp\big(\mathbb E_x \mathrm{KL}(p(y\mid x)\,\|\,p(y))\big) \in [1, 10]$ for ten classes. Here the
# classifier is the course's digit network, so "IS (course classifier)". Its ceiling of reference is
# the real test set.

# %%
def is_of(board, images):
    return inception_score(class_probabilities(net28 if board != "digits8x8" else net8, images))


for b, rows in boards.items():
    test_x = (mnist if b == "mnist5k-binarized" else digits if b == "digits8x8" else grey).test.x
    print(f"{b}: real test set {is_of(b, test_x):.2f} | " + " | ".join(f"{r.name[:20]} {is_of(b, r.samples):.2f}" for r in rows[1:]))
ceiling = is_of("mnist5k-binarized", mnist.test.x)
protos = torch.stack([mnist.train.x[mnist.train.y == c][0] for c in range(10)]).repeat(50, 1, 1, 1)  # one image per class, 50 times
is_protos, (p_pr, r_pr) = is_of("mnist5k-binarized", protos), precision_recall(feats["mnist5k-binarized"]["test"], extract_features(net28, protos))
print(f"ten images, each repeated 50 times: IS {is_protos:.2f} (real test set {ceiling:.2f}); recall {r_pr:.2f}")
assert ceiling > 9, "the real test set is confidently classified and balanced: close to the maximum, 10"
assert is_protos > 0.95 * ceiling and r_pr < 0.1, "IS cannot see a lack of diversity within a class"

# %% [markdown]
# Ten images repeated fifty times score about as high as the real test set: IS rewards confident,
# class-balanced samples and never compares them with real data, so it cannot see that all the 3s are
# the same 3 (recall, which does compare, collapses). It is a sanity check, not a distance.
#
# ## 5. Precision and recall; density and coverage
#
# FD mixes two failures into one number: samples that do not look real (**fidelity**) and real images
# that the model never produces (**diversity**). Kynkäänniemi et al. (2019) separate them with $k$-NN
# balls in feature space: around each real feature vector $r_i$ a ball reaching its $k$-th nearest real
# neighbour; **precision** = the fraction of samples inside some real ball, **recall** = the fraction of
# real images inside some ball around the samples. Naeem et al. (2020) noticed that a few outlying real
# images have huge balls that catch almost anything, and proposed **density** (how many real balls hold
# each sample, divided by $k$: 1 for a perfect model) and **coverage** (the fraction of real balls that
# hold at least one sample).
#
# **The mode-dropping table of the lecture notes, rebuilt with two digit classes**: the real data are
# held-out 1s and 0s ("cats and dogs"). Three idealised generators, drawn from the *training* images:
# (1) both classes, perfect samples; (2) only 1s, perfect samples; (3) both classes, blurred.

# %%
A, B = 1, 0
pick = lambda split, classes: split.x[torch.isin(split.y, torch.tensor(classes))]  # noqa: E731
real_ab = torch.cat([pick(mnist.test, [A, B]), pick(mnist.val, [A, B])])  # 200 held-out images, half each
f_real = extract_features(net28, real_ab)
grey_both = torch.cat([pick(grey.train, [A])[:100], pick(grey.train, [B])[:100]])
generators = {"1: both classes": torch.cat([pick(mnist.train, [A])[:100], pick(mnist.train, [B])[:100]]),
              "2: only 1s (drops 0s)": pick(mnist.train, [A])[:200],
              "3: both, blurred": corrupt(grey_both, torch.zeros(200), "blur", generator=torch.Generator().manual_seed(0))}
table = {}
for name, x in generators.items():
    f = extract_features(net28, x)
    table[name] = (frechet_distance(f_real, f), *precision_recall(f_real, f), *density_coverage(f_real, f))
print(f"{'generator':24s} {'FD':>7} {'precision':>9} {'recall':>7} {'density':>8} {'coverage':>8}")
for name, (fd, p, r, d, c) in table.items():
    print(f"{name:24s} {fd:7.1f} {p:9.2f} {r:7.2f} {d:8.2f} {c:8.2f}")
(_, p1, r1, _, c1), (fd2, p2, r2, _, c2) = table["1: both classes"], table["2: only 1s (drops 0s)"]
assert p2 >= p1 - 0.05 and abs(r2 - 0.5) <= 0.1 and abs(c2 - 0.5) <= 0.1, "dropping one of two modes: precision stays, recall and coverage halve"
assert r1 > 0.8 and fd2 > 10 * table["1: both classes"][0]

# %% [markdown]
# Generator 2 keeps its precision and loses half its recall and coverage, as the notes say; FD, which
# cannot say *which* failure it sees, rises. Generator 3 is where measurement departs from intuition:
# blurring moves *every* sample off the real manifold, so here it lowers recall as well as density
# (the notes expect "low precision, high recall"). Measure, don't guess.
#
# **The likelihood column.** The notes give generator 2 a "moderate" log-likelihood. Think of a model
# that *never* generates a 0: it gives every 0 probability zero, so its log-likelihood on the test set
# (half 0s) is $-\infty$, however perfect its 1s. Any number we get instead comes from **smoothing**: a
# model that leaks a little probability everywhere. To see it, use the simplest explicit models:
# independent pixels fitted to the 1s only, with add-$\alpha$ smoothing
# $p_i = (n_i + \alpha)/(N + 2\alpha)$, against a two-class model (half 1s, half 0s, each fitted alike).

# %%
alphas = (1.0, 0.1, 1e-2, 1e-4, 1e-8, 0.0)
t_a, t_b = pick(mnist.test, [A]), pick(mnist.test, [B])
nll_table = {}
for alpha in alphas:
    m_a, m_b = (IndependentPixels(IndependentConfig()).fit_closed_form(pick(mnist.train, [c]), alpha=alpha) for c in (A, B))
    with torch.no_grad():
        drop = (-m_a.log_prob(t_a), -m_a.log_prob(t_b))  # the model that never draws a 0
        both = tuple(-(torch.logaddexp(m_a.log_prob(t), m_b.log_prob(t)) - math.log(2)) for t in (t_a, t_b))
    nll_table[alpha] = (drop[0].mean().item(), drop[1].mean().item(), both[0].mean().item(), both[1].mean().item(),
                        torch.isinf(drop[1]).double().mean().item())
print(f"{'alpha':>7} | drops 0s: NLL on 1s  on 0s (share inf) | both classes: NLL on 1s  on 0s")
for alpha, (d1, d0, b1, b0, inf0) in nll_table.items():
    print(f"{alpha:7.0e} | {d1:18.1f} {d0:7.1f} ({inf0:.0%})      | {b1:20.1f} {b0:7.1f}")

# %%
finite = [a for a in alphas if a > 0]
d0 = [nll_table[a][1] for a in finite]
assert nll_table[0.0][4] == 1.0, "unsmoothed, the model that never draws a 0 gives every test 0 probability zero"
assert all(x < y for x, y in zip(d0, d0[1:])), "the less it smooths, the worse its NLL on the 0s, without bound"
assert max(nll_table[a][0] for a in finite) - min(nll_table[a][0] for a in finite) < 3, "on the 1s the smoothing hardly matters"
assert nll_table[1.0][0] < nll_table[1.0][2], "on the 1s it even beats the two-class model (by about ln 2)"
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot([1 / a for a in finite], d0, "o-", label="drops 0s: NLL on the test 0s")
ax.plot([1 / a for a in finite], [nll_table[a][3] for a in finite], "s-", label="both classes: NLL on the test 0s")
ax.set_xscale("log"), ax.set_xlabel("1 / alpha (less smoothing →)"), ax.set_ylabel("NLL (nats per image)")
ax.set_title("A dropped mode costs whatever the smoothing says: -> infinity")
ax.legend(fontsize=8)
rt.save_figure(fig, "mode_dropping_smoothing")

# %% [markdown]
# The model that drops the 0s is slightly *better* on the 1s (it spends all its mass there: about
# $\ln 2$ nats), and on the 0s its NLL grows like $\log(1/\alpha)$ per pixel it deems impossible: it is
# set by the smoothing constant, not by the model. So the honest entry for the likelihood of a
# mode-dropping model is "$-\infty$ unless smoothed, and then whatever the smoothing makes it" —
# **never "moderate"**. This is also why every likelihood model of the course smooths (add-½ counts,
# softmax outputs that are never exactly 0): one impossible test image makes the whole test NLL infinite.
#
# ## 6. Memorisation: a copycat
#
# The perfect cheat: a "model" whose samples are its training images, drawn at random. Its samples
# are as real as images get. What does each metric make of it?

# %%
copycat = Copycat(CopycatConfig((1, 28, 28), 2), mnist.train.x).to(dev)
cheat = {s: copycat.sample(500, torch.Generator().manual_seed(s)).cpu() for s in range(5)}
fd_cheat = [fd_with_floor(x, "mnist5k-binarized") for x in cheat.values()]
floor = fd_cheat[0].floor
models_fd = {r.name: r.fd for r in boards["mnist5k-binarized"][1:]}
print(f"copycat FD over five draws: {np.mean([r.fd for r in fd_cheat]):.1f} ± {np.std([r.fd for r in fd_cheat], ddof=1):.1f} "
      f"(floor {floor:.2f}); best model on the board: {min(models_fd, key=models_fd.get)} {min(models_fd.values()):.1f}")

# %% [markdown]
# FD rewards the cheat: its score is of the order of the floor and better than any trained model's.
# It is not *at* the floor, though, and not by chance: the copycat's images are **training** images,
# which the feature network was trained on, and on average they score a few points above held-out
# images (here: the mean over five draws against the floor of the held-out split). That is why the
# protocol's floor uses the validation split. The five draws also show how much any two sets of 500
# real images differ (a couple of points): the spread that makes small FD differences meaningless.
# Either way, FD cannot tell copying from generalising.
#
# **The nearest-neighbour check** can: the distance from each sample to its nearest training image,
# compared with the same distance for held-out real images (which were *not* trained on).

# %%
nn_test = nearest_neighbour_distance(mnist.test.x, mnist.train.x)[0]
nn_rows = {"held-out real images": nn_test, "copycat": nearest_neighbour_distance(cheat[0], mnist.train.x)[0]}
nn_rows.update({r.name: nearest_neighbour_distance(r.samples, mnist.train.x)[0] for r in boards["mnist5k-binarized"][1:]})
for name, dist in nn_rows.items():
    print(f"{name:28s} distance to the nearest training image: median {dist.median():5.2f}, share exactly 0: {(dist == 0).double().mean():.0%}")
with torch.no_grad():
    lp_cheat = copycat.log_prob(x_test)
    smoothed = {eps: -Copycat(CopycatConfig((1, 28, 28), 2, flip=eps), mnist.train.x).to(dev).log_prob(x_test).mean().item() for eps in (0.01, 0.05, 0.1)}
print(f"copycat's held-out log-likelihood: {lp_cheat.max().item()} (every test image); smoothed by flipping pixels: "
      + ", ".join(f"flip {e}: NLL {v:.1f}" for e, v in smoothed.items()))

# %%
assert np.mean([r.fd for r in fd_cheat]) < min(models_fd.values()), "FD ranks the copycat above every model"
assert np.mean([r.fd for r in fd_cheat]) > floor, "training images score above the held-out floor: the feature net has seen them"
assert bool((nn_rows["copycat"] == 0).all()) and bool((nn_test > 0).all()), "the nearest-neighbour check catches every copy"
assert bool(torch.isinf(lp_cheat).all()), "the copycat gives every held-out image probability 0"
assert min(smoothed.values()) > nll_good, "smoothed, it is still worse than the causal table"
rt.record("copycat_fd_mean", float(np.mean([r.fd for r in fd_cheat])))

# %% [markdown]
# Its held-out log-likelihood is $-\infty$: the empirical distribution has no mass off the training
# set. Smoothed (each pixel of a copied image flipped with a small probability: a kernel density
# estimate), it becomes finite but worse than the simple causal table: the likelihood catches
# memorisation, FD does not, and the nearest-neighbour distance shows it directly. (Meehan et al.
# 2020 turn this comparison of sample-to-train and test-to-train distances into a statistical test.)
#
# ## 7. Two-sample tests: can a classifier tell the samples from real images?
#
# A **classifier two-sample test** (Lopez-Paz & Oquab 2017): train a classifier (here logistic
# regression on the course features) to tell samples from real test images on half of each, and
# measure its accuracy on the other half. If the two sets came from one distribution, the number of
# correct answers would be Binomial$(n, 1/2)$; the p-value says how surprising the accuracy is.

# %%
c2st = {}
for b, rows in boards.items():
    real = feats[b]["test"] if b in feats else reference_features(BOARDS[b].fd_dataset, str(dev))["test"]
    for r in rows:
        c2st[(b, r.name)] = classifier_two_sample_test(real, r.features, seed=rt.seed)
        print(f"{b:18s} {r.name:28s} accuracy {c2st[(b, r.name)].accuracy:.3f}   p = {c2st[(b, r.name)].p_value:.2g}")

# %% [markdown]
# A tiny p-value says the classifier found a difference that chance would almost never produce; a
# large one says only that *this* classifier, on these features, found none. The held-out rows compare
# $N$ real images with the test split. Now the same test on the whole validation split, for both data sets:

# %%
split_test = {b: classifier_two_sample_test(feats[b]["test"], feats[b]["val"], seed=rt.seed) for b in feats}
for b, result in split_test.items():
    print(f"{b}: validation split vs test split: {result}")
assert split_test["mnist5k-binarized"].p_value > 0.01, "held-out MNIST images cannot be told from the test split"
assert split_test["digits8x8"].p_value < 1e-3, "the digits' validation and test splits CAN be told apart"

# %% [markdown]
# The classifier tells the digits' **validation** images from their **test** images. That split is
# sequential (the first 1000, the next 350, the last 447, in the order the digits were collected),
# and the writers differ between the blocks; the MNIST-5k split is a stratified random permutation,
# and there the test finds nothing. A two-sample test tests the data pipeline too: the floors of the
# digits board are floors for *this* split. (Kernel tests, such as MMD with a permutation test, whose
# unbiased statistic is KID (Bińkowski et al. 2018), answer the same question.)
#
# ## 8. Widget: corrupt real images, watch the metrics
#
# Start from 500 held-out real images (a perfect model) and replace a fraction $s$ of them with a
# corrupted version: uniform **noise**, a **blur**, or, for **drop a class**, the 0s replaced by other
# digits. For the likelihood side, the model that generates this mixture is
# $(1 - s)\,p_{good} + s\,p_{corrupt}$, with $p_{good}$ a causal table fitted to the training images and
# $p_{corrupt}$ the same kind of table fitted to the *corrupted* training images (uniform for noise). Move the
# slider: which metrics move together, and which stay put?

# %%
nbr4 = baselines["mnist5k-binarized"]["causal table, 4 neighbours"][0]
lab_fitted = {"noise": noise,
              "blur": CausalTable(TableConfig(neighbours=4)).to(dev).fit_counts(
                  corrupt(grey.train.x, grey.train.y, "blur", generator=torch.Generator().manual_seed(1)).to(dev)),
              "drop a class": CausalTable(TableConfig(neighbours=4)).to(dev).fit_counts(x_bin[mnist.train.y.to(dev) != 0])}
lab = CorruptionLab(real=mnist.val.x, real_y=mnist.val.y, real_grey=grey.val.x, test=mnist.test.x, net=net28, good=nbr4, fitted=lab_fitted, seed=rt.seed)
grid = rt.pick(smoke=(0.0, 0.5, 1.0), laptop=(0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0), full=(0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0))
present(partial(lab.render, strengths=grid, floor=floor), corruption=list(CORRUPTIONS), strength=(0.0, 1.0, 0.1));

# %%
lab_curves = {kind: lab.curves(kind, grid) for kind in CORRUPTIONS}
for kind, c in lab_curves.items():
    print(f"{kind:13s} s = 0 -> 1: FD {c['fd'][0]:.1f} -> {c['fd'][-1]:.1f} | precision {c['precision'][0]:.2f} -> {c['precision'][-1]:.2f} | "
          f"recall {c['recall'][0]:.2f} -> {c['recall'][-1]:.2f} | NLL {c['nll'][0]:.1f} -> {c['nll'][-1]:.1f}")
fig = lab.render("noise", 0.5, strengths=grid, floor=floor)
rt.save_figure(fig, "corruption_widget")
plt.close(fig)
noise_c, drop_c = lab_curves["noise"], lab_curves["drop a class"]
assert all(n - noise_c["nll"][0] <= -math.log1p(-s) + 1e-6 for s, n in zip(grid, noise_c["nll"]) if s < 1), "noise costs at most ln 1/(1-s) nats"
blur_c = lab_curves["blur"]
assert noise_c["fd"][-1] > 10 * noise_c["fd"][0] and noise_c["precision"][-1] < noise_c["precision"][0] - 0.2 and noise_c["recall"][-1] < 0.1
assert blur_c["precision"][-1] >= blur_c["precision"][0] - 0.05 and blur_c["recall"][-1] < blur_c["recall"][0] - 0.3
assert drop_c["precision"][-1] >= drop_c["precision"][0] - 0.05 and drop_c["recall"][-1] < drop_c["recall"][0]
assert abs(drop_c["nll"][-1] - drop_c["nll"][0]) < 2, "a table of 4 neighbours hardly notices that the 0s are gone"


# %% [markdown]
# - **Noise**: FD, precision and recall collapse together, long before the likelihood notices: it
#   cannot rise by more than $\ln
# rac{1}{1-s}$ until $s$ is almost 1.
# - **Blur**: FD and recall move, precision does not: blurred digits still fall inside the balls of
#   real ones (the classifier's features still see digits), but they no longer *cover* the real
#   variety. The likelihood rises by a few nats.
# - **Drop a class**: precision stays, recall and FD move a little (a tenth of the data is gone), and
#   the NLL hardly moves: a table of four neighbours models strokes, not digits, and a table fitted
#   without any 0 still finds the strokes of a 0 probable. A model that knows about classes would pay
#   for the missing mode (section 5).
#
# No single number tells the whole story.
#
# ## 9. Bad input gets a sentence
#
# The metrics check what they are given and say what to pass instead.

# %%
def error_of(fn):
    try:
        fn()
    except (TypeError, ValueError) as err:
        print(f"{type(err).__name__}: {err}")
        return err
    raise AssertionError("no error was raised")


some_model = boards["mnist5k-binarized"][1].samples[:64]
assert "model.sample(500)" in str(error_of(lambda: fd_with_floor(some_model, "mnist5k-binarized")))  # wrong N
assert "(N, 1, 28, 28)" in str(error_of(lambda: fd_with_floor(torch.rand(500, 784), "mnist5k-binarized")))  # flattened
assert "/ 16" in str(error_of(lambda: fd_with_floor(digits.val.levels.float(), "digits8x8")))  # levels 0..16, not level / 16
assert "smaller k" in str(error_of(lambda: precision_recall(torch.randn(500, 8), torch.randn(3, 8), k=3)))  # too few samples
autoencoder = Autoencoder(VAEConfig(shape=(1, 8, 8), num_levels=17))  # notebook 04: a decoder, but no likelihood
assert "fd_with_floor" in str(error_of(lambda: mean_nll(autoencoder, digits.test.loader(447))))  # log_prob kind "none"
assert "takes no option" in str(error_of(lambda: model_nll(good, x_test, budget=rt.budget, options={"k": 10})))  # an exact model has no k

# %% [markdown]
# ## 10. The families side by side
#
# | family (notebook) | likelihood | sampling | sample quality here | latent space |
# |---|---|---|---|---|
# | tables, mixtures (01) | exact, closed form | one pass (tables: pixel by pixel) | blobs; tables local, mixtures global | mixture: a discrete cluster |
# | autoregressive: MADE, PixelCNN (03) | exact | one network pass **per pixel**: slow | sharp strokes, often incoherent shapes | none |
# | VAE (04) | lower bound (ELBO, IW bound) | one pass: fast | blurry means, speckled draws | continuous, smooth, encoder included |
# | flows (05) | exact (on dequantised data: a bound on the discrete NLL) | one pass: fast | fair | same dimension as the data, invertible |
# | GANs (06) | none | one pass: fast | the sharpest, with dropped modes | continuous, no encoder |
# | energy-based, RBM (07) | unnormalised (RBM: exact with an enumerated $Z$ when small) | MCMC: slow, mixes poorly | varies with the chain | RBM: binary hidden units |
# | diffusion (08) | lower bound (ELBO) | many network passes: slow | strong | the noise path; no compact code |
#
# The boards measure these columns for the families trained so far; here they are, family by family
# (the largest sampling time and the best FD of each family, over its models on all boards):

# %%
by_family = {}
for b, rows in boards.items():
    for r in rows[1:]:
        by_family.setdefault(r.family, []).append((b, r))
print(f"{'family':<20} {'likelihood':<22} {'s per 64 samples':>16} {'best FD / floor':>16}  boards")
for family, entries in by_family.items():
    kinds = sorted({r.kind for _, r in entries})
    slowest = max(r.sample_seconds for _, r in entries)
    best = min(r.fd / r.floor for _, r in entries)
    print(f"{family:<20} {', '.join(kinds):<22} {slowest:16.2f} {best:16.1f}  {', '.join(sorted({b for b, _ in entries}))}")
assert all(r.fd / r.floor > 1 for entries in by_family.values() for _, r in entries)
rt.record("kernel_cpu_seconds", time.process_time(), "s")  # CPU time of this notebook so far (wall time depends on the machine's load)

# %% [markdown]
# ## Exercises
# 1. (Implement and check, above.) The closed-form Fréchet distance of two Gaussians.
# 2. Compute the leaderboard's FD at $N = 100$ for two models and for the held-out images (use
#    `sample_scores(samples[:100], board)`). Does the ranking at $N = 100$ agree with the one at the full $N$?
# 3. In section 2, how small must the weight $w$ of the good model be before the NLL of the mixture is worse
#    than that of independent pixels? Derive it from the bound, then check it.

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution 3: NLL_mix <= NLL_good + ln(1/w), so it cannot be worse than independent pixels while
# ln(1/w) < NLL_indep - NLL_good, i.e. for w > exp(-(NLL_indep - NLL_good)).
nll_indep = -baselines["mnist5k-binarized"]["independent pixels"][0].log_prob(x_test).mean().item()
w_min = math.exp(-(nll_indep - nll_good))
print(f"NLL_indep - NLL_good = {nll_indep - nll_good:.1f} nats: the mixture beats independent pixels for any w > {w_min:.1e}")
tiny = TwoModelMixture(MixtureOfTwoConfig(weight=w_min * 10), good, noise)
assert -tiny.log_prob(x_test).mean().item() < nll_indep

# %% [markdown]
# ## Summary
# - One contract (`sample`, `log_prob` with its kind) puts every family on one table; every number on
#   it comes from a run here or from the checkpoint of the same preset.
# - Likelihood and sample quality disagree both ways: 99 % noise costs at most $\ln 100$ nats, and
#   better NLL often comes with worse FD.
# - FD is biased upwards at finite $N$: quote it with the real-vs-real floor at the same $N$, and treat
#   differences of a few points at $N = 500$ as noise. It depends on the feature network: "FD (course
#   features)", never "FID".
# - IS ignores the real data; precision/recall and density/coverage split fidelity from diversity; a
#   mode-dropping model has an infinite NLL unless smoothed.
# - FD rewards a copycat; the nearest-neighbour distance and the held-out likelihood catch it.
# - Two-sample tests reject every model here, and also a sequential data split.
#
# ## References
# - L. Theis, A. van den Oord, M. Bethge. *A note on the evaluation of generative models*, ICLR 2016.
# - M. Heusel et al. *GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash Equilibrium*, NeurIPS 2017 (FID).
# - M. Bińkowski, D. J. Sutherland, M. Arbel, A. Gretton. *Demystifying MMD GANs*, ICLR 2018 (KID).
# - T. Salimans et al. *Improved Techniques for Training GANs*, NeurIPS 2016 (Inception Score).
# - M. S. M. Sajjadi et al. *Assessing Generative Models via Precision and Recall*, NeurIPS 2018.
# - T. Kynkäänniemi et al. *Improved Precision and Recall Metric for Assessing Generative Models*, NeurIPS 2019.
# - M. F. Naeem et al. *Reliable Fidelity and Diversity Metrics for Generative Models*, ICML 2020 (density, coverage).
# - D. Lopez-Paz, M. Oquab. *Revisiting Classifier Two-Sample Tests*, ICLR 2017.
# - C. Meehan, K. Chaudhuri, S. Dasgupta. *A Non-Parametric Test to Detect Data-Copying in Generative Models*, AISTATS 2020.
# - M. Lucic et al. *Are GANs Created Equal? A Large-Scale Study*, NeurIPS 2018.
# - J. M. Tomczak. *Deep Generative Modeling*, Springer 2022, and its `intro_dgm` notebooks (quoted, not run).
