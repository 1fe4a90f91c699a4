"""Every argument torch rejects at construction is rejected here, with torch's message; and every
grad torch would refuse (another dtype), before the step."""

from __future__ import annotations

import re

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental import sparse

import functional_optim as fo
from tests.algorithm_table import ALGORITHMS, ERROR_CASES, AlgorithmInfo
from tests.runner import first_of_each_algorithm, jax_kwargs, make_transform

IDS = [f"{info.name}[{info.config_id(error.kwargs)}]" for info, error in ERROR_CASES]


@pytest.mark.parametrize(("info", "error"), ERROR_CASES, ids=IDS)
def test_invalid_argument_raises_torchs_error(info, error):
    with pytest.raises(error.error, match=re.escape(error.match)):
        make_transform(info, error.kwargs)


@pytest.mark.parametrize(("info", "error"), ERROR_CASES, ids=IDS)
def test_live_torch_raises_the_same_error(info, error):
    torch_reference = pytest.importorskip("tests.torch_reference", reason="needs torch to check the table against it")
    import torch

    param = torch.zeros((2, 2), requires_grad=True)
    with pytest.raises(error.error, match=re.escape(error.match)):
        getattr(torch.optim, info.torch_name)([param], **torch_reference.torch_kwargs(error.kwargs))


@pytest.mark.parametrize(("info", "error"), ERROR_CASES, ids=IDS)
def test_error_names_the_argument(info, error):
    with pytest.raises(error.error) as raised:
        make_transform(info, error.kwargs)
    message = str(raised.value)
    assert any(name in message for name in jax_kwargs(error.kwargs)), message


# -- grads of another dtype ----------------------------------------------------------------------


DENSE = [info for info in ALGORITHMS if info.name != "sparse_adam"]  # SparseAdam takes BCOO grads: see below


def _supports_complex(info: AlgorithmInfo) -> bool:
    try:
        jax.eval_shape(make_transform(info, {}).init, jax.ShapeDtypeStruct((2, 2), jnp.complex128))
    except TypeError:
        return False
    return True


COMPLEX_NAMES = {info.name for info in DENSE if _supports_complex(info)}

# (grad dtype, param dtype): each used to step without a word (a complex grad on a real param gave
# a param of shape (2, 2, 2); a real grad on a complex param, wrong values); torch refuses them all.
DTYPE_MISMATCHES = [
    (jnp.complex128, jnp.float64),
    (jnp.float32, jnp.float64),
    (jnp.bfloat16, jnp.float64),
    (jnp.int32, jnp.float64),
    (jnp.bool_, jnp.float64),
    (jnp.float64, jnp.float32),
    (jnp.float64, jnp.complex128),
    (jnp.complex64, jnp.complex128),
]
DTYPE_CASES = [
    (info, grad_dtype, param_dtype)
    for info in DENSE
    for grad_dtype, param_dtype in DTYPE_MISMATCHES
    if info.name in COMPLEX_NAMES or not jnp.issubdtype(param_dtype, jnp.complexfloating)
]
DTYPE_IDS = [f"{info.name}-{jnp.dtype(g).name}-grad-on-{jnp.dtype(p).name}" for info, g, p in DTYPE_CASES]
# One check serves every algorithm: the default run tries each mismatch on the first algorithm
# and each algorithm's first mismatch; pytest -m slow tries them all.
DTYPE_PARAMS = [
    pytest.param(*param.values, id=param.id) if param.values[0] is DENSE[0] else param
    for param in first_of_each_algorithm(DTYPE_CASES, DTYPE_IDS)
]


def test_the_algorithms_without_complex_support_are_the_documented_ones():
    assert {info.name for info in DENSE} - COMPLEX_NAMES == {"adafactor", "muon"}


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
@pytest.mark.parametrize(("info", "grad_dtype", "param_dtype"), DTYPE_PARAMS)
def test_a_grad_of_another_dtype_raises_before_the_step(info, grad_dtype, param_dtype, jit):
    tx = make_transform(info, {})
    params = {"v": jnp.full((2, 2), 0.5, param_dtype), "w": jnp.full((2, 2), -0.25, param_dtype)}
    state = tx.init(params)
    before = jax.tree.map(np.array, state)
    grads = {"v": jnp.ones((2, 2), param_dtype), "w": jnp.ones((2, 2), grad_dtype)}
    update = jax.jit(tx.update, donate_argnums=1) if jit else tx.update
    message = (
        f"{info.torch_name}: the grad at ['w'] has dtype {jnp.dtype(grad_dtype)}, but the parameter has dtype "
        f"{jnp.dtype(param_dtype)}"
    )
    with pytest.raises(TypeError, match=re.escape(message)):
        update(grads, state, params)
    assert not any(leaf.is_deleted() for leaf in jax.tree.leaves(state))  # nothing donated
    chex.assert_trees_all_equal(state, before)
    updates, _ = tx.update({**grads, "w": jnp.ones((2, 2), param_dtype)}, state, params)  # the state still steps
    chex.assert_trees_all_equal_shapes_and_dtypes(updates, params)


def test_apply_gradients_checks_the_dtype_too():
    tx = fo.sgd(0.1)
    params = {"w": jnp.ones((2, 2))}
    with pytest.raises(TypeError, match=re.escape("SGD: the grad at ['w'] has dtype complex128")):
        fo.apply_gradients(tx, {"w": jnp.ones((2, 2), jnp.complex128)}, tx.init(params), params)


def test_a_matching_grad_in_a_weak_or_numpy_form_still_steps():
    tx = fo.sgd(0.5)
    params = {"w": jnp.ones(2), "s": 2.0}
    grads = {"w": np.ones(2), "s": jnp.asarray(1.0)}  # numpy float64; a weakly typed float64
    new_params, _ = fo.apply_gradients(tx, grads, tx.init(params), params)
    chex.assert_trees_all_close(new_params, {"w": jnp.full(2, 0.5), "s": 1.5})


@pytest.mark.parametrize(
    ("grad_dtype", "param_dtype"), [(jnp.float32, jnp.float64), (jnp.complex128, jnp.float64), (jnp.int32, jnp.float64)]
)
@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_sparse_adam_grads_values_must_have_the_param_dtype(grad_dtype, param_dtype, jit):
    tx = fo.sparse_adam()
    params = {"table": jnp.ones((3, 2), param_dtype)}
    state = tx.init(params)
    before = jax.tree.map(np.array, state)
    rows = jnp.ones((1, 2), grad_dtype)
    grads = {"table": sparse.BCOO((rows, jnp.asarray([[1]])), shape=(3, 2))}
    update = jax.jit(tx.update) if jit else tx.update
    message = f"SparseAdam: the grad at ['table'] has dtype {jnp.dtype(grad_dtype)}, but the parameter has dtype"
    with pytest.raises(TypeError, match=re.escape(message)):
        update(grads, state, params)
    chex.assert_trees_all_equal(state, before)
