"""The one adapter under every function of :mod:`functional_optim.optim.functional`.

A function there is torch's signature and a :class:`Signature` (which transform factory runs it,
which list holds which torch state key, how torch's keywords name the factory's arguments);
:func:`step_in_place` does the rest, the same way for every algorithm:

1. checks the call (torch's own errors first, then each list's length, each grad and each state
   array against what the transform keeps for its parameter), before anything changes;
2. builds the transform from the hyperparameters, which checks them with the classes' messages;
3. runs the step the torch-style classes compile (:func:`~functional_optim.optim.compiled_step.jitted_step`),
   cached on what it bakes in (:func:`~functional_optim.optim.device_values.static_key`), with the
   numeric hyperparameters as traced arguments and the parameters' and states' buffers donated;
4. puts each new array in its list (a :class:`~functional_optim.Parameter`'s ``data``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from functional_optim.optim.compiled_step import jitted_step, unaliased
from functional_optim.optim.device_values import (
    current_scalar_dtype,
    device_hyperparams,
    device_scalar,
    factory_kwargs,
    factory_parameters,
    hyperparam_names,
    static_key,
)
from functional_optim.optim.group_checks import TORCH_ONLY_FLAGS, check_torch_only_flags
from functional_optim.optim.step_batches import batch_arguments, joined, per_tree_fields, singletons
from functional_optim.optim.torch_state import torch_fields
from functional_optim.parameter import Parameter
from functional_optim.transform import GradientTransformation
from functional_optim.validation import check_grad

Param = jax.Array | Parameter  # an entry of ``params``
Number = float | jax.Array  # a hyperparameter torch types ``float | Tensor``

# torch's words for "the state_steps hold tensors"; adafactor's leaves out "API has changed, ".
API_CHANGED = "API has changed, `{}` argument must contain a list of singleton tensors"
# torch's for-loop steps refuse a grad scaler (only its fused kernels take one).
NO_GRAD_SCALING = "Expected grad_scale and found_inf to be None"
# Flags that tell torch what the lists hold; the arrays tell functional_optim.
_IGNORED = ("has_complex", "has_sparse_grad")


@dataclasses.dataclass(frozen=True)
class Signature:
    """What the arguments of one of torch's functions mean to :func:`step_in_place`.

    Attributes:
      factory: the functional algorithm (``functional_optim.adam``); called with the keyword
        arguments its signature names (torch's that it does not name, such as Rprop's missing
        ``lr``, take its defaults).
      state: ``(list argument, torch state key)`` for each list of optimizer state.
      grads: the name of the list of gradients (SGD's is ``d_p_list``).
      pairs: factory arguments that torch passes as two keywords, ``{"betas": ("beta1", "beta2")}``.
      created: state keys whose None entry asks for a new buffer (SGD's momentum buffer, which
        torch creates from the first gradient).
      singleton_lists: lists torch checks hold tensors, raising ``RuntimeError(singleton_message)``.
      singleton_message: that message, with ``{}`` for the list's name.
      grad_scaling_message: the AssertionError torch raises for a ``grad_scale`` or ``found_inf``.
      int_steps: ``state_steps`` holds Python ints, each the number of this update (torch's
        SparseAdam increments them before the call): read, never written.
      prepare: ``prepare(arguments, params, grads) -> arguments``: torch's own checks and
        resolutions for this function (Muon's, Adafactor's ``eps1=None``), before any other.
    """

    factory: Callable[..., GradientTransformation]
    state: tuple[tuple[str, str], ...]
    grads: str = "grads"
    pairs: dict[str, tuple[str, str]] = dataclasses.field(default_factory=dict)
    created: tuple[str, ...] = ()
    singleton_lists: tuple[str, ...] = ("state_steps",)
    singleton_message: str = API_CHANGED
    grad_scaling_message: str = NO_GRAD_SCALING
    int_steps: bool = False
    prepare: Callable[[dict[str, Any], list[jax.Array], Sequence[Any]], dict[str, Any]] | None = None

    @property
    def name(self) -> str:
        return self.factory.__name__


class _CompiledStep(NamedTuple):
    """A transform's compiled step and the state fields it keeps once per tree."""

    step: Callable
    per_tree_fields: tuple[str, ...]


# By function, its transform's hyperparameter names (the same for every build); compiled steps by
# (function, static key); templates of the state by (function, static key, param shape, dtype).
_HYPERPARAM_NAMES: dict[str, tuple[str, ...]] = {}
_COMPILED: dict[tuple, _CompiledStep] = {}
_TEMPLATES: dict[tuple, dict[str, jax.ShapeDtypeStruct]] = {}


def step_in_place(signature: Signature, arguments: dict[str, Any]) -> None:
    """One torch step of ``signature``'s algorithm on the lists in ``arguments`` (the function's own).

    Raises before any list changes: torch's errors where torch raises, else TypeError or
    ValueError naming the argument and the index.
    """
    name, arguments = signature.name, dict(arguments)
    params = _mutable_list(name, "params", arguments.pop("params"))
    grads = arguments.pop(signature.grads)
    lists = {arg: arguments.pop(arg) for arg, _ in signature.state}
    for arg in signature.singleton_lists:
        if not all(isinstance(t, jax.Array) for t in lists[arg]):
            raise RuntimeError(signature.singleton_message.format(arg))
    arrays = [_param_array(name, i, p) for i, p in enumerate(params)]
    if signature.prepare is not None:
        arguments = signature.prepare(arguments, arrays, grads)
    check_torch_only_flags(name, {flag: arguments.pop(flag) for flag in TORCH_ONLY_FLAGS if flag in arguments})
    scaling = [arguments.pop(k) for k in ("grad_scale", "found_inf") if k in arguments]
    if any(x is not None for x in scaling):
        raise AssertionError(signature.grad_scaling_message)
    for flag in _IGNORED:
        arguments.pop(flag, None)
    _check_lists(signature, params, grads, lists)
    for i, (grad, array) in enumerate(zip(grads, arrays)):
        check_grad(f"{name}: {signature.grads}[{i}]", grad, array)

    for pair, (first, second) in signature.pairs.items():
        arguments[pair] = (arguments.pop(first), arguments.pop(second))
    defaults = {k: p.default for k, p in factory_parameters(signature.factory).items() if p.default is not p.empty}
    values = {**defaults, **arguments}
    tx = signature.factory(**factory_kwargs(signature.factory, values))  # checks the hyperparameters
    if name not in _HYPERPARAM_NAMES:
        _HYPERPARAM_NAMES[name] = hyperparam_names(tx)
    names = _HYPERPARAM_NAMES[name]
    key = (name, static_key(factory_kwargs(signature.factory, arguments), names))
    states = [_state(signature, key, tx, lists, i, array) for i, array in enumerate(arrays)]
    if not params:
        return

    hyperparams = device_hyperparams(values, names, current_scalar_dtype(jax.config.jax_enable_x64))
    counts = [count for _, count in states]
    arrays, grads = [_strongly_typed(a) for a in arrays], [_strongly_typed(g) for g in grads]
    fields = [{k: _strongly_typed(v) for k, v in fields.items()} for fields, _ in states]
    if key not in _COMPILED:
        _COMPILED[key] = _CompiledStep(jitted_step([tx], None), per_tree_fields(tx))
    compiled = _COMPILED[key]
    batches = singletons(len(arrays))
    columns, shared = batch_arguments(fields, counts, compiled.per_tree_fields, batches)
    data, (columns,) = unaliased([arrays], [columns], [grads])
    (new_data,), (new_columns,), (new_shared,) = compiled.step(data, [grads], [columns], [hyperparams], [shared])
    new_states = joined(new_columns, new_shared, batches)

    written = [(arg, k) for arg, k in signature.state if not (signature.int_steps and k == "step")]
    for i, (param, new_array, new_fields) in enumerate(zip(params, new_data, new_states)):
        if isinstance(param, Parameter):
            param.data = new_array
        else:
            params[i] = new_array
        for arg, state_key in written:
            if state_key in new_fields:
                lists[arg][i] = new_fields[state_key]


def _mutable_list(name: str, arg: str, value: Any) -> list:
    if not isinstance(value, list):
        raise TypeError(f"{name}: {arg} must be a list (its entries are replaced), but it is a {type(value).__name__}")
    return value


def _param_array(name: str, index: int, param: Any) -> jax.Array:
    if isinstance(param, Parameter):
        return param.data
    if not isinstance(param, jax.Array):
        raise TypeError(
            f"{name}: params[{index}] must be a jax array or a functional_optim.Parameter, "
            f"but it is a {type(param).__module__}.{type(param).__qualname__}"
        )
    return param


def _check_lists(signature: Signature, params: list, grads: Any, lists: dict[str, Any]) -> None:
    """Each list is a list of len(params) entries (a state list may be empty); no Parameter twice."""
    name, count = signature.name, len(params)
    if not isinstance(grads, (list, tuple)) or len(grads) != count:
        got = f"{len(grads)} entries" if isinstance(grads, (list, tuple)) else f"a {type(grads).__name__}"
        raise ValueError(f"{name}: {signature.grads} must be a list of one grad per parameter ({count}), but got {got}")
    for arg, value in lists.items():
        read_only = signature.int_steps and arg == "state_steps"
        if not read_only:
            _mutable_list(name, arg, value)
        if len(value) not in (0, count):
            raise ValueError(f"{name}: {arg} has {len(value)} entries, but params has {count} (one per parameter)")
    seen: dict[int, int] = {}
    for i, param in enumerate(params):
        if isinstance(param, Parameter):
            if id(param) in seen:
                raise ValueError(
                    f"{name}: params[{seen[id(param)]}] and params[{i}] are the same Parameter; torch would step it "
                    "twice in place, one after the other (pass each Parameter once)"
                )
            seen[id(param)] = i


def _template(key: tuple, tx: GradientTransformation, array: jax.Array) -> dict[str, jax.ShapeDtypeStruct]:
    """The state ``tx`` keeps for a parameter like ``array``, in torch's layout (complex state complex)."""
    template_key = (*key, array.shape, array.dtype)
    if template_key not in _TEMPLATES:
        _TEMPLATES[template_key] = jax.eval_shape(lambda p: torch_fields(tx.init(p).inner_state, p), array)
    return _TEMPLATES[template_key]


def _state(
    signature: Signature, key: tuple, tx: GradientTransformation, lists: dict[str, Any], index: int, array: jax.Array
) -> tuple[dict[str, jax.Array], jax.Array]:
    """Parameter ``index``'s torch-style state dict from the lists, checked; and its count (0: new buffers)."""
    name, template = signature.name, _template(key, tx, array)
    fields: dict[str, Any] = {}
    created = []
    for arg, state_key in signature.state:
        expected = template.get(state_key)
        if expected is None:  # not kept under these options: torch leaves the list alone too
            continue
        where = f"{name}: {arg}[{index}]"
        if not lists[arg]:
            raise ValueError(
                f"{name}: {arg} is empty, but these options keep a {state_key!r} for every parameter "
                f"({expected.shape}, {expected.dtype} for params[{index}])"
            )
        value = lists[arg][index]
        if value is None:
            if state_key not in signature.created:
                raise ValueError(f"{where} is None, but these options keep a {state_key!r} for params[{index}]")
            created.append(state_key)
            continue
        if signature.int_steps and state_key == "step":
            value = _steps_before(where, value)
        if not isinstance(value, jax.Array):
            raise TypeError(f"{where} must be a jax array, but it is a {type(value).__module__}.{type(value).__name__}")
        if value.shape != expected.shape:
            raise ValueError(
                f"{where} has shape {value.shape}, but params[{index}] needs a {state_key!r} of shape {expected.shape}"
            )
        if value.dtype != expected.dtype:
            raise TypeError(
                f"{where} has dtype {value.dtype}, but {signature.factory.__name__} keeps the {state_key!r} of "
                f"params[{index}] in {expected.dtype}"
            )
        fields[state_key] = value
    if created:
        initial = torch_fields(tx.init(array).inner_state, array)
        fields.update({k: initial[k] for k in created})
    return fields, device_scalar(0 if created else 1, np.int32)


def _strongly_typed(x: Any) -> Any:
    """``x`` with a strong dtype: a weakly typed input (``jnp.full(shape, 0.5)``) would be traced
    again at the next call, on the step's strongly typed outputs."""
    return x.astype(x.dtype) if isinstance(x, jax.Array) and x.weak_type else x


def _steps_before(where: str, step: Any) -> jax.Array:
    """SparseAdam's ``step`` (this update's number, a Python int) as the count before it, a fresh array."""
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 1:
        raise TypeError(f"{where} must be this update's number, a Python int >= 1 (torch's SparseAdam), not {step!r}")
    return jnp.asarray(step - 1, jnp.int32)
