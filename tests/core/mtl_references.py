"""Independent numpy references for the methods' documented treatment of nearly dependent rows.

Each works from the K x d rows themselves (numpy's SVD), never from our Gramian code, and
spells out the cut-off of ``core.mtl.linalg`` from its definition: a direction of the unit
rows whose singular value, relative to the largest, is at most 1e-3 is a dependence (cut),
one at least 1e-2 is kept, and between them a share 3t^2 - 2t^3 of it is kept, t the
position in log scale. Where a method divides by a kept direction's eigenvalue lambda it
divides by lambda^keep lambda_max^(1 - keep) instead (the "lifted" value).
"""

from __future__ import annotations

import numpy as np
import scipy.optimize
import torch

DEPENDENT_BELOW, INDEPENDENT_ABOVE = 1e-3, 1e-2


def keep_share(relative: np.ndarray) -> np.ndarray:
    position = np.clip(np.log10(np.maximum(relative, 1e-300) / DEPENDENT_BELOW), 0, 1)
    return np.where(relative > 0, position**2 * (3 - 2 * position), 0.0)


def lift(values: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """values^keep values.max()^(1 - keep) where keep > 0, inf elsewhere."""
    logs = keep * np.log(np.maximum(values, 1e-300)) + (1 - keep) * np.log(values.max())
    return np.where(keep > 0, np.exp(logs), np.inf)


def _active_rows(grads: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    rows = grads.numpy()
    active = np.linalg.norm(rows, axis=1) > 0
    return rows, active


def unit_singular_values(grads: torch.Tensor) -> np.ndarray:
    """Singular values of the unit nonzero rows relative to the largest (K' of them, zeros included)."""
    rows, active = _active_rows(grads)
    unit = rows[active] / np.linalg.norm(rows[active], axis=1, keepdims=True)
    values = np.zeros(len(unit))
    found = np.linalg.svd(unit, compute_uv=False)
    values[: len(found)] = found
    return values / values.max()


def in_the_ramp(grads: torch.Tensor) -> bool:
    """Whether the cut-off acts partly or on a nonzero direction (a near, not exact, dependence)."""
    values = unit_singular_values(grads)
    return bool(((values > 1e-12) & (values < INDEPENDENT_ABOVE)).any())


def imtl_g_direction(grads: torch.Tensor) -> torch.Tensor:
    """IMTL-G as documented: the least-squares solution of C a = 1 with C's dependences cut,
    reached in part when 1 is reached in part, weights a / norms normalised by |sum| (at
    least 1e-4 of sum |a / norms|)."""
    rows, active = _active_rows(grads)
    if not active.any():
        return torch.zeros(rows.shape[1], dtype=torch.float64)
    norms = np.linalg.norm(rows[active], axis=1)
    unit = rows[active] / norms[:, None]
    left, singular, _ = np.linalg.svd(unit, full_matrices=False)  # C = left diag(s^2) left^T
    keep = keep_share(singular / singular.max())
    inverse = keep / lift(singular**2, keep)
    coefficients = left @ (inverse * (left.T @ np.ones(len(norms))))
    projections = unit @ (unit.T @ coefficients)
    reached = keep_share(np.array([np.linalg.norm(projections) / np.sqrt(len(norms))]))[0]
    raw = coefficients / norms
    size = np.abs(raw).sum()
    weights = np.zeros(len(rows))
    if size > 0:
        weights[active] = reached * raw / max(abs(raw.sum()), 1e-4 * size)
    return torch.from_numpy(weights @ rows)


def aligned_mtl_direction(grads: torch.Tensor) -> torch.Tensor:
    """Aligned-MTL as documented, from the SVD of the rows G = W S V^T: each direction w
    kept by its share r = s^2 / |D w|^2 of the rows' sizes (relative to C's largest
    eigenvalue), singular values lifted, common scale the smallest lifted one, weights B 1/K."""
    rows, active = _active_rows(grads)
    k = len(rows)
    if not active.any():
        return torch.zeros(rows.shape[1], dtype=torch.float64)
    live = rows[active]
    norms = np.linalg.norm(live, axis=1)
    largest = np.linalg.svd(live / norms[:, None], compute_uv=False)[0] ** 2
    left, singular, _ = np.linalg.svd(live, full_matrices=False)
    left = np.hstack([left, np.zeros((len(live), len(live) - left.shape[1]))])
    singular = np.append(singular, np.zeros(len(live) - len(singular)))
    share = singular**2 / ((norms[:, None] * left) ** 2).sum(axis=0)
    keep = keep_share(np.sqrt(share / largest))
    kept = keep > 0
    lifted = lift(singular, keep)[kept]
    balance = lifted.min() * (left[:, kept] * (keep[kept] / lifted)) @ left[:, kept].T
    weights = np.zeros(k)
    weights[active] = balance @ np.full(len(live), 1.0 / k)
    return torch.from_numpy(weights @ rows)


def min_norm_by_slsqp(gramian: np.ndarray) -> float:
    """min w^T M w over the simplex, independently of our solver (scipy's SLSQP)."""
    k = len(gramian)
    found = scipy.optimize.minimize(
        lambda w: w @ gramian @ w,
        np.full(k, 1 / k),
        jac=lambda w: 2 * gramian @ w,
        bounds=[(0, 1)] * k,
        constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1}],
        method="SLSQP",
        options={"ftol": 1e-15, "maxiter": 500},
    )
    return float(found.fun)
