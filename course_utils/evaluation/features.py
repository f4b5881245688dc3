"""Feature networks for sample quality: the course's own small digit classifiers.

FID (Heusel et al. 2017) measures a Fréchet distance in the pool features of Inception-v3, whose
weights are a download. The course works offline, so it measures the same distance in the
penultimate-layer features of two small classifiers trained here on the training splits only,
and calls the number **"FD (course features)"**: its scale is not Inception's, never call it FID.

| name        | data (train split only)                          | input                       | features | classes |
|-------------|--------------------------------------------------|-----------------------------|----------|---------|
| ``mnist28`` | ``load_mnist5k`` grey, 4,000 images               | (N, 1, 28, 28) in [0, 1]    | 128      | 10      |
| ``digits8`` | ``load_digits8x8``, 1,000 images (17 levels / 16) | (N, 1, 8, 8) in [0, 1]      | 64       | 10      |

Both accept grey images (values in [0, 1]) and binary ones ({0, 1}): in training, half of the
images of every batch (chosen afresh) are a fresh Bernoulli draw of the grey image, and every
image is shifted by up to 2 pixels (1 on the 8x8 digits), so a binarised model's samples are not
out of distribution for the classifier. On the 8x8 digits a binary draw loses much of the digit
(64 pixels), hence the lower binarised accuracy. Their test accuracies on both kinds of input are the
constants in :data:`FEATURE_NETS`, measured by the script that writes the weights
(``python -m course_utils.tooling.train_features``). The weights ship in ``weights/*.pt``:
plain dicts ``{family, name, config, state_dict, version, accuracy}`` loaded with
``torch.load(weights_only=True)`` after their SHA-256 is checked against the constant here.

Optional: :func:`load_feature_net` ``("inception", weights_path=...)`` builds torchvision's
Inception-v3 from a state-dict file *you* supply (it never downloads) and returns its 2048-d pool
features. torchvision's ImageNet weights are not the TensorFlow graph that FID papers use, so
even those numbers are only close to published FIDs, not equal.

Typical use::

    net = load_feature_net("mnist28", device=rt.device)
    feats = extract_features(net, samples)        # (N, 128) float32, on the CPU
    probs = class_probabilities(net, samples)      # (N, 10)
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
FAMILY = "course_feature_net"
FORMAT_VERSION = 1
REGENERATE = "python -m course_utils.tooling.train_features"


class FeatureWeightsError(ValueError):
    """A feature network's weights are missing, altered or unreadable; the message says what to do."""


# --------------------------------------------------------------------------- the networks
@dataclass
class FeatureNetConfig:
    """A small CNN: 3x3 conv blocks (each ``channels[i]`` wide, 2x2 max-pool after it if ``pool[i]``),
    then a linear layer to ``feature_dim`` (ReLU): the features; then a linear layer to the logits."""

    image_size: int
    channels: list[int] = field(default_factory=lambda: [16, 32, 64])
    pool: list[bool] = field(default_factory=lambda: [True, True, True])
    feature_dim: int = 128
    num_classes: int = 10

    def __post_init__(self) -> None:
        if len(self.channels) != len(self.pool) or not self.channels:
            raise ValueError(f"channels and pool must be non-empty and of one length; got {self.channels} and {self.pool}.")


class DigitClassifier(nn.Module):
    """A digit classifier whose penultimate layer gives the features of FD, KID, precision/recall.

    ``features(x)``: (B, 1, S, S) in [0, 1] -> (B, feature_dim), after a ReLU.
    ``forward(x)``: -> (B, num_classes) logits. ``image_size`` is S.
    """

    def __init__(self, cfg: FeatureNetConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.image_size = cfg.image_size
        self.feature_dim = cfg.feature_dim
        layers: list[nn.Module] = []
        c_in, size = 1, cfg.image_size
        for c_out, pool in zip(cfg.channels, cfg.pool):
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU()]
            if pool:
                layers.append(nn.MaxPool2d(2))
                size //= 2
            c_in = c_out
        self.conv = nn.Sequential(*layers)
        self.fc = nn.Linear(c_in * size * size, cfg.feature_dim)
        self.head = nn.Linear(cfg.feature_dim, cfg.num_classes)

    def features(self, x: Tensor) -> Tensor:
        # (B, 1, S, S) -> (B, C, s, s) -> (B, C*s*s) -> (B, feature_dim)
        return F.relu(self.fc(self.conv(2 * x - 1).flatten(1)))  # inputs centred: [0, 1] -> [-1, 1]

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))


class InceptionFeatures(nn.Module):
    """torchvision's Inception-v3 as a feature network: 2048-d pool features and 1000 logits.

    Grey (B, 1, H, W) or colour (B, 3, H, W) images in [0, 1] are resized to 299x299 (bilinear),
    grey ones repeated to three channels, and scaled to [-1, 1]: the input torchvision's ImageNet
    weights (ported from Google's) expect; its ``transform_input=True`` does the same from
    ImageNet-normalised input.
    """

    image_size = None  # any size: inputs are resized
    feature_dim = 2048

    def __init__(self, state_dict: dict[str, Tensor]) -> None:
        super().__init__()
        from torchvision.models import inception_v3

        net = inception_v3(weights=None, aux_logits=True, init_weights=False, transform_input=False)
        net.load_state_dict(state_dict)
        self.net = net

    def _pool(self, x: Tensor) -> Tensor:
        x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
        x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        x = 2 * x - 1
        n = self.net
        for name in ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1", "Conv2d_3b_1x1", "Conv2d_4a_3x3",
                     "maxpool2", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d",
                     "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c", "avgpool"):
            x = getattr(n, name)(x)
        return x.flatten(1)  # (B, 2048)

    def features(self, x: Tensor) -> Tensor:
        return self._pool(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.net.fc(self._pool(x))


# --------------------------------------------------------------------------- the committed weights
@dataclass(frozen=True)
class FeatureNetSpec:
    """One committed feature network: its file, its hash and the accuracies measured when it was trained."""

    name: str
    dataset: str
    config: FeatureNetConfig
    file: str
    sha256: str
    test_accuracy_grey: float  # on the grey test split, in percent
    test_accuracy_binarized: float  # on the statically binarised test split, in percent


MNIST28_CONFIG = FeatureNetConfig(image_size=28, channels=[16, 32, 64], pool=[True, True, True], feature_dim=128)
DIGITS8_CONFIG = FeatureNetConfig(image_size=8, channels=[32, 64, 64], pool=[False, True, True], feature_dim=64)

# Written by `python -m course_utils.tooling.train_features` (it prints these lines).
FEATURE_NETS: dict[str, FeatureNetSpec] = {
    "mnist28": FeatureNetSpec(
        "mnist28", "mnist5k", MNIST28_CONFIG, "mnist28.pt",
        sha256="5e42416172d1aa7929886a39c6834783f805034bcd0d4dfe0977359e91d8c4ea",
        test_accuracy_grey=98.6, test_accuracy_binarized=97.6,
    ),
    "digits8": FeatureNetSpec(
        "digits8", "digits8x8", DIGITS8_CONFIG, "digits8.pt",
        sha256="a2388b1899fafb0f30145c7fa45b5430f2aa2eaa8cdbe039603b542652a2d61c",
        test_accuracy_grey=96.87, test_accuracy_binarized=87.92,
    ),
}


def sha256_of(path: str | Path) -> str:
    """The SHA-256 of a file's bytes, in hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def checkpoint_bytes(name: str, net: DigitClassifier, accuracy: dict[str, float], train: dict) -> bytes:
    """The bytes of a feature-net checkpoint (a plain dict), as the training script writes them."""
    payload = {
        "family": FAMILY,
        "name": name,
        "config": asdict(net.cfg),
        "state_dict": {k: v.detach().cpu().clone() for k, v in net.state_dict().items()},
        "version": FORMAT_VERSION,
        "accuracy": dict(accuracy),
        "train": dict(train),
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def _resolve_device(device: torch.device | str | None) -> torch.device:
    if device is None:
        from ..runtime import get_device

        return get_device()
    return torch.device(device)


def load_feature_net(name: str, device: torch.device | str | None = None, *, weights_path: str | Path | None = None) -> nn.Module:
    """A feature network in eval mode with frozen weights, on ``device`` (default: the course's device).

    ``name``: ``"mnist28"`` or ``"digits8"`` (the committed weights; ``weights_path`` may point at a
    copy, whose hash is still checked), or ``"inception"`` with ``weights_path`` a state dict of
    torchvision's ``inception_v3`` that you downloaded yourself (nothing is downloaded here).
    """
    device = _resolve_device(device)
    if name == "inception":
        return _load_inception(weights_path, device)
    if name not in FEATURE_NETS:
        raise ValueError(f"Unknown feature network {name!r}; choose one of {', '.join(FEATURE_NETS)} or 'inception'.")
    spec = FEATURE_NETS[name]
    path = Path(weights_path) if weights_path is not None else WEIGHTS_DIR / spec.file
    if not path.is_file():
        raise FeatureWeightsError(f"The weights of feature network {name!r} are missing ({path}); regenerate them with `{REGENERATE}`.")
    found = sha256_of(path)
    if found != spec.sha256:
        raise FeatureWeightsError(
            f"{path} has SHA-256 {found[:16]}..., not the {spec.sha256[:16]}... that features.py expects: restore the "
            f"committed file (git checkout), or retrain with `{REGENERATE}` and paste the hashes it prints into FEATURE_NETS."
        )
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        if payload["family"] != FAMILY or payload["name"] != name or payload["version"] != FORMAT_VERSION:
            raise KeyError("family, name or version")
        net = DigitClassifier(FeatureNetConfig(**payload["config"]))
        net.load_state_dict(payload["state_dict"])
    except Exception as err:  # unpickling and key errors come in many types
        raise FeatureWeightsError(f"{path} is not a {name!r} feature-net checkpoint ({err}); regenerate it with `{REGENERATE}`.") from err
    if asdict(net.cfg) != asdict(spec.config):
        raise FeatureWeightsError(f"{path} holds a network of another configuration; regenerate it with `{REGENERATE}`.")
    return net.to(device).eval().requires_grad_(False)


def _load_inception(weights_path: str | Path | None, device: torch.device) -> nn.Module:
    if weights_path is None:
        raise FeatureWeightsError(
            "The Inception path needs weights you supply: load_feature_net('inception', weights_path='inception_v3.pth'), "
            "a state dict of torchvision's inception_v3 (e.g. the file of Inception_V3_Weights.IMAGENET1K_V1). The course never downloads it."
        )
    path = Path(weights_path)
    if not path.is_file():
        raise FeatureWeightsError(f"No Inception-v3 weights at {path}: pass the path of a torchvision inception_v3 state dict you downloaded.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        net = InceptionFeatures(state)
    except Exception as err:
        raise FeatureWeightsError(f"{path} is not a state dict of torchvision's inception_v3 ({type(err).__name__}: {str(err)[:200]}).") from err
    return net.to(device).eval().requires_grad_(False)


# --------------------------------------------------------------------------- using them
def check_sample_images(x: Tensor, image_size: int | None, what: str = "images") -> None:
    """Raise a clear ``TypeError``/``ValueError`` unless ``x`` is (N, 1, S, S) floating point, finite, in [0, 1]."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{what} must be a torch.Tensor shaped (N, 1, H, W); got {type(x).__name__}.")
    if not x.is_floating_point():
        raise TypeError(f"{what} must be floating point with values in [0, 1]; got dtype {x.dtype} (divide 8-bit images by 255).")
    expected = "(N, 1, H, W)" if image_size is None else f"(N, 1, {image_size}, {image_size})"
    if x.ndim != 4 or x.shape[0] < 1 or (image_size is not None and tuple(x.shape[1:]) != (1, image_size, image_size)):
        raise ValueError(f"{what} must be shaped {expected}; got {tuple(x.shape)}.")
    if image_size is None and x.shape[1] not in (1, 3):
        raise ValueError(f"{what} must have 1 or 3 channels; got shape {tuple(x.shape)}.")
    if not torch.isfinite(x).all():
        raise ValueError(f"{what} contain NaN or infinite values.")
    lo, hi = x.min().item(), x.max().item()
    if lo >= 0 and hi > 1 and hi <= 255 and bool((x == x.round()).all()):
        raise ValueError(
            f"{what} must lie in [0, 1]; got whole numbers in [{lo:.0f}, {hi:.0f}], which look like grey levels: pass level / (K - 1), "
            "e.g. levels / 16 for the 8x8 digits (17 levels) or levels / 255 for 8-bit images."
        )
    if lo < 0 or hi > 1:
        raise ValueError(
            f"{what} must lie in [0, 1]; got values in [{lo:.3g}, {hi:.3g}] "
            "(clamp samples with x.clamp(0, 1), or map [-1, 1] data with (x + 1) / 2)."
        )


def _run_batched(net: nn.Module, fn_name: str, x: Tensor, batch_size: int) -> Tensor:
    check_sample_images(x, getattr(net, "image_size", None))
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive; got {batch_size}.")
    device = next(net.parameters()).device
    fn = getattr(net, fn_name)
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            out = [fn(x[i : i + batch_size].to(device, torch.float32)).float().cpu() for i in range(0, x.shape[0], batch_size)]
    finally:
        net.train(was_training)
    return torch.cat(out)


def extract_features(net: nn.Module, x: Tensor, *, batch_size: int = 500) -> Tensor:
    """Penultimate-layer features of images ``x`` (N, 1, S, S) in [0, 1], on any device.

    Runs in batches on the network's device, without gradients and in eval mode (the network's
    mode is restored). Returns (N, feature_dim) float32 on the CPU, where the metrics (float64)
    run.
    """
    return _run_batched(net, "features", x, batch_size)


def class_logits(net: nn.Module, x: Tensor, *, batch_size: int = 500) -> Tensor:
    """Class logits (N, num_classes) float32 on the CPU; same conditions as :func:`extract_features`."""
    return _run_batched(net, "forward", x, batch_size)


def class_probabilities(net: nn.Module, x: Tensor, *, batch_size: int = 500) -> Tensor:
    """p(y | x) from the network's softmax: (N, num_classes) float64 on the CPU, rows summing to 1."""
    return torch.softmax(class_logits(net, x, batch_size=batch_size).double(), dim=1)


def accuracy(net: nn.Module, x: Tensor, y: Tensor, *, batch_size: int = 500) -> float:
    """Classification accuracy in percent."""
    pred = class_logits(net, x, batch_size=batch_size).argmax(1)
    return 100.0 * (pred == y.cpu()).double().mean().item()


def classifier_test_sets(name: str) -> dict[str, tuple[Tensor, Tensor]]:
    """The test split of a feature network's dataset, grey and statically binarised: ``{kind: (x, y)}``.

    ``mnist28``: ``load_mnist5k(binarized=False).test`` and ``load_mnist5k().test`` (the course's
    static binarisation). ``digits8``: ``load_digits8x8().test`` and one Bernoulli draw of it
    (pixel on with probability level / 16, seeded with ``data.BINARIZE_SEED``).
    """
    import numpy as np

    from ..data import BINARIZE_SEED, load_digits8x8, load_mnist5k

    if name == "mnist28":
        grey, binary = load_mnist5k(binarized=False).test, load_mnist5k().test
        return {"grey": (grey.x, grey.y), "binarized": (binary.x, binary.y)}
    if name == "digits8":
        test = load_digits8x8().test
        rng = np.random.default_rng(BINARIZE_SEED)
        on = rng.random(tuple(test.levels.shape)) < test.levels.numpy() / 16.0
        return {"grey": (test.x, test.y), "binarized": (torch.from_numpy(on.astype(np.float32)), test.y)}
    raise ValueError(f"Unknown feature network {name!r}; choose one of {', '.join(FEATURE_NETS)}.")
