"""helpers.cache: one convention (atomic write, content key, validation before reuse) for every cached artefact."""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import subprocess
import sys
from collections.abc import Callable
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


# --------------------------------------------------------------------------- failed writes and stopped runs


@pytest.mark.parametrize("error, code", [
    (OSError("Unable to write: No space left on device (28)"), errno.ENOSPC),  # Annoy: no errno attribute
    (OSError(errno.ENOSPC, "No space left on device"), errno.ENOSPC),
    (OSError(errno.EDQUOT, "Disk quota exceeded"), errno.EDQUOT),
    (OSError(errno.EFBIG, "File too large"), errno.EFBIG),
    (OSError("Unable to open: Permission denied (13)"), None),
    (OSError(errno.EACCES, "Permission denied"), None),
    (KeyboardInterrupt(), None),
])
def test_out_of_space_is_recognised_with_or_without_errno(error: BaseException, code: int | None) -> None:
    assert cache._no_space_code(error, free_at_failure=10**9, written=100) == code


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="finds descriptors through Linux's /proc/self/fd")
def test_a_descriptor_a_writer_leaked_is_let_go_but_stays_taken(tmp_path: Path) -> None:
    leaked: list[int] = []

    def write(tmp: Path) -> None:  # what Annoy 1.17.3's save() does when the disk fills: no fclose
        fd = os.open(tmp, os.O_WRONLY)
        leaked.append(fd)
        os.write(fd, b"x" * 100_000)
        raise OSError("Unable to write: No space left on device (28)")

    path = tmp_path / "thing.ann"
    try:
        with pytest.raises(cache.NoSpaceError, match=r"could not save thing.ann .* at least 0\.1 MB") as caught:
            cache.save(path, {"a": 1}, write)
        assert caught.value.errno == errno.ENOSPC and str(tmp_path) in str(caught.value)
        assert list(tmp_path.iterdir()) == []
        assert os.readlink(f"/proc/self/fd/{leaked[0]}") == os.devnull  # not closed: the number is still taken
    finally:
        os.close(leaked[0])


def test_a_sidecar_that_does_not_fit_takes_its_artefact_with_it(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    def full(self: Path, text: str) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", full)
    with pytest.raises(cache.NoSpaceError, match="could not save thing.bin"):
        cache.save(tmp_path / "thing.bin", {"a": 1}, lambda tmp: tmp.write_bytes(b"12345"))
    assert list(tmp_path.iterdir()) == []  # an artefact without its fingerprint would never be reused


def make_records(log: list[str], make: Callable[[], list[Record]], path: Path) -> tuple[list[Record], bool]:
    return cache.load_or_make_records(path, {"a": 1}, Record, make, log=log.append)


@dataclasses.dataclass
class Record:
    x: int


def interrupted() -> list[Record]:
    raise KeyboardInterrupt


def failing() -> list[Record]:
    raise ValueError("a bug")


def test_only_a_stopped_run_is_announced_next_time(tmp_path: Path) -> None:
    path, log = tmp_path / "r.json", []
    with pytest.raises(ValueError):
        make_records(log, failing, path)
    assert make_records(log, lambda: [Record(1)], path) == ([Record(1)], False)
    assert log == []  # an error was shown already; a new attempt is no resumption
    path.unlink()
    with pytest.raises(KeyboardInterrupt):
        make_records(log, interrupted, path)
    assert cache.unfinished_marker(path).is_file() and not path.exists()
    assert make_records(log, lambda: [Record(2)], path) == ([Record(2)], False)
    assert log == ["cache: r.json: an earlier run stopped before finishing; starting again"]
    assert not cache.unfinished_marker(path).exists()
    assert make_records(log, lambda: [Record(3)], path) == ([Record(2)], True) and len(log) == 1


def test_a_stopped_remake_of_an_existing_file_says_only_why_it_remakes(tmp_path: Path) -> None:
    path, log = tmp_path / "r.json", []
    cache.save(path, {"a": 0}, lambda tmp: tmp.write_text("[]"))  # made from other parameters
    with pytest.raises(KeyboardInterrupt):
        make_records(log, interrupted, path)
    log.clear()
    make_records(log, lambda: [Record(1)], path)
    assert log == ["cache: remaking r.json: it was made from other data or parameters"]


def test_leftovers_of_dead_processes_are_removed_and_announced(tmp_path: Path) -> None:
    if os.name != "posix":
        pytest.skip("tells running processes by os.kill(pid, 0)")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True).stdout.strip()
    path, log = tmp_path / "r.json", []
    stale = [tmp_path / f"r.json.{dead}-abc.part", tmp_path / f"r.json.json.{dead}-def.part",
             tmp_path / f"r.json.{os.getpid()}-jkl.part"]  # this process's, from a clean-up cut short
    live = tmp_path / f"r.json.{os.getppid()}-ghi.part"  # another process, still writing
    for part in [*stale, live]:
        part.write_bytes(b"half")
    make_records(log, lambda: [Record(1)], path)
    assert log == ["cache: r.json: an earlier run stopped before finishing; starting again"]
    assert not any(p.exists() for p in stale) and live.exists()


def test_a_marker_of_a_process_still_making_it_is_not_an_interruption(tmp_path: Path) -> None:
    path, log = tmp_path / "r.json", []
    cache.unfinished_marker(path).write_text(str(os.getppid()))
    make_records(log, lambda: [Record(1)], path)
    assert len(log) == (0 if os.name == "posix" else 1)  # elsewhere a running process cannot be told


def kit_with(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fingerprint: dict, text: str = "[7]") -> Path:
    """A room kit (a mirror folder) whose cache/ holds ``w.json`` made from ``fingerprint``; ANN_TUTORIAL_MIRROR set."""
    kit = tmp_path / "kit"
    cache.save(kit / "cache" / "w.json", fingerprint, lambda tmp: tmp.write_text(text))
    monkeypatch.setenv("ANN_TUTORIAL_MIRROR", str(kit))
    return kit


def load_or_make_w(cache_dir: Path, wanted: dict, log: list[str]) -> tuple[list, bool]:
    return cache.load_or_make(cache_dir / "w.json", wanted, load=lambda p: json.loads(p.read_text()),
                              make=lambda: [1], write=lambda v, tmp: tmp.write_text(json.dumps(v)),
                              log=log.append, from_room_kit=True)


def test_a_room_kits_artefact_made_from_the_same_inputs_is_taken_and_said(tmp_path: Path, cache_dir: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    wanted, log = {"data": "d1", "code": "c1"}, []
    kit = kit_with(tmp_path, monkeypatch, wanted)
    assert load_or_make_w(cache_dir, wanted, log) == ([7], True)
    assert log == [f"room kit: took w.json from {kit}: made from the same data, settings and code as this run's"]
    record = json.loads(cache.sidecar(cache_dir / "w.json").read_text())
    assert record["fingerprint"] == wanted and record["copied_from"] == str(kit / "cache" / "w.json")
    assert load_or_make_w(cache_dir, wanted, log) == ([7], True) and len(log) == 1  # now the cache's own


def test_a_room_kits_artefact_made_otherwise_is_refused_saying_what_differs(tmp_path: Path, cache_dir: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    log = []
    kit_with(tmp_path, monkeypatch, {"data": "d1", "code": "c0"})
    assert load_or_make_w(cache_dir, {"data": "d1", "code": "c1"}, log) == ([1], False)  # made here
    assert log == ["room kit: not using its w.json: its code differs from this run's; making it here instead"]
    assert "copied_from" not in json.loads(cache.sidecar(cache_dir / "w.json").read_text())


def test_a_cut_short_room_kit_artefact_is_refused(tmp_path: Path, cache_dir: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    wanted, log = {"data": "d1"}, []
    kit = kit_with(tmp_path, monkeypatch, wanted, text="[7777]")
    (kit / "cache" / "w.json").write_text("[7")
    assert load_or_make_w(cache_dir, wanted, log) == ([1], False)
    assert len(log) == 1 and "has 2 bytes where its fingerprint says 6" in log[0]


@pytest.mark.parametrize("mirror", [None, "data-only"])
def test_without_a_room_kit_nothing_is_looked_for(tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                                  mirror: str | None) -> None:
    if mirror is None:
        monkeypatch.delenv("ANN_TUTORIAL_MIRROR", raising=False)
    else:  # a data mirror: no cache/ folder, nothing to say
        (tmp_path / mirror / "mnist").mkdir(parents=True)
        monkeypatch.setenv("ANN_TUTORIAL_MIRROR", str(tmp_path / mirror))
    log = []
    assert load_or_make_w(cache_dir, {"data": "d1"}, log) == ([1], False) and log == []


def test_a_room_kit_without_the_artefact_says_so(tmp_path: Path, cache_dir: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    kit_with(tmp_path, monkeypatch, {"data": "d1"})
    log = []
    assert cache.load_or_make(cache_dir / "v.json", {"data": "d1"}, load=lambda p: json.loads(p.read_text()),
                              make=lambda: [1], write=lambda v, tmp: tmp.write_text(json.dumps(v)), log=log.append,
                              from_room_kit=True) == ([1], False)
    assert log == ["room kit: it has no v.json (made in the other mode, or before notebook 06 ran?); making it here"]
