"""fo.lbfgs follows torch.optim.LBFGS step for step: iterates, returned loss, func_evals, n_iter, state.

The cases (problems x configurations x dtypes) are in tests/make_lbfgs_golden.py, which also
writes the committed goldens (tests/golden/lbfgs.npz); tests named ``live`` run torch itself.
"""

from __future__ import annotations

import functools
import re

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from absl.testing import parameterized

import functional_optim as fo
from functional_optim.algorithms.lbfgs import flatten_vectors, unflatten_vectors
from tests.algorithm_table import TorchTensor
from tests.make_lbfgs_golden import CASES, GOLDEN_PATH, PROBLEMS, Case

TOLERANCE = {"float64": 1e-10, "float32": 1e-5}
# The state holds differences of nearly equal gradients (y = g - g_prev) and their inverse dot
# products (ro), which magnify the last-bit differences of the iterates; measured over CASES in
# float64: at most 6e-8 relative to each field's largest entry. float32 states are compared in
# shape only (their ro differ by up to 1e-2 near convergence, where y.s is rounding noise).
STATE_TOLERANCE = 1e-6
STATE_FIELDS = ("d", "t", "old_dirs", "old_stps", "ro", "H_diag", "prev_flat_grad", "prev_loss")
# Also run without jit (each eager step compiles its loops again, so only a few cases).
EAGER_CASES = [
    case
    for case in CASES
    if case.name
    in (
        "rosenbrock2[default]-float64-1steps",
        "mlp[line_search_fn=strong_wolfe,lr=0.8,tolerance_change=0.0001,max_iter=12]-float32-1steps",
    )
]


def _array(value: np.ndarray, dtype: str) -> jax.Array:
    if np.iscomplexobj(value):
        return jnp.asarray(value, jnp.complex128 if dtype == "float64" else jnp.complex64)
    return jnp.asarray(value, dtype)


def _flat(params) -> np.ndarray:
    """The params as torch's LBFGS sees them: leaves in order, complex ones as their real view."""
    leaves = [np.asarray(p) for p in jax.tree.leaves(params)]
    return np.concatenate([np.stack([p.real, p.imag], -1).ravel() if np.iscomplexobj(p) else p.ravel() for p in leaves])


def jax_run(case: Case, wrap=jax.jit) -> dict[str, np.ndarray]:
    """fo.lbfgs's run in the layout of ``make_lbfgs_golden.torch_run``; ``wrap`` wraps the step."""
    spec = PROBLEMS[case.problem]
    params = {k: _array(v, case.dtype) for k, v in spec.params().items()}
    data = [_array(a, case.dtype) for a in spec.data()]
    kwargs = {k: jnp.asarray(v.value, jnp.float32) if isinstance(v, TorchTensor) else v for k, v in case.config.items()}
    tx = fo.lbfgs(**kwargs)

    def loss_fn(params, *data):
        return spec.loss(params, *data, jnp)

    def step(state, params, *data):
        return tx.step(loss_fn, state, params, *data)

    step = wrap(step)
    state = tx.init(params)
    run = {"params": [_flat(params)], "loss": [], "func_evals": [], "n_iter": []}
    for _ in range(case.steps):
        params, state, loss = step(state, params, *data)
        run["params"].append(_flat(params))
        run["loss"].append(float(loss))
        run["func_evals"].append(int(state.inner_state.func_evals))
        run["n_iter"].append(int(state.inner_state.n_iter))
    run = {k: np.asarray(v) for k, v in run.items()}
    inner = state.inner_state
    run.update(zip(("old_dirs", "old_stps", "ro"), (np.asarray(v) for v in inner.history())))
    run.update({k: np.asarray(getattr(inner, k)) for k in ("t", "H_diag", "prev_loss")})
    run.update({k: np.asarray(flatten_vectors(getattr(inner, k))) for k in ("d", "prev_flat_grad")})
    return run


def assert_run_matches(ours: dict[str, np.ndarray], expected: dict[str, np.ndarray], dtype: str) -> None:
    """Counters exactly; params and losses to TOLERANCE; the final state to STATE_TOLERANCE (float64)."""
    for field in ("func_evals", "n_iter"):
        np.testing.assert_array_equal(ours[field], expected[field], err_msg=field)
    for field in ("params", "loss"):
        tolerance = TOLERANCE[dtype]
        np.testing.assert_allclose(ours[field], expected[field], rtol=tolerance, atol=tolerance, err_msg=field)
    for field in STATE_FIELDS:
        assert ours[field].shape == expected[field].shape, (field, ours[field].shape, expected[field].shape)
        if dtype == "float64":
            scale = STATE_TOLERANCE * max(np.max(np.abs(expected[field]), initial=0), 1)
            np.testing.assert_allclose(ours[field], expected[field], rtol=STATE_TOLERANCE, atol=scale, err_msg=field)


_GOLDEN: dict[str, np.ndarray] = {}


def golden(case: Case) -> dict[str, np.ndarray]:
    if not _GOLDEN:
        with np.load(GOLDEN_PATH) as data:
            _GOLDEN.update(data)
    prefix = f"{case.name}|"
    return {k[len(prefix) :]: v for k, v in _GOLDEN.items() if k.startswith(prefix)}


def _named(cases: list[Case]) -> list[dict]:
    return [{"testcase_name": re.sub(r"[^0-9A-Za-z_.=,\[\]-]", "_", case.name), "case": case} for case in cases]


@pytest.mark.slow  # every golden case, jitted; the default run checks EAGER_CASES and the wrapper's picks
class GoldenTest(chex.TestCase):
    @chex.variants(with_jit=True)
    @parameterized.named_parameters(*_named(list(CASES)))
    def test_run_matches_torch(self, case):
        assert_run_matches(jax_run(case, wrap=self.variant), golden(case), case.dtype)

    @chex.variants(without_jit=True)
    @parameterized.named_parameters(*_named(EAGER_CASES))
    def test_run_matches_torch_eagerly(self, case):
        assert_run_matches(jax_run(case, wrap=self.variant), golden(case), case.dtype)


NO_TORCH = "torch is not installed: the golden tests cover parity without it"


# A run whose first step goes through MKL's CPU-specific code paths (float32 sgemm and tanh).
FINGERPRINT_CASE = "mlp[lr=0.5,max_iter=6,history_size=4]-float32-1steps"


@functools.cache
def torch_rounds_as_where_the_goldens_were_written() -> bool:
    """Whether torch reproduces the goldens' first step of :data:`FINGERPRINT_CASE` bit for bit on this CPU.

    torch's CPU kernels (MKL's above all) take different code paths on different CPUs and round
    differently, and L-BFGS's line search amplifies a last-bit difference into another
    trajectory (float32 runs then differ by O(1)); comparing torch with itself is only
    meaningful on a CPU of the kind the goldens were written on.
    """
    from tests.make_lbfgs_golden import torch_run

    case = next(case for case in CASES if case.name == FINGERPRINT_CASE)
    return np.array_equal(torch_run(case)["params"][1], golden(case)["params"][1])


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_live_goldens_are_torchs_current_numbers(case):
    pytest.importorskip("torch", reason=NO_TORCH)
    from tests.make_lbfgs_golden import torch_run

    if not torch_rounds_as_where_the_goldens_were_written():
        pytest.skip(
            f"torch on this CPU rounds {FINGERPRINT_CASE}'s first step differently from where the goldens were "
            "written (MKL's CPU-specific paths); L-BFGS amplifies that, so the goldens cannot be checked here"
        )
    expected, stored = torch_run(case), golden(case)
    assert sorted(expected) == sorted(stored)
    for field, values in expected.items():
        np.testing.assert_allclose(stored[field], values, rtol=1e-12, atol=1e-12, err_msg=field)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_live_run_matches_torch(dtype):
    pytest.importorskip("torch", reason=NO_TORCH)
    from tests.make_lbfgs_golden import torch_run

    case = Case("mlp", {"line_search_fn": "strong_wolfe", "tolerance_change": 1e-4, "max_iter": 12}, dtype, steps=4)
    assert_run_matches(jax_run(case), torch_run(case), dtype)


def _logistic_problem():
    spec = PROBLEMS["logistic"]
    params = {k: jnp.asarray(v) for k, v in spec.params().items()}
    return params, [jnp.asarray(a) for a in spec.data()], lambda params, *data: spec.loss(params, *data, jnp)


def test_jitted_step_compiles_once_for_a_run():
    params, data, loss_fn = _logistic_problem()
    tx = fo.lbfgs(line_search_fn="strong_wolfe", max_iter=4, history_size=3, tolerance_change=0.0)
    traces = []

    def step(state, params, *data):
        traces.append(None)
        return tx.step(loss_fn, state, params, *data)

    step = jax.jit(step)
    state = tx.init(params)
    for i in range(8):
        params, state, _ = step(state, params, *data)
        if i == 3:  # a new lr (a traced hyperparameter) does not retrace either
            state = fo.set_hyperparams(state, lr=0.5)
    assert int(state.inner_state.n_iter) > 8  # several iterations per step, the memory ring wrapped
    assert len(traces) == 1
    assert step._cache_size() == 1


def test_step_jitted_with_a_static_loss_fn_compiles_once():
    params, data, loss_fn = _logistic_problem()
    tx = fo.lbfgs(max_iter=3)
    step = jax.jit(tx.step, static_argnums=0)
    state = tx.init(params)
    for _ in range(4):
        params, state, _ = step(loss_fn, state, params, *data)
    assert step._cache_size() == 1


def test_step_returns_the_loss_at_the_incoming_params():
    params, data, loss_fn = _logistic_problem()
    tx = fo.lbfgs()
    new_params, _, loss = tx.step(loss_fn, tx.init(params), params, *data)
    assert float(loss) == float(loss_fn(params, *data))
    assert float(loss_fn(new_params, *data)) < float(loss)


def _three_steps(entry, tx, params, data, loss_fn):
    """Params after three jitted L-BFGS steps taken through ``entry(tx, state, params)``."""
    step = jax.jit(lambda state, params: entry(tx, state, params))
    state = tx.init(params)
    for _ in range(3):
        params, state = step(state, params)
    return params


def _objective(loss_fn, params, data):
    value, grads = jax.value_and_grad(loss_fn)(params, *data)
    return {"value": value, "value_fn": lambda p: loss_fn(p, *data)}, grads


# Without a line search in the default run (it compiles in a fraction of the time; the objective
# is evaluated again all the same); strong Wolfe under pytest -m slow.
@pytest.mark.parametrize("line_search_fn", [None, pytest.param("strong_wolfe", marks=pytest.mark.slow)])
def test_update_and_apply_gradients_are_the_step(line_search_fn):
    params, data, loss_fn = _logistic_problem()
    tx = fo.lbfgs(line_search_fn=line_search_fn, max_iter=5, history_size=3)

    def by_step(tx, state, params):
        return tx.step(loss_fn, state, params, *data)[:2]

    def by_apply_gradients(tx, state, params):
        objective, grads = _objective(loss_fn, params, data)
        return fo.apply_gradients(tx, grads, state, params, **objective)

    def by_update(tx, state, params):
        objective, grads = _objective(loss_fn, params, data)
        updates, state = tx.update(grads, state, params, **objective)
        return fo.apply_updates(params, updates), state

    expected = _three_steps(by_step, tx, params, data, loss_fn)
    chex.assert_trees_all_equal(_three_steps(by_apply_gradients, tx, params, data, loss_fn), expected)
    chex.assert_trees_all_close(_three_steps(by_update, tx, params, data, loss_fn), expected, rtol=1e-12)


@pytest.mark.parametrize(
    "chain",
    [
        pytest.param(fo.chain, id="fo.chain"),
        # optax.chain hands keyword arguments only to its own GradientTransformationExtraArgs.
        pytest.param(lambda tx: optax.chain(optax.GradientTransformationExtraArgs(*tx)), id="optax.chain"),
    ],
)
def test_in_a_chain_the_objective_is_forwarded(chain):
    params, data, loss_fn = _logistic_problem()
    tx = fo.lbfgs(max_iter=5)  # evaluates the forwarded objective at every iteration but the last

    def by_chain(chained, state, params):
        objective, grads = _objective(loss_fn, params, data)
        updates, state = chained.update(grads, state, params, **objective)
        return optax.apply_updates(params, updates), state

    def by_step(tx, state, params):
        return tx.step(loss_fn, state, params, *data)[:2]

    chex.assert_trees_all_close(
        _three_steps(by_chain, chain(tx), params, data, loss_fn),
        _three_steps(by_step, tx, params, data, loss_fn),
        rtol=1e-12,
    )


def test_zero1_forwards_the_objective():
    params, data, loss_fn = _logistic_problem()
    mesh = jax.make_mesh((1,), ("data",))
    tx = fo.lbfgs(max_iter=4)

    def by_update(tx, state, params):
        objective, grads = _objective(loss_fn, params, data)
        updates, state = tx.update(grads, state, params, **objective)
        return fo.apply_updates(params, updates), state

    chex.assert_trees_all_close(
        _three_steps(by_update, fo.zero1(tx, mesh), params, data, loss_fn),
        _three_steps(by_update, tx, params, data, loss_fn),
        rtol=1e-12,
    )


# Without a line search in the default run (it compiles in a fraction of the time; the objective
# is evaluated again all the same); strong Wolfe under pytest -m slow.
@pytest.mark.parametrize("line_search_fn", [None, pytest.param("strong_wolfe", marks=pytest.mark.slow)])
def test_maximize_steps_as_minimising_the_negation(line_search_fn):
    # torch 2.15's maximize negates every loss and gradient the step sees: maximising -f takes
    # the iterates of minimising f (torch 2.13 has no maximize; this is its check). Equal to
    # rounding: XLA fuses the extra negations into the two compiled programs differently.
    params, data, loss_fn = _logistic_problem()

    def negated(params, *data):
        return -loss_fn(params, *data)

    def run(tx, objective):
        step = jax.jit(tx.step, static_argnums=0)
        state, p, losses = tx.init(params), params, []
        for _ in range(3):
            p, state, loss = step(objective, state, p, *data)
            losses.append(loss)
        return p, state, jnp.stack(losses)

    kwargs = {"line_search_fn": line_search_fn, "max_iter": 5}
    maximized = run(fo.lbfgs(**kwargs, maximize=True), negated)
    minimized = run(fo.lbfgs(**kwargs), loss_fn)
    chex.assert_trees_all_close(maximized[0], minimized[0], rtol=TOLERANCE["float64"], atol=0)
    np.testing.assert_allclose(maximized[2], -minimized[2], rtol=TOLERANCE["float64"])  # f's own value
    np.testing.assert_array_equal(maximized[1].inner_state.n_iter, minimized[1].inner_state.n_iter)


def test_update_without_the_objective_says_what_it_needs():
    params, data, loss_fn = _logistic_problem()
    tx = fo.lbfgs()
    grads = jax.grad(loss_fn)(params, *data)
    with pytest.raises(TypeError, match=r"LBFGS: update needs the keyword arguments value= .*, value_fn="):
        tx.update(grads, tx.init(params), params)


def test_state_fields_are_torchs_state_keys_in_order():
    torch_keys = ("func_evals", "n_iter", "al", "d", "t", "old_dirs", "old_stps", "ro", "H_diag")
    assert fo.LBFGSState._fields[: len(torch_keys) + 2] == (*torch_keys, "prev_flat_grad", "prev_loss")


def test_state_vectors_are_trees_like_the_params_in_torchs_flat_dtype():
    # No flat vector is ever built in a step (a sharded leaf keeps its sharding); the state's
    # vectors are the params' real views in their promoted dtype, as torch's flat vector.
    params = {"w": jnp.ones((2, 3), jnp.float32), "z": jnp.asarray([1 + 2j, 3 - 1j], jnp.complex128)}
    tx = fo.lbfgs(history_size=4, max_iter=3)
    _, state, _ = tx.step(lambda p: jnp.sum(p["w"] ** 2) + jnp.sum(jnp.abs(p["z"]) ** 2), tx.init(params), params)
    inner = state.inner_state
    shapes = {"w": (2, 3), "z": (2, 2)}
    for field in (inner.d, inner.prev_flat_grad):
        assert {k: (v.shape, v.dtype) for k, v in field.items()} == {k: (s, jnp.float64) for k, s in shapes.items()}
    assert {k: v.shape for k, v in inner.old_dirs.items()} == {k: (4, *s) for k, s in shapes.items()}
    flat = flatten_vectors(inner.d)
    np.testing.assert_array_equal(flat[:6], np.ravel(inner.d["w"]))
    np.testing.assert_array_equal(flat[6:], np.ravel(inner.d["z"]))  # real, imag interleaved
    chex.assert_trees_all_equal(unflatten_vectors(flat, params), inner.d)
    rings = flatten_vectors(inner.old_stps, 1)
    assert rings.shape == (4, 10)
    chex.assert_trees_all_equal(unflatten_vectors(rings, params), inner.old_stps)


def test_empty_params_raise_torchs_error():
    with pytest.raises(ValueError, match="optimizer got an empty parameter list"):
        fo.lbfgs().init({})


def test_live_state_keys_are_torchs():
    torch = pytest.importorskip("torch", reason=NO_TORCH)

    param = torch.tensor([1.0, -2.0], requires_grad=True)
    optimizer = torch.optim.LBFGS([param], max_iter=3)

    def closure():
        optimizer.zero_grad()
        loss = (param**4).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    assert tuple(optimizer.state[param]) == fo.LBFGSState._fields[: len(optimizer.state[param])]


ERRORS = [
    ({"lr": -0.01}, ValueError, "Invalid learning rate: -0.01"),
    ({"lr": TorchTensor((1e-3, 1e-3))}, ValueError, "Tensor lr must be 1-element"),
    ({"line_search_fn": "armijo"}, RuntimeError, "only 'strong_wolfe' is supported"),
]


def _kwargs(kwargs: dict, make_tensor) -> dict:
    return {k: make_tensor(v.value) if isinstance(v, TorchTensor) else v for k, v in kwargs.items()}


@pytest.mark.parametrize(("kwargs", "error", "match"), ERRORS, ids=[str(e[0]) for e in ERRORS])
def test_invalid_argument_raises_torchs_error(kwargs, error, match):
    with pytest.raises(error, match=re.escape(match)):
        fo.lbfgs(**_kwargs(kwargs, jnp.asarray))


@pytest.mark.parametrize(("kwargs", "error", "match"), ERRORS, ids=[str(e[0]) for e in ERRORS])
def test_live_torch_raises_the_same_error(kwargs, error, match):
    torch = pytest.importorskip("torch", reason=NO_TORCH)

    param = torch.tensor([1.0, -2.0], requires_grad=True)
    with pytest.raises(error, match=re.escape(match)):
        optimizer = torch.optim.LBFGS([param], **_kwargs(kwargs, torch.tensor))
        # torch checks line_search_fn only when a step reaches the line search
        optimizer.step(lambda: (param**2).sum().backward() or (param**2).sum())


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"history_size": 0}, ValueError, "history_size must be >= 1"),
        ({"max_iter": 2.5}, TypeError, "max_iter must be an integer"),
        ({"max_eval": "10"}, TypeError, "max_eval must be an integer"),
        ({"tolerance_grad": "small"}, TypeError, "tolerance_grad must be a number"),
    ],
)
def test_arguments_torch_fails_on_later_are_rejected_at_construction(kwargs, error, match):
    with pytest.raises(error, match=re.escape(match)):
        fo.lbfgs(**kwargs)


def test_max_eval_defaults_to_max_iter_times_five_quarters():
    # max_iter=4 gives max_eval=5: a strong-Wolfe step stops after 5 evaluations.
    params = {"x": jnp.asarray([-1.5, 2.0])}
    tx = fo.lbfgs(max_iter=4, line_search_fn="strong_wolfe")
    _, state, _ = tx.step(lambda p: PROBLEMS["rosenbrock2"].loss(p, jnp), tx.init(params), params)
    assert int(state.inner_state.func_evals) <= 5
