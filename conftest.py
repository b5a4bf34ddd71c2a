"""Test-run settings for the whole project: the unit tests and the notebooks under nbval.

The tests must not depend on the learner's shell. Quick mode and the full sweep change what the notebooks compute,
so their committed outputs would no longer match: both variables are removed before anything runs (the notebooks'
kernels inherit this process's environment), and the run's header says so. ``ANN_TUTORIAL_MIRROR`` and
``ANN_TUTORIAL_CACHE`` are kept: they say where data and cache live, not what is computed.
"""

from __future__ import annotations

import os

import pytest

from helpers import config

MODE_VARIABLES = (config.QUICK_ENV, config.FULL_SWEEP_ENV)
_ignored: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    for name in MODE_VARIABLES:
        value = os.environ.pop(name, None)
        if value is not None:
            _ignored.append(f"{name}={value}")


def pytest_report_header(config: pytest.Config) -> str | None:
    if _ignored:
        return f"ignored for this test run (the committed outputs are full mode's): {', '.join(_ignored)}"
    return None
