"""``diagnose()`` -- the norms, cosines, conflicts and direction cosines the dashboard shows --
against the same quantities computed in numpy from the formed rows, zero rows included
(a zero row has norm 0 and cosine 0 with everything, itself included)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.diagnostics import diagnose
from core.gradients import ColumnLayout, ColumnRows


def _rows(dtype: torch.dtype) -> ColumnRows:
    """5 columns over 9 outputs, 16 rows x 6 units; column 3's outputs get no gradient."""
    generator = torch.Generator().manual_seed(11)
    owner = torch.tensor([0, 0, 1, 2, 2, 2, 3, 4, 4])
    d_outputs = torch.randn(16, 9, generator=generator, dtype=torch.float64)
    d_outputs[:, owner == 3] = 0.0
    d_outputs[:, owner == 4] *= -1e-3  # a small column, against the others
    weight = torch.randn(9, 6, generator=generator, dtype=torch.float64)
    return ColumnRows(ColumnLayout(owner, 5), d_outputs.to(dtype), weight.to(dtype))


def _expected(rows: np.ndarray, direction: np.ndarray) -> dict[str, np.ndarray | int]:
    norms = np.linalg.norm(rows, axis=1)
    safe = np.where(norms > 0, norms, 1.0)
    cosines = np.where(np.outer(norms, norms) > 0, rows @ rows.T / np.outer(safe, safe), 0.0)
    upper = np.triu(np.ones_like(cosines, dtype=bool), k=1)
    along = np.where(norms > 0, rows @ direction / (safe * np.linalg.norm(direction)), 0.0)
    return {"norms": norms, "cosines": cosines, "conflicts": int(((cosines < 0) & upper).sum()), "along": along}


@pytest.mark.parametrize("dtype,rtol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
@pytest.mark.parametrize("implicit", [True, False], ids=["implicit-rows", "formed-matrix"])
def test_diagnose_matches_norms_and_cosines_of_the_formed_rows(dtype, rtol, implicit):
    rows = _rows(dtype)
    matrix = rows.rows()
    weights = torch.tensor([1.0, 0.5, 2.0, 0.0, 3.0], dtype=dtype)
    direction = weights @ matrix
    result = diagnose(rows if implicit else matrix, direction, weights, with_cosines=True)
    expected = _expected(matrix.double().numpy(), direction.double().numpy())
    assert result.norms[3] == 0 and (result.cosines[3] == 0).all() and (result.cosines[:, 3] == 0).all()
    np.testing.assert_allclose(result.norms, expected["norms"], rtol=rtol, atol=0)
    np.testing.assert_allclose(result.cosines, expected["cosines"], rtol=rtol, atol=rtol)
    assert result.n_conflicts == expected["conflicts"] > 0
    np.testing.assert_allclose(result.direction_cosines, expected["along"], rtol=rtol, atol=rtol)
    np.testing.assert_array_equal(result.weights, weights.double().numpy())


def test_diagnose_without_cosines_and_with_a_zero_direction():
    rows = _rows(torch.float64)
    weights = torch.zeros(5, dtype=torch.float64)
    result = diagnose(rows, torch.zeros(rows.shape[1], dtype=torch.float64), weights, with_cosines=False)
    assert result.cosines is None and result.n_conflicts is None
    np.testing.assert_array_equal(result.direction_cosines, np.zeros(5))
    np.testing.assert_allclose(result.norms, np.linalg.norm(rows.rows().numpy(), axis=1), rtol=1e-12)
