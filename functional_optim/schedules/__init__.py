r"""torch.optim.lr_scheduler as pure functions: every scheduler is an ``epoch -> lr`` schedule.

Each function takes the base value first (``base_lr``; ``cyclic_lr(base_lr, max_lr, ...)``;
``one_cycle_lr(max_lr, ...)``), then the torch scheduler's other constructor arguments with
the same names and defaults (the optimizer and ``last_epoch`` dropped), validates them as torch
does, and returns a :class:`Schedule`: a pure callable that maps an integer epoch (traced or
not) to the value torch's scheduler holds after that many ``step()`` calls, i.e. torch's
``get_last_lr()`` sequence::

    import functional_optim as fo
    from functional_optim import schedules

    lr = schedules.step_lr(1e-3, step_size=30)            # torch's StepLR(opt, step_size=30)
    lr(0), lr(29), lr(30)                                  # 1e-3, 1e-3, 1e-4
    tx = fo.adam(lr=lr)                                    # evaluated at state.count

A callable hyperparameter is evaluated at ``state.count``, the number of updates already
applied, so a schedule passed as ``lr=`` gives update ``k`` the lr torch's optimizer uses after
``k`` scheduler steps, the torch loop that steps the scheduler after every
``optimizer.step()``. For a scheduler stepped once per epoch, wrap it with
:func:`per_epoch` (``count -> schedule(count // steps_per_epoch)``).

Where torch's recursive (``step()``) form and its closed form (``step(epoch)``) differ, the
functions follow the recursive sequence whenever it has an exact closed form, and otherwise the
closed form, as each docstring says. CyclicLR and OneCycleLR also drive the momentum (or
beta1): their schedules carry it as ``.momentum`` (also :func:`cyclic_momentum`,
:func:`one_cycle_momentum`). :func:`chained` multiplies multiplicative schedules, as
ChainedScheduler; :func:`sequential_lr` runs schedules one after another, as SequentialLR.
torch's ReduceLROnPlateau depends on the metric, not the epoch: :func:`reduce_lr_on_plateau` is
an ``(init, update)`` pair over the metric with an explicit state.

Every schedule describes one param group; build one per group for torch's per-group lists.
"""

from functional_optim.schedules.composite import chained, sequential_lr
from functional_optim.schedules.cosine import cosine_annealing_lr, cosine_annealing_warm_restarts
from functional_optim.schedules.cyclic import cyclic_lr, cyclic_momentum
from functional_optim.schedules.multiplicative import (
    constant_lr,
    exponential_lr,
    lambda_lr,
    linear_lr,
    multi_step_lr,
    multiplicative_lr,
    polynomial_lr,
    step_lr,
)
from functional_optim.schedules.one_cycle import one_cycle_lr, one_cycle_momentum
from functional_optim.schedules.plateau import PlateauSchedule, ReduceLROnPlateauState, reduce_lr_on_plateau
from functional_optim.schedules.schedule import Schedule, per_epoch

__all__ = [
    "PlateauSchedule",
    "ReduceLROnPlateauState",
    "Schedule",
    "chained",
    "constant_lr",
    "cosine_annealing_lr",
    "cosine_annealing_warm_restarts",
    "cyclic_lr",
    "cyclic_momentum",
    "exponential_lr",
    "lambda_lr",
    "linear_lr",
    "multi_step_lr",
    "multiplicative_lr",
    "one_cycle_lr",
    "one_cycle_momentum",
    "per_epoch",
    "polynomial_lr",
    "reduce_lr_on_plateau",
    "sequential_lr",
    "step_lr",
]
