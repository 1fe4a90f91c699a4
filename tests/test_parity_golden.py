"""Every algorithm and configuration follows torch's trajectory (committed goldens; no torch needed)."""

from __future__ import annotations

import pathlib

import chex
import numpy as np
from absl.testing import parameterized

from tests.algorithm_table import PARITY_CASES
from tests.runner import tolerances, trajectory

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


class GoldenParityTest(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.named_parameters(*CASES)
    def test_trajectory_matches_torch(self, info, config, dtype):
        ours = trajectory(info, config, dtype, wrap_update=self.variant)
        expected = {leaf: golden(info.name, f"{info.config_id(config)}|{dtype}|{leaf}") for leaf in ours}
        chex.assert_trees_all_close(ours, expected, **tolerances(info, dtype))
