"""Random K x d Jacobians (float64) for the multi-task method tests, by family.

Well-conditioned families: ``gaussian``, ``conflicting`` (rows mostly along one direction
with random signs, so many pairs conflict), ``scaled`` (row norms spread over a factor
~50), ``tiny_row`` (one row 1e-4 times the others). Singular families use small integers,
so the Gramian is computed exactly and its zero eigenvalues are exact as well, for us and
for TorchJD: ``rank_deficient`` (rank < K), ``duplicated`` (a repeated row), ``wide``
(K > d). ``zero_row`` is a column with nothing observed: an all-zero row.

Near-singular families (``NEAR_SINGULAR``, see ``Approach``): one row replaced by a
multiple of another (``near_duplicate``: a positive multiple; ``near_opposite``: a negative
one) or by 0 (``near_zero``), plus a fixed random offset of relative size ``noise``,
1e-3 to 1e-8 (``NOISES``); noise 0 is the exact limit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

WELL_CONDITIONED = ("gaussian", "conflicting", "scaled", "tiny_row")
SINGULAR = ("rank_deficient", "duplicated", "wide")
FAMILIES = WELL_CONDITIONED + SINGULAR + ("zero_row",)
NEAR_SINGULAR = ("near_duplicate", "near_opposite", "near_zero")
NOISES = (1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8)


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


@dataclass
class Approach:
    """Gaussian rows where row ``target`` approaches ``multiple`` times row ``source``."""

    kind: str
    rows: np.ndarray
    source: int
    target: int
    multiple: float
    offset: np.ndarray  # a unit vector

    def at(self, noise: float) -> torch.Tensor:
        rows = self.rows.copy()
        size = np.linalg.norm(rows[self.source]) * (abs(self.multiple) if self.multiple else 1.0)
        rows[self.target] = self.multiple * rows[self.source] + noise * size * self.offset
        return torch.from_numpy(rows)


def approaches(kind: str, count: int, seed: int) -> list[Approach]:
    """``count`` reproducible approaches of the near-singular family ``kind``."""
    rng = np.random.default_rng(seed)
    result = []
    for _ in range(count):
        k = int(rng.integers(3, 7))
        d = int(rng.integers(k + 1, 16))
        source, target = (int(i) for i in rng.choice(k, size=2, replace=False))
        multiple = {"near_duplicate": 1.0, "near_opposite": -1.0, "near_zero": 0.0}[kind] * rng.uniform(0.5, 2.0)
        offset = rng.standard_normal(d)
        result.append(
            Approach(kind, rng.standard_normal((k, d)), source, target, multiple, offset / np.linalg.norm(offset))
        )
    return result


def near_singular(kinds: tuple[str, ...], per_kind: int, seed: int) -> list[tuple[str, float, torch.Tensor]]:
    """(kind, noise, rows) for ``per_kind`` approaches of each kind at every noise in NOISES."""
    return [
        (kind, noise, approach.at(noise))
        for kind in kinds
        for approach in approaches(kind, per_kind, seed)
        for noise in NOISES
    ]
