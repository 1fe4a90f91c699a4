r"""torch's CyclicLR: the lr (and, inversely, the momentum) cycles between two bounds.

With :math:`S = s_{up} + s_{down}` and :math:`r = s_{up} / S`, torch's ``get_lr`` at iteration
:math:`e` computes

.. math::

   c = \left\lfloor 1 + \frac{e}{S} \right\rfloor, \qquad
   x = 1 + \frac{e}{S} - c, \qquad
   h = \begin{cases} x / r & x \le r \\ (x - 1)/(r - 1) & x > r \end{cases}

   \eta_e = \eta_{base} + (\eta_{max} - \eta_{base})\, h\, \sigma, \qquad
   m_e = m_{max} - (m_{max} - m_{base})\, h\, \sigma

where :math:`\sigma` is the scale function evaluated at the cycle :math:`c` (``scale_mode=
'cycle'``) or at the iteration :math:`e` (``'iterations'``). CyclicLR is not chainable: it sets
the lr from its bounds at every step, so the sequence is this closed form exactly.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from functional_optim.schedules.schedule import Schedule, as_float, divide, float_epoch, one_value, power, rounded

_MODES = ("triangular", "triangular2", "exp_range")


def scale_policy(
    mode: str, gamma: float, scale_fn: Callable[[Any], Any] | None, scale_mode: str
) -> tuple[Callable[[jax.Array], Any], bool]:
    """``(scale_fn, by_cycle)``: torch's scale function and whether it takes the cycle number."""
    if scale_fn is not None:
        if not callable(scale_fn):
            raise TypeError(f"'{type(scale_fn).__name__}' object is not callable (scale_fn)")
        return scale_fn, scale_mode == "cycle"
    return builtin_scale(mode, gamma, power)


def _flat(x: Any) -> float:
    del x  # triangular: the same amplitude in every cycle
    return 1.0


def _halving(x: Any, pow_fn: Callable[[Any, Any], Any]) -> Any:
    return 1 / pow_fn(2.0, x - 1)


def _exponential(gamma: float, x: Any, pow_fn: Callable[[Any, Any], Any]) -> Any:
    return pow_fn(gamma, x)


def builtin_scale(mode: str, gamma: float, pow_fn: Callable[[Any, Any], Any]) -> tuple[Callable[[Any], Any], bool]:
    r"""``(scale_fn, by_cycle)`` of a built-in ``mode``: torch's scale function and the ``scale_mode`` it forces.

    ``'triangular'``: :math:`\sigma = 1`; ``'triangular2'``: :math:`\sigma(c) = 1 / 2^{c-1}`;
    both by cycle. ``'exp_range'``: :math:`\sigma(e) = \gamma^e`, by iteration. ``pow_fn`` is
    the power: :func:`~functional_optim.schedules.schedule.power` on traced epochs,
    ``operator.pow`` on Python numbers (torch's). The functions pickle (no lambdas).

    Raises:
      ValueError: an unknown ``mode`` (torch's message).
    """
    if mode not in _MODES:
        raise ValueError(f"mode is invalid and scale_fn is None (mode={mode!r}, expected one of {_MODES})")
    if mode == "triangular":
        return _flat, True
    if mode == "triangular2":
        return functools.partial(_halving, pow_fn=pow_fn), True
    return functools.partial(_exponential, gamma, pow_fn=pow_fn), False


def cycle_sizes(step_size_up: float, step_size_down: float | None) -> tuple[float, float]:
    """torch's ``(total_size, step_ratio)``: the iterations of a cycle and the rising fraction of them."""
    up = float(step_size_up)
    total_size = up + (float(step_size_down) if step_size_down is not None else up)
    if total_size == 0:
        raise ZeroDivisionError(
            f"float division by zero (step_size_up + step_size_down = {step_size_up} + {step_size_down} = 0)"
        )
    return total_size, up / total_size


def _cycle_position(step_size_up: float, step_size_down: float | None) -> Callable[[jax.Array], tuple[Any, Any]]:
    """``epoch -> (cycle, height)``: the cycle number and the fraction of the amplitude."""
    total_size, step_ratio = cycle_sizes(step_size_up, step_size_down)

    def position(epoch: jax.Array) -> tuple[Any, Any]:
        progress = 1 + divide(float_epoch(epoch), total_size)
        cycle = jnp.floor(progress)
        x = progress - cycle
        height = jnp.where(x <= step_ratio, divide(x, step_ratio), divide(x - 1, step_ratio - 1))
        return cycle.astype(epoch.dtype), height

    return position


def _check_first_step(step_size_up: float) -> None:
    if float(step_size_up) == 0:  # torch's constructor step computes x / step_ratio with x = 0
        raise ZeroDivisionError(f"float division by zero (step_size_up={step_size_up!r} must be nonzero)")


def _cyclic(
    name: str,
    low: Any,
    high: Any,
    rising: bool,
    step_size_up: float,
    step_size_down: float | None,
    mode: str,
    gamma: float,
    scale_fn: Callable[[Any], Any] | None,
    scale_mode: str,
    momentum: Schedule | None = None,
) -> Schedule:
    """The lr rises from ``low`` towards ``high``; the momentum falls from ``high`` towards ``low``."""
    position = _cycle_position(step_size_up, step_size_down)
    scale, by_cycle = scale_policy(mode, gamma, scale_fn, scale_mode)

    def value(epoch: jax.Array) -> jax.Array:
        cycle, height = position(epoch)
        swing = rounded((as_float(high) - as_float(low)) * height * scale(cycle if by_cycle else epoch))
        return as_float(low) + swing if rising else as_float(high) - swing

    return Schedule(name, value, low, momentum=momentum)


def cyclic_momentum(
    base_momentum: Any = 0.8,
    max_momentum: Any = 0.9,
    step_size_up: int = 2000,
    step_size_down: int | None = None,
    mode: str = "triangular",
    gamma: float = 1.0,
    scale_fn: Callable[[Any], Any] | None = None,
    scale_mode: str = "cycle",
) -> Schedule:
    r"""The momentum (or beta1) torch's CyclicLR writes into the optimizer: :math:`m_e` above.

    It falls from ``max_momentum`` while the lr rises, and back. Pass it as ``momentum=`` of
    :func:`~functional_optim.sgd` (torch writes ``betas[0]`` for optimizers with betas).

    Args:
      base_momentum: :math:`m_{base}`, the momentum at the lr's peak.
      max_momentum: :math:`m_{max}`, the momentum at the start of each cycle.
      step_size_up, step_size_down, mode, gamma, scale_fn, scale_mode: as :func:`cyclic_lr`.
    """
    base_momentum = one_value("base_momentum", base_momentum)
    max_momentum = one_value("max_momentum", max_momentum)
    _check_first_step(step_size_up)
    return _cyclic(
        "CyclicLR momentum",
        base_momentum,
        max_momentum,
        False,
        step_size_up,
        step_size_down,
        mode,
        gamma,
        scale_fn,
        scale_mode,
    )


def cyclic_lr(
    base_lr: Any,
    max_lr: Any,
    step_size_up: int = 2000,
    step_size_down: int | None = None,
    mode: str = "triangular",
    gamma: float = 1.0,
    scale_fn: Callable[[Any], Any] | None = None,
    scale_mode: str = "cycle",
    cycle_momentum: bool = True,
    base_momentum: Any = 0.8,
    max_momentum: Any = 0.9,
) -> Schedule:
    r"""``torch.optim.lr_scheduler.CyclicLR``: the lr cycles between ``base_lr`` and ``max_lr``.

    :math:`\eta_e` in the module docstring, stepped once per batch. The built-in modes are
    ``'triangular'`` (:math:`\sigma = 1`), ``'triangular2'`` (:math:`\sigma(c) = 2^{1-c}`,
    the amplitude halves every cycle) and ``'exp_range'`` (:math:`\sigma(e) = \gamma^e`). A
    built-in mode forces torch's ``scale_mode`` (``'cycle'``, ``'cycle'``, ``'iterations'``);
    a custom ``scale_fn`` (traceable with a jax integer) uses the given ``scale_mode``, and any
    ``scale_mode`` other than ``'cycle'`` means iterations, as in torch.

    With ``cycle_momentum=True`` (torch's default) the result's ``momentum`` attribute is the
    matching :func:`cyclic_momentum`, for ``fo.sgd(lr=s, momentum=s.momentum)``; torch writes
    it into the optimizer's ``momentum`` or ``betas[0]`` (and so switches SGD's momentum on).

    Args:
      base_lr: :math:`\eta_{base}`, the lower bound, torch's per-group ``base_lr``.
      max_lr: :math:`\eta_{max}`, the upper bound (reached only where :math:`\sigma = 1`).
      step_size_up: :math:`s_{up}`, iterations from the lower bound to the upper.
      step_size_down: :math:`s_{down}`, iterations back down; None for ``step_size_up``.
      mode: ``'triangular'``, ``'triangular2'`` or ``'exp_range'``; ignored with ``scale_fn``.
      gamma: :math:`\gamma` of ``'exp_range'``.
      scale_fn: a custom scale function :math:`\sigma`, replacing ``mode``.
      scale_mode: ``'cycle'`` or ``'iterations'``: what ``scale_fn`` is evaluated at.
      cycle_momentum: whether to build the ``momentum`` schedule.
      base_momentum: :math:`m_{base}`, the momentum at the lr's peak.
      max_momentum: :math:`m_{max}`, the momentum at the lr's trough.

    Raises:
      ValueError: an unknown ``mode`` without ``scale_fn`` (torch's message).
      ZeroDivisionError: ``step_size_up`` is 0 (torch divides by it in its constructor).
    """
    base_lr = one_value("base_lr", base_lr)
    max_lr = one_value("max_lr", max_lr)
    cycle = (step_size_up, step_size_down, mode, gamma, scale_fn, scale_mode)
    cycle_sizes(step_size_up, step_size_down)  # torch's order: the sizes, the mode, the momenta
    scale_policy(mode, gamma, scale_fn, scale_mode)
    momentum = cyclic_momentum(base_momentum, max_momentum, *cycle) if cycle_momentum else None
    _check_first_step(step_size_up)
    return _cyclic("CyclicLR", base_lr, max_lr, True, *cycle, momentum=momentum)
