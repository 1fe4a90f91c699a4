"""The :class:`Schedule` object every schedule function returns, and the helpers they share."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from functional_optim.hyperparams import as_scalars, scalar_dtype

EpochFn = Callable[[jax.Array], jax.Array]
# How torch's SequentialLR continues a scheduler it restarts at a milestone:
# ``restart(lr_before_the_milestone, epochs_since_the_milestone) -> lr``.
RestartFn = Callable[[jax.Array, jax.Array], jax.Array]


class Schedule:
    """A pure schedule ``epoch -> value``, as built by the functions of :mod:`functional_optim.schedules`.

    Calling it with an integer epoch (a Python int or a 0-d jax integer array, traced or not)
    returns a 0-d array in the scalar dtype (float64 under ``jax_enable_x64``): the value torch's
    scheduler holds after ``epoch`` calls of ``step()``. A schedule is a plain callable, so it
    can be passed wherever a hyperparameter is accepted (``fo.sgd(lr=schedule)``), closed over
    in jitted code, or mapped with ``jax.vmap`` over an array of epochs.

    Attributes:
      name: the torch class it reproduces (``"StepLR"``), for messages.
      base: the value the schedule scales or starts from (``base_lr``; ``base_momentum``).
      factor: for torch's multiplicative (chainable) schedulers, ``epoch -> value / base``,
        which :func:`~functional_optim.schedules.chained` multiplies; None for the others.
      momentum: the momentum (or beta1) schedule torch's CyclicLR and OneCycleLR write into the
        optimizer alongside the learning rate; None for the others and with
        ``cycle_momentum=False``.
    """

    def __init__(
        self,
        name: str,
        fn: EpochFn,
        base: Any,
        *,
        factor: EpochFn | None = None,
        momentum: Schedule | None = None,
        restart: RestartFn | BaseException | None = None,
        unguarded_first_step: Callable[[], Any] | BaseException | None = None,
        first_in_sequential: EpochFn | BaseException | None = None,
    ) -> None:
        self.name = name
        self.base = base
        self.factor = factor
        self.momentum = momentum
        self._fn = fn
        # The three hooks below describe torch behaviours that only show inside SequentialLR
        # (see composite.py); None means "as the schedule itself". An exception instance is
        # what torch raises there, re-raised when sequential_lr is built.
        # _restart: SequentialLR restarts a later scheduler at its milestone with the closed
        #   form at epoch 0, then steps it chainably; equal to a fresh start except where noted.
        self._restart = restart
        # _unguarded_first_step: the extra multiplier a multiplicative scheduler applies when its
        #   epoch-0 step runs without the constructor's guard (inside a ChainedScheduler that is
        #   SequentialLR's first scheduler).
        self._unguarded_first_step = unguarded_first_step
        # _first_in_sequential: the values when SequentialLR starts with this scheduler.
        self._first_in_sequential = first_in_sequential

    def __call__(self, epoch: Any) -> jax.Array:
        return self._fn(as_epoch(epoch))

    def __repr__(self) -> str:
        return f"<schedule {self.name}, base {self.base!r}>"


def as_epoch(epoch: Any) -> jax.Array:
    """``epoch`` as an integer array; a float epoch raises (schedules count whole steps)."""
    epoch = jnp.asarray(epoch)
    if not jnp.issubdtype(epoch.dtype, jnp.integer):
        raise TypeError(
            f"a schedule is evaluated at an integer epoch (an update count), but got dtype {epoch.dtype}; "
            "use per_epoch(schedule, steps_per_epoch) to turn update counts into epochs"
        )
    return epoch


def as_float(value: Any) -> jax.Array:
    """A number as a 0-d array in the scalar dtype; a floating array keeps its dtype."""
    return as_scalars(value)


def float_epoch(epoch: jax.Array) -> jax.Array:
    """An integer epoch in the scalar dtype (torch's ``int / float`` arithmetic)."""
    return epoch.astype(scalar_dtype())


def power(base: Any, exponent: jax.Array) -> jax.Array:
    """``base ** exponent`` for an integer exponent array, as Python's ``float ** int`` (C's ``pow``).

    jnp's float-to-integer power is a repeated squaring when it runs eagerly and ``pow`` when
    jitted, which differ in the last bits; a float exponent takes ``pow`` in both.
    """
    return jnp.power(base, float_epoch(exponent))


def divide(numerator: jax.Array, denominator: Any) -> jax.Array:
    """``numerator / denominator``, correctly rounded like torch's division, also by a constant.

    XLA rewrites a division by a constant into a multiplication by its (rounded) reciprocal,
    which can then fuse into an FMA: ``1 - e / 5`` at ``e = 5`` comes out as ``-5.6e-17``
    instead of 0. Hiding the constant behind an optimization barrier keeps the division.
    """
    numerator = jnp.asarray(numerator)
    # An array like the numerator (batched too under vmap): XLA also turns A / broadcast(b)
    # into A * broadcast(1 / b).
    return numerator / jax.lax.optimization_barrier(numerator * 0 + denominator)


def rounded(product: jax.Array) -> jax.Array:
    """``product``, rounded on its own before it meets an addition, as in torch.

    XLA fuses ``a * b + c`` into one FMA, which skips the rounding of the product; where the sum
    cancels (a one-cycle anneal ending at 0) that leaves ``5.6e-17`` where torch has 0. An
    identity select between the two stops the fusion.
    """
    return jnp.where(product == product, product, jnp.nan)


def exact(product: Any) -> Any:
    """``product`` unchanged: :func:`rounded`'s counterpart on Python numbers, whose arithmetic has no FMA."""
    return product


def int_constants(values: Sequence[int], like: jax.Array) -> jax.Array:
    """Python ints as an array of ``like``'s integer dtype, clipped to its range."""
    info = jnp.iinfo(like.dtype)
    return jnp.asarray([min(max(int(v), int(info.min)), int(info.max)) for v in values], like.dtype)


def per_group(name: str, value: Any, groups: int, note: str = "") -> list[Any]:
    """One ``value`` per param group: a list or tuple of ``groups`` values, or one value for all.

    torch's check of its per-group arguments (``base_lr``, ``max_momentum``, ...); ``note``
    is added to its message.
    """
    if isinstance(value, (list, tuple)):
        if len(value) != groups:
            raise ValueError(
                f"{name} must have the same length as optimizer.param_groups. "
                f"{name} has {len(value)} values, param_groups has {groups}.{note}"
            )
        return list(value)
    return [value] * groups


def one_value(name: str, value: Any) -> Any:
    """``value``, or the only entry of a one-element list or tuple (torch's per-group lists).

    A schedule describes one parameter group. torch accepts a list with one value per param
    group, so a one-element list is accepted as torch with one group would; a longer one raises
    torch's error for a one-group optimizer.
    """
    return per_group(name, value, 1, " (a schedule is for one param group: build one schedule per group)")[0]


def per_group_lambdas(lr_lambda: Any, groups: int, note: str = "") -> list[Any]:
    """One ``lr_lambda`` per param group, as LambdaLR and MultiplicativeLR take it (torch's message)."""
    if isinstance(lr_lambda, (list, tuple)):
        if len(lr_lambda) != groups:
            raise ValueError(f"Expected {groups} lr_lambdas, but got {len(lr_lambda)}{note}")
        return list(lr_lambda)
    return [lr_lambda] * groups


def check_lambdas(lr_lambdas: Sequence[Any]) -> None:
    """MultiplicativeLR's check that every ``lr_lambda`` is callable (torch's message)."""
    for lr_lambda in lr_lambdas:
        if not callable(lr_lambda):
            raise TypeError(f"lr_lambda should be a function, but got {type(lr_lambda).__name__}")


def one_lambda(lr_lambda: Any) -> Any:
    """``lr_lambda``, or the only entry of a one-element list, as LambdaLR/MultiplicativeLR take it."""
    (lr_lambda,) = per_group_lambdas(
        lr_lambda, 1, " (lr_lambda: a schedule is for one param group: build one schedule per group)"
    )
    check_lambdas([lr_lambda])
    return lr_lambda


def integral(value: Any) -> bool:
    """Whether ``value`` is a real number with an integer value (``3`` or ``3.0``)."""
    return isinstance(value, numbers.Real) and math.isfinite(value) and float(value).is_integer()


def per_epoch(schedule: Callable[[Any], Any], steps_per_epoch: int) -> Schedule:
    """A per-epoch schedule evaluated at update counts: ``count -> schedule(count // steps_per_epoch)``.

    A hyperparameter schedule is evaluated at ``state.count``, the number of updates already
    applied. torch's epoch-based schedulers are stepped once per epoch; with
    ``steps_per_epoch`` updates per epoch, this gives every update of epoch ``k`` the value
    ``schedule(k)``, as torch's optimizer sees it::

        tx = fo.sgd(lr=fo.schedules.per_epoch(fo.schedules.step_lr(0.1, step_size=30), len(loader)))

    Schedules stepped per batch in torch (CyclicLR, OneCycleLR) need no wrapping. The result
    keeps ``factor`` and ``momentum`` (both per epoch as well).

    Args:
      schedule: any schedule, or a callable ``epoch -> value`` traceable with an integer.
      steps_per_epoch: the number of updates per epoch, a positive int.
    """
    if not isinstance(steps_per_epoch, numbers.Integral) or isinstance(steps_per_epoch, bool) or steps_per_epoch <= 0:
        raise ValueError(f"Expected positive integer steps_per_epoch, but got {steps_per_epoch}")
    if not callable(schedule):
        raise TypeError(f"per_epoch needs a schedule (a callable epoch -> value), but got {type(schedule).__name__}")
    steps = int(steps_per_epoch)

    def rescale(fn: Callable[[Any], Any] | None) -> EpochFn | None:
        return None if fn is None else (lambda count: fn(count // steps))

    factor = getattr(schedule, "factor", None)
    momentum = getattr(schedule, "momentum", None)
    name = getattr(schedule, "name", getattr(schedule, "__name__", "schedule"))
    return Schedule(
        f"per_epoch({name}, {steps})",
        rescale(schedule),
        getattr(schedule, "base", None),
        factor=rescale(factor),
        momentum=None if momentum is None else per_epoch(momentum, steps),
    )
