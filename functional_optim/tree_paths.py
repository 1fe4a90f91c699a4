"""Names for the places in a pytree: a key path's parts, and torch's dotted parameter names."""

from __future__ import annotations

from typing import Any


def key_value(key: Any) -> Any:
    """The dict key, attribute name or sequence index a path entry stands for (``'w'``, ``0``)."""
    for attr in ("key", "name", "idx"):  # DictKey, GetAttrKey, SequenceKey
        if hasattr(key, attr):
            return getattr(key, attr)
    return key


def dotted_name(path: tuple[Any, ...]) -> str:
    """A key path as torch names a module's parameter: ``"classifier.w"``, ``"layers.0.b"``."""
    return ".".join(str(key_value(key)) for key in path)
