"""Reading and editing the hyperparameters held anywhere in a tree of optimizer states.

Every functional_optim algorithm keeps its hyperparameters in its
:class:`~functional_optim.HyperparamsState`; combinators (``fo.chain``, ``optax.chain``,
``optax.partition``, ``optax.MultiSteps``, ``fo.zero1``, ``nnx.Optimizer``...) nest those states
in trees of their own. :func:`set_hyperparams` and :func:`get_hyperparams` find them there, and
``group=`` picks the ones under one key (a partition's label).
"""

from __future__ import annotations

from typing import Any

import jax

from functional_optim.hyperparams import HyperparamsState, as_scalars
from functional_optim.tree_paths import key_value


def set_hyperparams(state: Any, *, group: Any = None, **values: Any) -> Any:
    """Returns ``state`` with some hyperparameters replaced, e.g. ``set_hyperparams(state, lr=1e-4)``.

    ``state`` is an algorithm's :class:`HyperparamsState` or any tree that holds some: the
    state of ``fo.chain`` or ``optax.chain`` (a tuple), ``optax.partition``, ``optax.masked``,
    ``optax.MultiSteps``, ``optax.apply_if_finite``, ``optax.inject_hyperparams``,
    :func:`~functional_optim.zero1`, ``nnx.Optimizer.opt_state``, a dict... Each name is
    replaced in every HyperparamsState of the tree that has it: in a chain of ``fo.adam`` and
    ``fo.sgd``, ``lr`` is set in both and ``momentum`` in SGD's. ``group`` narrows that to the
    states under a key of that name (an ``optax.partition`` label, a dict key, a chain index)::

        state = fo.set_hyperparams(state, lr=1e-4, group="head")   # one group of a partition

    The new values are traced like the old ones, so a jitted update does not re-compile
    (unless a value's dtype changes, e.g. a float32 array replacing a Python float). A
    hyperparameter given as a schedule is evaluated afresh at every update, which overrides a
    value set here.

    Args:
      state: a functional_optim algorithm's state, or a pytree holding such states.
      group: if given, only the states with a key equal to it on their path in the tree.
      **values: the new values by torch's names: numbers, 1-element arrays, or tuples of
        those (``betas``).

    Returns:
      A tree like ``state`` whose HyperparamsStates hold the new values.

    Raises:
      KeyError: for a name that no HyperparamsState in ``state`` (under ``group``) has, or a
        ``group`` that matches none.
      ValueError: for a hyperparameter fixed at 0 when its transform was built (see
        ``skipped_at_zero`` in :func:`~functional_optim.hyperparams.algorithm_transform`), or an
        edit the algorithm's state refuses (SGD's momentum given as a nonzero Python number
        cannot become 0).
    """
    found: set[str] = set()
    names: set[str] = set()

    def replace(path: tuple, node: Any) -> Any:
        if not isinstance(node, HyperparamsState) or not _in_group(path, group):
            return node
        names.update(node.hyperparams)
        own = {k: v for k, v in values.items() if k in node.hyperparams}
        found.update(own)
        return _with_hyperparams(node, own) if own else node

    new_state = jax.tree_util.tree_map_with_path(replace, state, is_leaf=_is_hyperparams_state)
    unknown = sorted(set(values) - found)
    if unknown:
        held = f"the states in this tree have {sorted(names)}" if names else _nothing_found(state, group)
        raise KeyError(f"unknown hyperparameters {unknown}; {held}")
    return new_state


def get_hyperparams(state: Any, *, group: Any = None) -> dict[str, Any]:
    """The current hyperparameters of the one HyperparamsState in ``state``, by torch's names.

    ``state`` is any tree :func:`set_hyperparams` takes. A schedule's entry is its value at the
    last update (at 0 before the first), so this is what to log::

        lr = fo.get_hyperparams(state)["lr"]
        head_lr = fo.get_hyperparams(state, group="head")["lr"]   # one group of a partition

    A hyperparameter fixed at 0 when its transform was built is None.

    Args:
      state: a functional_optim algorithm's state, or a pytree holding one.
      group: if given, only the states with a key equal to it on their path in the tree.

    Returns:
      A new dict ``{name: value}`` of the state's hyperparameters (arrays, or tuples of them).

    Raises:
      KeyError: if no HyperparamsState is found (under ``group``).
      ValueError: if several are, naming their paths: pass ``group`` to pick one.
    """
    found = [
        (path, node)
        for path, node in jax.tree_util.tree_leaves_with_path(state, is_leaf=_is_hyperparams_state)
        if isinstance(node, HyperparamsState) and _in_group(path, group)
    ]
    if not found:
        raise KeyError(_nothing_found(state, group))
    if len(found) > 1:
        paths = [jax.tree_util.keystr(path) for path, _ in found]
        raise ValueError(f"this tree holds {len(found)} HyperparamsStates, at {paths}; pass group= to pick one")
    return dict(found[0][1].hyperparams)


def _is_hyperparams_state(node: Any) -> bool:
    return isinstance(node, HyperparamsState)


def _in_group(path: tuple, group: Any) -> bool:
    """Whether a key on ``path`` (a dict key, attribute name or sequence index) equals ``group``."""
    return group is None or any(key_value(key) == group for key in path)


def _nothing_found(state: Any, group: Any) -> str:
    if group is None:
        return "this tree holds no HyperparamsState"
    keys = sorted(
        {
            str(key_value(key))
            for path, node in jax.tree_util.tree_leaves_with_path(state, is_leaf=_is_hyperparams_state)
            if isinstance(node, HyperparamsState)
            for key in path
        }
    )
    return f"no HyperparamsState in this tree is under a key {group!r} (keys on their paths: {keys})"


def _with_hyperparams(state: HyperparamsState, values: dict[str, Any]) -> HyperparamsState:
    """``state`` with ``values`` (names it has) replaced, once checked (see :func:`set_hyperparams`)."""
    fixed = sorted(k for k in values if state.hyperparams[k] is None)
    if fixed:
        raise ValueError(
            f"{fixed} were given as 0 when the transform was built, which leaves their term out of the compiled "
            f"step, as torch skips it; to change them between steps, build the transform with an array "
            f"({fixed[0]}=jnp.asarray(0.0)) or a schedule"
        )
    check = getattr(state.inner_state, "check_hyperparams", None)
    if check is not None:
        check(values)
    new = {k: _in_box_of(state.hyperparams[k], as_scalars(v)) for k, v in values.items()}
    return state._replace(hyperparams={**state.hyperparams, **new})


def _in_box_of(old: Any, new: Any) -> Any:
    """``new`` in the container ``old`` was in: a Flax NNX ``Variable`` (``nnx.Optimizer`` wraps
    every state array in one) is replaced by a new Variable of its type, leaving ``old`` as it was."""
    if isinstance(old, tuple) and isinstance(new, tuple) and len(old) == len(new):
        return tuple(map(_in_box_of, old, new))
    replace = getattr(old, "replace", None)
    return replace(new) if callable(replace) and not isinstance(old, jax.Array) else new
