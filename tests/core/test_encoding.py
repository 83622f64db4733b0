"""TableEncoder: round trips, input scaling from training statistics only, bad input, persistence."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from core.encoding import TableEncoder
from core.errors import DataError
from core.io import read_hivae_folder
from core.schema import Column, ColumnType, Schema

torch.set_num_threads(1)
PAPER = Path("/work/shared/data/paper")
FAST = settings(max_examples=30, deadline=None)

COLOURS = ("red", "green", "blue")
GRADES = (1, 2, 3, 4)
ANSWERS = ("no", "yes")
SCHEMA = Schema(
    (
        Column("height", ColumnType.REAL),
        Column("id", ColumnType.REAL, excluded=True),
        Column("income", ColumnType.POSITIVE),
        Column("visits", ColumnType.COUNT),
        Column("colour", ColumnType.CATEGORICAL, categories=COLOURS),
        Column("grade", ColumnType.ORDINAL, categories=GRADES),
        Column("smoker", ColumnType.BINARY, categories=ANSWERS),
    )
)
FEATURES = [c.name for c in SCHEMA.features]


@st.composite
def tables(draw, min_rows=2, max_rows=25):
    """A table in SCHEMA with random missing cells; every column has an observed cell in row 0."""
    n = draw(st.integers(min_rows, max_rows))

    def column(values):
        cells = draw(st.lists(values, min_size=n, max_size=n))
        missing = draw(st.lists(st.booleans(), min_size=n, max_size=n))
        return [v if (i == 0 or not gone) else None for i, (v, gone) in enumerate(zip(cells, missing, strict=True))]

    return pd.DataFrame(
        {
            # On coarse grids: spreads are 0 or far above float32 resolution (the
            # in-between is test_near_constant_column_is_scaled_by_one's).
            "height": column(st.integers(-80_000, 80_000).map(lambda v: v / 8)),
            "id": list(range(n)),
            "income": column(st.one_of(st.just(0.0), st.integers(-40, 80).map(lambda v: 2.0 ** (v / 4)))),
            "visits": column(st.integers(0, 100_000)),
            "colour": column(st.sampled_from(COLOURS)),
            "grade": column(st.sampled_from(GRADES)),
            "smoker": column(st.sampled_from(ANSWERS)),
        }
    )


def observed(df, name):
    return df[name][df[name].notna()].to_numpy()


@FAST
@given(df=tables())
def test_encode_then_decode_gives_back_the_table(df):
    encoder = TableEncoder(SCHEMA).fit(df)
    encoded = encoder.transform(df)
    assert encoded.targets.dtype == torch.float32 and encoded.inputs.dtype == torch.float32
    assert encoded.targets.shape == encoded.mask.shape == (len(df), len(FEATURES))
    np.testing.assert_array_equal(encoded.mask.numpy(), df[FEATURES].notna().to_numpy())
    assert torch.all(encoded.targets[~encoded.mask] == 0)

    decoded = encoder.decode(encoded.targets, encoded.mask)
    assert list(decoded.columns) == FEATURES
    for name in FEATURES:
        np.testing.assert_array_equal(decoded[name].isna().to_numpy(), df[name].isna().to_numpy())
        want, got = observed(df, name), observed(decoded, name)
        if name in ("height", "income"):  # targets are float32 by contract
            np.testing.assert_array_equal(got.astype(float), want.astype(np.float32).astype(float))
        else:
            assert [*got] == [*want]
    assert str(decoded["visits"].dtype) == "Int64"


@FAST
@given(train=tables(min_rows=3), test=tables(min_rows=1))
def test_inputs_are_scaled_with_training_statistics_only(train, test):
    encoder = TableEncoder(SCHEMA).fit(train)
    inputs = encoder.transform(test).inputs.double().numpy()
    assert encoder.input_dim == inputs.shape[1] == 3 + len(COLOURS) + len(GRADES) + len(ANSWERS)

    for name, to_scale in (("height", lambda x: x), ("income", np.log1p), ("visits", np.log1p)):
        fitted = to_scale(observed(train, name).astype(float))
        spread = fitted.std() if np.ptp(fitted) > 0 else 1.0
        column = inputs[:, encoder.input_slices[FEATURES.index(name)]][:, 0]
        present = test[name].notna().to_numpy()
        expected = (to_scale(test[name][present].to_numpy(dtype=float)) - fitted.mean()) / spread
        np.testing.assert_allclose(column[present], expected, rtol=1e-4, atol=1e-4)
        assert np.all(column[~present] == 0)

    for name, labels in (("colour", COLOURS), ("grade", GRADES), ("smoker", ANSWERS)):
        block = inputs[:, encoder.input_slices[FEATURES.index(name)]]
        expected = np.array([[float(v == label) for label in labels] for v in test[name]])
        np.testing.assert_array_equal(block, expected)


@FAST
@given(df=tables())
def test_baseline_is_training_mean_or_mode(df):
    baseline = TableEncoder(SCHEMA).fit(df).baseline_targets().double().numpy()
    for k, name in enumerate(FEATURES):
        values = observed(df, name)
        column = SCHEMA[name]
        if column.type.is_numerical:
            np.testing.assert_allclose(baseline[k], np.float32(values.astype(float).mean()), rtol=1e-6)
        else:
            counts = pd.Series(values).value_counts()
            assert column.categories[int(baseline[k])] in set(counts[counts == counts.max()].index)


@FAST
@given(df=tables())
def test_likelihood_starts_at_the_training_marginal(df):
    """Raw decoder outputs of 0 give each numerical column its fitted mean and spread."""
    encoder = TableEncoder(SCHEMA).fit(df)
    likelihood = encoder.likelihood()
    zero = torch.zeros(likelihood.n_params)
    height, income = observed(df, "height").astype(float), np.log1p(observed(df, "income").astype(float))
    normal = likelihood.columns[0].distribution(zero[likelihood.param_owner == 0])
    # The positive likelihood models 1 + income, log-normally.
    lognormal = likelihood.columns[1].shifted_distribution(zero[likelihood.param_owner == 1])
    np.testing.assert_allclose(normal.loc.item(), height.mean(), rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(lognormal.loc.item(), income.mean(), rtol=1e-5, atol=1e-5)
    if height.max() > height.min():
        np.testing.assert_allclose(normal.scale.item(), height.std() * (1 + 1e-3), rtol=1e-4)
    if income.max() > income.min():
        np.testing.assert_allclose(lognormal.scale.item(), income.std() * (1 + 1e-3), rtol=1e-4)
    mean_visits = observed(df, "visits").astype(float).mean()
    if mean_visits > 0:
        np.testing.assert_allclose(likelihood.mean(zero)[2].item(), mean_visits, rtol=1e-4)


@pytest.mark.parametrize("heights", [[0.1, 0.1, 0.1], [0.0, 0.0, 4e-120], [1e6, 1e6, 1e6 + 1e-4]])
def test_near_constant_column_is_scaled_by_one(heights):
    """A spread of rounding noise would turn inputs and log-likelihoods into inf."""
    df = pd.DataFrame(
        {
            "height": heights,
            "income": [2.0, 2.0, 2.0],
            "visits": [3, 3, 3],
            "colour": ["red"] * 3,
            "grade": [2] * 3,
            "smoker": ["no"] * 3,
        }
    )
    encoder = TableEncoder(SCHEMA).fit(df)
    encoded = encoder.transform(df.iloc[:1].assign(height=heights[0] + 1.0))
    assert encoded.inputs[0, 0].item() == pytest.approx(1.0, rel=1e-3)
    likelihood = encoder.likelihood()
    params = torch.zeros(1, likelihood.n_params, requires_grad=True)
    log_p = likelihood.log_prob(params, encoded.targets, encoded.mask)
    log_p.sum().backward()
    assert torch.all(torch.isfinite(log_p)) and torch.all(torch.isfinite(params.grad))


def test_encoder_round_trips_through_weights_only_loading():
    df = pd.DataFrame(
        {
            "height": [1.5, -2.0, None, 4.0],
            "income": [10.0, 200.0, 3.0, None],
            "visits": [0, 5, 12, 3],
            "colour": ["red", None, "blue", "blue"],
            "grade": np.array([1, 4, 4, 2], dtype=np.int64),
            "smoker": ["no", "yes", "yes", None],
        }
    )
    schema = SCHEMA.replace_column(Column("grade", ColumnType.ORDINAL, categories=tuple(np.arange(1, 5))))
    encoder = TableEncoder(schema).fit(df)
    buffer = io.BytesIO()
    torch.save(encoder.state_dict(), buffer)
    buffer.seek(0)
    restored = TableEncoder.from_state_dict(torch.load(buffer, weights_only=True))

    first, second = encoder.transform(df), restored.transform(df)
    for a, b in ((first.targets, second.targets), (first.mask, second.mask), (first.inputs, second.inputs)):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(encoder.baseline_targets(), restored.baseline_targets())
    params = torch.randn(4, encoder.likelihood().n_params)
    torch.testing.assert_close(
        encoder.likelihood().log_prob(params, first.targets, first.mask),
        restored.likelihood().log_prob(params, second.targets, second.mask),
    )
    pd.testing.assert_frame_equal(
        encoder.decode(first.targets, first.mask), restored.decode(second.targets, second.mask)
    )


GOOD = {
    "height": [1.0, 2.0],
    "income": [1.0, 2.0],
    "visits": [1, 2],
    "colour": ["red", "blue"],
    "grade": [1, 2],
    "smoker": ["no", "yes"],
}


@pytest.mark.parametrize(
    "column,bad_value",
    [
        ("colour", "purple"),
        ("grade", 7),
        ("smoker", "maybe"),
        ("height", "tall"),
        ("height", np.inf),
        ("income", -0.5),
        ("income", -3.5),
        ("visits", -1),
        ("visits", 2.5),
    ],
)
def test_bad_values_raise_data_error_naming_column_and_value(column, bad_value):
    encoder = TableEncoder(SCHEMA).fit(pd.DataFrame(GOOD))
    df = pd.DataFrame({**GOOD, column: [GOOD[column][0], bad_value]})
    with pytest.raises(DataError, match=column) as raised:
        encoder.transform(df)
    assert repr(bad_value) in str(raised.value) or str(bad_value) in str(raised.value)
    assert "\n" not in str(raised.value)


def test_structural_problems_raise_data_error():
    with pytest.raises(DataError, match="smoker"):
        TableEncoder(SCHEMA.replace_column(Column("smoker", ColumnType.BINARY, categories=("a", "b", "c"))))
    with pytest.raises(DataError, match="colour"):
        TableEncoder(SCHEMA.replace_column(Column("colour", ColumnType.CATEGORICAL, categories=())))
    with pytest.raises(DataError, match="visits"):
        TableEncoder(SCHEMA).fit(pd.DataFrame({k: v for k, v in GOOD.items() if k != "visits"}))
    with pytest.raises(DataError, match="income"):
        TableEncoder(SCHEMA).fit(pd.DataFrame({**GOOD, "income": [None, None]}))
    with pytest.raises(DataError):
        TableEncoder(Schema((Column("a", ColumnType.REAL, excluded=True),)))


def test_decode_rounds_class_values_and_masks_cells():
    encoder = TableEncoder(SCHEMA).fit(pd.DataFrame(GOOD))
    targets = torch.tensor([[0.5, 3.0, 2.4, 1.2, 2.6, 1.0], [1.0, 1.0, 1.0, 0.0, 0.0, 0.0]])
    mask = torch.tensor([[True] * 6, [False] * 6])
    decoded = encoder.decode(targets, mask)
    assert decoded.iloc[0].tolist() == [0.5, 3.0, 2, "green", 4, "yes"]
    assert decoded.iloc[1].isna().all()


def test_declared_positive_columns_with_zeros_encode_and_score_finitely():
    """spam's word frequencies: declared positive, mostly zeros (HI-VAE models 1 + x)."""
    table = read_hivae_folder(PAPER / "spam")
    positive = [c.name for c in table.schema.features if c.type is ColumnType.POSITIVE]
    assert any((table.data[name] == 0).any() for name in positive)
    encoder = TableEncoder(table.schema).fit(table.data)
    encoded = encoder.transform(table.data)
    assert torch.all(torch.isfinite(encoded.inputs))
    zeros = torch.from_numpy((table.data[positive] == 0).to_numpy())
    first = encoder.features.index(table.schema[positive[0]])
    # a zero is log1p(0) = 0 before standardising: its input is -center / scale
    column = encoded.inputs[:, encoder.input_slices[first].start]
    fitted = np.log1p(table.data[positive[0]].to_numpy(dtype=float))
    np.testing.assert_allclose(column[zeros[:, 0]].numpy(), -fitted.mean() / fitted.std(), rtol=1e-5)
    likelihood = encoder.likelihood()
    log_p = likelihood.log_prob(torch.zeros(len(table.data), likelihood.n_params), encoded.targets, encoded.mask)
    assert torch.all(torch.isfinite(log_p))
