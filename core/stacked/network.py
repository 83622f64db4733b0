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


# Batched products round exactly as one run's ``nn.Linear`` when the row count is a
# multiple of this (checked on the CPU kernels); other counts (a short last minibatch of
# an epoch) take run-by-run products, as a gradient that is all rounding (a bias before batch normalisation) would
# otherwise send Adam another way.
_BATCHED_ROWS_MULTIPLE = 16


class _StackedLinear(torch.autograd.Function):
    """``x @ W.T + b`` per run: the forward and the input gradient as batched products,
    the weight gradient run by run as ``nn.Linear``'s backward forms it (``grad.T @ x``;
    a batched product of that orientation rounds differently for thin matrices)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
        ctx.save_for_backward(x, weight)
        return torch.baddbmm(bias.unsqueeze(1), x, weight.transpose(1, 2))

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        x, weight = ctx.saved_tensors
        grad_weight = torch.stack([g.t().mm(xr) for g, xr in zip(grad.unbind(0), x.unbind(0), strict=True)])
        return torch.bmm(grad, weight), grad_weight, grad.sum(1)


def linear(params: StackedTensors, prefix: str, x: Tensor) -> Tensor:
    """``x @ W.T + b`` per run: x is R x ... x in, W R x out x in, b R x out."""
    weight, bias = params[f"{prefix}.weight"], params[f"{prefix}.bias"]
    flat = x.reshape(x.shape[0], -1, x.shape[-1])
    if flat.shape[1] % _BATCHED_ROWS_MULTIPLE == 0:
        out = _StackedLinear.apply(flat, weight, bias)
    else:
        # on fresh copies: one run's slice of a stacked tensor may sit at an address that
        # takes the BLAS kernel down another path
        runs = zip(flat.unbind(0), weight.unbind(0), bias.unbind(0), strict=True)
        out = torch.stack([F.linear(x_r.clone(), w_r.clone(), b_r.clone()) for x_r, w_r, b_r in runs])
    return out.reshape(*x.shape[:-1], weight.shape[1])


def batch_norm(params: StackedTensors, buffers: StackedTensors, prefix: str, h: Tensor, training: bool) -> Tensor:
    """``BatchNorm1d`` (momentum 0.1, eps 1e-5, its defaults) of each run's B x features slice.

    Run by run, on fresh copies: torch's kernel on all runs' features side by side
    normalises them alike but rounds their input gradients differently, and a stacked
    run's slice may sit at an address that takes the kernel down another path."""
    runs = zip(
        h.unbind(0),
        buffers[f"{prefix}.running_mean"].unbind(0),
        buffers[f"{prefix}.running_var"].unbind(0),
        params[f"{prefix}.weight"].unbind(0),
        params[f"{prefix}.bias"].unbind(0),
        strict=True,
    )
    out = [
        F.batch_norm(h_r.clone(), mean, var, w.clone(), b.clone(), training=training, momentum=0.1, eps=1e-5)
        for h_r, mean, var, w, b in runs
    ]
    if training:
        buffers[f"{prefix}.num_batches_tracked"].add_(1)
    return torch.stack(out)


def seeded_dropout(x: Tensor, p: float, generators: Sequence[torch.Generator] | None) -> Tensor:
    """``SeededDropout`` per run: run r's mask drawn from ``generators[r]`` (None: evaluation)."""
    if generators is None or p == 0.0:
        return x
    draws = [torch.rand(x.shape[1:], generator=g, dtype=x.dtype, device=x.device) for g in generators]
    return x * (torch.stack(draws) >= p) / (1.0 - p)


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
    for i in range(layers):
        h = linear(params, f"encoder.linears.{i}", x)
        if not (training and h.shape[1] < 2):
            h = batch_norm(params, buffers, f"encoder.norms.{i}", h, training)
        x = seeded_dropout(torch.tanh(h), dropout, generators)
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
