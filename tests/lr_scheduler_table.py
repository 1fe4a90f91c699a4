"""Scenarios for the lr-scheduler classes, each runnable on torch.optim or on functional_optim.optim.

A :class:`Scenario` drives schedulers on an optimizer through a :class:`Backend` (the
scheduler module and the optimizer classes of one library) and records, after construction
and after every step, the observed scheduler's ``get_last_lr()`` (``"lr"``) and, where it
cycles, each group's momentum or ``betas[0]`` (``"momentum"``). Running a scenario on torch
gives the expected sequences (``tests/make_lr_scheduler_golden.py`` stores them); on
functional_optim, the sequences under test.

:data:`SINGLE` re-uses every case of ``tests/schedule_table.py`` (torch's own lr-scheduler test
configurations among them), each scheduler stepped alone on SGD: torch's sequences for those are
``tests/golden/schedules.npz``. :data:`SCENARIOS` adds what only a stateful scheduler shows: the
recursive forms under outside changes (schedulers stepped together as in torch's "compound"
tests, ReduceLROnPlateau, the lr edited by hand), ``step(epoch)``, resuming with
``last_epoch``, momentum and beta1 cycling on several optimizers, arrays as lrs, and torch's
composite quirks.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import jax.numpy as jnp
import numpy as np

import functional_optim as fo
from functional_optim.optim import lr_scheduler
from tests.schedule_table import (
    CASES,
    EVERY_30,
    POW_09,
    POW_095,
    SLOWING,
    TIMES_09,
    TIMES_095,
    Fn,
    Spec,
    chain,
    sequential,
    spec,
)

EPOCHS = 300
LRS = (0.05, 0.5)  # torch's test optimizer: two groups


@dataclasses.dataclass(frozen=True)
class Backend:
    """One library's scheduler module and optimizers.

    ``optimizer(kind, lrs, **kwargs)`` builds ``kind`` ("SGD", "Adam", ...) with one param
    group per entry of ``lrs`` (a number, or ``array(x)`` for torch's Tensor lr); ``array(x)``
    is a float32 0-d array.
    """

    name: str
    lr_scheduler: Any
    optimizer: Callable[..., Any]
    array: Callable[[float], Any]


def _our_optimizer(kind: str, lrs: Sequence[Any], **kwargs: Any) -> fo.optim.Optimizer:
    groups = [{"params": [fo.Parameter(jnp.zeros(1, jnp.float64))], "lr": lr} for lr in lrs]
    return getattr(fo.optim, kind)(groups, lr=0.05, **kwargs)


OURS = Backend("functional_optim", lr_scheduler, _our_optimizer, lambda x: jnp.asarray(x, jnp.float32))


def build(backend: Backend, spec: Spec, optimizer: Any) -> Any:
    """The scheduler ``spec`` describes, on ``optimizer`` (children built first, as torch code does)."""
    kwargs = dict(spec.kwargs)
    module = backend.lr_scheduler
    if spec.torch_name == "SequentialLR":
        children = [build(backend, child, optimizer) for child in kwargs.pop("schedulers")]
        return module.SequentialLR(optimizer, children, **kwargs)
    if spec.torch_name == "ChainedScheduler":
        children = [build(backend, child, optimizer) for child in kwargs["schedulers"]]
        return module.ChainedScheduler(children, optimizer=optimizer)
    return getattr(module, spec.torch_name)(optimizer, **kwargs)


def momentum_of(group: dict[str, Any]) -> float:
    return float(group["betas"][0] if "betas" in group else group["momentum"])


class Recorder:
    """Records the observed scheduler's ``get_last_lr()`` (and the groups' momenta) step by step."""

    def __init__(self, optimizer: Any, momentum: bool):
        self.optimizer = optimizer
        self.momentum = momentum
        self.lrs: list[list[float]] = []
        self.momenta: list[list[float]] = []

    def __call__(self, scheduler: Any) -> None:
        self.lrs.append([float(lr) for lr in scheduler.get_last_lr()])
        if self.momentum:
            self.momenta.append([momentum_of(group) for group in self.optimizer.param_groups])

    def result(self) -> dict[str, np.ndarray]:
        out = {"lr": np.asarray(self.lrs, np.float64).T}
        if self.momentum:
            out["momentum"] = np.asarray(self.momenta, np.float64).T
        return out


@dataclasses.dataclass(frozen=True)
class Scenario:
    """A named run: ``run(backend) -> {"lr": (groups, records), ["momentum": ...]}``."""

    id: str
    run: Callable[[Backend], dict[str, np.ndarray]]


# -- scenario builders ---------------------------------------------------------------------------


def _label(specs: Sequence[Spec]) -> str:
    return "+".join(repr(s) for s in specs).replace(" ", "")


def stepped(
    id: str,
    specs: Sequence[Spec],
    *,
    epochs: int = EPOCHS,
    lrs: Sequence[Any] = LRS,
    optimizer: str = "SGD",
    optimizer_kwargs: dict[str, Any] | None = None,
    momentum: bool = False,
    advance: Callable[[int, list[Any], Any], None] | None = None,
) -> Scenario:
    """Schedulers built in order on one optimizer and stepped in order after every optimizer step.

    ``advance(epoch, schedulers, optimizer)`` replaces the plain ``step()`` of each. The last
    scheduler is the one observed.
    """
    kwargs = {"momentum": 0.9} if optimizer_kwargs is None and optimizer == "SGD" else (optimizer_kwargs or {})

    def run(backend: Backend) -> dict[str, np.ndarray]:
        group_lrs = [backend.array(lr.value) if isinstance(lr, ArrayLR) else lr for lr in lrs]
        opt = backend.optimizer(optimizer, group_lrs, **kwargs)
        schedulers = [build(backend, s, opt) for s in specs]
        record = Recorder(opt, momentum)
        record(schedulers[-1])
        for epoch in range(epochs):
            opt.step()
            if advance is None:
                for scheduler in schedulers:
                    scheduler.step()
            else:
                advance(epoch, schedulers, opt)
            record(schedulers[-1])
        return record.result()

    return Scenario(id, run)


@dataclasses.dataclass(frozen=True)
class ArrayLR:
    """A group lr given as a float32 array (torch's Tensor lr)."""

    value: float

    def __repr__(self) -> str:
        return f"array({self.value})"


def plateau(
    kwargs: dict[str, Any],
    metric: Fn,
    others: Sequence[Spec] = (),
    *,
    lrs: Sequence[Any] = (0.5, 0.5),
    epochs: int = EPOCHS,
    first: bool = True,
) -> Scenario:
    """ReduceLROnPlateau fed ``metric(epoch)``, alone or stepped with ``others`` (torch's compound tests)."""
    plateau_spec = Spec("ReduceLROnPlateau", kwargs)
    specs = [plateau_spec, *others] if first else [*others, plateau_spec]

    def advance(epoch: int, schedulers: list[Any], opt: Any) -> None:
        for scheduler in schedulers:
            if type(scheduler).__name__ == "ReduceLROnPlateau":
                scheduler.step(metric(epoch))
            else:
                scheduler.step()

    return stepped(
        f"plateau[{metric!r}]:{_label(specs)}@{lrs!r}".replace(" ", ""),
        specs,
        lrs=lrs,
        epochs=epochs,
        advance=advance,
    )


def with_epochs(spec: Spec, epochs: Sequence[float], then: int = 0, **kwargs: Any) -> Scenario:
    """``step(epoch)`` (deprecated: the closed form where the class has one) for each of ``epochs``,
    then ``then`` plain ``step()`` calls."""
    order = [*epochs, *([None] * then)]

    def advance(index: int, schedulers: list[Any], opt: Any) -> None:
        epoch = order[index]
        if epoch is None:
            schedulers[0].step()
        else:
            schedulers[0].step(epoch)

    name = f"{len(epochs)}epochs" if list(epochs) == list(range(len(epochs))) else ",".join(map(str, epochs))
    return stepped(
        f"step(epoch)[{name}]+{then}:{spec!r}".replace(" ", ""), [spec], epochs=len(order), advance=advance, **kwargs
    )


def resumed(spec: Spec, steps: int, **kwargs: Any) -> Scenario:
    """``steps`` steps, then a new scheduler with ``last_epoch=steps`` on the same optimizer (a resume)."""

    def run(backend: Backend) -> dict[str, np.ndarray]:
        opt = backend.optimizer("SGD", LRS, momentum=0.9)
        first = build(backend, spec, opt)
        record = Recorder(opt, kwargs.get("momentum", False))
        record(first)
        for _ in range(steps):
            opt.step()
            first.step()
            record(first)
        again = build(backend, Spec(spec.torch_name, {**spec.kwargs, "last_epoch": steps}), opt)
        record(again)
        for _ in range(EPOCHS - steps):
            opt.step()
            again.step()
            record(again)
        return record.result()

    return Scenario(f"resumed@{steps}:{spec!r}".replace(" ", ""), run)


def edited(spec: Spec, at: Sequence[int] = (50,), factor: float = 0.5, **kwargs: Any) -> Scenario:
    """The groups' lrs multiplied by ``factor`` by hand before the step of each epoch in ``at``."""

    def advance(epoch: int, schedulers: list[Any], opt: Any) -> None:
        if epoch in at:
            for group in opt.param_groups:
                group["lr"] *= factor
        schedulers[0].step()

    return stepped(f"edited{list(at)}x{factor}:{spec!r}".replace(" ", ""), [spec], advance=advance, **kwargs)


# -- the scenarios -------------------------------------------------------------------------------


SINGLE: list[Scenario] = [
    stepped(case.id, [case.spec], epochs=case.epochs, lrs=case.lrs, momentum=case.momentum) for case in CASES
]

COSINE_10 = spec("CosineAnnealingLR", T_max=10, eta_min=1e-10)

COMPOUND = [  # torch's test_compound_* (two schedulers stepping one optimizer), over 300 epochs
    stepped(f"compound:{_label(specs)}", specs)
    for specs in (
        [spec("StepLR", gamma=0.1, step_size=3), spec("MultiStepLR", gamma=0.1, milestones=[2, 5, 9])],
        [spec("StepLR", gamma=0.1, step_size=3), spec("ExponentialLR", gamma=0.9)],
        [spec("MultiStepLR", gamma=0.1, milestones=[2, 5, 9]), spec("ExponentialLR", gamma=0.9)],
        [spec("LinearLR", start_factor=0.4, end_factor=0.9, total_iters=4), spec("ExponentialLR", gamma=0.9)],
        [spec("StepLR", gamma=0.1, step_size=3), spec("ConstantLR", factor=0.4, total_iters=4)],
        [spec("MultiStepLR", gamma=0.1, milestones=[2, 5, 9]), spec("LinearLR", start_factor=0.4, total_iters=4)],
        [COSINE_10, spec("StepLR", gamma=0.1, step_size=3)],
        [COSINE_10, spec("MultiStepLR", gamma=0.1, milestones=[2, 5, 9])],
        [spec("LinearLR", start_factor=0.4, total_iters=4), COSINE_10],
        [COSINE_10, spec("ExponentialLR", gamma=0.1)],
        [spec("CosineAnnealingLR", T_max=50, eta_min=0.001), spec("StepLR", step_size=30, gamma=0.5)],
        [spec("CosineAnnealingWarmRestarts", T_0=10, T_mult=2), spec("ExponentialLR", gamma=0.99)],
        [spec("ExponentialLR", gamma=0.99), spec("CosineAnnealingWarmRestarts", T_0=10, T_mult=2)],
        [spec("MultiplicativeLR", lr_lambda=SLOWING), spec("PolynomialLR", total_iters=100, power=2.0)],
        [spec("LambdaLR", lr_lambda=POW_095), spec("StepLR", step_size=10, gamma=0.5)],
        [spec("StepLR", step_size=10, gamma=0.5), spec("LambdaLR", lr_lambda=POW_095)],
    )
]


def _cosine_then_cyclic(epoch: int, schedulers: list[Any], opt: Any) -> None:
    cosine, cyclic = schedulers
    (cosine if epoch <= cosine.T_max else cyclic).step()


COMPOUND.append(  # torch's test_cosine_then_cyclic (pytorch#21965), observed through the groups
    stepped(
        "cosine-then-cyclic",
        [
            spec("CosineAnnealingLR", T_max=20, eta_min=0.1),
            spec("CyclicLR", base_lr=0.1, max_lr=0.3, step_size_up=1, step_size_down=3),
        ],
        lrs=(0.5, 0.05),
        advance=_cosine_then_cyclic,
        momentum=True,
    )
)


def _torch_metric(values: Sequence[float], then: Callable[[int], float]) -> Callable[[int], float]:
    return lambda epoch: values[epoch] if epoch < len(values) else then(epoch)


DOWN_0167 = Fn("10-0.0167e", lambda e: 10 - e * 0.0167)
DOWN_0165 = Fn("10-0.0165e", lambda e: 10 - e * 0.0165)
STALLED = Fn("-0.8,-0.8,-0.234...", lambda e: -0.8 if e < 2 else -0.234)
UP_1025 = Fn("1.5*1.025**e", lambda e: 1.5 * 1.025**e)
UP_1005 = Fn("1.5*1.005**e", lambda e: 1.5 * 1.005**e)
DOWN_085 = Fn("1.5*0.85**e", lambda e: 1.5 * 0.85**e)
STEPPED = Fn("1x7,0.6,0.5...", lambda e: 1 if e < 7 else 0.6 if e == 7 else 0.5)
NOISY = Fn("1/(1+0.05e)+0.01sin(1.3e)", lambda e: 1 / (1 + 0.05 * e) + 0.01 * math.sin(1.3 * e))
NOISY_MAX = Fn("accuracy", lambda e: 1 - 1 / (1 + 0.05 * e) + 0.02 * math.cos(0.7 * e))
REFERENCE = Fn(
    "reference-trace",
    _torch_metric([10, 9.5, 9.4, 9.3, 9.2, 9.1, 8, 7.9, 7.9, 7.9], lambda e: 7.9 * 0.999 ** (e - 9)),
)

# ReduceLROnPlateau alone: (arguments, metric, group lrs); also the functional form's cases
PLATEAU_ALONE: list[tuple[dict[str, Any], Fn, tuple[float, ...]]] = [
    # torch's test_reduce_lr_on_plateau1..8, their metrics continued to 300 epochs
    ({"threshold_mode": "abs", "mode": "min", "threshold": 0.01, "patience": 5, "cooldown": 5}, DOWN_0167, (0.5, 0.5)),
    ({"patience": 5, "cooldown": 0, "threshold_mode": "abs", "mode": "min", "threshold": 0.1}, DOWN_0165, (0.5, 0.5)),
    ({"mode": "max", "patience": 5, "cooldown": 5, "threshold_mode": "abs"}, STALLED, (0.5, 0.5)),
    ({"mode": "max", "patience": 3, "threshold_mode": "rel", "threshold": 0.1}, UP_1025, (0.5, 0.5)),
    ({"mode": "max", "threshold_mode": "rel", "threshold": 0.1, "patience": 5, "cooldown": 5}, UP_1005, (0.5, 0.5)),
    ({"mode": "min", "threshold_mode": "rel", "threshold": 0.1}, DOWN_085, (0.5, 0.5)),
    ({"mode": "min", "threshold_mode": "rel", "threshold": 0.1, "patience": 5, "cooldown": 5}, STEPPED, (0.5, 0.5)),
    (
        {"mode": "max", "threshold_mode": "rel", "min_lr": [0.4, 0.3], "threshold": 0.1, "patience": 5, "cooldown": 5},
        UP_1005,
        (0.5, 0.5),
    ),
    # the reference's verified trace; noisy metrics with floors, skipped small drops, max mode
    ({"factor": 0.5, "patience": 2, "cooldown": 1, "min_lr": [0.01, 0.2], "threshold": 0.1}, REFERENCE, LRS),
    ({"factor": 0.5, "patience": 3, "cooldown": 2, "min_lr": [1e-4, 1e-3]}, NOISY, LRS),
    ({"factor": 0.99, "patience": 2, "eps": 1e-3}, NOISY, LRS),
    ({"mode": "max", "factor": 0.7, "patience": 4, "threshold": 0.02, "threshold_mode": "abs"}, NOISY_MAX, (0.5, 0.5)),
    ({"patience": 0, "factor": 0.5, "min_lr": 1e-6}, NOISY, LRS),
]

PLATEAU = [
    *(plateau(kwargs, metric, lrs=lrs) for kwargs, metric, lrs in PLATEAU_ALONE),
    # torch's test_compound_reduce_lr_on_plateau1..5, and a cosine the plateau interrupts
    plateau(
        {"threshold_mode": "abs", "mode": "min", "threshold": 0.01, "patience": 5, "cooldown": 5},
        DOWN_0167,
        [spec("StepLR", gamma=0.1, step_size=3)],
    ),
    plateau(
        {"patience": 5, "cooldown": 0, "threshold_mode": "abs", "mode": "min", "threshold": 0.1},
        DOWN_0165,
        [spec("MultiStepLR", gamma=0.1, milestones=[3, 8, 12])],
    ),
    plateau(
        {"mode": "max", "patience": 5, "cooldown": 5, "threshold_mode": "abs"},
        STALLED,
        [spec("ExponentialLR", gamma=0.1)],
    ),
    plateau(
        {"mode": "max", "patience": 3, "threshold_mode": "rel", "threshold": 0.1},
        UP_1025,
        [spec("CosineAnnealingLR", T_max=10, eta_min=1e-10)],
        lrs=(0.05, 0.05),
    ),
    plateau(
        {"patience": 5, "cooldown": 0, "threshold_mode": "abs", "mode": "min", "threshold": 0.1},
        DOWN_0165,
        [spec("LinearLR", start_factor=0.4, total_iters=4)],
    ),
    plateau({"factor": 0.5, "patience": 3}, NOISY, [spec("CosineAnnealingLR", T_max=50, eta_min=1e-4)], lrs=LRS),
    plateau({"factor": 0.5, "patience": 3}, NOISY, [spec("CosineAnnealingLR", T_max=50)], lrs=LRS, first=False),
]

CAWR_EPOCHS = {  # torch's test_CosineAnnealingWarmRestarts_lr3: interleaved step(epoch) calls
    1: [0, 1, 2, 3, 4, 5, 12, 27, 3, 4, 5, 6, 13],
    2: [0, 1, 2, 3, 4, 5, 25, 32, 33, 34, 80, 81, 3],
    3: [0, 0.1, 0.2, 0.3, 1.3, 2.3, 17.5, 18.5, 19.5, 29.5, 30.5, 31.5, 50],
}
TENTHS = [round(i * 0.1, 1) for i in range(300)]  # torch's test_CosineAnnealingWarmRestarts_lr2
JUMPS = [0, 1, 2, 3, 7, 7, 4, 12, 30, 29, 100, 0, 5, 250, 299, 6]
WITH_CLOSED_FORM = [
    spec("StepLR", gamma=0.1, step_size=3),
    spec("MultiStepLR", gamma=0.1, milestones=[2, 5, 9]),
    spec("MultiStepLR", gamma=0.5, milestones=[-1, 3, 3, 40]),
    spec("ConstantLR", factor=1.0 / 3, total_iters=4),
    spec("ConstantLR", factor=0.5, total_iters=0),
    spec("LinearLR", start_factor=1.0 / 3, end_factor=0.7, total_iters=4),
    spec("LinearLR", start_factor=0.1, total_iters=100),
    spec("ExponentialLR", gamma=0.9),
    spec("PolynomialLR", power=0.9),
    spec("PolynomialLR", total_iters=200, power=2.0),
    spec("CosineAnnealingLR", T_max=5, eta_min=1e-10),
    spec("CosineAnnealingLR", T_max=100, eta_min=0.001),
]
WITHOUT_CLOSED_FORM = [
    spec("LambdaLR", lr_lambda=POW_095),
    spec("MultiplicativeLR", lr_lambda=TIMES_095),
    spec("CyclicLR", base_lr=0.01, max_lr=0.1, step_size_up=7),
    spec("OneCycleLR", max_lr=0.1, total_steps=300),
]

EPOCH_ARGUMENT = [
    *(with_epochs(s, range(EPOCHS)) for s in WITH_CLOSED_FORM),
    *(with_epochs(s, JUMPS, then=100) for s in WITH_CLOSED_FORM + WITHOUT_CLOSED_FORM),
    *(
        with_epochs(spec("CosineAnnealingWarmRestarts", T_0=10, T_mult=t, eta_min=1e-10), TENTHS, then=50)
        for t in (1, 2, 4)
    ),
    *(
        with_epochs(spec("CosineAnnealingWarmRestarts", T_0=10, T_mult=t, eta_min=1e-10), CAWR_EPOCHS[t], then=100)
        for t in (1, 2, 3)
    ),
]

RESUMED = [
    resumed(spec("StepLR", gamma=0.1, step_size=3), 2),
    resumed(spec("StepLR", gamma=0.1, step_size=3), 4),
    resumed(spec("MultiStepLR", gamma=0.1, milestones=[2, 5, 9]), 1),
    resumed(spec("MultiStepLR", gamma=0.1, milestones=[2, 5, 9]), 4),
    resumed(spec("ConstantLR", factor=0.5, total_iters=3), 2),
    resumed(spec("ConstantLR", factor=0.5, total_iters=3), 0),
    resumed(spec("LinearLR", start_factor=0.5, total_iters=4), 1),
    resumed(spec("ExponentialLR", gamma=0.9), 3),
    resumed(spec("PolynomialLR", total_iters=10, power=2.0), 2),
    resumed(spec("CosineAnnealingLR", T_max=10, eta_min=0.1), 0),
    resumed(spec("CosineAnnealingLR", T_max=10), 3),
    resumed(spec("CosineAnnealingWarmRestarts", T_0=3, T_mult=2), 4),
    resumed(spec("LambdaLR", lr_lambda=POW_095), 3),
    resumed(spec("MultiplicativeLR", lr_lambda=TIMES_095), 3),
    resumed(spec("CyclicLR", base_lr=0.01, max_lr=0.1, step_size_up=5), 7, momentum=True),
    resumed(spec("OneCycleLR", max_lr=0.1, total_steps=310), 10, momentum=True),
]

EDITED = [
    edited(spec("CosineAnnealingLR", T_max=10)),
    edited(spec("CosineAnnealingLR", T_max=100, eta_min=0.001), at=(30, 150)),
    edited(spec("ExponentialLR", gamma=0.99)),
    edited(spec("StepLR", step_size=30, gamma=0.5)),
    edited(spec("LinearLR", start_factor=0.1, total_iters=100)),
    edited(spec("PolynomialLR", total_iters=200, power=2.0)),
    edited(spec("MultiplicativeLR", lr_lambda=SLOWING)),
    edited(spec("ConstantLR", factor=0.5, total_iters=80)),
    edited(spec("LambdaLR", lr_lambda=POW_095)),
    edited(spec("CyclicLR", base_lr=0.01, max_lr=0.1, step_size_up=20)),
    edited(spec("CosineAnnealingWarmRestarts", T_0=10, T_mult=2)),
    edited(spec("OneCycleLR", max_lr=0.1, total_steps=300)),
    edited(
        sequential([spec("LinearLR", start_factor=0.1, total_iters=20), spec("CosineAnnealingLR", T_max=280)], [20]),
        at=(10, 50),
    ),
]

CYCLIC_TORCH = dict(base_lr=1, max_lr=5, step_size_up=4, base_momentum=1, max_momentum=5)
MOMENTUM = [
    # torch's per-group CyclicLR tests (SGD), and beta1 cycling on the betas optimizers
    stepped(
        "cyclic-per-group",
        [spec("CyclicLR", base_lr=[1, 2], max_lr=[5, 6], step_size_up=4, base_momentum=[1, 2], max_momentum=[5, 6])],
        momentum=True,
    ),
    stepped(
        "cyclic-per-group-triangular2",
        [
            spec(
                "CyclicLR",
                base_lr=[1, 3],
                max_lr=[5, 7],
                step_size_up=2,
                step_size_down=6,
                base_momentum=[1, 3],
                max_momentum=[5, 7],
                mode="triangular2",
            )
        ],
        momentum=True,
    ),
    stepped(
        "cyclic-per-group-exp-range",
        [
            spec(
                "CyclicLR",
                base_lr=[1, 5],
                max_lr=[5, 12],
                step_size_up=4,
                base_momentum=[1, 5],
                max_momentum=[5, 12],
                mode="exp_range",
                gamma=0.9,
            )
        ],
        momentum=True,
    ),
    stepped(
        "cyclic-adam", [spec("CyclicLR", base_lr=0.01, max_lr=0.1, step_size_up=4)], optimizer="Adam", momentum=True
    ),
    stepped(
        "cyclic-adamw-triangular2",
        [spec("CyclicLR", base_lr=0.001, max_lr=0.01, step_size_up=3, step_size_down=5, mode="triangular2")],
        optimizer="AdamW",
        momentum=True,
    ),
    stepped(
        "cyclic-nadam-exp-range",
        [spec("CyclicLR", base_lr=0.001, max_lr=0.01, step_size_up=10, mode="exp_range", gamma=0.995)],
        optimizer="NAdam",
        momentum=True,
    ),
    stepped(
        "cyclic-adam-no-momentum",
        [spec("CyclicLR", base_lr=1, max_lr=5, step_size_up=4, cycle_momentum=False)],
        optimizer="Adam",
        momentum=True,
    ),
    stepped(
        "cyclic-sgd-momentum-off",  # cycling switches SGD's momentum on
        [spec("CyclicLR", base_lr=0.01, max_lr=0.1, step_size_up=5)],
        optimizer_kwargs={},
        momentum=True,
    ),
    stepped(
        "cyclic-rmsprop",
        [spec("CyclicLR", base_lr=0.001, max_lr=0.01, step_size_up=6)],
        optimizer="RMSprop",
        momentum=True,
    ),
    stepped("one-cycle-adam", [spec("OneCycleLR", max_lr=0.01, total_steps=300)], optimizer="Adam", momentum=True),
    stepped(
        "one-cycle-adam-linear-three-phase",
        [spec("OneCycleLR", max_lr=0.01, total_steps=300, anneal_strategy="linear", three_phase=True)],
        optimizer="Adam",
        momentum=True,
    ),
    stepped(  # torch's test_cycle_lr_with_adam
        "one-cycle-adam-torch-test",
        [
            spec(
                "OneCycleLR",
                max_lr=25,
                final_div_factor=2,
                base_momentum=1,
                max_momentum=22,
                total_steps=10,
                anneal_strategy="linear",
            )
        ],
        epochs=10,
        optimizer="Adam",
        momentum=True,
    ),
    stepped(
        "one-cycle-per-group",
        [
            spec(
                "OneCycleLR",
                max_lr=[0.1, 0.2],
                total_steps=300,
                base_momentum=[0.8, 0.85],
                max_momentum=[0.9, 0.95],
                div_factor=10.0,
            )
        ],
        momentum=True,
    ),
    stepped(
        "one-cycle-rmsprop",
        [spec("OneCycleLR", max_lr=0.01, epochs=30, steps_per_epoch=10)],
        optimizer="RMSprop",
        momentum=True,
    ),
]

COMPOSITE = [
    # a SequentialLR inside a SequentialLR runs one epoch ahead (torch's recursive_undo skips it)
    stepped(
        "sequential-nested-first",
        [
            sequential(
                [
                    sequential([spec("ExponentialLR", gamma=0.9), spec("StepLR", step_size=2, gamma=0.5)], [3]),
                    spec("ConstantLR", factor=0.5, total_iters=2),
                ],
                [10],
            )
        ],
    ),
    stepped(  # milestones torch accepts but sequential_lr rejects
        "sequential-fractional-milestone",
        [sequential([spec("ExponentialLR", gamma=0.9), spec("StepLR", step_size=2, gamma=0.5)], [2.5])],
    ),
    stepped(
        "sequential-decreasing-milestones",
        [
            sequential(
                [spec("ExponentialLR", gamma=0.9), spec("StepLR", step_size=2, gamma=0.5), spec("ConstantLR")], [5, 2]
            )
        ],
    ),
    stepped(  # OneCycleLR, built second, overwrites initial_lr, which SequentialLR restores first
        "sequential-linear-then-one-cycle",
        [
            sequential(
                [spec("LinearLR", start_factor=0.1, total_iters=10), spec("OneCycleLR", max_lr=0.1, total_steps=300)],
                [10],
            )
        ],
        momentum=True,
    ),
    stepped(  # restarting CosineAnnealingWarmRestarts at a milestone keeps its T_cur
        "sequential-constant-then-restarts",
        [
            sequential(
                [spec("ConstantLR", factor=0.5, total_iters=5), spec("CosineAnnealingWarmRestarts", T_0=7, T_mult=2)],
                [5],
            )
        ],
    ),
    stepped(
        "sequential-cyclic-then-exponential",
        [
            sequential(
                [spec("CyclicLR", base_lr=0.01, max_lr=0.1, step_size_up=10), spec("ExponentialLR", gamma=0.99)],
                [100],
            )
        ],
        momentum=True,
    ),
    stepped(
        "sequential-lambdas",
        [sequential([spec("LambdaLR", lr_lambda=POW_09), spec("LambdaLR", lr_lambda=EVERY_30)], [50])],
    ),
    # ChainedScheduler accepts the schedulers chained() rejects
    stepped(
        "chained-cosine-exponential",
        [chain(spec("CosineAnnealingLR", T_max=20), spec("ExponentialLR", gamma=0.99))],
    ),
    stepped(
        "chained-lambda-step", [chain(spec("LambdaLR", lr_lambda=POW_095), spec("StepLR", step_size=10, gamma=0.5))]
    ),
    stepped(
        "chained-cyclic-exponential",
        [chain(spec("CyclicLR", base_lr=0.01, max_lr=0.1, step_size_up=5), spec("ExponentialLR", gamma=0.99))],
        momentum=True,
    ),
    stepped(
        "chained-restarts-linear",
        [
            chain(
                spec("CosineAnnealingWarmRestarts", T_0=10, T_mult=2),
                spec("LinearLR", start_factor=0.1, total_iters=20),
            )
        ],
    ),
    stepped(
        "chained-sequential-step",
        [
            chain(
                sequential(
                    [spec("LinearLR", start_factor=0.1, total_iters=10), spec("ExponentialLR", gamma=0.99)], [10]
                ),
                spec("StepLR", step_size=50, gamma=0.5),
            )
        ],
    ),
    stepped("chained-multiplicative", [chain(spec("MultiplicativeLR", lr_lambda=TIMES_09), spec("ConstantLR"))]),
]

ARRAY_EPOCHS = 60  # eager jax arithmetic on the array lr: slower than Python floats
ARRAY_LR = [  # torch's test set-up: the second group's lr is a Tensor
    stepped(f"array-lr:{_label([s])}", [s], lrs=(0.05, ArrayLR(0.5)), epochs=ARRAY_EPOCHS)
    for s in (
        spec("StepLR", gamma=0.1, step_size=3),
        spec("MultiStepLR", gamma=0.1, milestones=[2, 5, 9]),
        spec("ConstantLR", factor=0.5, total_iters=5),
        spec("LinearLR", start_factor=0.5, total_iters=4),
        spec("ExponentialLR", gamma=0.9),
        spec("PolynomialLR", power=0.9, total_iters=5),
        spec("CosineAnnealingLR", T_max=10, eta_min=1e-10),
        spec("CosineAnnealingWarmRestarts", T_0=10, T_mult=2),
        spec("LambdaLR", lr_lambda=POW_095),
        spec("MultiplicativeLR", lr_lambda=TIMES_095),
        spec("CyclicLR", base_lr=0.01, max_lr=0.1, step_size_up=4),
        sequential([spec("ConstantLR", factor=0.1, total_iters=3), spec("ExponentialLR", gamma=0.9)], [3]),
    )
]
ARRAY_LR.append(  # torch's test_sequentiallr_does_not_alias_lr_and_initial_lr
    stepped(
        "array-lr:sequential-linear-linear",
        [
            sequential(
                [
                    spec("LinearLR", start_factor=0.1, end_factor=0.8, total_iters=4),
                    spec("LinearLR", start_factor=0.8, end_factor=0.1, total_iters=4),
                ],
                [4],
            )
        ],
        lrs=(ArrayLR(2.0),),
        epochs=ARRAY_EPOCHS,
    )
)
ARRAY_LR.append(plateau({"mode": "min", "patience": 0}, NOISY, lrs=(0.05, ArrayLR(0.5)), epochs=ARRAY_EPOCHS))

SCENARIOS: list[Scenario] = [
    *COMPOUND,
    *PLATEAU,
    *EPOCH_ARGUMENT,
    *RESUMED,
    *EDITED,
    *MOMENTUM,
    *COMPOSITE,
    *ARRAY_LR,
]

assert len({s.id for s in SCENARIOS}) == len(SCENARIOS), "scenario ids must be unique"
assert len({s.id for s in SINGLE}) == len(SINGLE)


# -- state_dict round trips ----------------------------------------------------------------------


def decay_095(epoch: int) -> float:
    return 0.95**epoch


ROUND_TRIPS: list[tuple[Spec, bool]] = [  # (scheduler, whether it cycles the momentum)
    (spec("LambdaLR", lr_lambda=decay_095), False),
    (spec("LambdaLR", lr_lambda=Fn("0.9**e", lambda e: 0.9**e)), False),
    (spec("MultiplicativeLR", lr_lambda=TIMES_095), False),
    (spec("StepLR", gamma=0.1, step_size=3), False),
    (spec("MultiStepLR", gamma=0.1, milestones=[2, 5, 5, 9]), False),
    (spec("ConstantLR", factor=0.5, total_iters=8), False),
    (spec("LinearLR", start_factor=0.25, end_factor=0.9, total_iters=12), False),
    (spec("ExponentialLR", gamma=0.9), False),
    (spec("PolynomialLR", total_iters=20, power=0.9), False),
    (spec("CosineAnnealingLR", T_max=7, eta_min=1e-3), False),
    (spec("CosineAnnealingWarmRestarts", T_0=3, T_mult=2, eta_min=1e-3), False),
    (spec("CyclicLR", base_lr=0.01, max_lr=0.1, step_size_up=3, mode="exp_range", gamma=0.99), True),
    (spec("CyclicLR", base_lr=0.01, max_lr=0.1, step_size_up=3, scale_fn=decay_095, scale_mode="iterations"), True),
    (spec("OneCycleLR", max_lr=0.1, total_steps=40, three_phase=True), True),
    (
        sequential([spec("LinearLR", start_factor=0.1, total_iters=5), spec("CosineAnnealingLR", T_max=20)], [5]),
        False,
    ),
    (chain(spec("ExponentialLR", gamma=0.95), spec("StepLR", step_size=4, gamma=0.5)), False),
    (Spec("ReduceLROnPlateau", {"factor": 0.5, "patience": 1, "cooldown": 1, "min_lr": [1e-3, 1e-2]}), False),
]


# -- invalid arguments ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ErrorCase:
    """``build(backend)`` must raise ``error`` whose message starts with ``match`` (torch's message).

    ``torch_match`` replaces ``match`` for torch where its message differs (None: the same).
    """

    id: str
    error: type[BaseException]
    match: str
    build: Callable[[Backend], Any]
    torch_match: str | None = None


def _raises(spec: Spec, *, steps: int = 0, optimizer: str = "SGD", **optimizer_kwargs: Any) -> Callable[[Backend], Any]:
    """Builds ``spec`` on a two-group optimizer, then steps it ``steps`` times."""
    if optimizer == "SGD" and not optimizer_kwargs:
        optimizer_kwargs = {"momentum": 0.9}

    def run(backend: Backend) -> None:
        opt = backend.optimizer(optimizer, LRS, **optimizer_kwargs)
        scheduler = build(backend, spec, opt)
        for _ in range(steps):
            opt.step()
            scheduler.step()

    return run


def _error(id: str, error: type[BaseException], match: str, torch_name: str, **kwargs: Any) -> ErrorCase:
    return ErrorCase(id, error, match, _raises(spec(torch_name, **kwargs)))


class NotAnOptimizer:
    """Has what torch's LambdaLR reads before its type check (``param_groups``), but is no Optimizer."""

    def __init__(self) -> None:
        self.param_groups = [{"lr": 0.1}]
        self.defaults = {"momentum": 0.9}


def _not_an_optimizer(torch_name: str, **kwargs: Any) -> ErrorCase:
    def run(backend: Backend) -> None:
        getattr(backend.lr_scheduler, torch_name)(NotAnOptimizer(), **kwargs)

    return ErrorCase(f"not-an-optimizer-{torch_name}", TypeError, "NotAnOptimizer is not an Optimizer", run)


def _other_optimizer(kind: str) -> ErrorCase:
    def run(backend: Backend) -> None:
        opt, other = backend.optimizer("SGD", LRS), backend.optimizer("SGD", LRS)
        children = [backend.lr_scheduler.ExponentialLR(opt, 0.9), backend.lr_scheduler.StepLR(other, 2)]
        if kind == "SequentialLR":
            backend.lr_scheduler.SequentialLR(opt, children, [3])
        else:
            backend.lr_scheduler.ChainedScheduler(children)

    return ErrorCase(
        f"{kind}-other-optimizer", ValueError, f"{kind} expects all schedulers to belong to the same optimizer", run
    )


def _with_plateau(kind: str) -> ErrorCase:
    def run(backend: Backend) -> None:
        opt = backend.optimizer("SGD", LRS)
        children = [backend.lr_scheduler.ExponentialLR(opt, 0.9), backend.lr_scheduler.ReduceLROnPlateau(opt)]
        if kind == "SequentialLR":
            backend.lr_scheduler.SequentialLR(opt, children, [3])
        else:
            backend.lr_scheduler.ChainedScheduler(children)

    return ErrorCase(f"{kind}-plateau", ValueError, f"{kind} does not support `ReduceLROnPlateau` scheduler", run)


def _without_optimizer(kind: str) -> ErrorCase:
    def run(backend: Backend) -> None:
        opt = backend.optimizer("SGD", LRS)
        if kind == "SequentialLR":
            backend.lr_scheduler.SequentialLR(opt, [object()], [])
        else:
            backend.lr_scheduler.ChainedScheduler([object()], optimizer=opt)

    return ErrorCase(
        f"{kind}-no-optimizer", TypeError, f"{kind} at index 0 should have `optimizer` as its attribute.", run
    )


def _resume_without_initial_lr(backend: Backend) -> None:
    backend.lr_scheduler.StepLR(backend.optimizer("SGD", LRS), step_size=3, last_epoch=1)


def _negative_epoch(backend: Backend) -> None:
    backend.lr_scheduler.CosineAnnealingWarmRestarts(backend.optimizer("SGD", LRS), T_0=3).step(-1)


def _plateau_after_new_group(backend: Backend) -> None:
    opt = backend.optimizer("SGD", LRS)
    scheduler = backend.lr_scheduler.ReduceLROnPlateau(opt, patience=0, min_lr=[1e-5, 1e-4])
    extra = backend.optimizer("SGD", (0.05,)).param_groups[0]["params"]
    opt.add_param_group({"params": extra, "lr": 0.05})
    scheduler.step(1.0)
    scheduler.step(1.3)


_ONE_CYCLE_STEPS = "You must define either total_steps OR (epochs AND steps_per_epoch)"
_NO_MOMENTUM = "optimizer must support momentum or beta1 with `cycle_momentum` option enabled"
_SAME_LENGTH = "must have the same length as optimizer.param_groups."

ERRORS: list[ErrorCase] = [
    *(
        _not_an_optimizer(name, **kwargs)
        for name, kwargs in [
            ("LambdaLR", {"lr_lambda": POW_095}),
            ("MultiplicativeLR", {"lr_lambda": TIMES_095}),
            ("StepLR", {"step_size": 3}),
            ("MultiStepLR", {"milestones": [2]}),
            ("ConstantLR", {}),
            ("LinearLR", {}),
            ("ExponentialLR", {"gamma": 0.9}),
            ("PolynomialLR", {}),
            ("CosineAnnealingLR", {"T_max": 10}),
            ("CosineAnnealingWarmRestarts", {"T_0": 10}),
            ("CyclicLR", {"base_lr": 0.01, "max_lr": 0.1}),
            ("OneCycleLR", {"max_lr": 0.1, "total_steps": 10}),
            ("ReduceLROnPlateau", {}),
        ]
    ),
    ErrorCase(
        "resume-without-initial-lr",
        KeyError,
        "param 'initial_lr' is not specified in param_groups[0] when resuming scheduler with last_epoch >= 0.",
        _resume_without_initial_lr,
    ),
    _error("lambda-count", ValueError, "Expected 2 lr_lambdas, but got 3", "LambdaLR", lr_lambda=[POW_095] * 3),
    _error(
        "multiplicative-count", ValueError, "Expected 2 lr_lambdas, but got 1", "MultiplicativeLR", lr_lambda=[TIMES_09]
    ),
    _error(
        "multiplicative-not-callable",
        TypeError,
        "lr_lambda should be a function, but got float",
        "MultiplicativeLR",
        lr_lambda=[TIMES_09, 0.95],
    ),
    _error(
        "constant-factor-high",
        ValueError,
        "Constant multiplicative factor expected to be between 0 and 1.",
        "ConstantLR",
        factor=1.5,
    ),
    _error(
        "constant-factor-negative",
        ValueError,
        "Constant multiplicative factor expected to be between 0 and 1.",
        "ConstantLR",
        factor=-0.1,
    ),
    ErrorCase(  # factor 0 is allowed, but the recursive form divides by it at total_iters
        "constant-factor-zero",
        ZeroDivisionError,
        "float division by zero",
        _raises(spec("ConstantLR", factor=0.0, total_iters=3), steps=3),
    ),
    _error(
        "linear-start-zero",
        ValueError,
        "Starting multiplicative factor expected to be greater than 0 and less or equal to 1.",
        "LinearLR",
        start_factor=0.0,
    ),
    _error(
        "linear-start-high",
        ValueError,
        "Starting multiplicative factor expected to be greater than 0 and less or equal to 1.",
        "LinearLR",
        start_factor=1.1,
    ),
    _error(
        "linear-end-high",
        ValueError,
        "Ending multiplicative factor expected to be between 0 and 1.",
        "LinearLR",
        end_factor=1.5,
    ),
    _error(
        "linear-end-negative",
        ValueError,
        "Ending multiplicative factor expected to be between 0 and 1.",
        "LinearLR",
        end_factor=-0.5,
    ),
    ErrorCase("step-size-zero", ZeroDivisionError, "", _raises(spec("StepLR", step_size=0), steps=1)),
    ErrorCase("cosine-t-max-zero", ZeroDivisionError, "", _raises(spec("CosineAnnealingLR", T_max=0), steps=1)),
    _error(
        "restarts-t0-zero", ValueError, "Expected positive integer T_0, but got 0", "CosineAnnealingWarmRestarts", T_0=0
    ),
    _error(
        "restarts-t0-float",
        ValueError,
        "Expected positive integer T_0, but got 2.0",
        "CosineAnnealingWarmRestarts",
        T_0=2.0,
    ),
    _error(
        "restarts-t-mult-zero",
        ValueError,
        "Expected integer T_mult >= 1, but got 0",
        "CosineAnnealingWarmRestarts",
        T_0=2,
        T_mult=0,
    ),
    _error(
        "restarts-t-mult-float",
        ValueError,
        "Expected integer T_mult >= 1, but got 1.5",
        "CosineAnnealingWarmRestarts",
        T_0=2,
        T_mult=1.5,
    ),
    _error(
        "restarts-eta-min-none",
        ValueError,
        "Expected float or int eta_min, but got None of type <class 'NoneType'>",
        "CosineAnnealingWarmRestarts",
        T_0=2,
        eta_min=None,
    ),
    ErrorCase("restarts-negative-epoch", ValueError, "Expected non-negative epoch, but got -1", _negative_epoch),
    _error(
        "cyclic-mode", ValueError, "mode is invalid and scale_fn is None", "CyclicLR", base_lr=0, max_lr=0, mode="CATS"
    ),
    _error(
        "cyclic-base-lrs",
        ValueError,
        f"base_lr {_SAME_LENGTH} base_lr has 3 values, param_groups has 2.",
        "CyclicLR",
        base_lr=[0.01, 0.02, 0.03],
        max_lr=0.1,
    ),
    _error(
        "cyclic-max-lrs",
        ValueError,
        f"max_lr {_SAME_LENGTH} max_lr has 1 values",
        "CyclicLR",
        base_lr=0.01,
        max_lr=[0.1],
    ),
    _error(
        "cyclic-momenta",
        ValueError,
        f"base_momentum {_SAME_LENGTH}",
        "CyclicLR",
        base_lr=0.01,
        max_lr=0.1,
        base_momentum=[0.8, 0.85, 0.9],
    ),
    ErrorCase(
        "cyclic-rprop", ValueError, _NO_MOMENTUM, _raises(spec("CyclicLR", base_lr=1, max_lr=5), optimizer="Rprop")
    ),
    ErrorCase(
        "cyclic-adagrad", ValueError, _NO_MOMENTUM, _raises(spec("CyclicLR", base_lr=1, max_lr=5), optimizer="Adagrad")
    ),
    ErrorCase(
        "cyclic-step-size-zero",
        ZeroDivisionError,
        "float division by zero",
        _raises(spec("CyclicLR", base_lr=0.1, max_lr=1.0, step_size_up=0, step_size_down=5)),
    ),
    _error("one-cycle-no-steps", ValueError, _ONE_CYCLE_STEPS, "OneCycleLR", max_lr=1e-3),
    _error("one-cycle-epochs-only", ValueError, _ONE_CYCLE_STEPS, "OneCycleLR", max_lr=1e-3, epochs=3),
    _error(
        "one-cycle-total-zero",
        ValueError,
        "Expected positive integer total_steps, but got 0",
        "OneCycleLR",
        max_lr=1e-3,
        total_steps=0,
    ),
    _error(
        "one-cycle-total-float",
        ValueError,
        "Expected positive integer total_steps, but got 10.0",
        "OneCycleLR",
        max_lr=1e-3,
        total_steps=10.0,
    ),
    _error(
        "one-cycle-epochs-zero",
        ValueError,
        "Expected positive integer epochs, but got 0",
        "OneCycleLR",
        max_lr=1e-3,
        epochs=0,
        steps_per_epoch=10,
    ),
    _error(
        "one-cycle-steps-negative",
        ValueError,
        "Expected positive integer steps_per_epoch, but got -1",
        "OneCycleLR",
        max_lr=1e-3,
        epochs=10,
        steps_per_epoch=-1,
    ),
    _error(
        "one-cycle-pct-high",
        ValueError,
        "Expected float between 0 and 1 pct_start, but got 1.1",
        "OneCycleLR",
        max_lr=1e-3,
        total_steps=10,
        pct_start=1.1,
    ),
    _error(
        "one-cycle-pct-int",
        ValueError,
        "Expected float between 0 and 1 pct_start, but got 0",
        "OneCycleLR",
        max_lr=1e-3,
        total_steps=10,
        pct_start=0,
    ),
    _error(
        "one-cycle-anneal",
        ValueError,
        "anneal_strategy must be one of 'cos' or 'linear', instead got CATS",
        "OneCycleLR",
        max_lr=1e-3,
        total_steps=10,
        anneal_strategy="CATS",
    ),
    _error(
        "one-cycle-max-lrs", ValueError, f"max_lr {_SAME_LENGTH}", "OneCycleLR", max_lr=[0.1, 0.2, 0.3], total_steps=10
    ),
    ErrorCase(
        "one-cycle-rprop",
        ValueError,
        _NO_MOMENTUM,
        _raises(spec("OneCycleLR", max_lr=0.1, total_steps=10), optimizer="Rprop"),
    ),
    _error(
        "one-cycle-empty-phase",
        ZeroDivisionError,
        "float division by zero",
        "OneCycleLR",
        max_lr=1e-3,
        total_steps=10,
        pct_start=0.1,
    ),
    ErrorCase(
        "one-cycle-past-total",
        ValueError,
        "Tried to step 11 times. The specified number of total steps is 10",
        _raises(spec("OneCycleLR", max_lr=0.1, total_steps=10), steps=11),
    ),
    ErrorCase(
        "sequential-empty",
        ValueError,
        "SequentialLR expects at least one scheduler, but got no scheduler.",
        _raises(sequential([], [])),
    ),
    ErrorCase(
        "sequential-milestones-count",
        ValueError,
        "Sequential Schedulers expects number of schedulers provided to be one more than the number of milestone "
        "points, but got number of schedulers 2 and the number of milestones to be equal to 2",
        _raises(sequential([spec("ExponentialLR", gamma=0.9), spec("StepLR", step_size=2)], [3, 5])),
    ),
    ErrorCase(  # torch restarts a scheduler at its milestone through get_lr(), which these lack
        "sequential-chained-after-milestone",
        NotImplementedError,
        "",
        _raises(sequential([spec("ExponentialLR", gamma=0.9), chain(spec("ExponentialLR", gamma=0.9))], [2]), steps=2),
    ),
    ErrorCase(
        "sequential-nested-after-milestone",
        NotImplementedError,
        "",
        _raises(
            sequential([spec("ExponentialLR", gamma=0.9), sequential([spec("ExponentialLR", gamma=0.9)], [])], [2]),
            steps=2,
        ),
    ),
    _other_optimizer("SequentialLR"),
    _with_plateau("SequentialLR"),
    _without_optimizer("SequentialLR"),
    ErrorCase(
        "chained-empty",
        ValueError,
        "ChainedScheduler expects at least one scheduler to be chained, but got no scheduler.",
        _raises(chain()),
    ),
    _other_optimizer("ChainedScheduler"),
    _with_plateau("ChainedScheduler"),
    _without_optimizer("ChainedScheduler"),
    _error("plateau-factor", ValueError, "Factor should be < 1.0.", "ReduceLROnPlateau", factor=1.0),
    _error("plateau-min-lrs", ValueError, "expected 2 min_lrs, got 3", "ReduceLROnPlateau", min_lr=[0.1, 0.2, 0.3]),
    _error("plateau-mode", ValueError, "mode CATS is unknown!", "ReduceLROnPlateau", mode="CATS"),
    _error(
        "plateau-threshold-mode",
        ValueError,
        "threshold mode CATS is unknown!",
        "ReduceLROnPlateau",
        threshold_mode="CATS",
    ),
    ErrorCase(
        "plateau-new-group-with-min-lr-list",
        RuntimeError,
        "The number of param groups in the `optimizer` (3) differs",
        _plateau_after_new_group,
    ),
]

assert len({e.id for e in ERRORS}) == len(ERRORS), "error ids must be unique"
