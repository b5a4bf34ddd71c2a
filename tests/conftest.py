"""Fixtures: small datasets in the real file formats, and a loopback HTTP server that misbehaves on request."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import pickle
import socket
import tarfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from helpers import datasets


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    """An IDX file (MNIST's format) holding ``array``."""
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def make_mnist_files(n_train: int = 30, n_test: int = 10, seed: int = 0) -> dict[str, bytes]:
    """The four MNIST .gz files with random content of the right shapes."""
    rng = np.random.default_rng(seed)
    files = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        files[f"{prefix}-images-idx3-ubyte.gz"] = gzip.compress(idx_bytes(rng.integers(0, 256, (n, 28, 28)), 2051))
        files[f"{prefix}-labels-idx1-ubyte.gz"] = gzip.compress(idx_bytes(rng.integers(0, 10, n), 2049))
    return files


def make_cifar_archive(n_per_batch: int = 4, seed: int = 0, skip: str | None = None) -> bytes:
    """A cifar-10-python.tar.gz with small batches in the real layout: pickles (protocol 2) of NumPy arrays."""
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            if name == skip:
                continue
            batch = {"data": rng.integers(0, 256, (n_per_batch, 3072), dtype=np.uint8),
                     "labels": rng.integers(0, 10, n_per_batch).tolist()}
            payload = pickle.dumps(batch, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(payload)
            archive.addfile(info, io.BytesIO(payload))
    return buffer.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def mnist_spec(files: dict[str, bytes], hosts: tuple[str, ...]) -> datasets.DatasetSpec:
    """The real MNIST spec, pointed at test hosts and the test files' checksums."""
    sources = tuple(datasets.SourceFile(n, sha256(gzip.decompress(b)), True) for n, b in files.items())
    return dataclasses.replace(datasets.MNIST, hosts=hosts, files=sources)


def cifar_spec(archive: bytes, hosts: tuple[str, ...]) -> datasets.DatasetSpec:
    source = datasets.SourceFile("cifar-10-python.tar.gz", sha256(archive))
    return dataclasses.replace(datasets.CIFAR10, hosts=hosts, files=(source,))


class Server:
    """A loopback HTTP server. URL prefixes choose the behaviour:

    /ok/NAME serves the file, /forbidden/ answers 403, /slow/ waits 3 s before
    answering, /truncated/ promises the full length but sends half, /corrupt/
    serves other bytes under the right name.
    """

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                server.requests.append(self.path)
                _, mode, name = self.path.split("/", 2)
                body = server.files.get(name)
                if mode == "forbidden" or body is None:
                    self.send_error(403 if mode == "forbidden" else 404)
                    return
                if mode == "slow":
                    time.sleep(3)
                if mode == "corrupt":
                    body = gzip.compress(b"not the file you wanted") if name.endswith(".gz") else b"x" * len(body)
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2] if mode == "truncated" else body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, mode: str) -> str:
        return f"{self.base}/{mode}/"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    yield s
    s.close()


@pytest.fixture
def refused_url() -> str:
    """A loopback URL where nothing listens (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


@pytest.fixture
def chainer_root(tmp_path: Path) -> Iterator[Path]:
    """A fresh, empty Chainer dataset root, restored afterwards."""
    from chainer.dataset import download

    before = download.get_dataset_root()
    root = tmp_path / "chainer-root"
    download.set_dataset_root(str(root))
    yield root
    download.set_dataset_root(before)


@pytest.fixture(autouse=True)
def no_env_mirror(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unit tests say explicitly which mirror they use."""
    monkeypatch.delenv(datasets.MIRROR_ENV, raising=False)
