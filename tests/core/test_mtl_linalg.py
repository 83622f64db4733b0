"""The filtered pseudo-inverse: its Cholesky fast path agrees with the eigen definition, and
the filter cuts at the documented relative singular values, continuously."""

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from core.mtl.linalg import DEPENDENT_BELOW, INDEPENDENT_ABOVE, dependence_filter, filtered_pinv
from tests.core.mtl_references import keep_share, lift


def _reference_pinv(matrix: torch.Tensor) -> torch.Tensor:
    """Independently, in numpy: sum_i keep_i / lifted_i v_i v_i^T, from the definition."""
    values, vectors = np.linalg.eigh(matrix.numpy())
    values = np.clip(values, 0, None)
    keep = keep_share(np.sqrt(values / values.max()))
    return torch.from_numpy((vectors * (keep / lift(values, keep))) @ vectors.T)


def _psd(seed: int, k: int, rank: int, spread: float) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    basis = torch.linalg.qr(torch.randn(k, k, generator=g, dtype=torch.float64))[0][:, :rank]
    values = torch.logspace(0, -spread, rank, dtype=torch.float64)
    return (basis * values) @ basis.T


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.integers(1, 30), spread=st.floats(0, 14), drop=st.integers(0, 3))
def test_pinv_equals_the_filtered_pseudo_inverse(seed, k, spread, drop):
    rank = max(1, k - drop)
    matrix = _psd(seed, k, rank, spread)
    fast, reference = filtered_pinv(matrix), _reference_pinv(matrix)
    scale = reference.abs().max()
    torch.testing.assert_close(fast / scale, reference / scale, atol=1e-6, rtol=0)


def test_the_filter_cuts_at_the_documented_singular_values_and_is_continuous():
    relative = torch.logspace(-6, 0, 601, dtype=torch.float64)
    keep = dependence_filter(relative)
    torch.testing.assert_close(keep, torch.from_numpy(keep_share(relative.numpy())))
    assert (keep[relative <= DEPENDENT_BELOW] == 0).all()
    assert (keep[relative >= INDEPENDENT_ABOVE] == 1).all()
    assert (keep.diff() >= 0).all() and keep.diff().abs().max() < 0.02  # monotone, no jump
    assert dependence_filter(torch.zeros(1, dtype=torch.float64)).item() == 0


def test_rank_deficient_nearly_singular_and_zero_matrices():
    ones = torch.ones(3, 3, dtype=torch.float64)  # rank 1
    torch.testing.assert_close(filtered_pinv(ones), ones / 9)
    zero = torch.zeros(2, 2, dtype=torch.float64)
    torch.testing.assert_close(filtered_pinv(zero), zero)
    # relative singular value 3e-4 < DEPENDENT_BELOW: cut whole; 3e-2: kept whole
    nearly = torch.diag(torch.tensor([1.0, 1e-7], dtype=torch.float64))
    torch.testing.assert_close(filtered_pinv(nearly), torch.diag(torch.tensor([1.0, 0.0], dtype=torch.float64)))
    kept = torch.diag(torch.tensor([1.0, 1e-3], dtype=torch.float64))
    torch.testing.assert_close(filtered_pinv(kept), torch.diag(torch.tensor([1.0, 1e3], dtype=torch.float64)))
