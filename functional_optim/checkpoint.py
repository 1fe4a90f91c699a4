"""Checkpoints without pickle: ``fo.save(path, state_dict)`` and ``fo.load(path)``.

A checkpoint is one ``.npz`` file (a zip of ``.npy`` arrays) holding every array of the
state_dict, plus one JSON document (stored in the same zip as the bytes of a uint8 array)
that describes the structure around them::

    fo.save("run.ckpt", {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()})
    checkpoint = fo.load("run.ckpt")
    optimizer.load_state_dict(checkpoint["optimizer"])
    scheduler.load_state_dict(checkpoint["scheduler"])

Loading never unpickles anything: it reads the zip archive and the ``.npy`` headers itself
(:mod:`functional_optim.checkpoint_archive`) and accepts arrays of bools and numbers only, so a
checkpoint from an untrusted source cannot run code. What round-trips, exactly:

* containers: dicts (key order and key types kept, e.g. the int keys of ``"state"``),
  ``OrderedDict``, ``Counter``, lists and tuples (a tuple stays a tuple: ``betas``);
* Python ``None``, ``bool``, ``int`` and ``float`` (an int stays an int, a float stays a float,
  every float bit for bit, NaN and infinities included) and ``str``;
* arrays, by value, dtype (``bfloat16`` and the other ``ml_dtypes`` included) and shape, and by
  kind: a jax array comes back as a jax array (on the default device), a numpy array as a
  numpy array, a numpy scalar (``np.float32(1.0)``) as a numpy scalar. So the float32 ``step``
  of a torch-style state stays a float32 0-d array.

Anything else (a torch tensor, a function, an object) is refused with a TypeError that names
where it is. Loading checks the file against its own description and raises ValueError,
naming the problem, for a file that is not such a checkpoint, is truncated or corrupt, or
whose arrays do not match the description (missing, extra, another dtype or shape); it
raises nothing else for any content, and checks sizes before it allocates (see :func:`load`).
``load`` only reads: a state_dict it returns still goes through the optimizer's
``load_state_dict``, which checks it against the optimizer (groups, sizes, shapes) and leaves
the optimizer unchanged when it does not fit.
"""

from __future__ import annotations

import collections
import json
import math
import os
import re
import uuid
import zipfile
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from functional_optim.checkpoint_archive import CheckpointArchive, NpyHeader

_FORMAT = "functional_optim.checkpoint"
_VERSION = 1
_STRUCTURE = "__structure__"  # the zip member holding the JSON description
_MAX_DESCRIPTION_BYTES = 64 << 20
_MAX_DESCRIPTION_INFLATION = 64  # JSON descriptions deflate about 20 times
_MAX_DEPTH = 256  # lists and dicts in the JSON description; a state_dict's are under 20
_MAX_DIMENSIONS = 64  # numpy's
_JSON_STRING = re.compile(rb'"[^"\\]*+(?:\\[\s\S][^"\\]*+)*+(?:"|\\?\Z)')  # to its end, or the text's
_BRACKET_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")
_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"[]{}")))
_DTYPE_NAME = re.compile(r"bool|u?int\d{1,2}|b?float\d{1,3}(?:_[a-z0-9]+)?|complex\d{2,3}")
_ARRAY_KINDS = ("jax", "numpy", "numpy_scalar")
_DICT_KINDS = {"dict": dict, "OrderedDict": collections.OrderedDict, "Counter": collections.Counter}


def save(path: str | os.PathLike, state_dict: Any) -> None:
    """Writes ``state_dict`` (a state_dict, or any tree of the types above) to ``path``.

    The file is written to a temporary name beside ``path`` and then renamed, so an
    interrupted save never leaves a half-written checkpoint under ``path``. ``path`` is used
    as given (no ``.npz`` is appended).

    Args:
      path: the file to write.
      state_dict: e.g. ``optimizer.state_dict()``, a scheduler's, or a dict of several.

    Raises:
      TypeError: for a value that cannot be saved without pickle, naming where it is.
    """
    arrays: dict[str, np.ndarray] = {}
    tree = _encode(state_dict, arrays, "the state_dict")
    document = json.dumps({"format": _FORMAT, "version": _VERSION, "tree": tree}, allow_nan=False)
    members = {**arrays, _STRUCTURE: np.frombuffer(document.encode("utf-8"), np.uint8)}
    path = os.fspath(path)
    temporary = f"{path}.{uuid.uuid4().hex}.tmp"  # beside it: the rename below stays on one file system
    try:
        with open(temporary, "xb") as file:
            np.savez(file, **members)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def load(path: str | os.PathLike) -> Any:
    """Reads a checkpoint written by :func:`save`; returns what was saved.

    The file is read as untrusted input, in memory a bounded multiple of what it really holds.
    In order: its zip directory is checked against the file (members stored or deflated, not
    encrypted, ``.npy``, their declared sizes within what the file can hold; see
    :mod:`functional_optim.checkpoint_archive`); its description is read (at most 64 MiB of
    JSON, nested at most 256 deep counted before parsing, and, if deflated and over 1 MiB,
    inflating at most 64 times) and checked whole; every array's ``.npy`` header is checked
    against the description and the member's declared size; only then is each array's data
    read, one by one. ``load`` touches nothing but the file, which it only reads.

    Raises:
      ValueError: the file is not a functional_optim checkpoint, is truncated or corrupt, or
        its arrays do not match its description; the message names the path and says which
        (and which entry). No other error comes from the file's content.
      FileNotFoundError: there is no file at ``path``.
    """
    path = os.fspath(path)
    with open(path, "rb") as file, CheckpointArchive(file, path) as archive:  # FileNotFoundError as usual
        if _STRUCTURE not in archive.members:
            raise ValueError(
                f"{path} is not a functional_optim checkpoint: the npz file has no {_STRUCTURE!r} entry "
                "(the description of what it holds)"
            )
        tree = _parse_structure(archive, path)["tree"]
        described: dict[str, Any] = {}  # key -> (dtype, shape, where), in the order the tree uses them
        _decode(
            tree, lambda node, where: _describe_array(node, described, archive, path, where), path, "the state_dict"
        )
        extra = sorted(set(archive.members) - set(described) - {_STRUCTURE})
        if extra:
            raise ValueError(
                f"{path} does not match its description: it holds arrays the description never uses: {extra}"
            )
        headers = {key: _check_header(archive, key, *spec, path) for key, spec in described.items()}
        return _decode(tree, lambda node, where: _read_array(node, headers, archive), path, "the state_dict")


# -- saving ----------------------------------------------------------------------------------------


def _encode(value: Any, arrays: dict[str, np.ndarray], where: str) -> Any:
    """``value`` as JSON: primitives as themselves, lists as lists, everything else as a tagged object."""
    if value is None or type(value) in (bool, int, str):
        return value
    if type(value) is float:
        if math.isfinite(value):
            return value
        return {"type": "float", "value": repr(value)}  # nan, inf, -inf: not JSON numbers
    if isinstance(value, (jax.Array, np.ndarray, np.generic)):
        return _encode_array(value, arrays, where)
    if type(value) is list:
        return [_encode(v, arrays, f"{where}[{i}]") for i, v in enumerate(value)]
    if type(value) is tuple:
        return {"type": "tuple", "items": [_encode(v, arrays, f"{where}[{i}]") for i, v in enumerate(value)]}
    kind = next((name for name, cls in _DICT_KINDS.items() if type(value) is cls), None)
    if kind is not None:
        items = []
        for key, v in value.items():
            if not (key is None or isinstance(key, (bool, int, float, str, tuple))):
                raise TypeError(f"cannot save the key {key!r} of {where}: keys must be str, int, float, bool or None")
            items.append([_encode(key, arrays, f"a key of {where}"), _encode(v, arrays, f"{where}[{key!r}]")])
        return {"type": kind, "items": items}
    hint = " (convert torch tensors with .numpy())" if hasattr(value, "detach") else ""
    raise TypeError(
        f"cannot save {where}: a {type(value).__module__}.{type(value).__qualname__} is not one of the types a "
        f"checkpoint holds without pickle (dicts, lists, tuples, None, bool, int, float, str, arrays){hint}"
    )


def _encode_array(value: Any, arrays: dict[str, np.ndarray], where: str) -> dict[str, Any]:
    kind = "jax" if isinstance(value, jax.Array) else "numpy_scalar" if isinstance(value, np.generic) else "numpy"
    array = np.asarray(value)
    if array.dtype.hasobject:
        raise TypeError(f"cannot save {where}: an array of Python objects needs pickle")
    array = array.astype(array.dtype.newbyteorder("="), copy=False)  # big-endian NumPy arrays load in native order
    dtype = array.dtype
    if _is_ml_dtype(dtype):  # bfloat16 & co: an .npy file cannot name them, so store their bits
        array = array.view(_bits_dtype(dtype))
    elif dtype.kind not in "biufc":
        raise TypeError(f"cannot save {where}: arrays of dtype {dtype} are not supported (numbers and bools only)")
    key = f"array_{len(arrays)}"
    arrays[key] = array
    return {"type": "array", "key": key, "kind": kind, "dtype": dtype.name, "shape": list(array.shape)}


def _is_ml_dtype(dtype: np.dtype) -> bool:
    return dtype.kind == "V" and dtype.type.__module__.split(".")[0] == "ml_dtypes"


def _bits_dtype(dtype: np.dtype) -> np.dtype:
    return np.dtype(f"u{dtype.itemsize}")


# -- loading ---------------------------------------------------------------------------------------


def _parse_structure(archive: CheckpointArchive, path: str) -> dict[str, Any]:
    """The checked JSON description: bytes, at most 64 MiB, valid UTF-8 JSON nested at most 256 deep."""
    header = archive.header(_STRUCTURE)
    if header.dtype != np.uint8 or len(header.shape) != 1:
        raise ValueError(
            f"{path}: the {_STRUCTURE!r} entry is not JSON bytes (a {header.dtype} array of shape {header.shape})"
        )
    if header.shape[0] > _MAX_DESCRIPTION_BYTES:
        raise ValueError(
            f"{path}: the description of the checkpoint is {header.shape[0]} bytes; this functional_optim reads "
            f"descriptions of at most {_MAX_DESCRIPTION_BYTES} bytes"
        )
    info = archive.members[_STRUCTURE]
    if info.compress_type != zipfile.ZIP_STORED and info.file_size > max(
        _MAX_DESCRIPTION_INFLATION * info.compress_size, 1 << 20
    ):
        raise ValueError(
            f"{path}: the description of the checkpoint inflates from {info.compress_size} to {info.file_size} "
            f"bytes; this functional_optim reads a deflated description over 1 MiB only if it inflates at most "
            f"{_MAX_DESCRIPTION_INFLATION} times (save stores it as is)"
        )
    raw = archive.read(_STRUCTURE, header).tobytes()
    too_deep = ValueError(f"{path}: the description of the checkpoint is nested more than {_MAX_DEPTH} deep")
    if _json_depth(raw) > _MAX_DEPTH:
        raise too_deep
    try:
        document = json.loads(raw.decode("utf-8"))
    except RecursionError:  # only if load itself is called this close to the recursion limit
        raise too_deep from None
    except (UnicodeDecodeError, ValueError) as error:  # ValueError: JSON, or an int too long to convert
        raise ValueError(f"{path}: the description of the checkpoint is not valid JSON ({error})") from None
    if not isinstance(document, dict) or document.get("format") != _FORMAT or "tree" not in document:
        raise ValueError(f"{path}: the {_STRUCTURE!r} entry is not a functional_optim checkpoint description")
    if document.get("version") != _VERSION:
        raise ValueError(
            f"{path} has checkpoint format version {_short(document.get('version'))}; this functional_optim reads "
            f"version {_VERSION}"
        )
    return document


def _json_depth(text: bytes) -> int:
    """How deep arrays and objects nest in JSON ``text``, counted without parsing it: its strings
    are cut out (an unterminated one runs to the end) and the brackets left are summed, in time
    and memory linear in ``len(text)``."""
    steps = np.frombuffer(_JSON_STRING.sub(b"", text).translate(_BRACKET_STEPS, _NOT_BRACKETS), np.int8)
    depth = deepest = 0
    for start in range(0, len(steps), 1 << 20):
        running = depth + np.cumsum(steps[start : start + (1 << 20)], dtype=np.int64)
        deepest, depth = max(deepest, int(running.max())), int(running[-1])
    return deepest


def _decode(node: Any, array: Callable[[dict[str, Any], str], Any], path: str, where: str) -> Any:
    """The value ``node`` describes; ``array(node, where)`` gives each array node's value."""
    if _is_plain(node):
        return node
    if isinstance(node, list):
        return [v if _is_plain(v) else _decode(v, array, path, f"{where}[{i}]") for i, v in enumerate(node)]
    if not isinstance(node, dict) or not isinstance(node.get("type"), str):
        raise ValueError(f"{path}: the description of {where} is malformed ({_short(node)})")
    kind = node["type"]
    try:
        if kind == "float":
            value = float(node["value"])
            if math.isfinite(value):
                raise ValueError(node["value"])
            return value
        if kind == "tuple":
            return tuple(_decode(v, array, path, f"{where}[{i}]") for i, v in enumerate(_list(node["items"])))
        if kind in _DICT_KINDS:
            out = _DICT_KINDS[kind]()
            for item in _list(node["items"]):
                key, value = _pair(item)
                key = _decode(key, array, path, f"a key of {where}")
                out[key] = _decode(value, array, path, f"{where}[{key!r}]")
            return out
        if kind == "array":
            return array(node, where)
    except (KeyError, TypeError, ValueError) as error:
        if isinstance(error, ValueError) and str(error).startswith(path):
            raise
        raise ValueError(f"{path}: the description of {where} is malformed ({_short(node)})") from None
    raise ValueError(f"{path}: the description of {where} has an unknown type {_short(kind)}")


def _describe_array(
    node: dict[str, Any], described: dict[str, Any], archive: CheckpointArchive, path: str, where: str
) -> None:
    """Checks an array node (the first pass: nothing is read) and records it in ``described``."""
    key, kind, shape = node["key"], node["kind"], node["shape"]
    if not isinstance(key, str) or not isinstance(shape, list) or len(shape) > _MAX_DIMENSIONS:
        raise TypeError(node)
    if not all(type(n) is int and n >= 0 for n in shape):
        raise TypeError(node)
    if kind not in _ARRAY_KINDS:
        raise ValueError(f"{path}: the description of {where} has an unknown array kind {_short(kind)}")
    dtype = _dtype(node["dtype"], path, where)
    if kind == "numpy_scalar" and shape:
        raise ValueError(f"{path}: {where} is described as a numpy scalar but has shape {tuple(shape)}")
    if key not in archive.members or key == _STRUCTURE:
        raise ValueError(f"{path} does not match its description: the array of {where} ({key!r}) is missing")
    if key in described:
        raise ValueError(f"{path}: the description uses the array {key!r} twice")
    described[key] = (dtype, tuple(shape), where)


def _dtype(name: Any, path: str, where: str) -> np.dtype:
    """The dtype ``name`` names, if it is one a checkpoint holds (bool, numbers, ``ml_dtypes``)."""
    if not (isinstance(name, str) and _DTYPE_NAME.fullmatch(name)):
        raise ValueError(f"{path}: {where} has an unknown dtype {_short(name)}")
    try:
        dtype = jnp.dtype(name)
    except TypeError:
        raise ValueError(f"{path}: {where} has an unknown dtype {name!r}") from None
    if dtype.name != name or not (_is_ml_dtype(dtype) or dtype.kind in "biufc"):
        raise ValueError(f"{path}: {where} has a dtype a checkpoint never holds ({name})")
    return dtype


def _check_header(
    archive: CheckpointArchive, key: str, dtype: np.dtype, shape: tuple[int, ...], where: str, path: str
) -> NpyHeader:
    """Member ``key``'s header, checked against the description of the array it holds."""
    header = archive.header(key)
    stored = _bits_dtype(dtype) if _is_ml_dtype(dtype) else dtype
    if header.dtype != stored or header.shape != shape:
        raise ValueError(
            f"{path} does not match its description: {where} should be a {dtype.name} array of shape {shape}, "
            f"but the file holds a {header.dtype} array of shape {header.shape}"
        )
    return header


def _read_array(node: dict[str, Any], headers: dict[str, NpyHeader], archive: CheckpointArchive) -> Any:
    """The value of a checked array node (the second pass): reads its member."""
    array = archive.read(node["key"], headers[node["key"]])
    dtype = jnp.dtype(node["dtype"])
    if array.dtype != dtype:  # the bits of an ml_dtypes array
        array = array.view(dtype)
    if node["kind"] == "jax":
        return jnp.asarray(array)
    if node["kind"] == "numpy_scalar":
        return array[()]
    return array


def _is_plain(node: Any) -> bool:
    """Whether ``node`` describes itself (None, bool, int, float, str)."""
    return node is None or type(node) in (bool, int, float, str)


def _list(value: Any) -> list:
    if not isinstance(value, list):
        raise TypeError(value)
    return value


def _pair(value: Any) -> list:
    if not isinstance(value, list) or len(value) != 2:
        raise TypeError(value)
    return value


def _short(value: Any) -> str:
    """``repr(value)``, cut to 80 characters (a crafted description may hold anything)."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
