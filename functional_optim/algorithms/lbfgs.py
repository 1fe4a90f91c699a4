r"""L-BFGS with an optional strong-Wolfe line search, as ``torch.optim.LBFGS``.

One call of ``step`` does what one ``torch.optim.LBFGS.step(closure)`` does: up to
``max_iter`` iterations and ``max_eval`` evaluations of the objective :math:`f`, over all the
parameters as one vector :math:`\theta` (complex leaves as their real and imaginary parts, as
torch's ``view_as_real``):

.. math::

   \begin{aligned}
   &g \leftarrow \nabla f(\theta);\ \text{return at once if } \|g\|_\infty \le \tau_g\\
   &\text{for } k = 1, \dots, \text{max\_iter}:\\
   &\quad \text{on the first iteration ever: } d \leftarrow -g,\ H \leftarrow 1\\
   &\quad \text{otherwise: } y \leftarrow g - g_{\mathrm{prev}},\ s \leftarrow t\,d;\
       \text{if } y^\top s > 10^{-10}: \text{ store } (y, s, \rho = 1/y^\top s)
       \text{ (dropping the oldest of } m\text{)},\ H \leftarrow y^\top s / y^\top y\\
   &\qquad d \leftarrow -\text{two-loop}(g; H, \text{stored pairs})
       \quad\text{(}d = -H_k g \text{, with } H_0 = H\,I\text{)}\\
   &\quad g_{\mathrm{prev}} \leftarrow g,\ f_{\mathrm{prev}} \leftarrow f,\
       t \leftarrow \min(1, 1/\|g\|_1)\,\gamma \text{ on the first iteration ever, else } \gamma\\
   &\quad \text{stop if } g^\top d > -\tau_c\\
   &\quad \text{strong\_wolfe: } (f, g, t) \leftarrow \text{line search from } t;\quad
       \theta \leftarrow \theta + t\,d\\
   &\quad \text{no line search: } \theta \leftarrow \theta + t\,d;\ (f, g) \leftarrow (f(\theta), \nabla f(\theta))
       \text{ unless } k = \text{max\_iter}\\
   &\quad \text{stop if } k = \text{max\_iter},\ \text{max\_eval reached},\ \|g\|_\infty \le \tau_g,\
       \|t\,d\|_\infty \le \tau_c \text{ or } |f - f_{\mathrm{prev}}| < \tau_c
   \end{aligned}

with :math:`\gamma` = ``lr``, :math:`\tau_g` = ``tolerance_grad``, :math:`\tau_c` =
``tolerance_change`` and :math:`m` = ``history_size``.

Usage. L-BFGS evaluates the objective several times inside one step (at every line-search
trial point), so its ``update`` takes the objective as well as the gradient, with optax's
keyword names: ``value``, the loss at ``params`` (torch's first closure call), and
``value_fn``, the loss as a function of the params, which the step differentiates wherever it
evaluates again. It is a :class:`~functional_optim.GradientTransformation` like every
algorithm here, so it sits in :func:`~functional_optim.chain` (which forwards the keyword
arguments), ``nnx.Optimizer`` (``optimizer.update(model, grads, value=..., value_fn=...)``) or
the torch-style wrapper; ``optax.chain`` forwards them only to optax's own type, so wrap it
there: ``optax.chain(..., optax.GradientTransformationExtraArgs(*tx))``::

    tx = fo.lbfgs(line_search_fn="strong_wolfe")
    state = tx.init(params)
    value, grads = jax.value_and_grad(loss_fn)(params)
    params, state = fo.apply_gradients(tx, grads, state, params, value=value, value_fn=loss_fn)

For a complex parameter, ``grads`` is torch's gradient, the conjugate of ``jax.grad``'s.
``tx.step(loss_fn, state, params, *args) -> (params, state, loss)`` does the same from the
objective alone (``loss_fn(params, *args)``, torch's closure) and returns the loss of its
*first* evaluation, as torch's ``step`` returns the closure's first value. Everything is pure
and jit-compilable; all the loops are ``lax.while_loop`` s and the curvature memory is a
fixed-size ring of ``history_size`` rows, so a jitted step compiles once for a whole run::

    step = jax.jit(tx.step, static_argnums=0)           # loss_fn static, data traced
    for _ in range(100):
        params, state, loss = step(loss_fn, state, params, x, y)

``update``'s updates are ``new_params - params``; :func:`~functional_optim.apply_gradients`
and ``step`` return the new params directly.

torch concatenates the parameters into one flat vector; here every vector (:math:`\theta`,
:math:`g`, :math:`d`, the stored pairs) is a tree shaped like the params and is never
concatenated, so on a mesh each leaf keeps its parameter's sharding (the memory rings too, with
a leading axis of ``history_size``) and a dot product is each leaf's sum of products, the leaves'
sums added in order. :func:`flatten_vectors` and :func:`unflatten_vectors` convert the state's
vectors to and from torch's flat layout.

``lr``, ``tolerance_grad`` and ``tolerance_change`` live in the state like every algorithm's
hyperparameters (``fo.set_hyperparams(state, lr=0.5)``, or a schedule evaluated at the step
count); ``max_iter``, ``max_eval``, ``history_size`` and ``line_search_fn`` shape the
computation and are fixed when the transform is built.

torch behaviours reproduced: ``max_eval`` defaults to ``max_iter * 5 // 4``, resolved at
construction; ``t = min(1, 1/|g|_1) * lr`` only on the very first iteration of the first step;
a curvature pair is stored only when :math:`y^\top s > 10^{-10}`; without a line search the
last iteration moves the params without re-evaluating the objective (so the stored loss and
gradient are the ones from before the move); the strong-Wolfe search uses torch's hard-coded
``c1=1e-4``, ``c2=0.9`` and its own ``tolerance_change=1e-9`` (not the transform's), may use at
most ``max_eval`` minus the evaluations already made in the step, and has torch's bracketing
and zoom phases with the insufficient-progress guard and the cubic interpolation;
``n_iter`` and ``func_evals`` count over all steps and the memory carries over from one step
to the next. torch mixes Python floats with 0-d tensors in its scalar arithmetic (the step
length may be either, and changes between them as the line search runs); this module keeps
track of which one each number is and rounds as torch does, so float32 runs follow torch's
float32 arithmetic too.

Differences: an unsupported ``line_search_fn`` raises torch's ``RuntimeError`` when the
transform is built (torch raises it at the first step that reaches a line search);
``max_iter``, ``max_eval`` and ``history_size`` must be integers and ``history_size >= 1``
(torch fails at its first memory update with ``history_size=0``); a line search left with
fewer than 0 evaluations (``max_eval`` below the evaluations already made) takes one trial
step like one left with 0, where torch fails. Dot products and sums are not added in the
order of torch's (MKL's, over the flat vector), so iterates agree to rounding; on
ill-conditioned problems such as Rosenbrock's valley L-BFGS amplifies those last-bit
differences from one iteration to the next.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import operator
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from functional_optim.elementwise import zeros_placed_like
from functional_optim.hyperparams import (
    Hyperparam,
    HyperparamsState,
    algorithm_transform,
    scalar_dtype,
    to_real,
)
from functional_optim.transform import GradientTransformation, Params, apply_gradients
from functional_optim.validation import check_lr, concrete_value

# torch's _strong_wolfe defaults, which LBFGS.step never overrides.
_C1 = 1e-4
_C2 = 0.9
_LINE_SEARCH_TOLERANCE_CHANGE = 1e-9


class LBFGSState(NamedTuple):
    """torch's L-BFGS state, in torch's key order, plus the ring's bookkeeping.

    A *vector* is a tree like the params whose leaves are the params' real views (complex
    leaves with a trailing axis of 2), all in one dtype (the params' promoted, as torch's flat
    vector's); a *ring* is a vector whose leaves have a leading axis of ``history_size``.

    Attributes:
      func_evals: int32, evaluations of the objective over all steps.
      n_iter: int32, iterations over all steps.
      al: ``(history_size,)``, the two-loop coefficients of the last direction (torch's
        scratch list ``al``; entry ``i`` belongs to the ``i``-th oldest pair).
      d: a vector, the last search direction.
      t: the last step length, in the scalar dtype.
      old_dirs: a ring, the stored gradient differences :math:`y`.
      old_stps: a ring, the stored steps :math:`s`.
      ro: ``(history_size,)``, :math:`1/y^\\top s` of each stored pair, a ring.
      H_diag: :math:`y^\\top s / y^\\top y` of the newest pair (1 before any pair).
      prev_flat_grad: a vector, the gradient at the start of the last iteration.
      prev_loss: the loss at the start of the last iteration, in the scalar dtype.
      history_len: int32, how many pairs are stored (torch's ``len(old_dirs)``).
      history_start: int32, the ring row of the oldest pair: pair ``i`` (oldest first) is row
        ``(history_start + i) % history_size``.
    """

    func_evals: jax.Array
    n_iter: jax.Array
    al: jax.Array
    d: Params
    t: jax.Array
    old_dirs: Params
    old_stps: Params
    ro: jax.Array
    H_diag: jax.Array
    prev_flat_grad: Params
    prev_loss: jax.Array
    history_len: jax.Array
    history_start: jax.Array

    def history(self) -> tuple[jax.Array, jax.Array, jax.Array]:
        """``(old_dirs, old_stps, ro)`` oldest first with only the stored pairs, as torch's lists.

        ``old_dirs`` and ``old_stps`` come in torch's flat layout, one row per pair. Not for use
        under ``jit`` (the result's length is the stored count).
        """
        rows = (int(self.history_start) + np.arange(int(self.history_len))) % self.ro.shape[0]
        return flatten_vectors(self.old_dirs, 1)[rows], flatten_vectors(self.old_stps, 1)[rows], self.ro[rows]


class LBFGSTransformation(GradientTransformation):
    """L-BFGS's ``(init, update)``, whose ``update`` takes the objective, and :meth:`step`.

    ``update(grads, state, params, *, value, value_fn) -> (updates, state)``; see :func:`lbfgs`.
    """

    def step(
        self, loss_fn: Callable[..., jax.Array], state: HyperparamsState, params: Params, *args: Any
    ) -> tuple[Params, HyperparamsState, jax.Array]:
        """One torch ``LBFGS.step(closure)`` with ``loss_fn(params, *args)`` as the closure.

        Returns the params after the step, the new state, and ``loss_fn``'s value at the
        incoming params (torch's return value). Jit it with ``loss_fn`` static:
        ``jax.jit(tx.step, static_argnums=0)``.
        """
        value, grads = jax.value_and_grad(loss_fn)(params, *args)
        grads = jax.tree.map(jnp.conj, grads)  # torch's gradient of a complex param is jax.grad's conjugate
        new_params, state = apply_gradients(
            self, grads, state, params, value=value, value_fn=lambda p: loss_fn(p, *args)
        )
        return new_params, state, value


# ----------------------------------------------------------------------------------------------
# torch's scalar arithmetic: Python floats and 0-d tensors
# ----------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, eq=False)
class _Number:
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

    def lift(self, other: Any) -> _Number:
        """``other`` as a number; anything that is not a ``_Number`` is a Python float."""
        if isinstance(other, _Number):
            return other
        other = jnp.asarray(other, self.dtypes[0])
        return _Number(other, jnp.zeros(other.shape, jnp.int32), self.dtypes)

    def tensor(self, x: jax.Array) -> _Number:
        """``x`` as a 0-d tensor of its own dtype."""
        kind = self.dtypes.index(x.dtype, 1) if x.dtype in self.dtypes[1:] else len(self.dtypes) - 1
        return _Number(x.astype(self.dtypes[0]), jnp.full(x.shape, kind, jnp.int32), self.dtypes)

    def astype(self, dtype: Any) -> jax.Array:
        """The value in ``dtype``, as torch casts a scalar that meets a tensor of that dtype."""
        return self.value.astype(dtype)

    def _apply(self, fn: Callable, kind: jax.Array, *operands: _Number) -> jax.Array:
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

    def _binary(self, other: Any, fn: Callable, reflected: bool = False) -> _Number:
        a, b = (self.lift(other), self) if reflected else (self, self.lift(other))
        kind = jnp.maximum(a.kind, b.kind)
        return _Number(self._apply(fn, kind, a, b), kind, self.dtypes)

    def _unary(self, fn: Callable) -> _Number:
        return _Number(self._apply(fn, self.kind, self), self.kind, self.dtypes)

    def _compare(self, other: Any, fn: Callable) -> jax.Array:
        other = self.lift(other)
        return self._apply(fn, jnp.maximum(self.kind, other.kind), self, other)

    def __add__(self, other):
        return self._binary(other, operator.add)

    def __radd__(self, other):
        return self._binary(other, operator.add, reflected=True)

    def __sub__(self, other):
        return self._binary(other, operator.sub)

    def __rsub__(self, other):
        return self._binary(other, operator.sub, reflected=True)

    def __mul__(self, other):
        return self._binary(other, operator.mul)

    def __rmul__(self, other):
        return self._binary(other, operator.mul, reflected=True)

    def __truediv__(self, other):
        return _divide(self, self.lift(other))

    def __rtruediv__(self, other):
        return _divide(self.lift(other), self)

    def __neg__(self):
        return self._unary(operator.neg)

    def __abs__(self):
        return self._unary(jnp.abs)

    def sqrt(self) -> _Number:
        return self._unary(jnp.sqrt)

    def __lt__(self, other):
        return self._compare(other, operator.lt)

    def __le__(self, other):
        return self._compare(other, operator.le)

    def __gt__(self, other):
        return self._compare(other, operator.gt)

    def __ge__(self, other):
        return self._compare(other, operator.ge)

    def __getitem__(self, index: Any) -> _Number:
        return _Number(self.value[index], self.kind[index], self.dtypes)

    def set(self, index: Any, other: _Number) -> _Number:
        """A copy with entry ``index`` (of a pair) replaced by ``other``."""
        return _Number.where(jnp.arange(2) == index, other, self)

    @staticmethod
    def where(condition: jax.Array, a: _Number, b: _Number) -> _Number:
        b = a.lift(b)
        return _Number(jnp.where(condition, a.value, b.value), jnp.where(condition, a.kind, b.kind), a.dtypes)

    @staticmethod
    def stack(a: _Number, b: _Number) -> _Number:
        b = a.lift(b)
        return _Number(jnp.stack([a.value, b.value]), jnp.stack([a.kind, b.kind]), a.dtypes)


jax.tree_util.register_dataclass(_Number, data_fields=["value", "kind"], meta_fields=["dtypes"])


def _number_dtypes(params_dtype: Any, lr_dtype: Any | None) -> tuple[np.dtype, ...]:
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


def _divide(a: _Number, b: _Number) -> _Number:
    # torch's ``float / tensor`` is ``tensor.reciprocal() * float``.
    kind = jnp.maximum(a.kind, b.kind)
    reciprocal_first = (a.kind == 0) & (b.kind != 0)
    return _Number(a._apply(lambda x, y: jnp.where(reciprocal_first, (1 / y) * x, x / y), kind, a, b), kind, a.dtypes)


def _py_max(a: _Number, b: _Number) -> _Number:
    """Python's ``max(a, b)``: ``b`` if ``b > a``, else ``a``."""
    return _Number.where(b > a, b, a)


def _py_min(a: _Number, b: _Number) -> _Number:
    """Python's ``min(a, b)``: ``b`` if ``b < a``, else ``a``."""
    return _Number.where(b < a, b, a)


# ----------------------------------------------------------------------------------------------
# vectors: trees shaped like the params, each leaf keeping its sharding
# ----------------------------------------------------------------------------------------------


def _vectors(real_params: Params) -> Params:
    """The params' real views as a vector: in their promoted dtype (torch's flat vector's)."""
    dtype = jnp.result_type(*jax.tree.leaves(real_params))
    return jax.tree.map(lambda x: x.astype(dtype), real_params)


def _dot(a: Params, b: Params) -> jax.Array:
    """torch's ``flat_a.dot(flat_b)``: each leaf's sum of products, the leaves' sums added in order."""
    return functools.reduce(operator.add, [jnp.sum(x * y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b))])


def _abs_sum(v: Params) -> jax.Array:
    return functools.reduce(operator.add, [jnp.sum(jnp.abs(x)) for x in jax.tree.leaves(v)])


def _abs_max(v: Params) -> jax.Array:
    return functools.reduce(jnp.maximum, [jnp.max(jnp.abs(x), initial=0) for x in jax.tree.leaves(v)])


def _axpy(alpha: jax.Array, x: Params, y: Params) -> Params:
    """``y + alpha * x``, torch's ``y.add(x, alpha=alpha)``."""
    return jax.tree.map(lambda x, y: y + alpha * x, x, y)


def _scale(v: Params, alpha: jax.Array) -> Params:
    return jax.tree.map(lambda x: x * alpha, v)


def _where(condition: jax.Array, a: Params, b: Params) -> Params:
    return jax.tree.map(lambda a, b: jnp.where(condition, a, b), a, b)


def _stack(a: Params, b: Params) -> Params:
    """A ring of two rows, ``a`` and ``b``."""
    return jax.tree.map(lambda a, b: jnp.stack([a, b]), a, b)


def _row(ring: Params, i: jax.Array) -> Params:
    return jax.tree.map(lambda r: lax.dynamic_index_in_dim(r, i, keepdims=False), ring)


def _set_row(ring: Params, i: jax.Array, v: Params) -> Params:
    return jax.tree.map(lambda r, x: lax.dynamic_update_index_in_dim(r, x, i, 0), ring, v)


def _zeros_ring(x: jax.Array, rows: int) -> jax.Array:
    """Zeros of shape ``(rows, *x.shape)``, sharded like ``x`` on its axes (as ``zeros_like`` for a ring)."""
    return zeros_placed_like(x, (rows, *jnp.shape(x)), lambda entries: [None, *entries])


def flatten_vectors(vectors: Params, batch_dims: int = 0) -> jax.Array:
    """A vector of :class:`LBFGSState` (``d``, ``prev_flat_grad``) as torch's flat vector.

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


# ----------------------------------------------------------------------------------------------
# the line search
# ----------------------------------------------------------------------------------------------


def _cubic_interpolate(x1, f1, g1, x2, f2, g2, bounds=None) -> _Number:
    """The minimiser of the cubic through two points with their slopes, clamped to ``bounds``.

    ``bounds`` defaults to the interval between the points; when the cubic has no real
    minimiser the middle of the bounds is returned.
    """
    if bounds is None:
        ordered = x1 <= x2
        xmin_bound, xmax_bound = _Number.where(ordered, x1, x2), _Number.where(ordered, x2, x1)
    else:
        xmin_bound, xmax_bound = bounds
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1 * d1 - g1 * g2
    d2 = d2_square.sqrt()
    min_pos = _Number.where(
        x1 <= x2,
        x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2)),
        x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2)),
    )
    clamped = _py_min(_py_max(min_pos, xmin_bound), xmax_bound)
    return _Number.where(d2_square >= 0, clamped, (xmin_bound + xmax_bound) / 2.0)


def _strong_wolfe(evaluate, t, d, f, g, gtd, max_ls):
    """torch's ``_strong_wolfe`` (from minFunc): returns ``(f, g, t, evaluations)`` at the step found.

    ``evaluate(t)`` returns the loss (a Python-float number) and the gradient at ``x + t d``;
    ``f``, ``g``, ``gtd`` are the loss, gradient and directional derivative at ``x``.
    """
    c1, c2, tolerance_change = _C1, _C2, _LINE_SEARCH_TOLERANCE_CHANGE
    d_norm = t.tensor(_abs_max(d))
    f_new, g_new = evaluate(t)
    gtd_new = t.tensor(_dot(g_new, d))

    # Bracketing: grow the step until [t_prev, t] brackets a point satisfying the conditions.
    # The state is (ls_iter, t, f_new, g_new, gtd_new, t_prev, f_prev, g_prev, gtd_prev).
    def bracket_outcome(c):
        ls_iter, t, f_new, _, gtd_new, _, f_prev, _, _ = c
        too_high = (f_new > f + c1 * t * gtd) | ((ls_iter > 1) & (f_new >= f_prev))
        # 1: the bracket is [t_prev, t]; 2: t satisfies the strong Wolfe conditions; 0: go on.
        return jnp.where(too_high, 1, jnp.where(abs(gtd_new) <= -c2 * gtd, 2, jnp.where(gtd_new >= 0, 1, 0)))

    def extrapolate(c):
        ls_iter, t, f_new, g_new, gtd_new, t_prev, f_prev, _, gtd_prev = c
        min_step = t + 0.01 * (t - t_prev)
        max_step = t * 10
        t_next = _cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, bounds=(min_step, max_step))
        f_next, g_next = evaluate(t_next)
        return (ls_iter + 1, t_next, f_next, g_next, t.tensor(_dot(g_next, d)), t, f_new, g_new, gtd_new)

    start = (jnp.zeros((), jnp.int32), t, f_new, g_new, gtd_new, t.lift(0), f, g, gtd)
    c = lax.while_loop(lambda c: (c[0] < max_ls) & (bracket_outcome(c) == 0), extrapolate, start)
    ls_iter, t, f_new, g_new, gtd_new, t_prev, f_prev, g_prev, gtd_prev = c

    # torch's bracket: [0, t] when the evaluations ran out, [t] when t already satisfies the
    # conditions (stored twice here), else [t_prev, t].
    at_limit = ls_iter >= max_ls
    done = ~at_limit & (bracket_outcome(c) == 2)
    bracket = _Number.stack(_Number.where(at_limit, t.lift(0), _Number.where(done, t, t_prev)), t)
    bracket_f = _Number.stack(_Number.where(at_limit, f, _Number.where(done, f_new, f_prev)), f_new)
    bracket_g = _stack(_where(at_limit, g, _where(done, g_new, g_prev)), g_new)
    bracket_gtd = _Number.stack(_Number.where(at_limit, gtd, _Number.where(done, gtd_new, gtd_prev)), gtd_new)
    low = jnp.where(bracket_f[0] <= bracket_f[1], 0, 1)

    # Zoom: shrink the bracket until a point satisfies the conditions.
    # The state is (ls_iter, done, insuf_progress, low, bracket, bracket_f, bracket_g, bracket_gtd).
    def zooming(z):
        ls_iter, done, _, _, bracket, _, _, _ = z
        too_small = abs(bracket[1] - bracket[0]) * d_norm < tolerance_change
        return ~done & (ls_iter < max_ls) & ~too_small

    def zoom(z):
        ls_iter, _, insuf_progress, low, bracket, bracket_f, bracket_g, bracket_gtd = z
        high = 1 - low
        t = _cubic_interpolate(bracket[0], bracket_f[0], bracket_gtd[0], bracket[1], bracket_f[1], bracket_gtd[1])
        # Insufficient progress: t too close to an end of the bracket twice in a row, or at or
        # beyond an end, is moved to 0.1 of the bracket's length from the nearer end.
        b_max, b_min = _py_max(bracket[0], bracket[1]), _py_min(bracket[0], bracket[1])
        eps = 0.1 * (b_max - b_min)
        near_end = _py_min(b_max - t, t - b_min) < eps
        move = near_end & (insuf_progress | (t >= b_max) | (t <= b_min))
        moved = _Number.where(abs(t - b_max) < abs(t - b_min), b_max - eps, b_min + eps)
        t = _Number.where(move, moved, t)
        insuf_progress = near_end & ~move

        f_new, g_new = evaluate(t)
        gtd_new = t.tensor(_dot(g_new, d))
        too_high = (f_new > f + c1 * t * gtd) | (f_new >= bracket_f[low])
        done = ~too_high & (abs(gtd_new) <= -c2 * gtd)
        # A low point whose slope points away from the high end: the old low becomes the high end.
        flip = ~too_high & ~done & (gtd_new * (bracket[high] - bracket[low]) >= 0)
        bracket = bracket.set(high, _Number.where(flip, bracket[low], bracket[high]))
        bracket_f = bracket_f.set(high, _Number.where(flip, bracket_f[low], bracket_f[high]))
        bracket_g = _set_row(bracket_g, high, _where(flip, _row(bracket_g, low), _row(bracket_g, high)))
        bracket_gtd = bracket_gtd.set(high, _Number.where(flip, bracket_gtd[low], bracket_gtd[high]))
        # The new point replaces the high end if it is too high, else the low end.
        at = jnp.where(too_high, high, low)
        bracket, bracket_f = bracket.set(at, t), bracket_f.set(at, f_new)
        bracket_g, bracket_gtd = _set_row(bracket_g, at, g_new), bracket_gtd.set(at, gtd_new)
        low = jnp.where(too_high, jnp.where(bracket_f[0] <= bracket_f[1], 0, 1), low)
        return ls_iter + 1, done, insuf_progress, low, bracket, bracket_f, bracket_g, bracket_gtd

    start = (ls_iter, done, jnp.zeros((), bool), low, bracket, bracket_f, bracket_g, bracket_gtd)
    ls_iter, _, _, low, bracket, bracket_f, bracket_g, _ = lax.while_loop(zooming, zoom, start)
    return bracket_f[low], _row(bracket_g, low), bracket[low], ls_iter + 1


# ----------------------------------------------------------------------------------------------
# one step
# ----------------------------------------------------------------------------------------------


def _two_loop(g, old_dirs, old_stps, ro, history_len, history_start, H_diag, al):
    """``-H g`` by the two-loop recursion over the stored pairs (oldest first from ``history_start``)."""
    m = ro.shape[0]

    def newest_to_oldest(j, carry):
        q, al = carry
        i = history_len - 1 - j
        row = (history_start + i) % m
        al_i = _dot(_row(old_stps, row), q) * ro[row]
        return _axpy(-al_i, _row(old_dirs, row), q), al.at[i].set(al_i)

    q, al = lax.fori_loop(0, history_len, newest_to_oldest, (jax.tree.map(operator.neg, g), al))

    def oldest_to_newest(i, r):
        row = (history_start + i) % m
        be_i = _dot(_row(old_dirs, row), r) * ro[row]
        return _axpy(al[i] - be_i, _row(old_stps, row), r)

    return lax.fori_loop(0, history_len, oldest_to_newest, _scale(q, H_diag)), al


class _Loop(NamedTuple):
    """The outer loop's carry: the state, the current point and the step's counters."""

    state: LBFGSState
    x: Params
    loss: jax.Array
    g: Params
    n: jax.Array
    current_evals: jax.Array
    stop: jax.Array


def _lbfgs_step(
    evaluate,
    x,
    loss,
    g,
    state,
    *,
    lr,
    lr_is_tensor,
    tolerance_grad,
    tolerance_change,
    max_iter,
    max_eval,
    strong_wolfe,
):
    """One torch ``LBFGS.step`` from the vector ``x``, where the objective is ``loss`` with gradient ``g``.

    ``evaluate(x) -> (loss, grad)`` evaluates the objective anywhere else. Returns ``(x, state)``.
    """
    dtype = jax.tree.leaves(x)[0].dtype
    # The dtypes of the 0-d tensors torch's arithmetic meets: the params', and an array lr's
    # (torch's Tensor lr) with its promotion against the params'.
    lr_is_tensor = lr_is_tensor or lr.dtype != scalar_dtype()
    dtypes = _number_dtypes(dtype, lr.dtype if lr_is_tensor else None)
    one = _Number(jnp.ones((), dtypes[0]), jnp.zeros((), jnp.int32), dtypes)
    lr = one.tensor(lr) if lr_is_tensor else one.lift(lr)

    def max_abs(v):
        return one.tensor(_abs_max(v))

    def move(x, t, d):  # torch's _add_grad: p += t * d, t cast to the params' dtype
        return _axpy(t.astype(dtype), d, x)

    loss = jnp.asarray(loss).astype(scalar_dtype())  # torch's float(closure())
    state = state._replace(func_evals=state.func_evals + 1)

    def iteration(c: _Loop) -> _Loop:
        s, g, loss = c.state, c.g, c.loss
        n, n_iter = c.n + 1, s.n_iter + 1
        first = n_iter == 1
        m = s.ro.shape[0]

        # The memory update, skipped on the first iteration ever and when y.s <= 1e-10.
        y = jax.tree.map(operator.sub, g, s.prev_flat_grad)
        step = _scale(s.d, s.t.astype(dtype))
        ys = _dot(y, step)
        store = ~first & (one.tensor(ys) > 1e-10)
        full = s.history_len == m
        row = (s.history_start + s.history_len) % m
        old_dirs = _set_row(s.old_dirs, row, _where(store, y, _row(s.old_dirs, row)))
        old_stps = _set_row(s.old_stps, row, _where(store, step, _row(s.old_stps, row)))
        ro = s.ro.at[row].set(jnp.where(store, 1 / ys, s.ro[row]))
        history_start = jnp.where(store & full, (s.history_start + 1) % m, s.history_start)
        history_len = jnp.where(first, 0, jnp.where(store & ~full, s.history_len + 1, s.history_len))
        H_diag = jnp.where(first, jnp.ones_like(s.H_diag), jnp.where(store, ys / _dot(y, y), s.H_diag))
        r, al = _two_loop(g, old_dirs, old_stps, ro, history_len, history_start, H_diag, s.al)
        d = _where(first, jax.tree.map(operator.neg, g), r)

        prev_flat_grad, prev_loss = g, loss
        t = _Number.where(first, _py_min(one, 1.0 / one.tensor(_abs_sum(g))) * lr, lr)
        gtd = one.tensor(_dot(g, d))
        descent = ~(gtd > -tolerance_change)

        def take_step(x, loss, g, t):
            if strong_wolfe:
                f, g, t, evals = _strong_wolfe(
                    lambda t: _evaluate_number(evaluate, move(x, t, d), one),
                    t,
                    d,
                    one.lift(loss),
                    g,
                    gtd,
                    max_eval - c.current_evals,
                )
                return move(x, t, d), f.value, g, t, evals, max_abs(g) <= tolerance_grad
            x = move(x, t, d)

            def reevaluate(_):
                new_loss, new_g = evaluate(x)
                return new_loss.astype(scalar_dtype()), new_g, jnp.ones((), jnp.int32)

            # No re-evaluation on the last iteration: loss and g stay those from before the move.
            loss, g, evals = lax.cond(n != max_iter, reevaluate, lambda _: (loss, g, jnp.zeros((), jnp.int32)), None)
            return x, loss, g, t, evals, (n != max_iter) & (max_abs(g) <= tolerance_grad)

        def no_step(x, loss, g, t):
            return x, loss, g, t, jnp.zeros((), jnp.int32), jnp.zeros((), bool)

        x, loss, g, t, evals, opt_cond = lax.cond(descent, take_step, no_step, c.x, loss, g, t)
        current_evals = c.current_evals + evals
        stop = (
            ~descent
            | (n == max_iter)
            | (current_evals >= max_eval)
            | opt_cond
            | (max_abs(_scale(d, t.astype(dtype))) <= tolerance_change)
            | (abs(one.lift(loss) - prev_loss) < tolerance_change)
        )
        state = LBFGSState(
            func_evals=s.func_evals + evals,
            n_iter=n_iter,
            al=al,
            d=d,
            t=t.value,
            old_dirs=old_dirs,
            old_stps=old_stps,
            ro=ro,
            H_diag=H_diag,
            prev_flat_grad=prev_flat_grad,
            prev_loss=prev_loss,
            history_len=history_len,
            history_start=history_start,
        )
        return _Loop(state, x, loss, g, n, current_evals, stop)

    start = _Loop(state, x, loss, g, jnp.zeros((), jnp.int32), jnp.ones((), jnp.int32), max_abs(g) <= tolerance_grad)
    end = lax.while_loop(lambda c: ~c.stop & (c.n < max_iter), iteration, start)
    return end.x, end.state


def _evaluate_number(evaluate, x, like: _Number):
    loss, g = evaluate(x)
    return like.lift(loss.astype(scalar_dtype())), g


# ----------------------------------------------------------------------------------------------
# the public transform
# ----------------------------------------------------------------------------------------------


def _integer(name: str, value: Any) -> int:
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, but got {value!r}") from None


def lbfgs(
    lr: Hyperparam = 1,
    max_iter: int = 20,
    max_eval: int | None = None,
    tolerance_grad: Hyperparam = 1e-7,
    tolerance_change: Hyperparam = 1e-9,
    history_size: int = 100,
    line_search_fn: str | None = None,
    *,
    maximize: bool = False,
) -> LBFGSTransformation:
    """``torch.optim.LBFGS`` as a :class:`~functional_optim.GradientTransformation`; see the module docstring.

    ``update(grads, state, params, *, value, value_fn)`` is one torch ``LBFGS.step(closure)``:
    ``value`` and ``grads`` are the objective and its gradient at ``params`` (the closure's
    first call), and ``value_fn(params) -> loss`` is the objective, differentiated wherever
    the step evaluates it again. ``tx.step(loss_fn, state, params, *args)`` does the same from
    the objective alone.

    Args:
      lr: learning rate :math:`\\gamma`, the initial step length of every line search (and the
        fixed step length without one). A (1-element) array is torch's Tensor lr: step-length
        arithmetic with it is rounded to its dtype, as torch's is.
      max_iter: the most iterations in one step.
      max_eval: the most evaluations of the objective in one step; ``None`` means
        ``max_iter * 5 // 4``.
      tolerance_grad: a step ends when the largest gradient entry is at most this.
      tolerance_change: a step ends when the loss changes by less than this, or no parameter
        moves by more than it, or the directional derivative is above minus it.
      history_size: how many curvature pairs the memory keeps (rows of the ring buffers).
      line_search_fn: ``None`` (fixed step length ``lr``) or ``'strong_wolfe'``.
      maximize: maximise the objective (torch 2.15): the step minimises its negation, with
        every loss and gradient negated as torch negates them, so the iterates are those of
        minimising :math:`-f`; ``step`` still returns :math:`f`'s own value.

    Returns:
      An :class:`LBFGSTransformation`: ``init(params)``,
      ``update(grads, state, params, *, value, value_fn) -> (updates, state)`` and
      ``step(loss_fn, state, params, *args) -> (params, state, loss)``.

    Raises:
      ValueError: for a negative or non-1-element ``lr``, or ``history_size < 1``.
      RuntimeError: for a ``line_search_fn`` other than ``None`` and ``'strong_wolfe'``.

    Example::

        tx = fo.lbfgs(line_search_fn="strong_wolfe")
        state = tx.init(params)
        value, grads = jax.value_and_grad(loss_fn)(params)
        params, state = fo.apply_gradients(tx, grads, state, params, value=value, value_fn=loss_fn)
    """
    check_lr(lr)
    if line_search_fn not in (None, "strong_wolfe"):
        raise RuntimeError(f"only 'strong_wolfe' is supported (line_search_fn={line_search_fn!r})")
    max_iter = _integer("max_iter", max_iter)
    max_eval = max_iter * 5 // 4 if max_eval is None else _integer("max_eval", max_eval)
    history_size = _integer("history_size", history_size)
    if history_size < 1:
        raise ValueError(f"history_size must be >= 1, but got {history_size}")
    concrete_value("tolerance_grad", tolerance_grad)
    concrete_value("tolerance_change", tolerance_change)
    lr_is_array = isinstance(lr, (jax.Array, np.ndarray))  # torch's Tensor lr

    def init_fn(params: Params, hyperparams: dict[str, Any]) -> LBFGSState:
        if not jax.tree.leaves(params):
            raise ValueError("optimizer got an empty parameter list (LBFGS's params have no leaves)")
        x, m = _vectors(params), history_size
        dtype = jax.tree.leaves(x)[0].dtype

        def zeros(shape=(), dtype=dtype):  # a fresh buffer per field, so the state can be donated
            return jnp.zeros(shape, dtype)

        return LBFGSState(
            func_evals=zeros(dtype=jnp.int32),
            n_iter=zeros(dtype=jnp.int32),
            al=zeros(m),
            d=jax.tree.map(jnp.zeros_like, x),
            t=zeros(dtype=scalar_dtype()),
            old_dirs=jax.tree.map(lambda v: _zeros_ring(v, m), x),
            old_stps=jax.tree.map(lambda v: _zeros_ring(v, m), x),
            ro=zeros(m),
            H_diag=jnp.ones((), dtype),
            prev_flat_grad=jax.tree.map(jnp.zeros_like, x),
            prev_loss=zeros(dtype=scalar_dtype()),
            history_len=zeros(dtype=jnp.int32),
            history_start=zeros(dtype=jnp.int32),
        )

    def maybe_negated(loss: jax.Array, grads: Params) -> tuple[jax.Array, Params]:
        return (-loss, jax.tree.map(operator.neg, grads)) if maximize else (loss, grads)

    def step_fn(grads, state, params, hyperparams, count, *, value, value_fn):
        def in_param_dtypes(x: Params) -> Params:
            return jax.tree.map(lambda v, p: v.astype(p.dtype), x, params)

        def evaluate(x: Params) -> tuple[jax.Array, Params]:
            return maybe_negated(*jax.value_and_grad(lambda v: value_fn(in_param_dtypes(v)))(x))

        x = _vectors(params)
        dtype = jax.tree.leaves(x)[0].dtype
        value, grads = maybe_negated(value, jax.tree.map(lambda g: g.astype(dtype), grads))  # _gather_flat_grad
        new_x, state = _lbfgs_step(
            evaluate,
            x,
            value,
            grads,
            state,
            lr=hyperparams["lr"],
            lr_is_tensor=lr_is_array,
            tolerance_grad=hyperparams["tolerance_grad"],
            tolerance_change=hyperparams["tolerance_change"],
            max_iter=max_iter,
            max_eval=max_eval,
            strong_wolfe=line_search_fn == "strong_wolfe",
        )
        return in_param_dtypes(new_x), state

    transform = algorithm_transform(
        "LBFGS",
        init_fn,
        step_fn,
        {"lr": lr, "tolerance_grad": tolerance_grad, "tolerance_change": tolerance_change},
        extra_args={
            "value": "the objective at params, the closure's first value",
            "value_fn": "the objective as a function of the params",
        },
    )
    return LBFGSTransformation(*transform)
