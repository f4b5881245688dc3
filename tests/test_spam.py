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


def test_true_joint_matches_the_process():
    """Frequencies of the four (BANK, ACCOUNT) patterns in spam match the marginalised topic."""
    cfg = SpamConfig()
    x, y = generate_emails(60_000, cfg, seed=0)
    spam = x[y == 1][:, :2]
    q, on, off = cfg.topic_rate[1], cfg.copy_on, cfg.copy_off
    for b in (0, 1):
        for a in (0, 1):
            exact = q * on ** (a + b) * (1 - on) ** (2 - a - b) + (1 - q) * off ** (a + b) * (1 - off) ** (2 - a - b)
            seen = np.mean((spam[:, 0] == b) & (spam[:, 1] == a))
            assert abs(seen - exact) < 0.01, (b, a, seen, exact)
    # the two topic words nearly always co-occur in spam
    assert (spam[:, 0] * spam[:, 1]).sum() / np.maximum(spam[:, 0], spam[:, 1]).sum() > 0.9
    rates = np.array(list(cfg.word_rates.values()))
    for k in (0, 1):
        assert np.abs(x[y == k][:, 2:].mean(0) - rates[:, k]).max() < 0.015


def test_true_posterior_is_bayes_rule():
    x, _ = generate_emails(200, seed=1)
    joint = np.exp(true_log_joint(x))
    assert np.allclose(true_posterior(x), joint[:, 1] / joint.sum(1))
    assert ((true_posterior(x) > 0) & (true_posterior(x) < 1)).all()


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
