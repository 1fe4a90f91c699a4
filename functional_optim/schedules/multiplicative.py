r"""torch's multiplicative schedulers: LambdaLR and the chainable ones that scale the lr step by step.

Each chainable torch scheduler (MultiplicativeLR, StepLR, MultiStepLR, ConstantLR, LinearLR,
ExponentialLR, PolynomialLR) multiplies the optimizer's current lr by a factor at every
``step()``. Started fresh, the product of those factors is a closed form
:math:`\eta_e = \eta_0\, F(e)`, and that is what these functions return: the lr torch holds
after ``e`` steps, i.e. torch's *recursive* (``step()``) sequence. It equals torch's own closed
form (``step(epoch)``) up to rounding, except in the degenerate cases each docstring lists,
where the functions follow the recursive sequence. ``Schedule.factor`` is :math:`F`, which
:func:`~functional_optim.schedules.chained` multiplies.
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Callable, Iterable
from fractions import Fraction
from typing import Any

import jax
import jax.numpy as jnp

from functional_optim.schedules.chainable import (
    constant_lr_closed_form,
    exponential_lr_step,
    linear_lr_closed_form,
    milestones_passed,
    multiplicative_lr_step,
    polynomial_lr_closed_form,
    polynomial_lr_step,
)
from functional_optim.schedules.schedule import (
    EpochFn,
    RestartFn,
    Schedule,
    as_epoch,
    as_float,
    divide,
    float_epoch,
    int_constants,
    integral,
    one_lambda,
    power,
)


def _multiplicative(
    name: str,
    base_lr: Any,
    factor: EpochFn,
    *,
    restart: RestartFn | BaseException | None = None,
    unguarded_first_step: Callable[[], Any] | BaseException | None = None,
) -> Schedule:
    return Schedule(
        name,
        lambda epoch: as_float(base_lr) * factor(epoch),
        base_lr,
        factor=factor,
        restart=restart,
        unguarded_first_step=unguarded_first_step,
    )


def _constant(base_lr: Any, value: float) -> RestartFn:
    return lambda lr_before, epoch: as_float(base_lr) * value


def check_constant_factor(factor: float) -> None:
    """ConstantLR's check of ``factor`` (torch's message)."""
    if factor > 1.0 or factor < 0:
        raise ValueError(f"Constant multiplicative factor expected to be between 0 and 1. (factor={factor!r})")


def check_linear_factors(start_factor: float, end_factor: float) -> None:
    """LinearLR's checks of ``start_factor`` and ``end_factor`` (torch's messages)."""
    if start_factor > 1.0 or start_factor <= 0:
        raise ValueError(
            "Starting multiplicative factor expected to be greater than 0 and less or equal to 1. "
            f"(start_factor={start_factor!r})"
        )
    if end_factor > 1.0 or end_factor < 0:
        raise ValueError(f"Ending multiplicative factor expected to be between 0 and 1. (end_factor={end_factor!r})")


def lambda_lr(base_lr: Any, lr_lambda: Callable[[Any], Any]) -> Schedule:
    r"""``torch.optim.lr_scheduler.LambdaLR``: the base lr times a function of the epoch.

    .. math:: \eta_e = \eta_0\, \lambda(e)

    torch evaluates ``lr_lambda`` at ``last_epoch``, a Python int; here it receives a jax
    integer and must be traceable (``lambda e: 0.95 ** e`` and ``lambda e: e // 30`` are).
    LambdaLR sets the lr from the base at every step (it is not chainable), so the result has
    no ``factor``.

    Args:
      base_lr: :math:`\eta_0`, the lr of the param group (torch's ``initial_lr``).
      lr_lambda: ``epoch -> multiplicative factor``; a list of one such function is accepted,
        as torch's per-group list for one group.
    """
    lr_lambda = one_lambda(lr_lambda)
    return Schedule("LambdaLR", lambda epoch: jnp.asarray(as_float(base_lr) * lr_lambda(epoch)), base_lr)


def multiplicative_lr(base_lr: Any, lr_lambda: Callable[[Any], Any]) -> Schedule:
    r"""``torch.optim.lr_scheduler.MultiplicativeLR``: the lr multiplied by ``lr_lambda(e)`` at every step.

    .. math:: \eta_e = \eta_0 \prod_{k=1}^{e} \lambda(k)

    torch's constructor step leaves the lr alone (:math:`\lambda(0)` is never used by a fresh
    scheduler) and every later step multiplies by :math:`\lambda(e)`. The product is computed
    by a loop of ``e`` multiplications in torch's order (``jax.lax.fori_loop``), so it matches
    torch exactly for any traceable ``lr_lambda``, at a cost linear in the epoch.

    Inside SequentialLR, torch does not restart a MultiplicativeLR at its milestone (it has no
    closed form): it goes on multiplying the previous scheduler's last lr by
    :math:`\lambda(0), \lambda(1), \ldots`, and :func:`sequential_lr` does the same.

    Args:
      base_lr: :math:`\eta_0`, the lr of the param group.
      lr_lambda: ``epoch -> factor``, traceable with a jax integer; a list of one is accepted.

    Raises:
      TypeError: ``lr_lambda`` is not callable (torch's message).
    """
    lr_lambda = one_lambda(lr_lambda)

    def product(first: int, epoch: jax.Array, value: jax.Array) -> jax.Array:
        """``value * lr_lambda(first) * ... * lr_lambda(epoch)``, multiplied left to right."""

        def body(k: jax.Array, lr: jax.Array) -> jax.Array:
            return jnp.asarray(multiplicative_lr_step(lr, k, lr_lambda)).astype(lr.dtype)

        return jax.lax.fori_loop(first, epoch + 1, body, value)

    return Schedule(
        "MultiplicativeLR",
        lambda epoch: product(1, epoch, as_float(base_lr)),
        base_lr,
        factor=lambda epoch: product(1, epoch, as_float(1.0)),
        restart=lambda lr_before, epoch: product(0, epoch, lr_before),
        unguarded_first_step=lambda: lr_lambda(as_epoch(0)),
    )


def step_lr(base_lr: Any, step_size: int, gamma: float = 0.1) -> Schedule:
    r"""``torch.optim.lr_scheduler.StepLR``: the lr multiplied by ``gamma`` every ``step_size`` epochs.

    .. math:: \eta_e = \eta_0\, \gamma^{\lfloor e / s \rfloor}

    torch multiplies by :math:`\gamma` at every epoch :math:`e > 0` with
    ``e % step_size == 0``. That is the closed form above for a positive int ``step_size``;
    for any other value the recursive rule is followed (a negative ``step_size`` acts like its
    absolute value, and a fractional one like the smallest integer multiple of it, since only
    integer epochs are multiples of it), where torch's own closed form differs.

    Args:
      base_lr: :math:`\eta_0`, the lr of the param group.
      step_size: :math:`s`, the period of the decay in epochs.
      gamma: the decay factor :math:`\gamma` (not validated, as in torch).

    Raises:
      ZeroDivisionError: ``step_size`` is 0 (torch raises it at its first ``step()``).
    """
    if step_size == 0:
        raise ZeroDivisionError(
            f"integer modulo by zero (step_size={step_size!r}: torch's StepLR raises this at its first step())"
        )
    period = abs(Fraction(step_size).numerator)
    return _multiplicative("StepLR", base_lr, lambda epoch: power(gamma, epoch // int_constants([period], epoch)[0]))


def multi_step_lr(base_lr: Any, milestones: Iterable[int], gamma: float = 0.1) -> Schedule:
    r"""``torch.optim.lr_scheduler.MultiStepLR``: the lr multiplied by ``gamma`` at each milestone.

    .. math:: \eta_e = \eta_0\, \gamma^{\#\{m \in \text{milestones} \,:\, m \le e\}}

    torch keeps the milestones as a ``Counter``: a milestone listed twice multiplies by
    :math:`\gamma^2`, and the order does not matter. A milestone at 0 is applied by the
    constructor's step. torch's recursive rule only ever meets integer epochs
    :math:`\ge 0`, so negative or fractional milestones never apply (its closed form would count
    the negative ones); the recursive rule is followed.

    Args:
      base_lr: :math:`\eta_0`, the lr of the param group.
      milestones: epochs at which the lr decays, in any order, with repetitions.
      gamma: the decay factor :math:`\gamma`.
    """
    milestones = list(milestones)
    for index, milestone in enumerate(milestones):
        if not isinstance(milestone, numbers.Real):
            raise TypeError(f"milestones must be numbers, but milestones[{index}] is {milestone!r}")
    hits = sorted(int(m) for m in milestones if integral(m) and m >= 0)
    restart = None
    at_restart = milestones_passed(milestones, 0)  # torch's closed form at epoch 0
    if at_restart != hits.count(0):
        later = [m for m in hits if m > 0]
        restart = lambda lr_before, epoch: (  # noqa: E731
            as_float(base_lr) * power(gamma, at_restart + jnp.sum(int_constants(later, epoch) <= epoch))
        )
    return _multiplicative(
        "MultiStepLR",
        base_lr,
        lambda epoch: power(gamma, jnp.sum(int_constants(hits, epoch) <= epoch)),
        restart=restart,
    )


def constant_lr(base_lr: Any, factor: float = 1.0 / 3, total_iters: int = 5) -> Schedule:
    r"""``torch.optim.lr_scheduler.ConstantLR``: the lr times ``factor`` until ``total_iters``.

    .. math:: \eta_e = \eta_0 \cdot \begin{cases} f & e < T \\ f \cdot (1/f) & e \ge T \end{cases}

    torch multiplies by :math:`f` at epoch 0 and by :math:`1/f` at epoch :math:`T`, so the lr
    after :math:`T` is :math:`\eta_0 f (1/f)`, within an ulp of :math:`\eta_0`. Differences from
    torch's closed form, where the recursive sequence is followed:

    * ``total_iters <= 0`` (or fractional): the factor is never undone, the lr stays
      :math:`\eta_0 f` (torch's closed form gives :math:`\eta_0` for ``total_iters <= 0``).
    * ``factor = 0`` with ``total_iters > 0``: torch's recursive form divides by zero at epoch
      :math:`T`; the closed form, :math:`\eta_0` from :math:`T` on, is returned instead.

    Args:
      base_lr: :math:`\eta_0`, the lr of the param group.
      factor: :math:`f`, in [0, 1].
      total_iters: :math:`T`, the number of epochs at the reduced lr.

    Raises:
      ValueError: ``factor`` outside [0, 1] (torch's message).
    """
    check_constant_factor(factor)
    restored = factor * (1.0 / factor) if factor != 0 else 1.0
    if integral(total_iters) and total_iters >= 1:
        threshold = int(total_iters)

        def scale(epoch: jax.Array) -> jax.Array:
            return jnp.where(epoch >= int_constants([threshold], epoch)[0], restored, factor)

    else:

        def scale(epoch: jax.Array) -> jax.Array:
            return jnp.full(epoch.shape, factor, float_epoch(epoch).dtype)

    restart = _constant(base_lr, constant_lr_closed_form(0, factor, total_iters)) if total_iters <= 0 else None
    return _multiplicative("ConstantLR", base_lr, scale, restart=restart)


def linear_lr(base_lr: Any, start_factor: float = 1.0 / 3, end_factor: float = 1.0, total_iters: int = 5) -> Schedule:
    r"""``torch.optim.lr_scheduler.LinearLR``: the factor moves linearly from ``start_factor`` to ``end_factor``.

    .. math:: \eta_e = \eta_0 \left(f_s + (f_e - f_s)\,\frac{\min(e, T)}{T}\right)

    torch multiplies by :math:`f_s` at epoch 0, then for :math:`1 \le e \le T` by the ratio of
    consecutive factors; the product telescopes to the formula above. Differences from torch's
    closed form, where the recursive sequence is followed:

    * ``total_iters <= 0``: the lr stays :math:`\eta_0 f_s` (torch's closed form divides by 0).
    * a fractional ``total_iters``: the ratio is applied for :math:`e \le T` only, so the
      factor stops at :math:`\lfloor T \rfloor` and never reaches :math:`f_e`.

    The telescoped product is computed as the formula, so it differs from torch's step by step
    product by rounding: at most a few ulps of :math:`\eta_0`, e.g. ``end_factor=0`` ends at
    exactly 0 where torch's product leaves about :math:`2 \cdot 10^{-17}` (measured against torch
    2.13; the stateful class follows torch's product exactly).

    Args:
      base_lr: :math:`\eta_0`, the lr of the param group.
      start_factor: :math:`f_s`, in (0, 1].
      end_factor: :math:`f_e`, in [0, 1].
      total_iters: :math:`T`, the number of epochs the factor takes to reach :math:`f_e`.

    Raises:
      ValueError: ``start_factor`` or ``end_factor`` out of range (torch's messages).
    """
    check_linear_factors(start_factor, end_factor)
    if total_iters > 0:
        last = math.floor(total_iters) if math.isfinite(total_iters) else None

        def scale(epoch: jax.Array) -> jax.Array:
            done = epoch if last is None else jnp.minimum(epoch, int_constants([last], epoch)[0])
            return start_factor + divide((end_factor - start_factor) * float_epoch(done), total_iters)

    else:

        def scale(epoch: jax.Array) -> jax.Array:
            return jnp.full(epoch.shape, start_factor, float_epoch(epoch).dtype)

    restart = None
    if total_iters == 0:
        restart = ZeroDivisionError(
            "float division by zero (total_iters=0: torch's SequentialLR restarts a LinearLR at its milestone "
            "with the closed form, which divides by total_iters)"
        )
    elif total_iters < 0:
        restart = _constant(base_lr, linear_lr_closed_form(0, start_factor, end_factor, total_iters))
    return _multiplicative("LinearLR", base_lr, scale, restart=restart)


def exponential_lr(base_lr: Any, gamma: float) -> Schedule:
    r"""``torch.optim.lr_scheduler.ExponentialLR``: the lr multiplied by ``gamma`` every epoch.

    .. math:: \eta_e = \eta_0\, \gamma^{e}

    torch's constructor step leaves the lr alone; every later step multiplies by :math:`\gamma`.

    Args:
      base_lr: :math:`\eta_0`, the lr of the param group.
      gamma: the decay factor :math:`\gamma` (required, not validated, as in torch).
    """
    return _multiplicative(
        "ExponentialLR",
        base_lr,
        lambda epoch: power(gamma, epoch),
        unguarded_first_step=lambda: exponential_lr_step(1.0, 0, gamma),
    )


def polynomial_lr(base_lr: Any, total_iters: int = 5, power: float = 1.0) -> Schedule:
    r"""``torch.optim.lr_scheduler.PolynomialLR``: the lr decays polynomially to 0 over ``total_iters``.

    .. math:: \eta_e = \eta_0 \left(1 - \frac{\min(e, T)}{T}\right)^{p}

    torch multiplies, for :math:`1 \le e \le T`, by
    :math:`\left((1 - e/T) / (1 - (e-1)/T)\right)^p`, which telescopes to the formula above, and
    leaves the lr alone after :math:`T` (at 0). Differences from torch's closed form, where the
    recursive sequence is followed: ``total_iters <= 0`` keeps :math:`\eta_0` (the closed form
    divides by 0 or gives 0), and a fractional :math:`T` stops at :math:`\lfloor T \rfloor`.

    Args:
      base_lr: :math:`\eta_0`, the lr of the param group.
      total_iters: :math:`T`, the number of epochs of the decay.
      power: :math:`p`, the power of the polynomial.
    """
    if total_iters > 0:
        last = math.floor(total_iters) if math.isfinite(total_iters) else None

        def scale(epoch: jax.Array) -> jax.Array:
            done = epoch if last is None else jnp.minimum(epoch, int_constants([last], epoch)[0])
            return (1.0 - divide(float_epoch(done), total_iters)) ** power

    else:

        def scale(epoch: jax.Array) -> jax.Array:
            return jnp.ones(epoch.shape, float_epoch(epoch).dtype)

    # torch's decay factor at epoch 0, had its guard not returned early
    unguarded_first_step: Callable[[], Any] | BaseException = functools.partial(
        polynomial_lr_step, 1.0, 0, total_iters, power
    )
    restart: RestartFn | BaseException | None = None
    if total_iters == 0:
        unguarded_first_step = restart = ZeroDivisionError(
            "division by zero (total_iters=0: torch's PolynomialLR divides by total_iters when SequentialLR "
            "restarts it, or runs its first step unguarded)"
        )
    elif total_iters < 0:
        restart = _constant(base_lr, polynomial_lr_closed_form(0, total_iters, power))
    return _multiplicative("PolynomialLR", base_lr, scale, restart=restart, unguarded_first_step=unguarded_first_step)
