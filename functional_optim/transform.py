"""The transform contract: ``init(params) -> state``, ``update(grads, state, params) -> (updates, state)``.

A :class:`GradientTransformation` is a pair of pure functions over parameter pytrees:

* ``init(params) -> state`` builds the optimizer state for a tree of parameters;
* ``update(grads, state, params=None) -> (updates, new_state)`` turns gradients into
  *updates*, the amounts to add to the parameters, and returns the next state.

``params + updates`` (:func:`apply_updates`) is the parameter after the step. The pair is
structurally optax's ``GradientTransformation``, so transforms from either library compose
with ``optax.chain`` and :func:`chain` alike, and everything runs under ``jax.jit``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from functional_optim.elementwise import compute_dtype

Params = Any
Updates = Any
OptState = Any


class GradientTransformation(NamedTuple):
    """A pair of pure functions ``(init, update)``; see the module docstring."""

    init: Callable[[Params], OptState]
    update: Callable[..., tuple[Updates, OptState]]


def apply_updates(params: Params, updates: Updates) -> Params:
    """Returns ``params + updates`` leaf by leaf, in each parameter's dtype.

    ``None`` leaves stay ``None``. An update is cast to its parameter's dtype before the add,
    except for half-precision (bfloat16, float16) parameters, which are added in float32 and
    rounded once: the float32 update ``new - old`` of a functional_optim algorithm then gives
    ``new`` back exactly.
    """

    def apply(p: Any, u: Any) -> jax.Array:
        dtype = jnp.result_type(p)
        if not jnp.issubdtype(dtype, jnp.floating):
            return p + jnp.asarray(u, dtype)
        cdtype = compute_dtype(dtype)
        return (jnp.asarray(p, cdtype) + jnp.asarray(u, cdtype)).astype(dtype)

    return jax.tree.map(apply, params, updates)


def chain(*transforms: GradientTransformation) -> GradientTransformation:
    """Applies ``transforms`` one after another; the state is the tuple of their states.

    Any object with ``init`` and ``update`` methods works, optax's transforms included. Extra
    keyword arguments to ``update`` (optax's ``extra_args``) are not forwarded.
    """

    def init(params: Params) -> tuple[OptState, ...]:
        return tuple(t.init(params) for t in transforms)

    def update(
        grads: Updates, state: tuple[OptState, ...], params: Params | None = None
    ) -> tuple[Updates, tuple[OptState, ...]]:
        if len(state) != len(transforms):
            raise ValueError(
                f"chain: got a state of {len(state)} entries for {len(transforms)} transforms; "
                "build the state with this chain's init"
            )
        new_state = []
        for transform, inner_state in zip(transforms, state):
            grads, inner_state = transform.update(grads, inner_state, params)
            new_state.append(inner_state)
        return grads, tuple(new_state)

    return GradientTransformation(init, update)
