"""A trained model on disk: everything needed to impute, sample and reconstruct without the
training table, in a folder of four files.

``bundle.json``
    ``format`` ("overlook-model") and ``format_version``; ``config`` (the ``TrainConfig``);
    ``sampler`` (``prior`` or ``mixture``, what ``sample`` uses); ``schema_digest`` (SHA-256
    of the trained columns, checked on loading); ``versions`` (of this package, Python,
    torch, numpy and pandas that wrote it); ``info`` (how it was trained: table, method,
    epochs, the race of ``auto``, validation scores).
``schema.json``
    the table's schema (``Schema.to_json``), excluded columns included.
``encoder.json``
    the encoder's statistics: the trained columns and, per column, the centre and scale of
    the network's inputs and the baseline (training mean or mode).
``weights.pt``
    ``{"network": state_dict, "mixture": {...}}``, tensors only: loadable with
    ``torch.load(..., weights_only=True)``.

Reading a folder that is not a bundle, is damaged, or whose files disagree (weights or
statistics made for another schema) raises one DataError line.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import json
import math
import platform
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from core.config import TrainConfig
from core.encoding import TableEncoder
from core.errors import DataError
from core.likelihoods import TableLikelihood
from core.models import Batch, TabularVAE
from core.samplers import MIXTURE_SIZES, SAMPLERS, GaussianMixture, fit_posterior_mixture
from core.schema import Column, Schema
from core.trainer import Trainer, build_model

FORMAT = "overlook-model"
FORMAT_VERSION = 1
FILES = ("bundle.json", "schema.json", "encoder.json", "weights.pt")
# Which sampler a new bundle's ``sample`` uses: against held-out rows of the bundled raw tables,
# the mixture's Column Shapes and Pair Trends were higher than the prior's on average
# (docs/results/vs_tvae.md, where each table's figures for both are).
DEFAULT_SAMPLER = "mixture"


@dataclass
class Bundle:
    """A trained network with what it needs around it; ``likelihood`` is built from ``encoder``."""

    config: TrainConfig
    schema: Schema
    encoder: TableEncoder
    network: TabularVAE
    mixture: GaussianMixture | None
    sampler: str = "mixture"
    info: dict[str, Any] = field(default_factory=dict)
    bounds: torch.Tensor | None = None  # K x 2: each column's lowest and highest training value

    def __post_init__(self) -> None:
        if self.sampler not in SAMPLERS:
            raise DataError(f"unknown sampler {self.sampler!r} (expected one of: {', '.join(SAMPLERS)})")
        if self.sampler == "mixture" and self.mixture is None:
            raise DataError("the mixture sampler needs a fitted mixture")

    @property
    def likelihood(self) -> TableLikelihood:
        return self.network.likelihood


def schema_digest(columns: tuple[Column, ...]) -> str:
    """SHA-256 of what a network depends on: each trained column's name, type and categories."""
    text = json.dumps([[c.name, c.type.value, list(c.categories)] for c in columns], default=_json_default)
    return hashlib.sha256(text.encode()).hexdigest()


def bundle_from_trainer(trainer: Trainer, sampler: str, info: dict[str, Any]) -> Bundle:
    """A bundle of ``trainer``'s network as it is now (a copy on the CPU: training may go on),
    with the mixture sampler fitted to its codes."""
    mixture = trainer_mixture(trainer)
    encoder = TableEncoder.from_state_dict(trainer.encoder.state_dict())
    config = replace(trainer.config)
    network = build_model(config, encoder.likelihood(), encoder.input_dim, len(encoder.features))
    network.load_state_dict({name: t.detach().cpu() for name, t in trainer.model.state_dict().items()})
    return Bundle(config, trainer.schema, encoder, network, mixture, sampler, info, training_bounds(trainer))


def training_bounds(trainer: Trainer) -> torch.Tensor:
    """K x 2 on the CPU: each column's lowest and highest value the model saw in training
    (-inf and inf for a column with none)."""
    rows = torch.as_tensor(trainer.splits["train"], device=trainer.device)
    values, seen = trainer.targets[rows].double(), trainer.model_mask[rows]
    low = torch.where(seen, values, math.inf).amin(0)
    high = torch.where(seen, values, -math.inf).amax(0)
    return torch.stack([low, high], 1).cpu()


def trainer_mixture(
    trainer: Trainer, max_rows: int | None = None, sizes: Sequence[int] = MIXTURE_SIZES
) -> GaussianMixture:
    """The mixture sampler matched to the codes of ``trainer``'s training rows (at most
    ``max_rows`` of them, evenly spread), its size picked among ``sizes`` on validation rows."""

    def batch(name: str) -> Batch | None:
        rows = trainer.splits[name]
        if max_rows is not None and len(rows) > max_rows:
            rows = rows[np.linspace(0, len(rows) - 1, max_rows).round().astype(int)]
        index = torch.as_tensor(rows, device=trainer.device)
        return Batch(trainer.inputs[index], trainer.model_mask[index], trainer.targets[index]) if len(rows) else None

    train = batch("train")
    assert train is not None  # the Trainer refuses a table with fewer than 2 training rows
    return fit_posterior_mixture(trainer.model, train, batch("val"), trainer.config.seed, sizes)


def bundle_archive(bundle: Bundle) -> bytes:
    """The bundle's files as one zip archive (a download); unpacked, it is a folder ``load`` reads."""
    buffer = io.BytesIO()
    with tempfile.TemporaryDirectory() as folder, zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        write_bundle(bundle, folder)
        for name in FILES:
            archive.write(Path(folder) / name, name)
    return buffer.getvalue()


# --- writing -----------------------------------------------------------------------------


def write_bundle(bundle: Bundle, folder: str | Path) -> Path:
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": asdict(bundle.config),
        "sampler": bundle.sampler,
        "schema_digest": schema_digest(bundle.encoder.features),
        "versions": versions(),
        "info": bundle.info,
    }
    (out / "bundle.json").write_text(json.dumps(header, indent=2, default=_json_default))
    (out / "schema.json").write_text(bundle.schema.to_json())
    state = bundle.encoder.state_dict()
    statistics = {name: state[name].tolist() for name in ("center", "scale", "baseline")}
    (out / "encoder.json").write_text(json.dumps({"features": state["features"], **statistics}, indent=2))
    mixture = {} if bundle.mixture is None else bundle.mixture.state_dict()
    network = {name: t.detach().cpu() for name, t in bundle.network.state_dict().items()}
    bounds = {} if bundle.bounds is None else {"bounds": bundle.bounds}
    torch.save({"network": network, "mixture": mixture, **bounds}, out / "weights.pt")
    return out


def versions() -> dict[str, str]:
    try:
        own = importlib.metadata.version("overlook")
    except importlib.metadata.PackageNotFoundError:
        own = "unknown (not installed)"
    return {
        "overlook": own,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
    }


# --- reading -----------------------------------------------------------------------------


def read_bundle(folder: str | Path) -> Bundle:
    path = Path(folder)
    if not path.is_dir():
        raise DataError(f"no model bundle at {str(path)!r}: not a folder")
    missing = [name for name in FILES if not (path / name).is_file()]
    if missing:
        raise DataError(f"{str(path)!r} is not a model bundle: {missing[0]} is missing")
    header = _read_json(path / "bundle.json")
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise DataError(f"{str(path / 'bundle.json')!r} is not an overlook model bundle")
    if header.get("format_version") != FORMAT_VERSION:
        raise DataError(
            f"the bundle has format version {header.get('format_version')!r}; this version reads {FORMAT_VERSION}"
        )
    try:
        schema = Schema.from_json((path / "schema.json").read_text(encoding="utf-8"))
    except (KeyError, TypeError, AttributeError, UnicodeDecodeError) as error:
        raise DataError(f"schema.json in the bundle is damaged ({type(error).__name__}: {error})") from None
    encoder = _read_encoder(path / "encoder.json")
    if schema_digest(encoder.features) != schema_digest(schema.features):
        raise DataError("the bundle's encoder.json was made for a different schema than its schema.json")
    if header.get("schema_digest") != schema_digest(schema.features):
        raise DataError("the bundle's schema.json is not the schema its model was trained on")
    config = TrainConfig.from_dict(dict(header.get("config") or {}))
    config.device = "cpu"
    config.validate()
    state = _read_weights(path / "weights.pt")
    network = build_model(config, encoder.likelihood(), encoder.input_dim, len(encoder.features))
    try:
        network.load_state_dict(state["network"])
    except (RuntimeError, KeyError, TypeError) as error:
        first = str(error).strip().splitlines()[-1].strip() if str(error).strip() else type(error).__name__
        raise DataError(f"the bundle's weights do not fit its schema and settings: {first}") from None
    mixture = GaussianMixture.from_state_dict(state["mixture"]) if state.get("mixture") else None
    info = dict(header.get("info") or {})
    return Bundle(config, schema, encoder, network, mixture, str(header.get("sampler")), info, state.get("bounds"))


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DataError(f"{path.name} in the bundle is not valid JSON: {' '.join(str(error).split())}") from None


def _read_encoder(path: Path) -> TableEncoder:
    content = _read_json(path)
    try:
        state = {
            "features": content["features"],
            **{name: torch.tensor(content[name], dtype=torch.float64) for name in ("center", "scale", "baseline")},
        }
        encoder = TableEncoder.from_state_dict(state)
    except (KeyError, TypeError, ValueError) as error:
        raise DataError(f"encoder.json in the bundle is damaged ({type(error).__name__}: {error})") from None
    k = len(encoder.features)
    if any(state[name].shape != (k,) for name in ("center", "scale", "baseline")):
        raise DataError(f"encoder.json in the bundle does not hold one statistic per column ({k} columns)")
    return encoder


def _read_weights(path: Path) -> dict[str, Any]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises pickle, zip and runtime errors alike for a damaged file
        raise DataError(f"weights.pt in the bundle cannot be read ({type(error).__name__})") from None
    if not isinstance(state, dict) or not isinstance(state.get("network"), dict):
        raise DataError("weights.pt in the bundle does not hold a network's weights")
    return state


def _json_default(value: Any) -> Any:
    """numpy scalars to Python ones, for JSON."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
