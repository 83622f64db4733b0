"""The layers of the VAE family, applied to R models at once.

Every parameter carries a leading run axis (``torch.func.stack_module_state`` of R
models of one architecture), every activation too: R x ... x features. Linear layers are
batched matrix products (``baddbmm``); batch normalisation runs torch's own kernels on
groups of runs, updating each run's running statistics in place. Random draws (dropout masks,
reparameterisation noise) come from each run's own generator, in the order its single
model draws them, so a stacked run sees the very numbers it would see alone.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
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


class _StackedLinearWithoutBias(torch.autograd.Function):
    """``x @ W.T`` per run (``nn.Linear(bias=False)``), its weight gradient as ``_StackedLinear``'s."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, weight: Tensor) -> Tensor:
        ctx.save_for_backward(x, weight)
        return torch.bmm(x, weight.transpose(1, 2))

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, Tensor]:
        x, weight = ctx.saved_tensors
        return torch.bmm(grad, weight), torch.bmm(grad.transpose(1, 2), x)


def linear(params: StackedTensors, prefix: str, x: Tensor) -> Tensor:
    """``x @ W.T + b`` per run: x is R x ... x in, W R x out x in, b R x out."""
    return linear_with(x, params[f"{prefix}.weight"], params[f"{prefix}.bias"])


def linear_with(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """``linear`` with the weight and bias given (a masked weight, say)."""
    flat = x.reshape(x.shape[0], -1, x.shape[-1])
    out = _StackedLinear.apply(flat, weight, bias)
    return out.reshape(*x.shape[:-1], weight.shape[1])


def linear_without_bias(weight: Tensor, x: Tensor) -> Tensor:
    """``x @ W.T`` per run: x is R x ... x in, W R x out x in."""
    flat = x.reshape(x.shape[0], -1, x.shape[-1])
    out = _StackedLinearWithoutBias.apply(flat, weight)
    return out.reshape(*x.shape[:-1], weight.shape[1])


# Batch normalisation's CPU backward pass rounds a feature's input gradient differently in
# its loops over 16, then 8 features at a time and in its scalar loop for the last few,
# and takes yet another path for very few features; a feature's numbers do not depend on
# its neighbours otherwise. Checked on AVX512 kernels (tests/core/test_stacked.py); on
# other machines the runs are normalised one by one.
_BATCHED_NORM = torch.backends.cpu.get_cpu_capability() == "AVX512"
_WIDE, _NARROW = 16, 8


@dataclass(frozen=True)
class _NormPlan:
    """The kernel calls of one layer: which of the runs' features (run-major, R x features
    flat) each call normalises, in its order."""

    orders: list[Tensor]  # each call's positions in R x features, flat; together a permutation
    inverse: Tensor  # of their concatenation

    def gather(self, t: Tensor) -> list[Tensor]:
        """Each call's fresh copy of R x B x features ``t`` (or of R x features parameters)."""
        flat = t.reshape(-1) if t.dim() == 2 else t.transpose(0, 1).reshape(t.shape[1], -1)
        return [flat.index_select(-1, order) for order in self.orders]

    def to(self, device: torch.device) -> _NormPlan:
        return _NormPlan([order.to(device) for order in self.orders], self.inverse.to(device))

    def scatter(self, pieces: list[Tensor], like: Tensor) -> Tensor:
        """The calls' outputs back in ``like``'s layout (R x B x features, or R x features)."""
        flat = torch.cat(pieces, -1).index_select(-1, self.inverse)
        if like.dim() == 2:
            return flat.reshape(like.shape)
        return flat.reshape(like.shape[1], like.shape[0], like.shape[2]).transpose(0, 1).contiguous()


@functools.lru_cache(maxsize=64)
def _norm_plan(runs: int, features: int, batched: bool) -> _NormPlan:
    """A run alone has its first ``features - features % 16`` features in the 16-wide loop
    and the rest in the scalar loop when there are fewer than 8 of them; a call of a few
    runs' first features, then their rest (fewer than 8 in all), treats every feature as it
    is treated alone. Unbatched: one call a run."""
    body = features - features % _WIDE
    tail = features - body
    if not (batched and body and tail < _NARROW):
        calls = [[r] for r in range(runs)]
        spans: tuple[tuple[int, int], ...] = ((0, features),)
    else:
        per_call = (_NARROW - 1) // tail if tail else runs
        calls = [list(range(first, min(runs, first + per_call))) for first in range(0, runs, per_call)]
        spans = ((0, body), (body, features)) if tail else ((0, features),)
    orders = [
        torch.tensor([r * features + f for lo, hi in spans for r in call for f in range(lo, hi)]) for call in calls
    ]
    return _NormPlan(orders, torch.argsort(torch.cat(orders)))


class _StackedBatchNorm(torch.autograd.Function):
    """``BatchNorm1d`` of each run's B x features slice, torch's kernel called on the
    groups of ``_norm_plan`` (on fresh copies: a slice of a stacked tensor may sit at an
    address that takes the kernel down another path), backward by the kernel autograd would
    call for each group. Assembling the groups here, outside autograd, saves the split, cat
    and stack nodes a graph of the pieces would have (most of the layer's time)."""

    @staticmethod
    def forward(ctx: Any, h: Tensor, weight: Tensor, bias: Tensor, mean: Tensor, var: Tensor, training: bool) -> Tensor:
        runs, _, features = h.shape
        plan = _norm_plan(runs, features, h.device.type == "cpu" and _BATCHED_NORM)
        if plan.inverse.device != h.device:
            plan = plan.to(h.device)
        inputs, scales, shifts, means, variances = (plan.gather(t) for t in (h, weight, bias, mean, var))
        outputs, saved = [], []
        for x, scale, shift, call_mean, call_var in zip(inputs, scales, shifts, means, variances, strict=True):
            y, save_mean, save_invstd = torch.native_batch_norm(
                x, scale, shift, call_mean, call_var, training, 0.1, 1e-5
            )
            outputs.append(y)
            saved.append((x, scale, call_mean, call_var, save_mean, save_invstd))
        if training:  # the statistics' update, back into the stacked buffers
            mean.copy_(plan.scatter(means, mean))
            var.copy_(plan.scatter(variances, var))
        ctx.plan, ctx.training, ctx.saved = plan, training, saved
        return plan.scatter(outputs, h)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        plan: _NormPlan = ctx.plan
        parts = []
        for g, (x, scale, mean, var, save_mean, save_invstd) in zip(plan.gather(grad), ctx.saved, strict=True):
            parts.append(
                torch.ops.aten.native_batch_norm_backward(
                    g, x, scale, mean, var, save_mean, save_invstd, ctx.training, 1e-5, [True] * 3
                )
            )
        like = grad[:, 0]
        grad_h, grad_weight, grad_bias = (
            plan.scatter([part[i] for part in parts], grad if i == 0 else like) for i in range(3)
        )
        return grad_h, grad_weight, grad_bias, None, None, None


def batch_norm(params: StackedTensors, buffers: StackedTensors, prefix: str, h: Tensor, training: bool) -> Tensor:
    """``BatchNorm1d`` (momentum 0.1, eps 1e-5, its defaults) of each run's B x features
    slice, its running statistics updated in place, the runs' features side by side in as
    few kernel calls as give every feature the numbers it has alone (``_norm_plan``)."""
    mean, var = buffers[f"{prefix}.running_mean"], buffers[f"{prefix}.running_var"]
    weight, bias = params[f"{prefix}.weight"], params[f"{prefix}.bias"]
    out = _StackedBatchNorm.apply(h, weight, bias, mean, var, training)
    if training:
        buffers[f"{prefix}.num_batches_tracked"].add_(1)
    return out


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
