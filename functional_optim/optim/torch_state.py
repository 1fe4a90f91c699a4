"""torch's state-dict layout: the optimizer's state dict, and per-parameter dicts <-> the transforms' states.

An optimizer's ``state_dict()`` is ``{"state": {index: {...}}, "param_groups": [{..., "params":
[indices]}]}``, the Parameters numbered across groups in order: :func:`packed_state_dict` packs
it and :func:`unpacked_state_dict` checks a loaded one and matches it to the live groups.

torch keeps a Parameter's state as a dict (``{"step": ..., "exp_avg": ...}``), complex state
complex; a transform keeps a NamedTuple of the same keys, complex state as its real view.
"""

from __future__ import annotations

import copy
import itertools
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from functional_optim.hyperparams import from_real, to_real
from functional_optim.parameter import Parameter

StateDict = dict[str, Any]


def packed_state_dict(param_groups: list[dict[str, Any]], state: dict[Any, dict[str, Any]]) -> StateDict:
    """torch's ``Optimizer.state_dict()`` of ``param_groups`` and ``state``: Parameters as their indices.

    Indices number the Parameters across groups in order (a Parameter listed twice keeps its first).
    The per-parameter dicts are ``state``'s own, not copies.
    """
    index: dict[Parameter, int] = {}
    packed_groups = []
    start = 0
    for group in param_groups:
        packed = {k: v for k, v in group.items() if k != "params"}
        for i, p in enumerate(group["params"], start):
            index.setdefault(p, i)
        packed["params"] = [index[p] for p in group["params"]]
        start += len(group["params"])
        packed_groups.append(packed)
    packed_state = {index[k] if isinstance(k, Parameter) else k: v for k, v in state.items()}
    return {"state": packed_state, "param_groups": packed_groups}


def unpacked_state_dict(
    state_dict: StateDict,
    param_groups: list[dict[str, Any]],
    loaded_group: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]],
    loaded_param_state: Callable[[Any, Parameter, dict[str, Any], Any, dict[tuple, Any]], dict[str, Any]],
) -> tuple[list[dict[str, Any]], defaultdict[Any, dict[str, Any]]]:
    """The param groups and state that loading ``state_dict`` (torch's layout) over ``param_groups`` gives.

    Checks the layout and the groups' sizes, with torch's messages, and matches the saved
    Parameters to the live ones by position. ``loaded_group(group, saved)`` makes each (deep-copied)
    saved group, ``loaded_param_state(fields, param, group, key, templates)`` each Parameter's
    state, ``templates`` being a cache for this load; a saved state of no Parameter is kept as it is.
    Changes nothing: the caller installs the result.
    """
    if not isinstance(state_dict.get("state"), dict) or not isinstance(state_dict.get("param_groups"), list):
        raise ValueError(
            "a state_dict needs a 'state' dict and a 'param_groups' list (the layout of Optimizer.state_dict()), "
            f"but got the keys {list(state_dict)}"
        )
    saved_groups = copy.deepcopy(state_dict["param_groups"])
    if len(saved_groups) != len(param_groups):
        raise ValueError("loaded state dict has a different number of parameter groups")
    if any(len(g["params"]) != len(s["params"]) for g, s in zip(param_groups, saved_groups)):
        raise ValueError(
            "loaded state dict contains a parameter group that doesn't match the size of optimizer's group"
        )

    id_map = dict(
        zip(
            itertools.chain.from_iterable(saved["params"] for saved in saved_groups),
            itertools.chain.from_iterable(group["params"] for group in param_groups),
        )
    )
    groups = [loaded_group(group, saved) for group, saved in zip(param_groups, saved_groups)]
    group_of = {p: group for group in groups for p in group["params"]}
    templates: dict[tuple, Any] = {}  # the state tx.init makes, per group and parameter shape and dtype
    state: defaultdict[Any, dict[str, Any]] = defaultdict(dict)
    for key, fields in state_dict["state"].items():
        if key not in id_map:
            state[key] = fields
            continue
        p = id_map[key]
        state[p] = loaded_param_state(fields, p, group_of[p], key, templates)
    return groups, state


def loaded_group(group: dict[str, Any], saved: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """A saved group with ``group``'s live Parameters; missing keys take ``defaults`` (torch's ``__setstate__``)."""
    saved["params"] = group["params"]
    if "param_names" in group:
        saved.setdefault("param_names", group["param_names"])
    for name, default in defaults.items():
        saved.setdefault(name, default)
    return saved


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


def placed_like(loaded: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """``loaded``'s arrays each on the sharding of ``current``'s array of its name, where their shapes agree."""
    return {k: moved(v, current[k].sharding) if _same_shape(v, current.get(k)) else v for k, v in loaded.items()}


def _same_shape(value: Any, like: Any) -> bool:
    return isinstance(value, jax.Array) and isinstance(like, jax.Array) and value.shape == like.shape


def moved(value: jax.Array, sharding: jax.sharding.Sharding) -> jax.Array:
    """``value`` on ``sharding`` (itself if it is there already)."""
    return value if value.sharding == sharding else jax.device_put(value, sharding)


def state_arrays(fields: dict[str, Any]) -> dict[str, jax.Array]:
    """The array entries of a per-parameter state dict (torch keeps Python numbers there too):
    ``fields`` itself when they are all arrays, as usual (a step makes no dict per Parameter)."""
    if all(isinstance(v, jax.Array) for v in fields.values()):
        return fields
    return {k: v for k, v in fields.items() if isinstance(v, jax.Array)}
