"""Nash-MTL (Navon et al., "Multi-Task Learning as a Bargaining Game", ICML 2022): weights
a > 0 with a_i (M a)_i = 1 for every column, the Nash bargaining solution.

Those equations say M a = 1 / a, the stationarity condition of the strictly convex

    f(a) = a^T M a / 2 - sum_i log a_i,

so we minimise f with Newton's method (no cvxpy): f is self-concordant, so the damped
step 1 / (1 + lambda) (lambda the Newton decrement) stays feasible and converges, with
full steps once lambda < 1/4. The solution is scale-equivariant per column (scaling g_i
by s divides a_i by s, leaving the direction unchanged), so we solve on the cosine matrix
C = D^-1 M D^-1 (D the norms) and return a = b / norms: the conditioning then depends on
the angles only. When some convex combination of the gradients is 0 (say, two exactly
opposite columns) f is unbounded below and the equations have no solution: the weights
then grow with every iteration along that combination, which adds nothing to the
direction, and ``iterations`` bounds the growth. The previous solution is the next call's
starting point (the paper's warm start); ``iterations`` caps the Newton steps per call.
Columns with a zero gradient are left out (their equation cannot hold). Unlike the
published code, the norm of the result is not clipped: the caller rescales it. When the
Newton steps of a call run out before the decrement is below its tolerance (typically
because 0 is nearly in the hull), ``Combination.converged`` is False.

Nearly dependent and nearly zero rows. On the cosine matrix the equations are scale-free:
a nearly zero row is a column like any other until it is exactly zero, and a near copy
changes the solution continuously (the two share what one column would get). Nearly
opposite columns bring 0 close to the hull: the solution's weights grow as 1 / their
difference and, at exact opposition, there is no solution at all -- the definition jumps.
"""

from __future__ import annotations

import torch
from torch import Tensor

from core.mtl.base import Method, check_task_count
from core.mtl.combination import Combination
from core.mtl.options import option_int
from core.mtl.system import GradientSystem

# Stop when the Newton decrement^2 / 2 (the predicted decrease of f) is below this.
DECREMENT_TOL = 1e-20
# Quadratic convergence region of a self-concordant function: take full steps.
FULL_STEP_DECREMENT = 0.25


def bargaining_weights(cosines: Tensor, start: Tensor, iterations: int) -> tuple[Tensor, bool]:
    """b > 0 with b * (C b) = 1 for a cosine matrix C (float64), from ``start``, and whether
    the Newton decrement fell below its tolerance within ``iterations`` steps."""
    weights = start.clone()
    for _ in range(iterations):
        gradient = cosines @ weights - 1 / weights
        hessian = cosines + torch.diag(weights**-2)
        step = -torch.linalg.solve(hessian, gradient)
        decrement = max(float(-(gradient @ step)), 0.0) ** 0.5
        if decrement**2 / 2 < DECREMENT_TOL:
            return weights, True
        weights = weights + (step if decrement < FULL_STEP_DECREMENT else step / (1 + decrement))
    return weights, False


class NashMTL(Method):
    name = "nash-mtl"
    description = "Nash-MTL: bargaining weights a with a_i (M a)_i = 1 for every column"

    def __init__(self, iterations: int = 50):
        self.iterations = option_int(self.name, "iterations", iterations, low=1)
        self.previous: Tensor | None = None  # last solution on the cosine matrix (K,)

    def combine_system(self, system: GradientSystem, losses: Tensor) -> Combination:
        k = system.n_tasks
        self.check_columns(k)
        weights = torch.zeros(k, dtype=torch.float64)
        active = system.active.cpu()
        converged = True
        if active.any():
            norms = system.norms.cpu()[active]
            cosines = system.gramian.cpu()[active][:, active] / norms[:, None] / norms[None, :]
            solution, converged = bargaining_weights(cosines, self.start(active), self.iterations)
            self.keep(solution, active)
            weights[active] = solution / norms
        combination = system.combination(weights)
        combination.converged = converged
        return combination

    def check_columns(self, k: int) -> None:
        check_task_count(self, None if self.previous is None else len(self.previous), k)

    def start(self, active: Tensor) -> Tensor:
        """The Newton steps' start on the active columns: the previous solution (the warm
        start) and, where there is nothing to start from, 1, the solution for orthogonal columns."""
        start = torch.ones(int(active.sum()), dtype=torch.float64)
        if self.previous is not None:
            start = torch.where(self.previous[active] > 0, self.previous[active], start)
        return start

    def keep(self, solution: Tensor, active: Tensor) -> None:
        """Remember ``solution`` (on the active columns) as the next call's start."""
        self.previous = torch.zeros(len(active), dtype=torch.float64)
        self.previous[active] = solution

    def state_dict(self) -> dict:
        return {} if self.previous is None else {"previous": self.previous.clone()}

    def load_state_dict(self, state: dict) -> None:
        previous = state.get("previous")
        self.previous = None if previous is None else previous.clone().to(torch.float64)
