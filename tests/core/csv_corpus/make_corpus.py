"""Writes the malformed and awkward CSV files of this folder (run once; the files are kept).

    python3 tests/csv_corpus/make_corpus.py

What each file should give is in tests/test_csv_corpus.py.
"""

from __future__ import annotations

import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROWS = 12
AWKWARD_ROWS = 240


def lines(header: str, rows: list[str], newline: str = "\n") -> str:
    return newline.join([header, *rows]) + newline


def mixed_rows(delimiter: str = ",", decimal: str = ".") -> list[str]:
    """12 rows: a real with negatives, a count, a yes/no, a text category."""
    rows = []
    for i in range(ROWS):
        real = f"{(i - 5) * 1.25:.2f}".replace(".", decimal)
        rows.append(delimiter.join([real, str(i * 7 % 50 + i), "yes" if i % 3 else "no", "abc"[i % 3]]))
    return rows


MIXED_HEADER = ["level", "visits", "insured", "group"]
# feet and inches: a double quote in the middle of an unquoted field
HEIGHTS = ("5'11\"", "6'1\"")
MIXED_TYPES = {"level": "real", "visits": "categorical", "insured": "binary", "group": "categorical"}


def awkward_values() -> dict[str, str]:
    """Files whose values, not their format, are awkward: numbers written as text,
    booleans in any case, dates, amounts next to counts (``AWKWARD_ROWS`` rows each)."""
    rng = random.Random(1)
    n = AWKWARD_ROWS
    answers = ["Yes", "no", "YES", "No", "yes", "NO"]
    salaries = [round(rng.lognormvariate(10.8, 0.4), -2) for _ in range(n)]
    visits = [_poisson(rng, 3.0) for _ in range(n)]
    ratings = [min(10, 1 + _poisson(rng, 2.0)) if i % 9 else 10 for i in range(n)]
    codes = [(1, 2, 5, 7, 9, 12, 15, 20, 30, 40)[i % 10] for i in range(n)]
    return {
        "yes_no_any_case.csv": lines(
            "insured,hours", [f"{answers[i % 6] if i % 5 else answers[i % 2]},{20 + i % 7 * 2.5}" for i in range(n)]
        ),
        "percent_and_currency.csv": lines(
            "rate,salary,price_eur,group",
            [
                f'{(i % 40) * 2.5 + 0.5}%,"${int(salaries[i]):,}","€{_european(salaries[i] / 40)}",{"ab"[i % 2]}'
                for i in range(n)
            ],
        ),
        "dates_and_times.csv": lines(
            "day,stamp,clock,amount,group",
            [
                f"2021-{1 + i % 12:02d}-{1 + i % 28:02d},2021-03-04T{i % 24:02d}:{i % 60:02d}:00,"
                f"{i % 24}:{i % 60:02d},{10 + i * 0.7:.1f},{'xyz'[i % 3]}"
                for i in range(n)
            ],
        ),
        "stray_words_in_integers.csv": lines(
            "visits,weight",
            [f"{('unknown', '-')[i % 2] if i % 37 == 3 else visits[i]},{60 + i % 13 * 1.5}" for i in range(n)],
        ),
        "huge_numbers.csv": lines("x,y", [f"{1e300 if i == 7 else i * 1.5 + 0.5},{i % 3}" for i in range(ROWS)]),
        "amounts_and_counts.csv": lines(
            "salary,balance,visits,built,code,rating",
            [
                f"{int(salaries[i])},{0 if i % 3 else int(salaries[i] / 7)},{visits[i]},{1900 + i * 7 % 116},"
                f"{codes[i]},{ratings[i]}"
                for i in range(n)
            ],
        ),
    }


def _poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw by counting exponential arrivals within ``mean``."""
    total, k = rng.expovariate(1.0), 0
    while total < mean:
        total += rng.expovariate(1.0)
        k += 1
    return k


def _european(amount: float) -> str:
    """1234.5 as 1.234,50."""
    return f"{amount:,.2f}".replace(",", " ").replace(".", ",").replace(" ", ".")


def files() -> dict[str, bytes]:
    rng = random.Random(0)
    garbage = bytes(rng.randrange(256) for _ in range(2048)) + b"\x00\x00\x01"
    utf8 = {
        "empty.csv": "",
        "header_only.csv": "a,b,c\n",
        "header_and_blank_lines.csv": "a,b,c\n\n\n",
        "ragged_long_row.csv": lines("a,b,c", ["1,2,3", "4,5,6", "7,8,9", "1,2,3,4"] + ["1,2,3"] * 8),
        "ragged_short_row.csv": lines("a,b,c", ["1,2,3", "4,5,6", "7,8"] + ["1,2,3"] * 9),
        "ragged_after_quoted_newline.csv": lines("a,b", ['"two\nlines",1', "x,2", "y,3,4"] + ["z,5"] * 9),
        "unclosed_quote.csv": lines("a,b", ["x,1", '"never closed,2'] + ["y,3"] * 10),
        "duplicate_names.csv": lines("a,b,c,b", ["1,2,3,4"] * ROWS),
        "all_missing.csv": lines("a,b,c", ["NA,,?"] * ROWS),
        "one_usable_column.csv": lines("id,value,constant", [f"{i},{i * 1.5 + 0.25},7" for i in range(ROWS)]),
        "single_column.csv": lines("only", [str(i * 0.5) for i in range(ROWS)]),
        "five_rows.csv": lines("a,b", [f"{i * 1.5},{'yes' if i % 2 else 'no'}" for i in range(5)]),
        "semicolon_decimal_comma.csv": lines(";".join(MIXED_HEADER), mixed_rows(";", ",")),
        "tab_separated.tsv": lines("\t".join(MIXED_HEADER), mixed_rows("\t")),
        "crlf.csv": lines(",".join(MIXED_HEADER), mixed_rows(), newline="\r\n"),
        "cr_only_old_mac.csv": lines(",".join(MIXED_HEADER), mixed_rows(), newline="\r"),
        "blank_lines.csv": lines(",".join(MIXED_HEADER), [r + "\n" for r in mixed_rows()]),
        "quoted_commas_newlines.csv": lines(
            "name,amount,note",
            [
                f'"Smith, J{i % 3}",{i * 3.5 + 1:.1f},'
                + ('"line one\nline two, with ""quotes"""' if i % 2 else '"a, b"')
                for i in range(ROWS)
            ],
        ),
        "numeric_column_names.csv": lines("1,2,3", [f"{i - 6.5},{i % 2},{'xyz'[i % 3]}" for i in range(ROWS)]),
        "question_mark_missing.csv": lines(
            "age,income",
            [
                f"{'?' if i == 3 else 20 + i * 7 % 12},{'?' if i % 4 == 0 else f'{1000 + i * 37.5:.1f}'}"
                for i in range(ROWS)
            ],
        ),
        "missing_markers.csv": lines(
            "x,y",
            [
                f"{m},{i % 2}"
                for i, m in enumerate(
                    ["NA", "N/A", "n/a", "NaN", "nan", "NULL", "null", "#N/A", "", "1.5", "2.25", "-3.5"]
                )
            ],
        ),
        "none_is_a_label.csv": lines(
            "garage,price", [f"{['None', 'single', 'double'][i % 3]},{100 + i * 7.5}" for i in range(ROWS)]
        ),
        "true_false.csv": lines("flag,score", [f"{'True' if i % 3 else 'False'},{i * 0.75 - 2}" for i in range(ROWS)]),
        # visits: 36 distinct whole numbers with gaps, not in row order (else a row index)
        "integer_valued_floats.csv": lines(
            "visits,code", [f"{float(i * 37 % 101)},{float(i % 4)}" for i in range(ROWS * 3)]
        ),
        "all_missing_column.csv": lines(
            "a,empty,b", [f"{i * 1.5 - 3},,{'yes' if i % 2 else 'no'}" for i in range(ROWS)]
        ),
        "id_and_constant.csv": lines(
            "rownames,customer,country,spend,churned",
            [f"{i + 1},cust-{i:04d},NL,{12.5 + i * 3.1:.2f},{'yes' if i % 4 == 0 else 'no'}" for i in range(ROWS)],
        ),
        "negative_reals.csv": lines(
            "temperature,delta", [f"{-10 + i * 1.7:.1f},{(-1) ** i * i * 0.3:.2f}" for i in range(ROWS)]
        ),
        "stray_words_in_numbers.csv": lines(
            "weight,height,group",
            [
                f"{'unknown' if i == 4 else f'{60 + i * 1.3:.1f}'},{150 + i * 2.2:.1f},{'ab'[i % 2]}"
                for i in range(ROWS * 2)
            ],
        ),
        "spaces_after_delimiter.csv": lines(
            "a, b, c", [f"{i * 1.1:.1f}, {'yes' if i % 2 else 'no'}, {'?' if i == 5 else i % 3}" for i in range(ROWS)]
        ),
        "quote_inside_field.csv": lines("height,weight", [f"{HEIGHTS[i % 2]},{60.5 + i}" for i in range(ROWS)]),
    }
    out = {name: text.encode("utf-8") for name, text in {**utf8, **awkward_values()}.items()}
    accents = lines("city,visits", [f"{['Zürich', 'Málaga', 'Besançon'][i % 3]},{i * 1.5 + 1}" for i in range(ROWS)])
    out["bom_utf8.csv"] = b"\xef\xbb\xbf" + lines(",".join(MIXED_HEADER), mixed_rows()).encode("utf-8")
    out["latin1_accents.csv"] = accents.encode("latin-1")
    out["cp1252_euro.csv"] = lines(
        "price,currency", [f"{i + 0.5},{'€' if i % 2 else '£'}" for i in range(ROWS)]
    ).encode("cp1252")
    out["utf16_excel_export.csv"] = lines("\t".join(MIXED_HEADER), mixed_rows("\t")).encode("utf-16")
    out["binary_garbage.csv"] = garbage
    out["excel_workbook_renamed.csv"] = b"PK\x03\x04\x14\x00\x06\x00" + bytes(range(256))
    return out


def main() -> None:
    for name, content in files().items():
        (HERE / name).write_bytes(content)


if __name__ == "__main__":
    main()
