"""Sharded params and state on 8 simulated CPU devices, ZeRO-1, and two processes under jax.distributed.

JAX fixes its device count when its backend starts, and this pytest process has already started
it with one CPU device, so the checks run in fresh processes: ``tests/sharding_checks.py``
(one subprocess for every selected algorithm and mesh, which reports JSON) and two worker
processes for the multi-process test. The tests here read those reports.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import socket
import subprocess
import sys
import time

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.sharding import PartitionSpec as P

import functional_optim as fo
from functional_optim.sharding import partition_spec
from tests import sharding_checks as checks

MESH_CASES = [(name, case.label) for case in checks.CASES if not case.zero1 for name in checks.algorithm_names()]
ZERO1_CASES = [
    (name, case.label)
    for case in checks.CASES
    if case.zero1
    for name in checks.case_names(case, checks.algorithm_names())
]


def _params(cases: list[tuple[str, str]]) -> list:
    return [pytest.param(name, label, id=f"{name}-{label}") for name, label in cases]


@pytest.fixture(scope="module")
def report(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Runs tests/sharding_checks.py once, for the (algorithm, case) pairs this session selected."""
    selected = [
        item.callspec.params
        for item in request.session.items
        if item.module is request.module and hasattr(item, "callspec") and "label" in item.callspec.params
    ]
    names = sorted({p["name"] for p in selected})
    labels = sorted({p["label"] for p in selected})
    out = tmp_path_factory.mktemp("sharding") / "report.json"
    command = [sys.executable, "-m", "tests.sharding_checks", "checks", str(out)]
    command += ["--algorithms", ",".join(names), "--cases", ",".join(labels)]
    started = time.perf_counter()
    done = subprocess.run(
        command, cwd=checks.ROOT, env=checks.subprocess_env(), capture_output=True, text=True, timeout=900
    )
    if not out.exists():
        pytest.fail(f"tests/sharding_checks.py wrote no report (exit {done.returncode}):\n{done.stderr[-4000:]}")
    result = json.loads(out.read_text())
    result["wall_seconds"] = time.perf_counter() - started
    return result


def _result(report: dict, name: str, label: str) -> dict:
    entry = report["results"].get(label, {}).get(name)
    assert entry is not None, f"no result for {name} on {label}; timings: {report['timings']}"
    if entry["skip"]:
        pytest.skip(entry["skip"])
    return entry


@pytest.mark.slow  # every algorithm on four 8-device meshes: pytest -m slow (CI runs it)
@pytest.mark.parametrize(("name", "label"), _params(MESH_CASES))
def test_sharded_update_keeps_shardings_and_matches_one_device(report: dict, name: str, label: str) -> None:
    """Per-parameter state follows the params' shardings; no collective if elementwise; single-device numbers."""
    entry = _result(report, name, label)
    assert not entry["failures"], "\n".join(entry["failures"])


@pytest.mark.parametrize(("name", "label"), _params(ZERO1_CASES))
def test_zero1_partitions_state_and_matches_one_device(report: dict, name: str, label: str) -> None:
    """ZeRO-1: per-device state memory is 1/N (N = the data axis' size) and the numbers are unchanged."""
    entry = _result(report, name, label)
    assert not entry["failures"], "\n".join(entry["failures"])
    figures = entry["bytes_per_device"]
    case = next(case for case in checks.CASES if case.label == label)
    ways = case.mesh_shape[case.axes.index("data")]
    assert figures["per_param_zero1"] * ways == figures["per_param_plain"], figures


def test_zero1_places_state_and_updates_on_the_data_axis_rule() -> None:
    mesh_shape = {"data": 8, "model": 2}
    assert partition_spec((16, 4), P(), "data", mesh_shape) == P("data", None)
    assert partition_spec((4, 16), P(), "data", mesh_shape) == P(None, "data")  # the first divisible dimension
    assert partition_spec((16, 4), P(None, "model"), "data", mesh_shape) == P("data", "model")
    assert partition_spec((32,), P("model"), "data", mesh_shape) == P(("model", "data"))  # 32 = 2 * 8 * 2
    assert partition_spec((8,), P("model"), "data", mesh_shape) == P("model")  # 8 / 2 is not a multiple of 8
    assert partition_spec((5, 3), P(), "data", mesh_shape) == P(None, None)  # replicated: nothing divides
    assert partition_spec((), P(), "data", mesh_shape) == P()
    assert partition_spec((16,), P("data"), "data", mesh_shape) == P("data")  # already split
    assert partition_spec((16,), P(), "data", {"data": 1}) == P(None)


def test_zero1_rejects_an_axis_the_mesh_lacks() -> None:
    mesh = jax.make_mesh((1,), ("batch",))
    with pytest.raises(ValueError, match="axis 'data' is not one of the mesh's axes"):
        fo.zero1(fo.adam(), mesh, axis="data")


def test_zero1_wraps_any_transform_and_changes_nothing_on_one_device() -> None:
    mesh = jax.make_mesh((1,), ("data",))
    params = {"w": jnp.linspace(-1.0, 1.0, 8), "b": jnp.zeros(())}
    plain = fo.chain(optax.clip_by_global_norm(1.0), fo.adam(1e-2))
    tx = fo.zero1(plain, mesh)
    state, plain_state = tx.init(params), plain.init(params)
    assert isinstance(state, fo.Zero1State)
    grads = jax.tree.map(lambda p: p - 0.5, params)
    with jax.set_mesh(mesh):
        updates, state = jax.jit(tx.update)(grads, state, params)
    expected, _ = plain.update(grads, plain_state, params)
    chex.assert_trees_all_close(updates, expected, rtol=1e-12)
    adam_state = dataclasses.replace(
        state, inner_state=(state.inner_state[0], fo.set_hyperparams(state.inner_state[1], lr=0.5))
    )
    assert float(adam_state.inner_state[1].hyperparams["lr"]) == 0.5
    with pytest.raises(TypeError, match="Zero1State"):
        tx.update(grads, plain_state, params)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow  # two JAX processes
def test_multiprocess_data_parallel_matches_single_process(tmp_path: pathlib.Path) -> None:
    """Two processes x 4 CPU devices under jax.distributed, data-parallel with ZeRO-1 AdamW."""
    port, outs = _free_port(), [tmp_path / f"process{i}.npz" for i in range(2)]
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.sharding_checks",
                "worker",
                str(out),
                "--process-id",
                str(i),
                "--port",
                str(port),
            ],
            cwd=checks.ROOT,
            env=checks.subprocess_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i, out in enumerate(outs)
    ]
    deadline, logs = time.monotonic() + 55, []
    try:
        for worker in workers:
            logs.append(worker.communicate(timeout=max(1.0, deadline - time.monotonic()))[0])
    except subprocess.TimeoutExpired:
        for worker in workers:
            worker.kill()
        pytest.fail("the two processes did not finish within 55 s")
    for worker, log in zip(workers, logs):
        assert worker.returncode == 0, log[-4000:]

    x, y = (jnp.asarray(a) for a in checks.mlp_data())
    params = {k: jnp.asarray(v) for k, v in checks.host_params("adamw").items()}
    tx = checks.multiprocess_transform()
    state = tx.init(params)

    @jax.jit
    def train_step(params, state):
        updates, state = tx.update(jax.grad(checks.mlp_loss)(params, x, y), state, params)
        return fo.apply_updates(params, updates), state

    for _ in range(checks.MULTIPROCESS_STEPS):
        params, state = train_step(params, state)
    per_param_bytes = sum(leaf.nbytes for leaf in jax.tree.leaves(state.inner_state) if leaf.ndim > 0)
    results = [np.load(out) for out in outs]
    for result in results:
        np.testing.assert_array_equal(result["devices"], [8, 4])  # 8 devices, 4 in each process
        np.testing.assert_array_equal(result["state_bytes"], [per_param_bytes // 8] * 4)  # ZeRO-1 across both
        for k, v in params.items():
            np.testing.assert_allclose(result[k], v, rtol=1e-10, atol=1e-12, err_msg=k)
            np.testing.assert_array_equal(result[k], results[0][k])
