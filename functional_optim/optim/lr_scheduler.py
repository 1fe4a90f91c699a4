r"""``torch.optim.lr_scheduler`` on :mod:`functional_optim.optim`'s optimizers.

The torch idiom, unchanged: wrap the optimizer in a scheduler and step the scheduler after the
optimizer::

    optimizer = fo.optim.SGD(
        [{"params": fo.parameter_list(params["base"])}, {"params": fo.parameter_list(params["head"])}],
        lr=0.05,
    )
    scheduler = fo.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda=[lambda e: e // 30, lambda e: 0.95**e])
    for epoch in range(100):
        train(...)          # optimizer.step() for every batch
        scheduler.step()

A scheduler edits the optimizer's ``param_groups`` between steps (``group["lr"]``, and
``group["momentum"]`` or ``group["betas"]`` for CyclicLR and OneCycleLR), through
:meth:`~functional_optim.optim.Optimizer.set_group_value`, so the optimizer takes the values
as they are, as torch does, even past the constructor's ranges (it checks other edits); its
compiled step reads them as traced values, so scheduling does not re-compile it (except when
a value becomes or stops being 0, which the step specialises on).

Behaviour is torch 2.13's, attribute for attribute: the constructor adds ``initial_lr`` to the
groups and performs one step (so the lr of epoch 0 is in the optimizer once the scheduler
exists); ``step()`` moves ``last_epoch`` on and applies the class's *recursive* ``get_lr()``,
which scales or moves the current ``group["lr"]`` (so schedulers stepped together compose,
and an lr changed by hand or by ReduceLROnPlateau is followed); the deprecated
``step(epoch)`` sets ``last_epoch`` and uses the class's closed form where it has one, with
torch's warning; ``state_dict()`` is the instance's ``__dict__`` without the optimizer, with
torch's keys, and ``load_state_dict`` restores it. The arithmetic is torch's, on Python floats,
in torch's order, so the lrs are the very floats torch computes.

The pure schedules of :mod:`functional_optim.schedules` are the closed forms of these classes
for a scheduler stepped alone from the start; the classes use them to validate their arguments
(torch's errors). Each class docstring says where its recursive sequence and the pure function
differ. The classes do not compute their values with the pure functions: torch calls
``lr_lambda`` and ``scale_fn`` with Python ints (they need not be traceable), reads the groups'
current values at every step, and supports fractional epochs in
``CosineAnnealingWarmRestarts.step(epoch)``.

A group ``lr`` given as an array (torch's Tensor lr) stays an array of its dtype: the
schedulers' arithmetic then runs on it, and the new value replaces it (torch fills its tensor
in place; JAX arrays are immutable).
"""

from __future__ import annotations

import functools
import math
import types
import warnings
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from functional_optim import schedules
from functional_optim.optim.optimizer import Optimizer
from functional_optim.schedules import plateau
from functional_optim.schedules.cyclic import _cycle_position, _scale_policy
from functional_optim.schedules.one_cycle import _phase_ends, _total_steps

__all__ = [
    "ChainedScheduler",
    "ConstantLR",
    "CosineAnnealingLR",
    "CosineAnnealingWarmRestarts",
    "CyclicLR",
    "ExponentialLR",
    "LRScheduler",
    "LambdaLR",
    "LinearLR",
    "MultiStepLR",
    "MultiplicativeLR",
    "OneCycleLR",
    "PolynomialLR",
    "ReduceLROnPlateau",
    "SequentialLR",
    "StepLR",
]

EPOCH_DEPRECATION_WARNING = (
    "The epoch parameter in `scheduler.step()` was not necessary and is being "
    "deprecated where possible. Please use `scheduler.step()` to step the "
    "scheduler. During the deprecation, if epoch is different from None, the "
    "closed form is used instead of the new chainable form, where available. "
    "Please open an issue if you are unable to replicate your use case: "
    "https://github.com/pytorch/pytorch/issues/new/choose."
)

_ORDER_ADVICE = "See more details at https://pytorch.org/docs/stable/optim.html#how-to-adjust-learning-rate"

# -- group values --------------------------------------------------------------------------------


def _copy(value: Any) -> Any:
    """``value``, copied if it is a mutable array (JAX arrays are immutable, numbers are values)."""
    return np.array(value) if isinstance(value, np.ndarray) else value


def _group_values(optimizer: Optimizer, key: str) -> list[Any]:
    """``group[key]`` of every param group (a KeyError if one lacks it)."""
    return [_copy(group[key]) for group in optimizer.param_groups]


def per_group(name: str, optimizer: Optimizer, value: Any) -> list[Any]:
    """One value per param group: a list or tuple of the right length, or a value for every group.

    torch's ``_format_param``, for a scheduler's per-group arguments (``max_lr``, SWALR's
    ``swa_lr``, ...): arrays are copied, and a list of the wrong length raises torch's ValueError.
    """
    groups = len(optimizer.param_groups)
    if isinstance(value, (list, tuple)):
        if len(value) != groups:
            raise ValueError(
                f"{name} must have the same length as optimizer.param_groups. "
                f"{name} has {len(value)} values, param_groups has {groups}."
            )
        return [_copy(v) for v in value]
    return [_copy(value) for _ in range(groups)]


def _check_optimizer(optimizer: Any) -> None:
    if not isinstance(optimizer, Optimizer):
        raise TypeError(
            f"{type(optimizer).__name__} is not an Optimizer "
            "(optimizer must be a functional_optim.optim.Optimizer, e.g. fo.optim.SGD)"
        )


def _record_optimizer_step(optimizer: Optimizer, args: Any, kwargs: Any) -> None:
    optimizer._opt_called = True


def _track_optimizer_steps(optimizer: Optimizer) -> None:
    """Makes ``optimizer.step()`` record that it ran (a step hook), for the step-order warnings.

    torch wraps ``optimizer.step`` instead; a hook keeps the optimizer free of references to
    itself (``copy.deepcopy`` gives an independent copy). The instance's ``step`` at this time
    is remembered, to tell when it is replaced afterwards.
    """
    if not getattr(optimizer, "_lr_scheduler_hooked", False):
        optimizer.register_step_post_hook(_record_optimizer_step)
        optimizer._lr_scheduler_hooked = True
    optimizer._lr_scheduler_step = vars(optimizer).get("step")


def _step_replaced(optimizer: Optimizer) -> bool:
    """Whether ``optimizer.step`` was replaced since a scheduler was attached."""
    return vars(optimizer).get("step") is not getattr(optimizer, "_lr_scheduler_step", None)


def _momentum_key(optimizer: Optimizer) -> bool:
    """Whether momentum cycling writes ``betas[0]`` (True) or ``momentum`` (False)."""
    if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
        raise ValueError(
            "optimizer must support momentum or beta1 with `cycle_momentum` option enabled "
            f"({type(optimizer).__name__} has neither 'momentum' nor 'betas'; pass cycle_momentum=False)"
        )
    return "betas" in optimizer.defaults


def _set_momentum(optimizer: Optimizer, group: dict[str, Any], value: Any, use_beta1: bool) -> None:
    if use_beta1:
        optimizer.set_group_value(group, "betas", (value, *group["betas"][1:]))
    else:
        optimizer.set_group_value(group, "momentum", value)


def _start_momentum_cycle(
    optimizer: Optimizer, use_beta1: bool, max_momentums: list[Any], base_momentums: list[Any]
) -> None:
    """Sets every group's momentum (or beta1) to its maximum and records both bounds in the group."""
    for group, max_momentum, base_momentum in zip(optimizer.param_groups, max_momentums, base_momentums, strict=True):
        _set_momentum(optimizer, group, max_momentum, use_beta1)
        group["max_momentum"] = max_momentum
        group["base_momentum"] = base_momentum


# -- the base class ------------------------------------------------------------------------------


class LRScheduler:
    """Base class of the schedulers: ``torch.optim.lr_scheduler.LRScheduler``.

    A subclass sets its own attributes, calls ``super().__init__(optimizer, last_epoch)`` and
    defines ``get_lr()``: the lrs for ``last_epoch``, usually from the groups' current lrs
    (the recursive form), optionally ``_get_closed_form_lr()`` for ``step(epoch)``.

    Construction, with ``last_epoch=-1``, stores each group's lr as ``group["initial_lr"]``
    (keeping one already there, e.g. from another scheduler on the same optimizer); with
    ``last_epoch >= 0`` (resuming) every group must already have it. ``base_lrs`` are those
    ``initial_lr`` s. Then one step runs: ``last_epoch`` becomes ``last_epoch + 1`` (0 for a
    fresh scheduler) and the groups get the lrs of that epoch.

    Args:
      optimizer: the :class:`~functional_optim.optim.Optimizer` whose lrs are scheduled.
      last_epoch: the index of the last epoch done; -1 to start.

    Raises:
      TypeError: ``optimizer`` is not an Optimizer.
      KeyError: resuming (``last_epoch >= 0``) and a group has no ``initial_lr``.
    """

    _get_lr_called_within_step: bool = False
    _is_initial: bool = False

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        _check_optimizer(optimizer)
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", _copy(group["lr"]))
        else:
            for index, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(
                        f"param 'initial_lr' is not specified in param_groups[{index}] when resuming scheduler "
                        "with last_epoch >= 0.\nThis typically happens when:\n"
                        "1. You're trying to resume training from a checkpoint but haven't properly loaded the "
                        "optimizer state\n"
                        "2. You're using last_epoch >= 0 for a fresh training run (not recommended)"
                    )
        self.base_lrs: list[Any] = _group_values(optimizer, "initial_lr")
        self.last_epoch = last_epoch
        _track_optimizer_steps(optimizer)
        self._initial_step()

    def _initial_step(self) -> None:
        """The constructor's step (``_is_initial`` is True while it runs)."""
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def state_dict(self) -> dict[str, Any]:
        """Every attribute but the optimizer (torch's keys: ``base_lrs``, ``last_epoch``, ...)."""
        return {key: value for key, value in self.__dict__.items() if key != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restores the attributes from :meth:`state_dict` (the optimizer's lrs are the optimizer's)."""
        self.__dict__.update(state_dict)

    def get_last_lr(self) -> list[Any]:
        """The lrs of the groups after the last step, one per param group."""
        return self._last_lr

    def get_lr(self) -> list[Any]:
        """The lrs for ``last_epoch``; each subclass defines it (called by :meth:`step`)."""
        raise NotImplementedError

    def step(self, epoch: int | None = None) -> None:
        """Moves to the next epoch and writes its lrs into the groups; call it after ``optimizer.step()``.

        Args:
          epoch: deprecated (warns): jump to this epoch and use the closed form where the
            class has one, else ``get_lr()`` at it.
        """
        if self._step_count == 1:
            if _step_replaced(self.optimizer):
                warnings.warn(
                    "Seems like `optimizer.step()` has been overridden after learning rate scheduler "
                    "initialization. Please, make sure to call `optimizer.step()` before "
                    f"`lr_scheduler.step()`. {_ORDER_ADVICE}",
                    UserWarning,
                    stacklevel=2,
                )
            elif not getattr(self.optimizer, "_opt_called", False):
                warnings.warn(
                    "Detected call of `lr_scheduler.step()` before `optimizer.step()`. "
                    "In PyTorch 1.1.0 and later, you should call them in the opposite order: "
                    "`optimizer.step()` before `lr_scheduler.step()`.  Failure to do this "
                    "will result in PyTorch skipping the first value of the learning rate schedule. "
                    f"{_ORDER_ADVICE}",
                    UserWarning,
                    stacklevel=2,
                )
        self._step_count += 1
        if epoch is not None:
            warnings.warn(EPOCH_DEPRECATION_WARNING, UserWarning, stacklevel=2)
        self._update_lr(epoch)

    def _update_lr(self, epoch: int | None = None) -> None:
        self._get_lr_called_within_step = True
        try:
            if epoch is None:
                self.last_epoch += 1
                values = self.get_lr()
            else:
                self.last_epoch = epoch
                closed_form = getattr(self, "_get_closed_form_lr", None)
                values = closed_form() if closed_form is not None else self.get_lr()
        finally:
            self._get_lr_called_within_step = False
        self._write_lrs(values)

    def _write_lrs(self, values: Iterable[Any]) -> None:
        for group, lr in zip(self.optimizer.param_groups, values, strict=True):
            self.optimizer.set_group_value(group, "lr", lr)
        self._last_lr = _group_values(self.optimizer, "lr")

    def _warn_if_outside_step(self) -> None:
        if not self._get_lr_called_within_step:
            warnings.warn(
                "To get the last learning rate computed by the scheduler, please use `get_last_lr()`.",
                UserWarning,
                stacklevel=3,
            )

    def _current_lrs(self) -> list[Any]:
        return _group_values(self.optimizer, "lr")

    def _scaled_lrs(self, factor: Any) -> list[Any]:
        return [group["lr"] * factor for group in self.optimizer.param_groups]


class _LRScheduler(LRScheduler):
    """The old name of :class:`LRScheduler`, kept as torch keeps it."""


# -- lr_lambda schedulers ------------------------------------------------------------------------


class _LambdaScheduler(LRScheduler):
    """Holds one ``lr_lambda`` per group; saves the state of callable objects, not of functions."""

    def __init__(self, optimizer: Optimizer, lr_lambda: Any, last_epoch: int) -> None:
        _check_optimizer(optimizer)
        self.optimizer = optimizer
        groups = len(optimizer.param_groups)
        if isinstance(lr_lambda, (list, tuple)):
            if len(lr_lambda) != groups:
                raise ValueError(
                    f"Expected {groups} lr_lambdas, but got {len(lr_lambda)} (lr_lambda: one per param group)"
                )
            self.lr_lambdas: list[Callable[[int], float]] = list(lr_lambda)
        else:
            self.lr_lambdas = [lr_lambda] * groups
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
        for fn in self.lr_lambdas:
            if not callable(fn):
                raise TypeError(f"lr_lambda should be a function, but got {type(fn).__name__}")

    def get_lr(self) -> list[Any]:
        """Each group's lr times its ``lr_lambda(last_epoch)``; unchanged by the constructor's step."""
        self._warn_if_outside_step()
        if self._is_initial:
            return self._current_lrs()
        return [
            group["lr"] * fn(self.last_epoch)
            for fn, group in zip(self.lr_lambdas, self.optimizer.param_groups, strict=True)
        ]


# -- chainable decays ----------------------------------------------------------------------------


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
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._current_lrs()
        return self._scaled_lrs(self.gamma)

    def _get_closed_form_lr(self) -> list[Any]:
        return [base_lr * self.gamma ** (self.last_epoch // self.step_size) for base_lr in self.base_lrs]


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
        if self.last_epoch not in self.milestones:
            return self._current_lrs()
        return self._scaled_lrs(self.gamma ** self.milestones[self.last_epoch])

    def _get_closed_form_lr(self) -> list[Any]:
        passed = bisect_right(sorted(self.milestones.elements()), self.last_epoch)
        return [base_lr * self.gamma**passed for base_lr in self.base_lrs]


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
        schedules.constant_lr(1.0, factor, total_iters)  # torch's argument checks
        self.factor = factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[Any]:
        """The current lrs, times ``factor`` at epoch 0 and ``1 / factor`` at ``total_iters``."""
        self._warn_if_outside_step()
        if self.last_epoch == 0:
            return self._scaled_lrs(self.factor)
        if self.last_epoch != self.total_iters:
            return self._current_lrs()
        return self._scaled_lrs(1.0 / self.factor)

    def _get_closed_form_lr(self) -> list[Any]:
        done = self.last_epoch >= self.total_iters
        return [base_lr * (self.factor + done * (1 - self.factor)) for base_lr in self.base_lrs]


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
        schedules.linear_lr(1.0, start_factor, end_factor, total_iters)  # torch's argument checks
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[Any]:
        """The current lrs, times the step of the factor from ``last_epoch - 1`` to ``last_epoch``."""
        self._warn_if_outside_step()
        if self.last_epoch == 0:
            return self._scaled_lrs(self.start_factor)
        if self._is_initial or self.last_epoch > self.total_iters:
            return self._current_lrs()
        change = self.end_factor - self.start_factor
        return self._scaled_lrs(1.0 + change / (self.total_iters * self.start_factor + (self.last_epoch - 1) * change))

    def _get_closed_form_lr(self) -> list[Any]:
        change = self.end_factor - self.start_factor
        progress = min(self.total_iters, self.last_epoch)
        return [base_lr * (self.start_factor + change * progress / self.total_iters) for base_lr in self.base_lrs]


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
        if self._is_initial:
            return self._current_lrs()
        return self._scaled_lrs(self.gamma)

    def _get_closed_form_lr(self) -> list[Any]:
        return [base_lr * self.gamma**self.last_epoch for base_lr in self.base_lrs]


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
        if self._is_initial or self.last_epoch > self.total_iters:
            return self._current_lrs()
        remaining = 1.0 - self.last_epoch / self.total_iters
        before = 1.0 - (self.last_epoch - 1) / self.total_iters
        return self._scaled_lrs((remaining / before) ** self.power)

    def _get_closed_form_lr(self) -> list[Any]:
        done = min(self.total_iters, self.last_epoch) / self.total_iters
        return [base_lr * (1.0 - done) ** self.power for base_lr in self.base_lrs]


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
        epoch, period, low = self.last_epoch, self.T_max, self.eta_min
        groups = self.optimizer.param_groups
        if self._is_initial:
            return self._current_lrs()
        if self._step_count == 1 and epoch > 0:  # get_lr() outside the step sequence: the closed form
            return [low + (base_lr - low) * (1 + math.cos(epoch * math.pi / period)) / 2 for base_lr in self.base_lrs]
        if (epoch - 1 - period) % (2 * period) == 0:  # from the trough: a step of the closed form
            rise = 1 - math.cos(math.pi / period)
            return [
                group["lr"] + (base_lr - low) * rise / 2 for base_lr, group in zip(self.base_lrs, groups, strict=True)
            ]
        ratio = (1 + math.cos(math.pi * epoch / period)) / (1 + math.cos(math.pi * (epoch - 1) / period))
        return [ratio * (group["lr"] - low) + low for group in groups]

    def _get_closed_form_lr(self) -> list[Any]:
        cosine = 1 + math.cos(math.pi * self.last_epoch / self.T_max)
        return [self.eta_min + (base_lr - self.eta_min) * cosine / 2 for base_lr in self.base_lrs]


# -- schedulers that set the lr from their own bounds --------------------------------------------


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
        schedules.cosine_annealing_warm_restarts(1.0, T_0, T_mult, eta_min)  # torch's argument checks
        self.T_0 = T_0
        self.T_i = T_0
        self.T_mult = T_mult
        self.eta_min = eta_min
        self.T_cur = last_epoch
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[Any]:
        """The lrs at ``T_cur`` of the current period, from ``base_lrs``."""
        self._warn_if_outside_step()
        cosine = 1 + math.cos(math.pi * self.T_cur / self.T_i)
        return [self.eta_min + (base_lr - self.eta_min) * cosine / 2 for base_lr in self.base_lrs]

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


def _triangular_scale(x: float) -> float:
    return 1.0


def _triangular2_scale(x: float) -> float:
    return 1 / (2.0 ** (x - 1))


def _exp_range_scale(gamma: float, x: float) -> float:
    return gamma**x


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
        _check_optimizer(optimizer)
        self.optimizer = optimizer
        base_lrs = per_group("base_lr", optimizer, base_lr)
        if last_epoch == -1:
            for lr, group in zip(base_lrs, optimizer.param_groups, strict=True):
                optimizer.set_group_value(group, "lr", lr)
        self.max_lrs = per_group("max_lr", optimizer, max_lr)
        _cycle_position(step_size_up, step_size_down)  # torch's argument checks, in its order
        _scale_policy(mode, gamma, scale_fn, scale_mode)
        up = float(step_size_up)
        self.total_size = up + (float(step_size_down) if step_size_down is not None else up)
        self.step_ratio = up / self.total_size
        self.mode = mode
        self.gamma = gamma
        self._scale_fn_custom = scale_fn
        self.scale_mode = scale_mode
        self._init_scale_fn()
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            self.use_beta1 = _momentum_key(optimizer)
            self.base_momentums = per_group("base_momentum", optimizer, base_momentum)
            self.max_momentums = per_group("max_momentum", optimizer, max_momentum)
            if last_epoch == -1:
                _start_momentum_cycle(optimizer, self.use_beta1, self.max_momentums, self.base_momentums)
        super().__init__(optimizer, last_epoch)
        self.base_lrs = base_lrs

    def _init_scale_fn(self) -> None:
        """The built-in scale function of ``mode`` (and the ``scale_mode`` it forces), unless custom."""
        if self._scale_fn_custom is not None:
            return
        if self.mode == "triangular":
            self._scale_fn_ref, self.scale_mode = _triangular_scale, "cycle"
        elif self.mode == "triangular2":
            self._scale_fn_ref, self.scale_mode = _triangular2_scale, "cycle"
        elif self.mode == "exp_range":
            self._scale_fn_ref, self.scale_mode = functools.partial(_exp_range_scale, self.gamma), "iterations"

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
                _set_momentum(self.optimizer, group, momentum, self.use_beta1)
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


def _cos_anneal(start: float, end: float, pct: float) -> float:
    return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)


def _linear_anneal(start: float, end: float, pct: float) -> float:
    return (end - start) * pct + start


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
        _check_optimizer(optimizer)
        self.optimizer = optimizer
        self.total_steps = _total_steps(total_steps, epochs, steps_per_epoch)
        ends = _phase_ends(self.total_steps, pct_start, three_phase, anneal_strategy)
        if three_phase:
            points = [("initial_lr", "max_momentum"), ("max_lr", "base_momentum")]
            points += [("initial_lr", "max_momentum"), ("min_lr", "max_momentum")]
        else:
            points = [("initial_lr", "max_momentum"), ("max_lr", "base_momentum"), ("min_lr", "max_momentum")]
        self._schedule_phases = [
            {
                "end_step": end,
                "start_lr": start[0],
                "end_lr": finish[0],
                "start_momentum": start[1],
                "end_momentum": finish[1],
            }
            for end, start, finish in zip(ends, points, points[1:])
        ]
        self._anneal_func_type = anneal_strategy
        max_lrs = per_group("max_lr", optimizer, max_lr)
        if last_epoch == -1:
            for group, group_max_lr in zip(optimizer.param_groups, max_lrs):
                group["initial_lr"] = group_max_lr / div_factor
                group["max_lr"] = group_max_lr
                group["min_lr"] = group["initial_lr"] / final_div_factor
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            self.use_beta1 = _momentum_key(optimizer)
            max_momentums = per_group("max_momentum", optimizer, max_momentum)
            base_momentums = per_group("base_momentum", optimizer, base_momentum)
            if last_epoch == -1:
                _start_momentum_cycle(optimizer, self.use_beta1, max_momentums, base_momentums)
        super().__init__(optimizer, last_epoch)

    def _anneal(self, start: float, end: float, pct: float) -> float:
        return (_cos_anneal if self._anneal_func_type == "cos" else _linear_anneal)(start, end, pct)

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
            lrs.append(self._anneal(group[phase["start_lr"]], group[phase["end_lr"]], pct))
            if self.cycle_momentum:
                momentum = self._anneal(group[phase["start_momentum"]], group[phase["end_momentum"]], pct)
                _set_momentum(self.optimizer, group, momentum, self.use_beta1)
        return lrs


# -- composites ----------------------------------------------------------------------------------


def _check_children(kind: str, optimizer: Optimizer, schedulers: Sequence[Any]) -> None:
    for index, scheduler in enumerate(schedulers):
        if not hasattr(scheduler, "optimizer"):
            raise TypeError(f"{kind} at index {index} should have `optimizer` as its attribute.")
        if isinstance(scheduler, ReduceLROnPlateau):
            raise ValueError(
                f"{kind} does not support `ReduceLROnPlateau` scheduler as it requires additional kwargs to be "
                f"specified when calling `step`, but got one at index {index} in the given schedulers sequence."
            )
        if optimizer != scheduler.optimizer:
            raise ValueError(
                f"{kind} expects all schedulers to belong to the same optimizer, but got scheduler "
                f"{type(scheduler).__name__} at index {index} has {scheduler.optimizer}, which is different from "
                f"{type(optimizer).__name__}."
            )


def _children_state(scheduler: Any) -> dict[str, Any]:
    state = {key: value for key, value in scheduler.__dict__.items() if key not in ("optimizer", "_schedulers")}
    state["_schedulers"] = [child.state_dict() for child in scheduler._schedulers]
    return state


def _load_children_state(scheduler: Any, state_dict: dict[str, Any]) -> None:
    state = dict(state_dict)
    children = state.pop("_schedulers")
    scheduler.__dict__.update(state)
    for child, child_state in zip(scheduler._schedulers, children):
        child.load_state_dict(child_state)


class SequentialLR(LRScheduler):
    r"""``torch.optim.lr_scheduler.SequentialLR``: the schedulers one after another, switching at the milestones.

    The constructor resets every group's lr to its ``initial_lr``, undoes the constructor step
    of every child (``last_epoch -= 1``, recursively) and re-runs that of the scheduler active
    at epoch 0. ``step()`` steps the active child; at a milestone it restarts the next child at
    epoch 0 with its closed form (``_update_lr(0)``), or ``get_lr()`` where it has none.
    Differences from :func:`functional_optim.schedules.sequential_lr`, which rejects these
    cases: non-integer or decreasing milestones are accepted; a nested SequentialLR runs one
    epoch ahead when first and raises NotImplementedError after a milestone, as does a
    ChainedScheduler after a milestone (torch's behaviour). There is no ``base_lrs``.

    Args:
      optimizer: the optimizer, which every child must schedule.
      schedulers: the schedulers, in order.
      milestones: ``len(schedulers) - 1`` epochs at which the next scheduler starts.
      last_epoch: the index of the last epoch; -1 to start.

    Raises:
      ValueError: no schedulers, a ReduceLROnPlateau, a child on another optimizer, the wrong
        number of milestones; TypeError: a child without an optimizer (torch's messages).
    """

    def __init__(
        self, optimizer: Optimizer, schedulers: Sequence[LRScheduler], milestones: Sequence[int], last_epoch: int = -1
    ) -> None:
        if len(schedulers) < 1:
            raise ValueError(f"{type(self).__name__} expects at least one scheduler, but got no scheduler.")
        _check_children(type(self).__name__, optimizer, schedulers)
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(
                "Sequential Schedulers expects number of schedulers provided to be one more than the number of "
                f"milestone points, but got number of schedulers {len(schedulers)} and the number of milestones to "
                f"be equal to {len(milestones)}"
            )
        self._schedulers = schedulers
        self._milestones = milestones
        self.last_epoch = last_epoch + 1
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            optimizer.set_group_value(group, "lr", group["initial_lr"])
        self.recursive_undo()
        first = self._schedulers[bisect_right(self._milestones, 0)]
        first._initial_step()
        self._last_lr = first.get_last_lr()

    def recursive_undo(self, sched: Any = None) -> None:
        """Takes back the constructor step of every scheduler inside (``last_epoch -= 1``)."""
        scheduler = self if sched is None else sched
        if hasattr(scheduler, "_schedulers"):
            for child in scheduler._schedulers:
                self.recursive_undo(child)
        elif hasattr(scheduler, "last_epoch"):
            scheduler.last_epoch -= 1

    def step(self) -> None:
        """Steps the active scheduler, or restarts the next one at a milestone."""
        self.last_epoch += 1
        index = bisect_right(self._milestones, self.last_epoch)
        scheduler = self._schedulers[index]
        if index > 0 and self._milestones[index - 1] == self.last_epoch:
            scheduler._update_lr(0)
        else:
            scheduler.step()
        self._last_lr = scheduler.get_last_lr()

    def state_dict(self) -> dict[str, Any]:
        """The attributes, with ``_schedulers`` as the children's state_dicts."""
        return _children_state(self)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restores the attributes and every child's state."""
        _load_children_state(self, state_dict)


class ChainedScheduler(LRScheduler):
    r"""``torch.optim.lr_scheduler.ChainedScheduler``: every scheduler stepped at each step, in order.

    It performs no step of its own at construction (the children already did), and has no
    ``last_epoch`` or ``base_lrs``. Chainable children compose: each multiplies or moves the lr
    the previous one left. :func:`functional_optim.schedules.chained` is this for the
    multiplicative schedulers, started fresh; the class accepts any scheduler (a non-chainable
    one overwrites the lr the earlier ones computed, as in torch).

    Args:
      schedulers: the schedulers, all on the same optimizer.
      optimizer: that optimizer; the first scheduler's when None.

    Raises:
      ValueError: no schedulers, a ReduceLROnPlateau, a child on another optimizer;
        TypeError: a child without an optimizer (torch's messages).
    """

    def __init__(self, schedulers: Sequence[LRScheduler], optimizer: Optimizer | None = None) -> None:
        if len(schedulers) < 1:
            raise ValueError(
                f"{type(self).__name__} expects at least one scheduler to be chained, but got no scheduler."
            )
        optimizer = optimizer or schedulers[0].optimizer
        _check_children(type(self).__name__, optimizer, schedulers)
        self._schedulers = schedulers
        self.optimizer = optimizer
        self._last_lr = _group_values(self._schedulers[-1].optimizer, "lr")

    def step(self) -> None:
        """Steps every scheduler, in order."""
        for scheduler in self._schedulers:
            scheduler.step()
        self._last_lr = _group_values(self._schedulers[-1].optimizer, "lr")

    def state_dict(self) -> dict[str, Any]:
        """The attributes, with ``_schedulers`` as the children's state_dicts."""
        return _children_state(self)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restores the attributes and every child's state."""
        _load_children_state(self, state_dict)


# -- the metric-driven scheduler -----------------------------------------------------------------


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
        _check_optimizer(optimizer)
        self.optimizer = optimizer
        groups = len(optimizer.param_groups)
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != groups:
                raise ValueError(f"expected {groups} min_lrs, got {len(min_lr)} (min_lr: one per param group)")
            self.default_min_lr = None
            self.min_lrs = list(min_lr)
        else:
            self.default_min_lr = min_lr
            self.min_lrs = [min_lr] * groups
        self.patience = patience
        self.cooldown = cooldown
        self.eps = eps
        self.last_epoch = 0
        self._last_lr = _group_values(optimizer, "lr")
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

    def _is_better(self, current: float, best: float) -> bool:
        return plateau.is_better(current, best, self.mode, self.threshold, self.threshold_mode)

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
        if self._is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            self._reduce_lr(epoch)
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = _group_values(self.optimizer, "lr")

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
            new_lr = max(old_lr * self.factor, min_lr)
            if old_lr - new_lr > self.eps:
                self.optimizer.set_group_value(group, "lr", new_lr)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restores the attributes (and re-checks ``mode`` and ``threshold_mode``)."""
        self.__dict__.update(state_dict)
        self._init_is_better(self.mode, self.threshold, self.threshold_mode)
