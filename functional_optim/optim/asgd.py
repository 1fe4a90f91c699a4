"""``torch.optim.ASGD`` on :func:`functional_optim.asgd`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from functional_optim.algorithms.asgd import asgd
from functional_optim.hyperparams import Hyperparam
from functional_optim.optim.optimizer import Optimizer


class ASGD(Optimizer):
    """``torch.optim.ASGD``; the update rule and the arguments are :func:`functional_optim.asgd`'s."""

    transform_factory = staticmethod(asgd)

    def __init__(
        self,
        params: Iterable[Any],
        lr: Hyperparam = 1e-2,
        lambd: float = 1e-4,
        alpha: float = 0.75,
        t0: float = 1e6,
        weight_decay: float = 0,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
        capturable: bool = False,
    ):
        defaults = {
            "lr": lr,
            "lambd": lambd,
            "alpha": alpha,
            "t0": t0,
            "weight_decay": weight_decay,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
            "capturable": capturable,
        }
        super().__init__(params, defaults)
