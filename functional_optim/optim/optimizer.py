"""``Optimizer``: torch.optim's stateful API over functional_optim's transforms.

An optimizer holds torch's ``param_groups`` (dicts of hyperparameters with their
:class:`~functional_optim.Parameter` s), ``defaults`` and ``state`` (per Parameter, torch's
dict: ``{"step": ..., "exp_avg": ...}``), and ``step()`` updates every Parameter that has a
grad. It owns no maths: each algorithm class names the functional factory (``fo.adam``, ...)
that builds its transform from a group's values, and the base class

* creates a Parameter's state lazily on its first step with a grad, with ``tx.init`` (outside
  the compiled call, so that the first step and the later ones run the same program);
* runs the transform's step (:func:`~functional_optim.apply_gradients`: no ``updates`` materialised, the
  native kernels where chosen) for every group and Parameter in ONE ``jax.jit``-compiled call that
  donates the parameters' and states' buffers, a group's Parameters with equal step counts as one
  tree (:mod:`~functional_optim.optim.step_batches`). The torch-style dicts become the transform's
  :class:`~functional_optim.HyperparamsState` inside the compiled call: ``count`` is
  ``int(state["step"])`` (or, for algorithms without ``step``, 1 once a state exists), the
  group's numeric hyperparameters (the keys of ``tx.init(...).hyperparams``) are traced
  arguments, and ``inner_state`` is the algorithm's state NamedTuple built from the dict.

The compiled call is cached on what the trace bakes in: each group's non-numeric values
(``amsgrad``, ``nesterov``, ...) and which of its numeric ones are zero (a transform may
specialise on a zero, as SGD keeps no momentum buffer without momentum, like torch's
``if momentum != 0``). Editing ``group["lr"]``, ``betas``, ``weight_decay`` or ``momentum``
between steps therefore never re-compiles; jax.jit itself re-traces when the set of
Parameters with grads, or their shapes or dtypes, change.

Every ``step()`` first checks again each group whose values changed since its last check, with
the constructor's checks and messages, and raises before anything changes (torch checks only the
constructor's arguments; see :mod:`~functional_optim.optim.group_checks`, which also says how
edits of the torch-only flags are treated). Each grad must be an array of its Parameter's shape
and dtype (TypeError otherwise, as torch refuses such a grad).

Sharded Parameters (arrays with a :class:`~jax.sharding.NamedSharding`, on a mesh with Auto
axes, or with Explicit ones when stepping inside ``jax.set_mesh``) keep their shardings: a new
state's arrays shaped like their Parameter get its sharding (its scalars are replicated on its
mesh), the compiled step keeps every sharding, ``state_dict()`` hands out the live device arrays
(``jax.device_get`` or :func:`functional_optim.save` gathers them to the host) and
``load_state_dict`` puts each loaded array where the array it replaces is, or where a first
step would create it. :func:`functional_optim.optim.zero1` partitions the state instead.

Differences from torch, all consequences of JAX arrays being immutable: ``step()`` replaces
``p.data`` and the state's arrays and donates the old buffers, so an array read from them
before a step is invalid after it (read it again, or copy it); ``load_state_dict`` copies
the arrays it is given instead of aliasing them, casting each to the dtype the transform keeps
it in (torch casts every state tensor but ``step`` to the parameter's dtype, which turns
ASGD's and NAdam's float32 scalars into float64 ones for float64 parameters).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

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
from functional_optim.optim.group_checks import GroupChecks
from functional_optim.optim.hooks import OptimizerHooks, replaced_by_hooks, with_step_hooks
from functional_optim.optim.params_argument import new_param_group, param_groups_argument
from functional_optim.optim.step_batches import StepBatches, batch_arguments, per_tree_fields, singletons
from functional_optim.optim.torch_state import (
    StateDict,
    loaded_group,
    loaded_state,
    moved,
    packed_state_dict,
    placed_like,
    state_arrays,
    torch_fields,
    unpacked_state_dict,
)
from functional_optim.parameter import Parameter
from functional_optim.transform import GradientTransformation
from functional_optim.validation import check_grad


class _GroupStep(NamedTuple):
    """One group's part of a step."""

    group: dict[str, Any]
    key: tuple  # what the compiled step bakes in for this group (see Optimizer._static_key)
    params: list[Parameter]  # its Parameters with grads, each once


class Optimizer(OptimizerHooks):
    """Base class of the torch-style optimizers; see the module docstring.

    A subclass sets ``transform_factory`` (e.g. ``functional_optim.adam``) and calls
    ``super().__init__(params, defaults)`` with torch's defaults in torch's key order. The
    factory is called with the group values its signature names, so the group's torch-only
    flags (``foreach``, ...) and keys added by schedulers (``initial_lr``, ...) are ignored.

    Args:
      params: Parameters, ``(name, Parameter)`` pairs, or dicts defining parameter groups
        (``{"params": [...], "lr": ...}``), as torch's.
      defaults: the hyperparameters a group gets unless it sets them.
    """

    transform_factory: Callable[..., GradientTransformation]

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]):
        self.defaults = defaults
        self.state: defaultdict[Any, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        super().__init__()  # the hook registries
        self._compiled_steps: dict[tuple, Callable] = {}
        # Where a Parameter's per-parameter state lives and its update is computed, given its
        # array: None keeps both on the Parameter's own sharding (set by optim.zero1).
        self._state_sharding: Callable[[jax.Array], jax.sharding.Sharding] | None = None
        self._stateless_configs: set[tuple] = set()
        self._step_batches = StepBatches()
        self._per_tree_fields: dict[tuple, tuple[str, ...]] = {}  # by group key: see step_batches
        self._group_checks = GroupChecks(type(self).__name__, factory_parameters(type(self).transform_factory))

        # Building the transform validates the hyperparameters with torch's messages.
        self._hyperparam_names = hyperparam_names(self._transform(defaults))

        for param_group in param_groups_argument(params):
            self.add_param_group(param_group)

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        if "step" in cls.__dict__:  # an algorithm with its own step (LBFGS) gets the hooks too
            cls.step = with_step_hooks(cls.__dict__["step"])

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines.extend(f"    {key}: {group[key]}" for key in sorted(group) if key != "params")
        return "\n".join(lines) + "\n)"

    # -- groups ----------------------------------------------------------------------------------

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Adds a group (``{"params": [...], <hyperparameter>: value, ...}``), as torch's.

        The dict itself is stored, with the missing hyperparameters filled in from
        ``defaults``. Raises torch's errors: a set of params, a non-Parameter, a Parameter
        already in another group, groups mixing named and unnamed params; and a ValueError
        for a torch-only flag functional_optim does not implement (``foreach=True``, ...).
        """
        self.param_groups.append(new_param_group(type(self).__name__, param_group, self.defaults, self.param_groups))

    # -- the step --------------------------------------------------------------------------------

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Sets every grad to None (or, with ``set_to_none=False``, to zeros)."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.grad = None if set_to_none else jnp.zeros_like(p.grad)

    @with_step_hooks
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Performs one optimization step; returns ``closure()`` if given (called first), else None.

        Parameters whose ``.grad`` is None are skipped: no state, no decay, no step count.
        """
        loss = None if closure is None else closure()
        self._update()
        return loss

    def _update(self) -> None:
        keys = self._check_groups()
        plan = [_GroupStep(group, key, _with_grads(group["params"])) for group, key in zip(self.param_groups, keys)]
        if not any(step.params for step in plan):
            return

        new_states = {}  # created now, stored only once the step has succeeded
        for step in plan:
            uninitialized = [p for p in step.params if not self.state.get(p)]
            if uninitialized and step.key not in self._stateless_configs:
                states = self._initial_states(step.group, uninitialized)
                if not any(states.values()):
                    self._stateless_configs.add(step.key)
                new_states.update(states)

        states = [[state_arrays(new_states.get(p) or self.state.get(p, {})) for p in step.params] for step in plan]
        zero, one = device_scalar(0, np.int32), device_scalar(1, np.int32)
        grads = [[p.grad for p in step.params] for step in plan]
        hyperparams = [
            self._device_hyperparams(step.group, current_scalar_dtype(jax.config.jax_enable_x64), step.params)
            for step in plan
        ]
        layouts = self._layouts(plan)
        batches = self._batches(plan, states) if layouts is None else None
        group_batches = [singletons(len(step.params)) if batches is None else batches[g] for g, step in enumerate(plan)]
        columns, shared = zip(
            *(
                batch_arguments(
                    group_states,
                    [one if self.state.get(p) else zero for p in step.params],
                    self._per_tree(step),
                    group_batches[g],
                )
                for g, (step, group_states) in enumerate(zip(plan, states))
            )
        )
        data, columns = unaliased([[p.data for p in step.params] for step in plan], list(columns), grads)
        try:
            new_data, new_columns, new_shared = self._compiled_step(plan, layouts, batches)(
                data, grads, columns, hyperparams, list(shared)
            )
        except (TypeError, ValueError):
            _check_grads(self.param_groups)  # a clearer message when a grad is the cause
            raise
        outcome = zip(plan, states, new_data, group_batches, new_columns, new_shared)
        for step, group_states, group_data, *new_group_state in outcome:
            for p, data in zip(step.params, group_data):
                p.data = data
            self._store(step.params, group_states, *new_group_state)
        if batches is not None:
            for step, step_batches, step_shared in zip(plan, batches, new_shared):
                self._step_batches.record(step.params, step_batches, step_shared)

    def _store(self, params: list[Parameter], old_states: list[dict], batches: tuple, columns: list, shared: list):
        """Writes a group's new state arrays, batch by batch as the compiled step returns them, into ``self.state``."""
        for batch, batch_columns, (_, numbers) in zip(batches, columns, shared):
            if not batch_columns and not numbers:  # a stateless step (SGD without momentum) keeps no state
                continue
            for position, i in enumerate(batch):
                state = self.state[params[i]]
                if not state:
                    state.update(dict.fromkeys(old_states[i]))  # torch's key order (jax returns dicts sorted)
                for key, column in batch_columns.items():
                    state[key] = column[position]
                state.update(numbers)

    def set_group_value(self, group: dict[str, Any], key: str, value: Any) -> None:
        """Sets ``group[key] = value`` as a learning-rate scheduler does: :meth:`step` takes it as it is.

        torch checks hyperparameters in the constructor only, and its schedulers can take one past
        the constructor's range, which torch steps with; the schedulers of
        :mod:`~functional_optim.optim.lr_scheduler` (and yours, if they call this) write through
        here so that this optimizer does too, while it checks the group's other edits (see
        :mod:`~functional_optim.optim.group_checks`). An array entry stays an array of its dtype
        and shape.
        """
        self._group_checks.set_value(group, key, value)

    def _check_groups(self) -> list[tuple]:
        """Checks the groups that changed since their last check (see :mod:`.group_checks`); their static keys."""
        return self._group_checks.check(self.param_groups, self._transform, self._static_key)

    def _compiled_step(self, plan: list[_GroupStep], layouts: tuple | None, batches: tuple | None) -> Callable:
        key = (tuple(step.key for step in plan), layouts, batches)
        if key not in self._compiled_steps:
            self._compiled_steps[key] = jitted_step([self._transform(step.group) for step in plan], layouts, batches)
        return self._compiled_steps[key]

    def _batches(self, plan: list[_GroupStep], states: list[list[dict[str, Any]]]) -> tuple | None:
        """Per group, the Parameters (indices) one call of the algorithm steps as one tree; None
        where a grad is sparse (each then steps alone). See :mod:`.step_batches`."""
        if not all(isinstance(p.grad, jax.Array) for step in plan for p in step.params):
            return None
        batches = []
        for step, group_states in zip(plan, states):
            new = [not self.state.get(p) for p in step.params]
            batches.append(self._step_batches.batches(step.params, group_states, new, self._per_tree(step)))
        return tuple(batches)

    def _per_tree(self, step: _GroupStep) -> tuple[str, ...]:
        """The state fields the group's transform keeps once per tree (``step``): see :mod:`.step_batches`."""
        if step.key not in self._per_tree_fields:
            self._per_tree_fields[step.key] = per_tree_fields(self._transform(step.group))
        return self._per_tree_fields[step.key]

    def _layouts(self, plan: list[_GroupStep]) -> tuple | None:
        """Per group and Parameter with a grad: (its sharding, its state's), if the state is placed apart."""
        if self._state_sharding is None:
            return None
        return tuple(tuple((p.data.sharding, self._state_sharding(p.data)) for p in step.params) for step in plan)

    def set_state_sharding(self, state_sharding: Callable[[jax.Array], jax.sharding.Sharding]) -> None:
        """Keeps each Parameter's state, and computes its update, on ``state_sharding(param.data)``
        from now on, moving the state there now (not in torch: :func:`~functional_optim.optim.zero1` uses it)."""
        self._state_sharding = state_sharding
        for p in [p for group in self.param_groups for p in group["params"] if self.state.get(p)]:
            self.state[p].update(self._placed(p, self.state[p]))

    def _placed(self, param: Parameter, fields: dict[str, Any]) -> dict[str, Any]:
        """``param``'s state ``fields`` placed with it.

        Arrays shaped like ``param`` go to its state's sharding (its own, or zero1's); others that
        nothing has placed yet (``step``), replicated on the param's mesh, where a step leaves them.
        """
        data = param.data
        own = data.sharding if self._state_sharding is None else self._state_sharding(data)
        mesh = data.sharding.mesh if isinstance(data.sharding, NamedSharding) else None

        def place(value: Any) -> Any:
            if not isinstance(value, jax.Array):
                return value
            if value.shape == data.shape:
                return moved(value, own)
            if mesh is not None and not value.committed:
                return moved(value, NamedSharding(mesh, PartitionSpec()))
            return value

        return {k: place(v) for k, v in fields.items()}

    def _static_key(self, group: dict[str, Any]) -> tuple:
        """What a compiled step bakes in for ``group``: non-numeric values, and which numeric ones are 0."""
        return static_key(self._factory_kwargs(group), self._hyperparam_names)

    def _device_hyperparams(self, group: dict[str, Any], dtype: Any, params: list[Parameter]) -> dict[str, Any]:
        """The group's numeric hyperparameters as jit arguments, for a step of ``params`` (those with grads)."""
        del params  # Adafactor resolves a default from them
        return device_hyperparams(group, self._hyperparam_names, dtype)

    # -- transforms and state --------------------------------------------------------------------

    def _factory_kwargs(self, values: dict[str, Any]) -> dict[str, Any]:
        return factory_kwargs(type(self).transform_factory, values)

    def _transform(self, values: dict[str, Any]) -> GradientTransformation:
        return type(self).transform_factory(**self._factory_kwargs(values))

    def _init_values(self, group: dict[str, Any]) -> dict[str, Any]:
        """The values a new state is initialised with (the group's; Adagrad overrides)."""
        return group

    def _initial_states(self, group: dict[str, Any], params: list[Parameter]) -> dict[Parameter, dict[str, Any]]:
        tx = self._transform(self._init_values(group))
        return {p: self._placed(p, torch_fields(tx.init(p.data).inner_state, p.data)) for p in params}

    # -- state_dict ------------------------------------------------------------------------------

    def state_dict(self) -> StateDict:
        """torch's layout: ``{"state": {index: {...}}, "param_groups": [{..., "params": [indices]}]}``.

        Indices number the Parameters across groups in order. As in torch, the per-parameter
        dicts are the live ``self.state`` dicts, not copies: their arrays are replaced (and
        donated) by the next step, so save or ``copy.deepcopy`` the result before stepping.
        Nothing is gathered: sharded state stays on its devices until ``jax.device_get`` (or
        :func:`functional_optim.save`) asks for host arrays.
        """
        for hook in self._state_dict_pre_hooks.values():
            hook(self)
        return replaced_by_hooks(self._state_dict_post_hooks, self, packed_state_dict(self.param_groups, self.state))

    def load_state_dict(self, state_dict: StateDict) -> None:
        """Loads a state_dict of this layout, from this library or from torch (tensors as numpy arrays).

        Parameters are matched by position, and the hyperparameters come from the saved
        groups, as in torch. Each state array is copied, cast to the dtype the transform keeps
        it in, checked against the shape it needs, and placed on the sharding of the array it
        replaces (or, for a Parameter without state yet, where its first step would put it).
        Raises ValueError (torch's messages where torch has one) and leaves the optimizer
        unchanged when the dict does not fit.
        """
        state_dict = replaced_by_hooks(self._load_state_dict_pre_hooks, self, dict(state_dict))
        self.param_groups, self.state = unpacked_state_dict(
            state_dict, self.param_groups, self._loaded_group, self._loaded_param_state
        )
        self._group_checks.accept_loaded(self.param_groups)
        for hook in self._load_state_dict_post_hooks.values():
            hook(self)

    def _loaded_param_state(
        self, fields: Any, param: Parameter, group: dict[str, Any], key: Any, templates: dict[tuple, Any]
    ) -> dict[str, Any]:
        """The saved state ``fields`` of ``param``, checked and copied (``templates``: a cache for one load)."""
        signature = (id(group), param.shape, param.dtype)
        if signature not in templates:
            templates[signature] = jax.eval_shape(self._transform(group).init, param.data).inner_state
        loaded = loaded_state(fields, param, templates[signature], key)
        # Onto the current shardings: those of the arrays replaced, else those a new state gets.
        return placed_like(loaded, self.state.get(param) or self._initial_states(group, [param])[param])

    def _loaded_group(self, group: dict[str, Any], saved: dict[str, Any]) -> dict[str, Any]:
        """A saved group with the live Parameters; missing keys take the defaults (torch's ``__setstate__``)."""
        return loaded_group(group, saved, self.defaults)


def _with_grads(params: list[Parameter]) -> list[Parameter]:
    """The Parameters that have a grad, each once (a buffer can be donated only once)."""
    return list(dict.fromkeys(p for p in params if p.grad is not None))


def _check_grads(param_groups: list[dict[str, Any]]) -> None:
    """Raises an error naming the Parameter whose grad is not an array of its shape and dtype, if any."""
    for group_index, group in enumerate(param_groups):
        for i, p in enumerate(group["params"]):
            if p.grad is not None:
                check_grad(f"the grad of parameter {i} of group {group_index}", p.grad, p.data)
