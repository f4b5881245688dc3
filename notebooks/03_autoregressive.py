# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 03 · Autoregressive models: chain rule, MADE, PixelCNN, temperature
#
# Autoregressive models are the family with an **exact likelihood**: they write a distribution as a
# product of normalised conditionals and learn each conditional with a network. This is where the
# course first trains a neural density model and measures it honestly, against the counting
# baselines of notebook 01.
#
# In this notebook you will learn
# - why the **chain rule** is a model that is normalised by construction, and how temperature
#   reshapes each conditional;
# - **MADE**: masked linear layers, order-agnostic training, and how to combine orderings (average
#   *likelihoods*, not logits);
# - **PixelCNN**: masked convolutions of type A and B, the receptive field and its blind spot;
# - how these models compare in **nats** and **bits/dim** with strong table baselines, and where 4,000
#   training images make them overfit;
# - why **sampling is sequential**, and how a **causal Transformer** with a **KV cache** generates text.
#
# *Cost: under a minute at the smoke budget; about 4 minutes on a laptop CPU (laptop budget).*

# %% [markdown]
# ## Setup

# %%
import math
import time

import matplotlib.pyplot as plt
import torch
from torch.utils.data import DataLoader, TensorDataset

from course_utils import DatasetUnavailable, TrainConfig, load_mnist, load_mnist5k, load_model, present, setup
from course_utils.data import load_sklearn_text, windows
from course_utils.evaluation.likelihood import all_images, mean_nll, nats_to_bpd
from course_utils.lessons.autoregressive_views import input_gradient, logit_average_log_prob, render_samples
from course_utils.models.char_transformer import CharTransformer, CharTransformerConfig, filter_logits
from course_utils.models.made import MADE, MADEConfig
from course_utils.models.pixelcnn import PixelCNN, PixelCNNConfig
from course_utils.models.tables import fit_baselines
from course_utils.plotting import image_grid, image_rows, training_curves

rt = setup("03_autoregressive")
data = load_mnist5k()  # statically binarised, 4000 / 500 / 500
if rt.budget == "full":  # paper scale: full MNIST, our own seeded binarisation (not Larochelle's file)
    try:
        data = load_mnist(binarized=True)
    except DatasetUnavailable as missing:
        print(missing)
D = data.num_dims
test_loader = data.test.loader(500, shuffle=False)

# %% [markdown]
# ## 1. The chain rule is a model
# Any distribution over $x = (x_1, \dots, x_D)$ factorises, in any order, as
# $$p(x) = \prod_{d=1}^{D} p(x_d \mid x_{<d}).$$
# An **autoregressive model** parameterises each conditional and makes it a normalised distribution
# over $x_d$ (a sigmoid for a binary pixel, a softmax for a character). Then the product is
# normalised *by construction*: summing over $x_D$ first gives 1, then over $x_{D-1}$, and so on,
#
# $$\sum_{x} p(x) = \sum_{x_1} p(x_1) \sum_{x_2} p(x_2 \mid x_1) \cdots \underbrace{\sum_{x_D} p(x_D \mid x_{<D})}_{=1} = 1 .$$
#
# No partition function, no bound: $\log p(x)$ is a sum of $D$ log-conditionals that one forward pass
# computes. The catch is the size of the conditionals: written as tables, $p(x_d \mid x_{<d})$ needs
# $2^{d-1}$ numbers. Re-derive the normalisation with exactly such tables for $D = 4$ random binary
# variables.

# %%
g = torch.Generator().manual_seed(0)
tables = [torch.rand(2 ** d, generator=g) for d in range(4)]  # p(x_d = 1 | prefix), one entry per prefix


def chain_rule_prob(x: tuple[int, ...]) -> float:
    p = 1.0
    for d, xd in enumerate(x):
        prefix = int("".join(map(str, x[:d])) or "0", 2)  # the prefix x_<d as an integer
        p *= tables[d][prefix].item() if xd else 1 - tables[d][prefix].item()
    return p


configs = all_images((1, 1, 4)).flatten(1).long()
total = sum(chain_rule_prob(tuple(c.tolist())) for c in configs)
print(f"sum over all {len(configs)} configurations: {total:.6f}; table entries: {sum(len(t) for t in tables)} = 2^4 - 1")

# %% [markdown]
# The package's MADE (section 3) is such a product with network conditionals; the same check passes
# for it, untrained and with any random weights.

# %%
tiny_made = MADE(MADEConfig(shape=(1, 2, 2), hidden=(8,)))
tiny_grid = all_images((1, 2, 2))
tiny_total = torch.logsumexp(tiny_made.log_prob(tiny_grid), 0).exp().item()
print(f"untrained MADE on 2x2 binary images: sum of p(x) over 16 images = {tiny_total:.6f}")
assert abs(total - 1) < 1e-6 and sum(len(t) for t in tables) == 2**4 - 1
assert abs(tiny_total - 1) < 1e-5

# %% [markdown]
# ## 2. Temperature
# A conditional over $K$ outcomes is a softmax of logits $\ell$. Sampling at **temperature** $T$ uses
# $$p_T(k) = \frac{\exp(\ell_k / T)}{\sum_j \exp(\ell_j / T)} ,$$
# so $T = 1$ is the model, $T < 1$ sharpens it towards the most likely outcome ($T \to 0$: the argmax)
# and $T > 1$ flattens it towards uniform. A worked example, logits $[2.0, 1.0, 0.5]$:
#
# | $T$ | $p_T$ |
# |---|---|
# | 1 | $e^{2}, e^{1}, e^{0.5}$ normalised: $[0.628, 0.231, 0.140]$ |
# | 0.5 | logits $[4, 2, 1]$: $[0.844, 0.114, 0.042]$ |
#
# Temperature applied to every conditional of an autoregressive model is *not* the distribution
# $p(x)^{1/T}$ renormalised (that would need a sum over all sequences); it is a different, greedier
# sampler. Re-derive the softmax, then verify the package's `filter_logits` (used by the Transformer
# of section 7) agrees.

# %%
logits = torch.tensor([2.0, 1.0, 0.5])


def softmax_at(logits: torch.Tensor, T: float) -> torch.Tensor:
    e = torch.exp((logits - logits.max()) / T)  # subtracting the max changes nothing but avoids overflow
    return e / e.sum()


for T in (1.0, 0.5):
    print(f"T = {T}: {[round(p, 4) for p in softmax_at(logits, T).tolist()]}")
assert torch.allclose(softmax_at(logits, 1.0), torch.tensor([0.628, 0.231, 0.140]), atol=1e-3)
assert torch.allclose(softmax_at(logits, 0.5), torch.tensor([0.844, 0.114, 0.042]), atol=1e-3)
assert torch.allclose(softmax_at(logits, 0.5), torch.softmax(filter_logits(logits, temperature=0.5), -1))

# %%
temps = torch.linspace(0.1, 3.0, 60)
probs = torch.stack([softmax_at(logits, float(T)) for T in temps])
fig, ax = plt.subplots(figsize=(6, 3.2))
for k in range(3):
    ax.plot(temps, probs[:, k], label=f"logit {logits[k]:.1f}")
ax.axvline(1.0, c="k", lw=0.8, ls="--")
ax.set_xlabel("temperature T")
ax.set_ylabel("probability")
ax.set_title("Low T: the argmax takes everything; high T: towards uniform (1/3)")
ax.legend()
rt.save_figure(fig, "temperature")
assert probs[0, 0] > 0.99 and (probs[-1] - 1 / 3).abs().max() < 0.1

# %% [markdown]
# ## 3. From tables to networks: FVSBN and MADE
# **Baselines first.** Notebook 01 fitted *causal tables* by counting: each pixel conditioned on a few
# earlier neighbours (`markov`: the previous pixel; `nbrK`: $K$ neighbours above and to the left). On
# 4,000 images they are strong. Every neural model below is measured against all of them.

# %%
baselines = fit_baselines(data.train.x)
nll = {name: mean_nll(model, test_loader) for name, model in baselines.items()}
for name, value in nll.items():
    print(f"{name:12s} test NLL {value:6.1f} nats")

# %% [markdown]
# **A network per conditional.** The fully visible sigmoid belief net (FVSBN) replaces each table by a
# logistic regression on all earlier pixels, $p(x_d = 1 \mid x_{<d}) = \sigma(b_d + \sum_{i<d} W_{di} x_i)$:
# one linear layer with a strictly lower-triangular weight, $D(D-1)/2$ weights.
#
# **MADE** (Germain et al. 2015) puts a hidden layer in between and keeps the autoregressive property
# with masks. Give each input its position $m^0(i)$ in an ordering, each hidden unit $k$ a degree
# $m^1(k) \in [\min m^0, D-2]$, and connect
# $$M^{W}_{k i} = [\, m^1(k) \ge m^0(i) \,], \qquad M^{V}_{d k} = [\, m^0(d) > m^1(k) \,].$$
# Then output $d$ reaches input $i$ only through a hidden unit with $m^0(i) \le m^1(k) < m^0(d)$, so
# only if $i$ comes before $d$: the product $M^V M^W$ is strictly lower-triangular in the ordering. The
# masks are **buffers multiplied into the weights** in the forward pass
# (`F.linear(x, self.mask * self.weight, self.bias)`), never written into them. Re-derive the masks from
# the degrees and verify against the package.

# %%
made_demo = MADE(MADEConfig(shape=(1, 3, 3), hidden=(12,), num_masks=2, order_agnostic=True, seed=3))
made_demo.set_mask(1)
m0 = made_demo.order  # position of each input in the ordering
M_W = made_demo.layers[0].mask
M_V = made_demo.layers[1].mask
# re-derive: degree of hidden unit k = the largest input position it sees; then both masks follow
deg1 = torch.stack([m0[row.bool()].max() for row in M_W])
assert torch.equal(M_W, (deg1[:, None] >= m0[None, :]).float()) and torch.equal(M_V, (m0[:, None] > deg1[None, :]).float())
reach = (M_V @ M_W > 0).float()  # reach[d, i]: is there a path from input i to output d?
assert torch.all(reach <= (m0[:, None] > m0[None, :]).float()), "output d sees only inputs before it"

# %%
order_idx = torch.argsort(m0)
fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
panels = [(M_W[:, order_idx], "$M^W$", "input (in the ordering)", "hidden unit"),
          (M_V[order_idx], "$M^V$", "hidden unit", "output (in the ordering)"),
          (reach[order_idx][:, order_idx], "paths $M^V M^W > 0$", "input (in the ordering)", "output (in the ordering)")]
for ax, (mat, title, xlabel, ylabel) in zip(axes, panels):
    ax.imshow(mat, cmap="gray_r", vmin=0, vmax=1)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(False)
fig.suptitle("MADE masks for one random ordering of 9 pixels: the paths are strictly lower-triangular")
rt.save_figure(fig, "made_masks")

# %% [markdown]
# **Training.** Each model is trained with the course's `fit` by minimising the NLL. On 4,000
# images MADE **overfits**: its training NLL falls below its test NLL (the gap grows with training; the
# laptop budget uses early stopping on the validation split).

# %%
made, made_hist = load_model("made", rt)  # preset "made": 500 hidden units at laptop, 8000 (the paper's) at full
nll["MADE"] = mean_nll(made, test_loader)
made_train_nll = mean_nll(made, data.train.loader(1000, shuffle=False))
print(f"MADE {made.cfg.hidden}: train NLL {made_train_nll:.1f}, test NLL {nll['MADE']:.1f} nats ({made_hist.seconds:.0f} s)")

# %%
fvsbn, _ = load_model("fvsbn", rt)  # MADEConfig(hidden=()): no hidden layer
nll["FVSBN"] = mean_nll(fvsbn, test_loader)
print(f"FVSBN (logistic conditionals): test NLL {nll['FVSBN']:.1f} nats")

# %%
fig, ax = plt.subplots(figsize=(6.5, 3.5))
training_curves(made_hist, title=f"MADE: final train NLL {made_train_nll:.0f} < test NLL {nll['MADE']:.0f} nats", ax=ax)
for name in ("markov", "nbr4"):
    ax.axhline(nll[name], ls=":", c="k", lw=1)
    ax.text(0, nll[name], f" {name} (test)", va="bottom", fontsize=8)
ax.set_ylim(top=max(made_hist.val_loss[0], nll["markov"]) + 20)
rt.save_figure(fig, "made_training")

# %%
assert nll["MADE"] < nll["independent"] - 40, "MADE is far better than independent pixels"
assert nll["FVSBN"] < nll["independent"], "even logistic conditionals beat independence"
assert made_train_nll < nll["MADE"], "train NLL below test NLL: MADE overfits 4,000 images"
rt.record("test_nll_made", nll["MADE"], "nats", at_most=125.0, budget="laptop")
rt.record("made_overfit_gap", nll["MADE"] - made_train_nll, "nats")
rt.record("made_train_seconds", made_hist.seconds, "s")

# %% [markdown]
# ## 4. Orderings and ensembles: average likelihoods, not logits
# **Order-agnostic training** draws a new ordering (and new hidden degrees) for each minibatch, cycling
# through $K$ mask sets. One network then holds $K$ autoregressive models $p_1, \dots, p_K$; a regulariser
# for small data, and an **ensemble** for free at test time. The ensemble is the mixture
# $$p(x) = \frac{1}{K} \sum_{k=1}^{K} p_k(x), \qquad \log p(x) = \operatorname{logsumexp}_k \log p_k(x) - \log K ,$$
# normalised because each $p_k$ is. Averaging the **logits** of the $K$ orderings instead (a mistake in a
# public implementation) mixes conditionals $p_k(x_d \mid x_{<_k d})$ that condition on *different*
# sets of pixels: the product of the averaged conditionals is not any ordering's chain rule and does
# not sum to 1. Check both on a space small enough to enumerate: 3x3 patches of the digits, 512
# configurations.

# %%
patches = data.train.x[:, :, 12:15, 12:15].contiguous()  # centre 3x3 patch of every training image
patch_made = MADE(MADEConfig(shape=(1, 3, 3), hidden=(32,), num_masks=4, order_agnostic=True)).to(rt.device)
patch_loader = DataLoader(TensorDataset(patches), batch_size=100, shuffle=True, generator=torch.Generator().manual_seed(rt.seed))
rt.fit_or_load(patch_made, patch_loader, None, TrainConfig(epochs=rt.pick(smoke=5, laptop=10, full=10), lr=1e-2, progress=False), name="patch")
grid9 = all_images((1, 3, 3)).to(rt.device)
with torch.no_grad():
    mass_mixture = torch.logsumexp(patch_made.log_prob(grid9, ensemble=4), 0).exp().item()
    mass_logit_avg = torch.logsumexp(logit_average_log_prob(patch_made, grid9, 4), 0).exp().item()
print(f"sum over 512 patches: likelihood mixture {mass_mixture:.6f} | logit average {mass_logit_avg:.4f}")
assert abs(mass_mixture - 1) < 1e-5, "the mixture of orderings is normalised"
assert abs(mass_logit_avg - 1) > 0.01, "averaged logits are not a distribution"

# %% [markdown]
# Now at full size: an order-agnostic MADE trained with $K$ masks, scored with one mask, with the
# likelihood ensemble, and with the (wrong) logit average. The logit-average number is not an NLL: it
# cannot be compared with anything.

# %%
oa_made, oa_hist = load_model("made-order-agnostic", rt)
K = oa_made.cfg.num_masks  # 4 at smoke, 8 at laptop, 32 at full
with torch.no_grad():
    x_test = data.test.x.to(rt.device)
    single = -oa_made.log_prob(x_test).mean().item()  # mask 0 alone
    nll["MADE, K orderings (ensemble)"] = -oa_made.log_prob(x_test, ensemble=K).mean().item()
    wrong = -logit_average_log_prob(oa_made, x_test, K).mean().item()
print(f"order-agnostic MADE, K={K}: one mask {single:.1f} | likelihood ensemble {nll['MADE, K orderings (ensemble)']:.1f}"
      f" | logit average {wrong:.1f} (not an NLL)")
assert nll["MADE, K orderings (ensemble)"] < single, "the ensemble beats one of its members"
rt.record("test_nll_made_order_agnostic_ensemble", nll["MADE, K orderings (ensemble)"], "nats", at_most=116.0, budget="laptop")
rt.record("ensemble_minus_single_order_made", nll["MADE, K orderings (ensemble)"] - nll["MADE"], "nats", at_most=0.0, budget="laptop")

# %% [markdown]
# ## 5. PixelCNN: masked convolutions
# A convolution shares one small kernel across the image, which suits pixels far better than MADE's
# dense layers. PixelCNN (van den Oord et al. 2016) masks the kernel so that output $(i, j)$ only sees
# pixels before $(i, j)$ in raster order. The **first** layer uses mask **A** (the centre pixel
# excluded: it is the pixel being predicted); later layers use mask **B** (the centre included: at
# that point it only carries information from before the pixel).
#
# **Receptive field and blind spot.** Which inputs does the conditional of one pixel use? Ask
# autograd: the gradient of its logits with respect to the input image is nonzero exactly on its
# receptive field. Stacked masked $3 \times 3$ kernels grow a field that misses a wedge **above and to
# the right**: those pixels come earlier in raster order, but every layer's mask cuts the upper-right
# diagonal. The gated PixelCNN (van den Oord et al., NeurIPS 2016) fixes this with two stacks: a
# vertical stack that sees every row above (shifted down one row) and a horizontal stack for the
# current row (`PixelCNNConfig(two_stack=True)`).

# %%
probe_cfg = dict(shape=(1, 11, 11), channels=16, num_layers=4, kernel_size=3)
torch.manual_seed(0)
masked_net, stacked_net = PixelCNN(PixelCNNConfig(**probe_cfg)), PixelCNN(PixelCNNConfig(**probe_cfg, two_stack=True))
pixel = (7, 5)
field_masked = input_gradient(masked_net, pixel) > 0
field_stacked = input_gradient(stacked_net, pixel) > 0
later = torch.arange(121).view(11, 11) >= pixel[0] * 11 + pixel[1]  # the pixel itself and everything after

# %%
fig, axes = plt.subplots(1, 2, figsize=(8, 3.8))
for ax, field, title in [(axes[0], field_masked, "masked convs: blind spot up-right"), (axes[1], field_stacked, "two stacks: no blind spot")]:
    ax.imshow(field.float() + 0.35 * later.float(), cmap="gray_r", vmin=0, vmax=1.4)
    ax.plot(pixel[1], pixel[0], "s", color="#D55E00", ms=9)
    ax.set_title(title)
    ax.set_xlabel("column")
    ax.set_ylabel("row")
    ax.grid(False)
fig.suptitle("Inputs with a nonzero gradient for the red pixel's conditional (4 layers of 3x3; light grey: later pixels)")
rt.save_figure(fig, "pixelcnn_receptive_field")

# %%
assert not (field_masked & later).any() and not (field_stacked & later).any(), "both see only earlier pixels"
assert not field_masked[pixel[0] - 1, pixel[1] + 2] and not field_masked[pixel[0] - 2, pixel[1] + 3], "the blind spot"
assert field_stacked[pixel[0] - 1, pixel[1] + 2] and field_stacked[pixel[0] - 2, pixel[1] + 3], "two stacks see it"
assert field_stacked.sum() > field_masked.sum()

# %% [markdown]
# Train a small PixelCNN (one 7x7 mask-A layer, residual 3x3 mask-B layers, a 1x1 head giving two logits
# per pixel). For scale: 16 channels x 5 layers reach about 100 nats in one to two minutes on a 2-core
# CPU; the paper's size (64 channels x 7 layers and more) costs minutes per epoch here and belongs to
# the full budget.

# %%
pcnn, pcnn_hist = load_model("pixelcnn", rt)
nll["PixelCNN"] = mean_nll(pcnn, test_loader)
print(f"PixelCNN {pcnn.cfg.channels} ch x {pcnn.cfg.num_layers} layers: test NLL {nll['PixelCNN']:.1f} nats "
      f"after {pcnn_hist.seconds:.0f} s ({pcnn_hist.step[-1]} steps)")
rt.record("pixelcnn_train_seconds", pcnn_hist.seconds, "s")

# %% [markdown]
# ## 6. The honest comparison
# All models on the same test images, in nats per image and in bits per (binary) pixel,
# $\text{bpd} = \text{NLL} / (D \ln 2)$.

# %%
ranked = sorted(nll.items(), key=lambda kv: kv[1])
fig, ax = plt.subplots(figsize=(7, 3.8))
ax.barh([k for k, _ in ranked][::-1], [v for _, v in ranked][::-1], color=["#0072B2" if k in baselines else "#D55E00" for k, _ in ranked][::-1])
for i, (k, v) in enumerate(ranked[::-1]):
    ax.text(v, i, f" {v:.1f} nats = {nats_to_bpd(v, D):.3f} bpd", va="center", fontsize=8)
ax.set_xlabel("test NLL (nats per image, lower is better)")
ax.set_xlim(0, max(nll.values()) * 1.45)
ax.set_title(f"Binarised MNIST-5k, {rt.budget} budget: networks (orange) vs tables (blue)")
rt.save_figure(fig, "nll_comparison")
for name in baselines:
    rt.record(f"test_nll_{name}", nll[name], "nats")
rt.record("test_nll_fvsbn", nll["FVSBN"], "nats", at_most=115.0, budget="laptop")
rt.record("test_nll_pixelcnn", nll["PixelCNN"], "nats", at_most=101.0, budget="laptop")

# %% [markdown]
# What holds at every budget, and what needs the laptop budget's training (checked by
# `make bench BUDGET=laptop`):
# - every network beats independent pixels; the PixelCNN beats the Markov chain and the 2-neighbour
#   table after a few seconds of training, and beats MADE;
# - MADE beats the Markov chain within seconds, but on 4,000 images it does not reach the
#   4-neighbour table: it overfits first (section 3). The order-agnostic ensemble narrows the gap;
#   at the laptop budget (measured: MADE 118, ensemble of 8 orderings 110, 4-neighbour table 107
#   nats) it beats the single-order MADE. Even the FVSBN, with fewer weights to overfit, lands near
#   110 nats there: on small data, capacity is not what limits MADE;
# - with a minute or two of training the PixelCNN (laptop: 97 nats) beats every table, the
#   8-neighbour one included. Weight sharing across positions is the regulariser MADE lacks.

# %%
assert nll["PixelCNN"] < nll["nbr2"] < nll["markov"] < nll["independent"]
assert nll["PixelCNN"] < nll["MADE"] < nll["markov"] < nll["independent"]
rt.record("pixelcnn_minus_nbr8", nll["PixelCNN"] - nll["nbr8"], "nats", at_most=0.0, budget="laptop")
rt.record("made_minus_markov", nll["MADE"] - nll["markov"], "nats", at_most=0.0, budget="laptop")
rt.record("nbr4_minus_made", nll["nbr4"] - nll["MADE"], "nats", at_most=0.0, budget="laptop")

# %% [markdown]
# ## 7. Sampling is sequential
# Training evaluates all $D$ conditionals in one pass, because the data fill in every $x_{<d}$. Sampling
# cannot: $x_d$ must be drawn before the network can compute $p(x_{d+1} \mid x_{\le d})$, so a sample
# costs **one network pass per dimension**. Measure it with untrained MADEs of growing size.

# %%
dims, pass_ms, sample_ms = [], [], []
for side in (7, 14, 28):
    net = MADE(MADEConfig(shape=(1, side, side), hidden=(256,))).to(rt.device)
    x = torch.zeros(16, 1, side, side, device=rt.device)
    one_pass = math.inf
    for _ in range(3):  # the fastest of three passes, so a cold first call does not count
        t0 = time.perf_counter(); net.log_prob(x).sum().item(); one_pass = min(one_pass, time.perf_counter() - t0)
    t0 = time.perf_counter(); net.sample(16, torch.Generator().manual_seed(0)).sum().item(); sampling = time.perf_counter() - t0
    dims.append(side * side); pass_ms.append(one_pass * 1e3); sample_ms.append(sampling * 1e3)
    print(f"D = {side * side:3d}: one pass {one_pass * 1e3:5.2f} ms, sampling 16 images {sampling * 1e3:7.1f} ms ({sampling / one_pass:5.0f}x)")
rt.record("made_sampling_over_one_pass_784", sample_ms[-1] / pass_ms[-1], "x")
assert sample_ms[-1] / pass_ms[-1] > 50, "sampling D=784 pixels costs far more than the single pass of training"

# %%
fig, ax = plt.subplots(figsize=(5.5, 3.2))
ax.loglog(dims, sample_ms, "o-", label="sampling: D passes")
ax.loglog(dims, pass_ms, "s-", label="log p(x): one pass")
ax.set_xticks(dims, [str(d) for d in dims])
ax.minorticks_off()
ax.set_xlabel("dimensions D (pixels)")
ax.set_ylabel("milliseconds for 16 images")
ax.set_title("Sampling grows with D; the likelihood pass barely does")
ax.legend()
rt.save_figure(fig, "sampling_cost")

# %% [markdown]
# Samples from the trained models, and **image completion**: condition on the top half of a test
# image (it comes first in raster order, so $p(\text{bottom} \mid \text{top})$ is exact) and sample the
# rest, three times.

# %%
gen = torch.Generator().manual_seed(0)
n_show = rt.pick(smoke=8, laptop=10, full=10)
rows = {"data": data.test.x[:n_show], "MADE": made.sample(n_show, gen), "PixelCNN": pcnn.sample(n_show, gen)}
fig = image_rows(rows, nrow=n_show, title=f"Samples, one network pass per pixel ({rt.budget} budget)")
rt.save_figure(fig, "samples")

# %% [markdown]
# A better likelihood does not promise better-looking samples (Theis et al. 2016): a model can spend
# its nats on the background and on stroke edges. Look at the samples of both budgets.

# %%
known = torch.zeros(1, 28, 28, dtype=torch.bool)
known[:, :14] = True
originals = data.test.x[:4].repeat_interleave(3, 0).to(rt.device)  # 4 images x 3 completions
completed = pcnn.complete(originals * known.to(rt.device), known, gen)
fig = image_rows({"original": data.test.x[:4].repeat_interleave(3, 0), "top half given": originals * known.to(rt.device), "completed": completed},
                 nrow=12, title="PixelCNN completions: the bottom half sampled given the top (3 per image)")
rt.save_figure(fig, "completion")
assert torch.equal(completed[:, :, :14], originals[:, :, :14]) and set(completed.unique().tolist()) <= {0.0, 1.0}

# %% [markdown]
# ## 8. A modern autoregressive model: a tiny causal Transformer over characters
# Language models are autoregressive models of text: $p(x) = \prod_t p(x_t \mid x_{<t})$ over characters
# or tokens. A decoder-only Transformer computes every conditional in one pass with **causal
# self-attention**: position $t$ forms a query $q_t$ and attends to the keys and values of positions
# $\le t$ only,
# $$y_t = \sum_{s \le t} \operatorname{softmax}_s\!\Big(\frac{q_t \cdot k_s}{\sqrt{d}}\Big)\, v_s ,$$
# the masked-weight idea of MADE applied to attention scores. Our text: the dataset descriptions that
# ship with scikit-learn; the last 10% of each file is held out, so the held-out NLL measures
# generalisation to unseen sentences, not memorisation. Baselines: unigram and bigram character
# frequencies, fitted by counting.

# %%
text = load_sklearn_text()
train_ids, held_ids = text.encode(text.train), text.encode(text.held_out)
V = len(text.vocab)
counts = torch.bincount(train_ids, minlength=V).float() + 0.5
unigram_nll = -torch.log(counts / counts.sum())[held_ids].mean().item()
bigram = torch.full((V, V), 0.5).index_put_((train_ids[:-1], train_ids[1:]), torch.ones(len(train_ids) - 1), accumulate=True)
bigram_nll = -torch.log(bigram / bigram.sum(1, keepdim=True))[held_ids[:-1], held_ids[1:]].mean().item()
print(f"{len(text.train):,} training and {len(text.held_out):,} held-out characters, {V} symbols")
print(f"held-out NLL per character: uniform {math.log(V):.2f}, unigram {unigram_nll:.2f}, bigram {bigram_nll:.2f} nats")

# %%
tf_cfg = CharTransformerConfig(vocab_size=V, block_size=64, n_layer=2, n_head=4, n_embd=rt.pick(smoke=32, laptop=64, full=128),
                               dropout=rt.pick(smoke=0.0, laptop=0.2, full=0.2))  # dropout: 39k characters are few
tf_train = TrainConfig(epochs=rt.pick(smoke=1, laptop=15, full=50), max_steps=rt.pick(smoke=60, laptop=None, full=None),
                       lr=rt.pick(smoke=1e-2, laptop=3e-3, full=1e-3), patience=rt.pick(smoke=None, laptop=3, full=5), progress=False)
tf_loader = DataLoader(TensorDataset(windows(train_ids, 64, 32)), batch_size=32, shuffle=True, generator=torch.Generator().manual_seed(rt.seed))
held_loader = DataLoader(TensorDataset(windows(held_ids, 64, 64)), batch_size=256)
lm = CharTransformer(tf_cfg).to(rt.device)
lm_hist = rt.fit_or_load(lm, tf_loader, held_loader, tf_train)
lm_held = mean_nll(lm, held_loader) / 64
lm_train = mean_nll(lm, DataLoader(TensorDataset(windows(train_ids, 64, 64)[:100]), batch_size=100)) / 64
print(f"Transformer: held-out {lm_held:.2f} nats/char = {lm_held / math.log(2):.2f} bits/char; train {lm_train:.2f} ({lm_hist.seconds:.0f} s)")
rt.record("lm_heldout_nats_per_char", lm_held, "nats/char", at_most=bigram_nll, budget="laptop")
assert lm_held < unigram_nll < math.log(V), "the Transformer beats character frequencies on unseen text"

# %% [markdown]
# ### The KV cache
# At sampling step $t$ only the newest token is new. The keys and values of positions $< t$ do not
# change, so each layer stores them and a step computes one token's query, key and value instead of
# re-running the whole prefix: $O(T)$ token-passes per sequence instead of $O(T^2)$. The cached and
# uncached samplers draw the same tokens from the same generator; only the time differs.

# %%
times, outs = {False: math.inf, True: math.inf}, {}
for use_cache in (False, True, False, True):  # best of two runs each: timings on a shared CPU are noisy
    t0 = time.perf_counter()
    outs[use_cache] = lm.sample(32, torch.Generator().manual_seed(1), use_cache=use_cache)
    times[use_cache] = min(times[use_cache], time.perf_counter() - t0)
speedup = times[False] / times[True]
print(f"{outs[True].shape[1]} characters x 32 sequences: no cache {times[False]:.2f} s, KV cache {times[True]:.2f} s ({speedup:.1f}x faster)")
rt.record("kv_cache_speedup", speedup, "x")
assert torch.equal(outs[False], outs[True]), "the cache changes the cost, not the samples"
assert speedup > 1.5

# %% [markdown]
# ### Widget: temperature, top-k, top-p
# **Top-k** keeps the $k$ most likely characters, **top-p** (nucleus sampling) the smallest set whose
# probability reaches $p$; both renormalise what is left. Low temperature gives predictable, repetitive
# text; high temperature chaotic strings. Move the sliders in JupyterLab.


# %%
def render_text(temperature: float = 0.8, top_k: int = 0, top_p: float = 1.0) -> plt.Figure:
    return render_samples(lm, text, prompt="The data set ", temperature=temperature, top_k=top_k, top_p=top_p, n=3, length=40)


present(render_text, temperature=(0.1, 2.0, 0.05), top_k=(0, 40), top_p=(0.05, 1.0, 0.05));

# %% [markdown]
# From predictable to chaotic, measured: the model's own average surprise $-\log p(x_t \mid x_{<t})$ at
# $T = 1$ of the characters sampled at each temperature.

# %%
surprise = {}
for T in (0.3, 1.0, 2.0):
    seq = lm.sample(16, torch.Generator().manual_seed(2), length=48, temperature=T)
    surprise[T] = (-lm.log_prob(seq) / 48).mean().item()
print(", ".join(f"T={T}: {v:.2f} nats/char" for T, v in surprise.items()))
assert surprise[0.3] < surprise[1.0] < surprise[2.0]
fig = render_text(0.3, 5, 0.9)
rt.save_figure(fig, "text_samples_low_temperature")
plt.close(fig)

# %% [markdown]
# **Exposure bias.** A model trained by maximum likelihood only ever conditions on *real* prefixes
# (teacher forcing); when it samples, it conditions on its *own* earlier outputs. A small mistake early
# puts it in contexts it never saw in training, where its errors compound: long samples drift even when
# every conditional is good. Lower temperature, top-k and top-p hide this by staying in high-probability
# regions, at the price of diversity.

# %% [markdown]
# ## Exercises
# 1. Show numerically that temperature $T \to 0$ gives the argmax and $T \to \infty$ the uniform
#    distribution, for the logits $[2.0, 1.0, 0.5]$.
# 2. What is the test NLL of the PixelCNN in bits per pixel, and how many bits per image does it save
#    over independent pixels?
# 3. `top_k=1` is greedy decoding. Check that it makes the Transformer's samples independent of the
#    random seed. What does greedy text look like?
#
# Solutions are in the hidden cells below.

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution 1
cold, hot = softmax_at(logits, 0.01), softmax_at(logits, 100.0)
print("T=0.01:", cold.tolist(), "| T=100:", hot.tolist())
assert torch.allclose(cold, torch.tensor([1.0, 0.0, 0.0]), atol=1e-6) and torch.allclose(hot, torch.full((3,), 1 / 3), atol=0.01)

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution 2
bpd_pcnn = nats_to_bpd(nll["PixelCNN"], D)
saved_bits = (nll["independent"] - nll["PixelCNN"]) / math.log(2)
print(f"PixelCNN: {bpd_pcnn:.3f} bits per pixel; {saved_bits:.0f} bits per image fewer than independent pixels")
assert 0 < bpd_pcnn < nats_to_bpd(nll["independent"], D) and saved_bits > 0

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution 3
prompt = text.encode("The data set ")
a = lm.sample(2, torch.Generator().manual_seed(0), length=40, prompt=prompt, top_k=1)
b = lm.sample(2, torch.Generator().manual_seed(99), length=40, prompt=prompt, top_k=1)
print(repr("The data set " + text.decode(a[0])), "<- greedy text tends to loop (Holtzman et al. 2020)")
assert torch.equal(a, b)

# %% [markdown]
# ## Summary
# - The chain rule with normalised conditionals is a normalised model: exact $\log p(x)$ in one pass.
# - MADE masks an autoencoder (masks as buffers, multiplied in); order-agnostic training gives an
#   ensemble, combined by averaging **likelihoods** (log-sum-exp), never logits.
# - PixelCNN masks convolutions (type A, then B); stacked masks leave a blind spot, two stacks fix it.
# - On 4,000 binarised digits, counting tables are strong baselines: MADE overfits, a small PixelCNN wins.
# - Sampling costs one pass per dimension; a KV cache makes a Transformer's steps cheap; temperature,
#   top-k and top-p trade diversity for predictability.
#
# **Paper numbers** (full MNIST, static binarisation of Larochelle & Murray; the full budget here uses
# our own seeded Bernoulli binarisation, so compare only approximately): MADE 88.04 nats (1 hidden
# layer, 32 masks), PixelCNN 81.30 nats.
#
# ## References
# - H. Larochelle, I. Murray. *The Neural Autoregressive Distribution Estimator*, AISTATS 2011.
# - M. Germain, K. Gregor, I. Murray, H. Larochelle. *MADE: Masked Autoencoder for Distribution Estimation*, ICML 2015.
# - A. van den Oord, N. Kalchbrenner, K. Kavukcuoglu. *Pixel Recurrent Neural Networks*, ICML 2016.
# - A. van den Oord et al. *Conditional Image Generation with PixelCNN Decoders*, NeurIPS 2016 (gated PixelCNN, blind spot).
# - A. Vaswani et al. *Attention Is All You Need*, NeurIPS 2017; A. Radford et al. *Language Models are Unsupervised Multitask Learners*, 2019.
# - A. Holtzman et al. *The Curious Case of Neural Text Degeneration*, ICLR 2020 (top-p sampling).
# - A. Karpathy, `pytorch-made` and nanoGPT (the masked layer and the model file this notebook follows).
