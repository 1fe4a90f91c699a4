"""torch's ``params`` and ``param_group`` arguments: the forms an optimizer takes, with torch's errors.

The constructor's ``params`` is Parameters, ``(name, Parameter)`` pairs, or dicts defining
groups (:func:`param_groups_argument`); each group, the constructor's and
:meth:`~functional_optim.optim.Optimizer.add_param_group`'s, is checked and completed by
:func:`new_param_group` before the optimizer stores it.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Any

from functional_optim.optim.group_checks import check_torch_only_flags
from functional_optim.parameter import Parameter


def param_groups_argument(params: Iterable[Any]) -> list[Any]:
    """The groups the constructor's ``params`` defines: its dicts, or one ``{"params": [...]}``.

    Raises torch's errors (a lone Parameter or dict, an empty list) and warns as torch 2.15 for a set.
    """
    if isinstance(params, (Parameter, dict)):
        raise TypeError(
            "params argument given to the optimizer should be an iterable of Parameters or dicts, "
            f"but got {type(params).__name__} (for a tree of Parameters, pass parameter_list(tree))"
        )
    if isinstance(params, (set, frozenset)):  # torch 2.15
        warnings.warn(
            "optimizer parameters need to be organized in ordered collections, but the ordering of tensors in "
            "sets will change between runs. Please use a list instead. This will be an error in a future release.",
            FutureWarning,
            stacklevel=4,  # the caller of the algorithm's __init__
        )
    param_groups = list(params)
    if not param_groups:
        raise ValueError("optimizer got an empty parameter list")
    if not isinstance(param_groups[0], dict):
        param_groups = [{"params": param_groups}]
    return param_groups


def new_param_group(
    optimizer_name: str, param_group: Any, defaults: dict[str, Any], param_groups: list[dict[str, Any]]
) -> dict[str, Any]:
    """``param_group`` completed to be stored next to ``param_groups``, as torch's ``add_param_group``.

    The dict itself is returned, its ``params`` made a list (``param_names`` split off for
    ``(name, Parameter)`` pairs) and the missing hyperparameters filled in from ``defaults``.
    Raises torch's errors: a set of params, a non-Parameter, a Parameter already in another
    group, groups mixing named and unnamed params; and a ValueError for a torch-only flag
    functional_optim does not implement (``foreach=True``, ...).
    """
    if not isinstance(param_group, dict):
        raise TypeError(f"param_group must be a dict, but got {type(param_group)}")
    if "params" not in param_group:
        raise KeyError(f"a param group needs a 'params' entry (its Parameters), but got the keys {list(param_group)}")
    params = param_group["params"]
    if isinstance(params, Parameter):
        params = [params]
    elif isinstance(params, set):
        raise TypeError(
            "optimizer parameters need to be organized in ordered collections, but the ordering of tensors "
            "in sets will change between runs. Please use a list instead."
        )
    elif isinstance(params, dict):
        raise TypeError("a param group's 'params' must be a list of Parameters; for a tree, use parameter_list(tree)")
    else:
        params = list(params)
    named = [isinstance(p, tuple) for p in params]
    if any(named):
        if not all(named):
            raise ValueError("all optimizer params should be with/without names. Some param names are missing")
        param_group["param_names"] = [name for name, _ in params]
        params = [p for _, p in params]
    param_group["params"] = params
    for p in params:
        if not isinstance(p, Parameter):
            raise TypeError(
                f"optimizer can only optimize Parameters, but one of the params is {type(p).__module__}."
                f"{type(p).__qualname__} (wrap arrays with functional_optim.parameters)"
            )
    for name, default in defaults.items():
        param_group.setdefault(name, default)
    check_torch_only_flags(optimizer_name, param_group)
    if len(params) != len(set(params)):
        warnings.warn(
            "optimizer contains a parameter group with duplicate parameters; in future, this will cause an error; "
            "see github.com/pytorch/pytorch/issues/40967 for more information",
            stacklevel=4,
        )
    in_groups: set[Parameter] = set()
    for group in param_groups:
        in_groups.update(group["params"])
        if ("param_names" in param_group) != ("param_names" in group):
            which = "with names" if "param_names" in param_group else "without names"
            raise ValueError(
                f"all optimizer param groups should be with/without names. cannot add param group {which} "
                "to the optimizer"
            )
    if not in_groups.isdisjoint(params):
        raise ValueError("some parameters appear in more than one parameter group")
    return param_group
