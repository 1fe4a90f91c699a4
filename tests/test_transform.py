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
from tests.runner import make_transform

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


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16, jnp.float32, jnp.float64])
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


ELEMENTWISE = ("sgd", "adam", "adamw", "adamax", "adagrad", "adadelta", "rmsprop", "nadam", "radam", "rprop", "asgd")


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
