"""The lesson: its table, its claim (plain training overlooks region, the fix repairs
it) held to the numbers the README states for seeds 0 to 7, and the geometry of two
columns checked against closed forms computed in the gradients' own space. (Its link
parameters are tests/dashboard/test_links.py's.)"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.diagnostics import GradientDiagnostics
from core.errors import DataError
from core.inference import infer_schema
from core.lesson import (
    EVALUATE_EVERY,
    LESSON_COLUMNS,
    LESSON_METHOD,
    LESSON_METHODS,
    LESSON_STEPS,
    LESSON_TARGET,
    PLAIN,
    REGION_SHARES,
    LessonRun,
    column_plane,
    lesson_table,
)
from core.schema import ColumnType

CLAIM_SEEDS = range(5)


# --- the table ------------------------------------------------------------------------


def test_the_table_is_always_the_same_and_matches_its_schema():
    table, schema = lesson_table()
    assert table.equals(lesson_table()[0])
    assert tuple(schema.names) == LESSON_COLUMNS == tuple(table.columns)
    assert not table.isna().any().any()
    # the values alone say the schema's types, but for visitors: a count by the lesson's choice (a sharp
    # Poisson is what makes it loud), whose values in the thousands read as an amount
    inferred = infer_schema(table)
    assert [inferred[n].type for n in LESSON_COLUMNS[1:]] == [schema[n].type for n in LESSON_COLUMNS[1:]]
    assert schema["visitors"].type is ColumnType.COUNT
    assert inferred["visitors"].type is ColumnType.POSITIVE and "typical value" in inferred["visitors"].reason
    assert schema[LESSON_TARGET].type is ColumnType.CATEGORICAL


def test_region_has_the_designed_shares_and_one_clear_mode():
    table, _ = lesson_table()
    shares = table[LESSON_TARGET].value_counts(normalize=True)
    for region, share in REGION_SHARES.items():
        assert shares[region] == pytest.approx(share, abs=0.03)
    assert shares.idxmax() == max(REGION_SHARES, key=REGION_SHARES.get)
    assert shares.iloc[0] - shares.iloc[1] > 0.1


def test_visitors_dwarf_the_other_columns_and_region_is_independent_of_them():
    table, _ = lesson_table()
    assert table["visitors"].median() > 1000
    assert table["visitors"].corr(table["temperature"], method="spearman") > 0.5
    # region's class index carries no information about the season
    codes = table[LESSON_TARGET].map({r: i for i, r in enumerate(REGION_SHARES)})
    assert abs(codes.corr(table["temperature"], method="spearman")) < 0.08


# --- the claim ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def finished_runs() -> dict[int, LessonRun]:
    """Every claim seed trained plainly, then with the lesson's method (~2 s a seed)."""
    runs = {}
    for seed in CLAIM_SEEDS:
        run = LessonRun(seed)
        run.run_to_end(PLAIN)
        run.run_to_end(LESSON_METHOD)
        runs[seed] = run
    return runs


# What the README's lesson section claims, measured on seeds 0 to 7 by bench/lesson_seeds.py.
# A claim on "n of 8 seeds" allows as many exceptions among the seeds checked here as
# among all eight; every other bound holds on every seed checked.
NORM_RATIO_RANGE = (540, 2000)  # visitors' gradient over region's, last plain step
PLAIN_COSINE_NEAR_ZERO = 0.15  # |10-step mean| of the visitors/region cosine, end of plain training
FIX_WORST_COSINE_RANGE = (-0.97, -0.38)  # the fix's lowest 10-step mean
FIX_END_COSINE_RANGE = (-0.11, 0.22)  # the fix's last 10-step mean, "on 7 of 8 seeds"
FIX_ERROR = 0.12  # region's error after the fix, at most; "0.00 on 7 of 8 seeds"


def _windowed(values: np.ndarray, window: int = 10) -> np.ndarray:
    return np.convolve(values, np.ones(window) / window, mode="valid")


def _exceptions(flags: list[bool]) -> int:
    return sum(not flag for flag in flags)


@pytest.mark.parametrize("seed", CLAIM_SEEDS)
def test_plain_training_overlooks_the_target_and_the_method_fixes_it(finished_runs, seed):
    run = finished_runs[seed]
    target = run.names.index(LESSON_TARGET)
    plain = run.evaluations[PLAIN].scores
    fixed = run.evaluations[LESSON_METHOD].scores
    assert plain[target].overlooked, f"seed {seed}: plain training learnt {LESSON_TARGET}"
    assert not fixed[target].overlooked
    assert fixed[target].error <= FIX_ERROR and fixed[target].error <= 0.5 * plain[target].error
    # the fix takes nothing that matters from the others: none of them becomes overlooked
    assert not any(s.overlooked for s in fixed)


def test_the_claims_on_seven_of_eight_seeds_hold_on_the_seeds_checked(finished_runs):
    plain_at_guessing, fixed_perfectly, eased = [], [], []
    for run in finished_runs.values():
        target = run.names.index(LESSON_TARGET)
        plain = run.evaluations[PLAIN].scores[target]
        # "its error equals always guessing its most common class", to the 2 decimals stated
        plain_at_guessing.append(round(plain.error, 2) == round(plain.baseline_error, 2))
        fixed_perfectly.append(round(run.evaluations[LESSON_METHOD].scores[target].error, 2) == 0.0)
        end = _windowed(run.pair_cosines(LESSON_METHOD, "visitors", LESSON_TARGET))[-1]
        eased.append(FIX_END_COSINE_RANGE[0] <= end <= FIX_END_COSINE_RANGE[1])
    assert _exceptions(plain_at_guessing) <= 1
    assert _exceptions(fixed_perfectly) <= 1
    assert _exceptions(eased) <= 1


@pytest.mark.parametrize("seed", CLAIM_SEEDS)
def test_plain_training_drowns_the_target_out_rather_than_fighting_it(finished_runs, seed):
    run = finished_runs[seed]
    target = run.names.index(LESSON_TARGET)
    norms = run.latest[PLAIN].diagnostics.norms
    ratio = norms[run.names.index("visitors")] / norms[target]
    assert NORM_RATIO_RANGE[0] <= ratio <= NORM_RATIO_RANGE[1], f"seed {seed}: ratio {ratio:.0f}"
    # at right angles by the end: no conflict to see, only a difference in length
    assert abs(_windowed(run.pair_cosines(PLAIN, "visitors", LESSON_TARGET))[-1]) <= PLAIN_COSINE_NEAR_ZERO


@pytest.mark.parametrize("seed", CLAIM_SEEDS)
def test_the_fix_shows_the_conflict_for_the_code_and_it_resolves(finished_runs, seed):
    cosines = _windowed(finished_runs[seed].pair_cosines(LESSON_METHOD, "visitors", LESSON_TARGET))
    worst = cosines.min()
    low, high = FIX_WORST_COSINE_RANGE
    assert low <= worst <= high, f"seed {seed}: lowest cosine {worst:.2f} while {LESSON_TARGET} was learnt"
    # by the end it has eased to less than half, and to a cosine near 0
    assert cosines[-1] > worst / 2 and cosines[-1] > -0.2


def test_both_runs_start_from_the_same_weights_and_batches():
    run = LessonRun(3)
    # Step 1's loss is computed before the first update: the same start and batch give
    # the very same number, whichever method then combines the gradients.
    first = {}
    for method in (PLAIN, LESSON_METHOD):
        run.start(method)
        run.advance(1)
        first[method] = run.latest[method].loss
    assert first[PLAIN] == first[LESSON_METHOD]
    assert run.curves[PLAIN][0].errors.tolist() == run.curves[LESSON_METHOD][0].errors.tolist()


def test_a_run_stops_at_the_lesson_steps_and_is_evaluated_on_a_grid():
    run = LessonRun(7)
    run.start(PLAIN)
    assert not run.finished
    assert run.advance(LESSON_STEPS + 50) == LESSON_STEPS
    assert run.finished and run.advance(5) == 0
    assert [p.step for p in run.curves[PLAIN]] == list(range(0, LESSON_STEPS + 1, EVALUATE_EVERY))
    last = run.curves[PLAIN][-1]
    assert last.errors.tolist() == [s.error for s in run.evaluations[PLAIN].scores]
    assert last.overlooked.tolist() == [s.overlooked for s in run.evaluations[PLAIN].scores]
    cosines = run.pair_cosines(PLAIN, "visitors", LESSON_TARGET)
    i, j = run.names.index("visitors"), run.names.index(LESSON_TARGET)
    assert len(cosines) == LESSON_STEPS and cosines[-1] == run.latest[PLAIN].diagnostics.cosines[i, j]
    run.start(PLAIN)  # a new run forgets the old one's cosines
    assert len(run.pair_cosines(PLAIN, "visitors", LESSON_TARGET)) == 0
    with pytest.raises(RuntimeError):
        LessonRun(7).advance(1)


# --- the geometry -------------------------------------------------------------------------


def _diagnostics(grads: np.ndarray) -> GradientDiagnostics:
    gramian = grads @ grads.T
    norms = np.sqrt(np.diag(gramian))
    return GradientDiagnostics(
        norms=norms,
        cosines=gramian / np.outer(norms, norms),
        n_conflicts=None,
        weights=np.ones(len(grads)),
        direction_cosines=np.ones(len(grads)),
    )


def _plane_basis(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Gram-Schmidt in the gradients' own space: rows e1, e2."""
    e1 = first / np.linalg.norm(first)
    rest = second - (second @ e1) * e1
    return np.array([e1, rest / np.linalg.norm(rest)])


def _closed_forms(first: np.ndarray, second: np.ndarray) -> dict[str, np.ndarray]:
    """Each method on two gradients, in their own space, before rescaling."""
    total = first + second
    inner = first @ second
    if inner < 0:
        pcgrad = (first - inner / (second @ second) * second) + (second - inner / (first @ first) * first)
    else:
        pcgrad = total
    # min over t in [0, 1] of |t first + (1 - t) second|^2
    t = np.clip((second @ (second - first)) / ((first - second) @ (first - second)), 0.0, 1.0)
    # equal projections on both unit gradients, inside their span: along the bisector
    imtl = first / np.linalg.norm(first) + second / np.linalg.norm(second)
    return {PLAIN: total, "pcgrad": pcgrad, "mgda-ub": t * first + (1 - t) * second, "imtl-g": imtl}


pairs = st.tuples(st.integers(3, 6), st.integers(0, 2**32 - 1), st.floats(-3, 3)).map(lambda spec: _random_pair(*spec))


def _random_pair(dim: int, seed: int, log_ratio: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    grads = rng.normal(size=(3, dim))
    grads[1] *= 10.0**log_ratio  # lengths from 1000 times shorter to 1000 times longer
    return grads


@settings(max_examples=60, deadline=None)
@given(pairs)
def test_the_plane_matches_the_methods_computed_in_the_gradients_own_space(grads):
    names = ["a", "b", "c"]
    plane = column_plane(_diagnostics(grads), names, "b", "a")
    first, second = grads[1], grads[0]
    basis = _plane_basis(first, second)
    scale = np.linalg.norm(first) + np.linalg.norm(second)

    def close(plane_vector, space_vector):
        np.testing.assert_allclose(plane_vector @ basis, space_vector, atol=1e-9 * scale)

    close(plane.gradients[0], first)
    close(plane.gradients[1], second)
    assert plane.names == ("b", "a")
    assert plane.cosine == pytest.approx(first @ second / np.linalg.norm(first) / np.linalg.norm(second))
    np.testing.assert_allclose(plane.norms, np.linalg.norm([first, second], axis=1), rtol=1e-12)
    expected = _closed_forms(first, second)
    close(plane.plain_sum, expected[PLAIN])
    close(plane.min_norm_point, expected["mgda-ub"])
    close(plane.min_norm_weights @ plane.gradients, expected["mgda-ub"])
    assert plane.min_norm_weights.sum() == pytest.approx(1.0) and (plane.min_norm_weights >= 0).all()
    target = np.linalg.norm(expected[PLAIN])
    for method in (PLAIN, *LESSON_METHODS):
        # every direction has the plain sum's length, as in training
        direction = expected[method] / np.linalg.norm(expected[method]) * target
        close(plane.directions[method], direction)


@settings(max_examples=30, deadline=None)
@given(pairs)
def test_pcgrad_projections_remove_exactly_the_conflicting_part(grads):
    plane = column_plane(_diagnostics(grads), ["a", "b", "c"], "a", "b")
    first, second = plane.gradients
    projected = plane.pcgrad_projections
    scale = np.linalg.norm(first) * np.linalg.norm(second)
    if plane.cosine < 0:
        # each projected gradient is orthogonal to the other original one
        assert projected[0] @ second == pytest.approx(0.0, abs=1e-9 * scale)
        assert projected[1] @ first == pytest.approx(0.0, abs=1e-9 * scale)
    else:
        np.testing.assert_array_equal(projected, plane.gradients)
    np.testing.assert_allclose(
        projected.sum(axis=0) / np.linalg.norm(projected.sum(axis=0)),
        plane.directions["pcgrad"] / np.linalg.norm(plane.directions["pcgrad"]),
        atol=1e-9,
    )


def test_imtl_g_makes_equal_angles_and_mgda_takes_the_short_gradient_when_they_are_orthogonal():
    grads = np.array([[100.0, 0.0, 0.0], [0.0, 0.1, 0.0], [0.0, 0.0, 1.0]])
    plane = column_plane(_diagnostics(grads), ["long", "short", "other"], "long", "short")
    imtl = plane.directions["imtl-g"]
    angles = [math.degrees(math.acos(imtl @ g / np.linalg.norm(imtl) / np.linalg.norm(g))) for g in plane.gradients]
    assert angles == pytest.approx([45.0, 45.0])
    # the hull's closest point to 0 is nearly the short gradient itself
    assert plane.min_norm_weights[1] == pytest.approx(1.0, abs=1e-5)
    # no conflict: PCGrad is the plain sum
    np.testing.assert_allclose(plane.directions["pcgrad"], plane.plain_sum)


def test_opposite_gradients_leave_imtl_g_without_a_direction():
    grads = np.array([[2.0, 1.0], [-4.0, -2.0], [0.0, 1.0]])
    plane = column_plane(_diagnostics(grads), ["a", "b", "c"], "a", "b")
    np.testing.assert_allclose(plane.directions["imtl-g"], [0.0, 0.0], atol=1e-12)


def test_a_plane_needs_two_known_columns_and_the_cosines():
    diagnostics = _diagnostics(np.eye(3))
    names = ["a", "b", "c"]
    for first, second, named in (("a", "a", "'a'"), ("a", "z", "'z'")):
        with pytest.raises(DataError, match=named):
            column_plane(diagnostics, names, first, second)
    no_cosines = GradientDiagnostics(diagnostics.norms, None, None, diagnostics.weights, diagnostics.direction_cosines)
    with pytest.raises(DataError, match="cosines"):
        column_plane(no_cosines, names, "a", "b")


def test_the_plane_of_a_real_step_has_the_step_s_lengths_and_angle(finished_runs):
    run = finished_runs[0]
    diagnostics = run.latest[PLAIN].diagnostics
    plane = column_plane(diagnostics, run.names, "visitors", LESSON_TARGET)
    i, j = run.names.index("visitors"), run.names.index(LESSON_TARGET)
    np.testing.assert_allclose(plane.norms, diagnostics.norms[[i, j]], rtol=1e-6)
    assert plane.cosine == pytest.approx(diagnostics.cosines[i, j], abs=1e-6)


def test_vanished_columns_are_those_below_float32s_resolution_beside_the_largest():
    from core.diagnostics import GradientDiagnostics
    from core.lesson import vanished_columns

    eps = float(np.finfo(np.float32).eps)
    norms = np.array([4399.0, 6.08, 4399.0 * eps / 2, 4399.0 * eps * 2])
    # MGDA-UB's min-norm point gives weight 0 to a live column: weights say nothing of vanishing
    weights = np.array([0.0, 1.0, 0.0, 0.0])
    diagnostics = GradientDiagnostics(norms, None, None, weights, np.zeros(4))
    assert vanished_columns(diagnostics).tolist() == [False, False, True, False]
