"""Chapter 10: the same network in PyTorch, Keras and ONNX; our gradient next to autograd."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from .. import classify, datasets, optim, plots
from ..interop import compare_outputs, torch_gradient_descent, torch_loss_and_grad
from ..interop._deps import MissingExtraError, import_torch
from ._common import (
    LR_GOOD,
    QUESTION,
    SLEEP_RANGE,
    STUDY_RANGE,
    tutorial_network,
    tutorial_setup,
)
from .core import ChapterResult, ChapterSkipped, Context, fmt_number

TITLE = "Deep learning III — the same network in PyTorch, Keras and ONNX"

#: gradient-descent steps run in both neurallab and PyTorch
STEPS = 100
#: the small Fashion-MNIST classifier exported here (784-64-10, ReLU, Adam)
CLASSIFIER = replace(classify.MLP, hidden=(64,), epochs=8, val_split=0.0, seed=0)
FRAMEWORK_NAMES = {"torch": "PyTorch", "keras": "Keras 3", "onnx": "ONNX Runtime"}


def _tutorial_trained(ctx: Context):
    """Chapter 6's trained network if it ran, else the same BFGS training here."""
    net = ctx.shared.get("ch6.network")
    if net is None:
        net, X, y, _, _ = tutorial_setup(ctx.seed)
        net.fit(X, y, optimizer=optim.BFGS(max_iter=200), verbose=0)
    return net


def _classifier(ctx: Context):
    """Chapter 9's classifier if it ran, else a small one trained on the packaged sample."""
    data = datasets.fashion_mnist_sample()
    net = ctx.shared.get("ch9.network")
    if net is None:
        net, _ = classify.train_classifier(data.X_train, data.y_train, CLASSIFIER,
                                           class_names=data.class_names)
    return net, classify.images_to_inputs(data.X_test, net.meta.get("preprocessing")), \
        data.y_test


def _round_trips(res: ChapterResult, net, X: np.ndarray) -> None:
    """Each framework's model read back into neurallab: parameters and outputs."""
    from .. import interop

    ways = {"PyTorch": ("torch", interop.to_torch, interop.from_torch),
            "Keras 3": ("keras", interop.to_keras, interop.from_keras),
            "ONNX": ("onnx", interop.to_onnx, interop.from_onnx)}
    rows = []
    for name, (key, out, back) in ways.items():
        try:
            again = back(out(net))
        except MissingExtraError as exc:
            rows.append((name, "not installed", str(exc).split(";")[-1].strip(), "—"))
            continue
        same = again.params.tobytes() == net.params.tobytes()
        diff = float(np.abs(again.forward(X) - net.forward(X)).max())
        res.add_number(f"round_trip_{key}_max_diff", diff,
                       f"{name} and back: max |difference| of the outputs")
        rows.append((name, f"{out.__name__} → {back.__name__}",
                     "identical, bit for bit" if same else "changed", f"{diff:.1e}"))
    res.add_table(("framework", "out and back", "parameters", "max |Δ output|"), rows,
                  caption=f"The classifier exported and imported again, outputs compared on "
                          f"its {X.shape[0]:,} test images.")
    res.add_text(
        "And back again: a model in any of the three formats — our own exports, or a "
        "PyTorch nn.Sequential, a Keras Sequential or an ONNX graph of dense layers made "
        "elsewhere — comes into neurallab with from_torch, from_keras or from_onnx, with "
        "the same parameters bit for bit, so it can be checked, trained further or "
        "explained here.",
    )


def _grid() -> np.ndarray:
    sleep = np.linspace(*SLEEP_RANGE, 21)
    study = np.linspace(*STUDY_RANGE, 21)
    S, T = np.meshgrid(sleep, study)
    return np.column_stack([S.ravel(), T.ravel()])


def _comparison_rows(results, ours_answer=None):
    """Table rows: framework, how, dtype, [its answer,] max |Δ|; a framework that is
    not installed gets the pip command and dashes in the same number of cells."""
    rows = []
    for name, c in results.items():
        if not c.ran:
            dashes = ("—",) * (3 if ours_answer else 2)
            rows.append((FRAMEWORK_NAMES[name], c.note.split(";")[-1].strip(), *dashes))
            continue
        answer = "" if ours_answer is None else f"{ours_answer(c):.6f}"
        rows.append((FRAMEWORK_NAMES[name], c.note, c.dtype,
                     *((answer,) if ours_answer else ()), f"{c.max_abs_diff:.2e}"))
    return rows


#: where a difference of exactly 0 is drawn on the log axis
FLOOR = 1e-18


def _figure(ctx: Context, res: ChapterResult, names, grad, grad_t, models) -> None:
    """Left: the gradient both ways. Right: relative output differences, log scale."""
    fig, axes = plots.new_figure(2, width=12.5, height=4.4)
    plots.plot_bars(axes[0], names, {"backpropagation": grad, "PyTorch autograd": grad_t},
                    title="∂J/∂W of the untrained tutorial network", xlabel="weight",
                    ylabel="∂J/∂w", value_fmt=None)
    axes[0].tick_params(axis="x", labelrotation=45, labelsize="small")
    axes[0].legend(fontsize="small", loc="lower left")  # clear of the bars
    series = {}
    for label, (results, scale) in models.items():
        series[label] = [max(c.max_abs_diff / scale, FLOOR) if c.ran else np.nan
                         for c in results.values()]
    groups = [FRAMEWORK_NAMES[n] for n in next(iter(models.values()))[0]]
    plots.plot_bars(axes[1], groups, series, title="largest output difference from neurallab",
                    ylabel="max |Δ| / max |output|", value_fmt="{:.1e}", logy=True)
    for eps, name in ((np.finfo(np.float64).eps, "float64 ε"),
                      (np.finfo(np.float32).eps, "float32 ε")):
        axes[1].axhline(eps, color="0.4", lw=0.8, ls="--")
        axes[1].text(0.99, eps, name, transform=axes[1].get_yaxis_transform(), ha="right",
                     va="bottom", fontsize="x-small", color="0.3")
    axes[1].set_ylim(1e-18, 1e-3)
    res.add_figure(ctx.save_figure(fig, "ch10_frameworks"),
                   "Left: the nine entries of the gradient from our backpropagation and from "
                   "PyTorch's autograd — the bars coincide. Right: the largest output "
                   "difference of each framework, relative to the largest output, next to "
                   "the machine precision ε of float64 and float32 (a difference of exactly "
                   f"0 would be drawn at {FLOOR:g}).")


def run(ctx: Context) -> ChapterResult:
    try:
        torch = import_torch("chapter 10")
    except MissingExtraError as exc:
        raise ChapterSkipped(str(exc)) from exc
    res = ChapterResult(10, TITLE)
    res.add_text(
        "Theano, TensorFlow, PyTorch and Keras do what the previous chapters did by hand. "
        "A network is a graph of operations; the framework differentiates the graph "
        "automatically (no hand-written backpropagation), runs it on GPUs, and offers a "
        "Sequential model with a fit method. If our mathematics is right, the same weights "
        "must give the same outputs there, and their automatic differentiation must give "
        "our gradient. This chapter carries the networks over and measures the difference.",
    )

    # ------------------------------------------------------------------ outputs
    net = _tutorial_trained(ctx)
    X_grid = np.vstack([QUESTION, _grid()])
    ours = net.predict_raw(X_grid)
    t = time.perf_counter()
    results = compare_outputs(net, X_grid)
    seconds = time.perf_counter() - t
    res.add_text(
        "First the trained tutorial network of chapter 6 (2-3-1, sigmoid, no biases, "
        "inputs ÷ column maximum, scores ÷ 100), converted with neurallab.interop: to_torch "
        "builds a torch.nn.Sequential of Linear layers and activations, to_keras a Keras "
        "Sequential of Dense layers, to_onnx a standard ONNX graph (MatMul, Sigmoid). The "
        "scalers travel along, so each framework takes hours and answers in points. We ask "
        f"all four for the score at {X_grid.shape[0]} points: the question (8 h, 3 h) and "
        "a 21 × 21 grid over sleep 0–10 h and study 0–5 h.",
    )
    res.add_table(
        ("framework", "how", "computes in", "score for (8 h, 3 h)", "max |Δ| (points)"),
        [("neurallab", "Network.predict", net.dtype.name, f"{ours[0, 0]:.6f}", "—")]
        + _comparison_rows(results, lambda c: float(np.asarray(c.outputs)[0, 0])),
        caption="The same weights in four programs; Δ is the difference from neurallab "
                f"over all {X_grid.shape[0]} inputs (conversions and runs took "
                f"{seconds:.1f} s).",
    )
    for name, c in results.items():
        if c.ran:
            res.add_number(f"tutorial_diff_{name}", c.max_abs_diff,
                           f"tutorial network: max |{FRAMEWORK_NAMES[name]} − neurallab|",
                           "points", show=(name == "torch"))
    exact = [FRAMEWORK_NAMES[n] for n in ("torch", "onnx") if results[n].ran]
    keras = results["keras"]
    s = "s" if len(exact) == 1 else ""
    res.add_text(
        (f"{' and '.join(exact)} compute{s} in float64, as we do, and agree{s} to the last "
         "digit or two (a difference of order 1e-14 points is the rounding of a few "
         "multiplications done in another order). " if exact else "")
        + (f"Keras differs by {keras.max_abs_diff:.1e} points: it holds the float64 weights "
           "exactly, but on its PyTorch backend Keras 3 multiplies float64 matrices in "
           "float32 (its type-promotion rules map float64 to float32), so it is as exact "
           "as float32 is — about 7 significant digits." if keras.ran else ""),
    )

    # ------------------------------------------------------------------ gradient
    probe, X, y, Xs, ys = tutorial_setup(ctx.seed)
    J, grad = probe.loss_and_grad(Xs, ys, loss="sse")
    Jt, grad_t = torch_loss_and_grad(probe, Xs, ys, loss="sse")
    diff = np.abs(grad - grad_t)
    rel = float(np.linalg.norm(grad - grad_t) / np.linalg.norm(grad + grad_t))
    res.add_text(
        "Next, the gradient. For the untrained tutorial network (standard-normal weights, "
        f"seed {ctx.seed}) we compute J = ½·Σ(y − ŷ)² and ∂J/∂W1, ∂J/∂W2 twice: with our "
        "backpropagation (chapter 4), and in PyTorch, where J is written as tensor "
        "operations and J.backward() lets autograd apply the chain rule to the recorded "
        "graph. Same numbers in, independent code paths:",
    )
    res.add_equation("ours:    δ3 = −(y − ŷ) ⊙ f′(z3),  ∂J/∂W2 = a2ᵀ·δ3,  "
                     "δ2 = (δ3·W2ᵀ) ⊙ f′(z2),  ∂J/∂W1 = Xᵀ·δ2",
                     "PyTorch: J = 0.5 * ((y - model(X))**2).sum();  J.backward()")
    names = [f"W1[{i},{j}]" for i in range(2) for j in range(3)] + \
            [f"W2[{i},0]" for i in range(3)]
    res.add_table(("weight", "backpropagation", "PyTorch autograd", "|difference|"),
                  [(n, f"{g:+.15f}", f"{gt:+.15f}", f"{d:.1e}")
                   for n, g, gt, d in zip(names, grad, grad_t, diff, strict=True)],
                  caption=f"∂J/∂W at the initial weights (J = {fmt_number(J, 8)} ours, "
                          f"{fmt_number(Jt, 8)} PyTorch).")
    gmax = res.add_number("grad_max_abs_diff", diff.max(),
                          "max |backprop − autograd| over the 9 gradient entries", show=True)
    res.add_number("grad_relative_error", rel, "‖g − g_torch‖ / ‖g + g_torch‖")
    res.add_number("cost_abs_diff", abs(J - Jt), "|J − J_torch| at the initial weights")
    res.add_text(
        f"The largest difference is {gmax:.1e}, and ‖g − g_torch‖ / ‖g + g_torch‖ = "
        f"{rel:.1e}: where chapter 5's numerical gradient agreed to about 1e-10 (the error "
        "of a finite difference), automatic differentiation agrees to the rounding of "
        "float64 itself, because it is exact calculus too.",
    )

    # ------------------------------------------------------------------ training
    ours_net = tutorial_network(ctx.seed)
    start = ours_net.get_params()
    # raw units in: fit scales them exactly as tutorial_setup did (Xs, ys)
    h = ours_net.fit(X, y, optimizer=optim.GradientDescent(lr=LR_GOOD), epochs=STEPS,
                     verbose=0)
    theirs, costs = torch_gradient_descent(tutorial_network(ctx.seed), Xs, ys, lr=LR_GOOD,
                                           steps=STEPS)
    wdiff = res.add_number("train_max_weight_diff", np.abs(ours_net.params - theirs.params).max(),
                           f"max weight difference after {STEPS} gradient-descent steps",
                           show=True)
    res.add_text(
        f"Finally one training run, twice: {STEPS} steps of plain gradient descent with "
        f"η = {LR_GOOD:g} from the same initial weights, net.fit(optimizer=\"gd\") here and "
        f"torch.optim.SGD there. The weights move by up to "
        f"{np.abs(ours_net.params - start).max():.2f}; J falls from "
        f"{costs[0]:.4f} to {ours_net.cost(Xs, ys):.4f}; and the two runs end "
        f"{wdiff:.1e} apart (the cost after the last step: {theirs.cost(Xs, ys):.10f} "
        f"with PyTorch's weights, {ours_net.cost(Xs, ys):.10f} with ours; each library's "
        f"own first cost, {costs[0]:.10f} and {h.history['loss'][0]:.10f}).",
    )

    # ------------------------------------------------------------------ classifier
    clf, X_test, y_test = _classifier(ctx)
    t = time.perf_counter()
    cresults = compare_outputs(clf, X_test)
    seconds = time.perf_counter() - t
    p = clf.predict_proba(X_test)
    acc = res.add_number("classifier_accuracy", (p.argmax(1) == y_test).mean(),
                         "Fashion-MNIST classifier: test accuracy in neurallab")
    rows = []
    for name, c in cresults.items():
        if not c.ran:
            rows.append((FRAMEWORK_NAMES[name], c.note.split(";")[-1].strip(), "—", "—", "—"))
            continue
        same = float((np.asarray(c.outputs).argmax(1) == p.argmax(1)).mean())
        res.add_number(f"classifier_diff_{name}", c.max_abs_diff,
                       f"classifier: max |{FRAMEWORK_NAMES[name]} − neurallab| probability")
        res.add_number(f"classifier_same_class_{name}", same,
                       f"classifier: share of test images given the same class by "
                       f"{FRAMEWORK_NAMES[name]}")
        rows.append((FRAMEWORK_NAMES[name], c.note, c.dtype, f"{c.max_abs_diff:.1e}",
                     f"{same:.1%}"))
    sizes = "-".join(map(str, clf.layer_sizes))
    res.add_text(
        f"The same for an image classifier: a {sizes} network (ReLU, softmax output, float32) "
        f"trained on Fashion-MNIST images, {acc:.1%} right on the {len(y_test)} test images. "
        "Each framework computes the ten class probabilities of every test image:",
    )
    res.add_table(("framework", "how", "computes in", "max |Δ probability|",
                   "same predicted class"), rows,
                  caption=f"{len(y_test)} test images × 10 classes; Δ against neurallab "
                          f"(conversions and runs took {seconds:.1f} s).")
    _figure(ctx, res, names, grad, grad_t,
            {"tutorial network (float64)": (results, np.abs(ours).max()),
             f"classifier ({clf.dtype.name})": (cresults, 1.0)})
    res.add_text(
        "In float32 the frameworks sum the 784 products of each unit in their own order "
        "(blocked, vectorised), so probabilities differ in the 7th digit — the precision of "
        "float32 — while the predicted classes are the same. A network trained here can be "
        "handed to any of them with the command `neurallab export model.safetensors "
        "--format onnx|torch|keras`.",
    )
    _round_trips(res, clf, X_test)
    del torch  # imported only to skip the chapter cleanly when PyTorch is missing
    return res
