"""``torch.optim.Rprop`` on :func:`functional_optim.rprop`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from functional_optim.algorithms.rprop import rprop
from functional_optim.hyperparams import Hyperparam
from functional_optim.optim.optimizer import Optimizer


class Rprop(Optimizer):
    """``torch.optim.Rprop``; the update rule and the arguments are :func:`functional_optim.rprop`'s."""

    transform_factory = staticmethod(rprop)

    def __init__(
        self,
        params: Iterable[Any],
        lr: Hyperparam = 1e-2,
        etas: tuple[float, float] = (0.5, 1.2),
        step_sizes: tuple[float, float] = (1e-6, 50),
        *,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
    ):
        defaults = {
            "lr": lr,
            "etas": etas,
            "step_sizes": step_sizes,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
            "capturable": capturable,
        }
        super().__init__(params, defaults)
