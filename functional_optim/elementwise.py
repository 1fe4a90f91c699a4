"""Per-parameter building blocks: lifting array maths to pytrees, and torch's elementwise ops.

Algorithms compute their scalars once per step (in the scalar dtype, see
:mod:`functional_optim.hyperparams`) and describe the rest as a function of one parameter's
arrays. :func:`per_param` maps that function over the trees, handing it the scalars already
cast to the parameter's compute dtype, as torch casts a Python scalar when it meets a tensor.
The helpers below reproduce the rounding of the torch ops the algorithms are written in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp


def compute_dtype(dtype: jnp.dtype) -> jnp.dtype:
    """The dtype torch does a tensor's arithmetic in: float32 for half types (its opmath)."""
    return jnp.promote_types(dtype, jnp.float32) if jnp.finfo(dtype).bits < 32 else jnp.dtype(dtype)


def per_param(
    fn: Callable[..., tuple[jax.Array, ...]], scalars: dict[str, Any], params: Any, *trees: Any
) -> tuple[Any, ...]:
    """Maps ``fn(scalars, param, *leaves) -> outputs`` over parameter trees.

    Args:
      fn: one parameter's maths. It receives ``scalars`` cast to the parameter's compute dtype,
        the parameter and the matching leaf of each tree in ``trees`` (or None where that tree
        is None), all in the compute dtype, and returns a tuple of arrays.
      scalars: a dict of 0-d arrays shared by every parameter.
      params: the parameter tree; the other trees have its structure or are None.
      *trees: grads and per-parameter state trees.

    Returns:
      One tree per output of ``fn``, each leaf cast back to its parameter's dtype; an output
      that is None for every parameter comes back as None.
    """

    def leaf_fn(param: jax.Array, *leaves: jax.Array | None) -> tuple[jax.Array | None, ...]:
        dtype = jnp.result_type(param)
        cdtype = compute_dtype(dtype)
        cast_scalars = jax.tree.map(lambda s: s.astype(cdtype) if jnp.issubdtype(s.dtype, jnp.floating) else s, scalars)
        cast_leaves = [None if x is None else jnp.asarray(x, cdtype) for x in leaves]
        outputs = fn(cast_scalars, jnp.asarray(param, cdtype), *cast_leaves)
        return tuple(None if out is None else out.astype(dtype) for out in outputs)

    leaves_def = jax.tree.structure(params)
    columns = [jax.tree.leaves(params)]
    for tree in trees:
        columns.append([None] * leaves_def.num_leaves if tree is None else leaves_def.flatten_up_to(tree))
    rows = [leaf_fn(*row) for row in zip(*columns)]
    if not rows:  # no parameters: trace fn once on a dummy to learn how many outputs it has
        rows_shape = jax.eval_shape(leaf_fn, jnp.zeros(()), *[None if t is None else jnp.zeros(()) for t in trees])
        return tuple(None for _ in rows_shape)
    num_outputs = len(rows[0])
    outputs = []
    for i in range(num_outputs):
        column = [row[i] for row in rows]
        outputs.append(None if all(x is None for x in column) else leaves_def.unflatten(column))
    return tuple(outputs)


def lerp(start: jax.Array, end: jax.Array, weight: jax.Array) -> jax.Array:
    """torch.lerp's rounding: ``start + w (end - start)`` for ``|w| < 0.5``, else ``end - (end - start)(1 - w)``."""
    diff = end - start
    return jnp.where(jnp.abs(weight) < 0.5, start + weight * diff, end - diff * (1 - weight))


def maximize_and_decay(grad: jax.Array, param: jax.Array, weight_decay: jax.Array, maximize: bool) -> jax.Array:
    """torch's gradient preamble: negate if ``maximize``, then add L2 decay ``weight_decay * param``."""
    grad = -grad if maximize else grad
    return grad + weight_decay * param
