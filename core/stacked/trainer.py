"""R training runs of one table and one model architecture, advanced by one ``step()``.

The runs may differ in seed, method (and its options), learning rate and rescaling;
everything that shapes the model is shared. Each run keeps what makes it itself: its
split, encoder and minibatch order, its noise and method streams, its method instances
and its Adam state. They live in one ``Trainer`` per run (built as for a run alone, so
data, initial weights and streams are the very same); the weights are stacked on a
leading run axis and trained with batched layers (``core.stacked.network``). Run r's
losses, gradients, records and scores are those of its Trainer stepped alone, bit for
bit on the CPU; a step whose minibatches do not line up for that (``ALIGNED_ROWS``: an
epoch's short last batch, say) is made by each run's Trainer and taken back, and runs
whose every minibatch would be such are not stacked at all. Each objective's column
gradients are combined at every shared representation of the model (the trunk's y;
HI-VAE's z and s), each by the runs' method instances for that pair, as alone.

A step that fails for one run (a non-finite loss, gradient or weight) rolls that run
back as its Trainer would and reports the TrainingError; the other runs step on.
``trainer(r)`` hands out run r's Trainer brought up to date: for its evaluations,
reconstructions, samples and checkpoints, or to carry on alone.
"""

from __future__ import annotations

import copy
import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, cast

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from core.diagnostics import diagnose
from core.errors import TrainingError
from core.method_instances import GeneratorStates, MethodStates
from core.mtl import Combination
from core.mtl.plain_sum import PlainSum
from core.records import Evaluation, StepRecord
from core.schema import Schema
from core.splits import EpochBatches
from core.stacked.combine import RunGradients, combine_runs, run_gramians
from core.stacked.forward import Architecture, NotStackedError, StackedBatch, StackedForward, stacked_forward
from core.stacked.state import StackedState
from core.trainer import TrainConfig, Trainer

# The settings that may differ between stacked runs; every other one must be equal.
PER_RUN_SETTINGS = frozenset({"seed", "method", "lr", "method_options", "rescale"})

StepOutcome = StepRecord | TrainingError | None  # None: the run sat the step out

# Stacked, a run's cells sit side by side with the other runs'. Torch's CPU kernels run
# vector widths of up to 32 floats and finish a tensor's remainder with scalar code that
# may round transcendental functions differently; with minibatches of a multiple of 32
# rows every run's slice is whole widths, so each cell takes the path it takes alone. A
# step with other minibatches (an epoch's short last one) is made run by run instead.
ALIGNED_ROWS = 32


@dataclass
class _RunStreams:
    """A run's random streams and method state before a step, to put back if it is undone."""

    methods: MethodStates
    method_generators: GeneratorStates
    noise_generator: Tensor
    batches: dict[str, Any]


def check_stackable(configs: Sequence[TrainConfig]) -> None:
    """NotStackedError naming the first reason ``configs`` cannot be trained stacked."""
    if not configs:
        raise NotStackedError("no configurations to stack")
    first = configs[0]
    for config in configs[1:]:
        for f in fields(TrainConfig):
            if f.name not in PER_RUN_SETTINGS and getattr(config, f.name) != getattr(first, f.name):
                raise NotStackedError(
                    f"stacked runs must share {f.name!r}; got {getattr(first, f.name)!r} and "
                    f"{getattr(config, f.name)!r}"
                )
    if first.gradient_space != "representation":
        raise NotStackedError("stacked runs combine gradients at the shared representation only")
    if first.layers < 1:
        raise NotStackedError("stacked runs need at least one hidden layer")
    if first.batch_size % ALIGNED_ROWS:
        # every step but none would be made run by run (see ALIGNED_ROWS): one by one is cheaper
        raise NotStackedError(
            f"stacked runs need minibatches of a multiple of {ALIGNED_ROWS} rows (got {first.batch_size}); "
            "train their runs one by one"
        )
    stacked_forward(first.model)


class StackedTrainer:
    def __init__(
        self,
        table: pd.DataFrame,
        schema: Schema,
        configs: Sequence[TrainConfig],
        impute_mask: np.ndarray | None = None,
        splits: Sequence[dict[str, np.ndarray] | None] | None = None,
    ):
        """``splits[r]``: run r's "train", "val" and "test" rows (default: its seed's split)."""
        configs = [copy.deepcopy(c).validate() for c in configs]
        check_stackable(configs)
        per_run_splits = list(splits) if splits is not None else [None] * len(configs)
        self.runs = [
            Trainer(table, schema, config, impute_mask, run_splits)
            for config, run_splits in zip(configs, per_run_splits, strict=True)
        ]
        if len({len(t.splits["train"]) for t in self.runs}) > 1:
            raise NotStackedError("stacked runs need training splits of one size (their minibatches must match)")
        first = self.runs[0]
        if any(not torch.equal(t.layout.owner, first.layout.owner) for t in self.runs[1:]):
            raise NotStackedError("stacked runs need the same decoder outputs for every column")
        self._forward = stacked_forward(first.config.model)
        self._data_index, groups = self._share_data()
        self.architecture = Architecture(
            layers=first.config.layers,
            dropout=first.config.dropout,
            beta=first.config.beta,
            importance_samples=first.config.importance_samples,
            likelihoods=[t.likelihood for t in self.runs],
            mixture_components=first.config.mixture_components,
            temperature=getattr(first.model, "temperature", 1.0),
        )
        representatives = [self.runs[g[0]] for g in groups]
        self._inputs = torch.stack([t.inputs for t in representatives])
        self._model_mask = torch.stack([t.model_mask for t in representatives])
        self._targets = torch.stack([t.targets for t in representatives])
        self.state = StackedState([t.model for t in self.runs], [c.lr for c in configs])
        self._synced = [True] * len(self.runs)

    def _share_data(self) -> tuple[Tensor, list[list[int]]]:
        """Runs with one training split share one encoding of the table and one likelihood:
        each run's group, and the groups' runs."""
        keys: dict[bytes, list[int]] = {}
        for r, t in enumerate(self.runs):
            keys.setdefault(np.asarray(t.splits["train"]).tobytes(), []).append(r)
        groups = list(keys.values())
        index = torch.empty(len(self.runs), dtype=torch.long)
        for g, runs in enumerate(groups):
            index[runs] = g
        return index, groups

    def __len__(self) -> int:
        return len(self.runs)

    def trainer(self, run: int) -> Trainer:
        """Run ``run``'s Trainer with its current weights, batch-norm statistics and Adam state."""
        if not self._synced[run]:
            t = self.runs[run]
            self.state.write_to(run, t.model, t.optimizer)
            self._synced[run] = True
        return self.runs[run]

    def evaluate(self, run: int, split: str = "test", max_rows: int | None = None) -> Evaluation:
        return self.trainer(run).evaluate(split, max_rows)

    # --- training ---------------------------------------------------------------
    def _streams(self, t: Trainer) -> _RunStreams:
        method_states, generator_states = t.method_instances.state()  # copies already (Method.state_dict)
        return _RunStreams(method_states, generator_states, t.noise_generator.get_state(), t.batches.state_dict())

    def _put_back(self, t: Trainer, streams: _RunStreams) -> None:
        t.method_instances.load(streams.methods, streams.method_generators)
        t.noise_generator.set_state(streams.noise_generator)
        t.batches.load_state_dict(streams.batches)

    def _batch(self) -> StackedBatch:
        rows = torch.stack([t.batches.next_rows() for t in self.runs]).to(self._inputs.device)
        # row i of group g is row g * N + i of the groups' tables one after the other
        index = (self._data_index.to(rows.device)[:, None] * self._inputs.shape[1] + rows).flatten()
        picked = [t.flatten(0, 1).index_select(0, index) for t in (self._inputs, self._model_mask, self._targets)]
        return StackedBatch(*(t.reshape(*rows.shape, -1) for t in picked))

    def step(self, runs: Sequence[int] | None = None) -> list[StepOutcome]:
        """One optimizer step of ``runs`` (default: all): per run its StepRecord, the
        TrainingError that rejected its step (the run is as it was before), or None for
        a run left out (it is untouched)."""
        started = time.perf_counter()
        stepping = set(range(len(self.runs)) if runs is None else runs)
        sizes = {_next_batch_size(t.batches) for t in self.runs}
        if len(sizes) > 1 or sizes.pop() % ALIGNED_ROWS:
            return self._step_alone(stepping)
        streams = [self._streams(t) for t in self.runs]
        self.state.save()
        forward = self._forward(
            self.state.params,
            self.state.buffers,
            self._batch(),
            self.architecture,
            [t.noise_generator for t in self.runs],
        )
        outcomes: dict[int, StepRecord | TrainingError] = {}
        finite = torch.isfinite(forward.loss)
        for objective in forward.objectives:  # as a Trainer's watch over the loss and every objective's columns
            finite = finite & torch.isfinite(objective.column_losses).all(-1)
        finite_loss = finite.tolist()
        for r in sorted(stepping):
            if not finite_loss[r]:
                outcomes[r] = self._loss_error(r, forward.column_losses[r], float(forward.loss[r]))
        combining = [r in stepping and r not in outcomes for r in range(len(self.runs))]
        gradients, combinations = self._combine(forward, combining)
        every = [per_run for row in combinations for per_run in row]  # each objective's, each representation's
        for per_run in every:
            outcomes.update({r: c for r, c in per_run.items() if isinstance(c, TrainingError) and r not in outcomes})
        self._backward(forward, gradients, combinations)
        params = list(self.state.params.values())
        grads_finite = _finite_lengths([p.grad for p in params])
        self.state.optimizer.step()
        weights_finite = _finite_lengths(params)
        lengths_finite = self._plain_lengths_finite(combinations)
        for r in sorted(stepping):
            # a Trainer's one watch over all three, its message naming the weights if they are bad
            if r not in outcomes and not (grads_finite[r] and weights_finite[r] and lengths_finite[r]):
                outcomes[r] = self._finite_error(r, "gradients" if weights_finite[r] else "weights")
        self.state.optimizer.zero_grad()
        seconds = (time.perf_counter() - started) / max(1, len(stepping))
        result: list[StepOutcome] = []
        for r, t in enumerate(self.runs):
            outcome = outcomes.get(r)
            if r not in stepping or outcome is not None:
                self.state.roll_back(r)
                self._put_back(t, streams[r])
                result.append(outcome)
                continue
            self._synced[r] = False
            combined = [per_run[r] for per_run in every]
            assert all(isinstance(c, Combination) for c in combined)
            result.append(self._record(r, forward, gradients[0][0], cast(list[Combination], combined), seconds))
        return result

    def _step_alone(self, stepping: set[int]) -> list[StepOutcome]:
        """Each run of ``stepping`` stepped by its own Trainer, then taken back into the stack."""
        result: list[StepOutcome] = []
        for r in range(len(self.runs)):
            if r not in stepping:
                result.append(None)
                continue
            t = self.trainer(r)
            try:
                result.append(t.step())
            except TrainingError as error:
                result.append(error)
            self.state.read_from(r, t.model, t.optimizer)
        return result

    def _combine(
        self, forward: StackedForward, combining: list[bool]
    ) -> tuple[list[list[RunGradients]], list[list[dict[int, Combination | TrainingError]]]]:
        """Per objective and shared representation, every run's gradients and its own
        method's combination of them."""
        runs = len(self.runs)
        layouts = [t.layout for t in self.runs]
        rescale = [t.config.rescale for t in self.runs]
        gradients: list[list[RunGradients]] = []
        combinations: list[list[dict[int, Combination | TrainingError]]] = []
        for j, objective in enumerate(forward.objectives):
            (d_outputs,) = torch.autograd.grad(objective.column_losses.sum(), forward.outputs, retain_graph=True)
            flat = d_outputs.reshape(runs, -1, d_outputs.shape[-1])
            losses = objective.column_losses.detach()
            gradients.append([])
            combinations.append([])
            for i, shared in enumerate(forward.shared):
                head = shared.weight
                gradients[j].append(RunGradients(flat, head, losses, run_gramians(flat, head, layouts[0]), layouts))
                methods = [
                    t.method_instances.rows[j][i] if ok else None for t, ok in zip(self.runs, combining, strict=True)
                ]
                combinations[j].append(combine_runs(gradients[j][i], methods, rescale))
        return gradients, combinations

    def _backward(
        self,
        forward: StackedForward,
        gradients: list[list[RunGradients]],
        combinations: list[list[dict[int, Combination | TrainingError]]],
    ) -> None:
        """Per objective, as a Trainer's ``backward_combined``: every run's combined directions
        through the shared representations (and so the trunk and encoder), the latent loss,
        and the heads' ordinary gradient, into the parameters the objective trains (a run
        without a combination sends none through the trunk)."""
        last = len(forward.objectives) - 1
        for j, (objective, grads, row) in enumerate(zip(forward.objectives, gradients, combinations, strict=True)):
            tensors, grad_tensors = [], []
            if objective.trains_heads:
                tensors.append(forward.outputs)
                grad_tensors.append(grads[0].d_outputs.reshape(forward.outputs.shape))
            for shared, per_run in zip(forward.shared, row, strict=True):
                directions = torch.zeros_like(shared.source)
                for r, combination in per_run.items():
                    if isinstance(combination, Combination):
                        directions[r] = combination.direction.reshape(shared.source.shape[1:])
                tensors.append(shared.source)
                grad_tensors.append(directions)
            if objective.latent_loss is not None:
                tensors.append(objective.latent_loss)
                grad_tensors.append(torch.ones_like(objective.latent_loss))
            torch.autograd.backward(
                tensors, grad_tensors, inputs=self._trained_by(objective.trains), retain_graph=j < last
            )

    @functools.cache  # noqa: B019 -- one trainer per stack; the stacked tensors are updated in place
    def _trained_by(self, part: str | None) -> list[Tensor]:
        """The stacked parameters of the first run's ``{part}_parameters()`` (None: all)."""
        if part is None:
            return list(self.state.params.values())
        model = self.runs[0].model
        names = {id(p): name for name, p in model.named_parameters()}
        return [self.state.params[names[id(p)]] for p in getattr(model, f"{part}_parameters")()]

    def _plain_lengths_finite(self, combinations: list[list[dict[int, Combination | TrainingError]]]) -> list[bool]:
        """Per run, False where a plain sum's direction is too long to measure: a Trainer
        rejects that step (a method's rescaling would have made it NaN)."""
        finite = [True] * len(self.runs)
        for j, row in enumerate(combinations):
            for i, per_run in enumerate(row):
                plain = {
                    r: c
                    for r, c in per_run.items()
                    if isinstance(c, Combination) and isinstance(self.runs[r].method_instances.rows[j][i], PlainSum)
                }
                if plain:
                    lengths = torch.stack([c.direction for c in plain.values()]).norm(dim=1)
                    for r, ok in zip(plain, torch.isfinite(lengths).tolist(), strict=True):
                        finite[r] = finite[r] and ok
        return finite

    def _loss_error(self, run: int, column_losses: Tensor, loss: float) -> TrainingError:
        t = self.runs[run]
        bad = (~torch.isfinite(column_losses)).nonzero().flatten()
        column = f" (column {t.features[int(bad[0])].name!r})" if len(bad) else ""
        return TrainingError(
            f"the loss became {loss} at step {t.step_count + 1}{column}; the step was rejected and the model "
            f"kept as it was. Try a lower learning rate (now {t.config.lr:g})."
        )

    def _finite_error(self, run: int, what: str) -> TrainingError:
        t = self.runs[run]
        undone = "rejected" if what == "gradients" else "rolled back"
        return TrainingError(
            f"{what} became infinite or NaN at step {t.step_count + 1}; the step was {undone}. "
            f"Try a lower learning rate (now {t.config.lr:g})."
        )

    def _record(
        self, run: int, forward: StackedForward, gradients: RunGradients, combined: list[Combination], seconds: float
    ) -> StepRecord:
        """As a Trainer records a step: the first objective's gradients and combination, converged
        where every objective's method converged."""
        t, config = self.runs[run], self.runs[run].config
        t.step_count += 1
        # cosines on every step for few columns, else every `cosine_every` steps, as a Trainer records them
        with_cos = len(t.features) <= config.cosine_max_columns or t.step_count % max(1, config.cosine_every) == 0
        rows, direction, weights = gradients.rows(run), combined[0].direction, combined[0].weights
        diagnostics = functools.partial(diagnose, rows, direction, weights, with_cos, gradients.gramians[run])
        column_losses = forward.column_losses[run].detach()
        return StepRecord(
            t.step_count,
            t.epoch,
            t.method,
            forward.loss[run],
            forward.kl[run],
            column_losses,
            diagnostics,
            seconds,
            converged=all(c.converged for c in combined),
        )


def _next_batch_size(batches: EpochBatches) -> int:
    """The number of rows ``batches.next_rows()`` will deal."""
    left = len(batches.order) - batches.position
    return min(batches.batch_size, left if left > 0 else len(batches.rows))


def _finite_lengths(tensors: Sequence[Tensor | None]) -> list[bool]:
    """Per run, whether the length of all of its slices of ``tensors`` together is finite
    (an overflowing length counts as not, as a Trainer's watch counts it)."""
    present = torch.cat([t.detach().flatten(1) for t in tensors if t is not None], 1)
    finite: list[bool] = torch.isfinite(torch.linalg.vector_norm(present, dim=1)).tolist()  # one read of the device
    return finite
