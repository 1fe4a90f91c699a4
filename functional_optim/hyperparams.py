"""How an algorithm's numeric hyperparameters live in its state.

Every algorithm in this package keeps its numeric hyperparameters (``lr``, ``betas``, ``eps``,
``weight_decay``, ...) as arrays in its state, the way ``optax.inject_hyperparams`` does: a
jitted ``update`` reads them as traced values, so changing one between steps never
re-compiles. A hyperparameter given as a callable is a *schedule*: it is evaluated at
``state.count`` (the number of updates already applied) at the start of every update.

Scalar maths follows torch: hyperparameters and the scalars derived from them (bias
corrections, step sizes) are computed in the widest float JAX has enabled (float64 under
``jax_enable_x64``, like torch's Python floats) and cast to each parameter's compute dtype
only where they meet the parameter's arrays.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp
import numpy as np

from functional_optim import native
from functional_optim.elementwise import compute_dtype
from functional_optim.transform import GradientTransformation, Params, Updates
from functional_optim.validation import check_grad_dtype

Schedule = Callable[[jax.Array], Any]
Hyperparam = Any  # a Python number, a 1-element array, a tuple of those, or a Schedule


class HyperparamsState(NamedTuple):
    """The state of every functional_optim algorithm.

    Attributes:
      count: int32 scalar, the number of updates applied so far; schedules are evaluated at it.
      hyperparams: the current numeric hyperparameters by torch's names, as arrays (None for
        one fixed at 0, see ``skipped_at_zero`` in :func:`algorithm_transform`). Change them
        between steps with :func:`~functional_optim.set_hyperparams`, which checks the edit, without re-compiling.
      inner_state: the algorithm's own state, a NamedTuple whose fields are torch's
        per-parameter state keys (``step``, ``exp_avg``, ...), each a tree like the params
        (or a scalar for torch's 0-dim state). Its class may define
        ``check_hyperparams(values)``, which :func:`~functional_optim.set_hyperparams` calls with the new values
        before it replaces them, to refuse an edit the state cannot follow (a ValueError).
    """

    count: jax.Array
    hyperparams: dict[str, Any]
    inner_state: Any


class InitFn(Protocol):
    def __call__(self, params: Params, hyperparams: dict[str, Any]) -> Any: ...


class StepFn(Protocol):
    def __call__(
        self, grads: Updates, state: Any, params: Params, hyperparams: dict[str, Any], count: jax.Array
    ) -> tuple[Params, Any]: ...


def scalar_dtype() -> jnp.dtype:
    """float64 when ``jax_enable_x64`` is on (torch's Python-float scalar maths), else float32."""
    return jnp.result_type(float)


def as_scalars(value: Hyperparam) -> Any:
    """``value`` (a number, a 1-element array, or a tuple of those) as 0-d arrays.

    Python numbers become scalar-dtype arrays; a floating array keeps its dtype, as a torch
    tensor hyperparameter does (see :func:`cast_like`).
    """

    def as_scalar(v: Any) -> jax.Array:
        is_float_array = isinstance(v, (jax.Array, np.ndarray)) and jnp.issubdtype(v.dtype, jnp.floating)
        dtype = v.dtype if is_float_array else scalar_dtype()
        return jnp.reshape(jax.lax.convert_element_type(v, dtype), ())  # strongly typed: stable jit cache key

    return jax.tree.map(as_scalar, value)


def _is_python_zero(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0


def cast_like(number: jax.Array, hyperparam: jax.Array) -> jax.Array:
    """``number`` cast to ``hyperparam``'s dtype, for arithmetic that torch does in tensor dtype.

    torch computes ``lr / bias_correction1`` with a *tensor* ``lr`` (``lr=torch.tensor(1e-3)``)
    as tensor arithmetic: the Python number is cast to the tensor's dtype (float32) and the
    result is float32, even when the params are float64. Writing
    ``lr / cast_like(bias_correction1, lr)`` reproduces that; for a Python-number
    hyperparameter (held in the scalar dtype) it changes nothing.
    """
    return number.astype(jnp.result_type(hyperparam))


def decoupled_decay_factor(lr: jax.Array, weight_decay: jax.Array | None) -> jax.Array | None:
    """``1 - lr * weight_decay``, the factor decoupled decay scales a parameter by (None for no decay).

    In tensor arithmetic for a tensor ``lr`` (see :func:`cast_like`).
    """
    return None if weight_decay is None else 1 - lr * cast_like(weight_decay, lr)


def to_real(x: jax.Array) -> jax.Array:
    """A complex array of shape S as a real one of shape S + (2,), as torch's view_as_real."""
    x = jnp.asarray(x)
    return jnp.stack([x.real, x.imag], axis=-1) if jnp.iscomplexobj(x) else x


def from_real(x: jax.Array, like: jax.Array) -> jax.Array:
    """The inverse of :func:`to_real`: ``x`` back as a complex array if ``like`` is complex, else unchanged."""
    return jax.lax.complex(x[..., 0], x[..., 1]) if jnp.iscomplexobj(like) else x


def _difference(new_real: jax.Array, old: jax.Array) -> jax.Array:
    """``new - old`` in the compute dtype: float32 for a half-precision param, where it is exact,
    so that :func:`~functional_optim.transform.apply_updates` rounds ``old + update`` to ``new``.

    An unchanged entry's update is 0, so an infinite parameter that the step leaves infinite
    (as torch's in-place arithmetic does) stays so instead of becoming ``inf - inf = NaN``."""
    dtype = compute_dtype(old.dtype)
    new, old = from_real(new_real, old).astype(dtype), old.astype(dtype)
    difference = new - old
    return jax.lax.select(new == old, jnp.zeros_like(difference), difference)


def _check_grads_match_params(name: str, grads: Updates, params: Params) -> None:
    grads_def, params_def = jax.tree.structure(grads), jax.tree.structure(params)
    if grads_def != params_def:
        raise ValueError(
            f"{name}: the grads' tree structure does not match the params'.\n"
            f"  grads:  {grads_def}\n  params: {params_def}"
        )
    for (path, g), p in zip(jax.tree_util.tree_leaves_with_path(grads), jax.tree.leaves(params)):
        where = f"{name}: the grad at {jax.tree_util.keystr(path) or 'the root'}"
        if jnp.shape(g) != jnp.shape(p):
            raise ValueError(f"{where} has shape {jnp.shape(g)} but its param has shape {jnp.shape(p)}")
        check_grad_dtype(where, g, p)


def check_floating(name: str, params: Params, supports_complex: bool) -> None:
    """Raises TypeError, naming ``name`` and the leaf, for a param that is not floating (or complex, unsupported)."""
    for path, p in jax.tree_util.tree_leaves_with_path(params):
        dtype = jnp.result_type(p)
        where = jax.tree_util.keystr(path) or "the root"
        if jnp.issubdtype(dtype, jnp.complexfloating):
            if not supports_complex:
                raise TypeError(f"{name} does not support complex parameters (the param at {where})")
        elif not jnp.issubdtype(dtype, jnp.floating):
            raise TypeError(f"{name} can only optimize floating-point params, but the param at {where} is {dtype}")


def algorithm_transform(
    name: str,
    init_fn: InitFn,
    step_fn: StepFn,
    hyperparams: dict[str, Hyperparam],
    *,
    supports_complex: bool = True,
    prepare_grads: Callable[[Updates, Params], Any] | None = None,
    skipped_at_zero: tuple[str, ...] = (),
    native_kernel: str | None = None,
    extra_args: dict[str, str] | None = None,
) -> GradientTransformation:
    """Builds an algorithm's :class:`GradientTransformation` from its hyperparameter-explicit maths.

    Args:
      name: the torch class name, for error messages.
      init_fn: ``init_fn(params, hyperparams) -> inner_state``.
      step_fn: ``step_fn(grads, inner_state, params, hyperparams, count) -> (new_params,
        inner_state)``: one torch ``step()``, returning the parameters after it.
      hyperparams: the numeric hyperparameters by torch's names; a callable (alone, or as an
        element of a tuple such as ``betas``) is a schedule of the update count.
      supports_complex: if True, complex params are optimised as torch does, as real arrays
        with a trailing axis of 2 (``view_as_real``), state included; if False they raise.
      prepare_grads: for gradients that are not dense arrays (SparseAdam's BCOO):
        ``prepare_grads(grads, params) -> grads`` checks them against the params and returns
        what ``step_fn`` receives, in place of the default structure/shape/dtype check and
        real view. By default each grad must have its param's shape and dtype (TypeError
        otherwise, as torch refuses a grad of another dtype), checked before any maths.
      skipped_at_zero: hyperparameters whose term torch skips when they are 0 (``if
        weight_decay != 0``, ``if momentum != 0``). Given as the Python number 0, such a
        hyperparameter is fixed: it is None in the state and in what ``init_fn`` and ``step_fn``
        receive, which leaves its term out of the compiled step (for L2 decay, a read of every
        parameter; for momentum, its buffer), and :func:`~functional_optim.set_hyperparams` refuses to change it.
        Given as an array or a schedule, it stays changeable.
      native_kernel: the name of the algorithm's native CPU kernel, if ``step_fn`` calls one
        (see :mod:`functional_optim.native`); reported by :func:`functional_optim.native.path`.
      extra_args: keyword arguments ``update`` requires beyond ``(grads, state, params)``, by
        name with what each is (for the error when one is missing), as optax's
        ``GradientTransformationExtraArgs``: ``update`` then takes ``**extra_args``, passes
        these to ``step_fn`` as keyword arguments and ignores any others (a chain hands every
        transform the same ones). A ``value_fn``, the objective as a function of the params, is
        passed on as a function of their real views, like everything ``step_fn`` sees.

    The transform's updates are ``new_params - params``, so :func:`apply_updates` gives
    torch's parameters back (exactly, whenever a step changes a parameter by less than half
    of its magnitude); :func:`~functional_optim.apply_gradients` returns them directly.
    """
    schedules = {k: v for k, v in hyperparams.items() if any(callable(leaf) for leaf in jax.tree.leaves(v))}
    fixed = {k: None for k in skipped_at_zero if _is_python_zero(hyperparams[k])}

    def evaluate(value: Hyperparam, count: jax.Array) -> Any:
        """A hyperparameter (a schedule, or a tuple holding some) at ``count``."""
        return as_scalars(jax.tree.map(lambda leaf: leaf(count) if callable(leaf) else leaf, value))

    def current_hyperparams(values: dict[str, Any], count: jax.Array) -> dict[str, Any]:
        return {k: evaluate(schedules[k], count) if k in schedules else v for k, v in values.items()}

    def init(params: Params) -> HyperparamsState:
        check_floating(name, params, supports_complex)
        count = jnp.zeros((), jnp.int32)
        values = current_hyperparams(
            {k: None if k in schedules or k in fixed else as_scalars(v) for k, v in hyperparams.items()}, count
        )
        return HyperparamsState(count, values, init_fn(jax.tree.map(to_real, params), values))

    def required_args(given: dict[str, Any]) -> dict[str, Any]:
        """The ``extra_args`` from ``update``'s keyword arguments; TypeError naming any missing."""
        missing = [f"{k}= ({meaning})" for k, meaning in (extra_args or {}).items() if given.get(k) is None]
        if missing:
            raise TypeError(
                f"{name}: update needs the keyword arguments " + ", ".join(missing) + ". optax.chain hands "
                "them only to an optax.GradientTransformationExtraArgs: put this transform in one there, "
                "optax.GradientTransformationExtraArgs(*tx)"
            )
        return {k: given[k] for k in extra_args or {}}

    def step(
        grads: Updates, state: HyperparamsState, params: Params, extra: dict[str, Any]
    ) -> tuple[Params, HyperparamsState]:
        """One torch ``step()``: the new (real-view) params and the next state."""
        if "value_fn" in extra:
            value_fn = extra["value_fn"]
            extra = {**extra, "value_fn": lambda real: value_fn(jax.tree.map(from_real, real, params))}
        values = {**current_hyperparams(state.hyperparams, state.count), **fixed}  # fixed even if given
        real_params = jax.tree.map(to_real, params)
        if prepare_grads is not None:
            real_grads = prepare_grads(grads, real_params)
        else:
            _check_grads_match_params(name, grads, params)
            # The dtypes are equal (checked): astype only makes a weakly typed grad strongly typed.
            real_grads = jax.tree.map(lambda g, p: to_real(g).astype(p.dtype), grads, real_params)
        new_real_params, inner_state = step_fn(real_grads, state.inner_state, real_params, values, state.count, **extra)
        return new_real_params, HyperparamsState(state.count + 1, values, inner_state)

    def update(
        grads: Updates, state: HyperparamsState, params: Params | None = None, **extra: Any
    ) -> tuple[Updates, HyperparamsState]:
        if params is None:
            raise ValueError(f"{name}: update needs the current params (update(grads, state, params))")
        new_real_params, new_state = step(grads, state, params, required_args(extra))
        return jax.tree.map(_difference, new_real_params, jax.tree.map(jnp.asarray, params)), new_state

    def apply_gradients(
        grads: Updates, state: HyperparamsState, params: Params, **extra: Any
    ) -> tuple[Params, HyperparamsState]:
        extra = required_args(extra)
        with native.in_place():  # the native kernels' step (see functional_optim.native)
            new_real_params, new_state = step(grads, state, params, extra)
        return jax.tree.map(lambda new, old: from_real(new, jnp.asarray(old)), new_real_params, params), new_state

    if not extra_args:  # no **kwargs: a chain hands such a transform none (see functional_optim.chain)
        update = _positional_only_update(update)
    update.apply_gradients = apply_gradients  # see functional_optim.apply_gradients
    update.native_kernel = native_kernel
    return GradientTransformation(init, update)


def _positional_only_update(update: Callable[..., Any]) -> Callable[..., Any]:
    """``update`` as ``update(grads, state, params=None)``, refusing keyword arguments."""

    def update_without_extra_args(
        grads: Updates, state: HyperparamsState, params: Params | None = None
    ) -> tuple[Updates, HyperparamsState]:
        return update(grads, state, params)

    update_without_extra_args.__doc__ = update.__doc__
    return update_without_extra_args
