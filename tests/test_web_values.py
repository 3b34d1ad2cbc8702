"""The values app: a model trained on a table behind a JSON API and a page.

Answers are compared with ``net.predict`` / ``predict_proba`` and with ``neurallab
predict --values`` bit for bit; every way a request can be wrong has its exact message.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_web_api import asgi_post  # POST /api/predict straight through ASGI

import neurallab as nl
from neurallab.cli import main
from neurallab.errors import InputError
from neurallab.web import ValuesModel, create_app, create_values_app

# Starlette asks for httpx2 in its test client; the httpx it still supports is what we have
pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")

LIMIT = 2_000     # bytes per request in these tests
MAX_ROWS = 20
EXAMPLE = '{"rows": [{"sleep": 1, "study": 1}]}'


def scores_net() -> nl.Network:
    """A regressor made as ``neurallab train scores.csv --target score`` makes one."""
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.uniform(3, 10, 80), rng.uniform(0, 6, 80)])
    y = 40 + 3 * X[:, :1] + 6 * X[:, 1:] + rng.normal(0, 2, (80, 1))
    net = nl.Network([2, 3, 1], activation="sigmoid", output_activation="identity", seed=0,
                     input_scaler="standard", output_scaler="standard")
    net.fit(X, y, loss="mse", optimizer="bfgs", epochs=40)
    net.meta["csv"] = {"features": ["sleep", "study"], "target": "score",
                       "task": "regression"}
    return net


def species_net() -> nl.Network:
    """A three-class classifier with named classes, as ``neurallab train`` makes one."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(90, 3)) + np.repeat(np.eye(3) * 3, 30, axis=0)
    y = np.repeat(np.arange(3), 30)
    net = nl.Network([3, 4, 3], activation="tanh", output_activation="softmax", seed=0,
                     input_scaler="minmax")
    net.class_names = ["setosa", "versicolor", "virginica"]
    net.fit(X, y, loss="categorical_crossentropy", optimizer="bfgs", epochs=40)
    net.meta["csv"] = {"features": ["petal", "sepal", "stem"], "target": "species",
                       "task": "classification"}
    return net


@pytest.fixture(scope="module")
def regressor():
    return scores_net()


@pytest.fixture(scope="module")
def classifier():
    return species_net()


def make_client(app):
    from fastapi.testclient import TestClient

    return TestClient(app)


@pytest.fixture(scope="module")
def client(regressor):
    with make_client(create_values_app(regressor, max_upload_bytes=LIMIT,
                                       max_rows=MAX_ROWS)) as c:
        yield c


@pytest.fixture(scope="module")
def class_client(classifier):
    with make_client(create_values_app(classifier)) as c:
        yield c


def post(client, body, content_type="application/json"):
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.post("/api/predict", content=data, headers={"content-type": content_type})


# ------------------------------------------------------------------ answers
def test_regressor_answers_are_net_predict_bit_for_bit(client, regressor):
    rows = [[8, 3], [5.5, 1.25], [10, 0], [3.3, 5.9]]
    X = np.array(rows, dtype=np.float64)
    expected = [float(v) for v in regressor.predict(X)[:, 0]]
    by_order = post(client, {"rows": rows})
    by_name = post(client, {"rows": [{"study": b, "sleep": a} for a, b in rows]})
    mixed = post(client, {"rows": [rows[0], {"sleep": rows[1][0], "study": rows[1][1]}]})
    for r in (by_order, by_name):
        assert r.status_code == 200
        assert r.json()["predictions"] == expected   # == on floats: every digit
        assert r.json()["target"] == "score" and r.json()["elapsed_ms"] > 0
    assert mixed.json()["predictions"] == expected[:2]


@settings(max_examples=25, deadline=None)
@given(rows=st.lists(st.tuples(st.floats(-1e6, 1e6), st.floats(-1e6, 1e6)), min_size=1,
                     max_size=MAX_ROWS))
def test_any_finite_rows_are_answered_as_net_predict(client, regressor, rows):
    answer = post(client, {"rows": [list(r) for r in rows]}).json()["predictions"]
    assert answer == regressor.predict(np.array(rows)).ravel().tolist()


def test_answers_equal_the_predict_command(client, regressor, tmp_path, capsys):
    path = tmp_path / "scores.safetensors"
    regressor.save(path)
    assert main(["predict", str(path), "--values", "8,3", "--values", "6.5,2.25"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "sleep,study,score"
    from_cli = [float(line.split(",")[2]) for line in lines[1:]]
    answer = post(client, {"rows": [[8, 3], {"sleep": 6.5, "study": 2.25}]}).json()
    assert answer["predictions"] == from_cli


def test_classifier_answers_are_predict_proba_bit_for_bit(class_client, classifier):
    rows = [[3, 0, 0], [0, 3.5, 0.2], [0.1, 0, 2.9], [1, 1, 1]]
    X = np.array(rows, dtype=np.float64)
    proba, labels = classifier.predict_proba(X), classifier.predict(X)
    r = post(class_client, {"rows": [dict(zip(["petal", "sepal", "stem"], row, strict=True))
                                     for row in rows]})
    assert r.status_code == 200
    answers = r.json()["predictions"]
    assert [a["label"] for a in answers] == [classifier.class_names[k] for k in labels]
    assert labels[:3].tolist() == [0, 1, 2]
    for answer, p in zip(answers, proba, strict=True):
        assert list(answer["probabilities"]) == classifier.class_names  # the model's order
        assert list(answer["probabilities"].values()) == p.tolist()


def test_model_card(client, regressor):
    card = client.get("/api/model").json()
    assert card["kind"] == "values" and card["task"] == "regression"
    assert card["name"] == "score regression model"
    assert card["features"] == [{"name": "sleep", "units": None},
                                {"name": "study", "units": None}]
    assert card["target"] == {"name": "score", "units": None}
    assert card["outputs"] == ["score"] and card["class_names"] is None
    assert card["architecture"]["layer_sizes"] == [2, 3, 1]
    assert card["architecture"]["n_params"] == regressor.n_params == 13
    assert card["training_rows"] is None   # this model's meta records no training rows
    inputs = card["scaling"]["inputs"]
    assert inputs["kind"] == "standard" and inputs["formula"] == "(x − offset) / scale"
    assert [c["name"] for c in inputs["columns"]] == ["sleep", "study"]
    assert [c["offset"] for c in inputs["columns"]] == regressor.input_scaler.offset_.tolist()
    assert [c["scale"] for c in inputs["columns"]] == regressor.input_scaler.scale_.tolist()
    assert card["scaling"]["target"]["columns"] == [{
        "name": "score", "offset": float(regressor.output_scaler.offset_[0]),
        "scale": float(regressor.output_scaler.scale_[0])}]
    assert card["limits"] == {"max_rows": MAX_ROWS, "max_upload_bytes": LIMIT}
    assert client.get("/healthz").json() == {"status": "ok", "model": "score regression model"}


def test_model_card_shows_recorded_units_and_training_rows(regressor):
    net = regressor.copy()
    net.meta = {**net.meta, "csv": {**net.meta["csv"], "n_train": 160,
                                    "units": {"sleep": "hours", "score": "points"}}}
    card = ValuesModel(net).card()
    assert card["features"] == [{"name": "sleep", "units": "hours"},
                                {"name": "study", "units": None}]
    assert card["target"] == {"name": "score", "units": "points"}
    assert card["training_rows"] == 160


def test_classifier_card(class_client):
    card = class_client.get("/api/model").json()
    assert card["task"] == "classification" and card["target"]["name"] == "species"
    assert card["class_names"] == ["setosa", "versicolor", "virginica"]
    assert card["scaling"]["inputs"]["kind"] == "minmax"
    assert card["scaling"]["target"] is None
    assert card["limits"]["max_rows"] == 10_000


def test_a_model_without_csv_names_takes_x1_x2(regressor):
    net = regressor.copy()
    net.meta = {}
    with make_client(create_values_app(net)) as c:
        card = c.get("/api/model").json()
        assert [f["name"] for f in card["features"]] == ["x1", "x2"]
        answer = post(c, {"rows": [{"x1": 8, "x2": 3}]}).json()
    assert answer == {"target": "prediction", "predictions": [float(net.predict([[8, 3]])[0, 0])],
                      "elapsed_ms": answer["elapsed_ms"]}


# ------------------------------------------------------------------ bad requests
BAD = [
    # (body, status, code, detail)
    ("sleep=8&study=3", 400, "bad_json",
     f"The body is not valid JSON (Expecting value at line 1, column 1); send an object like "
     f"{EXAMPLE}."),
    ('{"rows": [[8, 3]]', 400, "bad_json",
     "The body is not valid JSON (Expecting ',' delimiter at line 1, column 18); send an "
     f"object like {EXAMPLE}."),
    (b'{"rows": [[8, 3]]}\xff', 400, "bad_json",
     "The body is not UTF-8 text; send JSON encoded as UTF-8."),
    ("[[8, 3]]", 422, "no_rows",
     f"The body must be a JSON object with a list of rows, like {EXAMPLE}."),
    ('{"rows": {"sleep": 8, "study": 3}}', 422, "no_rows",
     f"'rows' must be a list of rows, got an object; send e.g. {EXAMPLE}."),
    ('{"rows": [[8, 3]], "units": "h"}', 422, "unknown_field",
     "The body has 'units' besides 'rows'; send only 'rows'."),
    ('{"rows": []}', 422, "empty_rows",
     f"'rows' is empty; send at least one row, e.g. {EXAMPLE}."),
    ('{"rows": [{"sleep": 8}]}', 422, "missing_feature",
     "rows[0] lacks 'study'; the model needs sleep, study."),
    ('{"rows": [[8, 3], {"sleep": 8, "study": 3, "age": 20}]}', 422, "unknown_feature",
     "rows[1] has 'age', which the model does not take; its inputs are sleep, study."),
    ('{"rows": [{"sleep": 8, "studdy": 3}]}', 422, "unknown_feature",
     "rows[0] has 'studdy' (did you mean 'study'?), which the model does not take; its "
     "inputs are sleep, study."),
    ('{"rows": [{"sleep": 8, "sleep": 7, "study": 3}]}', 422, "repeated_name",
     "'sleep' appears twice in one JSON object; give each name once."),
    ('{"rows": [[8]]}', 422, "wrong_count",
     "rows[0] has 1 value but the model takes 2 (sleep, study, in that order)."),
    ('{"rows": [[8, 3], [8, 3, 1]]}', 422, "wrong_count",
     "rows[1] has 3 values but the model takes 2 (sleep, study, in that order)."),
    ('{"rows": [8, 3]}', 422, "bad_row",
     'rows[0] is 8; each row is an object like {"sleep": 1, "study": 1} or a list like '
     "[1, 1]."),
    ('{"rows": [["8", 3]]}', 422, "not_a_number",
     'rows[0][0] (sleep) is "8", a string, not a number; send a plain number without '
     "quotes, e.g. 8 or 7.5."),
    ('{"rows": [{"sleep": 8, "study": true}]}', 422, "not_a_number",
     "rows[0].study is true, a boolean, not a number; send a plain number without quotes, "
     "e.g. 8 or 7.5."),
    ('{"rows": [[8, null]]}', 422, "not_a_number",
     "rows[0][1] (study) is null, not a number; send a plain number without quotes, "
     "e.g. 8 or 7.5."),
    ('{"rows": [[8, [3]]]}', 422, "not_a_number",
     "rows[0][1] (study) is a list, not a number; send a plain number without quotes, "
     "e.g. 8 or 7.5."),
    ('{"rows": [[NaN, 3]]}', 422, "not_finite",
     "rows[0][0] (sleep) is NaN, which is not a number JSON allows, nor one the model can "
     "use; send a finite number."),
    ('{"rows": [{"sleep": 8, "study": -Infinity}]}', 422, "not_finite",
     "rows[0].study is -Infinity, which is not a number JSON allows, nor one the model can "
     "use; send a finite number."),
    ('{"rows": [[1e999, 3]]}', 422, "not_finite",
     "rows[0][0] (sleep) is too large for a 64-bit float (beyond ±1.8e+308); send a finite "
     "number."),
    ('{"rows": [[8, 1' + "0" * 400 + "]]}", 422, "not_finite",
     "rows[0][1] (study) is too large for a 64-bit float (beyond ±1.8e+308); send a finite "
     "number."),
    ('{"rows": ' + json.dumps([[8, 3]] * (MAX_ROWS + 1)) + "}", 413, "too_many_rows",
     f"{MAX_ROWS + 1} rows in one request, more than the limit of {MAX_ROWS}; send the rest "
     "in another request."),
]


@pytest.mark.parametrize("body,status,code,detail", BAD,
                         ids=[f"{b[2]}-{i}" for i, b in enumerate(BAD)])
def test_bad_requests_are_named_with_the_fix(client, body, status, code, detail):
    r = post(client, body)
    assert (r.status_code, r.json()) == (status, {"detail": detail, "code": code})


@pytest.mark.parametrize("content_type,shown", [("text/plain", "text/plain"),
                                                ("application/x-www-form-urlencoded",
                                                 "application/x-www-form-urlencoded"),
                                                ("", "none")])
def test_a_body_that_is_not_declared_json_is_415(client, content_type, shown):
    r = post(client, '{"rows": [[8, 3]]}', content_type)
    assert r.status_code == 415
    assert r.headers["connection"] == "close"   # its body was not read
    assert r.json() == {"code": "not_json", "detail": (
        "Send the rows as JSON with the header Content-Type: application/json (this "
        f"request's content type is {shown}), e.g. curl -H 'Content-Type: application/json' "
        """-d '{"rows": [[8, 3]]}'.""")}


def test_json_with_a_charset_is_taken(client, regressor):
    r = post(client, '{"rows": [[8, 3]]}', "application/json; charset=utf-8")
    assert r.json()["predictions"] == [float(regressor.predict([[8, 3]])[0, 0])]


def test_a_body_over_the_byte_cap_is_413_and_the_connection_closed(client):
    body = json.dumps({"rows": [[8.123456789, 3.123456789]] * 100})
    assert len(body) > LIMIT
    r = post(client, body)
    assert r.status_code == 413 and r.headers["connection"] == "close"
    assert r.json() == {"code": "payload_too_large", "detail": (
        "The upload is larger than the server's limit of 0.002 MB per request. "
        "Send fewer rows at a time.")}


@pytest.mark.parametrize("declared", [str(LIMIT + 1), "10", None],
                         ids=["honest-header", "lying-header", "chunked"])
def test_bytes_are_counted_whatever_the_header_says(client, declared):
    body = json.dumps({"rows": [[8, 3]] * 1000}).encode()
    chunks = [body[i:i + 500] for i in range(0, len(body), 500)]
    headers = {"content-type": "application/json"}
    if declared is not None:
        headers["content-length"] = declared
    status, answer, asked = asgi_post(client.app, headers, chunks)
    assert (status, answer["code"]) == (413, "payload_too_large")
    # refused on the header before reading, or at the limit, reading no further
    assert asked == (0 if declared == str(LIMIT + 1) else LIMIT // 500 + 1)


def test_an_answer_that_overflows_is_422():
    net = nl.Network([2, 1], output_activation="identity")   # no scaling: raw values in
    net.W[0][:] = 1e10
    with make_client(create_values_app(net)) as c:
        r = post(c, {"rows": [[1, 1], [1e300, 1e300]]})
    assert (r.status_code, r.json()) == (422, {"code": "overflow", "detail": (
        "rows[1]: the model's answer is not a finite number: its values lie so far outside "
        "those it was trained on that the network's arithmetic overflows; send values of the "
        "size the model was trained on.")})


def test_a_float32_model_refuses_values_beyond_float32():
    net = nl.Network([2, 1], dtype="float32")
    with make_client(create_values_app(net)) as c:
        r = post(c, {"rows": [[1, 1e39]]})
    assert r.status_code == 422 and r.json()["code"] == "bad_values"
    assert r.json()["detail"].startswith("X holds 1e+39 at index (0, 1), beyond the range of "
                                         "float32")


# ------------------------------------------------------------------ schema and page
def test_openapi_schema_is_valid_and_names_the_features(client):
    schema = client.get("/openapi.json").json()
    pytest.importorskip("openapi_spec_validator").validate(schema)
    op = schema["paths"]["/api/predict"]["post"]
    assert op["summary"] == "Predict score from rows of sleep, study"
    body = op["requestBody"]["content"]["application/json"]
    rows = body["schema"]["properties"]["rows"]
    assert (rows["minItems"], rows["maxItems"]) == (1, MAX_ROWS)
    by_name, in_order = rows["items"]["oneOf"]
    assert by_name["required"] == ["sleep", "study"] and not by_name["additionalProperties"]
    assert (in_order["minItems"], in_order["maxItems"]) == (2, 2)
    assert body["example"] == json.loads(EXAMPLE)
    answer = op["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer["properties"]["predictions"]["items"]["type"] == "number"
    assert {"200", "400", "408", "413", "415", "422"} == set(op["responses"])
    assert "/docs-assets/swagger-ui-bundle.js" in client.get("/docs").text


def test_classifier_schema_lists_the_classes(class_client):
    op = class_client.get("/openapi.json").json()["paths"]["/api/predict"]["post"]
    item = op["responses"]["200"]["content"]["application/json"]["schema"]["properties"][
        "predictions"]["items"]
    assert item["properties"]["label"]["enum"] == ["setosa", "versicolor", "virginica"]


def test_page_and_its_files_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert page.headers["content-security-policy"] == (
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; "
        "script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'")
    for name in ("values.js", "style.css"):
        assert f"/static/{name}" in page.text
        assert client.get(f"/static/{name}").status_code == 200
    assert "http" not in page.text.replace("http-equiv", "")   # nothing from outside


# ------------------------------------------------------------------ construction
def test_the_two_apps_refuse_each_others_models(regressor):
    image = nl.Network([784, 3], output_activation="softmax")
    image.meta = {"preprocessing": {"image_size": [28, 28], "color_mode": "grayscale",
                                    "normalization": "unit", "invert": False}}
    with pytest.raises(InputError, match="this model is an image classifier"):
        create_values_app(image)
    with pytest.raises(InputError, match="serves classifiers with a softmax output"):
        create_app(regressor)


def test_create_values_app_rejects_bad_arguments(regressor, tmp_path):
    with pytest.raises(InputError, match="max_rows must be a positive integer, got 0"):
        create_values_app(regressor, max_rows=0)
    with pytest.raises(InputError, match="max_upload_bytes must be a positive integer"):
        create_values_app(regressor, max_upload_bytes=True)
    with pytest.raises(InputError, match="model must be a Network or a path"):
        create_values_app(42)
    misnamed = species_net()
    misnamed.class_names = ["a", "a", "b"]
    with pytest.raises(InputError, match="give one distinct name per class"):
        create_values_app(misnamed)
    path = tmp_path / "scores.safetensors"
    regressor.save(path)
    with make_client(create_values_app(str(path))) as c:
        assert c.get("/api/model").json()["source"] == str(path)


def test_lists_nested_too_deeply_are_a_bad_request_not_a_server_error(regressor):
    """100,000 nested lists (200 kB) exhaust the JSON decoder's recursion: a 400 that
    says what a row looks like, not a 500."""
    with make_client(create_values_app(regressor, max_upload_bytes=1_000_000)) as client:
        r = post(client, '{"rows": ' + "[" * 100_000 + "]" * 100_000 + "}")
    assert r.status_code == 400
    assert r.json() == {"code": "bad_json", "detail": (
        "The body nests lists or objects too deeply to read; a row is one list or object "
        f"of numbers, like {EXAMPLE}.")}


def test_an_integer_longer_than_int_reads_is_too_large_not_a_server_error(regressor):
    """Python's int() refuses more than 4,300 digits with a ValueError (a 500 before):
    such an integer is far beyond float64, refused as too large with its row named."""
    with make_client(create_values_app(regressor, max_upload_bytes=100_000)) as client:
        r = post(client, '{"rows": [[8, -' + "9" * 5000 + "]]}")
    assert r.status_code == 422
    assert r.json() == {"code": "not_finite", "detail": (
        "rows[0][1] (study) is too large for a 64-bit float (beyond ±1.8e+308); send a "
        "finite number.")}
