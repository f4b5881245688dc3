"""Tests of course_utils.lessons.spam: the documented spam/ham process and its exact probabilities."""

import numpy as np
import pytest

from course_utils.lessons.spam import (TOPIC_WORDS, VOCABULARY, SpamConfig, decode, encode, generate_emails,
                                       true_log_joint, true_posterior)

ALL_EMAILS = ((np.arange(2 ** len(VOCABULARY))[:, None] >> np.arange(len(VOCABULARY))) & 1).astype(np.float64)


def test_shapes_values_and_seeds():
    x, y = generate_emails(500, seed=3)
    assert x.shape == (500, len(VOCABULARY)) and y.shape == (500,)
    assert set(np.unique(x)) <= {0.0, 1.0} and set(np.unique(y)) == {0, 1}
    x2, y2 = generate_emails(500, seed=3)
    assert np.array_equal(x, x2) and np.array_equal(y, y2)
    assert not np.array_equal(x, generate_emails(500, seed=4)[0])
    assert SpamConfig().vocabulary == VOCABULARY and VOCABULARY[:2] == TOPIC_WORDS


def test_true_joint_is_normalised():
    total = np.exp(true_log_joint(ALL_EMAILS)).sum()
    assert abs(total - 1.0) < 1e-10


def test_true_joint_known_values():
    """Two emails worked out by hand from the documented process (defaults of SpamConfig)."""
    cfg = SpamConfig()
    ham_rates, spam_rates = np.array(list(cfg.word_rates.values())).T
    # the empty email: both topic words absent, whatever the topic; every other word absent
    pair_absent = {0: 0.92 * 0.99**2 + 0.08 * 0.03**2, 1: 0.40 * 0.99**2 + 0.60 * 0.03**2}
    empty = {0: 0.6 * pair_absent[0] * np.prod(1 - ham_rates), 1: 0.4 * pair_absent[1] * np.prod(1 - spam_rates)}
    # BANK, ACCOUNT and FREE present
    pair_both = {0: 0.92 * 0.01**2 + 0.08 * 0.97**2, 1: 0.40 * 0.01**2 + 0.60 * 0.97**2}
    free = {y: (ham_rates, spam_rates)[y][0] / (1 - (ham_rates, spam_rates)[y][0]) for y in (0, 1)}
    money = {y: empty[y] / pair_absent[y] * pair_both[y] * free[y] for y in (0, 1)}
    got = np.exp(true_log_joint(np.stack([encode([]), encode(["BANK", "ACCOUNT", "FREE"])]), cfg))
    assert np.allclose(got[0], [empty[0], empty[1]], rtol=1e-12) and np.allclose(got[1], [money[0], money[1]], rtol=1e-12)
    assert np.allclose(true_posterior(encode([]), cfg), empty[1] / (empty[0] + empty[1]), rtol=1e-12)


def test_the_sampler_follows_the_exact_joint():
    """Frequencies of (y, BANK, ACCOUNT, FREE) in 100,000 generated emails against the same marginals of
    true_log_joint, summed over all 2^17 emails: the generator and the formula must describe one process."""
    joint = np.exp(true_log_joint(ALL_EMAILS))  # (2^17, 2)
    x, y = generate_emails(100_000, seed=0)
    for pattern in np.ndindex(2, 2, 2):
        match_all = np.all(ALL_EMAILS[:, [0, 1, 2]] == pattern, axis=1)
        match_seen = np.all(x[:, [0, 1, 2]] == pattern, axis=1)
        for label in (0, 1):
            exact = joint[match_all, label].sum()
            seen = np.mean(match_seen & (y == label))
            assert abs(seen - exact) < 4 * np.sqrt(exact * (1 - exact) / len(y)) + 1e-4, (pattern, label, seen, exact)
    # BANK and ACCOUNT nearly always co-occur in spam
    spam = x[y == 1][:, :2]
    assert (spam[:, 0] * spam[:, 1]).sum() / np.maximum(spam[:, 0], spam[:, 1]).sum() > 0.9


def test_true_posterior_is_calibrated_and_marginalises_to_the_prior():
    cfg = SpamConfig()
    post, joint = true_posterior(ALL_EMAILS, cfg), np.exp(true_log_joint(ALL_EMAILS, cfg))
    assert np.isclose((joint.sum(1) * post).sum(), cfg.spam_rate, rtol=1e-10), "sum_x p(x) p(spam | x) = p(spam)"
    assert ((post > 0) & (post < 1)).all()
    # the Bayes posterior is calibrated: among emails it gives about p, a fraction p is spam
    x, y = generate_emails(200_000, cfg, seed=5)
    p = true_posterior(x, cfg)
    bins = np.digitize(p, np.linspace(0, 1, 11)[1:-1])
    for b in np.unique(bins):
        inside = bins == b
        if inside.sum() >= 2000:
            assert abs(y[inside].mean() - p[inside].mean()) < 4 * np.sqrt(0.25 / inside.sum()), b
    swapped = 1 - p  # a wrong posterior fails the same test
    assert any(abs(y[bins == b].mean() - swapped[bins == b].mean()) > 0.1 for b in np.unique(bins))


def test_encode_decode_and_errors():
    x = encode(["bank", "FREE"])
    assert x.shape == (len(VOCABULARY),) and x.sum() == 2
    assert decode(x) == ["BANK", "FREE"]
    with pytest.raises(ValueError, match="not in the vocabulary"):
        encode(["HELLO"])
    with pytest.raises(ValueError):
        decode(np.zeros(3))
    with pytest.raises(ValueError):
        true_log_joint(np.full((2, len(VOCABULARY)), 0.5))
    with pytest.raises(ValueError):
        SpamConfig(spam_rate=1.0)
    with pytest.raises(ValueError):
        SpamConfig(word_rates={"BANK": (0.1, 0.2)})
    with pytest.raises(ValueError):
        generate_emails(0)
