"""The web app: one static page and a small JSON API around a model.

:func:`create_app` serves an image classifier; :func:`create_values_app` a model of
table values (``neurallab train``'s), with a page of one number field per input and a
JSON ``/api/predict`` that takes rows of values. Both share the same limits, error
answers, documentation and security headers (:func:`_base_app`).

Routes of the image app::

    GET  /                 the page (static/index.html; no build step)
    GET  /static/...       its script and style sheet
    POST /api/predict      multipart, one or more parts named "files" → one answer each
    GET  /api/model        the model card (architecture, training data, accuracy, classes)
    GET  /healthz          liveness
    GET  /openapi.json     the schema; /docs shows it

Decoding and inference are CPU work, so they run in worker threads (at most
``workers`` at a time, which also bounds the memory decoded images can take); the
event loop only moves bytes. Uploads are read into memory with a hard cap and never
written to disk (see :mod:`neurallab.web.uploads`).
"""

from __future__ import annotations

import json
import os
import time
from importlib import resources
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

from .. import __version__
from ..errors import InputError
from ..io import load
from ..network import Network
from .inference import ACCEPTED_FORMATS, DEFAULT_MAX_PIXELS, ImageClassifier
from .uploads import FIELD_NAME, UploadError, read_json_body, read_uploads
from .values import DEFAULT_MAX_ROWS, ValuesModel

__all__ = ["create_app", "create_values_app"]

#: the page may only load its own files (and show images it made itself)
PAGE_CSP = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self'; "
            "script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'")


# ---------------------------------------------------------------------- schema
class Prediction(BaseModel):
    label: str
    index: int
    probability: float


class ImageInfo(BaseModel):
    format: str
    width: int
    height: int
    mode: str


class FileAnswer(BaseModel):
    """One uploaded file's answer: ``ok`` with predictions, or an error in plain words."""

    filename: str
    ok: bool
    label: str | None = None
    index: int | None = None
    predictions: list[Prediction] | None = None
    input_png: str | None = None
    input_shape: list[int] | None = None
    image: ImageInfo | None = None
    timing_ms: dict[str, float] | None = None
    note: str | None = None   # e.g. a background unlike the training images'
    status: int | None = None
    code: str | None = None
    error: str | None = None


class PredictAnswer(BaseModel):
    results: list[FileAnswer]
    elapsed_ms: float


class ErrorAnswer(BaseModel):
    detail: str
    code: str
    results: list[FileAnswer] | None = None


_UPLOAD_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {"multipart/form-data": {"schema": {
            "type": "object",
            "required": [FIELD_NAME],
            "properties": {FIELD_NAME: {
                "type": "array",
                "items": {"type": "string", "format": "binary"},
                "description": "one or more images (PNG, JPEG, GIF, BMP, WebP)",
            }},
        }}},
    }
}


# ---------------------------------------------------------------------- factory
def _resolve_model(model, max_pixels: int, top_k: int, cache_dir) -> ImageClassifier:
    if isinstance(model, ImageClassifier):
        return model
    if model is None:
        from .default import default_model, default_model_source

        net = default_model(cache_dir)
        source = default_model_source(cache_dir)
    elif isinstance(model, Network):
        net, source = model, ""
    elif isinstance(model, (str, os.PathLike)):
        net, source = load(model), os.fspath(model)
    else:
        raise InputError(
            f"model must be a Network, a path to a .safetensors model, or None for the "
            f"default model; got {type(model).__name__}"
        )
    return ImageClassifier(net, max_pixels=max_pixels, top_k=top_k, source=source)


def _mount_offline_docs(app: FastAPI) -> None:
    """Serve Swagger UI at ``/docs`` from the ``swagger-ui-bundle`` package's files.

    FastAPI's default ``/docs`` page loads Swagger UI from a CDN, which shows a blank
    page on a machine without internet access; the bundle ships the same files.
    """
    from fastapi.openapi.docs import get_swagger_ui_html
    from swagger_ui_bundle import swagger_ui_path

    app.mount("/docs-assets", StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def _docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url,
            title="neurallab API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon-32x32.png",
        )


def _check_limits(**limits) -> None:
    """The limits both apps take: positive integers, and a positive upload timeout."""
    timeout = limits.pop("upload_timeout")
    for name, value in limits.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InputError(f"{name} must be a positive integer, got {value!r}")
    if not (isinstance(timeout, (int, float)) and timeout > 0):
        raise InputError(f"upload_timeout must be a positive number of seconds, got "
                         f"{timeout!r}")


def _base_app(summary: str, card: dict, page: str, card_description: str,
              workers: int | None) -> FastAPI:
    """What both apps share: the static files, offline docs, error answers, the page
    (with its Content-Security-Policy), ``/healthz``, ``/api/model`` and the limits on
    work done at once.

    ``app.state.limiter`` bounds the requests computed at once (worker threads);
    ``app.state.upload_slots`` the request bodies held in memory at once (twice as many).
    """
    n_workers = workers or max(2, os.cpu_count() or 1)
    app = FastAPI(
        title="neurallab",
        version=__version__,
        summary=summary,
        docs_url=None,  # served below from local files: the page must work offline
    )
    app.state.limiter = anyio.CapacityLimiter(n_workers)
    app.state.upload_slots = anyio.CapacityLimiter(2 * n_workers)

    static = resources.files("neurallab.web") / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")
    _mount_offline_docs(app)

    @app.exception_handler(UploadError)
    async def _upload_error(request: Request, exc: UploadError) -> JSONResponse:
        # with the body only partly read, close the connection rather than go on
        # reading (and discarding) whatever the client still sends
        headers = {"Connection": "close"} if exc.body_unread else None
        return JSONResponse({"detail": exc.message, "code": exc.code}, status_code=exc.status,
                            headers=headers)

    @app.get("/", include_in_schema=False)
    async def _page() -> FileResponse:
        return FileResponse(str(static / page), headers={"Content-Security-Policy": PAGE_CSP})

    @app.get("/healthz", summary="Liveness check")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "model": card["name"]}

    @app.get("/api/model", summary="The model card", description=card_description)
    async def model_card() -> dict[str, Any]:
        return card

    return app


def create_app(model: Network | str | os.PathLike | None = None,
               max_upload_bytes: int = 10_000_000, max_files: int = 16, *,
               max_pixels: int = DEFAULT_MAX_PIXELS, top_k: int = 5, workers: int | None = None,
               cache_dir: str | os.PathLike | None = None,
               upload_timeout: float = 60.0) -> FastAPI:
    """Build the web app around one image classifier.

    Parameters
    ----------
    model : Network, path or None
        A trained image classifier (with ``meta["preprocessing"]`` and
        ``class_names``), a ``.safetensors`` file holding one, or ``None`` for the
        default model (trained on the shipped Fashion-MNIST sample on first use and
        cached; see :mod:`neurallab.web.default`).
    max_upload_bytes : int
        The most bytes one ``/api/predict`` request may carry, all files together;
        more is refused with 413, counted while reading whatever the headers say.
    max_files : int
        The most files one request may carry (more: 413).
    max_pixels : int
        Images with more pixels (width × height) are refused (422) without decoding.
    top_k : int
        Classes listed per answer.
    workers : int, optional
        Requests decoded and classified at the same time (default: CPU count, at
        least 2); the rest wait their turn. Twice as many uploads are read into
        memory at once, so the uploads held amount to at most
        ``2 · workers · max_upload_bytes``; further requests wait before their body
        is read.
    cache_dir : path, optional
        Where the default model is cached.
    upload_timeout : float
        Seconds one request's body may take to arrive; a slower (or stalled) upload
        is answered 408 and its connection closed.

    Returns
    -------
    fastapi.FastAPI
    """
    _check_limits(max_upload_bytes=max_upload_bytes, max_files=max_files, top_k=top_k,
                  upload_timeout=upload_timeout)
    classifier = _resolve_model(model, max_pixels, top_k, cache_dir)
    limits = {
        "max_upload_bytes": max_upload_bytes,
        "max_files": max_files,
        "max_pixels": classifier.max_pixels,
        "formats": list(ACCEPTED_FORMATS.values()),
    }
    card = {**classifier.card(), "limits": limits}
    app = _base_app("Upload an image, see what the network sees and what it says.", card,
                    "index.html", "Architecture, training data, test accuracy, class names, "
                    "preprocessing, limits.", workers)
    app.state.classifier = classifier

    @app.post(
        "/api/predict",
        summary="Classify one or more images",
        openapi_extra=_UPLOAD_SCHEMA,
        response_model=None,
        responses={
            200: {"model": PredictAnswer,
                  "description": "an answer per file (errors for some files are entries)"},
            400: {"model": ErrorAnswer,
                  "description": "broken multipart framing, or the upload was interrupted"},
            408: {"model": ErrorAnswer, "description": "the upload took too long to arrive"},
            413: {"model": ErrorAnswer, "description": "upload too large or too many files"},
            415: {"model": ErrorAnswer, "description": "not multipart, or no file is an image"},
            422: {"model": ErrorAnswer, "description": "no files, or none could be decoded"},
        },
    )
    async def predict(request: Request) -> JSONResponse:
        """Classify the uploaded images: top classes, the network's input as a PNG, timing.

        Answers 200 when at least one file was classified (the others carry their error);
        otherwise the files' error status (415 not an image, 422 unreadable or too many
        pixels) with the first error as ``detail``.
        """
        t0 = time.perf_counter()
        async with app.state.upload_slots:  # bounds the memory all uploads hold at once
            uploads = await read_uploads(request, max_upload_bytes, max_files,
                                         timeout=upload_timeout)
            results = await anyio.to_thread.run_sync(
                classifier.classify, [(u.filename, u.data) for u in uploads],
                limiter=app.state.limiter)
            del uploads
        payloads = [r.payload for r in results]
        elapsed = 1e3 * (time.perf_counter() - t0)
        if any(r.ok for r in results):
            return JSONResponse({"results": payloads, "elapsed_ms": elapsed})
        statuses = {r.status for r in results}
        status = statuses.pop() if len(statuses) == 1 else 422
        first = results[0].payload
        return JSONResponse({"detail": first["error"], "code": first["code"],
                             "results": payloads}, status_code=status)

    return app


# ---------------------------------------------------------------------- values app
def _values_schemas(values: ValuesModel) -> tuple[dict, dict]:
    """The request body's and the 200 answer's JSON schemas, with the model's own names."""
    number = {"type": "number"}
    by_name = {"type": "object", "required": values.features, "additionalProperties": False,
               "properties": {f: {**number, "description": f"{f} ({units})"
                                  if (units := values.units.get(f)) else f}
                              for f in values.features}}
    in_order = {"type": "array", "items": number, "minItems": len(values.features),
                "maxItems": len(values.features),
                "description": f"the values in the model's order: {', '.join(values.features)}"}
    request = {"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"type": "object", "required": ["rows"], "additionalProperties": False,
                   "properties": {"rows": {"type": "array", "minItems": 1,
                                           "maxItems": values.max_rows,
                                           "items": {"oneOf": [by_name, in_order]}}}},
        "example": json.loads(values.example()),
    }}}}
    if values.class_names is not None:
        item = {"type": "object", "required": ["label", "probabilities"], "properties": {
            "label": {"type": "string", "enum": values.class_names},
            "probabilities": {"type": "object", "description": "one per class, in the "
                              "model's class order",
                              "properties": {c: number for c in values.class_names}}}}
    elif values.net.n_outputs == 1:
        item = {**number, "description": f"{values.target}, in raw units"}
    else:
        item = {"type": "array", "items": number, "description": ", ".join(values.outputs())}
    answer = {"type": "object", "required": ["target", "predictions", "elapsed_ms"],
              "properties": {"target": {"type": "string", "enum": [values.target]},
                             "predictions": {"type": "array", "items": item,
                                             "description": "one per row, in order"},
                             "elapsed_ms": number}}
    return request, answer


def create_values_app(model: Network | str | os.PathLike, max_upload_bytes: int = 10_000_000,
                      max_rows: int = DEFAULT_MAX_ROWS, *, workers: int | None = None,
                      upload_timeout: float = 60.0, source: str | None = None) -> FastAPI:
    """Build the web app around a model of table values (a regressor or classifier).

    Routes::

        GET  /                 a page: one number field per input, Predict, the answer
        POST /api/predict      JSON {"rows": [{"sleep": 8, "study": 3}, [5, 1], ...]}
                               → {"target", "predictions": [...], "elapsed_ms"}
        GET  /api/model        the model card (features, target, task, scaling, limits)
        GET  /healthz, /openapi.json, /docs

    Parameters
    ----------
    model : Network or path
        A model without image preprocessing, e.g. ``neurallab train``'s, or the
        ``.safetensors`` file holding one.
    max_upload_bytes : int
        The most bytes one request's body may have (more: 413, connection closed).
    max_rows : int
        The most rows one request may carry (more: 413).
    workers : int, optional
        Requests computed at the same time (default: CPU count, at least 2); twice as
        many bodies are held in memory at once.
    upload_timeout : float
        Seconds a body may take to arrive (slower: 408, connection closed).
    source : str, optional
        Where the model came from, for the card (default: the path given, if any).

    Returns
    -------
    fastapi.FastAPI
    """
    _check_limits(max_upload_bytes=max_upload_bytes, max_rows=max_rows,
                  upload_timeout=upload_timeout)
    if isinstance(model, (str, os.PathLike)):
        net, source = load(model), os.fspath(model) if source is None else source
    elif isinstance(model, Network):
        net = model
    else:
        raise InputError(f"model must be a Network or a path to a .safetensors model; got "
                         f"{type(model).__name__}")
    values = ValuesModel(net, source=source or "", max_rows=max_rows)
    card = {**values.card(), "limits": {"max_rows": max_rows,
                                        "max_upload_bytes": max_upload_bytes}}
    app = _base_app(f"Give the model {', '.join(values.features)}; it answers "
                    f"{values.target}.", card, "values.html",
                    "Architecture, features, target, task, class names, training rows, "
                    "scaling, limits.", workers)
    app.state.values = values
    request_schema, answer_schema = _values_schemas(values)

    @app.post(
        "/api/predict",
        summary=f"Predict {values.target} from rows of {', '.join(values.features)}",
        openapi_extra=request_schema,
        response_model=None,
        responses={
            200: {"description": "one prediction per row, in raw units",
                  "content": {"application/json": {"schema": answer_schema}}},
            400: {"model": ErrorAnswer, "description": "not JSON, or the body was cut off"},
            408: {"model": ErrorAnswer, "description": "the body took too long to arrive"},
            413: {"model": ErrorAnswer, "description": "body too large, or too many rows"},
            415: {"model": ErrorAnswer, "description": "not application/json"},
            422: {"model": ErrorAnswer, "description": "a row is wrong: the message names "
                  "it and the feature (missing, unknown, not a number, not finite)"},
        },
    )
    async def predict(request: Request) -> JSONResponse:
        """Predict one answer per row, in raw units: the scalers stored in the model are
        applied exactly as ``neurallab predict`` applies them.

        A row is an object of the model's feature names, or a list of values in the
        model's feature order. A regressor answers a number per row; a classifier
        ``{"label", "probabilities": {class: p}}``.
        """
        t0 = time.perf_counter()
        async with app.state.upload_slots:
            body = await read_json_body(request, max_upload_bytes, timeout=upload_timeout)
            answer = await anyio.to_thread.run_sync(values.answer, body,
                                                    limiter=app.state.limiter)
        return JSONResponse({**answer, "elapsed_ms": 1e3 * (time.perf_counter() - t0)})

    return app
