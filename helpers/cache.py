"""One convention for every cached artefact: built indexes, exact neighbours, sweep results.

- **Where:** ``cache_file(name)`` in the cache folder (``ANN_TUTORIAL_CACHE``, default ``cache/``); quick mode
  adds ``-quick`` to the name, so the two modes never overwrite each other's files.
- **Content key:** each artefact has a fingerprint, a JSON-able dict of what it was made from: a hash of the
  input arrays (``content_key``) and every parameter.
- **Atomic write:** the artefact is written to a temporary ``<name>.*.part`` and renamed when complete; its sidecar
  ``<name>.json`` (fingerprint + file size) is written last, also atomically. An interrupted run leaves either
  nothing or a file without a sidecar, which is never reused.
- **Validation before reuse:** the sidecar must exist, match the wanted fingerprint, and record the file's
  current size; then the file must load. Anything else rebuilds, with one line saying why. (A cut-short Annoy
  file memory-mapped as if whole crashes the process on the first query: the size check prevents that.)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np

from helpers import config

T = TypeVar("T")
_UMASK = os.umask(0)
os.umask(_UMASK)  # read once: the process's umask, for files made through mkstemp


def content_key(*arrays: np.ndarray, params: object = None, size: int = 16) -> str:
    """A short hash of some arrays' bytes (with their shapes and dtypes) plus JSON-able parameters."""
    digest = hashlib.blake2b(digest_size=size)
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    digest.update(json.dumps(params).encode())
    return digest.hexdigest()


def cache_file(name: str) -> Path:
    """Path of ``name`` in the cache folder (created if needed); quick mode gets ``<stem>-quick<suffix>``."""
    config.CACHE_DIR.mkdir(parents=True, exist_ok=True)
    return config.mode_file_name(config.CACHE_DIR / name)


def sidecar(path: Path) -> Path:
    """The fingerprint file that sits beside an artefact: ``<name>.json``."""
    return path.with_name(path.name + ".json")


def read_fingerprint(path: Path) -> dict | None:
    """The fingerprint recorded beside ``path``, or None if there is none (or it is unreadable)."""
    try:
        return json.loads(sidecar(path).read_text())["fingerprint"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def why_not_reusable(path: Path, wanted: dict) -> str | None:
    """None if ``path`` is a complete artefact made from ``wanted``; else the reason it cannot be reused."""
    if not path.is_file():
        return "not built yet"
    try:
        saved = json.loads(sidecar(path).read_text())
    except FileNotFoundError:
        return "it has no fingerprint (an earlier run stopped before finishing)"
    except (OSError, ValueError) as e:
        return f"its fingerprint is unreadable ({e})"
    if not isinstance(saved, dict) or saved.get("fingerprint") != wanted:
        return "it was made from other data or parameters"
    size = path.stat().st_size
    if size != saved.get("bytes"):
        return f"it has {size:,} bytes where its fingerprint says {saved.get('bytes')!r} (cut short or overwritten)"
    return None


def write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """Create ``path`` by ``write(temporary_path)`` and a rename: readers see the old file or the whole new one.

    The temporary file sits in the same folder under a unique name, so two processes writing the same artefact
    never mix their bytes; a failure (or Ctrl-C) removes it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".part")
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes the file private; give it the permissions open() would
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def save(path: Path, wanted: dict, write: Callable[[Path], None]) -> None:
    """Write an artefact with ``write(temporary_path)``, rename it into place, then record its fingerprint."""
    sidecar(path).unlink(missing_ok=True)  # from here until the end the old fingerprint must not vouch for anything
    write_atomically(path, write)
    record = json.dumps({"fingerprint": wanted, "bytes": path.stat().st_size}, indent=1)
    write_atomically(sidecar(path), lambda tmp: tmp.write_text(record))


def load_or_make(path: Path, wanted: dict, load: Callable[[Path], T], make: Callable[[], T],
                 write: Callable[[T, Path], None], log: Callable[[str], None] = print) -> tuple[T, bool]:
    """Reuse the artefact at ``path`` if it passes validation, else make, save and reload it.

    Returns (value, reused). The value always comes from ``load(path)``, so a fresh result and a reused one are
    read the same way. A file that exists but cannot be reused is announced with ``log`` and the reason.
    """
    reason = why_not_reusable(path, wanted)
    if reason is None:
        try:
            return load(path), True
        except (OSError, ValueError, KeyError, TypeError) as e:
            reason = f"it could not be read ({e})"
    if path.exists():
        log(f"cache: remaking {path.name}: {reason}")
    value = make()
    save(path, wanted, lambda tmp: write(value, tmp))
    return load(path), False


def load_or_make_records(path: Path, wanted: dict, record: type[T], make: Callable[[], list[T]],
                         log: Callable[[str], None] = print) -> tuple[list[T], bool]:
    """``load_or_make`` for a list of dataclass ``record``s (sweep and comparison results), stored as JSON."""
    return load_or_make(
        path, wanted, load=lambda p: [record(**fields) for fields in json.loads(p.read_text())], make=make,
        write=lambda records, tmp: tmp.write_text(json.dumps([dataclasses.asdict(r) for r in records], indent=1)),
        log=log)
