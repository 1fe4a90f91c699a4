"""Mutable parameters for the torch-style API: ``Parameter``, trees of them, ``backward`` and grad clipping.

:mod:`functional_optim.optim` works the way ``torch.optim`` does, on objects whose value and
gradient change in place. A :class:`Parameter` is that object: a box holding ``.data`` (a
jax array) and ``.grad`` (a jax array or None). Parameters are pytree *leaves*, so a params
tree of any shape (nested dicts, Flax's ``params`` collection, Equinox's arrays after
``eqx.partition(model, eqx.is_array)``) becomes a tree of Parameters with the same structure::

    params = fo.parameters({"base": {"w": w, "b": b}, "classifier": {"w": v}})
    optimizer = fo.optim.SGD(fo.parameter_list(params), lr=0.01, momentum=0.9)
    optimizer.zero_grad()
    loss = fo.backward(loss_fn, params, inputs, targets)   # loss.backward()
    optimizer.step()
    new_values = fo.values(params)                          # plain arrays for the model

A sub-tree is plain indexing (``params["classifier"]``), so torch's
``model.classifier.parameters()`` is ``fo.parameter_list(params["classifier"])``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from functional_optim import clipping
from functional_optim.tree_paths import dotted_name


class Parameter:
    """A mutable box: ``data`` (a jax array) and ``grad`` (a jax array or None).

    Hashable by identity, like a torch tensor, so it can key ``optimizer.state``. The
    constructor copies ``data``: :meth:`Optimizer.step <functional_optim.optim.Optimizer.step>`
    donates the buffers it replaces, so a Parameter must own its array. For the same reason,
    an array read from ``.data`` is stale after the next step; read it again.
    """

    __slots__ = ("data", "grad")

    def __init__(self, data: Any):
        if not isinstance(data, (jax.Array, np.ndarray, np.generic, int, float, complex)):
            raise TypeError(
                f"Parameter data must be an array or a number, but got {type(data).__name__}; "
                "make a tree of Parameters from the array leaves only (Equinox: eqx.partition(model, eqx.is_array))"
            )
        self.data: jax.Array = jnp.array(data if isinstance(data, jax.Array) else np.asarray(data))
        self.grad: jax.Array | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> jnp.dtype:
        return self.data.dtype

    def __repr__(self) -> str:
        grad = "None" if self.grad is None else "set"
        return f"Parameter(shape={self.shape}, dtype={self.dtype}, grad={grad})"


def parameters(tree: Any) -> Any:
    """``tree`` with every array leaf replaced by a :class:`Parameter` holding a copy of it."""
    return jax.tree.map(Parameter, tree)


def values(tree: Any) -> Any:
    """The arrays of a tree of :class:`Parameter` s, in the same structure (the reverse of :func:`parameters`)."""
    return jax.tree.map(lambda p: _checked(p).data, tree)


def parameter_list(tree: Any) -> list[Parameter]:
    """The Parameters of ``tree`` in leaf order: torch's ``list(model.parameters())``."""
    return [_checked(p) for p in jax.tree.leaves(tree)]


def named_parameter_list(tree: Any) -> list[tuple[str, Parameter]]:
    """``(name, Parameter)`` pairs with dotted names (``"classifier.w"``): torch's ``model.named_parameters()``.

    Giving these pairs to an optimizer records the names in each group's ``param_names``.
    """
    return [(dotted_name(path), _checked(p)) for path, p in jax.tree_util.tree_leaves_with_path(tree)]


def backward(loss_fn: Callable[..., jax.Array], params: Any, *args: Any, **kwargs: Any) -> jax.Array:
    """Evaluates ``loss_fn(values(params), *args, **kwargs)`` and adds its gradient to each ``.grad``.

    The equivalent of ``loss = loss_fn(...); loss.backward()``: gradients *accumulate* into
    ``.grad`` (a None grad counts as zero), so call ``optimizer.zero_grad()`` between steps, or
    call ``backward`` once per micro-batch to accumulate. For complex parameters the gradient is
    torch's (the conjugate of ``jax.grad``'s), which is what torch's optimizers expect.

    The gradient is computed by ``jax.jit(jax.value_and_grad(loss_fn))``, compiled once per
    ``loss_fn`` (keep the function object, pass data through ``args``): ``args`` and ``kwargs``
    are traced, so they must be arrays or pytrees of arrays.

    Args:
      loss_fn: ``loss_fn(param_values, *args, **kwargs) -> scalar``.
      params: a tree of :class:`Parameter` s (the structure ``loss_fn`` expects, with arrays).
      *args: further arguments of ``loss_fn`` (inputs, targets, ...).
      **kwargs: further keyword arguments of ``loss_fn``.

    Returns:
      The loss.
    """
    leaves, treedef = jax.tree.flatten(params)
    leaves = [_checked(p) for p in leaves]
    loss, grads = _accumulating_value_and_grad(loss_fn)(
        treedef.unflatten([p.data for p in leaves]), [p.grad for p in leaves], *args, **kwargs
    )
    for p, grad in zip(leaves, grads):
        p.grad = grad
    return loss


@functools.lru_cache(maxsize=128)
def _accumulating_value_and_grad(loss_fn: Callable[..., jax.Array]) -> Callable[..., Any]:
    def value_and_accumulated_grads(values, grads, *args, **kwargs):
        loss, new_grads = jax.value_and_grad(loss_fn)(values, *args, **kwargs)
        new_grads = [jnp.conj(g) for g in jax.tree.leaves(new_grads)]  # jax.grad's convention -> torch's
        return loss, [new if old is None else old + new for old, new in zip(grads, new_grads)]

    return jax.jit(value_and_accumulated_grads)


def clip_grad_norm_(
    parameters: Parameter | Iterable[Parameter],
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach: bool | None = None,
) -> jax.Array:
    """``torch.nn.utils.clip_grad_norm_``: scales the ``.grad`` s to a total norm of at most ``max_norm``.

    Call it between :func:`backward` and ``optimizer.step()``, as in torch. The maths (and
    every torch behaviour it keeps) is :mod:`functional_optim.clipping`'s; Parameters whose
    grad is None are skipped.

    Args:
      parameters: a :class:`Parameter` or an iterable of them (``fo.parameter_list(params)``).
      max_norm: the largest total norm the grads keep.
      norm_type: the order of the norms (a float, ``inf`` or ``-inf``).
      error_if_nonfinite: raise torch's RuntimeError, leaving the grads as they were, if the
        total norm is NaN or infinite.
      foreach: accepted for torch's signature; every path computes the same numbers.

    Returns:
      The total norm of the grads before clipping.
    """
    del foreach
    max_norm = _as_float("max_norm", max_norm)
    with_grads = _with_grads(parameters)
    grads = [p.grad for p in with_grads]
    total_norm = _total_norm(grads, norm_type)
    if error_if_nonfinite and not bool(jnp.isfinite(total_norm)):
        raise RuntimeError(
            f"The total norm of order {float(norm_type)} for gradients from `parameters` is non-finite, so it "
            "cannot be clipped. To disable this error and scale the gradients by the non-finite norm anyway, "
            "set `error_if_nonfinite=False`"
        )
    for p, grad in zip(with_grads, _clipped_with_norm(grads, max_norm, total_norm)):
        p.grad = grad
    return total_norm


def clip_grad_value_(
    parameters: Parameter | Iterable[Parameter], clip_value: float, foreach: bool | None = None
) -> None:
    """``torch.nn.utils.clip_grad_value_``: clamps every ``.grad`` entry to ``[-clip_value, clip_value]``.

    Parameters whose grad is None are skipped; see :func:`functional_optim.clipping.clip_by_value`.
    ``foreach`` is accepted for torch's signature.
    """
    del foreach
    clip_value = _as_float("clip_value", clip_value)
    with_grads = _with_grads(parameters)
    for p, grad in zip(with_grads, _clipped_by_value([p.grad for p in with_grads], clip_value)):
        p.grad = grad


def _as_float(name: str, value: Any) -> float:
    try:
        return float(value)  # as torch's float(max_norm)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number, but got {value!r}") from None


def _with_grads(parameters: Parameter | Iterable[Parameter]) -> list[Parameter]:
    parameters = [parameters] if isinstance(parameters, Parameter) else list(parameters)
    return [p for p in map(_checked, parameters) if p.grad is not None]


_total_norm = jax.jit(clipping.get_total_norm, static_argnums=1)
_clipped_with_norm = jax.jit(clipping.clip_grads_with_norm)
_clipped_by_value = jax.jit(clipping.clip_by_value)


def _checked(leaf: Any) -> Parameter:
    if not isinstance(leaf, Parameter):
        raise TypeError(
            f"expected a tree of Parameters, but found a {type(leaf).__name__} leaf; "
            "make the tree with functional_optim.parameters(arrays)"
        )
    return leaf
