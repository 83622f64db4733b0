"""The VAE family: name -> class."""

from __future__ import annotations

from core.errors import DataError
from core.models.base import Batch, Objective, SharedRepresentation, TabularVAE, TaskForward
from core.models.dreg import DReG
from core.models.hivae import HIVAE
from core.models.iwae import IWAE
from core.models.vae import VAE

MODELS: dict[str, type[TabularVAE]] = {"vae": VAE, "iwae": IWAE, "dreg": DReG, "hivae": HIVAE}
MODEL_DESCRIPTIONS = {
    "vae": "VAE on the ELBO",
    "iwae": "importance-weighted autoencoder (S importance samples)",
    "dreg": "IWAE with doubly reparameterised encoder gradients",
    "hivae": "HI-VAE: Gaussian-mixture prior with a categorical s, per-column heads",
}


def model_class(name: str) -> type[TabularVAE]:
    try:
        return MODELS[name.lower()]
    except KeyError:
        raise DataError(f"unknown model {name!r} (expected one of: {', '.join(MODELS)})") from None


__all__ = [
    "HIVAE",
    "IWAE",
    "MODELS",
    "MODEL_DESCRIPTIONS",
    "VAE",
    "Batch",
    "DReG",
    "Objective",
    "SharedRepresentation",
    "TabularVAE",
    "TaskForward",
    "model_class",
]
