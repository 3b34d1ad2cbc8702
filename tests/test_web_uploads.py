"""The in-memory multipart reader: any chunking, any contents, the byte cap exact."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.requests import Request

from neurallab.web.uploads import UploadError, read_uploads

BOUNDARY = "----nl-boundary-7MA4YWxk"


def body_of(files: list[tuple[str, bytes]], extra_field: bool = False) -> bytes:
    parts = []
    if extra_field:
        parts.append(f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="note"\r\n\r\n'
                     "hello\r\n".encode())
    for name, data in files:
        parts.append(f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; '
                     f'filename="{name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
                     .encode() + data + b"\r\n")
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def read(body: bytes, chunk: int, max_bytes: int, max_files: int = 16, headers=None,
         timeout: float | None = None, pause: float = 0.0):
    chunks = [body[i:i + chunk] for i in range(0, len(body), chunk)] or [b""]
    it = iter(range(len(chunks)))

    async def receive():
        await asyncio.sleep(pause)  # a slow client
        i = next(it, None)
        if i is None:
            return {"type": "http.disconnect"}
        return {"type": "http.request", "body": chunks[i], "more_body": i < len(chunks) - 1}

    hdrs = {"content-type": f"multipart/form-data; boundary={BOUNDARY}", **(headers or {})}
    scope = {"type": "http", "method": "POST", "path": "/", "query_string": b"",
             "headers": [(k.encode(), v.encode()) for k, v in hdrs.items()]}
    return asyncio.run(read_uploads(Request(scope, receive), max_bytes, max_files,
                                    timeout=timeout))


names = st.text(st.characters(min_codepoint=48, max_codepoint=122,
                              exclude_characters='"\\'), min_size=1, max_size=12)
contents = st.binary(min_size=1, max_size=3000)


@settings(max_examples=60, deadline=None)
@given(files=st.lists(st.tuples(names, contents), min_size=1, max_size=5),
       chunk=st.integers(1, 4096), extra=st.booleans())
def test_files_come_back_byte_for_byte_whatever_the_chunking(files, chunk, extra):
    body = body_of(files, extra_field=extra)
    uploads = read(body, chunk, max_bytes=len(body))  # exactly at the limit: accepted
    assert [(u.filename, bytes(u.data)) for u in uploads] == files
    assert all(u.content_type == "application/octet-stream" for u in uploads)


@settings(max_examples=40, deadline=None)
@given(files=st.lists(st.tuples(names, contents), min_size=1, max_size=5),
       chunk=st.integers(1, 4096), short=st.integers(1, 500))
def test_one_byte_over_the_cap_is_refused(files, chunk, short):
    body = body_of(files)
    with pytest.raises(UploadError) as err:
        read(body, chunk, max_bytes=max(len(body) - short, 1))
    assert (err.value.status, err.value.code) == (413, "payload_too_large")


@given(n=st.integers(1, 8), max_files=st.integers(1, 8))
def test_file_count_limit(n, max_files):
    body = body_of([(f"{i}.png", b"x") for i in range(n)])
    if n <= max_files:
        assert len(read(body, 512, 10_000, max_files)) == n
    else:
        with pytest.raises(UploadError, match=f"at most {max_files} are accepted") as err:
            read(body, 512, 10_000, max_files)
        assert err.value.status == 413


def test_a_body_that_stops_before_its_closing_boundary_is_400():
    body = body_of([("a.png", b"PNGDATA")])
    cut = body[: body.index(f"--{BOUNDARY}--".encode())]
    with pytest.raises(UploadError, match=r"the body ends before the closing boundary") as err:
        read(cut, 64, 10_000)
    assert (err.value.status, err.value.code) == (400, "bad_multipart")


def test_a_stalled_upload_is_refused_after_the_timeout():
    body = body_of([("a.png", b"x" * 2000)])
    with pytest.raises(UploadError, match=r"did not arrive within 0.2 seconds") as err:
        read(body, 100, 10_000, timeout=0.2, pause=0.05)   # 21 chunks, 50 ms apart
    assert (err.value.status, err.value.code, err.value.body_unread) == \
        (408, "upload_timeout", True)
    assert len(read(body, 1000, 10_000, timeout=5, pause=0.01)) == 1  # in time: read


def test_the_timeout_message_says_one_second_in_the_singular():
    from neurallab.web.uploads import too_slow

    assert "within 1 second. " in str(too_slow(1))
    assert "within 2.5 seconds. " in str(too_slow(2.5))


def test_unnamed_file_gets_a_name_for_messages():
    body = body_of([("", b"abc")]).replace(b'; filename=""', b"")
    (upload,) = read(body, 64, 10_000)
    assert (upload.filename, bytes(upload.data)) == ("file 1", b"abc")


def test_missing_boundary_is_415():
    with pytest.raises(UploadError, match="Send the images as multipart/form-data") as err:
        read(b"", 10, 100, headers={"content-type": "multipart/form-data"})
    assert err.value.status == 415
