"""Writes tests/golden/schedules.npz: torch's lr (and momentum) sequence for every schedule case.

Needs torch 2.13.0. Run from the repository root::

    python -m tests.make_schedule_golden

Also the torch side of the live schedule tests: :func:`torch_sequences` steps the real torch
scheduler on a dummy SGD optimizer, one param group per case lr, and records
``get_last_lr()`` (and the momentum the scheduler writes into the groups) after construction
and after each ``step()``.
"""

from __future__ import annotations

import pathlib
import warnings

import numpy as np
import torch
from torch.optim import lr_scheduler

from tests.schedule_table import CASES, ScheduleCase, Spec

GOLDEN = pathlib.Path(__file__).parent / "golden" / "schedules.npz"


def make_optimizer(lrs: tuple[float, ...]) -> torch.optim.Optimizer:
    """SGD with one param group per lr (momentum on, so CyclicLR/OneCycleLR can cycle it)."""
    groups = [{"params": [torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))], "lr": lr} for lr in lrs]
    return torch.optim.SGD(groups, lr=lrs[0], momentum=0.9)


def make_scheduler(spec: Spec, optimizer: torch.optim.Optimizer) -> lr_scheduler.LRScheduler:
    kwargs = dict(spec.kwargs)
    if spec.torch_name == "SequentialLR":
        children = [make_scheduler(s, optimizer) for s in kwargs["schedulers"]]
        return lr_scheduler.SequentialLR(optimizer, children, kwargs["milestones"])
    if spec.torch_name == "ChainedScheduler":
        children = [make_scheduler(s, optimizer) for s in kwargs["schedulers"]]
        return lr_scheduler.ChainedScheduler(children, optimizer=optimizer)
    return getattr(lr_scheduler, spec.torch_name)(optimizer, **kwargs)


def step(optimizer: torch.optim.Optimizer, scheduler: lr_scheduler.LRScheduler, steps: int) -> None:
    for _ in range(steps):
        optimizer.step()  # no grads: a no-op that keeps torch's step-order warning quiet
        scheduler.step()


def torch_sequences(case: ScheduleCase) -> dict[str, np.ndarray]:
    """``{"lr": (groups, epochs + 1)}``, plus ``"momentum"`` when the case cycles it."""
    optimizer = make_optimizer(case.lrs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scheduler = make_scheduler(case.spec, optimizer)
        lrs, momenta = [], []
        for epoch in range(case.epochs + 1):
            if epoch:
                step(optimizer, scheduler, 1)
            lrs.append([float(lr) for lr in scheduler.get_last_lr()])
            momenta.append([float(group["momentum"]) for group in optimizer.param_groups])
    result = {"lr": np.asarray(lrs, np.float64).T}
    if case.momentum:
        result["momentum"] = np.asarray(momenta, np.float64).T
    return result


def write() -> pathlib.Path:
    arrays = {"torch_version": np.asarray(torch.__version__)}
    for case in CASES:
        for name, values in torch_sequences(case).items():
            arrays[f"{case.id}|{name}"] = values
    GOLDEN.parent.mkdir(exist_ok=True)
    np.savez_compressed(GOLDEN, **arrays)
    return GOLDEN


if __name__ == "__main__":
    print("wrote", write())
