"""Exact (brute-force) nearest neighbours with NumPy: the ground truth Annoy is measured against.

Distances follow Annoy's definitions so the two can be compared number for number:

- angular: ``sqrt(2 - 2 cos(u, v))`` (Euclidean distance of the normalised vectors, 0..2)
- euclidean: ``||u - v||``;  manhattan: ``sum |u - v|``
- dot: the inner product ``u . v`` (larger is nearer)
- hamming: the number of differing bits of 0/1 vectors
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from helpers import cache
from helpers.checks import check_metric, check_vectors
from helpers.progress import Progress
from helpers.vectors import normalise

LARGER_IS_NEARER = {"dot"}


def _angular_from_cosines(cos: np.ndarray) -> np.ndarray:
    """``sqrt(2 - 2 cos)``, computed in the array ``cos * -2`` (one chunk-sized array)."""
    d = cos * -2.0
    d += 2.0
    return np.sqrt(np.maximum(d, 0.0, out=d), out=d)


def _euclidean_from_cosines(cos: np.ndarray, q_norms: np.ndarray, norms: np.ndarray) -> np.ndarray:
    """``|q - t| = sqrt(|q|^2 + |t|^2 - 2 cos(q, t) |q| |t|)`` for every pair, from the cosines and the lengths."""
    d = cos * (-2.0 * q_norms[:, None])
    d *= norms[None, :]
    d += (q_norms ** 2)[:, None]
    d += (norms ** 2)[None, :]
    return np.sqrt(np.maximum(d, 0.0, out=d), out=d)


def distance_function(train: np.ndarray, metric: str) -> Callable[[np.ndarray], np.ndarray]:
    """A function from a chunk of queries (m, d) to their distances to every row of ``train``, (m, n).

    The per-dataset work (normalising, norms) is done once, here, not per chunk. Angular and euclidean both start
    from the cosines of unit vectors (one formula each, also when ``exact_knn_many`` computes both from one product).
    """
    check_metric(metric)
    if metric in ("angular", "euclidean"):
        unit, norms = normalise(train), np.linalg.norm(train, axis=1)
        if metric == "angular":
            return lambda q: _angular_from_cosines(normalise(q) @ unit.T)
        return lambda q: _euclidean_from_cosines(normalise(q) @ unit.T, np.linalg.norm(q, axis=1), norms)
    if metric == "dot":
        return lambda q: q @ train.T
    if metric == "hamming":  # 0/1 vectors: |a| + |b| - 2 a.b differing bits
        ones = train.sum(1)
        return lambda q: q.sum(1)[:, None] + ones[None, :] - 2.0 * (q @ train.T)
    return lambda q: np.stack([np.abs(train - row).sum(1) for row in q])  # manhattan: no matrix-product form


def distance_matrix(train: np.ndarray, queries: np.ndarray, metric: str) -> np.ndarray:
    """All distances between ``queries`` (m, d) and ``train`` (n, d); memory is m * n * 4 bytes."""
    return distance_function(train, metric)(queries)


def one_query_searcher(train: np.ndarray, metric: str, k: int) -> Callable[[np.ndarray], np.ndarray]:
    """Exact search for one query at a time, with the per-dataset work done once up front.

    This is brute force as a service would run it, for timing against Annoy; it ranks as ``exact_knn`` does.
    """
    distances = distance_function(check_vectors(train, "train"), metric)
    sign = -1.0 if metric in LARGER_IS_NEARER else 1.0

    def search(query: np.ndarray) -> np.ndarray:
        s = sign * distances(np.asarray(query, dtype=np.float32)[None, :])[0]
        top = np.argpartition(s, k - 1)[:k]
        return top[np.argsort(s[top], kind="stable")]

    return search


def _angular_and_euclidean(train: np.ndarray) -> Callable[[np.ndarray], dict[str, np.ndarray]]:
    """Both metrics' distances for a chunk of queries from one matrix product (the dearest step, done once):
    the same operations as ``distance_function`` does for each, so the same distances, bit for bit."""
    unit, norms = normalise(train), np.linalg.norm(train, axis=1)

    def distances(q: np.ndarray) -> dict[str, np.ndarray]:
        cos = normalise(q) @ unit.T
        return {"angular": _angular_from_cosines(cos),
                "euclidean": _euclidean_from_cosines(cos, np.linalg.norm(q, axis=1), norms)}

    return distances


def _chunk_rows(metrics: tuple[str, ...], n_train: int, dim: int, budget_mb: int = 256) -> int:
    """Queries per chunk: distances of about ``budget_mb`` per metric (the peak, with the sorting, is about twice
    that). The chunk is as long as the most demanding of ``metrics`` allows alone: angular and euclidean together
    get the chunks each gets alone, and so the same matrix products."""
    per_query = n_train * 4 * max(dim if metric == "manhattan" else 3 for metric in metrics)
    return max(1, min(1024, budget_mb * 2**20 // per_query))


def exact_knn_many(train: np.ndarray, queries: np.ndarray, k: int, metrics: tuple[str, ...],
                   show_progress: bool = True) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``exact_knn`` for several metrics in one pass over the queries: {metric: (ids, distances)}.

    Angular and euclidean together share one matrix product per chunk (``_angular_and_euclidean``).
    """
    train, queries = check_vectors(train, "train"), check_vectors(queries, "queries")
    metrics = tuple(dict.fromkeys(check_metric(m) for m in metrics))
    if not metrics:
        raise ValueError("no metric given")
    if train.shape[1] != queries.shape[1]:
        raise ValueError(f"train has {train.shape[1]} dimensions, queries {queries.shape[1]}")
    if not 1 <= k <= len(train):
        raise ValueError(f"k must be between 1 and {len(train)}; got {k}")
    paired = ("angular", "euclidean") if {"angular", "euclidean"} <= set(metrics) else ()
    pair = _angular_and_euclidean(train) if paired else None
    alone = {m: distance_function(train, m) for m in metrics if m not in paired}

    def distances(q: np.ndarray) -> dict[str, np.ndarray]:
        return (pair(q) if pair else {}) | {m: f(q) for m, f in alone.items()}

    found = {m: (np.empty((len(queries), k), dtype=np.int64), np.empty((len(queries), k), dtype=np.float32))
             for m in metrics}
    step = _chunk_rows(metrics, len(train), train.shape[1])
    with Progress(f"exact {' + '.join(metrics)} search", total=len(queries), enabled=show_progress) as bar:
        for start in range(0, len(queries), step):
            chunk = queries[start:start + step]
            chunk_distances = distances(chunk)
            for metric in metrics:
                d = chunk_distances.pop(metric)  # dropped once ranked: one metric's matrix alive at a time
                sign = -1.0 if metric in LARGER_IS_NEARER else 1.0
                if sign < 0:
                    np.negative(d, out=d)
                part = np.argpartition(d, k - 1, axis=1)[:, :k].copy() if k < d.shape[1] else np.argsort(d, axis=1)
                order = np.take_along_axis(d, part, 1).argsort(axis=1, kind="stable")
                best = np.take_along_axis(part, order, 1)
                found[metric][0][start:start + step] = best
                found[metric][1][start:start + step] = sign * np.take_along_axis(d, best, 1)
                del d, part
            bar.update(len(chunk))
    return found


def exact_knn(train: np.ndarray, queries: np.ndarray, k: int, metric: str,
              show_progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The true ``k`` nearest training rows of each query: (ids, distances), nearest first.

    Works through the queries in chunks so memory stays bounded (about 256 MB per metric).
    """
    return exact_knn_many(train, queries, k, (metric,), show_progress)[metric]


def distances_to(train: np.ndarray, queries: np.ndarray, ids: np.ndarray, metric: str) -> np.ndarray:
    """True distance from each query to each of its ``ids`` (-1 ids give inf, or -inf for dot).

    ``queries`` are checked; of ``train`` only the rows the ids name are read (and checked), not all of it.
    """
    queries = check_vectors(queries, "queries")
    train = np.asarray(train)
    if train.ndim != 2 or train.shape[1] != queries.shape[1]:
        raise ValueError(f"train must be (n_items, {queries.shape[1]}); got shape {train.shape}")
    if len(ids) != len(queries):
        raise ValueError(f"{len(ids)} rows of ids for {len(queries)} queries")
    out = np.empty(ids.shape, dtype=np.float32)
    for i, (q, row) in enumerate(zip(queries, ids, strict=True)):
        valid = row >= 0
        out[i] = -np.inf if metric in LARGER_IS_NEARER else np.inf
        if valid.any():
            out[i, valid] = distance_matrix(check_vectors(train[row[valid]], "train rows"), q[None, :], metric)[0]
    return out


def exact_knn_cached_many(train: np.ndarray, queries: np.ndarray, k: int, metrics: tuple[str, ...], name: str,
                          show_progress: bool = True) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``exact_knn`` per metric, each saved as ``exact-<name>-<metric>-k<k>.npz`` in the cache and reused when the
    data match; the metrics not in the cache are computed together (``exact_knn_many``)."""
    train, queries = check_vectors(train, "train"), check_vectors(queries, "queries")
    metrics = tuple(dict.fromkeys(check_metric(m) for m in metrics))
    key = cache.content_key(train, queries)
    wanted = {m: {"data_blake2b": key, "metric": m, "k": int(k)} for m in metrics}
    paths = {m: cache.cache_file(f"exact-{name}-{m}-k{k}.npz") for m in metrics}
    missing = tuple(m for m in metrics if cache.why_not_reusable(paths[m], wanted[m]) is not None)
    computed = exact_knn_many(train, queries, k, missing, show_progress) if missing else {}

    def make(metric: str) -> tuple[np.ndarray, np.ndarray]:  # a file that looked reusable and was not: on its own
        return computed[metric] if metric in computed else exact_knn(train, queries, k, metric, show_progress)

    return {m: cache.load_or_make_neighbours(paths[m], wanted[m], lambda m=m: make(m), len(queries), k)
            for m in metrics}


def exact_knn_cached(train: np.ndarray, queries: np.ndarray, k: int, metric: str, name: str,
                     show_progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``exact_knn``, saved as ``exact-<name>-<metric>-k<k>.npz`` in the cache and reused when the data match."""
    return exact_knn_cached_many(train, queries, k, (metric,), name, show_progress)[metric]
