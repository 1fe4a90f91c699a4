"""The base class :class:`LRScheduler` and the helpers every scheduler class shares."""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Any

import numpy as np

from functional_optim.optim.optimizer import Optimizer
from functional_optim.schedules.schedule import per_group

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


def copy_value(value: Any) -> Any:
    """``value``, copied if it is a mutable array (JAX arrays are immutable, numbers are values)."""
    return np.array(value) if isinstance(value, np.ndarray) else value


def group_values(optimizer: Optimizer, key: str) -> list[Any]:
    """``group[key]`` of every param group (a KeyError if one lacks it)."""
    return [copy_value(group[key]) for group in optimizer.param_groups]


def per_group_values(name: str, optimizer: Optimizer, value: Any) -> list[Any]:
    """One value per param group: a list or tuple of the right length, or a value for every group."""
    return [copy_value(v) for v in per_group(name, value, len(optimizer.param_groups))]


def check_optimizer(optimizer: Any) -> None:
    """torch's check that ``optimizer`` is an Optimizer (here a functional_optim one)."""
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


def momentum_uses_beta1(optimizer: Optimizer) -> bool:
    """Whether momentum cycling writes ``betas[0]`` (True) or ``momentum`` (False)."""
    if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
        raise ValueError(
            "optimizer must support momentum or beta1 with `cycle_momentum` option enabled "
            f"({type(optimizer).__name__} has neither 'momentum' nor 'betas'; pass cycle_momentum=False)"
        )
    return "betas" in optimizer.defaults


def set_momentum(optimizer: Optimizer, group: dict[str, Any], value: Any, use_beta1: bool) -> None:
    """Writes ``value`` as the group's ``momentum``, or as ``betas[0]`` when ``use_beta1``."""
    if use_beta1:
        optimizer.set_group_value(group, "betas", (value, *group["betas"][1:]))
    else:
        optimizer.set_group_value(group, "momentum", value)


def start_momentum_cycle(
    optimizer: Optimizer, use_beta1: bool, max_momentums: list[Any], base_momentums: list[Any]
) -> None:
    """Sets every group's momentum (or beta1) to its maximum and records both bounds in the group."""
    for group, max_momentum, base_momentum in zip(optimizer.param_groups, max_momentums, base_momentums, strict=True):
        set_momentum(optimizer, group, max_momentum, use_beta1)
        group["max_momentum"] = max_momentum
        group["base_momentum"] = base_momentum


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
        check_optimizer(optimizer)
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", copy_value(group["lr"]))
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
        self.base_lrs: list[Any] = group_values(optimizer, "initial_lr")
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
        self._last_lr = group_values(self.optimizer, "lr")

    def _warn_if_outside_step(self) -> None:
        if not self._get_lr_called_within_step:
            warnings.warn(
                "To get the last learning rate computed by the scheduler, please use `get_last_lr()`.",
                UserWarning,
                stacklevel=3,
            )

    def _current_lrs(self) -> list[Any]:
        return group_values(self.optimizer, "lr")

    def _scaled_lrs(self, factor: Any) -> list[Any]:
        return [group["lr"] * factor for group in self.optimizer.param_groups]
