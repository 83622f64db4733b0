"""The fitted model as a user holds it: fit a table once, then impute, sample, reconstruct and reuse.

    from core import TableModel
    model = TableModel(epochs=100).fit("sample_data/penguins.csv", method="auto")
    model.save("runs/penguins")   # later: TableModel.load("runs/penguins")

``fit`` trains on a seeded split of the rows into training and validation rows
(``holdout``); the validation rows pick the method (``auto``) and the sampler's mixture
size. Every other method works on any table holding the trained columns in their
original units and labels; columns the model was not trained on pass through
``impute`` untouched and are absent from ``sample`` and ``reconstruct``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from core.bundle import DEFAULT_SAMPLER, Bundle, bundle_from_trainer, read_bundle, write_bundle
from core.config import TrainConfig
from core.encoding import EncodedTable
from core.errors import DataError
from core.inference import infer_schema
from core.io import LoadedTable, check_usable, load_table
from core.metrics import mean_error, score_columns
from core.models import Batch
from core.race import AUTO, RACE_CANDIDATES
from core.records import Evaluation
from core.run import train_run
from core.samplers import SAMPLERS, check_finite, sample_rows
from core.schema import Schema

HOLDOUT = 0.1  # the share of a fitted table's rows kept for validation
_CHUNK = 8192
_SETTINGS = {f.name for f in fields(TrainConfig)} - {"method"}


class TableModel:
    """A VAE over one table's mixed-type columns.

    ``settings`` are ``TrainConfig`` fields (model, lr, batch_size, latent, hidden, ...), with
    one default of its own: ``latent`` is the number of trained columns, room in the code for
    each (reconstructions and imputations need it more than a training run's half). The
    fitted weights are those of the epoch with the lowest validation error.
    ``race_epochs`` is the length of the race that ``method="auto"`` runs first (default: half
    of ``epochs``) among ``candidates``; the winner then trains on to ``epochs``.
    """

    def __init__(
        self,
        epochs: int = 100,
        sampler: str = DEFAULT_SAMPLER,
        race_epochs: int | None = None,
        candidates: Sequence[str] = RACE_CANDIDATES,
        holdout: float = HOLDOUT,
        **settings: Any,
    ):
        unknown = sorted(set(settings) - _SETTINGS)
        if unknown:
            raise DataError(f"unknown setting {unknown[0]!r} (known: {', '.join(sorted(_SETTINGS))})")
        if epochs < 1:
            raise DataError(f"epochs must be at least 1, got {epochs}")
        if sampler not in SAMPLERS:
            raise DataError(f"unknown sampler {sampler!r} (expected one of: {', '.join(SAMPLERS)})")
        if not 0 < holdout < 1:
            raise DataError(f"holdout must be a share between 0 and 1, got {holdout}")
        self.config = TrainConfig(**settings).validate()
        self.holdout = holdout
        self.epochs = epochs
        self.sampler = sampler
        self.race_epochs = race_epochs if race_epochs is not None else max(1, epochs // 2)
        self.candidates = tuple(candidates)
        self._bundle: Bundle | None = None

    # --- fitting -----------------------------------------------------------------------
    def fit(self, data: pd.DataFrame | str | Path, method: str = AUTO, schema: Schema | None = None) -> TableModel:
        """Train on ``data`` (a DataFrame, a CSV file or a HI-VAE folder) with ``method``, a
        method, a cocktail, or ``"auto"`` (a race among the candidates); returns self."""
        table = _as_table(data, schema)
        latent = self.config.latent or len(table.schema.features)
        result = train_run(
            table,
            replace(self.config, method=method, latent=latent),
            self.epochs,
            splits=holdout_split(len(table.data), self.config.seed, self.holdout),
            race_epochs=self.race_epochs,
            candidates=self.candidates,
            keep_best=True,
        )
        info = {**result.bundle_info(), "history": result.history, "stopped_by": result.stopped_by}
        self._bundle = bundle_from_trainer(result.trainer, self.sampler, info)
        return self

    # --- using ---------------------------------------------------------------------------
    @property
    def bundle(self) -> Bundle:
        if self._bundle is None:
            raise DataError("the model is not fitted yet: call fit(table) or TableModel.load(folder) first")
        return self._bundle

    @property
    def schema(self) -> Schema:
        return self.bundle.schema

    @property
    def method(self) -> str:
        return str(self.bundle.info.get("method", self.bundle.config.method))

    @property
    def race(self) -> dict[str, Any] | None:
        """The race ``auto`` ran (rounds, winner, margin), or None."""
        race = self.bundle.info.get("race")
        return dict(race) if race else None

    def sample(self, n: int, seed: int = 0, sampler: str | None = None) -> pd.DataFrame:
        """``n`` synthetic rows of the trained columns, in original units and labels."""
        bundle = self.bundle
        name = sampler or bundle.sampler
        if name not in SAMPLERS:
            raise DataError(f"unknown sampler {name!r} (expected one of: {', '.join(SAMPLERS)})")
        mixture = bundle.mixture if name == "mixture" else None
        if name == "mixture" and mixture is None:
            raise DataError("this model has no fitted mixture; sample with sampler='prior'")
        return sample_rows(bundle.network, bundle.likelihood, bundle.encoder, int(n), seed, mixture, bundle.bounds)

    def reconstruct(self, df: pd.DataFrame) -> pd.DataFrame:
        """The trained columns as the model rebuilds them: each cell is its column's mode given
        the posterior mean of the row's code (missing cells come back imputed)."""
        encoded = self._encode(df)
        return self.bundle.encoder.decode(self._modes(encoded)).set_axis(df.index, axis=0)

    def impute(self, df: pd.DataFrame) -> pd.DataFrame:
        """``df`` with the missing cells of the trained columns filled; observed cells and other
        columns are left as they are."""
        encoded = self._encode(df)
        filled = self.bundle.encoder.decode(self._modes(encoded))
        out = df.copy()
        missing = ~encoded.mask.numpy()
        for j, column in enumerate(self.bundle.encoder.features):
            gaps = missing[:, j]
            if not gaps.any():
                continue
            values = df[column.name].astype(object).to_numpy(copy=True)
            values[gaps] = filled[column.name].astype(object).to_numpy()[gaps]
            kind = "float64" if column.type.is_numerical else None
            out[column.name] = pd.Series(values.tolist(), index=df.index, dtype=kind)
        return out

    def evaluate(self, df: pd.DataFrame) -> Evaluation:
        """Reconstruction error per column on ``df``'s observed cells (see ``core.metrics``), with
        the training baseline; ``overlooked`` lists the columns no better than it."""
        bundle = self.bundle
        encoded = self._encode(df)
        scores = score_columns(
            bundle.encoder.features,
            encoded.targets,
            self._modes(encoded),
            encoded.mask,
            bundle.encoder.baseline_targets(),
        )
        return Evaluation("table", scores, mean_error(scores))

    def save(self, folder: str | Path) -> Path:
        return write_bundle(self.bundle, folder)

    @classmethod
    def load(cls, folder: str | Path) -> TableModel:
        bundle = read_bundle(folder)
        settings = {k: v for k, v in vars(bundle.config).items() if k in _SETTINGS}
        model = cls(epochs=int(bundle.info.get("epochs") or 1), sampler=bundle.sampler, **settings)
        model._bundle = bundle
        return model

    # --- helpers --------------------------------------------------------------------------
    def _encode(self, df: pd.DataFrame) -> EncodedTable:
        encoder = self.bundle.encoder
        if not isinstance(df, pd.DataFrame):
            raise DataError(f"expected a table (a pandas DataFrame), got {type(df).__name__}")
        absent = [c.name for c in encoder.features if c.name not in df.columns]
        if absent:
            raise DataError(f"the table lacks the trained column {absent[0]!r}")
        return encoder.transform(df)

    @torch.no_grad()
    def _modes(self, encoded: EncodedTable) -> torch.Tensor:
        bundle = self.bundle
        network = bundle.network
        network.eval()
        out = []
        for i in range(0, len(encoded.targets), _CHUNK):
            rows = slice(i, i + _CHUNK)
            params = network.reconstruct(Batch(encoded.inputs[rows], encoded.mask[rows], encoded.targets[rows]))
            check_finite(params)
            out.append(bundle.likelihood.mode(params))
        network.train()
        return torch.cat(out) if out else encoded.targets[:0]


def holdout_split(n_rows: int, seed: int, holdout: float) -> dict[str, np.ndarray]:
    """Seeded training and validation rows (``holdout`` of them, at least one); no test rows:
    a fitted model is tested on tables the user brings."""
    order = np.random.default_rng(seed).permutation(n_rows)
    n_val = min(n_rows - 2, max(1, round(holdout * n_rows)))
    return {"train": np.sort(order[n_val:]), "val": np.sort(order[:n_val]), "test": np.empty(0, dtype=np.int64)}


def _as_table(data: pd.DataFrame | str | Path, schema: Schema | None) -> LoadedTable:
    if isinstance(data, (str, Path)):
        loaded = load_table(data)
        if schema is None:
            return loaded
        check_usable(loaded.data, schema)
        return LoadedTable(loaded.name, loaded.data, schema, None, None)
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"fit takes a DataFrame or the path of a table, got {type(data).__name__}")
    chosen = schema if schema is not None else infer_schema(data)
    check_usable(data, chosen)
    return LoadedTable("table", data.reset_index(drop=True), chosen, None, None)
