"""torch's parameter groups for the functional API: one algorithm, hyperparameters per group.

torch builds an optimizer from groups of parameters, each overriding some defaults::

    torch.optim.SGD([{"params": model.base.parameters()},
                     {"params": model.classifier.parameters(), "lr": 1e-3}], lr=1e-2, momentum=0.9)

:func:`param_groups` is that constructor over a params pytree, with each group's ``"params"``
saying which leaves it holds::

    tx = fo.param_groups(fo.sgd, [{"params": lambda name, p: not name.startswith("classifier")},
                                  {"params": lambda name, p: name.startswith("classifier"), "lr": 1e-3}],
                         lr=1e-2, momentum=0.9)

It is one :class:`~functional_optim.GradientTransformation` (one compiled update for all
groups) whose state holds each group's algorithm state, in group order; a group's
hyperparameters are edited between steps without re-compiling with
``fo.set_hyperparams(state, lr=1e-4, group=1)`` (and read with ``fo.get_hyperparams``).

Relation to ``optax.partition``: a partition maps labels to *transforms*, any mix of them;
``param_groups`` is torch's special case of one algorithm whose hyperparameters differ by group
(built as that algorithm with the defaults updated by the group's entries, as torch does), with
torch's rules: every parameter in exactly one group, a group's keys are the algorithm's
arguments, and L-BFGS takes a single group.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax

from functional_optim.algorithms.lbfgs import lbfgs
from functional_optim.transform import GradientTransformation, OptState, Params, Updates, apply_gradients
from functional_optim.tree_paths import dotted_name

GroupParams = Any  # a predicate (name, param) -> bool, a tree of bools (a prefix of the params'), or names


class ParamGroupsState(NamedTuple):
    """:func:`param_groups`' state.

    Attributes:
      groups: one algorithm state per group, in the groups' order; each covers the whole params
        tree, with the other groups' leaves as None.
    """

    groups: tuple[OptState, ...]


def _membership(spec: GroupParams, params: Params, index: int) -> list[bool]:
    """Which leaves of ``params`` (in leaf order) group ``index``'s ``"params"`` selects."""
    paths_and_leaves = jax.tree_util.tree_leaves_with_path(params)
    if callable(spec):
        return [bool(spec(dotted_name(path), leaf)) for path, leaf in paths_and_leaves]
    if isinstance(spec, (list, tuple, set, frozenset)) and all(isinstance(name, str) for name in spec):
        names = [dotted_name(path) for path, _ in paths_and_leaves]
        unknown = sorted(set(spec) - set(names))
        if unknown:
            raise ValueError(f"param group {index}: no parameter is named {unknown} (the names are {names})")
        return [name in spec for name in names]
    try:  # a mask: a tree of bools whose structure is a prefix of the params'
        masks = jax.tree.map(lambda flag, subtree: jax.tree.map(lambda _: flag, subtree), spec, params)
    except ValueError as error:
        raise ValueError(
            f"param group {index}: 'params' must be a predicate (name, param) -> bool, a list of parameter "
            f"names, or a tree of bools shaped like (a prefix of) the params: {error}"
        ) from None
    flags = jax.tree.leaves(masks)
    if not all(isinstance(flag, bool) for flag in flags):
        raise TypeError(f"param group {index}: a mask's leaves must be Python bools")
    return flags


def _only(flags: list[bool], tree: Any) -> Any:
    """``tree`` with the leaves whose flag is False replaced by None."""
    leaves, treedef = jax.tree.flatten(tree)
    return treedef.unflatten([leaf if flag else None for leaf, flag in zip(leaves, flags)])


def param_groups(
    algorithm: Callable[..., GradientTransformation], groups: Sequence[dict[str, Any]], **defaults: Any
) -> GradientTransformation:
    """One ``algorithm`` over parameter groups, each with its own hyperparameters, as torch's ``param_groups``.

    Group :math:`i`'s leaves are stepped by ``algorithm(**{**defaults, **group_i})`` (its
    ``"params"`` entry removed): the numbers of torch's optimizer built from the same groups.

    Args:
      algorithm: a functional_optim algorithm, such as :func:`~functional_optim.sgd`.
      groups: torch's list of dicts. ``"params"`` selects the group's leaves: a predicate
        ``(name, param) -> bool`` given torch's dotted name (``"classifier.w"``), a list of such
        names, or a tree of bools shaped like the params or a prefix of them
        (``{"base": False, "classifier": True}``). The other keys override ``defaults``.
      **defaults: the algorithm's arguments shared by the groups.

    Returns:
      A :class:`~functional_optim.GradientTransformation` whose state is a
      :class:`ParamGroupsState`. ``init`` raises ValueError if a parameter is in no group or in
      several (torch: "some parameters appear in more than one parameter group").

    Example::

        tx = fo.param_groups(fo.adamw, [{"params": {"body": True, "head": False}},
                                        {"params": {"body": False, "head": True}, "weight_decay": 0.0}],
                             lr=1e-3, weight_decay=0.05)
        state = fo.set_hyperparams(tx.init(params), lr=1e-4, group=1)   # the head's lr only
    """
    if not groups:
        raise ValueError("optimizer got an empty parameter list")
    if algorithm is lbfgs and len(groups) != 1:
        raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
    specs, transforms = [], []
    for index, group in enumerate(groups):
        if not isinstance(group, dict) or "params" not in group:
            raise TypeError(f"param group {index} must be a dict with a 'params' entry, but got {group!r}")
        options = {k: v for k, v in group.items() if k != "params"}
        specs.append(group["params"])
        try:
            transforms.append(algorithm(**{**defaults, **options}))
        except TypeError as error:
            raise TypeError(f"param group {index}: {error}") from None

    def memberships(params: Params) -> list[list[bool]]:
        flags = [_membership(spec, params, index) for index, spec in enumerate(specs)]
        names = [dotted_name(path) for path, _ in jax.tree_util.tree_leaves_with_path(params)]
        counts = [sum(column) for column in zip(*flags)] if flags else []
        if any(count > 1 for count in counts):
            repeated = [name for name, count in zip(names, counts) if count > 1]
            raise ValueError(f"some parameters appear in more than one parameter group: {repeated}")
        missing = [name for name, count in zip(names, counts) if count == 0]
        if missing:
            raise ValueError(f"parameters {missing} are in no parameter group; give every parameter a group")
        return flags

    def init(params: Params) -> ParamGroupsState:
        flags = memberships(params)
        return ParamGroupsState(tuple(tx.init(_only(f, params)) for tx, f in zip(transforms, flags)))

    def merged(flags: list[list[bool]], per_group: list[Any], like: Any) -> Any:
        """One tree: each leaf from the group that holds it."""
        leaves, treedef = jax.tree.flatten(like)
        per_group_leaves = [treedef.flatten_up_to(tree) for tree in per_group]
        owner = [f.index(True) for f in zip(*flags)]
        return treedef.unflatten([per_group_leaves[g][i] for i, g in enumerate(owner)]) if leaves else like

    def step(
        grads: Updates, state: ParamGroupsState, params: Params, take_step: Callable[..., tuple[Any, OptState]]
    ) -> tuple[Any, ParamGroupsState]:
        flags = memberships(params)
        results = [
            take_step(tx, _only(f, grads), inner, _only(f, params))
            for tx, f, inner in zip(transforms, flags, state.groups)
        ]
        new_trees, new_states = zip(*results)
        return merged(flags, list(new_trees), params), ParamGroupsState(tuple(new_states))

    def update(
        grads: Updates, state: ParamGroupsState, params: Params | None = None
    ) -> tuple[Updates, ParamGroupsState]:
        if params is None:
            raise ValueError("param_groups: update needs the current params (update(grads, state, params))")
        return step(grads, state, params, lambda tx, g, s, p: tx.update(g, s, p))

    def groups_apply_gradients(
        grads: Updates, state: ParamGroupsState, params: Params
    ) -> tuple[Params, ParamGroupsState]:
        return step(grads, state, params, apply_gradients)

    update.apply_gradients = groups_apply_gradients  # see functional_optim.apply_gradients
    return GradientTransformation(init, update)
