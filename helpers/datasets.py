"""Fill Chainer's dataset cache so ``get_mnist()`` and ``get_cifar10()`` work today, offline too.

Chainer 7.8.1 downloads MNIST from yann.lecun.com, which now answers 403. This
module fetches the same files from working public hosts (or from a local mirror
folder), verifies them, and writes the very ``.npz`` files Chainer would write
(same names, keys, dtypes and shapes) into Chainer's cache. After that,
``chainer.datasets.get_mnist()`` and ``get_cifar10()`` load from the cache and
never touch the network.

Command line (an instructor runs it once before a workshop)::

    python -m helpers.datasets                 # fetch + verify both datasets
    python -m helpers.datasets mnist           # just one
    python -m helpers.datasets --export room-mirror/   # also write a mirror folder to hand out
"""

from __future__ import annotations

import argparse
import codecs
import gzip
import hashlib
import http.client
import os
import pickle
import shutil
import socket
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import warnings
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from helpers import cache, config
from helpers.progress import Progress

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # pkg_resources / numpy.distutils deprecation noise at import
    import chainer  # imported once, quietly, for every notebook that imports this module
    from chainer.dataset import download as chainer_download

MIRROR_ENV = config.MIRROR_ENV
MANIFEST = "SHA256SUMS"
CHUNK = 1 << 20


@dataclass(frozen=True)
class SourceFile:
    """One file as the public hosts serve it, with the SHA-256 that proves it is right.

    ``sha256`` is of the decompressed payload when ``gzipped_payload`` is true
    (MNIST: the gzip wrappers differ between hosts, the IDX files do not), else
    of the file as served.
    """

    name: str
    sha256: str
    gzipped_payload: bool = False


@dataclass(frozen=True)
class DatasetSpec:
    """Where a dataset comes from and how it becomes Chainer's cache files."""

    name: str
    folder: str  # sub-folder in a mirror, e.g. "mnist"
    hosts: tuple[str, ...]  # base URLs tried in order, each ending with "/"
    files: tuple[SourceFile, ...]
    cache_dir: str  # relative to Chainer's dataset root
    cache_files: dict[str, tuple[str, ...]]  # npz file name -> keys Chainer reads
    convert: Callable[[dict[str, Path], Path], None]  # (verified sources, cache dir) -> writes npz


class DatasetUnavailableError(RuntimeError):
    """No source gave a verified copy of a dataset."""


class VerificationError(ValueError):
    """A file is truncated, corrupt or not the expected one."""


# --------------------------------------------------------------------------- converters


def _read_idx(path: Path, magic: int, ndim: int) -> np.ndarray:
    """Read a gzipped IDX file (MNIST's format) into a uint8 array, checking its header."""
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise VerificationError(f"{path.name}: not a complete gzip file ({e})") from e
    header = 4 + 4 * ndim
    if len(raw) < header or int.from_bytes(raw[:4], "big") != magic:
        raise VerificationError(f"{path.name}: not an IDX file with magic number {magic}")
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    if len(raw) != header + int(np.prod(dims)):
        raise VerificationError(f"{path.name}: IDX size does not match its header {dims}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims[0], -1)


def _write_npz(path: Path, **arrays: np.ndarray) -> None:
    """Write arrays as an uncompressed npz (Chainer reads it like its own compressed one), atomically."""

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)

    cache.write_atomically(path, write)


def _convert_mnist(sources: dict[str, Path], cache_dir: Path) -> None:
    arrays = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):  # read and check every file before writing any
        x = _read_idx(sources[f"{prefix}-images-idx3-ubyte.gz"], 2051, 3)
        y = _read_idx(sources[f"{prefix}-labels-idx1-ubyte.gz"], 2049, 1).reshape(-1)
        if len(x) != len(y) or x.shape[1] != 784:
            raise VerificationError(f"MNIST {split}: {len(x)} images of {x.shape[1]} pixels, {len(y)} labels")
        arrays[split] = {"x": x, "y": y}
    for split, pair in arrays.items():
        _write_npz(cache_dir / f"{split}.npz", **pair)


_RECONSTRUCT = np.zeros(1).__reduce__()[0]  # NumPy's array-unpickling function, whatever module holds it
_PICKLE_GLOBALS: dict[tuple[str, str], object] = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,  # how the batches name it (NumPy 1.x pickles)
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,  # the same, pickled by NumPy 2
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): codecs.encode,  # bytes pickled by Python 3 with protocol 2
}


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles CIFAR-10 batches and nothing else: only NumPy arrays, dicts, lists, strings and numbers.

    A plain ``pickle.load`` runs whatever code a crafted file names (a USB-stick mirror with its own
    SHA256SUMS is trusted for its bytes, not for that); this refuses every other global.
    """

    def find_class(self, module: str, name: str) -> object:
        try:
            return _PICKLE_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refused to load {module}.{name}: a CIFAR-10 batch holds only "
                                         "arrays, lists and strings") from None


def _unpickle(archive: tarfile.TarFile, member: str) -> dict:
    f = archive.extractfile(member)
    if f is None:
        raise VerificationError(f"CIFAR-10 archive has no file {member}")
    batch = _BatchUnpickler(f, encoding="latin-1").load()
    if not isinstance(batch, dict) or "data" not in batch or "labels" not in batch:
        raise VerificationError(f"{member} is not a CIFAR-10 batch (no data and labels)")
    return batch


def _convert_cifar10(sources: dict[str, Path], cache_dir: Path) -> None:
    try:
        with tarfile.open(sources["cifar-10-python.tar.gz"], "r:gz") as archive:
            batches = [_unpickle(archive, f"cifar-10-batches-py/data_batch_{i}") for i in range(1, 6)]
            test = _unpickle(archive, "cifar-10-batches-py/test_batch")
    except (tarfile.TarError, OSError, EOFError, KeyError, pickle.UnpicklingError) as e:
        raise VerificationError(f"CIFAR-10 archive is not readable ({e})") from e
    train_x = np.concatenate([np.asarray(b["data"], dtype=np.uint8).reshape(-1, 3072) for b in batches])
    train_y = np.concatenate([np.asarray(b["labels"], dtype=np.uint8) for b in batches])
    test_x = np.asarray(test["data"], dtype=np.uint8).reshape(-1, 3072)
    test_y = np.asarray(test["labels"], dtype=np.uint8)
    if len(train_x) != len(train_y) or len(test_x) != len(test_y):
        raise VerificationError("CIFAR-10: image and label counts differ")
    _write_npz(cache_dir / "cifar-10.npz", train_x=train_x, train_y=train_y, test_x=test_x, test_y=test_y)


# --------------------------------------------------------------------------- the two datasets

MNIST = DatasetSpec(
    name="mnist",
    folder="mnist",
    hosts=(
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
    files=(
        SourceFile("train-images-idx3-ubyte.gz", "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db", True),
        SourceFile("train-labels-idx1-ubyte.gz", "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5", True),
        SourceFile("t10k-images-idx3-ubyte.gz", "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7", True),
        SourceFile("t10k-labels-idx1-ubyte.gz", "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2", True),
    ),
    cache_dir="pfnet/chainer/mnist",
    cache_files={"train.npz": ("x", "y"), "test.npz": ("x", "y")},
    convert=_convert_mnist,
)

CIFAR10 = DatasetSpec(
    name="cifar-10",
    folder="cifar-10",
    hosts=("https://www.cs.toronto.edu/~kriz/",),
    files=(SourceFile("cifar-10-python.tar.gz", "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"),),
    cache_dir="pfnet/chainer/cifar",
    cache_files={"cifar-10.npz": ("train_x", "train_y", "test_x", "test_y")},
    convert=_convert_cifar10,
)

DATASETS: dict[str, DatasetSpec] = {"mnist": MNIST, "cifar-10": CIFAR10}

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
"""CIFAR-10 label names, in label order (as in the archive's batches.meta)."""


# --------------------------------------------------------------------------- arrays for the notebooks


def to_arrays(dataset: Sequence) -> tuple[np.ndarray, np.ndarray]:
    """A labelled Chainer dataset (or a split of one) as (flat float32 image rows, int32 labels)."""
    if len(dataset) == 0:
        raise ValueError("the dataset is empty")
    images, labels = chainer.dataset.concat_examples(dataset[:])
    return np.ascontiguousarray(images.reshape(len(images), -1)), labels


def sample_rows(n_total: int, n: int, seed: int = config.SEED) -> np.ndarray:
    """``n`` distinct row numbers out of ``n_total``, seeded, in increasing order."""
    if not 1 <= n <= n_total:
        raise ValueError(f"subset size must be between 1 and {n_total}; got {n}")
    return np.sort(np.random.default_rng(seed).choice(n_total, n, replace=False))


def subset(images: np.ndarray, labels: np.ndarray, n: int, seed: int = config.SEED) -> tuple[np.ndarray, np.ndarray]:
    """A fixed, seeded random subset of ``n`` rows (kept in their original order)."""
    rows = sample_rows(len(images), n, seed)
    return images[rows], labels[rows]


Split = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # X_train, y_train, X_test, y_test


def quick_subsets(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray) -> Split:
    """Quick mode's fixed, seeded subsets: config.QUICK_TRAIN training and config.QUICK_TEST test rows."""
    return (*subset(x_train, y_train, min(config.QUICK_TRAIN, len(x_train))),
            *subset(x_test, y_test, min(config.QUICK_TEST, len(x_test))))


def quick_datasets(train: Sequence, test: Sequence) -> tuple[Sequence, Sequence]:
    """Quick mode's subsets as Chainer datasets: the same seeded rows, in the same order, as ``quick_subsets``."""
    def cut(dataset: Sequence, n: int) -> Sequence:
        rows = sample_rows(len(dataset), min(n, len(dataset)))
        # SubDataset's ``order`` must permute the whole base dataset: the chosen rows first, then the others.
        order = np.concatenate([rows, np.setdiff1d(np.arange(len(dataset)), rows)])
        return chainer.datasets.SubDataset(dataset, 0, len(rows), order=order)

    return cut(train, config.QUICK_TRAIN), cut(test, config.QUICK_TEST)


def mnist_arrays(quick: bool | None = None, **ensure_kwargs: object) -> Split:
    """Notebook 02's steps in one call: the article's 50,000-image training split and the 10,000 test images.

    ``ensure_mnist``, ``get_mnist(withlabel=True, ndim=1)``, ``split_dataset_random(..., 50000, seed=0)``,
    then arrays; quick mode (default: ANN_TUTORIAL_QUICK) keeps the seeded subsets.
    """
    ensure_mnist(**ensure_kwargs)
    train_val, test = chainer.datasets.get_mnist(withlabel=True, ndim=1)
    train, _ = chainer.datasets.split_dataset_random(train_val, 50000, seed=0)
    return _split(train, test, quick)


def cifar10_arrays(quick: bool | None = None, **ensure_kwargs: object) -> Split:
    """Notebook 03's steps in one call: ``ensure_cifar10``, ``get_cifar10()``, then flat arrays (3072 per image)."""
    ensure_cifar10(**ensure_kwargs)
    train, test = chainer.datasets.get_cifar10()
    return _split(train, test, quick)


def _split(train: Sequence, test: Sequence, quick: bool | None) -> Split:
    """Both Chainer datasets as arrays, cut to quick mode's subsets when it is on (default: ANN_TUTORIAL_QUICK)."""
    arrays = (*to_arrays(train), *to_arrays(test))
    return quick_subsets(*arrays) if (config.quick_mode() if quick is None else quick) else arrays


# --------------------------------------------------------------------------- verification


def sha256_of(path: Path, payload: bool = False) -> str:
    """SHA-256 of a file, or of its gunzipped payload when ``payload`` is true."""
    digest = hashlib.sha256()
    try:
        with (gzip.open(path, "rb") if payload else open(path, "rb")) as f:
            while block := f.read(CHUNK):
                digest.update(block)
    except (OSError, EOFError) as e:  # gzip raises BadGzipFile (an OSError) or EOFError when cut short
        raise VerificationError(f"{path.name}: not a complete gzip file ({e})") from e
    return digest.hexdigest()


def read_manifest(folder: Path) -> dict[str, str] | None:
    """Read ``SHA256SUMS`` (``<hash>  <relative path>`` lines) if the folder has one."""
    path = folder / MANIFEST
    if not path.is_file():
        return None
    entries = {}
    for line in path.read_text().splitlines():
        if line.strip():
            digest, _, name = line.strip().partition(" ")
            entries[name.strip().lstrip("*")] = digest.lower()
    return entries


def verify(path: Path, source: SourceFile, manifest_sha: str | None = None) -> None:
    """Raise VerificationError unless ``path`` is the right file.

    With a manifest entry the file as stored must match it; without one the
    official checksum applies.
    """
    if manifest_sha is not None:
        expected, got = manifest_sha, sha256_of(path)
        what = "the mirror's SHA256SUMS"
    else:
        expected, got = source.sha256, sha256_of(path, payload=source.gzipped_payload)
        what = "the official checksum" + (" of the decompressed file" if source.gzipped_payload else "")
    if got != expected:
        raise VerificationError(f"{path.name}: SHA-256 {got[:12]}… does not match {what} ({expected[:12]}…)")


# --------------------------------------------------------------------------- fetching


def _download(url: str, dest: Path, timeout: float, show_progress: bool) -> None:
    """Download ``url`` to ``dest``, failing on a short read."""
    request = urllib.request.Request(url, headers={"User-Agent": "ann-tutorial/1.0 (+python urllib)"})
    with urllib.request.urlopen(request, timeout=timeout) as response, open(dest, "wb") as out:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        received = 0
        with Progress(f"download {url.rsplit('/', 1)[-1]}", total=total, unit="B", enabled=show_progress) as bar:
            try:
                while block := response.read(CHUNK):
                    out.write(block)
                    received += len(block)
                    bar.update(len(block))
            except http.client.IncompleteRead as e:
                received += len(e.partial)
    if total is not None and received != total:
        raise VerificationError(f"{dest.name}: received {received:,} of {total:,} bytes (truncated)")


def _describe(error: BaseException, timeout: float) -> str:
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    reason = getattr(error, "reason", error)
    if isinstance(reason, (TimeoutError, socket.timeout)) or isinstance(error, (TimeoutError, socket.timeout)):
        return f"no answer within {timeout:g} s"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, socket.gaierror):
        return "host name not found (offline?)"
    return str(reason) or type(error).__name__


def fetch_sources(spec: DatasetSpec, dest: Path, mirror: Path | None = None, timeout: float = 30.0,
                  show_progress: bool = True, log: Callable[[str], None] = print) -> dict[str, Path]:
    """Put a verified copy of each of ``spec``'s files in ``dest``; return their paths.

    With a mirror, files come only from it (nothing is downloaded); else the
    public hosts are tried in order. Raises DatasetUnavailableError listing
    every attempt when a file cannot be had.
    """
    dest.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(mirror) if mirror is not None else None
    fetched: dict[str, Path] = {}
    for source in spec.files:
        target = dest / source.name
        part = dest / (source.name + ".part")
        attempts: list[str] = []
        if mirror is not None:
            rel = f"{spec.folder}/{source.name}"
            origin = mirror / rel
            try:
                if not origin.is_file():
                    raise FileNotFoundError(f"no file {origin}")
                if manifest is not None and rel not in manifest:
                    raise VerificationError(f"{rel} is not listed in {mirror / MANIFEST}")
                shutil.copyfile(origin, part)
                verify(part, source, manifest.get(rel) if manifest is not None else None)
            except (OSError, VerificationError) as e:
                part.unlink(missing_ok=True)
                attempts.append(f"mirror {origin}: {e}")
            else:
                os.replace(part, target)
                fetched[source.name] = target
                continue
        else:
            for number, host in enumerate(spec.hosts, 1):
                url = host + source.name
                try:
                    _download(url, part, timeout, show_progress)
                    verify(part, source)
                except (OSError, VerificationError, urllib.error.URLError) as e:
                    part.unlink(missing_ok=True)
                    attempts.append(f"{url}: {_describe(e, timeout)}")
                    then = ", trying the next host" if number < len(spec.hosts) else ""
                    log(f"  {spec.name}: {url} failed ({_describe(e, timeout)}){then}")
                else:
                    os.replace(part, target)
                    fetched[source.name] = target
                    break
        if source.name not in fetched:
            raise DatasetUnavailableError(_failure_message(spec, source, attempts, mirror))
    return fetched


def _failure_message(spec: DatasetSpec, source: SourceFile, attempts: list[str], mirror: Path | None) -> str:
    tried = "\n".join(f"  - {a}" for a in attempts)
    layout = f"{spec.folder}/{source.name}"
    if mirror is not None:
        way_out = (f"Fix the mirror folder {mirror} (it must hold {layout}, and any SHA256SUMS there must list it), "
                   f"or unset {MIRROR_ENV} to download from the public hosts.")
    else:
        way_out = (f"Two ways out: connect to the internet and run this again, or set {MIRROR_ENV} to a folder "
                   f"that holds {layout} (an instructor can make one with `python -m helpers.datasets --export DIR`).")
    return f"Could not get a verified copy of {spec.name} file {source.name}. Tried:\n{tried}\n{way_out}"


# --------------------------------------------------------------------------- Chainer's cache


def chainer_dataset_root() -> Path:
    """Chainer's dataset root (``CHAINER_DATASET_ROOT`` or ``~/.chainer/dataset``)."""
    return Path(chainer_download.get_dataset_root())


def cache_is_complete(spec: DatasetSpec, root: Path) -> bool:
    """True if every npz Chainer reads for ``spec`` exists and holds the expected keys."""
    for name, keys in spec.cache_files.items():
        path = root / spec.cache_dir / name
        try:
            with zipfile.ZipFile(path) as z:
                if {f"{k}.npy" for k in keys} - set(z.namelist()):
                    return False
        except (OSError, zipfile.BadZipFile):
            return False
    return True


def ensure_dataset(name: str | DatasetSpec, mirror: str | Path | None = None, timeout: float = 30.0,
                   dataset_root: str | Path | None = None, show_progress: bool = True,
                   log: Callable[[str], None] = print) -> Path:
    """Make sure Chainer's cache holds ``name`` ("mnist" or "cifar-10"); return the cache folder.

    Already cached: returns at once, no network. Else the files come from
    ``mirror`` (default: ANN_TUTORIAL_MIRROR) or from the public hosts, are
    verified, and are converted to Chainer's npz files.
    """
    spec = name if isinstance(name, DatasetSpec) else _spec(name)
    root = Path(dataset_root) if dataset_root is not None else chainer_dataset_root()
    cache_dir = root / spec.cache_dir
    if cache_is_complete(spec, root):
        log(f"{spec.name}: already in Chainer's cache")
        return cache_dir
    mirror_path = Path(mirror).expanduser() if mirror is not None else config.mirror_from_env()
    where = "the mirror folder" if mirror_path else "the public hosts"
    log(f"{spec.name}: not in Chainer's cache yet; fetching from {where}")
    with tempfile.TemporaryDirectory(prefix=f"ann-tutorial-{spec.name}-") as tmp:
        sources = fetch_sources(spec, Path(tmp), mirror_path, timeout, show_progress, log)
        spec.convert(sources, cache_dir)
    log(f"{spec.name}: verified and written to Chainer's cache")
    return cache_dir


def ensure_mnist(**kwargs: object) -> Path:
    """``ensure_dataset("mnist", ...)``: after it, ``chainer.datasets.get_mnist()`` works offline."""
    return ensure_dataset("mnist", **kwargs)  # type: ignore[arg-type]


def ensure_cifar10(**kwargs: object) -> Path:
    """``ensure_dataset("cifar-10", ...)``: after it, ``chainer.datasets.get_cifar10()`` works offline."""
    return ensure_dataset("cifar-10", **kwargs)  # type: ignore[arg-type]


def _spec(name: str) -> DatasetSpec:
    key = name.lower().replace("_", "-").replace("cifar10", "cifar-10")
    if key not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    return DATASETS[key]


def export_mirror(dest: str | Path, names: Sequence[str] = tuple(DATASETS), mirror: str | Path | None = None,
                  timeout: float = 30.0, show_progress: bool = True,
                  log: Callable[[str], None] = print) -> Path:
    """Write a mirror folder (``mnist/…``, ``cifar-10/…``, ``SHA256SUMS``) to hand to a room.

    Files are fetched and verified exactly as ``ensure_dataset`` does. The
    manifest lists every file in the folder, so a learner's loader checks the
    copy it was given.
    """
    dest = Path(dest).expanduser()
    mirror_path = Path(mirror).expanduser() if mirror is not None else config.mirror_from_env()
    if mirror_path is not None and mirror_path.resolve() == dest.resolve():
        raise ValueError("the export folder must differ from the mirror it reads from")
    for name in names:
        spec = _spec(name)
        fetch_sources(spec, dest / spec.folder, mirror_path, timeout, show_progress, log)
    lines = []
    for spec in DATASETS.values():
        for source in spec.files:
            path = dest / spec.folder / source.name
            if path.is_file():
                lines.append(f"{sha256_of(path)}  {spec.folder}/{source.name}")
    (dest / MANIFEST).write_text("\n".join(lines) + "\n")
    log(f"mirror written to {dest} ({len(lines)} files, {MANIFEST} included)")
    return dest


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: fetch, verify and cache the datasets; optionally export a mirror."""
    parser = argparse.ArgumentParser(prog="python -m helpers.datasets", description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", metavar="DATASET", help="mnist and/or cifar-10 (default: both)")
    parser.add_argument("--mirror", help=f"read from this mirror folder (default: ${MIRROR_ENV})")
    parser.add_argument("--export", metavar="DIR", help="also write a mirror folder with SHA256SUMS to DIR")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for a host (default 30)")
    args = parser.parse_args(argv)
    try:
        names = [_spec(n).name for n in args.names] or list(DATASETS)
        mirror = args.mirror
        if args.export:
            export_mirror(args.export, names, mirror=mirror, timeout=args.timeout)
            mirror = args.export  # fill the cache from what was just exported: no second download
        for name in names:
            ensure_dataset(name, mirror=mirror, timeout=args.timeout)
        print(f"Chainer's dataset cache: {chainer_dataset_root()}")
    except (DatasetUnavailableError, VerificationError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
