"""One table of torch lr schedulers and their arguments drives the schedule tests.

Each :class:`ScheduleCase` is a torch scheduler (or a SequentialLR / ChainedScheduler of
them) described by a :class:`Spec`, run on an optimizer with one param group per entry of
``lrs``. The argument grid holds the configurations torch 2.13's own lr-scheduler tests use
(``test/optim/test_lrscheduler.py``), the reference's verified examples, and the degenerate
arguments where torch's recursive and closed forms differ. :func:`build` turns a spec into
the functional_optim schedule for one param group; ``tests/make_schedule_golden.py`` turns it
into the torch scheduler.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from collections.abc import Callable
from typing import Any

from functional_optim import schedules

EPOCHS = 300

FUNCTIONS = {
    "LambdaLR": schedules.lambda_lr,
    "MultiplicativeLR": schedules.multiplicative_lr,
    "StepLR": schedules.step_lr,
    "MultiStepLR": schedules.multi_step_lr,
    "ConstantLR": schedules.constant_lr,
    "LinearLR": schedules.linear_lr,
    "ExponentialLR": schedules.exponential_lr,
    "PolynomialLR": schedules.polynomial_lr,
    "CosineAnnealingLR": schedules.cosine_annealing_lr,
    "CosineAnnealingWarmRestarts": schedules.cosine_annealing_warm_restarts,
    "CyclicLR": schedules.cyclic_lr,
    "OneCycleLR": schedules.one_cycle_lr,
}
# Schedulers whose bounds are arguments rather than the optimizer's lr.
OWN_BASE = ("CyclicLR", "OneCycleLR")


@dataclasses.dataclass(frozen=True)
class Fn:
    """A named callable, so that case ids read well; works on Python and jax integers alike."""

    name: str
    fn: Callable[[Any], Any]

    def __call__(self, x: Any) -> Any:
        return self.fn(x)

    def __repr__(self) -> str:
        return self.name


@dataclasses.dataclass(frozen=True)
class Spec:
    """A torch scheduler by class name, with its arguments (children are Specs)."""

    torch_name: str
    kwargs: dict[str, Any]

    def __repr__(self) -> str:
        args = ",".join(f"{k}={_argument_repr(v)}" for k, v in self.kwargs.items())
        return f"{self.torch_name}({args})"


def _argument_repr(value: Any) -> str:
    """A function by its name (its repr holds an address, which differs between pytest workers)."""
    return value.__name__ if inspect.isfunction(value) else repr(value)


def spec(torch_name: str, **kwargs: Any) -> Spec:
    return Spec(torch_name, kwargs)


def sequential(schedulers: list[Spec], milestones: list[Any]) -> Spec:
    return Spec("SequentialLR", {"schedulers": schedulers, "milestones": milestones})


def chain(*schedulers: Spec) -> Spec:
    return Spec("ChainedScheduler", {"schedulers": list(schedulers)})


@dataclasses.dataclass(frozen=True)
class ScheduleCase:
    spec: Spec
    epochs: int = EPOCHS  # values compared: epochs 0..epochs
    lrs: tuple[float, ...] = (0.05, 0.5)  # the optimizer's param groups, torch's test set-up
    momentum: bool = False  # also compare the momentum torch writes into the groups

    @property
    def id(self) -> str:
        return re.sub(r"\s+", "", repr(self.spec))


def build(spec: Spec, lr: float) -> schedules.Schedule:
    """The functional_optim schedule for ``spec``, for a param group whose lr is ``lr``."""
    kwargs = dict(spec.kwargs)
    if spec.torch_name == "SequentialLR":
        return schedules.sequential_lr([build(s, lr) for s in kwargs["schedulers"]], kwargs["milestones"])
    if spec.torch_name == "ChainedScheduler":
        return schedules.chained([build(s, lr) for s in kwargs["schedulers"]])
    function = FUNCTIONS[spec.torch_name]
    return function(**kwargs) if spec.torch_name in OWN_BASE else function(lr, **kwargs)


def cyclic(**kwargs: Any) -> ScheduleCase:
    return ScheduleCase(spec("CyclicLR", **kwargs), momentum=kwargs.get("cycle_momentum", True))


def one_cycle(**kwargs: Any) -> ScheduleCase:
    total = kwargs.get("total_steps") or kwargs["epochs"] * kwargs["steps_per_epoch"]
    # torch raises past total_steps (and at it when the last phase is empty, pct_start=1.0)
    epochs = total - 1 if kwargs.get("pct_start") == 1.0 and not kwargs.get("three_phase") else total
    return ScheduleCase(spec("OneCycleLR", **kwargs), epochs=epochs, momentum=kwargs.get("cycle_momentum", True))


def cases(*specs: Spec) -> list[ScheduleCase]:
    return [ScheduleCase(s) for s in specs]


POW_095 = Fn("0.95**e", lambda e: 0.95**e)
POW_09 = Fn("0.9**e", lambda e: 0.9**e)
EVERY_30 = Fn("e//30", lambda e: e // 30)
TIMES_09 = Fn("0.9", lambda e: 0.9)
TIMES_095 = Fn("0.95", lambda e: 0.95)
SLOWING = Fn("1/(1+0.01e)", lambda e: 1.0 / (1.0 + 0.01 * e))
HALVING = Fn("1/(1+x)", lambda x: 1 / (1.0 + x))
DECAYING = Fn("0.99**x", lambda x: 0.99**x)

CASES: list[ScheduleCase] = [
    *cases(
        spec("LambdaLR", lr_lambda=POW_095),
        spec("LambdaLR", lr_lambda=POW_09),
        spec("LambdaLR", lr_lambda=EVERY_30),
        spec("MultiplicativeLR", lr_lambda=TIMES_09),
        spec("MultiplicativeLR", lr_lambda=TIMES_095),
        spec("MultiplicativeLR", lr_lambda=SLOWING),
        spec("StepLR", step_size=3, gamma=0.1),
        spec("StepLR", step_size=30),
        spec("StepLR", step_size=2, gamma=0.9),
        spec("StepLR", step_size=1, gamma=0.99),
        spec("StepLR", step_size=-4, gamma=0.5),
        spec("StepLR", step_size=2.5, gamma=0.5),
        spec("MultiStepLR", milestones=[2, 5, 9], gamma=0.1),
        spec("MultiStepLR", milestones=[30, 80]),
        spec("MultiStepLR", milestones=[2, 5, 5, 9], gamma=0.1),
        spec("MultiStepLR", milestones=[9, 2, 5], gamma=0.5),
        spec("MultiStepLR", milestones=[0, 3, -1, 2.5, 4.0], gamma=0.5),
        spec("ConstantLR"),
        spec("ConstantLR", factor=0.5, total_iters=5),
        spec("ConstantLR", factor=1.0 / 3, total_iters=4),
        spec("ConstantLR", factor=0.1, total_iters=3),
        spec("ConstantLR", factor=1.0, total_iters=3),
        spec("ConstantLR", factor=0.5, total_iters=0),
        spec("ConstantLR", factor=0.0, total_iters=0),
        spec("ConstantLR", factor=0.5, total_iters=2.5),
        spec("LinearLR"),
        spec("LinearLR", start_factor=0.5, total_iters=4),
        spec("LinearLR", start_factor=0.25, end_factor=0.6, total_iters=4),
        spec("LinearLR", start_factor=1.0 / 3, end_factor=0.7, total_iters=4),
        spec("LinearLR", start_factor=1.0, end_factor=0.1, total_iters=4),
        spec("LinearLR", start_factor=0.4, end_factor=0.9, total_iters=4),
        spec("LinearLR", start_factor=0.1, end_factor=1.0, total_iters=200),
        spec("LinearLR", start_factor=0.5, end_factor=1.0, total_iters=0),
        spec("LinearLR", start_factor=0.5, end_factor=0.5, total_iters=2.5),
        spec("ExponentialLR", gamma=0.9),
        spec("ExponentialLR", gamma=0.99),
        spec("ExponentialLR", gamma=1.01),
        spec("ExponentialLR", gamma=0.1),
        spec("PolynomialLR"),
        spec("PolynomialLR", total_iters=5, power=0.9),
        spec("PolynomialLR", total_iters=4, power=2.0),
        spec("PolynomialLR", total_iters=200, power=0.5),
        spec("PolynomialLR", total_iters=0),
        spec("PolynomialLR", total_iters=2.5, power=1.0),
        spec("CosineAnnealingLR", T_max=10),
        spec("CosineAnnealingLR", T_max=10, eta_min=1e-10),
        spec("CosineAnnealingLR", T_max=5, eta_min=1e-10),
        spec("CosineAnnealingLR", T_max=5, eta_min=0.001),
        spec("CosineAnnealingLR", T_max=20, eta_min=0.1),
        spec("CosineAnnealingLR", T_max=1),
        spec("CosineAnnealingLR", T_max=7.5),
        spec("CosineAnnealingLR", T_max=100),
        spec("CosineAnnealingLR", T_max=300, eta_min=1e-6),
        spec("CosineAnnealingWarmRestarts", T_0=10, T_mult=1, eta_min=1e-10),
        spec("CosineAnnealingWarmRestarts", T_0=10, T_mult=2, eta_min=1e-10),
        spec("CosineAnnealingWarmRestarts", T_0=10, T_mult=4, eta_min=1e-10),
        spec("CosineAnnealingWarmRestarts", T_0=3, T_mult=2, eta_min=0.001),
        spec("CosineAnnealingWarmRestarts", T_0=20),
        spec("CosineAnnealingWarmRestarts", T_0=1),
        spec("CosineAnnealingWarmRestarts", T_0=1, T_mult=3),
    ),
    # CyclicLR: torch's tests (SGD momentum cycled between the same bounds as the lr), the
    # reference's examples, and custom scale functions in both scale modes.
    cyclic(base_lr=1, max_lr=5, step_size_up=4, base_momentum=1, max_momentum=5, mode="triangular"),
    cyclic(base_lr=1, max_lr=5, step_size_up=4, cycle_momentum=False, mode="triangular"),
    cyclic(base_lr=1, max_lr=5, step_size_up=4, base_momentum=1, max_momentum=5, mode="triangular2"),
    cyclic(base_lr=1, max_lr=5, step_size_up=4, base_momentum=1, max_momentum=5, mode="exp_range", gamma=0.9),
    cyclic(base_lr=1, max_lr=5, step_size_up=4, step_size_down=6, base_momentum=1, max_momentum=5),
    cyclic(base_lr=1, max_lr=5, step_size_up=2, step_size_down=6, base_momentum=1, max_momentum=5, mode="triangular2"),
    cyclic(
        base_lr=1,
        max_lr=5,
        step_size_up=2,
        step_size_down=6,
        base_momentum=1,
        max_momentum=5,
        mode="exp_range",
        gamma=0.9,
    ),
    cyclic(base_lr=0.01, max_lr=0.1, step_size_up=2, step_size_down=3),
    cyclic(base_lr=0.01, max_lr=0.1),
    cyclic(base_lr=0.01, max_lr=0.1, step_size_up=7, mode="exp_range", gamma=0.99),
    cyclic(base_lr=0.01, max_lr=0.1, step_size_up=5, scale_fn=HALVING),
    cyclic(base_lr=0.01, max_lr=0.1, step_size_up=5, step_size_down=10, scale_fn=DECAYING, scale_mode="iterations"),
    cyclic(base_lr=0.1, max_lr=0.01, step_size_up=3, mode="triangular2", base_momentum=0.95, max_momentum=0.85),
    # OneCycleLR: torch's tests (total_steps=10), the reference's examples, and longer runs.
    one_cycle(
        max_lr=25, final_div_factor=2, base_momentum=1, max_momentum=22, total_steps=10, anneal_strategy="linear"
    ),
    one_cycle(
        max_lr=25,
        div_factor=25,
        base_momentum=1,
        max_momentum=22,
        total_steps=10,
        anneal_strategy="linear",
        pct_start=0.4,
        final_div_factor=4,
        three_phase=True,
    ),
    one_cycle(max_lr=25, final_div_factor=2, base_momentum=1, max_momentum=22, total_steps=10),
    one_cycle(max_lr=0.1, total_steps=12),
    one_cycle(max_lr=0.1, total_steps=12, anneal_strategy="linear", three_phase=True),
    one_cycle(max_lr=0.1, total_steps=4),
    one_cycle(max_lr=0.1, total_steps=300),
    one_cycle(max_lr=0.1, epochs=10, steps_per_epoch=30, three_phase=True),
    one_cycle(
        max_lr=0.01, total_steps=300, pct_start=0.25, anneal_strategy="linear", div_factor=10.0, final_div_factor=100.0
    ),
    one_cycle(max_lr=0.1, total_steps=301, pct_start=0.0),
    one_cycle(max_lr=0.1, total_steps=300, pct_start=1.0),
    one_cycle(max_lr=0.1, total_steps=300, pct_start=0.5, three_phase=True, cycle_momentum=False),
    # SequentialLR: torch's tests, the reference's examples, warm-up then decay, and the cases
    # where torch's restart at a milestone is not a fresh start.
    *cases(
        sequential([spec("ExponentialLR", gamma=0.8), spec("StepLR", gamma=0.1, step_size=4)], [3]),
        sequential([spec("ConstantLR", factor=0.1, total_iters=3), spec("ExponentialLR", gamma=0.9)], [3]),
        sequential([spec("ConstantLR", factor=0.1, total_iters=2), spec("ExponentialLR", gamma=0.9)], [3]),
        sequential(
            [
                spec("ConstantLR", factor=0.1, total_iters=3),
                spec("ExponentialLR", gamma=0.8),
                spec("StepLR", gamma=0.1, step_size=2),
            ],
            [3, 6],
        ),
        sequential([spec("ConstantLR", factor=1), spec("ConstantLR", factor=0.1)], [10]),
        sequential(
            [
                chain(spec("LinearLR", start_factor=0.1, total_iters=5), spec("ConstantLR", factor=0.1, total_iters=5)),
                spec("ConstantLR", factor=0.5, total_iters=5),
            ],
            [5],
        ),
        sequential(
            [
                spec("LinearLR", start_factor=0.1, end_factor=0.8, total_iters=4),
                spec("LinearLR", start_factor=0.8, end_factor=0.1, total_iters=4),
            ],
            [4],
        ),
        sequential(
            [spec("LinearLR", start_factor=0.5, end_factor=0.1, total_iters=5), spec("ExponentialLR", gamma=0.9)], [5]
        ),
        sequential(
            [spec("LinearLR", start_factor=0.1, end_factor=1.0, total_iters=3), spec("CosineAnnealingLR", T_max=6)], [3]
        ),
        sequential([spec("LinearLR", start_factor=0.01, total_iters=20), spec("CosineAnnealingLR", T_max=280)], [20]),
        sequential(
            [spec("LinearLR", start_factor=0.1, total_iters=5), spec("CosineAnnealingWarmRestarts", T_0=10, T_mult=2)],
            [5],
        ),
        sequential(
            [
                spec("LinearLR", start_factor=0.1, total_iters=10),
                spec("CyclicLR", base_lr=0.01, max_lr=0.1, step_size_up=20),
            ],
            [10],
        ),
        sequential([spec("LambdaLR", lr_lambda=POW_09), spec("LambdaLR", lr_lambda=EVERY_30)], [50]),
        sequential([spec("ExponentialLR", gamma=0.5), spec("ExponentialLR", gamma=0.9)], [0]),
        sequential(
            [
                spec("ExponentialLR", gamma=0.5),
                spec("ConstantLR", factor=0.5, total_iters=2),
                spec("ExponentialLR", gamma=0.9),
            ],
            [3, 3],
        ),
        sequential([spec("ExponentialLR", gamma=0.5), spec("MultiplicativeLR", lr_lambda=TIMES_09)], [2]),
        sequential(
            [
                spec("StepLR", step_size=2, gamma=0.5),
                spec("MultiplicativeLR", lr_lambda=SLOWING),
                spec("ExponentialLR", gamma=0.99),
            ],
            [4, 40],
        ),
        sequential([chain(spec("PolynomialLR", total_iters=4, power=2.0)), spec("ExponentialLR", gamma=0.5)], [3]),
        sequential([chain(spec("ConstantLR", factor=0.5, total_iters=2), spec("ExponentialLR", gamma=0.9))], []),
        sequential([chain(spec("MultiplicativeLR", lr_lambda=TIMES_095), spec("StepLR", step_size=5))], []),
        sequential([spec("ExponentialLR", gamma=0.9), spec("ConstantLR", factor=0.5, total_iters=0)], [4]),
        sequential([spec("ExponentialLR", gamma=0.9), spec("MultiStepLR", milestones=[-1, 0, 3], gamma=0.5)], [4]),
        sequential(
            [spec("ExponentialLR", gamma=0.9), spec("LinearLR", start_factor=0.5, end_factor=0.8, total_iters=-2)], [4]
        ),
        sequential([spec("ExponentialLR", gamma=0.9), spec("PolynomialLR", total_iters=-2, power=2.0)], [4]),
    ),
    # ChainedScheduler, and torch's "compound" tests (two schedulers stepping one optimizer).
    *cases(
        chain(spec("StepLR", gamma=0.1, step_size=3)),
        chain(spec("LinearLR", start_factor=0.4, total_iters=3)),
        chain(spec("LinearLR", start_factor=0.4, total_iters=3), spec("MultiStepLR", milestones=[4, 8, 10], gamma=0.1)),
        chain(
            spec("ExponentialLR", gamma=0.9),
            spec("ConstantLR", factor=0.2, total_iters=4),
            spec("StepLR", gamma=0.1, step_size=3),
        ),
        chain(spec("PolynomialLR", power=0.9, total_iters=5), spec("ConstantLR", factor=0.1)),
        chain(spec("ConstantLR", factor=0.1, total_iters=3), spec("ExponentialLR", gamma=0.9)),
        chain(spec("ConstantLR"), spec("ConstantLR")),
        chain(spec("StepLR", gamma=0.1, step_size=3), spec("MultiStepLR", gamma=0.1, milestones=[2, 5, 9])),
        chain(spec("StepLR", gamma=0.1, step_size=3), spec("ExponentialLR", gamma=0.9)),
        chain(spec("MultiStepLR", gamma=0.1, milestones=[2, 5, 9]), spec("ExponentialLR", gamma=0.9)),
        chain(spec("LinearLR", start_factor=0.4, end_factor=0.9, total_iters=4), spec("ExponentialLR", gamma=0.9)),
        chain(spec("StepLR", gamma=0.1, step_size=3), spec("ConstantLR", factor=0.4, total_iters=4)),
        chain(spec("MultiStepLR", gamma=0.1, milestones=[2, 5, 9]), spec("LinearLR", start_factor=0.4, total_iters=4)),
        chain(spec("MultiplicativeLR", lr_lambda=TIMES_095), spec("LinearLR", start_factor=0.5, total_iters=10)),
        chain(
            chain(spec("ExponentialLR", gamma=0.99), spec("StepLR", step_size=10, gamma=0.5)),
            spec("LinearLR", total_iters=8),
        ),
    ),
]

CASES_BY_ID = {case.id: case for case in CASES}
assert len(CASES_BY_ID) == len(CASES), "case ids must be unique"


@dataclasses.dataclass(frozen=True)
class ErrorCase:
    """An invalid construction: ``spec`` (or ``make`` for functional-only errors) must raise ``error``.

    ``match`` is the start of our message (torch's message where torch has one); ``argument``
    must appear in it. ``torch`` says whether torch raises the same error type for ``spec``,
    after ``torch_steps`` calls of ``step()`` when it raises later than its constructor, with
    ``torch_match`` as the start of its message (None: same as ``match``, "": type only).
    """

    id: str
    error: type[Exception]
    match: str
    argument: str
    spec: Spec | None = None
    make: Callable[[], Any] | None = None
    torch: bool = True
    torch_steps: int = 0
    torch_match: str | None = None

    def build(self) -> Any:
        return self.make() if self.make is not None else build(self.spec, 0.05)


def _error(id: str, error: type[Exception], match: str, argument: str, torch_name: str, **kwargs: Any) -> ErrorCase:
    return ErrorCase(id, error, match, argument, spec=spec(torch_name, **kwargs))


_TWO = [TIMES_09, TIMES_095]
_LINEAR_RANGE = "Starting multiplicative factor expected to be greater than 0 and less or equal to 1."
_ONE_GROUP = "must have the same length as optimizer.param_groups."

ERROR_CASES: list[ErrorCase] = [
    _error(
        "constant-factor-high",
        ValueError,
        "Constant multiplicative factor expected to be between 0 and 1.",
        "factor",
        "ConstantLR",
        factor=1.5,
    ),
    _error(
        "constant-factor-negative",
        ValueError,
        "Constant multiplicative factor expected to be between 0 and 1.",
        "factor",
        "ConstantLR",
        factor=-0.1,
    ),
    _error("linear-start-zero", ValueError, _LINEAR_RANGE, "start_factor", "LinearLR", start_factor=0.0),
    _error("linear-start-high", ValueError, _LINEAR_RANGE, "start_factor", "LinearLR", start_factor=1.1),
    _error(
        "linear-end-high",
        ValueError,
        "Ending multiplicative factor expected to be between 0 and 1.",
        "end_factor",
        "LinearLR",
        end_factor=1.5,
    ),
    _error(
        "linear-end-negative",
        ValueError,
        "Ending multiplicative factor expected to be between 0 and 1.",
        "end_factor",
        "LinearLR",
        end_factor=-0.5,
    ),
    _error(
        "multiplicative-not-callable",
        TypeError,
        "lr_lambda should be a function, but got float",
        "lr_lambda",
        "MultiplicativeLR",
        lr_lambda=0.95,
    ),
    _error(
        "multiplicative-two-lambdas",
        ValueError,
        "Expected 1 lr_lambdas, but got 2",
        "lr_lambda",
        "MultiplicativeLR",
        lr_lambda=_TWO,
    ),
    _error(
        "lambda-two-lambdas", ValueError, "Expected 1 lr_lambdas, but got 2", "lr_lambda", "LambdaLR", lr_lambda=_TWO
    ),
    dataclasses.replace(
        _error(
            "lambda-not-callable",
            TypeError,
            "lr_lambda should be a function, but got float",
            "lr_lambda",
            "LambdaLR",
            lr_lambda=0.5,
        ),
        torch_match="",  # torch calls it in its constructor: "'float' object is not callable"
    ),
    dataclasses.replace(
        _error("step-size-zero", ZeroDivisionError, "integer modulo by zero", "step_size", "StepLR", step_size=0),
        torch_steps=1,
    ),
    dataclasses.replace(
        _error("cosine-t-max-zero", ZeroDivisionError, "integer modulo by zero", "T_max", "CosineAnnealingLR", T_max=0),
        torch_steps=1,
    ),
    _error(
        "restarts-t0-zero",
        ValueError,
        "Expected positive integer T_0, but got 0",
        "T_0",
        "CosineAnnealingWarmRestarts",
        T_0=0,
    ),
    _error(
        "restarts-t0-negative",
        ValueError,
        "Expected positive integer T_0, but got -1",
        "T_0",
        "CosineAnnealingWarmRestarts",
        T_0=-1,
    ),
    _error(
        "restarts-t0-float",
        ValueError,
        "Expected positive integer T_0, but got 2.0",
        "T_0",
        "CosineAnnealingWarmRestarts",
        T_0=2.0,
    ),
    _error(
        "restarts-t-mult-zero",
        ValueError,
        "Expected integer T_mult >= 1, but got 0",
        "T_mult",
        "CosineAnnealingWarmRestarts",
        T_0=2,
        T_mult=0,
    ),
    _error(
        "restarts-t-mult-float",
        ValueError,
        "Expected integer T_mult >= 1, but got 1.5",
        "T_mult",
        "CosineAnnealingWarmRestarts",
        T_0=2,
        T_mult=1.5,
    ),
    _error(
        "restarts-eta-min-none",
        ValueError,
        "Expected float or int eta_min, but got None of type <class 'NoneType'>",
        "eta_min",
        "CosineAnnealingWarmRestarts",
        T_0=2,
        eta_min=None,
    ),
    _error(
        "cyclic-mode",
        ValueError,
        "mode is invalid and scale_fn is None",
        "mode",
        "CyclicLR",
        base_lr=0,
        max_lr=0,
        mode="CATS",
    ),
    _error(
        "cyclic-step-zero",
        ZeroDivisionError,
        "float division by zero",
        "step_size_up",
        "CyclicLR",
        base_lr=0.1,
        max_lr=1.0,
        step_size_up=0,
    ),
    _error(
        "cyclic-up-zero",
        ZeroDivisionError,
        "float division by zero",
        "step_size_up",
        "CyclicLR",
        base_lr=0.1,
        max_lr=1.0,
        step_size_up=0,
        step_size_down=5,
    ),
    _error(
        "cyclic-base-lrs", ValueError, "base_lr " + _ONE_GROUP, "base_lr", "CyclicLR", base_lr=[0.01, 0.02], max_lr=0.1
    ),
    _error("cyclic-max-lrs", ValueError, "max_lr " + _ONE_GROUP, "max_lr", "CyclicLR", base_lr=0.01, max_lr=[0.1, 0.2]),
    _error(
        "cyclic-momenta",
        ValueError,
        "base_momentum " + _ONE_GROUP,
        "base_momentum",
        "CyclicLR",
        base_lr=0.01,
        max_lr=0.1,
        base_momentum=[0.8, 0.85],
    ),
    _error(
        "one-cycle-no-steps",
        ValueError,
        "You must define either total_steps OR (epochs AND steps_per_epoch)",
        "total_steps",
        "OneCycleLR",
        max_lr=1e-3,
    ),
    _error(
        "one-cycle-epochs-only",
        ValueError,
        "You must define either total_steps OR (epochs AND steps_per_epoch)",
        "steps_per_epoch",
        "OneCycleLR",
        max_lr=1e-3,
        epochs=3,
    ),
    _error(
        "one-cycle-total-zero",
        ValueError,
        "Expected positive integer total_steps, but got 0",
        "total_steps",
        "OneCycleLR",
        max_lr=1e-3,
        total_steps=0,
    ),
    _error(
        "one-cycle-total-float",
        ValueError,
        "Expected positive integer total_steps, but got 10.0",
        "total_steps",
        "OneCycleLR",
        max_lr=1e-3,
        total_steps=10.0,
    ),
    _error(
        "one-cycle-epochs-zero",
        ValueError,
        "Expected positive integer epochs, but got 0",
        "epochs",
        "OneCycleLR",
        max_lr=1e-3,
        epochs=0,
        steps_per_epoch=10,
    ),
    _error(
        "one-cycle-steps-negative",
        ValueError,
        "Expected positive integer steps_per_epoch, but got -1",
        "steps_per_epoch",
        "OneCycleLR",
        max_lr=1e-3,
        epochs=10,
        steps_per_epoch=-1,
    ),
    _error(
        "one-cycle-pct-high",
        ValueError,
        "Expected float between 0 and 1 pct_start, but got 1.1",
        "pct_start",
        "OneCycleLR",
        max_lr=1e-3,
        total_steps=10,
        pct_start=1.1,
    ),
    _error(
        "one-cycle-pct-int",
        ValueError,
        "Expected float between 0 and 1 pct_start, but got 0",
        "pct_start",
        "OneCycleLR",
        max_lr=1e-3,
        total_steps=10,
        pct_start=0,
    ),
    _error(
        "one-cycle-anneal",
        ValueError,
        "anneal_strategy must be one of 'cos' or 'linear', instead got CATS",
        "anneal_strategy",
        "OneCycleLR",
        max_lr=1e-3,
        total_steps=10,
        anneal_strategy="CATS",
    ),
    _error(
        "one-cycle-empty-phase",
        ZeroDivisionError,
        "float division by zero",
        "pct_start",
        "OneCycleLR",
        max_lr=1e-3,
        total_steps=10,
        pct_start=0.1,
    ),
    _error(
        "one-cycle-max-lrs",
        ValueError,
        "max_lr " + _ONE_GROUP,
        "max_lr",
        "OneCycleLR",
        max_lr=[0.1, 0.2],
        total_steps=10,
    ),
    ErrorCase(
        "sequential-empty",
        ValueError,
        "SequentialLR expects at least one scheduler, but got no scheduler.",
        "schedulers",
        spec=sequential([], []),
    ),
    ErrorCase(
        "sequential-milestones-count",
        ValueError,
        "Sequential Schedulers expects number of schedulers provided to be one more than the number of milestone "
        "points, but got number of schedulers 2 and the number of milestones to be equal to 2",
        "milestones",
        spec=sequential([spec("ExponentialLR", gamma=0.9), spec("StepLR", step_size=2)], [3, 5]),
    ),
    ErrorCase(
        "sequential-chained-after-milestone",
        NotImplementedError,
        "a chained schedule cannot follow a milestone",
        "sequential_lr",
        spec=sequential([spec("ExponentialLR", gamma=0.9), chain(spec("ExponentialLR", gamma=0.9))], [2]),
        torch_steps=2,
        torch_match="",
    ),
    ErrorCase(
        "sequential-linear-total-zero",
        ZeroDivisionError,
        "float division by zero",
        "total_iters",
        spec=sequential([spec("ExponentialLR", gamma=0.9), spec("LinearLR", total_iters=0)], [2]),
        torch_steps=2,
    ),
    ErrorCase(
        "sequential-polynomial-total-zero",
        ZeroDivisionError,
        "division by zero",
        "total_iters",
        spec=sequential([spec("ExponentialLR", gamma=0.9), spec("PolynomialLR", total_iters=0)], [2]),
        torch_steps=2,
    ),
    ErrorCase(
        "sequential-fractional-milestone",
        ValueError,
        "milestones must be integers",
        "milestones",
        spec=sequential([spec("ExponentialLR", gamma=0.9), spec("StepLR", step_size=2)], [2.5]),
        torch=False,
    ),
    ErrorCase(
        "sequential-decreasing-milestones",
        ValueError,
        "milestones must be non-decreasing",
        "milestones",
        spec=sequential([spec("ExponentialLR", gamma=0.9), spec("StepLR", step_size=2), spec("ConstantLR")], [5, 2]),
        torch=False,
    ),
    ErrorCase(
        "sequential-nested",
        NotImplementedError,
        "a sequential_lr inside a sequential_lr is not supported",
        "sequential_lr",
        spec=sequential([sequential([spec("ExponentialLR", gamma=0.9)], [])], []),
        torch=False,
    ),
    ErrorCase(
        "sequential-not-callable",
        TypeError,
        "SequentialLR at index 0 should be a schedule",
        "schedule",
        make=lambda: schedules.sequential_lr([0.1], []),
        torch=False,
    ),
    ErrorCase(
        "chained-empty",
        ValueError,
        "ChainedScheduler expects at least one scheduler to be chained, but got no scheduler.",
        "schedulers",
        spec=chain(),
    ),
    ErrorCase(
        "chained-not-multiplicative",
        ValueError,
        "chained composes multiplicative schedules",
        "factor",
        spec=chain(spec("CosineAnnealingLR", T_max=10)),
        torch=False,
    ),
    ErrorCase(
        "chained-different-bases",
        ValueError,
        "ChainedScheduler expects all schedulers to belong to the same optimizer",
        "base lr",
        make=lambda: schedules.chained([schedules.exponential_lr(0.1, 0.9), schedules.exponential_lr(0.2, 0.9)]),
        torch=False,
    ),
    ErrorCase(
        "per-epoch-zero",
        ValueError,
        "Expected positive integer steps_per_epoch, but got 0",
        "steps_per_epoch",
        make=lambda: schedules.per_epoch(schedules.exponential_lr(0.1, 0.9), 0),
        torch=False,
    ),
    ErrorCase(
        "float-epoch",
        TypeError,
        "a schedule is evaluated at an integer epoch",
        "epoch",
        make=lambda: schedules.exponential_lr(0.1, 0.9)(1.5),
        torch=False,
    ),
]
