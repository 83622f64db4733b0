"""The sample tables shipped in ``sample_data/``: name -> location and a line about it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.errors import DataError

SAMPLE_DIR = Path(__file__).resolve().parent.parent / "sample_data"


@dataclass(frozen=True)
class Sample:
    name: str
    relative_path: str  # inside SAMPLE_DIR: a HI-VAE folder or a CSV file
    description: str

    @property
    def path(self) -> Path:
        return SAMPLE_DIR / self.relative_path


SAMPLES: dict[str, Sample] = {
    s.name: s
    for s in (
        Sample("Adult", "Adult", "census income, coded (HI-VAE folder, with really-missing cells)"),
        Sample("Wine", "Wine", "wine quality, mostly positive measurements (HI-VAE folder)"),
        Sample("defaultCredit", "defaultCredit", "credit card default, coded (HI-VAE folder)"),
        Sample("bank", "bank", "bank marketing calls, coded (HI-VAE folder)"),
        Sample("HI", "HI.csv", "health insurance and hours worked (CSV, yes/no and text columns)"),
        Sample("rwm5yr", "rwm5yr.csv", "German health registry, doctor visits (CSV, counts)"),
        Sample("cps1", "cps1.csv", "labour-market survey (CSV, 0/1 flags and earnings)"),
        Sample("diamonds", "diamonds.csv", "diamond prices with text grades (CSV)"),
        Sample("penguins", "penguins.csv", "Palmer penguins, small, with missing values (CSV)"),
        Sample("CPS1985", "CPS1985.csv", "wages and demographics, small (CSV)"),
        Sample("Housing", "Housing.csv", "house prices with yes/no amenities, small (CSV)"),
    )
}


def sample_path(name: str) -> Path:
    """Where sample ``name`` lies; DataError naming the known samples if there is none."""
    try:
        return SAMPLES[name].path
    except KeyError:
        raise DataError(f"no sample named {name!r} (known: {', '.join(SAMPLES)})") from None
