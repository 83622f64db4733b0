"""Step-by-step training of one model on one table, with per-column diagnostics.

The Trainer owns everything a run needs (split, encoder, model, optimizer, method
instances and three random streams) so that a dashboard can call ``step()`` between
page refreshes, swap the method between two steps, and reset to the very same
initial weights. Randomness is split in three streams -- minibatch order, model noise
(sampling, dropout), method noise (PCGrad order, GradDrop) -- so that runs that differ
only in their method see the same minibatches and the same noise.

Its settings are ``core.config.TrainConfig``, what it hands back ``core.records``, its
split and minibatch order ``core.splits``; those names are re-exported here.
"""

from __future__ import annotations

import copy
import io
import math
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from core.config import TrainConfig
from core.diagnostics import diagnose
from core.encoding import TableEncoder
from core.errors import DataError, TrainingError
from core.gradients import (
    ColumnLayout,
    backward_combined,
    backward_parameter_space,
    column_gradients,
    parameter_space_gradients,
)
from core.method_instances import GeneratorStates, MethodInstances, MethodStates
from core.metrics import mean_error, score_columns
from core.models import Batch, model_class
from core.mtl import Combination, combine_gradients
from core.mtl.system import DenseRows, GradientRows
from core.records import Evaluation, StepRecord
from core.schema import Schema
from core.splits import SPLIT_FRACTIONS, EpochBatches, split_indices

__all__ = ["SPLIT_FRACTIONS", "Evaluation", "StepRecord", "TrainConfig", "Trainer", "split_indices"]


@dataclass
class _Snapshot:
    """The state before a step, to put back if the step is rejected."""

    n_tensors: int  # weights and Adam moments, copied into the trainer's buffers
    methods: MethodStates
    method_generators: GeneratorStates
    noise_generator: torch.Tensor
    batches: dict[str, Any]


class Trainer:
    def __init__(
        self,
        table: pd.DataFrame,
        schema: Schema,
        config: TrainConfig | None = None,
        impute_mask: np.ndarray | None = None,
    ):
        self.config = (config or TrainConfig()).validate()
        self.schema = schema
        self.features = schema.features
        if len(self.features) < 1:
            raise DataError("no columns left to train on: every column is excluded")
        names = [c.name for c in self.features]
        missing = [n for n in names if n not in table.columns]
        if missing:
            raise DataError(f"column {missing[0]!r} of the schema is not in the table")
        data = table[names]
        self.device = torch.device(
            "cuda"
            if self.config.device == "auto" and torch.cuda.is_available()
            else ("cpu" if self.config.device == "auto" else self.config.device)
        )
        self.splits = split_indices(len(data), self.config.seed)
        if len(self.splits["train"]) < 2:
            raise DataError(f"the table has {len(data)} rows: too few to train on")
        # Cells hidden for the imputation test are unseen by the model everywhere.
        hidden = (
            np.zeros(data.shape, dtype=bool)
            if impute_mask is None
            else np.asarray(impute_mask, dtype=bool)[:, [list(table.columns).index(n) for n in names]]
        )
        visible = data.mask(hidden)
        self.encoder = TableEncoder(schema).fit(visible.iloc[self.splits["train"]])
        seen = self.encoder.transform(visible)
        full = self.encoder.transform(data)
        self.inputs = seen.inputs.to(self.device)
        self.model_mask = seen.mask.to(self.device)
        self.targets = full.targets.to(self.device)
        self.observed = full.mask.to(self.device)
        self.hidden = torch.as_tensor(hidden, device=self.device) & self.observed
        self.likelihood = self.encoder.likelihood().to(self.device)
        self.layout = ColumnLayout(self.likelihood.param_owner, len(self.features)).to(self.device)
        self._build(self.config.method)

    # --- construction -----------------------------------------------------------
    def _build(self, method: str) -> None:
        cfg = self.config
        k = len(self.features)
        latent = cfg.latent or max(1, round(0.5 * k))
        cls = model_class(cfg.model)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            sizes = (self.encoder.input_dim, k, latent, cfg.hidden, cfg.layers)
            model = cls(self.likelihood, *sizes, dropout=cfg.dropout, beta=cfg.beta, **cfg.model_keywords())
            self.model = model.to(self.device)
        self.params = list(self.model.parameters())
        self.optimizer = torch.optim.Adam(self.params, lr=cfg.lr, foreach=True)
        self.batches = EpochBatches(self.splits["train"], cfg.batch_size, cfg.seed)
        self.noise_generator = torch.Generator(device=self.device).manual_seed(cfg.seed + 1)
        self.step_count = 0
        self._buffers: list[torch.Tensor] = []
        self.set_method(method)

    def set_method(self, spec: str) -> None:
        """Use ``spec`` from the next step on; model and optimizer state are kept."""
        cls = model_class(self.config.model)
        n_shared = 1 if self.config.gradient_space == "parameters" else len(cls.SHARED)
        self.method_instances = MethodInstances(
            spec, len(cls.OBJECTIVES), n_shared, self.config.seed, self.config.method_options
        )
        self.methods = self.method_instances.rows
        self.method = spec
        self.config.method = spec

    def reset(self) -> None:
        """Back to step 0 with the same seed: the same initial weights and batches."""
        self._build(self.method)

    # --- training ---------------------------------------------------------------
    @property
    def steps_per_epoch(self) -> int:
        n = len(self.splits["train"])
        return max(1, math.ceil(n / self.config.batch_size))

    @property
    def epoch(self) -> float:
        return self.batches.epoch

    @property
    def batch_generator(self) -> torch.Generator:
        """The random stream of minibatch order."""
        return self.batches.generator

    def _next_batch_rows(self) -> torch.Tensor:
        return self.batches.next_rows().to(self.device)

    def _batch(self, rows: torch.Tensor) -> Batch:
        return Batch(self.inputs[rows], self.model_mask[rows], self.targets[rows])

    def _state_tensors(self) -> list[torch.Tensor]:
        """What an optimizer step changes in place: the weights and Adam's moments."""
        tensors = [p.detach() for p in self.params]
        for p in self.params:
            tensors += [v for v in self.optimizer.state.get(p, {}).values() if torch.is_tensor(v)]
        return tensors

    def _snapshot(self) -> _Snapshot:
        """The state before a step, its tensors copied into preallocated buffers: in place,
        which is much cheaper than a deep copy of the optimizer's state dict."""
        tensors = self._state_tensors()
        if len(self._buffers) != len(tensors):
            self._buffers = [t.clone() for t in tensors]
        else:
            torch._foreach_copy_(self._buffers, tensors)
        method_states, generator_states = self.method_instances.state()
        return _Snapshot(
            len(tensors),
            copy.deepcopy(method_states),
            generator_states,
            self.noise_generator.get_state(),
            self.batches.state_dict(),
        )

    def _restore(self, snap: _Snapshot) -> None:
        tensors = self._state_tensors()
        with torch.no_grad():
            if len(tensors) == snap.n_tensors:
                torch._foreach_copy_(tensors, self._buffers[: snap.n_tensors])
            else:  # the rejected step was the first: Adam had no moments before it
                params = [p.detach() for p in self.params]
                torch._foreach_copy_(params, self._buffers[: len(params)])
                self.optimizer.state.clear()
        self.method_instances.load(snap.methods, snap.method_generators)
        self.noise_generator.set_state(snap.noise_generator)
        self.batches.load_state_dict(snap.batches)
        self.optimizer.zero_grad(set_to_none=True)

    def step(self) -> StepRecord:
        """One optimizer step. A non-finite loss, gradient or weight rejects the step and
        restores the state from before it; TrainingError says what happened."""
        started = time.perf_counter()
        snapshot = self._snapshot()
        try:
            record = self._step(started)
        except TrainingError:
            self._restore(snapshot)
            raise
        return record

    def _step(self, started: float) -> StepRecord:
        self.model.train()
        batch = self._batch(self._next_batch_rows())
        forward = self.model.forward_tasks(batch, self.noise_generator)
        losses = [o.column_losses for o in forward.objectives]
        if not torch.isfinite(forward.loss) or not all(torch.isfinite(l).all() for l in losses):
            bad = self._first_bad_column(losses[0])
            raise TrainingError(
                f"the loss became {float(forward.loss)} at step {self.step_count + 1}"
                f"{bad}; the step was rejected and the model kept as it was. "
                f"Try a lower learning rate (now {self.config.lr:g})."
            )
        self.optimizer.zero_grad(set_to_none=True)
        params = self.params
        grads = column_gradients(forward, self.layout)
        first: tuple[GradientRows, Combination] | None = None
        if self.config.gradient_space == "parameters":
            shared = self._shared_parameters()
            for j, g in enumerate(grads):
                # One Gramian for the method and the diagnostics.
                matrix = DenseRows(parameter_space_gradients(forward, g, shared))
                comb = combine_gradients(
                    self.methods[j][0], matrix, g.objective.column_losses.detach(), rescale=self.config.rescale
                )
                backward_parameter_space(forward, g, comb.direction, shared, params)
                if first is None:
                    first = (matrix, comb)
        else:
            directions = []
            for j, g in enumerate(grads):
                row = []
                for r, column_rows in enumerate(g.per_representation):
                    comb = combine_gradients(
                        self.methods[j][r], column_rows, g.objective.column_losses.detach(), rescale=self.config.rescale
                    )
                    row.append(comb.direction)
                    if first is None:
                        first = (column_rows, comb)
                directions.append(row)
            backward_combined(forward, grads, directions, params)
        if not _all_finite([p.grad for p in params if p.grad is not None]):
            raise TrainingError(
                f"gradients became infinite or NaN at step {self.step_count + 1}; the step "
                f"was rejected. Try a lower learning rate (now {self.config.lr:g})."
            )
        self.optimizer.step()
        if not _all_finite([p.detach() for p in params]):
            raise TrainingError(
                f"weights became infinite or NaN at step {self.step_count + 1}; the step was "
                f"rolled back. Try a lower learning rate (now {self.config.lr:g})."
            )
        self.step_count += 1
        k = len(self.features)
        with_cos = k <= self.config.cosine_max_columns or self.step_count % max(1, self.config.cosine_every) == 0
        assert first is not None  # every model has an objective and a shared representation
        rows, comb = first
        return StepRecord(
            step=self.step_count,
            epoch=self.epoch,
            method=self.method,
            loss=float(forward.loss),
            kl=float(forward.kl),
            column_losses=losses[0].detach().cpu().numpy().astype(np.float64),
            diagnostics=diagnose(rows, comb.direction, comb.weights, with_cos),
            seconds=time.perf_counter() - started,
        )

    def _first_bad_column(self, losses: torch.Tensor) -> str:
        bad = (~torch.isfinite(losses)).nonzero().flatten()
        return f" (column {self.features[int(bad[0])].name!r})" if len(bad) else ""

    def _shared_parameters(self) -> list[torch.nn.Parameter]:
        """Parameters below the shared representations: the trunk and the encoder."""
        head = {id(p) for p in self.model.head_parameters()}
        return [p for p in self.model.parameters() if id(p) not in head]

    # --- evaluation -------------------------------------------------------------
    @torch.no_grad()
    def reconstruct(self, rows: np.ndarray | torch.Tensor, chunk: int = 8192) -> torch.Tensor:
        """Each column's mode given the mean of q(z|x) -- the paper's reconstruction."""
        self.model.eval()
        rows = torch.as_tensor(rows, device=self.device)
        out = [
            self.likelihood.mode(self.model.reconstruct(self._batch(rows[i : i + chunk])))
            for i in range(0, len(rows), chunk)
        ]
        self.model.train()
        return torch.cat(out) if out else self.targets[:0]

    def reconstructed_table(self, split: str | None = None) -> pd.DataFrame:
        """The table as the model rebuilds it, in original units and labels: every cell
        (observed, missing or hidden) gets the mode given the mean of q(z|x), so
        missing cells come back imputed. ``split=None``: all rows, in table order."""
        rows = np.arange(len(self.targets)) if split is None else self.splits[split]
        return self.encoder.decode(self.reconstruct(rows).cpu()).set_axis(rows, axis=0)

    @torch.no_grad()
    def sample_table(self, n: int, seed: int = 0) -> pd.DataFrame:
        """``n`` new rows drawn from the model: z from the prior, then each likelihood."""
        gen = torch.Generator(device=self.device).manual_seed(seed)
        self.model.eval()
        params = self.model.generate(n, gen)
        self.model.train()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            samples = self.likelihood.sample(params)
        return self.encoder.decode(samples.cpu())

    def evaluate(self, split: str = "test", max_rows: int | None = None) -> Evaluation:
        if split not in self.splits:
            raise DataError(f"unknown split {split!r} (expected train, val or test)")
        rows = self.splits[split]
        if max_rows is not None and len(rows) > max_rows:
            rows = rows[np.linspace(0, len(rows) - 1, max_rows).round().astype(int)]
        rows_t = torch.as_tensor(rows, device=self.device)
        pred = self.reconstruct(rows_t)
        true = self.targets[rows_t]
        baseline = self.encoder.baseline_targets()
        seen = self.model_mask[rows_t]
        scores = score_columns(self.features, true.cpu(), pred.cpu(), seen.cpu(), baseline)
        result = Evaluation(split, scores, mean_error(scores))
        hidden = self.hidden[rows_t]
        if bool(hidden.any()):
            imp = score_columns(self.features, true.cpu(), pred.cpu(), hidden.cpu(), baseline)
            result.imputation_scores, result.imputation_mean_error = imp, mean_error(imp)
        return result

    # --- checkpoints --------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        method_states, generator_states = self.method_instances.state()
        return {
            "config": asdict(self.config),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "methods": method_states,
            "noise_generator": self.noise_generator.get_state(),
            "method_generators": generator_states,
            **self.batches.state_dict(),
            "step": self.step_count,
            "encoder": self.encoder.state_dict(),
            "schema": self.schema.to_json(None),
        }

    def state_bytes(self) -> bytes:
        """``state_dict()`` as ``torch.save`` writes it: a checkpoint to hand out as a download."""
        buffer = io.BytesIO()
        torch.save(self.state_dict(), buffer)
        return buffer.getvalue()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["config"]["method"] != self.method:
            self.set_method(state["config"]["method"])
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.method_instances.load(state["methods"], state["method_generators"])
        self.batches.load_state_dict(state)
        self.noise_generator.set_state(state["noise_generator"])
        self.step_count = state["step"]


def _all_finite(tensors: list[torch.Tensor]) -> bool:
    # One fused norm instead of a check per tensor: any inf or NaN makes it non-finite.
    return bool(torch.isfinite(torch.nn.utils.get_total_norm(tensors, error_if_nonfinite=False)))
