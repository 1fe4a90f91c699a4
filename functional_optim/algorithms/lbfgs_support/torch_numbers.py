"""torch's scalar arithmetic in L-BFGS, traced: a number is a Python float or a 0-d tensor.

torch's ``LBFGS`` mixes Python floats with 0-d tensors in its step-length arithmetic, and which
one a number is decides how it rounds: a Python float meeting a float32 tensor is rounded to
float32, two Python floats combine in float64, and the step length changes from one to the
other as the line search runs. :class:`Number` carries the kind with the value, so that a
float32 run follows torch's float32 arithmetic.
"""

from __future__ import annotations

import dataclasses
import functools
import operator
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from functional_optim.hyperparams import scalar_dtype


@dataclasses.dataclass(frozen=True, eq=False)
class Number:
    """A number of torch's L-BFGS code, which is either a Python float or a 0-d tensor.

    The difference matters for rounding: a Python float meeting a float32 tensor is rounded
    to float32 and the operation is done in float32, while two Python floats combine in
    float64; and ``float / tensor`` is computed as ``tensor.reciprocal() * float``. Python's
    ``min``/``max`` return whichever operand wins, so a step length changes between the two as
    the line search runs. ``kind`` records which: 0 for a Python float, ``i > 0`` for a 0-d
    tensor of dtype ``dtypes[i]``, the tensor dtypes ordered so that two of them promote to
    the later one (so the kind of ``a op b`` is the larger kind). ``value`` holds the number
    exactly in ``dtypes[0]``, the scalar dtype (the widest). ``value`` and ``kind`` may be
    arrays of numbers (a bracket).
    """

    value: jax.Array
    kind: jax.Array
    dtypes: tuple[np.dtype, ...]

    def lift(self, other: Any) -> Number:
        """``other`` as a number; anything that is not a ``Number`` is a Python float."""
        if isinstance(other, Number):
            return other
        other = jnp.asarray(other, self.dtypes[0])
        return Number(other, jnp.zeros(other.shape, jnp.int32), self.dtypes)

    def tensor(self, x: jax.Array) -> Number:
        """``x`` as a 0-d tensor of its own dtype."""
        kind = self.dtypes.index(x.dtype, 1) if x.dtype in self.dtypes[1:] else len(self.dtypes) - 1
        return Number(x.astype(self.dtypes[0]), jnp.full(x.shape, kind, jnp.int32), self.dtypes)

    def astype(self, dtype: Any) -> jax.Array:
        """The value in ``dtype``, as torch casts a scalar that meets a tensor of that dtype."""
        return self.value.astype(dtype)

    def _apply(self, fn: Callable, kind: jax.Array, *operands: Number) -> jax.Array:
        """``fn`` of ``operands`` computed in the dtype of ``kind`` (the value of a comparison)."""
        out = None
        for dtype, kinds in _compute_groups(self.dtypes):
            result = fn(*(x.value.astype(dtype) for x in operands))
            result = result if result.dtype == bool else result.astype(self.dtypes[0])
            if out is None:
                out = result
            else:
                out = jnp.where(functools.reduce(operator.or_, [kind == k for k in kinds]), result, out)
        return out

    def _binary(self, other: Any, fn: Callable, reflected: bool = False) -> Number:
        a, b = (self.lift(other), self) if reflected else (self, self.lift(other))
        kind = jnp.maximum(a.kind, b.kind)
        return Number(self._apply(fn, kind, a, b), kind, self.dtypes)

    def _unary(self, fn: Callable) -> Number:
        return Number(self._apply(fn, self.kind, self), self.kind, self.dtypes)

    def _compare(self, other: Any, fn: Callable) -> jax.Array:
        other = self.lift(other)
        return self._apply(fn, jnp.maximum(self.kind, other.kind), self, other)

    def __add__(self, other: Any) -> Number:
        return self._binary(other, operator.add)

    def __radd__(self, other: Any) -> Number:
        return self._binary(other, operator.add, reflected=True)

    def __sub__(self, other: Any) -> Number:
        return self._binary(other, operator.sub)

    def __rsub__(self, other: Any) -> Number:
        return self._binary(other, operator.sub, reflected=True)

    def __mul__(self, other: Any) -> Number:
        return self._binary(other, operator.mul)

    def __rmul__(self, other: Any) -> Number:
        return self._binary(other, operator.mul, reflected=True)

    def __truediv__(self, other: Any) -> Number:
        return _divide(self, self.lift(other))

    def __rtruediv__(self, other: Any) -> Number:
        return _divide(self.lift(other), self)

    def __neg__(self) -> Number:
        return self._unary(operator.neg)

    def __abs__(self) -> Number:
        return self._unary(jnp.abs)

    def sqrt(self) -> Number:
        return self._unary(jnp.sqrt)

    def __lt__(self, other: Any) -> jax.Array:
        return self._compare(other, operator.lt)

    def __le__(self, other: Any) -> jax.Array:
        return self._compare(other, operator.le)

    def __gt__(self, other: Any) -> jax.Array:
        return self._compare(other, operator.gt)

    def __ge__(self, other: Any) -> jax.Array:
        return self._compare(other, operator.ge)

    def __getitem__(self, index: Any) -> Number:
        return Number(self.value[index], self.kind[index], self.dtypes)

    def set(self, index: Any, other: Number) -> Number:
        """A copy with entry ``index`` (of a pair) replaced by ``other``."""
        return Number.where(jnp.arange(2) == index, other, self)

    @staticmethod
    def where(condition: jax.Array, a: Number, b: Number) -> Number:
        b = a.lift(b)
        return Number(jnp.where(condition, a.value, b.value), jnp.where(condition, a.kind, b.kind), a.dtypes)

    @staticmethod
    def stack(a: Number, b: Number) -> Number:
        b = a.lift(b)
        return Number(jnp.stack([a.value, b.value]), jnp.stack([a.kind, b.kind]), a.dtypes)


jax.tree_util.register_dataclass(Number, data_fields=["value", "kind"], meta_fields=["dtypes"])


def number_dtypes(params_dtype: Any, lr_dtype: Any | None) -> tuple[np.dtype, ...]:
    """The scalar dtype, then the 0-d tensor dtypes met (the params', and an array lr's), narrowest first."""
    tensor_dtypes = {jnp.dtype(params_dtype)}
    if lr_dtype is not None:
        tensor_dtypes |= {jnp.dtype(lr_dtype), jnp.promote_types(params_dtype, lr_dtype)}
    ordered = sorted(tensor_dtypes, key=lambda dtype: (dtype.itemsize, dtype.name))
    if any(jnp.promote_types(a, b) != b for i, a in enumerate(ordered) for b in ordered[i + 1 :]):
        # float16 with bfloat16: not a chain; do all tensor arithmetic in their promotion.
        ordered = [functools.reduce(jnp.promote_types, ordered)]
    return (jnp.dtype(scalar_dtype()), *ordered)


@functools.lru_cache
def _compute_groups(dtypes: tuple[np.dtype, ...]) -> tuple[tuple[np.dtype, tuple[int, ...]], ...]:
    """The distinct dtypes arithmetic happens in, each with the kinds computed in it."""
    groups: dict[np.dtype, tuple[int, ...]] = {}
    for kind, dtype in enumerate(dtypes):
        groups[dtype] = (*groups.get(dtype, ()), kind)
    return tuple(groups.items())


def _divide(a: Number, b: Number) -> Number:
    # torch's ``float / tensor`` is ``tensor.reciprocal() * float``.
    kind = jnp.maximum(a.kind, b.kind)
    reciprocal_first = (a.kind == 0) & (b.kind != 0)
    return Number(a._apply(lambda x, y: jnp.where(reciprocal_first, (1 / y) * x, x / y), kind, a, b), kind, a.dtypes)


def py_max(a: Number, b: Number) -> Number:
    """Python's ``max(a, b)``: ``b`` if ``b > a``, else ``a``."""
    return Number.where(b > a, b, a)


def py_min(a: Number, b: Number) -> Number:
    """Python's ``min(a, b)``: ``b`` if ``b < a``, else ``a``."""
    return Number.where(b < a, b, a)
