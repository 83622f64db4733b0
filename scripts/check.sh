#!/usr/bin/env bash
# Static checks: ruff (lint and format) over the whole tree, mypy over core/ (pyproject.toml).
# Any finding fails.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
$PY -m ruff check .
$PY -m ruff format --check .
$PY -m mypy
