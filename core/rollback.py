"""A training step's safety net: what it changes, saved before it and put back if it is
rejected, and one watch over everything that must stay finite.

A step changes the weights, the model's buffers (batch normalisation's running statistics)
and Adam's moments in place, advances the model-noise stream
and the minibatch order, and may update a stateful method and draw from its stream.
``StepRollback.save`` copies all of that (the tensors into buffers kept from step to
step: in place, much cheaper than a deep copy of the optimizer's state) and ``restore``
puts it back.

``FiniteWatch`` gathers whether any watched tensor (the losses) holds an inf or NaN, or
the length of a watched set (the gradients, the weights after the update) overflows,
into one flag on the device, so that a step reads the device once, at its end.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from core.method_instances import GeneratorStates, MethodInstances, MethodStates
from core.splits import EpochBatches


@dataclass
class _Saved:
    n_tensors: int  # weights, model buffers and Adam moments, copied into the rollback's buffers
    methods: MethodStates
    method_generators: GeneratorStates
    noise_generator: torch.Tensor
    batches: dict[str, Any]


class StepRollback:
    """Saves and restores the state one step of ``model`` under ``optimizer`` changes."""

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer):
        self.params = list(model.parameters())
        self.model_buffers = list(model.buffers())
        self.optimizer = optimizer
        self._buffers: list[torch.Tensor] = []
        self._saved: _Saved | None = None

    def _state_tensors(self) -> list[torch.Tensor]:
        """What a step changes in place: the weights, the model's buffers and Adam's moments."""
        tensors: list[torch.Tensor] = [*self.params, *self.model_buffers]  # restored under no_grad
        state = self.optimizer.state
        for p in self.params:
            tensors += [v for v in state.get(p, {}).values() if isinstance(v, torch.Tensor)]
        return tensors

    @torch.no_grad()
    def save(self, methods: MethodInstances, noise_generator: torch.Generator, batches: EpochBatches) -> None:
        # Under no_grad: a copy of a weight that requires grad is otherwise recorded by
        # autograd, and each step's copy would keep the previous one's graph alive (a leak
        # of the whole state's size every step, 10 GB over 200 epochs of Adult).
        tensors = self._state_tensors()
        if len(self._buffers) != len(tensors):
            self._buffers = [t.detach().clone() for t in tensors]
        else:
            torch._foreach_copy_(self._buffers, tensors)
        method_states, generator_states = methods.state()  # copies already (Method.state_dict)
        self._saved = _Saved(
            len(tensors),
            method_states,
            generator_states,
            noise_generator.get_state(),
            batches.state_dict(),
        )

    def restore(self, methods: MethodInstances, noise_generator: torch.Generator, batches: EpochBatches) -> None:
        saved = self._saved
        assert saved is not None, "restore() before save()"
        tensors = self._state_tensors()
        with torch.no_grad():
            if len(tensors) == saved.n_tensors:
                torch._foreach_copy_(tensors, self._buffers[: saved.n_tensors])
            else:  # the rejected step was the first: Adam had no moments before it
                own = tensors[: len(self.params) + len(self.model_buffers)]
                torch._foreach_copy_(own, self._buffers[: len(own)])
                self.optimizer.state.clear()
        methods.load(saved.methods, saved.method_generators)
        noise_generator.set_state(saved.noise_generator)
        batches.load_state_dict(saved.batches)
        self.optimizer.zero_grad(set_to_none=True)


class FiniteWatch:
    """One device flag, raised by any watched tensor that holds an inf or NaN."""

    def __init__(self, device: torch.device):
        self.flag = torch.zeros((), device=device)
        self._one = torch.ones((), device=device)

    def reset(self) -> None:
        self.flag.zero_()

    @torch.no_grad()
    def watch(self, tensors: Sequence[torch.Tensor]) -> None:
        # The check gradient scaling uses: one fused pass over all the tensors, no host
        # synchronisation. It also multiplies them by its scale, here exactly 1.
        if tensors:
            torch._amp_foreach_non_finite_check_and_unscale_(list(tensors), self.flag, self._one)

    @torch.no_grad()
    def watch_length(self, tensors: Sequence[torch.Tensor]) -> None:
        """Watch the Euclidean length of ``tensors`` taken together, as torch's gradient
        clipping computes it: it is finite only if every element is and the length does not
        overflow, which is where a diverging step shows first."""
        if tensors:
            self.watch([torch.linalg.vector_norm(torch.stack(torch._foreach_norm(list(tensors))))])

    def tripped(self) -> bool:
        """Whether anything watched since ``reset`` was not finite (reads the device)."""
        return bool(self.flag)
