"""SDV's TVAE against ours on the bundled raw tables, on the same split.

    python bench/vs_tvae.py [--tables penguins,CPS1985,Housing,HI,cps1] [--epochs 100] [--seed 0]

Per table: the trained columns (our inferred schema; excluded columns left out for both), a
seeded 80/20 split into training and held-out rows. TVAE (``TVAESynthesizer``, its defaults
but ``epochs``) trains on the training rows in the separate venv ``.venv-bench`` (made here
once from requirements-bench.txt, with the system's torch; sdv needs a pandas the project
does not use), through ``bench/tvae_side.py``; ours (``TableModel``, method ``auto``, the
same epochs) trains in this environment on the same rows. Both then

- sample as many rows as the table has, scored against the held-out rows by
  ``core.quality`` (Column Shapes, Column Pair Trends) and, as a cross-check, by sdmetrics'
  QualityReport in the bench venv;
- reconstruct the held-out rows (posterior mean, decoded), scored by ``core.metrics``: the
  mean column error and the overlooked columns, against the training rows' mean or mode.
  A cell TVAE reconstructs as missing counts as that baseline guess;

and the fit time is the wall time of fitting alone, one torch thread each. Writes
``docs/results/vs_tvae.md`` and ``vs_tvae.json`` beside it; the CSVs go to ``runs/vs_tvae/``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from core import TableModel  # noqa: E402
from core.encoding import TableEncoder  # noqa: E402
from core.io import load_table  # noqa: E402
from core.metrics import mean_error, score_columns  # noqa: E402
from core.quality import quality  # noqa: E402
from core.samples import sample_path  # noqa: E402
from core.schema import ColumnType, Schema  # noqa: E402

TABLES = ("penguins", "CPS1985", "Housing", "HI", "cps1")
VENV = REPO / ".venv-bench"
VENV_PYTHON = VENV / "bin" / "python"
SIDE = REPO / "bench" / "tvae_side.py"
TRAIN_FRACTION = 0.8


def ensure_bench_venv() -> None:
    """The bench venv with sdv, made once; the project's environment is never touched."""
    if VENV_PYTHON.exists() and _venv_has_sdv():
        return
    print("creating .venv-bench (once) ...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(VENV)], check=True)
    subprocess.run(
        [str(VENV_PYTHON), "-m", "pip", "install", "-q", "-r", str(REPO / "requirements-bench.txt")], check=True
    )
    if not _venv_has_sdv():
        raise SystemExit("error: sdv did not install into .venv-bench")


def _venv_has_sdv() -> bool:
    probe = subprocess.run([str(VENV_PYTHON), "-c", "import sdv, sdmetrics"], capture_output=True)
    return probe.returncode == 0


def _side(*args: str) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    subprocess.run([str(VENV_PYTHON), str(SIDE), *args], check=True, env=env)


def run_table(name: str, epochs: int, seed: int, work: Path) -> dict:
    loaded = load_table(sample_path(name))
    schema = Schema(loaded.schema.features)
    columns = schema.features
    data = loaded.data[[c.name for c in columns]]
    order = np.random.default_rng(seed).permutation(len(data))
    n_train = round(TRAIN_FRACTION * len(data))
    train = data.iloc[np.sort(order[:n_train])].reset_index(drop=True)
    test = data.iloc[np.sort(order[n_train:])].reset_index(drop=True)
    folder = work / name
    folder.mkdir(parents=True, exist_ok=True)
    paths = {part: folder / f"{part}.csv" for part in ("train", "test")}
    train.to_csv(paths["train"], index=False)
    test.to_csv(paths["test"], index=False)
    sdtypes = {c.name: {"sdtype": "numerical" if c.type.is_numerical else "categorical"} for c in columns}
    metadata = {"METADATA_SPEC_VERSION": "V1", "tables": {"table": {"columns": sdtypes}}}
    (folder / "metadata.json").write_text(json.dumps(metadata))
    n_rows = len(data)

    print(f"{name}: TVAE ...", file=sys.stderr, flush=True)
    tvae_dir = folder / "tvae"
    common = ["--metadata", str(folder / "metadata.json")]
    _side(
        "tvae", "--train", str(paths["train"]), "--test", str(paths["test"]), *common,
        "--epochs", str(epochs), "--rows", str(n_rows), "--seed", str(seed), "--out", str(tvae_dir),
    )  # fmt: skip
    tvae = {
        "samples": pd.read_csv(tvae_dir / "samples.csv"),
        "reconstruction": pd.read_csv(tvae_dir / "reconstruction.csv"),
        "fit_seconds": json.loads((tvae_dir / "timing.json").read_text())["fit_seconds"],
    }

    print(f"{name}: ours ...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    model = TableModel(epochs=epochs, seed=seed).fit(train, method="auto", schema=schema)
    ours = {
        "fit_seconds": time.perf_counter() - started,
        "samples": model.sample(n_rows, seed=seed),
        "reconstruction": model.reconstruct(test),
    }
    prior_samples = model.sample(n_rows, seed=seed, sampler="prior")
    ours["samples"].to_csv(folder / "ours_samples.csv", index=False)
    prior_samples.to_csv(folder / "ours_prior_samples.csv", index=False)

    encoder = TableEncoder(schema).fit(train)
    row: dict = {"table": name, "rows": len(data), "columns": len(columns), "method": model.method}
    row["race_margin"] = (model.race or {}).get("margin")
    for who, result in (("tvae", tvae), ("ours", ours)):
        q = quality(test, result["samples"], columns)
        scores = _reconstruction_scores(encoder, test, result["reconstruction"])
        row[who] = {
            "column_shapes": q.column_shapes,
            "pair_trends": q.pair_trends,
            "reconstruction_error": mean_error(scores),
            "overlooked": [s.name for s in scores if s.overlooked],
            "fit_seconds": result["fit_seconds"],
        }
    row["ours"]["prior_column_shapes"] = quality(test, prior_samples, columns).column_shapes
    row["ours"]["prior_pair_trends"] = quality(test, prior_samples, columns).pair_trends

    report = folder / "sdmetrics.json"
    synthetic = [str(tvae_dir / "samples.csv"), str(folder / "ours_samples.csv")]
    _side("report", "--real", str(paths["test"]), *common, "--synthetic", *synthetic, "--out", str(report))
    cross = json.loads(report.read_text())
    row["tvae"]["sdmetrics"], row["ours"]["sdmetrics"] = cross[synthetic[0]], cross[synthetic[1]]
    return row


def _reconstruction_scores(encoder: TableEncoder, truth: pd.DataFrame, rebuilt: pd.DataFrame) -> list:
    """Per-column errors of ``rebuilt`` on ``truth``'s observed cells; a missing rebuilt cell
    counts as the training baseline, a count or positive value is put back into its type's range."""
    rebuilt = rebuilt.copy()
    for column in encoder.features:
        values = rebuilt[column.name]
        if column.type is ColumnType.COUNT:
            rebuilt[column.name] = pd.to_numeric(values).round().clip(lower=0)
        elif column.type is ColumnType.POSITIVE:
            rebuilt[column.name] = pd.to_numeric(values).clip(lower=0)
    true_encoded, rebuilt_encoded = encoder.transform(truth), encoder.transform(rebuilt)
    baseline = encoder.baseline_targets()
    predictions = torch.where(rebuilt_encoded.mask, rebuilt_encoded.targets, baseline)
    return score_columns(encoder.features, true_encoded.targets, predictions, true_encoded.mask, baseline)


def markdown(rows: list[dict], epochs: int, seed: int) -> str:
    def pair(row: dict, key: str, fmt: str = ".3f") -> str:
        a, b = row["tvae"][key], row["ours"][key]
        return f"{a:{fmt}} / {b:{fmt}}"

    lines = [
        "# SDV's TVAE against ours",
        "",
        f"`python bench/vs_tvae.py --epochs {epochs} --seed {seed}`: {epochs} epochs each, one torch thread each, "
        f"seed {seed}, the same seeded 80/20 split of each bundled raw table. Each cell is TVAE / ours. "
        "Column Shapes and Column Pair Trends: synthetic rows (as many as the table has) against the held-out 20 % "
        "(`core.quality`; higher is better). Reconstruction: mean column error of the held-out rows rebuilt from "
        "their posterior mean (`core.metrics`; lower is better), and the columns no better than the training "
        "mean or mode (overlooked). Ours: `TableModel(epochs).fit(train, method='auto')` (race included in the fit "
        "time), sampling from the posterior mixture; the prior column shows our rows drawn from the prior instead.",
        "",
        "| table | rows x columns | Column Shapes | Pair Trends | reconstruction error | overlooked | fit s "
        "| ours: method (race margin) | ours, prior sampler: Shapes / Trends |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        overlooked = f"{len(row['tvae']['overlooked'])} / {len(row['ours']['overlooked'])}"
        margin = "" if row["race_margin"] is None else f" ({row['race_margin']:.3f})"
        prior = f"{row['ours']['prior_column_shapes']:.3f} / {row['ours']['prior_pair_trends']:.3f}"
        lines.append(
            f"| {row['table']} | {row['rows']} x {row['columns']} | {pair(row, 'column_shapes')} "
            f"| {pair(row, 'pair_trends')} | {pair(row, 'reconstruction_error')} | {overlooked} "
            f"| {pair(row, 'fit_seconds', '.0f')} | {row['method']}{margin} | {prior} |"
        )
    lines += [
        "",
        "Cross-check with sdmetrics' QualityReport (0.32, in the bench venv), TVAE / ours. Column Shapes agree "
        "with `core.quality`; for Pair Trends sdmetrics bins each table's numerical columns on that table's own "
        "range, `core.quality` both on the real rows' range.",
        "",
        "| table | Column Shapes | Column Pair Trends |",
        "|---|---|---|",
    ]
    for row in rows:
        t, o = row["tvae"]["sdmetrics"], row["ours"]["sdmetrics"]
        lines.append(
            f"| {row['table']} | {t['column_shapes']:.3f} / {o['column_shapes']:.3f} "
            f"| {t['pair_trends']:.3f} / {o['pair_trends']:.3f} |"
        )
    lines += ["", "Overlooked columns per table (TVAE; ours):", ""]
    for row in rows:
        lines.append(
            f"- {row['table']}: {', '.join(row['tvae']['overlooked']) or 'none'}; "
            f"{', '.join(row['ours']['overlooked']) or 'none'}"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", default=",".join(TABLES))
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "vs_tvae")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "results" / "vs_tvae.md")
    args = parser.parse_args()
    torch.set_num_threads(1)
    ensure_bench_venv()
    rows = []
    for name in args.tables.split(","):
        rows.append(run_table(name.strip(), args.epochs, args.seed, args.work))
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.with_suffix(".json").write_text(json.dumps(rows, indent=2, default=float))
        args.out.write_text(markdown(rows, args.epochs, args.seed))
    print(args.out.read_text())


if __name__ == "__main__":
    main()
