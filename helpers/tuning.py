"""The n_trees x search_k sweep: build time, index size, speed, recall and accuracy for each setting."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence

import numpy as np
from annoy import AnnoyIndex

from helpers import cache
from helpers.evaluation import label_accuracy, queries_per_second, recall_at_k
from helpers.index import check_vectors, filled_index, saved_megabytes_then_unload
from helpers.progress import Progress


@dataclasses.dataclass
class SweepPoint:
    """One (n_trees, search_k) setting and what it gave."""

    n_trees: int
    search_k: int
    add_seconds: float  # add_item for every item (a Python loop)
    build_seconds: float  # build(n_trees), one thread
    index_mb: float  # size of the saved index file
    qps: float  # queries per second, one thread
    recall: float  # recall@k against exact search
    accuracy: float  # 1-NN label accuracy


def run_sweep(train: np.ndarray, train_labels: np.ndarray, queries: np.ndarray, query_labels: np.ndarray,
              exact_dists: np.ndarray, metric: str, n_trees_list: Sequence[int], search_k_list: Sequence[int],
              name: str, k: int = 10, show_progress: bool = True) -> tuple[list[SweepPoint], bool]:
    """Measure every setting, or load the results of an identical earlier sweep; returns (points, reused).

    Results are cached as ``sweep-<name>.json`` (``helpers.cache``: the fingerprint covers the data and every
    parameter).
    """
    train, queries = check_vectors(train, "train"), check_vectors(queries, "queries")
    wanted = {"data_blake2b": cache.content_key(train, train_labels, queries, query_labels, exact_dists),
              "metric": metric, "n_trees": list(n_trees_list), "search_k": list(search_k_list), "k": int(k)}

    def measure() -> list[SweepPoint]:
        points = []
        with Progress(f"sweep {name}", total=len(n_trees_list) * len(search_k_list), enabled=show_progress) as bar:
            for n_trees in n_trees_list:
                start = time.perf_counter()
                index = filled_index(train, metric, show_progress=False)
                add_seconds = time.perf_counter() - start
                index.build(n_trees, n_jobs=1)
                build_seconds = time.perf_counter() - start - add_seconds
                measured = search_k_curve(index, train, train_labels, queries, query_labels, exact_dists, metric,
                                          search_k_list, k, on_point=lambda: bar.update(1))
                # the file size comes last: saving unloads the index
                megabytes = saved_megabytes_then_unload(index, cache.cache_file(f"sweep-{name}-size-probe.ann"))
                points += [SweepPoint(n_trees, search_k, add_seconds, build_seconds, megabytes, qps, recall, accuracy)
                           for search_k, qps, recall, accuracy in measured]
        return points

    return cache.load_or_make_records(cache.cache_file(f"sweep-{name}.json"), wanted, SweepPoint, measure)


def search_k_curve(index: AnnoyIndex, train: np.ndarray, train_labels: np.ndarray, queries: np.ndarray,
                   query_labels: np.ndarray, exact_dists: np.ndarray, metric: str, search_k_list: Sequence[int],
                   k: int = 10, on_point: Callable[[], object] | None = None) -> list[tuple[int, float, float, float]]:
    """For one built index: (search_k, one-thread QPS, recall@k, 1-NN accuracy) at each ``search_k``."""
    measured = []
    for search_k in search_k_list:
        qps, ids = queries_per_second(index, queries, k, search_k)
        measured.append((search_k, qps, recall_at_k(ids, exact_dists, train, queries, metric, k),
                         label_accuracy(ids, train_labels, query_labels)))
        if on_point is not None:
            on_point()
    return measured


def fastest_at_recall(points: Sequence[SweepPoint], target: float) -> SweepPoint | None:
    """The setting with the highest QPS among those reaching ``target`` recall (None if none does)."""
    good = [p for p in points if p.recall >= target]
    return max(good, key=lambda p: p.qps) if good else None


def format_table(points: Sequence[SweepPoint]) -> str:
    """A text table; measured times come last on each line, unpadded (the tests sanitize them)."""
    lines = [f"{'n_trees':>7} {'search_k':>8} {'MB':>5} {'recall@10':>9} {'1-NN acc':>8}  add + build time, speed"]
    for p in points:
        lines.append(f"{p.n_trees:>7} {p.search_k:>8} {p.index_mb:>5.0f} {p.recall:>9.3f} {p.accuracy:>8.4f}  "
                     f"{p.add_seconds:.1f} s + {p.build_seconds:.1f} s, {p.qps:,.0f} QPS")
    return "\n".join(lines)
