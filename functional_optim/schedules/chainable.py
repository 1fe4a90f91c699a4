r"""torch's chainable rules and closed forms, written once on Python numbers.

torch's schedulers move the optimizer's *current* lr at every ``step()`` (``get_lr()``, the
chainable or recursive form) and jump straight to an epoch with ``step(epoch)``
(``_get_closed_form_lr()``). Each ``*_step`` function below is one chainable ``get_lr()``,
``(lr, epoch) -> lr``: the lr after the step to ``epoch`` from ``lr``, with ``initial=True``
for the constructor's step, which some classes leave alone (torch's ``_is_initial`` guard).
Each ``*_closed_form`` function is the closed form, the factor of the base lr at ``epoch``.

They take and return Python numbers (or arrays: only arithmetic touches the lr), in torch's
order of operations, so the values are torch's floats. The classes of
:mod:`functional_optim.optim.lr_scheduler` step with them; the pure schedules, which are
closed forms over traced epochs, use them where torch's recursion shows: the product loop of
:func:`~functional_optim.schedules.multiplicative_lr`, the unguarded first step and the
milestone restart inside :func:`~functional_optim.schedules.sequential_lr`.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable, Iterable
from typing import Any


def multiplicative_lr_step(lr: Any, epoch: int, lr_lambda: Callable[[Any], Any], initial: bool = False) -> Any:
    r"""MultiplicativeLR: :math:`\eta_e = \eta_{e-1}\, \lambda(e)`; the constructor's step keeps the lr."""
    return lr if initial else lr * lr_lambda(epoch)


def step_lr_step(lr: Any, epoch: int, step_size: int, gamma: float) -> Any:
    r"""StepLR: the lr times :math:`\gamma` at every nonzero multiple of ``step_size`` (unguarded)."""
    if epoch == 0 or epoch % step_size != 0:
        return lr
    return lr * gamma


def step_lr_closed_form(epoch: int, step_size: int, gamma: float) -> Any:
    r"""StepLR: :math:`\gamma^{\lfloor e / s \rfloor}`."""
    return gamma ** (epoch // step_size)


def multi_step_lr_step(lr: Any, epoch: int, milestones: dict[Any, int], gamma: float) -> Any:
    r"""MultiStepLR: the lr times :math:`\gamma^k` at a milestone listed :math:`k` times (a ``Counter``)."""
    if epoch not in milestones:
        return lr
    return lr * gamma ** milestones[epoch]


def milestones_passed(milestones: Iterable[Any], epoch: int) -> int:
    """MultiStepLR's closed form exponent: the milestones (with repetitions) at or before ``epoch``."""
    return bisect_right(sorted(milestones), epoch)


def multi_step_lr_closed_form(epoch: int, milestones: Iterable[Any], gamma: float) -> Any:
    r"""MultiStepLR: :math:`\gamma^{\#\{m \le e\}}`, counting negative milestones too."""
    return gamma ** milestones_passed(milestones, epoch)


def constant_lr_step(lr: Any, epoch: int, factor: float, total_iters: int) -> Any:
    """ConstantLR: times ``factor`` at epoch 0, times ``1 / factor`` at ``total_iters`` (unguarded)."""
    if epoch == 0:
        return lr * factor
    if epoch != total_iters:
        return lr
    return lr * (1.0 / factor)


def constant_lr_closed_form(epoch: int, factor: float, total_iters: int) -> Any:
    r"""ConstantLR: :math:`f + [e \ge T](1 - f)`."""
    return factor + (epoch >= total_iters) * (1 - factor)


def linear_lr_step(
    lr: Any, epoch: int, start_factor: float, end_factor: float, total_iters: int, initial: bool = False
) -> Any:
    r"""LinearLR: times :math:`f_s` at epoch 0, then by the ratio of consecutive factors up to :math:`T`.

    The ratio at :math:`1 \le e \le T` is :math:`1 + (f_e - f_s) / (T f_s + (e - 1)(f_e - f_s))`.
    The guard of the constructor's step comes after epoch 0, as in torch.
    """
    if epoch == 0:
        return lr * start_factor
    if initial or epoch > total_iters:
        return lr
    change = end_factor - start_factor
    return lr * (1.0 + change / (total_iters * start_factor + (epoch - 1) * change))


def linear_lr_closed_form(epoch: int, start_factor: float, end_factor: float, total_iters: int) -> Any:
    r"""LinearLR: :math:`f_s + (f_e - f_s) \min(T, e) / T`."""
    return start_factor + (end_factor - start_factor) * min(total_iters, epoch) / total_iters


def exponential_lr_step(lr: Any, epoch: int, gamma: float, initial: bool = False) -> Any:
    r"""ExponentialLR: the lr times :math:`\gamma`; the constructor's step keeps the lr."""
    del epoch  # every step is the same
    return lr if initial else lr * gamma


def exponential_lr_closed_form(epoch: int, gamma: float) -> Any:
    r"""ExponentialLR: :math:`\gamma^e`."""
    return gamma**epoch


def polynomial_lr_step(lr: Any, epoch: int, total_iters: int, power: float, initial: bool = False) -> Any:
    r"""PolynomialLR: times :math:`((1 - e/T) / (1 - (e-1)/T))^p` up to :math:`T`; the constructor's step keeps it."""
    if initial or epoch > total_iters:
        return lr
    remaining = 1.0 - epoch / total_iters
    before = 1.0 - (epoch - 1) / total_iters
    return lr * (remaining / before) ** power


def polynomial_lr_closed_form(epoch: int, total_iters: int, power: float) -> Any:
    r"""PolynomialLR: :math:`(1 - \min(T, e) / T)^p`."""
    return (1.0 - min(total_iters, epoch) / total_iters) ** power


def cosine_annealing_lr_step(lr: Any, base_lr: Any, epoch: int, T_max: int, eta_min: float) -> Any:
    r"""CosineAnnealingLR's recursion: :math:`\eta_e - \eta_{min}` scaled by consecutive :math:`1 + \cos` terms.

    .. math::

       \eta_e = \eta_{min} + (\eta_{e-1} - \eta_{min})
                \frac{1 + \cos(\pi e / T_{max})}{1 + \cos(\pi (e-1) / T_{max})}

    except at :math:`e \equiv T_{max} + 1 \pmod{2T_{max}}`, where the ratio would be 0/0 and
    :math:`(\eta_0 - \eta_{min})(1 - \cos(\pi / T_{max}))/2` is added instead. (The class
    handles its constructor's step and ``get_lr()`` outside the step sequence.)
    """
    if (epoch - 1 - T_max) % (2 * T_max) == 0:  # from the trough: a step of the closed form
        return lr + (base_lr - eta_min) * (1 - math.cos(math.pi / T_max)) / 2
    ratio = (1 + math.cos(math.pi * epoch / T_max)) / (1 + math.cos(math.pi * (epoch - 1) / T_max))
    return ratio * (lr - eta_min) + eta_min


def cosine_annealing_lr_closed_form(base_lr: Any, epoch: float, T_max: float, eta_min: float) -> Any:
    r"""The cosine of CosineAnnealingLR and CosineAnnealingWarmRestarts (not a factor: it moves from ``eta_min``).

    .. math:: \eta_{min} + (\eta_0 - \eta_{min})\,\frac{1 + \cos(\pi e / T_{max})}{2}
    """
    return eta_min + (base_lr - eta_min) * (1 + math.cos(math.pi * epoch / T_max)) / 2
