"""Reading uploaded files into memory, with a hard cap, never onto disk.

Why not Starlette's ``request.form()``: it spools any file over 1 MB to a temporary
file on disk, and it learns how big the body is only after reading it. Here the body is
streamed through python-multipart's parser chunk by chunk while the bytes are counted,
so a request is refused the moment it passes the limit, whatever its
``Content-Length`` header claimed (or when it has none: chunked uploads). The header is
checked first as well, so an honest client sending too much is refused before a single
byte is read.

Everything stays in memory: at most ``max_bytes`` per request (the app also caps how
many requests are read at once, so the server as a whole holds a bounded amount), and
a body that does not arrive within ``timeout`` seconds is refused (408), so a stalled
client cannot hold its share of that memory for ever.

:func:`read_json_body` reads the JSON rows the values app takes with the same cap,
count and timeout (:func:`_read_body` does the reading for both).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import anyio
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, MultipartState, parse_options_header
from starlette.requests import ClientDisconnect, Request

__all__ = ["Upload", "UploadError", "read_uploads", "read_json_body", "FIELD_NAME"]

#: the multipart field that carries the files
FIELD_NAME = "files"


class UploadError(Exception):
    """A request the server refuses as a whole; becomes a JSON error response.

    Attributes
    ----------
    status : int
        The HTTP status (413, 415, 422, 400).
    code : str
        A short machine-readable name (``payload_too_large``, ``too_many_files``, ...).
    message : str
        Plain words for a person: what is wrong and what to do.
    """

    def __init__(self, status: int, code: str, message: str, *, body_unread: bool = False):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        #: the rest of the body was not read: the connection is closed after the answer
        self.body_unread = body_unread


@dataclass
class Upload:
    """One uploaded file, held in memory."""

    filename: str
    content_type: str
    data: bytearray = field(default_factory=bytearray)


def _megabytes(n: int) -> str:
    return f"{n / 1_000_000:g} MB"


#: what to do about a body that is too large, and one that is too slow, per kind of body
_REMEDIES = {
    "images": ("Send smaller images, or fewer images at a time.",
               "Send smaller images, or try again on a faster connection."),
    "rows": ("Send fewer rows at a time.",
             "Send fewer rows at a time, or try again on a faster connection."),
}


def too_large(max_bytes: int, what: str = "images") -> UploadError:
    return UploadError(
        413, "payload_too_large",
        f"The upload is larger than the server's limit of {_megabytes(max_bytes)} per "
        f"request. {_REMEDIES[what][0]}", body_unread=True,
    )


def too_many_files(max_files: int) -> UploadError:
    return UploadError(
        413, "too_many_files",
        f"Too many files in one request: at most {max_files} are accepted. "
        "Send the rest in another request.", body_unread=True,
    )


def too_slow(timeout: float, what: str = "images") -> UploadError:
    return UploadError(
        408, "upload_timeout",
        f"The upload did not arrive within {timeout:g} second{'' if timeout == 1 else 's'}. "
        f"{_REMEDIES[what][1]}",
        body_unread=True,
    )


class _Collector:
    """python-multipart callbacks that gather the ``files`` parts into :class:`Upload`s."""

    def __init__(self, max_files: int):
        self.max_files = max_files
        self.uploads: list[Upload] = []
        self.n_other_fields = 0
        self._header_name = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        self._current: Upload | None = None

    def on_part_begin(self) -> None:
        self._headers = {}
        self._current = None

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[self._header_name.lower()] = self._header_value
        self._header_name = self._header_value = b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        if name != FIELD_NAME:
            self.n_other_fields += 1
            return
        if len(self.uploads) >= self.max_files:
            raise too_many_files(self.max_files)
        filename = options.get(b"filename", b"").decode("utf-8", "replace")
        content_type = self._headers.get(b"content-type", b"").decode("latin-1")
        self._current = Upload(filename or f"file {len(self.uploads) + 1}", content_type)
        self.uploads.append(self._current)

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._current is not None:
            self._current.data += data[start:end]

    def on_part_end(self) -> None:
        self._current = None

    def callbacks(self) -> dict:
        return {name: getattr(self, name) for name in (
            "on_part_begin", "on_header_field", "on_header_value", "on_header_end",
            "on_headers_finished", "on_part_data", "on_part_end")}


def _bad_multipart(exc: Exception, body_unread: bool) -> UploadError:
    return UploadError(400, "bad_multipart",
                       f"The upload's multipart framing is broken ({exc}); send it again.",
                       body_unread=body_unread)


async def _read_body(request: Request, max_bytes: int, timeout: float | None, write,
                     what: str) -> None:
    """Feed the request body to ``write`` chunk by chunk, refusing it past ``max_bytes``.

    The declared ``Content-Length`` is checked first (an honest client sending too
    much is refused before a byte is read), then the bytes are counted as they arrive,
    whatever the header said (or when there is none: chunked bodies). ``what``
    (``"images"`` or ``"rows"``) chooses the advice in the error messages; an error
    ``write`` raises passes through unchanged.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise too_large(max_bytes, what)
    received = 0
    try:
        with anyio.fail_after(timeout):
            async for chunk in request.stream():
                received += len(chunk)
                if received > max_bytes:  # counted, whatever the header said
                    raise too_large(max_bytes, what)
                write(chunk)
    except TimeoutError:
        raise too_slow(timeout, what) from None
    except ClientDisconnect:
        raise UploadError(400, "disconnected", "The upload was interrupted.") from None


async def read_uploads(request: Request, max_bytes: int, max_files: int,
                       timeout: float | None = None) -> list[Upload]:
    """Read the ``files`` parts of a multipart request into memory.

    Parameters
    ----------
    request : starlette.requests.Request
        A ``multipart/form-data`` POST.
    max_bytes : int
        The most bytes the whole body may have (all files plus the multipart framing).
    max_files : int
        The most ``files`` parts accepted.
    timeout : float, optional
        Seconds the whole body may take to arrive (``None``: no limit).

    Returns
    -------
    list of Upload
        In the order they were sent; at least one.

    Raises
    ------
    UploadError
        413 when the body passes ``max_bytes`` (by its header, or counted while reading)
        or has more than ``max_files`` files; 415 when it is not multipart; 422 when it
        has no ``files`` part; 400 when the multipart framing is broken or the body ends
        before its closing boundary; 408 when it takes longer than ``timeout``.
    """
    content_type, params = parse_options_header(request.headers.get("content-type"))
    if content_type != b"multipart/form-data" or b"boundary" not in params:
        raise UploadError(
            415, "not_multipart",
            "Send the images as multipart/form-data, one or more parts named "
            f"'{FIELD_NAME}' (an HTML form with <input type=file name={FIELD_NAME}>, or "
            f"curl -F {FIELD_NAME}=@image.png).", body_unread=True,
        )
    collector = _Collector(max_files)
    parser = MultipartParser(params[b"boundary"], collector.callbacks())
    try:
        await _read_body(request, max_bytes, timeout, parser.write, "images")
    except MultipartParseError as exc:  # the rest of the body was not read
        raise _bad_multipart(exc, body_unread=True) from None
    try:
        parser.finalize()
        if parser.state != MultipartState.END:  # finalize() does not check this itself
            raise MultipartParseError("the body ends before the closing boundary")
    except MultipartParseError as exc:
        raise _bad_multipart(exc, body_unread=False) from None

    if not collector.uploads:
        extra = (f" (the request had {collector.n_other_fields} part(s) with other names)"
                 if collector.n_other_fields else "")
        raise UploadError(
            422, "no_files",
            f"No files were uploaded{extra}. Attach one or more images in parts named "
            f"'{FIELD_NAME}'.",
        )
    return collector.uploads


async def read_json_body(request: Request, max_bytes: int,
                         timeout: float | None = None) -> bytearray:
    """Read an ``application/json`` request body into memory, with the same cap.

    Parameters
    ----------
    request : starlette.requests.Request
    max_bytes : int
        The most bytes the body may have.
    timeout : float, optional
        Seconds the whole body may take to arrive (``None``: no limit).

    Returns
    -------
    bytearray
        The body, not yet parsed (the caller knows what it should hold).

    Raises
    ------
    UploadError
        415 when the content type is not JSON; 413, 408 and 400 as for
        :func:`read_uploads`.
    """
    content_type, _ = parse_options_header(request.headers.get("content-type"))
    if content_type != b"application/json":
        shown = content_type.decode("latin-1") or "none"
        raise UploadError(
            415, "not_json",
            f"Send the rows as JSON with the header Content-Type: application/json (this "
            f"request's content type is {shown}), e.g. curl -H 'Content-Type: "
            """application/json' -d '{"rows": [[8, 3]]}'.""", body_unread=True,
        )
    body = bytearray()
    await _read_body(request, max_bytes, timeout, body.extend, "rows")
    return body
