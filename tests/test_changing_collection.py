"""Notebook 09's code, on small random data: the swap under load, and the in-place changes against exact search.

The functions are the notebook's own (``tests/notebook_code.define`` runs the cells that define them): ``publish``
and ``Serving`` (Annoy's rebuild and atomic swap), ``make``, ``change_in_place``, ``search`` and ``stored`` (every
library's changes). ``helpers.loadtest`` is tested on its own as well.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from pathlib import Path

import faiss
import hnswlib
import numpy as np
import pytest
import voyager
from annoy import AnnoyIndex

from helpers import config, exact, loadtest, vectors
from tests.notebook_code import define

NOTEBOOK = "09-changing-collection.ipynb"
DIM = 16


def lesson(tmp_path: Path, items: np.ndarray, **settings: object) -> dict:
    """The notebook's functions, in a namespace holding what its earlier cells would have defined."""
    settings = {"N_TREES": 10, "SEARCH_K": 10 * len(items), **settings}
    namespace = {"np": np, "os": os, "tempfile": tempfile, "threading": threading, "time": time,
                 "AnnoyIndex": AnnoyIndex, "config": config, "hnswlib": hnswlib, "voyager": voyager, "faiss": faiss,
                 "items": items, "DIM": items.shape[1],
                 "QUICK": False, "cache": type("Cache", (), {"cache_file": staticmethod(lambda name: tmp_path / name)})}
    define(NOTEBOOK, ("publish", "Serving"), ("make", "change_in_place", "search", "stored"), namespace=namespace)
    namespace.update(settings)  # after the cells, which set the lesson's sizes: the functions read these when called
    return namespace


def random_items(n: int, seed: int = 0) -> np.ndarray:
    return vectors.normalise(np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32))


def test_swaps_under_load_give_whole_answers_and_no_errors(tmp_path: Path) -> None:
    queries = random_items(50, seed=1)
    collections = [random_items(2_000, seed=10 + n) for n in range(4)]  # four versions of the collection
    ns = lesson(tmp_path, collections[0])
    path = tmp_path / "live.ann"
    expected: dict[int, dict[int, list[int]]] = {}

    def publish_and_expect(n: int) -> None:
        ns["publish"](collections[n], path)
        os.link(path, tmp_path / f"kept-{n}.ann")  # keeps its inode alive, so no later version reuses the number
        index = AnnoyIndex(DIM, "angular")
        index.load(str(path))
        expected[os.stat(path).st_ino] = {row: index.get_nns_by_vector(q, 10, search_k=ns["SEARCH_K"])
                                          for row, q in enumerate(queries)}

    publish_and_expect(0)
    served = ns["Serving"](path, DIM)
    server = loadtest.serve(served.query, DIM)
    try:
        with loadtest.Load(server, queries, clients=3, linger=0.5) as load:
            for n in (1, 2, 3):
                time.sleep(0.4)
                publish_and_expect(n)
    finally:
        server.shutdown()
        server.server_close()
    assert not load.errors, load.errors[:3]
    assert len({a.version for a in load.answers}) >= 2, "the clients saw no swap: the test proves nothing"
    wrong = [a for a in load.answers if list(a.ids) != expected[a.version][a.row]]
    assert not wrong, wrong[:3]


def test_serving_moves_to_the_new_file_and_lets_the_old_one_go(tmp_path: Path) -> None:
    ns = lesson(tmp_path, random_items(500))
    path = tmp_path / "live.ann"
    ns["publish"](random_items(500, seed=1), path)
    served = ns["Serving"](path, DIM)
    first = served.current[0]
    ns["publish"](random_items(500, seed=2), path)
    version, ids = served.query(random_items(1, seed=3)[0])
    assert version != first and version == os.stat(path).st_ino and len(ids) == 10


KINDS = ("hnswlib, slots reused", "hnswlib, deleted kept", "Voyager", "FAISS IVF", "Annoy, rebuilt")


@pytest.mark.parametrize("kind", KINDS)
def test_each_change_in_place_answers_as_exact_search_on_the_current_items(tmp_path: Path, kind: str) -> None:
    items = random_items(900)
    queries = random_items(30, seed=1)
    ns = lesson(tmp_path, items, EF=600, NLIST=4, NPROBE=4, ANNOY_PATH=tmp_path / "changing-annoy.ann")
    live = np.arange(600)
    index = ns["make"](kind, live)
    arriving, deleted = iter(range(600, 900)), set()
    for n in (60, 120, 120):  # 10 %, 30 %, 50 % replaced, as in the lesson
        gone, arrived = live[:n], np.array([next(arriving) for _ in range(n)])
        live = np.concatenate([live[n:], arrived])
        deleted.update(gone.tolist())
        index = ns["change_in_place"](kind, index, gone, arrived)
        truth = live[exact.exact_knn(items[live], queries, 10, "angular", show_progress=False)[0]]
        found = np.array([ns["search"](kind, index, q) for q in queries])
        assert not set(found.ravel().tolist()) & deleted, f"{kind}: returned a deleted item"
        same = np.mean([set(f) == set(t) for f, t in zip(found, truth, strict=True)])
        # the search settings let every search see every item: the answers are exact search's, bar rare misses
        assert same >= 0.95, f"{kind}: {same:.0%} of the queries answered as exact search does"
    kept, mb = ns["stored"](kind, index)
    assert kept == (900 if kind in ("hnswlib, deleted kept", "Voyager") else 600), kept
    assert mb > 0


def load_on(answer, clients: int, queries: np.ndarray) -> loadtest.Load:
    """Serve ``answer`` on loopback and put ``clients`` client processes on it for half a second."""
    server = loadtest.serve(answer, DIM)
    try:
        with loadtest.Load(server, queries, clients=clients, linger=0.5) as load:
            pass
    finally:
        server.shutdown()
        server.server_close()
    return load


def test_load_counts_every_answer_and_says_when_the_server_goes_away() -> None:
    queries = random_items(20)
    load = load_on(lambda q: (7, [int(np.argmax(q)), 3]), 2, queries)
    assert load.answers and not load.errors
    assert all(a.version == 7 and a.ids == (int(np.argmax(queries[a.row])), 3) for a in load.answers)

    load = load_on(lambda q: 1 / 0, 1, queries)  # every answer fails: the server thread drops the connection
    assert not load.answers and len(load.errors) == 1 and "EOFError" in load.errors[0], load.errors
