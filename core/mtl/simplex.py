"""Pairwise Frank-Wolfe: minimise a convex function of the weights over the probability simplex
(CAGrad's dual problem).

Plain Frank-Wolfe (as in MGDA's published solver) converges as 1/t and never drops a
column once it has weight. The pairwise variant (Lacoste-Julien & Jaggi, NeurIPS 2015)
moves weight from the worst column in the support (the "away" vertex) to the best one,
which can zero a weight and converges linearly on a polytope. The simplex has only K
vertices, so each step costs O(K) plus the caller's gradient (O(K^2) from the Gramian).
Runs in numpy: the loop is sequential and small, where torch's per-call cost dominates.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def pairwise_frank_wolfe(
    start: np.ndarray,
    gradient: Callable[[np.ndarray], np.ndarray],
    step: Callable[[np.ndarray, np.ndarray, int, int, float], float],
    tolerance: Callable[[np.ndarray, np.ndarray], float],
    max_iterations: int,
) -> tuple[np.ndarray, bool]:
    """Weights on the simplex minimising f, starting from ``start``, and whether the
    stopping test was met (False: ``max_iterations`` ran out first).

    gradient(w): the gradient of f at w. step(w, grad, s, a, limit): the gamma in
    [0, limit] minimising f(w + gamma (e_s - e_a)). Stops when the Frank-Wolfe duality gap
    grad . (w - e_s), an upper bound on f(w) - min f, is at most tolerance(w, grad), or
    when the best pair offers no descent (rounding has the last word: that is converged).
    """
    weights = start.astype(np.float64)
    for _ in range(max_iterations):
        grad = gradient(weights)
        toward = int(np.argmin(grad))
        if grad @ weights - grad[toward] <= tolerance(weights, grad):
            return weights, True
        support = np.flatnonzero(weights > 0)
        away = int(support[np.argmax(grad[support])])
        limit = float(weights[away])
        gamma = step(weights, grad, toward, away, limit)
        if gamma <= 0:
            return weights, True
        weights[toward] += gamma
        weights[away] = 0.0 if gamma >= limit else weights[away] - gamma
    return weights, False
