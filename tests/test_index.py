"""Building, reusing and querying Annoy indexes."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from helpers import index


@pytest.fixture
def data() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(500, 16)).astype(np.float32)


def test_seeded_single_thread_builds_are_byte_identical(data: np.ndarray, tmp_path: Path) -> None:
    a, _ = index.build_or_load(data, tmp_path / "a.ann", "angular", 10, seed=7, show_progress=False)
    b, _ = index.build_or_load(data, tmp_path / "b.ann", "angular", 10, seed=7, show_progress=False)
    assert (tmp_path / "a.ann").read_bytes() == (tmp_path / "b.ann").read_bytes()
    assert a.get_nns_by_item(3, 10) == b.get_nns_by_item(3, 10)


def test_saved_index_is_reused_only_for_same_data_and_parameters(data: np.ndarray, tmp_path: Path) -> None:
    path = tmp_path / "idx.ann"
    first, info = index.build_or_load(data, path, "angular", 5, show_progress=False)
    assert not info.reused and info.megabytes > 0
    again, info = index.build_or_load(data, path, "angular", 5, show_progress=False)
    assert info.reused
    assert again.get_nns_by_vector(data[0].tolist(), 5) == first.get_nns_by_vector(data[0].tolist(), 5)
    _, info = index.build_or_load(data, path, "angular", 6, show_progress=False)
    assert not info.reused
    changed = data.copy()
    changed[0, 0] += 1.0
    _, info = index.build_or_load(changed, path, "angular", 6, show_progress=False)
    assert not info.reused


def test_index_without_fingerprint_is_rebuilt(data: np.ndarray, tmp_path: Path) -> None:
    path = tmp_path / "idx.ann"
    index.build_or_load(data, path, "euclidean", 3, show_progress=False)
    Path(str(path) + ".json").unlink()  # as if the last build was interrupted before finishing
    _, info = index.build_or_load(data, path, "euclidean", 3, show_progress=False)
    assert not info.reused


def test_loading_with_the_wrong_dimension_is_refused(data: np.ndarray, tmp_path: Path) -> None:
    path = tmp_path / "idx.ann"
    index.build_or_load(data, path, "angular", 3, show_progress=False)
    with pytest.raises(ValueError, match="built for 16 dimensions"):
        index.load_index(path, 32, "angular")
    Path(str(path) + ".json").unlink()
    with pytest.raises(ValueError, match="size does not fit"):
        index.load_index(path, 17, "angular")
    assert index.load_index(path, 16, "angular").get_n_items() == 500


@pytest.mark.parametrize("bad, message", [
    (np.zeros((0, 4)), "empty"),
    (np.zeros(4), "2-D"),
    (np.array([[np.nan, 1.0]]), "NaN"),
])
def test_bad_vectors_get_clear_errors(bad: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        index.build_index(bad, "angular", 1, show_progress=False)


def test_bad_metric_and_trees(data: np.ndarray) -> None:
    with pytest.raises(ValueError, match="Annoy offers angular"):
        index.build_index(data, "cosine", 1, show_progress=False)
    with pytest.raises(ValueError, match="n_trees"):
        index.build_index(data, "angular", 0, show_progress=False)


def test_query_batch_matches_single_queries_and_checks_input(data: np.ndarray) -> None:
    idx = index.build_index(data, "angular", 10, show_progress=False)
    queries = data[:40] + 0.01
    ids, dists = index.query_batch(idx, queries, 5, search_k=200, n_threads=2, show_progress=False)
    for i in (0, 17, 39):
        expected, expected_d = idx.get_nns_by_vector(queries[i].tolist(), 5, search_k=200, include_distances=True)
        assert ids[i].tolist() == expected
        np.testing.assert_allclose(dists[i], expected_d, rtol=1e-6)
    one, _ = index.query_batch(idx, queries, 5, search_k=200, n_threads=1, show_progress=False)
    np.testing.assert_array_equal(one, ids)
    with pytest.raises(ValueError, match="16 dimensions but the queries have 3"):
        index.query_batch(idx, np.zeros((2, 3)), 5, show_progress=False)
    with pytest.raises(ValueError, match="k must be at least 1"):
        index.query_batch(idx, queries, 0, show_progress=False)


def test_measurements_pick_the_fastest_and_say_which_tie(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from helpers import cache, measurements

    def point(n_trees: int, search_k: int, recall: float, qps: float, spread: float) -> measurements.Measurement:
        return measurements.Measurement(
            library="Annoy", settings=f"{n_trees} trees", params={"n_trees": n_trees}, knob="search_k",
            knob_value=search_k, qps=qps, qps_low=qps - spread, qps_high=qps + spread, recall=recall,
            build_seconds=1.0, disk_mb=5.0, add_seconds=0.5, accuracy=0.9)

    points = [point(1, 100, 0.80, 900.0, 10.0), point(1, 1000, 0.96, 500.0, 30.0), point(10, 1000, 0.97, 450.0, 30.0),
              point(10, 5000, 0.99, 200.0, 5.0)]
    best = measurements.fastest_at(points, 0.95)["Annoy"]
    assert best is points[1] and measurements.ties(points, best, 0.95) == [points[2]]  # 470-530 overlaps 420-480
    assert measurements.ties(points, points[3], 0.99) == []
    assert measurements.fastest_at(points, 1.01) == {"Annoy": None}
    table = measurements.format_sweep(points).splitlines()
    assert len(table) == 5 and "500 QPS (470-530)" in table[2]
    assert "500 (470-530), ties with 1" in measurements.format_fastest(points, targets=(0.95,))
    monkeypatch.setattr("helpers.config.CACHE_DIR", tmp_path)  # the record goes through the cache and back whole
    saved, reused = cache.load_or_make_records(cache.cache_file("m.json"), {"v": measurements.RECORD_VERSION},
                                               measurements.Measurement, lambda: points, log=lambda _: None)
    again, reused_again = cache.load_or_make_records(cache.cache_file("m.json"), {"v": measurements.RECORD_VERSION},
                                                     measurements.Measurement, lambda: [], log=lambda _: None)
    assert not reused and reused_again and [p.params for p in again] == [p.params for p in points]
    assert [(p.qps_low, p.qps_high, p.add_seconds) for p in again] == [(p.qps_low, p.qps_high, 0.5) for p in points]


def test_c_stderr_silenced_hides_c_output_only_inside(capfd: pytest.CaptureFixture[str]) -> None:
    with index.c_stderr_silenced():
        os.write(2, b"hidden\n")
    os.write(2, b"shown\n")
    assert capfd.readouterr().err == "shown\n"


@pytest.mark.parametrize("metric, dim", [("angular", 24), ("euclidean", 24), ("manhattan", 24), ("dot", 24),
                                         ("hamming", 200)])
def test_node_bytes_and_leaf_size_match_annoys_files(metric: str, dim: int, tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    k = index.leaf_size(dim, metric)

    def data(n: int) -> np.ndarray:
        return (rng.random((n, dim)) > 0.5).astype(np.float32) if metric == "hamming" else \
            rng.normal(size=(n, dim)).astype(np.float32)

    # Up to K items fit in one leaf: the root is that leaf, and a query with search_k=1 gets all of them.
    # One more item and the root must split, so the same query gets fewer.
    for n, whole in ((k, True), (k + 1, False)):
        idx = index.build_index(data(n), metric, 1, show_progress=False)
        got = len(idx.get_nns_by_vector(data(1)[0].tolist(), n, search_k=1))
        assert (got == n) == whole, (n, got)
    idx = index.build_index(data(500), metric, 3, show_progress=False)
    idx.save(str(tmp_path / "x.ann"))
    assert (tmp_path / "x.ann").stat().st_size % index.node_bytes(dim, metric) == 0
    assert index.load_index(tmp_path / "x.ann", dim, metric).get_n_items() == 500


def test_a_notebooks_own_build_code_is_cached_like_the_default(data: np.ndarray, tmp_path: Path) -> None:
    # Notebooks 02 and 03 pass the article's four lines as `build`; the file must be the one the default makes.
    from annoy import AnnoyIndex

    calls = []

    def article_style(file: str) -> AnnoyIndex:
        calls.append(file)
        t = AnnoyIndex(data.shape[1], metric="angular")
        t.set_seed(42)
        for i, x in enumerate(data):
            t.add_item(i, x)
        t.build(3, n_jobs=1)
        t.save(file)
        return t

    own, info = index.build_or_load(data, tmp_path / "own.ann", "angular", 3, seed=42, build=article_style,
                                    show_progress=False)
    default, _ = index.build_or_load(data, tmp_path / "default.ann", "angular", 3, seed=42, show_progress=False)
    assert not info.reused and len(calls) == 1
    assert (tmp_path / "own.ann").read_bytes() == (tmp_path / "default.ann").read_bytes()
    again, info = index.build_or_load(data, tmp_path / "own.ann", "angular", 3, seed=42, build=article_style)
    assert info.reused and len(calls) == 1 and again.get_nns_by_item(0, 5) == default.get_nns_by_item(0, 5)


def test_a_build_from_other_data_is_refused_and_not_kept(data: np.ndarray, tmp_path: Path) -> None:
    from annoy import AnnoyIndex

    def wrong(file: str) -> AnnoyIndex:
        t = AnnoyIndex(data.shape[1], metric="angular")
        for i, x in enumerate(data[::-1]):  # the same rows in another order
            t.add_item(i, x)
        t.build(3, n_jobs=1)
        t.save(file)
        return t

    with pytest.raises(ValueError, match="built from other data"):
        index.build_or_load(data, tmp_path / "wrong.ann", "angular", 3, build=wrong, show_progress=False)
    assert list(tmp_path.iterdir()) == []


def test_cached_answers_are_reused_only_for_the_same_index_queries_and_knobs(
        data: np.ndarray, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("helpers.config.CACHE_DIR", tmp_path)
    built, info = index.build_or_load(data, tmp_path / "idx.ann", "angular", 5, show_progress=False)
    calls = []
    real = index.query_batch
    monkeypatch.setattr(index, "query_batch", lambda *a, **k: calls.append(a[3]) or real(*a, **k))
    ids, dists = index.query_batch_cached(built, info, data[:20], 3, "t", show_progress=False)
    assert calls == [-1] and ids.shape == dists.shape == (20, 3)
    np.testing.assert_array_equal(ids, real(built, data[:20], 3, show_progress=False)[0])
    again = index.query_batch_cached(built, info, data[:20], 3, "t", show_progress=False)
    assert calls == [-1] and np.array_equal(again[0], ids) and np.array_equal(again[1], dists)  # from the file
    index.query_batch_cached(built, info, data[:20], 3, "t", search_k=50, show_progress=False)
    index.query_batch_cached(built, info, data[1:21], 3, "t", search_k=50, show_progress=False)
    assert calls == [-1, 50, 50]  # another search_k, other queries: asked again
    built.unload()
    rebuilt, info = index.build_or_load(data, tmp_path / "idx.ann", "angular", 6, show_progress=False)
    index.query_batch_cached(rebuilt, info, data[1:21], 3, "t", search_k=50, show_progress=False)
    assert calls == [-1, 50, 50, 50]  # another index file: asked again
    Path(str(info.path) + ".json").unlink()
    with pytest.raises(ValueError, match="no fingerprint"):
        index.query_batch_cached(rebuilt, info, data[:20], 3, "t", show_progress=False)
