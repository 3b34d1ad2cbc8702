"""The values page in a real browser: Playwright drives the system's Chromium, headless.

Types values into the fields made from the model's feature names, presses Predict (and
Enter), and reads the answer: the model's own prediction as the page formats it; a
classifier's top classes; an empty field named in plain words. Takes a screenshot of
the answer (to ``$NEURALLAB_VALUES_SCREENSHOT`` if set, else to a temporary folder).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_web_browser import browser, sync_playwright  # noqa: F401 - its fixtures
from test_web_values import classifier, regressor  # noqa: F401 - its fixtures

from neurallab.web import create_values_app
from neurallab.web.background import running_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def regressor_url(regressor):  # noqa: F811 - the fixture
    with running_server(create_values_app(regressor)) as url:
        yield url


@pytest.fixture
def page(browser, regressor_url):  # noqa: F811
    page = browser.new_page(viewport={"width": 1200, "height": 800})
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(regressor_url + "/")
    page.wait_for_selector("#predict:not([disabled])")   # the fields are made
    yield page
    page.close()
    assert errors == [], f"the page raised JavaScript errors: {errors}"


def as_page_formats(v: float) -> str:
    """Six significant digits, as the page shows a prediction (``{:.6g}``)."""
    return f"{v:.6g}"


def test_fields_are_labelled_with_the_models_feature_names(page):
    assert page.get_by_label("sleep").count() == 1 and page.get_by_label("study").count() == 1
    assert page.locator("#title").inner_text() == "Predict score"
    card = page.locator("#model-card").inner_text()
    assert "2 → 3 → 1" in card and "sleep, study" in card and "standard" in card
    assert "10,000 rows" in card


def test_typing_values_and_pressing_predict_shows_the_models_answer(page, regressor):  # noqa: F811
    page.get_by_label("sleep").fill("8")
    page.get_by_label("study").fill("3")
    page.click("#predict")
    answer = page.locator("#answer .predicted")
    answer.wait_for()
    expected = float(regressor.predict(np.array([[8.0, 3.0]]))[0, 0])
    assert answer.inner_text() == as_page_formats(expected)
    assert answer.get_attribute("title") == repr(expected)   # every digit on hover
    assert page.locator("#answer .target-name").inner_text() == "score"
    assert page.locator("#answer .answer-for").inner_text().startswith("for sleep 8, study 3")
    # new values, Enter in a field: the answer changes without a reload
    page.evaluate("window.notReloaded = true")
    page.get_by_label("sleep").fill("5.5")
    page.get_by_label("study").press("Enter")
    second = float(regressor.predict(np.array([[5.5, 3.0]]))[0, 0])
    page.wait_for_function("t => document.querySelector('#answer .predicted').textContent === t",
                           arg=as_page_formats(second))
    assert page.evaluate("window.notReloaded") is True


def test_an_empty_field_is_named(page):
    page.get_by_label("sleep").fill("7")
    page.click("#predict")
    banner = page.locator("#banner")
    banner.wait_for()
    assert banner.inner_text() == "Fill in study: the model needs every input."
    assert page.get_by_label("study").get_attribute("aria-invalid") == "true"
    assert page.locator("#answer .predicted").count() == 0


def test_a_classifier_shows_its_top_classes(browser, classifier):  # noqa: F811
    with running_server(create_values_app(classifier)) as url:
        page = browser.new_page(viewport={"width": 1200, "height": 800})
        page.goto(url + "/")
        page.wait_for_selector("#predict:not([disabled])")
        for name, value in zip(["petal", "sepal", "stem"], ["0", "3.5", "0.2"], strict=True):
            page.get_by_label(name).fill(value)
        page.click("#predict")
        page.locator("#answer .bar").first.wait_for()
        p = classifier.predict_proba(np.array([[0, 3.5, 0.2]]))[0]
        order = np.argsort(-p)
        assert page.locator("#answer .answer-value strong").inner_text() == \
            classifier.class_names[order[0]]
        assert page.locator("#answer .bar-label").all_inner_texts() == \
            [classifier.class_names[k] for k in order]
        page.close()


def test_screenshot(page, tmp_path):
    page.get_by_label("sleep").fill("8")
    page.get_by_label("study").fill("3")
    page.click("#predict")
    page.locator("#answer .predicted").wait_for()
    target = Path(os.environ.get("NEURALLAB_VALUES_SCREENSHOT") or tmp_path / "values.png")
    target.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target), full_page=True)
    with Image.open(target) as shot:
        assert shot.format == "PNG" and shot.width == 1200



def shown_answer(browser, net, values: dict[str, str]) -> str:  # noqa: F811
    """The answer the values page for ``net`` shows after ``values`` are typed in."""
    with running_server(create_values_app(net)) as url:
        page = browser.new_page()
        page.goto(url + "/")
        page.wait_for_selector("#predict:not([disabled])")
        for name, text in values.items():
            page.get_by_label(name).fill(text)
        page.click("#predict")
        answer = page.locator("#answer .predicted")
        answer.wait_for()
        shown = answer.inner_text()
        page.close()
    return shown


@pytest.mark.parametrize("x", ["1", "1e11", "66666646666.67", "-3e-3", "1e5"])
def test_large_and_small_answers_are_shown_as_python_formats_them(browser, x):  # noqa: F811
    """Past the fixed-point range of ``{:.6g}`` (10⁶ and up, below 10⁻⁴) the page writes
    an exponent, without trailing zeros: 1.5e-05, not 0.0000150000; 1.5e+06, not
    1.50000e+6; and 999,999.7 rounds to 1e+06, as Python rounds it."""
    import neurallab as nl

    net = nl.Network([1, 1], output_activation="identity")
    net.W[0][...] = 1.5e-5
    net.b[0][...] = 0.0
    expected = float(net.predict(np.array([[float(x)]]))[0, 0])
    assert shown_answer(browser, net, {"x1": x}) == as_page_formats(expected)


def test_a_feature_named_like_an_object_property_is_sent(browser, regressor):  # noqa: F811
    """A column may be called __proto__ (or constructor): the page's row keeps it as a
    value of its own rather than setting the object's prototype, which dropped it."""
    net = regressor.copy()
    net.meta["csv"] = {**regressor.meta["csv"], "features": ["__proto__", "constructor"]}
    expected = float(net.predict(np.array([[8.0, 3.0]]))[0, 0])
    assert shown_answer(browser, net, {"__proto__": "8", "constructor": "3"}) == \
        as_page_formats(expected)
