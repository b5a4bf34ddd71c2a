"""helpers.features on tiny data: the convolution against Chainer's own, training, caching, embeddings."""

from __future__ import annotations

from pathlib import Path

import chainer  # conftest.py has imported helpers already (the compat layer comes first)
import chainer.functions as F
import numpy as np
import pytest
from chainer import gradient_check

from helpers import features

TINY = features.TrainingSettings(widths=(4, 8), epochs=4, batch_size=16, learning_rate=0.2, seed=3)


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr("helpers.config.CACHE_DIR", tmp_path / "cache")
    monkeypatch.delenv("ANN_TUTORIAL_QUICK", raising=False)
    return tmp_path / "cache"


def stripes(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two classes of noisy 32 × 32 colour images: horizontal stripes (0) and vertical stripes (1)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n).astype(np.int32)
    lines = (np.arange(32) // 2 % 2).astype(np.float32)
    images = np.empty((n, 3, 32, 32), dtype=np.float32)
    images[labels == 0] = lines[None, None, :, None]
    images[labels == 1] = lines[None, None, None, :]
    images = 0.25 + 0.5 * images + rng.normal(0, 0.15, images.shape).astype(np.float32)
    return images.reshape(n, -1), labels


def test_conv3x3_matches_chainers_convolution_and_its_gradient_checks() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 5, 6, 3))       # channels last, odd sizes
    W = rng.standard_normal((27, 4))            # rows ordered (dy, dx, c_in)
    as_chainer = W.reshape(3, 3, 3, 4).transpose(3, 2, 0, 1)  # (c_out, c_in, dy, dx)
    expected = F.convolution_2d(x.transpose(0, 3, 1, 2), as_chainer, pad=1).array.transpose(0, 2, 3, 1)
    np.testing.assert_allclose(features.conv3x3(x, W).array, expected, rtol=1e-10, atol=1e-10)
    gradient_check.check_backward(features.conv3x3, (x, W), rng.standard_normal((2, 5, 6, 4)), dtype=np.float64)


def test_conv3x3_rejects_weights_of_the_wrong_shape() -> None:
    with pytest.raises(ValueError, match="9\\*c"):
        features.conv3x3(np.zeros((1, 4, 4, 3), np.float32), np.zeros((9, 2), np.float32))


def test_max_pool_matches_chainers() -> None:
    x = np.random.default_rng(1).standard_normal((2, 4, 6, 3)).astype(np.float32)
    expected = F.max_pooling_2d(x.transpose(0, 3, 1, 2), 2).array.transpose(0, 2, 3, 1)
    np.testing.assert_array_equal(features.max_pool_2x2(chainer.Variable(x)).array, expected)


def test_the_network_accepts_chainers_layouts_and_rejects_others() -> None:
    model = features.SmallConvNet((4, 8))
    images, _ = stripes(3)
    flat = features.embed(model, images, show_progress=False)
    assert flat.shape == (3, 8) and flat.dtype == np.float32
    np.testing.assert_allclose(features.embed(model, images.reshape(3, 3, 32, 32), show_progress=False), flat,
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(features.embed(model, images[0].reshape(3, 32, 32), show_progress=False), flat[:1],
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="shape"):
        model.prepare(np.zeros((2, 32, 32, 3), np.float32))  # channels last: not Chainer's layout
    with pytest.raises(ValueError, match="widths"):
        features.SmallConvNet((4, 0))


def test_the_seed_decides_the_initial_weights() -> None:
    key = features.weights_key
    assert key(features.SmallConvNet((4, 8), seed=1)) == key(features.SmallConvNet((4, 8), seed=1))
    assert key(features.SmallConvNet((4, 8), seed=1)) != key(features.SmallConvNet((4, 8), seed=2))


def test_the_learning_rate_warms_up_then_decays_to_zero() -> None:
    s = features.TrainingSettings(learning_rate=0.1, warm_up=0.2)
    rates = [features.learning_rate_at(step, 100, s) for step in range(101)]
    assert rates[0] == 0 and rates[20] == pytest.approx(0.1) and rates[100] == 0
    assert max(rates) == pytest.approx(0.1)
    steps = np.diff(rates)
    assert (steps[:20] > 0).all() and (steps[20:] < 0).all()


def test_training_learns_a_separable_task_and_is_reproducible() -> None:
    images, labels = stripes(192)
    lines: list[str] = []
    trained = features.train(images, labels, TINY, log=lines.append, show_progress=False)
    assert [r.epoch for r in trained.history] == [1, 2, 3, 4] and len(lines) == 4
    assert trained.history[-1].loss < trained.history[0].loss
    test_images, test_labels = stripes(64, seed=1)
    assert features.accuracy(trained.model, test_images, test_labels) >= 0.9
    again = features.train(images, labels, TINY, log=lambda _: None, show_progress=False)
    assert features.weights_key(again.model) == features.weights_key(trained.model)


def test_embeddings_of_one_class_point_the_same_way() -> None:
    images, labels = stripes(192)
    model = features.train(images, labels, TINY, log=lambda _: None, show_progress=False).model
    unit = features.embed(model, images, show_progress=False)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    nearest = (unit @ unit.T - 2 * np.eye(len(unit))).argmax(axis=1)  # exact 1-NN by cosine, self excluded
    assert (labels[nearest] == labels).mean() >= 0.9


def test_training_rejects_too_little_data() -> None:
    images, labels = stripes(8)
    with pytest.raises(ValueError, match="batch"):
        features.train(images, labels, TINY, show_progress=False)
    with pytest.raises(ValueError, match="invalid"):
        features.TrainingSettings(epochs=0)


def test_weights_are_cached_reused_and_retrained_when_damaged_or_changed(cache_dir: Path) -> None:
    images, labels = stripes(64)
    settings = features.TrainingSettings(widths=(4, 8), epochs=1, batch_size=16, seed=3)
    lines: list[str] = []
    first = features.train_or_load(images, labels, settings, name="tiny", log=lines.append, show_progress=False)
    assert not first.reused and first.path == cache_dir / "tiny.npz"
    second = features.train_or_load(images, labels, settings, name="tiny", log=lines.append, show_progress=False)
    assert second.reused and features.weights_key(second.model) == features.weights_key(first.model)
    assert [r.loss for r in second.history] == pytest.approx([r.loss for r in first.history])
    assert any("reused the weights" in line for line in lines)

    first.path.write_bytes(first.path.read_bytes()[:100])  # cut short
    lines.clear()
    third = features.train_or_load(images, labels, settings, name="tiny", log=lines.append, show_progress=False)
    assert not third.reused and any("remaking tiny.npz" in line for line in lines)

    other = features.TrainingSettings(widths=(4, 8), epochs=1, batch_size=16, seed=4)
    fourth = features.train_or_load(images, labels, other, name="tiny", log=lambda _: None, show_progress=False)
    assert not fourth.reused and features.weights_key(fourth.model) != features.weights_key(first.model)


def test_embeddings_are_cached_per_model_and_images(cache_dir: Path) -> None:
    images, _ = stripes(20)
    model = features.SmallConvNet((4, 8), seed=1)
    first = features.embed_cached(model, images, "emb", show_progress=False)
    assert (cache_dir / "emb.npy").is_file()
    np.testing.assert_array_equal(features.embed_cached(model, images, "emb", show_progress=False), first)
    other = features.embed_cached(features.SmallConvNet((4, 8), seed=2), images, "emb", show_progress=False)
    assert not np.allclose(other, first)
