"""Which Parameters of a group the compiled step updates in one call of the algorithm.

torch keeps a state per Parameter, ``step`` included; a functional algorithm keeps one state for a
whole tree, with one ``step`` (and, for a few algorithms, other per-tree numbers: ASGD's ``eta``
and ``mu``). Parameters whose per-tree numbers are equal can therefore be stepped as one tree --
one multi-tensor kernel call for all of them instead of one per Parameter -- with the very same
arithmetic: bit for bit on the native kernels; on the XLA path XLA may fuse a program of many
leaves differently from one of a single leaf, which can move the last bit (float64 RAdam with
decoupled weight decay, by 1 ulp), well within torch parity.

Reading those numbers from the device at every step would cost a synchronisation, so
:class:`StepBatches` follows them on the host instead: Parameters stepped together from equal
numbers hold equal numbers afterwards (the algorithms compute them from the numbers and the
group's hyperparameters alone), so each batch gets a new token, kept with the arrays it wrote. A
Parameter whose arrays are no longer those (a loaded state_dict, an edited ``state[p]``) has its
numbers read once, and joins Parameters whose numbers are the same.

A batch's per-tree numbers go into the compiled step once, not once per Parameter, and come out
once: its Parameters then share those (scalar) arrays, which the step therefore never donates
(:func:`batch_arguments`, :func:`joined`). A step's cost is mostly its arrays' dispatch, so this
saves two arrays per Parameter.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from functional_optim.parameter import Parameter
from functional_optim.transform import GradientTransformation

# Two stand-in parameters for learning which state fields a transform keeps once per tree.
_PROBE_PARAMS = [jax.ShapeDtypeStruct((1, 1), np.float32)] * 2


def per_tree_fields(tx: GradientTransformation) -> tuple[str, ...]:
    """The state fields ``tx`` keeps once for a whole tree (``step``), not one per leaf."""
    state = jax.eval_shape(tx.init, _PROBE_PARAMS).inner_state
    return tuple(name for name, value in state._asdict().items() if value is not None and not isinstance(value, list))


def singletons(size: int) -> tuple[tuple[int, ...], ...]:
    """Batches of one Parameter each: the step when no batching applies."""
    return tuple((i,) for i in range(size))


def batch_arguments(
    states: list[dict[str, Any]],
    counts: list[Any],
    fields: tuple[str, ...],
    batches: tuple[tuple[int, ...], ...],
) -> tuple[list[dict[str, list[Any]]], list[tuple[Any, dict[str, Any]]]]:
    """A group's torch-style ``states`` as the compiled step takes them, batch by batch: the
    per-leaf arrays as columns, ``{key: [array of each of the batch's Parameters]}`` (the
    Parameters of a batch have the same keys), and ``(count, its per-tree fields)`` of the
    batch's first Parameter. Columns of arrays, not a dict per Parameter, because a dict costs
    JAX's dispatch more to flatten and unflatten than the arrays in it (500 Parameters of
    Adam: ~1.3 ms a step)."""
    columns, shared = [], []
    for batch in batches:
        first = states[batch[0]]
        columns.append({k: [states[i][k] for i in batch] for k in first if k not in fields})
        shared.append((counts[batch[0]], {k: first[k] for k in fields if k in first}))
    return columns, shared


def joined(
    new_columns: list[dict[str, list[Any]]],
    new_shared: list[tuple[Any, dict[str, Any]]],
    batches: tuple[tuple[int, ...], ...],
) -> list[dict[str, Any]]:
    """A group's new states, per Parameter: its per-leaf arrays with its batch's per-tree numbers."""
    states: list[dict[str, Any]] = [{} for batch in batches for _ in batch]
    for batch, columns, (_, numbers) in zip(batches, new_columns, new_shared):
        for position, i in enumerate(batch):
            states[i] = {**{k: column[position] for k, column in columns.items()}, **numbers}
    return states


class StepBatches:
    """Follows, per Parameter, which others share its per-tree state numbers (see the module docstring)."""

    def __init__(self) -> None:
        # Parameter -> (token, the per-tree arrays of its state that token vouches for)
        self._tokens: dict[Parameter, tuple[object, dict[str, Any]]] = {}

    def batches(
        self, params: list[Parameter], states: list[dict[str, Any]], new: list[bool], fields: tuple[str, ...]
    ) -> tuple[tuple[int, ...], ...]:
        """Indices into ``params`` in batches that one call can step: equal per-tree ``fields``
        (``new``: a state made for this step), the same state keys and dtype."""
        batches: dict[tuple, list[int]] = {}
        for i, (param, state, is_new) in enumerate(zip(params, states, new)):
            key = ("new" if is_new else self._token(param, state, fields), tuple(state), param.data.dtype)
            batches.setdefault(key, []).append(i)
        return tuple(tuple(batch) for batch in batches.values())

    def record(
        self,
        params: list[Parameter],
        batches: tuple[tuple[int, ...], ...],
        new_shared: list[tuple[Any, dict[str, Any]]],
    ) -> None:
        """After a successful step: each batch's Parameters share a new token, and the per-tree
        arrays it vouches for (the batch's new ``(count, numbers)``): one record per batch."""
        for batch, (_, numbers) in zip(batches, new_shared):
            record = (object(), numbers)
            for i in batch:
                self._tokens[params[i]] = record

    def _token(self, param: Parameter, state: dict[str, Any], fields: tuple[str, ...]) -> Any:
        known = self._tokens.get(param)
        if known is not None:
            token, arrays = known
            for k in fields:
                if state.get(k) is not arrays.get(k):
                    break
            else:
                return token
        return tuple((k, np.asarray(state[k]).dtype.str, np.asarray(state[k]).tobytes()) for k in fields if k in state)
