"""The compare view end to end in a real browser (the app as `streamlit run`, Playwright in
Debian's headless Chromium, the server fixture of test_browser): a shared link opens the
view set up with three configurations, Start trains them side by side, the charts move,
one run pauses on its own, and both exports download. Screenshots go to screenshots/.

Not skippable: without Chromium or Playwright this test fails."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlparse

import pandas as pd
from playwright.sync_api import Page, expect, sync_playwright

from tests.browser.support import (
    CHANGE_TIMEOUT_MS,
    CHROMIUM,
    CHROMIUM_ARGS,
    SCREENSHOTS,
    button,
    drawn,
    wait_for_change,
)

LINK = {
    "view": "compare",
    "cfg": "vae:none:0.001:32,vae:imtl-g:0.001:32,vae:imtl-g+pcgrad:0.001:32",
    "data": "penguins",
    "seed": "0",
    "epochs": "400",  # long enough that the others still run while one is paused, stacked or not
}
LABELS = ["none", "imtl-g", "imtl-g+pcgrad"]


# Each run's step count, from its progress bar ("step 12 of 480 · epoch 1.50").
STEPS = (
    "() => [...document.querySelectorAll('[data-testid=stProgress]')].filter(e => e.offsetParent !== null)"
    ".map(e => Number(e.innerText.match(/step ([\\d,]+) of/)[1].replace(/,/g, '')))"
)


def run_steps(page: Page) -> list[int]:
    # read in one go, once all three bars show: the page redraws itself every second
    return page.wait_for_function(
        f"() => {{ const now = ({STEPS})(); return now.length === 3 ? now : null; }}", timeout=CHANGE_TIMEOUT_MS
    ).json_value()


def wait_for_steps_past(page: Page, floor: list[int | None]) -> list[int]:
    """Wait until every run with a floor has gone past it (None: any count)."""
    page.wait_for_function(
        f"(floor) => {{ const now = ({STEPS})(); return now.length === floor.length && "
        "now.every((n, i) => floor[i] === null || n > floor[i]); }",
        arg=floor,
        timeout=CHANGE_TIMEOUT_MS,
    )
    return run_steps(page)


def chart_traces(page: Page, key: str) -> list[dict]:
    """Name and x of each trace of the visible plotly chart of widget ``key``, once drawn."""
    return page.wait_for_function(
        "(key) => { const g = [...document.querySelectorAll(`.st-key-${key} .js-plotly-plot`)]"
        ".find(g => g.offsetParent !== null && g.data); return g ? g.data.map(t => ({name: t.name ?? null, "
        "x: Array.from(t.x)})) : null; }",
        arg=key,
        timeout=CHANGE_TIMEOUT_MS,
    ).json_value()


def shown_link(page: Page) -> str:
    """The link the export panel shows to copy, once it names a configuration."""
    return page.wait_for_function(
        "() => { const c = [...document.querySelectorAll('[data-testid=stCode]')].find(e => e.offsetParent !== null);"
        " return c && c.innerText.includes('cfg=') ? c.innerText.trim() : null; }",
        timeout=CHANGE_TIMEOUT_MS,
    ).json_value()


def test_a_shared_comparison_trains_side_by_side_pauses_and_exports(server):
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: install Debian's chromium"
    SCREENSHOTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 2400}, accept_downloads=True)
        page.set_default_timeout(60_000)
        page.goto(f"{server}/?{urlencode(LINK)}")

        expect(page.get_by_role("radio", name="Compare", exact=True)).to_be_checked()
        expect(page.get_by_text("Overlooked columns · penguins")).to_be_visible()
        button(page, "cmp_start").click()

        expect(page.get_by_text("Only the gradient combination differs", exact=False)).to_be_visible()
        expect(page.get_by_test_id("stProgress")).to_have_count(3)
        curves = drawn(page, "cmp_curves_chart")
        wait_for_steps_past(page, run_steps(page))
        wait_for_change(page, "cmp_curves_chart", curves)
        assert [t["name"] for t in chart_traces(page, "cmp_columns_chart")] == LABELS
        page.screenshot(path=SCREENSHOTS / "compare-running.png", full_page=True)

        # the link in the address bar, and the one shown to copy, reproduce this set-up ("+" escaped)
        assert {k: v[0] for k, v in parse_qs(urlparse(page.url).query).items()} == LINK

        button(page, "cmp_pause_0").click()
        expect(page.locator(".st-key-cmp_resume_0")).to_be_visible()
        paused, *others = run_steps(page)
        assert wait_for_steps_past(page, [None, *others])[0] == paused

        shown = shown_link(page)
        assert {k: v[0] for k, v in parse_qs(shown.lstrip("?")).items()} == LINK, shown
        button(page, "cmp_export_update").click()  # the files as of now, with the run paused
        expect(page.get_by_text("Results at steps none", exact=False)).to_contain_text(f"none {paused:,}")
        with page.expect_download() as download:
            button(page, "cmp_export_csv").click()
        results = pd.read_csv(download.value.path())
        assert list(results.columns[:4]) == ["configuration", "status", "step", "epoch"]
        assert list(dict.fromkeys(results.configuration)) == LABELS
        assert results.loc[results.configuration == "none", "status"].eq("paused").all()
        with page.expect_download() as download:
            button(page, "cmp_export_json").click()
        document = json.loads(Path(download.value.path()).read_text())
        assert [c["label"] for c in document["configurations"]] == LABELS and document["table"] == "penguins"
        page.screenshot(path=SCREENSHOTS / "compare-exported.png", full_page=True)

        assert page.get_by_test_id("stException").count() == 0
        assert chart_traces(page, "cmp_heatmap_chart")[0]["x"] == LABELS
        browser.close()
