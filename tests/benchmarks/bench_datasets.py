"""Benchmark: fill Chainer's cache from a mirror, our NumPy path vs Chainer's own parser; then load from each.

Run:  ANN_TUTORIAL_MIRROR=../shared/datasets python tests/benchmarks/bench_datasets.py
Each path fills a fresh, empty Chainer dataset root. Chainer's own path is fed
the same mirror files through its download cache (no network), so both parse
identical bytes; the arrays they produce are compared too. Then each cache is loaded with Chainer's
``get_mnist()`` / ``get_cifar10()`` (best of three): ours holds uncompressed npz files, Chainer's compressed ones.
"""

from __future__ import annotations

import functools
import hashlib
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from helpers import config, datasets  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import chainer  # noqa: E402
    from chainer.dataset import download  # noqa: E402


def seed_chainer_download_cache(root: Path, spec: datasets.DatasetSpec, mirror: Path, url_base: str) -> None:
    """Put the mirror's files where Chainer's cached_download looks for url_base + name."""
    cache = root / "_dl_cache"
    cache.mkdir(parents=True, exist_ok=True)
    for source in spec.files:
        url = url_base + source.name
        shutil.copyfile(mirror / spec.folder / source.name, cache / hashlib.md5(url.encode()).hexdigest())


def timed(label: str, fn) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn()
    elapsed = time.perf_counter() - start
    print(f"{label:<45} {elapsed:7.2f} s")
    return elapsed, result


def main() -> None:
    mirror = config.mirror_from_env()
    if mirror is None:
        sys.exit(f"set {datasets.MIRROR_ENV} to the mirror folder")
    loaders = {
        "mnist": (datasets.MNIST, "http://yann.lecun.com/exdb/mnist/", lambda: chainer.datasets.get_mnist()),
        "cifar-10": (datasets.CIFAR10, "https://www.cs.toronto.edu/~kriz/", lambda: chainer.datasets.get_cifar10()),
    }
    for name, (spec, url_base, load) in loaders.items():
        with tempfile.TemporaryDirectory() as ours, tempfile.TemporaryDirectory() as theirs:
            fill = functools.partial(datasets.ensure_dataset, spec, mirror=mirror, dataset_root=ours,
                                     show_progress=False, log=lambda s: None)
            t_ours, _ = timed(f"{name}: helpers.datasets (NumPy) fill", fill)
            download.set_dataset_root(ours)
            ours_data = load()
            seed_chainer_download_cache(Path(theirs), spec, mirror, url_base)
            download.set_dataset_root(theirs)
            t_theirs, theirs_data = timed(f"{name}: Chainer's own parser fill", load)
            same = all(np.array_equal(a._datasets[i], b._datasets[i])
                       for a, b in zip(ours_data, theirs_data, strict=True) for i in range(2))
            print(f"{name}: arrays identical: {same}; fill speed-up {t_theirs / t_ours:.1f}x")
            loads = []
            for label, root in (("our cache (uncompressed npz)", ours), ("Chainer's cache (compressed npz)", theirs)):
                download.set_dataset_root(root)
                loads.append(min(timed(f"{name}: load from {label}", load)[0] for _ in range(3)))
            print(f"{name}: later loads {loads[1] / loads[0]:.1f}x faster from our cache (best of three each)")


if __name__ == "__main__":
    main()
