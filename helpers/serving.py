"""Annoy indexes and notebook 06's network opened once per process, for code that runs on Dask workers (notebook 08).

A Dask worker runs many tasks in one long-lived process. ``open_index`` memory-maps a saved index the first time
a task in that process asks for it and hands the same ``AnnoyIndex`` to every later task: a query batch does
not pay for opening the file, and all processes that map one file share its pages (``helpers.memory``).
``network`` does the same for a model saved with ``features.save_model``.
"""

from __future__ import annotations

import threading
from pathlib import Path

from annoy import AnnoyIndex

from helpers.index import load_index

_open: dict[tuple, AnnoyIndex] = {}
_networks: dict[str, object] = {}
_lock = threading.Lock()


def open_index(path: str | Path, dim: int, metric: str, prefault: bool = False) -> AnnoyIndex:
    """The index saved at ``path``, loaded once in this process (``index.load_index``) and reused afterwards.

    A file replaced since (another size or modification time: rebuilt) is opened anew.
    """
    path = Path(path).resolve()
    stat = path.stat()  # FileNotFoundError for a missing file (load_index checks the rest)
    key = (str(path), stat.st_size, stat.st_mtime_ns, int(dim), metric, bool(prefault))
    with _lock:
        if key not in _open:
            _open[key] = load_index(path, dim, metric, prefault=prefault)
        return _open[key]


def close_all() -> int:
    """Unload every index this process opened through ``open_index``; returns how many."""
    with _lock:
        for index in _open.values():
            index.unload()
        count = len(_open)
        _open.clear()
        return count


def network(name: str) -> object:
    """The network ``features.save_model`` saved as ``<name>``, loaded once in this process and reused afterwards."""
    from helpers import features  # Chainer: imported only where a network is wanted

    with _lock:
        if name not in _networks:
            _networks[name] = features.load_model(name)
        return _networks[name]
