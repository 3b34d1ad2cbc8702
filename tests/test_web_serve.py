"""``neurallab serve``: arguments, messages, and the app it hands to uvicorn."""

from __future__ import annotations

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
    (["."], ". is a folder; give the path of a .safetensors model file, or no MODEL for the "
            "default one"),
])
def test_bad_arguments_get_one_clear_line(served, capsys, args, message):
    assert main(["serve", *args]) == 2
    assert capsys.readouterr().err == f"neurallab serve: error: {message}\n"
    assert "app" not in served


def test_a_model_that_is_not_an_image_classifier_is_refused(served, tmp_path, capsys):
    path = tmp_path / "regressor.safetensors"
    nl.Network([2, 3, 1]).save(path)
    assert main(["serve", str(path), "--port", "0"]) == 1
    assert capsys.readouterr().err.startswith(
        "neurallab serve: error: this model has no image preprocessing (net.meta['preprocessing'])")


def test_the_listening_socket_is_tcp_so_answers_are_not_held_back():
    """asyncio sets TCP_NODELAY only on connections of an IPPROTO_TCP socket; without it
    each small answer waited ~40 ms for the client's delayed ACK (measured: 182 req/s
    for /healthz instead of 1,200+)."""
    import socket

    from neurallab.commands.serve import _listen

    with _listen("127.0.0.1", 0) as sock:
        assert sock.proto == socket.IPPROTO_TCP
        assert sock.getsockname()[1] > 0
