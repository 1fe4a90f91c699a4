"""torch's ReduceLROnPlateau, over :mod:`functional_optim.schedules.plateau`."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from functional_optim.optim.lr_scheduler.scheduler import (
    EPOCH_DEPRECATION_WARNING,
    LRScheduler,
    check_optimizer,
    group_values,
)
from functional_optim.optim.optimizer import Optimizer
from functional_optim.schedules import plateau


class ReduceLROnPlateau(LRScheduler):
    r"""``torch.optim.lr_scheduler.ReduceLROnPlateau``: divides the lr when a metric stops improving.

    ``step(metrics)`` compares the metric with the best so far; after more than ``patience``
    steps without an improvement beyond ``threshold`` (relative or absolute), each group's lr
    becomes ``max(lr * factor, min_lr)``, unless that changes it by ``eps`` or less, and
    ``cooldown`` steps follow during which bad steps are not counted. The rule, step by step,
    is in :mod:`functional_optim.schedules.plateau`, whose
    :func:`~functional_optim.schedules.reduce_lr_on_plateau` is the same scheduler as a pure
    ``(init, update)`` pair with an explicit state (equal to this class's sequence).

    The constructor does not touch the lrs (no ``initial_lr``, no ``base_lrs``, no step); the
    reduction multiplies the group's current lr, so it composes with other schedulers.

    Args:
      optimizer: the optimizer.
      mode: ``'min'`` (the metric should decrease) or ``'max'``.
      factor: the lr's multiplier on a plateau, < 1.
      patience: the number of bad steps tolerated; the lr drops at the next one.
      threshold: the least improvement that counts.
      threshold_mode: ``'rel'`` or ``'abs'``.
      cooldown: steps after a drop during which bad steps are not counted.
      min_lr: the lowest lr, a number or one per group.
      eps: drops that would change an lr by ``eps`` or less are skipped.

    Raises:
      ValueError: ``factor >= 1``, a ``min_lr`` list of the wrong length, an unknown ``mode`` or
        ``threshold_mode``; TypeError: not an Optimizer (torch's messages).
    """

    def __init__(
        self,
        optimizer: Optimizer,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: float | Sequence[float] = 0,
        eps: float = 1e-8,
    ) -> None:
        plateau.check_factor(factor)
        self.factor = factor
        check_optimizer(optimizer)
        self.optimizer = optimizer
        groups = len(optimizer.param_groups)
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != groups:
                raise plateau.min_lrs_mismatch(groups, min_lr, " (min_lr: one per param group)")
            self.default_min_lr = None
            self.min_lrs = list(min_lr)
        else:
            self.default_min_lr = min_lr
            self.min_lrs = [min_lr] * groups
        self.patience = patience
        self.cooldown = cooldown
        self.eps = eps
        self.last_epoch = 0
        self._last_lr = group_values(optimizer, "lr")
        self._init_is_better(mode, threshold, threshold_mode)
        self._reset()

    def _init_is_better(self, mode: str, threshold: float, threshold_mode: str) -> None:
        plateau.check_modes(mode, threshold_mode)
        self.mode_worse = plateau.worst_value(mode)
        self.mode = mode
        self.threshold = threshold
        self.threshold_mode = threshold_mode

    def _reset(self) -> None:
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    @property
    def in_cooldown(self) -> bool:
        """Whether bad steps are currently ignored."""
        return self.cooldown_counter > 0

    def step(self, metrics: Any, epoch: int | None = None) -> None:
        """Takes the epoch's metric (a number or a one-element array) and reduces the lrs on a plateau.

        Args:
          metrics: the metric.
          epoch: deprecated (warns): the epoch number to record as ``last_epoch``.
        """
        current = float(metrics)
        if epoch is None:
            epoch = self.last_epoch + 1
        else:
            warnings.warn(EPOCH_DEPRECATION_WARNING, UserWarning, stacklevel=2)
        self.last_epoch = epoch
        self.best, self.num_bad_epochs, self.cooldown_counter = plateau.count_bad_epochs(
            current,
            self.best,
            self.num_bad_epochs,
            self.cooldown_counter,
            self.mode,
            self.threshold,
            self.threshold_mode,
        )
        if self.num_bad_epochs > self.patience:
            self._reduce_lr(epoch)
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = group_values(self.optimizer, "lr")

    def _reduce_lr(self, epoch: int) -> None:
        groups = self.optimizer.param_groups
        if len(groups) != len(self.min_lrs):
            if self.default_min_lr is None:
                raise RuntimeError(
                    f"The number of param groups in the `optimizer` ({len(groups)}) differs from when "
                    f"`ReduceLROnPlateau` was initialized ({len(self.min_lrs)}), usually due to a new param group "
                    "being added to the optimizer. Please modify the `min_lrs` field to match the length of the "
                    "`optimizer` param groups."
                )
            self.min_lrs = [self.default_min_lr] * len(groups)
        for group, min_lr in zip(groups, self.min_lrs):
            old_lr = float(group["lr"])
            new_lr = plateau.reduced_lr(old_lr, self.factor, min_lr)
            if old_lr - new_lr > self.eps:
                self.optimizer.set_group_value(group, "lr", new_lr)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restores the attributes (and re-checks ``mode`` and ``threshold_mode``)."""
        self.__dict__.update(state_dict)
        self._init_is_better(self.mode, self.threshold, self.threshold_mode)
