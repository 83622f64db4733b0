"""``python -m core sample`` and ``python -m core impute``: use a saved model bundle from the
command line. Bad input (a folder that is not a bundle, a table lacking a trained column,
fewer than 1 row) is a DataError, which the command line turns into one ``error:`` line."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from core.api import TableModel
from core.cli_types import positive_int
from core.io import read_csv
from core.samplers import SAMPLERS


def add_sample_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, metavar="DIR", help="a model bundle (python -m core train --out)")
    parser.add_argument("--rows", required=True, type=positive_int, metavar="N", help="how many rows to draw")
    parser.add_argument("--out", required=True, metavar="FILE.csv", help="where the synthetic rows go")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sampler", choices=SAMPLERS, default=None, help="default: the one the bundle names")


def run_sample(args: argparse.Namespace) -> int:
    model = TableModel.load(args.model)
    rows = model.sample(args.rows, seed=args.seed, sampler=args.sampler)
    _write(rows, args.out)
    print(f"{len(rows)} synthetic rows of {rows.shape[1]} columns written to {args.out}")
    return 0


def add_impute_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, metavar="DIR", help="a model bundle (python -m core train --out)")
    parser.add_argument("--data", required=True, metavar="FILE.csv", help="a table holding the trained columns")
    parser.add_argument("--out", required=True, metavar="FILLED.csv", help="where the filled table goes")


def run_impute(args: argparse.Namespace) -> int:
    model = TableModel.load(args.model)
    table = read_csv(args.data)
    trained = [c.name for c in model.schema.features]
    gaps = int(table[[n for n in trained if n in table.columns]].isna().to_numpy().sum())
    filled = model.impute(table)
    _write(filled, args.out)
    print(f"{gaps} missing cells of the trained columns filled; written to {args.out}")
    return 0


def _write(table: pd.DataFrame, out: str) -> None:
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, index=False)
