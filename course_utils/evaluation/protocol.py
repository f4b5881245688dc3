"""The one protocol for every Fréchet distance the course prints: "FD (course features)" with its floor.

A Fréchet distance estimated from N samples is biased upwards: two samples of the *same*
distribution score above 0, and the smaller N, the more. So a number means something only next
to the real-vs-real value at the same N. The course fixes both:

- **score**: N model samples against the **test** split, in the features of the course's
  classifier for that dataset (:mod:`course_utils.evaluation.features`);
- **floor**: the **validation** split (N images the feature network never saw; it trained on the
  training split only) against the same test split. A model cannot be expected to beat it.

N is the size of the validation split, and the reference is the whole test split:

| ``dataset``             | samples to pass                   | N   | reference (test) | feature net |
|-------------------------|-----------------------------------|-----|------------------|-------------|
| ``"mnist5k"``           | (500, 1, 28, 28) grey, in [0, 1]  | 500 | 500              | ``mnist28`` |
| ``"mnist5k-binarized"`` | (500, 1, 28, 28) in {0, 1} or [0, 1] | 500 | 500 (statically binarised) | ``mnist28`` |
| ``"digits8x8"``         | (350, 1, 8, 8) in [0, 1] (level / 16) | 350 | 447              | ``digits8`` |

Use::

    result = fd_with_floor(model.sample(500), "mnist5k")
    print(result)         # FD (course features, mnist28) at N = 500: 12.3; real-vs-real floor 1.9
    result.fd, result.floor, result.n

:func:`fd_bias_curve` measures the bias itself: real-vs-real FD against N, from random subsets of
the validation and test splits, mean and standard deviation over seeds. On Fashion-MNIST (where
it is installed) it uses the 28x28 *digit* network's features, as the course has no clothing
classifier: the numbers show how the bias shrinks with N, not how good clothing samples are.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from torch import Tensor

from .features import check_sample_images, extract_features, load_feature_net
from .sample_quality import frechet_distance


@dataclass(frozen=True)
class Protocol:
    """Which data, which feature network, and how many samples one FD uses."""

    dataset: str
    feature_net: str
    n: int  # samples per score = size of the validation split
    n_reference: int  # size of the test split
    image_size: int


PROTOCOLS: dict[str, Protocol] = {
    "mnist5k": Protocol("mnist5k", "mnist28", n=500, n_reference=500, image_size=28),
    "mnist5k-binarized": Protocol("mnist5k-binarized", "mnist28", n=500, n_reference=500, image_size=28),
    "digits8x8": Protocol("digits8x8", "digits8", n=350, n_reference=447, image_size=8),
}
BIAS_DATASETS = (*PROTOCOLS, "fashion-mnist")


@dataclass(frozen=True)
class FDResult:
    """An FD in the course's features, its real-vs-real floor at the same N, and what was compared."""

    fd: float
    floor: float
    n: int
    n_reference: int
    dataset: str
    feature_net: str

    def __str__(self) -> str:
        return (
            f"FD (course features, {self.feature_net}) at N = {self.n} against the {self.n_reference} test images "
            f"of {self.dataset}: {self.fd:.2f}; real-vs-real floor (validation vs test) {self.floor:.2f}"
        )


def _protocol(dataset: str) -> Protocol:
    if dataset not in PROTOCOLS:
        raise ValueError(f"Unknown dataset {dataset!r} for the FD protocol; choose one of {', '.join(PROTOCOLS)}.")
    return PROTOCOLS[dataset]


def _splits(dataset: str) -> dict[str, Tensor]:
    """The validation and test images of ``dataset``."""
    from ..data import load_digits8x8, load_fashion_mnist, load_mnist5k

    if dataset == "mnist5k":
        data = load_mnist5k(binarized=False)
    elif dataset == "mnist5k-binarized":
        data = load_mnist5k(binarized=True)
    elif dataset == "digits8x8":
        data = load_digits8x8()
    elif dataset == "fashion-mnist":
        data = load_fashion_mnist()  # DatasetUnavailable when it is not installed
    else:
        raise ValueError(f"Unknown dataset {dataset!r}; choose one of {', '.join(BIAS_DATASETS)}.")
    return {"val": data.val.x, "test": data.test.x}


def _net_name(dataset: str) -> str:
    return "mnist28" if dataset == "fashion-mnist" else _protocol(dataset).feature_net


@lru_cache(maxsize=8)
def _net(name: str, device: str):
    return load_feature_net(name, device)


@lru_cache(maxsize=16)
def reference_features(dataset: str, device: str = "cpu") -> dict[str, Tensor]:
    """Features of the validation and test splits of ``dataset`` (computed once per device, then cached)."""
    net = _net(_net_name(dataset), device)
    return {split: extract_features(net, x) for split, x in _splits(dataset).items()}


def fd_floor(dataset: str = "mnist5k", device: torch.device | str = "cpu") -> float:
    """The protocol's floor: FD between the validation and the test split of ``dataset``."""
    feats = reference_features(_protocol(dataset).dataset, str(torch.device(device)))
    return frechet_distance(feats["val"], feats["test"])


def fd_with_floor(samples: Tensor, dataset: str = "mnist5k") -> FDResult:
    """FD (course features) of ``samples`` against the test split, with the real-vs-real floor at the same N.

    ``samples``: exactly ``N`` images shaped like the dataset's, (N, 1, S, S), floating point in
    [0, 1], on any device (the feature network runs there). See the table in the module docstring.
    """
    spec = _protocol(dataset)
    check_sample_images(samples, spec.image_size, "samples")
    if samples.shape[0] != spec.n:
        raise ValueError(
            f"The FD protocol of {dataset} compares exactly N = {spec.n} samples (the size of its validation split, "
            f"whose FD is the floor); got {samples.shape[0]}. Pass model.sample({spec.n})."
        )
    device = str(samples.device)
    feats = reference_features(spec.dataset, device)
    fake = extract_features(_net(spec.feature_net, device), samples)
    return FDResult(
        fd=frechet_distance(fake, feats["test"]),
        floor=frechet_distance(feats["val"], feats["test"]),
        n=spec.n,
        n_reference=spec.n_reference,
        dataset=dataset,
        feature_net=spec.feature_net,
    )


@dataclass(frozen=True)
class BiasPoint:
    """Real-vs-real FD at one N: mean and standard deviation over seeds, and every value."""

    n: int
    mean: float
    std: float
    values: tuple[float, ...]


def fd_bias_curve(dataset: str, ns: tuple[int, ...], *, seeds: int = 5, device: torch.device | str = "cpu") -> list[BiasPoint]:
    """Real-vs-real FD as a function of N: for each N and seed, N random validation images against
    N random test images (each drawn without replacement), in the features of the dataset's network.

    ``dataset``: one of ``PROTOCOLS`` or ``"fashion-mnist"`` (digit features: see the module docstring;
    raises ``DatasetUnavailable`` when Fashion-MNIST is not installed). N is at most the size of the
    smaller split. The standard deviation is over ``seeds`` draws (ddof = 1).
    """
    if dataset not in BIAS_DATASETS:
        raise ValueError(f"Unknown dataset {dataset!r}; choose one of {', '.join(BIAS_DATASETS)}.")
    if seeds < 2:
        raise ValueError(f"seeds must be at least 2 to give a standard deviation; got {seeds}.")
    feats = reference_features(dataset, str(torch.device(device)))
    largest = min(len(feats["val"]), len(feats["test"]))
    for n in ns:
        if not 2 <= n <= largest:
            raise ValueError(f"Each N must lie in [2, {largest}] for {dataset} (its validation and test splits); got {n}.")
    curve = []
    for n in ns:
        values = []
        for seed in range(seeds):
            rng = np.random.default_rng(seed)
            a = feats["val"][rng.permutation(len(feats["val"]))[:n]]
            b = feats["test"][rng.permutation(len(feats["test"]))[:n]]
            values.append(frechet_distance(a, b))
        arr = np.array(values)
        curve.append(BiasPoint(n, float(arr.mean()), float(arr.std(ddof=1)), tuple(values)))
    return curve
