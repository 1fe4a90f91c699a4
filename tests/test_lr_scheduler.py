"""torch's lr-scheduler classes on functional_optim's optimizers: torch's sequences, errors, warnings and state.

Every scenario of ``tests/lr_scheduler_table.py`` (every class over torch's own test arguments
and more, >= 300 epochs, two param groups; the recursive forms under other schedulers,
ReduceLROnPlateau and hand edits; ``step(epoch)``; resumes; momentum and beta1 cycling) must
reproduce torch's ``get_last_lr()`` sequence, and the momentum where it cycles, to 1e-12
relative: against the committed goldens, and against a live torch when it is installed. The
functional ReduceLROnPlateau must reproduce the class.
"""

from __future__ import annotations

import copy
import gc
import inspect
import pathlib
import pickle
import re
import types
import warnings
import weakref

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_optim as fo
from functional_optim import schedules
from functional_optim.optim import lr_scheduler
from tests.lr_scheduler_table import (
    ERRORS,
    LRS,
    NOISY,
    OURS,
    PLATEAU_ALONE,
    ROUND_TRIPS,
    SCENARIOS,
    SINGLE,
    Backend,
    Recorder,
    build,
)
from tests.schedule_table import Fn

GOLDEN = pathlib.Path(__file__).parent / "golden" / "lr_scheduler.npz"
SCHEDULES_GOLDEN = GOLDEN.parent / "schedules.npz"  # torch's sequences of the SINGLE scenarios
RTOL = 1e-12
_GOLDENS: dict[pathlib.Path, dict[str, np.ndarray]] = {}


def golden(path: pathlib.Path, key: str) -> np.ndarray:
    if path not in _GOLDENS:
        with np.load(path) as data:
            _GOLDENS[path] = dict(data)
    return _GOLDENS[path][key]


def run_ours(scenario) -> dict[str, np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the deprecated step(epoch) warns
        return scenario.run(OURS)


def assert_sequences_match(actual: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    assert actual.keys() == expected.keys()
    for name in expected:
        assert actual[name].shape == expected[name].shape, name
        np.testing.assert_allclose(actual[name], expected[name], rtol=RTOL, atol=0, err_msg=name)


@pytest.fixture
def torch_backend() -> Backend:
    pytest.importorskip("torch", reason="needs torch 2.13 to run the real schedulers")
    from tests.make_lr_scheduler_golden import TORCH

    return TORCH


def two_groups(kind: str = "SGD", lrs=LRS, **kwargs) -> fo.optim.Optimizer:
    return OURS.optimizer(kind, lrs, **kwargs)


# -- sequences -----------------------------------------------------------------------------------


def test_golden_holds_every_scenario_from_torch_2_13():
    with np.load(GOLDEN) as data:
        assert str(data["torch_version"]).startswith("2.13"), "regenerate with torch 2.13: make_lr_scheduler_golden"
        keys = set(data.files) - {"torch_version"}
    expected = {f"{s.id}|{name}" for s in SCENARIOS for name in ("lr", "momentum")}
    assert {s.id for s in SCENARIOS} == {key.split("|")[0] for key in keys}, "python -m tests.make_lr_scheduler_golden"
    assert keys <= expected


@pytest.mark.parametrize("scenario", SINGLE, ids=[s.id for s in SINGLE])
def test_stepped_alone_matches_torch_golden(scenario):
    ours = run_ours(scenario)
    assert_sequences_match(ours, {name: golden(SCHEDULES_GOLDEN, f"{scenario.id}|{name}") for name in ours})


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_scenario_matches_torch_golden(scenario):
    ours = run_ours(scenario)
    with np.load(GOLDEN) as data:
        names = [key.split("|")[1] for key in data.files if key.split("|")[0] == scenario.id]
    assert_sequences_match(ours, {name: golden(GOLDEN, f"{scenario.id}|{name}") for name in names})


@pytest.mark.parametrize("scenario", SINGLE + SCENARIOS, ids=[s.id for s in SINGLE + SCENARIOS])
def test_scenario_matches_live_torch(scenario, torch_backend):
    from tests.make_lr_scheduler_golden import torch_sequences

    assert_sequences_match(run_ours(scenario), torch_sequences(scenario))


def test_array_lr_stays_an_array_of_its_dtype():
    opt = two_groups(lrs=(0.05, jnp.asarray(0.5, jnp.float32)))
    scheduler = lr_scheduler.CosineAnnealingLR(opt, T_max=10)
    plateau = lr_scheduler.ReduceLROnPlateau(opt, patience=0)
    for metric in (1.0, 2.0, 3.0):
        opt.step()
        scheduler.step()
        plateau.step(metric)
    assert isinstance(opt.param_groups[0]["lr"], float)
    lr = opt.param_groups[1]["lr"]
    assert isinstance(lr, jax.Array) and lr.dtype == jnp.float32 and lr.shape == ()
    assert isinstance(opt.param_groups[1]["initial_lr"], jax.Array)


# -- the example -------------------------------------------------------------------------


def _quadratic(values):
    return jnp.sum((values["w"] - 1.0) ** 2) + 2.0 * jnp.sum((values["b"] + 0.5) ** 2)


def _train_with_lambda_lr(epochs: int = 100):
    params = fo.parameters({"w": jnp.linspace(-1.0, 2.0, 6).reshape(2, 3), "b": jnp.asarray([0.5, -0.25])})
    optimizer = fo.optim.SGD([{"params": [params["w"]]}, {"params": [params["b"]], "lr": 0.5}], lr=0.05, momentum=0.9)
    lambda1 = lambda epoch: epoch // 30  # noqa: E731
    lambda2 = lambda epoch: 0.95**epoch  # noqa: E731
    scheduler = lr_scheduler.LambdaLR(optimizer, lr_lambda=[lambda1, lambda2])
    lrs = []
    for _ in range(epochs):
        optimizer.zero_grad()
        fo.backward(_quadratic, params)  # train(...)
        optimizer.step()
        lrs.append([group["lr"] for group in optimizer.param_groups])  # validate(...)
        scheduler.step()
    return fo.values(params), lrs


def test_lambda_lr_snippet_with_two_param_groups():
    values, lrs = _train_with_lambda_lr()
    assert lrs == [[0.05 * (epoch // 30), 0.5 * 0.95**epoch] for epoch in range(100)]
    # the optimizer used those lrs: the same run with the lrs set by hand
    params = fo.parameters({"w": jnp.linspace(-1.0, 2.0, 6).reshape(2, 3), "b": jnp.asarray([0.5, -0.25])})
    by_hand = fo.optim.SGD([{"params": [params["w"]]}, {"params": [params["b"]], "lr": 0.5}], lr=0.05, momentum=0.9)
    for group_lrs in lrs:
        for group, lr in zip(by_hand.param_groups, group_lrs):
            group["lr"] = lr
        by_hand.zero_grad()
        fo.backward(_quadratic, params)
        by_hand.step()
    jax.tree.map(np.testing.assert_array_equal, values, fo.values(params))


def test_lambda_lr_snippet_trains_like_live_torch(torch_backend):
    import torch

    values, _ = _train_with_lambda_lr()
    w = torch.nn.Parameter(torch.linspace(-1.0, 2.0, 6, dtype=torch.float64).reshape(2, 3))
    b = torch.nn.Parameter(torch.tensor([0.5, -0.25], dtype=torch.float64))
    optimizer = torch.optim.SGD([{"params": [w]}, {"params": [b], "lr": 0.5}], lr=0.05, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda=[lambda e: e // 30, lambda e: 0.95**e])
    for _ in range(100):
        optimizer.zero_grad()
        loss = ((w - 1.0) ** 2).sum() + 2.0 * ((b + 0.5) ** 2).sum()
        loss.backward()
        optimizer.step()
        scheduler.step()
    np.testing.assert_allclose(values["w"], w.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(values["b"], b.detach().numpy(), rtol=1e-12, atol=1e-14)


# -- construction --------------------------------------------------------------------------------


def test_construction_records_initial_lr_and_steps_once():
    opt = two_groups()
    scheduler = lr_scheduler.ExponentialLR(opt, gamma=0.9)
    assert [g["initial_lr"] for g in opt.param_groups] == list(LRS) == scheduler.base_lrs
    assert (scheduler.last_epoch, scheduler._step_count) == (0, 1)
    assert scheduler.get_last_lr() == list(LRS)
    opt.param_groups[0]["lr"] = 0.01
    lr_scheduler.StepLR(opt, step_size=3)  # a second scheduler keeps the first's initial_lr
    assert opt.param_groups[0]["initial_lr"] == 0.05
    linear = lr_scheduler.LinearLR(two_groups(), start_factor=0.5)
    assert linear.get_last_lr() == [0.025, 0.25]  # the constructor's step wrote epoch 0


def test_lr_scheduler_base_class_needs_get_lr():
    with pytest.raises(NotImplementedError):
        lr_scheduler.LRScheduler(two_groups())
    assert issubclass(lr_scheduler._LRScheduler, lr_scheduler.LRScheduler)
    for name in lr_scheduler.__all__:
        cls = getattr(lr_scheduler, name)
        assert issubclass(cls, lr_scheduler.LRScheduler) and cls.__doc__, name


def test_cyclic_and_one_cycle_write_their_keys_into_the_groups():
    sgd = two_groups(momentum=0.0)
    lr_scheduler.CyclicLR(sgd, base_lr=0.01, max_lr=0.1, step_size_up=4, base_momentum=0.8, max_momentum=0.95)
    for group in sgd.param_groups:
        assert (group["lr"], group["momentum"], group["max_momentum"], group["base_momentum"]) == (
            0.01,
            0.95,
            0.95,
            0.8,
        )
    adam = two_groups("Adam")
    lr_scheduler.OneCycleLR(adam, max_lr=[0.1, 0.2], total_steps=10)
    for group, max_lr in zip(adam.param_groups, (0.1, 0.2)):
        assert group["max_lr"] == max_lr and group["initial_lr"] == max_lr / 25.0
        assert group["min_lr"] == group["initial_lr"] / 1e4
        assert group["betas"] == (0.95, 0.999) and "momentum" not in group


def test_plateau_keeps_working_after_a_group_is_added():
    # torch's test_add_param_group_does_not_break_reduce_lr_on_plateau (scalar min_lr)
    opt = two_groups(lrs=(0.5, 0.5))
    scheduler = lr_scheduler.ReduceLROnPlateau(opt, threshold=0.1, patience=5, cooldown=5)
    metrics = [1] * 7 + [0.6] + [0.5] * 12
    expected = [0.5] * 6 + [0.05] * 11 + [0.005] * 3
    for epoch, (metric, lr) in enumerate(zip(metrics, expected)):
        if epoch == 8:
            opt.add_param_group({"params": [fo.Parameter(jnp.zeros(2))], "lr": 0.05})
        opt.step()
        scheduler.step(metric)
        assert opt.param_groups[0]["lr"] == pytest.approx(lr, rel=1e-12)
    assert len(scheduler.min_lrs) == 3


# -- errors and warnings -------------------------------------------------------------------------


def _message(error: BaseException) -> str:
    return str(error.args[0]) if error.args else ""


@pytest.mark.parametrize("error", ERRORS, ids=[e.id for e in ERRORS])
def test_invalid_use_raises_torchs_error(error):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(error.error) as raised:
            error.build(OURS)
    assert _message(raised.value).startswith(error.match), _message(raised.value)


@pytest.mark.parametrize("error", ERRORS, ids=[e.id for e in ERRORS])
def test_live_torch_raises_the_same_error(error, torch_backend):
    match = error.match if error.torch_match is None else error.torch_match
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(error.error) as raised:
            error.build(torch_backend)
    assert _message(raised.value).startswith(match), _message(raised.value)


def test_classes_have_torchs_names_and_signatures_live(torch_backend):
    theirs = torch_backend.lr_scheduler
    assert sorted(lr_scheduler.__all__) == sorted(theirs.__all__)
    assert lr_scheduler.EPOCH_DEPRECATION_WARNING == theirs.EPOCH_DEPRECATION_WARNING
    for name in lr_scheduler.__all__:
        ours, torch_params = inspect.signature(getattr(lr_scheduler, name)), inspect.signature(getattr(theirs, name))
        assert [(p.name, p.default, p.kind) for p in ours.parameters.values()] == [
            (p.name, p.default, p.kind) for p in torch_params.parameters.values()
        ], name


def test_deep_copied_optimizer_is_independent():
    opt = two_groups()
    scheduler = lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    twin = copy.deepcopy(opt)
    twin.step()
    assert not getattr(opt, "_opt_called", False) and twin._opt_called
    with pytest.warns(UserWarning, match="before `optimizer.step"):
        scheduler.step()
    assert twin.param_groups[0]["lr"] == 0.05 and opt.param_groups[0]["lr"] == 0.025


def test_torch_optimizer_is_not_an_optimizer(torch_backend):
    with pytest.raises(TypeError, match=r"^SGD is not an Optimizer"):
        lr_scheduler.StepLR(torch_backend.optimizer("SGD", LRS), step_size=3)


NO_WARNING_SPECS = [s for s, _ in ROUND_TRIPS if s.torch_name != "ReduceLROnPlateau"]


@pytest.mark.parametrize("spec_", NO_WARNING_SPECS, ids=[repr(s) for s in NO_WARNING_SPECS])
def test_no_warning_when_stepped_after_the_optimizer(spec_):
    opt = two_groups()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scheduler = build(OURS, spec_, opt)
        for _ in range(12):
            opt.step()
            scheduler.step()


def test_stepping_before_the_optimizer_warns():
    scheduler = lr_scheduler.StepLR(two_groups(), step_size=3)
    with pytest.warns(UserWarning, match=r"Detected call of `lr_scheduler.step\(\)` before `optimizer.step\(\)`"):
        scheduler.step()


def test_overriding_optimizer_step_warns():
    opt = two_groups()
    scheduler = lr_scheduler.StepLR(opt, step_size=3)
    original = opt.step
    opt.step = types.MethodType(lambda self, *args, **kwargs: original(*args, **kwargs), opt)
    opt.step()
    with pytest.warns(UserWarning, match=r"`optimizer.step\(\)` has been overridden"):
        scheduler.step()


def test_step_with_epoch_warns_its_deprecation():
    opt = two_groups()
    scheduler = lr_scheduler.StepLR(opt, step_size=2)
    opt.step()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scheduler.step(4)
    assert [w.message.args[0] for w in caught] == [lr_scheduler.EPOCH_DEPRECATION_WARNING]
    assert scheduler.get_last_lr() == [0.05 * 0.1**2, 0.5 * 0.1**2]
    plateau = lr_scheduler.ReduceLROnPlateau(opt)
    with pytest.warns(UserWarning, match="The epoch parameter"):
        plateau.step(1.0, epoch=7)
    assert plateau.last_epoch == 7


def test_restarts_step_with_epoch_and_sequential_do_not_warn():
    opt = two_groups()
    restarts = lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=3)
    sequential = lr_scheduler.SequentialLR(
        opt, [lr_scheduler.LinearLR(opt, 0.5, 0.1, 5), lr_scheduler.ExponentialLR(opt, 0.9)], milestones=[5]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for epoch in range(10):
            opt.step()
            restarts.step(epoch + 0.5)
            sequential.step()


def test_get_lr_outside_step_warns():
    scheduler = lr_scheduler.ExponentialLR(two_groups(), gamma=0.5)
    with pytest.warns(UserWarning, match=r"please use `get_last_lr\(\)`"):
        assert scheduler.get_lr() == [0.025, 0.25]  # computed, not written
    assert scheduler.get_last_lr() == list(LRS)


def test_scheduler_holds_no_reference_cycle():
    gc.disable()
    try:
        opt = two_groups()
        ref = weakref.ref(lr_scheduler.LambdaLR(opt, lambda epoch: 1.0))
        assert ref() is None
        opt.step()
        opt_ref = weakref.ref(opt)
        del opt
        assert opt_ref() is None
    finally:
        gc.enable()


# -- state_dict ----------------------------------------------------------------------------------

ROUND_TRIP_IDS = [repr(s) for s, _ in ROUND_TRIPS]


def _advance(scheduler, opt, epoch: int) -> None:
    opt.step()
    if type(scheduler).__name__ == "ReduceLROnPlateau":  # either library's
        scheduler.step(NOISY(epoch))
    else:
        scheduler.step()


def _run_for(backend, spec_, epochs: int):
    opt = backend.optimizer("SGD", LRS, momentum=0.9)
    scheduler = build(backend, spec_, opt)
    for epoch in range(epochs):
        _advance(scheduler, opt, epoch)
    return opt, scheduler


@pytest.mark.parametrize(("spec_", "cycles"), ROUND_TRIPS, ids=ROUND_TRIP_IDS)
def test_state_dict_round_trip_continues_identically(spec_, cycles):
    opt, scheduler = _run_for(OURS, spec_, 9)
    saved_opt, saved = copy.deepcopy(opt.state_dict()), copy.deepcopy(scheduler.state_dict())
    # torch's order: the scheduler first (its constructor writes the lrs), then both states
    new_opt = OURS.optimizer("SGD", LRS, momentum=0.9)
    new_scheduler = build(OURS, spec_, new_opt)
    new_opt.load_state_dict(saved_opt)
    new_scheduler.load_state_dict(saved)
    records = []
    for run_opt, run_scheduler in ((opt, scheduler), (new_opt, new_scheduler)):
        record = Recorder(run_opt, cycles)
        for epoch in range(9, 40):
            _advance(run_scheduler, run_opt, epoch)
            record(run_scheduler)
        records.append(record.result())
    for name in records[0]:
        np.testing.assert_array_equal(records[1][name], records[0][name])
    if not any(isinstance(value, Fn) for value in spec_.kwargs.values()):  # Fn holds a lambda
        assert pickle.loads(pickle.dumps(new_scheduler.state_dict())) == new_scheduler.state_dict()


def _plain(value):
    """A state_dict value with tensors or arrays as floats, for comparing the two libraries."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    return value


@pytest.mark.parametrize(("spec_", "cycles"), ROUND_TRIPS, ids=ROUND_TRIP_IDS)
def test_state_dict_has_torchs_keys_and_values_live(spec_, cycles, torch_backend):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = _run_for(OURS, spec_, 9)[1].state_dict()
        theirs = _run_for(torch_backend, spec_, 9)[1].state_dict()
    assert list(ours) == list(theirs)
    assert _plain(ours) == _plain(theirs)


def test_lambda_state_dict_saves_callable_objects_only():
    class Scale:
        def __init__(self, value):
            self.value = value

        def __call__(self, epoch):
            return self.value * epoch

    scheduler = lr_scheduler.LambdaLR(two_groups(), lr_lambda=[Scale(10), lambda epoch: 1.0])
    state = scheduler.state_dict()
    assert state["lr_lambdas"] == [{"value": 10}, None]
    copy_ = lr_scheduler.LambdaLR(two_groups(), lr_lambda=[Scale(-1), lambda epoch: 2.0])
    copy_.load_state_dict(state)
    assert copy_.lr_lambdas[0].value == 10
    assert "lr_lambdas" in state  # loading leaves the dict as it was


def test_cyclic_state_dict_drops_the_built_in_scale_fn():
    opt = two_groups("Adam")
    scheduler = lr_scheduler.CyclicLR(opt, base_lr=1, max_lr=5, cycle_momentum=False, mode="triangular2")
    state = scheduler.state_dict()
    assert "_scale_fn_ref" not in state and state["_scale_fn_custom"] is None
    pickle.dumps(state)
    restored = lr_scheduler.CyclicLR(opt, base_lr=1, max_lr=5, cycle_momentum=False)
    restored.load_state_dict(state)
    assert restored.mode == "triangular2" and restored.scale_fn(3) == 0.25

    class Half:
        def __init__(self):
            self.x = 0.5

        def __call__(self, _):
            return self.x

    custom = lr_scheduler.CyclicLR(opt, base_lr=1, max_lr=5, cycle_momentum=False, scale_fn=Half())
    assert custom.state_dict()["_scale_fn_custom"] == {"x": 0.5}


# -- the functional ReduceLROnPlateau ------------------------------------------------------------

PLATEAU_IDS = [f"{metric!r}:{kwargs}" for kwargs, metric, _ in PLATEAU_ALONE]


@pytest.mark.parametrize(("kwargs", "metric", "lrs"), PLATEAU_ALONE, ids=PLATEAU_IDS)
def test_functional_plateau_matches_the_class(kwargs, metric, lrs):
    opt = two_groups(lrs=lrs)
    scheduler = lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
    plateau = schedules.reduce_lr_on_plateau(**kwargs)
    update = jax.jit(plateau.update)
    state = plateau.init(jnp.asarray(lrs))
    for epoch in range(300):
        scheduler.step(metric(epoch))
        state = update(metric(epoch), state)
        np.testing.assert_array_equal(state.lr, scheduler.get_last_lr(), err_msg=str(epoch))
        assert float(state.best) == scheduler.best
        assert int(state.num_bad_epochs) == scheduler.num_bad_epochs
        assert int(state.cooldown_counter) == scheduler.cooldown_counter
        assert int(state.last_epoch) == scheduler.last_epoch


def test_functional_plateau_scans_over_metrics():
    kwargs, metric, lrs = PLATEAU_ALONE[9]
    plateau = schedules.reduce_lr_on_plateau(**kwargs)
    metrics = jnp.asarray([metric(epoch) for epoch in range(300)])

    def body(state, m):
        state = plateau.update(m, state)
        return state, state.lr

    _, scanned = jax.jit(lambda s: jax.lax.scan(body, s, metrics))(plateau.init(jnp.asarray(lrs)))
    state, stepped, update = plateau.init(jnp.asarray(lrs)), [], jax.jit(plateau.update)
    for m in metrics:
        state = update(m, state)
        stepped.append(state.lr)
    np.testing.assert_array_equal(scanned, np.asarray(stepped))
    assert len(np.unique(scanned[:, 0])) > 3  # the lr did drop, more than once


def test_functional_plateau_drives_a_transform():
    plateau = schedules.reduce_lr_on_plateau(factor=0.5, patience=0)
    tx = fo.sgd(lr=0.1)
    params = {"w": jnp.ones(3)}
    opt_state, plateau_state = tx.init(params), plateau.init(0.1)
    for metric in (3.0, 2.0, 2.5):
        plateau_state = plateau.update(metric, plateau_state)
        opt_state = fo.set_hyperparams(opt_state, lr=plateau_state.lr)
    assert opt_state.hyperparams["lr"] == 0.05
    assert isinstance(plateau_state, schedules.ReduceLROnPlateauState)


@pytest.mark.parametrize(
    ("kwargs", "lr", "match"),
    [
        ({"factor": 1.0}, 0.1, "Factor should be < 1.0."),
        ({"mode": "CATS"}, 0.1, "mode CATS is unknown!"),
        ({"threshold_mode": "CATS"}, 0.1, "threshold mode CATS is unknown!"),
        ({"min_lr": [0.1, 0.2, 0.3]}, [0.1, 0.2], "expected 2 min_lrs, got 3"),
    ],
)
def test_functional_plateau_raises_torchs_errors(kwargs, lr, match):
    with pytest.raises(ValueError, match="^" + re.escape(match)):
        schedules.reduce_lr_on_plateau(**kwargs).init(jnp.asarray(lr))


def test_pure_schedules_validate_for_the_classes():
    # a class and its pure schedule raise the same error for the same argument
    for build_class, build_pure in [
        (lambda: lr_scheduler.ConstantLR(two_groups(), factor=2.0), lambda: schedules.constant_lr(0.1, factor=2.0)),
        (lambda: lr_scheduler.LinearLR(two_groups(), end_factor=-1), lambda: schedules.linear_lr(0.1, end_factor=-1)),
        (
            lambda: lr_scheduler.CosineAnnealingWarmRestarts(two_groups(), T_0=0),
            lambda: schedules.cosine_annealing_warm_restarts(0.1, T_0=0),
        ),
    ]:
        with pytest.raises(ValueError) as from_class:
            build_class()
        with pytest.raises(ValueError) as from_pure:
            build_pure()
        assert str(from_class.value) == str(from_pure.value)
