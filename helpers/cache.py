"""One convention for every cached artefact: built indexes, neighbours found (exact or by an index), sweep results.

- **Where:** ``cache_file(name)`` in the cache folder (``ANN_TUTORIAL_CACHE``, default ``cache/``); quick mode
  adds ``-quick`` to the name, so the two modes never overwrite each other's files.
- **Content key:** each artefact has a fingerprint, a JSON-able dict of what it was made from: a hash of the
  input arrays (``content_key``) and every parameter.
- **Atomic write:** the artefact is written to a temporary ``<name>.<pid>-*.part`` and renamed when complete; its
  sidecar ``<name>.json`` (fingerprint + file size) is written last, also atomically. An interrupted run leaves
  either nothing or a file without a sidecar, which is never reused. A failed write gives its disk space back, even
  when the writer left its file open (``discard``); a full disk is reported as ``NoSpaceError``.
- **Validation before reuse:** the sidecar must exist, match the wanted fingerprint, and record the file's
  current size; then the file must load. Anything else rebuilds, with one line saying why. (A cut-short Annoy
  file memory-mapped as if whole crashes the process on the first query: the size check prevents that.)
- **Interrupted runs:** ``load_or_make`` keeps a marker ``<name>.unfinished`` while it makes an artefact. If a run
  was stopped (Ctrl-C, the kernel's stop button, a killed kernel), the next one finds the marker, says it starts
  again, and removes temporary files that dead processes left.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import glob
import hashlib
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import numpy as np

from helpers import config

T = TypeVar("T")
_UMASK = os.umask(0)
os.umask(_UMASK)  # read once: the process's umask, for files made through mkstemp

_NO_SPACE = {code: why for code, why in (
    (errno.ENOSPC, "the disk is full"),
    (getattr(errno, "EDQUOT", None), "your disk quota is used up"),
    (errno.EFBIG, "the file is larger than that file system (or `ulimit -f`) allows"),
) if code is not None}
_NEARLY_FULL = 1 << 20
"""Less free space than this (bytes) when a write fails counts as a full disk, for writers that give no errno
(NumPy's ``save`` says only "N requested and M written")."""


class NoSpaceError(OSError):
    """An artefact did not fit in the cache folder; the message says how much it needs and what to do."""

    def __init__(self, message: str, code: int, folder: Path, needed: int | None, free: int | None) -> None:
        super().__init__(message)
        self.errno, self.folder, self.needed, self.free = code, folder, needed, free


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


def unfinished_marker(path: Path) -> Path:
    """The file that says an artefact is being made (or that making it was stopped): ``<name>.unfinished``."""
    return path.with_name(path.name + ".unfinished")


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


# --------------------------------------------------------------------------- the main path: reuse, or make and save


def load_or_make(path: Path, wanted: dict, load: Callable[[Path], T], make: Callable[[], T],
                 write: Callable[[T, Path], None], log: Callable[[str], None] = print,
                 needed: Callable[[T], int] | None = None, from_room_kit: bool = False) -> tuple[T, bool]:
    """Reuse the artefact at ``path`` if it passes validation, else make, save and reload it.

    Returns (value, reused). The value always comes from ``load(path)``, so a fresh result and a reused one are
    read the same way. A file that exists but cannot be reused is announced with ``log`` and the reason; so is a
    new start after an earlier run was stopped while making it. ``needed(value)``: bytes the file takes at least,
    for the message if it does not fit. ``from_room_kit``: before making it, take the room kit's copy if it was
    made from ``wanted`` (``import_from_room_kit``); only for files that load without running code.
    """
    reason = why_not_reusable(path, wanted)
    if reason is None:
        try:
            return load(path), True
        except (OSError, ValueError, KeyError, TypeError) as e:
            reason = f"it could not be read ({e})"
    if from_room_kit and import_from_room_kit(path, wanted, log):
        try:
            return load(path), True
        except (OSError, ValueError, KeyError, TypeError) as e:
            reason = f"the room kit's copy could not be read ({e})"
    marker = unfinished_marker(path)
    stopped = _stopped_earlier(marker)
    stopped = _remove_stale_parts(path) or stopped
    if path.exists():
        log(f"cache: remaking {path.name}: {reason}")
    elif stopped:
        log(f"cache: {path.name}: an earlier run stopped before finishing; starting again")
    with contextlib.suppress(OSError):  # only for that message: never a reason to fail
        marker.write_text(str(os.getpid()))
    try:
        value = make()
        save(path, wanted, lambda tmp: write(value, tmp), None if needed is None else needed(value))
    except Exception:
        marker.unlink(missing_ok=True)  # an error, already shown: the next run is a new attempt, not a resumption
        raise
    marker.unlink(missing_ok=True)  # (Ctrl-C and other BaseExceptions skip this: the next run says so)
    return load(path), False


def save(path: Path, wanted: dict, write: Callable[[Path], None], needed: int | None = None,
         copied_from: Path | None = None) -> None:
    """Write an artefact with ``write(temporary_path)``, rename it into place, then record its fingerprint (and,
    for a copy, where it came from)."""
    sidecar(path).unlink(missing_ok=True)  # from here until the end the old fingerprint must not vouch for anything
    write_atomically(path, write, needed)
    fields = {"fingerprint": wanted, "bytes": path.stat().st_size}
    if copied_from is not None:
        fields["copied_from"] = str(copied_from)
    record = json.dumps(fields, indent=1)
    try:
        write_atomically(sidecar(path), lambda tmp: tmp.write_text(record))
    except NoSpaceError as e:
        size = _size(path)
        path.unlink(missing_ok=True)  # without its fingerprint it is never reused: give its space back
        raise no_space_error(e.errno, path, size + len(record)) from e
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def import_from_room_kit(path: Path, wanted: dict, log: Callable[[str], None] = print) -> bool:
    """Copy the room kit's artefact of the same name into ``path`` if it was made from ``wanted``; True if copied.

    The room kit is the mirror folder (``ANN_TUTORIAL_MIRROR``); its ``cache/`` folder holds artefacts with their
    fingerprints, as the instructor's cache held them. The same check as for reuse: the same fingerprint (data,
    settings, code) and the recorded size. One line says what was taken, or why the kit's copy was not.
    """
    mirror = config.mirror_from_env()
    if mirror is None or not (mirror / config.ROOM_KIT_CACHE).is_dir():
        return False  # no room kit (a data mirror has no cache/ folder)
    source = mirror / config.ROOM_KIT_CACHE / path.name
    if not source.is_file():
        log(f"room kit: it has no {path.name} (made in the other mode, or before notebook 06 ran?); making it here")
        return False
    reason = why_not_reusable(source, wanted)
    saved = read_fingerprint(source)
    if isinstance(saved, dict) and saved != wanted:  # name what differs: data, settings, code, ...
        differ = sorted(k for k in wanted.keys() | saved.keys() if wanted.get(k) != saved.get(k))
        reason = f"its {', '.join(differ)} {'differs' if len(differ) == 1 else 'differ'} from this run's"
    if reason is not None:
        log(f"room kit: not using its {path.name}: {reason}; making it here instead")
        return False
    save(path, wanted, lambda tmp: shutil.copyfile(source, tmp), source.stat().st_size, copied_from=source)
    log(f"room kit: took {path.name} from {mirror}: made from the same data, settings and code as this run's")
    return True


def write_atomically(path: Path, write: Callable[[Path], None], needed: int | None = None) -> None:
    """Create ``path`` by ``write(temporary_path)`` and a rename: readers see the old file or the whole new one.

    The temporary file sits in the same folder under a unique name (with this process's id), so two processes
    writing the same artefact never mix their bytes; a failure (or Ctrl-C) removes it and gives its space back.
    An out-of-space failure raises ``NoSpaceError``; ``needed`` (bytes, a lower bound) goes into its message.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f"{path.name}.{os.getpid()}-", suffix=".part")
    os.close(fd)
    tmp = Path(name)
    with _cleaned_up(tmp, path, needed):
        write(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes the file private; give it the permissions open() would
        os.replace(tmp, path)


@contextlib.contextmanager
def scratch_file(path: Path, needed: int | None = None) -> Iterator[Path]:
    """A file to write and measure, deleted (its space given back) when the block ends, however it ends."""
    try:
        with _cleaned_up(path, path, needed):
            yield path
    finally:
        discard(path)


def load_neighbours(path: Path, n_queries: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(ids, distances) as ``save_neighbours`` wrote them, checked: ``(n_queries, k)`` integer ids and float32
    distances. A damaged or different file raises ValueError (``load_or_make`` then makes it again)."""
    try:
        with np.load(path) as saved:
            ids, dists = saved["ids"], saved["dists"]
    except zipfile.BadZipFile as e:
        raise ValueError(f"damaged ({e})") from e
    if ids.shape != (n_queries, k) or dists.shape != ids.shape:
        raise ValueError(f"holds arrays of shape {ids.shape}, not {(n_queries, k)}")
    if ids.dtype.kind != "i" or dists.dtype != np.float32:
        raise ValueError(f"holds {ids.dtype} ids and {dists.dtype} distances, not integers and float32")
    return ids, dists


def save_neighbours(neighbours: tuple[np.ndarray, np.ndarray], tmp: Path) -> None:
    """Write (ids, distances) to ``tmp`` as one ``.npz`` file (``load_or_make`` renames it when complete)."""
    with open(tmp, "wb") as f:
        np.savez(f, ids=neighbours[0], dists=neighbours[1])


def load_or_make_neighbours(path: Path, wanted: dict, make: Callable[[], tuple[np.ndarray, np.ndarray]],
                            n_queries: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``load_or_make`` for nearest-neighbour answers, (ids, distances) of ``n_queries`` queries with ``k`` each."""
    return load_or_make(path, wanted, lambda p: load_neighbours(p, n_queries, k), make, save_neighbours)[0]


def load_or_make_records(path: Path, wanted: dict, record: type[T], make: Callable[[], list[T]],
                         log: Callable[[str], None] = print) -> tuple[list[T], bool]:
    """``load_or_make`` for a list of dataclass ``record``s (sweep and comparison results), stored as JSON."""
    return load_or_make(
        path, wanted, load=lambda p: [record(**fields) for fields in json.loads(p.read_text())], make=make,
        write=lambda records, tmp: tmp.write_text(json.dumps([dataclasses.asdict(r) for r in records], indent=1)),
        log=log)


# --------------------------------------------------------------------------- failed writes


def _release_descriptors(path: Path) -> int:
    """Make this process's descriptors still open on ``path`` let go of it; returns how many there were.

    For writers that leak one: Annoy 1.17.3's ``save()`` returns without ``fclose`` when a write fails, and while
    a descriptor stays open, deleting the file does not free its blocks. The descriptors are found by inode
    (``/proc/self/fd`` on Linux, ``/dev/fd`` on macOS; elsewhere nothing is done). Not ``os.close``: the leaked
    ``FILE*`` still owns the number, and at exit the C library flushes every open stream, into whatever file
    the number then belongs to. Instead ``/dev/null`` is put under the same number (``dup2``): the file is let go,
    the number stays taken, a late flush lands nowhere. Only if that fails is the file truncated to free its
    blocks (not always: truncating a file that is still memory-mapped here would crash the next read of it).
    """
    listing = next((d for d in ("/proc/self/fd", "/dev/fd") if os.path.isdir(d)), None)
    try:
        target = os.stat(path)
        numbers = [int(n) for n in os.listdir(listing)] if listing else []
    except (OSError, ValueError):
        return 0
    found = 0
    for fd in numbers:
        try:
            info = os.fstat(fd)
        except OSError:
            continue  # closed meanwhile (the listing's own descriptor, for one)
        if (info.st_dev, info.st_ino) != (target.st_dev, target.st_ino):
            continue
        found += 1
        try:
            null = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(null, fd, inheritable=False)
            finally:
                os.close(null)
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
    return found


def discard(path: Path) -> None:
    """Delete a temporary or scratch file and give its space back, even if a writer left it open."""
    _release_descriptors(path)
    path.unlink(missing_ok=True)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _free(folder: Path) -> int | None:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def _no_space_code(error: BaseException, free_at_failure: int | None, written: int) -> int | None:
    """ENOSPC, EDQUOT or EFBIG if ``error`` means the artefact did not fit, else None."""
    if not isinstance(error, OSError):
        return None
    if error.errno in _NO_SPACE:
        return error.errno
    text = str(error)  # Annoy raises a bare OSError: "Unable to write: No space left on device (28)"
    code = next((c for c in _NO_SPACE if os.strerror(c) in text), None)
    if code is None and error.errno is None and written and free_at_failure is not None \
            and free_at_failure < _NEARLY_FULL:
        code = errno.ENOSPC
    return code


def _megabytes(n: int) -> str:
    return f"{n / 1e9:,.2f} GB" if n >= 1e9 else f"{n / 1e6:,.1f} MB"


def no_space_error(code: int, path: Path, needed: int | None) -> NoSpaceError:
    """The error for an artefact ``path`` that needs at least ``needed`` bytes and did not fit (``code``)."""
    folder = path.parent
    free = _free(folder)
    need = f"it needs at least {_megabytes(needed)}" if needed else "it needs more space"
    have = f"{_megabytes(free)} free there now" if free is not None else "free space unknown"
    try:
        in_cache = folder.resolve().is_relative_to(config.CACHE_DIR.resolve())
    except OSError:
        in_cache = False
    elsewhere = "set ANN_TUTORIAL_CACHE to a folder on a bigger disk and restart the kernel" if in_cache \
        else "save it in a folder on a bigger disk"
    message = (f"could not save {path.name} in {folder}: {_NO_SPACE[code]} ({need}; {have}). "
               f"Free some space there, or {elsewhere}; then run this again.")
    return NoSpaceError(message, code, folder, needed, free)


@contextlib.contextmanager
def _cleaned_up(tmp: Path, path: Path, needed: int | None) -> Iterator[None]:
    """On any failure inside: ``discard(tmp)``; an out-of-space error becomes a ``NoSpaceError`` about ``path``."""
    try:
        yield
    except BaseException as e:
        free_at_failure = _free(tmp.parent)
        written = _size(tmp)
        discard(tmp)
        code = _no_space_code(e, free_at_failure, written)
        if code is None or isinstance(e, NoSpaceError):
            raise
        raise no_space_error(code, path, max(needed or 0, written) or None) from e


# --------------------------------------------------------------------------- interrupted runs


def _running(pid: int) -> bool | None:
    """Whether process ``pid`` runs on this machine (None where that cannot be told)."""
    if os.name != "posix":
        return None  # os.kill(pid, 0) would send Ctrl-C on Windows
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale_parts(path: Path) -> bool:
    """Remove the temporary files of ``path`` (and of its sidecar) whose writer no longer runs; True if any.

    This process's own go too: about to make ``path``, it is writing none of them (they remain when a second
    Ctrl-C cuts a clean-up short).
    """
    removed = False
    for part in path.parent.glob(glob.escape(path.name) + ".*.part"):
        writer = part.name[len(path.name) + 1:].removeprefix("json.").split("-", 1)[0]
        if writer.isdigit() and (int(writer) == os.getpid() or _running(int(writer)) is False):
            part.unlink(missing_ok=True)
            removed = True
    return removed


def _stopped_earlier(marker: Path) -> bool:
    """True if ``marker`` was left by a run that stopped: this process, or one that no longer runs."""
    try:
        writer = int(marker.read_text())
    except FileNotFoundError:
        return False
    except (OSError, ValueError):
        return True
    return writer == os.getpid() or not _running(writer)
