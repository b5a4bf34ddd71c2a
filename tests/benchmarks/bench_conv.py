"""Benchmark: one training step of notebook 06's network, Chainer's own NCHW convolution vs helpers.features'.

Run:  python tests/benchmarks/bench_conv.py [batch size, default 128]

Both networks have the same layers in the same order (conv 3 x 3 -> max pool 2 x 2 -> batch norm -> ReLU per
stage, widths 32/64/128/128, global max pool, cosine classifier) and the same number of weights. One uses
``F.convolution_2d`` and ``F.max_pooling_2d`` on channels-first arrays, as a Chainer tutorial would; the other
is ``features.SmallConvNet`` (channels last, its own 3 x 3 convolution). Both take the same random batches on
the same optimiser; the median of several steps after a warm-up is reported, and their ratio, from one run.
"""

from __future__ import annotations

import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from helpers import features  # noqa: E402  (before Chainer: the compat layer)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import chainer  # noqa: E402
    import chainer.functions as F  # noqa: E402
    import chainer.links as L  # noqa: E402


class ChainerStyleNet(chainer.Chain):
    """``SmallConvNet``'s layers written with Chainer's own channels-first convolution and pooling."""

    def __init__(self, widths: tuple[int, ...] = (32, 64, 128, 128), scale: float = 16.0) -> None:
        super().__init__()
        self.widths, self.scale = widths, scale
        with self.init_scope():
            channels = 3
            for i, width in enumerate(widths):
                setattr(self, f"conv{i}", L.Convolution2D(channels, width, 3, pad=1, nobias=True))
                setattr(self, f"norm{i}", L.BatchNormalization(width))
                channels = width
            self.class_directions = chainer.Parameter(np.random.default_rng(0).standard_normal(
                (10, channels)).astype(np.float32))

    def forward(self, x: np.ndarray) -> chainer.Variable:
        h = x
        for i in range(len(self.widths)):
            h = getattr(self, f"conv{i}")(h)
            if i < len(self.widths) - 1:
                h = F.max_pooling_2d(h, 2)
            h = F.relu(getattr(self, f"norm{i}")(h))
        embedding = F.normalize(F.max(h, axis=(2, 3)))
        return self.scale * F.matmul(embedding, F.normalize(self.class_directions), transb=True)


def median_step_seconds(model: chainer.Chain, x: np.ndarray, y: np.ndarray, steps: int = 8) -> float:
    optimizer = chainer.optimizers.NesterovAG(lr=0.01, momentum=0.9)
    optimizer.setup(model)
    times = []
    for step in range(steps + 2):
        start = time.perf_counter()
        loss = F.softmax_cross_entropy(model(x), y)
        model.cleargrads()
        loss.backward()
        optimizer.update()
        if step >= 2:  # the first two are warm-up
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    batch = int(sys.argv[1]) if len(sys.argv) > 1 else 128
    rng = np.random.default_rng(0)
    images = rng.random((batch, 3, 32, 32), dtype=np.float32)
    labels = rng.integers(0, 10, batch).astype(np.int32)
    ours = features.SmallConvNet()
    theirs = ChainerStyleNet()
    count = [sum(p.size for p in m.params()) for m in (ours, theirs)]
    assert count[0] == count[1], count  # the same network, written two ways
    with chainer.using_config("train", True):
        t_theirs = median_step_seconds(theirs, images, labels)
        t_ours = median_step_seconds(ours, ours.prepare(images), labels)
    print(f"batch {batch}, {count[0]:,} weights each; median training step:")
    print(f"  Chainer's convolution (NCHW):        {t_theirs * 1000:7.0f} ms  ({t_theirs * 50000 / batch:5.0f} s per epoch)")
    print(f"  helpers.features (channels last):    {t_ours * 1000:7.0f} ms  ({t_ours * 50000 / batch:5.0f} s per epoch)")
    print(f"  ratio: {t_theirs / t_ours:.1f}x")


if __name__ == "__main__":
    main()
