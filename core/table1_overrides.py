"""``--set [SCOPE.]name=value``: one setting of the Table 1 protocol for every cell, or for the
cells of one model or data set. The name is a TrainConfig field, ``epochs`` or ``scan_epochs``;
the value is read by the field's type."""

from __future__ import annotations

from dataclasses import dataclass, fields

from core.config import TrainConfig
from core.errors import DataError
from core.paper_table1 import DATASETS

# Fields a trial sets itself, or that do not change its numbers.
_FIXED_FIELDS = ("model", "method", "seed", "device", "method_options")
# Protocol settings that are not TrainConfig fields: the table's and the scan's lengths.
_LENGTHS = {"epochs": "int", "scan_epochs": "int"}


@dataclass(frozen=True)
class Override:
    scope: str | None  # a model or data set name (lower case), or None: every cell
    name: str
    value: object

    def applies(self, model: str, dataset: str) -> bool:
        return self.scope is None or self.scope in (model.lower(), dataset.lower())


def parse_override(text: str) -> Override:
    """``[SCOPE.]name=value``; the value is read by the field's type (``auto``: None)."""
    target, sep, raw = text.partition("=")
    if not sep or not target.strip():
        raise DataError(f"--set wants [MODEL|DATASET.]NAME=VALUE, got {text!r}")
    scope, _, name = target.strip().rpartition(".")
    types = {f.name: str(f.type) for f in fields(TrainConfig) if f.name not in _FIXED_FIELDS} | _LENGTHS
    if name not in types:
        raise DataError(f"--set: unknown setting {name!r} (known: {', '.join(sorted(types))})")
    scopes = {m.lower() for m in _model_names()} | {d.lower() for d in DATASETS}
    if scope and scope.lower() not in scopes:
        raise DataError(f"--set: {scope!r} is neither a model nor a data set of Table 1")
    return Override(scope.lower() or None, name, _parse_value(name, types[name], raw.strip()))


def _parse_value(name: str, kind: str, raw: str) -> object:
    if "None" in kind and raw.lower() in ("auto", "none"):
        return None
    try:
        if kind.startswith("bool"):
            if raw.lower() not in ("true", "false", "1", "0"):
                raise ValueError(raw)
            return raw.lower() in ("true", "1")
        if kind.startswith("int"):
            return int(raw)
        if kind.startswith("float"):
            return float(raw)
    except ValueError:
        wanted = kind.split()[0]
        raise DataError(f"--set: {name} wants {'an' if wanted == 'int' else 'a'} {wanted}, got {raw!r}") from None
    return raw


def _model_names() -> list[str]:
    from core.models import MODELS

    return list(MODELS)
