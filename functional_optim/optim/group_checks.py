"""Checking param groups at every step, for a cost that does not show: only what changed is checked.

torch checks a group's hyperparameters in the constructor only; an edit between steps
(``optimizer.param_groups[0]["betas"] = (0.9, 1.5)``) runs on, to NaN or to an error deep in
its maths. The wrapper checks a group again whenever its values changed since its last check,
with the constructor's checks and messages, prefixed by the group (``param_groups[0]: Invalid
beta parameter at index 1: 1.5 ...``), before anything changes.

The torch-only flags (``foreach``, ``fused``, ``capturable``, ``differentiable``) are checked
likewise: an edit to a value other than torch's for-loop one raises the ValueError the
constructor and :meth:`~functional_optim.optim.Optimizer.add_param_group` raise, since the step
would not do what it asks. torch 2.13 on CPU treats such edits differently: ``capturable=True``
raises an AssertionError at the next step in every algorithm that has the flag (it needs CUDA
or XLA devices), while ``foreach``, ``fused`` and ``differentiable`` edits are used (torch's
other kernels of the same maths; autograd through the step). A checkpoint's flags load as they
are (``fused=True`` from a GPU run means nothing here); only a later edit of them is checked.

Values written by a learning-rate scheduler (:meth:`~functional_optim.optim.Optimizer.set_group_value`)
are taken as they are, as torch takes them: torch's schedulers, which
:mod:`~functional_optim.optim.lr_scheduler` reproduces bit for bit, can take a value past the
constructor's range (chained CosineAnnealingLR and StepLR make lr negative; OneCycleLR cycles
beta1 over whatever range it is given). The group's other edits are still checked, with the
scheduled keys' last checked values in their place.

A group whose values are the same objects as at its last check (immutable ones: numbers,
strings, tuples of them, jax arrays, schedules) costs one comparison by identity; lists and
numpy arrays, which can change in place, are compared by value against copies.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Hashable, Iterable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

# torch flags that choose among torch's own kernels; the values that mean its for-loop (the
# reference every transform reproduces) are accepted and kept so that state_dicts match torch's.
TORCH_ONLY_FLAGS = {
    "foreach": (None, False),
    "fused": (None, False),
    "capturable": (False,),
    "differentiable": (False,),
}


def check_torch_only_flags(optimizer_name: str, group: dict[str, Any]) -> None:
    """Raises ValueError for a torch-only flag set to one of torch's kernels, which functional_optim does not have."""
    for flag, accepted in TORCH_ONLY_FLAGS.items():
        if group.get(flag, accepted[0]) not in accepted:
            raise ValueError(
                f"{optimizer_name}: {flag}={group[flag]!r} is not supported; {flag} selects one of torch's "
                f"kernels, while functional_optim compiles one XLA step (use {flag}={accepted[0]!r})"
            )


class _Record(NamedTuple):
    """A group's values as last checked."""

    group: dict[str, Any]  # held so that its id, the key of this record, is not reused
    values: tuple  # _frozen copies of the group's size and its values under the checked names
    arguments_checked: bool  # False for a loaded group: only its flags were taken as they are
    key: Hashable  # what ``key(group)`` returned, which depends on these values only (None: recompute)
    scheduled: dict[str, Any]  # keys a scheduler wrote since they were checked -> the values checked in their place


class GroupChecks:
    """The record of which values each param group was last checked with.

    Args:
      optimizer_name: for the flags' error messages.
      arguments: the group keys the transform is built from; with the torch-only flags and the
        group's size (a key added or removed), what is compared.
    """

    def __init__(self, optimizer_name: str, arguments: Iterable[str]):
        self._optimizer_name = optimizer_name
        self._names = ("len", *arguments, *TORCH_ONLY_FLAGS)
        self._records: dict[int, _Record] = {}

    def _values(self, group: dict[str, Any]) -> tuple:
        return (len(group), *map(group.get, self._names[1:]))

    def check(
        self,
        groups: list[dict[str, Any]],
        check_arguments: Callable[[dict[str, Any]], Any],
        key: Callable[[dict[str, Any]], Hashable],
    ) -> list[Hashable]:
        """Checks each group that changed since its last check; returns ``key(group)`` for each group.

        ``check_arguments(group)`` raises for bad transform arguments (the constructor's checks: the
        wrapper builds the transform); ``key(group)`` is recomputed only for a changed group.
        Errors are re-raised with the group's index in front, before any record changes.
        """
        records = self._records
        if len(records) > len(groups):  # groups were replaced: forget the old ones
            live = {id(group) for group in groups}
            records = self._records = {k: record for k, record in records.items() if k in live}
        keys = []
        for index, group in enumerate(groups):
            values = self._values(group)
            record = records.get(id(group))
            if record is None or not (record.arguments_checked and all(map(operator.is_, record.values, values))):
                record = records[id(group)] = self._checked(index, group, values, record, check_arguments, key)
            elif record.key is None:  # a scheduler wrote a value: the key may change (a zero), the checks not
                record = records[id(group)] = record._replace(key=key(group))
            keys.append(record.key)
        return keys

    def _checked(
        self,
        index: int,
        group: dict[str, Any],
        values: tuple,
        record: _Record | None,
        check_arguments: Callable[[dict[str, Any]], Any],
        key: Callable[[dict[str, Any]], Hashable],
    ) -> _Record:
        if record is None:
            changed, scheduled = set(self._names), {}
        else:
            changed = {name for name, old, new in zip(self._names, record.values, values) if not _unchanged(old, new)}
            scheduled = {k: v for k, v in record.scheduled.items() if k not in changed}  # edited since: checked
        try:
            if not changed.isdisjoint(TORCH_ONLY_FLAGS):
                check_torch_only_flags(self._optimizer_name, group)
            if record is None or not record.arguments_checked or not changed <= TORCH_ONLY_FLAGS.keys():
                check_arguments({**group, **scheduled})
        except Exception as error:
            if type(error) in (TypeError, ValueError, RuntimeError):  # the checks' own: the message names the group
                raise type(error)(f"param_groups[{index}]: {error}") from None
            error.add_note(f"(checking param_groups[{index}])")
            raise
        return _Record(group, _frozen(values), True, key(group), scheduled)

    def accept_loaded(self, groups: list[dict[str, Any]]) -> None:
        """Takes loaded groups' torch-only flags as they are (fused=True from a GPU run means nothing
        here); their other values are checked at the next step, and later flag edits too."""
        self._records = {id(group): _Record(group, _frozen(self._values(group)), False, None, {}) for group in groups}

    def set_value(self, group: dict[str, Any], key: str, value: Any) -> None:
        """Writes ``group[key] = value`` for a scheduler, and takes it as it is (see the module docstring).

        An array entry stays an array of its dtype and shape (torch's schedulers fill a tensor
        ``lr`` in place): a jax array is replaced by one like it, a numpy array filled in place.
        """
        if key not in self._names:
            _write(group, key, value)
            return
        index = self._names.index(key)
        record = self._records.get(id(group))
        if record is None:  # never checked: its current values are checked at the next step
            record = _Record(group, _frozen(self._values(group)), False, None, {})
        scheduled = record.scheduled if key in record.scheduled else {**record.scheduled, key: record.values[index]}
        _write(group, key, value)
        values = (*record.values[:index], _frozen(group[key]), *record.values[index + 1 :])
        self._records[id(group)] = record._replace(values=values, key=None, scheduled=scheduled)


def _write(group: dict[str, Any], key: str, value: Any) -> None:
    current = group[key]
    if isinstance(current, jax.Array):
        group[key] = jnp.full_like(current, jnp.reshape(jnp.asarray(value), ()))
    elif isinstance(current, np.ndarray):
        current[...] = np.reshape(np.asarray(value), ())
    else:
        group[key] = value


def _frozen(value: Any) -> Any:
    """A copy of a group value that later in-place edits cannot reach, for :func:`_unchanged`:
    lists, dicts and numpy arrays are copied, the rest (immutable) kept as they are."""
    if isinstance(value, dict):
        return {k: _frozen(v) for k, v in value.items()}
    if type(value) in (list, tuple):
        items = [_frozen(v) for v in value]
        immutable = type(value) is tuple and all(map(operator.is_, items, value))
        return value if immutable else type(value)(items)
    if isinstance(value, np.ndarray):
        return value.copy()
    return value


def _unchanged(old: Any, new: Any) -> bool:
    """Whether ``new`` is still the value ``old`` (from :func:`_frozen`) was made from.

    The same object is unchanged (what :func:`_frozen` keeps is immutable); otherwise numbers,
    strings and None compare by type and value (NaN never is unchanged, so it is always
    checked), lists, tuples and dicts item by item, and numpy arrays by value; anything else
    (a new jax array, a new schedule) has changed.
    """
    if old is new:
        return True
    if type(old) is not type(new):
        return False
    if isinstance(new, dict):
        return old.keys() == new.keys() and all(_unchanged(old[k], v) for k, v in new.items())
    if isinstance(new, (list, tuple)):
        return len(old) == len(new) and all(map(_unchanged, old, new))
    if isinstance(new, np.ndarray):
        return old.dtype == new.dtype and old.shape == new.shape and bool(np.all(old == new))
    return isinstance(new, (bool, int, float, complex, str)) and old == new
