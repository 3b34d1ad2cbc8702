"""``neurallab serve``: arguments, messages, and the app it hands to uvicorn."""

from __future__ import annotations

import numpy as np
import pytest

import neurallab as nl
from neurallab.cli import main
from neurallab.web import default as dm

uvicorn = pytest.importorskip("uvicorn")
# Starlette asks for httpx2 in its test client; the httpx it still supports is what we have
pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")


def image_net() -> nl.Network:
    """An (untrained) network that carries everything the web app needs."""
    net = nl.Network([784, 4, 3], activation="relu", output_activation="softmax",
                     dtype="float32", seed=0)
    net.loss = "categorical_crossentropy"
    net.class_names = ["a", "b", "c"]
    net.meta = {"name": "tiny", "preprocessing": dict(dm.RECIPE["preprocessing"])}
    return net


@pytest.fixture
def served(monkeypatch):
    """Run ``neurallab serve`` with uvicorn's ``Server.run`` replaced: returns the app
    and the address of the socket it was handed (already bound and listening)."""
    calls = {}

    def fake_run(server, sockets=None):
        calls["app"], calls["config"] = server.config.app, server.config
        calls["address"] = sockets[0].getsockname()[:2]

    monkeypatch.setattr(uvicorn.Server, "run", fake_run)
    return calls


def test_help_shows_examples(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["serve", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and "neurallab serve model.safetensors --port 8080" in out
    assert "neurallab serve scores.safetensors" in out and "--max-rows" in out
    assert """-d '{"rows": [{"sleep": 8, "study": 3}]}'""" in out
    assert "--max-upload-mb" in out
    description = out.split("\n\n")[1]   # after the usage lines; not wrapped by argparse
    assert max(len(line) for line in description.splitlines()) <= 79


def test_serves_a_model_file(served, tmp_path, capsys):
    path = tmp_path / "m.safetensors"
    image_net().save(path)
    assert main(["serve", str(path), "--port", "0", "--max-upload-mb", "2.5",
                 "--max-files", "3"]) == 0
    host, port = served["address"]
    assert host == "127.0.0.1" and port > 0   # --port 0: a free port, announced as it is
    app = served["app"]
    card = app.state.classifier.card()
    assert card["name"] == "tiny" and card["class_names"] == ["a", "b", "c"]
    from fastapi.testclient import TestClient

    limits = TestClient(app).get("/api/model").json()["limits"]
    assert limits["max_upload_bytes"] == 2_500_000 and limits["max_files"] == 3
    assert f"open http://127.0.0.1:{port}/ in a browser" in capsys.readouterr().err
    assert card["source"] == str(path)


def test_a_port_in_use_is_one_clear_line(served, tmp_path, capsys):
    import socket

    path = tmp_path / "m.safetensors"
    image_net().save(path)
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        assert main(["serve", str(path), "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert err == (f"neurallab serve: error: cannot listen on 127.0.0.1:{port} (Address "
                   "already in use); choose another --port, or a --host this machine has\n")
    assert "app" not in served


def test_default_model_when_none_is_given(served, monkeypatch, capsys):
    net = image_net()
    calls = []

    def fake_default(directory=None, log=None):
        calls.append(log)
        if log:
            log("training the default model ...")
        return net

    monkeypatch.setattr(dm, "default_model", fake_default)
    monkeypatch.setattr(dm, "default_model_source", lambda directory=None: "the default")
    assert main(["serve", "--port", "0"]) == 0
    assert served["app"].state.classifier.net is net
    assert served["app"].state.classifier.card()["source"] == "the default"
    # fetched once and handed to the app: with an unwritable cache a second fetch
    # would train the model again
    assert len(calls) == 1
    assert "neurallab serve: training the default model ..." in capsys.readouterr().err


def test_public_address_is_announced(served, tmp_path, capsys):
    path = tmp_path / "m.safetensors"
    image_net().save(path)
    main(["serve", str(path), "--host", "0.0.0.0", "--port", "0"])
    assert "listening on 0.0.0.0: other machines can reach this server" in capsys.readouterr().err


@pytest.mark.parametrize("args,message", [
    (["missing.safetensors"], "model file missing.safetensors does not exist; give the path "
                              "of a .safetensors model, or no MODEL for the default one"),
    (["--port", "70000"], "--port must be between 0 and 65535, got 70000"),
    (["--max-upload-mb", "0"], "--max-upload-mb must be a positive number, got 0"),
    (["--max-upload-mb", "nan"], "--max-upload-mb must be a positive number, got nan"),
    (["--max-upload-mb", "1e-7"], "--max-upload-mb 1e-07 is less than one byte; give at "
                                   "least 0.000001"),
    (["--max-files", "0"], "--max-files must be at least 1, got 0"),
    (["--max-rows", "0"], "--max-rows must be at least 1, got 0"),
    (["."], ". is a folder; give the path of a .safetensors model file, or no MODEL for the "
            "default one"),
])
def test_bad_arguments_get_one_clear_line(served, capsys, args, message):
    assert main(["serve", *args]) == 2
    assert capsys.readouterr().err == f"neurallab serve: error: {message}\n"
    assert "app" not in served


def test_a_model_without_image_preprocessing_is_served_as_the_values_app(served, tmp_path,
                                                                          capsys):
    path = tmp_path / "regressor.safetensors"
    nl.Network([2, 3, 1]).save(path)
    assert main(["serve", str(path), "--port", "0"]) == 0
    values = served["app"].state.values
    assert (values.features, values.target, values.task) == (["x1", "x2"], "prediction",
                                                             "regression")
    assert f"serving {path}: x1, x2 -> prediction (regression)" in capsys.readouterr().err


@pytest.fixture(scope="module")
def scores_model(tmp_path_factory):
    """The tutorial's CSV regressor, made by ``neurallab train`` as a user would."""
    folder = tmp_path_factory.mktemp("scores")
    rng = np.random.default_rng(0)
    sleep, study = rng.uniform(3, 10, 60).round(1), rng.uniform(0, 6, 60).round(1)
    score = (40 + 3 * sleep + 6 * study + rng.normal(0, 2, 60)).round(1)
    csv = folder / "scores.csv"
    csv.write_text("sleep,study,score\n" + "".join(
        f"{a},{b},{c}\n" for a, b, c in zip(sleep, study, score, strict=True)))
    path = folder / "scores.safetensors"
    assert main(["train", str(csv), "--target", "score", "--out", str(path), "--quiet",
                 "--epochs", "50"]) == 0
    return path


def test_serving_a_csv_regressor_starts(served, scores_model, capsys):
    from fastapi.testclient import TestClient

    capsys.readouterr()
    assert main(["serve", str(scores_model), "--port", "0", "--max-rows", "7",
                 "--max-upload-mb", "0.5"]) == 0
    host, port = served["address"]
    assert host == "127.0.0.1" and port > 0
    err = capsys.readouterr().err
    assert f"serving {scores_model}: sleep, study -> score (regression)" in err
    assert f"open http://127.0.0.1:{port}/ in a browser" in err
    client = TestClient(served["app"])
    card = client.get("/api/model").json()
    assert card["limits"] == {"max_rows": 7, "max_upload_bytes": 500_000}
    assert card["source"] == str(scores_model)
    answer = client.post("/api/predict", json={"rows": [{"sleep": 8, "study": 3}]}).json()
    assert answer["predictions"] == [float(nl.load(scores_model).predict([[8, 3]])[0, 0])]
    assert "/static/values.js" in client.get("/").text


@pytest.mark.parametrize("option,model,message", [
    ("--max-rows", "image", "--max-rows is for models trained on a CSV file; this is an "
                            "image classifier, so leave --max-rows out (--max-files limits "
                            "its requests)"),
    ("--max-files", "values", "--max-files is for image classifiers; {path} takes rows of "
                              "values, so leave --max-files out (--max-rows limits its "
                              "requests)"),
])
def test_an_option_for_the_other_kind_of_model_is_refused(served, tmp_path, capsys, option,
                                                         model, message):
    path = tmp_path / "m.safetensors"
    (image_net() if model == "image" else nl.Network([2, 3, 1])).save(path)
    assert main(["serve", str(path), "--port", "0", option, "5"]) == 2
    assert capsys.readouterr().err == \
        f"neurallab serve: error: {message.format(path=path)}\n"
    assert "app" not in served


def test_the_default_row_limit_is_the_apps():
    from neurallab.commands import serve
    from neurallab.web import values

    assert serve.DEFAULT_MAX_ROWS == values.DEFAULT_MAX_ROWS == 10_000


def test_the_listening_socket_is_tcp_so_answers_are_not_held_back():
    """asyncio sets TCP_NODELAY only on connections of an IPPROTO_TCP socket; without it
    each small answer waited ~40 ms for the client's delayed ACK (measured: 182 req/s
    for /healthz instead of 1,200+)."""
    import socket

    from neurallab.commands.serve import _listen

    with _listen("127.0.0.1", 0) as sock:
        assert sock.proto == socket.IPPROTO_TCP
        assert sock.getsockname()[1] > 0
