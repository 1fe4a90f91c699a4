r"""``torch.optim.swa_utils`` for the torch-style API: ``AveragedModel``, ``SWALR``, ``update_bn``.

The torch recipe, with a tree of :class:`~functional_optim.Parameter` s as the model::

    swa_model = fo.optim.swa_utils.AveragedModel(params)
    scheduler = fo.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=300)
    swa_scheduler = fo.optim.swa_utils.SWALR(optimizer, swa_lr=0.05)
    for epoch in range(300):
        train_one_epoch(params, optimizer)
        if epoch > 160:
            swa_model.update_parameters(params)
            swa_scheduler.step()
        else:
            scheduler.step()
    batch_stats = fo.optim.swa_utils.update_bn(loader, batch_statistics, swa_model.values(), batch_stats)

The averaging maths is :mod:`functional_optim.averaging`'s (the pure ``(init, update)`` pair
for jitted loops), with torch's numbers. Where JAX differs: arrays are immutable, so the
``multi_avg_fn`` s return the new arrays where torch's update the tensors in place; a model is a
tree, its buffers (batch statistics) a second tree given as ``buffers=``; and ``update_bn``
takes a function returning a batch's statistics, since JAX models keep them explicit.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import jax
import jax.numpy as jnp

from functional_optim import averaging
from functional_optim.averaging import AvgFn, MultiAvgFn
from functional_optim.optim.lr_scheduler.scheduler import LRScheduler, per_group_values
from functional_optim.optim.optimizer import Optimizer
from functional_optim.parameter import Parameter, parameters, values
from functional_optim.schedules.schedule import rounded

__all__ = [
    "SWALR",
    "AveragedModel",
    "get_ema_avg_fn",
    "get_ema_multi_avg_fn",
    "get_swa_avg_fn",
    "get_swa_multi_avg_fn",
    "update_bn",
]


def get_ema_multi_avg_fn(decay: float = 0.999) -> MultiAvgFn:
    r"""torch's EMA over a list of arrays: ``fn(averaged, current, n) -> new averages``.

    .. math:: W^{EMA} \leftarrow \operatorname{lerp}(W^{EMA}, W, 1 - \text{decay})

    See :func:`functional_optim.averaging.ema_multi_average` (torch's ``lerp``; integer
    arrays truncated). torch's function updates ``averaged`` in place and returns None; this
    one returns the new arrays (JAX arrays are immutable), which :class:`AveragedModel` stores.

    Args:
      decay: the weight of the old average, in [0, 1].

    Returns:
      The averaging function (it ignores ``n``).

    Raises:
      ValueError: ``decay`` outside [0, 1] (torch's message).

    Example:
      >>> ema_model = AveragedModel(params, multi_avg_fn=get_ema_multi_avg_fn(0.999))
    """
    averaging.check_decay(decay)

    def ema_update(averaged: list[jax.Array], current: list[jax.Array], num_averaged: Any) -> list[jax.Array]:
        return averaging.ema_multi_average(averaged, current, decay)

    return ema_update


def get_swa_multi_avg_fn() -> MultiAvgFn:
    r"""torch's SWA over a list of arrays: ``fn(averaged, current, n) -> new averages``.

    .. math:: W^{SWA} \leftarrow \operatorname{lerp}\left(W^{SWA}, W, \frac{1}{n + 1}\right)

    :func:`functional_optim.averaging.swa_multi_average`: with :class:`AveragedModel`'s array
    ``n``, the weight is torch's float32 reciprocal, also for float64 arrays. Returns the new
    arrays (torch's updates them in place). Integer arrays raise torch's RuntimeError.
    """
    return averaging.swa_multi_average


def get_ema_avg_fn(decay: float = 0.999) -> AvgFn:
    r"""torch's EMA of one array: ``fn(averaged, current, n) -> new average``.

    .. math:: W^{EMA} \leftarrow \text{decay}\, W^{EMA} + (1 - \text{decay})\, W

    See :func:`functional_optim.averaging.ema_average` (the products rounded before the sum).

    Args:
      decay: the weight of the old average, in [0, 1].

    Raises:
      ValueError: ``decay`` outside [0, 1] (torch's message).

    Example:
      >>> ema_model = AveragedModel(params, avg_fn=get_ema_avg_fn(0.9))
    """
    averaging.check_decay(decay)

    def ema_update(averaged: jax.Array, current: jax.Array, num_averaged: Any) -> jax.Array:
        return averaging.ema_average(averaged, current, decay)

    return ema_update


def get_swa_avg_fn() -> AvgFn:
    r"""torch's SWA of one array: :func:`functional_optim.averaging.swa_average`.

    .. math:: W^{SWA} \leftarrow W^{SWA} + \frac{W - W^{SWA}}{n + 1}
    """
    return averaging.swa_average


def _arrays(tree: Any) -> Any:
    """The arrays of a tree whose leaves are Parameters or arrays."""
    return jax.tree.map(lambda leaf: leaf.data if isinstance(leaf, Parameter) else jnp.asarray(leaf), tree)


class AveragedModel:
    r"""``torch.optim.swa_utils.AveragedModel``: a running SWA or EMA average of a model's parameters.

    ``model`` is a tree of :class:`~functional_optim.Parameter` s (or of arrays). The
    constructor copies it into :attr:`module`, a tree of Parameters of the same structure, and
    sets :attr:`n_averaged` (an integer array, torch's buffer) to 0. Each
    :meth:`update_parameters` copies the model's values while :attr:`n_averaged` is 0 and
    averages them in afterwards, then adds 1 to it:

    .. math:: W^{avg} \leftarrow \operatorname{avg\_fn}(W^{avg}, W, n), \qquad n \leftarrow n + 1

    with :func:`get_swa_avg_fn`'s equal-weight mean when no function is given (torch's default
    on CPU). The update is :func:`functional_optim.averaging.averager`, compiled once, so the
    numbers are torch's and those of the pure pair in a jitted loop.

    Buffers: torch's modules also hold buffers (batch-norm statistics). Here they are a
    separate tree of arrays, given as ``buffers=`` to the constructor and to every
    :meth:`update_parameters`, kept in :attr:`buffers`. With ``use_buffers=False`` (torch's
    default) each update copies them from the model; with ``use_buffers=True`` they are
    averaged like the parameters (integer ones, such as a batch count, truncated as torch's
    in-place copy does).

    There is no ``forward``: evaluate your model with :meth:`values` (and :attr:`buffers`).

    Args:
      model: a tree of Parameters or arrays.
      device: a ``jax.Device`` to keep the average on, or None for the model's.
      avg_fn: ``avg_fn(averaged, current, n_averaged) -> new`` for one array.
      multi_avg_fn: ``multi_avg_fn(averaged_list, current_list, n_averaged) -> new_list``
        (returning the arrays, where torch's updates in place).
      use_buffers: average ``buffers`` too, instead of copying them.
      buffers: the model's buffers, a tree of arrays (not in torch's signature).

    Raises:
      AssertionError: both ``avg_fn`` and ``multi_avg_fn`` given (torch's message).

    Example:
      >>> ema_model = AveragedModel(params, multi_avg_fn=get_ema_multi_avg_fn(0.999))
      >>> optimizer.step()
      >>> ema_model.update_parameters(params)
      >>> predictions = apply(ema_model.values(), inputs)
    """

    def __init__(
        self,
        model: Any,
        device: jax.Device | None = None,
        avg_fn: AvgFn | None = None,
        multi_avg_fn: MultiAvgFn | None = None,
        use_buffers: bool = False,
        buffers: Any = None,
    ) -> None:
        self._averaging = averaging.averager(avg_fn, multi_avg_fn)
        self._update = jax.jit(self._averaging.update)
        self.device = device
        self.module = parameters(self._placed(_arrays(model)))
        self.buffers = None if buffers is None else self._placed(jax.tree.map(jnp.copy, _arrays(buffers)))
        self.n_averaged = self._placed(jnp.zeros((), int))
        self.avg_fn = avg_fn
        self.multi_avg_fn = multi_avg_fn
        self.use_buffers = use_buffers

    def _placed(self, tree: Any) -> Any:
        return tree if self.device is None else jax.device_put(tree, self.device)

    def values(self) -> Any:
        """The averaged parameters as arrays, in the model's structure."""
        return values(self.module)

    def update_parameters(self, model: Any, buffers: Any = None) -> None:
        """Averages the model's current values into :attr:`module` (copies them the first time).

        Args:
          model: the tree of Parameters (or arrays) given to the constructor, in its structure.
          buffers: the model's buffers; required exactly when the constructor had them.

        Raises:
          ValueError: ``buffers`` given to one of the constructor and this call only.
        """
        if (buffers is None) != (self.buffers is None):
            raise ValueError(
                "buffers must be given to update_parameters exactly when they were given to AveragedModel "
                f"(the averaged model {'has' if self.buffers is not None else 'has no'} buffers)"
            )
        current = self._placed(_arrays(model))
        current_buffers = None if buffers is None else self._placed(_arrays(buffers))
        tracked, averaged = current, self.values()
        if self.use_buffers:
            tracked, averaged = (current, current_buffers), (averaged, self.buffers)
        state = self._update(tracked, averaging.AveragingState(averaged, self.n_averaged))
        new_values = state.averaged
        if self.use_buffers:
            new_values, self.buffers = state.averaged
        elif buffers is not None:
            self.buffers = jax.tree.map(jnp.copy, current_buffers)
        for parameter, value in zip(jax.tree.leaves(self.module), jax.tree.leaves(new_values), strict=True):
            parameter.data = value
        self.n_averaged = state.n_averaged


def _reset_value(path: tuple[Any, ...], leaf: jax.Array) -> jax.Array:
    """torch's ``reset_running_stats``: 1 for a variance (a key containing "var"), else 0."""
    is_var = bool(path) and "var" in str(getattr(path[-1], "key", getattr(path[-1], "name", path[-1])))
    return jnp.full_like(leaf, 1 if is_var and jnp.issubdtype(leaf.dtype, jnp.inexact) else 0)


@jax.jit
def _cumulative_average(running: Any, batch: Any, factor: Any) -> Any:
    """``factor * batch + (1 - factor) * running`` per float leaf, in float64 where enabled; counts + 1."""

    def update(old: jax.Array, new: jax.Array) -> jax.Array:
        if not jnp.issubdtype(old.dtype, jnp.inexact):
            return old + 1
        wide = jnp.promote_types(old.dtype, jax.dtypes.canonicalize_dtype(jnp.float64))
        mixed = rounded(factor[0].astype(wide) * new.astype(wide)) + rounded(factor[1].astype(wide) * old.astype(wide))
        return mixed.astype(old.dtype)

    return jax.tree.map(update, running, batch)


def update_bn(
    loader: Iterable[Any],
    model: Callable[[Any, Any, Any], Any],
    params: Any,
    batch_stats: Any,
    device: jax.Device | None = None,
) -> Any:
    r"""``torch.optim.swa_utils.update_bn``: batch-norm statistics recomputed over ``loader``.

    JAX models keep their statistics explicit, so the model is a function
    ``model(params, batch_stats, inputs) -> stats``, run in training mode, that returns the
    statistics of that batch alone, in ``batch_stats``' structure (torch's: the batch mean and
    the *unbiased* variance per layer; with Flax, a model whose BatchNorm ``momentum`` is 0).
    As torch's pass with ``momentum=None``, the statistics are first reset (a leaf whose key
    contains ``"var"`` to 1, other float leaves and integer counts to 0), then, for the
    :math:`k`-th batch (:math:`k = 1, 2, \dots`), each float leaf becomes the cumulative mean

    .. math:: s \leftarrow \frac{1}{k}\, s_{\text{batch}} + \left(1 - \frac{1}{k}\right) s

    computed in float64 when JAX has it (torch's CPU accumulation type), and each integer leaf
    (``num_batches_tracked``) counts the batch. ``model`` gets the statistics so far. A batch
    is an array, or a list or tuple whose first element is the input (as torch); an empty
    ``loader`` leaves the reset statistics, and an empty ``batch_stats`` skips the pass.

    Args:
      loader: the batches (one pass).
      model: the function returning a batch's statistics (jit it for speed).
      params: the model's parameters (arrays, e.g. ``AveragedModel.values()``), passed to ``model``.
      batch_stats: the statistics tree to recompute (its structure and dtypes).
      device: a ``jax.Device`` to put each input on first.

    Returns:
      The new statistics tree (torch updates the module's buffers in place).

    Example:
      >>> batch_stats = update_bn(loader, batch_statistics, swa_model.values(), batch_stats)
    """
    if not jax.tree.leaves(batch_stats):
        return batch_stats
    running = jax.tree_util.tree_map_with_path(_reset_value, batch_stats)
    for count, batch in enumerate(loader, start=1):
        inputs = batch[0] if isinstance(batch, (list, tuple)) else batch
        if device is not None:
            inputs = jax.device_put(inputs, device)
        factor = 1.0 / float(count)
        running = _cumulative_average(running, model(params, running, inputs), (factor, 1.0 - factor))
    return running


class SWALR(LRScheduler):
    r"""``torch.optim.swa_utils.SWALR``: anneals each group's lr to its ``swa_lr`` over ``anneal_epochs``.

    The constructor writes ``group["swa_lr"]`` into every group. At step :math:`s` (the
    ``_step_count - 1``; at least 1 when ``anneal_epochs`` is 0) the recursion of torch is
    used: with :math:`t = \min(1, \max(0, s / \max(1, T)))`, :math:`\alpha = a(t)` (``a(t) =
    (1 - \cos(\pi t)) / 2`` for ``"cos"``, ``t`` for ``"linear"``) and :math:`\alpha'` the same
    at :math:`s - 1`, the lr the group started from is recovered from its current lr,
    :math:`\eta_0 = (\eta - \alpha' \eta_{swa}) / (1 - \alpha')` (:math:`\eta_{swa}` when
    :math:`\alpha' = 1`), and the new lr is

    .. math:: \eta \leftarrow \alpha\, \eta_{swa} + (1 - \alpha)\, \eta_0

    So the lr follows changes made by other schedulers or by hand, and reaches ``swa_lr``
    after ``anneal_epochs`` steps; the arithmetic is torch's, on Python floats, so the lrs are
    torch's. ``step(epoch)`` warns and sets ``last_epoch`` only (the lr follows the step
    count, as in torch). ``state_dict()`` leaves out ``anneal_func`` (rebuilt on load).

    Args:
      optimizer: the optimizer.
      swa_lr: the final lr, a number or one per group.
      anneal_epochs: the number of annealing steps, an int >= 0.
      anneal_strategy: ``"cos"`` or ``"linear"``.
      last_epoch: the index of the last epoch; -1 to start.

    Raises:
      ValueError: a ``swa_lr`` list of the wrong length, an unknown ``anneal_strategy``, a
        negative or non-int ``anneal_epochs`` (torch's messages, in its order).

    Example:
      >>> swa_scheduler = SWALR(optimizer, swa_lr=0.05, anneal_epochs=20, anneal_strategy="linear")
    """

    def __init__(
        self,
        optimizer: Optimizer,
        swa_lr: float | list[float],
        anneal_epochs: int = 10,
        anneal_strategy: str = "cos",
        last_epoch: int = -1,
    ) -> None:
        for value, group in zip(per_group_values("swa_lr", optimizer, swa_lr), optimizer.param_groups, strict=True):
            group["swa_lr"] = value
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"anneal_strategy must be one of 'cos' or 'linear', instead got {anneal_strategy}")
        self._set_anneal_func(anneal_strategy)
        if not isinstance(anneal_epochs, int) or anneal_epochs < 0:
            raise ValueError(f"anneal_epochs must be equal or greater than 0, got {anneal_epochs}")
        self.anneal_epochs = anneal_epochs
        super().__init__(optimizer, last_epoch)

    @staticmethod
    def _linear_anneal(t: float) -> float:
        return t

    @staticmethod
    def _cosine_anneal(t: float) -> float:
        return (1 - math.cos(math.pi * t)) / 2

    @staticmethod
    def _get_initial_lr(lr: Any, swa_lr: Any, alpha: float) -> Any:
        return swa_lr if alpha == 1 else (lr - alpha * swa_lr) / (1 - alpha)

    def _set_anneal_func(self, anneal_strategy: str) -> None:
        self._anneal_strategy = anneal_strategy
        self.anneal_func = self._cosine_anneal if anneal_strategy == "cos" else self._linear_anneal

    def get_lr(self) -> list[Any]:
        """Each group's lr moved one step from its starting lr towards ``swa_lr``."""
        self._warn_if_outside_step()
        step = self._step_count - 1
        if self.anneal_epochs == 0:
            step = max(1, step)
        groups = self.optimizer.param_groups
        prev_alpha = self.anneal_func(max(0, min(1, (step - 1) / max(1, self.anneal_epochs))))
        starts = [self._get_initial_lr(group["lr"], group["swa_lr"], prev_alpha) for group in groups]
        alpha = self.anneal_func(max(0, min(1, step / max(1, self.anneal_epochs))))
        return [group["swa_lr"] * alpha + lr * (1 - alpha) for group, lr in zip(groups, starts, strict=True)]

    def state_dict(self) -> dict[str, Any]:
        """Every attribute but the optimizer and ``anneal_func`` (torch's keys)."""
        state = super().state_dict()
        state.pop("anneal_func")
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restores the attributes and the anneal function of ``_anneal_strategy``."""
        super().load_state_dict(state_dict)
        self._set_anneal_func(self._anneal_strategy)
