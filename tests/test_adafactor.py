"""Adafactor beyond the table: batch factoring of a 3-D param, a 0-d param, rho = 1/sqrt(t), the state layout.

The table's configurations (tests/algorithm_table.py) run on the shared 2-D/1-D/0-d problem;
here a 3-D parameter is factored over its last two axes with its first as a batch axis.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_optim as fo
from tests.runner import jax_kwargs

STEPS = 30
CONFIGS = (
    {},
    {"lr": 1.0},  # rho = 1/sqrt(t) < lr from t = 2
    {"weight_decay": 0.1, "maximize": True, "d": 1.5},
    {"beta2_decay": -0.5, "eps": (1e-6, 1e-3)},
)
CONFIG_IDS = [",".join(f"{k}={v}" for k, v in c.items()) or "default" for c in CONFIGS]
TOLERANCES = {"float64": 1e-10, "float32": 1e-5}


def initial_params() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(31)
    return {"w": rng.normal(size=(3, 4, 5)), "s": np.asarray(rng.normal()), "v": rng.normal(size=(5,))}


def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(32)
    return rng.normal(size=(6, 5)), rng.normal(size=(6,))


def loss(params, x, y, xp):
    hidden = xp.tanh(xp.einsum("nj,bij->nbi", x, params["w"]))
    return ((params["s"] * hidden.sum((1, 2)) + x @ params["v"] - y) ** 2).mean()


def jax_run(config: dict, dtype: str) -> dict[str, np.ndarray]:
    tx = fo.adafactor(**jax_kwargs(config))
    params = {k: jnp.asarray(v, dtype) for k, v in initial_params().items()}
    x, y = (jnp.asarray(a, dtype) for a in data())
    grad_fn = jax.jit(jax.grad(lambda p: loss(p, x, y, jnp)))
    update = jax.jit(tx.update)
    state = tx.init(params)
    history = {k: [np.asarray(v)] for k, v in params.items()}
    for _ in range(STEPS):
        updates, state = update(grad_fn(params), state, params)
        params = fo.apply_updates(params, updates)
        for k, v in params.items():
            history[k].append(np.asarray(v))
    result = {k: np.stack(v) for k, v in history.items()}
    inner = state.inner_state
    result.update({"w|row_var": inner.row_var["w"], "w|col_var": inner.col_var["w"]})
    result.update({f"{k}|variance": inner.variance[k] for k in ("s", "v")})
    return {k: np.asarray(v) for k, v in result.items()}


def torch_run(config: dict, dtype: str) -> dict[str, np.ndarray]:
    import torch

    from tests.torch_reference import torch_kwargs

    torch_dtype = getattr(torch, dtype)
    params = {k: torch.tensor(v, dtype=torch_dtype, requires_grad=True) for k, v in initial_params().items()}
    x, y = (torch.tensor(a, dtype=torch_dtype) for a in data())
    optimizer = torch.optim.Adafactor(list(params.values()), **torch_kwargs(config))
    history = {k: [v.detach().numpy().copy()] for k, v in params.items()}
    for _ in range(STEPS):
        optimizer.zero_grad()
        loss(params, x, y, torch).backward()
        optimizer.step()
        for k, v in params.items():
            history[k].append(v.detach().numpy().copy())
    result = {k: np.stack(v) for k, v in history.items()}
    for k, p in params.items():
        state = optimizer.state[p]
        assert float(state["step"]) == STEPS
        result.update({f"{k}|{key}": v.numpy().copy() for key, v in state.items() if key != "step"})
    return result


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("config", CONFIGS, ids=CONFIG_IDS)
def test_3d_and_0d_params_match_live_torch(config, dtype):
    pytest.importorskip("torch", reason="torch is not installed: the table's golden tests cover parity without it")
    ours, expected = jax_run(config, dtype), torch_run(config, dtype)
    assert set(ours) == set(expected)  # the same state keys per param
    tolerance = TOLERANCES[dtype]
    chex.assert_trees_all_close(ours, expected, rtol=tolerance, atol=tolerance)


def test_state_fields_hold_torchs_keys_per_param():
    params = {"batch": jnp.ones((2, 3, 4)), "matrix": jnp.ones((3, 4)), "vector": jnp.ones(4), "scalar": jnp.ones(())}
    state = fo.adafactor().init(params).inner_state
    assert isinstance(state, fo.AdafactorState)
    assert state.step.dtype == jnp.float32
    chex.assert_trees_all_equal_shapes_and_dtypes(
        (state.row_var["batch"], state.col_var["batch"]), (jnp.zeros((2, 3, 1)), jnp.zeros((2, 1, 4)))
    )
    chex.assert_shape((state.row_var["matrix"], state.col_var["matrix"]), [(3, 1), (1, 4)])
    assert state.variance["batch"] is None and state.variance["matrix"] is None
    assert state.row_var["vector"] is None and state.col_var["scalar"] is None
    chex.assert_shape((state.variance["vector"], state.variance["scalar"]), [(4,), ()])
    only_matrices = fo.adafactor().init({"a": jnp.ones((2, 2))}).inner_state
    assert only_matrices.variance is None
    tx = fo.adafactor()
    _, new_state = jax.jit(tx.update)(params, tx.init(params), params)
    assert jax.tree.structure(new_state) == jax.tree.structure(tx.init(params))


def test_eps1_none_is_the_eps_of_the_first_leafs_dtype():
    params = {"a": jnp.full((3, 2), 0.5, jnp.float64), "b": jnp.full((2,), 1e-9, jnp.float32)}
    grads = {"a": jnp.full((3, 2), 1e-12), "b": jnp.full((2,), 1e-12, jnp.float32)}

    def first_update(eps1):
        tx = fo.adafactor(eps=(eps1, 1e-3))
        return tx.update(grads, tx.init(params), params)[0]

    chex.assert_trees_all_equal(first_update(None), first_update(float(jnp.finfo(jnp.float64).eps)))
    assert not np.array_equal(first_update(None)["b"], first_update(float(jnp.finfo(jnp.float32).eps))["b"])


def test_complex_params_are_rejected():
    with pytest.raises(TypeError, match="Adafactor does not support complex parameters"):
        fo.adafactor().init({"z": jnp.ones((2, 3), jnp.complex64)})
