"""A checkpoint's file read as untrusted input: its zip directory and its ``.npy`` members.

:func:`functional_optim.save` writes a checkpoint with ``np.savez``: a zip archive of ``.npy``
members. :class:`CheckpointArchive` reads such a file without trusting it and raises ValueError,
naming the path and (where there is one) the member, for anything it does not expect, before it
allocates for it. Memory stays a bounded multiple of what the file really holds. It checks:

* the zip directory, when it opens the file: every member stored or deflated (no other
  compression method, no encryption, no patched data), named ``<key>.npy``, no name twice, and
  its data inside the file without overlapping the next member; a stored member declares as
  many bytes as it stores, a deflated one no more than deflate can expand its data to (1032
  times). So the declared sizes of all members add up to at most the file's size (stored) or
  1032 times it (deflated), and no member is decompressed before its declared size is known;
* a member's ``.npy`` header (:meth:`CheckpointArchive.header`, which reads at most 4 KiB of the
  member): format version 1 or 2, the dict numpy writes for a plain array (parsed with a regular
  expression, never evaluated), a bool, int, uint, float or complex dtype (never objects, so never
  pickle), and a shape whose bytes, with the header, are exactly the member's declared size;
* a member's data (:meth:`CheckpointArchive.read`): read in 1 MiB chunks up to its declared size
  only, the array growing as data arrives (a member that claims more than it holds costs only
  what it holds, one that holds more is cut at what it declares), CRC-32 checked by zipfile.
"""

from __future__ import annotations

import contextlib
import math
import re
import struct
import zipfile
import zlib
from collections.abc import Iterator
from typing import IO, NamedTuple

import numpy as np

MAX_HEADER_BYTES = 4096  # an .npy header numpy writes for a plain array is under 200 bytes
DEFLATE_MAX_RATIO = 1032  # deflate expands its data at most this many times

_CHUNK = 1 << 20
_NPY_MAGIC = b"\x93NUMPY"
_LENGTH_FORMATS = {(1, 0): "<H", (2, 0): "<I"}  # the .npy versions, by how they store the header length
_LOCAL_HEADER_BYTES = 30  # a zip local file header, before its name and extra field
_ENCRYPTED, _PATCHED, _STRONGLY_ENCRYPTED = 0x01, 0x20, 0x40  # zip general purpose flag bits
_NPY_DICT = re.compile(  # exactly what numpy's np.save writes for a plain array
    r"\{'descr': '(?P<descr>[<>|=]?[biufc]\d{1,2})', 'fortran_order': (?P<fortran>True|False), "
    r"'shape': \((?P<shape>|\d+,|\d+(?:, \d+)+)\), \} *\n"
)
# What zipfile raises for a malformed archive or member (NotImplementedError: a zip version or
# feature it lacks; the directory checks refuse the methods and flags that would raise it later).
_ZIP_ERRORS = (zipfile.BadZipFile, OSError, EOFError, ValueError, struct.error, zlib.error, NotImplementedError)


class NpyHeader(NamedTuple):
    """A member's ``.npy`` header: the array's dtype, shape and order, and the header's length in bytes."""

    dtype: np.dtype
    shape: tuple[int, ...]
    fortran_order: bool
    length: int


class _MalformedError(ValueError):
    """A check of this module failed (passed through as is, not re-worded as a read error)."""


class CheckpointArchive:
    """A checkpoint file opened as a zip archive whose directory has been checked.

    ``members`` maps each member's key (its name without ``.npy``) to its ``zipfile.ZipInfo``.
    Use as a context manager; closing it leaves ``file`` open.

    Raises:
      ValueError: the file is not a zip archive, or its directory fails a check of the module
        docstring; the message names the path and the member.
    """

    def __init__(self, file: IO[bytes], path: str) -> None:
        self.path = path
        if file.read(len(_NPY_MAGIC)) == _NPY_MAGIC:
            raise ValueError(f"{path} is not a functional_optim checkpoint: it is one .npy array, not an npz archive")
        size = file.seek(0, 2)
        file.seek(0)
        try:
            self._zip = zipfile.ZipFile(file)
        except _ZIP_ERRORS as error:
            raise ValueError(
                f"{path} is not a functional_optim checkpoint (not a readable npz file: {error})"
            ) from None
        try:
            self.members = self._check_directory(size)
        except BaseException:
            self._zip.close()
            raise

    def __enter__(self) -> CheckpointArchive:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Closes the zip archive (not the file it reads)."""
        self._zip.close()

    def header(self, key: str) -> NpyHeader:
        """Reads and checks member ``key``'s ``.npy`` header (at most 4 KiB of the member)."""
        info = self.members[key]
        with self._reading(key) as member:
            return self._parse_header(member, key, info.file_size)

    def read(self, key: str, header: NpyHeader) -> np.ndarray:
        """Reads member ``key``'s array, whose checked ``header`` came from :meth:`header`.

        A stored member's bytes are in the file (checked), so its array is allocated at once; a
        deflated member's only once its data has really inflated to the size it declares.
        """
        info = self.members[key]
        nbytes = info.file_size - header.length
        with self._reading(key) as member:
            self._read_exactly(member, header.length, key)
            chunks = self._chunks(member, nbytes, key)
            if info.compress_type == zipfile.ZIP_STORED:
                data, at = np.empty(nbytes, np.uint8), 0
                for chunk in chunks:
                    data[at : at + len(chunk)] = np.frombuffer(chunk, np.uint8)
                    at += len(chunk)
            else:
                data = np.concatenate([np.empty(0, np.uint8), *(np.frombuffer(c, np.uint8) for c in chunks)])
        array = data.view(header.dtype)
        if header.fortran_order:
            return array.reshape(header.shape[::-1]).transpose()
        return array.reshape(header.shape)

    # -- checks ------------------------------------------------------------------------------------

    def _check_directory(self, size: int) -> dict[str, zipfile.ZipInfo]:
        members: dict[str, zipfile.ZipInfo] = {}
        for info in self._zip.infolist():
            name = info.filename
            if not name.endswith(".npy"):
                raise ValueError(
                    f"{self.path}: its member {name!r} is not an .npy array, which is all a checkpoint holds"
                )
            key = name.removesuffix(".npy")
            if key in members:
                raise self._error(key, "it appears twice in the zip directory")
            if info.flag_bits & (_ENCRYPTED | _STRONGLY_ENCRYPTED):
                raise self._error(key, "it is encrypted")
            if info.flag_bits & _PATCHED:
                raise self._error(key, "it is compressed patched data")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise self._error(
                    key, f"it uses zip compression method {info.compress_type}, not stored (0) or deflated (8)"
                )
            stored = info.compress_type == zipfile.ZIP_STORED
            if (stored and info.file_size != info.compress_size) or (
                info.file_size > DEFLATE_MAX_RATIO * info.compress_size
            ):
                method = "stored" if stored else "deflated"
                raise self._error(
                    key, f"it declares {info.file_size} bytes, which {info.compress_size} {method} bytes cannot hold"
                )
            members[key] = info
        by_offset = sorted(members.items(), key=lambda item: item[1].header_offset)
        for (key, info), (_, following) in zip(by_offset, [*by_offset[1:], (None, None)]):
            end = info.header_offset + _LOCAL_HEADER_BYTES + info.compress_size
            if end > (size if following is None else following.header_offset):
                where = "the end of the file" if following is None else "the next member"
                raise self._error(key, f"its data would run past {where} (the file is truncated or corrupt)")
        return members

    def _parse_header(self, member: IO[bytes], key: str, declared: int) -> NpyHeader:
        prefix = self._read_exactly(member, len(_NPY_MAGIC) + 2, key)
        if prefix[: len(_NPY_MAGIC)] != _NPY_MAGIC:
            raise self._error(key, "it is not an .npy array")
        version = (prefix[-2], prefix[-1])
        if version not in _LENGTH_FORMATS:
            raise self._error(key, f"it has .npy format version {version}; checkpoints use 1.0 or 2.0")
        length_format = _LENGTH_FORMATS[version]
        (length,) = struct.unpack(length_format, self._read_exactly(member, struct.calcsize(length_format), key))
        if length > MAX_HEADER_BYTES:
            raise self._error(key, f"its .npy header is {length} bytes; a checkpoint's are at most {MAX_HEADER_BYTES}")
        text = self._read_exactly(member, length, key).decode("latin1")
        match = _NPY_DICT.fullmatch(text)
        if match is None:
            raise self._error(key, f"it is not a plain array of bools or numbers (its .npy header is {text[:100]!r})")
        try:
            dtype = np.dtype(match["descr"])
        except TypeError:
            raise self._error(key, f"its .npy header names an unknown dtype {match['descr']!r}") from None
        shape = tuple(int(n) for n in re.findall(r"\d+", match["shape"]))
        header_length = len(prefix) + struct.calcsize(length_format) + length
        needed = header_length + math.prod(shape) * dtype.itemsize
        if needed != declared:
            raise self._error(
                key,
                f"its header describes a {dtype} array of shape {shape} ({needed} bytes with the header), "
                f"but the zip directory says it holds {declared} bytes",
            )
        return NpyHeader(dtype, shape, match["fortran"] == "True", header_length)

    # -- reading -----------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _reading(self, key: str) -> Iterator[IO[bytes]]:
        """Opens member ``key``; zipfile's errors, there or while reading it, become a ValueError."""
        try:
            with self._zip.open(self.members[key]) as member:
                yield member
        except _MalformedError:
            raise
        except _ZIP_ERRORS as error:
            raise self._error(key, f"it cannot be read ({type(error).__name__}: {error})") from None

    def _chunks(self, member: IO[bytes], nbytes: int, key: str) -> Iterator[bytes]:
        """The next ``nbytes`` of ``member``, in chunks of at most 1 MiB; refused if it ends first."""
        done = 0
        while done < nbytes:
            chunk = member.read(min(_CHUNK, nbytes - done))
            if not chunk:
                raise self._error(key, f"its data ends after {done} of its {nbytes} bytes")
            done += len(chunk)
            yield chunk

    def _read_exactly(self, member: IO[bytes], n: int, key: str) -> bytes:
        data = member.read(n)
        if len(data) != n:
            raise self._error(key, f"it ends {len(data)} bytes into what should be {n} bytes")
        return data

    def _error(self, key: str, problem: str) -> _MalformedError:
        return _MalformedError(
            f"{self.path} is truncated, corrupt or not a functional_optim checkpoint: its entry {key!r}: {problem}"
        )
