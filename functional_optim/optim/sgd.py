"""``torch.optim.SGD`` on :func:`functional_optim.sgd`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from functional_optim.algorithms.sgd import sgd
from functional_optim.hyperparams import Hyperparam
from functional_optim.optim.optimizer import Optimizer


class SGD(Optimizer):
    """``torch.optim.SGD``; the update rule and the arguments are :func:`functional_optim.sgd`'s."""

    transform_factory = staticmethod(sgd)

    def __init__(
        self,
        params: Iterable[Any],
        lr: Hyperparam = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: Hyperparam = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        differentiable: bool = False,
        fused: bool | None = None,
    ):
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
            "maximize": maximize,
            "foreach": foreach,
            "differentiable": differentiable,
            "fused": fused,
        }
        super().__init__(params, defaults)
