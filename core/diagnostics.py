"""What the per-column gradients say on one step: sizes, conflicts, and what the
method made of them. Everything comes from one K x K Gramian, so it stays cheap."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from core.mtl.system import GradientRows, as_rows


@dataclass
class GradientDiagnostics:
    norms: np.ndarray  # (K,) each column's gradient norm
    cosines: np.ndarray | None  # (K, K) pairwise cosines; None on steps that skip them
    n_conflicts: int | None  # pairs i < j with cosine < 0
    weights: np.ndarray  # (K,) weights the method applied
    direction_cosines: np.ndarray  # (K,) cosine between the combined direction and each column


def diagnose(
    grads: torch.Tensor | GradientRows,
    direction: torch.Tensor,
    weights: torch.Tensor,
    with_cosines: bool,
    gramian: torch.Tensor | None = None,
) -> GradientDiagnostics:
    """``grads``: the K x d per-column gradients, a tensor or implicit rows that know their
    Gramian; ``gramian``: grads @ grads.T if the caller has it. Implicit rows are never
    formed here: norms and cosines come from the Gramian, and the direction's cosines from
    ``rows @ direction``."""
    rows = as_rows(grads)
    direction = direction.detach()
    tiny = torch.finfo(rows.dtype).tiny
    if gramian is None and isinstance(grads, torch.Tensor) and not with_cosines:
        norms = grads.detach().norm(dim=1)  # K norms, cheaper than the K x K Gramian
    else:
        gramian = (rows.gramian() if gramian is None else gramian).to(rows.dtype)
        norms = gramian.diagonal().clamp_min(0).sqrt()
    cosines, conflicts = None, None
    if with_cosines:
        assert gramian is not None  # formed above whenever cosines are asked for
        unit = norms.clamp_min(tiny)
        cos = (gramian / unit[:, None] / unit[None, :]).clamp(-1, 1)
        k = cos.shape[0]
        upper = torch.triu(torch.ones(k, k, dtype=torch.bool, device=cos.device), diagonal=1)
        conflicts = int(((cos < 0) & upper).sum())
        cosines = cos.cpu().numpy().astype(np.float64)
    along = rows.dot(direction)
    dir_cos = along / norms.clamp_min(tiny) / direction.norm().clamp_min(tiny)
    return GradientDiagnostics(
        norms=norms.cpu().numpy().astype(np.float64),
        cosines=cosines,
        n_conflicts=conflicts,
        weights=weights.detach().cpu().numpy().astype(np.float64),
        direction_cosines=dir_cos.clamp(-1, 1).cpu().numpy().astype(np.float64),
    )
