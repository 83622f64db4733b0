"""Likelihoods against independent computations: scipy.stats, closed forms, autograd."""

from __future__ import annotations

import math

import mpmath  # a dependency of torch (via sympy): arbitrary precision for the ordinal tails
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import special, stats

from core.likelihoods import (
    MIN_RATE,
    MIN_SCALE,
    BinaryLikelihood,
    CategoricalLikelihood,
    CountLikelihood,
    OrdinalLikelihood,
    PositiveLikelihood,
    RealLikelihood,
    TableLikelihood,
)

torch.set_num_threads(1)
FAST = settings(max_examples=40, deadline=None)

leading_shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3)
raw = st.floats(-6, 6, width=32)


def raw_params(shape, n):
    return hnp.arrays(np.float32, (*shape, n), elements=raw)


def unit_softplus(r):
    """The documented raw -> positive map: softplus(r + log(e - 1)), which is 1 at r = 0."""
    return np.logaddexp(0.0, np.asarray(r, np.float64) + np.log(np.expm1(1.0)))


def torch_log_prob(likelihood, x, params, mask=None):
    x = torch.as_tensor(np.asarray(x, np.float32))
    mask = None if mask is None else torch.as_tensor(mask)
    return likelihood.log_prob(x, torch.as_tensor(params), mask).double().numpy()


def ordinal_class_probs(params):
    """Closed form of the ordered logit in float64: P(y = c) = s(theta_c - mu) - s(theta_{c-1} - mu)."""
    params = np.asarray(params, np.float64)
    theta = np.cumsum(np.logaddexp(0.0, params[..., 1:]), -1)
    cuts = np.concatenate([np.full_like(params[..., :1], -np.inf), theta, np.full_like(params[..., :1], np.inf)], -1)
    cdf = special.expit(cuts - params[..., :1])
    return np.diff(cdf, axis=-1)


# --- each type against scipy / closed form ------------------------------------------------------
@FAST
@given(data=st.data(), shape=leading_shapes, mean=st.floats(-1e3, 1e3), std=st.floats(1e-2, 1e2))
def test_real_log_prob_matches_scipy_norm(data, shape, mean, std):
    params = data.draw(raw_params(shape, 2))
    x = data.draw(hnp.arrays(np.float32, shape, elements=st.floats(-2e3, 2e3, width=32)))
    loc = np.float32(mean) + np.float32(std) * params[..., 0].astype(np.float64)
    scale = np.float32(std) * (unit_softplus(params[..., 1]) + MIN_SCALE)
    expected = stats.norm.logpdf(x, loc, scale)
    got = torch_log_prob(RealLikelihood(mean, std), x, params)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-3)


# Zeros, and multiples of 2^-10 up to 1e4: x + 1 is exact in float32, so the
# comparison measures the likelihood rather than the rounding of the shift.
non_negative = st.one_of(st.just(0.0), st.integers(1, 10_000 * 1024).map(lambda k: k / 1024))


@FAST
@given(data=st.data(), shape=leading_shapes, log_mean=st.floats(-5, 5), log_std=st.floats(1e-2, 5))
def test_positive_log_prob_is_scipy_lognorm_of_x_plus_one(data, shape, log_mean, log_std):
    params = data.draw(raw_params(shape, 2))
    x = data.draw(hnp.arrays(np.float32, shape, elements=non_negative))
    mu = np.float32(log_mean) + np.float32(log_std) * params[..., 0].astype(np.float64)
    sigma = np.float32(log_std) * (unit_softplus(params[..., 1]) + MIN_SCALE)
    expected = stats.lognorm.logpdf(x.astype(np.float64) + 1, s=sigma, scale=np.exp(mu))
    likelihood = PositiveLikelihood(log_mean, log_std)
    np.testing.assert_allclose(torch_log_prob(likelihood, x, params), expected, rtol=1e-4, atol=1e-3)
    # The distribution object is over x itself, not x + 1.
    via_distribution = likelihood.distribution(torch.as_tensor(params)).log_prob(torch.as_tensor(x))
    np.testing.assert_allclose(via_distribution.double().numpy(), expected, rtol=1e-4, atol=1e-3)


@FAST
@given(data=st.data(), shape=leading_shapes, mean=st.floats(0, 1e5))
def test_count_log_prob_matches_scipy_poisson_up_to_large_counts(data, shape, mean):
    params = data.draw(raw_params(shape, 1))
    x = data.draw(hnp.arrays(np.float32, shape, elements=st.integers(0, 100_000).map(float)))
    rate_scale = np.float32(mean) if np.float32(mean) > 0 else 1.0  # an all-zero column falls back to scale 1
    rate = rate_scale * unit_softplus(params[..., 0]) + MIN_RATE
    expected = stats.poisson.logpmf(x, rate)
    got = torch_log_prob(CountLikelihood(mean), x, params)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-3)


@FAST
@given(data=st.data(), shape=leading_shapes, n_classes=st.integers(1, 6))
def test_categorical_log_prob_is_log_softmax(data, shape, n_classes):
    params = data.draw(raw_params(shape, n_classes))
    x = data.draw(hnp.arrays(np.int64, shape, elements=st.integers(0, n_classes - 1)))
    logits = params.astype(np.float64)
    picked = np.take_along_axis(logits, x[..., None], -1)[..., 0]
    expected = picked - special.logsumexp(logits, axis=-1)
    got = torch_log_prob(CategoricalLikelihood(n_classes), x, params)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@FAST
@given(data=st.data(), shape=leading_shapes)
def test_binary_log_prob_matches_scipy_bernoulli(data, shape):
    params = data.draw(raw_params(shape, 1))
    x = data.draw(hnp.arrays(np.int64, shape, elements=st.integers(0, 1)))
    expected = stats.bernoulli.logpmf(x, special.expit(params[..., 0].astype(np.float64)))
    got = torch_log_prob(BinaryLikelihood(), x, params)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@FAST
@given(data=st.data(), shape=leading_shapes, n_classes=st.integers(1, 6))
def test_ordinal_log_prob_matches_ordered_logit_closed_form(data, shape, n_classes):
    params = data.draw(hnp.arrays(np.float32, (*shape, n_classes), elements=st.floats(-3, 3, width=32)))
    x = data.draw(hnp.arrays(np.int64, shape, elements=st.integers(0, n_classes - 1)))
    expected = np.log(np.take_along_axis(ordinal_class_probs(params), x[..., None], -1)[..., 0])
    got = torch_log_prob(OrdinalLikelihood(n_classes), x, params)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("location,target", [(40.0, 0), (-40.0, 2), (40.0, 1), (-40.0, 1)])
def test_ordinal_log_prob_is_exact_in_the_tails(location, target):
    """Far from mu, sigmoid differences round to 0 in float32; the log-space formula must not."""
    params = np.array([location, 0.3, -0.2], np.float32)
    theta = np.cumsum(np.logaddexp(0.0, params[1:].astype(np.float64)))
    cuts = [-mpmath.inf, *[mpmath.mpf(float(t)) for t in theta], mpmath.inf]
    mu = mpmath.mpf(float(params[0]))
    with mpmath.workdps(50):
        expected = float(mpmath.log(mpmath.sigmoid(cuts[target + 1] - mu) - mpmath.sigmoid(cuts[target] - mu)))
    got = torch_log_prob(OrdinalLikelihood(3), np.float32(target), params)
    assert math.isfinite(got)
    np.testing.assert_allclose(got, expected, rtol=1e-4)


@pytest.mark.parametrize("raw_width", [-20.0, -60.0, -110.0])
def test_ordinal_log_prob_stays_finite_for_a_class_narrower_than_rounding(raw_width):
    """Class 1 of 3 has width softplus(raw) ~ e^raw next to a first threshold near 12: in
    float32 the cumsum loses the width entirely, the log-probability must not."""
    params = np.array([12.0, 12.0, raw_width], np.float32)
    theta0 = mpmath.log(1 + mpmath.exp(mpmath.mpf(12.0)))
    with mpmath.workdps(80):
        width = mpmath.log(1 + mpmath.exp(mpmath.mpf(raw_width)))
        mu = mpmath.mpf(12.0)
        expected = float(mpmath.log(mpmath.sigmoid(theta0 + width - mu) - mpmath.sigmoid(theta0 - mu)))
    got = torch_log_prob(OrdinalLikelihood(3), np.float32(1), params)
    assert math.isfinite(got)
    np.testing.assert_allclose(got, expected, rtol=1e-4)


# --- mode and mean --------------------------------------------------------------------------------
@FAST
@given(params=raw_params((4,), 2), mean=st.floats(-10, 10), std=st.floats(0.1, 10))
def test_real_mode_and_mean_are_the_normal_location(params, mean, std):
    lik = RealLikelihood(mean, std)
    p = torch.as_tensor(params)
    loc = np.float32(mean) + np.float32(std) * params[:, 0].astype(np.float64)
    np.testing.assert_allclose(lik.mode(p).numpy(), loc, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(lik.mean(p).numpy(), loc, rtol=1e-5, atol=1e-4)


@FAST
@given(params=raw_params((4,), 2), log_mean=st.floats(-3, 3), log_std=st.floats(0.05, 1))
def test_positive_mode_maximises_the_density_over_non_negatives_and_mean_matches_scipy(params, log_mean, log_std):
    lik = PositiveLikelihood(log_mean, log_std)
    p = torch.as_tensor(params)
    mu = np.float32(log_mean) + np.float32(log_std) * params[:, 0].astype(np.float64)
    sigma = np.float32(log_std) * (unit_softplus(params[:, 1]) + MIN_SCALE)
    mode = lik.mode(p).double().numpy()
    assert np.all(mode >= 0)
    density = lambda v: stats.lognorm.logpdf(v + 1, s=sigma, scale=np.exp(mu))  # noqa: E731
    step = 0.01 * (mode + 1)
    assert np.all(density(mode) >= density(mode + step) - 1e-6)
    assert np.all(density(mode) >= density(np.maximum(mode - step, 0)) - 1e-6)
    expected_mean = stats.lognorm.mean(s=sigma, scale=np.exp(mu)) - 1
    np.testing.assert_allclose(lik.mean(p).numpy(), expected_mean, rtol=1e-4, atol=1e-5)


def test_positive_mode_is_zero_where_the_density_falls_from_zero():
    """exp(mu - sigma^2) < 1: the unshifted mode would be negative, outside the data's range."""
    lik = PositiveLikelihood(0.0, 1.0)
    params = torch.zeros(1, 2)
    sigma = 1.0 + MIN_SCALE
    grid = np.linspace(0, 5, 5001)
    density = stats.lognorm.logpdf(grid + 1, s=sigma, scale=1.0)
    assert density.argmax() == 0
    assert lik.mode(params).item() == 0.0


@FAST
@given(params=raw_params((6,), 1), mean=st.floats(0.1, 1e3))
def test_count_mode_is_the_poisson_mode(params, mean):
    lik = CountLikelihood(mean)
    p = torch.as_tensor(params)
    rate = np.float32(mean) * unit_softplus(params[:, 0]) + MIN_RATE
    mode = lik.mode(p).double().numpy()
    np.testing.assert_allclose(lik.mean(p).numpy(), rate, rtol=1e-5)
    assert np.all(mode == np.floor(lik.mean(p).double().numpy()))
    pmf = lambda k: stats.poisson.logpmf(k, rate)  # noqa: E731
    assert np.all(pmf(mode) >= pmf(mode + 1) - 1e-5)
    assert np.all(pmf(mode) >= pmf(np.maximum(mode - 1, 0)) - 1e-5)


@FAST
@given(params=raw_params((6,), 1))
def test_binary_mode_is_p_at_least_one_half_and_mean_is_p(params):
    lik = BinaryLikelihood()
    p = special.expit(params[:, 0].astype(np.float64))
    decided = np.abs(p - 0.5) > 1e-12  # tiny logits round to p = 0.5 in float64 itself
    mode = lik.mode(torch.as_tensor(params)).numpy()
    np.testing.assert_array_equal(mode[decided], (p >= 0.5)[decided].astype(np.float32))
    np.testing.assert_allclose(lik.mean(torch.as_tensor(params)).numpy(), p, rtol=1e-5)


def test_binary_mode_at_exactly_one_half_is_one():
    assert BinaryLikelihood().mode(torch.zeros(1, 1)).item() == 1.0


@FAST
@given(data=st.data(), n_classes=st.integers(2, 6))
def test_class_modes_are_the_most_probable_class(data, n_classes):
    params = data.draw(hnp.arrays(np.float32, (5, n_classes), elements=st.floats(-3, 3, width=32), unique=True))
    p = torch.as_tensor(params)
    np.testing.assert_array_equal(CategoricalLikelihood(n_classes).mode(p).numpy(), params.argmax(-1))
    probs = ordinal_class_probs(params)
    ordinal = OrdinalLikelihood(n_classes)
    top_two = np.sort(probs, -1)[:, -2:]
    decided = top_two[:, 1] - top_two[:, 0] > 1e-5  # ties at float32 precision can go either way
    np.testing.assert_array_equal(ordinal.mode(p).numpy()[decided], probs.argmax(-1)[decided])
    np.testing.assert_allclose(ordinal.mean(p).numpy(), (probs * np.arange(n_classes)).sum(-1), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ordinal.distribution(p).probs.numpy(), probs, rtol=1e-4, atol=1e-6)


def test_samples_follow_their_distribution():
    torch.manual_seed(0)
    n = 20_000
    columns = [
        RealLikelihood(3.0, 2.0),
        PositiveLikelihood(0.5, 0.4),
        CountLikelihood(7.0),
        BinaryLikelihood(),
        CategoricalLikelihood(3),
        OrdinalLikelihood(4),
    ]
    table = TableLikelihood(columns)
    params = torch.linspace(-0.8, 0.8, table.n_params).expand(n, -1)
    draws = table.sample(params)
    assert draws.shape == (n, len(columns))
    means = table.mean(params[0])
    for k in range(4):  # numerical and binary: the sample mean estimates the mean
        sd = draws[:, k].std()
        assert abs(draws[:, k].mean() - means[k]) < 5 * sd / math.sqrt(n)
    for k in (4, 5):  # class columns: sample frequencies estimate the class probabilities
        one = params[0, table.param_owner == k]
        probs = columns[k].distribution(one).probs
        freq = torch.bincount(draws[:, k].long(), minlength=len(probs)).double() / n
        assert torch.all((freq - probs).abs() < 5 * torch.sqrt(probs * (1 - probs) / n) + 1e-3)


# --- table: vectorised == per column --------------------------------------------------------------
@st.composite
def column_likelihoods(draw):
    def one(kind):
        if kind == "real":
            return RealLikelihood(draw(st.floats(-50, 50)), draw(st.floats(0.1, 20)))
        if kind == "positive":
            return PositiveLikelihood(draw(st.floats(-3, 3)), draw(st.floats(0.1, 2)))
        if kind == "count":
            return CountLikelihood(draw(st.floats(0, 500)))
        if kind == "binary":
            return BinaryLikelihood()
        if kind == "categorical":
            return CategoricalLikelihood(draw(st.integers(1, 6)))
        return OrdinalLikelihood(draw(st.integers(1, 6)))

    kinds = st.sampled_from(["real", "positive", "count", "binary", "categorical", "ordinal"])
    return [one(k) for k in draw(st.lists(kinds, min_size=1, max_size=10))]


def valid_targets(columns, shape, rng):
    """Random targets in each column's support."""
    out = np.zeros((*shape, len(columns)), np.float32)
    for k, c in enumerate(columns):
        if isinstance(c, RealLikelihood):
            out[..., k] = rng.normal(0, 30, shape)
        elif isinstance(c, PositiveLikelihood):
            out[..., k] = np.where(rng.random(shape) < 0.2, 0.0, rng.lognormal(0, 1.5, shape))
        elif isinstance(c, CountLikelihood):
            out[..., k] = rng.poisson(40, shape)
        elif isinstance(c, BinaryLikelihood):
            out[..., k] = rng.integers(0, 2, shape)
        else:
            out[..., k] = rng.integers(0, int(c.n_classes), shape)
    return torch.from_numpy(out)


@FAST
@given(columns=column_likelihoods(), seed=st.integers(0, 2**32 - 1))
def test_table_equals_the_per_column_computations(columns, seed):
    rng = np.random.default_rng(seed)
    table = TableLikelihood(columns)
    widths = [c.n_params for c in columns]
    expected_owner = np.repeat(np.arange(len(columns)), widths)
    np.testing.assert_array_equal(table.param_owner.numpy(), expected_owner)
    assert table.n_params == sum(widths)

    params = torch.from_numpy(rng.normal(0, 2, (2, 3, table.n_params)).astype(np.float32))  # S x B x P
    targets = valid_targets(columns, (3,), rng)  # B x K, broadcast against S
    mask = torch.from_numpy(rng.random((3, len(columns))) < 0.7)
    log_p = table.log_prob(params, targets, mask)
    assert log_p.shape == (2, 3, len(columns))
    for k, c in enumerate(columns):
        own = params[..., table.param_owner == k]
        torch.testing.assert_close(log_p[..., k], c.log_prob(targets[:, k], own, mask[:, k]), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(table.mode(params)[..., k], c.mode(own))
        torch.testing.assert_close(table.mean(params)[..., k], c.mean(own), rtol=1e-5, atol=1e-5)
    expanded = table.log_prob(params, targets.expand(2, -1, -1), mask.expand(2, -1, -1))
    torch.testing.assert_close(log_p, expanded)


@FAST
@given(columns=column_likelihoods(), seed=st.integers(0, 2**32 - 1))
def test_masked_cells_give_zero_terms_and_finite_gradients(columns, seed):
    rng = np.random.default_rng(seed)
    table = TableLikelihood(columns)
    params = torch.from_numpy(rng.normal(0, 3, (4, table.n_params)).astype(np.float32)).requires_grad_()
    targets = valid_targets(columns, (4,), rng)
    mask = torch.from_numpy(rng.random((4, len(columns))) < 0.5)
    # Missing cells arrive 0-filled or even NaN.
    targets = torch.where(mask, targets, torch.from_numpy(rng.choice([0.0, np.nan], (4, len(columns)))).float())
    log_p = table.log_prob(params, targets, mask)
    assert torch.all(log_p[~mask] == 0)
    assert torch.all(torch.isfinite(log_p))
    log_p.sum().backward()
    assert torch.all(torch.isfinite(params.grad))
    # A cell that is masked contributes no gradient to the outputs of its column.
    masked_owner = ~mask[:, table.param_owner]
    assert torch.all(params.grad[masked_owner] == 0)


def test_table_gradients_match_finite_differences():
    torch.manual_seed(1)
    columns = [
        RealLikelihood(1.0, 2.0),
        PositiveLikelihood(0.2, 0.7),
        CountLikelihood(12.0),
        BinaryLikelihood(),
        CategoricalLikelihood(4),
        CategoricalLikelihood(2),
        OrdinalLikelihood(5),
        OrdinalLikelihood(3),
    ]
    table = TableLikelihood(columns)
    params = torch.randn(3, table.n_params, dtype=torch.float64, requires_grad=True)
    targets = valid_targets(columns, (3,), np.random.default_rng(1)).double()
    mask = torch.rand(3, len(columns)) < 0.8
    assert torch.autograd.gradcheck(lambda p: table.log_prob(p, targets, mask), (params,))


def test_ordinal_class_probabilities_are_a_distribution_for_extreme_outputs():
    params = torch.tensor([[50.0, -30.0, 10.0, -90.0], [-50.0, 5.0, 5.0, 5.0], [0.0, 0.0, 0.0, 0.0]])
    probs = OrdinalLikelihood(4).distribution(params).probs
    assert torch.all(torch.isfinite(probs)) and torch.all(probs >= 0)
    torch.testing.assert_close(probs.sum(-1), torch.ones(3))


# --- devices --------------------------------------------------------------------------------------
def every_type():
    return [
        RealLikelihood(1.0, 2.0),
        PositiveLikelihood(0.2, 0.7),
        CountLikelihood(12.0),
        BinaryLikelihood(),
        CategoricalLikelihood(4),
        CategoricalLikelihood(2),
        OrdinalLikelihood(5),
        OrdinalLikelihood(3),
    ]


def test_table_moved_to_the_params_device_creates_no_tensor_elsewhere():
    """The meta device stands in for CUDA: like CUDA, it refuses to mix with CPU tensors
    (other than 0-dim ones), so any statistic left behind, or built on the CPU at call
    time, raises."""
    table = TableLikelihood(every_type())
    params = torch.zeros(2, 3, table.n_params, device="meta")
    targets = torch.zeros(3, len(table.columns), device="meta")
    mask = torch.ones(3, len(table.columns), dtype=torch.bool, device="meta")
    with pytest.raises(RuntimeError, match="device"):
        table.log_prob(params, targets, mask)

    assert table.to(torch.device("meta")) is table
    assert table.param_owner.device.type == "meta"
    for result in (table.log_prob(params, targets, mask), table.mode(params), table.mean(params)):
        assert result.device.type == "meta" and result.shape == (2, 3, len(table.columns))
    for k, column in enumerate(table.columns):
        own = params[..., : column.n_params]
        log_p = column.log_prob(targets[:, k], own, mask[:, k])
        assert log_p.device.type == "meta" and log_p.shape == (2, 3)


def test_table_to_cpu_returns_itself_and_keeps_its_values():
    columns = every_type()
    table = TableLikelihood(columns)
    params = torch.randn(4, table.n_params, generator=torch.Generator().manual_seed(2))
    targets = valid_targets(columns, (4,), np.random.default_rng(2))
    mask = torch.rand(4, len(columns), generator=torch.Generator().manual_seed(3)) < 0.8
    before = table.log_prob(params, targets, mask)
    assert table.to("cpu") is table
    torch.testing.assert_close(table.log_prob(params, targets, mask), before, rtol=0, atol=0)


def test_results_keep_the_params_dtype_whatever_the_default_dtype():
    """Statistics are float32 even when built under a float64 default dtype (as some
    test modules set); they must not promote float32 params."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        columns = every_type()
        table = TableLikelihood(columns)
    finally:
        torch.set_default_dtype(previous)
    targets = valid_targets(columns, (3,), np.random.default_rng(4))
    mask = torch.ones(3, len(columns), dtype=torch.bool)
    for dtype in (torch.float32, torch.float64):
        params = torch.zeros(3, table.n_params, dtype=dtype)
        results = (table.log_prob(params, targets.to(dtype), mask), table.mode(params), table.mean(params))
        assert all(r.dtype == dtype for r in results)
