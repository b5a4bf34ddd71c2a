"""helpers.images and helpers.image_search: image files in, clear errors out, ids mapped back to labels."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageFile

from helpers import image_search, images, index, vectors


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


# --------------------------------------------------------------------------- files from phones, scanners, editors

WHITE, RED, TEAL, HALF_RED = (255, 255, 255), (255, 0, 0), (0, 128, 128), (255, 128, 128)


def pixels(chw: np.ndarray) -> np.ndarray:
    """``load_image``'s result back as 0-255 RGB ``(height, width, 3)``."""
    return np.rint(chw.transpose(1, 2, 0) * 255)


def halves(size: tuple[int, int], first: tuple[int, int, int], second: tuple[int, int, int]) -> Image.Image:
    """An RGB image whose left half is ``first`` and right half ``second``."""
    image = Image.new("RGB", size, second)
    image.paste(first, (0, 0, size[0] // 2, size[1]))
    return image


@pytest.mark.parametrize("orientation", [6, 8])
@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_a_phones_exif_orientation_is_applied(tmp_path: Path, orientation: int, suffix: str) -> None:
    stored = halves((64, 32), (255, 0, 0), (0, 0, 255))  # stored wide; the viewer shows it tall
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"phone{suffix}"
    stored.save(path, exif=exif, quality=95)
    with pytest.raises(images.ImageFileError, match="32 x 64 pixels"):  # the size the viewer shows
        images.load_image(path)
    upright = stored.transpose(Image.Transpose.ROTATE_270 if orientation == 6 else Image.Transpose.ROTATE_90)
    upright.save(tmp_path / f"upright{suffix}", quality=95)
    expected = images.load_image(tmp_path / f"upright{suffix}", fit=True)
    np.testing.assert_allclose(images.load_image(path, fit=True), expected, atol=0 if suffix == ".png" else 6 / 255)
    top = (255, 0, 0) if orientation == 6 else (0, 0, 255)  # 6 turns clockwise: the left half goes to the top
    np.testing.assert_allclose(pixels(expected)[:12].mean(axis=(0, 1)), top, atol=3)
    square = halves((32, 32), (255, 0, 0), (0, 0, 255))  # already 32 x 32: turned without fit=True
    square.save(tmp_path / "square.png", exif=exif)
    turned = pixels(images.load_image(tmp_path / "square.png"))
    assert np.all((turned[:16] if orientation == 6 else turned[16:]) == RED)


def grey_values() -> np.ndarray:
    """A 32 x 32 ramp over the 16-bit range with 0, 257, 32768 and 65535 in its first row."""
    values = np.linspace(0, 65535, 32 * 32).reshape(32, 32)
    values[0, :4] = [0, 257, 32768, 65535]
    return values


@pytest.mark.parametrize(("name", "mode", "scale"), [("scan.png", "I;16", 1), ("scan.tif", "I;16", 1),
                                                     ("scan-32.tif", "I", 1), ("scan-float.tif", "F", 1 / 65535)])
def test_deep_greyscale_is_scaled_to_8_bits_not_clipped(tmp_path: Path, name: str, mode: str, scale: float) -> None:
    values = grey_values() * scale
    dtype = {"I;16": np.uint16, "I": np.int32, "F": np.float32}[mode]
    path = tmp_path / name
    Image.fromarray(values.astype(dtype)).save(path)
    assert Image.open(path).mode == mode
    with pytest.raises(images.ImageFileError, match="greyscale image.*fit=True"):
        images.load_image(path)
    loaded = pixels(images.load_image(path, fit=True))
    assert loaded[0, :4, 0].tolist() == [0, 1, 128, 255]  # Pillow's convert("RGB") would give 0, 255, 255, 255
    np.testing.assert_allclose(loaded[..., 0], grey_values() / 257, atol=0.51)
    np.testing.assert_array_equal(loaded[..., 0], loaded[..., 2])


def test_a_16_bit_grey_png_with_a_transparent_value_puts_it_on_white(tmp_path: Path) -> None:
    values = np.full((32, 32), 1000, np.uint16)
    values[:16] = 65535 // 3
    Image.fromarray(values).save(tmp_path / "grey16.png", transparency=1000)
    loaded = pixels(images.load_image(tmp_path / "grey16.png", fit=True))
    assert np.all(loaded[:16] == 85) and np.all(loaded[16:] == 255)


@pytest.mark.parametrize(("mode", "values", "words"), [("I", [0, 70000], "0 to 70000, outside 0 to 65535"),
                                                       ("I", [-5, 100], "-5 to 100"), ("F", [0, 2.5], "0 to 2.5, outside 0 to 1"),
                                                       ("F", [0, np.nan], "nan")])
def test_deep_greyscale_with_no_known_brightness_scale_is_refused(tmp_path: Path, mode: str, values: list[float],
                                                                  words: str) -> None:
    array = np.resize(np.array(values, dtype=np.int32 if mode == "I" else np.float32), (32, 32))
    Image.fromarray(array).save(tmp_path / "odd.tif")
    with pytest.raises(images.ImageFileError, match=f"odd.tif is a .*greyscale image with values from {words}"):
        images.load_image(tmp_path / "odd.tif", fit=True)


def png_16_bit_rgb(values: np.ndarray, header_size: tuple[int, int] | None = None) -> bytes:
    """A 16-bit-per-channel RGB PNG (Pillow cannot write one) of uint16 ``(height, width, 3)`` values.

    ``header_size`` makes the header claim another width and height (a damaged or crafted file).
    """
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    height, width, _ = values.shape
    rows = b"".join(b"\0" + row.astype(">u2").tobytes() for row in values)
    header = struct.pack(">IIBBBBB", *(header_size or (width, height)), 16, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def test_a_16_bit_per_channel_rgb_png_keeps_its_colours(tmp_path: Path) -> None:
    values = np.zeros((32, 32, 3), np.uint16)
    values[..., 0], values[..., 1], values[..., 2] = 65535, 32768, 257 * np.arange(32)[:, None]
    path = tmp_path / "scan48.png"
    path.write_bytes(png_16_bit_rgb(values))
    assert Image.open(path).mode == "RGB"  # Pillow reads it as 8-bit RGB (the high byte of each value)
    np.testing.assert_allclose(pixels(images.load_image(path)), values / 257, atol=1)


def mode_cases() -> list[tuple[str, Image.Image, dict, tuple[int, int, int], tuple[int, int, int], int]]:
    """(file name, image, save options, expected left half, expected right half, tolerance) for each mode."""
    colour = halves((32, 32), (200, 30, 90), (20, 160, 220))
    rgba = Image.new("RGBA", (32, 32), (0, 128, 128, 255))
    rgba.paste((255, 0, 0, 0), (0, 0, 16, 32))  # left half: transparent (its hidden colour is red)
    half = Image.new("RGBA", (32, 32), (255, 0, 0, 128))
    palette = rgba.convert("RGB").quantize(4)
    red_index = palette.getpixel((0, 0))
    return [
        ("bw.png", halves((32, 32), (0, 0, 0), WHITE).convert("1"), {}, (0, 0, 0), WHITE, 0),
        ("grey.png", halves((32, 32), (50, 50, 50), (200, 200, 200)).convert("L"), {}, (50,) * 3, (200,) * 3, 0),
        ("grey-alpha.png", rgba.convert("LA"), {}, WHITE, (rgba.convert("L").getpixel((20, 0)),) * 3, 0),
        ("palette.png", palette, {}, RED, TEAL, 0),
        ("palette-clear.png", palette, {"transparency": red_index}, WHITE, TEAL, 0),
        ("palette-alpha.tif", rgba.convert("PA"), {}, WHITE, TEAL, 0),
        ("rgba.png", rgba, {}, WHITE, TEAL, 0),
        ("half.png", half, {}, HALF_RED, HALF_RED, 1),
        ("rgb-clear.png", rgba.convert("RGB"), {"transparency": RED}, WHITE, TEAL, 0),
        ("grey-clear.png", halves((32, 32), (0, 0, 0), (90, 90, 90)).convert("L"), {"transparency": 0}, WHITE, (90,) * 3, 0),
        ("print.jpg", colour.convert("CMYK"), {"quality": 100}, (200, 30, 90), (20, 160, 220), 3),
        ("ycbcr.tif", colour.convert("YCbCr"), {}, (200, 30, 90), (20, 160, 220), 3),
        ("rgba.tif", rgba, {}, WHITE, TEAL, 0),
        ("rgba.webp", rgba, {"lossless": True}, WHITE, TEAL, 0),
        ("transparent.gif", palette, {"transparency": red_index}, WHITE, TEAL, 0),
    ]


@pytest.mark.parametrize(("name", "image", "save", "left", "right", "atol"), mode_cases(), ids=lambda v: v if
                         isinstance(v, str) else "")
def test_each_colour_mode_converts_to_the_colours_a_viewer_shows(tmp_path: Path, name: str, image: Image.Image, save: dict,
                                                                 left: tuple, right: tuple, atol: int) -> None:
    path = tmp_path / name
    image.save(path, **save)
    assert Image.open(path).mode == image.mode  # the file really holds this mode
    with pytest.raises(images.ImageFileError, match=f"{name} is a .* image; .*Pass fit=True to convert it"):
        images.load_image(path)
    loaded = pixels(images.load_image(path, fit=True))
    np.testing.assert_allclose(loaded[:, :16], np.broadcast_to(left, (32, 16, 3)), atol=atol)
    np.testing.assert_allclose(loaded[:, 16:], np.broadcast_to(right, (32, 16, 3)), atol=atol)


def test_a_lab_tiff_converts_to_its_rgb_colours(tmp_path: Path) -> None:
    rgb = halves((32, 32), (200, 30, 90), (20, 160, 220))
    to_lab = ImageCms.buildTransform(ImageCms.createProfile("sRGB"), ImageCms.createProfile("LAB"), "RGB", "LAB")
    ImageCms.applyTransform(rgb, to_lab).save(tmp_path / "lab.tif")
    with pytest.raises(images.ImageFileError, match="CIELAB image.*fit=True"):
        images.load_image(tmp_path / "lab.tif")
    loaded = pixels(images.load_image(tmp_path / "lab.tif", fit=True))
    np.testing.assert_allclose(loaded, np.asarray(rgb), atol=14)  # 8-bit LAB itself moves dark channels by up to 13
    assert np.abs(loaded - np.asarray(Image.open(tmp_path / "lab.tif"))).max() > 100  # not LAB numbers read as RGB


@pytest.mark.parametrize("name", ["photo.webp", "photo.bmp", "photo.tif", "photo.tga", "photo.ppm"])
def test_other_rgb_formats_go_through_the_same_path(tmp_path: Path, name: str) -> None:
    rgb = halves((32, 32), (200, 30, 90), (20, 160, 220))
    rgb.save(tmp_path / name, **({"lossless": True} if name.endswith("webp") else {}))
    np.testing.assert_array_equal(pixels(images.load_image(tmp_path / name)), np.asarray(rgb))


def icc_rgb_profile(gamma: float) -> bytes:
    """A minimal ICC v2 RGB display profile with sRGB's primaries and a pure power-law tone curve."""
    def xyz(x: float, y: float, z: float) -> bytes:
        return b"XYZ \0\0\0\0" + struct.pack(">3i", *(round(v * 65536) for v in (x, y, z)))
    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256)) + b"\0\0"
    tags = [(b"wtpt", xyz(0.9642, 1.0, 0.8249)), (b"rXYZ", xyz(0.4361, 0.2225, 0.0139)),
            (b"gXYZ", xyz(0.3851, 0.7169, 0.0971)), (b"bXYZ", xyz(0.1431, 0.0606, 0.7141)),
            (b"rTRC", curve), (b"gTRC", curve), (b"bTRC", curve)]
    offset, table, data = 128 + 4 + 12 * len(tags), b"", b""
    for signature, body in tags:
        table += signature + struct.pack(">II", offset + len(data), len(body))
        data += body
    size = offset + len(data)
    header = (struct.pack(">I4sI", size, b"lcms", 0x02100000) + b"mntrRGB XYZ " + b"\0" * 12 + b"acsp" + b"\0" * 28
              + struct.pack(">3i", 63190, 65536, 54061) + b"\0" * 48)
    return header + struct.pack(">I", len(tags)) + table + data


def test_an_embedded_colour_profile_is_converted_to_srgb(tmp_path: Path) -> None:
    grey = Image.new("RGB", (32, 32), (128, 128, 128))
    grey.save(tmp_path / "linear.png", icc_profile=icc_rgb_profile(1.0))
    # linear light 128/255 is sRGB 188: a viewer shows it lighter than the stored number
    np.testing.assert_allclose(pixels(images.load_image(tmp_path / "linear.png")), 188, atol=1)
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    colour = halves((32, 32), (200, 30, 90), (20, 160, 220))
    colour.save(tmp_path / "srgb.jpg", icc_profile=srgb, quality=100, subsampling=0)
    np.testing.assert_allclose(pixels(images.load_image(tmp_path / "srgb.jpg")), np.asarray(colour), atol=3)


@pytest.mark.parametrize(("profile", "words"), [(b"garbage", "damaged colour profile"),
                                                (b"\0\0\x01\0" + b"x" * 252, "damaged colour profile"),
                                                ("lab", "colour profile \\(ICC\\) for Lab images")])
@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_a_broken_or_unusable_colour_profile_is_refused(tmp_path: Path, profile: bytes | str, words: str,
                                                        suffix: str) -> None:
    if profile == "lab":
        profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()
    path = tmp_path / f"profiled{suffix}"
    Image.new("RGB", (32, 32), (10, 20, 30)).save(path, icc_profile=profile)
    for fit in (False, True):
        with pytest.raises(images.ImageFileError, match=f"profiled{suffix} has a {words}.*sRGB PNG or JPEG"):
            images.load_image(path, fit=fit)


@pytest.mark.parametrize(("name", "save"), [("anim.gif", {}), ("anim.png", {}), ("anim.webp", {"lossless": True}),
                                            ("pages.tif", {})])
def test_animations_and_multi_page_files_give_their_first_frame_with_fit(tmp_path: Path, name: str, save: dict) -> None:
    first, second = Image.new("RGB", (32, 32), RED), Image.new("RGB", (32, 32), (0, 255, 0))
    path = tmp_path / name
    first.save(path, save_all=True, append_images=[second], **save)
    with pytest.raises(images.ImageFileError, match=f"{name} holds 2 frames.*fit=True to use the first frame"):
        images.load_image(path)
    np.testing.assert_array_equal(pixels(images.load_image(path, fit=True)), np.broadcast_to(RED, (32, 32, 3)))


def test_a_phones_mpo_jpeg_is_its_main_picture(tmp_path: Path) -> None:
    main, preview = Image.new("RGB", (32, 32), RED), Image.new("RGB", (32, 32), (0, 255, 0))
    main.save(tmp_path / "portrait.jpg", "MPO", save_all=True, append_images=[preview], quality=100)
    assert Image.open(tmp_path / "portrait.jpg").format == "MPO"
    np.testing.assert_allclose(pixels(images.load_image(tmp_path / "portrait.jpg")), np.broadcast_to(RED, (32, 32, 3)),
                               atol=2)


def damaged(tmp_path: Path, name: str) -> Path:
    """A damaged or non-picture file named ``name``, as the name describes."""
    path = tmp_path / name
    buffer = io.BytesIO()
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(buffer, "PNG" if ".png" in name else "JPEG")
    data = buffer.getvalue()
    if name.startswith("truncated"):
        data = data[: len(data) // 2]
    elif name.startswith("bad-checksum"):  # one bit flipped in the pixel data: Pillow alone may decode wrong pixels
        middle = len(data) // 2
        data = data[:middle] + bytes([data[middle] ^ 1]) + data[middle + 1:]
    elif name == "zero-size.png":
        data = png_16_bit_rgb(np.zeros((1, 1, 3), np.uint16), header_size=(0, 0))
    elif name == "empty.jpg":
        data = b""
    elif name == "notes.png":
        data = b"not a picture\n"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(("name", "words"), [("truncated.png", "damaged or incomplete.*[Tt]runcated"),
                                             ("truncated.jpg", "damaged or incomplete.*truncated"),
                                             ("bad-checksum.png", "damaged or incomplete"),
                                             ("zero-size.png", "not an image file"), ("notes.png", "not an image file"),
                                             ("empty.jpg", "empty file \\(0 bytes\\)")])
def test_damaged_files_raise_one_clear_error(tmp_path: Path, name: str, words: str) -> None:
    path = damaged(tmp_path, name)
    for fit in (False, True):
        with pytest.raises(images.ImageFileError, match=f"^{name} (is|has) .*{words}"):
            images.load_image(path, fit=fit)
    assert not ImageFile.LOAD_TRUNCATED_IMAGES


def test_a_folder_or_a_missing_path_is_named(tmp_path: Path) -> None:
    (tmp_path / "holiday").mkdir()
    with pytest.raises(images.ImageFileError, match="holiday is a folder.*picture inside it"):
        images.load_image(tmp_path / "holiday")
    with pytest.raises(FileNotFoundError, match="no image file"):
        images.load_image(tmp_path / "holiday" / "missing.jpg", fit=True)


def test_a_heic_photo_is_named_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "IMG_0001.HEIC"
    path.write_bytes(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic" + b"\0" * 64)
    with pytest.raises(images.ImageFileError, match="IMG_0001.HEIC is a HEIC/HEIF.*Convert it to JPEG or PNG"):
        images.load_image(path, fit=True)


def test_a_decompression_bomb_is_refused_and_the_check_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    huge = png_16_bit_rgb(np.zeros((1, 1, 3), np.uint16), header_size=(10**5, 10**5))
    (tmp_path / "huge.png").write_bytes(huge)  # a header claiming 10 gigapixels; no pixel data
    with pytest.raises(images.ImageFileError, match="huge.png has too many pixels to open safely.*MAX_IMAGE_PIXELS"):
        images.load_image(tmp_path / "huge.png", fit=True)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    Image.new("RGB", (20, 20)).save(tmp_path / "big.png")  # 400 pixels: over twice the limit, an error
    with pytest.raises(images.ImageFileError, match="big.png has too many pixels"):
        images.load_image(tmp_path / "big.png", fit=True)
    Image.new("RGB", (12, 12), RED).save(tmp_path / "large.png")  # 144 pixels: over the limit, Pillow's warning
    with pytest.warns(Image.DecompressionBombWarning):
        assert images.load_image(tmp_path / "large.png", fit=True).shape == (3, 32, 32)


@pytest.mark.parametrize("size", [(1, 1), (2, 40), (40, 2), (3, 1)])
def test_tiny_images_are_enlarged_to_32x32(tmp_path: Path, size: tuple[int, int]) -> None:
    image = Image.new("RGB", size, (0, 0, 255))
    width, height = size
    side = min(size)
    image.paste(RED, ((width - side) // 2, (height - side) // 2, (width - side) // 2 + side, (height - side) // 2 + side))
    image.save(tmp_path / "tiny.png")
    with pytest.raises(images.ImageFileError, match=f"{width} x {height} pixels"):
        images.load_image(tmp_path / "tiny.png")
    np.testing.assert_allclose(pixels(images.load_image(tmp_path / "tiny.png", fit=True)), np.broadcast_to(RED, (32, 32, 3)),
                               atol=1)


# --------------------------------------------------------------------------- image_search


def projection(seed: int):  # noqa: ANN201
    """An embedding function as notebook 06's ``embed`` is one: images (n, 3, 32, 32) to (n, 8) vectors."""
    weights = np.random.default_rng(seed).standard_normal((3 * 32 * 32, 8)).astype(np.float32)
    return lambda images: np.asarray(images, dtype=np.float32).reshape(len(images), -1) @ weights


@pytest.fixture(scope="module")
def small_world():  # noqa: ANN201
    rng = np.random.default_rng(0)
    train_images = rng.random((40, 3 * 32 * 32), dtype=np.float32)
    labels = np.arange(40, dtype=np.int32) % 4
    return projection(1), train_images, labels


def embedding_index(embed, train_images: np.ndarray):  # noqa: ANN001, ANN201
    unit = vectors.normalise(embed(train_images.reshape(-1, 3, 32, 32)))
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
    other = projection(2)
    with pytest.raises(image_search.IndexModelMismatchError, match="another model's embeddings"):
        image_search.ImageSearch(model, embedding_index(other, train_images), train_images, labels, "abcd", 0.5)
    pixels = index.build_index(train_images, "angular", 2, show_progress=False)
    with pytest.raises(image_search.IndexModelMismatchError, match="3072-dimensional vectors but this model makes 8-"):
        image_search.ImageSearch(model, pixels, train_images, labels, "abcd", 0.5)
    with pytest.raises(image_search.IndexModelMismatchError, match="another image set"):
        image_search.ImageSearch(model, embedding_index(model, train_images[:30]), train_images, labels, "abcd", 0.5)


def test_the_threshold_is_a_quantile_of_real_nearest_distances() -> None:
    distances = np.array([0.1, 0.2, 0.3, 0.4, np.inf])
    assert image_search.nothing_similar_threshold(distances, 1.0) == pytest.approx(0.4)
    assert image_search.nothing_similar_threshold(distances, 0.5) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="no finite"):
        image_search.nothing_similar_threshold(np.array([np.inf]))


def test_formats_that_run_other_programs_are_not_opened(tmp_path: Path) -> None:
    # Pillow opens EPS by running Ghostscript; a query picture never needs that.
    path = tmp_path / "drawing.eps"
    path.write_text("%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 32 32\nshowpage\n")
    with pytest.raises(images.ImageFileError, match="not an image file this tutorial can read"):
        images.load_image(path, fit=True)
