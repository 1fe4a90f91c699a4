"""``torch.optim.RAdam`` on :func:`functional_optim.radam`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from functional_optim.algorithms.radam import radam
from functional_optim.hyperparams import Hyperparam
from functional_optim.optim.optimizer import Optimizer


class RAdam(Optimizer):
    """``torch.optim.RAdam``; the update rule and the arguments are :func:`functional_optim.radam`'s."""

    transform_factory = staticmethod(radam)

    def __init__(
        self,
        params: Iterable[Any],
        lr: Hyperparam = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        decoupled_weight_decay: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
    ):
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "maximize": maximize,
            "foreach": foreach,
            "capturable": capturable,
            "decoupled_weight_decay": decoupled_weight_decay,
            "differentiable": differentiable,
        }
        super().__init__(params, defaults)
