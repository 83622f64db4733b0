"""Multi-task combination of per-column gradients: one method per file, a registry, a helper.

Depends only on torch (and numpy/scipy for small solvers); knows nothing about VAEs.
"""

from __future__ import annotations

from core.mtl.base import PROJECTION, WEIGHTING, Method
from core.mtl.combination import Combination
from core.mtl.combine import combine_gradients
from core.mtl.registry import METHODS, make_method, method_options
from core.mtl.system import GradientSystem

__all__ = [
    "METHODS",
    "PROJECTION",
    "WEIGHTING",
    "Combination",
    "GradientSystem",
    "Method",
    "combine_gradients",
    "make_method",
    "method_options",
]
