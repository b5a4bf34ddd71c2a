"""Notebook 01's reading of Annoy's index file and its NumPy rewrite of Annoy's search, tested on their own.

The two functions come from the notebook's own cells (run here in a fresh namespace), so the test checks the code
the lesson shows: for both metrics the lesson reads, several numbers of trees (one tree included), every
``search_k`` up to one that sees every item of every tree, and an index whose ids are not 0..n-1, the search must
return exactly what Annoy's ``get_nns_by_vector`` returns. The tree drawing's walk (``plotting.tree_cells``)
must find every item in each tree's leaves exactly once.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from annoy import AnnoyIndex

from helpers import plotting
from tests.notebook_code import define

NOTEBOOK = "01-annoy-basics.ipynb"
FUNCTIONS = ("read_annoy_file", "annoy_search")


@pytest.fixture(scope="module")
def lesson() -> dict:
    """Run the code cells of notebook 01 that define the file reader and the search; return their namespace."""
    return define(NOTEBOOK, *((name,) for name in FUNCTIONS), namespace={"np": np})


def saved_index(tmp_path: Path, vectors: np.ndarray, metric: str, n_trees: int, ids: np.ndarray | None = None,
                seed: int = 7) -> tuple[AnnoyIndex, Path]:
    annoy = AnnoyIndex(vectors.shape[1], metric)
    for i, v in zip(range(len(vectors)) if ids is None else ids, vectors, strict=True):
        annoy.add_item(int(i), v.tolist())
    annoy.set_seed(seed)
    annoy.build(n_trees, n_jobs=1)
    path = tmp_path / f"{metric}-{n_trees}.ann"
    annoy.save(str(path))
    return annoy, path


@pytest.mark.parametrize("metric", ["angular", "euclidean"])
@pytest.mark.parametrize("dim, n_trees", [(2, 1), (2, 4), (8, 1), (8, 3), (16, 10)])
def test_the_numpy_search_is_annoys_search(lesson: dict, tmp_path: Path, metric: str, dim: int, n_trees: int) -> None:
    rng = np.random.default_rng(dim * 100 + n_trees)
    vectors = rng.standard_normal((150, dim)).astype(np.float32)
    annoy, path = saved_index(tmp_path, vectors, metric, n_trees)
    parsed = lesson["read_annoy_file"](path, dim, metric)
    nodes, ids, roots, n_items = parsed
    assert n_items == 150 and len(roots) == n_trees and ids.shape[1] == dim + 2  # K = f + 2
    assert path.stat().st_size == len(nodes) * nodes.dtype.itemsize
    every = [*range(1, 150 * n_trees + 1, 1 if dim == 2 else 7), 150 * n_trees, -1]
    for q in rng.standard_normal((4, dim)).astype(np.float32):
        for search_k in every:
            for n in (1, 10):
                want = annoy.get_nns_by_vector(q.tolist(), n, search_k=search_k)
                assert lesson["annoy_search"](*parsed, metric, q, n, search_k)[0] == want, (search_k, n)


@pytest.mark.parametrize("metric", ["angular", "euclidean"])
def test_ids_that_are_not_0_to_n_minus_1(lesson: dict, tmp_path: Path, metric: str) -> None:
    """Gaps in the ids are empty item nodes (n_descendants 0) that no tree holds: read and searched the same."""
    rng = np.random.default_rng(5)
    vectors = rng.standard_normal((80, 4)).astype(np.float32)
    ids = np.arange(80) * 3 + 5  # 5, 8, ..., 242: the file holds 243 item nodes, 80 of them used
    annoy, path = saved_index(tmp_path, vectors, metric, 3, ids)
    nodes, leaf_ids, roots, n_items = parsed = lesson["read_annoy_file"](path, 4, metric)
    assert n_items == annoy.get_n_items() == 243
    assert np.array_equal(np.flatnonzero(nodes["n_descendants"][:n_items] == 1), ids)
    for q in rng.standard_normal((5, 4)).astype(np.float32):
        for search_k in (1, 5, 20, 100, 240, 1000, -1):
            got, candidates = lesson["annoy_search"](*parsed, metric, q, 10, search_k)
            assert got == annoy.get_nns_by_vector(q.tolist(), 10, search_k=search_k)
            assert set(candidates.tolist()) <= set(ids.tolist())


@pytest.mark.parametrize("metric", ["angular", "euclidean"])
def test_each_trees_leaves_hold_every_item_once(lesson: dict, tmp_path: Path, metric: str) -> None:
    rng = np.random.default_rng(9)
    vectors = rng.standard_normal((300, 2)).astype(np.float32)
    _, path = saved_index(tmp_path, vectors, metric, 5)
    nodes, ids, roots, n_items = lesson["read_annoy_file"](path, 2, metric)
    box = np.array([[-9.0, -9.0], [9.0, -9.0], [9.0, 9.0], [-9.0, 9.0]])
    for root in roots:
        lines, leaves = plotting.tree_cells(nodes, ids, root, n_items, box)
        assert np.array_equal(np.sort(np.concatenate(leaves)), np.arange(300))
        splits = int((nodes["n_descendants"] > ids.shape[1]).sum())
        assert 0 < len(lines) <= splits  # one segment per split of this tree (every split cuts its cell here)
