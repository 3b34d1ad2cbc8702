"""``neurallab export``: a saved model as an ONNX, PyTorch or Keras file.

The exported file takes and returns raw units (the model's scalers are built in)
unless ``--no-scalers``; after writing it, the command runs the file in its own
framework on random inputs and prints the largest difference from neurallab's
predictions, so a user sees that nothing was lost.
"""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

import numpy as np

from ..cli import CLIError
from ..errors import InputError
from ._options import check_output

EXAMPLES = """examples:
  neurallab export model.safetensors --format onnx --out model.onnx
  neurallab export model.safetensors --out model.pt2        (format from the suffix)
  neurallab export model.safetensors --format keras --out model.keras --dtype float32

loading the result elsewhere:
  onnxruntime.InferenceSession("model.onnx").run(None, {"X": x})
  torch.export.load("model.pt2").module()(x)
  keras.models.load_model("model.keras")(x)     (with KERAS_BACKEND=torch set first,
                                                 the backend neurallab[keras] installs)
"""
#: random inputs the exported file is checked on
N_CHECK = 64
#: the largest relative difference the check accepts: float32 files agree to about
#: 1e-7 (measured), float64 ones to about 1e-15 — except Keras, whose float64 layers
#: multiply in float32 (see the README), so they get float32's tolerance
FLOAT32_TOLERANCE, FLOAT64_TOLERANCE = 1e-5, 1e-10


def register(sub) -> None:
    p = sub.add_parser(
        "export", help="write a model as ONNX, PyTorch (.pt2) or Keras (.keras)",
        description=textwrap.fill(
            "Write a saved neurallab model for another framework and check that it gives "
            "the same outputs there. ONNX needs the onnx extra, torch the torch extra, "
            "keras the keras extra (pip install \"neurallab[onnx]\").", 79),
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", type=Path, help="model file (.safetensors) written by neurallab")
    p.add_argument("--format", choices=("onnx", "torch", "keras"),
                   help="target framework (default: from the suffix of --out: .onnx, .pt2, "
                   ".keras)")
    p.add_argument("--out", type=Path, help="file to write (default: MODEL with the "
                   "format's suffix)")
    p.add_argument("--dtype", choices=("float32", "float64"),
                   help="tensor type of the export (default: the model's)")
    p.add_argument("--no-scalers", action="store_true",
                   help="export the bare network (scaled units) without the model's scalers")
    p.add_argument("--no-check", action="store_true",
                   help="do not run the exported file to compare its outputs")
    p.set_defaults(func=cmd_export)


def _probe_inputs(net, rng: np.random.Generator, scaled: bool) -> np.ndarray:
    """Random inputs around the training data: N(0, 1) in the network's scaled units."""
    Z = rng.standard_normal((N_CHECK, net.n_inputs))
    if scaled or net.input_scaler is None or not net.input_scaler.fitted:
        return Z
    return net.input_scaler.inverse_transform(Z)


def cmd_export(args) -> int:
    from .. import interop
    from ..io import load

    if args.format is None and args.out is None:
        raise InputError("give --format (onnx, torch, keras) or --out with a .onnx, .pt2 "
                         "or .keras suffix")
    out = args.out or args.model.with_suffix(interop.FORMATS[args.format])
    check_output(out, "--out", (), inputs=(args.model,))
    fmt = interop.format_of(out, args.format)
    net = load(args.model)
    include = not args.no_scalers
    interop.export(net, out, fmt, dtype=args.dtype, include_scalers=include)
    dtype = args.dtype or net.dtype.name
    units = "raw units in and out" if include else "scaled units (no scalers)"
    print(f"wrote {out} ({fmt}, {dtype}, {units})")
    if args.no_check:
        return 0
    X = _probe_inputs(net, np.random.default_rng(0), scaled=not include)
    ours = net.predict_raw(X) if include else net.forward(X)
    try:
        theirs = interop.run_exported(out, X, fmt)
    except interop.MissingExtraError as exc:
        raise CLIError(f"{out} is written, but checking it needs its framework: {exc}; or "
                       "skip the check with --no-check") from None
    diff = float(np.abs(np.asarray(theirs, np.float64) - ours).max())
    scale = max(float(np.abs(ours).max()), 1e-300)
    # the export computes in `dtype`: differences far beyond its rounding are a defect
    tolerance = FLOAT64_TOLERANCE if dtype == "float64" and fmt != "keras" \
        else FLOAT32_TOLERANCE
    ok = diff / scale <= tolerance
    print(f"checked: {fmt} output vs neurallab on {N_CHECK} random inputs: max |difference| "
          f"{diff:.3g} (relative {diff / scale:.3g}; "
          f"{'OK' if ok else 'FAILED'}: tolerance {tolerance:g})")
    return 0 if ok else 1
