"""Save and load models: one ``.safetensors`` file, no pickle.

The file holds the per-layer tensors under the names a ``torch.nn.Sequential`` of
``Linear`` layers and activations would give them — layer ``l`` (0-based) is
module ``2·l``, so its tensors are ``"{2l}.weight"`` (shape ``(n_out, n_in)``, the
transpose of our ``W[l]``) and ``"{2l}.bias"`` — so that
``safetensors.torch.load_file(path)`` loads straight into the ``state_dict`` of
:func:`neurallab.interop.to_torch`'s module. The metadata holds:

* ``format``: ``"neurallab"`` (a file without it is not ours);
* ``format_version``: an integer; a newer version than this code knows is refused;
* ``config``: the JSON of :meth:`Network.config` (architecture, activations, loss,
  scalers, class names, dtype, preprocessing);
* ``sha256``: a digest of the config and every tensor's bytes, so a tampered file
  is caught instead of silently predicting nonsense.

Loading a safetensors file cannot execute code, unlike a pickle.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from ._validation import check_path
from .errors import InputError, ModelFileError

__all__ = ["save", "load", "FORMAT_VERSION", "tensor_names", "atomic_writer",
           "atomic_write_bytes"]

FORMAT_VERSION = 1
MAGIC = "neurallab"


def tensor_names(layer: int) -> tuple[str, str]:
    """The file's (and ``to_torch``'s ``state_dict``) names of layer ``layer``'s tensors."""
    return f"{2 * layer}.weight", f"{2 * layer}.bias"


def _digest(config_json: str, tensors: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256(config_json.encode())
    for name in sorted(tensors):
        h.update(name.encode())
        h.update(np.ascontiguousarray(tensors[name]).tobytes())
    return h.hexdigest()


def _tensors(net) -> dict[str, np.ndarray]:
    out = {}
    for l, (W, b) in enumerate(zip(net.W, net.b, strict=True)):
        wname, bname = tensor_names(l)
        out[wname] = np.ascontiguousarray(W.T)
        if b is not None:
            out[bname] = np.ascontiguousarray(b)
    return out


@contextlib.contextmanager
def atomic_writer(path, example_name: str = ""):
    """A binary file whose content replaces ``path`` only if the block ends without error.

    Written to a temporary file in the same folder, flushed to disk, then renamed
    over ``path``: readers see the old file or the new one, never half of one.
    ``example_name`` (``"model.safetensors"``) makes the message for a folder suggest
    that file name inside it.
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise ModelFileError(f"cannot save to {path}: folder {directory} does not exist")
    if path.is_dir():
        example = f", e.g. {path / example_name}" if example_name else ""
        raise ModelFileError(f"cannot save to {path}: it is a folder; give a file name "
                             f"inside it{example}")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise ModelFileError(f"cannot save to {path}: folder {directory} is not writable "
                             f"({exc.strerror}); choose another folder") from None
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        # mkstemp creates the file 0600; give it the permissions a plain open() would
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError) and exc.filename in (None, tmp, str(path)):
            # the temporary file's name would only puzzle: name the file asked for
            raise ModelFileError(f"cannot save to {path}: {exc.strerror or exc} "
                                 f"(nothing was written; {path.name} is as it was)") from exc
        raise


def atomic_write_bytes(path, data: bytes, example_name: str = "") -> None:
    """Write ``data`` to ``path`` via a temporary file and a rename: never half-written."""
    with atomic_writer(path, example_name) as f:
        f.write(data)


def save(net, path) -> None:
    """Write ``net`` to ``path`` (``.safetensors``) atomically.

    A network whose parameters hold NaN or inf is refused: such a file could never
    predict anything, and :func:`load` refuses it.
    """
    from safetensors.numpy import save as st_save

    check_path(path)
    if not np.isfinite(net.params).all():
        raise InputError("the network's parameters hold NaN or infinite values (did its "
                         "training diverge?); it was not saved; re-initialise or re-train it")
    config_json = json.dumps(net.config(), sort_keys=True)
    tensors = _tensors(net)
    metadata = {
        "format": MAGIC,
        "format_version": str(FORMAT_VERSION),
        "config": config_json,
        "sha256": _digest(config_json, tensors),
    }
    atomic_write_bytes(path, _sorted_header(st_save(tensors, metadata=metadata)),
                       example_name="model.safetensors")


def _sorted_header(data: bytes) -> bytes:
    """``data`` (a safetensors file) with its JSON header's keys in sorted order.

    The safetensors writer emits the metadata in hash order, which changes from run
    to run, so saving the same network twice would give different bytes. Re-writing
    the header (8-byte little-endian length, JSON padded with spaces to a multiple of
    8 bytes, then the tensor bytes, whose offsets are relative to the end of the
    header) with sorted keys makes a saved file depend only on the network.
    """
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + n])
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return len(text).to_bytes(8, "little") + text + data[8 + n:]


def load(path):
    """Read a model written by :func:`save`.

    Raises
    ------
    ModelFileError
        If the file is missing, truncated, not a safetensors file, not a neurallab
        model, written by a newer format version, or its contents do not match its
        checksum.
    """
    from safetensors import SafetensorError
    from safetensors.numpy import load as st_load

    from .network import Network

    path = Path(check_path(path))
    if path.is_dir():
        raise ModelFileError(f"{path} is a folder, not a model file; give the path of a "
                             ".safetensors file")
    if not path.is_file():
        raise ModelFileError(f"model file {path} does not exist")
    data = path.read_bytes()
    try:
        tensors = st_load(data)
        header_len = int.from_bytes(data[:8], "little")
        header = json.loads(data[8:8 + header_len])
    except (SafetensorError, ValueError, UnicodeDecodeError, OverflowError) as exc:
        raise ModelFileError(
            f"{path} is not a readable .safetensors model (truncated or a different kind "
            f"of file: {exc}); save models with Network.save"
        ) from exc
    meta = header.get("__metadata__") or {}
    if meta.get("format") != MAGIC:
        raise ModelFileError(
            f"{path} is a safetensors file but not a neurallab model (no 'format: "
            f"{MAGIC}' in its metadata); to bring in PyTorch weights use "
            "neurallab.interop.from_torch"
        )
    try:
        version = int(meta.get("format_version", ""))
    except ValueError as exc:
        raise ModelFileError(f"{path}: unreadable format_version "
                             f"{meta.get('format_version')!r}") from exc
    if version < 1:
        raise ModelFileError(f"{path}: unreadable format_version {version} (versions start "
                             "at 1); the file was not written by Network.save")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path} was written by a newer neurallab (format version {version}; this "
            f"version reads up to {FORMAT_VERSION}); upgrade neurallab to load it"
        )
    config_json = meta.get("config", "")
    if _digest(config_json, tensors) != meta.get("sha256"):
        raise ModelFileError(
            f"{path} has been modified or corrupted: its contents do not match the "
            "checksum stored when it was saved; re-save or re-train the model"
        )
    try:
        config = json.loads(config_json)
        net = Network.from_config(config)
        if net.loss is not None:
            net._resolve_loss(net.loss)   # a loss this version does not know
    except Exception as exc:
        raise ModelFileError(f"{path}: the model configuration is invalid ({exc})") from exc
    for l, (W, b) in enumerate(zip(net.W, net.b, strict=True)):
        wname, bname = tensor_names(l)
        if wname not in tensors or tensors[wname].shape != W.T.shape:
            raise ModelFileError(f"{path}: tensor {wname} is missing or has the wrong shape")
        W[...] = tensors[wname].T
        if b is not None:
            if bname not in tensors or tensors[bname].shape != b.shape:
                raise ModelFileError(f"{path}: tensor {bname} is missing or has the wrong shape")
            b[...] = tensors[bname]
    if not np.isfinite(net.params).all():
        raise ModelFileError(f"{path} holds NaN or infinite weights (the training that made "
                             "it diverged); re-train the model")
    return net
