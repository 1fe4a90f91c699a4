"""Every algorithm and configuration follows torch's trajectory (committed goldens; no torch needed)."""

from __future__ import annotations

import pathlib

import chex
import jax
import numpy as np
from absl.testing import parameterized

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


CASES = [
    {"testcase_name": f"{info.name}[{info.config_id(config)}]-{dtype}", "info": info, "config": config, "dtype": dtype}
    for info, config in PARITY_CASES
    for dtype in ("float64", "float32")
]


XLA_PATH_CASES = [case for case in CASES if "native" in kernel_paths(case["info"].name)]


def assert_matches_golden(ours: dict, info, config, dtype: str) -> None:
    expected = {leaf: golden(info.name, f"{info.config_id(config)}|{dtype}|{leaf}") for leaf in ours}
    chex.assert_trees_all_close(ours, expected, **tolerances(info, dtype))


class GoldenParityTest(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.named_parameters(*CASES)
    def test_trajectory_matches_torch(self, info, config, dtype):
        """On the default path: the native kernels, for the algorithms that have one."""
        assert_matches_golden(trajectory(info, config, dtype, wrap_update=self.variant), info, config, dtype)

    @parameterized.named_parameters(*XLA_PATH_CASES)
    def test_trajectory_matches_torch_on_the_xla_path(self, info, config, dtype):
        """The algorithms with a native kernel, on the path that runs where it does not (GPU, TPU, no compiler)."""
        with fo.native.use("xla"):
            assert_matches_golden(trajectory(info, config, dtype, wrap_update=jax.jit), info, config, dtype)
