"""Cells read as what they write (core.cell_formats): numbers as text, labels in any case,
missing words, dates; kept on the column through overrides, JSON and the encoder."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.cell_formats import CellKind, read_cells
from core.encoding import TableEncoder
from core.errors import DataError
from core.inference import infer_schema, validate_override
from core.schema import Column, ColumnType, Schema


def _read(cells):
    return read_cells(pd.Series(cells, dtype=object))


@pytest.mark.parametrize(
    "cells, numbers, words",
    [
        (["12.5%", "3%", "0", "100 %"], [12.5, 3.0, 0.0, 100.0], "percent"),
        (["$12,345", "$1,000.50", "-$3", "($7.25)"], [12345.0, 1000.5, -3.0, -7.25], "currency"),
        (["€1.234,50", "€12,00", "€3"], [1234.5, 12.0, 3.0], "currency"),
        (["12 USD", "3.5 USD", "0 USD"], [12.0, 3.5, 0.0], "currency"),
        (["1,234", "5,678", "12"], [1234.0, 5678.0, 12.0], "thousands separators"),
        (["1,5", "2,25", "-0,5"], [1.5, 2.25, -0.5], "decimal comma"),
        (["1.234.567", "2,5"], [1234567.0, 2.5], "decimal comma"),
    ],
)
def test_numbers_written_as_text_are_read_as_their_numbers(cells, numbers, words):
    read = _read(cells)
    assert read.reading.kind is CellKind.NUMBER_TEXT
    np.testing.assert_array_equal(read.values.to_numpy(dtype=float), numbers)
    assert words in read.note


@pytest.mark.parametrize(
    "cells",
    [
        ["1,234.5", "1.234,5"],  # both decimal marks: no safe reading
        ["12%", "0.3"],  # a percent next to a bare fraction
        ["1", "2", "3", "other"] * 3,  # few codes and a label
        ["a", "b", "c"],
        ["1,23,4", "5"],  # not a grouping
    ],
)
def test_text_without_a_safe_number_reading_stays_text(cells):
    assert _read(cells).reading.kind is not CellKind.NUMBER_TEXT


def test_missing_words_and_a_few_stray_words_are_missing():
    numbers = [str(60 + i * 0.5) for i in range(40)]
    read = _read([*numbers, "unknown", "N.A.", "refused"])
    assert read.reading.missing_words == ("N.A.", "refused", "unknown")
    assert read.values.isna().sum() == 3 and "read as missing" in read.note
    few_codes = _read(["0", "1", "2", "unknown"] * 5)  # a missing-like word among codes
    assert few_codes.reading.kind is CellKind.NUMBER_TEXT and few_codes.values.isna().sum() == 5
    stray = _read([*numbers, "over 90"])  # one other word among many numbers
    assert stray.reading.missing_words == ("over 90",)
    many = _read([*numbers, *[f"w{i}" for i in range(5)]])  # too many words: left to the user
    assert many.reading.kind is CellKind.AS_READ


def test_labels_differing_only_in_case_are_one_class_in_inference_and_encoding():
    frame = pd.DataFrame({"insured": ["Yes", "no", "YES", "No", "yes ", "no"] * 4, "v": np.arange(24) * 1.5})
    schema = infer_schema(frame)
    insured = schema["insured"]
    assert insured.type is ColumnType.BINARY and insured.cells.kind is CellKind.ANY_CASE
    assert len(insured.categories) == 2 and "differ only in case" in insured.reason
    encoder = TableEncoder(schema).fit(frame)
    classes = encoder.transform(frame).targets[:, 0].numpy()
    assert set(classes) == {0.0, 1.0}
    assert (classes == classes[0]).sum() == 12


@pytest.mark.parametrize(
    "cells, what",
    [
        (["2021-03-04", "2021-03-05", "2020-12-31"], "dates"),
        (["2021-03-04T12:30:00Z", "2021-03-04 13:00"], "dates"),
        (["04/03/2021", "05/03/2021"], "dates"),
        (["12:30", "13:45:10", "7:05 pm"], "times of day"),
    ],
)
def test_dates_and_times_are_excluded_with_a_reason(cells, what):
    column = infer_schema(pd.DataFrame({"when": cells * 5}))["when"]
    assert column.excluded and what in column.reason and "not modelled" in column.reason


def test_the_reading_survives_json_and_overrides():
    frame = pd.DataFrame({"rate": [f"{(i + 1) * 2.5}%" for i in range(30)], "g": ["a", "b"] * 15})
    schema = infer_schema(frame)
    rate = schema["rate"]
    assert rate.type is ColumnType.POSITIVE and rate.cells.kind is CellKind.NUMBER_TEXT
    assert Schema.from_json(schema.to_json())["rate"] == rate
    as_real = validate_override(frame, schema, "rate", "real")["rate"]
    assert as_real.type is ColumnType.REAL and as_real.cells == rate.cells
    encoder = TableEncoder(Schema((as_real, schema["g"]))).fit(frame)
    assert encoder.transform(frame).targets[:3, 0].tolist() == [2.5, 5.0, 7.5]
    with pytest.raises(DataError, match="'g' cannot be real: it holds text"):
        validate_override(frame, schema, "g", "real")


def test_a_plain_column_keeps_its_old_json():
    assert "cells" not in Column("x", ColumnType.REAL).to_dict()


def test_a_cell_the_reading_cannot_read_is_one_clear_error():
    frame = pd.DataFrame({"rate": [f"{i * 7 % 30 + 1}.5%" for i in range(30)], "g": ["a", "b"] * 15})
    encoder = TableEncoder(infer_schema(frame)).fit(frame)
    with pytest.raises(DataError, match="'rate' \\(positive\\) holds 'lots', which is not a finite number"):
        encoder.transform(frame.assign(rate=["lots"] * 30))
