"""L-BFGS's vectors: trees shaped like the params, each leaf keeping its sharding, and rings of them.

torch concatenates the parameters into one flat vector; here a *vector* is a tree like the
params (their real views, in one dtype) and is never concatenated, so a dot product is each
leaf's sum of products, the leaves' sums added in order. A *ring* is a vector whose leaves have
a leading axis of rows (the curvature memory, the line search's bracket).
:func:`flatten_vectors` and :func:`unflatten_vectors` convert to and from torch's flat layout.
"""

from __future__ import annotations

import functools
import math
import operator

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from functional_optim.elementwise import zeros_placed_like
from functional_optim.hyperparams import to_real
from functional_optim.transform import Params


def from_params(real_params: Params) -> Params:
    """The params' real views as a vector: in their promoted dtype (torch's flat vector's)."""
    dtype = jnp.result_type(*jax.tree.leaves(real_params))
    return jax.tree.map(lambda x: x.astype(dtype), real_params)


def dot(a: Params, b: Params) -> jax.Array:
    """torch's ``flat_a.dot(flat_b)``: each leaf's sum of products, the leaves' sums added in order."""
    return functools.reduce(operator.add, [jnp.sum(x * y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b))])


def abs_sum(v: Params) -> jax.Array:
    """torch's ``flat_v.abs().sum()``: the leaves' sums added in order."""
    return functools.reduce(operator.add, [jnp.sum(jnp.abs(x)) for x in jax.tree.leaves(v)])


def abs_max(v: Params) -> jax.Array:
    """torch's ``flat_v.abs().max()`` (0 for a vector with no entries)."""
    return functools.reduce(jnp.maximum, [jnp.max(jnp.abs(x), initial=0) for x in jax.tree.leaves(v)])


def axpy(alpha: jax.Array, x: Params, y: Params) -> Params:
    """``y + alpha * x``, torch's ``y.add(x, alpha=alpha)``."""
    return jax.tree.map(lambda x, y: y + alpha * x, x, y)


def scale(v: Params, alpha: jax.Array) -> Params:
    """``v * alpha``, torch's ``v.mul(alpha)``."""
    return jax.tree.map(lambda x: x * alpha, v)


def where(condition: jax.Array, a: Params, b: Params) -> Params:
    """``a`` where ``condition`` holds, else ``b`` (a scalar condition picks a whole vector)."""
    return jax.tree.map(lambda a, b: jnp.where(condition, a, b), a, b)


def stack(a: Params, b: Params) -> Params:
    """A ring of two rows, ``a`` and ``b``."""
    return jax.tree.map(lambda a, b: jnp.stack([a, b]), a, b)


def row(ring: Params, i: jax.Array) -> Params:
    """Row ``i`` of ``ring``, a vector."""
    return jax.tree.map(lambda r: lax.dynamic_index_in_dim(r, i, keepdims=False), ring)


def set_row(ring: Params, i: jax.Array, v: Params) -> Params:
    """A copy of ``ring`` with row ``i`` replaced by the vector ``v``."""
    return jax.tree.map(lambda r, x: lax.dynamic_update_index_in_dim(r, x, i, 0), ring, v)


def zeros_ring(x: jax.Array, rows: int) -> jax.Array:
    """Zeros of shape ``(rows, *x.shape)``, sharded like ``x`` on its axes (as ``zeros_like`` for a ring)."""
    return zeros_placed_like(x, (rows, *jnp.shape(x)), lambda entries: [None, *entries])


def flatten_vectors(vectors: Params, batch_dims: int = 0) -> jax.Array:
    """A vector of :class:`~functional_optim.LBFGSState` (``d``, ``prev_flat_grad``) as torch's flat vector.

    With ``batch_dims=1``, a ring (``old_dirs``, ``old_stps``) as a ``(history_size, n)`` array
    of flat rows. The leaves are concatenated in order, so use it outside a sharded step.
    """
    leaves = [
        leaf.reshape(*leaf.shape[:batch_dims], math.prod(leaf.shape[batch_dims:])) for leaf in jax.tree.leaves(vectors)
    ]
    return jnp.concatenate(leaves, axis=-1)


def unflatten_vectors(flat: jax.Array, params: Params) -> Params:
    """The inverse of :func:`flatten_vectors`: torch's flat vector (or rows of them) as a vector of ``params``.

    ``flat`` keeps its dtype; its axes before the last are kept as leading axes of every leaf.
    """
    shapes = jax.eval_shape(lambda p: jax.tree.map(to_real, p), params)
    sizes = [math.prod(leaf.shape) for leaf in jax.tree.leaves(shapes)]
    pieces = jnp.split(flat, np.cumsum(sizes)[:-1].tolist(), axis=-1) if sizes else []
    leaves = [piece.reshape(*flat.shape[:-1], *leaf.shape) for piece, leaf in zip(pieces, jax.tree.leaves(shapes))]
    return jax.tree.unflatten(jax.tree.structure(shapes), leaves)
