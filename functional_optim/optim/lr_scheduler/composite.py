"""torch's SequentialLR and ChainedScheduler, over :mod:`functional_optim.schedules.composite`."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from typing import Any

from functional_optim.optim.lr_scheduler.plateau import ReduceLROnPlateau
from functional_optim.optim.lr_scheduler.scheduler import LRScheduler, group_values
from functional_optim.optim.optimizer import Optimizer


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
        self._last_lr = group_values(self._schedulers[-1].optimizer, "lr")

    def step(self) -> None:
        """Steps every scheduler, in order."""
        for scheduler in self._schedulers:
            scheduler.step()
        self._last_lr = group_values(self._schedulers[-1].optimizer, "lr")

    def state_dict(self) -> dict[str, Any]:
        """The attributes, with ``_schedulers`` as the children's state_dicts."""
        return _children_state(self)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restores the attributes and every child's state."""
        _load_children_state(self, state_dict)
