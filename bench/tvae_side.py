"""SDV's side of ``bench/vs_tvae.py``; runs in the bench's own venv (``.venv-bench``), never in the
project's environment, and exchanges only CSV and JSON files with it.

    python bench/tvae_side.py tvae   --train T.csv --test H.csv --metadata M.json --epochs E --rows N --seed S --out DIR
    python bench/tvae_side.py report --real H.csv --metadata M.json --synthetic A.csv [B.csv ...] --out R.json

``tvae`` fits a ``TVAESynthesizer`` on T.csv and writes DIR/samples.csv (N rows),
DIR/reconstruction.csv (each row of H.csv encoded to its posterior mean and decoded, the
analogue of our reconstruction) and DIR/timing.json (fit seconds). ``report`` writes the
Column Shapes and Column Pair Trends of sdmetrics' QualityReport for each synthetic CSV.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

TABLE = "table"  # the one table's name in the metadata


def _metadata(path: str):
    from sdv.metadata import Metadata

    return Metadata.load_from_dict(json.loads(Path(path).read_text()))


def run_tvae(args: argparse.Namespace) -> None:
    import ctgan.synthesizers.tvae as tvae_module
    from sdv.single_table import TVAESynthesizer

    # TVAE keeps its decoder but drops its encoder after fitting; recording the instance
    # it builds lets the bench reconstruct held-out rows the way a VAE does.
    encoders: list[torch.nn.Module] = []

    build = tvae_module.Encoder.__init__

    def build_and_record(self, *args, **kwargs):  # wraps __init__: the class refers to itself by name
        build(self, *args, **kwargs)
        encoders.append(self)

    tvae_module.Encoder.__init__ = build_and_record
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    train, test = pd.read_csv(args.train), pd.read_csv(args.test)
    synthesizer = TVAESynthesizer(_metadata(args.metadata), epochs=args.epochs, enable_gpu=False)
    started = time.perf_counter()
    synthesizer.fit({TABLE: train})
    fit_seconds = time.perf_counter() - started
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    synthesizer._model.set_random_state(args.seed)
    synthesizer.sample(args.rows)[TABLE].to_csv(out / "samples.csv", index=False)
    _reconstruct(synthesizer, encoders[-1], test).to_csv(out / "reconstruction.csv", index=False)
    (out / "timing.json").write_text(json.dumps({"fit_seconds": fit_seconds}))


@torch.no_grad()
def _reconstruct(synthesizer, encoder: torch.nn.Module, test: pd.DataFrame) -> pd.DataFrame:
    model = synthesizer._model
    processed = synthesizer._data_processor.transform(test)
    encoded = torch.from_numpy(model.transformer.transform(processed).astype("float32"))
    encoder.eval()
    model.decoder.eval()
    mu, _, _ = encoder(encoded)
    decoded, sigmas = model.decoder(mu)
    raw = model.transformer.inverse_transform(torch.tanh(decoded).numpy(), sigmas.numpy())
    return synthesizer._data_processor.reverse_transform(raw).reset_index(drop=True)


def run_report(args: argparse.Namespace) -> None:
    import warnings

    with warnings.catch_warnings():  # sdmetrics 0.32 calls this import deprecated, but its successor is multi-table
        warnings.simplefilter("ignore", FutureWarning)
        from sdmetrics.reports.single_table import QualityReport

    real = pd.read_csv(args.real)
    metadata = json.loads(Path(args.metadata).read_text())["tables"][TABLE]
    scores = {}
    for path in args.synthetic:
        report = QualityReport()
        report.generate(real, pd.read_csv(path), metadata, verbose=False)
        properties = report.get_properties().set_index("Property")["Score"]
        scores[path] = {
            "column_shapes": float(properties["Column Shapes"]),
            "pair_trends": float(properties["Column Pair Trends"]),
        }
    Path(args.out).write_text(json.dumps(scores, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    tvae = commands.add_parser("tvae")
    for name in ("--train", "--test", "--metadata", "--out"):
        tvae.add_argument(name, required=True)
    for name in ("--epochs", "--rows", "--seed"):
        tvae.add_argument(name, type=int, required=True)
    report = commands.add_parser("report")
    for name in ("--real", "--metadata", "--out"):
        report.add_argument(name, required=True)
    report.add_argument("--synthetic", nargs="+", required=True)
    args = parser.parse_args()
    (run_tvae if args.command == "tvae" else run_report)(args)


if __name__ == "__main__":
    main()
