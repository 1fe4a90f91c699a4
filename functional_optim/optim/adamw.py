"""``torch.optim.AdamW`` on :func:`functional_optim.adamw`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from functional_optim.algorithms.adam import adamw
from functional_optim.hyperparams import Hyperparam
from functional_optim.optim.optimizer import Optimizer


class AdamW(Optimizer):
    """``torch.optim.AdamW``; the update rule and the arguments are :func:`functional_optim.adamw`'s.

    As in torch, every group has ``decoupled_weight_decay=True``, also after a load.
    """

    transform_factory = staticmethod(adamw)

    def __init__(
        self,
        params: Iterable[Any],
        lr: Hyperparam = 1e-3,
        betas: tuple[Hyperparam, Hyperparam] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
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
            "decoupled_weight_decay": True,
        }
        super().__init__(params, defaults)

    def _loaded_group(self, group: dict[str, Any], saved: dict[str, Any]) -> dict[str, Any]:
        saved = super()._loaded_group(group, saved)
        saved["decoupled_weight_decay"] = True
        return saved
