r"""torch's composite schedulers: SequentialLR (one after another) and ChainedScheduler (all at once)."""

from __future__ import annotations

import numbers
from bisect import bisect_right
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from functional_optim.schedules.schedule import Schedule, as_epoch, as_float, int_constants

_NESTED_SEQUENTIAL = NotImplementedError(
    "a sequential_lr inside a sequential_lr is not supported: torch 2.13 runs a nested SequentialLR one epoch "
    "ahead when it comes first and fails with NotImplementedError when it comes after a milestone; "
    "list its schedulers in the outer sequential_lr instead"
)
_CHAINED_AFTER_MILESTONE = NotImplementedError(
    "a chained schedule cannot follow a milestone of sequential_lr: torch's SequentialLR restarts the "
    "scheduler at a milestone through get_lr(), which ChainedScheduler does not implement (NotImplementedError)"
)


def _hook(schedule: Any, name: str) -> Any:
    return getattr(schedule, name, None) if isinstance(schedule, Schedule) else None


def sequential_lr(schedulers: Sequence[Callable[[Any], Any]], milestones: Sequence[int]) -> Schedule:
    r"""``torch.optim.lr_scheduler.SequentialLR``: each schedule in turn, restarted at its milestone.

    .. math::

       \eta_e = s_i(e - m_{i-1}) \quad \text{for } m_{i-1} \le e < m_i
       \qquad (m_{-1} = 0,\ m_{n-1} = \infty)

    where :math:`s_i` is ``schedulers[i]`` and :math:`m` are the ``milestones``. At milestone
    :math:`m_{i-1}` torch restarts scheduler :math:`i` with its closed form at epoch 0 and steps
    it chainably from there, which is its fresh sequence except in these cases, reproduced here:

    * a :func:`multiplicative_lr` has no closed form, so torch goes on from the previous
      scheduler's last lr, multiplying by :math:`\lambda(0), \lambda(1), \ldots`;
    * the degenerate arguments whose closed form at 0 differs from the fresh start
      (``constant_lr``/``linear_lr``/``polynomial_lr`` with ``total_iters <= 0``, a
      ``multi_step_lr`` milestone ``<= 0``), and ``total_iters=0`` where torch divides by zero;
    * a :func:`chained` schedule that comes first runs its schedules' epoch-0 step without the
      constructor's guard, so ``exponential_lr`` and ``polynomial_lr`` (and
      ``multiplicative_lr``) in it take one extra step.

    Each schedule keeps its own base (torch's ``initial_lr`` when it was built). Not reproduced:
    a torch OneCycleLR overwrites the group's ``initial_lr`` when it is built, which SequentialLR
    then also starts the chainable schedulers before it from. The schedule torch starts is the
    one at ``bisect_right(milestones, 0)``; milestones at or below 0 skip the ones before it.
    The result has no ``momentum``: use the momentum schedules directly.

    Args:
      schedulers: the schedules, any callables ``epoch -> lr`` (plain callables are restarted
        fresh).
      milestones: ``len(schedulers) - 1`` integer epochs, non-decreasing.

    Raises:
      ValueError: torch's errors for an empty list or the wrong number of milestones; also
        for non-integer or decreasing milestones, which torch accepts but then steps its
        schedulers from stale states, a sequence a pure function does not reproduce.
      TypeError: a scheduler that is not callable.
      NotImplementedError: a chained schedule after a milestone (torch fails there), or a
        nested sequential_lr.
    """
    schedulers = list(schedulers)
    if len(schedulers) < 1:
        raise ValueError("SequentialLR expects at least one scheduler, but got no scheduler. (schedulers=[])")
    for index, schedule in enumerate(schedulers):
        if not callable(schedule):
            raise TypeError(
                f"SequentialLR at index {index} should be a schedule (a callable epoch -> lr), "
                f"but got {type(schedule).__name__}"
            )
    milestones = list(milestones)
    if len(milestones) != len(schedulers) - 1:
        raise ValueError(
            "Sequential Schedulers expects number of schedulers provided to be one more than the number of "
            f"milestone points, but got number of schedulers {len(schedulers)} and the number of milestones to be "
            f"equal to {len(milestones)}"
        )
    for index, milestone in enumerate(milestones):
        if not isinstance(milestone, numbers.Integral) or isinstance(milestone, bool):
            raise ValueError(f"milestones must be integers, but milestones[{index}] is {milestone!r}")
        if index and milestone < milestones[index - 1]:
            raise ValueError(f"milestones must be non-decreasing, but got {milestones}")
    milestones = [int(m) for m in milestones]
    first = bisect_right(milestones, 0)
    used = [
        i
        for i in range(len(schedulers))
        if i == first or (i > first and bisect_right(milestones, milestones[i - 1]) == i)
    ]
    for index in used:
        hook = _hook(schedulers[index], "_first_in_sequential" if index == first else "_restart")
        if isinstance(hook, BaseException):
            raise hook

    def piece(index: int, epoch: jax.Array) -> jax.Array:
        schedule = schedulers[index]
        if index == first:
            return (_hook(schedule, "_first_in_sequential") or schedule)(epoch)
        milestone = milestones[index - 1]
        since = jnp.maximum(epoch - int_constants([milestone], epoch)[0], 0)
        restart = _hook(schedule, "_restart")
        if restart is None:
            return schedule(since)
        return restart(value_at(milestone - 1), since)

    def value_at(epoch: int) -> jax.Array:
        return piece(bisect_right(milestones, epoch), as_epoch(epoch))

    def lr(epoch: jax.Array) -> jax.Array:
        active = jnp.sum(int_constants(milestones, epoch) <= epoch)
        result = jnp.asarray(piece(used[-1], epoch))
        for index in reversed(used[:-1]):
            result = jnp.where(active == index, piece(index, epoch), result)
        return result

    return Schedule(
        "SequentialLR",
        lr,
        getattr(schedulers[first], "base", None),
        restart=_NESTED_SEQUENTIAL,
        first_in_sequential=_NESTED_SEQUENTIAL,
    )


def chained(schedulers: Sequence[Schedule]) -> Schedule:
    r"""``torch.optim.lr_scheduler.ChainedScheduler``: multiplicative schedules applied together.

    .. math:: \eta_e = \eta_0 \prod_i F_i(e)

    where :math:`F_i` is the ``factor`` of ``schedulers[i]``. torch steps every scheduler on the
    same lr, each multiplying it by its own factor, so the lr is the base times the product of
    their cumulative factors. Only torch's multiplicative (chainable) schedulers compose that
    way: ``multiplicative_lr``, ``step_lr``, ``multi_step_lr``, ``constant_lr``,
    ``linear_lr``, ``exponential_lr``, ``polynomial_lr`` and ``chained`` itself. The others
    either set the lr from the base at every step (LambdaLR, CyclicLR, OneCycleLR,
    CosineAnnealingWarmRestarts: torch's chain would then keep only the last one's value
    times one step of the later ones), or move it affinely and re-anchor it to the base
    (CosineAnnealingLR); they raise here.

    Args:
      schedulers: multiplicative schedules built with the same base lr (in torch they share
        one optimizer).

    Raises:
      ValueError: an empty list (torch's message), a schedule without a ``factor``, or
        different base lrs.
    """
    schedulers = list(schedulers)
    if len(schedulers) < 1:
        raise ValueError(
            "ChainedScheduler expects at least one scheduler to be chained, but got no scheduler. (schedulers=[])"
        )
    for index, schedule in enumerate(schedulers):
        if getattr(schedule, "factor", None) is None:
            raise ValueError(
                f"chained composes multiplicative schedules (those with a factor: multiplicative_lr, step_lr, "
                f"multi_step_lr, constant_lr, linear_lr, exponential_lr, polynomial_lr, chained), but the scheduler "
                f"at index {index} is {getattr(schedule, 'name', type(schedule).__name__)}"
            )
    base = schedulers[0].base
    for index, schedule in enumerate(schedulers):
        if isinstance(base, numbers.Real) and isinstance(schedule.base, numbers.Real) and schedule.base != base:
            raise ValueError(
                "ChainedScheduler expects all schedulers to belong to the same optimizer: chained needs one "
                f"base lr, but the scheduler at index 0 has {base!r} and the one at index {index} has {schedule.base!r}"
            )

    def factor(epoch: jax.Array) -> jax.Array:
        result = schedulers[0].factor(epoch)
        for schedule in schedulers[1:]:
            result = result * schedule.factor(epoch)
        return result

    unguarded = [schedule._unguarded_first_step for schedule in schedulers]
    failures = [hook for hook in unguarded if isinstance(hook, BaseException)]

    def unguarded_first_step() -> Any:
        result = 1.0
        for hook in unguarded:
            result = result * (1.0 if hook is None else hook())
        return result

    def first_in_sequential(epoch: jax.Array) -> jax.Array:
        return as_float(base) * (factor(epoch) * unguarded_first_step())

    return Schedule(
        "ChainedScheduler",
        lambda epoch: as_float(base) * factor(epoch),
        base,
        factor=factor,
        restart=_CHAINED_AFTER_MILESTONE,
        unguarded_first_step=failures[0] if failures else unguarded_first_step,
        first_in_sequential=failures[0] if failures else first_in_sequential,
    )
