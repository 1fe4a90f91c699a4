"""``torch.optim.RMSprop`` on :func:`functional_optim.rmsprop`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from functional_optim.algorithms.rmsprop import rmsprop
from functional_optim.hyperparams import Hyperparam
from functional_optim.optim.optimizer import Optimizer


class RMSprop(Optimizer):
    """``torch.optim.RMSprop``; the update rule and the arguments are :func:`functional_optim.rmsprop`'s."""

    transform_factory = staticmethod(rmsprop)

    def __init__(
        self,
        params: Iterable[Any],
        lr: Hyperparam = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
    ):
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "alpha": alpha,
            "eps": eps,
            "centered": centered,
            "weight_decay": weight_decay,
            "capturable": capturable,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
        }
        super().__init__(params, defaults)
