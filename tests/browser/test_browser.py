"""End to end in a real browser: the app started as `streamlit run`, driven by
Playwright in Debian's headless Chromium. A CSV is uploaded through the page's file
chooser, Play is pressed, and the loss curves, the cosine heatmap and a marginal
chart must change on screen. One screenshot per view goes to screenshots/.

Not skippable: without Chromium or Playwright this test fails."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch
from playwright.sync_api import Page, expect, sync_playwright

from tests.browser.support import (
    CHANGE_TIMEOUT_MS,
    CHROMIUM,
    CHROMIUM_ARGS,
    SCREENSHOTS,
    STEP,
    drawn,
    show,
    step_count,
    wait_for_change,
)
from tests.paths import SAMPLES

UPLOAD = SAMPLES / "CPS1985.csv"


@pytest.fixture(scope="module")
def page(server):
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: install Debian's chromium (bash scripts/setup.sh dev)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        tab = browser.new_page(viewport={"width": 1500, "height": 1900})
        tab.set_default_timeout(60_000)
        tab.goto(server)
        yield tab
        browser.close()


def test_upload_play_and_watch_the_charts_change(page: Page):
    SCREENSHOTS.mkdir(exist_ok=True)
    expect(page.get_by_text("Overlooked columns · ")).to_be_visible()

    # upload through the page's own file chooser
    show(page, "Data")
    with page.expect_file_chooser() as chooser:
        page.get_by_test_id("stFileUploaderDropzone").get_by_role("button", name="Upload", exact=True).click()
    chooser.value.set_files(UPLOAD)
    expect(page.get_by_text("Overlooked columns · CPS1985")).to_be_visible()
    expect(page.locator(".st-key-upload")).to_contain_text("CPS1985.csv")
    expect(page.get_by_text("534", exact=True)).to_be_visible()
    expect(page.locator('[class*="st-key-schema_editor_"] canvas').first).to_be_visible()
    page.wait_for_timeout(1500)  # the grids draw on their canvases after they appear
    page.screenshot(path=SCREENSHOTS / "data.png", full_page=True)

    show(page, "Train")
    expect(page.locator(".st-key-play")).to_be_visible()
    page.locator(".st-key-play button").click()
    expect(page.locator(".st-key-pause")).to_be_visible()

    loss = drawn(page, "loss_chart")
    heatmap = drawn(page, "cosine_chart")
    first_steps = step_count(page)
    assert first_steps > 0
    wait_for_change(page, "loss_chart", loss)
    wait_for_change(page, "cosine_chart", heatmap)
    page.wait_for_function(f"(before) => ({STEP})() > before", arg=first_steps, timeout=CHANGE_TIMEOUT_MS)
    page.screenshot(path=SCREENSHOTS / "train.png", full_page=True)

    page.get_by_role("radio", name="Marginals", exact=True).click()
    expect(page.locator(".st-key-marginal_column")).to_be_visible()
    marginal = drawn(page, "marginal_chart")
    wait_for_change(page, "marginal_chart", marginal)
    expect(page.get_by_test_id("stVegaLiteChart")).to_be_visible()
    page.screenshot(path=SCREENSHOTS / "train-marginals.png", full_page=True)

    page.locator(".st-key-pause button").click()
    expect(page.locator(".st-key-play")).to_be_visible()
    paused_at = step_count(page)
    time.sleep(2.5)
    assert step_count(page) == paused_at
    # the exports are produced on click, from the run as it is
    page.get_by_text("Export", exact=True).click()
    with page.expect_download() as download:
        page.locator(".st-key-export_history_csv button").click()
    header = Path(download.value.path()).read_text().splitlines()[0].split(",")
    assert header[:2] == ["step", "epoch"] and "column_losses[wage]" in header
    with page.expect_download() as download:
        page.locator(".st-key-export_weights button").click()
    assert torch.load(download.value.path(), weights_only=False)["step"] == paused_at

    # nothing on the page is an error or a traceback
    assert page.locator('[data-testid="stException"]').count() == 0
    assert page.locator('[data-testid="stAlertContentError"]').count() == 0

    for view in ("Compare", "Learn"):
        show(page, view)
        expect(page.get_by_role("radio", name=view, exact=True)).to_be_checked()
        page.screenshot(path=SCREENSHOTS / f"{view.lower()}.png", full_page=True)
