"""torch.optim's API on the wrapper: groups, defaults, state, hooks, state_dict, and its errors.

Where torch is installed, behaviours are checked against it; errors must leave the optimizer
exactly as it was.
"""

from __future__ import annotations

import re

import jax.numpy as jnp
import numpy as np
import pytest

import functional_optim as fo
from tests.algorithm_table import ERROR_CASES
from tests.runner import first_of_each_algorithm, jax_kwargs
from tests.wrapper_runs import (
    WRAPPED,
    assert_unchanged,
    quadratic,
    skip_unimplemented,
    snapshot_of,
    to_numpy,
    trained_adam,
)

WRAPPED_NAMES = {info.torch_name for info in WRAPPED}
WRAPPED_ERRORS = [(info, error) for info, error in ERROR_CASES if info.torch_name in WRAPPED_NAMES]


# -- construction --------------------------------------------------------------------------------


@pytest.mark.parametrize("info", WRAPPED, ids=[info.torch_name for info in WRAPPED])
def test_defaults_and_groups_match_torch(info, torch):
    skip_unimplemented(info)
    ours = getattr(fo.optim, info.torch_name)([fo.Parameter(jnp.zeros((2, 2)))])
    theirs = getattr(torch.optim, info.torch_name)([torch.zeros((2, 2), requires_grad=True)])
    assert list(ours.defaults.items()) == list(theirs.defaults.items())
    ours_group = {k: v for k, v in ours.param_groups[0].items() if k != "params"}
    assert list(ours_group.items()) == [(k, v) for k, v in theirs.param_groups[0].items() if k != "params"]


@pytest.mark.parametrize(
    ("info", "error"), WRAPPED_ERRORS, ids=[f"{i.torch_name}[{i.config_id(e.kwargs)}]" for i, e in WRAPPED_ERRORS]
)
def test_invalid_hyperparameters_raise_torchs_error(info, error):
    skip_unimplemented(info)
    with pytest.raises(error.error, match=re.escape(error.match)):
        getattr(fo.optim, info.torch_name)([fo.Parameter(jnp.zeros((2, 2)))], **jax_kwargs(error.kwargs))


def test_the_users_group_dict_is_filled_in_and_stored():
    p, q = fo.Parameter(jnp.zeros(2)), fo.Parameter(jnp.zeros(2))
    group = {"params": q, "lr": 0.5}
    optimizer = fo.optim.SGD([{"params": [p]}, group], lr=0.1, momentum=0.9)
    assert optimizer.param_groups[1] is group
    assert list(group)[:2] == ["params", "lr"] and group["params"] == [q]
    assert group["momentum"] == 0.9 and optimizer.param_groups[0]["lr"] == 0.1


def test_named_parameters_record_param_names(torch):
    params = fo.parameters({"base": {"w": jnp.zeros((2, 2))}, "head": {"b": jnp.zeros(2)}})
    optimizer = fo.optim.Adam(fo.named_parameter_list(params))
    theirs = torch.optim.Adam([("base.w", torch.zeros((2, 2), requires_grad=True)), ("head.b", torch.zeros(2))])
    assert optimizer.param_groups[0]["param_names"] == ["base.w", "head.b"]
    assert list(optimizer.state_dict()["param_groups"][0]) == list(theirs.state_dict()["param_groups"][0])


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda p: fo.optim.Adam(p), TypeError, "should be an iterable of Parameters or dicts"),
        (lambda p: fo.optim.Adam({"w": p}), TypeError, "parameter_list(tree)"),
        (lambda p: fo.optim.Adam([]), ValueError, "optimizer got an empty parameter list"),
        (lambda p: fo.optim.Adam([jnp.zeros(2)]), TypeError, "optimizer can only optimize Parameters"),
        (lambda p: fo.optim.Adam([p, 1.0]), TypeError, "optimizer can only optimize Parameters"),
        (lambda p: fo.optim.Adam([{"lr": 0.1}]), KeyError, "a param group needs a 'params' entry"),
        (lambda p: fo.optim.Adam([{"params": {p}}]), TypeError, "organized in ordered collections"),
        (lambda p: fo.optim.Adam([{"params": [p]}, {"params": [p]}]), ValueError, "more than one parameter group"),
        (lambda p: fo.optim.Adam([("w", p), p]), ValueError, "Some param names are missing"),
        (lambda p: fo.optim.Adam([p], foreach=True), ValueError, "foreach=True is not supported"),
        (lambda p: fo.optim.SGD([p], fused=True), ValueError, "fused=True is not supported"),
        (lambda p: fo.optim.Adam([p], capturable=True), ValueError, "capturable=True is not supported"),
        (lambda p: fo.optim.Adam([p], differentiable=True), ValueError, "differentiable=True is not supported"),
    ],
)
def test_bad_params_raise_clear_errors(make, error, match):
    with pytest.raises(error, match=re.escape(match)):
        make(fo.Parameter(jnp.zeros(2)))


def test_for_loop_flags_are_accepted():
    optimizer = fo.optim.Adam([fo.Parameter(jnp.zeros(2))], foreach=False, fused=False)
    assert optimizer.param_groups[0]["foreach"] is False


def test_muon_takes_only_matrices():
    with pytest.raises(ValueError, match=re.escape("Muon only supports 2D parameters")):
        fo.optim.Muon([fo.Parameter(jnp.zeros((2, 2))), fo.Parameter(jnp.zeros(3))])


@pytest.mark.parametrize("first_has_grad", [True, False])
def test_adafactor_eps1_comes_from_the_groups_first_parameter_with_a_grad_live(first_has_grad, torch):
    # Tiny float64 grads fall below eps1**2 for float32's eps1 but not for float64's.
    start = {"m": np.full((2, 3), 0.5, np.float32), "v": np.asarray([1.0, -2.0, 3.0])}
    ours = {k: fo.Parameter(jnp.asarray(v)) for k, v in start.items()}
    theirs = {k: torch.tensor(v, requires_grad=True) for k, v in start.items()}
    optimizers = fo.optim.Adafactor(list(ours.values())), torch.optim.Adafactor(list(theirs.values()))
    for _ in range(3):
        for params, xp in ((ours, jnp), (theirs, torch)):
            params["m"].grad = 0.1 * params["m"].data if first_has_grad else None
            params["v"].grad = 1e-9 * xp.ones_like(params["v"].data)
        for optimizer in optimizers:
            optimizer.step()
    for k in start:
        np.testing.assert_allclose(ours[k].data, theirs[k].detach().numpy(), rtol=1e-6 if k == "m" else 1e-12)


@pytest.mark.parametrize(
    ("group", "error", "match"),
    [
        (lambda old, new: [new], TypeError, "param_group must be a dict"),
        (lambda old, new: {"lr": 0.1}, KeyError, "a param group needs a 'params' entry"),
        (lambda old, new: {"params": [new, jnp.zeros(2)]}, TypeError, "optimizer can only optimize Parameters"),
        (lambda old, new: {"params": {new}}, TypeError, "organized in ordered collections"),
        (lambda old, new: {"params": [new, old]}, ValueError, "more than one parameter group"),
        (lambda old, new: {"params": [("new", new)]}, ValueError, "cannot add param group with names"),
        (lambda old, new: {"params": new, "foreach": True}, ValueError, "foreach=True is not supported"),
    ],
)
def test_bad_param_group_leaves_the_optimizer_unchanged(group, error, match):
    optimizer, params = trained_adam()
    snapshot = snapshot_of(optimizer, params)
    with pytest.raises(error, match=re.escape(match)):
        optimizer.add_param_group(group(params["w"], fo.Parameter(jnp.zeros(2))))
    assert_unchanged(optimizer, params, snapshot)


# -- load_state_dict -----------------------------------------------------------------------------


def _edit(path, value):
    def edit(state_dict):
        *keys, last = path
        target = state_dict
        for key in keys:
            target = target[key]
        target[last] = value
        return state_dict

    return edit


@pytest.mark.parametrize(
    ("edit", "error", "match"),
    [
        (lambda sd: {"state": sd["state"]}, ValueError, "needs a 'state' dict and a 'param_groups' list"),
        (lambda sd: {**sd, "param_groups": sd["param_groups"][:1]}, ValueError, "different number of parameter groups"),
        (_edit(("param_groups", 1, "params"), [1, 2]), ValueError, "doesn't match the size of optimizer's group"),
        (_edit(("state", 1, "exp_avg"), np.zeros(3)), ValueError, "'exp_avg' of shape (3,) for parameter 1"),
        (_edit(("state", 1), 3.0), ValueError, "a float as the state of parameter 1"),
        (_edit(("param_groups", 1, "lr"), -1.0), ValueError, "Invalid learning rate: -1.0"),
    ],
)
def test_bad_state_dict_leaves_the_optimizer_unchanged(edit, error, match):
    optimizer, params = trained_adam()
    state_dict = edit(to_numpy(optimizer.state_dict()))
    snapshot = snapshot_of(optimizer, params)
    with pytest.raises(error, match=re.escape(match)):
        optimizer.load_state_dict(state_dict)
    assert_unchanged(optimizer, params, snapshot)


def test_loading_takes_the_saved_hyperparameters_and_copies_the_arrays():
    optimizer, params = trained_adam()
    state_dict = optimizer.state_dict()
    state_dict["param_groups"][0]["lr"] = 0.5
    other = fo.optim.Adam([{"params": [fo.Parameter(params["w"].data)]}, {"params": [fo.Parameter(params["b"].data)]}])
    other.load_state_dict(state_dict)
    assert other.param_groups[0]["lr"] == 0.5 and other.param_groups[1]["lr"] == 0.01
    for p in other.param_groups[0]["params"] + other.param_groups[1]["params"]:
        p.grad = jnp.ones_like(p.data)
    other.step()  # donates its own buffers only
    assert not optimizer.state[params["w"]]["exp_avg"].is_deleted()


def test_adamw_keeps_decoupled_weight_decay_after_loading_an_adam_state():
    adam, params = trained_adam()
    adamw = fo.optim.AdamW([{"params": [params["w"]]}, {"params": [params["b"]]}])
    adamw.load_state_dict(adam.state_dict())
    assert all(group["decoupled_weight_decay"] for group in adamw.param_groups)


# -- the step ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("grad", "error", "match"),
    [
        (
            jnp.zeros(3),
            ValueError,
            "the grad of parameter 0 of group 1 has shape (3,), but the parameter has shape (2,)",
        ),
        ("x", TypeError, "the grad of parameter 0 of group 1 must be an array or None, but it is a str"),
        *(
            (
                jnp.zeros(2, dtype),
                TypeError,
                f"the grad of parameter 0 of group 1 has dtype {jnp.dtype(dtype)}, but the parameter has dtype float64",
            )
            for dtype in (jnp.float32, jnp.bfloat16, jnp.int32, jnp.bool_, jnp.complex128)
        ),
    ],
)
def test_bad_grad_leaves_the_optimizer_unchanged(grad, error, match):
    optimizer, params = trained_adam()
    optimizer.zero_grad()
    fo.backward(quadratic, params)
    params["b"].grad = grad
    snapshot = snapshot_of(optimizer, {"w": params["w"]})
    data = params["w"].data
    with pytest.raises(error, match=re.escape(match)):
        optimizer.step()
    assert_unchanged(optimizer, {"w": params["w"]}, snapshot)
    assert params["w"].data is data and not data.is_deleted()


def test_state_missing_a_field_raises_keyerror_as_torch(torch):
    p = fo.Parameter(jnp.ones(2))
    optimizer = fo.optim.RMSprop([p])
    p.grad = jnp.ones(2)
    optimizer.step()
    optimizer.param_groups[0]["momentum"] = 0.5  # torch never created a momentum_buffer: KeyError
    snapshot = snapshot_of(optimizer, {"p": p})
    with pytest.raises(KeyError, match="momentum_buffer"):
        optimizer.step()
    assert_unchanged(optimizer, {"p": p}, snapshot)

    t = torch.ones(2, requires_grad=True)
    theirs = torch.optim.RMSprop([t])
    t.grad = torch.ones(2)
    theirs.step()
    theirs.param_groups[0]["momentum"] = 0.5
    with pytest.raises(KeyError, match="momentum_buffer"):
        theirs.step()


def test_zero_grad():
    p = fo.Parameter(jnp.ones(2))
    optimizer = fo.optim.SGD([p])
    p.grad = jnp.ones(2)
    optimizer.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(p.grad, np.zeros(2))
    optimizer.zero_grad()
    assert p.grad is None


def test_step_returns_the_closures_value():
    p = fo.Parameter(jnp.ones(2))
    optimizer = fo.optim.SGD([p], lr=0.1)

    def closure():
        optimizer.zero_grad()
        return fo.backward(lambda v: jnp.sum(v**2), p)

    assert float(optimizer.step(closure)) == 2.0
    np.testing.assert_allclose(p.data, [0.8, 0.8])
    assert optimizer.step() is None


def test_parameters_without_grads_are_skipped_and_state_is_lazy():
    p, q = fo.Parameter(jnp.ones(2)), fo.Parameter(jnp.ones(2))
    optimizer = fo.optim.Adam([p, q])
    assert len(optimizer.state) == 0
    p.grad = jnp.ones(2)
    data = q.data
    optimizer.step()
    assert q.data is data and q not in optimizer.state
    assert list(optimizer.state[p]) == ["step", "exp_avg", "exp_avg_sq"]
    assert float(optimizer.state[p]["step"]) == 1.0


def test_adagrad_state_is_eager_with_the_constructors_accumulator(torch):
    skip_unimplemented(next(info for info in WRAPPED if info.torch_name == "Adagrad"))
    p, q = fo.Parameter(jnp.ones(2)), fo.Parameter(jnp.ones(2))
    tp, tq = torch.ones(2, dtype=torch.float64, requires_grad=True), torch.ones(2, dtype=torch.float64)
    tq.requires_grad_()
    ours = fo.optim.Adagrad([p], initial_accumulator_value=0.5)
    theirs = torch.optim.Adagrad([tp], initial_accumulator_value=0.5)
    assert list(ours.state_dict()["state"][0]) == ["step", "sum"]
    ours.add_param_group({"params": [q], "initial_accumulator_value": 3.0})
    theirs.add_param_group({"params": [tq], "initial_accumulator_value": 3.0})
    assert q not in ours.state
    p.grad, q.grad = 2 * p.data, 2 * q.data
    tp.grad, tq.grad = 2 * tp.detach(), 2 * tq.detach()
    ours.step()
    theirs.step()
    np.testing.assert_allclose(ours.state[q]["sum"], theirs.state[tq]["sum"].numpy())
    np.testing.assert_allclose(q.data, tq.detach().numpy())


def test_complex_parameters_follow_torch(torch):
    start = np.array([[1.0 + 2.0j, -0.5 + 0.3j], [0.2 - 1.0j, 0.7 + 0.1j]])
    p = fo.Parameter(jnp.asarray(start))
    t = torch.tensor(start, requires_grad=True)
    ours, theirs = fo.optim.Adam([p], lr=0.1, weight_decay=0.1), torch.optim.Adam([t], lr=0.1, weight_decay=0.1)

    def loss(z, xp):
        return (xp.abs(z * (0.3 - 0.7j) + 1.0) ** 2).sum() + (z.real**3).sum()

    for _ in range(5):
        ours.zero_grad()
        fo.backward(lambda z: loss(z, jnp), p)
        ours.step()
        theirs.zero_grad()
        loss(t, torch).backward()
        theirs.step()
    np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=1e-12)
    exp_avg = ours.state_dict()["state"][0]["exp_avg"]
    assert exp_avg.dtype == jnp.complex128 and exp_avg.shape == (2, 2)
    np.testing.assert_allclose(exp_avg, theirs.state_dict()["state"][0]["exp_avg"].numpy(), rtol=1e-12)


def test_duplicate_parameters_warn_as_torch():
    p = fo.Parameter(jnp.ones(2))
    with pytest.warns(UserWarning, match="duplicate parameters"):
        fo.optim.SGD([p, p])


def test_params_given_as_a_set_warn_as_torch_2_15():
    with pytest.warns(FutureWarning, match="ordering of tensors in sets will change between runs") as record:
        fo.optim.SGD({fo.Parameter(jnp.ones(2))}, lr=0.1)
    assert record[0].filename == __file__  # points at the caller


# -- hooks and state_dict ------------------------------------------------------------------------


def test_step_hooks_run_in_torchs_order():
    p = fo.Parameter(jnp.ones(2))
    optimizer = fo.optim.SGD([p])
    calls = []
    handles = [
        fo.optim.register_optimizer_step_pre_hook(lambda o, a, k: calls.append("gpre")),
        fo.optim.register_optimizer_step_post_hook(lambda o, a, k: calls.append("gpost")),
        optimizer.register_step_pre_hook(lambda o, a, k: calls.append("pre")),
        optimizer.register_step_post_hook(lambda o, a, k: calls.append("post")),
    ]
    try:
        optimizer.step()
        assert calls == ["gpre", "pre", "post", "gpost"]
    finally:
        for handle in handles:
            handle.remove()
    optimizer.step()
    assert len(calls) == 4


def test_a_pre_hook_can_replace_the_arguments():
    p = fo.Parameter(jnp.ones(2))
    optimizer = fo.optim.SGD([p])
    with optimizer.register_step_pre_hook(lambda o, args, kwargs: ((o,), {"closure": lambda: 7.0})):
        assert optimizer.step() == 7.0
    with (
        optimizer.register_step_pre_hook(lambda o, args, kwargs: "oops"),
        pytest.raises(RuntimeError, match="must return None or a tuple of"),
    ):
        optimizer.step()


def test_state_dict_hooks():
    optimizer, _ = trained_adam()
    seen = []
    optimizer.register_state_dict_pre_hook(lambda o: seen.append("pre"))
    optimizer.register_state_dict_post_hook(lambda o, sd: {**sd, "extra": 1})
    assert optimizer.state_dict()["extra"] == 1 and seen == ["pre"]
    optimizer.register_load_state_dict_pre_hook(lambda o, sd: {k: v for k, v in sd.items() if k != "extra"})
    optimizer.register_load_state_dict_post_hook(lambda o: seen.append("loaded"))
    optimizer.load_state_dict(optimizer.state_dict())
    assert seen == ["pre", "pre", "loaded"]


def test_state_dict_holds_the_live_state_dicts():
    optimizer, params = trained_adam()
    state_dict = optimizer.state_dict()
    assert list(state_dict["param_groups"][0])[-1] == "params"
    assert state_dict["param_groups"][1]["params"] == [1]
    assert state_dict["state"][0] is optimizer.state[params["w"]]
    optimizer.zero_grad()
    fo.backward(quadratic, params)
    optimizer.step()
    assert float(state_dict["state"][0]["step"]) == 3.0


def test_repr_lists_the_groups():
    optimizer, _ = trained_adam()
    text = repr(optimizer)
    assert text.startswith("Adam (\nParameter Group 0\n    amsgrad: False") and text.endswith("\n)")


def test_sgd_without_momentum_keeps_no_state(torch):
    p, t = fo.Parameter(jnp.ones(2)), torch.ones(2, requires_grad=True)
    ours, theirs = fo.optim.SGD([p], lr=0.1), torch.optim.SGD([t], lr=0.1)
    for _ in range(2):
        p.grad, t.grad = jnp.ones(2), torch.ones(2)
        ours.step()
        theirs.step()
    assert ours.state_dict()["state"] == theirs.state_dict()["state"] == {}


def test_a_bad_group_value_raises_at_the_step_as_torch_never_checks_it():
    p = fo.Parameter(jnp.ones(2))
    optimizer = fo.optim.Adam([{"params": [p], "lr": -1.0}])  # torch only checks the constructor's arguments
    p.grad = jnp.ones(2)
    with pytest.raises(ValueError, match=re.escape("Invalid learning rate: -1.0")):
        optimizer.step()
    assert p not in optimizer.state
    np.testing.assert_array_equal(p.data, [1.0, 1.0])


def test_a_torch_checkpoint_with_torch_only_flags_loads():
    optimizer, _ = trained_adam()
    state_dict = to_numpy(optimizer.state_dict())
    for group in state_dict["param_groups"]:
        group["fused"] = True  # e.g. saved from a GPU run; the flag has no meaning here
    optimizer.load_state_dict(state_dict)
    optimizer.step()
    assert optimizer.param_groups[0]["fused"] is True


# -- grads of another dtype, and group values edited between steps --------------------------------


def _stepped(info, dtype=jnp.float64):
    """The wrapped algorithm after one step on two (2, 2) Parameters of ``dtype`` (2-D suits Muon)."""
    skip_unimplemented(info)
    params = {"v": fo.Parameter(jnp.full((2, 2), 0.5, dtype)), "w": fo.Parameter(jnp.full((2, 2), -0.25, dtype))}
    optimizer = getattr(fo.optim, info.torch_name)(list(params.values()))
    for p in params.values():
        p.grad = jnp.ones((2, 2), dtype)
    optimizer.step()
    return optimizer, params


def _raises_and_leaves_unchanged(optimizer, params, error, match):
    snapshot = snapshot_of(optimizer, params)
    data = [p.data for p in params.values()]
    with pytest.raises(error, match=re.escape(match)):
        optimizer.step()
    assert_unchanged(optimizer, params, snapshot)
    assert all(p.data is old and not old.is_deleted() for p, old in zip(params.values(), data))


COMPLEX_WRAPPED = [info for info in WRAPPED if info.torch_name not in ("Adafactor", "Muon")]
GRAD_DTYPE_CASES = [
    *((info, jnp.float64, jnp.complex128) for info in WRAPPED),  # used to reshape p.data to (2, 2, 2)
    *((info, jnp.float64, jnp.float32) for info in WRAPPED),
    *((info, jnp.complex128, jnp.float64) for info in COMPLEX_WRAPPED),
]


# The functional check every dtype pair meets is tests/test_validation.py's: each algorithm's
# first pair here, every one under pytest -m slow.
@pytest.mark.parametrize(
    ("info", "param_dtype", "grad_dtype"),
    first_of_each_algorithm(
        GRAD_DTYPE_CASES,
        [f"{i.torch_name}-{jnp.dtype(g).name}-grad-on-{jnp.dtype(p).name}" for i, p, g in GRAD_DTYPE_CASES],
    ),
)
def test_a_grad_of_another_dtype_raises_and_leaves_the_optimizer_unchanged(info, param_dtype, grad_dtype):
    optimizer, params = _stepped(info, param_dtype)
    params["w"].grad = jnp.ones((2, 2), grad_dtype)
    match = f"the grad of parameter 1 of group 0 has dtype {jnp.dtype(grad_dtype)}, but the parameter has dtype"
    _raises_and_leaves_unchanged(optimizer, params, TypeError, match)


# Re-validation after a step is one mechanism; the messages of every case are the constructors'
# (tests/test_validation.py): each algorithm's first case here, every one under pytest -m slow.
@pytest.mark.parametrize(
    ("info", "error"),
    first_of_each_algorithm(WRAPPED_ERRORS, [f"{i.torch_name}[{i.config_id(e.kwargs)}]" for i, e in WRAPPED_ERRORS]),
)
def test_a_bad_edit_after_a_step_raises_the_constructors_error(info, error):
    # Before, e.g. betas=(0.9, 1.0) after a step wrote NaN into every param without a word.
    optimizer, params = _stepped(info)
    optimizer.param_groups[0].update(jax_kwargs(error.kwargs))
    _raises_and_leaves_unchanged(optimizer, params, error.error, f"param_groups[0]: {error.match}")


@pytest.mark.parametrize("flag", ["foreach", "fused", "capturable", "differentiable"])
def test_a_torch_only_flag_edited_after_a_step_raises_as_at_construction(flag):
    optimizer, params = _stepped(next(info for info in WRAPPED if info.torch_name == "Adam"))
    optimizer.param_groups[0][flag] = True
    _raises_and_leaves_unchanged(optimizer, params, ValueError, f"param_groups[0]: Adam: {flag}=True is not supported")


def test_a_bad_edit_is_raised_on_every_step_until_undone():
    optimizer, params = trained_adam()
    optimizer.param_groups[1]["betas"] = (0.9, 1.5)
    for _ in range(2):
        with pytest.raises(ValueError, match=re.escape("param_groups[1]: Invalid beta parameter at index 1: 1.5")):
            optimizer.step()
    optimizer.param_groups[1]["betas"] = (0.9, 0.999)
    optimizer.step()
    assert float(optimizer.state[params["b"]]["step"]) == 3.0
    assert all(bool(jnp.all(jnp.isfinite(p.data))) for p in params.values())


@pytest.mark.parametrize(
    ("value", "edit", "match"),
    [
        ([0.9, 0.999], lambda betas: betas.__setitem__(1, 1.5), "Invalid beta parameter at index 1: 1.5"),
        (np.asarray(0.01), lambda lr: lr.fill(-1.0), "Invalid learning rate: -1.0"),
    ],
    ids=["betas-list", "lr-numpy"],
)
def test_an_in_place_edit_of_a_group_value_is_checked(value, edit, match):
    key = "betas" if isinstance(value, list) else "lr"
    optimizer, params = trained_adam()
    optimizer.param_groups[0][key] = value
    optimizer.step()
    edit(value)
    _raises_and_leaves_unchanged(optimizer, params, ValueError, f"param_groups[0]: {match}")


def test_a_loaded_groups_values_are_checked_at_the_step_and_its_flags_kept():
    params = {"w": fo.Parameter(jnp.ones(2))}
    optimizer = fo.optim.Adam(list(params.values()))
    state_dict = to_numpy(optimizer.state_dict())
    state_dict["param_groups"][0]["fused"] = True  # from a GPU run: loads, and steps
    state_dict["param_groups"][0]["eps"] = -1.0  # no state to check it against when loaded
    optimizer.load_state_dict(state_dict)
    params["w"].grad = jnp.ones(2)
    _raises_and_leaves_unchanged(optimizer, params, ValueError, "param_groups[0]: Invalid epsilon value: -1.0")
    optimizer.param_groups[0]["eps"] = 1e-8
    optimizer.step()
    assert optimizer.param_groups[0]["fused"] is True
    optimizer.param_groups[0]["fused"] = None  # an edit of a flag is checked, and None is the for-loop
    optimizer.step()
    assert float(optimizer.state[params["w"]]["step"]) == 2.0


def test_a_value_a_scheduler_writes_is_taken_as_in_torch_and_other_edits_still_checked():
    optimizer, params = trained_adam()
    group = optimizer.param_groups[0]
    optimizer.set_group_value(group, "lr", -0.1)  # as chained CosineAnnealingLR and StepLR can make it
    before = np.abs(np.array(params["w"].data))
    optimizer.zero_grad()
    fo.backward(quadratic, params)
    optimizer.step()
    assert np.all(np.abs(np.array(params["w"].data)) > before)  # a step uphill, as torch takes it
    group["eps"] = -1.0
    _raises_and_leaves_unchanged(optimizer, params, ValueError, "param_groups[0]: Invalid epsilon value: -1.0")
    group["eps"] = 1e-8
    group["lr"] = -1.0  # by hand: checked
    _raises_and_leaves_unchanged(optimizer, params, ValueError, "param_groups[0]: Invalid learning rate: -1.0")


@pytest.mark.parametrize("write", ["by hand", "by a scheduler"])
def test_a_value_that_stops_being_zero_recompiles_however_it_is_written(write):
    params = {"w": fo.Parameter(jnp.ones(2))}
    optimizer = fo.optim.Adam(list(params.values()), lr=0.1)  # weight_decay=0: no decay term compiled
    params["w"].grad = jnp.ones(2)
    optimizer.step()
    group = optimizer.param_groups[0]
    if write == "by hand":
        group["weight_decay"] = 0.5
    else:
        optimizer.set_group_value(group, "weight_decay", 0.5)
    optimizer.step()
    tx = fo.adam(lr=0.1, weight_decay=jnp.asarray(0.0))  # an array: changeable in the functional state
    expected, state = fo.apply_gradients(tx, jnp.ones(2), tx.init(jnp.ones(2)), jnp.ones(2))
    expected, _ = fo.apply_gradients(tx, jnp.ones(2), fo.set_hyperparams(state, weight_decay=0.5), expected)
    np.testing.assert_allclose(params["w"].data, expected, rtol=1e-12)
    assert not np.allclose(expected, 1 - 2 * 0.1)  # the decay made a difference


# -- aliased arrays --------------------------------------------------------------------------------


def _steps_of(info, params: list, grads: list, steps: int = 2) -> list[np.ndarray]:
    """Each Parameter's data after ``steps`` steps of ``info``'s optimizer, its grads set each step."""
    optimizer = getattr(fo.optim, info.torch_name)(params, lr=0.1)
    for _ in range(steps):
        for p, grad in zip(params, grads):
            p.grad = grad(p)
        optimizer.step()
    return [np.asarray(p.data) for p in params]


@pytest.mark.parametrize("info", WRAPPED, ids=[info.torch_name for info in WRAPPED])
def test_aliased_arrays_step_as_distinct_ones(info):
    """``p.grad = p.data`` and two Parameters of one array (JAX arrays are values) step like copies.

    A step donates p.data: an array passed twice used to fail with "Attempt to donate the same
    buffer twice" (or to use a donated buffer).
    """
    skip_unimplemented(info)
    start = jnp.linspace(-1.0, 1.0, 6).reshape(2, 3)
    shared = fo.Parameter(start)
    aliased = _steps_of(info, [shared, fo.Parameter(start)], [lambda p: p.data, lambda p: p.data * 2])
    copies = [fo.Parameter(jnp.array(start)), fo.Parameter(jnp.array(start))]
    distinct = _steps_of(info, copies, [lambda p: jnp.array(p.data), lambda p: p.data * 2])
    for a, b in zip(aliased, distinct):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(aliased[0], np.asarray(start))  # it stepped
