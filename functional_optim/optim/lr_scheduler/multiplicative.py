"""torch's lr_lambda schedulers and its chainable decays, over :mod:`functional_optim.schedules.multiplicative`."""

from __future__ import annotations

import types
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from functional_optim.optim.lr_scheduler.scheduler import LRScheduler, check_optimizer, copy_value
from functional_optim.optim.optimizer import Optimizer
from functional_optim.schedules.chainable import (
    constant_lr_closed_form,
    constant_lr_step,
    exponential_lr_closed_form,
    exponential_lr_step,
    linear_lr_closed_form,
    linear_lr_step,
    multi_step_lr_closed_form,
    multi_step_lr_step,
    multiplicative_lr_step,
    polynomial_lr_closed_form,
    polynomial_lr_step,
    step_lr_closed_form,
    step_lr_step,
)
from functional_optim.schedules.multiplicative import check_constant_factor, check_linear_factors
from functional_optim.schedules.schedule import check_lambdas, per_group_lambdas


def _each_lr(scheduler: LRScheduler, step: Callable[[Any], Any]) -> list[Any]:
    """Each group's lr after ``step``, a chainable rule of :mod:`functional_optim.schedules.chainable`."""
    return [copy_value(step(group["lr"])) for group in scheduler.optimizer.param_groups]


def _from_base(scheduler: LRScheduler, factor: Any) -> list[Any]:
    """Each ``base_lr`` times ``factor``, a closed form of :mod:`functional_optim.schedules.chainable`."""
    return [base_lr * factor for base_lr in scheduler.base_lrs]


class _LambdaScheduler(LRScheduler):
    """Holds one ``lr_lambda`` per group; saves the state of callable objects, not of functions."""

    def __init__(self, optimizer: Optimizer, lr_lambda: Any, last_epoch: int) -> None:
        check_optimizer(optimizer)
        self.optimizer = optimizer
        self.lr_lambdas: list[Callable[[int], float]] = per_group_lambdas(
            lr_lambda, len(optimizer.param_groups), " (lr_lambda: one per param group)"
        )
        self._check_lambdas()
        super().__init__(optimizer, last_epoch)

    def _check_lambdas(self) -> None:
        pass

    def state_dict(self) -> dict[str, Any]:
        """The attributes, with ``lr_lambdas`` as the ``__dict__`` of callable objects (None for functions)."""
        state = {key: value for key, value in self.__dict__.items() if key not in ("optimizer", "lr_lambdas")}
        state["lr_lambdas"] = [
            None if isinstance(fn, types.FunctionType) else fn.__dict__.copy() for fn in self.lr_lambdas
        ]
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restores the attributes and the saved state of callable-object ``lr_lambdas``."""
        state = dict(state_dict)
        saved_lambdas = state.pop("lr_lambdas")
        self.__dict__.update(state)
        for fn, saved in zip(self.lr_lambdas, saved_lambdas):
            if saved is not None:
                fn.__dict__.update(saved)


class LambdaLR(_LambdaScheduler):
    r"""``torch.optim.lr_scheduler.LambdaLR``: each group's initial lr times a function of the epoch.

    .. math:: \eta_e = \eta_0\, \lambda(e)

    Not chainable: every step sets the lr from ``base_lrs``, so the sequence is
    :func:`functional_optim.schedules.lambda_lr`'s, whatever else changes the lr. The
    difference: here ``lr_lambda`` is called with a Python int, as torch does, so it needs not
    be traceable (and ``0.95 ** epoch`` is Python's power, where the pure function's traced
    power may differ in the last bit). Not validated: ``lr_lambda`` being callable (torch fails
    in the constructor's step).

    Args:
      optimizer: the optimizer.
      lr_lambda: ``epoch -> factor``, or a list with one such function per param group.
      last_epoch: the index of the last epoch; -1 to start.

    Raises:
      ValueError: a list whose length is not the number of groups (torch's message).
    """

    def __init__(
        self,
        optimizer: Optimizer,
        lr_lambda: Callable[[int], float] | Sequence[Callable[[int], float]],
        last_epoch: int = -1,
    ) -> None:
        super().__init__(optimizer, lr_lambda, last_epoch)

    def get_lr(self) -> list[Any]:
        """``base_lr * lr_lambda(last_epoch)`` per group."""
        self._warn_if_outside_step()
        return [base_lr * fn(self.last_epoch) for fn, base_lr in zip(self.lr_lambdas, self.base_lrs, strict=True)]


class MultiplicativeLR(_LambdaScheduler):
    r"""``torch.optim.lr_scheduler.MultiplicativeLR``: every step multiplies the lr by ``lr_lambda(epoch)``.

    .. math:: \eta_e = \eta_{e-1}\, \lambda(e) \quad (e \ge 1), \qquad \eta_0 = \text{the group's lr}

    The constructor's step leaves the lr alone. Stepped alone from the start this is
    :func:`functional_optim.schedules.multiplicative_lr` (the same products, in the same
    order); it follows any other change of the lr, and ``lr_lambda`` is called with Python ints.

    Args:
      optimizer: the optimizer.
      lr_lambda: ``epoch -> factor``, or a list with one such function per param group.
      last_epoch: the index of the last epoch; -1 to start.

    Raises:
      ValueError: a list of the wrong length; TypeError: an ``lr_lambda`` that is not callable
        (torch's messages).
    """

    def __init__(
        self,
        optimizer: Optimizer,
        lr_lambda: Callable[[int], float] | Sequence[Callable[[int], float]],
        last_epoch: int = -1,
    ) -> None:
        super().__init__(optimizer, lr_lambda, last_epoch)

    def _check_lambdas(self) -> None:
        check_lambdas(self.lr_lambdas)

    def get_lr(self) -> list[Any]:
        """Each group's lr times its ``lr_lambda(last_epoch)``; unchanged by the constructor's step."""
        self._warn_if_outside_step()
        return [
            copy_value(multiplicative_lr_step(group["lr"], self.last_epoch, fn, self._is_initial))
            for fn, group in zip(self.lr_lambdas, self.optimizer.param_groups, strict=True)
        ]


class StepLR(LRScheduler):
    r"""``torch.optim.lr_scheduler.StepLR``: the lr times ``gamma`` every ``step_size`` epochs.

    Recursive rule: at every epoch :math:`e > 0` with ``e % step_size == 0`` the current lr is
    multiplied by :math:`\gamma`. Closed form (``step(epoch)``):
    :math:`\eta_0 \gamma^{\lfloor e/s \rfloor}`. Differences from
    :func:`functional_optim.schedules.step_lr`: ``step_size=0`` raises ZeroDivisionError at the
    first ``step()`` (as torch), not at construction; resuming with ``last_epoch`` one before a
    multiple of ``step_size`` applies :math:`\gamma` in the constructor (its step is not
    guarded, a torch quirk); and any other change of the lr is kept.

    Args:
      optimizer: the optimizer.
      step_size: the period of the decay, in epochs.
      gamma: the decay factor (not validated).
      last_epoch: the index of the last epoch; -1 to start.
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1) -> None:
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[Any]:
        """The current lrs, times ``gamma`` on a nonzero multiple of ``step_size``."""
        self._warn_if_outside_step()
        return _each_lr(self, lambda lr: step_lr_step(lr, self.last_epoch, self.step_size, self.gamma))

    def _get_closed_form_lr(self) -> list[Any]:
        return _from_base(self, step_lr_closed_form(self.last_epoch, self.step_size, self.gamma))


class MultiStepLR(LRScheduler):
    r"""``torch.optim.lr_scheduler.MultiStepLR``: the lr times ``gamma`` at each milestone.

    The milestones are kept as a ``Counter``: one listed :math:`k` times multiplies by
    :math:`\gamma^k`, and their order does not matter. Closed form (``step(epoch)``):
    :math:`\eta_0 \gamma^{\#\{m \le e\}}`, which also counts negative milestones. Stepped alone
    from the start this is :func:`functional_optim.schedules.multi_step_lr`; it keeps any
    other change of the lr, and resuming with ``last_epoch`` one before a milestone applies it
    in the constructor (torch's quirk).

    Args:
      optimizer: the optimizer.
      milestones: epochs at which the lr decays.
      gamma: the decay factor.
      last_epoch: the index of the last epoch; -1 to start.
    """

    def __init__(
        self, optimizer: Optimizer, milestones: Iterable[int], gamma: float = 0.1, last_epoch: int = -1
    ) -> None:
        self.milestones = Counter(milestones)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[Any]:
        """The current lrs, times ``gamma ** count`` at a milestone listed ``count`` times."""
        self._warn_if_outside_step()
        return _each_lr(self, lambda lr: multi_step_lr_step(lr, self.last_epoch, self.milestones, self.gamma))

    def _get_closed_form_lr(self) -> list[Any]:
        return _from_base(self, multi_step_lr_closed_form(self.last_epoch, self.milestones.elements(), self.gamma))


class ConstantLR(LRScheduler):
    r"""``torch.optim.lr_scheduler.ConstantLR``: the lr times ``factor`` until ``total_iters``.

    Recursive rule: epoch 0 multiplies the lr by ``factor``, epoch ``total_iters`` by
    ``1 / factor``. Closed form (``step(epoch)``): :math:`\eta_0 (f + [e \ge T](1 - f))`.
    Differences from :func:`functional_optim.schedules.constant_lr` (which follows the
    recursive sequence where it can): ``factor=0`` raises ZeroDivisionError at epoch
    ``total_iters``, as torch (the pure function gives the closed form there); resuming with
    ``last_epoch = total_iters - 1`` divides by ``factor`` in the constructor (its step is not
    guarded, a torch quirk); any other change of the lr is kept.

    Args:
      optimizer: the optimizer.
      factor: the factor, in [0, 1].
      total_iters: the number of epochs at the reduced lr.
      last_epoch: the index of the last epoch; -1 to start.

    Raises:
      ValueError: ``factor`` outside [0, 1] (torch's message).
    """

    def __init__(
        self, optimizer: Optimizer, factor: float = 1.0 / 3, total_iters: int = 5, last_epoch: int = -1
    ) -> None:
        check_constant_factor(factor)
        self.factor = factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[Any]:
        """The current lrs, times ``factor`` at epoch 0 and ``1 / factor`` at ``total_iters``."""
        self._warn_if_outside_step()
        return _each_lr(self, lambda lr: constant_lr_step(lr, self.last_epoch, self.factor, self.total_iters))

    def _get_closed_form_lr(self) -> list[Any]:
        return _from_base(self, constant_lr_closed_form(self.last_epoch, self.factor, self.total_iters))


class LinearLR(LRScheduler):
    r"""``torch.optim.lr_scheduler.LinearLR``: a factor moving linearly from ``start_factor`` to ``end_factor``.

    Recursive rule: epoch 0 multiplies the lr by :math:`f_s`; each epoch
    :math:`1 \le e \le T` by the ratio of consecutive factors,
    :math:`1 + (f_e - f_s) / (T f_s + (e - 1)(f_e - f_s))`. Closed form (``step(epoch)``):
    :math:`\eta_0 (f_s + (f_e - f_s) \min(T, e) / T)`. Stepped alone from the start this is
    :func:`functional_optim.schedules.linear_lr` (to rounding); it keeps any other change of
    the lr, and a constructor resuming at ``last_epoch >= 0`` leaves the lr alone.

    Args:
      optimizer: the optimizer.
      start_factor: the factor at epoch 0, in (0, 1].
      end_factor: the factor from ``total_iters`` on, in [0, 1].
      total_iters: the number of epochs the factor takes to reach ``end_factor``.
      last_epoch: the index of the last epoch; -1 to start.

    Raises:
      ValueError: a factor out of range (torch's messages).
    """

    def __init__(
        self,
        optimizer: Optimizer,
        start_factor: float = 1.0 / 3,
        end_factor: float = 1.0,
        total_iters: int = 5,
        last_epoch: int = -1,
    ) -> None:
        check_linear_factors(start_factor, end_factor)
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[Any]:
        """The current lrs, times the step of the factor from ``last_epoch - 1`` to ``last_epoch``."""
        self._warn_if_outside_step()
        factors = (self.start_factor, self.end_factor, self.total_iters)
        return _each_lr(self, lambda lr: linear_lr_step(lr, self.last_epoch, *factors, initial=self._is_initial))

    def _get_closed_form_lr(self) -> list[Any]:
        return _from_base(
            self, linear_lr_closed_form(self.last_epoch, self.start_factor, self.end_factor, self.total_iters)
        )


class ExponentialLR(LRScheduler):
    r"""``torch.optim.lr_scheduler.ExponentialLR``: every step multiplies the lr by ``gamma``.

    The constructor's step leaves the lr alone. Closed form (``step(epoch)``):
    :math:`\eta_0 \gamma^e`. Stepped alone from the start this is
    :func:`functional_optim.schedules.exponential_lr` (to rounding: torch multiplies step by
    step); it keeps any other change of the lr.

    Args:
      optimizer: the optimizer.
      gamma: the decay factor (not validated).
      last_epoch: the index of the last epoch; -1 to start.
    """

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[Any]:
        """The current lrs times ``gamma``; unchanged by the constructor's step."""
        self._warn_if_outside_step()
        return _each_lr(self, lambda lr: exponential_lr_step(lr, self.last_epoch, self.gamma, self._is_initial))

    def _get_closed_form_lr(self) -> list[Any]:
        return _from_base(self, exponential_lr_closed_form(self.last_epoch, self.gamma))


class PolynomialLR(LRScheduler):
    r"""``torch.optim.lr_scheduler.PolynomialLR``: a polynomial decay to 0 over ``total_iters``.

    Recursive rule: each epoch :math:`1 \le e \le T` multiplies the lr by
    :math:`((1 - e/T) / (1 - (e-1)/T))^p`; later epochs and the constructor's step leave it
    alone. Closed form (``step(epoch)``): :math:`\eta_0 (1 - \min(T, e)/T)^p`. Stepped alone
    from the start this is :func:`functional_optim.schedules.polynomial_lr` (to rounding); it
    keeps any other change of the lr.

    Args:
      optimizer: the optimizer.
      total_iters: the number of epochs of the decay.
      power: the power of the polynomial.
      last_epoch: the index of the last epoch; -1 to start.
    """

    def __init__(self, optimizer: Optimizer, total_iters: int = 5, power: float = 1.0, last_epoch: int = -1) -> None:
        self.total_iters = total_iters
        self.power = power
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[Any]:
        """The current lrs, times the step of the polynomial from ``last_epoch - 1``."""
        self._warn_if_outside_step()
        return _each_lr(
            self, lambda lr: polynomial_lr_step(lr, self.last_epoch, self.total_iters, self.power, self._is_initial)
        )

    def _get_closed_form_lr(self) -> list[Any]:
        return _from_base(self, polynomial_lr_closed_form(self.last_epoch, self.total_iters, self.power))
