"""functional_optim in clients nobody here wrote: Flax NNX, Flax's TrainState, orbax, Equinox.

These need the ``integration`` extra (``pip install -e ".[integration]"``; CI installs it) and
skip, saying so, without it. Each test uses the client the way its own documentation does.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_optim as fo

INSTALL = 'needs the integration extra: pip install -e ".[integration]"'


@pytest.fixture
def nnx():
    return pytest.importorskip("flax.nnx", reason=INSTALL)


def _mlp(nnx):
    class MLP(nnx.Module):
        def __init__(self, rngs):
            self.hidden = nnx.Linear(3, 8, rngs=rngs)
            self.out = nnx.Linear(8, 1, rngs=rngs)

        def __call__(self, x):
            return self.out(jnp.tanh(self.hidden(x)))

    return MLP(nnx.Rngs(0))


def _data():
    x = jax.random.normal(jax.random.key(0), (16, 3))
    return x, jnp.sin(x.sum(axis=1, keepdims=True))


def _mse(model, x, y):
    return jnp.mean((model(x) - y) ** 2)


def test_nnx_optimizer_steps_as_the_functional_transform(nnx):
    x, y = _data()
    model = _mlp(nnx)
    graphdef, params = nnx.split(_mlp(nnx))  # the same model, apart (nnx.Optimizer updates `model` in place)
    tx = fo.adamw(1e-2, weight_decay=0.1)
    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)

    @nnx.jit
    def step(model, optimizer):
        optimizer.update(model, nnx.grad(_mse)(model, x, y))

    state = tx.init(params)
    for _ in range(3):
        step(model, optimizer)
        grads = jax.grad(lambda p: _mse(nnx.merge(graphdef, p), x, y))(params)
        updates, state = tx.update(grads, state, params)
        params = fo.apply_updates(params, updates)
    # float32 params: the jitted step and the eager reference round differently.
    chex.assert_trees_all_close(nnx.state(model, nnx.Param), params, rtol=1e-5)


def test_nnx_optimizer_takes_lbfgs_with_the_objective(nnx):
    x, y = _data()
    model = _mlp(nnx)
    optimizer = nnx.Optimizer(model, fo.lbfgs(line_search_fn="strong_wolfe"), wrt=nnx.Param)

    @nnx.jit
    def step(model, optimizer):
        graphdef, _, rest = nnx.split(model, nnx.Param, ...)
        loss, grads = nnx.value_and_grad(_mse)(model, x, y)
        optimizer.update(
            model, grads, value=loss, value_fn=lambda params: _mse(nnx.merge(graphdef, params, rest), x, y)
        )
        return loss

    first = float(step(model, optimizer))
    for _ in range(3):
        step(model, optimizer)
    assert float(_mse(model, x, y)) < 0.1 * first


def test_nnx_optimizer_hyperparameters_are_read_and_set_in_place_of_their_variables(nnx):
    model = _mlp(nnx)
    optimizer = nnx.Optimizer(model, fo.adamw(1e-3, betas=(0.9, 0.999)), wrt=nnx.Param)
    old = optimizer.opt_state
    optimizer.opt_state = fo.set_hyperparams(optimizer.opt_state, lr=1e-2, betas=(0.8, 0.99))
    hyperparams = fo.get_hyperparams(optimizer.opt_state)
    assert isinstance(hyperparams["lr"], nnx.Variable) and isinstance(hyperparams["betas"][1], nnx.Variable)
    np.testing.assert_allclose([hyperparams["lr"][...], hyperparams["betas"][1][...]], [1e-2, 0.99], rtol=1e-6)
    np.testing.assert_allclose(fo.get_hyperparams(old)["lr"][...], 1e-3, rtol=1e-6)  # the old state untouched


def test_muon_fan_out_axis_1_steps_an_nnx_kernel_as_torch_steps_its_weight(nnx):
    # nnx.Linear(4, 16)'s kernel is (4, 16), torch's Linear(4, 16).weight is (16, 4): with
    # fan_out_axis=1 the kernel gets torch's lr factor sqrt(max(1, 16/4)) = 2, not 1.
    kernel = nnx.Linear(4, 16, rngs=nnx.Rngs(0)).kernel[...]
    grad = jax.random.normal(jax.random.key(2), kernel.shape, kernel.dtype)

    def stepped(tx, param, grad):
        updates, _ = tx.update(grad, tx.init(param), param)
        return fo.apply_updates(param, updates)

    as_torch = stepped(fo.muon(lr=0.02), kernel.T, grad.T).T
    np.testing.assert_array_equal(stepped(fo.muon(lr=0.02, fan_out_axis=1), kernel, grad), as_torch)
    assert not np.array_equal(stepped(fo.muon(lr=0.02), kernel, grad), as_torch)


def test_flax_train_state_applies_functional_optim_gradients():
    train_state = pytest.importorskip("flax.training.train_state", reason=INSTALL)
    x, y = _data()
    params = {"w": jnp.ones((3, 1)), "b": jnp.zeros(1)}

    def apply_fn(params, x):
        return x @ params["w"] + params["b"]

    tx = fo.sgd(0.1, momentum=0.9, nesterov=True)
    state = train_state.TrainState.create(apply_fn=apply_fn, params=params, tx=tx)
    opt_state = tx.init(params)
    for _ in range(3):
        grads = jax.grad(lambda p: jnp.mean((apply_fn(p, x) - y) ** 2))(state.params)
        state = jax.jit(lambda s, g: s.apply_gradients(grads=g))(state, grads)
        updates, opt_state = tx.update(grads, opt_state, params)
        params = fo.apply_updates(params, updates)
    chex.assert_trees_all_close(state.params, params, rtol=1e-12)
    assert int(state.step) == 3


def test_orbax_restores_against_an_abstract_target_and_continues_bit_identically(tmp_path):
    ocp = pytest.importorskip("orbax.checkpoint", reason=INSTALL)
    x, y = _data()
    params = {"w": jnp.ones((3, 1)), "b": jnp.zeros(1)}
    tx = fo.chain(fo.clip_grad_norm(1.0), fo.adam(fo.schedules.cosine_annealing_lr(1e-2, T_max=10), amsgrad=True))

    @jax.jit
    def step(params, state):
        grads = jax.grad(lambda p: jnp.mean((x @ p["w"] + p["b"] - y) ** 2))(params)
        return fo.apply_gradients(tx, grads, state, params)

    state = tx.init(params)
    for _ in range(3):
        params, state = step(params, state)
    with ocp.StandardCheckpointer() as checkpointer:
        checkpointer.save(tmp_path / "ckpt", {"params": params, "state": state})
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, {"params": params, "state": state})
    with ocp.StandardCheckpointer() as checkpointer:
        restored = checkpointer.restore(tmp_path / "ckpt", abstract)
    assert jax.tree.structure(restored) == jax.tree.structure({"params": params, "state": state})
    resumed_params, resumed_state = restored["params"], restored["state"]
    for _ in range(3):
        params, state = step(params, state)
        resumed_params, resumed_state = step(resumed_params, resumed_state)
    chex.assert_trees_all_equal((resumed_params, resumed_state), (params, state))


def test_equinox_model_trains_with_filtered_updates():
    eqx = pytest.importorskip("equinox", reason=INSTALL)
    x, y = _data()
    model = eqx.nn.MLP(3, 1, 8, depth=1, key=jax.random.key(0))
    tx = fo.rmsprop(1e-2, centered=True)
    state = tx.init(eqx.filter(model, eqx.is_array))

    @eqx.filter_jit
    def step(model, state):
        loss, grads = eqx.filter_value_and_grad(lambda m: jnp.mean((jax.vmap(m)(x) - y) ** 2))(model)
        updates, state = tx.update(grads, state, eqx.filter(model, eqx.is_array))
        return eqx.apply_updates(model, updates), state, loss

    losses = []
    for _ in range(20):
        model, state, loss = step(model, state)
        losses.append(float(loss))
    assert losses[-1] < 0.5 * losses[0]
