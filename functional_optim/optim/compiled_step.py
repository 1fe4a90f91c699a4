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


def jitted_step(
    transforms: Sequence[GradientTransformation],
    layouts: tuple | None,
    batches: tuple | None = None,
) -> Callable:
    """:func:`apply_transforms` of ``transforms``, ``layouts`` and ``batches``, compiled, the
    parameters' and states' buffers donated:
    ``step(data, grads, states, hyperparams, counts) -> (new data, new states)``.

    The body is looked up when the step is traced (a test may count the traces).
    """

    def step(*arguments: Any) -> Any:
        return apply_transforms(transforms, layouts, batches, *arguments)

    return jax.jit(step, donate_argnums=(0, 2))


def apply_transforms(transforms, layouts, batches, data, grads, states, hyperparams, counts):
    """The body of the compiled step: the transform's step for each group's Parameters with grads.

    Args (nested lists, group by group): the transforms; static layouts, None or per Parameter
    ``(param sharding, state sharding)`` (see :func:`~functional_optim.optim.zero1`); static
    batches, None (each Parameter alone) or per group tuples of Parameter indices stepped as one
    tree (see :mod:`~functional_optim.optim.step_batches`; not with layouts); parameter arrays
    (donated), grads, torch-style state dicts of arrays (donated), hyperparameters and counts.
    Returns the new parameters and state dicts.
    """
    new_data, new_states = [], []
    for group_index, (tx, group_data, group_grads, group_states, group_hyperparams, group_counts) in enumerate(
        zip(transforms, data, grads, states, hyperparams, counts)
    ):
        group_hyperparams = as_scalars(group_hyperparams)
        templates = {}  # which state fields the transform keeps, per parameter shape and dtype

        def algorithm_state(param, fields, tx=tx, templates=templates):
            signature = (param.shape, param.dtype)
            if signature not in templates:
                templates[signature] = jax.eval_shape(tx.init, param).inner_state
            return inner_state(templates[signature], fields)

        if layouts is not None:
            results = [
                _sharded_step(tx, group_hyperparams, algorithm_state, *arguments)
                for arguments in zip(group_data, group_grads, group_states, group_counts, layouts[group_index])
            ]
        else:
            results = [None] * len(group_data)
            group_batches = batches[group_index] if batches is not None else [(i,) for i in range(len(group_data))]
            for batch in group_batches:
                batch_results = _batch_step(
                    tx,
                    group_hyperparams,
                    algorithm_state,
                    *([column[i] for i in batch] for column in (group_data, group_grads, group_states, group_counts)),
                )
                for i, result in zip(batch, batch_results):
                    results[i] = result
        new_data.append([new_param for new_param, _ in results])
        new_states.append([new_fields for _, new_fields in results])
    return new_data, new_states


def _count(fields: dict[str, jax.Array], count: jax.Array) -> jax.Array:
    """The step count a transform's state holds: torch's ``step`` where the state has one."""
    return fields["step"].astype(jnp.int32) if "step" in fields else count


def _batch_step(tx, hyperparams, algorithm_state, params, grads, fields, counts):
    """One step of ``params`` (a list, whose states hold equal per-tree numbers) as one tree.

    Returns ``(new param, new state dict)`` per parameter.
    """
    own_states = [algorithm_state(param, own_fields) for param, own_fields in zip(params, fields)]
    tree_template = jax.eval_shape(tx.init, params).inner_state

    def tree_field(name: str, value: Any) -> Any:  # a list per leaf, or the per-tree number (all equal)
        return [getattr(s, name) for s in own_states] if isinstance(value, list) else getattr(own_states[0], name)

    state = tree_template._replace(
        **{name: tree_field(name, value) for name, value in tree_template._asdict().items() if value is not None}
    )
    count = _count(fields[0], counts[0])
    new_params, new = apply_gradients(tx, list(grads), HyperparamsState(count, hyperparams, state), list(params))
    results = []
    for i, (param, own_fields, own_state) in enumerate(zip(params, fields, own_states)):
        new_own = own_state._replace(
            **{
                name: value[i] if isinstance(value, list) else value
                for name, value in new.inner_state._asdict().items()
                if value is not None
            }
        )
        results.append((new_params[i], {**own_fields, **torch_fields(new_own, param)}))
    return results


def _sharded_step(tx, hyperparams, algorithm_state, param, grad, fields, count, layout):
    """One Parameter's step on the slice of it whose state this device keeps (ZeRO-1); the new
    param all-gathered, the state left partitioned."""
    param, grad = constrain(param, layout[1]), _constrain_dense(grad, layout[1])
    new_param, new = apply_gradients(
        tx, grad, HyperparamsState(_count(fields, count), hyperparams, algorithm_state(param, fields)), param
    )
    new_fields = {**fields, **torch_fields(new.inner_state, param)}
    new_fields = {k: constrain(v, layout[1]) if v.shape == param.shape else v for k, v in new_fields.items()}
    return constrain(new_param, layout[0]), new_fields


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
