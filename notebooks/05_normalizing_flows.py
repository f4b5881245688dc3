# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 05 · Normalising flows: change of variables, coupling and autoregressive flows, dequantisation
#
# A normalising flow is the first family of the course whose density **and** samples are both exact
# and fast. It draws $z$ from a standard normal and pushes it through an invertible network,
# $x = f(z)$; the change-of-variables formula then gives $p(x)$ exactly, and sampling is one pass of
# the network.
#
# In this notebook you will
# - derive the **change of variables** in 1-D (a histogram against the formula) and in 2-D, and watch
#   a Gaussian warped like clay while its total mass stays 1 (widget);
# - build the invertible layers of **RealNVP** and **Glow** (affine coupling, ActNorm, permutations,
#   an LU-parameterised linear map) and check each inverse and log-determinant against autograd;
# - turn **MADE's masks** (notebook 03) into autoregressive flows, **MAF** and **IAF**, and measure why
#   one is fast to evaluate and the other fast to sample;
# - fit flows to 2-D toys, watch the data being **unwarped** layer by layer into the Gaussian, and
#   compare with a Gaussian mixture and, where we know it, the true density (KL);
# - model the 8x8 digits: **dequantisation**, the bound on the discrete NLL in nats per image,
#   **variational dequantisation**, early stopping, and where flows stand against notebooks 03 and 04;
# - measure that sampling a flow is one pass, against an autoregressive model's one pass per pixel.
#
# *Cost: under a minute at the `smoke` budget; about 4–5 minutes on a laptop CPU (two threads) at `laptop`.*

# %% [markdown]
# ## Setup

# %%
import math

import matplotlib.pyplot as plt
import torch
from torch.autograd.functional import jacobian
from torch.utils.data import DataLoader, TensorDataset

from course_utils import NonFiniteLossError, TrainConfig, dequantize, fit, load_digits8x8, load_model, present, setup, toy_2d
from course_utils.evaluation.likelihood import dequantization_offset, mean_nll, nats_to_bpd, total_probability
from course_utils.evaluation.protocol import fd_with_floor
from course_utils.exercises import check
from course_utils.lessons.flow_views import (clay_forward, clay_inverse, clay_log_density, grid_mass, one_d_density_check,
                                             render_clay, render_unwarp)
from course_utils.models.flows import Flow, FlowConfig
from course_utils.models.gaussian_mixture import GaussianMixture, GaussianMixtureConfig, eight_gaussians_truth
from course_utils.models.independent import IndependentConfig, IndependentPixels
from course_utils.nn.invertible import (ActNorm, AffineCoupling, FlowSequence, LULinear, MaskedAffineAutoregressive, Permutation, Sigmoid,
                                        standard_normal_log_prob)
from course_utils.plotting import density_2d, image_rows, training_curves
from course_utils.runtime import fastest_seconds

rt = setup("05_normalizing_flows")
dev = rt.device  # models live here; the data stay on the CPU and move where a model needs them
digits = load_digits8x8()
D8, K8 = digits.num_dims, digits.num_levels  # 64 pixels, 17 grey levels

# %% [markdown]
# ## 1. Change of variables in one dimension
#
# Draw $z \sim p_z$ and set $x = f(z)$ with $f$ increasing. Then $x \le a$ exactly when
# $z \le f^{-1}(a)$, so the distribution functions agree, $F_x(a) = F_z(f^{-1}(a))$, and
# differentiating gives
# $$p_x(x) = p_z\big(f^{-1}(x)\big)\,\left|\frac{d f^{-1}}{dx}\right| = \frac{p_z(z)}{|f'(z)|}\Big|_{z = f^{-1}(x)} .$$
# (For a decreasing $f$ the same steps give the absolute value.) Where $f$ **stretches** ($|f'| > 1$)
# the density thins out; where it compresses, it piles up. Take
# $f(z) = z + 3\tanh(2z)$, increasing, with $f'(z) = 1 + 6/\cosh^2(2z)$ largest at $0$: it stretches
# the middle of the Gaussian, and one bump becomes two. $f^{-1}$ has no closed form, but an increasing
# function is inverted by bisection.

# %%
def f(z):
    return z + 3 * torch.tanh(2 * z)


def f_prime(z):
    return 1 + 6 / torch.cosh(2 * z) ** 2


def f_inverse(x, iterations=60):  # |f(z) - z| < 3, so the root lies in [x - 3, x + 3]
    lo, hi = x - 3.0, x + 3.0
    for _ in range(iterations):
        mid = (lo + hi) / 2
        above = f(mid) > x
        lo, hi = torch.where(above, lo, mid), torch.where(above, mid, hi)
    return (lo + hi) / 2


def p_x(x):  # the change of variables
    z = f_inverse(x)
    return torch.exp(-0.5 * z**2) / math.sqrt(2 * math.pi) / f_prime(z)


z1 = torch.randn(200_000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
bins = torch.linspace(-7, 7, 57, dtype=torch.float64)
hist, formula, se = one_d_density_check(f(z1), p_x, bins)
ticks = torch.linspace(-12, 12, 24001, dtype=torch.float64)
mass = torch.trapezoid(p_x(ticks), ticks).item()
mass_naive = torch.trapezoid(torch.exp(-0.5 * f_inverse(ticks) ** 2) / math.sqrt(2 * math.pi), ticks).item()  # forgetting |d f^-1 / dx|
print(f"largest |histogram - formula| = {(hist - formula).abs().max():.4f} (in standard errors: {((hist - formula).abs() / se).max():.1f})")
print(f"integral of the formula: {mass:.6f}; without the Jacobian factor: {mass_naive:.3f}")
assert ((hist - formula).abs() < 5 * se).all(), "the histogram of f(z) matches the change-of-variables formula"
assert abs(mass - 1) < 1e-4 and mass_naive > 2, "the factor |d f^-1/dx| is what keeps the mass at 1"

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
zz = torch.linspace(-3, 3, 200, dtype=torch.float64)
axes[0].plot(zz, f(zz), label="$f(z) = z + 3\\tanh(2z)$")
axes[0].plot(zz, zz, ls=":", c="grey", label="$f(z) = z$")
axes[0].set_xlabel("$z$")
axes[0].set_ylabel("$x = f(z)$")
axes[0].set_title("Steep in the middle: f stretches it")
axes[0].legend()
centres = (bins[1:] + bins[:-1]) / 2
axes[1].bar(centres, hist, width=bins[1] - bins[0], alpha=0.4, label="histogram of f(z), 200,000 draws")
xx = torch.linspace(-7, 7, 600, dtype=torch.float64)
axes[1].plot(xx, p_x(xx), label="$p_z(f^{-1}(x))\\,|df^{-1}/dx|$")
axes[1].plot(xx, torch.exp(-0.5 * f_inverse(xx) ** 2) / math.sqrt(2 * math.pi), ls="--", label="$p_z(f^{-1}(x))$ alone (not a density)")
axes[1].set_xlabel("$x$")
axes[1].set_ylabel("density")
axes[1].set_title("One Gaussian bump becomes two")
axes[1].set_ylim(0, 0.62)
axes[1].legend(fontsize=8, loc="upper right")
rt.save_figure(fig, "change_of_variables_1d")

# %% [markdown]
# ## 2. In two dimensions, and the clay
#
# For an invertible, differentiable $f:\mathbb R^D \to \mathbb R^D$ the derivative becomes the Jacobian
# matrix $J_f(z) = \partial f / \partial z$, and the stretch factor its determinant: a small box of
# volume $\Delta V$ around $z$ lands on a parallelepiped of volume $|\det J_f(z)|\,\Delta V$ around
# $x$, with the same probability inside. So
# $$p_x(x) = p_z(z)\,\big|\det J_f(z)\big|^{-1}, \qquad
# \log p_x(x) = \log p_z(z) - \log\big|\det J_f(z)\big|, \qquad z = f^{-1}(x).$$
# The course writes `log_det` for $\log|\det J_f(z)|$ of the **generative** direction $z \to x$ (the
# convention of `torch.distributions`), so every density in this notebook reads
# `log p(x) = log p_z(z) - log_det`.
#
# The lecture notes picture a flow as **clay**: twist and stretch a block of it and its shape changes,
# but its mass does not. The map below bends a standard normal into a banana (a shear, volume
# preserving), stretches one side (a coupling, $\log|\det| = 0.6\,s\tanh(h_2)$) and swirls it (each
# circle turned along itself, volume preserving); $s$ is its strength. First check its log-determinant
# against autograd's Jacobian.

# %%
z_pts = torch.randn(6, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
for s in (0.5, 1.5):
    for zi in z_pts:
        J = jacobian(lambda t: clay_forward(t, s)[0], zi[None]).reshape(2, 2)
        assert torch.allclose(clay_forward(zi[None], s)[1], torch.linalg.slogdet(J)[1].reshape(1), atol=1e-10)
print("the clay map's log_det equals log|det J| from autograd at every point checked")

# %% [markdown]
# **Widget: the clay.** Slide the strength. The white lines are a square grid drawn on the Gaussian,
# carried along by the map. The title integrates the warped density over a fine grid: it stays 1.000.

# %%
present(render_clay, strength=(0.0, 2.0, 0.1));

# %%
masses = {s: grid_mass(lambda p: clay_log_density(p, s)) for s in (0.0, 0.5, 1.0, 1.5, 2.0)}
mass_no_log_det = grid_mass(lambda p: standard_normal_log_prob(clay_inverse(p, 1.5)[0]))  # p_z(T^-1(x)) without the log-det
print("grid integral of the warped density:", {s: round(m, 5) for s, m in masses.items()})
print(f"without the log-det term (strength 1.5): {mass_no_log_det:.3f}")
assert all(abs(m - 1) < 1e-3 for m in masses.values()), "the clay keeps its mass at every strength"
assert abs(mass_no_log_det - 1) > 0.05, "dropping the log-det loses the normalisation"
fig = render_clay(1.5)
rt.save_figure(fig, "clay")
plt.close(fig)

# %% [markdown]
# ## 3. Layers that are invertible by construction, with a cheap determinant
#
# A neural network is neither invertible nor cheap to take the determinant of (a general
# $D \times D$ determinant costs $O(D^3)$). **Coupling layers** (Dinh et al. 2017, RealNVP) get both
# by leaving half of the coordinates alone. Split $z$ by a binary mask into $z_a$ (mask 1) and $z_b$
# (mask 0):
# $$x_a = z_a, \qquad x_b = z_b \odot \exp\big(s(z_a)\big) + t(z_a).$$
# - **Inverse**: $x_a$ *is* $z_a$, so $s$ and $t$ can be recomputed from $x$:
#   $z_b = \big(x_b - t(x_a)\big) \odot \exp\big(-s(x_a)\big)$. The networks $s, t$ are never inverted:
#   they can be any networks.
# - **Determinant**: $\partial x_a/\partial z_b = 0$, so $J$ is block-triangular with the identity and
#   $\operatorname{diag}(e^{s})$ on its diagonal: $\log|\det J| = \sum_b s_b(z_a)$, linear in $D$.
#
# One layer leaves $z_a$ untouched, so layers alternate their masks (or permute the coordinates in
# between). Here $s$ and $t$ come from one MLP with $2D$ outputs, and the log-scale is bounded,
# $s = \text{scale}\odot\tanh(\text{raw})$, as in RealNVP. Written from the math, then compared with
# the package's `AffineCoupling` (same weights, same inputs):

# %%
def my_coupling(z, mask, net, scale):
    """x = mask * z + (1 - mask) * (z * exp(s) + t), (s, t) from the masked input; and log|det J|."""
    raw_s, t = net(z * mask).chunk(2, dim=-1)
    s = scale * torch.tanh(raw_s)
    x = mask * z + (1 - mask) * (z * torch.exp(s) + t)
    return x, ((1 - mask) * s).sum(-1)


def my_coupling_inverse(x, mask, net, scale):
    raw_s, t = net(x * mask).chunk(2, dim=-1)  # x_a = z_a: the same input to the network
    s = scale * torch.tanh(raw_s)
    return mask * x + (1 - mask) * (x - t) * torch.exp(-s)


g = torch.Generator().manual_seed(0)
coupling = AffineCoupling(4, mask=torch.tensor([1.0, 1.0, 0.0, 0.0]), hidden=(16,))
with torch.no_grad():  # random weights (a new layer starts as the identity, which would prove little)
    for p in coupling.parameters():
        p.copy_(0.5 * torch.randn(p.shape, generator=g))
z4 = torch.randn(8, 4, generator=g)
x4, log_det4 = coupling.forward_and_log_det(z4)
mine_x, mine_ld = my_coupling(z4, coupling.mask, coupling.net, coupling.scale)
assert torch.allclose(mine_x, x4) and torch.allclose(mine_ld, log_det4), "the coupling layer written from the math is the package's"
assert torch.allclose(my_coupling_inverse(x4, coupling.mask, coupling.net, coupling.scale), coupling.inverse(x4), atol=1e-6)
assert torch.allclose(coupling.inverse(x4), z4, atol=1e-5), "and it is inverted exactly"

# %% [markdown]
# **The package's layers.** `course_utils.nn.invertible` follows `torch.distributions`: calling a layer
# is the generative direction $z \to x$, `inverse` goes back, and `log_abs_det_jacobian(z, x)` is
# $\log|\det \partial x/\partial z|$.
#
# | layer | $x = f(z)$ | $\log\lvert\det J\rvert$ | from |
# |---|---|---|---|
# | `AffineCoupling` | above | $\sum_b s_b$ | RealNVP |
# | `ActNorm` | $z \odot e^{\text{log\_scale}} + \text{bias}$ | $\sum \text{log\_scale}$ | Glow |
# | `Permutation` | $z$ reordered | 0 | RealNVP |
# | `LULinear` | $Wz$, $W = PL\,(U + \operatorname{diag}(\text{sign}\cdot e^{\log s}))$ | $\sum \log s$ | Glow's invertible 1x1 convolution |
# | `Sigmoid` | $(\sigma(z) - \alpha)/(1 - 2\alpha)$ | $\sum \log \sigma'(z) - D\log(1-2\alpha)$ | RealNVP's logit pre-processing, reversed |
# | `MaskedAffineAutoregressive` | MAF, section 4 | $\sum_d \alpha_d$ | Papamakarios et al. 2017 |
#
# **ActNorm** (Glow) is a per-feature affine map whose parameters are first set *from data*: on the
# first training batch, bias and scale are chosen so that the layer's output on the way back (data to
# noise) has zero mean and unit variance per feature. That puts every layer in a sensible range from
# the start. **LULinear** mixes all coordinates with an invertible matrix kept in LU form: its
# determinant is the product of the diagonal of $U$, so $O(D)$, and it cannot become singular because
# that diagonal is $\pm e^{\log s}$.
#
# Every layer must pass two checks: $f^{-1}(f(z)) = z$ in float32 to $10^{-5}$, and its `log_det` must
# equal $\log|\det J|$ computed by autograd (`torch.autograd.functional.jacobian`, then `slogdet`, in
# float64 on small inputs).

# %%
def randomised(layer, seed=0, std=0.3):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in layer.parameters():
            p.copy_(std * torch.randn(p.shape, generator=gen))
    return layer.eval()


layers = {
    "AffineCoupling": randomised(AffineCoupling(4, torch.tensor([0.0, 1.0, 0.0, 1.0]), (16, 16))),
    "ActNorm": randomised(ActNorm(4)),
    "Permutation": Permutation(torch.tensor([3, 0, 2, 1])),
    "LULinear": randomised(LULinear(4, seed=1)),
    "Sigmoid": Sigmoid(alpha=0.05),
    "MAF layer": randomised(MaskedAffineAutoregressive(4, (16,))),
    "IAF layer (MAF.inv)": randomised(MaskedAffineAutoregressive(4, (16,), seed=1)).inv,
}
z_test = torch.randn(256, 4, generator=torch.Generator().manual_seed(2))
print(f"{'layer':22s} {'max |f^-1(f(z)) - z|':>22s} {'max |log_det - slogdet J|':>27s}")
for name, layer in layers.items():
    with torch.no_grad():
        x_l, ld = layer.forward_and_log_det(z_test)
        round_trip = (layer.inverse(x_l) - z_test).abs().max().item()
    layer64 = layer.double()
    z64 = z_test[:5].double()
    slog = torch.stack([torch.linalg.slogdet(jacobian(lambda t: layer64(t), zi[None]).reshape(4, 4))[1] for zi in z64])
    ld_err = (layer64.forward_and_log_det(z64)[1] - slog).abs().max().item()
    layer.float()
    print(f"{name:22s} {round_trip:22.1e} {ld_err:27.1e}")
    assert x_l.dtype == torch.float32 and round_trip < 1e-5, f"{name}: inverse(forward(z)) is z"
    assert ld_err < 1e-8, f"{name}: log_det is log|det J|"

# %% [markdown]
# ActNorm's data-dependent initialisation: a stack of layers meets a batch of badly scaled data;
# `initialize` runs the inverse pass and sets each ActNorm from the values that reach it, so that what
# the ActNorm passes on towards the noise has zero mean and unit variance per coordinate.

# %%
stack = FlowSequence([AffineCoupling(4, torch.tensor([1.0, 0.0, 1.0, 0.0]), (16,)), LULinear(4), ActNorm(4)])
batch = torch.randn(1000, 4, generator=torch.Generator().manual_seed(3)) * torch.tensor([0.1, 3.0, 10.0, 1.0]) + 5.0
stack.initialize(batch)
with torch.no_grad():
    after_actnorm = stack.inverse_steps(batch)[0][1]  # the data side's first step back is the ActNorm
print("mean", after_actnorm.mean(0).numpy().round(4), "std", after_actnorm.std(0, unbiased=False).numpy().round(4))
assert torch.allclose(after_actnorm.mean(0), torch.zeros(4), atol=1e-4) and torch.allclose(after_actnorm.std(0, unbiased=False), torch.ones(4), atol=1e-4)
assert not stack.needs_initialization

# %% [markdown]
# ### Exercise: the log-determinant of a coupling layer
# Write the log-determinant of the affine coupling layer `coupling` (defined above, 4 coordinates) at
# a batch `z`, one number per row. `coupling.scale_and_shift(z)` returns the tensors `(s, t)`, each of
# shape `(B, 4)`; `coupling.mask` marks the coordinates that pass through unchanged. The checker
# compares your answer with $\log|\det J|$ from autograd's Jacobian.

# %% tags=["exercise"]
def coupling_log_det(z):
    """log |det dx/dz| of `coupling` at z (B, 4); returns shape (B,)."""
    raise NotImplementedError("your code here")


# %% jupyter={"source_hidden": true} tags=["solution"]
def coupling_log_det(z):
    s, _ = coupling.scale_and_shift(z)
    return ((1 - coupling.mask) * s).sum(-1)


# %%
def log_det_by_autograd(z):
    return torch.stack([torch.linalg.slogdet(jacobian(lambda t: coupling(t), zi[None]).reshape(4, 4))[1] for zi in z])


check("log-det of an affine coupling layer", coupling_log_det, log_det_by_autograd,
      cases=[(z4,), (torch.randn(3, 4, generator=torch.Generator().manual_seed(4)),)], atol=1e-4)

# %% [markdown]
# ## 4. Autoregressive flows from MADE's masks: MAF and IAF
#
# Notebook 03 built MADE: masked linear layers whose output $d$ depends only on the inputs before $d$.
# Give each coordinate an affine map whose scale and shift come from such a network, and you have an
# invertible layer with a triangular Jacobian (Papamakarios et al. 2017, **MAF**):
# $$x_d = z_d\,\exp\big(\alpha_d(x_{<d})\big) + \mu_d(x_{<d}), \qquad \log|\det J| = \sum_d \alpha_d .$$
# - **Density** (data to noise): all of $x$ is known, so one pass of the network gives every
#   $\mu_d, \alpha_d$, and $z = (x - \mu)\odot e^{-\alpha}$.
# - **Sampling** (noise to data): $x_d$ needs $x_{<d}$ first: $D$ passes, like sampling MADE.
#
# The **IAF** (Kingma et al. 2016) conditions on the *noise* instead, $x_d = z_d e^{\alpha_d(z_{<d})} + \mu_d(z_{<d})$:
# sampling is one pass, the density of a given $x$ takes $D$. In the package the IAF layer is literally
# the MAF layer run backwards, `MaskedAffineAutoregressive(...).inv`. Two checks of the structure: the
# Jacobian of MAF's density pass, $\partial z/\partial x$, is lower triangular (each $z_d$ depends on
# $x_{\le d}$ only), and so is the Jacobian of IAF's sampling pass.

# %%
maf5 = randomised(MaskedAffineAutoregressive(5, (32,)), seed=5).double()
x5 = torch.randn(1, 5, dtype=torch.float64)
J_maf = jacobian(lambda t: maf5.inverse(t), x5).reshape(5, 5)
J_iaf = jacobian(lambda t: maf5.inv(t), x5).reshape(5, 5)
print("MAF density pass, nonzero pattern of dz/dx:\n", (J_maf.abs() > 1e-12).int().numpy())
for J in (J_maf, J_iaf):
    assert torch.equal(J.abs() > 1e-12, torch.tril(J.abs() > 1e-12)) and bool((J.diagonal().abs() > 0).all())

# %% [markdown]
# **The trade-off, measured.** Four MAF layers and four IAF layers on $D = 64$ (the size of a digit
# image), untrained (the cost does not depend on the weights), on the same batch of 256. A RealNVP of
# four couplings is there for reference: both of its directions are one pass. We count the passes of
# the autoregressive networks (a number no machine can change) and time both directions (each time is
# the fastest of five runs on one CPU thread: other programs on the machine can only slow a run down,
# and a single thread is never left waiting for a second core that they hold).

# %%
def network_passes(model: Flow, run) -> int:
    """How many times the model's autoregressive (MADE) networks run during ``run()``."""
    calls = []
    hooks = [m.layers[0].register_forward_hook(lambda *_: calls.append(1))
             for m in model.modules() if isinstance(m, MaskedAffineAutoregressive)]
    with torch.no_grad():
        run()
    for h in hooks:
        h.remove()
    return len(calls)


batch_64 = torch.randn(256, 64, generator=torch.Generator().manual_seed(6)).to(dev)
timing, passes = {}, {}
for kind in ("maf", "iaf", "realnvp"):
    model = Flow(FlowConfig(dim=64, transform=kind, num_layers=4, hidden=(256,), actnorm=False)).to(dev).eval()
    log_prob_fn, sample_fn = lambda: model.log_prob(batch_64), lambda: model.sample(256, torch.Generator().manual_seed(0))
    passes[kind] = (network_passes(model, log_prob_fn), network_passes(model, sample_fn))
    with torch.no_grad():
        timing[kind] = (fastest_seconds(log_prob_fn), fastest_seconds(sample_fn))
for kind, (t_lp, t_s) in timing.items():
    n_lp, n_s = (f", {n:3d} MADE passes" if kind != "realnvp" else "" for n in passes[kind])  # couplings have no MADE
    print(f"{kind:8s} log_prob {t_lp * 1e3:7.2f} ms{n_lp} | sample {t_s * 1e3:7.2f} ms{n_s}  (256 vectors of 64 dimensions, 4 layers)")
assert passes["maf"] == (4, 4 * 64), "MAF: the density takes one pass per layer, sampling D"
assert passes["iaf"] == (4 * 64, 4), "IAF: the density takes D passes per layer, sampling one"
rt.record("maf_sample_over_log_prob", timing["maf"][1] / timing["maf"][0], "x")
rt.record("iaf_log_prob_over_sample", timing["iaf"][0] / timing["iaf"][1], "x")

# %% [markdown]
# So MAF is the flow to *fit* by maximum likelihood (the density is one pass) and IAF the flow to
# *sample* from (used for fast variational posteriors and for distilling a MAF into a fast sampler).
# Coupling layers are the compromise: both directions are one pass, at the price of a weaker layer
# (half the coordinates pass through each time).

# %% [markdown]
# ## 5. Flows on 2-D toys: unwarping the data into a Gaussian
#
# Three data sets in the plane: two moons, two spirals, and a ring of eight Gaussians, whose exact
# density we know (`eight_gaussians_truth()`). Each flow is a RealNVP stack: eight affine couplings
# (alternating which coordinate passes through), each followed by an ActNorm, trained by maximum
# likelihood, $\min -\frac1N\sum_i \log p(x_i)$, with a learning rate that decays on a cosine. We hold
# out a validation set (for `fit`'s progress) and a test set (for the numbers). The baseline is a **mixture of 16 diagonal
# Gaussians**, started at random data points and trained the same way.

# %%
toys = ("moons", "spirals", "eight_gaussians")
n_train = rt.pick(smoke=2000, laptop=10000, full=50000)
toy_data = {name: {"train": toy_2d(name, n_train, seed=0), "val": toy_2d(name, 2000, seed=1), "test": toy_2d(name, 5000, seed=2)} for name in toys}
toy_cfg = TrainConfig(epochs=rt.pick(smoke=4, laptop=60, full=200), lr=1e-3, schedule="cosine", progress=False)


def toy_loaders(name):
    d = toy_data[name]
    return (DataLoader(TensorDataset(d["train"]), batch_size=256, shuffle=True, generator=torch.Generator().manual_seed(rt.seed)),
            DataLoader(TensorDataset(d["val"]), batch_size=2000))


flows2d, mixtures = {}, {}
for name in toys:
    flows2d[name] = Flow(FlowConfig(dim=2, transform="realnvp", num_layers=rt.pick(smoke=4, laptop=8, full=12),
                                    hidden=rt.pick(smoke=(32, 32), laptop=(128, 128), full=(256, 256)))).to(dev)
    rt.fit_or_load(flows2d[name], *toy_loaders(name), toy_cfg, name=name)
    gmm = GaussianMixture(GaussianMixtureConfig(dim=2, components=16)).to(dev)
    with torch.no_grad():  # start at 16 random data points, width 0.3
        start = toy_data[name]["train"][torch.randperm(n_train, generator=torch.Generator().manual_seed(0))[:16]]
        gmm.means.copy_(start)
        gmm.log_scales.fill_(math.log(0.3))
    rt.fit_or_load(gmm, *toy_loaders(name), TrainConfig(epochs=toy_cfg.epochs, lr=3e-2, progress=False), name=name)
    mixtures[name] = gmm

# %% [markdown]
# **Held-out log-likelihood** (mean log-density of the test points, nats; higher is better) and the
# grid integral of each trained flow's density (it must be 1, whatever the training did). For the ring
# of Gaussians we also estimate the **KL divergence from the truth to the model** by Monte Carlo over
# $M$ draws from the truth:
# $$\mathrm{KL}(p_\text{true}\,\|\,p_\theta) = \mathbb E_{x\sim p_\text{true}}\big[\log p_\text{true}(x) - \log p_\theta(x)\big]
# \approx \frac1M\sum_{m}\big[\log p_\text{true}(x_m) - \log p_\theta(x_m)\big],$$
# with its standard error. It is the excess test NLL over the truth's, for infinitely many test points.
# For scale: one Gaussian fitted to the ring (its mean and covariance) is also shown.

# %%
truth = eight_gaussians_truth().to(dev)
x_truth = truth.sample(rt.pick(smoke=5000, laptop=20000, full=100000), torch.Generator().manual_seed(3))
results2d = {}
with torch.no_grad():
    for name in toys:
        x_te = toy_data[name]["test"].to(dev)
        results2d[name] = {"flow": flows2d[name].log_prob(x_te).mean().item(), "mixture": mixtures[name].log_prob(x_te).mean().item(),
                           "mass": total_probability(flows2d[name], extent=8.0, resolution=600)}
        print(f"{name:16s} test log-likelihood: flow {results2d[name]['flow']:7.3f} | 16-Gaussian mixture {results2d[name]['mixture']:7.3f}"
              f" | flow's grid integral {results2d[name]['mass']:.4f}")
    print(f"{'eight_gaussians':16s} the true density scores {truth.log_prob(toy_data['eight_gaussians']['test'].to(dev)).mean():7.3f}")
    ring = toy_data["eight_gaussians"]["train"]
    one_gaussian = torch.distributions.MultivariateNormal(ring.mean(0).to(dev), torch.cov(ring.T).to(dev))
    kl = {}
    for label, model in (("flow", flows2d["eight_gaussians"]), ("mixture", mixtures["eight_gaussians"]), ("one Gaussian", one_gaussian)):
        diff = (truth.log_prob(x_truth) - model.log_prob(x_truth)).double()
        kl[label] = (diff.mean().item(), (diff.std() / math.sqrt(len(diff))).item())
        print(f"KL(truth || {label}) = {kl[label][0]:.4f} ± {kl[label][1]:.4f} nats")
for name in toys:
    assert abs(results2d[name]["mass"] - 1) < 2e-3, f"the {name} flow's density integrates to 1"
assert all(v[0] > -3 * v[1] for v in kl.values()), "a KL divergence is not negative (up to Monte Carlo error)"
assert kl["mixture"][0] < kl["one Gaussian"][0] and kl["flow"][0] < kl["one Gaussian"][0], "both models learn more than one Gaussian can"
rt.record("kl_truth_flow_eight_gaussians", kl["flow"][0], "nats", at_most=1.0, budget="laptop")
rt.record("kl_truth_mixture_eight_gaussians", kl["mixture"][0], "nats")
rt.record("kl_flow_minus_kl_mixture_eight_gaussians", kl["flow"][0] - kl["mixture"][0], "nats", at_least=0.1, budget="laptop")
rt.record("test_ll_flow_minus_mixture_moons", results2d["moons"]["flow"] - results2d["moons"]["mixture"], "nats", at_least=0.0, budget="laptop")
rt.record("test_ll_flow_minus_mixture_spirals", results2d["spirals"]["flow"] - results2d["spirals"]["mixture"], "nats")  # a tie, either way by seed

# %% [markdown]
# **Layer by layer.** Push the test points back through the trained flows, from the data (left) to the
# noise (right), and colour each point by where it started so you can follow it. A well-trained flow
# ends in a round cloud: the dashed circle has radius 2, inside which a 2-D standard normal puts 86 % of
# its mass. The folds that remain on the right show where these flows are still imperfect.

# %%
stages, colours = {}, {}
for name in toys:
    pts = toy_data[name]["test"][:2000]
    stages[name] = [v.cpu() for v in flows2d[name].unwarp(pts.to(dev))]
    centred = pts - pts.mean(0)
    colours[name] = torch.atan2(centred[:, 1], centred[:, 0])  # the angle around the data's centre
L = len(stages["moons"]) - 1
columns = [0, L // 4, L // 2, 3 * L // 4, L]
fig = render_unwarp(stages, columns, [f"after undoing {c} of {L} layers" if 0 < c < L else ("data x" if c == 0 else "z = f⁻¹(x)") for c in columns],
                    colours)
rt.save_figure(fig, "unwarp_layer_by_layer")
z_end = torch.cat([s[-1] for s in stages.values()])
inside = (z_end.norm(dim=1) < 2).float().mean().item()
print(f"fraction of test points within radius 2 of the origin after the flow: {inside:.3f} (standard normal: {1 - math.exp(-2):.3f})")
assert z_end.abs().max() < 20 and torch.isfinite(z_end).all()
rt.record("fraction_within_radius_2", inside, "fraction", at_least=0.80, budget="laptop")

# %% [markdown]
# Densities and samples: one pass of each flow turns 2,000 Gaussian draws into points (orange) that
# should cover the data (blue).

# %%
fig, axes = plt.subplots(2, 3, figsize=(13, 8))
limits = {"moons": ((-1.5, 2.5), (-1.0, 1.5)), "spirals": ((-4, 4), (-4, 4)), "eight_gaussians": ((-3, 3), (-3, 3))}
for c, name in enumerate(toys):
    xl, yl = limits[name]
    density_2d(flows2d[name].log_prob, xl, yl, resolution=rt.pick(smoke=80, laptop=200, full=300), ax=axes[0, c],
               title=f"{name}: flow density (test LL {results2d[name]['flow']:.2f})")
    s2 = flows2d[name].sample(2000, torch.Generator().manual_seed(4)).cpu()
    axes[1, c].scatter(*toy_data[name]["test"][:2000].T, s=2, alpha=0.3, label="data")
    axes[1, c].scatter(*s2.T, s=2, alpha=0.3, label="flow samples")
    axes[1, c].set_xlim(*xl)
    axes[1, c].set_ylim(*yl)
    axes[1, c].set_xlabel("$x_1$")
    axes[1, c].set_ylabel("$x_2$")
    axes[1, c].set_title(f"{name}: samples over the data")
    axes[1, c].legend(markerscale=4, loc="upper right")
rt.save_figure(fig, "toy_densities_and_samples")

# %% [markdown]
# What to notice. A flow is a *continuous* deformation of one Gaussian blob, so it cannot tear it into
# separate pieces: between the moons, the spiral arms or the eight blobs it leaves thin **bridges** of
# probability, and it needs many layers to make them thin. A mixture of Gaussians has the opposite
# bias: separate blobs are free (on the ring, it is the *true* family, which is why it wins there),
# but a thin curved moon costs it many components. Compare the two on each data set in the table above
# rather than declaring a winner in general.

# %% [markdown]
# **When training goes wrong.** A layer whose scale overflows gives an infinite log-determinant, and
# from then on the loss means nothing. The course's flows check every layer's log-determinant during
# training and stop, naming the step and the layer, instead of clipping the value and training on.
# Here a flow is broken on purpose: one ActNorm's scale is set to infinity before training.

# %%
broken = Flow(FlowConfig(dim=2, num_layers=2, hidden=(8,)))
broken.flow.initialize(toy_data["moons"]["train"])
with torch.no_grad():
    broken.flow.layers[-1].log_scale[0] = float("inf")
message = ""
try:
    fit(broken, toy_loaders("moons")[0], None, TrainConfig(epochs=1, progress=False))
except NonFiniteLossError as err:
    message = str(err)
print(message)
assert "at step 1" in message and "ActNorm" in message, "training stops at once, naming the step and the layer"

# %% [markdown]
# ## 6. Images: dequantisation and a bound on the discrete NLL
#
# The 8x8 digits have 17 grey levels: a digit is a point of a finite set, and a model of it should give
# a **probability** $P(x)$. A flow gives a **density** on $\mathbb R^{64}$, which could put infinite
# density on the 17 levels and score $-\infty$ nats. **Dequantisation** fixes this. Stored on the
# course's pixel scale (level $\ell/16$), each image becomes a point of the unit cube,
# $$v = \frac{\ell + u}{K}, \qquad u \sim \mathcal U[0, 1)^{D},\quad K = 17,\ D = 64$$
# (`course_utils.data.dequantize`): every image owns a little cube of side $1/K$, and the probability
# a density $p$ gives an image is its mass there,
# $P(x) = \int_{[0,1)^D} p\big(\tfrac{\ell + u}{K}\big)\,K^{-D}\,du$. These cubes do not overlap, so the
# $P(x)$ sum to at most 1: a proper model of the discrete digits. By Jensen's inequality,
# $$\log P(x) \;\ge\; \mathbb E_u\Big[\log p\big(\tfrac{\ell+u}{K}\big)\Big] - D\ln K,$$
# so **the continuous NLL plus $D \ln K$ bounds the discrete NLL from above**, as long as the test noise
# is drawn exactly like the training noise (`dequantization_offset(64, 17)` $= 64\ln 17 = 181.3$
# nats; the uniform model over all images scores exactly that). A continuous NLL measured with *other*
# noise, or at the bin centres, is not a bound on anything: the RealNVP notebook of Tomczak's open
# `intro_dgm` collection draws its test noise differently from its training noise and reports 122.5
# nats on this very split (116.0 in another run), a number that cannot be compared with the ones below.
#
# The image flow's `log_prob(x)` returns that bound, estimated with `draws` dequantisation draws
# (their mean), and with `k > 1` the **importance-weighted** bound
# $\log \frac1k\sum_{i}p(v_i)\,K^{-D}$, which is tighter and rises towards $\log P(x)$ as $k$ grows
# (as for the VAE in notebook 04). Both are *stochastic*: one estimate can land above $\log P(x)$; its
# expectation cannot. Written out, for one batch and one draw:

# %%
flow_img, hist_img = load_model("realnvp-digits", rt)  # checkerboard couplings + ActNorm, MLP conditioners, uniform noise
x_batch = digits.test.x[:32].to(dev)
with torch.no_grad():
    v = dequantize(x_batch, K8, torch.Generator().manual_seed(5)).flatten(1)  # (level + u) / K
    z_img, log_det_img = flow_img.flow.inverse_and_log_det(v)
    my_bound = standard_normal_log_prob(z_img) - log_det_img - D8 * math.log(K8)
    package_bound = flow_img.log_prob(x_batch, generator=torch.Generator().manual_seed(5))
assert torch.allclose(my_bound, package_bound, atol=1e-3), "the bound written from the math is the package's"
assert dequantization_offset(D8, K8) == D8 * math.log(K8)
print(f"bound on this batch: {-my_bound.mean():.2f} nats per image (of which D ln K = {D8 * math.log(K8):.1f})")

# %% [markdown]
# **The model.** Ten blocks, each an affine coupling on a checkerboard mask of the 8x8 image (the two
# colours alternate), whose $s, t$ come from an MLP with two hidden layers of 256 units, then ActNorm;
# on the data side a logit pre-processing (the `Sigmoid` layer with $\alpha = 0.05$) maps the unit cube
# to $\mathbb R^{64}$. About 1.2 M parameters for 1,000 training images: it **overfits** quickly. Two
# defences: dropout (20 % in the conditioners, training only) and early stopping, i.e. keeping the
# weights of the epoch with the best **validation** bound (the checkpoint of each epoch is compared on
# the 350 validation images, never on the test set). The training run has a fixed length; the curve
# shows what happens after the best epoch.

# %%
print(f"{sum(p.numel() for p in flow_img.parameters()):,} parameters; {len(hist_img.epoch)} epochs in {hist_img.seconds:.1f} s; "
      f"best validation bound {hist_img.best_val_loss:.2f} nats at epoch {hist_img.best_epoch}")
fig = training_curves(hist_img, title="RealNVP on the 8x8 digits: training and validation bound (nats per image)", ylabel="-bound (nats per image)")
ax = fig.axes[0]
ax.axvline(hist_img.epoch_step[hist_img.best_epoch - 1], c="k", ls=":", lw=1, label="best validation epoch (kept)")
ax.legend()
ax.set_ylim(top=min(max(hist_img.val_loss) + 10, 180))
rt.save_figure(fig, "digits_training_curve")
rt.record("epochs_after_best_validation", len(hist_img.epoch) - hist_img.best_epoch, "epochs")
after = hist_img.val_loss[max(hist_img.best_epoch, len(hist_img.val_loss) - 5):]  # the last five epochs, if they come after the best
rise = sum(after) / len(after) - hist_img.best_val_loss if after else 0.0
rt.record("validation_rise_after_best", rise, "nats", at_least=0.3, budget="laptop")
gap = hist_img.val_loss[-1] - sum(hist_img.train_loss[-10:]) / len(hist_img.train_loss[-10:])  # last epoch: validation minus training
rt.record("validation_minus_training_bound_last_epoch", gap, "nats", at_least=10.0, budget="laptop")

# %% [markdown]
# The training bound keeps falling while the validation bound stops improving and then creeps up: a gap
# of more than ten nats opens between them, the flow learning the 1,000 training images rather than
# digits. (The training curve is measured with dropout on, which only makes it look worse than it is.) Now the test set (447 images, never used until here). The
# bound is averaged over several dequantisation draws per image, so its Monte Carlo error is small.

# %%
def test_bounds(model, draws, k_iw, seed=0):
    """Mean over the test set of the bound (k = 1, averaged over `draws`) and of the k_iw-sample IW bound, in nats."""
    x_te = digits.test.x.to(dev)
    with torch.no_grad():
        b1 = model.log_prob(x_te, draws=draws, generator=torch.Generator().manual_seed(seed)).double().cpu()
        biw = model.log_prob(x_te, k=k_iw, generator=torch.Generator().manual_seed(seed + 1)).double().cpu()
    return -b1.mean().item(), -biw.mean().item(), (b1.std() / math.sqrt(len(b1))).item()


draws, k_iw = rt.pick(smoke=2, laptop=10, full=20), 20
nll_uniform, nll_uniform_iw, se_uniform = test_bounds(flow_img, draws, k_iw)
indep = IndependentPixels(IndependentConfig(shape=(1, 8, 8), num_levels=K8)).fit_closed_form(digits.train.x)
nll_indep = mean_nll(indep, digits.test.loader(447, shuffle=False))
print(f"test, nats per image: RealNVP bound {nll_uniform:.2f} (± {se_uniform:.2f} between images) | importance-weighted k = {k_iw}: "
      f"{nll_uniform_iw:.2f} | independent pixels (exact) {nll_indep:.2f} | uniform over all images {D8 * math.log(K8):.1f}")
assert nll_uniform_iw < nll_uniform, "the importance-weighted bound is tighter"
assert nll_uniform < D8 * math.log(K8), "better than the uniform model"
rt.record("test_bound_realnvp_digits", nll_uniform, "nats", at_most=100.0, budget="laptop")
rt.record(f"test_iw{k_iw}_bound_realnvp_digits", nll_uniform_iw, "nats")
rt.record("test_bound_realnvp_minus_independent", nll_uniform - nll_indep, "nats", at_most=0.0, budget="laptop")

# %% [markdown]
# ### Variational dequantisation
# Uniform noise asks the flow to spread its mass evenly over each little cube, flat-topped with sharp
# edges: hard for a smooth flow, and Jensen's gap is paid wherever it fails. Ho et al. (2019, Flow++)
# learn the noise instead: a second, conditional flow $q(u \mid x)$ on $[0, 1)^D$ (here four
# couplings whose networks also see the image, then a sigmoid) and the bound
# $$\log P(x) \;\ge\; \mathbb E_{u\sim q(u\mid x)}\Big[\log p\big(\tfrac{\ell+u}{K}\big) - \log q(u\mid x)\Big] - D\ln K ,$$
# which is the uniform bound when $q = 1$, and whose gap is
# $\mathrm{KL}\big(q(u\mid x)\,\|\,p(u\mid x)\big)$ with $p(u\mid x) \propto p\big(\tfrac{\ell+u}{K}\big)$ on the
# cube: the better $q$ matches where the flow puts its mass inside the cube, the tighter the bound. Both
# flows train together on this bound. Same architecture, same split, same training run (epochs, rate,
# dropout, selection on the validation bound): only the noise differs.

# %%
flow_vd, hist_vd = load_model("realnvp-digits-vardeq", rt)
nll_vardeq, nll_vardeq_iw, se_vardeq = test_bounds(flow_vd, draws, k_iw)
gain = nll_uniform - nll_vardeq
print(f"variational dequantisation: test bound {nll_vardeq:.2f} (IW k = {k_iw}: {nll_vardeq_iw:.2f}) nats per image; "
      f"gain over uniform noise {gain:.2f} nats; {len(hist_vd.epoch)} epochs in {hist_vd.seconds:.1f} s (uniform: {hist_img.seconds:.1f} s)")
assert nll_vardeq_iw < nll_vardeq and nll_vardeq < D8 * math.log(K8)
rt.record("test_bound_realnvp_vardeq_digits", nll_vardeq, "nats", at_most=100.0, budget="laptop")
rt.record(f"test_iw{k_iw}_bound_realnvp_vardeq_digits", nll_vardeq_iw, "nats")
rt.record("vardeq_gain_over_uniform", gain, "nats", at_least=1.0, budget="laptop")

# %% [markdown]
# ### Where flows stand, in the same units
# Every number below is on this split's 447 test digits, in nats per image of the discrete 17-level
# data (lower is better). The VAE is notebook 04's preset and the autoregressive model notebook 03's
# PixelCNN on the digits (a 17-way softmax per pixel, trained with early stopping), both loaded (or
# trained, if notebooks 03 and 04 have not run) here: the PixelCNN's NLL is exact.

# %%
vae, _ = load_model("vae-digits", rt)
with torch.no_grad():
    nll_vae = -vae.log_prob(digits.test.x.to(dev), k=1, generator=torch.Generator().manual_seed(0)).mean().item()
pcnn, hist_pcnn = load_model("pixelcnn-digits", rt)
nll_pcnn = mean_nll(pcnn, digits.test.loader(447, shuffle=False))
table = [
    ("uniform over all 17^64 images", D8 * math.log(K8), "exact"),
    ("independent pixels", nll_indep, "exact NLL"),
    ("RealNVP, uniform dequantisation", nll_uniform, "upper bound"),
    (f"  the same, importance-weighted over k = {k_iw} draws", nll_uniform_iw, "upper bound (tighter)"),
    ("RealNVP, variational dequantisation", nll_vardeq, "upper bound"),
    (f"  the same, importance-weighted over k = {k_iw} draws", nll_vardeq_iw, "upper bound (tighter)"),
    ("VAE of notebook 04 (-ELBO)", nll_vae, "upper bound"),
    (f"PixelCNN (notebook 03's model; {hist_pcnn.seconds:.0f} s of training)", nll_pcnn, "exact NLL"),
]
for name, value, kind in table:
    print(f"{name:55s} {value:7.2f}   {kind}")
print(f"\nin bits per dimension: RealNVP {nats_to_bpd(nll_vardeq, D8):.3f} (variational) of at most log2(17) = {math.log2(17):.3f}")
assert nll_vae < nll_indep < D8 * math.log(K8) and nll_pcnn < D8 * math.log(K8)
rt.record("test_bound_vae_digits_for_comparison", nll_vae, "nats")
rt.record("test_nll_pixelcnn_digits", nll_pcnn, "nats")
rt.record("test_bound_vardeq_minus_independent", nll_vardeq - nll_indep, "nats", at_most=-5.0, budget="laptop")
rt.record("test_bound_vardeq_minus_vae", nll_vardeq - nll_vae, "nats", at_least=-2.0, at_most=2.0, budget="laptop")
rt.record("test_bound_vardeq_minus_pixelcnn", nll_vardeq - nll_pcnn, "nats", at_least=5.0, budget="laptop")

# %% [markdown]
# **Honestly, then.** At the `laptop` budget the flow with uniform noise lands under 100 nats, clearly
# better than independent pixels; variational dequantisation gains a few nats more and brings its
# bound level with the VAE's −ELBO (within a nat or two; compare bound with bound: notebook 04's
# importance-weighted VAE bound, ≈ 94.4 at $k = 1000$, goes with the flow's importance-weighted one).
# The autoregressive PixelCNN is well ahead, with an *exact* NLL roughly ten nats lower (the ARM
# notebook of `intro_dgm` reports 86.3 on this split). The RealNVP of that same collection reports
# 122.5 nats, but with test noise drawn differently from its training noise: that is not a bound on the
# discrete NLL, and as a bound its model scores 166.9. Our flow numbers are upper bounds, so each flow's true
# NLL is *lower* still, by an unknown amount (the importance-weighted rows show part of it).
#
# **In the papers.** On 28x28 MNIST with 256 grey levels, multi-scale *convolutional* flows reach about
# 1.05 bits per dimension (RealNVP ≈ 1.06, Glow ≈ 1.05, FFJORD 0.99; tables of Grathwohl et al. 2019),
# while MLP flows sit near 2 (MAF with five layers: 1.89, against MADE's 2.04; Papamakarios et al.
# 2017). Bits per dimension depend on the number of levels, so those numbers cannot be set against our
# 17-level digits; the lesson that carries over is the ranking: convolutions and a multi-scale
# architecture are what make flows competitive on images, and our MLP conditioners have neither.

# %% [markdown]
# ### Samples
# A sample is one pass: $z \sim \mathcal N(0, I)$, $v = f(z)$, and the level is $\lfloor K v \rfloor$.
# Flow samples are often shown at a lower **temperature**, $z \sim \mathcal N(0, T^2 I)$ with $T < 1$
# (Glow): the samples get cleaner, and they are no longer samples of the model. We measure the untempered
# ones with the course's Fréchet distance in the features of a small digit classifier, next to its
# real-vs-real floor at the same $N$, and against independent pixels.

# %%
def tempered(model, n, T, seed):
    with torch.no_grad():
        v = model.flow(T * torch.randn(n, D8, generator=torch.Generator().manual_seed(seed)).to(dev))
    return (torch.floor(v * K8).clamp(0, K8 - 1) / (K8 - 1)).view(n, 1, 8, 8).cpu()


gen = torch.Generator().manual_seed(7)
samples = {"test digits": digits.test.x[:12], "RealNVP, uniform": flow_img.sample(12, gen).cpu(), "RealNVP, variational": flow_vd.sample(12, gen).cpu(),
           "variational, T = 0.7": tempered(flow_vd, 12, 0.7, 8), "independent pixels": indep.sample(12, gen).cpu()}
fig = image_rows(samples, nrow=12, title="Flow samples, one network pass each (levels 0-16 shown as grey)")
rt.save_figure(fig, "digit_samples")
fd_flow = fd_with_floor(flow_vd.sample(350, torch.Generator().manual_seed(9)).cpu(), "digits8x8")
fd_indep = fd_with_floor(indep.sample(350, torch.Generator().manual_seed(9)).cpu(), "digits8x8")
print(f"RealNVP (variational): {fd_flow}\nindependent pixels:    {fd_indep}")
assert fd_flow.floor == fd_indep.floor and fd_flow.fd > 0
rt.record("fd_course_features_realnvp_vardeq", fd_flow.fd, "FD", at_most=fd_indep.fd, budget="laptop")
rt.record("fd_course_features_independent", fd_indep.fd, "FD")
rt.record("fd_course_features_floor_digits", fd_flow.floor, "FD")

# %% [markdown]
# ## 7. Sampling is one pass
# Notebook 03 showed that an autoregressive model samples one pixel per network pass: 64 passes for a
# digit. A flow's sample is one pass through its layers, whatever $D$ is. We time both samplers on the
# 8x8 digits: the variational flow above and the PixelCNN just trained (notebook 03's sampler, one
# pass per pixel). Fastest of five runs each, on one CPU thread, so that we compare the work and not how
# well each sampler splits across cores.

# %%
n_fast = rt.pick(smoke=100, laptop=500, full=1000)
t_flow = fastest_seconds(lambda: flow_vd.sample(n_fast, torch.Generator().manual_seed(0)))
t_pcnn = fastest_seconds(lambda: pcnn.sample(n_fast, torch.Generator().manual_seed(0)))
print(f"{n_fast} digits: flow {t_flow * 1e3:.1f} ms ({n_fast / t_flow:,.0f} samples/s) | PixelCNN {t_pcnn * 1e3:.1f} ms "
      f"({n_fast / t_pcnn:,.0f} samples/s): {t_pcnn / t_flow:.0f}x slower")
assert t_pcnn > 5 * t_flow, "sampling 64 pixels one pass each costs more than one pass of the flow"
rt.record("samples_per_second_flow", n_fast / t_flow, "samples/s")
rt.record("samples_per_second_pixelcnn", n_fast / t_pcnn, "samples/s")
rt.record("pixelcnn_over_flow_sampling_time", t_pcnn / t_flow, "x", at_least=10.0, budget="laptop")
fig = image_rows({"PixelCNN": pcnn.sample(12, torch.Generator().manual_seed(1)).cpu(), "RealNVP": flow_vd.sample(12, torch.Generator().manual_seed(1)).cpu()},
                 nrow=12, title="Samples: 64 passes each (PixelCNN) against one (RealNVP)")
rt.save_figure(fig, "pixelcnn_vs_flow_samples")

# %% [markdown]
# The price of the one-pass sampler is in the likelihood table above: each autoregressive pass models
# one conditional exactly, while a flow must bend one Gaussian into the whole data distribution with
# layers that stay invertible.
#
# ## Exercises
# 1. **The importance-weighted bound rises with $k$.** Evaluate the variational flow's bound on the first
#    100 test digits for $k = 1, 5, 25, 125$ (same images) and check that the mean rises with $k$
#    beyond Monte Carlo error.
# 2. **Temperature.** Draw 300 samples of the variational flow at $T = 0.7$ and at $T = 1$ and compare
#    the mean bound `log_prob` the model gives them. Which set does the model find more likely, and why
#    are tempered samples still not the model's typical samples?
# 3. **NICE.** Dinh et al.'s first flow (2015) had *additive* couplings, $s = 0$. What is its
#    log-determinant, and what can such a flow not do to a Gaussian? Check your answer on a coupling
#    layer whose scale parameter is zero.

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution 1: the IW bound for increasing k, on the same 100 images; differences are paired, so most noise cancels.
x100 = digits.test.x[:100].to(dev)
with torch.no_grad():
    iw = {k: flow_vd.log_prob(x100, k=k, draws=2, generator=torch.Generator().manual_seed(k)).double().cpu() for k in (1, 5, 25, 125)}
for k_lo, k_hi in zip(list(iw)[:-1], list(iw)[1:]):
    diff = iw[k_hi] - iw[k_lo]
    z_score = diff.mean() / (diff.std() / math.sqrt(len(diff)))
    print(f"bound at k = {k_hi} minus k = {k_lo}: {diff.mean():+.3f} nats (z = {z_score:.1f})")
    assert z_score > -3

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution 2: tempered samples sit where the density is high, so the model scores them higher; but
# typical samples of a 64-dimensional distribution lie in a thin shell away from the mode, so a set of
# high-density images is not a set of typical ones (it lacks their variety: compare the rows above).
with torch.no_grad():
    score = {T: flow_vd.log_prob(tempered(flow_vd, 300, T, 11).to(dev), generator=torch.Generator().manual_seed(12)).mean().item() for T in (0.7, 1.0)}
print({T: round(v, 2) for T, v in score.items()})
assert score[0.7] > score[1.0]

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution 3: with s = 0 the Jacobian is triangular with ones on its diagonal: log|det J| = 0. The flow
# preserves volume, so it can move and bend the Gaussian but never concentrate or spread it: a NICE flow
# ends with a diagonal scaling layer for that reason.
nice = randomised(AffineCoupling(4, torch.tensor([1.0, 0.0, 1.0, 0.0]), (16,)), seed=3)
with torch.no_grad():
    nice.scale.zero_()
z_n = torch.randn(5, 4, generator=torch.Generator().manual_seed(13))
slog = torch.stack([torch.linalg.slogdet(jacobian(lambda t: nice(t), zi[None]).reshape(4, 4))[1] for zi in z_n])
print("log|det J| of an additive coupling:", slog.numpy().round(8))
assert torch.allclose(slog, torch.zeros(5), atol=1e-6) and torch.allclose(nice.forward_and_log_det(z_n)[1], torch.zeros(5))

# %% [markdown]
# ## Summary
# - **Change of variables**: $\log p_x(x) = \log p_z(f^{-1}(x)) - \log|\det J_f|$; checked against a
#   histogram in 1-D and by integrating a warped Gaussian to 1.000 in 2-D. Without the log-determinant
#   the mass is wrong.
# - **Coupling layers** are invertible for any networks $s, t$ and have a triangular Jacobian:
#   $\log|\det J| = \sum s$. ActNorm (initialised from data), permutations and an LU-parameterised
#   linear map complete RealNVP and Glow; each layer's inverse and log-determinant were checked
#   against autograd.
# - **MAF** evaluates a density in one pass and samples in $D$; **IAF** the reverse (measured: the slow
#   direction is tens of times slower for $D = 64$).
# - On **2-D toys** a flow unwarps the data into a Gaussian but leaves thin bridges between separate
#   pieces; a Gaussian mixture has the opposite bias. The KL from a known truth measures the gap.
# - **Images**: dequantise with the same noise in training and test, and report the continuous NLL plus
#   $D\ln K$: an upper bound on the discrete NLL. Variational dequantisation tightens it; early stopping
#   on the validation bound is essential with 1,000 images.
# - On the 8x8 digits an MLP RealNVP is better than independent pixels, about level with a VAE, and
#   behind autoregressive models; it **samples** one pass at a time, tens of times faster than a
#   PixelCNN.
#
# ## References
# - L. Dinh, D. Krueger, Y. Bengio. *NICE: Non-linear Independent Components Estimation*, ICLR workshop 2015.
# - L. Dinh, J. Sohl-Dickstein, S. Bengio. *Density estimation using Real NVP*, ICLR 2017.
# - D. P. Kingma, P. Dhariwal. *Glow: Generative Flow with Invertible 1x1 Convolutions*, NeurIPS 2018.
# - G. Papamakarios, T. Pavlakou, I. Murray. *Masked Autoregressive Flow for Density Estimation*, NeurIPS 2017.
# - D. P. Kingma, T. Salimans, R. Jozefowicz, X. Chen, I. Sutskever, M. Welling. *Improved Variational
#   Inference with Inverse Autoregressive Flow*, NeurIPS 2016.
# - G. Papamakarios, E. Nalisnick, D. J. Rezende, S. Mohamed, B. Lakshminarayanan. *Normalizing Flows for
#   Probabilistic Modeling and Inference*, JMLR 2021.
# - J. Ho, X. Chen, A. Srinivas, Y. Duan, P. Abbeel. *Flow++: Improving Flow-Based Generative Models with
#   Variational Dequantization and Architecture Design*, ICML 2019.
# - M. Germain, K. Gregor, I. Murray, H. Larochelle. *MADE: Masked Autoencoder for Distribution Estimation*, ICML 2015.
# - W. Grathwohl, R. T. Q. Chen, J. Bettencourt, I. Sutskever, D. Duvenaud. *FFJORD*, ICLR 2019 (bits/dim tables).
# - L. Theis, A. van den Oord, M. Bethge. *A note on the evaluation of generative models*, ICLR 2016 (dequantisation bound).
# - J. M. Tomczak. *Deep Generative Modeling*, Springer 2022, and its `intro_dgm` notebooks (the open reference numbers).
