"""Input checks every public entry runs once: vectors and metric names. The bottom of the house: imports NumPy only."""

from __future__ import annotations

import numpy as np

METRICS = ("angular", "euclidean", "manhattan", "dot", "hamming")
"""The metrics Annoy offers; the series' exact search follows the same definitions."""


def check_vectors(vectors: np.ndarray, name: str = "vectors") -> np.ndarray:
    """Return ``vectors`` as a C-contiguous float32 2-D array, or raise a clear ValueError.

    An array that already is one is returned as it is, after one pass for NaN and infinity.
    """
    array = np.asarray(vectors)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (n_items, dim); got shape {array.shape}")
    if array.shape[0] == 0:
        raise ValueError(f"{name} is empty: there is nothing to index or query")
    if array.shape[1] == 0:
        raise ValueError(f"{name} have zero dimensions")
    array = np.ascontiguousarray(array, dtype=np.float32)
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contain NaN or infinite values")
    return array


def check_metric(metric: str) -> str:
    """Raise a ValueError naming the choices unless ``metric`` is one Annoy knows."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; Annoy offers {', '.join(METRICS)}")
    return metric
