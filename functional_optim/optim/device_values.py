"""A param group's hyperparameters as the compiled step's arguments and cache key.

Numbers become cached device scalars (a host-to-device transfer per step costs as much as a
small update); what the trace bakes in (which numbers are 0, the non-numeric values) becomes
the cache key of the compiled step.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp

from functional_optim.hyperparams import scalar_dtype


def device_scalar(value: float, dtype: Any) -> jax.Array:
    """A number as a device array, cached: a transfer per step costs as much as a small update.

    Cached per context mesh too: inside ``jax.set_mesh`` a new array lives on that mesh's devices.
    """
    return _cached_scalar(value, dtype, jax.sharding.get_mesh())


@functools.lru_cache(maxsize=256)
def _cached_scalar(value: float, dtype: Any, mesh: Any) -> jax.Array:
    del mesh  # a cache key only
    return jnp.asarray(value, dtype)


def on_device(value: Any, dtype: Any) -> Any:
    """A hyperparameter as jit arguments: numbers as ``dtype`` scalars (as ``as_scalars``), arrays as given."""
    if isinstance(value, (float, int)):
        return device_scalar(value, dtype)
    if isinstance(value, (list, tuple)):
        return type(value)(on_device(v, dtype) for v in value)
    return value


def zero_pattern(value: Any) -> Any:
    """Which numbers in a hyperparameter are 0 (None for arrays: their values are traced, not baked in)."""
    if isinstance(value, (float, int)):
        return value == 0
    if isinstance(value, (list, tuple)):
        return tuple(zero_pattern(v) for v in value)
    return None


@functools.cache
def current_scalar_dtype(x64: bool) -> Any:
    """:func:`scalar_dtype` for the current ``jax_enable_x64`` (the argument), without its cost per call."""
    del x64
    return scalar_dtype()


def hashable(value: Any) -> Any:
    """A group value as a cache key: lists and tuples as tuples."""
    return tuple(hashable(v) for v in value) if isinstance(value, (list, tuple)) else value
