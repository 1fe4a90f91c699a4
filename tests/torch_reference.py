"""Runs torch.optim on the shared problems; used by the golden generator and the live tests.

Needs torch (a test-only dependency): import this module only where torch is importable.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from tests import problems
from tests.algorithm_table import AlgorithmInfo, TorchTensor


def torch_kwargs(config: dict) -> dict:
    """The config with ``TorchTensor`` markers turned into float32 torch tensors."""

    def convert(value):
        if isinstance(value, TorchTensor):
            return torch.tensor(value.value)
        if isinstance(value, tuple):
            return tuple(convert(v) for v in value)
        return value

    return {k: convert(v) for k, v in config.items()}


def trajectory(
    info: AlgorithmInfo,
    config: dict,
    dtype: str,
    steps: int | None = None,
    before_step: Callable[[int, torch.optim.Optimizer], None] | None = None,
) -> dict[str, np.ndarray]:
    """Params after 0..steps torch steps, as ``{leaf name: array of shape (steps + 1, *shape)}``.

    ``before_step(i, optimizer)``, if given, may edit the optimizer (its ``param_groups``)
    before step ``i`` (0-based).
    """
    steps = info.steps if steps is None else steps
    torch_dtype = getattr(torch, dtype)
    params = {
        k: torch.tensor(v, dtype=torch_dtype, requires_grad=True)
        for k, v in problems.initial_params(info.problem).items()
    }
    x, y = (torch.tensor(a, dtype=torch_dtype) for a in problems.data())
    optimizer = getattr(torch.optim, info.torch_name)(list(params.values()), **torch_kwargs(config))
    history = {k: [v.detach().numpy().copy()] for k, v in params.items()}
    for i in range(steps):
        if before_step is not None:
            before_step(i, optimizer)
        optimizer.zero_grad()
        problems.loss(info.problem, params, x, y, torch).backward()
        optimizer.step()
        for k, v in params.items():
            history[k].append(v.detach().numpy().copy())
    return {k: np.stack(v) for k, v in history.items()}
