"""The torch-style step updates a group's Parameters as one tree where their states allow it
(one kernel call for many Parameters), with the numbers of stepping each one alone.

The reference is the same Parameters each in a group of its own, which the step never batches.
"""

from __future__ import annotations

import chex
import jax.numpy as jnp
import numpy as np
import pytest

import functional_optim as fo
from functional_optim.optim import compiled_step
from tests.runner import jax_kwargs
from tests.wrapper_runs import WRAPPED

SHAPES = [(3, 2), (2,), (4, 3), (3,)]
MATRIX_SHAPES = [(3, 2), (2, 2), (4, 3), (3, 3)]  # for the algorithms of matrices (Muon)


def _shapes(info):
    return MATRIX_SHAPES if info.problem == "matrices" else SHAPES


def _optimizer(info, params, together: bool):
    groups = [{"params": params}] if together else [{"params": [p]} for p in params]
    return getattr(fo.optim, info.torch_name)(groups, **jax_kwargs(info.configs[0]))


def _grads(step: int, skipped: int | None, shapes=SHAPES):
    rng = np.random.default_rng(step)
    return [None if i == skipped else jnp.asarray(rng.standard_normal(shape)) for i, shape in enumerate(shapes)]


def _run(info, together: bool, schedule, path):
    """Steps by ``schedule``: ``int | None`` (a Parameter without a grad), ``"reload"`` (a
    state_dict round trip) or ``"edit"`` (parameter 1's ``step`` set by hand)."""
    rng = np.random.default_rng(0)
    params = [fo.Parameter(jnp.asarray(rng.standard_normal(shape))) for shape in _shapes(info)]
    optimizer = _optimizer(info, params, together)
    for t, event in enumerate(schedule):
        if event == "reload":
            fo.save(path, optimizer.state_dict())
            state_dict = fo.load(path)
            optimizer = _optimizer(info, params, together)
            optimizer.load_state_dict(state_dict)
        elif event == "edit":
            state = optimizer.state[params[1]]
            if "step" in state:
                state["step"] = jnp.asarray(7.0, state["step"].dtype)
        else:
            for param, grad in zip(params, _grads(t, event, _shapes(info))):
                param.grad = grad
            optimizer.step()
    return [p.data for p in params], [optimizer.state[p] for p in params]


# Steps that keep the Parameters' step counts apart and bring them back: a Parameter without a
# grad, a reloaded state_dict, a hand-edited ``step``.
SCHEDULE = (None, None, 0, None, "reload", None, 2, "edit", None, None)


# The default run: a state without per-tree numbers (SGD), with ``step`` (Adam) and with more
# (ASGD's eta and mu); every algorithm under pytest -m slow.
DEFAULT_RUN = ("SGD", "Adam", "ASGD")


@pytest.mark.parametrize(
    "info",
    [pytest.param(info, marks=() if info.torch_name in DEFAULT_RUN else pytest.mark.slow) for info in WRAPPED],
    ids=lambda info: info.torch_name,
)
def test_a_group_steps_as_its_parameters_each_alone(info, tmp_path):
    together = _run(info, together=True, schedule=SCHEDULE, path=tmp_path / "together")
    alone = _run(info, together=False, schedule=SCHEDULE, path=tmp_path / "alone")
    chex.assert_trees_all_equal(together, alone)


def test_parameters_with_equal_steps_take_one_call_of_the_algorithm(monkeypatch):
    calls = []
    apply_gradients = compiled_step.apply_gradients

    def counted(tx, grads, *args, **kwargs):
        calls.append(len(grads))
        return apply_gradients(tx, grads, *args, **kwargs)

    monkeypatch.setattr(compiled_step, "apply_gradients", counted)
    params = [fo.Parameter(jnp.ones(shape)) for shape in SHAPES]
    optimizer = fo.optim.Adam(params, lr=0.1)

    def step(skipped=None):
        calls.clear()
        for param, grad in zip(params, _grads(0, skipped)):
            param.grad = grad
        optimizer.step()
        return list(calls)

    assert step() == [4]  # traced once: all four in one call
    assert step() == []  # the same batches: no new trace
    assert step(skipped=0) == [3]  # parameter 0 keeps its count; the others step together
    assert sorted(step()) == [1, 3]  # and from now on they differ: two calls
