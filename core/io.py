"""Reading tables: CSV files as users upload them, and HI-VAE benchmark folders.

CSV: header row; delimiter sniffed among comma, semicolon and tab (with a decimal
comma when semicolon-separated numbers use one); UTF-8 with or without BOM, UTF-16
with BOM, else Windows-1252 / Latin-1; any line ending; quoted fields. Missing cells:
empty or one of ``MISSING_MARKERS``. Rows are checked against the header before
pandas parses them, because pandas silently pads short rows.

HI-VAE folder: ``data.csv`` (no header, except a header plus a leading row-index
column in some tables), ``data_types.csv``, and optional 1-based ``row,column``
masks ``MissingTrue.csv`` (really missing) and ``Missing20_1.csv`` (hidden for the
imputation test).
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO, TextIO

import numpy as np
import pandas as pd

from core.errors import DataError
from core.inference import declared_column, infer_schema, schema_from_types_file
from core.schema import Schema, read_hivae_types

# "None" and "." are left out on purpose: both are real labels in some tables.
MISSING_MARKERS = ("", "NA", "N/A", "n/a", "NaN", "nan", "NAN", "?", "NULL", "null", "#N/A")
DELIMITERS = (",", ";", "\t")
MIN_ROWS = 10
MIN_FEATURES = 2

_SAMPLE_BYTES = 1 << 16
_CHUNK_BYTES = 1 << 23
_QUOTE, _NEWLINE, _CARRIAGE_RETURN = ord('"'), ord("\n"), ord("\r")
# Bytes Windows-1252 leaves undefined: a file holding them is Latin-1.
_CP1252_UNDEFINED = np.array([0x81, 0x8D, 0x8F, 0x90, 0x9D], dtype=np.uint8)
# Control characters other than tab, LF, CR: text files have none.
_CONTROL_BYTES = np.array([b for b in range(32) if b not in (9, 10, 13)], dtype=np.uint8)
_DECIMAL_COMMA = re.compile(r"^-?\d+,\d+$")
_DECIMAL_POINT = re.compile(r"^-?\d*\.\d+$")

CsvSource = str | Path | bytes | bytearray | BinaryIO | TextIO


@dataclass(frozen=True)
class HivaeTable:
    """A HI-VAE benchmark folder. Masks are N x K bool over ``data``'s columns."""

    data: pd.DataFrame
    schema: Schema
    missing_mask: np.ndarray | None  # True = really missing (NaN in data)
    impute_mask: np.ndarray | None  # True = hidden for the imputation test (value kept in data)


@dataclass(frozen=True)
class LoadedTable:
    """Any table the product can train on, with its schema.

    The masks follow ``HivaeTable``; for a CSV file they are None (missing cells are
    NaN in ``data``).
    """

    name: str
    data: pd.DataFrame
    schema: Schema
    missing_mask: np.ndarray | None
    impute_mask: np.ndarray | None


# --- CSV --------------------------------------------------------------------------


def read_csv(source: CsvSource) -> pd.DataFrame:
    """Read a CSV with a header row into a DataFrame with string column names."""
    data, encoding = _decode_plan(_source_bytes(source))
    return _parse_table(data, encoding, header=True)


def _parse_table(data: bytes, encoding: str, header: bool) -> pd.DataFrame:
    if b"\n" not in data and b"\r" in data:
        # old Mac line ends: one rule for the row checks below and for pandas
        data = data.replace(b"\r", b"\n")
    sample = _sample_text(data, encoding)
    delimiter = _sniff_delimiter(sample)
    first_record = next(csv.reader(io.StringIO(sample), delimiter=delimiter, skipinitialspace=True), [])
    if header:
        names = [name.strip() for name in first_record]
        seen = set()
        for name in names:
            if name and name in seen:
                raise DataError(f"duplicate column name {name!r} in the header")
            seen.add(name)
    n_records = _count_records(data, encoding, delimiter, header)
    if header and n_records == 1:
        raise DataError("the file has a header row but no data rows")
    decimal = "," if delimiter == ";" and _uses_decimal_comma(sample) else "."
    try:
        frame = pd.read_csv(
            io.BytesIO(data),
            sep=delimiter,
            encoding=encoding,
            header=0 if header else None,
            na_values=list(MISSING_MARKERS),
            keep_default_na=False,
            skipinitialspace=True,
            decimal=decimal,
            index_col=False,
            low_memory=False,
            engine="c",
        )
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as error:
        raise DataError(f"cannot parse the file: {_one_line(error)}") from None
    if header:
        frame.columns = [str(name).strip() for name in frame.columns]
    else:
        frame.columns = [f"col{i}" for i in range(frame.shape[1])]
    if not frame.notna().to_numpy().any():
        raise DataError("every cell of the table is missing")
    return frame


def _source_bytes(source: CsvSource) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    if isinstance(source, (str, Path)):
        path = Path(source)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise DataError(f"file {str(path)!r} not found") from None
        except IsADirectoryError:
            raise DataError(f"{str(path)!r} is a folder, not a file") from None
        except PermissionError:
            raise DataError(f"no permission to read {str(path)!r}") from None
    if hasattr(source, "read"):
        # an upload widget may already have been read once
        if hasattr(source, "seek"):
            source.seek(0)
        content = source.read()
        return content.encode("utf-8") if isinstance(content, str) else bytes(content)
    raise TypeError(f"cannot read a table from a {type(source).__name__}")


def _decode_plan(data: bytes) -> tuple[bytes, str]:
    """The bytes to parse (transcoded if UTF-16) and their encoding; DataError if not text."""
    if not data.strip():
        raise DataError("the file is empty")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16").encode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            raise DataError("the file starts like UTF-16 text but is not valid UTF-16") from None
    if data.startswith(b"PK\x03\x04"):
        raise DataError("the file is a zip archive or an Excel workbook, not CSV text; save it as CSV")
    if data.startswith(b"\x1f\x8b"):
        raise DataError("the file is gzip-compressed; decompress it first")
    nul = data.find(b"\x00")
    if nul >= 0:
        raise DataError(f"the file is binary, not CSV text (NUL byte at offset {nul})")
    head = np.frombuffer(data[:_SAMPLE_BYTES], dtype=np.uint8)
    if np.isin(head, _CONTROL_BYTES).mean() > 0.01:
        raise DataError("the file is binary, not CSV text (control characters)")
    if data.startswith(codecs.BOM_UTF8):
        return data, "utf-8-sig"
    if data.isascii() or _is_utf8(data):
        return data, "utf-8"
    if np.isin(np.frombuffer(data, dtype=np.uint8), _CP1252_UNDEFINED).any():
        return data, "latin-1"
    return data, "cp1252"


def _is_utf8(data: bytes) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        for start in range(0, len(data), _CHUNK_BYTES):
            decoder.decode(data[start : start + _CHUNK_BYTES])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _sample_text(data: bytes, encoding: str) -> str:
    head = data[:_SAMPLE_BYTES]
    if len(data) > _SAMPLE_BYTES and b"\n" in head:
        head = head[: head.rindex(b"\n") + 1]
    # the sample may end inside a multi-byte character
    return head.decode(encoding, errors="ignore").lstrip("\ufeff")


def _sniff_delimiter(sample: str) -> str:
    """The delimiter giving the header several fields and the most rows agreeing with it."""
    best, best_score = ",", (0.0, 0)
    for delimiter in DELIMITERS:
        records = [r for r in csv.reader(io.StringIO(sample), delimiter=delimiter) if r]
        if not records or len(records[0]) < 2:
            continue
        agreeing = sum(len(r) == len(records[0]) for r in records) / len(records)
        score = (agreeing, len(records[0]))
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _uses_decimal_comma(sample: str) -> bool:
    cells = [cell.strip() for row in list(csv.reader(io.StringIO(sample), delimiter=";"))[1:] for cell in row]
    return any(_DECIMAL_COMMA.match(c) for c in cells) and not any(_DECIMAL_POINT.match(c) for c in cells)


def _count_records(data: bytes, encoding: str, delimiter: str, header: bool) -> int:
    """Number of non-blank records, header included; DataError naming the first bad line.

    Vectorised over the bytes, tracking whether each byte is inside double quotes.
    A quote in the middle of an unquoted field (5'11") misleads that tracking, so
    when the data holds quotes a problem is confirmed with the csv module first.
    """
    n_records, problem = _fast_record_count(data, delimiter, "the header" if header else "the first line")
    if problem is None:
        return n_records
    if b'"' in data:
        return _exact_record_count(
            data.decode(encoding).lstrip("\ufeff"), delimiter, "the header" if header else "the first line", strict=True
        )
    raise DataError(problem)


def _fast_record_count(data: bytes, delimiter: str, first_line: str) -> tuple[int, str | None]:
    buf = np.frombuffer(data, dtype=np.uint8)
    delimiter_byte = ord(delimiter)
    in_quotes, last_end, open_delimiters = 0, -1, 0
    expected, n_records, ragged_at = None, 0, None
    for start in range(0, len(buf), _CHUNK_BYTES):
        chunk = buf[start : start + _CHUNK_BYTES]
        # parity of the quotes so far: odd means inside a quoted field (uint8 wraps, parity survives)
        quoted = ((np.cumsum(chunk == _QUOTE, dtype=np.uint8) + in_quotes) & 1).astype(bool)
        ends = np.flatnonzero((chunk == _NEWLINE) & ~quoted)
        delimiters = np.flatnonzero((chunk == delimiter_byte) & ~quoted)
        in_quotes = int(quoted[-1])
        before_end = np.searchsorted(delimiters, ends)
        fields = np.diff(before_end, prepend=0) + 1
        if len(ends):
            fields[0] += open_delimiters
            open_delimiters = len(delimiters) - int(before_end[-1])
        else:
            open_delimiters += len(delimiters)
        ends = ends + start
        starts = np.concatenate(([last_end + 1], ends[:-1] + 1))
        lengths = ends - starts
        blank = (lengths == 0) | ((lengths == 1) & (buf[ends - 1] == _CARRIAGE_RETURN))
        fields, starts = fields[~blank], starts[~blank]
        if len(fields) and expected is None:
            expected = int(fields[0])
        bad = np.flatnonzero(fields != expected)
        if ragged_at is None and len(bad):
            ragged_at = (int(starts[bad[0]]), int(fields[bad[0]]))
        n_records += len(fields)
        if len(ends):
            last_end = int(ends[-1])
    if in_quotes:
        return n_records, f"a quoted field opened on line {_line_of(data, last_end + 1)} is never closed"
    if data[last_end + 1 :].strip():
        n_records += 1
        if expected is None:
            expected = open_delimiters + 1
        elif ragged_at is None and open_delimiters + 1 != expected:
            ragged_at = (last_end + 1, open_delimiters + 1)
    if ragged_at is None:
        return n_records, None
    offset, n_fields = ragged_at
    return n_records, f"line {_line_of(data, offset)} has {_fields(n_fields)}, but {first_line} has {expected}"


def _exact_record_count(text: str, delimiter: str, first_line: str, strict: bool) -> int:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=strict)
    width, n_records, start_line = None, 0, 1
    try:
        for record in reader:
            if record:
                n_records += 1
                width = width or len(record)
                if len(record) != width:
                    raise DataError(f"line {start_line} has {_fields(len(record))}, but {first_line} has {width}")
            start_line = reader.line_num + 1
    except csv.Error as error:
        if str(error) == "unexpected end of data":
            raise DataError(f"a quoted field opened on line {start_line} is never closed") from None
        # strict mode also rejects text right after a closing quote ("x"y), which pandas accepts
        return _exact_record_count(text, delimiter, first_line, strict=True)
    return n_records


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _fields(n: int) -> str:
    return f"{n} field{'s' if n != 1 else ''}"


# --- HI-VAE folders ---------------------------------------------------------------


def read_hivae_folder(path: str | Path) -> HivaeTable:
    """Read a HI-VAE benchmark folder; types come from ``data_types.csv``, categories from the data."""
    folder = Path(path)
    declared = read_hivae_types(_read_text(folder / "data_types.csv"))
    data = _read_hivae_data(folder / "data.csv", len(declared))
    missing = _read_mask(folder / "MissingTrue.csv", data.shape)
    if missing is not None:
        data = data.mask(missing)
    if data.isna().to_numpy().any():
        missing = data.isna().to_numpy()
    impute = _read_mask(folder / "Missing20_1.csv", data.shape)
    columns = []
    for name, (column_type, n_classes) in zip(data.columns, declared, strict=True):
        column = declared_column(data[name], column_type, "data_types.csv")
        if n_classes is not None and column.n_classes > n_classes:
            raise DataError(
                f"column {name!r} has {column.n_classes} distinct values, but data_types.csv says {n_classes} classes"
            )
        if n_classes is not None and column.n_classes < n_classes:
            column = replace(
                column, reason=f"from data_types.csv ({n_classes} classes declared, {column.n_classes} seen)"
            )
        columns.append(column)
    return HivaeTable(data=data, schema=Schema(tuple(columns)), missing_mask=missing, impute_mask=impute)


def _read_hivae_data(path: Path, n_declared: int) -> pd.DataFrame:
    data, encoding = _decode_plan(_source_bytes(path))
    first_cells = [
        c for c in _sample_text(data, encoding).splitlines()[0].split(",") if c.strip() not in MISSING_MARKERS
    ]
    has_header = bool(pd.to_numeric(pd.Series(first_cells, dtype=object), errors="coerce").isna().any())
    frame = _parse_table(data, encoding, header=has_header)
    # bank/ and diamonds/ carry a header and a leading row index that data_types.csv does not describe
    if has_header and frame.shape[1] == n_declared + 1:
        frame = frame.iloc[:, 1:]
    if frame.shape[1] != n_declared:
        raise DataError(f"data.csv has {frame.shape[1]} columns, but data_types.csv lists {n_declared}")
    return frame


def _read_mask(path: Path, shape: tuple[int, int]) -> np.ndarray | None:
    if not path.exists():
        return None
    mask = np.zeros(shape, dtype=bool)
    text = _read_text(path)
    if not text.strip():
        return mask
    try:
        pairs = pd.read_csv(io.StringIO(text), header=None, dtype=np.int64, engine="c")
    except (ValueError, pd.errors.ParserError) as error:
        raise DataError(f"{path.name} must hold 1-based row,column integer pairs: {_one_line(error)}") from None
    if pairs.shape[1] != 2:
        raise DataError(f"{path.name} must hold 1-based row,column pairs, found {pairs.shape[1]} fields per line")
    rows, cols = pairs[0].to_numpy() - 1, pairs[1].to_numpy() - 1
    outside = (rows < 0) | (rows >= shape[0]) | (cols < 0) | (cols >= shape[1])
    if outside.any():
        i = int(np.flatnonzero(outside)[0])
        raise DataError(
            f"{path.name} line {i + 1}: cell ({rows[i] + 1}, {cols[i] + 1}) is outside the "
            f"{shape[0]} x {shape[1]} table"
        )
    mask[rows, cols] = True
    return mask


# --- any table ---------------------------------------------------------------------


def load_table(path: str | Path, types: str | Path | None = None) -> LoadedTable:
    """A HI-VAE folder, or a CSV file typed by ``infer_schema`` or by a types file; checked usable."""
    path = Path(path)
    if path.is_dir():
        if not (path / "data_types.csv").exists():
            raise DataError(f"folder {str(path)!r} has no data_types.csv (not a HI-VAE table folder)")
        if types is not None:
            raise DataError("a types file applies to CSV files; a HI-VAE folder has its own data_types.csv")
        table = read_hivae_folder(path)
        loaded = LoadedTable(path.name, table.data, table.schema, table.missing_mask, table.impute_mask)
    elif path.exists():
        return table_from_csv(path, path.stem, types)
    else:
        raise DataError(f"no file or folder {str(path)!r}")
    check_usable(loaded.data, loaded.schema)
    return loaded


def table_from_csv(source: CsvSource, name: str, types: str | Path | None = None) -> LoadedTable:
    """A CSV (a path, or the bytes of an upload) typed by ``infer_schema`` or by a types file; checked usable."""
    data = read_csv(source)
    schema = schema_from_types_file(data, types) if types is not None else infer_schema(data)
    check_usable(data, schema)
    return LoadedTable(name, data, schema, None, None)


def check_usable(df: pd.DataFrame, schema: Schema) -> None:
    """DataError unless the table has enough rows and usable columns to train on."""
    if list(df.columns) != schema.names:
        raise DataError("the schema's columns do not match the table's columns")
    if len(df) < MIN_ROWS:
        raise DataError(f"the table has {len(df)} data rows; at least {MIN_ROWS} are needed")
    features = [c.name for c in schema.features]
    if len(features) < MIN_FEATURES:
        excluded = ", ".join(repr(c.name) for c in schema.columns if c.excluded)
        kept = f" ({', '.join(repr(n) for n in features)})" if features else ""
        raise DataError(
            f"the table has {len(features)} usable column{'s' if len(features) != 1 else ''}{kept}; "
            f"at least {MIN_FEATURES} are needed (excluded: {excluded or 'none'})"
        )
    if not df[features].notna().to_numpy().any():
        raise DataError("every cell of the usable columns is missing")


def _read_text(path: Path) -> str:
    data = _source_bytes(path)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DataError(f"{path.name} is not UTF-8 text") from None


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())
