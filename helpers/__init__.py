"""Shared code for the Annoy tutorial notebooks.

Importing this package first checks that the interpreter and packages are ones
the series runs on, so a learner gets one clear sentence instead of a traceback
from deep inside Chainer; then it makes Chainer 7.8.1 importable on Python
3.12+ and NumPy 2 (``helpers.compat``). Import ``helpers`` before ``chainer``.
"""

from __future__ import annotations

import sys
from importlib import metadata, util

MIN_PYTHON = (3, 11)  # the pinned packages start there
TESTED_PYTHONS = ((3, 11), (3, 12), (3, 13))
FIX = "set up a fresh environment with the install command in README.md"


class UnsupportedEnvironmentError(ImportError):
    """The interpreter or a key package cannot run the series."""


def _major_minor(version: str) -> tuple[int, int]:
    parts = (version.split(".") + ["0"])[:2]
    return int(parts[0]), int("".join(ch for ch in parts[1] if ch.isdigit()) or 0)


def environment_problems() -> list[str]:
    """Return one sentence per problem that stops the series from working here."""
    if tuple(sys.version_info[:2]) < MIN_PYTHON:
        return [f"This tutorial needs Python 3.11 or newer (tested on 3.11 to 3.15), not Python "
                f"{sys.version_info[0]}.{sys.version_info[1]}; install a newer Python and {FIX}."]
    problems = []
    try:
        numpy_version = metadata.version("numpy")
    except metadata.PackageNotFoundError:
        problems.append(f"NumPy is not installed; {FIX}.")
    else:
        if _major_minor(numpy_version) < (1, 26):
            problems.append(f"NumPy {numpy_version} is too old (the series is tested with 1.26 and 2.x); {FIX}.")
    try:
        setuptools_version = metadata.version("setuptools")
    except metadata.PackageNotFoundError:
        setuptools_version = None
    if setuptools_version is None or util.find_spec("pkg_resources") is None:
        problems.append(
            f"Chainer 7.8.1 imports pkg_resources, which setuptools {setuptools_version or '(not installed)'} "
            f'does not provide (setuptools 81 dropped it); run: pip install "setuptools<74" (or {FIX}).'
        )
    return problems


_problems = environment_problems()
if _problems:
    raise UnsupportedEnvironmentError(" ".join(_problems))

from helpers import compat  # noqa: E402  (after the checks: it imports NumPy)

compat.apply()
