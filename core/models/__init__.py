"""The VAE family: name -> class.

Each model declares its own name, description and options (``TabularVAE.NAME``,
``DESCRIPTION``, ``OPTIONS``); adding one is its file in this package and a line in
``_FAMILY``. Nothing outside this package branches on model names.
"""

from __future__ import annotations

from core.errors import DataError
from core.models.base import Batch, ModelOption, Objective, SharedRepresentation, TabularVAE, TaskForward
from core.models.dreg import DReG
from core.models.hivae import HIVAE
from core.models.iwae import IWAE
from core.models.vae import VAE

_FAMILY: tuple[type[TabularVAE], ...] = (VAE, IWAE, DReG, HIVAE)

MODELS: dict[str, type[TabularVAE]] = {cls.NAME: cls for cls in _FAMILY}
MODEL_DESCRIPTIONS: dict[str, str] = {name: cls.DESCRIPTION for name, cls in MODELS.items()}


def model_class(name: str) -> type[TabularVAE]:
    try:
        return MODELS[name.lower()]
    except KeyError:
        raise DataError(f"unknown model {name!r} (expected one of: {', '.join(MODELS)})") from None


def model_options() -> dict[str, tuple[ModelOption, list[str]]]:
    """Every model's own options, by name, with the models that read each (in registry order)."""
    options: dict[str, tuple[ModelOption, list[str]]] = {}
    for name, cls in MODELS.items():
        for option in cls.OPTIONS:
            options.setdefault(option.name, (option, []))[1].append(name)
    return options


__all__ = [
    "HIVAE",
    "IWAE",
    "MODELS",
    "MODEL_DESCRIPTIONS",
    "VAE",
    "Batch",
    "DReG",
    "ModelOption",
    "Objective",
    "SharedRepresentation",
    "TabularVAE",
    "TaskForward",
    "model_class",
    "model_options",
]
