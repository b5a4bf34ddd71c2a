"""Queries under load, on loopback (notebook 09): a small threaded server that answers vectors with ids, and client
processes that ask it as fast as they can until told to stop, keeping every answer.

The protocol: a client sends one query as ``dim`` float32 values; the server answers with the version of the index
that answered (an unsigned 64-bit number), the number of ids and the ids (int32). Everything is little-endian.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import socket
import socketserver
import struct
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HEADER = struct.Struct("<QI")  # version, number of ids


@dataclass(frozen=True)
class Answer:
    """One answered query: which query (its row), which index version answered, the ids, and when (``time.time()``:
    one clock for every client process)."""

    row: int
    version: int
    ids: tuple[int, ...]
    at: float


def serve(answer: Callable[[np.ndarray], tuple[int, Sequence[int]]], dim: int) -> socketserver.ThreadingTCPServer:
    """Start answering on 127.0.0.1 (a free port: ``server.server_address``), one thread per connection, in the
    background; ``answer(vector)`` returns (version, ids). Stop it with ``server.shutdown(); server.server_close()``."""
    server = _Server(("127.0.0.1", 0), _handler(answer, dim))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@dataclass
class Load:
    """``clients`` processes querying ``server`` from the moment all have connected (``with`` waits for that) until
    ``linger`` seconds after the ``with`` block ends; then ``answers`` and ``errors`` hold what every client saw.
    (A client stops by itself after ``limit`` seconds, should nobody stop it.)"""

    server: socketserver.ThreadingTCPServer
    queries: np.ndarray
    clients: int = 3
    linger: float = 1.0
    limit: float = 600.0
    answers: list[Answer] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def __enter__(self) -> Load:
        before = self.server.connections
        self._folder = tempfile.TemporaryDirectory(prefix="ann-load-")
        self._stop = Path(self._folder.name) / "stop"  # the clients stop when this file exists
        context = multiprocessing.get_context("spawn")  # the same on Linux, macOS and Windows
        self._pool = concurrent.futures.ProcessPoolExecutor(self.clients, mp_context=context)
        queries = np.ascontiguousarray(self.queries, dtype=np.float32)
        self._runs = [self._pool.submit(_client, self.server.server_address, queries, str(self._stop), self.limit,
                                        seed) for seed in range(self.clients)]
        deadline = time.monotonic() + 120
        while self.server.connections < before + self.clients:  # spawned processes take a moment to start
            if time.monotonic() > deadline or any(run.done() for run in self._runs):
                break
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        time.sleep(self.linger)
        self._stop.touch()
        try:
            for run in self._runs:
                answers, errors = run.result()
                self.answers += answers
                self.errors += errors
        finally:
            self._pool.shutdown()
            self._folder.cleanup()


def _client(address: tuple[str, int], queries: np.ndarray, stop: str, limit: float,
            seed: int) -> tuple[list, list]:
    """Ask query after query (in a seeded order) until the file ``stop`` exists (or ``limit`` seconds have
    passed); keep each answer, and each error's text."""
    order = np.random.default_rng(seed).permutation(len(queries))
    answers, errors = [], []
    with socket.create_connection(address) as connection:
        reader = connection.makefile("rb")
        start, n = time.monotonic(), 0
        while not os.path.exists(stop) and time.monotonic() - start < limit:
            row = int(order[n % len(order)])
            n += 1
            try:
                connection.sendall(queries[row].tobytes())
                version, count = HEADER.unpack(_read(reader, HEADER.size))
                ids = struct.unpack(f"<{count}i", _read(reader, 4 * count))
                answers.append(Answer(row, version, ids, time.time()))
            except (OSError, struct.error, EOFError) as error:
                errors.append(f"query {row}: {type(error).__name__}: {error}")
                break  # the connection is in an unknown state
    return answers, errors


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    connections = 0  # connections accepted so far (counted under _counting)
    _counting = threading.Lock()


def _handler(answer: Callable[[np.ndarray], tuple[int, Sequence[int]]], dim: int) -> type:
    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            with self.server._counting:
                self.server.connections += 1
            while True:
                request = self.rfile.read(4 * dim)
                if len(request) < 4 * dim:
                    return  # the client has gone
                version, ids = answer(np.frombuffer(request, dtype=np.float32))
                self.wfile.write(HEADER.pack(version, len(ids)) + struct.pack(f"<{len(ids)}i", *ids))

    return Handler


def _read(reader, size: int) -> bytes:
    data = reader.read(size)
    if len(data) < size:
        raise EOFError(f"the server closed the connection ({len(data)} of {size} bytes)")
    return data
