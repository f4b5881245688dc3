"""The model families, one per file, each a :class:`~course_utils.base.GenerativeModel` with its config
dataclass, and a registry from family name to class.

| family              | class                  | file                 | log_prob     | support    |
|---------------------|------------------------|----------------------|--------------|------------|
| ``independent``     | ``IndependentPixels``  | ``independent.py``   | exact        | discrete   |
| ``table``           | ``CausalTable``        | ``tables.py``        | exact        | discrete   |
| ``mixture-bernoulli`` | ``MixtureOfBernoullis`` | ``tables.py``     | exact        | discrete   |
| ``made``            | ``MADE``               | ``made.py``          | exact        | discrete   |
| ``pixelcnn``        | ``PixelCNN``           | ``pixelcnn.py``      | exact        | discrete   |
| ``char_transformer``| ``CharTransformer``    | ``char_transformer.py`` | exact     | discrete (ids) |
| ``vae``             | ``VAE``                | ``vae.py``           | lower bound  | discrete   |
| ``autoencoder``     | ``Autoencoder``        | ``vae.py``           | none         | discrete   |
| ``gaussian-mixture``| ``GaussianMixture``    | ``gaussian_mixture.py`` | exact     | continuous |
| ``ddpm``            | ``DDPM``               | ``diffusion.py``     | lower bound  | discrete   |
| ``flow-matching``   | ``FlowMatching``       | ``flow_matching.py`` | none         | discrete   |
| ``masked-diffusion``| ``MaskedDiffusion``    | ``masked_diffusion.py`` | lower bound | discrete  |

:func:`build_model` makes a model from a family name and a config dict (what a checkpoint stores);
:func:`load_model` (in :mod:`course_utils.models.presets`) gives the model a notebook trained, by
preset name, training it at the current budget if no checkpoint exists.
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from typing import Any

from ..base import GenerativeModel
from .char_transformer import CharTransformer, CharTransformerConfig
from .diffusion import DDPM, DDPMConfig
from .flow_matching import FlowMatching, FlowMatchingConfig
from .gaussian_mixture import GaussianMixture, GaussianMixtureConfig
from .independent import IndependentConfig, IndependentPixels
from .made import MADE, MADEConfig
from .masked_diffusion import MaskedDiffusion, MaskedDiffusionConfig
from .pixelcnn import PixelCNN, PixelCNNConfig
from .tables import CausalTable, MixtureConfig, MixtureOfBernoullis, TableConfig
from .vae import VAE, Autoencoder, VAEConfig

# family name -> (model class, config class)
FAMILIES: dict[str, tuple[type[GenerativeModel], type]] = {
    cls.family: (cls, config)
    for cls, config in (
        (IndependentPixels, IndependentConfig),
        (CausalTable, TableConfig),
        (MixtureOfBernoullis, MixtureConfig),
        (MADE, MADEConfig),
        (PixelCNN, PixelCNNConfig),
        (CharTransformer, CharTransformerConfig),
        (VAE, VAEConfig),
        (Autoencoder, VAEConfig),
        (GaussianMixture, GaussianMixtureConfig),
        (DDPM, DDPMConfig),
        (FlowMatching, FlowMatchingConfig),
        (MaskedDiffusion, MaskedDiffusionConfig),
    )
}


def build_model(family: str, config: Any) -> GenerativeModel:
    """A new model of ``family`` from its config (a dataclass or the plain dict a checkpoint stores)."""
    if family not in FAMILIES:
        raise ValueError(f"Unknown family {family!r}; the registry has {', '.join(sorted(FAMILIES))}.")
    cls, config_cls = FAMILIES[family]
    if not is_dataclass(config):
        known = {f.name for f in fields(config_cls)}
        unknown = set(config) - known
        if unknown:
            raise ValueError(f"{config_cls.__name__} has no field(s) {', '.join(sorted(unknown))}.")
        config = config_cls(**config)
    return cls(config)


__all__ = [
    "DDPM", "FAMILIES", "MADE", "VAE", "Autoencoder", "CausalTable", "CharTransformer", "FlowMatching", "GaussianMixture",
    "IndependentPixels", "MaskedDiffusion", "MixtureOfBernoullis", "PixelCNN", "build_model",
]
