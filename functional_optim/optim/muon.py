"""``torch.optim.Muon`` on :func:`functional_optim.muon`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from functional_optim.algorithms.muon import muon
from functional_optim.hyperparams import Hyperparam
from functional_optim.optim.optimizer import Optimizer


class Muon(Optimizer):
    """``torch.optim.Muon``; the update rule and the arguments are :func:`functional_optim.muon`'s.

    As torch's, it only takes 2-D Parameters, checked at construction.
    """

    transform_factory = staticmethod(muon)

    def __init__(
        self,
        params: Iterable[Any],
        lr: Hyperparam = 1e-3,
        weight_decay: float = 0.1,
        momentum: float = 0.95,
        nesterov: bool = True,
        ns_coefficients: tuple[float, float, float] = (3.4445, -4.775, 2.0315),
        eps: float = 1e-7,
        ns_steps: int = 5,
        adjust_lr_fn: str | None = None,
    ):
        defaults = {
            "lr": lr,
            "weight_decay": weight_decay,
            "momentum": momentum,
            "nesterov": nesterov,
            "ns_coefficients": ns_coefficients,
            "eps": eps,
            "ns_steps": ns_steps,
            "adjust_lr_fn": adjust_lr_fn,
        }
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                if p.data.ndim != 2:
                    raise ValueError(
                        f"Muon only supports 2D parameters whereas we found a parameter with size: {p.shape}"
                    )
