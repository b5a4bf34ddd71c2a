"""Exact search agrees with Annoy's distance definitions; accuracy and recall are computed right."""

from __future__ import annotations

import numpy as np
import pytest
from annoy import AnnoyIndex

from helpers import evaluation, exact, index


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1)


@pytest.mark.parametrize("metric", ["angular", "euclidean", "manhattan", "dot", "hamming"])
def test_exact_distances_match_annoy(metric: str, rng: np.random.Generator) -> None:
    if metric == "hamming":
        train = rng.integers(0, 2, (300, 64)).astype(np.float32)
    else:
        train = rng.normal(size=(300, 12)).astype(np.float32)
    queries = train[:20] if metric == "hamming" else rng.normal(size=(20, 12)).astype(np.float32)
    ids, dists = exact.exact_knn(train, queries, 5, metric, show_progress=False)

    annoy = AnnoyIndex(train.shape[1], metric)
    for i, row in enumerate(train.tolist()):
        annoy.add_item(i, row)
    annoy.add_item(len(train), queries[0].tolist())  # so get_distance can reach the query
    annoy.build(2, n_jobs=1)
    q = len(train)
    for j in range(5):
        assert dists[0, j] == pytest.approx(annoy.get_distance(q, int(ids[0, j])), rel=1e-4, abs=1e-4)
    # Brute force with a huge search_k visits everything: Annoy's answer is then exact too.
    found, annoy_d = annoy.get_nns_by_vector(queries[1].tolist(), 6, search_k=10**6, include_distances=True)
    found = [f for f in found if f != q][:5]
    np.testing.assert_allclose(exact.distances_to(train, queries[1:2], np.array([found]), metric)[0],
                               dists[1], rtol=1e-4, atol=1e-4)


def test_exact_knn_is_sorted_and_checks_k(rng: np.random.Generator) -> None:
    train = rng.normal(size=(100, 8)).astype(np.float32)
    ids, dists = exact.exact_knn(train, train[:10], 7, "euclidean", show_progress=False)
    assert (ids[:, 0] == np.arange(10)).all()
    assert (np.diff(dists, axis=1) >= 0).all()
    with pytest.raises(ValueError, match="k must be between 1 and 100"):
        exact.exact_knn(train, train[:3], 101, "euclidean", show_progress=False)


def test_exact_knn_cached_reuses_and_notices_new_data(rng: np.random.Generator, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr("helpers.config.CACHE_DIR", tmp_path)
    train = rng.normal(size=(50, 4)).astype(np.float32)
    ids, _ = exact.exact_knn_cached(train, train[:5], 3, "angular", "t", show_progress=False)
    assert (tmp_path / "exact-t-angular-k3.npz").is_file()
    calls = []
    monkeypatch.setattr(exact, "exact_knn_many", lambda *a, **k: calls.append(a[3]) or {"angular": (ids, ids.astype(np.float32))})
    exact.exact_knn_cached(train, train[:5], 3, "angular", "t", show_progress=False)
    assert calls == []
    exact.exact_knn_cached(train + 1, train[:5], 3, "angular", "t", show_progress=False)
    assert calls == [("angular",)]


def test_several_metrics_in_one_pass_match_each_alone(rng: np.random.Generator, tmp_path, monkeypatch) -> None:
    """Angular and euclidean from one matrix product: the same neighbours as each computed on its own; only the
    metrics not yet cached are computed."""
    monkeypatch.setattr("helpers.config.CACHE_DIR", tmp_path)
    train = rng.random((300, 20)).astype(np.float32) * 3
    train[7] = 0  # an all-zero row: angular treats it as at distance sqrt(2), euclidean as |q|
    queries = np.vstack([rng.random((40, 20)).astype(np.float32), np.zeros((1, 20), np.float32)])
    together = exact.exact_knn_many(train, queries, 5, ("angular", "euclidean", "dot"), show_progress=False)
    for metric, (ids, dists) in together.items():
        alone_ids, alone_dists = exact.exact_knn(train, queries, 5, metric, show_progress=False)
        assert (ids == alone_ids).mean() >= 0.99, metric  # up to float32 ties
        np.testing.assert_allclose(dists, alone_dists, rtol=1e-5, atol=1e-5, err_msg=metric)
    exact.exact_knn_cached(train, queries, 5, "angular", "u", show_progress=False)
    calls = []
    real = exact.exact_knn_many
    monkeypatch.setattr(exact, "exact_knn_many", lambda *a, **k: calls.append(a[3]) or real(*a, **k))
    both = exact.exact_knn_cached_many(train, queries, 5, ("angular", "euclidean"), "u", show_progress=False)
    assert calls == [("euclidean",)] and set(both) == {"angular", "euclidean"}
    np.testing.assert_array_equal(both["euclidean"][1], together["euclidean"][1])  # one formula, alone or together
    path = tmp_path / "exact-u-euclidean-k5.npz"
    damaged = bytearray(path.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF  # a flipped byte inside: same size, same fingerprint, but unreadable
    path.write_bytes(bytes(damaged))
    again = exact.exact_knn_cached(train, queries, 5, "euclidean", "u", show_progress=False)
    assert calls[-1] == ("euclidean",) and np.array_equal(again[1], together["euclidean"][1])  # remade


def test_label_accuracy() -> None:
    train_labels = np.array([0, 1, 1, 2])
    ids = np.array([[0, 1], [2, 0], [3, 3]])
    assert evaluation.label_accuracy(ids, train_labels, np.array([0, 1, 1])) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="raise search_k"):
        evaluation.label_accuracy(np.array([[-1]]), train_labels, np.array([0]))
    with pytest.raises(ValueError, match="neighbour rows"):
        evaluation.label_accuracy(ids, train_labels, np.array([0]))


def test_recall_counts_ties_and_misses() -> None:
    train = np.array([[0.0], [1.0], [-1.0], [2.0], [5.0]], dtype=np.float32)
    queries = np.array([[0.0]], dtype=np.float32)
    exact_ids, exact_d = exact.exact_knn(train, queries, 2, "euclidean", show_progress=False)
    assert evaluation.recall_at_k(exact_ids, exact_d, train, queries, "euclidean", k=2) == 1.0
    tie = np.array([[0, 2]])  # item 2 (-1.0) is as near as item 1 (1.0): counts
    assert evaluation.recall_at_k(tie, exact_d, train, queries, "euclidean", k=2) == 1.0
    miss = np.array([[0, 4]])
    assert evaluation.recall_at_k(miss, exact_d, train, queries, "euclidean", k=2) == 0.5
    missing = np.array([[0, -1]])
    assert evaluation.recall_at_k(missing, exact_d, train, queries, "euclidean", k=2) == 0.5


def test_recall_for_dot_counts_larger_products_as_nearer() -> None:
    train = np.array([[1.0], [3.0], [3.0], [2.0], [-4.0]], dtype=np.float32)
    queries = np.array([[1.0]], dtype=np.float32)
    exact_ids, exact_d = exact.exact_knn(train, queries, 2, "dot", show_progress=False)
    assert exact_ids[0].tolist() == [1, 2] and exact_d[0].tolist() == [3.0, 3.0]  # largest product first
    assert evaluation.recall_at_k(np.array([[2, 1]]), exact_d, train, queries, "dot", k=2) == 1.0
    assert evaluation.recall_at_k(np.array([[1, 3]]), exact_d, train, queries, "dot", k=2) == 0.5  # 2.0 < 3.0
    assert evaluation.recall_at_k(np.array([[4, -1]]), exact_d, train, queries, "dot", k=2) == 0.0  # -4 and none


def test_time_queries_returns_annoy_ids_and_a_spread(rng: np.random.Generator) -> None:
    data = rng.normal(size=(200, 8)).astype(np.float32)
    idx = index.build_index(data, "angular", 4, show_progress=False)
    timing = evaluation.time_queries(lambda q: idx.get_nns_by_vector(q, 3), data[:10].tolist(), 3, warm_up=2)
    assert timing.ids[:, 0].tolist() == list(range(10))
    assert 0 < timing.qps_low <= timing.qps <= timing.qps_high
    assert timing.ms_per_query == pytest.approx(1000 / timing.qps)


def test_time_batch_times_one_run() -> None:
    calls = []
    assert evaluation.time_batch(lambda: calls.append(1), threads=1) >= 0 and calls == [1]


@pytest.mark.parametrize("metric", ["angular", "euclidean", "manhattan", "dot", "hamming"])
def test_one_query_searcher_ranks_like_exact_knn(metric: str, rng: np.random.Generator) -> None:
    train = rng.integers(0, 2, (200, 32)).astype(np.float32) if metric == "hamming" else rng.normal(size=(200, 8))
    queries = train[:5] + (0 if metric == "hamming" else 0.1)
    _, dists = exact.exact_knn(train, queries, 4, metric, show_progress=False)
    search = exact.one_query_searcher(train, metric, 4)
    for q, d in zip(queries, dists, strict=True):
        got = search(q)
        # same distances (ties may come in another order)
        np.testing.assert_allclose(exact.distances_to(train, q[None, :], got[None, :], metric)[0], d, rtol=1e-4, atol=1e-4)
    timing = evaluation.time_queries(search, queries, 4, repeats=1, warm_up=0)
    np.testing.assert_allclose(exact.distances_to(train, queries, timing.ids, metric), dists, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("order", ["random", "ascending", "descending", "ties", "all equal"])
def test_smallest_k_is_a_stable_argsort_cut_to_k(order: str, rng: np.random.Generator) -> None:
    """The bound from a sample of columns never drops a true neighbour, whatever the order of the columns; many
    equal keys (the whole-row fallback) give the same answer."""
    keys = rng.standard_normal((50, 3_000)).astype(np.float32)
    if order == "ascending":
        keys.sort(axis=1)
    elif order == "descending":
        keys = -np.sort(keys, axis=1)
    elif order == "ties":
        keys = np.round(keys * 2) / 2  # a handful of distinct values: thousands of equal keys per row
    elif order == "all equal":
        keys[:] = 1.0  # every column a candidate: the whole rows are sorted instead
    for k in (1, 7, 40):
        want = np.argsort(keys, axis=1, kind="stable")[:, :k]
        np.testing.assert_array_equal(exact.smallest_k(keys, k, sample=100), want)


@pytest.mark.parametrize("metric", ["angular", "euclidean", "manhattan", "dot", "hamming"])
def test_exact_knn_ranks_as_the_distances_do(metric: str, rng: np.random.Generator) -> None:
    """Ranking keys and the sampled bound (used when the rows outnumber twice the sample) find the neighbours a
    full sort of the distances finds, with the same distances."""
    train = rng.normal(size=(6_000, 16)).astype(np.float32)
    queries = rng.normal(size=(30, 16)).astype(np.float32)
    if metric == "hamming":
        train, queries = (train > 0).astype(np.float32), (queries > 0).astype(np.float32)
    ids, dists = exact.exact_knn(train, queries, 10, metric, show_progress=False)
    full = exact.distance_matrix(train, queries, metric)
    want = np.sort(-full if metric == "dot" else full, axis=1)[:, :10]
    np.testing.assert_allclose(dists, -want if metric == "dot" else want, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(exact.distances_to(train, queries, ids, metric), dists, rtol=1e-5, atol=1e-5)
    if metric != "hamming":  # hamming distances are whole numbers: ties everywhere, either id is right
        best = np.argsort(-full if metric == "dot" else full, axis=1, kind="stable")[:, :10]
        assert (ids == best).mean() >= 0.99


def test_distances_to_reads_only_the_rows_named_and_refuses_a_broken_one(rng: np.random.Generator) -> None:
    train = rng.normal(size=(50, 6)).astype(np.float32)
    train[7] = np.nan
    queries = rng.normal(size=(2, 6)).astype(np.float32)
    d = exact.distances_to(train, queries, np.array([[0, 1, -1], [2, 3, 4]]), "euclidean")
    assert np.isfinite(d[:, :2]).all() and d[0, 2] == np.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        exact.distances_to(train, queries, np.array([[0, 7, 1], [2, 3, 4]]), "angular")
