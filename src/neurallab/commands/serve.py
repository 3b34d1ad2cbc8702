"""``neurallab serve``: the web app, for an image classifier or a model of table values."""

from __future__ import annotations

import argparse
import ipaddress
import math
import os
import socket
import sys

#: images per request, by default
MAX_FILES = 16
#: rows per request, by default (the values app's own default)
DEFAULT_MAX_ROWS = 10_000

EPILOG = """examples:
  neurallab serve                         the default Fashion-MNIST model on http://127.0.0.1:8000
  neurallab serve model.safetensors --port 8080
  neurallab serve --max-upload-mb 4 --max-files 8
  neurallab serve scores.safetensors      a model from 'neurallab train scores.csv ...'
  curl -H 'Content-Type: application/json' -d '{"rows": [{"sleep": 8, "study": 3}]}' \\
       http://127.0.0.1:8000/api/predict

With no MODEL, a small network is trained on the Fashion-MNIST sample shipped with
neurallab the first time (a few seconds) and cached in ~/.cache/neurallab.
A model without image preprocessing (one trained on a CSV file) is served as a
page with one number field per input, and /api/predict takes JSON rows of values
(by name, or in the model's order) and answers in the model's raw units.
The page is at /, the API documentation at /docs.
"""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "serve",
        help="start the web app: upload an image, or type a model's input values",
        description="Start the web app: upload images (or draw one), see the 28×28 input\n"
                    "the network receives, its top classes and the model card. A model\n"
                    "trained on a CSV file gets a page of number fields, one per input,\n"
                    "and a JSON API instead.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", nargs="?", metavar="MODEL",
                   help="a .safetensors model: an image classifier, or a model trained "
                        "on a CSV file (default: the built-in Fashion-MNIST model)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000,
                   help="port (default 8000; 0: any free port, printed at start)")
    p.add_argument("--max-upload-mb", type=float, default=10.0, metavar="MB",
                   help="largest upload per request, in megabytes (default 10)")
    p.add_argument("--max-files", type=int, default=None, metavar="N",
                   help=f"most images per request (default {MAX_FILES}; image models)")
    p.add_argument("--max-rows", type=int, default=None, metavar="N",
                   help=f"most rows per request (default {DEFAULT_MAX_ROWS:,}; models "
                        "trained on a CSV file)")
    p.set_defaults(func=run)


def _check(args) -> int:
    from ..cli import CLIError

    if not 0 <= args.port <= 65535:
        raise CLIError(f"--port must be between 0 and 65535, got {args.port}")
    mb = args.max_upload_mb
    if not (math.isfinite(mb) and mb > 0):
        raise CLIError(f"--max-upload-mb must be a positive number, got {mb:g}")
    if int(mb * 1_000_000) < 1:
        raise CLIError(f"--max-upload-mb {mb:g} is less than one byte; give at least 0.000001")
    for option, value in (("--max-files", args.max_files), ("--max-rows", args.max_rows)):
        if value is not None and value < 1:
            raise CLIError(f"{option} must be at least 1, got {value}")
    if args.model is not None and os.path.isdir(args.model):
        raise CLIError(f"{args.model} is a folder; give the path of a .safetensors model "
                       "file, or no MODEL for the default one")
    if args.model is not None and not os.path.isfile(args.model):
        raise CLIError(f"model file {args.model} does not exist; give the path of a "
                       ".safetensors model, or no MODEL for the default one")
    return int(mb * 1_000_000)


def _listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` and listening, or one clear error.

    Bound here, before the model is loaded or trained, rather than by uvicorn: a
    port in use or an address this machine does not have is then one line that
    says what to change, and with ``--port 0`` the address printed is the real one.
    The socket is made with protocol ``IPPROTO_TCP``, as uvicorn's own would be:
    asyncio sets ``TCP_NODELAY`` only on connections of such a socket, and without
    it every small answer waits some 40 ms for the client's delayed ACK.
    """
    from ..cli import CLIError

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = None
    try:
        *_, address = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM,
                                         socket.IPPROTO_TCP, socket.AI_PASSIVE)[0]
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
        return sock
    except OSError as exc:  # in use, no such address, not allowed
        if sock is not None:
            sock.close()
        reason = os.strerror(exc.errno) if isinstance(exc.errno, int) and exc.errno > 0 \
            else (exc.strerror or str(exc))
        raise CLIError(f"cannot listen on {host}:{port} ({reason}); choose "
                       "another --port, or a --host this machine has") from None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run(args) -> int:
    from ..cli import CLIError

    max_bytes = _check(args)
    try:
        import uvicorn

        from ..io import load
        from ..web import create_app, create_values_app
        from ..web.default import default_model, default_model_source
        from ..web.inference import ImageClassifier
        from ..web.values import is_image_model
    except ModuleNotFoundError as exc:
        raise CLIError(f"the web app needs {exc.name}: pip install 'neurallab[web]'") from None
    sock = _listen(args.host, args.port)

    def log(line: str) -> None:
        print(f"neurallab serve: {line}", file=sys.stderr, flush=True)

    # the default model: loaded from the cache, or trained now with progress shown
    # (handed over as it is, so an unwritable cache does not make it train twice)
    with sock:
        if args.model is None:
            net, source = default_model(log=log), default_model_source()
        else:
            net, source = load(args.model), args.model
        if is_image_model(net):
            if args.max_rows is not None:
                raise CLIError("--max-rows is for models trained on a CSV file; this is an "
                               "image classifier, so leave --max-rows out (--max-files "
                               "limits its requests)")
            app = create_app(ImageClassifier(net, source=source), max_upload_bytes=max_bytes,
                             max_files=args.max_files or MAX_FILES)
        else:
            if args.max_files is not None:
                raise CLIError(f"--max-files is for image classifiers; {args.model} takes "
                               "rows of values, so leave --max-files out (--max-rows limits "
                               "its requests)")
            app = create_values_app(net, max_upload_bytes=max_bytes,
                                    max_rows=args.max_rows or DEFAULT_MAX_ROWS, source=source)
            log(f"serving {args.model}: {', '.join(app.state.values.features)} -> "
                f"{app.state.values.target} ({app.state.values.task})")
        if not _is_loopback(args.host):
            log(f"listening on {args.host}: other machines can reach this server")
        host = f"[{args.host}]" if ":" in args.host else args.host
        log(f"open http://{host}:{sock.getsockname()[1]}/ in a browser (Ctrl-C stops)")
        config = uvicorn.Config(app, log_level="info", timeout_graceful_shutdown=5)
        uvicorn.Server(config).run(sockets=[sock])
    return 0
