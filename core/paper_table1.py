"""The paper's Table 1 as facts: its data sets, its published cells, its candidate
methods and its training settings per model and data set.

Table 1 of "Boosting heterogeneous VAEs via multi-objective optimization" (Javaloy,
Meghdadi, Valera, 2021) gives, per model and data set, the test reconstruction error
(the mean over columns of range-normalised RMSE for numerical columns and error rate
for nominal ones; ordinals scored by class shift as HI-VAE does), median of 5 seeds, of
plain training and of the best multi-objective method.
"""

from __future__ import annotations

from core.samples import SAMPLE_DIR

MODELS = ("vae", "iwae", "dreg", "hivae")
MODEL_LABELS = {"vae": "VAE", "iwae": "IWAE", "dreg": "DReG", "hivae": "HI-VAE"}


# In the paper's column order.
DATASETS = ("Adult", "defaultCredit", "Wine", "diamonds", "bank", "IMDB", "HI", "rwm5yr", "labour")
# Where each bundled one lies inside sample_data/: the HI-VAE folders with their declared
# types, and CSV files typed by inference ("labour" is the cps1 table).
BUNDLED = {
    "Adult": "Adult",
    "defaultCredit": "defaultCredit",  # the paper's "Credit"
    "Wine": "Wine",
    "diamonds": "diamonds",
    "bank": "bank",
    "HI": "HI.csv",
    "rwm5yr": "rwm5yr.csv",
    "labour": "cps1.csv",
}
NOT_BUNDLED = {"IMDB": "not available here: the paper's IMDB table is not bundled"}

PLAIN, MULTI_OBJECTIVE = "plain", "multi-objective"
# The published cells, as the paper prints them (columns in the order of DATASETS).
_PUBLISHED = """
vae   plain            0.21 0.12 0.08 0.18 0.19 0.08 0.17 0.10 0.10
vae   multi-objective  0.09 0.04 0.07 0.13 0.05 0.04 0.03 0.02 0.06
iwae  plain            0.22 0.13 0.07 0.18 0.21 0.09 0.15 0.09 0.09
iwae  multi-objective  0.12 0.05 0.06 0.12 0.17 0.03 0.04 0.02 0.06
dreg  plain            0.23 0.13 0.07 0.17 0.20 0.08 0.15 0.09 0.09
dreg  multi-objective  0.16 0.07 0.06 0.13 0.17 0.04 0.04 0.02 0.07
hivae plain            0.12 0.10 0.12 0.11 0.11 0.07 0.10 0.04 0.10
hivae multi-objective  0.08 0.06 0.11 0.01 0.10 0.05 0.12 0.02 0.06
"""
PAPER_CELLS: dict[tuple[str, str, str], float] = {
    (model, dataset, training): float(value)
    for model, training, *values in (line.split() for line in _PUBLISHED.strip().splitlines())
    for dataset, value in zip(DATASETS, values, strict=True)
}

# The paper's grid {none, GradNorm, MGDA-UB, IMTL-G} x {none, GradDrop, PCGrad} (none x none
# is plain training), then four newer methods.
PAPER_GRID = tuple(
    p if w == "none" else (w if p == "none" else f"{w}+{p}")
    for w in ("none", "gradnorm", "mgda-ub", "imtl-g")
    for p in ("none", "graddrop", "pcgrad")
)
CANDIDATES = (*PAPER_GRID, "nash-mtl", "aligned-mtl", "upgrad", "cagrad")

# HI-VAE's own sizes in the paper: z and s of size 10, y of 5 per column; a batch of 1000.
_HIVAE_SIZES = {"latent": 10, "mixture_components": 10, "y_per_column": 5, "batch_size": 1000}


def paper_settings(model: str, dataset: str) -> dict:
    """The paper's training settings for one cell: ``epochs`` and TrainConfig fields."""
    settings: dict = {"epochs": 400, "lr": 1e-3, "batch_size": 128, "hidden": 50, "layers": 3}
    if model in ("iwae", "dreg"):
        settings["importance_samples"] = 20
    if model == "hivae":
        settings.update(_HIVAE_SIZES, epochs=2000)
    if dataset == "Wine":
        settings["epochs"] = 2000
    if dataset == "bank":
        settings["hidden"] = 100
    return settings


def dataset_path(dataset: str) -> str:
    """Where a bundled Table 1 data set lies (a HI-VAE folder or a CSV file)."""
    return str(SAMPLE_DIR / BUNDLED[dataset])
