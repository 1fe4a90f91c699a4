"""Gradient clipping as torch.nn.utils does it: the transforms, the in-place Parameter versions, torch itself.

Without torch the maths is checked against a float64 NumPy reference of the formula; tests
named ``live`` run ``torch.nn.utils.clip_grad_norm_`` / ``clip_grad_value_`` on the same grads.
"""

from __future__ import annotations

import math

import chex
import hypothesis.extra.numpy as hnp
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import functional_optim as fo
from functional_optim import clipping

NORM_TYPES = [2.0, 1.0, 3.5, math.inf, -math.inf, 0.0]
DTYPES = ["float64", "float32", "bfloat16", "float16"]
SHAPES = [(3, 4), (5,), (2, 1, 3), ()]


def _grads(dtype: str, scale: float = 10.0, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [(rng.normal(size=shape) * scale).astype(np.float32).astype(jnp.dtype(dtype)) for shape in SHAPES]


def _parameters(grads: list) -> list[fo.Parameter]:
    params = fo.parameter_list(fo.parameters([jnp.zeros(np.shape(g), jnp.asarray(g).dtype) for g in grads]))
    for p, g in zip(params, grads):
        p.grad = jnp.asarray(g)
    return params


def _reference(grads: list[np.ndarray], max_norm: float, order: float) -> tuple[float, list[np.ndarray]]:
    """The formula in float64 NumPy, every step rounded as late as possible."""
    norms = [np.linalg.norm(np.ravel(g).astype(np.float64), ord=order) for g in grads]
    total = float(np.linalg.norm(np.asarray(norms), ord=order))
    scale = min(1.0, max_norm / (total + 1e-6))
    return total, [g.astype(np.float64) * scale for g in grads]


@pytest.mark.parametrize("order", NORM_TYPES)
@pytest.mark.parametrize("max_norm", [1.0, 1e6], ids=["clips", "leaves"])
def test_clip_grad_norm_follows_the_formula(order, max_norm):
    grads = _grads("float64")
    total, expected = _reference(grads, max_norm, order)
    tx = fo.clip_grad_norm(max_norm, norm_type=order)
    clipped, state = jax.jit(tx.update)(grads, tx.init(grads))
    np.testing.assert_allclose(float(state.total_norm), total, rtol=1e-14)
    chex.assert_trees_all_close(clipped, expected, rtol=1e-14, atol=0)


@settings(max_examples=40, deadline=None)
@given(
    grads=st.lists(
        # XLA:CPU flushes subnormal results to zero (issue 15): magnitudes far from them.
        hnp.arrays(
            np.float64,
            hnp.array_shapes(max_dims=2, max_side=5),
            elements=st.one_of(st.just(0.0), st.floats(1e-3, 1e6), st.floats(-1e6, -1e-3)),
        ),
        min_size=1,
        max_size=4,
    ),
    max_norm=st.floats(1e-3, 1e3),
)
def test_clipped_grads_never_exceed_max_norm_and_keep_their_direction(grads, max_norm):
    clipped, _ = fo.clip_grad_norm(max_norm).update(grads, fo.clip_grad_norm(max_norm).init(grads))
    assert float(clipping.get_total_norm(clipped)) <= max_norm * (1 + 1e-12)
    total = float(clipping.get_total_norm(grads))
    for g, c in zip(grads, clipped):
        np.testing.assert_allclose(np.asarray(c), g * min(1.0, max_norm / (total + 1e-6)), rtol=1e-14, atol=0)


def test_the_transform_and_the_in_place_version_agree():
    grads = _grads("float32")
    params = _parameters(grads)
    total = fo.clip_grad_norm_(params, 1.0, norm_type=3.5)
    tx = fo.clip_grad_norm(1.0, norm_type=3.5)
    clipped, state = tx.update(grads, tx.init(grads))
    chex.assert_trees_all_equal([p.grad for p in params], clipped)
    chex.assert_trees_all_equal(total, state.total_norm)


def test_in_a_chain_the_algorithm_sees_the_clipped_grads():
    grads = {"w": jnp.full(4, 10.0)}
    params = {"w": jnp.zeros(4)}
    chained = fo.chain(fo.clip_grad_norm(1.0), fo.sgd(0.1))
    updates, _ = chained.update(grads, chained.init(params), params)
    chex.assert_trees_all_close(updates, {"w": jnp.full(4, -0.1 * 10.0 / (20.0 + 1e-6))}, rtol=1e-15)


def test_none_grads_are_skipped_and_no_grads_have_norm_zero():
    params = _parameters(_grads("float64"))
    params[1].grad = None
    before = [p.grad for p in params]
    fo.clip_grad_norm_(params, 1.0)
    assert params[1].grad is None and not np.array_equal(params[0].grad, before[0])
    empty = fo.clip_grad_norm_([fo.Parameter(jnp.ones(2))], 1.0)
    assert empty.dtype == jnp.float32 and float(empty) == 0.0


def test_nonfinite_norm_raises_when_asked_and_leaves_the_grads():
    params = _parameters(_grads("float64"))
    params[0].grad = params[0].grad.at[0, 0].set(jnp.inf)
    before = [p.grad for p in params]
    with pytest.raises(RuntimeError, match="non-finite, so it cannot be clipped"):
        fo.clip_grad_norm_(params, 1.0, error_if_nonfinite=True)
    chex.assert_trees_all_equal([p.grad for p in params], before)
    fo.clip_grad_norm_(params, 1.0)  # as torch: scaled by 1 / inf = 0, the inf entry becomes NaN
    assert float(jnp.abs(params[1].grad).max()) == 0.0 and bool(jnp.isnan(params[0].grad[0, 0]))


def test_clip_grad_value_clamps_each_entry():
    grads = _grads("float64")
    params = _parameters(grads)
    fo.clip_grad_value_(params, 0.5)
    chex.assert_trees_all_equal([p.grad for p in params], [jnp.asarray(np.clip(g, -0.5, 0.5)) for g in grads])
    updates, _ = fo.clip_grad_value(0.5).update(grads, ())
    chex.assert_trees_all_equal(updates, [p.grad for p in params])


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda p: fo.clip_grad_norm(p), TypeError, r"max_norm must be a number, but got a list .*fo.clip_grad_norm_"),
        (lambda p: fo.clip_grad_norm(1.0, norm_type="fro"), TypeError, "norm_type must be a number"),
        (lambda p: fo.clip_grad_value(p), TypeError, r"clip_value must be a number.*fo.clip_grad_value_"),
        (lambda p: fo.clip_grad_norm_(p, [1.0]), TypeError, r"max_norm must be a number, but got \[1.0\]"),
        (lambda p: fo.clip_grad_value_([fo.Parameter(jnp.ones(2, jnp.complex64))], 1.0), None, None),
        (lambda p: fo.clip_grad_norm_([jnp.ones(2)], 1.0), TypeError, "expected a tree of Parameters"),
    ],
)
def test_bad_arguments_raise_clear_errors(call, error, match):
    params = _parameters(_grads("float64"))
    if error is None:  # a complex grad cannot be clamped (torch: "clamp is not supported for complex types")
        complex_param = fo.Parameter(jnp.ones(2, jnp.complex64))
        complex_param.grad = jnp.ones(2, jnp.complex64)
        with pytest.raises(TypeError, match=r"the grad at \[0\] is complex"):
            fo.clip_grad_value_([complex_param], 1.0)
        return
    with pytest.raises(error, match=match):
        call(params)


# -- live torch -------------------------------------------------------------------------------


def _torch_parameters(torch, grads: list) -> list:
    params = []
    for g in grads:
        p = torch.nn.Parameter(torch.zeros(np.shape(g), dtype=getattr(torch, str(np.asarray(g).dtype))))
        p.grad = torch.tensor(np.asarray(g, np.float64)).to(p.dtype)
        params.append(p)
    return params


def _as_float64(tensor) -> np.ndarray:
    return tensor.detach().double().numpy()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("order", NORM_TYPES)
@pytest.mark.parametrize("max_norm", [1.0, 1e6], ids=["clips", "leaves"])
def test_live_clip_grad_norm_matches_torch(dtype, order, max_norm):
    torch = pytest.importorskip("torch", reason="torch is not installed (pip install -e '.[parity]')")
    grads = _grads(dtype)
    torch_params = _torch_parameters(torch, grads)
    torch_total = torch.nn.utils.clip_grad_norm_(torch_params, max_norm, norm_type=order)
    params = _parameters(grads)
    total = fo.clip_grad_norm_(params, max_norm, norm_type=order)
    # The norms are sums in another order: equal to the last bit or two (half types: bit for bit,
    # being computed in float32 and rounded once).
    rtol = 0 if dtype in ("bfloat16", "float16") else 4 * float(jnp.finfo(dtype).eps)
    assert str(total.dtype) == str(torch_total.dtype).removeprefix("torch.")
    np.testing.assert_allclose(float(total), torch_total.item(), rtol=rtol)
    for p, t in zip(params, torch_params):
        np.testing.assert_allclose(np.asarray(p.grad, np.float64), _as_float64(t.grad), rtol=rtol, atol=0)


def test_live_mixed_dtypes_and_complex_grads_match_torch():
    torch = pytest.importorskip("torch", reason="torch is not installed (pip install -e '.[parity]')")
    rng = np.random.default_rng(3)
    grads = [
        rng.normal(size=(4,)).astype(np.float32),
        (rng.normal(size=(3,)) + 1j * rng.normal(size=(3,))).astype(np.complex128),
        rng.normal(size=(2, 2)).astype(np.float64),
    ]
    torch_params = [torch.nn.Parameter(torch.zeros(g.shape, dtype=torch.from_numpy(g).dtype)) for g in grads]
    for p, g in zip(torch_params, grads):
        p.grad = torch.from_numpy(g.copy())
    torch_total = torch.nn.utils.clip_grad_norm_(torch_params, 0.5)
    params = _parameters(grads)
    total = fo.clip_grad_norm_(params, 0.5)
    # The float32 grad's norm is a float32 sum, in another order than torch's.
    rtol = 4 * float(jnp.finfo(jnp.float32).eps)
    np.testing.assert_allclose(float(total), torch_total.item(), rtol=rtol)
    for p, t in zip(params, torch_params):
        np.testing.assert_allclose(np.asarray(p.grad), t.grad.numpy(), rtol=rtol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_live_clip_grad_value_matches_torch(dtype):
    torch = pytest.importorskip("torch", reason="torch is not installed (pip install -e '.[parity]')")
    grads = _grads(dtype, scale=1.0)
    grads[0] = grads[0].copy()
    grads[0].flat[0] = np.nan
    torch_params = _torch_parameters(torch, grads)
    torch.nn.utils.clip_grad_value_(torch_params, 0.3)
    params = _parameters(grads)
    fo.clip_grad_value_(params, 0.3)
    for p, t in zip(params, torch_params):
        np.testing.assert_array_equal(np.asarray(p.grad, np.float64), _as_float64(t.grad))
