# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 03 · Autoregressive models: chain rule, MADE, PixelCNN, Transformers, temperature
#
# Autoregressive models are the family with an **exact likelihood**: they write a distribution as a
# product of normalised conditionals and learn each conditional with a network. This is where the
# course first trains a neural density model and measures it honestly, against the counting
# baselines of notebook 01.
#
# In this notebook you will learn
# - why the **chain rule** is a model that is normalised by construction;
# - **MADE**: masks built from degrees (you will write them), order-agnostic training, and how to
#   combine orderings (average *likelihoods*, not logits);
# - **PixelCNN**: masked convolutions of type A and B, the receptive field and its blind spot;
# - how these models compare in **nats** and **bits/dim** with strong table baselines, where 4,000
#   training images make them overfit, and what a PixelCNN reaches on the 8x8 digits of notebook 04;
# - why **sampling is sequential** (you will write the loop), how a **causal Transformer** attends only
#   to the past, and how a **KV cache** speeds up its sampling;
# - how **temperature**, top-k and top-p reshape each conditional, and why that is not the same as
#   sharpening $p(x)$.
#
# *Cost: under a minute at the smoke budget; about 5 minutes on a laptop CPU (laptop budget).*

# %% [markdown]
# ## Setup

# %%
import math
import time

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from course_utils import DatasetUnavailable, TrainConfig, load_digits8x8, load_mnist, load_mnist5k, load_model, present, setup
from course_utils.data import load_sklearn_text, windows
from course_utils.evaluation.likelihood import all_images, mean_nll, nats_to_bpd
from course_utils.base import eval_mode
from course_utils.exercises import check
from course_utils.lessons.autoregressive_views import (epoch_means, input_gradient, logit_average_log_prob, render_receptive_field,
                                                       render_samples)
from course_utils.models.char_transformer import CharTransformer, CharTransformerConfig, filter_logits
from course_utils.models.independent import IndependentConfig, IndependentPixels
from course_utils.models.made import MADE, MADEConfig
from course_utils.models.pixelcnn import PixelCNN, PixelCNNConfig
from course_utils.models.tables import fit_baselines
from course_utils.nn.masked import made_degrees, made_masks
from course_utils.plotting import image_rows, training_curves

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
# The package's MADE (section 2) is such a product with network conditionals; the same check passes
# for it, untrained and with any random weights.

# %%
tiny_made = MADE(MADEConfig(shape=(1, 2, 2), hidden=(8,)))
tiny_grid = all_images((1, 2, 2))
tiny_total = torch.logsumexp(tiny_made.log_prob(tiny_grid), 0).exp().item()
print(f"untrained MADE on 2x2 binary images: sum of p(x) over 16 images = {tiny_total:.6f}")
assert abs(total - 1) < 1e-6 and sum(len(t) for t in tables) == 2**4 - 1
assert abs(tiny_total - 1) < 1e-5

# %% [markdown]
# ## 2. From tables to networks: FVSBN and MADE
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
# with masks. Give each input its position $m^0(i) \in \{0, \dots, D-1\}$ in an ordering, each hidden
# unit $k$ a **degree** $m^1(k)$ drawn uniformly from $\{\min_i m^0(i), \dots, D-2\}$, and connect
# $$M^{W}_{k i} = [\, m^1(k) \ge m^0(i) \,], \qquad M^{V}_{d k} = [\, m^0(d) > m^1(k) \,].$$
# Then output $d$ reaches input $i$ only through a hidden unit with $m^0(i) \le m^1(k) < m^0(d)$, so
# only if $i$ comes before $d$: the product $M^V M^W$ is strictly lower-triangular in the ordering. (No
# hidden unit gets degree $D-1$: it could feed no output.) The masks are **buffers multiplied into the
# weights** in the forward pass, $h = \mathrm{relu}\big((M^W \odot W)\,x + b\big)$, logits
# $= (M^V \odot V)\,h + c$; never written into the weights.
#
# Build the degrees and the masks from these formulas, with the generator the package seeds for mask
# set $k$, then check them, and the forward pass, against the package's MADE.

# %%
made_demo = MADE(MADEConfig(shape=(1, 3, 3), hidden=(12,), num_masks=2, order_agnostic=True, seed=3))
made_demo.set_mask(1)  # the package's mask set k = 1
g = torch.Generator().manual_seed(1_000_003 * made_demo.cfg.seed + 1)  # how the package seeds mask set k
m0 = torch.randperm(9, generator=g)  # m^0(i): the position of input i in a random ordering
m1 = torch.randint(int(m0.min()), 9 - 1, (12,), generator=g)  # hidden degrees, uniform in {min m^0, ..., D-2}
M_W = (m1[:, None] >= m0[None, :]).float()  # (12, 9): hidden unit k sees input i if m^1(k) >= m^0(i)
M_V = (m0[:, None] > m1[None, :]).float()  # (9, 12): output d sees hidden unit k if m^0(d) > m^1(k)
assert torch.equal(m0, made_demo.order) and torch.equal(M_W, made_demo.layers[0].mask) and torch.equal(M_V, made_demo.layers[1].mask)
reach = (M_V @ M_W > 0).float()  # reach[d, i]: is there a path from input i to output d?
assert torch.all(reach <= (m0[:, None] > m0[None, :]).float()), "output d sees only inputs before it"

x9 = (torch.rand(5, 1, 3, 3, generator=torch.Generator().manual_seed(1)) < 0.5).float()
W1, V1 = made_demo.layers
logits_mine = F.linear(F.relu(F.linear(x9.flatten(1), M_W * W1.weight, W1.bias)), M_V * V1.weight, V1.bias)
assert torch.allclose(logits_mine, made_demo.logits(x9)), "the same logits as the package's MADE"
print(f"degrees of the 12 hidden units: {m1.tolist()}; ordering m0: {m0.tolist()}")

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
# ### Exercise: the masks of a deeper MADE
# With several hidden layers $l = 1, \dots, L$, each with degrees $m^l$, a hidden unit of layer $l$ sees
# a unit of layer $l-1$ whose degree is **smaller or equal** to its own, and output $d$ sees a unit of
# the last hidden layer whose degree is **strictly smaller** than $m^0(d)$. Write the masks for any
# number of hidden layers. The checker compares your masks with the package's on three networks (one,
# two and three hidden layers) and names the first entry that differs.

# %% tags=["exercise"]
def masks_from_degrees(degrees: list[torch.Tensor]) -> list[torch.Tensor]:
    """The 0/1 float masks of a MADE from its degrees.

    degrees: [m0 (D,), m1 (H1,), ..., mL (HL,)], the ordering and the degrees of each hidden layer.
    Returns [M1 (H1, D), M2 (H2, H1), ..., ML (HL, H_{L-1}), MV (D, HL)], each shaped (out, in).
    """
    raise NotImplementedError("your code here")


# %% jupyter={"source_hidden": true} tags=["solution"]
def masks_from_degrees(degrees: list[torch.Tensor]) -> list[torch.Tensor]:
    hidden = [(d_out[:, None] >= d_in[None, :]).float() for d_in, d_out in zip(degrees[:-1], degrees[1:])]
    return hidden + [(degrees[0][:, None] > degrees[-1][None, :]).float()]


# %%
g_ex = torch.Generator().manual_seed(5)
cases = [([m0, m1],), (made_degrees(9, (12, 10), g_ex, order_agnostic=True),), (made_degrees(16, (20, 20, 20), g_ex, order_agnostic=False),)]
check("MADE masks from degrees", masks_from_degrees, made_masks, cases)

# %% [markdown]
# **Training.** Each model is trained with the course's `fit` by minimising the NLL. Watch the two
# curves: on 4,000 images MADE **overfits**. The training NLL keeps falling while the validation NLL
# bottoms out and turns up: the model starts to learn the training images rather than digits. (A
# training NLL below the test NLL alone proves nothing: almost every model shows that gap.) The laptop
# budget stops training a few epochs after the best validation NLL and keeps the best weights (early
# stopping); the smoke budget trains too briefly to see the turn.

# %%
made, made_hist = load_model("made", rt)  # preset "made": 500 hidden units at laptop, 8000 (the paper's) at full
nll["MADE"] = mean_nll(made, test_loader)
made_train_nll = mean_nll(made, data.train.loader(1000, shuffle=False))
train_by_epoch = epoch_means(made_hist)  # the training NLL averaged over each epoch's steps
best = made_hist.best_epoch
print(f"MADE {made.cfg.hidden}: train NLL {made_train_nll:.1f}, test NLL {nll['MADE']:.1f} nats ({made_hist.seconds:.0f} s)")
print(f"best validation NLL {made_hist.best_val_loss:.1f} at epoch {best} of {len(made_hist.val_loss)}; "
      f"last epoch: validation {made_hist.val_loss[-1]:.1f}, training {train_by_epoch[-1]:.1f} (at the best epoch {train_by_epoch[best - 1]:.1f})")

# %%
fvsbn, _ = load_model("fvsbn", rt)  # MADEConfig(hidden=()): no hidden layer
nll["FVSBN"] = mean_nll(fvsbn, test_loader)
print(f"FVSBN (logistic conditionals): test NLL {nll['FVSBN']:.1f} nats")

# %%
fig, ax = plt.subplots(figsize=(6.5, 3.5))
training_curves(made_hist, title=f"MADE ({rt.budget} budget): training and validation NLL; dashed: the best epoch", ax=ax)
ax.axvline(made_hist.epoch_step[best - 1], c="k", lw=0.8, ls="--")
ax.text(made_hist.epoch_step[best - 1], made_hist.best_val_loss + 8, "best validation ", fontsize=8, ha="right")
for name in ("markov", "nbr4"):
    ax.axhline(nll[name], ls=":", c="k", lw=1)
    ax.text(0, nll[name], f" {name} (test)", va="bottom", fontsize=8)
ax.set_ylim(top=max(made_hist.val_loss[0], nll["markov"]) + 20)
rt.save_figure(fig, "made_training")

# %%
assert nll["MADE"] < nll["independent"] - 40, "MADE is far better than independent pixels"
assert nll["FVSBN"] < nll["independent"], "even logistic conditionals beat independence"
rt.record("test_nll_made", nll["MADE"], "nats", at_most=125.0, budget="laptop")
rt.record("made_val_rise_after_best", made_hist.val_loss[-1] - made_hist.best_val_loss, "nats", at_least=0.5, budget="laptop")
rt.record("made_train_fall_after_best", train_by_epoch[best - 1] - train_by_epoch[-1], "nats", at_least=1.0, budget="laptop")
rt.record("made_overfit_gap", nll["MADE"] - made_train_nll, "nats")
rt.record("made_train_seconds", made_hist.seconds, "s")

# %% [markdown]
# ## 3. Orderings and ensembles: average likelihoods, not logits
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
# ## 4. PixelCNN: masked convolutions
# A convolution shares one small kernel across the image, which suits pixels far better than MADE's
# dense layers. PixelCNN (van den Oord et al. 2016) masks the kernel so that output $(i, j)$ only sees
# pixels before $(i, j)$ in raster order: every row above the centre, and on the centre row the pixels
# to its left. The **first** layer uses mask **A**, which also excludes the centre (it is the pixel
# being predicted); later layers use mask **B**, which includes the centre (at that point it only
# carries information from before the pixel). Build both masks from that rule and draw them.

# %%
def pixelcnn_mask(k: int, kind: str) -> torch.Tensor:
    """(k, k) mask of a PixelCNN kernel: 1 where the kernel centred on the current pixel may look."""
    mask = torch.zeros(k, k)
    mask[: k // 2] = 1  # every row above the centre
    mask[k // 2, : k // 2] = 1  # the centre row, left of the centre
    if kind == "B":
        mask[k // 2, k // 2] = 1  # type B: the centre too
    return mask


fig, axes = plt.subplots(1, 2, figsize=(6.5, 3.2))
for ax, (k, kind) in zip(axes, [(7, "A"), (3, "B")]):
    ax.imshow(pixelcnn_mask(k, kind), cmap="gray_r", vmin=0, vmax=1.6)
    ax.plot(k // 2, k // 2, "s", mfc="none", mec="#D55E00", ms=14 if k == 3 else 9, mew=2)
    ax.set(title=f"mask {kind} ({k}x{k}): centre {'seen' if kind == 'B' else 'hidden'}", xlabel="kernel column", ylabel="kernel row",
           xticks=range(k), yticks=range(k))
    ax.grid(False)
fig.suptitle("Dark: weights the mask keeps; red square: the current pixel")
rt.save_figure(fig, "pixelcnn_masks")

# %% [markdown]
# Train a small PixelCNN: one 7x7 mask-A layer, residual 3x3 mask-B layers
# $h \leftarrow h + \mathrm{conv}_B(\mathrm{relu}(h))$, and a head of 1x1 convolutions giving two logits per pixel.
# For scale: 16 channels x 5 layers reach below 100 nats in under a minute of training on a 2-core
# CPU (the time is printed below); the paper's size (64 channels x 7 layers and more) costs minutes
# per epoch here and belongs to the full budget. Then write its whole forward pass with your masks,
# and check it gives the package's logits.

# %%
pcnn, pcnn_hist = load_model("pixelcnn", rt)
nll["PixelCNN"] = mean_nll(pcnn, test_loader)
print(f"PixelCNN {pcnn.cfg.channels} ch x {pcnn.cfg.num_layers} layers: test NLL {nll['PixelCNN']:.1f} nats "
      f"after {pcnn_hist.seconds:.0f} s ({pcnn_hist.step[-1]} steps)")
rt.record("pixelcnn_train_seconds", pcnn_hist.seconds, "s")


# %%
@torch.no_grad()
def my_pixelcnn_logits(net: PixelCNN, x: torch.Tensor) -> torch.Tensor:
    """Logits (B, K, H, W) of every pixel's conditional, from the masks above and the net's weights."""
    mask_a = pixelcnn_mask(net.cfg.kernel_size, "A").to(x.device)
    mask_b = pixelcnn_mask(net.cfg.kernel_size_b, "B").to(x.device)
    h = F.conv2d(2 * x - 1, mask_a * net.conv_in.weight, net.conv_in.bias, padding=net.cfg.kernel_size // 2)
    for conv in net.convs:  # residual mask-B layers
        h = h + F.conv2d(F.relu(h), mask_b * conv.weight, conv.bias, padding=net.cfg.kernel_size_b // 2)
    return net.head(h)  # relu, 1x1 conv, relu, 1x1 conv


x_some = data.test.x[:8].to(rt.device)
with torch.no_grad():
    assert torch.allclose(my_pixelcnn_logits(pcnn, x_some), pcnn.logits(x_some), atol=1e-5), "the same logits as the package"
    mine = -F.cross_entropy(my_pixelcnn_logits(pcnn, x_some), x_some[:, 0].long(), reduction="none").sum((1, 2))
    assert torch.allclose(mine, pcnn.log_prob(x_some), atol=1e-3), "log p(x): the sum of the pixels' log-conditionals"

# %% [markdown]
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
# **Widget: what if the network were deeper, or the pixel elsewhere?** Each extra 3x3 layer widens the
# field by one pixel on every open side, but the blind spot grows with it; near the image's right
# edge it is cut off. Move the sliders in JupyterLab.

# %%
present(render_receptive_field, row=(0, 10), col=(0, 10), num_layers=(1, 8), two_stack=False);

# %% [markdown]
# ### 17 grey levels: the 8x8 digits
# The same model with a 17-way softmax per pixel (one logit per grey level) models the 8x8 digits of
# notebooks 01 and 04 (1,000 training images). Its exact NLL is the number the VAE of notebook 04 has
# to be compared with. For reference: independent pixels score about 106 nats; J. Tomczak's
# autoregressive model (causal 1-D convolutions, `intro_dgm`), run unchanged on this split, reaches
# 86.3 nats after nine minutes of training.

# %%
digits = load_digits8x8()
pcnn_digits, pcnn_digits_hist = load_model("pixelcnn-digits", rt)
digits_test = digits.test.loader(len(digits.test), shuffle=False)
nll_digits_indep = mean_nll(IndependentPixels(IndependentConfig((1, 8, 8), 17)).fit_closed_form(digits.train.x), digits_test)
nll_digits_pcnn = mean_nll(pcnn_digits, digits_test)
print(f"8x8 digits, test NLL: independent pixels {nll_digits_indep:.1f} | PixelCNN {pcnn_digits.cfg.channels} ch x "
      f"{pcnn_digits.cfg.num_layers} layers {nll_digits_pcnn:.1f} nats ({pcnn_digits_hist.seconds:.0f} s of training)")
assert nll_digits_pcnn < nll_digits_indep - 5, "the PixelCNN beats independent grey levels"
rt.record("test_nll_pixelcnn_digits", nll_digits_pcnn, "nats", at_most=86.3, budget="laptop")

# %% [markdown]
# ## 5. The honest comparison
# All models on the same binarised MNIST test images, in nats per image and in bits per (binary) pixel,
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
# What holds at every budget, and what needs the laptop budget's training:
# - every network beats independent pixels; the PixelCNN beats the Markov chain and the 2-neighbour
#   table after a few seconds of training, and beats MADE;
# - MADE beats the Markov chain within seconds, but on 4,000 images it does not reach the
#   4-neighbour table: it overfits first (section 2). The order-agnostic ensemble narrows the gap;
#   at the laptop budget it beats the single-order MADE. Even the FVSBN, with fewer weights to
#   overfit, lands near the ensemble there: on small data, capacity is not what limits MADE;
# - with a minute or two of training the PixelCNN beats every table, the 8-neighbour one included.
#   Weight sharing across positions is the regulariser MADE lacks.

# %%
assert nll["PixelCNN"] < nll["nbr2"] < nll["markov"] < nll["independent"]
assert nll["PixelCNN"] < nll["MADE"] < nll["markov"] < nll["independent"]
rt.record("pixelcnn_minus_nbr8", nll["PixelCNN"] - nll["nbr8"], "nats", at_most=0.0, budget="laptop")
rt.record("made_minus_markov", nll["MADE"] - nll["markov"], "nats", at_most=0.0, budget="laptop")
rt.record("nbr4_minus_made", nll["nbr4"] - nll["MADE"], "nats", at_most=0.0, budget="laptop")

# %% [markdown]
# ## 6. Sampling is sequential
# Training evaluates all $D$ conditionals in one pass, because the data fill in every $x_{<d}$. Sampling
# cannot: $x_d$ must be drawn before the network can compute $p(x_{d+1} \mid x_{\le d})$, so a sample
# costs **one network pass per dimension**. Written out for MADE: start from an empty image and, in the
# model's ordering, compute the conditional of the next pixel and draw it. A pixel is 1 when a uniform
# number $u_d$ falls below $p(x_d = 1 \mid x_{<d})$; drawing all the $u_d$ up front from the generator
# makes the loop reproduce the package's sampler exactly.

# %%
@torch.no_grad()
def my_made_sample(model: MADE, n: int, generator: torch.Generator) -> torch.Tensor:
    """n binary images from a MADE, one network pass per pixel, in the model's ordering."""
    x = torch.zeros(n, model.cfg.num_dims, device=model.device)
    u = torch.rand(n, model.cfg.num_dims, generator=generator).to(model.device)  # all the randomness, drawn up front
    for d in torch.argsort(model.order).tolist():  # the pixel with position 0 first, then 1, ...
        p = torch.sigmoid(model.logits(x.view(n, *model.cfg.shape))[:, d])  # p(x_d = 1 | x_<d): one pass
        x[:, d] = (u[:, d] < p).float()
    return x.view(n, *model.cfg.shape)


mine = my_made_sample(made, 4, torch.Generator().manual_seed(0))
assert torch.equal(mine, made.sample(4, torch.Generator().manual_seed(0))), "the same images as the package's sampler"
print(f"{made.cfg.num_dims} network passes for one batch of samples")

# %% [markdown]
# Measure the cost with untrained MADEs of growing size.

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
# ## 7. A modern autoregressive model: a tiny causal Transformer over characters
# Language models are autoregressive models of text: $p(x) = \prod_t p(x_t \mid x_{<t})$ over characters
# or tokens. Our text: the dataset descriptions that ship with scikit-learn (about 43 KB); the last 10%
# of each file is held out, so the held-out NLL measures generalisation to unseen sentences, not
# memorisation. Baselines: unigram and bigram character frequencies, fitted by counting.

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

# %% [markdown]
# A decoder-only Transformer computes every conditional in one pass with **causal self-attention**.
# Each position $t$ forms a query $q_t$, a key $k_t$ and a value $v_t$ (three linear maps of its
# input) and mixes the values of positions $\le t$ only:
# $$y_t = \sum_{s \le t} a_{ts}\, v_s, \qquad a_{ts} = \operatorname{softmax}_{s \le t}\!\Big(\frac{q_t \cdot k_s}{\sqrt{d}}\Big),$$
# with $d$ the size of a head's query. Setting the scores of future positions $s > t$ to $-\infty$
# before the softmax gives them weight 0: the masked-weight idea of MADE, applied to attention scores.
# Several heads do this in parallel on slices of the features, and a linear map mixes their outputs.
# Train the model; then write one attention layer out and check it against the package's.

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


# %%
def my_causal_attention(attn, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Multi-head causal self-attention with the weights of ``attn``: (B, T, C) -> output (B, T, C), weights (B, nh, T, T)."""
    B, T, C = x.shape
    nh = attn.n_head
    q, k, v = attn.qkv(x).split(C, dim=2)  # one linear map gives all three
    q, k, v = (t.view(B, T, nh, C // nh).transpose(1, 2) for t in (q, k, v))  # (B, nh, T, hs): one slice per head
    scores = q @ k.transpose(-2, -1) / math.sqrt(C // nh)  # (B, nh, T, T): q_t . k_s / sqrt(d)
    future = torch.ones(T, T, dtype=torch.bool, device=x.device).triu(diagonal=1)  # s > t
    weights = torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1)  # row t: a_ts over s <= t
    y = (weights @ v).transpose(1, 2).reshape(B, T, C)  # heads side by side again
    return attn.proj(y), weights


prompt_ids = text.encode("The data set has ").unsqueeze(0).to(rt.device)
block = lm.blocks[0]
with torch.no_grad(), eval_mode(lm):  # dropout off; the model's mode is restored afterwards
    h0 = block.ln1(lm.tok_emb(prompt_ids) + lm.pos_emb(torch.arange(prompt_ids.shape[1], device=rt.device)))  # what the layer sees
    out_mine, attn_weights = my_causal_attention(block.attn, h0)
    assert torch.allclose(out_mine, block.attn(h0), atol=1e-5), "the same output as the package's SelfAttention"
    changed = h0.clone()
    changed[:, -1] += 1.0  # change the last position's input: no earlier output may move
    assert torch.allclose(my_causal_attention(block.attn, changed)[0][:, :-1], out_mine[:, :-1], atol=1e-6)

# %%
fig, ax = plt.subplots(figsize=(5, 4.2))
chars = [c if c != " " else "␣" for c in "The data set has "]
ax.imshow(attn_weights[0, 0].cpu(), cmap="gray_r", vmin=0)
ax.set_xticks(range(len(chars)), chars)
ax.set_yticks(range(len(chars)), chars)
ax.set(xlabel="key position s (attended to)", ylabel="query position t", title="Head 1 of layer 1: weights $a_{ts}$, zero above the diagonal")
ax.grid(False)
rt.save_figure(fig, "attention_weights")
assert torch.all(attn_weights.triu(diagonal=1) == 0) and ((attn_weights.sum(-1) - 1).abs() < 1e-5).all(), "weights over s <= t, summing to 1"

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
# ## 8. Temperature, top-k and top-p
# Every conditional of the Transformer is a softmax of logits $\ell$ over the $K$ characters. Sampling
# at **temperature** $T$ uses
# $$p_T(k) = \frac{\exp(\ell_k / T)}{\sum_j \exp(\ell_j / T)} ,$$
# so $T = 1$ is the model, $T < 1$ sharpens it towards the most likely outcome ($T \to 0$: the argmax)
# and $T > 1$ flattens it towards uniform. A worked example, logits $[2.0, 1.0, 0.5]$:
#
# | $T$ | $p_T$ |
# |---|---|
# | 1 | $e^{2}, e^{1}, e^{0.5}$ normalised: $[0.628, 0.231, 0.140]$ |
# | 0.5 | logits $[4, 2, 1]$: $[0.844, 0.114, 0.042]$ |
#
# Write the softmax, then check that the package's `filter_logits` (which the Transformer's sampler
# uses) agrees.

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
distance_to_uniform = (probs - 1 / 3).abs().max(1).values
entropy = -(probs * probs.log()).sum(1)
assert probs[0, 0] > 0.99, "T = 0.1: (almost) the argmax"
assert (distance_to_uniform.diff() < 0).all() and (entropy.diff() > 0).all(), "higher T: always closer to uniform"

# %% [markdown]
# **Temperature is myopic.** Applied to every conditional of an autoregressive model, temperature
# sharpens each step *given the prefix already drawn*; it does not look ahead. The result is a
# normalised distribution (a product of normalised conditionals), but it is *not* $p(x)^{1/T}$
# renormalised, which would need a sum over all sequences. At $T \to 0$ the difference is plain:
# per-step temperature becomes **greedy decoding** (the argmax at each step), while $p(x)^{1/T}$ puts all
# its mass on the **most probable sequence**, and the two need not agree. Check both on the $D = 4$
# tables of section 1, where all 16 sequences can be listed.

# %%
def tempered_chain_prob(x: tuple[int, ...], T: float) -> float:
    """Probability of x under per-step temperature: each conditional's logit divided by T."""
    p = 1.0
    for d, xd in enumerate(x):
        prefix = int("".join(map(str, x[:d])) or "0", 2)
        p_one = torch.sigmoid(torch.logit(tables[d][prefix]) / T).item()  # a two-way softmax at temperature T
        p *= p_one if xd else 1 - p_one
    return p


seqs = [tuple(c.tolist()) for c in configs]
joint = torch.tensor([chain_rule_prob(s) for s in seqs], dtype=torch.float64)
for T in (0.5, 0.05):
    sharpened = joint ** (1 / T) / (joint ** (1 / T)).sum()  # p(x)^(1/T), renormalised over all 16 sequences
    per_step = torch.tensor([tempered_chain_prob(s, T) for s in seqs], dtype=torch.float64)
    tv = 0.5 * (sharpened - per_step).abs().sum().item()
    print(f"T = {T}: per-step sums to {per_step.sum():.6f}; total variation from p^(1/T) renormalised: {tv:.3f}")
    assert abs(per_step.sum().item() - 1) < 1e-9 and tv > 0.1
greedy, mode = seqs[int(per_step.argmax())], seqs[int(joint.argmax())]
print(f"greedy decoding (T -> 0 per step) gives {greedy}, p = {joint[seqs.index(greedy)]:.3f}; the most probable sequence is {mode}, p = {joint.max():.3f}")
print(f"p(x_1 = 1) = {tables[0][0]:.3f}")
assert joint[seqs.index(greedy)] < joint.max(), "for these tables, greedy decoding misses the most probable sequence"
assert greedy[0] == 0 and mode[0] == 1 and tables[0][0] < 0.5

# %% [markdown]
# Greedy decoding chose $x_1 = 0$ because $p(x_1 = 1)$ (printed above) is just below one half, and
# the continuations of $x_1 = 1$ it never explored hold the better sequence. Temperature, top-k and top-p are all per-step
# controls of this kind: cheap, and myopic.
#
# ### Widget: temperature, top-k, top-p on the Transformer
# **Top-k** keeps the $k$ most likely characters, **top-p** (nucleus sampling) the smallest set whose
# probability reaches $p$; both renormalise what is left. What happens to the text at $T = 0.3$, or
# at $T = 2$? What does top-p = 0.5 remove after "The data set "? Move the sliders in JupyterLab.


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
# - MADE masks an autoencoder; the masks follow from the units' degrees and are buffers multiplied in.
#   Order-agnostic training gives an ensemble, combined by averaging **likelihoods** (log-sum-exp),
#   never logits.
# - PixelCNN masks convolutions (type A, then B); stacked masks leave a blind spot, two stacks fix it.
# - On 4,000 binarised digits, counting tables are strong baselines: MADE overfits (its validation NLL
#   turns up while the training NLL falls), a small PixelCNN wins. On the 8x8 digits a PixelCNN's exact
#   NLL is the number notebook 04's VAE is measured against.
# - Sampling costs one pass per dimension; causal self-attention masks the future's scores; a KV cache
#   makes a Transformer's steps cheap.
# - Temperature, top-k and top-p reshape each conditional: they trade diversity for predictability,
#   one myopic step at a time, and are not a sharpened $p(x)$.
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
# - L. Theis, A. van den Oord, M. Bethge. *A note on the evaluation of generative models*, ICLR 2016.
# - J. M. Tomczak. *Deep Generative Modeling*, Springer 2022, and its notebooks `intro_dgm` (the autoregressive model on the 8x8 digits).
# - A. Karpathy, `pytorch-made` and nanoGPT (the masked layer and the model file this notebook follows).
