"""IDX files: the format of MNIST and Fashion-MNIST, read with the header checked.

An IDX file is a 4-byte magic number, one big-endian ``uint32`` per dimension, then
the data in C order, big-endian::

    bytes 0-1   0x00 0x00
    byte  2     type code: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
                0x0D float32, 0x0E float64
    byte  3     number of dimensions d
    then        d × uint32 sizes (big-endian)
    then        prod(sizes) × itemsize bytes of data

Every field is checked before anything large is allocated, and the data length must
agree with the header exactly: a truncated download or a file with trailing bytes is
refused with a message that says which, rather than silently reshaped into nonsense.

``.gz`` files (recognised by their content, not their name) are decompressed
straight into the preallocated result in pieces of at most 256 KiB of input and
256 KiB of output: one output array, no intermediate copy of the whole
decompressed file, and a writeable result (unlike ``np.frombuffer`` on the
``bytes`` that ``gzip.decompress`` returns). Small pieces also keep each freshly
decompressed piece in the CPU cache while it is copied, which makes this slightly
faster than one ``gzip.decompress`` call (``benchmarks/bench_images_fashion_load.py``).
Because every piece is bounded, a small ``.gz`` that declares a small shape but
decompresses to gigabytes is refused after at most one piece beyond the declared
size: memory stays near the declared size, never near the decompressed one.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import sys
import zlib
from pathlib import Path

import numpy as np

from ..errors import DatasetFileError, InputError, InputTypeError
from ..io import atomic_write_bytes

__all__ = ["read_idx", "write_idx", "IDX_DTYPES"]

#: IDX type code → NumPy dtype (big-endian, as stored)
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODE_OF = {dt.newbyteorder("=").str if dt.itemsize > 1 else dt.str: code
            for code, dt in IDX_DTYPES.items()}
_GZIP_MAGIC = b"\x1f\x8b"
#: input bytes per decompression step (see the module docstring)
_CHUNK = 1 << 18
#: most output bytes per decompression step (bounds memory whatever the data)
_OUT_CHUNK = 1 << 18
#: DEFLATE cannot expand data by more than about 1032:1, so a header declaring more
#: than this many times the compressed size is a lie caught before allocating
_MAX_DEFLATE_RATIO = 1032


def _parse_header(path, head: bytes, *, need_more: bool = False):
    """Return ``(dtype, shape, header_length)``, or ``None`` if ``head`` is too short."""
    if len(head) < 4:
        return None
    if head[0] != 0 or head[1] != 0:
        raise DatasetFileError(
            f"{path} is not an IDX file: it starts with bytes {head[:4].hex()}, but an IDX "
            "file starts with two zero bytes, a type code and the number of dimensions. "
            "Pass an MNIST-format file such as train-images-idx3-ubyte(.gz)."
        )
    code, ndim = head[2], head[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise DatasetFileError(
            f"{path}: unknown IDX type code 0x{code:02X} (known: {known}); the file is "
            "corrupt or not an IDX file"
        )
    if ndim == 0:
        raise DatasetFileError(f"{path}: the IDX header declares 0 dimensions; the file "
                               "is corrupt or not an IDX file")
    header_len = 4 + 4 * ndim
    if len(head) < header_len:
        return None
    shape = tuple(int(s) for s in struct.unpack(f">{ndim}I", head[4:header_len]))
    dtype = IDX_DTYPES[code]
    # Python integers: a product like 65536**4 must not wrap around in int64; NumPy
    # also refuses any shape whose non-zero sizes multiply beyond its index range
    span = math.prod(s for s in shape if s) * dtype.itemsize
    if span > sys.maxsize:
        raise DatasetFileError(
            f"{path}: the IDX header declares shape {shape} of {dtype.name}, whose sizes "
            f"multiply to {span:,} bytes, more than any array can hold; the file is "
            "corrupt or not an IDX file"
        )
    return dtype, shape, header_len


def _declared_bytes(dtype: np.dtype, shape: tuple) -> int:
    """Bytes of data the header declares (Python integers: no overflow)."""
    return math.prod(shape) * dtype.itemsize


def _size_error(path, shape, dtype, declared: int, actual: int, what: str) -> DatasetFileError:
    if actual < declared:
        problem = (f"is truncated: its header declares shape {shape} of {dtype.name} = "
                   f"{declared:,} bytes of data, but {what} {actual:,}")
        fix = "download or copy the file again"
    else:
        problem = (f"has {actual - declared:,} byte(s) after the {declared:,} bytes of data its "
                   f"header declares (shape {shape} of {dtype.name})")
        fix = "the file is corrupt or not an IDX file"
    return DatasetFileError(f"{path} {problem}; {fix}")


def _to_native(out: np.ndarray) -> np.ndarray:
    """Byte-swap a big-endian array in place and view it as native (no copy)."""
    if out.dtype.itemsize > 1 and out.dtype.byteorder not in ("=", "|"):
        out.byteswap(inplace=True)
        out = out.view(out.dtype.newbyteorder("="))
    return out


def read_idx(path) -> np.ndarray:
    """Read an IDX file (raw or gzip-compressed) into a NumPy array.

    Parameters
    ----------
    path : str or os.PathLike
        An IDX file, e.g. ``train-images-idx3-ubyte`` or ``train-images-idx3-ubyte.gz``.
        Compression is recognised from the content (gzip magic bytes), not the name.

    Returns
    -------
    ndarray, shape as declared in the header
        Native byte order, writeable, C-contiguous; ``uint8`` for MNIST images
        ``(n, 28, 28)`` and labels ``(n,)``.

    Raises
    ------
    DatasetFileError
        Bad magic bytes, unknown type code, zero dimensions, a data length that
        disagrees with the header (truncated file or trailing bytes), or a corrupt
        gzip stream. The message names the file and the problem.
    FileNotFoundError
        The file does not exist.
    """
    path = Path(os.fspath(path))
    with open(path, "rb") as f:
        start = f.read(2)
        if start == _GZIP_MAGIC:
            f.seek(0)
            return _read_gzip(path, f.read())
        head = start + f.read(4 + 4 * 255 - 2)
        parsed = _parse_header(path, head)
        if parsed is None:
            raise DatasetFileError(
                f"{path} is too short ({len(head)} bytes) to hold an IDX header; the file "
                "is truncated or not an IDX file"
            )
        dtype, shape, header_len = parsed
        declared = _declared_bytes(dtype, shape)
        actual = os.fstat(f.fileno()).st_size - header_len
        if actual != declared:
            raise _size_error(path, shape, dtype, declared, actual, "the file holds")
        out = np.empty(shape, dtype=dtype)
        f.seek(header_len)
        n = f.readinto(memoryview(out).cast("B")) if declared else 0
        if n != declared:  # the file shrank while being read
            raise _size_error(path, shape, dtype, declared, n, "only")
    return _to_native(out)


def _gunzip_pieces(path, compressed: bytes):
    """Yield the decompressed data of every gzip member, in bounded pieces.

    Each step feeds at most ``_CHUNK`` input bytes and takes at most ``_OUT_CHUNK``
    output bytes (``max_length``), so a consumer that stops early (more data than
    declared) has used no more than one piece of memory beyond what it kept.

    Raises
    ------
    DatasetFileError
        A truncated stream, non-gzip bytes after it, or corrupt data.
    """
    data = memoryview(compressed)
    start = 0
    try:
        while start < len(data):
            if data[start:start + 2] != _GZIP_MAGIC:
                raise DatasetFileError(
                    f"{path} has {len(data) - start:,} bytes that are not gzip data after "
                    "the compressed data; the file is corrupt"
                )
            decomp = zlib.decompressobj(wbits=31)
            pos = start
            while not decomp.eof:
                if decomp.unconsumed_tail:
                    feed = decomp.unconsumed_tail
                else:
                    feed = data[pos:pos + _CHUNK]
                    pos += len(feed)
                piece = decomp.decompress(feed, _OUT_CHUNK)
                if piece:
                    yield piece
                elif not feed:  # no input left, no output pending
                    break
            if not decomp.eof:
                raise DatasetFileError(
                    f"{path}: the gzip stream ends early (the file is truncated); download "
                    "or copy the file again"
                )
            start = pos - len(decomp.unused_data)
    except zlib.error as exc:
        raise DatasetFileError(
            f"{path}: the gzip data is corrupt ({exc}); download or copy the file again"
        ) from None


def _read_gzip(path: Path, compressed: bytes) -> np.ndarray:
    """Decompress ``compressed`` straight into a preallocated array, checking the header."""
    head = bytearray()
    out = view = None
    filled = declared = 0
    for piece in _gunzip_pieces(path, compressed):
        if out is None:
            head += piece
            parsed = _parse_header(path, bytes(head))
            if parsed is None:
                continue
            dtype, shape, header_len = parsed
            declared = _declared_bytes(dtype, shape)
            if declared > _MAX_DEFLATE_RATIO * len(compressed) + 4096:
                raise DatasetFileError(
                    f"{path}: the IDX header declares shape {shape} = {declared:,} bytes, "
                    f"more than {len(compressed):,} compressed bytes can hold; the file "
                    "is corrupt"
                )
            out = np.empty(shape, dtype=dtype)
            view = memoryview(out).cast("B") if declared else memoryview(bytearray())
            piece = bytes(head[header_len:])
        n = len(piece)
        if filled + n > declared:
            raise _size_error(path, shape, dtype, declared, filled + n, "decompressed it "
                              "holds at least")
        view[filled:filled + n] = piece
        filled += n
    if out is None:
        raise DatasetFileError(
            f"{path}: the decompressed data ({len(head)} bytes) is too short to hold an IDX "
            "header; the file is truncated or not an IDX file"
        )
    if filled != declared:
        raise _size_error(path, shape, dtype, declared, filled, "decompressed it holds")
    return _to_native(out)


def write_idx(path, array) -> None:
    """Write ``array`` as an IDX file (gzip-compressed when ``path`` ends in ``.gz``).

    Parameters
    ----------
    path : str or os.PathLike
        Written atomically (temporary file, then rename).
    array : array-like
        At least one dimension, each below 2**32; dtype uint8, int8, int16, int32,
        float32 or float64.

    Raises
    ------
    InputTypeError
        The dtype has no IDX type code.
    InputError
        A 0-d array or a dimension that does not fit in 32 bits.
    """
    arr = np.asarray(array)
    key = arr.dtype.newbyteorder("=").str if arr.dtype.itemsize > 1 else arr.dtype.str
    if key not in _CODE_OF:
        raise InputTypeError(
            f"array has dtype {arr.dtype}, which IDX cannot store; convert it to one of "
            "uint8, int8, int16, int32, float32, float64"
        )
    if arr.ndim == 0 or arr.ndim > 255 or any(s >= 2**32 for s in arr.shape):
        raise InputError(f"array has shape {arr.shape}; IDX needs 1 to 255 dimensions, "
                         "each below 2**32")
    header = bytes([0, 0, _CODE_OF[key], arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    payload = header + np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder(">")).tobytes()
    if str(path).endswith(".gz"):
        payload = gzip.compress(payload, compresslevel=9, mtime=0)
    atomic_write_bytes(path, payload)
