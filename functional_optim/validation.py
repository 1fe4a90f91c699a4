"""Checks of hyperparameters (with torch's messages) and of gradients against their params.

Each hyperparameter check names the argument and the offending value. A schedule (a callable)
or a traced value cannot be checked when the transform is built and is accepted as it is.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import sparse


def concrete_value(name: str, value: Any) -> float | None:
    """``value`` as a Python float, or None for a schedule or a traced value.

    Raises:
      ValueError: for an array with other than one element (torch: "Tensor lr must be 1-element").
      TypeError: for anything that is neither a number, an array nor a callable.
    """
    if type(value) in (int, float):  # the common case, first: the wrapper checks edited groups at every step
        return float(value)
    if callable(value) or isinstance(value, jax.core.Tracer):
        return None
    if isinstance(value, (bool, str)) or not isinstance(value, (int, float, np.ndarray, np.generic, jax.Array)):
        raise TypeError(f"{name} must be a number, a 1-element array or a schedule, but got {value!r}")
    if np.size(value) != 1:
        raise ValueError(f"Tensor {name} must be 1-element, but {name} has shape {np.shape(value)}")
    return float(np.asarray(value).reshape(()))


def check_value(name: str, value: Any, ok: Callable[[float], bool], message: str, requirement: str) -> None:
    """Raises ``ValueError("<message>: <value> (<name> must be <requirement>)")`` unless ``ok(value)``."""
    number = concrete_value(name, value)
    if number is not None and not ok(number):
        raise ValueError(f"{message}: {value} ({name} must be {requirement})")


def integer_argument(name: str, value: Any) -> int:
    """``value`` as an int (anything with ``__index__``); TypeError naming ``name`` otherwise."""
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, but got {value!r}") from None


def check_lr(lr: Any) -> None:
    check_value("lr", lr, lambda v: v >= 0, "Invalid learning rate", ">= 0")


def check_eps(eps: Any) -> None:
    check_value("eps", eps, lambda v: v >= 0, "Invalid epsilon value", ">= 0")


def check_weight_decay(weight_decay: Any) -> None:
    check_value("weight_decay", weight_decay, lambda v: v >= 0, "Invalid weight_decay value", ">= 0")


def check_momentum(momentum: Any) -> None:
    check_value("momentum", momentum, lambda v: v >= 0, "Invalid momentum value", ">= 0")


def check_betas(betas: Any) -> None:
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise TypeError(f"betas must be a pair (beta1, beta2), but got {betas!r}")
    for i, beta in enumerate(betas):
        check_value(f"betas[{i}]", beta, lambda v: 0 <= v < 1, f"Invalid beta parameter at index {i}", "in [0, 1)")


def dtype_of(x: Any) -> np.dtype:
    """The dtype JAX computes ``x`` in: an array's, a tracer's, a BCOO's values' (canonical: float32 for a
    numpy float64 array when ``jax_enable_x64`` is off), or a Python number's default."""
    dtype = getattr(x, "dtype", None)
    return jnp.result_type(x) if dtype is None else jax.dtypes.canonicalize_dtype(dtype)


def check_grad_dtype(subject: str, grad: Any, param: Any) -> None:
    """Raises TypeError, naming ``subject`` (e.g. "SGD: the grad at ['w']") and both dtypes, unless
    ``grad`` has ``param``'s dtype.

    torch refuses a gradient of another dtype when it is assigned. Converting it instead would
    give a real param a complex grad's shape (its real view's), read a real grad on a complex
    param as its real view, and hide low-precision or integer grads. Dtypes are static, so this
    works on tracers (under ``jit``) and raises before anything is computed.
    """
    grad_dtype, param_dtype = dtype_of(grad), dtype_of(param)
    if grad_dtype != param_dtype:
        raise TypeError(
            f"{subject} has dtype {grad_dtype}, but the parameter has dtype {param_dtype} "
            "(a grad must have its parameter's dtype, as torch requires)"
        )


def check_grad(subject: str, grad: Any, param: Any) -> None:
    """Checks that ``grad`` is an array (dense, or a BCOO) of ``param``'s shape and dtype.

    Raises TypeError (not an array; another dtype) or ValueError (another shape), naming ``subject``
    (e.g. "the grad of parameter 0 of group 1").
    """
    if not isinstance(grad, (jax.Array, np.ndarray, sparse.BCOO)):
        raise TypeError(f"{subject} must be an array or None, but it is a {type(grad).__name__}")
    if grad.shape != param.shape:
        raise ValueError(f"{subject} has shape {grad.shape}, but the parameter has shape {param.shape}")
    check_grad_dtype(subject, grad, param)
