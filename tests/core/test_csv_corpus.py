"""Every file of tests/csv_corpus/ through ``load_table``: the error it must raise, or the types it must give.

The files are written by tests/csv_corpus/make_corpus.py; binary ones are real files.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
import torch

from core.encoding import TableEncoder
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
    # a stray "unknown" in a number column is read as missing
    "stray_words_in_numbers.csv": {"weight": "positive", "height": "positive", "group": "binary"},
    # awkward values (make_corpus.awkward_values): what each must give
    "yes_no_any_case.csv": {"insured": "binary", "hours": "positive"},
    "percent_and_currency.csv": {"rate": "positive", "salary": "positive", "price_eur": "positive", "group": "binary"},
    "dates_and_times.csv": {
        "day": EXCLUDED,
        "stamp": EXCLUDED,
        "clock": EXCLUDED,
        "amount": "positive",
        "group": "categorical",
    },
    "stray_words_in_integers.csv": {"visits": "count", "weight": "positive"},
    "huge_numbers.csv": "column 'x' holds 1e+300, beyond ±1e+18",
    # an amount in the tens of thousands, one with many zeros, a small count, calendar
    # years, codes with gaps, a 1..10 rating whose top collects the extremes
    "amounts_and_counts.csv": {
        "salary": "positive",
        "balance": "positive",
        "visits": "count",
        "built": "real",
        "code": "categorical",
        "rating": "categorical",
    },
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


def test_the_reasons_say_how_awkward_values_were_read():
    reasons = {
        name: {c.name: c.reason for c in load_table(CORPUS / name).schema.columns}
        for name in (
            "yes_no_any_case.csv",
            "percent_and_currency.csv",
            "dates_and_times.csv",
            "stray_words_in_integers.csv",
            "amounts_and_counts.csv",
        )
    }
    assert "differ only in case" in reasons["yes_no_any_case.csv"]["insured"]
    assert "percent" in reasons["percent_and_currency.csv"]["rate"]
    assert "currency" in reasons["percent_and_currency.csv"]["salary"]
    assert "'2021-01-01'" in reasons["dates_and_times.csv"]["day"]
    assert "times of day" in reasons["dates_and_times.csv"]["clock"]
    assert "'-', 'unknown' (7 cells) read as missing" in reasons["stray_words_in_integers.csv"]["visits"]
    amounts = reasons["amounts_and_counts.csv"]
    assert "an amount" in amounts["salary"] and "an amount" in amounts["balance"]
    assert "small counts" in amounts["visits"] and "calendar years" in amounts["built"]


def test_booleans_in_any_case_are_two_classes_and_every_spelling_encodes():
    table = load_table(CORPUS / "yes_no_any_case.csv")
    insured = table.schema["insured"]
    assert insured.categories == ("Yes", "no")
    encoder = TableEncoder(table.schema).fit(table.data)
    classes = encoder.transform(table.data).targets[:, 0].numpy()
    spelt_yes = table.data["insured"].str.lower() == "yes"
    assert (classes[spelt_yes.to_numpy()] == 0).all() and (classes[~spelt_yes.to_numpy()] == 1).all()
    assert set(encoder.decode(encoder.transform(table.data).targets)["insured"]) == {"Yes", "no"}


def test_numbers_written_as_text_train_and_decode_as_the_numbers_they_write():
    table = load_table(CORPUS / "percent_and_currency.csv")
    encoder = TableEncoder(table.schema).fit(table.data)
    encoded = encoder.transform(table.data)
    names = [c.name for c in encoder.features]
    first = table.data.iloc[0]
    assert first["rate"] == "0.5%" and first["salary"] == "$62,500" and first["price_eur"] == "€1.562,50"
    targets = encoded.targets[0].numpy()
    assert targets[names.index("rate")] == 0.5
    assert targets[names.index("salary")] == 62500.0
    assert targets[names.index("price_eur")] == 1562.5
    decoded = encoder.decode(encoded.targets, encoded.mask)
    assert decoded["rate"].iloc[0] == 0.5 and decoded["salary"].iloc[0] == 62500.0
    # the reading travels with the encoder's state
    restored = TableEncoder.from_state_dict(encoder.state_dict())
    assert (restored.transform(table.data).targets == encoded.targets).all()


def test_missing_words_are_missing_cells_not_classes():
    table = load_table(CORPUS / "stray_words_in_integers.csv")
    encoded = TableEncoder(table.schema).fit(table.data).transform(table.data)
    words = torch.from_numpy(table.data["visits"].isin(["unknown", "-"]).to_numpy().copy())
    assert words.sum() == 7 and not encoded.mask[words, 0].any() and encoded.mask[~words, 0].all()
