"""The settings of one training run, checked in one place.

``TrainConfig`` holds every setting a ``Trainer`` reads: the model and its sizes, the
gradient combination, the optimizer, the seed, the device. The options a single model
reads (IWAE's importance samples, HI-VAE's mixture size) are fields here too, each
declared by its model (``TabularVAE.OPTIONS``), so that a run's saved config is
complete and a comparison can set them apart; ``validate`` checks them by those
declarations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

import torch

from core.errors import DataError
from core.models import model_class, model_options

GRADIENT_SPACES = ("representation", "parameters")
DEVICES = ("cpu", "cuda", "auto")


@dataclass
class TrainConfig:
    model: str = "vae"
    method: str = "none"
    lr: float = 1e-3
    batch_size: int = 128
    latent: int | None = None  # default: half the number of columns
    hidden: int = 50
    layers: int = 3
    dropout: float = 0.1
    beta: float = 1.0
    importance_samples: int = 20  # IWAE, DReG
    mixture_components: int = 10  # HI-VAE
    y_per_column: int = 5  # HI-VAE
    seed: int = 0
    rescale: bool = True  # rescale the combined gradient to the plain gradient's norm
    gradient_space: str = "representation"  # or "parameters"
    cosine_every: int = 10  # above `cosine_max_columns` columns, cosines every n steps (1: every step)
    cosine_max_columns: int = 50
    device: str = "cpu"  # "cpu", "cuda" or "auto"
    method_options: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> TrainConfig:
        """This config, or DataError naming its first problem."""
        problems = []
        if not (self.lr > 0 and math.isfinite(self.lr)):
            problems.append(f"learning rate must be a positive number, got {self.lr}")
        if self.batch_size < 2:
            problems.append(f"batch size must be at least 2, got {self.batch_size}")
        if self.latent is not None and self.latent < 1:
            problems.append(f"latent size must be at least 1, got {self.latent}")
        if self.hidden < 1 or self.layers < 1:
            problems.append("hidden size and number of layers must be at least 1")
        if not 0 <= self.dropout < 1:
            problems.append(f"dropout must be in [0, 1), got {self.dropout}")
        # every model's options, not only this model's: a saved config stays valid whatever model it is switched to
        for option, _ in model_options().values():
            problem = option.problem(getattr(self, option.name))
            if problem is not None:
                problems.append(problem)
        if self.gradient_space not in GRADIENT_SPACES:
            problems.append(f"gradient space must be 'representation' or 'parameters', got {self.gradient_space!r}")
        if self.device not in DEVICES:
            problems.append(f"device must be cpu, cuda or auto, got {self.device!r}")
        if self.device == "cuda" and not torch.cuda.is_available():
            problems.append("device 'cuda' asked for, but no CUDA device is available")
        if problems:
            raise DataError(problems[0])
        model_class(self.model)
        return self

    def model_keywords(self) -> dict[str, int]:
        """The values of this config's model's own options, by constructor keyword."""
        return {option.name: getattr(self, option.name) for option in model_class(self.model).OPTIONS}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> TrainConfig:
        """A config from a saved one; keys that are not settings (any more) are left out."""
        names = {f.name for f in fields(TrainConfig)}
        return TrainConfig(**{k: v for k, v in d.items() if k in names})
