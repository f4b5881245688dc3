"""Tests of course_utils.lessons.naive_bayes: Naive Bayes and logistic regression against closed forms and
scikit-learn, the learning-curve runner, calibration helpers and the widget's render function."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from sklearn.linear_model import LogisticRegression as SkLR  # noqa: E402
from sklearn.naive_bayes import BernoulliNB  # noqa: E402

from course_utils.lessons.naive_bayes import (BernoulliNaiveBayes, LearningCurve, LogisticRegression,  # noqa: E402
                                              draw_training_set, expected_calibration_error, learning_curve, log_loss,
                                              logsumexp, plot_learning_curve, plot_reliability, reliability,
                                              render_email_posteriors, weak_duplicated_features)
from course_utils.lessons.spam import VOCABULARY, generate_emails, true_posterior  # noqa: E402


def toy(n=300, d=6, k=3, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    theta = rng.uniform(0.1, 0.9, (k, d))
    return (rng.random((n, d)) < theta[y]).astype(float), y


@pytest.fixture(scope="module")
def spam():
    x, y = generate_emails(1500, seed=1)
    return x, y, BernoulliNaiveBayes().fit(x, y), LogisticRegression().fit(x, y)


# --------------------------------------------------------------------------- Naive Bayes
@pytest.mark.parametrize("k", [2, 3])
def test_naive_bayes_matches_sklearn(k):
    x, y = toy(k=k)
    for alpha in (0.5, 1.0):
        ours = BernoulliNaiveBayes(alpha).fit(x, y)
        ref = BernoulliNB(alpha=alpha).fit(x, y)
        assert np.allclose(ours.predict_proba(x), ref.predict_proba(x), atol=1e-12)
        assert np.array_equal(ours.predict(x), ref.predict(x))


def test_naive_bayes_log_prob_is_normalised():
    x, y = toy(d=6, k=3)
    nb = BernoulliNaiveBayes().fit(x, y)
    every = ((np.arange(64)[:, None] >> np.arange(6)) & 1).astype(float)
    assert abs(np.exp(nb.log_prob(every)).sum() - 1) < 1e-12
    # each class-conditional p(x | y) is normalised too
    cond = nb.joint_log_prob(every) - nb.log_prior
    assert np.allclose(np.exp(cond).sum(0), 1)


def test_marginalising_a_feature_sums_over_its_values():
    x, y = toy()
    nb = BernoulliNaiveBayes().fit(x, y)
    mask = np.array([1, 0, 1, 1, 0, 1.0])
    brute = np.full((len(x), nb.n_classes), -np.inf)
    for a in (0, 1):
        for b in (0, 1):
            filled = x.copy()
            filled[:, 1], filled[:, 4] = a, b
            brute = np.logaddexp(brute, nb.joint_log_prob(filled))
    assert np.allclose(brute, nb.joint_log_prob(x, observed=mask))
    assert np.allclose(nb.log_prob(x, observed=np.zeros(6)), 0.0), "nothing observed: p = 1"


def test_naive_bayes_sample():
    x, y = toy(k=2)
    nb = BernoulliNaiveBayes().fit(x, y)
    xs, ys = nb.sample(40_000, generator=0)
    assert xs.shape == (40_000, 6) and set(np.unique(xs)) <= {0.0, 1.0}
    assert abs(ys.mean() - np.exp(nb.log_prior[1])) < 0.01
    xs1, ys1 = nb.sample(40_000, y=1, generator=1)
    assert (ys1 == 1).all() and np.abs(xs1.mean(0) - nb.theta[1]).max() < 0.01
    assert np.array_equal(nb.sample(5, generator=3)[0], nb.sample(5, generator=3)[0])
    with pytest.raises(ValueError):
        nb.sample(5, y=2)
    with pytest.raises(ValueError):
        nb.sample(0)


def test_naive_bayes_is_logistic_in_x(spam):
    x, _, nb, _ = spam
    w, b = nb.log_odds_weights()
    assert np.allclose(1 / (1 + np.exp(-(x @ w + b))), nb.predict_proba(x)[:, 1])


def test_naive_bayes_errors():
    with pytest.raises(ValueError):
        BernoulliNaiveBayes(alpha=0)
    with pytest.raises(ValueError, match="0 and 1"):
        BernoulliNaiveBayes().fit(np.full((3, 2), 0.5), np.array([0, 1, 0]))
    with pytest.raises(ValueError):
        BernoulliNaiveBayes().fit(np.zeros((3, 2)), np.array([0, 1]))
    x, y = toy(k=3)
    nb = BernoulliNaiveBayes().fit(x, y)
    with pytest.raises(ValueError, match="features"):
        nb.predict(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="two classes"):
        nb.log_odds_weights()


def test_absent_class_is_never_predicted():
    x, y = toy(k=2)
    nb = BernoulliNaiveBayes().fit(x, y, n_classes=3)
    assert nb.n_classes == 3 and (nb.predict(x) != 2).all() and np.isfinite(nb.log_prob(x)).all()


# --------------------------------------------------------------------------- logistic regression
@pytest.mark.parametrize("k", [2, 3])
def test_logistic_regression_matches_sklearn(k):
    x, y = toy(k=k)
    ours = LogisticRegression(C=0.7, tol=1e-9).fit(x, y)
    ref = SkLR(C=0.7, tol=1e-10, max_iter=10_000).fit(x, y)
    assert np.allclose(ours.predict_proba(x), ref.predict_proba(x), atol=1e-5)


def test_logistic_regression_stationary_point():
    """At the optimum the gradient X^T (p - y) + w / C of the objective vanishes."""
    x, y = toy(k=2, seed=4)
    lr = LogisticRegression(C=2.0, tol=1e-10).fit(x, y)
    p = lr.predict_proba(x)[:, 1]
    assert np.abs(x.T @ (p - y) + lr.coef / 2.0).max() < 1e-6
    assert abs((p - y).sum()) < 1e-6, "the unpenalised intercept matches the class frequency"


def test_logistic_regression_outputs_and_errors():
    x, y = toy(k=3)
    lr = LogisticRegression().fit(x, y)
    p = lr.predict_proba(x)
    assert p.shape == (len(x), 3) and np.allclose(p.sum(1), 1) and lr.coef.shape == (6, 3)
    assert lr.predict(x).shape == (len(x),)
    with pytest.raises(ValueError):
        LogisticRegression(C=0)
    with pytest.raises(ValueError, match="two classes"):
        LogisticRegression().fit(x, np.zeros(len(x), dtype=int))
    with pytest.raises(ValueError):
        LogisticRegression().fit(x, y.astype(float))


def test_logsumexp():
    a = np.array([[0.0, -np.inf, 1000.0], [-np.inf, -np.inf, -np.inf]])
    out = logsumexp(a, axis=1)
    assert np.isclose(out[0], 1000.0) and out[1] == -np.inf


# --------------------------------------------------------------------------- learning curves
def test_draw_training_set_covers_every_class():
    y = np.repeat(np.arange(5), 20)
    rng = np.random.default_rng(0)
    for m in (5, 7, 50):
        idx = draw_training_set(y, m, rng)
        assert len(idx) == m == len(set(idx)) and set(y[idx]) == set(range(5))
    with pytest.raises(ValueError):
        draw_training_set(y, 4, rng)


def test_learning_curve_shapes_and_determinism():
    x, y = weak_duplicated_features(400, seed=0)
    assert x.shape == (400, 15 + 5 + 30)
    assert np.array_equal(x[:, 15], x[:, 0]), "the duplicated feature is an exact copy"
    makers = {"nb": BernoulliNaiveBayes, "lr": LogisticRegression}
    c1 = learning_curve(x, y, [6, 50], makers, n_splits=3, seed=1, max_test=100, title="t")
    c2 = learning_curve(x, y, [6, 50], makers, n_splits=3, seed=1, max_test=100, title="t")
    assert isinstance(c1, LearningCurve) and c1.errors["nb"].shape == (2, 3)
    assert np.array_equal(c1.errors["lr"], c2.errors["lr"])
    assert ((c1.errors["nb"] >= 0) & (c1.errors["nb"] <= 1)).all()
    gap, se = c1.gap("nb", "lr")
    assert gap.shape == se.shape == (2,)
    fig = plot_learning_curve(c1)
    assert fig.axes[0].get_xlabel() and fig.axes[0].get_ylabel()
    plt.close(fig)
    with pytest.raises(ValueError):
        learning_curve(x, y, [6], makers, n_splits=1)


# --------------------------------------------------------------------------- calibration
def test_log_loss_closed_form():
    y = np.array([1, 0, 1, 1])
    assert np.isclose(log_loss(np.full(4, 0.75), y), -(3 * np.log(0.75) + np.log(0.25)) / 4)
    with pytest.raises(ValueError):
        log_loss(np.array([1.5]), np.array([1]))


def test_reliability_of_calibrated_and_overconfident_predictions():
    rng = np.random.default_rng(0)
    p = rng.random(100_000)
    y = (rng.random(p.shape) < p).astype(int)
    mean_pred, frac_pos, counts = reliability(p, y)
    assert counts.sum() == len(p) and np.abs(mean_pred - frac_pos).max() < 0.02
    assert expected_calibration_error(p, y) < 0.01
    sharpened = 1 / (1 + np.exp(-2 * np.log(p / (1 - p))))  # doubled log-odds: overconfident
    assert expected_calibration_error(sharpened, y) > 0.05
    assert log_loss(sharpened, y) > log_loss(p, y)
    fig = plot_reliability({"calibrated": p, "doubled log-odds": sharpened}, y)
    assert len(fig.axes) == 2
    plt.close(fig)


# --------------------------------------------------------------------------- widget render function
def test_render_email_posteriors(spam):
    _, _, nb, lr = spam
    for words in [(), ("BANK", "ACCOUNT"), ("MEETING",)]:
        fig = render_email_posteriors(words, nb=nb, lr=lr, vocabulary=VOCABULARY, truth=true_posterior)
        ax1, ax2 = fig.axes
        assert ax1.get_xlabel() == "p(spam | email)" and ax2.get_ylabel()
        assert len(ax1.patches) == 3 and len(ax2.patches) == 2 * (len(words) + 1)
        plt.close(fig)
    with pytest.raises(ValueError, match="vocabulary"):
        render_email_posteriors(("HELLO",), nb=nb, lr=lr, vocabulary=VOCABULARY)


# --------------------------------------------------------------------------- common interface
@pytest.mark.parametrize("make", [BernoulliNaiveBayes, LogisticRegression])
def test_classifier_interface(make):
    """Both classifiers: fit returns self; predict_proba rows are distributions; predict is their argmax."""
    x, y = toy(k=3)
    clf = make()
    assert clf.fit(x, y, n_classes=3) is clf and clf.n_classes == 3
    p = clf.predict_proba(x)
    assert p.shape == (len(x), 3) and np.allclose(p.sum(1), 1) and (p >= 0).all()
    assert np.array_equal(clf.predict(x), p.argmax(1))


def test_real_data_sets_are_binary():
    from course_utils.lessons.naive_bayes import breast_cancer_binarised, digits_binarised

    x, y = breast_cancer_binarised()
    assert x.shape == (569, 30) and set(np.unique(x)) == {0.0, 1.0} and set(np.unique(y)) == {0, 1}
    assert np.all(np.abs(x.mean(0) - 0.5) < 0.01), "thresholded at the median: about half the examples above"
    x, y = digits_binarised()
    assert x.shape == (1797, 64) and set(np.unique(x)) == {0.0, 1.0} and len(np.unique(y)) == 10
