# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 02 · Generative vs discriminative: Naive Bayes vs logistic regression
#
# To classify an email as spam you can model the email itself, $p(x, y)$, and ask *which class
# more likely generated it*; or you can model only the answer, $p(y \mid x)$. The first is a
# **generative** classifier, the second a **discriminative** one. This notebook puts the classic
# pair side by side, Bernoulli Naive Bayes and logistic regression, and measures what each buys.
#
# In this notebook you will learn
# - Bayes' rule as a classifier, and why Naive Bayes' posterior is a logistic regression in disguise;
# - to write both models in a few lines and check them against scikit-learn;
# - **double counting**: how Naive Bayes' independence assumption makes it overconfident, measured
#   with log loss and a reliability diagram;
# - **Ng & Jordan (2001)**: Naive Bayes learns faster, logistic regression ends lower, and when the
#   curves really cross (and one real data set where they do not);
# - what a generative model gives that a discriminative one cannot: classifying with a feature
#   missing, sampling a "typical spam", flagging an unusual email by its low $p(x)$.
#
# *Cost: about 30 seconds on a laptop CPU at the `smoke` budget, a few minutes at `laptop`
# (more random splits and training sizes in the learning curves).*

# %% [markdown]
# ## Setup

# %%
from functools import partial

import matplotlib.pyplot as plt
import numpy as np
import torch
from scipy.special import expit, logit, logsumexp
from sklearn.linear_model import LogisticRegression as SkLogisticRegression
from sklearn.naive_bayes import BernoulliNB

from course_utils import Stopwatch, present, setup
from course_utils.exercises import check
from course_utils.lessons.naive_bayes import (BernoulliNaiveBayes, LogisticRegression, breast_cancer_binarised,
                                              digits_binarised, expected_calibration_error, learning_curve, log_loss,
                                              plot_learning_curve, plot_reliability, render_email_posteriors,
                                              weak_duplicated_features)
from course_utils.lessons.spam import (VOCABULARY, SpamConfig, decode, encode, generate_emails, true_log_joint,
                                       true_posterior)
from course_utils.widgets import toggles

rt = setup("02_generative_vs_discriminative")

# %% [markdown]
# ## Two ways to classify
#
# A **discriminative** classifier models the conditional $p_\theta(y \mid x)$ directly and is fitted
# by maximising the *conditional* likelihood $\sum_i \log p_\theta(y_i \mid x_i)$.
#
# A **generative** classifier models the joint $p_\theta(x, y) = p_\theta(y)\, p_\theta(x \mid y)$,
# fitted by maximising the *joint* likelihood $\sum_i \log p_\theta(x_i, y_i)$, and classifies with
# Bayes' rule:
# $$p(y \mid x) = \frac{p(y)\, p(x \mid y)}{\sum_{y'} p(y')\, p(x \mid y')}, \qquad
# \hat y = \arg\max_y\; p(y)\, p(x \mid y),$$
# "the class that most likely generated this email". It has to model all of $x$ (here 17 words;
# in an image, every pixel) to answer a question about one bit, $y$. That is a cost (more to
# model, more to get wrong) and a gift (a density $p(x)$ to evaluate and sample from).
#
# ### The data: a spam corpus whose generating process we know
# `course_utils.lessons.spam` writes emails as 0/1 vectors over 17 words. Its process is documented in the
# module: the class is spam with probability 0.4; most words occur independently given the class;
# but `BANK` and `ACCOUNT` are two noisy copies of one hidden *money* topic, so they nearly always
# occur together. Because we wrote the process, we know the **true** posterior $p(\text{spam}\mid x)$
# exactly: the best any classifier could do.

# %%
cfg = SpamConfig()
x_train, y_train = generate_emails(2000, cfg, seed=1)
x_test, y_test = generate_emails(20000, cfg, seed=2)
print("vocabulary:", " ".join(VOCABULARY))
for i in range(4):
    print(f"{'spam' if y_train[i] else 'ham '}: {' '.join(decode(x_train[i]))}")
spam = x_test[y_test == 1]
both, either = (spam[:, 0] * spam[:, 1]).mean(), np.maximum(spam[:, 0], spam[:, 1]).mean()
print(f"in spam, BANK and ACCOUNT together in {both / either:.1%} of the emails that contain either")

# %%
assert x_train.shape == (2000, len(VOCABULARY)) and set(np.unique(x_train)) == {0.0, 1.0}
assert abs(y_test.mean() - cfg.spam_rate) < 0.01, "the class prior is the documented spam rate"
assert both / either > 0.9, "BANK and ACCOUNT nearly always co-occur in spam"

# %% [markdown]
# ## Bernoulli Naive Bayes
# Naive Bayes assumes the words are independent *given the class*:
# $$p(x, y = k) = \pi_k \prod_{j=1}^{D} \theta_{kj}^{x_j} (1 - \theta_{kj})^{1 - x_j}.$$
# The joint log-likelihood splits into one term per parameter, so maximum likelihood is counting:
# $\pi_k = N_k / N$ and $\theta_{kj} = N_{kj} / N_k$, the fraction of class-$k$ emails that contain
# word $j$. With $\alpha$ pseudo-counts per outcome (Laplace smoothing),
# $\theta_{kj} = (N_{kj} + \alpha) / (N_k + 2\alpha)$, so no word ever gets probability exactly 0.
#
# Its posterior log-odds is **linear** in $x$:
# $$\log \frac{p(y=1 \mid x)}{p(y=0 \mid x)} = \underbrace{\log\frac{\pi_1}{\pi_0} + \sum_j \log\frac{1-\theta_{1j}}{1-\theta_{0j}}}_{b} +
# \sum_j x_j \underbrace{\left[\log\frac{\theta_{1j}}{\theta_{0j}} - \log\frac{1-\theta_{1j}}{1-\theta_{0j}}\right]}_{w_j}.$$
# So $p(y = 1 \mid x) = \sigma(w^\top x + b)$: exactly the form of logistic regression. The two
# models share one family of classifiers and differ only in how they pick $w$ and $b$.
#
# Build it, then compare: the whole model (fit and posterior) in a few lines, against the package
# and scikit-learn, on the same emails.

# %%
def nb_fit(x, y, alpha=1.0):
    log_prior = np.log(np.bincount(y) / len(y))
    theta = np.stack([(x[y == k].sum(0) + alpha) / ((y == k).sum() + 2 * alpha) for k in (0, 1)])
    return log_prior, theta


def nb_posterior(x, log_prior, theta):
    joint = log_prior + x @ np.log(theta).T + (1 - x) @ np.log1p(-theta).T  # (N, 2): log p(x, y)
    return np.exp(joint - logsumexp(joint, axis=1, keepdims=True))


nb = BernoulliNaiveBayes(alpha=1.0).fit(x_train, y_train)
mine = nb_posterior(x_test, *nb_fit(x_train, y_train))
sk_nb = BernoulliNB(alpha=1.0).fit(x_train, y_train)
print("largest difference to the package:", np.abs(mine - nb.predict_proba(x_test)).max(),
      "| to scikit-learn:", np.abs(mine - sk_nb.predict_proba(x_test)).max())

# %%
assert np.allclose(mine, nb.predict_proba(x_test), atol=1e-10)
assert np.allclose(mine, sk_nb.predict_proba(x_test), atol=1e-10)
assert np.array_equal(nb.predict(x_test), sk_nb.predict(x_test))
w_nb, b_nb = nb.log_odds_weights()
assert np.allclose(expit(x_test @ w_nb + b_nb), mine[:, 1]), "Naive Bayes' posterior is a logistic function of x"

# %% [markdown]
# **Exercise: Naive Bayes as a logistic regression.** Write the weights $w$ and the bias $b$ of the
# log-odds from the fitted parameters, following the formula above. The checker compares them with
# the package's `log_odds_weights()`.

# %% tags=["exercise"]
def nb_log_odds(theta: np.ndarray, log_prior: np.ndarray) -> tuple[np.ndarray, float]:
    """theta (2, D): p(x_j = 1 | y = k); log_prior (2,): log p(y = k).
    Returns (w (D,), b) with log p(y=1|x) / p(y=0|x) = w . x + b."""
    raise NotImplementedError("your code here")


# %% jupyter={"source_hidden": true} tags=["solution"]
def nb_log_odds(theta: np.ndarray, log_prior: np.ndarray) -> tuple[np.ndarray, float]:
    absent = np.log1p(-theta[1]) - np.log1p(-theta[0])  # log (1 - theta_1j) / (1 - theta_0j)
    w = np.log(theta[1]) - np.log(theta[0]) - absent
    return w, log_prior[1] - log_prior[0] + absent.sum()


# %%
def package_log_odds(theta, log_prior):
    model = BernoulliNaiveBayes()
    model.theta, model.log_prior = theta, log_prior
    return model.log_odds_weights()


def as_tensors(fn):  # the checker compares tensors: wrap a function that returns NumPy values
    return lambda *args: tuple(torch.as_tensor(np.asarray(v, dtype=np.float64)) for v in fn(*args))


other = BernoulliNaiveBayes().fit(*generate_emails(200, cfg, seed=7))
check("Naive Bayes' log-odds weights", as_tensors(nb_log_odds), as_tensors(package_log_odds),
      cases=[(nb.theta, nb.log_prior), (other.theta, other.log_prior)])

# %% [markdown]
# ## Logistic regression
# Logistic regression takes the same form, $p(y=1 \mid x) = \sigma(w^\top x + b)$, and fits $w, b$ to
# the conditional likelihood, with an L2 penalty (scikit-learn's convention, $C$ the inverse strength):
# $$L(w, b) = -\sum_i \big[y_i \log p_i + (1 - y_i)\log(1 - p_i)\big] + \frac{\lVert w\rVert^2}{2C}, \qquad p_i = \sigma(w^\top x_i + b).$$
# There is no closed form, but $L$ is convex with gradient $\nabla L = X^\top(p - y) + w/C$ and
# Hessian $X^\top \operatorname{diag}(p(1-p))\, X + I/C$, so Newton's method converges in a handful
# of steps ($X$ has a column of ones for $b$, which is not penalised).

# %%
def lr_fit(x, y, C=1.0, steps=20):
    X = np.hstack([x, np.ones((len(x), 1))])
    P = np.diag([1 / C] * x.shape[1] + [0.0])  # the penalty skips the intercept
    w = np.zeros(X.shape[1])
    for _ in range(steps):  # Newton: w <- w - H^{-1} grad
        p = expit(X @ w)
        w -= np.linalg.solve((X.T * (p * (1 - p))) @ X + P, X.T @ (p - y) + P @ w)
    return w


w_mine = lr_fit(x_train, y_train)
lr = LogisticRegression(C=1.0).fit(x_train, y_train)
sk_lr = SkLogisticRegression(C=1.0, tol=1e-10, max_iter=10_000).fit(x_train, y_train)
p_mine = expit(x_test @ w_mine[:-1] + w_mine[-1])
print("largest difference to the package:", np.abs(p_mine - lr.predict_proba(x_test)[:, 1]).max(),
      "| to scikit-learn:", np.abs(p_mine - sk_lr.predict_proba(x_test)[:, 1]).max())

# %%
assert np.allclose(p_mine, lr.predict_proba(x_test)[:, 1], atol=1e-6)
assert np.allclose(p_mine, sk_lr.predict_proba(x_test)[:, 1], atol=1e-4)
assert (lr.predict(x_test) != sk_lr.predict(x_test)).mean() < 1e-3

# %% [markdown]
# ## Double counting
# `BANK` and `ACCOUNT` are two reports of one fact (the email is about money). Naive Bayes treats
# them as two independent witnesses and *adds* their log-likelihood ratios: each word gets about the
# weight the pair deserves, and the pair gets about twice it. Logistic regression is fitted to
# $p(y \mid x)$ itself: giving the pair twice its evidence would make its predictions on money emails
# worse, so it learns to *share* one piece of evidence between the two weights.
#
# Because the process is known, so is the truth: the evidence of "both words" relative to "neither" is
# $\log \frac{p(y=1 \mid B, A)}{p(y=0 \mid B, A)} - \log \frac{p(y=1 \mid \bar B, \bar A)}{p(y=0 \mid \bar B, \bar A)}$,
# the same for every email (the other words are independent of the pair given $y$).

# %%
def true_log_odds(words):
    joint = true_log_joint(encode(words)[None], cfg)[0]
    return joint[1] - joint[0]


true_pair = true_log_odds(["BANK", "ACCOUNT"]) - true_log_odds([])
pair_nb, pair_lr = w_nb[0] + w_nb[1], lr.coef[0] + lr.coef[1]
print(f"evidence of BANK + ACCOUNT: truth {true_pair:.2f} | Naive Bayes {pair_nb:.2f} ({w_nb[0]:.2f} + {w_nb[1]:.2f}) "
      f"| logistic regression {pair_lr:.2f} ({lr.coef[0]:.2f} + {lr.coef[1]:.2f})")

fig, ax = plt.subplots(figsize=(10, 3.4))
pos = np.arange(len(VOCABULARY))
ax.bar(pos - 0.2, w_nb, 0.4, label="Naive Bayes $w_j$")
ax.bar(pos + 0.2, lr.coef, 0.4, label="logistic regression $w_j$")
ax.set_xticks(pos, VOCABULARY, rotation=45, ha="right")
ax.set_ylabel("weight on the log-odds of spam")
ax.set_title(f"BANK + ACCOUNT carry {true_pair:.1f} nats of evidence: Naive Bayes gives each word about that much "
             f"(sum {pair_nb:.1f}), logistic regression shares it (sum {pair_lr:.1f})", fontsize=9)
ax.legend()
rt.save_figure(fig, "weights")

# %%
assert pair_nb > 1.5 * true_pair, "Naive Bayes counts the pair's evidence about twice"
assert abs(pair_lr - true_pair) < 0.25 * true_pair, "logistic regression's two weights add up to the truth"
assert min(w_nb[0], w_nb[1]) > 0.75 * true_pair, "each word alone gets about the whole pair's evidence"
rt.record("pair_evidence_true", true_pair, "nats")
rt.record("pair_evidence_naive_bayes", pair_nb, "nats")
rt.record("pair_evidence_logistic_regression", pair_lr, "nats")

# %% [markdown]
# ## Widget: write an email
# Click words to put them in the email, click again to take them out; both posteriors update side by
# side, next to the true one. Every word you leave out is *absent*, and absence is evidence too: the
# last bar collects the prior and all the absent words.
#
# Start from the empty email, then click `BANK`, then `ACCOUNT`. All three posteriors rise at both
# clicks, but not by the same amount: each click adds about 2.6 nats to Naive Bayes' log-odds, which
# treats each word as a full witness, and about 1.4 to the truth's. After the two clicks Naive Bayes
# has counted the pair's evidence about twice; logistic regression (steps of about 1.1 and 2.0) ends
# near the truth.

# %%
render = partial(render_email_posteriors, nb=nb, lr=lr, vocabulary=VOCABULARY, truth=partial(true_posterior, cfg=cfg))
present(render, words=toggles(VOCABULARY, description="words in the email:"));

# %%
clicks = np.stack([encode(words) for words in ([], ["BANK"], ["BANK", "ACCOUNT"])])
posterior = {"truth": true_posterior(clicks, cfg), "Naive Bayes": nb.predict_proba(clicks)[:, 1],
             "logistic regression": lr.predict_proba(clicks)[:, 1]}
steps = {name: np.diff(logit(p)) for name, p in posterior.items()}  # log-odds added by each click
for name, p in posterior.items():
    print(f"{name:20s} p(spam): {p[0]:.3f} -> {p[1]:.3f} -> {p[2]:.3f} | log-odds steps {steps[name].round(2)}")
assert all(np.all(np.diff(p) > 0.1) for p in posterior.values()), "all three rise at both clicks"
assert np.all(steps["Naive Bayes"] > 1.5 * steps["truth"]), "each of Naive Bayes' steps is much larger than the truth's"
assert abs(steps["logistic regression"].sum() - steps["truth"].sum()) < 0.25 * steps["truth"].sum(), "logistic regression's two add up to the truth's"
for words in [(), ("MEETING", "ATTACHED", "BANK", "ACCOUNT")]:
    fig = render(words=words)  # every email renders without a front end
    assert len(fig.axes) == 2
    plt.close(fig)

# %% [markdown]
# ## Calibration: overconfidence, measured
# A classifier is **calibrated** if, among the emails it gives $p(\text{spam}) \approx 0.8$, about 80 %
# are spam. Two measures: the **log loss** $-\frac1N \sum_i \log p(y_i \mid x_i)$ (in nats; the true
# posterior reaches the lowest possible value), and the **reliability diagram**, the observed fraction
# of spam against the predicted probability, in bins; the expected calibration error (ECE) is the
# count-weighted mean gap to the diagonal.

# %%
probs = {"Naive Bayes": nb.predict_proba(x_test)[:, 1], "logistic regression": lr.predict_proba(x_test)[:, 1],
         "true posterior": true_posterior(x_test, cfg)}
scores = {name: (log_loss(p, y_test), expected_calibration_error(p, y_test), np.mean((p > 0.5) != y_test))
          for name, p in probs.items()}
for name, (ll, ece, err) in scores.items():
    print(f"{name:20s} log loss {ll:.4f} nats | ECE {ece:.4f} | error {err:.4f}")
    rt.record(f"spam_log_loss_{name.replace(' ', '_')}", ll, "nats")
fig = plot_reliability(probs, y_test, title="Naive Bayes is overconfident: its points bend away from the diagonal")
rt.save_figure(fig, "reliability")

# %%
ll = {name: s[0] for name, s in scores.items()}
assert ll["true posterior"] < ll["logistic regression"] < ll["Naive Bayes"]
assert ll["Naive Bayes"] - ll["logistic regression"] > 0.01, "double counting costs Naive Bayes log loss"
assert scores["Naive Bayes"][1] > 1.5 * scores["logistic regression"][1], "and calibration"
money = (x_test[:, 0] == 1) & (x_test[:, 1] == 1)
conf = {name: np.abs(np.log(p[money]) - np.log1p(-p[money])).mean() for name, p in probs.items()}
assert conf["Naive Bayes"] > conf["true posterior"] + 0.5, "on money emails Naive Bayes is more confident than the truth"

# %% [markdown]
# ## Ng & Jordan: who learns faster, who ends lower
# Both models pick a linear classifier; which one picks a better one depends on the amount of data.
# Ng & Jordan (2001) proved that with $D$ features
# - **Naive Bayes** reaches its asymptotic error with $O(\log D)$ examples: each $\theta_{kj}$ is an
#   average estimated on its own, and all $D$ are accurate at once after a few examples;
# - **logistic regression** needs $O(D)$ examples: its weights are fitted jointly, and with fewer
#   examples than features it can fit noise (separate the training set perfectly);
# - but the discriminative classifier's asymptotic error is **never higher**: it picks the member
#   of the shared family that fits $p(y \mid x)$ best (Ng & Jordan prove it for the one with the
#   lowest training error; logistic regression minimises a smooth surrogate of that error), while
#   Naive Bayes converges to the wrong member whenever its independence assumption is false.
#
# So Naive Bayes should be ahead with few examples and logistic regression with many, *if* Naive
# Bayes' assumption is wrong enough to cost it something. The runner below draws, for each training
# size $m$, random training sets (every class present at least once), tests on all the other
# examples, and fits both models on the same splits: lines are the mean test error, bands ± one
# standard deviation over the splits.
#
# Three data sets: the synthetic one from `weak_duplicated_features` (15 weakly informative features,
# the first repeated 5 more times, 30 coin flips), scikit-learn's breast-cancer set with each of its
# 30 features thresholded at the median, and the 8x8 digits with pixels thresholded at 8 of 16
# (10 classes: softmax regression against multi-class Naive Bayes). The breast-cancer set gets more
# splits (150) because its gap at small $m$ is small next to the spread between splits.

# %%
classifiers = {"Naive Bayes": lambda: BernoulliNaiveBayes(alpha=1.0), "logistic regression": lambda: LogisticRegression(C=1.0)}
sizes_synthetic = rt.pick(smoke=[6, 10, 30, 100, 300], laptop=[6, 10, 20, 30, 50, 100, 300, 1000], full=[6, 10, 20, 30, 50, 100, 300, 1000])
sizes_cancer = rt.pick(smoke=[6, 10, 20, 50, 300], laptop=[6, 10, 20, 30, 50, 100, 200, 400], full=[6, 10, 20, 30, 50, 100, 200, 400])
sizes_digits = rt.pick(smoke=[20, 50, 150], laptop=[20, 50, 100, 200, 500, 1000], full=[20, 50, 100, 200, 500, 1000, 1500])
setups = {  # name: (data, training sizes, number of random splits)
    "synthetic": (weak_duplicated_features(3000, seed=rt.seed), sizes_synthetic, 30),
    "breast cancer": (breast_cancer_binarised(), sizes_cancer, rt.pick(smoke=150, laptop=200, full=300)),
    "digits": (digits_binarised(), sizes_digits, 30),
}
curves = {}
for name, ((x, y), sizes, splits) in setups.items():
    with Stopwatch() as sw:
        curves[name] = learning_curve(x, y, sizes, classifiers, n_splits=splits, seed=rt.seed, max_test=1000, title=name)
    print(f"{name}: {len(sizes)} sizes x {splits} splits in {sw.seconds:.1f} s")
    rt.record(f"learning_curve_seconds_{name.replace(' ', '_')}", sw.seconds, "s")

# %%
fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
titles = {"synthetic": "Synthetic (duplicated weak features): the curves cross",
          "breast cancer": "Breast cancer, binarised: Naive Bayes ahead only below m = 20",
          "digits": "8x8 digits, binarised: logistic regression wins at every m"}
for ax, (name, curve) in zip(axes, curves.items()):
    plot_learning_curve(curve, ax)
    ax.set_title(titles[name], fontsize=9)
rt.save_figure(fig, "learning_curves")
for name, curve in curves.items():
    gap, se = curve.gap("Naive Bayes", "logistic regression")
    print(f"{name:14s} NB - LR error by m: " + "  ".join(f"{m}: {g:+.3f}±{s:.3f}" for m, g, s in zip(curve.sizes, gap, se)))

# %% [markdown]
# The asserts check each claim with the paired difference of errors (Naive Bayes minus logistic
# regression, same splits) and its standard error over splits:

# %%
def gap_at(name, i):
    gap, se = curves[name].gap("Naive Bayes", "logistic regression")
    return gap[i], se[i]


for name in ("synthetic", "breast cancer"):
    (g0, s0), (g1, s1) = gap_at(name, 0), gap_at(name, -1)
    assert g0 < -2 * s0, f"{name}: Naive Bayes is ahead at the smallest size"
    assert g1 > 3 * s1, f"{name}: logistic regression is ahead at the largest size"
    rt.record(f"nb_minus_lr_error_smallest_m_{name.replace(' ', '_')}", g0, "")
    rt.record(f"nb_minus_lr_error_largest_m_{name.replace(' ', '_')}", g1, "")
assert gap_at("synthetic", -1)[0] > 0.05, "synthetic: the asymptotic gap is large"
digit_gaps = [gap_at("digits", i) for i in range(len(curves["digits"].sizes))]
assert all(g > 2 * s for g, s in digit_gaps), "digits: logistic regression wins at every size"
rt.record("nb_minus_lr_error_smallest_m_digits", digit_gaps[0][0], "")

# %% [markdown]
# **What decides it.** Naive Bayes' head start is a property of the *estimator* (few parameters
# estimated independently); logistic regression's lower floor is a property of the *model being
# wrong*. The crossover needs both: enough features and few enough examples for logistic
# regression's variance to show, and a real violation of conditional independence for Naive Bayes'
# bias to show.
# - *Synthetic*: 30 useless features make logistic regression's small-sample variance large, and the
#   feature repeated six times gives Naive Bayes a large bias (it counts that feature six times).
# - *Breast cancer*: the binarised features are strongly correlated (radius, perimeter and area say
#   the same thing), so Naive Bayes double counts; but they are also very informative, so logistic
#   regression (regularised with $C = 1$) catches up within ten or twenty examples. Exactly where
#   the curves cross depends on logistic regression's regularisation and on how the tiny training
#   sets are drawn (here every class appears at least once); other set-ups place it nearer
#   $m \approx 50$.
# - *Digits*: 10 classes and many pixels that are nearly deterministic given the class; the
#   dependence between neighbouring pixels costs Naive Bayes at every size, and even at 20 examples
#   regularised logistic regression's variance is the smaller problem. Honest learning curves come
#   in all three shapes.

# %% [markdown]
# ## What only the generative model can do
# Naive Bayes is a density model of the emails themselves, $p(x) = \sum_y p(x, y)$, exact and cheap.
# Logistic regression has no $p(x)$ at all. Three things follow.
#
# **It is a normalised density.** On this 17-word vocabulary we can list all $2^{17}$ emails and
# check that the probabilities sum to 1.

# %%
all_emails = ((np.arange(2**17)[:, None] >> np.arange(17)) & 1).astype(np.float64)  # (131072, 17)
total = np.exp(nb.log_prob(all_emails)).sum()
print(f"sum over all 2^17 emails of p(x) = {total:.12f}")
assert abs(total - 1) < 1e-9

# %% [markdown]
# **Classify with a feature missing.** If word $j$ was not observed (a damaged message, a field left
# blank), the generative model marginalises it:
# $p(x_{-j}, y) = \sum_{x_j \in \{0,1\}} p(x, y)$, and since $\sum_{x_j} p(x_j \mid y) = 1$, its factor
# simply drops out of the product. A discriminative model must *impute* the value instead: set it to 0
# ("absent"), or to its mean. Below, each word of each test email is hidden with probability 1/2.

# %%
hide = np.random.default_rng(rt.seed).random(x_test.shape) < 0.5
seen = (~hide).astype(np.float64)
x0, x1 = x_test.copy(), x_test.copy()
x0[:, 0], x1[:, 0] = 0, 1  # brute force for BANK: sum p(x, y) over its two values
brute = np.logaddexp(nb.joint_log_prob(x0), nb.joint_log_prob(x1))
assert np.allclose(brute, nb.joint_log_prob(x_test, observed=np.r_[0.0, np.ones(16)])), "marginalising = dropping the factor"

p_missing = {"Naive Bayes, marginalised": nb.predict_proba(x_test, observed=seen)[:, 1],
             "logistic regression, missing = 0": lr.predict_proba(x_test * seen)[:, 1],
             "logistic regression, missing = mean": lr.predict_proba(x_test * seen + hide * x_train.mean(0))[:, 1]}
ll_missing = {name: log_loss(p, y_test) for name, p in p_missing.items()}
for name, value in ll_missing.items():
    print(f"{name:38s} log loss {value:.4f} nats | error {np.mean((p_missing[name] > 0.5) != y_test):.4f}")

# %%
nb_ll, lr0_ll, lrm_ll = ll_missing.values()
assert nb_ll < lr0_ll - 0.03, "marginalising beats treating a missing word as absent"
assert nb_ll < lrm_ll + 0.01, "and is at least as good as mean imputation, a heuristic with no derivation"
rt.record("missing_half_log_loss_naive_bayes", nb_ll, "nats")
rt.record("missing_half_log_loss_lr_zero_imputed", lr0_ll, "nats")

# %% [markdown]
# **Sample a typical spam.** Draw $x \sim p(x \mid y = \text{spam})$: each word independently with
# probability $\theta_{1j}$. The samples look like spam word by word, and they also show the
# assumption: in Naive Bayes' spam, `BANK` without `ACCOUNT` is common; in real spam it is rare.

# %%
samples, _ = nb.sample(20000, y=1, generator=rt.seed)
for row in samples[:6]:
    print("spam sample:", " ".join(decode(row)) or "(no words)")
odd_nb = (samples[:, 0] != samples[:, 1]).mean()
odd_real = (spam[:, 0] != spam[:, 1]).mean()
print(f"exactly one of BANK / ACCOUNT: {odd_nb:.1%} of Naive Bayes' spam, {odd_real:.1%} of real spam")

# %%
assert np.abs(samples.mean(0) - nb.theta[1]).max() < 0.02, "each word occurs with its fitted probability"
assert odd_nb > 5 * odd_real, "Naive Bayes' samples break the BANK-ACCOUNT pairing"

# %% [markdown]
# **Flag an unusual email by its low $p(x)$.** An email that mixes the vocabulary of both classes is
# unlikely under either, so $\log p(x) = \log \sum_y p(x, y)$ is low: a simple outlier detector,
# with no labels needed. A classifier would still give it a confident $p(y \mid x)$.

# %%
odd = encode("MEETING PROJECT REPORT LUNCH FREE WINNER PRIZE CLICK".split())[None]
log_px = nb.log_prob(x_test)
fig, ax = plt.subplots(figsize=(7, 3.2))
ax.hist(log_px, bins=50, label="test emails")
ax.axvline(nb.log_prob(odd)[0], color="C3", lw=2, label="MEETING PROJECT REPORT LUNCH FREE WINNER PRIZE CLICK")
ax.set_xlabel("log p(x) under Naive Bayes (nats)")
ax.set_ylabel("emails")
ax.set_title("The mixed email is less likely than every test email")
ax.legend(fontsize=8)
rt.save_figure(fig, "outlier")
print(f"log p(odd email) = {nb.log_prob(odd)[0]:.1f} nats; 1st percentile of test emails {np.percentile(log_px, 1):.1f};"
      f" its p(spam | x) = {lr.predict_proba(odd)[0, 1]:.2f} (logistic regression)")

# %%
assert nb.log_prob(odd)[0] < log_px.min(), "the mixed email is the least likely of 20,000"
assert true_log_joint(odd, cfg).max() < np.percentile(log_px, 1), "and the true process agrees it is rare"
assert max(lr.predict_proba(odd)[0]) > 0.8, "yet the classifier is confident about it"

# %% [markdown]
# ## Exercises
# 1. **More copies, more double counting.** Append two more copies of the `BANK` column to the
#    spam data (three identical columns). What happens to Naive Bayes' log-odds for an email that
#    contains `BANK`, and to logistic regression's? (Compare the sum of the three weights with the
#    one weight of a single column.)
# 2. **Why smoothing.** Fit Naive Bayes with $\alpha = 10^{-9}$ on only 50 training emails. Compute
#    the test log loss and compare with $\alpha = 1$. Why is it so much worse?
# 3. **When Naive Bayes' assumption holds.** Generate the synthetic data with `copies=0` (no
#    duplicated feature: the features really are independent given $y$). Do the learning curves
#    still cross? Run sizes 10 and 300 with 30 splits.
#
# Solutions are in the hidden cells below; they run as part of the tests.

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution 1: Naive Bayes adds one more copy of BANK's evidence per column: its total triples.
# Logistic regression spreads one weight evenly over the identical columns (the L2 penalty splits it);
# the total still moves by about 10 %, because three equal weights that sum to s cost 3 (s/3)^2 = s^2/3 in the
# L2 penalty, a third of what one weight s costs (without the penalty the total would not move at all).
def with_copies(x, k):
    return np.hstack([x, np.repeat(x[:, :1], k, axis=1)])


nb3 = BernoulliNaiveBayes().fit(with_copies(x_train, 2), y_train)
lr3 = LogisticRegression().fit(with_copies(x_train, 2), y_train)
w3 = nb3.log_odds_weights()[0]
bank_nb, bank_lr = w3[[0, -2, -1]].sum(), lr3.coef[[0, -2, -1]].sum()
print(f"weight of BANK x3: Naive Bayes {bank_nb:.2f} (one column: {w_nb[0]:.2f}); "
      f"logistic regression {bank_lr:.2f} (one column: {lr.coef[0]:.2f})")
assert np.isclose(bank_nb, 3 * w_nb[0]), "Naive Bayes triples the evidence"
assert abs(bank_lr / lr.coef[0] - 1) < 0.2, "logistic regression's total changes by less than 20 % (Naive Bayes': 200 %)"
assert np.allclose(lr3.coef[[0, -2, -1]], lr3.coef[0], atol=1e-3), "and is split evenly between the copies"

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution 2: a word never seen in ham among 50 emails gets theta ~ 1e-9 / 30 there, so one occurrence
# makes p(x | ham) almost 0 and the posterior almost exactly 1: each ham email containing that word
# costs about -log(3e-11) = 24 nats. Smoothing is a prior that says no word is impossible.
small_x, small_y = x_train[:50], y_train[:50]
ll_alpha = {a: log_loss(BernoulliNaiveBayes(alpha=a).fit(small_x, small_y).predict_proba(x_test)[:, 1], y_test)
            for a in (1e-9, 1.0)}
print("test log loss on 50 training emails:", {a: round(v, 3) for a, v in ll_alpha.items()})
assert ll_alpha[1e-9] > 2 * ll_alpha[1.0]

# %% jupyter={"source_hidden": true} tags=["solution"]
# Solution 3: with independent features Naive Bayes is the true model, so its asymptotic error is as
# low as logistic regression's, and it keeps its head start: the curves no longer cross.
x_ind, y_ind = weak_duplicated_features(3000, seed=rt.seed, copies=0)
curve_ind = learning_curve(x_ind, y_ind, [10, 300], classifiers, n_splits=30, seed=rt.seed, max_test=1000)
gap_ind, se_ind = curve_ind.gap("Naive Bayes", "logistic regression")
print("NB - LR error at m = 10, 300:", gap_ind.round(3), "±", se_ind.round(3))
assert gap_ind[0] < 0 and gap_ind[1] < 0.01, "no crossover when the independence assumption holds"

# %% [markdown]
# ## Summary
# - A generative classifier models $p(x, y)$ and classifies by Bayes' rule; a discriminative one
#   models $p(y \mid x)$. Bernoulli Naive Bayes and logistic regression are such a pair: the same
#   family of linear classifiers, fitted to the joint or to the conditional likelihood.
# - Naive Bayes' independence assumption double counts correlated evidence (`BANK`, `ACCOUNT`):
#   its predictions are overconfident, with a higher log loss and a reliability curve off the
#   diagonal. Logistic regression shares the weight and is close to the true posterior.
# - Naive Bayes learns faster (few, separately estimated parameters); logistic regression ends lower
#   when the assumption is wrong. Whether the curves cross in a given data set depends on how many
#   features there are, how informative and how dependent: we saw a crossover, an early one, and
#   none.
# - The generative model is a density: it marginalises missing features exactly, samples data, and
#   scores how unusual an input is. Every later notebook builds a far richer $p(x)$.
#
# ## References
# - A. Y. Ng, M. I. Jordan. *On Discriminative vs. Generative Classifiers: A comparison of logistic
#   regression and naive Bayes*, NeurIPS 2001.
# - T. M. Mitchell. *Generative and Discriminative Classifiers: Naive Bayes and Logistic Regression*,
#   draft chapter of *Machine Learning*, 2nd ed., 2017.
# - A. McCallum, K. Nigam. *A comparison of event models for naive Bayes text classification*, AAAI
#   workshop 1998 (the Bernoulli event model used here).
# - C. Guo, G. Pleiss, Y. Sun, K. Q. Weinberger. *On Calibration of Modern Neural Networks*, ICML 2017
#   (reliability diagrams and the expected calibration error).
# - K. P. Murphy. *Probabilistic Machine Learning: An Introduction*, MIT Press 2022, chapters 9–10.
