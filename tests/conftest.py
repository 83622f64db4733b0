"""Test-wide settings: one torch thread (2-core machines, parallel helpers), the `browser`
marker on everything under tests/browser/, and no silent skips -- a skipped test fails the
run, so a missing dependency is never green."""

from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)

BROWSER_TESTS = Path(__file__).resolve().parent / "browser"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if BROWSER_TESTS in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.slow)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped tests fail this suite: {report.longrepr}"
