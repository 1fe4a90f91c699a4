r"""Weight averaging (SWA, EMA) as pure functions: ``init(params) -> state``, ``update(params, state) -> state``.

An :class:`Averaging` is a pair of pure functions over parameter pytrees, for jitted loops:

* ``init(params) -> AveragingState(averaged, n_averaged)``: a copy of ``params`` and a count of 0;
* ``update(params, state) -> state``: the first update copies ``params`` (the count is 0), every
  later one averages them into ``averaged``; the count goes up by one.

::

    averager = fo.averaging.ema(decay=0.999)
    average = averager.init(params)

    @jax.jit
    def train_step(params, opt_state, average, batch):
        params, opt_state = fo.apply_gradients(tx, jax.grad(loss_fn)(params, batch), opt_state, params)
        return params, opt_state, averager.update(params, average)

The arithmetic is ``torch.optim.swa_utils``'s, op for op, so the averages are torch's to the
bit for float32 and float64 (half precision rounds after every op, as torch's kernels do):
:func:`swa_average` and :func:`ema_average` are the rules of ``get_swa_avg_fn`` and
``get_ema_avg_fn``, :func:`swa_multi_average` and :func:`ema_multi_average` those of
``get_swa_multi_avg_fn`` and ``get_ema_multi_avg_fn`` (torch's ``lerp``).
:class:`functional_optim.optim.swa_utils.AveragedModel` is :func:`averager` on a tree of
Parameters. Each function is compiled on its own, so it gives the same numbers called eagerly
or inside a jitted step.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from functional_optim import elementwise
from functional_optim.schedules.schedule import rounded

__all__ = [
    "Averaging",
    "AveragingState",
    "averager",
    "check_decay",
    "ema",
    "ema_average",
    "ema_multi_average",
    "swa",
    "swa_average",
    "swa_multi_average",
]

Params = Any
AvgFn = Callable[[jax.Array, jax.Array, Any], jax.Array]
MultiAvgFn = Callable[[Sequence[jax.Array], Sequence[jax.Array], Any], list[jax.Array]]


class AveragingState(NamedTuple):
    """The running average and the number of models in it (torch's ``n_averaged`` buffer)."""

    averaged: Params
    n_averaged: jax.Array


class Averaging(NamedTuple):
    """A pair of pure functions ``(init, update)``; see the module docstring."""

    init: Callable[[Params], AveragingState]
    update: Callable[[Params, AveragingState], AveragingState]


def check_decay(decay: float) -> None:
    """Raises torch's ValueError for an EMA ``decay`` outside [0, 1]."""
    if decay < 0.0 or decay > 1.0:
        raise ValueError(f"Invalid decay value {decay} provided. Please provide a value in [0,1] range.")


def _is_float(x: jax.Array) -> bool:
    return jnp.issubdtype(jnp.result_type(x), jnp.inexact)


def _divide(numerator: jax.Array, denominator: jax.Array) -> jax.Array:
    """A correctly rounded division: XLA would multiply by the reciprocal of a broadcast divisor."""
    return numerator / jax.lax.optimization_barrier(jnp.full_like(numerator, denominator))


@jax.jit
def swa_average(averaged: jax.Array, current: jax.Array, num_averaged: Any) -> jax.Array:
    r"""The equal-weight running mean of one array: torch's ``get_swa_avg_fn()`` rule.

    .. math:: W^{SWA} \leftarrow W^{SWA} + \frac{W - W^{SWA}}{n + 1}

    with :math:`n` the number of models already averaged. Rounded op by op in the array's dtype
    (its float32 compute dtype for half precision, rounding after each op, as torch). Integer
    arrays give float32, as torch's true division does (an average of them truncates it).

    Args:
      averaged: the average so far.
      current: the model's value.
      num_averaged: :math:`n`, an integer (array or int).

    Returns:
      The new average.

    Example:
      >>> swa_average(jnp.asarray([1.0]), jnp.asarray([4.0]), 2)   # (1 + 1 + 4) / 3
      Array([2.], dtype=float32)
    """
    if not _is_float(averaged):
        averaged, current = averaged.astype(jnp.float32), current.astype(jnp.float32)
    dtype = jnp.result_type(averaged)
    store = elementwise.storage_rounding(dtype)
    cdtype = elementwise.compute_dtype(dtype)
    start, end = averaged.astype(cdtype), current.astype(cdtype)
    step = store(_divide(store(end - start), jnp.asarray(num_averaged + 1).astype(cdtype)))
    return store(start + step).astype(dtype)


def ema_average(averaged: jax.Array, current: jax.Array, decay: Any) -> jax.Array:
    r"""The exponential moving average of one array: torch's ``get_ema_avg_fn(decay)`` rule.

    .. math:: W^{EMA} \leftarrow \text{decay}\, W^{EMA} + (1 - \text{decay})\, W

    The two products are rounded before the sum (no fused multiply-add), as in torch. Integer
    arrays give float32, as torch's products with a Python float do.

    Args:
      averaged: the average so far.
      current: the model's value.
      decay: the weight of the old average, in [0, 1] (not validated here: see
        :func:`check_decay`).

    Returns:
      The new average.
    """
    return _ema(averaged, current, decay, 1 - decay)  # 1 - decay in Python's float, as torch


@jax.jit
def _ema(averaged: jax.Array, current: jax.Array, decay: Any, one_minus_decay: Any) -> jax.Array:
    if not _is_float(averaged):
        averaged, current = averaged.astype(jnp.float32), current.astype(jnp.float32)
    dtype = jnp.result_type(averaged)
    store = elementwise.storage_rounding(dtype)
    cdtype = elementwise.compute_dtype(dtype)
    kept = store(rounded(jnp.asarray(decay).astype(cdtype) * averaged.astype(cdtype)))
    added = store(rounded(jnp.asarray(one_minus_decay).astype(cdtype) * current.astype(cdtype)))
    return store(kept + added).astype(dtype)


@jax.jit
def _lerp(start: jax.Array, end: jax.Array, weight: jax.Array) -> jax.Array:
    """torch's in-place ``lerp_(end, weight)`` on a float or complex ``start``, stored in its dtype."""
    dtype = jnp.result_type(start)
    cdtype = elementwise.compute_dtype(dtype)
    rounding = elementwise.storage_rounding(dtype)
    result = elementwise.lerp(start.astype(cdtype), end.astype(cdtype), weight.astype(cdtype), rounding)
    return result.astype(dtype)


def ema_multi_average(averaged: Sequence[jax.Array], current: Sequence[jax.Array], decay: float) -> list[jax.Array]:
    r"""The exponential moving average of a list of arrays: torch's ``get_ema_multi_avg_fn(decay)`` rule.

    .. math:: W^{EMA} \leftarrow \operatorname{lerp}(W^{EMA}, W, 1 - \text{decay})

    torch's ``lerp`` (``start + w (end - start)`` for :math:`w < 1/2`, else
    ``end - (end - start)(1 - w)``, one fused multiply-add) with :math:`w` rounded to the
    array's dtype. Integer arrays take :func:`ema_average` truncated to their dtype, as torch's
    in-place copy does. torch updates the list in place; this returns the new arrays.

    Args:
      averaged: the averages so far.
      current: the model's values, in the same order.
      decay: the weight of the old average, in [0, 1].

    Returns:
      The new averages, each in its average's dtype.
    """
    return [
        _lerp(a, c, jnp.asarray(1 - decay)) if _is_float(a) else ema_average(a, c, decay).astype(a.dtype)
        for a, c in zip(averaged, current, strict=True)
    ]


def swa_multi_average(
    averaged: Sequence[jax.Array], current: Sequence[jax.Array], num_averaged: Any
) -> list[jax.Array]:
    r"""The equal-weight running mean of a list of arrays: torch's ``get_swa_multi_avg_fn()`` rule.

    .. math:: W^{SWA} \leftarrow \operatorname{lerp}\left(W^{SWA}, W, \frac{1}{n + 1}\right)

    The weight is torch's: for a Python int :math:`n`, the float :math:`1/(n+1)`; for an array
    (torch's tensor ``n_averaged``), the float32 reciprocal, which float64 arrays then use as
    it is (so their mean is not exactly :func:`swa_average`'s). torch updates the list in
    place; this returns the new arrays.

    Args:
      averaged: the averages so far.
      current: the model's values, in the same order.
      num_averaged: :math:`n`, an int or an integer array.

    Returns:
      The new averages, each in its average's dtype.

    Raises:
      RuntimeError: an integer array (torch's ``addcdiv`` or ``add`` error).
    """
    if isinstance(num_averaged, int):
        weight = jnp.asarray(1 / (num_averaged + 1))
    else:
        weight = 1 / (jnp.asarray(num_averaged) + 1).astype(jnp.float32)
    for a in averaged:
        if _is_float(a):
            continue
        if isinstance(num_averaged, int):
            raise RuntimeError("For integral input tensors, argument alpha must not be a floating point number.")
        raise RuntimeError(
            "Integer division with addcdiv is no longer supported, and in a future  release addcdiv will perform "
            "a true division of tensor1 and tensor2. The historic addcdiv behavior can be implemented as "
            "(input + value * torch.trunc(tensor1 / tensor2)).to(input.dtype) for integer inputs and as "
            "(input + value * tensor1 / tensor2) for float inputs. The future addcdiv behavior is just the latter "
            "implementation: (input + value * tensor1 / tensor2), for all dtypes."
        )
    return [_lerp(a, c, weight) for a, c in zip(averaged, current, strict=True)]


def _by_dtype(multi_avg_fn: MultiAvgFn, averaged: list[jax.Array], current: list[jax.Array], n: Any) -> list[Any]:
    """``multi_avg_fn`` called once per dtype of ``averaged``, as torch groups its tensors."""
    groups: dict[Any, list[int]] = {}
    for index, a in enumerate(averaged):
        groups.setdefault(jnp.result_type(a), []).append(index)
    result: list[Any] = [None] * len(averaged)
    for indices in groups.values():
        new = multi_avg_fn([averaged[i] for i in indices], [current[i] for i in indices], n)
        for i, value in zip(indices, new, strict=True):
            result[i] = value
    return result


def averager(avg_fn: AvgFn | None = None, multi_avg_fn: MultiAvgFn | None = None) -> Averaging:
    r"""An :class:`Averaging` with torch's ``AveragedModel`` arguments.

    ``update`` copies the params while the count is 0, and otherwise calls ``multi_avg_fn``
    (once per dtype, on lists, as torch groups its tensors), or ``avg_fn`` per array, or, with
    neither, :func:`swa_average` per array (torch's CPU default), with the count as an integer
    array; each result is cast to its average's dtype (torch copies it in). Both functions must
    be traceable under ``jax.jit``; they are traced even on the first update, whose result
    then is the copy.

    Args:
      avg_fn: ``avg_fn(averaged, current, n_averaged) -> new`` for one array.
      multi_avg_fn: ``multi_avg_fn(averaged_list, current_list, n_averaged) -> new_list``.

    Returns:
      The ``(init, update)`` pair.

    Raises:
      AssertionError: both functions given (torch's message).
    """
    if avg_fn is not None and multi_avg_fn is not None:
        raise AssertionError("Only one of avg_fn and multi_avg_fn should be provided")

    def init(params: Params) -> AveragingState:
        return AveragingState(jax.tree.map(jnp.copy, params), jnp.zeros((), int))

    def update(params: Params, state: AveragingState) -> AveragingState:
        averaged, treedef = jax.tree.flatten(state.averaged)
        current = treedef.flatten_up_to(params)
        n = state.n_averaged
        if multi_avg_fn is not None:
            new = _by_dtype(multi_avg_fn, averaged, current, n)
        else:
            new = [(avg_fn or swa_average)(a, c, n) for a, c in zip(averaged, current)]
        first = n == 0
        leaves = [
            jnp.where(first, jnp.asarray(c).astype(a.dtype), jnp.asarray(x).astype(a.dtype))
            for a, c, x in zip(averaged, current, new)
        ]
        return AveragingState(treedef.unflatten(leaves), n + 1)

    return Averaging(init, update)


def swa() -> Averaging:
    r"""Stochastic weight averaging: the equal-weight mean of every model passed to ``update``.

    .. math:: W^{SWA}_1 = W_1, \qquad W^{SWA}_{n+1} = W^{SWA}_n + \frac{W_{n+1} - W^{SWA}_n}{n + 1}

    torch's default ``AveragedModel`` on CPU (:func:`swa_average`, per array).

    Example:
      >>> averager = fo.averaging.swa()
      >>> state = averager.init(params)
      >>> state = averager.update(params, state)   # inside the jitted step, after each epoch
    """
    return averager()


def ema(decay: float = 0.999) -> Averaging:
    r"""The exponential moving average of the models passed to ``update``.

    .. math:: W^{EMA}_1 = W_1, \qquad W^{EMA}_{n+1} = \operatorname{lerp}(W^{EMA}_n, W_{n+1}, 1 - \text{decay})

    torch's ``AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay))``
    (:func:`ema_multi_average`).

    Args:
      decay: the weight of the old average, in [0, 1].

    Raises:
      ValueError: ``decay`` outside [0, 1] (torch's message).

    Example:
      >>> averager = fo.averaging.ema(0.99)
      >>> state = averager.update(params, state)   # after every optimizer step
    """
    check_decay(decay)
    return averager(multi_avg_fn=functools.partial(_ema_multi_with_count, decay=decay))


def _ema_multi_with_count(averaged: list[jax.Array], current: list[jax.Array], n: Any, decay: float) -> list[Any]:
    del n
    return ema_multi_average(averaged, current, decay)
