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


def larger_is_nearer(metric: str) -> bool:
    """Whether a larger value means nearer: only for ``"dot"`` (an inner product, not a distance)."""
    return check_metric(metric) == "dot"


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

    The per-dataset work (normalising, norms) is done once, here, not per chunk.
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
    sign = -1.0 if larger_is_nearer(metric) else 1.0

    def search(query: np.ndarray) -> np.ndarray:
        s = sign * distances(np.asarray(query, dtype=np.float32)[None, :])[0]
        top = np.argpartition(s, k - 1)[:k]
        return top[np.argsort(s[top], kind="stable")]

    return search


def _pair_distances(rows: np.ndarray, queries: np.ndarray, metric: str) -> np.ndarray:
    """The distance from each query (m, d) to each of its rows (m, k, d): (m, k), in float32, from the rows
    themselves (euclidean and manhattan from the differences)."""
    if metric in ("euclidean", "manhattan"):
        diff = rows - queries[:, None, :]
        if metric == "manhattan":
            return np.abs(diff).sum(2)
        return np.sqrt(np.einsum("mkd,mkd->mk", diff, diff))
    dots = np.einsum("mkd,md->mk", rows, queries)
    if metric == "angular":  # all-zero vectors have cosine 0 with everything, as vectors.normalise makes them
        lengths = np.sqrt(np.einsum("mkd,mkd->mk", rows, rows) * np.einsum("md,md->m", queries, queries)[:, None])
        return np.sqrt(np.maximum(2.0 - 2.0 * dots / np.maximum(lengths, np.finfo(np.float32).tiny), 0.0))
    if metric == "dot":
        return dots
    return queries.sum(1)[:, None] + rows.sum(2) - 2.0 * dots  # hamming on 0/1 vectors


def _distances(train: np.ndarray, queries: np.ndarray, ids: np.ndarray, metric: str) -> np.ndarray:
    """``_pair_distances`` for the rows of ``train`` that ``ids`` (m, k; all valid) name, about 64 MB of gathered
    rows at a time."""
    out = np.empty(ids.shape, dtype=np.float32)
    step = max(1, 2**24 // max(1, ids.shape[1] * queries.shape[1]))
    for start in range(0, len(queries), step):
        part = slice(start, start + step)
        out[part] = _pair_distances(train[ids[part]], queries[part], metric)
    return out


def _ranking_keys(train: np.ndarray, metrics: tuple[str, ...]) -> Callable[[np.ndarray], Callable]:
    """Keys that order the training rows as a metric's distances do (smaller is nearer), but cost at most one
    pass over a matrix product: for a chunk of queries, a function ``(metric, rows)`` -> the keys of those rows of
    the chunk, (len(rows), n).

    With ``u`` the unit training rows: angular ranks by ``-(q . u)`` (``|q|`` is the same for a whole row of the
    matrix); euclidean by ``|t|^2 - 2 q . t = |t|^2 + 2 |t| (q . -u)`` (``|q|^2`` likewise), so both come from the
    one product ``q . -u``, whose values are angular's keys as they are. Dot ranks by ``-(q . t)``, hamming by
    ``|t| - 2 q . t``; manhattan has no product form: its keys are its distances.
    """
    angular_family = {"angular", "euclidean"} & set(metrics)
    minus_unit = np.negative(normalise(train)) if angular_family else None
    norms = np.linalg.norm(train, axis=1) if "euclidean" in metrics else None
    ones = train.sum(1) if "hamming" in metrics else None
    manhattan = distance_function(train, "manhattan") if "manhattan" in metrics else None

    def for_chunk(q: np.ndarray) -> Callable[[str, slice], np.ndarray]:
        minus_cos = q @ minus_unit.T if angular_family else None
        dots = q @ train.T if {"dot", "hamming"} & set(metrics) else None

        def keys(metric: str, rows: slice) -> np.ndarray:
            if metric == "angular":
                return minus_cos[rows]
            if metric == "euclidean":
                key = minus_cos[rows] * (2.0 * norms)
                key += norms ** 2
                return key
            if metric == "dot":
                return np.negative(dots[rows])
            if metric == "hamming":
                return ones - 2.0 * dots[rows]
            return manhattan(q[rows])

        return keys

    return for_chunk


def _distances_from_keys(metric: str, keys: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """The distances the ranking keys (m, k) of ``_ranking_keys`` stand for, given their queries (m, d)."""
    if metric == "angular":  # key = -|q| cos
        cos = -keys / np.maximum(np.linalg.norm(queries, axis=1), np.finfo(np.float32).tiny)[:, None]
        return np.sqrt(np.maximum(2.0 - 2.0 * cos, 0.0))
    if metric == "euclidean":  # key = |q - t|^2 - |q|^2
        return np.sqrt(np.maximum(keys + np.einsum("md,md->m", queries, queries)[:, None], 0.0))
    if metric == "dot":
        return -keys
    if metric == "hamming":  # key = differing bits - |q|
        return keys + queries.sum(1)[:, None]
    return keys  # manhattan: the distances themselves


def smallest_k(keys: np.ndarray, k: int, sample: int = 2048) -> np.ndarray:
    """The columns of each row's ``k`` smallest keys, smallest first (equal keys: the lower column first).

    The same answer as ``np.argsort(keys, axis=1, kind="stable")[:, :k]``, found without sorting or selecting
    over whole rows: the ``k``-th smallest key among ``sample`` evenly spaced columns of a row is at least its
    ``k``-th smallest key overall, so only the keys at or under that bound can be among the ``k`` smallest. One
    comparison pass over the matrix finds those few candidates (about ``k * n / sample`` per row), and only they
    are sorted. Rows with too many candidates (many equal keys) are sorted whole.
    """
    m, n = keys.shape
    sample = max(sample, 8 * k)
    if n <= 2 * sample:
        return np.argsort(keys, axis=1, kind="stable")[:, :k]
    bound = np.partition(keys[:, :: n // sample], k - 1, axis=1)[:, k - 1:k]
    flat = np.flatnonzero(keys <= bound)  # row by row, each row's columns in order (much faster than np.nonzero)
    if len(flat) > 16 * k * (n // sample + 1) * m:  # many equal keys: sorting whole rows is cheaper
        return np.argsort(keys, axis=1, kind="stable")[:, :k]
    rows, cols = np.divmod(flat, n)
    order = np.lexsort((cols, keys.ravel()[flat], rows))  # by row, then key, then column
    first = np.searchsorted(rows[order], np.arange(m))  # every row has at least k candidates
    return cols[order][first[:, None] + np.arange(k)]


_ROWS_PER_BLOCK = 16
"""Rows of keys made and searched at a time: a block small enough (16 x 50,000 keys: 3.2 MB) to stay in the
processor's cache between the passes over it."""


def _chunk_rows(metrics: tuple[str, ...], n_train: int, dim: int, budget_mb: int = 256) -> int:
    """Queries per chunk: about ``budget_mb`` of matrix products (two when dot or hamming join angular or
    euclidean); manhattan, with no product, takes rows of differences instead."""
    per_query = n_train * 4 * max(dim if metric == "manhattan" else 1 for metric in metrics)
    return max(1, min(1024, budget_mb * 2**20 // per_query))


def exact_knn_many(train: np.ndarray, queries: np.ndarray, k: int, metrics: tuple[str, ...],
                   show_progress: bool = True) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``exact_knn`` for several metrics in one pass over the queries: {metric: (ids, distances)}.

    Per chunk of queries: the matrix products the metrics' ranking keys come from (angular and euclidean share
    one); then, a block of rows at a time, each metric's keys, their ``k`` smallest (``smallest_k``) and the
    distances those ``k`` keys stand for, by which they are put in order.
    """
    train, queries = check_vectors(train, "train"), check_vectors(queries, "queries")
    metrics = tuple(dict.fromkeys(check_metric(m) for m in metrics))
    if not metrics:
        raise ValueError("no metric given")
    if train.shape[1] != queries.shape[1]:
        raise ValueError(f"train has {train.shape[1]} dimensions, queries {queries.shape[1]}")
    if not 1 <= k <= len(train):
        raise ValueError(f"k must be between 1 and {len(train)}; got {k}")
    chunk_keys = _ranking_keys(train, metrics)
    found = {m: (np.empty((len(queries), k), dtype=np.int64), np.empty((len(queries), k), dtype=np.float32))
             for m in metrics}
    step = _chunk_rows(metrics, len(train), train.shape[1])
    with Progress(f"exact {' + '.join(metrics)} search", total=len(queries), enabled=show_progress) as bar:
        for start in range(0, len(queries), step):
            chunk = queries[start:start + step]
            keys = chunk_keys(chunk)
            for metric in metrics:
                ids = np.empty((len(chunk), k), dtype=np.int64)
                d = np.empty((len(chunk), k), dtype=np.float32)
                for b in range(0, len(chunk), _ROWS_PER_BLOCK):
                    rows = slice(b, b + _ROWS_PER_BLOCK)
                    block = keys(metric, rows)
                    ids[rows] = smallest_k(block, k)
                    d[rows] = _distances_from_keys(metric, np.take_along_axis(block, ids[rows], 1), chunk[rows])
                order = np.argsort(-d if larger_is_nearer(metric) else d, axis=1, kind="stable")
                found[metric][0][start:start + step] = np.take_along_axis(ids, order, 1)
                found[metric][1][start:start + step] = np.take_along_axis(d, order, 1)
            del keys
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

    ``queries`` are checked; of ``train`` only the rows the ids name are read, not all of it (a row holding NaN or
    infinity is refused: its distance is not finite).
    """
    queries = check_vectors(queries, "queries")
    train = np.asarray(train)
    if train.ndim != 2 or train.shape[1] != queries.shape[1]:
        raise ValueError(f"train must be (n_items, {queries.shape[1]}); got shape {train.shape}")
    if len(ids) != len(queries):
        raise ValueError(f"{len(ids)} rows of ids for {len(queries)} queries")
    ids = np.asarray(ids)
    valid = ids >= 0
    out = _distances(train, queries, np.where(valid, ids, 0), metric)
    if not np.isfinite(out[valid]).all():  # NaN or infinity in a row gives a distance that is not finite
        raise ValueError("train rows contain NaN or infinite values")
    out[~valid] = -np.inf if larger_is_nearer(metric) else np.inf
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
