"""The real-browser test of the built book runs only on request: `pytest tests/browser --browser`.

`make browser-test` does that after `make book`; the default `make test` skips it.
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--browser", action="store_true", default=False, help="open every page of _build/html in headless Chromium"
    )
    parser.addoption("--chromium", default=None, help="Chromium executable (default: $CHROMIUM, else chromium on PATH)")
