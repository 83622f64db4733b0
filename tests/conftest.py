"""Test-wide settings: one torch thread (2-core machines, parallel helpers), the `browser`
marker on everything under tests/browser/, no silent skips -- a skipped test fails the run,
so a missing dependency is never green -- and a line of its own in the summary for a check
that could not run on this machine (the CUDA smoke test without a GPU)."""

from pathlib import Path

import pytest
import torch

NOT_RUN_MARK = "not run:"

torch.set_num_threads(1)

BROWSER_TESTS = Path(__file__).resolve().parent / "browser"
# Modules whose tests mostly take seconds each (AppTest sessions, subprocesses, Ray, training runs),
# from `pytest --durations`: `-m "not browser and not slow"` leaves them out of the quick loop.
SLOW_MODULES = {
    "test_app.py",
    "test_session_workers.py",
    "test_determinism.py",
    "test_app_compare.py",
    "test_app_learn.py",
    "test_fix_it.py",
    "test_reproduce.py",
    "test_reproduce_engine.py",
    "test_cli_compare.py",
    "test_cli_infer.py",
    "test_cli_train.py",
    "test_api.py",
    "test_mtl_torchjd_solvers.py",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        path = Path(str(item.path))
        if BROWSER_TESTS in path.parents:
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.slow)
        elif path.name in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped tests fail this suite: {report.longrepr}"


_not_run: list[str] = []


def pytest_warning_recorded(warning_message, when, nodeid, location):
    text = str(warning_message.message)
    if NOT_RUN_MARK in text and text not in _not_run:
        _not_run.append(text)


def pytest_terminal_summary(terminalreporter):
    for text in _not_run:
        terminalreporter.write_line(f"NOT RUN HERE: {text}", yellow=True)
