"""The guided lesson on overlooked columns: its table, its fixed settings, its runs, and
the geometry of two columns' gradients.

The table is built so that plain training overlooks one column, fast. Each row is one
day at one store of a chain:

- ``visitors``: a count in the thousands, driven by a hidden "season". A Poisson
  likelihood on numbers that large is very sharp, so this column's gradient is far
  longer than the others';
- ``temperature``: a real column, also driven by the season, so it rides along with
  visitors;
- ``region``: a six-class categorical, independent of the other two, with one clearly
  most common class. Nothing else tells the model a row's region, so it must spend
  part of its latent code on it.

What the lesson shows (measured seed by seed in the README's lesson section, by
``python bench/lesson_seeds.py``):

1. Plain training: region is *drowned out*. Its gradient is far shorter than visitors'
   and at right angles to it (cosine near 0): the sum is visitors' pull, and region
   ends as overlooked, predicted by its most common class.
2. IMTL-G gives region an equal say, and the competition becomes visible: while
   region is being learnt, visitors and region want the same latent code, and their
   gradients point against each other (a clearly negative cosine). IMTL-G's step still
   improves both. Once region is learnt the conflict eases back towards 0 and region's
   error is near 0.

The gradients are taken with respect to the shared weights (the trainer's parameter
space) over the whole training split at every step. Over weights, rows add up, so the
competition for the code shows as a negative cosine; at the decoder's last shared
layer each row has its own coordinates, the cosine averages per-row agreement, and the
same competition stays near 0. The full batch keeps minibatch noise out of the picture.

The lesson's numbers (table size, network, learning rate, steps) were tuned so that this
holds for every seed tried, within LESSON_STEPS steps of a small network: short enough
to watch live.

The geometry works from what a training step already reports (``GradientDiagnostics``:
each column's gradient norm and the pairwise cosines): two gradients are fixed, up to
a rotation, by their lengths and the angle between them, so their coordinates in the
orthonormal basis Gram-Schmidt makes of them need no extra backward pass.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from core.diagnostics import GradientDiagnostics
from core.errors import DataError
from core.mtl import combine_gradients, make_method
from core.mtl.system import active_rows
from core.schema import Column, ColumnType, Schema
from core.trainer import Evaluation, StepRecord, TrainConfig, Trainer

# --- the table ------------------------------------------------------------------------

LESSON_ROWS = 2000
LESSON_TABLE_SEED = 0
# One clear mode: a model that knows nothing of a row's region predicts the mode alone
# and sits exactly at the baseline, instead of hovering around it.
REGION_SHARES = {"north": 0.10, "east": 0.15, "centre": 0.35, "south": 0.20, "west": 0.12, "coast": 0.08}
LESSON_TARGET = "region"
LESSON_COLUMNS = ("visitors", "temperature", LESSON_TARGET)


def lesson_table() -> tuple[pd.DataFrame, Schema]:
    """The lesson's table (always the same one) and its schema."""
    rng = np.random.default_rng(LESSON_TABLE_SEED)
    season = rng.normal(size=LESSON_ROWS)
    noise = rng.normal(size=(2, LESSON_ROWS))
    visitors = rng.poisson(np.exp(9.0 + 0.8 * season + 0.3 * noise[0]))
    temperature = np.round(15.0 + 6.0 * season + 2.0 * noise[1], 1)
    region = rng.choice(np.array(list(REGION_SHARES), dtype=object), size=LESSON_ROWS, p=list(REGION_SHARES.values()))
    table = pd.DataFrame({"visitors": visitors.astype(float), "temperature": temperature, "region": region})
    schema = Schema(
        (
            Column("visitors", ColumnType.COUNT, "lesson: visitors per day, in the thousands"),
            Column("temperature", ColumnType.REAL, "lesson: temperature that day, in °C"),
            Column("region", ColumnType.CATEGORICAL, "lesson: the store's region", categories=tuple(REGION_SHARES)),
        )
    )
    return table, schema


# --- the settings -----------------------------------------------------------------------

# Training steps of each run. By the end IMTL-G has learnt region and its gradient fades
# (below float32's resolution beside the others' it is left out of the step,
# ``core.mtl.system.active_rows``): the lesson stops while the picture is clean.
LESSON_STEPS = 120
EVALUATE_EVERY = 10  # steps between two evaluations of a run
LESSON_METHOD = "imtl-g"
# The methods whose geometry the lesson draws, and that a teacher may pick as the fix.
LESSON_METHODS = ("imtl-g", "mgda-ub", "pcgrad")
PLAIN = "none"
STAGES = {1: "Guess", 2: "Plain training", 3: "The fix", 4: "Why it works"}
MAX_SEED = 2**31 - 1


def lesson_config(seed: int) -> TrainConfig:
    """A small network and a high learning rate: the lesson must play out in seconds.
    Three latent dimensions leave room for region next to visitors and temperature, so
    the fix need not take anything from them; plain training still spends them all on
    visitors (its day-to-day noise can soak up any spare dimension). Every step sees the
    whole training split (a batch larger than the table), with gradients over the
    shared weights: see the module's docstring."""
    return TrainConfig(
        hidden=16,
        layers=2,
        latent=3,
        batch_size=LESSON_ROWS,
        lr=1e-2,
        dropout=0.0,
        gradient_space="parameters",
        seed=seed,
    )


@dataclass(frozen=True)
class LessonSetup:
    """Everything a shared link fixes: the stage, the two columns drawn in the gradient
    plane, the fix, the seed and whether the page is in presenter mode. Which values a
    lesson can use: a stage of STAGES, LESSON_COLUMNS (``plane_columns``), one of
    LESSON_METHODS, a seed from 0 to MAX_SEED."""

    stage: int = 1
    columns: tuple[str, str] = ("visitors", LESSON_TARGET)
    method: str = LESSON_METHOD
    seed: int = 0
    presenter: bool = False


def plane_columns(first: str, second: str, names: Sequence[str] = LESSON_COLUMNS) -> tuple[str, str]:
    """``(first, second)`` if they are two different columns of ``names``; else a DataError naming the bad one."""
    if first == second:
        raise DataError(f"pick two different columns for the gradient plane, not {first!r} twice")
    for name in (first, second):
        if name not in names:
            raise DataError(f"column {name!r} is not one of {', '.join(names)}")
    return first, second


# --- the runs ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ErrorPoint:
    step: int
    errors: np.ndarray  # (K,) per column, validation split
    overlooked: np.ndarray  # (K,) bool


class LessonRun:
    """One learner's way through the lesson: a Trainer on the lesson's table, trained
    first with the plain sum, then -- back at the very same initial weights and
    latent noise -- with the fix, so that the two runs differ only in their method."""

    def __init__(self, seed: int = 0):
        table, schema = lesson_table()
        self.trainer = Trainer(table, schema, lesson_config(seed))
        self.names = [c.name for c in self.trainer.features]
        self.table = table
        self.method: str | None = None  # the run going on now
        self.curves: dict[str, list[ErrorPoint]] = {}  # per method: its evaluations so far
        self.evaluations: dict[str, Evaluation] = {}  # per method: its latest evaluation
        self.latest: dict[str, StepRecord] = {}  # per method: its latest step
        self.cosines: dict[str, list[np.ndarray]] = {}  # per method: each step's K x K cosines

    def start(self, method: str) -> None:
        """A new run with ``method`` from step 0, replacing that method's earlier run."""
        self.trainer.set_method(method)
        self.trainer.reset()
        self.method = method
        self.curves[method] = []
        self.cosines[method] = []
        self.latest.pop(method, None)
        self._evaluate(method)

    @property
    def finished(self) -> bool:
        return self.method is not None and self.trainer.step_count >= LESSON_STEPS

    def advance(self, n_steps: int) -> int:
        """Up to ``n_steps`` steps of the current run, stopping at LESSON_STEPS; returns
        how many were done. A TrainingError (a step the Trainer rejected) propagates."""
        method = self.method
        if method is None:
            raise RuntimeError("start a run before advancing it")
        done = 0
        while done < n_steps and not self.finished:
            record = self.trainer.step()
            cosines = record.diagnostics.cosines
            # the trainer skips the cosines only for tables with many more columns than the lesson's
            assert cosines is not None, "a lesson step came without its cosines"
            self.latest[method] = record
            self.cosines[method].append(cosines)
            done += 1
            if self.trainer.step_count % EVALUATE_EVERY == 0 or self.finished:
                self._evaluate(method)
        return done

    def pair_cosines(self, method: str, first: str, second: str) -> np.ndarray:
        """The cosine between two columns' gradients at every step of ``method``'s run."""
        i, j = self.names.index(first), self.names.index(second)
        return np.array([c[i, j] for c in self.cosines.get(method, [])])

    def run_to_end(self, method: str) -> None:
        self.start(method)
        self.advance(LESSON_STEPS)

    def _evaluate(self, method: str) -> None:
        evaluation = self.trainer.evaluate("val")
        self.evaluations[method] = evaluation
        self.curves[method].append(
            ErrorPoint(
                self.trainer.step_count,
                np.array([s.error for s in evaluation.scores]),
                np.array([s.overlooked for s in evaluation.scores]),
            )
        )


# --- the geometry of two columns ------------------------------------------------------------


@dataclass(frozen=True)
class ColumnPlane:
    """Two columns' gradients (as the trainer computed them) and what each method makes of
    them, in the plane the two span. Coordinates are in the orthonormal basis that
    Gram-Schmidt builds from (first, second): the first gradient lies along the x axis,
    the second in the upper half-plane. Method directions are rescaled to the length of
    the plain sum, as in training (a method changes where a step goes, not its length)."""

    names: tuple[str, str]
    gradients: np.ndarray  # (2, 2): row i is column i's gradient
    cosine: float
    plain_sum: np.ndarray  # (2,)
    pcgrad_projections: np.ndarray  # (2, 2): each gradient after PCGrad's surgery
    min_norm_point: np.ndarray  # (2,) MGDA-UB's point of the segment between the two tips
    min_norm_weights: np.ndarray  # (2,) its convex weights on the two gradients
    directions: dict[str, np.ndarray]  # method -> (2,) direction, rescaled

    @property
    def norms(self) -> np.ndarray:
        return np.linalg.norm(self.gradients, axis=1)


def vanished_columns(diagnostics: GradientDiagnostics) -> np.ndarray:
    """The columns whose gradient vanished beside the others' at the step (float32 rows,
    ``active_rows``): a method solving for weights left them out of it."""
    norms = torch.as_tensor(np.asarray(diagnostics.norms, dtype=np.float64))
    return (~active_rows(norms, torch.float32)).numpy()


def column_plane(diagnostics: GradientDiagnostics, names: Sequence[str], first: str, second: str) -> ColumnPlane:
    """The plane of columns ``first`` and ``second`` at the step ``diagnostics`` describes."""
    plane_columns(first, second, names)
    if diagnostics.cosines is None:
        raise DataError("this step skipped the cosines (too many columns): no plane to draw")
    i, j = list(names).index(first), list(names).index(second)
    length_i, length_j = float(diagnostics.norms[i]), float(diagnostics.norms[j])
    cosine = float(np.clip(diagnostics.cosines[i, j], -1.0, 1.0))
    gradients = np.array([[length_i, 0.0], [length_j * cosine, length_j * math.sqrt(1.0 - cosine**2)]])
    matrix = torch.from_numpy(gradients)
    no_losses = torch.zeros(2, dtype=torch.float64)
    min_norm = make_method("mgda-ub").combine(matrix, no_losses)
    directions = {PLAIN: gradients.sum(axis=0)}
    for method in LESSON_METHODS:
        directions[method] = combine_gradients(make_method(method), matrix, no_losses).direction.numpy()
    return ColumnPlane(
        names=(first, second),
        gradients=gradients,
        cosine=cosine,
        plain_sum=directions[PLAIN],
        pcgrad_projections=_pcgrad_projections(gradients),
        min_norm_point=min_norm.direction.numpy(),
        min_norm_weights=min_norm.weights.numpy(),
        directions=directions,
    )


def _pcgrad_projections(gradients: np.ndarray) -> np.ndarray:
    """Each gradient with its component against the other removed, where they conflict.
    With two columns PCGrad's random order plays no part: each has one other to visit."""
    first, second = gradients
    inner = float(first @ second)
    if inner >= 0:
        return gradients.copy()
    # A conflict needs two nonzero gradients, so neither squared norm below is 0.
    return np.array([first - inner / float(second @ second) * second, second - inner / float(first @ first) * first])
