"""``python -m core``: the command line of ``core.cli``, the same as the ``overlook`` command."""

from __future__ import annotations

import sys

from core.cli import main

sys.exit(main(prog="python -m core"))
