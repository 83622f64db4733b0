"""The learn view's figures and their one-sentence readings: each reading must say what
its figure shows, with numbers recomputed here from the geometry or the scores."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from core.diagnostics import GradientDiagnostics
from core.lesson import LESSON_STEPS, PLAIN, ErrorPoint, column_plane
from core.metrics import OVERLOOK_RATIO, ColumnScore
from core.schema import ColumnType
from dashboard.charts.lesson import (
    CONFLICT_WINDOW,
    METHOD_LABELS,
    alignment_bars,
    alignment_reading,
    conflict_curves,
    conflict_reading,
    cosine_grid,
    cosine_reading,
    curve_reading,
    error_curves,
    pair_trend,
    possessive,
    verdict_reading,
)
from dashboard.charts.plane import plane_figure, plane_reading
from dashboard.charts.training import column_colours

NAMES = ["visitors", "temperature", "region"]
PLANE_NAMES = ["other", "short", "long"]


def _score(name, error, baseline, kind=ColumnType.CATEGORICAL):
    return ColumnScore(name, kind, error, baseline, error >= OVERLOOK_RATIO * baseline, None)


def _plane(grads, first="long", second="short"):
    grads = np.asarray(grads, dtype=float)
    gramian = grads @ grads.T
    norms = np.sqrt(np.diag(gramian))
    with np.errstate(invalid="ignore", divide="ignore"):
        cosines = np.nan_to_num(gramian / np.outer(norms, norms))
    diagnostics = GradientDiagnostics(norms, cosines, None, np.ones(len(grads)), np.ones(len(grads)))
    return column_plane(diagnostics, ["long", "short", "other"][: len(grads)], first, second)


def _numbers(text: str) -> list[float]:
    return [float(n.replace(",", "").replace("−", "-")) for n in re.findall(r"−?[\d,]*\.?\d+", text)]


# --- readings -----------------------------------------------------------------------------------


def test_verdict_names_the_overlooked_column_and_the_guess_it_does_not_beat():
    scores = [
        _score("visitors", 0.04, 0.17, ColumnType.COUNT),
        _score("temperature", 0.09, 0.19, ColumnType.REAL),
        _score("region", 0.685, 0.685),
    ]
    reading = verdict_reading(scores)
    assert reading.startswith("region is overlooked")
    assert "most common class" in reading and _numbers(reading) == [0.69, 0.69]
    numeric = verdict_reading([_score("visitors", 0.16, 0.17, ColumnType.COUNT), _score("region", 0.1, 0.6)])
    assert numeric.startswith("visitors is overlooked") and "its mean" in numeric


def test_verdict_with_no_or_several_overlooked_columns():
    assert verdict_reading([_score("a", 0.1, 0.5), _score("b", 0.2, 0.5)]).startswith("No column is overlooked")
    several = verdict_reading([_score("a", 0.5, 0.5), _score("b", 0.2, 0.5), _score("c", 0.6, 0.6)])
    assert several.startswith("2 columns are overlooked, a and c")


def test_curve_reading_gives_each_run_s_last_error_and_the_overlook_line():
    plain = [
        ErrorPoint(0, np.array([0.5, 0.5, 0.8]), np.zeros(3, bool)),
        ErrorPoint(LESSON_STEPS, np.array([0.1, 0.2, 0.69]), np.zeros(3, bool)),
    ]
    fixed = [
        ErrorPoint(0, np.array([0.5, 0.5, 0.8]), np.zeros(3, bool)),
        ErrorPoint(60, np.array([0.1, 0.2, 0.31]), np.zeros(3, bool)),
    ]
    reading = curve_reading({PLAIN: plain, "imtl-g": fixed}, NAMES, "region", baseline_error=0.7)
    assert reading == (
        f"region's error: 0.69 after {LESSON_STEPS} steps of plain training; 0.31 after 60 steps "
        f"of IMTL-G (overlooked from {OVERLOOK_RATIO * 0.7:.2f} up)."
    )


@pytest.mark.parametrize(
    "cosines, pattern",
    [
        ([0.58, 0.6, 0.57], r"^With IMTL-G, the step lines up equally with every column \(cosine 0\.58\)\.$"),
        ([1.0, 0.12, 0.02], r"follows visitors \(cosine 1\.00\) and does almost nothing for region \(0\.02\)"),
        ([0.9, -0.3, 0.2], r"follows visitors \(cosine 0\.90\) and works against temperature \(−0\.30\)"),
        ([0.9, 0.5, 0.3], r"follows visitors \(cosine 0\.90\) most and region least \(0\.30\), but helps every"),
    ],
)
def test_alignment_reading_follows_the_cosines(cosines, pattern):
    assert re.search(pattern, alignment_reading(NAMES, np.array(cosines), "imtl-g"))


def test_alignment_reading_says_which_learnt_column_the_step_leaves_out():
    reading = alignment_reading(NAMES, np.array([0.88, 0.87, -0.07]), "imtl-g", np.array([False, False, True]))
    assert reading == (
        "With IMTL-G, the step lines up equally with every column it still trains (cosine 0.88). "
        "region is learnt: its gradient vanished beside the others', so the step leaves it out."
    )
    # every column vanished (a zero step): read on all of them; the plain sum leaves none out
    assert "leaves it out" not in alignment_reading(NAMES, np.array([0.9, 0.5, 0.3]), "imtl-g", np.ones(3, bool))
    assert "leaves it out" not in alignment_reading(NAMES, np.array([0.9, 0.5, 0.3]), PLAIN, np.array([0, 0, 1]))
    equal = alignment_reading(NAMES, np.array([0.58, 0.6, 0.57]), "imtl-g", np.zeros(3, bool))
    assert equal.endswith("every column (cosine 0.58).")


def test_alignment_reading_names_the_plain_sum():
    assert alignment_reading(NAMES, np.array([1.0, 0.1, 0.0]), PLAIN).startswith("With the plain sum, the step")


def _cosines(ab, ac, bc):
    return np.array([[1.0, ab, ac], [ab, 1.0, bc], [ac, bc, 1.0]])


def test_cosine_reading_names_the_most_opposed_pair_and_counts_conflicts():
    reading = cosine_reading(NAMES, _cosines(-0.62, -0.05, 0.3))
    assert reading == "visitors and temperature pull in opposite directions (cosine −0.62); 2 of 3 pairs conflict."
    slight = cosine_reading(NAMES, _cosines(0.1, -0.15, 0.3))
    assert slight == "visitors and region pull slightly apart (cosine −0.15); 1 of 3 pairs conflict."


def test_cosine_reading_of_nearly_orthogonal_and_of_agreeing_gradients():
    orthogonal = cosine_reading(NAMES, _cosines(0.02, -0.01, 0.05))
    assert "nearly at right angles" in orthogonal and _numbers(orthogonal) == [-0.01, 0.05]
    agreeing = cosine_reading(NAMES, _cosines(0.4, -0.05, 0.7))
    assert agreeing == "No pair really conflicts (lowest cosine −0.05); temperature and region agree most (0.70)."


def test_plane_reading_of_a_long_and_a_short_gradient_at_right_angles():
    plane = _plane([[1000.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    plain = plane_reading(plane, PLAIN)
    assert plain.startswith("long's gradient is 1,000× as long as short's, at 90° to it")
    # the sum of (1000, 0) and (0, 1) is atan(1/1000) away from the long one
    assert plain.endswith(f"points {math.degrees(math.atan(1e-3)):.1f}° from long.")
    assert "equal angles to both (45°)" in plane_reading(plane, "imtl-g")
    mgda = plane_reading(plane, "mgda-ub")
    assert "puts 100% of its weight on short" in mgda and mgda.endswith("0° from short.")
    assert "do not conflict (cosine 0.00), so PCGrad keeps the plain sum" in plane_reading(plane, "pcgrad")


def test_plane_reading_of_conflicting_gradients_under_pcgrad():
    plane = _plane([[2.0, 0.0], [-1.0, 1.0]])  # 135° apart
    reading = plane_reading(plane, "pcgrad")
    assert "at 135° to it" in reading and "they conflict (cosine −0.71)" in reading
    # PCGrad: (2, 0) loses its part along (-1, 1) -> (1, 1); (-1, 1) loses its part along (2, 0) -> (0, 1);
    # their sum (1, 2) is atan(2) from long and 45° - ... from short: recomputed here
    direction = np.array([1.0, 2.0])
    from_long = math.degrees(math.acos(direction @ [2, 0] / np.linalg.norm(direction) / 2))
    from_short = math.degrees(math.acos(direction @ [-1, 1] / np.linalg.norm(direction) / math.sqrt(2)))
    assert reading.endswith(f"lies {from_long:.0f}° from long and {from_short:.0f}° from short.")


def test_plane_reading_of_gradients_of_about_the_same_length():
    plane = _plane([[1.0, 0.0], [1.05, 1.05 * math.sqrt(3)]])  # 60° apart, lengths 1 and 2.1
    assert plane_reading(plane, PLAIN).startswith("short's gradient is 2.1× as long as long's, at 60° to it")
    similar = _plane([[1.0, 0.0], [0.5, 0.5 * math.sqrt(3)]])  # 60° apart, equal lengths
    assert plane_reading(similar, PLAIN).startswith(
        "long's and short's gradients are about as long as each "
        "other, 60° apart, so their plain sum points 30.0° from long"
    )


def test_plane_reading_of_opposite_and_of_silent_gradients():
    opposite = _plane([[2.0, 0.0], [-3.0, 0.0]])
    assert "finds no direction that helps both" in plane_reading(opposite, "imtl-g")
    silent = _plane([[2.0, 1.0], [0.0, 0.0]])
    assert plane_reading(silent, PLAIN).startswith("short has no gradient at this step")


def test_possessive():
    assert possessive("region") == "region's" and possessive("visitors") == "visitors'"


# --- figures -----------------------------------------------------------------------------------


def test_error_curves_draw_the_target_s_errors_and_the_overlook_line():
    points = [ErrorPoint(s, np.array([0.1, 0.2, e]), np.zeros(3, bool)) for s, e in ((0, 0.8), (10, 0.7))]
    fig = error_curves({PLAIN: points}, NAMES, "region", baseline_error=0.75)
    (trace,) = fig.data
    assert list(trace.x) == [0, 10] and list(trace.y) == [0.8, 0.7] and trace.name == METHOD_LABELS[PLAIN]
    line = next(s for s in fig.layout.shapes if s.type == "line")
    assert line.y0 == line.y1 == pytest.approx(OVERLOOK_RATIO * 0.75)
    assert fig.layout.yaxis.range[1] >= 0.8


def test_alignment_bars_and_cosine_grid_draw_the_numbers_they_are_given():
    cosines = np.array([1.0, 0.12, -0.3])
    bars = alignment_bars(NAMES, cosines, PLAIN)
    assert list(bars.data[0].x) == list(cosines) and list(bars.data[0].y) == NAMES
    assert list(bars.data[0].text) == ["1.00", "0.12", "−0.30"]
    grid = _cosines(-0.62, 0.0, 0.3)
    heatmap = cosine_grid(NAMES, grid).data[0]
    np.testing.assert_array_equal(np.asarray(heatmap.z), grid)
    assert heatmap.text[0][1] == "−0.62" and (heatmap.zmin, heatmap.zmax) == (-1, 1)


def _arrow_tips(fig) -> dict[str, np.ndarray]:
    return {
        t.name: np.array([t.x[1], t.y[1]])
        for t in fig.data
        if t.mode == "lines" and t.x[0] == 0 == t.y[0] and t.showlegend is not False
    }


def test_the_plane_figure_draws_directions_at_unit_length_or_true_lengths():
    plane = _plane([[1000.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    unit = _arrow_tips(plane_figure(plane, "imtl-g", true_lengths=False, names=PLANE_NAMES))
    true = _arrow_tips(plane_figure(plane, "imtl-g", true_lengths=True, names=PLANE_NAMES))
    assert set(unit) == {"long", "short", "plain sum", "IMTL-G"}
    # each column keeps the colour it has in the view's other charts, wherever it sits in the plane
    colours = {t.name: t.line.color for t in plane_figure(plane, PLAIN, False, names=PLANE_NAMES).data}
    assert (colours["long"], colours["short"]) == (
        column_colours(PLANE_NAMES)["long"],
        column_colours(PLANE_NAMES)["short"],
    )
    for name, vector in {
        "long": plane.gradients[0],
        "short": plane.gradients[1],
        "plain sum": plane.plain_sum,
        "IMTL-G": plane.directions["imtl-g"],
    }.items():
        np.testing.assert_allclose(true[name], vector)
        np.testing.assert_allclose(unit[name], vector / np.linalg.norm(vector))


def test_the_plane_figure_draws_each_method_s_construction():
    conflicting = _plane([[2.0, 0.0], [-1.0, 1.0]])
    pcgrad = _arrow_tips(plane_figure(conflicting, "pcgrad", true_lengths=True, names=PLANE_NAMES))
    np.testing.assert_allclose(pcgrad["long after PCGrad"], conflicting.pcgrad_projections[0])
    np.testing.assert_allclose(pcgrad["short after PCGrad"], conflicting.pcgrad_projections[1])
    mgda = plane_figure(conflicting, "mgda-ub", true_lengths=True, names=PLANE_NAMES)
    closest = next(t for t in mgda.data if t.name == "closest point to 0")
    np.testing.assert_allclose([closest.x[1], closest.y[1]], conflicting.min_norm_point)
    # without true lengths the segment between the tips would be a lie: it is left out
    unscaled = plane_figure(conflicting, "mgda-ub", False, names=PLANE_NAMES)
    assert not any(t.name == "closest point to 0" for t in unscaled.data)
    obtuse = _plane([[2.0, 0.0], [-1.0, 2.0]])
    imtl = plane_figure(obtuse, "imtl-g", true_lengths=False, names=PLANE_NAMES)
    angles = [a.text for a in imtl.layout.annotations if a.text and a.text.endswith("°")]
    # half the angle between (2, 0) and (-1, 2), on either side of the bisector
    half = math.degrees(math.acos(-2 / (2 * math.sqrt(5)))) / 2
    assert angles == [f"{half:.0f}°"] * 2


# --- the pair's conflict over the steps --------------------------------------------------------------


def test_conflict_curves_draw_each_run_step_by_step_against_the_zero_line():
    plain, fix = np.linspace(0.2, 0.0, 30), np.linspace(-0.6, -0.05, 40)
    fig = conflict_curves({PLAIN: plain, "imtl-g": fix}, "visitors", "region")
    assert [t.name for t in fig.data] == [METHOD_LABELS[PLAIN], METHOD_LABELS["imtl-g"]]
    np.testing.assert_allclose(fig.data[1].y, fix)
    assert list(fig.data[1].x) == list(range(1, 41))
    assert fig.layout.yaxis.range == (-1.05, 1.05) and fig.layout.shapes[0].y1 == 0  # the shaded conflict band
    assert "visitors vs region" in fig.layout.title.text


def test_conflict_reading_reports_a_conflict_that_eased_with_the_worst_and_the_latest_window():
    fix = np.concatenate([np.full(20, -0.6), np.linspace(-0.6, -0.04, 40), np.full(20, -0.04)])
    reading = conflict_reading({PLAIN: np.zeros(80), "imtl-g": fix}, "visitors", "region")
    smooth = np.convolve(fix, np.ones(CONFLICT_WINDOW) / CONFLICT_WINDOW, mode="valid")
    assert reading.startswith("Under IMTL-G, visitors and region conflicted")
    worst, _, now, _ = _numbers(reading)[:4]
    assert worst == pytest.approx(round(smooth.min(), 2)) and now == pytest.approx(round(smooth[-1], 2))
    assert "eased" in reading


@pytest.mark.parametrize(
    "level, words",
    [(-0.5, "pull in opposite directions"), (-0.2, "pull slightly apart"), (0.03, "at right angles"), (0.4, "agree")],
)
def test_conflict_reading_of_a_steady_cosine(level, words):
    reading = conflict_reading({PLAIN: np.full(50, level)}, "a", "b")
    assert reading.startswith("Under plain training, a and b") and words in reading
    assert _numbers(reading)[0] == pytest.approx(level)


def test_conflict_reading_before_any_step():
    assert "after the first step" in conflict_reading({PLAIN: []}, "a", "b")


def test_pair_trend_is_the_latest_and_lowest_window_mean():
    values = np.array([0.0] * 5 + [-1.0] * 10 + [0.5] * 10)
    now, worst, worst_step, window = pair_trend(values)
    assert window == CONFLICT_WINDOW and now == pytest.approx(0.5)
    assert worst == pytest.approx(-1.0) and worst_step == 15  # the all -1 window ends at step 15
    assert pair_trend([0.2, -0.4]) == pytest.approx((-0.1, -0.1, 2, 2))  # shorter than a window
