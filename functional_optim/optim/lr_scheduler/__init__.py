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

The classes are a thin layer over :mod:`functional_optim.schedules`, laid out the same way
(``multiplicative``, ``cosine``, ``cyclic``, ``one_cycle``, ``composite``, ``plateau``; the
base class in ``scheduler``): the argument checks, torch's chainable rules ``(lr, epoch) -> lr``
and closed forms (:mod:`functional_optim.schedules.chainable`), the cyclic and one-cycle
formulas and the plateau rule are written once there, on Python numbers, and used by both.
The classes keep what only a stateful scheduler has: the optimizer's groups, ``last_epoch``,
the step-order warnings, ``step(epoch)`` and the state_dict. The pure schedules are the
closed forms of these classes for a scheduler stepped alone from the start; each class
docstring says where its recursive sequence and the pure function differ. torch calls
``lr_lambda`` and ``scale_fn`` with Python ints (they need not be traceable) and
``CosineAnnealingWarmRestarts.step(epoch)`` takes fractional epochs.

A group ``lr`` given as an array (torch's Tensor lr) stays an array of its dtype: the
schedulers' arithmetic then runs on it, and the new value replaces it (torch fills its tensor
in place; JAX arrays are immutable).
"""

from __future__ import annotations

from functional_optim.optim.lr_scheduler.composite import ChainedScheduler, SequentialLR
from functional_optim.optim.lr_scheduler.cosine import CosineAnnealingLR, CosineAnnealingWarmRestarts
from functional_optim.optim.lr_scheduler.cyclic import CyclicLR
from functional_optim.optim.lr_scheduler.multiplicative import (
    ConstantLR,
    ExponentialLR,
    LambdaLR,
    LinearLR,
    MultiplicativeLR,
    MultiStepLR,
    PolynomialLR,
    StepLR,
)
from functional_optim.optim.lr_scheduler.one_cycle import OneCycleLR
from functional_optim.optim.lr_scheduler.plateau import ReduceLROnPlateau
from functional_optim.optim.lr_scheduler.scheduler import EPOCH_DEPRECATION_WARNING as EPOCH_DEPRECATION_WARNING
from functional_optim.optim.lr_scheduler.scheduler import LRScheduler

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


class _LRScheduler(LRScheduler):
    """The old name of :class:`LRScheduler`, kept as torch keeps it."""
