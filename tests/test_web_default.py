"""The default model: trained once on the shipped sample, cached atomically, reloaded."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from neurallab import classify as C
from neurallab.web import default as dm

#: the smallest recipe that still trains: the caching logic is what is tested here
TINY = {**dm.RECIPE["training"], "hidden": [8], "epochs": 1}


@pytest.fixture
def tiny_recipe(monkeypatch):
    monkeypatch.setitem(dm.RECIPE, "training", TINY)


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("NEURALLAB_CACHE_DIR", str(tmp_path / "nl"))
    assert dm.cache_dir() == tmp_path / "nl" and (tmp_path / "nl").is_dir()
    monkeypatch.delenv("NEURALLAB_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert dm.cache_dir() == tmp_path / "xdg" / "neurallab"


def test_trained_once_then_loaded_from_the_cache(tiny_recipe, tmp_path, monkeypatch):
    lines = []
    net = dm.default_model(tmp_path, log=lines.append)
    path = dm.default_model_path(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary left behind
    assert lines[0].startswith("training the default model on the Fashion-MNIST sample")
    assert lines[1].startswith("default model trained: test accuracy")
    assert net.meta["preprocessing"] == dm.RECIPE["preprocessing"]
    assert net.layer_sizes == [784, 8, 10] and net.meta["training"]["hidden"] == [8]
    assert len(net.class_names) == 10
    assert 0.0 <= net.meta["test_accuracy"] <= 1.0

    def no_training(*args, **kwargs):
        raise AssertionError("the cached model should have been loaded")

    monkeypatch.setattr(dm, "train_default", no_training)
    again = dm.default_model(tmp_path)
    np.testing.assert_array_equal(again.params, net.params)
    assert again.meta == net.meta and again.class_names == net.class_names


def test_another_recipe_gets_another_file(tiny_recipe, tmp_path, monkeypatch):
    first = dm.default_model_path(tmp_path)
    monkeypatch.setitem(dm.RECIPE, "training", {**TINY, "epochs": 2})
    assert dm.default_model_path(tmp_path) != first


def test_the_file_name_covers_the_training_defaults(tiny_recipe, tmp_path, monkeypatch):
    first = dm.default_model_path(tmp_path)
    # naming a default is the same recipe: the same file
    monkeypatch.setitem(dm.RECIPE, "training", {**TINY, "init": C.TrainingRecipe().init})
    assert dm.default_model_path(tmp_path) == first
    # a changed default is another recipe, though RECIPE itself reads the same

    @dataclass(frozen=True)
    class OtherDefault(C.TrainingRecipe):
        init: str = "normal"

    monkeypatch.setitem(dm.RECIPE, "training", TINY)
    monkeypatch.setattr(C, "TrainingRecipe", OtherDefault)
    assert dm.default_model_path(tmp_path) != first


def test_a_damaged_cache_file_is_trained_again(tiny_recipe, tmp_path):
    path = dm.default_model_path(tmp_path)
    path.write_bytes(b"half a model")
    lines = []
    net = dm.default_model(tmp_path, log=lines.append)
    assert lines[0].startswith(f"cached model {path} is unusable")
    assert dm.default_model(tmp_path).n_params == net.n_params == 784 * 8 + 8 + 8 * 10 + 10


@pytest.mark.parametrize("via_env", [False, True])
def test_an_unwritable_cache_still_serves(tiny_recipe, tmp_path, capsys, monkeypatch, via_env):
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("a file where the cache folder should be")
    if via_env:
        monkeypatch.setenv("NEURALLAB_CACHE_DIR", str(blocked / "cache"))
    net = dm.default_model(None if via_env else blocked / "cache")
    assert net.n_params == 784 * 8 + 8 + 8 * 10 + 10
    err = capsys.readouterr().err
    assert err.startswith("neurallab: the default model could not be cached, so the next "
                          "start trains it again; ")
