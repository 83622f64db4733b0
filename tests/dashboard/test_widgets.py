"""What the views share (dashboard.widgets): the one method-spec builder, and the rule that
ties a widget to a state object, run by streamlit's AppTest."""

from __future__ import annotations

import pytest
import torch
from streamlit.testing.v1 import AppTest

from core.mtl import METHODS, PROJECTION, combine_gradients, make_method
from core.mtl.cocktail import Cocktail
from dashboard.widgets import PROJECTIONS, WEIGHTINGS, canonical_method, method_parts, method_spec

# --- method specs ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "weighting, projection, spec",
    [
        ("none", "none", "none"),
        ("imtl-g", "none", "imtl-g"),
        ("none", "pcgrad", "pcgrad"),
        ("imtl-g", "pcgrad", "imtl-g+pcgrad"),
        ("gradnorm", "gradvac", "gradnorm+gradvac"),
    ],
)
def test_a_choice_has_one_spelling_with_the_none_parts_left_out(weighting, projection, spec):
    assert method_spec(weighting, projection) == spec
    assert method_parts(spec) == (weighting, projection)


def test_every_choice_of_the_boxes_survives_its_spec_and_core_builds_it():
    assert WEIGHTINGS[0] == "none" and PROJECTIONS[0] == "none"
    assert all(METHODS[name].kind == PROJECTION for name in PROJECTIONS[1:])
    for weighting in WEIGHTINGS:
        for projection in PROJECTIONS:
            spec = method_spec(weighting, projection)
            assert method_parts(spec) == (weighting, projection)
            assert canonical_method(spec) == spec
            built = make_method(spec)
            both = weighting != "none" and projection != "none"
            assert isinstance(built, Cocktail) == both
            if not both:
                assert type(built) is METHODS[spec]


@pytest.mark.parametrize("spelling", ["none+pcgrad", "pcgrad", " None + PCGrad ", "pcgrad+none"])
def test_other_spellings_of_a_projection_alone_become_the_canonical_one(spelling):
    assert canonical_method(spelling) == "pcgrad"


@pytest.mark.parametrize("projection", PROJECTIONS[1:])
def test_the_canonical_spelling_combines_gradients_exactly_as_the_long_one(projection):
    """What the train view used to send ("none+pcgrad") and what it sends now ("pcgrad")."""
    gradients = torch.randn(4, 9, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    losses = torch.rand(4, dtype=torch.float64, generator=torch.Generator().manual_seed(6))
    directions = [
        combine_gradients(make_method(spec, generator=torch.Generator().manual_seed(1)), gradients, losses).direction
        for spec in (f"none+{projection}", canonical_method(f"none+{projection}"))
    ]
    torch.testing.assert_close(directions[0], directions[1], rtol=0, atol=0)


# --- the rule: a widget shows its state object and writes into it ----------------------------


def _bound_page():
    """A page with one state object and two widgets bound to it; the name refuses "c"."""
    from dataclasses import dataclass

    import streamlit as st

    from dashboard.widgets import bind, setter

    @dataclass
    class Settings:
        name: str = "a"
        rate: float = 0.5

    def rename(settings: Settings, name: str) -> None:
        if name != "c":
            settings.name = name

    settings = st.session_state.setdefault("settings", Settings())
    if st.session_state.get("show_name", True):
        st.selectbox("Name", ["a", "b", "c"], **bind("name", settings.name, lambda name: rename(settings, name)))
    st.number_input("Rate", **bind("rate", settings.rate, setter(settings, "rate")), step=0.1)
    st.caption(f"{settings.name} {settings.rate}")


def open_bound_page() -> AppTest:
    at = AppTest.from_function(_bound_page, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return at


def test_a_bound_widget_shows_its_state_and_a_change_is_written_into_it():
    at = open_bound_page()
    settings = at.session_state["settings"]
    assert at.selectbox(key="name").value == "a" and at.number_input(key="rate").value == 0.5
    at.selectbox(key="name").set_value("b").run()
    at.number_input(key="rate").set_value(0.75).run()
    assert (settings.name, settings.rate) == ("b", 0.75)
    assert at.caption[0].value == "b 0.75"  # written before the page was drawn


def test_a_change_the_state_makes_itself_shows_on_the_next_run():
    at = open_bound_page()
    at.session_state["settings"].rate = 2.0
    at.run()
    assert at.number_input(key="rate").value == 2.0


def test_a_refused_change_is_undone_on_the_next_run():
    at = open_bound_page()
    at.selectbox(key="name").set_value("c").run()
    assert at.session_state["settings"].name == "a"
    assert at.selectbox(key="name").value == "a"


def test_a_widget_that_was_not_drawn_for_a_while_comes_back_showing_the_state():
    at = open_bound_page()
    at.session_state["show_name"] = False
    at.run()
    assert not at.selectbox
    at.session_state["settings"].name = "b"
    at.run()
    at.session_state["show_name"] = True
    at.run()
    assert not at.exception and at.selectbox(key="name").value == "b"
