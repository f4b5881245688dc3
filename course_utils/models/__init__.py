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
| ``flow``            | ``Flow``               | ``flows.py``         | exact        | continuous |
| ``image-flow``      | ``ImageFlow``          | ``flows.py``         | lower bound  | discrete   |
| ``rbm``             | ``RBM``                | ``rbm.py``           | exact (log Z over 2^H hidden states) | discrete |
| ``ebm``             | ``EBM``                | ``ebm.py``           | unnormalised | continuous |
| ``ebm-image``       | ``ImageEBM``           | ``ebm.py``           | unnormalised | discrete   |
| ``score``           | ``ScoreModel``         | ``score.py``         | none         | continuous |
| ``gan``             | ``MLPGAN``             | ``gan.py``           | none         | continuous |
| ``dcgan``           | ``DCGAN``              | ``gan.py``           | none         | discrete   |
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
from .flows import Flow, FlowConfig, ImageFlow, ImageFlowConfig
from .gan import DCGAN, MLPGAN, DCGANConfig, MLPGANConfig
from .diffusion import DDPM, DDPMConfig
from .flow_matching import FlowMatching, FlowMatchingConfig
from .gaussian_mixture import GaussianMixture, GaussianMixtureConfig
from .independent import IndependentConfig, IndependentPixels
from .made import MADE, MADEConfig
from .masked_diffusion import MaskedDiffusion, MaskedDiffusionConfig
from .pixelcnn import PixelCNN, PixelCNNConfig
from .tables import CausalTable, MixtureConfig, MixtureOfBernoullis, TableConfig
from .vae import VAE, Autoencoder, VAEConfig
from .ebm import EBM, EBMConfig, ImageEBM, ImageEBMConfig
from .rbm import RBM, RBMConfig
from .score import ScoreConfig, ScoreModel

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
        (Flow, FlowConfig),
        (ImageFlow, ImageFlowConfig),
        (RBM, RBMConfig),
        (EBM, EBMConfig),
        (ImageEBM, ImageEBMConfig),
        (ScoreModel, ScoreConfig),
        (MLPGAN, MLPGANConfig),
        (DCGAN, DCGANConfig),
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
    "DCGAN", "DDPM", "EBM", "FAMILIES", "MADE", "MLPGAN", "RBM", "VAE", "Autoencoder", "CausalTable", "CharTransformer", "Flow",
    "FlowMatching", "GaussianMixture", "ImageEBM", "ImageFlow", "IndependentPixels", "MaskedDiffusion", "MixtureOfBernoullis", "PixelCNN",
    "ScoreModel", "build_model",
]
