"""Every algorithm and configuration follows torch's trajectory (committed goldens; no torch needed)."""

from __future__ import annotations

import pathlib

import chex
import jax
import numpy as np
import pytest

import functional_optim as fo
from tests.algorithm_table import PARITY_CASES
from tests.runner import kernel_paths, tolerances, trajectory

GOLDEN_DIR = pathlib.Path(__file__).parent / "golden"
_GOLDENS: dict[str, dict] = {}


def golden(name: str, key: str) -> np.ndarray:
    if name not in _GOLDENS:
        with np.load(GOLDEN_DIR / f"{name}.npz") as data:
            _GOLDENS[name] = dict(data)
    return _GOLDENS[name][key]


def _cases(*, every_float64_config: bool = False, native_only: bool = False, float32_first: bool = False) -> list:
    """``(info, config, dtype)`` for the table's configurations in float64 and float32: in the
    default run each algorithm's first configuration in float64 (with ``float32_first`` in
    float32 too; with ``every_float64_config`` every one in float64), the others under
    ``pytest -m slow``. ``native_only``: only the algorithms with a native kernel."""
    cases = []
    for info, config in PARITY_CASES:
        if native_only and "native" not in kernel_paths(info.name):
            continue
        for dtype in ("float64", "float32"):
            first = config is info.configs[0] and (dtype == "float64" or float32_first)
            default_run = first or (every_float64_config and dtype == "float64")
            case_id = f"{info.name}[{info.config_id(config)}]-{dtype}"
            cases.append(pytest.param(info, config, dtype, id=case_id, marks=() if default_run else pytest.mark.slow))
    return cases


def assert_matches_golden(ours: dict, info, config, dtype: str) -> None:
    expected = {leaf: golden(info.name, f"{info.config_id(config)}|{dtype}|{leaf}") for leaf in ours}
    chex.assert_trees_all_close(ours, expected, **tolerances(info, dtype))


@pytest.mark.parametrize(("info", "config", "dtype"), _cases(every_float64_config=True, float32_first=True))
def test_jitted_trajectory_matches_torch(info, config, dtype):
    """On the default path: the native kernels, for the algorithms that have one."""
    assert_matches_golden(trajectory(info, config, dtype, wrap_update=jax.jit), info, config, dtype)


@pytest.mark.parametrize(("info", "config", "dtype"), _cases())
def test_eager_trajectory_matches_torch(info, config, dtype):
    assert_matches_golden(trajectory(info, config, dtype), info, config, dtype)


@pytest.mark.parametrize(("info", "config", "dtype"), _cases(native_only=True))
def test_trajectory_matches_torch_on_the_xla_path(info, config, dtype):
    """The algorithms with a native kernel, on the path that runs where it does not (GPU, TPU, no compiler)."""
    with fo.native.use("xla"):
        assert_matches_golden(trajectory(info, config, dtype, wrap_update=jax.jit), info, config, dtype)
