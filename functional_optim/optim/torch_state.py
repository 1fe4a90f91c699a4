"""torch's per-parameter state dicts and the transforms' state NamedTuples, each into the other.

torch keeps a Parameter's state as a dict (``{"step": ..., "exp_avg": ...}``), complex state
complex; a transform keeps a NamedTuple of the same keys, complex state as its real view.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from functional_optim.hyperparams import from_real, to_real
from functional_optim.parameter import Parameter


def loaded_state(fields: Any, param: Parameter, template: Any, key: Any) -> dict[str, Any]:
    """A saved per-parameter dict with its arrays copied, in the dtypes and shapes of ``template``."""
    if not isinstance(fields, dict):
        raise ValueError(f"loaded state dict has a {type(fields).__name__} as the state of parameter {key}, not a dict")
    loaded = {}
    for name, value in fields.items():
        expected = getattr(template, name, None)
        if isinstance(expected, jax.ShapeDtypeStruct):
            value = jnp.asarray(value)
            if to_real(value).shape != expected.shape:
                needed = jax.eval_shape(_torch_layout, expected, param.data).shape
                raise ValueError(
                    f"loaded state dict has {name!r} of shape {value.shape} for parameter {key}, which needs "
                    f"shape {needed} (the parameter's shape is {param.shape})"
                )
            value = _torch_layout(jnp.array(to_real(value), expected.dtype), param.data)
        elif isinstance(value, (jax.Array, np.ndarray, np.generic)):  # a key the transform does not use
            value = jnp.array(value, param.dtype if jnp.issubdtype(param.dtype, jnp.inexact) else None)
        loaded[name] = value
    return loaded


def inner_state(template: Any, fields: dict[str, jax.Array]) -> Any:
    """The transform's state NamedTuple from a torch-style dict; keys it does not keep are left out."""
    kept = [name for name, value in template._asdict().items() if value is not None]
    missing = [name for name in kept if name not in fields]
    if missing:
        raise KeyError(
            f"a parameter's state has no {missing}, which this configuration needs: it was created under other "
            f"options (e.g. RMSprop's momentum was 0 at its first step); torch raises a KeyError here too"
        )
    return template._replace(**{name: to_real(fields[name]) if name in kept else None for name in template._fields})


def torch_fields(inner_state: Any, param: jax.Array) -> dict[str, jax.Array]:
    """A transform's state NamedTuple as torch's dict: None fields left out, complex state complex."""
    return {name: _torch_layout(value, param) for name, value in inner_state._asdict().items() if value is not None}


def _torch_layout(value: jax.Array, param: jax.Array) -> jax.Array:
    """A complex parameter's state as torch keeps it: complex, of the parameter's shape (the
    transforms keep its real view, :func:`~functional_optim.hyperparams.to_real`)."""
    return from_real(value, param) if value.shape == (*jnp.shape(param), 2) else value


def same_shape(value: Any, like: Any) -> bool:
    return isinstance(value, jax.Array) and isinstance(like, jax.Array) and value.shape == like.shape


def moved(value: jax.Array, sharding: jax.sharding.Sharding) -> jax.Array:
    """``value`` on ``sharding`` (itself if it is there already)."""
    return value if value.sharding == sharding else jax.device_put(value, sharding)


def state_arrays(fields: dict[str, Any]) -> dict[str, jax.Array]:
    """The array entries of a per-parameter state dict (torch keeps Python numbers there too)."""
    return {k: v for k, v in fields.items() if isinstance(v, jax.Array)}
