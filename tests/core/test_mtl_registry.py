"""The registry, cocktails, options, input checks, state round trips and determinism."""

from __future__ import annotations

import copy

import pytest
import torch

from core.errors import DataError, TrainingError
from core.mtl import METHODS, PROJECTION, WEIGHTING, combine_gradients, make_method, method_options
from core.mtl.system import DenseRows, ScaledRows
from tests.core.mtl_jacobians import jacobians

PAPER_METHODS = {"none", "gradnorm", "mgda-ub", "imtl-g", "pcgrad", "graddrop"}
EXTRA_METHODS = {"cagrad", "gradvac", "nash-mtl", "aligned-mtl", "upgrad", "nsgd", "uncertainty", "dwa", "rlw"}
STATEFUL = ("gradnorm", "uncertainty", "dwa", "gradvac", "nash-mtl", "gradnorm+pcgrad", "dwa+gradvac")
RANDOM = ("pcgrad", "graddrop", "gradvac", "rlw", "imtl-g+pcgrad", "rlw+graddrop")


def _steps(n: int, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """n (gradients, losses) pairs on the same 5 columns, losses of both signs."""
    generator = torch.Generator().manual_seed(seed)
    base = torch.randn(5, 12, generator=generator, dtype=torch.float64)
    return [
        (
            base + 0.5 * torch.randn(5, 12, generator=generator, dtype=torch.float64),
            3 * torch.randn(5, generator=generator, dtype=torch.float64),
        )
        for _ in range(n)
    ]


def test_registry_holds_the_papers_methods_and_the_extras():
    assert set(METHODS) == PAPER_METHODS | EXTRA_METHODS
    for name, cls in METHODS.items():
        assert cls.name == name
        assert cls.description and "\n" not in cls.description
        assert cls.kind in (WEIGHTING, PROJECTION)
    assert {n for n, c in METHODS.items() if c.kind == PROJECTION} == {"pcgrad", "graddrop", "gradvac"}


def test_unknown_method_names_the_valid_ones():
    with pytest.raises(DataError, match="unknown method 'imtlg' \\(expected one of: none, gradnorm, mgda-ub, imtl-g"):
        make_method("imtlg")
    with pytest.raises(DataError, match="unknown method 'pcgrd'"):
        make_method("imtl-g+pcgrd")


@pytest.mark.parametrize(
    "spec, problem",
    [
        ("pcgrad+imtl-g", "'pcgrad' is a projection method and cannot come first"),
        ("imtl-g+mgda-ub", "'mgda-ub' is a weighting method and cannot come second"),
        ("imtl-g+pcgrad+graddrop", "two parts"),
    ],
)
def test_malformed_cocktails_are_data_errors(spec, problem):
    with pytest.raises(DataError, match=problem):
        make_method(spec)


def test_specs_ignore_case_and_spaces():
    assert make_method(" IMTL-G + PCGrad ").name == "imtl-g+pcgrad"


@pytest.mark.parametrize(
    "spec, options, problem",
    [
        ("graddrop", {"leakage": 1.5}, "option 'leakage' of method 'graddrop' must be in \\[0, 1\\], got 1.5"),
        ("cagrad", {"c": -0.1}, "option 'c' of method 'cagrad' must be in"),
        ("gradvac", {"beta": "much"}, "option 'beta' of method 'gradvac' must be a number, got 'much'"),
        ("nash-mtl", {"iterations": 2.5}, "option 'iterations' of method 'nash-mtl' must be a whole number"),
        ("gradnorm", {"lr": 0}, "option 'lr' of method 'gradnorm' must be in \\(0"),
        ("dwa", {"temperature": float("nan")}, "option 'temperature' of method 'dwa' must be in"),
        ("pcgrad", {"alpha": 1}, "unknown option 'alpha' for method 'pcgrad' \\(valid options: none\\)"),
        ("imtl-g+graddrop", {"c": 1}, "unknown option 'c' .*valid options: leakage"),
    ],
)
def test_bad_options_are_data_errors(spec, options, problem):
    with pytest.raises(DataError, match=problem):
        make_method(spec, **options)


def test_options_reach_the_part_that_takes_them():
    cocktail = make_method("gradnorm+graddrop", alpha=0.0, leakage=0.25)
    assert cocktail.weighting.alpha == 0.0 and cocktail.projection.leakage == 0.25
    assert method_options(METHODS["gradnorm"]) == ["alpha", "lr"]
    assert make_method("graddrop", leakage="0.5").leakage == 0.5  # numbers may come as text


def test_graddrop_accepts_its_leakage_and_full_leakage_is_the_plain_sum():
    # The published code built GradDrop without its leakage and crashed; with leakage 1
    # every gradient passes whole.
    grads, losses = _steps(1, seed=31)[0]
    direction = make_method("graddrop", leakage=1.0).combine(grads, losses).direction
    torch.testing.assert_close(direction, grads.sum(dim=0))


def test_a_cocktail_is_its_projection_run_on_the_weighted_rows():
    grads, losses = _steps(1, seed=32)[0]
    cocktail = make_method("imtl-g+pcgrad", generator=torch.Generator().manual_seed(3))
    combination = cocktail.combine(grads, losses)
    first = make_method("imtl-g").combine(grads, losses).weights
    second = make_method("pcgrad", generator=torch.Generator().manual_seed(3)).combine(first[:, None] * grads, losses)
    torch.testing.assert_close(combination.direction, second.direction)
    torch.testing.assert_close(combination.weights, first * second.weights)


@pytest.mark.parametrize("spec", ("none", "mgda-ub", "gradvac", "gradnorm+graddrop"))
def test_combine_gradients_rejects_bad_input(spec):
    method = make_method(spec)
    grads, losses = _steps(1, seed=33)[0]
    with pytest.raises(DataError, match=r"losses must have shape \(5,\).*got \(4,\)"):
        method.combine(grads, losses[:4])
    with pytest.raises(DataError, match=r"K x d matrix, got shape \(12,\)"):
        method.combine(grads[0], losses)
    broken = grads.clone()
    broken[3, 7] = float("nan")
    with pytest.raises(TrainingError, match="gradient of column 3 is not finite"):
        combine_gradients(method, broken, losses)
    # implicit rows are checked through their Gramian's diagonal, without forming them
    implicit = ScaledRows(DenseRows(broken), torch.ones(5, dtype=broken.dtype))
    with pytest.raises(TrainingError, match="gradient of column 3 is not finite"):
        combine_gradients(method, implicit, losses)
    with pytest.raises(TrainingError, match="loss of column 1 is not finite"):
        combine_gradients(method, grads, torch.tensor([0.0, float("inf"), 1.0, 2.0, 3.0], dtype=grads.dtype))
    with pytest.raises(DataError, match=r"K x d matrix, got shape \(12,\)"):
        combine_gradients(method, grads[0], losses)


def test_stateful_methods_are_bound_to_their_number_of_columns():
    method = make_method("gradnorm")
    grads, losses = _steps(1, seed=34)[0]
    method.combine(grads, losses)
    with pytest.raises(DataError, match="'gradnorm' was set up for 5 columns, got 4"):
        method.combine(grads[:4], losses[:4])


def test_stateless_methods_refuse_state():
    make_method("pcgrad").load_state_dict({})
    with pytest.raises(DataError, match="'imtl-g' keeps no state"):
        make_method("imtl-g").load_state_dict({"weights": torch.ones(3)})


@pytest.mark.parametrize("spec", STATEFUL)
def test_state_dict_round_trips(spec):
    steps = _steps(6, seed=35)
    original = make_method(spec, generator=torch.Generator().manual_seed(4))
    assert original.state_dict() == {}
    for grads, losses in steps[:3]:
        original.combine(grads, losses)
    saved = copy.deepcopy(original.state_dict())
    assert saved
    restored = make_method(spec, generator=torch.Generator().manual_seed(99))
    restored.load_state_dict(saved)
    if hasattr(original, "generator"):  # the state holds no randomness: align the draws
        restored.generator.set_state(original.generator.get_state())
    elif hasattr(original, "projection") and hasattr(original.projection, "generator"):
        restored.projection.generator.set_state(original.projection.generator.get_state())
    for grads, losses in steps[3:]:
        assert torch.equal(original.combine(grads, losses).direction, restored.combine(grads, losses).direction)


@pytest.mark.parametrize("spec", STATEFUL)
def test_loading_an_empty_state_resets_a_method(spec):
    steps = _steps(4, seed=36)
    fresh = make_method(spec, generator=torch.Generator().manual_seed(5))
    used = make_method(spec, generator=torch.Generator().manual_seed(5))
    for grads, losses in steps[:2]:
        used.combine(grads, losses)
    used.load_state_dict({})
    used_generator = getattr(used, "generator", None) or getattr(getattr(used, "projection", None), "generator", None)
    if used_generator is not None:
        used_generator.manual_seed(5)
    for grads, losses in steps[2:]:
        assert torch.equal(fresh.combine(grads, losses).direction, used.combine(grads, losses).direction)


@pytest.mark.parametrize("spec", RANDOM)
def test_same_seed_same_result_different_seed_different_result(spec):
    runs = []
    for seed in (7, 7, 8):
        method = make_method(spec, generator=torch.Generator().manual_seed(seed))
        runs.append(torch.stack([method.combine(g, l).direction for g, l in _steps(3, seed=37)]))
    assert torch.equal(runs[0], runs[1])
    assert not torch.equal(runs[0], runs[2])


def test_the_default_generator_is_reproducible():
    grads, losses = _steps(1, seed=38)[0]
    assert torch.equal(
        make_method("rlw").combine(grads, losses).direction, make_method("rlw").combine(grads, losses).direction
    )


@pytest.mark.parametrize("spec", [*METHODS, "imtl-g+pcgrad", "gradnorm+graddrop"])
def test_zero_rows_get_no_say(spec):
    # A column with nothing observed has a zero gradient row: it must not stop the others.
    for index, (_, grads) in enumerate(jacobians(("zero_row",), 4, seed=39)):
        method = make_method(spec, generator=torch.Generator().manual_seed(index))
        combination = combine_gradients(method, grads, torch.randn(len(grads), dtype=grads.dtype))
        assert torch.isfinite(combination.direction).all()
        assert combination.direction.norm() > 0


@pytest.mark.parametrize("spec", [*METHODS, "imtl-g+pcgrad", "gradnorm+graddrop", "mgda-ub+pcgrad"])
def test_a_float32_row_too_small_to_square_counts_as_zero(spec):
    # Seen in training (CAGrad on Adult): a column's float32 gradient of norm 1e-41 got all
    # of CAGrad's weight, 1e38, which overflowed. Such a row is numerically zero.
    generator = torch.Generator().manual_seed(40)
    grads = torch.randn(5, 16, generator=generator)
    grads[2] = torch.randn(16, generator=generator) * 1e-41
    method = make_method(spec, generator=torch.Generator().manual_seed(41))
    for _ in range(3):  # stateful methods too, past their first step
        combination = combine_gradients(method, grads, torch.rand(5, generator=generator) + 0.1)
        assert torch.isfinite(combination.direction).all() and torch.isfinite(combination.weights).all()
        assert combination.direction.norm() > 0
