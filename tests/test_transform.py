"""The transform contract: pytrees, dtypes, jit without re-compiling, mixing with optax."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import functional_optim as fo
from tests.algorithm_table import ALGORITHMS
from tests.runner import kernel_paths, make_transform, on_path, tolerances, trajectory

MIXED = [info for info in ALGORITHMS if info.problem == "mixed"]
MIXED_IDS = [info.name for info in MIXED]


def quadratic_loss(params):
    return sum(jnp.sum(jnp.real(x * jnp.conj(x)) * 0.5) for x in jax.tree.leaves(params))


@pytest.mark.parametrize("info", MIXED, ids=MIXED_IDS)
def test_any_pytree_shape_with_none_and_scalar_leaves(info):
    params = {"layers": [jnp.ones((2, 3)), (jnp.zeros(3), None)], "scale": 2.0}
    tx = make_transform(info, info.configs[0])
    state = tx.init(params)
    grads = jax.grad(quadratic_loss)(params)
    updates, state = jax.jit(tx.update)(grads, state, params)
    new_params = fo.apply_updates(params, updates)
    assert jax.tree.structure(new_params) == jax.tree.structure(params)
    assert new_params["layers"][1][1] is None


# float16 and float64 under pytest -m slow: bfloat16 and float32 take the same code paths.
@pytest.mark.parametrize(
    "dtype", [jnp.bfloat16, jnp.float32, *(pytest.param(d, marks=pytest.mark.slow) for d in (jnp.float16, jnp.float64))]
)
@pytest.mark.parametrize("info", MIXED, ids=MIXED_IDS)
def test_state_and_params_keep_the_param_dtype(info, dtype):
    params = {"w": jnp.full((3, 2), 0.5, dtype), "b": jnp.full((2,), -0.5, dtype)}
    tx = make_transform(info, info.configs[0])
    state = tx.init(params)
    for _ in range(3):
        updates, state = jax.jit(tx.update)(jax.grad(quadratic_loss)(params), state, params)
        params = fo.apply_updates(params, updates)
    for leaf in jax.tree.leaves((params, state.inner_state)):
        if jnp.ndim(leaf) > 0:
            assert leaf.dtype == dtype
    assert all(bool(jnp.all(jnp.isfinite(leaf))) for leaf in jax.tree.leaves(params))


def test_changing_hyperparams_between_jitted_steps_does_not_recompile():
    traces = []

    def counted_update(grads, state, params):
        traces.append(1)
        return tx.update(grads, state, params)

    tx = fo.adam(lr=1e-3, weight_decay=0.1, amsgrad=True)
    params = {"w": jnp.ones((3,))}
    state = tx.init(params)
    update = jax.jit(counted_update)
    for lr, betas, weight_decay in [(1e-3, (0.9, 0.999), 0.1), (5e-2, (0.8, 0.99), 0.0), (1e-4, (0.5, 0.9), 0.3)]:
        state = fo.set_hyperparams(state, lr=lr, betas=betas, weight_decay=weight_decay)
        updates, state = update(jax.grad(quadratic_loss)(params), state, params)
        params = fo.apply_updates(params, updates)
        np.testing.assert_allclose(state.hyperparams["lr"], lr)
    assert len(traces) == 1


# The algorithms whose L2 weight decay torch skips at 0 (``if weight_decay != 0``), with a config.
L2_DECAY = [
    ("sgd", {"momentum": 0.9}),
    ("adam", {}),
    ("adamax", {}),
    ("adagrad", {}),
    ("adadelta", {}),
    ("rmsprop", {}),
    ("asgd", {}),
    ("nadam", {}),
    ("radam", {}),
]


@pytest.mark.parametrize(("name", "config"), L2_DECAY, ids=[name for name, _ in L2_DECAY])
def test_weight_decay_given_as_zero_is_left_out_as_torch_skips_it(name, config):
    """An infinite parameter: torch skips ``grad + 0 * param``, so no NaN (``0 * inf``) enters the state."""
    params = {"w": jnp.array([jnp.inf, 1.0, -2.0])}
    tx = getattr(fo, name)(weight_decay=0.0, **config)
    _, state = jax.jit(tx.update)({"w": jnp.array([0.5, 0.25, -1.0])}, tx.init(params), params)
    assert not any(bool(jnp.any(jnp.isnan(leaf))) for leaf in jax.tree.leaves(state.inner_state))


ELEMENTWISE = [info.name for info in ALGORITHMS if info.reduction is None]


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
@pytest.mark.parametrize("name", ELEMENTWISE)
def test_an_infinite_param_stays_infinite_as_in_torch(name, dtype):
    """torch's in-place steps leave an infinite entry infinite; its update must not be ``inf - inf = NaN``."""
    params = [jnp.array([jnp.inf, -jnp.inf, 1.0], dtype)]
    tx = getattr(fo, name)(lr=0.1)
    state = tx.init(params)
    for _ in range(2):
        updates, state = jax.jit(tx.update)([jnp.array([0.5, -0.25, 1.0], dtype)], state, params)
        params = fo.apply_updates(params, updates)
    np.testing.assert_array_equal(np.asarray(params[0][:2], np.float32), [np.inf, -np.inf])
    assert bool(jnp.isfinite(params[0][2]))


def test_a_fixed_zero_weight_decay_refuses_to_change_and_an_array_one_changes():
    params = {"w": jnp.ones(3)}
    with pytest.raises(ValueError, match=r"\['weight_decay'\] were given as 0 .*\(weight_decay=jnp.asarray\(0.0\)"):
        fo.set_hyperparams(fo.adam().init(params), weight_decay=0.1)
    changeable, decayed = fo.adam(weight_decay=jnp.asarray(0.0)), fo.adam(weight_decay=0.1)
    state = fo.set_hyperparams(changeable.init(params), weight_decay=0.1)
    grads = {"w": jnp.array([0.5, -0.25, 1.0])}
    chex.assert_trees_all_close(
        changeable.update(grads, state, params)[0], decayed.update(grads, decayed.init(params), params)[0]
    )


def test_schedule_as_lr_is_evaluated_at_the_update_count():
    tx = fo.sgd(lr=lambda count: 0.1 * (count + 1))
    params = jnp.zeros(())
    state = tx.init(params)
    steps = []
    for _ in range(3):
        updates, state = jax.jit(tx.update)(jnp.ones(()), state, params)
        steps.append(float(updates))
    np.testing.assert_allclose(steps, [-0.1, -0.2, -0.3])


def test_fo_transform_inside_optax_chain():
    params = {"w": jnp.arange(4.0)}
    grads = {"w": jnp.full((4,), 10.0)}
    chained = optax.chain(optax.clip_by_global_norm(1.0), fo.adam(1e-3))
    state = chained.init(params)
    updates, state = jax.jit(chained.update)(grads, state, params)
    reference = fo.adam(1e-3)
    clipped, _ = optax.clip_by_global_norm(1.0).update(grads, optax.clip_by_global_norm(1.0).init(params))
    expected, _ = reference.update(clipped, reference.init(params), params)
    chex.assert_trees_all_close(updates, expected)


def test_optax_transform_inside_fo_chain():
    params = {"w": jnp.arange(4.0)}
    grads = {"w": jnp.linspace(-1.0, 1.0, 4)}
    chained = fo.chain(optax.scale_by_adam(), fo.sgd(lr=0.1, momentum=0.9))
    state = chained.init(params)
    updates, state = jax.jit(chained.update)(grads, state, params)
    scaled, _ = optax.scale_by_adam().update(grads, optax.scale_by_adam().init(params))
    chex.assert_trees_all_close(updates, jax.tree.map(lambda s: -0.1 * s, scaled))


def test_fo_chain_hands_keyword_arguments_to_the_transforms_that_take_them():
    # As optax.chain: reduce_on_plateau (an optax GradientTransformationExtraArgs) gets the loss,
    # fo.sgd (update(grads, state, params)) gets nothing.
    params = {"w": jnp.arange(4.0)}
    grads = {"w": jnp.ones(4)}
    plateau = optax.contrib.reduce_on_plateau(patience=0, factor=0.5, cooldown=0)
    for chain in (fo.chain, optax.chain):
        chained = chain(fo.sgd(lr=0.1), plateau)
        state = chained.init(params)
        for _ in range(3):  # a loss that never improves: with patience 0 the scale is halved once
            updates, state = chained.update(grads, state, params, value=jnp.asarray(1.0))
        chex.assert_trees_all_close(updates, {"w": jnp.full(4, -0.1 * 0.5)}, custom_message=chain.__module__)


def test_fo_updates_refuse_keyword_arguments():
    params = {"w": jnp.arange(4.0)}
    tx = fo.sgd(lr=0.1)
    assert not fo.takes_extra_args(tx) and fo.takes_extra_args(fo.lbfgs())
    with pytest.raises(TypeError, match="value"):
        tx.update(params, tx.init(params), params, value=1.0)


def test_every_exported_algorithm_has_a_row_in_the_table():
    """Every table-driven test derives its list from tests/algorithm_table.py: a missing row drops them all."""
    exported = {
        name
        for name in fo.__all__
        if callable(getattr(fo, name))
        and not isinstance(getattr(fo, name), type)
        and getattr(fo, name).__module__.startswith("functional_optim.algorithms.")
    }
    # L-BFGS's closure-driven runs have their own table: CASES in tests/make_lbfgs_golden.py.
    assert exported - {info.name for info in ALGORITHMS} == {"lbfgs"}


def test_complex_params_follow_their_real_view():
    complex_params = {"z": jnp.array([1.0 + 2.0j, -0.5 + 0.25j])}
    real_params = {"z": jnp.stack([complex_params["z"].real, complex_params["z"].imag], -1)}
    tx = fo.adam(lr=0.1, weight_decay=0.1)
    states = tx.init(complex_params), tx.init(real_params)
    for _ in range(5):
        complex_grads = {"z": jnp.conj(complex_params["z"]) * (1 + 1j)}
        real_grads = {"z": jnp.stack([complex_grads["z"].real, complex_grads["z"].imag], -1)}
        complex_updates, complex_state = tx.update(complex_grads, states[0], complex_params)
        real_updates, real_state = tx.update(real_grads, states[1], real_params)
        states = complex_state, real_state
        complex_params = fo.apply_updates(complex_params, complex_updates)
        real_params = fo.apply_updates(real_params, real_updates)
        np.testing.assert_allclose(complex_params["z"].real, real_params["z"][:, 0], rtol=1e-12)
        np.testing.assert_allclose(complex_params["z"].imag, real_params["z"][:, 1], rtol=1e-12)


def test_grads_with_another_structure_raise_a_clear_error():
    tx = fo.sgd(lr=0.1)
    params = {"a": jnp.ones(2), "b": jnp.ones(3)}
    state = tx.init(params)
    with pytest.raises(ValueError, match="tree structure"):
        tx.update({"a": jnp.ones(2)}, state, params)


def test_grads_with_another_shape_raise_a_clear_error():
    tx = fo.sgd(lr=0.1)
    params = {"a": jnp.ones(2), "b": jnp.ones(3)}
    state = tx.init(params)
    with pytest.raises(ValueError, match=r"grad at \['b'\] has shape \(4,\) but its param has shape \(3,\)"):
        tx.update({"a": jnp.ones(2), "b": jnp.ones(4)}, state, params)


def test_update_without_params_raises():
    tx = fo.adam()
    state = tx.init(jnp.ones(2))
    with pytest.raises(ValueError, match="needs the current params"):
        tx.update(jnp.ones(2), state)


def test_integer_params_are_rejected_at_init():
    with pytest.raises(TypeError, match="floating-point"):
        fo.adam().init({"steps": jnp.arange(3)})


def test_non_numeric_hyperparameter_is_rejected():
    with pytest.raises(TypeError, match="lr must be a number"):
        fo.adam(lr="0.1")


@pytest.mark.parametrize("info", MIXED, ids=MIXED_IDS)
def test_params_and_state_can_be_donated(info):
    """No two state leaves share a buffer, so a training step may donate params and state."""
    params = {"w": jnp.ones((3, 2)), "b": jnp.ones(2)}
    tx = make_transform(info, info.configs[-1])
    state = tx.init(params)

    def step(params, state, grads):
        updates, state = tx.update(grads, state, params)
        return fo.apply_updates(params, updates), state

    step = jax.jit(step, donate_argnums=(0, 1))
    for _ in range(2):
        params, state = step(params, state, jax.grad(quadratic_loss)(params))
    assert all(bool(jnp.all(jnp.isfinite(leaf))) for leaf in jax.tree.leaves(params))


# Momentum edited between steps, with a constant gradient 1 from w = 1 (float64): torch's
# numbers (torch.optim with the same param_group edits; for RMSprop, whose torch raises a
# KeyError when a momentum becomes positive after the first step, with the zero buffer it
# would create at a first step). Each row: transform, the steps' momentum edits, params after.
MOMENTUM_EDITS = [
    (fo.sgd(0.1, momentum=jnp.asarray(0.0)), {0: 0.9}, [0.9, 0.71, 0.439]),  # issue 14's example
    (fo.sgd(0.1, momentum=lambda count: 0.9), {}, [0.9, 0.71, 0.439]),
    (fo.sgd(0.1, momentum=jnp.asarray(0.0), dampening=0.5), {2: 0.9}, [0.9, 0.8, 0.7, 0.56]),  # buf = g at step 2
    (fo.sgd(0.1, momentum=jnp.asarray(0.9)), {2: 0.0, 3: 0.9}, [0.9, 0.71, 0.61, 0.339]),  # buf kept at step 2
    (fo.sgd(0.1, momentum=0.5), {0: 0.9}, [0.9, 0.71, 0.439]),
    (fo.rmsprop(0.01, eps=0.0, momentum=jnp.asarray(0.0)), {2: 0.9}, [0.9, 0.82911188, 0.77108697, 0.66848783]),
    (fo.rmsprop(0.01, eps=0.0, momentum=0.9), {1: 0.0, 2: 0.9}, [0.9, 0.82911188, 0.68108697, 0.49748783]),
]


@pytest.mark.parametrize(
    ("tx", "edits", "expected"),
    MOMENTUM_EDITS,
    ids=[
        "sgd-array",
        "sgd-schedule",
        "sgd-dampening",
        "sgd-through-0",
        "sgd-number",
        "rmsprop-array",
        "rmsprop-number",
    ],
)
def test_momentum_edited_between_steps_is_used_as_torch_uses_it(tx, edits, expected):
    w = jnp.ones((), jnp.float64)
    state, history = tx.init(w), []
    update = jax.jit(tx.update)
    for i in range(len(expected)):
        if i in edits:
            state = fo.set_hyperparams(state, momentum=edits[i])
        updates, state = update(jnp.ones((), jnp.float64), state, w)
        w = fo.apply_updates(w, updates)
        history.append(float(w))
    np.testing.assert_allclose(history, expected, rtol=1e-8)
    assert update._cache_size() == 1


@pytest.mark.parametrize("name", ["sgd", "rmsprop"])
def test_a_momentum_given_as_zero_keeps_no_buffer_and_refuses_to_change(name):
    state = getattr(fo, name)(0.1).init({"w": jnp.ones(3)})
    assert state.inner_state.momentum_buffer is None
    with pytest.raises(ValueError, match=r"\['momentum'\] were given as 0 .*\(momentum=jnp.asarray\(0.0\)"):
        fo.set_hyperparams(state, momentum=0.9)


def test_sgd_momentum_given_as_a_nonzero_number_refuses_zero_and_keeps_the_native_kernel():
    tx = fo.sgd(0.1, momentum=0.9)
    state = fo.set_hyperparams(tx.init({"w": jnp.ones(3)}), momentum=0.5)
    np.testing.assert_allclose(state.hyperparams["momentum"], 0.5)
    with pytest.raises(ValueError, match=r"SGD's momentum .*\(momentum=jnp.asarray\(0.9\)\) or a schedule"):
        fo.set_hyperparams(state, momentum=0)
    assert fo.native.kernel(tx) == "sgd"
    assert fo.native.kernel(fo.sgd(0.1)) == "sgd"
    assert fo.native.kernel(fo.sgd(0.1, momentum=jnp.asarray(0.9))) is None  # a run-time 0 needs the XLA path


# Mid-run momentum edits on the parity problem: the transform, built so that any momentum may
# come (an array), against torch.optim with the same param_group edits before the same steps.
LIVE_MOMENTUM_EDITS = [
    ("sgd", {"lr": 0.05}, {3: {"momentum": 0.9}}),
    ("sgd", {"lr": 0.05, "dampening": 0.5}, {3: {"momentum": 0.9}}),
    ("sgd", {"lr": 0.05, "momentum": 0.9, "nesterov": True}, {3: {"momentum": 0.0}, 6: {"momentum": 0.5}}),
    (
        "sgd",
        {"lr": 0.05, "momentum": 0.9, "dampening": 0.3, "weight_decay": 0.1},
        {2: {"momentum": 0.0}, 5: {"momentum": 0.5, "dampening": 0.1}},
    ),
    ("rmsprop", {"lr": 0.01}, {3: {"momentum": 0.9}}),
    (
        "rmsprop",
        {"lr": 0.01, "centered": True, "weight_decay": 0.1},
        {3: {"momentum": 0.5}, 6: {"momentum": 0.0}, 8: {"momentum": 0.9}},
    ),
]


LIVE_CASES = [(*case, path) for case in LIVE_MOMENTUM_EDITS for path in kernel_paths(case[0])]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(("name", "config", "edits", "path"), LIVE_CASES)
def test_momentum_edited_mid_run_matches_live_torch(name, config, edits, path, dtype):
    torch = pytest.importorskip("torch", reason="torch is not installed: the constant-gradient cases cover it")
    torch_reference = pytest.importorskip("tests.torch_reference")
    info = next(info for info in ALGORITHMS if info.name == name)

    def edit_torch(i, optimizer):
        for group in optimizer.param_groups:
            group.update(edits.get(i, {}))
            for p in group["params"] if isinstance(optimizer, torch.optim.RMSprop) and group["momentum"] > 0 else []:
                if optimizer.state[p] and "momentum_buffer" not in optimizer.state[p]:
                    optimizer.state[p]["momentum_buffer"] = torch.zeros_like(p)  # instead of torch's KeyError

    expected = torch_reference.trajectory(info, config, dtype, steps=10, before_step=edit_torch)
    with on_path(path):
        ours = trajectory(
            info,
            {**config, "momentum": jnp.asarray(config.get("momentum", 0.0))},
            dtype,
            wrap_update=jax.jit,
            steps=10,
            before_step=lambda i, state: fo.set_hyperparams(state, **edits[i]) if i in edits else state,
        )
    chex.assert_trees_all_close(ours, expected, **tolerances(info, dtype))


def _hyperparams_states(state):
    nodes = jax.tree.leaves(state, is_leaf=lambda node: isinstance(node, fo.HyperparamsState))
    return [node for node in nodes if isinstance(node, fo.HyperparamsState)]


NESTING = {
    "fo.chain": lambda tx: fo.chain(optax.clip_by_global_norm(1.0), tx),
    "optax.inject_hyperparams": lambda tx: optax.chain(optax.inject_hyperparams(optax.clip)(max_delta=1.0), tx),
    "optax.chain": lambda tx: optax.chain(optax.clip(1.0), tx),
    "optax.masked": lambda tx: optax.masked(tx, {"w": True, "b": False}),
    "optax.MultiSteps": lambda tx: optax.MultiSteps(tx, every_k_schedule=2),
    "optax.apply_if_finite": lambda tx: optax.apply_if_finite(tx, max_consecutive_errors=3),
}


@pytest.mark.parametrize("nest", NESTING.values(), ids=NESTING.keys())
def test_set_hyperparams_reaches_a_state_nested_anywhere_without_recompiling(nest):
    params, grads = {"w": jnp.ones(3), "b": jnp.zeros(2)}, {"w": jnp.full(3, 0.5), "b": jnp.ones(2)}
    tx = nest(fo.adam(1e-3))
    state = tx.init(params)
    update = jax.jit(tx.update)
    for lr in (1e-3, 5e-2, 1e-4):
        state = fo.set_hyperparams(state, lr=lr)
        (inner,) = _hyperparams_states(state)
        np.testing.assert_allclose(inner.hyperparams["lr"], lr)
        np.testing.assert_allclose(fo.get_hyperparams(state)["lr"], lr)
        _, state = update(grads, state, params)
    assert update._cache_size() == 1
    assert jax.tree.structure(fo.set_hyperparams(state, lr=0.1)) == jax.tree.structure(state)
    with pytest.raises(KeyError, match=r"unknown hyperparameters \['momentum'\]; the states in this tree have"):
        fo.set_hyperparams(state, momentum=0.9)


def test_set_hyperparams_on_a_partition_sets_every_group_that_has_the_name():
    params = {"a": jnp.ones(2), "b": jnp.ones(3)}
    groups = {"x": fo.adam(1e-3), "y": fo.sgd(0.1, momentum=0.9)}
    state = optax.partition(groups, {"a": "x", "b": "y"}).init(params)
    state = fo.set_hyperparams(state, lr=1e-4, momentum=0.5)
    adam_state, sgd_state = (state.inner_states[k].inner_state for k in ("x", "y"))
    np.testing.assert_allclose([adam_state.hyperparams["lr"], sgd_state.hyperparams["lr"]], [1e-4, 1e-4])
    np.testing.assert_allclose(sgd_state.hyperparams["momentum"], 0.5)
    state = fo.set_hyperparams(state, lr=3e-3, group="x")  # one group, by its label
    np.testing.assert_allclose(state.inner_states["x"].inner_state.hyperparams["lr"], 3e-3)
    np.testing.assert_allclose(state.inner_states["y"].inner_state.hyperparams["lr"], 1e-4)
    with pytest.raises(ValueError, match=r"\['weight_decay'\] were given as 0"):  # Adam's is fixed, SGD's not
        fo.set_hyperparams(
            optax.partition({"x": fo.adam(), "y": fo.sgd(weight_decay=0.1)}, {"a": "x", "b": "y"}).init(params),
            weight_decay=0.2,
        )
    checkpoint = fo.set_hyperparams({"opt_state": state, "epoch": 3}, lr=1e-2)  # any pytree
    assert checkpoint["epoch"] == 3
    np.testing.assert_allclose([s.hyperparams["lr"] for s in _hyperparams_states(checkpoint)], [1e-2, 1e-2])
    with pytest.raises(KeyError, match="this tree holds no HyperparamsState"):
        fo.set_hyperparams(optax.sgd(0.1).init(params), lr=0.1)


def test_get_hyperparams_reads_the_current_values_for_logging():
    params = {"w": jnp.ones(3)}
    tx = fo.chain(fo.clip_grad_norm(1.0), fo.sgd(fo.schedules.step_lr(0.1, step_size=2, gamma=0.5), momentum=0.9))
    state = tx.init(params)
    update = jax.jit(tx.update)
    logged = []
    for _ in range(4):
        _, state = update(params, state, params)
        logged.append(float(fo.get_hyperparams(state)["lr"]))
    # The lr of each update: the schedule at counts 0, 1, 2, 3.
    np.testing.assert_allclose(logged, [0.1, 0.1, 0.05, 0.05])
    assert set(fo.get_hyperparams(state)) == {"lr", "momentum", "dampening", "weight_decay"}


def test_get_hyperparams_asks_for_a_group_when_the_tree_holds_several():
    params = {"a": jnp.ones(2), "b": jnp.ones(3)}
    state = optax.partition({"x": fo.adam(1e-3), "y": fo.sgd(0.1)}, {"a": "x", "b": "y"}).init(params)
    with pytest.raises(ValueError, match=r"holds 2 HyperparamsStates, at .*'x'.*'y'.*; pass group= to pick one"):
        fo.get_hyperparams(state)
    np.testing.assert_allclose(fo.get_hyperparams(state, group="y")["lr"], 0.1)
    with pytest.raises(KeyError, match=r"no HyperparamsState in this tree is under a key 'z' \(keys on their paths"):
        fo.get_hyperparams(state, group="z")
    with pytest.raises(KeyError, match="under a key 'z'"):
        fo.set_hyperparams(state, lr=0.1, group="z")
