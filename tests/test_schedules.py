"""Every torch lr scheduler as a pure schedule: torch's sequences, torch's errors, and use as ``lr=``.

The schedules are evaluated under ``jax.jit`` at int32 epochs (the dtype of ``state.count``)
and compared with torch's ``get_last_lr()`` sequence, and the momentum CyclicLR/OneCycleLR write
into the optimizer, to 1e-12 relative in float64: against the committed goldens
(``tests/make_schedule_golden.py``), and against a live torch when it is installed.
"""

from __future__ import annotations

import inspect
import pathlib
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_optim as fo
from functional_optim import schedules
from tests.schedule_table import CASES, ERROR_CASES, ScheduleCase, build

GOLDEN = pathlib.Path(__file__).parent / "golden" / "schedules.npz"
RTOL = 1e-12
CASE_IDS = [case.id for case in CASES]
ERROR_IDS = [error.id for error in ERROR_CASES]
_GOLDENS: dict[str, np.ndarray] = {}
_OURS: dict[str, dict[str, np.ndarray]] = {}


def golden(key: str) -> np.ndarray:
    if not _GOLDENS:
        with np.load(GOLDEN) as data:
            _GOLDENS.update(data)
    return _GOLDENS[key]


def ours(case: ScheduleCase) -> dict[str, np.ndarray]:
    """The case's schedules, one per param group, jitted at int32 epochs 0..case.epochs."""
    if case.id not in _OURS:
        built = [build(case.spec, lr) for lr in case.lrs]

        def run(epochs: jax.Array) -> dict[str, jax.Array]:
            values = {"lr": jnp.stack([jax.vmap(s)(epochs) for s in built])}
            if case.momentum:
                values["momentum"] = jnp.stack([jax.vmap(s.momentum)(epochs) for s in built])
            return values

        values = jax.jit(run)(jnp.arange(case.epochs + 1, dtype=jnp.int32))
        _OURS[case.id] = {name: np.asarray(v) for name, v in values.items()}
    return _OURS[case.id]


def assert_sequences_match(actual: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    assert actual.keys() == expected.keys()
    for name in expected:
        assert actual[name].dtype == np.float64
        np.testing.assert_allclose(actual[name], expected[name], rtol=RTOL, atol=0, err_msg=name)


def test_golden_holds_every_case_from_torch_2_13():
    with np.load(GOLDEN) as data:
        keys = set(data.files)
        assert str(data["torch_version"]).startswith("2.13"), "regenerate with torch 2.13: make_schedule_golden"
    expected = {f"{case.id}|lr" for case in CASES} | {f"{case.id}|momentum" for case in CASES if case.momentum}
    assert keys - {"torch_version"} == expected, "regenerate: python -m tests.make_schedule_golden"


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_schedule_matches_torch_golden(case):
    expected = {name: golden(f"{case.id}|{name}") for name in ("lr", "momentum") if name != "momentum" or case.momentum}
    assert_sequences_match(ours(case), expected)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_schedule_matches_live_torch(case):
    pytest.importorskip("torch", reason="needs torch 2.13 to step the real schedulers")
    from tests.make_schedule_golden import torch_sequences

    assert_sequences_match(ours(case), torch_sequences(case))


@pytest.mark.parametrize("torch_name", sorted({case.spec.torch_name for case in CASES}))
def test_scalar_epochs_give_the_vmapped_values(torch_name):
    """One case per scheduler: jitted at a scalar epoch (as a transform evaluates it) and eagerly."""
    case = next(c for c in CASES if c.spec.torch_name == torch_name)
    schedule = build(case.spec, case.lrs[0])
    jitted = jax.jit(schedule)
    expected = ours(case)["lr"][0]
    for epoch in sorted({0, 1, 2, 3, 7, case.epochs // 2, case.epochs}):
        assert jitted(jnp.int32(epoch)) == expected[epoch], epoch
        # eagerly, jnp's float ** int power (in lr_lambda) may round differently
        np.testing.assert_allclose(schedule(epoch), expected[epoch], rtol=RTOL, atol=0, err_msg=str(epoch))


@pytest.mark.parametrize("error", ERROR_CASES, ids=ERROR_IDS)
def test_invalid_arguments_raise_torchs_error(error):
    with pytest.raises(error.error, match="^" + re.escape(error.match)):
        error.build()


@pytest.mark.parametrize("error", ERROR_CASES, ids=ERROR_IDS)
def test_error_names_the_argument(error):
    with pytest.raises(error.error) as raised:
        error.build()
    assert error.argument in str(raised.value)


@pytest.mark.parametrize("error", [e for e in ERROR_CASES if e.torch], ids=[e.id for e in ERROR_CASES if e.torch])
def test_live_torch_raises_the_same_error(error):
    pytest.importorskip("torch", reason="needs torch 2.13 to check the table against it")
    from tests.make_schedule_golden import make_optimizer, make_scheduler, step

    optimizer = make_optimizer((0.05,))
    match = error.match if error.torch_match is None else error.torch_match
    with pytest.raises(error.error) as raised:
        step(optimizer, make_scheduler(error.spec, optimizer), error.torch_steps)
    assert str(raised.value).startswith(match), str(raised.value)


def _quadratic_grads(params: dict[str, jax.Array]) -> dict[str, jax.Array]:
    return jax.grad(lambda p: sum(jnp.sum((x - 1.0) ** 2 * (i + 1)) for i, x in enumerate(jax.tree.leaves(p))))(params)


def _run(tx: fo.GradientTransformation, steps: int, set_values=None) -> dict[str, jax.Array]:
    """``steps`` jitted updates on a small quadratic; ``set_values(count)`` replaces hyperparameters first."""
    params = {"w": jnp.linspace(-1.0, 2.0, 6, dtype=jnp.float64).reshape(2, 3), "b": jnp.asarray([0.5, -0.25])}
    state = tx.init(params)
    update = jax.jit(tx.update)
    for count in range(steps):
        if set_values is not None:
            values = {k: jnp.asarray(v, jnp.float64) for k, v in set_values(count).items()}
            state = state._replace(hyperparams={**state.hyperparams, **values})
        updates, state = update(_quadratic_grads(params), state, params)
        params = fo.apply_updates(params, updates)
    return params


def test_schedule_as_sgd_lr_matches_stepping_lr_by_hand():
    lr = schedules.step_lr(0.1, step_size=3, gamma=0.5)
    scheduled = _run(fo.sgd(lr=lr, momentum=0.9), 10)
    by_hand = _run(fo.sgd(lr=0.1, momentum=0.9), 10, lambda count: {"lr": float(lr(count))})
    jax.tree.map(np.testing.assert_array_equal, scheduled, by_hand)


def test_cyclic_momentum_drives_sgd_like_torchs_groups():
    lr = schedules.cyclic_lr(0.01, 0.1, step_size_up=3, step_size_down=2)
    scheduled = _run(fo.sgd(lr=lr, momentum=lr.momentum), 12)
    by_hand = _run(
        fo.sgd(lr=0.01, momentum=0.9),
        12,
        lambda count: {"lr": float(lr(count)), "momentum": float(lr.momentum(count))},
    )
    jax.tree.map(np.testing.assert_array_equal, scheduled, by_hand)


def test_per_epoch_gives_every_update_of_an_epoch_its_lr():
    decay = schedules.exponential_lr(1e-2, gamma=0.5)
    lr = schedules.per_epoch(decay, 4)
    np.testing.assert_array_equal(jax.vmap(lr)(jnp.arange(12)), np.repeat([1e-2, 5e-3, 2.5e-3], 4))
    scheduled = _run(fo.adam(lr=lr), 10)
    by_hand = _run(fo.adam(lr=1e-2), 10, lambda count: {"lr": float(decay(count // 4))})
    jax.tree.map(np.testing.assert_array_equal, scheduled, by_hand)
    assert lr.factor is not None and lr.factor(jnp.asarray(5)) == 0.5


# lbfgs steps with a closure, sparse_adam takes sparse grads: their own tests cover schedules.
_SPECIAL_UPDATES = ("lbfgs", "sparse_adam")


def _transforms_with_lr() -> list[str]:
    names = []
    for name in fo.__all__:
        factory = getattr(fo, name)
        if inspect.isfunction(factory) and "lr" in inspect.signature(factory).parameters:
            names.append(name)
    return [name for name in names if name not in _SPECIAL_UPDATES]


@pytest.mark.parametrize("name", _transforms_with_lr())
def test_every_transform_takes_a_schedule_as_lr(name):
    lr = schedules.cosine_annealing_lr(1e-2, T_max=4)
    tx = getattr(fo, name)(lr=lr)
    params = {"w": jnp.linspace(-1.0, 2.0, 6, dtype=jnp.float64).reshape(2, 3)}
    state = tx.init(params)
    update = jax.jit(tx.update)
    for count in range(3):
        updates, state = update(_quadratic_grads(params), state, params)
        params = fo.apply_updates(params, updates)
        assert state.hyperparams["lr"] == lr(count)


def test_one_cycle_stays_at_its_last_torch_value_past_total_steps():
    lr = schedules.one_cycle_lr(0.1, total_steps=12)
    values = jax.vmap(lr)(jnp.arange(20))
    np.testing.assert_array_equal(values[12:], values[12])
    assert values[11] == pytest.approx(0.1 / 25 / 1e4)


def test_constant_lr_zero_factor_follows_the_closed_form():
    # torch's recursive form divides by zero at total_iters; its closed form gives base_lr from there.
    np.testing.assert_array_equal(
        jax.vmap(schedules.constant_lr(0.1, factor=0.0, total_iters=3))(jnp.arange(6)), [0, 0, 0, 0.1, 0.1, 0.1]
    )


def test_multiplicative_lr_loops_over_a_traced_epoch():
    lr = schedules.multiplicative_lr(0.1, lambda epoch: 1.0 - 0.01 * epoch)
    expected = [0.1]
    for epoch in range(1, 6):
        expected.append(expected[-1] * (1.0 - 0.01 * epoch))
    np.testing.assert_array_equal(jax.jit(jax.vmap(lr))(jnp.arange(6, dtype=jnp.int32)), expected)


def test_schedules_are_exported_sorted():
    assert fo.schedules is schedules
    assert fo.__all__ == sorted(fo.__all__) and "schedules" in fo.__all__
    assert schedules.__all__ == sorted(schedules.__all__)
    for name in schedules.__all__:
        assert getattr(schedules, name).__doc__
