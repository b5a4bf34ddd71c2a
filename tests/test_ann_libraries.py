"""Each library's adapter against exact search on small random data; notebook 07's measuring protocol."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from helpers import ann_libraries as al
from helpers import comparison, evaluation, exact, measurements, vectors

DIM = 24


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """2,000 unit vectors in 24 dimensions, 50 queries, and their exact 10 nearest (ids, angular distances)."""
    rng = np.random.default_rng(0)
    train = vectors.normalise(rng.normal(size=(2000, DIM)).astype(np.float32))
    queries = vectors.normalise(rng.normal(size=(50, DIM)).astype(np.float32))
    ids, dists = exact.exact_knn(train, queries, 10, "angular", show_progress=False)
    return train, queries, ids, dists


# (adapter maker, knob value giving high recall) for every adapter in the module
ADAPTERS: dict[str, tuple[Callable[[], al.Adapter], int]] = {
    "annoy": (lambda: al.AnnoyAdapter(DIM, 20), 20_000),
    "hnswlib": (lambda: al.HnswlibAdapter(DIM, 16, 100), 100),
    "voyager": (lambda: al.VoyagerAdapter(DIM, 16, 100), 100),
    "faiss-flat": (lambda: al.FaissFlatAdapter(DIM), 1),
    "faiss-ivf": (lambda: al.FaissIVFAdapter(DIM, 16), 16),
    "faiss-hnsw": (lambda: al.FaissHNSWAdapter(DIM, 16, 100), 100),
}


def as_json(points: list[measurements.Measurement]) -> str:
    return json.dumps([dataclasses.asdict(p) for p in points])


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth, strict=True)]))


@pytest.mark.parametrize("name", ADAPTERS)
def test_adapter_finds_the_exact_neighbours(name: str, data: tuple, tmp_path: Path) -> None:
    train, queries, exact_ids, _ = data
    make, knob = ADAPTERS[name]
    adapter = make()
    adapter.set_query_knob(knob)  # before build: kept and applied once built
    adapter.build(train, threads=2)
    one_by_one = np.stack([adapter.query(q, 10) for q in queries])
    batch = adapter.query_batch(queries, 10, threads=2)
    assert one_by_one.shape == batch.shape == (len(queries), 10) and one_by_one.dtype == np.int64
    assert recall(one_by_one, exact_ids) >= (1.0 if name == "faiss-flat" else 0.97)
    assert recall(batch, exact_ids) >= (1.0 if name == "faiss-flat" else 0.97)
    # saved and loaded back: the same answers
    adapter.save(tmp_path / "index")
    loaded = make()
    loaded.set_query_knob(knob)
    loaded.load(tmp_path / "index")
    np.testing.assert_array_equal(np.stack([loaded.query(q, 10) for q in queries]), one_by_one)


@pytest.mark.parametrize("name", ["annoy", "hnswlib", "voyager", "faiss-ivf", "faiss-hnsw"])
def test_the_knob_trades_recall(name: str, data: tuple) -> None:
    """A small knob value finds fewer of the true neighbours than a large one (so the knob is really applied)."""
    train, queries, exact_ids, _ = data
    make, knob = ADAPTERS[name]
    adapter = make()
    adapter.build(train, threads=1)
    low = {"annoy": 10, "hnswlib": 1, "voyager": 1, "faiss-ivf": 1, "faiss-hnsw": 1}[name]
    results = {}
    for value in (low, knob):
        adapter.set_query_knob(value)
        results[value] = recall(np.stack([adapter.query(q, 10) for q in queries]), exact_ids)
    assert results[low] < results[knob] - 0.05, results


def test_annoy_pads_missing_neighbours_with_minus_one(data: tuple) -> None:
    train, queries, _, _ = data
    adapter = al.AnnoyAdapter(DIM, 1)
    adapter.build(train)
    adapter.set_query_knob(1)  # Annoy stops at the first leaf: fewer than 50 items (a leaf holds at most 26 here)
    found = adapter.query(queries[0], 50)
    assert len(found) == 50 and found[0] >= 0 and found[-1] == -1


def test_bad_input_is_refused_clearly(data: tuple) -> None:
    train, queries, _, _ = data
    adapter = al.HnswlibAdapter(DIM)
    with pytest.raises(RuntimeError, match="before querying"):
        adapter.query(queries[0], 10)
    with pytest.raises(ValueError, match="24 dimensions; the vectors have 23"):
        adapter.build(train[:, :23])
    adapter.build(train[:200])
    with pytest.raises(ValueError, match="queries have 23"):
        adapter.query(queries[0, :23], 10)
    with pytest.raises(ValueError, match="k must be at least 1"):
        adapter.query(queries[0], 0)
    with pytest.raises(ValueError, match="ef must be at least 1"):
        adapter.set_query_knob(0)
    with pytest.raises(RuntimeError, match="before saving"):
        al.FaissFlatAdapter(DIM).save("never-written")
    al.AnnoyAdapter(DIM, 2).set_query_knob(-1)  # Annoy's "default search_k" is allowed


def test_a_missing_library_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(al.LIBRARY_MODULES, "hnswlib", "hnswlib_not_here")
    with pytest.raises(ImportError, match="hnswlib is not installed.*README"):
        al.HnswlibAdapter(DIM)


def test_versions_names_every_library() -> None:
    found = al.versions()
    assert set(found) == {"Annoy", "hnswlib", "FAISS", "Voyager"}
    assert found["Annoy"] == "1.17.3"


def test_time_queries_runs_every_query_each_repeat() -> None:
    calls = []

    def search(q: np.ndarray) -> np.ndarray:
        calls.append(q[0])
        return np.array([int(q[0]), 7])

    queries = np.arange(20, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32)
    timing = evaluation.time_queries(search, queries, k=3, repeats=3, warm_up=5)
    assert len(calls) == 5 + 3 * 20 and 0 < timing.qps_low <= timing.qps <= timing.qps_high
    ids = timing.ids
    assert ids.shape == (20, 3) and (ids[:, 0] == np.arange(20)).all() and (ids[:, 2] == -1).all()
    with pytest.raises(ValueError, match="repeats"):
        evaluation.time_queries(search, queries, k=3, repeats=0)


def test_compare_measures_every_setting_and_caches_it(data: tuple, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("helpers.config.CACHE_DIR", tmp_path / "cache")
    monkeypatch.delenv("ANN_TUTORIAL_QUICK", raising=False)
    train, queries, _, dists = data
    builds = [comparison.Build(lambda d: al.AnnoyAdapter(d, 10), [10, 5000], "annoy 10"),
              comparison.Build(lambda d: al.FaissFlatAdapter(d), [1], "flat")]
    points, reused = comparison.compare(builds, train, queries, dists, "test", repeats=1, show_progress=False)
    assert not reused and len(points) == 3
    annoy_low, annoy_high, flat = points
    assert annoy_low.recall < annoy_high.recall and flat.recall == 1.0
    assert annoy_high.disk_mb > 0 and all(p.build_seconds > 0 and p.qps > 0 for p in points)
    assert annoy_low.add_seconds > 0 and math.isnan(flat.add_seconds)  # Annoy's add_item loop, timed apart
    assert all(p.qps_low <= p.qps <= p.qps_high for p in points)
    if not math.isnan(flat.memory_mb):  # Linux: a new process loaded the 2000 x 24 floats (0.19 MB) and more
        assert flat.memory_mb > 0.1
    assert math.isnan(annoy_low.batch_qps) and annoy_high.batch_qps > 0  # batched only at the best >= 0.95
    best = measurements.fastest_at(points, 0.95)
    assert best == {"Annoy": annoy_high, "FAISS exact": flat}
    assert measurements.fastest_at(points, 1.01) == {"Annoy": None, "FAISS exact": None}
    again, reused = comparison.compare(builds, train, queries, dists, "test", repeats=1, show_progress=False)
    assert reused and as_json(again) == as_json(points)  # (dataclass == treats nan != nan on Python 3.13)
    builds[0] = comparison.Build(lambda d: al.AnnoyAdapter(d, 10), [10, 100, 5000], "annoy 10")  # one build changed
    calls = []
    monkeypatch.setattr(comparison, "measure_build", lambda build, *a, **kw: calls.append(build.name) or [])
    changed, reused = comparison.compare(builds, train, queries, dists, "test", repeats=1, show_progress=False)
    assert not reused and calls == ["annoy 10"] and as_json(changed) == as_json(points[2:])  # flat: from its file
    with pytest.raises(ValueError, match="share a name"):
        comparison.compare(builds + [comparison.Build(lambda d: al.FaissFlatAdapter(d), [1], "flat!")], train,
                           queries, dists, "test", show_progress=False)
    assert not list((tmp_path / "cache").glob("*scratch*"))  # the scratch index was removed


def test_compare_refuses_vectors_that_are_not_unit_length(data: tuple) -> None:
    train, queries, _, dists = data
    builds = [comparison.Build(lambda d: al.FaissFlatAdapter(d), [1], "flat")]
    with pytest.raises(ValueError, match="length 1"):
        comparison.compare(builds, train * 2, queries, dists, "test", show_progress=False)


def test_a_failed_measurement_leaves_no_scratch_file_and_no_result(data: tuple, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("helpers.config.CACHE_DIR", tmp_path / "cache")
    monkeypatch.delenv("ANN_TUTORIAL_QUICK", raising=False)

    def broken(*args: object, **kwargs: object) -> float:
        raise RuntimeError("interrupted")

    monkeypatch.setattr(comparison, "recall_at_k", broken)
    train, queries, _, dists = data
    builds = [comparison.Build(lambda d: al.AnnoyAdapter(d, 5), [100], "annoy 5")]
    with pytest.raises(RuntimeError, match="interrupted"):
        comparison.compare(builds, train, queries, dists, "test", repeats=1, show_progress=False)
    assert list((tmp_path / "cache").iterdir()) == []


def test_printed_tables_keep_their_columns_for_wide_knob_values() -> None:
    # 07's table once shifted its recall column on rows whose knob value had more digits (search_k=10000).
    def point(library: str, settings: str, knob: str, value: int, recall: float, qps: float) -> measurements.Measurement:
        return measurements.Measurement(
            library=library, settings=settings, params={}, knob=knob, knob_value=value, qps=qps, qps_low=qps * 0.9,
            qps_high=qps * 1.1, recall=recall, build_seconds=1.5, disk_mb=10.0, memory_mb=11.0)

    points = [point("Annoy", "100 trees", "search_k", 500, 0.883, 1777.0),
              point("Annoy", "100 trees", "search_k", 10000, 0.998, 345.0),
              point("FAISS IVF", "nlist=256", "nprobe", 1, 0.568, 7840.0),
              point("FAISS exact", "IndexFlatIP", "none", 0, 1.0, 48.0)]
    lines = measurements.format_points(points).splitlines()
    recall_ends = {line.index(f"{p.recall:.3f}") + 5 for line, p in zip(lines[1:], points, strict=True)}
    assert recall_ends == {lines[0].index("recall@10") + len("recall@10")}
    fastest = measurements.format_fastest(points, targets=(0.99,)).splitlines()
    column = fastest[0].index("setting")
    assert all(row[column - 1] == " " and row[column] != " " for row in fastest[1:]), fastest
