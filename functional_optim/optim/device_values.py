"""A param group's hyperparameters as the compiled step's arguments and cache key.

Numbers become cached device scalars (a host-to-device transfer per step costs as much as a
small update); what the trace bakes in (which numbers are 0, the non-numeric values) becomes
the cache key of the compiled step. The torch-style classes and :mod:`functional_optim.optim.functional`
both build their compiled steps on these.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from functional_optim.hyperparams import scalar_dtype
from functional_optim.transform import GradientTransformation

# A stand-in parameter for learning a transform's hyperparameter names (2-D suits every algorithm).
_PROBE_PARAM = jax.ShapeDtypeStruct((1, 1), jnp.float32)


def device_scalar(value: float, dtype: Any, mesh: Any = None) -> jax.Array:
    """A number as a device array, cached: a transfer per step costs as much as a small update.

    Cached per context mesh too: inside ``jax.set_mesh`` a new array lives on that mesh's devices
    (``mesh``: ``jax.sharding.get_mesh()``, when the caller has it already).
    """
    return _cached_scalar(value, dtype, jax.sharding.get_mesh() if mesh is None else mesh)


@functools.lru_cache(maxsize=256)
def _cached_scalar(value: float, dtype: Any, mesh: Any) -> jax.Array:
    del mesh  # a cache key only
    return jnp.asarray(value, dtype)


def on_device(value: Any, dtype: Any, mesh: Any = None) -> Any:
    """A hyperparameter as jit arguments: numbers as ``dtype`` scalars (as ``as_scalars``), arrays as given."""
    if isinstance(value, (float, int)):
        return device_scalar(value, dtype, mesh)
    if isinstance(value, (list, tuple)):
        return type(value)(on_device(v, dtype, mesh) for v in value)
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


def hyperparam_names(transform: GradientTransformation) -> tuple[str, ...]:
    """The names of ``transform``'s numeric hyperparameters (the keys of its state's ``hyperparams``)."""
    return tuple(jax.eval_shape(transform.init, _PROBE_PARAM).hyperparams)


def static_key(arguments: dict[str, Any], names: tuple[str, ...]) -> tuple:
    """What a compiled step bakes in for a transform's ``arguments``: the non-numeric values, and
    which numbers of the hyperparameters ``names`` are 0."""
    return tuple((k, zero_pattern(v) if k in names else hashable(v)) for k, v in arguments.items())


def device_hyperparams(values: dict[str, Any], names: tuple[str, ...], dtype: Any) -> dict[str, Any]:
    """The hyperparameters ``names`` of ``values`` as the compiled step's arguments (:func:`on_device`)."""
    mesh = jax.sharding.get_mesh()  # once, not per number
    return {name: on_device(values[name], dtype, mesh) for name in names}


@functools.cache
def factory_parameters(factory: Callable) -> dict[str, inspect.Parameter]:
    """The parameters of a transform factory's signature (``functional_optim.adam``'s ``lr``, ...), by name."""
    return dict(inspect.signature(factory).parameters)


def factory_kwargs(factory: Callable, values: dict[str, Any]) -> dict[str, Any]:
    """The entries of ``values`` that ``factory`` takes as arguments: what it is called with."""
    return {k: values[k] for k in factory_parameters(factory) if k in values}
