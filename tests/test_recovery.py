"""Recovering from a full disk and from a stopped run: nothing half-written is reused, space is given back, and the
next run says what it does.

The full-disk tests mount small tmpfs file systems (Linux, root: CI runs as root); elsewhere they are skipped.
"""

from __future__ import annotations

import errno
import gc
import math
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import chainer  # conftest.py has imported helpers already (the compat layer comes first)
import numpy as np
import pytest

from helpers import ann_libraries, cache, comparison, exact, features, index, vectors


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr("helpers.config.CACHE_DIR", tmp_path / "cache")
    monkeypatch.delenv("ANN_TUTORIAL_QUICK", raising=False)
    return tmp_path / "cache"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """``small_disk("30m")`` mounts a tmpfs of that size (again: resizes it) and returns its folder; unmounted after."""
    if not sys.platform.startswith("linux") or shutil.which("mount") is None:
        pytest.skip("needs Linux's mount to make a small file system")
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (CI runs as root)")
    folder = tmp_path / "disk"
    folder.mkdir()
    mounted = False

    def mount(size: str) -> Path:
        nonlocal mounted
        options = f"remount,size={size}" if mounted else f"size={size}"
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True,
                              text=True, check=False)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip() or done.returncode}")
        mounted = True
        return folder

    try:
        yield mount
    finally:
        if mounted:
            gc.collect()  # indexes that still map a file there
            if subprocess.run(["umount", str(folder)], capture_output=True, check=False).returncode != 0:
                subprocess.run(["umount", "-l", str(folder)], capture_output=True, check=False)


def deleted_but_open(folder: Path) -> list[str]:
    """Files in ``folder`` that are deleted but still held open by this process (their space is not given back)."""
    prefix = os.path.realpath(folder) + os.sep
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(prefix) and target.endswith(" (deleted)"):
            found.append(target)
    return found


# --------------------------------------------------------------------------- a full disk


def test_an_index_that_does_not_fit_gives_its_space_back_and_fits_after_more_room(
        small_disk: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> None:
    folder = small_disk("30m")
    monkeypatch.setattr("helpers.config.CACHE_DIR", folder)
    monkeypatch.delenv("ANN_TUTORIAL_QUICK", raising=False)
    data = np.random.default_rng(0).standard_normal((60_000, 128)).astype(np.float32)
    path = cache.cache_file("big.ann")
    free_before = shutil.disk_usage(folder).free
    needed = index.saved_bytes_at_least(60_000, 128, "angular", 3)
    assert needed > free_before  # the items alone take 60,000 x 524 bytes, 31.4 MB of the 31.5 MB

    with pytest.raises(cache.NoSpaceError) as caught:
        index.build_or_load(data, path, "angular", 3, show_progress=False)
    error = caught.value
    assert isinstance(error, OSError) and error.errno == errno.ENOSPC and error.needed == needed
    message = str(error)
    for part in ("big.ann", str(folder), "the disk is full", f"at least {needed / 1e6:.1f} MB",
                 f"{shutil.disk_usage(folder).free / 1e6:.1f} MB free", "ANN_TUTORIAL_CACHE"):
        assert part in message, (part, message)
    assert "No space left on device" in str(error.__cause__)  # Annoy's own error, kept as the cause
    assert capfd.readouterr() == ("", "")  # and not also printed from C
    assert list(folder.iterdir()) == []  # no .part, no sidecar, no marker (an error is not an interruption)
    assert deleted_but_open(folder) == []  # Annoy's leaked descriptor no longer holds the deleted file
    assert shutil.disk_usage(folder).free >= free_before - 64 * 1024  # the space is back

    small_disk("200m")  # as after freeing space: the same call now works, and says nothing about the failure
    built, info = index.build_or_load(data, path, "angular", 3, show_progress=False)
    assert not info.reused and needed <= path.stat().st_size <= 1.1 * needed
    assert capfd.readouterr().out == ""
    del built
    loaded, info = index.build_or_load(data, path, "angular", 3, show_progress=False)
    assert info.reused and loaded.get_nns_by_vector(data[7].tolist(), 1) == [7]
    loaded.unload()


def test_the_cause_annoy_keeps_its_file_open_after_a_failed_save(small_disk: Callable[[str], Path]) -> None:
    folder = small_disk("2m")
    built = index.build_index(np.random.default_rng(1).standard_normal((5000, 128)).astype(np.float32), "angular",
                              1, show_progress=False)  # 2.7 MB
    target = folder / "x.ann"
    with index.c_stderr_silenced(), pytest.raises(OSError, match="No space left on device"):
        built.save(str(target))
    open_on_it = [fd for fd in os.listdir("/proc/self/fd") if os.path.realpath(f"/proc/self/fd/{fd}") ==
                  os.path.realpath(target)]
    assert open_on_it, "Annoy 1.17.3 no longer leaks its FILE* when a write fails: cache.discard may be unneeded"
    assert shutil.disk_usage(folder).free < 64 * 1024
    cache.discard(target)
    assert not target.exists() and deleted_but_open(folder) == []
    assert shutil.disk_usage(folder).free > 2_000_000
    for fd in open_on_it:  # the number stays taken (a leaked FILE* owns it), now on /dev/null
        assert os.readlink(f"/proc/self/fd/{fd}") == os.devnull


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # np.savez leaves its ZipFile open
@pytest.mark.parametrize("writer", ["np.save", "np.savez", "json"])
def test_other_artefacts_that_do_not_fit_give_their_space_back(small_disk: Callable[[str], Path], writer: str) -> None:
    folder = small_disk("4m")
    values = np.arange(1_000_000, dtype=np.float64)  # 8 MB

    def write(tmp: Path) -> None:
        if writer == "json":
            tmp.write_text(json_text)
            return
        with open(tmp, "wb") as f:
            np.save(f, values) if writer == "np.save" else np.savez(f, values=values)

    json_text = "[" + ", ".join(map(str, range(1_000_000))) + "]" if writer == "json" else ""
    free_before = shutil.disk_usage(folder).free
    with pytest.raises(cache.NoSpaceError, match="the disk is full") as caught:
        cache.save(folder / "thing.bin", {"a": 1}, write, needed=values.nbytes)
    assert "thing.bin" in str(caught.value) and "at least 8.0 MB" in str(caught.value)
    assert list(folder.iterdir()) == [] and deleted_but_open(folder) == []
    assert shutil.disk_usage(folder).free >= free_before - 64 * 1024


def test_saved_bytes_at_least_is_a_lower_bound_of_annoys_files(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    for metric, dim, n, trees in (("angular", 128, 3000, 3), ("euclidean", 16, 200, 2), ("hamming", 64, 500, 4),
                                  ("dot", 8, 1, 1)):
        data = (rng.random((n, dim)) > 0.5).astype(np.float32) if metric == "hamming" else \
            rng.standard_normal((n, dim)).astype(np.float32)
        scratch = tmp_path / f"{metric}.ann"
        size = index.saved_megabytes_then_unload(index.build_index(data, metric, trees, show_progress=False),
                                                 scratch) * 1e6
        assert index.saved_bytes_at_least(n, dim, metric, trees) <= size
        assert not scratch.exists()


# --------------------------------------------------------------------------- a stopped run


def stop_on_call(number: int, function: Callable) -> Callable:
    """``function``, except that its call number ``number`` raises KeyboardInterrupt (the kernel's stop button)."""
    calls = 0

    def wrapper(*args: object, **kwargs: object) -> object:
        nonlocal calls
        calls += 1
        if calls == number:
            raise KeyboardInterrupt
        return function(*args, **kwargs)

    return wrapper


STOPPED = "an earlier run stopped before finishing; starting again"


def tiny_model(seed: int = 1) -> chainer.Link:
    """A linear layer from CIFAR-10-sized rows to 4 numbers: enough for the cache's side of training."""
    weights = np.random.default_rng(seed).standard_normal((4, 3072)).astype(np.float32) * 0.01
    return chainer.links.Linear(3072, 4, initialW=weights)


def sgd_epochs(model: chainer.Link, images: np.ndarray, labels: np.ndarray, epochs: int,
               stop_in_epoch: int | None = None) -> list[str]:
    """A few epochs of plain SGD on `model`, logging a line each; raises KeyboardInterrupt inside `stop_in_epoch`."""
    optimizer = chainer.optimizers.SGD(lr=0.1)
    optimizer.setup(model)
    log = []
    for epoch in range(1, epochs + 1):
        if epoch == stop_in_epoch:
            raise KeyboardInterrupt
        loss = chainer.functions.softmax_cross_entropy(model(images), labels)
        model.cleargrads()
        loss.backward()
        optimizer.update()
        log.append(f"epoch {epoch}: loss {float(loss.array):.3f}")
    return log


def test_training_stopped_in_its_second_epoch_is_redone_from_the_start(cache_dir: Path) -> None:
    rng = np.random.default_rng(0)
    images, labels = rng.random((64, 3072)).astype(np.float32), rng.integers(0, 4, 64).astype(np.int32)
    fingerprint = {"data_blake2b": cache.content_key(images, labels), "settings": {"epochs": 2}}
    lines: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        features.load_or_train(tiny_model(), lambda m: sgd_epochs(m, images, labels, 2, stop_in_epoch=2),
                               fingerprint, "tiny", log=lines.append)
    assert [p.name for p in cache_dir.iterdir()] == ["tiny.npz.unfinished"]  # nothing that could be reused

    model = tiny_model()
    log, reused = features.load_or_train(model, lambda m: sgd_epochs(m, images, labels, 2), fingerprint, "tiny",
                                         log=lines.append)
    assert lines == [f"cache: tiny.npz: {STOPPED}"] and not reused and len(log) == 2  # both epochs again
    fresh = tiny_model()
    sgd_epochs(fresh, images, labels, 2)
    assert features.weights_key(model) == features.weights_key(fresh)
    assert sorted(p.name for p in cache_dir.iterdir()) == ["tiny.npz", "tiny.npz.json"]

    lines.clear()
    third = tiny_model()
    log_again, reused = features.load_or_train(third, lambda m: pytest.fail("trained again"), fingerprint, "tiny",
                                               log=lines.append)
    assert reused and log_again == log and features.weights_key(third) == features.weights_key(fresh)
    assert lines[0].startswith("reused the weights in the cache (tiny.npz)") and len(lines) == 3


def test_embeddings_stopped_while_being_written_are_made_again(cache_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    images = np.random.default_rng(0).random((10, 3072)).astype(np.float32)
    model = tiny_model()

    def embed(x: np.ndarray) -> np.ndarray:
        return model(x).array

    def half_written(file: object, array: np.ndarray) -> None:
        file.write(b"\x93NUMPY half of it")  # type: ignore[attr-defined]
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(np, "save", half_written)
        with pytest.raises(KeyboardInterrupt):
            features.embeddings_cached("emb", model, images, embed)
    assert [p.name for p in cache_dir.iterdir()] == ["emb.npy.unfinished"]  # no .part, no .npy
    capsys.readouterr()
    again = features.embeddings_cached("emb", model, images, embed)
    assert capsys.readouterr().out == f"cache: emb.npy: {STOPPED}\n"
    np.testing.assert_array_equal(again, embed(images))
    features.embeddings_cached("emb", model, images, embed)
    assert capsys.readouterr().out == ""  # reused, silently as always


def test_the_size_probe_is_deleted_however_saving_ends(tmp_path: Path) -> None:
    scratch = tmp_path / "probe.ann"

    class Stopped:  # an index whose save completes, then the stop button lands before unload returns
        def save(self, name: str) -> None:
            Path(name).write_bytes(b"x" * 1000)

        def unload(self) -> None:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        index.saved_megabytes_then_unload(Stopped(), scratch)  # type: ignore[arg-type]
    assert not scratch.exists()

    class Full(Stopped):
        def save(self, name: str) -> None:
            super().save(name)
            raise OSError("Unable to write: No space left on device (28)")

        def unload(self) -> None:
            pass

    with pytest.raises(cache.NoSpaceError, match="probe.ann"):
        index.saved_megabytes_then_unload(Full(), scratch)  # type: ignore[arg-type]
    assert not scratch.exists()


def test_a_comparison_stopped_midway_leaves_no_scratch_index_and_is_redone(
        cache_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(0)
    train = vectors.normalise(rng.standard_normal((1000, 16)).astype(np.float32))
    queries = vectors.normalise(rng.standard_normal((20, 16)).astype(np.float32))
    _, dists = exact.exact_knn(train, queries, 10, "angular", show_progress=False)
    builds = [comparison.Build(lambda d: ann_libraries.AnnoyAdapter(d, 5), [10, 1000], "annoy 5")]
    monkeypatch.setattr(comparison, "loaded_megabytes", lambda adapter, path: math.nan)  # no second process
    with monkeypatch.context() as patch:  # stopped at the second knob value, with the scratch index loaded
        patch.setattr(comparison, "time_queries", stop_on_call(2, comparison.time_queries))
        with pytest.raises(KeyboardInterrupt):
            comparison.compare(builds, train, queries, dists, "t", repeats=1, show_progress=False)
    assert [p.name for p in cache_dir.iterdir()] == ["compare-t-annoy-5.json.unfinished"]  # the scratch index is gone
    capsys.readouterr()
    points, reused = comparison.compare(builds, train, queries, dists, "t", repeats=1, show_progress=False)
    assert not reused and len(points) == 2 and capsys.readouterr().out == f"cache: compare-t-annoy-5.json: {STOPPED}\n"
    assert sorted(p.name for p in cache_dir.iterdir()) == ["compare-t-annoy-5.json", "compare-t-annoy-5.json.json"]
