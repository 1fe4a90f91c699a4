r"""torch's OneCycleLR: one warm-up and one annealing phase (or three phases), stepped per batch.

With :math:`T` = ``total_steps`` and :math:`p` = ``pct_start``, torch splits the steps into
phases ending (as floats) at

* two phases (default): :math:`pT - 1` (initial → max lr) and :math:`T - 1` (max → min lr);
* ``three_phase=True``: :math:`pT - 1` (initial → max), :math:`2pT - 2` (max → initial) and
  :math:`T - 1` (initial → min).

At step :math:`t`, the first phase whose end is :math:`\ge t` (else the last) anneals from its
start value :math:`a` to its end value :math:`b` with
:math:`\pi_t = (t - t_{start}) / (t_{end} - t_{start})`:

.. math::

   \text{cos: } b + \frac{a - b}{2}\,(\cos(\pi\,\pi_t) + 1), \qquad
   \text{linear: } (b - a)\,\pi_t + a

with initial lr :math:`\eta_{max} / d` (``div_factor``) and min lr
:math:`\eta_{max} / (d\, d_f)` (``final_div_factor``). The momentum runs the other way:
max → base → max (two phases) or max → base → max → max (three). OneCycleLR is not
chainable, so the sequence is this closed form exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from functional_optim.schedules.schedule import (
    Schedule,
    as_float,
    divide,
    exact,
    float_epoch,
    int_constants,
    one_value,
    rounded,
)


def resolve_total_steps(total_steps: Any, epochs: Any, steps_per_epoch: Any) -> int:
    """torch's number of steps: ``total_steps``, else ``epochs * steps_per_epoch`` (torch's checks)."""
    if total_steps is not None:
        if total_steps <= 0 or not isinstance(total_steps, int):
            raise ValueError(f"Expected positive integer total_steps, but got {total_steps}")
        return total_steps
    if epochs is not None and steps_per_epoch is not None:
        if not isinstance(epochs, int) or epochs <= 0:
            raise ValueError(f"Expected positive integer epochs, but got {epochs}")
        if not isinstance(steps_per_epoch, int) or steps_per_epoch <= 0:
            raise ValueError(f"Expected positive integer steps_per_epoch, but got {steps_per_epoch}")
        return epochs * steps_per_epoch
    raise ValueError(
        "You must define either total_steps OR (epochs AND steps_per_epoch) "
        f"(got total_steps={total_steps}, epochs={epochs}, steps_per_epoch={steps_per_epoch})"
    )


def phase_ends(total_steps: int, pct_start: Any, three_phase: bool, anneal_strategy: str) -> list[float]:
    """The end step of each phase, validating ``pct_start`` and ``anneal_strategy`` in torch's order."""
    ends = [float(pct_start * total_steps) - 1]
    if three_phase:
        ends.append(float(2 * pct_start * total_steps) - 2)
    ends.append(total_steps - 1)
    if pct_start < 0 or pct_start > 1 or not isinstance(pct_start, float):
        raise ValueError(f"Expected float between 0 and 1 pct_start, but got {pct_start}")
    if anneal_strategy not in ["cos", "linear"]:
        raise ValueError(f"anneal_strategy must be one of 'cos' or 'linear', instead got {anneal_strategy}")
    return ends


def _check_first_phase(ends: list[float], pct_start: float, total_steps: int) -> None:
    if ends[0] == 0:  # torch's constructor step lands in a first phase of length 0
        raise ZeroDivisionError(
            f"float division by zero (pct_start * total_steps = {pct_start} * {total_steps} = 1 makes torch's "
            "first phase empty)"
        )


def anneal(
    anneal_strategy: str,
    start: Any,
    end: Any,
    pct: Any,
    cos: Callable[[Any], Any] = math.cos,
    round_product: Callable[[Any], Any] = exact,
) -> Any:
    """torch's ``_annealing_cos`` or ``_annealing_linear`` from ``start`` to ``end`` at ``pct`` (in [0, 1]).

    On Python numbers by default (torch's floats); the schedules pass ``jnp.cos`` and
    :func:`~functional_optim.schedules.schedule.rounded` for traced values.
    """
    if anneal_strategy == "cos":
        return end + round_product((start - end) / 2.0 * (cos(math.pi * pct) + 1))
    return round_product((end - start) * pct) + start


def phase_points(three_phase: bool) -> tuple[list[str], list[str]]:
    """The values the phases go through, by torch's group keys: ``(lr points, momentum points)``."""
    if three_phase:
        return (
            ["initial_lr", "max_lr", "initial_lr", "min_lr"],
            ["max_momentum", "base_momentum", "max_momentum", "max_momentum"],
        )
    return ["initial_lr", "max_lr", "min_lr"], ["max_momentum", "base_momentum", "max_momentum"]


def _phased(
    name: str, total_steps: int, ends: list[float], anneal_strategy: str, points: list[Any], base: Any, **kwargs: Any
) -> Schedule:
    """The schedule through ``points`` (one more than phases), over torch's phases."""

    def value(epoch: jax.Array) -> jax.Array:
        step = float_epoch(jnp.minimum(epoch, int_constants([total_steps], epoch)[0]))
        values = [as_float(v) for v in points]
        result = None
        for index in reversed(range(len(ends))):  # the first phase whose end is >= step wins
            start = ends[index - 1] if index else 0.0
            length = ends[index] - start
            pct = divide(step - start, length) if length else jnp.ones_like(step)  # torch divides by 0 at step T
            annealed = anneal(anneal_strategy, values[index], values[index + 1], pct, jnp.cos, rounded)
            result = annealed if result is None else jnp.where(step <= ends[index], annealed, result)
        return result

    return Schedule(name, value, base, **kwargs)


def one_cycle_momentum(
    total_steps: int | None = None,
    epochs: int | None = None,
    steps_per_epoch: int | None = None,
    pct_start: float = 0.3,
    anneal_strategy: str = "cos",
    base_momentum: Any = 0.85,
    max_momentum: Any = 0.95,
    three_phase: bool = False,
) -> Schedule:
    r"""The momentum (or beta1) torch's OneCycleLR writes into the optimizer, over the same phases.

    It anneals from ``max_momentum`` to ``base_momentum`` while the lr warms up, and back to
    ``max_momentum`` (where it stays in the third phase). Arguments as :func:`one_cycle_lr`.
    """
    total = resolve_total_steps(total_steps, epochs, steps_per_epoch)
    ends = phase_ends(total, pct_start, three_phase, anneal_strategy)
    low, high = one_value("base_momentum", base_momentum), one_value("max_momentum", max_momentum)
    points = [{"max_momentum": high, "base_momentum": low}[key] for key in phase_points(three_phase)[1]]
    _check_first_phase(ends, pct_start, total)
    return _phased("OneCycleLR momentum", total, ends, anneal_strategy, points, low)


def one_cycle_lr(
    max_lr: Any,
    total_steps: int | None = None,
    epochs: int | None = None,
    steps_per_epoch: int | None = None,
    pct_start: float = 0.3,
    anneal_strategy: str = "cos",
    cycle_momentum: bool = True,
    base_momentum: Any = 0.85,
    max_momentum: Any = 0.95,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
    three_phase: bool = False,
) -> Schedule:
    r"""``torch.optim.lr_scheduler.OneCycleLR``: the 1cycle policy, stepped once per batch.

    The phases and the annealing formulas are in the module docstring. torch behaviours
    reproduced: the first value is ``anneal(initial, max, 0)``, which for cos is within an ulp
    of ``max_lr / div_factor`` but not always equal to it; ``max_lr`` is not reached exactly
    when :math:`pT` is not an integer; step :math:`T` (one past the last) is allowed and
    extrapolates the last phase. Past :math:`T` torch raises ``ValueError("Tried to step ...")``;
    a pure function cannot, so the schedule stays at its value at :math:`T`.

    With ``cycle_momentum=True`` the result's ``momentum`` attribute is the matching
    :func:`one_cycle_momentum` (for ``fo.sgd(lr=s, momentum=s.momentum)``).

    Args:
      max_lr: the peak lr :math:`\eta_{max}` (the first argument: the base of this schedule).
      total_steps: :math:`T`; takes priority over ``epochs * steps_per_epoch``.
      epochs: the number of epochs, with ``steps_per_epoch``, when ``total_steps`` is None.
      steps_per_epoch: the number of steps per epoch.
      pct_start: :math:`p`, the fraction of the steps spent warming up, a float in [0, 1].
      anneal_strategy: ``'cos'`` or ``'linear'``.
      cycle_momentum: whether to build the ``momentum`` schedule.
      base_momentum: the momentum at the lr's peak.
      max_momentum: the momentum at the start and the end.
      div_factor: :math:`d`: the initial lr is :math:`\eta_{max} / d`.
      final_div_factor: :math:`d_f`: the min lr is :math:`\eta_{max} / (d\, d_f)`.
      three_phase: anneal back to the initial lr before the final decay (the paper's schedule).

    Raises:
      ValueError: torch's errors for the step counts, ``pct_start`` and ``anneal_strategy``.
      ZeroDivisionError: ``pct_start * total_steps == 1`` (torch's first phase is empty).
    """
    total = resolve_total_steps(total_steps, epochs, steps_per_epoch)
    ends = phase_ends(total, pct_start, three_phase, anneal_strategy)
    max_lr = one_value("max_lr", max_lr)
    initial_lr = max_lr / div_factor
    min_lr = initial_lr / final_div_factor
    values = {"initial_lr": initial_lr, "max_lr": max_lr, "min_lr": min_lr}
    points = [values[key] for key in phase_points(three_phase)[0]]
    momentum = None
    if cycle_momentum:
        momentum = one_cycle_momentum(
            total, None, None, pct_start, anneal_strategy, base_momentum, max_momentum, three_phase
        )
    _check_first_phase(ends, pct_start, total)
    return _phased("OneCycleLR", total, ends, anneal_strategy, points, max_lr, momentum=momentum)
