"""Build, save, reuse and query Annoy indexes.

One place for the Annoy rules that trip people: the metric is always explicit,
builds are seeded and single-threaded so a rerun on the same machine gives a
byte-identical index, a saved index is reused only if it passes the cache's
checks (``helpers.cache``: same data and parameters, complete file), and batch
queries use threads (Annoy releases the GIL).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
from annoy import AnnoyIndex

from helpers import cache
from helpers.checks import check_metric, check_vectors
from helpers.config import SEED
from helpers.progress import Progress

_ADD_CHUNK = 2048


@contextlib.contextmanager
def c_stderr_silenced() -> Iterator[None]:
    """Silence what C code writes to the process's stderr inside the block.

    Annoy prints some errors from C to stderr as well as raising them; Jupyter shows that copy only sometimes.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def add_vectors(index: AnnoyIndex, vectors: np.ndarray, show_progress: bool = True) -> None:
    """Add rows of ``vectors`` as items 0..n-1, in chunks (no per-item dataset indexing)."""
    _add_rows(index, check_vectors(vectors), show_progress)


def _add_rows(index: AnnoyIndex, vectors: np.ndarray, show_progress: bool) -> None:
    """``add_vectors`` for vectors already checked (``check_vectors``)."""
    if vectors.shape[1] != index.f:
        raise ValueError(f"the index has {index.f} dimensions but the vectors have {vectors.shape[1]}")
    with Progress("add items", total=len(vectors), enabled=show_progress) as bar:
        for start in range(0, len(vectors), _ADD_CHUNK):
            rows = vectors[start:start + _ADD_CHUNK].tolist()  # Python floats: Annoy's fastest input
            for offset, row in enumerate(rows):
                index.add_item(start + offset, row)
            bar.update(len(rows))


def filled_index(vectors: np.ndarray, metric: str, seed: int = SEED, show_progress: bool = True) -> AnnoyIndex:
    """A new, seeded index holding the rows of ``vectors`` as items 0..n-1, not built yet."""
    return _filled(check_vectors(vectors), metric, seed, show_progress)


def _filled(vectors: np.ndarray, metric: str, seed: int, show_progress: bool) -> AnnoyIndex:
    index = AnnoyIndex(vectors.shape[1], check_metric(metric))
    index.set_seed(seed)
    _add_rows(index, vectors, show_progress)
    return index


def build_index(vectors: np.ndarray, metric: str, n_trees: int, seed: int = SEED,
                show_progress: bool = True) -> AnnoyIndex:
    """A fresh in-memory index of ``vectors``, seeded and built on one thread (reproducible on one machine)."""
    return _built(check_vectors(vectors), metric, n_trees, seed, show_progress)


def _built(vectors: np.ndarray, metric: str, n_trees: int, seed: int, show_progress: bool) -> AnnoyIndex:
    """``build_index`` for vectors already checked."""
    if n_trees < 1:
        raise ValueError(f"n_trees must be at least 1; got {n_trees}")
    index = _filled(vectors, metric, seed, show_progress)
    with Progress(f"build {n_trees} trees", enabled=show_progress):
        index.build(n_trees, n_jobs=1)
    return index


def fingerprint(vectors: np.ndarray, metric: str, n_trees: int, seed: int) -> dict:
    """What an index depends on: a hash of the data plus the build parameters."""
    return _fingerprint(check_vectors(vectors), metric, n_trees, seed)


def _fingerprint(vectors: np.ndarray, metric: str, n_trees: int, seed: int) -> dict:
    return {
        "data_blake2b": cache.content_key(vectors),
        "n_items": int(vectors.shape[0]),
        "dim": int(vectors.shape[1]),
        "metric": metric,
        "n_trees": int(n_trees),
        "seed": int(seed),
    }


def node_bytes(dim: int, metric: str) -> int:
    """Bytes per node in an Annoy 1.17.3 file (``annoylib.h``: the node struct with ``dim`` values).

    Every item and every tree node takes this much. Hamming stores 64-bit words, so ``dim`` there is in bits.
    """
    check_metric(metric)
    if metric == "hamming":
        return 16 + 8 * -(-dim // 64)
    return 12 + 4 * dim if metric == "angular" else 16 + 4 * dim


def leaf_size(dim: int, metric: str) -> int:
    """Annoy 1.17.3's K: the most item ids a node can hold in place of its vector (a "leaf" of up to K items).

    From ``annoylib.h``: ``K = (node size - offset of children) / 4``. Angular, euclidean and manhattan give
    f + 2, dot f + 3; hamming stores 64-bit words, so ``dim`` there is the number of bits.
    """
    check_metric(metric)
    children_offset = 8 if metric in ("euclidean", "manhattan") else 4  # a split offset comes first there
    return (node_bytes(dim, metric) - children_offset) // 4


def saved_bytes_at_least(n_items: int, dim: int, metric: str, n_trees: int) -> int:
    """A lower bound on the size of a saved index of ``n_items`` items: what a full disk's message quotes.

    Every item is a node. In each tree (``annoylib.h``'s ``_make_tree``) a leaf holds at most ``K`` items
    (``leaf_size``), so there are at least ceil(n / K) leaves and one split node fewer; ``build`` then appends a
    copy of each root. (Leaves with more than one item are nodes too: the real file is bigger.)
    """
    per_tree = max(1, -(-n_items // leaf_size(dim, metric)))
    return (n_items + n_trees * per_tree) * node_bytes(dim, metric)


def load_index(path: str | Path, dim: int, metric: str, prefault: bool = False) -> AnnoyIndex:
    """Memory-map a saved index, refusing one built for another dimension or metric.

    ``prefault=True`` maps every page at once (Annoy passes ``MAP_POPULATE`` to ``mmap`` on Linux).
    """
    path = Path(path)
    check_metric(metric)
    if not path.is_file():
        raise FileNotFoundError(f"no index file at {path}")
    saved = cache.read_fingerprint(path)
    if saved is not None:
        if (saved.get("dim"), saved.get("metric")) != (dim, metric):
            raise ValueError(f"{path.name} was built for {saved.get('dim')} dimensions with the "
                             f"{saved.get('metric')} metric, not {dim} dimensions with {metric}")
    if path.stat().st_size % node_bytes(dim, metric):
        raise ValueError(f"{path.name} is not a {dim}-dimensional {metric} index (its size does not fit)")
    index = AnnoyIndex(dim, metric)
    index.load(str(path), prefault=prefault)  # memory-mapped: cheap, and shared between processes
    return index


@dataclass
class IndexInfo:
    """How an index was obtained, for the notebook to report."""

    path: Path
    reused: bool
    seconds: float
    megabytes: float


def build_or_load(vectors: np.ndarray, path: str | Path, metric: str, n_trees: int, seed: int = SEED,
                  show_progress: bool = True, build: Callable[[str], AnnoyIndex] | None = None
                  ) -> tuple[AnnoyIndex, IndexInfo]:
    """Load ``path`` if the cache vouches for it (same data and parameters, complete file); else build and save it.

    Follows ``helpers.cache``'s convention: written under a temporary name and renamed when complete, the
    fingerprint (``<path>.json``, with the file size) last. A file that fails the checks is rebuilt, with one
    line saying why. ``build(file)``, if given, is the code that builds the index of ``vectors`` and saves it to
    ``file`` (a notebook's own, as the article writes it); by default ``build_index`` and ``save``. What it built
    is checked against ``vectors`` (count, dimension, first and last item) before it is kept.
    """
    path = Path(path)
    start = time.perf_counter()
    vectors = check_vectors(vectors)  # once: the steps below take them as they are
    wanted = _fingerprint(vectors, check_metric(metric), n_trees, seed)

    def build_and_save(file: str) -> AnnoyIndex:
        built = _built(vectors, metric, n_trees, seed, show_progress)
        with c_stderr_silenced():  # a failed save prints its error from C too; the exception carries it
            built.save(file)
        return built

    def write(_: None, tmp: Path) -> None:
        built = (build or build_and_save)(str(tmp))
        _check_built(built, vectors, n_trees)
        built.unload()  # Annoy's save memory-maps the file it wrote; let go of it before the rename

    index, reused = cache.load_or_make(
        path, wanted, load=lambda p: load_index(p, wanted["dim"], metric), make=lambda: None, write=write,
        needed=lambda _: saved_bytes_at_least(wanted["n_items"], wanted["dim"], metric, n_trees))
    return index, IndexInfo(path, reused, time.perf_counter() - start, path.stat().st_size / 1e6)


def _check_built(built: AnnoyIndex, vectors: np.ndarray, n_trees: int) -> None:
    """Raise a ValueError unless ``built`` holds ``vectors`` as items 0..n-1 in ``n_trees`` trees."""
    if (built.get_n_items(), built.f, built.get_n_trees()) != (len(vectors), vectors.shape[1], n_trees):
        raise ValueError(f"the build made {built.get_n_items():,} items of {built.f} dimensions in "
                         f"{built.get_n_trees()} trees; expected {len(vectors):,} of {vectors.shape[1]} in {n_trees}")
    for i in (0, len(vectors) - 1):
        if not np.array_equal(np.asarray(built.get_item_vector(i), dtype=np.float32), vectors[i]):
            raise ValueError(f"item {i} of the built index is not row {i} of the vectors: built from other data")


def saved_megabytes_then_unload(index: AnnoyIndex, scratch: str | Path) -> float:
    """Size of ``index`` as a file: saves it to ``scratch``, unloads the index, deletes the file.

    Use it last: after it the index holds nothing. The file is deleted (its space given back) even if saving
    fails or is interrupted.
    """
    with cache.scratch_file(Path(scratch)) as path:
        try:
            with c_stderr_silenced():
                index.save(str(path))
        finally:
            index.unload()  # let go of the file (Annoy maps what it saved) before it is deleted
        return path.stat().st_size / 1e6


def query_batch(index: AnnoyIndex, queries: np.ndarray, k: int, search_k: int = -1, n_threads: int | None = None,
                show_progress: bool = True, label: str = "queries") -> tuple[np.ndarray, np.ndarray]:
    """Nearest neighbours of every row of ``queries``: (ids, distances), each of shape (n, k).

    Queries run on ``n_threads`` threads (default: all cores); Annoy releases
    the GIL while it searches. Where Annoy returns fewer than ``k`` items
    (a very small ``search_k``), ids are -1 and distances inf.
    """
    queries = check_vectors(queries, "queries")
    if k < 1:
        raise ValueError(f"k must be at least 1; got {k}")
    if queries.shape[1] != index.f:
        raise ValueError(f"the index has {index.f} dimensions but the queries have {queries.shape[1]}")
    n = len(queries)
    ids = np.full((n, k), -1, dtype=np.int64)
    dists = np.full((n, k), np.inf, dtype=np.float32)
    chunk = 256

    def work(start: int) -> int:
        rows = queries[start:start + chunk].tolist()
        for offset, row in enumerate(rows):
            found, dist = index.get_nns_by_vector(row, k, search_k=search_k, include_distances=True)
            ids[start + offset, :len(found)] = found
            dists[start + offset, :len(dist)] = dist
        return len(rows)

    threads = n_threads or os.cpu_count() or 1
    with Progress(label, total=n, enabled=show_progress) as bar, ThreadPoolExecutor(threads) as pool:
        for done in pool.map(work, range(0, n, chunk)):
            bar.update(done)
    return ids, dists


def query_batch_cached(index: AnnoyIndex, info: IndexInfo, queries: np.ndarray, k: int, name: str,
                       search_k: int = -1, show_progress: bool = True, label: str = "queries"
                       ) -> tuple[np.ndarray, np.ndarray]:
    """``query_batch``, saved as ``answers-<name>-k<k>.npz`` in the cache and reused while the same queries are
    asked of the same index file (``build_or_load``'s: its fingerprint, size and modification time) with the same
    ``k`` and ``search_k`` by the same Annoy version. For answers a notebook has already shown how to get."""
    queries = check_vectors(queries, "queries")
    built_from = cache.read_fingerprint(info.path)
    if built_from is None:
        raise ValueError(f"{info.path.name} has no fingerprint: give an index from build_or_load")
    stat = info.path.stat()
    wanted = {"index": built_from, "index_bytes": stat.st_size, "index_mtime_ns": stat.st_mtime_ns,
              "queries_blake2b": cache.content_key(queries), "k": int(k), "search_k": int(search_k),
              "annoy": metadata.version("annoy")}
    return cache.load_or_make_neighbours(
        cache.cache_file(f"answers-{name}-k{k}.npz"), wanted,
        lambda: query_batch(index, queries, k, search_k, show_progress=show_progress, label=label), len(queries), k)
