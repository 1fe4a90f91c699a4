"""fo.optim.SparseAdam: torch's class on BCOO grads, on the embedding problem of tests/make_sparse_golden.py.

The scenario has two groups (the EmbeddingBag table, and the Embedding table with its own lr),
steps where the second table has no grad, a closure, and an lr edited mid-run; it is compared
with torch.optim.SparseAdam on the same sparse gradients (live), and, without torch, with the
committed goldens of the single-group runs.
"""

from __future__ import annotations

import re

import chex
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental import sparse

import functional_optim as fo
from tests import make_sparse_golden as problem
from tests.algorithm_table import ERROR_CASES
from tests.runner import jax_kwargs
from tests.test_sparse_adam import DENSE_GRAD_ERROR, assert_matches, embedding_grads
from tests.wrapper_runs import TraceCounter, to_numpy

STEPS = 12
NO_GRAD_STEPS = (1, 4)  # the Embedding table has no grad
CLOSURE_STEP = 2
EDIT_STEP = 6
SECOND_GROUP = {"lr": 0.02}
SCENARIO_CONFIGS = ({}, {"lr": 4e-2, "betas": (0.8, 0.95), "eps": 1e-6, "maximize": True})
SPARSE_ERRORS = [error for info, error in ERROR_CASES if info.torch_name == "SparseAdam"]


class JaxRun:
    def __init__(self, config: dict, dtype: str, start: dict | None = None, groups: bool = True):
        start = problem.initial_tables() if start is None else start
        self.params = {k: fo.Parameter(jnp.asarray(v, dtype)) for k, v in start.items()}
        param_groups = [{"params": [self.params["bag"]]}, {"params": [self.params["emb"]], **SECOND_GROUP}]
        self.optimizer = fo.optim.SparseAdam(
            param_groups if groups else list(self.params.values()), **jax_kwargs(config)
        )

    def backward(self, step: int) -> float:
        grads = embedding_grads(fo.values(self.params), step)
        for k, p in self.params.items():
            p.grad = grads[k]
        return 0.0

    def drop_grad(self) -> None:
        self.params["emb"].grad = None

    def values(self) -> dict[str, np.ndarray]:
        return {k: np.array(p.data) for k, p in self.params.items()}


class TorchRun:
    def __init__(self, config: dict, dtype: str, start: dict | None = None):
        import torch

        from tests.torch_reference import torch_kwargs

        self.torch, self.dtype = torch, getattr(torch, dtype)
        start = problem.initial_tables() if start is None else start
        tables = {k: torch.tensor(np.asarray(v), dtype=self.dtype) for k, v in start.items()}
        self.bag = torch.nn.EmbeddingBag.from_pretrained(tables["bag"], freeze=False, mode="sum", sparse=True)
        self.emb = torch.nn.Embedding.from_pretrained(tables["emb"], freeze=False, sparse=True)
        self.optimizer = torch.optim.SparseAdam(
            [{"params": [self.bag.weight]}, {"params": [self.emb.weight], **SECOND_GROUP}], **torch_kwargs(config)
        )

    def backward(self, step: int) -> float:
        torch, data = self.torch, problem.step_data()
        bag_out = self.bag(torch.tensor(data["bag_ids"][step]), torch.tensor(problem.BAG_OFFSETS))
        emb_out = self.emb(torch.tensor(data["emb_ids"][step]))
        target = torch.tensor(data["targets"][step], dtype=self.dtype)
        loss = problem.loss(bag_out, emb_out, target, torch.tensor(data["head"], dtype=self.dtype), torch)
        loss.backward()
        return 0.0

    def drop_grad(self) -> None:
        self.emb.weight.grad = None

    def values(self) -> dict[str, np.ndarray]:
        return {"bag": self.bag.weight.detach().numpy().copy(), "emb": self.emb.weight.detach().numpy().copy()}


def run_scenario(run, steps=range(STEPS)) -> list[dict[str, np.ndarray]]:
    history = []
    for k in steps:
        if k == EDIT_STEP:
            run.optimizer.param_groups[0]["lr"] *= 0.5
            run.optimizer.param_groups[1]["betas"] = (0.85, 0.99)
        run.optimizer.zero_grad()
        if k == CLOSURE_STEP:
            assert run.optimizer.step(lambda k=k: run.backward(k)) == 0.0
        else:
            run.backward(k)
            if k in NO_GRAD_STEPS:
                run.drop_grad()
            run.optimizer.step()
        history.append(run.values())
    return history


@pytest.mark.parametrize("dtype", problem.DTYPES)
@pytest.mark.parametrize("config", SCENARIO_CONFIGS, ids=problem.INFO.config_id)
def test_scenario_matches_live_torch(config, dtype, torch):
    ours, theirs = JaxRun(config, dtype), TorchRun(config, dtype)
    tolerance = {"float64": 1e-10, "float32": 1e-5}[dtype]
    for mine, expected in zip(run_scenario(ours), run_scenario(theirs)):
        for k in expected:
            np.testing.assert_allclose(mine[k], expected[k], rtol=tolerance, atol=tolerance)
    our_dict, torch_dict = ours.optimizer.state_dict(), theirs.optimizer.state_dict()
    assert our_dict["param_groups"] == torch_dict["param_groups"]
    assert [(k, list(v)) for k, v in our_dict["state"].items()] == [
        (k, list(v)) for k, v in torch_dict["state"].items()
    ]
    for ours_state, torch_state in zip(our_dict["state"].values(), torch_dict["state"].values()):
        assert type(ours_state["step"]) is int and ours_state["step"] == torch_state["step"]
        for k in ("exp_avg", "exp_avg_sq"):
            assert ours_state[k].dtype == jnp.dtype(dtype)
            np.testing.assert_allclose(ours_state[k], torch_state[k].numpy(), rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("direction", ["torch_to_wrapper", "wrapper_to_torch"])
def test_state_dict_taken_midway_continues_on_the_other_side_live(direction, torch):
    source_run, target_run = (TorchRun, JaxRun) if direction == "torch_to_wrapper" else (JaxRun, TorchRun)
    source = source_run({}, "float64")
    run_scenario(source, range(5))
    target = target_run({}, "float64", start=source.values())
    checkpoint = to_numpy(source.optimizer.state_dict())
    if target_run is TorchRun:
        for fields in checkpoint["state"].values():
            fields.update({k: torch.tensor(v) for k, v in fields.items() if isinstance(v, np.ndarray)})
    target.optimizer.load_state_dict(checkpoint)
    for mine, expected in zip(run_scenario(target, range(5, STEPS)), run_scenario(source, range(5, STEPS))):
        for k in expected:
            np.testing.assert_allclose(mine[k], expected[k], rtol=1e-10, atol=1e-10)


# float64 (the tight tolerance) in the default run; float32 under pytest -m slow.
@pytest.mark.parametrize(
    "dtype", [d if d == "float64" else pytest.param(d, marks=pytest.mark.slow) for d in problem.DTYPES]
)
@pytest.mark.parametrize("config", problem.CONFIGS, ids=problem.INFO.config_id)
def test_single_group_matches_the_golden(config, dtype):
    with np.load(problem.GOLDEN_PATH) as data:
        prefix = f"{problem.INFO.config_id(config)}|{dtype}|"
        expected = {k[len(prefix) :]: v for k, v in data.items() if k.startswith(prefix)}
    run = JaxRun(config, dtype, groups=False)
    history = {k: [v] for k, v in run.values().items()}
    for t in range(problem.STEPS):
        run.backward(t)
        run.optimizer.step()
        for k, v in run.values().items():
            history[k].append(v)
    ours = {k: np.stack(v) for k, v in history.items()}
    for k, p in run.params.items():
        for field, value in run.optimizer.state[p].items():
            ours[f"state|{field}|{k}"] = value
    assert_matches(ours, expected, dtype)


def test_save_load_continue_is_bit_identical(tmp_path):
    uninterrupted = run_scenario(JaxRun({}, "float64"))
    first = JaxRun({}, "float64")
    run_scenario(first, range(5))
    fo.save(tmp_path / "sparse_adam.ckpt", first.optimizer.state_dict())
    resumed = JaxRun({}, "float64", start=first.values())
    resumed.optimizer.load_state_dict(fo.load(tmp_path / "sparse_adam.ckpt"))
    assert type(resumed.optimizer.state_dict()["state"][0]["step"]) is int
    for mine, expected in zip(run_scenario(resumed, range(5, STEPS)), uninterrupted[5:]):
        for k in expected:
            np.testing.assert_array_equal(mine[k], expected[k])


def test_defaults_and_groups_match_torch(torch):
    ours = fo.optim.SparseAdam([fo.Parameter(jnp.zeros((2, 2)))])
    theirs = torch.optim.SparseAdam([torch.zeros((2, 2), requires_grad=True)])
    assert list(ours.defaults.items()) == list(theirs.defaults.items())
    assert [(k, v) for k, v in ours.param_groups[0].items() if k != "params"] == [
        (k, v) for k, v in theirs.param_groups[0].items() if k != "params"
    ]


@pytest.mark.parametrize("error", SPARSE_ERRORS, ids=lambda e: problem.INFO.config_id(e.kwargs))
def test_invalid_hyperparameters_raise_torchs_error(error):
    with pytest.raises(error.error, match=re.escape(error.match)):
        fo.optim.SparseAdam([fo.Parameter(jnp.zeros((2, 2)))], **jax_kwargs(error.kwargs))


def test_complex_params_raise_torchs_error():
    real, z = fo.Parameter(jnp.zeros(2)), fo.Parameter(jnp.zeros(2, jnp.complex64))
    with pytest.raises(ValueError, match=re.escape("Complex params at indices [[1, 0]]: SparseAdam does not support")):
        fo.optim.SparseAdam([{"params": [real]}, {"params": [z]}])


def test_a_dense_grad_raises_torchs_error_and_changes_nothing():
    run = JaxRun({}, "float64")
    run_scenario(run, range(2))
    run.backward(2)
    run.params["emb"].grad = run.params["emb"].grad.todense()
    before = to_numpy(run.optimizer.state_dict())
    values = run.values()
    with pytest.raises(RuntimeError, match=re.escape(DENSE_GRAD_ERROR)):
        run.optimizer.step()
    after = to_numpy(run.optimizer.state_dict())
    assert before["state"][0]["step"] == after["state"][0]["step"] == 2
    for k in ("exp_avg", "exp_avg_sq"):
        np.testing.assert_array_equal(after["state"][1][k], before["state"][1][k])
    for k, v in run.values().items():
        np.testing.assert_array_equal(v, values[k])


def test_steps_compile_once_for_a_fixed_number_of_ids(monkeypatch):
    traces = TraceCounter(monkeypatch)
    run = JaxRun({}, "float64")
    for k in range(4):
        run.optimizer.param_groups[0]["lr"] = 0.01 * (k + 1)
        run.backward(k)
        run.optimizer.step()
    assert traces.count == 1


def test_a_bcoo_grad_of_another_dtype_raises_and_leaves_the_optimizer_unchanged():
    table = fo.Parameter(jnp.ones((3, 2)))
    optimizer = fo.optim.SparseAdam([table])
    table.grad = sparse.BCOO((jnp.ones((1, 2)), jnp.asarray([[1]])), shape=(3, 2))
    optimizer.step()
    state, data = to_numpy(optimizer.state[table]), table.data
    table.grad = sparse.BCOO((jnp.ones((1, 2), jnp.float32), jnp.asarray([[1]])), shape=(3, 2))
    match = "the grad of parameter 0 of group 0 has dtype float32, but the parameter has dtype float64"
    with pytest.raises(TypeError, match=re.escape(match)):
        optimizer.step()
    assert table.data is data and not data.is_deleted()
    chex.assert_trees_all_equal(to_numpy(optimizer.state[table]), state)
    assert optimizer.state[table]["step"] == 1
