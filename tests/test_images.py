"""helpers.images and helpers.image_search: image files in, clear errors out, ids mapped back to labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import features, image_search, images, index, vectors


def write(path: Path, mode: str, size: tuple[int, int], colour: object, **save: object) -> Path:
    Image.new(mode, size, colour).save(path, **save)
    return path


def test_the_shipped_sample_is_the_drawn_one() -> None:
    loaded = images.load_image(images.SAMPLE_IMAGE)
    assert loaded.shape == (3, 32, 32) and loaded.dtype == np.float32
    np.testing.assert_array_equal(loaded, images.draw_sample_image())


def test_a_32x32_rgb_file_loads_in_chainers_layout(tmp_path: Path) -> None:
    path = write(tmp_path / "red.jpg", "RGB", (32, 32), (255, 0, 0), quality=100)
    loaded = images.load_image(path)
    assert loaded.shape == (3, 32, 32)
    assert loaded[0].min() > 0.95 and loaded[1:].max() < 0.05  # channel 0 is red
    round_trip = tmp_path / "again.png"
    images.save_image(loaded, round_trip)
    np.testing.assert_allclose(images.load_image(round_trip), loaded, atol=1 / 255)


def test_a_file_that_is_not_an_image_is_named(tmp_path: Path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("not a picture")
    with pytest.raises(images.ImageFileError, match="notes.png is not an image file"):
        images.load_image(path)
    with pytest.raises(FileNotFoundError, match="no image file"):
        images.load_image(tmp_path / "missing.png")


@pytest.mark.parametrize(("mode", "colour", "word"), [("L", 128, "greyscale"), ("RGBA", (0, 0, 255, 0), "RGBA"),
                                                      ("P", 3, "palette")])
def test_other_modes_are_refused_unless_asked_to_fit(tmp_path: Path, mode: str, colour: object, word: str) -> None:
    path = write(tmp_path / "odd.png", mode, (32, 32), colour)
    with pytest.raises(images.ImageFileError, match=f"{word}.*fit=True"):
        images.load_image(path)
    fitted = images.load_image(path, fit=True)
    assert fitted.shape == (3, 32, 32)
    if mode == "RGBA":  # fully transparent pixels become white, not the hidden blue
        np.testing.assert_allclose(fitted, 1.0)


def test_other_sizes_are_refused_unless_asked_to_fit(tmp_path: Path) -> None:
    image = Image.new("RGB", (120, 60), (0, 0, 0))
    image.paste((0, 255, 0), (30, 0, 90, 60))  # the centre square is green, the sides black
    path = tmp_path / "wide.png"
    image.save(path)
    with pytest.raises(images.ImageFileError, match="120 x 60 pixels.*32 x 32.*fit=True"):
        images.load_image(path)
    fitted = images.load_image(path, fit=True)
    assert fitted.shape == (3, 32, 32)
    assert fitted[1].mean() > 0.95 and fitted[0].max() < 0.05  # only the centre square was kept


def test_save_image_rejects_other_shapes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="shape"):
        images.save_image(np.zeros((32, 32, 3)), tmp_path / "x.png")


# --------------------------------------------------------------------------- image_search


@pytest.fixture(scope="module")
def small_world() -> tuple[features.SmallConvNet, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    train_images = rng.random((40, 3 * 32 * 32), dtype=np.float32)
    labels = np.arange(40, dtype=np.int32) % 4
    return features.SmallConvNet((4, 8), n_classes=4, seed=1), train_images, labels


def embedding_index(model: features.SmallConvNet, train_images: np.ndarray):  # noqa: ANN201
    unit = vectors.normalise(features.embed(model, train_images, show_progress=False))
    return index.build_index(unit, "angular", 5, show_progress=False)


def test_search_maps_ids_to_labels_and_finds_an_image_itself(small_world) -> None:  # noqa: ANN001
    model, train_images, labels = small_world
    names = ["a", "b", "c", "d"]
    search = image_search.ImageSearch(model, embedding_index(model, train_images), train_images, labels, names,
                                      threshold=0.5, search_k=1000)
    result = search.search(train_images[13].reshape(3, 32, 32), k=3)
    assert result.matches[0].id == 13 and result.matches[0].distance < 1e-3
    assert [m.name for m in result.matches] == [names[labels[m.id]] for m in result.matches]
    assert result.something_similar and result.summary().startswith("nearest first: b")
    far = image_search.SearchResult(result.matches, threshold=-1.0)
    assert not far.something_similar and far.summary().startswith("nothing similar here")
    with pytest.raises(ValueError, match="one image of shape"):
        search.search(train_images[:2])


def test_an_index_from_another_model_or_from_pixels_is_refused(small_world) -> None:  # noqa: ANN001
    model, train_images, labels = small_world
    other = features.SmallConvNet((4, 8), n_classes=4, seed=2)
    with pytest.raises(image_search.IndexModelMismatchError, match="another model's embeddings"):
        image_search.ImageSearch(model, embedding_index(other, train_images), train_images, labels, "abcd", 0.5)
    pixels = index.build_index(train_images, "angular", 2, show_progress=False)
    with pytest.raises(image_search.IndexModelMismatchError, match="3072-dimensional"):
        image_search.ImageSearch(model, pixels, train_images, labels, "abcd", 0.5)
    with pytest.raises(image_search.IndexModelMismatchError, match="another image set"):
        image_search.ImageSearch(model, embedding_index(model, train_images[:30]), train_images, labels, "abcd", 0.5)


def test_the_threshold_is_a_quantile_of_real_nearest_distances() -> None:
    distances = np.array([0.1, 0.2, 0.3, 0.4, np.inf])
    assert image_search.nothing_similar_threshold(distances, 1.0) == pytest.approx(0.4)
    assert image_search.nothing_similar_threshold(distances, 0.5) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="no finite"):
        image_search.nothing_similar_threshold(np.array([np.inf]))
