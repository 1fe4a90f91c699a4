"""Parameters, trees of them, and ``backward``: the torch-style side of the data."""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_optim as fo


def test_parameters_and_values_keep_the_tree():
    tree = {"base": {"w": jnp.ones((2, 3)), "b": np.zeros(3)}, "head": [jnp.ones(3), 2.0]}
    params = fo.parameters(tree)
    assert jax.tree.structure(fo.values(params)) == jax.tree.structure(tree)
    assert all(isinstance(p, fo.Parameter) for p in fo.parameter_list(params))
    assert [name for name, _ in fo.named_parameter_list(params)] == ["base.b", "base.w", "head.0", "head.1"]
    assert fo.parameter_list(params["head"]) == [params["head"][0], params["head"][1]]
    jax.tree.map(np.testing.assert_array_equal, fo.values(params), tree)


def test_a_parameter_owns_a_copy_of_its_array():
    array = jnp.ones(2)
    p = fo.Parameter(array)
    optimizer = fo.optim.SGD([p], lr=0.1)
    p.grad = jnp.ones(2)
    optimizer.step()
    assert not array.is_deleted()
    np.testing.assert_array_equal(array, [1.0, 1.0])


def test_non_arrays_are_rejected():
    with pytest.raises(TypeError, match=re.escape("eqx.partition")):
        fo.parameters({"w": jnp.ones(2), "activation": jnp.tanh})
    with pytest.raises(TypeError, match=re.escape("functional_optim.parameters")):
        fo.values({"w": jnp.ones(2)})


def test_backward_accumulates_and_returns_the_loss():
    params = fo.parameters({"w": jnp.arange(3.0)})

    def loss_fn(p, scale):
        return scale * jnp.sum(p["w"] ** 2)

    loss = fo.backward(loss_fn, params, 2.0)
    assert float(loss) == 10.0
    np.testing.assert_array_equal(params["w"].grad, [0.0, 4.0, 8.0])
    fo.backward(loss_fn, params, 1.0)
    np.testing.assert_array_equal(params["w"].grad, [0.0, 6.0, 12.0])


def test_backward_compiles_once_per_loss_function():
    traces = []

    def loss_fn(p, x):
        traces.append(1)
        return jnp.sum(p["w"] * x)

    params = fo.parameters({"w": jnp.ones(3)})
    for _ in range(3):
        params["w"].grad = None
        fo.backward(loss_fn, params, jnp.arange(3.0))
    assert len(traces) == 1


def test_complex_grads_are_torchs():
    torch = pytest.importorskip("torch", reason="comparing with torch's autograd needs torch")
    z = np.array([1.0 + 2.0j, -0.5 + 0.3j])

    def loss(v, xp):
        return (xp.abs(v * (0.3 - 0.7j) + 1.0) ** 2).sum()

    p = fo.Parameter(jnp.asarray(z))
    fo.backward(lambda v: loss(v, jnp), p)
    t = torch.tensor(z, requires_grad=True)
    loss(t, torch).backward()
    np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-12)
