"""The data layer, offline: host fallback, verification, mirrors, cache reuse, error messages."""

from __future__ import annotations

import gzip
import io
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest

from conftest import Server, cifar_spec, make_cifar_archive, make_mnist_files, mnist_spec, sha256
from helpers import datasets


def write_mirror(folder: Path, spec_folder: str, files: dict[str, bytes], manifest: dict[str, str] | None = None) -> Path:
    (folder / spec_folder).mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / spec_folder / name).write_bytes(data)
    if manifest is not None:
        (folder / datasets.MANIFEST).write_text("".join(f"{h}  {p}\n" for p, h in manifest.items()))
    return folder


def load_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def test_falls_back_past_refused_403_and_timeout_hosts(server: Server, refused_url: str, chainer_root: Path) -> None:
    files = make_mnist_files()
    server.files.update(files)
    spec = mnist_spec(files, (refused_url, server.url("forbidden"), server.url("slow"), server.url("ok")))
    messages: list[str] = []
    cache = datasets.ensure_dataset(spec, timeout=1.0, show_progress=False, log=messages.append)

    text = "\n".join(messages)
    assert "connection refused" in text
    assert "HTTP 403" in text
    assert "no answer within 1 s" in text
    train = load_npz(cache / "train.npz")
    expected = np.frombuffer(gzip.decompress(files["train-images-idx3-ubyte.gz"])[16:], np.uint8).reshape(-1, 784)
    assert train["x"].dtype == np.uint8 and train["y"].dtype == np.uint8
    np.testing.assert_array_equal(train["x"], expected)
    assert load_npz(cache / "test.npz")["x"].shape == (10, 784)


def test_chainer_reads_what_we_wrote(server: Server, chainer_root: Path) -> None:
    import chainer

    files = make_mnist_files(n_train=12, n_test=5)
    server.files.update(files)
    datasets.ensure_dataset(mnist_spec(files, (server.url("ok"),)), show_progress=False, log=lambda s: None)
    train, test = chainer.datasets.get_mnist(withlabel=True, ndim=1)
    x, y = train[3]
    assert (len(train), len(test)) == (12, 5)
    assert x.shape == (784,) and x.dtype == np.float32 and 0.0 <= x.min() <= x.max() <= 1.0
    raw_labels = gzip.decompress(files["train-labels-idx1-ubyte.gz"])[8:]
    assert y == raw_labels[3]


@pytest.mark.parametrize("mode, reason", [("truncated", "truncated"), ("corrupt", "does not match")])
def test_bad_download_never_reaches_the_cache(server: Server, chainer_root: Path, mode: str, reason: str) -> None:
    files = make_mnist_files()
    server.files.update(files)
    spec = mnist_spec(files, (server.url(mode),))
    with pytest.raises(datasets.DatasetUnavailableError, match=reason):
        datasets.ensure_dataset(spec, show_progress=False, log=lambda s: None)
    cache_dir = chainer_root / spec.cache_dir
    assert not cache_dir.exists() or list(cache_dir.iterdir()) == []

    # A later call starts clean and succeeds once a good host answers.
    spec_ok = mnist_spec(files, (server.url(mode), server.url("ok")))
    datasets.ensure_dataset(spec_ok, show_progress=False, log=lambda s: None)
    assert datasets.cache_is_complete(spec_ok, chainer_root)


def test_cache_is_reused_without_network(server: Server, refused_url: str, chainer_root: Path) -> None:
    files = make_mnist_files()
    server.files.update(files)
    datasets.ensure_dataset(mnist_spec(files, (server.url("ok"),)), show_progress=False, log=lambda s: None)
    count = len(server.requests)
    messages: list[str] = []
    datasets.ensure_dataset(mnist_spec(files, (refused_url,)), show_progress=False, log=messages.append)
    assert len(server.requests) == count
    assert "already in Chainer's cache" in messages[0]


def test_all_hosts_failing_says_what_was_tried_and_the_ways_out(server: Server, refused_url: str,
                                                                chainer_root: Path) -> None:
    files = make_mnist_files()
    spec = mnist_spec(files, (refused_url, server.url("forbidden")))
    with pytest.raises(datasets.DatasetUnavailableError) as info:
        datasets.ensure_dataset(spec, show_progress=False, log=lambda s: None)
    message = str(info.value)
    assert refused_url in message and server.url("forbidden") in message
    assert "connect to the internet" in message and datasets.MIRROR_ENV in message


def test_mirror_without_manifest_uses_official_checksums(server: Server, tmp_path: Path, chainer_root: Path) -> None:
    files = make_mnist_files()
    spec = mnist_spec(files, (server.url("ok"),))
    mirror = write_mirror(tmp_path / "mirror", "mnist", files)
    datasets.ensure_dataset(spec, mirror=mirror, show_progress=False, log=lambda s: None)
    assert datasets.cache_is_complete(spec, chainer_root)
    assert server.requests == []  # a mirror means no download at all


def test_mirror_file_with_other_content_is_rejected_without_manifest(tmp_path: Path, chainer_root: Path) -> None:
    files = make_mnist_files()
    spec = mnist_spec(files, ("http://127.0.0.1:9/",))
    tampered = dict(files, **{"t10k-labels-idx1-ubyte.gz": gzip.compress(b"\0\0\x08\x01\0\0\0\x01\x07")})
    mirror = write_mirror(tmp_path / "mirror", "mnist", tampered)
    with pytest.raises(datasets.DatasetUnavailableError, match="official checksum"):
        datasets.ensure_dataset(spec, mirror=mirror, show_progress=False, log=lambda s: None)
    assert not datasets.cache_is_complete(spec, chainer_root)


def test_mirror_manifest_accepts_a_different_cifar_archive(tmp_path: Path, chainer_root: Path) -> None:
    official = make_cifar_archive(seed=1)
    mirrored = make_cifar_archive(seed=2)  # like the shared mirror: same format, other bytes
    spec = cifar_spec(official, ("http://127.0.0.1:9/",))
    rel = "cifar-10/cifar-10-python.tar.gz"
    mirror = write_mirror(tmp_path / "m", "cifar-10", {"cifar-10-python.tar.gz": mirrored}, {rel: sha256(mirrored)})
    cache = datasets.ensure_dataset(spec, mirror=mirror, show_progress=False, log=lambda s: None)
    arrays = load_npz(cache / "cifar-10.npz")
    assert arrays["train_x"].shape == (20, 3072) and arrays["test_x"].shape == (4, 3072)
    assert arrays["train_y"].dtype == np.uint8

    # Without the manifest the same archive fails the official checksum.
    (mirror / datasets.MANIFEST).unlink()
    (cache / "cifar-10.npz").unlink()
    with pytest.raises(datasets.DatasetUnavailableError, match="official checksum"):
        datasets.ensure_dataset(spec, mirror=mirror, show_progress=False, log=lambda s: None)


@pytest.mark.parametrize("manifest", ["wrong hash", "not listed"])
def test_mirror_manifest_is_enforced(tmp_path: Path, chainer_root: Path, manifest: str) -> None:
    archive = make_cifar_archive()
    spec = cifar_spec(archive, ("http://127.0.0.1:9/",))
    entries = {"cifar-10/cifar-10-python.tar.gz": "0" * 64} if manifest == "wrong hash" else {"other/file": "0" * 64}
    mirror = write_mirror(tmp_path / "m", "cifar-10", {"cifar-10-python.tar.gz": archive}, entries)
    with pytest.raises(datasets.DatasetUnavailableError, match="SHA256SUMS"):
        datasets.ensure_dataset(spec, mirror=mirror, show_progress=False, log=lambda s: None)


def test_mirror_missing_file_does_not_fall_back_to_download(server: Server, tmp_path: Path,
                                                            chainer_root: Path) -> None:
    files = make_mnist_files()
    server.files.update(files)
    spec = mnist_spec(files, (server.url("ok"),))
    mirror = write_mirror(tmp_path / "m", "mnist", {k: v for k, v in files.items() if "t10k" not in k})
    with pytest.raises(datasets.DatasetUnavailableError, match="no file") as info:
        datasets.ensure_dataset(spec, mirror=mirror, show_progress=False, log=lambda s: None)
    assert "unset ANN_TUTORIAL_MIRROR" in str(info.value)
    assert server.requests == []


def test_mirror_from_environment_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                          chainer_root: Path) -> None:
    files = make_mnist_files()
    mirror = write_mirror(tmp_path / "m", "mnist", files)
    monkeypatch.setenv(datasets.MIRROR_ENV, str(mirror))
    datasets.ensure_dataset(mnist_spec(files, ("http://127.0.0.1:9/",)), show_progress=False, log=lambda s: None)
    assert datasets.cache_is_complete(datasets.MNIST, chainer_root)


def test_broken_archive_leaves_no_cache_and_a_retry_starts_clean(tmp_path: Path, chainer_root: Path) -> None:
    broken = make_cifar_archive(skip="test_batch")
    spec = cifar_spec(broken, ("http://127.0.0.1:9/",))
    mirror = write_mirror(tmp_path / "m", "cifar-10", {"cifar-10-python.tar.gz": broken})
    with pytest.raises(datasets.VerificationError, match="test_batch"):
        datasets.ensure_dataset(spec, mirror=mirror, show_progress=False, log=lambda s: None)
    cache_dir = chainer_root / spec.cache_dir
    assert not cache_dir.exists() or list(cache_dir.iterdir()) == []

    good = make_cifar_archive()
    write_mirror(mirror, "cifar-10", {"cifar-10-python.tar.gz": good})
    datasets.ensure_dataset(cifar_spec(good, spec.hosts), mirror=mirror, show_progress=False, log=lambda s: None)
    assert datasets.cache_is_complete(spec, chainer_root)


def test_export_writes_a_mirror_that_loads(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                           chainer_root: Path) -> None:
    files = make_mnist_files()
    archive = make_cifar_archive()
    source = write_mirror(tmp_path / "src", "mnist", files)
    write_mirror(source, "cifar-10", {"cifar-10-python.tar.gz": archive})
    monkeypatch.setitem(datasets.DATASETS, "mnist", mnist_spec(files, ("http://127.0.0.1:9/",)))
    monkeypatch.setitem(datasets.DATASETS, "cifar-10", cifar_spec(archive, ("http://127.0.0.1:9/",)))

    out = tmp_path / "room-mirror"
    assert datasets.main(["--mirror", str(source), "--export", str(out)]) == 0
    manifest = datasets.read_manifest(out)
    assert manifest is not None and len(manifest) == 5
    assert manifest["cifar-10/cifar-10-python.tar.gz"] == sha256(archive)
    assert all(datasets.cache_is_complete(spec, chainer_root) for spec in datasets.DATASETS.values())


def test_cli_rejects_an_unknown_dataset(capsys: pytest.CaptureFixture[str]) -> None:
    assert datasets.main(["imagenet"]) == 1
    assert "unknown dataset 'imagenet'" in capsys.readouterr().err


def test_unknown_host_is_reported_as_such(chainer_root: Path) -> None:
    spec = mnist_spec(make_mnist_files(), ("http://no-such-host.invalid/",))
    messages: list[str] = []
    with pytest.raises(datasets.DatasetUnavailableError, match="host name not found"):
        datasets.ensure_dataset(spec, timeout=5, show_progress=False, log=messages.append)
    assert "trying the next host" not in messages[-1]  # it was the last one


def test_mnist_writes_nothing_until_every_file_is_good(tmp_path: Path, chainer_root: Path) -> None:
    files = make_mnist_files()
    bad = dict(files, **{"t10k-images-idx3-ubyte.gz": gzip.compress(b"not an IDX file at all")})
    # A mirror whose own manifest vouches for the bad file: the checksum passes, the content does not.
    manifest = {f"mnist/{name}": sha256(data) for name, data in bad.items()}
    mirror = write_mirror(tmp_path / "m", "mnist", bad, manifest)
    with pytest.raises(datasets.VerificationError, match="t10k-images"):
        datasets.ensure_dataset(mnist_spec(files, ("http://127.0.0.1:9/",)), mirror=mirror, show_progress=False,
                                log=lambda s: None)
    cache_dir = chainer_root / datasets.MNIST.cache_dir
    assert not cache_dir.exists() or list(cache_dir.iterdir()) == []  # no train.npz left behind


class _RunsCode:
    """A pickle payload that runs a command when loaded with plain pickle.load."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.marker}",))


def test_a_crafted_cifar_pickle_is_refused_and_runs_nothing(tmp_path: Path, chainer_root: Path) -> None:
    marker = tmp_path / "code-ran"
    good = make_cifar_archive()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(good), mode="r:gz") as src, tarfile.open(fileobj=buffer, mode="w:gz") as out:
        for member in src.getmembers():
            payload = src.extractfile(member).read()
            if member.name.endswith("data_batch_3"):
                payload = pickle.dumps({"data": _RunsCode(marker), "labels": []}, protocol=2)
                member.size = len(payload)
            out.addfile(member, io.BytesIO(payload))
    crafted = buffer.getvalue()
    # The mirror's own SHA256SUMS vouches for the archive, as a USB stick's manifest would.
    mirror = write_mirror(tmp_path / "m", "cifar-10", {"cifar-10-python.tar.gz": crafted},
                          {"cifar-10/cifar-10-python.tar.gz": sha256(crafted)})
    with pytest.raises(datasets.VerificationError, match="refused to load posix.system|refused to load nt.system"):
        datasets.ensure_dataset(cifar_spec(good, ("http://127.0.0.1:9/",)), mirror=mirror, show_progress=False,
                                log=lambda s: None)
    assert not marker.exists()
    assert not datasets.cache_is_complete(datasets.CIFAR10, chainer_root)


@pytest.mark.parametrize("n_train, n_test", [(50_000, 10_000), (12_000, 800), (7, 3)])
def test_quick_datasets_cut_chainer_datasets_of_any_size(n_train: int, n_test: int) -> None:
    """Chainer's SubDataset wants an order as long as its base: quick_datasets must give one, for any size."""
    import chainer

    def numbered(n: int) -> chainer.datasets.TupleDataset:
        return chainer.datasets.TupleDataset(np.arange(n, dtype=np.float32)[:, None], np.arange(n, dtype=np.int32))

    train, test = datasets.quick_datasets(numbered(n_train), numbered(n_test))
    for dataset, n, kept in ((train, n_train, 10_000), (test, n_test, 1_000)):
        _, labels = datasets.to_arrays(dataset)
        assert labels.tolist() == datasets.sample_rows(n, min(kept, n)).tolist()  # the seeded rows, in order
