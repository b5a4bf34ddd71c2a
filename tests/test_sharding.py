"""Notebook 08's sharded search, tested as the notebook writes it.

- The top-k merge against brute force on small random data, for every metric the lesson uses.
- A real cluster started as the README shows it: one ``dask scheduler`` and two ``dask worker`` processes on
  loopback (separate OS processes), a shard build and a merged query through them, checked against exact search.
- A worker killed (SIGKILL) in the middle of a shard build: Dask runs the task again on the other worker and the
  shard file is byte for byte the one a run without the fault builds.

The shard functions come from notebook 08's own cell (the one that defines them), run here in a fresh namespace,
so the test checks the code the lesson shows.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import distributed
import numpy as np
import pytest

from helpers import cache, exact

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "08-scaling-out-with-dask.ipynb"
SHARD_FUNCTIONS = ("build_shard", "search_shard", "merge_top_k")


def notebook_functions() -> dict:
    """Run the one code cell of notebook 08 that defines the shard functions; return its namespace."""
    cells = [c for c in json.loads(NOTEBOOK.read_text())["cells"] if c["cell_type"] == "code"]
    sources = ["".join(c["source"]) for c in cells]
    found = [s for s in sources if all(f"def {name}(" in s for name in SHARD_FUNCTIONS)]
    assert len(found) == 1, f"expected one cell of {NOTEBOOK.name} defining {SHARD_FUNCTIONS}, found {len(found)}"
    namespace: dict = {"__name__": "notebook_08_shards"}  # not importable: cloudpickle ships the functions by value
    exec(compile(found[0], str(NOTEBOOK), "exec"), namespace)
    return namespace


@pytest.fixture(scope="module")
def shards() -> dict:
    return notebook_functions()


def brute_force(items: np.ndarray, queries: np.ndarray, k: int, metric: str) -> tuple[np.ndarray, np.ndarray]:
    if metric == "dot":
        scores = queries @ items.T
        ids = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        return ids, np.take_along_axis(scores, ids, axis=1)
    return exact.exact_knn(items, queries, k, metric, show_progress=False)


@pytest.mark.parametrize("metric", ["angular", "euclidean", "dot"])
@pytest.mark.parametrize("n_shards", [1, 2, 3, 5])
def test_merge_of_exact_shard_results_is_exact(shards: dict, metric: str, n_shards: int) -> None:
    rng = np.random.default_rng(n_shards)
    items = rng.standard_normal((500, 8)).astype(np.float32)
    queries = rng.standard_normal((40, 8)).astype(np.float32)
    bounds = np.linspace(0, len(items), n_shards + 1).astype(int)
    parts = []
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        ids, dists = brute_force(items[a:b], queries, min(10, b - a), metric)
        pad = 10 - ids.shape[1]  # a shard smaller than k: padded as search_shard pads
        fill = -np.inf if metric == "dot" else np.inf
        parts.append((np.pad(ids + a, ((0, 0), (0, pad)), constant_values=-1),
                      np.pad(dists, ((0, 0), (0, pad)), constant_values=fill)))
    merged_ids, merged_dists = shards["merge_top_k"](parts, 10, metric)
    want_ids, want_dists = brute_force(items, queries, 10, metric)
    np.testing.assert_allclose(merged_dists, want_dists, rtol=1e-5, atol=1e-5)
    assert (merged_ids == want_ids).mean() > 0.99  # ties in distance may order two ids either way


def test_merge_keeps_padding_last(shards: dict) -> None:
    parts = [(np.array([[3, -1]]), np.array([[0.5, np.inf]])), (np.array([[7, 8]]), np.array([[0.2, 0.9]]))]
    ids, dists = shards["merge_top_k"](parts, 3, "angular")
    assert ids.tolist() == [[7, 3, 8]] and dists.tolist() == [[0.2, 0.5, 0.9]]


@contextlib.contextmanager
def dask_cluster(folder: Path, n_workers: int = 2) -> Iterator[tuple[object, list[subprocess.Popen]]]:
    """A scheduler and ``n_workers`` single-thread workers, each its own ``dask`` process, on 127.0.0.1."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    dask = [sys.executable, "-m", "dask"]
    scheduler_file = folder / "scheduler.json"
    logs = []

    def start(name: str, args: list[str]) -> subprocess.Popen:
        log = open(folder / f"{name}.log", "wb")
        logs.append(log)
        return subprocess.Popen(dask + args, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=folder)

    processes = [start("scheduler", ["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                     "--scheduler-file", str(scheduler_file)])]
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists():
            assert processes[0].poll() is None, (folder / "scheduler.log").read_text()
            assert time.monotonic() < deadline, "the scheduler did not start within 60 s"
            time.sleep(0.1)
        for i in range(n_workers):
            processes.append(start(f"worker-{i}", ["worker", "--scheduler-file", str(scheduler_file), "--nthreads",
                                                   "1", "--no-nanny", "--no-dashboard", "--host", "127.0.0.1",
                                                   "--name", f"worker-{i}"]))
        client = distributed.Client(scheduler_file=str(scheduler_file), timeout=60)
        try:
            client.wait_for_workers(n_workers, timeout=60)
            yield client, processes
        finally:
            client.shutdown()  # the scheduler and its workers stop
    finally:
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for log in logs:
            log.close()


def build_and_search(client, shards: dict, items: np.ndarray, queries: np.ndarray, folder: Path,
                     n_shards: int, search_k: int) -> tuple[np.ndarray, np.ndarray]:
    bounds = np.linspace(0, len(items), n_shards + 1).astype(int)
    paths = [str(folder / f"shard-{s}.ann") for s in range(n_shards)]
    np.save(folder / "items.npy", items)
    client.gather([client.submit(shards["build_shard"], str(folder / "items.npy"), int(a), int(b), path, "angular",
                                 10, 42, pure=False) for a, b, path in zip(bounds[:-1], bounds[1:], paths, strict=True)])
    futures = [client.submit(shards["search_shard"], path, items.shape[1], "angular", int(a), queries, 10,
                             search_k, pure=False) for path, a in zip(paths, bounds[:-1], strict=True)]
    return shards["merge_top_k"](client.gather(futures), 10, "angular")


def test_sharded_search_on_a_separate_scheduler_and_workers(shards: dict, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    items = rng.standard_normal((3000, 16)).astype(np.float32)
    queries = rng.standard_normal((50, 16)).astype(np.float32)
    with dask_cluster(tmp_path) as (client, processes):
        assert len(client.scheduler_info()["workers"]) == 2
        pids = set(client.run(os.getpid).values())
        assert pids.isdisjoint({os.getpid()}) and pids <= {p.pid for p in processes}  # separate processes
        # search_k large enough to visit every item of a shard: each shard's answer is exact, so the merge is
        ids, dists = build_and_search(client, shards, items, queries, tmp_path, 3, search_k=100_000)
    want_ids, want_dists = exact.exact_knn(items, queries, 10, "angular", show_progress=False)
    np.testing.assert_allclose(dists, want_dists, atol=1e-4)
    assert (ids == want_ids).mean() > 0.99


def digest(path: Path) -> str:
    return hashlib.blake2b(path.read_bytes(), digest_size=16).hexdigest()


def test_a_worker_killed_mid_build_gives_the_same_shard(shards: dict, tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    items = rng.standard_normal((40_000, 64)).astype(np.float32)  # a build of a few seconds: time to kill it
    clean, faulty, saved = tmp_path / "clean.ann", tmp_path / "faulty.ann", tmp_path / "items.npy"
    np.save(saved, items)  # the shard's vectors on shared storage: a rerun of the task reads them again
    with dask_cluster(tmp_path) as (client, processes):
        build = shards["build_shard"]
        client.submit(build, str(saved), 0, len(items), str(clean), "angular", 10, 42, pure=False).result()
        future = client.submit(build, str(saved), 0, len(items), str(faulty), "angular", 10, 42, pure=False)
        marker = cache.unfinished_marker(faulty)
        deadline = time.monotonic() + 60
        while not marker.exists():  # the cache's marker: the build has started
            assert time.monotonic() < deadline and not future.done(), "the build did not start"
            time.sleep(0.01)
        busy = [worker for worker, keys in client.processing().items() if future.key in keys]
        assert len(busy) == 1, client.processing()
        pid = client.run(os.getpid, workers=busy)[busy[0]]
        os.kill(pid, signal.SIGKILL)
        assert not future.done()  # killed before it finished
        future.result(timeout=120)  # run again on the other worker
        survivors = client.scheduler_info()["workers"]
        assert busy[0] not in survivors and len(survivors) == 1
        assert next(p for p in processes if p.pid == pid).wait(timeout=10) == -signal.SIGKILL
    assert digest(faulty) == digest(clean)
    assert not marker.exists() and cache.read_fingerprint(faulty) == cache.read_fingerprint(clean)
