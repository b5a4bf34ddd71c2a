"""Image files in and out: your own picture as a CIFAR-10-shaped array, with clear errors.

CIFAR-10 images are 32 × 32 colour (RGB) photos. Chainer's ``get_cifar10()`` gives each as float32 of shape
``(3, 32, 32)`` (channels first) with values in [0, 1]; ``load_image`` returns a file in exactly that form, so it
goes through the same preparation as the training images (``features.embed``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, UnidentifiedImageError

SIZE = 32
"""Width and height of a CIFAR-10 image."""

SAMPLE_IMAGE = Path(__file__).resolve().parent.parent / "notebooks" / "images" / "sample-plane.png"
"""The series' own query picture (drawn by ``draw_sample_image``, not taken from CIFAR-10)."""

_MODES = {"L": "greyscale", "LA": "greyscale with transparency", "RGBA": "RGBA (colour with transparency)",
          "P": "palette (indexed colour)", "PA": "palette with transparency", "CMYK": "CMYK", "1": "black-and-white",
          "I": "32-bit greyscale", "I;16": "16-bit greyscale", "F": "floating-point greyscale"}


class ImageFileError(ValueError):
    """A file that cannot be used as a query image; the message says why and what to do."""


def load_image(path: str | Path, fit: bool = False) -> np.ndarray:
    """Read a PNG or JPEG as float32 ``(3, 32, 32)`` in [0, 1], the layout of Chainer's CIFAR-10 images.

    By default the file must already be a 32 × 32 RGB image, and anything else raises ``ImageFileError`` with the
    reason. With ``fit=True`` other images are made to fit: converted to RGB (transparent pixels become white),
    centre-cropped to a square and shrunk to 32 × 32 — which loses detail, as CIFAR-10's own photos did.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no image file at {path}")
    try:
        with Image.open(path) as opened:
            opened.load()
            image = opened.copy()
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise ImageFileError(f"{path.name} is not an image file this tutorial can read (PNG or JPEG expected): "
                             f"{e}") from None
    if image.mode != "RGB":
        if not fit:
            raise ImageFileError(
                f"{path.name} is a {_MODES.get(image.mode, image.mode)} image; the network was trained on colour "
                f"(RGB) images. Pass fit=True to convert it, or save it as RGB.")
        image = _to_rgb(image)
    if image.size != (SIZE, SIZE):
        if not fit:
            width, height = image.size
            raise ImageFileError(
                f"{path.name} is {width} x {height} pixels; the network was trained on {SIZE} x {SIZE} images. "
                f"Pass fit=True to centre-crop and shrink it.")
        image = _centre_square(image).resize((SIZE, SIZE), Image.Resampling.LANCZOS)
    return _chainer_layout(image)


def _chainer_layout(image: Image.Image) -> np.ndarray:
    """An RGB Pillow image as Chainer's CIFAR-10 layout: float32 ``(3, height, width)`` in [0, 1]."""
    return np.asarray(image, dtype=np.float32).transpose(2, 0, 1) / 255.0


def _to_rgb(image: Image.Image) -> Image.Image:
    """RGB version of any Pillow image, with transparent parts on white."""
    if image.mode in {"RGBA", "LA", "PA"} or (image.mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA")
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, image).convert("RGB")
    return image.convert("RGB")


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
