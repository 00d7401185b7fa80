"""Decoding image files people give us, with memory bounded: the one place that does it.

Pillow decodes a whole frame at once, so a tiny file that *declares* a huge size costs that full
size in memory, and every later step (mode conversion, float arrays) multiplies it: a 20 kB PNG
declaring 40 megapixels took the server from 0.9 to 3.2 GB (issue #11). So here

1. the size is read from the header, before any pixel is decoded, and absurd sizes are refused;
2. JPEGs are decoded at a reduced scale (`Image.draft`), other formats only if their full decode
   fits in MAX_DECODE_BYTES;
3. anything still large is shrunk, band by band so no full-size converted copy ever exists,
   to at most WORK_PIXELS before a caller converts or copies it.

Both the Playground/Inspect uploads (core.preprocess) and the dataset importer call open_image.
"""
from __future__ import annotations

import io
import math

from PIL import Image, UnidentifiedImageError

# Pillow's format names; phone cameras often write JPEGs that Pillow reports as MPO
FORMATS = ("PNG", "JPEG", "MPO", "BMP", "GIF", "WEBP", "TIFF")
_FORMAT_NAMES = "PNG, JPEG, BMP, GIF, WebP or TIFF"
# Declared pixels above which a file is refused unread. Phone and most camera photos are at most
# 50 MP; staying under Pillow's own 89.5 MP warning keeps its warning out of allowed images.
MAX_PIXELS = 80_000_000
# What a full-resolution decode may allocate: an 8K (7680×4320) RGBA screenshot fits, a 40 MP
# colour PNG does not (save it as JPEG, which decodes at 1/8 scale, or smaller).
MAX_DECODE_BYTES = 128 << 20
# The largest image handed back: 2 MP is far more than any model input here (at most 512×512)
# and keeps callers' float copies (4 channels × 8 bytes) under ~70 MB.
WORK_PIXELS = 2_000_000
_DETAIL = 2  # with `fit`, shrink only while both sides stay at least this many times the target
_BAND_BYTES = 4 << 20  # rows converted at a time while shrinking
_ORIENTATION = 0x0112
_TRANSPOSE = {  # EXIF orientation -> the transpose that makes the image upright (as ImageOps does)
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_REDUCIBLE = {"L", "LA", "La", "RGB", "RGBA", "RGBa", "I", "F", "CMYK", "YCbCr"}  # Image.reduce works


class ImageInputError(ValueError):
    """An image file that cannot be used; the message says why and what to do."""


def _too_large(detail: str) -> ImageInputError:
    return ImageInputError(
        f"this image is too large to open safely ({detail}); the limit is {MAX_PIXELS / 1e6:g} megapixels "
        f"and {MAX_DECODE_BYTES >> 20} MB decoded — save a smaller copy (or a JPEG) and try again"
    )


def _bytes_per_pixel(mode: str) -> int:
    # how Pillow stores a decoded pixel: 1 byte for 1/L/P, 2 for 16-bit gray, 4 for the rest
    if mode in ("1", "L", "P"):
        return 1
    return 2 if mode.startswith("I;16") else 4


# ---- the steps -----------------------------------------------------------------------------

def _open_header(data: bytes, formats) -> Image.Image:
    """Parse the header only (Pillow decodes no pixels in Image.open) and check the format."""
    try:
        img = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        # Pillow's own check (a warning only when a filter makes it an error) fires above its limits
        limit = (Image.MAX_IMAGE_PIXELS or MAX_PIXELS) / 1e6
        raise _too_large(f"Pillow refuses images of over {limit:.0f} megapixels") from None
    except UnidentifiedImageError:
        raise ImageInputError(f"not an image (unrecognised file format); use a {_FORMAT_NAMES} file") from None
    except Exception as exc:  # a damaged header can raise many types; all mean the same here
        raise ImageInputError(f"this file could not be opened as an image ({exc}); re-save it and try again") from None
    if img.format not in formats:
        names = ", ".join(f.lower() for f in formats if f != "MPO")
        raise ImageInputError(f"{img.format} images are not supported; use one of: {names}")
    width, height = img.size
    if width < 1 or height < 1:
        raise ImageInputError(f"the image declares a size of {width}×{height} pixels; re-save it and try again")
    if width * height > MAX_PIXELS:
        raise _too_large(f"{width}×{height} pixels")
    return img


def _reduction(width: int, height: int, fit: tuple[int, int] | None) -> int:
    """The integer factor to shrink by: enough for WORK_PIXELS, more when `fit` needs less detail."""
    factor = math.ceil(math.sqrt(width * height / WORK_PIXELS))
    if fit is not None:
        factor = max(factor, min(width // (_DETAIL * fit[0]), height // (_DETAIL * fit[1])))
    return max(1, factor)


def _decode(img: Image.Image, fit, mode: str | None) -> Image.Image:
    """Decode the first frame: JPEG at a reduced scale; others only if the full size fits the budget."""
    factor = _reduction(img.width, img.height, fit)
    if factor > 1 or mode:
        # JPEG only (a no-op elsewhere): decode at 1/2, 1/4 or 1/8 scale, straight into `mode`
        img.draft(mode, (math.ceil(img.width / factor), math.ceil(img.height / factor)))
    need = img.width * img.height * _bytes_per_pixel(img.mode)
    if need > MAX_DECODE_BYTES:
        raise _too_large(f"{img.width}×{img.height} {img.mode} pixels take {need / 2**20:.0f} MB to decode")
    try:
        img.seek(0)  # animated GIF/WebP, multi-page TIFF: the first frame
        img.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_large(f"{img.width}×{img.height} pixels") from None
    except Exception as exc:  # decoders raise OSError, SyntaxError, ValueError, EOFError...
        raise ImageInputError(
            f"the image data is truncated or damaged ({exc}); re-save the image and try again"
        ) from None
    return img


def _work_mode(img: Image.Image) -> str:
    """A mode Image.reduce can average in, keeping whatever transparency the file has."""
    palette_alpha = img.mode == "P" and img.palette is not None and img.palette.mode == "RGBA"
    if "transparency" in img.info or img.mode == "PA" or palette_alpha:
        return "RGBA"  # colour-keyed or palette transparency becomes real alpha before averaging
    if img.mode in _REDUCIBLE:
        return img.mode
    if img.mode == "1":
        return "L"
    return "I" if img.mode.startswith("I;16") else "RGB"


def _shrink(img: Image.Image, factor: int) -> Image.Image:
    """`img` reduced by `factor` (box average), converting only a band of rows at a time."""
    mode = _work_mode(img)
    out = Image.new(mode, (math.ceil(img.width / factor), math.ceil(img.height / factor)))
    band = max(1, _BAND_BYTES // (img.width * 4 * factor)) * factor  # a multiple of factor: no seams
    for top in range(0, img.height, band):
        piece = img.crop((0, top, img.width, min(img.height, top + band)))
        if piece.mode != mode:
            piece = piece.convert(mode)
        out.paste(piece.reduce(factor), (0, top // factor))
    return out


def _orientation(img: Image.Image) -> int:
    try:
        return int(img.getexif().get(_ORIENTATION, 1))
    except Exception:  # broken EXIF should not block an image that decoded fine
        return 1


# ---- the entry point -----------------------------------------------------------------------

def open_image(
    data: bytes, *, fit: tuple[int, int] | None = None, mode: str | None = None, formats=FORMATS,
) -> Image.Image:
    """Decode the first frame of an image file, upright as its EXIF says, at most WORK_PIXELS big.

    `fit` (width, height): the size the caller will resize to; the image is then shrunk further
    while both sides stay at least twice that. `mode` ("L" or "RGB"): the mode the caller will
    convert to, so a JPEG can decode straight into it. A shrunk image comes back in a mode
    Image.reduce handles (1 -> L, P -> RGB/RGBA, 16-bit -> I); otherwise the mode is the file's.
    Raises ImageInputError, whose message says what to do, for anything that cannot be used.
    Peak memory: the decode (at most MAX_DECODE_BYTES) plus a few MB.
    """
    if not data:
        raise ImageInputError("the file is empty (0 bytes); choose an image file")
    img = _decode(_open_header(bytes(data), formats), fit, mode)
    orientation = _orientation(img)  # read now: shrinking makes a new image without the EXIF
    factor = _reduction(img.width, img.height, fit)
    if factor > 1:
        img = _shrink(img, factor)
    if orientation in _TRANSPOSE:
        img = img.transpose(_TRANSPOSE[orientation])
    return img
