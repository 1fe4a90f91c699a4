"""``torch.optim.Adagrad`` on :func:`functional_optim.adagrad`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from functional_optim.algorithms.adagrad import adagrad
from functional_optim.hyperparams import Hyperparam
from functional_optim.optim.optimizer import Optimizer


class Adagrad(Optimizer):
    """``torch.optim.Adagrad``; the update rule and the arguments are :func:`functional_optim.adagrad`'s.

    torch's quirks: the state of every Parameter given to the constructor is created there,
    not at its first step; and every accumulator starts at the constructor's
    ``initial_accumulator_value``, whatever its group says.
    """

    transform_factory = staticmethod(adagrad)

    def __init__(
        self,
        params: Iterable[Any],
        lr: Hyperparam = 1e-2,
        lr_decay: float = 0,
        weight_decay: float = 0,
        initial_accumulator_value: float = 0,
        eps: float = 1e-10,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ):
        defaults = {
            "lr": lr,
            "lr_decay": lr_decay,
            "eps": eps,
            "weight_decay": weight_decay,
            "initial_accumulator_value": initial_accumulator_value,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
            "fused": fused,
        }
        super().__init__(params, defaults)
        for group in self.param_groups:
            self.state.update(self._initial_states(group, group["params"]))

    def _init_values(self, group: dict[str, Any]) -> dict[str, Any]:
        return {**group, "initial_accumulator_value": self.defaults["initial_accumulator_value"]}
