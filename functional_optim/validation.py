"""Construction-time checks of hyperparameters, with torch's messages.

Each check names the argument and the offending value. A schedule (a callable) or a traced
value cannot be checked when the transform is built and is accepted as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import numpy as np


def concrete_value(name: str, value: Any) -> float | None:
    """``value`` as a Python float, or None for a schedule or a traced value.

    Raises:
      ValueError: for an array with other than one element (torch: "Tensor lr must be 1-element").
      TypeError: for anything that is neither a number, an array nor a callable.
    """
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
