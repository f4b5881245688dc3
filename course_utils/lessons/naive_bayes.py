"""A generative-discriminative pair: Bernoulli Naive Bayes and logistic regression, written plainly.

Notebook 02 compares them the way Ng & Jordan (2001) did. Both end up with a posterior that is
a softmax of a linear function of ``x``; they differ in how they *fit* it:

- **Naive Bayes** models the joint ``p(x, y) = p(y) prod_j p(x_j | y)`` and fits it by maximum
  likelihood, in closed form (smoothed counts). It is a generative model: it can evaluate
  ``log p(x)``, sample emails, and classify with features missing by marginalising them.
- **Logistic regression** models only ``p(y | x) = softmax(W^T x + b)`` and fits it by maximising
  the conditional likelihood (with an L2 penalty), iteratively.

Both are in NumPy: these are scikit-learn-sized problems (tens of features, hundreds of
examples) and the notebook checks them against scikit-learn's ``BernoulliNB`` and
``LogisticRegression``, whose conventions they follow (``alpha``, ``C``).

Also here: the learning-curve runner (test error vs training-set size over random splits), the
data sets of the learning curves, calibration helpers (log loss, reliability diagram) and the
widget's render function.

| symbol | code | meaning |
|---|---|---|
| ``pi_k`` | ``log_prior`` | class prior ``p(y = k)`` |
| ``theta_kj`` | ``theta`` | ``p(x_j = 1 | y = k)`` |
| ``alpha`` | ``alpha`` | Laplace smoothing (pseudo-counts per outcome) |
| ``W, b`` | ``coef, intercept`` | logistic-regression weights (D, K) or (D,) for two classes |
| ``C`` | ``C`` | inverse L2 strength: minimise ``sum_i -log p(y_i|x_i) + ||W||^2 / (2C)`` |
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Protocol, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter
from scipy.optimize import minimize
from scipy.special import expit, log_expit
from threadpoolctl import threadpool_limits

from ..plotting import OKABE_ITO


def logsumexp(a: np.ndarray, axis: int = -1, keepdims: bool = False) -> np.ndarray:
    """``log sum exp`` along ``axis``, stable (NumPy; several times faster than SciPy's on small arrays)."""
    m = np.max(a, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):  # an all -inf slice gives -inf, as it should
        out = m + np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True))
    return out if keepdims else np.squeeze(out, axis=axis)


def _check_xy(x: np.ndarray, y: np.ndarray | None = None, *, binary: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"x must be shaped (N, D); got {x.shape}.")
    if binary and not np.isin(x, (0.0, 1.0)).all():
        raise ValueError("x must hold only 0 and 1 (binary features).")
    if y is None:
        return x, None
    y = np.asarray(y)
    if y.shape != (x.shape[0],) or not np.issubdtype(y.dtype, np.integer) or (y < 0).any():
        raise ValueError(f"y must be non-negative integer labels shaped ({x.shape[0]},); got {y.dtype} {y.shape}.")
    return x, y.astype(np.int64)


# --------------------------------------------------------------------------- Naive Bayes
class BernoulliNaiveBayes:
    """Bernoulli Naive Bayes: ``p(x, y=k) = pi_k prod_j theta_kj^x_j (1 - theta_kj)^(1 - x_j)``.

    Maximum likelihood with ``alpha`` pseudo-counts per outcome:
    ``theta_kj = (N_kj + alpha) / (N_k + 2 alpha)`` and ``pi_k = N_k / N`` (scikit-learn's
    ``BernoulliNB`` with the same ``alpha``). A class absent from the training set gets
    ``pi_k = 0``: it is never predicted.
    """

    def __init__(self, alpha: float = 1.0) -> None:
        if alpha <= 0:
            raise ValueError(f"alpha must be positive (it keeps every log-probability finite); got {alpha}.")
        self.alpha = alpha

    def fit(self, x: np.ndarray, y: np.ndarray, n_classes: int | None = None) -> "BernoulliNaiveBayes":
        """Closed-form fit on ``x`` (N, D) 0/1 and ``y`` (N,) labels in ``0..n_classes-1``."""
        x, y = _check_xy(x, y)
        k = int(n_classes if n_classes is not None else y.max() + 1)
        onehot = np.eye(k)[y]  # (N, K)
        counts = onehot.sum(0)  # (K,)  N_k
        self.theta = (onehot.T @ x + self.alpha) / (counts[:, None] + 2 * self.alpha)  # (K, D)
        with np.errstate(divide="ignore"):
            self.log_prior = np.log(counts / counts.sum())  # (K,)
        return self

    @property
    def n_classes(self) -> int:
        return self.theta.shape[0]

    def _observed(self, x: np.ndarray, observed: np.ndarray | None) -> np.ndarray:
        if observed is None:
            return np.ones_like(x)
        mask = np.broadcast_to(np.asarray(observed, dtype=np.float64), x.shape)
        return mask

    def joint_log_prob(self, x: np.ndarray, observed: np.ndarray | None = None) -> np.ndarray:
        """``log p(x_obs, y = k)``, shape (N, K). ``observed`` (D,) or (N, D), 1 where seen.

        A missing feature is *marginalised*: summing ``p(x_j | y)`` over ``x_j in {0, 1}`` gives
        1, so its factor simply drops out of the product.
        """
        x, _ = _check_xy(x, binary=False)
        if x.shape[1] != self.theta.shape[1]:
            raise ValueError(f"x has {x.shape[1]} features; the model was fitted on {self.theta.shape[1]}.")
        m = self._observed(x, observed)
        log_px = (m * x) @ np.log(self.theta).T + (m * (1 - x)) @ np.log1p(-self.theta).T  # (N, K)
        return log_px + self.log_prior

    def predict_proba(self, x: np.ndarray, observed: np.ndarray | None = None) -> np.ndarray:
        """``p(y = k | x_obs)`` by Bayes' rule, shape (N, K)."""
        joint = self.joint_log_prob(x, observed)
        return np.exp(joint - logsumexp(joint, axis=1, keepdims=True))

    def predict(self, x: np.ndarray, observed: np.ndarray | None = None) -> np.ndarray:
        """The class that most likely generated each row: ``argmax_k p(x, y = k)``, shape (N,)."""
        return self.joint_log_prob(x, observed).argmax(1)

    def log_prob(self, x: np.ndarray, observed: np.ndarray | None = None) -> np.ndarray:
        """Exact marginal ``log p(x_obs) = log sum_k p(x_obs, y = k)`` in nats, shape (N,)."""
        return logsumexp(self.joint_log_prob(x, observed), axis=1)

    def sample(self, n: int, y: int | None = None, generator: np.random.Generator | int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``n`` draws from ``p(x, y)`` (or from ``p(x | y)`` if ``y`` is given): (x (n, D), y (n,))."""
        if n < 1:
            raise ValueError(f"n must be positive; got {n}.")
        rng = np.random.default_rng(generator)
        if y is None:
            labels = rng.choice(self.n_classes, size=n, p=np.exp(self.log_prior))
        elif 0 <= y < self.n_classes:
            labels = np.full(n, y, dtype=np.int64)
        else:
            raise ValueError(f"y must be a class in 0..{self.n_classes - 1}; got {y}.")
        x = (rng.random((n, self.theta.shape[1])) < self.theta[labels]).astype(np.float64)
        return x, labels

    def log_odds_weights(self) -> tuple[np.ndarray, float]:
        """Two classes only: ``log p(y=1|x) / p(y=0|x) = w . x + b``; returns ``(w (D,), b)``.

        ``w_j = log [theta_1j / theta_0j] - log [(1 - theta_1j) / (1 - theta_0j)]``: the evidence
        one present word adds, relative to its absence.
        """
        if self.n_classes != 2:
            raise ValueError("log_odds_weights is defined for two classes.")
        t0, t1 = self.theta
        w = np.log(t1 / t0) - np.log((1 - t1) / (1 - t0))
        b = float(self.log_prior[1] - self.log_prior[0] + np.log((1 - t1) / (1 - t0)).sum())
        return w, b


# --------------------------------------------------------------------------- logistic regression
class LogisticRegression:
    """L2-penalised logistic (two classes) or softmax (more) regression, fitted by L-BFGS.

    Minimises ``sum_i -log p(y_i | x_i) + ||W||^2 / (2 C)`` (intercept not penalised), the
    objective of scikit-learn's ``LogisticRegression(C=C)``. Two classes use one weight vector,
    ``p(y=1|x) = sigmoid(w . x + b)``, fitted by Newton's method; more use a softmax over
    ``x W + b``, fitted by L-BFGS. ``tol`` bounds the largest gradient entry of the mean objective.
    """

    def __init__(self, C: float = 1.0, max_iter: int = 500, tol: float = 1e-5) -> None:
        if C <= 0:
            raise ValueError(f"C must be positive; got {C}.")
        self.C, self.max_iter, self.tol = C, max_iter, tol

    def fit(self, x: np.ndarray, y: np.ndarray, n_classes: int | None = None) -> "LogisticRegression":
        """Fit on ``x`` (N, D) and ``y`` (N,) labels in ``0..n_classes-1`` (any real features)."""
        x, y = _check_xy(x, y, binary=False)
        k = int(n_classes if n_classes is not None else y.max() + 1)
        if k < 2:
            raise ValueError("Logistic regression needs at least two classes.")
        x1 = np.hstack([x, np.ones((x.shape[0], 1))])  # (N, D + 1): the last weight is the intercept
        penalty = np.ones(x1.shape[1]) / self.C
        penalty[-1] = 0.0  # no penalty on the intercept
        w = self._newton(x1, y.astype(np.float64), penalty) if k == 2 else self._lbfgs(x1, np.eye(k)[y], penalty)
        self.coef, self.intercept = w[:-1], w[-1]
        self.n_classes_ = k
        return self

    def _newton(self, x1: np.ndarray, y: np.ndarray, penalty: np.ndarray) -> np.ndarray:
        """Two classes: Newton's method (iteratively reweighted least squares), with step halving.

        gradient ``X^T (sigmoid(Xw) - y) + P w``; Hessian ``X^T diag(p (1 - p)) X + P``.
        """
        def objective(w: np.ndarray) -> float:
            z = x1 @ w
            return float(-(y * log_expit(z) + (1 - y) * log_expit(-z)).sum() + 0.5 * (penalty * w**2).sum())

        w = np.zeros(x1.shape[1])
        f = objective(w)
        self.converged = False
        for _ in range(self.max_iter):
            p = expit(x1 @ w)
            grad = x1.T @ (p - y) + penalty * w
            if np.abs(grad).max() <= self.tol * len(y):
                self.converged = True
                break
            hess = (x1.T * (p * (1 - p))) @ x1 + np.diag(penalty + 1e-10)
            step = np.linalg.solve(hess, grad)
            t = 1.0
            while objective(w - t * step) > f and t > 1e-8:
                t /= 2
            w = w - t * step
            f = objective(w)
        return w

    def _lbfgs(self, x1: np.ndarray, target: np.ndarray, penalty: np.ndarray) -> np.ndarray:
        """More classes: L-BFGS on the mean of the objective (same minimiser, O(1) gradients)."""
        n, (d1, k) = len(target), (x1.shape[1], target.shape[1])

        def objective(flat: np.ndarray) -> tuple[float, np.ndarray]:
            w = flat.reshape(d1, k)
            z = x1 @ w  # (N, K) logits
            log_p = z - logsumexp(z, axis=1, keepdims=True)
            value = -(target * log_p).sum() + 0.5 * (penalty[:, None] * w**2).sum()
            grad = x1.T @ (np.exp(log_p) - target) + penalty[:, None] * w
            return value / n, grad.ravel() / n

        res = minimize(objective, np.zeros(d1 * k), jac=True, method="L-BFGS-B",
                       options={"maxiter": self.max_iter, "gtol": self.tol, "ftol": 1e-14})
        self.converged = bool(res.success)
        return res.x.reshape(d1, k)

    @property
    def n_classes(self) -> int:
        return self.n_classes_

    def decision_function(self, x: np.ndarray) -> np.ndarray:
        """Logits: (N,) log-odds for two classes, else (N, K)."""
        x, _ = _check_xy(x, binary=False)
        return x @ self.coef + self.intercept

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """``p(y = k | x)``, shape (N, K)."""
        z = self.decision_function(x)
        if self.n_classes == 2:
            p1 = expit(z)
            return np.stack([1 - p1, p1], axis=1)
        return np.exp(z - logsumexp(z, axis=1, keepdims=True))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Most probable class, shape (N,)."""
        return self.predict_proba(x).argmax(1)


class Classifier(Protocol):
    def fit(self, x: np.ndarray, y: np.ndarray, n_classes: int | None = None) -> "Classifier": ...
    def predict(self, x: np.ndarray) -> np.ndarray: ...


# --------------------------------------------------------------------------- data sets of the learning curves
def weak_duplicated_features(n: int, seed: int | np.random.Generator = 0, *, informative: int = 15, delta: float = 0.15,
                             copies: int = 5, noise: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic binary data on which Naive Bayes' assumption is wrong in one place.

    ``y ~ Bernoulli(1/2)``; ``informative`` weak features with ``p(x_j = 1 | y) = 1/2 +/- delta``,
    independent given ``y``; the first of them repeated ``copies`` more times (exact duplicates);
    ``noise`` features that are fair coins whatever ``y``. Returns ``x`` (n, informative + copies
    + noise) and ``y`` (n,). Naive Bayes counts the duplicated feature ``copies + 1`` times, which
    raises its asymptotic error; logistic regression can learn to share that weight, but has
    ``D + 1`` weights to estimate from few examples.
    """
    if n < 1 or not 0 < delta < 0.5:
        raise ValueError("n must be positive and delta in (0, 1/2).")
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.5).astype(np.int64)
    p = np.where(y[:, None] == 1, 0.5 + delta, 0.5 - delta)
    base = (rng.random((n, informative)) < p).astype(np.float64)
    dup = np.repeat(base[:, :1], copies, axis=1)
    coins = (rng.random((n, noise)) < 0.5).astype(np.float64)
    return np.hstack([base, dup, coins]), y


def breast_cancer_binarised() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's breast-cancer set (569 x 30), each feature thresholded at its median.

    ``x_j = 1`` if the feature exceeds its median over the whole set (an unsupervised step that
    uses no label). ``y``: 1 benign, 0 malignant.
    """
    from sklearn.datasets import load_breast_cancer

    x, y = load_breast_cancer(return_X_y=True)
    return (x > np.median(x, axis=0)).astype(np.float64), y.astype(np.int64)


def digits_binarised(threshold: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 8x8 digits as 64 binary pixels (grey level >= ``threshold`` of 16)."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return (x >= threshold).astype(np.float64), y.astype(np.int64)


# --------------------------------------------------------------------------- learning curves
@dataclass
class LearningCurve:
    """Test errors of several classifiers, ``errors[name]`` shaped (len(sizes), n_splits).

    Every classifier sees the *same* training and test sets at a given size and split, so their
    errors can be compared split by split (``gap``).
    """

    title: str
    sizes: np.ndarray
    errors: dict[str, np.ndarray] = field(default_factory=dict)

    def mean(self, name: str) -> np.ndarray:
        return self.errors[name].mean(1)

    def std(self, name: str) -> np.ndarray:
        return self.errors[name].std(1)

    def gap(self, first: str, second: str) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard error over splits of ``error[first] - error[second]``, per size."""
        diff = self.errors[first] - self.errors[second]
        return diff.mean(1), diff.std(1, ddof=1) / np.sqrt(diff.shape[1])


def draw_training_set(y: np.ndarray, m: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``m`` random examples in which every class appears at least once."""
    classes = np.unique(y)
    if m < len(classes) or m >= len(y):
        raise ValueError(f"m must be between the number of classes ({len(classes)}) and N - 1 ({len(y) - 1}); got {m}.")
    firsts = np.array([rng.choice(np.flatnonzero(y == c)) for c in classes])
    rest = rng.permutation(np.setdiff1d(np.arange(len(y)), firsts))[: m - len(classes)]
    return np.concatenate([firsts, rest])


def learning_curve(x: np.ndarray, y: np.ndarray, sizes: Sequence[int], classifiers: Mapping[str, Callable[[], Classifier]],
                   n_splits: int = 30, seed: int = 0, max_test: int | None = None, title: str = "") -> LearningCurve:
    """Test error vs training-set size, as in Ng & Jordan (2001).

    For each size ``m`` and each of ``n_splits`` random splits: draw ``m`` training examples
    (:func:`draw_training_set`), test on the others (at most ``max_test`` of them), and fit every
    classifier made by ``classifiers[name]()`` on the same split.
    """
    x, y = _check_xy(x, y, binary=False)
    if n_splits < 2:
        raise ValueError("n_splits must be at least 2 (the spread needs several splits).")
    k = int(y.max() + 1)
    rng = np.random.default_rng(seed)
    curve = LearningCurve(title, np.asarray(sizes), {name: np.zeros((len(sizes), n_splits)) for name in classifiers})
    # Small matrices: one BLAS thread is fastest, and several would compete with the notebook's own.
    with threadpool_limits(limits=1, user_api="blas"):
        _fill_curve(curve, x, y, k, classifiers, rng, max_test)
    return curve


def _fill_curve(curve: LearningCurve, x: np.ndarray, y: np.ndarray, k: int, classifiers: Mapping[str, Callable[[], Classifier]],
                rng: np.random.Generator, max_test: int | None) -> None:
    n_splits = next(iter(curve.errors.values())).shape[1]
    for i, m in enumerate(curve.sizes):
        for r in range(n_splits):
            train = draw_training_set(y, int(m), rng)
            test = np.setdiff1d(np.arange(len(y)), train)
            if max_test is not None and len(test) > max_test:
                test = rng.choice(test, max_test, replace=False)
            for name, make in classifiers.items():
                clf = make().fit(x[train], y[train], n_classes=k)
                curve.errors[name][i, r] = np.mean(clf.predict(x[test]) != y[test])


def plot_learning_curve(curve: LearningCurve, ax: plt.Axes | None = None) -> Figure:
    """Mean test error (line) and its spread over splits (band: +/- one standard deviation)."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 3.6))
    else:
        fig = ax.figure
    for colour, name in zip(OKABE_ITO, curve.errors):
        mean, std = curve.mean(name), curve.std(name)
        ax.plot(curve.sizes, mean, "o-", color=colour, label=f"{name} (mean of {curve.errors[name].shape[1]} splits)")
        ax.fill_between(curve.sizes, mean - std, mean + std, color=colour, alpha=0.2)
    ax.set_xscale("log")
    ax.set_xticks(curve.sizes, [str(m) for m in curve.sizes])  # the sizes themselves, not powers of ten
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("training-set size m")
    ax.set_ylabel("test error")
    ax.set_title(curve.title)
    ax.legend(fontsize=8)
    return fig


# --------------------------------------------------------------------------- calibration
def log_loss(p1: np.ndarray, y: np.ndarray) -> float:
    """Mean ``-log p(y_i | x_i)`` in nats for two classes, from ``p1 = p(y = 1 | x)`` (N,)."""
    p1, y = np.asarray(p1, dtype=np.float64), np.asarray(y)
    if p1.shape != y.shape or ((p1 < 0) | (p1 > 1)).any():
        raise ValueError("p1 must be probabilities shaped like y.")
    p = np.clip(np.where(y == 1, p1, 1 - p1), 1e-300, 1.0)
    return float(-np.log(p).mean())


def reliability(p1: np.ndarray, y: np.ndarray, n_bins: int = 10) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reliability diagram data: per non-empty bin of ``p1`` on [0, 1], the mean prediction, the
    observed fraction of ``y = 1`` and the count. Perfect calibration puts the first two equal."""
    p1, y = np.asarray(p1, dtype=np.float64), np.asarray(y)
    if p1.shape != y.shape:
        raise ValueError("p1 and y must have the same shape.")
    bins = np.clip((p1 * n_bins).astype(int), 0, n_bins - 1)
    counts = np.bincount(bins, minlength=n_bins)
    keep = counts > 0
    mean_pred = np.bincount(bins, weights=p1, minlength=n_bins)[keep] / counts[keep]
    frac_pos = np.bincount(bins, weights=(y == 1).astype(float), minlength=n_bins)[keep] / counts[keep]
    return mean_pred, frac_pos, counts[keep]


def expected_calibration_error(p1: np.ndarray, y: np.ndarray, n_bins: int = 10) -> float:
    """Count-weighted mean of ``|mean prediction - observed frequency|`` over the bins."""
    mean_pred, frac_pos, counts = reliability(p1, y, n_bins)
    return float((counts * np.abs(mean_pred - frac_pos)).sum() / counts.sum())


def plot_reliability(probs: Mapping[str, np.ndarray], y: np.ndarray, n_bins: int = 10, title: str = "") -> Figure:
    """Reliability diagram (top) and histogram of the predictions (bottom) for each model."""
    fig, (ax, hist) = plt.subplots(2, 1, figsize=(5, 5.6), height_ratios=[3, 1.2], sharex=True)
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfectly calibrated")
    for colour, (name, p1) in zip(OKABE_ITO, probs.items()):
        mean_pred, frac_pos, _ = reliability(p1, y, n_bins)
        ax.plot(mean_pred, frac_pos, "o-", color=colour, label=name)
        hist.hist(p1, bins=n_bins, range=(0, 1), histtype="step", lw=1.5, color=colour)
    ax.set_ylabel("observed fraction of spam")
    ax.set_title(title)
    ax.legend(fontsize=8)
    hist.set_yscale("log")
    hist.set_xlabel("predicted p(spam | x)")
    hist.set_ylabel("emails")
    return fig


# --------------------------------------------------------------------------- the widget
def render_email_posteriors(words: Sequence[str] = ("BANK", "ACCOUNT"), *, nb: BernoulliNaiveBayes, lr: LogisticRegression,
                            vocabulary: Sequence[str], truth: Callable[[np.ndarray], np.ndarray] | None = None) -> Figure:
    """An email made of ``words``: both posteriors ``p(spam | x)`` side by side (and the true one,
    if ``truth`` maps (N, V) emails to (N,) probabilities), and each word's contribution to the
    log-odds under both models. Every word not chosen is *absent*, which is evidence too."""
    index = {w: i for i, w in enumerate(vocabulary)}
    unknown = [w for w in words if w not in index]
    if unknown:
        raise ValueError(f"Not in the vocabulary: {unknown}.")
    x = np.zeros((1, len(vocabulary)))
    x[0, [index[w] for w in words]] = 1.0
    posts = {"Naive Bayes": nb.predict_proba(x)[0, 1], "logistic regression": lr.predict_proba(x)[0, 1]}
    if truth is not None:
        posts["true posterior"] = float(truth(x)[0])
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.4), width_ratios=[1, 1.5])
    bars = ax1.barh(list(posts)[::-1], list(posts.values())[::-1], color=list(OKABE_ITO[: len(posts)])[::-1])
    ax1.bar_label(bars, fmt="%.3f", padding=2)
    ax1.set_xlim(0, 1.15)
    ax1.axvline(0.5, color="k", lw=0.8, ls=":")
    ax1.set_xlabel("p(spam | email)")
    ax1.set_title("email: " + (" ".join(words) if words else "(no words)"), fontsize=9)
    w_nb, b_nb = nb.log_odds_weights()
    labels = list(words) + ["everything else"]
    contrib_nb = [w_nb[index[w]] for w in words] + [b_nb]
    contrib_lr = [lr.coef[index[w]] for w in words] + [lr.intercept]
    pos = np.arange(len(labels))
    ax2.bar(pos - 0.2, contrib_nb, 0.4, color=OKABE_ITO[0], label=f"Naive Bayes (sum {sum(contrib_nb):+.2f})")
    ax2.bar(pos + 0.2, contrib_lr, 0.4, color=OKABE_ITO[1], label=f"logistic regression (sum {sum(contrib_lr):+.2f})")
    ax2.axhline(0, color="k", lw=0.8)
    ax2.set_xticks(pos, labels, rotation=30, ha="right", fontsize=8)
    ax2.set_ylabel("contribution to log-odds of spam")
    ax2.set_title("Each word's evidence (absent words and prior: last bar)", fontsize=9)
    ax2.legend(fontsize=8)
    return fig
