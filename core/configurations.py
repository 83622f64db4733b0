"""The training configurations of a comparison: what sets them apart, how fair the
comparison is, and their shareable text form.

Fairness. Every configuration of a comparison trains with the same seed, and the
Trainer keeps three separate random streams (minibatch order, model noise, method
noise). So configurations with the same model architecture and batch size get the
same split, the same initial weights, the same minibatches in the same order and the
same sampling noise: only the gradient combination (and the learning rate, if that
differs) sets them apart. ``fairness_notes`` says which of these hold.

Text form. ``encode_configurations`` writes ``model:method:lr:batch`` per
configuration, comma-separated, for a link that reopens the comparison;
``parse_configurations`` reads it back, with one DataError line naming a bad token.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, fields, replace

import pandas as pd

from core.config import TrainConfig
from core.errors import DataError
from core.models import MODELS
from core.mtl import make_method

MIN_CONFIGURATIONS = 2
MAX_CONFIGURATIONS = 6
# Settings every configuration of a comparison shares, rather than compares.
SHARED_SETTINGS = ("seed", "device")
# Settings that may shape the model's weights (VAE, IWAE and DReG share one architecture).
ARCHITECTURE_SETTINGS = ("model", "latent", "hidden", "layers")
# The short labels of the settings the dashboard compares most often.
SETTING_LABELS = {
    "lr": "lr",
    "batch_size": "batch",
    "latent": "latent",
    "hidden": "hidden",
    "layers": "layers",
    "beta": "beta",
    "importance_samples": "samples",
}


def check_configuration_count(n: int) -> None:
    """DataError unless a comparison of ``n`` configurations is allowed."""
    if not MIN_CONFIGURATIONS <= n <= MAX_CONFIGURATIONS:
        raise DataError(f"a comparison has {MIN_CONFIGURATIONS} to {MAX_CONFIGURATIONS} configurations, got {n}")


def compared_settings(configs: Sequence[TrainConfig]) -> list[str]:
    """The settings (TrainConfig fields) whose value is not the same in every configuration."""
    values = [asdict(c) for c in configs]
    return [
        f.name
        for f in fields(TrainConfig)
        if f.name not in SHARED_SETTINGS and any(v[f.name] != values[0][f.name] for v in values)
    ]


def configuration_labels(configs: Sequence[TrainConfig]) -> list[str]:
    """A short, unique name per configuration made of the settings that set it apart."""
    differing = compared_settings(configs)
    labels = [
        " · ".join(_setting_text(name, getattr(c, name)) for name in differing) or "configuration" for c in configs
    ]
    seen: dict[str, int] = {}
    unique = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        unique.append(label if labels.count(label) == 1 else f"{label} #{seen[label]}")
    return unique


def _setting_text(name: str, value: object) -> str:
    if name in ("model", "method"):
        return str(value)
    if name in SETTING_LABELS:
        return f"{SETTING_LABELS[name]} {'auto' if value is None else f'{value:g}'}"
    return f"{name} {value}"


def differences_table(configs: Sequence[TrainConfig]) -> pd.DataFrame:
    """The settings that differ (rows) for each configuration (columns, by label)."""
    labels = configuration_labels(configs)
    differing = compared_settings(configs)
    return pd.DataFrame(
        {label: [_cell(getattr(c, name)) for name in differing] for label, c in zip(labels, configs, strict=True)},
        index=pd.Index(differing, name="setting"),
    )


def _cell(value: object) -> str:
    return "auto" if value is None else (f"{value:g}" if isinstance(value, float) else str(value))


def fairness_notes(configs: Sequence[TrainConfig], same_initial_weights: bool) -> tuple[bool, list[str]]:
    """Whether only the gradient combination differs, and one sentence per fact that says
    what the runs share and what they do not. Whether the initial weights are the same is
    the caller's to check (models of one architecture, such as VAE and IWAE, share them)."""
    differing = set(compared_settings(configs))
    notes = [
        f"All runs use seed {configs[0].seed}: the same 70/10/20 split, and the same random streams "
        f"for minibatch order, sampling noise and the methods' own randomness."
    ]
    if same_initial_weights:
        notes.append("They start from the same initial weights.")
    else:
        shaping = ", ".join(sorted(differing & set(ARCHITECTURE_SETTINGS)))
        notes.append(f"Their initial weights differ (different {shaping}): the comparison is only partly paired.")
    if "model" in differing:
        notes.append("The models differ, so they draw their sampling noise in different patterns.")
    if "batch_size" in differing:
        notes.append("The batch sizes differ, so the minibatches differ: runs are compared at equal epochs.")
    else:
        notes.append("They see the same minibatches in the same order.")
    others = sorted(differing - set(ARCHITECTURE_SETTINGS) - {"batch_size", "method"})
    if others:
        notes.append(
            f"Besides the method, the {', '.join(others)} differ: a difference in error is not "
            f"down to the gradient combination alone."
        )
    full = not differing - {"method"}
    if full:
        notes.append("Only the gradient combination differs.")
    return full, notes


def encode_configurations(configs: Sequence[TrainConfig]) -> str:
    """``model:method:lr:batch`` per configuration, comma-separated (for a shareable link)."""
    return ",".join(f"{c.model}:{c.method}:{c.lr:g}:{c.batch_size}" for c in configs)


def parse_configurations(text: str, base: TrainConfig | None = None) -> list[TrainConfig]:
    """The inverse of ``encode_configurations`` (the batch size may be left out); the other
    settings come from ``base``. DataError names the first bad token."""
    base = base or TrainConfig()
    tokens = [t.strip() for t in str(text).split(",") if t.strip()]
    check_configuration_count(len(tokens))
    return [_parse_token(token, base) for token in tokens]


def _parse_token(token: str, base: TrainConfig) -> TrainConfig:
    parts = token.split(":")
    if len(parts) not in (3, 4):
        raise DataError(f"configuration {token!r} must read model:method:lr or model:method:lr:batch")
    # a "+" typed into an address bar arrives as a space
    model, method, lr = parts[0].strip().lower(), parts[1].strip().lower().replace(" ", "+"), parts[2]
    if model not in MODELS:
        raise DataError(f"configuration {token!r}: unknown model {model!r} (expected one of: {', '.join(MODELS)})")
    make_method(method)
    try:
        rate = float(lr)
        batch = int(parts[3]) if len(parts) == 4 else base.batch_size
    except ValueError:
        raise DataError(f"configuration {token!r}: the learning rate and batch size must be numbers") from None
    try:
        return replace(
            base, model=model, method=method, lr=rate, batch_size=batch, method_options=dict(base.method_options)
        ).validate()
    except DataError as error:
        raise DataError(f"configuration {token!r}: {error}") from None
