r"""``torch.optim.LBFGS`` on :func:`functional_optim.lbfgs`.

torch's idiom, unchanged: the closure clears the grads, evaluates the loss, back-propagates
and returns the loss; ``step(closure)`` calls it as often as the iterations and the line
search need::

    optimizer = fo.optim.LBFGS(fo.parameter_list(params), line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        return fo.backward(loss_fn, params, inputs, targets)

    for _ in range(10):
        loss = optimizer.step(closure)

How it owns no maths: one ``step`` is ONE call of the jitted functional step
(``fo.lbfgs(...).step(loss_fn, state, params)``, all of torch's iterations and line search in
``lax.while_loop`` s), whose ``loss_fn`` hands each evaluation back to Python: a
``jax.custom_vjp`` function whose forward pass is a ``jax.experimental.io_callback`` that
writes the trial point into the Parameters' ``.data``, calls the closure, and returns
``float(loss)`` and the Parameters' ``.grad`` (a None grad as zeros, a BCOO grad densified, as
torch's ``_gather_flat_grad``); its backward pass returns those grads. The step compiles once
per process for each ``max_iter``, ``max_eval``, ``history_size``, ``line_search_fn`` and
``maximize`` (and the Parameters' shapes and dtypes), shared by every LBFGS optimizer: the
program takes a number for the step, by which the callback finds the step's closure and Parameters;
``lr``, ``tolerance_grad`` and ``tolerance_change`` may be edited in the group between steps
without re-compiling. Each evaluation copies the trial point to the host
and the grads back (the closure runs in Python), which on an accelerator costs two transfers
of the parameters per evaluation.

State, as torch's, lives only under the first Parameter, with torch's keys in torch's order:
``func_evals`` and ``n_iter`` (Python ints, cumulative over steps), ``al`` (a list of
``history_size`` entries, 0-d arrays or None; from the second iteration on), ``d``, ``t`` (a
Python float), ``old_dirs``, ``old_stps``, ``ro`` (lists, oldest first), ``H_diag`` (a 0-d array,
or the int 1 before any curvature pair), ``prev_flat_grad`` and ``prev_loss`` (a float). The
functional step works on fixed-size ring buffers; the wrapper keeps them between steps and
updates torch's lists with the pairs each step adds, so the lists and the rings each hold the
curvature pairs (twice torch's memory for them). The functional state holds its vectors as
lists shaped like the Parameters; the wrapper writes them into torch's flat layout
(:func:`~functional_optim.algorithms.lbfgs.flatten_vectors`). A state edited by hand or loaded
(from this library, or from torch with tensors as numpy arrays) is turned back into rings at
the next step.

Differences from torch: ``t`` is always a Python float (torch's is sometimes a 0-d tensor, of
the same value); an unsupported ``line_search_fn`` raises torch's RuntimeError at construction
(torch raises it in the first step that reaches the line search); and if the closure raises,
the exception propagates once the compiled step has finished (without calling the closure
again), with the Parameters and the state as they were before the step.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
from collections.abc import Callable, Iterable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import io_callback, sparse

from functional_optim.algorithms.lbfgs import LBFGSState, LBFGSTransformation, lbfgs
from functional_optim.hyperparams import Hyperparam, HyperparamsState, as_scalars, scalar_dtype
from functional_optim.optim.lbfgs_torch_state import (
    checked_torch_state,
    flat_size_and_dtype,
    state_from_torch,
    store_in_torch_state,
)
from functional_optim.optim.optimizer import Optimizer
from functional_optim.parameter import Parameter
from functional_optim.validation import check_grad


@dataclasses.dataclass
class _Evaluation:
    """What the host callback needs during one step: the closure, the Parameters, and what happened."""

    closure: Callable[[], Any]
    params: list[Parameter]
    calls: int = 0
    first_loss: Any = None
    error: BaseException | None = None


@dataclasses.dataclass
class _Memory:
    """The functional state kept from the last step, valid while torch's state dict is untouched."""

    key: tuple  # the compiled step's configuration and the Parameters' shapes and dtypes
    snapshot: list[tuple[str, Any, tuple | None]]  # the state dict's values (and list items) it matches
    inner: LBFGSState  # donated to the next step
    history: tuple[int, int]  # (history_start, history_len) of ``inner``, on the host


# The compiled steps, shared by every LBFGS optimizer, by (transform factory, max_iter, max_eval,
# history_size, line_search_fn, maximize); and the evaluation of each step in progress, by the number (an int32)
# that step passes its compiled call.
_RUNS: dict[tuple, Callable] = {}
_EVALUATIONS: dict[int, _Evaluation] = {}
_NUMBERS = itertools.count()


class LBFGS(Optimizer):
    """``torch.optim.LBFGS``; the algorithm and the arguments are :func:`functional_optim.lbfgs`'s.

    One parameter group only (torch's ValueError at construction, its AssertionError at the
    step if a group is added later). See the module docstring for how the closure is run and
    for the state's layout.
    """

    transform_factory = staticmethod(lbfgs)

    def __init__(
        self,
        params: Iterable[Any],
        lr: Hyperparam = 1,
        max_iter: int = 20,
        max_eval: int | None = None,
        tolerance_grad: float = 1e-7,
        tolerance_change: float = 1e-9,
        history_size: int = 100,
        line_search_fn: str | None = None,
        *,
        maximize: bool = False,
    ):
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        defaults = {
            "lr": lr,
            "max_iter": max_iter,
            "max_eval": max_eval,
            "tolerance_grad": tolerance_grad,
            "tolerance_change": tolerance_change,
            "history_size": history_size,
            "line_search_fn": line_search_fn,
            "maximize": maximize,
        }
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._memory: _Memory | None = None

    def step(self, closure: Callable[[], Any]) -> Any:  # type: ignore[override]
        """Performs one torch ``LBFGS.step``; returns the closure's first value (at the incoming params).

        Args:
          closure: clears the grads, computes the loss, back-propagates (``fo.backward``) and
            returns the loss.
        """
        if len(self.param_groups) != 1:
            raise AssertionError(f"Expected exactly one param_group, but got {len(self.param_groups)}")
        self._check_groups()
        group = self.param_groups[0]
        params = group["params"]
        if not params:  # a group without Parameters (torch 2.15; 2.13 failed)
            return closure()
        state = self.state[params[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        values = [p.data for p in params]
        key = (
            group["max_iter"],
            group["max_eval"],
            group["history_size"],
            group["line_search_fn"],
            group["maximize"],
            tuple((v.shape, jnp.dtype(v.dtype)) for v in values),
        )
        run = self._run(group)
        inner, history = self._take_memory(state, key, group["history_size"], values)
        hyperparams = self._device_hyperparams(group, scalar_dtype(), params)
        n_iter_before = state["n_iter"]

        evaluation = _Evaluation(closure, list(params))
        number = next(_NUMBERS) & 0x7FFFFFFF
        _EVALUATIONS[number] = evaluation
        try:
            new_values, inner = run(inner, hyperparams, values, np.int32(number))
            scalars = jax.device_get(
                (inner.func_evals, inner.n_iter, inner.history_start, inner.history_len, inner.t, inner.prev_loss)
            )
            error = evaluation.error
        except BaseException as failure:
            error = evaluation.error or failure  # the closure's own exception, if it raised first
        finally:
            del _EVALUATIONS[number]
            first_loss = evaluation.first_loss
        if error is not None:
            for p, value in zip(params, values):
                p.data = value
            raise error

        for p, value in zip(params, new_values):
            p.data = value
        func_evals, n_iter, history_start, history_len, t, prev_loss = scalars
        state["func_evals"], state["n_iter"] = int(func_evals), int(n_iter)
        new_history = (int(history_start), int(history_len))
        if n_iter != n_iter_before:  # torch leaves the rest alone when no iteration ran
            store_in_torch_state(state, inner, n_iter_before, history, new_history, float(t), float(prev_loss))
        self._memory = _Memory(key, _snapshot(state), inner, new_history)
        return first_loss

    # -- the compiled step and its state ---------------------------------------------------------

    def _run(self, group: dict[str, Any]) -> Callable:
        statics = ("max_iter", "max_eval", "history_size", "line_search_fn", "maximize")
        key = (type(self).transform_factory, *map(group.get, statics))  # a subclass's own algorithm: its own program
        if key not in _RUNS:
            _RUNS[key] = jax.jit(functools.partial(_run_step, self._transform(group)), donate_argnums=0)
        return _RUNS[key]

    def _take_memory(
        self, state: dict[str, Any], key: tuple, history_size: int, values: list[jax.Array]
    ) -> tuple[LBFGSState, tuple[int, int]]:
        """The functional state for ``state``: the one kept from the last step if ``state`` is untouched."""
        memory, self._memory = self._memory, None  # donated by the step: never reused after it
        if memory is not None and memory.key == key and _matches(memory.snapshot, state):
            return memory.inner, memory.history
        return state_from_torch(state, values, history_size), (0, len(state.get("old_dirs", ())))

    def _loaded_param_state(
        self, fields: Any, param: Parameter, group: dict[str, Any], key: Any, templates: dict[tuple, Any]
    ) -> dict[str, Any]:
        del templates
        if not isinstance(fields, dict):
            raise ValueError(
                f"loaded state dict has a {type(fields).__name__} as the state of parameter {key}, not a dict"
            )
        if param is not group["params"][0]:  # torch keeps LBFGS's state under the first Parameter only
            return {k: jnp.array(v) if isinstance(v, (jax.Array, np.ndarray)) else v for k, v in fields.items()}
        size, dtype = flat_size_and_dtype([p.data for p in group["params"]])
        loaded = checked_torch_state(fields, size, dtype, group["history_size"], f"parameter {key}")
        self._memory = None
        return loaded


def _run_step(tx: LBFGSTransformation, inner: LBFGSState, hyperparams: dict, values: list, number: jax.Array) -> Any:
    """The compiled body of a step: the functional L-BFGS step with step ``number``'s closure as the objective."""
    state = HyperparamsState(jnp.zeros((), jnp.int32), as_scalars(hyperparams), inner)
    new_values, new_state, _ = tx.step(functools.partial(_closure_loss, number), state, values)
    return new_values, new_state.inner_state


# -- the closure as a differentiable function ------------------------------------------------------


@jax.custom_vjp
def _closure_loss(number: jax.Array, values: list[jax.Array]) -> jax.Array:
    """The loss of step ``number``'s closure at ``values``; its value and gradient come from
    the closure, run on the host."""
    return _closure_evaluation(number, values)[0]


def _closure_evaluation(number: jax.Array, values: list[jax.Array]) -> tuple[jax.Array, list[jax.Array]]:
    shapes = (
        jax.ShapeDtypeStruct((), scalar_dtype()),
        [jax.ShapeDtypeStruct(v.shape, v.dtype) for v in values],
    )
    return io_callback(_evaluate, shapes, number, values, ordered=True)


def _closure_loss_backward(grads: list[jax.Array], cotangent: jax.Array) -> tuple[None, list[jax.Array]]:
    # The closure's grads follow torch (for complex parameters, the conjugate of jax.grad's).
    return None, [jnp.conj(g) * cotangent.astype(g.dtype) for g in grads]


_closure_loss.defvjp(_closure_evaluation, _closure_loss_backward)


def _evaluate(number: np.ndarray, values: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Runs step ``number``'s closure at ``values``: ``(float(loss), grads)``, as torch's
    ``_directional_evaluate``."""
    evaluation = _EVALUATIONS[int(number)]
    loss_dtype = scalar_dtype()
    if evaluation.error is None:
        try:
            for p, value in zip(evaluation.params, values):
                p.data = jnp.asarray(value)
            loss = evaluation.closure()
            if evaluation.calls == 0:
                evaluation.first_loss = loss
            evaluation.calls += 1
            grads = [_dense_grad(i, p, value) for i, (p, value) in enumerate(zip(evaluation.params, values))]
            return np.asarray(float(loss), loss_dtype), grads
        except BaseException as error:  # re-raised by step once the compiled call returns
            evaluation.error = error
    # After an error: answers that end the step quickly (a zero gradient), without the closure.
    return np.asarray(np.nan, loss_dtype), [np.zeros(v.shape, v.dtype) for v in values]


def _dense_grad(index: int, p: Parameter, value: np.ndarray) -> np.ndarray:
    """torch's ``_gather_flat_grad`` for Parameter ``index`` at ``value``: None as zeros, a sparse grad densified.

    A grad that is not an array of the Parameter's shape and dtype raises (torch refuses it when it is assigned).
    """
    if p.grad is None:
        return np.zeros(value.shape, value.dtype)
    check_grad(f"the grad of parameter {index} of group 0", p.grad, value)
    return np.asarray(p.grad.todense() if isinstance(p.grad, sparse.BCOO) else p.grad, value.dtype)


# -- the functional state kept between steps -------------------------------------------------------


def _snapshot(state: dict[str, Any]) -> list[tuple[str, Any, tuple | None]]:
    return [(k, v, tuple(v) if isinstance(v, list) else None) for k, v in state.items()]


def _matches(snapshot: list[tuple[str, Any, tuple | None]], state: dict[str, Any]) -> bool:
    """Whether ``state`` still holds exactly the objects of ``snapshot`` (nothing replaced, added or edited)."""
    if len(snapshot) != len(state):
        return False
    for (k, v, items), (key, value) in zip(snapshot, state.items()):
        if k != key or v is not value:
            return False
        if items is not None and (len(items) != len(value) or any(a is not b for a, b in zip(items, value))):
            return False
    return True
