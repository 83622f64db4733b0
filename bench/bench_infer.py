"""Time and memory of reading a large mixed-type CSV and inferring its schema.

Writes a 1,000,000-row x 30-column CSV (real, positive, count, text categories,
yes/no, integer codes; 2 % missing) into a temporary folder, then runs
``read_csv`` + ``infer_schema`` in a fresh Python process, so that neither the
generator's memory nor its imports count, and prints the wall time of that part
and the process's peak resident memory. Targets: < 10 s and < 2 GB.

    python3 bench/bench_infer.py [--rows N]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 10.0
TARGET_BYTES = 2 * 1024**3
N_COLUMNS_PER_KIND = 5

_MEASURE = """
import json, resource, sys, time
from core.io import read_csv
from core.inference import infer_schema
start = time.perf_counter()
frame = read_csv(sys.argv[1])
schema = infer_schema(frame)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "rows": len(frame), "types": sorted({c.type.value for c in schema.features})}))
"""


def write_mixed_csv(path: Path, n_rows: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    labels = np.array(["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"])
    columns = {}
    for i in range(N_COLUMNS_PER_KIND):
        columns[f"real{i}"] = np.round(rng.normal(0.0, 10.0, n_rows), 3)
        columns[f"positive{i}"] = np.round(rng.lognormal(1.0, 1.0, n_rows), 3) + 0.001
        columns[f"count{i}"] = rng.poisson(rng.gamma(2.0, 20.0, n_rows)).astype(float)
        columns[f"category{i}"] = labels[rng.integers(0, len(labels), n_rows)].astype(object)
        columns[f"flag{i}"] = np.where(rng.random(n_rows) < 0.3, "yes", "no").astype(object)
        columns[f"code{i}"] = rng.integers(1, 6, n_rows).astype(float)
    frame = pd.DataFrame(columns)
    for name in frame.columns:
        frame.loc[rng.random(n_rows) < 0.02, name] = np.nan
    frame.to_csv(path, index=False, na_rep="NA")


def measure(path: Path) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(path), str(REPO)], capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "mixed.csv"
        start = time.perf_counter()
        write_mixed_csv(path, args.rows)
        size_mib = path.stat().st_size / 1024**2
        print(
            f"wrote {args.rows} rows x {6 * N_COLUMNS_PER_KIND} columns, {size_mib:.0f} MiB, "
            f"in {time.perf_counter() - start:.1f} s"
        )
        figures = measure(path)
    peak_bytes = figures["peak_kib"] * 1024
    print(f"read_csv + infer_schema: {figures['seconds']:.2f} s (target < {TARGET_SECONDS:.0f} s)")
    print(f"peak resident memory: {peak_bytes / 1024**3:.2f} GiB (target < {TARGET_BYTES / 1024**3:.0f} GiB)")
    print(f"types found: {', '.join(figures['types'])}")
    return 0 if figures["seconds"] < TARGET_SECONDS and peak_bytes < TARGET_BYTES else 1


if __name__ == "__main__":
    sys.exit(main())
