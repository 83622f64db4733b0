"""The lesson end to end in a real browser (the app as `streamlit run`, Playwright in
Debian's headless Chromium): guess, plain training, the fix, the geometry; then a shared
presenter link with a bad value in it. One screenshot per step goes to screenshots/.

Not skippable: without Chromium or Playwright this test fails."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlparse

from playwright.sync_api import Page, expect, sync_playwright

from core.lesson import LESSON_TARGET, LessonSetup
from dashboard.links import lesson_query
from tests.browser.support import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS, button

# A whole lesson run (120 steps) takes seconds; a slow, shared machine gets room.
RUN_TIMEOUT_MS = 90_000


def plotted(page: Page, key: str):
    """What plotly drew of chart ``key``'s data: its traces (a heatmap draws a g.hm)."""
    return page.locator(f".st-key-{key} .js-plotly-plot").locator("g.trace, g.hm")


def link_of(page: Page) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(page.url).query).items()}


def shoot(page: Page, name: str) -> None:
    page.screenshot(path=SCREENSHOTS / f"learn-{name}.png", full_page=True)


def no_errors(page: Page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0
    assert page.locator('[data-testid="stAlertContentError"]').count() == 0


def test_the_lesson_in_a_browser_then_a_shared_presenter_link(server):
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: install Debian's chromium"
    SCREENSHOTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 2000})
        page.set_default_timeout(60_000)
        page.goto(f"{server}/?view=learn")

        expect(page.get_by_text("Why would a model ignore a column?")).to_be_visible()
        expect(button(page, "lesson_train_plain")).to_be_disabled()
        shoot(page, "1-guess")
        page.locator(".st-key-lesson_guess").get_by_text(LESSON_TARGET, exact=True).click()
        expect(button(page, "lesson_train_plain")).to_be_enabled()
        button(page, "lesson_train_plain").click()

        expect(page.get_by_test_id("stProgress")).to_contain_text("plain training: step")
        expect(button(page, "lesson_switch_on")).to_be_visible(timeout=RUN_TIMEOUT_MS)
        expect(page.get_by_text(f"You guessed {LESSON_TARGET}: right")).to_be_visible()
        expect(page.get_by_text(f"{LESSON_TARGET} is overlooked:")).to_be_visible()
        for chart in ("lesson_curves", "lesson_alignment", "lesson_cosines", "lesson_conflict", "lesson_plane_chart"):
            expect(plotted(page, chart).first).to_be_attached()
        assert link_of(page)["lesson_step"] == "2"
        shoot(page, "2-plain")

        button(page, "lesson_switch_on").click()
        expect(page.get_by_text("The fix: IMTL-G")).to_be_visible()
        expect(button(page, "lesson_why")).to_be_visible(timeout=RUN_TIMEOUT_MS)
        expect(page.get_by_text("it is no longer overlooked")).to_be_visible()
        # the conflict for the latent code showed while region was learnt, then eased
        expect(page.get_by_text("Under IMTL-G, visitors and region conflicted").first).to_be_visible()
        expect(page.locator(".st-key-lesson_conflict .legendtext")).to_have_text(["plain sum", "IMTL-G"])
        expect(page.locator(".st-key-lesson_curves .legendtext")).to_have_text(["plain sum", "IMTL-G"])
        shoot(page, "3-fix")

        button(page, "lesson_why").click()
        expect(page.get_by_text("IMTL-G picks the direction at equal angles")).to_be_visible()
        shoot(page, "4-why")
        page.locator(".st-key-lesson_geometry_method").get_by_role("radio", name="MGDA-UB").click()
        # one click at a time, as a person reads the picture before the next one
        expect(page.get_by_text("IMTL-G bisects the angle")).to_have_count(0)
        page.locator(".st-key-lesson_plane_why_lengths").get_by_text("True lengths").click()
        expect(page.get_by_text("MGDA-UB's closest point to 0 puts")).to_be_visible()
        expect(page.locator(".st-key-lesson_plane_why_chart .legendtext")).to_contain_text(["closest point to 0"])
        assert link_of(page)["lesson_step"] == "4"
        no_errors(page)
        shoot(page, "4-why-mgda")

        # a teacher's link to stage 2 on another pair of columns, in presenter mode, with one bad value
        shared = LessonSetup(stage=2, columns=("temperature", LESSON_TARGET), presenter=True)
        page.goto(f"{server}/?{urlencode({**lesson_query(shared), 'lesson_method': 'adam'})}")
        warning = page.get_by_test_id("stAlert").filter(has_text="This link had values")
        expect(warning).to_contain_text("method 'adam' is not one of imtl-g, mgda-ub, pcgrad")
        expect(button(page, "lesson_switch_on")).to_be_visible(timeout=RUN_TIMEOUT_MS)
        expect(button(page, "lesson_switch_on")).to_contain_text("Switch on IMTL-G")  # the default fix
        expect(page.get_by_text("Lesson settings")).to_have_count(0)
        paragraph = page.get_by_text("The model trains for", exact=False)
        assert float(paragraph.evaluate("e => getComputedStyle(e).fontSize").removesuffix("px")) >= 20
        expect(page.get_by_text("The plane of temperature and region").first).to_be_visible()
        # the address now holds the setup as restored: the bad value replaced by its default
        assert link_of(page) == lesson_query(shared)
        no_errors(page)
        shoot(page, "presenter")
        browser.close()
