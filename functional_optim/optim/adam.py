"""``torch.optim.Adam`` on :func:`functional_optim.adam`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from functional_optim.algorithms.adam import adam
from functional_optim.hyperparams import Hyperparam
from functional_optim.optim.optimizer import Optimizer


class Adam(Optimizer):
    """``torch.optim.Adam``; the update rule and the arguments are :func:`functional_optim.adam`'s."""

    transform_factory = staticmethod(adam)

    def __init__(
        self,
        params: Iterable[Any],
        lr: Hyperparam = 1e-3,
        betas: tuple[Hyperparam, Hyperparam] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
        decoupled_weight_decay: bool = False,
    ):
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "amsgrad": amsgrad,
            "maximize": maximize,
            "foreach": foreach,
            "capturable": capturable,
            "differentiable": differentiable,
            "fused": fused,
            "decoupled_weight_decay": decoupled_weight_decay,
        }
        super().__init__(params, defaults)
