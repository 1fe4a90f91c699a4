r"""Gradient clipping as ``torch.nn.utils`` computes it: by total norm and by value.

``torch.nn.utils.clip_grad_norm_`` is the torch idiom between ``backward`` and ``step``. Its
maths, on a tree of gradients :math:`g_1, \dots, g_n` with ``max_norm`` :math:`c`:

.. math::

   \begin{aligned}
   N &= \big\|\,(\|g_1\|_p, \dots, \|g_n\|_p)\,\big\|_p
     &&\text{(each } \|g_i\|_p \text{ in } g_i\text{'s dtype, } N \text{ in their promotion)}\\
   s &= \min\!\big(1,\ (N + 10^{-6})^{-1} \cdot c\big) &&\text{(in } N\text{'s dtype)}\\
   g_i &\leftarrow g_i \cdot s &&\text{(} s \text{ cast to } g_i\text{'s dtype)}
   \end{aligned}

:func:`get_total_norm` and :func:`clip_grads_with_norm` are its two halves (torch's
``get_total_norm`` and ``clip_grads_with_norm_``, returning new arrays);
:func:`clip_grad_norm` and :func:`clip_grad_value` are the transforms to put in front of an
algorithm in :func:`~functional_optim.chain` (or ``optax.chain``)::

    tx = fo.chain(fo.clip_grad_norm(1.0), fo.adam(1e-3))   # torch's clip, then torch's Adam

:func:`functional_optim.clip_grad_norm_` and :func:`functional_optim.clip_grad_value_` do the
same in place on :class:`~functional_optim.Parameter` s' ``.grad``.

torch behaviours reproduced: a half-precision (bfloat16, float16) norm is computed in float32
and rounded to the grad's dtype, as torch's CPU norm is; :math:`s` is torch's
``clamp(max_norm / (total_norm + 1e-6), max=1.0)`` with torch's ``float / tensor`` order
(the reciprocal, then the product); a NaN or infinite norm scales the grads by NaN or 0 as
torch's does; ``norm_type`` may be any float, ``inf`` or ``-inf`` (``torch.linalg.vector_norm``'s
orders); an empty tree's norm is float32 0. Differences: the norms' sums are not added in the
order of torch's vectorised CPU loops, so they agree to rounding; optax's
``clip_by_global_norm`` differs from both in scaling by ``max_norm / norm`` without the
:math:`10^{-6}` and only when the norm exceeds ``max_norm``.
"""

from __future__ import annotations

import numbers
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from functional_optim.elementwise import compute_dtype
from functional_optim.transform import GradientTransformation, Params, Updates


def _norm_order(norm_type: Any) -> float:
    try:
        return float(norm_type)  # torch's float(norm_type): 'inf' works too
    except (TypeError, ValueError):
        raise TypeError(f"norm_type must be a number (or 'inf'), but got {norm_type!r}") from None


def _number(name: str, value: Any, hint: str = "") -> float:
    if isinstance(value, (numbers.Real, jax.Array, np.ndarray)) and not isinstance(value, bool) and np.ndim(value) == 0:
        return value
    raise TypeError(f"{name} must be a number, but got a {type(value).__name__}{hint}")


def _vector_norm(x: jax.Array, order: float) -> jax.Array:
    """``torch.linalg.vector_norm(x, order)``: computed in float32 for half types, then rounded."""
    dtype = jnp.finfo(x.dtype).dtype  # a complex array's norm is real
    return jnp.linalg.vector_norm(jnp.ravel(x).astype(compute_dtype(jnp.result_type(x))), ord=order).astype(dtype)


def get_total_norm(grads: Updates, norm_type: float = 2.0) -> jax.Array:
    """The ``norm_type``-norm of all of ``grads`` as one vector: torch's ``get_total_norm``.

    Each leaf's norm is taken in its own dtype, and the norm of those norms in their promoted
    dtype. ``None`` leaves are skipped; a tree without arrays has norm float32 0.
    """
    order = _norm_order(norm_type)
    norms = [_vector_norm(jnp.asarray(g), order) for g in jax.tree.leaves(grads)]
    if not norms:
        return jnp.zeros((), jnp.float32)
    dtype = jnp.result_type(*norms)
    return _vector_norm(jnp.stack([n.astype(dtype) for n in norms]), order)


def clip_grads_with_norm(grads: Updates, max_norm: float, total_norm: jax.Array) -> Updates:
    """``grads`` scaled by ``min(1, max_norm / (total_norm + 1e-6))``: torch's ``clip_grads_with_norm_``."""
    max_norm = _number("max_norm", max_norm)
    total_norm = jnp.asarray(total_norm)
    dtype = total_norm.dtype
    opmath = compute_dtype(dtype)

    def rounded(x: jax.Array) -> jax.Array:  # one torch op: computed in opmath, stored in dtype
        return x.astype(dtype)

    shifted = rounded(total_norm.astype(opmath) + jnp.asarray(1e-6, opmath))
    coefficient = rounded(rounded(1 / shifted.astype(opmath)).astype(opmath) * jnp.asarray(max_norm, opmath))
    coefficient = jnp.minimum(coefficient, jnp.ones((), dtype))

    def scale(g: jax.Array) -> jax.Array:
        g = jnp.asarray(g)
        real = jnp.finfo(g.dtype).dtype  # a complex grad is scaled by a real number
        factor = coefficient.astype(real).astype(compute_dtype(real))  # torch casts the scale to the grad's dtype
        return (g.astype(compute_dtype(g.dtype)) * factor).astype(g.dtype)

    return jax.tree.map(scale, grads)


def clip_by_value(grads: Updates, clip_value: float) -> Updates:
    """Each entry of ``grads`` clamped to ``[-clip_value, clip_value]``: torch's ``clip_grad_value_``.

    The bounds are cast to each grad's dtype (as torch's ``clamp`` casts a scalar); NaN stays
    NaN. Raises TypeError for a complex grad, which torch cannot clamp.
    """
    clip_value = _number("clip_value", clip_value)

    def clamp(path: Any, g: Any) -> jax.Array:
        g = jnp.asarray(g)
        if jnp.iscomplexobj(g):
            raise TypeError(
                f"clip_grad_value: the grad at {jax.tree_util.keystr(path) or 'the root'} is complex, "
                "and clamping is not supported for complex types (as in torch)"
            )
        low, high = jnp.asarray(-clip_value, g.dtype), jnp.asarray(clip_value, g.dtype)
        return jnp.minimum(jnp.maximum(g, low), high)

    return jax.tree_util.tree_map_with_path(clamp, grads)


class ClipGradNormState(NamedTuple):
    """:func:`clip_grad_norm`'s state.

    Attributes:
      total_norm: the total norm of the last update's grads (torch's return value), in the
        grads' promoted real dtype; 0 before the first update.
    """

    total_norm: jax.Array


def clip_grad_norm(max_norm: float, norm_type: float = 2.0) -> GradientTransformation:
    """``torch.nn.utils.clip_grad_norm_`` as a transform: scales the grads to a total norm of at most ``max_norm``.

    .. math::

       s = \\min\\!\\big(1,\\ c / (N + 10^{-6})\\big),\\qquad
       N = \\big\\|(\\|g_1\\|_p, \\dots, \\|g_n\\|_p)\\big\\|_p,\\qquad g_i \\leftarrow s\\, g_i

    Args:
      max_norm: :math:`c`, the largest total norm the grads keep.
      norm_type: :math:`p`, the order of the norms (a float, ``inf`` or ``-inf``).

    Returns:
      A :class:`~functional_optim.GradientTransformation` whose updates are the clipped grads
      and whose state (:class:`ClipGradNormState`) holds the last total norm.

    Example::

        tx = fo.chain(fo.clip_grad_norm(1.0), fo.adamw(1e-3))

    torch behaviours reproduced: see :mod:`functional_optim.clipping`.
    """
    max_norm = _number("max_norm", max_norm, hint=" (to clip Parameters' .grad in place, use fo.clip_grad_norm_)")
    order = _norm_order(norm_type)

    def init(params: Params) -> ClipGradNormState:
        real = [jnp.finfo(jnp.result_type(p)).dtype for p in jax.tree.leaves(params)]
        return ClipGradNormState(jnp.zeros((), jnp.result_type(*real) if real else jnp.float32))

    def update(
        grads: Updates, state: ClipGradNormState, params: Params | None = None
    ) -> tuple[Updates, ClipGradNormState]:
        del params
        total_norm = get_total_norm(grads, order)
        return clip_grads_with_norm(grads, max_norm, total_norm), ClipGradNormState(
            total_norm.astype(state.total_norm.dtype)
        )

    return GradientTransformation(init, update)


def clip_grad_value(clip_value: float) -> GradientTransformation:
    """``torch.nn.utils.clip_grad_value_`` as a transform: clamps every grad entry to ``[-clip_value, clip_value]``.

    Args:
      clip_value: the largest magnitude a grad entry keeps.

    Returns:
      A stateless :class:`~functional_optim.GradientTransformation` (its state is ``()``).

    Example::

        tx = fo.chain(fo.clip_grad_value(0.5), fo.sgd(0.1, momentum=0.9))
    """
    clip_value = _number(
        "clip_value", clip_value, hint=" (to clip Parameters' .grad in place, use fo.clip_grad_value_)"
    )

    def init(params: Params) -> tuple:
        del params
        return ()

    def update(grads: Updates, state: tuple, params: Params | None = None) -> tuple[Updates, tuple]:
        del params
        return clip_by_value(grads, clip_value), state

    return GradientTransformation(init, update)
