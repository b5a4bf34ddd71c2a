"""Benchmark: the series' heaviest steps against the machine's matrix-product limit, in one run, on one thread.

Run:  ANN_TUTORIAL_MIRROR=../shared/datasets .venv/bin/python tests/benchmarks/bench_heavy_steps.py [--quick]

- The limit: the rate (GFLOP/s) of single-precision matrix products on one BLAS thread, measured here first
  (best of three) at the shape of exact search's chunks: 1,024 queries by 50,000 training images, 784 (MNIST) and
  3,072 (CIFAR-10) values each. The training is held against the faster of the two.
- Exact search (``helpers.exact.exact_knn_many``, angular and euclidean together, as notebook 04 asks): every
  MNIST and CIFAR-10 test image against the 50,000 training images. Its floating-point work is the one matrix
  product, 2·m·n·d; the limit is that work at the product's rate. The rest (ranking, selection, the distances of
  the k found) is what the ratio shows.
- Notebook 06's training: the network and ``train`` from the notebook's own cells, on the first images of the
  training set for one epoch. Its work is counted from the shapes of the convolutions one forward pass runs: per
  image and 3 × 3 convolution, 2·h·w·9·c_in·c_out for the forward product, as much again for the weights'
  gradient, and as much again for the input's gradient (not for the first layer, whose input needs none).
  Everything else (batch normalisation, pooling, the optimizer, Python) is what the ratio shows; then each
  layer's convolution, forward and backward, is timed alone at its shape, to show how far each layer's products
  are from the limit, and what the rest of a step costs.

Nothing here asserts a speed: it prints each step, its limit and their ratio.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from collections.abc import Callable
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from helpers import datasets, exact, fast_conv  # noqa: E402  (helpers before chainer)
from tests.notebook_code import define  # noqa: E402

# isort: split
import chainer  # noqa: E402  (after helpers, which make it importable)


def seconds(run: Callable[[], object], repeats: int = 1) -> float:
    """The best of ``repeats`` wall-clock times of ``run()``."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def product_rate(m: int, d: int, n: int) -> float:
    """GFLOP/s of one float32 product (m, d) @ (d, n), best of three."""
    rng = np.random.default_rng(0)
    a, b = rng.random((m, d), dtype=np.float32), rng.random((n, d), dtype=np.float32)
    return 2 * m * d * n / seconds(lambda: a @ b.T, repeats=3) / 1e9


def report(step: str, took: float, gflop: float, limit_rate: float) -> None:
    limit = gflop / limit_rate
    print(f"{step:<44} {took:8.1f} s   limit {limit:7.1f} s   ratio {took / limit:5.2f}", flush=True)


def _layer_gflop(size: int, c_in: int, c_out: int, first: bool) -> float:
    """One image through one 3 × 3 convolution: the forward product, the weights' gradient and (past the first
    layer) the input's gradient, each 2·h·w·9·c_in·c_out."""
    return 2 * size * size * 9 * c_in * c_out * (2 if first else 3) / 1e9


class _ConvShapes(chainer.FunctionHook):
    """Records (map size, input channels, output channels) of each ``fast_conv`` convolution a forward pass runs."""

    name = "ConvShapes"

    def __init__(self) -> None:
        self.shapes: list[tuple[int, int, int]] = []

    def forward_preprocess(self, function: chainer.FunctionNode, in_data: tuple) -> None:
        if isinstance(function, fast_conv.Conv3x3Function):
            x, W = in_data
            self.shapes.append((x.shape[1], x.shape[3], W.shape[1]))


def conv_shapes(model: chainer.Chain, images: np.ndarray) -> list[tuple[int, int, int]]:
    """The shape of each 3 × 3 convolution of notebook 06's network, read off one forward pass of ``images``."""
    hook = _ConvShapes()
    with hook, chainer.using_config("train", False), chainer.no_backprop_mode():
        model.embed(model.prepare(images[:1]))
    return hook.shapes


def conv_seconds(batch: int, size: int, c_in: int, c_out: int, first: bool) -> float:
    """Forward and backward of ``fast_conv.conv3x3`` on one batch at one layer's shape (the input's gradient only
    past the first layer, as in training), best of five."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, size, size, c_in), dtype=np.float32)
    w = chainer.Variable(rng.standard_normal((9 * c_in, c_out), dtype=np.float32))
    gy = rng.standard_normal((batch, size, size, c_out), dtype=np.float32)

    def step() -> None:
        y = fast_conv.conv3x3(x if first else chainer.Variable(x), w)
        y.grad = gy
        y.backward()

    return seconds(step, repeats=5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 queries per dataset and 2,560 training images")
    args = parser.parse_args()
    n_queries, n_train_images = (1_000, 2_560) if args.quick else (10_000, 12_800)

    with threadpool_limits(1):
        with redirect_stdout(io.StringIO()):
            mnist, cifar = datasets.mnist_arrays(), datasets.cifar10_arrays()
        rates = {}
        for name, (train, *_) in (("MNIST", mnist), ("CIFAR-10", cifar)):
            rates[name] = product_rate(1_024, train.shape[1], len(train))
            print(f"matrix-product limit, one thread, float32, 1,024 x {train.shape[1]:,} by {train.shape[1]:,} x "
                  f"{len(train):,}: {rates[name]:.0f} GFLOP/s")
        print()
        for name, (train, _, test, _) in (("MNIST", mnist), ("CIFAR-10", cifar)):
            queries = test[:n_queries]
            took = seconds(lambda t=train, q=queries: exact.exact_knn_many(t, q, 10, ("angular", "euclidean"),
                                                                          show_progress=False))
            gflop = 2 * len(queries) * train.shape[0] * train.shape[1] / 1e9
            report(f"exact search, {name}, {len(queries):,} queries", took, gflop, rates[name])

        with redirect_stdout(io.StringIO()):  # the setup cell prints the mode, the network's cell its size
            lesson = define("06-similar-images-cnn.ipynb", ("ConvBlock",), ("SmallConvNet",),
                            ("learning_rate", "train"), setup=True)  # and SETTINGS
        settings = dict(lesson["SETTINGS"], epochs=1)
        model = lesson["SmallConvNet"]()
        images, labels = cifar[0][:n_train_images], cifar[1][:n_train_images]
        with redirect_stdout(io.StringIO()):
            took = seconds(lambda: lesson["train"](model, images, labels, **settings))
        shapes = conv_shapes(model, images)
        gflop = sum(_layer_gflop(*shape, first=i == 0) for i, shape in enumerate(shapes)) * n_train_images
        report(f"06's training, {n_train_images:,} images, one epoch", took, gflop, max(rates.values()))
        full = 50_000 * lesson["SETTINGS"]["epochs"] / n_train_images * took
        print(f"  at this rate, the notebook's {lesson['SETTINGS']['epochs']} epochs of 50,000 images: {full:.0f} s")
        steps = -(-n_train_images // settings["batch_size"])
        print(f"  one step of {settings['batch_size']} images: {took / steps * 1000:.0f} ms, of which the convolutions "
              "(forward and backward of helpers.fast_conv, alone, at each layer's shape):")
        conv_total = 0.0
        for i, (size, c_in, c_out) in enumerate(shapes):
            took_layer = conv_seconds(settings["batch_size"], size, c_in, c_out, first=i == 0)
            gflop = _layer_gflop(size, c_in, c_out, first=i == 0) * settings["batch_size"]
            conv_total += took_layer
            print(f"    {size:2d} x {size:2d}, {c_in:3d} -> {c_out:3d} channels: {took_layer * 1000:5.1f} ms, "
                  f"{gflop / took_layer:4.0f} GFLOP/s")
        print(f"    all {len(shapes)}: {conv_total * 1000:.0f} ms; the rest of the step (batch normalisation, pooling, "
              f"the optimizer, Chainer's graph): {(took / steps - conv_total) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
