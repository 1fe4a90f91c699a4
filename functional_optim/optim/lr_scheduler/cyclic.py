"""torch's CyclicLR, over :mod:`functional_optim.schedules.cyclic`."""

from __future__ import annotations

import math
import operator
import types
from collections.abc import Callable, Sequence
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
from functional_optim.schedules.cyclic import builtin_scale, cycle_sizes, scale_policy


class CyclicLR(LRScheduler):
    r"""``torch.optim.lr_scheduler.CyclicLR``: the lr cycles between ``base_lr`` and ``max_lr``, the momentum inversely.

    Stepped once per batch. At iteration :math:`e`, with :math:`S` = ``step_size_up +
    step_size_down`` and :math:`r` = ``step_size_up / S``: :math:`c = \lfloor 1 + e/S \rfloor`,
    :math:`x = 1 + e/S - c`, the height :math:`h = x/r` rising or :math:`(x-1)/(r-1)` falling,
    and each group's lr is :math:`\eta_{base} + (\eta_{max} - \eta_{base})\,h\,\sigma` with the
    scale :math:`\sigma` of ``mode`` (or ``scale_fn``) at the cycle :math:`c` or at :math:`e`.
    With ``cycle_momentum`` the group's ``momentum`` (or ``betas[0]`` for optimizers with
    betas, such as Adam) becomes :math:`m_{max} - (m_{max} - m_{base})\,h\,\sigma`; the
    constructor sets it to ``max_momentum``, which switches SGD's momentum on, and stores
    ``max_momentum`` and ``base_momentum`` in the groups.

    Not chainable: every step sets the lr from the bounds. A fresh scheduler is
    :func:`functional_optim.schedules.cyclic_lr` (and ``.momentum``) exactly, except that a
    custom ``scale_fn`` is called with Python numbers here and needs not be traceable. The
    constructor sets each group's lr to ``base_lr`` before adding ``initial_lr``; its own step
    uses ``initial_lr`` (which another scheduler may have set first), later steps ``base_lr``.

    Args:
      optimizer: the optimizer.
      base_lr: the lower bound, a number or one per group.
      max_lr: the upper bound, a number or one per group.
      step_size_up: iterations from the lower bound to the upper.
      step_size_down: iterations back down; None for ``step_size_up``.
      mode: ``'triangular'``, ``'triangular2'`` or ``'exp_range'``; ignored with ``scale_fn``.
      gamma: the base of ``'exp_range'``'s scale, ``gamma ** iteration``.
      scale_fn: a custom scale function, replacing ``mode``.
      scale_mode: ``'cycle'`` or ``'iterations'``: what ``scale_fn`` is evaluated at (a
        built-in mode forces its own).
      cycle_momentum: whether to cycle the momentum (or beta1).
      base_momentum: the momentum at the lr's peak, a number or one per group.
      max_momentum: the momentum at the lr's trough, a number or one per group.
      last_epoch: the index of the last batch; -1 to start.

    Raises:
      ValueError: a per-group list of the wrong length, an unknown ``mode`` without
        ``scale_fn``, ``cycle_momentum`` with an optimizer without momentum or betas (torch's
        messages).
      ZeroDivisionError: ``step_size_up`` is 0, as in torch's constructor.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        base_lr: float | Sequence[float],
        max_lr: float | Sequence[float],
        step_size_up: int = 2000,
        step_size_down: int | None = None,
        mode: str = "triangular",
        gamma: float = 1.0,
        scale_fn: Callable[[float], float] | None = None,
        scale_mode: str = "cycle",
        cycle_momentum: bool = True,
        base_momentum: float | Sequence[float] = 0.8,
        max_momentum: float | Sequence[float] = 0.9,
        last_epoch: int = -1,
    ) -> None:
        check_optimizer(optimizer)
        self.optimizer = optimizer
        base_lrs = per_group_values("base_lr", optimizer, base_lr)
        if last_epoch == -1:
            for lr, group in zip(base_lrs, optimizer.param_groups, strict=True):
                optimizer.set_group_value(group, "lr", lr)
        self.max_lrs = per_group_values("max_lr", optimizer, max_lr)
        self.total_size, self.step_ratio = cycle_sizes(step_size_up, step_size_down)
        scale_policy(mode, gamma, scale_fn, scale_mode)  # torch's check of the mode, after the sizes
        self.mode = mode
        self.gamma = gamma
        self._scale_fn_custom = scale_fn
        self.scale_mode = scale_mode
        self._init_scale_fn()
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            self.use_beta1 = momentum_uses_beta1(optimizer)
            self.base_momentums = per_group_values("base_momentum", optimizer, base_momentum)
            self.max_momentums = per_group_values("max_momentum", optimizer, max_momentum)
            if last_epoch == -1:
                start_momentum_cycle(optimizer, self.use_beta1, self.max_momentums, self.base_momentums)
        super().__init__(optimizer, last_epoch)
        self.base_lrs = base_lrs

    def _init_scale_fn(self) -> None:
        """The built-in scale function of ``mode`` (and the ``scale_mode`` it forces), unless custom."""
        if self._scale_fn_custom is not None:
            return
        self._scale_fn_ref, by_cycle = builtin_scale(self.mode, self.gamma, operator.pow)
        self.scale_mode = "cycle" if by_cycle else "iterations"

    def scale_fn(self, x: float) -> float:
        """The scale :math:`\\sigma(x)`: the custom ``scale_fn``, else the built-in one of ``mode``."""
        if self._scale_fn_custom is not None:
            return self._scale_fn_custom(x)
        return self._scale_fn_ref(x)

    def get_lr(self) -> list[Any]:
        """The lrs at iteration ``last_epoch``; also writes the momenta into the groups."""
        self._warn_if_outside_step()
        cycle = math.floor(1 + self.last_epoch / self.total_size)
        x = 1.0 + self.last_epoch / self.total_size - cycle
        height = x / self.step_ratio if x <= self.step_ratio else (x - 1) / (self.step_ratio - 1)
        at = cycle if self.scale_mode == "cycle" else self.last_epoch
        lrs = [
            base_lr + (max_lr - base_lr) * height * self.scale_fn(at)
            for base_lr, max_lr in zip(self.base_lrs, self.max_lrs, strict=True)
        ]
        if self.cycle_momentum:
            momenta = [
                max_momentum - (max_momentum - base_momentum) * height * self.scale_fn(at)
                for base_momentum, max_momentum in zip(self.base_momentums, self.max_momentums, strict=True)
            ]
            for group, momentum in zip(self.optimizer.param_groups, momenta, strict=True):
                set_momentum(self.optimizer, group, momentum, self.use_beta1)
        return lrs

    def state_dict(self) -> dict[str, Any]:
        """The attributes, without the built-in scale function; a custom one as its ``__dict__``
        if it is a callable object, None if it is a function."""
        state = super().state_dict()
        state.pop("_scale_fn_ref", None)
        custom = state.pop("_scale_fn_custom")
        state["_scale_fn_custom"] = None
        if custom is not None and not isinstance(custom, types.FunctionType):
            state["_scale_fn_custom"] = custom.__dict__.copy()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restores the attributes, a callable object's saved state, and the built-in scale function."""
        state = dict(state_dict)
        custom = state.pop("_scale_fn_custom")
        super().load_state_dict(state)
        if custom is not None:
            self._scale_fn_custom.__dict__.update(custom)
        self._init_scale_fn()
