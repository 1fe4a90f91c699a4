"""torch's cosine schedulers, over :mod:`functional_optim.schedules.cosine`."""

from __future__ import annotations

import math
from typing import Any

from functional_optim.optim.lr_scheduler.scheduler import LRScheduler
from functional_optim.optim.optimizer import Optimizer
from functional_optim.schedules.chainable import cosine_annealing_lr_closed_form, cosine_annealing_lr_step
from functional_optim.schedules.cosine import check_warm_restarts


class CosineAnnealingLR(LRScheduler):
    r"""``torch.optim.lr_scheduler.CosineAnnealingLR``: half a cosine from the lr to ``eta_min`` over ``T_max``.

    Recursive rule (``step()``), with :math:`\eta_{min}` = ``eta_min``:

    .. math::

       \eta_e = \eta_{min} + (\eta_{e-1} - \eta_{min})
                \frac{1 + \cos(\pi e / T_{max})}{1 + \cos(\pi (e-1) / T_{max})}

    except at :math:`e \equiv T_{max} + 1 \pmod{2T_{max}}`, where the ratio would be 0/0 and
    :math:`(\eta_0 - \eta_{min})(1 - \cos(\pi / T_{max}))/2` is added instead. The closed form
    (``step(epoch)``) and :func:`functional_optim.schedules.cosine_annealing_lr` are
    :math:`\eta_{min} + (\eta_0 - \eta_{min})(1 + \cos(\pi e / T_{max}))/2`: started fresh and
    stepped alone the two agree up to the rounding the recursion accumulates (about
    :math:`10^{-13}` relative over hundreds of epochs), and they differ when anything else
    changes the lr, which the recursion follows. Neither is clamped at :math:`T_{max}`.
    ``T_max=0`` raises ZeroDivisionError at the first ``step()``, as torch.

    Args:
      optimizer: the optimizer.
      T_max: half the period, in epochs.
      eta_min: the lowest lr.
      last_epoch: the index of the last epoch; -1 to start.
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1) -> None:
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[Any]:
        """The current lrs moved one epoch along the cosine."""
        self._warn_if_outside_step()
        if self._is_initial:
            return self._current_lrs()
        if self._step_count == 1 and self.last_epoch > 0:  # get_lr() outside the step sequence: the closed form
            return self._get_closed_form_lr()
        groups = self.optimizer.param_groups
        return [
            cosine_annealing_lr_step(group["lr"], base_lr, self.last_epoch, self.T_max, self.eta_min)
            for base_lr, group in zip(self.base_lrs, groups, strict=True)
        ]

    def _get_closed_form_lr(self) -> list[Any]:
        return [
            cosine_annealing_lr_closed_form(base_lr, self.last_epoch, self.T_max, self.eta_min)
            for base_lr in self.base_lrs
        ]


class CosineAnnealingWarmRestarts(LRScheduler):
    r"""``torch.optim.lr_scheduler.CosineAnnealingWarmRestarts`` (SGDR): cosine annealing restarted every period.

    .. math:: \eta = \eta_{min} + (\eta_0 - \eta_{min})\,\frac{1 + \cos(\pi T_{cur} / T_i)}{2}

    ``step()`` advances ``T_cur`` by one and, when it reaches ``T_i``, restarts it and
    multiplies ``T_i`` by ``T_mult``. ``step(epoch)`` (no deprecation warning here) jumps to
    any epoch, fractional too, finding the period with torch's float logarithm. The lr is
    always computed from ``base_lrs``, so a fresh scheduler stepped one epoch at a time is
    :func:`functional_optim.schedules.cosine_annealing_warm_restarts` (which takes integer
    epochs only). This class overrides ``step``, so, as in torch, ``_step_count`` stays 0 and the
    step-order warnings are not given.

    Args:
      optimizer: the optimizer.
      T_0: the first period, a positive int.
      T_mult: the factor by which each period is longer than the previous, an int >= 1.
      eta_min: the lowest lr.
      last_epoch: the index of the last epoch; -1 to start.

    Raises:
      ValueError: an argument out of range or of the wrong type (torch's messages), and
        ``step(epoch)`` with a negative epoch.
    """

    def __init__(
        self, optimizer: Optimizer, T_0: int, T_mult: int = 1, eta_min: float = 0.0, last_epoch: int = -1
    ) -> None:
        check_warm_restarts(T_0, T_mult, eta_min)
        self.T_0 = T_0
        self.T_i = T_0
        self.T_mult = T_mult
        self.eta_min = eta_min
        self.T_cur = last_epoch
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[Any]:
        """The lrs at ``T_cur`` of the current period, from ``base_lrs``."""
        self._warn_if_outside_step()
        return [
            cosine_annealing_lr_closed_form(base_lr, self.T_cur, self.T_i, self.eta_min) for base_lr in self.base_lrs
        ]

    def step(self, epoch: float | None = None) -> None:
        """Moves one epoch on, or to ``epoch`` (may be fractional, e.g. ``epoch + batch / batches``)."""
        if epoch is None and self.last_epoch < 0:
            epoch = 0
        if epoch is None:
            epoch = self.last_epoch + 1
            self.T_cur = self.T_cur + 1
            if self.T_cur >= self.T_i:
                self.T_cur = self.T_cur % self.T_i
                self.T_i = self.T_i * self.T_mult
        elif epoch < 0:
            raise ValueError(f"Expected non-negative epoch, but got {epoch}")
        elif epoch < self.T_0:
            self.T_i = self.T_0
            self.T_cur = epoch
        elif self.T_mult == 1:
            self.T_cur = epoch % self.T_0
        else:
            restarts = int(math.log(epoch / self.T_0 * (self.T_mult - 1) + 1, self.T_mult))
            self.T_cur = epoch - self.T_0 * (self.T_mult**restarts - 1) / (self.T_mult - 1)
            self.T_i = self.T_0 * self.T_mult**restarts
        self.last_epoch = math.floor(epoch)
        self._get_lr_called_within_step = True
        try:
            values = self.get_lr()
        finally:
            self._get_lr_called_within_step = False
        self._write_lrs(values)
