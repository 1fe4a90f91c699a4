r"""torch's ReduceLROnPlateau as a pure ``(init, update)`` pair over the metric.

ReduceLROnPlateau is not a function of the epoch: it watches a metric (a validation loss) and
divides the lr when the metric stops improving. Its state is therefore explicit, a
:class:`ReduceLROnPlateauState`, threaded through ``update`` like an optimizer state::

    plateau = fo.schedules.reduce_lr_on_plateau(factor=0.5, patience=2)
    plateau_state = plateau.init(1e-3)                 # the lr (or one lr per param group)
    for epoch in range(epochs):
        opt_state = train_one_epoch(opt_state)
        plateau_state = plateau.update(validation_loss(), plateau_state)
        opt_state = fo.set_hyperparams(opt_state, lr=plateau_state.lr)

At every ``update``, in torch's order, with :math:`m` the metric:

.. math::

   \text{better} = \begin{cases}
     m < b\,(1 - \tau) & \text{min, rel} \qquad m < b - \tau \quad \text{min, abs} \\
     m > b\,(1 + \tau) & \text{max, rel} \qquad m > b + \tau \quad \text{max, abs}
   \end{cases}

the best value :math:`b` (initially :math:`+\infty` for min, :math:`-\infty` for max) becomes
:math:`m` and the bad-epoch count resets when better, else the count grows by one; during a
cooldown the count is held at 0 while the cooldown counter runs down; when the count exceeds
``patience``, each lr becomes :math:`\max(\eta f, \eta_{min})` unless that moves it by no more
than ``eps``, the cooldown restarts and the count resets.

``update`` is traceable (no Python branching on values), so it runs under ``jax.jit`` and in a
``lax.scan`` over metrics. With ``jax_enable_x64`` the comparisons and the lr are float64, as
torch's Python floats, and the sequence equals torch's ``ReduceLROnPlateau`` exactly (tests
check it against :class:`functional_optim.optim.lr_scheduler.ReduceLROnPlateau`); without it
they are float32, so a metric within float32 rounding of the threshold may decide otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from functional_optim.hyperparams import scalar_dtype
from functional_optim.schedules.schedule import exact, rounded

MODES = ("min", "max")
THRESHOLD_MODES = ("rel", "abs")


class ReduceLROnPlateauState(NamedTuple):
    """The state of :func:`reduce_lr_on_plateau`, torch's mutable attributes as arrays.

    Attributes:
      lr: the current learning rate(s), the shape given to ``init`` (torch's ``_last_lr``).
      best: the best metric so far (torch's ``best``), in the scalar dtype.
      num_bad_epochs: int32, the updates since the last improvement, not counting cooldown.
      cooldown_counter: int32, the updates left before bad epochs count again.
      last_epoch: int32, the number of updates (torch's ``last_epoch``).
    """

    lr: jax.Array
    best: jax.Array
    num_bad_epochs: jax.Array
    cooldown_counter: jax.Array
    last_epoch: jax.Array


class PlateauSchedule(NamedTuple):
    """The pair :func:`reduce_lr_on_plateau` returns.

    Attributes:
      init: ``init(lr) -> ReduceLROnPlateauState``; ``lr`` is a number, or an array of one lr
        per param group.
      update: ``update(metric, state) -> ReduceLROnPlateauState``; ``metric`` is a number or a
        one-element array (torch's ``float(metrics)``).
    """

    init: Callable[[Any], ReduceLROnPlateauState]
    update: Callable[[Any, ReduceLROnPlateauState], ReduceLROnPlateauState]


def check_factor(factor: float) -> None:
    """torch's check of ``factor`` (made before anything else)."""
    if factor >= 1.0:
        raise ValueError(f"Factor should be < 1.0. (factor={factor!r})")


def check_modes(mode: str, threshold_mode: str) -> None:
    """torch's checks of ``mode`` and ``threshold_mode``."""
    if mode not in MODES:
        raise ValueError(f"mode {mode} is unknown! (mode must be one of {MODES})")
    if threshold_mode not in THRESHOLD_MODES:
        raise ValueError(
            f"threshold mode {threshold_mode} is unknown! (threshold_mode must be one of {THRESHOLD_MODES})"
        )


def min_lrs_mismatch(expected: int, min_lr: Sequence[float], note: str) -> ValueError:
    """torch's error for a ``min_lr`` list whose length is not the number of lrs (``note`` says which)."""
    return ValueError(f"expected {expected} min_lrs, got {len(min_lr)}{note}")


def worst_value(mode: str) -> float:
    """The initial ``best``: the worst metric for ``mode`` (torch's ``mode_worse``)."""
    return math.inf if mode == "min" else -math.inf


def is_better(current: Any, best: Any, mode: str, threshold: float, threshold_mode: str) -> Any:
    """Whether ``current`` improves on ``best`` by more than the threshold, in torch's arithmetic.

    Works on Python floats (the class) and on arrays (the functional form) alike.
    """
    if mode == "min" and threshold_mode == "rel":
        return current < best * (1.0 - threshold)
    if mode == "min":
        return current < best - threshold
    if threshold_mode == "rel":
        return current > best * (threshold + 1.0)
    return current > best + threshold


def _select(condition: Any, if_true: Any, if_false: Any) -> Any:
    return if_true if condition else if_false


def count_bad_epochs(
    current: Any,
    best: Any,
    num_bad_epochs: Any,
    cooldown_counter: Any,
    mode: str,
    threshold: float,
    threshold_mode: str,
    select: Callable[[Any, Any, Any], Any] = _select,
) -> tuple[Any, Any, Any]:
    """torch's ``step(metrics)`` up to the plateau test: ``(best, num_bad_epochs, cooldown_counter)``.

    The rule of the module docstring, in torch's order; a plateau is then ``num_bad_epochs >
    patience``. On Python numbers by default (the class); the pure ``update`` passes
    ``jnp.where`` as ``select`` for traced values.
    """
    better = is_better(current, best, mode, threshold, threshold_mode)
    best = select(better, current, best)
    num_bad_epochs = select(better, 0, num_bad_epochs + 1)
    in_cooldown = cooldown_counter > 0
    cooldown_counter = select(in_cooldown, cooldown_counter - 1, cooldown_counter)
    return best, select(in_cooldown, 0, num_bad_epochs), cooldown_counter


def reduced_lr(
    lr: Any,
    factor: float,
    min_lr: Any,
    maximum: Callable[[Any, Any], Any] = max,
    round_product: Callable[[Any], Any] = exact,
) -> Any:
    """torch's reduced lr, ``max(lr * factor, min_lr)`` (applied only if it moves the lr by more than ``eps``)."""
    return maximum(round_product(lr * factor), min_lr)


def _lr_array(lr: Any) -> jax.Array:
    """The lr(s) as an array: a floating array keeps its dtype, numbers take the scalar dtype."""
    floating = isinstance(lr, (jax.Array, np.ndarray)) and jnp.issubdtype(lr.dtype, jnp.floating)
    return jnp.array(lr, lr.dtype if floating else scalar_dtype())


def reduce_lr_on_plateau(
    mode: str = "min",
    factor: float = 0.1,
    patience: int = 10,
    threshold: float = 1e-4,
    threshold_mode: str = "rel",
    cooldown: int = 0,
    min_lr: float | Sequence[float] = 0,
    eps: float = 1e-8,
) -> PlateauSchedule:
    r"""``torch.optim.lr_scheduler.ReduceLROnPlateau`` as a pure ``(init, update)`` pair.

    The rule is in the module docstring; the arguments are torch's, without the optimizer.
    ``init(lr)`` starts from the optimizer's lr (torch leaves it unchanged at construction);
    ``update(metric, state)`` is torch's ``step(metrics)`` and returns the new state, whose
    ``lr`` is the lr to use next. torch's deprecated ``epoch`` argument of ``step`` is not
    reproduced (it only sets ``last_epoch``).

    Args:
      mode: ``'min'`` (the metric should decrease) or ``'max'``.
      factor: the factor :math:`f < 1` the lr is multiplied by on a plateau.
      patience: the number of bad updates tolerated; the lr drops at the next one.
      threshold: :math:`\tau`, the least improvement that counts.
      threshold_mode: ``'rel'`` (relative to the best) or ``'abs'``.
      cooldown: the number of updates after a drop during which bad updates are not counted.
      min_lr: the lowest lr, a number or one per lr (then ``init`` takes that many lrs).
      eps: drops that would change the lr by ``eps`` or less are skipped.

    Returns:
      A :class:`PlateauSchedule` ``(init, update)``.

    Raises:
      ValueError: ``factor >= 1``, an unknown ``mode`` or ``threshold_mode`` (torch's messages),
        and, from ``init``, a ``min_lr`` list whose length is not the number of lrs.
    """
    check_factor(factor)
    check_modes(mode, threshold_mode)
    per_group_min_lr = isinstance(min_lr, (list, tuple))

    def init(lr: Any) -> ReduceLROnPlateauState:
        lr = _lr_array(lr)
        if per_group_min_lr and lr.shape != (len(min_lr),):
            raise min_lrs_mismatch(
                lr.size, min_lr, f" (min_lr has one entry per lr given to init, which has shape {lr.shape})"
            )
        return ReduceLROnPlateauState(
            lr=lr,
            best=jnp.asarray(worst_value(mode), scalar_dtype()),
            num_bad_epochs=jnp.zeros((), jnp.int32),
            cooldown_counter=jnp.zeros((), jnp.int32),
            last_epoch=jnp.zeros((), jnp.int32),
        )

    def update(metric: Any, state: ReduceLROnPlateauState) -> ReduceLROnPlateauState:
        current = jnp.reshape(jnp.asarray(metric, scalar_dtype()), ())
        best, num_bad_epochs, cooldown_counter = count_bad_epochs(
            current,
            state.best,
            state.num_bad_epochs,
            state.cooldown_counter,
            mode,
            threshold,
            threshold_mode,
            jnp.where,
        )
        plateau = num_bad_epochs > patience
        reduced = reduced_lr(state.lr, factor, jnp.asarray(min_lr, state.lr.dtype), jnp.maximum, rounded)
        lr = jnp.where(plateau & (state.lr - reduced > eps), reduced, state.lr)
        return ReduceLROnPlateauState(
            lr=lr,
            best=best,
            num_bad_epochs=jnp.where(plateau, 0, num_bad_epochs).astype(jnp.int32),
            cooldown_counter=jnp.where(plateau, cooldown, cooldown_counter).astype(jnp.int32),
            last_epoch=state.last_epoch + 1,
        )

    return PlateauSchedule(init, update)
