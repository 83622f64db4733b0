"""The page's address (dashboard.links): each view's setup survives its link, and a link
with values that cannot be used gets one line per bad value while the rest is kept."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.configurations import encode_configurations
from core.errors import DataError
from core.lesson import LESSON_COLUMNS, LESSON_METHOD, LESSON_METHODS, LESSON_TARGET, MAX_SEED, STAGES, LessonSetup
from core.trainer import TrainConfig
from dashboard.links import (
    MAX_EPOCHS,
    CompareLink,
    compare_query,
    lesson_query,
    linked_view,
    one_of,
    query_text,
    read_compare_link,
    read_lesson_link,
    whole_number,
)

VIEWS = ["Train", "Data", "Compare", "Learn"]


# --- values ------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["0", "7", " 42 ", str(MAX_SEED)])
def test_a_whole_number_in_range_reads(text):
    assert whole_number("seed", text, 0, MAX_SEED) == int(text)


@pytest.mark.parametrize("text", ["-3", "1e9", "2.5", "", "x", "²", "٣", str(MAX_SEED + 1)])
def test_anything_else_is_named_in_one_line(text):
    with pytest.raises(DataError) as raised:
        whole_number("seed", text, 0, MAX_SEED)
    message = str(raised.value)
    assert repr(text) in message and "\n" not in message and f"0 to {MAX_SEED}" in message


def test_one_of_names_the_value_and_the_options():
    assert one_of("method", "pcgrad", LESSON_METHODS) == "pcgrad"
    with pytest.raises(DataError, match="method 'adam' is not one of imtl-g, mgda-ub, pcgrad"):
        one_of("method", "adam", LESSON_METHODS)


@pytest.mark.parametrize(
    "value, view", [("compare", "Compare"), ("LEARN", "Learn"), (" data ", "Data"), ("nowhere", "Train"), ("", "Train")]
)
def test_a_link_names_its_view_in_any_case(value, view):
    assert linked_view({"view": value}, VIEWS, default="Train") == view
    assert linked_view({}, VIEWS, default="Train") == "Train"


def test_the_text_to_copy_is_the_query_with_readable_separators():
    params = {"view": "compare", "cfg": "vae:imtl-g+pcgrad:0.001:32,vae:none:0.001:32"}
    text = query_text(params)
    assert text.startswith("?") and "cfg=vae:imtl-g%2Bpcgrad:0.001:32,vae:none" in text
    assert {k: v[0] for k, v in parse_qs(text[1:]).items()} == params


# --- the compare view ------------------------------------------------------------------------


def test_a_comparison_survives_its_link():
    base = TrainConfig(hidden=8, layers=1)
    configs = [
        TrainConfig(model="vae", method=m, lr=lr, batch_size=b)
        for m, lr, b in [("none", 1e-3, 32), ("imtl-g+pcgrad", 0.01, 64)]
    ]
    query = compare_query("penguins", configs, seed=3, epochs=200)
    assert query == {
        "view": "compare",
        "cfg": "vae:none:0.001:32,vae:imtl-g+pcgrad:0.01:64",
        "data": "penguins",
        "seed": "3",
        "epochs": "200",
    }
    link, problems = read_compare_link(query, base)
    assert problems == [] and (link.data, link.seed, link.epochs) == ("penguins", 3, 200)
    assert encode_configurations(link.configs) == query["cfg"]
    # what cfg leaves out comes from the base
    assert all(c.hidden == 8 and c.layers == 1 for c in link.configs)


def test_a_compare_link_without_parameters_asks_for_nothing():
    assert read_compare_link({}, TrainConfig()) == (CompareLink(), [])


def test_each_bad_compare_value_gets_its_line_and_the_others_are_kept():
    params = {"cfg": "vae:none:0.001,vae:bogus:0.001", "seed": "-4", "epochs": str(MAX_EPOCHS + 1), "data": "x"}
    link, problems = read_compare_link(params, TrainConfig())
    assert link == CompareLink(data="x")
    assert len(problems) == 3 and all("\n" not in p for p in problems)
    seed, epochs, cfg = problems
    assert "seed '-4'" in seed and f"epochs '{MAX_EPOCHS + 1}'" in epochs
    assert cfg.startswith("cfg: ") and "'bogus'" in cfg


# --- the learn view --------------------------------------------------------------------------

setups = st.builds(
    LessonSetup,
    stage=st.sampled_from(sorted(STAGES)),
    columns=st.permutations(LESSON_COLUMNS).map(lambda p: (p[0], p[1])),
    method=st.sampled_from(LESSON_METHODS),
    seed=st.integers(0, MAX_SEED),
    presenter=st.booleans(),
)


@settings(max_examples=40, deadline=None)
@given(setups)
def test_a_setup_survives_its_link(setup):
    query = lesson_query(setup)
    assert query["view"] == "learn"
    assert read_lesson_link(query) == (setup, [])


def test_the_lesson_link_format_is_the_one_shared_links_use():
    setup = LessonSetup(stage=3, columns=("temperature", "region"), method="pcgrad", seed=11, presenter=True)
    assert lesson_query(setup) == {
        "view": "learn",
        "lesson_step": "3",
        "lesson_columns": "temperature,region",
        "lesson_method": "pcgrad",
        "lesson_seed": "11",
        "presenter": "1",
    }


def test_no_parameters_give_the_default_setup():
    assert read_lesson_link({}) == (LessonSetup(), [])
    assert LessonSetup().columns == ("visitors", LESSON_TARGET) and LessonSetup().method == LESSON_METHOD


@pytest.mark.parametrize(
    "key, value, named",
    [
        ("lesson_step", "9", "'9'"),
        ("lesson_step", "two", "'two'"),
        ("lesson_columns", "visitors,price", "'price'"),
        ("lesson_columns", "region,region", "'region'"),
        ("lesson_columns", "region", "'region'"),
        ("lesson_columns", "visitors,region,temperature", "'visitors,region,temperature'"),
        ("lesson_method", "adam", "'adam'"),
        ("lesson_seed", "-3", "'-3'"),
        ("lesson_seed", "1e9", "'1e9'"),
        ("lesson_seed", "²", "'²'"),
        ("lesson_seed", str(2**31), str(2**31)),
        ("presenter", "maybe", "'maybe'"),
    ],
)
def test_a_bad_value_is_named_in_one_line_and_only_its_field_falls_back(key, value, named):
    good = LessonSetup(stage=3, columns=("temperature", "region"), method="pcgrad", seed=11, presenter=True)
    params = {**lesson_query(good), key: value}
    setup, problems = read_lesson_link(params)
    assert len(problems) == 1 and named in problems[0] and "\n" not in problems[0]
    field = {
        "lesson_step": "stage",
        "lesson_columns": "columns",
        "lesson_method": "method",
        "lesson_seed": "seed",
        "presenter": "presenter",
    }[key]
    for name in ("stage", "columns", "method", "seed", "presenter"):
        expected = getattr(LessonSetup() if name == field else good, name)
        assert getattr(setup, name) == expected


def test_several_bad_values_each_get_their_line():
    setup, problems = read_lesson_link({"lesson_step": "0", "lesson_seed": "x", "presenter": "true"})
    assert len(problems) == 2 and setup == LessonSetup(presenter=True)
