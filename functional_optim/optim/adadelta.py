"""``torch.optim.Adadelta`` on :func:`functional_optim.adadelta`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from functional_optim.algorithms.adadelta import adadelta
from functional_optim.hyperparams import Hyperparam
from functional_optim.optim.optimizer import Optimizer


class Adadelta(Optimizer):
    """``torch.optim.Adadelta``; the update rule and the arguments are :func:`functional_optim.adadelta`'s."""

    transform_factory = staticmethod(adadelta)

    def __init__(
        self,
        params: Iterable[Any],
        lr: Hyperparam = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0,
        foreach: bool | None = None,
        *,
        capturable: bool = False,
        maximize: bool = False,
        differentiable: bool = False,
    ):
        defaults = {
            "lr": lr,
            "rho": rho,
            "eps": eps,
            "weight_decay": weight_decay,
            "maximize": maximize,
            "capturable": capturable,
            "foreach": foreach,
            "differentiable": differentiable,
        }
        super().__init__(params, defaults)
