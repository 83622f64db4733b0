"""Three browser sessions on one server at once, as a class would open it: each loads its own
sample table, presses Play, and must show its own table, a step counter that climbs and
live loss curves -- trained by the server's worker processes, with no session's run leaking
into another's and no exception on any page."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from dashboard.state.samples import load_sample_table
from tests.browser.support import CHANGE_TIMEOUT_MS, CHROMIUM, CHROMIUM_ARGS, STEP, drawn, show, step_count

TABLES = ("Wine", "penguins", "Housing")


@pytest.fixture(scope="module")
def pages(server):
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: install Debian's chromium (bash scripts/setup.sh dev)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        tabs = []
        for _ in TABLES:  # a context each: nothing shared between the sessions, as between students
            tab = browser.new_context(viewport={"width": 1400, "height": 1300}).new_page()
            tab.set_default_timeout(90_000)
            tab.goto(server)
            tabs.append(tab)
        yield tabs
        browser.close()


def _load(page: Page, table: str) -> None:
    expect(page.get_by_text("Overlooked columns · ")).to_be_visible()
    show(page, "Data")
    page.locator(".st-key-sample_choice").get_by_role("button", name="Open").click()
    page.get_by_role("option", name=re.compile(f"^{table}( |$)")).click()  # "Wine – wine quality, ..."
    # Load is bound to the choice by the rerun the choice starts: let that rerun finish first
    page.wait_for_timeout(500)
    expect(page.get_by_test_id("stStatusWidget")).to_be_hidden()
    page.locator(".st-key-load_sample button").click()
    expect(page.get_by_text(f"Overlooked columns · {table}")).to_be_visible()
    show(page, "Train")
    expect(page.locator(".st-key-play")).to_be_visible()


def test_three_sessions_train_their_own_tables_at_once(pages: list[Page]):
    for page, table in zip(pages, TABLES, strict=True):
        _load(page, table)
    for page in pages:
        page.locator(".st-key-play button").click()
    for page in pages:
        expect(page.locator(".st-key-pause")).to_be_visible()

    charts = [drawn(page, "loss_chart") for page in pages]
    steps = [step_count(page) for page in pages]
    for page, chart, before in zip(pages, charts, steps, strict=True):
        # every session trains on while the others do: its counter climbs and its curves are redrawn
        page.wait_for_function(f"(before) => ({STEP})() > before", arg=before, timeout=CHANGE_TIMEOUT_MS)
        page.wait_for_function(
            "([key, before]) => { const g = document.querySelector(`.st-key-${key} .js-plotly-plot`);"
            " return g && g.data && JSON.stringify(g.data.map(t => t.x)) !== before; }",
            arg=["loss_chart", chart],
            timeout=CHANGE_TIMEOUT_MS,
        )
    for page, table in zip(pages, TABLES, strict=True):
        # its own table: the title, and one loss curve per column of that table
        expect(page.get_by_text(f"Overlooked columns · {table}")).to_be_visible()
        expect(page.locator(".st-key-pause")).to_be_visible()
        expect(page.locator('[data-testid="stDataFrame"]').first).to_be_visible()  # the error table
        assert page.locator('[data-testid="stException"]').count() == 0
        assert page.locator('[data-testid="stAlertContentError"]').count() == 0
    for page, table in zip(pages, TABLES, strict=True):
        columns = sorted(c.name for c in load_sample_table(table).schema.features)
        assert page.evaluate(_CURVE_NAMES) == columns, table  # the curves of this table's columns
    for page in pages:
        page.locator(".st-key-pause button").click()
        expect(page.locator(".st-key-play")).to_be_visible()


_CURVE_NAMES = (
    "() => { const g = document.querySelector('.st-key-loss_chart .js-plotly-plot');"
    " return g && g.data ? g.data.map(t => t.name).sort() : []; }"
)
