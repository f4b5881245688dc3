"""Notebook 09's demonstrations: a good model mixed with noise, a copycat, a random feature map,
corrupted image sets and the widget that shows the metrics moving together or apart.

- :class:`TwoModelMixture`: ``p(x) = w p_a(x) + (1 - w) p_b(x)``, exact when both parts are (Theis,
  van den Oord & Bethge 2016: with w = 0.01 the log-likelihood drops by at most ln 100 while 99 % of
  the samples come from ``p_b``).
- :class:`UniformImages`: every pixel uniform over its K levels, ``log p(x) = -D ln K``: the noise.
- :class:`Copycat`: samples are training images; ``p(x)`` is the empirical distribution smoothed by a
  per-pixel kernel (``flip`` = the chance a pixel takes another level): with ``flip = 0`` every image
  outside the training set has probability 0 (log-likelihood -inf).
- :func:`random_feature_net`: the course's feature-network architecture with random weights, a
  second feature map for the FD sensitivity check.
- :func:`corrupt`, :class:`CorruptionLab`: real images mixed with a corruption (noise, blur, a class
  dropped), and FD, precision, recall and a likelihood as the mixture weight moves.

| here          | math                                                        |
|---------------|-------------------------------------------------------------|
| ``weight``    | w, the weight of the first model of a two-model mixture     |
| ``flip``      | epsilon: the kernel's chance that a pixel takes another level |
| ``strength``  | s: the fraction of images (and the mixture weight) that are corrupted |
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..base import GenerativeModel, LogProbKind, check_images
from ..data import from_levels, to_levels
from ..draws import uniform
from ..evaluation.features import DigitClassifier, FEATURE_NETS, extract_features
from ..evaluation.sample_quality import frechet_distance, precision_recall
from ..plotting import tile_images


# --------------------------------------------------------------------------- configs
@dataclass
class UniformConfig:
    shape: tuple[int, int, int] = (1, 28, 28)
    num_levels: int = 2


@dataclass
class MixtureOfTwoConfig:
    weight: float = 0.01  # w: the first model's share


@dataclass
class CopycatConfig:
    shape: tuple[int, int, int] = (1, 28, 28)
    num_levels: int = 2
    flip: float = 0.0  # epsilon: 0 = the empirical distribution of the training images


# --------------------------------------------------------------------------- models
class UniformImages(GenerativeModel):
    """Every pixel uniform over K levels: ``log p(x) = -D ln K`` for every image on the grid."""

    family = "uniform"
    log_prob_kind = LogProbKind.EXACT

    def __init__(self, cfg: UniformConfig) -> None:
        super().__init__(cfg)
        self.register_buffer("anchor", torch.zeros(()))

    def log_prob(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        self.labels(y, x.shape[0])
        check_images(x, self.cfg.shape)
        to_levels(x, self.cfg.num_levels)  # refuses images off the grid
        d = math.prod(self.cfg.shape)
        return torch.full((x.shape[0],), -d * math.log(self.cfg.num_levels), device=x.device)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, y: Tensor | None = None) -> Tensor:
        self.labels(y, n)
        u = uniform((n, *self.cfg.shape), generator, self.anchor.device)
        return from_levels((u * self.cfg.num_levels).floor().clamp(max=self.cfg.num_levels - 1).long(), self.cfg.num_levels)


class TwoModelMixture(GenerativeModel):
    """``p(x) = w p_a(x) + (1 - w) p_b(x)``: draw from ``a`` with probability ``w``, else from ``b``.

    Exact when both parts are exact; a lower bound when either is a bound (log-sum-exp is increasing).
    """

    family = "mixture-of-two"

    def __init__(self, cfg: MixtureOfTwoConfig, a: GenerativeModel, b: GenerativeModel) -> None:
        super().__init__(cfg)
        if not 0 <= cfg.weight <= 1:
            raise ValueError(f"weight must lie in [0, 1]; got {cfg.weight}.")
        for part in (a, b):
            if part.log_prob_kind not in (LogProbKind.EXACT, LogProbKind.LOWER_BOUND):
                raise ValueError(f"both parts need a likelihood (exact or a bound); {part.family} has kind {part.log_prob_kind.value!r}.")
        self.a, self.b = a, b

    @property
    def log_prob_kind(self) -> LogProbKind:  # type: ignore[override]
        exact = self.a.log_prob_kind is LogProbKind.EXACT and self.b.log_prob_kind is LogProbKind.EXACT
        return LogProbKind.EXACT if exact else LogProbKind.LOWER_BOUND

    @property
    def event_shape(self) -> tuple[int, ...]:
        return self.a.event_shape

    def log_prob(self, x: Tensor, y: Tensor | None = None, **options: Any) -> Tensor:
        self.labels(y, x.shape[0])
        w = self.cfg.weight
        lw_a = math.log(w) if w > 0 else -math.inf
        lw_b = math.log1p(-w) if w < 1 else -math.inf
        return torch.logaddexp(lw_a + self.a.log_prob(x, **options), lw_b + self.b.log_prob(x))

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, y: Tensor | None = None) -> Tensor:
        self.labels(y, n)
        from_a = uniform((n,), generator) < self.cfg.weight  # which part each sample comes from
        xa, xb = self.a.sample(n, generator=generator), self.b.sample(n, generator=generator)
        self.last_from_a = from_a
        return torch.where(from_a.to(xa.device).view(-1, *([1] * (xa.ndim - 1))), xa, xb.to(xa.device))


class Copycat(GenerativeModel):
    """A "model" that memorised its training images: samples are copies of them.

    ``log p(x) = log (1/N) sum_n prod_j k(x_j | t_nj)`` with the kernel ``k`` keeping a pixel's level
    with probability ``1 - flip`` and moving it to each other level with ``flip / (K - 1)``. With
    ``flip = 0`` it is the empirical distribution: probability 0 (log -inf) outside the training set.
    """

    family = "copycat"
    log_prob_kind = LogProbKind.EXACT

    def __init__(self, cfg: CopycatConfig, train_x: Tensor) -> None:
        super().__init__(cfg)
        check_images(train_x, cfg.shape, "train_x")
        if not 0 <= cfg.flip < 1:
            raise ValueError(f"flip must lie in [0, 1); got {cfg.flip}.")
        self.register_buffer("levels", to_levels(train_x, cfg.num_levels).flatten(1).to(torch.int16))  # (N, D)

    def log_prob(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        self.labels(y, x.shape[0])
        check_images(x, self.cfg.shape)
        lv = to_levels(x, self.cfg.num_levels).flatten(1)  # (B, D)
        d, k, eps = lv.shape[1], self.cfg.num_levels, self.cfg.flip
        keep = math.log1p(-eps)
        move = math.log(eps / (k - 1)) if eps > 0 else -math.inf
        train = F.one_hot(self.levels.long(), k).flatten(1).float()  # (N, D K)
        out = []
        for row in lv.split(256):
            matches = F.one_hot(row, k).flatten(1).float() @ train.T  # (b, N): pixels that agree (exact integers)
            mismatches = (d - matches).double()
            per_image = torch.where(mismatches > 0, mismatches * move, torch.zeros_like(mismatches)) + (d - mismatches) * keep
            out.append(torch.logsumexp(per_image, 1) - math.log(self.levels.shape[0]))
        return torch.cat(out).float()

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, y: Tensor | None = None) -> Tensor:
        """``n`` training images, drawn uniformly with replacement."""
        self.labels(y, n)
        idx = (uniform((n,), generator) * self.levels.shape[0]).long().clamp(max=self.levels.shape[0] - 1)
        return from_levels(self.levels[idx.to(self.levels.device)].long(), self.cfg.num_levels).view(n, *self.cfg.shape)


# --------------------------------------------------------------------------- a second feature map
def random_feature_net(name: str = "mnist28", seed: int = 1, device: torch.device | str = "cpu") -> DigitClassifier:
    """The architecture of feature network ``name`` with random (seeded, untrained) weights, frozen."""
    if name not in FEATURE_NETS:
        raise ValueError(f"Unknown feature network {name!r}; choose one of {', '.join(FEATURE_NETS)}.")
    torch.manual_seed(seed)
    net = DigitClassifier(FEATURE_NETS[name].config)
    return net.to(device).eval().requires_grad_(False)


# --------------------------------------------------------------------------- corruptions
CORRUPTIONS = ("noise", "blur", "drop a class")


def gaussian_blur(x: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian blur of (N, 1, H, W) images, zero padding."""
    r = max(1, int(3 * sigma))
    t = torch.arange(-r, r + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = k / k.sum()
    x = F.conv2d(F.pad(x, (r, r, 0, 0)), k.view(1, 1, 1, -1))
    return F.conv2d(F.pad(x, (0, 0, r, r)), k.view(1, 1, -1, 1))


def corrupt(x: Tensor, y: Tensor, kind: str, *, grey: Tensor | None = None, num_levels: int = 2, dropped: int = 0,
            generator: torch.Generator | None = None) -> Tensor:
    """Every image of ``x`` (N, 1, H, W) corrupted by ``kind``:

    - ``noise``: uniform random levels;
    - ``blur``: the grey image ``grey`` (default ``x``) blurred (sigma = 1 pixel), then put back on the
      grid of ``num_levels`` levels (a Bernoulli draw for binary images, rounding otherwise);
    - ``drop a class``: images of class ``dropped`` replaced by random images of the other classes
      (the others unchanged).
    """
    if kind not in CORRUPTIONS:
        raise ValueError(f"Unknown corruption {kind!r}; choose one of {', '.join(CORRUPTIONS)}.")
    n = x.shape[0]
    if kind == "noise":
        u = uniform(tuple(x.shape), generator)
        return from_levels((u * num_levels).floor().clamp(max=num_levels - 1).long(), num_levels)
    if kind == "blur":
        soft = gaussian_blur(x if grey is None else grey, 1.0).clamp(0, 1)
        if num_levels == 2:
            return (uniform(tuple(soft.shape), generator) < soft).float()
        return from_levels(torch.round(soft * (num_levels - 1)).long(), num_levels)
    others = torch.nonzero(y != dropped).flatten()
    pick = others[(uniform((n,), generator) * len(others)).long().clamp(max=len(others) - 1)]
    return torch.where((y == dropped).view(-1, 1, 1, 1), x[pick], x)


def mix_in(x: Tensor, corrupted: Tensor, strength: float, generator: torch.Generator | None = None) -> Tensor:
    """Each image replaced by its corrupted version with probability ``strength`` (the same draws for
    every strength when the generator is seeded alike, so sets at two strengths are nested)."""
    u = uniform((x.shape[0],), generator)
    return torch.where((u < strength).view(-1, 1, 1, 1), corrupted, x)


@dataclass
class CorruptionLab:
    """Real images mixed with a corruption, scored against the test split as the mixing weight moves.

    ``real``: the images that play the perfect model (the validation split), with their labels and
    (for blur) grey versions; ``test``: reference images; ``net``: the feature network; ``good`` and
    ``fitted``: ``{corruption: model}``, the likelihood side: the test NLL of
    ``(1 - s) good + s fitted[kind]``, where ``fitted[kind]`` is a model of the corrupted images.
    """

    real: Tensor
    real_y: Tensor
    real_grey: Tensor | None
    test: Tensor
    net: torch.nn.Module
    good: GenerativeModel
    fitted: dict[str, GenerativeModel]
    num_levels: int = 2
    seed: int = 0
    _cache: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.test_features = extract_features(self.net, self.test)
        with torch.no_grad():
            self.lp_good = self.good.log_prob(self.test.to(self.good.device)).double().cpu()
            self.lp_fitted = {k: m.log_prob(self.test.to(m.device)).double().cpu() for k, m in self.fitted.items()}

    def images(self, kind: str, strength: float) -> Tensor:
        bad = corrupt(self.real, self.real_y, kind, grey=self.real_grey, num_levels=self.num_levels,
                      generator=torch.Generator().manual_seed(self.seed))
        return mix_in(self.real, bad, strength, torch.Generator().manual_seed(self.seed + 1))

    def metrics(self, kind: str, strength: float) -> dict[str, float]:
        """FD, precision, recall (k = 3) of the mixed set, and the test NLL of its stand-in model."""
        key = (kind, round(float(strength), 6))
        if key not in self._cache:
            feats = extract_features(self.net, self.images(kind, strength))
            p, r = precision_recall(self.test_features, feats, k=3)
            s = float(strength)
            lw_good = math.log1p(-s) if s < 1 else -math.inf
            lw_bad = math.log(s) if s > 0 else -math.inf
            nll = -torch.logaddexp(lw_good + self.lp_good, lw_bad + self.lp_fitted[kind]).mean().item()
            self._cache[key] = {"fd": frechet_distance(self.test_features, feats), "precision": p, "recall": r, "nll": nll}
        return self._cache[key]

    def curves(self, kind: str, strengths: tuple[float, ...]) -> dict[str, list[float]]:
        rows = [self.metrics(kind, s) for s in strengths]
        return {name: [r[name] for r in rows] for name in ("fd", "precision", "recall", "nll")}

    def render(self, corruption: str = "noise", strength: float = 0.5, strengths: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0),
               floor: float | None = None) -> plt.Figure:
        """Sixteen of the mixed images, and FD, precision, recall and test NLL against the mixing weight."""
        grid = sorted(set(strengths) | {float(strength)})
        c = self.curves(corruption, tuple(grid))
        now = self.metrics(corruption, strength)
        fig, axes = plt.subplots(1, 5, figsize=(17, 3.6), gridspec_kw={"width_ratios": [1.15, 1, 1, 1, 1]}, layout="constrained")
        axes[0].imshow(tile_images(self.images(corruption, strength)[:16], nrow=4), cmap="gray", vmin=0, vmax=1)
        axes[0].set_title(f"{corruption}, s = {strength:.2f}")
        axes[0].axis("off")
        panels = (("fd", "FD (course features)", "lower is better"), ("precision", "precision (k = 3)", "higher is better"),
                  ("recall", "recall (k = 3)", "higher is better"), ("nll", "test NLL of the mixed model (nats)", "lower is better"))
        for ax, (key, label, better) in zip(axes[1:], panels):
            ax.plot(grid, c[key], "o-", ms=3)
            ax.plot([strength], [now[key]], "o", ms=9, color="C3")
            if key == "fd" and floor is not None:
                ax.axhline(floor, ls="--", c="k", lw=0.8, label="real-vs-real floor")
                ax.legend(fontsize=7, loc="upper left")
            ax.set_xlabel("s: fraction corrupted")
            ax.set_ylabel(label)
            ax.set_title(f"{label.split(' (')[0]}: {now[key]:.3g} ({better})", fontsize=9)
        fig.suptitle("Real images mixed with a corruption: do the metrics move together?")
        return fig


def spearman(a: list[float], b: list[float]) -> float:
    """Spearman's rank correlation of two lists of numbers (no ties expected)."""
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


# --------------------------------------------------------------------------- a quoted reference
# Tomczak's intro_dgm notebooks (commit 28bbc85) run unchanged on the course's 8x8 split (1000 / 350 / 447),
# one CPU thread, seed 0, with only the fixes newer torch needs: the numbers of the course's
# shared/REFERENCES.md, quoted, not measured here; none of that code is used by the course.
# (notebook, test value, is it a discrete NLL in nats (or a bound on one), training seconds, what the value is)
QUOTED_INTRO_DGM: tuple[tuple[str, float | None, bool, int, str], ...] = (
    ("ARM (causal Conv1d)", 86.3, True, 545, "exact NLL of the 17-level digits (training capped at 64 epochs)"),
    ("VAE (L = 16)", 96.7, True, 42, "-ELBO of the 17-level digits, one z sample"),
    ("RealNVP (8 couplings)", 166.9, True, 110, "bound on the discrete NLL (its own printout, 122.5, is a density on the 0-16 scale)"),
    ("diffusion (T = 5)", 160.4, False, 41, "continuous -ELBO on data scaled to [-1, 1]: not a bound on the discrete NLL"),
    ("GAN (MLP)", None, False, 213, "no likelihood"),
)


# --------------------------------------------------------------------------- a baseline for many levels
