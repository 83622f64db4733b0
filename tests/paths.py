"""Where things are, for every test folder."""

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
APP = str(REPO / "dashboard" / "app.py")
SAMPLES = REPO / "sample_data"
CORPUS = REPO / "tests" / "core" / "csv_corpus"
SCREENSHOTS = REPO / "screenshots"
