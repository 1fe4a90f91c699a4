"""Checkpoints without pickle: ``fo.save(path, state_dict)`` and ``fo.load(path)``.

A checkpoint is one ``.npz`` file (a zip of ``.npy`` arrays) holding every array of the
state_dict, plus one JSON document (stored in the same zip as the bytes of a uint8 array)
that describes the structure around them::

    fo.save("run.ckpt", {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()})
    checkpoint = fo.load("run.ckpt")
    optimizer.load_state_dict(checkpoint["optimizer"])
    scheduler.load_state_dict(checkpoint["scheduler"])

Loading never unpickles anything (``np.load(..., allow_pickle=False)``), so a checkpoint from
an untrusted source cannot run code. What round-trips, exactly:

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
whose arrays do not match the description (missing, extra, another dtype or shape).
``load`` only reads: a state_dict it returns still goes through the optimizer's
``load_state_dict``, which checks it against the optimizer (groups, sizes, shapes) and leaves
the optimizer unchanged when it does not fit.
"""

from __future__ import annotations

import collections
import json
import math
import os
import uuid
import zipfile
import zlib
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

_FORMAT = "functional_optim.checkpoint"
_VERSION = 1
_STRUCTURE = "__structure__"  # the zip member holding the JSON description
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

    Raises:
      ValueError: the file is not a functional_optim checkpoint, is truncated or corrupt, or
        its arrays do not match its description; the message says which.
      FileNotFoundError: there is no file at ``path``.
    """
    path = os.fspath(path)
    with open(path, "rb") as file:  # FileNotFoundError as usual
        try:
            npz = np.load(file, allow_pickle=False)
        except ValueError as error:  # e.g. a pickle file: numpy refuses it without allow_pickle
            raise ValueError(f"{path} is not a functional_optim checkpoint: {error}") from None
        except (OSError, EOFError, zipfile.BadZipFile) as error:
            raise ValueError(
                f"{path} is not a functional_optim checkpoint (not a readable npz file: {error})"
            ) from None
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise ValueError(f"{path} is not a functional_optim checkpoint: it is one .npy array, not an npz archive")
        with npz:
            members = {name: _read_member(npz, name, path) for name in npz.files}
    if _STRUCTURE not in members:
        raise ValueError(
            f"{path} is not a functional_optim checkpoint: the npz file has no {_STRUCTURE!r} entry "
            "(the description of what it holds)"
        )
    document = _parse_structure(members.pop(_STRUCTURE), path)
    used: set[str] = set()
    tree = _decode(document["tree"], members, used, path, "the state_dict")
    extra = sorted(set(members) - used)
    if extra:
        raise ValueError(f"{path} does not match its description: it holds arrays the description never uses: {extra}")
    return tree


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


def _read_member(npz: Any, name: str, path: str) -> np.ndarray:
    try:
        return npz[name]
    except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile, zlib.error) as error:
        raise ValueError(
            f"{path} is truncated, corrupt or not a functional_optim checkpoint: its entry {name!r} cannot be read "
            f"({type(error).__name__}: {error})"
        ) from None


def _parse_structure(raw: np.ndarray, path: str) -> dict[str, Any]:
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise ValueError(
            f"{path}: the {_STRUCTURE!r} entry is not JSON bytes (a {raw.dtype} array of shape {raw.shape})"
        )
    try:
        document = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: the description of the checkpoint is not valid JSON ({error})") from None
    if not isinstance(document, dict) or document.get("format") != _FORMAT or "tree" not in document:
        raise ValueError(f"{path}: the {_STRUCTURE!r} entry is not a functional_optim checkpoint description")
    if document.get("version") != _VERSION:
        raise ValueError(
            f"{path} has checkpoint format version {document.get('version')!r}; this functional_optim reads "
            f"version {_VERSION}"
        )
    return document


def _decode(node: Any, arrays: dict[str, np.ndarray], used: set[str], path: str, where: str) -> Any:
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    if isinstance(node, list):
        return [_decode(v, arrays, used, path, f"{where}[{i}]") for i, v in enumerate(node)]
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
            return tuple(_decode(v, arrays, used, path, f"{where}[{i}]") for i, v in enumerate(_list(node["items"])))
        if kind in _DICT_KINDS:
            out = _DICT_KINDS[kind]()
            for key, value in _list(node["items"]):
                key = _decode(key, arrays, used, path, f"a key of {where}")
                out[key] = _decode(value, arrays, used, path, f"{where}[{key!r}]")
            return out
        if kind == "array":
            return _decode_array(node, arrays, used, path, where)
    except (KeyError, TypeError, ValueError) as error:
        if isinstance(error, ValueError) and str(error).startswith(path):
            raise
        raise ValueError(f"{path}: the description of {where} is malformed ({_short(node)})") from None
    raise ValueError(f"{path}: the description of {where} has an unknown type {kind!r}")


def _decode_array(node: dict[str, Any], arrays: dict[str, np.ndarray], used: set[str], path: str, where: str) -> Any:
    key, kind, shape = node["key"], node["kind"], tuple(node["shape"])
    if kind not in _ARRAY_KINDS:
        raise ValueError(f"{path}: the description of {where} has an unknown array kind {kind!r}")
    try:
        dtype = jnp.dtype(node["dtype"])
    except TypeError:
        raise ValueError(f"{path}: {where} has an unknown dtype {node['dtype']!r}") from None
    if key not in arrays:
        raise ValueError(f"{path} does not match its description: the array of {where} ({key!r}) is missing")
    if key in used:
        raise ValueError(f"{path}: the description uses the array {key!r} twice")
    used.add(key)
    array = arrays[key]
    if not (_is_ml_dtype(dtype) or dtype.kind in "biufc"):
        raise ValueError(f"{path}: {where} has a dtype a checkpoint never holds ({dtype})")
    stored = _bits_dtype(dtype) if _is_ml_dtype(dtype) else dtype
    if array.dtype != stored or array.shape != shape:
        raise ValueError(
            f"{path} does not match its description: {where} should be a {dtype.name} array of shape {shape}, "
            f"but the file holds a {array.dtype} array of shape {array.shape}"
        )
    if stored != dtype:
        array = array.view(dtype)
    if kind == "jax":
        return jnp.asarray(array)
    if kind == "numpy_scalar":
        if array.shape != ():
            raise ValueError(f"{path}: {where} is described as a numpy scalar but has shape {array.shape}")
        return array[()]
    return array


def _list(value: Any) -> list:
    if not isinstance(value, list):
        raise TypeError(value)
    return value


def _short(node: Any) -> str:
    text = json.dumps(node)
    return text if len(text) <= 80 else text[:77] + "..."
