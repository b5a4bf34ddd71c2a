"""Notebook 07's protocol: every library measured the same way on the same queries against the same ground truth.

For each build setting (an adapter from ``helpers.ann_libraries``): build on every core and time it; save the
index and reload it from the file (size on disk; resident memory a new process gains by loading it,
``loaded_megabytes``); then, for each value of the search-time knob, time one query at a time on one thread
(``evaluation.time_queries``: warm-up, repeats, the median and the spread) and score recall@10 against exact search.
At the fastest knob value that reaches ``BATCH_RECALL`` recall, a (larger) set of queries is also sent as one batch
on every core: what an offline job sees. Each point is a ``measurements.Measurement``, the record notebook 04's
sweep uses too; results are cached as JSON (``helpers.cache``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from helpers import ann_libraries, cache
from helpers.ann_libraries import Adapter, AnnoyAdapter, versions
from helpers.checks import check_vectors
from helpers.evaluation import recall_at_k, time_batch, time_queries
from helpers.measurements import RECORD_VERSION, Measurement
from helpers.progress import Progress

BATCH_RECALL = 0.95
"""The batched, all-core run uses the fastest knob value of each build that reaches this recall."""


@dataclasses.dataclass
class Build:
    """One build setting to measure: how to make the adapter, and the knob values to try on it."""

    make: Callable[[int], Adapter]  # dim -> an unbuilt adapter
    knob_values: Sequence[int]
    name: str  # the adapter's label, for the cache key and the tables


def resident_megabytes() -> float:
    """This process's resident memory in MB (Linux's /proc; nan elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6
    except (OSError, ValueError, IndexError, AttributeError):
        return math.nan


def loaded_megabytes(adapter: Adapter, path: str | os.PathLike) -> float:
    """Resident memory (MB) a new Python process gains by loading the index saved at ``path``; nan without /proc.

    A new process, so that memory freed by earlier indexes in this one cannot hide the cost. Annoy loads with
    ``prefault=True``: the whole memory-mapped file paged in, as after many queries. Those pages are the
    operating system's file cache, shared by every process that maps the same file.
    """
    spec = json.dumps({"class": type(adapter).__name__, "dim": adapter.dim, "params": adapter.params,
                       "path": os.fspath(path)})
    done = subprocess.run([sys.executable, "-m", "helpers.comparison", spec], capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(f"measuring {adapter.label}'s memory failed:\n{done.stderr[-2000:]}")
    return float(done.stdout.split()[-1])


def _memory_probe(spec_json: str) -> float:
    """``loaded_megabytes``' other half, run in the new process."""
    spec = json.loads(spec_json)
    adapter = getattr(ann_libraries, spec["class"])(spec["dim"], **spec["params"])
    if isinstance(adapter, AnnoyAdapter):
        adapter.prefault = True
    before = resident_megabytes()
    adapter.load(spec["path"])
    return resident_megabytes() - before


def measure_build(build: Build, train: np.ndarray, queries: np.ndarray, exact_dists: np.ndarray, k: int,
                  repeats: int, scratch: os.PathLike, batch_queries: np.ndarray | None = None,
                  on_point: Callable[[], object] | None = None) -> list[Measurement]:
    """Every knob value of one build setting (see the module docstring); ``batch_queries`` default to ``queries``.

    The inputs are used as they are: ``compare`` checked them once.
    """
    batch_queries = queries if batch_queries is None else batch_queries
    adapter = build.make(train.shape[1])
    start = time.perf_counter()
    adapter.build(train)
    build_seconds = time.perf_counter() - start - (0.0 if math.isnan(adapter.add_seconds) else adapter.add_seconds)
    with cache.scratch_file(Path(scratch)), _dropped_at_exit(adapter):  # the file is deleted after the index goes
        adapter.save(scratch)
        disk_mb = os.path.getsize(scratch) / 1e6
        memory_mb = loaded_megabytes(adapter, scratch)
        adapter.index = None  # drop the built index: what is measured from here on is the one loaded from the file
        gc.collect()
        adapter.load(scratch)
        points = []
        for value in build.knob_values:
            adapter.set_query_knob(value)
            timing = time_queries(adapter.search_one(k), queries, k, repeats)
            points.append(Measurement(
                library=adapter.family or adapter.library, settings=adapter.settings, params=dict(adapter.params),
                knob=adapter.knob, knob_value=value, qps=timing.qps, qps_low=timing.qps_low,
                qps_high=timing.qps_high, recall=recall_at_k(timing.ids, exact_dists, train, queries, "angular", k),
                build_seconds=build_seconds, disk_mb=disk_mb, add_seconds=adapter.add_seconds, memory_mb=memory_mb))
            if on_point is not None:
                on_point()
        good = [p for p in points if p.recall >= BATCH_RECALL]
        if good:
            best = max(good, key=lambda p: p.qps)
            adapter.set_query_knob(best.knob_value)
            best.batch_qps = len(batch_queries) / time_batch(lambda: adapter.query_batch(batch_queries, k))
    return points


@contextlib.contextmanager
def _dropped_at_exit(adapter: Adapter) -> Iterator[None]:
    """Drop the adapter's index when the block ends, however it ends: then nothing maps or holds its file."""
    try:
        yield
    finally:
        adapter.index = None
        gc.collect()


def compare(builds: Sequence[Build], train: np.ndarray, queries: np.ndarray, exact_dists: np.ndarray, name: str,
            k: int = 10, repeats: int = 3, batch_queries: np.ndarray | None = None,
            show_progress: bool = True) -> tuple[list[Measurement], bool]:
    """Measure every build setting, or reuse its identical earlier measurement; returns (points, all reused).

    ``train`` and ``queries`` must be unit-length (``vectors.normalise``); ``exact_dists`` are the exact angular
    distances of each query's ``k`` nearest training rows; ``batch_queries`` (default: ``queries``) are the ones
    sent as one batch. Each build is cached as ``compare-<name>-<build>.json`` (as ann-benchmarks keeps one
    result file per build); its fingerprint covers the data, the build's name and knob values, and the libraries'
    versions.
    """
    train, queries = check_vectors(train, "train"), check_vectors(queries, "queries")
    if len(exact_dists) != len(queries):
        raise ValueError(f"{len(exact_dists)} rows of exact distances for {len(queries)} queries")
    norms = np.linalg.norm(train[:100], axis=1)
    if not np.allclose(norms, 1.0, atol=1e-3):
        raise ValueError("train rows must have length 1 (vectors.normalise): FAISS's inner product is cosine "
                         "only then")
    names = [b.name for b in builds]
    if len({_file_name(n) for n in names}) != len(names):
        raise ValueError(f"two build settings share a name (or a file name): {names}")
    batch_queries = queries if batch_queries is None else check_vectors(batch_queries, "batch_queries")
    data_key = cache.content_key(train, queries, exact_dists, batch_queries)
    scratch = cache.cache_file(f"compare-{name}-scratch.index")
    results, all_reused = [], True
    with Progress(f"compare {name}", total=sum(len(b.knob_values) for b in builds), enabled=show_progress) as bar:
        for build in builds:  # one result file per build: a new or changed setting re-measures only itself
            wanted = {"data_blake2b": data_key, "build": build.name, "knob_values": list(build.knob_values),
                      "k": int(k), "repeats": int(repeats), "versions": versions(), "record": RECORD_VERSION}
            points, reused = cache.load_or_make_records(
                cache.cache_file(f"compare-{name}-{_file_name(build.name)}.json"), wanted, Measurement,
                lambda build=build: measure_build(build, train, queries, exact_dists, k, repeats, scratch,
                                                  batch_queries, on_point=lambda: bar.update(1)))
            if reused:
                bar.update(len(build.knob_values))
            results += points
            all_reused = all_reused and reused
    return results, all_reused


def _file_name(label: str) -> str:
    """A build's label as part of a file name: letters, digits and - only ("hnswlib M=16" -> "hnswlib-M-16")."""
    return "-".join("".join(c if c.isalnum() else " " for c in label).split())


if __name__ == "__main__":
    print(_memory_probe(sys.argv[1]))
