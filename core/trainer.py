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

import functools
import io
import math
import time
from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd
import torch

from core.backward import combined_backward, parameter_space_backward, plain_backward
from core.config import TrainConfig
from core.diagnostics import diagnose
from core.encoding import TableEncoder
from core.errors import DataError, TrainingError
from core.gradients import ColumnLayout
from core.likelihoods import TableLikelihood
from core.method_instances import MethodInstances
from core.metrics import mean_error, score_columns
from core.models import Batch, TabularVAE, TaskForward, model_class
from core.mtl.plain_sum import PlainSum
from core.records import Evaluation, StepRecord
from core.rollback import FiniteWatch, StepRollback
from core.schema import Schema
from core.splits import SPLIT_FRACTIONS, EpochBatches, split_indices

__all__ = ["SPLIT_FRACTIONS", "Evaluation", "StepRecord", "TrainConfig", "Trainer", "split_indices"]


def build_model(config: TrainConfig, likelihood: TableLikelihood, input_dim: int, n_features: int) -> TabularVAE:
    """The untrained model ``config`` describes, its weights drawn from ``config.seed``."""
    latent = config.latent or max(1, round(0.5 * n_features))
    cls = model_class(config.model)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        sizes = (input_dim, n_features, latent, config.hidden, config.layers)
        return cls(likelihood, *sizes, dropout=config.dropout, beta=config.beta, **config.model_keywords())


class Trainer:
    def __init__(
        self,
        table: pd.DataFrame,
        schema: Schema,
        config: TrainConfig | None = None,
        impute_mask: np.ndarray | None = None,
        splits: dict[str, np.ndarray] | None = None,
    ):
        """``splits``: row positions of "train", "val" and "test" (default: ``split_indices``)."""
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
        self.splits = splits if splits is not None else split_indices(len(data), self.config.seed)
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
        self.model = build_model(cfg, self.likelihood, self.encoder.input_dim, len(self.features)).to(self.device)
        self.params = list(self.model.parameters())
        self.optimizer = torch.optim.Adam(self.params, lr=cfg.lr, foreach=True)
        self.batches = EpochBatches(self.splits["train"], cfg.batch_size, cfg.seed)
        self.noise_generator = torch.Generator(device=self.device).manual_seed(cfg.seed + 1)
        self.step_count = 0
        self._rollback = StepRollback(self.model, self.optimizer)
        self._finite = FiniteWatch(self.device)
        self.set_method(method)

    def set_method(self, spec: str) -> None:
        """Use ``spec`` from the next step on; model and optimizer state are kept."""
        cls = model_class(self.config.model)
        n_shared = 1 if self.config.gradient_space == "parameters" else len(cls.SHARED)
        self.method_instances = MethodInstances(
            spec, len(cls.OBJECTIVES), n_shared, self.config.seed, self.config.method_options
        )
        self.methods = self.method_instances.rows
        # The plain sum needs no method call: its direction is the plain gradient (core.backward).
        self._plain = self.config.gradient_space == "representation" and all(
            isinstance(m, PlainSum) for row in self.methods for m in row
        )
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
        return Batch(
            self.inputs.index_select(0, rows), self.model_mask.index_select(0, rows), self.targets.index_select(0, rows)
        )

    def step(self) -> StepRecord:
        """One optimizer step. A non-finite loss, gradient or weight rejects the step and
        restores the state from before it; TrainingError says what happened.

        A plain step reads the device once, at its end (the finiteness flag; a method's step
        also before combining, and in its solver), and its record's values (the losses as
        floats, the gradient diagnostics) are computed only when read (``core.records``)."""
        started = time.perf_counter()
        self._rollback.save(self.method_instances, self.noise_generator, self.batches)
        try:
            record = self._step(started)
        except TrainingError:
            self._rollback.restore(self.method_instances, self.noise_generator, self.batches)
            raise
        return record

    def _step(self, started: float) -> StepRecord:
        if not self.model.training:
            self.model.train()
        batch = self._batch(self._next_batch_rows())
        forward = self.model.forward_tasks(batch, self.noise_generator)
        watch = self._finite
        watch.reset()
        watch.watch([_loss_total(forward)])
        self.optimizer.zero_grad(set_to_none=True)
        params = self.params
        if self._plain:
            first, lengths = plain_backward(forward, self.layout, params)
            watch.watch(lengths)
        else:
            if watch.tripped():  # before a method sees the losses (stateful ones keep what they see)
                raise self._loss_error(forward)
            if self.config.gradient_space == "parameters":
                first = parameter_space_backward(
                    forward, self.layout, self.methods, params, self._shared_parameters(), self.config.rescale
                )
            else:
                first = combined_backward(forward, self.layout, self.methods, params, self.config.rescale)
        watch.watch_length([p.grad for p in params if p.grad is not None])
        self.optimizer.step()
        watch.watch_length(params)
        if watch.tripped():
            raise self._non_finite_error(forward)
        self.step_count += 1
        k = len(self.features)
        with_cos = k <= self.config.cosine_max_columns or self.step_count % max(1, self.config.cosine_every) == 0
        return StepRecord(
            step=self.step_count,
            epoch=self.epoch,
            method=self.method,
            loss=forward.loss,
            kl=forward.kl,
            column_losses=forward.objectives[0].column_losses.detach(),
            diagnostics=functools.partial(diagnose, first.rows, first.direction, first.weights, with_cos),
            seconds=time.perf_counter() - started,
            converged=first.converged,
        )

    def _non_finite_error(self, forward: TaskForward) -> TrainingError:
        """What went wrong in a step whose watch was tripped: the loss, the gradients or the weights."""
        if not bool(torch.isfinite(_loss_total(forward))):
            return self._loss_error(forward)
        weights = torch.linalg.vector_norm(torch.stack(torch._foreach_norm([p.detach() for p in self.params])))
        if bool(torch.isfinite(weights)):  # then the gradients (their values or their length)
            return TrainingError(
                f"gradients became infinite or NaN at step {self.step_count + 1}; the step "
                f"was rejected. Try a lower learning rate (now {self.config.lr:g})."
            )
        return TrainingError(
            f"weights became infinite or NaN at step {self.step_count + 1}; the step was "
            f"rolled back. Try a lower learning rate (now {self.config.lr:g})."
        )

    def _loss_error(self, forward: TaskForward) -> TrainingError:
        losses = forward.objectives[0].column_losses
        bad = (~torch.isfinite(losses)).nonzero().flatten()
        column = f" (column {self.features[int(bad[0])].name!r})" if len(bad) else ""
        return TrainingError(
            f"the loss became {float(forward.loss)} at step {self.step_count + 1}"
            f"{column}; the step was rejected and the model kept as it was. "
            f"Try a lower learning rate (now {self.config.lr:g})."
        )

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


def _loss_total(forward: TaskForward) -> torch.Tensor:
    """The reported loss plus every objective's column losses: finite only if all of them are."""
    total = forward.loss.detach()
    for objective in forward.objectives:
        total = total + objective.column_losses.detach().sum()
    return total
