"""helpers.cache: one convention (atomic write, content key, validation before reuse) for every cached artefact."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from helpers import cache, exact, index


@pytest.fixture
def data() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(400, 12)).astype(np.float32)


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr("helpers.config.CACHE_DIR", tmp_path / "cache")
    monkeypatch.delenv("ANN_TUTORIAL_QUICK", raising=False)
    return tmp_path / "cache"


def test_a_cut_short_index_is_rebuilt_not_loaded(data: np.ndarray, capsys: pytest.CaptureFixture[str]) -> None:
    path = cache.cache_file("idx.ann")
    index.build_or_load(data, path, "angular", 5, show_progress=False)
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 3])  # a copy cut short; its fingerprint stays
    capsys.readouterr()
    rebuilt, info = index.build_or_load(data, path, "angular", 5, show_progress=False)
    messages = capsys.readouterr().out.splitlines()
    assert not info.reused
    assert len(messages) == 1 and "cut short" in messages[0] and "idx.ann" in messages[0]
    assert rebuilt.get_n_items() == 400 and path.read_bytes() == whole  # seeded: the same file again
    assert rebuilt.get_nns_by_item(0, 3)[0] == 0  # queries work (the cut file would have crashed here)


def test_fingerprint_records_size_and_parameters(data: np.ndarray) -> None:
    path = cache.cache_file("idx.ann")
    index.build_or_load(data, path, "euclidean", 3, seed=9, show_progress=False)
    record = json.loads(cache.sidecar(path).read_text())
    assert record["bytes"] == path.stat().st_size
    assert record["fingerprint"]["metric"] == "euclidean" and record["fingerprint"]["seed"] == 9
    assert cache.why_not_reusable(path, record["fingerprint"]) is None
    assert "other data or parameters" in cache.why_not_reusable(path, {**record["fingerprint"], "n_trees": 4})


@pytest.mark.parametrize("damage, reason", [
    ("delete sidecar", "no fingerprint"),
    ("garble sidecar", "unreadable"),
    ("append bytes", "cut short or overwritten"),
])
def test_every_kind_of_damage_is_named(tmp_path: Path, damage: str, reason: str) -> None:
    path = tmp_path / "thing.bin"
    cache.save(path, {"a": 1}, lambda tmp: tmp.write_bytes(b"12345"))
    if damage == "delete sidecar":
        cache.sidecar(path).unlink()
    elif damage == "garble sidecar":
        cache.sidecar(path).write_text("{not json")
    else:
        with open(path, "ab") as f:
            f.write(b"6")
    assert reason in cache.why_not_reusable(path, {"a": 1})


def test_a_failed_write_leaves_nothing_behind(tmp_path: Path) -> None:
    path = tmp_path / "thing.bin"

    def write(tmp: Path) -> None:
        tmp.write_bytes(b"half")
        raise KeyboardInterrupt  # the learner pressed stop mid-write

    with pytest.raises(KeyboardInterrupt):
        cache.save(path, {"a": 1}, write)
    assert list(tmp_path.iterdir()) == []


def test_cached_files_get_the_usual_permissions(tmp_path: Path) -> None:
    path = tmp_path / "thing.bin"
    cache.save(path, {"a": 1}, lambda tmp: tmp.write_bytes(b"whole"))
    plain = tmp_path / "plain.bin"
    plain.write_bytes(b"x")  # what open() gives under this process's umask
    assert path.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777
    assert cache.sidecar(path).stat().st_mode & 0o777 == plain.stat().st_mode & 0o777


def test_exact_results_are_cached_and_a_damaged_file_is_recomputed(data: np.ndarray, cache_dir: Path) -> None:
    queries = data[:20] + 0.01
    ids, dists = exact.exact_knn_cached(data, queries, 5, "angular", name="t", show_progress=False)
    path = cache_dir / "exact-t-angular-k5.npz"
    assert path.is_file() and cache.why_not_reusable(path, cache.read_fingerprint(path)) is None
    again = exact.exact_knn_cached(data, queries, 5, "angular", name="t", show_progress=False)
    np.testing.assert_array_equal(again[0], ids)
    path.write_bytes(path.read_bytes()[:100])  # cut short
    redone = exact.exact_knn_cached(data, queries, 5, "angular", name="t", show_progress=False)
    np.testing.assert_array_equal(redone[0], ids)
    np.testing.assert_allclose(redone[1], dists)
    other = exact.exact_knn_cached(data, queries + 1, 5, "angular", name="t", show_progress=False)
    assert not np.array_equal(other[0], ids)  # other queries: not the cached answer


def test_quick_mode_names_its_own_files(monkeypatch: pytest.MonkeyPatch) -> None:
    assert cache.cache_file("exact-mnist.npz").name == "exact-mnist.npz"
    monkeypatch.setenv("ANN_TUTORIAL_QUICK", "1")
    assert cache.cache_file("exact-mnist.npz").name == "exact-mnist-quick.npz"


def test_content_key_sees_shape_dtype_and_parameters() -> None:
    a = np.arange(12, dtype=np.float32)
    keys = {cache.content_key(a), cache.content_key(a.reshape(3, 4)), cache.content_key(a.view(np.int32)),
            cache.content_key(a, params={"k": 10}), cache.content_key(a, params={"k": 11})}
    assert len(keys) == 5
    assert cache.content_key(a.copy()) == cache.content_key(a)
