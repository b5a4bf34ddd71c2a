"""Make Chainer 7.8.1 importable on Python 3.12+ and NumPy 2, before it is first imported.

Chainer 7.8.1 (2022, its last release) trips over two things at import time
that newer Python and NumPy removed. Neither is used for anything this series
needs, so each gets the smallest stand-in:

- ``chainer/_environment_check.py`` imports ``numpy.distutils.system_info``
  only to warn about Apple's Accelerate BLAS on macOS. ``numpy.distutils`` is
  gone in NumPy 2 and does not import on Python 3.12+ (nor with setuptools 74+,
  whose ``distutils`` lacks ``msvccompiler``). Stand-in: a module whose
  ``get_info`` finds nothing, so that warning is simply never shown.
- ``chainer/functions/array/as_strided.py`` reads ``np.sctypes`` (removed in
  NumPy 2). Stand-in: the same dictionary NumPy 1.26 had.

``apply()`` is idempotent and changes nothing where the real thing imports
(Python 3.11 with NumPy 1.26). ``import helpers`` calls it, so import
``helpers`` before ``chainer``. Chainer still needs ``pkg_resources``, which
setuptools ships up to version 80 (``requirements.txt`` pins one).
"""

from __future__ import annotations

import importlib
import sys
import types
import warnings

import numpy as np

STUB_MARK = "_ann_tutorial_stub"


def _numpy_distutils_works() -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # numpy.distutils announces its own deprecation
            importlib.import_module("numpy.distutils.system_info")
    except Exception:  # noqa: BLE001 (ImportError, or distutils' own errors on newer setuptools)
        for name in ("numpy.distutils.system_info", "numpy.distutils"):
            sys.modules.pop(name, None)  # drop any half-imported module
        return False
    return True


def _stub_numpy_distutils() -> None:
    package = types.ModuleType("numpy.distutils")
    system_info = types.ModuleType("numpy.distutils.system_info")
    system_info.get_info = lambda name, notfound_action=0: {}  # type: ignore[attr-defined]
    package.system_info = system_info  # type: ignore[attr-defined]
    package.__path__ = []  # a package, so "import numpy.distutils.system_info" resolves
    for module in (package, system_info):
        setattr(module, STUB_MARK, True)
        module.__doc__ = "Stand-in from helpers.compat: numpy.distutils does not import here."
    sys.modules["numpy.distutils"] = package
    sys.modules["numpy.distutils.system_info"] = system_info
    np.distutils = package  # type: ignore[attr-defined]  (Chainer reaches it as numpy.distutils.system_info)


def _sctypes() -> dict[str, list[type]]:
    """NumPy 1.26's ``np.sctypes``, built from the scalar types NumPy 2 still has."""
    return {
        "int": [np.int8, np.int16, np.int32, np.int64],
        "uint": [np.uint8, np.uint16, np.uint32, np.uint64],
        "float": [np.float16, np.float32, np.float64, np.longdouble],
        "complex": [np.complex64, np.complex128, np.clongdouble],
        "others": [bool, object, bytes, str, np.void],
    }


def needed() -> list[str]:
    """What ``apply()`` would patch here (empty on Python 3.11 with NumPy 1.26)."""
    patches = []
    if sys.modules.get("numpy.distutils.system_info") is None and not _numpy_distutils_works():
        patches.append("numpy.distutils")
    if "sctypes" not in vars(np):
        patches.append("np.sctypes")
    return patches


def apply() -> list[str]:
    """Put the stand-ins in place where they are needed; return what was patched (idempotent)."""
    patches = needed()
    if "numpy.distutils" in patches:
        _stub_numpy_distutils()
    if "np.sctypes" in patches:
        np.sctypes = _sctypes()  # type: ignore[attr-defined]
    return patches


def applied() -> list[str]:
    """What is patched in this process (for notebook 00's report)."""
    patches = []
    if getattr(sys.modules.get("numpy.distutils.system_info"), STUB_MARK, False):
        patches.append("numpy.distutils")
    if "sctypes" in vars(np) and np.lib.NumpyVersion(np.__version__) >= "2.0.0":
        patches.append("np.sctypes")
    return patches
