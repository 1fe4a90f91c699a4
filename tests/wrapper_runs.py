"""One training scenario, run by the torch-style wrapper or by torch.optim, for the wrapper tests.

The scenario exercises what the stateful API adds over the functional core: two parameter
groups with their own lr and weight_decay, a Parameter without a grad on some steps (its state
is created late), a gradient accumulated over two micro-batches, a closure passed to
``step``, and hyperparameters edited in ``param_groups`` mid-run.
"""

from __future__ import annotations

import functools
import inspect

import jax.numpy as jnp
import numpy as np
import pytest

import functional_optim as fo
from functional_optim.optim import compiled_step
from tests import problems
from tests.algorithm_table import ALGORITHMS, AlgorithmInfo

STEPS = 10
CLOSURE_STEP = 2  # step(closure)
ACCUMULATION_STEP = 3  # two backward calls, one per half of the batch
NO_GRAD_STEPS = (0, 4, 5)  # the last parameter has no grad
EDIT_STEP = 6  # param_groups edited before this step

# Options that give the scenario more state to carry than the defaults do.
SCENARIO_OPTIONS = {
    "SGD": {"momentum": 0.9, "dampening": 0.1},
    "Adam": {"amsgrad": True},
    "RMSprop": {"momentum": 0.5, "centered": True},
}

# Algorithms whose step needs another scenario (a closure evaluated many times, sparse grads).
_OWN_SCENARIO = {"LBFGS", "SparseAdam"}

WRAPPED = [info for info in ALGORITHMS if hasattr(fo.optim, info.torch_name) and info.torch_name not in _OWN_SCENARIO]


def skip_unimplemented(info: AlgorithmInfo) -> None:
    try:
        getattr(fo, info.name)()
    except NotImplementedError:
        pytest.skip(f"functional_optim.{info.name} is not implemented yet")


def group_options(info: AlgorithmInfo) -> tuple[dict, dict]:
    """Constructor options, and the overrides of the second group (half the lr, its own weight_decay)."""
    overrides = {"lr": _default(info, "lr") / 2}
    if _default(info, "weight_decay") is not None:
        overrides["weight_decay"] = 0.05
    return SCENARIO_OPTIONS.get(info.torch_name, {}), overrides


def _default(info: AlgorithmInfo, name: str):
    parameter = inspect.signature(getattr(fo.optim, info.torch_name)).parameters.get(name)
    return None if parameter is None else parameter.default


def edit_groups(groups: list[dict]) -> None:
    """The mid-run edits: lr of the first group, weight_decay, betas and momentum where they exist."""
    groups[0]["lr"] *= 0.5
    for group in groups:
        if group.get("weight_decay"):
            group["weight_decay"] = 0.02
        if "betas" in group:
            group["betas"] = (0.85, 0.99)
        if group.get("momentum"):
            group["momentum"] = 0.8


@functools.cache
def jax_loss(problem: str):
    return functools.partial(problems.loss, problem, xp=jnp)


class JaxRun:
    """The wrapper on the problem: ``fo.optim.<Name>`` over Parameters."""

    def __init__(self, info: AlgorithmInfo, dtype: str, start: dict[str, np.ndarray] | None = None):
        self.problem = info.problem
        start = problems.initial_params(info.problem) if start is None else start
        self.names = list(start)
        self.params = fo.parameters({k: jnp.asarray(v, dtype) for k, v in start.items()})
        options, overrides = group_options(info)
        leaves = [self.params[name] for name in self.names]
        self.optimizer = getattr(fo.optim, info.torch_name)(
            [{"params": leaves[:1]}, {"params": leaves[1:], **overrides}], **options
        )

    def backward(self, x, y) -> float:
        return float(fo.backward(jax_loss(self.problem), self.params, jnp.asarray(x), jnp.asarray(y)))

    def drop_grad(self, name: str) -> None:
        self.params[name].grad = None

    def values(self) -> dict[str, np.ndarray]:
        return {name: np.array(self.params[name].data) for name in self.names}


class TorchRun:
    """torch.optim on the same problem (needs torch)."""

    def __init__(self, info: AlgorithmInfo, dtype: str, start: dict[str, np.ndarray] | None = None):
        import torch

        self.torch = torch
        self.problem = info.problem
        self.dtype = getattr(torch, dtype)
        start = problems.initial_params(info.problem) if start is None else start
        self.names = list(start)
        self.params = {k: torch.tensor(np.asarray(v), dtype=self.dtype, requires_grad=True) for k, v in start.items()}
        options, overrides = group_options(info)
        leaves = list(self.params.values())
        self.optimizer = getattr(torch.optim, info.torch_name)(
            [{"params": leaves[:1]}, {"params": leaves[1:], **overrides}], **options
        )

    def backward(self, x, y) -> float:
        x, y = (self.torch.tensor(np.asarray(a), dtype=self.dtype) for a in (x, y))
        loss = problems.loss(self.problem, self.params, x, y, self.torch)
        loss.backward()
        return loss.item()

    def drop_grad(self, name: str) -> None:
        self.params[name].grad = None

    def values(self) -> dict[str, np.ndarray]:
        return {name: p.detach().numpy().copy() for name, p in self.params.items()}


def run_scenario(run: JaxRun | TorchRun, dtype: str, steps: range = range(STEPS)) -> tuple[list[dict], list[float]]:
    """Runs ``steps`` of the scenario; returns the params after each step and the closure's losses."""
    x, y = (np.asarray(a, dtype) for a in problems.data())
    history, losses = [], []
    for k in steps:
        if k == EDIT_STEP:
            edit_groups(run.optimizer.param_groups)
        if k == CLOSURE_STEP:

            def closure():
                run.optimizer.zero_grad()
                return run.backward(x, y)

            losses.append(float(run.optimizer.step(closure)))
        else:
            run.optimizer.zero_grad()
            if k == ACCUMULATION_STEP:
                run.backward(x[:3], y[:3])
                run.backward(x[3:], y[3:])
            else:
                run.backward(x, y)
            if k in NO_GRAD_STEPS:
                run.drop_grad(run.names[-1])
            run.optimizer.step()
        history.append(run.values())
    return history, losses


def to_numpy(tree):
    """A state_dict with every array or tensor as a numpy array (what a checkpoint holds)."""
    if isinstance(tree, dict):
        return {k: to_numpy(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(to_numpy(v) for v in tree)
    if hasattr(tree, "detach"):  # a torch tensor
        return tree.detach().numpy().copy()
    if hasattr(tree, "shape") and not isinstance(tree, np.ndarray):
        return np.array(tree)  # a copy: np.asarray may share the jax buffer
    return tree


# -- an optimizer with state, and checks that a failing call leaves it unchanged ----------------


def quadratic(p):
    """A loss of ``{"w", "b"}`` Parameters for the wrapper's API tests."""
    return jnp.sum(p["w"] ** 2) + jnp.sum(jnp.sin(p["b"]))


def trained_adam():
    """An Adam with two groups, state and grads, to check that failures leave it unchanged."""
    params = fo.parameters({"w": jnp.ones((3, 2)), "b": jnp.arange(2.0)})
    optimizer = fo.optim.Adam([{"params": [params["w"]]}, {"params": [params["b"]], "lr": 0.01}], lr=0.1)
    for _ in range(2):
        optimizer.zero_grad()
        fo.backward(quadratic, params)
        optimizer.step()
    return optimizer, params


def snapshot_of(optimizer, params):
    groups = [{k: list(v) if k == "params" else v for k, v in group.items()} for group in optimizer.param_groups]
    state = {id(p): to_numpy(fields) for p, fields in optimizer.state.items()}
    values = {k: (np.array(p.data), None if p.grad is None else np.array(p.grad)) for k, p in params.items()}
    return groups, state, values


def assert_unchanged(optimizer, params, snapshot):
    groups, state, values = snapshot_of(optimizer, params)
    assert groups == snapshot[0]
    assert state.keys() == snapshot[1].keys()
    for key in state:
        assert list(state[key]) == list(snapshot[1][key])
        for name in state[key]:
            np.testing.assert_array_equal(state[key][name], snapshot[1][key][name])
    for name, (data, grad) in values.items():
        np.testing.assert_array_equal(data, snapshot[2][name][0])
        np.testing.assert_array_equal(grad, snapshot[2][name][1])


class TraceCounter:
    """Counts traces of the torch-style compiled step's body (each trace is one compilation)."""

    def __init__(self, monkeypatch):
        self.count = 0
        body = compiled_step.apply_transforms

        def counted(*args, **kwargs):
            self.count += 1
            return body(*args, **kwargs)

        monkeypatch.setattr(compiled_step, "apply_transforms", counted)
