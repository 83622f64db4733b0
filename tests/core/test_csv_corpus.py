"""Every file of tests/csv_corpus/ through ``load_table``: the error it must raise, or the types it must give.

The files are written by tests/csv_corpus/make_corpus.py; binary ones are real files.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from core.errors import DataError
from core.io import load_table

CORPUS = Path(__file__).resolve().parent / "csv_corpus"
EXCLUDED = "excluded"
MIXED = {"level": "real", "visits": "categorical", "insured": "binary", "group": "categorical"}

# file -> an error substring, or {column: type or EXCLUDED}
EXPECTED: dict[str, str | dict[str, str]] = {
    "empty.csv": "the file is empty",
    "header_only.csv": "header row but no data rows",
    "header_and_blank_lines.csv": "header row but no data rows",
    "binary_garbage.csv": "binary, not CSV text",
    "excel_workbook_renamed.csv": "Excel workbook",
    "ragged_long_row.csv": "line 5 has 4 fields, but the header has 3",
    "ragged_short_row.csv": "line 4 has 2 fields, but the header has 3",
    # the quoted field spans lines 2-3, so the bad record starts on physical line 5
    "ragged_after_quoted_newline.csv": "line 5 has 3 fields, but the header has 2",
    "unclosed_quote.csv": "quoted field opened on line 3 is never closed",
    "duplicate_names.csv": "duplicate column name 'b'",
    "all_missing.csv": "every cell of the table is missing",
    "one_usable_column.csv": "1 usable column ('value')",
    "single_column.csv": "1 usable column ('only')",
    "five_rows.csv": "5 data rows; at least 10",
    "semicolon_decimal_comma.csv": MIXED,
    "tab_separated.tsv": MIXED,
    "crlf.csv": MIXED,
    "cr_only_old_mac.csv": MIXED,
    "blank_lines.csv": MIXED,
    "bom_utf8.csv": MIXED,
    "utf16_excel_export.csv": MIXED,
    "latin1_accents.csv": {"city": "categorical", "visits": "positive"},
    "cp1252_euro.csv": {"price": "positive", "currency": "binary"},
    "quoted_commas_newlines.csv": {"name": "categorical", "amount": "positive", "note": "binary"},
    "quote_inside_field.csv": {"height": "binary", "weight": "positive"},
    "numeric_column_names.csv": {"1": "real", "2": "binary", "3": "categorical"},
    "question_mark_missing.csv": {"age": "categorical", "income": "positive"},
    "missing_markers.csv": {"x": "real", "y": "binary"},
    "none_is_a_label.csv": {"garage": "categorical", "price": "positive"},
    "true_false.csv": {"flag": "binary", "score": "real"},
    "integer_valued_floats.csv": {"visits": "count", "code": "categorical"},
    "all_missing_column.csv": {"a": "real", "empty": EXCLUDED, "b": "binary"},
    "id_and_constant.csv": {
        "rownames": EXCLUDED,
        "customer": EXCLUDED,
        "country": EXCLUDED,
        "spend": "positive",
        "churned": "binary",
    },
    "negative_reals.csv": {"temperature": "real", "delta": "real"},
    "stray_words_in_numbers.csv": {"weight": EXCLUDED, "height": "positive", "group": "binary"},
    "spaces_after_delimiter.csv": {"a": "real", "b": "binary", "c": "categorical"},
}


def test_every_corpus_file_has_an_expectation_and_vice_versa():
    on_disk = {p.name for p in CORPUS.iterdir() if p.suffix != ".py" and p.is_file()}
    assert on_disk == set(EXPECTED)
    assert len(on_disk) >= 20


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_file(name):
    expected = EXPECTED[name]
    if isinstance(expected, str):
        with pytest.raises(DataError) as caught:
            load_table(CORPUS / name)
        message = str(caught.value)
        assert expected in message
        assert "\n" not in message
        return
    table = load_table(CORPUS / name)
    got = {c.name: EXCLUDED if c.excluded else c.type.value for c in table.schema.columns}
    assert got == expected


def _mixed_values(name):
    return load_table(CORPUS / name).data


def test_mixed_files_read_to_the_same_values_whatever_the_format():
    reference = _mixed_values("crlf.csv")
    for name in (
        "semicolon_decimal_comma.csv",
        "tab_separated.tsv",
        "cr_only_old_mac.csv",
        "blank_lines.csv",
        "bom_utf8.csv",
        "utf16_excel_export.csv",
    ):
        pd.testing.assert_frame_equal(_mixed_values(name), reference, check_dtype=False)
    # the values the generator wrote: level = (i - 5) * 1.25
    assert reference["level"].tolist() == [(i - 5) * 1.25 for i in range(12)]


def test_text_survives_quotes_accents_and_code_pages():
    quoted = load_table(CORPUS / "quoted_commas_newlines.csv").data
    assert quoted["name"].iloc[0] == "Smith, J0"
    assert quoted["note"].iloc[1] == 'line one\nline two, with "quotes"'
    assert set(load_table(CORPUS / "latin1_accents.csv").data["city"]) == {"Zürich", "Málaga", "Besançon"}
    assert set(load_table(CORPUS / "cp1252_euro.csv").data["currency"]) == {"€", "£"}
    assert list(load_table(CORPUS / "quote_inside_field.csv").data["height"][:2]) == ["5'11\"", "6'1\""]


def test_missing_markers_become_missing_and_none_stays_a_label():
    markers = load_table(CORPUS / "missing_markers.csv").data
    assert markers["x"].isna().tolist() == [True] * 9 + [False] * 3
    assert markers["x"].dropna().tolist() == [1.5, 2.25, -3.5]
    question = load_table(CORPUS / "question_mark_missing.csv").data
    assert question["age"].isna().sum() == 1 and question["income"].isna().sum() == 3
    garage = load_table(CORPUS / "none_is_a_label.csv").schema["garage"]
    assert garage.categories == ("None", "double", "single")


def test_booleans_integer_floats_and_numeric_names_keep_natural_labels():
    flag = load_table(CORPUS / "true_false.csv").schema["flag"]
    assert flag.categories == (False, True)
    code = load_table(CORPUS / "integer_valued_floats.csv").schema["code"]
    assert code.categories == (0, 1, 2, 3) and all(type(c) is int for c in code.categories)
    names = load_table(CORPUS / "numeric_column_names.csv").data.columns
    assert list(names) == ["1", "2", "3"]
    spaces = load_table(CORPUS / "spaces_after_delimiter.csv").data
    assert list(spaces.columns) == ["a", "b", "c"] and set(spaces["b"]) == {"yes", "no"}
    assert math.isnan(spaces["c"].iloc[5])
