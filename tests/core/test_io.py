"""Reading CSV files and HI-VAE folders (core.io), the sample registry (core.samples)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.csv_reader import read_csv_guessing_header
from core.errors import DataError
from core.inference import infer_schema
from core.io import MISSING_MARKERS, check_usable, load_table, read_csv, read_hivae_folder
from core.samples import SAMPLES, sample_path
from core.schema import ColumnType
from tests.paths import REPO

PAPER = Path("/work/shared/data/paper")


# --- sources ---------------------------------------------------------------------------


def test_reads_from_path_str_bytes_and_file_objects(tmp_path):
    text = "a,b\n1,x\n2,y\n"
    path = tmp_path / "t.csv"
    path.write_text(text)
    expected = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    for source in (path, str(path), text.encode(), io.BytesIO(text.encode()), io.StringIO(text)):
        pd.testing.assert_frame_equal(read_csv(source), expected, check_dtype=False)


def test_a_file_object_read_before_is_read_from_its_start():
    upload = io.BytesIO(b"a,b\n1,2\n")
    upload.read()
    assert read_csv(upload).shape == (1, 2)


@pytest.mark.parametrize(
    "source, message",
    [
        ("/nonexistent/t.csv", "not found"),
        ("/tmp", "is a folder"),
    ],
)
def test_unreadable_paths_raise_data_error(source, message):
    with pytest.raises(DataError, match=message):
        read_csv(source)


# --- delimiters, numbers, encodings --------------------------------------------------------


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_delimiter_is_sniffed(delimiter):
    rows = [["a", "b", "c"], ["1", "x y", "2.5"], ["3", "z", "4.5"]]
    text = "\n".join(delimiter.join(r) for r in rows) + "\n"
    frame = read_csv(text.encode())
    assert list(frame.columns) == ["a", "b", "c"]
    assert frame["c"].tolist() == [2.5, 4.5]


def test_commas_inside_semicolon_rows_are_decimal_commas_only_when_no_decimal_point_appears():
    assert read_csv(b"a;b\n1,5;x\n-2,25;y\n")["a"].tolist() == [1.5, -2.25]
    mixed = read_csv(b"a;b\n1,5;2.5\n3,5;4.5\n")
    assert mixed["b"].tolist() == [2.5, 4.5]
    assert mixed["a"].tolist() == ["1,5", "3,5"]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "latin-1", "cp1252", "utf-16"])
def test_encodings(encoding):
    labels = ["Zürich", "Besançon", "Ærø"] if encoding != "cp1252" else ["5 €", "“quoted”", "naïve"]
    text = "city,n\n" + "".join(f"{label},{i}\n" for i, label in enumerate(labels))
    frame = read_csv(text.encode(encoding))
    assert list(frame.columns) == ["city", "n"]
    assert frame["city"].tolist() == labels


@pytest.mark.parametrize("marker", MISSING_MARKERS)
def test_missing_markers(marker):
    frame = read_csv(f"a,b\n{marker},1\n2.5,{marker}\n".encode())
    assert frame["a"].isna().tolist() == [True, False]
    assert frame["b"].isna().tolist() == [False, True]


def test_none_and_words_are_labels_not_missing():
    assert read_csv(b"a,b\nNone,1\nsome,2\n")["a"].tolist() == ["None", "some"]


def test_column_names_are_stripped_strings():
    frame = read_csv(b" 1 ,2, x\n1,2,3\n")
    assert list(frame.columns) == ["1", "2", "x"]


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "the file is empty"),
        (b"  \n\n", "the file is empty"),
        (b"a,b\n", "header row but no data rows"),
        (b"a,b\n1,2\x00\n", "NUL byte at offset 7"),
        (b"\x1f\x8b\x08\x00rest", "gzip"),
        (b"a,b,a\n1,2,3\n", "duplicate column name 'a'"),
        (b"a,b\n1,2\n3,4,5\n", "line 3 has 3 fields, but the header has 2"),
        (b"a,b\r\n1,2\r\n3\r\n", "line 3 has 1 field, but the header has 2"),
        (b'a,b\n"x\ny",1\n2,3,4\n', "line 4 has 3 fields"),
        (b'a,b\n1,"open\n2,3\n', "quoted field opened on line 2 is never closed"),
        (b"a,b\nNA,?\n,\n", "every cell of the table is missing"),
        (bytes(range(1, 32)) * 10, "control characters"),
    ],
)
def test_bad_files_raise_one_line_data_errors(content, message):
    with pytest.raises(DataError) as caught:
        read_csv(content)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


_CELL = st.one_of(
    st.text(alphabet='ab ,;"\n', min_size=1, max_size=5).map(lambda s: '"' + s.replace('"', '""') + '"'),
    st.text(alphabet="xyz19", min_size=0, max_size=4),
)


@settings(max_examples=60, deadline=None)
@given(
    header_width=st.integers(2, 4),
    rows=st.lists(st.lists(_CELL, min_size=1, max_size=6), min_size=1, max_size=8),
    delimiter=st.sampled_from([",", ";"]),
    newline=st.sampled_from(["\n", "\r\n"]),
)
def test_ragged_rows_are_found_where_the_csv_module_finds_them(header_width, rows, delimiter, newline):
    header = [f"h{i}" for i in range(header_width)]
    text = newline.join([delimiter.join(header)] + [delimiter.join(r) for r in rows]) + newline
    # independent count: the standard csv module's records and their starting lines
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    first_bad, line, n_records, filled = None, 1, 0, False
    for record in reader:
        if record:  # the csv module, like pandas, skips blank lines
            n_records += 1
            filled = filled or (n_records > 1 and any(record))
            if len(record) != header_width and first_bad is None:
                first_bad = (line, len(record))
        line = reader.line_num + 1
    if first_bad is None and n_records == 1:
        with pytest.raises(DataError, match="no data rows"):
            read_csv(text.encode())
    elif first_bad is None and not filled:
        with pytest.raises(DataError, match="every cell of the table is missing"):
            read_csv(text.encode())
    elif first_bad is None:
        assert len(read_csv(text.encode())) == n_records - 1
    else:
        with pytest.raises(DataError, match=f"^line {first_bad[0]} has {first_bad[1]} field"):
            read_csv(text.encode())


_WORD = st.text(alphabet="abcé ,;\"'\n", min_size=1, max_size=6).map(lambda s: "w" + s)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(1, 30),
    data=st.data(),
    delimiter=st.sampled_from([",", ";", "\t"]),
    newline=st.sampled_from(["\n", "\r\n"]),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "latin-1"]),
)
def test_round_trip_of_what_pandas_writes(n, data, delimiter, newline, encoding):
    floats = data.draw(st.lists(st.floats(-1e6, 1e6, allow_nan=False) | st.none(), min_size=n, max_size=n))
    ints = data.draw(st.lists(st.integers(-(10**9), 10**9), min_size=n, max_size=n))
    words = data.draw(st.lists(_WORD | st.none(), min_size=n, max_size=n))
    original = pd.DataFrame(
        {"f": pd.array(floats, dtype="Float64").astype(float), "i": ints, "w": pd.Series(words, dtype=object)}
    )
    buffer = io.BytesIO()
    original.to_csv(buffer, sep=delimiter, lineterminator=newline, index=False, encoding=encoding, na_rep="NA")
    frame = read_csv(buffer.getvalue())
    pd.testing.assert_series_equal(frame["i"], original["i"], check_dtype=False)
    np.testing.assert_allclose(frame["f"].to_numpy(dtype=float), original["f"].to_numpy(dtype=float), rtol=1e-12)
    assert frame["w"].isna().tolist() == original["w"].isna().tolist()
    assert frame["w"].dropna().tolist() == original["w"].dropna().tolist()


# --- HI-VAE folders ----------------------------------------------------------------------------


def _pairs(path: Path) -> set[tuple[int, int]]:
    with open(path) as f:
        return {(int(r[0]) - 1, int(r[1]) - 1) for r in csv.reader(f) if r}


def test_adult_missing_and_imputation_masks_match_their_pair_files():
    table = read_hivae_folder(PAPER / "Adult")
    assert table.data.shape == (32561, 12)
    truly_missing = _pairs(PAPER / "Adult" / "MissingTrue.csv")
    assert set(zip(*np.nonzero(table.missing_mask), strict=True)) == truly_missing
    assert set(zip(*np.nonzero(table.data.isna().to_numpy()), strict=True)) == truly_missing
    assert set(zip(*np.nonzero(table.impute_mask), strict=True)) == _pairs(PAPER / "Adult" / "Missing20_1.csv")


def test_adult_types_and_categories_come_from_the_files_and_the_values():
    table = read_hivae_folder(PAPER / "Adult")
    with open(PAPER / "Adult" / "data_types.csv") as f:
        declared = [r for r in csv.DictReader(f)]
    assert len(table.schema) == len(declared)
    for column, row in zip(table.schema.columns, declared, strict=True):
        expected = {"pos": "positive", "cat": "categorical"}.get(row["type"], row["type"])
        if row["type"] == "cat" and row["nclass"] == "2":
            expected = "binary"
        assert column.type.value == expected
        if column.type.is_discrete_class:
            values = table.data[column.name].dropna().unique()
            assert column.categories == tuple(sorted(int(v) for v in values))


def test_header_and_row_index_of_bank_are_recognised():
    table = read_hivae_folder(PAPER / "bank")
    with open(PAPER / "bank" / "data.csv") as f:
        header = next(csv.reader(f))
    assert list(table.data.columns) == header[1:]
    assert table.missing_mask is None and table.impute_mask is None
    assert table.schema["job"].n_classes == 12


def test_declared_positive_columns_holding_zeros_stay_positive():
    """HI-VAE's positive type models 1 + x: spam's word frequencies are mostly zeros."""
    table = read_hivae_folder(PAPER / "spam")
    first = table.schema.columns[0]
    assert (table.data[first.name] == 0).any()
    assert first.type is ColumnType.POSITIVE and first.reason == "from data_types.csv"


_ROWS = "".join(f"{i % 3},{i * 0.5 + 1}\n" for i in range(12))
_TYPES = "type,dim,nclass\ncat,3,3\npos,1,\n"


@pytest.mark.parametrize(
    "types, masks, message",
    [
        (_TYPES + "real,1,\n", {}, "data.csv has 2 columns, but data_types.csv lists 3"),
        (_TYPES, {"Missing20_1.csv": "1,1\n13,1\n"}, r"Missing20_1.csv line 2: cell \(13, 1\) is outside the 12 x 2"),
        (_TYPES, {"MissingTrue.csv": "1;1\n"}, "MissingTrue.csv must hold 1-based row,column"),
        ("type,dim,nclass\nordinal,2,2\npos,1,\n", {}, "'col0' has 3 distinct values, but data_types.csv says 2"),
        ("type,dim,nclass\ncat,3,3\ncount,1,\n", {}, "'col1' cannot be count: it holds 1.5"),
        ("type,dim,nclass\ncat,3,3\nreel,1,\n", {}, "line 3: unknown type 'reel'"),
    ],
)
def test_hivae_folder_errors_name_the_problem(tmp_path, types, masks, message):
    (tmp_path / "data.csv").write_text(_ROWS)
    (tmp_path / "data_types.csv").write_text(types)
    for name, text in masks.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(DataError, match=message):
        read_hivae_folder(tmp_path)


def test_hivae_folder_whose_first_row_has_a_missing_cell_has_no_header(tmp_path):
    (tmp_path / "data.csv").write_text("NaN,2.5\n" + _ROWS)
    (tmp_path / "data_types.csv").write_text(_TYPES)
    table = read_hivae_folder(tmp_path)
    assert len(table.data) == 13
    assert table.missing_mask[0].tolist() == [True, False] and table.missing_mask.sum() == 1


def test_hivae_folder_without_masks_or_missing_cells_has_no_masks(tmp_path):
    (tmp_path / "data.csv").write_text(_ROWS)
    (tmp_path / "data_types.csv").write_text(_TYPES)
    table = read_hivae_folder(tmp_path)
    assert table.missing_mask is None and table.impute_mask is None
    assert list(table.data.columns) == ["col0", "col1"]
    assert table.schema["col0"].categories == (0, 1, 2)


@pytest.mark.parametrize(
    "text, has_header, columns",
    [
        ("1,2.5,NA\n3,4,5\n", False, ["col0", "col1", "col2"]),
        ('"1", 2.5,\n3,4,5\n', False, ["col0", "col1", "col2"]),  # quoted and spaced numbers are numbers
        ("a,b,c\n1,2,3\n", True, ["a", "b", "c"]),
        ("id;x;y\n1;2;3\n", True, ["id", "x", "y"]),
        ("1,x,3\n4,y,6\n", True, ["1", "x", "3"]),  # one cell that is not a number makes a header
    ],
)
def test_a_header_row_is_guessed_from_its_cells(text, has_header, columns):
    frame, found = read_csv_guessing_header(text.encode())
    assert found is has_header and list(frame.columns) == columns
    assert len(frame) == (1 if has_header else 2)
    assert list(read_csv(text.encode(), header=False).columns) == ["col0", "col1", "col2"]


# --- load_table and check_usable -----------------------------------------------------------------


def test_load_table_dispatches_on_folder_or_file(tmp_path):
    folder = load_table(PAPER / "Wine")
    assert folder.name == "Wine" and folder.impute_mask is not None and folder.impute_mask.shape == (6497, 13)
    csv_table = load_table(REPO / "sample_data" / "penguins.csv")
    assert csv_table.name == "penguins" and csv_table.missing_mask is None
    assert csv_table.schema["rownames"].excluded


def test_load_table_with_a_types_file(tmp_path):
    types = tmp_path / "types.csv"
    types.write_text("type,dim,nclass\ncat,3,3\ncat,3,3\nreal,1,\nreal,1,\nreal,1,\nreal,1,\ncat,2,2\nordinal,3,3\n")
    table = load_table(REPO / "sample_data" / "penguins.csv", types=types)
    assert [c.type.value for c in table.schema.features] == [
        "categorical",
        "categorical",
        "real",
        "real",
        "real",
        "real",
        "binary",
        "ordinal",
    ]
    assert table.schema["year"].categories == (2007, 2008, 2009)


@pytest.mark.parametrize(
    "path, types, message",
    [
        ("/nonexistent/x.csv", None, "no file or folder"),
        ("/tmp", None, "no data_types.csv"),
        (str(PAPER / "Wine"), "x.csv", "a types file applies to CSV files"),
    ],
)
def test_load_table_errors(path, types, message):
    with pytest.raises(DataError, match=message):
        load_table(path, types=types)


def test_check_usable():
    schema_source = pd.DataFrame({"a": np.arange(12) * 1.5, "b": ["x", "y"] * 6, "id": np.arange(12)})
    schema = infer_schema(schema_source)
    check_usable(schema_source, schema)
    with pytest.raises(DataError, match="9 data rows; at least 10"):
        check_usable(schema_source.iloc[:9], infer_schema(schema_source.iloc[:9]))
    narrow = schema_source[["a", "id"]]
    with pytest.raises(DataError, match=r"1 usable column \('a'\); at least 2 are needed \(excluded: 'id'\)"):
        check_usable(narrow, infer_schema(narrow))
    with pytest.raises(DataError, match="do not match"):
        check_usable(schema_source[["b", "a", "id"]], schema)


# --- samples ------------------------------------------------------------------------------------


def test_every_sample_exists_is_small_and_loads():
    for sample in SAMPLES.values():
        assert sample.path.exists(), sample.name
        assert sample_path(sample.name) == sample.path
    for path in (REPO / "sample_data").rglob("*"):
        assert path.stat().st_size < 8 * 1024 * 1024, path
    for name in ("penguins", "CPS1985", "Housing"):
        assert len(load_table(sample_path(name)).schema.features) >= 2


def test_sample_copies_equal_their_originals():
    for sample in SAMPLES.values():
        source = (
            PAPER / sample.relative_path
            if sample.path.is_dir()
            else Path("/work/shared/data/raw") / sample.relative_path
        )
        files = sorted(p.name for p in source.iterdir()) if source.is_dir() else [None]
        for name in files:
            original = source / name if name else source
            copy = sample.path / name if name else sample.path
            assert original.read_bytes() == copy.read_bytes(), copy


def test_unknown_sample_names_the_known_ones():
    with pytest.raises(DataError, match=r"no sample named 'nope' .*Adult"):
        sample_path("nope")


def test_sample_readme_credits_every_source():
    readme = (REPO / "sample_data" / "README.md").read_text()
    for credit in (
        "UCI",
        "CC BY 4.0",
        "Nazabal",
        "Javaloy",
        "Rdatasets",
        "Ecdat",
        "COUNT",
        "DAAG",
        "ggplot2",
        "palmerpenguins",
        "AER",
    ):
        assert credit in readme
