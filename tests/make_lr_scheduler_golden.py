"""Writes tests/golden/lr_scheduler.npz: torch's sequences for every scenario of tests/lr_scheduler_table.py.

Needs torch 2.13.0. Run from the repository root::

    python -m tests.make_lr_scheduler_golden

Also the torch side of the live lr-scheduler tests: :data:`TORCH` is the torch
:class:`~tests.lr_scheduler_table.Backend` (SGD, Adam, ... on float64 params, one group per lr),
and :func:`torch_sequences` runs a scenario on it. The scenarios of
``lr_scheduler_table.SINGLE`` are ``tests/schedule_table.py``'s cases, whose torch sequences
are already in ``tests/golden/schedules.npz``; they are not written again.
"""

from __future__ import annotations

import pathlib
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.optim import lr_scheduler

from tests.lr_scheduler_table import SCENARIOS, Backend, Scenario

GOLDEN = pathlib.Path(__file__).parent / "golden" / "lr_scheduler.npz"


def _torch_optimizer(kind: str, lrs: Sequence[Any], **kwargs: Any) -> torch.optim.Optimizer:
    groups = [{"params": [torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))], "lr": lr} for lr in lrs]
    return getattr(torch.optim, kind)(groups, lr=0.05, **kwargs)


TORCH = Backend("torch", lr_scheduler, _torch_optimizer, lambda x: torch.tensor(x, dtype=torch.float32))


def torch_sequences(scenario: Scenario) -> dict[str, np.ndarray]:
    """The scenario run on torch, with its warnings (epoch deprecation, ...) silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return scenario.run(TORCH)


def write() -> pathlib.Path:
    arrays = {"torch_version": np.asarray(torch.__version__)}
    for scenario in SCENARIOS:
        for name, values in torch_sequences(scenario).items():
            arrays[f"{scenario.id}|{name}"] = values
    GOLDEN.parent.mkdir(exist_ok=True)
    np.savez_compressed(GOLDEN, **arrays)
    return GOLDEN


if __name__ == "__main__":
    print("wrote", write())
