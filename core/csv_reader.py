"""Reading CSV files as users upload them.

A header row (or none, for ``read_csv(..., header=False)``); delimiter sniffed among
comma, semicolon and tab (with a decimal comma when semicolon-separated numbers use
one); UTF-8 with or without BOM, UTF-16 with BOM, else Windows-1252 / Latin-1; any line
ending; quoted fields. Missing cells: empty or one of ``MISSING_MARKERS``. Rows are
checked against the first one before pandas parses them, because pandas silently pads
short rows; a bad file is one DataError line naming the problem (and its line).
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from pathlib import Path
from typing import BinaryIO, TextIO

import numpy as np
import pandas as pd

from core.errors import DataError
from core.files import one_line, read_file_bytes

# "None" and "." are left out on purpose: both are real labels in some tables.
MISSING_MARKERS = ("", "NA", "N/A", "n/a", "NaN", "nan", "NAN", "?", "NULL", "null", "#N/A")
DELIMITERS = (",", ";", "\t")

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


def read_csv(source: CsvSource, header: bool = True) -> pd.DataFrame:
    """Read a CSV into a DataFrame with string column names: from its header row, or
    ``col0, col1, ...`` without one."""
    return _read(source, header)[0]


def read_csv_guessing_header(source: CsvSource) -> tuple[pd.DataFrame, bool]:
    """``read_csv`` for files that come both with and without a header row (HI-VAE's
    ``data.csv``), and whether there was one: there is if the first line holds a cell
    that is neither a number nor a missing marker."""
    return _read(source, None)


def _read(source: CsvSource, header: bool | None) -> tuple[pd.DataFrame, bool]:
    data, encoding = _decode_plan(_source_bytes(source))
    if b"\n" not in data and b"\r" in data:
        # old Mac line ends: one rule for the row checks below and for pandas
        data = data.replace(b"\r", b"\n")
    sample = _sample_text(data, encoding)
    delimiter = _sniff_delimiter(sample)
    first_record = next(csv.reader(io.StringIO(sample), delimiter=delimiter, skipinitialspace=True), [])
    if header is None:
        header = _is_header(first_record)
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
        raise DataError(f"cannot parse the file: {one_line(error)}") from None
    if header:
        frame.columns = [str(name).strip() for name in frame.columns]
    else:
        frame.columns = [f"col{i}" for i in range(frame.shape[1])]
    if not frame.notna().to_numpy().any():
        raise DataError("every cell of the table is missing")
    return frame, header


def _source_bytes(source: CsvSource) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    if isinstance(source, (str, Path)):
        return read_file_bytes(source)
    if hasattr(source, "read"):
        # an upload widget may already have been read once
        if hasattr(source, "seek"):
            source.seek(0)
        content = source.read()
        return content.encode("utf-8") if isinstance(content, str) else bytes(content)
    raise TypeError(f"cannot read a table from a {type(source).__name__}")


def _is_header(first_record: list[str]) -> bool:
    cells = [cell for cell in first_record if cell.strip() not in MISSING_MARKERS]
    return bool(pd.to_numeric(pd.Series(cells, dtype=object), errors="coerce").isna().any())


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
