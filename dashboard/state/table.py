"""The data part of ``DashboardState`` (which it is mixed into): loading a sample or an
upload, and editing the schema, each taking effect as the train view's run allows -- a new
table starts a new run at once, a schema edit waits for Apply."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from core.errors import DataError
from core.inference import validate_override
from core.io import LoadedTable, check_usable, table_from_csv
from core.schema import ColumnType, Schema
from core.trainer import TrainConfig
from dashboard.state.samples import load_sample_table

UPLOAD_LIMIT_MB = 50  # the same number as server.maxUploadSize in .streamlit/config.toml

_log = logging.getLogger(__name__)


class TableControls:
    messages: dict[str, str]
    table: LoadedTable
    schema: Schema
    schema_version: int
    trainer: Any  # a RemoteTrainer
    config: TrainConfig

    def load_sample(self, name: str) -> bool:
        try:
            table = load_sample_table(name)
            self._replace_trainer(table, table.schema, self.config)
        except DataError as error:
            self.messages["data"] = str(error)
            return False
        self._table_changed()
        return True

    def load_upload(self, file_name: str, content: bytes) -> bool:
        """A CSV as uploaded: read, typed, checked; on any DataError the old table and run stay."""
        try:
            if len(content) > UPLOAD_LIMIT_MB * 2**20:
                raise DataError(f"the file is {len(content) / 2**20:.0f} MB; the limit is {UPLOAD_LIMIT_MB} MB")
            table = table_from_csv(content, Path(file_name).stem or "upload")
            self._replace_trainer(table, table.schema, self.config)
        except DataError as error:
            self.messages["data"] = f"{file_name}: {error}"
            return False
        except Exception as error:  # any bytes can arrive: an unforeseen failure is still a message
            _log.exception("reading upload %r failed", file_name)
            self.messages["data"] = f"{file_name}: cannot be read as a table ({one_line(error)})"
            return False
        self._table_changed()
        return True

    def _table_changed(self) -> None:
        self.schema_version += 1
        for place in ("data", "schema", "config"):
            self.messages.pop(place, None)
        if self.trainer.placed:  # else "train" says why it cannot train
            self.messages.pop("train", None)

    def override_column(
        self, name: str, new_type: ColumnType | str | None = None, excluded: bool | None = None
    ) -> bool:
        """Retype, exclude or include one column; takes effect at the next Apply."""
        try:
            schema = validate_override(self.table.data, self.schema, name, new_type, excluded=excluded)
            check_usable(self.table.data, schema)
        except DataError as error:
            self.messages["schema"] = str(error)
            return False
        finally:
            # the editor is redrawn from the schema either way: a refused edit disappears from it
            self.schema_version += 1
        self.schema = schema
        self.messages.pop("schema", None)
        return True

    def discard_schema_edits(self) -> None:
        self.schema = self.trainer.schema
        self.schema_version += 1
        self.messages.pop("schema", None)

    def _replace_trainer(self, table: LoadedTable, schema: Schema, config: TrainConfig) -> None:
        raise NotImplementedError


def one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__
