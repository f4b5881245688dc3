"""A toy spam / ham corpus of binary word-occurrence vectors, from a documented generative process.

Notebook 02 uses it to show **double counting**: Naive Bayes assumes the words of an email are
independent given its class, and here two of them, ``BANK`` and ``ACCOUNT``, are not. Because we
wrote the process down, we also know the *true* posterior ``p(spam | x)`` exactly, so a
classifier's calibration can be compared with the best possible one.

The process (one email; all draws independent unless stated)
-------------------------------------------------------------
1. Class: ``y ~ Bernoulli(spam_rate)``; ``y = 1`` is spam, ``y = 0`` ham.
2. A hidden *money* topic: ``t ~ Bernoulli(topic_rate[y])`` (spam talks about money far more).
3. The two topic words are noisy copies of ``t``: each of ``BANK`` and ``ACCOUNT`` is present
   with probability ``copy_on`` if ``t = 1`` and ``copy_off`` if ``t = 0``, independently given
   ``t``. With the defaults, in spam the two words are present together in about 93 % of the
   emails that contain either; in ham, when a bank writes, they come together in the same way.
4. Every other word ``w`` is present with probability ``word_rates[w][y]``, independently.

So ``x`` is a 0/1 vector over :data:`VOCABULARY` and the exact joint is

.. math::  p(x, y) = p(y)\\, \\Big[\\sum_{t\\in\\{0,1\\}} p(t\\mid y)\\, p(x_B\\mid t)\\, p(x_A\\mid t)\\Big]
           \\prod_{w \\notin \\{B, A\\}} \\theta_{w y}^{x_w} (1-\\theta_{w y})^{1-x_w}.

The two topic words are dependent *given the class* (they share ``t``): exactly the dependence
Naive Bayes ignores. Naive Bayes then treats them as two independent witnesses and adds their
log-likelihood ratios, about doubling the evidence the pair really carries; logistic regression,
fitted to ``p(y | x)`` directly, learns to share one piece of evidence between the two weights.

| symbol | code | meaning |
|---|---|---|
| ``y`` | ``y`` | class: 1 spam, 0 ham |
| ``t`` | — | hidden money topic (never returned) |
| ``x`` | ``x`` | (N, V) 0/1 word occurrences, columns in ``VOCABULARY`` order |
| ``theta_{w y}`` | ``word_rates[w][y]`` | probability word ``w`` occurs in class ``y`` |
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np
from scipy.special import logsumexp

TOPIC_WORDS: tuple[str, str] = ("BANK", "ACCOUNT")

# (p(word | ham), p(word | spam)) for the words that are independent given the class.
DEFAULT_WORD_RATES: dict[str, tuple[float, float]] = {
    "FREE": (0.05, 0.45),
    "WINNER": (0.01, 0.25),
    "CLICK": (0.06, 0.40),
    "OFFER": (0.05, 0.30),
    "URGENT": (0.04, 0.25),
    "PRIZE": (0.01, 0.20),
    "PASSWORD": (0.03, 0.15),
    "MEETING": (0.30, 0.03),
    "PROJECT": (0.25, 0.04),
    "REPORT": (0.20, 0.05),
    "LUNCH": (0.12, 0.02),
    "ATTACHED": (0.25, 0.08),
    "THANKS": (0.45, 0.20),
    "TODAY": (0.30, 0.30),
    "PLEASE": (0.35, 0.40),
}

VOCABULARY: tuple[str, ...] = TOPIC_WORDS + tuple(DEFAULT_WORD_RATES)


@dataclass(frozen=True)
class SpamConfig:
    """The parameters of the process in the module docstring (defaults: the notebook's corpus)."""

    spam_rate: float = 0.4
    topic_rate: tuple[float, float] = (0.08, 0.60)  # p(t = 1 | ham), p(t = 1 | spam)
    copy_on: float = 0.97  # p(topic word present | t = 1)
    copy_off: float = 0.01  # p(topic word present | t = 0)
    word_rates: dict[str, tuple[float, float]] = field(default_factory=lambda: dict(DEFAULT_WORD_RATES))

    def __post_init__(self) -> None:
        probs = [self.spam_rate, *self.topic_rate, self.copy_on, self.copy_off]
        probs += [p for pair in self.word_rates.values() for p in pair]
        if not all(0.0 < float(p) < 1.0 for p in probs):
            raise ValueError("Every probability of SpamConfig must lie strictly between 0 and 1.")
        if any(w in TOPIC_WORDS for w in self.word_rates):
            raise ValueError(f"{TOPIC_WORDS} are the topic words; do not list them in word_rates.")

    @property
    def vocabulary(self) -> tuple[str, ...]:
        """Column names of ``x``: the two topic words first, then ``word_rates`` in order."""
        return TOPIC_WORDS + tuple(self.word_rates)


def generate_emails(n: int, cfg: SpamConfig = SpamConfig(), seed: int | np.random.Generator = 0) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n`` emails from the process. Returns ``x`` (n, V) float 0/1 and ``y`` (n,) int 0/1."""
    if n < 1:
        raise ValueError(f"n must be a positive number of emails; got {n}.")
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < cfg.spam_rate).astype(np.int64)
    topic = rng.random(n) < np.asarray(cfg.topic_rate)[y]
    p_copy = np.where(topic, cfg.copy_on, cfg.copy_off)[:, None]  # (n, 1)
    pair = rng.random((n, 2)) < p_copy  # BANK, ACCOUNT: noisy copies of the topic
    rates = np.array(list(cfg.word_rates.values()))  # (V - 2, 2) columns: ham, spam
    others = rng.random((n, rates.shape[0])) < rates[:, y].T
    return np.hstack([pair, others]).astype(np.float64), y


def _check_x(x: np.ndarray, cfg: SpamConfig) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[None]
    if x.ndim != 2 or x.shape[1] != len(cfg.vocabulary) or not np.isin(x, (0.0, 1.0)).all():
        raise ValueError(f"x must be 0/1 and shaped (N, {len(cfg.vocabulary)}); got shape {x.shape}.")
    return x


def true_log_joint(x: np.ndarray, cfg: SpamConfig = SpamConfig()) -> np.ndarray:
    """Exact ``log p(x, y)`` under the process, shape (N, 2), column ``y`` (0 ham, 1 spam)."""
    x = _check_x(x, cfg)
    out = np.log([1.0 - cfg.spam_rate, cfg.spam_rate])[None].repeat(len(x), 0)  # (N, 2)
    # topic pair: sum over the hidden t of p(t | y) p(x_B | t) p(x_A | t)
    k = x[:, :2].sum(1)  # how many of BANK, ACCOUNT are present
    log_pair_t = [k * np.log(c) + (2 - k) * np.log1p(-c) for c in (cfg.copy_off, cfg.copy_on)]  # t = 0, 1
    for y in (0, 1):
        q = cfg.topic_rate[y]
        out[:, y] += np.logaddexp(np.log1p(-q) + log_pair_t[0], np.log(q) + log_pair_t[1])
    rates = np.array(list(cfg.word_rates.values()))  # (V - 2, 2)
    out += x[:, 2:] @ np.log(rates) + (1 - x[:, 2:]) @ np.log1p(-rates)
    return out


def true_posterior(x: np.ndarray, cfg: SpamConfig = SpamConfig()) -> np.ndarray:
    """Exact ``p(spam | x)``, shape (N,): the Bayes-optimal (perfectly calibrated) prediction."""
    joint = true_log_joint(x, cfg)
    return np.exp(joint[:, 1] - logsumexp(joint, axis=1))


def encode(words: Iterable[str], vocabulary: Sequence[str] = VOCABULARY) -> np.ndarray:
    """The 0/1 vector (V,) of an email containing ``words`` (case-insensitive)."""
    index = {w: i for i, w in enumerate(vocabulary)}
    x = np.zeros(len(vocabulary))
    for word in words:
        if word.upper() not in index:
            raise ValueError(f"{word!r} is not in the vocabulary {tuple(vocabulary)}.")
        x[index[word.upper()]] = 1.0
    return x


def decode(x: np.ndarray, vocabulary: Sequence[str] = VOCABULARY) -> list[str]:
    """The words present in one 0/1 vector ``x`` (V,)."""
    x = np.asarray(x)
    if x.shape != (len(vocabulary),):
        raise ValueError(f"x must be shaped ({len(vocabulary)},); got {x.shape}.")
    return [w for w, on in zip(vocabulary, x) if on > 0.5]
