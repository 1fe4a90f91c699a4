"""fo.load on untrusted files: crafted zip, .npy and JSON, random damage, and bounded memory.

Every file either loads to exactly what was saved or raises ValueError naming the path (and the
member), never another exception, and checks sizes before it allocates: see
functional_optim/checkpoint_archive.py and ``fo.load``'s docstring.
"""

from __future__ import annotations

import io
import json
import re
import struct
import tracemalloc
import zipfile
import zlib

import jax.numpy as jnp
import numpy as np
import pytest

import functional_optim as fo
from tests.test_checkpoint import (
    SMALL,
    assert_identical,
    assert_refused,
    npy_bytes,
    read_members,
    set_array_field,
    with_structure,
)


def _zip(entries) -> bytes:
    """A zip archive written field by field, so that a test can set any of them. Each entry is a
    dict: ``name``, ``data`` (the bytes as stored), and optionally ``method``, ``flags``, ``crc``
    and ``size`` (the declared uncompressed size)."""
    local, central = bytearray(), bytearray()
    for entry in entries:
        name, data = entry["name"].encode(), entry["data"]
        crc, size = entry.get("crc", zlib.crc32(data)), entry.get("size", len(data))
        fields = struct.pack(
            "<HHHHHIII", 20, entry.get("flags", 0), entry.get("method", 0), 0, 0x21, crc, len(data), size
        )
        central += (
            b"PK\x01\x02"
            + struct.pack("<H", 20)
            + fields
            + struct.pack("<HHHHHII", len(name), 0, 0, 0, 0, 0, len(local))
        )
        central += name
        local += b"PK\x03\x04" + fields + struct.pack("<HH", len(name), 0) + name + data
    count = len(entries)
    return bytes(
        local + central + b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, count, count, len(central), len(local), 0)
    )


def _entries(path, **changes):
    """The members of the checkpoint at ``path`` as :func:`_zip` entries; ``changes`` updates
    (a dict) or adds (a dict with ``data``) the entry of a member name (``array_1`` for ``array_1.npy``)."""
    entries = {name: {"name": name, "data": data} for name, data in read_members(path).items()}
    for key, change in changes.items():
        entries.setdefault(f"{key}.npy", {"name": f"{key}.npy"}).update(change)
    return list(entries.values())


def _deflated_zeros(prefix: bytes, mebibytes: int) -> tuple[bytes, int]:
    """A raw deflate stream of ``prefix`` then ``mebibytes`` MiB of zeros (about 1 KiB a MiB), and
    its CRC-32, made without ever holding the zeros: a MiB block compressed after a full flush
    decompresses the same wherever it is repeated."""
    compressor, zeros = zlib.compressobj(9, zlib.DEFLATED, -15), bytes(1 << 20)
    head = compressor.compress(prefix) + compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    crc = zlib.crc32(prefix)
    for _ in range(mebibytes):
        crc = zlib.crc32(zeros, crc)
    return head + block * mebibytes + compressor.flush(), crc


def _npy_header(shape, descr="<f8") -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def _bomb(path):
    """array_1 (48 bytes of float64) replaced by a 0.5 MiB deflate stream of 512 MiB, declared as 176 bytes."""
    npy = npy_bytes(np.zeros((2, 3)))
    stream, crc = _deflated_zeros(npy, 512)
    return _zip(_entries(path, array_1={"data": stream, "method": 8, "size": len(npy), "crc": crc}))


def _zeros(name, mebibytes, descr="<f8"):
    """Member ``name``: an .npy array that really is ``mebibytes`` MiB of zeros, deflated about 1000 times."""
    header = _npy_header(((mebibytes << 20) // np.dtype(descr).itemsize,), descr)
    stream, crc = _deflated_zeros(header, mebibytes)
    return {"name": name, "data": stream, "method": 8, "size": len(header) + (mebibytes << 20), "crc": crc}


def _with(path, member, without=None):
    """The checkpoint at ``path`` with ``member`` added or in place of its namesake, less ``without``."""
    return _zip([entry for entry in _entries(path) if entry["name"] not in (member["name"], without)] + [member])


def _terabytes_header(path):
    """The description and array_1's header both say (2**40,) float64 (8 TiB); 48 bytes follow."""
    with_structure(set_array_field("shape", [1 << 40]))(path)
    return _zip(_entries(path, array_1={"data": _npy_header((1 << 40,)) + bytes(48)}))


def _structure(data: bytes):
    return lambda path: _zip(_entries(path, __structure__={"data": npy_bytes(np.frombuffer(data, np.uint8))}))


def _nested(depth):
    tree = "leaf"
    for _ in range(depth):
        tree = [tree]
    return json.dumps({"format": "functional_optim.checkpoint", "version": 1, "tree": tree}).encode()


UNTRUSTED_FILES = {
    "compression method 99": (lambda p: _zip(_entries(p, array_1={"method": 99})), "zip compression method 99"),
    "compression method bzip2": (lambda p: _zip(_entries(p, array_1={"method": 12})), "zip compression method 12"),
    "encryption bit": (lambda p: _zip(_entries(p, array_1={"flags": 0x1})), "its entry 'array_1': it is encrypted"),
    "strong encryption bit": (lambda p: _zip(_entries(p, array_1={"flags": 0x40})), "'array_1': it is encrypted"),
    "patched data bit": (lambda p: _zip(_entries(p, array_1={"flags": 0x20})), "it is compressed patched data"),
    "a member that is not .npy": (
        lambda p: _zip([*_entries(p), {"name": "notes.txt", "data": b"hello"}]),
        "its member 'notes.txt' is not an .npy array",
    ),
    "an array member that is not .npy": (
        lambda p: _zip(_entries(p, array_1={"data": b"hello, not an array"})),
        "its entry 'array_1': it is not an .npy array",
    ),
    "a member twice": (
        lambda p: _zip(_entries(p) + _entries(p)[-1:]),
        "it appears twice in the zip directory",
    ),
    "an .npy header of 8 TiB": (
        _terabytes_header,
        "its header describes a float64 array of shape (1099511627776,) (8796093022336 bytes with the header), "
        "but the zip directory says it holds 176 bytes",
    ),
    "an .npy header of 1 MiB": (
        lambda p: _zip(_entries(p, array_1={"data": b"\x93NUMPY\x02\x00" + struct.pack("<I", 1 << 20)})),
        "its .npy header is 1048576 bytes; a checkpoint's are at most 4096",
    ),
    "an .npy version 3 header": (
        lambda p: _zip(_entries(p, array_1={"data": b"\x93NUMPY\x03\x00" + bytes(100)})),
        "it has .npy format version (3, 0)",
    ),
    "a stored size that is not the data's": (
        lambda p: _zip(_entries(p, array_1={"size": 1 << 31})),
        "it declares 2147483648 bytes, which 176 stored bytes cannot hold",
    ),
    "a deflated size deflate cannot reach": (
        lambda p: _zip(
            _entries(
                p, array_1={"data": zlib.compress(npy_bytes(np.zeros((2, 3))))[2:-4], "method": 8, "size": 1 << 31}
            )
        ),
        "it declares 2147483648 bytes, which",
    ),
    "JSON nested 100,000 deep": (_structure(b"[" * 100_000 + b"]" * 100_000), "is nested more than 256 deep"),
    "JSON nested 257 deep": (_structure(_nested(256)), "is nested more than 256 deep"),
    "a zip bomb": (_bomb, "its entry 'array_1': it cannot be read (BadZipFile: Bad CRC-32"),
    "an unused 512 MiB member": (
        lambda p: _with(p, _zeros("array_9.npy", 512)),
        "holds arrays the description never uses: ['array_9']",
    ),
    "a 512 MiB member and no description": (
        lambda p: _with(p, _zeros("array_9.npy", 512), without="__structure__.npy"),
        "has no '__structure__' entry",
    ),
    "a 512 MiB member of another shape": (
        lambda p: _with(p, _zeros("array_1.npy", 512)),
        "should be a float64 array of shape (2, 3), but the file holds a float64 array of shape (67108864,)",
    ),
    "a 65 MiB description": (
        lambda p: _with(p, _zeros("__structure__.npy", 65, "|u1")),
        "the description of the checkpoint is 68157440 bytes; this functional_optim reads descriptions of at "
        "most 67108864 bytes",
    ),
    "a description that inflates 1000 times": (
        lambda p: _with(p, _zeros("__structure__.npy", 8, "|u1")),
        "the description of the checkpoint inflates from",
    ),
}


@pytest.mark.parametrize("name", list(UNTRUSTED_FILES))
def test_a_crafted_file_raises_a_clear_valueerror_in_bounded_memory(tmp_path, name):
    craft, match = UNTRUSTED_FILES[name]
    path = tmp_path / "checkpoint"
    fo.save(path, SMALL)
    path.write_bytes(craft(path))
    assert path.stat().st_size < 1 << 20
    tracemalloc.start()
    try:
        assert_refused(path, match)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50 << 20, f"loading took {peak / 2**20:.0f} MiB"


def test_a_description_nested_256_deep_loads(tmp_path):
    path = tmp_path / "checkpoint"
    path.write_bytes(_zip([{"name": "__structure__.npy", "data": npy_bytes(np.frombuffer(_nested(255), np.uint8))}]))
    loaded = fo.load(path)
    for _ in range(255):
        (loaded,) = loaded
    assert loaded == "leaf"


def test_a_deflated_checkpoint_loads_exactly(tmp_path):
    path = tmp_path / "checkpoint"
    fo.save(path, SMALL)
    members = read_members(path)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    assert_identical(fo.load(path), SMALL)


def _zip_header_bytes(data: bytes) -> list[int]:
    """The offsets of every byte of the zip records in ``data`` (local and central headers, the end
    of the directory): where a flip changes what zip reads, not only what the CRC covers."""
    offsets = []
    for signature, length in ((b"PK\x03\x04", 30), (b"PK\x01\x02", 46), (b"PK\x05\x06", 22)):
        for match in re.finditer(re.escape(signature), data):
            offsets.extend(range(match.start(), min(match.start() + length, len(data))))
    return offsets


def test_a_damaged_checkpoint_loads_as_saved_or_raises_valueerror(tmp_path):
    """Random byte flips (half of them in zip's own fields), truncations and random bytes, on a
    stored and on a deflated checkpoint: ``load`` returns exactly what was saved (after a flip in
    a field zip does not check) or raises ValueError naming the path; never another exception."""
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies
    tree = {**SMALL, "groups": [{"betas": (0.9, 0.999), "bits": jnp.ones(3, jnp.bfloat16), "n": np.int64(7)}]}
    path = tmp_path / "checkpoint"
    fo.save(path, tree)
    stored = path.read_bytes()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in read_members(io.BytesIO(stored)).items():
            archive.writestr(name, data)
    files = {"stored": stored, "deflated": path.read_bytes()}

    def damage(kind):
        data = files[kind]
        at = st.one_of(st.sampled_from(_zip_header_bytes(data)), st.integers(0, len(data) - 1))
        flips = st.lists(st.tuples(at, st.integers(1, 255)), min_size=1, max_size=4)
        return st.tuples(
            st.just(kind),
            st.one_of(
                flips.map(lambda flips: ("flip", flips)),
                st.integers(0, len(data) - 1).map(lambda at: ("truncate", at)),
                st.binary(max_size=1024).map(lambda data: ("replace", data)),
            ),
        )

    @hypothesis.settings(max_examples=500, deadline=None, derandomize=True, database=None)
    @hypothesis.given(st.sampled_from(sorted(files)).flatmap(damage))
    def check(case):
        kind, (what, arg) = case
        data = bytearray(files[kind])
        if what == "flip":
            for at, mask in arg:
                data[at] ^= mask
        elif what == "truncate":
            del data[arg:]
        else:
            data[:] = arg
        path.write_bytes(data)
        try:
            loaded = fo.load(path)
        except ValueError as error:
            assert str(path) in str(error)
        else:
            assert_identical(loaded, tree)

    check()
