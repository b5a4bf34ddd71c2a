"""The real datasets from the shared mirror, through Chainer's own API.

CI sets ANN_TUTORIAL_MIRROR to ../shared/datasets. Without a mirror these
tests use whatever Chainer's cache already holds and skip (saying so) rather
than download 180 MB behind the user's back.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from helpers import cache, datasets

MIRROR = os.environ.get(datasets.MIRROR_ENV)  # read before the autouse fixture clears it


def _ensure(name: str, root: Path) -> None:
    spec = datasets.DATASETS[name]
    if MIRROR:
        datasets.ensure_dataset(name, mirror=MIRROR, dataset_root=root, show_progress=False, log=lambda s: None)
    elif not datasets.cache_is_complete(spec, root):
        pytest.skip(f"set {datasets.MIRROR_ENV} to a mirror folder to test the real {name} data")


def test_real_mnist_through_chainer() -> None:
    import chainer

    root = datasets.chainer_dataset_root()
    _ensure("mnist", root)
    train, test = chainer.datasets.get_mnist(withlabel=True, ndim=1)
    assert (len(train), len(test)) == (60000, 10000)
    x, y = chainer.dataset.concat_examples(test[:])
    assert x.shape == (10000, 784) and x.dtype == np.float32 and y.dtype == np.int32
    assert 0.0 == x.min() and x.max() == 1.0
    assert np.bincount(y).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    train_val, _ = chainer.datasets.get_mnist(withlabel=True, ndim=1)
    first, _ = chainer.datasets.split_dataset_random(train_val, 50000, seed=0)
    assert len(first) == 50000
    # The article's split is the same on every Python/NumPy the series supports (and MNIST is the original
    # data on every honest mirror): same labels in the same order, and the same pixels bit for bit.
    x, y = chainer.dataset.concat_examples(first[:])
    assert y[:10].tolist() == [3, 6, 6, 6, 0, 3, 6, 2, 5, 6]
    assert cache.content_key(x, y) == "f9a5efd8043e9ec417414f241a4c1d5b"


def test_real_cifar10_through_chainer() -> None:
    import chainer

    root = datasets.chainer_dataset_root()
    _ensure("cifar-10", root)
    train, test = chainer.datasets.get_cifar10()
    assert (len(train), len(test)) == (50000, 10000)
    x, y = train[0]
    assert x.shape == (3, 32, 32) and x.dtype == np.float32 and y.dtype == np.int32
    _, train_labels = chainer.dataset.concat_examples(train[:])
    assert train_labels[:10].tolist() == [6, 9, 9, 4, 1, 1, 2, 7, 8, 3]  # the original training order
    _, test_labels = chainer.dataset.concat_examples(test[:])
    assert np.bincount(train_labels).tolist() == [5000] * 10
    assert np.bincount(test_labels).tolist() == [1000] * 10


@pytest.mark.parametrize("name", ["mnist", "cifar-10"])
def test_quick_datasets_are_quick_subsets_of_the_real_data(name: str) -> None:
    """Quick mode's Chainer datasets (notebooks 02, 03) hold the same rows, in the same order, as its arrays."""
    import chainer

    _ensure(name, datasets.chainer_dataset_root())
    if name == "mnist":
        train_val, test = chainer.datasets.get_mnist(withlabel=True, ndim=1)
        train, _ = chainer.datasets.split_dataset_random(train_val, 50000, seed=0)
    else:
        train, test = chainer.datasets.get_cifar10()
    quick_train, quick_test = datasets.quick_datasets(train, test)
    assert (len(quick_train), len(quick_test)) == (10_000, 1_000)
    got = (*datasets.to_arrays(quick_train), *datasets.to_arrays(quick_test))
    want = datasets.quick_subsets(*datasets.to_arrays(train), *datasets.to_arrays(test))
    for a, b in zip(got, want, strict=True):
        np.testing.assert_array_equal(a, b)
