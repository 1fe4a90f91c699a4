"""``torch.optim.Adamax`` on :func:`functional_optim.adamax`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from functional_optim.algorithms.adamax import adamax
from functional_optim.hyperparams import Hyperparam
from functional_optim.optim.optimizer import Optimizer


class Adamax(Optimizer):
    """``torch.optim.Adamax``; the update rule and the arguments are :func:`functional_optim.adamax`'s."""

    transform_factory = staticmethod(adamax)

    def __init__(
        self,
        params: Iterable[Any],
        lr: Hyperparam = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        capturable: bool = False,
    ):
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
            "capturable": capturable,
        }
        super().__init__(params, defaults)
