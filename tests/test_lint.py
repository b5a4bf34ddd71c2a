"""The helpers and tests pass ruff with the project's settings (pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ruff_finds_nothing_in_helpers_and_tests() -> None:
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "helpers", "tests", "tools", "conftest.py"],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
