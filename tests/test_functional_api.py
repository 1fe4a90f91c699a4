"""functional_optim.optim.functional: torch 2.15's in-place step functions, over lists of arrays.

Every algorithm of tests/algorithm_table.py that has such a function: several calls equal the
torch-style class's steps bit for bit, for every configuration of the table (the wrapper tests
hold the classes to torch), and torch's own function within the table's tolerances (live, float64
and float32). Then what the port promises beyond the numbers: the lists keep their identity and
get new entries, a loop compiles once, and every bad call raises before it changes anything.
SparseAdam runs on the embedding problem of tests/make_sparse_golden.py.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import re
from collections.abc import Callable
from typing import Any

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_optim as fo
from functional_optim.optim import functional
from functional_optim.optim.step_batches import per_tree_fields
from functional_optim.optim.torch_state import torch_fields
from tests import make_sparse_golden, problems
from tests.algorithm_table import ALGORITHMS, ALGORITHMS_BY_NAME, ERROR_CASES, PARITY_CASES, AlgorithmInfo
from tests.runner import first_of_each_algorithm, jax_kwargs, make_transform, tolerances
from tests.test_sparse_adam import TOLERANCES as SPARSE_TOLERANCES
from tests.test_sparse_adam import embedding_grads
from tests.wrapper_runs import TraceCounter

FUNCTIONS = [info for info in ALGORITHMS if info.name in functional.__all__]
DENSE_CASES = [(info, config) for info, config in PARITY_CASES if info.name in functional.__all__]
DENSE_IDS = [f"{info.name}[{info.config_id(config)}]" for info, config in DENSE_CASES]
DENSE_FUNCTIONS = [info for info in FUNCTIONS if info.configs]
SPARSE = ALGORITHMS_BY_NAME["sparse_adam"]
STEPS = 5  # calls compared bit for bit with the class
# The torch classes' arguments that the functions take as two keywords (eps only as a pair: Adafactor's).
PAIRS = {
    "betas": ("beta1", "beta2"),
    "etas": ("etaminus", "etaplus"),
    "step_sizes": ("step_size_min", "step_size_max"),
    "eps": ("eps1", "eps2"),
}
# torch 2.13 has no torch.optim.functional (2.15 has): where each function lives there, if not in
# torch.optim.<name>. Muon's is torch.optim._muon.muon and SparseAdam's torch.optim._functional.sparse_adam.
TORCH_213_MODULES = {"adafactor": "_adafactor", "muon": "_muon", "sparse_adam": "_functional"}


def torch_function(torch, name: str) -> Callable:
    if hasattr(torch.optim, "functional"):  # torch >= 2.15
        return getattr(torch.optim.functional, name)
    return getattr(importlib.import_module(f"torch.optim.{TORCH_213_MODULES.get(name, name)}"), name)


def split_pairs(values: dict[str, Any]) -> dict[str, Any]:
    """A class's arguments with its pairs (``betas``, ...) as the function's two keywords."""
    split = {}
    for key, value in values.items():
        if key in PAIRS and isinstance(value, tuple):
            split.update(zip(PAIRS[key], value))
        else:
            split[key] = value
    return split


def function_kwargs(info: AlgorithmInfo, config: dict, convert: Callable[[dict], dict] = jax_kwargs) -> dict:
    """The function's keyword arguments for a configuration of the class: the class's defaults and
    ``config``, split into the function's names; what the function does not take (Adagrad's
    ``initial_accumulator_value``, Rprop's ``lr``) shapes the initial state instead."""
    class_parameters = inspect.signature(getattr(fo.optim, info.torch_name)).parameters.values()
    defaults = {p.name: p.default for p in class_parameters if p.default is not p.empty}
    values = split_pairs({**defaults, **convert(config)})
    names = inspect.signature(getattr(functional, info.name)).parameters
    kwargs = {k: v for k, v in values.items() if k in names}
    if "has_complex" in names:  # torch's Muon works it out from the params
        kwargs.setdefault("has_complex", False)
    return kwargs


def initial_lists(info: AlgorithmInfo, config: dict, arrays: list[jax.Array]) -> dict[str, list]:
    """The state lists a torch class passes at its first step: the transform's initial state, in torch's
    layout, a list per argument; a list the options never fill is empty, a created one all None."""
    tx = make_transform(info, config)
    fields = [torch_fields(tx.init(array).inner_state, array) for array in arrays]
    lists = {}
    for arg, key in info.functional_state:
        entries = [None if arg in info.functional_created else f.get(key) for f in fields]
        unused = arg not in info.functional_created and all(entry is None for entry in entries)
        lists[arg] = [] if unused else entries
    return lists


def initial_arrays(info: AlgorithmInfo, dtype: str) -> tuple[list[str], list[jax.Array]]:
    start = problems.initial_params(info.problem)
    return list(start), [jnp.asarray(v, dtype) for v in start.values()]


def grad_function(info: AlgorithmInfo, names: list[str], dtype: str) -> Callable:
    x, y = (jnp.asarray(a, dtype) for a in problems.data())
    return jax.jit(jax.grad(lambda arrays: problems.loss(info.problem, dict(zip(names, arrays)), x, y, jnp)))


def test_every_function_has_a_row_with_its_state_lists():
    assert sorted(info.name for info in FUNCTIONS) == sorted(functional.__all__)
    assert all(info.functional_state for info in FUNCTIONS)


# -- (a) the torch-style class, bit for bit --------------------------------------------------------


# The functions run the classes' compiled step: each algorithm's first configuration in the
# default run, every one under pytest -m slow.
@pytest.mark.parametrize(("info", "config"), first_of_each_algorithm(DENSE_CASES, DENSE_IDS))
def test_calls_equal_the_classes_steps_bit_for_bit(info, config):
    names, params = initial_arrays(info, "float64")
    wrapped = [fo.Parameter(p) for p in params]
    # One group per Parameter: a function steps each Parameter alone, as the class steps a group's
    # Parameters of one step count as one tree, which XLA may fuse differently (the last bit of
    # float64 RAdam with decoupled weight decay; see functional_optim.optim.step_batches).
    optimizer = getattr(fo.optim, info.torch_name)([{"params": [p]} for p in wrapped], **jax_kwargs(config))
    lists, kwargs = initial_lists(info, config, params), function_kwargs(info, config)
    grads_at = grad_function(info, names, "float64")
    for _ in range(STEPS):
        grads = grads_at(params)
        for p, grad in zip(wrapped, grads):
            p.grad = grad
        optimizer.step()
        getattr(functional, info.name)(params, grads, *lists.values(), **kwargs)
        chex.assert_trees_all_equal(params, [p.data for p in wrapped])
    assert_state_equals_the_classes(info, lists, [optimizer.state[p] for p in wrapped])


def assert_state_equals_the_classes(info: AlgorithmInfo, lists: dict[str, list], states: list[dict]) -> None:
    """Each list's entries are the class's state under its key (None, or an empty list, where it has none)."""
    for arg, key in info.functional_state:
        if arg not in lists:
            continue
        entries = lists[arg] or [None] * len(states)
        chex.assert_trees_all_equal(entries, [state.get(key) for state in states])


@pytest.mark.parametrize(
    "config",
    [
        pytest.param(config, id=SPARSE.config_id(config), marks=() if i == 0 else pytest.mark.slow)
        for i, config in enumerate(make_sparse_golden.CONFIGS)
    ],
)
def test_sparse_adam_calls_equal_the_classes_steps_bit_for_bit(config):
    params = [jnp.asarray(v) for v in make_sparse_golden.initial_tables().values()]
    wrapped = [fo.Parameter(p) for p in params]
    optimizer = fo.optim.SparseAdam(wrapped, **jax_kwargs(config))
    exp_avgs, exp_avg_sqs, steps = [jnp.zeros_like(p) for p in params], [jnp.zeros_like(p) for p in params], [0, 0]
    for t in range(STEPS):
        grads = sparse_grads(params, t)
        for p, grad in zip(wrapped, grads):
            p.grad = grad
        optimizer.step()
        steps = [step + 1 for step in steps]  # the caller counts, as torch's SparseAdam
        functional.sparse_adam(params, grads, exp_avgs, exp_avg_sqs, steps, **function_kwargs(SPARSE, config))
        chex.assert_trees_all_equal(params, [p.data for p in wrapped])
    states = [optimizer.state[p] for p in wrapped]
    assert_state_equals_the_classes(SPARSE, {"exp_avgs": exp_avgs, "exp_avg_sqs": exp_avg_sqs}, states)
    assert steps == [state["step"] for state in states] == [STEPS, STEPS]


def sparse_grads(params: list[jax.Array], step: int) -> list[Any]:
    return list(embedding_grads(dict(zip(make_sparse_golden.initial_tables(), params)), step).values())


# -- (b) torch's own functions, live ---------------------------------------------------------------


@pytest.mark.parametrize("name", functional.__all__)
def test_live_signature_is_torchs(name, torch):
    def described(function):
        return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]

    assert described(getattr(functional, name)) == described(torch_function(torch, name))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(("info", "config"), DENSE_CASES, ids=DENSE_IDS)
def test_live_trajectory_matches_torchs_function(info, config, dtype, torch):
    from tests.torch_reference import torch_kwargs

    names, params = initial_arrays(info, dtype)
    lists = initial_lists(info, config, params)
    torch_lists = {arg: [None if e is None else torch.tensor(np.asarray(e)) for e in v] for arg, v in lists.items()}
    torch_params = [torch.tensor(np.asarray(p), requires_grad=True) for p in params]
    x, y = (torch.tensor(a, dtype=getattr(torch, dtype)) for a in problems.data())
    grads_at = grad_function(info, names, dtype)
    kwargs, their_kwargs = function_kwargs(info, config), function_kwargs(info, config, torch_kwargs)
    ours, theirs = [[np.array(p) for p in params]], [[p.detach().numpy().copy() for p in torch_params]]
    for _ in range(info.steps):
        getattr(functional, info.name)(params, grads_at(params), *lists.values(), **kwargs)
        loss = problems.loss(info.problem, dict(zip(names, torch_params)), x, y, torch)
        torch_grads = list(torch.autograd.grad(loss, torch_params))
        with torch.no_grad():
            torch_function(torch, info.name)(torch_params, torch_grads, *torch_lists.values(), **their_kwargs)
        ours.append([np.array(p) for p in params])  # a copy: the next call donates the buffer
        theirs.append([p.detach().numpy().copy() for p in torch_params])
    chex.assert_trees_all_close(ours, theirs, **tolerances(info, dtype))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("config", make_sparse_golden.CONFIGS, ids=SPARSE.config_id)
def test_live_sparse_adam_matches_torchs_function(config, dtype, torch):
    from tests.torch_reference import torch_kwargs

    params = [jnp.asarray(v, dtype) for v in make_sparse_golden.initial_tables().values()]
    torch_params = [torch.tensor(np.asarray(p)) for p in params]
    exp_avgs, exp_avg_sqs = [jnp.zeros_like(p) for p in params], [jnp.zeros_like(p) for p in params]
    torch_exp_avgs, torch_exp_avg_sqs = (
        [torch.zeros_like(p) for p in torch_params],
        [torch.zeros_like(p) for p in torch_params],
    )
    for t in range(make_sparse_golden.STEPS):
        grads = sparse_grads(params, t)  # the same gradients on both sides
        torch_grads = [
            torch.sparse_coo_tensor(
                torch.tensor(np.asarray(g.indices).T), torch.tensor(np.asarray(g.data)), g.shape, check_invariants=True
            )
            for g in grads
        ]
        functional.sparse_adam(params, grads, exp_avgs, exp_avg_sqs, [t + 1] * 2, **function_kwargs(SPARSE, config))
        torch_function(torch, "sparse_adam")(
            torch_params,
            torch_grads,
            torch_exp_avgs,
            torch_exp_avg_sqs,
            [t + 1] * 2,
            **function_kwargs(SPARSE, config, torch_kwargs),
        )
        tolerance = SPARSE_TOLERANCES[dtype]
        chex.assert_trees_all_close(params, [p.numpy() for p in torch_params], rtol=tolerance, atol=tolerance)


# -- (c) in place, compiled once, checked before anything changes ---------------------------------


@dataclasses.dataclass
class Call:
    """A good call of ``info``'s function, on its problem's first step; a test may edit it before running it."""

    info: AlgorithmInfo
    params: list
    grads: list
    lists: dict[str, list]
    kwargs: dict[str, Any]

    def __call__(self) -> Any:
        return getattr(functional, self.info.name)(self.params, self.grads, *self.lists.values(), **self.kwargs)

    def snapshot(self) -> list[tuple[Any, list]]:
        """Every list the call may change with its entries, and every Parameter with its data."""
        lists = [self.params, self.grads, *self.lists.values()]
        parameters = [(p, [p.data]) for p in self.params if isinstance(p, fo.Parameter)]
        return [(lst, list(lst)) for lst in lists] + parameters


def make_call(info: AlgorithmInfo, config: dict | None = None) -> Call:
    config = {} if config is None else config
    if info is SPARSE:
        params = [jnp.asarray(v) for v in make_sparse_golden.initial_tables().values()]
        lists = {
            "exp_avgs": [jnp.zeros_like(p) for p in params],
            "exp_avg_sqs": [jnp.zeros_like(p) for p in params],
            "state_steps": [1, 1],  # this update's number, counted by the caller
        }
        return Call(info, params, sparse_grads(params, 0), lists, function_kwargs(info, config))
    names, params = initial_arrays(info, "float64")
    grads = grad_function(info, names, "float64")(params)
    return Call(info, params, grads, initial_lists(info, config, params), function_kwargs(info, config))


def assert_untouched(snapshot: list[tuple[Any, list]]) -> None:
    for container, entries in snapshot:
        now = [container.data] if isinstance(container, fo.Parameter) else list(container)
        assert len(now) == len(entries) and all(a is b for a, b in zip(now, entries))
        assert not any(isinstance(entry, jax.Array) and entry.is_deleted() for entry in entries)


@pytest.mark.parametrize("info", FUNCTIONS, ids=lambda info: info.name)
def test_a_call_replaces_the_entries_of_its_lists(info):
    call = make_call(info)
    call.params[0] = fo.Parameter(call.params[0])
    (params, old_params), (grads, old_grads), *states, (parameter, (old_data,)) = call.snapshot()
    assert call() is None
    assert parameter is params[0] and parameter.data is not old_data and old_data.is_deleted()
    for new, old in zip(params[1:], old_params[1:]):
        assert new is not old and old.is_deleted() and (new.shape, new.dtype) == (old.shape, old.dtype)
    assert_untouched([(grads, old_grads)])  # read only
    per_tree_keys = per_tree_fields(getattr(fo, info.name)())  # numbers kept once per tree: never donated
    per_tree_lists = [arg for arg, key in info.functional_state if key in per_tree_keys]
    for list_name, (entries, old_entries) in zip(call.lists, states):
        for new, old in zip(entries, old_entries):
            if isinstance(old, jax.Array):  # replaced, the old buffer donated (a per-leaf array's)
                assert new is not old and (new.shape, new.dtype) == (old.shape, old.dtype)
                assert old.is_deleted() == (list_name not in per_tree_lists)
            else:  # a None the options do not read, or SparseAdam's int step (the caller's count)
                assert new is old


def test_sgd_creates_a_none_buffer_from_the_first_gradient():
    call = make_call(ALGORITHMS_BY_NAME["sgd"], {"momentum": 0.9, "dampening": 0.5})
    buffers = call.lists["momentum_buffer_list"]
    assert buffers == [None] * len(call.params)
    call()
    chex.assert_trees_all_equal(buffers, call.grads)  # torch: buf = clone(grad), no dampening yet
    first = list(buffers)
    call()
    assert all(new is not old and old.is_deleted() for new, old in zip(buffers, first))


@pytest.mark.parametrize(
    ("name", "config", "unread"),
    [
        ("adam", {}, "max_exp_avg_sqs"),
        ("rmsprop", {}, "grad_avgs"),
        ("rmsprop", {}, "momentum_buffer_list"),
        ("sgd", {}, "momentum_buffer_list"),
    ],
)
def test_a_list_the_options_do_not_read_is_left_alone(name, config, unread):
    call = make_call(ALGORITHMS_BY_NAME[name], config)
    call.lists[unread] = [jnp.zeros_like(p) for p in call.params]
    entries = list(call.lists[unread])
    call()
    assert_untouched([(call.lists[unread], entries)])


def test_aliased_arrays_step_as_distinct_ones():
    """JAX arrays are values: one zeros array may stand for several buffers, and a grad may be its param."""
    adam = ALGORITHMS_BY_NAME["adam"]
    aliased, distinct = make_call(adam), make_call(adam)
    aliased.lists["exp_avg_sqs"] = list(aliased.lists["exp_avgs"])
    aliased.grads = aliased.params
    distinct.grads = [jnp.copy(p) for p in distinct.params]
    aliased()
    distinct()
    chex.assert_trees_all_equal(aliased.params, distinct.params)
    chex.assert_trees_all_equal(aliased.lists, distinct.lists)


# The adapter treats complex parameters alike for every function: the default run tries one that
# steps them and one that refuses them; every function under pytest -m slow (each algorithm's complex
# steps are compared with torch's in tests/test_wrapper_api.py's live tests).
@pytest.mark.parametrize(
    "info",
    [
        pytest.param(info, id=info.name, marks=() if info.name in ("adam", "adafactor") else pytest.mark.slow)
        for info in DENSE_FUNCTIONS
    ],
)
def test_complex_parameters_step_as_the_class_or_raise_before_anything_changes(info):
    rng = np.random.default_rng(0)
    _, real = initial_arrays(info, "float64")
    params = [p + 1j * jnp.asarray(rng.normal(size=p.shape)) for p in real]
    grads = [jnp.asarray(rng.normal(size=p.shape) + 1j * rng.normal(size=p.shape)) for p in params]
    if info.name in ("adafactor", "muon"):  # torch rejects complex parameters
        call = Call(info, params, grads, initial_lists(info, {}, real), function_kwargs(info, {}))
        snapshot = call.snapshot()
        with pytest.raises(TypeError, match="does not support complex parameters"):
            call()
        assert_untouched(snapshot)
        return
    wrapped = [fo.Parameter(p) for p in params]
    optimizer = getattr(fo.optim, info.torch_name)(wrapped)
    call = Call(info, params, grads, initial_lists(info, {}, params), function_kwargs(info, {}))
    for _ in range(3):
        for p, grad in zip(wrapped, grads):
            p.grad = grad
        optimizer.step()
        call()
    chex.assert_trees_all_equal(params, [p.data for p in wrapped])
    assert_state_equals_the_classes(info, call.lists, [optimizer.state[p] for p in wrapped])


def unique_call(info: AlgorithmInfo, rows: int) -> Call:
    """A call on shapes no other test steps, so that a step compiled before cannot hide this one's traces
    (weakly typed arrays, as ``jnp.full`` makes them: the step must not trace again for its outputs)."""
    params = [jnp.full((rows, 7), 0.5), jnp.full((7, rows), -0.5)]
    grads = [jnp.full_like(p, 0.1) for p in params]
    return Call(info, params, grads, initial_lists(info, {}, params), function_kwargs(info, {}))


@pytest.mark.parametrize("info", DENSE_FUNCTIONS, ids=lambda info: info.name)
def test_a_loop_with_a_changing_hyperparameter_compiles_once(info, monkeypatch):
    traces = TraceCounter(monkeypatch)
    call = unique_call(info, rows=5)
    varied = "lr" if "lr" in call.kwargs else "etaplus"  # Rprop's lr only fills its initial step sizes
    start = call.kwargs[varied]
    for k in range(100):
        call.kwargs[varied] = start * (1 + 1e-3 * k)
        call.grads = [g * 0.99 for g in call.grads]
        call()
    assert traces.count == 1


def test_adam_compiles_again_only_for_what_a_step_bakes_in(monkeypatch):
    traces = TraceCounter(monkeypatch)
    call = unique_call(ALGORITHMS_BY_NAME["adam"], rows=6)
    call.kwargs.update(weight_decay=0.1)
    for k in range(100):
        call.kwargs.update(lr=1e-3 * 0.99**k, beta1=0.9 - 1e-3 * k, beta2=0.999 - 1e-4 * k, eps=1e-8 * (k + 1))
        call()
    assert traces.count == 1
    call.kwargs.update(weight_decay=0.0)  # torch skips the decay at 0: another program
    call()
    call.kwargs.update(amsgrad=True)
    call.lists["max_exp_avg_sqs"] = [jnp.zeros_like(p) for p in call.params]
    call()
    assert traces.count == 3


def _set_entry(arg: str, index: int, value: Callable[[Call], Any]) -> Callable[[Call], None]:
    def edit(call: Call) -> None:
        (call.grads if arg == "grads" else call.params if arg == "params" else call.lists[arg])[index] = value(call)

    return edit


def _twice(call: Call) -> None:
    parameter = fo.Parameter(call.params[0])
    call.params[0] = call.params[1] = parameter


def _vector_grad(call: Call) -> None:
    call.params[0], call.grads[0], call.lists["muon_momentum_bufs"][0] = jnp.zeros(4), jnp.ones(4), jnp.zeros(4)


# (function, what is wrong, the edit of a good call, error, the start of its message)
BAD_CALLS = [
    ("adam", "floats-as-steps", lambda c: c.lists.update(state_steps=[0.0] * 3), RuntimeError,
     "API has changed, `state_steps` argument must contain a list of singleton tensors"),
    ("nadam", "floats-as-mu_products", lambda c: c.lists.update(mu_products=[1.0] * 3), RuntimeError,
     "API has changed, `mu_products` argument must contain a list of singleton tensors"),
    ("adafactor", "floats-as-steps", lambda c: c.lists.update(state_steps=[0.0] * 3), RuntimeError,
     "`state_steps` argument must contain a list of singleton tensors"),
    ("adam", "a-short-state-list", lambda c: c.lists["exp_avgs"].pop(), ValueError,
     "adam: exp_avgs has 2 entries, but params has 3"),
    ("adam", "a-short-grads-list", lambda c: c.grads.pop(), ValueError,
     "adam: grads must be a list of one grad per parameter (3), but got 2 entries"),
    ("sgd", "a-grad-of-another-shape", _set_entry("grads", 1, lambda c: jnp.zeros(4)), ValueError,
     "sgd: d_p_list[1] has shape (4,), but the parameter has shape (3,)"),
    ("adam", "a-grad-of-another-dtype", _set_entry("grads", 0, lambda c: c.grads[0].astype(jnp.float32)), TypeError,
     "adam: grads[0] has dtype float32, but the parameter has dtype float64"),
    ("adam", "a-state-of-another-shape", _set_entry("exp_avg_sqs", 2, lambda c: jnp.zeros(2)), ValueError,
     "adam: exp_avg_sqs[2] has shape (2,), but params[2] needs a 'exp_avg_sq' of shape ()"),
    ("adam", "a-step-of-another-dtype", _set_entry("state_steps", 0, lambda c: jnp.zeros(())), TypeError,
     "adam: state_steps[0] has dtype float64, but adam keeps the 'step' of params[0] in float32"),
    ("adam", "a-none-for-kept-state", _set_entry("exp_avgs", 1, lambda c: None), ValueError,
     "adam: exp_avgs[1] is None, but these options keep a 'exp_avg' for params[1]"),
    ("adam", "amsgrad-without-its-list", lambda c: c.kwargs.update(amsgrad=True), ValueError,
     "adam: max_exp_avg_sqs is empty, but these options keep a 'max_exp_avg_sq' for every parameter"),
    ("asgd", "a-number-for-a-state-array", _set_entry("etas", 0, lambda c: 0.01), TypeError,
     "asgd: etas[0] must be a jax array, but it is a builtins.float"),
    ("adam", "params-as-a-tuple", lambda c: setattr(c, "params", tuple(c.params)), TypeError,
     "adam: params must be a list (its entries are replaced), but it is a tuple"),
    ("adam", "a-numpy-param", _set_entry("params", 1, lambda c: np.asarray(c.params[1])), TypeError,
     "adam: params[1] must be a jax array or a functional_optim.Parameter, but it is a numpy.ndarray"),
    ("adam", "a-parameter-twice", _twice, ValueError, "adam: params[0] and params[1] are the same Parameter"),
    ("adam", "foreach", lambda c: c.kwargs.update(foreach=True), ValueError, "adam: foreach=True is not supported"),
    ("sgd", "fused", lambda c: c.kwargs.update(fused=True), ValueError, "sgd: fused=True is not supported"),
    ("rmsprop", "capturable", lambda c: c.kwargs.update(capturable=True), ValueError,
     "rmsprop: capturable=True is not supported"),
    ("adadelta", "differentiable", lambda c: c.kwargs.update(differentiable=True), ValueError,
     "adadelta: differentiable=True is not supported"),
    ("adam", "grad_scale", lambda c: c.kwargs.update(grad_scale=jnp.ones(())), AssertionError,
     "Expected grad_scale and found_inf to be None"),
    ("adafactor", "found_inf", lambda c: c.kwargs.update(found_inf=jnp.zeros(())), AssertionError,
     "Grad scaling should occur outside of optimizer.step()"),
    ("muon", "foreach", lambda c: c.kwargs.update(foreach=True), RuntimeError, "Foreach is not supported for Muon yet"),
    ("muon", "has_complex", lambda c: c.kwargs.update(has_complex=True), ValueError,
     "Complex parameters are not supported"),
    ("muon", "a-vector-grad", _vector_grad, ValueError, "Param gradient must be a 2D matrix"),
    ("sparse_adam", "a-dense-grad", _set_entry("grads", 0, lambda c: c.grads[0].todense()), RuntimeError,
     "SparseAdam does not support dense gradients"),
    ("sparse_adam", "a-step-before-counting", lambda c: c.lists.update(state_steps=[0, 0]), TypeError,
     "sparse_adam: state_steps[0] must be this update's number, a Python int >= 1"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "edit", "error", "message"),
    [case[:1] + case[2:] for case in BAD_CALLS],
    ids=[f"{name}-{what}" for name, what, *_ in BAD_CALLS],
)
def test_a_bad_call_raises_and_leaves_every_list_as_it_was(name, edit, error, message):
    call = make_call(ALGORITHMS_BY_NAME[name])
    edit(call)
    snapshot = call.snapshot()
    with pytest.raises(error, match="^" + re.escape(message)):
        call()
    assert_untouched(snapshot)


def _takes(info: AlgorithmInfo, kwargs: dict) -> bool:
    return set(split_pairs(kwargs)) <= set(inspect.signature(getattr(functional, info.name)).parameters)


# The table's bad hyperparameters that are arguments of the function (not Adagrad's
# initial_accumulator_value, nor Rprop's lr: they only shape the initial state).
HYPERPARAMETER_ERRORS = [
    (info, error) for info, error in ERROR_CASES if info in FUNCTIONS and _takes(info, error.kwargs)
]


# The classes' checks, whose messages tests/test_validation.py holds for every case: each
# algorithm's first here, every one under pytest -m slow.
@pytest.mark.parametrize(
    ("info", "error"),
    first_of_each_algorithm(
        HYPERPARAMETER_ERRORS, [f"{info.name}[{info.config_id(error.kwargs)}]" for info, error in HYPERPARAMETER_ERRORS]
    ),
)
def test_a_bad_hyperparameter_raises_the_classes_error_and_leaves_the_lists(info, error):
    call = make_call(info)
    call.kwargs.update(split_pairs(jax_kwargs(error.kwargs)))
    snapshot = call.snapshot()
    with pytest.raises(error.error, match=re.escape(error.match)):
        call()
    assert_untouched(snapshot)
