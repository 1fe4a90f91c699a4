"""Muon-specific checks: 2-D-only params, no complex, and the bfloat16 Newton-Schulz against torch's."""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_optim as fo
from functional_optim.algorithms.muon import newton_schulz

DEFAULT_COEFFICIENTS = (3.4445, -4.7750, 2.0315)


@pytest.mark.parametrize("shape", [(2, 3, 4), (3,), ()])
def test_init_rejects_a_param_that_is_not_2d(shape):
    tx = fo.muon()
    params = {"w": jnp.ones((2, 2)), "bad": jnp.ones(shape)}
    message = f"Muon only supports 2D parameters whereas we found a parameter with size: {shape} (the param at ['bad'])"
    with pytest.raises(ValueError, match=re.escape(message)):
        tx.init(params)


def test_torch_rejects_the_same_param():
    torch = pytest.importorskip("torch", reason="needs torch to check the message against it")
    with pytest.raises(ValueError, match="Muon only supports 2D parameters whereas we found a parameter with size"):
        torch.optim.Muon([torch.zeros((2, 3, 4), requires_grad=True)])


def test_init_rejects_complex_params():
    with pytest.raises(TypeError, match=re.escape("Muon does not support complex parameters (the param at ['w'])")):
        fo.muon().init({"w": jnp.ones((2, 3), jnp.complex64)})


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"ns_steps": 100}, ValueError, "Number of steps must be less than 100 for computational efficiency"),
        ({"ns_steps": 5.0}, TypeError, "ns_steps must be an int"),
        ({"ns_coefficients": (3.4, -4.7)}, ValueError, "Coefficients must be a tuple of exactly 3 values"),
        ({"adjust_lr_fn": "rms"}, ValueError, "Adjust learning rate function rms is not supported (adjust_lr_fn"),
    ],
)
def test_construction_rejects_what_torch_rejects_at_step(kwargs, error, message):
    with pytest.raises(error, match=re.escape(message)):
        fo.muon(**kwargs)


def test_state_is_the_momentum_buffer_only():
    params = {"w": jnp.ones((3, 2), jnp.float32)}
    state = fo.muon().init(params).inner_state
    assert isinstance(state, fo.MuonState)
    assert state._fields == ("momentum_buffer",)
    assert state.momentum_buffer["w"].shape == (3, 2)
    assert state.momentum_buffer["w"].dtype == jnp.float32


def test_update_jits_and_changes_a_zero_grad_param_by_the_decay_only():
    params = {"w": jnp.full((2, 3), 2.0)}
    tx = fo.muon(lr=0.1, weight_decay=0.5)
    updates, _ = jax.jit(tx.update)(jax.tree.map(jnp.zeros_like, params), tx.init(params), params)
    np.testing.assert_allclose(updates["w"], -2.0 * 0.1 * 0.5)


# Shapes whose smaller side is at most 16 (bit-identity is only claimed there), both
# orientations (rows > cols is transposed), and matrices that hit the eps clamp.
NS_CASES = [
    ("4x6 float32", (4, 6), np.float32, 1.0, DEFAULT_COEFFICIENTS, 5),
    ("6x3 float64", (6, 3), np.float64, 1.0, DEFAULT_COEFFICIENTS, 5),
    ("16x16 bfloat16", (16, 16), "bfloat16", 0.1, DEFAULT_COEFFICIENTS, 5),
    ("40x12 float32", (40, 12), np.float32, 3.0, DEFAULT_COEFFICIENTS, 5),
    ("5x33 float64 six steps", (5, 33), np.float64, 0.01, (3.4, -4.7, 2.0), 6),
    ("1x7 float32", (1, 7), np.float32, 1.0, DEFAULT_COEFFICIENTS, 5),
    ("tiny 3x2 float64", (3, 2), np.float64, 1e-9, DEFAULT_COEFFICIENTS, 5),
    ("zeros 5x2 float32", (5, 2), np.float32, 0.0, DEFAULT_COEFFICIENTS, 5),
]


@pytest.mark.parametrize(
    ("shape", "dtype", "scale", "coefficients", "steps"), [c[1:] for c in NS_CASES], ids=[c[0] for c in NS_CASES]
)
def test_newton_schulz_is_bit_identical_to_torch(shape, dtype, scale, coefficients, steps):
    torch_muon = pytest.importorskip("torch.optim._muon", reason="needs torch to compare with its Newton-Schulz")
    import torch

    values = np.random.default_rng(sum(shape)).normal(size=shape) * scale
    if dtype == "bfloat16":
        theirs_in = torch.tensor(values).bfloat16()
        ours_in = jnp.asarray(values).astype(jnp.float32).astype(jnp.bfloat16)
    else:
        theirs_in = torch.tensor(values.astype(dtype))
        ours_in = jnp.asarray(values.astype(dtype))
    theirs = torch_muon._zeropower_via_newtonschulz(theirs_in, coefficients, steps, 1e-7)
    ours = jax.jit(newton_schulz, static_argnums=2)(ours_in, coefficients, steps, 1e-7)
    assert ours.dtype == jnp.bfloat16
    np.testing.assert_array_equal(np.asarray(ours.astype(jnp.float32)), theirs.float().numpy())


def _three_steps(tx, param):
    """``param`` after three jitted steps of ``tx`` on the quadratic loss (grad = the param)."""
    state = tx.init(param)
    update = jax.jit(tx.update)
    for _ in range(3):
        updates, state = update(param, state, param)
        param = fo.apply_updates(param, updates)
    return param


def test_spectral_unclamped_scales_the_lr_by_sqrt_a_over_b():
    # torch 2.15's rule, sqrt(A/B) without the clamp at 1: for a 4 x 16 weight, half the lr
    # where "original" keeps it (checked without weight decay, which uses the unadjusted lr).
    weight = jax.random.normal(jax.random.key(0), (4, 16), jnp.float64)
    spectral = _three_steps(fo.muon(lr=0.02, weight_decay=0.0, adjust_lr_fn="spectral_unclamped"), weight)
    np.testing.assert_array_equal(spectral, _three_steps(fo.muon(lr=0.01, weight_decay=0.0), weight))
    tall = weight.T  # 16 x 4: sqrt(A/B) = 2 = the clamped rule's
    np.testing.assert_array_equal(
        _three_steps(fo.muon(adjust_lr_fn="spectral_unclamped"), tall), _three_steps(fo.muon(), tall)
    )


@pytest.mark.parametrize("adjust_lr_fn", [None, "match_rms_adamw", "spectral_unclamped"])
def test_fan_out_axis_1_steps_a_flax_kernel_as_torch_steps_its_weight(adjust_lr_fn):
    # A Flax kernel is torch's (out, in) weight transposed: its step is the transposed step.
    weight = jax.random.normal(jax.random.key(1), (16, 4), jnp.float32)  # torch: 4 inputs, 16 outputs
    torch_layout = _three_steps(fo.muon(lr=0.02, adjust_lr_fn=adjust_lr_fn), weight)
    flax_layout = _three_steps(fo.muon(lr=0.02, adjust_lr_fn=adjust_lr_fn, fan_out_axis=1), weight.T)
    np.testing.assert_array_equal(flax_layout.T, torch_layout)


def test_fan_out_axis_must_be_an_axis_of_a_matrix():
    with pytest.raises(ValueError, match="fan_out_axis must be 0 or 1"):
        fo.muon(fan_out_axis=2)
