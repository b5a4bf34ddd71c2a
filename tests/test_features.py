"""helpers.fast_conv and helpers.features on tiny data: the convolution against Chainer's own, a network built with
it learning, and the caches of trained weights and embeddings (notebook 06's network itself is tested by running
notebook 06)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import chainer  # conftest.py has imported helpers already (the compat layer comes first)
import chainer.functions as F
import chainer.links as L
import numpy as np
import pytest
from chainer import gradient_check

from helpers import cache, fast_conv, features


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr("helpers.config.CACHE_DIR", tmp_path / "cache")
    monkeypatch.delenv("ANN_TUTORIAL_QUICK", raising=False)
    return tmp_path / "cache"


def stripes(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two classes of noisy 32 × 32 colour images, channels last: horizontal stripes (0), vertical stripes (1)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n).astype(np.int32)
    lines = (np.arange(32) // 2 % 2).astype(np.float32)
    images = np.empty((n, 32, 32, 3), dtype=np.float32)
    images[labels == 0] = lines[None, :, None, None]
    images[labels == 1] = lines[None, None, :, None]
    images = 0.5 * images - 0.25 + rng.normal(0, 0.15, images.shape).astype(np.float32)
    return images, labels


class TinyNet(chainer.Chain):
    """Two 3 × 3 convolutions of fast_conv, batch norm over channels last, a global max pool, a linear layer."""

    def __init__(self, seed: int = 3) -> None:
        super().__init__()
        rng = np.random.default_rng(seed)
        with self.init_scope():
            self.conv1, self.conv2 = fast_conv.Conv3x3(3, 4, rng), fast_conv.Conv3x3(4, 8, rng)
            self.bn = L.BatchNormalization(8, axis=(0, 1, 2))
            self.out = L.Linear(8, 2, initialW=rng.standard_normal((2, 8)).astype(np.float32) * 0.1)

    def embed(self, x: np.ndarray) -> chainer.Variable:
        return F.max(F.relu(self.bn(self.conv2(F.relu(self.conv1(x))))), axis=(1, 2))

    def forward(self, x: np.ndarray) -> chainer.Variable:
        return self.out(self.embed(x))


def train_tiny(model: TinyNet, images: np.ndarray, labels: np.ndarray, steps: int = 40) -> list[str]:
    optimizer = chainer.optimizers.MomentumSGD(lr=0.05)
    optimizer.setup(model)
    rng = np.random.default_rng(0)
    with chainer.using_config("train", True):
        for _ in range(steps):
            rows = rng.choice(len(images), 16, replace=False)
            loss = F.softmax_cross_entropy(model(images[rows]), labels[rows])
            model.cleargrads()
            loss.backward()
            optimizer.update()
    return [f"{steps} steps, last loss {float(loss.array):.3f}"]


def chainers_weights(W: np.ndarray, c_in: int) -> np.ndarray:
    """``fast_conv``'s weights, rows ordered (dy, dx, c_in), in ``F.convolution_2d``'s layout (c_out, c_in, dy, dx)."""
    return W.reshape(3, 3, c_in, W.shape[1]).transpose(3, 2, 0, 1)


def test_conv3x3_matches_chainers_convolution_and_its_gradient_checks() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 5, 6, 3))       # channels last, odd sizes
    W = rng.standard_normal((27, 4))            # rows ordered (dy, dx, c_in)
    expected = F.convolution_2d(x.transpose(0, 3, 1, 2), chainers_weights(W, 3), pad=1).array.transpose(0, 2, 3, 1)
    np.testing.assert_allclose(fast_conv.conv3x3(x, W).array, expected, rtol=1e-10, atol=1e-10)
    gradient_check.check_backward(fast_conv.conv3x3, (x, W), rng.standard_normal((2, 5, 6, 4)), dtype=np.float64)


def test_conv3x3_over_several_chunks_gives_chainers_output_and_gradients() -> None:
    rng = np.random.default_rng(1)
    n = 2 * fast_conv.CHUNK + 3                 # two whole chunks and a short one
    x = rng.standard_normal((n, 4, 5, 3))
    W = rng.standard_normal((27, 6))
    gy = rng.standard_normal((n, 4, 5, 6))
    ours_x, ours_W = chainer.Variable(x), chainer.Variable(W)
    ours = fast_conv.conv3x3(ours_x, ours_W)
    ours.grad = gy
    ours.backward()
    theirs_x, theirs_W = chainer.Variable(x.transpose(0, 3, 1, 2)), chainer.Variable(chainers_weights(W, 3))
    theirs = F.convolution_2d(theirs_x, theirs_W, pad=1)
    theirs.grad = gy.transpose(0, 3, 1, 2)
    theirs.backward()
    np.testing.assert_allclose(ours.array, theirs.array.transpose(0, 2, 3, 1), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(ours_x.grad, theirs_x.grad.transpose(0, 2, 3, 1), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(ours_W.grad, theirs_W.grad.transpose(2, 3, 1, 0).reshape(27, 6), rtol=1e-10, atol=1e-10)


def test_conv3x3_rejects_weights_of_the_wrong_shape() -> None:
    with pytest.raises(ValueError, match="9\\*c"):
        fast_conv.conv3x3(np.zeros((1, 4, 4, 3), np.float32), np.zeros((9, 2), np.float32))
    with pytest.raises(ValueError, match="positive"):
        fast_conv.Conv3x3(0, 4, np.random.default_rng(0))


def test_the_link_draws_the_same_weights_from_the_same_seed() -> None:
    first, second = (fast_conv.Conv3x3(3, 4, np.random.default_rng(5)) for _ in range(2))
    np.testing.assert_array_equal(first.W.array, second.W.array)
    assert first.W.shape == (27, 4) and first.W.dtype == np.float32
    assert 0.1 < first.W.array.std() < 0.5  # He: sqrt(2 / 27) = 0.27


def test_a_network_of_these_convolutions_learns_stripes() -> None:
    images, labels = stripes(128)
    model = TinyNet()
    train_tiny(model, images, labels)
    test_images, test_labels = stripes(64, seed=1)
    with chainer.using_config("train", False), chainer.no_backprop_mode():
        predicted = model(test_images).array.argmax(axis=1)
    assert (predicted == test_labels).mean() >= 0.9


def test_load_or_train_reuses_weights_only_for_the_same_data_settings_and_layers(cache_dir: Path) -> None:
    images, labels = stripes(64)
    fingerprint = {"data_blake2b": cache.content_key(images, labels), "settings": {"steps": 40}}
    lines: list[str] = []
    first = TinyNet()
    log, reused = features.load_or_train(first, lambda m: train_tiny(m, images, labels), fingerprint, "tiny",
                                         log=lines.append)
    assert not reused and lines == [] and len(log) == 1
    second = TinyNet()
    again, reused = features.load_or_train(second, lambda m: pytest.fail("trained again"), fingerprint, "tiny",
                                           log=lines.append)
    assert reused and again == log and features.weights_key(second) == features.weights_key(first)
    assert lines == ["reused the weights in the cache (tiny.npz); they were trained like this:", "  " + log[0]]
    other = {**fingerprint, "settings": {"steps": 41}}
    _, reused = features.load_or_train(TinyNet(), lambda m: train_tiny(m, images, labels, 41), other, "tiny",
                                       log=lines.append)
    assert not reused and lines[-1] == "cache: remaking tiny.npz: it was made from other data or parameters"
    wider = L.Linear(3072, 2)  # other layers, the same fingerprint: not the same weights
    _, reused = features.load_or_train(wider, lambda m: ["trained"], other, "tiny", log=lines.append)
    assert not reused


def test_embeddings_are_cached_per_weights_and_images(cache_dir: Path) -> None:
    images, _ = stripes(12)
    calls = []

    def embed_with(model: TinyNet):  # noqa: ANN202
        def embed(x: np.ndarray) -> np.ndarray:
            calls.append(len(x))
            with chainer.using_config("train", False), chainer.no_backprop_mode():
                return model.embed(x).array
        return embed

    model = TinyNet(seed=1)
    first = features.embeddings_cached("emb", model, images, embed_with(model))
    np.testing.assert_array_equal(features.embeddings_cached("emb", model, images, embed_with(model)), first)
    assert calls == [12] and first.shape == (12, 8)
    other = TinyNet(seed=2)
    assert not np.array_equal(features.embeddings_cached("emb", other, images, embed_with(other)), first)
    assert calls == [12, 12]


def test_saved_embeddings_are_read_back_for_the_same_images_only(cache_dir: Path) -> None:
    images, _ = stripes(12)
    with pytest.raises(FileNotFoundError, match="run notebook 06 first"):
        features.saved_embeddings("emb", images)
    model = TinyNet()
    with chainer.using_config("train", False), chainer.no_backprop_mode():
        made = features.embeddings_cached("emb", model, images, lambda x: model.embed(x).array)
    np.testing.assert_array_equal(features.saved_embeddings("emb", images), made)
    with pytest.raises(FileNotFoundError, match="run notebook 06 first"):
        features.saved_embeddings("emb", images[:6])
    (cache_dir / "emb.npy").write_bytes(b"cut short")
    with pytest.raises(FileNotFoundError, match="failed the cache's checks"):
        features.saved_embeddings("emb", images)


def test_code_key_follows_the_source_of_functions_and_classes() -> None:
    def schedule(step: int) -> float:
        return 0.1 * step

    def other_schedule(step: int) -> float:
        return 0.2 * step

    assert features.code_key(schedule, TinyNet) == features.code_key(schedule, TinyNet)
    assert features.code_key(schedule) != features.code_key(other_schedule)
    assert features.code_key(TinyNet) != features.code_key(train_tiny)  # a class counts by its methods' source
    assert features.code_key(schedule, fast_conv) != features.code_key(schedule)  # a module counts by its file
    assert features.code_key(fast_conv) == features.code_key(fast_conv)


def test_a_saved_model_loads_in_another_process_without_its_class(cache_dir: Path) -> None:
    with pytest.raises(FileNotFoundError, match="run notebook 06 first"):
        features.load_model("net")
    namespace: dict = {"__name__": "a_notebook"}  # a class defined as a notebook cell defines it: not importable
    exec("import chainer, chainer.links as L, numpy as np\n"
         "class CellNet(chainer.Chain):\n"
         "    def __init__(self):\n"
         "        super().__init__()\n"
         "        with self.init_scope():\n"
         "            self.out = L.Linear(4, 2, initialW=np.arange(8, dtype=np.float32).reshape(2, 4))\n"
         "    def forward(self, x):\n"
         "        return self.out(x) * 2\n", namespace)
    model = namespace["CellNet"]()
    path = features.save_model(model, "net")
    assert features.save_model(model, "net") == path and path.name == "net-model.pkl"
    x = np.ones((1, 4), dtype=np.float32)
    script = ("import pathlib, numpy as np; import helpers; from helpers import config, features\n"
              f"config.CACHE_DIR = pathlib.Path({str(cache_dir)!r})\n"
              "print(features.load_model('net')(np.ones((1, 4), dtype=np.float32)).array.tolist())")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "ANN_TUTORIAL_QUICK": ""})  # a new process: CellNet unknown there
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == str(model(x).array.tolist())
    model.out.W.array[...] = 0  # other weights: the saved file is replaced, not reused
    features.save_model(model, "net")
    assert np.array_equal(features.load_model("net")(x).array, np.zeros((1, 2), dtype=np.float32))


def test_the_heavy_steps_benchmark_counts_the_convolutions_notebook_06_describes() -> None:
    """Its FLOP count comes from the shapes one forward pass runs: notebook 06's 2 × 2 squares as 12 channels, then
    64, 128, 128 and 128 channels on 16 × 16, 8 × 8 and twice 4 × 4 maps."""
    from tests.benchmarks.bench_heavy_steps import conv_shapes
    from tests.notebook_code import define

    lesson = define("06-similar-images-cnn.ipynb", ("ConvBlock",), ("SmallConvNet",), setup=True)
    shapes = conv_shapes(lesson["SmallConvNet"](), np.zeros((1, 3072), np.float32))
    assert shapes == [(16, 12, 64), (8, 64, 128), (4, 128, 128), (4, 128, 128)]
