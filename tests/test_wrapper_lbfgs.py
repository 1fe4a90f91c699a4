"""fo.optim.LBFGS: torch's class, ``step(closure)`` with a closure that calls ``fo.backward``.

Its runs are compared with torch's on the cases of tests/make_lbfgs_golden.py (Rosenbrock, a
logistic regression, a small MLP, a complex least-squares problem; with and without strong
Wolfe, early exits, a wrapping history, a Tensor lr): against the committed goldens, and, in
the tests named ``live``, against torch itself, with torch's state layout.
"""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental import sparse

import functional_optim as fo
from functional_optim.optim import lbfgs as lbfgs_module
from tests.make_lbfgs_golden import CASES, PROBLEMS, Case, torch_optimizer, torch_run
from tests.runner import jax_kwargs
from tests.test_lbfgs import STATE_FIELDS, assert_run_matches, golden
from tests.wrapper_runs import to_numpy

# The wrapper adds no maths to the functional step (tests/test_lbfgs.py runs every case on it):
# the default run's cases cover each search (strong Wolfe exiting on max_eval), a wrapping
# history in float32, a Tensor lr and complex parameters; pytest -m slow adds the other early
# exits, the other problems and the rest of the picks.
_PICKED = (
    "rosenbrock2[default]-float64",
    "rosenbrock2[lr=0.5,max_iter=6,history_size=4]-float32",  # the history ring wraps
    "rosenbrock2[line_search_fn=strong_wolfe,max_eval=7,history_size=2]-float64",  # exits on max_eval
    "rosenbrock10[lr=0.5,max_iter=6,history_size=4]-float64",  # a Tensor lr
    "complex[default]-float64",
)
_PICKED_SLOW = (
    "rosenbrock2[line_search_fn=strong_wolfe]-float64",
    "rosenbrock2[max_iter=1]-float64",  # no re-evaluation on the last iteration
    "logistic[tolerance_grad=0.001,history_size=3]-float32",  # later steps return at once
    "logistic[line_search_fn=strong_wolfe,tolerance_change=0.0001,max_iter=12]-float64",  # exits on loss change
    "rosenbrock2[lr=0.5,max_iter=6,history_size=4]-float64",
    "logistic[default]-float64",
    "logistic[line_search_fn=strong_wolfe]-float64",
    "mlp[line_search_fn=strong_wolfe,tolerance_change=0.0001,max_iter=12]-float64",
    "complex[line_search_fn=strong_wolfe]-float32",
)
WRAPPER_CASES = [case for case in CASES if case.name.rsplit("-", 1)[0] in _PICKED]
LIVE_CASES = [
    case
    for case in CASES
    if case.name.rsplit("-", 1)[0] in _PICKED + _PICKED_SLOW and case.config in ({}, {"line_search_fn": "strong_wolfe"})
][:4]
COUNTERS = ("func_evals", "n_iter")
TORCH_KEYS_BEFORE_AL = ["func_evals", "n_iter", "al", "d", "t", "old_dirs", "old_stps", "ro", "H_diag"]


def _name(case: Case) -> str:
    return re.sub(r"[^0-9A-Za-z_.=,\[\]-]", "_", case.name)


def _array(value: np.ndarray, dtype: str) -> jax.Array:
    if np.iscomplexobj(value):
        return jnp.asarray(value, jnp.complex128 if dtype == "float64" else jnp.complex64)
    return jnp.asarray(value, dtype)


class WrapperRun:
    """``fo.optim.LBFGS`` on a problem of make_lbfgs_golden, with torch's closure."""

    def __init__(self, case: Case, start: dict[str, np.ndarray] | None = None, **overrides):
        self.spec = PROBLEMS[case.problem]
        start = self.spec.params() if start is None else start
        self.names = sorted(start)  # torch's parameter order in torch_run
        self.params = {k: fo.Parameter(_array(start[k], case.dtype)) for k in self.names}
        self.data = [_array(a, case.dtype) for a in self.spec.data()]
        self.optimizer = fo.optim.LBFGS([self.params[k] for k in self.names], **jax_kwargs(case.config), **overrides)
        self.loss_fn = lambda params, *data: self.spec.loss(params, *data, jnp)
        self.closure_calls = 0

    def closure(self):
        self.closure_calls += 1
        self.optimizer.zero_grad()
        return fo.backward(self.loss_fn, self.params, *self.data)

    def flat(self) -> np.ndarray:
        leaves = [np.asarray(self.params[k].data) for k in self.names]
        return np.concatenate(
            [np.stack([v.real, v.imag], -1).ravel() if np.iscomplexobj(v) else v.ravel() for v in leaves]
        )

    @property
    def state(self) -> dict:
        return self.optimizer.state[self.params[self.names[0]]]

    def run(self, steps: int) -> dict[str, np.ndarray]:
        """``steps`` calls of ``step``, in the layout of ``make_lbfgs_golden.torch_run``."""
        history = {"params": [self.flat()], "loss": [], "func_evals": [], "n_iter": []}
        for _ in range(steps):
            loss = self.optimizer.step(self.closure)
            history["params"].append(self.flat())
            history["loss"].append(float(loss))
            history["func_evals"].append(self.state["func_evals"])
            history["n_iter"].append(self.state["n_iter"])
        run = {k: np.asarray(v) for k, v in history.items()}
        state = self.state
        if "d" in state:
            n = run["params"].shape[1]
            run.update({k: np.asarray(state[k]).reshape(-1, n) for k in ("old_dirs", "old_stps")})
            run.update({k: np.asarray(state[k]) for k in ("d", "ro", "prev_flat_grad")})
            run.update({k: np.asarray(float(state[k])) for k in ("t", "H_diag", "prev_loss")})
        return run


# -- parity ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "case",
    WRAPPER_CASES
    + [pytest.param(c, marks=pytest.mark.slow) for c in CASES if c.name.rsplit("-", 1)[0] in _PICKED_SLOW],
    ids=_name,
)
def test_run_matches_the_golden(case):
    assert_run_matches(WrapperRun(case).run(case.steps), golden(case), case.dtype)


@pytest.mark.parametrize("case", LIVE_CASES, ids=_name)
def test_run_and_state_layout_match_live_torch(case, torch):
    ours = WrapperRun(case)
    assert_run_matches(ours.run(case.steps), torch_run(case), case.dtype)
    theirs = _torch_optimizer(torch, case, case.steps)
    our_state, torch_state = ours.state, theirs.state[theirs.param_groups[0]["params"][0]]
    assert list(our_state) == list(torch_state)
    for key, value in our_state.items():
        expected = torch_state[key]
        if key == "t":  # always a Python float here; torch's may be an int, a float or a 0-d tensor
            assert isinstance(value, float) and value == pytest.approx(float(expected), rel=1e-6)
        elif key == "H_diag" and isinstance(expected, int):
            assert value == expected == 1
        elif isinstance(expected, list):
            assert len(value) == len(expected)
            assert [v is None for v in value] == [v is None for v in expected]
        else:
            assert type(value) is type(expected) if not hasattr(expected, "detach") else isinstance(value, jax.Array)


def _torch_optimizer(torch, case: Case, steps: int):
    """torch.optim.LBFGS after ``steps`` steps of ``case`` (as make_lbfgs_golden.torch_run runs it)."""
    optimizer, closure, _ = torch_optimizer(torch, case)
    for _ in range(steps):
        optimizer.step(closure)
    return optimizer


@pytest.mark.parametrize("direction", ["torch_to_wrapper", "wrapper_to_torch"])
def test_state_dict_taken_midway_continues_on_the_other_side_live(direction, torch):
    case = next(c for c in CASES if c.problem == "logistic" and c.config == {"line_search_fn": "strong_wolfe"})
    spec = PROBLEMS[case.problem]
    names = sorted(spec.params())
    expected = WrapperRun(case).run(4)
    if direction == "torch_to_wrapper":
        theirs = _torch_optimizer(torch, case, 2)
        params = theirs.param_groups[0]["params"]
        ours = WrapperRun(case, start={k: p.detach().numpy() for k, p in zip(names, params)})
        ours.optimizer.load_state_dict(to_numpy(theirs.state_dict()))
        continued = ours.run(2)
    else:
        ours = WrapperRun(case)
        ours.run(2)
        theirs = _torch_optimizer(torch, case, 0)
        params = theirs.param_groups[0]["params"]
        with torch.no_grad():
            for p, k in zip(params, names):
                p.copy_(torch.tensor(np.asarray(ours.params[k].data)))
        theirs.load_state_dict(_to_torch(torch, to_numpy(ours.optimizer.state_dict())))
        data = [torch.tensor(a) for a in spec.data()]

        def closure():
            theirs.zero_grad()
            loss = spec.loss(dict(zip(names, params)), *data, torch)
            loss.backward()
            return loss

        continued = {"params": [], "n_iter": []}
        for _ in range(2):
            theirs.step(closure)
            continued["params"].append(torch.cat([p.detach().reshape(-1) for p in params]).numpy())
            continued["n_iter"].append(theirs.state[params[0]]["n_iter"])
        continued = {k: np.asarray(v) for k, v in continued.items()}
    np.testing.assert_allclose(continued["params"][-2:], expected["params"][-2:], rtol=1e-10, atol=1e-10)
    np.testing.assert_array_equal(continued["n_iter"], expected["n_iter"][2:])


def _to_torch(torch, tree):
    if isinstance(tree, dict):
        return {k: _to_torch(torch, v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_to_torch(torch, v) for v in tree]
    return torch.tensor(tree) if isinstance(tree, np.ndarray) else tree


# -- the step --------------------------------------------------------------------------------------


def _rosenbrock_case(**config) -> Case:
    return Case("rosenbrock2", config, "float64", 4)


def _count_traces(monkeypatch) -> list:
    """A fresh cache of compiled L-BFGS steps, and a list that grows by one per trace of a step."""
    traces = []
    body = lbfgs_module._run_step
    monkeypatch.setattr(lbfgs_module, "_RUNS", {})
    monkeypatch.setattr(lbfgs_module, "_run_step", lambda *args: traces.append(1) or body(*args))
    return traces


def test_steps_compile_once_while_lr_and_tolerances_change(monkeypatch):
    traces = _count_traces(monkeypatch)
    run = WrapperRun(_rosenbrock_case(line_search_fn="strong_wolfe"))
    for k in range(4):
        run.optimizer.param_groups[0]["lr"] = 1.0 - 0.1 * k
        run.optimizer.param_groups[0]["tolerance_change"] = 1e-9 * (k + 1)
        run.optimizer.step(run.closure)
    assert len(traces) == 1


def test_optimizers_of_one_configuration_share_the_compiled_step_and_keep_their_own_closures(monkeypatch):
    traces = _count_traces(monkeypatch)
    case = _rosenbrock_case(line_search_fn="strong_wolfe")
    expected = WrapperRun(case).run(2)
    first, second = WrapperRun(case), WrapperRun(case, start={"x": np.array([0.5, 0.5])})
    for _ in range(2):  # interleaved: each step evaluates its own optimizer's closure
        first.optimizer.step(first.closure)
        second.optimizer.step(second.closure)
    assert len(traces) == 1
    np.testing.assert_array_equal(first.flat(), expected["params"][-1])
    assert second.closure_calls == second.state["func_evals"] > 0
    assert not np.array_equal(second.flat(), first.flat())
    assert not lbfgs_module._EVALUATIONS  # only steps in progress are registered


def test_the_closure_is_called_once_per_evaluation_and_its_first_value_returned():
    run = WrapperRun(_rosenbrock_case(line_search_fn="strong_wolfe"))
    first = []

    def closure():
        loss = run.closure()
        first.append(loss)
        return loss

    for _ in range(3):
        evals = run.state.get("func_evals", 0)
        calls = run.closure_calls
        first.clear()
        assert run.optimizer.step(closure) is first[0]
        assert run.closure_calls - calls == run.state["func_evals"] - evals


def test_state_lives_under_the_first_parameter_in_torchs_key_order():
    run = WrapperRun(Case("logistic", {}, "float64", 1))
    run.optimizer.step(run.closure)
    assert list(run.optimizer.state) == [run.params["b"]]
    assert list(run.state)[: len(TORCH_KEYS_BEFORE_AL)] == TORCH_KEYS_BEFORE_AL  # al comes during the first step
    assert list(run.state)[-2:] == ["prev_flat_grad", "prev_loss"]
    assert type(run.state["func_evals"]) is int and type(run.state["prev_loss"]) is float

    one_iteration = WrapperRun(Case("logistic", {"max_iter": 1}, "float64", 1))
    one_iteration.optimizer.step(one_iteration.closure)
    assert "al" not in one_iteration.state and one_iteration.state["H_diag"] == 1
    one_iteration.optimizer.step(one_iteration.closure)
    assert list(one_iteration.state)[-1] == "al"  # torch adds it at the second iteration ever
    assert len(one_iteration.state["al"]) == 100


def test_a_step_that_returns_at_once_stores_only_the_counters():
    run = WrapperRun(Case("logistic", {"tolerance_grad": 1e3}, "float64", 1))
    run.optimizer.step(run.closure)
    assert run.state == {"func_evals": 1, "n_iter": 0}


def test_several_groups_raise_torchs_errors():
    p, q = fo.Parameter(jnp.zeros(2)), fo.Parameter(jnp.zeros(2))
    with pytest.raises(ValueError, match=re.escape("LBFGS doesn't support per-parameter options (parameter groups)")):
        fo.optim.LBFGS([{"params": [p]}, {"params": [q]}])
    optimizer = fo.optim.LBFGS([p])
    optimizer.add_param_group({"params": [q]})
    with pytest.raises(AssertionError, match=re.escape("Expected exactly one param_group, but got 2")):
        optimizer.step(lambda: 0.0)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"lr": -1.0}, ValueError, "Invalid learning rate: -1.0"),
        ({"lr": jnp.asarray([0.1, 0.2])}, ValueError, "Tensor lr must be 1-element"),
        ({"line_search_fn": "armijo"}, RuntimeError, "only 'strong_wolfe' is supported"),
    ],
)
def test_invalid_arguments_raise_torchs_errors(kwargs, error, match):
    with pytest.raises(error, match=re.escape(match)):
        fo.optim.LBFGS([fo.Parameter(jnp.zeros(2))], **kwargs)


def test_defaults_match_torch(torch):
    ours = fo.optim.LBFGS([fo.Parameter(jnp.zeros(2))], max_iter=8)
    theirs = torch.optim.LBFGS([torch.zeros(2, requires_grad=True)], max_iter=8)
    # torch 2.15 adds the keyword-only maximize, last; torch 2.13 (the live tests') lacks it.
    assert list(ours.defaults.items()) == [*theirs.defaults.items(), ("maximize", False)]
    assert type(ours.defaults["lr"]) is int and ours.defaults["max_eval"] == 10


@pytest.mark.parametrize(
    "case",
    [pytest.param(c, marks=() if i == 0 else pytest.mark.slow) for i, c in enumerate(WRAPPER_CASES[:3])],
    ids=_name,
)
def test_maximize_steps_as_minimising_the_negation(case):
    # torch 2.15's maximize: maximising -f follows the minimisation of f bit for bit, and step
    # returns the closure's own value; state_dict records the flag.
    minimizing, maximizing = WrapperRun(case), WrapperRun(case, maximize=True)
    loss_fn = maximizing.loss_fn
    maximizing.loss_fn = lambda params, *data: -loss_fn(params, *data)
    expected, run = minimizing.run(3), maximizing.run(3)
    np.testing.assert_array_equal(run.pop("loss"), -expected.pop("loss"))
    for key, value in expected.items():
        np.testing.assert_array_equal(run[key], value, err_msg=key)
    assert maximizing.optimizer.state_dict()["param_groups"][0]["maximize"] is True


def test_maximize_matches_live_torch_minimising_the_negation(torch):
    case = LIVE_CASES[0]
    maximizing = WrapperRun(case, maximize=True)
    loss_fn = maximizing.loss_fn
    maximizing.loss_fn = lambda params, *data: -loss_fn(params, *data)
    run = maximizing.run(case.steps)
    assert_run_matches(run | {"loss": -run["loss"]}, torch_run(case), case.dtype)


def test_a_group_without_parameters_steps_by_calling_the_closure():
    optimizer = fo.optim.LBFGS([{"params": []}])  # torch 2.15 returns closure(); 2.13 failed
    assert optimizer.step(lambda: 1.5) == 1.5


def test_step_needs_a_closure():
    optimizer = fo.optim.LBFGS([fo.Parameter(jnp.zeros(2))])
    with pytest.raises(TypeError, match="closure"):
        optimizer.step()


def test_a_failing_closure_leaves_parameters_and_state_as_they_were():
    run = WrapperRun(_rosenbrock_case(line_search_fn="strong_wolfe"))
    run.optimizer.step(run.closure)
    before = to_numpy(run.optimizer.state_dict())
    values = run.flat()
    calls = []

    def failing():
        calls.append(1)
        if len(calls) == 3:
            raise KeyError("data loader ran dry")
        return run.closure()

    with pytest.raises(KeyError, match="data loader ran dry"):
        run.optimizer.step(failing)
    assert len(calls) == 3  # not called again after it raised
    np.testing.assert_array_equal(run.flat(), values)
    after = to_numpy(run.optimizer.state_dict())
    assert list(after["state"][0]) == list(before["state"][0])
    for key, value in before["state"][0].items():
        np.testing.assert_array_equal(np.asarray(after["state"][0][key], float), np.asarray(value, float))

    uninterrupted = WrapperRun(_rosenbrock_case(line_search_fn="strong_wolfe"))
    expected = uninterrupted.run(2)
    np.testing.assert_array_equal(run.run(1)["params"][-1], expected["params"][-1])  # and it carries on


def test_parameters_without_grads_count_as_zeros_and_sparse_grads_as_dense():
    w, unused = fo.Parameter(jnp.asarray([1.0, -2.0, 0.5])), fo.Parameter(jnp.ones(2))
    optimizer = fo.optim.LBFGS([w, unused], max_iter=5)

    def closure():
        optimizer.zero_grad()
        loss = fo.backward(lambda v: jnp.sum((v - 3.0) ** 2), w)
        w.grad = sparse.BCOO.fromdense(w.grad)
        return loss

    optimizer.step(closure)
    np.testing.assert_array_equal(unused.data, np.ones(2))
    assert optimizer.state[w]["d"].shape == (5,)
    np.testing.assert_allclose(w.data, [3.0, 3.0, 3.0], rtol=1e-12)


def test_save_load_continue_is_bit_identical(tmp_path):
    case = _rosenbrock_case(lr=0.5, max_iter=6, history_size=4)
    expected = WrapperRun(case).run(4)
    first = WrapperRun(case)
    first.run(2)
    fo.save(tmp_path / "lbfgs.ckpt", first.optimizer.state_dict())
    resumed = WrapperRun(case, start={"x": np.asarray(first.params["x"].data)})
    resumed.optimizer.load_state_dict(fo.load(tmp_path / "lbfgs.ckpt"))
    continued = resumed.run(2)
    np.testing.assert_array_equal(continued["params"][1:], expected["params"][3:])
    for key in (*COUNTERS, "loss"):
        np.testing.assert_array_equal(continued[key], expected[key][2:])
    for key in STATE_FIELDS:
        np.testing.assert_array_equal(continued[key], expected[key])


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda s: s.update(d=np.zeros(3)), "'d' has shape (3,), but the parameters need (2,)"),
        (lambda s: s["old_dirs"].pop(), "the lists ['old_dirs', 'old_stps', 'ro'] must have one length"),
        (lambda s: s.update(n_iter="7"), "'n_iter' must be an int"),
        (lambda s: s.update(ro=np.zeros(3)), "'ro' must be a list"),
    ],
)
def test_a_bad_state_dict_raises_and_leaves_the_optimizer_unchanged(edit, match):
    run = WrapperRun(_rosenbrock_case())
    run.run(1)
    state_dict = to_numpy(run.optimizer.state_dict())
    edit(state_dict["state"][0])
    before = to_numpy(run.optimizer.state_dict())
    with pytest.raises(ValueError, match=re.escape(match)):
        run.optimizer.load_state_dict(state_dict)
    after = to_numpy(run.optimizer.state_dict())
    assert list(after["state"][0]) == list(before["state"][0])
    np.testing.assert_array_equal(after["state"][0]["d"], before["state"][0]["d"])


def test_a_grad_of_another_dtype_or_a_bad_lr_edit_raises_and_leaves_the_step_undone():
    params = {"w": fo.Parameter(jnp.ones(2)), "z": fo.Parameter(jnp.asarray([1 + 1j, -1j]))}
    optimizer = fo.optim.LBFGS(list(params.values()), max_iter=2)
    grad_dtype = {"z": jnp.complex128}

    def closure():
        optimizer.zero_grad()
        loss = fo.backward(lambda v: jnp.sum(v["w"] ** 2) + jnp.sum(jnp.abs(v["z"]) ** 2), params)
        params["z"].grad = params["z"].grad.astype(grad_dtype["z"])
        return loss

    optimizer.step(closure)
    before = {k: np.array(p.data) for k, p in params.items()}
    n_iter = optimizer.state[params["w"]]["n_iter"]
    grad_dtype["z"] = jnp.complex64  # torch refuses such a grad when it is assigned
    match = "the grad of parameter 1 of group 0 has dtype complex64, but the parameter has dtype complex128"
    with pytest.raises(TypeError, match=re.escape(match)):
        optimizer.step(closure)
    grad_dtype["z"] = jnp.complex128
    optimizer.param_groups[0]["lr"] = -1.0
    with pytest.raises(ValueError, match=re.escape("param_groups[0]: Invalid learning rate: -1.0")):
        optimizer.step(closure)
    for k, p in params.items():
        np.testing.assert_array_equal(p.data, before[k])
    assert optimizer.state[params["w"]]["n_iter"] == n_iter
