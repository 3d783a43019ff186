"""Fixtures of the end-to-end tests: where their screenshots go, and one
screenshot of the whole page for each failed test."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
_used: dict = {}


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """``$VOXLOGICA_E2E_SCREENSHOTS``, else ``tests/e2e/screenshots/`` (git-ignored);
    emptied first, so everything in it comes from this run."""
    folder = Path(os.environ.get("VOXLOGICA_E2E_SCREENSHOTS") or HERE / "screenshots").resolve()
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    _used["screenshots"] = folder
    return folder


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def pytest_terminal_summary(terminalreporter):
    folder = _used.get("screenshots")
    if folder is not None:
        shots = sorted(p.name for p in folder.iterdir())
        terminalreporter.write_line(f"e2e screenshots and logs ({len(shots)} files): {folder}")
