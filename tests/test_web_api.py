"""The web app's API: answers on real test images, every limit, the schema, concurrency."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import struct
import tempfile
import threading
import zlib

import httpx
import numpy as np
import pytest
from PIL import Image

import neurallab as nl
from neurallab.errors import InputError
from neurallab.web import ImageClassifier, create_app
from neurallab.web.default import RECIPE, train_default

# Starlette asks for httpx2 in its test client; the httpx it still supports is what we have
pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")

#: a smaller variant of the default recipe: the same kind of model in a few seconds
QUICK_RECIPE = {**RECIPE, "training": {**RECIPE["training"], "hidden": [64], "epochs": 4}}
LIMIT = 300_000  # bytes per request in these tests
MAX_FILES = 4


@pytest.fixture(scope="module")
def sample():
    return nl.datasets.fashion_mnist_sample()


@pytest.fixture(scope="module")
def net():
    return train_default(QUICK_RECIPE)


@pytest.fixture(scope="module")
def app(net):
    return create_app(net, max_upload_bytes=LIMIT, max_files=MAX_FILES, max_pixels=1_000_000)


def make_client(app):
    """Starlette's test client (imported here: its import warns, and tests filter that)."""
    from fastapi.testclient import TestClient

    return TestClient(app)


@pytest.fixture(scope="module")
def client(app):
    with make_client(app) as c:
        yield c


def as_uint8(image) -> np.ndarray:
    """A sample image as 0..255 grey levels, whatever dtype the sample stores."""
    image = np.asarray(image).reshape(28, 28)
    if image.dtype == np.uint8:
        return image
    return np.rint(np.clip(image, 0, 1) * 255).astype(np.uint8)


def encode(pixels: np.ndarray, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def confident_examples(net, sample, n: int = 3) -> list[tuple[np.ndarray, int]]:
    """Test images of ``n`` different classes the network gets right with p > 0.9."""
    X = np.stack([as_uint8(x) for x in sample.X_test]).reshape(len(sample.X_test), -1)
    p = net.predict_proba(X.astype(np.float32) / 255.0)
    y = np.asarray(sample.y_test)
    picked, classes = [], set()
    for i in np.flatnonzero((p.argmax(1) == y) & (p.max(1) > 0.9)):
        if int(y[i]) not in classes:
            classes.add(int(y[i]))
            picked.append((X[i].reshape(28, 28), int(y[i])))
        if len(picked) == n:
            break
    assert len(picked) == n, "the test model should be confident on a few test images"
    return picked


def post(client, *files):
    return client.post("/api/predict", files=[("files", f) for f in files])


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares ``width × height`` pixels but carries no pixel data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


# ------------------------------------------------------------------ answers
def test_healthz(client):
    assert client.get("/healthz").json() == {"status": "ok", "model": "Fashion-MNIST sample MLP"}


def test_model_card(client, net, sample):
    card = client.get("/api/model").json()
    assert card["class_names"] == list(sample.class_names)
    assert card["architecture"]["layer_sizes"] == [784, 64, 10]
    assert card["architecture"]["n_params"] == net.n_params == 784 * 64 + 64 + 64 * 10 + 10
    assert card["architecture"]["output_activation"] == "softmax"
    assert card["test_accuracy"] == pytest.approx(net.meta["test_accuracy"])
    assert 0.6 < card["test_accuracy"] <= 1.0
    assert card["n_test"] == len(sample.X_test) == 1000
    assert "Fashion-MNIST" in card["training_data"]
    assert card["preprocessing"] == {"image_size": [28, 28], "color_mode": "grayscale",
                                     "normalization": "unit", "invert": False}
    assert card["limits"] == {"max_upload_bytes": LIMIT, "max_files": MAX_FILES,
                              "max_pixels": 1_000_000,
                              "formats": ["PNG", "JPEG", "GIF", "BMP", "WebP"]}


@pytest.mark.parametrize("fmt,kwargs", [("PNG", {}), ("JPEG", {"quality": 95})])
def test_test_images_get_the_right_class(client, net, sample, fmt, kwargs):
    examples = confident_examples(net, sample)
    files = [(f"item{i}.{fmt.lower()}", encode(px, fmt, **kwargs), f"image/{fmt.lower()}")
             for i, (px, _) in enumerate(examples)]
    r = post(client, *files)
    assert r.status_code == 200
    results = r.json()["results"]
    assert [a["filename"] for a in results] == [f[0] for f in files]
    for answer, (pixels, label) in zip(results, examples, strict=True):
        assert answer["ok"] is True
        assert answer["label"] == sample.class_names[label]
        assert answer["index"] == label
        assert answer["image"] == {"format": fmt, "width": 28, "height": 28, "mode": "L"}
        probs = [p["probability"] for p in answer["predictions"]]
        assert len(probs) == 5 and probs == sorted(probs, reverse=True)
        assert 0.0 < sum(probs) <= 1.0 + 1e-6
        assert set(answer["timing_ms"]) == {"preprocess", "inference", "total"}
        seen = np.asarray(Image.open(io.BytesIO(base64.b64decode(answer["input_png"]))))
        assert seen.shape == (28, 28) and answer["input_shape"] == [28, 28]
        if fmt == "PNG":  # lossless: the network sees exactly the test image ...
            np.testing.assert_array_equal(seen, pixels)
            # ... and says exactly what the network says on the array itself
            expected = net.predict_proba(pixels.reshape(1, -1).astype(np.float32) / 255)[0]
            for p in answer["predictions"]:
                assert p["probability"] == pytest.approx(float(expected[p["index"]]), abs=1e-6)


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "WEBP"])
def test_other_accepted_formats(client, net, sample, fmt):
    pixels, label = confident_examples(net, sample, 1)[0]
    data = encode(pixels, fmt, **({"lossless": True} if fmt == "WEBP" else {}))
    answer = post(client, (f"x.{fmt.lower()}", data, "image/" + fmt.lower())).json()["results"][0]
    assert answer["label"] == sample.class_names[label]
    assert answer["image"]["format"] == {"WEBP": "WebP"}.get(fmt, fmt)


def test_large_colour_photo_is_shrunk_to_the_network_input(client):
    rgb = np.zeros((300, 200, 3), dtype=np.uint8)
    rgb[50:250, 60:140] = (250, 240, 230)  # a light upright block on black
    answer = post(client, ("photo.png", encode(rgb, "PNG"), "image/png")).json()["results"][0]
    assert answer["image"] == {"format": "PNG", "width": 200, "height": 300, "mode": "RGB"}
    seen = np.asarray(Image.open(io.BytesIO(base64.b64decode(answer["input_png"]))))
    assert seen.shape == (28, 28)
    assert seen[14, 14] > 150 and seen[1, 1] < 30  # bright middle, dark corner


def the_bad_one(r, sample, label) -> dict:
    """The second entry of a 200 answer whose first file was classified right."""
    assert r.status_code == 200
    good, bad = r.json()["results"]
    assert good["ok"] and good["label"] == sample.class_names[label]
    return bad


def test_mixed_request_answers_each_file(client, net, sample):
    pixels, label = confident_examples(net, sample, 1)[0]
    r = post(client, ("good.png", encode(pixels, "PNG"), "image/png"),
             ("notes.txt", b"not a picture", "text/plain"))
    assert the_bad_one(r, sample, label) == {
        "filename": "notes.txt", "ok": False, "status": 415, "code": "not_an_image",
        "error": "notes.txt is not an image this server can read. "
                 "Upload a PNG, JPEG, GIF, BMP or WebP file."}


def test_phone_jpeg_read_as_mpo_is_classified_as_jpeg(client, net, sample):
    """Many phone and camera photos are JPEGs with more pictures appended (MPO)."""
    pixels, label = confident_examples(net, sample, 1)[0]
    buf = io.BytesIO()
    Image.fromarray(pixels).convert("RGB").save(
        buf, format="MPO", save_all=True, quality=95,
        append_images=[Image.new("RGB", (28, 28))])
    assert Image.open(io.BytesIO(buf.getvalue())).format == "MPO"
    r = post(client, ("phone.jpg", buf.getvalue(), "image/jpeg"))
    assert r.status_code == 200
    answer = r.json()["results"][0]
    assert answer["image"]["format"] == "JPEG" and answer["label"] == sample.class_names[label]


def test_exif_rotated_photo_reports_the_size_it_is_shown_at(client):
    img = Image.new("L", (56, 28), 200)            # stored landscape ...
    exif = Image.Exif()
    exif[0x0112] = 6                              # ... shown turned a quarter: portrait
    buf = io.BytesIO()
    img.save(buf, format="JPEG", exif=exif)
    answer = post(client, ("turned.jpg", buf.getvalue(), "image/jpeg")).json()["results"][0]
    assert (answer["image"]["width"], answer["image"]["height"]) == (28, 56)


def test_a_light_background_gets_a_note(client, net, sample):
    """The default model learnt light garments on black; a dark one on white paper is
    answered, with a note saying why the answer may mean little."""
    assert net.meta["background"] == "dark"
    pixels, _ = confident_examples(net, sample, 1)[0]
    on_black = post(client, ("dark.png", encode(pixels, "PNG"), "image/png")).json()
    assert "note" not in on_black["results"][0]
    on_white = post(client, ("white.png", encode(255 - pixels, "PNG"), "image/png")).json()
    assert on_white["results"][0]["note"] == (
        "white.png has a light background, but this model learnt from images with a dark "
        "one, so its answer may mean little; a photo with a dark background works better.")


def test_a_file_the_server_fails_on_does_not_sink_the_others(app, client, net, sample,
                                                             monkeypatch):
    pixels, label = confident_examples(net, sample, 1)[0]
    classifier = app.state.classifier
    prepare = classifier._prepare

    def flaky(filename, data):
        if filename == "odd.png":
            raise KeyError("a decoder's surprise")
        return prepare(filename, data)

    monkeypatch.setattr(classifier, "_prepare", flaky)
    r = post(client, ("good.png", encode(pixels, "PNG"), "image/png"),
             ("odd.png", encode(pixels, "PNG"), "image/png"))
    assert the_bad_one(r, sample, label) == {
        "filename": "odd.png", "ok": False, "status": 500, "code": "internal_error",
        "error": "odd.png could not be classified: the server failed on it "
                 "(KeyError). Try saving it as PNG and upload it again."}


# ------------------------------------------------------------------ bad files
def test_text_file_is_415(client):
    r = post(client, ("notes.txt", b"hello, this is text", "text/plain"))
    assert r.status_code == 415
    body = r.json()
    assert body["code"] == "not_an_image"
    assert body["detail"] == ("notes.txt is not an image this server can read. "
                              "Upload a PNG, JPEG, GIF, BMP or WebP file.")


def test_image_type_the_server_does_not_take_is_415(client):
    r = post(client, ("scan.tiff", encode(np.zeros((8, 8), np.uint8), "TIFF"), "image/tiff"))
    assert r.status_code == 415 and r.json()["code"] == "not_an_image"


def test_truncated_image_is_422(client):
    data = encode(np.random.default_rng(0).integers(0, 256, (60, 60), dtype=np.uint8), "PNG")
    r = post(client, ("cut.png", data[: len(data) // 2], "image/png"))
    assert r.status_code == 422
    assert r.json()["code"] == "unreadable_image"
    assert r.json()["detail"].startswith("cut.png is truncated or corrupt: ")


def test_empty_file_is_422(client):
    r = post(client, ("empty.png", b"", "image/png"))
    assert r.status_code == 422
    assert r.json() == {"detail": "empty.png is empty (0 bytes). Choose an image file.",
                        "code": "empty_file", "results": [r.json()["results"][0]]}


@pytest.mark.parametrize("size", [(2000, 1000), (100_000, 100_000)])
def test_decompression_bomb_is_refused_unread(client, size):
    width, height = size
    data = png_header_only(width, height)  # a few dozen bytes claiming a huge image
    r = post(client, ("bomb.png", data, "image/png"))
    assert r.status_code == 422
    assert r.json()["code"] == "image_too_large"
    assert "more than the limit of 1,000,000" in r.json()["detail"] or \
        "far more pixels than the limit of 1,000,000" in r.json()["detail"]


# ------------------------------------------------------------------ request limits
def test_upload_over_the_limit_is_413(client):
    r = post(client, ("big.png", b"\x89PNG" + bytes(LIMIT), "image/png"))
    assert r.status_code == 413
    assert r.headers["connection"] == "close"  # not read on to the end: the connection goes
    assert r.json() == {
        "code": "payload_too_large",
        "detail": "The upload is larger than the server's limit of 0.3 MB per request. "
                  "Send smaller images, or fewer images at a time.",
    }


def test_too_many_files_is_413(client):
    r = post(client, *[(f"{i}.png", b"x", "image/png") for i in range(MAX_FILES + 1)])
    assert r.status_code == 413
    assert r.json() == {"code": "too_many_files",
                        "detail": "Too many files in one request: at most 4 are accepted. "
                                  "Send the rest in another request."}


def test_not_multipart_is_415(client):
    r = client.post("/api/predict", content=b"\x89PNG...", headers={"content-type": "image/png"})
    assert r.status_code == 415
    assert r.json()["code"] == "not_multipart"
    assert "multipart/form-data" in r.json()["detail"]


def test_no_files_part_is_422(client):
    r = client.post("/api/predict", files=[("image", ("a.png", b"x", "image/png"))])
    assert r.status_code == 422
    assert r.json() == {"code": "no_files",
                        "detail": "No files were uploaded (the request had 1 part(s) with "
                                  "other names). Attach one or more images in parts named "
                                  "'files'."}


def test_broken_multipart_is_400(client):
    r = client.post("/api/predict", content=b"--XX\r\nnonsense without headers end",
                    headers={"content-type": "multipart/form-data; boundary=XX"})
    assert r.status_code == 400
    assert r.json()["code"] == "bad_multipart"


def multipart_body(data: bytes, boundary: str = "b0und") -> bytes:
    return (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; "
            f"filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n").encode() + data + \
        f"\r\n--{boundary}--\r\n".encode()


def asgi_post(app, headers: dict, chunks: list[bytes]) -> tuple[int, dict, int]:
    """POST /api/predict straight through ASGI, body in ``chunks``, headers as given.

    Returns the status, the JSON body and how many body chunks the app asked for.
    """
    asked = 0

    async def receive():
        nonlocal asked
        asked += 1
        if asked <= len(chunks):
            return {"type": "http.request", "body": chunks[asked - 1],
                    "more_body": asked < len(chunks)}
        return {"type": "http.disconnect"}

    sent = []

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": "/api/predict",
             "raw_path": b"/api/predict", "query_string": b"", "root_path": "",
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
             "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 80)}
    asyncio.run(app(scope, receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, json.loads(body), asked


MULTIPART = {"content-type": "multipart/form-data; boundary=b0und"}


def test_declared_length_over_the_limit_is_413_before_reading(app):
    status, body, asked = asgi_post(app, {**MULTIPART, "content-length": str(LIMIT + 1)},
                                    [multipart_body(b"x")])
    assert (status, body["code"], asked) == (413, "payload_too_large", 0)


@pytest.mark.parametrize("declared", ["1000", None], ids=["lying-header", "chunked"])
def test_bytes_are_counted_whatever_the_header_says(app, declared):
    body = multipart_body(bytes(3 * LIMIT))
    chunks = [body[i:i + 65536] for i in range(0, len(body), 65536)]
    headers = dict(MULTIPART) if declared is None else {**MULTIPART, "content-length": declared}
    status, answer, asked = asgi_post(app, headers, chunks)
    assert (status, answer["code"]) == (413, "payload_too_large")
    assert asked == LIMIT // 65536 + 1 < len(chunks)  # stopped at the limit, read no further


def test_uploads_never_touch_the_disk(client, monkeypatch):
    def no_disk(*args, **kwargs):
        raise AssertionError("an upload was written to a temporary file")

    for name in ("SpooledTemporaryFile", "TemporaryFile", "NamedTemporaryFile", "mkstemp"):
        monkeypatch.setattr(tempfile, name, no_disk)
    rng = np.random.default_rng(0)  # noise does not compress: a PNG of ~250 kB
    noisy = encode(rng.integers(0, 256, (500, 500), dtype=np.uint8), "PNG")
    assert 200_000 < len(noisy) < LIMIT
    r = post(client, ("noise.png", noisy, "image/png"))
    assert r.status_code == 200 and r.json()["results"][0]["ok"]


# ------------------------------------------------------------------ schema
def test_openapi_schema_is_valid(client):
    schema = client.get("/openapi.json").json()
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(schema)
    assert schema["openapi"].startswith("3.")
    assert {"/api/predict", "/api/model", "/healthz"} <= set(schema["paths"])
    body = schema["paths"]["/api/predict"]["post"]["requestBody"]["content"]
    files = body["multipart/form-data"]["schema"]["properties"]["files"]
    assert files == {"type": "array", "items": {"type": "string", "format": "binary"},
                     "description": "one or more images (PNG, JPEG, GIF, BMP, WebP)"}
    assert {"200", "413", "415", "422"} <= set(schema["paths"]["/api/predict"]["post"]["responses"])
    docs = client.get("/docs")
    assert docs.status_code == 200
    # Swagger UI comes from local files (no CDN): the page works offline
    assert "/docs-assets/swagger-ui-bundle.js" in docs.text and "cdn" not in docs.text.lower()
    asset = client.get("/docs-assets/swagger-ui-bundle.js")
    assert asset.status_code == 200 and len(asset.content) > 100_000


def test_page_and_its_files_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for name in ("app.js", "style.css"):
        assert f"/static/{name}" in page.text
        assert client.get(f"/static/{name}").status_code == 200


# ------------------------------------------------------------------ concurrency
def test_inference_runs_off_the_event_loop(app, client, net, sample, monkeypatch):
    classifier = app.state.classifier
    seen = []
    original = classifier.classify

    def spy(files):
        try:
            asyncio.get_running_loop()
            seen.append("event loop")
        except RuntimeError:
            seen.append("worker thread")
        return original(files)

    monkeypatch.setattr(classifier, "classify", spy)
    pixels, _ = confident_examples(net, sample, 1)[0]
    assert post(client, ("a.png", encode(pixels, "PNG"), "image/png")).status_code == 200
    assert seen == ["worker thread"]


def test_concurrent_requests_get_the_answers_of_serial_ones(app, net, sample):
    examples = confident_examples(net, sample, 3)
    images = [encode(px, "PNG") for px, _ in examples] * 8

    async def run_all():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            return await asyncio.gather(*[
                c.post("/api/predict", files=[("files", (f"{i}.png", data, "image/png"))])
                for i, data in enumerate(images)])

    responses = asyncio.run(run_all())
    serial = app.state.classifier.classify([("x.png", data) for data in images])
    for r, s in zip(responses, serial, strict=True):
        assert r.status_code == 200
        assert r.json()["results"][0]["predictions"] == s.payload["predictions"]


def test_classifier_is_thread_safe(net, sample):
    """Many threads share one network; each gets exactly the single-thread answer."""
    classifier = ImageClassifier(net)
    X = np.stack([as_uint8(x) for x in sample.X_test[:64]])
    images = [encode(px, "PNG") for px in X]
    expected = [classifier.classify_one("x", d).payload["predictions"] for d in images]
    got: dict[int, list] = {}
    barrier = threading.Barrier(8)

    def work(k):
        barrier.wait()
        got[k] = [classifier.classify_one("x", images[(k + j) % 64]).payload["predictions"]
                  for j in range(64)]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in range(8):
        assert got[k] == [expected[(k + j) % 64] for j in range(64)]


# ------------------------------------------------------------------ bad arguments
def test_create_app_rejects_bad_arguments(net):
    with pytest.raises(InputError, match="max_files must be a positive integer, got 0"):
        create_app(net, max_files=0)
    with pytest.raises(InputError, match="max_upload_bytes must be a positive integer"):
        create_app(net, max_upload_bytes=-5)
    with pytest.raises(InputError, match="model must be a Network, a path to a .safetensors"):
        create_app(42)


def test_create_app_rejects_models_it_cannot_serve(net):
    regressor = nl.Network([784, 3, 1], activation="relu", output_activation="identity")
    with pytest.raises(InputError, match="serves classifiers with a softmax output"):
        create_app(regressor)
    bare = net.copy()
    bare.meta = {}
    with pytest.raises(InputError, match=r"this model has no image preprocessing \(net.meta"):
        create_app(bare)
    wrong = net.copy()
    wrong.meta = {**net.meta, "preprocessing": {**net.meta["preprocessing"],
                                                "image_size": [32, 32]}}
    with pytest.raises(InputError, match=r"takes 784 inputs but its preprocessing makes "
                                         r"32×32×1 = 1024"):
        create_app(wrong)
    misnamed = net.copy()
    misnamed.class_names = ["a", "b"]
    with pytest.raises(InputError, match="has 10 classes but 2 class names"):
        create_app(misnamed)


def test_create_app_loads_a_model_file(net, tmp_path):
    path = tmp_path / "model.safetensors"
    net.save(path)
    with make_client(create_app(str(path))) as c:
        card = c.get("/api/model").json()
    assert card["source"] == str(path)
    assert card["architecture"]["layer_sizes"] == [784, 64, 10]
