"""How good are the neighbours, and how fast? Label accuracy, recall against exact search, the one query timer."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from helpers.exact import distances_to, larger_is_nearer

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
    true = distances_to(train, queries, approx_ids, metric)
    kth = np.asarray(exact_dists)[:, k - 1:k]
    hits = true >= kth - epsilon if larger_is_nearer(metric) else true <= kth + epsilon
    return float(hits.sum() / (len(approx_ids) * k))


@dataclass(frozen=True)
class QueryTiming:
    """What ``time_queries`` measured: queries per second (median, slowest and fastest repeat) and the answers."""

    qps: float
    qps_low: float
    qps_high: float
    ids: np.ndarray  # (n_queries, k), -1 where fewer than k were found

    @property
    def ms_per_query(self) -> float:
        return 1000 / self.qps


def time_queries(search: Callable[[np.ndarray], Sequence[int]], queries: np.ndarray, k: int, repeats: int = 3,
                 warm_up: int = 50) -> QueryTiming:
    """The series' one query timer: ``search`` (one query in, its ids out) on each query, one at a time.

    The first ``warm_up`` queries run once untimed (caches, lazily mapped index pages); then all queries,
    ``repeats`` times. The median repeat gives the speed; the slowest and fastest give its spread. NumPy's BLAS
    and OpenMP are held to one thread (``threadpoolctl``), so every method is timed on one core. ``queries`` are
    used as they are: check them once before (``checks.check_vectors``).
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1; got {repeats}")
    ids = np.full((len(queries), k), -1, dtype=np.int64)
    seconds = []
    with threadpool_limits(1):
        for q in queries[:warm_up]:
            search(q)
        for _ in range(repeats):
            start = time.perf_counter()
            for i, q in enumerate(queries):
                found = search(q)[:k]
                ids[i, :len(found)] = found
            seconds.append(time.perf_counter() - start)
    n = len(queries)
    return QueryTiming(n / float(np.median(seconds)), n / max(seconds), n / min(seconds), ids)


def time_batch(run: Callable[[], object], threads: int | None = None) -> float:
    """Seconds that ``run()`` takes once, with BLAS and OpenMP on ``threads`` threads (None: every core, even
    where an environment variable such as ``OPENBLAS_NUM_THREADS`` asks for fewer).

    For work done as one batch (all queries at once), where a warm-up would be a second full run.
    """
    with threadpool_limits(threads or os.cpu_count() or 1):
        start = time.perf_counter()
        run()
        return time.perf_counter() - start
