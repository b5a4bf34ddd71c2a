"""How good are the neighbours? Label accuracy, recall against exact search, and query speed."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from annoy import AnnoyIndex

from helpers.exact import LARGER_IS_NEARER, distances_to, exact_knn, one_query_searcher
from helpers.index import check_vectors

RECALL_EPSILON = 1e-3  # as in ann-benchmarks


def label_accuracy(neighbor_ids: np.ndarray, train_labels: np.ndarray, test_labels: np.ndarray) -> float:
    """1-nearest-neighbour accuracy: how often the nearest training item has the query's label.

    ``neighbor_ids`` is (n_queries, k) or (n_queries,); only the first column is used.
    """
    ids = np.asarray(neighbor_ids)
    nearest = ids[:, 0] if ids.ndim == 2 else ids
    test_labels = np.asarray(test_labels)
    if len(nearest) != len(test_labels):
        raise ValueError(f"{len(nearest)} neighbour rows but {len(test_labels)} test labels")
    if len(nearest) == 0:
        raise ValueError("no queries to score")
    if (nearest < 0).any():
        raise ValueError("some queries have no neighbour at all (id -1): raise search_k")
    return float(np.mean(np.asarray(train_labels)[nearest] == test_labels))


def recall_at_k(approx_ids: np.ndarray, exact_dists: np.ndarray, train: np.ndarray, queries: np.ndarray,
                metric: str, k: int = 10, epsilon: float = RECALL_EPSILON) -> float:
    """Recall@k as ann-benchmarks defines it.

    A returned item counts if its true distance is within the true k-th
    neighbour's distance (plus ``epsilon``), so ties are not punished.
    """
    approx_ids = np.asarray(approx_ids)[:, :k]
    if approx_ids.shape[1] < k or np.asarray(exact_dists).shape[1] < k:
        raise ValueError(f"need at least {k} neighbours per query")
    true = distances_to(check_vectors(train, "train"), check_vectors(queries, "queries"), approx_ids, metric)
    kth = np.asarray(exact_dists)[:, k - 1:k]
    hits = true >= kth - epsilon if metric in LARGER_IS_NEARER else true <= kth + epsilon
    return float(hits.sum() / (len(approx_ids) * k))


def queries_per_second(index: AnnoyIndex, queries: np.ndarray, k: int, search_k: int = -1) -> tuple[float, np.ndarray]:
    """Single-thread QPS of ``get_nns_by_vector`` over all ``queries``, and the ids it returned.

    Every measurement in the series uses this one method, so points compare fairly.
    """
    rows = check_vectors(queries, "queries").tolist()
    ids = np.full((len(rows), k), -1, dtype=np.int64)
    start = time.perf_counter()
    for i, row in enumerate(rows):
        found = index.get_nns_by_vector(row, k, search_k=search_k)
        ids[i, :len(found)] = found
    elapsed = time.perf_counter() - start
    return len(rows) / elapsed, ids


def median_queries_per_second(search: Callable[[np.ndarray], np.ndarray], queries: np.ndarray, k: int,
                              repeats: int = 3, warm_up: int = 50) -> tuple[float, np.ndarray]:
    """Queries per second of ``search`` (one query in, its ``k`` ids out), ann-benchmarks style.

    The first ``warm_up`` queries run once untimed; then all queries, one at a time, ``repeats`` times; the
    median run gives the speed. Returns (QPS, the ids of the last run, -1 padded). The caller sets the threads.
    """
    queries = check_vectors(queries, "queries")
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1; got {repeats}")
    for q in queries[:warm_up]:
        search(q)
    ids = np.full((len(queries), k), -1, dtype=np.int64)
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        for i, q in enumerate(queries):
            found = search(q)
            ids[i, :len(found)] = found[:k]
        seconds.append(time.perf_counter() - start)
    return len(queries) / float(np.median(seconds)), ids


def brute_force_queries_per_second(train: np.ndarray, queries: np.ndarray, k: int, metric: str) -> float:
    """Single-thread QPS of exact search done one query at a time, as ``queries_per_second`` does for Annoy.

    BLAS is held to one thread (threadpoolctl) so the comparison with Annoy's one-thread queries is fair.
    """
    from threadpoolctl import threadpool_limits

    search = one_query_searcher(train, metric, k)
    with threadpool_limits(1):
        start = time.perf_counter()
        for q in check_vectors(queries, "queries"):
            search(q)
        elapsed = time.perf_counter() - start
    return len(queries) / elapsed


def batched_exact_seconds_per_query(train: np.ndarray, queries: np.ndarray, k: int, metric: str,
                                    threads: int | None = None) -> float:
    """Seconds per query of exact search done as one batch (chunked matrix products), BLAS on ``threads``.

    What a data scientist with all queries at hand would run; ``threads=None`` lets BLAS use every core.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(threads):
        start = time.perf_counter()
        exact_knn(train, queries, k, metric, show_progress=False)
        elapsed = time.perf_counter() - start
    return elapsed / len(queries)
