"""The import-time environment check and the progress display."""

from __future__ import annotations

import re
import sys
import time
from importlib import metadata

import pytest

import helpers
from helpers.progress import Progress


def test_supported_environment_has_no_problems() -> None:
    assert helpers.environment_problems() == []


def test_python_310_is_refused_with_one_clear_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "version_info", (3, 10, 13, "final", 0))
    problems = helpers.environment_problems()
    assert len(problems) == 1 and "needs Python 3.11 or newer" in problems[0] and "not Python 3.10" in problems[0]


@pytest.mark.parametrize("version", [(3, 11, 7), (3, 12, 1), (3, 13, 0)])
def test_supported_pythons_are_accepted(monkeypatch: pytest.MonkeyPatch, version: tuple[int, int, int]) -> None:
    monkeypatch.setattr(sys, "version_info", (*version, "final", 0))
    assert helpers.environment_problems() == []


def test_old_numpy_is_refused_and_numpy_2_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    real = metadata.version
    for numpy_version, refused in (("1.24.4", True), ("1.26.4", False), ("2.5.5", False)):
        monkeypatch.setattr(metadata, "version", lambda name, v=numpy_version: v if name == "numpy" else real(name))
        problems = helpers.environment_problems()
        assert bool(problems) == refused and (not refused or "too old" in problems[0])


def test_progress_in_a_terminal_goes_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    with Progress("work", total=4) as bar:
        bar.update(4)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert re.search(r"\[progress\] work: 4/4 \(100%\), done in \d+\.\d s$", captured.err.rstrip()), captured.err


def test_progress_clock_starts_after_setup(monkeypatch: pytest.MonkeyPatch) -> None:
    from helpers import progress

    def slow_check() -> bool:  # as if importing IPython took a while
        time.sleep(0.3)
        return False

    monkeypatch.setattr(progress, "_in_jupyter", slow_check)
    bar = Progress("work", total=1)
    assert time.perf_counter() - bar.start < 0.2


def test_disabled_progress_is_silent(capsys: pytest.CaptureFixture[str]) -> None:
    with Progress("work", total=4, enabled=False) as bar:
        bar.update(4)
    assert capsys.readouterr() == ("", "")


def test_setuptools_without_pkg_resources_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib import util

    real_version, real_find_spec = metadata.version, util.find_spec
    monkeypatch.setattr(metadata, "version", lambda name: "81.0.0" if name == "setuptools" else real_version(name))
    monkeypatch.setattr(util, "find_spec", lambda name, *a: None if name == "pkg_resources" else real_find_spec(name, *a))
    problems = helpers.environment_problems()
    assert problems and 'pip install "setuptools<74"' in problems[0] and "81.0.0" in problems[0]


def test_quick_mode_gets_its_own_figures_and_indexes(monkeypatch: pytest.MonkeyPatch) -> None:
    from helpers import cache, config

    monkeypatch.delenv(config.QUICK_ENV, raising=False)
    assert config.figure_path("grid.png").name == "grid.png"
    assert cache.cache_file("mnist-30tree.ann").name == "mnist-30tree.ann"
    assert config.mode_message("all of it.", "less.") == "Full mode: all of it."
    monkeypatch.setenv(config.QUICK_ENV, "1")
    assert config.figure_path("grid.png").name == "grid-quick.png"
    assert cache.cache_file("mnist-30tree.ann").name == "mnist-30tree-quick.ann"
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


@pytest.mark.parametrize("library", ["annoy", "hnswlib"])
def test_the_compiled_libraries_answer_the_readme_example_like_brute_force(library: str) -> None:
    # The check that catches a miscompiled build (Annoy under clang's -ffast-math returns one neighbour or crashes).
    from helpers import environment

    assert environment.probe_library(library) is None


@pytest.mark.parametrize(("probe", "expected"), [
    ("import os, signal; os.kill(os.getpid(), signal.SIGSEGV)", "crashed the process (SIGSEGV)"),
    ("print(1, 1, 1)", "it returned 1 (1 distinct)"),
    ("print(1000, 1000, 7)", "only 7 of its 10 nearest"),
    ("raise RuntimeError('broken module')", "RuntimeError: broken module"),
])
def test_a_broken_library_build_is_a_failed_check_with_its_fix(monkeypatch: pytest.MonkeyPatch, probe: str,
                                                              expected: str) -> None:
    from helpers import environment

    monkeypatch.setattr(environment, "_LIBRARY_PROBE", probe)
    check = environment._annoy()
    assert check.status == "FAIL" and expected in check.detail
    assert "ANNOY_COMPILER_ARGS" in check.detail and "annoy_build_flags.py" in check.detail


def test_the_checks_table_wraps_long_details_at_word_boundaries() -> None:
    from helpers import environment

    checks = [environment.Check("a check", "ok", "word " * 40), environment.Check("another", "FAIL", "short")]
    lines = environment.report(checks, width=60).splitlines()
    assert all(len(line) <= 60 for line in lines) and lines[-1] == "[FAIL] another  short"
    assert all(line.endswith("word") for line in lines[:-1]) and lines[1].startswith(" " * 16 + "word")


def test_quick_mode_exported_in_the_learners_shell_does_not_change_the_tests() -> None:
    # The README invites `ANN_TUTORIAL_QUICK=1`; a learner who exported it must still get a passing test run.
    import os
    import subprocess

    from helpers import config

    test = "tests/test_exact_and_evaluation.py::test_exact_knn_cached_reuses_and_notices_new_data"
    env = dict(os.environ, ANN_TUTORIAL_QUICK="1", ANN_TUTORIAL_FULL_SWEEP="1")
    done = subprocess.run([sys.executable, "-m", "pytest", test], capture_output=True, text=True, env=env,
                          cwd=config.PROJECT_ROOT)
    assert done.returncode == 0, done.stdout[-2000:]
    assert "ignored for this test run" in done.stdout and "ANN_TUTORIAL_QUICK=1" in done.stdout
