"""The torch-style wrapper follows torch.optim step for step, checkpoints exactly, and compiles once.

Every algorithm with a class in ``functional_optim.optim`` runs the scenario of
``tests/wrapper_runs.py`` (two groups, late state, accumulation, a closure, mid-run edits).
"""

from __future__ import annotations

import chex
import jax.numpy as jnp
import numpy as np
import pytest

import functional_optim as fo
from tests.runner import tolerances
from tests.wrapper_runs import (
    STEPS,
    WRAPPED,
    JaxRun,
    TorchRun,
    TraceCounter,
    run_scenario,
    skip_unimplemented,
    to_numpy,
)

IDS = [info.torch_name for info in WRAPPED]
# Save/load/continue for one algorithm in the default run; every algorithm under pytest -m slow.
WRAPPED_FIRST_FAST = [
    pytest.param(info, id=info.torch_name, marks=() if i == 0 else pytest.mark.slow) for i, info in enumerate(WRAPPED)
]
MIDWAY = 5


@pytest.mark.live_torch
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("info", WRAPPED, ids=IDS)
def test_trajectory_matches_torch(info, dtype, torch):
    skip_unimplemented(info)
    ours, our_losses = run_scenario(JaxRun(info, dtype), dtype)
    expected, torch_losses = run_scenario(TorchRun(info, dtype), dtype)
    chex.assert_trees_all_close(ours, expected, **tolerances(info, dtype))
    np.testing.assert_allclose(our_losses, torch_losses, **tolerances(info, dtype))


@pytest.mark.live_torch
@pytest.mark.parametrize("info", WRAPPED, ids=IDS)
def test_state_dict_has_torchs_layout(info, torch):
    skip_unimplemented(info)
    ours, theirs = JaxRun(info, "float64"), TorchRun(info, "float64")
    run_scenario(ours, "float64")
    run_scenario(theirs, "float64")
    our_dict, torch_dict = ours.optimizer.state_dict(), theirs.optimizer.state_dict()
    assert our_dict["param_groups"] == torch_dict["param_groups"]
    assert [(k, list(v)) for k, v in our_dict["state"].items()] == [
        (k, list(v)) for k, v in torch_dict["state"].items()
    ]
    chex.assert_trees_all_close(to_numpy(our_dict["state"]), to_numpy(torch_dict["state"]), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("via", ["memory", "file"])
@pytest.mark.parametrize("info", WRAPPED_FIRST_FAST)
def test_save_load_continue_is_bit_identical(info, via, tmp_path):
    skip_unimplemented(info)
    uninterrupted, _ = run_scenario(JaxRun(info, "float64"), "float64")

    first = JaxRun(info, "float64")
    run_scenario(first, "float64", range(MIDWAY))
    if via == "memory":
        checkpoint = to_numpy(first.optimizer.state_dict())
    else:  # through fo.save / fo.load
        fo.save(tmp_path / "checkpoint", first.optimizer.state_dict())
        checkpoint = fo.load(tmp_path / "checkpoint")
    resumed = JaxRun(info, "float64", start=first.values())
    resumed.optimizer.load_state_dict(checkpoint)
    continued, _ = run_scenario(resumed, "float64", range(MIDWAY, STEPS))

    for ours, expected in zip(continued, uninterrupted[MIDWAY:]):
        for name in expected:
            np.testing.assert_array_equal(ours[name], expected[name])


@pytest.mark.live_torch
@pytest.mark.parametrize("direction", ["torch_to_wrapper", "wrapper_to_torch"])
@pytest.mark.parametrize("info", WRAPPED, ids=IDS)
def test_state_dict_taken_midway_continues_on_the_other_side(info, direction, torch):
    skip_unimplemented(info)
    source_run, target_run = (TorchRun, JaxRun) if direction == "torch_to_wrapper" else (JaxRun, TorchRun)
    source = source_run(info, "float64")
    run_scenario(source, "float64", range(MIDWAY))
    target = target_run(info, "float64", start=source.values())
    checkpoint = to_numpy(source.optimizer.state_dict())
    target.optimizer.load_state_dict(checkpoint if target_run is JaxRun else _to_torch(torch, checkpoint))
    continued, _ = run_scenario(target, "float64", range(MIDWAY, STEPS))
    expected, _ = run_scenario(source, "float64", range(MIDWAY, STEPS))
    chex.assert_trees_all_close(continued, expected, **tolerances(info, "float64"))


def _to_torch(torch, tree):
    if isinstance(tree, dict):
        return {k: _to_torch(torch, v) for k, v in tree.items()}
    return torch.tensor(tree) if isinstance(tree, np.ndarray) else tree


def _two_groups(optimizer_class, **kwargs):
    params = fo.parameters({"w": jnp.ones((3, 2)), "b": jnp.ones(2), "s": jnp.ones(())})
    optimizer = optimizer_class(
        [{"params": [params["w"]]}, {"params": [params["b"], params["s"]], "lr": 0.05}], **kwargs
    )

    def step(drop=()):
        optimizer.zero_grad()
        fo.backward(_quadratic, params)
        for name in drop:
            params[name].grad = None
        optimizer.step()

    return optimizer, params, step


def _quadratic(p):
    return jnp.sum(p["w"] ** 2) + jnp.sum(jnp.sin(p["b"])) + p["s"] ** 2


def test_editing_hyperparameters_never_recompiles(monkeypatch):
    traces = TraceCounter(monkeypatch)
    optimizer, _, step = _two_groups(fo.optim.Adam, weight_decay=0.1, amsgrad=True)
    for k in range(6):
        step()
        for group in optimizer.param_groups:
            group["lr"] *= 0.9
            group["betas"] = (0.9 - 0.01 * k, 0.999 - 0.001 * k)
            group["weight_decay"] = 0.1 + 0.01 * k
            group["eps"] = 1e-8 * (k + 1)
    assert traces.count == 1

    optimizer, _, step = _two_groups(fo.optim.SGD, momentum=0.9, dampening=0.1, weight_decay=0.1)
    for k in range(6):
        step()
        optimizer.param_groups[0]["momentum"] = 0.9 - 0.1 * k
        optimizer.param_groups[1]["dampening"] = 0.1 * (k + 1)
        optimizer.param_groups[1]["lr"] = jnp.asarray(0.01 * (k + 1), jnp.float32)  # torch's "Tensor lr"
    assert traces.count == 3  # the second optimizer: once for float lr, once for the array lr


def test_recompiles_only_when_the_configuration_changes(monkeypatch):
    traces = TraceCounter(monkeypatch)
    optimizer, params, step = _two_groups(fo.optim.SGD, momentum=0.9)
    step()
    step()
    assert traces.count == 1
    step(drop=["s"])  # another set of Parameters with grads
    step(drop=["s"])
    assert traces.count == 2
    optimizer.param_groups[1]["nesterov"] = True  # a static option
    step()
    assert traces.count == 3
    buffer = np.asarray(optimizer.state[params["b"]]["momentum_buffer"])
    optimizer.param_groups[1]["momentum"] = 0  # SGD without momentum keeps no buffer: a new program
    optimizer.param_groups[1]["nesterov"] = False
    step()
    assert traces.count == 4
    np.testing.assert_array_equal(optimizer.state[params["b"]]["momentum_buffer"], buffer)  # torch leaves it alone
