"""The body of the torch-style step's one compiled call, and the copies that make its donation legal."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from functional_optim.hyperparams import HyperparamsState, as_scalars
from functional_optim.optim.torch_state import inner_state, torch_fields
from functional_optim.sharding import constrain
from functional_optim.transform import GradientTransformation, apply_gradients


def jitted_step(transforms: Sequence[GradientTransformation], layouts: tuple | None) -> Callable:
    """:func:`apply_transforms` of ``transforms`` and ``layouts``, compiled, the parameters' and states'
    buffers donated: ``step(data, grads, states, hyperparams, counts) -> (new data, new states)``.

    The body is looked up when the step is traced (a test may count the traces).
    """

    def step(*arguments: Any) -> Any:
        return apply_transforms(transforms, layouts, *arguments)

    return jax.jit(step, donate_argnums=(0, 2))


def apply_transforms(transforms, layouts, data, grads, states, hyperparams, counts):
    """The body of the compiled step: the transform's step for each group's Parameters with grads.

    Args (nested lists, group by group): the transforms; static layouts, None or per Parameter
    ``(param sharding, state sharding)`` (see :func:`~functional_optim.optim.zero1`); parameter
    arrays (donated), grads, torch-style state dicts of arrays (donated), hyperparameters and
    counts. Returns the new parameters and state dicts.
    """
    new_data, new_states = [], []
    for group_index, (tx, group_data, group_grads, group_states, group_hyperparams, group_counts) in enumerate(
        zip(transforms, data, grads, states, hyperparams, counts)
    ):
        group_hyperparams = as_scalars(group_hyperparams)
        group_layouts = layouts[group_index] if layouts is not None else [None] * len(group_data)
        templates = {}  # which state fields the transform keeps, per parameter shape and dtype
        new_data.append([])
        new_states.append([])
        for param, grad, fields, count, layout in zip(
            group_data, group_grads, group_states, group_counts, group_layouts
        ):
            if layout is not None:  # update the slice of the param that this device keeps the state of
                param, grad = constrain(param, layout[1]), _constrain_dense(grad, layout[1])
            signature = (param.shape, param.dtype)
            if signature not in templates:
                templates[signature] = jax.eval_shape(tx.init, param).inner_state
            algorithm_state = inner_state(templates[signature], fields)
            if "step" in fields:
                count = fields["step"].astype(jnp.int32)
            new_param, new = apply_gradients(
                tx, grad, HyperparamsState(count, group_hyperparams, algorithm_state), param
            )
            new_fields = {**fields, **torch_fields(new.inner_state, param)}
            if layout is not None:  # all-gather the new param; the state stays partitioned
                new_fields = {
                    k: constrain(v, layout[1]) if v.shape == param.shape else v for k, v in new_fields.items()
                }
                new_param = constrain(new_param, layout[0])
            new_data[-1].append(new_param)
            new_states[-1].append(new_fields)
    return new_data, new_states


def _constrain_dense(grad: Any, sharding: jax.sharding.Sharding) -> Any:
    """A dense grad laid out as ``sharding``; a sparse one (SparseAdam's BCOO) as it is."""
    return constrain(grad, sharding) if isinstance(grad, jax.Array) else grad


def unaliased(
    data: list[list[jax.Array]], states: list[list[dict[str, jax.Array]]], grads: list[list[Any]]
) -> tuple[list[list[jax.Array]], list[list[dict[str, jax.Array]]]]:
    """``data`` and ``states`` (donated by a step) with a copy of each array also passed elsewhere.

    A buffer can be donated once, and not also passed undonated: ``p.grad = p.data``, or two
    Parameters made from one array (JAX arrays are values, so the two step independently).
    Without such an alias (the usual case) both come back as they are, dicts in their order.
    """
    used = {id(g) for group in grads for g in group}
    donated = [id(x) for group in data for x in group]
    donated += [id(x) for group in states for fields in group for x in fields.values()]
    if used.isdisjoint(donated) and len(set(donated)) == len(donated):
        return data, states

    def distinct(x: jax.Array) -> jax.Array:
        if id(x) in used:
            return jnp.copy(x)
        used.add(id(x))
        return x

    return (
        [[distinct(x) for x in group] for group in data],
        [[{k: distinct(v) for k, v in fields.items()} for fields in group] for group in states],
    )
