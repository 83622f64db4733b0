#!/usr/bin/env bash
# Installs the requirements, test tools and Debian's chromium, runs the static checks
# (scripts/check.sh: ruff, mypy), then every test. Any skipped test fails the run
# (tests/conftest.py), so nothing passes by being absent.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -m "not browser and not slow"`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
bash scripts/check.sh
exec "${PYTHON:-python3}" -m pytest -q "$@"
