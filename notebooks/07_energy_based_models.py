# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 07 · Energy-based models: the partition function, Langevin dynamics, contrastive divergence, score matching
#
# Every model so far was normalised by construction: a product of normalised conditionals (03), or
# a normalised decoder averaged over a prior (04). An **energy-based model** (EBM) drops that
# constraint. Any function $E_\theta(x)$ defines a distribution
# $$p_\theta(x) = \frac{e^{-E_\theta(x)}}{Z_\theta}, \qquad Z_\theta = \sum_x e^{-E_\theta(x)}
# \ \ \text{or}\ \int e^{-E_\theta(x)}\,dx,$$
# low energy meaning high probability. The freedom is total; the price is $Z_\theta$, the
# **partition function**, a sum over every possible input.
#
# In this notebook you will learn
# - to compute $Z$ **exactly** where it can be done (an Ising model of 65,536 states, a 2-D density by
#   quadrature), check Gibbs sampling against it, and count why it cannot be done in general;
# - to sample with **Langevin dynamics**, which needs only $\nabla_x \log p = -\nabla_x E$ (no $Z$),
#   to measure its convergence with a **kernel two-sample test**, and to see the bias that
#   Metropolis adjustment (**MALA**) removes;
# - to train EBMs by **contrastive divergence** with short-run Langevin chains and a **replay
#   buffer**, on 2-D data and on the 8x8 digits, and to use the energy as an **outlier detector**;
# - to train a **restricted Boltzmann machine** whose hidden units can be summed out exactly, which
#   gives an energy-based model with an **exact test NLL** in nats on the course's binarised MNIST,
#   and to check **annealed importance sampling** against that exact $\log Z$;
# - **score matching**: learn $\nabla_x \log p$ directly by denoising, and sample with **annealed
#   Langevin dynamics**, the bridge to diffusion models (notebook 08).
#
# *Cost: under a minute at the `smoke` budget; about 3–4 minutes on a laptop CPU at `laptop`.*

# %% [markdown]
# ## Setup

# %%
import math

import matplotlib.pyplot as plt
import torch
from sklearn.metrics import roc_auc_score
from torch.utils.data import DataLoader, TensorDataset

from course_utils import TrainConfig, load_digits8x8, load_mnist5k, load_model, present, setup, toy_2d
from course_utils.draws import normal, uniform
from course_utils.evaluation.likelihood import mean_nll
from course_utils.evaluation.mmd import mmd_permutation_test
from course_utils.evaluation.protocol import fd_with_floor
from course_utils.exercises import check
from course_utils.lessons.energy_views import (BANANA, all_spins, banana_energy, banana_log_prob, banana_log_z, banana_sample, grid_edges,
                                               mmd_along_chain, render_langevin, score_field_figure, start_sample)
from course_utils.models.ebm import EBM, EBMConfig
from course_utils.models.gaussian_mixture import GaussianMixture, GaussianMixtureConfig, eight_gaussians_truth
from course_utils.models.independent import IndependentConfig, IndependentPixels
from course_utils.models.rbm import RBM, RBMConfig, hidden_states
from course_utils.models.score import ScoreConfig, ScoreModel
from course_utils.plotting import OKABE_ITO, image_rows, plane
from course_utils.runtime import Stopwatch
from course_utils.samplers.langevin import langevin

rt = setup("07_energy_based_models")
dev = rt.device  # models train here; the small 2-D experiments run on the CPU


def loader_of(points, batch_size=200, seed=0):
    """A shuffled loader of 2-D points (fit_or_load recognises the same data by its fingerprint)."""
    return DataLoader(TensorDataset(points), batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(seed))


# %% [markdown]
# ## 1. The partition function, exactly, where it can be computed
#
# ### An Ising model on a 4x4 grid
# Sixteen spins $s_i \in \{-1, +1\}$ on a grid, neighbours coupled with strength $J$, each spin pulled
# up by a field $h$:
# $$E(s) = -J \sum_{i \sim j} s_i s_j - h \sum_i s_i, \qquad p(s) = e^{-E(s)}/Z .$$
# (Physicists write $e^{-\beta E}$; here $\beta$ is folded into $J$ and $h$.) With $2^{16} = 65{,}536$
# configurations, $Z$ is a sum we can do, and with it every marginal, exactly. Before trusting the
# enumeration we check it where the answer is known: with $J = 0$ the spins are independent and
# $Z = (e^{h} + e^{-h})^{16} = (2\cosh h)^{16}$.

# %%
side, J, h_field = 4, 0.4, 0.1  # J = 0.4 is close to the 2-D model's critical coupling (0.44): strong correlations
edges = grid_edges(side)  # (24, 2): pairs of neighbouring sites, free boundaries


def ising_energy(s, J=J, h=h_field):
    """E(s) for spins s (B, 16) in {-1, +1}."""
    return -J * (s[:, edges[:, 0]] * s[:, edges[:, 1]]).sum(1) - h * s.sum(1)


with Stopwatch() as sw_enum:
    states = all_spins(side * side).double()  # (65536, 16), in float64: Z to 12 digits
    log_Z = torch.logsumexp(-ising_energy(states), 0)
p_states = torch.exp(-ising_energy(states) - log_Z)
print(f"log Z = {log_Z:.6f} from {states.shape[0]:,} states in {sw_enum.seconds * 1e3:.0f} ms")
assert states.shape[0] == 2**16 and abs(p_states.sum().item() - 1) < 1e-12
independent = torch.logsumexp(-ising_energy(states, J=0.0), 0)
assert abs(independent.item() - 16 * math.log(2 * math.cosh(h_field))) < 1e-9, "with J = 0, Z = (2 cosh h)^16"

# %% [markdown]
# With $p$ in hand, every expectation is a weighted sum: the mean of each spin $\mathbb E[s_i]$ (the
# corners, with two neighbours, are freer than the centre), the correlation of neighbours, and the
# distribution of the total magnetisation $M = \sum_i s_i$.

# %%
mean_spin = p_states @ states  # E[s_i], (16,)
pair = states[:, edges[:, 0]] * states[:, edges[:, 1]]  # s_i s_j per edge, (65536, 24)
corr_exact = p_states @ pair  # E[s_i s_j], (24,)
M_values = torch.arange(-16, 17, 2)
M_exact = torch.stack([p_states[states.sum(1) == m].sum() for m in M_values])
print("E[s_i] on the grid:\n", mean_spin.view(4, 4).numpy().round(3))
print(f"P(M = +16) = {M_exact[-1]:.3f}, P(M = -16) = {M_exact[0]:.3f}: the field breaks the tie between the two ordered states")

# %% [markdown]
# **Gibbs sampling** needs only ratios of probabilities, so $Z$ cancels. Flipping spin $i$ changes
# the energy by $2 s_i (J\sum_{j \sim i} s_j + h)$, so given all the others
# $$p(s_i = +1 \mid s_{-i}) = \sigma\!\big(2 (J\textstyle\sum_{j\sim i} s_j + h)\big), \qquad \sigma(t) = 1/(1 + e^{-t}).$$
# **Exercise 1.** Write that conditional, for a batch of configurations and one site, and check it
# against the brute-force ratio computed from the energy.

# %% tags=["exercise"]
def my_conditional(s, i):
    """p(s_i = +1 | all other spins) for configurations s (B, 16) in {-1, +1}; returns (B,)."""
    raise NotImplementedError("your code here: the local field of site i, then a sigmoid")


# %% jupyter={"source_hidden": true} tags=["solution"]
def my_conditional(s, i):
    neighbours = torch.cat([edges[edges[:, 0] == i, 1], edges[edges[:, 1] == i, 0]])
    return torch.sigmoid(2 * (J * s[:, neighbours].sum(1) + h_field))


# %%
def conditional_by_energies(s, i):
    """The same from the definition: p(+1) / (p(+1) + p(-1)) with both energies computed in full."""
    up, down = s.clone(), s.clone()
    up[:, i], down[:, i] = 1.0, -1.0
    return torch.sigmoid(ising_energy(down) - ising_energy(up))


spins_check = states[torch.randperm(2**16, generator=torch.Generator().manual_seed(0))[:50]].float()
check("Ising conditional p(s_i = +1 | rest)", my_conditional, conditional_by_energies, cases=[(spins_check, i) for i in (0, 5, 15)]);

# %% [markdown]
# The sampler below sweeps the sites in turn, many independent chains at once. Each chain's last
# state is one draw, so the Gibbs estimate of $\mathbb E[s_i]$ has standard error
# $\sqrt{\operatorname{Var}(s_i)/n}$, and we can check every marginal against the exact value.

# %%
adjacency = torch.zeros(16, 16)
adjacency[edges[:, 0], edges[:, 1]] = adjacency[edges[:, 1], edges[:, 0]] = 1.0


def gibbs_sweep(s, generator):
    """One sweep of single-site Gibbs updates over the 16 sites, for every chain (row) of s."""
    for i in range(16):
        p_up = torch.sigmoid(2 * (J * (s @ adjacency[i]) + h_field))
        s[:, i] = torch.where(uniform(p_up.shape, generator) < p_up, 1.0, -1.0)
    return s


n_chains, sweeps = rt.pick(smoke=4000, laptop=10000, full=50000), rt.pick(smoke=50, laptop=100, full=200)
g = torch.Generator().manual_seed(0)
chains = torch.where(uniform((n_chains, 16), g) < 0.5, 1.0, -1.0)
with Stopwatch() as sw_gibbs:
    for _ in range(sweeps):
        chains = gibbs_sweep(chains, g)
mean_gibbs = chains.double().mean(0)
corr_gibbs = (chains[:, edges[:, 0]] * chains[:, edges[:, 1]]).double().mean(0)
z_spin = (mean_gibbs - mean_spin) / ((1 - mean_spin**2) / n_chains).sqrt()
z_corr = (corr_gibbs - corr_exact) / ((1 - corr_exact**2) / n_chains).sqrt()
print(f"{n_chains} chains x {sweeps} sweeps in {sw_gibbs.seconds:.1f} s; largest |z| over 16 spins {z_spin.abs().max():.2f}, "
      f"over 24 neighbour correlations {z_corr.abs().max():.2f}")
assert z_spin.abs().max() < 4.5 and z_corr.abs().max() < 4.5, "Gibbs marginals agree with the exact ones within Monte-Carlo error"

# %%
M_gibbs = torch.stack([(chains.sum(1) == m).double().mean() for m in M_values])
fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
axes[0].bar(M_values, M_exact, width=1.6, color=OKABE_ITO[0], alpha=0.6, label="exact (65,536 states)")
axes[0].plot(M_values, M_gibbs, "o", c=OKABE_ITO[3], label=f"Gibbs ({n_chains} chains)")
axes[0].set_xlabel("magnetisation $M = \\sum_i s_i$")
axes[0].set_ylabel("probability")
axes[0].set_title("Strong coupling: the spins mostly align")
axes[0].legend(fontsize=8)
axes[1].plot(mean_spin, mean_gibbs, "o", label="$E[s_i]$, 16 sites")
axes[1].plot(corr_exact, corr_gibbs, "s", label="$E[s_i s_j]$, 24 edges")
lims = [min(mean_spin.min(), corr_exact.min()).item() - 0.02, max(mean_spin.max(), corr_exact.max()).item() + 0.02]
axes[1].plot(lims, lims, "k--", lw=0.8)
axes[1].set_xlabel("exact")
axes[1].set_ylabel("Gibbs estimate")
axes[1].set_title("Every marginal, exact vs Gibbs")
axes[1].legend(fontsize=8)
rt.save_figure(fig, "ising_exact_vs_gibbs")

# %% [markdown]
# ### A 2-D energy, integrated on a grid
# In two dimensions $Z = \int e^{-E(x)}\,dx$ can be computed by quadrature: sum $e^{-E}$ over a fine grid
# times the cell area. Our test case is a **banana**, a Gaussian bent by a shear,
# $$E(x) = \frac{x_1^2}{2a^2} + \frac{\big(x_2 - b(x_1^2 - a^2)\big)^2}{2 s^2}.$$
# The shear $(x_1, x_2) \mapsto (x_1, x_2 - b(x_1^2 - a^2))$ has Jacobian 1, so $Z = 2\pi a s$ exactly,
# and exact samples are $x_1 = a z_1$, $x_2 = b(x_1^2 - a^2) + s z_2$. Section 2 samples it.

# %%
a_, b_, s_ = BANANA["a"], BANANA["b"], BANANA["s"]


def energy_2d(x):  # the banana, from the formula above
    return x[:, 0] ** 2 / (2 * a_**2) + (x[:, 1] - b_ * (x[:, 0] ** 2 - a_**2)) ** 2 / (2 * s_**2)


def z_by_quadrature(energy, G, box=((-9.0, 9.0), (-4.0, 42.0))):
    """Midpoint rule on a G x G grid over the box (it must hold all the mass: |x1| < 6a here)."""
    (x_lo, x_hi), (y_lo, y_hi) = box
    dx, dy = (x_hi - x_lo) / G, (y_hi - y_lo) / G
    xs = torch.linspace(x_lo + dx / 2, x_hi - dx / 2, G, dtype=torch.float64)
    ys = torch.linspace(y_lo + dy / 2, y_hi - dy / 2, G, dtype=torch.float64)
    pts = torch.cartesian_prod(xs, ys)
    return (torch.logsumexp(-energy(pts), 0) + math.log(dx * dy)).exp().item()


probe = torch.randn(100, 2, dtype=torch.float64)
assert torch.allclose(energy_2d(probe), banana_energy(probe)), "the formula and the lesson's banana agree"
z_true = math.exp(banana_log_z())
for G in (25, 50, 100, 200, 400, 800):
    z_G = z_by_quadrature(energy_2d, G)
    print(f"G = {G:3d} per axis ({G * G:>7,} cells): Z = {z_G:.10f}, relative error {abs(z_G / z_true - 1):.1e}")
assert abs(z_by_quadrature(energy_2d, 800) / z_true - 1) < 1e-6, "the grid recovers Z = 2 pi a s"

# %% [markdown]
# The midpoint rule converges fast for a smooth integrand that vanishes at the box's edges. Note the
# cost: $G$ points per axis, $G^2$ energies in 2-D, and $G^d$ in $d$ dimensions.
#
# ### Why $Z$ explodes with the dimension
# $Z$ is a sum over every configuration, and there are $K^D$ of them for $D$ variables with $K$
# values each: exponential in $D$. No trick of ordering saves us in general: even in the 16-spin
# model above, the most probable state carries a small share of $Z$ and thousands of states are needed
# to cover most of it. At the rate we just measured, the count turns into time:

# %%
rate = states.shape[0] / sw_enum.seconds  # states per second, as measured above
share = p_states.sort(descending=True).values
needed = int((share.cumsum(0) < 0.9).sum()) + 1
print(f"most probable Ising state: {share[0]:.1%} of Z; states needed for 90 % of Z: {needed:,} of 65,536")
cases = {"Ising 4x4 (2 values, D = 16)": (2, 16), "Ising 6x6 (D = 36)": (2, 36), "Ising 10x10 (D = 100)": (2, 100),
         "8x8 digits (17 levels, D = 64)": (17, 64), "binarised MNIST (2 values, D = 784)": (2, 784),
         "grid quadrature, 100 points per axis, d = 10": (100, 10)}
for name, (K, Dim) in cases.items():
    log10_terms = Dim * math.log10(K)
    print(f"{name:46s} 10^{log10_terms:6.1f} terms, {10 ** (log10_terms - math.log10(rate)) / 3.15e7:9.2g} years at {rate:.1e} per second")
assert needed > 1 and share[0] < 0.5 and 2**16 == states.shape[0]

# %% [markdown]
# Every family of the course so far avoided $Z$ by construction. EBMs keep it, and the rest of this
# notebook is about three ways around it: sampling without $Z$ (Langevin, Gibbs), training without $Z$
# (contrastive divergence, score matching), and the rare models where $Z$ stays exact (the RBM of
# section 4, whose hidden layer can be summed out).
#
# ## 2. Langevin dynamics: sampling with the gradient alone
# The **score** $\nabla_x \log p(x) = -\nabla_x E(x) - \nabla_x \log Z = -\nabla_x E(x)$ does not
# depend on $Z$. The (unadjusted) Langevin algorithm (ULA) moves every point along the score and adds
# noise,
# $$x \leftarrow x + \frac{\varepsilon}{2}\nabla_x \log p(x) + \sqrt{\varepsilon}\,\xi, \qquad \xi \sim \mathcal N(0, I).$$
# As $\varepsilon \to 0$ this is the discretisation of the Langevin diffusion, whose stationary
# distribution is exactly $p$; with a finite $\varepsilon$ the chain has a bias of order $\varepsilon$.
# Without the noise it is plain gradient ascent on $\log p$: every chain runs to a mode. We write the
# update from the formula, then check the package's sampler does the same, draw for draw.

# %%
def my_langevin_step(x, eps, xi):
    """One ULA step for the banana: x + eps/2 * grad log p(x) + sqrt(eps) * xi."""
    x = x.detach().requires_grad_(True)
    (score,) = torch.autograd.grad(-energy_2d(x).sum(), x)  # grad log p = -grad E: Z drops out
    return (x + eps / 2 * score + math.sqrt(eps) * xi).detach()


x_start = start_sample(5, torch.Generator().manual_seed(0))
noise_gen = torch.Generator().manual_seed(1)
mine = x_start
for _ in range(3):
    mine = my_langevin_step(mine, 0.05, torch.randn(5, 2, generator=noise_gen))
package = langevin(x_start, step_size=0.05, steps=3, log_prob=lambda x: -banana_energy(x), generator=torch.Generator().manual_seed(1)).x
assert torch.allclose(mine, package, atol=1e-6), "the update written here is the package's, draw for draw"

# %% [markdown]
# **Has the chain converged?** We run 1,000 chains from a starting distribution far from the banana
# and compare their states, after $t$ steps, with 1,000 exact samples by a **kernel two-sample test**
# (Gretton et al. 2012). The statistic is the unbiased squared maximum mean discrepancy with a
# Gaussian kernel $k(a, b) = e^{-|a-b|^2/2h^2}$,
# $$\widehat{\mathrm{MMD}}^2 = \tfrac{1}{n(n-1)}\sum_{i\ne j} k(x_i, x_j) + \tfrac{1}{m(m-1)}\sum_{i\ne j} k(y_i, y_j) - \tfrac{2}{nm}\sum_{i,j} k(x_i, y_j),$$
# which estimates a distance that is zero only when the two distributions are equal. Its null
# distribution comes from a **permutation test**: if both samples came from one distribution, the
# labels "chain" and "exact" could be shuffled without changing anything, so the statistic on
# shuffled labels shows how large it gets by chance. The p-value is the fraction of shuffles that
# score at least as high.

# %%
n_mmd, perms = 1000, rt.pick(smoke=200, laptop=500, full=1000)
g = torch.Generator().manual_seed(10)
chain_start, exact = start_sample(n_mmd, g), banana_sample(n_mmd, g)
checkpoints = rt.pick(smoke=(0, 100, 1000, 3000), laptop=(0, 10, 30, 100, 300, 1000, 3000), full=(0, 10, 30, 100, 300, 1000, 3000))
step_sizes = rt.pick(smoke=(0.02,), laptop=(0.005, 0.02, 0.05), full=(0.005, 0.01, 0.02, 0.05))
with Stopwatch() as sw_mmd:
    curves = {eps: mmd_along_chain(chain_start, exact, step_size=eps, checkpoints=checkpoints, permutations=perms, seed=11) for eps in step_sizes}
for eps, tests in curves.items():
    print(f"eps = {eps}: " + "  ".join(f"t={t}: p={r.p_value:.3f}" for t, r in tests.items()))
print(f"({sw_mmd.seconds:.1f} s)")

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
for i, (eps, tests) in enumerate(curves.items()):
    ts = [max(t, 1) for t in tests]
    axes[0].plot(ts, [r.mmd2 for r in tests.values()], "o-", c=OKABE_ITO[i], label=f"$\\varepsilon$ = {eps}")
    axes[0].plot(ts, [r.critical_value for r in tests.values()], ":", c=OKABE_ITO[i], lw=1)
    axes[1].plot(ts, [r.p_value for r in tests.values()], "o-", c=OKABE_ITO[i], label=f"$\\varepsilon$ = {eps}")
axes[0].set_xscale("log")
axes[0].set_yscale("symlog", linthresh=1e-3)
axes[0].set_xlabel("Langevin steps (0 plotted at 1)")
axes[0].set_ylabel("$\\widehat{MMD}^2$ to exact samples")
axes[0].set_title("The discrepancy falls below the test's 5 % threshold (dotted)")
axes[1].axhline(0.05, c="k", ls="--", lw=0.8, label="5 % level")
axes[1].set_xscale("log")
axes[1].set_yscale("log")
axes[1].set_xlabel("Langevin steps (0 plotted at 1)")
axes[1].set_ylabel("permutation p-value")
axes[1].set_title(f"N = {n_mmd} per side, {perms} permutations")
axes[1].legend(fontsize=8)
axes[0].legend(fontsize=8)
rt.save_figure(fig, "langevin_mmd_vs_steps")
tests_02 = curves[0.02]
assert tests_02[0].rejects(0.05), "the test tells the starting distribution from the target"
assert not tests_02[3000].rejects(0.05), "after 3,000 steps of eps = 0.02 the test no longer tells the chains from exact samples"
rt.record("langevin_mmd_p_start", tests_02[0].p_value, "p", at_most=0.05, budget="laptop")
rt.record("langevin_mmd_p_after_3000_steps_eps0.02", tests_02[3000].p_value, "p", at_least=0.05, budget="laptop")

# %% [markdown]
# Larger steps travel faster: the number of steps to convergence scales roughly like $1/\varepsilon$.
# But "the test no longer rejects" is not "the chain is exact": at $N = 1000$ a two-sample test has
# limited power, and ULA is **biased** for any $\varepsilon > 0$. On a Gaussian $\mathcal N(0, \sigma^2)$
# the bias has a closed form: the update $x' = (1 - \tfrac{\varepsilon}{2\sigma^2})\,x + \sqrt{\varepsilon}\,\xi$
# is an autoregression whose stationary variance $v$ solves $v = (1 - \tfrac{\varepsilon}{2\sigma^2})^2 v + \varepsilon$:
# $$v = \frac{\sigma^2}{1 - \varepsilon/4\sigma^2},$$
# too wide, and infinite once $\varepsilon \ge 4\sigma^2$. **MALA** (Metropolis-adjusted Langevin)
# treats the Langevin step as a proposal $x'$ and accepts it with probability
# $\min\!\big(1, \tfrac{p(x')\,q(x\mid x')}{p(x)\,q(x'\mid x)}\big)$, $q$ the Gaussian proposal density,
# which makes $p$ exactly stationary (and needs only ratios of $p$: $Z$ cancels again). We start
# the chains *at* the target (exact samples), so any drift away from it is the sampler's fault.

# %%
n_bias = rt.pick(smoke=4000, laptop=10000, full=50000)
sigma_g = 0.5  # the width of the banana's ridge
gauss_eps = (0.01, 0.05, 0.1, 0.2, 0.4)
x_gauss0 = sigma_g * normal((n_bias, 1), torch.Generator().manual_seed(20))
gauss_var = {}
for eps in gauss_eps:
    for name, adjust in (("ULA", False), ("MALA", True)):
        out = langevin(x_gauss0, step_size=eps, steps=300, log_prob=lambda x: -(x**2).sum(1) / (2 * sigma_g**2), metropolis=adjust,
                       generator=torch.Generator().manual_seed(21))
        v = out.x.double().pow(2).mean().item()
        gauss_var[name, eps] = (v, v * math.sqrt(2 / n_bias))  # (variance, its standard error)
for eps in gauss_eps:
    formula = sigma_g**2 / (1 - eps / (4 * sigma_g**2))
    (v_ula, se_ula), (v_mala, se_mala) = gauss_var["ULA", eps], gauss_var["MALA", eps]
    print(f"eps = {eps:4}: ULA variance {v_ula:.4f} (formula {formula:.4f}) | MALA {v_mala:.4f} (target {sigma_g**2})")
    assert abs(v_ula - formula) < 4 * se_ula, "ULA's stationary variance is the formula's"
    assert abs(v_mala - sigma_g**2) < 4 * se_mala, "MALA's is the target's"
assert gauss_var["ULA", 0.4][0] - sigma_g**2 > 10 * gauss_var["ULA", 0.4][1], "at eps = 0.4 the bias is many standard errors"

# %% [markdown]
# On the banana the same comparison, with the moment $\mathbb E[x_1^2] = a^2$ we know:

# %%
g = torch.Generator().manual_seed(22)
at_target = banana_sample(n_bias, g)
bias_eps = rt.pick(smoke=(0.01, 0.03, 0.1), laptop=(0.005, 0.01, 0.02, 0.03, 0.05, 0.1), full=(0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2))
moments, diverged = {"ULA": {}, "MALA": {}}, {}
for eps in bias_eps:
    for name, adjust in (("ULA", False), ("MALA", True)):
        try:
            out = langevin(at_target, step_size=eps, steps=300, log_prob=banana_log_prob, metropolis=adjust, generator=torch.Generator().manual_seed(23))
        except FloatingPointError as err:
            diverged[name, eps] = str(err)
            continue
        x1sq = out.x[:, 0].double() ** 2
        moments[name][eps] = (x1sq.mean().item(), x1sq.std().item() / math.sqrt(n_bias), out.acceptance)
for name, rows in moments.items():
    print(name + ": " + "  ".join(f"eps={e}: E[x1^2]={m:.3f}±{se:.3f}" + (f" (acc {acc:.0%})" if name == "MALA" else "") for e, (m, se, acc) in rows.items()))
for (name, eps), err in diverged.items():
    print(f"{name}, eps = {eps}: {err}")

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
eps_fine = torch.linspace(0.005, 0.45, 100)
axes[0].plot(eps_fine, sigma_g**2 / (1 - eps_fine / (4 * sigma_g**2)), "k--", lw=0.8, label="ULA formula")
for i, name in enumerate(("ULA", "MALA")):
    axes[0].errorbar(gauss_eps, [gauss_var[name, e][0] for e in gauss_eps], yerr=[2 * gauss_var[name, e][1] for e in gauss_eps], fmt="o",
                     c=OKABE_ITO[i], capsize=3, label=name)
    rows = moments[name]
    axes[1].errorbar(list(rows), [m for m, _, _ in rows.values()], yerr=[2 * se for _, se, _ in rows.values()], fmt="o-", c=OKABE_ITO[i], capsize=3,
                     label=name)
    for (who, eps) in diverged:
        if who == name:
            axes[1].plot(eps, a_**2 * 0.8, "x", c=OKABE_ITO[i], ms=10, mew=2, label=f"{name} diverged")
axes[0].axhline(sigma_g**2, c="0.5", lw=0.8)
axes[0].set_title("Gaussian target: ULA's variance is too large")
axes[0].set_ylabel("stationary variance (±2 s.e.)")
axes[1].axhline(a_**2, c="k", ls="--", lw=0.8, label="exact $a^2$")
axes[1].set_xscale("log")
axes[1].set_title("Banana: ULA drifts, then diverges; MALA stays")
axes[1].set_ylabel("$E[x_1^2]$ after 300 steps (±2 s.e.)")
for ax in axes:
    ax.set_xlabel("step size $\\varepsilon$")
    ax.legend(fontsize=8)
rt.save_figure(fig, "ula_bias_vs_mala")
assert all(abs(m - a_**2) < 4.5 * se for m, se, _ in moments["MALA"].values()), "MALA is unbiased on the banana at every step size"
assert not any(who == "MALA" for who, _ in diverged), "MALA rejects the proposals that would blow up"

# %% [markdown]
# Across the banana's ridge the curvature is $1/s^2$, but where the arms bend it grows like
# $(2 b x_1 / s)^2$: in the tails a fixed step overshoots, ULA under-weights the arms, and beyond a
# step size it **diverges**, a chain in the far tail thrown further out at every step (ULA is not even
# stable for targets whose gradient grows faster than linearly; Roberts & Tweedie 1996). MALA rejects
# those proposals, at the price of a lower acceptance rate. The sampler stops a diverging chain with
# a sentence instead of returning NaNs:

# %%
try:
    langevin(chain_start, step_size=0.5, steps=50, log_prob=banana_log_prob)
    raise AssertionError("a step of 0.5 should diverge on the banana")
except FloatingPointError as err:
    print(f"FloatingPointError: {err}")
    assert "step_size=0.5" in str(err)

# %% [markdown]
# **Widget: Langevin on the banana.** Choose the step size, the number of steps, noise on or off,
# and the Metropolis adjustment. The title reports the MMD test against exact samples (or where the
# chain diverged); the coloured lines follow five chains. Things to try: noise off (every chain
# climbs to the mode, $x = (0, -b a^2)$: gradient ascent, not sampling); a tiny step with few steps
# (the chains have not arrived); $\varepsilon = 0.1$ with and without MALA.

# %%
present(render_langevin, step_size=(0.005, 0.2, 0.005), steps=(0, 2000, 50), noise=True, mala=False);

# %%
fig = render_langevin(0.05, 300, noise=False)
rt.save_figure(fig, "langevin_noise_off")
assert len(fig.axes) == 1
plt.close(fig)

# %% [markdown]
# ## 3. Contrastive divergence: training an energy with samples of the model
# With a network $E_\theta$, the log-likelihood of a data point is $-E_\theta(x) - \log Z_\theta$, and
# the gradient of $\log Z$ is an expectation **under the model**:
# $$\nabla_\theta \log Z_\theta = \frac{1}{Z_\theta}\int \nabla_\theta e^{-E_\theta(x)}\,dx = -\mathbb E_{x\sim p_\theta}\big[\nabla_\theta E_\theta(x)\big],
# \qquad\text{so}\qquad
# -\nabla_\theta\, \mathbb E_{\text{data}}[\log p_\theta(x)] = \mathbb E_{\text{data}}[\nabla_\theta E_\theta] - \mathbb E_{p_\theta}[\nabla_\theta E_\theta].$$
# Push the energy of the data down and the energy of the model's own samples up; the two balance when
# the model's samples look like the data. The Ising model lets us check the identity exactly:
# $\partial \log Z / \partial J = \mathbb E_p[\sum_{i\sim j} s_i s_j]$.

# %%
J_t = torch.tensor(J, dtype=torch.float64, requires_grad=True)
log_Z_t = torch.logsumexp(J_t * pair.sum(1) + h_field * states.sum(1), 0)  # -E = J sum s_i s_j + h sum s_i
(dlogZ_dJ,) = torch.autograd.grad(log_Z_t, J_t)
print(f"d log Z / dJ = {dlogZ_dJ:.8f}; E_p[sum of neighbour products] = {corr_exact.sum():.8f}")
assert torch.allclose(dlogZ_dJ, corr_exact.sum(), atol=1e-10)

# %% [markdown]
# **Contrastive divergence** (Hinton 2002) replaces the model expectation by a few MCMC samples. The
# recipe of Du & Mordatch (2019), used here: the negatives are **short-run Langevin chains**
# ($K = 20$ steps) that start from a **replay buffer** of earlier negatives (5 % restart from uniform
# noise), and their end states go back into the buffer, so each chain effectively runs across many
# updates. A small penalty $\alpha\,(f(x^+)^2 + f(x^-)^2)$ keeps the network's outputs $f$ of order one.
# Their sampler takes a gradient step $\lambda$ and adds noise $\sigma$ chosen apart; that is Langevin
# at temperature $T = \sigma^2/2\lambda$, so our energies are $E = f_\theta/T$ and the sampler is
# exactly section 2's with $\varepsilon = \sigma^2$. The loss, written out and checked against the package:

# %%
toy = toy_2d("eight_gaussians", rt.pick(smoke=1000, laptop=4000, full=20000), seed=0)
toy_test = toy_2d("eight_gaussians", 2000, seed=1)
ebm2d = EBM(EBMConfig(dim=2, hidden=128, depth=2, step_size=0.01, steps=20, alpha=1e-3, box=4.0))


def my_cd_loss(model, x_pos, x_neg):
    """E(data).mean() - E(negatives).mean() + alpha * (f(data)^2 + f(negatives)^2).mean(), with E = f / T."""
    f_pos, f_neg = model.f(x_pos), model.f(x_neg)
    return (f_pos.mean() - f_neg.mean()) / model.cfg.temperature + model.cfg.alpha * (f_pos**2 + f_neg**2).mean()


negatives = ebm2d.negatives(8, torch.Generator().manual_seed(0), update=False)
assert torch.allclose(my_cd_loss(ebm2d, toy[:8], negatives), ebm2d.cd_loss(toy[:8], negatives))

# %% [markdown]
# We train it on the eight Gaussians of notebook 00 (Adam without momentum, as Du & Mordatch do: the
# negatives change with the model, and momentum makes the two chase each other). The model lives on
# the square $[-4, 4]^2$ (the chains are clamped to it), which keeps $Z$ finite whatever the network
# does far away, and lets us compute $Z$ by quadrature: in 2-D we can **normalise the EBM after
# training** and score it with a true log-likelihood.

# %%
with Stopwatch() as sw_toy:
    rt.fit_or_load(ebm2d.to(dev), loader_of(toy), None,
                   TrainConfig(epochs=rt.pick(smoke=3, laptop=60, full=200), lr=3e-3, betas=(0.0, 0.999), progress=False), name="ebm-eight-gaussians")
ebm2d = ebm2d.cpu()
ticks = torch.linspace(-4, 4, 401)[:-1] + 0.01  # cell midpoints of a 400 x 400 grid on the box
grid_pts = torch.cartesian_prod(ticks, ticks)
with torch.no_grad():
    neg_E = ebm2d.log_prob(grid_pts).double()
log_Z_ebm = torch.logsumexp(neg_E, 0) + 2 * math.log(0.02)
with torch.no_grad():
    ll_ebm = (ebm2d.log_prob(toy_test).double() - log_Z_ebm).mean().item()
    ll_true = eight_gaussians_truth().log_prob(toy_test).mean().item()
    ll_uniform = -2 * math.log(8.0)
print(f"trained in {sw_toy.seconds:.1f} s; log Z by quadrature {log_Z_ebm:.3f}")
print(f"test log-density: EBM {ll_ebm:.3f} | true density {ll_true:.3f} | uniform on the box {ll_uniform:.3f}")

# %%
centres = 2.0 * torch.stack([torch.cos(torch.arange(8) * math.pi / 4), torch.sin(torch.arange(8) * math.pi / 4)], 1)
mode_of_cell = torch.cdist(grid_pts, centres).argmin(1)
density = (neg_E - log_Z_ebm).exp() * 0.02**2
mass_per_mode = torch.stack([density[mode_of_cell == k].sum() for k in range(8)])
buffer_share = torch.bincount(torch.cdist(ebm2d.buffer, centres).argmin(1), minlength=8).double() / ebm2d.cfg.buffer_size
print("probability mass of each mode under the normalised EBM:", mass_per_mode.numpy().round(3))
print("share of each mode among the replay buffer's chains:    ", buffer_share.numpy().round(3))
fig, axes = plt.subplots(1, 3, figsize=(13, 4))
axes[0].scatter(toy[:2000, 0], toy[:2000, 1], s=2, c=OKABE_ITO[0])
axes[0].set_title("data")
axes[1].scatter(ebm2d.buffer[:2000, 0], ebm2d.buffer[:2000, 1], s=2, c=OKABE_ITO[3])
axes[1].set_title("the replay buffer's chains (short-run samples)")
mesh = axes[2].pcolormesh(ticks, ticks, (neg_E - log_Z_ebm).exp().view(400, 400).T.float(), cmap="magma", shading="auto")
fig.colorbar(mesh, ax=axes[2], label="density")
axes[2].set_title("exp(-E) / Z, Z by quadrature")
for ax in axes:
    plane(ax, 4)
fig.suptitle("The samples look right; the density the energy defines need not")
rt.save_figure(fig, "ebm_2d")
with torch.no_grad():
    e_data, e_noise = ebm2d.energy(toy_test), ebm2d.energy((torch.rand(2000, 2, generator=torch.Generator().manual_seed(3)) * 2 - 1) * 4)
assert e_data.mean() < e_noise.mean(), "the energy is lower on test data than on uniform noise in the box"
rt.record("ebm2d_test_loglik", ll_ebm, "nats (log-density)")
rt.record("ebm2d_mode_mass_max_over_min", (mass_per_mode.max() / mass_per_mode.min()).item(), "x")

# %% [markdown]
# Look at the middle and the right panel together. The short-run chains in the buffer sit on all
# eight modes, but the density that the energy defines, once normalised, may put very unequal mass
# on them (compare the two rows of numbers): a chain never crosses from one mode to another, so
# nothing in training measures the *relative* energies of the modes, and contrastive divergence with
# short-run chains learns a good sampler rather than a good density (Nijkamp et al. 2019). Only in
# low dimension can we see this, by computing $Z$.
#
# ### An EBM of the 8x8 digits, and the energy as an outlier detector
# The same recipe on the 8x8 digits (an MLP energy on the 64 pixels in $[0, 1]$, chains clamped to
# the cube, $\varepsilon = 10^{-3}$, $T = 10^{-2}$). This is the preset `ebm-digits`, which notebook 09
# reuses.

# %%
digits = load_digits8x8()
with Stopwatch() as sw_dig:
    ebm_dig, _ = load_model("ebm-digits", rt)
buffer_imgs = ebm_dig.sample(350, torch.Generator().manual_seed(0), start="buffer", steps=0)  # the persistent chains, on the grid
long_run = ebm_dig.sample(350, torch.Generator().manual_seed(1), start="noise", steps=rt.pick(smoke=50, laptop=200, full=500))
fd_buffer, fd_long = fd_with_floor(buffer_imgs, "digits8x8"), fd_with_floor(long_run, "digits8x8")
print(f"replay buffer: {fd_buffer}\nfrom noise, {ebm_dig.cfg.sample_steps} steps: FD {fd_long.fd:.2f}")
fig = image_rows({"test digits": digits.test.x[:16], "replay buffer": buffer_imgs[:16], "Langevin from noise": long_run[:16]}, nrow=16,
                 title="EBM on the 8x8 digits: short-run samples")
rt.save_figure(fig, "ebm_digits_samples")

# %% [markdown]
# Low energy should mean "looks like a digit". We compare the energies of real test digits with
# four kinds of impostors: uniform noise; samples of notebook 01's **independent-pixel model** (each
# pixel drawn from its own marginal: the right grey levels in the right places, no strokes); the
# real test digits with their **pixels shuffled**; and the digits **inverted** ($1 - x$). The AUROC
# is the probability that a random real digit has lower energy than a random impostor (1: perfect
# detector, 0.5: chance).

# %%
indep = IndependentPixels(IndependentConfig(shape=(1, 8, 8), num_levels=17)).fit_closed_form(digits.train.x)
g = torch.Generator().manual_seed(5)
n_test = len(digits.test)
impostors = {"uniform noise": uniform((n_test, 1, 8, 8), g), "independent pixels (01)": indep.sample(n_test, g),
             "shuffled pixels": digits.test.x.flatten(1)[:, torch.randperm(64, generator=g)].view(-1, 1, 8, 8),
             "inverted digits": 1 - digits.test.x}
with torch.no_grad():
    e_real = ebm_dig.energy(digits.test.x.to(dev)).cpu()
    e_imp = {name: ebm_dig.energy(x.to(dev)).cpu() for name, x in impostors.items()}
auroc = {name: roc_auc_score([1] * n_test + [0] * len(e), torch.cat([-e_real, -e]).numpy()) for name, e in e_imp.items()}
for name, value in auroc.items():
    print(f"AUROC real vs {name:24s}: {value:.4f}   (median energy {e_imp[name].median():9.1f} vs real {e_real.median():.1f})")

# %%
fig, ax = plt.subplots(figsize=(8, 3.6))
lo, hi = e_real.min().item() - 20, max(e.quantile(0.95).item() for e in e_imp.values())
bins = torch.linspace(lo, hi, 60).numpy()
ax.hist(e_real.numpy(), bins=bins, alpha=0.7, label="real test digits", color="k")
for i, (name, e) in enumerate(e_imp.items()):
    ax.hist(e.clamp(max=hi).numpy(), bins=bins, alpha=0.45, label=f"{name} (AUROC {auroc[name]:.3f})", color=OKABE_ITO[i + 1])
ax.set_xlabel("energy E(x) (clipped at the 95th percentile of the impostors)")
ax.set_ylabel("images")
ax.set_title("Energies of real digits and impostors")
ax.legend(fontsize=7)
rt.save_figure(fig, "ebm_digits_energies")
assert auroc["uniform noise"] > 0.99, "noise has far higher energy than real digits"
rt.record("ebm_digits_auroc_noise", auroc["uniform noise"], "AUROC", at_least=0.99, budget="laptop")
rt.record("ebm_digits_auroc_independent_pixels", auroc["independent pixels (01)"], "AUROC", at_least=0.9, budget="laptop")
rt.record("ebm_digits_fd_buffer", fd_buffer.fd, "FD (course features)")
rt.record("ebm_digits_fd_floor", fd_buffer.floor, "FD (course features)")

# %% [markdown]
# The energy separates digits from noise at once, and from independent-pixel samples, which have
# the right grey levels everywhere, well: the network has learned something about strokes. It
# cannot tell us *how likely* a digit is, though. Its `log_prob` is $-E(x)$, off by the unknown
# $\log Z$, so the course's likelihood tools refuse it, with the reason:

# %%
try:
    mean_nll(ebm_dig, digits.test.loader(447, shuffle=False))
    raise AssertionError("an unnormalised model must not report an NLL")
except ValueError as err:
    print(f"ValueError: {err}")
    assert "unnormalised" in str(err) and "log Z" in str(err)

# %% [markdown]
# ## 4. A restricted Boltzmann machine, with an exact log-likelihood
# An RBM (Smolensky 1986; Hinton 2002) is an EBM over binary pixels $v \in \{0,1\}^D$ and binary hidden
# units $h \in \{0,1\}^H$, with no connections inside a layer:
# $$E(v, h) = -b^\top v - c^\top h - h^\top W v, \qquad p(v, h) = e^{-E(v,h)}/Z.$$
# The hidden units can be summed out in closed form, one at a time, because each appears in the
# energy only through the term $h_j (c_j + W_j v)$: $\sum_{h_j\in\{0,1\}} e^{h_j(c_j + W_j v)} = 1 + e^{c_j + W_j v}$. So
# $p(v) = e^{-F(v)}/Z$ with the **free energy**
# $$F(v) = -b^\top v - \sum_{j=1}^{H} \operatorname{softplus}(c_j + W_j v), \qquad \operatorname{softplus}(t) = \log(1 + e^t).$$
# **Exercise 2.** Implement $F(v)$ for a batch of flattened binary images.

# %% tags=["exercise"]
def my_free_energy(v, W, b, c):
    """F(v) for v (B, D) in {0, 1}, W (H, D), b (D,), c (H,); returns (B,)."""
    raise NotImplementedError("your code here: -b.v minus the softplus of each hidden unit's input, summed")


# %% jupyter={"source_hidden": true} tags=["solution"]
def my_free_energy(v, W, b, c):
    return -(v @ b) - torch.nn.functional.softplus(v @ W.T + c).sum(1)


# %%
tiny = RBM(RBMConfig(shape=(1, 3, 4), hidden=5, seed=1))
with torch.no_grad():
    for p in tiny.parameters():
        p.normal_(0, 1, generator=torch.Generator().manual_seed(2))
v_tiny = (torch.rand(6, 12, generator=torch.Generator().manual_seed(3)) < 0.5).float()
check("RBM free energy F(v)", my_free_energy, lambda v, W, b, c: tiny.free_energy(v),
      cases=[(v_tiny, tiny.W.detach(), tiny.b.detach(), tiny.c.detach())]);

# %% [markdown]
# Both conditionals factorise: $p(h_j = 1 \mid v) = \sigma(c_j + W_j v)$ and
# $p(v_i = 1 \mid h) = \sigma(b_i + W_{:,i}^\top h)$, so **block Gibbs sampling** updates a whole layer at
# once. Written out and checked against the package, draw for draw:

# %%
def my_gibbs_step(rbm, v, generator):
    h = (torch.rand(v.shape[0], rbm.cfg.hidden, generator=generator) < torch.sigmoid(v @ rbm.W.T + rbm.c)).float()
    return (torch.rand(v.shape[0], v.shape[1], generator=generator) < torch.sigmoid(h @ rbm.W + rbm.b)).float()


with torch.no_grad():
    assert torch.equal(my_gibbs_step(tiny, v_tiny, torch.Generator().manual_seed(4)), tiny.gibbs_step(v_tiny, torch.Generator().manual_seed(4)))

# %% [markdown]
# **The exact $\log Z$.** Summing out the *visible* units instead (each $v_i$ appears only through
# $v_i(b_i + W_{:,i}^\top h)$) gives
# $$\log Z = \log \sum_{h \in \{0,1\}^H} \exp\Big(c^\top h + \sum_{i=1}^{D}\operatorname{softplus}(b_i + W_{:,i}^\top h)\Big),$$
# $2^H$ terms instead of $2^{D}$. With $H = 20$ hidden units that is about a million terms of 784
# softplus each: seconds on a CPU. On the tiny RBM we check it against the brute-force sum over all
# $2^{12 + 5}$ pairs $(v, h)$:

# %%
v_all = hidden_states(12)  # every binary vector of length 12 (the same enumeration serves for v)
h_all = hidden_states(5)
with torch.no_grad():
    E_all = -(v_all @ tiny.b)[:, None] - (h_all @ tiny.c)[None, :] - v_all @ tiny.W.T @ h_all.T  # (4096, 32): E(v, h)
    brute = torch.logsumexp(-E_all.flatten().double(), 0)
    assert torch.allclose(tiny.log_partition(), brute, atol=1e-6), "2^H terms give the same log Z as 2^(D+H)"
    assert abs(torch.logsumexp(tiny.log_prob(v_all.view(-1, 1, 3, 4)).double(), 0).item()) < 1e-6, "p(v) sums to 1"
print(f"tiny RBM: log Z = {brute:.6f} both ways")

# %% [markdown]
# **Training: CD-k and persistent CD.** The likelihood gradient again splits into a data term and a
# model term; for the weights, $-\partial \log p(v)/\partial W = -\mathbb E[h\mid v]\,v^\top + \mathbb E_{p}[h\, v^\top]$.
# CD-k (Hinton 2002) estimates the model term with $k$ Gibbs steps started **at the data**; persistent
# CD (PCD, Tieleman 2008) keeps a set of chains running from one update to the next, so they keep
# exploring the model instead of restarting next to the data. The package's `loss` is
# $\overline{F(\text{data})} - \overline{F(\text{negatives})}$, whose gradient is exactly that estimate.
#
# The main model is the preset `rbm-mnist`: 20 hidden units, PCD-1, 150 epochs on the binarised
# MNIST of notebooks 01–04 (4,000 / 500 / 500, static binarisation), visible biases started at the
# pixels' log-odds. Because $H = 20$, its **test NLL is exact**, in nats, on the same split as every
# model of notebooks 01–04.

# %%
mnist = load_mnist5k()
with Stopwatch() as sw_rbm:
    rbm, _ = load_model("rbm-mnist", rt)
with torch.no_grad(), Stopwatch() as sw_logz:
    log_Z_rbm = rbm.log_partition().item()  # 2^H terms, cached for what follows
nll_rbm = mean_nll(rbm, mnist.test.loader(500, shuffle=False))
nll_indep = mean_nll(IndependentPixels(IndependentConfig()).fit_closed_form(mnist.train.x), mnist.test.loader(500, shuffle=False))
print(f"RBM with {rbm.cfg.hidden} hidden units: exact log Z = {log_Z_rbm:.3f} over 2^{rbm.cfg.hidden} hidden states in {sw_logz.seconds:.1f} s")
print(f"test NLL (exact): RBM {nll_rbm:.2f} nats | independent pixels {nll_indep:.2f} | notebook 01's mixture of 50 Bernoullis 150.4")
assert nll_rbm < nll_indep, "the RBM beats independent pixels on the same split"
rt.record("rbm_mnist_test_nll_exact", nll_rbm, "nats", at_most=150.4, budget="laptop")  # below notebook 01's mixture of 50
rt.record("rbm_mnist_exact_logz_seconds", sw_logz.seconds, "s")

# %% [markdown]
# **How does it compare?** Notebook 01's mixture of 50 Bernoullis scores 150.4 nats on this split,
# notebook 03's MADE about 118 and its PixelCNN about 97.5. An RBM of 20 hidden units is, in effect, a
# mixture of $2^{20}$ products of Bernoullis whose parameters are tied together; it beats the free
# mixture of 50 with fewer parameters (16,484 against 39,250). Larger RBMs (500 hidden units) reach
# about 86 nats on full MNIST (Salakhutdinov & Murray 2008), but then $\log Z$ can only be estimated,
# which is what AIS is for.
#
# **Annealed importance sampling** (Neal 2001) estimates $\log Z$ by walking from a model whose $Z$ is
# known (here: independent pixels with the data's marginals, $W = 0$) to the RBM through intermediate
# models $p^*_\beta(v) \propto e^{(1-\beta) b_0^\top v}\, e^{-\beta F(v)}$, $0 = \beta_0 < \dots < \beta_K = 1$,
# one Gibbs step at each; the product of the ratios $p^*_{\beta_k}(v_{k-1}) / p^*_{\beta_{k-1}}(v_{k-1})$
# along a run is an importance weight whose mean is unbiased for $Z/Z_0$. Its *log* is biased low
# (Jensen's inequality), the more so the fewer the intermediate models: with 5,000 of them this RBM's
# estimate fell about a nat short; 20,000 close the gap. Here we can check it against the exact value.
#
# The whole estimator, written from these formulas, is a Gibbs chain that adds up the log ratios as it
# goes ($\log p^*_\beta(v) = (1-\beta)\, b_0^\top v + \beta\, b^\top v + \sum_j \operatorname{softplus}(\beta(c_j + W_j v))$);
# on the tiny RBM its weights are the package's, draw for draw:

# %%
def my_ais_log_weights(rbm, base, num_betas, chains, generator):
    def log_p_star(v, beta):
        return (1 - beta) * (v @ base) + beta * (v @ rbm.b) + torch.nn.functional.softplus(beta * (v @ rbm.W.T + rbm.c)).sum(1)

    v = (torch.rand(chains, base.numel(), generator=generator) < torch.sigmoid(base)).float()  # exact draws from the base model
    log_w = torch.zeros(chains, dtype=torch.float64)
    betas = torch.linspace(0.0, 1.0, num_betas + 1).tolist()
    for beta_prev, beta in zip(betas[:-1], betas[1:]):
        log_w += (log_p_star(v, beta) - log_p_star(v, beta_prev)).double()  # the importance weight grows by the ratio
        h = (torch.rand(chains, rbm.cfg.hidden, generator=generator) < torch.sigmoid(beta * (v @ rbm.W.T + rbm.c))).float()
        v = (torch.rand(chains, base.numel(), generator=generator) < torch.sigmoid((1 - beta) * base + beta * (h @ rbm.W + rbm.b))).float()
    return log_w  # log Z is log Z_0 + log mean exp(log_w), with log Z_0 = H ln 2 + sum_i softplus(base_i)


base_tiny = torch.linspace(-1.0, 1.0, 12)
with torch.no_grad():
    mine = my_ais_log_weights(tiny, base_tiny, 200, 500, torch.Generator().manual_seed(6))
    package = tiny.ais_log_partition(num_betas=200, chains=500, base_bias=base_tiny, generator=torch.Generator().manual_seed(6))
    log_Z_tiny = tiny.log_partition().item()
assert torch.allclose(mine, package.log_weights, atol=1e-4), "the chain written here is the package's AIS, draw for draw"
print(f"tiny RBM, 200 temperatures: AIS log Z = {package.log_z:.3f} ± {package.std_error:.3f}, exact {log_Z_tiny:.3f}")
assert abs(package.log_z - log_Z_tiny) < 4 * package.std_error + 0.05, "AIS agrees with the exact log Z within its error"

# %%
marginals = (mnist.train.x.flatten(1).mean(0) * 4000 + 0.5) / 4001
with Stopwatch() as sw_ais:
    ais = rbm.ais_log_partition(num_betas=rt.pick(smoke=1000, laptop=20000, full=50000), chains=100, base_bias=torch.logit(marginals).to(dev),
                                generator=torch.Generator(device=dev).manual_seed(0))
print(f"AIS: log Z = {ais.log_z:.3f} ± {ais.std_error:.3f} (exact {log_Z_rbm:.3f}, error {ais.log_z - log_Z_rbm:+.3f} nats) in {sw_ais.seconds:.1f} s")
assert abs(ais.log_z - log_Z_rbm) < 1.0, "AIS agrees with the exact log Z within 1 nat"
rt.record("rbm_ais_minus_exact_logz", abs(ais.log_z - log_Z_rbm), "nats", at_most=1.0, budget="laptop")

# %% [markdown]
# Because its hidden marginal $p(h) \propto e^{c^\top h}\prod_i(1 + e^{b_i + W_{:,i}^\top h})$ is a
# table of $2^H$ numbers, this RBM can even be sampled **exactly**: draw $h$ from the table, then
# $v \sim p(v\mid h)$. Gibbs chains approach the same distribution slowly.

# %%
exact_samples = rbm.sample(500, torch.Generator(device=dev).manual_seed(1))
gibbs_steps = rt.pick(smoke=100, laptop=1000, full=1000)
with torch.no_grad():
    gibbs_samples = rbm.gibbs_chain((torch.rand(500, 784, generator=torch.Generator().manual_seed(2)) < 0.5).float().to(dev),
                                    gibbs_steps, generator=torch.Generator(device=dev).manual_seed(3))
fd_exact = fd_with_floor(exact_samples, "mnist5k-binarized")
print(f"exact RBM samples: {fd_exact}")
fig = image_rows({"test images": mnist.test.x[:12], "exact samples": exact_samples[:12].cpu(),
                  f"Gibbs, {gibbs_steps} steps from noise": gibbs_samples[:12].view(-1, 1, 28, 28).cpu()}, nrow=12,
                 title=f"RBM with {rbm.cfg.hidden} hidden units (PCD-1): exact NLL {nll_rbm:.1f} nats")
rt.save_figure(fig, "rbm_samples")
rt.record("rbm_fd_exact_samples", fd_exact.fd, "FD (course features)")

# %% [markdown]
# **CD-1 against PCD-1**, with everything else equal (16 hidden units, 30 epochs), measured by the
# exact test NLL:

# %%
cd_vs_pcd = {}
for persistent in (False, True):
    model = RBM(RBMConfig(shape=(1, 28, 28), hidden=rt.pick(smoke=8, laptop=16, full=16), k=1, persistent=persistent)).to(dev)
    model.init_from_marginals(mnist.train.x.to(dev))
    rt.fit_or_load(model, mnist.train.loader(100, seed=0), None,
                   TrainConfig(epochs=rt.pick(smoke=2, laptop=30, full=60), lr=5e-3, schedule="cosine", clip_grad_norm=None, progress=False),
                   name="rbm-pcd" if persistent else "rbm-cd1")
    cd_vs_pcd["PCD-1" if persistent else "CD-1"] = mean_nll(model, mnist.test.loader(500, shuffle=False))
print("exact test NLL: " + ", ".join(f"{k} {v:.2f} nats" for k, v in cd_vs_pcd.items()))
rt.record("rbm16_cd1_test_nll", cd_vs_pcd["CD-1"], "nats")
rt.record("rbm16_pcd1_test_nll", cd_vs_pcd["PCD-1"], "nats")
rt.record("rbm16_cd1_minus_pcd1", cd_vs_pcd["CD-1"] - cd_vs_pcd["PCD-1"], "nats", at_least=0.0, budget="laptop")

# %% [markdown]
# CD-1's negatives never leave the neighbourhood of the data, so the model is free to put mass in
# places no short chain from the data visits; PCD's chains wander there and the training pushes that
# mass back. The exact NLL makes the difference visible, which is rarely possible for an EBM.
#
# ## 5. Score matching: learning $\nabla_x \log p$ without $Z$
# If sampling only needs the score, why not learn the score directly? **Score matching**
# (Hyvärinen 2005) fits a vector field $s_\theta(x)$ to $\nabla_x \log p_{\text{data}}$ by minimising
# $\tfrac12\mathbb E\,|s_\theta - \nabla \log p_{\text{data}}|^2$, which integration by parts turns into
# something computable from samples alone:
# $$J(\theta) = \mathbb E_{\text{data}}\Big[\tfrac12 |s_\theta(x)|^2 + \operatorname{tr}\nabla_x s_\theta(x)\Big] + \text{const}.$$
# For a linear field $s(x) = A x + a$ on data with mean $\mu$ and covariance $S$, setting the gradient
# to zero gives $A = -S^{-1}$, $a = S^{-1}\mu$: exactly the score of the Gaussian fitted to the data.
#
# **Denoising score matching** (Vincent 2011) avoids the trace: add noise, $\tilde x = x + \sigma z$,
# and regress onto the score of the noise, $-z/\sigma$:
# $$\mathbb E\,\big|s_\theta(\tilde x) + z/\sigma\big|^2 = \mathbb E\,\big|s_\theta(\tilde x) - \nabla\log q_\sigma(\tilde x)\big|^2 + \text{const},$$
# where $q_\sigma$ is the data blurred by $\mathcal N(0, \sigma^2 I)$. For Gaussian data the answer is
# known, $\nabla \log q_\sigma(\tilde x) = -(S + \sigma^2 I)^{-1}(\tilde x - \mu)$, so we can check both
# objectives with a linear field fitted in closed form (least squares).

# %%
g = torch.Generator().manual_seed(0)
S_true = torch.tensor([[1.0, 0.6], [0.6, 0.5]], dtype=torch.float64)
mu_true = torch.tensor([1.0, -2.0], dtype=torch.float64)
n_gauss = 200_000
x_gauss = mu_true + torch.randn(n_gauss, 2, generator=g, dtype=torch.float64) @ torch.linalg.cholesky(S_true).T
# Hyvärinen's objective for s(x) = A x + a, from samples alone: mean of |A x + a|^2 / 2, plus tr(A) (the divergence of s)
def sm_objective(A, a):
    return 0.5 * ((x_gauss @ A.T + a) ** 2).sum(1).mean() + torch.trace(A)


S_hat = torch.cov(x_gauss.T, correction=0)
A_sm = -torch.linalg.inv(S_hat)  # the minimiser derived above
a_sm = -A_sm @ x_gauss.mean(0)
perturbed = [sm_objective(A_sm + 0.05 * torch.randn(2, 2, generator=g, dtype=torch.float64), a_sm) for _ in range(5)]
assert all(sm_objective(A_sm, a_sm) < j for j in perturbed), "score matching's objective is smallest at A = -S^-1"
# denoising score matching: least squares of -z / sigma on [x~, 1]
sigma_dsm = 0.5
z = torch.randn(n_gauss, 2, generator=g, dtype=torch.float64)
x_noisy = x_gauss + sigma_dsm * z
design = torch.cat([x_noisy, torch.ones(n_gauss, 1, dtype=torch.float64)], 1)
coef = torch.linalg.lstsq(design, -z / sigma_dsm).solution  # (3, 2): [A^T; a^T]
A_dsm, A_true = coef[:2].T, -torch.linalg.inv(S_true + sigma_dsm**2 * torch.eye(2, dtype=torch.float64))
print("DSM fit A:\n", A_dsm.numpy().round(3), "\ntrue -(S + sigma^2 I)^-1:\n", A_true.numpy().round(3))
rel_err = (torch.linalg.matrix_norm(A_dsm - A_true) / torch.linalg.matrix_norm(A_true)).item()
assert rel_err < 0.02, "denoising score matching recovers the score of the noised Gaussian"
assert torch.allclose(-coef[2], A_dsm @ mu_true, atol=0.02), "and its offset: s(x) = A (x - mu)"
assert (torch.linalg.matrix_norm(A_sm + torch.linalg.inv(S_true)) / torch.linalg.matrix_norm(torch.linalg.inv(S_true))).item() < 0.02

# %% [markdown]
# **Many noise levels (NCSN).** A single small $\sigma$ learns an accurate score where the data are and
# nothing useful elsewhere, so Langevin chains started far away get lost; a large $\sigma$ fills space
# but blurs the data. Song & Ermon (2019) train one network $s_\theta(x, \sigma)$ on a geometric ladder
# $\sigma_1 > \dots > \sigma_L$, with the loss weighted by $\sigma^2$ so that every level counts alike:
# $$\mathcal L = \tfrac12\,\mathbb E_{\sigma}\,\mathbb E_{x, z}\,\big|\sigma\, s_\theta(x + \sigma z, \sigma) + z\big|^2 .$$
# (We also keep an exponential moving average of the weights, as Song & Ermon (2020) recommend: the
# DSM gradient is noisy, and the samples depend on the field between the data, where small errors
# add up.) Written out and checked against the package:

# %%
truth = GaussianMixture(GaussianMixtureConfig(dim=2, components=2))  # Song & Ermon's example: 1/5 N((-5,-5), I) + 4/5 N((5,5), I)
with torch.no_grad():
    truth.means.copy_(torch.tensor([[-5.0, -5.0], [5.0, 5.0]]))
    truth.log_scales.zero_()
    truth.logits.copy_(torch.tensor([0.2, 0.8]).log())
truth.eval()
mix_train = truth.sample(rt.pick(smoke=2000, laptop=4000, full=20000), torch.Generator().manual_seed(0))
ncsn = ScoreModel(ScoreConfig(dim=2, hidden=128, depth=3, sigma_max=10.0, sigma_min=0.1, num_scales=10, steps_per_scale=100, step_lr=1e-3))


def my_dsm_loss(model, x, idx, z):
    sigma = model.sigmas[idx][:, None]
    return 0.5 * ((sigma * model.score(x + sigma * z, sigma[:, 0]) + z) ** 2).sum(1).mean()


idx_t, z_t = torch.randint(0, 10, (16,), generator=g), torch.randn(16, 2, generator=g)
assert torch.allclose(my_dsm_loss(ncsn, mix_train[:16], idx_t, z_t), ncsn.dsm_loss(mix_train[:16], idx_t, z_t))
with Stopwatch() as sw_ncsn:
    rt.fit_or_load(ncsn.to(dev), loader_of(mix_train), None,
                   TrainConfig(epochs=rt.pick(smoke=5, laptop=60, full=200), lr=3e-3, ema_decay=0.999, progress=False), name="ncsn-two-gaussians")
ncsn = ncsn.cpu().eval()
print(f"trained in {sw_ncsn.seconds:.1f} s")

# %% [markdown]
# The true score of the blurred data is known here (a Gaussian mixture blurred by $\mathcal N(0,\sigma^2 I)$
# is the same mixture with variances $1 + \sigma^2$), so we can measure the learned field's error, as a
# fraction of the field's size, $\mathbb E_{q_\sigma}|s_\theta - \nabla\log q_\sigma|^2 / \mathbb E_{q_\sigma}|\nabla \log q_\sigma|^2$:

# %%
def blurred(sigma):
    model = GaussianMixture(GaussianMixtureConfig(dim=2, components=2))
    model.load_state_dict(truth.state_dict())
    with torch.no_grad():
        model.log_scales.fill_(0.5 * math.log(1 + sigma**2))
    return model.eval()


def true_score(sigma):
    def f(x):
        x = x.detach().requires_grad_(True)
        return torch.autograd.grad(blurred(sigma).log_prob(x).sum(), x)[0]
    return f


score_err = {}
for sigma in ncsn.sigmas.tolist():
    pts = blurred(sigma).sample(2000, torch.Generator().manual_seed(7))
    with torch.no_grad():
        learned = ncsn.score(pts, sigma)
    target = true_score(sigma)(pts)
    score_err[sigma] = (((learned - target) ** 2).sum(1).mean() / (target**2).sum(1).mean()).item()
print("relative squared error of the learned score: " + ", ".join(f"σ={s:.2g}: {e:.3f}" for s, e in score_err.items()))
sigma_show = ncsn.sigmas[4].item()
fig = score_field_figure({f"learned $s_\\theta(x, \\sigma={sigma_show:.2f})$": lambda x: ncsn.score(x, sigma_show),
                          f"true $\\nabla \\log q_\\sigma$, $\\sigma={sigma_show:.2f}$": true_score(sigma_show)}, lim=9.0,
                         background=blurred(sigma_show).log_prob, title="Learned and true score of the blurred data")
rt.save_figure(fig, "score_fields")
assert score_err[ncsn.sigmas[0].item()] < 0.25, "at the largest noise level the field is learned well at every budget"
rt.record("ncsn_rel_score_error_mid_sigma", score_err[sigma_show], "fraction", at_most=0.1, budget="laptop")
rt.record("ncsn_rel_score_error_min_sigma", score_err[ncsn.sigmas[-1].item()], "fraction")

# %% [markdown]
# Where the data are, the learned field matches the true one; away from them (the corners, and the
# gap between the modes, where no noisy sample lands at this $\sigma$) it is off, sometimes pointing
# the wrong way. That is the reason for the large noise levels: they put training samples, and so
# an accurate score, everywhere a chain may start. The error is smallest at large $\sigma$ and grows
# at the smallest one: there the regression target
# $-z/\sigma$ has a variance of $d/\sigma^2$ while the score it averages to is of order one, so the
# denoising objective is a very noisy teacher exactly where the data's detail lives.
#
# **Annealed Langevin dynamics** (Song & Ermon 2019, Algorithm 1): start from noise, run $T$ Langevin
# steps at each level from the largest $\sigma$ to the smallest, with step $\alpha_i = \epsilon\,\sigma_i^2/\sigma_L^2$;
# finally take one denoising step $x + \sigma_L^2 s_\theta(x, \sigma_L)$ (Tweedie's formula). The loop,
# written out and checked against the package with a few steps per level:

# %%
def my_annealed_langevin(model, n, steps_per_scale, generator):
    x = model.sigmas[0] * torch.randn(n, 2, generator=generator)
    with torch.no_grad():
        for sigma in model.sigmas.tolist():
            alpha = model.cfg.step_lr * sigma**2 / model.cfg.sigma_min**2
            for _ in range(steps_per_scale):
                x = x + alpha / 2 * model.score(x, sigma) + math.sqrt(alpha) * torch.randn(n, 2, generator=generator)
        return x + model.cfg.sigma_min**2 * model.score(x, model.cfg.sigma_min)


assert torch.allclose(my_annealed_langevin(ncsn, 64, 3, torch.Generator().manual_seed(8)),
                      ncsn.sample(64, torch.Generator().manual_seed(8), steps_per_scale=3), atol=1e-5)

# %% [markdown]
# Why anneal? Song & Ermon's example has two modes with weights 1/5 and 4/5, far apart. Langevin
# at the smallest noise level alone (1,000 steps of $\varepsilon = 0.01$ from uniform starts on
# $[-8, 8]^2$) lets each chain fall into the nearest mode, so the weights come out near 1/2 each; the
# large noise levels, where the two blurred modes overlap, are what move the right share of chains
# to each side.

# %%
n_s = 1000
steps_per_level = rt.pick(smoke=30, laptop=100, full=100)
with Stopwatch() as sw_sample:
    annealed = ncsn.sample(n_s, torch.Generator().manual_seed(9), steps_per_scale=steps_per_level)
plain_start = (uniform((n_s, 2), torch.Generator().manual_seed(10)) * 2 - 1) * 8
plain = langevin(plain_start, step_size=0.01, steps=1000, score=lambda x: ncsn.score(x, ncsn.cfg.sigma_min),  # a step suited to the modes' width
                 generator=torch.Generator().manual_seed(11), model=ncsn).x
exact_mix = truth.sample(n_s, torch.Generator().manual_seed(12))
share_annealed, share_plain = (annealed.sum(1) > 0).float().mean().item(), (plain.sum(1) > 0).float().mean().item()
mmd_annealed = mmd_permutation_test(annealed, exact_mix, permutations=perms, generator=torch.Generator().manual_seed(13))
print(f"share in the 4/5 mode: annealed {share_annealed:.3f}, plain Langevin at the smallest sigma {share_plain:.3f} (true 0.8)")
print(f"annealed samples vs exact ones: {mmd_annealed} ({sw_sample.seconds:.1f} s for {n_s} samples)")
fig, axes = plt.subplots(1, 3, figsize=(12, 4))
for ax, (name, pts) in zip(axes, {"exact samples (80 % in the upper mode)": exact_mix, f"annealed Langevin: {share_annealed:.0%}": annealed,
                                  f"Langevin at $\\sigma_L$ only: {share_plain:.0%}": plain}.items()):
    ax.scatter(pts[:, 0], pts[:, 1], s=3, alpha=0.5, c=OKABE_ITO[3])
    ax.set_title(name)
    plane(ax, 9)
fig.suptitle("Annealing over noise levels gets the weights of the modes right")
rt.save_figure(fig, "annealed_langevin")
assert abs(share_plain - 0.5) < abs(share_plain - 0.8), "without annealing the chains split by where they start"
rt.record("ncsn_share_big_mode_annealed", share_annealed, "fraction")
rt.record("ncsn_share_error_annealed", abs(share_annealed - 0.8), "fraction", at_most=0.05, budget="laptop")
rt.record("ncsn_annealed_mmd_p", mmd_annealed.p_value, "p")

# %% [markdown]
# **The bridge to diffusion.** A score network conditioned on a ladder of noise levels, trained by
# denoising, and sampled by walking down the ladder: that is a diffusion model. Notebook 08 makes the
# ladder a continuous-time noising process and replaces the Langevin steps at each level by steps of
# the reverse process; Song et al. (2021) showed that both are discretisations of one stochastic
# differential equation.
#
# ## More exercises
# 3. The Gibbs sampler of section 1 updates one spin at a time. Since the grid is bipartite (a
#    checkerboard), all "black" sites are independent given the "white" ones: write a sweep that
#    updates each colour in one vectorised step, and check the marginals against the exact ones.
# 4. Train the 2-D EBM of section 3 again with ten times fewer Langevin steps per update. Do the
#    buffer's samples still look right? Does the normalised density?
# 5. Why does AIS tend to *underestimate* $\log Z$ (Jensen's inequality on $\log \overline{w}$)? Run it
#    with 100, 1,000 and 10,000 temperatures on the RBM and watch the error shrink.

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution 5: E[w] = Z / Z0, so E[log mean(w)] <= log E[mean(w)] = log(Z / Z0): AIS is low in expectation,
# and the gap closes as more temperatures make the weights less variable.
for k in (100, 1000):
    est = rbm.ais_log_partition(num_betas=k, chains=100, base_bias=torch.logit(marginals).to(dev), generator=torch.Generator(device=dev).manual_seed(0))
    print(f"{k:5d} temperatures: log Z error {est.log_z - log_Z_rbm:+.3f} nats (s.e. of the estimate {est.std_error:.3f})")

# %% [markdown]
# ## Summary
# - An EBM is any energy $E_\theta(x)$ with $p \propto e^{-E_\theta}$; the price is $Z$, a sum over $K^D$
#   configurations. We computed it exactly for 65,536 Ising states (and checked Gibbs sampling against
#   every marginal) and by quadrature for a 2-D banana ($Z = 2\pi a s$ to $10^{-6}$).
# - Langevin dynamics samples with the score alone; a permutation MMD test shows the chains reach the
#   target (the start is rejected, the chains after enough steps are not), but unadjusted Langevin is
#   biased and can diverge at large steps; MALA removes the bias.
# - Contrastive divergence trains an energy with the model's own samples: short-run Langevin chains
#   and a replay buffer give good-looking samples and an energy that detects outliers (AUROC near 1
#   against noise on the 8x8 digits), but the density they define can be badly wrong, as quadrature
#   shows in 2-D.
# - An RBM with few hidden units has an exact $\log Z$ over $2^H$ hidden states: an EBM with an
#   **exact test NLL** (≈ 147 nats with 20 hidden units at the laptop budget: below independent
#   pixels, ≈ 207, and notebook 01's mixture of 50 Bernoullis, above the autoregressive models of
#   notebook 03), exact samples, and a check on AIS. PCD beats CD-1.
# - Score matching learns $\nabla \log p$ without $Z$; denoising makes it a regression; annealing over
#   noise levels fixes the weights of distant modes: the road to diffusion models.
#
# ## References
# - G. E. Hinton. *Training Products of Experts by Minimizing Contrastive Divergence*, Neural Computation 2002.
# - T. Tieleman. *Training Restricted Boltzmann Machines using Approximations to the Likelihood Gradient*, ICML 2008 (PCD).
# - A. Hyvärinen. *Estimation of Non-Normalized Statistical Models by Score Matching*, JMLR 2005.
# - P. Vincent. *A Connection Between Score Matching and Denoising Autoencoders*, Neural Computation 2011.
# - Y. Song, S. Ermon. *Generative Modeling by Estimating Gradients of the Data Distribution*, NeurIPS 2019 (NCSN).
# - Y. Song, S. Ermon. *Improved Techniques for Training Score-Based Generative Models*, NeurIPS 2020 (the 1/σ output scaling, EMA).
# - Y. Du, I. Mordatch. *Implicit Generation and Modeling with Energy-Based Models*, NeurIPS 2019.
# - R. M. Neal. *Annealed Importance Sampling*, Statistics and Computing 2001.
# - R. Salakhutdinov, I. Murray. *On the Quantitative Analysis of Deep Belief Networks*, ICML 2008 (AIS for RBMs).
# - P. Smolensky. *Information Processing in Dynamical Systems: Foundations of Harmony Theory*, 1986 (the RBM).
# - G. O. Roberts, R. L. Tweedie. *Exponential Convergence of Langevin Distributions and their Discrete Approximations*, Bernoulli 1996 (ULA, MALA).
# - A. Gretton et al. *A Kernel Two-Sample Test*, JMLR 2012 (MMD).
# - E. Nijkamp, M. Hill, S.-C. Zhu, Y. N. Wu. *Learning Non-Convergent Non-Persistent Short-Run MCMC Toward Energy-Based Model*, NeurIPS 2019.
# - Y. Song et al. *Score-Based Generative Modeling through Stochastic Differential Equations*, ICLR 2021.
# - Y. LeCun et al. *A Tutorial on Energy-Based Learning*, 2006.
