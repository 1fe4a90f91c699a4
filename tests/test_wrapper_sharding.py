"""The torch-style wrapper on 8 simulated CPU devices: shardings kept, state_dict round trips, ZeRO-1.

The checks run in a fresh process (tests/wrapper_sharding_checks.py, which says what each one
asserts); the tests here read its report, one per wrapped algorithm and mesh case.
"""

from __future__ import annotations

import json
import subprocess
import sys

import jax
import jax.numpy as jnp
import pytest

import functional_optim as fo
from tests import sharding_checks
from tests import wrapper_sharding_checks as checks

CASES = [(info.torch_name, case.label) for info in checks.wrapped_algorithms() for case in checks.cases_of(info)]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("wrapper_sharding") / "report.json"
    command = [sys.executable, "-m", "tests.wrapper_sharding_checks", str(out)]
    done = subprocess.run(
        command,
        cwd=sharding_checks.ROOT,
        env=sharding_checks.subprocess_env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    if not out.exists():
        pytest.fail(
            f"tests/wrapper_sharding_checks.py wrote no report (exit {done.returncode}):\n{done.stderr[-4000:]}"
        )
    return json.loads(out.read_text())


@pytest.mark.slow  # the 8-device runs take minutes: pytest -m slow (CI runs it)
@pytest.mark.parametrize(("name", "label"), CASES, ids=[f"{name}-{label}" for name, label in CASES])
def test_wrapper_keeps_shardings_and_matches_one_device(report: dict, name: str, label: str) -> None:
    """step() keeps every sharding; state_dict/load_state_dict keep them too; the numbers are one device's."""
    result = report[label][name]
    assert not result["failures"], "\n".join(result["failures"])
    if "zero1" in label:  # state split along "data": 8 ways on the 1-D mesh, 4 on the 2-D one
        ways = 8 if label == "zero1" else 4
        assert result["bytes_per_device"]["zero1"] * ways == result["bytes_per_device"]["plain"]


def _one_device_mesh():
    return jax.make_mesh((1,), ("data",))


def test_zero1_rejects_an_axis_the_mesh_lacks() -> None:
    optimizer = fo.optim.Adam(fo.parameter_list(fo.parameters({"w": [1.0, 2.0]})))
    with pytest.raises(ValueError, match="axis 'model' is not one of the mesh's axes"):
        fo.optim.zero1(optimizer, _one_device_mesh(), axis="model")


def test_zero1_rejects_params_off_the_mesh_and_moves_nothing() -> None:
    param = fo.Parameter(jnp.ones(4))  # on one device, not on the mesh
    optimizer = fo.optim.Adam([param])
    with pytest.raises(ValueError, match=r"a parameter of shape \(4,\) is placed as .*not on Mesh"):
        fo.optim.zero1(optimizer, _one_device_mesh())
    param.grad = jnp.ones(4)
    optimizer.step()  # unchanged: its state lives with the param
    assert optimizer.state[param]["exp_avg"].sharding == param.data.sharding


def test_zero1_rejects_lbfgs() -> None:
    optimizer = fo.optim.LBFGS(fo.parameter_list(fo.parameters({"w": [1.0, 2.0]})))
    with pytest.raises(TypeError, match="LBFGS keeps one flat history"):
        fo.optim.zero1(optimizer, _one_device_mesh())
