"""bfloat16/float16 optimizers against the installed torch, bit for bit (skipped without torch).

The same step-by-step check as tests/test_low_precision.py, on torch trajectories computed now
instead of the committed golden.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest

from tests import test_low_precision
from tests.runner import kernel_paths, on_path

make_golden = pytest.importorskip(
    "tests.make_low_precision_golden", reason="torch is not installed: the golden test covers it without torch"
)


@pytest.fixture(scope="module")
def live_golden() -> dict[str, np.ndarray]:
    """The golden's contents, computed now with the installed torch."""
    return make_golden.arrays()


@pytest.mark.parametrize(
    ("case", "path"),
    [(make_golden.case_id(name, config), path) for name, _, config in make_golden.CASES for path in kernel_paths(name)],
)
@pytest.mark.parametrize("dtype", make_golden.DTYPES)
def test_steps_match_live_torch_bit_for_bit(live_golden, case, dtype, path):
    with on_path(path):
        ours, theirs = test_low_precision.step_by_step(case, dtype, wrap=jax.jit, data=live_golden)
    test_low_precision.assert_steps_match(ours, theirs, dtype, path)
