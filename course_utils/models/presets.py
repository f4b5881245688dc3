"""Presets: the models the notebooks train, by name, so that any notebook can load them.

A :class:`Preset` says, for each budget, which model (family and config), trained how
(``TrainConfig``), on which dataset and batches. :func:`load_model` builds it on the runtime's
device and calls ``fit_or_load`` with the runtime's checkpoint folder and budget: the notebook that
teaches a model and notebook 09, which compares them all, use the same preset and so the same
checkpoint, and whichever runs first trains it. A notebook adds its presets here when it is written.

| preset                | notebook | family    | data                |
|-----------------------|----------|-----------|---------------------|
| ``made``              | 03       | made      | binarised MNIST-5k  |
| ``made-order-agnostic`` | 03     | made      | binarised MNIST-5k  |
| ``fvsbn``             | 03       | made (no hidden layer) | binarised MNIST-5k |
| ``pixelcnn``          | 03       | pixelcnn  | binarised MNIST-5k  |
| ``pixelcnn-digits``   | 03       | pixelcnn (17 levels) | 8x8 digits |
| ``vae-digits``        | 04       | vae       | 8x8 digits          |
| ``vae-mnist``         | 04       | vae       | binarised MNIST-5k  |
| ``realnvp-digits``    | 05       | image-flow (uniform dequantisation) | 8x8 digits |
| ``realnvp-digits-vardeq`` | 05   | image-flow (variational dequantisation) | 8x8 digits |
| ``rbm-mnist``         | 07       | rbm (exact log Z) | binarised MNIST-5k |
| ``ebm-digits``        | 07       | ebm-image | 8x8 digits          |
| ``dcgan-mnist``       | 06       | dcgan     | grey MNIST-5k       |
| ``ddpm-digits``       | 08       | ddpm (x0 logits, trained on the bound) | 8x8 digits |
| ``ddpm-eps-digits``   | 08       | ddpm (eps, simple loss) | 8x8 digits |
| ``flow-matching-digits`` | 08    | flow-matching | 8x8 digits      |
| ``masked-diffusion-mnist`` | 08  | masked-diffusion | binarised MNIST-5k |
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any, Callable

import torch

from ..base import GenerativeModel
from ..data import DatasetUnavailable, ImageData, load_dataset
from ..runtime import Budget, Runtime, by_budget
from ..train import History, TrainConfig
from .flows import ImageFlow, ImageFlowConfig
from .ebm import ImageEBM, ImageEBMConfig
from .gan import DCGAN, DCGANConfig
from .diffusion import DDPM, DDPMConfig
from .flow_matching import FlowMatching, FlowMatchingConfig
from .made import MADE, MADEConfig
from .masked_diffusion import MaskedDiffusion, MaskedDiffusionConfig
from .pixelcnn import PixelCNN, PixelCNNConfig
from .rbm import RBM, RBMConfig
from .vae import VAE, VAEConfig


@dataclass(frozen=True)
class Preset:
    """How one of the course's models is built and trained, per budget (see the module docstring)."""

    name: str
    notebook: str
    dataset: Callable[[Budget], str]  # budget -> dataset name (course_utils.data.DATASETS)
    build: Callable[[Budget], GenerativeModel]  # budget -> a new, untrained model
    train: Callable[[Budget], TrainConfig]
    batch_size: int = 100
    val_batch_size: int = 500
    labels: bool = False  # (x, y) batches for a conditional model
    init: Callable[[GenerativeModel, ImageData], Any] | None = None  # e.g. MADE's start at the marginals
    fallback_dataset: str | None = None  # used, with a printed sentence, when the dataset is not installed


def _pick(**values: Any) -> Callable[[Budget], Any]:
    return lambda budget: by_budget(budget, **values)


PRESETS: dict[str, Preset] = {}


def register(preset: Preset) -> Preset:
    if preset.name in PRESETS:
        raise ValueError(f"A preset named {preset.name!r} exists already.")
    PRESETS[preset.name] = preset
    return preset


def _mnist(budget: Budget) -> str:
    return "mnist-binarized" if budget == "full" else "mnist5k-binarized"


def _made_train(budget: Budget) -> TrainConfig:
    return TrainConfig(epochs=by_budget(budget, smoke=3, laptop=40, full=100), lr=by_budget(budget, smoke=1e-2, laptop=5e-3, full=1e-3),
                       patience=by_budget(budget, smoke=None, laptop=4, full=10), progress=False)


def _from_marginals(model: GenerativeModel, data: ImageData) -> None:
    model.init_from_marginals(data.train.x.to(model.device))


_MADE_HIDDEN = _pick(smoke=(256,), laptop=(500,), full=(8000,))  # the paper: 8000 hidden units

register(Preset("made", "03_autoregressive", _mnist, lambda b: MADE(MADEConfig(hidden=_MADE_HIDDEN(b))), _made_train,
                init=_from_marginals, fallback_dataset="mnist5k-binarized"))
register(Preset(
    "made-order-agnostic", "03_autoregressive", _mnist,
    lambda b: MADE(MADEConfig(hidden=_MADE_HIDDEN(b), num_masks=by_budget(b, smoke=4, laptop=8, full=32), order_agnostic=True, seed=1)),
    lambda b: TrainConfig(epochs=by_budget(b, smoke=2, laptop=40, full=100), lr=_made_train(b).lr, patience=_made_train(b).patience, progress=False),
    init=_from_marginals, fallback_dataset="mnist5k-binarized",
))
register(Preset("fvsbn", "03_autoregressive", _mnist, lambda b: MADE(MADEConfig(hidden=())),
                lambda b: TrainConfig(epochs=by_budget(b, smoke=1, laptop=15, full=50), lr=1e-2, progress=False),
                init=_from_marginals, fallback_dataset="mnist5k-binarized"))
register(Preset(
    "pixelcnn", "03_autoregressive", _mnist,
    lambda b: PixelCNN(PixelCNNConfig(channels=by_budget(b, smoke=8, laptop=16, full=64), num_layers=by_budget(b, smoke=4, laptop=5, full=7))),
    lambda b: TrainConfig(epochs=by_budget(b, smoke=1, laptop=6, full=30), max_steps=by_budget(b, smoke=80, laptop=None, full=None),
                          lr=by_budget(b, smoke=1e-2, laptop=3e-3, full=1e-3), patience=by_budget(b, smoke=None, laptop=3, full=5), progress=False),
    batch_size=32, fallback_dataset="mnist5k-binarized",
))
register(Preset(
    "pixelcnn-digits", "03_autoregressive", lambda b: "digits8x8",
    lambda b: PixelCNN(PixelCNNConfig(shape=(1, 8, 8), num_levels=17, channels=by_budget(b, smoke=16, laptop=32, full=64),
                                      num_layers=by_budget(b, smoke=4, laptop=5, full=6), kernel_size=5, two_stack=b == "full")),
    lambda b: TrainConfig(epochs=by_budget(b, smoke=3, laptop=40, full=100), lr=by_budget(b, smoke=1e-2, laptop=5e-3, full=2e-3),
                          patience=by_budget(b, smoke=None, laptop=8, full=10), progress=False),
    batch_size=50,
))
register(Preset(
    "vae-digits", "04_vae", lambda b: "digits8x8",
    lambda b: VAE(VAEConfig(shape=(1, 8, 8), num_levels=17, latent_dim=16, hidden=by_budget(b, smoke=128, laptop=256, full=256), depth=2,
                            dropout=by_budget(b, smoke=0.0, laptop=0.2, full=0.2))),
    lambda b: TrainConfig(epochs=by_budget(b, smoke=12, laptop=400, full=1000), lr=by_budget(b, smoke=2e-3, laptop=1e-3, full=1e-3),
                          weight_decay=1e-3, patience=by_budget(b, smoke=None, laptop=30, full=30), progress=False),
    batch_size=50,
))
register(Preset(
    "vae-mnist", "04_vae", lambda b: "mnist5k-binarized",
    lambda b: VAE(VAEConfig(shape=(1, 28, 28), num_levels=2, latent_dim=by_budget(b, smoke=16, laptop=32, full=32),
                            hidden=by_budget(b, smoke=128, laptop=400, full=500), depth=by_budget(b, smoke=1, laptop=2, full=2))),
    lambda b: TrainConfig(epochs=by_budget(b, smoke=3, laptop=60, full=300), lr=2e-3, weight_decay=1e-5,
                          patience=by_budget(b, smoke=None, laptop=10, full=20), progress=False),
))

register(Preset(  # 20 hidden units: the exact log Z sums 2^20 terms (seconds on a CPU); fewer at smoke
    "rbm-mnist", "07_energy_based_models", _mnist,
    lambda b: RBM(RBMConfig(shape=(1, 28, 28), hidden=by_budget(b, smoke=10, laptop=20, full=20), k=1, persistent=True)),
    lambda b: TrainConfig(epochs=by_budget(b, smoke=3, laptop=150, full=200), lr=5e-3, schedule="cosine", clip_grad_norm=None,
                          progress=False),
    init=_from_marginals, fallback_dataset="mnist5k-binarized",
))
register(Preset(  # Du & Mordatch's recipe: short-run Langevin from a replay buffer, Adam without momentum
    "ebm-digits", "07_energy_based_models", lambda b: "digits8x8",
    lambda b: ImageEBM(ImageEBMConfig(shape=(1, 8, 8), num_levels=17, hidden=256, depth=2, temperature=1e-2, step_size=1e-3,
                                      steps=by_budget(b, smoke=10, laptop=20, full=60), alpha=1.0)),
    lambda b: TrainConfig(epochs=by_budget(b, smoke=3, laptop=50, full=200), lr=1e-3, betas=(0.0, 0.999), progress=False),
))



def _realnvp_digits(dequantization: str) -> Callable[[Budget], GenerativeModel]:
    """RealNVP on the 8x8 digits: checkerboard affine couplings (MLP conditioners) and ActNorm."""
    return lambda b: ImageFlow(ImageFlowConfig(
        shape=(1, 8, 8), num_levels=17, num_layers=by_budget(b, smoke=4, laptop=10, full=10),
        hidden=by_budget(b, smoke=(64, 64), laptop=(256, 256), full=(512, 512)), dropout=by_budget(b, smoke=0.0, laptop=0.2, full=0.2),
        dequantization=dequantization, deq_layers=4, deq_hidden=by_budget(b, smoke=(32,), laptop=(128,), full=(256,)),
    ))


def _realnvp_train(budget: Budget) -> TrainConfig:
    """A fixed number of epochs for both dequantisations; ``patience = epochs`` never stops early but
    keeps the weights of the best validation bound (early stopping as model selection)."""
    epochs = by_budget(budget, smoke=3, laptop=60, full=300)
    return TrainConfig(epochs=epochs, lr=by_budget(budget, smoke=2e-3, laptop=1e-3, full=5e-4), patience=epochs, progress=False)


register(Preset("realnvp-digits", "05_normalizing_flows", lambda b: "digits8x8", _realnvp_digits("uniform"), _realnvp_train))
register(Preset("realnvp-digits-vardeq", "05_normalizing_flows", lambda b: "digits8x8", _realnvp_digits("variational"), _realnvp_train))

_DCGAN_STEPS = _pick(smoke=150, laptop=5000, full=30_000)


def _dcgan(budget: Budget) -> DCGAN:
    """The DCGAN of notebook 06: 500 samples of fixed latents recorded at 8 points of training (for FD against step)."""
    steps = _DCGAN_STEPS(budget)
    return DCGAN(DCGANConfig(shape=(1, 28, 28), num_levels=256, latent_dim=64, channels=by_budget(budget, smoke=16, laptop=32, full=64),
                             snapshot_steps=tuple(sorted({max(1, steps * k // 8) for k in range(1, 9)})), snapshot_size=500))


register(Preset(
    "dcgan-mnist", "06_gans", lambda b: "mnist5k", _dcgan,
    lambda b: TrainConfig(epochs=10**4, max_steps=_DCGAN_STEPS(b), lr=by_budget(b, smoke=1e-3, laptop=1e-3, full=2e-4), clip_grad_norm=None,
                          progress=False),
    batch_size=64,
))


# Notebook 08. The digits models share one network (a residual MLP, 3 blocks of 256) and, but for the
# bound model, one training run: cosine learning-rate decay and a weight average (EMA).
_DIFFUSION_T = _pick(smoke=100, laptop=1000, full=1000)  # fewer steps at smoke keep CI's sampling cheap


def _denoiser_train(budget: Budget) -> TrainConfig:
    return TrainConfig(epochs=by_budget(budget, smoke=3, laptop=200, full=1000), lr=2e-3, warmup_steps=by_budget(budget, smoke=5, laptop=100, full=100),
                       schedule="cosine", ema_decay=0.995, progress=False)


register(Preset(
    "ddpm-digits", "08_diffusion", lambda b: "digits8x8",
    lambda b: DDPM(DDPMConfig(shape=(1, 8, 8), num_levels=17, timesteps=_DIFFUSION_T(b), schedule="cosine", prediction="x0", objective="vlb",
                              width=256, depth=3, dropout=0.2)),
    lambda b: TrainConfig(epochs=by_budget(b, smoke=3, laptop=150, full=400), lr=2e-3, ema_decay=0.999,
                          patience=by_budget(b, smoke=None, laptop=15, full=30), progress=False),
))
register(Preset(
    "ddpm-eps-digits", "08_diffusion", lambda b: "digits8x8",
    lambda b: DDPM(DDPMConfig(shape=(1, 8, 8), num_levels=17, timesteps=_DIFFUSION_T(b), schedule="cosine", prediction="eps", objective="simple",
                              width=256, depth=3)),
    _denoiser_train,
))
register(Preset(
    "flow-matching-digits", "08_diffusion", lambda b: "digits8x8",
    lambda b: FlowMatching(FlowMatchingConfig(shape=(1, 8, 8), num_levels=17, width=256, depth=3)),
    _denoiser_train,
))
register(Preset(
    "masked-diffusion-mnist", "08_diffusion", lambda b: "mnist5k-binarized",  # at every budget: its test split and FD protocol
    lambda b: MaskedDiffusion(MaskedDiffusionConfig(shape=(1, 28, 28), num_levels=2, channels=by_budget(b, smoke=(8, 16), laptop=(16, 32, 64), full=(64, 128, 256)))),
    lambda b: TrainConfig(epochs=by_budget(b, smoke=1, laptop=12, full=100), max_steps=by_budget(b, smoke=20, laptop=None, full=None), lr=2e-3,
                          warmup_steps=by_budget(b, smoke=5, laptop=50, full=200), schedule="cosine", progress=False),
    batch_size=64,
))


def preset_data(preset: Preset, budget: Budget, quiet: bool = False) -> ImageData:
    """The preset's dataset at ``budget`` (its fallback, with a printed sentence, when that one is missing)."""
    try:
        return load_dataset(preset.dataset(budget))
    except DatasetUnavailable as missing:
        if preset.fallback_dataset is None:
            raise
        if not quiet:
            print(f"{missing} Using {preset.fallback_dataset} instead.")
        return load_dataset(preset.fallback_dataset)


def preset_seed(name: str, seed: int) -> int:
    """The seed a preset's model is built and trained from: a stable function of its name and the runtime's seed."""
    return (int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "little") + seed) % 2**31


def load_model(name: str, rt: Runtime, *, quiet: bool = False) -> tuple[GenerativeModel, History]:
    """The model of preset ``name`` at ``rt.budget``, on ``rt.device``, with its training history.

    Loads the checkpoint that the preset's notebook (or an earlier call) wrote under
    ``rt.checkpoint_dir``; trains it first when there is none (resuming an interrupted run), and
    says which and how long it took. The model is built from :func:`preset_seed` inside a fork of
    the random state, so it is the same whichever notebook asks first, and the notebook's own random
    draws after the call are the same whether the model was trained or loaded.
    """
    if name not in PRESETS:
        raise ValueError(f"No preset {name!r}; the presets are {', '.join(sorted(PRESETS))}.")
    p = PRESETS[name]
    data = preset_data(p, rt.budget, quiet)
    start = time.perf_counter()
    # the same weights whichever notebook builds the preset first, and the caller's random state untouched
    with torch.random.fork_rng(devices=[rt.device] if rt.device.type == "cuda" else []):
        torch.manual_seed(preset_seed(name, rt.seed))
        model = p.build(rt.budget).to(rt.device)
        if p.init is not None:
            p.init(model, data)
        history = rt.fit_or_load(model, data.train.loader(p.batch_size, seed=rt.seed, labels=p.labels),
                                 data.val.loader(p.val_batch_size, shuffle=False, labels=p.labels), p.train(rt.budget), name=name)
    if not quiet:
        what = "loaded its checkpoint" if history.from_checkpoint else f"trained it in {history.seconds:.1f} s"
        print(f"{name} ({p.notebook}, {rt.budget} budget, {data.name}): {what} ({time.perf_counter() - start:.1f} s); "
              f"{sum(t.numel() for t in model.parameters()):,} parameters")
    return model, history
