"""helpers.compat: Chainer 7.8.1's import-time needs on Python 3.12+ and NumPy 2, met only where needed."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np

from helpers import compat


def run_python(code: str) -> str:
    """Run ``code`` in a fresh interpreter (the same venv) and return what it printed."""
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_apply_is_idempotent_and_chainer_imports() -> None:
    import chainer

    assert compat.apply() == []  # helpers' import already applied whatever was needed
    assert compat.needed() == []
    assert chainer.__version__ == "7.8.1"


def test_nothing_is_patched_where_the_real_modules_import() -> None:
    expected = []
    if np.lib.NumpyVersion(np.__version__) >= "2.0.0":
        expected.append("np.sctypes")
    out = run_python("""
        import importlib, warnings
        warnings.simplefilter("ignore")
        try:
            importlib.import_module("numpy.distutils.system_info")
            print("real")
        except Exception:
            print("missing")
    """)
    if out == "missing":
        expected.insert(0, "numpy.distutils")
    assert compat.applied() == expected


def test_stub_is_used_when_numpy_distutils_cannot_import() -> None:
    # Simulate Python 3.12+ / NumPy 2 on any interpreter: make numpy.distutils unimportable, then import Chainer.
    out = run_python("""
        import sys
        sys.modules["numpy.distutils"] = None  # "import numpy.distutils" now raises ImportError
        sys.modules["numpy.distutils.system_info"] = None
        from helpers import compat  # importing helpers applies the stand-ins
        import chainer
        import numpy
        print(compat.applied()[0], numpy.distutils.system_info.get_info("blas_opt"), chainer.__version__)
    """)
    assert out == "numpy.distutils {} 7.8.1"


def test_sctypes_stand_in_matches_numpy_1() -> None:
    sctypes = compat._sctypes()
    assert sctypes["int"] == [np.int8, np.int16, np.int32, np.int64]
    assert np.float32 in sctypes["float"] and np.float64 in sctypes["float"]
    from chainer.functions.array import as_strided

    assert as_strided.index_dtype[8] is np.int64  # what Chainer builds from np.sctypes at import


def test_chainer_trains_a_step_here() -> None:
    """Forward, backward and an optimizer step: Chainer's numerics work on this Python/NumPy, not just its import."""
    import chainer
    import chainer.functions as F
    import chainer.links as L

    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 3, 8, 8)).astype(np.float32)
    t = rng.integers(0, 4, 8).astype(np.int32)
    model = chainer.Sequential(L.Convolution2D(3, 4, ksize=3, pad=1), L.BatchNormalization(4), F.relu,
                               lambda h: F.average_pooling_2d(h, 8), L.Linear(4, 4))
    optimizer = chainer.optimizers.Adam()
    optimizer.setup(model)
    losses = []
    for _ in range(20):
        loss = F.softmax_cross_entropy(model(x), t)
        model.cleargrads()
        loss.backward()
        optimizer.update()
        losses.append(float(loss.array))
    assert np.isfinite(losses).all() and losses[-1] < losses[0]
