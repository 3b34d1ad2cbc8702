"""One image in: formats, colour, size rule, normalisation, and refusal of bad input."""

from __future__ import annotations

import io
import json
import struct
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image

import neurallab as nl
from neurallab.datasets import decode_image, preprocess_image, preprocessing_config
from neurallab.errors import ImageError, InputError, InputTypeError


@pytest.fixture(scope="module")
def shirt():
    """A real 28×28 Fashion-MNIST image (uint8) from the packaged sample."""
    return nl.datasets.fashion_mnist_sample().X_train[0]


def _encode(arr: np.ndarray, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, fmt, **kw)
    return buf.getvalue()


def bomb_png(width: int, height: int) -> bytes:
    """A valid 1×1 PNG whose header is rewritten to declare ``width``×``height``."""
    data = bytearray(_encode(np.zeros((1, 1), np.uint8), "PNG"))
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


# ---------------------------------------------------------------------- config
def test_config_round_trips_through_json_and_preprocess(shirt):
    cfg = preprocessing_config(28, "grayscale", "centered", invert=True)
    assert cfg == {"image_size": [28, 28], "color_mode": "grayscale",
                   "normalization": "centered", "invert": True}
    cfg = json.loads(json.dumps(cfg))  # as stored in a model file
    x = preprocess_image(_encode(shirt, "PNG"), **cfg)
    np.testing.assert_allclose(x, (255 - shirt) / np.float32(255) - 0.5, atol=1e-6)
    assert preprocessing_config() == {"image_size": [28, 28], "color_mode": "grayscale",
                                      "normalization": "unit", "invert": False}


@pytest.mark.parametrize("kwargs, err, msg", [
    ({"image_size": 0}, InputError, "image_size must be \\(height, width\\)"),
    ({"image_size": (28, 28.5)}, InputError, "image_size must be"),
    ({"image_size": "28"}, InputError, "image_size must be"),
    ({"color_mode": "cmyk"}, InputError, "color_mode must be one of 'grayscale', 'rgb'"),
    ({"normalization": "zscore"}, InputError, "normalization must be one of"),
    ({"invert": "yes"}, InputTypeError, "invert must be True or False"),
])
def test_config_refuses_bad_values(kwargs, err, msg):
    with pytest.raises(err, match=msg):
        preprocessing_config(**kwargs)


# ---------------------------------------------------------------------- sources & formats
def test_every_source_type_gives_the_same_array(shirt, tmp_path):
    png = _encode(shirt, "PNG")
    (tmp_path / "s.png").write_bytes(png)
    expected = shirt / np.float32(255)
    for source in (tmp_path / "s.png", str(tmp_path / "s.png"), png, bytearray(png),
                   io.BytesIO(png), Image.open(io.BytesIO(png))):
        x = preprocess_image(source)
        assert x.dtype == np.float32 and x.shape == (28, 28)
        np.testing.assert_array_equal(x, expected)


@pytest.mark.parametrize("fmt, kw", [("PNG", {}), ("BMP", {}), ("TIFF", {}), ("GIF", {}),
                                     ("WEBP", {"lossless": True})])
def test_lossless_formats_are_exact(shirt, fmt, kw):
    pixels, resized = decode_image(_encode(shirt, fmt, **kw))
    assert not resized
    np.testing.assert_array_equal(pixels, shirt)


def test_jpeg_is_close(shirt):
    pixels, _ = decode_image(_encode(shirt, "JPEG", quality=95))
    assert np.abs(pixels.astype(int) - shirt).mean() < 3


def test_normalizations(shirt):
    png = _encode(shirt, "PNG")
    np.testing.assert_array_equal(preprocess_image(png, normalization="none"), shirt)
    np.testing.assert_allclose(preprocess_image(png, normalization="centered"),
                               shirt / np.float32(255) - np.float32(0.5), atol=1e-7)


def test_rgb_and_grayscale_conversion(shirt):
    rgb = np.stack([shirt, shirt // 2, 255 - shirt], axis=-1)
    png = _encode(rgb, "PNG")
    x = preprocess_image(png, color_mode="rgb", normalization="none")
    assert x.shape == (28, 28, 3)
    np.testing.assert_array_equal(x, rgb)
    gray = preprocess_image(png, normalization="none")
    # Pillow's ITU-R 601-2 luma: L = R·299/1000 + G·587/1000 + B·114/1000
    np.testing.assert_array_equal(gray, np.asarray(Image.fromarray(rgb).convert("L")))
    # a grayscale file asked for as RGB repeats its gray level in the three channels
    x = preprocess_image(_encode(shirt, "PNG"), color_mode="rgb", normalization="none")
    np.testing.assert_array_equal(x, np.repeat(shirt[..., None], 3, axis=2))


def test_transparent_pixels_become_black():
    rgba = np.zeros((28, 28, 4), np.uint8)
    rgba[..., :3] = 255             # white everywhere ...
    rgba[10:18, 10:18, 3] = 255     # ... but only a square is opaque
    x = preprocess_image(_encode(rgba, "PNG"), normalization="none")
    assert x[0, 0] == 0 and x[12, 12] == 255


def test_16_bit_images_are_scaled_not_clipped():
    a = np.array([[0, 257 * 100, 65535, 257 * 200]] * 4, dtype=np.uint16)
    im = Image.fromarray(a)
    assert im.mode.startswith("I;16")
    pixels, _ = decode_image(im, (4, 4))
    assert pixels[0].tolist() == [0, 100, 255, 200]


def test_32_bit_and_float_images_are_scaled_by_their_mode_alone():
    # mode I (32-bit integers) is taken as 16-bit: one pixel more or less changes nothing
    a = np.array([[0, 257 * 100, 255, 65535]] * 4, dtype=np.int32)
    b = a.copy()
    b[0, 2] = 256
    pa, _ = decode_image(_encode(a, "TIFF"), (4, 4))
    pb, _ = decode_image(_encode(b, "TIFF"), (4, 4))
    assert Image.open(io.BytesIO(_encode(a, "TIFF"))).mode == "I"
    assert pa[1].tolist() == [0, 100, 1, 255]
    assert pb[1].tolist() == pa[1].tolist() and pb[0, 2] == 1
    # mode F is taken as [0, 1]: 0.5 → 128, beyond the range clipped, NaN → 0
    f = np.array([[0.0, 0.5, 1.0, 2.0], [-1.0, np.nan, 0.25, 1.0]] * 2, dtype=np.float32)
    assert Image.open(io.BytesIO(_encode(f, "TIFF"))).mode == "F"
    pf, _ = decode_image(_encode(f, "TIFF"), (4, 4))
    assert pf[0].tolist() == [0, 128, 255, 255] and pf[1].tolist() == [0, 0, 64, 255]


# ---------------------------------------------------------------------- size
def test_resizing_keeps_aspect_and_pads_with_the_border_colour():
    # 40 wide × 20 high, black with a white bar: fits 28×28 as 28×14, 7 rows of padding
    img = np.zeros((20, 40), np.uint8)
    img[8:12, 5:35] = 255
    pixels, resized = decode_image(_encode(img, "PNG"))
    assert resized and pixels.shape == (28, 28)
    assert (pixels[:7] == 0).all() and (pixels[21:] == 0).all()
    assert pixels[13:15, 4:24].min() > 200   # the bar, scaled by 0.7, centred
    # a light background gets light padding, so inversion makes it all dark
    light = 255 - img
    pixels, _ = decode_image(_encode(light, "PNG"), invert=True)
    assert (pixels[:7] == 0).all() and (pixels[21:] == 0).all()
    assert pixels[13:15, 4:24].min() > 200


def test_image_size_is_height_then_width(shirt):
    x = preprocess_image(_encode(shirt, "PNG"), image_size=(14, 28))
    assert x.shape == (14, 28)
    # 28×28 into 28 wide × 14 high: scaled to 14×14 and centred, 7 columns each side
    assert (x[:, :7] == 0).all() and (x[:, 21:] == 0).all()


def test_exact_size_refuses_another_size(shirt):
    with pytest.raises(ImageError, match="is 28×28 pixels \\(width×height\\), expected "
                                         "30×20 \\(exact_size=True\\)"):
        decode_image(_encode(shirt, "PNG"), (20, 30), exact_size=True)


def test_exif_orientation_is_applied():
    img = np.zeros((10, 20), np.uint8)  # 20 wide, 10 high
    img[:, :5] = 255                    # bright on the left
    exif = Image.Exif()
    exif[0x0112] = 6                    # "rotate 90° clockwise to display"
    data = _encode(img, "JPEG", quality=100, exif=exif.tobytes())
    pixels, _ = decode_image(data, (20, 10), exact_size=True)
    assert pixels.shape == (20, 10)
    assert pixels[:5].mean() > 200 and pixels[10:].mean() < 50  # left became top


def test_large_jpeg_size_is_checked_before_the_reduced_decode(tmp_path):
    # 224×224 decodes at 1/8 scale to exactly 28×28: still another size
    data = _encode(np.full((224, 224), 90, np.uint8), "JPEG", quality=95)
    with pytest.raises(ImageError, match="is 224×224 pixels \\(width×height\\), expected "
                                         "28×28 \\(exact_size=True\\)"):
        decode_image(data, (28, 28), exact_size=True)
    pixels, resized = decode_image(data, (28, 28))
    assert resized and pixels.shape == (28, 28)
    # the same in a folder: skipped with exact_size, counted as resized without
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "big.jpg").write_bytes(data)
    (tmp_path / "a" / "ok.png").write_bytes(_encode(np.zeros((28, 28), np.uint8), "PNG"))
    folder = nl.datasets.load_image_folder(tmp_path)
    assert folder.report.resized == 1
    strict = nl.datasets.load_image_folder(tmp_path, exact_size=True)
    assert strict.report.paths == ["a/ok.png"]
    assert [s.path for s in strict.report.skipped] == ["a/big.jpg"]


def test_large_jpeg_is_reduced_while_decoding():
    big = np.zeros((2000, 3000), np.uint8)
    big[500:1500, 1000:2000] = 255
    x = preprocess_image(_encode(big, "JPEG", quality=90), normalization="none")
    assert x.shape == (28, 28)
    # 3000×2000 → 28×19 (rounded), rows 5..23; the square spans its middle third
    assert x[14, 14] > 200 and x[14, 3] < 30 and x[1, 14] == 0


# ---------------------------------------------------------------------- refusals
def test_decompression_bomb_is_refused_before_decoding():
    with pytest.raises(ImageError, match="declares 9000×9000 = 81,000,000 pixels, more than "
                                         "max_pixels=40,000,000; it was refused without "
                                         "decoding"):
        preprocess_image(bomb_png(9000, 9000), max_pixels=40_000_000)
    # beyond twice Image.MAX_IMAGE_PIXELS Pillow refuses it itself, while reading the header
    with pytest.raises(ImageError, match="declares 10,000,000,000 pixels, more than "
                                         "max_pixels=40,000,000; it was refused"):
        preprocess_image(bomb_png(100_000, 100_000))
    with pytest.raises(ImageError, match="more than Pillow's limit of 178,956,970; it was "
                                         "refused"):
        preprocess_image(bomb_png(100_000, 100_000), max_pixels=10**12)
    with pytest.raises(ImageError, match="declares 28×28 = 784 pixels, more than "
                                         "max_pixels=100"):
        preprocess_image(bomb_png(28, 28), max_pixels=100)


def test_pillows_bomb_warning_is_not_printed_our_error_is_raised():
    # 100 M pixels: above Image.MAX_IMAGE_PIXELS (Pillow warns), below twice it (Pillow
    # raises); the refusal is our ImageError and nothing lands on standard error
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ImageError, match="declares 10000×10000 = 100,000,000 pixels"):
            preprocess_image(bomb_png(10_000, 10_000))


@pytest.mark.parametrize("data, msg", [
    (b"", "empty \\(0 bytes\\)"),
    (b"just some text, not a picture", "not an image Pillow can identify as one of PNG"),
    (bomb_png(28, 28), "truncated or corrupt"),
])
def test_bad_bytes_are_image_errors(data, msg):
    with pytest.raises(ImageError, match=msg) as err:
        preprocess_image(data)
    assert isinstance(err.value, InputError) and isinstance(err.value, ValueError)


def test_truncated_png_file(shirt, tmp_path):
    png = _encode(shirt, "PNG")
    (tmp_path / "cut.png").write_bytes(png[: len(png) // 2])
    with pytest.raises(ImageError, match="cut.png is truncated or corrupt"):
        preprocess_image(tmp_path / "cut.png")
    (tmp_path / "zero.png").write_bytes(b"")
    with pytest.raises(ImageError, match="zero.png is empty \\(0 bytes\\)"):
        preprocess_image(tmp_path / "zero.png")
    with pytest.raises(FileNotFoundError):
        preprocess_image(tmp_path / "absent.png")


def test_formats_outside_the_list_are_not_parsed(shirt):
    ppm = _encode(shirt, "PPM")  # Pillow reads PPM, but it is not an accepted format
    with pytest.raises(ImageError, match="not an image Pillow can identify"):
        preprocess_image(ppm)


def test_wrong_source_type():
    with pytest.raises(InputTypeError, match="source must be a path, bytes, a binary file "
                                             "object or a PIL.Image, got int"):
        preprocess_image(42)
