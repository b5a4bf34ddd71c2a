"""One adapter per ANN library, all with the same small interface, for notebook 07's comparison.

Every adapter indexes float32 vectors for **cosine similarity** (Annoy's "angular", hnswlib's and Voyager's
"cosine", FAISS's inner product on vectors the caller scaled to length 1), so all of them answer the same question
as the series' exact angular search. The interface:

- ``build(vectors, threads)``: index the rows; ids are row numbers;
- ``set_query_knob(value)``: the one search-time setting (``search_k``, ``ef`` or ``nprobe``);
- ``query(vector, k)``: one query, on one thread; ids nearest first, -1 where fewer than ``k`` were found;
- ``query_batch(vectors, k, threads)``: many queries at once, as an offline job would run them;
- ``save(path)`` / ``load(path)``: the index as a file (its size is "size on disk"), and back.

FAISS, hnswlib and Voyager are imported only when an adapter is made, so a missing one says which and how to fix.
"""

from __future__ import annotations

import contextlib
import importlib
import math
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
from annoy import AnnoyIndex

from helpers.checks import check_vectors
from helpers.config import SEED
from helpers.index import query_batch

LIBRARY_MODULES = {"Annoy": "annoy", "hnswlib": "hnswlib", "FAISS": "faiss", "Voyager": "voyager"}


def require(library: str) -> ModuleType:
    """Import ``library``'s Python module (a key of ``LIBRARY_MODULES``), or say how to install it."""
    module = LIBRARY_MODULES[library]
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(f"{library} is not installed ({error}). It is in requirements.txt: rerun the README's "
                          "install command; hnswlib and Annoy compile from source and need a C++ compiler "
                          "(notebooks/setup.md, Troubleshooting).") from error


def _threads(threads: int | None) -> int:
    return threads or os.cpu_count() or 1


@contextlib.contextmanager
def faiss_threads(threads: int | None) -> Iterator[None]:
    """FAISS's OpenMP threads set to ``threads`` (None: every core) inside the block, restored after."""
    faiss = require("FAISS")
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(_threads(threads))
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


class Adapter(ABC):
    """The interface every library's adapter implements (see the module docstring)."""

    library: str = ""  # which package (a key of LIBRARY_MODULES)
    family: str = ""  # how tables group results: the library, or for FAISS the index type
    knob: str = ""  # name of the search-time setting

    def __init__(self, dim: int) -> None:
        if dim < 1:
            raise ValueError(f"dim must be at least 1; got {dim}")
        self.dim = dim
        self.params: dict[str, int] = {}  # the constructor's keyword arguments (to make the same adapter again)
        self.knob_value: int | None = None
        self.add_seconds = math.nan  # Annoy: the add_item loop's share of build(), timed apart (NumPy-fed: nan)
        self._built = False

    @property
    def settings(self) -> str:
        """The build-time settings, for labels and tables."""
        return ""

    @property
    def label(self) -> str:
        """Family and build settings, e.g. ``hnswlib M=16 efC=200``."""
        return f"{self.family or self.library} {self.settings}".strip()

    def _check_build_input(self, vectors: np.ndarray) -> np.ndarray:
        vectors = check_vectors(vectors)
        if vectors.shape[1] != self.dim:
            raise ValueError(f"this {self.library} index has {self.dim} dimensions; the vectors have "
                             f"{vectors.shape[1]}")
        return vectors

    def _check_query(self, vectors: np.ndarray, k: int) -> np.ndarray:
        if not self._built:
            raise RuntimeError(f"build (or load) the {self.library} index before querying it")
        if k < 1:
            raise ValueError(f"k must be at least 1; got {k}")
        vectors = check_vectors(np.atleast_2d(vectors), "queries")
        if vectors.shape[1] != self.dim:
            raise ValueError(f"the index has {self.dim} dimensions; the queries have {vectors.shape[1]}")
        return vectors

    def build(self, vectors: np.ndarray, threads: int | None = None) -> None:
        """Index every row of ``vectors`` (ids 0..n-1), on ``threads`` threads (None: every core)."""
        self._build(self._check_build_input(vectors), _threads(threads))
        self._built = True

    def load(self, path: str | Path) -> None:
        """Replace this index with the one saved at ``path`` (the same settings are assumed)."""
        self._load(Path(path))
        self._built = True
        if self.knob_value is not None:
            self.set_query_knob(self.knob_value)

    def set_query_knob(self, value: int) -> None:
        """Set the search-time setting (``search_k``, ``ef`` or ``nprobe``) used by the next queries."""
        if value < 1 and not (self.knob == "search_k" and value == -1):
            raise ValueError(f"{self.knob} must be at least 1; got {value}")
        self.knob_value = int(value)
        if self._built:
            self._apply_knob(int(value))

    def query(self, vector: np.ndarray, k: int) -> np.ndarray:
        """The ``k`` nearest ids of one vector, searched on one thread; -1 where fewer were found."""
        return self._query(self._check_query(vector, k)[0], k)

    def search_one(self, k: int) -> Callable[[np.ndarray], np.ndarray]:
        """A function from one query (a float32 row of this dimension, checked by the caller) to its ``k`` ids.

        What the query timer calls for each query: the checks of ``query`` run once here, not once per query.
        """
        self._check_query(np.zeros((1, self.dim), dtype=np.float32), k)
        return lambda vector: self._query(vector, k)

    def query_batch(self, vectors: np.ndarray, k: int, threads: int | None = None) -> np.ndarray:
        """(n, k) nearest ids of every row, on ``threads`` threads (None: every core)."""
        return self._query_batch(self._check_query(vectors, k), k, _threads(threads))

    def save(self, path: str | Path) -> None:
        """Write the index to ``path``."""
        if not self._built:
            raise RuntimeError(f"build the {self.library} index before saving it")
        self._save(Path(path))

    @abstractmethod
    def _build(self, vectors: np.ndarray, threads: int) -> None: ...

    @abstractmethod
    def _apply_knob(self, value: int) -> None: ...

    @abstractmethod
    def _query(self, vector: np.ndarray, k: int) -> np.ndarray: ...

    @abstractmethod
    def _query_batch(self, vectors: np.ndarray, k: int, threads: int) -> np.ndarray: ...

    @abstractmethod
    def _save(self, path: Path) -> None: ...

    @abstractmethod
    def _load(self, path: Path) -> None: ...


def _padded(ids: np.ndarray, k: int) -> np.ndarray:
    out = np.full(k, -1, dtype=np.int64)
    out[:len(ids)] = ids
    return out


class AnnoyAdapter(Adapter):
    """Annoy: ``n_trees`` random-projection trees; ``search_k`` candidate items a query collects before it ranks
    them, a whole leaf at a time (-1: Annoy's default, ``n_trees`` × ``k``)."""

    library, knob = "Annoy", "search_k"

    def __init__(self, dim: int, n_trees: int, seed: int = SEED) -> None:
        super().__init__(dim)
        self.n_trees, self.seed = n_trees, seed
        self.params = {"n_trees": n_trees, "seed": seed}
        self.index = AnnoyIndex(dim, "angular")
        self.knob_value = -1
        self.prefault = False  # load(): map the file lazily (Annoy's default) or read all of it in at once

    @property
    def settings(self) -> str:
        return f"{self.n_trees} trees"

    def _build(self, vectors: np.ndarray, threads: int) -> None:
        self.index = AnnoyIndex(self.dim, "angular")
        self.index.set_seed(self.seed)
        start = time.perf_counter()
        for i, row in enumerate(vectors.tolist()):  # Python floats: Annoy takes one item per call
            self.index.add_item(i, row)
        self.add_seconds = time.perf_counter() - start
        self.index.build(self.n_trees, n_jobs=threads)

    def _apply_knob(self, value: int) -> None:
        pass  # Annoy takes search_k with each query

    def _query(self, vector: np.ndarray, k: int) -> np.ndarray:
        return _padded(np.asarray(self.index.get_nns_by_vector(vector.tolist(), k, search_k=self.knob_value)), k)

    def _query_batch(self, vectors: np.ndarray, k: int, threads: int) -> np.ndarray:
        return query_batch(self.index, vectors, k, self.knob_value, threads, show_progress=False)[0]

    def _save(self, path: Path) -> None:
        self.index.save(str(path))  # Annoy then serves the saved file, memory-mapped

    def _load(self, path: Path) -> None:
        self.index = AnnoyIndex(self.dim, "angular")
        self.index.load(str(path), prefault=self.prefault)


class _GraphAdapter(Adapter):
    """What hnswlib's and Voyager's adapters share: the HNSW graph's build settings and a seed."""

    def __init__(self, dim: int, M: int = 16, ef_construction: int = 200, seed: int = SEED) -> None:  # noqa: N803
        super().__init__(dim)
        self.M, self.ef_construction, self.seed = M, ef_construction, seed
        self.params = {"M": M, "ef_construction": ef_construction, "seed": seed}
        self.index = None
        require(self.library)

    @property
    def settings(self) -> str:
        return f"M={self.M} efC={self.ef_construction}"


class HnswlibAdapter(_GraphAdapter):
    """hnswlib: an HNSW graph with ``M`` links per node, built with ``ef_construction``; ``ef`` at query time."""

    library, knob = "hnswlib", "ef"

    def _build(self, vectors: np.ndarray, threads: int) -> None:
        self.index = require(self.library).Index(space="cosine", dim=self.dim)
        self.index.init_index(max_elements=len(vectors), M=self.M, ef_construction=self.ef_construction,
                              random_seed=self.seed)
        self.index.add_items(vectors, np.arange(len(vectors)), num_threads=threads)
        if self.knob_value is not None:
            self.index.set_ef(self.knob_value)

    def _apply_knob(self, value: int) -> None:
        self.index.set_ef(value)

    def _query(self, vector: np.ndarray, k: int) -> np.ndarray:
        return self.index.knn_query(vector[None, :], k, num_threads=1)[0][0].astype(np.int64)

    def _query_batch(self, vectors: np.ndarray, k: int, threads: int) -> np.ndarray:
        return self.index.knn_query(vectors, k, num_threads=threads)[0].astype(np.int64)

    def _save(self, path: Path) -> None:
        self.index.save_index(str(path))

    def _load(self, path: Path) -> None:
        self.index = require(self.library).Index(space="cosine", dim=self.dim)
        self.index.load_index(str(path))


class VoyagerAdapter(_GraphAdapter):
    """Voyager (Spotify's HNSW): ``M`` and ``ef_construction`` at build time, ``ef`` (``query_ef``) per query."""

    library, knob = "Voyager", "ef"

    def _build(self, vectors: np.ndarray, threads: int) -> None:
        voyager = require(self.library)
        self.index = voyager.Index(voyager.Space.Cosine, self.dim, M=self.M, ef_construction=self.ef_construction,
                                   random_seed=self.seed, max_elements=len(vectors))
        self.index.add_items(vectors, list(range(len(vectors))), num_threads=threads)

    def _apply_knob(self, value: int) -> None:
        pass  # Voyager takes query_ef with each query

    def _ef(self, k: int) -> int:
        """``ef`` for a query of ``k``: Voyager refuses ef < k, where hnswlib silently searches with k; do the same."""
        return -1 if self.knob_value is None else max(self.knob_value, k)

    def _query(self, vector: np.ndarray, k: int) -> np.ndarray:
        return self.index.query(vector, k, num_threads=1, query_ef=self._ef(k))[0].astype(np.int64)

    def _query_batch(self, vectors: np.ndarray, k: int, threads: int) -> np.ndarray:
        return self.index.query(vectors, k, num_threads=threads, query_ef=self._ef(k))[0].astype(np.int64)

    def _save(self, path: Path) -> None:
        self.index.save(str(path))

    def _load(self, path: Path) -> None:
        self.index = require(self.library).Index.load(str(path))


class _FaissAdapter(Adapter):
    """What the FAISS adapters share: inner product on unit vectors, OpenMP threads set per call."""

    library = "FAISS"

    def __init__(self, dim: int) -> None:
        super().__init__(dim)
        self.index = None
        require(self.library)

    @abstractmethod
    def _new_index(self) -> object: ...

    def _build(self, vectors: np.ndarray, threads: int) -> None:
        with faiss_threads(threads):
            self.index = self._new_index()
            self.index.train(vectors)
            self.index.add(vectors)
        if self.knob_value is not None:
            self._apply_knob(self.knob_value)

    def _query(self, vector: np.ndarray, k: int) -> np.ndarray:
        with faiss_threads(1):
            return self.index.search(vector[None, :], k)[1][0].astype(np.int64)

    def _query_batch(self, vectors: np.ndarray, k: int, threads: int) -> np.ndarray:
        with faiss_threads(threads):
            return self.index.search(vectors, k)[1].astype(np.int64)

    def _save(self, path: Path) -> None:
        require(self.library).write_index(self.index, str(path))

    def _load(self, path: Path) -> None:
        self.index = require(self.library).read_index(str(path))


class FaissFlatAdapter(_FaissAdapter):
    """FAISS ``IndexFlatIP``: exact search (every vector compared); no knob."""

    family, knob = "FAISS exact", "none"

    @property
    def settings(self) -> str:
        return "IndexFlatIP"

    def _new_index(self) -> object:
        return require(self.library).IndexFlatIP(self.dim)

    def _apply_knob(self, value: int) -> None:
        pass


class FaissIVFAdapter(_FaissAdapter):
    """FAISS ``IndexIVFFlat``: k-means into ``nlist`` cells; ``nprobe`` nearest cells scanned per query."""

    family, knob = "FAISS IVF", "nprobe"

    def __init__(self, dim: int, nlist: int, seed: int = SEED) -> None:
        super().__init__(dim)
        self.nlist, self.seed = nlist, seed
        self.params = {"nlist": nlist, "seed": seed}

    @property
    def settings(self) -> str:
        return f"nlist={self.nlist}"

    def _new_index(self) -> object:
        faiss = require(self.library)
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(self.dim), self.dim, self.nlist, faiss.METRIC_INNER_PRODUCT)
        index.cp.seed = self.seed
        return index

    def _apply_knob(self, value: int) -> None:
        self.index.nprobe = value


class FaissHNSWAdapter(_FaissAdapter):
    """FAISS ``IndexHNSWFlat``: HNSW with ``M`` links and ``efConstruction``; ``efSearch`` per query."""

    family, knob = "FAISS HNSW", "ef"

    def __init__(self, dim: int, M: int = 16, ef_construction: int = 200) -> None:  # noqa: N803
        super().__init__(dim)
        self.M, self.ef_construction = M, ef_construction
        self.params = {"M": M, "ef_construction": ef_construction}

    @property
    def settings(self) -> str:
        return f"M={self.M} efC={self.ef_construction}"

    def _new_index(self) -> object:
        faiss = require(self.library)
        index = faiss.IndexHNSWFlat(self.dim, self.M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = self.ef_construction
        return index

    def _apply_knob(self, value: int) -> None:
        self.index.hnsw.efSearch = value


def versions() -> dict[str, str]:
    """Installed version of each library (``not installed`` where it is missing)."""
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for library, distribution in {"Annoy": "annoy", "hnswlib": "hnswlib", "FAISS": "faiss-cpu",
                                  "Voyager": "voyager"}.items():
        try:
            found[library] = version(distribution)
        except PackageNotFoundError:
            found[library] = "not installed"
    return found
