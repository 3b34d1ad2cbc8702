"""IDX files: exact bytes, round trips, and a clear error for every malformed header."""

from __future__ import annotations

import gzip
import struct
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from neurallab.datasets import read_idx, write_idx
from neurallab.errors import DatasetFileError, InputError, InputTypeError

DEBIAN = Path("/usr/share/datasets/fashion-mnist")


def _raw(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_reads_hand_made_int32_file(tmp_path):
    # type 0x0C (int32), 2 dimensions 2 x 3, big-endian values 1..6 and -7
    values = [1, 2, 3, 4, 5, -7]
    data = bytes([0, 0, 0x0C, 2]) + struct.pack(">II", 2, 3) + struct.pack(">6i", *values)
    arr = read_idx(_raw(tmp_path / "a.idx", data))
    assert arr.dtype == np.int32 and arr.dtype.isnative
    assert arr.tolist() == [[1, 2, 3], [4, 5, -7]]
    assert arr.flags.writeable and arr.flags.c_contiguous


def test_writes_exact_header_bytes(tmp_path):
    write_idx(tmp_path / "b.idx", np.array([[1, 2]], dtype=np.uint8))
    assert (tmp_path / "b.idx").read_bytes() == bytes([0, 0, 8, 2, 0, 0, 0, 1, 0, 0, 0, 2, 1, 2])


@given(arr=hnp.arrays(
    dtype=st.sampled_from([np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]),
    shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5)),
    gz=st.booleans())
def test_round_trip_every_dtype(tmp_path_factory, arr, gz):
    path = tmp_path_factory.mktemp("idx") / ("x.idx.gz" if gz else "x.idx")
    write_idx(path, arr)
    back = read_idx(path)
    assert back.shape == arr.shape and back.dtype == arr.dtype
    np.testing.assert_array_equal(back, arr)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == gz


def test_compression_is_recognised_by_content_not_name(tmp_path):
    arr = np.arange(12, dtype=np.uint8).reshape(3, 4)
    write_idx(tmp_path / "x.gz", arr)
    (tmp_path / "x.gz").rename(tmp_path / "plain-name")
    np.testing.assert_array_equal(read_idx(tmp_path / "plain-name"), arr)


def test_multi_member_gzip(tmp_path):
    payload = bytes([0, 0, 8, 1]) + struct.pack(">I", 6) + bytes(range(6))
    data = gzip.compress(payload[:7]) + gzip.compress(payload[7:])
    np.testing.assert_array_equal(read_idx(_raw(tmp_path / "m.gz", data)), np.arange(6))


@pytest.mark.parametrize("data, message", [
    (b"\x01\x02\x08\x01\x00\x00\x00\x01\x05", "is not an IDX file: it starts with bytes 01020801"),
    (b"\x00\x00\x07\x01\x00\x00\x00\x01\x05", "unknown IDX type code 0x07"),
    (b"\x00\x00\x08\x00", "declares 0 dimensions"),
    (b"\x00\x00", "too short (2 bytes) to hold an IDX header"),
    (b"\x00\x00\x08\x02\x00\x00\x00\x02", "too short (8 bytes)"),
    (bytes([0, 0, 8, 1, 0, 0, 0, 5, 1, 2, 3]),
     "is truncated: its header declares shape (5,) of uint8 = 5 bytes of data, but the "
     "file holds 3"),
    (bytes([0, 0, 8, 1, 0, 0, 0, 2, 1, 2, 3]), "has 1 byte(s) after the 2 bytes of data"),
    (bytes([0, 0, 0x0C, 1, 0, 0, 0, 2]) + b"\x00" * 7, "shape (2,) of int32 = 8 bytes"),
])
def test_raw_header_errors(tmp_path, data, message):
    path = _raw(tmp_path / "bad.idx", data)
    with pytest.raises(DatasetFileError, match="bad.idx") as err:
        read_idx(path)
    assert message in str(err.value)


@pytest.mark.parametrize("data, message", [
    (bytes([0, 0, 8, 1, 0, 0, 0, 5, 1, 2, 3]), "is truncated"),
    (bytes([0, 0, 8, 1, 0, 0, 0, 2, 1, 2, 3]), "has 1 byte(s) after the 2 bytes of data"),
    (bytes([9, 9, 8, 1, 0, 0, 0, 1, 5]), "is not an IDX file"),
    (bytes([0, 0, 8]), "too short to hold an IDX header"),
    # 4 GiB declared in a few bytes: refused before allocating anything
    (bytes([0, 0, 8, 2, 0, 1, 0, 0, 0, 1, 0, 0]),
     "declares shape (65536, 65536) = 4,294,967,296 bytes, more than 29 compressed bytes"),
])
def test_gzip_content_errors(tmp_path, data, message):
    path = _raw(tmp_path / "bad.gz", gzip.compress(data, mtime=0))
    with pytest.raises(DatasetFileError) as err:
        read_idx(path)
    assert message in str(err.value)


def test_truncated_gzip_stream(tmp_path):
    data = gzip.compress(bytes([0, 0, 8, 1, 0, 0, 3, 232]) + bytes(1000))
    path = _raw(tmp_path / "t.gz", data[: len(data) // 2])
    with pytest.raises(DatasetFileError, match="gzip stream ends early"):
        read_idx(path)


def test_corrupt_gzip_data(tmp_path):
    data = bytearray(gzip.compress(bytes([0, 0, 8, 1, 0, 0, 3, 232]) + bytes(range(250)) * 4))
    data[-6] ^= 0xFF  # inside the CRC-32 / length trailer
    with pytest.raises(DatasetFileError, match="gzip data is corrupt"):
        read_idx(_raw(tmp_path / "c.gz", bytes(data)))


def test_garbage_after_gzip_data(tmp_path):
    data = gzip.compress(bytes([0, 0, 8, 1, 0, 0, 0, 1, 7])) + b"junk"
    with pytest.raises(DatasetFileError, match="4 bytes that are not gzip data"):
        read_idx(_raw(tmp_path / "g.gz", data))


def test_gzip_bomb_behind_a_small_header_stays_small(tmp_path):
    # 12 bytes declared, 64 MiB of zeros behind them: refused after one bounded piece
    data = gzip.compress(bytes([0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 2])
                         + bytes(64 << 20), compresslevel=9)
    assert len(data) < 100_000
    path = _raw(tmp_path / "bomb.gz", data)
    tracemalloc.start()
    try:
        with pytest.raises(DatasetFileError, match="after the 12 bytes of data"):
            read_idx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20, f"peak {peak:,} bytes"


@pytest.mark.parametrize("shape", [(65536,) * 4, (65536,) * 4 + (1,),
                                   (0, 2**32 - 1, 2**32 - 1, 2**32 - 1)])
@pytest.mark.parametrize("gz", [False, True])
def test_shape_beyond_any_array_is_a_dataset_error(tmp_path, shape, gz):
    data = bytes([0, 0, 8, len(shape)]) + struct.pack(f">{len(shape)}I", *shape)
    path = _raw(tmp_path / "o.idx", gzip.compress(data) if gz else data)
    with pytest.raises(DatasetFileError, match="o.idx") as err:
        read_idx(path)
    assert "holds" in str(err.value) or "hold" in str(err.value)


def test_missing_file():
    with pytest.raises(FileNotFoundError):
        read_idx("/nonexistent/train-images-idx3-ubyte.gz")


def test_write_refuses_what_idx_cannot_store(tmp_path):
    with pytest.raises(InputTypeError, match="dtype int64, which IDX cannot store"):
        write_idx(tmp_path / "x.idx", np.arange(3, dtype=np.int64))
    with pytest.raises(InputError, match="1 to 255 dimensions"):
        write_idx(tmp_path / "x.idx", np.uint8(3))


@pytest.mark.skipif(not DEBIAN.is_dir(), reason="Debian's dataset-fashion-mnist not installed")
def test_matches_a_bare_gzip_frombuffer_read_of_the_debian_file():
    path = DEBIAN / "t10k-images-idx3-ubyte.gz"
    bare = np.frombuffer(gzip.decompress(path.read_bytes()), np.uint8, offset=16)
    arr = read_idx(path)
    assert arr.shape == (10000, 28, 28)
    np.testing.assert_array_equal(arr.reshape(-1), bare)
