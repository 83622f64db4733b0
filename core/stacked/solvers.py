"""The iterative solvers of ``core.mtl`` for R runs' Gramians at once (numpy, R x K x K).

Each takes every run through the iterations the single solver takes it through, in
lockstep: a run stops at its own test and the others go on. Products go through
``np.matmul`` on the stacked arrays, which forms each run's product with the call
the single solver makes (``M @ w`` and ``u @ v`` of one run), and every other operation
is elementwise and correctly rounded, as the single solver's Python floats are: so each
run's weights are bit for bit the single solver's (the equality tests check it), for the
price of about one run's iterations instead of R.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg

from core.mtl.cagrad import _CANCELLATION_RTOL, _GAP_RTOL, _VANISHED_RTOL, _gram_root
from core.mtl.mgda import min_norm_weights


def _products(matrices: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """matrices[i] @ vectors[i] for each i (n x K x K, n x K)."""
    return np.matmul(matrices, vectors[:, :, None])[:, :, 0]


def _dots(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """left[i] @ right[i] for each i (n x K, n x K)."""
    return np.matmul(left[:, None, :], right[:, :, None])[:, 0, 0]


def cagrad_weights_of_runs(gramians: np.ndarray, cs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``cagrad.cagrad_weights`` of each Gramian (R x K x K, no zero rows) with its run's c
    (R,): the weights and whether each run's dual solver met its stopping test."""
    runs, k = gramians.shape[:2]
    mean_inner = gramians.mean(axis=2)  # g_k . g0
    g0_sq = mean_inner.mean(axis=1)
    radius = cs * np.sqrt(np.maximum(g0_sq, 0.0))
    uniform = np.full(k, 1.0 / k)
    weights = np.tile(uniform, (runs, 1))
    converged = np.ones(runs, dtype=bool)
    live = np.flatnonzero(radius != 0)  # a zero radius keeps the centre
    if live.size == 0:
        return weights, converged
    roots = np.stack([_gram_root(gramian) for gramian in gramians])
    norms = np.sqrt(np.diagonal(gramians, axis1=1, axis2=2))
    tolerance = _GAP_RTOL * g0_sq

    def squared_size(w: np.ndarray, along: np.ndarray, runs: np.ndarray) -> np.ndarray:
        quadratic = _dots(w, along)
        cancelled = np.flatnonzero(~(quadratic > _CANCELLATION_RTOL * _dots(norms[runs], w) ** 2))
        if cancelled.size:
            current = _products(roots[runs[cancelled]], w[cancelled])
            quadratic[cancelled] = _dots(current, current)
        return quadratic

    # pairwise Frank-Wolfe from the uniform weights (``simplex.pairwise_frank_wolfe``), on the
    # live runs' arrays, gathered again only when some run stops
    w, m, inner, size, gap = weights[live], gramians[live], mean_inner[live], radius[live], tolerance[live]
    # a division by a zero size or p is taken where its result is not used
    with np.errstate(divide="ignore", invalid="ignore"):
        for _ in range(100 * k + 1000):
            if live.size == 0:
                break
            rows = np.arange(live.size)
            along = _products(m, w)
            squared = squared_size(w, along, live)
            scale = size / np.sqrt(squared)
            grad = np.where((squared > 0)[:, None], inner + scale[:, None] * along, inner)
            toward = np.argmin(grad, axis=1)
            gapped = _dots(grad, w) - grad[rows, toward] <= gap
            away = np.argmax(np.where(w > 0, grad, -np.inf), axis=1)
            limit = w[rows, away]
            # the exact line search along the pair (``cagrad_weights``'s step), same along and r
            slope = inner[rows, toward] - inner[rows, away]
            p = m[rows, toward, toward] + m[rows, away, away] - 2 * m[rows, toward, away]
            h = along[rows, toward] - along[rows, away]
            ratio = -slope / (size * np.sqrt(p))
            disc = np.maximum(p * squared - h * h, 0.0)
            u = ratio * np.sqrt(disc / (1 - ratio * ratio))
            stationary = np.minimum(np.maximum((u - h) / p, 0.0), limit)
            candidates = np.stack([np.zeros(live.size), limit, stationary], axis=1)
            quadratic = p[:, None] * candidates * candidates + 2 * h[:, None] * candidates + squared[:, None]
            values = slope[:, None] * candidates + size[:, None] * np.sqrt(np.maximum(quadratic, 0.0))
            values[:, 2] = np.where((p > 0) & (size > 0) & (np.abs(ratio) < 1), values[:, 2], np.inf)
            gamma = candidates[rows, np.argmin(values, axis=1)]
            stopped = gapped | (gamma <= 0)
            moving = np.flatnonzero(~stopped)
            t, a, g = toward[moving], away[moving], gamma[moving]
            w[moving, t] += g
            w[moving, a] = np.where(g >= limit[moving], 0.0, w[moving, a] - g)
            if stopped.any():
                weights[live[stopped]] = w[stopped]
                live, w, m, inner, size, gap = (
                    live[moving],
                    w[moving],
                    m[moving],
                    inner[moving],
                    size[moving],
                    gap[moving],
                )
    weights[live] = w
    converged[live] = False
    solved = np.flatnonzero(radius != 0)
    w = weights[solved]
    sizes = np.sqrt(squared_size(w, _products(gramians[solved], w), solved))
    # A g_w at the rounding floor of its own terms has vanished: its direction is noise.
    vanished = sizes <= _VANISHED_RTOL * _dots(norms[solved], w)
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled = uniform + (radius[solved] / sizes)[:, None] * w
    weights[solved] = np.where(vanished[:, None], uniform, scaled)
    return weights, converged


def min_norm_weights_of_runs(gramians: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``mgda.min_norm_weights`` of each Gramian (R x K x K, no zero rows), and whether each
    run's active set met its optimality test.

    Wolfe's active set starts from every column, and its first affine minimiser is the
    answer when all its coefficients are positive (with every column in the support no
    column can enter): the usual case in training (1.04 solves a call on Adult). That
    first solve is made for all runs at once (``affine_minimiser``'s operations with a
    run axis; scipy's batched solve solves each run's system as it solves it alone); a
    run with a coefficient at or below 0, or a batch that any system leaves ill-posed,
    goes on through the single function."""
    runs, k = gramians.shape[:2]
    if k == 1:
        return np.ones((runs, 1)), np.ones(runs, dtype=bool)
    index = np.arange(runs)
    base = np.argmin(np.diagonal(gramians, axis1=1, axis2=2), axis=1)
    others = np.stack([np.delete(np.arange(k), b) for b in base])  # R x (K - 1)
    along = gramians[index[:, None], others, base[:, None]]  # g_i . g_b
    corner = gramians[index, base, base]
    differences = (
        gramians[index[:, None, None], others[:, :, None], others[:, None, :]]
        - along[:, :, None]
        - along[:, None, :]
        + corner[:, None, None]
    )
    scales = np.sqrt(np.maximum(np.diagonal(differences, axis1=1, axis2=2), 0.0))
    scales = np.where(scales > 0, scales, 1.0)
    system = differences / scales[:, :, None] / scales[:, None, :]
    target = (corner[:, None] - along) / scales
    weights = np.empty((runs, k))
    converged = np.ones(runs, dtype=bool)
    with warnings.catch_warnings():
        warnings.simplefilter("error", scipy.linalg.LinAlgWarning)
        try:
            steps = scipy.linalg.solve(system, target[:, :, None], assume_a="sym")[:, :, 0]
        except (np.linalg.LinAlgError, scipy.linalg.LinAlgWarning):
            steps = None  # some run's system is singular: every run takes the single path
    whole: np.ndarray = np.zeros(runs, dtype=bool)
    if steps is not None:
        coefficients = np.empty((runs, k))
        shares = steps / scales
        coefficients[index[:, None], others] = shares
        coefficients[index, base] = 1.0 - shares.sum(axis=1)
        whole = np.asarray((coefficients > 0).all(axis=1))
        weights[whole] = coefficients[whole] / coefficients[whole].sum(axis=1, keepdims=True)
    for r in np.flatnonzero(~whole):
        weights[r], converged[r] = min_norm_weights(gramians[r])
    return weights, converged
