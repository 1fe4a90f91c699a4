"""Live comparison with the installed torch.optim (skipped where torch is not importable)."""

from __future__ import annotations

import chex
import jax
import pytest

from tests.algorithm_table import PARITY_CASES
from tests.runner import kernel_paths, on_path, tolerances, trajectory

torch_reference = pytest.importorskip(
    "tests.torch_reference", reason="torch is not installed: the golden tests cover parity without it"
)


CASES = [(info, config, path) for info, config in PARITY_CASES for path in kernel_paths(info.name)]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(
    ("info", "config", "path"), CASES, ids=[f"{i.name}[{i.config_id(c)}]-{path}" for i, c, path in CASES]
)
def test_trajectory_matches_live_torch(info, config, path, dtype):
    expected = torch_reference.trajectory(info, config, dtype)
    with on_path(path):
        ours = trajectory(info, config, dtype, wrap_update=jax.jit)
    chex.assert_trees_all_close(ours, expected, **tolerances(info, dtype))
