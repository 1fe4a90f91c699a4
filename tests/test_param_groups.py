"""fo.param_groups: torch's parameter groups in the functional API, for every algorithm of the table."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_optim as fo
from tests.algorithm_table import ALGORITHMS
from tests.runner import jax_kwargs

DENSE = [info for info in ALGORITHMS if info.problem != "embedding"]  # SparseAdam takes BCOO grads
PARAMS = {
    "body": {"w": jnp.asarray(np.linspace(-1.0, 1.0, 6).reshape(3, 2)), "b": jnp.asarray(np.full((3, 2), 0.5))},
    "head": jnp.asarray(-np.ones((2, 2))),
}


def _grads(params):
    return jax.tree.map(lambda p: 0.5 * p + 0.1, params)


def _three_steps(tx, params):
    state = tx.init(params)
    update = jax.jit(tx.update)
    for _ in range(3):
        updates, state = update(_grads(params), state, params)
        params = fo.apply_updates(params, updates)
    return params, state


@pytest.mark.parametrize("info", DENSE, ids=[info.name for info in DENSE])
def test_each_group_steps_as_the_algorithm_built_with_its_options(info):
    algorithm, config = getattr(fo, info.name), jax_kwargs(info.configs[0])
    tx = fo.param_groups(
        algorithm,
        [{"params": {"body": True, "head": False}}, {"params": ["head"], "lr": 1e-3}],
        **config,
    )
    params, state = _three_steps(tx, PARAMS)
    body, _ = _three_steps(algorithm(**config), PARAMS["body"])
    head, _ = _three_steps(algorithm(**{**config, "lr": 1e-3}), PARAMS["head"])
    chex.assert_trees_all_equal(params, {"body": body, "head": head})
    assert len(state.groups) == 2
    np.testing.assert_allclose(fo.get_hyperparams(state, group=1)["lr"], 1e-3)


def test_a_group_is_edited_without_recompiling_and_apply_gradients_agrees():
    tx = fo.param_groups(fo.adamw, [{"params": lambda name, p: name.startswith("body")}, {"params": ["head"]}], lr=1e-2)
    state = tx.init(PARAMS)
    update = jax.jit(tx.update)
    step = jax.jit(lambda grads, state, params: fo.apply_gradients(tx, grads, state, params))
    params, direct_params, direct_state = PARAMS, PARAMS, state
    for lr in (1e-2, 1e-3, 1e-1):
        state = fo.set_hyperparams(state, lr=lr, group=1)
        direct_state = fo.set_hyperparams(direct_state, lr=lr, group=1)
        updates, state = update(_grads(params), state, params)
        params = fo.apply_updates(params, updates)
        direct_params, direct_state = step(_grads(direct_params), direct_state, direct_params)
    assert update._cache_size() == 1 and step._cache_size() == 1
    np.testing.assert_allclose(fo.get_hyperparams(state, group=0)["lr"], 1e-2)
    chex.assert_trees_all_close(direct_params, params, rtol=1e-15)


@pytest.mark.parametrize(
    ("groups", "defaults", "error", "match"),
    [
        ([{"params": ["head"]}], {}, ValueError, r"parameters \['body.b', 'body.w'\] are in no parameter group"),
        (
            [{"params": {"body": True, "head": True}}, {"params": ["head"]}],
            {},
            ValueError,
            r"some parameters appear in more than one parameter group: \['head'\]",
        ),
        ([{"params": ["tail"]}], {}, ValueError, r"param group 0: no parameter is named \['tail'\]"),
        ([{"params": {"body": True}}], {}, ValueError, "param group 0: 'params' must be a predicate"),
        ([{"params": ["head"], "betas": (0.9, 0.99)}], {}, TypeError, "param group 0: .*betas"),
        ([{"lr": 0.1}], {}, TypeError, "param group 0 must be a dict with a 'params' entry"),
        ([], {}, ValueError, "optimizer got an empty parameter list"),
    ],
)
def test_bad_groups_raise_torchs_errors_or_clear_ones(groups, defaults, error, match):
    with pytest.raises(error, match=match):
        fo.param_groups(fo.sgd, groups, lr=0.1, **defaults).init(PARAMS)


def test_lbfgs_takes_one_group_only():
    with pytest.raises(ValueError, match="LBFGS doesn't support per-parameter options"):
        fo.param_groups(fo.lbfgs, [{"params": ["head"]}, {"params": ["body.w", "body.b"]}])


@pytest.mark.parametrize(
    ("torch_name", "defaults", "override"),
    [
        ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}, {"lr": 0.01, "weight_decay": 0.1}),
        ("Adam", {"lr": 1e-2, "amsgrad": True}, {"lr": 1e-3, "betas": (0.8, 0.95)}),
        ("RMSprop", {"lr": 1e-2, "centered": True}, {"momentum": 0.5}),
    ],
)
def test_live_groups_match_torch(torch_name, defaults, override):
    torch = pytest.importorskip("torch", reason="torch is not installed (pip install -e '.[parity]')")
    names = ["body.w", "body.b", "head"]
    values = [np.asarray(PARAMS["body"]["w"]), np.asarray(PARAMS["body"]["b"]), np.asarray(PARAMS["head"])]
    torch_params = [torch.tensor(v, requires_grad=True) for v in values]
    optimizer = getattr(torch.optim, torch_name)(
        [{"params": torch_params[:2]}, {"params": torch_params[2:], **override}], **defaults
    )
    for _ in range(3):
        for p in torch_params:
            p.grad = 0.5 * p.detach() + 0.1
        optimizer.step()
    tx = fo.param_groups(
        getattr(fo, torch_name.lower()), [{"params": names[:2]}, {"params": names[2:], **override}], **defaults
    )
    params, _ = _three_steps(tx, PARAMS)
    ours = [params["body"]["w"], params["body"]["b"], params["head"]]
    for name, mine, theirs in zip(names, ours, torch_params):
        np.testing.assert_allclose(mine, theirs.detach().numpy(), rtol=1e-14, err_msg=name)
