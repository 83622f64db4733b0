"""The pseudo-inverse's Cholesky fast path must agree with the eigen-cut definition."""

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from core.mtl.linalg import RANK_RTOL, psd_eigen, psd_pinv


def _eigen_pinv(matrix):
    values, vectors = psd_eigen(matrix)
    return (vectors / values) @ vectors.T


def _psd(seed: int, k: int, rank: int, spread: float) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    basis = torch.linalg.qr(torch.randn(k, k, generator=g, dtype=torch.float64))[0][:, :rank]
    values = torch.logspace(0, -spread, rank, dtype=torch.float64)
    return (basis * values) @ basis.T


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.integers(1, 30), spread=st.floats(0, 14), drop=st.integers(0, 3))
def test_pinv_equals_the_eigen_cut_pseudo_inverse(seed, k, spread, drop):
    rank = max(1, k - drop)
    matrix = _psd(seed, k, rank, spread)
    fast, reference = psd_pinv(matrix), _eigen_pinv(matrix)
    # Compare where it matters: applied to the matrix's range, relative to the inverse's size.
    scale = reference.abs().max()
    torch.testing.assert_close(fast / scale, reference / scale, atol=1e-6, rtol=0)


def test_rank_deficient_and_zero_matrices_take_the_eigen_path():
    ones = torch.ones(3, 3, dtype=torch.float64)  # rank 1
    torch.testing.assert_close(psd_pinv(ones), ones / 9)
    torch.testing.assert_close(psd_pinv(torch.zeros(2, 2, dtype=torch.float64)), torch.zeros(2, 2, dtype=torch.float64))
    nearly = torch.diag(torch.tensor([1.0, RANK_RTOL / 10], dtype=torch.float64))
    torch.testing.assert_close(psd_pinv(nearly), torch.diag(torch.tensor([1.0, 0.0], dtype=torch.float64)))
