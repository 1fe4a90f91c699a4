"""``torch.optim.Adafactor`` on :func:`functional_optim.adafactor`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import jax.numpy as jnp

from functional_optim.algorithms.adafactor import adafactor
from functional_optim.hyperparams import Hyperparam
from functional_optim.optim.optimizer import Optimizer
from functional_optim.parameter import Parameter


class Adafactor(Optimizer):
    """``torch.optim.Adafactor``; the update rule and the arguments are :func:`functional_optim.adafactor`'s.

    A Parameter of 2 or more dimensions keeps torch's factored ``row_var`` and ``col_var``,
    a 0-d or 1-d one a full ``variance``. With ``eps=(None, eps2)``, :math:`\\epsilon_1` is
    ``finfo(dtype).eps`` of the first Parameter of the group that has a grad, for the whole
    group, as torch resolves it.
    """

    transform_factory = staticmethod(adafactor)

    def __init__(
        self,
        params: Iterable[Any],
        lr: Hyperparam = 1e-2,
        beta2_decay: float = -0.8,
        eps: tuple[float | None, float] = (None, 1e-3),
        d: float = 1.0,
        weight_decay: float = 0.0,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
    ):
        defaults = {
            "lr": lr,
            "beta2_decay": beta2_decay,
            "eps": eps,
            "d": d,
            "weight_decay": weight_decay,
            "foreach": foreach,
            "maximize": maximize,
        }
        super().__init__(params, defaults)

    def _device_hyperparams(self, group: dict[str, Any], dtype: Any, params: list[Parameter]) -> dict[str, Any]:
        return super()._device_hyperparams({**group, "eps": group_eps(group["eps"], params)}, dtype, params)


def group_eps(eps: tuple[Any, Any], params: Sequence[Any]) -> tuple[Any, Any]:
    """``eps`` with torch's ``eps1=None`` resolved: ``finfo(dtype).eps`` of the group's first parameter
    (of those stepped), which torch uses for the whole group."""
    eps1, eps2 = eps
    if eps1 is None and params:
        return float(jnp.finfo(params[0].dtype).eps), eps2
    return eps
