"""The weights, buffers and Adam moments of R runs, stacked on a leading run axis.

``StackedAdam`` is ``torch.optim.Adam`` (its defaults, ``foreach``) with one learning rate
and one step count per run: the same operations in the same order, so each run's update
is bit for bit the one its own optimizer would make. Runs can be rolled back one by one
(a rejected step, a run that sat a step out) and written back into their own model and
optimizer, which then carry on exactly as if they had been trained alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from core.stacked.network import StackedTensors


class StackedAdam:
    """Adam over stacked parameters (R x ... each), run r with learning rate ``lrs[r]``."""

    def __init__(self, params: Sequence[Tensor], lrs: Sequence[float], betas: tuple[float, float] = (0.9, 0.999)):
        self.params = list(params)
        self.lrs = list(lrs)
        self.beta1, self.beta2 = betas
        self.eps = 1e-8
        self.exp_avgs = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sqs = [torch.zeros_like(p) for p in self.params]
        self.steps = [0] * len(self.lrs)

    @torch.no_grad()
    def step(self) -> None:
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in self.params]
        torch._foreach_lerp_(self.exp_avgs, grads, 1 - self.beta1)
        torch._foreach_mul_(self.exp_avg_sqs, self.beta2)
        torch._foreach_addcmul_(self.exp_avg_sqs, grads, grads, 1 - self.beta2)
        self.steps = [n + 1 for n in self.steps]
        # Adam's per-step scalars, one per run, as torch computes them in Python floats
        like = self.params[0]
        step_sizes = torch.tensor(
            [(lr / (1 - self.beta1**n)) * -1 for lr, n in zip(self.lrs, self.steps, strict=True)],
            dtype=like.dtype,
            device=like.device,
        )
        correction_sqrt = torch.tensor(
            [(1 - self.beta2**n) ** 0.5 for n in self.steps], dtype=like.dtype, device=like.device
        )
        shapes = [(-1, *([1] * (p.ndim - 1))) for p in self.params]
        denominators = torch._foreach_sqrt(self.exp_avg_sqs)
        torch._foreach_div_(denominators, [correction_sqrt.view(shape) for shape in shapes])
        torch._foreach_add_(denominators, self.eps)
        updates = torch._foreach_mul(self.exp_avgs, [step_sizes.view(shape) for shape in shapes])
        torch._foreach_div_(updates, denominators)
        torch._foreach_add_(self.params, updates)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None


class StackedState:
    """R models' parameters (leaves, for autograd) and buffers, stacked, with their Adam."""

    def __init__(self, models: Sequence[nn.Module], lrs: Sequence[float]):
        params, buffers = torch.func.stack_module_state(list(models))
        self.params: StackedTensors = params
        self.buffers: StackedTensors = buffers
        self.optimizer = StackedAdam(list(self.params.values()), lrs)
        self._saved: list[Tensor] = []
        self._saved_steps: list[int] = []

    def _tensors(self) -> list[Tensor]:
        """Weights, Adam moments, then buffers (batch-norm statistics)."""
        opt = self.optimizer
        weights = [p.detach() for p in self.params.values()]
        return [*weights, *opt.exp_avgs, *opt.exp_avg_sqs, *self.buffers.values()]

    def save(self) -> None:
        """Remember every run's state, to roll some back after a step."""
        tensors = self._tensors()
        if len(self._saved) != len(tensors):
            self._saved = [t.clone() for t in tensors]
        else:
            torch._foreach_copy_(self._saved, tensors)
        self._saved_steps = list(self.optimizer.steps)

    @torch.no_grad()
    def roll_back(self, run: int) -> None:
        """Run ``run`` back to the last ``save``: weights, moments and batch-norm statistics,
        as a Trainer's rollback restores them."""
        for tensor, saved in zip(self._tensors(), self._saved, strict=True):
            tensor[run].copy_(saved[run])
        self.optimizer.steps[run] = self._saved_steps[run]

    @torch.no_grad()
    def write_to(self, run: int, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        """Put run ``run``'s weights, buffers and Adam state into its own model and optimizer."""
        for name, p in model.named_parameters():
            p.copy_(self.params[name][run])
        for name, b in model.named_buffers():
            b.copy_(self.buffers[name][run])
        optimizer.state.clear()
        n = self.optimizer.steps[run]
        if n == 0:
            return
        for i, p in enumerate(model.parameters()):
            optimizer.state[p] = {
                "step": torch.tensor(float(n), dtype=torch.float32),
                "exp_avg": self.optimizer.exp_avgs[i][run].clone(),
                "exp_avg_sq": self.optimizer.exp_avg_sqs[i][run].clone(),
            }

    @torch.no_grad()
    def read_from(self, run: int, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        """Take run ``run``'s weights, buffers and Adam state from its own model and optimizer."""
        for name, p in model.named_parameters():
            self.params[name][run].copy_(p)
        for name, b in model.named_buffers():
            self.buffers[name][run].copy_(b)
        steps = 0
        for i, p in enumerate(model.parameters()):
            state = optimizer.state.get(p)
            if state is None:  # an optimizer that has not stepped yet: no moments
                self.optimizer.exp_avgs[i][run].zero_()
                self.optimizer.exp_avg_sqs[i][run].zero_()
                continue
            self.optimizer.exp_avgs[i][run].copy_(state["exp_avg"])
            self.optimizer.exp_avg_sqs[i][run].copy_(state["exp_avg_sq"])
            steps = int(state["step"])
        self.optimizer.steps[run] = steps
