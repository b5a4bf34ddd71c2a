"""The import-time environment check and the progress display."""

from __future__ import annotations

import sys
from importlib import metadata

import pytest

import helpers
from helpers.progress import Progress


def test_supported_environment_has_no_problems() -> None:
    assert helpers.environment_problems() == []


def test_python_312_is_refused_with_one_clear_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "version_info", (3, 12, 1, "final", 0))
    problems = helpers.environment_problems()
    assert len(problems) == 1 and "needs Python 3.11" in problems[0] and "not Python 3.12" in problems[0]


def test_numpy_2_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    real = metadata.version
    monkeypatch.setattr(metadata, "version", lambda name: "2.1.0" if name == "numpy" else real(name))
    problems = helpers.environment_problems()
    assert problems and 'pip install "numpy<2"' in problems[0]


def test_progress_in_a_terminal_goes_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    with Progress("work", total=4) as bar:
        bar.update(4)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.rstrip().endswith("[progress] work: 4/4 (100%), done in 0.0 s")


def test_disabled_progress_is_silent(capsys: pytest.CaptureFixture[str]) -> None:
    with Progress("work", total=4, enabled=False) as bar:
        bar.update(4)
    assert capsys.readouterr() == ("", "")


def test_setuptools_74_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    real = metadata.version
    monkeypatch.setattr(metadata, "version", lambda name: "80.9.0" if name == "setuptools" else real(name))
    problems = helpers.environment_problems()
    assert problems and 'pip install "setuptools<74"' in problems[0] and "80.9.0" in problems[0]


def test_quick_mode_gets_its_own_figures_and_indexes(monkeypatch: pytest.MonkeyPatch) -> None:
    from helpers import config

    monkeypatch.delenv(config.QUICK_ENV, raising=False)
    assert config.figure_path("grid.png").name == "grid.png"
    assert config.index_path("mnist-30tree").name == "mnist-30tree.ann"
    assert config.mode_message("all of it.", "less.") == "Full mode: all of it."
    monkeypatch.setenv(config.QUICK_ENV, "1")
    assert config.figure_path("grid.png").name == "grid-quick.png"
    assert config.index_path("mnist-30tree").name == "mnist-30tree-quick.ann"
    assert "QUICK MODE is on" in config.mode_message("all of it.", "less.")


def test_a_broken_chainer_is_a_failed_check_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    import helpers.datasets  # noqa: F401  (loaded, so the monkeypatch below can remove and restore them)
    import helpers.environment  # noqa: F401

    for name in ("datasets", "environment"):
        monkeypatch.delitem(sys.modules, f"helpers.{name}")
        monkeypatch.delattr(helpers, name)
    monkeypatch.setitem(sys.modules, "chainer", None)  # "import chainer" now raises ImportError
    environment = importlib.import_module("helpers.environment")  # a fresh import, as notebook 00 does
    checks = environment.run_checks()
    chainer_check = next(c for c in checks if c.name == "Chainer imports")
    assert chainer_check.status == "FAIL" and "README" in chainer_check.detail
    assert not any(c.name.endswith(" data") for c in checks)  # data checks need Chainer: skipped
