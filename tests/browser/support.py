"""What the browser tests share: Chromium's settings and reading what the page drew."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from tests.paths import SCREENSHOTS

__all__ = [
    "CHANGE_TIMEOUT_MS",
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "SCREENSHOTS",
    "STEP",
    "button",
    "drawn",
    "rendered",
    "show",
    "step_count",
    "wait_for_change",
]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
START_TIMEOUT_S = 90
# Several refreshes (one a second) while playing, with room for a slow, shared machine.
CHANGE_TIMEOUT_MS = 45_000
expect.set_options(timeout=60_000)


# The data a chart drew: plotly keeps it on its graph div. Streamlit may hold a hidden
# copy of a chart while it swaps elements: only the visible one counts.
DRAWN = (
    "(key) => { const charts = [...document.querySelectorAll(`.st-key-${key} .js-plotly-plot`)]"
    ".filter(g => g.offsetParent !== null && g.data);"
    " return charts.length ? JSON.stringify(charts[0].data.map(t => [t.x, t.y, t.z])) : ''; }"
)


def rendered(page: Page, key: str) -> str:
    return page.evaluate(DRAWN, key)


def drawn(page: Page, key: str) -> str:
    """The chart's data, once it has drawn some."""
    page.wait_for_function(f"(key) => ({DRAWN})(key) !== ''", arg=key, timeout=CHANGE_TIMEOUT_MS)
    return rendered(page, key)


def wait_for_change(page: Page, key: str, before: str) -> str:
    page.wait_for_function(
        f"([key, before]) => {{ const now = ({DRAWN})(key); return now !== '' && now !== before; }}",
        arg=[key, before],
        timeout=CHANGE_TIMEOUT_MS,
    )
    return rendered(page, key)


STEP = """() => { const metric = [...document.querySelectorAll('[data-testid="stMetric"]')]
  .find(m => m.innerText.startsWith('Step'));
  return metric ? Number(metric.querySelector('[data-testid="stMetricValue"]').innerText.replace(/,/g, '')) : -1; }"""


def step_count(page: Page) -> int:
    return page.evaluate(STEP)


def show(page: Page, view: str) -> None:
    page.get_by_role("radio", name=view, exact=True).click()


def button(page: Page, key: str):
    """The visible button of widget ``key`` (a button with a tooltip also has a hidden copy)."""
    return page.locator(f".st-key-{key}").get_by_role("button")
