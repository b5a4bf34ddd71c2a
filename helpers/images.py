"""Image files in and out: your own picture as a CIFAR-10-shaped array, with clear errors.

CIFAR-10 images are 32 × 32 colour (RGB) photos. Chainer's ``get_cifar10()`` gives each as float32 of shape
``(3, 32, 32)`` (channels first) with values in [0, 1]; ``load_image`` returns a file in exactly that form, so it
goes through the same preparation as the training images (notebook 06's ``embed``).

``load_image`` reads any picture file Pillow can decode (PNG, JPEG, WebP, TIFF, BMP, GIF, AVIF, ...) as the pixels
an image viewer would show, or raises one ``ImageFileError`` that names the file, says what is wrong and what to do:
phone photos are turned upright (EXIF orientation), colour profiles (ICC) are converted to sRGB, 16-bit and
floating-point greyscale is scaled (not clipped) to 8 bits, transparency is put on white. Damaged, empty, animated,
over-large (Pillow's decompression-bomb check) and unreadable files (HEIC without a plugin) are refused clearly.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageCms, ImageDraw, ImageOps, UnidentifiedImageError, features

SIZE = 32
"""Width and height of a CIFAR-10 image."""

SAMPLE_IMAGE = Path(__file__).resolve().parent.parent / "notebooks" / "images" / "sample-plane.png"
"""The series' own query picture (drawn by ``draw_sample_image``, not taken from CIFAR-10)."""

_MODES = {"L": "greyscale", "LA": "greyscale with transparency", "RGBA": "RGBA (colour with transparency)",
          "P": "palette (indexed colour)", "PA": "palette with transparency", "CMYK": "CMYK", "1": "black-and-white",
          "I": "32-bit greyscale", "I;16": "16-bit greyscale", "I;16B": "16-bit greyscale", "I;16L": "16-bit greyscale",
          "I;16N": "16-bit greyscale", "F": "floating-point greyscale", "YCbCr": "YCbCr", "LAB": "CIELAB", "HSV": "HSV"}
_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1", b"avif", b"avis"}
_DECODING_ERRORS = (OSError, ValueError, SyntaxError, EOFError, struct.error, ZeroDivisionError, ImageCms.PyCMSError)
"""What Pillow raises for files it cannot decode (bad headers, truncated data, broken colour profiles)."""
_FORMATS = ("PNG", "JPEG", "GIF", "WEBP", "AVIF", "BMP", "TIFF", "TGA", "PPM")  # JPEG includes MPO
"""The raster formats cameras, phones, scanners and editors write. Not EPS or PDF: Pillow opens those by running
Ghostscript, which no picture from a stranger should reach."""
_COLOUR_MANAGED = features.check_module("littlecms2")  # Pillow's wheels have it; without it ICC profiles are ignored


class ImageFileError(ValueError):
    """A file that cannot be used as a query image; the message says why and what to do."""


def load_image(path: str | Path, fit: bool = False) -> np.ndarray:
    """Read a picture file as float32 ``(3, 32, 32)`` in [0, 1], the layout of Chainer's CIFAR-10 images.

    The pixels are the ones an image viewer shows: an EXIF orientation is applied and an embedded colour profile is
    converted to sRGB. By default the picture must then be a single 32 × 32 RGB image, and anything else raises
    ``ImageFileError`` with the reason. With ``fit=True`` other pictures are made to fit: the first frame of an
    animation or multi-page file is taken; greyscale, palette, CMYK, 16-bit and float images are converted to RGB
    (16-bit scaled, transparent pixels white); the result is centre-cropped to a square and resized to 32 × 32 —
    which loses detail, as CIFAR-10's own photos did. Damaged or unreadable files always raise ``ImageFileError``;
    a path with no file raises ``FileNotFoundError``.
    """
    path = Path(path)
    if path.is_dir():
        raise ImageFileError(f"{path.name} is a folder, not an image file. Pass the path of a picture inside it.")
    if not path.is_file():
        raise FileNotFoundError(f"no image file at {path}")
    with path.open("rb") as file:
        head = file.read(12)
        file.seek(0)
        try:
            return _chainer_layout(_read(file, path.name, fit))
        except ImageFileError:
            raise
        except Image.DecompressionBombError as e:
            raise ImageFileError(f"{path.name} has too many pixels to open safely ({e}). Shrink it in an image editor "
                                 f"first, or raise PIL.Image.MAX_IMAGE_PIXELS if you trust the file.") from None
        except UnidentifiedImageError:
            if not head:
                raise ImageFileError(f"{path.name} is an empty file (0 bytes); it was not saved or copied "
                                     f"completely. Save or copy the picture again.") from None
            if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
                raise ImageFileError(f"{path.name} is a HEIC/HEIF (or AVIF) picture, the iPhone camera's usual format, "
                                     f"which this Pillow cannot read. Convert it to JPEG or PNG first (on an iPhone: "
                                     f"Settings > Camera > Formats > Most Compatible).") from None
            raise ImageFileError(f"{path.name} is not an image file this tutorial can read (PNG or JPEG expected): "
                                 f"Pillow does not recognise its contents. Save the picture as PNG or JPEG.") from None
        except _DECODING_ERRORS as e:
            raise ImageFileError(f"{path.name} is damaged or incomplete ({type(e).__name__}: {e}). If an image viewer "
                                 f"still shows it, save it again as PNG or JPEG; otherwise copy it again.") from None


def _read(file: BinaryIO, name: str, fit: bool) -> Image.Image:
    """The picture in ``file`` as a 32 × 32 RGB Pillow image, as a viewer shows it (``fit`` as in ``load_image``)."""
    with Image.open(file, formats=_FORMATS) as opened:
        opened.verify()  # PNG chunk checksums: Pillow decodes damaged PNG data without them, as wrong pixels
    file.seek(0)
    with Image.open(file, formats=_FORMATS) as opened:
        frames = getattr(opened, "n_frames", 1)
        if frames > 1 and opened.format != "MPO" and not fit:  # MPO: a phone JPEG plus previews or a depth map
            raise ImageFileError(f"{name} holds {frames} frames (an animation or a multi-page file); the network reads "
                                 f"one picture. Pass fit=True to use the first frame, or save that frame alone.")
        image = ImageOps.exif_transpose(opened)  # loads the first frame; a copy, upright as a viewer shows it
    profile = image.info.get("icc_profile")
    if image.mode != "RGB" or "transparency" in image.info:
        if not fit:
            raise ImageFileError(
                f"{name} is a {_describe(image)} image; the network was trained on colour (RGB) images. "
                f"Pass fit=True to convert it, or save it as RGB.")
        image = _on_white(_to_8_bits(image, name))
    image = _to_srgb(image, profile, name)
    if image.size != (SIZE, SIZE):
        if not fit:
            width, height = image.size
            raise ImageFileError(
                f"{name} is {width} x {height} pixels; the network was trained on {SIZE} x {SIZE} images. "
                f"Pass fit=True to centre-crop and shrink it.")
        image = _centre_square(image).resize((SIZE, SIZE), Image.Resampling.LANCZOS)
    return image


def _describe(image: Image.Image) -> str:
    """The colour mode of an image in words, e.g. "greyscale"."""
    words = _MODES.get(image.mode, image.mode)
    return f"{words} with transparency" if "transparency" in image.info and "transparency" not in words else words


def _chainer_layout(image: Image.Image) -> np.ndarray:
    """An RGB Pillow image as Chainer's CIFAR-10 layout: float32 ``(3, height, width)`` in [0, 1]."""
    return np.asarray(image, dtype=np.float32).transpose(2, 0, 1) / 255.0


def _to_8_bits(image: Image.Image, name: str) -> Image.Image:
    """16-bit, 32-bit and float greyscale scaled (Pillow's ``convert`` clips) to ``L``, or ``LA`` with transparency.

    16-bit values run from 0 to 65535 (so do Pillow's 32-bit ``I`` images of 16-bit files), floats from 0 to 1; other
    ranges have no agreed brightness and are refused. Other modes are returned unchanged.
    """
    if not image.mode.startswith("I") and image.mode != "F":
        return image
    values = np.asarray(image, dtype=np.float64)
    full = 1.0 if image.mode == "F" else 65535.0
    if not np.isfinite(values).all() or values.min() < 0 or values.max() > full:
        raise ImageFileError(
            f"{name} is a {_describe(image)} image with values from {values.min():g} to {values.max():g}, outside "
            f"0 to {full:g}, so how bright they should look is unknown. Save it as an 8-bit or 16-bit image.")
    grey = Image.fromarray(np.rint(values * (255 / full)).astype(np.uint8))
    transparent = image.info.get("transparency")
    if isinstance(transparent, int):  # a 16-bit PNG's one transparent grey value
        grey.putalpha(Image.fromarray(np.where(values == transparent, 0, 255).astype(np.uint8)))
    return grey


def _on_white(image: Image.Image) -> Image.Image:
    """The image with its transparent parts on white: greyscale stays greyscale (for a grey colour profile)."""
    if image.mode not in {"RGBA", "RGBa", "LA", "La", "PA"} and "transparency" not in image.info:
        return image
    grey = image.mode in {"1", "L", "LA", "La"}
    with_alpha = image.convert("LA" if grey else "RGBA")
    flat = Image.new("L" if grey else "RGB", image.size, "white")
    flat.paste(with_alpha.convert(flat.mode), mask=with_alpha.getchannel("A"))
    return flat


def _to_srgb(image: Image.Image, profile: bytes | None, name: str) -> Image.Image:
    """An image (after ``_on_white``) as sRGB, through its embedded colour profile (ICC) if it has one."""
    if image.mode not in {"L", "RGB", "CMYK", "LAB"}:
        image = image.convert("L" if image.mode == "1" else "RGB")
    if not profile or not _COLOUR_MANAGED:
        return image.convert("RGB")
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
    except OSError:
        raise ImageFileError(f"{name} has a damaged colour profile (ICC), so its true colours are unknown. Save it "
                             f"again from an image editor as an sRGB PNG or JPEG.") from None
    try:
        return ImageCms.profileToProfile(image, source, ImageCms.createProfile("sRGB"), outputMode="RGB")
    except ImageCms.PyCMSError:
        raise ImageFileError(
            f"{name} has a colour profile (ICC) for {source.profile.xcolor_space.strip()} images, which cannot convert "
            f"its {_describe(image)} pixels to sRGB. Save it again from an image editor as an sRGB PNG or JPEG.") from None


def _centre_square(image: Image.Image) -> Image.Image:
    """The largest centred square of an image."""
    width, height = image.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return image.crop((left, top, left + side, top + side))


def save_image(chw: np.ndarray, path: str | Path) -> None:
    """Write a ``(3, 32, 32)`` array in [0, 1] (Chainer's layout) as a PNG."""
    chw = np.asarray(chw)
    if chw.ndim != 3 or chw.shape[0] != 3:
        raise ValueError(f"expected an image of shape (3, height, width); got {chw.shape}")
    pixels = np.clip(np.rint(chw.transpose(1, 2, 0) * 255), 0, 255).astype(np.uint8)
    Image.fromarray(pixels, "RGB").save(path)


def draw_sample_image() -> np.ndarray:
    """The series' sample query: a grey aeroplane in a blue sky, drawn with Pillow at 32 × 32 (not a CIFAR image).

    Deterministic: the same pixels on every machine. ``SAMPLE_IMAGE`` holds it as a PNG.
    """
    image = Image.new("RGB", (SIZE, SIZE))
    draw = ImageDraw.Draw(image)
    for y in range(SIZE):  # sky: lighter towards the horizon
        shade = int(150 + 70 * y / (SIZE - 1))
        draw.line([(0, y), (SIZE - 1, y)], fill=(shade - 90, shade - 30, 255))
    body, dark = (205, 208, 212), (120, 124, 130)
    draw.polygon([(14, 15), (20, 15), (11, 25), (8, 25)], fill=dark)        # far wing
    draw.ellipse([(3, 13), (29, 18)], fill=body)                             # fuselage
    draw.polygon([(13, 16), (19, 16), (10, 7), (7, 7)], fill=body)           # near wing
    draw.polygon([(4, 15), (8, 15), (4, 9), (2, 9)], fill=body)              # tail fin
    draw.line([(20, 15), (27, 15)], fill=(70, 90, 130))                      # windows
    return _chainer_layout(image)
