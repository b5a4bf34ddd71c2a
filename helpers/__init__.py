"""Shared code for the Annoy tutorial notebooks.

Importing this package first checks that the interpreter and NumPy are ones
Chainer 7.8.1 runs on, so a learner gets one clear sentence instead of a
traceback from deep inside Chainer.
"""

from __future__ import annotations

import sys
from importlib import metadata, util

SUPPORTED_PYTHON = (3, 11)  # Chainer 7.8.1 stops at 3.11; the pinned packages start there
FIX = "set up a fresh environment with the install command in README.md"


class UnsupportedEnvironmentError(ImportError):
    """The interpreter or a key package cannot run Chainer 7.8.1."""


def _major_minor(version: str) -> tuple[int, int]:
    parts = (version.split(".") + ["0"])[:2]
    return int(parts[0]), int("".join(ch for ch in parts[1] if ch.isdigit()) or 0)


def environment_problems() -> list[str]:
    """Return one sentence per problem that stops Chainer 7.8.1 from working here."""
    problems = []
    if tuple(sys.version_info[:2]) != SUPPORTED_PYTHON:
        problems.append(
            f"This tutorial needs Python 3.11 (Chainer 7.8.1 does not run on 3.12 or later, and the pinned "
            f"packages need 3.11), not Python {sys.version_info[0]}.{sys.version_info[1]}; install Python 3.11 and {FIX}."
        )
        return problems  # the package checks below are moot on the wrong interpreter
    try:
        numpy_version = metadata.version("numpy")
    except metadata.PackageNotFoundError:
        problems.append(f"NumPy is not installed; {FIX}.")
    else:
        if _major_minor(numpy_version) >= (2, 0):
            problems.append(
                f"NumPy {numpy_version} is installed but Chainer 7.8.1 needs NumPy < 2; "
                f'run: pip install "numpy<2" (or {FIX}).'
            )
    try:
        setuptools_version = metadata.version("setuptools")
    except metadata.PackageNotFoundError:
        setuptools_version = None
    if setuptools_version is None or util.find_spec("pkg_resources") is None or _major_minor(setuptools_version) >= (74, 0):
        problems.append(
            f"Chainer 7.8.1 needs setuptools < 74 (it imports pkg_resources and, through NumPy, "
            f"distutils.msvccompiler, which later setuptools dropped), but found {setuptools_version or 'none'}; "
            'run: pip install "setuptools<74".'
        )
    return problems


_problems = environment_problems()
if _problems:
    raise UnsupportedEnvironmentError(" ".join(_problems))
