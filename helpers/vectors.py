"""Vector transforms the lessons use: unit length, bits, and the inner-product-to-angular reduction."""

from __future__ import annotations

import numpy as np

from helpers.checks import check_vectors


def normalise(x: np.ndarray) -> np.ndarray:
    """Each row scaled to length 1 (all-zero rows stay zero); float32."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norms, np.finfo(np.float32).tiny)


def binarise(x: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """0/1 float32 rows: 1 where a value is above ``threshold``.

    Annoy's hamming index packs the floats it is given the same way, with 0.5 (any value > 0.5 becomes a 1 bit).
    """
    return (np.asarray(x) > threshold).astype(np.float32)


def mips_items(items: np.ndarray) -> tuple[np.ndarray, float]:
    """Items for maximum-inner-product search with an angular index (Bachrach et al., 2014).

    Appends ``sqrt(M**2 - |x|**2)`` to every item, ``M`` being the largest norm, so every item has length ``M``;
    then for a query ``q`` with 0 appended, ``q . x`` is ``|q| * M * cos``, and the angular order is the
    inner-product order. Returns (augmented items, M).
    """
    items = check_vectors(items, "items")
    squares = (items.astype(np.float64) ** 2).sum(axis=1)  # notebook 05 shows these four lines
    largest = np.sqrt(squares.max())
    extra = np.sqrt(np.maximum(largest ** 2 - squares, 0))
    return np.hstack([items, extra[:, None].astype(np.float32)]), float(largest)


def mips_queries(queries: np.ndarray) -> np.ndarray:
    """Queries for an index built from ``mips_items``: 0 in the extra slot."""
    queries = check_vectors(queries, "queries")
    return np.hstack([queries, np.zeros((len(queries), 1), dtype=np.float32)])
