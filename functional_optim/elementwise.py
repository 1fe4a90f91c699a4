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
from jax.sharding import Mesh, NamedSharding, PartitionSpec


def compute_dtype(dtype: jnp.dtype) -> jnp.dtype:
    """The dtype torch does a tensor's arithmetic in: float32 for half types (its opmath)."""
    return jnp.promote_types(dtype, jnp.float32) if jnp.finfo(dtype).bits < 32 else jnp.dtype(dtype)


class Rounding:
    """How torch stores a value computed in float32 into a tensor of ``dtype``: see :func:`storage_rounding`.

    Calling it rounds; :meth:`hold` makes later ops read the stored result. A ``dtype`` of None
    stands for a tensor torch computes in directly (float32/float64): both are then identities.
    """

    def __init__(self, dtype: jnp.dtype | None) -> None:
        self.dtype = None if dtype is None else jnp.dtype(dtype)

    @property
    def rounds(self) -> bool:
        """Whether it rounds at all: False for float32/float64, which torch computes in directly."""
        return self.dtype is not None

    def __call__(self, x: jax.Array) -> jax.Array:
        if not self.rounds:
            return x
        info = jnp.finfo(self.dtype)
        rounded = jax.lax.reduce_precision(x, exponent_bits=info.nexp, mantissa_bits=info.nmant)
        if info.nexp >= 8:  # float32's exponent range: its subnormals are the storage type's too
            return rounded
        quantum = 2.0 ** (info.minexp - info.nmant)  # the smallest subnormal; scaling by it is exact
        subnormal = jnp.abs(x) < info.smallest_normal
        return jnp.where(subnormal, jnp.round(x / quantum) * quantum, rounded)  # round half to even

    def hold(self, *values: jax.Array | None) -> tuple[jax.Array | None, ...]:
        """Half-precision values the step stores and then reads again, read back as stored.

        A later op of the step (Adam's parameter update reading the new moments) would
        otherwise take the float32 value before the cast to ``dtype``, which no output holds, so
        XLA:CPU fuses its whole recomputation from the old state into that op and must copy the
        old state before the donated buffer is overwritten. An optimisation barrier on the
        ``dtype`` values keeps XLA's simplifier from folding the cast round trip away; XLA:CPU
        then removes the barrier before fusing, and its fusion reads a stored bfloat16 tensor
        instead of recomputing it (a float16 one it still duplicates, so those steps still copy).
        The values are unchanged (already rounded); None passes through. Only on CPU: XLA's GPU
        and TPU backends fuse a parameter's whole step into one kernel, which a barrier would split.
        """
        if not self.rounds:
            return values
        present = [x.astype(self.dtype) for x in values if x is not None]
        held = iter(jax.lax.platform_dependent(*present, cpu=_barrier, default=lambda *stored: stored))
        return tuple(None if x is None else next(held).astype(x.dtype) for x in values)


def _barrier(*values: jax.Array) -> tuple[jax.Array, ...]:
    return jax.lax.optimization_barrier(values)


no_rounding = Rounding(None)
"""The :func:`storage_rounding` of a dtype torch computes in directly: the identity."""


def storage_rounding(dtype: jnp.dtype) -> Rounding:
    """Rounds a compute-dtype value as storing it into a ``dtype`` tensor does; identity unless ``dtype`` is half.

    torch computes a bfloat16/float16 tensor op in float32 and rounds its result to the
    tensor's dtype, so a chain of ops rounds after each one. For half dtypes this returns that
    rounding as an explicit ``reduce_precision`` (XLA keeps it, where it may drop a plain
    ``astype`` round trip under its excess-precision setting); ``reduce_precision`` flushes
    float16 subnormals, so those are rounded to multiples of the smallest subnormal instead.
    For other dtypes (compute dtype = storage dtype) it is :data:`no_rounding`, which emits no op.
    """
    return no_rounding if compute_dtype(dtype) == jnp.dtype(dtype) else Rounding(dtype)


def _fma_half(x: jax.Array, half: jax.Array, addend: jax.Array) -> jax.Array:
    """``x * half + addend`` rounded once, in float32, for a ``half`` holding a bfloat16/float16 value.

    torch's vectorised CPU kernels fuse some multiply-adds (``addcmul``) for half-precision
    tensors. XLA has no fused multiply-add op, so it is built from exact pieces: ``x`` splits
    into two 12-bit halves whose products with an (at most 11-bit) ``half`` are exact.
    """
    high, low = _split(x)
    return _sum_rounded_once(addend, high * half, low * half)


def _fma(x: jax.Array, y: jax.Array, addend: jax.Array) -> jax.Array:
    """``x * y + addend`` rounded once, in float32, for any float32 ``x`` and ``y``.

    The product's rounding error is exact from the 12-bit halves of both factors (Dekker) and
    goes into the single rounding, as in :func:`_fma_half`.
    """
    (x_high, x_low), (y_high, y_low) = _split(x), _split(y)
    product = x * y
    product_error = ((x_high * y_high - product) + x_high * y_low + x_low * y_high) + x_low * y_low
    return _sum_rounded_once(addend, product, product_error)


def _split(x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``x = high + low`` exactly, ``high`` keeping the top 12 significand bits of a float32 ``x``."""
    high = jax.lax.bitcast_convert_type(jax.lax.bitcast_convert_type(x, jnp.uint32) & jnp.uint32(0xFFFFF000), x.dtype)
    return high, x - high


def _sum_rounded_once(addend: jax.Array, product: jax.Array, product_error: jax.Array) -> jax.Array:
    """``addend + (product + product_error)`` with one rounding, for a small ``product_error``.

    A two-sum recovers the rounding error of ``addend + product`` exactly and carries it,
    with ``product_error``, into the last addition. An infinite or NaN sum is returned as it is
    (the two-sum would turn ``inf`` into ``inf - inf = NaN``), as a fused multiply-add gives it.
    """
    total = addend + product
    total_part = total - addend
    error = (addend - (total - total_part)) + (product - total_part)
    return jax.lax.select(jnp.isfinite(total), total + (error + product_error), total)


def per_param(
    fn: Callable[..., tuple[jax.Array, ...]],
    scalars: dict[str, Any],
    params: Any,
    *trees: Any,
    with_store: bool = False,
) -> tuple[Any, ...]:
    """Maps ``fn(scalars, param, *leaves) -> outputs`` over parameter trees.

    Args:
      fn: one parameter's maths. It receives ``scalars`` cast to the parameter's compute dtype,
        the parameter and the matching leaf of each tree in ``trees`` (or None where that tree
        is None), all in the compute dtype, and returns a tuple of arrays. With ``with_store``
        it also gets the keyword ``store``: the parameter's :func:`storage_rounding`, to call
        where torch writes an intermediate tensor (its outputs are rounded here anyway), and
        whose :meth:`Rounding.hold` should wrap state the step reads again after writing it.
      scalars: a dict of 0-d arrays shared by every parameter.
      params: the parameter tree; the other trees have its structure or are None.
      *trees: grads and per-parameter state trees.
      with_store: pass ``store`` to ``fn``.

    Returns:
      One tree per output of ``fn``, each leaf cast back to its parameter's dtype; an output
      that is None for every parameter comes back as None.
    """

    def leaf_fn(param: jax.Array, *leaves: jax.Array | None) -> tuple[jax.Array | None, ...]:
        dtype = jnp.result_type(param)
        cdtype = compute_dtype(dtype)
        cast_scalars = jax.tree.map(lambda s: s.astype(cdtype) if jnp.issubdtype(s.dtype, jnp.floating) else s, scalars)
        cast_leaves = [None if x is None else jnp.asarray(x, cdtype) for x in leaves]
        extra = {"store": storage_rounding(dtype)} if with_store else {}
        outputs = fn(cast_scalars, jnp.asarray(param, cdtype), *cast_leaves, **extra)
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


def lerp(start: jax.Array, end: jax.Array, weight: jax.Array, store: Rounding = no_rounding) -> jax.Array:
    """torch.lerp's rounding: ``start + w (end - start)`` for ``|w| < 0.5``, else ``end - (end - start)(1 - w)``.

    Written as one multiply-add whose base and coefficient are chosen by ``|w| < 0.5``:
    ``end + (w - 1) diff`` rounds exactly as ``end - diff (1 - w)`` (negation is exact), and
    the parameter-sized work is one subtract, select, multiply and add. For a half-precision
    tensor (a rounding ``store``) torch's vectorised kernel rounds that multiply-add once, in
    float32, and stores the result.
    """
    small = jnp.abs(weight) < 0.5  # lax.select, not jnp.where: no nested jit per leaf to lower
    base, coefficient = jax.lax.select(small, start, end), jax.lax.select(small, weight, weight - 1)
    if not store.rounds:
        return base + coefficient * (end - start)
    return store(_fma(coefficient, end - start, base))


def running_square(
    average: jax.Array, x: jax.Array, decay: jax.Array, one_minus_decay: jax.Array, store: Rounding = no_rounding
) -> jax.Array:
    """torch's ``average.mul_(decay).addcmul_(x, x, value=1 - decay)``: two ops, each stored.

    torch's half-precision ``addcmul`` rounds ``(value * x) * x + self`` once (:func:`_fma_half`).
    """
    if not store.rounds:
        return average * decay + one_minus_decay * x * x
    return store(_fma_half(one_minus_decay * x, x, store(average * decay)))


def divide_by_number(x: jax.Array, divisor: jax.Array, store: Rounding = no_rounding) -> jax.Array:
    """torch's ``x / divisor`` for a 0-d ``divisor`` (a Python number in torch), stored.

    XLA rewrites a division by a broadcast scalar into a multiplication by its reciprocal,
    which misses torch's correctly rounded float32 quotient by an ulp in about 1.5% of entries:
    within float32/float64 parity, but enough to change a half-precision result now and then.
    For half precision the divisor is therefore chosen per entry (a select whose choice changes
    nothing: a NaN ``x`` gives NaN either way), which hides the broadcast at no memory cost.
    """
    if not store.rounds:
        return x / divisor
    return store(x / jnp.where(jnp.isnan(x), 1, divisor))


def maximize_and_decay(
    grad: jax.Array, param: jax.Array, weight_decay: jax.Array | None, maximize: bool, store: Rounding = no_rounding
) -> jax.Array:
    """torch's gradient preamble: negate if ``maximize``, then add L2 decay ``weight_decay * param``.

    A None ``weight_decay`` (fixed at 0, see :func:`~functional_optim.hyperparams.algorithm_transform`)
    adds nothing, as torch's ``if weight_decay != 0``. ``grad.add(param, alpha=weight_decay)``
    rounds its alpha to a half-precision tensor's dtype before it stores the sum.
    """
    grad = -grad if maximize else grad
    return grad if weight_decay is None else store(grad + store(weight_decay) * param)


def decay_param_or_grad(
    param: jax.Array,
    grad: jax.Array,
    weight_decay: jax.Array | None,
    decay_factor: jax.Array | None,
    decoupled: bool,
    store: Rounding = no_rounding,
) -> tuple[jax.Array, jax.Array]:
    """torch's two weight decays, returning ``(param, grad)``, each one op (stored).

    Decoupled (AdamW style) scales the param by ``decay_factor`` (``1 - lr * weight_decay``, a
    multiplier, not rounded); otherwise L2 adds ``weight_decay * param`` to the grad (an alpha,
    rounded to a half-precision dtype first). None (weight decay fixed at 0) changes neither.
    """
    if weight_decay is None:
        return param, grad
    if decoupled:
        return store(param * decay_factor), grad
    return param, store(grad + store(weight_decay) * param)


def adam_moments(
    exp_avg: jax.Array,
    exp_avg_sq: jax.Array,
    grad: jax.Array,
    one_minus_beta1: jax.Array,
    beta2: jax.Array,
    one_minus_beta2: jax.Array,
    store: Rounding = no_rounding,
) -> tuple[jax.Array, jax.Array]:
    """torch's Adam moment updates, returning ``(exp_avg, exp_avg_sq)``, each op's result stored.

    ``exp_avg.lerp_(g, 1 - beta1)`` and ``exp_avg_sq.mul_(beta2).addcmul_(g, g, value=1 - beta2)``.
    """
    return (
        lerp(exp_avg, grad, one_minus_beta1, store),
        running_square(exp_avg_sq, grad, beta2, one_minus_beta2, store),
    )


def zeros_keepdims_like(x: jax.Array, axis: int) -> jax.Array:
    """Zeros shaped like a ``keepdims`` reduction of ``x`` over ``axis``, sharded like ``x`` on its other axes.

    For state holding a reduction of a parameter (Adafactor's row and column statistics), as
    :func:`jax.numpy.zeros_like` is for state shaped like it: the sharding a jitted
    ``mean(g, axis, keepdims=True)`` of a gradient sharded like ``x`` has, so the state keeps
    one sharding from ``init`` on (see :func:`zeros_placed_like`).
    """
    shape = list(jnp.shape(x))
    axis = axis % len(shape)
    shape[axis] = 1

    def spec(entries: list) -> list:
        return [None if i == axis else entry for i, entry in enumerate(entries)]

    return zeros_placed_like(x, tuple(shape), spec)


def zeros_placed_like(x: jax.Array, shape: tuple[int, ...], spec: Callable[[list], list]) -> jax.Array:
    """Zeros of ``shape`` in ``x``'s dtype on ``x``'s mesh, with ``spec(entries of x's PartitionSpec)``.

    ``spec`` gets ``x``'s PartitionSpec entries padded to ``x.ndim`` and returns the new array's.
    Where ``x`` is not sharded (one device, replicated, or traced on a mesh with Auto axes,
    whose sharding the trace does not know) it is ``jnp.zeros`` of that shape.
    """
    dtype = jnp.result_type(x)
    try:
        sharding = x.sharding
    except AttributeError:  # traced: the sharding is known on a mesh with Explicit axes only
        sharding = getattr(jax.typeof(x), "sharding", None)
    if not isinstance(sharding, NamedSharding) or all(entry is None for entry in sharding.spec):
        return jnp.zeros(shape, dtype)
    entries = [*sharding.spec, *[None] * (jnp.ndim(x) - len(sharding.spec))]
    placed = NamedSharding(sharding.mesh, PartitionSpec(*spec(entries)))
    if isinstance(sharding.mesh, Mesh):  # a concrete array
        return jnp.zeros(shape, dtype, device=placed)
    return jnp.zeros(shape, dtype, out_sharding=placed)  # on the abstract mesh: works outside jax.set_mesh too


def explicit_sharding(x: jax.Array) -> NamedSharding | None:
    """``x``'s sharding when its type carries one, else None.

    It does when ``x`` is sharded over mesh axes of type Explicit, traced or not; JAX then
    asks for an ``out_sharding`` wherever an op's output sharding is ambiguous (gathers,
    scatters, a matmul of a matrix with its own transpose). With Auto axes, a replicated
    ``x`` or one device it is None, and XLA chooses.
    """
    sharding = getattr(jax.typeof(x), "sharding", None)
    if isinstance(sharding, NamedSharding) and any(entry is not None for entry in sharding.spec):
        return sharding
    return None
