"""Image classification: inputs, recipe, training on the shipped sample, evaluation."""

from __future__ import annotations

import io
import math
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

import neurallab as nl
from neurallab import classify as C
from neurallab.errors import ImageError, InputError, InputTypeError


@pytest.fixture(scope="module")
def sample():
    return nl.datasets.fashion_mnist_sample()


@pytest.fixture(scope="module")
def trained(sample):
    """A small network trained briefly on the shipped sample (about a second)."""
    recipe = C.MLP.replace(hidden=(64,), epochs=4, batch_size=64, seed=0)
    net, history = C.train_classifier(sample.X_train, sample.y_train, recipe,
                                      class_names=sample.class_names)
    return net, history


# ---------------------------------------------------------------------------- inputs
def test_pixels_become_unit_or_centred_float32_rows():
    images = np.array([[[0, 255], [51, 102]]], dtype=np.uint8)
    X = C.images_to_inputs(images)
    assert X.dtype == np.float32 and X.shape == (1, 4)
    np.testing.assert_array_equal(X, np.float32([[0, 1, 0.2, 0.4]]))
    Xc = C.images_to_inputs(images, {"normalization": "centered"})
    np.testing.assert_allclose(Xc, [[-0.5, 0.5, -0.3, -0.1]], atol=1e-7)


def test_float_inputs_are_taken_as_normalised_without_a_copy():
    X = np.random.default_rng(0).random((5, 12), dtype=np.float32)
    assert C.images_to_inputs(X) is X or np.shares_memory(C.images_to_inputs(X), X)
    imgs = X.reshape(5, 3, 4)
    np.testing.assert_array_equal(C.images_to_inputs(imgs), X)


@pytest.mark.parametrize("images, error, message", [
    (np.array([["a", "b"]]), InputTypeError, "must hold numbers"),
    (np.zeros((0, 28, 28), np.uint8), InputError, "n >= 1"),
    (np.zeros(5, np.uint8), InputError, "must have shape"),
    (np.array([[0.5, np.nan]], np.float32), InputError, "NaN"),
    (np.array([[[300, 2]]], np.int64), InputError, "0 to 255"),
])
def test_bad_images_are_refused_clearly(images, error, message):
    with pytest.raises(error, match=message):
        C.images_to_inputs(images)


# ---------------------------------------------------------------------------- recipe
@pytest.mark.parametrize("changes, message", [
    ({"optimizer": "rmsprop"}, "unknown optimizer 'rmsprop'; choose one of adam"),
    ({"schedule": "linear"}, "unknown schedule 'linear'"),
    ({"init": "zeros"}, "unknown init 'zeros'; choose one of normal, xavier, he"),
    ({"l2": -1.0}, "l2 must be a non-negative number"),
    ({"dropout": 1.0}, r"dropout must lie in \[0, 1\)"),
    ({"epochs": 0}, "epochs must be a positive integer"),
    ({"batch_size": 2.5}, "batch_size must be a positive integer"),
    ({"lr": float("nan")}, "lr must be a positive number"),
    ({"patience": 0}, "patience must be a positive integer or None"),
    ({"hidden": (64, 0)}, "hidden layer widths must be positive"),
    ({"hidden": "wide"}, "hidden must be a sequence of layer widths"),
    ({"val_split": 1.0}, r"val_split must lie in \[0, 1\)"),
    ({"l2": "0.1"}, "l2 must be a number, got '0.1'"),
])
def test_bad_recipes_are_refused_clearly(changes, message):
    with pytest.raises((InputError, InputTypeError), match=message):
        C.MLP.replace(**changes)


def test_recipe_round_trips_through_json_and_names_its_optimizer():
    r = C.MLP.replace(hidden=[32, 16], optimizer="nesterov", schedule="step", step_size=3)
    assert r.hidden == (32, 16)
    assert C.TrainingRecipe.from_dict(r.to_dict()) == r
    opt = r.make_optimizer()
    assert isinstance(opt, nl.optim.SGD) and opt.nesterov and opt.momentum == 0.9
    assert isinstance(C.MLP.make_optimizer(), nl.optim.Adam)
    with pytest.raises(InputError, match=r"unknown training settings \['colour'\]"):
        C.TrainingRecipe.from_dict({"colour": "red"})


def test_tiny_training_sets_get_more_epochs():
    r = C.MLP.replace(epochs=20, batch_size=128, min_updates=1000)
    assert r.epochs_for(50) == 1000          # one batch per epoch
    assert r.epochs_for(1000) == 125         # 8 batches per epoch
    assert r.epochs_for(60000) == 20         # 469 per epoch: the recipe's own 20


def test_schedules_set_the_learning_rate_of_each_epoch():
    """Cosine: lr·½(1 + cos(πe/E)); step: lr·½^⌊e/s⌋ — checked by hand on SGD steps."""
    for schedule, factors in (("cosine", [1.0, 0.5 * (1 + math.cos(math.pi / 4)), 0.5]),
                              ("step", [1.0, 1.0, 0.5])):
        opt = C.MLP.replace(optimizer="sgd", lr=0.1, schedule=schedule,
                            step_size=2).make_optimizer()
        opt.reset(1, np.float64)
        theta = np.zeros(1)
        for epoch, f in enumerate(factors):
            opt.set_epoch(epoch, 4)
            before = theta.copy()
            opt.step(theta, np.ones(1))
            np.testing.assert_allclose(before - theta, [0.1 * f], rtol=1e-15)


# ---------------------------------------------------------------------------- dropout
@pytest.mark.parametrize("rate", [0.2, 0.5])
def test_gradient_with_dropout_matches_finite_differences(rate):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(7, 5))
    y = rng.integers(0, 3, size=7)
    net = nl.Network([5, 6, 4, 3], activation="relu", output_activation="softmax",
                     init="he", seed=2, dropout=rate)
    report = nl.check_gradients(net, X, y, loss="categorical_crossentropy", l2=0.01,
                                normalize=True, dropout_seed=3)
    assert report.relative_error < 1e-7, str(report)
    # the check really had units dropped: without dropout the gradient differs
    _, g_plain = net.loss_and_grad(X, y, loss="categorical_crossentropy", l2=0.01,
                                   normalize=True)
    assert not np.allclose(report.analytic, g_plain)


def test_dropout_is_inverted_and_off_at_prediction():
    net = nl.Network([20, 400, 2], activation="relu", output_activation="softmax",
                     init="he", seed=0, dropout=0.5)
    X = np.abs(np.random.default_rng(0).normal(size=(50, 20)))
    _, plain = net.forward(X, return_cache=True)
    _, dropped = net.forward(X, return_cache=True, training=True,
                             rng=np.random.default_rng(1))
    mask = dropped.masks[0]
    assert set(np.unique(mask)) == {0.0, 2.0}                  # kept units scaled by 1/0.5
    assert abs(mask.mean() - 1.0) < 0.02                      # E[mask] = 1: no rescaling later
    np.testing.assert_array_equal(dropped.inputs[1], dropped.a[0] * mask)
    assert all(m is None for m in plain.masks)                # prediction: no dropout
    np.testing.assert_array_equal(net.predict_proba(X), net.forward(X))


# ---------------------------------------------------------------------------- training
def test_training_on_the_sample_beats_chance_by_far(sample, trained):
    net, history = trained
    acc = float(np.mean(net.predict(C.images_to_inputs(sample.X_test)) == sample.y_test))
    assert acc > 0.75                                          # chance: 0.10
    assert net.dtype == np.float32 and net.params.dtype == np.float32
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert net.class_names == list(sample.class_names)
    assert net.meta["preprocessing"] == C.DEFAULT_PREPROCESSING
    assert net.meta["training"]["hidden"] == [64]


def test_training_never_copies_the_data_set():
    """Peak extra memory of several epochs stays far below one copy of the inputs."""
    import tracemalloc

    rng = np.random.default_rng(0)
    X = rng.random((6000, 784), dtype=np.float32)   # 18.8 MB of float32 inputs
    y = rng.integers(0, 10, size=6000)
    recipe = C.MLP.replace(hidden=(16,), epochs=3, batch_size=128)
    tracemalloc.start()
    try:
        C.train_classifier(X, y, recipe)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # NumPy reports its buffers to tracemalloc: a copy per epoch (a shuffled X[perm])
    # would alone be X.nbytes; batches, the one-hot labels and the weights are small
    assert peak < 0.5 * X.nbytes, f"{peak / 1e6:.1f} MB"


def test_softmax_regression_baseline_is_a_network_without_hidden_layers(sample):
    recipe = C.BASELINE.replace(epochs=8, min_updates=0)
    net, _ = C.train_classifier(sample.X_train, sample.y_train, recipe)
    assert net.layer_sizes == [784, 10] and net.output_activation.name == "softmax"
    assert C.evaluate(net, sample.X_test, sample.y_test).accuracy > 0.70


def test_early_stopping_keeps_the_best_validation_epoch(sample):
    recipe = C.MLP.replace(hidden=(32,), epochs=6, val_split=0.2, patience=1, seed=1,
                           lr=0.05)
    net, history = C.train_classifier(sample.X_train[:1000], sample.y_train[:1000], recipe)
    v = net.meta["validation"]
    losses = history.history["val_loss"]
    assert v["epoch"] - 1 == int(np.argmin(losses))
    assert v["val_loss"] == min(losses)
    assert v["epochs_run"] == len(losses)


def test_early_stopping_needs_validation_data(sample):
    with pytest.raises(InputError, match="early stopping .* needs validation data"):
        C.train_classifier(sample.X_train[:100], sample.y_train[:100],
                           C.MLP.replace(patience=2))


@pytest.mark.parametrize("y, message", [
    (np.zeros(3, np.int64), "1-D array of 100 integer class labels"),
    (np.full(100, -1), "negative class labels"),
    (np.full(100, 0.5), "integer class labels, got dtype float64"),
])
def test_bad_labels_are_refused_clearly(sample, y, message):
    with pytest.raises((InputError, InputTypeError), match=message):
        C.train_classifier(sample.X_train[:100], y, C.MLP.replace(epochs=1))


def test_labels_beyond_the_class_names_are_refused(sample):
    with pytest.raises(InputError, match="label 9 but there are only 3 classes"):
        C.train_classifier(sample.X_train[:100], sample.y_train[:100],
                           C.MLP.replace(epochs=1), class_names=["a", "b", "c"])


@pytest.mark.parametrize("shape, size, mode", [((30, 8, 8), [8, 8], "grayscale"),
                                               ((30, 6, 5, 3), [6, 5], "rgb"),
                                               ((30, 7, 9, 1), [7, 9], "grayscale")])
def test_the_model_records_the_size_and_colour_of_its_training_images(shape, size, mode,
                                                                      tmp_path):
    """A model trained on 8×8 images must classify an 8×8 image file, not expect 28×28."""
    from PIL import Image

    images = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    labels = np.arange(shape[0]) % 3
    net, _ = C.train_classifier(images, labels, C.BASELINE.replace(epochs=2, min_updates=1))
    assert net.meta["preprocessing"]["image_size"] == size
    assert net.meta["preprocessing"]["color_mode"] == mode
    path = tmp_path / "one.png"
    Image.fromarray(images[4].squeeze()).save(path)
    from_file = C.predict_images(net, [path])
    from_array = net.predict_proba(C.images_to_inputs(images[4:5]))
    np.testing.assert_allclose(from_file, from_array, rtol=1e-6)


@pytest.mark.parametrize("X, preprocessing, message", [
    (np.zeros((10, 8, 8), np.uint8), {"image_size": [28, 28]},
     r"says 28×28 grayscale images \(784 inputs\) but X holds images of 8×8; pass "
     r"preprocessing with the images' own image_size"),
    (np.zeros((10, 64), np.float32), None,
     r"says 28×28 grayscale images \(784 inputs\) but X holds rows of 64 inputs"),
    (np.zeros((10, 4, 16), np.uint8), {"image_size": [8, 8]}, r"X holds images of 4×16"),
    (np.zeros((10, 8, 8, 4), np.uint8), None,
     r"X holds images of 8×8×4; drop the alpha channel"),
])
def test_preprocessing_that_does_not_fit_the_images_is_refused(X, preprocessing, message):
    with pytest.raises(InputError, match=message):
        C.train_classifier(X, np.arange(10) % 2, C.BASELINE.replace(epochs=1),
                           preprocessing=preprocessing)


# ---------------------------------------------------------------------------- evaluation
@pytest.mark.parametrize("call, error, message", [
    (lambda: C.confusion_matrix([0], [0], "3"), InputTypeError,
     "n_classes must be a positive integer, got '3'"),
    (lambda: C.confusion_matrix([0], [0], 0), InputError,
     "n_classes must be a positive integer, got 0"),
    (lambda: C.balanced_subset(np.arange(10) % 2, 6.5), InputTypeError,
     "n must be a positive integer, got 6.5"),
])
def test_counts_of_the_wrong_kind(call, error, message):
    with pytest.raises(error, match=re.escape(message)):
        call()


def test_confusion_matrix_by_hand():
    C_ = C.confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], 3)
    np.testing.assert_array_equal(C_, [[1, 1, 0], [0, 1, 0], [1, 0, 2]])
    with pytest.raises(InputError, match=r"labels must lie in 0..2"):
        C.confusion_matrix([0, 3], [0, 1], 3)


@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), min_size=1, max_size=60))
def test_confusion_matrix_counts_every_pair(pairs):
    t, p = np.array(pairs).T
    M = C.confusion_matrix(t, p, 5)
    assert M.sum() == len(pairs)
    for i in range(5):
        for j in range(5):
            assert M[i, j] == int(np.sum((t == i) & (p == j)))


def _rigged_classifier():
    """A 3-class softmax network whose prediction is the largest input (W = 10·I)."""
    net = nl.Network([3, 3], output_activation="softmax", dtype="float32", seed=0)
    net.W[0][...] = 10 * np.eye(3)
    net.b[0][...] = 0
    net.loss = "categorical_crossentropy"
    net.class_names = ["a", "b", "c"]
    return net


def test_evaluate_precision_recall_by_hand():
    net = _rigged_classifier()
    X = np.eye(3, dtype=np.float32)[[0, 0, 1, 2, 0, 2]]       # predictions 0 0 1 2 0 2
    y = np.array([0, 1, 1, 2, 2, 2])
    r = C.evaluate(net, X, y)
    np.testing.assert_array_equal(r.confusion, [[1, 0, 0], [1, 1, 0], [1, 0, 2]])
    assert r.accuracy == pytest.approx(4 / 6)
    np.testing.assert_allclose(r.precision, [1 / 3, 1, 1])    # column-wise
    np.testing.assert_allclose(r.recall, [1, 1 / 2, 2 / 3])   # row-wise
    np.testing.assert_allclose(r.f1, [0.5, 2 / 3, 0.8])
    np.testing.assert_array_equal(r.support, [1, 2, 3])
    assert list(r.misclassified()) == [1, 4]
    text = r.table()
    assert "accuracy 0.6667 (4 of 6 images)" in text
    assert text.splitlines()[1].split() == ["a", "0.333", "1.000", "0.500", "1"]
    assert r.to_dict()["confusion"] == [[1, 0, 0], [1, 1, 0], [1, 0, 2]]


def test_a_class_never_predicted_has_precision_zero():
    net = _rigged_classifier()
    r = C.evaluate(net, np.eye(3, dtype=np.float32)[[0, 0]], np.array([0, 1]))
    np.testing.assert_array_equal(r.precision, [0.5, 0.0, 0.0])
    np.testing.assert_array_equal(r.recall, [1.0, 0.0, 0.0])


def test_evaluate_refuses_a_regressor_and_foreign_labels():
    reg = nl.Network([3, 2], output_activation="identity")
    with pytest.raises(InputError, match="needs a softmax classifier"):
        C.evaluate(reg, np.zeros((1, 3)), [0])
    with pytest.raises(InputError, match="label 5 but the model has 3 classes"):
        C.evaluate(_rigged_classifier(), np.zeros((1, 3), np.float32), [5])


# ---------------------------------------------------------------------------- learning curve
def test_balanced_subset_takes_classes_in_turn():
    y = np.repeat(np.arange(4), [10, 20, 30, 40])
    idx = C.balanced_subset(y, 20, seed=3)
    np.testing.assert_array_equal(np.bincount(y[idx], minlength=4), [5, 5, 5, 5])
    assert len(set(idx.tolist())) == 20
    np.testing.assert_array_equal(idx, C.balanced_subset(y, 20, seed=3))
    assert not np.array_equal(idx, C.balanced_subset(y, 20, seed=4))
    # a class runs out: the others fill in
    np.testing.assert_array_equal(np.bincount(y[C.balanced_subset(y, 70)]), [10, 20, 20, 20])
    with pytest.raises(InputError, match=r"n must lie in 1..100"):
        C.balanced_subset(y, 101)


def test_learning_curve_on_the_sample(sample):
    tiny = C.MLP.replace(hidden=(32,), epochs=3, min_updates=60)
    curve = C.learning_curve(sample.X_train, sample.y_train, sample.X_test, sample.y_test,
                             sizes=(50, None), network=tiny,
                             baseline=C.BASELINE.replace(min_updates=60, epochs=3))
    assert curve.sizes == [50, 3000]
    assert all(0.3 < a < 1 for a in curve.baseline_accuracy + curve.network_accuracy)
    assert curve.network_accuracy[1] > curve.network_accuracy[0]   # more data helps
    lines = curve.table().splitlines()
    assert lines[2].split()[0] == "3,000" and lines[2].endswith("%")
    with pytest.raises(InputError, match="learning-curve size 4000 is not in 1..3000"):
        C.learning_curve(sample.X_train, sample.y_train, sample.X_test, sample.y_test,
                         sizes=(4000,))


def test_mistake_captions_fit_even_with_the_longest_class_names(sample):
    # the widest captions side by side: "Ankle boot" and "T-shirt/top" mistaken for
    # each other, at 100 %
    from figure_checks import overlapping_titles, texts_cut_off

    from neurallab.classify_plots import misclassified_figure

    names = list(sample.class_names)
    y_true = np.array([9, 0] * 8)
    y_pred = 9 - y_true
    proba = np.eye(10)[y_pred]
    zeros = np.zeros(10)
    report = C.ClassificationReport(0.0, C.confusion_matrix(y_true, y_pred, 10), zeros,
                                    zeros, zeros, np.bincount(y_true, minlength=10), names,
                                    y_true, y_pred, proba)
    fig = misclassified_figure(sample.X_test[:16], report)
    assert fig.axes[0].title.get_text() == "Ankle boot\n→ T-shirt/top (100.0%)"
    assert texts_cut_off(fig) == [] and overlapping_titles(fig) == []


# ---------------------------------------------------------------------------- image files
def _encode(array, fmt, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format=fmt, **kw)
    return buf.getvalue()


def test_png_jpeg_and_a_larger_rgb_photo_get_the_class_of_the_array(sample, trained,
                                                                    tmp_path):
    net, _ = trained
    for i in range(6):
        img = sample.X_test[i]
        expected = int(net.predict(C.images_to_inputs(img[None]))[0])
        png = tmp_path / f"{i}.png"
        png.write_bytes(_encode(img, "PNG"))
        jpg = tmp_path / f"{i}.jpg"
        jpg.write_bytes(_encode(img, "JPEG", quality=95))
        big = Image.fromarray(img).convert("RGB").resize((84, 84), Image.NEAREST)
        rgb = tmp_path / f"{i}_rgb.png"
        big.save(rgb)
        proba = C.predict_images(net, [png, jpg, rgb])
        assert proba.shape == (3, 10)
        assert list(proba.argmax(axis=1)) == [expected] * 3
        # the PNG is lossless: exactly the array's inputs
        np.testing.assert_array_equal(C.image_file_inputs([png], C.DEFAULT_PREPROCESSING),
                                      C.images_to_inputs(img[None]))


def test_a_corrupt_image_gives_a_clear_error(trained, tmp_path):
    net, _ = trained
    bad = tmp_path / "broken.png"
    png = _encode(np.random.default_rng(0).integers(0, 256, (28, 28), dtype=np.uint8), "PNG")
    bad.write_bytes(png[:40])   # the header itself cut short
    with pytest.raises(ImageError, match="broken.png is not an image Pillow can identify "
                                         ".*\\(wrong or corrupt file\\)"):
        C.predict_images(net, [bad])
    bad.write_bytes(png[: len(png) // 2])   # the pixel data cut short
    with pytest.raises(ImageError, match="broken.png is truncated or corrupt: image file is "
                                         "truncated"):
        C.predict_images(net, [bad])
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    with pytest.raises(ImageError, match="notes.jpg is not an image Pillow can identify as "
                                         "one of PNG, JPEG, BMP, GIF, TIFF, WEBP"):
        C.predict_images(net, [text])


def test_a_model_without_image_preprocessing_is_refused(trained):
    net = trained[0].copy()
    net.meta.pop("preprocessing")
    with pytest.raises(InputError, match="no image preprocessing"):
        C.predict_images(net, [io.BytesIO(b"")])
    net.meta["preprocessing"] = {**C.DEFAULT_PREPROCESSING, "image_size": [10, 10]}
    with pytest.raises(InputError, match="takes 784 inputs but its preprocessing makes"):
        C.model_preprocessing(net)
    for bad, message in (({"normalization": "zscore"}, "normalization must be one of"),
                         ({"color_mode": "cmyk"}, "color_mode must be one of"),
                         ({"invert": "no"}, "invert must be True or False")):
        net.meta["preprocessing"] = {**C.DEFAULT_PREPROCESSING, **bad}
        with pytest.raises(InputError, match="the model's image preprocessing is unusable "
                                             f"\\({message}"):
            C.model_preprocessing(net)


def test_a_saved_classifier_predicts_the_same_after_loading(trained, tmp_path, sample):
    net, _ = trained
    path = tmp_path / "m.safetensors"
    net.save(path)
    back = nl.load(path)
    assert back.meta["preprocessing"] == net.meta["preprocessing"]
    assert back.class_names == net.class_names
    X = C.images_to_inputs(sample.X_test[:50])
    np.testing.assert_array_equal(back.predict_proba(X), net.predict_proba(X))


def test_border_level_reads_the_background_and_refuses_other_shapes():
    prep = dict(C.DEFAULT_PREPROCESSING)
    dark = np.zeros((28, 28), np.uint8)
    dark[8:20, 8:20] = 255                      # a light object on black
    X = C.images_to_inputs(np.stack([dark, 255 - dark]), prep)
    np.testing.assert_allclose(C.border_level(X, prep), [0.0, 1.0])
    centered = {**prep, "normalization": "centered"}
    np.testing.assert_allclose(C.border_level(X - 0.5, centered), [0.0, 1.0])
    with pytest.raises(InputError, match=r"X must be numeric network inputs of shape "
                                         r"\(n, 784\) for 28×28×1 images, got float32 "
                                         r"\(2, 783\)"):
        C.border_level(X[:, :-1], prep)
