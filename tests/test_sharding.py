"""Notebook 08's work on Dask workers, tested as the notebook writes it.

- The top-k merge against brute force on small random data, for every metric the lesson uses.
- A real cluster started as notebooks/running.md shows it: one ``dask scheduler`` and two ``dask worker`` processes on
  loopback (separate OS processes), a shard build and a merged query through them, checked against exact search.
- A worker killed (SIGKILL) at three moments of each phase the notebook runs on the workers (embedding with 06's
  network, building shards, querying them): as its task is handed out, midway, and after the task finished but
  before its result was fetched. Dask runs the task again on the other worker and the result is the one a run
  without the fault gives (a shard file: byte for byte).
- What Dask cannot recover: data scattered to the lost worker alone.

The functions come from notebook 08's own cells (the ones that define them), run here in a fresh namespace, so
the test checks the code the lesson shows.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
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

from helpers import cache, exact, features
from tests.notebook_code import define

NOTEBOOK = "08-scaling-out-with-dask.ipynb"
CELLS = (("build_shard", "search_shard", "merge_top_k"), ("embed_on_worker",))
"""The functions notebook 08 sends to its workers, as its cells group them: one cell defines each group."""


def notebook_functions() -> dict:
    """Run the code cells of notebook 08 that define the functions its workers run; return their namespace."""
    # not importable by name: cloudpickle ships the functions by value
    return define(NOTEBOOK, *CELLS, namespace={"__name__": "notebook_08_shards"})


@pytest.fixture(scope="module")
def shards() -> dict:
    return notebook_functions()


@pytest.mark.parametrize("metric", ["angular", "euclidean", "dot"])
@pytest.mark.parametrize("n_shards", [1, 2, 3, 5])
def test_merge_of_exact_shard_results_is_exact(shards: dict, metric: str, n_shards: int) -> None:
    rng = np.random.default_rng(n_shards)
    items = rng.standard_normal((500, 8)).astype(np.float32)
    queries = rng.standard_normal((40, 8)).astype(np.float32)
    bounds = np.linspace(0, len(items), n_shards + 1).astype(int)
    parts = []
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        ids, dists = exact.exact_knn(items[a:b], queries, min(10, b - a), metric, show_progress=False)
        pad = 10 - ids.shape[1]  # a shard smaller than k: padded as search_shard pads
        fill = -np.inf if exact.larger_is_nearer(metric) else np.inf
        parts.append((np.pad(ids + a, ((0, 0), (0, pad)), constant_values=-1),
                      np.pad(dists, ((0, 0), (0, pad)), constant_values=fill)))
    merged_ids, merged_dists = shards["merge_top_k"](parts, 10, metric)
    want_ids, want_dists = exact.exact_knn(items, queries, 10, metric, show_progress=False)
    np.testing.assert_allclose(merged_dists, want_dists, rtol=1e-5, atol=1e-5)
    assert (merged_ids == want_ids).mean() > 0.99  # ties in distance may order two ids either way


def test_merge_keeps_padding_last(shards: dict) -> None:
    parts = [(np.array([[3, -1]]), np.array([[0.5, np.inf]])), (np.array([[7, 8]]), np.array([[0.2, 0.9]]))]
    ids, dists = shards["merge_top_k"](parts, 3, "angular")
    assert ids.tolist() == [[7, 3, 8]] and dists.tolist() == [[0.2, 0.5, 0.9]]


class Cluster:
    """A ``dask scheduler`` and single-thread ``dask worker`` processes (no nanny) on 127.0.0.1, as notebooks/running.md shows."""

    def __init__(self, folder: Path, cache_dir: Path) -> None:
        self.folder, self.logs, self.processes = folder, [], []
        self.workers: dict[str, subprocess.Popen] = {}  # by the name each worker gives the scheduler
        self.env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "ANN_TUTORIAL_CACHE": str(cache_dir),
                    "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
        self.env.pop("ANN_TUTORIAL_QUICK", None)
        self.scheduler_file = folder / "scheduler.json"
        self.client: distributed.Client | None = None

    def start(self, name: str, args: list[str]) -> subprocess.Popen:
        log = open(self.folder / f"{name}.log", "wb")
        self.logs.append(log)
        process = subprocess.Popen([sys.executable, "-m", "dask", *args], stdout=log, stderr=subprocess.STDOUT,
                                   env=self.env, cwd=self.folder)
        self.processes.append(process)
        return process

    def start_scheduler(self) -> None:
        scheduler = self.start("scheduler", ["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                             "--scheduler-file", str(self.scheduler_file)])
        deadline = time.monotonic() + 60
        while not self.scheduler_file.exists():
            assert scheduler.poll() is None, (self.folder / "scheduler.log").read_text()
            assert time.monotonic() < deadline, "the scheduler did not start within 60 s"
            time.sleep(0.1)

    def ensure_workers(self, n: int) -> None:
        """Start workers until ``n`` are alive (a test that killed one may have failed before replacing it), and
        wait until the scheduler has them all."""
        alive = [p for p in self.workers.values() if p.poll() is None]
        for _ in range(n - len(alive)):
            name = f"worker-{len(self.workers)}"
            self.workers[name] = self.start(name, ["worker", "--scheduler-file", str(self.scheduler_file),
                                                   "--nthreads", "1", "--no-nanny", "--no-dashboard",
                                                   "--host", "127.0.0.1", "--name", name])
        if self.client is None:
            self.client = distributed.Client(scheduler_file=str(self.scheduler_file), timeout=60)
        self.client.wait_for_workers(max(n, len(alive)), timeout=60)

    def kill_worker(self, address: str) -> int:
        """SIGKILL the worker process at ``address`` (as a machine that loses power); its pid."""
        process = self.workers[self.client.scheduler_info()["workers"][address]["name"]]
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=10) == -signal.SIGKILL
        return process.pid

    def close(self) -> None:
        try:
            if self.client is not None:
                self.client.shutdown()  # the scheduler and its workers stop
        finally:
            for process in self.processes:
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            for log in self.logs:
                log.close()


@contextlib.contextmanager
def dask_cluster(folder: Path, n_workers: int = 2) -> Iterator[Cluster]:
    cluster = Cluster(folder, folder / "cache")
    try:
        cluster.start_scheduler()
        cluster.ensure_workers(n_workers)
        yield cluster
    finally:
        cluster.close()


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


@pytest.fixture(scope="module")
def running_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with dask_cluster(tmp_path_factory.mktemp("dask")) as running:
        yield running


@pytest.fixture
def cluster(running_cluster: Cluster) -> Cluster:
    """One cluster for this module's tests, with two live workers at the start of each."""
    running_cluster.ensure_workers(2)
    return running_cluster


def test_sharded_search_on_a_separate_scheduler_and_workers(shards: dict, cluster: Cluster, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    items = rng.standard_normal((3000, 16)).astype(np.float32)
    queries = rng.standard_normal((50, 16)).astype(np.float32)
    client = cluster.client
    assert len(client.scheduler_info()["workers"]) == 2
    pids = set(client.run(os.getpid).values())
    assert pids.isdisjoint({os.getpid()}) and pids <= {p.pid for p in cluster.workers.values()}  # own processes
    # search_k large enough to visit every item of a shard: each shard's answer is exact, so the merge is
    ids, dists = build_and_search(client, shards, items, queries, tmp_path, 3, search_k=100_000)
    want_ids, want_dists = exact.exact_knn(items, queries, 10, "angular", show_progress=False)
    np.testing.assert_allclose(dists, want_dists, atol=1e-4)
    assert (ids == want_ids).mean() > 0.99


# --------------------------------------------------------------------------- a worker lost at any moment

def digest(path: str | Path) -> str:
    return hashlib.blake2b(Path(path).read_bytes(), digest_size=16).hexdigest()


TINY_NETWORK = """
import chainer, chainer.functions as F, numpy as np
from helpers import fast_conv

class TinyNet(chainer.Chain):  # notebook 06's interface: prepare (rows -> channels last), embed
    def __init__(self):
        super().__init__()
        rng = np.random.default_rng(0)
        with self.init_scope():
            self.conv1, self.conv2 = fast_conv.Conv3x3(3, 32, rng), fast_conv.Conv3x3(32, 32, rng)

    def prepare(self, images):
        return np.asarray(images, dtype=np.float32).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)

    def embed(self, x):
        return F.max(F.relu(self.conv2(F.relu(self.conv1(x)))), axis=(1, 2))
"""


@pytest.fixture(scope="module")
def phases(shards: dict, running_cluster: Cluster) -> dict:
    """What each phase of notebook 08 sends to the workers, on small data: a function and its arguments, and
    how to read its result for comparison. The embedding phase uses a tiny network saved as notebook 06 saves
    its own (``features.save_model`` under the name notebook 08 loads), in the workers' cache folder."""
    cluster = running_cluster
    cluster.ensure_workers(2)
    folder = cluster.folder
    rng = np.random.default_rng(2)
    items = folder / "phase-items.npy"
    np.save(items, rng.standard_normal((40_000, 64)).astype(np.float32))  # builds of a second or more
    images = folder / "phase-images.npy"
    np.save(images, rng.random((1_500, 3072), dtype=np.float32))
    queries = rng.standard_normal((3_000, 64)).astype(np.float32)
    cache_dir = Path(cluster.env["ANN_TUTORIAL_CACHE"])
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("helpers.config.CACHE_DIR", cache_dir)
        patch.delenv("ANN_TUTORIAL_QUICK", raising=False)
        namespace: dict = {"__name__": "notebook_06_cell"}  # defined as a notebook cell defines it
        exec(TINY_NETWORK, namespace)
        features.save_model(namespace["TinyNet"](), "cnn-cifar10")
    shard = folder / "phase-shard.ann"
    cluster.client.submit(shards["build_shard"], str(items), 0, 40_000, str(shard), "angular", 10, 42,
                          pure=False).result()
    runs = itertools.count()

    def built(result: float, task: tuple) -> tuple:
        """A shard build as the cache convention leaves it: the file, its fingerprint, no unfinished marker."""
        path = Path(task[4])
        return digest(path), json.dumps(cache.read_fingerprint(path)), cache.unfinished_marker(path).exists()

    return {
        "embed": (lambda: (shards["embed_on_worker"], str(images), 0, 1_500), lambda result, task: result),
        "build": (lambda: (shards["build_shard"], str(items), 0, 40_000, str(folder / f"build-{next(runs)}.ann"),
                           "angular", 20, 42), built),
        "query": (lambda: (shards["search_shard"], str(shard), 64, "angular", 0, queries, 10, 2_000),
                  lambda result, task: result),  # the queries travel in the task, as notebook 08 sends them
    }


def run_phase(cluster: Cluster, phase: tuple, moment: str | None = None, midway: float = 0.0) -> tuple[object, int | None]:
    """Submit one task of ``phase``; with a ``moment``, SIGKILL the worker that has it then (``midway``: that many
    seconds after it was handed out). Returns the phase's reading of the task's result, and the pid killed."""
    client = cluster.client
    task = phase[0]()
    future = client.submit(*task, pure=False)
    killed = None
    if moment in ("handed out", "midway"):
        deadline = time.monotonic() + 60
        while not (busy := [w for w, keys in client.processing().items() if future.key in keys]):
            assert time.monotonic() < deadline and not future.done(), "the task was never handed out"
            time.sleep(0.002)
        if moment == "midway":
            time.sleep(midway)
        assert not future.done(), f"the task finished before the kill ({moment}): give it more work"
        killed = cluster.kill_worker(busy[0])
    elif moment == "finished, result not yet fetched":
        distributed.wait(future, timeout=120)
        holders = client.who_has(future)[future.key]
        assert len(holders) == 1, holders
        killed = cluster.kill_worker(holders[0])
    result = future.result(timeout=180)  # the scheduler runs the task again on the other worker
    if killed is not None:
        survivors = client.scheduler_info()["workers"]
        assert len(survivors) == 1, survivors
    return phase[1](result, task), killed


MOMENTS = ("handed out", "midway", "finished, result not yet fetched")


@pytest.mark.parametrize("phase_name", ["embed", "build", "query"])
def test_a_worker_killed_at_any_moment_of_a_phase_changes_nothing(phases: dict, cluster: Cluster,
                                                                   phase_name: str) -> None:
    """Notebook 08's three phases on the workers (embedding with 06's network, building shards, querying them):
    a worker SIGKILLed as its task is handed out, midway through it, or after it finished but before its result
    was fetched; each time Dask runs the task again elsewhere and the result is the one a run without a fault
    gives (a build: the same file, byte for byte)."""
    phase = phases[phase_name]
    durations = []
    for _ in range(3):  # the fastest of three: a worker that has loaded the network (or opened the shard) already
        start = time.perf_counter()
        clean, _ = run_phase(cluster, phase)
        durations.append(time.perf_counter() - start)
    for moment in MOMENTS:
        cluster.ensure_workers(2)  # a replacement for the worker killed before
        faulty, killed = run_phase(cluster, phase, moment, midway=0.4 * min(durations))
        assert killed is not None
        np.testing.assert_array_equal(np.asarray(faulty, dtype=object), np.asarray(clean, dtype=object),
                                      err_msg=f"{phase_name}: killed {moment}")
        if phase_name == "build":
            assert faulty[1] != "null" and not faulty[2]  # fingerprinted, and no marker left behind


def test_data_scattered_only_to_a_lost_worker_is_lost_for_good(cluster: Cluster) -> None:
    """What Dask cannot recover, as notebook 08 says: data a client scattered to one worker lives only there, and
    no task made it, so there is nothing to run again when that worker dies; data in files, in the task's own
    arguments or made by other tasks comes back."""
    client = cluster.client
    worker = sorted(client.scheduler_info()["workers"])[0]
    data = client.scatter(np.arange(1_000), workers=[worker])
    made = client.submit(np.arange, 1_000, workers=[worker], allow_other_workers=True, pure=False)  # made by a task
    distributed.wait([data, made])
    assert client.who_has([data, made]) == {data.key: (worker,), made.key: (worker,)}
    cluster.kill_worker(worker)
    assert np.array_equal(made.result(timeout=60), np.arange(1_000))  # run again on the other worker
    with pytest.raises(distributed.client.FutureCancelledError, match="lost dependencies"):
        client.submit(np.sum, data, pure=False).result(timeout=60)  # its input is gone: it cannot run
