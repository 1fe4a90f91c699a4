"""SparseAdam: lazy Adam on BCOO gradients, against torch on an embedding problem (golden and live).

The problem and its torch side are in tests/make_sparse_golden.py; construction errors are in
the algorithm table (tests/test_validation.py).
"""

from __future__ import annotations

import functools
import re

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental import sparse

import functional_optim as fo
from tests import make_sparse_golden as problem
from tests.runner import jax_kwargs

TOLERANCES = {"float64": 1e-10, "float32": 1e-5}
DENSE_GRAD_ERROR = "SparseAdam does not support dense gradients, please consider Adam instead"
# Jitted: every configuration in float64 and the first in float32; eagerly: the first in float64.
# The others under pytest -m slow.
CASES = [
    pytest.param(
        config,
        dtype,
        variant,
        id=f"[{problem.INFO.config_id(config)}]-{dtype}-{variant}",
        marks=()
        if (variant, dtype) == ("jit", "float64") or (i == 0 and (variant, dtype) != ("eager", "float32"))
        else pytest.mark.slow,
    )
    for i, config in enumerate(problem.CONFIGS)
    for dtype in problem.DTYPES
    for variant in ("jit", "eager")
]


@jax.jit
def _row_grads(params, bag_ids, emb_ids, target, head):
    def loss_of_rows(bag_rows, emb_rows):
        bag_out = jax.ops.segment_sum(bag_rows, problem.BAG_SEGMENTS, num_segments=4)
        return problem.loss(bag_out, emb_rows, target, head, jnp)

    return jax.grad(loss_of_rows, argnums=(0, 1))(params["bag"][bag_ids], params["emb"][emb_ids])


def embedding_grads(params: dict, step: int) -> dict[str, sparse.BCOO]:
    """The gradients torch's sparse embeddings produce: one row per id, duplicates not summed."""
    data = problem.step_data()
    dtype = params["bag"].dtype
    bag_ids, emb_ids = data["bag_ids"][step], data["emb_ids"][step]
    target, head = jnp.asarray(data["targets"][step], dtype), jnp.asarray(data["head"], dtype)
    bag_grad, emb_grad = _row_grads(params, bag_ids, emb_ids, target, head)
    return {
        "bag": sparse.BCOO((bag_grad, jnp.asarray(bag_ids)[:, None]), shape=params["bag"].shape),
        "emb": sparse.BCOO((emb_grad.reshape(-1, 3), jnp.asarray(emb_ids).reshape(-1, 1)), shape=params["emb"].shape),
    }


def jax_run(config: dict, dtype: str, wrap_update=lambda update: update, steps: int = problem.STEPS):
    """Our trajectory, keyed like :func:`tests.make_sparse_golden.torch_run`, and the states after each step."""
    tx = fo.sparse_adam(**jax_kwargs(config))
    params = {k: jnp.asarray(v, dtype) for k, v in problem.initial_tables().items()}
    update = wrap_update(tx.update)
    state = tx.init(params)
    history, states = {k: [np.asarray(v)] for k, v in params.items()}, [state.inner_state]
    for t in range(steps):
        updates, state = update(embedding_grads(params, t), state, params)
        params = fo.apply_updates(params, updates)
        states.append(state.inner_state)
        for k, v in params.items():
            history[k].append(np.asarray(v))
    result = {k: np.stack(v) for k, v in history.items()}
    for k in params:
        result[f"state|step|{k}"] = np.asarray(state.inner_state.step)
        result[f"state|exp_avg|{k}"] = np.asarray(state.inner_state.exp_avg[k])
        result[f"state|exp_avg_sq|{k}"] = np.asarray(state.inner_state.exp_avg_sq[k])
    return result, states


def assert_matches(ours: dict, expected: dict, dtype: str) -> None:
    tolerance = TOLERANCES[dtype]
    for key, value in expected.items():
        if "|step|" in key:
            assert int(ours[key]) == int(value), key
        else:
            np.testing.assert_allclose(ours[key], value, rtol=tolerance, atol=tolerance, err_msg=key)


@functools.cache
def golden() -> dict[str, np.ndarray]:
    with np.load(problem.GOLDEN_PATH) as data:
        return dict(data)


@pytest.mark.parametrize(("config", "dtype", "variant"), CASES)
def test_trajectory_and_state_match_torch(config, dtype, variant):
    ours, _ = jax_run(config, dtype, wrap_update=jax.jit if variant == "jit" else lambda update: update)
    prefix = f"{problem.INFO.config_id(config)}|{dtype}|"
    expected = {k[len(prefix) :]: v for k, v in golden().items() if k.startswith(prefix)}
    assert set(expected) == set(ours)
    assert_matches(ours, expected, dtype)


@pytest.mark.parametrize("dtype", problem.DTYPES)
@pytest.mark.parametrize("config", problem.CONFIGS, ids=problem.INFO.config_id)
def test_trajectory_and_state_match_live_torch(config, dtype):
    pytest.importorskip("torch", reason="torch is not installed: the golden tests cover parity without it")
    ours, _ = jax_run(config, dtype, wrap_update=jax.jit)
    assert_matches(ours, problem.torch_run(config, dtype), dtype)


def test_rows_absent_from_a_gradient_stay_bit_identical():
    trajectory, states = jax_run({"lr": 4e-2}, "float32", wrap_update=jax.jit)
    for table, rows in problem.NEVER_LOOKED_UP.items():
        never = trajectory[table][:, rows]
        np.testing.assert_array_equal(never, np.broadcast_to(never[0], never.shape))
    for t in range(problem.STEPS):
        for table, present in problem.looked_up(t).items():
            absent = np.setdiff1d(np.arange(trajectory[table].shape[1]), present)
            np.testing.assert_array_equal(trajectory[table][t + 1, absent], trajectory[table][t, absent])
            for field in ("exp_avg", "exp_avg_sq"):
                before, after = (np.asarray(getattr(s, field)[table]) for s in states[t : t + 2])
                np.testing.assert_array_equal(after[absent], before[absent])
                assert np.all(after[present] != before[present])
            assert not np.any(trajectory[table][t + 1, present] == trajectory[table][t, present])


def test_duplicate_indices_are_summed_as_by_coalesce():
    params = {"w": jnp.arange(12.0).reshape(4, 3)}
    rows = jnp.asarray([[1.0, -2.0, 0.5], [0.25, 1.0, 3.0], [-1.0, 0.0, 2.0]])
    duplicated = sparse.BCOO((rows, jnp.asarray([[2], [0], [2]])), shape=(4, 3))
    summed = sparse.BCOO((jnp.stack([rows[0] + rows[2], rows[1]]), jnp.asarray([[2], [0]])), shape=(4, 3))
    tx = fo.sparse_adam(lr=0.1)
    results = [tx.update({"w": g}, tx.init(params), params) for g in (duplicated, summed)]
    chex.assert_trees_all_equal(results[0], results[1])


def test_present_zero_gradient_still_decays_the_moments():
    """Presence is the index, not the value: an explicit zero entry is updated, as in torch."""
    params = jnp.ones((3, 2))
    tx = fo.sparse_adam(lr=0.1)
    state = tx.init(params)
    _, state = tx.update(sparse.BCOO((jnp.ones((1, 2)), jnp.asarray([[1]])), shape=(3, 2)), state, params)
    _, state = tx.update(sparse.BCOO((jnp.zeros((1, 2)), jnp.asarray([[1]])), shape=(3, 2)), state, params)
    np.testing.assert_allclose(state.inner_state.exp_avg[1], 0.1 * 0.9)
    np.testing.assert_array_equal(state.inner_state.exp_avg[0], 0.0)


def _element_grads() -> list[tuple[np.ndarray, np.ndarray]]:
    """(indices (nnz, 2), values (nnz,)) per step on a (5, 4) param; step 2 is empty, steps repeat entries."""
    rng = np.random.default_rng(5)
    grads = []
    for t in range(8):
        nnz = 0 if t == 2 else int(rng.integers(1, 6))
        grads.append((rng.integers(0, [5, 4], size=(nnz, 2)), rng.normal(size=nnz)))
    return grads


def _padded(indices: np.ndarray, values: np.ndarray, nse: int, dtype: str) -> sparse.BCOO:
    pad = nse - len(values)
    indices = np.concatenate([indices, np.tile([[5, 4]], (pad, 1))]) if pad else indices
    values = np.concatenate([values, np.full(pad, 7.0)])  # padding values are ignored
    return sparse.BCOO((jnp.asarray(values, dtype), jnp.asarray(indices, jnp.int32)), shape=(5, 4))


def _element_run(dtype: str) -> tuple[np.ndarray, list]:
    tx = fo.sparse_adam(lr=0.05, maximize=True)
    param = jnp.asarray(np.random.default_rng(6).normal(size=(5, 4)), dtype)
    state = tx.init(param)
    update = jax.jit(tx.update)
    history = [param]
    for indices, values in _element_grads():
        updates, state = update(_padded(indices, values, 6, dtype), state, param)
        param = fo.apply_updates(param, updates)
        history.append(param)
    assert update._cache_size() == 1  # a fixed nse compiles once
    return np.stack(history), state


def test_empty_gradient_only_counts_the_step():
    trajectory, state = _element_run("float64")
    np.testing.assert_array_equal(trajectory[3], trajectory[2])  # step 3's gradient is all padding
    assert int(state.inner_state.step) == 8
    tx = fo.sparse_adam()
    param = jnp.ones((5, 4))
    empty = sparse.BCOO((jnp.zeros((0,)), jnp.zeros((0, 2), jnp.int32)), shape=(5, 4))
    updates, new_state = tx.update(empty, tx.init(param), param)
    np.testing.assert_array_equal(updates, 0.0)
    assert int(new_state.inner_state.step) == 1
    chex.assert_trees_all_equal(new_state.inner_state.exp_avg, tx.init(param).inner_state.exp_avg)


@pytest.mark.parametrize("dtype", problem.DTYPES)
def test_element_sparse_gradients_with_an_empty_step_match_live_torch(dtype):
    torch = pytest.importorskip("torch", reason="compares with torch.optim.SparseAdam")
    ours, _ = _element_run(dtype)
    param = torch.tensor(np.random.default_rng(6).normal(size=(5, 4)), dtype=getattr(torch, dtype), requires_grad=True)
    optimizer = torch.optim.SparseAdam([param], lr=0.05, maximize=True)
    expected = [param.detach().numpy().copy()]
    for indices, values in _element_grads():
        param.grad = torch.sparse_coo_tensor(
            torch.tensor(indices.T.reshape(2, -1)),
            torch.tensor(values, dtype=param.dtype),
            (5, 4),
            check_invariants=True,
        )
        optimizer.step()
        expected.append(param.detach().numpy().copy())
    tolerance = TOLERANCES[dtype]
    np.testing.assert_allclose(ours, np.stack(expected), rtol=tolerance, atol=tolerance)
    assert optimizer.state[param]["step"] == 8


def test_dense_gradient_raises():
    tx = fo.sparse_adam()
    params = {"w": jnp.ones((3, 2))}
    with pytest.raises(RuntimeError, match=re.escape(DENSE_GRAD_ERROR) + r".*\['w'\]"):
        tx.update({"w": jnp.ones((3, 2))}, tx.init(params), params)


def test_dense_gradient_raises_in_live_torch():
    torch = pytest.importorskip("torch", reason="checks torch raises the same error")
    param = torch.ones((3, 2), requires_grad=True)
    param.grad = torch.ones((3, 2))
    with pytest.raises(RuntimeError, match=re.escape(DENSE_GRAD_ERROR)):
        torch.optim.SparseAdam([param]).step()


def test_sparse_and_complex_params_raise():
    table = sparse.BCOO.fromdense(jnp.eye(3))
    with pytest.raises(
        ValueError, match=re.escape("Sparse params at ['t']: SparseAdam requires dense parameter tensors")
    ):
        fo.sparse_adam().init({"t": table})
    with pytest.raises(
        ValueError, match=re.escape("Complex params at ['z']: SparseAdam does not support complex parameters")
    ):
        fo.sparse_adam().init({"z": jnp.ones(3, jnp.complex64)})


def test_sparse_and_complex_params_raise_in_live_torch():
    torch = pytest.importorskip("torch", reason="checks torch raises the same errors")
    with pytest.raises(ValueError, match="SparseAdam requires dense parameter tensors"):
        torch.optim.SparseAdam([torch.eye(3).to_sparse().requires_grad_()])
    with pytest.raises(ValueError, match="SparseAdam does not support complex parameters"):
        torch.optim.SparseAdam([torch.ones(3, dtype=torch.complex64, requires_grad=True)])


def test_gradient_with_another_shape_raises():
    tx = fo.sparse_adam()
    params = jnp.ones((3, 2))
    with pytest.raises(ValueError, match=r"has shape \(4, 2\), its param \(3, 2\)"):
        tx.update(sparse.BCOO.fromdense(jnp.ones((4, 2))), tx.init(params), params)
