"""bfloat16/float16 optimizers against the installed torch, bit for bit (skipped without torch).

The same step-by-step check as tests/test_low_precision.py, on torch trajectories computed now
instead of the committed golden.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest

from tests import test_low_precision

make_golden = pytest.importorskip(
    "tests.make_low_precision_golden", reason="torch is not installed: the golden test covers it without torch"
)


@pytest.fixture(scope="module")
def live_golden() -> dict[str, np.ndarray]:
    """The golden's contents, computed now with the installed torch."""
    return make_golden.arrays()


@pytest.mark.parametrize("dtype", make_golden.DTYPES)
@pytest.mark.parametrize("case", [make_golden.case_id(name, config) for name, _, config in make_golden.CASES])
def test_steps_match_live_torch_bit_for_bit(live_golden, case, dtype):
    ours, theirs = test_low_precision.step_by_step(case, dtype, wrap_update=jax.jit, data=live_golden)
    assert ours.keys() == theirs.keys()
    message = test_low_precision.first_difference(ours, theirs)
    for key in ours:
        np.testing.assert_array_equal(ours[key], theirs[key], err_msg=f"{key}; first difference: {message}")
