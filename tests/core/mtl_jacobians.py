"""Random K x d Jacobians (float64) for the multi-task method tests, by family.

Well-conditioned families: ``gaussian``, ``conflicting`` (rows mostly along one direction
with random signs, so many pairs conflict), ``scaled`` (row norms spread over a factor
~50), ``tiny_row`` (one row 1e-4 times the others). Singular families use small integers,
so the Gramian is computed exactly and its zero eigenvalues are exact as well, for us and
for TorchJD: ``rank_deficient`` (rank < K), ``duplicated`` (a repeated row), ``wide``
(K > d). ``zero_row`` is a column with nothing observed: an all-zero row.
"""

from __future__ import annotations

import numpy as np
import torch

WELL_CONDITIONED = ("gaussian", "conflicting", "scaled", "tiny_row")
SINGULAR = ("rank_deficient", "duplicated", "wide")
FAMILIES = WELL_CONDITIONED + SINGULAR + ("zero_row",)


def _integer_rows(rng: np.random.Generator, k: int, d: int) -> np.ndarray:
    rows = rng.integers(-3, 4, size=(k, d)).astype(np.float64)
    for i in range(k):
        while not rows[i].any():
            rows[i] = rng.integers(-3, 4, size=d)
    return rows


def jacobian(family: str, rng: np.random.Generator) -> torch.Tensor:
    k = int(rng.integers(2, 7))
    d = int(rng.integers(k + 1, 16))
    if family == "gaussian":
        rows = rng.standard_normal((k, d))
    elif family == "conflicting":
        base = rng.standard_normal(d)
        rows = rng.choice([-1.0, 1.0], size=(k, 1)) * rng.uniform(0.5, 2.0, size=(k, 1)) * base
        rows += 0.3 * rng.standard_normal((k, d))
    elif family == "scaled":
        rows = rng.standard_normal((k, d)) * np.exp(rng.uniform(-2, 2, size=(k, 1)))
    elif family == "tiny_row":
        rows = rng.standard_normal((k, d))
        rows[rng.integers(k)] *= 1e-4
    elif family == "rank_deficient":
        k = max(k, 3)
        rank = int(rng.integers(1, k))
        rows = _integer_rows(rng, k, rank) @ _integer_rows(rng, rank, d)
        while not rows.any(axis=1).all():
            rows = _integer_rows(rng, k, rank) @ _integer_rows(rng, rank, d)
    elif family == "duplicated":
        rows = _integer_rows(rng, k, d)
        rows = np.vstack([rows, rows[rng.integers(k)]])
    elif family == "wide":
        k = max(k, 4)
        rows = _integer_rows(rng, k, int(rng.integers(2, 4)))
    elif family == "zero_row":
        k = max(k, 3)
        rows = rng.standard_normal((k, d))
        rows[rng.integers(k)] = 0.0
    else:
        raise ValueError(family)
    return torch.from_numpy(rows)


def jacobians(families: tuple[str, ...], per_family: int, seed: int) -> list[tuple[str, torch.Tensor]]:
    """``per_family`` Jacobians of each family, reproducibly."""
    rng = np.random.default_rng(seed)
    return [(family, jacobian(family, rng)) for family in families for _ in range(per_family)]
