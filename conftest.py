"""The package's doctests (``--doctest-modules``): those that plot need matplotlib, an
optional dependency, so they skip without it, and the examples show no skip guard."""

from __future__ import annotations

import importlib.util

import pytest


def pytest_runtest_setup(item: pytest.Item) -> None:
    if isinstance(item, pytest.DoctestItem) and item.dtest is not None and importlib.util.find_spec("matplotlib") is None:
        if any(".plot(" in example.source for example in item.dtest.examples):
            pytest.skip("this example plots: it needs matplotlib")
