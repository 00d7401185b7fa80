"""Hostile and malformed image files: every one ends in a clear message, with memory bounded."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from core import images
from core.data import importer
from core.data.importer import import_image_folder
from core.images import ImageInputError, open_image

ROOT = Path(__file__).resolve().parents[1]


def encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def declaring_png(width=8000, height=5000, mode="1") -> bytes:
    """A real PNG of one colour that declares width×height pixels but is only kB on disk."""
    return encode(Image.new(mode, (width, height)), "PNG", optimize=True)


def digit_jpeg(size=(64, 48)) -> bytes:
    im = Image.new("L", size, 255)
    ImageDraw.Draw(im).rectangle((size[0] // 3, size[1] // 3, 2 * size[0] // 3, 2 * size[1] // 3), fill=0)
    return encode(im, "JPEG", quality=95)


def with_declared_jpeg_size(data: bytes, width: int, height: int) -> bytes:
    """The same JPEG with its frame header (SOF0) rewritten to declare another size."""
    at = data.index(b"\xff\xc0") + 5  # marker, length (2), precision (1), then height, width
    return data[:at] + height.to_bytes(2, "big") + width.to_bytes(2, "big") + data[at + 4:]


# ---- refused, with a message that says what to do -----------------------------------------

def test_the_40_megapixel_png_is_small_on_disk():
    data = declaring_png()
    assert len(data) < 100_000 and Image.open(io.BytesIO(data)).size == (8000, 5000)


BAD = {
    "zero bytes": (lambda: b"", "empty.*choose an image file"),
    "text file": (lambda: b"just some notes\n" * 10, "not an image.*use a PNG, JPEG"),
    "truncated PNG": (lambda: encode(Image.effect_noise((64, 64), 60), "PNG")[:600],
                      "truncated or damaged.*re-save the image"),
    "JPEG with a bogus header": (lambda: b"\xff\xd8\xff\xe0" + b"\x00\x10JFIF garbage" * 20,
                                 "not an image|could not be opened"),
    "JPEG declaring 60000×60000": (lambda: with_declared_jpeg_size(digit_jpeg(), 60000, 60000),
                                   "too large to open safely.*save a smaller copy"),
    "PNG declaring 81 MP": (lambda: declaring_png(9000, 9000), r"9000×9000 pixels.*limit is 80 megapixels"),
    "40 MP colour PNG": (lambda: declaring_png(8000, 5000, "RGB"), r"take 153 MB to decode.*\(or a JPEG\)"),
    "PPM": (lambda: encode(Image.new("L", (8, 8)), "PPM"), "PPM images are not supported; use one of"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_files_are_refused_with_a_clear_message(case):
    make, message = BAD[case]
    with pytest.raises(ImageInputError, match=message):
        open_image(make())


def test_pillows_own_bomb_error_becomes_a_message(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 64×48 is then over twice Pillow's limit
    with pytest.raises(ImageInputError, match="too large to open safely.*Pillow refuses"):
        open_image(digit_jpeg())


# ---- large but sane: decoded reduced ------------------------------------------------------

def test_a_40_megapixel_png_comes_back_small_and_averaged():
    im = Image.new("1", (8000, 5000), 1)
    ImageDraw.Draw(im).rectangle((0, 0, 3999, 4999), fill=0)  # left half black
    out = open_image(encode(im, "PNG"))
    assert out.mode == "L" and out.width * out.height <= images.WORK_PIXELS * 1.01
    a = np.asarray(out)
    assert a[:, : a.shape[1] // 2 - 1].max() == 0 and a[:, a.shape[1] // 2 + 1:].min() == 255


def test_fit_shrinks_further_but_keeps_twice_the_target():
    im = Image.new("RGB", (1200, 900), "white")
    out = open_image(encode(im, "PNG"), fit=(32, 32))
    assert min(out.size) >= 64 and out.size[0] < 300


def test_a_large_jpeg_is_decoded_at_a_reduced_scale_with_its_orientation():
    im = Image.new("RGB", (6000, 4000), "white")
    ImageDraw.Draw(im).rectangle((0, 0, 2999, 3999), fill="black")  # dark left half as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    out = open_image(encode(im, "JPEG", exif=exif, quality=90), mode="L")
    assert out.mode == "L" and out.width < out.height and out.width * out.height <= images.WORK_PIXELS
    a = np.asarray(out)
    assert a[: a.shape[0] // 2 - 8].mean() < 10 and a[a.shape[0] // 2 + 8:].mean() > 245  # dark half on top


@pytest.mark.parametrize("mode", ["P", "PA", "LA", "RGBA", "I;16", "CMYK"])
def test_every_mode_can_be_shrunk(mode):
    im = Image.new("RGBA", (2000, 1500), (255, 0, 0, 255)).convert(mode) if mode != "I;16" \
        else Image.fromarray(np.full((1500, 2000), 1000, dtype=np.uint16))
    fmt = "TIFF" if mode in ("CMYK", "I;16", "PA") else "PNG"
    if mode == "PA":
        fmt = "PNG"
        im = Image.new("P", (2000, 1500))
        im.info["transparency"] = 0
    out = open_image(encode(im, fmt), fit=(28, 28))
    assert out.width * out.height < 2000 * 1500 and min(out.size) >= 56


def test_small_images_come_back_untouched():
    data = encode(Image.new("P", (40, 30)), "GIF")
    out = open_image(data)
    assert out.size == (40, 30) and out.mode == "P" and out.format == "GIF"


# ---- the dataset importer: a bad file is skipped with the reason, never read unbounded -------

def class_folder(root: Path, extra: dict[str, bytes] = {}) -> Path:
    small = encode(Image.new("L", (16, 16), 128), "PNG")
    for rel, payload in {**{f"{c}/{c}{i}.png": small for c in ("cats", "dogs") for i in range(3)},
                         **extra}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(payload)
    return root


def test_importer_skips_hostile_images_with_the_reason(tmp_path):
    src = class_folder(tmp_path / "src", {
        "cats/empty.png": b"",
        "cats/bomb.png": declaring_png(9000, 9000),
        "dogs/cut.png": encode(Image.effect_noise((64, 64), 60), "PNG")[:600],
        "dogs/notes.jpg": b"\xff\xd8\xff\xe0 not really a jpeg",
    })
    os.mkfifo(src / "dogs" / "pipe.png")  # reading it would block forever
    (src / "cats" / "zero.png").symlink_to("/dev/zero")  # reading it would never end
    rep = import_image_folder(src, "pets", tmp_path / "data", image_size=8)
    assert rep.per_class == {"cats": 3, "dogs": 3}
    skipped = dict(rep.skipped)
    assert skipped["cats/empty.png"].startswith("the file is empty")
    assert "too large to open safely (9000×9000 pixels)" in skipped["cats/bomb.png"]
    assert "truncated or damaged" in skipped["dogs/cut.png"]
    assert skipped["dogs/notes.jpg"].startswith(("not an image", "this file could not be opened"))
    assert skipped["dogs/pipe.png"].startswith("not a regular file")
    assert skipped["cats/zero.png"].startswith("not a regular file")


def test_importer_skips_a_file_over_the_per_image_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(importer, "MAX_FILE_BYTES", 1000)
    big = encode(Image.effect_noise((64, 64), 60), "PNG")
    assert len(big) > 1000
    src = class_folder(tmp_path / "src", {"cats/big.png": big})
    rep = import_image_folder(src, "pets", tmp_path / "data", image_size=8)
    assert dict(rep.skipped)["cats/big.png"].startswith("the file is 0.0 MiB; the limit for one image")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(src.rglob("*.png")):
            zf.write(path, path.relative_to(src).as_posix())
    rep = import_image_folder(archive.getvalue(), "pets2", tmp_path / "data", image_size=8)
    assert "the limit for one image" in dict(rep.skipped)["cats/big.png"]


def test_importer_limits_fit_a_cifar_sized_dataset():
    assert importer.MAX_FILES >= 250_000
    assert 250_000 * 3 * 32 * 32 <= importer.MAX_STORED_BYTES


# ---- memory, measured in a fresh process ---------------------------------------------------

# ru_maxrss would be simpler, but Linux carries a parent's peak into the child across fork and
# exec, so under a big pytest process it never rises. /proc's VmHWM is the child's own peak, and
# writing 5 to clear_refs resets it to the current size just before the call.
_MEASURE = """
import json, sys
sys.path.insert(0, sys.argv[1])
{setup}
def peak_mb():
    line = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024
data = open(sys.argv[2], "rb").read()
open("/proc/self/clear_refs", "w").write("5")
before = peak_mb()
try:
    {call}
    outcome = "ok"
except Exception as exc:  # reported, and the test says which outcome it expects
    outcome = f"{{type(exc).__name__}}: {{exc}}"
print(json.dumps({{"mb": peak_mb() - before, "outcome": outcome}}))
"""


def peak_increase(tmp_path, data: bytes, setup: str, call: str) -> dict:
    """Run `call` on the file's bytes in a new interpreter; how far its peak memory rose (MB)."""
    if not Path("/proc/self/clear_refs").exists():
        pytest.skip("measuring peak memory needs Linux's /proc")
    path = tmp_path / "input.bin"
    path.write_bytes(data)
    script = _MEASURE.format(setup=setup, call=call)
    out = subprocess.run([sys.executable, "-c", script, str(ROOT), str(path)], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_40_megapixel_upload_stays_within_200_mb(tmp_path):
    # ~500 MB before issue #11's fix (decoded, converted and copied at full size); ~43 after
    im = Image.new("1", (8000, 5000))
    ImageDraw.Draw(im).ellipse((3000, 1500, 5000, 3500), outline=1, width=300)  # a big "0"
    data = encode(im, "PNG", optimize=True)
    assert len(data) < 100_000
    result = peak_increase(tmp_path, data, "from core.preprocess import image_to_input",
                           "assert image_to_input(data, 1, (28, 28), center=True).shape == (1, 28, 28)")
    print(result)
    assert result["outcome"] == "ok" and result["mb"] < 200, result


def test_a_40_megapixel_image_in_an_imported_zip_stays_within_120_mb(tmp_path):
    # ~190 MB before issue #11's fix (decoded, converted to RGB and resized at full size); ~40 after
    small = encode(Image.new("L", (16, 16), 128), "PNG")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(3):
            zf.writestr(f"cats/c{i}.png", small)
            zf.writestr(f"dogs/d{i}.png", small)
        zf.writestr("dogs/huge.png", declaring_png())
    setup = "from core.data.importer import import_image_folder\nimport tempfile"
    call = ("rep = import_image_folder(data, 'pets', tempfile.mkdtemp(), image_size=32, grayscale=False)\n"
            "    assert rep.per_class == {'cats': 3, 'dogs': 4}, rep")
    result = peak_increase(tmp_path, buf.getvalue(), setup, call)
    print(result)
    assert result["outcome"] == "ok" and result["mb"] < 120, result
