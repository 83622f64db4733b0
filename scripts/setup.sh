#!/usr/bin/env bash
# Installs what the project needs on a fresh machine (idempotent): the pinned, tested set of
# requirements*.txt, then the project itself in editable mode (the `overlook` command).
# Usage: bash scripts/setup.sh [dev]   -- "dev" adds the test and check tools and Debian's chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ "${1:-}" = "dev" ]; then
  $PY -m pip install -q -r requirements-dev.txt
  if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q chromium
  fi
else
  $PY -m pip install -q -r requirements.txt
fi
# --no-deps: the dependencies are the pinned ones just installed, not pyproject's ranges
$PY -m pip install -q --no-deps -e .
