"""``torch.optim.NAdam`` on :func:`functional_optim.nadam`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from functional_optim.algorithms.nadam import nadam
from functional_optim.hyperparams import Hyperparam
from functional_optim.optim.optimizer import Optimizer


class NAdam(Optimizer):
    """``torch.optim.NAdam``; the update rule and the arguments are :func:`functional_optim.nadam`'s."""

    transform_factory = staticmethod(nadam)

    def __init__(
        self,
        params: Iterable[Any],
        lr: Hyperparam = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum_decay: float = 4e-3,
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
            "momentum_decay": momentum_decay,
            "decoupled_weight_decay": decoupled_weight_decay,
            "maximize": maximize,
            "foreach": foreach,
            "capturable": capturable,
            "differentiable": differentiable,
        }
        super().__init__(params, defaults)
