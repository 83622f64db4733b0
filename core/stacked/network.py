"""The layers of the VAE family, applied to R models at once.

Every parameter carries a leading run axis (``torch.func.stack_module_state`` of R
models of one architecture), every activation too: R x ... x features. Linear layers are
batched matrix products (``baddbmm``); batch normalisation runs torch's own kernel run
by run, updating each run's running statistics in place. Random draws (dropout masks,
reparameterisation noise) come from each run's own generator, in the order its single
model draws them, so a stacked run sees the very numbers it would see alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

StackedTensors = dict[str, Tensor]


class _StackedLinear(torch.autograd.Function):
    """``x @ W.T + b`` per run, forward and backward as batched products. The weight
    gradient is ``grad.T @ x`` as ``nn.Linear``'s backward forms it: a batched product
    of the other orientation, ``(x.T @ grad).T``, rounds differently for thin inputs."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
        ctx.save_for_backward(x, weight)
        return torch.baddbmm(bias.unsqueeze(1), x, weight.transpose(1, 2))

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        x, weight = ctx.saved_tensors
        return torch.bmm(grad, weight), torch.bmm(grad.transpose(1, 2), x), grad.sum(1)


def linear(params: StackedTensors, prefix: str, x: Tensor) -> Tensor:
    """``x @ W.T + b`` per run: x is R x ... x in, W R x out x in, b R x out."""
    weight, bias = params[f"{prefix}.weight"], params[f"{prefix}.bias"]
    flat = x.reshape(x.shape[0], -1, x.shape[-1])
    out = _StackedLinear.apply(flat, weight, bias)
    return out.reshape(*x.shape[:-1], weight.shape[1])


# Batch normalisation's CPU backward pass rounds a feature's input gradient differently in
# its loops over 16, then 8 features at a time and in its scalar loop for the last few,
# and takes yet another path for very few features; a feature's numbers do not depend on
# its neighbours otherwise. Checked on AVX512 kernels (tests/core/test_stacked.py); on
# other machines the runs are normalised one by one.
_BATCHED_NORM = torch.backends.cpu.get_cpu_capability() == "AVX512"
_WIDE, _NARROW = 16, 8


def _norm_groups(runs: int, features: int, on_cpu: bool) -> list[list[tuple[int, int, int]]]:
    """The kernel calls: lists of (run, first feature, end). A run alone has its first
    ``features - features % 16`` features in the 16-wide loop and the rest in the scalar
    loop when there are fewer than 8 of them; a call of a few runs' first features, then
    their rest (fewer than 8 in all), treats every feature as it is treated alone."""
    body = features - features % _WIDE
    tail = features - body
    if not (on_cpu and _BATCHED_NORM and body and tail < _NARROW):
        return [[(r, 0, features)] for r in range(runs)]
    per_call = (_NARROW - 1) // tail if tail else runs
    return [
        [(r, 0, body) for r in chunk] + ([(r, body, features) for r in chunk] if tail else [])
        for chunk in (range(start, min(runs, start + per_call)) for start in range(0, runs, per_call))
    ]


def _pieces(t: Tensor, groups: list[list[tuple[int, int, int]]], dim: int) -> dict[tuple[int, int], Tensor]:
    """Run r's features lo:hi of ``t`` (runs on axis 0, features on ``dim`` of each run) for
    every (r, lo, hi) of ``groups``, by ``unbind`` and ``split``: their backward passes
    stack and concatenate the pieces' gradients, where indexing a slice would zero-fill a
    gradient of the whole tensor for each piece (most of the stacked step's time)."""
    bounds: dict[int, list[tuple[int, int]]] = {}
    for group in groups:
        for r, lo, hi in group:
            bounds.setdefault(r, []).append((lo, hi))
    pieces = {}
    for r, run in enumerate(t.unbind(0)):
        spans = sorted(bounds.get(r, []))
        for (lo, _), piece in zip(spans, run.split([hi - lo for lo, hi in spans], dim), strict=True):
            pieces[(r, lo)] = piece
    return pieces


def batch_norm(params: StackedTensors, buffers: StackedTensors, prefix: str, h: Tensor, training: bool) -> Tensor:
    """``BatchNorm1d`` (momentum 0.1, eps 1e-5, its defaults) of each run's B x features
    slice, its running statistics updated in place, the runs' features side by side in as
    few kernel calls as give every feature the numbers it has alone (``_norm_groups``)."""
    runs, _, features = h.shape
    mean, var = buffers[f"{prefix}.running_mean"], buffers[f"{prefix}.running_var"]
    groups = _norm_groups(runs, features, h.device.type == "cpu")
    inputs = _pieces(h, groups, 1)
    scales, shifts = (_pieces(params[f"{prefix}.{name}"], groups, 0) for name in ("weight", "bias"))
    pieces: dict[tuple[int, int], Tensor] = {}
    for group in groups:
        # fresh copies throughout: a slice of a stacked tensor may sit at an address that
        # takes the kernel down another path
        x = torch.cat([inputs[(r, lo)] for r, lo, _ in group], 1)
        stats = [torch.cat([t[r, lo:hi] for r, lo, hi in group]) for t in (mean, var)]
        scale = torch.cat([scales[(r, lo)] for r, lo, _ in group])
        shift = torch.cat([shifts[(r, lo)] for r, lo, _ in group])
        y = F.batch_norm(x, stats[0], stats[1], scale, shift, training=training, momentum=0.1, eps=1e-5)
        widths = [hi - lo for _, lo, hi in group]
        for (r, lo, _), piece in zip(group, y.split(widths, 1), strict=True):
            pieces[(r, lo)] = piece
        if training:  # the statistics' update, back into the stacked buffers
            for (r, lo, hi), run_mean, run_var in zip(group, *(t.split(widths) for t in stats), strict=True):
                mean[r, lo:hi], var[r, lo:hi] = run_mean, run_var
    if training:
        buffers[f"{prefix}.num_batches_tracked"].add_(1)
    return torch.stack([torch.cat([p for (run, _), p in sorted(pieces.items()) if run == r], 1) for r in range(runs)])


def dropout_masks(like: Tensor, layers: int, p: float, generators: Sequence[torch.Generator] | None) -> Tensor | None:
    """R x layers x B x hidden keep-masks for the encoder's ``SeededDropout`` layers (None:
    no dropout), run r's from ``generators[r]`` in the order its own model draws them.
    Nothing else draws from that stream in between, so they are drawn before the layers
    run; on the CPU in one draw, as its generator deals uniform numbers in sequence (one
    draw of all layers' numbers equals their draws one after the other)."""
    if generators is None or p == 0.0:
        return None
    shape = like.shape[1:]

    def draw(size: Sequence[int], g: torch.Generator) -> Tensor:
        return torch.rand(tuple(size), generator=g, dtype=like.dtype, device=like.device)

    if like.device.type == "cpu":
        draws = [draw((layers, *shape), g) for g in generators]
    else:
        draws = [torch.stack([draw(shape, g) for _ in range(layers)]) for g in generators]
    return torch.stack(draws) >= p


def encoder(
    params: StackedTensors,
    buffers: StackedTensors,
    x: Tensor,
    layers: int,
    dropout: float,
    generators: Sequence[torch.Generator] | None,
) -> Tensor:
    """``EncoderNet``: Linear -> BatchNorm -> tanh -> dropout, ``layers`` times; training
    when ``generators`` are given. As there, a one-row training batch is not normalised."""
    training = generators is not None
    masks: Tensor | None = None
    for i in range(layers):
        h = linear(params, f"encoder.linears.{i}", x)
        if not (training and h.shape[1] < 2):
            h = batch_norm(params, buffers, f"encoder.norms.{i}", h, training)
        x = torch.tanh(h)
        if i == 0:
            masks = dropout_masks(x, layers, dropout, generators)
        if masks is not None:
            x = x * masks[:, i] / (1.0 - dropout)  # SeededDropout's formula
    return x


def relu_trunk(params: StackedTensors, z: Tensor, layers: int) -> Tensor:
    """``relu_mlp``: its Linear layers sit at even positions of the Sequential."""
    for i in range(layers):
        z = torch.relu(linear(params, f"trunk.{2 * i}", z))
    return z


def gaussian_noise(shape: Sequence[int], like: Tensor, generators: Sequence[torch.Generator]) -> Tensor:
    """R draws of standard normal noise of ``shape``, run r's from ``generators[r]``."""
    draws = [torch.randn(tuple(shape), generator=g, dtype=like.dtype, device=like.device) for g in generators]
    return torch.stack(draws)
