"""The page in a real browser: Playwright drives the system's Chromium, headless.

Uploads a PNG and checks the predicted label and the probability bars appear;
uploads a text file and checks the plain-words error; classifies a drawing; and
takes a screenshot of the page with predictions (to ``$NEURALLAB_SCREENSHOT`` if set —
that is how ``docs/screenshot.png`` is made — else to a temporary folder).

Chromium comes from Debian (``apt-get install chromium``; ``scripts/test.sh`` installs
it). Without it the test is skipped on a workstation but fails in CI (``CI`` set), so
CI cannot silently stop testing the page.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import neurallab as nl
from neurallab.classify import evaluate
from neurallab.web import create_app
from neurallab.web.background import running_server
from neurallab.web.default import RECIPE, default_model, train_default

CHROMIUM = "/usr/bin/chromium"
QUICK_RECIPE = {**RECIPE, "training": {**RECIPE["training"], "hidden": [64], "epochs": 4}}
pytestmark = pytest.mark.slow


def _missing(what: str):
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{what} is missing in CI; scripts/test.sh installs it "
                    "(apt-get install chromium; pip install playwright)")
    pytest.skip(f"{what} is not installed")


@pytest.fixture(scope="module")
def sync_playwright():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright Python package")
    if not os.access(CHROMIUM, os.X_OK):
        _missing(f"Chromium ({CHROMIUM})")
    return sync_playwright


@pytest.fixture(scope="module")
def sample():
    return nl.datasets.fashion_mnist_sample()


@pytest.fixture(scope="module")
def net():
    if os.environ.get("NEURALLAB_SCREENSHOT"):  # the picture for the docs: the real thing
        return default_model()
    return train_default(QUICK_RECIPE)


@pytest.fixture(scope="module")
def examples(net, sample):
    """One test image per class that the network gets right with p > 0.9: (pixels, name)."""
    report = evaluate(net, sample.X_test, sample.y_test)
    ok = np.flatnonzero((report.y_pred == report.y_true) & (report.proba.max(1) > 0.9))
    _, first = np.unique(report.y_true[ok], return_index=True)
    return {sample.class_names[report.y_true[i]]: np.asarray(sample.X_test[i], np.uint8)
            for i in ok[first]}


@pytest.fixture(scope="module")
def base_url(net):
    with running_server(create_app(net)) as url:
        yield url


@pytest.fixture(scope="module")
def browser(sync_playwright):
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser, base_url):
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(base_url + "/")
    page.wait_for_selector(".chips li")  # the model card has loaded
    yield page
    page.close()
    assert errors == [], f"the page raised JavaScript errors: {errors}"


def png(pixels: np.ndarray, scale: int = 1) -> bytes:
    image = Image.fromarray(pixels)
    if scale > 1:  # a bigger picture, as a person would upload; same content
        image = image.resize((image.width * scale, image.height * scale), Image.NEAREST)
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def upload(page, *files: tuple[str, str, bytes]) -> None:
    page.set_input_files("#file-input", [
        {"name": name, "mimeType": mime, "buffer": data} for name, mime, data in files])


def test_model_card_is_shown(page, net):
    card = page.locator("#model-card")
    assert card.locator(".model-name").inner_text() == "Fashion-MNIST sample MLP"
    assert card.locator(".chips li").all_inner_texts() == net.class_names
    text = card.inner_text()
    assert " → ".join(map(str, net.layer_sizes)) in text
    assert f"{100 * net.meta['test_accuracy']:.1f}% on 1,000 test images" in text


def test_png_upload_shows_label_and_probability_bars(page, examples):
    name, pixels = next(iter(examples.items()))
    upload(page, ("item.png", "image/png", png(pixels)))
    result = page.locator(".result.ok")
    result.wait_for()
    assert result.locator(".label strong").inner_text() == name
    bars = result.locator(".bar")
    assert bars.count() == 5
    assert bars.first.locator(".bar-label").inner_text() == name
    widths = [b.evaluate("el => el.getBoundingClientRect().width")
              for b in result.locator(".bar-fill").all()]
    assert widths[0] > 0.9 * result.locator(".bar-track").first.evaluate(
        "el => el.getBoundingClientRect().width")  # p > 0.9: a nearly full bar
    assert widths == sorted(widths, reverse=True)
    seen = result.locator(".seen img")
    assert seen.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [28, 28]
    assert "ms" in result.locator(".timing").inner_text()


def test_a_light_background_shows_its_note(page, examples):
    name, pixels = next(iter(examples.items()))
    upload(page, ("on_white.png", "image/png", png(255 - pixels)))
    result = page.locator(".result.ok")
    result.wait_for()
    assert result.locator(".note").inner_text().startswith(
        "on_white.png has a light background, but this model learnt from images with a dark "
        "one")
    upload(page, ("on_black.png", "image/png", png(pixels)))
    page.locator(".result.ok").nth(1).wait_for()
    assert page.locator(".result.ok").first.locator(".note").count() == 0   # newest first


def test_text_file_shows_the_error_in_plain_words(page):
    upload(page, ("notes.txt", "text/plain", b"shopping list: milk, eggs"))
    result = page.locator(".result.error")
    result.wait_for()
    assert result.locator(".error-text").inner_text() == (
        "notes.txt is not an image this server can read. "
        "Upload a PNG, JPEG, GIF, BMP or WebP file.")
    assert page.locator(".result.ok").count() == 0


def draw_trousers(page) -> None:
    """Two strokes down the drawing area: the legs of a pair of trousers."""
    box = page.locator("#sketch").bounding_box()
    x0, y0, w, h = box["x"], box["y"], box["width"], box["height"]
    for top, bottom in ((0.42, 0.36), (0.58, 0.64)):
        page.mouse.move(x0 + top * w, y0 + 0.12 * h)
        page.mouse.down()
        page.mouse.move(x0 + bottom * w, y0 + 0.9 * h, steps=12)
        page.mouse.up()


def test_drawing_is_classified(page):
    assert page.locator("#classify-drawing").is_disabled()  # nothing drawn yet
    draw_trousers(page)
    page.click("#classify-drawing")
    result = page.locator(".result.ok")
    result.wait_for()
    assert result.locator(".filename").inner_text() == "drawing.png"
    assert result.locator(".bar").count() == 5


def test_screenshot_with_predictions(page, examples, tmp_path):
    wanted = [n for n in ("Ankle boot", "Trouser", "Bag", "Pullover") if n in examples][:3]
    upload(page, *[(f"{n.lower().replace(' ', '-')}.png", "image/png",
                    png(examples[n], scale=4)) for n in wanted])
    page.locator(".result.ok").nth(len(wanted) - 1).wait_for()
    assert sorted(page.locator(".result.ok .label strong").all_inner_texts()) == sorted(wanted)
    draw_trousers(page)
    page.click("#classify-drawing")
    page.locator(".result.ok").nth(len(wanted)).wait_for()
    target = Path(os.environ.get("NEURALLAB_SCREENSHOT") or tmp_path / "screenshot.png")
    target.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target), full_page=True)
    with Image.open(target) as shot:
        assert shot.format == "PNG" and shot.width == 1200 and shot.height >= 900
