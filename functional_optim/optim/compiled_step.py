"""The body of the torch-style step's one compiled call, and the copies that make its donation legal."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from functional_optim.hyperparams import HyperparamsState, as_scalars
from functional_optim.optim.step_batches import singletons
from functional_optim.optim.torch_state import inner_state, torch_fields
from functional_optim.sharding import constrain
from functional_optim.transform import GradientTransformation, apply_gradients


def jitted_step(
    transforms: Sequence[GradientTransformation],
    layouts: tuple | None,
    batches: tuple | None = None,
) -> Callable:
    """:func:`apply_transforms` of ``transforms``, ``layouts`` and ``batches``, compiled, the
    parameters' buffers and their states' per-leaf arrays donated:
    ``step(data, grads, states, hyperparams, shared) -> (new data, new states, new shared)``.

    The body is looked up when the step is traced (a test may count the traces).
    """

    def step(*arguments: Any) -> Any:
        return apply_transforms(transforms, layouts, batches, *arguments)

    return jax.jit(step, donate_argnums=(0, 2))


def apply_transforms(transforms, layouts, batches, data, grads, states, hyperparams, shared):
    """The body of the compiled step: the transform's step for each group's Parameters with grads.

    Args (nested lists, group by group): the transforms; static layouts, None or per Parameter
    ``(param sharding, state sharding)`` (see :func:`~functional_optim.optim.zero1`); static
    batches, None (each Parameter alone) or per group tuples of Parameter indices stepped as one
    tree (see :mod:`~functional_optim.optim.step_batches`; not with layouts); parameter arrays
    (donated) and grads, per Parameter; then per batch the torch-style state arrays kept per
    leaf, as columns ``{key: [array per Parameter]}`` (donated), the hyperparameters, and per
    batch ``(count, dict of the per-tree numbers)`` (not donated: the batch's Parameters share
    those arrays).
    Returns the new parameters, per-leaf state columns and per-tree ``(count, dict)``.
    """
    new_data, new_states, new_shared = [], [], []
    for group_index, (tx, group_data, group_grads, group_columns, group_hyperparams, group_shared) in enumerate(
        zip(transforms, data, grads, states, hyperparams, shared)
    ):
        group_hyperparams = as_scalars(group_hyperparams)
        templates = {}  # which state fields the transform keeps, per parameter shape and dtype

        def algorithm_state(param, fields, tx=tx, templates=templates):
            signature = (param.shape, param.dtype)
            if signature not in templates:
                templates[signature] = jax.eval_shape(tx.init, param).inner_state
            return inner_state(templates[signature], fields)

        group_batches = batches[group_index] if batches is not None else singletons(len(group_data))
        results = [None] * len(group_data)
        group_new_states, group_new_shared = [], []
        for batch, columns, batch_shared in zip(group_batches, group_columns, group_shared):
            fields = [{k: column[position] for k, column in columns.items()} for position in range(len(batch))]
            if layouts is not None:  # a batch of one
                (i,) = batch
                arguments = (group_data[i], group_grads[i], fields[0], batch_shared, layouts[group_index][i])
                batch_results = [_sharded_step(tx, group_hyperparams, algorithm_state, *arguments)]
            else:
                batch_results = _batch_step(
                    tx,
                    group_hyperparams,
                    algorithm_state,
                    [group_data[i] for i in batch],
                    [group_grads[i] for i in batch],
                    fields,
                    batch_shared,
                )
            for i, result in zip(batch, batch_results):
                results[i] = result
            new_fields = [own_fields for _, own_fields, _ in batch_results]
            group_new_states.append({k: [own_fields[k] for own_fields in new_fields] for k in new_fields[0]})
            group_new_shared.append(batch_results[0][2])
        new_data.append([new_param for new_param, _, _ in results])
        new_states.append(group_new_states)
        new_shared.append(group_new_shared)
    return new_data, new_states, new_shared


def _count(shared: tuple[jax.Array, dict[str, jax.Array]]) -> jax.Array:
    """The step count a transform's state holds: torch's ``step`` where the state has one."""
    count, numbers = shared
    return numbers["step"].astype(jnp.int32) if "step" in numbers else count


def _split(fields: dict[str, jax.Array], shared: tuple) -> tuple[dict[str, jax.Array], tuple]:
    """A new torch-style state dict as (per-leaf arrays, ``shared`` with the new per-tree numbers)."""
    count, numbers = shared
    return {k: v for k, v in fields.items() if k not in numbers}, (count, {k: fields[k] for k in numbers})


def _batch_step(tx, hyperparams, algorithm_state, params, grads, fields, shared):
    """One step of ``params`` (a list, whose states hold the per-tree numbers ``shared``) as one tree.

    Returns ``(new param, new per-leaf state dict, new shared)`` per parameter (the same new
    per-tree numbers for each).
    """
    own_states = [algorithm_state(param, {**own_fields, **shared[1]}) for param, own_fields in zip(params, fields)]
    tree_template = jax.eval_shape(tx.init, params).inner_state

    def tree_field(name: str, value: Any) -> Any:  # a list per leaf, or the per-tree number (all equal)
        return [getattr(s, name) for s in own_states] if isinstance(value, list) else getattr(own_states[0], name)

    state = tree_template._replace(
        **{name: tree_field(name, value) for name, value in tree_template._asdict().items() if value is not None}
    )
    tree_state = HyperparamsState(_count(shared), hyperparams, state)
    new_params, new = apply_gradients(tx, list(grads), tree_state, list(params))
    results = []
    for i, (param, own_fields, own_state) in enumerate(zip(params, fields, own_states)):
        new_own = own_state._replace(
            **{
                name: value[i] if isinstance(value, list) else value
                for name, value in new.inner_state._asdict().items()
                if value is not None
            }
        )
        new_fields, new_shared = _split({**own_fields, **torch_fields(new_own, param)}, shared)
        results.append((new_params[i], new_fields, new_shared))
    return results


def _sharded_step(tx, hyperparams, algorithm_state, param, grad, fields, shared, layout):
    """One Parameter's step on the slice of it whose state this device keeps (ZeRO-1); the new
    param all-gathered, the state left partitioned."""
    param, grad = constrain(param, layout[1]), _constrain_dense(grad, layout[1])
    state = algorithm_state(param, {**fields, **shared[1]})
    new_param, new = apply_gradients(tx, grad, HyperparamsState(_count(shared), hyperparams, state), param)
    new_fields, new_shared = _split({**fields, **torch_fields(new.inner_state, param)}, shared)
    new_fields = {k: constrain(v, layout[1]) if v.shape == param.shape else v for k, v in new_fields.items()}
    return constrain(new_param, layout[0]), new_fields, new_shared


def _constrain_dense(grad: Any, sharding: jax.sharding.Sharding) -> Any:
    """A dense grad laid out as ``sharding``; a sparse one (SparseAdam's BCOO) as it is."""
    return constrain(grad, sharding) if isinstance(grad, jax.Array) else grad


def unaliased(
    data: list[list[jax.Array]], states: list[list[dict[str, list[jax.Array]]]], grads: list[list[Any]]
) -> tuple[list[list[jax.Array]], list[list[dict[str, list[jax.Array]]]]]:
    """``data`` and ``states`` (state columns, see :func:`apply_transforms`; donated by a step)
    with a copy of each array also passed elsewhere.

    A buffer can be donated once, and not also passed undonated: ``p.grad = p.data``, or two
    Parameters made from one array (JAX arrays are values, so the two step independently).
    Without such an alias (the usual case) both come back as they are.
    """
    used = {id(g) for group in grads for g in group}
    donated = [id(x) for group in data for x in group]
    donated += [id(x) for group in states for columns in group for column in columns.values() for x in column]
    if used.isdisjoint(donated) and len(set(donated)) == len(donated):
        return data, states

    def distinct(x: jax.Array) -> jax.Array:
        if id(x) in used:
            return jnp.copy(x)
        used.add(id(x))
        return x

    return (
        [[distinct(x) for x in group] for group in data],
        [[{k: list(map(distinct, column)) for k, column in columns.items()} for columns in group] for group in states],
    )
