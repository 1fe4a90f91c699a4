"""``torch.optim.SparseAdam`` on :func:`functional_optim.sparse_adam`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import jax
import jax.numpy as jnp

from functional_optim.algorithms.sparse_adam import sparse_adam
from functional_optim.hyperparams import Hyperparam
from functional_optim.optim.optimizer import Optimizer
from functional_optim.optim.torch_state import StateDict


class SparseAdam(Optimizer):
    """``torch.optim.SparseAdam``; the update rule and the arguments are :func:`functional_optim.sparse_adam`'s.

    A Parameter's ``.grad`` must be a :class:`jax.experimental.sparse.BCOO` of its shape (the
    layout of torch's sparse COO gradients; see :mod:`functional_optim.algorithms.sparse_adam`
    for building one from the gradient of the looked-up rows); only the entries it names are
    updated. A dense grad raises torch's RuntimeError at the step, and complex Parameters
    torch's ValueError at construction. As in torch, ``state["step"]`` is a Python int.
    """

    transform_factory = staticmethod(sparse_adam)

    def __init__(
        self,
        params: Iterable[Any],
        lr: Hyperparam = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        maximize: bool = False,
    ):
        defaults = {"lr": lr, "betas": betas, "eps": eps, "maximize": maximize}
        super().__init__(params, defaults)
        complex_params = [
            [index, d_index]
            for index, group in enumerate(self.param_groups)
            for d_index, p in enumerate(group["params"])
            if jnp.iscomplexobj(p.data)
        ]
        if complex_params:
            raise ValueError(
                f"Complex params at indices {complex_params}: SparseAdam does not support complex parameters"
            )

    def _update(self) -> None:
        # torch counts steps in a Python int; the transform counts in an int32 array, made here
        # for the compiled step (a fresh one per Parameter: state buffers are donated).
        params = list(dict.fromkeys(p for group in self.param_groups for p in group["params"]))
        steps = {p: _python_int(self.state[p]["step"]) for p in params if "step" in self.state.get(p, {})}
        stepped = [p for p in params if p.grad is not None]
        for p, step in steps.items():
            self.state[p]["step"] = jnp.asarray(step, jnp.int32)
        done = False
        try:
            super()._update()
            done = True
        finally:
            for p, step in steps.items():
                self.state[p]["step"] = step
            if done:
                for p in stepped:
                    self.state[p]["step"] = steps.get(p, 0) + 1

    def load_state_dict(self, state_dict: StateDict) -> None:
        super().load_state_dict(state_dict)
        for group in self.param_groups:
            for p in group["params"]:
                fields = self.state.get(p)
                if fields and "step" in fields:
                    fields["step"] = _python_int(fields["step"])


def _python_int(step: Any) -> int:
    return step if isinstance(step, int) else int(jax.device_get(step))
