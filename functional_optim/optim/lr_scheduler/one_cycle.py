"""torch's OneCycleLR, over :mod:`functional_optim.schedules.one_cycle`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from functional_optim.optim.lr_scheduler.scheduler import (
    LRScheduler,
    check_optimizer,
    momentum_uses_beta1,
    per_group_values,
    set_momentum,
    start_momentum_cycle,
)
from functional_optim.optim.optimizer import Optimizer
from functional_optim.schedules.one_cycle import anneal, phase_ends, phase_points, resolve_total_steps


class OneCycleLR(LRScheduler):
    r"""``torch.optim.lr_scheduler.OneCycleLR``: the 1cycle policy, stepped once per batch.

    The constructor writes into every group ``initial_lr = max_lr / div_factor``, ``max_lr``
    and ``min_lr = initial_lr / final_div_factor`` (and, with ``cycle_momentum``,
    ``max_momentum`` and ``base_momentum``, setting the momentum or ``betas[0]`` to
    ``max_momentum``). The steps split into phases ending at ``pct_start * total_steps - 1``
    and ``total_steps - 1`` (with ``three_phase``, also ``2 * pct_start * total_steps - 2`` in
    between): initial → max → min lr (or initial → max → initial → min), the momentum the
    other way, annealed by ``anneal_strategy`` ('cos' or 'linear'). The values are read from the
    group's keys at every step.

    Not chainable. A fresh scheduler is :func:`functional_optim.schedules.one_cycle_lr` (and
    ``.momentum``) exactly, up to ``total_steps``, which is allowed (it extrapolates the last
    phase); a step beyond it raises ``ValueError("Tried to step ...")`` here, as torch, where the
    pure function holds its value.

    Args:
      optimizer: the optimizer.
      max_lr: the peak lr, a number or one per group.
      total_steps: the number of steps; takes priority over ``epochs * steps_per_epoch``.
      epochs: the number of epochs, with ``steps_per_epoch``.
      steps_per_epoch: the number of steps per epoch.
      pct_start: the fraction of the steps spent warming up, a float in [0, 1].
      anneal_strategy: ``'cos'`` or ``'linear'``.
      cycle_momentum: whether to cycle the momentum (or beta1).
      base_momentum: the momentum at the lr's peak, a number or one per group.
      max_momentum: the momentum at the start and the end, a number or one per group.
      div_factor: the initial lr is ``max_lr / div_factor``.
      final_div_factor: the min lr is ``initial_lr / final_div_factor``.
      three_phase: anneal back to the initial lr before the final decay.
      last_epoch: the index of the last batch; -1 to start.

    Raises:
      ValueError: torch's errors for the step counts, ``pct_start``, ``anneal_strategy``,
        per-group lists and ``cycle_momentum`` without momentum or betas.
      ZeroDivisionError: an empty first phase (``pct_start * total_steps == 1``), as torch's
        constructor.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        max_lr: float | Sequence[float],
        total_steps: int | None = None,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
        pct_start: float = 0.3,
        anneal_strategy: str = "cos",
        cycle_momentum: bool = True,
        base_momentum: float | Sequence[float] = 0.85,
        max_momentum: float | Sequence[float] = 0.95,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
        last_epoch: int = -1,
    ) -> None:
        check_optimizer(optimizer)
        self.optimizer = optimizer
        self.total_steps = resolve_total_steps(total_steps, epochs, steps_per_epoch)
        ends = phase_ends(self.total_steps, pct_start, three_phase, anneal_strategy)
        lr_points, momentum_points = phase_points(three_phase)
        self._schedule_phases = [
            {
                "end_step": end,
                "start_lr": lr_points[index],
                "end_lr": lr_points[index + 1],
                "start_momentum": momentum_points[index],
                "end_momentum": momentum_points[index + 1],
            }
            for index, end in enumerate(ends)
        ]
        self._anneal_func_type = anneal_strategy
        max_lrs = per_group_values("max_lr", optimizer, max_lr)
        if last_epoch == -1:
            for group, group_max_lr in zip(optimizer.param_groups, max_lrs):
                group["initial_lr"] = group_max_lr / div_factor
                group["max_lr"] = group_max_lr
                group["min_lr"] = group["initial_lr"] / final_div_factor
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            self.use_beta1 = momentum_uses_beta1(optimizer)
            max_momentums = per_group_values("max_momentum", optimizer, max_momentum)
            base_momentums = per_group_values("base_momentum", optimizer, base_momentum)
            if last_epoch == -1:
                start_momentum_cycle(optimizer, self.use_beta1, max_momentums, base_momentums)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[Any]:
        """The lrs at step ``last_epoch``; also writes the momenta into the groups."""
        self._warn_if_outside_step()
        step = self.last_epoch
        if step > self.total_steps:
            raise ValueError(f"Tried to step {step} times. The specified number of total steps is {self.total_steps}")
        last = len(self._schedule_phases) - 1
        lrs = []
        for group in self.optimizer.param_groups:
            start_step = 0.0
            for index, phase in enumerate(self._schedule_phases):
                if step <= phase["end_step"] or index == last:
                    break
                start_step = phase["end_step"]
            pct = (step - start_step) / (phase["end_step"] - start_step)
            lrs.append(anneal(self._anneal_func_type, group[phase["start_lr"]], group[phase["end_lr"]], pct))
            if self.cycle_momentum:
                momentum = anneal(
                    self._anneal_func_type, group[phase["start_momentum"]], group[phase["end_momentum"]], pct
                )
                set_momentum(self.optimizer, group, momentum, self.use_beta1)
        return lrs
